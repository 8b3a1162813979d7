//! The audit trail end to end: every API request leaves an entry in its bureau's chain, only
//! auditors read it, checkpoints are signed, and `custodian audit verify` passes an untouched
//! trail and names the first entry of one that was altered, removed, reordered or forged.

mod common;

use std::path::Path;

use common::*;
use custodian_core::roles::Role;
use custodian_custody::{read_key, Custody, CustodyConfig};
use serde_json::Value;
use sqlx::Connection;

const BIN: &str = env!("CARGO_BIN_EXE_custodian");

async fn verify(data: &Path) -> (bool, String) {
    run_verify(data, &[]).await
}

async fn verify_without_anchors(data: &Path) -> (bool, String) {
    run_verify(data, &["--without-anchors"]).await
}

/// `custodian audit verify [extra] --data DATA`: whether it passed, and all it printed.
async fn run_verify(data: &Path, extra: &[&str]) -> (bool, String) {
    let output = tokio::process::Command::new(BIN)
        .args(["audit", "verify"])
        .args(extra)
        .arg("--data")
        .arg(data)
        .output()
        .await
        .unwrap();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    (output.status.success(), text)
}

/// A copy of a stopped instance's data directory, to tamper with.
fn copy_data(from: &Path) -> tempfile::TempDir {
    let to = tempfile::tempdir().unwrap();
    for entry in std::fs::read_dir(from).unwrap().flatten() {
        let name = entry.file_name();
        if name.to_string_lossy().starts_with("catalogue.db") || name == "audit-signing.key" {
            std::fs::copy(entry.path(), to.path().join(name)).unwrap();
        }
    }
    // The checkpoints anchored in the blob store, outside the catalogue.
    let anchors = from.join("blobs/audit-anchors");
    for bureau in std::fs::read_dir(&anchors).unwrap().flatten() {
        let into = to
            .path()
            .join("blobs/audit-anchors")
            .join(bureau.file_name());
        std::fs::create_dir_all(&into).unwrap();
        for anchor in std::fs::read_dir(bureau.path()).unwrap().flatten() {
            std::fs::copy(anchor.path(), into.join(anchor.file_name())).unwrap();
        }
    }
    to
}

async fn sqlite(data: &Path) -> sqlx::SqliteConnection {
    sqlx::SqliteConnection::connect(&format!("sqlite:{}", data.join("catalogue.db").display()))
        .await
        .unwrap()
}

