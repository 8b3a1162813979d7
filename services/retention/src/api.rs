//! Retention over HTTP: set a clip's long-term class and legal hold, restore it from the
//! recycle bin, mark a case long-term, read a clip's retention and the plan. Scoped to the
//! caller's bureau; changes need a role that may manage retention.

use std::sync::Arc;

use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::routing::{get, post, put};
use axum::{Extension, Json, Router};
use chrono::{DateTime, Utc};
use custodian_core::retention::{LongTermReason, Retention as Decision};
use custodian_core::roles::{Action, Role};
use custodian_core::ClipId;
use custodian_platform::catalogue::{ClipRecord, Finding};
use custodian_platform::http::{
    clip_in_bureau, protect, ApiError, BearerSecurity, Caller, ErrorBody,
};
use serde::{Deserialize, Serialize};

use crate::plan::PlanEntry;
use crate::Retention;

#[derive(utoipa::OpenApi)]
#[openapi(
    paths(clip_retention, set_clip_retention, restore, set_case_retention, retention_plan),
    modifiers(&BearerSecurity),
    tags((name = "retention", description = "How long footage is kept (art. 21, 22)"))
)]
struct RetentionApi;

/// The retention role's API, described for other tools.
pub fn openapi() -> utoipa::openapi::OpenApi {
    <RetentionApi as utoipa::OpenApi>::openapi()
}

pub fn router(retention: Arc<Retention>) -> Router {
    let ports = retention.ports.clone();
    let routes = Router::new()
        .route(
            "/v1/clips/{id}/retention",
            get(clip_retention).put(set_clip_retention),
        )
        .route("/v1/clips/{id}/restore", post(restore))
        .route("/v1/cases/{id}/retention", put(set_case_retention))
        .route("/v1/retention/plan", get(retention_plan))
        .with_state(retention);
    protect(routes, &ports)
}

fn clip_id(text: &str) -> Result<ClipId, ApiError> {
    text.parse().map_err(|e: custodian_core::IdError| {
        ApiError::new(StatusCode::BAD_REQUEST, "invalid-request", e.to_string())
    })
}

#[derive(Serialize, utoipa::ToSchema)]
struct ClipRetention {
    long_term_reason: Option<String>,
    legal_hold: bool,
    archived_at: Option<DateTime<Utc>>,
    archive_locked_until: Option<DateTime<Utc>>,
    recycle_until: Option<DateTime<Utc>>,
    purged_at: Option<DateTime<Utc>>,
    verified_at: Option<DateTime<Utc>>,
    /// What the rules say now.
    decision: Decision,
    findings: Vec<Finding>,
}

impl Retention {
    async fn clip_of(&self, caller: &Caller, id: ClipId) -> Result<ClipRecord, ApiError> {
        clip_in_bureau(&*self.ports.catalogue, caller, id).await
    }

    async fn view(&self, clip: ClipRecord) -> Result<ClipRetention, ApiError> {
        let decision = self
            .decision(&clip, self.ports.clock.now())
            .await
            .map_err(|e| ApiError::internal(e.to_string()))?;
        let findings = self.ports.catalogue.findings(clip.id).await?;
        Ok(ClipRetention {
            long_term_reason: clip.long_term_reason,
            legal_hold: clip.legal_hold,
            archived_at: clip.archived_at,
            archive_locked_until: clip.archive_locked_until,
            recycle_until: clip.recycle_until,
            purged_at: clip.purged_at,
            verified_at: clip.verified_at,
            decision,
            findings,
        })
    }
}

#[utoipa::path(get, path = "/v1/clips/{id}/retention", tag = "retention",
    params(("id" = uuid::Uuid, Path, description = "clip id")),
    responses((status = 200, description = "the clip's retention and what the rules say now", body = ClipRetention),
              (status = 404, description = "no such clip in the caller's bureau", body = ErrorBody)),
    security(("bearer" = [])))]
