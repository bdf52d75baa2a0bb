//! Binance USDⓈ-M answers into venue-neutral data (binance_usdm.md §2–§5,
//! §8). Pure: bytes in, decimals out; never a float. Numbers are decimal
//! strings; a body that is not the documented shape (an error envelope,
//! `null`, an HTML error page) is an error, never "no positions".

use rust_decimal::Decimal;
use serde_json::Value;

use crate::domain::{Leg, Position, PositionKey};
use crate::venue::types::{MarketInfo, OrderFailure, RestError, RestSnapshot, StreamEvent};

fn decode(e: impl std::fmt::Display) -> RestError {
    RestError::Decode(e.to_string())
}

/// `{"code":-2022,"msg":"…"}`, if that is what `v` is.
fn envelope(v: &Value) -> Option<(i64, String)> {
    let code = v.get("code")?.as_i64()?;
    let msg = v.get("msg").and_then(Value::as_str).unwrap_or("").to_owned();
    Some((code, msg))
}

/// The JSON of a 200, or the status (and the venue's code) as an error.
fn ok_body(status: u16, body: &[u8]) -> Result<Value, RestError> {
    let v: Result<Value, _> = serde_json::from_slice(body);
    if status != 200 {
        return Err(match v.as_ref().ok().and_then(envelope) {
            Some((code, message)) => RestError::Venue { code, message },
            None => RestError::Http {
                status,
                message: String::from_utf8_lossy(body).chars().take(200).collect(),
            },
        });
    }
    let v = v.map_err(decode)?;
    if let Some((code, message)) = envelope(&v) {
        return Err(RestError::Venue { code, message });
    }
    Ok(v)
}

fn decimal(v: &Value, what: &str) -> Result<Decimal, RestError> {
    match v {
        Value::String(s) => s.parse().map_err(|_| decode(format!("{what} {s:?} is not a decimal"))),
        other => Err(decode(format!("{what} is {other}, not a decimal string"))),
    }
}

/// The leg a `positionSide` names.
fn leg(ps: &str) -> Result<Leg, RestError> {
    match ps {
        "BOTH" => Ok(Leg::Net),
        "LONG" => Ok(Leg::Long),
        "SHORT" => Ok(Leg::Short),
        other => Err(decode(format!("unknown positionSide {other:?}"))),
    }
}

/// `GET /fapi/v3/positionRisk` → the open positions (§3.1): one per
/// (symbol, leg); a zero amount (open orders only) is flat.
pub fn position_risk(status: u16, body: &[u8]) -> Result<RestSnapshot, RestError> {
    let v = ok_body(status, body)?;
    let list = v.as_array().ok_or_else(|| decode("positionRisk is not a list"))?;
    let mut positions = Vec::with_capacity(list.len());
    for p in list {
        let symbol = p
            .get("symbol")
            .and_then(Value::as_str)
            .ok_or_else(|| decode("a position without symbol"))?;
        let ps = p.get("positionSide").and_then(Value::as_str).unwrap_or("BOTH");
        let size = decimal(p.get("positionAmt").unwrap_or(&Value::Null), "positionAmt")?;
        if size.is_zero() {
            continue;
        }
        let entry_price = match p.get("entryPrice") {
            Some(e @ Value::String(_)) => Some(decimal(e, "entryPrice")?),
            _ => None,
        };
        positions.push(Position {
            key: PositionKey {
                symbol: symbol.into(),
                leg: leg(ps)?,
            },
            size,
            entry_price,
        });
    }
    Ok(RestSnapshot { positions, seq: None })
}

/// One symbol's MARKET order rules from `exchangeInfo` (§3.4).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Market {
    pub symbol: String,
    /// `MARKET_LOT_SIZE.stepSize`: closes floor to it.
    pub step: Decimal,
    /// `MARKET_LOT_SIZE.maxQty`: a larger close is split.
    pub max_qty: Decimal,
    /// `PRICE_FILTER.tickSize`.
    pub tick: Decimal,
    /// `MIN_NOTIONAL.notional` (USDT at the mark). Reduce-only orders are
    /// exempt, so a one-way close is never held to it; a hedge-mode close
    /// carries `positionSide`, not `reduceOnly`, and a refusal (−4164) says so.
    pub min_notional: Option<Decimal>,
    pub trading: bool,
}

