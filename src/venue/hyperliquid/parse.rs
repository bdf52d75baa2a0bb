//! Hyperliquid's `/info` answers into venue-neutral data
//! (shared/venues/hyperliquid.md §2, §3), and the worst price of a close
//! (§3.4, §5.2). Pure: bytes in, decimals out; never a float.
//!
//! Numbers arrive as decimal strings, sometimes as JSON numbers (the
//! reference says to accept both); both are read exactly. A body that is
//! not the documented shape (an error envelope, `null`, a 422's plain text)
//! is an error, never "no positions".

use std::collections::BTreeMap;

use rust_decimal::{Decimal, RoundingStrategy};
use serde::Deserialize;
use serde_json::Value;

use crate::domain::{Position, PositionKey};
use crate::venue::changes::LastFrame;
use crate::venue::types::{MarketInfo, OrderFailure, RestError, RestSnapshot};

fn decode(e: impl std::fmt::Display) -> RestError {
    RestError::Decode(e.to_string())
}

/// The body of a 200, or the status as an error (a 429 is the caller's:
/// it reads the headers).
fn ok_body(status: u16, body: &[u8]) -> Result<Value, RestError> {
    if status != 200 {
        let text: String = String::from_utf8_lossy(body).chars().take(200).collect();
        return Err(RestError::Http { status, message: text });
    }
    serde_json::from_slice(body).map_err(decode)
}

/// A decimal given as a string or a JSON number.
fn number(v: &Value, what: &str) -> Result<Decimal, RestError> {
    match v {
        Value::String(s) => s
            .parse::<Decimal>()
            .map_err(|_| decode(format!("{what} {s:?} is not a decimal"))),
        Value::Number(n) => n
            .to_string()
            .parse::<Decimal>()
            .or_else(|_| Decimal::from_scientific(&n.to_string()))
            .map_err(|_| decode(format!("{what} {n} is not a decimal"))),
        other => Err(decode(format!("{what} is {other}, not a number"))),
    }
}

/// `clearinghouseState` → the account's open positions (one-way: one net
/// position per coin; `szi` signed). A position of size zero is flat.
pub fn clearinghouse_state(status: u16, body: &[u8]) -> Result<RestSnapshot, RestError> {
    positions_of(&ok_body(status, body)?)
}

/// The positions of a `clearinghouseState` object (REST's body, or the
/// stream's `data.clearinghouseState`).
fn positions_of(v: &Value) -> Result<RestSnapshot, RestError> {
    let Some(list) = v.get("assetPositions").and_then(Value::as_array) else {
        return Err(decode("clearinghouseState without assetPositions"));
    };
    let mut positions = Vec::with_capacity(list.len());
    for item in list {
        let p = item
            .get("position")
            .ok_or_else(|| decode("an assetPositions entry without position"))?;
        let coin = p
            .get("coin")
            .and_then(Value::as_str)
            .ok_or_else(|| decode("a position without coin"))?;
        let size = number(p.get("szi").unwrap_or(&Value::Null), "szi")?;
        if size.is_zero() {
            continue;
        }
        let entry_price = match p.get("entryPx") {
            None | Some(Value::Null) => None,
            Some(e) => Some(number(e, "entryPx")?),
        };
        positions.push(Position {
            key: PositionKey::net(coin),
            size,
            entry_price,
        });
    }
    Ok(RestSnapshot { positions, seq: None })
}

/// One perp market of `meta`: its asset id (its index in the universe, on
/// the main dex) and size decimals.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Market {
    pub coin: String,
    pub asset: u32,
    pub sz_decimals: u32,
    pub delisted: bool,
}

impl Market {
    /// The lot: 10^-szDecimals.
    pub fn lot(&self) -> Decimal {
        Decimal::new(1, self.sz_decimals)
    }

    /// The finest price step a perp allows (6 − szDecimals decimals; the
    /// 5-significant-figure rule is [`worst_price`]'s).
    pub fn tick(&self) -> Decimal {
        Decimal::new(1, 6u32.saturating_sub(self.sz_decimals))
    }
}

