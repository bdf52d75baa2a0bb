//! The hand-written reader of the hot frame (`scan.rs`) against serde's
//! reading: whatever the scanner reads, serde reads the same.

use proptest::prelude::*;

use super::{serde_ws_frame, WsFrame};
use crate::venue::changes::LastFrame;
use crate::venue::types::StreamEvent;

fn scanned(text: &str) -> Option<WsFrame> {
    super::super::scan::clearinghouse_state(text, LastFrame::NONE, Vec::new()).map(|items| {
        let positions = items
            .into_iter()
            .filter_map(|i| i.read)
            .filter(|p| !p.size.is_zero())
            .collect();
        WsFrame::Event(StreamEvent::Snapshot { positions, seq: None })
    })
}

fn state(items: &str) -> String {
    format!(
        r#"{{"channel":"clearinghouseState","data":{{"dex":"","user":"0xabc","clearinghouseState":{{"marginSummary":{{"accountValue":"1000.0"}},"assetPositions":[{items}],"time":1}}}}}}"#
    )
}

#[test]
fn the_scanner_reads_the_documented_frames_as_serde_does() {
    for text in [
        state(""),
        state(
            r#"{"type":"oneWay","position":{"coin":"SOL","szi":"-12.5","leverage":{"type":"cross","value":20},"entryPx":"201.4","liquidationPx":null,"cumFunding":{"allTime":"0.1"}}},{"type":"oneWay","position":{"coin":"BTC","szi":"0.0","entryPx":null}}"#,
        ),
        r#"{"channel":"clearinghouseState","data":{"user":"0xabc","clearinghouseState":{"assetPositions":[{"position":{"coin":"ETH","szi":"1e-3"}}]}}}"#.into(),
    ] {
        let fast = scanned(&text).unwrap_or_else(|| panic!("the scanner refused {text}"));
        assert_eq!(Some(fast), serde_ws_frame(&text).ok(), "{text}");
    }
}

