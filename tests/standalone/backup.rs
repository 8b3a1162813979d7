//! `custodian backup` and `custodian restore` of a standalone installation (art. 19): a
//! backup taken while uploads go on restores every clip receipted before it, hash for hash,
//! with an audit trail that verifies; a second backup stores only what is new; a restore
//! never overwrites an installation and refuses a damaged backup.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use custodian::backup::{backup, restore, BackupArgs, RestoreArgs};
use custodian_core::Sha256Digest;
use serde_json::Value;

use crate::common::*;

/// Uploads distinct clips one after another until `stop`, answering each receipt.
fn upload_until(
    base: String,
    token: String,
    stop: Arc<AtomicBool>,
) -> tokio::task::JoinHandle<Vec<Value>> {
    tokio::spawn(async move {
        let http = reqwest::Client::new();
        let mut receipts = Vec::new();
        let mut n = 0u32;
        while !stop.load(Ordering::Relaxed) {
            let mut body = sample(20_000 + n as usize);
            body.extend_from_slice(format!("clip {n}").as_bytes());
            n += 1;
            let response = http
                .put(format!("{base}/v1/uploads"))
                .bearer_auth(&token)
                .query(&upload_query())
                .header(
                    "Content-Digest",
                    Sha256Digest::of(&body).to_content_digest(),
                )
                .body(body)
                .send()
                .await
                .unwrap();
            let status = response.status();
            let body: Value = response.json().await.unwrap();
            assert_eq!(status, 201, "{body}");
            receipts.push(body);
        }
        receipts
    })
}

fn backup_args(data: &std::path::Path, repo: &std::path::Path) -> BackupArgs {
    BackupArgs {
        data: data.to_owned(),
        to: repo.to_owned(),
        include: Vec::new(),
    }
}

