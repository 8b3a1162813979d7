//! The catalogue port: the source of truth for every clip, its state and its history, and for
//! bureaus and their tokens. One trait per aggregate (`access`, `uploads`, `clips`, `cases`,
//! `retention`, `audit`, `copies`, `tasks`, `rectifications`, `recovery`), and [`Catalogue`] the sum of them. Two adapters share one
//! body of SQL (`sql/`, a file per aggregate): SQLite for the standalone server and
//! PostgreSQL for a region, each with its own migrations, run at start.

mod access;
mod audit;
mod cases;
mod clips;
mod copies;
mod model;
mod recovery;
mod rectifications;
mod retention;
mod sql;
mod tasks;
mod uploads;

use std::sync::Arc;

use async_trait::async_trait;

pub use access::AccessRepo;
pub use audit::AuditRepo;
pub use cases::CaseRepo;
pub use clips::ClipRepo;
pub use copies::CopyRepo;
pub use model::{decode_fingerprint, encode_fingerprint};
pub use model::{
    BoundingBox, CaseClosure, CaseFilter, CaseRecord, ClassTotals, ClassificationEntry, ClipFilter,
    ClipMedia, ClipRecord, ClipSchedule, CopyRequest, Device, Finding, LinkedCase, MediaFacts,
    NewClip, NewFinding, PendingUpload, RectificationRecord, RectificationStepRecord, Rendition,
    TaskFilter, TaskLink, TaskRecord, Team, TokenOwner, TokenRecord, TrackVersion, Transition,
    TusProgress, TusUpload, UserRecord,
};
pub use recovery::RecoveryRepo;
pub use rectifications::{RectificationMove, RectificationRepo};
pub use retention::{Lease, RetentionRepo};
pub use sql::{
    recorded_originals, snapshot_catalogue, PostgresCatalogue, RecordedOriginal, Schema,
    SqliteCatalogue,
};
pub use tasks::TaskRepo;
pub use uploads::UploadRepo;

#[derive(Debug, thiserror::Error)]
pub enum CatalogueError {
    #[error("catalogue unavailable during {operation}: {message}")]
    Unavailable {
        operation: &'static str,
        message: String,
    },
    #[error("{operation} conflicts with an existing record: {message}")]
    Conflict {
        operation: &'static str,
        message: String,
    },
    #[error("catalogue holds a record it cannot read ({detail})")]
    Corrupt { detail: String },
    #[error("{operation} failed: {message}")]
    Query {
        operation: &'static str,
        message: String,
    },
    #[error("migrating the catalogue failed: {0}")]
    Migration(String),
    #[error("database url {0:?} is neither sqlite: nor postgres:")]
    UnknownScheme(String),
}

impl CatalogueError {
    pub fn is_transient(&self) -> bool {
        matches!(self, Self::Unavailable { .. })
    }

    fn from_sqlx(operation: &'static str, err: sqlx::Error) -> Self {
        let message = err.to_string();
        match &err {
            sqlx::Error::Io(_)
            | sqlx::Error::PoolTimedOut
            | sqlx::Error::PoolClosed
            | sqlx::Error::Tls(_)
            | sqlx::Error::Protocol(_)
            | sqlx::Error::WorkerCrashed => Self::Unavailable { operation, message },
            sqlx::Error::Database(db) if db.is_unique_violation() => {
                Self::Conflict { operation, message }
            }
            // SQLite reports a locked database when a writer holds it past the busy timeout,
            // PostgreSQL a class 57/08 error when it is shutting down or the link broke.
            sqlx::Error::Database(db)
                if db.code().is_some_and(|c| {
                    c.starts_with("57") || c.starts_with("08") || c == "5" || c == "6"
                }) =>
            {
                Self::Unavailable { operation, message }
            }
            _ => Self::Query { operation, message },
        }
    }
}

/// Whether the catalogue answers, for the readiness probe.
#[async_trait]
pub trait Ping: Send + Sync {
    async fn ping(&self) -> Result<(), CatalogueError>;
}

/// The whole catalogue: one trait per aggregate, and the probe. A role that needs less takes
/// less: an `Arc<dyn Catalogue>` upcasts to `Arc<dyn UploadRepo>` and the others.
pub trait Catalogue:
    AccessRepo
    + UploadRepo
    + ClipRepo
    + CaseRepo
    + RetentionRepo
    + AuditRepo
    + CopyRepo
    + TaskRepo
    + RectificationRepo
    + RecoveryRepo
    + Ping
{
}

impl<T> Catalogue for T where
    T: AccessRepo
        + UploadRepo
        + ClipRepo
        + CaseRepo
        + RetentionRepo
        + AuditRepo
        + CopyRepo
        + TaskRepo
        + RectificationRepo
        + RecoveryRepo
        + Ping
        + ?Sized
{
}

/// Opens the catalogue named by `url` (`sqlite:PATH` or `postgres://...`) and migrates it.
pub async fn connect(
    url: &str,
    max_connections: u32,
) -> Result<Arc<dyn Catalogue>, CatalogueError> {
    connect_with(url, max_connections, Schema::Migrate).await
}

/// Opens the catalogue named by `url`; a PostgreSQL one is migrated or only checked as
/// `schema` says (a standalone SQLite catalogue is always migrated: one process owns it).
pub async fn connect_with(
    url: &str,
    max_connections: u32,
    schema: Schema,
) -> Result<Arc<dyn Catalogue>, CatalogueError> {
    if url.starts_with("sqlite:") {
        Ok(Arc::new(
            SqliteCatalogue::connect(url, max_connections).await?,
        ))
    } else if url.starts_with("postgres://") || url.starts_with("postgresql://") {
        Ok(Arc::new(
            PostgresCatalogue::connect_with(url, max_connections, schema).await?,
        ))
    } else {
        Err(CatalogueError::UnknownScheme(url.to_owned()))
    }
}
