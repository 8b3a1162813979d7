//! Logging in (people) and out. A login names the bureau, the user and the password; it
//! answers a session token, shown once, that ends after the configured hours or on logout.
//! Every login, failed ones too, is an entry in the bureau's audit trail; a failure says the
//! same thing whether the user is unknown or the password wrong, and passwords are never logged.
//!
//! Guessing is throttled (issue #15): failures are counted per account and per client address
//! (`custodian_core::login`), in the catalogue so that every custody process sees them; a key
//! past its free failures answers 429 with `Retry-After` without checking anything. A login
//! naming no enabled user verifies the password against a dummy hash as costly as a real one,
//! so neither the answer nor its time nor the throttling tells whether the user exists. Names
//! that cannot be user names are refused like a wrong password and never written to the trail.

use std::net::{IpAddr, Ipv6Addr, SocketAddr};
use std::sync::Arc;
use std::time::Duration as StdDuration;

use axum::extract::State;
use axum::http::{header, HeaderMap, HeaderName, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use chrono::{DateTime, Duration, Utc};
use custodian_core::audit::NewAuditEntry;
use custodian_core::login::{Refusals, Reservation, Throttle, ThrottlePolicy};
use custodian_core::token::token_hash;
use custodian_core::users::{
    dummy_hash, is_login_name, session_token, verify_password, MAX_PASSWORD_BYTES,
};
use custodian_core::BureauId;
use custodian_platform::catalogue::{AccessRepo, Catalogue, CatalogueError};
use custodian_platform::config::ConfigError;
use custodian_platform::http::{ApiError, ErrorBody, PeerAddress};
use prometheus::{IntCounter, IntCounterVec, Opts, Registry};
use serde::{Deserialize, Serialize};

use crate::{Custody, CustodyConfig, CustodyError};

/// How often login throttles whose time is over are forgotten.
pub(crate) const FORGET_THROTTLES_EVERY: StdDuration = StdDuration::from_secs(60);

#[derive(Deserialize, utoipa::ToSchema)]
pub struct Login {
    pub bureau: String,
    pub username: String,
    pub password: String,
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct Session {
    /// Use as `Authorization: Bearer <token>`; shown once.
    pub token: String,
    pub expires_at: DateTime<Utc>,
}

/// What stands between a guesser and the passwords: the throttle policies, the dummy hash,
/// and the counts that show both at work.
pub(crate) struct LoginGuard {
    account: ThrottlePolicy,
    address: ThrottlePolicy,
    dummy_hash: String,
    address_header: Option<HeaderName>,
    /// Every argon2 verification a login ran, for real users and dummy alike (one number, so
    /// it tells nothing about which users exist).
    password_checks: IntCounter,
    outcomes: IntCounterVec,
}

fn positive(setting: &'static str, value: StdDuration) -> Result<Duration, ConfigError> {
    Duration::from_std(value)
        .ok()
        .filter(|d| *d > Duration::zero() && *d <= Duration::days(1))
        .ok_or_else(|| {
            ConfigError::new(
                setting,
                format!("{value:?}"),
                "must be more than 0 and at most 1 day",
            )
        })
}

fn policy(
    free: (&'static str, u32),
    lockout_failures: (&'static str, u32),
    config: &CustodyConfig,
) -> Result<ThrottlePolicy, ConfigError> {
    if free.1 == 0 {
        return Err(ConfigError::new(free.0, free.1, "must be at least 1"));
    }
    if lockout_failures.1 <= free.1 {
        return Err(ConfigError::new(
            lockout_failures.0,
            lockout_failures.1,
            format!("must be more than {} ({})", free.0, free.1),
        ));
    }
    let policy = ThrottlePolicy {
        free_failures: free.1,
        backoff: positive("login-backoff", config.login_backoff)?,
        lockout_failures: lockout_failures.1,
        window: positive("login-window", config.login_window)?,
        lockout: positive("login-lockout", config.login_lockout)?,
    };
    if policy.backoff > policy.lockout {
        return Err(ConfigError::new(
            "login-backoff",
            format!("{:?}", config.login_backoff),
            "must not be longer than login-lockout",
        ));
    }
    Ok(policy)
}

impl LoginGuard {
    pub(crate) fn new(config: &CustodyConfig, registry: &Registry) -> Result<Self, CustodyError> {
        let account = policy(
            ("login-free-failures", config.login_free_failures),
            ("login-lockout-failures", config.login_lockout_failures),
            config,
        )?;
        let address = policy(
            (
                "login-address-free-failures",
                config.login_address_free_failures,
            ),
            (
                "login-address-lockout-failures",
                config.login_address_lockout_failures,
            ),
            config,
        )?;
        let address_header = config
            .login_client_address_header
            .as_deref()
            .map(|name| {
                HeaderName::try_from(name.trim())
                    .map_err(|e| ConfigError::new("login-client-address-header", name, e))
            })
            .transpose()?;
        let dummy_hash = dummy_hash(rand::random(), rand::random())?;
        let password_checks = IntCounter::new(
            "custodian_login_password_checks_total",
            "Password verifications run by logins (for unknown users too, against a dummy hash)",
        )?;
        let outcomes = IntCounterVec::new(
            Opts::new(
                "custodian_logins_total",
                "Logins, by outcome: succeeded, failed, throttled",
            ),
            &["outcome"],
        )?;
        registry.register(Box::new(password_checks.clone()))?;
        registry.register(Box::new(outcomes.clone()))?;
        Ok(Self {
            account,
            address,
            dummy_hash,
            address_header,
            password_checks,
            outcomes,
        })
    }

    fn policy_for(&self, key: &str) -> &ThrottlePolicy {
        if key.starts_with(ACCOUNT) {
            &self.account
        } else {
            &self.address
        }
    }

    /// The client's address as throttling counts it: the proxy's header where one is
    /// configured, else the connection's peer; an IPv6 address by its /64, which one
    /// subscriber usually holds whole.
    fn client(&self, headers: &HeaderMap, peer: Option<SocketAddr>) -> String {
        let forwarded = self.address_header.as_ref().and_then(|name| {
            let value = headers.get(name)?.to_str().ok()?;
            let last = value.rsplit(',').next()?.trim();
            last.parse::<IpAddr>()
                .ok()
                .or_else(|| last.parse::<SocketAddr>().ok().map(|a| a.ip()))
        });
        match forwarded.or(peer.map(|p| p.ip())) {
            Some(IpAddr::V6(v6)) => match v6.to_ipv4_mapped() {
                Some(v4) => v4.to_string(),
                None => {
                    let s = v6.segments();
                    format!("{}/64", Ipv6Addr::new(s[0], s[1], s[2], s[3], 0, 0, 0, 0))
                }
            },
            Some(v4) => v4.to_string(),
            None => "unknown".into(),
        }
    }
}

const ACCOUNT: &str = "account:";
const ADDRESS: &str = "address:";

/// How a key is named in the audit trail. Keys are made of checked text only (a bureau id,
/// a valid user name, a parsed address), so this writes nothing a client chose freely.
fn actor_of(key: &str) -> String {
    if let Some(account) = key.strip_prefix(ACCOUNT) {
        let name = account.split_once('/').map_or(account, |(_, name)| name);
        format!("user {name}")
    } else {
        format!("client {}", key.strip_prefix(ADDRESS).unwrap_or(key))
    }
}

enum Admission {
    Refused { until: DateTime<Utc> },
    Admitted(Vec<Reservation>),
}

/// Refuses the attempt if any of its keys is blocked (counting the refusal there), else
/// counts it as a failure on every key until it proves right: one transaction, so attempts
/// sent at once cannot all slip in.
async fn admit(
    guard: &LoginGuard,
    catalogue: &dyn AccessRepo,
    keys: &[String],
    now: DateTime<Utc>,
    bureau: Option<&str>,
) -> Result<Admission, CatalogueError> {
    let policies: Vec<ThrottlePolicy> = keys.iter().map(|k| *guard.policy_for(k)).collect();
    let mut admission = Admission::Admitted(Vec::new());
    catalogue
        .update_login_throttles(keys, now, &mut |states: &mut [Throttle]| {
            let blocked = states
                .iter()
                .zip(&policies)
                .filter_map(|(state, policy)| policy.blocked_until(state, now))
                .max();
            admission = match blocked {
                Some(until) => {
                    for (state, policy) in states.iter_mut().zip(&policies) {
                        if policy.blocked_until(state, now).is_some() {
                            policy.refuse(state, now);
                        }
                    }
                    Admission::Refused { until }
                }
                None => Admission::Admitted(
                    states
                        .iter_mut()
                        .zip(&policies)
                        .map(|(state, policy)| policy.reserve(state, now, bureau))
                        .collect(),
                ),
            };
        })
        .await?;
    Ok(admission)
}

/// Takes back an attempt that proved right: the account starts afresh; the address only
/// loses this attempt's count (its other failures may have been against other accounts).
async fn settle_success(
    guard: &LoginGuard,
    catalogue: &dyn AccessRepo,
    keys: &[String],
    now: DateTime<Utc>,
) -> Result<(), CatalogueError> {
    catalogue
        .update_login_throttles(keys, now, &mut |states: &mut [Throttle]| {
            for (key, state) in keys.iter().zip(states.iter_mut()) {
                if key.starts_with(ACCOUNT) {
                    *state = Throttle::default();
                } else {
                    guard.policy_for(key).release(state);
                }
            }
        })
        .await
}

fn refused() -> Response {
    ApiError::new(
        StatusCode::UNAUTHORIZED,
        "login-failed",
        "unknown user or wrong password",
    )
    .into_response()
}

fn throttled(until: DateTime<Utc>, now: DateTime<Utc>) -> Response {
    let seconds = u64::try_from((until - now).num_milliseconds())
        .unwrap_or(0)
        .div_ceil(1000)
        .max(1);
    let mut response = ApiError::new(
        StatusCode::TOO_MANY_REQUESTS,
        "login-throttled",
        format!("too many failed logins; try again in {seconds} s"),
    )
    .into_response();
    response
        .headers_mut()
        .insert(header::RETRY_AFTER, HeaderValue::from(seconds));
    response
}

fn unavailable(err: impl Into<ApiError>) -> Response {
    err.into().into_response()
}

/// Appends `entry` to `bureau`'s trail if the bureau exists (no one creates chains at will).
async fn audit_if_bureau(
    catalogue: &dyn Catalogue,
    bureau: &str,
    entry: NewAuditEntry,
) -> Result<(), CatalogueError> {
    let Ok(id) = BureauId::parse(bureau) else {
        return Ok(());
    };
    if catalogue.bureau_exists(&id).await? {
        catalogue.append_audit(id.as_str(), entry).await?;
    }
    Ok(())
}

/// One entry for all the attempts a blocked key refused, in the trail of the bureau where
/// its block began.
async fn report_refusals(
    catalogue: &dyn Catalogue,
    key: &str,
    refusals: &Refusals,
    at: DateTime<Utc>,
) {
    let Some(bureau) = &refusals.bureau else {
        return;
    };
    let entry = NewAuditEntry {
        at,
        actor: actor_of(key),
        action: "login refused".into(),
        target: None,
        detail: format!(
            "{} attempts refused while throttled, from {} on",
            refusals.count,
            refusals.since.to_rfc3339()
        ),
    };
    if let Err(e) = audit_if_bureau(catalogue, bureau, entry).await {
        tracing::warn!(error = %e, bureau, "recording refused logins in the audit trail failed");
    }
}

/// Forgets login throttles whose window and block are over, reporting refusals that no later
/// attempt reported.
pub(crate) async fn forget_login_throttles(custody: &Custody) -> Result<(), CatalogueError> {
    let guard = &custody.login;
    let now = custody.ports.clock.now();
    let memory = guard.account.memory().max(guard.address.memory());
    for (key, mut state) in custody
        .ports
        .catalogue
        .take_stale_login_throttles(now - memory)
        .await?
    {
        if let Some(refusals) = guard.policy_for(&key).take_refusals(&mut state) {
            report_refusals(&*custody.ports.catalogue, &key, &refusals, now).await;
        }
    }
    Ok(())
}

/// The audit entry of a block a failure started: when throttling begins and when a lockout
/// does. The waits growing in between are not entries of their own: each failure is.
fn block_entry(
    key: &str,
    policy: &ThrottlePolicy,
    reservation: &Reservation,
    client: &str,
    now: DateTime<Utc>,
) -> Option<NewAuditEntry> {
    let block = reservation.block.as_ref()?;
    let (action, detail) = if block.locked {
        (
            "login locked",
            format!(
                "{} failed logins within {} min; locked until {}",
                block.failures,
                policy.window.num_minutes(),
                block.until.to_rfc3339()
            ),
        )
    } else if block.failures == policy.free_failures {
        (
            "login throttled",
            format!(
                "{} failed logins; each further attempt waits, twice as long as the last (next from {})",
                block.failures,
                block.until.to_rfc3339()
            ),
        )
    } else {
        return None;
    };
    let detail = if key.starts_with(ACCOUNT) {
        format!("{detail}; last from client {client}")
    } else {
        detail
    };
    Some(NewAuditEntry {
        at: now,
        actor: actor_of(key),
        action: action.into(),
        target: None,
        detail,
    })
}

#[utoipa::path(post, path = "/v1/sessions", tag = "custody", request_body = Login,
    responses((status = 201, description = "logged in", body = Session),
              (status = 401, description = "unknown user or wrong password (also: a name that cannot be a user's)", body = ErrorBody),
              (status = 429, description = "too many failed logins for this account or from this client address; nothing was checked",
               body = ErrorBody, headers(("Retry-After" = u64, description = "seconds until an attempt is tried again")))))]
pub async fn login(
    State(custody): State<Arc<Custody>>,
    PeerAddress(peer): PeerAddress,
    headers: HeaderMap,
    Json(mut login): Json<Login>,
) -> Result<(StatusCode, Json<Session>), Response> {
    let guard = &custody.login;
    let catalogue = &*custody.ports.catalogue;
    let now = custody.ports.clock.now();
    let client = guard.client(&headers, peer);
    let bureau = BureauId::parse(&login.bureau).ok();
    let name = is_login_name(&login.username).then_some(login.username.as_str());
    let mut keys = vec![format!("{ADDRESS}{client}")];
    if let (Some(bureau), Some(name)) = (&bureau, name) {
        keys.push(format!("{ACCOUNT}{bureau}/{name}"));
    }
    let bureau_name = bureau.as_ref().map(BureauId::as_str);
    let reservations = match admit(guard, catalogue, &keys, now, bureau_name)
        .await
        .map_err(unavailable)?
    {
        Admission::Refused { until } => {
            guard.outcomes.with_label_values(&["throttled"]).inc();
            return Err(throttled(until, now));
        }
        Admission::Admitted(reservations) => reservations,
    };
    for (key, reservation) in keys.iter().zip(&reservations) {
        if let Some(refusals) = &reservation.refusals {
            report_refusals(catalogue, key, refusals, now).await;
        }
    }

    // A name that cannot be a user's, or a password no one could have, is checked against
    // nothing: no user can match it, and its timing tells only what the request showed.
    let mut accepted = None;
    if let (Some(bureau), Some(name)) = (&bureau, name) {
        if login.password.len() <= MAX_PASSWORD_BYTES {
            let user = catalogue.user(bureau, name).await.map_err(unavailable)?;
            let (role, hash) = match user {
                Some((role, hash)) => (Some(role), hash),
                None => (None, guard.dummy_hash.clone()),
            };
            let password = std::mem::take(&mut login.password);
            guard.password_checks.inc();
            // Argon2 is deliberately slow: off the async workers.
            let right = tokio::task::spawn_blocking(move || verify_password(&password, &hash))
                .await
                .map_err(|e| ApiError::internal(e.to_string()).into_response())?;
            accepted = role.filter(|_| right);
        }
    }

    if accepted.is_some() {
        settle_success(guard, catalogue, &keys, now)
            .await
            .map_err(unavailable)?;
    }
    // Failures are recorded only in bureaus that exist, so no one can create chains at will.
    if let Some(bureau) = bureau_name {
        let entry = NewAuditEntry {
            at: now,
            actor: match name {
                Some(name) => format!("user {name}"),
                None => "user (not a valid user name)".into(),
            },
            action: "login".into(),
            target: None,
            detail: if accepted.is_some() {
                "succeeded".into()
            } else {
                "failed".into()
            },
        };
        audit_if_bureau(catalogue, bureau, entry)
            .await
            .map_err(unavailable)?;
        if accepted.is_none() {
            for (key, reservation) in keys.iter().zip(&reservations) {
                if let Some(entry) =
                    block_entry(key, guard.policy_for(key), reservation, &client, now)
                {
                    audit_if_bureau(catalogue, bureau, entry)
                        .await
                        .map_err(unavailable)?;
                }
            }
        }
    }
    let (Some(role), Some(bureau), Some(name)) = (accepted, &bureau, name) else {
        guard.outcomes.with_label_values(&["failed"]).inc();
        return Err(refused());
    };
    guard.outcomes.with_label_values(&["succeeded"]).inc();
    let token = session_token(rand::random());
    let expires_at = now + Duration::hours(custody.session_hours);
    catalogue
        .create_session(
            uuid::Uuid::now_v7(),
            &token_hash(&token),
            bureau,
            name,
            now,
            expires_at,
        )
        .await
        .map_err(unavailable)?;
    tracing::info!(bureau = %bureau, username = %name, role = %role, "logged in");
    Ok((StatusCode::CREATED, Json(Session { token, expires_at })))
}

/// Who the caller is, as the server authenticated them: what a client (the web console)
/// needs to offer only what the caller may do.
#[derive(Serialize, utoipa::ToSchema)]
pub struct Me {
    pub bureau: String,
    #[schema(example = "leader")]
    pub role: String,
    pub label: String,
    /// The officer the credential speaks for, if any.
    pub officer: Option<String>,
    pub team: Option<String>,
}

#[utoipa::path(get, path = "/v1/me", tag = "custody",
    responses((status = 200, description = "the caller's bureau, role and identity", body = Me)),
    security(("bearer" = [])))]
pub async fn me(
    axum::Extension(caller): axum::Extension<custodian_platform::http::Caller>,
) -> Json<Me> {
    Json(Me {
        bureau: caller.bureau.to_string(),
        role: caller.role.as_str().to_owned(),
        label: caller.label,
        officer: caller.identity.officer.map(|o| o.to_string()),
        team: caller.identity.team,
    })
}

#[utoipa::path(post, path = "/v1/sessions/end", tag = "custody",
    responses((status = 204, description = "the caller's session ended"),
              (status = 401, description = "not logged in", body = ErrorBody)),
    security(("bearer" = [])))]
pub async fn logout(
    State(custody): State<Arc<Custody>>,
    headers: HeaderMap,
) -> Result<StatusCode, ApiError> {
    let token = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .map(str::trim)
        .unwrap_or_default();
    if custody
        .ports
        .catalogue
        .end_session(&token_hash(token), custody.ports.clock.now())
        .await?
    {
        Ok(StatusCode::NO_CONTENT)
    } else {
        Err(ApiError::new(
            StatusCode::UNAUTHORIZED,
            "no-session",
            "this token is not a live session",
        ))
    }
}
