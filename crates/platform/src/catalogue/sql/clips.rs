//! The queries of clips, their state, classification, media, findings and tracks.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use custodian_core::classification::Classification;
use custodian_core::deadlines::DeadlineKind;
use custodian_core::{BureauId, ClipId, ClipState, LocalId};
use uuid::Uuid;

use super::{Adapter, Db, BEGIN_WRITE};
use crate::catalogue::model::{
    decode_fingerprint, decode_sound_fingerprint, encode_fingerprint, encode_sound_fingerprint,
    ClassificationRow, ClipRow, FindingRow, MediaRow, TransitionRow, CLIP_COLUMNS,
};
use crate::catalogue::sql::{contains_pattern, err, rows_to_clips, search_text};
use crate::catalogue::{
    CatalogueError, ClassificationEntry, ClipFilter, ClipMedia, ClipRecord, ClipRepo, ClipSchedule,
    Finding, MediaFacts, NewFinding, Rendition, TrackVersion, Transition,
};

impl Adapter {
    /// Moves a clip from `from` to `to` inside `tx` if it is still in `from`, and keeps
    /// the move in its history.
    /// Creates the clip's media row if needed and fills in what was measured; a fact
    /// another worker already recorded is kept when this one does not know it.
    /// A bureau's stored prints of one kind (`column` of clip_media: the picture's or the
    /// sound's), of records not purged, newest first.
    async fn stored_prints(
        &self,
        column: &'static str,
        bureau: &BureauId,
        limit: i64,
    ) -> Result<Vec<(Uuid, Vec<u8>)>, CatalogueError> {
        let sql = format!(
            "SELECT m.clip_id, m.{column} FROM clip_media m JOIN clips c ON c.id = m.clip_id \
             WHERE c.bureau_id = $1 AND m.{column} IS NOT NULL AND c.purged_at IS NULL ORDER BY m.clip_id DESC LIMIT $2"
        );
        sqlx::query_as(&sql)
            .bind(bureau.as_str())
            .bind(limit)
            .fetch_all(&self.pool)
            .await
            .map_err(err(column))
    }

