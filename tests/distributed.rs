//! The distributed deployment end to end: `custodian serve ingest`, `serve catalog`, `serve
//! transcoder` and `serve fingerprinter` as separate processes on the real NATS JetStream, S3
//! server (Garage) and PostgreSQL, each test with its own stream, bucket and database.

mod common;

use std::process::Stdio;
use std::sync::{Arc, Mutex};

use common::{sample, upload_query, WAIT};
use custodian_core::Sha256Digest;
use custodian_platform::blob::BlobStore;
use custodian_platform::testing::{eventually, fresh_nats, fresh_postgres_url, fresh_s3_store};
use serde_json::Value;
use tokio::io::{AsyncBufReadExt, AsyncReadExt, BufReader};
use tokio::process::{Child, Command};

const BIN: &str = env!("CARGO_BIN_EXE_custodian");

struct Deployment {
    env: Vec<(String, String)>,
    store: custodian_platform::blob::S3BlobStore,
}

async fn deployment() -> Deployment {
    let (store, s3) = fresh_s3_store().await;
    let nats = fresh_nats();
    let env = vec![
        ("CUSTODIAN_DATABASE_URL", fresh_postgres_url().await),
        ("CUSTODIAN_S3_ENDPOINT", s3.endpoint.clone().unwrap()),
        ("CUSTODIAN_S3_BUCKET", s3.bucket.clone()),
        ("CUSTODIAN_S3_ACCESS_KEY_ID", s3.access_key_id.clone()),
        (
            "CUSTODIAN_S3_SECRET_ACCESS_KEY",
            s3.secret_access_key.clone(),
        ),
        ("CUSTODIAN_S3_PART_SIZE", "5MiB".into()),
        ("CUSTODIAN_NATS_URL", nats.url.clone()),
        ("CUSTODIAN_NATS_STREAM", nats.stream.clone()),
        ("CUSTODIAN_SUBJECT_PREFIX", nats.subject_prefix.clone()),
        ("CUSTODIAN_LISTEN", "127.0.0.1:0".into()),
        // Media workers have their own test below; here the catalog waits for no step.
        ("CUSTODIAN_MEDIA_STEPS", "none".into()),
    ];
    Deployment {
        env: env.into_iter().map(|(k, v)| (k.to_owned(), v)).collect(),
        store,
    }
}

/// A running `custodian` process whose log lines are kept for assertions and diagnostics.
struct Process {
    child: Child,
    log: Arc<Mutex<Vec<String>>>,
}

impl Process {
    fn spawn(args: &[&str], env: &[(String, String)]) -> Process {
        let mut child = Command::new(BIN)
            .args(["--log-json"])
            .args(args)
            .envs(env.iter().map(|(k, v)| (k.as_str(), v.as_str())))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .expect("spawn custodian");
        let log = Arc::new(Mutex::new(Vec::new()));
        let lines = log.clone();
        let stderr = child.stderr.take().unwrap();
        tokio::spawn(async move {
            let mut reader = BufReader::new(stderr).lines();
            while let Ok(Some(line)) = reader.next_line().await {
                lines.lock().unwrap().push(line);
            }
        });
        Process { child, log }
    }

    fn log_text(&self) -> String {
        self.log.lock().unwrap().join("\n")
    }

    /// The address from the process's `listening` log line.
    async fn address(&self) -> String {
        eventually(WAIT, "listening line", || async {
            self.log.lock().unwrap().iter().find_map(|line| {
                let event: Value = serde_json::from_str(line).ok()?;
                let addr = event["fields"]["addr"].as_str()?;
                (event["fields"]["message"] == "listening").then(|| format!("http://{addr}"))
            })
        })
        .await
    }

    async fn ready(&self, http: &reqwest::Client) -> String {
        let base = self.address().await;
        eventually(WAIT, "ready", || async {
            let response = http.get(format!("{base}/readyz")).send().await.ok()?;
            (response.status() == 200).then_some(())
        })
        .await;
        base
    }

    async fn terminate(mut self) -> std::process::ExitStatus {
        let pid = self.child.id().expect("still running").to_string();
        let killed = Command::new("kill")
            .args(["-TERM", &pid])
            .status()
            .await
            .unwrap();
        assert!(killed.success());
        tokio::time::timeout(WAIT, self.child.wait())
            .await
            .expect("exits after SIGTERM")
            .unwrap()
    }
}

