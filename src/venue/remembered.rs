//! A slow-changing venue read (the market list: asset ids, lot and tick
//! sizes), remembered between reads.
//!
//! A close is sized from a fresh position read, always; the market it is
//! floored to changes when the venue relists it, not between two closes.
//! Reading the whole market list again for every close cost a round trip in
//! the middle of an emergency close, and on Hyperliquid a fifteenth of the
//! client's default share of the query budget each time (`metaAndAssetCtxs`
//! weighs 20 of the 1,200 a minute; the share is a quarter): a burst of
//! closes ran out of budget. Every successful read of the list refreshes
//! what is remembered; a close uses it while it is younger than its limit.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// The last good value of a read, and when it was taken.
#[derive(Debug)]
pub struct Remembered<T> {
    last: Mutex<Option<(Instant, Arc<T>)>>,
}

impl<T> Default for Remembered<T> {
    fn default() -> Self {
        Remembered { last: Mutex::new(None) }
    }
}

impl<T> Remembered<T> {
    /// The value, if it was read less than `max_age` ago.
    pub fn fresh(&self, max_age: Duration) -> Option<Arc<T>> {
        let last = self.last.lock().unwrap_or_else(|e| e.into_inner());
        last.as_ref()
            .filter(|(at, _)| at.elapsed() < max_age)
            .map(|(_, v)| v.clone())
    }

    /// The value if it was read less than `max_age` ago, else what `read`
    /// reads now (a read of the list remembers what it read).
    pub async fn fresh_or<E>(
        &self,
        max_age: Duration,
        read: impl std::future::Future<Output = Result<T, E>>,
    ) -> Result<Arc<T>, E> {
        match self.fresh(max_age) {
            Some(v) => Ok(v),
            None => Ok(Arc::new(read.await?)),
        }
    }

    /// Remembers `value`, read just now.
    pub fn keep(&self, value: T) -> Arc<T> {
        let value = Arc::new(value);
        *self.last.lock().unwrap_or_else(|e| e.into_inner()) = Some((Instant::now(), value.clone()));
        value
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_value_is_fresh_until_its_limit_and_a_new_read_replaces_it() {
        let r = Remembered::default();
        assert!(r.fresh(Duration::from_secs(60)).is_none(), "nothing read yet");
        r.keep(vec![1]);
        assert_eq!(*r.fresh(Duration::from_secs(60)).unwrap(), vec![1]);
        assert!(r.fresh(Duration::ZERO).is_none(), "older than a zero limit");
        r.keep(vec![2]);
        assert_eq!(*r.fresh(Duration::from_secs(60)).unwrap(), vec![2]);
    }
}