/// `GET /fapi/v1/exchangeInfo` → the markets' MARKET order rules.
pub fn exchange_info(status: u16, body: &[u8]) -> Result<Vec<Market>, RestError> {
    let v = ok_body(status, body)?;
    let symbols = v
        .get("symbols")
        .and_then(Value::as_array)
        .ok_or_else(|| decode("exchangeInfo without symbols"))?;
    let mut out = Vec::with_capacity(symbols.len());
    for s in symbols {
        let symbol = s
            .get("symbol")
            .and_then(Value::as_str)
            .ok_or_else(|| decode("a symbol without its name"))?;
        let filters = s.get("filters").and_then(Value::as_array).cloned().unwrap_or_default();
        let filter = |kind: &str| filters.iter().find(|f| f["filterType"] == kind);
        let lot = filter("MARKET_LOT_SIZE").or_else(|| filter("LOT_SIZE"));
        let (Some(lot), Some(price)) = (lot, filter("PRICE_FILTER")) else {
            return Err(decode(format!("{symbol} without its lot or price filter")));
        };
        out.push(Market {
            symbol: symbol.to_owned(),
            step: decimal(&lot["stepSize"], "stepSize")?,
            max_qty: decimal(&lot["maxQty"], "maxQty")?,
            tick: decimal(&price["tickSize"], "tickSize")?,
            min_notional: match filter("MIN_NOTIONAL") {
                Some(f) => Some(decimal(&f["notional"], "notional")?),
                None => None,
            },
            trading: s.get("status").and_then(Value::as_str) == Some("TRADING"),
        });
    }
    Ok(out)
}

/// Lot and tick of the markets that trade.
pub fn market_infos(markets: &[Market]) -> Vec<MarketInfo> {
    markets
        .iter()
        .filter(|m| m.trading)
        .map(|m| MarketInfo {
            symbol: m.symbol.clone(),
            lot_size: m.step,
            tick_size: m.tick,
        })
        .collect()
}

/// `GET /fapi/v1/premiumIndex` (all symbols) → mark prices.
pub fn premium_index(status: u16, body: &[u8]) -> Result<std::collections::BTreeMap<String, Decimal>, RestError> {
    let v = ok_body(status, body)?;
    let list = v.as_array().ok_or_else(|| decode("premiumIndex is not a list"))?;
    list.iter()
        .map(|p| {
            let symbol = p
                .get("symbol")
                .and_then(Value::as_str)
                .ok_or_else(|| decode("a mark price without its symbol"))?;
            Ok((
                symbol.to_owned(),
                decimal(p.get("markPrice").unwrap_or(&Value::Null), "markPrice")?,
            ))
        })
        .collect()
}

/// `POST|PUT /fapi/v1/listenKey` → the key (a PUT may answer `{}`: the key
/// stays the one held).
pub fn listen_key(status: u16, body: &[u8]) -> Result<String, RestError> {
    let v = ok_body(status, body)?;
    Ok(v.get("listenKey").and_then(Value::as_str).unwrap_or("").to_owned())
}

/// A user data stream frame, as the stream task needs it (§4).
#[derive(Debug, Clone, PartialEq)]
pub enum WsFrame {
    /// `ACCOUNT_UPDATE`: each changed position's new absolute size (zero:
    /// closed), at transaction time `T`. Funding without positions is empty.
    Positions { events: Vec<StreamEvent>, at_ms: i64 },
    /// `ORDER_TRADE_UPDATE` of a liquidation, ADL or settlement order: the
    /// symbol changed without the bot.
    Unexplained { symbol: String, cause: String },
    /// `listenKeyExpired`: no more events until a new key is connected.
    ListenKeyExpired,
    /// Anything else that proves the link lives.
    Alive,
}

