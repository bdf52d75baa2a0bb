//! Carries out one reduce-only close, on any venue (pacifica.md §5–6,
//! nado.md §5).
//!
//! 1. A **fresh** position read, taken for this close: no fresh read, no
//!    order.
//! 2. [`crate::plan::close::size`] sizes it: reduce-only, floored to the lot,
//!    never more than the position.
//! 3. Disarmed, the exact signed request is returned (for the log), not sent.
//! 4. Armed, it is sent; what a refusal means is the venue's
//!    [`OrderFailure`]:
//!    - already flat: done;
//!    - an earlier try landed (Pacifica duplicate client order id, Nado
//!      digest exists): go verify;
//!    - does not fit the position, or (Nado) not filled at the worst price:
//!      re-read, re-size (and re-price), retry;
//!    - rate limited: wait as long as asked;
//!    - outcome unknown (5xx, timeout): Pacifica retries with the same
//!      client order id, which the venue deduplicates; Nado has no such id,
//!      so it re-reads and re-sizes first (reduce-only caps a late landing);
//!    - anything else: failed;
//!    - accepted: a Nado IOC has already matched when the reply comes; if
//!      it filled only partly, the rest is sized from a fresh read and sent.
//! 5. Verified afterwards by fresh reads until the position is at the sized
//!    target, or the verification timeout passes (unverified: page).
//!
//! Pacifica signs every retry with a new timestamp and the same client order
//! id; Nado with a fresh nonce (its receive window) and a worst price that
//! widens with each attempt, inside the venue's band.
//!
//! Cancel-safety: not cancel-safe once an order is sent; callers run it to
//! completion (the shutdown path waits for it).

use crate::journal::Status;
use std::time::Duration;

use rust_decimal::Decimal;
use serde_json::Value;

use crate::domain::{same_size, PositionKey};
use crate::plan::close::{self, CloseOrder, CloseTarget, OrderSide, Sizing};
use crate::venue::registry::{self, CloseJob, CloseKeys, Rest};
use crate::venue::types::{Backoff, CloseSettings, CloseVenue, OrderFailure, RestError};

/// How long a close waits out rate limits for its fresh read before it
/// gives up (the polls share the budget; a close outranks them but is not
/// allowed to overspend it).
pub const FRESH_READ_WAIT: Duration = Duration::from_secs(3);

