//! What the media workers made, as people use it: the viewing copy to play, its WebVTT
//! sidecar and poster, and the clips that look like this one. Every look goes through the
//! same bureau scoping and audit trail as the clip record itself.

use std::sync::Arc;

use axum::body::Body;
use axum::extract::{Path, Query, State};
use axum::http::{header, StatusCode};
use axum::response::IntoResponse;
use axum::{Extension, Json};
use custodian_core::media::{best_match, matching_spans, Match, MatchRules, Span};
use custodian_core::records::RecordKind;
use custodian_core::roles::Action;
use custodian_core::ClipId;
use custodian_core::ClipState;
use custodian_platform::catalogue::{ClipRecord, Rendition};
use custodian_platform::http::{ApiError, Caller};
use serde::{Deserialize, Serialize};

use crate::Catalog;

/// How many of a bureau's fingerprints a similarity search compares against (newest first).
const SEARCH_DEPTH: i64 = 20_000;

fn not_ready(what: &str) -> ApiError {
    ApiError::new(
        StatusCode::NOT_FOUND,
        "not-made-yet",
        format!("the clip has no {what} yet"),
    )
}

/// What a clip without `what` answers: a failed clip will never have it, and says why; any
/// other is still on its way.
fn missing(clip: &ClipRecord, what: &str) -> ApiError {
    if clip.state == ClipState::Failed {
        ApiError::new(
            StatusCode::CONFLICT,
            "clip-failed",
            format!(
                "the clip failed and has no {what}: {}",
                clip.failure_reason
                    .as_deref()
                    .unwrap_or("no reason was recorded")
            ),
        )
    } else {
        not_ready(what)
    }
}

impl Catalog {
    async fn rendition_of(&self, caller: &Caller, id: &str) -> Result<Rendition, ApiError> {
        Ok(self.record_and_rendition(caller, id).await?.1)
    }

    async fn record_and_rendition(
        &self,
        caller: &Caller,
        id: &str,
    ) -> Result<(ClipRecord, Rendition), ApiError> {
        caller.require(Action::WatchFootage)?;
        let id = super::api::clip_id(id)?;
        let clip = self.clip_of(caller, id).await?;
        if clip.purged_at.is_some() {
            return Err(ApiError::new(
                StatusCode::GONE,
                "purged",
                "the clip's files were purged",
            ));
        }
        let rendition = self
            .ports
            .catalogue
            .clip_media(id)
            .await?
            .and_then(|m| m.rendition)
            .ok_or_else(|| missing(&clip, "viewing copy"))?;
        Ok((clip, rendition))
    }

    /// Serves the part of `key` that a `Range` header asks for (206), all of it without one
    /// (200), or 416 for a range past its end; a player needs this to seek.
    async fn serve_range(
        &self,
        key: &str,
        content_type: &'static str,
        range: Option<&str>,
    ) -> Result<axum::response::Response, ApiError> {
        use custodian_platform::http::{byte_range, ByteRange};
        let size = self
            .ports
            .blob
            .size_of(key)
            .await?
            .ok_or_else(|| not_ready("file"))?;
        let (status, start, length, content_range) = match byte_range(range, size) {
            ByteRange::Whole => (StatusCode::OK, 0, size, None),
            ByteRange::Part { start, end } => (
                StatusCode::PARTIAL_CONTENT,
                start,
                end - start + 1,
                Some(format!("bytes {start}-{end}/{size}")),
            ),
            ByteRange::Unsatisfiable => {
                return Ok((
                    StatusCode::RANGE_NOT_SATISFIABLE,
                    [
                        (header::CONTENT_RANGE, format!("bytes */{size}")),
                        (header::ACCEPT_RANGES, "bytes".to_owned()),
                    ],
                )
                    .into_response())
            }
        };
        let reader = self.ports.blob.open_range(key, start, length).await?;
        let mut response = (
            status,
            [
                (header::CONTENT_TYPE, content_type.to_owned()),
                (header::CONTENT_LENGTH, length.to_string()),
                (header::ACCEPT_RANGES, "bytes".to_owned()),
                (header::CACHE_CONTROL, "private, no-store".to_owned()),
            ],
            Body::from_stream(tokio_util::io::ReaderStream::new(reader)),
        )
            .into_response();
        if let Some(content_range) = content_range {
            if let Ok(value) = header::HeaderValue::from_str(&content_range) {
                response.headers_mut().insert(header::CONTENT_RANGE, value);
            }
        }
        Ok(response)
    }

