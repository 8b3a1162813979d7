//! Retention (art. 21, 22): long-term reasons and holds, the archive tier, expiry through the
//! recycle bin to a tombstone, the scrub, the storage gauges, and the lease that lets one
//! instance run the schedule.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use custodian_core::retention::{CaseFacts, LongTermReason};
use custodian_core::{BureauId, ClipId};
use uuid::Uuid;

use super::{CatalogueError, ClassTotals, ClipRecord};

/// What the retention schedule reads and changes.
#[async_trait]
pub trait RetentionRepo: Send + Sync {
    /// Sets a clip's long-term reason and legal hold, keeping who and when.
    async fn set_retention(
        &self,
        bureau: &BureauId,
        id: ClipId,
        long_term: Option<&LongTermReason>,
        legal_hold: bool,
        by: &str,
        at: DateTime<Utc>,
    ) -> Result<bool, CatalogueError>;

    async fn set_case_long_term(
        &self,
        bureau: &BureauId,
        case: Uuid,
        long_term: bool,
    ) -> Result<bool, CatalogueError>;

    /// The cases a clip is linked to, as retention sees them.
    async fn case_facts(&self, id: ClipId) -> Result<Vec<CaseFacts>, CatalogueError>;

    /// Catalogued long-term clips not yet in the archive tier.
    async fn archive_candidates(&self, limit: i64) -> Result<Vec<ClipRecord>, CatalogueError>;

    async fn mark_archived(
        &self,
        id: ClipId,
        archive_key: &str,
        locked_until: Option<DateTime<Utc>>,
        at: DateTime<Utc>,
    ) -> Result<bool, CatalogueError>;

    /// Catalogued clips recorded before `recorded_before`, without a hold or a long-term class:
    /// those whose retention may have run out (the rules decide).
    async fn expiry_candidates(
        &self,
        recorded_before: DateTime<Utc>,
        limit: i64,
    ) -> Result<Vec<ClipRecord>, CatalogueError>;

    /// Moves a catalogued clip to the recycle bin until `until`.
    async fn recycle(
        &self,
        id: ClipId,
        until: DateTime<Utc>,
        at: DateTime<Utc>,
        reason: &str,
    ) -> Result<bool, CatalogueError>;

    /// Takes a clip of `bureau` out of the recycle bin.
    async fn restore(
        &self,
        bureau: &BureauId,
        id: ClipId,
        at: DateTime<Utc>,
        by: &str,
    ) -> Result<bool, CatalogueError>;

    /// Recycled clips whose time in the bin ran out by `now`.
    async fn purge_candidates(
        &self,
        now: DateTime<Utc>,
        limit: i64,
    ) -> Result<Vec<ClipRecord>, CatalogueError>;

    /// Records that a recycled clip's files are gone: it becomes a tombstone.
    async fn mark_purged(&self, id: ClipId, at: DateTime<Utc>) -> Result<bool, CatalogueError>;

    /// Clips whose originals were verified longest ago (never first).
    async fn scrub_candidates(&self, limit: i64) -> Result<Vec<ClipRecord>, CatalogueError>;

    async fn mark_verified(&self, id: ClipId, at: DateTime<Utc>) -> Result<(), CatalogueError>;

    /// Clips and bytes per retention class: ordinary, long_term, held, recycled, expired.
    async fn class_totals(&self) -> Result<Vec<ClassTotals>, CatalogueError>;

    /// The oldest verification among clips with files (None if some were never verified).
    async fn oldest_verification(&self) -> Result<Option<DateTime<Utc>>, CatalogueError>;

    /// Tries to become the one instance that runs `name` (the retention schedule). The lease
    /// lasts while the returned guard lives and its connection does; a crash hands it on.
    async fn try_lease(&self, name: &str) -> Result<Option<Box<dyn Lease>>, CatalogueError>;
}

/// A held lease; dropping it gives the lease up.
#[async_trait]
pub trait Lease: Send {
    /// Whether the lease is still held (its connection still answers).
    async fn held(&mut self) -> bool;
}
