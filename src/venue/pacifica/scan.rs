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

/// The frame's items and `li`, or `None` for "let serde decide".
pub(super) fn account_positions(text: &str) -> Option<(Vec<WsPosition<'_>>, Option<u64>)> {
    let mut c = Cursor { text, at: 0 };
    c.eat(b'{')?;
    let (mut data, mut li, mut seen_li) = (None, None, false);
    let mut first = true;
    loop {
        if !first && c.eat(b',').is_none() {
            c.eat(b'}')?;
            break;
        }
        first = false;
        match c.key()? {
            "data" if data.is_none() => data = Some(c.items()?),
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
    }
    c.skip_ws();
    (c.at == text.len()).then_some(())?;
    Some((data?, li))
}

struct Cursor<'a> {
    text: &'a str,
    at: usize,
}

impl<'a> Cursor<'a> {
    fn skip_ws(&mut self) {
        let b = self.text.as_bytes();
        while matches!(b.get(self.at), Some(b' ' | b'\n' | b'\r' | b'\t')) {
            self.at += 1;
        }
    }

    fn peek(&mut self) -> Option<u8> {
        self.skip_ws();
        self.text.as_bytes().get(self.at).copied()
    }

    fn eat(&mut self, byte: u8) -> Option<()> {
        (self.peek()? == byte).then(|| self.at += 1)
    }

    /// A string without escapes or control characters: its contents.
    fn string(&mut self) -> Option<&'a str> {
        self.eat(b'"')?;
        let start = self.at;
        let rest = &self.text.as_bytes()[start..];
        let len = rest.iter().position(|&b| b == b'"' || b == b'\\' || b < 0x20)?;
        (rest[len] == b'"').then_some(())?;
        self.at = start + len + 1;
        // Both ends are ASCII quotes, so both are character boundaries.
        self.text.get(start..start + len)
    }

    /// An object key: the one-letter keys of the venue's compact frames are
    /// read in place (`"s":`), any other through [`Cursor::string`]. The
    /// colon after the key is consumed.
    fn key(&mut self) -> Option<&'a str> {
        self.skip_ws();
        let b = self.text.as_bytes();
        if let [b'"', k, b'"', b':', ..] = b[self.at..] {
            if k.is_ascii_alphanumeric() {
                self.at += 4;
                return self.text.get(self.at - 3..self.at - 2);
            }
        }
        let key = self.string()?;
        self.eat(b':')?;
        Some(key)
    }

    /// `true`, `false`, `null` or a JSON number: its text.
    fn scalar(&mut self) -> Option<&'a str> {
        self.skip_ws();
        let start = self.at;
        let rest = &self.text.as_bytes()[start..];
        let len = rest
            .iter()
            .position(|b| !(b.is_ascii_alphanumeric() || matches!(b, b'-' | b'+' | b'.')))
            .unwrap_or(rest.len());
        let token = &self.text[start..start + len];
        self.at = start + len;
        (matches!(token, "true" | "false" | "null") || is_json_number(token)).then_some(token)
    }

    /// Any value this decoder understands (no arrays or objects).
    fn skip_value(&mut self) -> Option<()> {
        match self.peek()? {
            b'"' => self.string().map(drop),
            _ => self.scalar().map(drop),
        }
    }

    /// `null` (no items) or an array of position objects.
    fn items(&mut self) -> Option<Vec<WsPosition<'a>>> {
        if self.peek()? != b'[' {
            return (self.scalar()? == "null").then(Vec::new);
        }
        self.at += 1;
        let mut items = Vec::new();
        if self.eat(b']').is_some() {
            return Some(items);
        }
        loop {
            items.push(self.item()?);
            if self.eat(b',').is_none() {
                self.eat(b']')?;
                return Some(items);
            }
        }
    }

    /// One position: `s`, `d` and `a` required, `p` optional, every other
    /// field's value skipped.
    fn item(&mut self) -> Option<WsPosition<'a>> {
        self.eat(b'{')?;
        let (mut s, mut d, mut a, mut p) = (None, None, None, None::<Option<Decimal>>);
        if self.eat(b'}').is_none() {
            loop {
                match self.key()? {
                    "s" if s.is_none() => s = Some(self.string()?),
                    "d" if d.is_none() => d = Some(self.string()?),
                    "a" if a.is_none() => a = Some(decimal(self.string()?)?),
                    "p" if p.is_none() => {
                        p = Some(match self.peek()? {
                            b'"' => Some(decimal(self.string()?)?),
                            _ => (self.scalar()? == "null").then_some(None)?,
                        })
                    }
                    "s" | "d" | "a" | "p" => return None,
                    _ => self.skip_value()?,
                }
                if self.eat(b',').is_none() {
                    self.eat(b'}')?;
                    break;
                }
            }
        }
        Some(WsPosition {
            s: Cow::Borrowed(s?),
            d: Cow::Borrowed(d?),
            a: a?,
            p: p.flatten(),
        })
    }
}

/// A plain decimal string; anything else (scientific notation, say) is left
/// to serde's reading.
fn decimal(s: &str) -> Option<Decimal> {
    Decimal::from_str(s).ok()
}

/// RFC 8259 §6: `-? (0 | [1-9][0-9]*) (. [0-9]+)? ([eE] [+-]? [0-9]+)?`.
fn is_json_number(t: &str) -> bool {
    let b = t.as_bytes();
    let mut i = usize::from(b.first() == Some(&b'-'));
    let digits = |i: &mut usize| {
        let start = *i;
        while b.get(*i).is_some_and(u8::is_ascii_digit) {
            *i += 1;
        }
        *i > start
    };
    match b.get(i) {
        Some(b'0') => i += 1,
        Some(b'1'..=b'9') => {
            digits(&mut i);
        }
        _ => return false,
    }
    if b.get(i) == Some(&b'.') {
        i += 1;
        if !digits(&mut i) {
            return false;
        }
    }
    if matches!(b.get(i), Some(b'e' | b'E')) {
        i += 1;
        if matches!(b.get(i), Some(b'+' | b'-')) {
            i += 1;
        }
        if !digits(&mut i) {
            return false;
        }
    }
    i == b.len()
}
