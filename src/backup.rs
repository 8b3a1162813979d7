//! Backup and restore of a standalone installation (art. 19: records kept safe from damage
//! and loss). A backup is taken online, while the server runs, into a repository directory
//! (another disk, a mounted NAS) that holds any number of snapshots:
//!
//! - `objects/ab/cdef…`: every file the snapshots hold, named by its SHA-256, so a snapshot
//!   only adds what the last one did not have (an incremental backup costs the new footage);
//! - `snapshots/<time>-<id>.json`: one manifest per snapshot, naming its catalogue, its audit
//!   key, the configuration files given, and every object of the blob and archive stores
//!   with its SHA-256 and size.
//!
//! The catalogue is copied by SQLite's `VACUUM INTO`, one consistent snapshot; the stores are
//! listed after it, so every original the snapshot names is there (its blob is written before
//! its receipt), except the audit anchors, listed before it, so none anchors a checkpoint
//! the snapshot does not hold. Every original of the snapshot is checked against its
//! receipt's SHA-256 as it is backed up.
//!
//! A restore refuses a data directory that is not empty, checks every file's SHA-256 as it
//! copies it, checks every original against its receipt, and ends by verifying the audit
//! trail as it stood when the snapshot was taken.

use std::collections::BTreeMap;
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::Context;
use chrono::{DateTime, Utc};
use custodian_platform::blob::{BlobStore, LocalBlobStore};
use custodian_platform::catalogue::{recorded_originals, snapshot_catalogue};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::app::STANDALONE_KEY;

/// The manifest's format; a restore refuses one it does not know.
const FORMAT: u32 = 1;
const CATALOGUE_FILE: &str = "catalogue.db";
/// The stores of a standalone data directory, by their directory's name.
const BLOBS: &str = "blobs";
const ARCHIVE: &str = "archive";

#[derive(Debug, Clone, clap::Args)]
pub struct BackupArgs {
    /// The standalone data directory to back up (the server may be running on it).
    #[arg(long, env = "CUSTODIAN_DATA")]
    pub data: PathBuf,
    /// The backup repository: a directory, made if missing, holding every snapshot taken
    /// into it; each new one stores only files the repository does not hold yet.
    #[arg(long)]
    pub to: PathBuf,
    /// A configuration file to keep with the snapshot (e.g. the environment file of the
    /// systemd unit, the record rules); may be given more than once.
    #[arg(long = "include")]
    pub include: Vec<PathBuf>,
}

#[derive(Debug, Clone, clap::Args)]
pub struct RestoreArgs {
    /// The backup repository.
    #[arg(long)]
    pub from: PathBuf,
    /// The snapshot to restore (its name under snapshots/, without .json); the newest
    /// without it.
    #[arg(long)]
    pub snapshot: Option<String>,
    /// The data directory to restore into: it must not exist or be empty (a restore never
    /// overwrites an installation).
    #[arg(long)]
    pub data: PathBuf,
}

/// One snapshot's list of what it holds.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Manifest {
    pub format: u32,
    pub name: String,
    pub taken_at: DateTime<Utc>,
    pub custodian_version: String,
    pub catalogue: StoredFile,
    /// The audit checkpoint key, when the data directory holds it.
    pub audit_key: Option<StoredFile>,
    /// Configuration files, by the path they were taken from.
    pub included: BTreeMap<String, StoredFile>,
    /// Every object of each store (`blobs`, `archive`), by key.
    pub stores: BTreeMap<String, BTreeMap<String, StoredFile>>,
}

/// A file in the repository's objects.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StoredFile {
    pub sha256: String,
    pub size: u64,
}

/// What a backup did.
#[derive(Debug, Clone, Serialize)]
pub struct BackupReport {
    pub snapshot: String,
    pub objects: usize,
    pub bytes: u64,
    /// Files read and written into the repository by this backup.
    pub copied: usize,
    pub copied_bytes: u64,
    /// Files the repository already held from an earlier snapshot (not read again).
    pub reused: usize,
    /// Originals checked against their receipts' SHA-256.
    pub originals: usize,
    pub seconds: f64,
}

