//! Enforcement tasks (art. 6, 7, 8, 25) and their rows.

use chrono::{DateTime, Utc};
use custodian_core::supervision::{MomentMark, NotFilmedReason, TaskPlan};
use custodian_core::{BureauId, ClipId};
use serde::Serialize;
use uuid::Uuid;

use crate::catalogue::CatalogueError;

pub(in crate::catalogue) const TASK_COLUMNS: &str = "id, bureau_id, external_id, enterprise, kind, starts_at, ends_at, officers, place, case_ref, not_filmed, not_filmed_note, created_at, created_by";

/// A task of a bureau's plan, as kept.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct TaskRecord {
    pub id: Uuid,
    #[schema(value_type = String)]
    pub bureau: BureauId,
    #[serde(flatten)]
    pub plan: TaskPlan,
    /// Why, under art. 8, the task was not filmed at all.
    pub not_filmed: Option<NotFilmedReason>,
    pub not_filmed_note: Option<String>,
    pub created_at: DateTime<Utc>,
    pub created_by: String,
}

impl TaskRecord {
    /// New tasks of `bureau` for these plans, made at `at` by `by`, not yet stored.
    pub fn new_for(
        bureau: &BureauId,
        plans: Vec<TaskPlan>,
        by: &str,
        at: DateTime<Utc>,
    ) -> Vec<Self> {
        plans
            .into_iter()
            .map(|plan| Self {
                id: Uuid::now_v7(),
                bureau: bureau.clone(),
                plan,
                not_filmed: None,
                not_filmed_note: None,
                created_at: at,
                created_by: by.to_owned(),
            })
            .collect()
    }
}

/// A recording linked to a task by hand.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct TaskLink {
    #[schema(value_type = String)]
    pub clip: ClipId,
    pub linked_at: DateTime<Utc>,
    pub linked_by: String,
}

/// What a list of tasks may be narrowed by: tasks whose window ends in `[ends_from,
/// ends_to)`, of one officer; `after` is the cursor (the last task of the previous page, by
/// start then id).
#[derive(Debug, Clone, Default)]
pub struct TaskFilter {
    pub ends_from: Option<DateTime<Utc>>,
    pub ends_to: Option<DateTime<Utc>>,
    pub officer: Option<String>,
    pub after: Option<(DateTime<Utc>, Uuid)>,
}

#[derive(sqlx::FromRow)]
pub(in crate::catalogue) struct TaskRow {
    id: Uuid,
    bureau_id: String,
    external_id: String,
    enterprise: String,
    kind: String,
    starts_at: DateTime<Utc>,
    ends_at: DateTime<Utc>,
    officers: String,
    place: Option<String>,
    case_ref: Option<String>,
    not_filmed: Option<String>,
    not_filmed_note: Option<String>,
    created_at: DateTime<Utc>,
    created_by: String,
}

fn corrupt(id: Uuid, what: impl std::fmt::Display) -> CatalogueError {
    CatalogueError::Corrupt {
        detail: format!("task {id}: {what}"),
    }
}

/// An enum kept as its JSON string (`"explosive_zone"`), read back.
pub(in crate::catalogue) fn reason_text(reason: NotFilmedReason) -> String {
    serde_json::to_value(reason)
        .ok()
        .and_then(|v| v.as_str().map(str::to_owned))
        .unwrap_or_default()
}

fn reason_of(id: Uuid, text: Option<String>) -> Result<Option<NotFilmedReason>, CatalogueError> {
    text.map(|t| serde_json::from_value(serde_json::Value::String(t)).map_err(|e| corrupt(id, e)))
        .transpose()
}

impl TryFrom<TaskRow> for TaskRecord {
    type Error = CatalogueError;
    fn try_from(row: TaskRow) -> Result<Self, Self::Error> {
        let id = row.id;
        Ok(Self {
            id,
            bureau: BureauId::parse(&row.bureau_id).map_err(|e| corrupt(id, e))?,
            plan: TaskPlan {
                external_id: row.external_id,
                enterprise: row.enterprise,
                kind: row.kind,
                starts_at: row.starts_at,
                ends_at: row.ends_at,
                officers: serde_json::from_str(&row.officers).map_err(|e| corrupt(id, e))?,
                place: row.place,
                case_ref: row.case_ref,
            },
            not_filmed: reason_of(id, row.not_filmed)?,
            not_filmed_note: row.not_filmed_note,
            created_at: row.created_at,
            created_by: row.created_by,
        })
    }
}

#[derive(sqlx::FromRow)]
pub(in crate::catalogue) struct MomentRow {
    task_id: Uuid,
    moment: i64,
    clips: String,
    not_filmed: Option<String>,
    note: Option<String>,
}

impl TryFrom<MomentRow> for MomentMark {
    type Error = CatalogueError;
    fn try_from(row: MomentRow) -> Result<Self, Self::Error> {
        let id = row.task_id;
        Ok(Self {
            moment: u8::try_from(row.moment).map_err(|e| corrupt(id, e))?,
            clips: serde_json::from_str(&row.clips).map_err(|e| corrupt(id, e))?,
            not_filmed: reason_of(id, row.not_filmed)?,
            note: row.note,
        })
    }
}
