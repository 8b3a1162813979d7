//! The records the catalogue keeps, as the rest of the code sees them.

use chrono::{DateTime, Utc};
use custodian_core::upload::UploadMetadata;
use custodian_core::{BureauId, ClipId, ClipState, LocalId, Sha256Digest};
use serde::Serialize;
use uuid::Uuid;

use super::CatalogueError;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PendingUpload {
    pub clip: ClipId,
    pub bureau: BureauId,
    pub object_key: String,
    pub started_at: DateTime<Utc>,
}

#[derive(Debug, Clone)]
pub struct NewClip {
    pub id: ClipId,
    pub meta: UploadMetadata,
    pub object_key: String,
    pub size_bytes: u64,
    pub sha256: Sha256Digest,
    pub received_at: DateTime<Utc>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ClipRecord {
    pub id: ClipId,
    pub bureau: BureauId,
    pub device: LocalId,
    pub officer: LocalId,
    pub recorded_at: DateTime<Utc>,
    pub original_name: String,
    pub case_ref: Option<String>,
    #[serde(skip)]
    pub object_key: String,
    pub size_bytes: u64,
    pub sha256: Sha256Digest,
    pub state: ClipState,
    pub state_changed_at: DateTime<Utc>,
    pub received_at: DateTime<Utc>,
    pub failure_reason: Option<String>,
    #[serde(skip)]
    pub publish_round: u32,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Transition {
    pub from: Option<ClipState>,
    pub to: ClipState,
    pub at: DateTime<Utc>,
    pub reason: Option<String>,
}

/// What a list of clips may be narrowed by. `before` is the cursor: the id of the last clip
/// of the previous page.
#[derive(Debug, Clone, Default)]
pub struct ClipFilter {
    pub device: Option<String>,
    pub officer: Option<String>,
    pub state: Option<ClipState>,
    pub case_ref: Option<String>,
    pub recorded_from: Option<DateTime<Utc>>,
    pub recorded_to: Option<DateTime<Utc>>,
    pub before: Option<ClipId>,
}

#[derive(sqlx::FromRow)]
pub(super) struct ClipRow {
    id: Uuid,
    bureau_id: String,
    device_id: String,
    officer_id: String,
    recorded_at: DateTime<Utc>,
    original_name: String,
    case_ref: Option<String>,
    object_key: String,
    size_bytes: i64,
    sha256: String,
    state: String,
    state_changed_at: DateTime<Utc>,
    received_at: DateTime<Utc>,
    failure_reason: Option<String>,
    publish_round: i32,
}

fn corrupt(id: Uuid, what: impl std::fmt::Display) -> CatalogueError {
    CatalogueError::Corrupt { detail: format!("clip {id}: {what}") }
}

impl TryFrom<ClipRow> for ClipRecord {
    type Error = CatalogueError;
    fn try_from(row: ClipRow) -> Result<Self, Self::Error> {
        let id = row.id;
        Ok(ClipRecord {
            id: ClipId::from_uuid(id),
            bureau: BureauId::parse(&row.bureau_id).map_err(|e| corrupt(id, e))?,
            device: LocalId::parse("device id", &row.device_id).map_err(|e| corrupt(id, e))?,
            officer: LocalId::parse("officer id", &row.officer_id).map_err(|e| corrupt(id, e))?,
            recorded_at: row.recorded_at,
            original_name: row.original_name,
            case_ref: row.case_ref,
            object_key: row.object_key,
            size_bytes: u64::try_from(row.size_bytes).map_err(|e| corrupt(id, e))?,
            sha256: row.sha256.parse().map_err(|e| corrupt(id, e))?,
            state: row.state.parse().map_err(|e| corrupt(id, e))?,
            state_changed_at: row.state_changed_at,
            received_at: row.received_at,
            failure_reason: row.failure_reason,
            publish_round: u32::try_from(row.publish_round).map_err(|e| corrupt(id, e))?,
        })
    }
}

#[derive(sqlx::FromRow)]
pub(super) struct TransitionRow {
    pub from_state: Option<String>,
    pub to_state: String,
    pub at: DateTime<Utc>,
    pub reason: Option<String>,
}

#[derive(sqlx::FromRow)]
pub(super) struct PendingRow {
    pub clip_id: Uuid,
    pub bureau_id: String,
    pub object_key: String,
    pub started_at: DateTime<Utc>,
}

impl TryFrom<PendingRow> for PendingUpload {
    type Error = CatalogueError;
    fn try_from(row: PendingRow) -> Result<Self, Self::Error> {
        Ok(PendingUpload {
            clip: ClipId::from_uuid(row.clip_id),
            bureau: BureauId::parse(&row.bureau_id).map_err(|e| corrupt(row.clip_id, e))?,
            object_key: row.object_key,
            started_at: row.started_at,
        })
    }
}
