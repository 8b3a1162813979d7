//! The loop every consuming role runs: take a delivery, handle it in its own task (a panic
//! boundary) under a time limit, then settle it. Success acks; a transient failure naks with
//! a growing delay until the last allowed delivery, when the message goes to the dead-letter
//! subject; a permanent failure goes there at once.

use std::future::Future;
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use prometheus::{HistogramOpts, HistogramVec, IntCounterVec, IntGaugeVec, Opts, Registry};
use tokio_util::sync::CancellationToken;

use super::{Bus, BusError, ConsumerSpec, Delivery, Topic};

#[derive(Debug, thiserror::Error)]
pub enum HandleError {
    /// Trying again later may work (a dependency is down, a record is not there yet).
    #[error("transient: {0}")]
    Transient(String),
    /// The message can never be handled (it does not decode, it names nothing we know).
    #[error("permanent: {0}")]
    Permanent(String),
}

/// A catalogue that is down is worth retrying; a refusal is not.
impl From<crate::catalogue::CatalogueError> for HandleError {
    fn from(e: crate::catalogue::CatalogueError) -> Self {
        if e.is_transient() {
            Self::Transient(e.to_string())
        } else {
            Self::Permanent(e.to_string())
        }
    }
}

/// One delivery as a handler sees it.
#[derive(Debug, Clone)]
pub struct Job {
    pub payload: Bytes,
    /// 1 on the first delivery.
    pub attempt: u32,
    /// No further delivery follows if this one fails: a handler that keeps state about the
    /// work (a clip's failed state) records the failure now.
    pub last_attempt: bool,
}

/// How often each consuming process samples its consumer's queue lag.
pub const PENDING_SAMPLE_EVERY: Duration = Duration::from_secs(5);

/// Job counts and durations, labelled by consumer and outcome; redeliveries, dead letters
/// and queue lag, labelled by consumer.
#[derive(Clone)]
pub struct JobMetrics {
    jobs: IntCounterVec,
    duration: HistogramVec,
    redeliveries: IntCounterVec,
    dead_letters: IntCounterVec,
    pending: IntGaugeVec,
}

impl JobMetrics {
    pub fn register(registry: &Registry) -> Result<Self, prometheus::Error> {
        let jobs = IntCounterVec::new(
            Opts::new(
                "custodian_jobs_total",
                "Bus deliveries handled, by consumer and outcome (ok, retry, dead_letter)",
            ),
            &["consumer", "outcome"],
        )?;
        let duration = HistogramVec::new(
            HistogramOpts::new(
                "custodian_job_duration_seconds",
                "Time spent handling one delivery",
            )
            .buckets(vec![0.005, 0.02, 0.1, 0.5, 2.0, 10.0, 30.0, 120.0, 600.0]),
            &["consumer"],
        )?;
        let redeliveries = IntCounterVec::new(
            Opts::new(
                "custodian_redeliveries_total",
                "Deliveries of a message that had been delivered before (attempt > 1)",
            ),
            &["consumer"],
        )?;
        let dead_letters = IntCounterVec::new(
            Opts::new(
                "custodian_dead_letters_total",
                "Messages given up and kept on the dead-letter subject",
            ),
            &["consumer"],
        )?;
        let pending = IntGaugeVec::new(
            Opts::new(
                "custodian_queue_pending_messages",
                "Messages the consumer has still to finish: not yet delivered plus delivered and not yet acknowledged, sampled by each consuming process",
            ),
            &["consumer"],
        )?;
        registry.register(Box::new(jobs.clone()))?;
        registry.register(Box::new(duration.clone()))?;
        registry.register(Box::new(redeliveries.clone()))?;
        registry.register(Box::new(dead_letters.clone()))?;
        registry.register(Box::new(pending.clone()))?;
        Ok(Self {
            jobs,
            duration,
            redeliveries,
            dead_letters,
            pending,
        })
    }

    /// Makes every series of `consumer` exist from the start (at zero), so a rate over them
    /// reads 0 rather than nothing before the first event.
    fn touch(&self, consumer: &str) {
        for outcome in ["ok", "retry", "dead_letter"] {
            self.jobs.with_label_values(&[consumer, outcome]);
        }
        self.redeliveries.with_label_values(&[consumer]);
        self.dead_letters.with_label_values(&[consumer]);
    }
}

