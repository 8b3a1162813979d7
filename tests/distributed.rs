//! The distributed deployment end to end: `custodian serve ingest`, `serve catalog`, `serve
//! transcoder` and `serve fingerprinter` as separate processes on the real NATS JetStream, S3
//! server (Garage) and PostgreSQL, each test with its own stream, bucket and database.

mod common;

use common::distributed::{
    big_test_video, catalogued_announcements, create_token, deployment, deployment_on,
    expected_keys, nats_settings, test_video, wait_for_state, Deployment, PrivateGarage, Process,
};
use common::{metrics_text, sample, stored_bytes, times_catalogued, upload_query, WAIT};
use custodian_core::Sha256Digest;
use custodian_platform::blob::BlobStore;
use custodian_platform::testing::{eventually, object_keys, open_multipart_keys};
use serde_json::Value;
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
    let receipt = upload_original(&http, &ingest_base, &token, &digest, body, &ingest).await;
    assert_eq!(receipt["sha256"], digest.to_hex());
    let clip_id = receipt["clip_id"].as_str().unwrap().to_owned();

    // The catalog process learns of it over NATS and catalogues it.
    let record: Value =
        wait_for_state(&http, &catalog_base, &token, &clip_id, "catalogued", WAIT).await;
    assert_eq!(record["sha256"], digest.to_hex());
    assert_eq!(record["size_bytes"], 12 << 20);

    // The object in the bucket is the original, byte for byte.
    let key = format!("originals/b1/2026/02/14/{clip_id}.mp4");
    let stored = stored_bytes(&deployment.store, &key).await;
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
    common::video::lavfi_clip(&clip, "testsrc2=size=320x240:rate=25:duration=3", &[]);
    let body = std::fs::read(&clip).unwrap();
    let digest = Sha256Digest::of(&body);

    let token = create_token(&deployment.env, "b1").await;
    let http = reqwest::Client::new();
    let MediaRegion {
        ingest,
        catalog,
        transcoder,
        fingerprinter,
        ingest_base,
        catalog_base,
    } = media_region(&deployment.env, &http).await;

    let receipt = upload_original(&http, &ingest_base, &token, &digest, body, &ingest).await;
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
    let metrics = metrics_text(&http, &transcoder.address().await).await;
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
    common::video::lavfi_clip(&clip, "color=c=gray:size=320x240:rate=25:duration=2", &[]);
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

    let response = put_original(&http, ingest_base, &officer, &digest, body.clone())
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
        Some(custodian_core::records::RecordKind::Video),
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
    common::video::lavfi_clip(
        &clip,
        "testsrc2=size=1280x720:rate=30:duration=20",
        &["-preset", "ultrafast"],
    );
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

    let receipt = upload_original(&http, &ingest_base, &token, &digest, body, &ingest).await;
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
    assert_eq!(times_catalogued(&record), 1, "catalogued once: {record}");
    // One copy, made by the survivor, under the clip's derived key.
    let keys = custodian_core::keys::derived_keys(
        &custodian_core::BureauId::parse("b1").unwrap(),
        clip_id.parse().unwrap(),
    );
    assert!(deployment.store.size_of(&keys.view).await.unwrap().unwrap() > 1000);
    let metrics = metrics_text(&http, &survivor.address().await).await;
    assert!(
        metrics.contains("custodian_transcodes_total 1"),
        "{metrics}"
    );
    // The original is still the one that was received.
    let stored = stored_bytes(
        &deployment.store,
        &format!("originals/b1/2026/02/14/{clip_id}.mp4"),
    )
    .await;
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
        let request = put_original(&http, &ingest_base, &token, &digest, body);
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
        assert_eq!(times_catalogued(&record), 1, "{clip_id}: {record}");
    }
    let page = first_page(&http, &catalog_base, &token).await;
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
    let send = || put_original(&http, &ingest_base, &token, &digest, body.clone()).send();
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
    let page = first_page(&http, &catalog_base, &token).await;
    assert_eq!(
        page["items"].as_array().unwrap().len(),
        2,
        "the refused upload left no clip: {page}"
    );
    for process in [catalog, ingest] {
        assert!(process.terminate().await.success());
    }
}

