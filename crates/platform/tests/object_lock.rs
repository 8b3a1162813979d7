//! The archive tier's Object Lock path. Garage has no Object Lock, so detection is checked
//! there (it must say so, not pretend); the locking itself against moto's emulation of it.

use bytes::Bytes;
use chrono::{Duration, Utc};
use custodian_platform::blob::{BlobStore, LockSupport, WriteOptions};
use custodian_platform::testing::{fresh_moto_store, fresh_s3_store};

#[tokio::test]
async fn garage_says_plainly_that_it_cannot_lock() {
    let (store, _) = fresh_s3_store().await;
    match store.lock_support().await {
        LockSupport::Unsupported(why) => assert!(why.contains(store.bucket()), "{why}"),
        LockSupport::Compliance => panic!("Garage reported Object Lock"),
    }
}

#[tokio::test]
async fn a_bucket_without_object_lock_is_reported_as_such() {
    let store = fresh_moto_store(false).await;
    assert!(matches!(
        store.lock_support().await,
        LockSupport::Unsupported(_)
    ));
}

#[tokio::test]
async fn archive_copies_are_locked_in_compliance_mode_and_cannot_be_deleted() {
    let store = fresh_moto_store(true).await;
    assert_eq!(store.lock_support().await, LockSupport::Compliance);
    let until = Utc::now() + Duration::days(365 * 30);
    let options = WriteOptions {
        retain_until: Some(until),
        legal_hold: true,
        storage_class: Some("STANDARD_IA".into()),
    };
    let mut writer = store
        .create_with("archive/originals/b1/clip.mp4", &options)
        .await
        .unwrap();
    writer.write(Bytes::from_static(b"evidence")).await.unwrap();
    let written = writer.finish().await.unwrap();
    store.verify(&written).await.unwrap();

    let client = store.client();
    let key = "archive/originals/b1/clip.mp4";
    // moto answers GetObjectRetention with the object's bytes (../shared/notes/s3.md), so the
    // lock is read from HeadObject's headers, as a client would see it.
    let head = client
        .head_object()
        .bucket(store.bucket())
        .key(key)
        .send()
        .await
        .unwrap();
    assert_eq!(
        head.object_lock_mode().map(|m| m.as_str()),
        Some("COMPLIANCE")
    );
    assert_eq!(
        head.object_lock_retain_until_date().map(|d| d.secs()),
        Some(until.timestamp())
    );
    assert_eq!(
        head.object_lock_legal_hold_status().map(|s| s.as_str()),
        Some("ON")
    );
    assert_eq!(
        head.storage_class().map(|c| c.as_str()),
        Some("STANDARD_IA")
    );

    // Deleting the locked version is refused, and the copy is still there.
    let versions = client
        .list_object_versions()
        .bucket(store.bucket())
        .prefix(key)
        .send()
        .await
        .unwrap();
    let version = versions.versions()[0]
        .version_id()
        .expect("a version id")
        .to_owned();
    let refused = client
        .delete_object()
        .bucket(store.bucket())
        .key(key)
        .version_id(&version)
        .send()
        .await;
    assert!(refused.is_err(), "a locked version was deleted");
    let still = client
        .get_object()
        .bucket(store.bucket())
        .key(key)
        .version_id(&version)
        .send()
        .await
        .unwrap();
    assert_eq!(
        still.body.collect().await.unwrap().into_bytes().as_ref(),
        b"evidence"
    );
}
