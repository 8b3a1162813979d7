//! The catalogue's HTTP API: clips (read, search, classify), cases, devices and categories.
//! Every route requires a token; every query is scoped to the token's bureau, and a record of
//! another bureau is answered exactly as one that does not exist. Changes need a role that
//! may make them.

use std::sync::Arc;

use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::routing::{get, post, put};
use axum::{Extension, Json, Router};
use chrono::{DateTime, NaiveDate, Utc};
use custodian_core::cases::{CaseError, CaseState, TeamShortfall};
use custodian_core::classification::Classification;
use custodian_core::deadlines::{local_date, upload_deadlines, Deadline, DeadlineKind};
use custodian_core::naming::NameParts;
use custodian_core::records::{RecordKind, Stage};
use custodian_core::roles::{Action, RecordedBy};
use custodian_core::{ClipId, ClipState, LocalId};
use custodian_platform::catalogue::{
    BoundingBox, CaseClosure, CaseFilter, CaseRecord, ClassificationEntry, ClipFilter, ClipMedia,
    ClipRecord, Device, Finding, Team, TrackVersion, Transition,
};
use custodian_platform::http::{clip_in_bureau, protect, ApiError, BearerSecurity, Caller};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::Catalog;

pub const MAX_PAGE: i64 = 500;

#[derive(utoipa::OpenApi)]
#[openapi(
    paths(one, classify, set_confidentiality, categories, record_types, list, create_case, list_cases, case, link_clips, close_case, file_case, register_device, devices,
        register_team, teams,
        crate::media_api::view, crate::media_api::subtitles, crate::media_api::poster, crate::media_api::similar),
    modifiers(&BearerSecurity),
    tags((name = "catalogue", description = "Clips, classification, cases and devices (art. 15-18)"),
        (name = "media", description = "Viewing copies, sidecars and similar clips"))
)]
struct CatalogApi;

/// The catalog role's API, described for other tools.
pub fn openapi() -> utoipa::openapi::OpenApi {
    let mut api = <CatalogApi as utoipa::OpenApi>::openapi();
    api.merge(<crate::tasks_api::TasksApi as utoipa::OpenApi>::openapi());
    api.merge(<crate::rectification_api::RectificationApi as utoipa::OpenApi>::openapi());
    api
}

pub fn router(catalog: Arc<Catalog>) -> Router {
    let ports = catalog.ports.clone();
    let routes = Router::new()
        .route("/v1/clips", get(list))
        .route("/v1/clips/{id}", get(one))
        .route("/v1/clips/{id}/classification", put(classify))
        .route("/v1/clips/{id}/confidentiality", put(set_confidentiality))
        .route("/v1/clips/{id}/view", get(crate::media_api::view))
        .route("/v1/clips/{id}/subtitles", get(crate::media_api::subtitles))
        .route("/v1/clips/{id}/poster", get(crate::media_api::poster))
        .route("/v1/clips/{id}/similar", get(crate::media_api::similar))
        .route("/v1/categories", get(categories))
        .route("/v1/record-types", get(record_types))
        .route("/v1/cases", post(create_case).get(list_cases))
        .route("/v1/cases/{id}", get(case))
        .route("/v1/cases/{id}/clips", post(link_clips))
        .route("/v1/cases/{id}/close", post(close_case))
        .route("/v1/cases/{id}/file", post(file_case))
        .route("/v1/devices", get(devices))
        .route("/v1/devices/{device}", put(register_device))
        .route("/v1/teams", get(teams))
        .route("/v1/teams/{team}", put(register_team))
        .merge(crate::tasks_api::routes())
        .merge(crate::rectification_api::routes())
        .with_state(catalog);
    protect(routes, &ports)
}

fn bad_request(message: impl Into<String>) -> ApiError {
    ApiError::new(StatusCode::BAD_REQUEST, "invalid-request", message)
}

fn conflict(message: impl Into<String>) -> ApiError {
    ApiError::new(StatusCode::CONFLICT, "conflict", message)
}

pub(crate) fn clip_id(text: &str) -> Result<ClipId, ApiError> {
    text.parse()
        .map_err(|e: custodian_core::IdError| bad_request(e.to_string()))
}

fn case_id(text: &str) -> Result<Uuid, ApiError> {
    Uuid::parse_str(text).map_err(|_| bad_request(format!("case id {text:?} is not a UUID")))
}

/// A clip's deadlines as they stand at `now`.
pub(crate) fn deadlines(clip: &ClipRecord, now: DateTime<Utc>) -> Vec<Deadline> {
    let Some(s) = clip.schedule else {
        return Vec::new();
    };
    let [upload, upload_hard] = upload_deadlines(
        s.upload_due,
        s.upload_hard_due,
        clip.received_at,
        clip.late_reason.is_some(),
        s.calendar_complete,
        now,
    );
    vec![
        upload,
        upload_hard,
        Deadline::evaluate(
            DeadlineKind::Classification,
            s.classify_due,
            clip.classified_at,
            now,
            s.calendar_complete,
        ),
    ]
}

/// What art. 16's upload deadlines count from.
#[derive(Serialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
enum UploadClock {
    /// The officer's return to the office, as the upload said (`returned_at`).
    Return,
    /// The recording's end (its start until the media workers measured it): the upload did
    /// not say when the officer returned, so the rule in force before returns were recorded
    /// applies.
    RecordingEnd,
}

#[derive(Serialize, utoipa::ToSchema)]
struct ClipView {
    #[serde(flatten)]
    clip: ClipRecord,
    deadlines: Vec<Deadline>,
    upload_deadlines_from: UploadClock,
}

