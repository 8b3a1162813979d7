//! The queries of recovery: the sidecar queue and a rebuild's checks.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use custodian_core::audit::AuditEntry;
use custodian_core::{BureauId, ClipId};
use uuid::Uuid;

use super::{Adapter, BEGIN_WRITE};
use crate::catalogue::model::{CaseRow, CASE_COLUMNS};
use crate::catalogue::sql::err;
use crate::catalogue::{CaseRecord, CatalogueError, LinkedCase, RecoveryRepo};

#[derive(sqlx::FromRow)]
struct LinkedCaseRow {
    #[sqlx(flatten)]
    case: CaseRow,
    long_term: bool,
    linked_at: DateTime<Utc>,
    linked_by: String,
}

#[async_trait]
impl RecoveryRepo for Adapter {
    async fn sidecars_due(&self, limit: i64) -> Result<Vec<(ClipId, i64)>, CatalogueError> {
        let rows: Vec<(Uuid, i64)> = sqlx::query_as(
            "SELECT clip_id, generation FROM sidecars_due ORDER BY clip_id LIMIT $1",
        )
        .bind(limit)
        .fetch_all(&self.pool)
        .await
        .map_err(err("sidecars due"))?;
        Ok(rows
            .into_iter()
            .map(|(id, generation)| (ClipId::from_uuid(id), generation))
            .collect())
    }

    async fn sidecar_written(&self, clip: ClipId, generation: i64) -> Result<bool, CatalogueError> {
        let cleared =
            sqlx::query("DELETE FROM sidecars_due WHERE clip_id = $1 AND generation = $2")
                .bind(clip.as_uuid())
                .bind(generation)
                .execute(&self.pool)
                .await
                .map_err(err("sidecar written"))?
                .rows_affected();
        Ok(cleared == 1)
    }

    async fn clip_cases(&self, clip: ClipId) -> Result<Vec<LinkedCase>, CatalogueError> {
        let sql = format!(
            "SELECT {CASE_COLUMNS}, long_term, linked_at, linked_by FROM case_clips \
             JOIN cases ON cases.id = case_clips.case_id WHERE case_clips.clip_id = $1 ORDER BY reference"
        );
        let rows: Vec<LinkedCaseRow> = sqlx::query_as(&sql)
            .bind(clip.as_uuid())
            .fetch_all(&self.pool)
            .await
            .map_err(err("clip cases"))?;
        rows.into_iter()
            .map(|row| {
                Ok(LinkedCase {
                    case: CaseRecord::try_from(row.case)?,
                    long_term: row.long_term,
                    linked_at: row.linked_at,
                    linked_by: row.linked_by,
                })
            })
            .collect()
    }

    async fn bureau_name(&self, bureau: &BureauId) -> Result<Option<String>, CatalogueError> {
        sqlx::query_scalar("SELECT name FROM bureaus WHERE id = $1")
            .bind(bureau.as_str())
            .fetch_optional(&self.pool)
            .await
            .map_err(err("bureau name"))
    }

    async fn clip_count(&self) -> Result<i64, CatalogueError> {
        sqlx::query_scalar("SELECT COUNT(*) FROM clips")
            .fetch_one(&self.pool)
            .await
            .map_err(err("count clips"))
    }

    async fn restart_audit(&self, entry: &AuditEntry) -> Result<bool, CatalogueError> {
        let mut tx = self
            .pool
            .begin_with(BEGIN_WRITE)
            .await
            .map_err(err("restart audit"))?;
        let existing: i64 =
            sqlx::query_scalar("SELECT COUNT(*) FROM audit_log WHERE bureau_id = $1")
                .bind(&entry.bureau)
                .fetch_one(&mut *tx)
                .await
                .map_err(err("restart audit"))?;
        if existing > 0 {
            return Ok(false);
        }
        sqlx::query(
            "INSERT INTO audit_log (bureau_id, seq, at, actor, action, target, detail, prev_hash, hash) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
        )
        .bind(&entry.bureau)
        .bind(entry.seq)
        .bind(entry.at)
        .bind(&entry.actor)
        .bind(&entry.action)
        .bind(entry.target.as_deref())
        .bind(&entry.detail)
        .bind(&entry.prev_hash)
        .bind(&entry.hash)
        .execute(&mut *tx)
        .await
        .map_err(err("restart audit"))?;
        tx.commit().await.map_err(err("restart audit"))?;
        Ok(true)
    }
}
