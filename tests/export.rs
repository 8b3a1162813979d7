//! Evidence export (art. 20) over HTTP: a case's originals, note and signed manifest as one
//! package that `custodian export verify` passes untouched and refuses once changed; only
//! leaders export, only their own bureau's clips, and every export is in the custody trail.

mod common;

use common::*;
use custodian_core::roles::Role;
use serde_json::{json, Value};
use std::io::Read;

const BIN: &str = env!("CARGO_BIN_EXE_custodian");

async fn verify(package: &std::path::Path, key: &str) -> (bool, String) {
    export_verify(package, key).await
}

fn unpack(bytes: &[u8]) -> Vec<(String, Vec<u8>)> {
    let mut archive = tar::Archive::new(bytes);
    archive
        .entries()
        .unwrap()
        .map(|e| {
            let mut e = e.unwrap();
            let path = e.path().unwrap().to_string_lossy().into_owned();
            let mut data = Vec::new();
            e.read_to_end(&mut data).unwrap();
            (path, data)
        })
        .collect()
}

fn repack(files: &[(String, Vec<u8>)]) -> Vec<u8> {
    let mut builder = tar::Builder::new(Vec::new());
    for (path, data) in files {
        let mut header = tar::Header::new_gnu();
        header.set_size(data.len() as u64);
        header.set_mode(0o444);
        header.set_cksum();
        builder
            .append_data(&mut header, path, data.as_slice())
            .unwrap();
    }
    builder.into_inner().unwrap()
}

