//! Resumable uploads, tus 1.0 (tus.io): core, creation, creation-with-upload, termination,
//! expiration and checksum (sha256). Routes: `OPTIONS|POST /v1/tus`,
//! `HEAD|PATCH|DELETE /v1/tus/{id}`, behind the same bearer authentication as the plain PUT and
//! scoped to the token's bureau (another bureau's upload is 404).
//!
//! The bytes go into a multipart write of the blob store, cut into parts of the store's
//! preferred size; a request that ends short of a part keeps its tail in the catalogue (S3
//! takes no part under 5 MiB but the last). Offset, parts, tail and the running SHA-256 state
//! live in the catalogue, so the next request may land on any replica, after any restart. When
//! the last byte arrives the whole file's digest is already known: it is checked against the
//! client's declared `sha256`, the parts are joined and verified, and the clip is recorded
//! exactly as the plain upload records it.

use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::body::{Body, HttpBody};
use axum::extract::{Path, State};
use axum::http::{header, HeaderMap, HeaderName, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::{Extension, Router};
use chrono::{DateTime, Utc};
use custodian_core::keys::original_key;
use custodian_core::resumable::ResumableSha256;
use custodian_core::roles::Action;
use custodian_core::tus::{self, TusError, TusMetadata};
use custodian_core::upload::MetadataError;
use custodian_core::{ClipId, Sha256Digest};
use custodian_platform::blob::{BlobError, PartBody, PartUpload};
use custodian_platform::catalogue::{CatalogueError, TusProgress, TusUpload};
use custodian_platform::http::{ApiError, Caller};
use futures::StreamExt;
use sha2::{Digest, Sha256};
use tokio::sync::OwnedMutexGuard;

use crate::finish::{self, Receipt};
use crate::parts::PartCutter;
use crate::upload::IngestError;
use crate::write_behind::{Session, SessionError, SETTLE_AFTER_IDLE};
use crate::Ingest;

const TUS_RESUMABLE: HeaderName = HeaderName::from_static("tus-resumable");
const UPLOAD_OFFSET: HeaderName = HeaderName::from_static("upload-offset");
const UPLOAD_LENGTH: HeaderName = HeaderName::from_static("upload-length");
const UPLOAD_EXPIRES: HeaderName = HeaderName::from_static("upload-expires");
const UPLOAD_METADATA: HeaderName = HeaderName::from_static("upload-metadata");
/// The receipt of a finished upload, on the response that finished it and on HEAD after.
const CLIP_ID: HeaderName = HeaderName::from_static("custodian-clip-id");
const CLIP_SHA256: HeaderName = HeaderName::from_static("custodian-sha256");
/// How long a PATCH ahead of the catalogue's offset waits for the replica that acknowledged
/// the bytes before it to store them.
const HANDOVER_WAIT: Duration = Duration::from_secs(SETTLE_AFTER_IDLE.as_secs() + 9);

/// Why a tus request was refused.
#[derive(Debug, thiserror::Error)]
pub enum TusFailure {
    #[error("no such upload")]
    NotFound,
    #[error("the upload expired at {0}")]
    Expired(DateTime<Utc>),
    #[error("Tus-Resumable {0:?} is not supported; this server speaks 1.0.0")]
    Version(String),
    #[error("{0}")]
    BadRequest(String),
    #[error("PATCH bodies must be application/offset+octet-stream")]
    MediaType,
    #[error("Upload-Offset {sent} does not match the upload's offset {actual}")]
    OffsetMismatch { sent: u64, actual: u64 },
    #[error("another request changed this upload meanwhile; ask HEAD for the offset")]
    Concurrent,
    #[error("the chunk's sha256 does not match Upload-Checksum; it was not kept")]
    ChecksumMismatch,
    #[error("this token has {open} resumable uploads open, declaring {bytes} bytes; another of {length} bytes would pass its limit of {max_open} uploads or {max_bytes} bytes: finish or terminate one first")]
    Quota {
        open: u64,
        bytes: u64,
        length: u64,
        max_open: u32,
        max_bytes: u64,
    },
    #[error(transparent)]
    Tus(#[from] TusError),
    #[error(transparent)]
    Ingest(#[from] IngestError),
}

impl From<BlobError> for TusFailure {
    fn from(e: BlobError) -> Self {
        Self::Ingest(e.into())
    }
}

impl From<SessionError> for TusFailure {
    fn from(e: SessionError) -> Self {
        match e {
            SessionError::Blob(e) => e.into(),
            SessionError::Catalogue(e) => e.into(),
            SessionError::Concurrent => Self::Concurrent,
            SessionError::Corrupt { clip, detail } => CatalogueError::Corrupt {
                detail: format!("tus upload {clip}: {detail}"),
            }
            .into(),
        }
    }
}

impl From<CatalogueError> for TusFailure {
    fn from(e: CatalogueError) -> Self {
        Self::Ingest(e.into())
    }
}

impl TusFailure {
    fn code(&self) -> &'static str {
        match self {
            Self::NotFound => "not-found",
            Self::Expired(_) => "expired",
            Self::Version(_) => "tus-version",
            Self::BadRequest(_) => "invalid-tus-request",
            Self::MediaType => "unsupported-media-type",
            Self::OffsetMismatch { .. } => "offset-mismatch",
            Self::Concurrent => "concurrent-request",
            Self::ChecksumMismatch => "checksum-mismatch",
            Self::Quota { .. } => "upload-quota",
            Self::Tus(TusError::Metadata(MetadataError::WrongBureau { .. })) => "wrong-bureau",
            Self::Tus(TusError::Metadata(_)) => "invalid-metadata",
            Self::Tus(TusError::BadChecksum(_) | TusError::UnsupportedAlgorithm(_)) => {
                "invalid-checksum-header"
            }
            Self::Tus(_) => "invalid-metadata",
            Self::Ingest(e) => e.code(),
        }
    }

    fn status(&self) -> StatusCode {
        match self {
            Self::NotFound => StatusCode::NOT_FOUND,
            Self::Expired(_) => StatusCode::GONE,
            Self::Version(_) => StatusCode::PRECONDITION_FAILED,
            Self::BadRequest(_) => StatusCode::BAD_REQUEST,
            Self::MediaType => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            Self::OffsetMismatch { .. } | Self::Concurrent => StatusCode::CONFLICT,
            Self::Quota { .. } => StatusCode::TOO_MANY_REQUESTS,
            // tus checksum extension: 460 Checksum Mismatch.
            Self::ChecksumMismatch => {
                StatusCode::from_u16(460).unwrap_or(StatusCode::UNPROCESSABLE_ENTITY)
            }
            Self::Tus(TusError::Metadata(MetadataError::WrongBureau { .. })) => {
                StatusCode::FORBIDDEN
            }
            Self::Tus(_) => StatusCode::BAD_REQUEST,
            Self::Ingest(e) => e.status(),
        }
    }
}

impl IntoResponse for TusFailure {
    fn into_response(self) -> Response {
        let mut response =
            ApiError::new(self.status(), self.code(), self.to_string()).into_response();
        let headers = response.headers_mut();
        headers.insert(TUS_RESUMABLE, HeaderValue::from_static(tus::VERSION));
        if matches!(self, Self::Version(_)) {
            headers.insert("tus-version", HeaderValue::from_static(tus::VERSION));
        }
        response
    }
}

/// The authenticated routes; `OPTIONS` is in [`discovery`].
pub(crate) fn routes() -> Router<Arc<Ingest>> {
    Router::new().route("/v1/tus", post(create)).route(
        "/v1/tus/{id}",
        axum::routing::head(head_upload)
            .patch(patch)
            .delete(terminate),
    )
}

/// `OPTIONS`, open without a token as tus clients (and browsers' preflight) expect: it tells
/// only what the protocol is, nothing of any upload.
pub(crate) fn discovery() -> Router<Arc<Ingest>> {
    Router::new()
        .route("/v1/tus", axum::routing::options(options))
        .route("/v1/tus/{id}", axum::routing::options(options))
}

/// What a successful tus request answers: a status and headers, never a body.
struct Answer {
    status: StatusCode,
    headers: Vec<(HeaderName, String)>,
}

impl IntoResponse for Answer {
    fn into_response(self) -> Response {
        let mut response = self.status.into_response();
        let headers = response.headers_mut();
        headers.insert(TUS_RESUMABLE, HeaderValue::from_static(tus::VERSION));
        headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
        for (name, value) in self.headers {
            if let Ok(value) = HeaderValue::from_str(&value) {
                headers.insert(name, value);
            }
        }
        response
    }
}

fn http_date(at: DateTime<Utc>) -> String {
    at.format("%a, %d %b %Y %H:%M:%S GMT").to_string()
}

fn receipt_headers(receipt: &Receipt) -> Vec<(HeaderName, String)> {
    vec![
        (CLIP_ID, receipt.clip_id.to_string()),
        (CLIP_SHA256, receipt.sha256.to_hex()),
        (header::LOCATION, format!("/v1/clips/{}", receipt.clip_id)),
    ]
}

fn header_text<'a>(headers: &'a HeaderMap, name: &str) -> Result<Option<&'a str>, TusFailure> {
    headers
        .get(name)
        .map(|v| {
            v.to_str()
                .map_err(|_| TusFailure::BadRequest(format!("{name} is not ASCII")))
        })
        .transpose()
}

