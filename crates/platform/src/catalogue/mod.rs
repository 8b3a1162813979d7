//! The catalogue port: the source of truth for every clip, its state and its history, and for
//! bureaus and their tokens. Two adapters share one body of SQL (`sql.rs`): SQLite for the
//! standalone server and PostgreSQL for a region, each with its own migrations, run at start.

mod audit;
mod cases;
mod clips;
mod copies;
mod model;
mod retention;
mod sql;
mod uploads;

use std::sync::Arc;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use custodian_core::login::Throttle;
use custodian_core::roles::{OfficerIdentity, Role};
use custodian_core::BureauId;
use uuid::Uuid;

pub use audit::AuditRepo;
pub use cases::CaseRepo;
pub use clips::ClipRepo;
pub use copies::CopyRepo;
pub use model::{decode_fingerprint, encode_fingerprint};
pub use model::{
    BoundingBox, CaseClosure, CaseFilter, CaseRecord, ClassTotals, ClassificationEntry, ClipFilter,
    ClipMedia, ClipRecord, ClipSchedule, CopyRequest, Device, Finding, MediaFacts, NewClip,
    NewFinding, PendingUpload, Rendition, Team, TokenRecord, TrackVersion, Transition, TusProgress,
    TusUpload, UserRecord,
};
pub use retention::{Lease, RetentionRepo};
pub use sql::{PostgresCatalogue, Schema, SqliteCatalogue};
pub use uploads::UploadRepo;

/// The holder of an API token.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TokenOwner {
    pub token_id: Uuid,
    pub bureau: BureauId,
    pub role: Role,
    pub label: String,
    /// Who holds the token, the same across all of a person's sessions: `user BUREAU/NAME`
    /// for a person's session, `token ID` for a machine's token. Two-person rules compare it.
    pub person: String,
    /// The officer the credential speaks for and their team (art. 17), if any.
    pub identity: OfficerIdentity,
}

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

#[async_trait]
pub trait Catalogue:
    RetentionRepo + ClipRepo + UploadRepo + CaseRepo + CopyRepo + AuditRepo + Send + Sync
{
    async fn ensure_bureau(
        &self,
        bureau: &BureauId,
        name: &str,
        now: DateTime<Utc>,
    ) -> Result<(), CatalogueError>;
    async fn insert_token(
        &self,
        bureau: &BureauId,
        token_sha256: &str,
        label: &str,
        role: Role,
        identity: &OfficerIdentity,
        now: DateTime<Utc>,
    ) -> Result<Uuid, CatalogueError>;
    /// Whose is the token with this hash, if it is neither revoked nor expired at `now`.
    async fn token_owner(
        &self,
        token_sha256: &str,
        now: DateTime<Utc>,
    ) -> Result<Option<TokenOwner>, CatalogueError>;
    /// A bureau's API tokens (every bureau's for `None`), revoked and expired ones too, oldest
    /// first.
    async fn tokens(&self, bureau: Option<&BureauId>) -> Result<Vec<TokenRecord>, CatalogueError>;
    /// Revokes a token of `bureau`. Returns false if it has no such unrevoked token.
    async fn revoke_token(
        &self,
        bureau: &BureauId,
        id: Uuid,
        at: DateTime<Utc>,
    ) -> Result<bool, CatalogueError>;
    /// Sets (or, with `None`, clears) when a token of `bureau` stops working. Returns false if
    /// it has no such unrevoked token.
    async fn set_token_expiry(
        &self,
        bureau: &BureauId,
        id: Uuid,
        expires_at: Option<DateTime<Utc>>,
    ) -> Result<bool, CatalogueError>;
    /// Replaces a live token of `bureau` with a new one, in one transaction: the new one (hash
    /// `new_sha256`) has the old one's label, role and expiry; the old one is revoked, or with
    /// `old_expires_at` ends then (never later than it would have). Returns the new token's
    /// record, or None if the bureau has no such live token.
    async fn rotate_token(
        &self,
        bureau: &BureauId,
        id: Uuid,
        new_sha256: &str,
        at: DateTime<Utc>,
        old_expires_at: Option<DateTime<Utc>>,
    ) -> Result<Option<TokenRecord>, CatalogueError>;

    async fn bureau_exists(&self, bureau: &BureauId) -> Result<bool, CatalogueError>;
    async fn create_user(
        &self,
        bureau: &BureauId,
        username: &str,
        role: Role,
        identity: &OfficerIdentity,
        password_hash: &str,
        at: DateTime<Utc>,
    ) -> Result<(), CatalogueError>;
    /// A bureau's people (every bureau's for `None`), disabled ones too, by name.
    async fn users(&self, bureau: Option<&BureauId>) -> Result<Vec<UserRecord>, CatalogueError>;
    /// Disables a user and ends their open sessions, in one transaction (a user disabled
    /// already keeps the first time). Returns false if the bureau has no such user.
    async fn disable_user(
        &self,
        bureau: &BureauId,
        username: &str,
        at: DateTime<Utc>,
    ) -> Result<bool, CatalogueError>;
    /// Lets a disabled user log in again (the sessions ended by disabling stay ended). Returns
    /// false if the bureau has no such user.
    async fn enable_user(&self, bureau: &BureauId, username: &str) -> Result<bool, CatalogueError>;
    /// An enabled user's role and password hash.
    async fn user(
        &self,
        bureau: &BureauId,
        username: &str,
    ) -> Result<Option<(Role, String)>, CatalogueError>;
    async fn create_session(
        &self,
        id: Uuid,
        token_sha256: &str,
        bureau: &BureauId,
        username: &str,
        at: DateTime<Utc>,
        expires_at: DateTime<Utc>,
    ) -> Result<(), CatalogueError>;
    /// Whose is the session with this token hash, if it has neither expired by `now` nor ended.
    async fn session_owner(
        &self,
        token_sha256: &str,
        now: DateTime<Utc>,
    ) -> Result<Option<TokenOwner>, CatalogueError>;
    async fn end_session(
        &self,
        token_sha256: &str,
        at: DateTime<Utc>,
    ) -> Result<bool, CatalogueError>;

    /// Reads the login throttles of `keys` (distinct; a key with none reads as the default),
    /// lets `update` change them, and writes them back, in one transaction, so concurrent
    /// logins count each other's failures. A state left at the default is removed. `update`
    /// may run more than once (a concurrent first write is retried); the last run's changes
    /// are the ones kept.
    async fn update_login_throttles(
        &self,
        keys: &[String],
        now: DateTime<Utc>,
        update: &mut (dyn for<'t> FnMut(&'t mut [Throttle]) + Send),
    ) -> Result<(), CatalogueError>;
    /// Removes, and returns, the login throttles not changed since `before` whose block (if
    /// any) ended by then.
    async fn take_stale_login_throttles(
        &self,
        before: DateTime<Utc>,
    ) -> Result<Vec<(String, Throttle)>, CatalogueError>;

    async fn ping(&self) -> Result<(), CatalogueError>;
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
