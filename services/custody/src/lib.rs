//! The custody role: who may see the record of what was done, and the guarantee that the
//! record cannot be changed unnoticed (art. 25). Every API request and every action of the
//! schedule is already an entry in its bureau's hash chain (`custodian_platform::http::protect`);
//! this role signs checkpoints of each chain with the deployment's ed25519 key, and serves
//! the trail to auditors. `custodian audit verify` checks a chain offline with the public key.

mod copies;
mod credentials;
mod export;
mod sessions;
mod sidecars;

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::routing::get;
use axum::{Extension, Json, Router};
use custodian_core::audit::{anchor_key, sign_checkpoint, AuditEntry, Checkpoint};
use custodian_core::roles::Action;
use custodian_platform::blob::{BlobError, LockSupport, WriteOptions};
use custodian_platform::catalogue::CatalogueError;
use custodian_platform::config::{parse_duration, ConfigError};
use custodian_platform::http::{json_errors, protect, ApiError, BearerSecurity, Caller, ErrorBody};
use custodian_platform::Ports;
use ed25519_dalek::SigningKey;
use prometheus::IntCounter;
use serde::{Deserialize, Serialize};
use tokio_util::sync::CancellationToken;

#[derive(Debug, Clone, clap::Args)]
pub struct CustodyConfig {
    /// The ed25519 key that signs audit checkpoints (32 bytes, hex). Standalone keeps it in the
    /// data directory and makes it on first start; a region mounts it from a secret.
    #[arg(long = "audit-key-file", env = "CUSTODIAN_AUDIT_KEY_FILE")]
    pub audit_key_file: Option<PathBuf>,
    /// How long a person's session lasts after logging in.
    #[arg(
        long = "session-hours",
        env = "CUSTODIAN_SESSION_HOURS",
        default_value_t = 8
    )]
    pub session_hours: i64,
    /// How often each bureau's chain is signed.
    #[arg(long = "checkpoint-every", env = "CUSTODIAN_CHECKPOINT_EVERY", default_value = "5m", value_parser = parse_duration)]
    pub checkpoint_every: Duration,
    /// Failed logins of one account answered at once; after them each attempt must wait,
    /// twice as long as before the last (429 with Retry-After). Unknown accounts count alike.
    #[arg(
        long = "login-free-failures",
        env = "CUSTODIAN_LOGIN_FREE_FAILURES",
        default_value_t = 5
    )]
    pub login_free_failures: u32,
    /// The first wait after the free failures.
    #[arg(long = "login-backoff", env = "CUSTODIAN_LOGIN_BACKOFF", default_value = "1s", value_parser = parse_duration)]
    pub login_backoff: Duration,
    /// Failed logins of one account within --login-window that lock it for --login-lockout.
    #[arg(
        long = "login-lockout-failures",
        env = "CUSTODIAN_LOGIN_LOCKOUT_FAILURES",
        default_value_t = 10
    )]
    pub login_lockout_failures: u32,
    /// Failures are counted from the first for this long; then counting starts over.
    #[arg(long = "login-window", env = "CUSTODIAN_LOGIN_WINDOW", default_value = "15m", value_parser = parse_duration)]
    pub login_window: Duration,
    #[arg(long = "login-lockout", env = "CUSTODIAN_LOGIN_LOCKOUT", default_value = "15m", value_parser = parse_duration)]
    pub login_lockout: Duration,
    /// As --login-free-failures, for all the logins from one client address (an IPv6
    /// address counts by its /64), whichever accounts they try.
    #[arg(
        long = "login-address-free-failures",
        env = "CUSTODIAN_LOGIN_ADDRESS_FREE_FAILURES",
        default_value_t = 20
    )]
    pub login_address_free_failures: u32,
    /// As --login-lockout-failures, for one client address.
    #[arg(
        long = "login-address-lockout-failures",
        env = "CUSTODIAN_LOGIN_ADDRESS_LOCKOUT_FAILURES",
        default_value_t = 100
    )]
    pub login_address_lockout_failures: u32,
    /// The request header a proxy in front of Custodian puts the client's address in (e.g.
    /// X-Forwarded-For, whose last address is taken). Set it only behind such a proxy: a
    /// client reaching Custodian directly could name any address it likes.
    #[arg(
        long = "login-client-address-header",
        env = "CUSTODIAN_LOGIN_CLIENT_ADDRESS_HEADER"
    )]
    pub login_client_address_header: Option<String>,
}