/// Samples the consumer's pending count into the gauge until `shutdown`. A failed sample
/// keeps the last value and is logged; the gauge never pretends the queue is empty.
async fn sample_pending(
    bus: Arc<dyn Bus>,
    spec: ConsumerSpec,
    metrics: JobMetrics,
    shutdown: CancellationToken,
) {
    let mut every = tokio::time::interval(PENDING_SAMPLE_EVERY);
    every.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = shutdown.cancelled() => return,
            _ = every.tick() => {}
        }
        match bus.pending(&spec).await {
            // The series appears with the first sample, not as a zero before it.
            Ok(pending) => metrics
                .pending
                .with_label_values(&[&spec.name])
                .set(i64::try_from(pending).unwrap_or(i64::MAX)),
            Err(e) => {
                tracing::debug!(consumer = %spec.name, error = %e, "could not sample queue lag")
            }
        }
    }
}

/// How often a job in progress says so: three times per ack wait.
fn progress_every(ack_wait: Duration) -> Duration {
    (ack_wait / 3).max(Duration::from_millis(100))
}

/// Clips a media worker could not process, by role and reason: one counter per process,
/// shared by the transcoder and fingerprinter that run in it.
pub fn register_media_failures(registry: &Registry) -> Result<IntCounterVec, prometheus::Error> {
    let failures = IntCounterVec::new(
        Opts::new(
            "custodian_media_failures_total",
            "Clips a media worker could not process, by role and reason",
        ),
        &["role", "reason"],
    )?;
    registry.register(Box::new(failures.clone()))?;
    Ok(failures)
}

/// The delay before redelivery after the n-th failed attempt: 1 s, 2 s, 4 s ... capped at 60 s.
pub fn retry_delay(attempt: u32) -> Duration {
    Duration::from_secs(1u64 << attempt.saturating_sub(1).min(6)).min(Duration::from_secs(60))
}

/// Runs until `shutdown` is cancelled. The delivery in hand when it is cancelled is finished
/// and settled before this returns; nothing is taken after.
pub async fn run_consumer<H, F>(
    bus: Arc<dyn Bus>,
    spec: ConsumerSpec,
    metrics: JobMetrics,
    job_timeout: Duration,
    shutdown: CancellationToken,
    handler: H,
) where
    H: Fn(Job) -> F + Send + Sync + 'static,
    F: Future<Output = Result<(), HandleError>> + Send + 'static,
{
    metrics.touch(&spec.name);
    let sampler = shutdown.child_token();
    let sampling = tokio::spawn(sample_pending(
        bus.clone(),
        spec.clone(),
        metrics.clone(),
        sampler.clone(),
    ));
    let stop_sampling = sampler.drop_guard();
    consume(bus, spec, metrics, job_timeout, shutdown, handler).await;
    drop(stop_sampling);
    if let Err(e) = sampling.await {
        tracing::warn!(error = %e, "queue lag sampler ended abnormally");
    }
}

async fn consume<H, F>(
    bus: Arc<dyn Bus>,
    spec: ConsumerSpec,
    metrics: JobMetrics,
    job_timeout: Duration,
    shutdown: CancellationToken,
    handler: H,
) where
    H: Fn(Job) -> F + Send + Sync + 'static,
    F: Future<Output = Result<(), HandleError>> + Send + 'static,
{
    let mut subscription = None;
    loop {
        if shutdown.is_cancelled() {
            return;
        }
        let sub = match &mut subscription {
            Some(sub) => sub,
            None => {
                match tokio::select! { _ = shutdown.cancelled() => return, s = bus.subscribe(&spec) => s }
                {
                    Ok(sub) => subscription.insert(sub),
                    Err(e) => {
                        tracing::warn!(consumer = %spec.name, error = %e, "cannot subscribe, will retry");
                        tokio::select! { _ = shutdown.cancelled() => return, _ = tokio::time::sleep(Duration::from_secs(2)) => {} }
                        continue;
                    }
                }
            }
        };
        let delivery = tokio::select! {
            _ = shutdown.cancelled() => return,
            next = sub.next() => next,
        };
        match delivery {
            Ok(delivery) => {
                // Each job's log lines name the consumer, the attempt and the clip.
                let span = tracing::info_span!(
                    "job",
                    consumer = %spec.name,
                    attempt = delivery.attempt,
                    clip_id = tracing::field::Empty,
                );
                if let Some(clip) = clip_of(delivery.topic, &delivery.payload) {
                    span.record("clip_id", tracing::field::display(&clip));
                }
                let job = handle_one(&*bus, &spec, &metrics, job_timeout, &handler, delivery);
                tracing::Instrument::instrument(job, span).await
            }
            Err(BusError::Closed { .. }) => subscription = None,
            Err(e) => {
                tracing::warn!(consumer = %spec.name, error = %e, "delivery failed, resubscribing");
                subscription = None;
                tokio::select! { _ = shutdown.cancelled() => return, _ = tokio::time::sleep(Duration::from_secs(1)) => {} }
            }
        }
    }
}

