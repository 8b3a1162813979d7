//! The blob store contract, run against both adapters: the local directory and a real
//! S3-compatible server (Garage, started by scripts/test.sh).

use bytes::Bytes;
use custodian_core::Sha256Digest;
use custodian_platform::blob::{
    BlobError, BlobStore, LocalBlobStore, PartBody, PartUpload, WrittenObject,
};
use custodian_platform::testing::{fresh_s3_store, open_multipart_keys};
use tokio::io::AsyncReadExt;

fn pattern(len: usize, seed: u8) -> Vec<u8> {
    (0..len)
        .map(|i| (i as u8).wrapping_mul(31).wrapping_add(seed))
        .collect()
}

async fn write_in_chunks(
    store: &dyn BlobStore,
    key: &str,
    data: &[u8],
    chunk: usize,
) -> WrittenObject {
    let mut writer = store.create(key).await.expect("create");
    for piece in data.chunks(chunk) {
        writer
            .write(Bytes::copy_from_slice(piece))
            .await
            .expect("write");
    }
    assert_eq!(writer.written(), data.len() as u64);
    writer.finish().await.expect("finish")
}

async fn read_all(store: &dyn BlobStore, key: &str) -> Vec<u8> {
    let mut reader = store.open(key).await.expect("open");
    let mut out = Vec::new();
    reader.read_to_end(&mut out).await.expect("read");
    out
}

async fn contract(store: &dyn BlobStore, big: usize) {
    // Small object: one request.
    let small = pattern(100_000, 1);
    let written = write_in_chunks(store, "originals/b1/2026/01/01/small.mp4", &small, 7_000).await;
    assert_eq!(written.sha256, Sha256Digest::of(&small));
    assert_eq!(written.size, small.len() as u64);
    store.verify(&written).await.expect("verify small");
    assert_eq!(read_all(store, &written.key).await, small);
    assert_eq!(
        store.size_of(&written.key).await.unwrap(),
        Some(small.len() as u64)
    );
    // A range of it, as a player seeking asks for, including the last byte and none at all.
    for (start, length) in [(0u64, 10u64), (12_345, 4_096), (99_990, 10), (500, 0)] {
        let mut reader = store
            .open_range(&written.key, start, length)
            .await
            .expect("open a range");
        let mut part = Vec::new();
        tokio::io::AsyncReadExt::read_to_end(&mut reader, &mut part)
            .await
            .unwrap();
        let (start, end) = (start as usize, (start + length) as usize);
        assert_eq!(part, small[start..end], "bytes {start}..{end}");
    }

    // An original is never overwritten.
    match store.create(&written.key).await {
        Err(BlobError::AlreadyExists { .. }) => {}
        other => panic!("second create of a key: {:?}", other.map(|_| ())),
    }

    // Large object: several parts where the store uses them.
    let large = pattern(big, 2);
    let written_large = write_in_chunks(
        store,
        "originals/b1/2026/01/01/large.mp4",
        &large,
        64 * 1024 + 3,
    )
    .await;
    assert_eq!(written_large.sha256, Sha256Digest::of(&large));
    store.verify(&written_large).await.expect("verify large");
    assert_eq!(read_all(store, &written_large.key).await, large);

    // Verification compares with what was written: a wrong claim is caught.
    let wrong = WrittenObject {
        sha256: Sha256Digest::of(b"something else"),
        part_digests: Vec::new(),
        ..written.clone()
    };
    assert!(
        matches!(store.verify(&wrong).await, Err(BlobError::Mismatch { .. })),
        "wrong digest not caught"
    );
    let short = WrittenObject {
        size: written.size - 1,
        ..written.clone()
    };
    assert!(
        matches!(store.verify(&short).await, Err(BlobError::Mismatch { .. })),
        "wrong size not caught"
    );

    // An aborted write leaves nothing under its key.
    let mut writer = store
        .create("originals/b1/2026/01/01/aborted.mp4")
        .await
        .unwrap();
    writer.write(Bytes::from(pattern(big, 3))).await.unwrap();
    writer.abort().await;
    assert_eq!(
        store
            .size_of("originals/b1/2026/01/01/aborted.mp4")
            .await
            .unwrap(),
        None
    );

    // Deleting is idempotent, and a missing object is reported as such.
    store.delete(&written.key).await.unwrap();
    store.delete(&written.key).await.unwrap();
    assert!(matches!(
        store.open(&written.key).await,
        Err(BlobError::NotFound { .. })
    ));
    // Listing a folder names what is under it, nested too, sorted, and nothing else.
    for key in [
        "audit-anchors/b2/00000000000000000002.json",
        "audit-anchors/b1/00000000000000000007.json",
        "audit-anchors/b1/00000000000000000003.json",
        "audit-anchorsX/b1/1.json",
    ] {
        let mut writer = store.create(key).await.unwrap();
        writer.write(Bytes::from_static(b"{}")).await.unwrap();
        writer.finish().await.unwrap();
    }
    assert_eq!(
        store.list("audit-anchors/").await.unwrap(),
        vec![
            "audit-anchors/b1/00000000000000000003.json",
            "audit-anchors/b1/00000000000000000007.json",
            "audit-anchors/b2/00000000000000000002.json",
        ]
    );
    assert!(store.list("nothing-here/").await.unwrap().is_empty());
    store.check().await.expect("store answers");
}

