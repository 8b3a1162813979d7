//! Copy requests and their rows.

use chrono::{DateTime, Utc};
use custodian_core::{BureauId, ClipId};
use serde::Serialize;
use uuid::Uuid;

use crate::catalogue::CatalogueError;

pub(in crate::catalogue) const COPY_COLUMNS: &str =
    "id, bureau_id, clip_id, party, purpose, requested_by, requested_by_person, requested_at, state, decided_by, \
     decided_at, reason, expires_at, downloads, copy_sha256, copy_size_bytes, copy_made_at, copy_failure, copy_track_sha256, \
     redaction_plan, redaction_sha256, redaction_by, redaction_at";

/// A request for a copy of a clip for a party (art. 23).
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct CopyRequest {
    pub id: Uuid,
    #[schema(value_type = String)]
    pub bureau: BureauId,
    #[schema(value_type = String, format = Uuid)]
    pub clip: ClipId,
    /// Who receives the copy (a party, a lawyer, a court).
    pub party: String,
    pub purpose: String,
    pub requested_by: String,
    /// The requester as a person (`Caller::person`), whom the two-person rule compares; empty
    /// on requests made before it was kept.
    #[serde(skip)]
    pub requested_by_person: String,
    pub requested_at: DateTime<Utc>,
    pub state: custodian_core::copies::CopyState,
    pub decided_by: Option<String>,
    pub decided_at: Option<DateTime<Utc>>,
    pub reason: Option<String>,
    pub expires_at: Option<DateTime<Utc>>,
    pub downloads: i64,
    /// The watermarked copy's SHA-256 (hex), once it is made (approvals only).
    pub copy_sha256: Option<String>,
    pub copy_size_bytes: Option<i64>,
    /// When the watermarked copy was stored; until then the download answers 409.
    pub copy_made_at: Option<DateTime<Utc>>,
    /// Why the watermarked copy could not be made, if it could not.
    pub copy_failure: Option<String>,
    /// The SHA-256 of the GPS track version the party's copy was made with, if any.
    pub copy_track_sha256: Option<String>,
    /// What the party's copy hides (art. 24): the plan in force, set while the request is
    /// pending; absent, nothing is hidden.
    pub redaction: Option<custodian_core::redaction::RedactionPlan>,
    /// The plan's SHA-256: the copy is made with exactly this plan.
    pub redaction_sha256: Option<String>,
    pub redaction_by: Option<String>,
    pub redaction_at: Option<DateTime<Utc>>,
}

#[derive(sqlx::FromRow)]
pub(in crate::catalogue) struct CopyRow {
    id: Uuid,
    bureau_id: String,
    clip_id: Uuid,
    party: String,
    purpose: String,
    requested_by: String,
    requested_by_person: String,
    requested_at: DateTime<Utc>,
    state: String,
    decided_by: Option<String>,
    decided_at: Option<DateTime<Utc>>,
    reason: Option<String>,
    expires_at: Option<DateTime<Utc>>,
    downloads: i64,
    copy_sha256: Option<String>,
    copy_size_bytes: Option<i64>,
    copy_made_at: Option<DateTime<Utc>>,
    copy_failure: Option<String>,
    copy_track_sha256: Option<String>,
    redaction_plan: Option<String>,
    redaction_sha256: Option<String>,
    redaction_by: Option<String>,
    redaction_at: Option<DateTime<Utc>>,
}

impl TryFrom<CopyRow> for CopyRequest {
    type Error = CatalogueError;
    fn try_from(row: CopyRow) -> Result<Self, Self::Error> {
        let bad = |e: &dyn std::fmt::Display| CatalogueError::Corrupt {
            detail: format!("copy request {}: {e}", row.id),
        };
        Ok(Self {
            id: row.id,
            bureau: BureauId::parse(&row.bureau_id).map_err(|e| bad(&e))?,
            clip: ClipId::from_uuid(row.clip_id),
            party: row.party,
            purpose: row.purpose,
            requested_by: row.requested_by,
            requested_by_person: row.requested_by_person,
            requested_at: row.requested_at,
            state: row
                .state
                .parse()
                .map_err(|e: custodian_core::copies::CopyError| bad(&e))?,
            decided_by: row.decided_by,
            decided_at: row.decided_at,
            reason: row.reason,
            expires_at: row.expires_at,
            downloads: row.downloads,
            copy_sha256: row.copy_sha256,
            copy_size_bytes: row.copy_size_bytes,
            copy_made_at: row.copy_made_at,
            copy_failure: row.copy_failure,
            copy_track_sha256: row.copy_track_sha256,
            redaction: row
                .redaction_plan
                .as_deref()
                .map(serde_json::from_str)
                .transpose()
                .map_err(|e| bad(&e))?,
            redaction_sha256: row.redaction_sha256,
            redaction_by: row.redaction_by,
            redaction_at: row.redaction_at,
        })
    }
}
