//! `custodian catalogue rebuild` (art. 19): the catalogue database of an installation with 50
//! clips, some classified, some in cases, one on legal hold and one internal, is deleted; the
//! rebuild from the blob store alone gives every clip back with its receipt's hash and what
//! its signed sidecar carried, compared field by field with the catalogue before; what is lost
//! by design is listed; a missing sidecar, an altered original and a forged sidecar are each
//! found; and the audit trail restarts where its anchor left it and verifies.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use custodian::cli::{AuditArgs, CatalogueLocation};
use custodian::rebuild::{rebuild, RebuildArgs};
use custodian_core::roles::Role;
use custodian_core::sidecar::{sidecar_key, SIDECAR_PREFIX};
use custodian_core::Sha256Digest;
use custodian_platform::blob::BlobStore;
use serde_json::{json, Value};

use crate::common::*;

/// Fields of a clip's record that a rebuild does not bring back, and why.
const LOST_BY_DESIGN: &[(&str, &str)] = &[
    // The device registry is not in any sidecar: team and registration come back when the
    // devices are registered again.
    ("team", "the device registry is lost"),
    ("device_registered", "the device registry is lost"),
    // State history: every clip comes back as stored (at its receipt's time) and moves on
    // from there.
    ("state_changed_at", "state history is lost"),
    ("history", "state history is lost"),
    // The integrity check's last visit: the scrub of the new catalogue visits every clip.
    ("verified_at", "remade by the scrub"),
];

fn location(data: &std::path::Path) -> CatalogueLocation {
    CatalogueLocation {
        data: Some(data.to_owned()),
        database_url: None,
    }
}

