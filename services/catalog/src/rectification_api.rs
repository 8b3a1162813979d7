//! Rectification within a time limit (责令限期整改, art. 25), over HTTP. A leader orders a
//! finding of supervision mended by a responsible person within a number of working days;
//! that person (the officer whose number it names, or the user whose name it names) answers
//! with what was done; the leader accepts the answer or reopens the order with a new limit.
//! An answer after the limit is kept as late; an order still unanswered after its limit is
//! overdue (a gauge and an alert). Every step is kept with the order and entered in the
//! bureau's audit trail.

use std::sync::Arc;

use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::routing::{get, post};
use axum::{Extension, Json, Router};
use custodian_core::audit::NewAuditEntry;
use custodian_core::rectification::{
    check_limit, check_text, overdue, RectificationError, RectificationState, RectificationStep,
};
use custodian_core::roles::Action;
use custodian_platform::catalogue::{
    RectificationMove, RectificationRecord, RectificationStepRecord,
};
use custodian_platform::http::{ApiError, BearerSecurity, Caller};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::Catalog;

pub(crate) fn routes() -> Router<Arc<Catalog>> {
    Router::new()
        .route("/v1/rectifications", post(order).get(list))
        .route("/v1/rectifications/{id}", get(one))
        .route("/v1/rectifications/{id}/answer", post(answer))
        .route("/v1/rectifications/{id}/accept", post(accept))
        .route("/v1/rectifications/{id}/reopen", post(reopen))
}

fn invalid(e: RectificationError) -> ApiError {
    ApiError::new(StatusCode::BAD_REQUEST, "invalid-request", e.to_string())
}

fn not_found(id: &str) -> ApiError {
    ApiError::new(
        StatusCode::NOT_FOUND,
        "not-found",
        format!("no rectification {id}"),
    )
}

fn optional(
    field: &'static str,
    text: &Option<String>,
    max: usize,
) -> Result<Option<String>, ApiError> {
    text.as_deref()
        .filter(|t| !t.trim().is_empty())
        .map(|t| check_text(field, t, max).map_err(invalid))
        .transpose()
}

/// What a leader orders.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct NewRectification {
    /// The finding's kind, as supervision names it (`no_recording`, `late_upload`, ...).
    finding_kind: String,
    /// The article it is under, e.g. `25(1)`.
    article: String,
    /// The officer or team the finding concerns.
    subject: Option<String>,
    /// The task, case or clip it names.
    reference: Option<String>,
    /// What is to be mended.
    detail: String,
    /// Who answers: an officer's number, or a person's username.
    responsible: String,
    /// The limit, in working days from today (1 to 60).
    #[schema(minimum = 1, maximum = 60)]
    within_working_days: u32,
}

/// An answer, an acceptance or a reopening.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct StepBody {
    /// What was done (an answer), or the leader's note.
    text: String,
    /// A reopening's new limit, in working days from today (1 to 60).
    #[schema(minimum = 1, maximum = 60)]
    within_working_days: Option<u32>,
}

