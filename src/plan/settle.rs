//! After a verified close, until the stream shows it: the fresh read that
//! verified the close is newer evidence than a stream view of the leg that
//! has not changed since, so that view decides no further close about the
//! leg. Pure: `now` is an argument.
//!
//! Without it, a rule with no cooldown fired again on the stream's lagging
//! view as soon as its close was verified; that close's fresh read found
//! the position already at its target ("nothing to do"), and the leg's
//! back-off after a close that did not complete then held the next real
//! close for a second.

use std::time::Duration;

use rust_decimal::Decimal;

use crate::domain::{same_size, Timestamp};

/// The longest a leg waits for the stream to show its verified close. A
/// stream that shows nothing of it for this long is lagging or has lost it:
/// its view of the leg decides again (and a close sized from a fresh read
/// sends only what REST still shows).
pub const SETTLE_WITHIN: Duration = Duration::from_secs(5);

/// A leg whose close a fresh read verified.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Settling {
    /// When the verifying read was sent.
    pub read_at: Timestamp,
    /// The position it saw.
    pub seen: Decimal,
    /// When the wait runs out.
    pub until: Timestamp,
}

impl Settling {
    /// A close verified at `now` by a read sent at `read_at` that saw `seen`.
    pub fn after((read_at, seen): (Timestamp, Decimal), now: Timestamp) -> Settling {
        Settling {
            read_at,
            seen,
            until: now.plus(SETTLE_WITHIN),
        }
    }

    /// Whether the stream's view of the leg (`stream`, last changed at
    /// `changed_at`) still lags the verifying read at `now`: it shows
    /// another size than the read saw (more than a lot apart), has not
    /// changed the leg since the read was sent, and the wait has not run
    /// out. A view that moved after the read is newer than it, and decides.
    pub fn lags(&self, stream: Decimal, changed_at: Option<Timestamp>, lot: Option<Decimal>, now: Timestamp) -> bool {
        now < self.until && !same_size(stream, self.seen, lot) && changed_at.is_none_or(|c| c < self.read_at)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(s: &str) -> Decimal {
        s.parse().unwrap()
    }

    fn verified() -> Settling {
        // Read sent at 1,000 ms saw 0; the close was verified at 1,050 ms.
        Settling::after((Timestamp(1_000), Decimal::ZERO), Timestamp(1_050))
    }

    #[test]
    fn a_view_older_than_the_read_that_shows_another_size_lags() {
        let s = verified();
        assert!(s.lags(d("2"), Some(Timestamp(900)), Some(d("0.01")), Timestamp(1_100)));
        // Never changed by the stream at all: older too.
        assert!(s.lags(d("2"), None, Some(d("0.01")), Timestamp(1_100)));
    }

    #[test]
    fn a_view_that_shows_what_the_read_saw_does_not_lag() {
        let s = verified();
        assert!(!s.lags(Decimal::ZERO, Some(Timestamp(900)), Some(d("0.01")), Timestamp(1_100)));
        // Within a lot of it.
        assert!(!s.lags(d("0.005"), Some(Timestamp(900)), Some(d("0.01")), Timestamp(1_100)));
    }

    #[test]
    fn a_view_changed_at_or_after_the_read_is_newer_and_decides() {
        let s = verified();
        assert!(!s.lags(d("2"), Some(Timestamp(1_000)), Some(d("0.01")), Timestamp(1_100)));
        assert!(!s.lags(d("2"), Some(Timestamp(1_080)), Some(d("0.01")), Timestamp(1_100)));
    }

    use proptest::prelude::*;

    proptest! {
        /// Over generated stream histories of a leg around its verified
        /// close (changes at any time, of any size, arriving before or after
        /// the verifying read): a change the stream delivered at or after
        /// the read always decides at once (a newer exposure is never held
        /// back), nothing is held once the wait ran out, and a view that is
        /// held shows another size than the read saw.
        #[test]
        fn nothing_newer_than_the_read_is_held(
            read_at in 1_000i64..2_000,
            seen in -3i64..=3,
            changes in proptest::collection::vec((0i64..10_000, -3i64..=3), 0..6),
            at in 0i64..10_000,
        ) {
            let lot = Some(Decimal::ONE);
            let s = Settling::after((Timestamp(read_at), Decimal::from(seen)), Timestamp(read_at + 50));
            let now = Timestamp(read_at + 50 + at);
            let mut delivered: Vec<(i64, i64)> = changes.into_iter().filter(|(t, _)| *t <= now.0).collect();
            delivered.sort_unstable();
            let (changed_at, stream) = match delivered.last() {
                Some((t, size)) => (Some(Timestamp(*t)), Decimal::from(*size)),
                None => (None, Decimal::ZERO),
            };
            let held = s.lags(stream, changed_at, lot, now);
            if delivered.iter().any(|(t, _)| *t >= read_at) {
                prop_assert!(!held, "a change after the read was held");
            }
            if now >= s.until {
                prop_assert!(!held, "held past the wait");
            }
            if held {
                prop_assert!(stream != Decimal::from(seen));
            }
        }
    }

    #[test]
    fn the_wait_runs_out() {
        let s = verified();
        let end = Timestamp(1_050).plus(SETTLE_WITHIN);
        assert!(s.lags(d("2"), Some(Timestamp(900)), None, Timestamp(end.0 - 1)));
        assert!(!s.lags(d("2"), Some(Timestamp(900)), None, end));
    }
}
