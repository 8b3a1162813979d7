//! Bureaus' credentials: tokens, users, sessions and login throttles, and their rows.

use chrono::{DateTime, Utc};
use custodian_core::login::Throttle;
use custodian_core::roles::{OfficerIdentity, Role};
use custodian_core::{BureauId, LocalId};
use serde::Serialize;
use uuid::Uuid;

use crate::catalogue::CatalogueError;

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
    /// The `x5t#S256` thumbprint of the client certificate a machine token is bound to
    /// (RFC 8705): it is accepted only over a TLS connection presenting that certificate.
    pub client_certificate: Option<String>,
}

/// The officer and team a token or user row names.
pub(in crate::catalogue) fn identity(
    what: &str,
    officer: Option<String>,
    team: Option<String>,
) -> Result<OfficerIdentity, CatalogueError> {
    Ok(OfficerIdentity {
        officer: officer
            .map(|o| LocalId::parse("officer id", &o))
            .transpose()
            .map_err(|e| CatalogueError::Corrupt {
                detail: format!("{what}: {e}"),
            })?,
        team,
    })
}

pub(in crate::catalogue) type TokenRow = (
    Uuid,
    String,
    String,
    String,
    DateTime<Utc>,
    Option<DateTime<Utc>>,
    Option<DateTime<Utc>>,
    Option<String>,
);

pub(in crate::catalogue) const TOKEN_COLUMNS: &str =
    "id, bureau_id, label, role, created_at, expires_at, revoked_at, client_cert_x5t_s256";

pub(in crate::catalogue) fn token_record(row: TokenRow) -> Result<TokenRecord, CatalogueError> {
    let (id, bureau, label, role, created_at, expires_at, revoked_at, client_cert_x5t_s256) = row;
    let corrupt = |e: &dyn std::fmt::Display| CatalogueError::Corrupt {
        detail: format!("token {id}: {e}"),
    };
    Ok(TokenRecord {
        id,
        bureau: BureauId::parse(&bureau).map_err(|e| corrupt(&e))?,
        label,
        role: role.parse().map_err(|e| corrupt(&e))?,
        created_at,
        expires_at,
        revoked_at,
        client_cert_x5t_s256,
    })
}

pub(in crate::catalogue) type UserRow =
    (String, String, String, DateTime<Utc>, Option<DateTime<Utc>>);

pub(in crate::catalogue) fn user_record(row: UserRow) -> Result<UserRecord, CatalogueError> {
    let (bureau, username, role, created_at, disabled_at) = row;
    let corrupt = |e: &dyn std::fmt::Display| CatalogueError::Corrupt {
        detail: format!("user {bureau}/{username}: {e}"),
    };
    Ok(UserRecord {
        bureau: BureauId::parse(&bureau).map_err(|e| corrupt(&e))?,
        role: role.parse().map_err(|e| corrupt(&e))?,
        username,
        created_at,
        disabled_at,
    })
}

pub(in crate::catalogue) type ThrottleRow = (
    String,
    i64,
    Option<DateTime<Utc>>,
    Option<DateTime<Utc>>,
    bool,
    i64,
    Option<DateTime<Utc>>,
    Option<String>,
);

pub(in crate::catalogue) const THROTTLE_COLUMNS: &str =
    "key, failures, window_started_at, blocked_until, locked, refused, refused_since, audit_bureau";

pub(in crate::catalogue) fn throttle_of(row: ThrottleRow) -> (String, Throttle) {
    let (
        key,
        failures,
        window_started_at,
        blocked_until,
        locked,
        refused,
        refused_since,
        audit_bureau,
    ) = row;
    let count = |n: i64| u32::try_from(n.max(0)).unwrap_or(u32::MAX);
    (
        key,
        Throttle {
            failures: count(failures),
            window_started_at,
            blocked_until,
            locked,
            refused: count(refused),
            refused_since,
            audit_bureau,
        },
    )
}

/// An API token as administrators see it: never its secret, not even its hash.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct TokenRecord {
    #[schema(value_type = String, format = Uuid)]
    pub id: Uuid,
    #[schema(value_type = String)]
    pub bureau: BureauId,
    pub label: String,
    #[schema(value_type = String, example = "officer")]
    pub role: custodian_core::roles::Role,
    pub created_at: DateTime<Utc>,
    /// When it stops working, if it was given an end.
    pub expires_at: Option<DateTime<Utc>>,
    pub revoked_at: Option<DateTime<Utc>>,
    /// The `x5t#S256` thumbprint of the client certificate the token is bound to (RFC 8705),
    /// if it is bound: then it works only over TLS with that certificate.
    pub client_cert_x5t_s256: Option<String>,
}

impl TokenRecord {
    /// Whether the token still lets its holder in at `now`.
    pub fn is_live(&self, now: DateTime<Utc>) -> bool {
        self.state(now) == "live"
    }

    /// `live`, `expired` or `revoked`, at `now`.
    pub fn state(&self, now: DateTime<Utc>) -> &'static str {
        if self.revoked_at.is_some() {
            "revoked"
        } else if self.expires_at.is_some_and(|end| end <= now) {
            "expired"
        } else {
            "live"
        }
    }
}

/// A person's account as administrators see it (never the password hash).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct UserRecord {
    #[schema(value_type = String)]
    pub bureau: BureauId,
    pub username: String,
    #[schema(value_type = String, example = "archivist")]
    pub role: custodian_core::roles::Role,
    pub created_at: DateTime<Utc>,
    /// Set while the account is disabled: it cannot log in, and its sessions have ended.
    pub disabled_at: Option<DateTime<Utc>>,
}
