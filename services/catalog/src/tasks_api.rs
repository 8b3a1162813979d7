//! Enforcement tasks and what supervision finds about them, over HTTP (art. 6, 7, 8, 25).
//!
//! A bureau's plan (年度监督检查计划) is imported as tasks, as CSV or JSON, or a task is made
//! one at a time. A task's recordings are those one of its officers recorded within its
//! window (found whenever the task is read, so a late upload is counted as soon as it is
//! catalogued) and those linked by hand. The officers mark which art. 7 moments each
//! recording shows, or why a moment was not filmed (art. 8); supervisors read what is
//! missing: tasks with no recording, and required moments nobody filmed.

use std::collections::BTreeMap;
use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post, put};
use axum::{Extension, Json, Router};
use chrono::{DateTime, Duration, Utc};
use custodian_core::deadlines::{DeadlineKind, DeadlineState};
use custodian_core::roles::Action;
use custodian_core::supervision::{
    self, Coverage, LinkRule, MomentMark, NotFilmedReason, Recording, RecordingStanding, RowError,
    TaskFinding, TaskPlan,
};
use custodian_core::{ClipId, LocalId};
use custodian_platform::catalogue::{ClipFilter, TaskFilter, TaskRecord};
use custodian_platform::http::{clip_in_bureau, ApiError, BearerSecurity, Caller, ErrorDetail};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::Catalog;

pub(crate) fn routes() -> Router<Arc<Catalog>> {
    Router::new()
        .route("/v1/tasks", post(create_task).get(list_tasks))
        .route("/v1/tasks/import", post(import_tasks))
        .route("/v1/tasks/{id}", get(task))
        .route("/v1/tasks/{id}/clips", post(link_clips))
        .route("/v1/tasks/{id}/moments/{moment}", put(mark_moment))
        .route("/v1/tasks/{id}/not-filmed", put(not_filmed))
        .route("/v1/supervision/findings", get(findings))
}

fn bad_request(message: impl Into<String>) -> ApiError {
    ApiError::new(StatusCode::BAD_REQUEST, "invalid-request", message)
}

fn not_found(id: &str) -> ApiError {
    ApiError::new(StatusCode::NOT_FOUND, "not-found", format!("no task {id}"))
}

/// The most recordings a task's view lists (and links by rule): a visit, not a month.
const MAX_RECORDINGS: i64 = 500;

/// A recording of a task.
#[derive(Debug, Serialize, utoipa::ToSchema)]
struct TaskRecording {
    #[schema(value_type = String, format = Uuid)]
    clip_id: ClipId,
    #[schema(value_type = String)]
    officer: LocalId,
    recorded_at: DateTime<Utc>,
    kind: Option<custodian_core::records::RecordKind>,
    name: String,
    /// Which rule made it the task's.
    rule: LinkRule,
}

/// A moment of the task's checklist.
#[derive(Debug, Serialize, utoipa::ToSchema)]
struct ChecklistItem {
    moment: u8,
    zh: &'static str,
    en: &'static str,
    /// Whether the task's kind requires it (art. 7, as configured).
    required: bool,
    /// How it is marked: filmed in these recordings, or not filmed and why.
    mark: Option<MomentMark>,
}

/// A task with its recordings, checklist and findings.
#[derive(Debug, Serialize, utoipa::ToSchema)]
struct TaskView {
    #[serde(flatten)]
    task: TaskRecord,
    /// How many recordings the task has, including those the caller may not see.
    recording_count: usize,
    recordings: Vec<TaskRecording>,
    checklist: Vec<ChecklistItem>,
    coverage: Coverage,
    /// Empty while the task's window is open.
    findings: Vec<FindingView>,
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
struct FindingView {
    article: &'static str,
    #[serde(flatten)]
    finding: TaskFinding,
}

fn finding_views(findings: Vec<TaskFinding>) -> Vec<FindingView> {
    findings
        .into_iter()
        .map(|finding| FindingView {
            article: finding.article(),
            finding,
        })
        .collect()
}

/// How a recording stands against its upload and classification deadlines at `now`
/// (art. 16, 17): late unless done in time or excused.
fn standing(
    clip: &custodian_platform::catalogue::ClipRecord,
    now: DateTime<Utc>,
) -> RecordingStanding {
    let deadlines = crate::api::deadlines(clip, now);
    let late = |kinds: &[DeadlineKind]| {
        deadlines
            .iter()
            .any(|d| kinds.contains(&d.kind) && d.state == DeadlineState::Overdue)
    };
    RecordingStanding {
        clip: clip.id.to_string(),
        late_upload: late(&[
            DeadlineKind::Upload24Hours,
            DeadlineKind::Upload3WorkingDays,
        ]),
        late_classification: late(&[DeadlineKind::Classification]),
    }
}

impl Catalog {
    fn task_kinds(&self) -> Vec<&str> {
        self.rules
            .records
            .case_types()
            .iter()
            .map(String::as_str)
            .collect()
    }

