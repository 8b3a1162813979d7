//! Helpers shared by the end-to-end tests: a standalone instance per test on a port of its
//! own, and uploads as a collection station would send them.
#![allow(dead_code)]

pub mod distributed;
pub mod postgres;
pub mod video;

use std::time::Duration;

use custodian::app::RunningApp;
use custodian::cli::{ServerArgs, StandaloneArgs};
use custodian_catalog::CatalogConfig;
use custodian_core::roles::Role;
use custodian_core::{BureauId, Sha256Digest};
use custodian_ingest::IngestConfig;
use reqwest::{RequestBuilder, Response};
use serde_json::Value;

pub const WAIT: Duration = Duration::from_secs(20);

/// An hour of a day in China Standard Time.
pub fn cst(y: i32, m: u32, d: u32, h: u32) -> chrono::DateTime<chrono::Utc> {
    use chrono::TimeZone;
    custodian_core::deadlines::china_time()
        .with_ymd_and_hms(y, m, d, h, 0, 0)
        .unwrap()
        .with_timezone(&chrono::Utc)
}

pub struct TestApp {
    pub app: RunningApp,
    pub base: String,
    pub token: String,
    pub http: reqwest::Client,
    pub data: tempfile::TempDir,
}

pub async fn spawn_standalone_with(ingest: IngestConfig, catalog: CatalogConfig) -> TestApp {
    spawn_standalone_at(
        ingest,
        catalog,
        std::sync::Arc::new(custodian_platform::clock::SystemClock),
    )
    .await
}

pub async fn spawn_standalone_at(
    ingest: IngestConfig,
    catalog: CatalogConfig,
    clock: std::sync::Arc<dyn custodian_platform::clock::Clock>,
) -> TestApp {
    spawn_standalone_full(ingest, catalog, Default::default(), clock).await
}

/// A standalone instance without media workers: clips are catalogued once stored, so tests
/// of other roles can upload bytes that are not video.
pub async fn spawn_standalone_full(
    ingest: IngestConfig,
    catalog: CatalogConfig,
    retention: custodian_retention::RetentionConfig,
    clock: std::sync::Arc<dyn custodian_platform::clock::Clock>,
) -> TestApp {
    let catalog = CatalogConfig {
        media_steps: vec![None],
        ..catalog
    };
    spawn_standalone_as_configured(ingest, catalog, retention, clock, Default::default()).await
}

/// A standalone instance with the transcoder and fingerprinter, as deployed.
pub async fn spawn_standalone_with_media() -> TestApp {
    spawn_standalone_with_media_limits(Default::default()).await
}

/// A standalone instance with the media workers, on a given clock (the reconciler quiet).
pub async fn spawn_standalone_with_media_at(
    clock: std::sync::Arc<dyn custodian_platform::clock::Clock>,
) -> TestApp {
    spawn_standalone_as_configured(
        IngestConfig::default(),
        CatalogConfig {
            reconcile_every: Duration::from_secs(3600),
            ..Default::default()
        },
        Default::default(),
        clock,
        Default::default(),
    )
    .await
}

pub async fn spawn_standalone_with_media_limits(
    media: custodian_platform::config::MediaJobArgs,
) -> TestApp {
    spawn_standalone_as_configured(
        IngestConfig::default(),
        CatalogConfig::default(),
        Default::default(),
        std::sync::Arc::new(custodian_platform::clock::SystemClock),
        media,
    )
    .await
}

pub async fn spawn_standalone_as_configured(
    ingest: IngestConfig,
    catalog: CatalogConfig,
    retention: custodian_retention::RetentionConfig,
    clock: std::sync::Arc<dyn custodian_platform::clock::Clock>,
    media: custodian_platform::config::MediaJobArgs,
) -> TestApp {
    spawn_standalone_with_access(ingest, catalog, retention, clock, media, Default::default()).await
}

/// A standalone instance as configured, down to who may see what.
pub async fn spawn_standalone_with_access(
    ingest: IngestConfig,
    catalog: CatalogConfig,
    retention: custodian_retention::RetentionConfig,
    clock: std::sync::Arc<dyn custodian_platform::clock::Clock>,
    media: custodian_platform::config::MediaJobArgs,
    access: custodian_platform::config::AccessArgs,
) -> TestApp {
    spawn_standalone_adjusted(clock, |args| {
        args.ingest = ingest;
        args.catalog = catalog;
        args.retention = retention;
        args.media = media;
        args.access = access;
    })
    .await
}

