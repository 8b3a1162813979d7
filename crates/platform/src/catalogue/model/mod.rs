//! The records the catalogue keeps, as the rest of the code sees them, and the rows they are
//! read from: one file per aggregate.

mod access;
mod audit;
mod cases;
mod clips;
mod copies;
mod rectifications;
mod retention;
mod tasks;
mod uploads;

use uuid::Uuid;

use super::CatalogueError;

pub(super) use access::{
    identity, throttle_of, token_record, user_record, ThrottleRow, TokenRow, UserRow,
    THROTTLE_COLUMNS, TOKEN_COLUMNS,
};
pub use access::{TokenOwner, TokenRecord, UserRecord};
pub(super) use audit::{AuditRow, CheckpointRow};
pub use cases::{CaseClosure, CaseFilter, CaseRecord, Device, LinkedCase, Team};
pub(super) use cases::{CaseRow, DeviceRow, CASE_COLUMNS};
pub use clips::{
    decode_fingerprint, decode_sound_fingerprint, encode_fingerprint, encode_sound_fingerprint,
    BoundingBox, ClassificationEntry, ClipFilter, ClipMedia, ClipRecord, ClipSchedule, Finding,
    MediaFacts, NewFinding, Rendition, TrackVersion, Transition,
};
pub(super) use clips::{
    ClassificationRow, ClipRow, FindingRow, MediaRow, TransitionRow, CLIP_COLUMNS,
};
pub use copies::CopyRequest;
pub(super) use copies::{CopyRow, COPY_COLUMNS};
pub use rectifications::{RectificationRecord, RectificationStepRecord};
pub(super) use rectifications::{RectificationRow, RectificationStepRow, RECTIFICATION_COLUMNS};
pub use retention::ClassTotals;
pub(super) use tasks::{reason_text, MomentRow, TaskRow, TASK_COLUMNS};
pub use tasks::{TaskFilter, TaskLink, TaskRecord};
pub use uploads::{NewClip, PendingUpload, TusProgress, TusUpload};
pub(super) use uploads::{PendingRow, TusRow};

/// The error for a row about clip `id` that cannot be read.
fn corrupt(id: Uuid, what: impl std::fmt::Display) -> CatalogueError {
    CatalogueError::Corrupt {
        detail: format!("clip {id}: {what}"),
    }
}
