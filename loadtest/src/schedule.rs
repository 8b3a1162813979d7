//! The open-model arrival clock. Arrivals are due at `start + n / rate` whatever happened to
//! earlier ones: a closed loop (next upload when the last one finishes) would slow down exactly
//! when the server does and hide the queueing it is meant to expose (coordinated omission).

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::Semaphore;
use tokio::task::JoinSet;
use tokio::time::Instant;

/// When the `n`-th arrival (from 0) is due, counted from the start of the run. Computed from
/// `n` rather than by adding intervals so that rounding never accumulates into drift.
pub fn arrival_offset(n: u64, rate: f64) -> Duration {
    Duration::from_secs_f64(n as f64 / rate)
}

/// How many arrivals fall within `duration` at `rate` per second (those due before its end).
pub fn arrivals_within(duration: Duration, rate: f64) -> u64 {
    let exact = duration.as_secs_f64() * rate;
    // An arrival due exactly at the end belongs to the next run, not this one.
    let whole = exact.ceil() as u64;
    whole.max(if exact > 0.0 { 1 } else { 0 })
}

/// What the arrival clock did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize)]
pub struct OpenLoopCounts {
    /// Arrivals due within the run.
    pub scheduled: u64,
    /// Arrivals that found a free slot and were started at their due time.
    pub started: u64,
    /// Arrivals that found every slot taken: counted, not queued, so no later arrival is
    /// pushed back by them.
    pub dropped: u64,
}

/// Runs `work(n, due)` for each arrival due within `duration` at `rate` per second, with at
/// most `max_in_flight` running at once, and returns when the last started one has finished.
/// `on_arrival` sees every arrival's outcome as it happens (for the progress display).
pub async fn run_open_loop<W, Fut, A>(
    rate: f64,
    duration: Duration,
    max_in_flight: usize,
    work: W,
    mut on_arrival: A,
) -> OpenLoopCounts
where
    W: Fn(u64, Instant) -> Fut,
    Fut: Future<Output = ()> + Send + 'static,
    A: FnMut(bool),
{
    let slots = Arc::new(Semaphore::new(max_in_flight));
    let mut running = JoinSet::new();
    let mut counts = OpenLoopCounts::default();
    let start = Instant::now();
    let total = arrivals_within(duration, rate);
    for n in 0..total {
        let due = start + arrival_offset(n, rate);
        // sleep_until on the absolute due time: if this loop was held up, overdue arrivals
        // fire at once instead of shifting the rest of the schedule.
        tokio::time::sleep_until(due).await;
        counts.scheduled += 1;
        // Reap finished uploads so the set does not grow with the whole run.
        while running.try_join_next().is_some() {}
        match Arc::clone(&slots).try_acquire_owned() {
            Ok(permit) => {
                counts.started += 1;
                on_arrival(true);
                let job = work(n, due);
                running.spawn(async move {
                    job.await;
                    drop(permit);
                });
            }
            Err(_) => {
                counts.dropped += 1;
                on_arrival(false);
            }
        }
    }
    while running.join_next().await.is_some() {}
    counts
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Mutex;

    fn ms(d: Duration) -> u128 {
        d.as_millis()
    }

    #[test]
    fn arrival_times_are_exact_multiples_of_the_interval() {
        assert_eq!(arrival_offset(0, 4.0), Duration::ZERO);
        assert_eq!(arrival_offset(3, 4.0), Duration::from_millis(750));
        // A million arrivals in, still on the clock (no accumulated rounding).
        assert_eq!(arrival_offset(1_000_000, 3.0).as_secs(), 333_333);
        assert_eq!(arrivals_within(Duration::from_secs(60), 1.0), 60);
        assert_eq!(arrivals_within(Duration::from_secs(2), 2.5), 5);
        assert_eq!(arrivals_within(Duration::from_millis(500), 1.0), 1);
        assert_eq!(arrivals_within(Duration::ZERO, 1.0), 0);
    }

    #[tokio::test(start_paused = true)]
    async fn arrivals_come_at_exactly_the_rate_however_long_work_takes() {
        let start = Instant::now();
        let seen = Arc::new(Mutex::new(Vec::new()));
        let counts = run_open_loop(
            10.0,
            Duration::from_secs(2),
            100,
            |n, due| {
                let seen = Arc::clone(&seen);
                async move {
                    seen.lock()
                        .unwrap()
                        .push((n, ms(Instant::now() - start), ms(due - start)));
                    // Longer than the interval: a closed loop would fall behind.
                    tokio::time::sleep(Duration::from_millis(730)).await;
                }
            },
            |_| {},
        )
        .await;
        assert_eq!(
            counts,
            OpenLoopCounts {
                scheduled: 20,
                started: 20,
                dropped: 0
            }
        );
        let seen = seen.lock().unwrap();
        for (n, began, due) in seen.iter() {
            assert_eq!(*due, u128::from(*n) * 100);
            assert_eq!(began, due, "arrival {n} started late");
        }
        // The loop waited for the last upload: 1.9 s + 0.73 s.
        assert_eq!(ms(Instant::now() - start), 2630);
    }

    #[tokio::test(start_paused = true)]
    async fn arrivals_that_find_every_slot_taken_are_dropped_not_delayed() {
        let start = Instant::now();
        let began = Arc::new(Mutex::new(Vec::new()));
        let mut outcomes = Vec::new();
        let counts = run_open_loop(
            10.0,
            Duration::from_secs(2),
            3,
            |_, _| {
                let began = Arc::clone(&began);
                async move {
                    began.lock().unwrap().push(ms(Instant::now() - start));
                    tokio::time::sleep(Duration::from_millis(950)).await;
                }
            },
            |ok| outcomes.push(ok),
        )
        .await;
        // Three slots busy for 0.95 s each: 0, 0.1, 0.2 start; 0.3-0.9 find them full; the
        // slots free at 0.95, 1.05, 1.15, so 1.0, 1.1, 1.2 start and 1.3-1.9 are dropped.
        assert_eq!(
            counts,
            OpenLoopCounts {
                scheduled: 20,
                started: 6,
                dropped: 14
            }
        );
        assert_eq!(*began.lock().unwrap(), vec![0, 100, 200, 1000, 1100, 1200]);
        assert_eq!(outcomes.len(), 20);
        assert_eq!(outcomes.iter().filter(|ok| !**ok).count(), 14);
    }
}
