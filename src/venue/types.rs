//! The venue-neutral types: what every exchange adapter delivers, and the
//! errors and limits they share. Pure: no I/O, and nothing is imported
//! from above `domain`.
//!
//! Every venue is one folder, `venue/<name>/`, with the same files:
//! - `account.rs`: what the config checks (URLs, address, close key, the
//!   venue's own account fields, from [`AccountFields`]);
//! - `parse.rs`: wire bytes to the types below; pure and unit-tested against
//!   the documented examples (wire types never leave the folder);
//! - `sign`: the venue's request signing, byte for byte its SDK's;
//! - `http.rs`: the REST client ([`RestSnapshot`], [`MarketInfo`]);
//! - `ws.rs`: the stream task that emits [`StreamEvent`]s;
//! - `close.rs`: its side of a reduce-only close ([`CloseVenue`]);
//! - `offline.rs`: the offline panic button's request ([`OfflineOrder`]);
//! - `sim.rs`: its simulator.
//!
//! `registry.rs` plugs each in.
//!
//! The types are shaped for the venues that come next as well:
//! - streams that send the whole open set in every frame (Pacifica,
//!   Hyperliquid) emit [`StreamEvent::Snapshot`], or [`StreamEvent::Changes`]
//!   when a frame repeats the last one's keys in the same places; streams that send one
//!   symbol at a time, where a closed position arrives as size zero (Nado,
//!   Binance), emit [`StreamEvent::Update`]; [`StreamStyle`] tells the view
//!   which to expect;
//! - `seq` is the venue's sequence number where it has one (Pacifica `li`);
//! - hedge-mode legs are separate [`crate::domain::PositionKey`]s.

use std::time::Duration;

use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};

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
    /// A full-snapshot venue's frame told as what it changed: the complete
    /// set this connection sent last, except these keys' new absolute sizes
    /// (zero is closed). The stream task sends it only after a `Snapshot` on
    /// the same connection, and only for a frame whose items are that set's
    /// keys in the same places; a frame with an older `seq` than one already
    /// sent is sent whole and never told against. The view applies changes
    /// only on top of a complete set it holds from this connection (else
    /// [`crate::view::Applied::Unanchored`]).
    Changes { positions: Vec<Position>, seq: Option<u64> },
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

impl RestSnapshot {
    /// The summed size of `symbol`'s positions (zero when it has none).
    pub fn size_of(&self, symbol: &str) -> Decimal {
        self.positions
            .iter()
            .filter(|p| p.key.symbol == symbol)
            .map(|p| p.size)
            .sum()
    }
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

/// Buy (`bid`) or sell (`ask`), as the order side.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum OrderSide {
    Bid,
    Ask,
}

impl OrderSide {
    pub fn as_str(self) -> &'static str {
        match self {
            OrderSide::Bid => "bid",
            OrderSide::Ask => "ask",
        }
    }
}

/// A reduce-only market order.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CloseOrder {
    pub symbol: String,
    pub side: OrderSide,
    /// Positive, a whole number of lots, at most the position.
    pub amount: Decimal,
}

/// An account's venue-specific settings as the config file gives them,
/// before its venue checks them (each venue reads the fields it owns and
/// refuses none; the registry refuses a field set for another venue).
#[derive(Debug, Clone, Default)]
pub struct AccountFields {
    pub address: String,
    pub subaccount: Option<String>,
    pub chain_id: Option<u64>,
    pub endpoint: Option<String>,
    pub query_share: Option<Decimal>,
    pub network: Option<String>,
    pub vault: Option<bool>,
    pub api_secret: bool,
}

impl AccountFields {
    /// The names of the venue-specific fields that are set.
    pub fn set(&self) -> Vec<&'static str> {
        [
            ("subaccount", self.subaccount.is_some()),
            ("chain_id", self.chain_id.is_some()),
            ("endpoint", self.endpoint.is_some()),
            ("query_share", self.query_share.is_some()),
            ("network", self.network.is_some()),
            ("vault", self.vault.is_some()),
            ("api_secret", self.api_secret),
        ]
        .into_iter()
        .filter(|(_, set)| *set)
        .map(|(f, _)| f)
        .collect()
    }
}

