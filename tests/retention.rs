//! Retention on the standalone server over two years of a moving clock: long-term clips
//! archived and read back, ordinary clips expiring through the recycle bin, holds and open
//! cases keeping clips, tombstones, and the scrub finding originals that changed or vanished.
//! The schedule's passes are driven one at a time, so every step is deterministic.

mod common;

use std::sync::Arc;
use std::time::Duration;

use common::*;
use custodian_core::roles::Role;
use custodian_platform::blob::{BlobStore, LocalBlobStore};
use custodian_platform::clock::ManualClock;
use custodian_retention::{PassReport, Retention, RetentionConfig};
use serde_json::{json, Value};

struct World {
    app: TestApp,
    clock: Arc<ManualClock>,
    retention: Arc<Retention>,
    registry: prometheus::Registry,
    archivist: String,
}

async fn world() -> World {
    let clock = Arc::new(ManualClock::new(cst(2026, 3, 2, 9)));
    let config = RetentionConfig {
        every: Duration::from_secs(3600),
        scrub_period: Duration::from_secs(3600),
        ..Default::default()
    };
    let app = spawn_standalone_full(
        Default::default(),
        Default::default(),
        config.clone(),
        clock.clone(),
    )
    .await;
    // A schedule of our own on the same catalogue and stores, driven pass by pass; the app's
    // own runs once at start (with nothing to do) and then not for an hour.
    let registry = prometheus::Registry::new();
    let ports = custodian_platform::Ports {
        registry: registry.clone(),
        ..app.app.ports.clone()
    };
    let archive: Arc<dyn BlobStore> = Arc::new(
        LocalBlobStore::open_with_manifest(app.data.path().join("archive"))
            .await
            .unwrap(),
    );
    let retention = Retention::new(ports, archive, config).unwrap();
    let archivist = token_with_role(&app.app, "b1", Role::Archivist).await;
    World {
        app,
        clock,
        retention,
        registry,
        archivist,
    }
}

impl World {
    async fn upload(&self, recorded_at: &str) -> String {
        self.app
            .upload_recorded(recorded_at, &[], &self.clock)
            .await
    }

    async fn state(&self, id: &str) -> String {
        let clip: Value = self
            .app
            .get_json(&self.archivist, &format!("/v1/clips/{id}"))
            .await;
        clip["state"].as_str().unwrap().to_owned()
    }

    async fn retention_of(&self, id: &str) -> Value {
        self.app
            .get_json(&self.archivist, &format!("/v1/clips/{id}/retention"))
            .await
    }

    async fn pass(&self) -> PassReport {
        self.retention.pass().await.expect("retention pass")
    }

    fn metric(&self, name: &str) -> String {
        let mut out = Vec::new();
        prometheus::Encoder::encode(
            &prometheus::TextEncoder::new(),
            &self.registry.gather(),
            &mut out,
        )
        .unwrap();
        String::from_utf8(out)
            .unwrap()
            .lines()
            .filter(|l| l.starts_with(name))
            .collect::<Vec<_>>()
            .join("\n")
    }

    fn original_path(&self, id: &str) -> std::path::PathBuf {
        self.app
            .stored_files()
            .into_iter()
            .find(|p| p.to_string_lossy().contains(id))
            .unwrap_or_else(|| panic!("no file for {id}"))
    }
}

