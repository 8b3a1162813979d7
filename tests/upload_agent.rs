//! `custodian upload`, the collection station's agent, run as a process against a standalone
//! server: names or sidecars give the metadata, files are done only when the receipt's SHA-256
//! matches, `--delete-after-verify` removes them then, and a run resumes the upload an earlier
//! run left half-way (from its state file) instead of starting again.

mod common;

use std::path::Path;

use common::*;
use custodian_core::tus::encode_metadata;
use custodian_core::Sha256Digest;
use serde_json::Value;

async fn agent(app: &TestApp, state: &Path, args: &[&str]) -> std::process::Output {
    tokio::process::Command::new(env!("CARGO_BIN_EXE_custodian"))
        .arg("upload")
        .args(["--server", &app.base, "--state"])
        .arg(state)
        .args(["--chunk-size", "1MiB", "--concurrency", "2"])
        .args(args)
        .env("CUSTODIAN_TOKEN", &app.token)
        .kill_on_drop(true)
        .output()
        .await
        .expect("the agent runs")
}

async fn clip(app: &TestApp, id: &str) -> Value {
    app.get_json(&app.token, &format!("/v1/clips/{id}")).await
}

#[tokio::test]
async fn the_agent_uploads_verifies_and_deletes_only_what_matched() {
    let app = spawn_standalone().await;
    let work = tempfile::tempdir().unwrap();
    let named = work.path().join("DSJ-0001_031234_20260214_093000_IMP.mp4");
    let with_sidecar = work.path().join("VID_0002.mp4");
    let unnamed = work.path().join("clip.mp4");
    std::fs::write(&named, sample(2_500_000)).unwrap();
    std::fs::write(&with_sidecar, sample(700_000)).unwrap();
    std::fs::write(&unnamed, sample(1000)).unwrap();
    std::fs::write(
        work.path().join("VID_0002.mp4.json"),
        r#"{"device": "DSJ-0002", "officer": "045678", "recorded_at": "2026-02-15T10:00:00+08:00", "place": "长江中路"}"#,
    )
    .unwrap();
    let state = work.path().join("state.json");
    let output = agent(
        &app,
        &state,
        &[
            named.to_str().unwrap(),
            with_sidecar.to_str().unwrap(),
            unnamed.to_str().unwrap(),
            "--delete-after-verify",
        ],
    )
    .await;
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        !output.status.success(),
        "a file without metadata must fail the run"
    );
    assert!(
        stderr.contains("clip.mp4") && stderr.contains("sidecar"),
        "{stderr}"
    );
    assert!(unnamed.exists(), "a file not uploaded was deleted");
    assert!(
        !named.exists() && !with_sidecar.exists(),
        "verified files kept: {stderr}"
    );

    let saved: Value = serde_json::from_slice(&std::fs::read(&state).unwrap()).unwrap();
    let entry = |path: &Path| saved[path.to_str().unwrap()].clone();
    let first = clip(&app, entry(&named)["clip_id"].as_str().unwrap()).await;
    assert_eq!(first["device"], "DSJ-0001");
    assert_eq!(first["recorded_at"], "2026-02-14T01:30:00Z");
    assert_eq!(
        first["sha256"],
        Sha256Digest::of(&sample(2_500_000)).to_hex()
    );
    let second = clip(&app, entry(&with_sidecar)["clip_id"].as_str().unwrap()).await;
    assert_eq!(second["device"], "DSJ-0002");
    assert_eq!(second["officer"], "045678");
    assert_eq!(second["place"], "长江中路");
    assert_eq!(app.clip_ids().await.len(), 2);
    app.app.stop().await;
}

/// What the earlier run's state file says of the file.
#[derive(PartialEq)]
enum Earlier {
    /// Its SHA-256: that run had hashed it.
    Hashed,
    /// Only its size and modification time: that run stopped before it had hashed it all.
    NotHashedYet,
    /// A modification time the file no longer has: another file under the same name.
    Changed,
}

#[tokio::test]
async fn the_agent_resumes_the_upload_its_state_file_names() {
    resumes(Earlier::Hashed).await;
}

#[tokio::test]
async fn the_agent_resumes_a_file_its_last_run_had_not_hashed_yet() {
    resumes(Earlier::NotHashedYet).await;
}

#[tokio::test]
async fn the_agent_starts_again_when_the_file_changed_since() {
    resumes(Earlier::Changed).await;
}

