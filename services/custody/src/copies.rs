//! Copy requests (art. 23). Anyone who may see a clip may ask for a copy for a party; a leader
//! of the same bureau, not the one who asked, approves or refuses it with a reason. An
//! approval opens a download link for a limited time: the link itself is the credential (the
//! party has no account), shown once and kept only as a hash. Every download, and every
//! refused attempt, is an entry in the bureau's audit trail.
//!
//! What the party gets is never the original: an approval announces `copy.approved`, and a
//! transcoder makes from the original a copy with the request's watermark burned into every
//! frame (`derived/<bureau>/<clip>/copies/<request id>.mp4`) and records its SHA-256. Until it
//! is recorded the link answers 409 `copy-not-ready` with `Retry-After`. A deployment without
//! a transcoder refuses approvals (409 `copies-unavailable`): no copy leaves unmarked.
//!
//! What the copy hides (art. 24: bystanders' faces, a screen, a number spoken aloud) is the
//! request's redaction plan, set by the requester or a leader while it is pending, checked
//! against the clip and kept with its SHA-256. The leader approves naming the plan's hash, so
//! a plan changed after the review is never the one approved; the transcoder applies it before
//! the watermark.

use std::sync::Arc;

use axum::body::Body;
use axum::extract::{Path, State};
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::{Extension, Json};
use bytes::Bytes;
use chrono::Duration;
use custodian_core::audit::NewAuditEntry;
use custodian_core::copies::{CopyError, CopyState};
use custodian_core::events::Topic;
use custodian_core::keys::copy_key;
use custodian_core::redaction::RedactionPlan;
use custodian_core::roles::Action;
use custodian_core::{ClipId, Sha256Digest};
use custodian_platform::bus::BusError;
use custodian_platform::catalogue::CopyRequest;
use custodian_platform::http::{clip_in_bureau, ApiError, Caller, ErrorBody};
use custodian_platform::Ports;
use custodian_proto::v1::CopyApproved;
use custodian_proto::Message;
use serde::{Deserialize, Serialize};

use crate::{Custody, PartyCopies};

/// Seconds the party is asked to wait before asking again while the copy is being made.
pub const COPY_RETRY_AFTER_SECONDS: u64 = 10;

/// Announces an approved request: a transcoder makes its watermarked copy. `round` 0 for the
/// approval itself, more when announced again.
pub(crate) async fn announce(
    ports: &Ports,
    request: &CopyRequest,
    round: u32,
) -> Result<(), BusError> {
    let event = CopyApproved {
        request_id: request.id.to_string(),
        bureau_id: request.bureau.to_string(),
        clip_id: request.clip.to_string(),
    };
    ports
        .bus
        .publish(
            Topic::CopyApproved,
            &Topic::CopyApproved.copy_message_id(request.id, round),
            Bytes::from(event.encode_to_vec()),
        )
        .await
}

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
    /// The SHA-256 of the redaction plan the leader reviewed: required to approve a request
    /// that has one, and it must still be the request's plan.
    pub redaction_sha256: Option<String>,
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

/// A copy request of the caller's bureau whose clip the caller may see; any other answers as
/// one that does not exist, so its party and purpose tell nothing of a confidential clip.
async fn visible_request(
    custody: &Custody,
    caller: &Caller,
    id: uuid::Uuid,
) -> Result<CopyRequest, ApiError> {
    let request = custody
        .ports
        .catalogue
        .copy_request(&caller.bureau, id)
        .await?
        .ok_or_else(|| not_found(id, caller))?;
    match clip_in_bureau(&*custody.ports.catalogue, caller, request.clip).await {
        Ok(_) => Ok(request),
        Err(e) if e.status == StatusCode::NOT_FOUND => Err(not_found(id, caller)),
        Err(e) => Err(e),
    }
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
        CopyError::Confidential(_) => {
            ApiError::new(StatusCode::CONFLICT, "confidential", e.to_string())
        }
        _ => ApiError::new(StatusCode::CONFLICT, "copy-request-state", e.to_string()),
    }
}