#[derive(Deserialize)]
struct UniverseItem {
    name: String,
    #[serde(rename = "szDecimals")]
    sz_decimals: u32,
    #[serde(default, rename = "isDelisted")]
    is_delisted: bool,
}

/// `meta` → the perp universe, in order (the index is the asset id).
pub fn meta(status: u16, body: &[u8]) -> Result<Vec<Market>, RestError> {
    universe(&ok_body(status, body)?)
}

fn universe(v: &Value) -> Result<Vec<Market>, RestError> {
    let items: Vec<UniverseItem> = serde_json::from_value(
        v.get("universe")
            .cloned()
            .ok_or_else(|| decode("meta without universe"))?,
    )
    .map_err(decode)?;
    items
        .into_iter()
        .enumerate()
        .map(|(i, u)| {
            if u.sz_decimals > 6 {
                return Err(decode(format!("{}: szDecimals {} above 6", u.name, u.sz_decimals)));
            }
            Ok(Market {
                coin: u.name,
                asset: u32::try_from(i).map_err(decode)?,
                sz_decimals: u.sz_decimals,
                delisted: u.is_delisted,
            })
        })
        .collect()
}

/// The markets as every venue gives them (delisted coins left out: nothing
/// is traded there, so a bot row for one is unmapped).
pub fn market_infos(markets: &[Market]) -> Vec<MarketInfo> {
    markets
        .iter()
        .filter(|m| !m.delisted)
        .map(|m| MarketInfo {
            symbol: m.coin.clone(),
            lot_size: m.lot(),
            tick_size: m.tick(),
        })
        .collect()
}

/// `metaAndAssetCtxs` → the universe and each coin's mark price.
pub fn meta_and_asset_ctxs(status: u16, body: &[u8]) -> Result<(Vec<Market>, BTreeMap<String, Decimal>), RestError> {
    let v = ok_body(status, body)?;
    let (Some(meta), Some(ctxs)) = (v.get(0), v.get(1).and_then(Value::as_array)) else {
        return Err(decode("metaAndAssetCtxs is not [meta, ctxs]"));
    };
    let markets = universe(meta)?;
    if ctxs.len() != markets.len() {
        return Err(decode(format!(
            "{} asset contexts for {} markets",
            ctxs.len(),
            markets.len()
        )));
    }
    let mut marks = BTreeMap::new();
    for (m, ctx) in markets.iter().zip(ctxs) {
        if let Some(px) = ctx.get("markPx").filter(|p| !p.is_null()) {
            marks.insert(m.coin.clone(), number(px, "markPx")?);
        }
    }
    Ok((markets, marks))
}

/// `allMids` → mid prices by coin (§3.5; the last trade where the book
/// is empty). Spot entries (`@N`) are kept; callers look up their coin.
pub fn all_mids(status: u16, body: &[u8]) -> Result<BTreeMap<String, Decimal>, RestError> {
    let v = ok_body(status, body)?;
    let map = v.as_object().ok_or_else(|| decode("allMids is not an object"))?;
    map.iter()
        .map(|(coin, px)| Ok((coin.clone(), number(px, "mid")?)))
        .collect()
}

/// A WebSocket frame, as the stream task needs it (§4.1, §4.3).
#[derive(Debug, Clone, PartialEq)]
pub enum WsFrame {
    /// `subscriptionResponse`: the venue acknowledged a subscription.
    Subscribed,
    /// A `clearinghouseState` frame for the main dex: the whole position set.
    Event(crate::venue::types::StreamEvent),
    /// `pong`, the plain-text greeting, and channels not used here.
    Alive,
    /// `{"channel":"error","data":"<text>"}`.
    Error(String),
}

