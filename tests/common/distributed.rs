//! Helpers for tests that run roles as separate `custodian serve` processes on the real NATS
//! JetStream, S3 server (Garage) and PostgreSQL: a deployment's environment, a process whose
//! log is kept, an API token.

use std::process::Stdio;
use std::sync::{Arc, Mutex};

use custodian_platform::testing::{eventually, fresh_nats, fresh_postgres_url, fresh_s3_store};
use serde_json::Value;
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};

use super::WAIT;

pub const BIN: &str = env!("CARGO_BIN_EXE_custodian");

pub struct Deployment {
    pub env: Vec<(String, String)>,
    pub store: custodian_platform::blob::S3BlobStore,
}

pub async fn deployment() -> Deployment {
    let (store, s3) = fresh_s3_store().await;
    deployment_on(store, s3).await
}

/// A deployment whose footage goes to `store` (described by `s3`), e.g. a private Garage.
pub async fn deployment_on(
    store: custodian_platform::blob::S3BlobStore,
    s3: custodian_platform::blob::S3Settings,
) -> Deployment {
    let nats = fresh_nats();
    let env = vec![
        ("CUSTODIAN_DATABASE_URL", fresh_postgres_url().await),
        ("CUSTODIAN_S3_ENDPOINT", s3.endpoint.clone().unwrap()),
        ("CUSTODIAN_S3_BUCKET", s3.bucket.clone()),
        ("CUSTODIAN_S3_ACCESS_KEY_ID", s3.access_key_id.clone()),
        (
            "CUSTODIAN_S3_SECRET_ACCESS_KEY",
            secrecy::ExposeSecret::expose_secret(&s3.secret_access_key).to_owned(),
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
pub struct Process {
    pub child: Child,
    pub log: Arc<Mutex<Vec<String>>>,
}

impl Process {
    pub fn spawn(args: &[&str], env: &[(String, String)]) -> Process {
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

    pub fn log_text(&self) -> String {
        self.log.lock().unwrap().join("\n")
    }

    /// The address from the process's `listening` log line.
    pub async fn address(&self) -> String {
        eventually(WAIT, "listening line", || async {
            self.log.lock().unwrap().iter().find_map(|line| {
                let event: Value = serde_json::from_str(line).ok()?;
                let addr = event["fields"]["addr"].as_str()?;
                (event["fields"]["message"] == "listening").then(|| format!("http://{addr}"))
            })
        })
        .await
    }

    pub async fn ready(&self, http: &reqwest::Client) -> String {
        let base = self.address().await;
        eventually(WAIT, "ready", || async {
            let response = http.get(format!("{base}/readyz")).send().await.ok()?;
            (response.status() == 200).then_some(())
        })
        .await;
        base
    }

    pub async fn terminate(mut self) -> std::process::ExitStatus {
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

pub async fn create_token(env: &[(String, String)], bureau: &str) -> String {
    create_token_with_role(env, bureau, "officer").await
}

/// Runs `custodian ARGS` with `env` to its end.
pub async fn run_custodian(args: &[&str], env: &[(String, String)]) -> std::process::Output {
    Command::new(BIN)
        .args(args)
        .envs(env.iter().map(|(k, v)| (k.as_str(), v.as_str())))
        .output()
        .await
        .unwrap()
}

pub async fn create_token_with_role(env: &[(String, String)], bureau: &str, role: &str) -> String {
    let output = run_custodian(
        &[
            "admin", "token", "create", "--bureau", bureau, "--role", role,
        ],
        env,
    )
    .await;
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8(output.stdout).unwrap().trim().to_owned()
}

/// Polls the catalog process until the clip is in `state`, and answers its record.
pub async fn wait_for_state(
    http: &reqwest::Client,
    catalog_base: &str,
    token: &str,
    clip_id: &str,
    state: &str,
    within: std::time::Duration,
) -> Value {
    eventually(within, &format!("clip {clip_id} {state}"), || async {
        let record: Value = http
            .get(format!("{catalog_base}/v1/clips/{clip_id}"))
            .bearer_auth(token)
            .send()
            .await
            .ok()?
            .json()
            .await
            .ok()?;
        (record["state"] == state).then_some(record)
    })
    .await
}

/// The deployment's bus, as its processes see it.
pub fn nats_settings(env: &[(String, String)]) -> custodian_platform::bus::NatsSettings {
    let var = |name: &str| {
        env.iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.clone())
            .unwrap()
    };
    custodian_platform::bus::NatsSettings {
        url: var("CUSTODIAN_NATS_URL"),
        stream: var("CUSTODIAN_NATS_STREAM"),
        subject_prefix: var("CUSTODIAN_SUBJECT_PREFIX"),
        max_age: std::time::Duration::from_secs(3600),
        security: Default::default(),
    }
}

/// How many `clip.catalogued` events the stream holds for each clip: read by a consumer of the
/// test's own from the start of the stream until nothing is left for it.
pub async fn catalogued_announcements(
    env: &[(String, String)],
) -> std::collections::HashMap<String, usize> {
    use custodian_platform::bus::{Bus, ConsumerSpec, NatsBus};
    use custodian_proto::Message;
    let bus = NatsBus::connect(&nats_settings(env)).await.unwrap();
    let spec = ConsumerSpec {
        name: format!(
            "test-count-{}",
            &uuid::Uuid::new_v4().simple().to_string()[..12]
        ),
        topic: custodian_core::events::Topic::ClipCatalogued,
        ack_wait: std::time::Duration::from_secs(30),
        max_deliver: 1,
    };
    let mut subscription = bus.subscribe(&spec).await.unwrap();
    let mut counts = std::collections::HashMap::new();
    let deadline = tokio::time::Instant::now() + WAIT;
    while bus.pending(&spec).await.unwrap() > 0 {
        assert!(
            tokio::time::Instant::now() < deadline,
            "clip.catalogued events not all read within {WAIT:?}"
        );
        // A bounded wait per poll, so the pending count is looked at again.
        let next = tokio::time::timeout(std::time::Duration::from_millis(200), subscription.next());
        if let Ok(delivery) = next.await {
            let delivery = delivery.unwrap();
            let event = custodian_proto::v1::ClipCatalogued::decode(delivery.payload).unwrap();
            *counts.entry(event.clip_id).or_insert(0) += 1;
            delivery.acker.ack().await.unwrap();
        }
    }
    counts
}

/// The keys a catalogued clip of bureau b1, uploaded with `upload_query()`, has in the bucket:
/// its original, and its viewing copy, subtitles and poster.
pub fn expected_keys(clip_id: &str) -> Vec<String> {
    let derived = custodian_core::keys::derived_keys(
        &custodian_core::BureauId::parse("b1").unwrap(),
        clip_id.parse().unwrap(),
    );
    vec![
        format!("originals/b1/2026/02/14/{clip_id}.mp4"),
        derived.view,
        derived.subtitles,
        derived.poster,
    ]
}

/// Makes a test video (FFmpeg's testsrc2 pattern, H.264) of `size` and `seconds`.
pub async fn test_video(dir: &std::path::Path, size: &str, seconds: u32) -> Vec<u8> {
    test_video_with(dir, size, seconds, &[]).await
}

/// A large test video: lossless H.264, about 14 MB for 8 s of 1280x720.
pub async fn big_test_video(dir: &std::path::Path, size: &str, seconds: u32) -> Vec<u8> {
    test_video_with(dir, size, seconds, &["-qp", "0"]).await
}

async fn test_video_with(
    dir: &std::path::Path,
    size: &str,
    seconds: u32,
    extra: &[&str],
) -> Vec<u8> {
    let clip = dir.join(format!("clip-{size}-{seconds}-{}.mp4", extra.join("")));
    let source = format!("testsrc2=size={size}:rate=25:duration={seconds}");
    super::video::lavfi_clip(&clip, &source, &[&["-preset", "ultrafast"], extra].concat())
}

/// A single-node Garage of the test's own (the machine's is shared by every test), from the
/// binary scripts/garage.sh installs, with its own directories, loopback ports and random
/// keys. Its data stays across `stop` and `start`, as a real server's would; the directory
/// goes when it is dropped.
pub struct PrivateGarage {
    dir: tempfile::TempDir,
    child: Option<Child>,
    s3_port: u16,
    admin_port: u16,
    access_key: String,
    secret_key: String,
}

pub const GARAGE_BUCKET: &str = "custodian";

impl PrivateGarage {
    fn bin() -> String {
        let tools =
            std::env::var("CUSTODIAN_TOOLS").unwrap_or_else(|_| "/var/cache/custodian".into());
        format!("{tools}/garage/bin/garage")
    }

    fn hex(bytes: usize) -> String {
        (0..bytes)
            .map(|_| format!("{:02x}", rand::random::<u8>()))
            .collect()
    }

    pub async fn start() -> PrivateGarage {
        let dir = tempfile::tempdir().unwrap();
        // Three free ports, held together so they differ.
        let listeners: Vec<_> = (0..3)
            .map(|_| std::net::TcpListener::bind("127.0.0.1:0").unwrap())
            .collect();
        let ports: Vec<u16> = listeners
            .iter()
            .map(|l| l.local_addr().unwrap().port())
            .collect();
        drop(listeners);
        let (s3_port, rpc_port, admin_port) = (ports[0], ports[1], ports[2]);
        let root = dir.path().display();
        let config = format!(
            "metadata_dir = \"{root}/meta\"\ndata_dir = \"{root}/data\"\ndb_engine = \"sqlite\"\n\
             replication_factor = 1\nrpc_bind_addr = \"127.0.0.1:{rpc_port}\"\n\
             rpc_public_addr = \"127.0.0.1:{rpc_port}\"\nrpc_secret = \"{}\"\n\n\
             [s3_api]\ns3_region = \"us-east-1\"\napi_bind_addr = \"127.0.0.1:{s3_port}\"\n\
             root_domain = \".s3.localhost\"\n\n[admin]\napi_bind_addr = \"127.0.0.1:{admin_port}\"\n",
            Self::hex(32)
        );
        let path = dir.path().join("garage.toml");
        std::fs::write(&path, config).unwrap();
        // Garage refuses a config holding the RPC secret that others may read.
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).unwrap();
        let mut garage = PrivateGarage {
            dir,
            child: None,
            s3_port,
            admin_port,
            access_key: format!("GK{}", Self::hex(12)),
            secret_key: Self::hex(32),
        };
        garage.resume().await;
        garage
    }

    /// Starts the server on its data (again) and waits until it answers healthy.
    pub async fn resume(&mut self) {
        assert!(self.child.is_none(), "already running");
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.dir.path().join("garage.log"))
            .unwrap();
        let child = Command::new(Self::bin())
            .arg("-c")
            .arg(self.dir.path().join("garage.toml"))
            .args(["server", "--single-node", "--default-bucket"])
            .env("GARAGE_DEFAULT_ACCESS_KEY", &self.access_key)
            .env("GARAGE_DEFAULT_SECRET_KEY", &self.secret_key)
            .env("GARAGE_DEFAULT_BUCKET", GARAGE_BUCKET)
            .env("RUST_LOG", "warn")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(log)
            .kill_on_drop(true)
            .spawn()
            .unwrap_or_else(|e| {
                panic!("{} runs (scripts/garage.sh installs it): {e}", Self::bin())
            });
        self.child = Some(child);
        let health = format!("http://127.0.0.1:{}/health", self.admin_port);
        let http = reqwest::Client::new();
        eventually(WAIT, "private Garage healthy", || async {
            let response = http.get(&health).send().await.ok()?;
            (response.status() == 200).then_some(())
        })
        .await;
    }

    /// Kills the server (as a crash would) and waits until it is gone; its data stays.
    pub async fn stop(&mut self) {
        let mut child = self.child.take().expect("running");
        child.kill().await.unwrap();
    }

    pub fn settings(&self) -> custodian_platform::blob::S3Settings {
        custodian_platform::blob::S3Settings {
            endpoint: Some(format!("http://127.0.0.1:{}", self.s3_port)),
            bucket: GARAGE_BUCKET.into(),
            region: "us-east-1".into(),
            access_key_id: self.access_key.clone(),
            secret_access_key: self.secret_key.clone().into(),
            path_style: true,
            part_size: 5 << 20,
            parts_in_flight: 2,
        }
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("garage.log")).unwrap_or_default()
    }
}
