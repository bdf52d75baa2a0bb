//! Pacifica wire to domain, pure. Tested against every documented example.
//!
//! Envelopes are read leniently (§2): `{"success","data","error","code"}`,
//! a bare `{"error": "..."}`, or a bare array. A body that cannot be
//! understood is an error, never an empty position list.

use std::str::FromStr;
use std::time::Duration;

use rust_decimal::Decimal;
use serde::de::DeserializeOwned;
use serde_json::value::RawValue;
use serde_json::Value;

use super::models::{RestMarket, RestPosition, WsPosition, WsTrade};
use crate::domain::{Position, PositionKey};
use crate::venue::changes::LastFrame;
use crate::venue::types::{MarketInfo, ParseError, RestError, RestSnapshot, StreamEvent};

/// `bid` is long, `ask` is short; the amount is always positive on the wire.
fn signed(side: &str, amount: Decimal) -> Result<Decimal, ParseError> {
    if amount.is_sign_negative() {
        return Err(ParseError(format!("negative amount {amount}")));
    }
    match side {
        "bid" => Ok(amount),
        "ask" => Ok(-amount),
        other => Err(ParseError(format!("unknown side {other:?}"))),
    }
}

fn position(symbol: &str, side: &str, amount: Decimal, entry: Option<Decimal>) -> Result<Option<Position>, ParseError> {
    // A zero amount is a closed position (defensive: the venue normally drops it).
    Ok(Some(held(symbol, side, amount, entry)?).filter(|p| !p.size.is_zero()))
}

/// An item as a position, a flat one (size zero) included.
fn held(symbol: &str, side: &str, amount: Decimal, entry: Option<Decimal>) -> Result<Position, ParseError> {
    Ok(Position {
        key: PositionKey::net(symbol),
        size: signed(side, amount)?,
        entry_price: entry,
    })
}

/// A REST envelope's fields, each as leniently as a JSON value reads them
/// (a code that is not an integer is no code), and `data` as its text, read
/// once into its type, not first into a tree of JSON values (a map of
/// strings per position).
#[derive(serde::Deserialize)]
struct RestEnvelope<'a> {
    #[serde(default)]
    code: Option<Value>,
    #[serde(default)]
    error: Option<Value>,
    #[serde(default)]
    success: Option<Value>,
    #[serde(default)]
    last_order_id: Option<Value>,
    #[serde(borrow, default)]
    data: Option<&'a RawValue>,
}

/// Reads a REST body into its `data` payload (its text), or the venue's error.
fn envelope_data(status: u16, body: &[u8]) -> Result<(&RawValue, Option<u64>), RestError> {
    let ok = (200..300).contains(&status);
    let not_json = |e: serde_json::Error| {
        if ok {
            RestError::Decode(format!("not JSON: {e}"))
        } else {
            RestError::Http {
                status,
                message: String::from_utf8_lossy(body).chars().take(200).collect(),
            }
        }
    };
    let neither = || RestError::Decode("body is neither an object nor an array".into());
    match body.iter().find(|b| !b.is_ascii_whitespace()) {
        Some(b'[') if ok => return Ok((serde_json::from_slice(body).map_err(not_json)?, None)),
        Some(b'{') => {}
        // Not JSON at all, or JSON of another kind: which, serde says.
        _ => {
            serde_json::from_slice::<serde::de::IgnoredAny>(body).map_err(not_json)?;
            return Err(neither());
        }
    }
    let e: RestEnvelope<'_> = serde_json::from_slice(body).map_err(|e| match e.classify() {
        // JSON, but not an envelope (a field twice, a field of another kind).
        serde_json::error::Category::Data if ok => RestError::Decode(format!("not an envelope: {e}")),
        _ => not_json(e),
    })?;
    let code = e.code.as_ref().and_then(Value::as_i64);
    let error = e.error.as_ref().and_then(Value::as_str).map(str::to_owned);
    let success = e.success.as_ref().and_then(Value::as_bool);
    if !ok || success == Some(false) || (error.is_some() && success != Some(true)) {
        let message = error.unwrap_or_else(|| "no error message".to_owned());
        return Err(match code {
            Some(code) if code != i64::from(status) => RestError::Venue { code, message },
            _ => RestError::Http { status, message },
        });
    }
    let seq = e.last_order_id.as_ref().and_then(Value::as_u64);
    // `null` reads as no data.
    match e.data {
        None => Err(RestError::Decode("success without data".into())),
        Some(data) => Ok((data, seq)),
    }
}