/// Every receipted clip catalogued exactly once with the receipt's digest, its original
/// intact, one `clip.catalogued` each, and the bucket holding exactly the originals and each
/// clip's one viewing copy with its sidecars: nothing lost, doubled or orphaned.
async fn assert_each_catalogued_once(
    deployment: &Deployment,
    http: &reqwest::Client,
    catalog_base: &str,
    token: &str,
    receipts: &[Value],
    within: std::time::Duration,
) {
    let mut expected = Vec::new();
    for receipt in receipts {
        let clip_id = receipt["clip_id"].as_str().unwrap();
        let record = wait_for_state(http, catalog_base, token, clip_id, "catalogued", within).await;
        assert_eq!(record["sha256"], receipt["sha256"], "{clip_id}: {record}");
        assert_eq!(
            times_catalogued(&record),
            1,
            "{clip_id} catalogued once: {record}"
        );
        let stored = stored_bytes(
            &deployment.store,
            &format!("originals/b1/2026/02/14/{clip_id}.mp4"),
        )
        .await;
        assert_eq!(
            Sha256Digest::of(&stored).to_hex(),
            receipt["sha256"].as_str().unwrap(),
            "{clip_id}: the original as received"
        );
        expected.extend(expected_keys(clip_id));
    }
    expected.sort();
    let page: Value = http
        .get(format!("{catalog_base}/v1/clips?limit=500"))
        .bearer_auth(token)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(
        page["items"].as_array().unwrap().len(),
        receipts.len(),
        "one clip per receipt: {page}"
    );
    let announced = catalogued_announcements(&deployment.env).await;
    for receipt in receipts {
        let clip_id = receipt["clip_id"].as_str().unwrap();
        assert_eq!(
            announced.get(clip_id),
            Some(&1),
            "clip.catalogued once: {announced:?}"
        );
    }
    assert_eq!(announced.len(), receipts.len(), "{announced:?}");
    // What a refused upload may have left (an object, the parts of an open multipart write)
    // is the ingest janitor's to remove (the test's processes abandon uploads after a
    // minute); everything else is accounted for.
    let store = &deployment.store;
    eventually(
        std::time::Duration::from_secs(120),
        "no orphan objects",
        || async {
            let keys = object_keys(store).await.ok()?;
            let open = open_multipart_keys(store).await.ok()?;
            (keys == expected && open.is_empty()).then_some(())
        },
    )
    .await;
}