/// What a restore did.
#[derive(Debug, Clone, Serialize)]
pub struct RestoreReport {
    pub snapshot: String,
    pub taken_at: DateTime<Utc>,
    pub objects: usize,
    pub bytes: u64,
    /// Originals present with their receipts' SHA-256.
    pub originals: usize,
    /// Bureaus whose audit trail verified, with their entries.
    pub audit: Vec<(String, usize)>,
    pub seconds: f64,
}

/// Takes a snapshot of the standalone installation at `args.data` into `args.to`.
pub async fn backup(args: &BackupArgs) -> anyhow::Result<BackupReport> {
    let started = Instant::now();
    let catalogue_file = args.data.join(CATALOGUE_FILE);
    if !catalogue_file.is_file() {
        anyhow::bail!(
            "{} is not a standalone data directory: it has no {CATALOGUE_FILE}",
            args.data.display()
        );
    }
    let repo = Repository::open(&args.to, true).await?;
    let previous = repo.newest().await?;
    // Read only, beside the running server (opening them for writing would clear its uploads
    // in progress).
    let blobs = LocalBlobStore::open_beside_its_server(args.data.join(BLOBS));
    let archive = LocalBlobStore::open_beside_its_server(args.data.join(ARCHIVE));

    // Anchors before the snapshot: each one's checkpoint is then in it (a checkpoint is
    // committed before it is anchored).
    let anchors = blobs
        .list(custodian_core::audit::ANCHOR_PREFIX)
        .await
        .context("listing the audit anchors")?;
    let taken_at = Utc::now();
    let name = format!(
        "{}-{}",
        // To the microsecond, so that names sort as the snapshots were taken.
        taken_at.format("%Y%m%dT%H%M%S%.6fZ"),
        &uuid::Uuid::new_v4().simple().to_string()[..8]
    );
    let snapshot_file = repo.scratch_path();
    snapshot_catalogue(&catalogue_file, &snapshot_file)
        .await
        .context("snapshotting the catalogue")?;
    let mut copy = Copying {
        repo: &repo,
        previous: previous.as_ref(),
        copied: 0,
        copied_bytes: 0,
        reused: 0,
    };
    let originals = recorded_originals(&snapshot_file)
        .await
        .context("reading the snapshot's originals")?;
    let catalogue = repo.adopt(&snapshot_file).await?;
    copy.copied += 1;
    copy.copied_bytes += catalogue.size;

    let key_file = args.data.join(STANDALONE_KEY);
    let audit_key = if key_file.is_file() {
        Some(copy.file(&key_file).await?)
    } else {
        None
    };
    let mut included = BTreeMap::new();
    for file in &args.include {
        let absolute =
            std::path::absolute(file).with_context(|| format!("--include {}", file.display()))?;
        included.insert(
            absolute.display().to_string(),
            copy.file(&absolute)
                .await
                .with_context(|| format!("--include {}", file.display()))?,
        );
    }

    let mut stores = BTreeMap::new();
    let mut keys: Vec<String> = blobs
        .list("")
        .await
        .context("listing the blob store")?
        .into_iter()
        .filter(|key| !key.starts_with(custodian_core::audit::ANCHOR_PREFIX))
        .collect();
    keys.extend(anchors);
    stores.insert(BLOBS.to_owned(), copy.store(BLOBS, &blobs, keys).await?);
    let keys = archive.list("").await.context("listing the archive")?;
    stores.insert(
        ARCHIVE.to_owned(),
        copy.store(ARCHIVE, &archive, keys).await?,
    );

    check_originals(&originals, &stores[BLOBS])
        .context("the backup is not complete (the snapshot is kept, but do not rely on it)")?;

    let manifest = Manifest {
        format: FORMAT,
        name: name.clone(),
        taken_at,
        custodian_version: env!("CARGO_PKG_VERSION").to_owned(),
        catalogue,
        audit_key,
        included,
        stores,
    };
    repo.write_manifest(&manifest).await?;
    let (objects, bytes) = manifest
        .stores
        .values()
        .flat_map(BTreeMap::values)
        .fold((0, 0), |(n, b), f| (n + 1, b + f.size));
    Ok(BackupReport {
        snapshot: name,
        objects,
        bytes,
        copied: copy.copied,
        copied_bytes: copy.copied_bytes,
        reused: copy.reused,
        originals: originals.len(),
        seconds: started.elapsed().as_secs_f64(),
    })
}

