//! The queries of copy requests.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use custodian_core::{BureauId, ClipId};
use uuid::Uuid;

use super::Adapter;
use crate::catalogue::model::{CopyRow, COPY_COLUMNS};
use crate::catalogue::sql::err;
use crate::catalogue::{CatalogueError, CopyRepo, CopyRequest};

#[async_trait]
impl CopyRepo for Adapter {
    async fn create_copy_request(&self, request: &CopyRequest) -> Result<(), CatalogueError> {
        sqlx::query(
            "INSERT INTO copy_requests (id, bureau_id, clip_id, party, purpose, requested_by, requested_at, state, requested_by_person) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
        )
        .bind(request.id)
        .bind(request.bureau.as_str())
        .bind(request.clip.as_uuid())
        .bind(&request.party)
        .bind(&request.purpose)
        .bind(&request.requested_by)
        .bind(request.requested_at)
        .bind(request.state.as_str())
        .bind(&request.requested_by_person)
        .execute(&self.pool)
        .await
        .map_err(err("create copy request"))?;
        Ok(())
    }

    async fn copy_request(
        &self,
        bureau: &BureauId,
        id: Uuid,
    ) -> Result<Option<CopyRequest>, CatalogueError> {
        let sql =
            format!("SELECT {COPY_COLUMNS} FROM copy_requests WHERE id = $1 AND bureau_id = $2");
        let row: Option<CopyRow> = sqlx::query_as(&sql)
            .bind(id)
            .bind(bureau.as_str())
            .fetch_optional(&self.pool)
            .await
            .map_err(err("copy request"))?;
        row.map(CopyRequest::try_from).transpose()
    }

    async fn decide_copy_request(
        &self,
        id: Uuid,
        approved: bool,
        by: &str,
        at: DateTime<Utc>,
        reason: &str,
        download: Option<(&str, DateTime<Utc>)>,
        plan_sha256: Option<&str>,
    ) -> Result<bool, CatalogueError> {
        let state = if approved { "approved" } else { "refused" };
        let moved = sqlx::query(
            "UPDATE copy_requests SET state = $2, decided_by = $3, decided_at = $4, reason = $5, \
             download_token_sha256 = $6, expires_at = $7 WHERE id = $1 AND state = 'pending' \
             AND ($8 OR COALESCE(redaction_sha256, '') = $9)",
        )
        .bind(id)
        .bind(state)
        .bind(by)
        .bind(at)
        .bind(reason)
        .bind(download.map(|(token, _)| token.to_owned()))
        .bind(download.map(|(_, until)| until))
        .bind(plan_sha256.is_none())
        .bind(plan_sha256.unwrap_or(""))
        .execute(&self.pool)
        .await
        .map_err(err("decide copy request"))?
        .rows_affected();
        Ok(moved == 1)
    }

    async fn set_copy_redaction(
        &self,
        bureau: &BureauId,
        id: Uuid,
        plan: &custodian_core::redaction::RedactionPlan,
        by: &str,
        at: DateTime<Utc>,
    ) -> Result<bool, CatalogueError> {
        let json = serde_json::to_string(plan).map_err(|e| CatalogueError::Query {
            operation: "set copy redaction",
            message: e.to_string(),
        })?;
        let set = sqlx::query(
            "UPDATE copy_requests SET redaction_plan = $3, redaction_sha256 = $4, redaction_by = $5, \
             redaction_at = $6 WHERE id = $1 AND bureau_id = $2 AND state = 'pending'",
        )
        .bind(id)
        .bind(bureau.as_str())
        .bind(json)
        .bind(plan.sha256())
        .bind(by)
        .bind(at)
        .execute(&self.pool)
        .await
        .map_err(err("set copy redaction"))?
        .rows_affected();
        Ok(set == 1)
    }

    async fn copy_request_by_token(
        &self,
        token_sha256: &str,
    ) -> Result<Option<CopyRequest>, CatalogueError> {
        let sql =
            format!("SELECT {COPY_COLUMNS} FROM copy_requests WHERE download_token_sha256 = $1");
        let row: Option<CopyRow> = sqlx::query_as(&sql)
            .bind(token_sha256)
            .fetch_optional(&self.pool)
            .await
            .map_err(err("copy request by token"))?;
        row.map(CopyRequest::try_from).transpose()
    }

