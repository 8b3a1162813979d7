//! The queries of retention: holds, the archive tier, the recycle bin, the scrub.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use custodian_core::retention::{CaseFacts, LongTermReason};
use custodian_core::{BureauId, ClipId, ClipState};
use uuid::Uuid;

use super::{Adapter, BEGIN_WRITE};
use crate::catalogue::model::{ClipRow, CLIP_COLUMNS};
use crate::catalogue::sql::{err, rows_to_clips};
use crate::catalogue::{CatalogueError, ClassTotals, ClipRecord, ClipRepo, Lease, RetentionRepo};

#[async_trait]
impl RetentionRepo for Adapter {
    async fn set_retention(
        &self,
        bureau: &BureauId,
        id: ClipId,
        long_term: Option<&LongTermReason>,
        legal_hold: bool,
        by: &str,
        at: DateTime<Utc>,
    ) -> Result<bool, CatalogueError> {
        let mut tx = self
            .pool
            .begin_with(BEGIN_WRITE)
            .await
            .map_err(err("set retention"))?;
        let stored = long_term.map(|r| r.to_stored());
        let changed = sqlx::query("UPDATE clips SET long_term_reason = $3, legal_hold = $4 WHERE id = $1 AND bureau_id = $2")
            .bind(id.as_uuid())
            .bind(bureau.as_str())
            .bind(stored.as_deref())
            .bind(legal_hold)
            .execute(&mut *tx)
            .await
            .map_err(err("set retention"))?
            .rows_affected()
            == 1;
        if changed {
            sqlx::query("INSERT INTO retention_changes (clip_id, at, by_whom, long_term_reason, legal_hold) VALUES ($1, $2, $3, $4, $5)")
                .bind(id.as_uuid())
                .bind(at)
                .bind(by)
                .bind(stored.as_deref())
                .bind(legal_hold)
                .execute(&mut *tx)
                .await
                .map_err(err("set retention"))?;
        }
        tx.commit().await.map_err(err("set retention"))?;
        Ok(changed)
    }

    async fn set_case_long_term(
        &self,
        bureau: &BureauId,
        case: Uuid,
        long_term: bool,
    ) -> Result<bool, CatalogueError> {
        let changed =
            sqlx::query("UPDATE cases SET long_term = $3 WHERE id = $1 AND bureau_id = $2")
                .bind(case)
                .bind(bureau.as_str())
                .bind(long_term)
                .execute(&self.pool)
                .await
                .map_err(err("set case retention"))?
                .rows_affected();
        Ok(changed == 1)
    }

    async fn case_facts(&self, id: ClipId) -> Result<Vec<CaseFacts>, CatalogueError> {
        let rows: Vec<(String, bool, Option<DateTime<Utc>>, Option<DateTime<Utc>>)> = sqlx::query_as(
            "SELECT cases.state, cases.long_term, cases.closed_at, cases.filed_at FROM case_clips JOIN cases ON cases.id = case_clips.case_id WHERE case_clips.clip_id = $1",
        )
        .bind(id.as_uuid())
        .fetch_all(&self.pool)
        .await
        .map_err(err("case facts"))?;
        rows.into_iter()
            .map(|(state, long_term, closed_at, filed_at)| {
                let state = state
                    .parse()
                    .map_err(
                        |e: custodian_core::cases::CaseError| CatalogueError::Corrupt {
                            detail: e.to_string(),
                        },
                    )?;
                Ok(CaseFacts {
                    state,
                    long_term,
                    closed_at,
                    filed_at,
                })
            })
            .collect()
    }

    async fn archive_candidates(&self, limit: i64) -> Result<Vec<ClipRecord>, CatalogueError> {
        let sql = format!(
            "SELECT {CLIP_COLUMNS} FROM clips WHERE long_term_reason IS NOT NULL AND archived_at IS NULL AND state = 'catalogued' ORDER BY id LIMIT $1"
        );
        let rows: Vec<ClipRow> = sqlx::query_as(&sql)
            .bind(limit)
            .fetch_all(&self.pool)
            .await
            .map_err(err("archive candidates"))?;
        rows_to_clips(rows)
    }

    async fn mark_archived(
        &self,
        id: ClipId,
        archive_key: &str,
        locked_until: Option<DateTime<Utc>>,
        at: DateTime<Utc>,
    ) -> Result<bool, CatalogueError> {
        let also = sqlx::query("UPDATE clips SET archived_at = $2, archive_key = $3, archive_locked_until = $4 WHERE id = $1")
            .bind(id.as_uuid())
            .bind(at)
            .bind(archive_key.to_owned())
            .bind(locked_until);
        self.transition_and(
            id,
            (ClipState::Catalogued, ClipState::Archived),
            at,
            Some("copied to the archive tier and read back"),
            also,
        )
        .await
    }

    async fn expiry_candidates(
        &self,
        recorded_before: DateTime<Utc>,
        limit: i64,
    ) -> Result<Vec<ClipRecord>, CatalogueError> {
        let sql = format!(
            "SELECT {CLIP_COLUMNS} FROM clips WHERE state = 'catalogued' AND recorded_at < $1 AND legal_hold = FALSE \
             AND long_term_reason IS NULL ORDER BY recorded_at LIMIT $2"
        );
        let rows: Vec<ClipRow> = sqlx::query_as(&sql)
            .bind(recorded_before)
            .bind(limit)
            .fetch_all(&self.pool)
            .await
            .map_err(err("expiry candidates"))?;
        rows_to_clips(rows)
    }