async fn clip_retention(
    State(retention): State<Arc<Retention>>,
    Extension(caller): Extension<Caller>,
    Path(id): Path<String>,
) -> Result<Json<ClipRetention>, ApiError> {
    let clip = retention.clip_of(&caller, clip_id(&id)?).await?;
    Ok(Json(retention.view(clip).await?))
}

/// What to change; a field left out stays as it is.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
struct SetRetention {
    /// coercive_measure, dispute_or_complaint, obstruction_or_assault, mass_incident_or_emergency
    /// or other:TEXT; `null` makes the clip ordinary; absent leaves it unchanged.
    #[schema(
        value_type = Option<String>,
        nullable,
        pattern = r"^(coercive_measure|dispute_or_complaint|obstruction_or_assault|mass_incident_or_emergency|other:.*\S.*)$"
    )]
    #[serde(default, deserialize_with = "present")]
    long_term_reason: Option<Option<String>>,
    /// Absent leaves the hold as it is. Lifting a hold takes a leader.
    legal_hold: Option<bool>,
}

/// A field given (even as `null`), as opposed to one left out.
fn present<'de, D, T>(deserializer: D) -> Result<Option<Option<T>>, D::Error>
where
    D: serde::Deserializer<'de>,
    T: Deserialize<'de>,
{
    Option::<T>::deserialize(deserializer).map(Some)
}

#[utoipa::path(put, path = "/v1/clips/{id}/retention", tag = "retention",
    params(("id" = uuid::Uuid, Path, description = "clip id")),
    request_body = SetRetention,
    responses((status = 200, description = "set; the rules' answer now", body = ClipRetention),
              (status = 403, description = "a role that may not manage retention, or lifting a legal hold without being a leader (`leader-required`)", body = ErrorBody),
              (status = 404, description = "no such clip in the caller's bureau", body = ErrorBody),
              (status = 422, description = "unknown long-term reason", body = ErrorBody)),
    security(("bearer" = [])))]
async fn set_clip_retention(
    State(retention): State<Arc<Retention>>,
    Extension(caller): Extension<Caller>,
    Path(id): Path<String>,
    Json(body): Json<SetRetention>,
) -> Result<Json<ClipRetention>, ApiError> {
    caller.require(Action::ManageRetention)?;
    let id = clip_id(&id)?;
    // A clip the caller may not see is answered as one that does not exist, before anything
    // is changed.
    let clip = retention.clip_of(&caller, id).await?;
    let invalid = |e: custodian_core::retention::RetentionError| {
        ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid-retention",
            e.to_string(),
        )
    };
    let reason = match &body.long_term_reason {
        None => clip
            .long_term_reason
            .as_deref()
            .map(str::parse::<LongTermReason>)
            .transpose()
            .map_err(invalid)?,
        Some(given) => given
            .as_deref()
            .map(str::parse::<LongTermReason>)
            .transpose()
            .map_err(invalid)?,
    };
    let legal_hold = body.legal_hold.unwrap_or(clip.legal_hold);
    if clip.legal_hold && !legal_hold && caller.role != Role::Leader {
        return Err(ApiError::new(
            StatusCode::FORBIDDEN,
            "leader-required",
            format!(
                "{} may not lift a legal hold; a leader of the bureau decides that",
                caller.role.with_article()
            ),
        ));
    }
    let now = retention.ports.clock.now();
    if !retention
        .ports
        .catalogue
        .set_retention(
            &caller.bureau,
            id,
            reason.as_ref(),
            legal_hold,
            &caller.name(),
            now,
        )
        .await?
    {
        return Err(ApiError::new(
            StatusCode::NOT_FOUND,
            "no-such-clip",
            format!("no clip {id} in bureau {}", caller.bureau),
        ));
    }
    tracing::info!(clip_id = %id, long_term = ?reason, legal_hold, by = %caller.name(), "retention set");
    let clip = retention.clip_of(&caller, id).await?;
    Ok(Json(retention.view(clip).await?))
}

