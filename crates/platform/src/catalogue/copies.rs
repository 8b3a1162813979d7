//! Copies for a party (art. 23): requests, their decision, the watermarked copy and its
//! downloads.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use custodian_core::{BureauId, ClipId};
use uuid::Uuid;

use super::{CatalogueError, CopyRequest};

/// Copy requests, from asking through the decision to the copy made and downloaded.
#[async_trait]
pub trait CopyRepo: Send + Sync {
    async fn create_copy_request(&self, request: &CopyRequest) -> Result<(), CatalogueError>;

    async fn copy_request(
        &self,
        bureau: &BureauId,
        id: Uuid,
    ) -> Result<Option<CopyRequest>, CatalogueError>;

    /// Decides a pending request; an approval stores the download token's hash and expiry.
    /// With `plan_sha256`, only if the request's redaction plan is still that one (`""`: none),
    /// so a leader never approves a plan changed after they reviewed it.
    #[allow(clippy::too_many_arguments)]
    async fn decide_copy_request(
        &self,
        id: Uuid,
        approved: bool,
        by: &str,
        at: DateTime<Utc>,
        reason: &str,
        download: Option<(&str, DateTime<Utc>)>,
        plan_sha256: Option<&str>,
    ) -> Result<bool, CatalogueError>;

    /// Sets the redaction plan of a pending request of `bureau`; false if there is no such
    /// request or it was decided.
    async fn set_copy_redaction(
        &self,
        bureau: &BureauId,
        id: Uuid,
        plan: &custodian_core::redaction::RedactionPlan,
        by: &str,
        at: DateTime<Utc>,
    ) -> Result<bool, CatalogueError>;

    /// The request a download token opens, whatever its state.
    async fn copy_request_by_token(
        &self,
        token_sha256: &str,
    ) -> Result<Option<CopyRequest>, CatalogueError>;

    async fn count_copy_download(&self, id: Uuid) -> Result<(), CatalogueError>;

    /// Records the watermarked copy stored for an approved request; making it again
    /// replaces the record (same key, same request).
    async fn record_copy_made(
        &self,
        id: Uuid,
        sha256: &str,
        size_bytes: i64,
        track_sha256: Option<&str>,
        at: DateTime<Utc>,
    ) -> Result<(), CatalogueError>;

    /// Records why a request's copy could not be made (only while none is recorded).
    async fn record_copy_failure(&self, id: Uuid, reason: &str) -> Result<(), CatalogueError>;

    /// Approved requests decided before `decided_before` whose copy is neither made nor
    /// failed: work to announce again, oldest first.
    async fn copies_to_make(
        &self,
        decided_before: DateTime<Utc>,
        limit: i64,
    ) -> Result<Vec<CopyRequest>, CatalogueError>;

    /// A bureau's copy requests, newest first, in one state or any; `before` (a request id)
    /// pages on from the last of the previous page.
    async fn copy_requests(
        &self,
        bureau: &BureauId,
        state: Option<custodian_core::copies::CopyState>,
        before: Option<Uuid>,
        limit: i64,
    ) -> Result<Vec<CopyRequest>, CatalogueError>;

    /// Every copy request of a clip, whatever its bureau or state (the purge removes their
    /// copies with the clip's other files).
    async fn copy_requests_of_clip(&self, clip: ClipId)
        -> Result<Vec<CopyRequest>, CatalogueError>;
}
