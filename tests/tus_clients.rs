//! Resumable uploads from tus clients other projects wrote: tuspy (Python) and tus-js-client
//! (Node), installed by scripts/tus-clients.sh. Each upload is interrupted part way by one
//! client process and resumed by another from the client's own saved state; the clip must then
//! hold exactly the file's SHA-256. A missing client fails the test: it never skips.

mod common;

use std::path::{Path, PathBuf};

use common::*;
use custodian_core::Sha256Digest;
use serde_json::{json, Value};

fn cache() -> PathBuf {
    std::env::var_os("CUSTODIAN_CACHE")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("/var/cache/custodian"))
}

fn require(path: &Path) {
    assert!(
        path.exists(),
        "{} is missing: run scripts/tus-clients.sh (scripts/test.sh does)",
        path.display()
    );
}

const NAME: &str = "DSJ-0001_031234_20260214_093000.mp4";
const SIZE: usize = 3_500_000;

struct Client {
    program: PathBuf,
    script: PathBuf,
    env: Vec<(&'static str, PathBuf)>,
}

impl Client {
    /// Runs one client process; answers the words it printed.
    async fn run(
        &self,
        app: &TestApp,
        file: &Path,
        state: &Path,
        stop_at: usize,
        meta: &Value,
    ) -> Vec<String> {
        let output = tokio::process::Command::new(&self.program)
            .arg(&self.script)
            .arg(format!("{}/v1/tus", app.base))
            .arg(&app.token)
            .arg(file)
            .arg(state)
            .arg(stop_at.to_string())
            .arg(meta.to_string())
            .envs(self.env.iter().map(|(k, v)| (k, v)))
            .kill_on_drop(true)
            .output()
            .await
            .expect("client runs");
        let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
        assert!(
            output.status.success(),
            "client failed: {stdout}\n{}",
            String::from_utf8_lossy(&output.stderr)
        );
        stdout.split_whitespace().map(str::to_owned).collect()
    }
}

async fn interrupted_then_resumed(client: Client) {
    let app = spawn_standalone().await;
    let work = tempfile::tempdir().unwrap();
    let file = work.path().join(NAME);
    let body = sample(SIZE);
    std::fs::write(&file, &body).unwrap();
    let digest = Sha256Digest::of(&body);
    let state = work.path().join("state.json");
    let meta = json!({
        "device": "DSJ-0001",
        "officer": "031234",
        "recorded_at": "2026-02-14T09:30:00+08:00",
        "filename": NAME,
        "sha256": digest.to_hex(),
    });

    let first = client.run(&app, &file, &state, 1_500_000, &meta).await;
    let reached: usize = first[1].parse().unwrap();
    assert!(reached > 0 && reached < SIZE, "interrupted at {reached}");
    assert!(
        app.clip_ids().await.is_empty(),
        "a clip before the upload finished"
    );
    assert_eq!(app.pending_uploads().await, 1);

    let second = client.run(&app, &file, &state, 0, &meta).await;
    assert_eq!(second[0], first[0], "the second run started a new upload");
    let ids = app.clip_ids().await;
    assert_eq!(ids.len(), 1);
    let record = app.wait_for_state(&ids[0], "catalogued").await;
    assert_eq!(record["sha256"], digest.to_hex());
    assert_eq!(record["size_bytes"], SIZE);
    assert_eq!(record["original_name"], NAME);
    assert_eq!(app.pending_uploads().await, 0);
    app.app.stop().await;
}

#[tokio::test]
async fn tuspy_resumes_an_interrupted_upload() {
    let python = cache().join("tus-venv/bin/python");
    require(&python);
    interrupted_then_resumed(Client {
        program: python,
        script: Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/clients/tuspy_upload.py"),
        env: Vec::new(),
    })
    .await;
}

#[tokio::test]
async fn tus_js_client_resumes_an_interrupted_upload() {
    let modules = cache().join("tus-js/node_modules");
    require(&modules.join("tus-js-client/package.json"));
    interrupted_then_resumed(Client {
        program: PathBuf::from("node"),
        script: Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/clients/tus_js_upload.js"),
        env: vec![("NODE_PATH", modules)],
    })
    .await;
}