    async fn serve(
        &self,
        key: &str,
        content_type: &'static str,
    ) -> Result<impl IntoResponse, ApiError> {
        let size = self
            .ports
            .blob
            .size_of(key)
            .await?
            .ok_or_else(|| not_ready("file"))?;
        let reader = self.ports.blob.open(key).await?;
        Ok((
            [
                (header::CONTENT_TYPE, content_type.to_owned()),
                (header::CONTENT_LENGTH, size.to_string()),
                (header::CACHE_CONTROL, "private, no-store".to_owned()),
            ],
            Body::from_stream(tokio_util::io::ReaderStream::new(reader)),
        ))
    }
}

#[utoipa::path(
    get,
    path = "/v1/clips/{id}/view",
    tag = "media",
    params(("id" = uuid::Uuid, Path, description = "clip id")),
    responses(
        (status = 200, description = "the viewing copy: a video's H.264/AAC MP4 with time and place burned in (`video/mp4`), a recording's AAC in MP4 (`audio/mp4`), a photo's upright JPEG with the same text (`image/jpeg`), a document's original PDF (`application/pdf`, as an attachment, sandboxed)", content_type = "video/mp4"),
        (status = 206, description = "the bytes a `Range: bytes=…` header asked for (a player seeking)", content_type = "video/mp4"),
        (status = 416, description = "a range that starts past the end of the copy"),
        (status = 403, description = "a role that may not watch footage (region admins oversee records, not pictures)", body = custodian_platform::http::ErrorBody),
        (status = 404, description = "no such clip in the caller's bureau, or no copy yet", body = custodian_platform::http::ErrorBody),
        (status = 409, description = "the clip failed (`clip-failed`, with the reason): it will have no copy", body = custodian_platform::http::ErrorBody),
        (status = 410, description = "purged under the retention rules", body = custodian_platform::http::ErrorBody),
    ),
    security(("bearer" = []))
)]
pub(crate) async fn view(
    State(catalog): State<Arc<Catalog>>,
    Extension(caller): Extension<Caller>,
    Path(id): Path<String>,
    headers: axum::http::HeaderMap,
) -> Result<axum::response::Response, ApiError> {
    let (clip, rendition) = catalog.record_and_rendition(&caller, &id).await?;
    let range = headers
        .get(header::RANGE)
        .and_then(|value| value.to_str().ok());
    // A photo's copy is a JPEG (a scanned page given a document type too); a PDF document is
    // shown as its original.
    let content_type = if rendition.view_key.ends_with(".jpg") {
        "image/jpeg"
    } else if rendition.view_key == clip.object_key {
        "application/pdf"
    } else if clip.kind == Some(RecordKind::Audio) {
        "audio/mp4"
    } else {
        "video/mp4"
    };
    let mut response = catalog
        .serve_range(&rendition.view_key, content_type, range)
        .await?;
    if content_type == "application/pdf" {
        // A document is given as received, and PDFs can carry scripts, forms and links:
        // saved and opened by the person's own reader, never rendered in the origin that
        // holds their session; and sandboxed should a browser render it anyway.
        let headers = response.headers_mut();
        headers.insert(
            header::CONTENT_SECURITY_POLICY,
            header::HeaderValue::from_static("sandbox"),
        );
        if let Ok(value) =
            header::HeaderValue::from_str(&format!("attachment; filename=\"{}.pdf\"", clip.id))
        {
            headers.insert(header::CONTENT_DISPOSITION, value);
        }
    }
    response.headers_mut().insert(
        header::X_CONTENT_TYPE_OPTIONS,
        header::HeaderValue::from_static("nosniff"),
    );
    Ok(response)
}

