//! Pacifica's side of a reduce-only close (pacifica.md §5–6): a market
//! order with `reduce_only` and a client order id the venue deduplicates,
//! so a retry after a lost reply cannot fill twice. Every retry is signed
//! with a new timestamp and the same client order id.

use rust_decimal::Decimal;
use serde_json::{Map, Value};

use super::http::RestClient;
use super::parse::OrderError;
use super::sign::{self, Header, Keypair};
use crate::venue::types::{CloseOrder, CloseRun, CloseVenue, OrderFailure, RestError};

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
    pub run: CloseRun,
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

impl From<OrderError> for OrderFailure {
    fn from(e: OrderError) -> OrderFailure {
        match e {
            OrderError::NoPosition(m) => OrderFailure::AlreadyFlat(m),
            OrderError::DuplicateClientOrderId(m) => OrderFailure::Landed(m),
            OrderError::ExceedsPosition(m) | OrderError::WrongSide(m) => OrderFailure::Resize(m),
            OrderError::RateLimited { retry_after } => OrderFailure::RateLimited { retry_after },
            OrderError::Unknown(m) => OrderFailure::Unknown(m),
            e @ OrderError::Rejected { .. } => OrderFailure::Rejected(e.to_string()),
        }
    }
}

/// Closes on one Pacifica account.
pub struct PacificaCloser<'a> {
    pub rest: &'a RestClient,
    pub params: &'a CloseParams<'a>,
}

impl CloseVenue for PacificaCloser<'_> {
    type Read = ();

    fn run(&self) -> CloseRun {
        self.params.run
    }

    fn fills_before_reply(&self) -> bool {
        false
    }

    fn idempotent(&self) -> bool {
        true
    }

    /// No more than [`CloseVenue::read`]: the first order needs nothing else.
    async fn read_to_send(&self, key: &crate::domain::PositionKey) -> Result<(Decimal, ()), RestError> {
        self.read(key).await
    }

    async fn read(&self, key: &crate::domain::PositionKey) -> Result<(Decimal, ()), RestError> {
        let symbol = crate::venue::types::net_leg(key)?;
        Ok((self.rest.positions().await?.size_of(symbol), ()))
    }

    async fn prepare(&self, _: &()) {}

    async fn request(&self, order: &CloseOrder, _: &(), client_order_id: &str, _: u32) -> Result<Value, String> {
        signed_body(self.params, order, client_order_id, crate::clock::now().0 as u64).map(Value::Object)
    }

    async fn send(&self, body: &Value) -> Result<String, OrderFailure> {
        let Value::Object(map) = body else {
            return Err(OrderFailure::Rejected("not an object".into()));
        };
        self.rest
            .create_market_order(map)
            .await
            .map(|id| id.to_string())
            .map_err(Into::into)
    }
}