/// How a close ended.
#[derive(Debug, Clone, PartialEq)]
pub enum CloseOutcome {
    /// Sent (or found to have landed) and seen done by a fresh read.
    Verified {
        /// The last order sent.
        order: CloseOrder,
        order_id: Option<String>,
        attempts: u32,
        /// How much the position came down, over every order of the intent
        /// (partial fills included), from the first fresh read to the last.
        closed: Decimal,
        /// The read that saw it done: when it was sent, and the position it saw.
        seen: (crate::domain::Timestamp, Decimal),
    },
    /// Sent, but the position had not reached its target within the timeout.
    Unverified {
        order: CloseOrder,
        order_id: Option<String>,
        position: Decimal,
        /// What a retry may still send: the intent's bound (its first fresh
        /// read's excess, or the cap it was given) less everything that may
        /// have filled; `None`: unbounded (a flatten, which reduce-only bounds).
        room: Option<Decimal>,
    },
    AlreadyFlat,
    NothingToReduce,
    BelowOneLot {
        wanted: Decimal,
    },
    /// Disarmed: this exact signed body would have been sent.
    Disarmed {
        order: CloseOrder,
        body: Value,
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
                closed,
                ..
            } => format!(
                "closed {} {} {} reduce-only (order {}, {attempts} attempt(s)), verified by a fresh REST read",
                order.side.as_str(),
                closed.normalize(),
                order.symbol,
                order_id
                    .clone()
                    .unwrap_or_else(|| "id lost; the venue confirmed an earlier try".to_owned())
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

    /// How it ends in the journal; its word is the label of
    /// `driftwatch_emergency_closes_total{result}`.
    pub fn result(&self) -> Status {
        match self {
            CloseOutcome::Verified { .. } => Status::Verified,
            CloseOutcome::Unverified { .. } => Status::Unverified,
            CloseOutcome::AlreadyFlat | CloseOutcome::NothingToReduce => Status::NothingToDo,
            CloseOutcome::BelowOneLot { .. } => Status::BelowLot,
            CloseOutcome::Disarmed { .. } => Status::Disarmed,
            CloseOutcome::Failed(_) => Status::Failed,
        }
    }
}

/// A fresh read for one close.
struct Fresh<R> {
    position: Decimal,
    /// What pricing the order needs (the venue's own).
    read: R,
}

/// A fresh read. A rate-limited read (the client's own budget, which the
/// polls share, or the venue's 429) is waited out for up to
/// [`FRESH_READ_WAIT`] in all; any other failure, or a longer wait, is no
/// read (and so no order).
async fn fresh_read<V: CloseVenue>(venue: &V, key: &PositionKey) -> Result<Fresh<V::Read>, String> {
    waiting_out_rate_limits(|| venue.read(key)).await
}

/// The fresh read a close starts from ([`CloseVenue::read_to_send`]).
async fn first_read<V: CloseVenue>(venue: &V, key: &PositionKey) -> Result<Fresh<V::Read>, String> {
    waiting_out_rate_limits(|| venue.read_to_send(key)).await
}

/// A read, retried after a rate limit while the wait fits [`FRESH_READ_WAIT`].
async fn waiting_out_rate_limits<R, F>(read: impl Fn() -> F) -> Result<Fresh<R>, String>
where
    F: std::future::Future<Output = Result<(Decimal, R), RestError>>,
{
    let deadline = tokio::time::Instant::now() + FRESH_READ_WAIT;
    loop {
        match read().await {
            Err(RestError::RateLimited { retry_after }) if tokio::time::Instant::now() + retry_after <= deadline => {
                tokio::time::sleep(retry_after).await;
            }
            r => {
                return r
                    .map(|(position, read)| Fresh { position, read })
                    .map_err(|e| format!("no fresh position read: {e}"))
            }
        }
    }
}

fn sized(symbol: &str, position: Decimal, target: CloseTarget, lot: Decimal) -> Result<CloseOrder, CloseOutcome> {
    match close::size(symbol, position, target, lot) {
        Sizing::Send(o) => Ok(o),
        Sizing::AlreadyFlat => Err(CloseOutcome::AlreadyFlat),
        Sizing::NothingToReduce => Err(CloseOutcome::NothingToReduce),
        Sizing::BelowOneLot { wanted } => Err(CloseOutcome::BelowOneLot { wanted }),
    }
}

/// One account's close, as configured: the venue client, the keys and
/// the close section.
pub struct AccountClose<'a> {
    pub rest: &'a Rest,
    /// The venue account's address (Pacifica: the main account; Nado: the
    /// owner; Hyperliquid: the master, sub-account or vault).
    pub address: &'a str,
    pub keys: &'a CloseKeys,
    pub close: &'a crate::config::CloseConfig,
    /// `close.armed`, unless a dry run says otherwise.
    pub armed: bool,
    /// At most this much in total (a retry's share of its decision).
    pub cap: Option<Decimal>,
    /// With leadership, nothing is sent once this replica no longer leads
    /// (`None`: the panic button, or a process acting alone).
    pub leadership: Option<&'a crate::leader::Leadership>,
}

/// A venue whose sends stop once this replica no longer leads: an intent
/// journaled under a leadership that has since lapsed (a leader stopped or
/// cut off mid-close) is left to the new leader, which resumes it with its
/// client order id. Reads and signing go through unchanged.
struct Fenced<'a, V> {
    venue: &'a V,
    /// `None`: nothing gates the sends (the panic button, a process alone).
    leadership: Option<&'a crate::leader::Leadership>,
}