#[utoipa::path(post, path = "/v1/copy-requests", tag = "custody", request_body = NewCopyRequest,
    responses((status = 201, description = "recorded, pending a leader's decision", body = CopyRequest),
              (status = 403, description = "a role that may not ask for copies", body = ErrorBody),
              (status = 404, description = "no such clip in the caller's bureau", body = ErrorBody),
              (status = 409, description = "the clip is internal or secret, and confidential footage is not copied for a party (`confidential`)", body = ErrorBody)),
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
    CopyState::releasable(clip.confidentiality).map_err(refused)?;
    let request = CopyRequest {
        id: uuid::Uuid::now_v7(),
        bureau: caller.bureau.clone(),
        clip: clip.id,
        party: text("party", &body.party, 200)?,
        purpose: text("purpose", &body.purpose, 2000)?,
        requested_by: caller.name(),
        requested_by_person: caller.person.clone(),
        requested_at: custody.ports.clock.now(),
        state: CopyState::Pending,
        decided_by: None,
        decided_at: None,
        reason: None,
        expires_at: None,
        downloads: 0,
        copy_sha256: None,
        copy_size_bytes: None,
        copy_made_at: None,
        copy_failure: None,
        copy_track_sha256: None,
        redaction: None,
        redaction_sha256: None,
        redaction_by: None,
        redaction_at: None,
    };
    custody
        .ports
        .catalogue
        .create_copy_request(&request)
        .await?;
    Ok((StatusCode::CREATED, Json(request)))
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct CopyRequestQuery {
    /// Only requests in this state: `pending`, `approved` or `refused`.
    state: Option<String>,
    /// At most this many (1 to 200; default 50).
    #[param(minimum = 1, maximum = 200)]
    limit: Option<i64>,
    /// The `next_cursor` of the previous page.
    cursor: Option<String>,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct CopyRequestPage {
    /// Newest first; requests for clips the caller may not see are left out.
    items: Vec<CopyRequest>,
    /// Pass as `cursor` to get the next page; absent on the last page.
    next_cursor: Option<uuid::Uuid>,
}

#[utoipa::path(get, path = "/v1/copy-requests", tag = "custody", params(CopyRequestQuery),
    responses((status = 200, description = "the bureau's copy requests, newest first (a leader's pending approvals with `state=pending`)", body = CopyRequestPage),
              (status = 400, description = "an unknown state, a bad limit or cursor", body = ErrorBody)),
    security(("bearer" = [])))]