    async fn upsert_facts(
        tx: &mut sqlx::Transaction<'_, Db>,
        id: ClipId,
        facts: &MediaFacts,
    ) -> Result<(), CatalogueError> {
        sqlx::query(
            "INSERT INTO clip_media (clip_id, container, duration_seconds, width, height, video_codec, audio_codec, frame_rate, rotation, creation_time, \
             time_source, file_latitude, file_longitude, audio_channels, audio_sample_rate, page_count) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16) \
             ON CONFLICT (clip_id) DO UPDATE SET container = COALESCE(excluded.container, clip_media.container), \
             duration_seconds = COALESCE(excluded.duration_seconds, clip_media.duration_seconds), \
             width = COALESCE(excluded.width, clip_media.width), height = COALESCE(excluded.height, clip_media.height), \
             video_codec = COALESCE(excluded.video_codec, clip_media.video_codec), \
             audio_codec = COALESCE(excluded.audio_codec, clip_media.audio_codec), \
             frame_rate = COALESCE(excluded.frame_rate, clip_media.frame_rate), \
             rotation = COALESCE(excluded.rotation, clip_media.rotation), \
             creation_time = COALESCE(excluded.creation_time, clip_media.creation_time), \
             time_source = COALESCE(excluded.time_source, clip_media.time_source), \
             file_latitude = COALESCE(excluded.file_latitude, clip_media.file_latitude), \
             file_longitude = COALESCE(excluded.file_longitude, clip_media.file_longitude), \
             audio_channels = COALESCE(excluded.audio_channels, clip_media.audio_channels), \
             audio_sample_rate = COALESCE(excluded.audio_sample_rate, clip_media.audio_sample_rate), \
             page_count = COALESCE(excluded.page_count, clip_media.page_count)",
        )
        .bind(id.as_uuid())
        .bind(&facts.container)
        .bind(facts.duration_seconds)
        .bind(facts.width.map(|w| w as i32))
        .bind(facts.height.map(|h| h as i32))
        .bind(&facts.video_codec)
        .bind(&facts.audio_codec)
        .bind(facts.frame_rate)
        .bind(facts.rotation.map(|r| r as i32))
        .bind(facts.creation_time)
        .bind(&facts.time_source)
        .bind(facts.file_latitude)
        .bind(facts.file_longitude)
        .bind(facts.audio_channels.map(|c| c as i32))
        .bind(facts.audio_sample_rate.map(|r| r as i32))
        .bind(facts.page_count.map(|p| p as i32))
        .execute(&mut **tx)
        .await
        .map_err(err("record media facts"))?;
        // What the file is; a record given a document type stays a document (a scanned page).
        if let Some(kind) = facts.kind {
            sqlx::query(
                "UPDATE clips SET kind = CASE WHEN document_type IS NULL THEN $2 ELSE 'document' END WHERE id = $1",
            )
            .bind(id.as_uuid())
            .bind(kind.as_str())
            .execute(&mut **tx)
            .await
            .map_err(err("record the record's kind"))?;
        }
        if let Some(items) = &facts.sound_fingerprint {
            sqlx::query("UPDATE clip_media SET sound_fingerprint = $2 WHERE clip_id = $1")
                .bind(id.as_uuid())
                .bind(encode_sound_fingerprint(items))
                .execute(&mut **tx)
                .await
                .map_err(err("record the sound fingerprint"))?;
        }
        if let Some(text) = &facts.content_text {
            sqlx::query("UPDATE clips SET content_text = $2 WHERE id = $1")
                .bind(id.as_uuid())
                .bind(text.to_lowercase())
                .execute(&mut **tx)
                .await
                .map_err(err("record the document's text"))?;
        }
        // Where the file says it was recorded places a clip the upload did not place,
        // so a search by area finds it; a declared place always wins.
        if let (Some(latitude), Some(longitude)) = (facts.file_latitude, facts.file_longitude) {
            sqlx::query(
                "UPDATE clips SET latitude = $2, longitude = $3, location_source = 'file' \
                 WHERE id = $1 AND latitude IS NULL AND longitude IS NULL",
            )
            .bind(id.as_uuid())
            .bind(latitude)
            .bind(longitude)
            .execute(&mut **tx)
            .await
            .map_err(err("record the file's location"))?;
        }
        Ok(())
    }

    async fn transition_in(
        tx: &mut sqlx::Transaction<'_, Db>,
        id: ClipId,
        from: ClipState,
        to: ClipState,
        at: DateTime<Utc>,
        reason: Option<&str>,
    ) -> Result<bool, CatalogueError> {
        from.check_transition(to)
            .map_err(|e| CatalogueError::Query {
                operation: "transition",
                message: e.to_string(),
            })?;
        let failure = if to == ClipState::Failed {
            reason
        } else {
            None
        };
        let moved = sqlx::query("UPDATE clips SET state = $1, state_changed_at = $2, failure_reason = $3 WHERE id = $4 AND state = $5")
            .bind(to.as_str())
            .bind(at)
            .bind(failure)
            .bind(id.as_uuid())
            .bind(from.as_str())
            .execute(&mut **tx)
            .await
            .map_err(err("transition"))?
            .rows_affected()
            == 1;
        if moved {
            sqlx::query("INSERT INTO clip_transitions (clip_id, from_state, to_state, at, reason) VALUES ($1, $2, $3, $4, $5)")
                .bind(id.as_uuid())
                .bind(from.as_str())
                .bind(to.as_str())
                .bind(at)
                .bind(reason)
                .execute(&mut **tx)
                .await
                .map_err(err("transition"))?;
        }
        Ok(moved)
    }

