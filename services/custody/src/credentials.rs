//! Who may get in (issue #15): a bureau's admin lists, revokes, rotates and dates its API
//! tokens, and disables and enables its people's accounts; a region admin lists those of the
//! bureau it names, and changes nothing. No answer holds a secret except a rotation's new
//! token, shown once. Every request is in the bureau's audit trail (`protect`).

use std::sync::Arc;

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::{Extension, Json};
use chrono::{DateTime, Utc};
use custodian_core::roles::Action;
use custodian_core::token::{token_from_random, token_hash};
use custodian_core::users::is_login_name;
use custodian_platform::catalogue::{TokenRecord, UserRecord};
use custodian_platform::http::{ApiError, Caller, ErrorBody};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::Custody;

/// The longest a rotated token may keep working beside its successor.
const MAX_OVERLAP_SECONDS: u64 = 7 * 24 * 3600;

#[derive(Serialize, utoipa::ToSchema)]
pub struct TokenView {
    #[serde(flatten)]
    pub record: TokenRecord,
    /// `live`, `expired` or `revoked`, now.
    pub state: &'static str,
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct Tokens {
    pub tokens: Vec<TokenView>,
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct Users {
    pub users: Vec<UserRecord>,
}

#[derive(Deserialize, utoipa::ToSchema)]
pub struct Expiry {
    /// When the token stops working (in the future), or null for never.
    pub expires_at: Option<DateTime<Utc>>,
}

#[derive(Deserialize, utoipa::ToSchema)]
pub struct Rotation {
    /// How long the old token keeps working beside the new one (never past its own end), so
    /// a station can be given the new one first; 0 or absent revokes it at once.
    #[schema(maximum = 604800)]
    pub overlap_seconds: Option<u64>,
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct Rotated {
    /// The new token, for `Authorization: Bearer`; shown once.
    pub token: String,
    pub record: TokenRecord,
}

fn view(record: TokenRecord, now: DateTime<Utc>) -> TokenView {
    let state = record.state(now);
    TokenView { record, state }
}

fn no_token(id: Uuid) -> ApiError {
    ApiError::new(
        StatusCode::NOT_FOUND,
        "no-such-token",
        format!("no token {id} in this bureau"),
    )
}

/// The caller's bureau's token `id`, or 404.
async fn token_of(custody: &Custody, caller: &Caller, id: Uuid) -> Result<TokenRecord, ApiError> {
    custody
        .ports
        .catalogue
        .tokens(Some(&caller.bureau))
        .await?
        .into_iter()
        .find(|t| t.id == id)
        .ok_or_else(|| no_token(id))
}

/// Refuses a change to the very token the request comes with: one request must not lock its
/// own caller out (and a fuzzer or a script must not saw off its own branch). Another admin,
/// or `custodian admin token`, changes it.
fn not_own_token(caller: &Caller, id: Uuid) -> Result<(), ApiError> {
    if caller.token_id == id {
        return Err(ApiError::new(
            StatusCode::CONFLICT,
            "own-token",
            "a token does not revoke, rotate or date itself: use another admin's token or `custodian admin token`",
        ));
    }
    Ok(())
}

/// Refuses a change to a token that no longer works.
fn require_live(token: &TokenRecord, now: DateTime<Utc>) -> Result<(), ApiError> {
    match token.state(now) {
        "revoked" => Err(ApiError::new(
            StatusCode::CONFLICT,
            "token-revoked",
            format!("token {} is revoked", token.id),
        )),
        "expired" => Err(ApiError::new(
            StatusCode::CONFLICT,
            "token-expired",
            format!("token {} has expired", token.id),
        )),
        _ => Ok(()),
    }
}

#[utoipa::path(get, path = "/v1/admin/tokens", tag = "custody",
    responses((status = 200, description = "the bureau's API tokens, revoked and expired ones too, oldest first (never their secrets)", body = Tokens),
              (status = 403, description = "only admins, and region admins naming the bureau, see them", body = ErrorBody)),
    security(("bearer" = [])))]
pub async fn list_tokens(
    State(custody): State<Arc<Custody>>,
    Extension(caller): Extension<Caller>,
) -> Result<Json<Tokens>, ApiError> {
    caller.require(Action::ReadCredentials)?;
    let now = custody.ports.clock.now();
    let tokens = custody
        .ports
        .catalogue
        .tokens(Some(&caller.bureau))
        .await?
        .into_iter()
        .map(|t| view(t, now))
        .collect();
    Ok(Json(Tokens { tokens }))
}

#[utoipa::path(post, path = "/v1/admin/tokens/{id}/revoke", tag = "custody",
    params(("id" = Uuid, Path, description = "the token's id")),
    responses((status = 200, description = "revoked: it answers 401 from now on", body = TokenView),
              (status = 403, description = "only the bureau's admins revoke tokens", body = ErrorBody),
              (status = 404, description = "no such token in this bureau", body = ErrorBody),
              (status = 409, description = "revoked already, or the very token the request comes with (own-token)", body = ErrorBody)),
    security(("bearer" = [])))]
