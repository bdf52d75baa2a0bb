//! A mapping as written in the config file: [`RawMapping`] and the typed
//! values it holds ([`Word`]). Validation is [`super::mapping`]'s.

use std::collections::BTreeMap;

use serde::Deserialize;

/// A value as written in the config file: YAML's `true`/`false`, a whole
/// number, or text. A boolean matches a boolean column however the dialect
/// stores it (PostgreSQL `boolean`, MySQL `tinyint`, SQLite 0/1).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(untagged)]
pub enum Word {
    Bool(bool),
    Int(i64),
    Text(String),
}

impl Word {
    /// As compared and shown: `true`/`false`, the digits, or the text.
    pub fn text(&self) -> String {
        match self {
            Word::Bool(b) => b.to_string(),
            Word::Int(i) => i.to_string(),
            Word::Text(t) => t.clone(),
        }
    }

    pub fn is_bool(&self) -> bool {
        matches!(self, Word::Bool(_))
    }
}

impl From<&str> for Word {
    fn from(s: &str) -> Word {
        Word::Text(s.to_owned())
    }
}

/// A mapping as written in the config file.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawMapping {
    /// Start from a known bot's schema: `nexwave`.
    pub preset: Option<String>,
    pub table: Option<String>,
    pub key_column: Option<String>,
    pub symbol_column: Option<String>,
    pub side_column: Option<String>,
    pub amount_column: Option<String>,
    pub long_values: Option<Vec<Word>>,
    pub short_values: Option<Vec<Word>>,
    /// The amount column is signed and there is no side column.
    #[serde(default)]
    pub signed_amount: bool,
    #[serde(default)]
    pub filter: BTreeMap<String, Word>,
    #[serde(default)]
    pub symbols: BTreeMap<String, String>,
    /// The bot's spelling around the venue symbol: `{symbol}/USDC:USDC`.
    pub symbol_pattern: Option<String>,
    /// A regular expression with a named capture `symbol` (reading only).
    pub symbol_regex: Option<String>,
    pub updated_at_column: Option<String>,
    pub entry_price_column: Option<String>,
    #[serde(default)]
    pub insert_values: BTreeMap<String, String>,
    pub insert_timestamp_columns: Option<Vec<String>>,
    /// `net` (default), `isolated`, or `by_side` (hedge mode).
    pub leg: Option<RawLeg>,
    /// `delete` (default), `close` (with `close_set`) or `alert_only`.
    pub on_stale: Option<RawOnStale>,
    /// Columns a close sets: literals, `{now}`, `{mark_price}`.
    pub close_set: Option<BTreeMap<String, Word>>,
    /// `update` (default) or `alert_only`.
    pub on_resize: Option<RawOnResize>,
    /// `insert` (default; the account's `correct.insert` must also say so)
    /// or `alert_only`.
    pub on_missing: Option<RawOnMissing>,
    /// The bot's orders table: a row with an open order is not closed.
    pub open_orders: Option<RawOpenOrders>,
    /// The row's leverage, for `{pnl_ratio}`.
    pub leverage_column: Option<String>,
    /// Amounts stored as integers times 10^scale (Hummingbot: 6).
    pub amount_scale: Option<u32>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawOpenOrders {
    pub table: String,
    pub foreign_key: String,
    #[serde(default)]
    pub filter: BTreeMap<String, Word>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RawOnStale {
    Delete,
    Close,
    AlertOnly,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RawOnResize {
    Update,
    AlertOnly,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RawOnMissing {
    Insert,
    AlertOnly,
}

/// The mapping's `leg` as written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RawLeg {
    Net,
    Isolated,
    /// Hedge mode: a row's side names its leg.
    BySide,
    /// Refused with a hint (`by_side` is meant).
    Long,
    Short,
}
