//! Copy requests (art. 23). Anyone who may see a clip may ask for a copy for a party; a leader
//! of the same bureau, not the one who asked, approves or refuses it with a reason. An
//! approval opens a download link for a limited time: the link itself is the credential (the
//! party has no account), shown once and kept only as a hash. Every download, and every
//! refused attempt, is an entry in the bureau's audit trail.

use std::sync::Arc;

use axum::body::Body;
use axum::extract::{Path, State};
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::{Extension, Json};
use chrono::Duration;
use custodian_core::audit::NewAuditEntry;
use custodian_core::copies::{CopyError, CopyState};
use custodian_core::roles::Action;
use custodian_core::{ClipId, Sha256Digest};
use custodian_platform::catalogue::CopyRequest;
use custodian_platform::http::{clip_in_bureau, ApiError, Caller, ErrorBody};
use serde::{Deserialize, Serialize};

use crate::Custody;

#[derive(Debug, Deserialize, utoipa::ToSchema)]
pub struct NewCopyRequest {
    #[schema(format = Uuid)]
    pub clip_id: String,
    /// Who receives the copy.
    #[schema(
        min_length = 1,
        max_length = 200,
        pattern = r"^[^\u0000-\u001F\u007F-\u009F]*[^\s\u0000-\u001F\u007F-\u009F][^\u0000-\u001F\u007F-\u009F]*$"
    )]
    pub party: String,
    /// Why (the party's request, the proceedings).
    #[schema(
        min_length = 1,
        max_length = 2000,
        pattern = r"^[^\u0000-\u001F\u007F-\u009F]*[^\s\u0000-\u001F\u007F-\u009F][^\u0000-\u001F\u007F-\u009F]*$"
    )]
    pub purpose: String,
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
pub struct Decision {
    #[schema(
        min_length = 1,
        max_length = 2000,
        pattern = r"^[^\u0000-\u001F\u007F-\u009F]*[^\s\u0000-\u001F\u007F-\u009F][^\u0000-\u001F\u007F-\u009F]*$"
    )]
    pub reason: String,
    /// How long the download stays open after an approval (1 to 720 hours; default 72).
    #[schema(minimum = 1, maximum = 720)]
    pub valid_hours: Option<i64>,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct Decided {
    request: CopyRequest,
    /// The download link for the party, shown once (approvals only).
    download_url: Option<String>,
}

fn text(field: &str, value: &str, max: usize) -> Result<String, ApiError> {
    let value = value.trim();
    if value.is_empty() || value.chars().count() > max || value.chars().any(char::is_control) {
        return Err(ApiError::new(
            StatusCode::BAD_REQUEST,
            "invalid-request",
            format!("{field} must be 1 to {max} characters without control characters"),
        ));
    }
    Ok(value.to_owned())
}

fn not_found(id: uuid::Uuid, caller: &Caller) -> ApiError {
    ApiError::new(
        StatusCode::NOT_FOUND,
        "no-such-copy-request",
        format!("no copy request {id} in bureau {}", caller.bureau),
    )
}

fn request_id(text: &str) -> Result<uuid::Uuid, ApiError> {
    uuid::Uuid::parse_str(text).map_err(|_| {
        ApiError::new(
            StatusCode::BAD_REQUEST,
            "invalid-request",
            format!("copy request id {text:?} is not a UUID"),
        )
    })
}

fn refused(e: CopyError) -> ApiError {
    match e {
        CopyError::OwnRequest => ApiError::new(StatusCode::FORBIDDEN, "own-request", e.to_string()),
        _ => ApiError::new(StatusCode::CONFLICT, "copy-request-state", e.to_string()),
    }
}

#[utoipa::path(post, path = "/v1/copy-requests", tag = "custody", request_body = NewCopyRequest,
    responses((status = 201, description = "recorded, pending a leader's decision", body = CopyRequest),
              (status = 403, description = "a role that may not ask for copies", body = ErrorBody),
              (status = 404, description = "no such clip in the caller's bureau", body = ErrorBody)),
    security(("bearer" = [])))]