#[derive(Serialize, utoipa::ToSchema)]
struct ClipDetail {
    #[serde(flatten)]
    view: ClipView,
    history: Vec<Transition>,
    classifications: Vec<ClassificationEntry>,
    /// What the media workers measured and made (absent until one has run).
    media: Option<ClipMedia>,
    /// What the scrub and the fingerprinter found wrong (continuity, checksums).
    findings: Vec<Finding>,
    /// Every version of the GPS track uploaded beside the clip, oldest first; the copies name
    /// the one they used by its SHA-256 (`media.track_sha256`).
    tracks: Vec<TrackVersion>,
}

impl Catalog {
    fn view(&self, clip: ClipRecord) -> ClipView {
        let deadlines = deadlines(&clip, self.ports.clock.now());
        let upload_deadlines_from = match clip.returned_at {
            Some(_) => UploadClock::Return,
            None => UploadClock::RecordingEnd,
        };
        ClipView {
            clip,
            deadlines,
            upload_deadlines_from,
        }
    }

    pub(crate) async fn clip_of(
        &self,
        caller: &Caller,
        id: ClipId,
    ) -> Result<ClipRecord, ApiError> {
        clip_in_bureau(&*self.ports.catalogue, caller, id).await
    }

    async fn case_of(&self, caller: &Caller, id: Uuid) -> Result<CaseRecord, ApiError> {
        self.ports
            .catalogue
            .case(&caller.bureau, id)
            .await?
            .ok_or_else(|| {
                ApiError::new(
                    StatusCode::NOT_FOUND,
                    "no-such-case",
                    format!("no case {id} in bureau {}", caller.bureau),
                )
            })
    }
}

#[utoipa::path(
    get,
    path = "/v1/clips/{id}",
    tag = "catalogue",
    params(("id" = uuid::Uuid, Path, description = "clip id")),
    responses(
        (status = 200, description = "the clip, its deadlines and history", body = ClipDetail),
        (status = 400, description = "not a clip id", body = custodian_platform::http::ErrorBody),
        (status = 404, description = "no such clip in the caller's bureau", body = custodian_platform::http::ErrorBody),
    ),
    security(("bearer" = []))
)]
async fn one(
    State(catalog): State<Arc<Catalog>>,
    Extension(caller): Extension<Caller>,
    Path(id): Path<String>,
) -> Result<Json<ClipDetail>, ApiError> {
    let id = clip_id(&id)?;
    let clip = catalog.clip_of(&caller, id).await?;
    let history = catalog.ports.catalogue.transitions(id).await?;
    let classifications = catalog.ports.catalogue.classifications(id).await?;
    let media = catalog.ports.catalogue.clip_media(id).await?;
    let findings = catalog.ports.catalogue.findings(id).await?;
    let tracks = catalog.ports.catalogue.track_versions(id).await?;
    Ok(Json(ClipDetail {
        view: catalog.view(clip),
        history,
        classifications,
        media,
        findings,
        tracks,
    }))
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
struct ClassifyBody {
    category: String,
    /// The place and main content (art. 17).
    description: String,
    place: Option<String>,
    #[serde(default)]
    important: bool,
    /// The enforcement matter (执法事项, art. 12 (3)), up to 200 characters.
    #[schema(max_length = 200)]
    matter: Option<String>,
    /// The party (当事人, art. 12 (3)), up to 200 characters.
    #[schema(max_length = 200)]
    party: Option<String>,
    /// A text record's type (送达回证, 询问笔录, ...), one of the configured document types
    /// (`GET /v1/record-types`): the record is a document from then on, a scanned page too.
    document_type: Option<String>,
}

#[utoipa::path(
    put,
    path = "/v1/clips/{id}/classification",
    tag = "catalogue",
    params(("id" = uuid::Uuid, Path, description = "clip id")),
    request_body = ClassifyBody,
    responses(
        (status = 200, description = "classified and renamed", body = ClipDetail),
        (status = 403, description = "a role that may not classify, or an officer's credential and a clip neither they nor their team recorded", body = custodian_platform::http::ErrorBody),
        (status = 404, description = "no such clip in the caller's bureau", body = custodian_platform::http::ErrorBody),
        (status = 422, description = "unknown category or bad text", body = custodian_platform::http::ErrorBody),
    ),
    security(("bearer" = []))
)]
async fn classify(
    State(catalog): State<Arc<Catalog>>,
    Extension(caller): Extension<Caller>,
    Path(id): Path<String>,
    Json(body): Json<ClassifyBody>,
) -> Result<Json<ClipDetail>, ApiError> {
    // Staff classify every clip of the bureau; officers only their own and their team's
    // (art. 17), so a credential that speaks for no officer is refused before any lookup.
    if !caller.role.may(Action::Classify) {
        if !caller.role.may(Action::ClassifyOwn) {
            caller.require(Action::Classify)?;
        }
        if caller.identity.is_empty() {
            return Err(ApiError::new(
                StatusCode::FORBIDDEN,
                "forbidden",
                "this credential speaks for no officer, so it classifies no clip (give the user or token an --officer-id and --team)",
            ));
        }
    }
    let id = clip_id(&id)?;
    let clip = catalog.clip_of(&caller, id).await?;
    let recorded = RecordedBy {
        officer: &clip.officer,
        team: clip.team.as_deref(),
    };
    if !caller.role.may_classify(&caller.identity, recorded) {
        return Err(ApiError::new(
            StatusCode::FORBIDDEN,
            "forbidden",
            format!(
                "an officer classifies the clips they or their team recorded; clip {id} was recorded by officer {} of {}",
                clip.officer,
                clip.team.as_deref().unwrap_or("no registered team")
            ),
        ));
    }
    let invalid = |e: custodian_core::classification::ClassificationError| {
        ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid-classification",
            e.to_string(),
        )
    };
    let classification = Classification::new(
        &catalog.rules.categories,
        &body.category,
        &body.description,
        body.place.as_deref(),
        body.important,
    )
    .and_then(|c| c.with_matter_and_party(body.matter.as_deref(), body.party.as_deref()))
    .map_err(invalid)?;
    let document_type = body
        .document_type
        .as_deref()
        .map(|t| catalog.rules.records.document_type(t))
        .transpose()
        .map_err(|e| {
            ApiError::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                "invalid-classification",
                e.to_string(),
            )
        })?;
    let name = catalog.rules.names.render(&NameParts {
        device: clip.device.as_str(),
        officer: clip.officer.as_str(),
        bureau: clip.bureau.as_str(),
        category: Some(&classification.category),
        recorded_at: clip.recorded_at,
        important: classification.important,
    });
    let at = catalog.ports.clock.now();
    catalog
        .ports
        .catalogue
        .classify(
            &caller.bureau,
            id,
            &classification,
            &name,
            &caller.name(),
            at,
        )
        .await?;
    if let Some(document_type) = &document_type {
        catalog
            .ports
            .catalogue
            .set_document_type(&caller.bureau, id, document_type)
            .await?;
    }
    tracing::info!(clip_id = %id, category = %classification.category, by = %caller.name(), "clip classified");
    one(State(catalog), Extension(caller), Path(id.to_string())).await
}