    /// A transition plus one more update of the clip, atomically.
    pub(in crate::catalogue::sql) async fn transition_and<'q>(
        &self,
        id: ClipId,
        (from, to): (ClipState, ClipState),
        at: DateTime<Utc>,
        reason: Option<&str>,
        also: sqlx::query::Query<'q, Db, <Db as sqlx::Database>::Arguments<'q>>,
    ) -> Result<bool, CatalogueError> {
        let mut tx = self
            .pool
            .begin_with(BEGIN_WRITE)
            .await
            .map_err(err("transition"))?;
        let moved = Self::transition_in(&mut tx, id, from, to, at, reason).await?;
        if moved {
            also.execute(&mut *tx).await.map_err(err("transition"))?;
        }
        tx.commit().await.map_err(err("transition"))?;
        Ok(moved)
    }

    /// The query behind `list_clips`, after `select` (the columns, or EXPLAIN).
    pub(in crate::catalogue::sql) fn list_query<'a>(
        select: &str,
        bureau: &'a BureauId,
        filter: &'a ClipFilter,
        limit: i64,
    ) -> sqlx::QueryBuilder<'a, Db> {
        let mut query = sqlx::QueryBuilder::<Db>::new(format!("{select} WHERE bureau_id = "));
        query.push_bind(bureau.as_str());
        if let Some(device) = &filter.device {
            query.push(" AND device_id = ").push_bind(device.clone());
        }
        if let Some(officer) = &filter.officer {
            query.push(" AND officer_id = ").push_bind(officer.clone());
        }
        if let Some(state) = filter.state {
            query.push(" AND state = ").push_bind(state.as_str());
        }
        if let Some(case_ref) = &filter.case_ref {
            query.push(" AND case_ref = ").push_bind(case_ref.clone());
        }
        if let Some(from) = filter.recorded_from {
            query.push(" AND recorded_at >= ").push_bind(from);
        }
        if let Some(to) = filter.recorded_to {
            query.push(" AND recorded_at < ").push_bind(to);
        }
        if let Some(category) = &filter.category {
            query.push(" AND category = ").push_bind(category.clone());
        }
        if let Some(case_id) = filter.case_id {
            query
                .push(" AND id IN (SELECT clip_id FROM case_clips WHERE case_id = ")
                .push_bind(case_id)
                .push(")");
        }
        if let Some(bbox) = filter.within {
            query
                .push(" AND latitude BETWEEN ")
                .push_bind(bbox.min_lat)
                .push(" AND ")
                .push_bind(bbox.max_lat);
            query
                .push(" AND longitude BETWEEN ")
                .push_bind(bbox.min_lon)
                .push(" AND ")
                .push_bind(bbox.max_lon);
        }
        if let Some(text) = &filter.text {
            // A document's text is kept apart from the record's own words (which classifying
            // rewrites) and searched as well.
            let pattern = contains_pattern(text);
            query
                .push(" AND (search_text LIKE ")
                .push_bind(pattern.clone())
                .push(" ESCAPE '\\' OR content_text LIKE ")
                .push_bind(pattern)
                .push(" ESCAPE '\\')");
        }
        if let Some(kind) = filter.kind {
            query.push(" AND kind = ").push_bind(kind.as_str());
        }
        if let Some(document_type) = &filter.document_type {
            query
                .push(" AND document_type = ")
                .push_bind(document_type.clone());
        }
        if let Some(important) = filter.important {
            query.push(" AND important = ").push_bind(important);
        }
        match filter.classified {
            Some(true) => {
                query.push(" AND classified_at IS NOT NULL");
            }
            Some(false) => {
                query.push(" AND classified_at IS NULL");
            }
            None => {}
        }
        if let Some(at) = filter.classification_overdue_at {
            query
                .push(" AND classified_at IS NULL AND classify_due_at <= ")
                .push_bind(at);
        }
        if let Some(levels) = &filter.visible {
            query.push(" AND confidentiality IN (");
            let mut separated = query.separated(", ");
            for level in levels {
                separated.push_bind(level.as_str());
            }
            separated.push_unseparated(")");
            if levels.is_empty() {
                query.push(" AND FALSE");
            }
        }
        if let Some(registered) = filter.device_registered {
            query
                .push(" AND device_registered = ")
                .push_bind(registered);
        }
        if let Some(severity) = &filter.finding_severity {
            query
                .push(" AND id IN (SELECT clip_id FROM findings WHERE severity = ")
                .push_bind(severity.clone())
                .push(")");
        }
        if let Some(before) = filter.before {
            query.push(" AND id < ").push_bind(before.as_uuid());
        }
        query.push(" ORDER BY id DESC LIMIT ").push_bind(limit);
        query
    }
}