/// The clip a message is about, for the job's span: every event names one.
fn clip_of(topic: Topic, payload: &[u8]) -> Option<String> {
    use custodian_proto::{v1, Message};
    match topic {
        Topic::ClipStored => v1::ClipStored::decode(payload).ok().map(|m| m.clip_id),
        Topic::ClipTranscoded => v1::ClipTranscoded::decode(payload).ok().map(|m| m.clip_id),
        Topic::ClipFingerprinted => v1::ClipFingerprinted::decode(payload)
            .ok()
            .map(|m| m.clip_id),
        Topic::ClipCatalogued => v1::ClipCatalogued::decode(payload).ok().map(|m| m.clip_id),
        Topic::CopyApproved => v1::CopyApproved::decode(payload).ok().map(|m| m.clip_id),
    }
}

async fn handle_one<H, F>(
    bus: &dyn Bus,
    spec: &ConsumerSpec,
    metrics: &JobMetrics,
    job_timeout: Duration,
    handler: &H,
    delivery: Delivery,
) where
    H: Fn(Job) -> F,
    F: Future<Output = Result<(), HandleError>> + Send + 'static,
{
    let started = Instant::now();
    if delivery.attempt > 1 {
        metrics.redeliveries.with_label_values(&[&spec.name]).inc();
    }
    let mut job = tokio::spawn(tracing::Instrument::in_current_span(tokio::time::timeout(
        job_timeout,
        handler(Job {
            payload: delivery.payload.clone(),
            attempt: delivery.attempt,
            last_attempt: delivery.attempt >= spec.max_deliver,
        }),
    )));
    // A long job (a transcode) tells the bus it is still alive well inside the ack wait, so
    // the message is not handed to another worker while this one is busy with it.
    let mut heartbeat = tokio::time::interval(progress_every(spec.ack_wait));
    heartbeat.tick().await;
    let joined = loop {
        tokio::select! {
            joined = &mut job => break joined,
            _ = heartbeat.tick() => {
                if let Err(e) = delivery.acker.progress().await {
                    tracing::warn!(consumer = %spec.name, error = %e, "could not report progress");
                }
            }
        }
    };
    let result = match joined {
        Ok(Ok(result)) => result,
        Ok(Err(_elapsed)) => Err(HandleError::Transient(format!(
            "took longer than {job_timeout:?}"
        ))),
        Err(join) => Err(HandleError::Permanent(format!("handler panicked: {join}"))),
    };
    metrics
        .duration
        .with_label_values(&[&spec.name])
        .observe(started.elapsed().as_secs_f64());
    let settled = match result {
        Ok(()) => {
            metrics.jobs.with_label_values(&[&spec.name, "ok"]).inc();
            delivery.acker.ack().await
        }
        Err(HandleError::Transient(reason)) if delivery.attempt < spec.max_deliver => {
            let delay = retry_delay(delivery.attempt);
            tracing::warn!(consumer = %spec.name, attempt = delivery.attempt, ?delay, %reason, "job failed, will retry");
            metrics.jobs.with_label_values(&[&spec.name, "retry"]).inc();
            delivery.acker.nak(delay).await
        }
        Err(error) => {
            tracing::error!(consumer = %spec.name, attempt = delivery.attempt, %error, "job given up, sent to dead letters");
            metrics
                .jobs
                .with_label_values(&[&spec.name, "dead_letter"])
                .inc();
            let letter = custodian_proto::v1::DeadLetter {
                subject: delivery.topic.suffix().to_owned(),
                payload: delivery.payload.to_vec(),
                deliveries: delivery.attempt,
                reason: error.to_string(),
            };
            let encoded = Bytes::from(custodian_proto::Message::encode_to_vec(&letter));
            match bus.dead_letter(delivery.topic, encoded).await {
                // Only once the letter is kept may the original stop being redelivered.
                Ok(()) => {
                    metrics.dead_letters.with_label_values(&[&spec.name]).inc();
                    delivery.acker.term().await
                }
                Err(e) => {
                    tracing::error!(consumer = %spec.name, error = %e, "dead letter not kept, message will be redelivered");
                    delivery.acker.nak(retry_delay(delivery.attempt)).await
                }
            }
        }
    };
    if let Err(e) = settled {
        // The bus will redeliver after its ack wait; handlers are idempotent.
        tracing::warn!(consumer = %spec.name, error = %e, "could not settle delivery");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retry_delays_grow_and_stay_capped() {
        assert_eq!(retry_delay(1), Duration::from_secs(1));
        assert_eq!(retry_delay(2), Duration::from_secs(2));
        assert!(retry_delay(30) <= Duration::from_secs(60));
        assert!(retry_delay(5) > retry_delay(4));
    }
}