/// Reads one WebSocket frame. The venue may greet with the plain text
/// `Websocket connection established.`: that is life, not an error.
///
/// Read into typed, borrowed structs (fields not named here are skipped
/// without being built): a `clearinghouseState` frame carries margin
/// summaries, leverage and funding for every position, and only the coin,
/// size and entry price matter.
///
/// The hot frame is read first by the one-pass scanner (`scan.rs`), which
/// leaves to this reading anything it does not fully understand.
pub fn ws_frame(text: &str) -> Result<WsFrame, RestError> {
    if let Some(items) = super::scan::clearinghouse_state(text, LastFrame::NONE, Vec::new()) {
        let positions = items
            .into_iter()
            .filter_map(|i| i.read)
            .filter(|p| !p.size.is_zero())
            .collect();
        return Ok(WsFrame::Event(crate::venue::types::StreamEvent::Snapshot {
            positions,
            seq: None,
        }));
    }
    serde_ws_frame(text)
}

/// One connection's reader of frames: [`ws_frame`], except that a
/// `clearinghouseState` frame that repeats the last one's coins in the
/// same places is told as what changed (`venue/changes.rs`). Made anew for
/// every connection.
#[derive(Debug, Default)]
pub struct Decoder {
    last: LastFrame,
}

impl Decoder {
    /// Reads one text frame of this connection.
    pub fn frame(&mut self, text: &str) -> Result<WsFrame, RestError> {
        if text.starts_with(r#"{"channel":"clearinghouseState","#) {
            let scan = |last: &LastFrame, items| {
                Some(Ok::<_, RestError>((
                    super::scan::clearinghouse_state(text, last, items)?,
                    None,
                )))
            };
            if let Some(told) = self.last.read(text, scan) {
                return told.map(WsFrame::Event);
            }
        }
        // Read by serde, so not from items (`LastFrame::read_elsewhere`).
        let frame = serde_ws_frame(text)?;
        if let WsFrame::Event(e) = &frame {
            self.last.read_elsewhere(e);
        }
        Ok(frame)
    }
}

/// [`ws_frame`] by serde alone: the reference the scanner agrees with.
pub(super) fn serde_ws_frame(text: &str) -> Result<WsFrame, RestError> {
    if !text.trim_start().starts_with('{') {
        return Ok(WsFrame::Alive);
    }
    let frame: ws::Frame<'_> = serde_json::from_str(text).map_err(decode)?;
    let data = || frame.data.ok_or_else(|| decode("a frame without data"));
    match frame.channel.as_deref() {
        Some("subscriptionResponse") => Ok(WsFrame::Subscribed),
        Some("error") => Ok(WsFrame::Error(
            frame
                .data
                .and_then(|d| serde_json::from_str::<String>(d.get()).ok())
                .unwrap_or_default(),
        )),
        Some("clearinghouseState") => {
            let data: ws::StateData<'_> = serde_json::from_str(data()?.get()).map_err(decode)?;
            // One subscription per dex; this watcher reads the main one.
            if data.dex.as_deref().is_some_and(|d| !d.is_empty()) {
                return Ok(WsFrame::Alive);
            }
            let state = data
                .state
                .ok_or_else(|| decode("clearinghouseState frame without its state"))?;
            let mut positions = Vec::with_capacity(state.asset_positions.len());
            for item in state.asset_positions {
                let p = item.position;
                if p.szi.0.is_zero() {
                    continue;
                }
                positions.push(Position {
                    key: PositionKey::net(p.coin.into_owned()),
                    size: p.szi.0,
                    entry_price: p.entry_px.map(|d| d.0),
                });
            }
            Ok(WsFrame::Event(crate::venue::types::StreamEvent::Snapshot {
                positions,
                seq: None,
            }))
        }
        _ => Ok(WsFrame::Alive),
    }
}

/// The stream's frames as read: only what is used, borrowed from the text.
mod ws {
    use std::borrow::Cow;

    use rust_decimal::Decimal;
    use serde::de::{self, Deserializer, Visitor};
    use serde::Deserialize;