#[async_trait]
impl ClipRepo for Adapter {
    async fn clip(
        &self,
        bureau: &BureauId,
        id: ClipId,
    ) -> Result<Option<ClipRecord>, CatalogueError> {
        let sql = format!("SELECT {CLIP_COLUMNS} FROM clips WHERE id = $1 AND bureau_id = $2");
        let row: Option<ClipRow> = sqlx::query_as(&sql)
            .bind(id.as_uuid())
            .bind(bureau.as_str())
            .fetch_optional(&self.pool)
            .await
            .map_err(err("get clip"))?;
        row.map(ClipRecord::try_from).transpose()
    }

    async fn clip_for_worker(&self, id: ClipId) -> Result<Option<ClipRecord>, CatalogueError> {
        let sql = format!("SELECT {CLIP_COLUMNS} FROM clips WHERE id = $1");
        let row: Option<ClipRow> = sqlx::query_as(&sql)
            .bind(id.as_uuid())
            .fetch_optional(&self.pool)
            .await
            .map_err(err("get clip"))?;
        row.map(ClipRecord::try_from).transpose()
    }

    async fn list_clips(
        &self,
        bureau: &BureauId,
        filter: &ClipFilter,
        limit: i64,
    ) -> Result<Vec<ClipRecord>, CatalogueError> {
        let mut query = Self::list_query(
            &format!("SELECT {CLIP_COLUMNS} FROM clips"),
            bureau,
            filter,
            limit,
        );
        let rows: Vec<ClipRow> = query
            .build_query_as()
            .fetch_all(&self.pool)
            .await
            .map_err(err("list clips"))?;
        rows_to_clips(rows)
    }

    async fn transition(
        &self,
        id: ClipId,
        from: ClipState,
        to: ClipState,
        at: DateTime<Utc>,
        reason: Option<&str>,
    ) -> Result<bool, CatalogueError> {
        let mut tx = self
            .pool
            .begin_with(BEGIN_WRITE)
            .await
            .map_err(err("transition"))?;
        let moved = Self::transition_in(&mut tx, id, from, to, at, reason).await?;
        tx.commit().await.map_err(err("transition"))?;
        Ok(moved)
    }

    async fn transitions(&self, id: ClipId) -> Result<Vec<Transition>, CatalogueError> {
        let rows: Vec<TransitionRow> =
            sqlx::query_as("SELECT from_state, to_state, at, reason FROM clip_transitions WHERE clip_id = $1 ORDER BY id")
                .bind(id.as_uuid())
                .fetch_all(&self.pool)
                .await
                .map_err(err("transitions"))?;
        let bad = |e: custodian_core::TransitionError| CatalogueError::Corrupt {
            detail: format!("transition of {id}: {e}"),
        };
        rows.into_iter()
            .map(|row| {
                Ok(Transition {
                    from: row.from_state.map(|s| s.parse()).transpose().map_err(bad)?,
                    to: row.to_state.parse().map_err(bad)?,
                    at: row.at,
                    reason: row.reason,
                })
            })
            .collect()
    }

    async fn stuck_clips(
        &self,
        state: ClipState,
        changed_before: DateTime<Utc>,
        limit: i64,
    ) -> Result<Vec<ClipRecord>, CatalogueError> {
        let sql = format!(
            "SELECT {CLIP_COLUMNS} FROM clips WHERE state = $1 AND state_changed_at < $2 \
             AND (nudged_at IS NULL OR nudged_at < $2) ORDER BY state_changed_at LIMIT $3"
        );
        let rows: Vec<ClipRow> = sqlx::query_as(&sql)
            .bind(state.as_str())
            .bind(changed_before)
            .bind(limit)
            .fetch_all(&self.pool)
            .await
            .map_err(err("stuck clips"))?;
        rows_to_clips(rows)
    }

    async fn next_publish_round(
        &self,
        id: ClipId,
        at: DateTime<Utc>,
    ) -> Result<u32, CatalogueError> {
        // nudged_at restarts the clip's stuck clock, so one stuck clip is re-published
        // once per threshold, not on every reconciler pass.
        let round: i32 = sqlx::query_scalar(
            "UPDATE clips SET publish_round = publish_round + 1, nudged_at = $2 WHERE id = $1 RETURNING publish_round",
        )
        .bind(id.as_uuid())
        .bind(at)
        .fetch_one(&self.pool)
        .await
        .map_err(err("next publish round"))?;
        u32::try_from(round).map_err(|e| CatalogueError::Corrupt {
            detail: format!("publish round of {id}: {e}"),
        })
    }

