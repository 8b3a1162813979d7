//! The bus contract, run against both adapters: in-process queues and a real NATS JetStream
//! server, each test on a stream and subject prefix of its own.

use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use custodian_core::events::Topic;
use custodian_platform::bus::{
    run_consumer, Bus, ConsumerSpec, HandleError, InProcessBus, Job, JobMetrics, NatsBus,
};
use custodian_platform::testing::fresh_nats;
use tokio_util::sync::CancellationToken;

const WAIT: Duration = Duration::from_secs(10);

fn spec(name: &str, ack_wait: Duration) -> ConsumerSpec {
    ConsumerSpec {
        name: name.into(),
        topic: Topic::ClipStored,
        ack_wait,
        max_deliver: 3,
    }
}

async fn next(
    sub: &mut Box<dyn custodian_platform::bus::Subscription>,
) -> custodian_platform::bus::Delivery {
    tokio::time::timeout(WAIT, sub.next())
        .await
        .expect("a delivery within the wait")
        .expect("delivery")
}

async fn nothing_within(sub: &mut Box<dyn custodian_platform::bus::Subscription>, wait: Duration) {
    if let Ok(Ok(delivery)) = tokio::time::timeout(wait, sub.next()).await {
        panic!("unexpected delivery {:?}", delivery.payload);
    }
}

async fn contract(bus: Arc<dyn Bus>) {
    let mut sub = bus
        .subscribe(&spec("catalog", Duration::from_secs(1)))
        .await
        .unwrap();

    // Delivered once, with its payload, and a duplicate id is dropped.
    bus.publish(
        Topic::ClipStored,
        "clip-1.stored",
        Bytes::from_static(b"one"),
    )
    .await
    .unwrap();
    bus.publish(
        Topic::ClipStored,
        "clip-1.stored",
        Bytes::from_static(b"one again"),
    )
    .await
    .unwrap();
    bus.publish(
        Topic::ClipCatalogued,
        "clip-1.catalogued",
        Bytes::from_static(b"other topic"),
    )
    .await
    .unwrap();
    let first = next(&mut sub).await;
    assert_eq!(first.payload, Bytes::from_static(b"one"));
    assert_eq!(first.attempt, 1);
    first.acker.ack().await.unwrap();

    // A nak brings the message back as the next attempt.
    bus.publish(
        Topic::ClipStored,
        "clip-2.stored",
        Bytes::from_static(b"two"),
    )
    .await
    .unwrap();
    let second = next(&mut sub).await;
    assert_eq!(second.payload, Bytes::from_static(b"two"));
    second.acker.nak(Duration::from_millis(100)).await.unwrap();
    let again = next(&mut sub).await;
    assert_eq!(
        (again.payload.clone(), again.attempt),
        (Bytes::from_static(b"two"), 2)
    );

    // A delivery never settled comes back (JetStream after its ack wait).
    drop(again);
    let third = next(&mut sub).await;
    assert_eq!(
        (third.payload.clone(), third.attempt),
        (Bytes::from_static(b"two"), 3)
    );
    third.acker.term().await.unwrap();

    // Nothing else: the duplicate and the other topic's message never arrive here.
    nothing_within(&mut sub, Duration::from_millis(1500)).await;
}

#[tokio::test]
async fn in_process_bus_keeps_the_contract() {
    contract(Arc::new(InProcessBus::new())).await;
}

#[tokio::test]
async fn nats_bus_keeps_the_contract() {
    let bus = NatsBus::connect(&fresh_nats())
        .await
        .expect("NATS JetStream on 127.0.0.1:4222");
    contract(Arc::new(bus)).await;
}

#[tokio::test]
async fn in_process_bus_keeps_messages_for_a_late_consumer() {
    let bus = InProcessBus::new();
    bus.publish(Topic::ClipStored, "early", Bytes::from_static(b"early"))
        .await
        .unwrap();
    let mut sub = bus
        .subscribe(&spec("late", Duration::from_secs(1)))
        .await
        .unwrap();
    assert_eq!(next(&mut sub).await.payload, Bytes::from_static(b"early"));
}

/// The value of a counter or gauge with one `consumer` label, as the registry exports it.
fn consumer_metric(registry: &prometheus::Registry, name: &str, consumer: &str) -> Option<f64> {
    let text = prometheus::TextEncoder::new()
        .encode_to_string(&registry.gather())
        .unwrap();
    let series = format!("{name}{{consumer=\"{consumer}\"}} ");
    text.lines()
        .find_map(|line| line.strip_prefix(&series))
        .map(|value| value.parse().unwrap())
}

