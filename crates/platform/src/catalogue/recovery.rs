//! What recovering a lost catalogue needs from it: the queue of sidecars to write beside the
//! originals (marked by triggers, see migration 0021), the cases a clip is in as a sidecar
//! records them, and, for `custodian catalogue rebuild`, a check that the catalogue is empty
//! and a way to start an audit chain where the lost one's anchor left it.

use async_trait::async_trait;
use custodian_core::audit::AuditEntry;
use custodian_core::{BureauId, ClipId};

use super::{CatalogueError, LinkedCase};

#[async_trait]
pub trait RecoveryRepo: Send + Sync {
    /// Up to `limit` clips whose sidecar is out of date, with the generation read.
    async fn sidecars_due(&self, limit: i64) -> Result<Vec<(ClipId, i64)>, CatalogueError>;

    /// Clears a clip's mark, unless it changed again since `generation` was read. Returns
    /// whether it cleared.
    async fn sidecar_written(&self, clip: ClipId, generation: i64) -> Result<bool, CatalogueError>;

    /// The cases holding a clip, with their retention flag and who linked the clip when.
    async fn clip_cases(&self, clip: ClipId) -> Result<Vec<LinkedCase>, CatalogueError>;

    async fn bureau_name(&self, bureau: &BureauId) -> Result<Option<String>, CatalogueError>;

    /// How many clips the catalogue holds, whatever their bureau.
    async fn clip_count(&self) -> Result<i64, CatalogueError>;

    /// Starts `entry.bureau`'s trail with `entry`, already chained (a restart after a
    /// rebuild). Returns false, writing nothing, if the bureau's trail is not empty.
    async fn restart_audit(&self, entry: &AuditEntry) -> Result<bool, CatalogueError>;
}
