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

pub async fn create_token_with_role(env: &[(String, String)], bureau: &str, role: &str) -> String {
    let output = Command::new(BIN)
        .args([
            "admin", "token", "create", "--bureau", bureau, "--role", role,
        ])
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