/// Pending = not yet delivered + delivered and not yet acknowledged, on both adapters.
async fn pending_counts_what_is_not_finished(bus: Arc<dyn Bus>) {
    let lag = spec("lag", Duration::from_secs(30));
    let mut sub = bus.subscribe(&lag).await.unwrap();
    let pending = |want: u64, what: &'static str| {
        let bus = bus.clone();
        let lag = lag.clone();
        async move {
            custodian_platform::testing::eventually(WAIT, what, || {
                let bus = bus.clone();
                let lag = lag.clone();
                async move { (bus.pending(&lag).await.unwrap() == want).then_some(()) }
            })
            .await
        }
    };
    pending(0, "nothing pending at first").await;
    for i in 0..3 {
        bus.publish(
            Topic::ClipStored,
            &format!("lag-{i}"),
            Bytes::from(format!("m{i}")),
        )
        .await
        .unwrap();
    }
    // Another topic's messages are not this consumer's lag.
    bus.publish(Topic::ClipCatalogued, "other", Bytes::from_static(b"x"))
        .await
        .unwrap();
    pending(3, "three published").await;
    let first = next(&mut sub).await;
    // In hand but not acknowledged: still pending.
    pending(3, "one delivered, unacknowledged").await;
    first.acker.ack().await.unwrap();
    pending(2, "one acknowledged").await;
    let second = next(&mut sub).await;
    second.acker.nak(Duration::from_millis(200)).await.unwrap();
    // Waiting for redelivery is still work to do.
    pending(2, "one nak'd").await;
    for _ in 0..2 {
        let delivery = next(&mut sub).await;
        delivery.acker.term().await.unwrap();
    }
    pending(0, "all settled").await;
}

#[tokio::test]
async fn in_process_bus_counts_pending() {
    let bus = Arc::new(InProcessBus::new());
    // Before its consumer exists, what waits for it is its lag.
    bus.publish(Topic::ClipStored, "early", Bytes::from_static(b"early"))
        .await
        .unwrap();
    assert_eq!(
        bus.pending(&spec("nobody-yet", Duration::from_secs(1)))
            .await
            .unwrap(),
        1
    );
    pending_counts_what_is_not_finished(Arc::new(InProcessBus::new())).await;
}

#[tokio::test]
async fn nats_bus_counts_pending() {
    let bus = NatsBus::connect(&fresh_nats())
        .await
        .expect("NATS JetStream on 127.0.0.1:4222");
    pending_counts_what_is_not_finished(Arc::new(bus)).await;
}

async fn poison_goes_to_dead_letters(bus: Arc<dyn Bus>) -> u32 {
    let attempts = Arc::new(AtomicU32::new(0));
    let shutdown = CancellationToken::new();
    let counter = attempts.clone();
    let handler = move |job: Job| {
        let counter = counter.clone();
        async move {
            let seen = counter.fetch_add(1, Ordering::SeqCst) + 1;
            // The handler is told which delivery is the last, and only that one.
            assert_eq!(job.attempt, seen, "attempts are numbered from 1");
            assert_eq!(job.last_attempt, seen == 3, "attempt {seen}");
            Err::<(), _>(HandleError::Transient("always fails".into()))
        }
    };
    let registry = prometheus::Registry::new();
    let metrics = JobMetrics::register(&registry).unwrap();
    let worker = tokio::spawn(run_consumer(
        bus.clone(),
        spec("poison", Duration::from_secs(5)),
        metrics,
        Duration::from_secs(5),
        shutdown.clone(),
        handler,
    ));
    bus.publish(Topic::ClipStored, "poison-1", Bytes::from_static(b"poison"))
        .await
        .unwrap();
    // max_deliver is 3; retry delays are 1 s and 2 s.
    custodian_platform::testing::eventually(WAIT, "three attempts", || {
        let attempts = attempts.clone();
        async move { (attempts.load(Ordering::SeqCst) >= 3).then_some(()) }
    })
    .await;
    // The two deliveries after the first are redeliveries; the last one was dead-lettered.
    custodian_platform::testing::eventually(WAIT, "redeliveries and dead letter counted", || {
        let counted = (
            consumer_metric(&registry, "custodian_redeliveries_total", "poison"),
            consumer_metric(&registry, "custodian_dead_letters_total", "poison"),
        );
        async move { (counted == (Some(2.0), Some(1.0))).then_some(()) }
    })
    .await;
    // The lag gauge appears with the first sample that succeeds (on NATS, once the consumer
    // exists); by then the poison message is settled, so nothing is pending.
    custodian_platform::testing::eventually(WAIT, "queue lag sampled at 0", || {
        let lag = consumer_metric(&registry, "custodian_queue_pending_messages", "poison");
        async move { (lag == Some(0.0)).then_some(()) }
    })
    .await;
    shutdown.cancel();
    worker.await.unwrap();
    attempts.load(Ordering::SeqCst)
}

