//! Mappings for known bots, by name. Each is the bot's schema as its own
//! code creates it; a config may override any field.
//!
//! - `nexwave`: shared/botdb/nexwave_positions.sql, unchanged. The bot
//!   writes the exchange's words `bid`/`ask`, its model comment says
//!   `long`/`short`, so both are read; `bid`/`ask` are written.
//! - `freqtrade`: Freqtrade's `trades` table (SQLite or PostgreSQL), one
//!   row per trade, `is_open` marking the open ones, `is_short` the side,
//!   pairs spelt `BTC/USDC:USDC`. A trade is never deleted (its `orders`
//!   rows hold a foreign key to it): a stale trade is closed the way
//!   Freqtrade closes one. A trade is never written from the exchange's
//!   side (its NOT NULL columns are the bot's knowledge), nor resized
//!   (its amount is the sum of its orders), nor closed while one of its
//!   orders is open (`orders.ft_is_open`): the bot is settling it.
//! - `hummingbot`: Hummingbot's `Position` table (strategy V2 position
//!   holds; SQLite or PostgreSQL): one row per controller, connector, pair
//!   and side, `BUY`/`SELL`, amounts as integers × 10^6, pairs spelt
//!   `BTC-USDT`. Hummingbot never deletes a row; when a long closes it sets
//!   the row's amount to 0 (`MarketsRecorder.update_or_store_position`),
//!   which is what a stale row gets here (and which mends the stale `SELL`
//!   rows Hummingbot itself leaves when a short closes).

use std::collections::BTreeMap;

use super::raw::{RawMapping, RawOnMissing, RawOnResize, RawOnStale, RawOpenOrders, Word};

/// The names of the presets, for error messages.
pub const PRESETS: &[&str] = &["nexwave", "freqtrade", "hummingbot"];

pub(super) fn preset(name: &str) -> Option<RawMapping> {
    match name {
        "nexwave" => Some(RawMapping {
            table: Some("positions".into()),
            key_column: Some("id".into()),
            symbol_column: Some("symbol".into()),
            side_column: Some("side".into()),
            amount_column: Some("amount".into()),
            long_values: Some(vec!["bid".into(), "long".into()]),
            short_values: Some(vec!["ask".into(), "short".into()]),
            updated_at_column: Some("updated_at".into()),
            entry_price_column: Some("entry_price".into()),
            // realized_pnl has no server default (only a Python-side one).
            insert_values: [("realized_pnl".to_string(), "0".to_string())].into(),
            insert_timestamp_columns: Some(vec!["opened_at".into(), "updated_at".into()]),
            ..Default::default()
        }),
        "freqtrade" => Some(RawMapping {
            table: Some("trades".into()),
            key_column: Some("id".into()),
            symbol_column: Some("pair".into()),
            side_column: Some("is_short".into()),
            amount_column: Some("amount".into()),
            long_values: Some(vec![Word::Bool(false)]),
            short_values: Some(vec![Word::Bool(true)]),
            filter: [("is_open".to_string(), Word::Bool(true))].into(),
            // BTC/USDC:USDC (futures), BTC/USDT (spot): the base is the venue's symbol.
            symbol_regex: Some(r"(?P<symbol>[A-Za-z0-9]+)/[A-Za-z0-9]+(:[A-Za-z0-9]+)?".into()),
            entry_price_column: Some("open_rate".into()),
            leverage_column: Some("leverage".into()),
            on_stale: Some(RawOnStale::Close),
            close_set: Some(freqtrade_close()),
            on_resize: Some(RawOnResize::AlertOnly),
            on_missing: Some(RawOnMissing::AlertOnly),
            // A trade with an order still open (an entry waiting to fill, an
            // exit resting) is the bot's to settle.
            open_orders: Some(RawOpenOrders {
                table: "orders".into(),
                foreign_key: "ft_trade_id".into(),
                filter: [("ft_is_open".to_string(), Word::Bool(true))].into(),
            }),
            ..Default::default()
        }),
        "hummingbot" => Some(RawMapping {
            table: Some("Position".into()),
            key_column: Some("id".into()),
            symbol_column: Some("trading_pair".into()),
            side_column: Some("side".into()),
            amount_column: Some("amount".into()),
            amount_scale: Some(6),
            long_values: Some(vec!["BUY".into()]),
            short_values: Some(vec!["SELL".into()]),
            symbol_regex: Some(r"(?P<symbol>[A-Za-z0-9]+)-[A-Za-z0-9]+".into()),
            on_stale: Some(RawOnStale::Close),
            close_set: Some(
                [
                    ("amount", Word::Int(0)),
                    ("breakeven_price", Word::Int(0)),
                    ("unrealized_pnl_quote", Word::Int(0)),
                ]
                .into_iter()
                .map(|(k, v)| (k.to_string(), v))
                .collect(),
            ),
            on_resize: Some(RawOnResize::AlertOnly),
            on_missing: Some(RawOnMissing::AlertOnly),
            ..Default::default()
        }),
        _ => None,
    }
}

/// What Freqtrade writes when it finds a trade closed on the exchange
/// (`FreqtradeBot.handle_onexchange_order`: `exit_reason =
/// "sold_on_exchange"`, then `Trade.close`: `close_rate`, `close_date`,
/// `is_open = False`, `exit_order_status = "closed"`, and the profit
/// columns `recalc_trade_from_orders` fills; Freqtrade's `/stats` compares
/// `close_profit` with 0, so it must not stay NULL). driftwatch knows no
/// exit fill: the rate is the mark price, the profit is at the mark, before
/// fees and funding.
fn freqtrade_close() -> BTreeMap<String, Word> {
    [
        ("is_open", Word::Bool(false)),
        ("close_date", "{now}".into()),
        ("close_rate", "{mark_price}".into()),
        ("close_profit", "{pnl_ratio}".into()),
        ("close_profit_abs", "{pnl}".into()),
        ("realized_profit", "{pnl}".into()),
        ("exit_reason", "sold_on_exchange".into()),
        ("exit_order_status", "closed".into()),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v))
    .collect()
}