#[tokio::test]
async fn two_years_of_retention() {
    let w = world().await;
    let ordinary = w.upload("2026-03-01T10:00:00+08:00").await;
    let held = w.upload("2026-03-01T11:00:00+08:00").await;
    let long_term = w.upload("2026-03-01T12:00:00+08:00").await;
    let in_case = w.upload("2026-03-01T13:00:00+08:00").await;

    // Who may change retention, and what they may say.
    let (status, _) = w
        .app
        .send(
            "PUT",
            &w.app.token,
            &format!("/v1/clips/{held}/retention"),
            json!({"legal_hold": true}),
        )
        .await;
    assert_eq!(status, 403, "an officer set a hold");
    let other = token_with_role(&w.app.app, "b2", Role::Leader).await;
    assert_eq!(
        w.app
            .send(
                "PUT",
                &other,
                &format!("/v1/clips/{held}/retention"),
                json!({"legal_hold": true})
            )
            .await
            .0,
        404
    );
    let (status, error) = w
        .app
        .send(
            "PUT",
            &w.archivist,
            &format!("/v1/clips/{long_term}/retention"),
            json!({"long_term_reason": "forever"}),
        )
        .await;
    assert_eq!(status, 422);
    assert!(
        error["error"]["message"]
            .as_str()
            .unwrap()
            .contains("coercive_measure"),
        "{error}"
    );
    assert_eq!(
        w.app
            .send(
                "PUT",
                &w.archivist,
                &format!("/v1/clips/{long_term}/retention"),
                json!({"long_term_reason": "other:"})
            )
            .await
            .0,
        422
    );

    assert_eq!(
        w.app
            .send(
                "PUT",
                &w.archivist,
                &format!("/v1/clips/{held}/retention"),
                json!({"legal_hold": true})
            )
            .await
            .0,
        200
    );
    let (status, view) = w
        .app
        .send(
            "PUT",
            &w.archivist,
            &format!("/v1/clips/{long_term}/retention"),
            json!({"long_term_reason": "dispute_or_complaint"}),
        )
        .await;
    assert_eq!(status, 200);
    assert_eq!(view["decision"]["decision"], "keep");
    assert_eq!(view["decision"]["until"], Value::Null);
    let (_, case) = w
        .app
        .send(
            "POST",
            &w.archivist,
            "/v1/cases",
            json!({"reference": "应急罚〔2026〕3号", "title": "t"}),
        )
        .await;
    let case_id = case["id"].as_str().unwrap().to_owned();
    w.app
        .send(
            "POST",
            &w.archivist,
            &format!("/v1/cases/{case_id}/clips"),
            json!({"clip_ids": [in_case]}),
        )
        .await;

    // The long-term clip goes to the archive tier: a read-only copy, listed in the manifest.
    let report = w.pass().await;
    assert_eq!(report.archived, 1, "{report:?}");
    assert_eq!(w.state(&long_term).await, "archived");
    let archive = w.app.data.path().join("archive");
    let manifest = std::fs::read_to_string(archive.join("MANIFEST.sha256")).unwrap();
    let sha = w.retention_of(&long_term).await;
    assert!(sha["archived_at"].is_string());
    assert_eq!(
        sha["archive_locked_until"],
        Value::Null,
        "a local directory cannot lock"
    );
    let clip: Value = w
        .app
        .get_json(&w.archivist, &format!("/v1/clips/{long_term}"))
        .await;
    let line = format!(
        "{}  archive/originals/b1/2026/03/01/{long_term}.mp4",
        clip["sha256"].as_str().unwrap()
    );
    assert!(manifest.lines().any(|l| l == line), "{manifest}");
    let copy = archive.join(format!("archive/originals/b1/2026/03/01/{long_term}.mp4"));
    assert!(std::fs::metadata(&copy).unwrap().permissions().readonly());
    assert_eq!(
        std::fs::read(&copy).unwrap(),
        std::fs::read(w.original_path(&long_term)).unwrap()
    );
    assert!(w
        .metric("custodian_archive_object_lock_supported")
        .ends_with(" 0"));

    // A day short of two years after recording, nothing expires; the plan shows what will.
    w.clock
        .advance(chrono::Duration::days(729) - chrono::Duration::hours(1));
    assert_eq!(w.pass().await.recycled, 0);
    let plan: Value = w
        .app
        .get_json(&w.archivist, "/v1/retention/plan?days=30")
        .await;
    let planned: Vec<(&str, &str)> = plan
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            (
                e["clip_id"].as_str().unwrap(),
                e["action"].as_str().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        planned,
        vec![(ordinary.as_str(), "recycle"), (ordinary.as_str(), "purge")]
    );
    assert_eq!(
        w.app
            .get(&w.archivist, "/v1/retention/plan?days=0")
            .await
            .status(),
        400
    );

    // Two years on: only the ordinary clip, with no hold, no long-term class and no open case,
    // goes to the recycle bin.
    w.clock.advance(chrono::Duration::days(2));
    let report = w.pass().await;
    assert_eq!(report.recycled, 1, "{report:?}");
    assert_eq!(w.state(&ordinary).await, "recycled");
    for kept in [&held, &in_case] {
        assert_eq!(w.state(kept).await, "catalogued");
    }
    assert_eq!(w.state(&long_term).await, "archived");
    let view = w.retention_of(&ordinary).await;
    assert_eq!(view["decision"]["decision"], "expired");
    assert!(view["recycle_until"].is_string());

    // Restorable from the bin; a hold placed while it is there brings it back at purge time.
    let (status, _) = w
        .app
        .send(
            "POST",
            &w.archivist,
            &format!("/v1/clips/{ordinary}/restore"),
            json!({}),
        )
        .await;
    assert_eq!(status, 200);
    assert_eq!(w.state(&ordinary).await, "catalogued");
    assert_eq!(
        w.app
            .send(
                "POST",
                &w.archivist,
                &format!("/v1/clips/{ordinary}/restore"),
                json!({})
            )
            .await
            .0,
        409
    );
    assert_eq!(w.pass().await.recycled, 1);
    w.app
        .send(
            "PUT",
            &w.archivist,
            &format!("/v1/clips/{ordinary}/retention"),
            json!({"legal_hold": true}),
        )
        .await;
    w.clock.advance(chrono::Duration::days(8));
    let report = w.pass().await;
    assert_eq!((report.purged, report.restored), (0, 1), "{report:?}");
    assert_eq!(w.state(&ordinary).await, "catalogued");

    // Released (by a leader: an archivist may not lift a hold), recycled, and after its week
    // in the bin purged: the file goes, the record stays.
    let (status, refused) = w
        .app
        .send(
            "PUT",
            &w.archivist,
            &format!("/v1/clips/{ordinary}/retention"),
            json!({"legal_hold": false}),
        )
        .await;
    assert_eq!(
        (status, refused["error"]["code"].as_str()),
        (403, Some("leader-required")),
        "{refused}"
    );
    let leader = token_with_role(&w.app.app, "b1", Role::Leader).await;
    let (status, released) = w
        .app
        .send(
            "PUT",
            &leader,
            &format!("/v1/clips/{ordinary}/retention"),
            json!({"legal_hold": false}),
        )
        .await;
    assert_eq!(status, 200, "{released}");
    let file = w.original_path(&ordinary);
    // What the media workers would have made of it goes with it; a kept clip's stays.
    let blob = w.app.app.ports.blob.clone();
    let derived_of = |id: &str| {
        custodian_core::keys::derived_keys(
            &custodian_core::BureauId::parse("b1").unwrap(),
            id.parse().unwrap(),
        )
    };
    // A party's watermarked copy of it too (art. 22: no copy outlives the original).
    let (status, request) = w
        .app
        .send(
            "POST",
            &w.app.token,
            "/v1/copy-requests",
            json!({"clip_id": ordinary, "party": "律师", "purpose": "诉讼"}),
        )
        .await;
    assert_eq!(status, 201, "{request}");
    let party_copy = custodian_core::keys::copy_key(
        &custodian_core::BureauId::parse("b1").unwrap(),
        ordinary.parse().unwrap(),
        request["id"].as_str().unwrap().parse().unwrap(),
        None,
    );
    for key in [
        derived_of(&ordinary).view,
        derived_of(&ordinary).poster,
        derived_of(&held).view,
        party_copy.clone(),
    ] {
        let mut writer = blob.create(&key).await.unwrap();
        writer
            .write(bytes::Bytes::from_static(b"copy"))
            .await
            .unwrap();
        writer.finish().await.unwrap();
    }
    assert_eq!(w.pass().await.recycled, 1);
    w.clock.advance(chrono::Duration::days(7));
    let report = w.pass().await;
    assert_eq!(report.purged, 1, "{report:?}");
    assert!(!file.exists(), "purged original still on disk");
    assert_eq!(
        blob.size_of(&derived_of(&ordinary).view).await.unwrap(),
        None,
        "viewing copy outlived its original"
    );
    assert_eq!(
        blob.size_of(&derived_of(&ordinary).poster).await.unwrap(),
        None
    );
    assert_eq!(
        blob.size_of(&party_copy).await.unwrap(),
        None,
        "a party's copy outlived its original"
    );
    assert_eq!(
        blob.size_of(&derived_of(&held).view).await.unwrap(),
        Some(4),
        "a kept clip's copy was purged"
    );
    let tombstone: Value = w
        .app
        .get_json(&w.archivist, &format!("/v1/clips/{ordinary}"))
        .await;
    assert_eq!(tombstone["state"], "expired");
    assert_eq!(tombstone["sha256"].as_str().unwrap().len(), 64);
    let states: Vec<&str> = tombstone["history"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["to"].as_str().unwrap())
        .collect();
    assert_eq!(
        states,
        [
            "stored",
            "catalogued",
            "recycled",
            "catalogued",
            "recycled",
            "catalogued",
            "recycled",
            "expired"
        ]
    );
    assert!(w.retention_of(&ordinary).await["purged_at"].is_string());
    // Nothing that must be kept was touched.
    for kept in [&held, &in_case, &long_term] {
        assert!(w.original_path(kept).exists());
    }
    assert!(w.metric("custodian_purged_total").ends_with(" 1"));
    assert!(w
        .metric("custodian_retention_clips{class=\"expired\"}")
        .ends_with(" 1"));
}

