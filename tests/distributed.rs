//! The distributed deployment end to end: `custodian serve ingest`, `serve catalog`, `serve
//! transcoder` and `serve fingerprinter` as separate processes on the real NATS JetStream, S3
//! server (Garage) and PostgreSQL, each test with its own stream, bucket and database.

mod common;

use common::distributed::{create_token, deployment, wait_for_state, Process};
use common::{sample, upload_query, WAIT};
use custodian_core::Sha256Digest;
use custodian_platform::blob::BlobStore;
use custodian_platform::testing::eventually;
use serde_json::Value;
use tokio::io::AsyncReadExt;
use tokio::process::Command;

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
    let record: Value =
        wait_for_state(&http, &catalog_base, &token, &clip_id, "catalogued", WAIT).await;
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
        ("CUSTODIAN_SECRET_ROLES", "leader,chief", "secret-roles"),
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
    let record: Value = wait_for_state(
        &http,
        &catalog_base,
        &token,
        &clip_id,
        "catalogued",
        media_wait,
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
async fn a_party_copy_is_watermarked_by_a_separate_transcoder_and_served_by_custody() {
    let mut deployment = deployment().await;
    deployment.env.retain(|(k, _)| k != "CUSTODIAN_MEDIA_STEPS");
    let work = tempfile::tempdir().unwrap();
    let key = work.path().join("audit.key");
    std::fs::write(&key, hex::encode(rand::random::<[u8; 32]>())).unwrap();
    deployment
        .env
        .push(("CUSTODIAN_AUDIT_KEY_FILE".into(), key.display().to_string()));
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
        .arg("color=c=gray:size=320x240:rate=25:duration=2")
        .args(["-c:v", "libx264", "-pix_fmt", "yuv420p"])
        .arg(&clip)
        .status()
        .await
        .unwrap();
    assert!(made.success());
    let body = std::fs::read(&clip).unwrap();
    let digest = Sha256Digest::of(&body);

    let officer = create_token(&deployment.env, "b1").await;
    let leader = common::distributed::create_token_with_role(&deployment.env, "b1", "leader").await;
    let http = reqwest::Client::new();
    let processes: Vec<Process> = [
        "ingest",
        "catalog",
        "custody",
        "transcoder",
        "fingerprinter",
    ]
    .into_iter()
    .map(|role| Process::spawn(&["serve", role], &deployment.env))
    .collect();
    let mut bases = Vec::new();
    for process in &processes {
        bases.push(process.ready(&http).await);
    }
    let (ingest_base, catalog_base, custody_base) = (&bases[0], &bases[1], &bases[2]);

    let response = http
        .put(format!("{ingest_base}/v1/uploads"))
        .bearer_auth(&officer)
        .header("Content-Digest", digest.to_content_digest())
        .query(&upload_query())
        .body(body.clone())
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 201);
    let clip_id = response.json::<Value>().await.unwrap()["clip_id"]
        .as_str()
        .unwrap()
        .to_owned();
    wait_for_state(
        &http,
        catalog_base,
        &officer,
        &clip_id,
        "catalogued",
        std::time::Duration::from_secs(90),
    )
    .await;

    let request: Value = http
        .post(format!("{custody_base}/v1/copy-requests"))
        .bearer_auth(&officer)
        .json(&serde_json::json!({"clip_id": clip_id, "party": "代理律师 李四", "purpose": "诉讼"}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let id = request["id"].as_str().unwrap().to_owned();
    let decided: Value = http
        .post(format!("{custody_base}/v1/copy-requests/{id}/approve"))
        .bearer_auth(&leader)
        .json(&serde_json::json!({"reason": "同意"}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let link = decided["download_url"].as_str().unwrap().to_owned();
    let response = eventually(
        std::time::Duration::from_secs(90),
        "the party's copy made",
        || async {
            let response = http
                .get(format!("{custody_base}{link}"))
                .send()
                .await
                .ok()?;
            if response.status() == 409 {
                assert!(response.headers().contains_key("retry-after"));
                return None;
            }
            Some(response)
        },
    )
    .await;
    assert_eq!(response.status(), 200);
    let declared = response.headers()["custodian-sha256"]
        .to_str()
        .unwrap()
        .to_owned();
    let copy = response.bytes().await.unwrap();
    assert_eq!(Sha256Digest::of(&copy).to_hex(), declared);
    assert_ne!(copy.as_ref(), body.as_slice());
    let key = custodian_core::keys::copy_key(
        &custodian_core::BureauId::parse("b1").unwrap(),
        clip_id.parse().unwrap(),
        id.parse().unwrap(),
    );
    assert_eq!(
        deployment.store.size_of(&key).await.unwrap(),
        Some(copy.len() as u64),
        "the copy is in the bucket under its derived key"
    );
    for process in processes.into_iter().rev() {
        assert!(process.terminate().await.success());
    }
}

#[tokio::test]
async fn a_transcoder_killed_mid_job_loses_nothing_and_leaves_one_copy() {
    transcoder_stopped_mid_job(Stop::Kill).await;
}

#[tokio::test]
async fn a_transcoder_told_to_stop_mid_job_exits_cleanly_and_hands_the_job_on() {
    transcoder_stopped_mid_job(Stop::Terminate).await;
}

enum Stop {
    /// SIGKILL: a crash, nothing settled.
    Kill,
    /// SIGTERM with a shutdown grace shorter than the job: the worker stops taking work,
    /// gives up the job it holds when the grace runs out, and exits 0.
    Terminate,
}

async fn transcoder_stopped_mid_job(stop: Stop) {
    let mut deployment = deployment().await;
    deployment.env.retain(|(k, _)| k != "CUSTODIAN_MEDIA_STEPS");
    // A short ack wait, so the job of the killed worker is handed on within the test.
    deployment
        .env
        .push(("CUSTODIAN_MEDIA_ACK_WAIT".into(), "3s".into()));
    // The workers' own work directory, to see what a killed one leaves there.
    let jobs = tempfile::tempdir().unwrap();
    deployment.env.push((
        "CUSTODIAN_MEDIA_WORK_DIR".into(),
        jobs.path().display().to_string(),
    ));
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
    let mut doomed_env = deployment.env.clone();
    doomed_env.push(("CUSTODIAN_SHUTDOWN_GRACE".into(), "1s".into()));
    let mut doomed = Process::spawn(&["serve", "transcoder"], &doomed_env);
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
    match stop {
        Stop::Kill => doomed.child.kill().await.unwrap(),
        Stop::Terminate => {
            let status = doomed.terminate().await;
            assert!(status.success(), "exit after SIGTERM: {status}");
        }
    }
    let survivor = Process::spawn(&["serve", "transcoder"], &deployment.env);
    survivor.ready(&http).await;

    let record: Value = wait_for_state(
        &http,
        &catalog_base,
        &token,
        &clip_id,
        "catalogued",
        std::time::Duration::from_secs(180),
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
    // Nothing left in the work directory: the killed worker's copy of the original was swept
    // by its replacement, the jobs that finished removed their own.
    eventually(WAIT, "an empty work directory", || async {
        let left: Vec<_> = std::fs::read_dir(jobs.path())
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        left.is_empty().then_some(())
    })
    .await;
    if matches!(stop, Stop::Kill) {
        assert!(
            survivor
                .log_text()
                .contains("job directories of killed workers removed"),
            "{}",
            survivor.log_text()
        );
    }
    for process in [survivor, fingerprinter, catalog, ingest] {
        assert!(process.terminate().await.success());
    }
}

/// A NATS server of the test's own (the machine's is shared by every test), with JetStream
/// kept in `store` so a restart finds its streams again.
fn private_nats(port: u16, store: &std::path::Path) -> tokio::process::Child {
    Command::new("nats-server")
        .args(["-a", "127.0.0.1", "-p", &port.to_string(), "-js", "-sd"])
        .arg(store)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .expect("nats-server runs (Debian's nats-server package)")
}

#[tokio::test]
async fn uploads_during_a_nats_restart_are_all_catalogued_once() {
    let mut deployment = deployment().await;
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let store = tempfile::tempdir().unwrap();
    let mut nats = private_nats(port, store.path());
    deployment.env.retain(|(k, _)| k != "CUSTODIAN_NATS_URL");
    deployment.env.extend([
        (
            "CUSTODIAN_NATS_URL".into(),
            format!("nats://127.0.0.1:{port}"),
        ),
        // Clips whose announcement was lost are announced again within seconds.
        ("CUSTODIAN_STUCK_AFTER".into(), "2s".into()),
        ("CUSTODIAN_RECONCILE_EVERY".into(), "1s".into()),
    ]);
    let token = create_token(&deployment.env, "b1").await;
    let http = reqwest::Client::new();
    let ingest = Process::spawn(&["serve", "ingest"], &deployment.env);
    let catalog = Process::spawn(&["serve", "catalog"], &deployment.env);
    let ingest_base = ingest.ready(&http).await;
    let catalog_base = catalog.ready(&http).await;

    let upload = |n: usize| {
        let body = sample(100_000 + n);
        let digest = Sha256Digest::of(&body);
        let request = http
            .put(format!("{ingest_base}/v1/uploads"))
            .bearer_auth(&token)
            .header("Content-Digest", digest.to_content_digest())
            .query(&upload_query())
            .body(body);
        async move {
            let response = request.send().await.unwrap();
            assert_eq!(response.status(), 201, "upload {n}");
            let receipt: Value = response.json().await.unwrap();
            assert_eq!(receipt["sha256"], digest.to_hex());
            receipt["clip_id"].as_str().unwrap().to_owned()
        }
    };
    let mut receipts = vec![upload(0).await, upload(1).await];
    // NATS goes away: originals still arrive, are recorded and get receipts; only their
    // announcements are lost.
    nats.kill().await.unwrap();
    nats.wait().await.unwrap();
    receipts.push(upload(2).await);
    receipts.push(upload(3).await);
    let _nats = private_nats(port, store.path());
    receipts.push(upload(4).await);

    for clip_id in &receipts {
        let record: Value = wait_for_state(
            &http,
            &catalog_base,
            &token,
            clip_id,
            "catalogued",
            std::time::Duration::from_secs(90),
        )
        .await;
        let catalogued = record["history"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|t| t["to"] == "catalogued")
            .count();
        assert_eq!(catalogued, 1, "{clip_id}: {record}");
    }
    let page: Value = http
        .get(format!("{catalog_base}/v1/clips?limit=100"))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(
        page["items"].as_array().unwrap().len(),
        5,
        "no clip lost or doubled"
    );
    for process in [catalog, ingest] {
        assert!(process.terminate().await.success());
    }
}

/// A PostgreSQL cluster of the test's own on a free port (the machine's is shared by every
/// test), stopped and started at will, removed when dropped.
struct PrivatePostgres {
    dir: tempfile::TempDir,
    port: u16,
}

impl PrivatePostgres {
    fn bin(name: &str) -> String {
        let versions = std::fs::read_dir("/usr/lib/postgresql").expect("PostgreSQL installed");
        let version = versions
            .flatten()
            .map(|e| e.path())
            .max()
            .expect("a PostgreSQL version");
        version.join("bin").join(name).display().to_string()
    }

    /// As the `postgres` user: the server refuses to run as root.
    fn run(args: &[&str]) {
        let status = std::process::Command::new("runuser")
            .args(["-u", "postgres", "--"])
            .args(args)
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .status()
            .unwrap();
        assert!(status.success(), "{args:?}");
    }

    fn create() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let status = std::process::Command::new("chown")
            .args(["postgres:postgres"])
            .arg(dir.path())
            .status()
            .unwrap();
        assert!(status.success());
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let data = dir.path().join("data").display().to_string();
        Self::run(&[
            &Self::bin("initdb"),
            "-D",
            &data,
            "-A",
            "trust",
            "-U",
            "postgres",
        ]);
        let cluster = Self { dir, port };
        cluster.start();
        cluster
    }

    fn data(&self) -> String {
        self.dir.path().join("data").display().to_string()
    }

    fn start(&self) {
        let options = format!(
            "-p {} -k {} -c listen_addresses=127.0.0.1",
            self.port,
            self.dir.path().display()
        );
        Self::run(&[
            &Self::bin("pg_ctl"),
            "-D",
            &self.data(),
            "-o",
            &options,
            "-w",
            "start",
        ]);
    }

    fn stop(&self) {
        Self::run(&[
            &Self::bin("pg_ctl"),
            "-D",
            &self.data(),
            "-m",
            "fast",
            "-w",
            "stop",
        ]);
    }

    fn url(&self) -> String {
        format!("postgres://postgres@127.0.0.1:{}/postgres", self.port)
    }
}

impl Drop for PrivatePostgres {
    fn drop(&mut self) {
        let _ = std::process::Command::new("runuser")
            .args([
                "-u",
                "postgres",
                "--",
                &Self::bin("pg_ctl"),
                "-D",
                &self.data(),
                "-m",
                "immediate",
                "stop",
            ])
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .status();
    }
}

#[tokio::test]
async fn an_upload_refused_while_postgresql_is_down_succeeds_on_retry_and_nothing_is_lost() {
    let mut deployment = deployment().await;
    let postgres = PrivatePostgres::create();
    deployment
        .env
        .retain(|(k, _)| k != "CUSTODIAN_DATABASE_URL");
    deployment.env.extend([
        ("CUSTODIAN_DATABASE_URL".into(), postgres.url()),
        ("CUSTODIAN_STUCK_AFTER".into(), "2s".into()),
        ("CUSTODIAN_RECONCILE_EVERY".into(), "1s".into()),
    ]);
    let token = create_token(&deployment.env, "b1").await;
    let http = reqwest::Client::new();
    let ingest = Process::spawn(&["serve", "ingest"], &deployment.env);
    let catalog = Process::spawn(&["serve", "catalog"], &deployment.env);
    let ingest_base = ingest.ready(&http).await;
    let catalog_base = catalog.ready(&http).await;

    let body = sample(300_000);
    let digest = Sha256Digest::of(&body);
    let send = || {
        http.put(format!("{ingest_base}/v1/uploads"))
            .bearer_auth(&token)
            .header("Content-Digest", digest.to_content_digest())
            .query(&upload_query())
            .body(body.clone())
            .send()
    };
    let first = send().await.unwrap();
    assert_eq!(first.status(), 201);
    let first: Value = first.json().await.unwrap();

    postgres.stop();
    let refused = send().await.unwrap();
    assert_eq!(refused.status(), 503, "{}", ingest.log_text());
    assert!(refused.headers().contains_key("retry-after"));
    postgres.start();
    // The station retries as told, and the retry gets its receipt.
    let retried = eventually(WAIT, "upload accepted after the restart", || async {
        let response = send().await.ok()?;
        (response.status() == 201).then_some(response)
    })
    .await;
    let second: Value = retried.json().await.unwrap();

    for receipt in [&first, &second] {
        let clip_id = receipt["clip_id"].as_str().unwrap();
        let record: Value =
            wait_for_state(&http, &catalog_base, &token, clip_id, "catalogued", WAIT).await;
        assert_eq!(record["sha256"], digest.to_hex());
    }
    let page: Value = http
        .get(format!("{catalog_base}/v1/clips?limit=100"))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(
        page["items"].as_array().unwrap().len(),
        2,
        "the refused upload left no clip: {page}"
    );
    for process in [catalog, ingest] {
        assert!(process.terminate().await.success());
    }
}
