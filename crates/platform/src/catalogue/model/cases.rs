//! Cases, devices and teams, and their rows.

use chrono::{DateTime, NaiveDate, Utc};
use custodian_core::cases::CaseState;
use custodian_core::{BureauId, LocalId};
use serde::Serialize;
use uuid::Uuid;

use crate::catalogue::CatalogueError;

pub(in crate::catalogue) const CASE_COLUMNS: &str =
    "id, bureau_id, reference, title, state, opened_at, closed_at, filing_due_at, filed_at, calendar_complete, closed_on, case_type";

#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct CaseRecord {
    pub id: Uuid,
    #[schema(value_type = String)]
    pub bureau: BureauId,
    pub reference: String,
    pub title: String,
    pub state: CaseState,
    pub opened_at: DateTime<Utc>,
    /// When the closure was recorded here.
    pub closed_at: Option<DateTime<Utc>>,
    /// The closure date (结案之日) as entered when closing, a local date: the filing deadline
    /// counts from it (art. 18).
    pub closed_on: Option<NaiveDate>,
    pub filing_due_at: Option<DateTime<Utc>>,
    pub filed_at: Option<DateTime<Utc>>,
    pub calendar_complete: bool,
    /// The kind of enforcement action (行政处罚, 行政检查, ...): it decides which documents
    /// the case file must hold before it is filed (art. 18). Absent on cases opened without
    /// one, which file on their clips' classification alone.
    pub case_type: Option<String>,
}

/// A case as one of its clips sees it: with its retention flag and the clip's link.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LinkedCase {
    pub case: CaseRecord,
    pub long_term: bool,
    pub linked_at: DateTime<Utc>,
    pub linked_by: String,
}

/// What closing a case records (art. 18).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CaseClosure {
    /// The closure date as entered (checked by `custodian_core::cases::check_closure_date`).
    pub closed_on: NaiveDate,
    pub filing_due: DateTime<Utc>,
    pub calendar_complete: bool,
}

/// What a list of cases may be narrowed by; `before` is the cursor (the id of the last case
/// of the previous page).
#[derive(Debug, Clone, Default)]
pub struct CaseFilter {
    pub state: Option<CaseState>,
    /// Only closed cases whose filing was due by this time (overdue, art. 18).
    pub filing_overdue_at: Option<DateTime<Utc>>,
    pub before: Option<Uuid>,
}

/// A registered enforcement team (执法队) of a bureau (art. 15).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct Team {
    pub name: String,
    pub registered_at: DateTime<Utc>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct Device {
    #[schema(value_type = String)]
    pub device: LocalId,
    pub team: String,
    #[schema(value_type = Option<String>)]
    pub officer: Option<LocalId>,
    pub registered_at: DateTime<Utc>,
}

#[derive(sqlx::FromRow)]
pub(in crate::catalogue) struct CaseRow {
    id: Uuid,
    bureau_id: String,
    reference: String,
    title: String,
    state: String,
    opened_at: DateTime<Utc>,
    closed_at: Option<DateTime<Utc>>,
    closed_on: Option<NaiveDate>,
    filing_due_at: Option<DateTime<Utc>>,
    filed_at: Option<DateTime<Utc>>,
    calendar_complete: bool,
    case_type: Option<String>,
}

impl TryFrom<CaseRow> for CaseRecord {
    type Error = CatalogueError;
    fn try_from(row: CaseRow) -> Result<Self, Self::Error> {
        let bad = |e: &dyn std::fmt::Display| CatalogueError::Corrupt {
            detail: format!("case {}: {e}", row.id),
        };
        Ok(Self {
            id: row.id,
            bureau: BureauId::parse(&row.bureau_id).map_err(|e| bad(&e))?,
            state: row
                .state
                .parse()
                .map_err(|e: custodian_core::cases::CaseError| bad(&e))?,
            reference: row.reference,
            title: row.title,
            opened_at: row.opened_at,
            closed_at: row.closed_at,
            closed_on: row.closed_on,
            filing_due_at: row.filing_due_at,
            filed_at: row.filed_at,
            calendar_complete: row.calendar_complete,
            case_type: row.case_type,
        })
    }
}

#[derive(sqlx::FromRow)]
pub(in crate::catalogue) struct DeviceRow {
    device_id: String,
    team: String,
    officer_id: Option<String>,
    registered_at: DateTime<Utc>,
}

impl TryFrom<DeviceRow> for Device {
    type Error = CatalogueError;
    fn try_from(row: DeviceRow) -> Result<Self, Self::Error> {
        let bad = |e: custodian_core::IdError| CatalogueError::Corrupt {
            detail: format!("device {}: {e}", row.device_id),
        };
        Ok(Self {
            device: LocalId::parse("device id", &row.device_id).map_err(bad)?,
            team: row.team,
            officer: row
                .officer_id
                .as_deref()
                .map(|o| LocalId::parse("officer id", o))
                .transpose()
                .map_err(bad)?,
            registered_at: row.registered_at,
        })
    }
}