    async fn set_schedule(
        &self,
        id: ClipId,
        canonical_name: &str,
        schedule: &ClipSchedule,
    ) -> Result<(), CatalogueError> {
        sqlx::query(
            "UPDATE clips SET canonical_name = COALESCE(canonical_name, $2), upload_due_at = $3, upload_hard_due_at = $4, \
             classify_due_at = $5, calendar_complete = $6, search_text = search_text || ' ' || $7 WHERE id = $1 AND upload_due_at IS NULL",
        )
        .bind(id.as_uuid())
        .bind(canonical_name)
        .bind(schedule.upload_due)
        .bind(schedule.upload_hard_due)
        .bind(schedule.classify_due)
        .bind(schedule.calendar_complete)
        .bind(canonical_name.to_lowercase())
        .execute(&self.pool)
        .await
        .map_err(err("set schedule"))?;
        Ok(())
    }

    async fn move_upload_due(
        &self,
        id: ClipId,
        was: DateTime<Utc>,
        upload_due: DateTime<Utc>,
        upload_hard_due: DateTime<Utc>,
    ) -> Result<bool, CatalogueError> {
        let moved = sqlx::query("UPDATE clips SET upload_due_at = $2, upload_hard_due_at = $3 WHERE id = $1 AND upload_due_at = $4")
            .bind(id.as_uuid())
            .bind(upload_due)
            .bind(upload_hard_due)
            .bind(was)
            .execute(&self.pool)
            .await
            .map_err(err("move upload deadlines"))?
            .rows_affected();
        Ok(moved == 1)
    }

    async fn overdue_counts(
        &self,
        now: DateTime<Utc>,
    ) -> Result<Vec<(BureauId, DeadlineKind, i64)>, CatalogueError> {
        let since = now - chrono::Duration::days(30);
        let queries = [
            (DeadlineKind::Classification, "SELECT bureau_id, COUNT(*) FROM clips WHERE classified_at IS NULL AND classify_due_at <= $1 GROUP BY bureau_id"),
            (DeadlineKind::CaseFiling, "SELECT bureau_id, COUNT(*) FROM cases WHERE state = 'closed' AND filing_due_at <= $1 GROUP BY bureau_id"),
            // A special circumstance recorded with the upload excuses the 24 hours within
            // the 3 working days (art. 16).
            (
                DeadlineKind::Upload24Hours,
                "SELECT bureau_id, COUNT(*) FROM clips WHERE received_at >= $1 AND received_at >= upload_due_at \
                 AND NOT (late_reason IS NOT NULL AND received_at < upload_hard_due_at) GROUP BY bureau_id",
            ),
            (DeadlineKind::Upload3WorkingDays, "SELECT bureau_id, COUNT(*) FROM clips WHERE received_at >= $1 AND received_at >= upload_hard_due_at GROUP BY bureau_id"),
        ];
        let mut counts = Vec::new();
        for (kind, sql) in queries {
            // Open deadlines count up to now; late uploads over the last 30 days.
            let bound = if matches!(
                kind,
                DeadlineKind::Classification | DeadlineKind::CaseFiling
            ) {
                now
            } else {
                since
            };
            let rows: Vec<(String, i64)> = sqlx::query_as(sql)
                .bind(bound)
                .fetch_all(&self.pool)
                .await
                .map_err(err("overdue counts"))?;
            for (bureau, count) in rows {
                let bureau = BureauId::parse(&bureau).map_err(|e| CatalogueError::Corrupt {
                    detail: format!("bureau: {e}"),
                })?;
                counts.push((bureau, kind, count));
            }
        }
        Ok(counts)
    }

