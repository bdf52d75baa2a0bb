//! Every documented Pacifica message example, parsed.

use std::str::FromStr;
use std::time::Duration;

use rust_decimal::Decimal;

use super::*;

fn d(s: &str) -> Decimal {
    Decimal::from_str(s).unwrap()
}

fn fixture(name: &str) -> Vec<u8> {
    let path = format!("{}/testdata/pacifica/{name}", env!("CARGO_MANIFEST_DIR"));
    std::fs::read(&path).unwrap_or_else(|e| panic!("{path}: {e}"))
}

#[test]
fn documented_positions_response_parses() {
    let snap = positions_response(200, &fixture("http_get_positions.json")).unwrap();
    assert_eq!(snap.seq, Some(1557431179));
    assert_eq!(snap.positions.len(), 1);
    let p = &snap.positions[0];
    assert_eq!(p.key.symbol, "AAVE");
    assert_eq!(p.size, d("-223.72"));
    assert_eq!(p.entry_price, Some(d("279.283134")));
}

#[test]
fn empty_positions_is_an_empty_set_not_an_error() {
    let snap = positions_response(
        200,
        br#"{"success":true,"data":[],"error":null,"code":null,"last_order_id":7}"#,
    )
    .unwrap();
    assert!(snap.positions.is_empty());
    assert_eq!(snap.seq, Some(7));
}

