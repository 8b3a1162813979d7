//! The SQL behind both catalogue adapters. The statements are written once in the dialect
//! SQLite and PostgreSQL share (`$n` parameters, `RETURNING`, `ON CONFLICT`), and the
//! `catalogue_on!` macro instantiates them for each driver; only connecting and migrating
//! differ, and the column types differ in each adapter's migrations.

mod postgres;
mod sqlite;

use async_trait::async_trait;
use sqlx::postgres::PgPool;
use sqlx::sqlite::SqlitePool;

use super::model::ClipRow;
use super::{Catalogue, CatalogueError, ClipRecord};

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
        impl $adapter {}

        #[async_trait]
        impl Catalogue for $adapter {
            async fn ping(&self) -> Result<(), CatalogueError> {
                sqlx::query("SELECT 1")
                    .execute(&self.pool)
                    .await
                    .map_err(err("ping"))?;
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