#[utoipa::path(
    get,
    path = "/v1/categories",
    tag = "catalogue",
    responses(
        (status = 200, description = "the categories clips are classified into", body = Vec<String>),
    ),
    security(("bearer" = []))
)]
async fn categories(State(catalog): State<Arc<Catalog>>) -> Json<Vec<String>> {
    Json(catalog.rules.categories.list().to_vec())
}

/// The record types a bureau works with.
#[derive(Serialize, utoipa::ToSchema)]
struct RecordTypes {
    kinds: Vec<RecordKind>,
    /// Each document type with the enforcement stage it belongs to.
    document_types: Vec<DocumentTypeView>,
    case_types: Vec<CaseTypeView>,
}

#[derive(Serialize, utoipa::ToSchema)]
struct DocumentTypeView {
    name: String,
    stage: Stage,
}

#[derive(Serialize, utoipa::ToSchema)]
struct CaseTypeView {
    name: String,
    /// What its case file must hold before filing; each entry is met by any one of its types.
    requires: Vec<custodian_core::records::Requirement>,
}

#[utoipa::path(
    get,
    path = "/v1/record-types",
    tag = "catalogue",
    responses(
        (status = 200, description = "record kinds, document types by stage, and what each case type's file must hold (art. 18)", body = RecordTypes),
    ),
    security(("bearer" = []))
)]
async fn record_types(State(catalog): State<Arc<Catalog>>) -> Json<RecordTypes> {
    let rules = &catalog.rules.records;
    Json(RecordTypes {
        kinds: RecordKind::ALL.to_vec(),
        document_types: rules
            .document_types()
            .map(|(name, stage)| DocumentTypeView {
                name: name.to_owned(),
                stage,
            })
            .collect(),
        case_types: rules
            .case_types()
            .iter()
            .map(|name| CaseTypeView {
                name: name.clone(),
                requires: rules.requirements(name).to_vec(),
            })
            .collect(),
    })
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
struct ListQuery {
    device: Option<String>,
    officer: Option<String>,
    state: Option<String>,
    case: Option<String>,
    #[param(format = Uuid)]
    case_id: Option<String>,
    category: Option<String>,
    /// `min_lat,min_lon,max_lat,max_lon`
    bbox: Option<String>,
    q: Option<String>,
    important: Option<bool>,
    classified: Option<bool>,
    /// `classification`: only clips whose classification is overdue now.
    overdue: Option<String>,
    /// Only clips with a finding of this severity: `critical` (scrub, archive) and, from the
    /// media workers, `warning` and `info`.
    finding: Option<String>,
    /// `false`: only clips from a camera that was not in the device registry when they
    /// arrived (art. 15); `true`: only those from a registered one.
    device_registered: Option<bool>,
    /// Only records of this kind: `video`, `audio`, `photo` or `document`.
    kind: Option<String>,
    /// Only documents of this type (送达回证, ...).
    document_type: Option<String>,
    recorded_from: Option<String>,
    recorded_to: Option<String>,
    /// At most this many (1 to 500; default 50).
    #[param(minimum = 1, maximum = 500)]
    limit: Option<i64>,
    cursor: Option<String>,
}

#[derive(Serialize, utoipa::ToSchema)]
struct Page {
    items: Vec<ClipView>,
    /// Pass as `cursor` to get the next page; absent on the last page.
    #[schema(value_type = Option<String>)]
    next_cursor: Option<ClipId>,
}

fn time(field: &str, value: Option<String>) -> Result<Option<DateTime<Utc>>, ApiError> {
    value
        .map(|v| {
            DateTime::parse_from_rfc3339(&v)
                .map(|t| t.with_timezone(&Utc))
                .map_err(|_| {
                    bad_request(format!(
                        "{field} {v:?} is not an RFC 3339 time such as 2026-02-14T09:30:00+08:00"
                    ))
                })
        })
        .transpose()
}

fn bounding_box(text: &str) -> Result<BoundingBox, ApiError> {
    let bad = || {
        bad_request(format!(
            "bbox {text:?} must be min_lat,min_lon,max_lat,max_lon in degrees"
        ))
    };
    let numbers: Vec<f64> = text
        .split(',')
        .map(|n| n.trim().parse::<f64>())
        .collect::<Result<_, _>>()
        .map_err(|_| bad())?;
    let [min_lat, min_lon, max_lat, max_lon] = numbers[..] else {
        return Err(bad());
    };
    let ordered = min_lat <= max_lat && min_lon <= max_lon;
    let in_range = [min_lat, max_lat]
        .iter()
        .all(|l| (-90.0..=90.0).contains(l))
        && [min_lon, max_lon]
            .iter()
            .all(|l| (-180.0..=180.0).contains(l));
    if !(ordered && in_range) {
        return Err(bad());
    }
    Ok(BoundingBox {
        min_lat,
        min_lon,
        max_lat,
        max_lon,
    })
}

#[utoipa::path(
    get,
    path = "/v1/clips",
    tag = "catalogue",
    params(ListQuery),
    responses(
        (status = 200, description = "a page of the bureau's clips, newest first", body = Page),
        (status = 400, description = "a filter that does not parse", body = custodian_platform::http::ErrorBody),
        (status = 404, description = "case_id names no case of the caller's bureau", body = custodian_platform::http::ErrorBody),
    ),
    security(("bearer" = []))
)]
async fn list(
    State(catalog): State<Arc<Catalog>>,
    Extension(caller): Extension<Caller>,
    Query(query): Query<ListQuery>,
) -> Result<Json<Page>, ApiError> {
    let limit = query.limit.unwrap_or(50);
    if !(1..=MAX_PAGE).contains(&limit) {
        return Err(bad_request(format!(
            "limit {limit} must be 1 to {MAX_PAGE}"
        )));
    }
    let state = query
        .state
        .map(|s| s.parse::<ClipState>())
        .transpose()
        .map_err(|e| {
            bad_request(format!(
                "{e}; known states: stored, catalogued, archived, recycled, expired, failed"
            ))
        })?;
    let category = query
        .category
        .map(|c| {
            catalog
                .rules
                .categories
                .check(&c)
                .map_err(|e| bad_request(e.to_string()))
        })
        .transpose()?;
    let case_id = match query.case_id {
        Some(id) => Some(catalog.case_of(&caller, case_id(&id)?).await?.id),
        None => None,
    };
    let classification_overdue_at = match query.overdue.as_deref() {
        None => None,
        Some("classification") => Some(catalog.ports.clock.now()),
        Some(other) => {
            return Err(bad_request(format!(
                "overdue {other:?}: only `classification` can be searched"
            )))
        }
    };
    let text = query
        .q
        .map(|q| q.trim().to_owned())
        .filter(|q| !q.is_empty());
    if text.as_ref().is_some_and(|q| q.chars().count() > 200) {
        return Err(bad_request("q is longer than 200 characters"));
    }
    let filter = ClipFilter {
        device: query.device,
        officer: query.officer,
        state,
        case_ref: query.case,
        recorded_from: time("recorded_from", query.recorded_from)?,
        recorded_to: time("recorded_to", query.recorded_to)?,
        category,
        case_id,
        within: query.bbox.as_deref().map(bounding_box).transpose()?,
        text,
        important: query.important,
        classified: query.classified,
        classification_overdue_at,
        visible: Some(caller.may_see()),
        device_registered: query.device_registered,
        kind: query
            .kind
            .as_deref()
            .map(str::parse::<RecordKind>)
            .transpose()
            .map_err(|e| bad_request(e.to_string()))?,
        document_type: query.document_type,
        finding_severity: match query.finding.as_deref() {
            None => None,
            Some(s @ ("critical" | "warning" | "info")) => Some(s.to_owned()),
            Some(other) => {
                return Err(bad_request(format!(
                    "finding {other:?}: critical, warning or info"
                )))
            }
        },
        before: query
            .cursor
            .map(|c| c.parse::<ClipId>())
            .transpose()
            .map_err(|e| bad_request(format!("cursor: {e}")))?,
    };
    // One more than asked tells whether there is a next page without a count query.
    let mut items = catalog
        .ports
        .catalogue
        .list_clips(&caller.bureau, &filter, limit + 1)
        .await?;
    let next_cursor = if items.len() as i64 > limit {
        items.truncate(limit as usize);
        items.last().map(|clip| clip.id)
    } else {
        None
    };
    Ok(Json(Page {
        items: items.into_iter().map(|clip| catalog.view(clip)).collect(),
        next_cursor,
    }))
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
struct NewCaseBody {
    /// 1 to 128 characters, no control characters.
    #[schema(
        min_length = 1,
        max_length = 128,
        pattern = r"^[^\u0000-\u001F\u007F-\u009F]*[^\s\u0000-\u001F\u007F-\u009F][^\u0000-\u001F\u007F-\u009F]*$"
    )]
    reference: String,
    /// 1 to 500 characters, no control characters.
    #[schema(
        min_length = 1,
        max_length = 500,
        pattern = r"^[^\u0000-\u001F\u007F-\u009F]*[^\s\u0000-\u001F\u007F-\u009F][^\u0000-\u001F\u007F-\u009F]*$"
    )]
    title: String,
    /// The kind of enforcement action (行政处罚, 行政检查, 行政强制, 复查, ...): it decides
    /// which documents the case file must hold before filing (`GET /v1/record-types`).
    case_type: Option<String>,
}

