//! The catalog role: what archive staff and other systems read. It follows every clip's
//! events, moves the clip through its states in the catalogue once each step it depends on is
//! done, re-announces work for clips stuck too long (so a lost message only delays work), and
//! answers the read API, always scoped to the caller's bureau.

mod api;
mod media_api;
mod rectification_api;
mod tasks_api;

pub use api::openapi;

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use custodian_core::calendar::WorkdayCalendar;
use custodian_core::classification::{Categories, DEFAULT_CATEGORIES};
use custodian_core::deadlines::DeadlineRules;
use custodian_core::events::Topic;
use custodian_core::naming::{self, NameParts, NameTemplate};
use custodian_core::records::RecordRules;
use custodian_core::{ClipId, ClipState, ProcessingStep};
use custodian_platform::bus::{run_consumer, ConsumerSpec, HandleError, Job, JobMetrics};
use custodian_platform::catalogue::{CatalogueError, ClipRecord, ClipSchedule};
use custodian_platform::config::{parse_duration, ConfigError};
use custodian_platform::events::publish_stored;
use custodian_platform::Ports;
use custodian_proto::v1::{ClipCatalogued, ClipFingerprinted, ClipStored, ClipTranscoded};
use custodian_proto::Message;
use prometheus::{IntCounter, IntGaugeVec, Opts, Registry};
use tokio_util::sync::CancellationToken;

#[derive(Debug, Clone, clap::Args)]
pub struct CatalogConfig {
    /// A working-day calendar (TOML, as data/cn-workdays.toml) to use instead of the one
    /// built in; add next year's State Council notice here.
    #[arg(long = "calendar", env = "CUSTODIAN_CALENDAR")]
    pub calendar: Option<std::path::PathBuf>,
    /// How canonical clip names are made (art. 17).
    #[arg(long = "name-template", env = "CUSTODIAN_NAME_TEMPLATE", default_value = naming::DEFAULT_TEMPLATE)]
    pub name_template: String,
    /// The categories clips are classified into, comma-separated.
    #[arg(long = "categories", env = "CUSTODIAN_CATEGORIES", value_delimiter = ',', default_values_t = DEFAULT_CATEGORIES.map(String::from))]
    pub categories: Vec<String>,
    /// The document types, case types and what each case type's file must hold before it
    /// is filed (TOML, as data/record-rules.toml); sections left out keep the defaults of
    /// art. 5, 6, 10 and 18.
    #[arg(long = "record-rules", env = "CUSTODIAN_RECORD_RULES")]
    pub record_rules: Option<std::path::PathBuf>,
    /// How often the reconciler looks for stuck clips.
    #[arg(long = "reconcile-every", env = "CUSTODIAN_RECONCILE_EVERY", default_value = "30s", value_parser = parse_duration)]
    pub reconcile_every: Duration,
    /// A clip whose state has not moved for this long has its pending work announced again.
    #[arg(long = "stuck-after", env = "CUSTODIAN_STUCK_AFTER", default_value = "5m", value_parser = parse_duration)]
    pub stuck_after: Duration,
    /// The processing steps a stored clip waits for before it is catalogued, comma-separated
    /// (`transcode`, `fingerprint`), or `none`.
    #[arg(long = "media-steps", env = "CUSTODIAN_MEDIA_STEPS", value_delimiter = ',', default_value = "transcode,fingerprint", value_parser = parse_step)]
    pub media_steps: Vec<Option<ProcessingStep>>,
    /// Deliveries of one event before it goes to the dead-letter subject.
    #[arg(
        long = "max-deliver",
        env = "CUSTODIAN_MAX_DELIVER",
        default_value_t = 5
    )]
    pub max_deliver: u32,
}

fn parse_step(text: &str) -> Result<Option<ProcessingStep>, String> {
    match text.trim() {
        "none" | "" => Ok(None),
        step => step.parse().map(Some),
    }
}

/// The catalogue's rules, as configured and checked at start.
pub struct CatalogRules {
    pub deadlines: DeadlineRules,
    pub names: NameTemplate,
    pub categories: Categories,
    /// Document and case types, and what each case type's file must hold (art. 18).
    pub records: RecordRules,
}

