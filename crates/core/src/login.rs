//! Limits on guessing passwords. Failed logins are counted per key (an account, and the
//! client address it came from); after a few, each further attempt must wait twice as long as
//! the last, and after more within a window the key is locked for a while. An attempt is
//! counted as failed *before* its password is checked, and the count taken back if it was
//! right, so many attempts sent at once cannot all slip in before the first failure counts.
//!
//! Unknown accounts are counted exactly like real ones: what a login answers never says
//! whether its user exists.

use chrono::{DateTime, Duration, Utc};

/// When a key must wait, and when it is locked.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ThrottlePolicy {
    /// Failures answered without waiting.
    pub free_failures: u32,
    /// The wait after the first failure beyond the free ones; it doubles with each further one.
    pub backoff: Duration,
    /// Failures within `window` that lock the key for `lockout`.
    pub lockout_failures: u32,
    /// Failures are counted from the first one for this long, then counting starts over.
    pub window: Duration,
    pub lockout: Duration,
}

/// What is known of one key's recent failures.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Throttle {
    /// Failures since `window_started_at` (attempts being checked count as failures).
    pub failures: u32,
    pub window_started_at: Option<DateTime<Utc>>,
    /// No attempt is tried before this.
    pub blocked_until: Option<DateTime<Utc>>,
    /// Whether the block is a lockout rather than a backoff.
    pub locked: bool,
    /// Attempts refused while blocked and not yet reported in an audit trail, since when.
    pub refused: u32,
    pub refused_since: Option<DateTime<Utc>>,
    /// The bureau whose trail reports this key's blocks: the one the failure that started
    /// the current block named.
    pub audit_bureau: Option<String>,
}

/// A block a failure started.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Block {
    pub until: DateTime<Utc>,
    pub locked: bool,
    pub failures: u32,
}

/// Refused attempts to report, taken out of a key's state.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refusals {
    pub count: u32,
    pub since: DateTime<Utc>,
    pub bureau: Option<String>,
}

/// What admitting an attempt did to a key's state.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Reservation {
    /// The block the attempt starts if it turns out to have failed.
    pub block: Option<Block>,
    /// Refusals of an earlier block, not reported yet.
    pub refusals: Option<Refusals>,
}

impl ThrottlePolicy {
    /// Until when `throttle` refuses attempts, if it does at `now`.
    pub fn blocked_until(&self, throttle: &Throttle, now: DateTime<Utc>) -> Option<DateTime<Utc>> {
        throttle.blocked_until.filter(|until| *until > now)
    }

    /// Counts an attempt refused while blocked (to be reported together, not one by one).
    pub fn refuse(&self, throttle: &mut Throttle, now: DateTime<Utc>) {
        if throttle.refused == 0 {
            throttle.refused_since = Some(now);
        }
        throttle.refused = throttle.refused.saturating_add(1);
    }

    /// Counts an attempt, not blocked, as failed until it proves right (see [`Self::release`]).
    /// `bureau` is the bureau it names (if it names one at all), where a block it starts is
    /// reported.
    pub fn reserve(
        &self,
        throttle: &mut Throttle,
        now: DateTime<Utc>,
        bureau: Option<&str>,
    ) -> Reservation {
        let refusals = self.take_refusals(throttle);
        let window_over = throttle
            .window_started_at
            .is_none_or(|start| now >= start + self.window);
        if window_over {
            throttle.failures = 0;
            throttle.window_started_at = Some(now);
        }
        throttle.failures = throttle.failures.saturating_add(1);
        throttle.blocked_until = None;
        throttle.locked = false;
        let failures = throttle.failures;
        let block = if failures >= self.lockout_failures {
            Some(Block {
                until: now + self.lockout,
                locked: true,
                failures,
            })
        } else if failures >= self.free_failures {
            Some(Block {
                until: now + self.backoff_after(failures),
                locked: false,
                failures,
            })
        } else {
            None
        };
        if let Some(block) = &block {
            throttle.blocked_until = Some(block.until);
            throttle.locked = block.locked;
            throttle.audit_bureau = bureau.map(str::to_owned);
        }
        Reservation { block, refusals }
    }

    /// Takes back the failure an attempt that proved right was counted as, and the block it
    /// started (an attempt is admitted only when no block holds, so any block is its own).
    pub fn release(&self, throttle: &mut Throttle) {
        throttle.failures = throttle.failures.saturating_sub(1);
        throttle.blocked_until = None;
        throttle.locked = false;
    }

    /// The refusals not yet reported, taken out of the state.
    pub fn take_refusals(&self, throttle: &mut Throttle) -> Option<Refusals> {
        let since = throttle.refused_since.take()?;
        let count = std::mem::take(&mut throttle.refused);
        (count > 0).then(|| Refusals {
            count,
            since,
            bureau: throttle.audit_bureau.clone(),
        })
    }

    /// The wait before the attempt after the `failures`-th: `backoff`, doubled for each
    /// failure past the free ones, never longer than a lockout.
    fn backoff_after(&self, failures: u32) -> Duration {
        let doublings = failures.saturating_sub(self.free_failures).min(30);
        self.backoff
            .checked_mul(1 << doublings)
            .unwrap_or(self.lockout)
            .min(self.lockout)
    }