fn header_number(headers: &HeaderMap, name: &str) -> Result<Option<u64>, TusFailure> {
    header_text(headers, name)?
        .map(|v| {
            v.trim().parse::<u64>().map_err(|_| {
                TusFailure::BadRequest(format!("{name} {v:?} is not a non-negative integer"))
            })
        })
        .transpose()
}

fn check_version(headers: &HeaderMap) -> Result<(), TusFailure> {
    match header_text(headers, "tus-resumable")? {
        Some(tus::VERSION) => Ok(()),
        Some(other) => Err(TusFailure::Version(other.to_owned())),
        None => Err(TusFailure::Version(String::new())),
    }
}

fn is_patch_body(headers: &HeaderMap) -> bool {
    headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.trim().eq_ignore_ascii_case(tus::PATCH_CONTENT_TYPE))
}

fn checksum_of(headers: &HeaderMap) -> Result<Option<Sha256Digest>, TusFailure> {
    Ok(header_text(headers, "upload-checksum")?
        .map(tus::parse_checksum)
        .transpose()?)
}

/// `Custodian-Sha256` on a PATCH (or a POST with bytes): the whole file's SHA-256 in hex, as
/// the client computed it while sending; checked when the upload completes, like a `sha256`
/// in the creation's metadata (which a client can only give if it hashed the file first).
fn declared_file_digest(headers: &HeaderMap) -> Result<Option<Sha256Digest>, TusFailure> {
    header_text(headers, "custodian-sha256")?
        .map(|v| {
            v.trim().parse::<Sha256Digest>().map_err(|_| {
                TusFailure::BadRequest(format!("Custodian-Sha256 {v:?} is not 64 hex digits"))
            })
        })
        .transpose()
}