    async fn task_of(&self, caller: &Caller, id: &str) -> Result<TaskRecord, ApiError> {
        let uuid = Uuid::parse_str(id).map_err(|_| not_found(id))?;
        self.ports
            .catalogue
            .task(&caller.bureau, uuid)
            .await?
            .ok_or_else(|| not_found(id))
    }

    /// The task's recordings: by rule, then by hand; every one, seen by the caller or not.
    async fn recordings_of(
        &self,
        task: &TaskRecord,
    ) -> Result<Vec<(custodian_platform::catalogue::ClipRecord, LinkRule)>, ApiError> {
        let plan = &task.plan;
        let mut found: BTreeMap<ClipId, _> = BTreeMap::new();
        for officer in &plan.officers {
            let Ok(officer_id) = LocalId::parse("officer", officer) else {
                continue;
            };
            let filter = ClipFilter {
                officer: Some(officer_id.to_string()),
                recorded_from: Some(plan.starts_at - Duration::minutes(supervision::LEAD_MINUTES)),
                recorded_to: Some(plan.ends_at),
                ..Default::default()
            };
            for clip in self
                .ports
                .catalogue
                .list_clips(&task.bureau, &filter, MAX_RECORDINGS)
                .await?
            {
                // A recording started before the window counts if it ran into it.
                let duration = if clip.recorded_at < plan.starts_at {
                    self.ports
                        .catalogue
                        .clip_media(clip.id)
                        .await?
                        .and_then(|media| media.facts.duration_seconds)
                        .map(|s| Duration::milliseconds((s * 1000.0) as i64))
                } else {
                    None
                };
                let recording = Recording {
                    officer: clip.officer.to_string(),
                    recorded_at: clip.recorded_at,
                    duration,
                };
                if supervision::recorded_for(plan, &recording) {
                    found.insert(clip.id, (clip, LinkRule::OfficerAndTime));
                }
            }
        }
        for link in self.ports.catalogue.task_links(task.id).await? {
            if found.contains_key(&link.clip) {
                continue;
            }
            if let Some(clip) = self.ports.catalogue.clip(&task.bureau, link.clip).await? {
                found.insert(link.clip, (clip, LinkRule::ByHand));
            }
        }
        let mut recordings: Vec<_> = found.into_values().collect();
        recordings.sort_by_key(|(clip, _)| (clip.recorded_at, clip.id));
        Ok(recordings)
    }

    async fn task_view(&self, caller: &Caller, task: TaskRecord) -> Result<TaskView, ApiError> {
        let all = self.recordings_of(&task).await?;
        let visible = caller.may_see();
        let marks = self.ports.catalogue.task_moments(task.id).await?;
        let required = self.rules.records.required_moments(&task.plan.kind);
        let coverage = supervision::coverage(required, &marks);
        let now = self.ports.clock.now();
        let standings: Vec<RecordingStanding> =
            all.iter().map(|(clip, _)| standing(clip, now)).collect();
        let findings =
            supervision::findings(&task.plan, &standings, task.not_filmed, &coverage, now);
        let checklist = supervision::MOMENTS
            .iter()
            .map(|moment| ChecklistItem {
                moment: moment.number,
                zh: moment.zh,
                en: moment.en,
                required: required.contains(&moment.number),
                mark: marks.iter().find(|m| m.moment == moment.number).cloned(),
            })
            .collect();
        let recording_count = all.len();
        let recordings = all
            .into_iter()
            .filter(|(clip, _)| visible.contains(&clip.confidentiality))
            .map(|(clip, rule)| TaskRecording {
                clip_id: clip.id,
                officer: clip.officer,
                recorded_at: clip.recorded_at,
                kind: clip.kind,
                name: clip.canonical_name.unwrap_or(clip.original_name),
                rule,
            })
            .collect();
        Ok(TaskView {
            task,
            recording_count,
            recordings,
            checklist,
            coverage,
            findings: finding_views(findings),
        })
    }