/// A problem with one of an account's venue fields: (field, message).
pub type FieldError = (&'static str, String);

/// A reduce-only close from explicit inputs, for the offline panic button
/// (`driftwatch close --offline`): each venue reads the fields it needs and
/// refuses a key that is not the account's (or its agent's) instead of
/// signing.
#[derive(Debug, Clone, Default)]
pub struct OfflineOrder {
    /// The key's text (as read from the key file).
    pub key: String,
    /// Where the key came from, for messages.
    pub key_name: String,
    pub address: String,
    pub symbol: String,
    /// `bid` or `ask`.
    pub side: String,
    pub amount: String,
    /// Pacifica: slippage in percent.
    pub slippage: String,
    /// The key is an agent (API) wallet of the account.
    pub agent: bool,
    /// Pacifica: the signature's timestamp (ms; now if absent).
    pub timestamp: Option<u64>,
    /// Pacifica: the expiry window (ms).
    pub expiry_window_ms: u64,
    pub client_order_id: Option<String>,
    /// Nado: the subaccount's name.
    pub subaccount: String,
    /// Nado: the product id.
    pub product_id: Option<u32>,
    /// Nado, Hyperliquid: the worst price.
    pub price: Option<String>,
    /// Nado, Hyperliquid: the nonce.
    pub nonce: Option<u64>,
    /// Nado: expiration, unix seconds.
    pub expiration: Option<u64>,
    /// Nado: the chain id (mainnet's if absent).
    pub chain_id: Option<u64>,
    /// Nado: the key is the subaccount's linked signer.
    pub linked: bool,
    /// Hyperliquid: the asset index.
    pub asset: Option<u32>,
    /// Hyperliquid: mainnet or testnet.
    pub network: String,
    /// Hyperliquid: the sub-account or vault traded for.
    pub vault: Option<String>,
    /// Hyperliquid: expiresAfter, unix ms.
    pub expires_after: Option<u64>,
    /// Binance hedge mode: the leg (LONG or SHORT).
    pub position_side: Option<String>,
    /// Binance: newOrderRespType (RESULT).
    pub resp_type: Option<String>,
}

/// How an account's closes are sent, whatever its venue (from the
/// config's `close:` section; each adapter uses what applies to it).
#[derive(Debug, Clone)]
pub struct CloseSettings {
    /// Disarmed, the exact request is returned and not sent.
    pub armed: bool,
    /// The close key is an agent (API) wallet of the account.
    pub agent: bool,
    /// Worst acceptable slippage, in percent.
    pub slippage_percent: Decimal,
    pub max_attempts: u32,
    pub verify_timeout: Duration,
    /// How long a signed request stays valid (Pacifica's expiry window,
    /// Hyperliquid's `expiresAfter`).
    pub expiry_window: Duration,
    /// Cancel the market's resting orders before closing (Nado).
    pub cancel_orders_first: bool,
}

/// How the close loop runs one intent, on any venue.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CloseRun {
    /// Disarmed, the exact request is returned and not sent.
    pub armed: bool,
    pub max_attempts: u32,
    /// How long fresh reads may take to show the position at its target.
    pub verify_timeout: Duration,
}

impl CloseSettings {
    pub fn run(&self) -> CloseRun {
        CloseRun {
            armed: self.armed,
            max_attempts: self.max_attempts,
            verify_timeout: self.verify_timeout,
        }
    }
}

/// One venue's side of a reduce-only close: how to read, sign and send.
/// Each adapter implements it in its `close.rs`; the close loop
/// (`actions::close`) is the same for every venue.
pub trait CloseVenue: Sync {
    /// What a fresh read brings beyond the position (what pricing needs).
    type Read: Send + Sync;

