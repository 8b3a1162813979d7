//! Logging in (people) and out. A login names the bureau, the user and the password; it
//! answers a session token, shown once, that ends after the configured hours or on logout.
//! Every login, failed ones too, is an entry in the bureau's audit trail; a failure says the
//! same thing whether the user is unknown or the password wrong, and passwords are never logged.

use std::sync::Arc;

use axum::extract::State;
use axum::http::{header, HeaderMap, StatusCode};
use axum::Json;
use chrono::{DateTime, Duration, Utc};
use custodian_core::audit::NewAuditEntry;
use custodian_core::token::token_hash;
use custodian_core::users::{session_token, verify_password};
use custodian_core::BureauId;
use custodian_platform::http::{ApiError, ErrorBody};
use serde::{Deserialize, Serialize};

use crate::Custody;

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

fn refused() -> ApiError {
    ApiError::new(
        StatusCode::UNAUTHORIZED,
        "login-failed",
        "unknown user or wrong password",
    )
}

#[utoipa::path(post, path = "/v1/sessions", tag = "custody", request_body = Login,
    responses((status = 201, description = "logged in", body = Session),
              (status = 401, description = "unknown user or wrong password", body = ErrorBody)))]
pub async fn login(
    State(custody): State<Arc<Custody>>,
    Json(login): Json<Login>,
) -> Result<(StatusCode, Json<Session>), ApiError> {
    let bureau = BureauId::parse(&login.bureau).map_err(|_| refused())?;
    let now = custody.ports.clock.now();
    let user = custody
        .ports
        .catalogue
        .user(&bureau, &login.username)
        .await?;
    let password = login.password;
    // Argon2 is deliberately slow: off the async workers.
    let accepted = match user {
        Some((role, hash)) => {
            tokio::task::spawn_blocking(move || verify_password(&password, &hash).then_some(role))
                .await
                .map_err(|e| ApiError::internal(e.to_string()))?
        }
        None => None,
    };
    // Failures are recorded only in bureaus that exist, so no one can create chains at will.
    if accepted.is_some() || custody.ports.catalogue.bureau_exists(&bureau).await? {
        let entry = NewAuditEntry {
            at: now,
            actor: format!(
                "user {}",
                login.username.chars().take(64).collect::<String>()
            ),
            action: "login".into(),
            target: None,
            detail: if accepted.is_some() {
                "succeeded".into()
            } else {
                "failed".into()
            },
        };
        custody
            .ports
            .catalogue
            .append_audit(bureau.as_str(), entry)
            .await?;
    }
    let Some(role) = accepted else {
        return Err(refused());
    };
    let token = session_token(rand::random());
    let expires_at = now + Duration::hours(custody.session_hours);
    custody
        .ports
        .catalogue
        .create_session(
            uuid::Uuid::now_v7(),
            &token_hash(&token),
            &bureau,
            &login.username,
            now,
            expires_at,
        )
        .await?;
    tracing::info!(bureau = %bureau, username = %login.username, role = %role, "logged in");
    Ok((StatusCode::CREATED, Json(Session { token, expires_at })))
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
