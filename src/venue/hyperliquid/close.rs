//! Hyperliquid's side of a reduce-only close (hyperliquid.md §5): an IOC
//! limit order at a worst price (mid ± slippage, the SDK's rounding),
//! reduce-only, sized from a fresh `clearinghouseState`, with one `cloid`
//! per intent (derived from the journaled client order id) and a short
//! `expiresAfter`.
//!
//! The venue does not document what a reused cloid does (§10), so a lost
//! reply is never answered by a second blind send: the closer asks
//! `orderStatus` by cloid until the first request's `expiresAfter` has
//! passed. An order it has not seen before is the lost one (its status is
//! the answer); `unknownOid` after the expiry means the request can never
//! land, and only then is the close tried again.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use alloy_primitives::Address;
use rust_decimal::Decimal;
use serde_json::Value;

use super::http::RestClient;
use super::parse::{self, Market};
use super::sign::{self, Action, Body, Network, Signing};
use crate::venue::evm::Signer;
use crate::venue::lost_reply::{self, Seen};
use crate::venue::types::{CloseOrder, CloseRun, CloseVenue, OrderFailure, OrderSide, RestError, RestSnapshot};

/// How to send closes for one Hyperliquid account.
pub struct HyperliquidCloseParams<'a> {
    /// The master's key or an approved agent's.
    pub signer: &'a Signer,
    /// Set when the account is a sub-account or vault the signer trades for.
    pub vault: Option<Address>,
    pub network: Network,
    /// First attempt's slippage off the mid, in percent; attempt `n` uses
    /// `n` times it (an IOC that found nothing widens).
    pub slippage_percent: Decimal,
    /// `expiresAfter` is this far after the nonce.
    pub expiry_window: Duration,
    pub run: CloseRun,
}

/// The wire cloid of an intent: its client order id when that is already
/// one (`0x` + 32 hex), a UUID's 16 bytes, else the first 16 bytes of the
/// id's keccak. The same intent always gives the same cloid.
pub fn cloid(client_order_id: &str) -> String {
    let lower = client_order_id.to_ascii_lowercase();
    let hex = lower.strip_prefix("0x").unwrap_or("");
    if hex.len() == 32 && hex.bytes().all(|b| b.is_ascii_hexdigit()) {
        return lower;
    }
    if let Ok(u) = uuid::Uuid::parse_str(client_order_id) {
        return format!("0x{}", u.simple());
    }
    let h = alloy_primitives::keccak256(client_order_id.as_bytes());
    format!("0x{}", alloy_primitives::hex::encode(&h[..16]))
}

/// Closes on one Hyperliquid account.
pub struct HyperliquidCloser<'a> {
    pub rest: &'a RestClient,
    pub params: &'a HyperliquidCloseParams<'a>,
    /// Oids of this intent's orders already answered for: a status query
    /// that finds one of these has not found the lost order.
    seen: Seen,
    /// The coin's market, read once per intent (it does not change in one).
    market: tokio::sync::OnceCell<Market>,
    /// The last nonce used (nonces are per signer and must not repeat).
    last_nonce: AtomicU64,
}

impl<'a> HyperliquidCloser<'a> {
    pub fn new(rest: &'a RestClient, params: &'a HyperliquidCloseParams<'a>) -> Self {
        HyperliquidCloser {
            rest,
            params,
            seen: Seen::default(),
            market: tokio::sync::OnceCell::new(),
            last_nonce: AtomicU64::new(0),
        }
    }

    /// A nonce: now in milliseconds, above every earlier one.
    fn nonce(&self) -> u64 {
        let now = crate::clock::now().0.max(0) as u64;
        let prev = self
            .last_nonce
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |last| Some(now.max(last + 1)))
            .unwrap_or(0);
        now.max(prev + 1)
    }

    /// A request whose reply was lost: what became of it, by its cloid,
    /// until its `expiresAfter` has passed (a margin for the clocks).
    async fn settle(&self, body: &Body, why: String) -> Result<String, OrderFailure> {
        let Action::Order(order) = &body.action else {
            return Err(OrderFailure::Unknown(why));
        };
        let Some(cloid) = order.orders.first().and_then(|o| o.c.clone()) else {
            return Err(OrderFailure::Unknown(why));
        };
        let query = || async {
            let state = self.rest.order_status(&cloid).await?;
            Ok(state.map(|s| (s.oid, parse::settled(&s))))
        };
        let gone_after = body.expires_after.unwrap_or(body.nonce) + 2_000;
        let now = || crate::clock::now().0.max(0) as u64;
        lost_reply::settle(query, now, gone_after, &self.seen, why).await
    }
}

