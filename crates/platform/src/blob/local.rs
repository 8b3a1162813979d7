//! Blobs as files under one directory. A file is written under `.staging/`, flushed to disk,
//! then hard-linked to its key: the link is atomic and fails if the key exists, so a reader
//! never sees half a file and an original is never replaced. Stored files are made read-only.
//!
//! A multipart write (a resumable upload) keeps its parts as files under
//! `.parts/<upload id>/`, which survive a restart (unlike `.staging/`, cleared at start); its
//! completion joins them into a staging file that is published like any other.

use std::io::Read;
use std::os::unix::fs::PermissionsExt;
use std::path::{Component, Path, PathBuf};

use async_trait::async_trait;
use bytes::Bytes;
use custodian_core::Sha256Digest;
use sha2::{Digest, Sha256};
use tokio::io::AsyncWriteExt;

use super::{
    BlobError, BlobReader, BlobStore, BlobWriter, LockSupport, PartBody, PartSizes, PartUpload,
    RunningDigest, StoredPart, WriteOptions, WrittenObject,
};

const STAGING: &str = ".staging";
const PARTS: &str = ".parts";

#[derive(Debug, Clone)]
pub struct LocalBlobStore {
    root: PathBuf,
    manifest: bool,
}

/// The archive directory's list of what it holds, in `sha256sum` format, so
/// `sha256sum -c MANIFEST.sha256` checks it with nothing of ours.
pub const MANIFEST: &str = "MANIFEST.sha256";

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> BlobError + '_ {
    move |source| BlobError::Io {
        path: path.display().to_string(),
        source,
    }
}

impl LocalBlobStore {
    /// Opens (creating if needed) a store rooted at `root`, and clears staging files that a
    /// crash left behind: they never became objects.
    pub async fn open(root: impl Into<PathBuf>) -> Result<Self, BlobError> {
        let root = root.into();
        let staging = root.join(STAGING);
        tokio::fs::create_dir_all(&staging)
            .await
            .map_err(io(&staging))?;
        let mut entries = tokio::fs::read_dir(&staging).await.map_err(io(&staging))?;
        while let Some(entry) = entries.next_entry().await.map_err(io(&staging))? {
            let path = entry.path();
            tokio::fs::remove_file(&path).await.map_err(io(&path))?;
        }
        Ok(Self {
            root,
            manifest: false,
        })
    }

    /// A store its server may be writing at this moment, for reading it from another process
    /// (`custodian backup`, `custodian audit verify`): nothing is created, and the staging
    /// files of the server's writes in progress are left alone.
    pub fn open_beside_its_server(root: impl Into<PathBuf>) -> Self {
        Self {
            root: root.into(),
            manifest: false,
        }
    }

    /// A store that also appends every object it writes to `MANIFEST.sha256` (the standalone
    /// archive tier).
    pub async fn open_with_manifest(root: impl Into<PathBuf>) -> Result<Self, BlobError> {
        Ok(Self {
            manifest: true,
            ..Self::open(root).await?
        })
    }

    /// The file behind a key. Keys are relative paths of plain components; anything that
    /// could climb out of the root is refused.
    fn path_of(&self, key: &str) -> Result<PathBuf, BlobError> {
        let relative = Path::new(key);
        let plain = !key.is_empty()
            && relative
                .components()
                .all(|c| matches!(c, Component::Normal(part) if part != STAGING && part != PARTS));
        if !plain {
            return Err(BlobError::Failed {
                operation: "resolve",
                key: key.to_owned(),
                message: "not a plain relative key".into(),
            });
        }
        Ok(self.root.join(relative))
    }

    /// The directory of a multipart write's parts. Upload ids are ours (UUIDs); anything
    /// else is refused rather than joined into a path.
    fn parts_dir(&self, upload: &PartUpload) -> Result<PathBuf, BlobError> {
        let id = uuid::Uuid::parse_str(&upload.upload_id).map_err(|_| BlobError::Failed {
            operation: "resolve parts",
            key: upload.key.clone(),
            message: format!("{:?} is not an upload id of this store", upload.upload_id),
        })?;
        Ok(self.root.join(PARTS).join(id.to_string()))
    }
}