    async fn classify(
        &self,
        bureau: &BureauId,
        id: ClipId,
        c: &Classification,
        canonical_name: &str,
        by: &str,
        at: DateTime<Utc>,
    ) -> Result<bool, CatalogueError> {
        let mut tx = self
            .pool
            .begin_with(BEGIN_WRITE)
            .await
            .map_err(err("classify"))?;
        let found: Option<(String, Option<String>, Option<String>)> = sqlx::query_as(
            "SELECT original_name, case_ref, place FROM clips WHERE id = $1 AND bureau_id = $2",
        )
        .bind(id.as_uuid())
        .bind(bureau.as_str())
        .fetch_optional(&mut *tx)
        .await
        .map_err(err("classify"))?;
        let Some((original, case_ref, place)) = found else {
            return Ok(false);
        };
        let text = search_text(&[
            Some(canonical_name),
            Some(c.description.as_str()),
            c.place.as_deref().or(place.as_deref()),
            Some(original.as_str()),
            Some(c.category.as_str()),
            case_ref.as_deref(),
            c.matter.as_deref(),
            c.party.as_deref(),
        ]);
        sqlx::query(
            "UPDATE clips SET category = $2, description = $3, place = COALESCE($4, place), important = $5, canonical_name = $6, \
             classified_at = COALESCE(classified_at, $7), classified_by = COALESCE(classified_by, $8), search_text = $9, \
             matter = $10, party = $11 WHERE id = $1",
        )
        .bind(id.as_uuid())
        .bind(&c.category)
        .bind(&c.description)
        .bind(c.place.as_deref())
        .bind(c.important)
        .bind(canonical_name)
        .bind(at)
        .bind(by)
        .bind(text)
        .bind(c.matter.as_deref())
        .bind(c.party.as_deref())
        .execute(&mut *tx)
        .await
        .map_err(err("classify"))?;
        sqlx::query(
            "INSERT INTO classifications (clip_id, at, by_whom, category, description, place, important, canonical_name, matter, party) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)",
        )
        .bind(id.as_uuid())
        .bind(at)
        .bind(by)
        .bind(&c.category)
        .bind(&c.description)
        .bind(c.place.as_deref())
        .bind(c.important)
        .bind(canonical_name)
        .bind(c.matter.as_deref())
        .bind(c.party.as_deref())
        .execute(&mut *tx)
        .await
        .map_err(err("classify"))?;
        tx.commit().await.map_err(err("classify"))?;
        Ok(true)
    }

    async fn classifications(
        &self,
        id: ClipId,
    ) -> Result<Vec<ClassificationEntry>, CatalogueError> {
        let rows: Vec<ClassificationRow> = sqlx::query_as(
            "SELECT at, by_whom, category, description, place, important, canonical_name, matter, party FROM classifications WHERE clip_id = $1 ORDER BY id",
        )
        .bind(id.as_uuid())
        .fetch_all(&self.pool)
        .await
        .map_err(err("classifications"))?;
        Ok(rows.into_iter().map(ClassificationEntry::from).collect())
    }

    async fn set_document_type(
        &self,
        bureau: &BureauId,
        id: ClipId,
        document_type: &str,
    ) -> Result<bool, CatalogueError> {
        let changed = sqlx::query(
            "UPDATE clips SET document_type = $3, kind = 'document' WHERE id = $1 AND bureau_id = $2",
        )
        .bind(id.as_uuid())
        .bind(bureau.as_str())
        .bind(document_type)
        .execute(&self.pool)
        .await
        .map_err(err("set document type"))?
        .rows_affected();
        Ok(changed == 1)
    }

    async fn set_confidentiality(
        &self,
        bureau: &BureauId,
        id: ClipId,
        level: custodian_core::roles::Confidentiality,
    ) -> Result<bool, CatalogueError> {
        let changed =
            sqlx::query("UPDATE clips SET confidentiality = $3 WHERE id = $1 AND bureau_id = $2")
                .bind(id.as_uuid())
                .bind(bureau.as_str())
                .bind(level.as_str())
                .execute(&self.pool)
                .await
                .map_err(err("set confidentiality"))?
                .rows_affected();
        Ok(changed == 1)
    }