fn parse_id(id: &str) -> Result<ClipId, TusFailure> {
    id.parse::<uuid::Uuid>()
        .map(ClipId::from_uuid)
        .map_err(|_| TusFailure::NotFound)
}

/// Runs a request for a caller who may upload, counting the outcome.
fn refused(ingest: &Ingest, caller: &Caller) -> Option<Response> {
    caller.require(Action::Upload).err().map(|refused| {
        ingest
            .metrics
            .uploads
            .with_label_values(&["forbidden"])
            .inc();
        refused.into_response()
    })
}

fn answer(ingest: &Ingest, caller: &Caller, outcome: Result<Answer, TusFailure>) -> Response {
    match outcome {
        Ok(answer) => answer.into_response(),
        Err(e) => {
            match &e {
                // A broken connection is what resumable uploads are for.
                TusFailure::Ingest(IngestError::BodyBroken { .. }) => ingest
                    .metrics
                    .tus_refusals
                    .with_label_values(&[e.code()])
                    .inc(),
                TusFailure::Ingest(_) | TusFailure::Tus(TusError::Metadata(_)) => {
                    ingest.metrics.uploads.with_label_values(&[e.code()]).inc()
                }
                _ => ingest
                    .metrics
                    .tus_refusals
                    .with_label_values(&[e.code()])
                    .inc(),
            }
            tracing::info!(bureau = %caller.bureau, code = e.code(), error = %e, "tus request refused");
            e.into_response()
        }
    }
}

/// The largest upload taken: the configured limit, or what the store can hold in one object
/// with every part at the preferred size, whichever is less.
fn max_size(ingest: &Ingest) -> u64 {
    let sizes = ingest.ports.blob.part_sizes();
    ingest
        .config
        .max_upload_bytes
        .min((sizes.preferred as u64).saturating_mul(u64::from(sizes.max_parts)))
}

/// `OPTIONS`: what this server speaks.
#[utoipa::path(
    options,
    path = "/v1/tus",
    tag = "ingest",
    responses(
        (status = 204, description = "Tus-Version, Tus-Extension, Tus-Max-Size and Tus-Checksum-Algorithm headers"),
    ),
)]
pub(crate) async fn options(State(ingest): State<Arc<Ingest>>) -> Response {
    Answer {
        status: StatusCode::NO_CONTENT,
        headers: vec![
            (HeaderName::from_static("tus-version"), tus::VERSION.into()),
            (
                HeaderName::from_static("tus-extension"),
                tus::EXTENSIONS.into(),
            ),
            (
                HeaderName::from_static("tus-max-size"),
                max_size(&ingest).to_string(),
            ),
            (
                HeaderName::from_static("tus-checksum-algorithm"),
                "sha256".into(),
            ),
        ],
    }
    .into_response()
}