pub async fn list(
    State(custody): State<Arc<Custody>>,
    Extension(caller): Extension<Caller>,
    axum::extract::Query(query): axum::extract::Query<CopyRequestQuery>,
) -> Result<Json<CopyRequestPage>, ApiError> {
    let state = query
        .state
        .as_deref()
        .map(str::parse::<CopyState>)
        .transpose()
        .map_err(|e| ApiError::new(StatusCode::BAD_REQUEST, "invalid-request", e.to_string()))?;
    let limit = query.limit.unwrap_or(50);
    if !(1..=200).contains(&limit) {
        return Err(ApiError::new(
            StatusCode::BAD_REQUEST,
            "invalid-request",
            format!("limit {limit} is not 1 to 200"),
        ));
    }
    let before = query.cursor.as_deref().map(request_id).transpose()?;
    let page = custody
        .ports
        .catalogue
        .copy_requests(&caller.bureau, state, before, limit)
        .await?;
    let next_cursor = (page.len() as i64 == limit)
        .then(|| page.last().map(|r| r.id))
        .flatten();
    // The same visibility as one request: a clip the caller may not see hides its requests
    // (party and purpose included).
    let mut items = Vec::with_capacity(page.len());
    for request in page {
        match clip_in_bureau(&*custody.ports.catalogue, &caller, request.clip).await {
            Ok(_) => items.push(request),
            Err(e) if e.status == StatusCode::NOT_FOUND => {}
            Err(e) => return Err(e),
        }
    }
    Ok(Json(CopyRequestPage { items, next_cursor }))
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
    Ok(Json(visible_request(&custody, &caller, id).await?))
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
    let request = visible_request(custody, caller, id).await?;
    // The person, never a label: one leader with two sessions is still one person. Requests
    // from before persons were kept compare the requester's label.
    let (requester, decider) = if request.requested_by_person.is_empty() {
        (request.requested_by.clone(), caller.name())
    } else {
        (request.requested_by_person.clone(), caller.person.clone())
    };
    request
        .state
        .decide(&requester, &decider)
        .map_err(refused)?;
    if approve {
        // The clip may have been made confidential since the request.
        let clip = custody
            .ports
            .catalogue
            .clip(&caller.bureau, request.clip)
            .await?
            .ok_or_else(|| not_found(id, caller))?;
        CopyState::releasable(clip.confidentiality).map_err(refused)?;
    }
    if approve && custody.party_copies == PartyCopies::Unavailable {
        return Err(ApiError::new(
            StatusCode::CONFLICT,
            "copies-unavailable",
            "this deployment runs no transcoder (--media-steps none), so it cannot make the \
             watermarked copy a party receives; a copy is never given without its watermark. \
             The request stays pending",
        ));
    }
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
    // An approval approves the plan the leader reviewed, and only that one.
    let plan = if approve {
        let current = request.redaction_sha256.clone().unwrap_or_default();
        if body.redaction_sha256.clone().unwrap_or_default() != current {
            return Err(ApiError::new(
                StatusCode::CONFLICT,
                "redaction-not-reviewed",
                if current.is_empty() {
                    "the request has no redaction plan, but the approval names one".to_owned()
                } else {
                    format!(
                        "approve with redaction_sha256 {current}: the plan the copy will be made with (review it first)"
                    )
                },
            ));
        }
        Some(current)
    } else {
        None
    };
    if !custody
        .ports
        .catalogue
        .decide_copy_request(
            id,
            approve,
            &caller.name(),
            now,
            &reason,
            stored,
            plan.as_deref(),
        )
        .await?
    {
        return Err(ApiError::new(
            StatusCode::CONFLICT,
            "copy-request-state",
            "the request was decided, or its redaction plan changed, meanwhile",
        ));
    }
    let request = custody
        .ports
        .catalogue
        .copy_request(&caller.bureau, id)
        .await?
        .ok_or_else(|| not_found(id, caller))?;
    if approve {
        // The approval stands even if the bus is down: custody announces it again later.
        if let Err(e) = announce(&custody.ports, &request, 0).await {
            tracing::warn!(copy_request = %id, error = %e, "announcing the approved copy failed; it will be announced again");
        }
    }
    Ok(Json(Decided {
        request,
        download_url: token.map(|t| format!("/v1/copies/{t}")),
    }))
}

#[utoipa::path(put, path = "/v1/copy-requests/{id}/redaction", tag = "custody", params(("id" = uuid::Uuid, Path, description = "copy request id")),
    request_body = RedactionPlan,
    responses((status = 200, description = "the plan is the request's, with its SHA-256; the leader approves naming that hash", body = CopyRequest),
              (status = 400, description = "a plan that does not fit the clip: a region outside the frame, a span past its end, too many regions (`invalid-redaction`)", body = ErrorBody),
              (status = 403, description = "a role that may neither ask for copies nor approve them", body = ErrorBody),
              (status = 404, description = "no such request in the caller's bureau", body = ErrorBody),
              (status = 409, description = "already decided (`copy-request-state`), or the clip's length is not known yet (`clip-not-measured`)", body = ErrorBody)),
    security(("bearer" = [])))]