#[utoipa::path(
    get,
    path = "/v1/clips/{id}/subtitles",
    tag = "media",
    params(("id" = uuid::Uuid, Path, description = "clip id")),
    responses(
        (status = 200, description = "the burned-in text per second as WebVTT", content_type = "text/vtt"),
        (status = 403, description = "a role that may not watch footage (region admins oversee records, not pictures)", body = custodian_platform::http::ErrorBody),
        (status = 404, description = "no such clip in the caller's bureau, or no copy yet", body = custodian_platform::http::ErrorBody),
        (status = 409, description = "the clip failed (`clip-failed`, with the reason): it will have no copy", body = custodian_platform::http::ErrorBody),
    ),
    security(("bearer" = []))
)]
pub(crate) async fn subtitles(
    State(catalog): State<Arc<Catalog>>,
    Extension(caller): Extension<Caller>,
    Path(id): Path<String>,
) -> Result<impl IntoResponse, ApiError> {
    let rendition = catalog.rendition_of(&caller, &id).await?;
    catalog
        .serve(&rendition.subtitles_key, "text/vtt; charset=utf-8")
        .await
}

#[utoipa::path(
    get,
    path = "/v1/clips/{id}/poster",
    tag = "media",
    params(("id" = uuid::Uuid, Path, description = "clip id")),
    responses(
        (status = 200, description = "a frame of the viewing copy", content_type = "image/jpeg"),
        (status = 403, description = "a role that may not watch footage (region admins oversee records, not pictures)", body = custodian_platform::http::ErrorBody),
        (status = 404, description = "no such clip in the caller's bureau, or no copy yet", body = custodian_platform::http::ErrorBody),
        (status = 409, description = "the clip failed (`clip-failed`, with the reason): it will have no copy", body = custodian_platform::http::ErrorBody),
    ),
    security(("bearer" = []))
)]
pub(crate) async fn poster(
    State(catalog): State<Arc<Catalog>>,
    Extension(caller): Extension<Caller>,
    Path(id): Path<String>,
) -> Result<impl IntoResponse, ApiError> {
    let rendition = catalog.rendition_of(&caller, &id).await?;
    catalog.serve(&rendition.poster_key, "image/jpeg").await
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
pub(crate) struct SimilarQuery {
    /// Mean Hamming distance per second at most (0–64; default 10).
    max_distance: Option<f64>,
    /// Seconds the clips must share at least (default 3, or the shorter clip).
    min_overlap: Option<u32>,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub(crate) struct SimilarClip {
    #[schema(value_type = String, format = Uuid)]
    clip_id: ClipId,
    /// Where the other clip's first second lies in this one (negative: this clip starts
    /// inside the other), by the best single alignment, or by the longest shared span.
    offset_seconds: i64,
    overlap_seconds: u32,
    /// Mean Hamming distance of the per-second hashes over the overlap (0 = identical);
    /// absent when only the sound matched.
    mean_distance: Option<f64>,
    /// Every stretch of at least `min_overlap` seconds the two clips share, in this clip's
    /// order: an excerpt is one span, a clip with a span removed two (the gap between them is
    /// what was cut), a splice one span in each source.
    spans: Vec<SharedSpan>,
    /// Where the two share sound (a recording re-encoded or trimmed, or heard in a video's
    /// sound track), by their Chromaprint fingerprints; absent when the sound did not match.
    sound: Option<SoundMatch>,
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub(crate) struct SoundMatch {
    /// Where the shared sound starts in this record and in the other, in seconds.
    start_seconds: f32,
    other_start_seconds: f32,
    /// How long the shared sound lasts, in seconds.
    seconds: f32,
    /// Chromaprint's bit error rate over the match, 0 (identical) to 32; under 10 matches.
    score: f64,
}

/// The least sound two records must share to be called the same: 5 s, or half the shorter.
const MIN_SHARED_SOUND_SECONDS: f32 = 5.0;

/// Where `a` and `b` share sound, if enough of it to count.
fn compare_sound(a: &[u32], b: &[u32]) -> Option<SoundMatch> {
    let config = rusty_chromaprint::Configuration::preset_test2();
    let segments = rusty_chromaprint::match_fingerprints(a, b, &config).ok()?;
    let item = config.item_duration_in_seconds();
    let shorter = a.len().min(b.len()) as f32 * item;
    let need = MIN_SHARED_SOUND_SECONDS.min(shorter / 2.0).max(item);
    let seconds: f32 = segments.iter().map(|s| s.duration(&config)).sum();
    let first = segments.first()?;
    (seconds >= need).then(|| SoundMatch {
        start_seconds: first.start1(&config),
        other_start_seconds: first.start2(&config),
        seconds,
        score: segments
            .iter()
            .map(|s| s.score)
            .fold(f64::INFINITY, f64::min),
    })
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub(crate) struct SharedSpan {
    /// Where the span starts in this clip, in seconds.
    start_seconds: u32,
    /// Where the span starts in the other clip, in seconds.
    other_start_seconds: u32,
    seconds: u32,
    mean_distance: f64,
}

impl From<Span> for SharedSpan {
    fn from(span: Span) -> Self {
        Self {
            start_seconds: span.start_seconds,
            other_start_seconds: span.other_start_seconds,
            seconds: span.seconds,
            mean_distance: span.mean_distance,
        }
    }
}

/// How `other` matches `hashes`: its best alignment and every shared span, if any matches.
fn compare(hashes: &[u64], other: &[u64], rules: &MatchRules) -> Option<(Match, Vec<Span>)> {
    let spans = matching_spans(hashes, other, rules);
    let best = best_match(hashes, other, rules).or_else(|| {
        spans.iter().max_by_key(|s| s.seconds).map(|s| Match {
            offset_seconds: i64::from(s.start_seconds) - i64::from(s.other_start_seconds),
            overlap_seconds: s.seconds,
            mean_distance: s.mean_distance,
        })
    })?;
    Some((best, spans))
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub(crate) struct SimilarClips {
    items: Vec<SimilarClip>,
    /// How many of the bureau's fingerprinted clips were compared.
    compared: usize,
}

#[utoipa::path(
    get,
    path = "/v1/clips/{id}/similar",
    tag = "media",
    params(("id" = uuid::Uuid, Path, description = "clip id"), SimilarQuery),
    responses(
        (status = 200, description = "clips of the bureau whose pictures match this one's, best first", body = SimilarClips),
        (status = 400, description = "a bad threshold", body = custodian_platform::http::ErrorBody),
        (status = 404, description = "no such clip in the caller's bureau, or no fingerprint yet", body = custodian_platform::http::ErrorBody),
        (status = 409, description = "the clip failed (`clip-failed`, with the reason): it will have no fingerprint", body = custodian_platform::http::ErrorBody),
    ),
    security(("bearer" = []))
)]
pub(crate) async fn similar(
    State(catalog): State<Arc<Catalog>>,
    Extension(caller): Extension<Caller>,
    Path(id): Path<String>,
    Query(query): Query<SimilarQuery>,
) -> Result<Json<SimilarClips>, ApiError> {
    let id = super::api::clip_id(&id)?;
    let clip = catalog.clip_of(&caller, id).await?;
    let defaults = MatchRules::default();
    let rules = MatchRules {
        max_mean_distance: query.max_distance.unwrap_or(defaults.max_mean_distance),
        min_overlap_seconds: query.min_overlap.unwrap_or(defaults.min_overlap_seconds),
    };
    if !(0.0..=64.0).contains(&rules.max_mean_distance) || rules.min_overlap_seconds == 0 {
        return Err(ApiError::new(
            StatusCode::BAD_REQUEST,
            "invalid-request",
            "max_distance must be 0 to 64 and min_overlap at least 1",
        ));
    }
    let candidates = catalog
        .ports
        .catalogue
        .fingerprints(&caller.bureau, SEARCH_DEPTH)
        .await?;
    let Some(hashes) = candidates
        .iter()
        .find(|(clip, _)| *clip == id)
        .map(|(_, hashes)| hashes.clone())
    else {
        return Err(missing(&clip, "fingerprint"));
    };
    // A photo or a document has no sound: the bureau's sound prints are not read for it.
    let sounds = if matches!(clip.kind, Some(RecordKind::Photo | RecordKind::Document)) {
        Vec::new()
    } else {
        catalog
            .ports
            .catalogue
            .sound_fingerprints(&caller.bureau, SEARCH_DEPTH)
            .await?
    };
    let sound = sounds
        .iter()
        .find(|(clip, _)| *clip == id)
        .map(|(_, items)| items.clone());
    let compared = candidates.len().saturating_sub(1);
    // O(clips × seconds²): off the async workers, and only so many at once.
    let _permit = catalog
        .similarity_searches
        .acquire()
        .await
        .map_err(|e| ApiError::internal(e.to_string()))?;
    let items = tokio::task::spawn_blocking(move || {
        let mut found: std::collections::BTreeMap<ClipId, SimilarClip> = candidates
            .iter()
            .filter(|(other, _)| *other != id)
            .filter_map(|(other, other_hashes)| {
                compare(&hashes, other_hashes, &rules).map(|(best, spans)| {
                    let similar = SimilarClip {
                        clip_id: *other,
                        offset_seconds: best.offset_seconds,
                        overlap_seconds: best.overlap_seconds,
                        mean_distance: Some(best.mean_distance),
                        spans: spans.into_iter().map(SharedSpan::from).collect(),
                        sound: None,
                    };
                    (*other, similar)
                })
            })
            .collect();
        if let Some(sound) = sound.filter(|items| !items.is_empty()) {
            for (other, other_sound) in sounds.iter().filter(|(other, _)| *other != id) {
                let Some(matched) = compare_sound(&sound, other_sound) else {
                    continue;
                };
                let offset_seconds =
                    (matched.start_seconds - matched.other_start_seconds).round() as i64;
                let overlap_seconds = matched.seconds.round() as u32;
                found
                    .entry(*other)
                    .or_insert_with(|| SimilarClip {
                        clip_id: *other,
                        offset_seconds,
                        overlap_seconds,
                        mean_distance: None,
                        spans: Vec::new(),
                        sound: None,
                    })
                    .sound = Some(matched);
            }
        }
        found.into_values().collect::<Vec<_>>()
    })
    .await
    .map_err(|e| ApiError::internal(e.to_string()))?;
    // Only what the caller may see of the matches (confidentiality).
    let mut visible = Vec::new();
    for similar in items {
        if catalog.clip_of(&caller, similar.clip_id).await.is_ok() {
            visible.push(similar);
        }
    }
    // Closest pictures first, then the sound-only matches by their score.
    visible.sort_by(|a, b| {
        let picture = |s: &SimilarClip| s.mean_distance.unwrap_or(f64::INFINITY);
        let sound = |s: &SimilarClip| s.sound.as_ref().map_or(f64::INFINITY, |m| m.score);
        picture(a)
            .total_cmp(&picture(b))
            .then(sound(a).total_cmp(&sound(b)))
    });
    Ok(Json(SimilarClips {
        items: visible,
        compared,
    }))
}