#[tokio::test]
async fn a_case_exports_as_a_signed_package_that_verifies_until_changed() {
    let app = spawn_standalone().await;
    let leader = token_with_role(&app.app, "b1", Role::Leader).await;
    let first = app.upload(sample(20_000)).await["clip_id"]
        .as_str()
        .unwrap()
        .to_owned();
    let second = app.upload(sample(30_000)).await["clip_id"]
        .as_str()
        .unwrap()
        .to_owned();
    for id in [&first, &second] {
        app.wait_for_state(id, "catalogued").await;
    }
    let (_, case) = app
        .send(
            "POST",
            &leader,
            "/v1/cases",
            json!({"reference": "应急罚〔2026〕7号", "title": "某化工厂案"}),
        )
        .await;
    let case_id = case["id"].as_str().unwrap().to_owned();
    app.send(
        "POST",
        &leader,
        &format!("/v1/cases/{case_id}/clips"),
        json!({"clip_ids": [first, second]}),
    )
    .await;

    // Who may export what.
    assert_eq!(
        app.send(
            "POST",
            &app.token,
            "/v1/exports",
            json!({"case_id": case_id})
        )
        .await
        .0,
        403
    );
    let outsider = token_with_role(&app.app, "b2", Role::Leader).await;
    assert_eq!(
        app.send(
            "POST",
            &outsider,
            "/v1/exports",
            json!({"case_id": case_id})
        )
        .await
        .0,
        404
    );
    assert_eq!(
        app.send(
            "POST",
            &outsider,
            "/v1/exports",
            json!({"clip_ids": [first]})
        )
        .await
        .0,
        404
    );
    assert_eq!(
        app.send("POST", &leader, "/v1/exports", json!({})).await.0,
        400
    );

    let response = app
        .http
        .post(format!("{}/v1/exports", app.base))
        .bearer_auth(&leader)
        .json(&json!({"case_id": case_id, "note": "应当事人申请复议，提交复议机关"}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(response.headers()["content-type"], "application/x-tar");
    let package = response.bytes().await.unwrap().to_vec();
    let files = unpack(&package);
    let names: Vec<&str> = files.iter().map(|(p, _)| p.as_str()).collect();
    assert!(
        names.contains(&"manifest.json")
            && names.contains(&"manifest.sig")
            && names.contains(&"note.txt"),
        "{names:?}"
    );
    let original = files
        .iter()
        .find(|(p, _)| p.contains(&first))
        .expect("first original packed");
    assert_eq!(
        original.1,
        sample(20_000),
        "the original is packed byte for byte"
    );
    let note = String::from_utf8(
        files
            .iter()
            .find(|(p, _)| p == "note.txt")
            .unwrap()
            .1
            .clone(),
    )
    .unwrap();
    assert!(
        note.contains("应急罚〔2026〕7号") && note.contains("提交复议机关"),
        "{note}"
    );
    let manifest: Value =
        serde_json::from_slice(&files.iter().find(|(p, _)| p == "manifest.json").unwrap().1)
            .unwrap();
    assert_eq!(manifest["clips"].as_array().unwrap().len(), 2);
    let trail_actions: Vec<&str> = manifest["custody_trail"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["action"].as_str().unwrap())
        .collect();
    assert!(
        trail_actions.contains(&"ingest.stored"),
        "{trail_actions:?}"
    );

    let key = app
        .get(&leader, "/v1/audit/public-key")
        .await
        .text()
        .await
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("evidence.tar");
    std::fs::write(&path, &package).unwrap();
    let (ok, text) = verify(&path, &key).await;
    assert!(ok, "{text}");
    assert!(
        text.contains("2 clips") && text.contains("intact"),
        "{text}"
    );

    // One byte of one original changed: named.
    let mut changed = files.clone();
    let target = changed
        .iter_mut()
        .find(|(p, _)| p.contains(&second))
        .unwrap();
    target.1[10] ^= 1;
    let changed_name = target.0.clone();
    std::fs::write(&path, repack(&changed)).unwrap();
    let (ok, text) = verify(&path, &key).await;
    assert!(
        !ok && text.contains(&changed_name) && text.contains("was changed"),
        "{text}"
    );
    // A file slipped in: named.
    let mut added = files.clone();
    added.push(("originals/inserted.mp4".into(), b"x".to_vec()));
    std::fs::write(&path, repack(&added)).unwrap();
    let (ok, text) = verify(&path, &key).await;
    assert!(!ok && text.contains("inserted.mp4"), "{text}");
    // Another deployment's key: refused.
    let stranger = hex::encode(
        ed25519_dalek::SigningKey::from_bytes(&[4; 32])
            .verifying_key()
            .to_bytes(),
    );
    std::fs::write(&path, &package).unwrap();
    let (ok, text) = verify(&path, &stranger).await;
    assert!(!ok && text.contains("signature"), "{text}");
    // No key at all: refused, unless integrity alone is asked for, and then said so.
    let run = |args: &[&str]| {
        std::process::Command::new(BIN)
            .args(["export", "verify"])
            .args(args)
            .arg(&path)
            .output()
            .unwrap()
    };
    let keyless = run(&[]);
    assert!(!keyless.status.success(), "verified without a key");
    assert!(String::from_utf8_lossy(&keyless.stderr).contains("--public-key"));
    let integrity = run(&["--integrity-only"]);
    let said = String::from_utf8_lossy(&integrity.stdout);
    assert!(
        integrity.status.success() && said.contains("not proven"),
        "{said}"
    );

    // The export is in each clip's custody trail.
    let auditor = token_with_role(&app.app, "b1", Role::Auditor).await;
    let trail: Value = app.get_json(&auditor, "/v1/audit?limit=1000").await;
    let exported: Vec<&str> = trail["entries"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["action"] == "export")
        .map(|e| e["target"].as_str().unwrap())
        .collect();
    assert_eq!(exported.len(), 2);
    assert!(exported.contains(&first.as_str()) && exported.contains(&second.as_str()));
}

/// A package is streamed as it is packed; an original that no longer matches its hash cuts
/// it short: the answer ends in an error before any manifest or signature, the package does
/// not verify, and the clip carries a critical finding.
#[tokio::test]
async fn an_original_changed_on_disk_cuts_the_package_short() {
    let app = spawn_standalone().await;
    let leader = token_with_role(&app.app, "b1", Role::Leader).await;
    let intact = app.upload(sample(300_000)).await["clip_id"]
        .as_str()
        .unwrap()
        .to_owned();
    let changed = app.upload(sample(300_001)).await["clip_id"]
        .as_str()
        .unwrap()
        .to_owned();
    for id in [&intact, &changed] {
        app.wait_for_state(id, "catalogued").await;
    }
    let file = app
        .stored_files()
        .into_iter()
        .find(|p| p.to_string_lossy().contains(&changed))
        .unwrap();
    let mut bytes = std::fs::read(&file).unwrap();
    bytes[1000] ^= 0xFF;
    std::fs::write(&file, bytes).unwrap();

    let response = app
        .http
        .post(format!("{}/v1/exports", app.base))
        .bearer_auth(&leader)
        .json(&json!({"clip_ids": [intact, changed]}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200, "the package had started");
    let received = response.bytes().await;
    assert!(received.is_err(), "the body ended as if whole");
    let (status, record) = app
        .send("GET", &leader, &format!("/v1/clips/{changed}"), Value::Null)
        .await;
    assert_eq!(status, 200);
    assert!(
        record["findings"]
            .as_array()
            .unwrap()
            .iter()
            .any(|f| f["kind"] == "checksum-mismatch" && f["severity"] == "critical"),
        "{record}"
    );
    let auditor = token_with_role(&app.app, "b1", Role::Auditor).await;
    let trail = app.get_json(&auditor, "/v1/audit?limit=1000").await;
    assert!(
        trail["entries"]
            .as_array()
            .unwrap()
            .iter()
            .any(|e| e["action"] == "export" && e["detail"].as_str().unwrap().contains("cut short")),
        "{trail}"
    );
}

/// Art. 12 (3): the record shows the matter (执法事项) and the party (当事人); art. 20: the
/// note that goes with the evidence says them, clip by clip, and the manifest holds them.
#[tokio::test]
async fn the_note_names_each_clips_matter_party_and_place() {
    let app = spawn_standalone().await;
    let leader = token_with_role(&app.app, "b1", Role::Leader).await;
    let described = app.upload(sample(5_000)).await["clip_id"]
        .as_str()
        .unwrap()
        .to_owned();
    let bare = app.upload(sample(6_000)).await["clip_id"]
        .as_str()
        .unwrap()
        .to_owned();
    for id in [&described, &bare] {
        app.wait_for_state(id, "catalogued").await;
    }
    let (status, clip) = app
        .send(
            "PUT",
            &leader,
            &format!("/v1/clips/{described}/classification"),
            json!({
                "category": "行政检查",
                "description": "检查储油罐区\n询问站长",
                "place": "黄岛区长江中路 1 号",
                "matter": "安全生产监督检查",
                "party": "某石油销售有限公司加油站",
            }),
        )
        .await;
    assert_eq!(status, 200, "{clip}");
    assert_eq!(
        (clip["matter"].as_str(), clip["party"].as_str()),
        (Some("安全生产监督检查"), Some("某石油销售有限公司加油站"))
    );
    assert_eq!(
        clip["classifications"][0]["party"],
        "某石油销售有限公司加油站"
    );

    let response = app
        .http
        .post(format!("{}/v1/exports", app.base))
        .bearer_auth(&leader)
        .json(&json!({"clip_ids": [described, bare]}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let files = unpack(&response.bytes().await.unwrap());
    let file = |name: &str| {
        files
            .iter()
            .find(|(p, _)| p == name)
            .map(|(_, data)| data.clone())
            .unwrap()
    };
    let note = String::from_utf8(file("note.txt")).unwrap();
    for line in [
        "  执法事项 Matter: 安全生产监督检查\n",
        "  当事人 Party: 某石油销售有限公司加油站\n",
        "  地点 Place: 黄岛区长江中路 1 号\n",
        "  内容 Description: 检查储油罐区\n    询问站长\n",
    ] {
        assert!(note.contains(line), "{line:?} not in:\n{note}");
    }
    // The clip nobody described says nothing of a matter or party, rather than something
    // empty.
    assert_eq!(note.matches("Matter:").count(), 1, "{note}");
    let manifest: Value = serde_json::from_slice(&file("manifest.json")).unwrap();
    let party: Vec<&Value> = manifest["clips"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| &c["party"])
        .collect();
    assert!(
        party.contains(&&json!("某石油销售有限公司加油站")),
        "{party:?}"
    );

    // The text search finds the clip by its matter and its party.
    for q in ["石油销售", "监督检查"] {
        let page = app.get_json(&leader, &format!("/v1/clips?q={q}")).await;
        let found: Vec<&str> = page["items"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| c["id"].as_str().unwrap())
            .collect();
        assert_eq!(found, vec![described.as_str()], "q={q}");
    }
}