pub async fn revoke_token(
    State(custody): State<Arc<Custody>>,
    Extension(caller): Extension<Caller>,
    Path(id): Path<Uuid>,
) -> Result<Json<TokenView>, ApiError> {
    caller.require(Action::ManageCredentials)?;
    not_own_token(&caller, id)?;
    let now = custody.ports.clock.now();
    let token = token_of(&custody, &caller, id).await?;
    if token.revoked_at.is_some()
        || !custody
            .ports
            .catalogue
            .revoke_token(&caller.bureau, id, now)
            .await?
    {
        return Err(ApiError::new(
            StatusCode::CONFLICT,
            "token-revoked",
            format!("token {id} is revoked already"),
        ));
    }
    Ok(Json(view(token_of(&custody, &caller, id).await?, now)))
}

#[utoipa::path(put, path = "/v1/admin/tokens/{id}/expiry", tag = "custody",
    params(("id" = Uuid, Path, description = "the token's id")), request_body = Expiry,
    responses((status = 200, description = "the token's end is set (or cleared)", body = TokenView),
              (status = 400, description = "the end is not in the future", body = ErrorBody),
              (status = 403, description = "only the bureau's admins date tokens", body = ErrorBody),
              (status = 404, description = "no such token in this bureau", body = ErrorBody),
              (status = 409, description = "the token is revoked or expired, or is the very token the request comes with (own-token)", body = ErrorBody)),
    security(("bearer" = [])))]
pub async fn set_expiry(
    State(custody): State<Arc<Custody>>,
    Extension(caller): Extension<Caller>,
    Path(id): Path<Uuid>,
    Json(expiry): Json<Expiry>,
) -> Result<Json<TokenView>, ApiError> {
    caller.require(Action::ManageCredentials)?;
    not_own_token(&caller, id)?;
    let now = custody.ports.clock.now();
    if let Some(end) = expiry.expires_at.filter(|end| *end <= now) {
        return Err(ApiError::new(
            StatusCode::BAD_REQUEST,
            "invalid-request",
            format!("expires_at {end} is not in the future (revoke the token instead)"),
        ));
    }
    let token = token_of(&custody, &caller, id).await?;
    require_live(&token, now)?;
    if !custody
        .ports
        .catalogue
        .set_token_expiry(&caller.bureau, id, expiry.expires_at)
        .await?
    {
        return Err(no_token(id));
    }
    Ok(Json(view(token_of(&custody, &caller, id).await?, now)))
}

#[utoipa::path(post, path = "/v1/admin/tokens/{id}/rotate", tag = "custody",
    params(("id" = Uuid, Path, description = "the token's id")), request_body = Rotation,
    responses((status = 201, description = "a new token with the old one's label, role and end; the old one is revoked, or ends after the overlap", body = Rotated),
              (status = 400, description = "the overlap is longer than 7 days", body = ErrorBody),
              (status = 403, description = "only the bureau's admins rotate tokens, and not tokens whose role spans bureaus", body = ErrorBody),
              (status = 404, description = "no such token in this bureau", body = ErrorBody),
              (status = 409, description = "the token is revoked or expired, or is the very token the request comes with (own-token)", body = ErrorBody)),
    security(("bearer" = [])))]
