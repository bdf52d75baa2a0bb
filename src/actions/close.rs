//! Carries out one reduce-only close on Pacifica (pacifica.md §5–6).
//!
//! 1. A **fresh** `GET /positions` read, taken for this close: no fresh
//!    read, no order.
//! 2. [`crate::plan::close::size`] sizes it: reduce-only, floored to the lot,
//!    never more than the position.
//! 3. Disarmed, the exact signed request is returned (for the log), not sent.
//! 4. Armed, it is sent with one client order id for the whole intent;
//!    every retry is re-signed with a new timestamp and the same id:
//!    - 23 / 422 "No position found": already flat, done;
//!    - 36 duplicate id: an earlier try landed, go verify;
//!    - 22 exceeds the position: re-read and re-size;
//!    - 429: wait as long as asked; a 5xx, timeout or transport error: the
//!      outcome is unknown, retry (the same id makes that safe);
//!    - anything else: failed.
//! 5. Verified afterwards by REST reads until the position is at the sized
//!    target, or the verification timeout passes (unverified: page).
//!
//! Cancel-safety: not cancel-safe once an order is sent; callers run it to
//! completion (the shutdown path waits for it).

use std::time::Duration;

use rust_decimal::Decimal;
use serde_json::{Map, Value};

use crate::clock;
use crate::domain::same_size;
use crate::plan::close::{self, CloseOrder, CloseTarget, Sizing};
use crate::venue::pacifica::http::RestClient;
use crate::venue::pacifica::parse::OrderError;
use crate::venue::pacifica::sign::{self, Header, Keypair};
use crate::venue::Backoff;

/// How to send closes for one account.
pub struct CloseParams<'a> {
    /// The main account's address.
    pub account: &'a str,
    /// The main key, or an agent wallet bound to the account.
    pub signer: &'a Keypair,
    pub agent: bool,
    /// Worst acceptable slippage, in percent, as a decimal string.
    pub slippage_percent: Decimal,
    pub expiry_window_ms: u64,
    pub max_attempts: u32,
    pub verify_timeout: Duration,
    pub armed: bool,
}

/// How a close ended.
#[derive(Debug, Clone, PartialEq)]
pub enum CloseOutcome {
    /// Sent (or found to have landed) and seen done by a fresh read.
    Verified {
        order: CloseOrder,
        order_id: Option<u64>,
        attempts: u32,
    },
    /// Sent, but the position had not reached its target within the timeout.
    Unverified {
        order: CloseOrder,
        order_id: Option<u64>,
        position: Decimal,
    },
    AlreadyFlat,
    NothingToReduce,
    BelowOneLot {
        wanted: Decimal,
    },
    /// Disarmed: this exact signed body would have been sent.
    Disarmed {
        order: CloseOrder,
        body: Map<String, Value>,
    },
    Failed(String),
}

impl CloseOutcome {
    /// One line for logs, pages and the table.
    pub fn describe(&self) -> String {
        match self {
            CloseOutcome::Verified {
                order,
                order_id,
                attempts,
            } => format!(
                "closed {} {} {} reduce-only (order {}, {attempts} attempt(s)), verified",
                order.side.as_str(),
                order.amount,
                order.symbol,
                order_id.map_or("id lost; duplicate id confirmed it".to_owned(), |i| i.to_string())
            ),
            CloseOutcome::Unverified { order, position, .. } => format!(
                "sent {} {} {} reduce-only, but the position is still {position}",
                order.side.as_str(),
                order.amount,
                order.symbol
            ),
            CloseOutcome::AlreadyFlat => "already flat".into(),
            CloseOutcome::NothingToReduce => "nothing to reduce".into(),
            CloseOutcome::BelowOneLot { wanted } => format!("{wanted} is less than one lot; nothing sent"),
            CloseOutcome::Disarmed { order, .. } => format!(
                "disarmed: would send {} {} {} reduce-only (nothing sent)",
                order.side.as_str(),
                order.amount,
                order.symbol
            ),
            CloseOutcome::Failed(e) => format!("failed: {e}"),
        }
    }

    /// The label for `driftwatch_emergency_closes_total{result}`.
    pub fn result(&self) -> &'static str {
        match self {
            CloseOutcome::Verified { .. } => "verified",
            CloseOutcome::Unverified { .. } => "unverified",
            CloseOutcome::AlreadyFlat | CloseOutcome::NothingToReduce => "nothing_to_do",
            CloseOutcome::BelowOneLot { .. } => "below_lot",
            CloseOutcome::Disarmed { .. } => "disarmed",
            CloseOutcome::Failed(_) => "failed",
        }
    }
}

/// The payload of a reduce-only market close (the SDK's field set).
pub fn payload(order: &CloseOrder, slippage_percent: Decimal, client_order_id: &str) -> Map<String, Value> {
    let mut p = Map::new();
    p.insert("symbol".into(), Value::String(order.symbol.clone()));
    p.insert("reduce_only".into(), Value::Bool(true));
    p.insert("amount".into(), Value::String(order.amount.normalize().to_string()));
    p.insert("side".into(), Value::String(order.side.as_str().into()));
    p.insert(
        "slippage_percent".into(),
        Value::String(slippage_percent.normalize().to_string()),
    );
    p.insert("client_order_id".into(), Value::String(client_order_id.to_owned()));
    p
}

