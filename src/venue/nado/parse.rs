//! Nado's wire format to venue-neutral values, pure. Prices and base
//! amounts are integers scaled by 10^18 (x18), sent as decimal strings;
//! conversions are exact or fail, nothing passes through a float.

use std::collections::BTreeMap;

use rust_decimal::Decimal;

use super::models::{self, Envelope, Kind, Tag};
use crate::domain::{Leg, Position, PositionKey, Symbol};
use crate::venue::types::{MarketInfo, OrderFailure, RestSnapshot, StreamEvent};

/// One perp market, from the `symbols` query.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Product {
    pub product_id: u32,
    pub symbol: Symbol,
    pub size_increment: Decimal,
    pub price_increment: Decimal,
    /// Quote notional.
    pub min_size: Decimal,
    /// `not_tradable` means a close will fail.
    pub trading_status: String,
}

/// Product ids ↔ symbols, resolved at start-up and refreshed; never hard-coded.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Products {
    pub by_id: BTreeMap<u32, Product>,
}

impl Products {
    pub fn symbol(&self, id: u32) -> Option<&Symbol> {
        self.by_id.get(&id).map(|p| &p.symbol)
    }

    pub fn id(&self, symbol: &str) -> Option<u32> {
        self.by_id.values().find(|p| p.symbol == symbol).map(|p| p.product_id)
    }

    pub fn markets(&self) -> Vec<MarketInfo> {
        self.by_id
            .values()
            .map(|p| MarketInfo {
                symbol: p.symbol.to_string(),
                lot_size: p.size_increment,
                tick_size: p.price_increment,
            })
            .collect()
    }
}

/// A failed or malformed response, classified.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NadoError {
    /// `status: failure` with the venue's code and message.
    #[error("venue error {code}: {message}")]
    Venue { code: i64, message: String },
    #[error("unparsable response: {0}")]
    Parse(String),
}

impl NadoError {
    /// 1000/1015: shares the budget with the bot; back off.
    pub fn is_rate_limit(&self) -> bool {
        matches!(self, NadoError::Venue { code: 1000 | 1015, .. })
    }
}

fn envelope<T: serde::de::DeserializeOwned>(text: &str) -> Result<T, NadoError> {
    let e: Envelope<T> = serde_json::from_str(text).map_err(|e| NadoError::Parse(e.to_string()))?;
    if e.status != "success" {
        return Err(NadoError::Venue {
            code: e.error_code.unwrap_or(0),
            message: e.error.unwrap_or_default(),
        });
    }
    e.data.ok_or_else(|| NadoError::Parse("success without data".into()))
}

fn x18(s: &str) -> Result<Decimal, NadoError> {
    parse_x18(s).map_err(NadoError::Parse)
}

/// The entry price a position's quote leg implies, `-v_quote / amount`
/// (nado.md §3: approximate once funding or PnL settlement has moved the
/// quote leg), to 8 decimals; `None` when the venue gave no quote leg or it
/// does not divide.
fn entry_price(v_quote: Option<&str>, size: Decimal) -> Result<Option<Decimal>, NadoError> {
    let Some(q) = v_quote else { return Ok(None) };
    let q = x18(q)?;
    Ok((-q)
        .checked_div(size)
        .filter(|p| p.is_sign_positive() && !p.is_zero())
        .map(|p| p.round_dp(8).normalize()))
}

/// `contracts`: (chain id, endpoint address).
pub fn contracts(text: &str) -> Result<(u64, String), NadoError> {
    let c: models::Contracts = envelope(text)?;
    let chain = c
        .chain_id
        .parse()
        .map_err(|_| NadoError::Parse(format!("chain_id {:?}", c.chain_id)))?;
    Ok((chain, c.endpoint_addr))
}

/// `symbols` (perps): the product table.
pub fn symbols(text: &str) -> Result<Products, NadoError> {
    let s: models::Symbols = envelope(text)?;
    let mut by_id = BTreeMap::new();
    for (_, info) in s.symbols {
        if info.kind != "perp" {
            continue;
        }
        by_id.insert(
            info.product_id,
            Product {
                product_id: info.product_id,
                symbol: info.symbol.into(),
                size_increment: x18(&info.size_increment)?,
                price_increment: x18(&info.price_increment_x18)?,
                min_size: x18(&info.min_size)?,
                trading_status: info.trading_status.unwrap_or_else(|| "live".into()),
            },
        );
    }
    Ok(Products { by_id })
}