#[test]
fn bare_array_is_accepted() {
    let snap = positions_response(200, br#"[{"symbol":"kBONK","side":"bid","amount":"10"}]"#).unwrap();
    assert_eq!(snap.positions[0].key.symbol, "kBONK");
    assert_eq!(snap.positions[0].size, d("10"));
}

#[test]
fn failures_never_read_as_flat() {
    for (status, body) in [
        (200, &b"<html>garbage"[..]),
        (200, br#"{"success":true,"data":null}"#),
        (
            200,
            br#"{"success":false,"data":null,"error":"Agent not authorized for account","code":400}"#,
        ),
        (
            500,
            br#"{"success":false,"data":null,"error":"Internal server error","code":null}"#,
        ),
        (
            403,
            b"<HTML><HEAD><TITLE>ERROR: The request could not be satisfied</TITLE>",
        ),
        (
            200,
            br#"{"success":true,"data":[{"symbol":"BTC","side":"long","amount":"1"}]}"#,
        ),
    ] {
        assert!(
            positions_response(status, body).is_err(),
            "{}",
            String::from_utf8_lossy(body)
        );
    }
}

#[test]
fn envelope_fields_read_as_leniently_as_json_values_and_a_field_twice_is_refused() {
    // A code, error or success of another type is no such field, as before.
    let snap = positions_response(
        200,
        br#"{"success":true,"code":"x","error":null,"last_order_id":"7","data":[{"symbol":"BTC","side":"ask","amount":"0.5"}]}"#,
    )
    .unwrap();
    assert_eq!(snap.positions[0].size, d("-0.5"));
    assert_eq!(snap.seq, None);
    match positions_response(200, br#"{"success":false,"code":"x","error":"Denied","data":null}"#) {
        Err(RestError::Http { status: 200, message }) => assert_eq!(message, "Denied"),
        other => panic!("{other:?}"),
    }
    // Two `data` fields: which one is meant is not known, so neither is read.
    match positions_response(
        200,
        br#"{"success":true,"data":[],"data":[{"symbol":"BTC","side":"bid","amount":"1"}]}"#,
    ) {
        Err(RestError::Decode(m)) => assert!(m.contains("duplicate field"), "{m}"),
        other => panic!("{other:?}"),
    }
    // JSON of another kind, and an array with an error status.
    for (status, body) in [(200, &b"5"[..]), (200, b" \"x\""), (500, b"[]")] {
        match positions_response(status, body) {
            Err(RestError::Decode(m)) => assert_eq!(m, "body is neither an object nor an array"),
            other => panic!("{}: {other:?}", String::from_utf8_lossy(body)),
        }
    }
    match positions_response(502, b"Bad Gateway") {
        Err(RestError::Http { status: 502, message }) => assert_eq!(message, "Bad Gateway"),
        other => panic!("{other:?}"),
    }
}

#[test]
fn bare_error_body_of_the_observed_422_is_an_error() {
    let body =
        br#"{"error":"No position found for reduce-only order: HVXrj9PFN5sLqkvWhs5quGsQHKsbaeb75sroPtTiCUWU WLFI"}"#;
    match positions_response(422, body) {
        Err(RestError::Http { status: 422, message }) => assert!(message.starts_with("No position found")),
        other => panic!("{other:?}"),
    }
}

#[test]
fn documented_info_response_parses_and_drops_spot() {
    let markets = info_response(200, &fixture("http_get_info.json")).unwrap();
    let btc = markets.iter().find(|m| m.symbol == "BTC").unwrap();
    assert_eq!(btc.lot_size, d("0.00001"));
    assert_eq!(btc.tick_size, d("1"));
    assert!(markets.iter().all(|m| m.symbol != "SOL-USDC"));
}

#[test]
fn documented_ws_snapshot_parses() {
    let text = String::from_utf8(fixture("ws_account_positions.json")).unwrap();
    match ws_frame(&text).unwrap() {
        WsFrame::Event(StreamEvent::Snapshot { positions, seq }) => {
            assert_eq!(seq, Some(1559412952));
            assert_eq!(positions.len(), 1);
            assert_eq!(positions[0].key.symbol, "BTC");
            assert_eq!(positions[0].size, d("0.00044"));
            assert_eq!(positions[0].entry_price, Some(d("87285.5")));
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn documented_ws_close_is_an_empty_snapshot() {
    let frame = ws_frame(r#"{"channel":"account_positions","data":[],"li":1559438203}"#).unwrap();
    assert_eq!(
        frame,
        WsFrame::Event(StreamEvent::Snapshot {
            positions: vec![],
            seq: Some(1559438203)
        })
    );
}

#[test]
fn documented_ack_pong_and_error_frames() {
    assert_eq!(
        ws_frame(r#"{"channel":"subscribe","data":{"source":"account_positions","account":"abc"}}"#).unwrap(),
        WsFrame::SubscribeAck {
            source: "account_positions".into()
        }
    );
    assert_eq!(ws_frame(r#"{"channel":"pong"}"#).unwrap(), WsFrame::Alive);
    assert_eq!(
        ws_frame(r#"{"id":"x","type":"cancel_order","code":420,"err":"Failed to cancel order","t":1,"rl":{"r":1245,"q":1250,"t":56}}"#)
            .unwrap(),
        WsFrame::Error("Failed to cancel order".into())
    );
}

#[test]
fn liquidation_trades_mark_symbols_dirty() {
    let text = String::from_utf8(fixture("ws_account_trades.json")).unwrap();
    match ws_frame(&text).unwrap() {
        WsFrame::Event(StreamEvent::Dirty { symbols, cause }) => {
            assert_eq!(symbols, vec!["SOL".to_string()]);
            assert_eq!(cause, "market_liquidation");
        }
        other => panic!("{other:?}"),
    }
    let normal = r#"{"channel":"account_trades","data":[{"h":1,"i":2,"I":null,"u":"a","s":"BTC","p":"1","o":"1","a":"1","te":"fulfill_taker","ts":"open_long","tc":"normal","f":"0","n":"0","t":1,"li":2}]}"#;
    assert_eq!(ws_frame(normal).unwrap(), WsFrame::Alive);
}

#[test]
fn zero_amount_items_are_dropped() {
    match ws_frame(r#"{"channel":"account_positions","data":[{"s":"ETH","d":"bid","a":"0","p":"1","m":"0","f":"0","i":false,"l":null,"t":1}],"li":5}"#).unwrap() {
        WsFrame::Event(StreamEvent::Snapshot { positions, .. }) => assert!(positions.is_empty()),
        other => panic!("{other:?}"),
    }
}

#[test]
fn ratelimit_header_gives_the_refresh_time() {
    assert_eq!(
        retry_after(Some(r#""credits";r=0;t=32"#), None),
        Duration::from_secs(32)
    );
    assert_eq!(retry_after(None, Some("7")), Duration::from_secs(7));
    assert_eq!(retry_after(None, None), Duration::from_secs(5));
}

#[test]
fn subscribe_message_is_documented_shape() {
    let v: serde_json::Value = serde_json::from_str(&subscribe_message("account_positions", "abc")).unwrap();
    assert_eq!(v["method"], "subscribe");
    assert_eq!(v["params"]["source"], "account_positions");
    assert_eq!(v["params"]["account"], "abc");
}

/// The serde reading of a frame the fast path would take (the reference the
/// hand-written scanner must agree with).
fn serde_reading(text: &str) -> Option<Result<WsFrame, ParseError>> {
    serde_json::from_str::<PositionsFrame<'_>>(text)
        .ok()
        .map(|f| positions_event(f.data.unwrap_or_default(), f.li))
}

fn scanned(text: &str) -> Option<Result<WsFrame, ParseError>> {
    super::super::scan::account_positions(text, LastFrame::NONE, Vec::new(), Some)
        .map(|(items, li)| positions_event(items.into_iter().filter_map(|i| i.read).collect(), li))
}

#[test]
fn the_scanner_reads_the_documented_frames_as_serde_does() {
    let documented = String::from_utf8(fixture("ws_account_positions.json")).unwrap();
    for text in [
        documented.as_str(),
        r#"{"channel":"account_positions","data":[],"li":1559438203}"#,
        r#"{"channel":"account_positions","data":[{"s":"BTC","d":"bid","a":"0.00044","p":"87285.5","m":"0","f":"-0.00023989","i":false,"l":"-95166.79231","t":1764133656974},{"s":"SOL","d":"ask","a":"12","p":null,"i":true,"l":null,"t":1}],"li":1559412952}"#,
        r#"{"channel":"account_positions","data":null}"#,
        // scientific notation, read exactly by both
        r#"{"channel":"account_positions","data":[{"s":"BTC","d":"bid","a":"1e-3"}],"li":1}"#,
    ] {
        let fast = scanned(text).unwrap_or_else(|| panic!("the scanner refused {text}"));
        assert_eq!(Some(fast), serde_reading(text), "{text}");
    }
}

#[test]
fn the_scanner_leaves_what_it_does_not_understand_to_serde() {
    for text in [
        // an escape in a symbol
        r#"{"channel":"account_positions","data":[{"s":"B\u0054C","d":"bid","a":"1"}],"li":1}"#,
        // an amount as a number: serde refuses it, so must the scanner
        r#"{"channel":"account_positions","data":[{"s":"BTC","d":"bid","a":1}],"li":1}"#,
        // a duplicate field, a nested value, a missing field, a trailing comma
        r#"{"channel":"account_positions","data":[{"s":"BTC","s":"ETH","d":"bid","a":"1"}],"li":1}"#,
        r#"{"channel":"account_positions","data":[{"s":"BTC","d":"bid","a":"1","x":{"y":1}}],"li":1}"#,
        r#"{"channel":"account_positions","data":[{"s":"BTC","a":"1"}],"li":1}"#,
        r#"{"channel":"account_positions","data":[{"s":"BTC","d":"bid","a":"1"},],"li":1}"#,
        // no data at all, a negative or fractional li, trailing text
        r#"{"channel":"account_positions","li":1}"#,
        r#"{"channel":"account_positions","data":[],"li":-1}"#,
        r#"{"channel":"account_positions","data":[],"li":1.5}"#,
        r#"{"channel":"account_positions","data":[],"li":1} x"#,
    ] {
        assert_eq!(scanned(text), None, "{text}");
    }
}

mod scanner_agrees {
    use proptest::prelude::*;

    use super::{scanned, serde_reading};

    /// A value as the venue might write it, or as it should never arrive.
    fn value() -> impl Strategy<Value = String> {
        prop_oneof![
            Just(r#""BTC""#.to_string()),
            Just(r#""bid""#.to_string()),
            Just(r#""ask""#.to_string()),
            Just(r#""0.00044""#.to_string()),
            Just(r#""-95166.79231""#.to_string()),
            Just(r#""0""#.to_string()),
            Just(r#""1e3""#.to_string()),
            Just(r#""x\"y""#.to_string()),
            Just(r#""é""#.to_string()),
            Just("null".to_string()),
            Just("true".to_string()),
            Just("1764133656974".to_string()),
            Just("-0.5e+2".to_string()),
            Just("01".to_string()),
            Just("[]".to_string()),
            Just(r#"{"k":1}"#.to_string()),
        ]
    }

    fn field() -> impl Strategy<Value = String> {
        let key = prop_oneof![
            Just("s"),
            Just("d"),
            Just("a"),
            Just("p"),
            Just("m"),
            Just("i"),
            Just("l"),
            Just("t")
        ];
        (key, value()).prop_map(|(k, v)| format!(r#""{k}":{v}"#))
    }

    /// An item with the three required fields most of the time.
    fn item() -> impl Strategy<Value = String> {
        (
            prop::sample::select(vec!["BTC", "ETH", "SOL"]),
            prop::sample::select(vec!["bid", "ask", "buy"]),
            prop::sample::select(vec!["1", "0.5", "0", "-2", "3.000"]),
            prop::collection::vec(field(), 0..4),
            any::<bool>(),
        )
            .prop_map(|(s, d, a, mut extra, complete)| {
                let mut fields = vec![format!(r#""s":"{s}""#), format!(r#""d":"{d}""#)];
                if complete {
                    fields.push(format!(r#""a":"{a}""#));
                }
                fields.append(&mut extra);
                format!("{{{}}}", fields.join(","))
            })
    }

    fn frame() -> impl Strategy<Value = String> {
        (
            prop::collection::vec(item(), 0..4),
            prop_oneof![Just(",\"li\":7"), Just(""), Just(",\"li\":null"), Just(",\"li\":-3")],
            any::<bool>(),
        )
            .prop_map(|(items, li, spaced)| {
                let sep = if spaced { " ,\n " } else { "," };
                format!(r#"{{"channel":"account_positions","data":[{}]{li}}}"#, items.join(sep))
            })
    }

    proptest! {
        #[test]
        fn whatever_the_scanner_reads_serde_reads_the_same(text in frame(), cut in 0usize..400, byte in 0u8..128) {
            if let Some(fast) = scanned(&text) {
                prop_assert_eq!(Some(fast), serde_reading(&text), "{}", text);
            }
            // The same frame with one byte replaced (often broken JSON).
            let mut bytes = text.clone().into_bytes();
            let i = cut % bytes.len();
            bytes[i] = byte;
            if let Ok(mutated) = String::from_utf8(bytes) {
                if let Some(fast) = scanned(&mutated) {
                    prop_assert_eq!(Some(fast), serde_reading(&mutated), "{}", mutated);
                }
            }
        }
    }
}

mod told_as_changes {
    use proptest::prelude::*;

    use super::*;
    use crate::venue::changes::check::{frames, told_as_whole};

    type Items = Vec<(&'static str, &'static str, &'static str, u8)>;

    fn text(items: &Items, li: u64) -> String {
        let items: Vec<String> = items
            .iter()
            .map(|(s, d, a, t)| format!(r#"{{"s":"{s}","d":"{d}","a":"{a}","p":"10","i":false,"t":{t}}}"#))
            .collect();
        format!(
            r#"{{"channel":"account_positions","data":[{}],"li":{li}}}"#,
            items.join(",")
        )
    }

    fn event(frame: Result<WsFrame, ParseError>) -> StreamEvent {
        match frame {
            Ok(WsFrame::Event(e)) => e,
            other => panic!("not a position frame: {other:?}"),
        }
    }

    fn item() -> impl Strategy<Value = (&'static str, &'static str, &'static str, u8)> + Clone {
        (
            prop::sample::select(vec!["BTC", "ETH", "SOL", "ZEC"]),
            prop::sample::select(vec!["bid", "ask"]),
            prop::sample::select(vec!["0", "1", "0.5", "2"]),
            0u8..3,
        )
    }

    proptest! {
        /// A connection's frames, each an edit of the last (keys twice and
        /// flat items included), told by its decoder leave the view as the
        /// frames read whole would.
        #[test]
        fn a_connection_tells_its_frames_as_they_read_whole(
            lists in frames(item()),
            lis in prop::collection::vec(1u64..4, 10),
            spaced in prop::collection::vec(any::<bool>(), 7),
        ) {
            // `li` mostly rising, sometimes older than a frame already sent;
            // some frames open with a space: not the scanner's, so serde reads them.
            let texts: Vec<String> = lists
                .iter()
                .zip(lis.iter().cycle())
                .zip(spaced.iter().cycle())
                .enumerate()
                .map(|(i, ((l, li), s))| {
                    let t = text(l, i as u64 / 2 + li);
                    if *s { format!(" {t}") } else { t }
                })
                .collect();
            let mut decoder = Decoder::default();
            let told = told_as_whole(&texts, |t| event(decoder.frame(t)), |t| event(ws_frame(t)));
            prop_assert!(told.is_ok(), "{:?}", told);
        }
    }

    #[test]
    fn a_frame_that_moves_one_position_is_told_as_that_change() {
        let mut items: Items = vec![("BTC", "bid", "1", 0), ("ETH", "ask", "2", 0), ("SOL", "bid", "0.5", 0)];
        let first = text(&items, 1);
        items[1].2 = "0.5";
        let second = text(&items, 2);
        let mut decoder = Decoder::default();
        assert!(matches!(event(decoder.frame(&first)), StreamEvent::Snapshot { .. }));
        assert_eq!(
            event(decoder.frame(&second)),
            StreamEvent::Changes {
                positions: vec![Position {
                    key: PositionKey::net("ETH"),
                    size: d("-0.5"),
                    entry_price: Some(d("10")),
                }],
                seq: Some(2),
            }
        );
        // A frame serde reads (an escape) is told whole, and so is the next.
        let escaped = second.replace(r#""s":"BTC""#, r#""s":"B\u0054C""#);
        assert!(matches!(event(decoder.frame(&escaped)), StreamEvent::Snapshot { .. }));
        assert!(matches!(event(decoder.frame(&second)), StreamEvent::Snapshot { .. }));
        assert!(
            matches!(event(decoder.frame(&second)), StreamEvent::Changes { ref positions, .. } if positions.is_empty())
        );
        // A frame older than one already told is told whole and anchors
        // nothing: the next frame is told against the newer one.
        items[0].2 = "3";
        assert!(matches!(
            event(decoder.frame(&text(&items, 1))),
            StreamEvent::Snapshot { seq: Some(1), .. }
        ));
        assert_eq!(
            event(decoder.frame(&text(&items, 3))),
            StreamEvent::Changes {
                positions: vec![Position {
                    key: PositionKey::net("BTC"),
                    size: d("3"),
                    entry_price: Some(d("10")),
                }],
                seq: Some(3),
            }
        );
    }

    /// An item that is no position (an unknown side) is refused by a
    /// connection's decoder as `ws_frame` refuses it, first frame or not, and
    /// the frame after it is told whole.
    #[test]
    fn a_frame_with_an_unknown_side_is_refused_as_serde_refuses_it() {
        let mut items: Items = vec![("BTC", "bid", "1", 0), ("ETH", "ask", "2", 0)];
        let good = text(&items, 1);
        items[1].1 = "sideways";
        let bad = text(&items, 2);
        let refused = ws_frame(&bad).expect_err("serde refuses an unknown side");
        assert_eq!(Decoder::default().frame(&bad).expect_err("refused"), refused);
        let mut decoder = Decoder::default();
        assert!(matches!(event(decoder.frame(&good)), StreamEvent::Snapshot { .. }));
        assert_eq!(decoder.frame(&bad).expect_err("refused"), refused);
        assert!(matches!(event(decoder.frame(&good)), StreamEvent::Snapshot { .. }));
    }
}