/// Reads one user data stream frame (raw or wrapped as `{"stream","data"}`).
pub fn ws_frame(text: &str) -> Result<WsFrame, RestError> {
    let v: Value = serde_json::from_str(text).map_err(decode)?;
    let e = if v.get("data").is_some() && v.get("stream").is_some() {
        &v["data"]
    } else {
        &v
    };
    match e.get("e").and_then(Value::as_str) {
        Some("ACCOUNT_UPDATE") => {
            let at_ms = e.get("T").and_then(Value::as_i64).unwrap_or(0);
            let mut events = Vec::new();
            for p in e["a"]["P"].as_array().map(Vec::as_slice).unwrap_or(&[]) {
                let symbol = p
                    .get("s")
                    .and_then(Value::as_str)
                    .ok_or_else(|| decode("an ACCOUNT_UPDATE position without its symbol"))?;
                let ps = p.get("ps").and_then(Value::as_str).unwrap_or("BOTH");
                let size = decimal(p.get("pa").unwrap_or(&Value::Null), "pa")?;
                let entry_price = match p.get("ep") {
                    Some(v @ Value::String(_)) => Some(decimal(v, "ep")?).filter(|d| !d.is_zero()),
                    _ => None,
                };
                events.push(StreamEvent::Update {
                    position: Position {
                        key: PositionKey {
                            symbol: symbol.into(),
                            leg: leg(ps)?,
                        },
                        size,
                        entry_price,
                    },
                    seq: None,
                });
            }
            Ok(WsFrame::Positions { events, at_ms })
        }
        Some("ORDER_TRADE_UPDATE") => {
            let o = &e["o"];
            let c = o.get("c").and_then(Value::as_str).unwrap_or("");
            let cause = if c.starts_with("autoclose-") {
                "liquidation"
            } else if c == "adl_autoclose" {
                "ADL"
            } else if c.starts_with("settlement_autoclose-") {
                "settlement"
            } else {
                return Ok(WsFrame::Alive);
            };
            Ok(WsFrame::Unexplained {
                symbol: o.get("s").and_then(Value::as_str).unwrap_or("").to_owned(),
                cause: cause.to_owned(),
            })
        }
        Some("listenKeyExpired") => Ok(WsFrame::ListenKeyExpired),
        _ => Ok(WsFrame::Alive),
    }
}

/// What the venue says of an order (`POST /fapi/v1/order` with
/// `newOrderRespType=RESULT`, or `GET /fapi/v1/order`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OrderState {
    pub order_id: u64,
    /// `NEW`, `FILLED`, `EXPIRED`, `CANCELED`, …
    pub status: String,
    pub executed_qty: Decimal,
}

fn order_state(v: &Value) -> Result<OrderState, RestError> {
    Ok(OrderState {
        order_id: v
            .get("orderId")
            .and_then(Value::as_u64)
            .ok_or_else(|| decode("an order without orderId"))?,
        status: v
            .get("status")
            .and_then(Value::as_str)
            .ok_or_else(|| decode("an order without status"))?
            .to_owned(),
        executed_qty: decimal(
            v.get("executedQty").unwrap_or(&Value::String("0".into())),
            "executedQty",
        )?,
    })
}

/// `GET /fapi/v1/order?origClientOrderId=`: the order, or `None` when the
/// venue has no such order (−2013).
pub fn query_order(status: u16, body: &[u8]) -> Result<Option<OrderState>, RestError> {
    match ok_body(status, body) {
        Err(RestError::Venue { code: -2013, .. }) => Ok(None),
        Err(e) => Err(e),
        Ok(v) => order_state(&v).map(Some),
    }
}

/// What an order's status means for a close: traded (a MARKET order that
/// could not fill completely expires with what it did fill; the rest is
/// sized from a fresh read), or not filled at all.
pub fn settled(s: OrderState) -> Result<OrderState, OrderFailure> {
    match s.status.as_str() {
        "FILLED" | "PARTIALLY_FILLED" | "NEW" => Ok(s),
        "EXPIRED" if s.executed_qty > Decimal::ZERO => Ok(s),
        other => Err(OrderFailure::NoFill(format!("order {} {other}", s.order_id))),
    }
}

