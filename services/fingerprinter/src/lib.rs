//! The fingerprinter role: for every stored clip, a 64-bit perceptual hash of each second of
//! the picture (so re-encoded, rescaled, brightened or trimmed copies, and clips cut out of
//! longer ones, can be found again), and the continuity checks of art. 12.5 (no breaks, no
//! insertions): gaps and jumps in the frame timestamps, a duration the container misstates,
//! and gaps against the same device's previous clip. Findings are recorded with the clip,
//! with position, size and severity, and counted in metrics. The clip is decoded in a
//! sandboxed child process (`custodian_media::sandbox`).

use std::sync::Arc;

use bytes::Bytes;
use custodian_core::events::Topic;
use custodian_core::media::clock::recording_start;
use custodian_core::media::continuity::{analyse_with, MeasuredTimeline};
use custodian_core::media::{
    device_gap, jumps_back, ContinuityFinding, ContinuityRules, FrameTimes,
};
use custodian_core::records::RecordKind;
use custodian_core::ClipState;
use custodian_media::{claim, jobs, settle_failure, still_held, JobFailure, Sampling, Workspace};
use custodian_platform::bus::{run_consumer, HandleError, Job, JobMetrics};
use custodian_platform::catalogue::{
    CatalogueError, ClipRecord, ClipRepo, Lease, MediaFacts, NewFinding,
};
use custodian_platform::config::{ConfigError, MediaJobArgs};
use custodian_platform::events::stored_clip;
use custodian_platform::Ports;
use custodian_proto::v1::ClipFingerprinted;
use custodian_proto::Message;
use prometheus::{IntCounter, IntCounterVec, Opts, Registry};
use tokio_util::sync::CancellationToken;