#[utoipa::path(post, path = "/v1/clips/{id}/restore", tag = "retention",
    params(("id" = uuid::Uuid, Path, description = "clip id")),
    responses((status = 200, description = "back in the catalogue", body = ClipRetention),
              (status = 403, description = "a role that may not manage retention", body = ErrorBody),
              (status = 404, description = "no such clip in the caller's bureau", body = ErrorBody),
              (status = 409, description = "the clip is not in the recycle bin", body = ErrorBody)),
    security(("bearer" = [])))]
async fn restore(
    State(retention): State<Arc<Retention>>,
    Extension(caller): Extension<Caller>,
    Path(id): Path<String>,
) -> Result<Json<ClipRetention>, ApiError> {
    caller.require(Action::ManageRetention)?;
    let clip = retention.clip_of(&caller, clip_id(&id)?).await?;
    if !retention
        .ports
        .catalogue
        .restore(
            &caller.bureau,
            clip.id,
            retention.ports.clock.now(),
            &caller.name(),
        )
        .await?
    {
        return Err(ApiError::new(
            StatusCode::CONFLICT,
            "not-recycled",
            format!("clip {} is {}, not in the recycle bin", clip.id, clip.state),
        ));
    }
    retention.metrics.restored.inc();
    let clip = retention.clip_of(&caller, clip.id).await?;
    Ok(Json(retention.view(clip).await?))
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
struct SetCaseRetention {
    long_term: bool,
}

#[utoipa::path(put, path = "/v1/cases/{id}/retention", tag = "retention",
    params(("id" = uuid::Uuid, Path, description = "case id")),
    request_body = SetCaseRetention,
    responses((status = 204, description = "set"),
              (status = 403, description = "a role that may not manage retention", body = ErrorBody),
              (status = 404, description = "no such case in the caller's bureau", body = ErrorBody)),
    security(("bearer" = [])))]
async fn set_case_retention(
    State(retention): State<Arc<Retention>>,
    Extension(caller): Extension<Caller>,
    Path(id): Path<String>,
    Json(body): Json<SetCaseRetention>,
) -> Result<StatusCode, ApiError> {
    caller.require(Action::ManageRetention)?;
    let case = uuid::Uuid::parse_str(&id).map_err(|_| {
        ApiError::new(
            StatusCode::BAD_REQUEST,
            "invalid-request",
            format!("case id {id:?} is not a UUID"),
        )
    })?;
    if !retention
        .ports
        .catalogue
        .set_case_long_term(&caller.bureau, case, body.long_term)
        .await?
    {
        return Err(ApiError::new(
            StatusCode::NOT_FOUND,
            "no-such-case",
            format!("no case {case} in bureau {}", caller.bureau),
        ));
    }
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
struct PlanQuery {
    /// How many days ahead (1 to 3650; default 30).
    #[param(minimum = 1, maximum = 3650)]
    days: Option<u32>,
}

#[utoipa::path(get, path = "/v1/retention/plan", tag = "retention", params(PlanQuery),
    responses((status = 200, description = "what will be archived, recycled and purged, and when", body = Vec<PlanEntry>),
              (status = 400, description = "days out of range", body = ErrorBody)),
    security(("bearer" = [])))]
async fn retention_plan(
    State(retention): State<Arc<Retention>>,
    Extension(caller): Extension<Caller>,
    Query(query): Query<PlanQuery>,
) -> Result<Json<Vec<PlanEntry>>, ApiError> {
    let days = query.days.unwrap_or(30);
    if !(1..=3650).contains(&days) {
        return Err(ApiError::new(
            StatusCode::BAD_REQUEST,
            "invalid-request",
            format!("days {days} must be 1 to 3650"),
        ));
    }
    let entries = crate::plan(
        &*retention.ports.catalogue,
        &retention.policy,
        retention.ports.clock.now(),
        days,
        Some(&caller.bureau),
    )
    .await?;
    let visible = caller.may_see();
    let entries = entries
        .into_iter()
        .filter(|e| visible.contains(&e.confidentiality))
        .collect();
    Ok(Json(entries))
}