#[derive(Serialize, utoipa::ToSchema)]
struct CaseView {
    #[serde(flatten)]
    case: CaseRecord,
    #[schema(value_type = Vec<String>)]
    clips: Vec<ClipId>,
    filing_deadline: Option<Deadline>,
    /// The case file (案卷, art. 18): every record of the case the caller may see, in the
    /// order of the enforcement stages, then by time.
    file: Vec<CaseFileItem>,
    /// The documents the case's type requires that the file does not hold yet (`调查笔录/询问笔录`
    /// where either will do); filing is refused until this is empty.
    missing_documents: Vec<String>,
}

/// One record of a case file.
#[derive(Serialize, utoipa::ToSchema)]
struct CaseFileItem {
    #[schema(value_type = String, format = Uuid)]
    id: ClipId,
    kind: Option<RecordKind>,
    document_type: Option<String>,
    stage: Stage,
    /// The stage's name as the rules write it (启动, 调查取证, ...).
    stage_label: &'static str,
    recorded_at: chrono::DateTime<chrono::Utc>,
    name: String,
    #[schema(value_type = String)]
    sha256: custodian_core::Sha256Digest,
}

/// A case as a list shows it: without its clips.
#[derive(Serialize, utoipa::ToSchema)]
struct CaseSummary {
    #[serde(flatten)]
    case: CaseRecord,
    filing_deadline: Option<Deadline>,
    /// For a closed case, the documents its type requires that its file lacks (filing is
    /// refused until none are); empty otherwise.
    missing_documents: Vec<String>,
}