async fn resumes(earlier: Earlier) {
    let app = spawn_standalone().await;
    let work = tempfile::tempdir().unwrap();
    let file = work.path().join("DSJ-0001_031234_20260214_093000.mp4");
    let body = sample(3_000_000);
    let digest = Sha256Digest::of(&body);
    std::fs::write(&file, &body).unwrap();

    // An earlier run got 1 MB through, then stopped.
    let http = reqwest::Client::new();
    let created = http
        .post(format!("{}/v1/tus", app.base))
        .bearer_auth(&app.token)
        .header("Tus-Resumable", "1.0.0")
        .header("Upload-Length", body.len().to_string())
        .header(
            "Upload-Metadata",
            encode_metadata([
                ("device", "DSJ-0001"),
                ("officer", "031234"),
                ("recorded_at", "2026-02-14T09:30:00+08:00"),
                ("filename", "DSJ-0001_031234_20260214_093000.mp4"),
                ("sha256", digest.to_hex().as_str()),
            ]),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(created.status(), 201);
    let url = format!(
        "{}{}",
        app.base,
        created.headers()["location"].to_str().unwrap()
    );
    let patched = http
        .patch(&url)
        .bearer_auth(&app.token)
        .header("Tus-Resumable", "1.0.0")
        .header("Content-Type", "application/offset+octet-stream")
        .header("Upload-Offset", "0")
        .body(body[..1_000_000].to_vec())
        .send()
        .await
        .unwrap();
    assert_eq!(patched.status(), 204);
    let state = work.path().join("state.json");
    let key = std::path::absolute(&file).unwrap().display().to_string();
    let modified = std::fs::metadata(&file)
        .unwrap()
        .modified()
        .unwrap()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap();
    let modified = format!("{}.{:09}", modified.as_secs(), modified.subsec_nanos());
    let saved = match earlier {
        Earlier::Hashed => serde_json::json!({ key.clone(): {
            "size": body.len(), "sha256": digest.to_hex(), "url": url, "offset": 0, "clip_id": null,
        }}),
        Earlier::NotHashedYet | Earlier::Changed => serde_json::json!({ key.clone(): {
            "size": body.len(), "sha256": "", "url": url, "offset": 0, "clip_id": null,
            "modified": if earlier == Earlier::Changed { "1.000000000".to_owned() } else { modified },
        }}),
    };
    std::fs::write(&state, saved.to_string()).unwrap();

    let output = agent(&app, &state, &[file.to_str().unwrap()]).await;
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let saved: Value = serde_json::from_slice(&std::fs::read(&state).unwrap()).unwrap();
    if earlier == Earlier::Changed {
        assert_ne!(
            saved[&key]["url"], url,
            "the agent resumed another file's upload"
        );
    } else {
        assert_eq!(saved[&key]["url"], url, "the agent started a new upload");
    }
    assert_eq!(saved[&key]["sha256"], digest.to_hex());
    let ids = app.clip_ids().await;
    assert_eq!(ids.len(), 1);
    assert_eq!(saved[&key]["clip_id"], ids[0]);
    assert_eq!(clip(&app, &ids[0]).await["sha256"], digest.to_hex());
    assert!(file.exists(), "deleted without --delete-after-verify");

    // A second run finds the file done and uploads nothing.
    let again = agent(&app, &state, &[file.to_str().unwrap()]).await;
    assert!(again.status.success());
    assert_eq!(app.clip_ids().await.len(), 1);
    app.app.stop().await;
}

#[tokio::test]
async fn the_agent_uploads_what_appears_in_a_watched_directory() {
    let app = spawn_standalone().await;
    let work = tempfile::tempdir().unwrap();
    let watched = work.path().join("station");
    std::fs::create_dir(&watched).unwrap();
    let mut child = tokio::process::Command::new(env!("CARGO_BIN_EXE_custodian"))
        .arg("upload")
        .args(["--server", &app.base, "--poll-every", "100ms", "--watch"])
        .arg(&watched)
        .arg("--state")
        .arg(work.path().join("state.json"))
        .env("CUSTODIAN_TOKEN", &app.token)
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    // Written elsewhere and moved in, as a station copying from a camera would finish a file.
    let staged = work.path().join("DSJ-0003_031234_20260214_100000.mp4");
    std::fs::write(&staged, sample(400_000)).unwrap();
    std::fs::rename(&staged, watched.join("DSJ-0003_031234_20260214_100000.mp4")).unwrap();
    let ids =
        custodian_platform::testing::eventually(WAIT, "the watched file uploaded", || async {
            let ids = app.clip_ids().await;
            (!ids.is_empty()).then_some(ids)
        })
        .await;
    assert_eq!(clip(&app, &ids[0]).await["device"], "DSJ-0003");
    child.kill().await.unwrap();
    app.app.stop().await;
}
