//! The blob store port: where originals and their derived files live. Two adapters: a local
//! directory (standalone) and S3-compatible object storage (distributed). Both hash what they
//! are given while it streams through, refuse to overwrite a key, and can re-read what they
//! stored to prove it is what was written.

mod local;
mod s3;

use std::pin::Pin;

use async_trait::async_trait;
use bytes::Bytes;
use custodian_core::Sha256Digest;
use sha2::{Digest, Sha256};
use tokio::io::AsyncRead;

pub use local::{LocalBlobStore, MANIFEST};
pub use s3::{S3BlobStore, S3Settings};

#[derive(Debug, thiserror::Error)]
pub enum BlobError {
    #[error("object {key} already exists; originals are never overwritten")]
    AlreadyExists { key: String },
    #[error("object {key} not found")]
    NotFound { key: String },
    #[error("blob store unavailable during {operation} on {key}: {message}")]
    Unavailable {
        operation: &'static str,
        key: String,
        message: String,
    },
    #[error("stored object {key} does not match what was written: {detail}")]
    Mismatch { key: String, detail: String },
    #[error("{operation} on {key} failed: {message}")]
    Failed {
        operation: &'static str,
        key: String,
        message: String,
    },
    #[error("file i/o on {path}: {source}")]
    Io {
        path: String,
        source: std::io::Error,
    },
}

impl BlobError {
    /// Whether trying again later may succeed (the store is down or overloaded), as opposed to
    /// a refusal that will repeat.
    pub fn is_transient(&self) -> bool {
        match self {
            Self::Unavailable { .. } => true,
            Self::Io { source, .. } => {
                !matches!(source.kind(), std::io::ErrorKind::PermissionDenied)
            }
            _ => false,
        }
    }
}

/// What a writer put in the store: enough to verify the stored object afterwards.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WrittenObject {
    pub key: String,
    pub size: u64,
    pub sha256: Sha256Digest,
    /// SHA-256 of each part, for stores that write in parts (S3 multipart); empty otherwise.
    pub part_digests: Vec<Sha256Digest>,
}

pub type BlobReader = Pin<Box<dyn AsyncRead + Send>>;

/// How an object is to be kept, where the store can say so (the archive tier).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct WriteOptions {
    /// Object Lock in COMPLIANCE mode until then, where the bucket has Object Lock.
    pub retain_until: Option<chrono::DateTime<chrono::Utc>>,
    /// An Object Lock legal hold, where the bucket has Object Lock.
    pub legal_hold: bool,
    /// A storage class such as GLACIER or DEEP_ARCHIVE, where the store has them.
    pub storage_class: Option<String>,
}

/// A multipart write in progress. It is named by plain strings the catalogue keeps, so any
/// replica, or this one after a restart, can add parts to it and complete it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PartUpload {
    pub key: String,
    pub upload_id: String,
}

/// A part's bytes and their SHA-256, which goes to the store with them so that it checks
/// what arrived. Callers that hash the bytes as they come in hand the digest over, so that no
/// part is hashed twice on the way.
#[derive(Debug, Clone)]
pub struct PartBody {
    bytes: Bytes,
    sha256: Sha256Digest,
}

impl PartBody {
    pub fn new(bytes: Bytes) -> Self {
        let sha256 = Sha256Digest::of(&bytes);
        Self { bytes, sha256 }
    }

    /// `sha256` must be the digest of `bytes`; a wrong one makes the store refuse the part
    /// (S3) or the finished object (the local store re-hashes it).
    pub fn hashed(bytes: Bytes, sha256: Sha256Digest) -> Self {
        Self { bytes, sha256 }
    }

    pub fn sha256(&self) -> Sha256Digest {
        self.sha256
    }

    pub fn len(&self) -> usize {
        self.bytes.len()
    }

    pub fn is_empty(&self) -> bool {
        self.bytes.is_empty()
    }
}

/// One part of a multipart write, as the store took it.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct StoredPart {
    pub number: u32,
    pub size: u64,
    pub sha256: Sha256Digest,
    /// The store's tag for the part (S3's ETag), needed to complete the upload.
    pub etag: String,
}

/// How a store wants a multipart write cut.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PartSizes {
    /// Every part but the last must hold at least this many bytes (S3: 5 MiB).
    pub min: usize,
    /// Parts are cut at this size when the bytes are there.
    pub preferred: usize,
    /// The most parts one object may have (S3: 10,000).
    pub max_parts: u32,
}