impl Catalog {
    fn filing_deadline(&self, case: &CaseRecord) -> Option<Deadline> {
        case.filing_due_at.map(|due| {
            Deadline::evaluate(
                DeadlineKind::CaseFiling,
                due,
                case.filed_at,
                self.ports.clock.now(),
                case.calendar_complete,
            )
        })
    }

    /// The case as `caller` may see it: clips too confidential for the caller's role are
    /// left out, as if they were not linked (art. 24).
    async fn case_view(&self, caller: &Caller, case: CaseRecord) -> Result<CaseView, ApiError> {
        let visible = caller.may_see();
        let mut clips = Vec::new();
        let mut file = Vec::new();
        // Every record's document type counts for what the file lacks, seen or not.
        let mut present = Vec::new();
        for id in self.ports.catalogue.case_clip_ids(case.id).await? {
            let clip = self.ports.catalogue.clip(&caller.bureau, id).await?;
            present.extend(clip.as_ref().and_then(|c| c.document_type.clone()));
            let Some(clip) = clip.filter(|clip| visible.contains(&clip.confidentiality)) else {
                continue;
            };
            clips.push(id);
            let stage = self.rules.records.stage_of(
                clip.kind.unwrap_or(RecordKind::Video),
                clip.document_type.as_deref(),
            );
            file.push(CaseFileItem {
                id,
                kind: clip.kind,
                document_type: clip.document_type,
                stage,
                stage_label: stage.label_zh(),
                recorded_at: clip.recorded_at,
                name: clip.canonical_name.unwrap_or(clip.original_name),
                sha256: clip.sha256,
            });
        }
        file.sort_by_key(|item| (item.stage, item.recorded_at));
        let missing_documents = self.lacking(&case, &present);
        Ok(CaseView {
            filing_deadline: self.filing_deadline(&case),
            case,
            clips,
            file,
            missing_documents,
        })
    }

    /// What the case's type requires that its records do not hold, whoever may see them
    /// (filing is about the whole file, not the caller's view of it).
    async fn missing_documents(&self, case: &CaseRecord) -> Result<Vec<String>, ApiError> {
        let Some(case_type) = &case.case_type else {
            return Ok(Vec::new());
        };
        if self.rules.records.requirements(case_type).is_empty() {
            return Ok(Vec::new());
        }
        let mut present = Vec::new();
        for id in self.ports.catalogue.case_clip_ids(case.id).await? {
            if let Some(clip) = self.ports.catalogue.clip(&case.bureau, id).await? {
                present.extend(clip.document_type);
            }
        }
        Ok(self.lacking(case, &present))
    }

    /// What the case's type requires that these document types do not meet.
    fn lacking(&self, case: &CaseRecord, present: &[String]) -> Vec<String> {
        let Some(case_type) = &case.case_type else {
            return Vec::new();
        };
        let present: Vec<&str> = present.iter().map(String::as_str).collect();
        self.rules
            .records
            .missing(case_type, &present)
            .into_iter()
            .map(|r| r.describe())
            .collect()
    }
}

fn case_text(field: &str, value: &str, max: usize) -> Result<String, ApiError> {
    let value = value.trim();
    if value.is_empty() || value.chars().count() > max || value.chars().any(char::is_control) {
        return Err(bad_request(format!(
            "{field} must be 1 to {max} characters without control characters"
        )));
    }
    Ok(value.to_owned())
}

