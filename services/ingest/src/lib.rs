//! The ingest role: where footage enters Custodian. A bureau's collection station sends an
//! original with a plain streaming PUT; ingest streams it into the blob store while hashing,
//! checks the client's digest, re-reads what the store holds, records the clip in the
//! catalogue, and only then answers with a receipt. Whatever goes wrong before the receipt
//! leaves no clip and no object behind; a janitor reclaims uploads abandoned mid-way.
//! Collection stations on poor links use the resumable tus 1.0 protocol instead (`tus.rs`),
//! whose state lives in the catalogue so any replica can take the next chunk.

mod finish;
mod metrics;
mod parts;
mod track;
mod tus;
mod upload;
mod write_behind;

use std::sync::Arc;
use std::time::Duration;

use axum::routing::put;
use axum::Router;
use custodian_platform::catalogue::{AuditRepo, ClipRepo, UploadRepo};
use custodian_platform::config::{parse_duration, parse_size, ConfigError};
use custodian_platform::http::{protect, BearerSecurity};
use custodian_platform::Ports;
use tokio_util::sync::CancellationToken;

pub use metrics::IngestMetrics;

#[derive(utoipa::OpenApi)]
#[openapi(paths(upload::put_upload, track::put_track, tus::options, tus::create, tus::head_upload, tus::patch, tus::terminate), modifiers(&BearerSecurity), tags((name = "ingest", description = "Originals entering Custodian")))]
struct IngestApi;

/// The ingest role's API, described for other tools.
pub fn openapi() -> utoipa::openapi::OpenApi {
    <IngestApi as utoipa::OpenApi>::openapi()
}

#[derive(Debug, Clone, clap::Args)]
pub struct IngestConfig {
    /// The largest original accepted, e.g. 64GiB.
    #[arg(long = "max-upload-size", env = "CUSTODIAN_MAX_UPLOAD_SIZE", default_value = "64GiB", value_parser = parse_size)]
    pub max_upload_bytes: u64,
    /// An upload still unfinished after this long is abandoned and its bytes removed.
    #[arg(long = "abandon-uploads-after", env = "CUSTODIAN_ABANDON_UPLOADS_AFTER", default_value = "24h", value_parser = parse_duration)]
    pub abandon_after: Duration,
    /// How often the janitor looks for abandoned uploads.
    #[arg(long = "janitor-every", env = "CUSTODIAN_JANITOR_EVERY", default_value = "10m", value_parser = parse_duration)]
    pub janitor_every: Duration,
    /// Memory for resumable-upload parts acknowledged to clients and still on their way to
    /// the store, across all uploads of this replica, e.g. 256MiB.
    #[arg(long = "upload-buffer", env = "CUSTODIAN_UPLOAD_BUFFER", default_value = "256MiB", value_parser = parse_size)]
    pub upload_buffer: u64,
    /// Resumable uploads one token (a station, a person) may have open at once.
    #[arg(
        long = "max-open-uploads",
        env = "CUSTODIAN_MAX_OPEN_UPLOADS",
        default_value_t = 16
    )]
    pub max_open_uploads: u32,
    /// Bytes one token's open resumable uploads may declare together, e.g. 256GiB: a
    /// stolen station token cannot reserve the store.
    #[arg(long = "max-open-upload-bytes", env = "CUSTODIAN_MAX_OPEN_UPLOAD_BYTES", default_value = "256GiB", value_parser = parse_size)]
    pub max_open_upload_bytes: u64,
}

impl IngestConfig {
    pub fn validate(&self) -> Result<(), ConfigError> {
        if self.max_upload_bytes == 0 {
            return Err(ConfigError::new(
                "max-upload-size",
                self.max_upload_bytes,
                "must be more than 0",
            ));
        }
        if self.abandon_after < Duration::from_secs(60) {
            return Err(ConfigError::new(
                "abandon-uploads-after",
                format!("{:?}", self.abandon_after),
                "must be at least 1m",
            ));
        }
        if self.upload_buffer < 5 << 20 {
            return Err(ConfigError::new(
                "upload-buffer",
                self.upload_buffer,
                "must hold at least one part of 5MiB",
            ));
        }
        if self.max_open_uploads == 0 {
            return Err(ConfigError::new(
                "max-open-uploads",
                self.max_open_uploads,
                "must be at least 1",
            ));
        }
        if self.max_open_upload_bytes < self.max_upload_bytes {
            return Err(ConfigError::new(
                "max-open-upload-bytes",
                self.max_open_upload_bytes,
                "must hold at least one upload of --max-upload-size",
            ));
        }
        if self.janitor_every.is_zero() {
            return Err(ConfigError::new(
                "janitor-every",
                "0s",
                "must be more than 0",
            ));
        }
        Ok(())
    }
}

