//! The SQL behind both catalogue adapters. The statements are written once in the dialect
//! SQLite and PostgreSQL share (`$n` parameters, `RETURNING`, `ON CONFLICT`), and the
//! `catalogue_on!` macro instantiates them for each driver; only connecting and migrating
//! differ, and the column types differ in each adapter's migrations.

mod postgres;
mod sqlite;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use custodian_core::classification::Classification;
use custodian_core::deadlines::DeadlineKind;
use custodian_core::login::Throttle;
use custodian_core::retention::{CaseFacts, LongTermReason};
use custodian_core::roles::{OfficerIdentity, Role};
use custodian_core::{BureauId, ClipId, ClipState, LocalId};
use sqlx::postgres::PgPool;
use sqlx::sqlite::SqlitePool;
use uuid::Uuid;

use super::model::{
    decode_fingerprint, encode_fingerprint, ClassificationRow, ClipRow, FindingRow, MediaRow,
    TransitionRow, CLIP_COLUMNS,
};
use super::{
    Catalogue, CatalogueError, ClassTotals, ClassificationEntry, ClipFilter, ClipMedia, ClipRecord,
    ClipSchedule, Finding, Lease, MediaFacts, NewFinding, Rendition, TokenOwner, TokenRecord,
    TrackVersion, Transition, UserRecord,
};

/// What text search looks through, lowercased.
fn search_text(parts: &[Option<&str>]) -> String {
    parts
        .iter()
        .flatten()
        .map(|p| p.to_lowercase())
        .collect::<Vec<_>>()
        .join(" ")
}

/// A LIKE pattern matching `text` anywhere, with LIKE's own wildcards taken literally.
fn contains_pattern(text: &str) -> String {
    let escaped = text
        .to_lowercase()
        .replace('\\', "\\\\")
        .replace('%', "\\%")
        .replace('_', "\\_");
    format!("%{escaped}%")
}

fn err(operation: &'static str) -> impl FnOnce(sqlx::Error) -> CatalogueError {
    move |e| CatalogueError::from_sqlx(operation, e)
}

fn rows_to_clips(rows: Vec<ClipRow>) -> Result<Vec<ClipRecord>, CatalogueError> {
    rows.into_iter().map(ClipRecord::try_from).collect()
}

/// The officer and team a token or user row names.
fn identity(
    what: &str,
    officer: Option<String>,
    team: Option<String>,
) -> Result<OfficerIdentity, CatalogueError> {
    Ok(OfficerIdentity {
        officer: officer
            .map(|o| LocalId::parse("officer id", &o))
            .transpose()
            .map_err(|e| CatalogueError::Corrupt {
                detail: format!("{what}: {e}"),
            })?,
        team,
    })
}

type TokenRow = (
    Uuid,
    String,
    String,
    String,
    DateTime<Utc>,
    Option<DateTime<Utc>>,
    Option<DateTime<Utc>>,
);

const TOKEN_COLUMNS: &str = "id, bureau_id, label, role, created_at, expires_at, revoked_at";

fn token_record(row: TokenRow) -> Result<TokenRecord, CatalogueError> {
    let (id, bureau, label, role, created_at, expires_at, revoked_at) = row;
    let corrupt = |e: &dyn std::fmt::Display| CatalogueError::Corrupt {
        detail: format!("token {id}: {e}"),
    };
    Ok(TokenRecord {
        id,
        bureau: BureauId::parse(&bureau).map_err(|e| corrupt(&e))?,
        label,
        role: role.parse().map_err(|e| corrupt(&e))?,
        created_at,
        expires_at,
        revoked_at,
    })
}

type UserRow = (String, String, String, DateTime<Utc>, Option<DateTime<Utc>>);

fn user_record(row: UserRow) -> Result<UserRecord, CatalogueError> {
    let (bureau, username, role, created_at, disabled_at) = row;
    let corrupt = |e: &dyn std::fmt::Display| CatalogueError::Corrupt {
        detail: format!("user {bureau}/{username}: {e}"),
    };
    Ok(UserRecord {
        bureau: BureauId::parse(&bureau).map_err(|e| corrupt(&e))?,
        role: role.parse().map_err(|e| corrupt(&e))?,
        username,
        created_at,
        disabled_at,
    })
}

type ThrottleRow = (
    String,
    i64,
    Option<DateTime<Utc>>,
    Option<DateTime<Utc>>,
    bool,
    i64,
    Option<DateTime<Utc>>,
    Option<String>,
);

const THROTTLE_COLUMNS: &str =
    "key, failures, window_started_at, blocked_until, locked, refused, refused_since, audit_bureau";

fn throttle_of(row: ThrottleRow) -> (String, Throttle) {
    let (
        key,
        failures,
        window_started_at,
        blocked_until,
        locked,
        refused,
        refused_since,
        audit_bureau,
    ) = row;
    let count = |n: i64| u32::try_from(n.max(0)).unwrap_or(u32::MAX);
    (
        key,
        Throttle {
            failures: count(failures),
            window_started_at,
            blocked_until,
            locked,
            refused: count(refused),
            refused_since,
            audit_bureau,
        },
    )
}

