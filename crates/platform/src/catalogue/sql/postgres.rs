//! The PostgreSQL adapter: a region's catalogue, shared by every replica. Its queries are the
//! aggregate files beside this one, compiled here against PostgreSQL.

use std::time::Duration;

use async_trait::async_trait;
use custodian_core::BureauId;
use sqlx::postgres::{PgPool, PgPoolOptions};

use super::{err, PostgresCatalogue, Schema};
use crate::catalogue::model::CLIP_COLUMNS;
use crate::catalogue::{CatalogueError, ClipFilter, Lease, Ping};

/// The adapter the aggregate files implement their traits for, compiled here.
type Adapter = PostgresCatalogue;
/// The driver the aggregate files' queries run on.
type Db = sqlx::Postgres;
/// How a transaction that writes begins.
const BEGIN_WRITE: &str = "BEGIN";
/// Rows a transaction reads to change are locked.
const LOCK_ROWS: &str = " FOR UPDATE";

impl PostgresCatalogue {
    pub async fn connect(url: &str, max_connections: u32) -> Result<Self, CatalogueError> {
        Self::connect_with(url, max_connections, Schema::Migrate).await
    }

    /// Connects, and migrates the schema or only checks that it is migrated: a runtime role
    /// that may not change the schema (see [`PostgresCatalogue::grant_runtime`]) checks.
    pub async fn connect_with(
        url: &str,
        max_connections: u32,
        schema: Schema,
    ) -> Result<Self, CatalogueError> {
        let pool = PgPoolOptions::new()
            .max_connections(max_connections.max(1))
            .acquire_timeout(Duration::from_secs(3))
            .connect(url)
            .await
            .map_err(err("connect"))?;
        let migrator = sqlx::migrate!("./migrations/postgres");
        match schema {
            Schema::Migrate => migrator
                .run(&pool)
                .await
                .map_err(|e| CatalogueError::Migration(e.to_string()))?,
            Schema::Expect => {
                let needed = migrator.iter().map(|m| m.version).max().unwrap_or(0);
                let applied: Option<i64> =
                    sqlx::query_scalar("SELECT MAX(version) FROM _sqlx_migrations WHERE success")
                        .fetch_one(&pool)
                        .await
                        .map_err(|e| {
                            CatalogueError::Migration(format!("reading the schema's version: {e}"))
                        })?;
                if applied.unwrap_or(0) < needed {
                    return Err(CatalogueError::Migration(format!(
                        "the catalogue's schema is at migration {}, this build needs {needed}: run \
                         `custodian migrate` with the schema owner's role first",
                        applied.unwrap_or(0)
                    )));
                }
            }
        }
        Ok(Self { pool })
    }

    /// Grants `role` what the services need at run time and nothing more: reading and writing
    /// the catalogue's tables, but only reading and appending to the audit trail (no update,
    /// delete or truncate), and no right to change the schema, triggers included, which stay
    /// the owner's. Run by the schema owner after each migration (`custodian migrate
    /// --grant-runtime ROLE`).
    pub async fn grant_runtime(&self, role: &str) -> Result<(), CatalogueError> {
        if role.is_empty()
            || !role
                .chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
        {
            return Err(CatalogueError::Query {
                operation: "grant runtime rights",
                message: format!("role name {role:?} must be lowercase letters, digits and _"),
            });
        }
        let statements = [
            format!("GRANT USAGE ON SCHEMA public TO {role}"),
            format!(
                "GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA public TO {role}"
            ),
            format!("GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA public TO {role}"),
            format!("REVOKE UPDATE, DELETE, TRUNCATE ON audit_log, audit_checkpoints FROM {role}"),
            format!("REVOKE ALL ON _sqlx_migrations FROM {role}"),
            format!("GRANT SELECT ON _sqlx_migrations TO {role}"),
        ];
        let mut tx = self
            .pool
            .begin()
            .await
            .map_err(err("grant runtime rights"))?;
        for statement in &statements {
            sqlx::query(statement)
                .execute(&mut *tx)
                .await
                .map_err(err("grant runtime rights"))?;
        }
        tx.commit().await.map_err(err("grant runtime rights"))
    }

    pub fn pool(&self) -> &PgPool {
        &self.pool
    }
}

/// A session-level advisory lock on a connection of its own: PostgreSQL releases it when the
/// connection ends, so a crashed holder hands the lease on.
struct AdvisoryLease {
    connection: sqlx::PgConnection,
}

#[async_trait]
impl Lease for AdvisoryLease {
    async fn held(&mut self) -> bool {
        sqlx::query("SELECT 1")
            .execute(&mut self.connection)
            .await
            .is_ok()
    }
}

impl PostgresCatalogue {
    pub(super) async fn lease(&self, name: &str) -> Result<Option<Box<dyn Lease>>, CatalogueError> {
        let mut connection = self.pool.acquire().await.map_err(err("lease"))?.detach();
        let got: bool = sqlx::query_scalar("SELECT pg_try_advisory_lock(hashtext($1))")
            .bind(name)
            .fetch_one(&mut connection)
            .await
            .map_err(err("lease"))?;
        Ok(got.then(|| Box::new(AdvisoryLease { connection }) as Box<dyn Lease>))
    }

    /// PostgreSQL's plan for a `list_clips` call, executed (EXPLAIN ANALYZE): for benchmarks
    /// and operators checking that searches use their indexes.
    pub async fn explain_list(
        &self,
        bureau: &BureauId,
        filter: &ClipFilter,
        limit: i64,
    ) -> Result<String, CatalogueError> {
        let select =
            format!("EXPLAIN (ANALYZE, BUFFERS, COSTS OFF) SELECT {CLIP_COLUMNS} FROM clips");
        let mut query = Self::list_query(&select, bureau, filter, limit);
        let lines: Vec<String> = query
            .build_query_scalar()
            .fetch_all(&self.pool)
            .await
            .map_err(err("explain"))?;
        Ok(lines.join("\n"))
    }
}

#[async_trait]
impl Ping for Adapter {
    async fn ping(&self) -> Result<(), CatalogueError> {
        sqlx::query("SELECT 1")
            .execute(&self.pool)
            .await
            .map_err(err("ping"))?;
        Ok(())
    }
}

// The queries, written once for both adapters: each file is compiled here with this module's
// `Adapter`, `Db`, `BEGIN_WRITE` and `LOCK_ROWS`.
#[path = "access.rs"]
mod access;
#[path = "audit.rs"]
mod audit;
#[path = "cases.rs"]
mod cases;
#[path = "clips.rs"]
mod clips;
#[path = "copies.rs"]
mod copies;
#[path = "recovery.rs"]
mod recovery;
#[path = "rectifications.rs"]
mod rectifications;
#[path = "retention.rs"]
mod retention;
#[path = "tasks.rs"]
mod tasks;
#[path = "uploads.rs"]
mod uploads;