/// `POST /v1/tus`: creates an upload (and takes its first bytes, with creation-with-upload).
#[utoipa::path(
    post,
    path = "/v1/tus",
    tag = "ingest",
    params(
        ("Tus-Resumable" = String, Header, description = "the protocol version, 1.0.0 (without it, or with another, 412 as tus prescribes)"),
        ("Upload-Length" = u64, Header, description = "the whole file's size in bytes"),
        ("Upload-Metadata" = String, Header, description = "tus metadata: device, officer, recorded_at, filename, filetype, sha256 (base64 values)"),
        ("Upload-Checksum" = Option<String>, Header, description = "sha256 BASE64 of the body sent with the creation"),
        ("Custodian-Sha256" = Option<String>, Header, description = "the whole file's SHA-256 (64 hex digits), checked if this request completes the upload"),
    ),
    request_body(content = Vec<u8>, content_type = "application/offset+octet-stream", description = "optional first bytes (creation-with-upload)"),
    responses(
        (status = 201, description = "created: Location, Upload-Expires (and Upload-Offset if bytes came with it)"),
        (status = 400, description = "a missing or malformed tus header, or bad metadata", body = custodian_platform::http::ErrorBody),
        (status = 401, description = "no valid token", body = custodian_platform::http::ErrorBody),
        (status = 403, description = "a role that may not upload, or another bureau's metadata", body = custodian_platform::http::ErrorBody),
        (status = 412, description = "Tus-Resumable is not 1.0.0 (Tus-Version names what is)", body = custodian_platform::http::ErrorBody),
        (status = 503, description = "storage or catalogue unreachable; retry after Retry-After", body = custodian_platform::http::ErrorBody),
        (status = 409, description = "another request changed the upload meanwhile", body = custodian_platform::http::ErrorBody),
        (status = 413, description = "Upload-Length over the limit (Tus-Max-Size)", body = custodian_platform::http::ErrorBody),
        (status = 422, description = "the whole file does not match its declared sha256", body = custodian_platform::http::ErrorBody),
        (status = 429, description = "the token's open uploads would pass --max-open-uploads or --max-open-upload-bytes (`upload-quota`)", body = custodian_platform::http::ErrorBody),
        (status = 460, description = "the body does not match Upload-Checksum; nothing kept", body = custodian_platform::http::ErrorBody),
    ),
    security(("bearer" = []))
)]
pub(crate) async fn create(
    State(ingest): State<Arc<Ingest>>,
    Extension(caller): Extension<Caller>,
    headers: HeaderMap,
    body: Body,
) -> Response {
    if let Some(refused) = refused(&ingest, &caller) {
        return refused;
    }
    let outcome = create_inner(&ingest, &caller, &headers, body).await;
    answer(&ingest, &caller, outcome)
}

async fn create_inner(
    ingest: &Ingest,
    caller: &Caller,
    headers: &HeaderMap,
    body: Body,
) -> Result<Answer, TusFailure> {
    check_version(headers)?;
    if headers.contains_key("upload-defer-length") {
        return Err(TusFailure::BadRequest(
            "Upload-Defer-Length is not supported: declare Upload-Length".into(),
        ));
    }
    let length = header_number(headers, "upload-length")?
        .ok_or_else(|| TusFailure::BadRequest("Upload-Length is required".into()))?;
    let limit = max_size(ingest);
    if length > limit {
        return Err(IngestError::TooLarge {
            size: length,
            limit,
        }
        .into());
    }
    if length == 0 {
        return Err(TusFailure::BadRequest(
            "Upload-Length is 0; an empty file is not footage".into(),
        ));
    }
    let metadata_header = header_text(headers, "upload-metadata")?
        .unwrap_or("")
        .to_owned();
    let declared = tus::parse_metadata(&metadata_header)?;
    let now = ingest.ports.clock.now();
    let meta = declared
        .raw
        .clone()
        .validate(&caller.bureau, now)
        .map_err(TusError::from)?;
    let checksum = checksum_of(headers)?;
    let declared = declared_file_digest(headers)?;
    let (open, bytes) = ingest.uploads.open_tus_uploads_by(&caller.person).await?;
    let config = &ingest.config;
    if open >= u64::from(config.max_open_uploads)
        || bytes.saturating_add(length) > config.max_open_upload_bytes
    {
        return Err(TusFailure::Quota {
            open,
            bytes,
            length,
            max_open: config.max_open_uploads,
            max_bytes: config.max_open_upload_bytes,
        });
    }

    let clip = ClipId::from_parts(now.timestamp_millis().max(0) as u64, rand::random());
    let object_key = original_key(&meta.bureau, meta.recorded_at, clip, &meta.original_name);
    let parts = ingest.ports.blob.start_parts(&object_key).await?;
    let expires_at = now
        + chrono::Duration::from_std(ingest.config.abandon_after)
            .unwrap_or(chrono::Duration::days(1));
    let upload = TusUpload {
        clip,
        bureau: meta.bureau.clone(),
        length,
        metadata: metadata_header,
        object_key,
        multipart_id: parts.upload_id.clone(),
        created_by: caller.person.clone(),
        created_at: now,
        expires_at,
        progress: TusProgress {
            offset: 0,
            parts: Vec::new(),
            hash_state: ResumableSha256::new().to_saved(),
            tail: Vec::new(),
        },
    };
    if let Err(e) = ingest.uploads.create_tus_upload(&upload).await {
        if let Err(abort) = ingest.ports.blob.abort_parts(&parts).await {
            tracing::warn!(key = %parts.key, error = %abort, "multipart upload of a refused creation left behind");
        }
        return Err(e.into());
    }
    tracing::info!(clip_id = %clip, bureau = %upload.bureau, length, "resumable upload created");
    let mut answer_headers = vec![
        (header::LOCATION, format!("/v1/tus/{clip}")),
        (UPLOAD_EXPIRES, http_date(expires_at)),
    ];
    if is_patch_body(headers) {
        // A new upload: no other request can have a session of it.
        let mut session = open_session(ingest, &upload)
            .await?
            .ok_or(TusFailure::Concurrent)?;
        let received = receive(
            ingest,
            caller,
            &upload,
            &mut session,
            body,
            Claims {
                chunk: checksum,
                file: declared,
            },
        )
        .await?;
        answer_headers.extend(received.headers);
    }
    Ok(Answer {
        status: StatusCode::CREATED,
        headers: answer_headers,
    })
}

