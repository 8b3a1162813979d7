//! The retention role: keeps footage exactly as long as the rules say (art. 21, 22). On a
//! schedule, and only in the one instance that holds the lease, it copies long-term clips to
//! the archive tier and reads the copy back; moves clips whose retention ran out to the
//! recycle bin, and purges them once their time there is over, leaving a tombstone; and
//! re-hashes a slice of the originals so every one is verified within the scrub period.
//! Storage pressure is never a reason to delete anything.

mod api;
mod metrics;
mod plan;

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use chrono::{DateTime, Months, Utc};
use custodian_core::retention::{decide, Retention as Decision, RetentionFacts, RetentionPolicy};
use custodian_platform::blob::{BlobError, BlobStore, LockSupport, WriteOptions};
use custodian_platform::catalogue::{CatalogueError, ClipRecord};
use custodian_platform::config::{parse_duration, parse_size, ConfigError};
use custodian_platform::Ports;
use tokio::io::AsyncReadExt;
use tokio_util::sync::CancellationToken;

pub use api::openapi;
pub use metrics::RetentionMetrics;
pub use plan::{plan, PlanEntry};

#[derive(Debug, Clone, clap::Args)]
pub struct RetentionConfig {
    /// Years an ordinary clip is kept after recording; art. 22 sets at least 2.
    #[arg(
        long = "ordinary-years",
        env = "CUSTODIAN_ORDINARY_YEARS",
        default_value_t = 2
    )]
    pub ordinary_years: u32,
    /// Years a filed case file, and the footage filed with it, is kept after filing (at least
    /// 2); left out, indefinitely (art. 22: footage filed with a case file follows the case
    /// file's keeping, not the two-year class).
    #[arg(long = "case-file-years", env = "CUSTODIAN_CASE_FILE_YEARS")]
    pub case_file_years: Option<u32>,
    /// Days an expired clip stays restorable in the recycle bin before it is purged.
    #[arg(
        long = "recycle-days",
        env = "CUSTODIAN_RECYCLE_DAYS",
        default_value_t = 7
    )]
    pub recycle_days: u32,
    /// How often the schedule runs.
    #[arg(long = "retention-every", env = "CUSTODIAN_RETENTION_EVERY", default_value = "1h", value_parser = parse_duration)]
    pub every: Duration,
    /// Years an archive copy is locked against deletion, where the archive bucket has Object Lock.
    #[arg(
        long = "archive-lock-years",
        env = "CUSTODIAN_ARCHIVE_LOCK_YEARS",
        default_value_t = 30
    )]
    pub archive_lock_years: u32,
    /// The archive copies' storage class (e.g. GLACIER, DEEP_ARCHIVE), where the store has them.
    #[arg(
        long = "archive-storage-class",
        env = "CUSTODIAN_ARCHIVE_STORAGE_CLASS"
    )]
    pub archive_storage_class: Option<String>,
    /// Every original is re-hashed at least once in this period.
    #[arg(long = "scrub-period", env = "CUSTODIAN_SCRUB_PERIOD", default_value = "90d", value_parser = parse_duration)]
    pub scrub_period: Duration,
    /// The scrub reads no faster than this, to leave the disks to uploads and playback.
    #[arg(long = "scrub-rate", env = "CUSTODIAN_SCRUB_RATE", default_value = "50MiB", value_parser = parse_size)]
    pub scrub_bytes_per_second: u64,
}

impl Default for RetentionConfig {
    fn default() -> Self {
        Self {
            ordinary_years: 2,
            case_file_years: None,
            recycle_days: 7,
            every: Duration::from_secs(3600),
            archive_lock_years: 30,
            archive_storage_class: None,
            scrub_period: Duration::from_secs(90 * 86_400),
            scrub_bytes_per_second: 50 << 20,
        }
    }
}

impl RetentionConfig {
    /// Refuses, among others, an ordinary period shorter than the regulation's.
    pub fn policy(&self) -> Result<RetentionPolicy, ConfigError> {
        RetentionPolicy::new(self.ordinary_years, self.recycle_days)
            .map_err(|e| ConfigError::new("ordinary-years", self.ordinary_years, e))?
            .with_case_file_years(self.case_file_years)
            .map_err(|e| {
                ConfigError::new(
                    "case-file-years",
                    self.case_file_years.unwrap_or_default(),
                    e,
                )
            })
    }