/// Every original the catalogue names must be among the objects, with its receipt's hash.
fn check_originals(
    originals: &[custodian_platform::catalogue::RecordedOriginal],
    objects: &BTreeMap<String, StoredFile>,
) -> anyhow::Result<()> {
    let mut problems = Vec::new();
    for original in originals {
        match objects.get(&original.object_key) {
            None => problems.push(format!(
                "original {} of bureau {} is missing from the blob store",
                original.object_key, original.bureau
            )),
            Some(stored) if stored.sha256 != original.sha256 => problems.push(format!(
                "original {} of bureau {} does not match its receipt (SHA-256 {}, receipt {})",
                original.object_key, original.bureau, stored.sha256, original.sha256
            )),
            Some(_) => {}
        }
    }
    if problems.is_empty() {
        Ok(())
    } else {
        anyhow::bail!("{}", problems.join("; "))
    }
}

/// Restores a snapshot of `args.from` into the empty data directory `args.data`.
pub async fn restore(args: &RestoreArgs) -> anyhow::Result<RestoreReport> {
    let started = Instant::now();
    let repo = Repository::open(&args.from, false).await?;
    let manifest = match &args.snapshot {
        Some(name) => repo.manifest(name).await?,
        None => repo
            .newest()
            .await?
            .with_context(|| format!("{} holds no snapshot", args.from.display()))?,
    };
    if manifest.format != FORMAT {
        anyhow::bail!(
            "snapshot {} has format {}; this custodian reads format {FORMAT}",
            manifest.name,
            manifest.format
        );
    }
    refuse_installation(&args.data)?;
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(&args.data)
        .with_context(|| format!("creating {}", args.data.display()))?;

    let catalogue_file = args.data.join(CATALOGUE_FILE);
    repo.restore_file(&manifest.catalogue, &catalogue_file)
        .await?;
    if let Some(key) = &manifest.audit_key {
        repo.restore_file(key, &args.data.join(STANDALONE_KEY))
            .await?;
    }
    for (from, stored) in &manifest.included {
        // Beside the data, never over the live system's files: the operator puts them back.
        let name = Path::new(from)
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_else(|| "config".into());
        repo.restore_file(stored, &args.data.join("restored-config").join(name))
            .await?;
    }
    let mut objects = 0;
    let mut bytes = 0;
    for (store_name, entries) in &manifest.stores {
        let store = match store_name.as_str() {
            BLOBS => LocalBlobStore::open(args.data.join(BLOBS)).await?,
            ARCHIVE => LocalBlobStore::open_with_manifest(args.data.join(ARCHIVE)).await?,
            other => anyhow::bail!("snapshot {} names an unknown store {other}", manifest.name),
        };
        for (key, stored) in entries {
            repo.restore_object(stored, &store, key)
                .await
                .with_context(|| format!("restoring {store_name}/{key}"))?;
            objects += 1;
            bytes += stored.size;
        }
    }

    let originals = recorded_originals(&catalogue_file)
        .await
        .context("reading the restored catalogue")?;
    let empty = BTreeMap::new();
    check_originals(&originals, manifest.stores.get(BLOBS).unwrap_or(&empty))?;

    // The audit trail as it stood at the snapshot: entries made before it must be covered by
    // an anchor of the time, not of today.
    let audit = crate::admin::audit_verify(&crate::cli::AuditArgs {
        catalogue: crate::cli::CatalogueLocation {
            data: Some(args.data.clone()),
            database_url: None,
        },
        public_key: None,
        audit_key_file: None,
        bureau: None,
        without_anchors: false,
        max_checkpoint_age: std::time::Duration::from_secs(24 * 3600),
        as_of: Some(manifest.taken_at),
    })
    .await
    .context("the restored audit trail does not verify")?
    .into_iter()
    .map(|(bureau, report)| (bureau, report.entries))
    .collect();
    Ok(RestoreReport {
        snapshot: manifest.name,
        taken_at: manifest.taken_at,
        objects,
        bytes,
        originals: originals.len(),
        audit,
        seconds: started.elapsed().as_secs_f64(),
    })
}