#[tokio::test]
async fn a_backup_taken_during_uploads_restores_every_receipted_clip_and_its_trail() {
    let app = spawn_standalone_adjusted(Arc::new(custodian_platform::clock::SystemClock), |args| {
        // Checkpoints signed and anchored while the backup runs, so that the snapshot
        // must leave out anchors newer than its catalogue.
        args.custody.checkpoint_every = std::time::Duration::from_secs(1);
        args.catalog.media_steps = vec![None];
    })
    .await;
    let repo = tempfile::tempdir().unwrap();
    let config = repo.path().join("custodian.env");
    std::fs::write(&config, "CUSTODIAN_LISTEN=127.0.0.1:8080\n").unwrap();
    for _ in 0..5 {
        app.upload(sample(10_000)).await;
    }

    let stop = Arc::new(AtomicBool::new(false));
    let load = upload_until(app.base.clone(), app.token.clone(), stop.clone());
    // The load is under way before the first backup starts.
    custodian_platform::testing::eventually(WAIT, "uploads under way", || async {
        (app.clip_ids().await.len() >= 8).then_some(())
    })
    .await;
    let first = backup(&backup_args(app.data.path(), repo.path()))
        .await
        .expect("the first backup");
    assert!(first.originals >= 8, "{first:?}");
    assert_eq!(
        first.reused, 0,
        "a first backup copies everything: {first:?}"
    );

    let before_second: std::collections::BTreeSet<String> =
        app.clip_ids().await.into_iter().collect();
    let second = backup(&BackupArgs {
        include: vec![config.clone()],
        ..backup_args(app.data.path(), repo.path())
    })
    .await
    .expect("the second backup");
    stop.store(true, Ordering::Relaxed);
    let receipts = load.await.unwrap();
    assert!(receipts.len() >= 3, "the load uploaded {}", receipts.len());
    // Incremental: what the first snapshot holds is not read or written again.
    assert!(
        second.reused >= first.originals,
        "{second:?} after {first:?}"
    );
    assert!(second.copied < second.objects, "{second:?}");
    assert!(second.originals >= before_second.len(), "{second:?}");

    // Into a directory of its own, as after the loss of the first disk.
    let restored = tempfile::tempdir().unwrap();
    let target = restored.path().join("data");
    let report = restore(&RestoreArgs {
        from: repo.path().to_owned(),
        snapshot: None,
        data: target.clone(),
    })
    .await
    .expect("the restore");
    assert_eq!(report.snapshot, second.snapshot);
    assert_eq!(report.originals, second.originals);
    assert!(
        report
            .audit
            .iter()
            .any(|(bureau, entries)| bureau == "b1" && *entries > 0),
        "{report:?}"
    );

    // A restore never overwrites an installation.
    let again = restore(&RestoreArgs {
        from: repo.path().to_owned(),
        snapshot: None,
        data: target.clone(),
    })
    .await
    .expect_err("a restore over an installation is refused");
    assert!(
        format!("{again:#}").contains("holds an installation"),
        "{again:#}"
    );

    // The restored installation serves every clip receipted before the second backup,
    // with its receipt's hash, and its bytes are the bytes uploaded.
    let original_receipts: std::collections::BTreeMap<String, String> = receipts
        .iter()
        .map(|r| {
            (
                r["clip_id"].as_str().unwrap().to_owned(),
                r["sha256"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    app.app.stop().await;
    let server =
        spawn_standalone_adjusted(Arc::new(custodian_platform::clock::SystemClock), |args| {
            args.data = target.clone();
            args.catalog.media_steps = vec![None];
        })
        .await;
    let served: std::collections::BTreeSet<String> = server.clip_ids().await.into_iter().collect();
    assert!(
        before_second.is_subset(&served),
        "lost in the restore: {:?}",
        before_second.difference(&served).collect::<Vec<_>>()
    );
    for id in &before_second {
        let record = server
            .get_json(&server.token, &format!("/v1/clips/{id}"))
            .await;
        let file = std::fs::read(server_original(&target, id)).unwrap();
        assert_eq!(
            record["sha256"],
            Sha256Digest::of(&file).to_hex(),
            "clip {id}"
        );
        if let Some(receipted) = original_receipts.get(id) {
            assert_eq!(record["sha256"], *receipted, "clip {id}");
        }
    }
    // The configuration file came back beside the data, not over the live one.
    assert_eq!(
        std::fs::read_to_string(target.join("restored-config/custodian.env")).unwrap(),
        "CUSTODIAN_LISTEN=127.0.0.1:8080\n"
    );
    server.app.stop().await;

    // The older snapshot, by name: the clips of its time.
    let older = restored.path().join("older");
    let report = restore(&RestoreArgs {
        from: repo.path().to_owned(),
        snapshot: Some(first.snapshot.clone()),
        data: older,
    })
    .await
    .expect("the older snapshot restores");
    assert_eq!(report.originals, first.originals);

    // A damaged file in the repository is found, and nothing is claimed restored.
    let manifest: Value = serde_json::from_slice(
        &std::fs::read(
            repo.path()
                .join(format!("snapshots/{}.json", second.snapshot)),
        )
        .unwrap(),
    )
    .unwrap();
    let (_, victim) = manifest["stores"]["blobs"]
        .as_object()
        .unwrap()
        .iter()
        .find(|(key, _)| key.contains("originals/"))
        .unwrap();
    let sha = victim["sha256"].as_str().unwrap();
    let object = repo.path().join("objects").join(&sha[..2]).join(sha);
    let mut bytes = std::fs::read(&object).unwrap();
    bytes[0] ^= 0xff;
    std::fs::write(&object, bytes).unwrap();
    let damaged = restore(&RestoreArgs {
        from: repo.path().to_owned(),
        snapshot: None,
        data: restored.path().join("damaged"),
    })
    .await
    .expect_err("a damaged backup is refused");
    assert!(format!("{damaged:#}").contains("damaged"), "{damaged:#}");
}

#[tokio::test]
async fn backup_refuses_a_directory_that_is_not_an_installation() {
    let empty = tempfile::tempdir().unwrap();
    let repo = tempfile::tempdir().unwrap();
    let refused = backup(&backup_args(empty.path(), repo.path()))
        .await
        .expect_err("nothing to back up");
    assert!(
        format!("{refused:#}").contains("not a standalone data directory"),
        "{refused:#}"
    );
    let not_a_repo = restore(&RestoreArgs {
        from: empty.path().to_owned(),
        snapshot: None,
        data: repo.path().join("x"),
    })
    .await
    .expect_err("not a repository");
    assert!(format!("{not_a_repo:#}").contains("not a backup repository"));
}