impl Default for CustodyConfig {
    fn default() -> Self {
        Self {
            audit_key_file: None,
            session_hours: 8,
            checkpoint_every: Duration::from_secs(300),
            login_free_failures: 5,
            login_backoff: Duration::from_secs(1),
            login_lockout_failures: 10,
            login_window: Duration::from_secs(15 * 60),
            login_lockout: Duration::from_secs(15 * 60),
            login_address_free_failures: 20,
            login_address_lockout_failures: 100,
            login_client_address_header: None,
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum CustodyError {
    #[error(transparent)]
    Config(#[from] ConfigError),
    #[error(transparent)]
    Catalogue(#[from] CatalogueError),
    #[error("registering metrics: {0}")]
    Metrics(#[from] prometheus::Error),
    #[error(transparent)]
    Bus(#[from] custodian_platform::bus::BusError),
    #[error("anchoring checkpoint {seq} of bureau {bureau} in the blob store: {source}")]
    Anchor {
        bureau: String,
        seq: i64,
        source: custodian_platform::blob::BlobError,
    },
    #[error("writing the sidecar {key} beside its original: {source}")]
    Sidecar {
        key: String,
        source: custodian_platform::blob::BlobError,
    },
    #[error("making the dummy password hash for unknown users: {0}")]
    DummyHash(#[from] custodian_core::users::UserError),
}

/// How long an anchor is locked against deletion where the blob store has Object Lock: longer
/// than any footage it vouches for is kept by default.
const ANCHOR_LOCK_YEARS: i64 = 30;

/// Reads a signing key (hex of 32 bytes) from `path`.
pub fn read_key(path: &Path) -> Result<SigningKey, ConfigError> {
    let bad = |problem: String| ConfigError::new("audit-key-file", path.display(), problem);
    let text = std::fs::read_to_string(path).map_err(|e| bad(e.to_string()))?;
    let bytes: [u8; 32] = hex::decode(text.trim())
        .ok()
        .and_then(|b| b.try_into().ok())
        .ok_or_else(|| bad("must hold 64 hex digits".into()))?;
    Ok(SigningKey::from_bytes(&bytes))
}

/// Reads the key at `path`, making a new one (readable by its owner only) if there is none.
pub fn read_or_create_key(path: &Path) -> Result<SigningKey, ConfigError> {
    if !path.exists() {
        use std::io::Write;
        use std::os::unix::fs::OpenOptionsExt;
        let bytes: [u8; 32] = rand::random();
        let mut file = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(path)
            .map_err(|e| ConfigError::new("audit-key-file", path.display(), e))?;
        file.write_all(hex::encode(bytes).as_bytes())
            .map_err(|e| ConfigError::new("audit-key-file", path.display(), e))?;
        tracing::info!(path = %path.display(), "made a new audit signing key; keep it safe and publish its public half");
    }
    read_key(path)
}

/// Whether this deployment can make the watermarked copies of approved copy requests
/// (art. 23): only where a transcoder runs. A copy is never given without its watermark, so
/// without one approvals are refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PartyCopies {
    /// Transcoders take `copy.approved` and make each approved request's copy.
    Made,
    /// No media workers (`--media-steps none`): requests can be made and refused, not approved.
    Unavailable,
}

/// How often approved requests whose copy is not yet made are looked for, and how long one
/// may wait before its `copy.approved` is announced again (past the bus's duplicate window).
const COPY_RECONCILE_EVERY: Duration = Duration::from_secs(60);
const COPY_STUCK_AFTER: chrono::Duration = chrono::Duration::minutes(10);

/// How often, at most, queued sidecars are written.
const SIDECARS_EVERY: Duration = Duration::from_secs(10);

pub struct Custody {
    ports: Ports,
    key: SigningKey,
    every: Duration,
    session_hours: i64,
    login: sessions::LoginGuard,
    checkpoints: IntCounter,
    anchors: IntCounter,
    sidecars: IntCounter,
    party_copies: PartyCopies,
    /// The round each stuck request was last announced in by this process, so a request is
    /// announced once per stuck period, not on every look.
    announced: std::sync::Mutex<std::collections::HashMap<uuid::Uuid, u32>>,
}

impl Custody {
    /// A custody role that cannot make party copies (approvals are refused); see
    /// [`Custody::with_party_copies`].
    pub fn new(
        ports: Ports,
        key: SigningKey,
        config: &CustodyConfig,
    ) -> Result<Arc<Self>, CustodyError> {
        Self::with_party_copies(ports, key, config, PartyCopies::Unavailable)
    }

    pub fn with_party_copies(
        ports: Ports,
        key: SigningKey,
        config: &CustodyConfig,
        party_copies: PartyCopies,
    ) -> Result<Arc<Self>, CustodyError> {
        if config.checkpoint_every.is_zero() {
            return Err(ConfigError::new("checkpoint-every", "0s", "must be more than 0").into());
        }
        let checkpoints = IntCounter::new(
            "custodian_audit_checkpoints_total",
            "Signed checkpoints of the audit chains",
        )?;
        ports.registry.register(Box::new(checkpoints.clone()))?;
        let anchors = IntCounter::new(
            "custodian_audit_anchors_total",
            "Checkpoints anchored in the blob store, outside the catalogue",
        )?;
        ports.registry.register(Box::new(anchors.clone()))?;
        let sidecars = IntCounter::new(
            "custodian_sidecars_written_total",
            "Signed records written beside originals, for rebuilding a lost catalogue",
        )?;
        ports.registry.register(Box::new(sidecars.clone()))?;
        if !(1..=24 * 30).contains(&config.session_hours) {
            return Err(ConfigError::new(
                "session-hours",
                config.session_hours,
                "must be 1 to 720",
            )
            .into());
        }
        let login = sessions::LoginGuard::new(config, &ports.registry)?;
        Ok(Arc::new(Self {
            ports,
            key,
            every: config.checkpoint_every,
            session_hours: config.session_hours,
            login,
            checkpoints,
            anchors,
            sidecars,
            party_copies,
            announced: Default::default(),
        }))
    }

    pub fn public_key_hex(&self) -> String {
        hex::encode(self.key.verifying_key().to_bytes())
    }

    pub fn router(self: &Arc<Self>) -> Router {
        let routes = Router::new()
            .route("/v1/audit", get(entries))
            .route("/v1/audit/checkpoints", get(checkpoints))
            .route("/v1/audit/public-key", get(public_key))
            .route("/v1/exports", axum::routing::post(export::export))
            .route(
                "/v1/copy-requests",
                axum::routing::post(copies::create).get(copies::list),
            )
            .route("/v1/copy-requests/{id}", get(copies::get_one))
            .route(
                "/v1/copy-requests/{id}/approve",
                axum::routing::post(copies::approve),
            )
            .route(
                "/v1/copy-requests/{id}/refuse",
                axum::routing::post(copies::refuse),
            )
            .route(
                "/v1/copy-requests/{id}/redaction",
                axum::routing::put(copies::set_redaction),
            )
            .route("/v1/sessions/end", axum::routing::post(sessions::logout))
            .route("/v1/me", get(sessions::me))
            .route("/v1/admin/tokens", get(credentials::list_tokens))
            .route(
                "/v1/admin/tokens/{id}/revoke",
                axum::routing::post(credentials::revoke_token),
            )
            .route(
                "/v1/admin/tokens/{id}/expiry",
                axum::routing::put(credentials::set_expiry),
            )
            .route(
                "/v1/admin/tokens/{id}/rotate",
                axum::routing::post(credentials::rotate_token),
            )
            .route("/v1/admin/users", get(credentials::list_users))
            .route(
                "/v1/admin/users/{username}/disable",
                axum::routing::post(credentials::disable_user),
            )
            .route(
                "/v1/admin/users/{username}/enable",
                axum::routing::post(credentials::enable_user),
            )
            .with_state(self.clone());
        // Logging in, and the party's download link, are their own credentials; both are
        // audited by their handlers.
        let links = Router::new()
            .route("/v1/copies/{token}", get(copies::download))
            .route("/v1/sessions", axum::routing::post(sessions::login))
            .with_state(self.clone());
        protect(routes, &self.ports).merge(json_errors(links))
    }

    pub async fn run(self: Arc<Self>, shutdown: CancellationToken) {
        let mut ticker = tokio::time::interval(self.every);
        let mut copies = tokio::time::interval(COPY_RECONCILE_EVERY);
        let mut throttles = tokio::time::interval(sessions::FORGET_THROTTLES_EVERY);
        // A clip's record reaches storage within seconds of a change, however rarely
        // checkpoints are signed.
        let mut sidecars = tokio::time::interval(self.every.min(SIDECARS_EVERY));
        loop {
            tokio::select! {
                _ = shutdown.cancelled() => return,
                _ = throttles.tick() => {
                    if let Err(e) = sessions::forget_login_throttles(&self).await {
                        tracing::warn!(error = %e, "forgetting old login throttles failed; will try again");
                    }
                }
                _ = sidecars.tick() => {
                    if let Err(e) = self.write_sidecars_once().await {
                        tracing::warn!(error = %e, "writing records beside originals failed; will try again");
                    }
                }
                _ = ticker.tick() => {
                    if let Err(e) = self.checkpoint_once().await {
                        tracing::warn!(error = %e, "signing audit checkpoints failed; will try again");
                    }
                }
                _ = copies.tick(), if self.party_copies == PartyCopies::Made => {
                    if let Err(e) = self.announce_stuck_copies().await {
                        tracing::warn!(error = %e, "announcing party copies again failed; will try again");
                    }
                }
            }
        }
    }

    /// Announces `copy.approved` again for approved requests whose copy is neither made nor
    /// failed long after the approval (a lost message, a crash): a lost event only delays
    /// the copy. Returns how many.
    pub async fn announce_stuck_copies(&self) -> Result<usize, CustodyError> {
        let now = self.ports.clock.now();
        let stuck = self
            .ports
            .catalogue
            .copies_to_make(now - COPY_STUCK_AFTER, 100)
            .await?;
        let mut announced = 0;
        for request in &stuck {
            let waited = now - request.decided_at.unwrap_or(request.requested_at);
            // One round per stuck period, so each announcement passes duplicate detection.
            let round = u32::try_from(waited.num_minutes() / COPY_STUCK_AFTER.num_minutes())
                .unwrap_or(u32::MAX)
                .max(1);
            let last = self
                .announced
                .lock()
                .unwrap_or_else(|poisoned| poisoned.into_inner())
                .get(&request.id)
                .copied();
            if last == Some(round) {
                continue;
            }
            tracing::info!(copy_request = %request.id, round, "party copy not made yet; announcing it again");
            copies::announce(&self.ports, request, round).await?;
            self.announced
                .lock()
                .unwrap_or_else(|poisoned| poisoned.into_inner())
                .insert(request.id, round);
            announced += 1;
        }
        // Forget requests no longer stuck (made, failed or gone).
        self.announced
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .retain(|id, _| stuck.iter().any(|r| r.id == *id));
        Ok(announced)
    }

    /// Signs the end of every chain that grew since its last checkpoint, and anchors each
    /// bureau's latest checkpoint in the blob store (again, if an outage kept it from being
    /// anchored before). Returns how many were signed.
    pub async fn checkpoint_once(&self) -> Result<usize, CustodyError> {
        let mut signed = 0;
        for bureau in self.ports.catalogue.audit_bureaus().await? {
            let Some(last) = self.ports.catalogue.last_audit_entry(&bureau).await? else {
                continue;
            };
            let mut latest = self.ports.catalogue.checkpoints(&bureau).await?.pop();
            if latest.as_ref().is_none_or(|c| last.seq > c.seq) {
                let checkpoint = sign_checkpoint(&self.key, &last, self.ports.clock.now());
                self.ports.catalogue.add_checkpoint(&checkpoint).await?;
                self.checkpoints.inc();
                signed += 1;
                latest = Some(checkpoint);
            }
            if let Some(checkpoint) = latest {
                self.anchor(&checkpoint).await?;
            }
        }
        Ok(signed)
    }

    /// Writes `checkpoint` to the blob store under a key of its own, never replacing one: what
    /// the chain held at that point can then not be moved by rewriting the database, and, where
    /// the store has Object Lock, not by deleting the anchor either.
    async fn anchor(&self, checkpoint: &Checkpoint) -> Result<(), CustodyError> {
        let key = anchor_key(&checkpoint.bureau, checkpoint.seq);
        let failed = |source| CustodyError::Anchor {
            bureau: checkpoint.bureau.clone(),
            seq: checkpoint.seq,
            source,
        };
        if self
            .ports
            .blob
            .size_of(&key)
            .await
            .map_err(failed)?
            .is_some()
        {
            return Ok(());
        }
        let options = WriteOptions {
            retain_until: match self.ports.blob.lock_support().await {
                LockSupport::Compliance => {
                    Some(self.ports.clock.now() + chrono::Duration::days(365 * ANCHOR_LOCK_YEARS))
                }
                LockSupport::Unsupported(_) => None,
            },
            ..WriteOptions::default()
        };
        let body = serde_json::to_vec(checkpoint).unwrap_or_default();
        let mut writer = match self.ports.blob.create_with(&key, &options).await {
            Ok(writer) => writer,
            // Another custody replica anchored it first.
            Err(BlobError::AlreadyExists { .. }) => return Ok(()),
            Err(e) => return Err(failed(e)),
        };
        if let Err(e) = writer.write(bytes::Bytes::from(body)).await {
            writer.abort().await;
            return Err(failed(e));
        }
        let written = writer.finish().await.map_err(failed)?;
        self.ports.blob.verify(&written).await.map_err(failed)?;
        self.anchors.inc();
        Ok(())
    }
}

#[derive(utoipa::OpenApi)]
#[openapi(paths(entries, checkpoints, public_key, export::export, copies::create, copies::list, copies::get_one, copies::approve, copies::refuse, copies::set_redaction, copies::download, sessions::login, sessions::logout, sessions::me, credentials::list_tokens, credentials::revoke_token, credentials::set_expiry, credentials::rotate_token, credentials::list_users, credentials::disable_user, credentials::enable_user), modifiers(&BearerSecurity), tags((name = "custody", description = "The audit trail (art. 25)")))]
struct CustodyApi;

/// The custody role's API, described for other tools.
pub fn openapi() -> utoipa::openapi::OpenApi {
    <CustodyApi as utoipa::OpenApi>::openapi()
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
struct Page {
    /// Entries after this sequence number (default 0).
    after: Option<i64>,
    /// At most this many (1 to 1000; default 100).
    #[param(minimum = 1, maximum = 1000)]
    limit: Option<i64>,
    /// Entries up to this sequence number only: the `until` the first page answered. Reading
    /// the trail adds to it, so a pager that follows the chain's head would never finish.
    #[param(minimum = 0)]
    until: Option<i64>,
}

#[derive(Serialize, utoipa::ToSchema)]
struct Entries {
    entries: Vec<AuditEntry>,
    /// The snapshot this page belongs to: pass it back as `until` with the next page.
    until: i64,
    /// `after` for the next page, absent once the snapshot is read to its end.
    next_after: Option<i64>,
}

#[utoipa::path(get, path = "/v1/audit", tag = "custody", params(Page),
    responses((status = 200, description = "the caller's bureau's audit chain, in order", body = Entries),
              (status = 400, description = "a limit or until out of range", body = ErrorBody),
              (status = 403, description = "only auditors and admins read the trail", body = ErrorBody)),
    security(("bearer" = [])))]
async fn entries(
    State(custody): State<Arc<Custody>>,
    Extension(caller): Extension<Caller>,
    Query(page): Query<Page>,
) -> Result<Json<Entries>, ApiError> {
    caller.require(Action::ReadAudit)?;
    let limit = page.limit.unwrap_or(100);
    if !(1..=1000).contains(&limit) {
        return Err(ApiError::new(
            StatusCode::BAD_REQUEST,
            "invalid-request",
            format!("limit {limit} must be 1 to 1000"),
        ));
    }
    if page.until.is_some_and(|until| until < 0) {
        return Err(ApiError::new(
            StatusCode::BAD_REQUEST,
            "invalid-request",
            "until must be 0 or more",
        ));
    }
    let until = match page.until {
        Some(until) => until,
        None => custody
            .ports
            .catalogue
            .last_audit_entry(caller.bureau.as_str())
            .await?
            .map_or(0, |entry| entry.seq),
    };
    let mut entries = custody
        .ports
        .catalogue
        .audit_entries(caller.bureau.as_str(), page.after.unwrap_or(0), limit)
        .await?;
    entries.retain(|entry| entry.seq <= until);
    let next_after = entries
        .last()
        .map(|entry| entry.seq)
        .filter(|&last| last < until);
    Ok(Json(Entries {
        entries,
        until,
        next_after,
    }))
}

#[derive(Serialize, utoipa::ToSchema)]
struct Checkpoints {
    #[schema(value_type = Vec<Object>)]
    checkpoints: Vec<custodian_core::audit::Checkpoint>,
}

#[utoipa::path(get, path = "/v1/audit/checkpoints", tag = "custody",
    responses((status = 200, description = "the signed checkpoints of the caller's bureau's chain", body = Checkpoints),
              (status = 403, description = "only auditors and admins read the trail", body = ErrorBody)),
    security(("bearer" = [])))]
async fn checkpoints(
    State(custody): State<Arc<Custody>>,
    Extension(caller): Extension<Caller>,
) -> Result<Json<Checkpoints>, ApiError> {
    caller.require(Action::ReadAudit)?;
    Ok(Json(Checkpoints {
        checkpoints: custody
            .ports
            .catalogue
            .checkpoints(caller.bureau.as_str())
            .await?,
    }))
}

#[utoipa::path(get, path = "/v1/audit/public-key", tag = "custody",
    responses((status = 200, description = "the ed25519 public key checkpoints are signed with, hex", body = String)),
    security(("bearer" = [])))]
async fn public_key(State(custody): State<Arc<Custody>>) -> String {
    custody.public_key_hex()
}