    /// Whether the caller may mark and link for this task: supervision staff, or one of the
    /// task's own officers (art. 17 puts the description of a recording on them).
    fn may_work_on(&self, caller: &Caller, task: &TaskRecord) -> Result<(), ApiError> {
        let own = caller
            .identity
            .officer
            .as_ref()
            .is_some_and(|me| task.plan.officers.iter().any(|o| o == me.as_str()));
        if own && caller.role.may(Action::ClassifyOwn) {
            return Ok(());
        }
        caller.require(Action::ManageTasks)
    }

    /// New tasks of the caller's bureau for these plans, not yet stored.
    fn new_tasks(&self, caller: &Caller, plans: Vec<TaskPlan>) -> Vec<TaskRecord> {
        TaskRecord::new_for(
            &caller.bureau,
            plans,
            &caller.name(),
            self.ports.clock.now(),
        )
    }
}

#[utoipa::path(
    post,
    path = "/v1/tasks",
    tag = "supervision",
    request_body = TaskPlan,
    responses(
        (status = 201, description = "the task", body = TaskView),
        (status = 400, description = "a field is wrong (named)", body = custodian_platform::http::ErrorBody),
        (status = 403, description = "a role that may not manage tasks", body = custodian_platform::http::ErrorBody),
        (status = 409, description = "the bureau already has a task of this number", body = custodian_platform::http::ErrorBody),
    ),
    security(("bearer" = []))
)]
async fn create_task(
    State(catalog): State<Arc<Catalog>>,
    Extension(caller): Extension<Caller>,
    Json(plan): Json<TaskPlan>,
) -> Result<(StatusCode, Json<TaskView>), ApiError> {
    caller.require(Action::ManageTasks)?;
    let plan = plan
        .validated(&catalog.task_kinds())
        .map_err(|e| bad_request(e.to_string()))?;
    let tasks = catalog.new_tasks(&caller, vec![plan]);
    if catalog.ports.catalogue.create_tasks(&tasks).await? == 0 {
        return Err(ApiError::new(
            StatusCode::CONFLICT,
            "conflict",
            format!(
                "bureau {} already has task {:?}",
                caller.bureau, tasks[0].plan.external_id
            ),
        ));
    }
    let task = tasks.into_iter().next().ok_or_else(|| not_found("new"))?;
    Ok((
        StatusCode::CREATED,
        Json(catalog.task_view(&caller, task).await?),
    ))
}

/// What an import did.
#[derive(Debug, Serialize, utoipa::ToSchema)]
struct ImportReport {
    /// Tasks in the plan.
    tasks: usize,
    /// Tasks added now.
    added: usize,
    /// Tasks the bureau already had (by their number), left as they were.
    already_held: usize,
}

/// Why a plan was refused (`invalid-plan`): every bad row (none when the plan could not be
/// read at all).
#[derive(Serialize, utoipa::ToSchema)]
struct PlanRefusal {
    error: ErrorDetail,
    rows: Vec<RowError>,
}

/// A plan refused whole (400 `invalid-plan`), with its bad rows if it was read.
fn refuse_plan(message: String, rows: Vec<RowError>) -> Response {
    let refusal = PlanRefusal {
        error: ErrorDetail {
            code: "invalid-plan".into(),
            message,
        },
        rows,
    };
    (StatusCode::BAD_REQUEST, Json(refusal)).into_response()
}