/// A configuration file read and parsed, or an error naming the flag and the file.
fn from_file<T, E: std::fmt::Display>(
    flag: &'static str,
    path: &std::path::Path,
    parse: impl FnOnce(&str) -> Result<T, E>,
) -> Result<T, ConfigError> {
    let text =
        std::fs::read_to_string(path).map_err(|e| ConfigError::new(flag, path.display(), e))?;
    parse(&text).map_err(|e| ConfigError::new(flag, path.display(), e))
}

impl CatalogConfig {
    /// Loads and checks the calendar, the name template, the categories and the record rules.
    pub fn rules(&self) -> Result<CatalogRules, ConfigError> {
        let calendar = match &self.calendar {
            None => WorkdayCalendar::shipped(),
            Some(path) => from_file("calendar", path, WorkdayCalendar::from_toml)?,
        };
        let names = NameTemplate::parse(&self.name_template)
            .map_err(|e| ConfigError::new("name-template", &self.name_template, e))?;
        let categories = Categories::new(self.categories.clone())
            .map_err(|e| ConfigError::new("categories", self.categories.join(","), e))?;
        let records = match &self.record_rules {
            None => RecordRules::default(),
            Some(path) => from_file("record-rules", path, RecordRules::from_toml)?,
        };
        Ok(CatalogRules {
            deadlines: DeadlineRules::new(calendar),
            names,
            categories,
            records,
        })
    }

    pub fn validate(&self) -> Result<(), ConfigError> {
        self.rules()?;
        if self.reconcile_every.is_zero() {
            return Err(ConfigError::new(
                "reconcile-every",
                "0s",
                "must be more than 0",
            ));
        }
        // Re-publishing inside the bus's two-minute duplicate window would be dropped anyway.
        if self.stuck_after < Duration::from_secs(1) {
            return Err(ConfigError::new(
                "stuck-after",
                format!("{:?}", self.stuck_after),
                "must be at least 1s",
            ));
        }
        if !(1..=100).contains(&self.max_deliver) {
            return Err(ConfigError::new(
                "max-deliver",
                self.max_deliver,
                "must be 1 to 100",
            ));
        }
        Ok(())
    }
}

impl Default for CatalogConfig {
    fn default() -> Self {
        Self {
            calendar: None,
            record_rules: None,
            name_template: naming::DEFAULT_TEMPLATE.to_owned(),
            categories: DEFAULT_CATEGORIES.map(String::from).to_vec(),
            reconcile_every: Duration::from_secs(30),
            stuck_after: Duration::from_secs(300),
            media_steps: ProcessingStep::ALL.map(Some).to_vec(),
            max_deliver: 5,
        }
    }
}

impl CatalogConfig {
    /// The steps a stored clip waits for.
    pub fn required_steps(&self) -> Vec<ProcessingStep> {
        let mut steps: Vec<ProcessingStep> = self.media_steps.iter().flatten().copied().collect();
        steps.dedup();
        steps
    }
}

struct CatalogMetrics {
    catalogued: IntCounter,
    republished: IntCounter,
    unknown_calendar_year: IntCounter,
    overdue: IntGaugeVec,
    jobs: JobMetrics,
}

impl CatalogMetrics {
    fn register(registry: &Registry, jobs: JobMetrics) -> Result<Self, prometheus::Error> {
        let catalogued = IntCounter::new(
            "custodian_clips_catalogued_total",
            "Clips that reached the catalogued state",
        )?;
        let republished = IntCounter::new(
            "custodian_reconciler_republished_total",
            "Stuck clips whose pending work was announced again",
        )?;
        let unknown_calendar_year = IntCounter::new(
            "custodian_calendar_unknown_year_total",
            "Deadlines counted across a year the working-day calendar has no data for (weekends only): add that year",
        )?;
        let overdue = IntGaugeVec::new(
            Opts::new(
                "custodian_deadlines_overdue",
                "Overdue deadlines by bureau and kind (late uploads: over the last 30 days)",
            ),
            &["bureau", "kind"],
        )?;
        registry.register(Box::new(catalogued.clone()))?;
        registry.register(Box::new(republished.clone()))?;
        registry.register(Box::new(unknown_calendar_year.clone()))?;
        registry.register(Box::new(overdue.clone()))?;
        Ok(Self {
            catalogued,
            republished,
            unknown_calendar_year,
            overdue,
            jobs,
        })
    }
}

