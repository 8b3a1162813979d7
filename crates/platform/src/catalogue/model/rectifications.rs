//! Rectification orders (art. 25) and their rows.

use chrono::{DateTime, Utc};
use custodian_core::rectification::{RectificationState, RectificationStep};
use custodian_core::BureauId;
use serde::Serialize;
use uuid::Uuid;

use crate::catalogue::CatalogueError;

pub(in crate::catalogue) const RECTIFICATION_COLUMNS: &str = "id, bureau_id, finding_kind, article, subject, reference, detail, responsible, state, due_at, calendar_complete, ordered_by, ordered_at, answered_late, closed_at";

/// An order to mend a finding by a deadline (责令限期整改).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct RectificationRecord {
    pub id: Uuid,
    #[schema(value_type = String)]
    pub bureau: BureauId,
    /// The finding's kind, as supervision names it (`no_recording`, `late_upload`, ...).
    pub finding_kind: String,
    /// The article the finding is under, e.g. `25(1)`, `16`.
    pub article: String,
    /// The officer or team the finding concerns.
    pub subject: Option<String>,
    /// The task, case or clip the finding names.
    pub reference: Option<String>,
    /// What is to be mended.
    pub detail: String,
    /// Who answers: an officer's number, or a person's username.
    pub responsible: String,
    pub state: RectificationState,
    /// The limit: the end of the last working day given (China Standard Time).
    pub due_at: DateTime<Utc>,
    /// False when the working-day calendar did not know every day counted.
    pub calendar_complete: bool,
    pub ordered_by: String,
    pub ordered_at: DateTime<Utc>,
    /// Whether an answer ever came after its limit.
    pub answered_late: bool,
    /// When the leader accepted it as mended.
    pub closed_at: Option<DateTime<Utc>>,
}

/// One step of an order's exchange.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct RectificationStepRecord {
    pub step: RectificationStep,
    pub at: DateTime<Utc>,
    pub by: String,
    pub text: String,
    /// The limit an order or a reopening set.
    pub due_at: Option<DateTime<Utc>>,
}

#[derive(sqlx::FromRow)]
pub(in crate::catalogue) struct RectificationRow {
    id: Uuid,
    bureau_id: String,
    finding_kind: String,
    article: String,
    subject: Option<String>,
    reference: Option<String>,
    detail: String,
    responsible: String,
    state: String,
    due_at: DateTime<Utc>,
    calendar_complete: bool,
    ordered_by: String,
    ordered_at: DateTime<Utc>,
    answered_late: bool,
    closed_at: Option<DateTime<Utc>>,
}

impl TryFrom<RectificationRow> for RectificationRecord {
    type Error = CatalogueError;
    fn try_from(row: RectificationRow) -> Result<Self, Self::Error> {
        let bad = |e: &dyn std::fmt::Display| CatalogueError::Corrupt {
            detail: format!("rectification {}: {e}", row.id),
        };
        Ok(Self {
            id: row.id,
            bureau: BureauId::parse(&row.bureau_id).map_err(|e| bad(&e))?,
            state: row.state.parse().map_err(|e| bad(&e))?,
            finding_kind: row.finding_kind,
            article: row.article,
            subject: row.subject,
            reference: row.reference,
            detail: row.detail,
            responsible: row.responsible,
            due_at: row.due_at,
            calendar_complete: row.calendar_complete,
            ordered_by: row.ordered_by,
            ordered_at: row.ordered_at,
            answered_late: row.answered_late,
            closed_at: row.closed_at,
        })
    }
}

#[derive(sqlx::FromRow)]
pub(in crate::catalogue) struct RectificationStepRow {
    rectification_id: Uuid,
    step: String,
    at: DateTime<Utc>,
    by_whom: String,
    text: String,
    due_at: Option<DateTime<Utc>>,
}

impl TryFrom<RectificationStepRow> for RectificationStepRecord {
    type Error = CatalogueError;
    fn try_from(row: RectificationStepRow) -> Result<Self, Self::Error> {
        Ok(Self {
            step: row.step.parse().map_err(
                |e: custodian_core::rectification::RectificationError| CatalogueError::Corrupt {
                    detail: format!("rectification {}: {e}", row.rectification_id),
                },
            )?,
            at: row.at,
            by: row.by_whom,
            text: row.text,
            due_at: row.due_at,
        })
    }
}
