//! Rate limiting: token buckets and per-address login backoff. Pure, synthetic time.

use std::time::{Duration, Instant};

use crate::limits;

/// One token, in the bucket's unit (fractions of a token refill by the millisecond).
const TOKEN: u64 = 1_000_000;

/// A token bucket: refills at a steady rate, holding at most `burst` tokens.
#[derive(Debug, Clone)]
pub(crate) struct Bucket {
    /// Millionths of a token held.
    held: u64,
    /// Millionths of a token added per millisecond.
    refill: u64,
    burst: u64,
    last: Instant,
}

impl Bucket {
    /// `rate` tokens a second, at most `burst` at once.
    pub(crate) fn new(rate: u32, burst: u32, now: Instant) -> Self {
        Self::with_refill(u64::from(rate) * TOKEN / 1000, burst, now)
    }

    /// `per_minute` tokens a minute, at most `burst` at once.
    pub(crate) fn new_per_minute(per_minute: u32, burst: u32, now: Instant) -> Self {
        Self::with_refill(u64::from(per_minute) * TOKEN / 60_000, burst, now)
    }

    fn with_refill(refill: u64, burst: u32, now: Instant) -> Self {
        let burst = u64::from(burst.max(1)) * TOKEN;
        Self {
            held: burst,
            refill,
            burst,
            last: now,
        }
    }

    fn fill(&mut self, now: Instant) {
        let elapsed =
            u64::try_from(now.saturating_duration_since(self.last).as_millis()).unwrap_or(u64::MAX);
        self.held = self
            .held
            .saturating_add(elapsed.saturating_mul(self.refill))
            .min(self.burst);
        self.last = now.max(self.last);
    }

    /// Takes one token if there is one.
    pub(crate) fn take(&mut self, now: Instant) -> bool {
        self.fill(now);
        if self.held >= TOKEN {
            self.held -= TOKEN;
            true
        } else {
            false
        }
    }

    /// Whether the bucket has refilled completely (forgetting it would change nothing).
    pub(crate) fn is_full(&mut self, now: Instant) -> bool {
        self.fill(now);
        self.held >= self.burst
    }

    /// Gives back a token taken for something that turned out fine.
    pub(crate) fn refund(&mut self) {
        self.held = (self.held + TOKEN).min(self.burst);
    }

    /// How long until the next token, from `now`.
    pub(crate) fn next_in(&mut self, now: Instant) -> Duration {
        self.fill(now);
        let missing = TOKEN.saturating_sub(self.held);
        if missing == 0 {
            return Duration::ZERO;
        }
        if self.refill == 0 {
            return Duration::MAX;
        }
        Duration::from_millis(missing.div_ceil(self.refill))
    }
}

/// Login failures from one address and the backoff they earned.
#[derive(Debug, Clone, Default)]
pub(crate) struct Backoff {
    failures: u32,
    blocked_until: Option<Instant>,
    last_failure: Option<Instant>,
}

/// Failures are forgotten after this long without a new one.
const FORGET_AFTER: Duration = Duration::from_secs(600);

impl Backoff {
    pub(crate) fn record_failure(&mut self, now: Instant) {
        self.failures = self.recent(now).saturating_add(1);
        self.last_failure = Some(now);
        if self.failures > limits::LOGIN_FAILURES_FREE {
            let exp = (self.failures - limits::LOGIN_FAILURES_FREE - 1).min(16);
            let wait = limits::LOGIN_BACKOFF_BASE.saturating_mul(1 << exp);
            self.blocked_until = Some(now + wait.min(limits::LOGIN_BACKOFF_MAX));
        }
    }

    pub(crate) fn record_success(&mut self) {
        *self = Self::default();
    }

    /// The failures not yet forgotten.
    pub(crate) fn recent(&self, now: Instant) -> u32 {
        if self.is_stale(now) { 0 } else { self.failures }
    }

    /// How long this address must still wait, if at all.
    pub(crate) fn wait(&self, now: Instant) -> Option<Duration> {
        self.blocked_until.filter(|t| *t > now).map(|t| t - now)
    }

    /// Whether the entry holds nothing worth remembering any more.
    pub(crate) fn is_stale(&self, now: Instant) -> bool {
        self.last_failure
            .is_none_or(|t| now.saturating_duration_since(t) > FORGET_AFTER)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bucket_allows_burst_then_rate() {
        let t0 = Instant::now();
        let mut b = Bucket::new(limits::MESSAGE_RATE_PER_SEC, limits::MESSAGE_BURST, t0);
        let burst = (0..1000).take_while(|_| b.take(t0)).count();
        assert_eq!(burst, limits::MESSAGE_BURST as usize);
        assert!(!b.take(t0));
        // One second later, exactly `rate` more.
        let t1 = t0 + Duration::from_secs(1);
        let refill = (0..1000).take_while(|_| b.take(t1)).count();
        assert_eq!(refill, limits::MESSAGE_RATE_PER_SEC as usize);
        // Never more than the burst, however long it rests.
        let t2 = t1 + Duration::from_secs(3600);
        assert_eq!(
            (0..1000).take_while(|_| b.take(t2)).count(),
            limits::MESSAGE_BURST as usize
        );
    }

    #[test]
    fn backoff_starts_after_free_failures_doubles_and_caps() {
        let t0 = Instant::now();
        let mut b = Backoff::default();
        for _ in 0..limits::LOGIN_FAILURES_FREE {
            b.record_failure(t0);
            assert_eq!(b.wait(t0), None);
        }
        b.record_failure(t0);
        assert_eq!(b.wait(t0), Some(limits::LOGIN_BACKOFF_BASE));
        b.record_failure(t0);
        assert_eq!(b.wait(t0), Some(limits::LOGIN_BACKOFF_BASE * 2));
        for _ in 0..40 {
            b.record_failure(t0);
        }
        assert_eq!(b.wait(t0), Some(limits::LOGIN_BACKOFF_MAX));
        assert_eq!(b.wait(t0 + limits::LOGIN_BACKOFF_MAX), None);
        assert!(!b.is_stale(t0));
        assert!(b.is_stale(t0 + FORGET_AFTER + Duration::from_secs(1)));
        // Forgotten failures count no more: the next one is the first again.
        let later = t0 + FORGET_AFTER + Duration::from_secs(1);
        assert_eq!(b.recent(later), 0);
        b.record_failure(later);
        assert_eq!(b.recent(later), 1);
        assert_eq!(b.wait(later), None);
        b.record_success();
        assert_eq!(b.wait(t0), None);
    }
}