pub struct Catalog {
    ports: Ports,
    config: CatalogConfig,
    rules: CatalogRules,
    metrics: CatalogMetrics,
    /// Similarity searches compare thousands of fingerprints on the blocking pool; at most
    /// this many run at once, so a burst of them cannot take every core from the API.
    similarity_searches: tokio::sync::Semaphore,
}

#[derive(Debug, thiserror::Error)]
pub enum CatalogStartError {
    #[error(transparent)]
    Config(#[from] ConfigError),
    #[error("registering metrics: {0}")]
    Metrics(#[from] prometheus::Error),
}

impl Catalog {
    /// `jobs` is the process's one set of job metrics, shared by every consuming role.
    pub fn new(
        ports: Ports,
        config: CatalogConfig,
        jobs: JobMetrics,
    ) -> Result<Arc<Self>, CatalogStartError> {
        let rules = config.rules()?;
        let metrics = CatalogMetrics::register(&ports.registry, jobs)?;
        Ok(Arc::new(Self {
            similarity_searches: tokio::sync::Semaphore::new(
                std::thread::available_parallelism().map_or(1, |n| n.get()),
            ),
            ports,
            config,
            rules,
            metrics,
        }))
    }

    pub fn router(self: &Arc<Self>) -> axum::Router {
        api::router(self.clone())
    }

    fn consumer(&self, name: &str, topic: Topic) -> ConsumerSpec {
        ConsumerSpec {
            name: name.into(),
            topic,
            ack_wait: Duration::from_secs(30),
            max_deliver: self.config.max_deliver,
        }
    }

    /// Runs the consumers of `clip.stored` and of the media workers' events, and the
    /// reconciler, until `shutdown`.
    pub async fn run(self: Arc<Self>, shutdown: CancellationToken) {
        let consume = |name: &'static str, topic: Topic| {
            let catalog = self.clone();
            let handler = move |job: Job| {
                let catalog = catalog.clone();
                async move { catalog.on_event(topic, job.payload).await }
            };
            run_consumer(
                self.ports.bus.clone(),
                self.consumer(name, topic),
                self.metrics.jobs.clone(),
                Duration::from_secs(60),
                shutdown.clone(),
                handler,
            )
        };
        let stored = consume("catalog-stored", Topic::ClipStored);
        let transcoded = consume("catalog-transcoded", Topic::ClipTranscoded);
        let fingerprinted = consume("catalog-fingerprinted", Topic::ClipFingerprinted);
        let reconciler = self.clone().reconcile_forever(shutdown.clone());
        tokio::join!(stored, transcoded, fingerprinted, reconciler);
    }

    /// Handles an event of a clip's processing: whichever arrives, the clip is scheduled if
    /// it is not yet, and catalogued once every required step is recorded. Handling any of
    /// them twice changes nothing.
    pub async fn on_event(&self, topic: Topic, payload: Bytes) -> Result<(), HandleError> {
        let undecodable = |e: custodian_proto::DecodeError| {
            HandleError::Permanent(format!("undecodable {}: {e}", topic.suffix()))
        };
        let clip_id = match topic {
            Topic::ClipStored => ClipStored::decode(payload).map_err(undecodable)?.clip_id,
            Topic::ClipTranscoded => {
                ClipTranscoded::decode(payload)
                    .map_err(undecodable)?
                    .clip_id
            }
            Topic::ClipFingerprinted => {
                ClipFingerprinted::decode(payload)
                    .map_err(undecodable)?
                    .clip_id
            }
            Topic::ClipCatalogued | Topic::CopyApproved => return Ok(()),
        };
        let id: ClipId = clip_id
            .parse()
            .map_err(|e| HandleError::Permanent(format!("{}: {e}", topic.suffix())))?;
        self.advance(id).await
    }

    async fn advance(&self, id: ClipId) -> Result<(), HandleError> {
        let clip = self.ports.catalogue.clip_for_worker(id).await?;
        let Some(clip) = clip else {
            return Err(HandleError::Transient(format!(
                "clip {id} is not in the catalogue yet"
            )));
        };
        if clip.schedule.is_none() {
            self.schedule(&clip).await?;
        }
        match clip.state {
            ClipState::Stored => {
                let pending = self.pending_steps(id).await?;
                if !pending.is_empty() {
                    // The media workers' events will bring the clip back here.
                    return Ok(());
                }
                self.count_from_recording_end(&clip).await?;
                let now = self.ports.clock.now();
                let moved = self
                    .ports
                    .catalogue
                    .transition(
                        id,
                        ClipState::Stored,
                        ClipState::Catalogued,
                        now,
                        Some("every required step done"),
                    )
                    .await?;
                if moved {
                    self.metrics.catalogued.inc();
                    tracing::info!(clip_id = %id, bureau = %clip.bureau, "clip catalogued");
                }
                self.announce_catalogued(&clip.bureau.to_string(), id, now)
                    .await
            }
            // Already done: announce again in case the first announcement was lost; the bus
            // drops the duplicate if it was not.
            ClipState::Catalogued => {
                self.announce_catalogued(&clip.bureau.to_string(), id, clip.state_changed_at)
                    .await
            }
            ClipState::Archived | ClipState::Recycled | ClipState::Expired | ClipState::Failed => {
                Ok(())
            }
        }
    }

    /// The required steps not yet recorded for the clip.
    async fn pending_steps(&self, id: ClipId) -> Result<Vec<ProcessingStep>, CatalogueError> {
        let required = self.config.required_steps();
        if required.is_empty() {
            return Ok(required);
        }
        let media = self
            .ports
            .catalogue
            .clip_media(id)
            .await?
            .unwrap_or_default();
        Ok(required
            .into_iter()
            .filter(|step| match step {
                ProcessingStep::Transcode => media.transcoded_at.is_none(),
                ProcessingStep::Fingerprint => media.fingerprinted_at.is_none(),
            })
            .collect())
    }

    /// Where no return to the office was recorded, the upload deadlines count from the
    /// recording's end: once the media workers measured the clip's duration, the deadlines
    /// first counted from its start move by it. A recorded return fixed them for good.
    async fn count_from_recording_end(&self, clip: &ClipRecord) -> Result<(), CatalogueError> {
        let Some(schedule) = &clip.schedule else {
            return Ok(());
        };
        if clip.returned_at.is_some() {
            return Ok(());
        }
        let duration = self
            .ports
            .catalogue
            .clip_media(clip.id)
            .await?
            .and_then(|media| media.facts.duration_seconds)
            .filter(|seconds| seconds.is_finite() && *seconds > 0.0);
        let Some(seconds) = duration else {
            return Ok(());
        };
        let end = clip.recorded_at + chrono::Duration::milliseconds((seconds * 1000.0) as i64);
        let [(_, upload_due, _), (_, upload_hard_due, _)] = self.rules.deadlines.upload_due(end);
        if upload_due > schedule.upload_due {
            self.ports
                .catalogue
                .move_upload_due(clip.id, schedule.upload_due, upload_due, upload_hard_due)
                .await?;
        }
        Ok(())
    }

    /// Fixes the clip's canonical name and deadlines, and links it to the case its upload
    /// named if the bureau has that case.
    async fn schedule(&self, clip: &ClipRecord) -> Result<(), CatalogueError> {
        let rules = &self.rules.deadlines;
        // Art. 16 counts from the officer's return to the office; where the upload did not
        // say when that was, from the recording's end, which is its start until the media
        // workers measure its duration.
        let [(_, upload_due, _), (_, upload_hard_due, upload_known)] =
            rules.upload_due(clip.returned_at.unwrap_or(clip.recorded_at));
        let (classify_due, classify_known) = rules.classification_due(clip.received_at);
        let calendar_complete = upload_known && classify_known;
        if !calendar_complete {
            self.metrics.unknown_calendar_year.inc();
            tracing::warn!(clip_id = %clip.id, "deadline counted across a year missing from the working-day calendar (weekends only); add that year");
        }
        let name = self.rules.names.render(&NameParts {
            device: clip.device.as_str(),
            officer: clip.officer.as_str(),
            bureau: clip.bureau.as_str(),
            category: clip.category.as_deref(),
            recorded_at: clip.recorded_at,
            important: clip.important,
        });
        let schedule = ClipSchedule {
            upload_due,
            upload_hard_due,
            classify_due,
            calendar_complete,
        };
        self.ports
            .catalogue
            .set_schedule(clip.id, &name, &schedule)
            .await?;
        if let Some(reference) = &clip.case_ref {
            if let Some(case) = self
                .ports
                .catalogue
                .case_by_reference(&clip.bureau, reference)
                .await?
            {
                if case.state.may_link().is_ok() {
                    self.ports
                        .catalogue
                        .link_clips(
                            case.id,
                            &[clip.id],
                            "ingest (case named at upload)",
                            self.ports.clock.now(),
                        )
                        .await?;
                }
            }
        }
        Ok(())
    }

    /// Refreshes the overdue gauges from the catalogue.
    pub async fn count_overdue(&self) -> Result<(), CatalogueError> {
        let counts = self
            .ports
            .catalogue
            .overdue_counts(self.ports.clock.now())
            .await?;
        let rectifications = self
            .ports
            .catalogue
            .overdue_rectifications(self.ports.clock.now())
            .await?;
        self.metrics.overdue.reset();
        for (bureau, kind, count) in counts {
            self.metrics
                .overdue
                .with_label_values(&[bureau.as_str(), kind.as_str()])
                .set(count);
        }
        // Orders to mend a finding still unanswered past their limit (art. 25).
        for (bureau, count) in rectifications {
            self.metrics
                .overdue
                .with_label_values(&[bureau.as_str(), "rectification"])
                .set(count);
        }
        Ok(())
    }

    async fn announce_catalogued(
        &self,
        bureau: &str,
        id: ClipId,
        at: chrono::DateTime<chrono::Utc>,
    ) -> Result<(), HandleError> {
        let event = ClipCatalogued {
            clip_id: id.to_string(),
            bureau_id: bureau.to_owned(),
            catalogued_at: at.to_rfc3339(),
        };
        self.ports
            .bus
            .publish(
                Topic::ClipCatalogued,
                &Topic::ClipCatalogued.message_id(id, 0),
                Bytes::from(event.encode_to_vec()),
            )
            .await
            .map_err(|e| HandleError::Transient(e.to_string()))
    }

    async fn reconcile_forever(self: Arc<Self>, shutdown: CancellationToken) {
        let mut ticker = tokio::time::interval(self.config.reconcile_every);
        loop {
            tokio::select! {
                _ = shutdown.cancelled() => return,
                _ = ticker.tick() => {
                    if let Err(e) = self.reconcile_once().await {
                        tracing::warn!(error = %e, "reconciler pass failed; will try again");
                    }
                    if let Err(e) = self.count_overdue().await {
                        tracing::warn!(error = %e, "counting overdue deadlines failed; will try again");
                    }
                }
            }
        }
    }

    /// Announces again the clips that have stayed `stored` longer than `stuck_after`.
    /// Returns how many were announced.
    pub async fn reconcile_once(&self) -> Result<usize, CatalogueError> {
        let stuck_after = chrono::Duration::from_std(self.config.stuck_after)
            .unwrap_or(chrono::Duration::minutes(5));
        let now = self.ports.clock.now();
        let stuck = self
            .ports
            .catalogue
            .stuck_clips(ClipState::Stored, now - stuck_after, 100)
            .await?;
        let mut announced = 0;
        for clip in stuck {
            let round = self
                .ports
                .catalogue
                .next_publish_round(clip.id, now)
                .await?;
            match publish_stored(&*self.ports.bus, &clip, round).await {
                Ok(()) => {
                    announced += 1;
                    self.metrics.republished.inc();
                    tracing::info!(clip_id = %clip.id, round, "stuck clip announced again");
                }
                Err(e) => {
                    tracing::warn!(clip_id = %clip.id, error = %e, "could not announce stuck clip")
                }
            }
        }
        Ok(announced)
    }
}