/// An order with its exchange.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub(crate) struct RectificationView {
    #[serde(flatten)]
    order: RectificationRecord,
    /// Waiting for its answer past its limit, now.
    overdue: bool,
    steps: Vec<RectificationStepRecord>,
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub(crate) struct ListQuery {
    /// Only orders in this state: `ordered`, `answered` or `accepted`.
    state: Option<String>,
    /// Only orders waiting past their limit.
    overdue: Option<bool>,
    /// At most this many (1 to 500; default 100).
    #[param(minimum = 1, maximum = 500)]
    limit: Option<i64>,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub(crate) struct RectificationList {
    /// Newest first.
    items: Vec<RectificationView>,
}

async fn audit(
    catalog: &Catalog,
    caller: &Caller,
    order: &RectificationRecord,
    step: RectificationStep,
    detail: String,
) -> Result<(), ApiError> {
    catalog
        .ports
        .catalogue
        .append_audit(
            order.bureau.as_str(),
            NewAuditEntry {
                at: catalog.ports.clock.now(),
                actor: caller.name(),
                action: format!("rectification.{}", step.as_str()),
                target: Some(order.id.to_string()),
                detail,
            },
        )
        .await?;
    Ok(())
}

async fn view(
    catalog: &Catalog,
    order: RectificationRecord,
) -> Result<RectificationView, ApiError> {
    let steps = catalog
        .ports
        .catalogue
        .rectification_steps(order.id)
        .await?;
    Ok(RectificationView {
        overdue: overdue(order.state, order.due_at, catalog.ports.clock.now()),
        order,
        steps,
    })
}

#[utoipa::path(post, path = "/v1/rectifications", tag = "supervision", request_body = NewRectification,
    responses((status = 201, description = "ordered, with its limit", body = RectificationView),
              (status = 400, description = "a field missing, too long, or a limit out of range", body = custodian_platform::http::ErrorBody),
              (status = 403, description = "not a leader", body = custodian_platform::http::ErrorBody)),
    security(("bearer" = [])))]
pub(crate) async fn order(
    State(catalog): State<Arc<Catalog>>,
    Extension(caller): Extension<Caller>,
    Json(body): Json<NewRectification>,
) -> Result<(StatusCode, Json<RectificationView>), ApiError> {
    caller.require(Action::OrderRectification)?;
    let days = check_limit(body.within_working_days).map_err(invalid)?;
    let now = catalog.ports.clock.now();
    let (due_at, calendar_complete) = catalog.rules.deadlines.working_days_due(now, days);
    let order = RectificationRecord {
        id: Uuid::now_v7(),
        bureau: caller.bureau.clone(),
        finding_kind: check_text("finding_kind", &body.finding_kind, 64).map_err(invalid)?,
        article: check_text("article", &body.article, 32).map_err(invalid)?,
        subject: optional("subject", &body.subject, 200)?,
        reference: optional("reference", &body.reference, 200)?,
        detail: check_text("detail", &body.detail, 4000).map_err(invalid)?,
        responsible: check_text("responsible", &body.responsible, 64).map_err(invalid)?,
        state: RectificationState::Ordered,
        due_at,
        calendar_complete,
        ordered_by: caller.name(),
        ordered_at: now,
        answered_late: false,
        closed_at: None,
    };
    catalog.ports.catalogue.create_rectification(&order).await?;
    audit(
        &catalog,
        &caller,
        &order,
        RectificationStep::Order,
        format!(
            "{} (art. {}) to be mended by {} within {days} working days, by {}: {}",
            order.finding_kind, order.article, order.responsible, order.due_at, order.detail
        ),
    )
    .await?;
    Ok((StatusCode::CREATED, Json(view(&catalog, order).await?)))
}

#[utoipa::path(get, path = "/v1/rectifications", tag = "supervision", params(ListQuery),
    responses((status = 200, description = "the bureau's orders, newest first", body = RectificationList),
              (status = 400, description = "an unknown state or a bad limit", body = custodian_platform::http::ErrorBody)),
    security(("bearer" = [])))]
pub(crate) async fn list(
    State(catalog): State<Arc<Catalog>>,
    Extension(caller): Extension<Caller>,
    Query(query): Query<ListQuery>,
) -> Result<Json<RectificationList>, ApiError> {
    let state = query
        .state
        .as_deref()
        .map(str::parse::<RectificationState>)
        .transpose()
        .map_err(invalid)?;
    let limit = query.limit.unwrap_or(100);
    if !(1..=500).contains(&limit) {
        return Err(ApiError::new(
            StatusCode::BAD_REQUEST,
            "invalid-request",
            format!("limit {limit} must be 1 to 500"),
        ));
    }
    let state = if query.overdue == Some(true) {
        Some(RectificationState::Ordered)
    } else {
        state
    };
    let mut items = Vec::new();
    for order in catalog
        .ports
        .catalogue
        .list_rectifications(&caller.bureau, state, limit)
        .await?
    {
        let view = view(&catalog, order).await?;
        if query.overdue != Some(true) || view.overdue {
            items.push(view);
        }
    }
    Ok(Json(RectificationList { items }))
}