#[tokio::test]
async fn in_process_poison_message_is_dead_lettered_after_max_deliveries() {
    let bus = Arc::new(InProcessBus::new());
    let attempts = poison_goes_to_dead_letters(bus.clone()).await;
    assert_eq!(attempts, 3);
    let letters = custodian_platform::testing::eventually(WAIT, "dead letter", || {
        let bus = bus.clone();
        async move { Some(bus.dead_letters()).filter(|l| !l.is_empty()) }
    })
    .await;
    let letter: custodian_proto::v1::DeadLetter =
        custodian_proto::Message::decode(letters[0].1.clone()).unwrap();
    assert_eq!(
        (letter.payload.as_slice(), letter.deliveries),
        (&b"poison"[..], 3)
    );
    assert!(letter.reason.contains("always fails"), "{}", letter.reason);
}

#[tokio::test]
async fn nats_poison_message_is_dead_lettered_after_max_deliveries() {
    let settings = fresh_nats();
    let bus = Arc::new(NatsBus::connect(&settings).await.unwrap());
    let client = async_nats::connect(&settings.url).await.unwrap();
    let dead_subject = Topic::ClipStored.dead_letter_subject(&settings.subject_prefix);
    let mut dead = client.subscribe(dead_subject).await.unwrap();
    client.flush().await.unwrap();
    let attempts = poison_goes_to_dead_letters(bus).await;
    assert_eq!(attempts, 3);
    let message = tokio::time::timeout(WAIT, futures::StreamExt::next(&mut dead))
        .await
        .expect("dead letter published")
        .unwrap();
    let letter: custodian_proto::v1::DeadLetter =
        custodian_proto::Message::decode(message.payload).unwrap();
    assert_eq!(
        (letter.payload.as_slice(), letter.deliveries),
        (&b"poison"[..], 3)
    );
}

/// Log lines written while a job runs name the consumer, the attempt and the clip, so one
/// clip's processing can be followed through the log.
#[tokio::test]
async fn a_jobs_log_lines_name_its_clip() {
    #[derive(Clone, Default)]
    struct Captured(Arc<std::sync::Mutex<Vec<u8>>>);
    impl std::io::Write for Captured {
        fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(bytes);
            Ok(bytes.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }
    let captured = Captured::default();
    let writer = captured.clone();
    let subscriber = tracing_subscriber::fmt()
        .with_writer(move || writer.clone())
        .with_ansi(false)
        .finish();
    // A current-thread runtime: the spawned job runs on this thread, under this subscriber.
    let _guard = tracing::subscriber::set_default(subscriber);

    let bus = Arc::new(InProcessBus::new());
    let shutdown = CancellationToken::new();
    let handled = Arc::new(AtomicU32::new(0));
    let counter = handled.clone();
    let handler = move |_job: Job| {
        let counter = counter.clone();
        async move {
            tracing::warn!("transcoding");
            counter.fetch_add(1, Ordering::SeqCst);
            Ok::<(), HandleError>(())
        }
    };
    let registry = prometheus::Registry::new();
    let worker = tokio::spawn(run_consumer(
        bus.clone(),
        spec("spans", Duration::from_secs(5)),
        JobMetrics::register(&registry).unwrap(),
        Duration::from_secs(5),
        shutdown.clone(),
        handler,
    ));
    let clip = "0190f5a2-7b3c-7000-8000-00000000abcd";
    let event = custodian_proto::v1::ClipStored {
        clip_id: clip.into(),
        ..Default::default()
    };
    bus.publish(
        Topic::ClipStored,
        "spans-1",
        Bytes::from(custodian_proto::Message::encode_to_vec(&event)),
    )
    .await
    .unwrap();
    custodian_platform::testing::eventually(WAIT, "the job ran", || {
        let handled = handled.clone();
        async move { (handled.load(Ordering::SeqCst) == 1).then_some(()) }
    })
    .await;
    shutdown.cancel();
    worker.await.unwrap();
    let log = String::from_utf8(captured.0.lock().unwrap().clone()).unwrap();
    let line = log
        .lines()
        .find(|l| l.contains("transcoding"))
        .unwrap_or_else(|| panic!("no log line of the job: {log}"));
    for field in ["consumer=spans", "attempt=1", &format!("clip_id={clip}")] {
        assert!(line.contains(field), "{field} missing from {line:?}");
    }
}