pub async fn create(
    State(custody): State<Arc<Custody>>,
    Extension(caller): Extension<Caller>,
    Json(body): Json<NewCopyRequest>,
) -> Result<(StatusCode, Json<CopyRequest>), ApiError> {
    caller.require(Action::RequestCopy)?;
    let clip: ClipId = body.clip_id.parse().map_err(|e: custodian_core::IdError| {
        ApiError::new(StatusCode::BAD_REQUEST, "invalid-request", e.to_string())
    })?;
    let clip = clip_in_bureau(&*custody.ports.catalogue, &caller, clip).await?;
    let request = CopyRequest {
        id: uuid::Uuid::now_v7(),
        bureau: caller.bureau.clone(),
        clip: clip.id,
        party: text("party", &body.party, 200)?,
        purpose: text("purpose", &body.purpose, 2000)?,
        requested_by: caller.name(),
        requested_at: custody.ports.clock.now(),
        state: CopyState::Pending,
        decided_by: None,
        decided_at: None,
        reason: None,
        expires_at: None,
        downloads: 0,
    };
    custody
        .ports
        .catalogue
        .create_copy_request(&request)
        .await?;
    Ok((StatusCode::CREATED, Json(request)))
}

#[utoipa::path(get, path = "/v1/copy-requests/{id}", tag = "custody", params(("id" = uuid::Uuid, Path, description = "copy request id")),
    responses((status = 200, description = "the request and its decision", body = CopyRequest),
              (status = 404, description = "no such request in the caller's bureau", body = ErrorBody)),
    security(("bearer" = [])))]
pub async fn get_one(
    State(custody): State<Arc<Custody>>,
    Extension(caller): Extension<Caller>,
    Path(id): Path<String>,
) -> Result<Json<CopyRequest>, ApiError> {
    let id = request_id(&id)?;
    let request = custody
        .ports
        .catalogue
        .copy_request(&caller.bureau, id)
        .await?
        .ok_or_else(|| not_found(id, &caller))?;
    Ok(Json(request))
}

async fn decide(
    custody: &Custody,
    caller: &Caller,
    id: &str,
    approve: bool,
    body: Decision,
) -> Result<Json<Decided>, ApiError> {
    caller.require(Action::ApproveCopy)?;
    let id = request_id(id)?;
    let request = custody
        .ports
        .catalogue
        .copy_request(&caller.bureau, id)
        .await?
        .ok_or_else(|| not_found(id, caller))?;
    request
        .state
        .decide(&request.requested_by, &caller.name())
        .map_err(refused)?;
    let reason = text("reason", &body.reason, 2000)?;
    let now = custody.ports.clock.now();
    let hours = body.valid_hours.unwrap_or(72);
    if !(1..=720).contains(&hours) {
        return Err(ApiError::new(
            StatusCode::BAD_REQUEST,
            "invalid-request",
            format!("valid_hours {hours} must be 1 to 720"),
        ));
    }
    let token = approve.then(|| format!("copy_{}", hex::encode(rand::random::<[u8; 32]>())));
    let download = token.as_ref().map(|t| {
        (
            Sha256Digest::of(t.as_bytes()).to_hex(),
            now + Duration::hours(hours),
        )
    });
    let stored = download
        .as_ref()
        .map(|(hash, until)| (hash.as_str(), *until));
    if !custody
        .ports
        .catalogue
        .decide_copy_request(id, approve, &caller.name(), now, &reason, stored)
        .await?
    {
        return Err(ApiError::new(
            StatusCode::CONFLICT,
            "copy-request-state",
            "the request was decided meanwhile",
        ));
    }
    let request = custody
        .ports
        .catalogue
        .copy_request(&caller.bureau, id)
        .await?
        .ok_or_else(|| not_found(id, caller))?;
    Ok(Json(Decided {
        request,
        download_url: token.map(|t| format!("/v1/copies/{t}")),
    }))
}

