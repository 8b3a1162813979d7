//! Uploads: the pending row written before any byte, the resumable (tus) upload's progress,
//! and the clip recorded in its place once the original is stored.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use custodian_core::{BureauId, ClipId};

use super::{CatalogueError, ClipRecord, NewClip, PendingUpload, TusProgress, TusUpload};

/// Uploads under way, plain and resumable, until the clip is recorded or the upload dropped.
#[async_trait]
pub trait UploadRepo: Send + Sync {
    async fn begin_upload(&self, upload: &PendingUpload) -> Result<(), CatalogueError>;

    /// Records a stored, verified clip and closes its pending upload (and its tus row, for a
    /// resumable upload), in one transaction. The clip's team and `device_registered` are
    /// read from the device registry in the same transaction.
    async fn record_clip(&self, clip: &NewClip) -> Result<ClipRecord, CatalogueError>;

    /// Drops a pending upload, returning whether it was still pending. Whoever removes the
    /// row owns the object: after this, `record_clip` for the same clip fails.
    async fn forget_upload(&self, clip: ClipId) -> Result<bool, CatalogueError>;

    async fn stale_uploads(
        &self,
        started_before: DateTime<Utc>,
        limit: i64,
    ) -> Result<Vec<PendingUpload>, CatalogueError>;

    /// Opens a resumable upload: its pending row and its tus row, in one transaction.
    async fn create_tus_upload(&self, upload: &TusUpload) -> Result<(), CatalogueError>;

    /// How many resumable uploads `person` has open, and the bytes they declare together.
    async fn open_tus_uploads_by(&self, person: &str) -> Result<(u64, u64), CatalogueError>;

    /// A resumable upload, only if it belongs to `bureau`.
    async fn tus_upload(
        &self,
        bureau: &BureauId,
        clip: ClipId,
    ) -> Result<Option<TusUpload>, CatalogueError>;

    /// Saves a resumable upload's progress if its offset is still `from_offset`. Returns
    /// false if another request moved it (or the upload is gone).
    async fn save_tus_progress(
        &self,
        clip: ClipId,
        from_offset: u64,
        progress: &TusProgress,
    ) -> Result<bool, CatalogueError>;

    /// Drops a resumable upload's tus row (its pending row is `forget_upload`'s).
    async fn forget_tus_upload(&self, clip: ClipId) -> Result<bool, CatalogueError>;
}