    /// How the close loop runs an intent here.
    fn run(&self) -> CloseRun;
    /// Whether a successful reply means the order has already matched (an
    /// IOC), so a fresh read right after shows its fill.
    fn fills_before_reply(&self) -> bool;
    /// Whether a retry after an unknown outcome cannot fill twice (the venue
    /// deduplicates the client order id, or the adapter settles the first
    /// try by its client order id before sending again).
    fn idempotent(&self) -> bool;
    /// The signed size of the leg `key` now, and what pricing needs. A
    /// venue without such a leg (hedge legs on a one-way venue) refuses.
    fn read(
        &self,
        key: &crate::domain::PositionKey,
    ) -> impl std::future::Future<Output = Result<(Decimal, Self::Read), RestError>> + Send;
    /// The read a close starts from: [`CloseVenue::read`], with whatever
    /// the first order needs read at the same moment beside it (Nado: the
    /// top of book, and whether resting orders are there to cancel). No
    /// default: a wrapper that forgot it would lose it silently.
    fn read_to_send(
        &self,
        key: &crate::domain::PositionKey,
    ) -> impl std::future::Future<Output = Result<(Decimal, Self::Read), RestError>> + Send;
    /// Before the first send (Nado: cancel the product's resting orders).
    fn prepare(&self, read: &Self::Read) -> impl std::future::Future<Output = ()> + Send;
    /// The exact signed request for `attempt` (1-based).
    fn request(
        &self,
        order: &CloseOrder,
        read: &Self::Read,
        client_order_id: &str,
        attempt: u32,
    ) -> impl std::future::Future<Output = Result<serde_json::Value, String>> + Send;
    /// Sends a signed request: the venue's order id, or why not.
    fn send(&self, body: &serde_json::Value) -> impl std::future::Future<Output = Result<String, OrderFailure>> + Send;
}

/// The symbol of a net (one-way, cross-margin) leg, for venues whose closes
/// act on nothing else; any other leg is refused before anything is read.
pub fn net_leg(key: &crate::domain::PositionKey) -> Result<&str, RestError> {
    match key.leg {
        crate::domain::Leg::Net => Ok(&key.symbol),
        _ => Err(RestError::Decode(format!(
            "{key}: this venue closes net positions only"
        ))),
    }
}

/// Why a venue refused (or may not have taken) a reduce-only close order,
/// in the terms the close loop acts on. Each adapter maps its own codes here.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum OrderFailure {
    /// Nothing to reduce: the position is already flat (Pacifica 23/422).
    #[error("no position to reduce: {0}")]
    AlreadyFlat(String),
    /// The venue has this very order already: an earlier try landed
    /// (Pacifica 36 duplicate client order id, Nado 2013 digest exists).
    #[error("an earlier try landed: {0}")]
    Landed(String),
    /// The order no longer fits the position (too big, wrong side, would
    /// increase it): read the position again and re-size.
    #[error("order does not fit the position: {0}")]
    Resize(String),
    /// A taker order that found nothing to trade with at its worst price
    /// (Nado 2056 IOC does not cross, 2031 FOK not filled): re-price, retry.
    #[error("not filled at the worst price: {0}")]
    NoFill(String),
    #[error("rate limited; retry after {retry_after:?}")]
    RateLimited { retry_after: Duration },
    /// A 5xx, timeout, transport error or venue maintenance: the order may or
    /// may not have landed.
    #[error("outcome unknown: {0}")]
    Unknown(String),
    /// Any other refusal: final.
    #[error("rejected: {0}")]
    Rejected(String),
}

/// A frame or body the adapter could not understand.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("{0}")]
pub struct ParseError(pub String);

