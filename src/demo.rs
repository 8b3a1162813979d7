//! `custodian demo`: the standalone server end to end, as a person would try it. It makes a
//! short clip with the ffmpeg command line, uploads it over HTTP with its digest, waits until
//! the media workers have made its viewing copy and fingerprint and the catalogue has it, and
//! prints the record with what the workers made.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use chrono::{SecondsFormat, Utc};
use custodian_core::{BureauId, Sha256Digest};
use serde_json::Value;
use sha2::{Digest, Sha256};

use crate::app::start_standalone;
use crate::cli::{DemoArgs, ServerArgs, StandaloneArgs};

/// Makes a 3-second 640×360 H.264/AAC clip with a creation time and an ISO 6709 location, as
/// a body camera would write them.
pub async fn make_sample_clip(path: &Path, seconds: u32) -> anyhow::Result<()> {
    let created = Utc::now().to_rfc3339_opts(SecondsFormat::Secs, true);
    let output = tokio::process::Command::new("ffmpeg")
        .args(["-hide_banner", "-loglevel", "error", "-y"])
        .args(["-f", "lavfi", "-i", &format!("testsrc2=size=640x360:rate=25:duration={seconds}")])
        .args(["-f", "lavfi", "-i", &format!("sine=frequency=440:duration={seconds}")])
        .args(["-c:v", "libx264", "-preset", "veryfast", "-pix_fmt", "yuv420p", "-c:a", "aac"])
        .args(["-metadata", &format!("creation_time={created}"), "-metadata", "location=+31.2304+121.4737/"])
        .args(["-movflags", "+faststart"])
        .arg(path)
        .output()
        .await
        .context("running ffmpeg to make the sample clip (install it: apt-get install ffmpeg, or run the README's command)")?;
    if !output.status.success() {
        bail!("ffmpeg failed: {}", String::from_utf8_lossy(&output.stderr));
    }
    Ok(())
}

pub async fn sha256_of(path: &Path) -> anyhow::Result<Sha256Digest> {
    let bytes = tokio::fs::read(path)
        .await
        .with_context(|| format!("reading {}", path.display()))?;
    Ok(Sha256Digest::from_bytes(Sha256::digest(&bytes).into()))
}

pub async fn run(args: &DemoArgs) -> anyhow::Result<Value> {
    let temp = tempfile::tempdir()?;
    let data: PathBuf = args
        .keep
        .clone()
        .unwrap_or_else(|| temp.path().join("data"));
    let standalone = StandaloneArgs {
        data: data.clone(),
        server: ServerArgs {
            listen: args.listen,
            shutdown_grace: Duration::from_secs(10),
            ops_listen: None,
            limits: Default::default(),
            tls: Default::default(),
        },
        ingest: Default::default(),
        catalog: Default::default(),
        retention: Default::default(),
        custody: Default::default(),
        transcoder: Default::default(),
        media: Default::default(),
        access: Default::default(),
        console: true,
    };
    let app = start_standalone(&standalone).await?;
    let base = format!("http://{}", app.addr);
    let bureau = BureauId::parse("demo-bureau")?;
    let token = crate::admin::create_token(
        &*app.ports.catalogue,
        &bureau,
        "示范执法大队",
        "demo",
        custodian_core::roles::Role::Officer,
    )
    .await?;

    let clip_path = temp.path().join("DSJ-0001_031234_sample.mp4");
    make_sample_clip(&clip_path, 3).await?;
    let digest = sha256_of(&clip_path).await?;
    let body = tokio::fs::read(&clip_path).await?;

    let http = reqwest::Client::new();
    let recorded_at = Utc::now().to_rfc3339_opts(SecondsFormat::Secs, true);
    let response = http
        .put(format!("{base}/v1/uploads"))
        .bearer_auth(&token)
        .header("Content-Digest", digest.to_content_digest())
        .query(&[
            ("device", "DSJ-0001"),
            ("officer", "031234"),
            ("recorded_at", recorded_at.as_str()),
            ("file_name", "DSJ-0001_031234_sample.mp4"),
            ("case", "应急罚〔2026〕1号"),
            ("place", "青岛市黄岛区长江中路"),
            ("lat", "35.9606"),
            ("lon", "120.1953"),
        ])
        .body(body)
        .send()
        .await?;
    let status = response.status();
    let receipt: Value = response.json().await?;
    if status != reqwest::StatusCode::CREATED {
        bail!("upload refused with {status}: {receipt}");
    }
    let clip_id = receipt["clip_id"]
        .as_str()
        .context("receipt without clip_id")?
        .to_owned();

    let deadline = Instant::now() + Duration::from_secs(30);
    let record = loop {
        let record: Value = http
            .get(format!("{base}/v1/clips/{clip_id}"))
            .bearer_auth(&token)
            .send()
            .await?
            .error_for_status()?
            .json()
            .await?;
        if record["state"] == "catalogued" {
            break record;
        }
        if Instant::now() > deadline {
            bail!("clip {clip_id} not catalogued within 30 s: {record}");
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    // What the media workers made: the viewing copy, its sidecar, and the fingerprint.
    let get = |path: String| http.get(format!("{base}{path}")).bearer_auth(&token).send();
    let view = get(format!("/v1/clips/{clip_id}/view"))
        .await?
        .error_for_status()?
        .bytes()
        .await?;
    let subtitles = get(format!("/v1/clips/{clip_id}/subtitles"))
        .await?
        .error_for_status()?
        .text()
        .await?;
    let similar: Value = get(format!("/v1/clips/{clip_id}/similar"))
        .await?
        .error_for_status()?
        .json()
        .await?;
    let media = serde_json::json!({
        "viewing_copy": { "path": format!("/v1/clips/{clip_id}/view"), "bytes": view.len() },
        "subtitles_first_cue": subtitles.split("\n\n").nth(1).unwrap_or_default(),
        "fingerprint_seconds": record["media"]["fingerprint_seconds"],
        "similar": similar,
    });
    let mut result =
        serde_json::json!({ "receipt": receipt, "catalogued": record, "media": media });
    if args.keep.is_some() {
        result["data"] = serde_json::json!(data);
    }
    if !args.serve {
        app.stop().await;
        return Ok(result);
    }
    println!("{}", serde_json::to_string_pretty(&result)?);
    // A person to sign in as: the officer who recorded the sample, so the console shows it
    // waiting for classification.
    let password = hex::encode(rand::random::<[u8; 8]>());
    let hash = custodian_core::users::hash_password(&password, rand::random())
        .context("hashing the demo password")?;
    let identity = custodian_core::roles::OfficerIdentity {
        officer: Some(custodian_core::LocalId::parse("officer", "031234")?),
        team: None,
    };
    app.ports
        .catalogue
        .create_user(
            &bureau,
            "demo",
            custodian_core::roles::Role::Officer,
            &identity,
            &hash,
            Utc::now(),
        )
        .await
        .context("creating the demo account")?;
    println!();
    println!("Web console 控制台: {base}/");
    println!("  单位 Bureau: {bureau}   用户名 Username: demo   密码 Password: {password}");
    println!("Ctrl-C stops the demo server; its data goes with it unless --keep was given.");
    app.run_until_signal().await?;
    drop(temp);
    Ok(Value::Null)
}