fn items<T: DeserializeOwned>(data: &RawValue) -> Result<Vec<T>, RestError> {
    serde_json::from_str(data.get()).map_err(|e| RestError::Decode(e.to_string()))
}

/// `GET /api/v1/positions?account=...` → the open set and `last_order_id`.
pub fn positions_response(status: u16, body: &[u8]) -> Result<RestSnapshot, RestError> {
    let (data, seq) = envelope_data(status, body)?;
    let wire: Vec<RestPosition> = items(data)?;
    let mut positions = Vec::with_capacity(wire.len());
    for p in wire {
        if let Some(pos) = position(&p.symbol, &p.side, p.amount, p.entry_price).map_err(|e| RestError::Decode(e.0))? {
            positions.push(pos);
        }
    }
    Ok(RestSnapshot { positions, seq })
}

/// `GET /api/v1/info` → lot and tick sizes of perpetual markets.
pub fn info_response(status: u16, body: &[u8]) -> Result<Vec<MarketInfo>, RestError> {
    let (data, _) = envelope_data(status, body)?;
    let wire: Vec<RestMarket> = items(data)?;
    Ok(wire
        .into_iter()
        .filter(|m| m.instrument_type.as_deref().is_none_or(|t| t == "perpetual"))
        .map(|m| MarketInfo {
            symbol: m.symbol,
            lot_size: m.lot_size,
            tick_size: m.tick_size,
        })
        .collect())
}

/// What the venue said to a market order.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum OrderError {
    /// Code 23, or HTTP 422 "No position found for reduce-only order": already flat.
    #[error("no position for a reduce-only order: {0}")]
    NoPosition(String),
    /// Code 36: this client order id was used before: an earlier try landed.
    #[error("duplicate client order id: {0}")]
    DuplicateClientOrderId(String),
    /// Code 22: the amount exceeds the position: re-read the size.
    #[error("amount exceeds the position: {0}")]
    ExceedsPosition(String),
    /// Code 21: the side does not oppose the position.
    #[error("reduce-only side does not oppose the position: {0}")]
    WrongSide(String),
    #[error("rate limited; retry after {retry_after:?}")]
    RateLimited { retry_after: Duration },
    /// A 5xx, a timeout or a transport error: the outcome is unknown.
    #[error("outcome unknown: {0}")]
    Unknown(String),
    /// Any other refusal.
    #[error("rejected (HTTP {status}, code {code:?}): {message}")]
    Rejected {
        status: u16,
        code: Option<i64>,
        message: String,
    },
}

/// `POST /orders/create_market` → the order id, or why not. Accepts the
/// wrapped and the bare success shapes, and error bodies with or without
/// `code` (pacifica.md §2, §5.4).
pub fn order_response(status: u16, body: &[u8]) -> Result<u64, OrderError> {
    let value: Value = serde_json::from_slice(body).unwrap_or(Value::Null);
    let code = value.get("code").and_then(Value::as_i64);
    let message = value
        .get("error")
        .and_then(Value::as_str)
        .map(str::to_owned)
        .unwrap_or_else(|| String::from_utf8_lossy(body).chars().take(200).collect());
    if (200..300).contains(&status) && value.get("success").and_then(Value::as_bool) != Some(false) {
        let id = value
            .get("data")
            .and_then(|d| d.get("order_id"))
            .or_else(|| value.get("order_id"))
            .and_then(Value::as_u64);
        return id.ok_or_else(|| OrderError::Unknown(format!("accepted without an order id: {message}")));
    }
    if code == Some(23) || message.starts_with("No position found for reduce-only order") {
        return Err(OrderError::NoPosition(message));
    }
    match code {
        Some(36) => Err(OrderError::DuplicateClientOrderId(message)),
        Some(22) => Err(OrderError::ExceedsPosition(message)),
        Some(21) => Err(OrderError::WrongSide(message)),
        _ if status == 429 || code == Some(429) => Err(OrderError::RateLimited {
            retry_after: Duration::from_secs(2),
        }),
        _ if status >= 500 => Err(OrderError::Unknown(format!("HTTP {status}: {message}"))),
        _ => Err(OrderError::Rejected { status, code, message }),
    }
}

/// `GET /api/v1/info/prices` → mark price by symbol.
pub fn prices_response(status: u16, body: &[u8]) -> Result<std::collections::BTreeMap<String, Decimal>, RestError> {
    #[derive(serde::Deserialize)]
    struct Item {
        symbol: String,
        mark: Decimal,
    }
    let (data, _) = envelope_data(status, body)?;
    let items: Vec<Item> = items(data)?;
    Ok(items.into_iter().map(|i| (i.symbol, i.mark)).collect())
}