/// What `subaccount_info` says: cross-margin perp positions (zero is flat and
/// left out) and oracle prices, by symbol. A product missing from `products`
/// is an error: a position is never dropped for want of a name.
pub fn subaccount_info(
    text: &str,
    products: &Products,
) -> Result<(Vec<Position>, BTreeMap<String, Decimal>), NadoError> {
    let info: models::SubaccountInfo = envelope(text)?;
    if !info.exists {
        return Err(NadoError::Parse(format!(
            "subaccount {} does not exist (no deposit yet)",
            info.subaccount
        )));
    }
    let name = |id: u32| {
        products
            .symbol(id)
            .cloned()
            .ok_or_else(|| NadoError::Parse(format!("unknown perp product {id}: refresh symbols")))
    };
    let mut positions = Vec::new();
    for b in info.perp_balances {
        let size = x18(&b.balance.amount)?;
        if size.is_zero() {
            continue;
        }
        positions.push(Position {
            key: PositionKey::net(name(b.product_id)?),
            size,
            entry_price: entry_price(b.balance.v_quote_balance.as_deref(), size)?,
        });
    }
    let mut marks = BTreeMap::new();
    for p in info.perp_products {
        if let Some(sym) = products.symbol(p.product_id) {
            marks.insert(sym.to_string(), x18(&p.oracle_price_x18)?);
        }
    }
    Ok((positions, marks))
}

/// `isolated_positions`: each non-zero base balance as the symbol's
/// `Isolated` leg.
pub fn isolated_positions(text: &str, products: &Products) -> Result<Vec<Position>, NadoError> {
    let iso: models::IsolatedPositions = envelope(text)?;
    let mut out = Vec::new();
    for p in iso.isolated_positions {
        let size = x18(&p.base_balance.balance.amount)?;
        if size.is_zero() {
            continue;
        }
        let symbol = products
            .symbol(p.base_balance.product_id)
            .ok_or_else(|| NadoError::Parse(format!("unknown perp product {}", p.base_balance.product_id)))?;
        out.push(Position {
            key: PositionKey {
                symbol: symbol.clone(),
                leg: Leg::Isolated,
            },
            size,
            entry_price: None,
        });
    }
    Ok(out)
}

/// One REST read of the account: cross and isolated positions together.
pub fn rest_snapshot(cross: Vec<Position>, isolated: Vec<Position>) -> RestSnapshot {
    let mut positions = cross;
    positions.extend(isolated);
    RestSnapshot { positions, seq: None }
}

/// `market_price`: (bid, ask); a side with no orders (`i128::MAX` ask, zero
/// or negative bid) is `None`.
pub fn market_price(text: &str) -> Result<(Option<Decimal>, Option<Decimal>), NadoError> {
    let m: models::MarketPrice = envelope(text)?;
    let bid: i128 = m.bid_x18.parse().map_err(|_| NadoError::Parse("bid_x18".into()))?;
    let ask: i128 = m.ask_x18.parse().map_err(|_| NadoError::Parse("ask_x18".into()))?;
    let side = |v: i128| {
        (v > 0 && v != i128::MAX)
            .then(|| from_x18(v))
            .transpose()
            .map_err(NadoError::Parse)
    };
    Ok((side(bid)?, side(ask)?))
}

/// `subaccount_orders` for `product_id`: how many of its orders still rest
/// (a nonzero unfilled amount). An order of another product is an error:
/// the answer is not the one asked for.
pub fn resting_orders(text: &str, product_id: u32) -> Result<usize, NadoError> {
    let m: models::SubaccountOrders = envelope(text)?;
    let mut resting = 0;
    for o in &m.orders {
        if o.product_id != product_id {
            return Err(NadoError::Parse(format!(
                "subaccount_orders for product {product_id} lists product {}",
                o.product_id
            )));
        }
        if !x18(&o.unfilled_amount)?.is_zero() {
            resting += 1;
        }
    }
    Ok(resting)
}