/// A standalone instance on `clock`, listening on a port of its own with its data in a
/// temporary directory, whose other arguments (all defaults) `adjust` changes first.
pub async fn spawn_standalone_adjusted(
    clock: std::sync::Arc<dyn custodian_platform::clock::Clock>,
    adjust: impl FnOnce(&mut StandaloneArgs),
) -> TestApp {
    let data = tempfile::tempdir().unwrap();
    let mut args = StandaloneArgs {
        data: data.path().to_path_buf(),
        server: ServerArgs {
            listen: "127.0.0.1:0".parse().unwrap(),
            shutdown_grace: Duration::from_secs(5),
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
    adjust(&mut args);
    let app = custodian::app::start_standalone_with_clock(&args, clock)
        .await
        .expect("standalone starts");
    let token = token_for(&app, "b1").await;
    TestApp {
        base: format!("http://{}", app.addr),
        app,
        token,
        http: reqwest::Client::new(),
        data,
    }
}

pub async fn spawn_standalone() -> TestApp {
    spawn_standalone_with(IngestConfig::default(), CatalogConfig::default()).await
}

pub async fn token_for(app: &RunningApp, bureau: &str) -> String {
    token_with_role(app, bureau, Role::Officer).await
}

pub async fn token_with_role(app: &RunningApp, bureau: &str, role: Role) -> String {
    catalogue_token(&*app.ports.catalogue, bureau, role).await
}

/// A token of `bureau` with `role`, made straight in a catalogue (for roles served without a
/// whole app).
pub async fn catalogue_token(
    catalogue: &dyn custodian_platform::catalogue::Catalogue,
    bureau: &str,
    role: Role,
) -> String {
    let bureau = BureauId::parse(bureau).unwrap();
    custodian::admin::create_token(
        catalogue,
        &bureau,
        "测试大队",
        &format!("test {role}"),
        role,
    )
    .await
    .unwrap()
}

pub fn sample(len: usize) -> Vec<u8> {
    (0..len).map(|i| (i * 7 + i / 251) as u8).collect()
}

pub fn upload_query() -> Vec<(&'static str, &'static str)> {
    vec![
        ("device", "DSJ-0001"),
        ("officer", "031234"),
        ("recorded_at", "2026-02-14T09:30:00+08:00"),
        ("file_name", "DSJ-0001_031234_20260214_093000.mp4"),
    ]
}

impl TestApp {
    pub fn put_upload(&self, token: &str, body: Vec<u8>) -> RequestBuilder {
        self.http
            .put(format!("{}/v1/uploads", self.base))
            .bearer_auth(token)
            .query(&upload_query())
            .body(body)
    }

    pub async fn upload(&self, body: Vec<u8>) -> Value {
        let digest = Sha256Digest::of(&body);
        let response = self
            .put_upload(&self.token, body)
            .header("Content-Digest", digest.to_content_digest())
            .send()
            .await
            .unwrap();
        assert_eq!(
            response.status(),
            201,
            "upload refused: {:?}",
            response.text().await
        );
        response.json().await.unwrap()
    }

    /// Sends `body` as JSON; answers the status and the JSON body (null if none).
    pub async fn send(&self, method: &str, token: &str, path: &str, body: Value) -> (u16, Value) {
        let response = self
            .http
            .request(method.parse().unwrap(), format!("{}{path}", self.base))
            .bearer_auth(token)
            .json(&body)
            .send()
            .await
            .unwrap();
        let status = response.status().as_u16();
        (status, response.json().await.unwrap_or(Value::Null))
    }

    /// Uploads a clip recorded at `recorded_at` (plus `extra` query fields) as an officer,
    /// waits until it is catalogued, and moves `clock` on a second so that clip ids, which
    /// order by their millisecond, keep the upload order.
    pub async fn upload_recorded(
        &self,
        recorded_at: &str,
        extra: &[(&str, &str)],
        clock: &custodian_platform::clock::ManualClock,
    ) -> String {
        let response = self
            .http
            .put(format!("{}/v1/uploads", self.base))
            .bearer_auth(&self.token)
            .query(&[
                ("device", "DSJ-0001"),
                ("officer", "031234"),
                ("recorded_at", recorded_at),
                ("file_name", "a.mp4"),
            ])
            .query(extra)
            .body(sample(4000))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 201);
        let receipt: Value = response.json().await.unwrap();
        let id = receipt["clip_id"].as_str().unwrap().to_owned();
        self.wait_for_state(&id, "catalogued").await;
        clock.advance(chrono::Duration::seconds(1));
        id
    }

    /// GETs `path` and reads the JSON answer.
    pub async fn get_json(&self, token: &str, path: &str) -> Value {
        self.get(token, path).await.json().await.unwrap()
    }

    pub async fn get(&self, token: &str, path: &str) -> Response {
        self.http
            .get(format!("{}{path}", self.base))
            .bearer_auth(token)
            .send()
            .await
            .unwrap()
    }

    pub async fn clip_ids(&self) -> Vec<String> {
        let page: Value = self
            .get(&self.token, "/v1/clips?limit=500")
            .await
            .json()
            .await
            .unwrap();
        page["items"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| c["id"].as_str().unwrap().to_owned())
            .collect()
    }

    /// The stored original of clip `id`, where the local blob store keeps it.
    pub fn original_file(&self, id: &str) -> std::path::PathBuf {
        self.stored_files()
            .into_iter()
            .find(|p| {
                let p = p.to_string_lossy();
                p.contains(id) && p.contains("originals/")
            })
            .unwrap_or_else(|| panic!("no stored original of {id}"))
    }

    /// Files under the blob store (staging and audit anchors excluded).
    pub fn stored_files(&self) -> Vec<std::path::PathBuf> {
        fn walk(dir: &std::path::Path, out: &mut Vec<std::path::PathBuf>) {
            for entry in std::fs::read_dir(dir).into_iter().flatten().flatten() {
                let path = entry.path();
                // Staging files, and what custody keeps in the store beside the footage (the
                // audit anchors, each original's record), are not footage.
                if path
                    .file_name()
                    .is_some_and(|n| n == ".staging" || n == "audit-anchors" || n == "records")
                {
                    continue;
                }
                if path.is_dir() {
                    walk(&path, out)
                } else {
                    out.push(path)
                }
            }
        }
        let mut out = Vec::new();
        walk(&self.data.path().join("blobs"), &mut out);
        out
    }

    pub async fn pending_uploads(&self) -> usize {
        let far_future = chrono::Utc::now() + chrono::Duration::days(3650);
        self.app
            .ports
            .catalogue
            .stale_uploads(far_future, 1000)
            .await
            .unwrap()
            .len()
    }

    pub async fn wait_for_state(&self, clip_id: &str, state: &str) -> Value {
        custodian_platform::testing::eventually(
            WAIT,
            &format!("clip {clip_id} {state}"),
            || async {
                let record: Value = self
                    .get(&self.token, &format!("/v1/clips/{clip_id}"))
                    .await
                    .json()
                    .await
                    .ok()?;
                (record["state"] == state).then_some(record)
            },
        )
        .await
    }
}

/// The object's bytes as the store holds them.
pub async fn stored_bytes(store: &dyn custodian_platform::blob::BlobStore, key: &str) -> Vec<u8> {
    let mut stored = Vec::new();
    tokio::io::AsyncReadExt::read_to_end(&mut store.open(key).await.unwrap(), &mut stored)
        .await
        .unwrap();
    stored
}

/// How many times a clip's record says it was catalogued (its history's transitions).
pub fn times_catalogued(record: &Value) -> usize {
    record["history"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|t| t["to"] == "catalogued")
        .count()
}

/// The Prometheus text a process at `base` serves.
pub async fn metrics_text(http: &reqwest::Client, base: &str) -> String {
    http.get(format!("{base}/metrics"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap()
}

/// Runs `custodian export verify` on `package` with the bureau's public `key`: whether it
/// passed, and what it said.
pub async fn export_verify(package: &std::path::Path, key: &str) -> (bool, String) {
    let output = tokio::process::Command::new(env!("CARGO_BIN_EXE_custodian"))
        .args(["export", "verify", "--public-key", key])
        .arg(package)
        .output()
        .await
        .unwrap();
    (
        output.status.success(),
        format!(
            "{}{}",
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        ),
    )
}

/// The stored original of clip `id` in a data directory.
pub fn server_original(data: &std::path::Path, id: &str) -> std::path::PathBuf {
    fn find(dir: &std::path::Path, id: &str) -> Option<std::path::PathBuf> {
        for entry in std::fs::read_dir(dir).ok()?.flatten() {
            let path = entry.path();
            if path.is_dir() {
                if let Some(found) = find(&path, id) {
                    return Some(found);
                }
            } else if path.to_string_lossy().contains("originals/")
                && path.to_string_lossy().contains(id)
            {
                return Some(path);
            }
        }
        None
    }
    find(&data.join("blobs"), id).unwrap_or_else(|| panic!("no original of {id}"))
}