/// Loads the caller's upload, refusing an expired one.
async fn load(ingest: &Ingest, caller: &Caller, id: &str) -> Result<TusUpload, TusFailure> {
    let clip = parse_id(id)?;
    let upload = ingest
        .uploads
        .tus_upload(&caller.bureau, clip)
        .await?
        .ok_or(TusFailure::NotFound)?;
    if upload.expires_at <= ingest.ports.clock.now() {
        return Err(TusFailure::Expired(upload.expires_at));
    }
    Ok(upload)
}

/// `HEAD /v1/tus/{id}`: how far the upload has come. A finished upload answers with its
/// receipt, so a client that lost the last response can still learn it.
#[utoipa::path(
    head,
    path = "/v1/tus/{id}",
    tag = "ingest",
    params(("id" = String, Path, description = "the upload (its clip id)"), ("Tus-Resumable" = String, Header, description = "the protocol version, 1.0.0 (without it, or with another, 412 as tus prescribes)")),
    responses(
        // HEAD answers carry no body: the code is in the status, the state in headers.
        (status = 200, description = "Upload-Offset, Upload-Length, Upload-Expires; once finished, Custodian-Clip-Id and Custodian-Sha256"),
        (status = 400, description = "a malformed tus header"),
        (status = 401, description = "no valid token"),
        (status = 403, description = "a role that may not upload, or another bureau's metadata"),
        (status = 412, description = "Tus-Resumable is not 1.0.0 (Tus-Version names what is)"),
        (status = 503, description = "storage or catalogue unreachable; retry after Retry-After"),
        (status = 404, description = "no such upload in the caller's bureau"),
        (status = 410, description = "the upload expired"),
    ),
    security(("bearer" = []))
)]
pub(crate) async fn head_upload(
    State(ingest): State<Arc<Ingest>>,
    Extension(caller): Extension<Caller>,
    Path(id): Path<String>,
) -> Response {
    if let Some(refused) = refused(&ingest, &caller) {
        return refused;
    }
    let outcome = head_inner(&ingest, &caller, &id).await;
    answer(&ingest, &caller, outcome)
}

async fn head_inner(ingest: &Ingest, caller: &Caller, id: &str) -> Result<Answer, TusFailure> {
    // What this replica acknowledged is made durable first, so the offset answered is all the
    // client need not send again.
    if let Err(e) = ingest
        .sessions
        .settle(ingest.uploads.as_ref(), parse_id(id)?)
        .await
    {
        tracing::warn!(upload = id, error = %e, "acknowledged parts could not be settled; HEAD answers what is durable");
    }
    match load(ingest, caller, id).await {
        Ok(upload) => Ok(Answer {
            status: StatusCode::OK,
            headers: vec![
                (UPLOAD_OFFSET, upload.progress.offset.to_string()),
                (UPLOAD_LENGTH, upload.length.to_string()),
                (UPLOAD_EXPIRES, http_date(upload.expires_at)),
                (UPLOAD_METADATA, upload.metadata),
            ],
        }),
        Err(TusFailure::NotFound) => {
            let clip = parse_id(id)?;
            let record = ingest
                .clips
                .clip(&caller.bureau, clip)
                .await?
                // A finished upload whose clip was since made confidential tells its size
                // and digest only to those who may see it.
                .filter(|record| caller.may_see().contains(&record.confidentiality))
                .ok_or(TusFailure::NotFound)?;
            Ok(Answer {
                status: StatusCode::OK,
                headers: vec![
                    (UPLOAD_OFFSET, record.size_bytes.to_string()),
                    (UPLOAD_LENGTH, record.size_bytes.to_string()),
                    (CLIP_ID, clip.to_string()),
                    (CLIP_SHA256, record.sha256.to_hex()),
                ],
            })
        }
        Err(e) => Err(e),
    }
}