    pub fn validate(&self) -> Result<(), ConfigError> {
        self.policy()?;
        if self.every.is_zero() {
            return Err(ConfigError::new(
                "retention-every",
                "0s",
                "must be more than 0",
            ));
        }
        if self.scrub_period < self.every {
            return Err(ConfigError::new(
                "scrub-period",
                format!("{:?}", self.scrub_period),
                "must be longer than retention-every",
            ));
        }
        if self.scrub_bytes_per_second == 0 {
            return Err(ConfigError::new("scrub-rate", 0, "must be more than 0"));
        }
        if self.archive_lock_years == 0 {
            return Err(ConfigError::new(
                "archive-lock-years",
                0,
                "must be at least 1",
            ));
        }
        Ok(())
    }
}

#[derive(Debug, thiserror::Error)]
pub enum RetentionError {
    #[error(transparent)]
    Catalogue(#[from] CatalogueError),
    #[error(transparent)]
    Blob(#[from] BlobError),
    #[error(transparent)]
    Config(#[from] ConfigError),
    #[error("registering metrics: {0}")]
    Metrics(#[from] prometheus::Error),
}

/// What one pass of the schedule did.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct PassReport {
    pub archived: usize,
    pub recycled: usize,
    pub purged: usize,
    pub restored: usize,
    pub verified: usize,
    pub scrub_failures: usize,
}

pub struct Retention {
    ports: Ports,
    archive: Arc<dyn BlobStore>,
    config: RetentionConfig,
    policy: RetentionPolicy,
    metrics: RetentionMetrics,
}

/// The lease every instance competes for; one runs the schedule at a time.
pub const LEASE: &str = "custodian-retention";

impl Retention {
    pub fn new(
        ports: Ports,
        archive: Arc<dyn BlobStore>,
        config: RetentionConfig,
    ) -> Result<Arc<Self>, RetentionError> {
        config.validate()?;
        let policy = config.policy()?;
        let metrics = RetentionMetrics::register(&ports.registry)?;
        Ok(Arc::new(Self {
            ports,
            archive,
            config,
            policy,
            metrics,
        }))
    }

    pub fn router(self: &Arc<Self>) -> axum::Router {
        api::router(self.clone())
    }

    /// Until `shutdown`: whenever this instance holds the lease, run a pass every `every`.
    pub async fn run(self: Arc<Self>, shutdown: CancellationToken) {
        let mut lease: Option<Box<dyn custodian_platform::catalogue::Lease>> = None;
        let mut ticker = tokio::time::interval(self.config.every);
        loop {
            tokio::select! {
                _ = shutdown.cancelled() => return,
                _ = ticker.tick() => {}
            }
            let held = match &mut lease {
                Some(l) => custodian_platform::catalogue::Lease::held(&mut **l).await,
                None => false,
            };
            if !held {
                lease = match self.ports.catalogue.try_lease(LEASE).await {
                    Ok(l) => l,
                    Err(e) => {
                        tracing::warn!(error = %e, "cannot ask for the retention lease; will try again");
                        None
                    }
                };
            }
            self.metrics.lease_held.set(i64::from(lease.is_some()));
            if lease.is_none() {
                continue;
            }
            match self.pass().await {
                Ok(report) => tracing::info!(?report, "retention pass done"),
                Err(e) => tracing::warn!(error = %e, "retention pass failed; will try again"),
            }
        }
    }

    /// One pass: archive, expire, purge, scrub, then refresh the gauges. Each step works on a
    /// bounded batch; what is left waits for the next pass.
    pub async fn pass(&self) -> Result<PassReport, RetentionError> {
        let mut report = PassReport::default();
        self.archive_pass(&mut report).await?;
        self.expire_pass(&mut report).await?;
        self.purge_pass(&mut report).await?;
        self.scrub_pass(&mut report).await?;
        self.refresh_gauges().await?;
        self.metrics
            .last_pass
            .set(self.ports.clock.now().timestamp());
        Ok(report)
    }

    fn facts(
        &self,
        clip: &ClipRecord,
        cases: Vec<custodian_core::retention::CaseFacts>,
    ) -> RetentionFacts {
        RetentionFacts {
            recorded_at: clip.recorded_at,
            long_term: clip
                .long_term_reason
                .as_deref()
                .and_then(|r| r.parse().ok()),
            legal_hold: clip.legal_hold,
            cases,
        }
    }

    async fn decision(
        &self,
        clip: &ClipRecord,
        at: DateTime<Utc>,
    ) -> Result<Decision, RetentionError> {
        let cases = self.ports.catalogue.case_facts(clip.id).await?;
        Ok(decide(&self.policy, &self.facts(clip, cases), at))
    }

    /// Keeps what the schedule did in the clip's bureau's audit trail. A failure here is
    /// logged, not fatal: the action is also in the clip's own history.
    async fn record(&self, clip: &ClipRecord, action: &str, detail: String) {
        let entry = custodian_core::audit::NewAuditEntry {
            at: self.ports.clock.now(),
            actor: "retention schedule".into(),
            action: format!("retention.{action}"),
            target: Some(clip.id.to_string()),
            detail,
        };
        if let Err(e) = self
            .ports
            .catalogue
            .append_audit(clip.bureau.as_str(), entry)
            .await
        {
            tracing::error!(clip_id = %clip.id, error = %e, action, "retention action not recorded in the audit trail");
        }
    }

    async fn archive_pass(&self, report: &mut PassReport) -> Result<(), RetentionError> {
        let candidates = self.ports.catalogue.archive_candidates(100).await?;
        if candidates.is_empty() {
            return Ok(());
        }
        let lock = self.archive.lock_support().await;
        self.metrics
            .object_lock
            .set(i64::from(lock == LockSupport::Compliance));
        if let LockSupport::Unsupported(why) = &lock {
            tracing::warn!(reason = %why, "the archive tier cannot lock objects: archive copies are kept, but nothing stops their deletion");
        }
        for clip in candidates {
            match self.archive_one(&clip, &lock).await {
                Ok(()) => report.archived += 1,
                Err(e) => {
                    tracing::error!(clip_id = %clip.id, error = %e, "archiving failed; the clip stays where it is and is tried again");
                    self.metrics.archive_failures.inc();
                }
            }
        }
        Ok(())
    }

    async fn archive_one(
        &self,
        clip: &ClipRecord,
        lock: &LockSupport,
    ) -> Result<(), RetentionError> {
        let now = self.ports.clock.now();
        let key = format!("archive/{}", clip.object_key);
        let locked_until = (*lock == LockSupport::Compliance)
            .then(|| now.checked_add_months(Months::new(self.config.archive_lock_years * 12)))
            .flatten();
        let options = WriteOptions {
            retain_until: locked_until,
            legal_hold: clip.legal_hold,
            storage_class: self.config.archive_storage_class.clone(),
        };
        // A copy left by an earlier, interrupted pass is checked rather than written again.
        let written = match self.archive.size_of(&key).await? {
            Some(_) => None,
            None => Some(self.copy_to_archive(clip, &key, &options).await?),
        };
        if let Some(written) = &written {
            self.archive.verify(written).await?;
        }
        let cold = self.config.archive_storage_class.is_some();
        let (size, sha256) = match (&written, cold) {
            // A cold storage class cannot be read without a restore: what was sent is compared,
            // and the store's own checksum of what it received was verified above.
            (Some(written), true) => (written.size, written.sha256),
            (None, true) => {
                let size = self.archive.size_of(&key).await?.unwrap_or(0);
                tracing::warn!(clip_id = %clip.id, key, "archive copy from an earlier pass is in a cold class; checked by size only");
                (size, clip.sha256)
            }
            // Otherwise the copy is read back, whole, and hashed again.
            (_, false) => custodian_platform::blob::hash_stored(&*self.archive, &key, None).await?,
        };
        if size != clip.size_bytes || sha256 != clip.sha256 {
            let detail = format!(
                "archive copy {key} has {size} bytes {sha256}; the original was {} bytes {}",
                clip.size_bytes, clip.sha256
            );
            self.ports
                .catalogue
                .add_finding(clip.id, "archive-mismatch", "critical", &detail, now)
                .await?;
            return Err(BlobError::Mismatch { key, detail }.into());
        }
        if self
            .ports
            .catalogue
            .mark_archived(clip.id, &key, locked_until, now)
            .await?
        {
            self.metrics.archived.inc();
            self.record(
                clip,
                "archive",
                format!("copied to {key}, read back; locked until {locked_until:?}"),
            )
            .await;
            tracing::info!(clip_id = %clip.id, key, locked = locked_until.is_some(), "clip archived and read back");
        }
        Ok(())
    }

    async fn copy_to_archive(
        &self,
        clip: &ClipRecord,
        key: &str,
        options: &WriteOptions,
    ) -> Result<custodian_platform::blob::WrittenObject, RetentionError> {
        let mut reader = self.ports.blob.open(&clip.object_key).await?;
        let mut writer = self.archive.create_with(key, options).await?;
        let mut buffer = vec![0u8; 1 << 20];
        loop {
            let read = match reader.read(&mut buffer).await {
                Ok(read) => read,
                Err(e) => {
                    writer.abort().await;
                    return Err(BlobError::Io {
                        path: clip.object_key.clone(),
                        source: e,
                    }
                    .into());
                }
            };
            if read == 0 {
                break;
            }
            if let Err(e) = writer.write(Bytes::copy_from_slice(&buffer[..read])).await {
                writer.abort().await;
                return Err(e.into());
            }
        }
        Ok(writer.finish().await?)
    }

    async fn expire_pass(&self, report: &mut PassReport) -> Result<(), RetentionError> {
        let now = self.ports.clock.now();
        // Only clips recorded longer ago than the ordinary period can have run out.
        let Some(recorded_before) =
            now.checked_sub_months(Months::new(self.policy.ordinary_years() * 12))
        else {
            return Ok(());
        };
        for clip in self
            .ports
            .catalogue
            .expiry_candidates(recorded_before, 500)
            .await?
        {
            if let Decision::Expired { since } = self.decision(&clip, now).await? {
                let until = now + chrono::Duration::days(i64::from(self.policy.recycle_days));
                let reason = format!("retention ran out on {since}; restorable until {until}");
                if self
                    .ports
                    .catalogue
                    .recycle(clip.id, until, now, &reason)
                    .await?
                {
                    report.recycled += 1;
                    self.metrics.recycled.inc();
                    self.record(&clip, "recycle", reason.clone()).await;
                    tracing::info!(clip_id = %clip.id, %until, "clip moved to the recycle bin");
                }
            }
        }
        Ok(())
    }

    async fn purge_pass(&self, report: &mut PassReport) -> Result<(), RetentionError> {
        let now = self.ports.clock.now();
        for clip in self.ports.catalogue.purge_candidates(now, 100).await? {
            // The rules are asked again: a hold or a case may have come while it was in the bin.
            if !self.decision(&clip, now).await?.is_expired() {
                if self
                    .ports
                    .catalogue
                    .restore(
                        &clip.bureau,
                        clip.id,
                        now,
                        "retention (a rule keeps it again)",
                    )
                    .await?
                {
                    report.restored += 1;
                    self.metrics.restored.inc();
                    self.record(&clip, "restore", "a rule keeps it again".into())
                        .await;
                }
                continue;
            }
            // Files first, record last: a crash in between leaves a recycled clip whose purge
            // is simply done again.
            self.ports.blob.delete(&clip.object_key).await?;
            // The viewing copy, sidecar, poster and track go with it (art. 22: no copy
            // outlives the original's retention).
            let derived = custodian_core::keys::derived_keys(&clip.bureau, clip.id);
            for key in [
                derived.view,
                derived.photo,
                derived.subtitles,
                derived.poster,
                derived.track,
            ] {
                custodian_platform::blob::remove_derived(&*self.ports.blob, &key).await?;
            }
            // And every version of its GPS track.
            for track in self.ports.catalogue.track_versions(clip.id).await? {
                custodian_platform::blob::remove_derived(&*self.ports.blob, &track.object_key)
                    .await?;
            }
            // So do the watermarked copies made for parties (art. 23).
            for request in self.ports.catalogue.copy_requests_of_clip(clip.id).await? {
                let key =
                    custodian_core::keys::copy_key(&clip.bureau, clip.id, request.id, clip.kind);
                custodian_platform::blob::remove_derived(&*self.ports.blob, &key).await?;
            }
            if self.ports.catalogue.mark_purged(clip.id, now).await? {
                report.purged += 1;
                self.metrics.purged.inc();
                self.record(
                    &clip,
                    "purge",
                    format!(
                        "original {} and its viewing copy removed; sha256 {} kept",
                        clip.object_key, clip.sha256
                    ),
                )
                .await;
                tracing::info!(clip_id = %clip.id, sha256 = %clip.sha256, "clip purged; its record stays as a tombstone");
            }
        }
        Ok(())
    }

    /// How many clips one pass verifies so that all are verified within the scrub period.
    fn scrub_slice(&self, live_clips: i64) -> i64 {
        let passes =
            (self.config.scrub_period.as_secs_f64() / self.config.every.as_secs_f64()).max(1.0);
        ((live_clips as f64 / passes).ceil() as i64).max(1)
    }

    async fn scrub_pass(&self, report: &mut PassReport) -> Result<(), RetentionError> {
        let live: i64 = self
            .ports
            .catalogue
            .class_totals()
            .await?
            .iter()
            .filter(|t| t.class != "expired")
            .map(|t| t.clips)
            .sum();
        let now = self.ports.clock.now();
        for clip in self
            .ports
            .catalogue
            .scrub_candidates(self.scrub_slice(live))
            .await?
        {
            let checked = custodian_platform::blob::hash_stored(
                &*self.ports.blob,
                &clip.object_key,
                Some(self.config.scrub_bytes_per_second),
            )
            .await;
            let problem = match checked {
                Ok((size, sha256)) if size == clip.size_bytes && sha256 == clip.sha256 => None,
                Ok((size, sha256)) => Some((
                    "checksum-mismatch",
                    format!(
                        "original has {size} bytes {sha256}; recorded {} bytes {}",
                        clip.size_bytes, clip.sha256
                    ),
                )),
                Err(BlobError::NotFound { .. }) => Some((
                    "missing",
                    format!("original {} is missing from the store", clip.object_key),
                )),
                Err(e) if e.is_transient() => return Err(e.into()),
                Err(e) => Some(("unreadable", e.to_string())),
            };
            match problem {
                None => {
                    self.ports.catalogue.mark_verified(clip.id, now).await?;
                    report.verified += 1;
                    self.metrics.scrub_verified.inc();
                }
                Some((kind, detail)) => {
                    // Never repaired here: a changed original is evidence of something, and
                    // people must look at it.
                    tracing::error!(clip_id = %clip.id, kind, %detail, "scrub found an original that is not as recorded");
                    self.ports
                        .catalogue
                        .add_finding(clip.id, kind, "critical", &detail, now)
                        .await?;
                    self.ports.catalogue.mark_verified(clip.id, now).await?;
                    report.scrub_failures += 1;
                    self.metrics.scrub_failures.with_label_values(&[kind]).inc();
                    self.record(&clip, "scrub-finding", format!("{kind}: {detail}"))
                        .await;
                }
            }
        }
        Ok(())
    }

    async fn refresh_gauges(&self) -> Result<(), RetentionError> {
        for totals in self.ports.catalogue.class_totals().await? {
            self.metrics
                .clips
                .with_label_values(&[totals.class])
                .set(totals.clips);
            self.metrics
                .bytes
                .with_label_values(&[totals.class])
                .set(totals.bytes);
        }
        match self.ports.catalogue.oldest_verification().await? {
            Some(oldest) => self.metrics.oldest_verification.set(oldest.timestamp()),
            None => self.metrics.oldest_verification.set(0),
        }
        Ok(())
    }
}
