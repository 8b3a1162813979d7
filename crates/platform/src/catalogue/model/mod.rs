//! The records the catalogue keeps, as the rest of the code sees them.

use uuid::Uuid;

use super::CatalogueError;

mod access;
pub(super) use access::{
    identity, throttle_of, token_record, user_record, ThrottleRow, TokenRow, UserRow,
    THROTTLE_COLUMNS, TOKEN_COLUMNS,
};
pub use access::{TokenOwner, TokenRecord, UserRecord};

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