#[utoipa::path(
    post,
    path = "/v1/cases",
    tag = "catalogue",
    request_body = NewCaseBody,
    responses(
        (status = 201, description = "the case, open", body = CaseView),
        (status = 403, description = "a role that may not manage cases", body = custodian_platform::http::ErrorBody),
        (status = 409, description = "the bureau already has a case with this reference", body = custodian_platform::http::ErrorBody),
    ),
    security(("bearer" = []))
)]
async fn create_case(
    State(catalog): State<Arc<Catalog>>,
    Extension(caller): Extension<Caller>,
    Json(body): Json<NewCaseBody>,
) -> Result<(StatusCode, Json<CaseView>), ApiError> {
    caller.require(Action::ManageCases)?;
    let case = CaseRecord {
        id: Uuid::now_v7(),
        bureau: caller.bureau.clone(),
        reference: case_text("reference", &body.reference, 128)?,
        title: case_text("title", &body.title, 500)?,
        state: CaseState::Open,
        opened_at: catalog.ports.clock.now(),
        closed_at: None,
        closed_on: None,
        filing_due_at: None,
        filed_at: None,
        calendar_complete: true,
        case_type: body
            .case_type
            .as_deref()
            .map(|t| catalog.rules.records.case_type(t))
            .transpose()
            .map_err(|e| bad_request(e.to_string()))?,
    };
    match catalog.ports.catalogue.create_case(&case).await {
        Ok(()) => {}
        Err(custodian_platform::catalogue::CatalogueError::Conflict { .. }) => {
            return Err(conflict(format!(
                "bureau {} already has a case {:?}",
                caller.bureau, case.reference
            )))
        }
        Err(e) => return Err(e.into()),
    }
    Ok((
        StatusCode::CREATED,
        Json(catalog.case_view(&caller, case).await?),
    ))
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
struct CaseListQuery {
    /// `open`, `closed` or `filed`.
    state: Option<String>,
    /// `filing`: only closed cases whose filing deadline (art. 18) has passed.
    overdue: Option<String>,
    /// At most this many (1 to 500; default 50).
    #[param(minimum = 1, maximum = 500)]
    limit: Option<i64>,
    #[param(format = Uuid)]
    cursor: Option<String>,
}

#[derive(Serialize, utoipa::ToSchema)]
struct CasePage {
    items: Vec<CaseSummary>,
    /// Pass as `cursor` to get the next page; absent on the last page.
    next_cursor: Option<Uuid>,
}

#[utoipa::path(
    get,
    path = "/v1/cases",
    tag = "catalogue",
    params(CaseListQuery),
    responses(
        (status = 200, description = "a page of the bureau's cases, newest first", body = CasePage),
        (status = 400, description = "a filter that does not parse", body = custodian_platform::http::ErrorBody),
    ),
    security(("bearer" = []))
)]
async fn list_cases(
    State(catalog): State<Arc<Catalog>>,
    Extension(caller): Extension<Caller>,
    Query(query): Query<CaseListQuery>,
) -> Result<Json<CasePage>, ApiError> {
    let limit = query.limit.unwrap_or(50);
    if !(1..=MAX_PAGE).contains(&limit) {
        return Err(bad_request(format!(
            "limit {limit} must be 1 to {MAX_PAGE}"
        )));
    }
    let filter = CaseFilter {
        state: query
            .state
            .map(|s| s.parse::<CaseState>())
            .transpose()
            .map_err(|e| bad_request(format!("{e}; known states: open, closed, filed")))?,
        filing_overdue_at: match query.overdue.as_deref() {
            None => None,
            Some("filing") => Some(catalog.ports.clock.now()),
            Some(other) => {
                return Err(bad_request(format!(
                    "overdue {other:?}: only `filing` can be searched"
                )))
            }
        },
        before: query.cursor.as_deref().map(case_id).transpose()?,
    };
    // One more than asked tells whether there is a next page without a count query.
    let mut cases = catalog
        .ports
        .catalogue
        .list_cases(&caller.bureau, &filter, limit + 1)
        .await?;
    let next_cursor = if cases.len() as i64 > limit {
        cases.truncate(limit as usize);
        cases.last().map(|case| case.id)
    } else {
        None
    };
    let mut items = Vec::with_capacity(cases.len());
    for case in cases {
        // Only a closed case is about to be filed; an open one is still being put together.
        let missing_documents = if case.state == CaseState::Closed {
            catalog.missing_documents(&case).await?
        } else {
            Vec::new()
        };
        items.push(CaseSummary {
            filing_deadline: catalog.filing_deadline(&case),
            missing_documents,
            case,
        });
    }
    Ok(Json(CasePage { items, next_cursor }))
}

#[utoipa::path(
    get,
    path = "/v1/cases/{id}",
    tag = "catalogue",
    params(("id" = uuid::Uuid, Path, description = "case id")),
    responses(
        (status = 200, description = "the case, its clips and filing deadline", body = CaseView),
        (status = 404, description = "no such case in the caller's bureau", body = custodian_platform::http::ErrorBody),
    ),
    security(("bearer" = []))
)]
async fn case(
    State(catalog): State<Arc<Catalog>>,
    Extension(caller): Extension<Caller>,
    Path(id): Path<String>,
) -> Result<Json<CaseView>, ApiError> {
    let case = catalog.case_of(&caller, case_id(&id)?).await?;
    Ok(Json(catalog.case_view(&caller, case).await?))
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
struct LinkBody {
    #[schema(value_type = Vec<uuid::Uuid>, min_items = 1, max_items = 1000)]
    clip_ids: Vec<String>,
}

fn case_refused(e: CaseError) -> ApiError {
    ApiError::new(StatusCode::CONFLICT, "case-state", e.to_string())
}

#[utoipa::path(
    post,
    path = "/v1/cases/{id}/clips",
    tag = "catalogue",
    params(("id" = uuid::Uuid, Path, description = "case id")),
    request_body = LinkBody,
    responses(
        (status = 200, description = "the case with its clips", body = CaseView),
        (status = 404, description = "no such case or clip in the caller's bureau", body = custodian_platform::http::ErrorBody),
        (status = 409, description = "the case is filed", body = custodian_platform::http::ErrorBody),
    ),
    security(("bearer" = []))
)]
async fn link_clips(
    State(catalog): State<Arc<Catalog>>,
    Extension(caller): Extension<Caller>,
    Path(id): Path<String>,
    Json(body): Json<LinkBody>,
) -> Result<Json<CaseView>, ApiError> {
    caller.require(Action::ManageCases)?;
    let case = catalog.case_of(&caller, case_id(&id)?).await?;
    case.state.may_link().map_err(case_refused)?;
    if body.clip_ids.is_empty() || body.clip_ids.len() > 1000 {
        return Err(bad_request("clip_ids must list 1 to 1000 clips"));
    }
    let mut clips = Vec::new();
    for text in &body.clip_ids {
        // Every clip must be this bureau's: another bureau's clip is reported as missing.
        clips.push(catalog.clip_of(&caller, clip_id(text)?).await?.id);
    }
    catalog
        .ports
        .catalogue
        .link_clips(case.id, &clips, &caller.name(), catalog.ports.clock.now())
        .await?;
    Ok(Json(catalog.case_view(&caller, case).await?))
}

#[derive(Debug, Default, Deserialize, utoipa::ToSchema)]
struct CloseBody {
    /// The closure date (结案之日), a date in China Standard Time such as `2026-09-10`: not in
    /// the future, not before the case was opened, at most 12 months back. Default: today.
    #[schema(value_type = Option<String>, format = Date)]
    closed_on: Option<String>,
}

