//! Media jobs in their sandbox (issue #26), in the standalone server: a decoder that crashes,
//! one that allocates past the memory limit and one that spins past the CPU limit each fail
//! their own clip with the reason, once, without a retry, while the server keeps answering
//! and other clips keep flowing; and a job cannot open a network socket or a file outside its
//! work directory. The misbehaving jobs are the child's test hook (debug builds only): an
//! original that starts with `CUSTODIAN-SANDBOX-TEST` followed by what to do.

mod common;

use std::time::Duration;

use common::video::test_clip;
use common::{spawn_standalone_with_media_limits, TestApp};
use custodian_core::Sha256Digest;
use custodian_media::sandbox::child::TEST_HOOK_MARKER;
use custodian_platform::config::MediaJobArgs;
use serde_json::Value;

const MEDIA_WAIT: Duration = Duration::from_secs(120);

async fn upload(app: &TestApp, body: Vec<u8>) -> String {
    let digest = Sha256Digest::of(&body);
    let response = app
        .http
        .put(format!("{}/v1/uploads", app.base))
        .bearer_auth(&app.token)
        .header("Content-Digest", digest.to_content_digest())
        .query(&[
            ("device", "DSJ-0001"),
            ("officer", "031234"),
            ("recorded_at", "2026-02-14T09:30:00+08:00"),
            ("file_name", "DSJ-0001_031234_20260214_093000.mp4"),
        ])
        .body(body)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 201, "{:?}", response.text().await);
    let receipt: Value = response.json().await.unwrap();
    receipt["clip_id"].as_str().unwrap().to_owned()
}

/// An original that makes the child do `command` (see `TEST_HOOK_MARKER`).
fn hostile(command: &str) -> Vec<u8> {
    let mut body = format!("{TEST_HOOK_MARKER}{command}\n").into_bytes();
    // Unlike any other upload, so that no two hostile clips share a digest.
    body.extend_from_slice(uuid::Uuid::new_v4().to_string().as_bytes());
    body
}

async fn wait_for(app: &TestApp, clip_id: &str, state: &str) -> Value {
    custodian_platform::testing::eventually(
        MEDIA_WAIT,
        &format!("clip {clip_id} {state}"),
        || async {
            let record: Value = app
                .get(&app.token, &format!("/v1/clips/{clip_id}"))
                .await
                .json()
                .await
                .ok()?;
            (record["state"] == state).then_some(record)
        },
    )
    .await
}

fn original_of(app: &TestApp, clip_id: &str) -> Vec<u8> {
    let stored = app
        .stored_files()
        .into_iter()
        .find(|p| {
            let p = p.to_string_lossy();
            p.contains(clip_id) && p.contains("originals/")
        })
        .unwrap_or_else(|| panic!("the original of {clip_id} is gone"));
    std::fs::read(stored).unwrap()
}

/// The sum of a counter's series whose labels include `label`.
fn counted(metrics: &str, name: &str, label: &str) -> u64 {
    metrics
        .lines()
        .filter(|l| l.starts_with(&format!("{name}{{")) && l.contains(label))
        .filter_map(|l| l.rsplit(' ').next()?.parse::<u64>().ok())
        .sum()
}

#[tokio::test]
async fn a_crash_or_a_limit_fails_only_its_own_clip_once_with_the_reason() {
    let app = spawn_standalone_with_media_limits(MediaJobArgs {
        // Low enough for the hooks to reach soon, high enough for a real small clip.
        memory_limit: 2 << 30,
        cpu_limit: Some(Duration::from_secs(5)),
        ..Default::default()
    })
    .await;
    let work = tempfile::tempdir().unwrap();
    let light = work.path().join("light.mp4");
    test_clip(&light, "160x120", 10, 1, &[]);

    let cases = [
        ("segv", "the decoder crashed (SIGSEGV)", "crashed"),
        ("allocate", "over the memory limit", "memory"),
        ("spin", "over the CPU time limit", "cpu"),
    ];
    let mut hostile_clips = Vec::new();
    for (command, reason, label) in cases {
        let body = hostile(command);
        hostile_clips.push((upload(&app, body.clone()).await, body, reason, label));
    }
    let light_id = upload(&app, std::fs::read(&light).unwrap()).await;

    // Other clips keep flowing, and the server keeps answering, whatever the children do.
    wait_for(&app, &light_id, "catalogued").await;
    assert_eq!(app.get(&app.token, "/healthz").await.status(), 200);
    for (id, body, reason, _) in &hostile_clips {
        let record = wait_for(&app, id, "failed").await;
        assert_eq!(record["failure_reason"], *reason, "{record}");
        assert_eq!(
            &original_of(&app, id),
            body,
            "the original is kept as received"
        );
    }
    let metrics = app.get(&app.token, "/metrics").await.text().await.unwrap();
    for (_, _, _, label) in &hostile_clips {
        assert!(
            counted(
                &metrics,
                "custodian_media_failures_total",
                &format!("reason=\"{label}\"")
            ) >= 1,
            "{label} counted: {metrics}"
        );
    }
    // Permanent at once: to the dead-letter subject on the first delivery, never retried.
    for consumer in ["transcoder", "fingerprinter"] {
        let series = format!("consumer=\"{consumer}\",outcome=\"retry\"");
        assert_eq!(
            counted(&metrics, "custodian_jobs_total", &series),
            0,
            "{metrics}"
        );
    }
    assert!(
        counted(&metrics, "custodian_jobs_total", "outcome=\"dead_letter\"")
            >= hostile_clips.len() as u64,
        "{metrics}"
    );
    app.app.stop().await;
}

#[tokio::test]
async fn a_job_cannot_open_a_socket_or_a_file_outside_its_work_directory() {
    let app = spawn_standalone_with_media_limits(MediaJobArgs::default()).await;
    // A listener the job is told to reach; it must never see a connection.
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    listener.set_nonblocking(true).unwrap();
    let port = listener.local_addr().unwrap().port();
    // The catalogue beside every bureau's footage: what a hostile file would want.
    let secret = app.data.path().join("catalogue.db");
    assert!(secret.is_file());
    let outside = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(outside.path(), "the signing key").unwrap();

    let cases = [
        (
            format!("connect 127.0.0.1:{port}"),
            "test hook: connect refused",
        ),
        (
            format!("read {}", secret.display()),
            "test hook: read refused",
        ),
        (
            format!("read {}", outside.path().display()),
            "test hook: read refused",
        ),
    ];
    for (command, expected) in &cases {
        let id = upload(&app, hostile(command)).await;
        let record = wait_for(&app, &id, "failed").await;
        let reason = record["failure_reason"].as_str().unwrap_or_default();
        assert!(reason.starts_with(expected), "{command}: {reason}");
        assert!(!reason.contains("signing key"), "{command}: {reason}");
    }
    match listener.accept() {
        Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {}
        other => panic!("the job reached the network: {other:?}"),
    }
    // The hook itself works: a file inside the work directory can be read.
    let id = upload(&app, hostile("read original")).await;
    let record = wait_for(&app, &id, "failed").await;
    let reason = record["failure_reason"].as_str().unwrap_or_default();
    assert!(reason.starts_with("test hook: read allowed"), "{reason}");
    app.app.stop().await;
}