    async fn recycle(
        &self,
        id: ClipId,
        until: DateTime<Utc>,
        at: DateTime<Utc>,
        reason: &str,
    ) -> Result<bool, CatalogueError> {
        let also = sqlx::query("UPDATE clips SET recycle_until = $2 WHERE id = $1")
            .bind(id.as_uuid())
            .bind(until);
        self.transition_and(
            id,
            (ClipState::Catalogued, ClipState::Recycled),
            at,
            Some(reason),
            also,
        )
        .await
    }

    async fn restore(
        &self,
        bureau: &BureauId,
        id: ClipId,
        at: DateTime<Utc>,
        by: &str,
    ) -> Result<bool, CatalogueError> {
        if self.clip(bureau, id).await?.is_none() {
            return Ok(false);
        }
        let also =
            sqlx::query("UPDATE clips SET recycle_until = NULL WHERE id = $1").bind(id.as_uuid());
        let reason = format!("restored by {by}");
        self.transition_and(
            id,
            (ClipState::Recycled, ClipState::Catalogued),
            at,
            Some(&reason),
            also,
        )
        .await
    }

    async fn purge_candidates(
        &self,
        now: DateTime<Utc>,
        limit: i64,
    ) -> Result<Vec<ClipRecord>, CatalogueError> {
        let sql = format!("SELECT {CLIP_COLUMNS} FROM clips WHERE state = 'recycled' AND recycle_until <= $1 ORDER BY recycle_until LIMIT $2");
        let rows: Vec<ClipRow> = sqlx::query_as(&sql)
            .bind(now)
            .bind(limit)
            .fetch_all(&self.pool)
            .await
            .map_err(err("purge candidates"))?;
        rows_to_clips(rows)
    }

    async fn mark_purged(&self, id: ClipId, at: DateTime<Utc>) -> Result<bool, CatalogueError> {
        let also = sqlx::query("UPDATE clips SET purged_at = $2 WHERE id = $1")
            .bind(id.as_uuid())
            .bind(at);
        self.transition_and(
            id,
            (ClipState::Recycled, ClipState::Expired),
            at,
            Some("retention ran out; files purged, record kept"),
            also,
        )
        .await
    }

    async fn scrub_candidates(&self, limit: i64) -> Result<Vec<ClipRecord>, CatalogueError> {
        let sql = format!("SELECT {CLIP_COLUMNS} FROM clips WHERE purged_at IS NULL ORDER BY verified_at NULLS FIRST, id LIMIT $1");
        let rows: Vec<ClipRow> = sqlx::query_as(&sql)
            .bind(limit)
            .fetch_all(&self.pool)
            .await
            .map_err(err("scrub candidates"))?;
        rows_to_clips(rows)
    }

    async fn mark_verified(&self, id: ClipId, at: DateTime<Utc>) -> Result<(), CatalogueError> {
        sqlx::query("UPDATE clips SET verified_at = $2 WHERE id = $1")
            .bind(id.as_uuid())
            .bind(at)
            .execute(&self.pool)
            .await
            .map_err(err("mark verified"))?;
        Ok(())
    }

    async fn class_totals(&self) -> Result<Vec<ClassTotals>, CatalogueError> {
        let rows: Vec<(String, i64, i64)> = sqlx::query_as(
            "SELECT CASE WHEN state = 'expired' THEN 'expired' WHEN state = 'recycled' THEN 'recycled' \
             WHEN legal_hold THEN 'held' WHEN long_term_reason IS NOT NULL THEN 'long_term' ELSE 'ordinary' END AS class, \
             COUNT(*), CAST(COALESCE(SUM(CASE WHEN purged_at IS NULL THEN size_bytes ELSE 0 END), 0) AS BIGINT) FROM clips GROUP BY 1",
        )
        .fetch_all(&self.pool)
        .await
        .map_err(err("class totals"))?;
        Ok(["ordinary", "long_term", "held", "recycled", "expired"]
            .into_iter()
            .map(|class| {
                let (clips, bytes) = rows
                    .iter()
                    .find(|(c, _, _)| c == class)
                    .map(|(_, n, b)| (*n, *b))
                    .unwrap_or((0, 0));
                ClassTotals {
                    class,
                    clips,
                    bytes,
                }
            })
            .collect())
    }

    async fn oldest_verification(&self) -> Result<Option<DateTime<Utc>>, CatalogueError> {
        let never: i64 = sqlx::query_scalar(
            "SELECT COUNT(*) FROM clips WHERE purged_at IS NULL AND verified_at IS NULL",
        )
        .fetch_one(&self.pool)
        .await
        .map_err(err("oldest verification"))?;
        if never > 0 {
            return Ok(None);
        }
        sqlx::query_scalar("SELECT MIN(verified_at) FROM clips WHERE purged_at IS NULL")
            .fetch_one(&self.pool)
            .await
            .map_err(err("oldest verification"))
    }

    async fn try_lease(&self, name: &str) -> Result<Option<Box<dyn Lease>>, CatalogueError> {
        self.lease(name).await
    }
}