#[utoipa::path(
    post,
    path = "/v1/cases/{id}/close",
    tag = "catalogue",
    params(("id" = uuid::Uuid, Path, description = "case id")),
    request_body(content = Option<CloseBody>, description = "optional; without a body the case closes today"),
    responses(
        (status = 200, description = "closed; the 30-working-day filing clock runs from the closure date", body = CaseView),
        (status = 400, description = "closed_on is not a date", body = custodian_platform::http::ErrorBody),
        (status = 403, description = "a role that may not manage cases", body = custodian_platform::http::ErrorBody),
        (status = 404, description = "no such case", body = custodian_platform::http::ErrorBody),
        (status = 409, description = "the case is not open", body = custodian_platform::http::ErrorBody),
        (status = 422, description = "the closure date is in the future, before the case was opened, or more than 12 months back", body = custodian_platform::http::ErrorBody),
    ),
    security(("bearer" = []))
)]
async fn close_case(
    State(catalog): State<Arc<Catalog>>,
    Extension(caller): Extension<Caller>,
    Path(id): Path<String>,
    // No body, `null` and `{}` all close the case today.
    body: Option<Json<Option<CloseBody>>>,
) -> Result<Json<CaseView>, ApiError> {
    caller.require(Action::ManageCases)?;
    let case = catalog.case_of(&caller, case_id(&id)?).await?;
    let next = case.state.close().map_err(case_refused)?;
    let now = catalog.ports.clock.now();
    let today = local_date(now);
    let entered = match body
        .and_then(|Json(body)| body)
        .and_then(|body| body.closed_on)
    {
        None => today,
        Some(text) => NaiveDate::parse_from_str(text.trim(), "%Y-%m-%d").map_err(|_| {
            bad_request(format!(
                "closed_on {text:?} is not a date such as 2026-09-10"
            ))
        })?,
    };
    let closed_on =
        custodian_core::cases::check_closure_date(entered, local_date(case.opened_at), today)
            .map_err(|e| {
                ApiError::new(
                    StatusCode::UNPROCESSABLE_ENTITY,
                    "invalid-closure-date",
                    e.to_string(),
                )
            })?;
    let (filing_due, calendar_complete) = catalog.rules.deadlines.case_filing_due(closed_on);
    let closure = CaseClosure {
        closed_on,
        filing_due,
        calendar_complete,
    };
    if !catalog
        .ports
        .catalogue
        .set_case_state(case.id, case.state, next, now, Some(&closure))
        .await?
    {
        return Err(conflict(
            "the case changed meanwhile; read it and try again",
        ));
    }
    // The request's own audit entry does not hold its body: the date entered, which moves
    // the filing deadline, is an entry of its own.
    let entry = custodian_core::audit::NewAuditEntry {
        at: now,
        actor: caller.name(),
        action: "case.closed".into(),
        target: Some(case.id.to_string()),
        detail: format!(
            "closure date {closed_on} entered on {today}; filing due {}",
            filing_due.to_rfc3339()
        ),
    };
    if let Err(e) = catalog
        .ports
        .catalogue
        .append_audit(caller.bureau.as_str(), entry)
        .await
    {
        tracing::error!(case_id = %case.id, error = %e, "case closed but its closure date not recorded in the audit trail");
    }
    Ok(Json(
        catalog
            .case_view(&caller, catalog.case_of(&caller, case.id).await?)
            .await?,
    ))
}

#[utoipa::path(
    post,
    path = "/v1/cases/{id}/file",
    tag = "catalogue",
    params(("id" = uuid::Uuid, Path, description = "case id")),
    responses(
        (status = 200, description = "filed into the case archive", body = CaseView),
        (status = 404, description = "no such case", body = custodian_platform::http::ErrorBody),
        (status = 409, description = "not closed, or clips not classified", body = custodian_platform::http::ErrorBody),
    ),
    security(("bearer" = []))
)]
async fn file_case(
    State(catalog): State<Arc<Catalog>>,
    Extension(caller): Extension<Caller>,
    Path(id): Path<String>,
) -> Result<Json<CaseView>, ApiError> {
    caller.require(Action::ManageCases)?;
    let case = catalog.case_of(&caller, case_id(&id)?).await?;
    let unclassified = catalog
        .ports
        .catalogue
        .unclassified_in_case(case.id)
        .await?;
    let next = case.state.file(unclassified).map_err(case_refused)?;
    let missing = catalog.missing_documents(&case).await?;
    if !missing.is_empty() {
        return Err(ApiError::new(
            StatusCode::CONFLICT,
            "case-file-incomplete",
            format!(
                "the case file of this {} case lacks: {} (art. 18)",
                case.case_type.as_deref().unwrap_or_default(),
                missing.join("; ")
            ),
        ));
    }
    if !catalog
        .ports
        .catalogue
        .set_case_state(case.id, case.state, next, catalog.ports.clock.now(), None)
        .await?
    {
        return Err(conflict(
            "the case changed meanwhile; read it and try again",
        ));
    }
    Ok(Json(
        catalog
            .case_view(&caller, catalog.case_of(&caller, case.id).await?)
            .await?,
    ))
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
struct DeviceBody {
    /// 1 to 100 characters, no control characters.
    #[schema(
        min_length = 1,
        max_length = 100,
        pattern = r"^[^\u0000-\u001F\u007F-\u009F]*[^\s\u0000-\u001F\u007F-\u009F][^\u0000-\u001F\u007F-\u009F]*$"
    )]
    team: String,
    /// The officer's code: letters, digits, '-' and '.'.
    #[schema(pattern = r"^[A-Za-z0-9-][A-Za-z0-9.-]{0,63}$")]
    officer: Option<String>,
}

