//! A GPS track (GPX, or NMEA from the camera's logger) uploaded beside a clip, so that the
//! burned-in coordinates follow the officer second by second instead of one fixed point. A
//! track may come after the clip: the viewing copy is then made again with it. Tracks are
//! versioned, never overwritten (the place burned into evidence must not change behind a
//! copy), and only the station that uploaded the clip, or an archivist or leader, adds one.

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::{Extension, Json};
use chrono::{DateTime, Utc};
use custodian_core::keys::track_key;
use custodian_core::media::{parse_gpx, parse_nmea};
use custodian_core::roles::{Action, Role};
use custodian_core::ClipId;
use custodian_platform::blob::{store_new_bytes, BlobError};
use custodian_platform::catalogue::{CatalogueError, TrackVersion};
use custodian_platform::events::publish_stored;
use custodian_platform::http::{clip_in_bureau, ApiError, Caller};
use serde::Serialize;

use crate::Ingest;

/// The largest track accepted: a day of 1 Hz NMEA is about 6 MiB.
pub const MAX_TRACK_BYTES: usize = 32 << 20;

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct TrackReceipt {
    #[schema(value_type = String, format = Uuid)]
    clip_id: ClipId,
    /// 1 for the clip's first track, then one more for each.
    version: i64,
    /// The track file's SHA-256 (hex); copies made with it record it.
    sha256: String,
    points: usize,
    /// Lines or points that could not be read and were left out.
    skipped: usize,
    starts: DateTime<Utc>,
    ends: DateTime<Utc>,
    /// Whether the track covers any of the clip's recording; if not, the copy keeps the
    /// clip's own position.
    covers_recording: bool,
}

fn unusable(message: impl Into<String>) -> ApiError {
    ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, "unusable-track", message)
}

#[utoipa::path(
    put,
    path = "/v1/clips/{id}/track",
    tag = "ingest",
    params(("id" = uuid::Uuid, Path, description = "clip id")),
    request_body(content = String, content_type = "application/gpx+xml", description = "GPX 1.1, or NMEA 0183 sentences (RMC/GGA)"),
    responses(
        (status = 201, description = "kept as the next version; the viewing copy will be made again with it", body = TrackReceipt),
        (status = 403, description = "not the station that uploaded the clip (`not-the-uploader`), nor an archivist or leader", body = custodian_platform::http::ErrorBody),
        (status = 404, description = "no such clip in the caller's bureau", body = custodian_platform::http::ErrorBody),
        (status = 409, description = "another version arrived at the same moment; send it again", body = custodian_platform::http::ErrorBody),
        (status = 413, description = "over 32 MiB", body = custodian_platform::http::ErrorBody),
        (status = 422, description = "not a track with any usable point", body = custodian_platform::http::ErrorBody),
    ),
    security(("bearer" = []))
)]
pub async fn put_track(
    State(ingest): State<Arc<Ingest>>,
    Extension(caller): Extension<Caller>,
    Path(id): Path<String>,
    body: Bytes,
) -> Result<(StatusCode, Json<TrackReceipt>), ApiError> {
    let staff = matches!(caller.role, Role::Archivist | Role::Leader);
    if !staff {
        caller.require(Action::Upload)?;
    }
    let id: ClipId = id.parse().map_err(|e: custodian_core::IdError| {
        ApiError::new(StatusCode::BAD_REQUEST, "invalid-request", e.to_string())
    })?;
    let clip = clip_in_bureau(&*ingest.clips, &caller, id).await?;
    if !staff && clip.uploaded_by.as_deref() != Some(caller.person.as_str()) {
        return Err(ApiError::new(
            StatusCode::FORBIDDEN,
            "not-the-uploader",
            "only the station that uploaded the clip, or an archivist or leader, may add its track",
        ));
    }
    let text = std::str::from_utf8(&body)
        .map_err(|_| unusable("a track is text (GPX or NMEA); this is not UTF-8"))?;
    let track = if text.trim_start().starts_with('<') {
        parse_gpx(text)
    } else {
        parse_nmea(text, clip.recorded_at.date_naive())
    }
    .map_err(|e| unusable(e.to_string()))?;
    let Some((starts, ends)) = track.span() else {
        return Err(unusable("the track has no points"));
    };
    let catalogue = &ingest.clips;
    let version = catalogue
        .track_versions(id)
        .await?
        .last()
        .map_or(1, |v| v.version + 1);
    let key = track_key(&clip.bureau, id, version);
    let raced = || {
        ApiError::new(
            StatusCode::CONFLICT,
            "track-conflict",
            format!("another track version {version} arrived at the same moment; send it again"),
        )
    };
    let written = match store_new_bytes(&*ingest.ports.blob, &key, body.clone()).await {
        Ok(written) => written,
        Err(BlobError::AlreadyExists { .. }) => return Err(raced()),
        Err(e) => return Err(e.into()),
    };
    let kept = TrackVersion {
        version,
        object_key: key,
        sha256: written.sha256.to_hex(),
        size_bytes: i64::try_from(written.size).unwrap_or(i64::MAX),
        added_at: ingest.ports.clock.now(),
        added_by: caller.name(),
    };
    if let Err(e) = catalogue.add_track_version(id, &kept).await {
        return Err(match e {
            CatalogueError::Conflict { .. } => raced(),
            other => other.into(),
        });
    }
    // The copy is made again with the track: cleared, then announced under a new round so
    // the bus does not drop the announcement as a duplicate.
    ingest.clips.clear_transcode(id).await?;
    let now = ingest.ports.clock.now();
    let round = ingest.clips.next_publish_round(id, now).await?;
    publish_stored(&*ingest.ports.bus, &clip, round)
        .await
        .map_err(|e| {
            ApiError::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "bus-unavailable",
                format!("track kept, copy not yet requested: {e}"),
            )
        })?;
    let measured = ingest
        .clips
        .clip_media(id)
        .await?
        .and_then(|m| m.facts.duration_seconds);
    let recording_ends = clip.recorded_at
        + chrono::Duration::milliseconds((measured.unwrap_or(0.0) * 1000.0) as i64);
    tracing::info!(clip_id = %id, version, points = track.points().len(), "track kept beside the clip");
    Ok((
        StatusCode::CREATED,
        Json(TrackReceipt {
            clip_id: id,
            version,
            sha256: kept.sha256,
            points: track.points().len(),
            skipped: track.skipped(),
            starts,
            ends,
            covers_recording: starts <= recording_ends && ends >= clip.recorded_at,
        }),
    ))
}
