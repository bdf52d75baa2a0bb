//! Pacifica wire types (shared/venues/pacifica.md §2–4). Decimal fields are
//! JSON strings and are read straight into `Decimal`; nothing passes through
//! `f64`. Unknown fields are ignored: the venue adds fields over time.

use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};

/// One item of REST `GET /positions` `data[]`.
#[derive(Debug, Clone, Deserialize)]
pub struct RestPosition {
    pub symbol: String,
    pub side: String,
    pub amount: Decimal,
    #[serde(default)]
    pub entry_price: Option<Decimal>,
}

/// One item of REST `GET /info` `data[]`.
#[derive(Debug, Clone, Deserialize)]
pub struct RestMarket {
    pub symbol: String,
    pub tick_size: Decimal,
    pub lot_size: Decimal,
    #[serde(default)]
    pub instrument_type: Option<String>,
}

/// One item of a WebSocket `account_positions` frame. Strings are borrowed
/// from the frame where they have no escapes (this is the hot path).
#[derive(Debug, Clone, Deserialize, Serialize)]
pub struct WsPosition<'a> {
    #[serde(borrow)]
    pub s: std::borrow::Cow<'a, str>,
    #[serde(borrow)]
    pub d: std::borrow::Cow<'a, str>,
    pub a: Decimal,
    #[serde(default)]
    pub p: Option<Decimal>,
}

/// One item of a WebSocket `account_trades` frame.
#[derive(Debug, Clone, Deserialize)]
pub struct WsTrade {
    pub s: String,
    /// Cause: `normal`, `market_liquidation`, `backstop_liquidation`,
    /// `settlement` (ADL).
    #[serde(default)]
    pub tc: Option<String>,
}