#[tokio::test]
async fn an_s3_outage_mid_stream_loses_nothing_and_leaves_no_orphans() {
    let mut garage = PrivateGarage::start().await;
    let settings = garage.settings();
    let store = custodian_platform::blob::S3BlobStore::new(&settings);
    let mut deployment = deployment_on(store, settings).await;
    deployment.env.retain(|(k, _)| k != "CUSTODIAN_MEDIA_STEPS");
    deployment.env.extend([
        ("CUSTODIAN_MEDIA_ACK_WAIT".into(), "3s".into()),
        // Clips whose media jobs gave up during the outage are announced again soon after.
        ("CUSTODIAN_STUCK_AFTER".into(), "2s".into()),
        ("CUSTODIAN_RECONCILE_EVERY".into(), "1s".into()),
        ("CUSTODIAN_ABANDON_UPLOADS_AFTER".into(), "1m".into()),
        ("CUSTODIAN_JANITOR_EVERY".into(), "1s".into()),
    ]);
    let work = tempfile::tempdir().unwrap();
    // Long enough that the media workers are still at it when the store goes away.
    let body = test_video(work.path(), "640x360", 30).await;
    let digest = Sha256Digest::of(&body);
    let big = big_test_video(work.path(), "1280x720", 8).await;
    assert!(
        big.len() > 11 << 20,
        "two parts or more: {} bytes",
        big.len()
    );
    let big_digest = Sha256Digest::of(&big);

    let token = create_token(&deployment.env, "b1").await;
    let http = reqwest::Client::new();
    let MediaRegion {
        ingest,
        catalog,
        transcoder,
        fingerprinter,
        ingest_base,
        catalog_base,
    } = media_region(&deployment.env, &http).await;

    let send = || put_original(&http, &ingest_base, &token, &digest, body.clone()).send();
    let mut receipts = Vec::new();
    let first = send().await.unwrap();
    assert_eq!(first.status(), 201, "{}", ingest.log_text());
    receipts.push(first.json::<Value>().await.unwrap());

    // The store goes away while the transcoder works on the clip, and while a large upload is
    // half sent: its first part is in the store, its write open.
    eventually(WAIT, "the transcoder at work", || async {
        transcoder
            .log_text()
            .contains("\"transcoding\"")
            .then_some(())
    })
    .await;
    let (chunks, rx) = tokio::sync::mpsc::channel::<Result<Vec<u8>, std::io::Error>>(2);
    let stream = futures::stream::unfold(rx, |mut rx| async move {
        rx.recv().await.map(|chunk| (chunk, rx))
    });
    let interrupted = tokio::spawn(
        put_original(
            &http,
            &ingest_base,
            &token,
            &big_digest,
            reqwest::Body::wrap_stream(stream),
        )
        .send(),
    );
    chunks.send(Ok(big[..6 << 20].to_vec())).await.unwrap();
    let store = &deployment.store;
    eventually(WAIT, "the big upload's write open in the store", || async {
        let open = open_multipart_keys(store).await.ok()?;
        (!open.is_empty()).then_some(())
    })
    .await;
    garage.stop().await;
    // The rest of the body goes to an ingest whose store is gone: no receipt. The answer is
    // a 503 with Retry-After, unless the connection is cut before it can be read.
    let _ = chunks.send(Ok(big[6 << 20..].to_vec())).await;
    drop(chunks);
    match interrupted.await.unwrap() {
        Ok(response) => {
            assert_eq!(response.status(), 503, "{}", ingest.log_text());
            assert!(response.headers().contains_key("retry-after"));
        }
        Err(cut) => eprintln!("the interrupted upload's answer was not read: {cut}"),
    }
    let readiness = || async {
        http.get(format!("{ingest_base}/readyz"))
            .send()
            .await
            .ok()
            .map(|r| r.status().as_u16())
    };
    eventually(WAIT, "ingest not ready without its store", || async {
        (readiness().await? == 503).then_some(())
    })
    .await;

    // An upload now is refused, clearly, with a time to come back.
    let refused = send().await.unwrap();
    assert_eq!(refused.status(), 503, "{}", ingest.log_text());
    let retry_after: u64 = refused.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!(retry_after > 0);
    let error: Value = refused.json().await.unwrap();
    assert_eq!(error["error"]["code"], "storage-unavailable", "{error}");
    // The store stays away until the job in flight has failed on it at every delivery the bus
    // allows: the job is given up, but not the clip, which stays `stored` for the reconciler.
    eventually(
        std::time::Duration::from_secs(90),
        "the transcoder's job given up",
        || async {
            let log = transcoder.log_text();
            (log.contains("job failed, will retry") && log.contains("job given up")).then_some(())
        },
    )
    .await;

    garage.resume().await;
    eventually(WAIT, "ingest ready again", || async {
        (readiness().await? == 200).then_some(())
    })
    .await;
    // The station retries as told, and the retry gets its receipt.
    let retried = eventually(WAIT, "upload accepted after the outage", || async {
        let response = send().await.ok()?;
        (response.status() == 201).then_some(response)
    })
    .await;
    receipts.push(retried.json::<Value>().await.unwrap());
    let after = send().await.unwrap();
    assert_eq!(after.status(), 201);
    receipts.push(after.json::<Value>().await.unwrap());
    for receipt in &receipts[..3] {
        assert_eq!(receipt["sha256"], digest.to_hex());
    }
    // The station sends the interrupted upload again, whole, and gets its receipt.
    let resent = put_original(&http, &ingest_base, &token, &big_digest, big)
        .send()
        .await
        .unwrap();
    assert_eq!(resent.status(), 201);
    let resent: Value = resent.json().await.unwrap();
    assert_eq!(resent["sha256"], big_digest.to_hex());
    receipts.push(resent);

    assert_each_catalogued_once(
        &deployment,
        &http,
        &catalog_base,
        &token,
        &receipts,
        std::time::Duration::from_secs(180),
    )
    .await;
    for process in [transcoder, fingerprinter, catalog, ingest] {
        assert!(process.terminate().await.success());
    }
    drop(garage);
}