    #[derive(Deserialize)]
    pub struct Frame<'a> {
        #[serde(borrow)]
        pub channel: Option<Cow<'a, str>>,
        #[serde(borrow)]
        pub data: Option<&'a serde_json::value::RawValue>,
    }

    #[derive(Deserialize)]
    pub struct StateData<'a> {
        #[serde(borrow, default)]
        pub dex: Option<Cow<'a, str>>,
        #[serde(rename = "clearinghouseState", borrow)]
        pub state: Option<State<'a>>,
    }

    #[derive(Deserialize)]
    pub struct State<'a> {
        #[serde(rename = "assetPositions", borrow)]
        pub asset_positions: Vec<AssetPosition<'a>>,
    }

    #[derive(Deserialize)]
    pub struct AssetPosition<'a> {
        #[serde(borrow)]
        pub position: Pos<'a>,
    }

    #[derive(Deserialize)]
    pub struct Pos<'a> {
        #[serde(borrow)]
        pub coin: Cow<'a, str>,
        pub szi: Dec,
        #[serde(rename = "entryPx", default)]
        pub entry_px: Option<Dec>,
    }

    /// A decimal as the venue writes it: a string, or a JSON number (read
    /// as [`super::number`] reads it).
    pub struct Dec(pub Decimal);

    impl<'de> Deserialize<'de> for Dec {
        fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Dec, D::Error> {
            struct V;
            impl Visitor<'_> for V {
                type Value = Dec;

                fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                    f.write_str("a decimal, as a string or a number")
                }

                fn visit_str<E: de::Error>(self, s: &str) -> Result<Dec, E> {
                    s.parse::<Decimal>()
                        .map(Dec)
                        .map_err(|_| E::custom(format!("{s:?} is not a decimal")))
                }

                fn visit_i64<E: de::Error>(self, n: i64) -> Result<Dec, E> {
                    Ok(Dec(Decimal::from(n)))
                }

                fn visit_u64<E: de::Error>(self, n: u64) -> Result<Dec, E> {
                    Ok(Dec(Decimal::from(n)))
                }

                fn visit_f64<E: de::Error>(self, n: f64) -> Result<Dec, E> {
                    let text = serde_json::Number::from_f64(n)
                        .map(|n| n.to_string())
                        .ok_or_else(|| E::custom(format!("{n} is not a decimal")))?;
                    text.parse::<Decimal>()
                        .or_else(|_| Decimal::from_scientific(&text))
                        .map(Dec)
                        .map_err(|_| E::custom(format!("{n} is not a decimal")))
                }
            }
            d.deserialize_any(V)
        }
    }
}

/// The worst price of a close as the SDK's `_slippage_price` makes it:
/// `mid × (1 ± slippage)`, rounded to 5 significant figures, then to
/// `6 − szDecimals` decimals (an integer price is always valid).
pub fn worst_price(mid: Decimal, is_buy: bool, slippage: Decimal, sz_decimals: u32) -> Option<Decimal> {
    if mid <= Decimal::ZERO || slippage < Decimal::ZERO || slippage >= Decimal::ONE {
        return None;
    }
    let px = if is_buy {
        mid * (Decimal::ONE + slippage)
    } else {
        mid * (Decimal::ONE - slippage)
    };
    let px = px.round_sf_with_strategy(5, RoundingStrategy::MidpointNearestEven)?;
    let px = px.round_dp_with_strategy(6u32.saturating_sub(sz_decimals), RoundingStrategy::MidpointNearestEven);
    (px > Decimal::ZERO).then(|| px.normalize())
}

/// What the exchange says about an order (`orderStatus`, §3.6).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OrderState {
    pub oid: u64,
    /// `open`, `filled`, `canceled`, `reduceOnlyRejected`, … as given.
    pub status: String,
}

/// `orderStatus` by oid or cloid: the order, or `None` when the venue has
/// never seen it (`unknownOid`). Anything else is an error, never "unknown".
pub fn order_status(status: u16, body: &[u8]) -> Result<Option<OrderState>, RestError> {
    let v = ok_body(status, body)?;
    match v.get("status").and_then(Value::as_str) {
        Some("unknownOid") => Ok(None),
        Some("order") => {
            let o = &v["order"];
            let oid = o["order"]["oid"]
                .as_u64()
                .ok_or_else(|| decode("orderStatus without an oid"))?;
            let status = o["status"]
                .as_str()
                .ok_or_else(|| decode("orderStatus without a status"))?
                .to_owned();
            Ok(Some(OrderState { oid, status }))
        }
        _ => Err(decode(format!(
            "orderStatus: {}",
            v.to_string().chars().take(200).collect::<String>()
        ))),
    }
}

