//! The venue interface: what every exchange adapter delivers, in venue-neutral
//! data, and the shape each adapter folder has.
//!
//! Every adapter lives in `venue/<name>/` with the same four files:
//! - `models.rs`: serde wire types; they never leave the folder;
//! - `parse.rs`: wire bytes to the types below; pure and unit-tested against
//!   the documented examples;
//! - `http.rs`: the REST client ([`RestSnapshot`], [`MarketInfo`]);
//! - `ws.rs`: the stream task that emits [`StreamEvent`]s.
//!
//! The types are shaped for the venues that come next as well:
//! - streams that send the whole open set in every frame (Pacifica,
//!   Hyperliquid) emit [`StreamEvent::Snapshot`]; streams that send one
//!   symbol at a time, where a closed position arrives as size zero (Nado,
//!   Binance), emit [`StreamEvent::Update`]; [`StreamStyle`] tells the view
//!   which to expect;
//! - `seq` is the venue's sequence number where it has one (Pacifica `li`);
//! - hedge-mode legs are separate [`crate::domain::PositionKey`]s.

pub mod nado;
pub mod pacifica;

use std::time::Duration;

use rust_decimal::Decimal;

use crate::domain::Position;

/// How a venue's position stream describes state.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum StreamStyle {
    /// Every frame is the complete set of open positions; a symbol missing
    /// from a frame is closed. The first frame after subscribing is the
    /// baseline.
    FullSnapshots,
    /// Each frame carries one key's new absolute size; zero means closed.
    /// Nothing is replayed after a reconnect, so the baseline is a REST read.
    PerKeyUpdates,
}

/// How a venue's position stream describes state: decided here, once per venue.
pub fn stream_style(venue: crate::domain::VenueKind) -> StreamStyle {
    match venue {
        crate::domain::VenueKind::Pacifica => StreamStyle::FullSnapshots,
    }
}

/// What a stream task reports to the core. The task stamps nothing: the
/// core reads the clock when the event arrives.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum StreamEvent {
    /// The socket is open and the subscriptions are sent.
    Connected,
    /// The venue acknowledged the position subscription.
    Subscribed,
    /// The complete open set (full-snapshot venues).
    Snapshot { positions: Vec<Position>, seq: Option<u64> },
    /// One key's new absolute size (per-key venues); zero is closed.
    Update { position: Position, seq: Option<u64> },
    /// Something changed these symbols without the bot (liquidation, ADL):
    /// the core asks REST to verify them now.
    Dirty { symbols: Vec<String>, cause: String },
    /// A frame that proves the link is alive (pong, other channels).
    Alive,
    /// The socket is gone; the view is untrusted until it is rebuilt.
    Disconnected { reason: String },
}

/// A successful REST read of an account's open positions.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct RestSnapshot {
    pub positions: Vec<Position>,
    /// The venue's sequence number at the time of the read, if it has one.
    pub seq: Option<u64>,
}

/// Lot and tick size of one market, from the venue's market-info endpoint.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct MarketInfo {
    pub symbol: String,
    pub lot_size: Decimal,
    pub tick_size: Decimal,
}

/// Why a REST call gave no usable answer. None of these ever means "flat".
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum RestError {
    #[error("rate limited; retry after {retry_after:?}")]
    RateLimited { retry_after: Duration },
    #[error("HTTP {status}: {message}")]
    Http { status: u16, message: String },
    #[error("venue error code {code}: {message}")]
    Venue { code: i64, message: String },
    #[error("timed out")]
    Timeout,
    #[error("transport: {0}")]
    Transport(String),
    #[error("undecodable response: {0}")]
    Decode(String),
}

impl RestError {
    /// The label used in `driftwatch_rest_errors_total{kind}`: a small fixed set.
    pub fn kind(&self) -> &'static str {
        match self {
            RestError::RateLimited { .. } => "rate_limited",
            RestError::Http { status, .. } if *status >= 500 => "http_5xx",
            RestError::Http { .. } => "http_4xx",
            RestError::Venue { .. } => "venue",
            RestError::Timeout => "timeout",
            RestError::Transport(_) => "transport",
            RestError::Decode(_) => "decode",
        }
    }

    pub const KINDS: [&'static str; 7] = [
        "rate_limited",
        "http_5xx",
        "http_4xx",
        "venue",
        "timeout",
        "transport",
        "decode",
    ];
}

/// A frame or body the adapter could not understand.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("{0}")]
pub struct ParseError(pub String);

/// Jittered exponential back-off, shared by every reconnect and retry loop.
#[derive(Debug, Clone)]
pub struct Backoff {
    initial: Duration,
    max: Duration,
    attempt: u32,
}

impl Backoff {
    pub fn new(initial: Duration, max: Duration) -> Self {
        Backoff {
            initial,
            max,
            attempt: 0,
        }
    }

    /// The next delay: a uniform draw from [cap/2, cap] where cap doubles
    /// each attempt up to `max` ("equal jitter": never hammers, never zero).
    pub fn next_delay(&mut self, unit_random: f64) -> Duration {
        let factor = 2u32.saturating_pow(self.attempt.min(20));
        self.attempt = self.attempt.saturating_add(1);
        let cap = self.initial.saturating_mul(factor).min(self.max);
        let half = cap / 2;
        half + half.mul_f64(unit_random.clamp(0.0, 1.0))
    }

    pub fn reset(&mut self) {
        self.attempt = 0;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_grows_to_its_cap_and_resets() {
        let mut b = Backoff::new(Duration::from_millis(100), Duration::from_secs(1));
        assert_eq!(b.next_delay(1.0), Duration::from_millis(100));
        assert_eq!(b.next_delay(1.0), Duration::from_millis(200));
        assert_eq!(b.next_delay(0.0), Duration::from_millis(200));
        for _ in 0..10 {
            b.next_delay(1.0);
        }
        assert_eq!(b.next_delay(1.0), Duration::from_secs(1));
        b.reset();
        assert_eq!(b.next_delay(0.0), Duration::from_millis(50));
    }
}