#[tokio::test]
async fn two_workers_racing_on_one_clip_produce_one_result() {
    let mut deployment = deployment().await;
    deployment.env.retain(|(k, _)| k != "CUSTODIAN_MEDIA_STEPS");
    let work = tempfile::tempdir().unwrap();
    let body = test_video(work.path(), "640x360", 10).await;
    let digest = Sha256Digest::of(&body);

    let token = create_token(&deployment.env, "b1").await;
    let http = reqwest::Client::new();
    let ingest = Process::spawn(&["serve", "ingest"], &deployment.env);
    let catalog = Process::spawn(&["serve", "catalog"], &deployment.env);
    let transcoders = [
        Process::spawn(&["serve", "transcoder"], &deployment.env),
        Process::spawn(&["serve", "transcoder"], &deployment.env),
    ];
    let fingerprinters = [
        Process::spawn(&["serve", "fingerprinter"], &deployment.env),
        Process::spawn(&["serve", "fingerprinter"], &deployment.env),
    ];
    let ingest_base = ingest.ready(&http).await;
    let catalog_base = catalog.ready(&http).await;
    for worker in transcoders.iter().chain(&fingerprinters) {
        worker.ready(&http).await;
    }

    let receipt = upload_original(&http, &ingest_base, &token, &digest, body, &ingest).await;
    let clip_id: custodian_core::ClipId = receipt["clip_id"].as_str().unwrap().parse().unwrap();

    // The clip announced again under another message id, as the reconciler does, while the
    // first announcement is being worked on: each worker of a role takes one of the two.
    eventually(WAIT, "a transcoder at work", || async {
        transcoders
            .iter()
            .any(|t| t.log_text().contains("\"transcoding\""))
            .then_some(())
    })
    .await;
    let catalogue = custodian_platform::catalogue::connect(
        &deployment
            .env
            .iter()
            .find(|(k, _)| k == "CUSTODIAN_DATABASE_URL")
            .unwrap()
            .1,
        2,
    )
    .await
    .unwrap();
    let record = catalogue.clip_for_worker(clip_id).await.unwrap().unwrap();
    let bus = custodian_platform::bus::NatsBus::connect(&nats_settings(&deployment.env))
        .await
        .unwrap();
    custodian_platform::events::publish_stored(&bus, &record, 1)
        .await
        .unwrap();

    assert_each_catalogued_once(
        &deployment,
        &http,
        &catalog_base,
        &token,
        &[receipt],
        std::time::Duration::from_secs(120),
    )
    .await;
    // Both announcements were handled, and one copy and one fingerprint were made.
    for (role, workers) in [
        ("transcoder", &transcoders),
        ("fingerprinter", &fingerprinters),
    ] {
        let mut made = 0;
        let mut handled = 0;
        for worker in workers.iter() {
            let metrics = metrics_text(&http, &worker.address().await).await;
            let counter = if role == "transcoder" {
                "custodian_transcodes_total "
            } else {
                "custodian_fingerprints_total "
            };
            made += metric_value(&metrics, counter);
            handled += metric_value(
                &metrics,
                &format!("custodian_jobs_total{{consumer=\"{role}\",outcome=\"ok\"}} "),
            );
        }
        assert_eq!(made, 1, "{role}: one result made");
        assert_eq!(handled, 2, "{role}: both announcements handled");
    }
    // The second announcement reached the idle transcoder while the other held the clip.
    assert!(
        transcoders
            .iter()
            .any(|t| t.log_text().contains("clip held by another transcoder")),
        "the race did not happen"
    );
    let [a, b] = transcoders;
    let [c, d] = fingerprinters;
    for process in [a, b, c, d, catalog, ingest] {
        assert!(process.terminate().await.success());
    }
}

/// The value of the metric line starting with `prefix` (name and labels), 0 if absent.
fn metric_value(metrics: &str, prefix: &str) -> u64 {
    metrics
        .lines()
        .find_map(|line| line.strip_prefix(prefix))
        .map(|v| v.trim().parse::<f64>().unwrap() as u64)
        .unwrap_or(0)
}

/// `PUT /v1/uploads` of `body` with its `Content-Digest`, as a collection station sends an
/// original, on `ingest_base` with the bearer `token`.
fn put_original(
    http: &reqwest::Client,
    ingest_base: &str,
    token: &str,
    digest: &Sha256Digest,
    body: impl Into<reqwest::Body>,
) -> reqwest::RequestBuilder {
    http.put(format!("{ingest_base}/v1/uploads"))
        .bearer_auth(token)
        .header("Content-Digest", digest.to_content_digest())
        .query(&upload_query())
        .body(body)
}

