//! The SQL behind both catalogue adapters. The statements are written once in the dialect
//! SQLite and PostgreSQL share (`$n` parameters, `RETURNING`, `ON CONFLICT`), and the
//! `catalogue_on!` macro instantiates them for each driver; only connecting and migrating
//! differ, and the column types differ in each adapter's migrations.

use std::str::FromStr;
use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use custodian_core::{BureauId, ClipId, ClipState};
use sqlx::postgres::{PgPool, PgPoolOptions};
use sqlx::sqlite::{SqliteConnectOptions, SqlitePool, SqlitePoolOptions};
use uuid::Uuid;

use super::model::{ClipRow, PendingRow, TransitionRow};
use super::{Catalogue, CatalogueError, ClipFilter, ClipRecord, NewClip, PendingUpload, Transition};

const CLIP_COLUMNS: &str = "id, bureau_id, device_id, officer_id, recorded_at, original_name, case_ref, object_key, \
     size_bytes, sha256, state, state_changed_at, received_at, failure_reason, publish_round";

fn err(operation: &'static str) -> impl FnOnce(sqlx::Error) -> CatalogueError {
    move |e| CatalogueError::from_sqlx(operation, e)
}

fn rows_to_clips(rows: Vec<ClipRow>) -> Result<Vec<ClipRecord>, CatalogueError> {
    rows.into_iter().map(ClipRecord::try_from).collect()
}

#[derive(Clone)]
pub struct SqliteCatalogue {
    pool: SqlitePool,
}

impl SqliteCatalogue {
    pub async fn connect(url: &str, max_connections: u32) -> Result<Self, CatalogueError> {
        let options = SqliteConnectOptions::from_str(url)
            .map_err(err("parse sqlite url"))?
            .create_if_missing(true)
            .journal_mode(sqlx::sqlite::SqliteJournalMode::Wal)
            // Evidence records: a commit must survive a power cut, not just a crash.
            .synchronous(sqlx::sqlite::SqliteSynchronous::Full)
            .busy_timeout(Duration::from_secs(5))
            .foreign_keys(true);
        let pool = SqlitePoolOptions::new()
            .max_connections(max_connections.max(1))
            .acquire_timeout(Duration::from_secs(5))
            .connect_with(options)
            .await
            .map_err(err("connect"))?;
        sqlx::migrate!("./migrations/sqlite").run(&pool).await.map_err(|e| CatalogueError::Migration(e.to_string()))?;
        Ok(Self { pool })
    }
}

#[derive(Clone)]
pub struct PostgresCatalogue {
    pool: PgPool,
}

impl PostgresCatalogue {
    pub async fn connect(url: &str, max_connections: u32) -> Result<Self, CatalogueError> {
        let pool = PgPoolOptions::new()
            .max_connections(max_connections.max(1))
            .acquire_timeout(Duration::from_secs(3))
            .connect(url)
            .await
            .map_err(err("connect"))?;
        sqlx::migrate!("./migrations/postgres").run(&pool).await.map_err(|e| CatalogueError::Migration(e.to_string()))?;
        Ok(Self { pool })
    }

    pub fn pool(&self) -> &PgPool {
        &self.pool
    }
}