/// A restore goes into a new or empty directory only.
fn refuse_installation(data: &Path) -> anyhow::Result<()> {
    match std::fs::read_dir(data) {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(e).with_context(|| format!("reading {}", data.display())),
        Ok(mut entries) => {
            if data.join(CATALOGUE_FILE).exists() {
                anyhow::bail!(
                    "{} holds an installation (its {CATALOGUE_FILE}): a restore never \
                     overwrites one; restore into an empty directory and move it into place \
                     with the server stopped",
                    data.display()
                );
            }
            if entries.next().is_some() {
                anyhow::bail!(
                    "{} is not empty: a restore goes into a new or empty directory",
                    data.display()
                );
            }
            Ok(())
        }
    }
}

/// The files a backup copies, and how many it read against how many it found already held.
struct Copying<'a> {
    repo: &'a Repository,
    previous: Option<&'a Manifest>,
    copied: usize,
    copied_bytes: u64,
    reused: usize,
}

impl Copying<'_> {
    async fn file(&mut self, path: &Path) -> anyhow::Result<StoredFile> {
        let file = tokio::fs::File::open(path)
            .await
            .with_context(|| format!("opening {}", path.display()))?;
        let stored = self.repo.store(file).await?;
        self.copied += 1;
        self.copied_bytes += stored.size;
        Ok(stored)
    }

    /// Every key of `store`, each copied unless the previous snapshot holds the same key at
    /// the same size (objects are written once and never changed, so the same key and size
    /// is the same object; the scrub, not the backup, re-reads what is kept).
    async fn store(
        &mut self,
        name: &str,
        store: &LocalBlobStore,
        keys: Vec<String>,
    ) -> anyhow::Result<BTreeMap<String, StoredFile>> {
        let mut objects = BTreeMap::new();
        for key in keys {
            let Some(size) = store.size_of(&key).await? else {
                // Deleted since it was listed (a viewing copy replaced, a purge): a later
                // snapshot has what became of it.
                continue;
            };
            let held = self
                .previous
                .and_then(|previous| previous.stores.get(name))
                .and_then(|objects| objects.get(&key))
                .filter(|stored| stored.size == size && self.repo.holds(stored));
            let stored = match held {
                Some(stored) => {
                    self.reused += 1;
                    stored.clone()
                }
                None => {
                    let reader = match store.open(&key).await {
                        Ok(reader) => reader,
                        Err(custodian_platform::blob::BlobError::NotFound { .. }) => continue,
                        Err(e) => return Err(e).with_context(|| format!("reading {name}/{key}")),
                    };
                    let stored = self
                        .repo
                        .store(reader)
                        .await
                        .with_context(|| format!("backing up {name}/{key}"))?;
                    self.copied += 1;
                    self.copied_bytes += stored.size;
                    stored
                }
            };
            objects.insert(key, stored);
        }
        Ok(objects)
    }
}

/// A backup repository on disk.
struct Repository {
    root: PathBuf,
}

impl Repository {
    async fn open(root: &Path, create: bool) -> anyhow::Result<Self> {
        if create {
            for dir in ["objects", "snapshots", "tmp"] {
                std::fs::DirBuilder::new()
                    .recursive(true)
                    .mode(0o700)
                    .create(root.join(dir))
                    .with_context(|| format!("creating {}", root.join(dir).display()))?;
            }
        } else if !root.join("snapshots").is_dir() {
            anyhow::bail!("{} is not a backup repository", root.display());
        }
        Ok(Self {
            root: root.to_owned(),
        })
    }

