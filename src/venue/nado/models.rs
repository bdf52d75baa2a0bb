//! Nado's wire types, exactly as shared/venues/nado.md documents them. They
//! never leave this folder: `parse` turns them into venue-neutral values.
//! Every 64/128-bit number is a string on the wire (or a JSON number that
//! may exceed 2^53): parsed as integers, never floats.

use serde::Deserialize;
use serde_json::value::RawValue;

/// The envelope of every query and execute response.
#[derive(Debug, Deserialize)]
pub struct Envelope<T> {
    pub status: String,
    #[serde(default = "Option::default")]
    pub data: Option<T>,
    #[serde(default)]
    pub error: Option<String>,
    #[serde(default)]
    pub error_code: Option<i64>,
    #[serde(default)]
    pub request_type: Option<String>,
}

#[derive(Debug, Deserialize)]
pub struct Contracts {
    pub chain_id: String,
    pub endpoint_addr: String,
}

#[derive(Debug, Deserialize)]
pub struct Symbols {
    pub symbols: std::collections::BTreeMap<String, SymbolInfo>,
}

#[derive(Debug, Deserialize)]
pub struct SymbolInfo {
    #[serde(rename = "type")]
    pub kind: String,
    pub product_id: u32,
    pub symbol: String,
    pub price_increment_x18: String,
    pub size_increment: String,
    pub min_size: String,
    #[serde(default)]
    pub trading_status: Option<String>,
}

#[derive(Debug, Deserialize)]
pub struct SubaccountInfo {
    pub subaccount: String,
    pub exists: bool,
    #[serde(default)]
    pub perp_balances: Vec<PerpBalance>,
    #[serde(default)]
    pub perp_products: Vec<PerpProduct>,
}

#[derive(Debug, Deserialize)]
pub struct PerpBalance {
    pub product_id: u32,
    pub balance: Balance,
}

#[derive(Debug, Deserialize)]
pub struct Balance {
    pub amount: String,
    #[serde(default)]
    pub v_quote_balance: Option<String>,
}

#[derive(Debug, Deserialize)]
pub struct PerpProduct {
    pub product_id: u32,
    pub oracle_price_x18: String,
    pub book_info: BookInfo,
}

#[derive(Debug, Deserialize)]
pub struct BookInfo {
    pub size_increment: String,
    pub price_increment_x18: String,
    pub min_size: String,
}

#[derive(Debug, Deserialize)]
pub struct IsolatedPositions {
    pub isolated_positions: Vec<IsolatedPosition>,
}

#[derive(Debug, Deserialize)]
pub struct IsolatedPosition {
    pub subaccount: String,
    pub base_balance: PerpBalance,
}

/// `max_order_size`: the largest order the engine would take (x18).
#[derive(Debug, Deserialize)]
pub struct MaxOrderSize {
    pub max_order_size: String,
}

/// `subaccount_orders`: the subaccount's resting orders on one product
/// (only whether there are any is used).
#[derive(Debug, Deserialize)]
pub struct SubaccountOrders {
    pub orders: Vec<OpenOrder>,
}

#[derive(Debug, Deserialize)]
pub struct OpenOrder {
    pub product_id: u32,
    pub unfilled_amount: String,
}

#[derive(Debug, Deserialize)]
pub struct MarketPrice {
    pub product_id: u32,
    pub bid_x18: String,
    pub ask_x18: String,
}

#[derive(Debug, Deserialize)]
pub struct PlaceOrderData {
    pub digest: String,
}

/// A subscriptions-socket frame's `type` member, read while the rest of the
/// frame is stepped over: an event has one (`position_change`, `fill`,
/// `liquidation`, others), a reply has none. The frame is then read once,
/// as the struct its type names (no `serde_json::Value` in between, and no
/// internally tagged enum, which buffers the whole frame).
#[derive(Debug, Deserialize)]
pub struct Kind<'a> {
    #[serde(rename = "type", default, borrow)]
    pub tag: Tag<'a>,
}

/// Whether a frame has a `type` member, and its text as written (a `null`
/// type is a type, as it was when frames were read into a `Value`).
#[derive(Debug, Default)]
pub enum Tag<'a> {
    #[default]
    Absent,
    Present(&'a RawValue),
}

impl<'de: 'a, 'a> Deserialize<'de> for Tag<'a> {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        <&'a RawValue>::deserialize(d).map(Tag::Present)
    }
}

#[derive(Debug, Deserialize)]
pub struct PositionChange {
    /// Nanoseconds, as a string.
    pub timestamp: String,
    pub product_id: u32,
    pub subaccount: String,
    #[serde(default)]
    pub isolated: bool,
    /// The new absolute balance, not a delta.
    pub amount: String,
    #[serde(default)]
    pub v_quote_amount: Option<String>,
    pub reason: String,
}

#[derive(Debug, Deserialize)]
pub struct Fill {
    pub timestamp: String,
    pub product_id: u32,
    pub subaccount: String,
    pub order_digest: String,
    pub filled_qty: String,
    pub price: String,
    pub is_bid: bool,
    /// A JSON number up to 2^64: u64, never f64.
    #[serde(default)]
    pub id: Option<u64>,
}

#[derive(Debug, Deserialize)]
pub struct Liquidation {
    pub timestamp: String,
    pub product_ids: Vec<u32>,
    pub liquidatee: String,
}

/// A reply to a control message (`subscribe`, `ping`, ...), or an error.
#[derive(Debug, Deserialize)]
pub struct Reply {
    #[serde(default)]
    pub result: Option<serde_json::Value>,
    #[serde(default)]
    pub id: Option<u64>,
    #[serde(default)]
    pub error: Option<String>,
    #[serde(default)]
    pub error_code: Option<i64>,
}