/// Uploads an original and answers its receipt, failing the test (with ingest's log) unless
/// it was stored.
/// A file that crashes the decoder (the media sandbox's test hook, issue #26) fails its clip
/// once, on whichever worker meets it first: no worker goes down, the message is dead-lettered
/// on its first delivery instead of redelivered to every worker, and a good clip uploaded
/// beside it is catalogued.
#[tokio::test]
async fn a_crashing_file_is_dead_lettered_once_and_takes_no_worker_down() {
    let mut deployment = deployment().await;
    deployment.env.retain(|(k, _)| k != "CUSTODIAN_MEDIA_STEPS");
    let work = tempfile::tempdir().unwrap();
    let good = test_video(work.path(), "160x120", 1).await;
    let crashing = format!(
        "{}segv\n{}",
        custodian_media::sandbox::child::TEST_HOOK_MARKER,
        uuid::Uuid::new_v4()
    )
    .into_bytes();

    let token = create_token(&deployment.env, "b1").await;
    let http = reqwest::Client::new();
    let MediaRegion {
        ingest,
        catalog,
        transcoder,
        fingerprinter,
        ingest_base,
        catalog_base,
    } = media_region(&deployment.env, &http).await;
    // A second transcoder: a redelivery would find it free.
    let spare = Process::spawn(&["serve", "transcoder"], &deployment.env);
    spare.ready(&http).await;

    let digest = Sha256Digest::of(&crashing);
    let receipt = upload_original(&http, &ingest_base, &token, &digest, crashing, &ingest).await;
    let crashed_id = receipt["clip_id"].as_str().unwrap().to_owned();
    let digest = Sha256Digest::of(&good);
    let receipt = upload_original(&http, &ingest_base, &token, &digest, good, &ingest).await;
    let good_id = receipt["clip_id"].as_str().unwrap().to_owned();

    let media_wait = std::time::Duration::from_secs(90);
    let record = wait_for_state(
        &http,
        &catalog_base,
        &token,
        &crashed_id,
        "failed",
        media_wait,
    )
    .await;
    assert_eq!(
        record["failure_reason"], "the decoder crashed (SIGSEGV)",
        "{record}"
    );
    wait_for_state(
        &http,
        &catalog_base,
        &token,
        &good_id,
        "catalogued",
        media_wait,
    )
    .await;

    let mut dead_letters = 0;
    for worker in [&transcoder, &spare, &fingerprinter] {
        let metrics = metrics_text(&http, &worker.address().await).await;
        for line in metrics.lines() {
            let value = || line.rsplit(' ').next().unwrap().parse::<u64>().unwrap();
            if line.starts_with("custodian_redeliveries_total{") {
                assert_eq!(value(), 0, "redelivered: {line}");
            }
            if line.starts_with("custodian_dead_letters_total{") {
                dead_letters += value();
            }
        }
    }
    // One per role that met it (a fingerprinter that finds the clip failed leaves it).
    assert!(
        (1..=2).contains(&dead_letters),
        "{dead_letters} dead letters"
    );
    for process in [transcoder, spare, fingerprinter, catalog, ingest] {
        assert!(process.terminate().await.success(), "a worker went down");
    }
}

async fn upload_original(
    http: &reqwest::Client,
    ingest_base: &str,
    token: &str,
    digest: &Sha256Digest,
    body: impl Into<reqwest::Body>,
    ingest: &Process,
) -> Value {
    let response = put_original(http, ingest_base, token, digest, body)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 201, "{}", ingest.log_text());
    response.json().await.unwrap()
}

/// Ingest, catalog, a transcoder and a fingerprinter, each its own process, all ready.
struct MediaRegion {
    ingest: Process,
    catalog: Process,
    transcoder: Process,
    fingerprinter: Process,
    ingest_base: String,
    catalog_base: String,
}

async fn media_region(env: &[(String, String)], http: &reqwest::Client) -> MediaRegion {
    let ingest = Process::spawn(&["serve", "ingest"], env);
    let catalog = Process::spawn(&["serve", "catalog"], env);
    let transcoder = Process::spawn(&["serve", "transcoder"], env);
    let fingerprinter = Process::spawn(&["serve", "fingerprinter"], env);
    let ingest_base = ingest.ready(http).await;
    let catalog_base = catalog.ready(http).await;
    transcoder.ready(http).await;
    fingerprinter.ready(http).await;
    MediaRegion {
        ingest,
        catalog,
        transcoder,
        fingerprinter,
        ingest_base,
        catalog_base,
    }
}