    async fn count_copy_download(&self, id: Uuid) -> Result<(), CatalogueError> {
        sqlx::query("UPDATE copy_requests SET downloads = downloads + 1 WHERE id = $1")
            .bind(id)
            .execute(&self.pool)
            .await
            .map_err(err("count copy download"))?;
        Ok(())
    }

    async fn record_copy_made(
        &self,
        id: Uuid,
        sha256: &str,
        size_bytes: i64,
        track_sha256: Option<&str>,
        at: DateTime<Utc>,
    ) -> Result<(), CatalogueError> {
        sqlx::query("UPDATE copy_requests SET copy_sha256 = $2, copy_size_bytes = $3, copy_made_at = $4, copy_failure = NULL, copy_track_sha256 = $5 WHERE id = $1")
            .bind(id)
            .bind(sha256)
            .bind(size_bytes)
            .bind(at)
            .bind(track_sha256)
            .execute(&self.pool)
            .await
            .map_err(err("record copy made"))?;
        Ok(())
    }

    async fn record_copy_failure(&self, id: Uuid, reason: &str) -> Result<(), CatalogueError> {
        sqlx::query(
            "UPDATE copy_requests SET copy_failure = $2 WHERE id = $1 AND copy_sha256 IS NULL",
        )
        .bind(id)
        .bind(reason)
        .execute(&self.pool)
        .await
        .map_err(err("record copy failure"))?;
        Ok(())
    }

    async fn copies_to_make(
        &self,
        decided_before: DateTime<Utc>,
        limit: i64,
    ) -> Result<Vec<CopyRequest>, CatalogueError> {
        let sql = format!(
            "SELECT {COPY_COLUMNS} FROM copy_requests WHERE state = 'approved' AND copy_sha256 IS NULL \
             AND copy_failure IS NULL AND decided_at < $1 ORDER BY decided_at LIMIT $2"
        );
        let rows: Vec<CopyRow> = sqlx::query_as(&sql)
            .bind(decided_before)
            .bind(limit)
            .fetch_all(&self.pool)
            .await
            .map_err(err("copies to make"))?;
        rows.into_iter().map(CopyRequest::try_from).collect()
    }

    async fn copy_requests(
        &self,
        bureau: &BureauId,
        state: Option<custodian_core::copies::CopyState>,
        before: Option<Uuid>,
        limit: i64,
    ) -> Result<Vec<CopyRequest>, CatalogueError> {
        // Ids are v4, so the page order is the time of asking, the id breaking ties.
        let sql = format!(
            "SELECT {COPY_COLUMNS} FROM copy_requests WHERE bureau_id = $1 \
             AND ($2 IS NULL OR state = $2) \
             AND ($3 IS NULL OR (requested_at, id) < (SELECT requested_at, id FROM copy_requests WHERE id = $3)) \
             ORDER BY requested_at DESC, id DESC LIMIT $4"
        );
        let rows: Vec<CopyRow> = sqlx::query_as(&sql)
            .bind(bureau.as_str())
            .bind(state.map(|s| s.as_str()))
            .bind(before)
            .bind(limit)
            .fetch_all(&self.pool)
            .await
            .map_err(err("list copy requests"))?;
        rows.into_iter().map(CopyRequest::try_from).collect()
    }

    async fn copy_requests_of_clip(
        &self,
        clip: ClipId,
    ) -> Result<Vec<CopyRequest>, CatalogueError> {
        let sql = format!(
            "SELECT {COPY_COLUMNS} FROM copy_requests WHERE clip_id = $1 ORDER BY requested_at"
        );
        let rows: Vec<CopyRow> = sqlx::query_as(&sql)
            .bind(clip.as_uuid())
            .fetch_all(&self.pool)
            .await
            .map_err(err("copy requests of clip"))?;
        rows.into_iter().map(CopyRequest::try_from).collect()
    }
}