impl Default for IngestConfig {
    fn default() -> Self {
        Self {
            max_upload_bytes: 64 << 30,
            abandon_after: Duration::from_secs(24 * 3600),
            janitor_every: Duration::from_secs(600),
            upload_buffer: 256 << 20,
            max_open_uploads: 16,
            max_open_upload_bytes: 256 << 30,
        }
    }
}

pub struct Ingest {
    ports: Ports,
    /// The parts of the catalogue ingest uses: uploads under way, the clips they become (and
    /// their GPS tracks), and the audit trail of receipts.
    uploads: Arc<dyn UploadRepo>,
    clips: Arc<dyn ClipRepo>,
    audit: Arc<dyn AuditRepo>,
    config: IngestConfig,
    metrics: IngestMetrics,
    sessions: Arc<write_behind::Sessions>,
}

impl Ingest {
    pub fn new(ports: Ports, config: IngestConfig) -> Result<Arc<Self>, prometheus::Error> {
        let metrics = IngestMetrics::register(&ports.registry)?;
        let part_size = ports.blob.part_sizes().preferred.max(1) as u64;
        let sessions = write_behind::Sessions::new((config.upload_buffer / part_size) as usize);
        Ok(Arc::new(Self {
            uploads: ports.catalogue.clone(),
            clips: ports.catalogue.clone(),
            audit: ports.catalogue.clone(),
            ports,
            config,
            metrics,
            sessions,
        }))
    }

    /// The role's API. Every route requires a bureau token.
    pub fn router(self: &Arc<Self>) -> Router {
        let routes = Router::new()
            .route("/v1/uploads", put(upload::put_upload))
            .route(
                "/v1/clips/{id}/track",
                put(track::put_track)
                    .layer(axum::extract::DefaultBodyLimit::max(track::MAX_TRACK_BYTES)),
            )
            .merge(tus::routes())
            .with_state(self.clone());
        protect(routes, &self.ports).merge(tus::discovery().with_state(self.clone()))
    }

    /// Runs the janitor until `shutdown`.
    pub async fn run(self: Arc<Self>, shutdown: CancellationToken) {
        let mut ticker = tokio::time::interval(self.config.janitor_every);
        loop {
            tokio::select! {
                _ = shutdown.cancelled() => {
                    // What clients were told is in should be in the store when we go.
                    self.sessions.settle_every(self.uploads.as_ref()).await;
                    return;
                }
                _ = ticker.tick() => {
                    if let Err(e) = self.reclaim_abandoned().await {
                        tracing::warn!(error = %e, "janitor pass failed; will try again");
                    }
                }
            }
        }
    }

    /// Removes the bytes of uploads that started longer ago than `abandon_after` and never
    /// became clips, resumable ones included (their multipart writes are aborted: this is
    /// tus expiration). Returns how many were reclaimed.
    pub async fn reclaim_abandoned(&self) -> Result<usize, upload::IngestError> {
        let cutoff = self.ports.clock.now()
            - chrono::Duration::from_std(self.config.abandon_after)
                .unwrap_or(chrono::Duration::days(1));
        let stale = self.uploads.stale_uploads(cutoff, 100).await?;
        let mut reclaimed = 0;
        for upload in stale {
            // Claim the upload first: once its row is gone it can no longer become a clip,
            // so deleting its object cannot take an original from under a receipt.
            if self.uploads.forget_upload(upload.clip).await? {
                if let Some(tus) = self.uploads.tus_upload(&upload.bureau, upload.clip).await? {
                    let parts = custodian_platform::blob::PartUpload {
                        key: tus.object_key,
                        upload_id: tus.multipart_id,
                    };
                    self.ports.blob.abort_parts(&parts).await?;
                    self.uploads.forget_tus_upload(upload.clip).await?;
                }
                // A plain upload refused while the store was down may have left the parts
                // of its write behind: its abort could not reach the store either.
                let parts = self.ports.blob.abort_unfinished(&upload.object_key).await?;
                if parts > 0 {
                    tracing::info!(clip_id = %upload.clip, key = %upload.object_key, parts, "unfinished multipart writes aborted");
                }
                self.ports.blob.delete(&upload.object_key).await?;
                self.metrics.abandoned.inc();
                reclaimed += 1;
                tracing::info!(clip_id = %upload.clip, key = %upload.object_key, "abandoned upload reclaimed");
            }
        }
        Ok(reclaimed)
    }
}