/// How long a 429 asks us to wait: the `ratelimit` header's `t` (seconds to
/// refresh, §7), else `Retry-After`, else a default.
pub fn retry_after(ratelimit: Option<&str>, retry_after: Option<&str>) -> Duration {
    let from_ratelimit = ratelimit.and_then(|h| {
        h.split(';')
            .filter_map(|part| part.trim().strip_prefix("t="))
            .find_map(|t| u64::from_str(t.trim()).ok())
    });
    let secs = from_ratelimit
        .or_else(|| retry_after.and_then(|v| u64::from_str(v.trim()).ok()))
        .unwrap_or(5);
    Duration::from_secs(secs.clamp(1, 120))
}

/// What one WebSocket text frame means.
#[derive(Debug, Clone, PartialEq)]
pub enum WsFrame {
    /// `{"channel":"subscribe","data":{...params}}`
    SubscribeAck { source: String },
    /// A meaningful stream event.
    Event(StreamEvent),
    /// `{"channel":"pong"}` or any channel we do not use.
    Alive,
    /// An error frame (`err`/`error`).
    Error(String),
}

/// The envelope of a WebSocket frame; `data` is decoded per channel.
#[derive(serde::Deserialize)]
struct Envelope<'a> {
    #[serde(default, borrow)]
    channel: Option<std::borrow::Cow<'a, str>>,
    #[serde(default, borrow)]
    data: Option<&'a serde_json::value::RawValue>,
    #[serde(default)]
    li: Option<u64>,
    #[serde(default)]
    err: Option<String>,
    #[serde(default)]
    error: Option<Value>,
}

#[derive(serde::Deserialize)]
struct AckData {
    #[serde(default)]
    source: String,
}

/// An `account_positions` frame, decoded in one pass.
#[derive(serde::Deserialize)]
struct PositionsFrame<'a> {
    #[serde(borrow)]
    data: Option<Vec<WsPosition<'a>>>,
    #[serde(default)]
    li: Option<u64>,
}

fn positions_event(wire: Vec<WsPosition<'_>>, seq: Option<u64>) -> Result<WsFrame, ParseError> {
    let mut positions = Vec::with_capacity(wire.len());
    for p in wire {
        if let Some(pos) = position(&p.s, &p.d, p.a, p.p)? {
            positions.push(pos);
        }
    }
    Ok(WsFrame::Event(StreamEvent::Snapshot { positions, seq }))
}

/// One connection's reader of frames: [`ws_frame`], except that an
/// `account_positions` frame that repeats the last one's keys in the same
/// places is told as what changed (`venue/changes.rs`). Made anew for every
/// connection.
#[derive(Debug, Default)]
pub struct Decoder {
    last: LastFrame,
}

impl Decoder {
    /// Parses one text frame of this connection.
    pub fn frame(&mut self, text: &str) -> Result<WsFrame, ParseError> {
        if text.starts_with(r#"{"channel":"account_positions","#) {
            // An item that is no position (an unknown side) is left to serde,
            // which refuses the frame as `ws_frame` does.
            let scan = |last: &LastFrame, items| {
                let to_position = |p: WsPosition<'_>| held(&p.s, &p.d, p.a, p.p).ok();
                Some(Ok::<_, ParseError>(super::scan::account_positions(
                    text,
                    last,
                    items,
                    to_position,
                )?))
            };
            if let Some(told) = self.last.read(text, scan) {
                return Ok(WsFrame::Event(told?));
            }
        }
        // Read by serde, so not from items (`LastFrame::read_elsewhere`).
        let frame = ws_frame(text)?;
        if let WsFrame::Event(e) = &frame {
            self.last.read_elsewhere(e);
        }
        Ok(frame)
    }
}