#[derive(Clone)]
pub struct SqliteCatalogue {
    pool: SqlitePool,
}

/// What opening a PostgreSQL catalogue does to its schema.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Schema {
    /// Runs the migrations (the schema owner's role).
    Migrate,
    /// Refuses to start unless every migration is applied (a runtime role).
    Expect,
}

#[derive(Clone)]
pub struct PostgresCatalogue {
    pool: PgPool,
}

macro_rules! catalogue_on {
    ($adapter:ty, $db:ty, $begin_write:literal, $lock_rows:literal) => {
        impl $adapter {
            /// One try of `update_login_throttles`: a concurrent first write of the same key
            /// fails it with a conflict.
            async fn try_update_login_throttles<'u>(
                &self,
                keys: &[String],
                now: DateTime<Utc>,
                update: &mut (dyn for<'t> FnMut(&'t mut [Throttle]) + Send + 'u),
            ) -> Result<(), CatalogueError> {
                let mut tx = self.pool.begin_with($begin_write).await.map_err(err("login throttle"))?;
                // Rows are locked in one order, so two logins never wait on each other.
                let mut order: Vec<usize> = (0..keys.len()).collect();
                order.sort_by(|a, b| keys[*a].cmp(&keys[*b]));
                let mut states = vec![Throttle::default(); keys.len()];
                let mut stored = vec![false; keys.len()];
                for &i in &order {
                    let sql = format!("SELECT {THROTTLE_COLUMNS} FROM login_throttles WHERE key = $1{}", $lock_rows);
                    let row: Option<ThrottleRow> = sqlx::query_as(&sql)
                        .bind(&keys[i])
                        .fetch_optional(&mut *tx)
                        .await
                        .map_err(err("login throttle"))?;
                    if let Some(row) = row {
                        states[i] = throttle_of(row).1;
                        stored[i] = true;
                    }
                }
                let before = states.clone();
                update(&mut states);
                for &i in &order {
                    let state = &states[i];
                    if *state == before[i] {
                        continue;
                    }
                    if *state == Throttle::default() {
                        if stored[i] {
                            sqlx::query("DELETE FROM login_throttles WHERE key = $1")
                                .bind(&keys[i])
                                .execute(&mut *tx)
                                .await
                                .map_err(err("login throttle"))?;
                        }
                        continue;
                    }
                    let sql = if stored[i] {
                        "UPDATE login_throttles SET failures = $2, window_started_at = $3, blocked_until = $4, locked = $5, \
                         refused = $6, refused_since = $7, audit_bureau = $8, updated_at = $9 WHERE key = $1"
                    } else {
                        "INSERT INTO login_throttles (key, failures, window_started_at, blocked_until, locked, refused, \
                         refused_since, audit_bureau, updated_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)"
                    };
                    sqlx::query(sql)
                        .bind(&keys[i])
                        .bind(i64::from(state.failures))
                        .bind(state.window_started_at)
                        .bind(state.blocked_until)
                        .bind(state.locked)
                        .bind(i64::from(state.refused))
                        .bind(state.refused_since)
                        .bind(state.audit_bureau.as_deref())
                        .bind(now)
                        .execute(&mut *tx)
                        .await
                        .map_err(err("login throttle"))?;
                }
                tx.commit().await.map_err(err("login throttle"))?;
                Ok(())
            }

            /// Moves a clip from `from` to `to` inside `tx` if it is still in `from`, and keeps
            /// the move in its history.
            /// Creates the clip's media row if needed and fills in what was measured; a fact
            /// another worker already recorded is kept when this one does not know it.
            async fn upsert_facts(tx: &mut sqlx::Transaction<'_, $db>, id: ClipId, facts: &MediaFacts) -> Result<(), CatalogueError> {
                sqlx::query(
                    "INSERT INTO clip_media (clip_id, container, duration_seconds, width, height, video_codec, audio_codec, frame_rate, rotation, creation_time, \
                     time_source, file_latitude, file_longitude) \
                     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13) \
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
                     file_longitude = COALESCE(excluded.file_longitude, clip_media.file_longitude)",
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
                .execute(&mut **tx)
                .await
                .map_err(err("record media facts"))?;
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
                tx: &mut sqlx::Transaction<'_, $db>,
                id: ClipId,
                from: ClipState,
                to: ClipState,
                at: DateTime<Utc>,
                reason: Option<&str>,
            ) -> Result<bool, CatalogueError> {
                from.check_transition(to).map_err(|e| CatalogueError::Query { operation: "transition", message: e.to_string() })?;
                let failure = if to == ClipState::Failed { reason } else { None };
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
            async fn transition_and<'q>(
                &self,
                id: ClipId,
                (from, to): (ClipState, ClipState),
                at: DateTime<Utc>,
                reason: Option<&str>,
                also: sqlx::query::Query<'q, $db, <$db as sqlx::Database>::Arguments<'q>>,
            ) -> Result<bool, CatalogueError> {
                let mut tx = self.pool.begin_with($begin_write).await.map_err(err("transition"))?;
                let moved = Self::transition_in(&mut tx, id, from, to, at, reason).await?;
                if moved {
                    also.execute(&mut *tx).await.map_err(err("transition"))?;
                }
                tx.commit().await.map_err(err("transition"))?;
                Ok(moved)
            }

            /// The query behind `list_clips`, after `select` (the columns, or EXPLAIN).
            fn list_query<'a>(select: &str, bureau: &'a BureauId, filter: &'a ClipFilter, limit: i64) -> sqlx::QueryBuilder<'a, $db> {
                let mut query = sqlx::QueryBuilder::<$db>::new(format!("{select} WHERE bureau_id = "));
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
                    query.push(" AND id IN (SELECT clip_id FROM case_clips WHERE case_id = ").push_bind(case_id).push(")");
                }
                if let Some(bbox) = filter.within {
                    query.push(" AND latitude BETWEEN ").push_bind(bbox.min_lat).push(" AND ").push_bind(bbox.max_lat);
                    query.push(" AND longitude BETWEEN ").push_bind(bbox.min_lon).push(" AND ").push_bind(bbox.max_lon);
                }
                if let Some(text) = &filter.text {
                    query.push(" AND search_text LIKE ").push_bind(contains_pattern(text)).push(" ESCAPE '\\'");
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
                    query.push(" AND classified_at IS NULL AND classify_due_at <= ").push_bind(at);
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
                    query.push(" AND device_registered = ").push_bind(registered);
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

            async fn insert_token(
                &self,
                bureau: &BureauId,
                token_sha256: &str,
                label: &str,
                role: Role,
                identity: &OfficerIdentity,
                now: DateTime<Utc>,
            ) -> Result<Uuid, CatalogueError> {
                let id = Uuid::new_v4();
                sqlx::query(
                    "INSERT INTO api_tokens (id, bureau_id, token_sha256, label, created_at, role, officer_id, team) \
                     VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
                )
                    .bind(id)
                    .bind(bureau.as_str())
                    .bind(token_sha256)
                    .bind(label)
                    .bind(now)
                    .bind(role.as_str())
                    .bind(identity.officer.as_ref().map(LocalId::as_str))
                    .bind(identity.team.as_deref())
                    .execute(&self.pool)
                    .await
                    .map_err(err("insert token"))?;
                Ok(id)
            }

            async fn token_owner(&self, token_sha256: &str, now: DateTime<Utc>) -> Result<Option<TokenOwner>, CatalogueError> {
                type Row = (Uuid, String, String, String, Option<String>, Option<String>);
                let owner: Option<Row> = sqlx::query_as(
                    "SELECT id, bureau_id, role, label, officer_id, team FROM api_tokens \
                     WHERE token_sha256 = $1 AND revoked_at IS NULL AND (expires_at IS NULL OR expires_at > $2)",
                )
                .bind(token_sha256)
                .bind(now)
                .fetch_optional(&self.pool)
                .await
                .map_err(err("find token"))?;
                let corrupt = |e: &dyn std::fmt::Display| CatalogueError::Corrupt { detail: format!("token: {e}") };
                owner
                    .map(|(token_id, bureau, role, label, officer, team)| {
                        Ok(TokenOwner {
                            token_id,
                            bureau: BureauId::parse(&bureau).map_err(|e| corrupt(&e))?,
                            role: role.parse().map_err(|e| corrupt(&e))?,
                            person: format!("token {token_id}"),
                            label,
                            identity: identity("token", officer, team)?,
                        })
                    })
                    .transpose()
            }

            async fn tokens(&self, bureau: Option<&BureauId>) -> Result<Vec<TokenRecord>, CatalogueError> {
                let rows: Vec<TokenRow> = match bureau {
                    Some(bureau) => sqlx::query_as(&format!("SELECT {TOKEN_COLUMNS} FROM api_tokens WHERE bureau_id = $1 ORDER BY created_at, id"))
                        .bind(bureau.as_str())
                        .fetch_all(&self.pool)
                        .await,
                    None => sqlx::query_as(&format!("SELECT {TOKEN_COLUMNS} FROM api_tokens ORDER BY created_at, id"))
                        .fetch_all(&self.pool)
                        .await,
                }
                .map_err(err("list tokens"))?;
                rows.into_iter().map(token_record).collect()
            }

            async fn revoke_token(&self, bureau: &BureauId, id: Uuid, at: DateTime<Utc>) -> Result<bool, CatalogueError> {
                let revoked = sqlx::query("UPDATE api_tokens SET revoked_at = $3 WHERE id = $1 AND bureau_id = $2 AND revoked_at IS NULL")
                    .bind(id)
                    .bind(bureau.as_str())
                    .bind(at)
                    .execute(&self.pool)
                    .await
                    .map_err(err("revoke token"))?
                    .rows_affected();
                Ok(revoked == 1)
            }

            async fn set_token_expiry(&self, bureau: &BureauId, id: Uuid, expires_at: Option<DateTime<Utc>>) -> Result<bool, CatalogueError> {
                let set = sqlx::query("UPDATE api_tokens SET expires_at = $3 WHERE id = $1 AND bureau_id = $2 AND revoked_at IS NULL")
                    .bind(id)
                    .bind(bureau.as_str())
                    .bind(expires_at)
                    .execute(&self.pool)
                    .await
                    .map_err(err("set token expiry"))?
                    .rows_affected();
                Ok(set == 1)
            }

            async fn rotate_token(
                &self,
                bureau: &BureauId,
                id: Uuid,
                new_sha256: &str,
                at: DateTime<Utc>,
                old_expires_at: Option<DateTime<Utc>>,
            ) -> Result<Option<TokenRecord>, CatalogueError> {
                let mut tx = self.pool.begin_with($begin_write).await.map_err(err("rotate token"))?;
                let sql = format!(
                    "SELECT {TOKEN_COLUMNS} FROM api_tokens WHERE id = $1 AND bureau_id = $2 AND revoked_at IS NULL \
                     AND (expires_at IS NULL OR expires_at > $3){}",
                    $lock_rows
                );
                let old: Option<TokenRow> = sqlx::query_as(&sql)
                    .bind(id)
                    .bind(bureau.as_str())
                    .bind(at)
                    .fetch_optional(&mut *tx)
                    .await
                    .map_err(err("rotate token"))?;
                let Some(old) = old.map(token_record).transpose()? else {
                    return Ok(None);
                };
                let new = TokenRecord {
                    id: Uuid::new_v4(),
                    created_at: at,
                    revoked_at: None,
                    ..old.clone()
                };
                // The new token speaks for the same officer and team as the old one.
                sqlx::query(
                    "INSERT INTO api_tokens (id, bureau_id, token_sha256, label, created_at, role, expires_at, officer_id, team) \
                     SELECT $1, $2, $3, $4, $5, $6, $7, officer_id, team FROM api_tokens WHERE id = $8",
                )
                    .bind(new.id)
                    .bind(new.bureau.as_str())
                    .bind(new_sha256)
                    .bind(&new.label)
                    .bind(new.created_at)
                    .bind(new.role.as_str())
                    .bind(new.expires_at)
                    .bind(id)
                    .execute(&mut *tx)
                    .await
                    .map_err(err("rotate token"))?;
                match old_expires_at {
                    Some(end) => {
                        let end = old.expires_at.map_or(end, |was| was.min(end));
                        sqlx::query("UPDATE api_tokens SET expires_at = $2 WHERE id = $1")
                            .bind(id)
                            .bind(end)
                            .execute(&mut *tx)
                            .await
                    }
                    None => {
                        sqlx::query("UPDATE api_tokens SET revoked_at = $2 WHERE id = $1")
                            .bind(id)
                            .bind(at)
                            .execute(&mut *tx)
                            .await
                    }
                }
                .map_err(err("rotate token"))?;
                tx.commit().await.map_err(err("rotate token"))?;
                Ok(Some(new))
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
                let mut query = Self::list_query(&format!("SELECT {CLIP_COLUMNS} FROM clips"), bureau, filter, limit);
                let rows: Vec<ClipRow> = query.build_query_as().fetch_all(&self.pool).await.map_err(err("list clips"))?;
                rows_to_clips(rows)
            }

            async fn transition(&self, id: ClipId, from: ClipState, to: ClipState, at: DateTime<Utc>, reason: Option<&str>) -> Result<bool, CatalogueError> {
                let mut tx = self.pool.begin_with($begin_write).await.map_err(err("transition"))?;
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

            async fn set_schedule(&self, id: ClipId, canonical_name: &str, schedule: &ClipSchedule) -> Result<(), CatalogueError> {
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

            async fn move_upload_due(&self, id: ClipId, was: DateTime<Utc>, upload_due: DateTime<Utc>, upload_hard_due: DateTime<Utc>) -> Result<bool, CatalogueError> {
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

            async fn classify(&self, bureau: &BureauId, id: ClipId, c: &Classification, canonical_name: &str, by: &str, at: DateTime<Utc>) -> Result<bool, CatalogueError> {
                let mut tx = self.pool.begin_with($begin_write).await.map_err(err("classify"))?;
                let found: Option<(String, Option<String>, Option<String>)> =
                    sqlx::query_as("SELECT original_name, case_ref, place FROM clips WHERE id = $1 AND bureau_id = $2")
                        .bind(id.as_uuid())
                        .bind(bureau.as_str())
                        .fetch_optional(&mut *tx)
                        .await
                        .map_err(err("classify"))?;
                let Some((original, case_ref, place)) = found else { return Ok(false) };
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

            async fn classifications(&self, id: ClipId) -> Result<Vec<ClassificationEntry>, CatalogueError> {
                let rows: Vec<ClassificationRow> = sqlx::query_as(
                    "SELECT at, by_whom, category, description, place, important, canonical_name, matter, party FROM classifications WHERE clip_id = $1 ORDER BY id",
                )
                .bind(id.as_uuid())
                .fetch_all(&self.pool)
                .await
                .map_err(err("classifications"))?;
                Ok(rows.into_iter().map(ClassificationEntry::from).collect())
            }

            async fn overdue_counts(&self, now: DateTime<Utc>) -> Result<Vec<(BureauId, DeadlineKind, i64)>, CatalogueError> {
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
                    let bound = if matches!(kind, DeadlineKind::Classification | DeadlineKind::CaseFiling) { now } else { since };
                    let rows: Vec<(String, i64)> =
                        sqlx::query_as(sql).bind(bound).fetch_all(&self.pool).await.map_err(err("overdue counts"))?;
                    for (bureau, count) in rows {
                        let bureau = BureauId::parse(&bureau).map_err(|e| CatalogueError::Corrupt { detail: format!("bureau: {e}") })?;
                        counts.push((bureau, kind, count));
                    }
                }
                Ok(counts)
            }

            async fn set_retention(&self, bureau: &BureauId, id: ClipId, long_term: Option<&LongTermReason>, legal_hold: bool, by: &str, at: DateTime<Utc>) -> Result<bool, CatalogueError> {
                let mut tx = self.pool.begin_with($begin_write).await.map_err(err("set retention"))?;
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

            async fn set_case_long_term(&self, bureau: &BureauId, case: Uuid, long_term: bool) -> Result<bool, CatalogueError> {
                let changed = sqlx::query("UPDATE cases SET long_term = $3 WHERE id = $1 AND bureau_id = $2")
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
                        let state = state.parse().map_err(|e: custodian_core::cases::CaseError| CatalogueError::Corrupt { detail: e.to_string() })?;
                        Ok(CaseFacts { state, long_term, closed_at, filed_at })
                    })
                    .collect()
            }

            async fn archive_candidates(&self, limit: i64) -> Result<Vec<ClipRecord>, CatalogueError> {
                let sql = format!(
                    "SELECT {CLIP_COLUMNS} FROM clips WHERE long_term_reason IS NOT NULL AND archived_at IS NULL AND state = 'catalogued' ORDER BY id LIMIT $1"
                );
                let rows: Vec<ClipRow> = sqlx::query_as(&sql).bind(limit).fetch_all(&self.pool).await.map_err(err("archive candidates"))?;
                rows_to_clips(rows)
            }

            async fn mark_archived(&self, id: ClipId, archive_key: &str, locked_until: Option<DateTime<Utc>>, at: DateTime<Utc>) -> Result<bool, CatalogueError> {
                let also = sqlx::query("UPDATE clips SET archived_at = $2, archive_key = $3, archive_locked_until = $4 WHERE id = $1")
                    .bind(id.as_uuid())
                    .bind(at)
                    .bind(archive_key.to_owned())
                    .bind(locked_until);
                self.transition_and(id, (ClipState::Catalogued, ClipState::Archived), at, Some("copied to the archive tier and read back"), also).await
            }

            async fn expiry_candidates(&self, recorded_before: DateTime<Utc>, limit: i64) -> Result<Vec<ClipRecord>, CatalogueError> {
                let sql = format!(
                    "SELECT {CLIP_COLUMNS} FROM clips WHERE state = 'catalogued' AND recorded_at < $1 AND legal_hold = FALSE \
                     AND long_term_reason IS NULL ORDER BY recorded_at LIMIT $2"
                );
                let rows: Vec<ClipRow> =
                    sqlx::query_as(&sql).bind(recorded_before).bind(limit).fetch_all(&self.pool).await.map_err(err("expiry candidates"))?;
                rows_to_clips(rows)
            }

            async fn recycle(&self, id: ClipId, until: DateTime<Utc>, at: DateTime<Utc>, reason: &str) -> Result<bool, CatalogueError> {
                let also = sqlx::query("UPDATE clips SET recycle_until = $2 WHERE id = $1").bind(id.as_uuid()).bind(until);
                self.transition_and(id, (ClipState::Catalogued, ClipState::Recycled), at, Some(reason), also).await
            }

            async fn restore(&self, bureau: &BureauId, id: ClipId, at: DateTime<Utc>, by: &str) -> Result<bool, CatalogueError> {
                if self.clip(bureau, id).await?.is_none() {
                    return Ok(false);
                }
                let also = sqlx::query("UPDATE clips SET recycle_until = NULL WHERE id = $1").bind(id.as_uuid());
                let reason = format!("restored by {by}");
                self.transition_and(id, (ClipState::Recycled, ClipState::Catalogued), at, Some(&reason), also).await
            }

            async fn purge_candidates(&self, now: DateTime<Utc>, limit: i64) -> Result<Vec<ClipRecord>, CatalogueError> {
                let sql = format!("SELECT {CLIP_COLUMNS} FROM clips WHERE state = 'recycled' AND recycle_until <= $1 ORDER BY recycle_until LIMIT $2");
                let rows: Vec<ClipRow> = sqlx::query_as(&sql).bind(now).bind(limit).fetch_all(&self.pool).await.map_err(err("purge candidates"))?;
                rows_to_clips(rows)
            }

            async fn mark_purged(&self, id: ClipId, at: DateTime<Utc>) -> Result<bool, CatalogueError> {
                let also = sqlx::query("UPDATE clips SET purged_at = $2 WHERE id = $1").bind(id.as_uuid()).bind(at);
                self.transition_and(id, (ClipState::Recycled, ClipState::Expired), at, Some("retention ran out; files purged, record kept"), also).await
            }

            async fn scrub_candidates(&self, limit: i64) -> Result<Vec<ClipRecord>, CatalogueError> {
                let sql = format!("SELECT {CLIP_COLUMNS} FROM clips WHERE purged_at IS NULL ORDER BY verified_at NULLS FIRST, id LIMIT $1");
                let rows: Vec<ClipRow> = sqlx::query_as(&sql).bind(limit).fetch_all(&self.pool).await.map_err(err("scrub candidates"))?;
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

            async fn add_finding(&self, id: ClipId, kind: &str, severity: &str, detail: &str, at: DateTime<Utc>) -> Result<(), CatalogueError> {
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

            async fn record_transcode(&self, id: ClipId, facts: &MediaFacts, rendition: &Rendition, at: DateTime<Utc>) -> Result<(), CatalogueError> {
                let mut tx = self.pool.begin_with($begin_write).await.map_err(err("record transcode"))?;
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

            async fn record_fingerprint(&self, id: ClipId, facts: &MediaFacts, hashes: &[u64], findings: &[NewFinding], at: DateTime<Utc>) -> Result<(), CatalogueError> {
                let mut tx = self.pool.begin_with($begin_write).await.map_err(err("record fingerprint"))?;
                Self::upsert_facts(&mut tx, id, facts).await?;
                sqlx::query("UPDATE clip_media SET fingerprint = $2, fingerprinted_at = $3 WHERE clip_id = $1")
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
                     time_source, file_latitude, file_longitude, view_key, subtitles_key, poster_key, view_size_bytes, transcoded_at, fingerprint, fingerprinted_at, \
                     track_sha256 FROM clip_media WHERE clip_id = $1",
                )
                .bind(id.as_uuid())
                .fetch_optional(&self.pool)
                .await
                .map_err(err("clip media"))?;
                Ok(row.map(ClipMedia::from))
            }

            async fn fingerprints(&self, bureau: &BureauId, limit: i64) -> Result<Vec<(ClipId, Vec<u64>)>, CatalogueError> {
                let rows: Vec<(Uuid, Vec<u8>)> = sqlx::query_as(
                    "SELECT m.clip_id, m.fingerprint FROM clip_media m JOIN clips c ON c.id = m.clip_id \
                     WHERE c.bureau_id = $1 AND m.fingerprint IS NOT NULL AND c.purged_at IS NULL ORDER BY m.clip_id DESC LIMIT $2",
                )
                .bind(bureau.as_str())
                .bind(limit)
                .fetch_all(&self.pool)
                .await
                .map_err(err("fingerprints"))?;
                Ok(rows
                    .into_iter()
                    .map(|(id, bytes)| (ClipId::from_uuid(id), decode_fingerprint(&bytes)))
                    .collect())
            }

            async fn previous_on_device(&self, bureau: &BureauId, device: &LocalId, before: DateTime<Utc>) -> Result<Option<(ClipId, DateTime<Utc>, Option<f64>)>, CatalogueError> {
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

            async fn findings(&self, id: ClipId) -> Result<Vec<Finding>, CatalogueError> {
                let rows: Vec<FindingRow> = sqlx::query_as("SELECT at, kind, severity, detail, position_seconds, size_seconds FROM findings WHERE clip_id = $1 ORDER BY id")
                    .bind(id.as_uuid())
                    .fetch_all(&self.pool)
                    .await
                    .map_err(err("findings"))?;
                Ok(rows.into_iter().map(Finding::from).collect())
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
                        let (clips, bytes) = rows.iter().find(|(c, _, _)| c == class).map(|(_, n, b)| (*n, *b)).unwrap_or((0, 0));
                        ClassTotals { class, clips, bytes }
                    })
                    .collect())
            }

            async fn oldest_verification(&self) -> Result<Option<DateTime<Utc>>, CatalogueError> {
                let never: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM clips WHERE purged_at IS NULL AND verified_at IS NULL")
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

            async fn add_track_version(&self, clip: ClipId, version: &TrackVersion) -> Result<i64, CatalogueError> {
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
                    .map(|(version, object_key, sha256, size_bytes, added_at, added_by)| TrackVersion {
                        version,
                        object_key,
                        sha256,
                        size_bytes,
                        added_at,
                        added_by,
                    })
                    .collect())
            }

            async fn set_confidentiality(&self, bureau: &BureauId, id: ClipId, level: custodian_core::roles::Confidentiality) -> Result<bool, CatalogueError> {
                let changed = sqlx::query("UPDATE clips SET confidentiality = $3 WHERE id = $1 AND bureau_id = $2")
                    .bind(id.as_uuid())
                    .bind(bureau.as_str())
                    .bind(level.as_str())
                    .execute(&self.pool)
                    .await
                    .map_err(err("set confidentiality"))?
                    .rows_affected();
                Ok(changed == 1)
            }

            async fn bureau_exists(&self, bureau: &BureauId) -> Result<bool, CatalogueError> {
                let found: Option<String> = sqlx::query_scalar("SELECT id FROM bureaus WHERE id = $1")
                    .bind(bureau.as_str())
                    .fetch_optional(&self.pool)
                    .await
                    .map_err(err("bureau exists"))?;
                Ok(found.is_some())
            }

            async fn create_user(
                &self,
                bureau: &BureauId,
                username: &str,
                role: Role,
                identity: &OfficerIdentity,
                password_hash: &str,
                at: DateTime<Utc>,
            ) -> Result<(), CatalogueError> {
                sqlx::query(
                    "INSERT INTO users (bureau_id, username, role, password_hash, created_at, officer_id, team) VALUES ($1, $2, $3, $4, $5, $6, $7)",
                )
                    .bind(bureau.as_str())
                    .bind(username)
                    .bind(role.as_str())
                    .bind(password_hash)
                    .bind(at)
                    .bind(identity.officer.as_ref().map(LocalId::as_str))
                    .bind(identity.team.as_deref())
                    .execute(&self.pool)
                    .await
                    .map_err(err("create user"))?;
                Ok(())
            }

            async fn users(&self, bureau: Option<&BureauId>) -> Result<Vec<UserRecord>, CatalogueError> {
                const COLUMNS: &str = "bureau_id, username, role, created_at, disabled_at";
                let rows: Vec<UserRow> = match bureau {
                    Some(bureau) => sqlx::query_as(&format!("SELECT {COLUMNS} FROM users WHERE bureau_id = $1 ORDER BY bureau_id, username"))
                        .bind(bureau.as_str())
                        .fetch_all(&self.pool)
                        .await,
                    None => sqlx::query_as(&format!("SELECT {COLUMNS} FROM users ORDER BY bureau_id, username"))
                        .fetch_all(&self.pool)
                        .await,
                }
                .map_err(err("list users"))?;
                rows.into_iter().map(user_record).collect()
            }

            async fn disable_user(&self, bureau: &BureauId, username: &str, at: DateTime<Utc>) -> Result<bool, CatalogueError> {
                let mut tx = self.pool.begin_with($begin_write).await.map_err(err("disable user"))?;
                let found = sqlx::query("UPDATE users SET disabled_at = COALESCE(disabled_at, $3) WHERE bureau_id = $1 AND username = $2")
                    .bind(bureau.as_str())
                    .bind(username)
                    .bind(at)
                    .execute(&mut *tx)
                    .await
                    .map_err(err("disable user"))?
                    .rows_affected()
                    == 1;
                // Ended, not only refused while disabled: enabling the account again must not
                // bring its old sessions back.
                sqlx::query("UPDATE sessions SET ended_at = $3 WHERE bureau_id = $1 AND username = $2 AND ended_at IS NULL")
                    .bind(bureau.as_str())
                    .bind(username)
                    .bind(at)
                    .execute(&mut *tx)
                    .await
                    .map_err(err("disable user"))?;
                tx.commit().await.map_err(err("disable user"))?;
                Ok(found)
            }

            async fn enable_user(&self, bureau: &BureauId, username: &str) -> Result<bool, CatalogueError> {
                let found = sqlx::query("UPDATE users SET disabled_at = NULL WHERE bureau_id = $1 AND username = $2")
                    .bind(bureau.as_str())
                    .bind(username)
                    .execute(&self.pool)
                    .await
                    .map_err(err("enable user"))?
                    .rows_affected();
                Ok(found == 1)
            }

            async fn user(&self, bureau: &BureauId, username: &str) -> Result<Option<(Role, String)>, CatalogueError> {
                let row: Option<(String, String)> =
                    sqlx::query_as("SELECT role, password_hash FROM users WHERE bureau_id = $1 AND username = $2 AND disabled_at IS NULL")
                        .bind(bureau.as_str())
                        .bind(username)
                        .fetch_optional(&self.pool)
                        .await
                        .map_err(err("user"))?;
                row.map(|(role, hash)| Ok((role.parse().map_err(|e: custodian_core::roles::UnknownRole| CatalogueError::Corrupt { detail: e.to_string() })?, hash)))
                    .transpose()
            }

            async fn create_session(&self, id: Uuid, token_sha256: &str, bureau: &BureauId, username: &str, at: DateTime<Utc>, expires_at: DateTime<Utc>) -> Result<(), CatalogueError> {
                sqlx::query("INSERT INTO sessions (id, token_sha256, bureau_id, username, created_at, expires_at) VALUES ($1, $2, $3, $4, $5, $6)")
                    .bind(id)
                    .bind(token_sha256)
                    .bind(bureau.as_str())
                    .bind(username)
                    .bind(at)
                    .bind(expires_at)
                    .execute(&self.pool)
                    .await
                    .map_err(err("create session"))?;
                Ok(())
            }

            async fn session_owner(&self, token_sha256: &str, now: DateTime<Utc>) -> Result<Option<TokenOwner>, CatalogueError> {
                type Row = (Uuid, String, String, String, Option<String>, Option<String>);
                let row: Option<Row> = sqlx::query_as(
                    "SELECT sessions.id, sessions.bureau_id, users.role, sessions.username, users.officer_id, users.team FROM sessions \
                     JOIN users ON users.bureau_id = sessions.bureau_id AND users.username = sessions.username \
                     WHERE sessions.token_sha256 = $1 AND sessions.expires_at > $2 AND sessions.ended_at IS NULL AND users.disabled_at IS NULL",
                )
                .bind(token_sha256)
                .bind(now)
                .fetch_optional(&self.pool)
                .await
                .map_err(err("find session"))?;
                let corrupt = |e: &dyn std::fmt::Display| CatalogueError::Corrupt { detail: format!("session: {e}") };
                row.map(|(token_id, bureau, role, username, officer, team)| {
                    Ok(TokenOwner {
                        token_id,
                        person: format!("user {bureau}/{username}"),
                        bureau: BureauId::parse(&bureau).map_err(|e| corrupt(&e))?,
                        role: role.parse().map_err(|e| corrupt(&e))?,
                        label: format!("user {username}"),
                        identity: identity("user", officer, team)?,
                    })
                })
                .transpose()
            }

            async fn end_session(&self, token_sha256: &str, at: DateTime<Utc>) -> Result<bool, CatalogueError> {
                let ended = sqlx::query("UPDATE sessions SET ended_at = $2 WHERE token_sha256 = $1 AND ended_at IS NULL")
                    .bind(token_sha256)
                    .bind(at)
                    .execute(&self.pool)
                    .await
                    .map_err(err("end session"))?
                    .rows_affected();
                Ok(ended == 1)
            }

            async fn update_login_throttles(
                &self,
                keys: &[String],
                now: DateTime<Utc>,
                update: &mut (dyn for<'t> FnMut(&'t mut [Throttle]) + Send),
            ) -> Result<(), CatalogueError> {
                let mut tries = 0;
                loop {
                    match self.try_update_login_throttles(keys, now, update).await {
                        Err(CatalogueError::Conflict { .. }) if tries < 3 => tries += 1,
                        done => return done,
                    }
                }
            }

            async fn take_stale_login_throttles(&self, before: DateTime<Utc>) -> Result<Vec<(String, Throttle)>, CatalogueError> {
                let rows: Vec<ThrottleRow> = sqlx::query_as(&format!(
                    "DELETE FROM login_throttles WHERE updated_at < $1 AND (blocked_until IS NULL OR blocked_until < $1) \
                     RETURNING {THROTTLE_COLUMNS}"
                ))
                .bind(before)
                .fetch_all(&self.pool)
                .await
                .map_err(err("forget login throttles"))?;
                Ok(rows.into_iter().map(throttle_of).collect())
            }

            async fn ping(&self) -> Result<(), CatalogueError> {
                sqlx::query("SELECT 1").execute(&self.pool).await.map_err(err("ping"))?;
                Ok(())
            }
        }
    };
}

// SQLite: a write transaction takes the write lock when it begins, so it waits (busy timeout)
// for another writer instead of failing when its read snapshot turns out stale.
// (SQLite has no row locks: its write transaction holds the whole database.)
catalogue_on!(SqliteCatalogue, sqlx::Sqlite, "BEGIN IMMEDIATE", "");
catalogue_on!(PostgresCatalogue, sqlx::Postgres, "BEGIN", " FOR UPDATE");