pub async fn set_redaction(
    State(custody): State<Arc<Custody>>,
    Extension(caller): Extension<Caller>,
    Path(id): Path<String>,
    Json(plan): Json<RedactionPlan>,
) -> Result<Json<CopyRequest>, ApiError> {
    if !caller.role.may(Action::ApproveCopy) {
        caller.require(Action::RequestCopy)?;
    }
    let id = request_id(&id)?;
    let request = visible_request(&custody, &caller, id).await?;
    if request.state != CopyState::Pending {
        return Err(ApiError::new(
            StatusCode::CONFLICT,
            "copy-request-state",
            "the request was decided: its copy is made with the plan it was decided with",
        ));
    }
    let media = custody.ports.catalogue.clip_media(request.clip).await?;
    let clip = custody
        .ports
        .catalogue
        .clip(&caller.bureau, request.clip)
        .await?
        .ok_or_else(|| not_found(id, &caller))?;
    // A photo is one moment: its plan's spans start at 0.
    let photo = clip.kind == Some(custodian_core::records::RecordKind::Photo);
    let measured = media.filter(|m| m.transcoded_at.is_some());
    let Some(duration) = measured.and_then(|m| m.facts.duration_seconds.or(photo.then_some(0.0)))
    else {
        return Err(ApiError::new(
            StatusCode::CONFLICT,
            "clip-not-measured",
            "the clip's length is not known until its viewing copy is made; set the plan then",
        ));
    };
    plan.check(duration)
        .map_err(|e| ApiError::new(StatusCode::BAD_REQUEST, "invalid-redaction", e.to_string()))?;
    let now = custody.ports.clock.now();
    if !custody
        .ports
        .catalogue
        .set_copy_redaction(&caller.bureau, id, &plan, &caller.name(), now)
        .await?
    {
        return Err(ApiError::new(
            StatusCode::CONFLICT,
            "copy-request-state",
            "the request was decided meanwhile",
        ));
    }
    custody
        .ports
        .catalogue
        .append_audit(
            request.bureau.as_str(),
            NewAuditEntry {
                at: now,
                actor: caller.name(),
                action: "copy.redaction".into(),
                target: Some(request.clip.to_string()),
                detail: format!(
                    "request {id}: plan sha256 {} ({} regions, {} whole-frame spans, {} sound spans)",
                    plan.sha256(),
                    plan.regions.len(),
                    plan.frame_spans.len(),
                    plan.sound_spans.len()
                ),
            },
        )
        .await?;
    let request = custody
        .ports
        .catalogue
        .copy_request(&caller.bureau, id)
        .await?
        .ok_or_else(|| not_found(id, &caller))?;
    Ok(Json(request))
}

#[utoipa::path(post, path = "/v1/copy-requests/{id}/approve", tag = "custody", params(("id" = uuid::Uuid, Path, description = "copy request id")),
    request_body = Decision,
    responses((status = 200, description = "approved; the download link is shown once; the watermarked copy is made from the original in the background", body = Decided),
              (status = 403, description = "not a leader, or the leader who asked", body = ErrorBody),
              (status = 404, description = "no such request in the caller's bureau", body = ErrorBody),
              (status = 409, description = "already decided (`copy-request-state`), the clip is internal or secret (`confidential`), or this deployment runs no transcoder and cannot watermark a copy (`copies-unavailable`; the request stays pending)", body = ErrorBody)),
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

/// What a download link finds, before anything is recorded.
enum Outcome {
    Serve,
    NotReady,
    Failed(String),
    Refused(CopyError),
}