macro_rules! catalogue_on {
    ($adapter:ty, $db:ty, $kind:literal) => {
        #[async_trait]
        impl Catalogue for $adapter {
            async fn ensure_bureau(&self, bureau: &BureauId, name: &str, now: DateTime<Utc>) -> Result<(), CatalogueError> {
                sqlx::query("INSERT INTO bureaus (id, name, created_at) VALUES ($1, $2, $3) ON CONFLICT (id) DO NOTHING")
                    .bind(bureau.as_str())
                    .bind(name)
                    .bind(now)
                    .execute(&self.pool)
                    .await
                    .map_err(err("ensure bureau"))?;
                Ok(())
            }

            async fn insert_token(&self, bureau: &BureauId, token_sha256: &str, label: &str, now: DateTime<Utc>) -> Result<Uuid, CatalogueError> {
                let id = Uuid::new_v4();
                sqlx::query("INSERT INTO api_tokens (id, bureau_id, token_sha256, label, created_at) VALUES ($1, $2, $3, $4, $5)")
                    .bind(id)
                    .bind(bureau.as_str())
                    .bind(token_sha256)
                    .bind(label)
                    .bind(now)
                    .execute(&self.pool)
                    .await
                    .map_err(err("insert token"))?;
                Ok(id)
            }

            async fn bureau_for_token(&self, token_sha256: &str) -> Result<Option<BureauId>, CatalogueError> {
                let bureau: Option<String> = sqlx::query_scalar("SELECT bureau_id FROM api_tokens WHERE token_sha256 = $1 AND revoked_at IS NULL")
                    .bind(token_sha256)
                    .fetch_optional(&self.pool)
                    .await
                    .map_err(err("find token"))?;
                bureau
                    .map(|b| BureauId::parse(&b).map_err(|e| CatalogueError::Corrupt { detail: format!("token bureau: {e}") }))
                    .transpose()
            }

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
                let mut tx = self.pool.begin().await.map_err(err("record clip"))?;
                let sql = format!(
                    "INSERT INTO clips ({CLIP_COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, NULL, 0) RETURNING {CLIP_COLUMNS}"
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
                    .bind(i64::try_from(clip.size_bytes).map_err(|e| CatalogueError::Query { operation: "record clip", message: e.to_string() })?)
                    .bind(clip.sha256.to_hex())
                    .bind(ClipState::Stored.as_str())
                    .bind(clip.received_at)
                    .bind(clip.received_at)
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
                if claimed != 1 {
                    // The janitor reclaimed this upload as abandoned and may be deleting its
                    // object: recording it now would point the catalogue at nothing.
                    return Err(CatalogueError::Conflict { operation: "record clip", message: format!("upload {} is no longer pending", clip.id) });
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

            async fn stale_uploads(&self, started_before: DateTime<Utc>, limit: i64) -> Result<Vec<PendingUpload>, CatalogueError> {
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

            async fn clip(&self, bureau: &BureauId, id: ClipId) -> Result<Option<ClipRecord>, CatalogueError> {
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
                let row: Option<ClipRow> =
                    sqlx::query_as(&sql).bind(id.as_uuid()).fetch_optional(&self.pool).await.map_err(err("get clip"))?;
                row.map(ClipRecord::try_from).transpose()
            }

            async fn list_clips(&self, bureau: &BureauId, filter: &ClipFilter, limit: i64) -> Result<Vec<ClipRecord>, CatalogueError> {
                let mut query = sqlx::QueryBuilder::<$db>::new(format!("SELECT {CLIP_COLUMNS} FROM clips WHERE bureau_id = "));
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
                if let Some(before) = filter.before {
                    query.push(" AND id < ").push_bind(before.as_uuid());
                }
                query.push(" ORDER BY id DESC LIMIT ").push_bind(limit);
                let rows: Vec<ClipRow> = query.build_query_as().fetch_all(&self.pool).await.map_err(err("list clips"))?;
                rows_to_clips(rows)
            }

            async fn transition(&self, id: ClipId, from: ClipState, to: ClipState, at: DateTime<Utc>, reason: Option<&str>) -> Result<bool, CatalogueError> {
                from.check_transition(to).map_err(|e| CatalogueError::Query { operation: "transition", message: e.to_string() })?;
                let mut tx = self.pool.begin().await.map_err(err("transition"))?;
                let failure = if to == ClipState::Failed { reason } else { None };
                let moved = sqlx::query("UPDATE clips SET state = $1, state_changed_at = $2, failure_reason = $3 WHERE id = $4 AND state = $5")
                    .bind(to.as_str())
                    .bind(at)
                    .bind(failure)
                    .bind(id.as_uuid())
                    .bind(from.as_str())
                    .execute(&mut *tx)
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
                        .execute(&mut *tx)
                        .await
                        .map_err(err("transition"))?;
                }
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
                let bad = |e: custodian_core::TransitionError| CatalogueError::Corrupt { detail: format!("transition of {id}: {e}") };
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

            async fn stuck_clips(&self, state: ClipState, changed_before: DateTime<Utc>, limit: i64) -> Result<Vec<ClipRecord>, CatalogueError> {
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

            async fn next_publish_round(&self, id: ClipId, at: DateTime<Utc>) -> Result<u32, CatalogueError> {
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
                u32::try_from(round).map_err(|e| CatalogueError::Corrupt { detail: format!("publish round of {id}: {e}") })
            }

            async fn ping(&self) -> Result<(), CatalogueError> {
                sqlx::query("SELECT 1").execute(&self.pool).await.map_err(err("ping"))?;
                Ok(())
            }

            fn kind(&self) -> &'static str {
                $kind
            }
        }
    };
}

catalogue_on!(SqliteCatalogue, sqlx::Sqlite, "sqlite");
catalogue_on!(PostgresCatalogue, sqlx::Postgres, "postgres");