async fn found(
    catalog: &Catalog,
    caller: &Caller,
    id: &str,
) -> Result<RectificationRecord, ApiError> {
    let uuid = Uuid::parse_str(id).map_err(|_| not_found(id))?;
    catalog
        .ports
        .catalogue
        .rectification(&caller.bureau, uuid)
        .await?
        .ok_or_else(|| not_found(id))
}

#[utoipa::path(get, path = "/v1/rectifications/{id}", tag = "supervision",
    params(("id" = Uuid, Path, description = "rectification id")),
    responses((status = 200, description = "the order and its exchange", body = RectificationView),
              (status = 404, description = "no such order in the caller's bureau", body = custodian_platform::http::ErrorBody)),
    security(("bearer" = [])))]
pub(crate) async fn one(
    State(catalog): State<Arc<Catalog>>,
    Extension(caller): Extension<Caller>,
    Path(id): Path<String>,
) -> Result<Json<RectificationView>, ApiError> {
    let order = found(&catalog, &caller, &id).await?;
    Ok(Json(view(&catalog, order).await?))
}

/// Whether the caller is the order's responsible person: the officer it names (by the
/// credential's officer number) or the person it names (by username or token person).
fn is_responsible(caller: &Caller, order: &RectificationRecord) -> bool {
    let officer = caller
        .identity
        .officer
        .as_ref()
        .is_some_and(|officer| officer.as_str() == order.responsible);
    // A person's session is `user BUREAU/NAME`.
    let person = caller
        .person
        .strip_prefix("user ")
        .and_then(|user| user.split_once('/'))
        .is_some_and(|(bureau, name)| {
            bureau == caller.bureau.as_str() && name == order.responsible
        });
    officer || person
}

/// Makes `step` on the order `id` and keeps it.
async fn make_step(
    catalog: &Catalog,
    caller: &Caller,
    id: &str,
    step: RectificationStep,
    body: StepBody,
) -> Result<Json<RectificationView>, ApiError> {
    let order = found(catalog, caller, id).await?;
    match step {
        RectificationStep::Answer if !is_responsible(caller, &order) => {
            return Err(ApiError::new(
                StatusCode::FORBIDDEN,
                "forbidden",
                format!(
                    "only {}, whom the order names, answers it",
                    order.responsible
                ),
            ))
        }
        RectificationStep::Answer => {}
        _ => caller.require(Action::OrderRectification)?,
    }
    let to = order
        .state
        .after(step)
        .map_err(|e| ApiError::new(StatusCode::CONFLICT, "rectification-state", e.to_string()))?;
    let text = check_text("text", &body.text, 4000).map_err(invalid)?;
    let now = catalog.ports.clock.now();
    let new_due = match (step, body.within_working_days) {
        (RectificationStep::Reopen, Some(days)) => {
            let days = check_limit(days).map_err(invalid)?;
            Some(catalog.rules.deadlines.working_days_due(now, days))
        }
        (RectificationStep::Reopen, None) => {
            return Err(invalid(RectificationError::Bad {
                field: "within_working_days",
                problem: "a reopened order needs a new limit".into(),
            }))
        }
        (_, Some(_)) => {
            return Err(invalid(RectificationError::Bad {
                field: "within_working_days",
                problem: "only a reopening sets a new limit".into(),
            }))
        }
        (_, None) => None,
    };
    let late = step == RectificationStep::Answer && now > order.due_at;
    let change = RectificationMove {
        from: order.state,
        to,
        step: RectificationStepRecord {
            step,
            at: now,
            by: caller.name(),
            text: text.clone(),
            due_at: new_due.map(|(due, _)| due),
        },
        new_due,
        late,
    };
    if !catalog
        .ports
        .catalogue
        .advance_rectification(order.id, &change)
        .await?
    {
        return Err(ApiError::new(
            StatusCode::CONFLICT,
            "rectification-state",
            "the order moved meanwhile",
        ));
    }
    let mut detail = format!("{} -> {}: {text}", order.state.as_str(), to.as_str());
    if late {
        detail.push_str(&format!(" (late: the limit was {})", order.due_at));
    }
    if let Some((due, _)) = new_due {
        detail.push_str(&format!(" (new limit {due})"));
    }
    audit(catalog, caller, &order, step, detail).await?;
    let order = found(catalog, caller, id).await?;
    Ok(Json(view(catalog, order).await?))
}