#[async_trait]
impl BlobStore for LocalBlobStore {
    async fn create_with(
        &self,
        key: &str,
        _options: &WriteOptions,
    ) -> Result<Box<dyn BlobWriter>, BlobError> {
        let target = self.path_of(key)?;
        if tokio::fs::try_exists(&target).await.map_err(io(&target))? {
            return Err(BlobError::AlreadyExists {
                key: key.to_owned(),
            });
        }
        let staging = self
            .root
            .join(STAGING)
            .join(uuid::Uuid::new_v4().to_string());
        let file = tokio::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&staging)
            .await
            .map_err(io(&staging))?;
        Ok(Box::new(LocalWriter {
            key: key.to_owned(),
            target,
            staging,
            file,
            digest: RunningDigest::default(),
            manifest: self.manifest.then(|| self.root.join(MANIFEST)),
        }))
    }

    async fn verify(&self, written: &WrittenObject) -> Result<(), BlobError> {
        let path = self.path_of(&written.key)?;
        let key = written.key.clone();
        let (size, sha256) = tokio::task::spawn_blocking(move || hash_file(&path))
            .await
            .map_err(|e| BlobError::Failed {
                operation: "verify",
                key: key.clone(),
                message: e.to_string(),
            })??;
        if size != written.size || sha256 != written.sha256 {
            return Err(BlobError::Mismatch {
                key: written.key.clone(),
                detail: format!(
                    "wrote {} bytes {}, file has {size} bytes {sha256}",
                    written.size, written.sha256
                ),
            });
        }
        Ok(())
    }

    async fn size_of(&self, key: &str) -> Result<Option<u64>, BlobError> {
        let path = self.path_of(key)?;
        match tokio::fs::metadata(&path).await {
            Ok(meta) => Ok(Some(meta.len())),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(io(&path)(e)),
        }
    }

    async fn open(&self, key: &str) -> Result<BlobReader, BlobError> {
        let path = self.path_of(key)?;
        match tokio::fs::File::open(&path).await {
            Ok(file) => Ok(Box::pin(file)),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Err(BlobError::NotFound {
                key: key.to_owned(),
            }),
            Err(e) => Err(io(&path)(e)),
        }
    }

    async fn open_range(
        &self,
        key: &str,
        start: u64,
        length: u64,
    ) -> Result<BlobReader, BlobError> {
        use tokio::io::{AsyncReadExt, AsyncSeekExt};
        let path = self.path_of(key)?;
        let mut file = match tokio::fs::File::open(&path).await {
            Ok(file) => file,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                return Err(BlobError::NotFound {
                    key: key.to_owned(),
                })
            }
            Err(e) => return Err(io(&path)(e)),
        };
        file.seek(std::io::SeekFrom::Start(start))
            .await
            .map_err(io(&path))?;
        Ok(Box::pin(file.take(length)))
    }

    async fn list(&self, prefix: &str) -> Result<Vec<String>, BlobError> {
        let prefix = prefix.trim_end_matches('/');
        // The empty prefix is every object (a backup's listing).
        let dir = if prefix.is_empty() {
            self.root.clone()
        } else {
            self.path_of(prefix)?
        };
        let mut keys = Vec::new();
        let mut pending = vec![dir];
        while let Some(dir) = pending.pop() {
            let mut entries = match tokio::fs::read_dir(&dir).await {
                Ok(entries) => entries,
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
                Err(e) => return Err(io(&dir)(e)),
            };
            while let Some(entry) = entries.next_entry().await.map_err(io(&dir))? {
                let path = entry.path();
                // Writes in progress, parts of unfinished uploads and the manifest are the
                // store's own files, never objects.
                if dir == self.root
                    && [STAGING, PARTS, MANIFEST]
                        .iter()
                        .any(|own| entry.file_name() == *own)
                {
                    continue;
                }
                if entry.file_type().await.map_err(io(&path))?.is_dir() {
                    pending.push(path);
                } else if let Ok(relative) = path.strip_prefix(&self.root) {
                    keys.push(relative.to_string_lossy().into_owned());
                }
            }
        }
        keys.sort();
        Ok(keys)
    }

    async fn delete(&self, key: &str) -> Result<(), BlobError> {
        let path = self.path_of(key)?;
        match tokio::fs::remove_file(&path).await {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
            Err(e) => Err(io(&path)(e)),
        }
    }

    async fn check(&self) -> Result<(), BlobError> {
        let staging = self.root.join(STAGING);
        let probe = staging.join(format!("probe-{}", uuid::Uuid::new_v4()));
        tokio::fs::write(&probe, b"ok").await.map_err(io(&probe))?;
        tokio::fs::remove_file(&probe).await.map_err(io(&probe))
    }

    fn part_sizes(&self) -> PartSizes {
        // A file takes parts of any size, so no bytes need to wait for a part to fill.
        PartSizes {
            min: 1,
            preferred: 8 << 20,
            max_parts: u32::MAX,
        }
    }

    async fn start_parts(&self, key: &str) -> Result<PartUpload, BlobError> {
        let target = self.path_of(key)?;
        if tokio::fs::try_exists(&target).await.map_err(io(&target))? {
            return Err(BlobError::AlreadyExists {
                key: key.to_owned(),
            });
        }
        let upload = PartUpload {
            key: key.to_owned(),
            upload_id: uuid::Uuid::new_v4().to_string(),
        };
        let dir = self.parts_dir(&upload)?;
        tokio::fs::create_dir_all(&dir).await.map_err(io(&dir))?;
        Ok(upload)
    }

    async fn put_part(
        &self,
        upload: &PartUpload,
        number: u32,
        body: PartBody,
    ) -> Result<StoredPart, BlobError> {
        let dir = self.parts_dir(upload)?;
        if !tokio::fs::try_exists(&dir).await.map_err(io(&dir))? {
            return Err(BlobError::NotFound {
                key: upload.key.clone(),
            });
        }
        let temp = dir.join(format!("{number}.{}", uuid::Uuid::new_v4().simple()));
        let path = dir.join(number.to_string());
        let mut file = tokio::fs::File::create(&temp).await.map_err(io(&temp))?;
        file.write_all(&body.bytes).await.map_err(io(&temp))?;
        file.sync_all().await.map_err(io(&temp))?;
        // A part sent again (a retried request) replaces the earlier one whole.
        tokio::fs::rename(&temp, &path).await.map_err(io(&path))?;
        Ok(StoredPart {
            number,
            size: body.len() as u64,
            sha256: body.sha256,
            etag: String::new(),
        })
    }

    async fn complete_parts(
        &self,
        upload: &PartUpload,
        parts: &[StoredPart],
        sha256: Sha256Digest,
    ) -> Result<WrittenObject, BlobError> {
        let dir = self.parts_dir(upload)?;
        let mut writer = self.create(&upload.key).await?;
        for part in parts {
            let path = dir.join(part.number.to_string());
            let bytes = match tokio::fs::read(&path).await {
                Ok(bytes) => Bytes::from(bytes),
                Err(e) => {
                    writer.abort().await;
                    return Err(io(&path)(e));
                }
            };
            // A part file that changed since it was taken is caught here, before it joins an
            // original.
            if bytes.len() as u64 != part.size || Sha256Digest::of(&bytes) != part.sha256 {
                writer.abort().await;
                return Err(BlobError::Mismatch {
                    key: upload.key.clone(),
                    detail: format!("part {} is not the part that was stored", part.number),
                });
            }
            if let Err(e) = writer.write(bytes).await {
                writer.abort().await;
                return Err(e);
            }
        }
        let written = writer.finish().await?;
        if written.sha256 != sha256 {
            let _ = tokio::fs::remove_file(self.path_of(&upload.key)?).await;
            return Err(BlobError::Mismatch {
                key: upload.key.clone(),
                detail: format!("parts hash to {}, expected {sha256}", written.sha256),
            });
        }
        let _ = tokio::fs::remove_dir_all(&dir).await;
        Ok(written)
    }

    async fn abort_parts(&self, upload: &PartUpload) -> Result<(), BlobError> {
        let dir = self.parts_dir(upload)?;
        match tokio::fs::remove_dir_all(&dir).await {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
            Err(e) => Err(io(&dir)(e)),
        }
    }

    async fn lock_support(&self) -> LockSupport {
        LockSupport::Unsupported(
            "a local directory cannot refuse deletion; files are read-only and listed in MANIFEST.sha256".into(),
        )
    }
}

