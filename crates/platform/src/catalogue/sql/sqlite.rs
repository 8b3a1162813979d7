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
#[path = "retention.rs"]
mod retention;
#[path = "uploads.rs"]
mod uploads;
