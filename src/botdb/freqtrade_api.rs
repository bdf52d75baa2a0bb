//! Freqtrade's REST API as a source of the bot's positions:
//! `GET /api/v1/status` (`list[OpenTradeSchema]`, the open trades only; `[]`
//! when there are none), read into the same rows a database read gives.
//! Pure: the response body in, rows out.
//!
//! Fields used (Freqtrade's `OpenTradeSchema`): `trade_id`, `pair`,
//! `is_short`, `is_open`, `amount` (positive, base currency, for longs and
//! shorts alike), `has_open_orders`. Anything else in the body is ignored;
//! a trade missing one of these fails the whole read (a half-understood
//! answer is never taken for the bot's positions).

use rust_decimal::Decimal;
use serde::Deserialize;

use super::mapping::Mapping;
use crate::domain::{DbRow, DbSnapshot, PositionKey, UnmappedRow};

/// One open trade as the API gives it.
#[derive(Debug, Deserialize)]
struct OpenTrade {
    trade_id: i64,
    pair: String,
    is_short: bool,
    is_open: bool,
    /// A JSON number: read as the shortest decimal that is that float.
    amount: f64,
    #[serde(default)]
    has_open_orders: bool,
}

/// The rows of a `/api/v1/status` body, symbols placed by `mapping`.
pub fn status_rows(body: &[u8], mapping: &Mapping) -> Result<DbSnapshot, String> {
    let trades: Vec<OpenTrade> = serde_json::from_slice(body)
        .map_err(|e| format!("/api/v1/status is not Freqtrade's list of open trades: {e}"))?;
    let mut out = DbSnapshot::default();
    for t in trades.into_iter().filter(|t| t.is_open) {
        let amount: Decimal = super::decimal_from_f64(t.amount).map_err(|e| format!("trade {}: {e}", t.trade_id))?;
        if amount.is_sign_negative() && !amount.is_zero() {
            return Err(format!("trade {}: negative amount {amount}", t.trade_id));
        }
        let row_key = t.trade_id.to_string();
        let Some(symbol) = mapping.venue_symbol(&t.pair) else {
            out.unmapped.push(UnmappedRow {
                row_key,
                symbol: t.pair,
            });
            continue;
        };
        out.rows.push(DbRow {
            row_key,
            key: PositionKey {
                symbol: symbol.into(),
                leg: mapping.leg.of_side(if t.is_short { -1 } else { 1 }),
            },
            size: if t.is_short { -amount } else { amount },
            side_word: Some(t.is_short.to_string()),
            amount,
            updated_at: None,
            busy: t.has_open_orders,
        });
    }
    out.rows.sort_by(|a, b| a.row_key.cmp(&b.row_key));
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::botdb::raw::RawMapping;

    fn freqtrade() -> Mapping {
        RawMapping {
            preset: Some("freqtrade".into()),
            ..Default::default()
        }
        .validate()
        .unwrap()
    }

    /// The body recorded from Freqtrade's own API server over the fixture
    /// database (testdata/freqtrade/record_api.py).
    #[test]
    fn the_recorded_status_gives_the_fixtures_open_trades() {
        let body = std::fs::read(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/testdata/freqtrade/api_status.json"
        ))
        .unwrap();
        let snap = status_rows(&body, &freqtrade()).unwrap();
        let rows: Vec<(String, String, String, bool)> = snap
            .rows
            .iter()
            .map(|r| (r.row_key.clone(), r.key.symbol.to_string(), r.size.to_string(), r.busy))
            .collect();
        assert_eq!(
            rows,
            vec![
                ("1".into(), "BTC".into(), "0.0125".into(), false),
                ("2".into(), "ETH".into(), "-1.5".into(), false),
                ("5".into(), "HYPE".into(), "80".into(), false),
                ("7".into(), "SOL".into(), "-12.5".into(), true),
                ("8".into(), "ETH".into(), "0".into(), true),
            ]
        );
        assert!(snap.unmapped.is_empty());
    }

    #[test]
    fn a_body_that_is_not_a_list_of_trades_fails_the_read() {
        assert!(status_rows(b"[]", &freqtrade()).unwrap().rows.is_empty());
        for bad in [
            &b"{\"detail\":\"Unauthorized\"}"[..],
            b"[{\"trade_id\": 1, \"pair\": \"BTC/USDC:USDC\", \"is_open\": true, \"amount\": 1}]",
            b"not json",
        ] {
            assert!(
                status_rows(bad, &freqtrade()).is_err(),
                "{}",
                String::from_utf8_lossy(bad)
            );
        }
        let spot = br#"[{"trade_id": 3, "pair": "BTC-USDT", "is_short": false, "is_open": true, "amount": 1}]"#;
        let snap = status_rows(spot, &freqtrade()).unwrap();
        assert_eq!(snap.unmapped[0].symbol, "BTC-USDT");
    }
}