/// `max_order_size`: the size (x18, never negative).
pub fn max_order_size(text: &str) -> Result<Decimal, NadoError> {
    let m: models::MaxOrderSize = envelope(text)?;
    let v: i128 = m
        .max_order_size
        .parse()
        .map_err(|_| NadoError::Parse("max_order_size".into()))?;
    if v < 0 {
        return Err(NadoError::Parse("max_order_size is negative".into()));
    }
    from_x18(v).map_err(NadoError::Parse)
}

/// A `place_order` response: the digest on success, the classified error
/// otherwise (2056: an IOC that did not cross; 2064: reduce-only would
/// increase, i.e. already flat or the side is wrong; ...).
pub fn place_order_response(text: &str) -> Result<String, NadoError> {
    let d: models::PlaceOrderData = envelope(text)?;
    Ok(d.digest)
}

/// An execute that returns nothing we need (`cancel_product_orders`):
/// success, or the classified failure.
pub fn execute_ok(text: &str) -> Result<(), NadoError> {
    let e: Envelope<serde_json::Value> = serde_json::from_str(text).map_err(|e| NadoError::Parse(e.to_string()))?;
    if e.status != "success" {
        return Err(NadoError::Venue {
            code: e.error_code.unwrap_or(0),
            message: e.error.unwrap_or_default(),
        });
    }
    Ok(())
}

/// What one subscriptions-socket text frame means.
#[derive(Debug, Clone, PartialEq)]
pub enum WsFrame {
    /// A perp position's new absolute size (zero: closed).
    Event(StreamEvent),
    /// A reply to a control message (subscribe ack, pong), by id.
    Reply { id: Option<u64> },
    /// The server refused something (e.g. 2080 without permessage-deflate).
    Error { code: Option<i64>, message: String },
    /// Spot/quote balances, fills, other streams: proof of life only.
    Ignored,
}

/// Parses one text frame. `position_change` for a product missing from
/// `products` (spot, quote) is ignored; for a perp it becomes an `Update`
/// of the `Net` or `Isolated` leg.
pub fn ws_frame(text: &str, products: &Products) -> Result<WsFrame, NadoError> {
    let parse = |e: serde_json::Error| NadoError::Parse(e.to_string());
    let Kind { tag } = serde_json::from_str(text).map_err(parse)?;
    let Tag::Present(tag) = tag else {
        let r: models::Reply = serde_json::from_str(text).map_err(parse)?;
        if let Some(message) = r.error {
            return Ok(WsFrame::Error {
                code: r.error_code,
                message,
            });
        }
        return Ok(WsFrame::Reply { id: r.id });
    };
    let tag: std::borrow::Cow<'_, str> = serde_json::from_str(tag.get()).map_err(parse)?;
    match tag.as_ref() {
        "position_change" => {
            let pc: models::PositionChange = serde_json::from_str(text).map_err(parse)?;
            let Some(symbol) = products.symbol(pc.product_id) else {
                return Ok(WsFrame::Ignored);
            };
            let ts: u128 = pc
                .timestamp
                .parse()
                .map_err(|_| NadoError::Parse(format!("timestamp {:?}", pc.timestamp)))?;
            Ok(WsFrame::Event(StreamEvent::Update {
                position: Position {
                    key: PositionKey {
                        symbol: symbol.clone(),
                        leg: if pc.isolated { Leg::Isolated } else { Leg::Net },
                    },
                    size: x18(&pc.amount)?,
                    entry_price: match x18(&pc.amount)? {
                        size if size.is_zero() => None,
                        size => entry_price(pc.v_quote_amount.as_deref(), size)?,
                    },
                },
                // Nanoseconds order events of one connection; duplicates carry the same size.
                seq: Some((ts / 1_000) as u64),
            }))
        }
        "liquidation" => {
            let l: models::Liquidation = serde_json::from_str(text).map_err(parse)?;
            let symbols: Vec<String> = l
                .product_ids
                .iter()
                .filter_map(|id| products.symbol(*id).map(Symbol::to_string))
                .collect();
            if symbols.is_empty() {
                return Ok(WsFrame::Ignored);
            }
            Ok(WsFrame::Event(StreamEvent::Dirty {
                symbols,
                cause: "liquidation".into(),
            }))
        }
        "fill" => serde_json::from_str::<models::Fill>(text)
            .map(|_| WsFrame::Ignored)
            .map_err(parse),
        _ => Ok(WsFrame::Ignored),
    }
}