#[utoipa::path(get, path = "/v1/copies/{token}", tag = "custody",
    params(("token" = String, Path, description = "the download link's credential, `copy_` and 64 hex digits, as returned once by the approval")),
    responses((status = 200, description = "the watermarked copy (MP4): the request id, party and approval date burned into every frame, with the viewing copy's clock, place and identity; never the original's bytes", content_type = "video/mp4",
                  headers(("Custodian-Sha256" = String, description = "hex SHA-256 of the body, as recorded when the copy was made"),
                          ("Custodian-Copy-Request" = String, description = "the copy request's id"))),
              (status = 404, description = "no copy at this link", body = ErrorBody),
              (status = 409, description = "`copy-not-ready`: approved, the watermarked copy is still being made (ask again after `Retry-After` seconds); `copy-failed`: it could not be made (the reason is given)", body = ErrorBody,
                  headers(("Retry-After" = u64, description = "seconds to wait, while not ready"))),
              (status = 410, description = "the link expired, the request was not approved, or the clip's files were purged", body = ErrorBody)))]
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
    let outcome = match request.state.may_download(request.expires_at, now) {
        Err(e) => Outcome::Refused(e),
        Ok(()) => match (&request.copy_sha256, &request.copy_failure) {
            (Some(_), _) => Outcome::Serve,
            (None, Some(reason)) => Outcome::Failed(reason.clone()),
            (None, None) => Outcome::NotReady,
        },
    };
    let entry = NewAuditEntry {
        at: now,
        actor: format!("party {:?} by copy request {}", request.party, request.id),
        action: "copy.download".into(),
        target: Some(request.clip.to_string()),
        detail: match &outcome {
            Outcome::Serve => format!(
                "served the watermarked copy sha256 {} (download {} of request {})",
                request.copy_sha256.as_deref().unwrap_or_default(),
                request.downloads + 1,
                request.id
            ),
            Outcome::NotReady => "not ready: the watermarked copy is being made".into(),
            Outcome::Failed(reason) => {
                format!("failed: the watermarked copy could not be made: {reason}")
            }
            Outcome::Refused(e) => format!("refused: {e}"),
        },
    };
    // No download without its entry in the trail.
    custody
        .ports
        .catalogue
        .append_audit(request.bureau.as_str(), entry)
        .await?;
    match outcome {
        Outcome::Serve => {}
        Outcome::Refused(e) => {
            return Err(ApiError::new(
                StatusCode::GONE,
                "copy-expired",
                e.to_string(),
            ))
        }
        Outcome::Failed(reason) => {
            return Err(ApiError::new(
                StatusCode::CONFLICT,
                "copy-failed",
                format!("the watermarked copy could not be made: {reason}"),
            ))
        }
        Outcome::NotReady => {
            let mut response = ApiError::new(
                StatusCode::CONFLICT,
                "copy-not-ready",
                format!(
                    "the watermarked copy of request {} is being made; ask again later",
                    request.id
                ),
            )
            .into_response();
            response.headers_mut().insert(
                header::RETRY_AFTER,
                HeaderValue::from(COPY_RETRY_AFTER_SECONDS),
            );
            return Ok(response);
        }
    }
    let clip = custody
        .ports
        .catalogue
        .clip_for_worker(request.clip)
        .await?
        .filter(|c| c.purged_at.is_none())
        .ok_or_else(|| ApiError::new(StatusCode::GONE, "purged", "the clip's files were purged"))?;
    let key = copy_key(&clip.bureau, clip.id, request.id, clip.kind);
    let reader = custody.ports.blob.open(&key).await?;
    custody
        .ports
        .catalogue
        .count_copy_download(request.id)
        .await?;
    let extension = custodian_core::keys::copy_extension(clip.kind);
    let content_type = match (extension, clip.kind) {
        ("jpg", _) => "image/jpeg",
        (_, Some(custodian_core::records::RecordKind::Audio)) => "audio/mp4",
        _ => "video/mp4",
    };
    let mut headers = vec![
        (header::CONTENT_TYPE, content_type.to_owned()),
        (
            header::CONTENT_DISPOSITION,
            format!("attachment; filename=\"copy-{}.{extension}\"", request.id),
        ),
        (
            header::HeaderName::from_static("custodian-copy-request"),
            request.id.to_string(),
        ),
        (
            header::HeaderName::from_static("custodian-sha256"),
            request.copy_sha256.clone().unwrap_or_default(),
        ),
    ];
    if let Some(size) = request.copy_size_bytes {
        headers.push((header::CONTENT_LENGTH, size.to_string()));
    }
    let mut response = Body::from_stream(tokio_util::io::ReaderStream::new(reader)).into_response();
    for (name, value) in headers {
        if let Ok(value) = HeaderValue::from_str(&value) {
            response.headers_mut().insert(name, value);
        }
    }
    Ok(response)
}