/// What a close's read brings beside the position.
pub struct CloseRead {
    /// The coin's market.
    market: Market,
    /// The mid read beside the intent's first position read, for its first
    /// request: the order follows its fresh read without another round
    /// trip between them. `None` on later reads (and when that mid read
    /// failed): an order then reads the mid itself.
    mid: Option<Decimal>,
}

impl HyperliquidCloser<'_> {
    /// The position in `symbol` from `snap`, with the coin's market (read
    /// once per intent).
    async fn position(
        &self,
        symbol: &str,
        snap: RestSnapshot,
        mid: Option<Decimal>,
    ) -> Result<(Decimal, CloseRead), RestError> {
        let market = self.market.get_or_try_init(|| self.rest.market(symbol)).await?.clone();
        Ok((snap.size_of(symbol), CloseRead { market, mid }))
    }
}

impl CloseVenue for HyperliquidCloser<'_> {
    type Read = CloseRead;

    fn run(&self) -> CloseRun {
        self.params.run
    }

    fn fills_before_reply(&self) -> bool {
        true
    }

    /// A lost reply is settled by `orderStatus` before anything is sent again.
    fn idempotent(&self) -> bool {
        true
    }

    /// The position (`clearinghouseState`, weight 2); the market only the
    /// first time: the verification's reads stay cheap.
    async fn read(&self, key: &crate::domain::PositionKey) -> Result<(Decimal, CloseRead), RestError> {
        let symbol = crate::venue::types::net_leg(key)?;
        let snap = self.rest.positions().await?;
        self.position(symbol, snap, None).await
    }

    /// The intent's first read: its mid (weight 2, as the first request
    /// would spend) is read at the same moment as the position.
    async fn read_to_send(&self, key: &crate::domain::PositionKey) -> Result<(Decimal, CloseRead), RestError> {
        let symbol = crate::venue::types::net_leg(key)?;
        let (snap, mid) = tokio::join!(self.rest.positions(), self.rest.mid(symbol));
        self.position(symbol, snap?, mid.ok()).await
    }

    /// Resting orders are left alone: reduce-only ones that no longer
    /// reduce are canceled by the venue (`reduceOnlyCanceled`).
    async fn prepare(&self, _: &CloseRead) {}

    async fn request(
        &self,
        order: &CloseOrder,
        read: &CloseRead,
        client_order_id: &str,
        attempt: u32,
    ) -> Result<Value, String> {
        let p = self.params;
        let market = &read.market;
        // The first attempt is priced from the mid read with its fresh read;
        // a retry (or a first read whose mid failed) from the mid now.
        let mid = match read.mid.filter(|_| attempt <= 1) {
            Some(m) => m,
            None => self
                .rest
                .mid(&order.symbol)
                .await
                .map_err(|e| format!("no mid price: {e}"))?,
        };
        let is_buy = order.side == OrderSide::Bid;
        let slippage = p.slippage_percent * Decimal::from(attempt.max(1)) / Decimal::ONE_HUNDRED;
        let price = parse::worst_price(mid, is_buy, slippage, market.sz_decimals).ok_or_else(|| {
            format!(
                "no worst price for {} at mid {mid} and slippage {slippage}",
                order.symbol
            )
        })?;
        let action = Action::close(&sign::CloseOrder {
            asset: market.asset,
            is_buy,
            price,
            size: order.amount,
            cloid: cloid(client_order_id),
        })?;
        let nonce = self.nonce();
        let signing = Signing {
            nonce,
            vault: p.vault,
            expires_after: Some(nonce + p.expiry_window.as_millis() as u64),
            network: p.network,
        };
        let body = sign::sign(p.signer, action, &signing)?;
        serde_json::to_value(&body).map_err(|e| e.to_string())
    }

    async fn send(&self, body: &Value) -> Result<String, OrderFailure> {
        let body: Body = serde_json::from_value(body.clone())
            .map_err(|e| OrderFailure::Rejected(format!("not a signed action: {e}")))?;
        match self.rest.exchange(&body).await {
            Ok(reply) => {
                let out = parse::order_reply(&reply);
                if let Some(oid) = out.as_ref().ok().and_then(|o| o.parse::<u64>().ok()) {
                    self.seen.insert(oid);
                }
                out
            }
            Err(RestError::RateLimited { retry_after }) => Err(OrderFailure::RateLimited { retry_after }),
            Err(RestError::Http { status, message }) if status < 500 => {
                Err(OrderFailure::Rejected(format!("HTTP {status}: {message}")))
            }
            Err(e) => self.settle(&body, e.to_string()).await,
        }
    }
}
