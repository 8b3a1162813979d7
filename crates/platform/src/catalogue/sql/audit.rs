//! The audit trail's queries.

use std::time::Duration;

use async_trait::async_trait;
use custodian_core::audit::{AuditEntry, Checkpoint, NewAuditEntry};

use super::{Adapter, BEGIN_WRITE};
use crate::catalogue::model::{AuditRow, CheckpointRow};
use crate::catalogue::sql::err;
use crate::catalogue::{AuditRepo, CatalogueError};

impl Adapter {
    async fn try_append_audit(
        &self,
        bureau: &str,
        entry: NewAuditEntry,
    ) -> Result<AuditEntry, CatalogueError> {
        let mut tx = self
            .pool
            .begin_with(BEGIN_WRITE)
            .await
            .map_err(err("append audit"))?;
        let last: Option<(i64, String)> = sqlx::query_as(
            "SELECT seq, hash FROM audit_log WHERE bureau_id = $1 ORDER BY seq DESC LIMIT 1",
        )
        .bind(bureau)
        .fetch_optional(&mut *tx)
        .await
        .map_err(err("append audit"))?;
        let chained = custodian_core::audit::chain(
            bureau,
            last.as_ref().map(|(seq, hash)| (*seq, hash.as_str())),
            entry,
        );
        sqlx::query(
            "INSERT INTO audit_log (bureau_id, seq, at, actor, action, target, detail, prev_hash, hash) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
        )
        .bind(&chained.bureau)
        .bind(chained.seq)
        .bind(chained.at)
        .bind(&chained.actor)
        .bind(&chained.action)
        .bind(chained.target.as_deref())
        .bind(&chained.detail)
        .bind(&chained.prev_hash)
        .bind(&chained.hash)
        .execute(&mut *tx)
        .await
        .map_err(err("append audit"))?;
        tx.commit().await.map_err(err("append audit"))?;
        Ok(chained)
    }
}

#[async_trait]
impl AuditRepo for Adapter {
    async fn append_audit(
        &self,
        bureau: &str,
        entry: NewAuditEntry,
    ) -> Result<AuditEntry, CatalogueError> {
        let mut attempt = 0;
        loop {
            attempt += 1;
            match self.try_append_audit(bureau, entry.clone()).await {
                Err(e)
                    if attempt < 8
                        && matches!(
                            e,
                            CatalogueError::Conflict { .. } | CatalogueError::Unavailable { .. }
                        ) =>
                {
                    // Another writer took this place in the chain: read the new end.
                    tokio::time::sleep(Duration::from_millis(5 * attempt)).await;
                }
                other => return other,
            }
        }
    }

    async fn audit_entries(
        &self,
        bureau: &str,
        after_seq: i64,
        limit: i64,
    ) -> Result<Vec<AuditEntry>, CatalogueError> {
        let rows: Vec<AuditRow> = sqlx::query_as(
            "SELECT bureau_id, seq, at, actor, action, target, detail, prev_hash, hash FROM audit_log \
             WHERE bureau_id = $1 AND seq > $2 ORDER BY seq LIMIT $3",
        )
        .bind(bureau)
        .bind(after_seq)
        .bind(limit)
        .fetch_all(&self.pool)
        .await
        .map_err(err("audit entries"))?;
        Ok(rows.into_iter().map(AuditEntry::from).collect())
    }

    async fn last_audit_entry(&self, bureau: &str) -> Result<Option<AuditEntry>, CatalogueError> {
        let row: Option<AuditRow> = sqlx::query_as(
            "SELECT bureau_id, seq, at, actor, action, target, detail, prev_hash, hash FROM audit_log \
             WHERE bureau_id = $1 ORDER BY seq DESC LIMIT 1",
        )
        .bind(bureau)
        .fetch_optional(&self.pool)
        .await
        .map_err(err("last audit entry"))?;
        Ok(row.map(AuditEntry::from))
    }

    async fn audit_by_target(
        &self,
        bureau: &str,
        target: &str,
    ) -> Result<Vec<AuditEntry>, CatalogueError> {
        let rows: Vec<AuditRow> = sqlx::query_as(
            "SELECT bureau_id, seq, at, actor, action, target, detail, prev_hash, hash FROM audit_log \
             WHERE bureau_id = $1 AND target = $2 ORDER BY seq",
        )
        .bind(bureau)
        .bind(target)
        .fetch_all(&self.pool)
        .await
        .map_err(err("audit by target"))?;
        Ok(rows.into_iter().map(AuditEntry::from).collect())
    }

    async fn audit_bureaus(&self) -> Result<Vec<String>, CatalogueError> {
        sqlx::query_scalar("SELECT DISTINCT bureau_id FROM audit_log ORDER BY bureau_id")
            .fetch_all(&self.pool)
            .await
            .map_err(err("audit bureaus"))
    }

    async fn add_checkpoint(&self, checkpoint: &Checkpoint) -> Result<(), CatalogueError> {
        sqlx::query("INSERT INTO audit_checkpoints (bureau_id, seq, hash, at, signature) VALUES ($1, $2, $3, $4, $5) ON CONFLICT (bureau_id, seq) DO NOTHING")
            .bind(&checkpoint.bureau)
            .bind(checkpoint.seq)
            .bind(&checkpoint.hash)
            .bind(checkpoint.at)
            .bind(&checkpoint.signature)
            .execute(&self.pool)
            .await
            .map_err(err("add checkpoint"))?;
        Ok(())
    }

    async fn checkpoints(&self, bureau: &str) -> Result<Vec<Checkpoint>, CatalogueError> {
        let rows: Vec<CheckpointRow> =
            sqlx::query_as("SELECT bureau_id, seq, hash, at, signature FROM audit_checkpoints WHERE bureau_id = $1 ORDER BY seq")
                .bind(bureau)
                .fetch_all(&self.pool)
                .await
                .map_err(err("checkpoints"))?;
        Ok(rows.into_iter().map(Checkpoint::from).collect())
    }
}
