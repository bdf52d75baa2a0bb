//! Settling a close order whose reply was lost, on venues that do not
//! deduplicate a client order id (Hyperliquid's cloid is undocumented on
//! reuse; Binance refuses a duplicate only while the first order is open).
//! The order is asked for by its client order id until the request can no
//! longer land (its `expiresAfter` or `recvWindow` has passed): an order not
//! seen before in this intent is the lost one, and its status is the
//! answer; none by then means it never landed, and only then may the close
//! send again. Never a second blind send.

use std::collections::BTreeSet;
use std::future::Future;
use std::sync::Mutex;
use std::time::Duration;

use super::types::{OrderFailure, RestError};

/// The venue order ids an intent has already had answers for.
#[derive(Debug, Default)]
pub struct Seen(Mutex<BTreeSet<u64>>);

impl Seen {
    pub fn insert(&self, order_id: u64) {
        self.0.lock().unwrap_or_else(|e| e.into_inner()).insert(order_id);
    }

    fn contains(&self, order_id: u64) -> bool {
        self.0.lock().unwrap_or_else(|e| e.into_inner()).contains(&order_id)
    }
}

/// How long after the request can no longer land a failing query is still
/// tried before the outcome is called unknown.
const UNREADABLE_GRACE_MS: u64 = 10_000;

/// Asks `query` (the order under the intent's client order id: its venue id
/// and what its status means) every 250 ms until an order not in `seen`
/// appears (its meaning is returned, and it is seen), or `now_ms()` passes
/// `gone_after_ms` with none (it never landed: `NoFill`, so the loop re-reads
/// and sends again). A query that keeps failing past the grace is `Unknown`.
pub async fn settle<Q, QF>(
    mut query: Q,
    now_ms: impl Fn() -> u64,
    gone_after_ms: u64,
    seen: &Seen,
    why: String,
) -> Result<String, OrderFailure>
where
    Q: FnMut() -> QF,
    QF: Future<Output = Result<Option<(u64, Result<String, OrderFailure>)>, RestError>>,
{
    loop {
        match query().await {
            Ok(Some((order_id, meaning))) if !seen.contains(order_id) => {
                tracing::info!(order_id, meaning = ?meaning, "The lost close request landed.");
                seen.insert(order_id);
                return meaning;
            }
            Ok(_) if now_ms() > gone_after_ms => {
                return Err(OrderFailure::NoFill(format!(
                    "{why}; the venue has no such order after the request could no longer land: it never did"
                )));
            }
            Err(e) if now_ms() > gone_after_ms + UNREADABLE_GRACE_MS => {
                return Err(OrderFailure::Unknown(format!("{why}; the order is unreadable: {e}")));
            }
            Ok(_) | Err(_) => {}
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}
