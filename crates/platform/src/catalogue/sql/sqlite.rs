//! The SQLite adapter: the standalone server's catalogue, one file owned by one process. Its
//! queries are the aggregate files beside this one, compiled here against SQLite.

use std::str::FromStr;
use std::time::Duration;

use async_trait::async_trait;
use sqlx::sqlite::{SqliteConnectOptions, SqlitePoolOptions};

use super::{err, SqliteCatalogue};
use crate::catalogue::{CatalogueError, Lease, Ping};

/// The adapter the aggregate files implement their traits for, compiled here.
type Adapter = SqliteCatalogue;
/// The driver the aggregate files' queries run on.
type Db = sqlx::Sqlite;
/// How a transaction that writes begins: SQLite's takes the write lock at once, so it waits
/// (busy timeout) for another writer instead of failing when its read snapshot turns out
/// stale.
const BEGIN_WRITE: &str = "BEGIN IMMEDIATE";
/// Rows a transaction reads to change: SQLite has no row locks (its write transaction holds
/// the whole database).
const LOCK_ROWS: &str = "";

impl SqliteCatalogue {
    pub async fn connect(url: &str, max_connections: u32) -> Result<Self, CatalogueError> {
        let options = SqliteConnectOptions::from_str(url)
            .map_err(err("parse sqlite url"))?
            .create_if_missing(true)
            .journal_mode(sqlx::sqlite::SqliteJournalMode::Wal)
            // Evidence records: a commit must survive a power cut, not just a crash.
            .synchronous(sqlx::sqlite::SqliteSynchronous::Full)
            .busy_timeout(Duration::from_secs(5))
            .foreign_keys(true);
        let file = options.get_filename().to_path_buf();
        owner_only(&file, true)?;
        let pool = SqlitePoolOptions::new()
            .max_connections(max_connections.max(1))
            .acquire_timeout(Duration::from_secs(5))
            .connect_with(options)
            .await
            .map_err(err("connect"))?;
        // SQLite gives its journal files the database's mode; older installations may have
        // made them more open.
        for suffix in ["", "-wal", "-shm"] {
            let mut name = file.clone().into_os_string();
            name.push(suffix);
            owner_only(std::path::Path::new(&name), false)?;
        }
        sqlx::migrate!("./migrations/sqlite")
            .run(&pool)
            .await
            .map_err(|e| CatalogueError::Migration(e.to_string()))?;
        Ok(Self { pool })
    }
}

/// Writes a consistent copy of the catalogue file `source` to `target`, a file that must not
/// exist yet, while its server goes on: `VACUUM INTO` on a read-only connection reads one
/// snapshot (the WAL keeps writers going, and nothing is migrated or locked for writing), and
/// the copy is a plain database file, compacted, without a journal.
pub async fn snapshot_catalogue(
    source: &std::path::Path,
    target: &std::path::Path,
) -> Result<(), CatalogueError> {
    let target_text = target.to_str().ok_or_else(|| CatalogueError::Unavailable {
        operation: "snapshot the catalogue",
        message: format!("{} is not a UTF-8 path", target.display()),
    })?;
    let pool = read_only(source).await?;
    let copied = sqlx::query("VACUUM INTO ?")
        .bind(target_text)
        .execute(&pool)
        .await
        .map_err(err("snapshot the catalogue"));
    pool.close().await;
    copied?;
    owner_only(target, false)
}

/// One read-only connection to a catalogue file (a live one included: WAL lets it read
/// beside the server's writers).
async fn read_only(file: &std::path::Path) -> Result<sqlx::SqlitePool, CatalogueError> {
    let options = SqliteConnectOptions::new()
        .filename(file)
        .read_only(true)
        .busy_timeout(Duration::from_secs(5));
    SqlitePoolOptions::new()
        .max_connections(1)
        .connect_with(options)
        .await
        .map_err(err("open a catalogue file"))
}

/// An original as a catalogue file records it: where it is stored and what its receipt said.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecordedOriginal {
    pub bureau: String,
    pub object_key: String,
    pub sha256: String,
    pub size_bytes: i64,
}

/// Every original a catalogue file holds that retention has not purged, read without
/// changing the file (a snapshot, or a restored catalogue before its server starts).
pub async fn recorded_originals(
    file: &std::path::Path,
) -> Result<Vec<RecordedOriginal>, CatalogueError> {
    let pool = read_only(file).await?;
    let rows: Vec<(String, String, String, i64)> = sqlx::query_as(
        "SELECT bureau_id, object_key, sha256, size_bytes FROM clips \
         WHERE purged_at IS NULL ORDER BY object_key",
    )
    .fetch_all(&pool)
    .await
    .map_err(err("read the originals of a catalogue file"))?;
    pool.close().await;
    Ok(rows
        .into_iter()
        .map(
            |(bureau, object_key, sha256, size_bytes)| RecordedOriginal {
                bureau,
                object_key,
                sha256,
                size_bytes,
            },
        )
        .collect())
}

/// Makes the catalogue file readable and writable by its owner only (it names every clip,
/// officer and case), whatever the umask: creates it so if `create` and it is missing, and
/// tightens it if it exists. An in-memory database has no file.
fn owner_only(path: &std::path::Path, create: bool) -> Result<(), CatalogueError> {
    use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
    let failed = |e: std::io::Error| CatalogueError::Unavailable {
        operation: "restrict the catalogue file to its owner",
        message: format!("{}: {e}", path.display()),
    };
    if path.as_os_str().is_empty() || path.to_string_lossy().starts_with(':') {
        return Ok(());
    }
    if create && !path.exists() {
        match std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(path)
        {
            Ok(_) => {}
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {}
            Err(e) => return Err(failed(e)),
        }
    }
    match std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600)) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(failed(e)),
    }
}

/// SQLite serves one process: that process always holds the lease.
struct ProcessLease;

#[async_trait]
impl Lease for ProcessLease {
    async fn held(&mut self) -> bool {
        true
    }
}

impl SqliteCatalogue {
    pub(super) async fn lease(
        &self,
        _name: &str,
    ) -> Result<Option<Box<dyn Lease>>, CatalogueError> {
        Ok(Some(Box::new(ProcessLease)))
    }
}

#[async_trait]
impl Ping for Adapter {
    async fn ping(&self) -> Result<(), CatalogueError> {
        sqlx::query("SELECT 1")
            .execute(&self.pool)
            .await
            .map_err(err("ping"))?;
        Ok(())
    }
}

// The queries, written once for both adapters: each file is compiled here with this module's
// `Adapter`, `Db`, `BEGIN_WRITE` and `LOCK_ROWS`.
#[path = "access.rs"]
mod access;
#[path = "audit.rs"]
mod audit;
#[path = "cases.rs"]
mod cases;
#[path = "clips.rs"]
mod clips;
#[path = "copies.rs"]
mod copies;
#[path = "recovery.rs"]
mod recovery;
#[path = "rectifications.rs"]
mod rectifications;
#[path = "retention.rs"]
mod retention;
#[path = "tasks.rs"]
mod tasks;
#[path = "uploads.rs"]
mod uploads;