pub async fn rotate_token(
    State(custody): State<Arc<Custody>>,
    Extension(caller): Extension<Caller>,
    Path(id): Path<Uuid>,
    Json(rotation): Json<Rotation>,
) -> Result<(StatusCode, Json<Rotated>), ApiError> {
    caller.require(Action::ManageCredentials)?;
    not_own_token(&caller, id)?;
    let now = custody.ports.clock.now();
    let overlap = rotation.overlap_seconds.unwrap_or(0);
    if overlap > MAX_OVERLAP_SECONDS {
        return Err(ApiError::new(
            StatusCode::BAD_REQUEST,
            "invalid-request",
            format!("overlap_seconds {overlap} is more than {MAX_OVERLAP_SECONDS} (7 days)"),
        ));
    }
    let token = token_of(&custody, &caller, id).await?;
    // Whoever rotates a token learns its new secret: a bureau's admin must not become a
    // region admin by rotating one that happens to live in its bureau.
    if token.role.spans_bureaus() {
        return Err(ApiError::new(
            StatusCode::FORBIDDEN,
            "rotate-forbidden",
            format!(
                "a {} token is rotated from the command line only",
                token.role
            ),
        ));
    }
    require_live(&token, now)?;
    let secret = token_from_random(rand::random());
    let old_end = (overlap > 0).then(|| now + chrono::Duration::seconds(overlap as i64));
    let record = custody
        .ports
        .catalogue
        .rotate_token(&caller.bureau, id, &token_hash(&secret), now, old_end)
        .await?
        .ok_or_else(|| no_token(id))?;
    Ok((
        StatusCode::CREATED,
        Json(Rotated {
            token: secret,
            record,
        }),
    ))
}

#[utoipa::path(get, path = "/v1/admin/users", tag = "custody",
    responses((status = 200, description = "the bureau's people's accounts, disabled ones too (never their password hashes)", body = Users),
              (status = 403, description = "only admins, and region admins naming the bureau, see them", body = ErrorBody)),
    security(("bearer" = [])))]
pub async fn list_users(
    State(custody): State<Arc<Custody>>,
    Extension(caller): Extension<Caller>,
) -> Result<Json<Users>, ApiError> {
    caller.require(Action::ReadCredentials)?;
    let users = custody.ports.catalogue.users(Some(&caller.bureau)).await?;
    Ok(Json(Users { users }))
}

/// The caller's bureau's user `username`, or 404.
async fn user_of(
    custody: &Custody,
    caller: &Caller,
    username: &str,
) -> Result<UserRecord, ApiError> {
    let missing = || {
        ApiError::new(
            StatusCode::NOT_FOUND,
            "no-such-user",
            "no such user in this bureau",
        )
    };
    if !is_login_name(username) {
        return Err(missing());
    }
    custody
        .ports
        .catalogue
        .users(Some(&caller.bureau))
        .await?
        .into_iter()
        .find(|u| u.username == username)
        .ok_or_else(missing)
}

#[utoipa::path(post, path = "/v1/admin/users/{username}/disable", tag = "custody",
    params(("username" = String, Path, description = "the user's name")),
    responses((status = 200, description = "disabled: the user cannot log in, and their sessions have ended", body = UserRecord),
              (status = 403, description = "only the bureau's admins disable accounts", body = ErrorBody),
              (status = 404, description = "no such user in this bureau", body = ErrorBody),
              (status = 409, description = "the caller's own account (own-account)", body = ErrorBody)),
    security(("bearer" = [])))]
pub async fn disable_user(
    State(custody): State<Arc<Custody>>,
    Extension(caller): Extension<Caller>,
    Path(username): Path<String>,
) -> Result<Json<UserRecord>, ApiError> {
    caller.require(Action::ManageCredentials)?;
    if caller.person == format!("user {}/{username}", caller.bureau) {
        return Err(ApiError::new(
            StatusCode::CONFLICT,
            "own-account",
            "an account does not disable itself: another admin, or `custodian admin user disable`, does",
        ));
    }
    user_of(&custody, &caller, &username).await?;
    custody
        .ports
        .catalogue
        .disable_user(&caller.bureau, &username, custody.ports.clock.now())
        .await?;
    Ok(Json(user_of(&custody, &caller, &username).await?))
}

#[utoipa::path(post, path = "/v1/admin/users/{username}/enable", tag = "custody",
    params(("username" = String, Path, description = "the user's name")),
    responses((status = 200, description = "enabled: the user may log in again (old sessions stay ended)", body = UserRecord),
              (status = 403, description = "only the bureau's admins enable accounts", body = ErrorBody),
              (status = 404, description = "no such user in this bureau", body = ErrorBody)),
    security(("bearer" = [])))]
pub async fn enable_user(
    State(custody): State<Arc<Custody>>,
    Extension(caller): Extension<Caller>,
    Path(username): Path<String>,
) -> Result<Json<UserRecord>, ApiError> {
    caller.require(Action::ManageCredentials)?;
    user_of(&custody, &caller, &username).await?;
    custody
        .ports
        .catalogue
        .enable_user(&caller.bureau, &username)
        .await?;
    Ok(Json(user_of(&custody, &caller, &username).await?))
}
