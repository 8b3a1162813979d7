//! NATS JetStream. One stream holds every subject under `<prefix>.v1.>` for a week, with a
//! two-minute duplicate window keyed on `Nats-Msg-Id`. Each role reads through a durable pull
//! consumer with explicit acks; JetStream's own delivery limit sits a little above the
//! application's, so the application dead-letters a message on its last allowed delivery and
//! JetStream stops a message that crashes its handler every time.

use std::time::Duration;

use async_nats::jetstream::{self, consumer::pull, message::PublishMessage, stream, AckKind};
use async_trait::async_trait;
use bytes::Bytes;
use custodian_core::events::Topic;
use futures::StreamExt;

use super::{Acker, Bus, BusError, ConsumerSpec, Delivery, Subscription};

#[derive(Debug, Clone)]
pub struct NatsSettings {
    pub url: String,
    pub stream: String,
    pub subject_prefix: String,
    /// How long published events are kept in the stream.
    pub max_age: Duration,
    /// How this process proves who it is to NATS and checks the server.
    pub security: NatsSecurity,
}

/// Credentials and TLS for the NATS connection; all optional (a loopback NATS needs none).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct NatsSecurity {
    /// A NATS credentials file (JWT and NKey seed), as `nsc` makes for a user.
    pub credentials_file: Option<std::path::PathBuf>,
    /// A CA certificate (PEM) to verify the server with, besides the system's.
    pub ca_file: Option<std::path::PathBuf>,
    /// A client certificate and key (PEM), for servers that verify clients.
    pub client_certificate: Option<(std::path::PathBuf, std::path::PathBuf)>,
    /// Refuse a connection that is not TLS.
    pub require_tls: bool,
}

#[derive(Clone)]
pub struct NatsBus {
    client: async_nats::Client,
    jetstream: jetstream::Context,
    stream: String,
    prefix: String,
}

fn unavailable(operation: &'static str) -> impl FnOnce(&dyn std::fmt::Display) -> BusError {
    move |e| BusError::Unavailable {
        operation,
        message: e.to_string(),
    }
}

impl NatsBus {
    /// Connects and makes sure the stream exists with our settings.
    pub async fn connect(settings: &NatsSettings) -> Result<Self, BusError> {
        let security = &settings.security;
        let mut options = match &security.credentials_file {
            Some(file) => async_nats::ConnectOptions::with_credentials_file(file.clone())
                .await
                .map_err(|e| BusError::Unavailable {
                    operation: "read the NATS credentials file",
                    message: format!("{}: {e}", file.display()),
                })?,
            None => async_nats::ConnectOptions::new(),
        };
        if let Some(ca) = &security.ca_file {
            options = options.add_root_certificates(ca.clone());
        }
        if let Some((cert, key)) = &security.client_certificate {
            options = options.add_client_certificate(cert.clone(), key.clone());
        }
        let client = options
            .require_tls(security.require_tls)
            .name("custodian")
            .connection_timeout(Duration::from_secs(5))
            .connect(&settings.url)
            .await
            .map_err(|e| {
                // A plaintext server answers the TLS handshake with text, which rustls reports
                // only as a corrupt message: say what was asked of the server.
                let hint = if security.require_tls {
                    " (TLS is required by --nats-require-tls or a tls:// URL: is the server speaking TLS, with a certificate --nats-ca-file verifies?)"
                } else {
                    ""
                };
                unavailable("connect")(&format!("{e}{hint}"))
            })?;
        let jetstream = jetstream::new(client.clone());
        jetstream
            .get_or_create_stream(stream::Config {
                name: settings.stream.clone(),
                subjects: vec![format!("{}.v1.>", settings.subject_prefix)],
                max_age: settings.max_age,
                duplicate_window: Duration::from_secs(120),
                storage: stream::StorageType::File,
                ..Default::default()
            })
            .await
            .map_err(|e| BusError::Refused {
                operation: "create stream",
                message: e.to_string(),
            })?;
        Ok(Self {
            client,
            jetstream,
            stream: settings.stream.clone(),
            prefix: settings.subject_prefix.clone(),
        })
    }

    async fn publish_subject(
        &self,
        subject: String,
        message_id: Option<&str>,
        payload: Bytes,
    ) -> Result<(), BusError> {
        let mut publish = PublishMessage::build().payload(payload);
        if let Some(id) = message_id {
            publish = publish.message_id(id);
        }
        let ack = self
            .jetstream
            .send_publish(subject, publish)
            .await
            .map_err(|e| unavailable("publish")(&e))?;
        ack.await.map_err(|e| unavailable("publish ack")(&e))?;
        Ok(())
    }
}