#[utoipa::path(post, path = "/v1/rectifications/{id}/answer", tag = "supervision",
    params(("id" = Uuid, Path, description = "rectification id")), request_body = StepBody,
    responses((status = 200, description = "answered (late if after the limit)", body = RectificationView),
              (status = 403, description = "not the person the order names", body = custodian_platform::http::ErrorBody),
              (status = 404, description = "no such order in the caller's bureau", body = custodian_platform::http::ErrorBody),
              (status = 409, description = "not waiting for an answer (`rectification-state`)", body = custodian_platform::http::ErrorBody)),
    security(("bearer" = [])))]
pub(crate) async fn answer(
    State(catalog): State<Arc<Catalog>>,
    Extension(caller): Extension<Caller>,
    Path(id): Path<String>,
    Json(body): Json<StepBody>,
) -> Result<Json<RectificationView>, ApiError> {
    make_step(&catalog, &caller, &id, RectificationStep::Answer, body).await
}

#[utoipa::path(post, path = "/v1/rectifications/{id}/accept", tag = "supervision",
    params(("id" = Uuid, Path, description = "rectification id")), request_body = StepBody,
    responses((status = 200, description = "accepted as mended", body = RectificationView),
              (status = 403, description = "not a leader", body = custodian_platform::http::ErrorBody),
              (status = 404, description = "no such order in the caller's bureau", body = custodian_platform::http::ErrorBody),
              (status = 409, description = "not answered (`rectification-state`)", body = custodian_platform::http::ErrorBody)),
    security(("bearer" = [])))]
pub(crate) async fn accept(
    State(catalog): State<Arc<Catalog>>,
    Extension(caller): Extension<Caller>,
    Path(id): Path<String>,
    Json(body): Json<StepBody>,
) -> Result<Json<RectificationView>, ApiError> {
    make_step(&catalog, &caller, &id, RectificationStep::Accept, body).await
}

#[utoipa::path(post, path = "/v1/rectifications/{id}/reopen", tag = "supervision",
    params(("id" = Uuid, Path, description = "rectification id")), request_body = StepBody,
    responses((status = 200, description = "ordered again, with the new limit", body = RectificationView),
              (status = 400, description = "no new limit, or one out of range", body = custodian_platform::http::ErrorBody),
              (status = 403, description = "not a leader", body = custodian_platform::http::ErrorBody),
              (status = 404, description = "no such order in the caller's bureau", body = custodian_platform::http::ErrorBody),
              (status = 409, description = "not answered (`rectification-state`)", body = custodian_platform::http::ErrorBody)),
    security(("bearer" = [])))]
pub(crate) async fn reopen(
    State(catalog): State<Arc<Catalog>>,
    Extension(caller): Extension<Caller>,
    Path(id): Path<String>,
    Json(body): Json<StepBody>,
) -> Result<Json<RectificationView>, ApiError> {
    make_step(&catalog, &caller, &id, RectificationStep::Reopen, body).await
}

#[derive(utoipa::OpenApi)]
#[openapi(
    paths(order, list, one, answer, accept, reopen),
    modifiers(&BearerSecurity),
    tags((name = "supervision", description = "Enforcement tasks, the art. 7 checklist, what supervision finds, and rectification (art. 6-8, 25)"))
)]
pub(crate) struct RectificationApi;