    /// Whether a key's state is worth keeping at `now`: while its window or its block lasts,
    /// or it holds refusals not yet reported.
    pub fn worth_keeping(&self, throttle: &Throttle, now: DateTime<Utc>) -> bool {
        let window_open = throttle
            .window_started_at
            .is_some_and(|start| now < start + self.window);
        window_open || self.blocked_until(throttle, now).is_some() || throttle.refused > 0
    }

    /// How long a key's record matters at most: its window or a lockout, whichever is longer.
    pub fn memory(&self) -> Duration {
        self.window.max(self.lockout)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn policy() -> ThrottlePolicy {
        ThrottlePolicy {
            free_failures: 5,
            backoff: Duration::seconds(1),
            lockout_failures: 10,
            window: Duration::minutes(15),
            lockout: Duration::minutes(15),
        }
    }

    fn t0() -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 3, 2, 1, 0, 0).unwrap()
    }

    /// Fails attempts as fast as the policy lets them through, returning the waits imposed.
    fn fail_until_locked(policy: &ThrottlePolicy, throttle: &mut Throttle) -> Vec<i64> {
        let mut now = t0();
        let mut waits = Vec::new();
        loop {
            if let Some(until) = policy.blocked_until(throttle, now) {
                waits.push((until - now).num_seconds());
                if throttle.locked {
                    return waits;
                }
                now = until;
            }
            policy.reserve(throttle, now, Some("b1"));
        }
    }

    #[test]
    fn five_free_failures_then_doubling_waits_then_a_lockout() {
        let mut throttle = Throttle::default();
        let waits = fail_until_locked(&policy(), &mut throttle);
        assert_eq!(waits, vec![1, 2, 4, 8, 16, 900]);
        assert_eq!(throttle.failures, 10);
        assert_eq!(throttle.audit_bureau.as_deref(), Some("b1"));
    }

    #[test]
    fn a_right_password_takes_its_failure_and_block_back() {
        let policy = policy();
        let mut throttle = Throttle::default();
        for _ in 0..4 {
            assert_eq!(policy.reserve(&mut throttle, t0(), Some("b1")).block, None);
        }
        let fifth = policy.reserve(&mut throttle, t0(), Some("b1"));
        assert!(fifth.block.is_some(), "the fifth failure starts a wait");
        policy.release(&mut throttle);
        assert_eq!(throttle.failures, 4);
        assert_eq!(policy.blocked_until(&throttle, t0()), None);
    }

    #[test]
    fn attempts_sent_together_cannot_all_slip_in() {
        // Each admitted attempt is counted before any is checked: the sixth finds a block.
        let policy = policy();
        let mut throttle = Throttle::default();
        let admitted = (0..50)
            .filter(|_| {
                if policy.blocked_until(&throttle, t0()).is_some() {
                    policy.refuse(&mut throttle, t0());
                    false
                } else {
                    policy.reserve(&mut throttle, t0(), Some("b1"));
                    true
                }
            })
            .count();
        assert_eq!(admitted, 5);
        assert_eq!(throttle.refused, 45);
    }

    #[test]
    fn refusals_are_reported_once_together() {
        let policy = policy();
        let mut throttle = Throttle::default();
        for _ in 0..5 {
            policy.reserve(&mut throttle, t0(), Some("b1"));
        }
        for _ in 0..3 {
            policy.refuse(&mut throttle, t0() + Duration::milliseconds(10));
        }
        let after = t0() + Duration::seconds(2);
        let next = policy.reserve(&mut throttle, after, Some("b1"));
        assert_eq!(
            next.refusals,
            Some(Refusals {
                count: 3,
                since: t0() + Duration::milliseconds(10),
                bureau: Some("b1".into())
            })
        );
        assert_eq!(policy.take_refusals(&mut throttle), None);
    }

    #[test]
    fn counting_starts_over_after_the_window_and_the_lockout_ends() {
        let policy = policy();
        let mut throttle = Throttle::default();
        fail_until_locked(&policy, &mut throttle);
        let until = throttle.blocked_until.unwrap();
        assert!(policy
            .blocked_until(&throttle, until - Duration::seconds(1))
            .is_some());
        assert!(policy.worth_keeping(&throttle, until - Duration::seconds(1)));
        assert_eq!(policy.blocked_until(&throttle, until), None);
        let next = policy.reserve(&mut throttle, until, Some("b1"));
        assert_eq!((next.block, throttle.failures), (None, 1));
        assert!(!policy.worth_keeping(&throttle, until + policy.window));
        assert!(!policy.worth_keeping(&Throttle::default(), t0()));
    }

    #[test]
    fn waits_never_outgrow_a_lockout() {
        let policy = ThrottlePolicy {
            lockout_failures: 1000,
            ..policy()
        };
        assert_eq!(policy.backoff_after(5), Duration::seconds(1));
        assert_eq!(policy.backoff_after(6), Duration::seconds(2));
        assert_eq!(policy.backoff_after(999), policy.lockout);
    }
}