/// What a final order status means for a close (§3.6, §5.4): its oid when
/// it traded, else why not.
pub fn settled(state: &OrderState) -> Result<String, OrderFailure> {
    let s = state.status.as_str();
    match s {
        "filled" | "open" | "triggered" => Ok(state.oid.to_string()),
        // An IOC's unfilled rest is canceled; the fresh read shows any part
        // that filled.
        "canceled" | "iocCancelRejected" | "marketOrderNoLiquidityRejected" => {
            Err(OrderFailure::NoFill(format!("order {} {s}", state.oid)))
        }
        "reduceOnlyRejected" | "reduceOnlyCanceled" | "perpMarginRejected" => {
            Err(OrderFailure::Resize(format!("order {} {s}", state.oid)))
        }
        _ => Err(OrderFailure::Rejected(format!("order {} {s}", state.oid))),
    }
}

/// Reads an `/exchange` reply to a one-order batch (§5.3, §5.4, §8): the
/// oid of a fill, or what the refusal means. HTTP 200 is not success: the
/// envelope's `status` and the order's own status both count.
pub fn order_reply(v: &Value) -> Result<String, OrderFailure> {
    match v.get("status").and_then(Value::as_str) {
        Some("ok") => {}
        Some("err") => {
            let text = v.get("response").and_then(Value::as_str).unwrap_or("").to_owned();
            return Err(request_error(text));
        }
        _ => return Err(OrderFailure::Unknown(format!("unreadable reply {v}"))),
    }
    let status = &v["response"]["data"]["statuses"][0];
    if let Some(filled) = status.get("filled") {
        return match filled.get("oid").and_then(Value::as_u64) {
            Some(oid) => Ok(oid.to_string()),
            None => Err(OrderFailure::Unknown(format!("a fill without an oid: {status}"))),
        };
    }
    if let Some(resting) = status.get("resting") {
        // Never for an IOC; it is on the book, which the verification reads.
        return Ok(resting["oid"].as_u64().map(|o| o.to_string()).unwrap_or_default());
    }
    match status.get("error").and_then(Value::as_str) {
        Some(e) => Err(order_error(e.to_owned())),
        None => Err(OrderFailure::Unknown(format!("unreadable order status {status}"))),
    }
}

/// A whole-request refusal (`{"status":"err","response":"…"}`).
fn request_error(text: String) -> OrderFailure {
    if text.starts_with("Too many cumulative requests") {
        // The address budget is spent: one action per 10 s (§7).
        OrderFailure::RateLimited {
            retry_after: std::time::Duration::from_secs(10),
        }
    } else if text.starts_with("User or API Wallet") || text.starts_with("Must deposit before performing actions") {
        OrderFailure::Rejected(format!(
            "{text} (the signature recovered another address: the close key is not the account's or its approved agent, or the agent expired, or the network is wrong)"
        ))
    } else {
        OrderFailure::Rejected(text)
    }
}

/// A per-order refusal, matched on the documented prefix (live texts end
/// in ` asset=N`).
fn order_error(text: String) -> OrderFailure {
    let starts = |p: &str| text.starts_with(p);
    if starts("Reduce only order would increase position") || starts("Insufficient margin to place order") {
        // Stale size or wrong side: re-read, re-size; flat means done.
        OrderFailure::Resize(text)
    } else if starts("Order could not immediately match") || starts("No liquidity available for market order") {
        OrderFailure::NoFill(text)
    } else {
        // Minimum value, tick, size decimals, price too far, open interest:
        // retrying the same order cannot help.
        OrderFailure::Rejected(text)
    }
}

#[cfg(test)]
mod scan_tests;

#[cfg(test)]
mod tests {
    use std::str::FromStr;

    use super::*;

    fn d(s: &str) -> Decimal {
        Decimal::from_str(s).unwrap()
    }