fn hash_file(path: &Path) -> Result<(u64, Sha256Digest), BlobError> {
    let mut file = std::fs::File::open(path).map_err(|e| match e.kind() {
        std::io::ErrorKind::NotFound => BlobError::NotFound {
            key: path.display().to_string(),
        },
        _ => io(path)(e),
    })?;
    let mut hasher = Sha256::new();
    let mut buffer = vec![0u8; 1 << 20];
    let mut size = 0u64;
    loop {
        let read = file.read(&mut buffer).map_err(io(path))?;
        if read == 0 {
            break;
        }
        hasher.update(&buffer[..read]);
        size += read as u64;
    }
    Ok((size, Sha256Digest::from_bytes(hasher.finalize().into())))
}

struct LocalWriter {
    key: String,
    target: PathBuf,
    staging: PathBuf,
    file: tokio::fs::File,
    digest: RunningDigest,
    manifest: Option<PathBuf>,
}

#[async_trait]
impl BlobWriter for LocalWriter {
    async fn write(&mut self, chunk: Bytes) -> Result<(), BlobError> {
        self.file
            .write_all(&chunk)
            .await
            .map_err(io(&self.staging))?;
        self.digest.update(&chunk);
        Ok(())
    }

    async fn finish(self: Box<Self>) -> Result<WrittenObject, BlobError> {
        let LocalWriter {
            key,
            target,
            staging,
            mut file,
            digest,
            manifest,
        } = *self;
        let result = publish(&staging, &target, &mut file, &key).await;
        // The staging name is only a handle: whether or not the link was made, it goes.
        let _ = tokio::fs::remove_file(&staging).await;
        result?;
        let (size, sha256) = digest.finish();
        if let Some(manifest) = manifest {
            let mut list = tokio::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(&manifest)
                .await
                .map_err(io(&manifest))?;
            list.write_all(format!("{sha256}  {key}\n").as_bytes())
                .await
                .map_err(io(&manifest))?;
            list.sync_all().await.map_err(io(&manifest))?;
        }
        Ok(WrittenObject {
            key,
            size,
            sha256,
            part_digests: Vec::new(),
        })
    }

    async fn abort(self: Box<Self>) {
        let _ = tokio::fs::remove_file(&self.staging).await;
    }

    fn written(&self) -> u64 {
        self.digest.size()
    }
}

async fn publish(
    staging: &Path,
    target: &Path,
    file: &mut tokio::fs::File,
    key: &str,
) -> Result<(), BlobError> {
    file.flush().await.map_err(io(staging))?;
    file.sync_all().await.map_err(io(staging))?;
    let parent = target.parent().unwrap_or(target);
    tokio::fs::create_dir_all(parent)
        .await
        .map_err(io(parent))?;
    match tokio::fs::hard_link(staging, target).await {
        Ok(()) => {}
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
            return Err(BlobError::AlreadyExists {
                key: key.to_owned(),
            })
        }
        Err(e) => return Err(io(target)(e)),
    }
    tokio::fs::set_permissions(target, std::fs::Permissions::from_mode(0o440))
        .await
        .map_err(io(target))?;
    // The link is durable only once its directory entry is on disk.
    let dir = tokio::fs::File::open(parent).await.map_err(io(parent))?;
    dir.sync_all().await.map_err(io(parent))
}