    async fn add_finding(
        &self,
        id: ClipId,
        kind: &str,
        severity: &str,
        detail: &str,
        at: DateTime<Utc>,
    ) -> Result<(), CatalogueError> {
        sqlx::query("INSERT INTO findings (clip_id, at, kind, severity, detail) VALUES ($1, $2, $3, $4, $5)")
            .bind(id.as_uuid())
            .bind(at)
            .bind(kind)
            .bind(severity)
            .bind(detail)
            .execute(&self.pool)
            .await
            .map_err(err("add finding"))?;
        Ok(())
    }

    async fn findings(&self, id: ClipId) -> Result<Vec<Finding>, CatalogueError> {
        let rows: Vec<FindingRow> = sqlx::query_as("SELECT at, kind, severity, detail, position_seconds, size_seconds FROM findings WHERE clip_id = $1 ORDER BY id")
            .bind(id.as_uuid())
            .fetch_all(&self.pool)
            .await
            .map_err(err("findings"))?;
        Ok(rows.into_iter().map(Finding::from).collect())
    }

    async fn record_transcode(
        &self,
        id: ClipId,
        facts: &MediaFacts,
        rendition: &Rendition,
        at: DateTime<Utc>,
    ) -> Result<(), CatalogueError> {
        let mut tx = self
            .pool
            .begin_with(BEGIN_WRITE)
            .await
            .map_err(err("record transcode"))?;
        Self::upsert_facts(&mut tx, id, facts).await?;
        sqlx::query(
            "UPDATE clip_media SET view_key = $2, subtitles_key = $3, poster_key = $4, view_size_bytes = $5, transcoded_at = $6, \
             track_sha256 = $7 WHERE clip_id = $1",
        )
        .bind(id.as_uuid())
        .bind(&rendition.view_key)
        .bind(&rendition.subtitles_key)
        .bind(&rendition.poster_key)
        .bind(i64::try_from(rendition.view_size_bytes).unwrap_or(i64::MAX))
        .bind(at)
        .bind(&rendition.track_sha256)
        .execute(&mut *tx)
        .await
        .map_err(err("record transcode"))?;
        tx.commit().await.map_err(err("record transcode"))?;
        Ok(())
    }

    async fn record_fingerprint(
        &self,
        id: ClipId,
        facts: &MediaFacts,
        hashes: &[u64],
        findings: &[NewFinding],
        at: DateTime<Utc>,
    ) -> Result<(), CatalogueError> {
        let mut tx = self
            .pool
            .begin_with(BEGIN_WRITE)
            .await
            .map_err(err("record fingerprint"))?;
        Self::upsert_facts(&mut tx, id, facts).await?;
        sqlx::query(
            "UPDATE clip_media SET fingerprint = $2, fingerprinted_at = $3 WHERE clip_id = $1",
        )
        .bind(id.as_uuid())
        .bind(encode_fingerprint(hashes))
        .bind(at)
        .execute(&mut *tx)
        .await
        .map_err(err("record fingerprint"))?;
        sqlx::query("DELETE FROM findings WHERE clip_id = $1 AND source = 'fingerprinter'")
            .bind(id.as_uuid())
            .execute(&mut *tx)
            .await
            .map_err(err("record fingerprint"))?;
        for finding in findings {
            sqlx::query(
                "INSERT INTO findings (clip_id, at, kind, severity, detail, position_seconds, size_seconds, source) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7, 'fingerprinter')",
            )
            .bind(id.as_uuid())
            .bind(at)
            .bind(&finding.kind)
            .bind(&finding.severity)
            .bind(&finding.detail)
            .bind(finding.position_seconds)
            .bind(finding.size_seconds)
            .execute(&mut *tx)
            .await
            .map_err(err("record fingerprint"))?;
        }
        tx.commit().await.map_err(err("record fingerprint"))?;
        Ok(())
    }

    async fn clear_transcode(&self, id: ClipId) -> Result<(), CatalogueError> {
        sqlx::query("UPDATE clip_media SET transcoded_at = NULL WHERE clip_id = $1")
            .bind(id.as_uuid())
            .execute(&self.pool)
            .await
            .map_err(err("clear transcode"))?;
        Ok(())
    }