#[async_trait]
impl Bus for NatsBus {
    async fn publish(
        &self,
        topic: Topic,
        message_id: &str,
        payload: Bytes,
    ) -> Result<(), BusError> {
        self.publish_subject(topic.subject(&self.prefix), Some(message_id), payload)
            .await
    }

    async fn subscribe(&self, spec: &ConsumerSpec) -> Result<Box<dyn Subscription>, BusError> {
        let stream = self
            .jetstream
            .get_stream(&self.stream)
            .await
            .map_err(|e| unavailable("get stream")(&e))?;
        let consumer = stream
            .get_or_create_consumer(
                &spec.name,
                pull::Config {
                    durable_name: Some(spec.name.clone()),
                    filter_subject: spec.topic.subject(&self.prefix),
                    ack_policy: jetstream::consumer::AckPolicy::Explicit,
                    ack_wait: spec.ack_wait,
                    max_deliver: i64::from(spec.max_deliver) + 2,
                    ..Default::default()
                },
            )
            .await
            .map_err(|e| BusError::Refused {
                operation: "create consumer",
                message: e.to_string(),
            })?;
        // One message per pull request: a worker asks for the next job only when it is free.
        // The default (200 per request) buffered deliveries in a busy worker while their ack
        // wait ran out, so they were handed to other workers too and spent their deliveries.
        let messages = consumer
            .stream()
            .max_messages_per_batch(1)
            .heartbeat(Duration::from_secs(15))
            .messages()
            .await
            .map_err(|e| unavailable("pull")(&e))?;
        Ok(Box::new(NatsSubscription {
            name: spec.name.clone(),
            topic: spec.topic,
            messages,
        }))
    }

    async fn dead_letter(&self, topic: Topic, letter: Bytes) -> Result<(), BusError> {
        self.publish_subject(topic.dead_letter_subject(&self.prefix), None, letter)
            .await
    }

    async fn pending(&self, spec: &ConsumerSpec) -> Result<u64, BusError> {
        let stream = self
            .jetstream
            .get_stream_no_info(&self.stream)
            .await
            .map_err(|e| unavailable("get stream")(&e))?;
        let info = stream
            .consumer_info(&spec.name)
            .await
            .map_err(|e| unavailable("consumer info")(&e))?;
        let ack_pending = u64::try_from(info.num_ack_pending).unwrap_or(u64::MAX);
        Ok(info.num_pending.saturating_add(ack_pending))
    }

    async fn check(&self) -> Result<(), BusError> {
        match self.client.connection_state() {
            async_nats::connection::State::Connected => Ok(()),
            state => Err(BusError::Unavailable {
                operation: "check",
                message: format!("connection is {state:?}"),
            }),
        }
    }
}

struct NatsSubscription {
    name: String,
    topic: Topic,
    messages: pull::Stream,
}

#[async_trait]
impl Subscription for NatsSubscription {
    async fn next(&mut self) -> Result<Delivery, BusError> {
        loop {
            let message = match self.messages.next().await {
                None => {
                    return Err(BusError::Closed {
                        consumer: self.name.clone(),
                    })
                }
                Some(Err(e)) => {
                    // Heartbeat misses and reconnects surface here; the stream carries on.
                    tracing::warn!(consumer = %self.name, error = %e, "pull consumer interrupted");
                    return Err(unavailable("pull")(&e));
                }
                Some(Ok(message)) => message,
            };
            let attempt = match message.info() {
                Ok(info) => u32::try_from(info.delivered).unwrap_or(u32::MAX),
                Err(e) => {
                    tracing::warn!(consumer = %self.name, error = %e, "message without JetStream info, skipped");
                    continue;
                }
            };
            let payload = message.payload.clone();
            return Ok(Delivery {
                topic: self.topic,
                payload,
                attempt,
                acker: Box::new(NatsAcker { message }),
            });
        }
    }
}

struct NatsAcker {
    message: jetstream::Message,
}

impl NatsAcker {
    async fn send(&self, kind: AckKind, operation: &'static str) -> Result<(), BusError> {
        self.message
            .ack_with(kind)
            .await
            .map_err(|e| unavailable(operation)(&e))
    }
}

#[async_trait]
impl Acker for NatsAcker {
    async fn ack(&self) -> Result<(), BusError> {
        self.send(AckKind::Ack, "ack").await
    }

    async fn nak(&self, delay: Duration) -> Result<(), BusError> {
        self.send(AckKind::Nak(Some(delay)), "nak").await
    }

    async fn term(&self) -> Result<(), BusError> {
        self.send(AckKind::Term, "term").await
    }

    async fn progress(&self) -> Result<(), BusError> {
        self.send(AckKind::Progress, "progress").await
    }
}