/// The first page (up to 100) of the bureau's clips, as the catalog lists them.
async fn first_page(http: &reqwest::Client, catalog_base: &str, token: &str) -> Value {
    http.get(format!("{catalog_base}/v1/clips?limit=100"))
        .bearer_auth(token)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap()
}

/// Runs `scripts/region-backup.sh` with `env`; answers whether it succeeded and what it said.
async fn region_backup(args: &[&str], env: &[(String, String)]) -> (bool, String) {
    let output = Command::new(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/scripts/region-backup.sh"
    ))
    .args(args)
    .envs(env.iter().map(|(k, v)| (k.as_str(), v.as_str())))
    .env("CUSTODIAN_BIN", common::distributed::BIN)
    .output()
    .await
    .unwrap();
    let said = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    (output.status.success(), said)
}

/// `env` with the database and the bucket replaced by new, empty ones.
async fn elsewhere(env: &[(String, String)]) -> Vec<(String, String)> {
    let (_, s3) = custodian_platform::testing::fresh_s3_store().await;
    let database = custodian_platform::testing::fresh_postgres_url().await;
    env.iter()
        .map(|(k, v)| match k.as_str() {
            "CUSTODIAN_DATABASE_URL" => (k.clone(), database.clone()),
            "CUSTODIAN_S3_BUCKET" => (k.clone(), s3.bucket.clone()),
            _ => (k.clone(), v.clone()),
        })
        .collect()
}

fn setting<'a>(env: &'a [(String, String)], name: &str) -> &'a str {
    &env.iter().find(|(k, _)| k == name).unwrap().1
}