async fn create_token(env: &[(String, String)], bureau: &str) -> String {
    let output = Command::new(BIN)
        .args(["admin", "token", "create", "--bureau", bureau])
        .envs(env.iter().map(|(k, v)| (k.as_str(), v.as_str())))
        .output()
        .await
        .unwrap();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8(output.stdout).unwrap().trim().to_owned()
}

#[tokio::test]
async fn a_clip_flows_through_separate_ingest_and_catalog_processes() {
    let deployment = deployment().await;
    let token = create_token(&deployment.env, "b1").await;
    let http = reqwest::Client::new();
    let ingest = Process::spawn(&["serve", "ingest"], &deployment.env);
    let catalog = Process::spawn(&["serve", "catalog"], &deployment.env);
    let ingest_base = ingest.ready(&http).await;
    let catalog_base = catalog.ready(&http).await;

    // 12 MiB: a multipart upload of three 5 MiB parts.
    let body = sample(12 << 20);
    let digest = Sha256Digest::of(&body);
    let response = http
        .put(format!("{ingest_base}/v1/uploads"))
        .bearer_auth(&token)
        .header("Content-Digest", digest.to_content_digest())
        .query(&upload_query())
        .body(body)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 201, "{}", ingest.log_text());
    let receipt: Value = response.json().await.unwrap();
    assert_eq!(receipt["sha256"], digest.to_hex());
    let clip_id = receipt["clip_id"].as_str().unwrap().to_owned();

    // The catalog process learns of it over NATS and catalogues it.
    let record: Value = eventually(WAIT, "catalogued by the catalog process", || async {
        let record: Value = http
            .get(format!("{catalog_base}/v1/clips/{clip_id}"))
            .bearer_auth(&token)
            .send()
            .await
            .ok()?
            .json()
            .await
            .ok()?;
        (record["state"] == "catalogued").then_some(record)
    })
    .await;
    assert_eq!(record["sha256"], digest.to_hex());
    assert_eq!(record["size_bytes"], 12 << 20);

    // The object in the bucket is the original, byte for byte.
    let key = format!("originals/b1/2026/02/14/{clip_id}.mp4");
    let mut stored = Vec::new();
    deployment
        .store
        .open(&key)
        .await
        .unwrap()
        .read_to_end(&mut stored)
        .await
        .unwrap();
    assert_eq!(Sha256Digest::of(&stored), digest);

    // Each process serves its own role's routes only.
    let wrong = http
        .get(format!("{ingest_base}/v1/clips/{clip_id}"))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(wrong.status(), 404);

    let metrics = http
        .get(format!("{catalog_base}/metrics"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        metrics.contains("custodian_jobs_total{consumer=\"catalog-stored\",outcome=\"ok\"} 1"),
        "{metrics}"
    );

    assert!(ingest.terminate().await.success());
    assert!(catalog.terminate().await.success());
}

#[tokio::test]
async fn a_bad_config_value_stops_startup_with_its_name() {
    let deployment = deployment().await;
    let cases = [
        ("CUSTODIAN_S3_PART_SIZE", "1MiB", "s3-part-size"),
        ("CUSTODIAN_S3_ENDPOINT", "127.0.0.1:3900", "s3-endpoint"),
        (
            "CUSTODIAN_DATABASE_URL",
            "mysql://root:hunter2@db/x",
            "database-url",
        ),
        ("CUSTODIAN_MAX_UPLOAD_SIZE", "12 parsecs", "max-upload-size"),
        ("CUSTODIAN_NATS_STREAM", "has space", "nats-stream"),
    ];
    for (variable, value, named) in cases {
        let mut env = deployment.env.clone();
        env.retain(|(k, _)| k != variable);
        env.push((variable.to_owned(), value.to_owned()));
        let mut process = Process::spawn(&["serve", "ingest"], &env);
        let status = tokio::time::timeout(WAIT, process.child.wait())
            .await
            .expect("exits")
            .unwrap();
        // Let the log reader drain what the process wrote.
        let log = eventually(WAIT, "error logged", || async {
            Some(process.log_text()).filter(|l| l.contains(named))
        })
        .await;
        assert!(!status.success(), "{variable}={value} accepted");
        assert!(
            !log.contains("hunter2"),
            "a password reached the log: {log}"
        );
    }
}

