//! A hand-written decoder for the hot frame, `clearinghouseState`, which
//! carries the whole open set, with margin, leverage and funding around
//! every position, on every change (hyperliquid.md §4.3).
//!
//! It reads the frame in one pass on [`Cursor`]: `channel` first and
//! `clearinghouseState`, the main dex's state (`dex` empty or absent), each
//! position's `coin`, `szi` and `entryPx` as strings (a null entry price
//! allowed), every other value skipped, each named field at most once.
//! Anything else (a number for a size, an escape, another dex, `data` before
//! `channel`, a duplicate, a syntax error) returns `None`, and serde's
//! reading in `parse.rs` decides: the two never disagree on a frame this one
//! accepts (checked by property below).

use std::str::FromStr;

use rust_decimal::Decimal;

use crate::domain::{Position, PositionKey};
use crate::venue::scan::Cursor;

/// The main dex's open positions (flat ones dropped), or `None` for "let
/// serde decide".
pub(super) fn clearinghouse_state(text: &str) -> Option<Vec<Position>> {
    let mut c = Cursor::new(text);
    c.eat(b'{')?;
    (c.key()? == "channel" && c.string()? == "clearinghouseState").then_some(())?;
    let mut positions = None;
    while c.eat(b',').is_some() {
        match c.key()? {
            "data" if positions.is_none() => positions = Some(data(&mut c)?),
            "data" | "channel" => return None,
            _ => c.skip_any()?,
        }
    }
    c.eat(b'}')?;
    c.end()?;
    positions
}

/// `{"dex": "", "user": …, "clearinghouseState": {…}}`.
fn data(c: &mut Cursor<'_>) -> Option<Vec<Position>> {
    let (mut dex, mut state) = (false, None);
    c.members(|c| {
        match c.key()? {
            "dex" if !dex => {
                dex = true;
                // Another dex's frame is not this watcher's: serde says so.
                match c.peek()? {
                    b'"' => c.string()?.is_empty().then_some(())?,
                    _ => (c.scalar()? == "null").then_some(())?,
                }
            }
            "clearinghouseState" if state.is_none() => state = Some(asset_positions(c)?),
            "dex" | "clearinghouseState" => return None,
            _ => c.skip_any()?,
        }
        Some(())
    })?;
    state
}

/// The state object: its `assetPositions`, everything else skipped.
fn asset_positions(c: &mut Cursor<'_>) -> Option<Vec<Position>> {
    let mut positions = None;
    c.members(|c| {
        match c.key()? {
            "assetPositions" if positions.is_none() => {
                let mut items = Vec::new();
                c.eat(b'[')?;
                if c.eat(b']').is_none() {
                    loop {
                        if let Some(p) = asset_position(c)? {
                            items.push(p);
                        }
                        if c.eat(b',').is_none() {
                            c.eat(b']')?;
                            break;
                        }
                    }
                }
                positions = Some(items);
            }
            "assetPositions" => return None,
            _ => c.skip_any()?,
        }
        Some(())
    })?;
    positions
}

/// `{"type": "oneWay", "position": {…}}`: the position, `None` inside if flat.
fn asset_position(c: &mut Cursor<'_>) -> Option<Option<Position>> {
    let mut position = None;
    c.members(|c| {
        match c.key()? {
            "position" if position.is_none() => position = Some(fields(c)?),
            "position" => return None,
            _ => c.skip_any()?,
        }
        Some(())
    })?;
    position
}

fn fields(c: &mut Cursor<'_>) -> Option<Option<Position>> {
    let (mut coin, mut szi, mut entry) = (None, None, None::<Option<Decimal>>);
    c.members(|c| {
        match c.key()? {
            "coin" if coin.is_none() => coin = Some(c.string()?),
            "szi" if szi.is_none() => szi = Some(Decimal::from_str(c.string()?).ok()?),
            "entryPx" if entry.is_none() => {
                entry = Some(match c.peek()? {
                    b'"' => Some(Decimal::from_str(c.string()?).ok()?),
                    _ => (c.scalar()? == "null").then_some(None)?,
                })
            }
            "coin" | "szi" | "entryPx" => return None,
            _ => c.skip_any()?,
        }
        Some(())
    })?;
    let (coin, size) = (coin?, szi?);
    Some((!size.is_zero()).then(|| Position {
        key: PositionKey::net(coin),
        size,
        entry_price: entry.flatten(),
    }))
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::super::parse::{serde_ws_frame, WsFrame};
    use crate::venue::types::StreamEvent;

    fn scanned(text: &str) -> Option<WsFrame> {
        super::clearinghouse_state(text).map(|positions| WsFrame::Event(StreamEvent::Snapshot { positions, seq: None }))
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
}