#[utoipa::path(
    put,
    path = "/v1/devices/{device}",
    tag = "catalogue",
    params(("device" = String, Path, description = "device code")),
    request_body = DeviceBody,
    responses(
        (status = 200, description = "registered", body = Device),
        (status = 400, description = "bad device or officer code", body = custodian_platform::http::ErrorBody),
        (status = 403, description = "a role that may not manage devices", body = custodian_platform::http::ErrorBody),
    ),
    security(("bearer" = []))
)]
async fn register_device(
    State(catalog): State<Arc<Catalog>>,
    Extension(caller): Extension<Caller>,
    Path(device): Path<String>,
    Json(body): Json<DeviceBody>,
) -> Result<Json<Device>, ApiError> {
    caller.require(Action::ManageDevices)?;
    let device = Device {
        device: LocalId::parse("device id", &device).map_err(|e| bad_request(e.to_string()))?,
        team: case_text("team", &body.team, 100)?,
        officer: body
            .officer
            .as_deref()
            .map(|o| LocalId::parse("officer id", o))
            .transpose()
            .map_err(|e| bad_request(e.to_string()))?,
        registered_at: catalog.ports.clock.now(),
    };
    catalog
        .ports
        .catalogue
        .upsert_device(&caller.bureau, &device)
        .await?;
    Ok(Json(device))
}

#[derive(Serialize, utoipa::ToSchema)]
struct DeviceReport {
    devices: Vec<Device>,
    /// Art. 15: teams with fewer than two cameras, registered teams without any among them.
    teams_short_of_cameras: Vec<TeamShortfall>,
}

#[utoipa::path(
    get,
    path = "/v1/devices",
    tag = "catalogue",
    responses(
        (status = 200, description = "the registry and teams short of cameras", body = DeviceReport),
    ),
    security(("bearer" = []))
)]
async fn devices(
    State(catalog): State<Arc<Catalog>>,
    Extension(caller): Extension<Caller>,
) -> Result<Json<DeviceReport>, ApiError> {
    let devices = catalog.ports.catalogue.devices(&caller.bureau).await?;
    let teams = catalog.ports.catalogue.teams(&caller.bureau).await?;
    let teams_short_of_cameras = custodian_core::cases::teams_short_of_cameras(
        teams.iter().map(|t| t.name.as_str()),
        devices.iter().map(|d| (d.team.as_str(), d.device.as_str())),
    );
    Ok(Json(DeviceReport {
        devices,
        teams_short_of_cameras,
    }))
}

#[utoipa::path(
    put,
    path = "/v1/teams/{team}",
    tag = "catalogue",
    params(("team" = String, Path, description = "the team's name, e.g. 一中队: 1 to 100 characters, no control characters",
        min_length = 1, max_length = 100,
        pattern = r"^[^\u0000-\u001F\u007F-\u009F]*[^\s\u0000-\u001F\u007F-\u009F][^\u0000-\u001F\u007F-\u009F]*$")),
    responses(
        (status = 200, description = "registered (registering it again changes nothing)", body = Team),
        (status = 400, description = "not a team name", body = custodian_platform::http::ErrorBody),
        (status = 403, description = "a role that may not manage devices", body = custodian_platform::http::ErrorBody),
    ),
    security(("bearer" = []))
)]
async fn register_team(
    State(catalog): State<Arc<Catalog>>,
    Extension(caller): Extension<Caller>,
    Path(team): Path<String>,
) -> Result<Json<Team>, ApiError> {
    caller.require(Action::ManageDevices)?;
    let name = custodian_core::cases::team_name(&team).map_err(|e| bad_request(e.to_string()))?;
    let team = catalog
        .ports
        .catalogue
        .register_team(&caller.bureau, &name, catalog.ports.clock.now())
        .await?;
    Ok(Json(team))
}

#[utoipa::path(
    get,
    path = "/v1/teams",
    tag = "catalogue",
    responses(
        (status = 200, description = "the bureau's registered teams, by name", body = Vec<Team>),
    ),
    security(("bearer" = []))
)]
async fn teams(
    State(catalog): State<Arc<Catalog>>,
    Extension(caller): Extension<Caller>,
) -> Result<Json<Vec<Team>>, ApiError> {
    Ok(Json(catalog.ports.catalogue.teams(&caller.bureau).await?))
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
struct ConfidentialityBody {
    level: custodian_core::roles::Confidentiality,
}

#[utoipa::path(
    put,
    path = "/v1/clips/{id}/confidentiality",
    tag = "catalogue",
    params(("id" = uuid::Uuid, Path, description = "clip id")),
    request_body = ConfidentialityBody,
    responses(
        (status = 200, description = "set", body = ClipDetail),
        (status = 403, description = "only leaders and admins set confidentiality, and only to a level their role may see (`--secret-roles`)", body = custodian_platform::http::ErrorBody),
        (status = 404, description = "no such clip the caller may see", body = custodian_platform::http::ErrorBody),
    ),
    security(("bearer" = []))
)]
async fn set_confidentiality(
    State(catalog): State<Arc<Catalog>>,
    Extension(caller): Extension<Caller>,
    Path(id): Path<String>,
    Json(body): Json<ConfidentialityBody>,
) -> Result<Json<ClipDetail>, ApiError> {
    caller.require(Action::SetConfidentiality)?;
    let clip = catalog.clip_of(&caller, clip_id(&id)?).await?;
    // A role not named for secret footage (--secret-roles) cannot hide a clip from itself.
    if !caller.may_see().contains(&body.level) {
        return Err(ApiError::new(
            StatusCode::FORBIDDEN,
            "forbidden",
            format!(
                "a {} may not see {} clips, so may not make one so",
                caller.role,
                body.level.as_str()
            ),
        ));
    }
    catalog
        .ports
        .catalogue
        .set_confidentiality(&caller.bureau, clip.id, body.level)
        .await?;
    tracing::info!(clip_id = %clip.id, level = body.level.as_str(), by = %caller.name(), "confidentiality set");
    one(State(catalog), Extension(caller), Path(clip.id.to_string())).await
}