/// Whether a store can refuse deletion of what it keeps (S3 Object Lock).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LockSupport {
    Compliance,
    Unsupported(String),
}

#[async_trait]
pub trait BlobStore: Send + Sync {
    /// Starts writing a new object. Fails with `AlreadyExists` if the key is taken.
    async fn create(&self, key: &str) -> Result<Box<dyn BlobWriter>, BlobError> {
        self.create_with(key, &WriteOptions::default()).await
    }
    async fn create_with(
        &self,
        key: &str,
        options: &WriteOptions,
    ) -> Result<Box<dyn BlobWriter>, BlobError>;
    /// Whether objects written with `retain_until` are really locked.
    async fn lock_support(&self) -> LockSupport;
    /// Reads the stored object back (size and checksum, as the store itself reports or
    /// recomputes them) and compares with what was written.
    async fn verify(&self, written: &WrittenObject) -> Result<(), BlobError>;
    /// The object's size, or `None` if there is no such object.
    async fn size_of(&self, key: &str) -> Result<Option<u64>, BlobError>;
    async fn open(&self, key: &str) -> Result<BlobReader, BlobError>;
    /// Reads `length` bytes from `start` (a player seeking in a viewing copy).
    async fn open_range(&self, key: &str, start: u64, length: u64)
        -> Result<BlobReader, BlobError>;
    /// Removes an object. Only for uploads that never became clips, and for retention.
    async fn delete(&self, key: &str) -> Result<(), BlobError>;
    /// The keys of every object under `prefix` (a folder ending in `/`), sorted. For small
    /// sets of records (audit anchors), not for the footage.
    async fn list(&self, prefix: &str) -> Result<Vec<String>, BlobError>;
    /// How parts of a multipart write must be cut.
    fn part_sizes(&self) -> PartSizes;
    /// Starts a multipart write of a new object whose parts may arrive over hours, from any
    /// replica. Fails with `AlreadyExists` if the key is taken.
    async fn start_parts(&self, key: &str) -> Result<PartUpload, BlobError>;
    /// Stores part `number` (from 1); sending the same number again replaces it.
    async fn put_part(
        &self,
        upload: &PartUpload,
        number: u32,
        body: PartBody,
    ) -> Result<StoredPart, BlobError>;
    /// Joins `parts`, in order, into the object. `sha256` is the whole object's digest as
    /// the caller computed it; the store checks it where it can (the local store re-hashes)
    /// and otherwise keeps it for `verify` with the part digests.
    async fn complete_parts(
        &self,
        upload: &PartUpload,
        parts: &[StoredPart],
        sha256: Sha256Digest,
    ) -> Result<WrittenObject, BlobError>;
    /// Drops a multipart write and its parts; nothing is left under its key. Aborting one
    /// that is already gone succeeds.
    async fn abort_parts(&self, upload: &PartUpload) -> Result<(), BlobError>;
    /// Drops every multipart write still open under `key`, whoever started it: a write whose
    /// own abort failed (the store was down) leaves its parts behind, unlisted but kept.
    /// Answers how many were dropped. Stores whose writes leave nothing behind answer 0.
    async fn abort_unfinished(&self, _key: &str) -> Result<usize, BlobError> {
        Ok(0)
    }
    /// Answers whether the store is reachable and writable, for readiness.
    async fn check(&self) -> Result<(), BlobError>;
}

/// An object being written. Dropping it without `finish` leaves nothing behind that is
/// visible under its key; `abort` also cleans up what was staged.
#[async_trait]
pub trait BlobWriter: Send {
    async fn write(&mut self, chunk: Bytes) -> Result<(), BlobError>;
    async fn finish(self: Box<Self>) -> Result<WrittenObject, BlobError>;
    async fn abort(self: Box<Self>);
    fn written(&self) -> u64;
}

/// Running size and SHA-256 of everything written so far.
#[derive(Default)]
pub(crate) struct RunningDigest {
    hasher: Sha256,
    size: u64,
}

impl RunningDigest {
    pub(crate) fn update(&mut self, chunk: &[u8]) {
        self.hasher.update(chunk);
        self.size += chunk.len() as u64;
    }

    pub(crate) fn size(&self) -> u64 {
        self.size
    }

