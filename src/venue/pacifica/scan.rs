//! A hand-written decoder for the hot frame, `account_positions`, which
//! carries the whole open set on every change (pacifica.md §4.2).
//!
//! It reads only the shape it fully understands: JSON objects of strings,
//! numbers, booleans and nulls, strings without escapes, each field at most
//! once. Anything else (an escape, a nested value, a number where a decimal
//! string belongs, a duplicate field, a syntax error) returns `None`, and the
//! serde decoder in `parse.rs` decides. So the two never disagree on a frame
//! this one accepts (`parse/tests.rs` checks that by property), and what
//! this one refuses is still decoded, or refused, exactly as before.

use std::borrow::Cow;
use std::str::FromStr;

use rust_decimal::Decimal;

use super::models::WsPosition;
use crate::venue::changes::{self, Item, LastFrame};
use crate::venue::scan::Cursor;

/// The frame's items (those whose text is `last`'s at the same place left
/// unread), each as `to` makes it, in `items` (emptied first; its memory
/// reused), and `li`; or `None` for "let serde decide", which is also what
/// an item `to` refuses gets.
pub(super) fn account_positions<'a, T>(
    text: &'a str,
    last: &LastFrame,
    items: Vec<Item<T>>,
    mut to: impl FnMut(WsPosition<'a>) -> Option<T>,
) -> Option<(Vec<Item<T>>, Option<u64>)> {
    let mut c = Cursor::new(text);
    let (mut data, mut li, mut seen_li) = (None, None, false);
    let mut buffer = Some(items);
    c.members(|c| {
        match c.key()? {
            "data" if data.is_none() => data = Some(read_items(c, last, buffer.take()?, &mut to)?),
            "li" if !seen_li => {
                seen_li = true;
                li = match c.scalar()? {
                    "null" => None,
                    digits => Some(u64::from_str(digits).ok()?),
                };
            }
            "data" | "li" => return None,
            _ => c.skip_value()?,
        }
        Some(())
    })?;
    c.end()?;
    Some((data?, li))
}

/// `null` (no items) or an array of position objects.
fn read_items<'a, T>(
    c: &mut Cursor<'a>,
    last: &LastFrame,
    mut items: Vec<Item<T>>,
    to: &mut impl FnMut(WsPosition<'a>) -> Option<T>,
) -> Option<Vec<Item<T>>> {
    if c.peek()? != b'[' {
        items.clear();
        return (c.scalar()? == "null").then_some(items);
    }
    changes::items(c, last, items, |c| to(item(c)?))
}

/// One position: `s`, `d` and `a` required, `p` optional, every other
/// field's value skipped (scalars only: a nested value is serde's).
fn item<'a>(c: &mut Cursor<'a>) -> Option<WsPosition<'a>> {
    let (mut s, mut d, mut a, mut p) = (None, None, None, None::<Option<Decimal>>);
    c.members(|c| {
        match c.key()? {
            "s" if s.is_none() => s = Some(c.string()?),
            "d" if d.is_none() => d = Some(c.string()?),
            "a" if a.is_none() => a = Some(decimal(c.string()?)?),
            "p" if p.is_none() => {
                p = Some(match c.string_or_null()? {
                    Some(text) => Some(decimal(text)?),
                    None => None,
                })
            }
            "s" | "d" | "a" | "p" => return None,
            _ => c.skip_value()?,
        }
        Some(())
    })?;
    Some(WsPosition {
        s: Cow::Borrowed(s?),
        d: Cow::Borrowed(d?),
        a: a?,
        p: p.flatten(),
    })
}

/// A plain decimal string; anything else (scientific notation, say) is left
/// to serde's reading.
fn decimal(s: &str) -> Option<Decimal> {
    Decimal::from_str(s).ok()
}
