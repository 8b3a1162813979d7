//! Clips: their record and state, deadlines and classification, what the media workers
//! found and made (media facts, the viewing copy, fingerprints, findings), and GPS tracks.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use custodian_core::classification::Classification;
use custodian_core::deadlines::DeadlineKind;
use custodian_core::{BureauId, ClipId, ClipState, LocalId};

use super::{
    CatalogueError, ClassificationEntry, ClipFilter, ClipMedia, ClipRecord, ClipSchedule, Finding,
    MediaFacts, NewFinding, Rendition, TrackVersion, Transition,
};

/// Recorded clips: reading and listing them, moving their state, and what is learnt about them.
#[async_trait]
pub trait ClipRepo: Send + Sync {
    /// A clip, only if it belongs to `bureau`.
    async fn clip(
        &self,
        bureau: &BureauId,
        id: ClipId,
    ) -> Result<Option<ClipRecord>, CatalogueError>;

    /// A clip whatever its bureau: for workers acting on events, never for API callers.
    async fn clip_for_worker(&self, id: ClipId) -> Result<Option<ClipRecord>, CatalogueError>;

    /// A bureau's clips, newest first, after the filter's cursor.
    async fn list_clips(
        &self,
        bureau: &BureauId,
        filter: &ClipFilter,
        limit: i64,
    ) -> Result<Vec<ClipRecord>, CatalogueError>;

    /// Moves a clip from `from` to `to` if it is still in `from`. Returns whether it moved.
    async fn transition(
        &self,
        id: ClipId,
        from: ClipState,
        to: ClipState,
        at: DateTime<Utc>,
        reason: Option<&str>,
    ) -> Result<bool, CatalogueError>;

    async fn transitions(&self, id: ClipId) -> Result<Vec<Transition>, CatalogueError>;

    /// Clips that have been in `state` since before `changed_before`, oldest first.
    async fn stuck_clips(
        &self,
        state: ClipState,
        changed_before: DateTime<Utc>,
        limit: i64,
    ) -> Result<Vec<ClipRecord>, CatalogueError>;

    /// Counts one more re-publication of a stuck clip and returns the new round.
    async fn next_publish_round(
        &self,
        id: ClipId,
        at: DateTime<Utc>,
    ) -> Result<u32, CatalogueError>;

    /// Fixes a clip's canonical name and deadlines when it is catalogued.
    async fn set_schedule(
        &self,
        id: ClipId,
        canonical_name: &str,
        schedule: &ClipSchedule,
    ) -> Result<(), CatalogueError>;

    /// Moves a clip's upload deadlines once the recording's measured end is known (they were
    /// counted from its start), if they still are `was`. Returns whether they moved.
    async fn move_upload_due(
        &self,
        id: ClipId,
        was: DateTime<Utc>,
        upload_due: DateTime<Utc>,
        upload_hard_due: DateTime<Utc>,
    ) -> Result<bool, CatalogueError>;

    /// Per bureau and kind, how many deadlines are overdue at `now`: classifications and case
    /// filings due and not done, and uploads that arrived late in the 30 days before `now`.
    async fn overdue_counts(
        &self,
        now: DateTime<Utc>,
    ) -> Result<Vec<(BureauId, DeadlineKind, i64)>, CatalogueError>;

    /// Classifies a clip of `bureau` and keeps the classification in its history. Returns
    /// false if the bureau has no such clip.
    async fn classify(
        &self,
        bureau: &BureauId,
        id: ClipId,
        classification: &Classification,
        canonical_name: &str,
        by: &str,
        at: DateTime<Utc>,
    ) -> Result<bool, CatalogueError>;

    async fn classifications(&self, id: ClipId)
        -> Result<Vec<ClassificationEntry>, CatalogueError>;

    /// Gives a record of `bureau` a document type; from then on it is a document, whatever
    /// its format (a scanned page). Returns false if the bureau has no such record.
    async fn set_document_type(
        &self,
        bureau: &BureauId,
        id: ClipId,
        document_type: &str,
    ) -> Result<bool, CatalogueError>;

    async fn set_confidentiality(
        &self,
        bureau: &BureauId,
        id: ClipId,
        level: custodian_core::roles::Confidentiality,
    ) -> Result<bool, CatalogueError>;

    async fn add_finding(
        &self,
        id: ClipId,
        kind: &str,
        severity: &str,
        detail: &str,
        at: DateTime<Utc>,
    ) -> Result<(), CatalogueError>;

    async fn findings(&self, id: ClipId) -> Result<Vec<Finding>, CatalogueError>;

    /// Records the transcoder's output and what it measured; running it again replaces it.
    async fn record_transcode(
        &self,
        id: ClipId,
        facts: &MediaFacts,
        rendition: &Rendition,
        at: DateTime<Utc>,
    ) -> Result<(), CatalogueError>;

    /// Records the fingerprint, what was measured and the fingerprinter's findings, replacing
    /// those of an earlier run of the same clip.
    async fn record_fingerprint(
        &self,
        id: ClipId,
        facts: &MediaFacts,
        hashes: &[u64],
        findings: &[NewFinding],
        at: DateTime<Utc>,
    ) -> Result<(), CatalogueError>;

    /// Asks for the viewing copy to be made again (a track arrived): the transcoder remakes
    /// a copy whose `transcoded_at` is cleared.
    async fn clear_transcode(&self, id: ClipId) -> Result<(), CatalogueError>;

    async fn clip_media(&self, id: ClipId) -> Result<Option<ClipMedia>, CatalogueError>;

    /// Fingerprints of a bureau's clips (not purged), newest first, at most `limit`.
    async fn fingerprints(
        &self,
        bureau: &BureauId,
        limit: i64,
    ) -> Result<Vec<(ClipId, Vec<u64>)>, CatalogueError>;

    /// Sound fingerprints of a bureau's records (not purged), newest first, at most `limit`.
    async fn sound_fingerprints(
        &self,
        bureau: &BureauId,
        limit: i64,
    ) -> Result<Vec<(ClipId, Vec<u32>)>, CatalogueError>;

    /// The clip the same device recorded last before `before` (and its measured duration),
    /// for the gap between consecutive clips.
    async fn previous_on_device(
        &self,
        bureau: &BureauId,
        device: &LocalId,
        before: DateTime<Utc>,
    ) -> Result<Option<(ClipId, DateTime<Utc>, Option<f64>)>, CatalogueError>;

    /// Adds the next version of a clip's GPS track (never replacing one); answers its number.
    async fn add_track_version(
        &self,
        clip: ClipId,
        version: &TrackVersion,
    ) -> Result<i64, CatalogueError>;

    /// Every version of a clip's GPS track, oldest first.
    async fn track_versions(&self, clip: ClipId) -> Result<Vec<TrackVersion>, CatalogueError>;
}