#[tokio::test]
async fn readiness_fails_while_a_dependency_is_down() {
    let deployment = deployment().await;
    let mut env = deployment.env.clone();
    env.retain(|(k, _)| k != "CUSTODIAN_S3_ENDPOINT");
    env.push(("CUSTODIAN_S3_ENDPOINT".into(), "http://127.0.0.1:9".into()));
    let ingest = Process::spawn(&["serve", "ingest"], &env);
    let base = ingest.address().await;
    let http = reqwest::Client::new();
    let response = http.get(format!("{base}/readyz")).send().await.unwrap();
    assert_eq!(response.status(), 503);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["catalogue"], "ok");
    assert_eq!(body["bus"], "ok");
    assert_ne!(body["blob_store"], "ok");
    assert_eq!(
        http.get(format!("{base}/healthz"))
            .send()
            .await
            .unwrap()
            .status(),
        200
    );
    assert!(ingest.terminate().await.success());
}

#[tokio::test]
async fn the_media_workers_run_as_their_own_processes() {
    let mut deployment = deployment().await;
    deployment.env.retain(|(k, _)| k != "CUSTODIAN_MEDIA_STEPS");
    let work = tempfile::tempdir().unwrap();
    let clip = work.path().join("clip.mp4");
    let made = Command::new("ffmpeg")
        .args([
            "-hide_banner",
            "-loglevel",
            "error",
            "-y",
            "-f",
            "lavfi",
            "-i",
        ])
        .arg("testsrc2=size=320x240:rate=25:duration=3")
        .args(["-c:v", "libx264", "-pix_fmt", "yuv420p"])
        .arg(&clip)
        .status()
        .await
        .unwrap();
    assert!(made.success());
    let body = std::fs::read(&clip).unwrap();
    let digest = Sha256Digest::of(&body);

    let token = create_token(&deployment.env, "b1").await;
    let http = reqwest::Client::new();
    let ingest = Process::spawn(&["serve", "ingest"], &deployment.env);
    let catalog = Process::spawn(&["serve", "catalog"], &deployment.env);
    let transcoder = Process::spawn(&["serve", "transcoder"], &deployment.env);
    let fingerprinter = Process::spawn(&["serve", "fingerprinter"], &deployment.env);
    let ingest_base = ingest.ready(&http).await;
    let catalog_base = catalog.ready(&http).await;
    transcoder.ready(&http).await;
    fingerprinter.ready(&http).await;

    let response = http
        .put(format!("{ingest_base}/v1/uploads"))
        .bearer_auth(&token)
        .header("Content-Digest", digest.to_content_digest())
        .query(&upload_query())
        .body(body)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 201, "{}", ingest.log_text());
    let receipt: Value = response.json().await.unwrap();
    let clip_id = receipt["clip_id"].as_str().unwrap().to_owned();

    let media_wait = std::time::Duration::from_secs(90);
    let record: Value = eventually(
        media_wait,
        "catalogued after both media workers",
        || async {
            let record: Value = http
                .get(format!("{catalog_base}/v1/clips/{clip_id}"))
                .bearer_auth(&token)
                .send()
                .await
                .ok()?
                .json()
                .await
                .ok()?;
            (record["state"] == "catalogued").then_some(record)
        },
    )
    .await;
    assert!(record["media"]["transcoded_at"].is_string(), "{record}");
    assert_eq!(record["media"]["fingerprint_seconds"], 3, "{record}");

    // The copy is in the bucket under its derived key and served by the catalog process.
    let keys = custodian_core::keys::derived_keys(
        &custodian_core::BureauId::parse("b1").unwrap(),
        clip_id.parse().unwrap(),
    );
    assert!(deployment.store.size_of(&keys.view).await.unwrap().unwrap() > 1000);
    let view = http
        .get(format!("{catalog_base}/v1/clips/{clip_id}/view"))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(view.status(), 200);
    assert_eq!(view.headers()["content-type"], "video/mp4");
    let metrics = http
        .get(format!("{}/metrics", transcoder.address().await))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        metrics.contains("custodian_transcodes_total 1"),
        "{metrics}"
    );

    for process in [transcoder, fingerprinter, catalog, ingest] {
        assert!(process.terminate().await.success());
    }
}