    fn object_path(&self, sha256: &str) -> PathBuf {
        self.root
            .join("objects")
            .join(&sha256[..2.min(sha256.len())])
            .join(sha256)
    }

    fn holds(&self, stored: &StoredFile) -> bool {
        std::fs::metadata(self.object_path(&stored.sha256)).is_ok_and(|m| m.len() == stored.size)
    }

    /// A new file's path in the repository's scratch directory (same file system as the
    /// objects, so it is renamed into place).
    fn scratch_path(&self) -> PathBuf {
        self.root
            .join("tmp")
            .join(uuid::Uuid::new_v4().simple().to_string())
    }

    /// Copies `reader` into the objects, hashing it on the way; a file already held under
    /// its hash is not written twice.
    async fn store(
        &self,
        mut reader: impl tokio::io::AsyncRead + Unpin,
    ) -> anyhow::Result<StoredFile> {
        let scratch = self.scratch_path();
        let mut file = create_private(&scratch).await?;
        let copied = async {
            let stored = pump(&mut reader, Some(&mut file)).await?;
            file.sync_all().await?;
            Ok::<_, std::io::Error>(stored)
        }
        .await;
        let stored = match copied {
            Ok(stored) => stored,
            Err(e) => {
                let _ = tokio::fs::remove_file(&scratch).await;
                return Err(anyhow::Error::new(e).context("copying into the backup repository"));
            }
        };
        self.settle(&scratch, &stored.sha256).await?;
        Ok(stored)
    }

    /// Moves a finished scratch file into the objects under its hash.
    async fn adopt(&self, scratch: &Path) -> anyhow::Result<StoredFile> {
        let mut file = tokio::fs::File::open(scratch)
            .await
            .with_context(|| format!("opening {}", scratch.display()))?;
        let stored = pump(&mut file, None::<&mut tokio::fs::File>).await?;
        self.settle(scratch, &stored.sha256).await?;
        Ok(stored)
    }

    async fn settle(&self, scratch: &Path, sha256: &str) -> anyhow::Result<()> {
        let target = self.object_path(sha256);
        if target.exists() {
            tokio::fs::remove_file(scratch).await.ok();
            return Ok(());
        }
        if let Some(dir) = target.parent() {
            std::fs::DirBuilder::new()
                .recursive(true)
                .mode(0o700)
                .create(dir)
                .with_context(|| format!("creating {}", dir.display()))?;
        }
        tokio::fs::rename(scratch, &target)
            .await
            .with_context(|| format!("moving a file into {}", target.display()))
    }

    async fn write_manifest(&self, manifest: &Manifest) -> anyhow::Result<()> {
        let scratch = self.scratch_path();
        let mut file = create_private(&scratch).await?;
        file.write_all(&serde_json::to_vec_pretty(manifest)?)
            .await?;
        file.sync_all().await?;
        let target = self
            .root
            .join("snapshots")
            .join(format!("{}.json", manifest.name));
        tokio::fs::rename(&scratch, &target)
            .await
            .with_context(|| format!("writing {}", target.display()))
    }

    async fn manifest(&self, name: &str) -> anyhow::Result<Manifest> {
        if name.contains(['/', '\\']) || name.starts_with('.') {
            anyhow::bail!("--snapshot {name:?} is not a snapshot's name");
        }
        let path = self.root.join("snapshots").join(format!("{name}.json"));
        let bytes = tokio::fs::read(&path)
            .await
            .with_context(|| format!("reading snapshot {}", path.display()))?;
        serde_json::from_slice(&bytes).with_context(|| format!("{} is damaged", path.display()))
    }