/// The resumable (multipart) writer: parts added through a handle rebuilt from its saved
/// strings (another replica, or after a restart), a part sent again replaces the first,
/// completion yields exactly the bytes of the parts in order, and an abort leaves nothing.
async fn multipart_contract(store: &dyn BlobStore) {
    let part = store.part_sizes().min.max(1000);
    let data = pattern(2 * part + 1234, 9);
    let key = "originals/b1/2026/01/02/resumable.mp4";
    let upload = store.start_parts(key).await.expect("start");
    let first = store
        .put_part(
            &upload,
            1,
            PartBody::new(Bytes::copy_from_slice(&data[..part])),
        )
        .await
        .expect("part 1");
    assert_eq!(first.size, part as u64);
    assert_eq!(first.sha256, Sha256Digest::of(&data[..part]));
    let elsewhere = PartUpload {
        key: upload.key.clone(),
        upload_id: upload.upload_id.clone(),
    };
    store
        .put_part(&elsewhere, 2, PartBody::new(Bytes::from(pattern(part, 77))))
        .await
        .expect("part 2, wrong bytes");
    let second = store
        .put_part(
            &elsewhere,
            2,
            PartBody::new(Bytes::copy_from_slice(&data[part..2 * part])),
        )
        .await
        .expect("part 2 again");
    let last = store
        .put_part(
            &elsewhere,
            3,
            PartBody::new(Bytes::copy_from_slice(&data[2 * part..])),
        )
        .await
        .expect("last part");
    assert_eq!(
        store.size_of(key).await.unwrap(),
        None,
        "visible before completion"
    );
    let written = store
        .complete_parts(&elsewhere, &[first, second, last], Sha256Digest::of(&data))
        .await
        .expect("complete");
    assert_eq!(written.size, data.len() as u64);
    assert_eq!(written.sha256, Sha256Digest::of(&data));
    store.verify(&written).await.expect("verify multipart");
    assert_eq!(read_all(store, key).await, data);
    assert!(matches!(
        store.start_parts(key).await,
        Err(BlobError::AlreadyExists { .. })
    ));

    let dropped = "originals/b1/2026/01/02/dropped.mp4";
    let upload = store.start_parts(dropped).await.expect("start");
    store
        .put_part(&upload, 1, PartBody::new(Bytes::from(pattern(part, 3))))
        .await
        .unwrap();
    store.abort_parts(&upload).await.expect("abort");
    store.abort_parts(&upload).await.expect("abort again");
    assert_eq!(store.size_of(dropped).await.unwrap(), None);
    assert!(
        store
            .put_part(&upload, 2, PartBody::new(Bytes::from(pattern(part, 3))))
            .await
            .is_err(),
        "a part added to an aborted upload"
    );
}

#[tokio::test]
async fn local_store_keeps_the_multipart_contract() {
    let dir = tempfile::tempdir().unwrap();
    let store = LocalBlobStore::open(dir.path()).await.unwrap();
    multipart_contract(&store).await;
    // A restart (reopening the store) keeps the parts of unfinished uploads.
    let upload = store.start_parts("k/resumed.mp4").await.unwrap();
    let part = store
        .put_part(
            &upload,
            1,
            PartBody::new(Bytes::from_static(b"before the restart")),
        )
        .await
        .unwrap();
    drop(store);
    let store = LocalBlobStore::open(dir.path()).await.unwrap();
    let written = store
        .complete_parts(&upload, &[part], Sha256Digest::of(b"before the restart"))
        .await
        .expect("parts survive a restart");
    store.verify(&written).await.unwrap();
    // The local store re-hashes at completion and refuses a wrong whole digest.
    let upload = store.start_parts("k/wrong.mp4").await.unwrap();
    let part = store
        .put_part(&upload, 1, PartBody::new(Bytes::from_static(b"abc")))
        .await
        .unwrap();
    assert!(matches!(
        store
            .complete_parts(&upload, &[part], Sha256Digest::of(b"abd"))
            .await,
        Err(BlobError::Mismatch { .. })
    ));
    assert_eq!(store.size_of("k/wrong.mp4").await.unwrap(), None);
}

#[tokio::test]
async fn s3_store_keeps_the_multipart_contract() {
    let (store, _) = fresh_s3_store().await;
    multipart_contract(&store).await;
}

#[tokio::test]
async fn local_store_keeps_the_contract() {
    let dir = tempfile::tempdir().unwrap();
    let store = LocalBlobStore::open(dir.path()).await.unwrap();
    contract(&store, 3 << 20).await;
    // Nothing is left in staging.
    let staged = std::fs::read_dir(dir.path().join(".staging"))
        .unwrap()
        .count();
    assert_eq!(staged, 0);
}

