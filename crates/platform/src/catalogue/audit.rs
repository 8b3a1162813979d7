//! The audit trail: each bureau's hash chain of entries and the signed checkpoints over it.

use async_trait::async_trait;
use custodian_core::audit::{AuditEntry, Checkpoint, NewAuditEntry};

use super::CatalogueError;

/// Each bureau's audit chain, appended to and read, never changed.
#[async_trait]
pub trait AuditRepo: Send + Sync {
    /// Appends to a bureau's audit chain (retrying if another writer took the same place).
    async fn append_audit(
        &self,
        bureau: &str,
        entry: NewAuditEntry,
    ) -> Result<AuditEntry, CatalogueError>;

    /// A bureau's audit entries after `after_seq`, in order.
    async fn audit_entries(
        &self,
        bureau: &str,
        after_seq: i64,
        limit: i64,
    ) -> Result<Vec<AuditEntry>, CatalogueError>;

    /// The last entry of a bureau's audit chain.
    async fn last_audit_entry(&self, bureau: &str) -> Result<Option<AuditEntry>, CatalogueError>;

    /// A bureau's audit entries that name `target` (a clip or case id), in order.
    async fn audit_by_target(
        &self,
        bureau: &str,
        target: &str,
    ) -> Result<Vec<AuditEntry>, CatalogueError>;

    /// The bureaus that have an audit chain.
    async fn audit_bureaus(&self) -> Result<Vec<String>, CatalogueError>;

    async fn add_checkpoint(&self, checkpoint: &Checkpoint) -> Result<(), CatalogueError>;

    async fn checkpoints(&self, bureau: &str) -> Result<Vec<Checkpoint>, CatalogueError>;
}