#[test]
fn the_scanner_leaves_what_it_does_not_understand_to_serde() {
    for text in [
        // a size as a number, an escaped coin, another dex, a duplicate
        state(r#"{"position":{"coin":"SOL","szi":1.5}}"#),
        state(r#"{"position":{"coin":"k\u0050EPE","szi":"1"}}"#),
        state(r#"{"position":{"coin":"SOL","szi":"1"}}"#).replace(r#""dex":"""#, r#""dex":"xyz""#),
        state(r#"{"position":{"coin":"SOL","coin":"ETH","szi":"1"}}"#),
        // data before channel, another channel, a missing state, trailing text
        r#"{"data":{"clearinghouseState":{"assetPositions":[]}},"channel":"clearinghouseState"}"#.into(),
        r#"{"channel":"pong"}"#.into(),
        r#"{"channel":"clearinghouseState","data":{"dex":""}}"#.into(),
        format!("{} x", state("")),
    ] {
        assert_eq!(scanned(&text), None, "{text}");
    }
}

/// A value as the venue might write it, or as it should never arrive.
fn value() -> impl Strategy<Value = String> {
    prop::sample::select(vec![
        r#""SOL""#,
        r#""-12.5""#,
        r#""0.0""#,
        r#""1e3""#,
        r#""x\"y""#,
        r#""é""#,
        "null",
        "true",
        "20",
        "-0.5e+2",
        "01",
        "[]",
        r#"{"type":"cross","value":20}"#,
        r#"[{"a":[1,{"b":null}]}]"#,
    ])
    .prop_map(str::to_string)
}

fn field(keys: &'static [&'static str]) -> impl Strategy<Value = String> {
    (prop::sample::select(keys), value()).prop_map(|(k, v)| format!(r#""{k}":{v}"#))
}

/// A position with coin and size most of the time, and stray fields.
fn item() -> impl Strategy<Value = String> {
    (
        prop::sample::select(vec!["BTC", "SOL", "kPEPE"]),
        prop::sample::select(vec!["1", "-0.5", "0", "0.0", "3.000"]),
        prop::sample::select(vec![r#","entryPx":"87000.5""#, r#","entryPx":null"#, ""]),
        prop::collection::vec(field(&["coin", "szi", "entryPx", "leverage", "marginUsed"]), 0..3),
        any::<bool>(),
    )
        .prop_map(|(coin, szi, entry, extra, complete)| {
            let mut fields = vec![format!(r#""coin":"{coin}""#)];
            if complete {
                fields.push(format!(r#""szi":"{szi}"{entry}"#));
            }
            fields.extend(extra);
            format!(r#"{{"type":"oneWay","position":{{{}}}}}"#, fields.join(","))
        })
}

fn frame() -> impl Strategy<Value = String> {
    (
        prop::collection::vec(item(), 0..4),
        prop::collection::vec(field(&["dex", "user", "time", "withdrawable"]), 0..2),
        any::<bool>(),
    )
        .prop_map(|(items, extra, spaced)| {
            let sep = if spaced { " ,\n " } else { "," };
            let extra: String = extra.iter().map(|f| format!("{f},")).collect();
            format!(
                r#"{{"channel":"clearinghouseState","data":{{{extra}"clearinghouseState":{{"assetPositions":[{}],"time":1}}}}}}"#,
                items.join(sep)
            )
        })
}

proptest! {
    #[test]
    fn whatever_the_scanner_reads_serde_reads_the_same(text in frame(), cut in 0usize..600, byte in 0u8..128) {
        if let Some(fast) = scanned(&text) {
            prop_assert_eq!(Some(fast), serde_ws_frame(&text).ok(), "{}", text);
        }
        // The same frame with one byte replaced (often broken JSON).
        let mut bytes = text.clone().into_bytes();
        let i = cut % bytes.len();
        bytes[i] = byte;
        if let Ok(mutated) = String::from_utf8(bytes) {
            if let Some(fast) = scanned(&mutated) {
                prop_assert_eq!(Some(fast), serde_ws_frame(&mutated).ok(), "{}", mutated);
            }
        }
    }
}

mod told_as_changes {
    use proptest::prelude::*;

    use super::super::{ws_frame, Decoder, WsFrame};
    use super::state;
    use crate::venue::changes::check::{frames, told_as_whole};
    use crate::venue::types::StreamEvent;

    fn text(items: &[(&str, &str, u8)]) -> String {
        let items: Vec<String> = items
            .iter()
            .map(|(coin, szi, f)| {
                format!(r#"{{"type":"oneWay","position":{{"coin":"{coin}","szi":"{szi}","leverage":{{"type":"cross","value":20}},"entryPx":"10","cumFunding":{{"allTime":"0.{f}"}}}}}}"#)
            })
            .collect();
        state(&items.join(","))
    }

    fn event(frame: Result<WsFrame, crate::venue::types::RestError>) -> StreamEvent {
        match frame {
            Ok(WsFrame::Event(e)) => e,
            other => panic!("not a position frame: {other:?}"),
        }
    }

    proptest! {
        /// A connection's frames, each an edit of the last (coins twice and
        /// flat items included), told by its decoder leave the view as the
        /// frames read whole would.
        #[test]
        fn a_connection_tells_its_frames_as_they_read_whole(lists in frames((
            prop::sample::select(vec!["BTC", "ETH", "SOL", "kPEPE"]),
            prop::sample::select(vec!["0.0", "1", "-0.5", "2"]),
            0u8..3,
        )), spaced in prop::collection::vec(any::<bool>(), 10)) {
            // Some frames open with a space: not the scanner's, so serde reads them.
            let texts: Vec<String> = lists
                .iter()
                .zip(spaced.iter().cycle())
                .map(|(l, s)| if *s { format!(" {}", text(l)) } else { text(l) })
                .collect();
            let mut decoder = Decoder::default();
            let told = told_as_whole(&texts, |t| event(decoder.frame(t)), |t| event(ws_frame(t)));
            prop_assert!(told.is_ok(), "{:?}", told);
        }
    }

    #[test]
    fn a_frame_that_moves_one_position_is_told_as_that_change() {
        let first = text(&[("BTC", "1", 0), ("ETH", "-0.5", 0)]);
        let second = text(&[("BTC", "1", 0), ("ETH", "-0.25", 0)]);
        let mut decoder = Decoder::default();
        assert!(matches!(event(decoder.frame(&first)), StreamEvent::Snapshot { .. }));
        let StreamEvent::Changes { positions, seq: None } = event(decoder.frame(&second)) else {
            panic!("not told as changes");
        };
        assert_eq!(positions.len(), 1);
        assert_eq!(positions[0].key.symbol, "ETH");
        assert_eq!(positions[0].size.to_string(), "-0.25");
    }
}
