//! The SQL behind both catalogue adapters, and what they share. The statements are written
//! once, in the dialect SQLite and PostgreSQL share (`$n` parameters, `RETURNING`, `ON
//! CONFLICT`), one file per aggregate (`access.rs`, `uploads.rs`, ...). `sqlite.rs` and
//! `postgres.rs` each compile those files as modules of their own, with their adapter, their
//! driver and the two dialect differences (how a writing transaction begins, how rows read
//! for a change are locked). Only connecting, migrating and the retention lease are written
//! per adapter; the column types differ in each adapter's migrations.

// Both include every aggregate file, on purpose: once per adapter.
#[allow(clippy::duplicate_mod)]
mod postgres;
#[allow(clippy::duplicate_mod)]
mod sqlite;

pub use sqlite::{recorded_originals, snapshot_catalogue, RecordedOriginal};

use sqlx::postgres::PgPool;
use sqlx::sqlite::SqlitePool;

use super::model::ClipRow;
use super::{CatalogueError, ClipRecord};

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
