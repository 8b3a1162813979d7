//! The queries of bureaus, tokens, users, sessions and login throttles.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use custodian_core::login::Throttle;
use custodian_core::roles::{OfficerIdentity, Role};
use custodian_core::{BureauId, LocalId};
use uuid::Uuid;

use super::{Adapter, BEGIN_WRITE, LOCK_ROWS};
use crate::catalogue::model::{
    identity, throttle_of, token_record, user_record, ThrottleRow, TokenRow, UserRow,
    THROTTLE_COLUMNS, TOKEN_COLUMNS,
};
use crate::catalogue::sql::err;
use crate::catalogue::{AccessRepo, CatalogueError, TokenOwner, TokenRecord, UserRecord};

impl Adapter {
    /// One try of `update_login_throttles`: a concurrent first write of the same key
    /// fails it with a conflict.
    async fn try_update_login_throttles<'u>(
        &self,
        keys: &[String],
        now: DateTime<Utc>,
        update: &mut (dyn for<'t> FnMut(&'t mut [Throttle]) + Send + 'u),
    ) -> Result<(), CatalogueError> {
        let mut tx = self
            .pool
            .begin_with(BEGIN_WRITE)
            .await
            .map_err(err("login throttle"))?;
        // Rows are locked in one order, so two logins never wait on each other.
        let mut order: Vec<usize> = (0..keys.len()).collect();
        order.sort_by(|a, b| keys[*a].cmp(&keys[*b]));
        let mut states = vec![Throttle::default(); keys.len()];
        let mut stored = vec![false; keys.len()];
        for &i in &order {
            let sql = format!(
                "SELECT {THROTTLE_COLUMNS} FROM login_throttles WHERE key = $1{}",
                LOCK_ROWS
            );
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
}

#[async_trait]
impl AccessRepo for Adapter {
    async fn ensure_bureau(
        &self,
        bureau: &BureauId,
        name: &str,
        now: DateTime<Utc>,
    ) -> Result<(), CatalogueError> {
        sqlx::query("INSERT INTO bureaus (id, name, created_at) VALUES ($1, $2, $3) ON CONFLICT (id) DO NOTHING")
            .bind(bureau.as_str())
            .bind(name)
            .bind(now)
            .execute(&self.pool)
            .await
            .map_err(err("ensure bureau"))?;
        Ok(())
    }

    async fn bureau_exists(&self, bureau: &BureauId) -> Result<bool, CatalogueError> {
        let found: Option<String> = sqlx::query_scalar("SELECT id FROM bureaus WHERE id = $1")
            .bind(bureau.as_str())
            .fetch_optional(&self.pool)
            .await
            .map_err(err("bureau exists"))?;
        Ok(found.is_some())
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

    async fn token_owner(
        &self,
        token_sha256: &str,
        now: DateTime<Utc>,
    ) -> Result<Option<TokenOwner>, CatalogueError> {
        type Row = (
            Uuid,
            String,
            String,
            String,
            Option<String>,
            Option<String>,
            Option<String>,
        );
        let owner: Option<Row> = sqlx::query_as(
            "SELECT id, bureau_id, role, label, officer_id, team, client_cert_x5t_s256 FROM api_tokens \
             WHERE token_sha256 = $1 AND revoked_at IS NULL AND (expires_at IS NULL OR expires_at > $2)",
        )
        .bind(token_sha256)
        .bind(now)
        .fetch_optional(&self.pool)
        .await
        .map_err(err("find token"))?;
        let corrupt = |e: &dyn std::fmt::Display| CatalogueError::Corrupt {
            detail: format!("token: {e}"),
        };
        owner
            .map(
                |(token_id, bureau, role, label, officer, team, client_certificate)| {
                    Ok(TokenOwner {
                        token_id,
                        bureau: BureauId::parse(&bureau).map_err(|e| corrupt(&e))?,
                        role: role.parse().map_err(|e| corrupt(&e))?,
                        person: format!("token {token_id}"),
                        label,
                        identity: identity("token", officer, team)?,
                        client_certificate,
                    })
                },
            )
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

    async fn revoke_token(
        &self,
        bureau: &BureauId,
        id: Uuid,
        at: DateTime<Utc>,
    ) -> Result<bool, CatalogueError> {
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

    async fn set_token_expiry(
        &self,
        bureau: &BureauId,
        id: Uuid,
        expires_at: Option<DateTime<Utc>>,
    ) -> Result<bool, CatalogueError> {
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

    async fn set_token_certificate(
        &self,
        bureau: &BureauId,
        id: Uuid,
        x5t_s256: Option<&str>,
    ) -> Result<bool, CatalogueError> {
        let set = sqlx::query("UPDATE api_tokens SET client_cert_x5t_s256 = $3 WHERE id = $1 AND bureau_id = $2 AND revoked_at IS NULL")
            .bind(id)
            .bind(bureau.as_str())
            .bind(x5t_s256)
            .execute(&self.pool)
            .await
            .map_err(err("bind token to certificate"))?
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
        let mut tx = self
            .pool
            .begin_with(BEGIN_WRITE)
            .await
            .map_err(err("rotate token"))?;
        let sql = format!(
            "SELECT {TOKEN_COLUMNS} FROM api_tokens WHERE id = $1 AND bureau_id = $2 AND revoked_at IS NULL \
             AND (expires_at IS NULL OR expires_at > $3){}",
            LOCK_ROWS
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
        // The new token speaks for the same officer and team as the old one, and is
        // bound to the same certificate: rotating a stolen token must not unbind it.
        sqlx::query(
            "INSERT INTO api_tokens (id, bureau_id, token_sha256, label, created_at, role, expires_at, officer_id, team, client_cert_x5t_s256) \
             SELECT $1, $2, $3, $4, $5, $6, $7, officer_id, team, client_cert_x5t_s256 FROM api_tokens WHERE id = $8",
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
            Some(bureau) => {
                sqlx::query_as(&format!(
                    "SELECT {COLUMNS} FROM users WHERE bureau_id = $1 ORDER BY bureau_id, username"
                ))
                .bind(bureau.as_str())
                .fetch_all(&self.pool)
                .await
            }
            None => {
                sqlx::query_as(&format!(
                    "SELECT {COLUMNS} FROM users ORDER BY bureau_id, username"
                ))
                .fetch_all(&self.pool)
                .await
            }
        }
        .map_err(err("list users"))?;
        rows.into_iter().map(user_record).collect()
    }

    async fn disable_user(
        &self,
        bureau: &BureauId,
        username: &str,
        at: DateTime<Utc>,
    ) -> Result<bool, CatalogueError> {
        let mut tx = self
            .pool
            .begin_with(BEGIN_WRITE)
            .await
            .map_err(err("disable user"))?;
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
        let found = sqlx::query(
            "UPDATE users SET disabled_at = NULL WHERE bureau_id = $1 AND username = $2",
        )
        .bind(bureau.as_str())
        .bind(username)
        .execute(&self.pool)
        .await
        .map_err(err("enable user"))?
        .rows_affected();
        Ok(found == 1)
    }

    async fn user(
        &self,
        bureau: &BureauId,
        username: &str,
    ) -> Result<Option<(Role, String)>, CatalogueError> {
        let row: Option<(String, String)> =
            sqlx::query_as("SELECT role, password_hash FROM users WHERE bureau_id = $1 AND username = $2 AND disabled_at IS NULL")
                .bind(bureau.as_str())
                .bind(username)
                .fetch_optional(&self.pool)
                .await
                .map_err(err("user"))?;
        row.map(|(role, hash)| {
            Ok((
                role.parse()
                    .map_err(
                        |e: custodian_core::roles::UnknownRole| CatalogueError::Corrupt {
                            detail: e.to_string(),
                        },
                    )?,
                hash,
            ))
        })
        .transpose()
    }

    async fn create_session(
        &self,
        id: Uuid,
        token_sha256: &str,
        bureau: &BureauId,
        username: &str,
        at: DateTime<Utc>,
        expires_at: DateTime<Utc>,
    ) -> Result<(), CatalogueError> {
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

    async fn session_owner(
        &self,
        token_sha256: &str,
        now: DateTime<Utc>,
    ) -> Result<Option<TokenOwner>, CatalogueError> {
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
        let corrupt = |e: &dyn std::fmt::Display| CatalogueError::Corrupt {
            detail: format!("session: {e}"),
        };
        row.map(|(token_id, bureau, role, username, officer, team)| {
            Ok(TokenOwner {
                token_id,
                person: format!("user {bureau}/{username}"),
                bureau: BureauId::parse(&bureau).map_err(|e| corrupt(&e))?,
                role: role.parse().map_err(|e| corrupt(&e))?,
                label: format!("user {username}"),
                identity: identity("user", officer, team)?,
                // A person's session is never bound to a certificate.
                client_certificate: None,
            })
        })
        .transpose()
    }

    async fn end_session(
        &self,
        token_sha256: &str,
        at: DateTime<Utc>,
    ) -> Result<bool, CatalogueError> {
        let ended = sqlx::query(
            "UPDATE sessions SET ended_at = $2 WHERE token_sha256 = $1 AND ended_at IS NULL",
        )
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

    async fn take_stale_login_throttles(
        &self,
        before: DateTime<Utc>,
    ) -> Result<Vec<(String, Throttle)>, CatalogueError> {
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
}