#[utoipa::path(
    post,
    path = "/v1/tasks/import",
    tag = "supervision",
    request_body(content = String, description = "the plan: CSV (text/csv; a header row names the columns external_id/任务编号, enterprise/被检查单位, kind/执法类型, starts_at/开始时间, ends_at/结束时间, officers/执法人员, place/地点, case_ref/案件编号) or a JSON array of tasks (application/json)", content_type = "text/csv"),
    responses(
        (status = 200, description = "the plan imported whole (a task already held is left as it was)", body = ImportReport),
        (status = 400, description = "the plan is refused whole, every bad row named", body = PlanRefusal),
        (status = 403, description = "a role that may not manage tasks", body = custodian_platform::http::ErrorBody),
        (status = 415, description = "neither CSV nor JSON", body = custodian_platform::http::ErrorBody),
    ),
    security(("bearer" = []))
)]
async fn import_tasks(
    State(catalog): State<Arc<Catalog>>,
    Extension(caller): Extension<Caller>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, ApiError> {
    caller.require(Action::ManageTasks)?;
    let content_type = headers
        .get(axum::http::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_ascii_lowercase();
    let kinds = catalog.task_kinds();
    let parsed = if content_type.starts_with("text/csv") {
        match std::str::from_utf8(&body) {
            Ok(text) => supervision::parse_plan_csv(text, &kinds),
            Err(_) => {
                return Ok(refuse_plan(
                    "the plan is not UTF-8 text (save the CSV as UTF-8)".into(),
                    Vec::new(),
                ))
            }
        }
    } else if content_type.starts_with("application/json") {
        match serde_json::from_slice::<Vec<TaskPlan>>(&body) {
            Ok(plans) => supervision::check_plan(plans, &kinds),
            Err(e) => {
                return Ok(refuse_plan(
                    format!("the plan is not a JSON array of tasks: {e}"),
                    Vec::new(),
                ))
            }
        }
    } else {
        return Err(ApiError::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "unsupported-media-type",
            "send the plan as text/csv or application/json",
        ));
    };
    let plans = match parsed {
        Ok(plans) => plans,
        Err(rows) => {
            // Every bad row in the message too, one a line, for clients that show only it.
            let mut message = format!(
                "{} rows of the plan are wrong; nothing was imported",
                rows.len()
            );
            for row in &rows {
                message.push_str(&format!("\nrow {}: {}", row.row, row.error));
            }
            return Ok(refuse_plan(message, rows));
        }
    };
    let tasks = catalog.new_tasks(&caller, plans);
    let added = catalog.ports.catalogue.create_tasks(&tasks).await?;
    Ok(Json(ImportReport {
        tasks: tasks.len(),
        added,
        already_held: tasks.len() - added,
    })
    .into_response())
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
struct TaskListQuery {
    /// Only tasks whose window ends at or after this time (RFC 3339).
    ends_from: Option<DateTime<Utc>>,
    /// Only tasks whose window ends before this time (RFC 3339).
    ends_to: Option<DateTime<Utc>>,
    /// Only tasks of this officer.
    officer: Option<String>,
    /// At most this many (1 to 200; default 50).
    #[param(minimum = 1, maximum = 200)]
    limit: Option<i64>,
    /// The `next_cursor` of the previous page.
    cursor: Option<String>,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
struct TaskPage {
    items: Vec<TaskView>,
    /// Pass as `cursor` for the next page; absent on the last page.
    next_cursor: Option<String>,
}

fn cursor_of(task: &TaskRecord) -> String {
    format!("{}_{}", task.plan.starts_at.timestamp_micros(), task.id)
}

fn parse_cursor(text: &str) -> Result<(DateTime<Utc>, Uuid), ApiError> {
    let bad = || bad_request(format!("cursor {text:?} is not one this API gave"));
    let (micros, id) = text.split_once('_').ok_or_else(bad)?;
    let at = micros
        .parse::<i64>()
        .ok()
        .and_then(DateTime::from_timestamp_micros)
        .ok_or_else(bad)?;
    Ok((at, Uuid::parse_str(id).map_err(|_| bad())?))
}

#[utoipa::path(
    get,
    path = "/v1/tasks",
    tag = "supervision",
    params(TaskListQuery),
    responses(
        (status = 200, description = "the bureau's tasks by start, each with its recordings, checklist and findings", body = TaskPage),
        (status = 400, description = "a parameter is wrong", body = custodian_platform::http::ErrorBody),
    ),
    security(("bearer" = []))
)]
async fn list_tasks(
    State(catalog): State<Arc<Catalog>>,
    Extension(caller): Extension<Caller>,
    Query(query): Query<TaskListQuery>,
) -> Result<Json<TaskPage>, ApiError> {
    caller.require(Action::Read)?;
    let limit = query.limit.unwrap_or(50);
    if !(1..=200).contains(&limit) {
        return Err(bad_request("limit must be 1 to 200"));
    }
    let filter = TaskFilter {
        ends_from: query.ends_from,
        ends_to: query.ends_to,
        officer: query.officer.clone(),
        after: query.cursor.as_deref().map(parse_cursor).transpose()?,
    };
    let tasks = catalog
        .ports
        .catalogue
        .list_tasks(&caller.bureau, &filter, limit + 1)
        .await?;
    let more = tasks.len() as i64 > limit;
    let mut items = Vec::new();
    for task in tasks.into_iter().take(limit as usize) {
        items.push(catalog.task_view(&caller, task).await?);
    }
    let next_cursor = more
        .then(|| items.last().map(|v: &TaskView| cursor_of(&v.task)))
        .flatten();
    Ok(Json(TaskPage { items, next_cursor }))
}

#[utoipa::path(
    get,
    path = "/v1/tasks/{id}",
    tag = "supervision",
    params(("id" = String, Path, format = Uuid)),
    responses(
        (status = 200, description = "the task with its recordings, checklist and findings", body = TaskView),
        (status = 404, description = "no such task in the caller's bureau", body = custodian_platform::http::ErrorBody),
    ),
    security(("bearer" = []))
)]
async fn task(
    State(catalog): State<Arc<Catalog>>,
    Extension(caller): Extension<Caller>,
    Path(id): Path<String>,
) -> Result<Json<TaskView>, ApiError> {
    caller.require(Action::Read)?;
    let task = catalog.task_of(&caller, &id).await?;
    Ok(Json(catalog.task_view(&caller, task).await?))
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
struct LinkBody {
    clip_ids: Vec<String>,
}

#[utoipa::path(
    post,
    path = "/v1/tasks/{id}/clips",
    tag = "supervision",
    params(("id" = String, Path, format = Uuid)),
    request_body = LinkBody,
    responses(
        (status = 200, description = "the task, the recordings linked by hand", body = TaskView),
        (status = 400, description = "a clip is not of the bureau, or too many", body = custodian_platform::http::ErrorBody),
        (status = 403, description = "neither one of the task's officers nor supervision staff", body = custodian_platform::http::ErrorBody),
        (status = 404, description = "no such task in the caller's bureau", body = custodian_platform::http::ErrorBody),
    ),
    security(("bearer" = []))
)]
async fn link_clips(
    State(catalog): State<Arc<Catalog>>,
    Extension(caller): Extension<Caller>,
    Path(id): Path<String>,
    Json(body): Json<LinkBody>,
) -> Result<Json<TaskView>, ApiError> {
    let task = catalog.task_of(&caller, &id).await?;
    catalog.may_work_on(&caller, &task)?;
    if body.clip_ids.is_empty() || body.clip_ids.len() > 100 {
        return Err(bad_request("clip_ids must name 1 to 100 clips"));
    }
    let mut clips = Vec::new();
    for text in &body.clip_ids {
        // A clip of another bureau, or one the caller may not see, is answered as missing.
        let clip = clip_in_bureau(
            &*catalog.ports.catalogue,
            &caller,
            crate::api::clip_id(text)?,
        )
        .await?;
        clips.push(clip.id);
    }
    let now = catalog.ports.clock.now();
    for clip in clips {
        catalog
            .ports
            .catalogue
            .link_task_clip(task.id, clip, &caller.name(), now)
            .await?;
    }
    Ok(Json(catalog.task_view(&caller, task).await?))
}

