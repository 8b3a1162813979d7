//! The plain streaming upload: `PUT /v1/uploads?device=..&officer=..&recorded_at=..&file_name=..[&case=..]`
//! with the original as the body and, ideally, its digest in `Content-Digest`.

use std::sync::Arc;
use std::time::Instant;

use axum::body::Body;
use axum::extract::{Query, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::{Extension, Json};
use custodian_core::keys::original_key;
use custodian_core::roles::Action;
use custodian_core::upload::{MetadataError, RawUploadMetadata};
use custodian_core::{ClipId, DigestError, Sha256Digest};
use custodian_platform::blob::{BlobError, BlobWriter, WrittenObject};
use custodian_platform::catalogue::{CatalogueError, PendingUpload};
use custodian_platform::http::{ApiError, Caller};
use futures::StreamExt;
use serde::Deserialize;

use crate::finish::{self, Receipt};
use crate::Ingest;

#[derive(Debug, thiserror::Error)]
pub enum IngestError {
    #[error(transparent)]
    Metadata(#[from] MetadataError),
    #[error("{header}: {source}")]
    DigestHeader {
        header: &'static str,
        source: DigestError,
    },
    #[error("the upload is {size} bytes; the limit is {limit}")]
    TooLarge { size: u64, limit: u64 },
    #[error("the body is empty: a 0-byte file is not a recording")]
    Empty,
    #[error("the body ended after {received} of {declared} declared bytes")]
    Truncated { received: u64, declared: u64 },
    #[error("the body could not be read after {received} bytes: {message}")]
    BodyBroken { received: u64, message: String },
    #[error("the content digest does not match: client sent sha-256 {claimed}, received bytes hash to {actual}")]
    DigestMismatch {
        claimed: Sha256Digest,
        actual: Sha256Digest,
    },
    #[error(transparent)]
    Blob(#[from] BlobError),
    #[error(transparent)]
    Catalogue(#[from] CatalogueError),
}

impl IngestError {
    /// A stable label for metrics and the error body.
    pub(crate) fn code(&self) -> &'static str {
        match self {
            Self::Metadata(MetadataError::WrongBureau { .. }) => "wrong-bureau",
            Self::Metadata(_) => "invalid-metadata",
            Self::DigestHeader { .. } => "invalid-digest-header",
            Self::TooLarge { .. } => "too-large",
            Self::Empty => "empty",
            Self::Truncated { .. } => "truncated",
            Self::BodyBroken { .. } => "body-broken",
            Self::DigestMismatch { .. } => "digest-mismatch",
            Self::Blob(e) if e.is_transient() => "storage-unavailable",
            Self::Blob(_) => "storage-failed",
            Self::Catalogue(e) if e.is_transient() => "catalogue-unavailable",
            Self::Catalogue(_) => "catalogue-failed",
        }
    }

    pub(crate) fn status(&self) -> StatusCode {
        match self {
            Self::Metadata(MetadataError::WrongBureau { .. }) => StatusCode::FORBIDDEN,
            Self::Metadata(_)
            | Self::DigestHeader { .. }
            | Self::Empty
            | Self::Truncated { .. }
            | Self::BodyBroken { .. } => StatusCode::BAD_REQUEST,
            Self::TooLarge { .. } => StatusCode::PAYLOAD_TOO_LARGE,
            Self::DigestMismatch { .. } => StatusCode::UNPROCESSABLE_ENTITY,
            Self::Blob(e) if e.is_transient() => StatusCode::SERVICE_UNAVAILABLE,
            Self::Catalogue(e) if e.is_transient() => StatusCode::SERVICE_UNAVAILABLE,
            Self::Blob(_) | Self::Catalogue(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }
}

impl From<IngestError> for ApiError {
    fn from(err: IngestError) -> Self {
        ApiError::new(err.status(), err.code(), err.to_string())
    }
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct UploadQuery {
    /// The caller's bureau; may be left out, and another bureau is refused.
    bureau: Option<String>,
    /// The camera's code, e.g. DSJ-0001.
    device: Option<String>,
    /// The officer's code (警号).
    officer: Option<String>,
    /// When recording started, RFC 3339 with an offset, e.g. 2026-02-14T09:30:00+08:00.
    recorded_at: Option<String>,
    /// The original file's name, kept as given.
    file_name: Option<String>,
    /// The case reference, if the footage belongs to one.
    case: Option<String>,
    /// The place, as named by the officer.
    place: Option<String>,
    /// Latitude in degrees (WGS 84), with `lon`.
    lat: Option<f64>,
    /// Longitude in degrees (WGS 84), with `lat`.
    lon: Option<f64>,
    /// When the officer returned to the office after the stage of enforcement, RFC 3339: art.
    /// 16's upload deadlines count from it (without it, from the recording's end). Not before
    /// `recorded_at`, not in the future.
    returned_at: Option<String>,
    /// The special circumstance (特殊情况) for uploading more than 24 hours after the return;
    /// it excuses that within 3 working days. Up to 500 characters.
    late_reason: Option<String>,
}

/// Uploads an original. The body is streamed to storage while hashed; the receipt comes only
/// once the stored object is verified and the clip recorded.
#[utoipa::path(
    put,
    path = "/v1/uploads",
    tag = "ingest",
    params(UploadQuery, ("Content-Digest" = Option<String>, Header, description = "RFC 9530, e.g. sha-256=:BASE64:")),
    request_body(content = Vec<u8>, content_type = "application/octet-stream", description = "the original, byte for byte"),
    responses(
        (status = 201, description = "stored, verified and recorded", body = Receipt),
        (status = 400, description = "bad metadata, digest header or body, or an empty body", body = custodian_platform::http::ErrorBody),
        (status = 401, description = "no valid token", body = custodian_platform::http::ErrorBody),
        (status = 403, description = "another bureau, or a role that may not upload", body = custodian_platform::http::ErrorBody),
        (status = 413, description = "over the size limit", body = custodian_platform::http::ErrorBody),
        (status = 422, description = "the bytes do not match the digest", body = custodian_platform::http::ErrorBody),
        (status = 503, description = "storage or catalogue unreachable; retry after Retry-After", body = custodian_platform::http::ErrorBody),
    ),
    security(("bearer" = []))
)]
pub async fn put_upload(
    State(ingest): State<Arc<Ingest>>,
    Extension(caller): Extension<Caller>,
    Query(query): Query<UploadQuery>,
    headers: HeaderMap,
    body: Body,
) -> Response {
    if let Err(refused) = caller.require(Action::Upload) {
        ingest
            .metrics
            .uploads
            .with_label_values(&["forbidden"])
            .inc();
        return refused.into_response();
    }
    let started = Instant::now();
    let outcome = receive(&ingest, &caller, query, &headers, body).await;
    ingest
        .metrics
        .duration
        .observe(started.elapsed().as_secs_f64());
    match outcome {
        Ok(receipt) => {
            ingest.metrics.uploads.with_label_values(&["stored"]).inc();
            ingest.metrics.bytes.inc_by(receipt.size_bytes);
            let location = format!("/v1/clips/{}", receipt.clip_id);
            (
                StatusCode::CREATED,
                [(header::LOCATION, location)],
                Json(receipt),
            )
                .into_response()
        }
        Err(e) => {
            ingest.metrics.uploads.with_label_values(&[e.code()]).inc();
            tracing::info!(bureau = %caller.bureau, code = e.code(), error = %e, "upload refused");
            ApiError::from(e).into_response()
        }
    }
}

fn claimed_digest(headers: &HeaderMap) -> Result<Option<Sha256Digest>, IngestError> {
    for (name, header) in [
        ("content-digest", "Content-Digest"),
        ("repr-digest", "Repr-Digest"),
    ] {
        if let Some(value) = headers.get(name) {
            let bad = |source| IngestError::DigestHeader { header, source };
            let text = value
                .to_str()
                .map_err(|_| bad(DigestError::NoSha256("<not ASCII>".into())))?;
            return Sha256Digest::from_digest_field(text).map(Some).map_err(bad);
        }
    }
    Ok(None)
}

fn declared_length(headers: &HeaderMap) -> Option<u64> {
    headers
        .get(header::CONTENT_LENGTH)?
        .to_str()
        .ok()?
        .parse()
        .ok()
}

async fn receive(
    ingest: &Ingest,
    caller: &Caller,
    query: UploadQuery,
    headers: &HeaderMap,
    body: Body,
) -> Result<Receipt, IngestError> {
    let now = ingest.ports.clock.now();
    let raw = RawUploadMetadata {
        bureau: query.bureau,
        device: query.device,
        officer: query.officer,
        recorded_at: query.recorded_at,
        file_name: query.file_name,
        case_ref: query.case,
        place: query.place,
        latitude: query.lat,
        longitude: query.lon,
        returned_at: query.returned_at,
        late_reason: query.late_reason,
    };
    let meta = raw.validate(&caller.bureau, now)?;
    let claimed = claimed_digest(headers)?;
    let declared = declared_length(headers);
    let limit = ingest.config.max_upload_bytes;
    if let Some(size) = declared.filter(|size| *size > limit) {
        return Err(IngestError::TooLarge { size, limit });
    }
    if declared == Some(0) {
        return Err(IngestError::Empty);
    }

    let clip = ClipId::from_parts(now.timestamp_millis().max(0) as u64, rand::random());
    let object_key = original_key(&meta.bureau, meta.recorded_at, clip, &meta.original_name);
    let pending = PendingUpload {
        clip,
        bureau: meta.bureau.clone(),
        object_key: object_key.clone(),
        started_at: now,
    };
    ingest.uploads.begin_upload(&pending).await?;

    let stored = store_original(ingest, &object_key, body, declared, claimed).await;
    let written = match stored {
        Ok(written) => written,
        Err(IngestError::Blob(BlobError::AlreadyExists { key })) => {
            // Someone else's object: keep it, whatever happens to this upload.
            let _ = ingest.uploads.forget_upload(clip).await;
            return Err(IngestError::Blob(BlobError::AlreadyExists { key }));
        }
        Err(e) => {
            finish::discard(ingest, clip, &object_key).await;
            return Err(e);
        }
    };
    match finish::record_stored(ingest, caller, clip, meta, written).await {
        Ok(receipt) => Ok(receipt),
        Err(e) => {
            finish::discard(ingest, clip, &object_key).await;
            Err(e)
        }
    }
}

/// Streams the body into a new object, then checks the declared length, the client's digest
/// and what the store reports.
async fn store_original(
    ingest: &Ingest,
    key: &str,
    body: Body,
    declared: Option<u64>,
    claimed: Option<Sha256Digest>,
) -> Result<WrittenObject, IngestError> {
    let mut writer = ingest.ports.blob.create(key).await?;
    if let Err(e) = copy_body(&mut *writer, body, ingest.config.max_upload_bytes).await {
        writer.abort().await;
        return Err(e);
    }
    let received = writer.written();
    if received == 0 {
        writer.abort().await;
        return Err(IngestError::Empty);
    }
    if let Some(declared) = declared.filter(|declared| *declared != received) {
        writer.abort().await;
        return Err(IngestError::Truncated { received, declared });
    }
    let written = writer.finish().await?;
    if let Some(claimed) = claimed.filter(|claimed| *claimed != written.sha256) {
        return Err(IngestError::DigestMismatch {
            claimed,
            actual: written.sha256,
        });
    }
    ingest.ports.blob.verify(&written).await?;
    Ok(written)
}

async fn copy_body(writer: &mut dyn BlobWriter, body: Body, limit: u64) -> Result<(), IngestError> {
    let mut stream = body.into_data_stream();
    while let Some(chunk) = stream.next().await {
        let chunk = chunk.map_err(|e| IngestError::BodyBroken {
            received: writer.written(),
            message: e.to_string(),
        })?;
        let size = writer.written() + chunk.len() as u64;
        if size > limit {
            return Err(IngestError::TooLarge { size, limit });
        }
        writer.write(chunk).await?;
    }
    Ok(())
}
