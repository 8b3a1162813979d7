//! Queues inside one process, for the standalone mode. Messages published while no consumer
//! reads their topic wait (up to a bound) for the first one, as a JetStream stream keeps them
//! for a consumer created later. A delivery dropped without being settled is redelivered, as
//! JetStream redelivers after its ack wait.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use async_trait::async_trait;
use bytes::Bytes;
use custodian_core::events::Topic;
use tokio::sync::mpsc;

use super::{Acker, Bus, BusError, ConsumerSpec, Delivery, Subscription};

const DUPLICATE_WINDOW: Duration = Duration::from_secs(120);
/// Messages kept per topic while it has no consumer; beyond this the oldest are dropped and
/// the catalogue's reconciler announces their clips again.
const BACKLOG_LIMIT: usize = 10_000;

#[derive(Clone)]
struct Queued {
    topic: Topic,
    payload: Bytes,
    attempt: u32,
}

struct Consumer {
    topic: Topic,
    sender: mpsc::UnboundedSender<Queued>,
    receiver: Arc<tokio::sync::Mutex<mpsc::UnboundedReceiver<Queued>>>,
    /// Messages given to this consumer and not yet acked or terminated (waiting, in hand, or
    /// waiting for redelivery after a nak).
    outstanding: Arc<AtomicU64>,
}

/// Hands `message` to a consumer, counting it as outstanding first so that a fast ack never
/// finds the count at zero.
fn enqueue(
    sender: &mpsc::UnboundedSender<Queued>,
    outstanding: &AtomicU64,
    message: Queued,
) -> bool {
    outstanding.fetch_add(1, Ordering::SeqCst);
    let sent = sender.send(message).is_ok();
    if !sent {
        outstanding.fetch_sub(1, Ordering::SeqCst);
    }
    sent
}

#[derive(Default)]
struct State {
    consumers: HashMap<String, Consumer>,
    recent_ids: HashMap<String, Instant>,
    backlog: HashMap<Topic, std::collections::VecDeque<Queued>>,
    dead_letters: Vec<(Topic, Bytes)>,
}

#[derive(Clone, Default)]
pub struct InProcessBus {
    state: Arc<Mutex<State>>,
}

impl InProcessBus {
    pub fn new() -> Self {
        Self::default()
    }

