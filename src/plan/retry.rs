//! Waiting after failures: one mechanism for everything driftwatch retries
//! on its own (a close that did not complete, a correction cycle that
//! failed, a stream that brought no baseline). Pure: `now` is an argument.

use std::time::Duration;

use crate::domain::Timestamp;

/// The longest wait. A failure more than this after the last wait ended
/// starts the count again: it is a new outage, not the same one.
pub const RETRY_DELAY_MAX: Duration = Duration::from_secs(60);

/// How long to wait after `failures` consecutive ones: 1 s, doubling, at
/// most 60 s. A rule that still holds (cooldown 0 included) does not retry
/// a failing close in a tight loop, nor spend the hour's `max_per_hour` on
/// one passing rate limit; a revoked grant does not roll back a cycle at
/// every DB read.
pub fn retry_delay(failures: u32) -> Duration {
    let secs = 1u64 << failures.saturating_sub(1).min(6);
    Duration::from_secs(secs).min(RETRY_DELAY_MAX)
}

/// After a failure: how many in a row, and nothing again before `until`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Retry {
    pub failures: u32,
    pub until: Timestamp,
}

impl Retry {
    /// The wait after a failure at `now`, given the last one's (if any): the
    /// count goes on unless the last wait ended more than a minute ago.
    pub fn after(last: Option<Retry>, now: Timestamp) -> Retry {
        let failures = match last {
            Some(r) if now.since(r.until) <= RETRY_DELAY_MAX => r.failures.saturating_add(1),
            _ => 1,
        };
        Retry {
            failures,
            until: now.plus(retry_delay(failures)),
        }
    }

    /// Whether `now` is still inside the wait.
    pub fn waiting(self, now: Timestamp) -> bool {
        now < self.until
    }
}

/// Whether an optional wait still holds at `now`.
pub fn waiting(retry: Option<Retry>, now: Timestamp) -> bool {
    retry.is_some_and(|r| r.waiting(now))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_failing_close_backs_off_to_a_minute() {
        let secs: Vec<u64> = (1..=9).map(|n| retry_delay(n).as_secs()).collect();
        assert_eq!(secs, [1, 2, 4, 8, 16, 32, 60, 60, 60]);
        assert_eq!(retry_delay(u32::MAX).as_secs(), 60);
    }

    #[test]
    fn a_failure_long_after_the_last_wait_starts_the_count_again() {
        let last = |failures| {
            Some(Retry {
                failures,
                until: Timestamp(10_000),
            })
        };
        assert_eq!(Retry::after(None, Timestamp(0)).failures, 1);
        assert_eq!(Retry::after(last(3), Timestamp(5_000)).failures, 4);
        assert_eq!(Retry::after(last(3), Timestamp(70_000)).failures, 4);
        assert_eq!(Retry::after(last(3), Timestamp(70_001)).failures, 1);
        let r = Retry::after(last(3), Timestamp(5_000));
        assert_eq!(r.until, Timestamp(5_000 + 8_000));
        assert!(waiting(Some(r), Timestamp(12_999)));
        assert!(!waiting(Some(r), Timestamp(13_000)));
        assert!(!waiting(None, Timestamp(0)));
    }
}
