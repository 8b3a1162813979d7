//! The queries of uploads under way, plain and resumable.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use custodian_core::{BureauId, ClipId, ClipState};

use super::{Adapter, BEGIN_WRITE};
use crate::catalogue::model::{ClipRow, PendingRow, TusRow, CLIP_COLUMNS};
use crate::catalogue::sql::{err, search_text};
use crate::catalogue::{
    CatalogueError, ClipRecord, NewClip, PendingUpload, TusProgress, TusUpload, UploadRepo,
};

fn to_i64(operation: &'static str, value: u64) -> Result<i64, CatalogueError> {
    i64::try_from(value).map_err(|e| CatalogueError::Query {
        operation,
        message: e.to_string(),
    })
}

fn parts_json(parts: &[crate::blob::StoredPart]) -> Result<String, CatalogueError> {
    serde_json::to_string(parts).map_err(|e| CatalogueError::Query {
        operation: "encode parts",
        message: e.to_string(),
    })
}

#[async_trait]
impl UploadRepo for Adapter {
    async fn begin_upload(&self, upload: &PendingUpload) -> Result<(), CatalogueError> {
        sqlx::query("INSERT INTO pending_uploads (clip_id, bureau_id, object_key, started_at) VALUES ($1, $2, $3, $4)")
            .bind(upload.clip.as_uuid())
            .bind(upload.bureau.as_str())
            .bind(&upload.object_key)
            .bind(upload.started_at)
            .execute(&self.pool)
            .await
            .map_err(err("begin upload"))?;
        Ok(())
    }

    async fn record_clip(&self, clip: &NewClip) -> Result<ClipRecord, CatalogueError> {
        let mut tx = self
            .pool
            .begin_with(BEGIN_WRITE)
            .await
            .map_err(err("record clip"))?;
        let sql = format!(
            "INSERT INTO clips (id, bureau_id, device_id, officer_id, recorded_at, original_name, case_ref, object_key, \
             size_bytes, sha256, state, state_changed_at, received_at, place, latitude, longitude, search_text, location_source, \
             team, device_registered, returned_at, late_reason, uploaded_by) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, \
             (SELECT team FROM devices WHERE bureau_id = $2 AND device_id = $3), \
             EXISTS (SELECT 1 FROM devices WHERE bureau_id = $2 AND device_id = $3), $19, $20, $21) RETURNING {CLIP_COLUMNS}"
        );
        let row: ClipRow = sqlx::query_as(&sql)
            .bind(clip.id.as_uuid())
            .bind(clip.meta.bureau.as_str())
            .bind(clip.meta.device.as_str())
            .bind(clip.meta.officer.as_str())
            .bind(clip.meta.recorded_at)
            .bind(&clip.meta.original_name)
            .bind(clip.meta.case_ref.as_deref())
            .bind(&clip.object_key)
            .bind(
                i64::try_from(clip.size_bytes).map_err(|e| CatalogueError::Query {
                    operation: "record clip",
                    message: e.to_string(),
                })?,
            )
            .bind(clip.sha256.to_hex())
            .bind(ClipState::Stored.as_str())
            .bind(clip.received_at)
            .bind(clip.received_at)
            .bind(clip.meta.place.as_deref())
            .bind(clip.meta.coordinates.map(|c| c.latitude))
            .bind(clip.meta.coordinates.map(|c| c.longitude))
            .bind(search_text(&[
                Some(clip.meta.original_name.as_str()),
                clip.meta.case_ref.as_deref(),
                clip.meta.place.as_deref(),
            ]))
            .bind(clip.meta.coordinates.map(|_| "declared"))
            .bind(clip.meta.returned_at)
            .bind(clip.meta.late_reason.as_deref())
            .bind(&clip.uploaded_by)
            .fetch_one(&mut *tx)
            .await
            .map_err(err("record clip"))?;
        sqlx::query("INSERT INTO clip_transitions (clip_id, from_state, to_state, at, reason) VALUES ($1, NULL, $2, $3, $4)")
            .bind(clip.id.as_uuid())
            .bind(ClipState::Stored.as_str())
            .bind(clip.received_at)
            .bind("original stored and verified")
            .execute(&mut *tx)
            .await
            .map_err(err("record clip"))?;
        let claimed = sqlx::query("DELETE FROM pending_uploads WHERE clip_id = $1")
            .bind(clip.id.as_uuid())
            .execute(&mut *tx)
            .await
            .map_err(err("record clip"))?
            .rows_affected();
        sqlx::query("DELETE FROM tus_uploads WHERE clip_id = $1")
            .bind(clip.id.as_uuid())
            .execute(&mut *tx)
            .await
            .map_err(err("record clip"))?;
        if claimed != 1 {
            // The janitor reclaimed this upload as abandoned and may be deleting its
            // object: recording it now would point the catalogue at nothing.
            return Err(CatalogueError::Conflict {
                operation: "record clip",
                message: format!("upload {} is no longer pending", clip.id),
            });
        }
        tx.commit().await.map_err(err("record clip"))?;
        ClipRecord::try_from(row)
    }