/// A close order's reply (§5.1, §5.3): its id when it traded, else what the
/// refusal means for the close loop.
pub fn order_reply(status: u16, body: &[u8]) -> Result<OrderState, OrderFailure> {
    let text = String::from_utf8_lossy(body);
    if status == 429 || status == 418 {
        return Err(OrderFailure::RateLimited {
            retry_after: std::time::Duration::from_secs(if status == 418 { 120 } else { 1 }),
        });
    }
    if status == 503 && text.contains("Unknown error") || status >= 500 && status != 503 || status == 408 {
        // The execution status is unknown: query by client order id.
        return Err(OrderFailure::Unknown(format!(
            "HTTP {status}: {}",
            text.chars().take(120).collect::<String>()
        )));
    }
    match ok_body(status, body) {
        Ok(v) => settled(order_state(&v).map_err(|e| OrderFailure::Unknown(e.to_string()))?),
        Err(RestError::Venue { code, message }) => Err(order_error(code, message)),
        // 503 "Service Unavailable" and the like: a definite failure.
        Err(e) => Err(OrderFailure::Rejected(e.to_string())),
    }
}

/// A refusal code (§5.3, §8) in the close loop's terms.
pub fn order_error(code: i64, message: String) -> OrderFailure {
    let m = format!("{code} {message}");
    match code {
        // No position to reduce, or it conflicts with open orders: re-read.
        -2022 | -4118 => OrderFailure::Resize(m),
        // The order is still open under this id: an earlier try landed.
        -4116 => OrderFailure::Landed(m),
        // Throttled (reduce-only is exempt from -1008, but not from the rest).
        -1003 | -1008 => OrderFailure::RateLimited {
            retry_after: std::time::Duration::from_secs(1),
        },
        // Clock skew: re-sign with a fresh timestamp after re-reading.
        -1021 | -5028 => OrderFailure::NoFill(m),
        // The book could not take it at the filter bound: try again.
        -4131 => OrderFailure::NoFill(m),
        // Below the market's minimum notional: reduce-only orders are exempt,
        // so this is a hedge-mode leg too small to close by order.
        -4164 => OrderFailure::Rejected(format!(
            "{m} (below the market's minimum notional, which exempts reduceOnly orders only; a hedge-mode close carries positionSide instead: close this leg by hand)"
        )),
        _ => OrderFailure::Rejected(m),
    }
}

/// Orders `ACCOUNT_UPDATE`s by their transaction time `T`, not by arrival
/// (§4): an update older than the last one applied to its key arrived late
/// and is dropped, so a delayed frame can never roll a position back. One
/// per connection (a reconnect takes a REST baseline anyway).
#[derive(Debug, Default)]
pub struct EventOrder {
    latest: std::collections::HashMap<PositionKey, i64>,
}

