//! The bus port: how roles hand work to each other. Two adapters: in-process queues
//! (standalone) and NATS JetStream (distributed). Both give at-least-once delivery with
//! explicit acknowledgement, duplicate suppression by message id, redelivery after a nak, and
//! a dead-letter subject for what could not be handled within its allowed deliveries.
//! Handlers are idempotent, and the catalogue's reconciler re-publishes work for clips that
//! are stuck, so a message lost anywhere only delays work.

mod memory;
mod nats;
mod worker;

use std::time::Duration;

use async_trait::async_trait;
use bytes::Bytes;
use custodian_core::events::Topic;

pub use memory::InProcessBus;
pub use nats::{NatsBus, NatsSecurity, NatsSettings};
pub use worker::{register_media_failures, run_consumer, HandleError, Job, JobMetrics};

#[derive(Debug, thiserror::Error)]
pub enum BusError {
    #[error("bus unavailable during {operation}: {message}")]
    Unavailable {
        operation: &'static str,
        message: String,
    },
    #[error("bus refused {operation}: {message}")]
    Refused {
        operation: &'static str,
        message: String,
    },
    #[error("subscription {consumer} closed")]
    Closed { consumer: String },
}

/// A durable consumer: every role that consumes a topic has one name, shared by all its
/// replicas, so each message is handled by one replica.
#[derive(Debug, Clone)]
pub struct ConsumerSpec {
    pub name: String,
    pub topic: Topic,
    /// How long a delivery may stay unacknowledged before it is given to someone else.
    pub ack_wait: Duration,
    /// Deliveries after which a message that still fails goes to the dead-letter subject.
    pub max_deliver: u32,
}

#[async_trait]
pub trait Bus: Send + Sync {
    /// Publishes an event; a second publish with the same `message_id` within the duplicate
    /// window is dropped by the bus.
    async fn publish(&self, topic: Topic, message_id: &str, payload: Bytes)
        -> Result<(), BusError>;
    async fn subscribe(&self, spec: &ConsumerSpec) -> Result<Box<dyn Subscription>, BusError>;
    /// Keeps a message that could not be handled where operators can see and replay it.
    async fn dead_letter(&self, topic: Topic, letter: Bytes) -> Result<(), BusError>;
    /// Messages this consumer still has to finish: not yet delivered plus delivered and not
    /// yet acknowledged (JetStream's `num_pending + num_ack_pending`). The queue lag
    /// operators watch and autoscalers scale on.
    async fn pending(&self, spec: &ConsumerSpec) -> Result<u64, BusError>;
    async fn check(&self) -> Result<(), BusError>;
}

#[async_trait]
pub trait Subscription: Send {
    /// Waits for the next delivery.
    async fn next(&mut self) -> Result<Delivery, BusError>;
}

/// How a handler settles a delivery with the bus.
#[async_trait]
pub trait Acker: Send + Sync {
    async fn ack(&self) -> Result<(), BusError>;
    async fn nak(&self, delay: Duration) -> Result<(), BusError>;
    /// Never deliver this message again.
    async fn term(&self) -> Result<(), BusError>;
    /// The handler is still working: reset the ack-wait clock.
    async fn progress(&self) -> Result<(), BusError>;
}

pub struct Delivery {
    pub topic: Topic,
    pub payload: Bytes,
    /// 1 on the first delivery.
    pub attempt: u32,
    pub acker: Box<dyn Acker>,
}