impl<V: CloseVenue> CloseVenue for Fenced<'_, V> {
    type Read = V::Read;

    fn run(&self) -> crate::venue::types::CloseRun {
        self.venue.run()
    }

    fn fills_before_reply(&self) -> bool {
        self.venue.fills_before_reply()
    }

    fn idempotent(&self) -> bool {
        self.venue.idempotent()
    }

    async fn read(&self, key: &PositionKey) -> Result<(Decimal, V::Read), RestError> {
        self.venue.read(key).await
    }

    async fn read_to_send(&self, key: &PositionKey) -> Result<(Decimal, V::Read), RestError> {
        self.venue.read_to_send(key).await
    }

    async fn prepare(&self, read: &V::Read) {
        self.venue.prepare(read).await
    }

    async fn request(
        &self,
        order: &CloseOrder,
        read: &V::Read,
        client_order_id: &str,
        attempt: u32,
    ) -> Result<Value, String> {
        self.venue.request(order, read, client_order_id, attempt).await
    }

    async fn send(&self, body: &Value) -> Result<String, OrderFailure> {
        if self.leadership.is_some_and(|l| l.acting().is_none()) {
            return Err(OrderFailure::Rejected(
                "this replica no longer leads: not sent (the leader resumes the intent with its client order id)"
                    .into(),
            ));
        }
        self.venue.send(body).await
    }
}

/// The close loop as a [`CloseJob`], for the registry to run with the
/// account's venue closer.
struct Job<'a, G> {
    key: &'a PositionKey,
    leadership: Option<&'a crate::leader::Leadership>,
    target: CloseTarget,
    lot: Decimal,
    client_order_id: &'a str,
    gate: G,
    cap: Option<Decimal>,
}

impl<G> CloseJob for Job<'_, G>
where
    G: std::future::Future<Output = Result<(), String>> + Send,
{
    type Out = CloseOutcome;

    async fn run<V: CloseVenue>(self, venue: &V) -> CloseOutcome {
        let fenced = Fenced {
            venue,
            leadership: self.leadership,
        };
        close_capped(
            &fenced,
            self.key,
            self.target,
            self.lot,
            self.client_order_id,
            self.gate,
            self.cap,
        )
        .await
    }
}

/// Closes the leg `key` toward `target` for a configured account. Nothing
/// is sent before `journaled` has succeeded; the fresh read runs meanwhile.
pub async fn close_account(
    a: &AccountClose<'_>,
    key: &PositionKey,
    target: CloseTarget,
    lot: Decimal,
    client_order_id: &str,
    journaled: impl std::future::Future<Output = Result<(), String>> + Send,
) -> CloseOutcome {
    let cfg = a.close;
    let settings = CloseSettings {
        armed: a.armed,
        agent: cfg.agent,
        slippage_percent: cfg.slippage_percent,
        max_attempts: cfg.max_attempts,
        verify_timeout: cfg.verify_timeout,
        expiry_window: cfg.expiry_window,
        cancel_orders_first: cfg.cancel_orders_first,
    };
    let job = Job {
        key,
        leadership: a.leadership,
        target,
        lot,
        client_order_id,
        gate: journaled,
        cap: a.cap,
    };
    registry::with_closer(a.rest, a.keys, a.address, &settings, job)
        .await
        .unwrap_or_else(CloseOutcome::Failed)
}

/// Closes `symbol` (its net position) toward `target` on the closer's venue.
pub async fn close_with<V: CloseVenue>(
    venue: &V,
    symbol: &str,
    target: CloseTarget,
    lot: Decimal,
    client_order_id: &str,
) -> CloseOutcome {
    close_gated(venue, symbol, target, lot, client_order_id, std::future::ready(Ok(()))).await
}

/// [`close_with`], sending nothing unless `gate` (the journal's "before"
/// entry) succeeds. The fresh read is taken while the gate runs: reading
/// changes nothing, and the close is sooner by the journal's write.
pub async fn close_gated<V: CloseVenue>(
    venue: &V,
    symbol: &str,
    target: CloseTarget,
    lot: Decimal,
    client_order_id: &str,
    gate: impl std::future::Future<Output = Result<(), String>> + Send,
) -> CloseOutcome {
    close_capped(
        venue,
        &PositionKey::net(symbol),
        target,
        lot,
        client_order_id,
        gate,
        None,
    )
    .await
}

/// The longest a close waits out a venue's rate limit before an order.
pub const MAX_RATE_LIMIT_WAIT: Duration = Duration::from_secs(5);