impl EventOrder {
    /// The updates of a frame at `at_ms` that are not older than what each
    /// key has already seen.
    pub fn keep(&mut self, events: Vec<StreamEvent>, at_ms: i64) -> Vec<StreamEvent> {
        events
            .into_iter()
            .filter(|e| match e {
                StreamEvent::Update { position, .. } => match self.latest.get_mut(&position.key) {
                    Some(t) if *t > at_ms => false,
                    Some(t) => {
                        *t = at_ms;
                        true
                    }
                    None => {
                        self.latest.insert(position.key.clone(), at_ms);
                        true
                    }
                },
                _ => true,
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(s: &str) -> Decimal {
        s.parse().unwrap()
    }

    #[test]
    fn one_way_and_hedge_positions_from_position_risk() {
        let body = br#"[{"symbol":"ADAUSDT","positionSide":"BOTH","positionAmt":"30","entryPrice":"0.385","markPrice":"0.41047590","updateTime":1720736417660},
            {"symbol":"ETHUSDT","positionSide":"LONG","positionAmt":"0.500","entryPrice":"3000"},
            {"symbol":"ETHUSDT","positionSide":"SHORT","positionAmt":"-0.2","entryPrice":"3100"},
            {"symbol":"BTCUSDT","positionSide":"BOTH","positionAmt":"0","entryPrice":"0.0"}]"#;
        let snap = position_risk(200, body).unwrap();
        let got: Vec<(String, Leg, Decimal)> = snap
            .positions
            .iter()
            .map(|p| (p.key.symbol.to_string(), p.key.leg, p.size))
            .collect();
        assert_eq!(
            got,
            vec![
                ("ADAUSDT".into(), Leg::Net, d("30")),
                ("ETHUSDT".into(), Leg::Long, d("0.5")),
                ("ETHUSDT".into(), Leg::Short, d("-0.2")),
            ]
        );
        // An error is never "flat".
        assert!(matches!(
            position_risk(
                400,
                br#"{"code":-1021,"msg":"Timestamp for this request is outside of the recvWindow."}"#
            ),
            Err(RestError::Venue { code: -1021, .. })
        ));
        assert!(position_risk(200, b"null").is_err());
        assert!(position_risk(
            200,
            br#"{"code":-1022,"msg":"Signature for this request is not valid."}"#
        )
        .is_err());
        assert!(
            position_risk(200, br#"[{"symbol":"X","positionSide":"BOTH","positionAmt":1}]"#).is_err(),
            "a float is refused"
        );
    }

    #[test]
    fn market_lot_size_rules_for_closes() {
        let body = br#"{"symbols":[{"symbol":"ETHUSDT","status":"TRADING","filters":[
            {"filterType":"PRICE_FILTER","minPrice":"39.86","maxPrice":"306177","tickSize":"0.01"},
            {"filterType":"LOT_SIZE","stepSize":"0.001","maxQty":"10000","minQty":"0.001"},
            {"filterType":"MARKET_LOT_SIZE","stepSize":"0.001","maxQty":"2000","minQty":"0.001"},
            {"filterType":"MIN_NOTIONAL","notional":"20"}]},
            {"symbol":"OLDUSDT","status":"SETTLING","filters":[{"filterType":"PRICE_FILTER","tickSize":"0.1"},{"filterType":"LOT_SIZE","stepSize":"1","maxQty":"10"}]}]}"#;
        let m = exchange_info(200, body).unwrap();
        assert_eq!((m[0].step, m[0].max_qty, m[0].tick), (d("0.001"), d("2000"), d("0.01")));
        assert_eq!((m[0].min_notional, m[1].min_notional), (Some(d("20")), None));
        let infos = market_infos(&m);
        assert_eq!(infos.len(), 1, "only trading markets");
    }

    #[test]
    fn account_update_is_per_key_and_zero_is_closed() {
        let text = r#"{"e":"ACCOUNT_UPDATE","E":1564745798939,"T":1564745798938,"a":{"m":"ORDER",
            "B":[{"a":"USDT","wb":"122624.12345678","cw":"100.12345678","bc":"50.12345678"}],
            "P":[{"s":"BTCUSDT","pa":"0","ep":"0.00000","bep":"0","cr":"200","up":"0","mt":"isolated","iw":"0.00000000","ps":"BOTH"},
                 {"s":"ETHUSDT","pa":"-1.5","ep":"3000","ps":"SHORT"}]}}"#;
        let WsFrame::Positions { events, at_ms } = ws_frame(text).unwrap() else {
            panic!()
        };
        assert_eq!(at_ms, 1564745798938);
        let sizes: Vec<(String, Leg, Decimal)> = events
            .iter()
            .map(|e| match e {
                StreamEvent::Update { position, .. } => {
                    (position.key.symbol.to_string(), position.key.leg, position.size)
                }
                other => panic!("{other:?}"),
            })
            .collect();
        assert_eq!(
            sizes,
            vec![
                ("BTCUSDT".into(), Leg::Net, Decimal::ZERO),
                ("ETHUSDT".into(), Leg::Short, d("-1.5"))
            ]
        );
        // Funding on a cross position: balances only, no positions (not flat).
        let funding = r#"{"e":"ACCOUNT_UPDATE","E":1,"T":1,"a":{"m":"FUNDING_FEE","B":[{"a":"USDT","wb":"1","cw":"1","bc":"0"}]}}"#;
        assert_eq!(
            ws_frame(funding).unwrap(),
            WsFrame::Positions {
                events: vec![],
                at_ms: 1
            }
        );
        let liq = r#"{"stream":"x","data":{"e":"ORDER_TRADE_UPDATE","E":1,"T":1,"o":{"s":"SOLUSDT","c":"autoclose-123","X":"NEW"}}}"#;
        assert_eq!(
            ws_frame(liq).unwrap(),
            WsFrame::Unexplained {
                symbol: "SOLUSDT".into(),
                cause: "liquidation".into()
            }
        );
        assert_eq!(
            ws_frame(r#"{"e":"listenKeyExpired","E":1,"listenKey":"k"}"#).unwrap(),
            WsFrame::ListenKeyExpired
        );
        assert!(ws_frame("not json").is_err());
    }

    #[test]
    fn close_replies_and_refusals() {
        let filled =
            br#"{"orderId":42,"clientOrderId":"dw-1","status":"FILLED","executedQty":"0.010","origQty":"0.010"}"#;
        assert_eq!(order_reply(200, filled).unwrap().order_id, 42);
        let expired_part = br#"{"orderId":43,"status":"EXPIRED","executedQty":"0.004","origQty":"0.010"}"#;
        assert_eq!(order_reply(200, expired_part).unwrap().executed_qty, d("0.004"));
        let err = |code: i64, msg: &str| order_reply(400, format!(r#"{{"code":{code},"msg":"{msg}"}}"#).as_bytes());
        assert!(matches!(
            err(-2022, "ReduceOnly Order is rejected."),
            Err(OrderFailure::Resize(_))
        ));
        assert!(matches!(
            err(-4118, "ReduceOnly Order Failed."),
            Err(OrderFailure::Resize(_))
        ));
        assert!(matches!(
            err(-4116, "clientOrderId is duplicated"),
            Err(OrderFailure::Landed(_))
        ));
        assert!(matches!(
            err(-1022, "Signature for this request is not valid."),
            Err(OrderFailure::Rejected(_))
        ));
        assert!(matches!(
            err(-1106, "Parameter 'reduceonly' sent when not required."),
            Err(OrderFailure::Rejected(_))
        ));
        assert!(matches!(
            order_reply(
                503,
                br#"{"code":-1000,"msg":"Unknown error, please check your request or try again later."}"#
            ),
            Err(OrderFailure::Unknown(_))
        ));
        assert!(matches!(
            order_reply(503, b"Service Unavailable."),
            Err(OrderFailure::Rejected(_))
        ));
        assert!(matches!(order_reply(429, b""), Err(OrderFailure::RateLimited { .. })));
        assert_eq!(
            query_order(400, br#"{"code":-2013,"msg":"Order does not exist."}"#),
            Ok(None)
        );
    }

    #[test]
    fn updates_are_ordered_by_transaction_time_not_arrival() {
        let update = |symbol: &str, size: &str| StreamEvent::Update {
            position: Position {
                key: PositionKey::net(symbol),
                size: size.parse().unwrap(),
                entry_price: None,
            },
            seq: None,
        };
        let mut order = EventOrder::default();
        assert_eq!(order.keep(vec![update("SOLUSDT", "2")], 200).len(), 1);
        // Sent at 150, arrived after 200: dropped; another key is not held back.
        let late = order.keep(vec![update("SOLUSDT", "1"), update("ETHUSDT", "1")], 150);
        assert_eq!(late, vec![update("ETHUSDT", "1")]);
        // The same transaction time is the same moment: kept.
        assert_eq!(order.keep(vec![update("SOLUSDT", "0")], 200).len(), 1);
        assert_eq!(order.keep(vec![update("SOLUSDT", "3")], 201).len(), 1);
    }
}