    async fn forget_upload(&self, clip: ClipId) -> Result<bool, CatalogueError> {
        let removed = sqlx::query("DELETE FROM pending_uploads WHERE clip_id = $1")
            .bind(clip.as_uuid())
            .execute(&self.pool)
            .await
            .map_err(err("forget upload"))?
            .rows_affected();
        Ok(removed == 1)
    }

    async fn stale_uploads(
        &self,
        started_before: DateTime<Utc>,
        limit: i64,
    ) -> Result<Vec<PendingUpload>, CatalogueError> {
        let rows: Vec<PendingRow> = sqlx::query_as(
            "SELECT clip_id, bureau_id, object_key, started_at FROM pending_uploads WHERE started_at < $1 ORDER BY started_at LIMIT $2",
        )
        .bind(started_before)
        .bind(limit)
        .fetch_all(&self.pool)
        .await
        .map_err(err("stale uploads"))?;
        rows.into_iter().map(PendingUpload::try_from).collect()
    }

    async fn create_tus_upload(&self, upload: &TusUpload) -> Result<(), CatalogueError> {
        let mut tx = self
            .pool
            .begin_with(BEGIN_WRITE)
            .await
            .map_err(err("create tus upload"))?;
        sqlx::query("INSERT INTO pending_uploads (clip_id, bureau_id, object_key, started_at) VALUES ($1, $2, $3, $4)")
            .bind(upload.clip.as_uuid())
            .bind(upload.bureau.as_str())
            .bind(&upload.object_key)
            .bind(upload.created_at)
            .execute(&mut *tx)
            .await
            .map_err(err("create tus upload"))?;
        let progress = &upload.progress;
        sqlx::query(
            "INSERT INTO tus_uploads (clip_id, bureau_id, upload_length, upload_offset, metadata, object_key, multipart_id, \
             parts, hash_state, tail, created_at, expires_at, created_by) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)",
        )
        .bind(upload.clip.as_uuid())
        .bind(upload.bureau.as_str())
        .bind(to_i64("create tus upload", upload.length)?)
        .bind(to_i64("create tus upload", progress.offset)?)
        .bind(&upload.metadata)
        .bind(&upload.object_key)
        .bind(&upload.multipart_id)
        .bind(parts_json(&progress.parts)?)
        .bind(&progress.hash_state)
        .bind(&progress.tail)
        .bind(upload.created_at)
        .bind(upload.expires_at)
        .bind(&upload.created_by)
        .execute(&mut *tx)
        .await
        .map_err(err("create tus upload"))?;
        tx.commit().await.map_err(err("create tus upload"))
    }

    async fn open_tus_uploads_by(&self, person: &str) -> Result<(u64, u64), CatalogueError> {
        let (open, bytes): (i64, Option<i64>) = sqlx::query_as(
            "SELECT COUNT(*), CAST(SUM(upload_length) AS BIGINT) FROM tus_uploads WHERE created_by = $1",
        )
        .bind(person)
        .fetch_one(&self.pool)
        .await
        .map_err(err("open tus uploads"))?;
        Ok((open.max(0) as u64, bytes.unwrap_or(0).max(0) as u64))
    }

    async fn tus_upload(
        &self,
        bureau: &BureauId,
        clip: ClipId,
    ) -> Result<Option<TusUpload>, CatalogueError> {
        let row: Option<TusRow> = sqlx::query_as(
            "SELECT clip_id, bureau_id, upload_length, upload_offset, metadata, object_key, multipart_id, parts, \
             hash_state, tail, created_at, expires_at, created_by FROM tus_uploads WHERE clip_id = $1 AND bureau_id = $2",
        )
        .bind(clip.as_uuid())
        .bind(bureau.as_str())
        .fetch_optional(&self.pool)
        .await
        .map_err(err("tus upload"))?;
        row.map(TusUpload::try_from).transpose()
    }

    async fn save_tus_progress(
        &self,
        clip: ClipId,
        from_offset: u64,
        progress: &TusProgress,
    ) -> Result<bool, CatalogueError> {
        let updated = sqlx::query(
            "UPDATE tus_uploads SET upload_offset = $1, parts = $2, hash_state = $3, tail = $4 \
             WHERE clip_id = $5 AND upload_offset = $6",
        )
        .bind(to_i64("save tus progress", progress.offset)?)
        .bind(parts_json(&progress.parts)?)
        .bind(&progress.hash_state)
        .bind(&progress.tail)
        .bind(clip.as_uuid())
        .bind(to_i64("save tus progress", from_offset)?)
        .execute(&self.pool)
        .await
        .map_err(err("save tus progress"))?
        .rows_affected();
        Ok(updated == 1)
    }

    async fn forget_tus_upload(&self, clip: ClipId) -> Result<bool, CatalogueError> {
        let removed = sqlx::query("DELETE FROM tus_uploads WHERE clip_id = $1")
            .bind(clip.as_uuid())
            .execute(&self.pool)
            .await
            .map_err(err("forget tus upload"))?
            .rows_affected();
        Ok(removed == 1)
    }
}