/// Fits `order` into what the intent may still send (`room`, floored to the
/// lot; `None`: unbounded); `None` when nothing fits.
fn fit(mut order: CloseOrder, room: Option<Decimal>, lot: Decimal) -> Option<CloseOrder> {
    let Some(room) = room else { return Some(order) };
    let room = crate::plan::close::floor_to_lot(room.max(Decimal::ZERO), lot);
    if room <= Decimal::ZERO {
        return None;
    }
    order.amount = order.amount.min(room);
    Some(order)
}

/// [`close_gated`], never sending more in total than `cap` (a retry's share
/// of its decision), or without a cap than the first fresh read's excess:
/// one intent can never sum to more than the position at decision time.
/// What may have filled is counted pessimistically: an order whose outcome
/// is unknown counts whole (on a venue without client order ids every such
/// order may have filled; with one, at most the largest of them). A
/// `Flatten` needs no such bound: reduce-only stops every fill at zero,
/// which is its target.
pub async fn close_capped<V: CloseVenue>(
    venue: &V,
    key: &PositionKey,
    target: CloseTarget,
    lot: Decimal,
    client_order_id: &str,
    gate: impl std::future::Future<Output = Result<(), String>> + Send,
    cap: Option<Decimal>,
) -> CloseOutcome {
    let symbol = key.symbol.as_str();
    let (read, gate) = tokio::join!(first_read(venue, key), gate);
    if let Err(e) = gate {
        return CloseOutcome::Failed(format!("not sent: {e}"));
    }
    let mut fresh = match read {
        Ok(f) => f,
        Err(e) => return CloseOutcome::Failed(e),
    };
    let initial = fresh.position;
    let mut order = match sized(symbol, fresh.position, target, lot) {
        Ok(o) => o,
        Err(outcome) => return outcome,
    };
    let budget = match (cap, target) {
        (Some(c), _) => Some(c),
        (None, CloseTarget::Flatten) => None,
        (None, CloseTarget::ReduceTo(_)) => Some(order.amount),
    };
    let room = |spent: Decimal| budget.map(|b| b - spent);
    // What may have filled so far.
    let mut spent = Decimal::ZERO;
    let count = |spent: Decimal, amount: Decimal| {
        if venue.idempotent() {
            spent.max(amount)
        } else {
            spent + amount
        }
    };
    order = match fit(order, room(Decimal::ZERO), lot) {
        Some(o) => o,
        None => return CloseOutcome::NothingToReduce,
    };
    if !venue.run().armed {
        return match venue.request(&order, &fresh.read, client_order_id, 1).await {
            Ok(body) => CloseOutcome::Disarmed { order, body },
            Err(e) => CloseOutcome::Failed(e),
        };
    }
    // The first request is built (Nado: priced off the book read beside the
    // position) while any resting orders are cancelled; it is sent only
    // after both.
    let (_, first) = tokio::join!(
        venue.prepare(&fresh.read),
        venue.request(&order, &fresh.read, client_order_id, 1)
    );
    let mut first = Some(first);
    let mut backoff = Backoff::new(Duration::from_millis(250), Duration::from_secs(5));
    let mut order_id = None;
    let mut attempts = 0;
    // Whether `order` is the last one sent (else it is a re-sizing that did
    // not fit, and the position should stay where the last read found it).
    let mut order_sent = true;
    loop {
        if attempts >= venue.run().max_attempts {
            // An order whose reply was lost may have landed: a fresh read
            // settles it (verified or unverified) before anything is called failed.
            if spent.is_zero() {
                return CloseOutcome::Failed(format!("gave up after {attempts} attempts"));
            }
            tracing::warn!(
                symbol,
                client_order_id,
                attempts,
                "No reply to any attempt; settling the close by fresh reads."
            );
            break;
        }
        attempts += 1;
        let built = match first.take() {
            Some(b) => b,
            None => venue.request(&order, &fresh.read, client_order_id, attempts).await,
        };
        let body = match built {
            Ok(b) => b,
            Err(e) => return CloseOutcome::Failed(e),
        };
        let reread = match venue.send(&body).await {
            Ok(id) => {
                order_id = Some(id);
                if venue.fills_before_reply() && attempts < venue.run().max_attempts {
                    // An IOC's unfilled part is cancelled: send what remains.
                    // The reply does not say how much filled, and the bot may
                    // have moved the position meanwhile (a fill it masks), so
                    // the order counts whole: the rest is sent only where the
                    // intent has room (a flatten; a trim decides again).
                    if let Ok(f) = fresh_read(venue, key).await {
                        let moved = f.position != fresh.position;
                        if let (true, Ok(next)) = (moved, sized(symbol, f.position, target, lot)) {
                            let filled = (fresh.position.abs() - f.position.abs()).max(Decimal::ZERO);
                            spent += order.amount;
                            if let Some(next) = fit(next, room(spent), lot) {
                                tracing::info!(symbol, filled = %filled, remaining = %next.amount,
                                    "Close partly filled; sending the rest.");
                                fresh = f;
                                order = next;
                                continue;
                            }
                            fresh = f;
                            order_sent = false;
                            break;
                        }
                    }
                }
                spent = count(spent, order.amount);
                break;
            }
            // An earlier try landed: verify it.
            Err(OrderFailure::Landed(_)) => break,
            Err(OrderFailure::AlreadyFlat(_)) => return CloseOutcome::AlreadyFlat,
            Err(OrderFailure::Resize(_)) | Err(OrderFailure::NoFill(_)) => true,
            Err(OrderFailure::RateLimited { retry_after }) => {
                // A venue's wait is honoured only up to a bound: a close that
                // would sleep for minutes gives up and pages instead.
                if retry_after > MAX_RATE_LIMIT_WAIT {
                    return CloseOutcome::Failed(format!(
                        "rate limited for {} ms; not waiting longer than {} s",
                        retry_after.as_millis(),
                        MAX_RATE_LIMIT_WAIT.as_secs()
                    ));
                }
                tokio::time::sleep(retry_after).await;
                false
            }
            Err(OrderFailure::Unknown(e)) => {
                tracing::warn!(symbol, client_order_id, error = %e, "Close outcome unknown; retrying.");
                spent = count(spent, order.amount);
                tokio::time::sleep(backoff.next_delay(rand::random::<f64>())).await;
                !venue.idempotent()
            }
            Err(e @ OrderFailure::Rejected(_)) => return CloseOutcome::Failed(e.to_string()),
        };
        if reread {
            fresh = match fresh_read(venue, key).await {
                Ok(f) => f,
                Err(e) => return CloseOutcome::Failed(e),
            };
            order = match sized(symbol, fresh.position, target, lot) {
                Ok(o) => o,
                Err(outcome) => return outcome,
            };
            order = match fit(order.clone(), room(spent), lot) {
                Some(o) => o,
                // Everything this intent may send may have filled: verify.
                None => {
                    order_sent = false;
                    break;
                }
            };
        }
    }
    // Verify: the position must reach what the order leaves.
    let expected = fresh.position;
    let leaves = match order.side {
        // Nothing more may be sent: the position must reach the target by
        // what was sent already.
        _ if !order_sent => match target {
            CloseTarget::ReduceTo(t) if !t.is_zero() && t.is_sign_negative() == expected.is_sign_negative() => t,
            _ => Decimal::ZERO,
        },
        OrderSide::Ask => expected - order.amount,
        OrderSide::Bid => expected + order.amount,
    };
    let deadline = tokio::time::Instant::now() + venue.run().verify_timeout;
    let mut last = expected;
    loop {
        let read_at = crate::clock::now();
        if let Ok(f) = fresh_read(venue, key).await {
            last = f.position;
            // Done when it is at (or nearer zero than) what the order leaves.
            if same_size(last, leaves, Some(lot)) || last.abs() < leaves.abs() {
                return CloseOutcome::Verified {
                    order,
                    order_id,
                    attempts,
                    closed: (initial.abs() - last.abs()).max(Decimal::ZERO),
                    seen: (read_at, last),
                };
            }
        }
        if tokio::time::Instant::now() >= deadline {
            return CloseOutcome::Unverified {
                order,
                order_id,
                position: last,
                room: room(spent).map(|r| r.max(Decimal::ZERO)),
            };
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}