/// A client-side weight budget over sliding windows, for venues whose
/// limits are weights per window and are shared with the bot (Nado: 2400 per
/// minute and 400 per 10 s per IP for queries). Pure: the caller passes `now`.
#[derive(Debug, Clone)]
pub struct RateBudget {
    /// (window length, weight allowed in it).
    limits: Vec<(Duration, u32)>,
    spent: std::collections::VecDeque<(std::time::Instant, u32)>,
}

impl RateBudget {
    pub fn new(limits: &[(Duration, u32)]) -> RateBudget {
        RateBudget {
            limits: limits.to_vec(),
            spent: std::collections::VecDeque::new(),
        }
    }

    /// (window length, weight allowed in it), as configured.
    pub fn limits(&self) -> &[(Duration, u32)] {
        &self.limits
    }

    /// Spends `weight` at `now` if every window has room; otherwise says how
    /// long until it would (nothing is spent).
    pub fn try_spend(&mut self, now: std::time::Instant, weight: u32) -> Result<(), Duration> {
        let longest = self.limits.iter().map(|l| l.0).max().unwrap_or_default();
        while let Some(&(at, _)) = self.spent.front() {
            if now.duration_since(at) >= longest {
                self.spent.pop_front();
            } else {
                break;
            }
        }
        let mut wait = Duration::ZERO;
        for &(window, limit) in &self.limits {
            let mut used: u32 = self
                .spent
                .iter()
                .filter(|(at, _)| now.duration_since(*at) < window)
                .map(|(_, w)| w)
                .sum();
            if used + weight <= limit {
                continue;
            }
            // Free the oldest entries in this window until the weight fits.
            for &(at, w) in self.spent.iter().filter(|(at, _)| now.duration_since(*at) < window) {
                used -= w;
                if used + weight <= limit {
                    wait = wait.max(window - now.duration_since(at));
                    break;
                }
            }
            if used + weight > limit {
                // Heavier than the window allows at all: the window length.
                wait = wait.max(window);
            }
        }
        if wait.is_zero() {
            self.spent.push_back((now, weight));
            Ok(())
        } else {
            Err(wait)
        }
    }
}

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

/// An account's stream and REST timing (from the config).
#[derive(Debug, Clone)]
pub struct StreamConfig {
    /// JSON ping period; Pacifica drops a client silent for 60 s.
    pub ping_interval: Duration,
    /// No subscription ack within this = a failed subscription.
    pub ack_timeout: Duration,
    /// No frame at all (pongs included) within this = a dead link.
    pub silence_timeout: Duration,
    /// Reconnect before the venue's 24 h cut.
    pub max_connection_age: Duration,
    pub backoff_initial: Duration,
    pub backoff_max: Duration,
    pub rest_timeout: Duration,
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

    #[test]
    fn rate_budget_waits_for_the_oldest_spend_to_leave_the_window() {
        let t0 = std::time::Instant::now();
        let mut b = RateBudget::new(&[(Duration::from_secs(10), 12), (Duration::from_secs(60), 30)]);
        assert_eq!(b.try_spend(t0, 10), Ok(()));
        assert_eq!(b.try_spend(t0 + Duration::from_secs(1), 2), Ok(()));
        // 12 spent in the 10 s window: the next waits for the first (at t0) to expire.
        assert_eq!(b.try_spend(t0 + Duration::from_secs(2), 1), Err(Duration::from_secs(8)));
        assert_eq!(b.try_spend(t0 + Duration::from_secs(10), 10), Ok(()));
        assert_eq!(b.try_spend(t0 + Duration::from_secs(20), 8), Ok(()));
        // 30 in the minute: full until t0 + 60 s.
        assert_eq!(
            b.try_spend(t0 + Duration::from_secs(21), 1),
            Err(Duration::from_secs(39))
        );
        assert_eq!(b.try_spend(t0 + Duration::from_secs(60), 1), Ok(()));
        assert!(
            b.try_spend(t0, 100).is_err(),
            "a weight above a window's limit never fits"
        );
    }
}