#[tokio::test]
async fn a_transcoder_killed_mid_job_loses_nothing_and_leaves_one_copy() {
    let mut deployment = deployment().await;
    deployment.env.retain(|(k, _)| k != "CUSTODIAN_MEDIA_STEPS");
    // A short ack wait, so the job of the killed worker is handed on within the test.
    deployment
        .env
        .push(("CUSTODIAN_MEDIA_ACK_WAIT".into(), "3s".into()));
    let work = tempfile::tempdir().unwrap();
    let clip = work.path().join("clip.mp4");
    // Long enough that the transcoder is still at work when it is killed.
    let made = Command::new("ffmpeg")
        .args([
            "-hide_banner",
            "-loglevel",
            "error",
            "-y",
            "-f",
            "lavfi",
            "-i",
        ])
        .arg("testsrc2=size=1280x720:rate=30:duration=20")
        .args([
            "-c:v",
            "libx264",
            "-preset",
            "ultrafast",
            "-pix_fmt",
            "yuv420p",
        ])
        .arg(&clip)
        .status()
        .await
        .unwrap();
    assert!(made.success());
    let body = std::fs::read(&clip).unwrap();
    let digest = Sha256Digest::of(&body);

    let token = create_token(&deployment.env, "b1").await;
    let http = reqwest::Client::new();
    let ingest = Process::spawn(&["serve", "ingest"], &deployment.env);
    let catalog = Process::spawn(&["serve", "catalog"], &deployment.env);
    let fingerprinter = Process::spawn(&["serve", "fingerprinter"], &deployment.env);
    let mut doomed = Process::spawn(&["serve", "transcoder"], &deployment.env);
    let ingest_base = ingest.ready(&http).await;
    let catalog_base = catalog.ready(&http).await;
    fingerprinter.ready(&http).await;
    doomed.ready(&http).await;

    let response = http
        .put(format!("{ingest_base}/v1/uploads"))
        .bearer_auth(&token)
        .header("Content-Digest", digest.to_content_digest())
        .query(&upload_query())
        .body(body)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 201, "{}", ingest.log_text());
    let receipt: Value = response.json().await.unwrap();
    let clip_id = receipt["clip_id"].as_str().unwrap().to_owned();

    eventually(WAIT, "the transcoder at work", || async {
        doomed.log_text().contains("\"transcoding\"").then_some(())
    })
    .await;
    doomed.child.kill().await.unwrap();
    let survivor = Process::spawn(&["serve", "transcoder"], &deployment.env);
    survivor.ready(&http).await;

    let record: Value = eventually(
        std::time::Duration::from_secs(180),
        "catalogued after the handover",
        || async {
            let record: Value = http
                .get(format!("{catalog_base}/v1/clips/{clip_id}"))
                .bearer_auth(&token)
                .send()
                .await
                .ok()?
                .json()
                .await
                .ok()?;
            (record["state"] == "catalogued").then_some(record)
        },
    )
    .await;
    assert_eq!(record["sha256"], digest.to_hex(), "the receipt's digest");
    let history = record["history"].as_array().unwrap();
    assert_eq!(
        history.iter().filter(|t| t["to"] == "catalogued").count(),
        1,
        "catalogued once: {history:?}"
    );
    // One copy, made by the survivor, under the clip's derived key.
    let keys = custodian_core::keys::derived_keys(
        &custodian_core::BureauId::parse("b1").unwrap(),
        clip_id.parse().unwrap(),
    );
    assert!(deployment.store.size_of(&keys.view).await.unwrap().unwrap() > 1000);
    let metrics = http
        .get(format!("{}/metrics", survivor.address().await))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        metrics.contains("custodian_transcodes_total 1"),
        "{metrics}"
    );
    // The original is still the one that was received.
    let mut stored = Vec::new();
    deployment
        .store
        .open(&format!("originals/b1/2026/02/14/{clip_id}.mp4"))
        .await
        .unwrap()
        .read_to_end(&mut stored)
        .await
        .unwrap();
    assert_eq!(Sha256Digest::of(&stored), digest);
    for process in [survivor, fingerprinter, catalog, ingest] {
        assert!(process.terminate().await.success());
    }
}