/// What a refused `place_order` / `cancel_product_orders` means for the
/// close loop (nado.md §5 error table).
pub fn order_failure(e: NadoError) -> OrderFailure {
    let NadoError::Venue { code, message } = e else {
        // A body we could not read: the order may have landed.
        return OrderFailure::Unknown(e.to_string());
    };
    let m = format!("{code} {message}");
    match code {
        // Rate limit: shares the wallet budget with the bot.
        1000 | 1015 => OrderFailure::RateLimited {
            retry_after: std::time::Duration::from_secs(1),
        },
        // Maintenance, internal error: try again later.
        1004 | 2068 | 5000 => OrderFailure::Unknown(m),
        // This exact digest was taken before: an earlier try landed.
        2013 => OrderFailure::Landed(m),
        // Reduce-only would increase: flat already, or the side is wrong.
        2064 => OrderFailure::Resize(m),
        // IOC did not cross / FOK not filled: re-price and retry.
        2056 | 2031 => OrderFailure::NoFill(m),
        // Nonce receive window missed (clock): a fresh nonce fixes it.
        2011 | 2012 => OrderFailure::Unknown(m),
        _ => OrderFailure::Rejected(m),
    }
}

/// Decimal → x18 integer. Fails when the value has more than 18 decimal
/// places (it would not be exact) or does not fit an int128.
pub fn to_x18(d: Decimal) -> Result<i128, String> {
    let scale = d.scale();
    if scale > 18 {
        let normalized = d.normalize();
        if normalized.scale() > 18 {
            return Err(format!("{d} has more than 18 decimal places"));
        }
        return to_x18(normalized);
    }
    let mantissa = d.mantissa();
    10i128
        .checked_pow(18 - scale)
        .and_then(|m| mantissa.checked_mul(m))
        .ok_or_else(|| format!("{d} does not fit x18"))
}

/// x18 integer → Decimal, exactly. rust_decimal holds 96-bit mantissas
/// (about 7.9e28): x18 values up to ±79,228,162,514 (in units) convert; a
/// larger one is an error, never a rounded value.
pub fn from_x18(v: i128) -> Result<Decimal, String> {
    Decimal::try_from_i128_with_scale(v, 18)
        .map(|d| d.normalize())
        .map_err(|_| format!("x18 value {v} is out of range"))
}