/// `PATCH /v1/tus/{id}`: the next bytes, at the offset the upload has reached.
#[utoipa::path(
    patch,
    path = "/v1/tus/{id}",
    tag = "ingest",
    params(
        ("id" = String, Path, description = "the upload (its clip id)"),
        ("Tus-Resumable" = String, Header, description = "the protocol version, 1.0.0 (without it, or with another, 412 as tus prescribes)"),
        ("Upload-Offset" = u64, Header, description = "where these bytes go: the offset HEAD answered"),
        ("Upload-Checksum" = Option<String>, Header, description = "sha256 BASE64 of this body"),
        ("Custodian-Sha256" = Option<String>, Header, description = "the whole file's SHA-256 (64 hex digits), checked if this request completes the upload"),
    ),
    request_body(content = Vec<u8>, content_type = "application/offset+octet-stream", description = "the next bytes"),
    responses(
        (status = 204, description = "taken: Upload-Offset; on the last byte also Custodian-Clip-Id and Custodian-Sha256 (the receipt)"),
        (status = 400, description = "a missing or malformed tus header, or a body past Upload-Length", body = custodian_platform::http::ErrorBody),
        (status = 401, description = "no valid token", body = custodian_platform::http::ErrorBody),
        (status = 403, description = "a role that may not upload, or another bureau's metadata", body = custodian_platform::http::ErrorBody),
        (status = 412, description = "Tus-Resumable is not 1.0.0 (Tus-Version names what is)", body = custodian_platform::http::ErrorBody),
        (status = 503, description = "storage or catalogue unreachable; retry after Retry-After", body = custodian_platform::http::ErrorBody),
        (status = 404, description = "no such upload in the caller's bureau", body = custodian_platform::http::ErrorBody),
        (status = 409, description = "Upload-Offset is not the upload's offset (ask HEAD)", body = custodian_platform::http::ErrorBody),
        (status = 410, description = "the upload expired", body = custodian_platform::http::ErrorBody),
        (status = 415, description = "the body is not application/offset+octet-stream", body = custodian_platform::http::ErrorBody),
        (status = 422, description = "the whole file does not match its declared sha256", body = custodian_platform::http::ErrorBody),
        (status = 460, description = "the body does not match Upload-Checksum; nothing kept", body = custodian_platform::http::ErrorBody),
    ),
    security(("bearer" = []))
)]
pub(crate) async fn patch(
    State(ingest): State<Arc<Ingest>>,
    Extension(caller): Extension<Caller>,
    Path(id): Path<String>,
    headers: HeaderMap,
    body: Body,
) -> Response {
    if let Some(refused) = refused(&ingest, &caller) {
        return refused;
    }
    let outcome = patch_inner(&ingest, &caller, &id, &headers, body).await;
    answer(&ingest, &caller, outcome)
}

async fn patch_inner(
    ingest: &Ingest,
    caller: &Caller,
    id: &str,
    headers: &HeaderMap,
    body: Body,
) -> Result<Answer, TusFailure> {
    check_version(headers)?;
    if !is_patch_body(headers) {
        return Err(TusFailure::MediaType);
    }
    let sent = header_number(headers, "upload-offset")?
        .ok_or_else(|| TusFailure::BadRequest("Upload-Offset is required".into()))?;
    let claims = Claims {
        chunk: checksum_of(headers)?,
        file: declared_file_digest(headers)?,
    };
    let deadline = Instant::now() + HANDOVER_WAIT;
    let (upload, mut session) = loop {
        let upload = load(ingest, caller, id).await?;
        let Some(session) = open_session(ingest, &upload).await? else {
            continue;
        };
        // Bytes before `sent` that neither this replica acknowledged nor the catalogue holds
        // were acknowledged by another replica, which is still storing them: they land
        // shortly. This holds whether or not this replica has a session of its own (an older
        // one is stale, not proof that the client is wrong).
        if sent > session.acknowledged_offset()
            && sent > upload.progress.offset
            && Instant::now() < deadline
        {
            drop(session);
            tokio::time::sleep(Duration::from_millis(100)).await;
            continue;
        }
        break (upload, session);
    };
    let actual = session.acknowledged_offset();
    if sent != actual {
        return Err(TusFailure::OffsetMismatch { sent, actual });
    }
    receive(ingest, caller, &upload, &mut session, body, claims).await
}

/// This replica's session of the upload, locked for the request; `None` when `upload` must
/// be read again first.
async fn open_session(
    ingest: &Ingest,
    upload: &TusUpload,
) -> Result<Option<OwnedMutexGuard<Session>>, TusFailure> {
    Ok(ingest
        .sessions
        .open(&ingest.ports.blob, &ingest.uploads, upload)
        .await?)
}