    pub(crate) fn finish(self) -> (u64, Sha256Digest) {
        (
            self.size,
            Sha256Digest::from_bytes(self.hasher.finalize().into()),
        )
    }
}

/// Size and SHA-256 of a stored object, read whole; no faster than `rate` bytes a second when
/// given (the scrub's pace), else as fast as the store gives it (a rebuild).
pub async fn hash_stored(
    store: &dyn BlobStore,
    key: &str,
    rate: Option<u64>,
) -> Result<(u64, Sha256Digest), BlobError> {
    use tokio::io::AsyncReadExt;
    let mut reader = store.open(key).await?;
    let mut digest = RunningDigest::default();
    let mut buffer = vec![0u8; 1 << 20];
    let started = std::time::Instant::now();
    loop {
        let read = reader.read(&mut buffer).await.map_err(|e| BlobError::Io {
            path: key.to_owned(),
            source: e,
        })?;
        if read == 0 {
            break;
        }
        digest.update(&buffer[..read]);
        if let Some(rate) = rate {
            // Rate limiting, not synchronisation: stay under `rate` on average.
            let due = std::time::Duration::from_secs_f64(digest.size() as f64 / rate as f64);
            if let Some(ahead) = due.checked_sub(started.elapsed()) {
                tokio::time::sleep(ahead).await;
            }
        }
    }
    Ok(digest.finish())
}

/// Copies a stored object into a local file (FFmpeg reads files, and MP4s need seeking).
pub async fn copy_to_file(
    store: &dyn BlobStore,
    key: &str,
    path: &std::path::Path,
) -> Result<u64, BlobError> {
    let io = |source| BlobError::Io {
        path: path.display().to_string(),
        source,
    };
    let mut reader = store.open(key).await?;
    let mut file = tokio::fs::File::create(path).await.map_err(io)?;
    let copied = tokio::io::copy(&mut reader, &mut file).await.map_err(io)?;
    tokio::io::AsyncWriteExt::flush(&mut file)
        .await
        .map_err(io)?;
    Ok(copied)
}

/// Stores a local file under `key`, replacing what an earlier run of the same job left
/// there, and verifies it. Only for derived files (viewing copies, sidecars): originals are
/// never replaced.
pub async fn store_derived_file(
    store: &dyn BlobStore,
    key: &str,
    path: &std::path::Path,
) -> Result<WrittenObject, BlobError> {
    use tokio::io::AsyncReadExt;
    remove_derived(store, key).await?;
    let io = |source| BlobError::Io {
        path: path.display().to_string(),
        source,
    };
    let mut file = tokio::fs::File::open(path).await.map_err(io)?;
    let mut writer = store.create(key).await?;
    let mut buffer = vec![0u8; 1 << 20];
    loop {
        let read = match file.read(&mut buffer).await {
            Ok(read) => read,
            Err(e) => {
                writer.abort().await;
                return Err(io(e));
            }
        };
        if read == 0 {
            break;
        }
        if let Err(e) = writer.write(Bytes::copy_from_slice(&buffer[..read])).await {
            writer.abort().await;
            return Err(e);
        }
    }
    let written = writer.finish().await?;
    store.verify(&written).await?;
    Ok(written)
}

/// Stores `bytes` as a new object (`AlreadyExists` if the key is taken) and verifies it.
pub async fn store_new_bytes(
    store: &dyn BlobStore,
    key: &str,
    bytes: Bytes,
) -> Result<WrittenObject, BlobError> {
    let mut writer = store.create(key).await?;
    if let Err(e) = writer.write(bytes).await {
        writer.abort().await;
        return Err(e);
    }
    let written = writer.finish().await?;
    store.verify(&written).await?;
    Ok(written)
}

/// Stores `bytes` under a derived key, replacing what was there, and verifies it.
pub async fn store_derived_bytes(
    store: &dyn BlobStore,
    key: &str,
    bytes: Bytes,
) -> Result<WrittenObject, BlobError> {
    remove_derived(store, key).await?;
    store_new_bytes(store, key, bytes).await
}

/// Removes a derived file if it is there (never an original: callers pass derived keys).
pub async fn remove_derived(store: &dyn BlobStore, key: &str) -> Result<(), BlobError> {
    if store.size_of(key).await?.is_some() {
        store.delete(key).await?;
    }
    Ok(())
}