/// An audit row as the test reads it back: seq, at, actor, action, target, outcome.
type AuditRowTuple = (
    i64,
    chrono::DateTime<chrono::Utc>,
    String,
    String,
    Option<String>,
    String,
);
#[tokio::test]
async fn every_request_is_recorded_and_the_trail_verifies_until_tampered_with() {
    let app = spawn_standalone().await;
    let archivist = token_with_role(&app.app, "b1", Role::Archivist).await;
    let auditor = token_with_role(&app.app, "b1", Role::Auditor).await;
    let outsider = token_with_role(&app.app, "b2", Role::Archivist).await;
    let id = app.upload(sample(3000)).await["clip_id"]
        .as_str()
        .unwrap()
        .to_owned();
    assert_eq!(
        app.get(&archivist, &format!("/v1/clips/{id}"))
            .await
            .status(),
        200
    );
    assert_eq!(
        app.get(&outsider, &format!("/v1/clips/{id}"))
            .await
            .status(),
        404
    );
    assert_eq!(
        app.get(&app.token, "/v1/audit").await.status(),
        403,
        "an officer read the trail"
    );

    let trail: Value = app.get_json(&auditor, "/v1/audit?limit=1000").await;
    let entries = trail["entries"].as_array().unwrap();
    let summary: Vec<(String, String, String)> = entries
        .iter()
        .map(|e| {
            (
                e["action"].as_str().unwrap().to_owned(),
                e["target"].as_str().unwrap_or("").to_owned(),
                e["detail"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    assert!(
        summary
            .iter()
            .any(|(a, _, d)| a == "PUT /v1/uploads" && d.starts_with("status 201")),
        "{summary:?}"
    );
    assert!(
        summary
            .iter()
            .any(|(a, t, d)| a == "GET /v1/clips/{id}" && t == &id && d == "status 200"),
        "{summary:?}"
    );
    assert!(
        summary
            .iter()
            .any(|(a, _, d)| a == "GET /v1/audit" && d == "status 403"),
        "the refused read is recorded too: {summary:?}"
    );
    assert!(entries.iter().all(|e| e["bureau"] == "b1"));
    assert!(entries
        .iter()
        .any(|e| e["actor"].as_str().unwrap().contains("archivist")));
    // The other bureau's look is in its own chain, not in this one.
    assert!(!summary.iter().any(|(_, _, d)| d == "status 404"));

    // Sign the chains, stop, and verify offline.
    let key = read_key(&app.data.path().join("audit-signing.key")).unwrap();
    let registry = prometheus::Registry::new();
    let custody = Custody::new(
        custodian_platform::Ports {
            registry,
            ..app.app.ports.clone()
        },
        key,
        &CustodyConfig::default(),
    )
    .unwrap();
    assert_eq!(
        custody.checkpoint_once().await.unwrap(),
        2,
        "both bureaus' chains signed"
    );
    let data = app.data.path().to_path_buf();
    let TestApp {
        app: running,
        data: _keep,
        ..
    } = app;
    running.stop().await;
    let (ok, text) = verify(&data).await;
    assert!(ok, "{text}");
    assert!(
        text.contains("bureau b1:") && text.contains("intact"),
        "{text}"
    );
    assert!(text.contains("1 anchored in the blob store"), "{text}");

    // The trail refuses changes through the database as well.
    let mut conn = sqlite(&data).await;
    let err = sqlx::query("UPDATE audit_log SET detail = 'status 200' WHERE seq = 1")
        .execute(&mut conn)
        .await
        .unwrap_err();
    assert!(err.to_string().contains("append-only"), "{err}");
    assert!(sqlx::query("DELETE FROM audit_log WHERE seq = 1")
        .execute(&mut conn)
        .await
        .is_err());
    drop(conn);

    // Someone with the file drops the triggers and tampers; each way is caught at its place.
    let tampering: [(&str, &[&str], &str); 4] = [
        (
            "altered",
            &["UPDATE audit_log SET detail = 'status 404' WHERE bureau_id = 'b1' AND seq = 2"],
            "entry 2 of bureau b1 was altered",
        ),
        (
            "removed",
            &["DELETE FROM audit_log WHERE bureau_id = 'b1' AND seq = 2"],
            "entry 2 of bureau b1 is missing",
        ),
        (
            "reordered",
            &[
                "UPDATE audit_log SET seq = -1 WHERE bureau_id = 'b1' AND seq = 2",
                "UPDATE audit_log SET seq = 2 WHERE bureau_id = 'b1' AND seq = 3",
                "UPDATE audit_log SET seq = 3 WHERE bureau_id = 'b1' AND seq = -1",
            ],
            "entry 2 of bureau b1",
        ),
        (
            "truncated",
            &["DELETE FROM audit_log WHERE bureau_id = 'b1' AND seq > 2"],
            "names an entry the chain no longer has",
        ),
    ];
    for (kind, statements, expected) in tampering {
        let copy = copy_data(&data);
        let mut conn = sqlite(copy.path()).await;
        sqlx::query("DROP TRIGGER audit_log_no_update")
            .execute(&mut conn)
            .await
            .unwrap();
        sqlx::query("DROP TRIGGER audit_log_no_delete")
            .execute(&mut conn)
            .await
            .unwrap();
        for statement in statements {
            sqlx::query(statement).execute(&mut conn).await.unwrap();
        }
        drop(conn);
        let (ok, text) = verify(copy.path()).await;
        assert!(!ok, "{kind} not caught");
        assert!(text.contains(expected), "{kind}: {text}");
    }

    // A forger rewrites entry 2 and recomputes every hash after it: the chain is whole, but
    // the signed checkpoint does not match.
    let copy = copy_data(&data);
    let mut conn = sqlite(copy.path()).await;
    sqlx::query("DROP TRIGGER audit_log_no_update")
        .execute(&mut conn)
        .await
        .unwrap();
    let rows: Vec<AuditRowTuple> =
        sqlx::query_as("SELECT seq, at, actor, action, target, detail FROM audit_log WHERE bureau_id = 'b1' ORDER BY seq").fetch_all(&mut conn).await.unwrap();
    let mut prev: Option<(i64, String)> = None;
    for (seq, at, actor, action, target, detail) in rows {
        let detail = if seq == 2 {
            "status 404".to_owned()
        } else {
            detail
        };
        let entry = custodian_core::audit::chain(
            "b1",
            prev.as_ref().map(|(s, h)| (*s, h.as_str())),
            custodian_core::audit::NewAuditEntry {
                at,
                actor,
                action,
                target,
                detail,
            },
        );
        sqlx::query("UPDATE audit_log SET detail = $1, prev_hash = $2, hash = $3 WHERE bureau_id = 'b1' AND seq = $4")
            .bind(&entry.detail)
            .bind(&entry.prev_hash)
            .bind(&entry.hash)
            .bind(seq)
            .execute(&mut conn)
            .await
            .unwrap();
        prev = Some((entry.seq, entry.hash));
    }
    drop(conn);
    let (ok, text) = verify(copy.path()).await;
    assert!(!ok, "a forged chain passed");
    assert!(text.contains("does not match the chain"), "{text}");

    // The same forger also re-signs the catalogue's checkpoints with the key beside the
    // database: the catalogue agrees with itself, the anchors in the blob store do not.
    let mut conn = sqlite(copy.path()).await;
    sqlx::query("DROP TRIGGER audit_checkpoints_no_delete")
        .execute(&mut conn)
        .await
        .unwrap();
    sqlx::query("DELETE FROM audit_checkpoints WHERE bureau_id = 'b1'")
        .execute(&mut conn)
        .await
        .unwrap();
    let (seq, at, actor, action, target, detail, prev_hash, hash): (i64, chrono::DateTime<chrono::Utc>, String, String, Option<String>, String, String, String) =
        sqlx::query_as("SELECT seq, at, actor, action, target, detail, prev_hash, hash FROM audit_log WHERE bureau_id = 'b1' ORDER BY seq DESC LIMIT 1")
            .fetch_one(&mut conn)
            .await
            .unwrap();
    let last = custodian_core::audit::AuditEntry {
        bureau: "b1".into(),
        seq,
        at,
        actor,
        action,
        target,
        detail,
        prev_hash,
        hash,
    };
    let stolen = read_key(&copy.path().join("audit-signing.key")).unwrap();
    let resigned = custodian_core::audit::sign_checkpoint(&stolen, &last, chrono::Utc::now());
    sqlx::query("INSERT INTO audit_checkpoints (bureau_id, seq, hash, at, signature) VALUES ('b1', $1, $2, $3, $4)")
        .bind(resigned.seq)
        .bind(&resigned.hash)
        .bind(resigned.at)
        .bind(&resigned.signature)
        .execute(&mut conn)
        .await
        .unwrap();
    drop(conn);
    let (ok, text) = verify_without_anchors(copy.path()).await;
    assert!(ok, "the catalogue alone is fooled, as expected: {text}");
    assert!(text.contains("anchors not checked"), "{text}");
    let (ok, text) = verify(copy.path()).await;
    assert!(!ok, "a forged and re-signed chain passed");
    assert!(text.contains("does not match the chain"), "{text}");

    // Entries and checkpoints deleted from the end, and a bureau's whole chain deleted: the
    // catalogue is consistent with itself each time, the anchors are not.
    let deletions: [(&str, &[&str], &str); 2] = [
        (
            "shortened",
            &[
                "DELETE FROM audit_log WHERE bureau_id = 'b1' AND seq > 2",
                "DELETE FROM audit_checkpoints WHERE bureau_id = 'b1'",
            ],
            "names an entry the chain no longer has",
        ),
        (
            "a bureau erased",
            &[
                "DELETE FROM audit_log WHERE bureau_id = 'b2'",
                "DELETE FROM audit_checkpoints WHERE bureau_id = 'b2'",
            ],
            "of bureau b2 names an entry the chain no longer has",
        ),
    ];
    for (kind, statements, expected) in deletions {
        let copy = copy_data(&data);
        let mut conn = sqlite(copy.path()).await;
        for trigger in ["audit_log_no_delete", "audit_checkpoints_no_delete"] {
            sqlx::query(&format!("DROP TRIGGER {trigger}"))
                .execute(&mut conn)
                .await
                .unwrap();
        }
        for statement in statements {
            sqlx::query(statement).execute(&mut conn).await.unwrap();
        }
        drop(conn);
        let (ok, text) = verify_without_anchors(copy.path()).await;
        assert!(
            ok,
            "{kind}: the catalogue alone is fooled, as expected: {text}"
        );
        let (ok, text) = verify(copy.path()).await;
        assert!(!ok, "{kind} not caught");
        assert!(text.contains(expected), "{kind}: {text}");
    }

    // Checked with another key, even the untouched trail fails.
    let stranger = hex::encode(
        ed25519_dalek::SigningKey::from_bytes(&[5; 32])
            .verifying_key()
            .to_bytes(),
    );
    let output = tokio::process::Command::new(BIN)
        .args(["audit", "verify", "--public-key", &stranger, "--data"])
        .arg(&data)
        .output()
        .await
        .unwrap();
    assert!(!output.status.success());
    assert!(String::from_utf8_lossy(&output.stderr).contains("not signed by this key"));
}

/// Reading the trail adds to it, so a pager must page over the snapshot its first page
/// fixed: it reaches the end, and sees every entry up to that point exactly once.
#[tokio::test]
async fn paging_the_trail_reaches_the_end_of_a_snapshot() {
    let app = spawn_standalone().await;
    for _ in 0..5 {
        app.get(&app.token, "/v1/clips").await;
    }
    let auditor = token_with_role(&app.app, "b1", Role::Auditor).await;
    let mut seen = Vec::new();
    let mut query = "limit=2".to_owned();
    let mut until = None;
    for _ in 0..50 {
        let page: Value = app.get_json(&auditor, &format!("/v1/audit?{query}")).await;
        let snapshot = page["until"].as_i64().unwrap();
        assert_eq!(*until.get_or_insert(snapshot), snapshot, "{page}");
        seen.extend(
            page["entries"]
                .as_array()
                .unwrap()
                .iter()
                .map(|e| e["seq"].as_i64().unwrap()),
        );
        match page["next_after"].as_i64() {
            Some(after) => query = format!("limit=2&after={after}&until={snapshot}"),
            None => break,
        }
    }
    let until = until.unwrap();
    assert!(until >= 5, "{until}");
    assert_eq!(
        seen,
        (1..=until).collect::<Vec<_>>(),
        "each entry once, in order, to the end"
    );
}
