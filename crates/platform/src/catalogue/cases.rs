//! Cases and the clips linked to them (art. 18), and the registry of devices and teams
//! (art. 15).

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use custodian_core::cases::CaseState;
use custodian_core::{BureauId, ClipId};
use uuid::Uuid;

use super::{CaseClosure, CaseFilter, CaseRecord, CatalogueError, Device, Team};

/// A bureau's cases, with their clips, and its devices and teams.
#[async_trait]
pub trait CaseRepo: Send + Sync {
    async fn create_case(&self, case: &CaseRecord) -> Result<(), CatalogueError>;

    async fn case(&self, bureau: &BureauId, id: Uuid)
        -> Result<Option<CaseRecord>, CatalogueError>;

    async fn case_by_reference(
        &self,
        bureau: &BureauId,
        reference: &str,
    ) -> Result<Option<CaseRecord>, CatalogueError>;

    async fn case_clip_ids(&self, case: Uuid) -> Result<Vec<ClipId>, CatalogueError>;

    /// Links clips (already checked to be the case's bureau's) to a case; returns how many
    /// were not linked before.
    async fn link_clips(
        &self,
        case: Uuid,
        clips: &[ClipId],
        by: &str,
        at: DateTime<Utc>,
    ) -> Result<usize, CatalogueError>;

    /// Moves a case from `from` to `to` if it is still in `from`, with its closure date and
    /// filing deadline when it closes. Returns whether it moved.
    async fn set_case_state(
        &self,
        id: Uuid,
        from: CaseState,
        to: CaseState,
        at: DateTime<Utc>,
        closure: Option<&CaseClosure>,
    ) -> Result<bool, CatalogueError>;

    /// A bureau's cases, newest first, after the filter's cursor.
    async fn list_cases(
        &self,
        bureau: &BureauId,
        filter: &CaseFilter,
        limit: i64,
    ) -> Result<Vec<CaseRecord>, CatalogueError>;

    async fn unclassified_in_case(&self, case: Uuid) -> Result<usize, CatalogueError>;

    async fn upsert_device(&self, bureau: &BureauId, device: &Device)
        -> Result<(), CatalogueError>;

    async fn devices(&self, bureau: &BureauId) -> Result<Vec<Device>, CatalogueError>;

    /// Registers a team of `bureau`; registering it again keeps the first record. Returns the
    /// team as kept.
    async fn register_team(
        &self,
        bureau: &BureauId,
        name: &str,
        at: DateTime<Utc>,
    ) -> Result<Team, CatalogueError>;

    /// A bureau's registered teams, by name.
    async fn teams(&self, bureau: &BureauId) -> Result<Vec<Team>, CatalogueError>;
}