/// Signs the close as of `timestamp_ms`.
pub fn signed_body(
    params: &CloseParams<'_>,
    order: &CloseOrder,
    client_order_id: &str,
    timestamp_ms: u64,
) -> Result<Map<String, Value>, String> {
    let header = Header {
        kind: "create_market_order".into(),
        timestamp: timestamp_ms,
        expiry_window: params.expiry_window_ms,
    };
    let p = payload(order, params.slippage_percent, client_order_id);
    sign::sign_request(params.account, params.signer, params.agent, &header, &p)
        .map(|s| s.body)
        .map_err(|e| e.to_string())
}

async fn fresh_position(rest: &RestClient, symbol: &str) -> Result<Decimal, String> {
    let snap = rest
        .positions()
        .await
        .map_err(|e| format!("no fresh position read: {e}"))?;
    Ok(snap
        .positions
        .iter()
        .filter(|p| p.key.symbol == symbol)
        .map(|p| p.size)
        .sum())
}

/// Closes `symbol` toward `target`. `client_order_id` identifies the intent
/// (journal it before calling).
pub async fn close_position(
    rest: &RestClient,
    params: &CloseParams<'_>,
    symbol: &str,
    target: CloseTarget,
    lot: Decimal,
    client_order_id: &str,
) -> CloseOutcome {
    let position = match fresh_position(rest, symbol).await {
        Ok(p) => p,
        Err(e) => return CloseOutcome::Failed(e),
    };
    let mut order = match close::size(symbol, position, target, lot) {
        Sizing::Send(o) => o,
        Sizing::AlreadyFlat => return CloseOutcome::AlreadyFlat,
        Sizing::NothingToReduce => return CloseOutcome::NothingToReduce,
        Sizing::BelowOneLot { wanted } => return CloseOutcome::BelowOneLot { wanted },
    };
    if !params.armed {
        return match signed_body(params, &order, client_order_id, clock::now().0 as u64) {
            Ok(body) => CloseOutcome::Disarmed { order, body },
            Err(e) => CloseOutcome::Failed(e),
        };
    }
    let mut backoff = Backoff::new(Duration::from_millis(250), Duration::from_secs(5));
    let mut order_id = None;
    let mut attempts = 0;
    let mut expected = position;
    loop {
        if attempts >= params.max_attempts {
            return CloseOutcome::Failed(format!("gave up after {attempts} attempts"));
        }
        attempts += 1;
        let body = match signed_body(params, &order, client_order_id, clock::now().0 as u64) {
            Ok(b) => b,
            Err(e) => return CloseOutcome::Failed(e),
        };
        match rest.create_market_order(&body).await {
            Ok(id) => {
                order_id = Some(id);
                break;
            }
            // An earlier try landed: verify it.
            Err(OrderError::DuplicateClientOrderId(_)) => break,
            Err(OrderError::NoPosition(_)) => return CloseOutcome::AlreadyFlat,
            Err(OrderError::ExceedsPosition(_)) | Err(OrderError::WrongSide(_)) => {
                let fresh = match fresh_position(rest, symbol).await {
                    Ok(p) => p,
                    Err(e) => return CloseOutcome::Failed(e),
                };
                expected = fresh;
                order = match close::size(symbol, fresh, target, lot) {
                    Sizing::Send(o) => o,
                    Sizing::AlreadyFlat => return CloseOutcome::AlreadyFlat,
                    Sizing::NothingToReduce => return CloseOutcome::NothingToReduce,
                    Sizing::BelowOneLot { wanted } => return CloseOutcome::BelowOneLot { wanted },
                };
            }
            Err(OrderError::RateLimited { retry_after }) => tokio::time::sleep(retry_after).await,
            Err(OrderError::Unknown(e)) => {
                tracing::warn!(symbol, client_order_id, error = %e, "Close outcome unknown; retrying with the same client order id.");
                tokio::time::sleep(backoff.next_delay(rand::random::<f64>())).await;
            }
            Err(e @ OrderError::Rejected { .. }) => return CloseOutcome::Failed(e.to_string()),
        }
    }
    // Verify: the position must reach what the order leaves.
    let leaves = match order.side {
        close::OrderSide::Ask => expected - order.amount,
        close::OrderSide::Bid => expected + order.amount,
    };
    let deadline = tokio::time::Instant::now() + params.verify_timeout;
    let mut last = expected;
    loop {
        if let Ok(p) = fresh_position(rest, symbol).await {
            last = p;
            // Done when it is at (or nearer zero than) what the order leaves.
            if same_size(p, leaves, Some(lot)) || p.abs() < leaves.abs() {
                return CloseOutcome::Verified {
                    order,
                    order_id,
                    attempts,
                };
            }
        }
        if tokio::time::Instant::now() >= deadline {
            return CloseOutcome::Unverified {
                order,
                order_id,
                position: last,
            };
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}