    /// What went to the dead-letter queue so far (standalone operators read it from the logs
    /// and metrics; tests read it here).
    pub fn dead_letters(&self) -> Vec<(Topic, Bytes)> {
        self.lock().dead_letters.clone()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        // A panic while holding this lock cannot leave the maps half-updated in a way that
        // matters (each update is one insert or retain), so a poisoned lock is still usable.
        self.state
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

#[async_trait]
impl Bus for InProcessBus {
    async fn publish(
        &self,
        topic: Topic,
        message_id: &str,
        payload: Bytes,
    ) -> Result<(), BusError> {
        let mut state = self.lock();
        let now = Instant::now();
        state
            .recent_ids
            .retain(|_, seen| now.duration_since(*seen) < DUPLICATE_WINDOW);
        if state
            .recent_ids
            .insert(message_id.to_owned(), now)
            .is_some()
        {
            return Ok(());
        }
        let message = Queued {
            topic,
            payload,
            attempt: 1,
        };
        let mut delivered = false;
        for consumer in state.consumers.values().filter(|c| c.topic == topic) {
            // A closed receiver means that consumer is shutting down.
            delivered |= enqueue(&consumer.sender, &consumer.outstanding, message.clone());
        }
        if !delivered {
            let backlog = state.backlog.entry(topic).or_default();
            if backlog.len() == BACKLOG_LIMIT {
                backlog.pop_front();
            }
            backlog.push_back(message);
        }
        Ok(())
    }

    async fn subscribe(&self, spec: &ConsumerSpec) -> Result<Box<dyn Subscription>, BusError> {
        let mut guard = self.lock();
        let state = &mut *guard;
        let consumer = state.consumers.entry(spec.name.clone()).or_insert_with(|| {
            let (sender, receiver) = mpsc::unbounded_channel();
            let outstanding = Arc::new(AtomicU64::new(0));
            for waiting in state.backlog.remove(&spec.topic).unwrap_or_default() {
                enqueue(&sender, &outstanding, waiting);
            }
            Consumer {
                topic: spec.topic,
                sender,
                receiver: Arc::new(tokio::sync::Mutex::new(receiver)),
                outstanding,
            }
        });
        if consumer.topic != spec.topic {
            return Err(BusError::Refused {
                operation: "subscribe",
                message: format!("consumer {} already reads another topic", spec.name),
            });
        }
        Ok(Box::new(InProcessSubscription {
            name: spec.name.clone(),
            sender: consumer.sender.clone(),
            receiver: consumer.receiver.clone(),
            outstanding: consumer.outstanding.clone(),
        }))
    }

    async fn dead_letter(&self, topic: Topic, letter: Bytes) -> Result<(), BusError> {
        self.lock().dead_letters.push((topic, letter));
        Ok(())
    }

    async fn pending(&self, spec: &ConsumerSpec) -> Result<u64, BusError> {
        let state = self.lock();
        Ok(match state.consumers.get(&spec.name) {
            Some(consumer) => consumer.outstanding.load(Ordering::SeqCst),
            // Not created yet: what waits for its first subscriber.
            None => state
                .backlog
                .get(&spec.topic)
                .map_or(0, |backlog| backlog.len() as u64),
        })
    }

    async fn check(&self) -> Result<(), BusError> {
        Ok(())
    }
}

struct InProcessSubscription {
    name: String,
    sender: mpsc::UnboundedSender<Queued>,
    receiver: Arc<tokio::sync::Mutex<mpsc::UnboundedReceiver<Queued>>>,
    outstanding: Arc<AtomicU64>,
}

#[async_trait]
impl Subscription for InProcessSubscription {
    async fn next(&mut self) -> Result<Delivery, BusError> {
        let queued = self
            .receiver
            .lock()
            .await
            .recv()
            .await
            .ok_or_else(|| BusError::Closed {
                consumer: self.name.clone(),
            })?;
        Ok(Delivery {
            topic: queued.topic,
            payload: queued.payload.clone(),
            attempt: queued.attempt,
            acker: Box::new(InProcessAcker {
                sender: self.sender.clone(),
                outstanding: self.outstanding.clone(),
                message: queued,
                settled: Mutex::new(false),
            }),
        })
    }
}

struct InProcessAcker {
    sender: mpsc::UnboundedSender<Queued>,
    outstanding: Arc<AtomicU64>,
    message: Queued,
    settled: Mutex<bool>,
}

impl InProcessAcker {
    fn settle(&self) -> bool {
        let mut settled = self.settled.lock().unwrap_or_else(|p| p.into_inner());
        !std::mem::replace(&mut *settled, true)
    }

    /// The message is done with: it no longer counts as pending.
    fn finish(&self) {
        self.outstanding.fetch_sub(1, Ordering::SeqCst);
    }

    /// Sends the message again after `delay`; it stays outstanding meanwhile, as a nak'd
    /// message stays ack-pending on JetStream until it is redelivered.
    fn redeliver_after(&self, delay: Duration) {
        let sender = self.sender.clone();
        let outstanding = self.outstanding.clone();
        let next = Queued {
            attempt: self.message.attempt + 1,
            ..self.message.clone()
        };
        let send = move || {
            if sender.send(next).is_err() {
                // The consumer is gone with its queue: nothing is pending any more.
                outstanding.fetch_sub(1, Ordering::SeqCst);
            }
        };
        if delay.is_zero() {
            send();
        } else if let Ok(runtime) = tokio::runtime::Handle::try_current() {
            runtime.spawn(async move {
                tokio::time::sleep(delay).await;
                send();
            });
        } else {
            self.finish();
        }
    }
}

#[async_trait]
impl Acker for InProcessAcker {
    async fn ack(&self) -> Result<(), BusError> {
        if self.settle() {
            self.finish();
        }
        Ok(())
    }

    async fn nak(&self, delay: Duration) -> Result<(), BusError> {
        if self.settle() {
            self.redeliver_after(delay);
        }
        Ok(())
    }

    async fn term(&self) -> Result<(), BusError> {
        if self.settle() {
            self.finish();
        }
        Ok(())
    }

    async fn progress(&self) -> Result<(), BusError> {
        Ok(())
    }
}

impl Drop for InProcessAcker {
    fn drop(&mut self) {
        if self.settle() {
            self.redeliver_after(Duration::ZERO);
        }
    }
}