#[tokio::test]
async fn local_store_refuses_keys_outside_its_root() {
    let dir = tempfile::tempdir().unwrap();
    let store = LocalBlobStore::open(dir.path().join("root")).await.unwrap();
    for key in ["../escape", "/etc/passwd", "a/../../b", ".staging/x", ""] {
        assert!(store.create(key).await.is_err(), "{key:?} accepted");
    }
}

#[tokio::test]
async fn local_store_detects_a_file_changed_after_writing() {
    let dir = tempfile::tempdir().unwrap();
    let store = LocalBlobStore::open(dir.path()).await.unwrap();
    let written = write_in_chunks(&store, "k/clip.mp4", &pattern(10_000, 4), 1000).await;
    let path = dir.path().join("k/clip.mp4");
    let mode = std::fs::metadata(&path).unwrap().permissions();
    assert!(mode.readonly(), "stored originals are read-only");
    let mut bytes = std::fs::read(&path).unwrap();
    bytes[5000] ^= 1;
    std::fs::remove_file(&path).unwrap();
    std::fs::write(&path, bytes).unwrap();
    assert!(matches!(
        store.verify(&written).await,
        Err(BlobError::Mismatch { .. })
    ));
}

#[tokio::test]
async fn s3_store_keeps_the_contract() {
    let (store, _) = fresh_s3_store().await;
    // 12 MiB in 5 MiB parts: a multipart upload of three parts, the last one short.
    contract(&store, 12 << 20).await;
}

#[tokio::test]
async fn s3_multipart_verification_uses_the_part_digests() {
    let (store, _) = fresh_s3_store().await;
    let data = pattern(11 << 20, 5);
    let written = write_in_chunks(&store, "k/multi.mp4", &data, 1 << 20).await;
    assert_eq!(written.part_digests.len(), 3);
    store
        .verify(&written)
        .await
        .expect("composite checksum matches");
    // The pattern repeats every 256 bytes, so the two full parts are alike: swap a full part
    // with the short last one.
    let mut reordered = written.clone();
    reordered.part_digests.swap(1, 2);
    assert!(matches!(
        store.verify(&reordered).await,
        Err(BlobError::Mismatch { .. })
    ));
}

/// Part bodies go unsigned (UNSIGNED-PAYLOAD), so the SHA-256 sent with each is all that
/// binds the bytes the store keeps to the bytes hashed: the store must check it.
#[tokio::test]
async fn s3_store_refuses_a_part_whose_bytes_do_not_match_its_digest() {
    let (store, _) = fresh_s3_store().await;
    let part = store.part_sizes().min;
    let data = pattern(part + 10, 4);
    let key = "k/damaged-part.mp4";
    let upload = store.start_parts(key).await.unwrap();
    let damaged = PartBody::hashed(
        Bytes::from(pattern(part, 5)),
        Sha256Digest::of(&data[..part]),
    );
    assert!(
        store.put_part(&upload, 1, damaged).await.is_err(),
        "the store took a part that does not hash to its checksum"
    );
    let first = store
        .put_part(
            &upload,
            1,
            PartBody::new(Bytes::copy_from_slice(&data[..part])),
        )
        .await
        .expect("the same part, undamaged");
    let last = store
        .put_part(
            &upload,
            2,
            PartBody::new(Bytes::copy_from_slice(&data[part..])),
        )
        .await
        .expect("last part");
    let written = store
        .complete_parts(&upload, &[first, last], Sha256Digest::of(&data))
        .await
        .expect("complete");
    store.verify(&written).await.expect("verify");
    assert_eq!(read_all(&store, key).await, data);
}

#[tokio::test]
async fn s3_store_down_is_transient() {
    let mut settings = custodian_platform::testing::s3_settings("down-bucket");
    settings.endpoint = Some("http://127.0.0.1:9".into());
    let store = custodian_platform::blob::S3BlobStore::new(&settings);
    let err = store.check().await.expect_err("nothing listens on port 9");
    assert!(err.is_transient(), "{err}");
    let err = store
        .create("k")
        .await
        .err()
        .expect("create against a dead store");
    assert!(err.is_transient(), "{err}");
}

#[tokio::test]
async fn s3_store_drops_multipart_writes_left_open_under_a_key() {
    let (store, _) = fresh_s3_store().await;
    let key = "originals/b1/2026/01/02/left-open.mp4";
    let neighbour = "originals/b1/2026/01/02/left-open.mp4.other";
    // Two writes whose abort never reached the store, and one under a longer key.
    for name in [key, key, neighbour] {
        let upload = store.start_parts(name).await.expect("start");
        store
            .put_part(&upload, 1, PartBody::new(Bytes::from(pattern(5 << 20, 7))))
            .await
            .expect("part");
    }
    assert_eq!(store.abort_unfinished(key).await.expect("abort"), 2);
    assert_eq!(store.abort_unfinished(key).await.expect("again"), 0);
    assert_eq!(
        open_multipart_keys(&store).await.unwrap(),
        [neighbour],
        "only the other key's write is left"
    );
    assert_eq!(store.size_of(key).await.unwrap(), None);
}
