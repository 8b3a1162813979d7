//! The transcoder role: for every stored clip, one viewing copy a person can watch in a
//! browser (H.264/AAC MP4, at most 720 lines by default) with the local date and time of
//! every frame, the place and coordinates, the device and the officer burned into the
//! picture (regulation art. 12 and 17); the same text per second as a WebVTT sidecar; and a
//! poster JPEG. The original is only read. Outputs go under keys derived from the clip id,
//! so a redelivered job replaces its own outputs and leaves one copy. The copy is made in a
//! sandboxed child process (`custodian_media::sandbox`): `RenderParams` is what the worker
//! sends it, `render_job` what the child runs.

use std::path::Path;
use std::sync::Arc;

use bytes::Bytes;
use chrono::{DateTime, Utc};
use custodian_core::copies::{watermark_text, CopyState};
use custodian_core::events::Topic;
use custodian_core::keys::{copy_extension, copy_key, derived_keys};
use custodian_core::media::clock::recording_start;
use custodian_core::media::{
    ass, cues, drawtext_clock, parse_gpx, parse_nmea, webvtt, ClockLayout, OverlayFacts, Track,
};
use custodian_core::records::RecordKind;
use custodian_core::upload::Coordinates;
use custodian_core::{BureauId, ClipState};
use custodian_media::{
    claim, jobs, settle_failure, still_held, JobFailure, Limits, MediaError, StopFlag,
    TranscodePlan, TranscodeReport, Workspace,
};
use custodian_platform::blob::store_derived_file;
use custodian_platform::blob::{BlobError, WrittenObject};
use custodian_platform::bus::{run_consumer, ConsumerSpec, HandleError, Job, JobMetrics};
use custodian_platform::catalogue::{
    ClipRecord, ClipRepo, CopyRepo, CopyRequest, MediaFacts, Rendition,
};
use custodian_platform::config::{ConfigError, MediaJobArgs};
use custodian_platform::events::stored_clip;
use custodian_platform::Ports;
use custodian_proto::v1::{ClipTranscoded, CopyApproved};
use custodian_proto::Message;
use prometheus::{IntCounter, IntCounterVec, Registry};
use tokio_util::sync::CancellationToken;

const PRESETS: [&str; 10] = [
    "ultrafast",
    "superfast",
    "veryfast",
    "faster",
    "fast",
    "medium",
    "slow",
    "slower",
    "veryslow",
    "placebo",
];

#[derive(Debug, Clone, clap::Args, serde::Serialize, serde::Deserialize)]
pub struct TranscoderConfig {
    /// libx264 preset of the viewing copy.
    #[arg(
        id = "transcode_preset",
        long = "transcode-preset",
        env = "CUSTODIAN_TRANSCODE_PRESET",
        default_value = "veryfast"
    )]
    pub preset: String,
    /// libx264 constant rate factor of the viewing copy (0–51; higher is smaller).
    #[arg(
        id = "transcode_crf",
        long = "transcode-crf",
        env = "CUSTODIAN_TRANSCODE_CRF",
        default_value_t = 28
    )]
    pub crf: u8,
    /// The viewing copy's height at most, in lines; smaller sources are scaled up to 360
    /// lines (or this height, if lower) so the burned-in text can be read.
    #[arg(
        id = "transcode_height",
        long = "transcode-height",
        env = "CUSTODIAN_TRANSCODE_HEIGHT",
        default_value_t = 720
    )]
    pub max_height: u32,
    /// The fontconfig family of the burned-in text; it must have Chinese glyphs.
    #[arg(
        id = "overlay_font",
        long = "overlay-font",
        env = "CUSTODIAN_OVERLAY_FONT",
        default_value = "Noto Sans CJK SC"
    )]
    pub font_family: String,
}

impl Default for TranscoderConfig {
    fn default() -> Self {
        Self {
            preset: "veryfast".into(),
            crf: 28,
            max_height: 720,
            font_family: "Noto Sans CJK SC".into(),
        }
    }
}