    /// The newest snapshot (names begin with the time they were taken).
    async fn newest(&self) -> anyhow::Result<Option<Manifest>> {
        let dir = self.root.join("snapshots");
        let mut names = Vec::new();
        let mut entries = tokio::fs::read_dir(&dir)
            .await
            .with_context(|| format!("reading {}", dir.display()))?;
        while let Some(entry) = entries.next_entry().await? {
            if let Some(name) = entry.file_name().to_string_lossy().strip_suffix(".json") {
                names.push(name.to_owned());
            }
        }
        names.sort();
        match names.pop() {
            Some(name) => Ok(Some(self.manifest(&name).await?)),
            None => Ok(None),
        }
    }

    /// Copies an object out to `target` (a new private file), checking its SHA-256.
    async fn restore_file(&self, stored: &StoredFile, target: &Path) -> anyhow::Result<()> {
        if let Some(dir) = target.parent() {
            std::fs::DirBuilder::new()
                .recursive(true)
                .mode(0o700)
                .create(dir)?;
        }
        let mut reader = self.open_object(stored).await?;
        let mut file = create_private(target).await?;
        let copied = pump(&mut reader, Some(&mut file)).await?;
        file.sync_all().await?;
        if copied.sha256 != stored.sha256 {
            anyhow::bail!(
                "the backup's copy of {} is damaged: SHA-256 {}, expected {}",
                target.display(),
                copied.sha256,
                stored.sha256
            );
        }
        Ok(())
    }

    /// Writes an object into a store under `key`; the store hashes what it is given, and
    /// the hash must be the manifest's.
    async fn restore_object(
        &self,
        stored: &StoredFile,
        store: &LocalBlobStore,
        key: &str,
    ) -> anyhow::Result<()> {
        let mut reader = self.open_object(stored).await?;
        let mut writer = store.create(key).await?;
        let mut buffer = vec![0u8; 1 << 20];
        loop {
            let read = match reader.read(&mut buffer).await {
                Ok(read) => read,
                Err(e) => {
                    writer.abort().await;
                    return Err(e.into());
                }
            };
            if read == 0 {
                break;
            }
            if let Err(e) = writer
                .write(bytes::Bytes::copy_from_slice(&buffer[..read]))
                .await
            {
                writer.abort().await;
                return Err(e.into());
            }
        }
        let written = writer.finish().await?;
        if written.sha256.to_hex() != stored.sha256 || written.size != stored.size {
            store.delete(key).await.ok();
            anyhow::bail!(
                "the backup's copy is damaged: SHA-256 {}, expected {}",
                written.sha256.to_hex(),
                stored.sha256
            );
        }
        store.verify(&written).await?;
        Ok(())
    }

    async fn open_object(&self, stored: &StoredFile) -> anyhow::Result<tokio::fs::File> {
        let path = self.object_path(&stored.sha256);
        tokio::fs::File::open(&path).await.with_context(|| {
            format!(
                "the backup repository has lost {} (a file of this snapshot)",
                path.display()
            )
        })
    }
}

async fn create_private(path: &Path) -> anyhow::Result<tokio::fs::File> {
    let file = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
        .with_context(|| format!("creating {}", path.display()))?;
    Ok(tokio::fs::File::from_std(file))
}

/// Reads `reader` to its end, hashing it, and writes what it reads to `writer` if given.
async fn pump<W: tokio::io::AsyncWrite + Unpin>(
    reader: &mut (impl tokio::io::AsyncRead + Unpin),
    mut writer: Option<&mut W>,
) -> std::io::Result<StoredFile> {
    let mut hasher = Sha256::new();
    let mut size = 0u64;
    let mut buffer = vec![0u8; 1 << 20];
    loop {
        let read = reader.read(&mut buffer).await?;
        if read == 0 {
            break;
        }
        hasher.update(&buffer[..read]);
        if let Some(writer) = writer.as_mut() {
            writer.write_all(&buffer[..read]).await?;
        }
        size += read as u64;
    }
    Ok(StoredFile {
        sha256: hex::encode(hasher.finalize()),
        size,
    })
}