/// Parses one text frame from `wss://.../ws`.
pub fn ws_frame(text: &str) -> Result<WsFrame, ParseError> {
    // Fast paths for the hot channel: the venue writes `channel` first.
    if text.starts_with(r#"{"channel":"account_positions","#) {
        if let Some((items, li)) = super::scan::account_positions(text, LastFrame::NONE, Vec::new(), Some) {
            return positions_event(items.into_iter().filter_map(|i| i.read).collect(), li);
        }
        if let Ok(f) = serde_json::from_str::<PositionsFrame<'_>>(text) {
            return positions_event(f.data.unwrap_or_default(), f.li);
        }
    }
    let env: Envelope<'_> = serde_json::from_str(text).map_err(|e| ParseError(format!("not a JSON object: {e}")))?;
    if let Some(err) = env
        .err
        .or_else(|| env.error.as_ref().and_then(Value::as_str).map(str::to_owned))
    {
        return Ok(WsFrame::Error(err));
    }
    let data = env.data.map(|d| d.get()).unwrap_or("null");
    match env.channel.as_deref().unwrap_or("") {
        "subscribe" => {
            let ack: AckData = serde_json::from_str(data).unwrap_or(AckData { source: String::new() });
            Ok(WsFrame::SubscribeAck { source: ack.source })
        }
        "account_positions" => {
            // A close is documented as `data: []`; `null` is read the same way.
            let wire: Vec<WsPosition> = if data == "null" {
                Vec::new()
            } else {
                serde_json::from_str(data).map_err(|e| ParseError(format!("account_positions: {e}")))?
            };
            positions_event(wire, env.li)
        }
        "account_trades" => {
            let trades: Vec<WsTrade> =
                serde_json::from_str(data).map_err(|e| ParseError(format!("account_trades: {e}")))?;
            let mut symbols: Vec<String> = Vec::new();
            let mut cause = String::new();
            for t in trades {
                let tc = t.tc.unwrap_or_default();
                if tc != "normal" && !tc.is_empty() {
                    if !symbols.contains(&t.s) {
                        symbols.push(t.s);
                    }
                    cause = tc;
                }
            }
            if symbols.is_empty() {
                Ok(WsFrame::Alive)
            } else {
                Ok(WsFrame::Event(StreamEvent::Dirty { symbols, cause }))
            }
        }
        _ => Ok(WsFrame::Alive),
    }
}

/// The subscribe message for one account channel.
pub fn subscribe_message(source: &str, account: &str) -> String {
    serde_json::json!({"method": "subscribe", "params": {"source": source, "account": account}}).to_string()
}

/// The JSON keep-alive (§4.2): protocol pings do not count as client traffic.
pub const PING_MESSAGE: &str = r#"{"method":"ping"}"#;

#[cfg(test)]
mod tests;

#[cfg(test)]
mod order_tests {
    use super::*;

    #[test]
    fn documented_prices_response_parses() {
        let body = br#"{"success":true,"data":[{"funding":"0.00010529","mark":"1.084819","mid":"1.08615","next_funding":"0.00011096","open_interest":"3634796","oracle":"1.084524","symbol":"XPL","timestamp":1759222967974,"volume_24h":"20896698.0672","yesterday_price":"1.3412"}],"error":null,"code":null}"#;
        let marks = prices_response(200, body).unwrap();
        assert_eq!(marks["XPL"], "1.084819".parse::<Decimal>().unwrap());
    }

    #[test]
    fn order_responses_are_classified() {
        assert_eq!(
            order_response(
                200,
                br#"{"success":true,"data":{"order_id":42},"error":null,"code":null}"#
            ),
            Ok(42)
        );
        assert_eq!(order_response(200, br#"{"order_id":12345}"#), Ok(12345));
        let observed = br#"{"error":"No position found for reduce-only order: HVXrj9PFN5sLqkvWhs5quGsQHKsbaeb75sroPtTiCUWU WLFI"}"#;
        assert!(matches!(order_response(422, observed), Err(OrderError::NoPosition(_))));
        assert!(matches!(
            order_response(400, br#"{"success":false,"data":null,"error":"x","code":23}"#),
            Err(OrderError::NoPosition(_))
        ));
        assert!(matches!(
            order_response(
                400,
                br#"{"success":false,"error":"Duplicate client order id: a","code":36}"#
            ),
            Err(OrderError::DuplicateClientOrderId(_))
        ));
        assert!(matches!(
            order_response(400, br#"{"error":"e","code":22}"#),
            Err(OrderError::ExceedsPosition(_))
        ));
        assert!(matches!(
            order_response(400, br#"{"error":"e","code":21}"#),
            Err(OrderError::WrongSide(_))
        ));
        assert!(matches!(
            order_response(429, br#"{"error":"Rate limit exceeded","code":429}"#),
            Err(OrderError::RateLimited { .. })
        ));
        assert!(matches!(
            order_response(500, br#"{"error":"Internal server error"}"#),
            Err(OrderError::Unknown(_))
        ));
        assert!(matches!(order_response(504, b"<html>"), Err(OrderError::Unknown(_))));
        assert!(matches!(
            order_response(400, br#"{"success":false,"error":"Verification failed","code":400}"#),
            Err(OrderError::Rejected { status: 400, .. })
        ));
    }
}