    /// The reference's example (§3.1), and a short, a flat and a numeric one.
    #[test]
    fn positions_from_clearinghouse_state() {
        let body = br#"{"assetPositions":[{"type":"oneWay","position":{
            "coin":"ETH","szi":"0.0335","entryPx":"2986.3","positionValue":"100.02765",
            "unrealizedPnl":"-0.0134","returnOnEquity":"-0.0026789","liquidationPx":"2866.26936529",
            "marginUsed":"4.967826","maxLeverage":50,
            "leverage":{"type":"isolated","value":20,"rawUsd":"-95.059824"},
            "cumFunding":{"allTime":"514.085417","sinceOpen":"0.0","sinceChange":"0.0"}}},
            {"type":"oneWay","position":{"coin":"BTC","szi":"-0.00120","entryPx":"97000.5","liquidationPx":null}},
            {"type":"oneWay","position":{"coin":"SOL","szi":"0.0","entryPx":"150"}},
            {"type":"oneWay","position":{"coin":"kPEPE","szi":-12000,"entryPx":0.0123}}],
            "marginSummary":{"accountValue":"1"},"withdrawable":"1","time":1708622398623}"#;
        let snap = clearinghouse_state(200, body).unwrap();
        let got: Vec<(String, String)> = snap
            .positions
            .iter()
            .map(|p| (p.key.symbol.to_string(), p.size.normalize().to_string()))
            .collect();
        assert_eq!(
            got,
            vec![
                ("ETH".into(), "0.0335".into()),
                ("BTC".into(), "-0.0012".into()),
                ("kPEPE".into(), "-12000".into())
            ]
        );
        assert_eq!(snap.positions[0].entry_price, Some(d("2986.3")));
        assert_eq!(
            clearinghouse_state(200, br#"{"assetPositions":[],"time":1}"#)
                .unwrap()
                .positions,
            vec![]
        );
    }

    #[test]
    fn an_answer_that_is_not_the_documented_shape_is_never_flat() {
        for (status, body) in [
            (
                200,
                &br#"{"status":"err","response":"User or API Wallet 0xabc does not exist."}"#[..],
            ),
            (200, b"null"),
            (422, b"Failed to deserialize the JSON body into the target type"),
            (500, b"Internal Server Error"),
            (
                200,
                br#"{"assetPositions":[{"type":"oneWay","position":{"coin":"ETH","szi":"lots"}}]}"#,
            ),
            (200, br#"{"assetPositions":[{"type":"oneWay"}]}"#),
        ] {
            assert!(
                clearinghouse_state(status, body).is_err(),
                "{}",
                String::from_utf8_lossy(body)
            );
        }
    }

    /// The frame shapes of §4.1 and §4.3.
    #[test]
    fn websocket_frames() {
        assert_eq!(ws_frame("Websocket connection established.").unwrap(), WsFrame::Alive);
        assert_eq!(ws_frame(r#"{"channel":"pong"}"#).unwrap(), WsFrame::Alive);
        assert_eq!(
            ws_frame(r#"{"channel":"subscriptionResponse","data":{"method":"subscribe","subscription":{"type":"clearinghouseState","user":"0xabc"}}}"#).unwrap(),
            WsFrame::Subscribed
        );
        assert_eq!(
            ws_frame(r#"{"channel":"error","data":"Already subscribed: {}"}"#).unwrap(),
            WsFrame::Error("Already subscribed: {}".into())
        );
        let frame = r#"{"channel":"clearinghouseState","data":{"dex":"","user":"0xabc","clearinghouseState":
            {"assetPositions":[{"type":"oneWay","position":{"coin":"SOL","szi":"-12.5","entryPx":"201.4"}}],"time":1}}}"#;
        let WsFrame::Event(crate::venue::types::StreamEvent::Snapshot { positions, seq: None }) =
            ws_frame(frame).unwrap()
        else {
            panic!("not a snapshot")
        };
        assert_eq!(positions[0].key.symbol, "SOL");
        assert_eq!(positions[0].size, d("-12.5"));
        // Flat is an empty set, a full replacement.
        let flat = r#"{"channel":"clearinghouseState","data":{"dex":"","user":"0xabc","clearinghouseState":{"assetPositions":[],"time":2}}}"#;
        assert!(matches!(
            ws_frame(flat).unwrap(),
            WsFrame::Event(crate::venue::types::StreamEvent::Snapshot { positions, .. }) if positions.is_empty()
        ));
        // A broken state is an error, never an empty set.
        let broken = r#"{"channel":"clearinghouseState","data":{"dex":"","user":"0xabc"}}"#;
        assert!(ws_frame(broken).is_err());
        assert!(ws_frame(r#"{"channel":"clearinghouseState","data":{"clearinghouseState":null}}"#).is_err());
    }

    #[test]
    fn the_universe_gives_asset_ids_lots_and_ticks() {
        let body = br#"{"universe":[{"name":"BTC","szDecimals":5,"maxLeverage":40},
            {"name":"ETH","szDecimals":4,"maxLeverage":25},
            {"name":"MATIC","szDecimals":1,"maxLeverage":20,"isDelisted":true},
            {"name":"kPEPE","szDecimals":0,"maxLeverage":10,"onlyIsolated":true}],"marginTables":[]}"#;
        let m = meta(200, body).unwrap();
        assert_eq!(m[1].coin, "ETH");
        assert_eq!(m[1].asset, 1, "the index is the asset id");
        assert_eq!(m[1].lot(), d("0.0001"));
        assert_eq!(m[1].tick(), d("0.01"));
        assert_eq!(m[3].asset, 3, "a delisted coin keeps its index");
        let infos = market_infos(&m);
        assert_eq!(
            infos.iter().map(|i| i.symbol.as_str()).collect::<Vec<_>>(),
            ["BTC", "ETH", "kPEPE"]
        );
        assert_eq!(infos[2].lot_size, d("1"));
        assert!(meta(200, br#"{"universe":[{"name":"X","szDecimals":9}]}"#).is_err());
    }

    #[test]
    fn marks_come_with_the_universe() {
        let body = br#"[{"universe":[{"name":"BTC","szDecimals":5},{"name":"ETH","szDecimals":4}]},
            [{"markPx":"97123.4","midPx":"97123.5","oraclePx":"97100"},{"markPx":"3017.37","midPx":null}]]"#;
        let (m, marks) = meta_and_asset_ctxs(200, body).unwrap();
        assert_eq!(m.len(), 2);
        assert_eq!(marks["ETH"], d("3017.37"));
        let short = br#"[{"universe":[{"name":"BTC","szDecimals":5}]},[]]"#;
        assert!(meta_and_asset_ctxs(200, short).is_err());
    }

    /// Every `_slippage_price` case of the shared vectors (the SDK's own
    /// output), to the wire string.
    #[test]
    fn worst_prices_are_the_sdks() {
        let f: Value =
            serde_json::from_str(include_str!("../../../testdata/vectors/hyperliquid_signing.json")).unwrap();
        for c in f["slippage_price_examples"]["cases"].as_array().unwrap() {
            let px = worst_price(
                d(&c["mid"].to_string()),
                c["is_buy"].as_bool().unwrap(),
                d(&c["slippage"].to_string()),
                c["szDecimals"].as_u64().unwrap() as u32,
            )
            .unwrap();
            assert_eq!(
                crate::venue::hyperliquid::sign::to_wire(px).unwrap(),
                c["wire"].as_str().unwrap(),
                "{c}"
            );
        }
        assert_eq!(worst_price(d("3000"), false, d("1"), 4), None);
        assert_eq!(worst_price(Decimal::ZERO, true, d("0.05"), 4), None);
    }
    #[test]
    fn exchange_replies_mean_what_the_reference_says() {
        let v = |s: &str| serde_json::from_str::<Value>(s).unwrap();
        let filled = v(
            r#"{"status":"ok","response":{"type":"order","data":{"statuses":[{"filled":{"totalSz":"0.01","avgPx":"2851.2","oid":123,"cloid":"0x64726966747761746368000000000001"}}]}}}"#,
        );
        assert_eq!(order_reply(&filled), Ok("123".into()));
        let err = |e: &str| {
            order_reply(&v(&format!(
                r#"{{"status":"ok","response":{{"type":"order","data":{{"statuses":[{{"error":"{e}"}}]}}}}}}"#
            )))
        };
        assert!(matches!(
            err("Reduce only order would increase position. asset=1"),
            Err(OrderFailure::Resize(_))
        ));
        assert!(matches!(
            err("Order could not immediately match against any resting orders. asset=1"),
            Err(OrderFailure::NoFill(_))
        ));
        assert!(matches!(
            err("Order must have minimum value of $10. asset=1"),
            Err(OrderFailure::Rejected(_))
        ));
        assert!(matches!(
            err("Price too far from oracle asset=4"),
            Err(OrderFailure::Rejected(_))
        ));
        let whole = |t: &str| order_reply(&v(&format!(r#"{{"status":"err","response":"{t}"}}"#)));
        match whole("User or API Wallet 0xabc does not exist.") {
            Err(OrderFailure::Rejected(m)) => assert!(m.contains("not the account's or its approved agent"), "{m}"),
            other => panic!("{other:?}"),
        }
        assert!(matches!(
            whole("Too many cumulative requests sent (10001 > 10000) for cumulative volume traded $0."),
            Err(OrderFailure::RateLimited { .. })
        ));
        assert!(matches!(order_reply(&v("null")), Err(OrderFailure::Unknown(_))));
    }

    #[test]
    fn order_status_by_cloid() {
        assert_eq!(order_status(200, br#"{"status":"unknownOid"}"#), Ok(None));
        let found = order_status(
            200,
            br#"{"status":"order","order":{"order":{"coin":"ETH","oid":7,"cloid":"0x01"},"status":"filled","statusTimestamp":1}}"#,
        )
        .unwrap()
        .unwrap();
        assert_eq!(settled(&found), Ok("7".into()));
        let canceled = OrderState {
            oid: 8,
            status: "canceled".into(),
        };
        assert!(matches!(settled(&canceled), Err(OrderFailure::NoFill(_))));
        assert!(order_status(200, b"null").is_err());
        assert!(order_status(500, b"oops").is_err());
    }

    /// The stream's typed decoder reads a state exactly as REST's does:
    /// every field around the positions skipped, sizes as strings or
    /// numbers, a null entry price, a flat position dropped, an escaped coin.
    #[test]
    fn the_stream_decoder_agrees_with_the_rest_decoder() {
        let state = r#"{"marginSummary":{"accountValue":"1000.0","totalNtlPos":"100.0"},"crossMaintenanceMarginUsed":"1.0",
            "assetPositions":[
              {"type":"oneWay","position":{"coin":"SOL","szi":"-12.5","leverage":{"type":"cross","value":20},"entryPx":"201.4","cumFunding":{"allTime":"0.1"}}},
              {"type":"oneWay","position":{"coin":"ETH","szi":0.25,"entryPx":null,"liquidationPx":null}},
              {"type":"oneWay","position":{"coin":"BTC","szi":"0.0","entryPx":"87000"}},
              {"type":"oneWay","position":{"coin":"k\u0050EPE","szi":"1000","entryPx":"0.00001"}}],"time":1}"#;
        let rest = clearinghouse_state(200, state.as_bytes()).unwrap();
        let frame = format!(
            r#"{{"channel":"clearinghouseState","data":{{"dex":"","user":"0xabc","clearinghouseState":{state}}}}}"#
        );
        let WsFrame::Event(crate::venue::types::StreamEvent::Snapshot { positions, .. }) = ws_frame(&frame).unwrap()
        else {
            panic!("not a snapshot")
        };
        assert_eq!(positions, rest.positions);
        assert_eq!(positions.len(), 3);
        assert_eq!(positions[2].key.symbol, "kPEPE");
        // Another dex's frame is not this watcher's; a bad size is an error.
        let other = frame.replace(r#""dex":"""#, r#""dex":"xyz""#);
        assert_eq!(ws_frame(&other).unwrap(), WsFrame::Alive);
        assert!(ws_frame(&frame.replace(r#""-12.5""#, r#""twelve""#)).is_err());
    }
}