#[tokio::test]
async fn a_deleted_catalogue_is_rebuilt_from_storage_field_by_field() {
    let app = spawn_standalone_adjusted(Arc::new(custodian_platform::clock::SystemClock), |args| {
        args.custody.checkpoint_every = std::time::Duration::from_secs(1);
        args.catalog.media_steps = vec![None];
    })
    .await;
    let leader = token_with_role(&app.app, "b1", Role::Leader).await;
    let archivist = token_with_role(&app.app, "b1", Role::Archivist).await;

    let mut clips = Vec::new();
    for n in 0..50u32 {
        let mut body = sample(3_000 + n as usize);
        body.extend_from_slice(format!("clip {n}").as_bytes());
        let recorded_at = format!("2026-02-{:02}T09:{:02}:00+08:00", 10 + n % 5, n);
        let mut query = vec![
            ("device", format!("DSJ-{}", n % 3)),
            ("officer", format!("03123{}", n % 4)),
            ("recorded_at", recorded_at),
            ("file_name", format!("DSJ_{n}.mp4")),
        ];
        if n % 2 == 0 {
            query.push(("place", format!("{n}号仓库")));
        }
        let response = app
            .http
            .put(format!("{}/v1/uploads", app.base))
            .bearer_auth(&app.token)
            .query(&query)
            .header(
                "Content-Digest",
                Sha256Digest::of(&body).to_content_digest(),
            )
            .body(body)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 201);
        let receipt: Value = response.json().await.unwrap();
        clips.push(receipt["clip_id"].as_str().unwrap().to_owned());
    }
    for id in &clips {
        app.wait_for_state(id, "catalogued").await;
    }
    // 20 classified, two cases (one of 10 clips, one of 5), a legal hold, an internal clip.
    for (n, id) in clips.iter().enumerate().filter(|(n, _)| n % 5 < 2) {
        let (status, body) = app
            .send(
                "PUT",
                &archivist,
                &format!("/v1/clips/{id}/classification"),
                json!({"category": "行政检查", "description": format!("第{n}段 检查现场"),
                       "important": n % 2 == 0, "party": "甲公司"}),
            )
            .await;
        assert_eq!(status, 200, "{body}");
    }
    // One clip classified again, with a place: both versions come back.
    let (status, body) = app
        .send(
            "PUT",
            &archivist,
            &format!("/v1/clips/{}/classification", clips[0]),
            json!({"category": "行政处罚", "description": "改正后", "place": "二号门"}),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    let mut cases = Vec::new();
    for (reference, members) in [
        ("应急罚〔2026〕1号", &clips[0..10]),
        ("应急检〔2026〕2号", &clips[10..15]),
    ] {
        let (status, case) = app
            .send(
                "POST",
                &archivist,
                "/v1/cases",
                json!({"reference": reference, "title": format!("{reference} 某仓库案")}),
            )
            .await;
        assert_eq!(status, 201, "{case}");
        let case = case["id"].as_str().unwrap().to_owned();
        let (status, body) = app
            .send(
                "POST",
                &archivist,
                &format!("/v1/cases/{case}/clips"),
                json!({"clip_ids": members}),
            )
            .await;
        assert_eq!(status, 200, "{body}");
        cases.push(case);
    }
    let (status, body) = app
        .send(
            "PUT",
            &archivist,
            &format!("/v1/clips/{}/retention", clips[20]),
            json!({"legal_hold": true, "long_term_reason": "dispute_or_complaint"}),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    let (status, body) = app
        .send(
            "PUT",
            &leader,
            &format!("/v1/clips/{}/confidentiality", clips[21]),
            json!({"level": "internal"}),
        )
        .await;
    assert_eq!(status, 200, "{body}");

    // Every change has reached its sidecar, and the trail is anchored.
    let catalogue = app.app.ports.catalogue.clone();
    custodian_platform::testing::eventually(WAIT, "every sidecar written", || async {
        catalogue
            .sidecars_due(100)
            .await
            .unwrap()
            .is_empty()
            .then_some(())
    })
    .await;
    let blobs = custodian_platform::blob::LocalBlobStore::open_beside_its_server(
        app.data.path().join("blobs"),
    );
    custodian_platform::testing::eventually(WAIT, "the trail anchored", || async {
        (!blobs.list("audit-anchors/b1/").await.unwrap().is_empty()).then_some(())
    })
    .await;
    assert_eq!(blobs.list(SIDECAR_PREFIX).await.unwrap().len(), 50);

    let mut before = BTreeMap::new();
    for id in &clips {
        before.insert(
            id.clone(),
            app.get_json(&leader, &format!("/v1/clips/{id}")).await,
        );
    }
    let mut cases_before = BTreeMap::new();
    for case in &cases {
        cases_before.insert(
            case.clone(),
            app.get_json(&leader, &format!("/v1/cases/{case}")).await,
        );
    }
    app.app.stop().await;

    // The disk under the catalogue dies; on the way, one sidecar is lost, one original is
    // altered, and someone without the key plants a sidecar for a clip that never was.
    let data = app.data.path().to_owned();
    for entry in std::fs::read_dir(&data).unwrap() {
        let path = entry.unwrap().path();
        if path
            .file_name()
            .unwrap()
            .to_string_lossy()
            .starts_with("catalogue.db")
        {
            std::fs::remove_file(path).unwrap();
        }
    }
    let no_sidecar = &clips[2];
    std::fs::remove_file(data.join("blobs").join(sidecar_key("b1", no_sidecar))).unwrap();
    let altered = &clips[3];
    let altered_path = server_original(&data, altered);
    let mut bytes = std::fs::read(&altered_path).unwrap();
    bytes[0] ^= 0xff;
    let mut permissions = std::fs::metadata(&altered_path).unwrap().permissions();
    #[allow(clippy::permissions_set_readonly_false)]
    permissions.set_readonly(false);
    std::fs::set_permissions(&altered_path, permissions).unwrap();
    std::fs::write(&altered_path, &bytes).unwrap();
    let forged_clip = custodian_core::ClipId::from_parts(1_770_000_000_000, [7; 10]).to_string();
    let forged = custodian_core::sidecar::seal(
        &custodian_core::sidecar::OriginalRecord {
            clip_id: forged_clip.clone(),
            bureau: "b1".into(),
            bureau_name: "b1".into(),
            object_key: format!("originals/b1/2026/02/10/{forged_clip}.mp4"),
            size_bytes: 1,
            sha256: "00".repeat(32),
            received_at: chrono::Utc::now(),
            written_at: chrono::Utc::now(),
            purged_at: None,
            upload: None,
            classifications: Vec::new(),
            cases: Vec::new(),
        },
        &ed25519_dalek::SigningKey::from_bytes(&[9; 32]),
    );
    let forged_path = data.join("blobs").join(sidecar_key("b1", &forged_clip));
    std::fs::write(&forged_path, forged).unwrap();

    let report = rebuild(&RebuildArgs {
        catalogue: location(&data),
        public_key: None,
        audit_key_file: None,
    })
    .await
    .expect("the rebuild");
    assert_eq!(report.originals, 50, "{report:#?}");
    assert_eq!(report.from_sidecars, 49, "{report:#?}");
    assert_eq!(
        report
            .without_sidecar
            .iter()
            .map(|c| c.to_string())
            .collect::<Vec<_>>(),
        vec![no_sidecar.clone()]
    );
    assert_eq!(
        report
            .altered
            .iter()
            .map(|c| c.to_string())
            .collect::<Vec<_>>(),
        vec![altered.clone()]
    );
    assert_eq!(report.refused_sidecars.len(), 1, "{report:#?}");
    assert!(
        report.refused_sidecars[0].1.contains("signature"),
        "{report:#?}"
    );
    assert!(report.missing_originals.is_empty(), "{report:#?}");
    assert_eq!((report.cases, report.classified), (2, 20), "{report:#?}");
    let (bureau, restarted_after) = &report.audit[0];
    assert_eq!(bureau, "b1");
    let anchored = restarted_after.expect("the restart continues the last anchor");

    // A second rebuild over the rebuilt catalogue is refused.
    let again = rebuild(&RebuildArgs {
        catalogue: location(&data),
        public_key: None,
        audit_key_file: None,
    })
    .await
    .expect_err("a rebuild into a catalogue with clips");
    assert!(
        format!("{again:#}").contains("empty catalogue"),
        "{again:#}"
    );

    // The trail verifies, and says where it restarted.
    let verified = custodian::admin::audit_verify(&AuditArgs {
        catalogue: location(&data),
        public_key: None,
        audit_key_file: None,
        bureau: Some("b1".into()),
        without_anchors: false,
        max_checkpoint_age: std::time::Duration::from_secs(24 * 3600),
        as_of: None,
    })
    .await
    .expect("the rebuilt trail verifies");
    assert_eq!(verified[0].1.restarted_after, Some(anchored));

    // Served again: every clip, field by field.
    let server =
        spawn_standalone_adjusted(Arc::new(custodian_platform::clock::SystemClock), |args| {
            args.data = data.clone();
            args.catalog.media_steps = vec![None];
            // Rebuilt clips are stored, as if just received: the reconciler announces them
            // again.
            args.catalog.reconcile_every = std::time::Duration::from_secs(1);
            args.catalog.stuck_after = std::time::Duration::from_secs(1);
        })
        .await;
    let leader = token_with_role(&server.app, "b1", Role::Leader).await;
    let lost: BTreeSet<&str> = LOST_BY_DESIGN.iter().map(|(field, _)| *field).collect();
    for id in &clips {
        // As the leader: an officer does not see the internal clip.
        let after = custodian_platform::testing::eventually(WAIT, "catalogued again", || async {
            let record = server.get_json(&leader, &format!("/v1/clips/{id}")).await;
            (record["state"] == "catalogued").then_some(record)
        })
        .await;
        let was = &before[id];
        let differing: BTreeSet<String> = was
            .as_object()
            .unwrap()
            .iter()
            .filter(|(field, value)| after.get(field.as_str()) != Some(value))
            .map(|(field, _)| field.clone())
            .collect();
        let expected: BTreeSet<String> = if id == no_sidecar {
            // Only what the key and the bytes say.
            [
                "device",
                "officer",
                "recorded_at",
                "original_name",
                "received_at",
                "place",
                "canonical_name",
                // Counted from the recording and receipt times, which are unknown.
                "deadlines",
            ]
            .iter()
            .map(|f| f.to_string())
            .filter(|f| was.get(f.as_str()) != after.get(f.as_str()))
            .collect()
        } else if id == altered {
            // Its critical finding.
            BTreeSet::from(["findings".to_owned()])
        } else {
            BTreeSet::new()
        };
        let unexplained: Vec<_> = differing
            .iter()
            .filter(|f| !lost.contains(f.as_str()) && !expected.contains(*f))
            .map(|f| format!("{f}: {} -> {}", was[f], after[f]))
            .collect();
        assert!(
            unexplained.is_empty(),
            "clip {id} came back different: {unexplained:#?}"
        );
        // The receipt's hash, whatever happened to the bytes.
        assert_eq!(after["sha256"], was["sha256"], "clip {id}");
    }
    // The altered original is flagged.
    let findings = server
        .get_json(&leader, &format!("/v1/clips/{altered}"))
        .await["findings"]
        .clone();
    assert!(
        findings.to_string().contains("checksum-mismatch"),
        "{findings}"
    );
    for (case, was) in &cases_before {
        let after = server.get_json(&leader, &format!("/v1/cases/{case}")).await;
        // The clip without a sidecar is back, but nothing said it was in the case.
        let mut expected = was.clone();
        expected["clips"]
            .as_array_mut()
            .unwrap()
            .retain(|id| id != no_sidecar.as_str());
        expected["file"]
            .as_array_mut()
            .unwrap()
            .retain(|entry| entry["id"] != no_sidecar.as_str());
        assert_eq!(after, expected, "case {case}");
    }
    server.app.stop().await;
}