/// A note as kept (trimmed, at most 500 characters, none if blank); `other` needs one.
fn note_for(
    reason: Option<NotFilmedReason>,
    given: Option<&str>,
) -> Result<Option<String>, ApiError> {
    let note = given
        .map(str::trim)
        .filter(|n| !n.is_empty())
        .map(str::to_owned);
    if note.as_ref().is_some_and(|n| n.chars().count() > 500) {
        return Err(bad_request("note must be at most 500 characters"));
    }
    if reason == Some(NotFilmedReason::Other) && note.is_none() {
        return Err(bad_request("other needs a note saying why"));
    }
    Ok(note)
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
struct MarkBody {
    /// The task's recordings that show the moment.
    #[serde(default)]
    clip_ids: Vec<String>,
    /// Why it was not filmed (with no recordings).
    not_filmed: Option<NotFilmedReason>,
    /// Required with `other`; what happened.
    note: Option<String>,
}

#[utoipa::path(
    put,
    path = "/v1/tasks/{id}/moments/{moment}",
    tag = "supervision",
    params(("id" = String, Path, format = Uuid), ("moment" = u8, Path, description = "1 to 16, as art. 7 numbers them")),
    request_body = MarkBody,
    responses(
        (status = 200, description = "the task with the moment marked", body = TaskView),
        (status = 400, description = "the mark is wrong (named)", body = custodian_platform::http::ErrorBody),
        (status = 403, description = "neither one of the task's officers nor supervision staff", body = custodian_platform::http::ErrorBody),
        (status = 404, description = "no such task in the caller's bureau", body = custodian_platform::http::ErrorBody),
    ),
    security(("bearer" = []))
)]
async fn mark_moment(
    State(catalog): State<Arc<Catalog>>,
    Extension(caller): Extension<Caller>,
    Path((id, moment)): Path<(String, u8)>,
    Json(body): Json<MarkBody>,
) -> Result<Json<TaskView>, ApiError> {
    let task = catalog.task_of(&caller, &id).await?;
    catalog.may_work_on(&caller, &task)?;
    if supervision::moment(moment).is_none() {
        return Err(bad_request(format!(
            "moment {moment} is not one of art. 7's 1 to 16"
        )));
    }
    let note = note_for(body.not_filmed, body.note.as_deref())?;
    match (body.clip_ids.is_empty(), body.not_filmed) {
        (true, None) => {
            return Err(bad_request(
                "name the recordings that show the moment (clip_ids) or why it was not filmed (not_filmed)",
            ))
        }
        (false, Some(_)) => {
            return Err(bad_request("a moment is either filmed (clip_ids) or not (not_filmed), not both"))
        }
        _ => {}
    }
    // Only the task's own recordings show its moments.
    let recordings = catalog.recordings_of(&task).await?;
    let mut clips = Vec::new();
    for text in &body.clip_ids {
        let clip = crate::api::clip_id(text)?;
        if !recordings.iter().any(|(r, _)| r.id == clip) {
            return Err(bad_request(format!(
                "clip {text} is not a recording of this task (link it to the task first)"
            )));
        }
        clips.push(clip.to_string());
    }
    clips.sort();
    clips.dedup();
    let mark = MomentMark {
        moment,
        clips,
        not_filmed: body.not_filmed,
        note,
    };
    catalog
        .ports
        .catalogue
        .mark_moment(task.id, &mark, &caller.name(), catalog.ports.clock.now())
        .await?;
    Ok(Json(catalog.task_view(&caller, task).await?))
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
struct NotFilmedBody {
    /// Why the task was not filmed at all (art. 8); null withdraws an earlier reason.
    reason: Option<NotFilmedReason>,
    note: Option<String>,
}

#[utoipa::path(
    put,
    path = "/v1/tasks/{id}/not-filmed",
    tag = "supervision",
    params(("id" = String, Path, format = Uuid)),
    request_body = NotFilmedBody,
    responses(
        (status = 200, description = "the task with its reason", body = TaskView),
        (status = 400, description = "the reason is wrong (named)", body = custodian_platform::http::ErrorBody),
        (status = 403, description = "neither one of the task's officers nor supervision staff", body = custodian_platform::http::ErrorBody),
        (status = 404, description = "no such task in the caller's bureau", body = custodian_platform::http::ErrorBody),
    ),
    security(("bearer" = []))
)]
async fn not_filmed(
    State(catalog): State<Arc<Catalog>>,
    Extension(caller): Extension<Caller>,
    Path(id): Path<String>,
    Json(body): Json<NotFilmedBody>,
) -> Result<Json<TaskView>, ApiError> {
    let mut task = catalog.task_of(&caller, &id).await?;
    catalog.may_work_on(&caller, &task)?;
    if body.reason == Some(NotFilmedReason::DidNotHappen) {
        return Err(bad_request(
            "did_not_happen is for a moment; a task that did not happen is not a task of the plan",
        ));
    }
    let note = note_for(body.reason, body.note.as_deref())?;
    catalog
        .ports
        .catalogue
        .set_task_not_filmed(task.id, body.reason, note.as_deref())
        .await?;
    task.not_filmed = body.reason;
    task.not_filmed_note = note;
    Ok(Json(catalog.task_view(&caller, task).await?))
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
struct FindingsQuery {
    /// Tasks whose window ended at or after this time (RFC 3339).
    from: DateTime<Utc>,
    /// ... and before this time (at most a year after `from`).
    to: DateTime<Utc>,
}

/// A finding of supervision about one task.
#[derive(Debug, Serialize, utoipa::ToSchema)]
struct TaskFindingRow {
    #[schema(value_type = String, format = Uuid)]
    task_id: Uuid,
    external_id: String,
    enterprise: String,
    /// The task's kind (行政检查, ...); the finding's is `kind`.
    task_kind: String,
    officers: Vec<String>,
    ends_at: DateTime<Utc>,
    #[serde(flatten)]
    finding: FindingView,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
struct FindingsReport {
    from: DateTime<Utc>,
    to: DateTime<Utc>,
    /// Tasks whose window ended in the period.
    tasks: usize,
    /// Of them, with at least one recording.
    recorded: usize,
    findings: Vec<TaskFindingRow>,
    /// How many findings of each kind.
    counts: BTreeMap<String, usize>,
}

/// The most tasks a findings report reads (a bureau's year).
const MAX_REPORT_TASKS: usize = 20_000;

#[utoipa::path(
    get,
    path = "/v1/supervision/findings",
    tag = "supervision",
    params(FindingsQuery),
    responses(
        (status = 200, description = "what supervision finds about the tasks whose window ended in the period (art. 7, 8, 25(1))", body = FindingsReport),
        (status = 400, description = "a parameter is wrong", body = custodian_platform::http::ErrorBody),
    ),
    security(("bearer" = []))
)]
async fn findings(
    State(catalog): State<Arc<Catalog>>,
    Extension(caller): Extension<Caller>,
    Query(query): Query<FindingsQuery>,
) -> Result<Json<FindingsReport>, ApiError> {
    caller.require(Action::Read)?;
    if query.to <= query.from || query.to - query.from > Duration::days(366) {
        return Err(bad_request("to must be after from, by at most a year"));
    }
    let mut filter = TaskFilter {
        ends_from: Some(query.from),
        ends_to: Some(query.to),
        ..Default::default()
    };
    let mut report = FindingsReport {
        from: query.from,
        to: query.to,
        tasks: 0,
        recorded: 0,
        findings: Vec::new(),
        counts: BTreeMap::new(),
    };
    loop {
        let page = catalog
            .ports
            .catalogue
            .list_tasks(&caller.bureau, &filter, 200)
            .await?;
        let Some(last) = page.last() else { break };
        filter.after = Some((last.plan.starts_at, last.id));
        for task in page {
            report.tasks += 1;
            if report.tasks > MAX_REPORT_TASKS {
                return Err(bad_request(format!(
                    "more than {MAX_REPORT_TASKS} tasks in the period: ask for a shorter one"
                )));
            }
            let view = catalog.task_view(&caller, task).await?;
            if view.recording_count > 0 {
                report.recorded += 1;
            }
            for finding in view.findings {
                *report
                    .counts
                    .entry(finding.finding.name().to_owned())
                    .or_default() += 1;
                report.findings.push(TaskFindingRow {
                    task_id: view.task.id,
                    external_id: view.task.plan.external_id.clone(),
                    enterprise: view.task.plan.enterprise.clone(),
                    task_kind: view.task.plan.kind.clone(),
                    officers: view.task.plan.officers.clone(),
                    ends_at: view.task.plan.ends_at,
                    finding,
                });
            }
        }
    }
    Ok(Json(report))
}

#[derive(utoipa::OpenApi)]
#[openapi(
    paths(create_task, import_tasks, list_tasks, task, link_clips, mark_moment, not_filmed, findings),
    modifiers(&BearerSecurity),
    tags((name = "supervision", description = "Enforcement tasks, the art. 7 checklist, and what supervision finds (art. 6-8, 25)"))
)]
pub(crate) struct TasksApi;