/// `DELETE /v1/tus/{id}`: the client gives the upload up; its parts are dropped.
#[utoipa::path(
    delete,
    path = "/v1/tus/{id}",
    tag = "ingest",
    params(("id" = String, Path, description = "the upload (its clip id)"), ("Tus-Resumable" = String, Header, description = "the protocol version, 1.0.0 (without it, or with another, 412 as tus prescribes)")),
    responses(
        (status = 204, description = "terminated; nothing of it is kept"),
        (status = 400, description = "a malformed tus header", body = custodian_platform::http::ErrorBody),
        (status = 401, description = "no valid token", body = custodian_platform::http::ErrorBody),
        (status = 403, description = "a role that may not upload, or another bureau's metadata", body = custodian_platform::http::ErrorBody),
        (status = 412, description = "Tus-Resumable is not 1.0.0 (Tus-Version names what is)", body = custodian_platform::http::ErrorBody),
        (status = 503, description = "storage or catalogue unreachable; retry after Retry-After", body = custodian_platform::http::ErrorBody),
        (status = 404, description = "no such upload in the caller's bureau", body = custodian_platform::http::ErrorBody),
    ),
    security(("bearer" = []))
)]
pub(crate) async fn terminate(
    State(ingest): State<Arc<Ingest>>,
    Extension(caller): Extension<Caller>,
    Path(id): Path<String>,
    headers: HeaderMap,
) -> Response {
    if let Some(refused) = refused(&ingest, &caller) {
        return refused;
    }
    let outcome = async {
        check_version(&headers)?;
        let clip = parse_id(&id)?;
        let upload = ingest
            .uploads
            .tus_upload(&caller.bureau, clip)
            .await?
            .ok_or(TusFailure::NotFound)?;
        ingest.sessions.close(clip).await;
        // Claim the upload first, as the janitor does: once the pending row is gone it can no
        // longer become a clip.
        if ingest.uploads.forget_upload(clip).await? {
            ingest.ports.blob.abort_parts(&handle_of(&upload)).await?;
        }
        ingest.uploads.forget_tus_upload(clip).await?;
        tracing::info!(clip_id = %clip, "resumable upload terminated by the client");
        Ok(Answer {
            status: StatusCode::NO_CONTENT,
            headers: Vec::new(),
        })
    }
    .await;
    answer(&ingest, &caller, outcome)
}

fn handle_of(upload: &TusUpload) -> PartUpload {
    PartUpload {
        key: upload.object_key.clone(),
        upload_id: upload.multipart_id.clone(),
    }
}

/// What a request says its bytes hash to.
#[derive(Clone, Copy)]
struct Claims {
    /// `Upload-Checksum`: this request's body.
    chunk: Option<Sha256Digest>,
    /// `Custodian-Sha256`: the whole file, checked if this request completes it.
    file: Option<Sha256Digest>,
}

/// Takes a request body at the offset acknowledged so far: cuts it into parts and sends each
/// to the store without waiting (write-behind, a few in flight), keeps what is too short for a
/// part as the tail, and completes the upload at its last byte. With a chunk checksum nothing
/// of the body counts until it matched. A body that ends on a part boundary is answered at
/// once; one that leaves a tail, breaks off or completes the upload first settles every part.
async fn receive(
    ingest: &Ingest,
    caller: &Caller,
    upload: &TusUpload,
    session: &mut Session,
    body: Body,
    claims: Claims,
) -> Result<Answer, TusFailure> {
    let checksum = claims.chunk;
    let started = Instant::now();
    let sizes = ingest.ports.blob.part_sizes();
    let catalogue = ingest.uploads.as_ref();
    let (stored, tail) = session.acknowledged()?;
    let start_offset = stored.length() + tail.len() as u64;
    // A body that starts a part and fits in it is hashed once, as that part: the part's
    // digest is the chunk's. Any other needs a digest of its own.
    let one_part = tail.is_empty()
        && body
            .size_hint()
            .exact()
            .is_some_and(|length| length <= sizes.preferred as u64);
    let mut chunk_hash = checksum.filter(|_| !one_part).map(|_| Sha256::new());
    let mut part_of_chunk = None;
    let mut cutter = PartCutter::new(sizes.preferred, stored, &tail);
    let mut received: u64 = 0;
    let mut broken: Option<String> = None;

    let mut stream = body.into_data_stream();
    while let Some(chunk) = stream.next().await {
        let mut chunk = match chunk {
            Ok(chunk) => chunk,
            Err(e) => {
                broken = Some(e.to_string());
                break;
            }
        };
        let size = start_offset + received + chunk.len() as u64;
        if size > upload.length {
            session.discard_unverified().await;
            return Err(TusFailure::BadRequest(format!(
                "the body goes past Upload-Length {} (to {size})",
                upload.length
            )));
        }
        if let Some(hasher) = chunk_hash.as_mut() {
            hasher.update(&chunk);
        }
        received += chunk.len() as u64;
        while let Some(part) = cutter.take(&mut chunk) {
            part_of_chunk = Some(part.sha256);
            session
                .send_part(
                    catalogue,
                    PartBody::hashed(part.bytes, part.sha256),
                    part.file_hash,
                    checksum.is_none(),
                )
                .await?;
        }
    }

    if let Some(claimed) = checksum {
        let digest = match chunk_hash {
            Some(hasher) => Sha256Digest::from_bytes(hasher.finalize().into()),
            None => part_of_chunk.unwrap_or_else(|| cutter.pending_digest()),
        };
        if broken.is_some() || digest != claimed {
            session.discard_unverified().await;
            return Err(match broken {
                Some(message) => IngestError::BodyBroken { received, message }.into(),
                None => TusFailure::ChecksumMismatch,
            });
        }
        session.accept_unverified();
    }

    let offset = start_offset + received;
    let complete = offset == upload.length;
    let mut headers = vec![
        (UPLOAD_OFFSET, offset.to_string()),
        (UPLOAD_EXPIRES, http_date(upload.expires_at)),
    ];
    if !complete && cutter.pending() == 0 && broken.is_none() {
        // Write-behind: the parts go on to the store while the client sends the next chunk.
        session.touch();
        ingest
            .metrics
            .duration
            .observe(started.elapsed().as_secs_f64());
        return Ok(Answer {
            status: StatusCode::NO_CONTENT,
            headers,
        });
    }

    session.settle_all(catalogue).await?;
    let mut parts = session.saved.parts.clone();
    // A short part now is fine unless the parts still to come, at the preferred size, would
    // then run out of part numbers; then the bytes wait in the tail for a full part.
    let remaining = upload.length - offset;
    let room_after = parts.len() as u64 + 1 + remaining.div_ceil(sizes.preferred as u64)
        <= u64::from(sizes.max_parts);
    if complete || (cutter.pending() >= sizes.min && room_after) {
        if let Some(last) = cutter.cut_rest() {
            let number = parts.len() as u32 + 1;
            parts.push(
                ingest
                    .ports
                    .blob
                    .put_part(
                        &session.handle,
                        number,
                        PartBody::hashed(last.bytes, last.sha256),
                    )
                    .await?,
            );
        }
    }
    // Up to the last part stored; once complete, the whole file.
    let (hash, tail) = cutter.into_tail();
    let progress = TusProgress {
        offset,
        parts,
        hash_state: hash.to_saved(),
        tail,
    };
    // Saved before completing too: two requests racing to finish the same upload cannot both
    // pass this.
    if offset != session.saved.offset || complete {
        session.record(catalogue, progress.clone()).await?;
    }
    ingest
        .metrics
        .duration
        .observe(started.elapsed().as_secs_f64());
    if let Some(message) = broken {
        return Err(IngestError::BodyBroken { received, message }.into());
    }
    if complete {
        let receipt =
            complete_upload(ingest, caller, upload, &progress, &hash, claims.file).await?;
        ingest.sessions.remove(upload.clip, session);
        headers.extend(receipt_headers(&receipt));
    }
    Ok(Answer {
        status: StatusCode::NO_CONTENT,
        headers,
    })
}