    async fn clip_media(&self, id: ClipId) -> Result<Option<ClipMedia>, CatalogueError> {
        let row: Option<MediaRow> = sqlx::query_as(
            "SELECT container, duration_seconds, width, height, video_codec, audio_codec, frame_rate, rotation, creation_time, \
             time_source, file_latitude, file_longitude, audio_channels, audio_sample_rate, page_count, view_key, subtitles_key, poster_key, \
             view_size_bytes, transcoded_at, fingerprint, fingerprinted_at, track_sha256 FROM clip_media WHERE clip_id = $1",
        )
        .bind(id.as_uuid())
        .fetch_optional(&self.pool)
        .await
        .map_err(err("clip media"))?;
        Ok(row.map(ClipMedia::from))
    }

    async fn fingerprints(
        &self,
        bureau: &BureauId,
        limit: i64,
    ) -> Result<Vec<(ClipId, Vec<u64>)>, CatalogueError> {
        let rows = self.stored_prints("fingerprint", bureau, limit).await?;
        Ok(rows
            .into_iter()
            .map(|(id, bytes)| (ClipId::from_uuid(id), decode_fingerprint(&bytes)))
            .collect())
    }

    async fn sound_fingerprints(
        &self,
        bureau: &BureauId,
        limit: i64,
    ) -> Result<Vec<(ClipId, Vec<u32>)>, CatalogueError> {
        let rows = self
            .stored_prints("sound_fingerprint", bureau, limit)
            .await?;
        Ok(rows
            .into_iter()
            .map(|(id, bytes)| (ClipId::from_uuid(id), decode_sound_fingerprint(&bytes)))
            .collect())
    }

    async fn previous_on_device(
        &self,
        bureau: &BureauId,
        device: &LocalId,
        before: DateTime<Utc>,
    ) -> Result<Option<(ClipId, DateTime<Utc>, Option<f64>)>, CatalogueError> {
        let row: Option<(Uuid, DateTime<Utc>, Option<f64>)> = sqlx::query_as(
            "SELECT c.id, c.recorded_at, m.duration_seconds FROM clips c LEFT JOIN clip_media m ON m.clip_id = c.id \
             WHERE c.bureau_id = $1 AND c.device_id = $2 AND c.recorded_at < $3 ORDER BY c.recorded_at DESC LIMIT 1",
        )
        .bind(bureau.as_str())
        .bind(device.as_str())
        .bind(before)
        .fetch_optional(&self.pool)
        .await
        .map_err(err("previous clip of the device"))?;
        Ok(row.map(|(id, at, duration)| (ClipId::from_uuid(id), at, duration)))
    }

    async fn add_track_version(
        &self,
        clip: ClipId,
        version: &TrackVersion,
    ) -> Result<i64, CatalogueError> {
        // The number is the caller's (its blob key carries it); a taken number means
        // another version arrived meanwhile, and the caller tries the next.
        sqlx::query(
            "INSERT INTO clip_tracks (clip_id, version, object_key, sha256, size_bytes, added_at, added_by) \
             VALUES ($1, $2, $3, $4, $5, $6, $7)",
        )
        .bind(clip.as_uuid())
        .bind(version.version)
        .bind(&version.object_key)
        .bind(&version.sha256)
        .bind(version.size_bytes)
        .bind(version.added_at)
        .bind(&version.added_by)
        .execute(&self.pool)
        .await
        .map_err(err("add track version"))?;
        Ok(version.version)
    }

    async fn track_versions(&self, clip: ClipId) -> Result<Vec<TrackVersion>, CatalogueError> {
        let rows: Vec<(i64, String, String, i64, DateTime<Utc>, String)> = sqlx::query_as(
            "SELECT version, object_key, sha256, size_bytes, added_at, added_by FROM clip_tracks WHERE clip_id = $1 ORDER BY version",
        )
        .bind(clip.as_uuid())
        .fetch_all(&self.pool)
        .await
        .map_err(err("track versions"))?;
        Ok(rows
            .into_iter()
            .map(
                |(version, object_key, sha256, size_bytes, added_at, added_by)| TrackVersion {
                    version,
                    object_key,
                    sha256,
                    size_bytes,
                    added_at,
                    added_by,
                },
            )
            .collect())
    }
}
