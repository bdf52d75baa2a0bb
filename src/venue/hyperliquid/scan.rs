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
//! accepts (checked by property in `parse/scan_tests.rs`).

use std::str::FromStr;

use rust_decimal::Decimal;

use crate::domain::{Position, PositionKey};
use crate::venue::changes::{self, Item, LastFrame};
use crate::venue::scan::Cursor;

/// The main dex's positions, flat ones included (size zero), those whose
/// text is `last`'s at the same place left unread, in `items` (emptied
/// first; its memory reused); or `None` for "let serde decide".
pub(super) fn clearinghouse_state(
    text: &str,
    last: &LastFrame,
    items: Vec<Item<Position>>,
) -> Option<Vec<Item<Position>>> {
    let mut c = Cursor::new(text);
    c.eat(b'{')?;
    (c.key()? == "channel" && c.string()? == "clearinghouseState").then_some(())?;
    let (mut items, mut positions) = (Some(items), None);
    while c.eat(b',').is_some() {
        match c.key()? {
            "data" if positions.is_none() => positions = Some(data(&mut c, last, items.take()?)?),
            "data" | "channel" => return None,
            _ => c.skip_any()?,
        }
    }
    c.eat(b'}')?;
    c.end()?;
    positions
}

/// `{"dex": "", "user": …, "clearinghouseState": {…}}`.
fn data(c: &mut Cursor<'_>, last: &LastFrame, items: Vec<Item<Position>>) -> Option<Vec<Item<Position>>> {
    let (mut dex, mut state, mut items) = (false, None, Some(items));
    c.members(|c| {
        match c.key()? {
            "dex" if !dex => {
                dex = true;
                // Another dex's frame is not this watcher's: serde says so.
                c.string_or_null()?.is_none_or(str::is_empty).then_some(())?;
            }
            "clearinghouseState" if state.is_none() => state = Some(asset_positions(c, last, items.take()?)?),
            "dex" | "clearinghouseState" => return None,
            _ => c.skip_any()?,
        }
        Some(())
    })?;
    state
}

/// The state object: its `assetPositions`, everything else skipped.
fn asset_positions(c: &mut Cursor<'_>, last: &LastFrame, items: Vec<Item<Position>>) -> Option<Vec<Item<Position>>> {
    let (mut items, mut positions) = (Some(items), None);
    c.members(|c| {
        match c.key()? {
            "assetPositions" if positions.is_none() => {
                positions = Some(changes::items(c, last, items.take()?, asset_position)?)
            }
            "assetPositions" => return None,
            _ => c.skip_any()?,
        }
        Some(())
    })?;
    positions
}

/// `{"type": "oneWay", "position": {…}}`: the position (size zero if flat).
fn asset_position(c: &mut Cursor<'_>) -> Option<Position> {
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

fn fields(c: &mut Cursor<'_>) -> Option<Position> {
    let (mut coin, mut szi, mut entry) = (None, None, None::<Option<Decimal>>);
    c.members(|c| {
        match c.key()? {
            "coin" if coin.is_none() => coin = Some(c.string()?),
            "szi" if szi.is_none() => szi = Some(Decimal::from_str(c.string()?).ok()?),
            "entryPx" if entry.is_none() => {
                entry = Some(match c.string_or_null()? {
                    Some(text) => Some(Decimal::from_str(text).ok()?),
                    None => None,
                })
            }
            "coin" | "szi" | "entryPx" => return None,
            _ => c.skip_any()?,
        }
        Some(())
    })?;
    let (coin, size) = (coin?, szi?);
    Some(Position {
        key: PositionKey::net(coin),
        size,
        entry_price: entry.flatten(),
    })
}
