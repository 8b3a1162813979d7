//! The read API: one clip with its history, and a bureau's clips filtered and paged by cursor.
//! Every route requires a token, and every query is scoped to the token's bureau; a clip of
//! another bureau is answered exactly as a clip that does not exist.

use std::sync::Arc;

use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::routing::get;
use axum::{Extension, Json, Router};
use chrono::{DateTime, Utc};
use custodian_core::{ClipId, ClipState};
use custodian_platform::catalogue::{ClipFilter, ClipRecord, Transition};
use custodian_platform::http::{authenticate, ApiError, Caller};
use serde::{Deserialize, Serialize};

use crate::Catalog;

pub const MAX_PAGE: i64 = 500;

pub fn router(catalog: Arc<Catalog>) -> Router {
    let catalogue = catalog.ports.catalogue.clone();
    Router::new()
        .route("/v1/clips", get(list))
        .route("/v1/clips/{id}", get(one))
        .with_state(catalog)
        .layer(axum::middleware::from_fn_with_state(catalogue, authenticate))
}

fn bad_request(message: impl Into<String>) -> ApiError {
    ApiError::new(StatusCode::BAD_REQUEST, "invalid-query", message)
}

#[derive(Serialize)]
struct ClipWithHistory {
    #[serde(flatten)]
    clip: ClipRecord,
    history: Vec<Transition>,
}

async fn one(State(catalog): State<Arc<Catalog>>, Extension(caller): Extension<Caller>, Path(id): Path<String>) -> Result<Json<ClipWithHistory>, ApiError> {
    let id: ClipId = id.parse().map_err(|e: custodian_core::IdError| bad_request(e.to_string()))?;
    let clip = catalog
        .ports
        .catalogue
        .clip(&caller.bureau, id)
        .await?
        .ok_or_else(|| ApiError::new(StatusCode::NOT_FOUND, "no-such-clip", format!("no clip {id} in bureau {}", caller.bureau)))?;
    let history = catalog.ports.catalogue.transitions(id).await?;
    Ok(Json(ClipWithHistory { clip, history }))
}

#[derive(Debug, Deserialize)]
struct ListQuery {
    device: Option<String>,
    officer: Option<String>,
    state: Option<String>,
    case: Option<String>,
    recorded_from: Option<String>,
    recorded_to: Option<String>,
    limit: Option<i64>,
    cursor: Option<String>,
}

#[derive(Serialize)]
struct Page {
    items: Vec<ClipRecord>,
    /// Pass as `cursor` to get the next page; absent on the last page.
    next_cursor: Option<ClipId>,
}

fn time(field: &str, value: Option<String>) -> Result<Option<DateTime<Utc>>, ApiError> {
    value
        .map(|v| {
            DateTime::parse_from_rfc3339(&v)
                .map(|t| t.with_timezone(&Utc))
                .map_err(|_| bad_request(format!("{field} {v:?} is not an RFC 3339 time such as 2026-02-14T09:30:00+08:00")))
        })
        .transpose()
}

async fn list(State(catalog): State<Arc<Catalog>>, Extension(caller): Extension<Caller>, Query(query): Query<ListQuery>) -> Result<Json<Page>, ApiError> {
    let limit = query.limit.unwrap_or(50);
    if !(1..=MAX_PAGE).contains(&limit) {
        return Err(bad_request(format!("limit {limit} must be 1 to {MAX_PAGE}")));
    }
    let state = query
        .state
        .map(|s| s.parse::<ClipState>())
        .transpose()
        .map_err(|e| bad_request(format!("{e}; known states: stored, catalogued, archived, expired, failed")))?;
    let before = query.cursor.map(|c| c.parse::<ClipId>()).transpose().map_err(|e| bad_request(format!("cursor: {e}")))?;
    let filter = ClipFilter {
        device: query.device,
        officer: query.officer,
        state,
        case_ref: query.case,
        recorded_from: time("recorded_from", query.recorded_from)?,
        recorded_to: time("recorded_to", query.recorded_to)?,
        before,
    };
    // One more than asked tells whether there is a next page without a count query.
    let mut items = catalog.ports.catalogue.list_clips(&caller.bureau, &filter, limit + 1).await?;
    let next_cursor = if items.len() as i64 > limit {
        items.truncate(limit as usize);
        items.last().map(|clip| clip.id)
    } else {
        None
    };
    Ok(Json(Page { items, next_cursor }))
}