/// Every byte is in: check the whole file's digest against the client's, join the parts,
/// verify the object, and record the clip as the plain upload does.
async fn complete_upload(
    ingest: &Ingest,
    caller: &Caller,
    upload: &TusUpload,
    progress: &TusProgress,
    hash: &ResumableSha256,
    declared: Option<Sha256Digest>,
) -> Result<Receipt, TusFailure> {
    let handle = handle_of(upload);
    let sha256 = hash.finish();
    let TusMetadata {
        raw,
        sha256: in_metadata,
    } = tus::parse_metadata(&upload.metadata)?;
    let claims = [in_metadata, declared];
    if let Some(claimed) = claims
        .into_iter()
        .flatten()
        .find(|claimed| *claimed != sha256)
    {
        // The file is not what the client meant to send: nothing of it is kept.
        drop_upload(ingest, upload, &handle).await;
        return Err(IngestError::DigestMismatch {
            claimed,
            actual: sha256,
        }
        .into());
    }
    let meta = raw
        .validate(&caller.bureau, ingest.ports.clock.now())
        .map_err(TusError::from)?;
    let written = ingest
        .ports
        .blob
        .complete_parts(&handle, &progress.parts, sha256)
        .await?;
    if let Err(e) = ingest.ports.blob.verify(&written).await {
        finish::discard(ingest, upload.clip, &upload.object_key).await;
        return Err(e.into());
    }
    match finish::record_stored(ingest, caller, upload.clip, meta, written).await {
        Ok(receipt) => {
            ingest.metrics.uploads.with_label_values(&["stored"]).inc();
            ingest.metrics.bytes.inc_by(receipt.size_bytes);
            Ok(receipt)
        }
        Err(e) => {
            finish::discard(ingest, upload.clip, &upload.object_key).await;
            let _ = ingest.uploads.forget_tus_upload(upload.clip).await;
            Err(e.into())
        }
    }
}

/// Drops an upload that can never become a clip: its parts, its pending row, its tus row.
async fn drop_upload(ingest: &Ingest, upload: &TusUpload, handle: &PartUpload) {
    match ingest.uploads.forget_upload(upload.clip).await {
        Ok(true) => {
            if let Err(e) = ingest.ports.blob.abort_parts(handle).await {
                tracing::warn!(clip_id = %upload.clip, error = %e, "parts of a refused upload left behind");
            }
            let _ = ingest.uploads.forget_tus_upload(upload.clip).await;
        }
        Ok(false) => {}
        Err(e) => {
            tracing::warn!(clip_id = %upload.clip, error = %e, "refused upload left for the janitor")
        }
    }
}