#[utoipa::path(post, path = "/v1/copy-requests/{id}/approve", tag = "custody", params(("id" = uuid::Uuid, Path, description = "copy request id")),
    request_body = Decision,
    responses((status = 200, description = "approved; the download link is shown once", body = Decided),
              (status = 403, description = "not a leader, or the leader who asked", body = ErrorBody),
              (status = 404, description = "no such request in the caller's bureau", body = ErrorBody),
              (status = 409, description = "already decided", body = ErrorBody)),
    security(("bearer" = [])))]
pub async fn approve(
    State(custody): State<Arc<Custody>>,
    Extension(caller): Extension<Caller>,
    Path(id): Path<String>,
    Json(body): Json<Decision>,
) -> Result<Json<Decided>, ApiError> {
    decide(&custody, &caller, &id, true, body).await
}

#[utoipa::path(post, path = "/v1/copy-requests/{id}/refuse", tag = "custody", params(("id" = uuid::Uuid, Path, description = "copy request id")),
    request_body = Decision,
    responses((status = 200, description = "refused, with its reason", body = Decided),
              (status = 403, description = "not a leader, or the leader who asked", body = ErrorBody),
              (status = 404, description = "no such request in the caller's bureau", body = ErrorBody),
              (status = 409, description = "already decided", body = ErrorBody)),
    security(("bearer" = [])))]
pub async fn refuse(
    State(custody): State<Arc<Custody>>,
    Extension(caller): Extension<Caller>,
    Path(id): Path<String>,
    Json(body): Json<Decision>,
) -> Result<Json<Decided>, ApiError> {
    decide(&custody, &caller, &id, false, body).await
}

/// The party's download: the link is the credential. Recorded in the bureau's trail whether
/// it succeeds or not.
pub async fn download(
    State(custody): State<Arc<Custody>>,
    Path(token): Path<String>,
) -> Result<Response, ApiError> {
    let gone = || {
        ApiError::new(
            StatusCode::NOT_FOUND,
            "no-such-copy",
            "no copy at this link",
        )
    };
    if !token.starts_with("copy_") || token.len() != 69 {
        return Err(gone());
    }
    let request = custody
        .ports
        .catalogue
        .copy_request_by_token(&Sha256Digest::of(token.as_bytes()).to_hex())
        .await?
        .ok_or_else(gone)?;
    let now = custody.ports.clock.now();
    let allowed = request.state.may_download(request.expires_at, now);
    let entry = NewAuditEntry {
        at: now,
        actor: format!("party {:?} by copy request {}", request.party, request.id),
        action: "copy.download".into(),
        target: Some(request.clip.to_string()),
        detail: match &allowed {
            Ok(()) => format!(
                "served (download {} of request {})",
                request.downloads + 1,
                request.id
            ),
            Err(e) => format!("refused: {e}"),
        },
    };
    // No download without its entry in the trail.
    custody
        .ports
        .catalogue
        .append_audit(request.bureau.as_str(), entry)
        .await?;
    if let Err(e) = allowed {
        return Err(ApiError::new(
            StatusCode::GONE,
            "copy-expired",
            e.to_string(),
        ));
    }
    let clip = custody
        .ports
        .catalogue
        .clip_for_worker(request.clip)
        .await?
        .filter(|c| c.purged_at.is_none())
        .ok_or_else(|| ApiError::new(StatusCode::GONE, "purged", "the clip's files were purged"))?;
    let reader = custody.ports.blob.open(&clip.object_key).await?;
    custody
        .ports
        .catalogue
        .count_copy_download(request.id)
        .await?;
    let name = clip
        .object_key
        .rsplit('/')
        .next()
        .unwrap_or("copy")
        .to_owned();
    Ok((
        [
            (header::CONTENT_TYPE, "application/octet-stream".to_owned()),
            (
                header::CONTENT_DISPOSITION,
                format!("attachment; filename=\"copy-{}-{name}\"", request.id),
            ),
            (
                header::HeaderName::from_static("custodian-copy-request"),
                request.id.to_string(),
            ),
        ],
        Body::from_stream(tokio_util::io::ReaderStream::new(reader)),
    )
        .into_response())
}