/// Art. 19 for a region: `scripts/region-backup.sh` backs up a running region (catalogue
/// first, bucket second) and restores it into a new database and bucket, where every clip
/// receipted before the backup is catalogued with its receipt's hash, its original intact,
/// and every audit trail verifies against the restored anchors; a restore over a live
/// catalogue is refused. The restored bucket alone then rebuilds the catalogue again
/// (`custodian catalogue rebuild --database-url`), with the trail restarted after its anchor.
#[tokio::test]
async fn a_region_is_backed_up_restored_and_rebuilt_from_its_bucket() {
    let mut deployment = deployment().await;
    let work = tempfile::tempdir().unwrap();
    let key_file = work.path().join("audit.key");
    let key = ed25519_dalek::SigningKey::from_bytes(&rand::random::<[u8; 32]>());
    std::fs::write(&key_file, hex::encode(key.to_bytes())).unwrap();
    let public_key = hex::encode(key.verifying_key().to_bytes());
    deployment.env.extend([
        (
            "CUSTODIAN_AUDIT_KEY_FILE".to_owned(),
            key_file.display().to_string(),
        ),
        ("CUSTODIAN_CHECKPOINT_EVERY".to_owned(), "1s".to_owned()),
    ]);
    let token = create_token(&deployment.env, "b1").await;
    let archivist =
        common::distributed::create_token_with_role(&deployment.env, "b1", "archivist").await;
    let http = reqwest::Client::new();
    let processes: Vec<Process> = ["ingest", "catalog", "custody"]
        .into_iter()
        .map(|role| Process::spawn(&["serve", role], &deployment.env))
        .collect();
    let mut bases = Vec::new();
    for process in &processes {
        bases.push(process.ready(&http).await);
    }
    let (ingest_base, catalog_base) = (&bases[0], &bases[1]);

    let mut receipts = Vec::new();
    for n in 0..5u8 {
        let mut body = sample(50_000);
        body.push(n);
        let digest = Sha256Digest::of(&body);
        let response = put_original(&http, ingest_base, &token, &digest, body)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 201);
        let receipt: Value = response.json().await.unwrap();
        wait_for_state(
            &http,
            catalog_base,
            &token,
            receipt["clip_id"].as_str().unwrap(),
            "catalogued",
            WAIT,
        )
        .await;
        receipts.push(receipt);
    }
    let classified = receipts[0]["clip_id"].as_str().unwrap().to_owned();
    let response = http
        .put(format!(
            "{catalog_base}/v1/clips/{classified}/classification"
        ))
        .bearer_auth(&archivist)
        .json(&serde_json::json!({"category": "行政检查", "description": "现场检查"}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    // Custody has written every record and anchored the trail.
    eventually(WAIT, "records and anchors in the bucket", || async {
        let keys = object_keys(&deployment.store).await.ok()?;
        let records = keys.iter().filter(|k| k.starts_with("records/b1/")).count();
        let anchored = keys.iter().any(|k| k.starts_with("audit-anchors/b1/"));
        (records == receipts.len() && anchored).then_some(())
    })
    .await;
    // The classification reached its record (the record is rewritten after the change).
    eventually(WAIT, "the classification in its record", || async {
        let bytes = stored_bytes(
            &deployment.store,
            &custodian_core::sidecar::sidecar_key("b1", &classified),
        )
        .await;
        let record = custodian_core::sidecar::open(
            &custodian_core::sidecar::sidecar_key("b1", &classified),
            &bytes,
            &key.verifying_key(),
        )
        .ok()?;
        (!record.classifications.is_empty()).then_some(())
    })
    .await;

    let repository = work.path().join("backup");
    let (ok, said) =
        region_backup(&["backup", repository.to_str().unwrap()], &deployment.env).await;
    assert!(ok, "{said}");
    // Uploaded after the backup: not in what it restores.
    let late_body = sample(50_001);
    let response = put_original(
        &http,
        ingest_base,
        &token,
        &Sha256Digest::of(&late_body),
        late_body,
    )
    .send()
    .await
    .unwrap();
    assert_eq!(response.status(), 201);
    let late: Value = response.json().await.unwrap();
    for process in processes {
        assert!(process.terminate().await.success());
    }

    // Into a new database and a new bucket, as after losing both.
    let mut restored = elsewhere(&deployment.env).await;
    restored.push(("CUSTODIAN_AUDIT_PUBLIC_KEY".into(), public_key.clone()));
    let (ok, said) = region_backup(&["restore", repository.to_str().unwrap()], &restored).await;
    assert!(ok, "{said}");
    assert!(
        said.contains("bureau b1:") && said.contains("intact"),
        "{said}"
    );
    let catalogue =
        custodian_platform::catalogue::connect(setting(&restored, "CUSTODIAN_DATABASE_URL"), 1)
            .await
            .unwrap();
    let store = custodian_platform::blob::S3BlobStore::new(
        &custodian_platform::testing::s3_settings(setting(&restored, "CUSTODIAN_S3_BUCKET")),
    );
    let b1 = custodian_core::BureauId::parse("b1").unwrap();
    for receipt in &receipts {
        let id: custodian_core::ClipId = receipt["clip_id"].as_str().unwrap().parse().unwrap();
        let clip = catalogue.clip(&b1, id).await.unwrap().expect("restored");
        assert_eq!(clip.sha256.to_hex(), receipt["sha256"], "clip {id}");
        assert_eq!(
            Sha256Digest::of(&stored_bytes(&store, &clip.object_key).await),
            clip.sha256,
            "the original of {id}"
        );
    }
    let late_id: custodian_core::ClipId = late["clip_id"].as_str().unwrap().parse().unwrap();
    assert!(catalogue.clip(&b1, late_id).await.unwrap().is_none());
    // Never over a live catalogue.
    let (ok, said) = region_backup(&["restore", repository.to_str().unwrap()], &restored).await;
    assert!(!ok && said.contains("restore into an empty one"), "{said}");

    // The restored bucket alone: a catalogue rebuilt into a third, empty database.
    let mut rebuilt = restored.clone();
    let third = custodian_platform::testing::fresh_postgres_url().await;
    for (k, v) in &mut rebuilt {
        if k == "CUSTODIAN_DATABASE_URL" {
            *v = third.clone();
        }
    }
    let output = common::distributed::run_custodian(
        &[
            "catalogue",
            "rebuild",
            "--database-url",
            &third,
            "--public-key",
            &public_key,
        ],
        &rebuilt,
    )
    .await;
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let report: Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(report["originals"], receipts.len(), "{report}");
    assert_eq!(report["from_sidecars"], receipts.len(), "{report}");
    assert_eq!(report["classified"], 1, "{report}");
    assert!(
        report["audit"][0][1].as_i64().is_some(),
        "restarted after an anchor: {report}"
    );
    let output = common::distributed::run_custodian(
        &[
            "audit",
            "verify",
            "--database-url",
            &third,
            "--public-key",
            &public_key,
        ],
        &rebuilt,
    )
    .await;
    let said = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "{said}{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(said.contains("restarted by a catalogue rebuild"), "{said}");
}
