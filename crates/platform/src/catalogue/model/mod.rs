//! The records the catalogue keeps, as the rest of the code sees them.

use chrono::{DateTime, Utc};
use custodian_core::BureauId;
use serde::Serialize;
use uuid::Uuid;

use super::CatalogueError;

mod retention;
pub use retention::ClassTotals;

mod clips;
pub use clips::{
    decode_fingerprint, encode_fingerprint, BoundingBox, ClassificationEntry, ClipFilter,
    ClipMedia, ClipRecord, ClipSchedule, Finding, MediaFacts, NewFinding, Rendition, TrackVersion,
    Transition,
};
pub(super) use clips::{
    ClassificationRow, ClipRow, FindingRow, MediaRow, TransitionRow, CLIP_COLUMNS,
};

mod uploads;
pub use uploads::{NewClip, PendingUpload, TusProgress, TusUpload};
pub(super) use uploads::{PendingRow, TusRow};

mod cases;
pub use cases::{CaseClosure, CaseFilter, CaseRecord, Device, Team};
pub(super) use cases::{CaseRow, DeviceRow, CASE_COLUMNS};

mod copies;
pub use copies::CopyRequest;
pub(super) use copies::{CopyRow, COPY_COLUMNS};

mod audit;
pub(super) use audit::{AuditRow, CheckpointRow};

fn corrupt(id: Uuid, what: impl std::fmt::Display) -> CatalogueError {
    CatalogueError::Corrupt {
        detail: format!("clip {id}: {what}"),
    }
}

/// An API token as administrators see it: never its secret, not even its hash.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct TokenRecord {
    #[schema(value_type = String, format = Uuid)]
    pub id: Uuid,
    #[schema(value_type = String)]
    pub bureau: BureauId,
    pub label: String,
    #[schema(value_type = String, example = "officer")]
    pub role: custodian_core::roles::Role,
    pub created_at: DateTime<Utc>,
    /// When it stops working, if it was given an end.
    pub expires_at: Option<DateTime<Utc>>,
    pub revoked_at: Option<DateTime<Utc>>,
}

impl TokenRecord {
    /// Whether the token still lets its holder in at `now`.
    pub fn is_live(&self, now: DateTime<Utc>) -> bool {
        self.state(now) == "live"
    }

    /// `live`, `expired` or `revoked`, at `now`.
    pub fn state(&self, now: DateTime<Utc>) -> &'static str {
        if self.revoked_at.is_some() {
            "revoked"
        } else if self.expires_at.is_some_and(|end| end <= now) {
            "expired"
        } else {
            "live"
        }
    }
}

/// A person's account as administrators see it (never the password hash).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct UserRecord {
    #[schema(value_type = String)]
    pub bureau: BureauId,
    pub username: String,
    #[schema(value_type = String, example = "archivist")]
    pub role: custodian_core::roles::Role,
    pub created_at: DateTime<Utc>,
    /// Set while the account is disabled: it cannot log in, and its sessions have ended.
    pub disabled_at: Option<DateTime<Utc>>,
}
