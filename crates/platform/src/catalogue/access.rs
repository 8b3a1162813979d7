//! Who may come in: bureaus, API tokens, people and their sessions, and the login throttles.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use custodian_core::login::Throttle;
use custodian_core::roles::{OfficerIdentity, Role};
use custodian_core::BureauId;
use uuid::Uuid;

use super::{CatalogueError, TokenOwner, TokenRecord, UserRecord};

/// Bureaus and the credentials that speak for them: tokens, users, sessions, login throttles.
#[async_trait]
pub trait AccessRepo: Send + Sync {
    async fn ensure_bureau(
        &self,
        bureau: &BureauId,
        name: &str,
        now: DateTime<Utc>,
    ) -> Result<(), CatalogueError>;

    async fn bureau_exists(&self, bureau: &BureauId) -> Result<bool, CatalogueError>;

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

    /// Binds a token of `bureau` to the client certificate with this `x5t#S256` thumbprint,
    /// or with `None` unbinds it. Returns false if it has no such unrevoked token.
    async fn set_token_certificate(
        &self,
        bureau: &BureauId,
        id: Uuid,
        x5t_s256: Option<&str>,
    ) -> Result<bool, CatalogueError>;

    /// Replaces a live token of `bureau` with a new one, in one transaction: the new one (hash
    /// `new_sha256`) has the old one's label, role, expiry and certificate binding; the old one is revoked, or with
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
}