impl TranscoderConfig {
    pub fn validate(&self) -> Result<(), ConfigError> {
        if !PRESETS.contains(&self.preset.as_str()) {
            return Err(ConfigError::new(
                "transcode-preset",
                &self.preset,
                format!("must be one of {}", PRESETS.join(", ")),
            ));
        }
        if self.crf > 51 {
            return Err(ConfigError::new(
                "transcode-crf",
                self.crf,
                "must be 0 to 51",
            ));
        }
        if !(144..=4320).contains(&self.max_height) || self.max_height % 2 != 0 {
            return Err(ConfigError::new(
                "transcode-height",
                self.max_height,
                "must be an even number of lines, 144 to 4320",
            ));
        }
        if !custodian_media::safe_in_filter_graph(&self.font_family) {
            return Err(ConfigError::new(
                "overlay-font",
                &self.font_family,
                "must be a font family name of letters, digits, spaces, '-' and '_'",
            ));
        }
        Ok(())
    }
}

#[derive(Debug, thiserror::Error)]
pub enum TranscoderStartError {
    #[error(transparent)]
    Config(#[from] ConfigError),
    #[error("FFmpeg cannot make viewing copies here: {0}")]
    Ffmpeg(String),
    #[error("registering metrics: {0}")]
    Metrics(#[from] prometheus::Error),
}

struct TranscoderMetrics {
    copies: IntCounter,
    footage_seconds: IntCounter,
    party_copies: IntCounter,
}

impl TranscoderMetrics {
    fn register(registry: &Registry) -> Result<Self, prometheus::Error> {
        let copies = IntCounter::new(
            "custodian_transcodes_total",
            "Viewing copies made and recorded",
        )?;
        let footage_seconds = IntCounter::new(
            "custodian_transcoded_footage_seconds_total",
            "Seconds of footage made into viewing copies",
        )?;
        let party_copies = IntCounter::new(
            "custodian_party_copies_total",
            "Watermarked copies made for approved copy requests (art. 23)",
        )?;
        registry.register(Box::new(copies.clone()))?;
        registry.register(Box::new(footage_seconds.clone()))?;
        registry.register(Box::new(party_copies.clone()))?;
        Ok(Self {
            copies,
            footage_seconds,
            party_copies,
        })
    }
}

pub struct Transcoder {
    ports: Ports,
    /// The parts of the catalogue the transcoder uses: clips and their media, and copy
    /// requests.
    clips: Arc<dyn ClipRepo>,
    copies: Arc<dyn CopyRepo>,
    config: TranscoderConfig,
    jobs_args: MediaJobArgs,
    metrics: TranscoderMetrics,
    jobs: JobMetrics,
    failures: IntCounterVec,
}

impl Transcoder {
    /// `jobs` and `failures` are the process's shared job metrics and media failure counter
    /// (`register_media_failures`).
    pub fn new(
        ports: Ports,
        config: TranscoderConfig,
        jobs_args: MediaJobArgs,
        jobs: JobMetrics,
        failures: IntCounterVec,
    ) -> Result<Arc<Self>, TranscoderStartError> {
        config.validate()?;
        jobs_args.validate()?;
        custodian_media::check_capabilities().map_err(TranscoderStartError::Ffmpeg)?;
        let metrics = TranscoderMetrics::register(&ports.registry)?;
        Ok(Arc::new(Self {
            clips: ports.catalogue.clone(),
            copies: ports.catalogue.clone(),
            ports,
            config,
            jobs_args,
            metrics,
            jobs,
            failures,
        }))
    }

    pub async fn run(self: Arc<Self>, shutdown: CancellationToken) {
        let swept = custodian_media::sweep_stale_job_dirs(&self.jobs_args.work_dir());
        if swept > 0 {
            tracing::info!(swept, "job directories of killed workers removed");
        }
        let this = self.clone();
        let handler = move |job: Job| {
            let this = this.clone();
            async move { this.on_stored(job).await }
        };
        let views = run_consumer(
            self.ports.bus.clone(),
            self.jobs_args.consumer("transcoder"),
            self.jobs.clone(),
            self.jobs_args.delivery_timeout(),
            shutdown.clone(),
            handler,
        );
        let this = self.clone();
        let handler = move |job: Job| {
            let this = this.clone();
            async move { this.on_copy_approved(job).await }
        };
        let copies = run_consumer(
            self.ports.bus.clone(),
            ConsumerSpec {
                name: "transcoder-copies".into(),
                topic: Topic::CopyApproved,
                ..self.jobs_args.consumer("transcoder")
            },
            self.jobs.clone(),
            self.jobs_args.delivery_timeout(),
            shutdown,
            handler,
        );
        tokio::join!(views, copies);
    }

    /// Makes the watermarked copy of an approved copy request (art. 23) from the clip's
    /// original and records its SHA-256. Idempotent: a request whose copy is recorded, or
    /// that is not approved, is left alone; making it again writes the same key.
    pub async fn on_copy_approved(&self, job: Job) -> Result<(), HandleError> {
        let event = CopyApproved::decode(job.payload)
            .map_err(|e| HandleError::Permanent(format!("undecodable copy.approved: {e}")))?;
        let id = uuid::Uuid::parse_str(&event.request_id).map_err(|e| {
            HandleError::Permanent(format!(
                "copy.approved request id {:?}: {e}",
                event.request_id
            ))
        })?;
        let bureau = BureauId::parse(&event.bureau_id).map_err(|e| {
            HandleError::Permanent(format!("copy.approved bureau {:?}: {e}", event.bureau_id))
        })?;
        let Some(request) = self.copies.copy_request(&bureau, id).await? else {
            return Err(HandleError::Transient(format!(
                "copy request {id} is not in the catalogue yet"
            )));
        };
        let settled = |r: &CopyRequest| {
            r.state != CopyState::Approved || r.copy_made_at.is_some() || r.copy_failure.is_some()
        };
        if settled(&request) {
            return Ok(());
        }
        let Some(mut claim) = claim(&self.ports, "copy", id).await? else {
            // Another transcoder is making it; its own delivery stands for the job.
            tracing::info!(copy_request = %id, "party's copy held by another transcoder; left to it");
            return Ok(());
        };
        // The holder before us may have finished between the check above and the claim.
        let request = self.copies.copy_request(&bureau, id).await?;
        let Some(request) = request.filter(|r| !settled(r)) else {
            return Ok(());
        };
        let clip = self
            .clips
            .clip_for_worker(request.clip)
            .await?
            .filter(|c| c.purged_at.is_none());
        let Some(clip) = clip else {
            self.copies
                .record_copy_failure(id, "the clip's files were purged")
                .await?;
            return Ok(());
        };
        tracing::info!(copy_request = %id, clip_id = %clip.id, attempt = job.attempt, "making a party's copy");
        match self.make_party_copy(&clip, &request).await {
            Ok((report, written, track_sha256)) => {
                still_held(&mut claim, format!("copy request {id}")).await?;
                let size = i64::try_from(written.size).unwrap_or(i64::MAX);
                self.copies
                    .record_copy_made(
                        id,
                        &written.sha256.to_hex(),
                        size,
                        track_sha256.as_deref(),
                        self.ports.clock.now(),
                    )
                    .await?;
                self.metrics.party_copies.inc();
                tracing::info!(copy_request = %id, clip_id = %clip.id, frames = report.frames, sha256 = %written.sha256.to_hex(), "party's copy made");
                Ok(())
            }
            Err(failure) if failure.retry_may_help() && !job.last_attempt => {
                Err(HandleError::Transient(failure.to_string()))
            }
            Err(failure) => {
                let reason = format!("transcoder: {failure}");
                self.failures
                    .with_label_values(&["transcoder-copies", failure.kind()])
                    .inc();
                tracing::warn!(copy_request = %id, %reason, "party's copy failed");
                self.copies.record_copy_failure(id, &reason).await?;
                Err(HandleError::Permanent(failure.to_string()))
            }
        }
    }

    async fn make_party_copy(
        &self,
        clip: &ClipRecord,
        request: &CopyRequest,
    ) -> Result<(TranscodeReport, WrittenObject, Option<String>), JobFailure> {
        let work = Workspace::prepare(&self.ports, &self.jobs_args, clip, "copy").await?;
        if work.holds_pdf() {
            // A watermark cannot be drawn into a PDF without rewriting it; a party gets a
            // document through the signed evidence export instead (art. 20).
            return Err(MediaError::NotVideo(
                "a PDF document has no watermarked copy; give it through an evidence export".into(),
            )
            .into());
        }
        let (track, track_sha256) = self.track(clip).await?;
        let source = OverlaySource::of(clip, track, self.jobs_args.clock_tolerance());
        let config = self.config.clone();
        let text = watermark_text(
            request.id,
            &request.party,
            request.decided_at.unwrap_or(request.requested_at),
        );
        let params = RenderParams {
            source,
            config,
            watermark: Some(text),
            redaction: request.redaction.clone(),
        };
        let report: TranscodeReport = work.run(jobs::RENDER, &params).await?;
        // Made as what the file is, kept under the key of what the record is (a scanned page
        // typed as a document is a picture, and its copy a JPEG either way).
        let written = store_derived_file(
            &*self.ports.blob,
            &copy_key(&clip.bureau, clip.id, request.id, clip.kind),
            &work
                .dir()
                .join(format!("copy.{}", copy_extension(Some(report.info.kind)))),
        )
        .await?;
        Ok((report, written, track_sha256))
    }

    pub async fn on_stored(&self, job: Job) -> Result<(), HandleError> {
        let clip = stored_clip(&*self.clips, job.payload).await?;
        let id = clip.id;
        // A catalogued or archived clip is transcoded again when its copy was cleared (a GPS
        // track arrived); failed, recycled and expired clips are left alone.
        if !matches!(
            clip.state,
            ClipState::Stored | ClipState::Catalogued | ClipState::Archived
        ) {
            return Ok(());
        }
        if self.announced_if_done(&clip).await? {
            return Ok(());
        }
        let Some(mut claim) = claim(&self.ports, "transcode", id).await? else {
            // Another transcoder is at work on it; its own delivery stands for the job.
            tracing::info!(clip_id = %id, attempt = job.attempt, "clip held by another transcoder; left to it");
            return Ok(());
        };
        // The holder before us may have finished between the check above and the claim.
        if self.announced_if_done(&clip).await? {
            return Ok(());
        }
        tracing::info!(clip_id = %id, attempt = job.attempt, "transcoding");
        match self.make_copy(&clip).await {
            Ok(made) => {
                still_held(&mut claim, format!("clip {id}")).await?;
                self.clips
                    .record_transcode(id, &made.facts, &made.rendition, self.ports.clock.now())
                    .await?;
                self.metrics.copies.inc();
                self.metrics
                    .footage_seconds
                    .inc_by(made.duration_seconds.max(0.0) as u64);
                tracing::info!(clip_id = %id, kind = ?made.facts.kind, frames = made.frames, "viewing copy made");
                self.announce(&clip, made.rendition.view_key, made.duration_seconds)
                    .await
            }
            Err(failure) => Err(settle_failure(
                &self.ports,
                &self.failures,
                "transcoder",
                &clip,
                failure,
                job.last_attempt,
            )
            .await),
        }
    }

    /// If the clip's copy was made before (a redelivery, the reconciler, or another worker),
    /// announces it again and answers true: nothing is made twice.
    async fn announced_if_done(&self, clip: &ClipRecord) -> Result<bool, HandleError> {
        let media = self.clips.clip_media(clip.id).await?;
        let Some(done) = media.filter(|m| m.transcoded_at.is_some()) else {
            return Ok(false);
        };
        let duration = done.facts.duration_seconds.unwrap_or(0.0);
        let view_key = done.rendition.map(|r| r.view_key).unwrap_or_default();
        self.announce(clip, view_key, duration).await?;
        Ok(true)
    }

    async fn announce(
        &self,
        clip: &ClipRecord,
        view_key: String,
        duration_seconds: f64,
    ) -> Result<(), HandleError> {
        let event = ClipTranscoded {
            clip_id: clip.id.to_string(),
            bureau_id: clip.bureau.to_string(),
            view_key,
            duration_seconds,
        };
        self.ports
            .bus
            .publish(
                Topic::ClipTranscoded,
                &Topic::ClipTranscoded.message_id(clip.id, 0),
                Bytes::from(event.encode_to_vec()),
            )
            .await
            .map_err(|e| HandleError::Transient(e.to_string()))
    }

    async fn make_copy(&self, clip: &ClipRecord) -> Result<Made, JobFailure> {
        let work = Workspace::prepare(&self.ports, &self.jobs_args, clip, "transcode").await?;
        if work.holds_pdf() {
            return self.make_document_copy(clip, &work).await;
        }
        let keys = derived_keys(&clip.bureau, clip.id);
        let (track, track_sha256) = self.track(clip).await?;
        let source = OverlaySource::of(clip, track, self.jobs_args.clock_tolerance());
        let config = self.config.clone();
        let params = RenderParams {
            source,
            config,
            watermark: None,
            redaction: None,
        };
        let report: TranscodeReport = work.run(jobs::RENDER, &params).await?;
        // A photo's copy is a JPEG under a key of its own; a recording's is an MP4 of sound.
        let (view_key, view_file) = match report.info.kind {
            RecordKind::Photo => (keys.photo, "view.jpg"),
            _ => (keys.view, "view.mp4"),
        };
        let view =
            store_derived_file(&*self.ports.blob, &view_key, &work.dir().join(view_file)).await?;
        store_derived_file(
            &*self.ports.blob,
            &keys.subtitles,
            &work.dir().join("subtitles.vtt"),
        )
        .await?;
        store_derived_file(
            &*self.ports.blob,
            &keys.poster,
            &work.dir().join("poster.jpg"),
        )
        .await?;
        let start = recording_start(
            report.info.creation_time,
            clip.recorded_at,
            self.jobs_args.clock_tolerance(),
        );
        // A recording's length as decoded, not as its header claims (a truncated MP3 keeps
        // its header); the fingerprinter measures it the same way.
        let duration_seconds = match report.info.kind {
            RecordKind::Audio => Some(report.duration_seconds),
            _ => report.info.duration_seconds,
        };
        Ok(Made {
            facts: MediaFacts {
                time_source: Some(start.source.as_str().to_owned()),
                duration_seconds,
                ..report.info.facts()
            },
            rendition: Rendition {
                view_key,
                subtitles_key: keys.subtitles,
                poster_key: keys.poster,
                view_size_bytes: view.size,
                track_sha256,
            },
            duration_seconds: report.duration_seconds,
            frames: report.frames,
        })
    }

    /// A PDF document is shown as it was received (its viewing copy is the original), with
    /// its first page as the poster. A PDF Poppler cannot read keeps no poster; the
    /// fingerprinter records why, and the document is kept all the same.
    async fn make_document_copy(
        &self,
        clip: &ClipRecord,
        work: &Workspace,
    ) -> Result<Made, JobFailure> {
        let keys = derived_keys(&clip.bureau, clip.id);
        let poster = work.dir().join("poster.jpg");
        match work.document_thumbnail(&poster, DOCUMENT_POSTER_SIDE).await {
            Ok(()) => {
                store_derived_file(&*self.ports.blob, &keys.poster, &poster).await?;
            }
            Err(failure) if failure.retry_may_help() => return Err(failure),
            Err(failure) => {
                tracing::warn!(clip_id = %clip.id, error = %failure, "document has no first-page poster");
            }
        }
        // No timed text: an empty WebVTT track, so every record has the same companions.
        let subtitles = work.dir().join("subtitles.vtt");
        std::fs::write(&subtitles, "WEBVTT\n").map_err(|source| MediaError::Io {
            path: subtitles.display().to_string(),
            source,
        })?;
        store_derived_file(&*self.ports.blob, &keys.subtitles, &subtitles).await?;
        Ok(Made {
            facts: MediaFacts {
                kind: Some(RecordKind::Document),
                container: Some("pdf".into()),
                ..MediaFacts::default()
            },
            rendition: Rendition {
                view_key: clip.object_key.clone(),
                subtitles_key: keys.subtitles,
                poster_key: keys.poster,
                view_size_bytes: clip.size_bytes,
                track_sha256: None,
            },
            duration_seconds: 0.0,
            frames: 0,
        })
    }

    /// The clip's latest GPS track version (GPX or NMEA), if there is one and it parses, with
    /// the SHA-256 of the bytes read (a copy records it). A track uploaded before tracks were
    /// versioned is read from its old key. A version whose bytes no longer match the SHA-256
    /// recorded for it is not used.
    async fn track(
        &self,
        clip: &ClipRecord,
    ) -> Result<(Option<Track>, Option<String>), JobFailure> {
        let latest = self.clips.track_versions(clip.id).await?.pop();
        let (key, recorded) = match latest {
            Some(version) => (version.object_key, Some(version.sha256)),
            None => (derived_keys(&clip.bureau, clip.id).track, None),
        };
        if self.ports.blob.size_of(&key).await?.is_none() {
            return Ok((None, None));
        }
        let mut reader = self.ports.blob.open(&key).await?;
        let mut bytes = Vec::new();
        use tokio::io::AsyncReadExt;
        reader
            .read_to_end(&mut bytes)
            .await
            .map_err(|source| BlobError::Io {
                path: key.clone(),
                source,
            })?;
        let sha256 = custodian_core::Sha256Digest::of(&bytes).to_hex();
        if recorded
            .as_ref()
            .is_some_and(|recorded| *recorded != sha256)
        {
            tracing::warn!(%key, %sha256, "track changed since it was uploaded; not used");
            return Ok((None, None));
        }
        let Ok(text) = String::from_utf8(bytes) else {
            tracing::warn!(%key, "track is not UTF-8 text; ignored");
            return Ok((None, None));
        };
        let parsed = if text.trim_start().starts_with('<') {
            parse_gpx(&text)
        } else {
            parse_nmea(&text, clip.recorded_at.date_naive())
        };
        match parsed {
            Ok(track) => Ok((Some(track), Some(sha256))),
            Err(e) => {
                tracing::warn!(%key, error = %e, "track unusable; coordinates come from the clip instead");
                Ok((None, None))
            }
        }
    }
}

/// The longer side of a document's first-page poster, in pixels.
const DOCUMENT_POSTER_SIDE: u32 = 480;

/// What a viewing copy job made, as the catalogue records it.
struct Made {
    facts: MediaFacts,
    rendition: Rendition,
    duration_seconds: f64,
    frames: u64,
}

/// What the burned-in text says about a clip, besides what the file itself says.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct OverlaySource {
    /// When recording started, by the upload; the file's own creation time wins if it is
    /// plausible and within `clock_tolerance` of it (`custodian_core::media::clock`).
    pub recorded_at: DateTime<Utc>,
    #[serde(with = "milliseconds")]
    pub clock_tolerance: chrono::Duration,
    pub place: Option<String>,
    /// Where it was recorded, by the upload; else the file's ISO 6709 location tag.
    pub position: Option<Coordinates>,
    pub device: String,
    pub officer: String,
    pub track: Option<Track>,
}

impl OverlaySource {
    fn of(clip: &ClipRecord, track: Option<Track>, clock_tolerance: chrono::Duration) -> Self {
        Self {
            recorded_at: clip.recorded_at,
            clock_tolerance,
            place: clip.place.clone(),
            position: match (clip.latitude, clip.longitude) {
                (Some(latitude), Some(longitude)) => Some(Coordinates {
                    latitude,
                    longitude,
                }),
                _ => None,
            },
            device: clip.device.to_string(),
            officer: clip.officer.to_string(),
            track,
        }
    }
}

/// chrono's durations have no serde form of their own; milliseconds are what the tolerance
/// is configured in at the finest.
mod milliseconds {
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(d: &chrono::Duration, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_i64(d.num_milliseconds())
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<chrono::Duration, D::Error> {
        Ok(chrono::Duration::milliseconds(i64::deserialize(d)?))
    }
}

/// What the worker sends the sandboxed child to make a copy: the overlay's facts, the
/// encoder's settings, and for a party's copy the watermark.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct RenderParams {
    pub source: OverlaySource,
    pub config: TranscoderConfig,
    pub watermark: Option<String>,
    /// A party's copy: what its approved redaction plan hides.
    #[serde(default)]
    pub redaction: Option<custodian_core::redaction::RedactionPlan>,
}

/// The child's side of `jobs::RENDER`: the viewing copy, or a party's copy when the params
/// carry a watermark. Blocking.
pub fn render_job(
    dir: &Path,
    original: &Path,
    params: RenderParams,
    limits: &Limits,
    stop: &StopFlag,
) -> Result<TranscodeReport, MediaError> {
    render(
        dir,
        original,
        params.source,
        &params.config,
        params.watermark.as_deref(),
        params.redaction,
        limits,
        stop,
    )
}

/// Makes the viewing copy of `original` in `dir`: `view.mp4`, `poster.jpg` and
/// `subtitles.vtt`, with the overlay texts beside them (`clock.txt`, `overlay.ass`). Blocking.
pub fn make_viewing_copy(
    dir: &Path,
    original: &Path,
    source: OverlaySource,
    config: &TranscoderConfig,
    limits: &Limits,
    stop: &StopFlag,
) -> Result<TranscodeReport, MediaError> {
    render(dir, original, source, config, None, None, limits, stop)
}

#[allow(clippy::too_many_arguments)]
fn render(
    dir: &Path,
    original: &Path,
    source: OverlaySource,
    config: &TranscoderConfig,
    watermark: Option<&str>,
    redaction: Option<custodian_core::redaction::RedactionPlan>,
    limits: &Limits,
    stop: &StopFlag,
) -> Result<TranscodeReport, MediaError> {
    // Opened and probed once: the plan is made from what the file holds, the copy from the
    // same open file.
    let opened = custodian_media::Opened::open(original, stop)?;
    let info = opened.info.clone();
    // The camera's own clock dates the frames only where it is plausible and agrees with the
    // upload's; the fingerprinter records the disagreement otherwise.
    let start = recording_start(
        info.creation_time,
        source.recorded_at,
        source.clock_tolerance,
    )
    .at;
    let fixed_position = source.position.or_else(|| info.coordinates());
    // A recording has no picture; its text only goes to the WebVTT track.
    let (display_w, display_h) = info
        .video
        .as_ref()
        .map_or((1280, 720), |video| video.display_size());
    let (out_width, out_height) =
        custodian_media::output_size(display_w, display_h, 1.0, config.max_height);
    let facts = OverlayFacts {
        start,
        // A photo is one moment: one second of text, so it carries the same lines a video's
        // first second does.
        duration_seconds: match info.kind {
            RecordKind::Photo => 1.0,
            _ => info.duration_seconds.unwrap_or(0.0),
        },
        place: source.place,
        fixed_position,
        track: source.track,
        device: source.device,
        officer: source.officer,
    };
    let cues = cues(&facts);
    let write = |name: &str, text: String| {
        let path = dir.join(name);
        std::fs::write(&path, text).map_err(|source| MediaError::Io {
            path: path.display().to_string(),
            source,
        })?;
        Ok::<_, MediaError>(path)
    };
    write("subtitles.vtt", webvtt(&cues))?;
    let subtitles_file = write(
        "overlay.ass",
        ass(&cues, &config.font_family, out_width, out_height),
    )?;
    let clock_lines = ClockLayout::for_frame(out_width, out_height).two_lines;
    let clock_text_file = write("clock.txt", drawtext_clock(start, clock_lines))?;
    let watermark_text_file = watermark
        .map(|text| write("watermark.txt", text.to_owned()))
        .transpose()?;
    let extension = copy_extension(Some(info.kind));
    let (output, poster) = if watermark.is_some() {
        (format!("copy.{extension}"), "copy-poster.jpg")
    } else {
        (format!("view.{extension}"), "poster.jpg")
    };
    let plan = TranscodePlan {
        output: dir.join(output),
        poster: dir.join(poster),
        max_height: config.max_height,
        preset: config.preset.clone(),
        crf: config.crf,
        font_family: config.font_family.clone(),
        clock_text_file,
        subtitles_file: Some(subtitles_file),
        watermark_text_file,
        redaction: redaction.filter(|plan| !plan.is_empty()),
        poster_at_seconds: 1.0,
    };
    custodian_media::transcode_opened(opened, &plan, limits, stop)
}
