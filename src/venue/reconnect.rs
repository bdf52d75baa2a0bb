//! The reconnect policy every stream task shares (adapter machinery, not a
//! type: it logs and sleeps).

use std::time::Duration;

use super::types::{Backoff, StreamConfig, StreamEvent};

/// Why one connection of a stream ended.
pub enum SessionEnd {
    Shutdown,
    /// Planned (age limit, resync): reconnect at once.
    Planned(String),
    Failed(String),
}

/// The reconnect policy every stream task shares: after each connection
/// ends, report the loss as `Disconnected` and wait a jittered back-off
/// after a failure (none after a planned end). A stream task is
/// `while r.again(...)` around its one-connection `session`.
pub struct Reconnect {
    venue: &'static str,
    who: String,
    pub backoff: Backoff,
}

impl Reconnect {
    pub fn new(venue: &'static str, who: &str, timing: &StreamConfig) -> Reconnect {
        Reconnect {
            venue,
            who: who.to_owned(),
            backoff: Backoff::new(timing.backoff_initial, timing.backoff_max),
        }
    }

    /// Handles the end of a connection; `false` when the task should stop
    /// (shutdown, or `emit` reports nobody listening).
    pub async fn again<F, Fut>(
        &mut self,
        end: SessionEnd,
        emit: &mut F,
        shutdown: &mut tokio::sync::watch::Receiver<bool>,
    ) -> bool
    where
        F: FnMut(StreamEvent) -> Fut,
        Fut: std::future::Future<Output = bool>,
    {
        let (reason, delay) = match end {
            SessionEnd::Shutdown => return false,
            SessionEnd::Planned(r) => (r, Duration::ZERO),
            SessionEnd::Failed(r) => (r, self.backoff.next_delay(rand::random::<f64>())),
        };
        tracing::warn!(venue = self.venue, address = %self.who, reason = %reason,
            retry_in_ms = delay.as_millis() as u64, "Stream lost.");
        if !emit(StreamEvent::Disconnected { reason }).await {
            return false;
        }
        tokio::select! {
            biased;
            _ = shutdown.changed() => false,
            _ = tokio::time::sleep(delay) => !*shutdown.borrow(),
        }
    }
}
