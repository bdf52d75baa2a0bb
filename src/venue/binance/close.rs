//! Binance USDⓈ-M's side of a reduce-only close (binance_usdm.md §5): a
//! MARKET order (`newOrderRespType=RESULT`, so the reply carries the fill),
//! `reduceOnly=true` in one-way mode, or the leg's own side with
//! `positionSide` in hedge mode; sized from a fresh `positionRisk`, at most
//! `MARKET_LOT_SIZE.maxQty` per order; the intent's journaled client order
//! id as `newClientOrderId`.
//!
//! Binance rejects a duplicate client order id only while the first order
//! is open, and a MARKET order never rests: a re-send after a lost reply
//! could trade twice. So a lost reply is settled by querying the order by
//! its client order id until the request's `recvWindow` has passed (the
//! venue refuses it after that): an order not seen before is the lost one;
//! `−2013` after the window means it never landed, and only then is the
//! close tried again.

use rust_decimal::Decimal;
use serde_json::Value;

use super::http::RestClient;
use super::parse::{self, Market};
use super::sign::{self, Close, PositionSide};
use crate::domain::{Leg, PositionKey};
use crate::venue::lost_reply::{self, Seen};
use crate::venue::types::{CloseOrder, CloseRun, CloseVenue, OrderFailure, OrderSide, RestError};

/// How to send closes for one Binance account.
pub struct BinanceCloseParams {
    pub run: CloseRun,
    /// On −4118 (resting reduce-only orders already cover the position),
    /// cancel the symbol's resting orders and close (`close.cancel_orders_first`).
    pub cancel_orders_first: bool,
}

/// A fresh read's extras: which leg is open, and its market's rules.
#[derive(Debug, Clone)]
pub struct BinanceRead {
    pub leg: Leg,
    pub market: Market,
}

/// Closes on one Binance account.
pub struct BinanceCloser<'a> {
    pub rest: &'a RestClient,
    pub params: &'a BinanceCloseParams,
    /// Order ids already answered for in this intent.
    seen: Seen,
    /// The symbol's market rules, read once per intent.
    market: tokio::sync::OnceCell<Market>,
}

impl<'a> BinanceCloser<'a> {
    pub fn new(rest: &'a RestClient, params: &'a BinanceCloseParams) -> Self {
        BinanceCloser {
            rest,
            params,
            seen: Seen::default(),
            market: tokio::sync::OnceCell::new(),
        }
    }

    /// A request whose reply was lost: what became of it, by its client
    /// order id, until its `recvWindow` has passed (a margin for the clocks).
    async fn settle(
        &self,
        symbol: &str,
        client_order_id: &str,
        timestamp: u64,
        why: String,
    ) -> Result<String, OrderFailure> {
        let query = || async {
            let state = self.rest.query_order(symbol, client_order_id).await?;
            Ok(state.map(|s| (s.order_id, parse::settled(s).map(|s| s.order_id.to_string()))))
        };
        let gone_after = timestamp + self.rest.recv_window() + 2_000;
        lost_reply::settle(query, || self.rest.venue_now_ms(), gone_after, &self.seen, why).await
    }
}

impl CloseVenue for BinanceCloser<'_> {
    type Read = BinanceRead;

    fn run(&self) -> CloseRun {
        self.params.run
    }

    /// A MARKET order with `RESULT` has traded when the reply comes.
    fn fills_before_reply(&self) -> bool {
        true
    }

    /// A lost reply is settled by the client order id before anything is
    /// sent again.
    fn idempotent(&self) -> bool {
        true
    }

    /// No more than [`CloseVenue::read`]: the first order needs nothing else.
    async fn read_to_send(&self, key: &PositionKey) -> Result<(Decimal, BinanceRead), RestError> {
        self.read(key).await
    }

    /// The leg's own size: in hedge mode the other leg of the symbol may be
    /// open beside it and is left alone. A net close on a symbol whose
    /// hedge legs are open (the account is in hedge mode) is refused.
    async fn read(&self, key: &PositionKey) -> Result<(Decimal, BinanceRead), RestError> {
        let symbol = key.symbol.as_str();
        let snap = self.rest.positions().await?;
        let open = snap
            .positions
            .iter()
            .filter(|p| p.key.symbol == symbol && !p.size.is_zero());
        let size = match key.leg {
            Leg::Net => {
                if let Some(p) = open.clone().find(|p| p.key.leg.is_hedge()) {
                    return Err(RestError::Decode(format!(
                        "{symbol}: the account holds hedge legs ({}), not a net position",
                        p.key
                    )));
                }
                open.filter(|p| p.key.leg == Leg::Net).map(|p| p.size).sum()
            }
            Leg::Long | Leg::Short => open.filter(|p| p.key == *key).map(|p| p.size).sum(),
            Leg::Isolated => return Err(RestError::Decode(format!("{key}: Binance has no isolated legs here"))),
        };
        // The market only the first time: the verification's reads stay cheap.
        let market = self.market.get_or_try_init(|| self.rest.market(symbol)).await?.clone();
        Ok((size, BinanceRead { leg: key.leg, market }))
    }

    async fn prepare(&self, _: &BinanceRead) {}

    async fn request(
        &self,
        order: &CloseOrder,
        read: &BinanceRead,
        client_order_id: &str,
        _: u32,
    ) -> Result<Value, String> {
        let position_side = match read.leg {
            Leg::Long => Some(PositionSide::Long),
            Leg::Short => Some(PositionSide::Short),
            Leg::Net => None,
            Leg::Isolated => return Err("isolated legs are not closed here".into()),
        };
        let quantity = if read.market.max_qty > Decimal::ZERO {
            order.amount.min(read.market.max_qty)
        } else {
            order.amount
        };
        let params = sign::close_params(&Close {
            symbol: order.symbol.clone(),
            buy: order.side == OrderSide::Bid,
            quantity,
            position_side,
            client_order_id: client_order_id.to_owned(),
            resp_type: Some("RESULT".into()),
        })?;
        let signed = self.rest.sign_order(params);
        Ok(serde_json::json!({
            "method": signed.method,
            "url": signed.url(self.rest.base()),
            "signed_string": signed.signed_string,
            "signature": signed.signature,
            "symbol": order.symbol,
            "client_order_id": client_order_id,
        }))
    }

    async fn send(&self, body: &Value) -> Result<String, OrderFailure> {
        let text = |k: &str| body.get(k).and_then(Value::as_str).unwrap_or_default().to_owned();
        let (url, symbol, client_order_id) = (text("url"), text("symbol"), text("client_order_id"));
        let timestamp = text("signed_string")
            .rsplit("timestamp=")
            .next()
            .and_then(|t| t.parse::<u64>().ok())
            .unwrap_or_else(|| self.rest.venue_now_ms());
        match self.rest.post_order(&url).await {
            Ok(s) => {
                self.seen.insert(s.order_id);
                Ok(s.order_id.to_string())
            }
            Err(OrderFailure::Unknown(why)) => self.settle(&symbol, &client_order_id, timestamp, why).await,
            // Resting reduce-only orders cover the position: with the
            // operator's leave, they go, and the close is sized again.
            Err(OrderFailure::Resize(m)) if m.starts_with("-4118") && self.params.cancel_orders_first => {
                match self.rest.cancel_open_orders(&symbol).await {
                    Ok(()) => tracing::warn!(
                        symbol,
                        "Resting orders covered the position (-4118): cancelled them to close."
                    ),
                    Err(e) => tracing::warn!(symbol, error = %e, "Cannot cancel the resting orders behind -4118."),
                }
                Err(OrderFailure::Resize(m))
            }
            Err(e) => Err(e),
        }
    }
}