#[derive(Debug, thiserror::Error)]
pub enum FingerprinterStartError {
    #[error(transparent)]
    Config(#[from] ConfigError),
    #[error("registering metrics: {0}")]
    Metrics(#[from] prometheus::Error),
}

struct FingerprinterMetrics {
    fingerprinted: IntCounter,
    footage_seconds: IntCounter,
    findings: IntCounterVec,
}

impl FingerprinterMetrics {
    fn register(registry: &Registry) -> Result<Self, prometheus::Error> {
        let fingerprinted = IntCounter::new(
            "custodian_fingerprints_total",
            "Clips fingerprinted and checked for continuity",
        )?;
        let footage_seconds = IntCounter::new(
            "custodian_fingerprinted_footage_seconds_total",
            "Seconds of footage fingerprinted",
        )?;
        let findings = IntCounterVec::new(
            Opts::new(
                "custodian_continuity_findings_total",
                "Continuity findings recorded, by kind and severity",
            ),
            &["kind", "severity"],
        )?;
        registry.register(Box::new(fingerprinted.clone()))?;
        registry.register(Box::new(footage_seconds.clone()))?;
        registry.register(Box::new(findings.clone()))?;
        Ok(Self {
            fingerprinted,
            footage_seconds,
            findings,
        })
    }
}

pub struct Fingerprinter {
    ports: Ports,
    /// The part of the catalogue the fingerprinter uses: clips, their media and findings.
    clips: Arc<dyn ClipRepo>,
    jobs_args: MediaJobArgs,
    rules: ContinuityRules,
    metrics: FingerprinterMetrics,
    jobs: JobMetrics,
    failures: IntCounterVec,
}

impl Fingerprinter {
    /// `jobs` and `failures` are the process's shared job metrics and media failure counter
    /// (`register_media_failures`).
    pub fn new(
        ports: Ports,
        jobs_args: MediaJobArgs,
        jobs: JobMetrics,
        failures: IntCounterVec,
    ) -> Result<Arc<Self>, FingerprinterStartError> {
        jobs_args.validate()?;
        let metrics = FingerprinterMetrics::register(&ports.registry)?;
        Ok(Arc::new(Self {
            clips: ports.catalogue.clone(),
            ports,
            jobs_args,
            rules: ContinuityRules::default(),
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
        run_consumer(
            self.ports.bus.clone(),
            self.jobs_args.consumer("fingerprinter"),
            self.jobs.clone(),
            self.jobs_args.delivery_timeout(),
            shutdown,
            handler,
        )
        .await;
    }

    pub async fn on_stored(&self, job: Job) -> Result<(), HandleError> {
        let clip = stored_clip(&*self.clips, job.payload).await?;
        let id = clip.id;
        if clip.state != ClipState::Stored {
            return Ok(());
        }
        if self.announced_if_done(&clip).await? {
            return Ok(());
        }
        let Some(mut claim) = claim(&self.ports, "fingerprint", id).await? else {
            // Another fingerprinter is at work on it; its own delivery stands for the job.
            tracing::info!(clip_id = %id, attempt = job.attempt, "clip held by another fingerprinter; left to it");
            return Ok(());
        };
        // The holder before us may have finished between the check above and the claim.
        if self.announced_if_done(&clip).await? {
            return Ok(());
        }
        tracing::info!(clip_id = %id, attempt = job.attempt, "fingerprinting");
        let work =
            match Workspace::prepare(&self.ports, &self.jobs_args, &clip, "fingerprint").await {
                Ok(work) => work,
                Err(failure) => return Err(self.settle(&clip, failure, job.last_attempt).await),
            };
        if work.holds_pdf() {
            return self
                .fingerprint_document(&clip, &work, &mut claim, job.last_attempt)
                .await;
        }
        // Decoded in the sandboxed child: `custodian media-job` runs `custodian_media::sample`.
        let sampled: Result<Sampling, JobFailure> = work.run(jobs::SAMPLE, &()).await;
        let sampling = match sampled {
            Ok(sampling) => sampling,
            Err(failure) => return Err(self.settle(&clip, failure, job.last_attempt).await),
        };
        let (duration, mut findings) = if sampling.info.kind.is_timed() {
            self.continuity(&clip, &sampling).await?
        } else {
            // A photo is one moment: no timeline to break.
            (0.0, Vec::new())
        };
        // The same rule the transcoder dates the copy by: a file clock it set aside is a finding.
        let start = recording_start(
            sampling.info.creation_time,
            clip.recorded_at,
            self.jobs_args.clock_tolerance(),
        );
        findings.extend(start.disagreement);
        let facts = MediaFacts {
            duration_seconds: Some(duration),
            time_source: Some(start.source.as_str().to_owned()),
            sound_fingerprint: (!sampling.sound_fingerprint.is_empty())
                .then(|| sampling.sound_fingerprint.clone()),
            ..sampling.info.facts()
        };
        let mut recorded: Vec<NewFinding> = findings
            .iter()
            .map(|f| NewFinding {
                kind: f.kind.to_owned(),
                severity: f.severity.as_str().to_owned(),
                detail: f.detail.clone(),
                position_seconds: Some(f.at_seconds),
                size_seconds: Some(f.size_seconds),
            })
            .collect();
        if let Some(problem) = &sampling.info.exif_problem {
            recorded.push(NewFinding {
                kind: "exif-unreadable".into(),
                severity: "warning".into(),
                detail: problem.clone(),
                position_seconds: None,
                size_seconds: None,
            });
        }
        still_held(&mut claim, format!("clip {id}")).await?;
        self.clips
            .record_fingerprint(
                id,
                &facts,
                &sampling.hashes,
                &recorded,
                self.ports.clock.now(),
            )
            .await?;
        self.metrics.fingerprinted.inc();
        self.metrics
            .footage_seconds
            .inc_by(duration.max(0.0) as u64);
        for finding in &findings {
            self.metrics
                .findings
                .with_label_values(&[finding.kind, finding.severity.as_str()])
                .inc();
        }
        tracing::info!(clip_id = %id, seconds = sampling.hashes.len(), findings = findings.len(), "clip fingerprinted");
        self.announce(&clip, sampling.hashes.len(), findings.len())
            .await
    }

    /// A PDF: its pages and text read by Poppler, recorded as the fingerprint's facts; one
    /// that cannot be read is kept with the reason as a finding (art. 19: a document is never
    /// refused after its receipt).
    async fn fingerprint_document(
        &self,
        clip: &ClipRecord,
        work: &Workspace,
        claim: &mut Box<dyn Lease>,
        last_attempt: bool,
    ) -> Result<(), HandleError> {
        let read = work.inspect_document().await;
        let (facts, findings) = match read {
            Ok(document) => document_facts(document),
            Err(failure) if failure.retry_may_help() && !last_attempt => {
                return Err(HandleError::Transient(failure.to_string()))
            }
            // Kept all the same (art. 19): a document is never refused after its receipt.
            Err(failure) => (
                MediaFacts {
                    kind: Some(RecordKind::Document),
                    container: Some("pdf".into()),
                    ..MediaFacts::default()
                },
                vec![NewFinding {
                    kind: "unreadable-document".into(),
                    severity: "warning".into(),
                    detail: failure.to_string(),
                    position_seconds: None,
                    size_seconds: None,
                }],
            ),
        };
        still_held(claim, format!("clip {}", clip.id)).await?;
        self.clips
            .record_fingerprint(clip.id, &facts, &[], &findings, self.ports.clock.now())
            .await?;
        self.metrics.fingerprinted.inc();
        for finding in &findings {
            self.metrics
                .findings
                .with_label_values(&[finding.kind.as_str(), finding.severity.as_str()])
                .inc();
        }
        tracing::info!(clip_id = %clip.id, pages = ?facts.page_count, findings = findings.len(), "document read");
        self.announce(clip, 0, findings.len()).await
    }

    /// Marks the clip failed, or leaves it for another try, as the failure says.
    async fn settle(
        &self,
        clip: &ClipRecord,
        failure: JobFailure,
        last_attempt: bool,
    ) -> HandleError {
        settle_failure(
            &self.ports,
            &self.failures,
            "fingerprinter",
            clip,
            failure,
            last_attempt,
        )
        .await
    }

    /// If the clip was fingerprinted before (a redelivery, the reconciler, or another
    /// worker), announces it again and answers true: nothing is recorded twice.
    async fn announced_if_done(&self, clip: &ClipRecord) -> Result<bool, HandleError> {
        let media = self.clips.clip_media(clip.id).await?;
        let Some(done) = media.filter(|m| m.fingerprinted_at.is_some()) else {
            return Ok(false);
        };
        let findings = self.clips.findings(clip.id).await?;
        self.announce(clip, done.fingerprint_seconds, findings.len())
            .await?;
        Ok(true)
    }

    /// The clip's own timeline, and the gap to the same device's previous clip.
    async fn continuity(
        &self,
        clip: &ClipRecord,
        sampling: &Sampling,
    ) -> Result<(f64, Vec<ContinuityFinding>), CatalogueError> {
        let (timeline, mut findings) = continuity_of(sampling, &self.rules);
        if let Some((_, previous_start, Some(previous_duration))) = self
            .clips
            .previous_on_device(&clip.bureau, &clip.device, clip.recorded_at)
            .await?
        {
            let previous_end = previous_start
                + chrono::Duration::milliseconds((previous_duration * 1000.0) as i64);
            findings.extend(device_gap(previous_end, clip.recorded_at));
        }
        Ok((timeline.duration_seconds, findings))
    }

    async fn announce(
        &self,
        clip: &ClipRecord,
        seconds: usize,
        findings: usize,
    ) -> Result<(), HandleError> {
        let event = ClipFingerprinted {
            clip_id: clip.id.to_string(),
            bureau_id: clip.bureau.to_string(),
            seconds: seconds as u32,
            findings: findings as u32,
        };
        self.ports
            .bus
            .publish(
                Topic::ClipFingerprinted,
                &Topic::ClipFingerprinted.message_id(clip.id, 0),
                Bytes::from(event.encode_to_vec()),
            )
            .await
            .map_err(|e| HandleError::Transient(e.to_string()))
    }
}

/// What reading a PDF found: its pages and text, and a note when it has no text to search.
fn document_facts(document: custodian_media::DocumentFacts) -> (MediaFacts, Vec<NewFinding>) {
    let mut findings = Vec::new();
    if !document.has_text {
        findings.push(NewFinding {
            kind: "no-text-layer".into(),
            severity: "info".into(),
            detail: "the PDF has no text (a scan?): it is found by its name and description, not its words".into(),
            position_seconds: None,
            size_seconds: None,
        });
    }
    if document.encrypted {
        findings.push(NewFinding {
            kind: "encrypted-document".into(),
            severity: "info".into(),
            detail: "the PDF is encrypted with an owner password (it opens, but restricts copying or printing)".into(),
            position_seconds: None,
            size_seconds: None,
        });
    }
    let facts = MediaFacts {
        kind: Some(RecordKind::Document),
        container: Some("pdf".into()),
        page_count: Some(document.pages),
        content_text: document.has_text.then_some(document.text),
        ..MediaFacts::default()
    };
    (facts, findings)
}

/// The continuity findings of one clip on its own (art. 12.5): gaps, duplicates and
/// backward jumps in its frame timestamps, and a duration its container misstates.
pub fn continuity_of(
    sampling: &Sampling,
    rules: &ContinuityRules,
) -> (MeasuredTimeline, Vec<ContinuityFinding>) {
    let times = FrameTimes {
        pts_seconds: sampling.frame_times.clone(),
        nominal_interval: sampling.interval_seconds,
        container_duration: sampling.info.duration_seconds,
    };
    let (timeline, mut findings) = analyse_with(&times, rules);
    findings.extend(jumps_back(
        &sampling.frame_times,
        timeline.interval_seconds,
        rules,
    ));
    (timeline, findings)
}