/// Parses an x18 decimal string (as the venue sends it).
pub fn parse_x18(s: &str) -> Result<Decimal, String> {
    let v: i128 = s.parse().map_err(|_| format!("not an x18 integer: {s:?}"))?;
    from_x18(v)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fixture(name: &str) -> String {
        std::fs::read_to_string(format!("{}/testdata/nado/{name}", env!("CARGO_MANIFEST_DIR"))).unwrap()
    }

    fn d(s: &str) -> Decimal {
        s.parse().unwrap()
    }

    fn products() -> Products {
        symbols(&fixture("rest_symbols.json")).unwrap()
    }

    #[test]
    fn resting_orders_count_what_is_unfilled_and_refuse_another_products_answer() {
        let answer = |orders: &str| {
            format!(
                r#"{{"status":"success","data":{{"sender":"0xab","orders":[{orders}]}},"request_type":"query_subaccount_orders"}}"#
            )
        };
        let order = |pid: u32, unfilled: &str| {
            format!(
                r#"{{"product_id":{pid},"sender":"0xab","price_x18":"1","amount":"-1","expiration":"1","nonce":"1","unfilled_amount":"{unfilled}","digest":"0x01","placed_at":"1"}}"#
            )
        };
        assert_eq!(resting_orders(&answer(""), 4).unwrap(), 0);
        let two = [order(4, "-1000000000000000000"), order(4, "0"), order(4, "5")].join(",");
        assert_eq!(resting_orders(&answer(&two), 4).unwrap(), 2);
        assert!(resting_orders(&answer(&order(8, "1")), 4).is_err());
        assert!(resting_orders(&answer(&order(4, "x")), 4).is_err());
        assert!(resting_orders(r#"{"status":"failure","error":"e","error_code":1}"#, 4).is_err());
    }

    #[test]
    fn every_documented_rest_example_parses() {
        assert_eq!(
            contracts(&fixture("rest_contracts.json")).unwrap(),
            (57073, "0x05ec92D78ED421f3D3Ada77FFdE167106565974E".to_owned())
        );
        let p = products();
        assert_eq!(p.symbol(4).map(Symbol::as_str), Some("ETH-PERP"));
        assert_eq!(p.id("SOL-PERP"), Some(8));
        assert_eq!(p.by_id[&4].size_increment, d("0.001"));
        assert_eq!(p.by_id[&4].price_increment, d("0.1"));
        assert_eq!(p.by_id[&8].trading_status, "reduce_only");
        let (positions, marks) = subaccount_info(&fixture("rest_subaccount_info.json"), &p).unwrap();
        // Product 2 has amount "0": flat, left out.
        assert_eq!(
            positions
                .iter()
                .map(|p| (p.key.to_string(), p.size))
                .collect::<Vec<_>>(),
            vec![("ETH-PERP".to_owned(), d("-0.1")), ("SOL-PERP".to_owned(), d("3.25"))]
        );
        assert_eq!(marks["ETH-PERP"], d("2501.23"));
        let iso = isolated_positions(&fixture("rest_isolated_positions.json"), &p).unwrap();
        assert_eq!(iso[0].key.to_string(), "SOL-PERP:isolated");
        assert_eq!(iso[0].size, d("2"));
        assert_eq!(rest_snapshot(positions, iso).positions.len(), 3);
        // An empty ask side is i128::MAX: no price, not a huge one.
        assert_eq!(
            market_price(&fixture("rest_market_price.json")).unwrap(),
            (Some(d("2500.1")), None)
        );
        assert_eq!(
            place_order_response(&fixture("rest_place_order_ok.json")).unwrap(),
            "0xa4ffecc4da428d812a2e1848d54fc1fc9836fa6ea2714f7ec9cfa912fadc9415"
        );
        assert_eq!(
            place_order_response(&fixture("rest_place_order_2056.json")),
            Err(NadoError::Venue {
                code: 2056,
                message: "Immediate or cancel order does not cross".into()
            })
        );
    }

    #[test]
    fn an_unknown_product_with_a_position_is_an_error_not_a_flat() {
        let mut p = products();
        p.by_id.remove(&8);
        assert!(subaccount_info(&fixture("rest_subaccount_info.json"), &p).is_err());
        let missing = r#"{"status":"success","data":{"subaccount":"0x00","exists":false},"request_type":"query_subaccount_info"}"#;
        assert!(subaccount_info(missing, &products()).is_err());
        let limited = r#"{"status":"failure","error":"rate limited","error_code":1015}"#;
        assert!(subaccount_info(limited, &products()).unwrap_err().is_rate_limit());
    }

    #[test]
    fn every_documented_stream_example_parses() {
        let p = products();
        let WsFrame::Event(StreamEvent::Update { position, seq }) =
            ws_frame(&fixture("ws_position_change.json"), &p).unwrap()
        else {
            panic!("not an update")
        };
        assert_eq!(
            (position.key.to_string(), position.size),
            ("ETH-PERP".to_owned(), d("-0.1"))
        );
        assert_eq!(seq, Some(1_767_225_600_123_456));
        let WsFrame::Event(StreamEvent::Update { position, .. }) =
            ws_frame(&fixture("ws_position_change_isolated.json"), &p).unwrap()
        else {
            panic!("not an update")
        };
        assert_eq!(position.key.to_string(), "SOL-PERP:isolated");
        // The quote product (0) changes on most matches: not a position.
        assert_eq!(
            ws_frame(&fixture("ws_position_change_quote.json"), &p).unwrap(),
            WsFrame::Ignored
        );
        // A fill's u64 id above 2^53 parses (and is ignored here).
        assert_eq!(ws_frame(&fixture("ws_fill.json"), &p).unwrap(), WsFrame::Ignored);
        assert_eq!(
            ws_frame(&fixture("ws_liquidation.json"), &p).unwrap(),
            WsFrame::Event(StreamEvent::Dirty {
                symbols: vec!["ETH-PERP".into()],
                cause: "liquidation".into()
            })
        );
        assert_eq!(
            ws_frame(&fixture("ws_subscribe_ack.json"), &p).unwrap(),
            WsFrame::Reply { id: Some(1) }
        );
        assert_eq!(
            ws_frame(&fixture("ws_pong.json"), &p).unwrap(),
            WsFrame::Reply { id: Some(7) }
        );
        assert_eq!(
            ws_frame(&fixture("ws_error.json"), &p).unwrap(),
            WsFrame::Error {
                code: Some(2080),
                message: "websocket compression required".into()
            }
        );
        assert!(ws_frame("not json", &p).is_err());
    }

    #[test]
    fn a_frame_is_read_as_the_struct_its_type_names() {
        let p = products();
        let change = fixture("ws_position_change.json");
        // Where `type` stands does not matter; a frame without one is a reply.
        let rest = change
            .trim_end()
            .trim_end_matches('}')
            .replacen(r#""type":"position_change","#, "", 1);
        let moved = format!(r#"{rest},"type":"position_change"}}"#);
        assert_ne!(moved, change);
        assert_eq!(ws_frame(&moved, &p).unwrap(), ws_frame(&change, &p).unwrap());
        assert_eq!(ws_frame(r#"{"id":7}"#, &p).unwrap(), WsFrame::Reply { id: Some(7) });
        assert_eq!(
            ws_frame(r#"{"type":"best_bid_offer","x":[1]}"#, &p).unwrap(),
            WsFrame::Ignored
        );
        for bad in [
            // a type that is no text, a fill or a change missing what it must carry
            r#"{"type":null}"#.to_owned(),
            r#"{"type":7}"#.to_owned(),
            r#"{"type":"fill","timestamp":"1"}"#.to_owned(),
            change.replacen(r#""amount""#, r#""amount_x""#, 1),
            // two sizes for one change: which one is meant is not guessed
            change.replacen(r#""amount":"#, r#""amount":"1","amount":"#, 1),
        ] {
            assert!(ws_frame(&bad, &p).is_err(), "{bad}");
        }
    }

    #[test]
    fn a_duplicate_position_change_changes_nothing() {
        use crate::domain::Timestamp;
        use crate::venue::types::StreamStyle;
        use crate::view::StreamView;
        let p = products();
        let WsFrame::Event(ev) = ws_frame(&fixture("ws_position_change.json"), &p).unwrap() else {
            panic!("not an event")
        };
        let mut view = StreamView::new(StreamStyle::PerKeyUpdates);
        view.apply(&StreamEvent::Connected, Timestamp(0));
        view.apply(&ev, Timestamp(1));
        let once = view.positions().clone();
        view.apply(&ev, Timestamp(2));
        assert_eq!(view.positions(), &once);
        assert_eq!(once.get(&PositionKey::net("ETH-PERP")).map(|p| p.size), Some(d("-0.1")));
    }

    #[test]
    fn the_entry_price_is_the_quote_leg_over_the_amount() {
        // Short 0.5 ETH entered at 3000: the quote leg holds +1500.
        let short = entry_price(Some("1500000000000000000000"), Decimal::new(-5, 1)).unwrap();
        assert_eq!(short, Some(Decimal::from(3000)));
        let long = entry_price(Some("-247000000000000000000"), Decimal::from(2)).unwrap();
        assert_eq!(long, Some(Decimal::new(1235, 1)));
        assert_eq!(entry_price(None, Decimal::ONE).unwrap(), None);
        // A quote leg that no longer implies a price (settled past zero) gives none.
        assert_eq!(entry_price(Some("5000000000000000000"), Decimal::ONE).unwrap(), None);
    }

    #[test]
    fn x18_round_trips_exactly() {
        for (dec, x) in [
            ("-0.1", -100_000_000_000_000_000i128),
            ("2500", 2_500_000_000_000_000_000_000),
            ("0.000000000000000001", 1),
            ("0", 0),
            ("123.456789012345678", 123_456_789_012_345_678_000),
        ] {
            let d: Decimal = dec.parse().unwrap();
            assert_eq!(to_x18(d).unwrap(), x, "{dec}");
            assert_eq!(from_x18(x).unwrap(), d.normalize(), "{dec}");
        }
        assert_eq!(
            parse_x18("-100000000000000000").unwrap(),
            "-0.1".parse::<Decimal>().unwrap()
        );
        assert!(to_x18("0.0000000000000000001".parse().unwrap()).is_err());
        assert!(parse_x18("1.5").is_err());
        assert!(from_x18(i128::MAX).is_err());
    }
}