#[tokio::test]
async fn the_scrub_finds_changed_and_missing_originals_and_repairs_nothing() {
    let w = world().await;
    let intact = w.upload("2026-03-01T10:00:00+08:00").await;
    let changed = w.upload("2026-03-01T11:00:00+08:00").await;
    let vanished = w.upload("2026-03-01T12:00:00+08:00").await;

    let report = w.pass().await;
    assert_eq!(
        (report.verified, report.scrub_failures),
        (3, 0),
        "{report:?}"
    );

    // Someone flips a byte in one original and deletes another.
    let path = w.original_path(&changed);
    let mut bytes = std::fs::read(&path).unwrap();
    bytes[100] ^= 0xff;
    std::fs::remove_file(&path).unwrap();
    std::fs::write(&path, &bytes).unwrap();
    std::fs::remove_file(w.original_path(&vanished)).unwrap();

    w.clock.advance(chrono::Duration::hours(1));
    let report = w.pass().await;
    assert_eq!(
        (report.verified, report.scrub_failures),
        (1, 2),
        "{report:?}"
    );
    let findings = w.retention_of(&changed).await["findings"].clone();
    assert_eq!(findings[0]["kind"], "checksum-mismatch");
    assert_eq!(findings[0]["severity"], "critical");
    assert_eq!(
        w.retention_of(&vanished).await["findings"][0]["kind"],
        "missing"
    );
    assert!(w.retention_of(&intact).await["findings"]
        .as_array()
        .unwrap()
        .is_empty());
    // Archive staff find them by searching for critical findings.
    let page: Value = w
        .app
        .get_json(&w.archivist, "/v1/clips?finding=critical")
        .await;
    let mut found: Vec<&str> = page["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["id"].as_str().unwrap())
        .collect();
    found.sort();
    let mut expected = vec![changed.as_str(), vanished.as_str()];
    expected.sort();
    assert_eq!(found, expected);
    assert_eq!(
        w.app
            .get(&w.archivist, "/v1/clips?finding=bad")
            .await
            .status(),
        400
    );
    // The changed file is left as found.
    assert_eq!(std::fs::read(&path).unwrap(), bytes);
    let failures = w.metric("custodian_scrub_failures_total");
    assert!(
        failures.contains("kind=\"checksum-mismatch\"} 1")
            && failures.contains("kind=\"missing\"} 1"),
        "{failures}"
    );
}

#[tokio::test]
async fn an_ordinary_period_shorter_than_two_years_is_refused() {
    let config = RetentionConfig {
        ordinary_years: 1,
        ..Default::default()
    };
    let err = config.validate().unwrap_err();
    assert_eq!(err.setting, "ordinary-years");
    assert!(err.to_string().contains("2 years"), "{err}");
}

/// Records a clip as ingest would (original written, then the catalogue row) and catalogues it.
async fn record_original(
    ports: &custodian_platform::Ports,
    n: u8,
) -> (custodian_core::ClipId, String, Vec<u8>) {
    use custodian_platform::catalogue::{NewClip, PendingUpload};
    let bureau = custodian_core::BureauId::parse("b1").unwrap();
    let now = ports.clock.now();
    ports
        .catalogue
        .ensure_bureau(&bureau, "b1", now)
        .await
        .unwrap();
    let id =
        custodian_core::ClipId::from_parts(now.timestamp_millis() as u64 + u64::from(n), [n; 10]);
    let meta = custodian_core::upload::RawUploadMetadata {
        device: Some("DSJ-1".into()),
        officer: Some("1".into()),
        recorded_at: Some("2026-03-01T10:00:00+08:00".into()),
        file_name: Some("a.mp4".into()),
        ..Default::default()
    }
    .validate(&bureau, now)
    .unwrap();
    let key = custodian_core::keys::original_key(&bureau, meta.recorded_at, id, "a.mp4");
    let body = sample(6 << 20)
        .into_iter()
        .map(|b| b ^ n)
        .collect::<Vec<u8>>();
    ports
        .catalogue
        .begin_upload(&PendingUpload {
            clip: id,
            bureau: bureau.clone(),
            object_key: key.clone(),
            started_at: now,
        })
        .await
        .unwrap();
    let mut writer = ports.blob.create(&key).await.unwrap();
    writer
        .write(bytes::Bytes::from(body.clone()))
        .await
        .unwrap();
    let written = writer.finish().await.unwrap();
    let new = NewClip {
        id,
        meta,
        object_key: key.clone(),
        size_bytes: written.size,
        sha256: written.sha256,
        received_at: now,
        uploaded_by: "token test".into(),
    };
    ports.catalogue.record_clip(&new).await.unwrap();
    use custodian_core::ClipState;
    ports
        .catalogue
        .transition(id, ClipState::Stored, ClipState::Catalogued, now, None)
        .await
        .unwrap();
    let reason = custodian_core::retention::LongTermReason::CoerciveMeasure;
    assert!(ports
        .catalogue
        .set_retention(&bureau, id, Some(&reason), false, "test", now)
        .await
        .unwrap());
    (id, key, body)
}

#[tokio::test]
async fn archival_to_s3_reads_the_copy_back_and_catches_a_bad_copy() {
    use custodian_platform::testing::{fresh_postgres_url, fresh_s3_store};
    let (main, _) = fresh_s3_store().await;
    let (archive, _) = fresh_s3_store().await;
    let catalogue = custodian_platform::catalogue::connect(&fresh_postgres_url().await, 4)
        .await
        .unwrap();
    let registry = prometheus::Registry::new();
    let ports = custodian_platform::Ports {
        blob: Arc::new(main.clone()),
        bus: Arc::new(custodian_platform::bus::InProcessBus::new()),
        catalogue: catalogue.clone(),
        clock: Arc::new(ManualClock::new(cst(2026, 3, 2, 9))),
        registry: registry.clone(),
        secret_roles: Default::default(),
    };
    let (good, good_key, good_body) = record_original(&ports, 1).await;
    let (bad, bad_key, _) = record_original(&ports, 2).await;
    // A copy already at the second clip's archive key, but not of its original (a broken
    // earlier attempt, or tampering): archiving must notice instead of trusting it.
    let mut planted = archive.create(&format!("archive/{bad_key}")).await.unwrap();
    planted
        .write(bytes::Bytes::from_static(b"not the original"))
        .await
        .unwrap();
    planted.finish().await.unwrap();

    let retention = Retention::new(
        ports.clone(),
        Arc::new(archive.clone()),
        RetentionConfig::default(),
    )
    .unwrap();
    let report = retention.pass().await.unwrap();
    assert_eq!(report.archived, 1, "{report:?}");
    let bureau = custodian_core::BureauId::parse("b1").unwrap();
    let archived = catalogue.clip(&bureau, good).await.unwrap().unwrap();
    assert_eq!(archived.state, custodian_core::ClipState::Archived);
    assert_eq!(
        archived.archive_locked_until, None,
        "Garage cannot lock; nothing may claim it is locked"
    );
    let copy = stored_bytes(&archive, &format!("archive/{good_key}")).await;
    assert_eq!(copy, good_body);

    let refused = catalogue.clip(&bureau, bad).await.unwrap().unwrap();
    assert_eq!(refused.state, custodian_core::ClipState::Catalogued);
    let findings = catalogue.findings(bad).await.unwrap();
    assert_eq!(findings[0].kind, "archive-mismatch");
    let mut text = Vec::new();
    prometheus::Encoder::encode(
        &prometheus::TextEncoder::new(),
        &registry.gather(),
        &mut text,
    )
    .unwrap();
    let text = String::from_utf8(text).unwrap();
    assert!(
        text.contains("custodian_archive_object_lock_supported 0"),
        "{text}"
    );
    assert!(
        text.contains("custodian_archive_failures_total 1"),
        "{text}"
    );
}

#[tokio::test]
async fn the_plan_command_lists_what_will_go_and_nothing_that_stays() {
    let w = world().await;
    let ordinary = w.upload("2026-03-01T10:00:00+08:00").await;
    let held = w.upload("2026-03-01T11:00:00+08:00").await;
    w.app
        .send(
            "PUT",
            &w.archivist,
            &format!("/v1/clips/{held}/retention"),
            json!({"legal_hold": true}),
        )
        .await;
    // The command reads the real clock: 2 years from recording fall within the next 1200 days.
    let output = tokio::process::Command::new(env!("CARGO_BIN_EXE_custodian"))
        .args(["retention", "plan", "--days", "1200", "--data"])
        .arg(w.app.data.path())
        .output()
        .await
        .unwrap();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let entries: Vec<Value> = String::from_utf8(output.stdout)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let actions: Vec<(&str, &str)> = entries
        .iter()
        .map(|e| {
            (
                e["clip_id"].as_str().unwrap(),
                e["action"].as_str().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        actions,
        vec![(ordinary.as_str(), "recycle"), (ordinary.as_str(), "purge")]
    );
    assert!(
        entries[0]["due"]
            .as_str()
            .unwrap()
            .starts_with("2028-03-01"),
        "{entries:?}"
    );
    // A shorter ordinary period than the regulation's is refused here too.
    let refused = tokio::process::Command::new(env!("CARGO_BIN_EXE_custodian"))
        .args(["retention", "plan", "--ordinary-years", "1", "--data"])
        .arg(w.app.data.path())
        .output()
        .await
        .unwrap();
    assert!(!refused.status.success());
    assert!(String::from_utf8_lossy(&refused.stderr).contains("ordinary-years"));
}

/// A retention change names what it changes: a field left out stays as it was, a clip the
/// caller may not see is not touched, and only a leader lifts a hold.
#[tokio::test]
async fn retention_changes_are_explicit_and_scoped_to_what_the_caller_sees() {
    let w = world().await;
    let clip = w.upload("2026-03-01T10:00:00+08:00").await;
    let leader = token_with_role(&w.app.app, "b1", Role::Leader).await;
    let put = |token: &str, body: Value| {
        let token = token.to_owned();
        let path = format!("/v1/clips/{clip}/retention");
        let app = &w.app;
        async move { app.send("PUT", &token, &path, body).await }
    };
    let (status, _) = put(
        &leader,
        json!({"legal_hold": true, "long_term_reason": "dispute_or_complaint"}),
    )
    .await;
    assert_eq!(status, 200);
    // Only the class changes; the hold stays.
    let (status, view) = put(
        &w.archivist,
        json!({"long_term_reason": "coercive_measure"}),
    )
    .await;
    assert_eq!(status, 200, "{view}");
    assert_eq!(view["legal_hold"], true, "{view}");
    assert_eq!(view["long_term_reason"], "coercive_measure", "{view}");
    // Only the hold is named; lifting it is a leader's decision.
    let (status, _) = put(&w.archivist, json!({"legal_hold": false})).await;
    assert_eq!(status, 403);
    // Made secret, the clip is beyond an archivist's sight: nothing is changed, and the
    // answer is the one for a clip that does not exist.
    let (status, _) = w
        .app
        .send(
            "PUT",
            &leader,
            &format!("/v1/clips/{clip}/confidentiality"),
            json!({"level": "secret"}),
        )
        .await;
    assert_eq!(status, 200);
    let (status, _) = put(&w.archivist, json!({"long_term_reason": null})).await;
    assert_eq!(status, 404);
    let (_, view) = w
        .app
        .send(
            "GET",
            &leader,
            &format!("/v1/clips/{clip}/retention"),
            Value::Null,
        )
        .await;
    assert_eq!(view["legal_hold"], true, "{view}");
    assert_eq!(view["long_term_reason"], "coercive_measure", "{view}");
    // A leader clears the class with an explicit null.
    let (status, view) = put(&leader, json!({"long_term_reason": null})).await;
    assert_eq!(status, 200);
    assert_eq!(view["long_term_reason"], Value::Null, "{view}");
    assert_eq!(view["legal_hold"], true, "{view}");
}

/// Art. 22: what is filed with a case file is outside the two-year class. A clip of a case
/// that was closed and filed is kept while its case file is kept (indefinitely by default),
/// while an ordinary clip recorded the same day expires after two years; the clip's retention
/// says why.
#[tokio::test]
async fn footage_filed_with_a_case_file_is_kept_with_it_past_two_years() {
    let w = world().await;
    let ordinary = w.upload("2026-03-01T10:00:00+08:00").await;
    let filed = w.upload("2026-03-01T11:00:00+08:00").await;
    let (status, case) = w
        .app
        .send(
            "POST",
            &w.archivist,
            "/v1/cases",
            json!({"reference": "应急罚〔2026〕21号", "title": "某化工厂案"}),
        )
        .await;
    assert_eq!(status, 201, "{case}");
    let case = case["id"].as_str().unwrap().to_owned();
    let steps = [
        (
            "POST",
            format!("/v1/cases/{case}/clips"),
            json!({"clip_ids": [filed]}),
        ),
        (
            "PUT",
            format!("/v1/clips/{filed}/classification"),
            json!({"category": "行政处罚", "description": "现场检查"}),
        ),
        ("POST", format!("/v1/cases/{case}/close"), Value::Null),
        ("POST", format!("/v1/cases/{case}/file"), Value::Null),
    ];
    for (method, path, body) in steps {
        let (status, answer) = w.app.send(method, &w.archivist, &path, body).await;
        assert_eq!(status, 200, "{method} {path}: {answer}");
    }
    // Three years on: the ordinary clip's time ran out, the filed one's did not.
    w.clock.advance(chrono::Duration::days(3 * 365));
    w.pass().await;
    assert_eq!(w.state(&ordinary).await, "recycled");
    assert_eq!(w.state(&filed).await, "catalogued");
    let retention = w.retention_of(&filed).await;
    assert_eq!(retention["decision"]["decision"], "keep", "{retention}");
    assert_eq!(retention["decision"]["until"], Value::Null, "{retention}");
    assert!(
        retention["decision"]["reason"]
            .as_str()
            .unwrap()
            .contains("filed with its case file"),
        "{retention}"
    );
    // Ten years on, still there.
    w.clock.advance(chrono::Duration::days(7 * 365));
    w.pass().await;
    assert_eq!(w.state(&filed).await, "catalogued");
}
