//! A strict JSON cursor for the venues' hot frames, shared by their
//! hand-written decoders (`pacifica/scan.rs`, `hyperliquid/scan.rs`).
//!
//! It reads only what it fully understands: strings without escapes or
//! control characters, the JSON literals, numbers as RFC 8259 writes them,
//! and (through [`Cursor::skip_any`]) objects and arrays of those, nested at
//! most [`MAX_DEPTH`] deep. Anything else returns `None`, and the venue's
//! serde decoder reads the frame instead, so a decoder built on it never
//! accepts a frame serde refuses, nor reads one differently (each venue's
//! `parse` tests check that by property).

/// Deeper nesting than any venue frame has is left to serde.
pub const MAX_DEPTH: usize = 16;

pub struct Cursor<'a> {
    text: &'a str,
    at: usize,
}

impl<'a> Cursor<'a> {
    pub fn new(text: &'a str) -> Cursor<'a> {
        Cursor { text, at: 0 }
    }

    fn skip_ws(&mut self) {
        let b = self.text.as_bytes();
        while matches!(b.get(self.at), Some(b' ' | b'\n' | b'\r' | b'\t')) {
            self.at += 1;
        }
    }

    /// Skips whitespace unless `byte` is already under the cursor: most
    /// strings follow their colon or comma directly.
    #[inline]
    fn skip_ws_before(&mut self, byte: u8) {
        if self.text.as_bytes().get(self.at) != Some(&byte) {
            self.skip_ws();
        }
    }

    /// The next byte that is not whitespace, not consumed.
    pub fn peek(&mut self) -> Option<u8> {
        self.skip_ws();
        self.text.as_bytes().get(self.at).copied()
    }

    /// Consumes `byte` if it is next.
    pub fn eat(&mut self, byte: u8) -> Option<()> {
        // Most punctuation follows a value with no whitespace.
        if self.text.as_bytes().get(self.at) != Some(&byte) {
            (self.peek()? == byte).then_some(())?;
        }
        self.at += 1;
        Some(())
    }

    /// How far into the text the cursor is.
    pub fn offset(&self) -> usize {
        self.at
    }

    /// The text from the cursor on, as bytes.
    pub fn rest(&self) -> &'a [u8] {
        self.text.as_bytes().get(self.at..).unwrap_or_default()
    }

    /// Moves to `to`, at or after the cursor, without reading what lies
    /// between: only for text the caller has checked byte for byte against
    /// text this cursor read before (a repeated item). `None` past the end.
    pub fn skip_checked(&mut self, to: usize) -> Option<()> {
        (self.at..=self.text.len()).contains(&to).then(|| self.at = to)
    }

    /// Only whitespace is left.
    pub fn end(&mut self) -> Option<()> {
        self.skip_ws();
        (self.at == self.text.len()).then_some(())
    }

    /// A string without escapes or control characters: its contents.
    #[inline]
    pub fn string(&mut self) -> Option<&'a str> {
        self.skip_ws_before(b'"');
        let contents = self.string_span()?;
        // Both ends are ASCII quotes, so both are character boundaries.
        self.text.get(contents)
    }

    /// A string that is not read: only checked, as [`Cursor::string`] checks it.
    fn skip_string(&mut self) -> Option<()> {
        self.string_span().map(drop)
    }

    /// The string at the cursor (its opening quote there, no whitespace
    /// first): where its contents are. The cursor moves past its closing quote.
    fn string_span(&mut self) -> Option<std::ops::Range<usize>> {
        let b = self.text.as_bytes();
        (b.get(self.at) == Some(&b'"')).then_some(())?;
        let start = self.at + 1;
        let end = start + plain_len(&b[start..])?;
        (b.get(end) == Some(&b'"')).then_some(())?;
        self.at = end + 1;
        Some(start..end)
    }

    /// An object key: one-letter keys (`"s":`, the compact frames') are read
    /// in place, any other as [`Cursor::string`] reads a string. The colon
    /// after the key is consumed.
    pub fn key(&mut self) -> Option<&'a str> {
        self.skip_ws_before(b'"');
        let b = self.text.as_bytes();
        if let [b'"', k, b'"', b':', ..] = b[self.at..] {
            if k.is_ascii_alphanumeric() {
                self.at += 4;
                return self.text.get(self.at - 3..self.at - 2);
            }
        }
        self.long_key()
    }

    /// A key of any length, its opening quote at the cursor; apart from
    /// [`Cursor::key`], so the one-letter case does not set up its search.
    #[inline(never)]
    fn long_key(&mut self) -> Option<&'a str> {
        let key = self.string_span()?;
        self.eat(b':')?;
        // Both ends are ASCII quotes, so both are character boundaries.
        self.text.get(key)
    }

    /// An object key that is not read: only checked, as [`Cursor::key`]
    /// checks it, the colon after it consumed.
    fn skip_key(&mut self) -> Option<()> {
        self.skip_ws_before(b'"');
        self.skip_string()?;
        self.eat(b':')
    }

    /// `true`, `false`, `null` or a JSON number: its text. The token is the
    /// longest run of letters, digits, `-`, `+` and `.`, and all of it must
    /// be one of those (`truex` and `01` are refused, not split); it is read
    /// in one pass.
    pub fn scalar(&mut self) -> Option<&'a str> {
        self.skip_ws();
        let start = self.at;
        let rest = &self.text.as_bytes()[start..];
        // The literals byte by byte (a call to compare memory costs more).
        let len = match rest {
            [b't', b'r', b'u', b'e', ..] | [b'n', b'u', b'l', b'l', ..] => 4,
            [b'f', b'a', b'l', b's', b'e', ..] => 5,
            _ => number_len(rest)?,
        };
        if rest.get(len).is_some_and(|&b| in_token(b)) {
            return None;
        }
        self.at = start + len;
        // The token is ASCII, so both ends are character boundaries.
        self.text.get(start..start + len)
    }

    /// A string or a scalar (no arrays or objects).
    pub fn skip_value(&mut self) -> Option<()> {
        match self.peek()? {
            b'"' => self.skip_string(),
            _ => self.scalar().map(drop),
        }
    }

    /// Any value, objects and arrays included, nested at most [`MAX_DEPTH`].
    pub fn skip_any(&mut self) -> Option<()> {
        self.skip_nested(0)
    }

    fn skip_nested(&mut self, depth: usize) -> Option<()> {
        match self.peek()? {
            b'{' | b'[' if depth >= MAX_DEPTH => None,
            b'{' => self.members(|c| {
                c.skip_key()?;
                c.skip_nested(depth + 1)
            }),
            b'[' => self.elements(|c| c.skip_nested(depth + 1)),
            b'"' => self.skip_string(),
            _ => self.scalar().map(drop),
        }
    }

    /// An array: `element` reads each value in turn, with the commas and
    /// brackets between them checked here.
    pub fn elements(&mut self, element: impl FnMut(&mut Self) -> Option<()>) -> Option<()> {
        self.delimited(b'[', b']', element)
    }

    /// A string without escapes, or `null` (`Some(None)`).
    pub fn string_or_null(&mut self) -> Option<Option<&'a str>> {
        match self.peek()? {
            b'"' => self.string().map(Some),
            _ => (self.scalar()? == "null").then_some(None),
        }
    }

    /// An object: `member` reads each `"key": value` in turn (it reads the
    /// key too), with the commas and braces between them checked here.
    pub fn members(&mut self, member: impl FnMut(&mut Self) -> Option<()>) -> Option<()> {
        self.delimited(b'{', b'}', member)
    }

    /// `open`, then what `each` reads, separated by commas, then `close`.
    fn delimited(&mut self, open: u8, close: u8, mut each: impl FnMut(&mut Self) -> Option<()>) -> Option<()> {
        self.eat(open)?;
        if self.eat(close).is_some() {
            return Some(());
        }
        loop {
            each(self)?;
            if self.eat(b',').is_none() {
                return self.eat(close);
            }
        }
    }
}

/// Where the first quote, backslash or control character is: eight bytes
/// at a time (each word tested for the three at once), then byte by byte.
fn plain_len(bytes: &[u8]) -> Option<usize> {
    const ONES: u64 = 0x0101_0101_0101_0101;
    const HIGHS: u64 = 0x8080_8080_8080_8080;
    // The high bit of each byte that is zero (exact for the lowest such
    // byte, which is the one read); and of each byte below 0x20.
    let zero = |w: u64| w.wrapping_sub(ONES) & !w & HIGHS;
    let mut at = 0;
    while let Some(word) = bytes.get(at..at + 8) {
        let w = u64::from_le_bytes(word.try_into().ok()?);
        let hits = zero(w ^ (ONES * u64::from(b'"')))
            | zero(w ^ (ONES * u64::from(b'\\')))
            | (w.wrapping_sub(ONES * 0x20) & !w & HIGHS);
        if hits != 0 {
            return Some(at + hits.trailing_zeros() as usize / 8);
        }
        at += 8;
    }
    let tail = bytes[at..].iter().position(|&b| b == b'"' || b == b'\\' || b < 0x20)?;
    Some(at + tail)
}

/// A byte of a scalar's token (see [`Cursor::scalar`]).
fn in_token(b: u8) -> bool {
    b.is_ascii_alphanumeric() || matches!(b, b'-' | b'+' | b'.')
}

/// The length of the JSON number `b` starts with, or `None` if it starts
/// with none. RFC 8259 §6: `-? (0 | [1-9][0-9]*) (. [0-9]+)? ([eE] [+-]? [0-9]+)?`.
fn number_len(b: &[u8]) -> Option<usize> {
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
        _ => return None,
    }
    if b.get(i) == Some(&b'.') {
        i += 1;
        if !digits(&mut i) {
            return None;
        }
    }
    if matches!(b.get(i), Some(b'e' | b'E')) {
        i += 1;
        if matches!(b.get(i), Some(b'+' | b'-')) {
            i += 1;
        }
        if !digits(&mut i) {
            return None;
        }
    }
    Some(i)
}

#[cfg(test)]
mod tests {
    use super::*;

    proptest::proptest! {
        /// The word-at-a-time search finds what a byte-by-byte one finds.
        #[test]
        fn plain_len_is_the_first_special_byte(bytes in proptest::collection::vec(
            proptest::prop_oneof![proptest::num::u8::ANY, proptest::sample::select(vec![b'"', b'\\', 0x1f, 0x20, 0x7f, 0x80, 0xa2, 0xdc])],
            0..40,
        )) {
            let want = bytes.iter().position(|&b| b == b'"' || b == b'\\' || b < 0x20);
            proptest::prop_assert_eq!(plain_len(&bytes), want);
        }
    }

    proptest::proptest! {
        /// A scalar is the longest run of token bytes after any whitespace,
        /// and all of it is `true`, `false`, `null` or an RFC 8259 number
        /// (checked here by a regular expression of the grammar).
        #[test]
        fn scalar_is_the_whole_token(text in "[ tfrueanls0-9eE+.x,-]{0,12}") {
            let number = regex::Regex::new(r"^-?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?$").unwrap();
            let trimmed = text.trim_start_matches(' ');
            let token = &trimmed[..trimmed.bytes().position(|b| !in_token(b)).unwrap_or(trimmed.len())];
            let want = (matches!(token, "true" | "false" | "null") || number.is_match(token)).then_some(token);
            let mut c = Cursor::new(&text);
            proptest::prop_assert_eq!(c.scalar(), want);
            if want.is_some() {
                proptest::prop_assert_eq!(c.offset(), text.len() - trimmed.len() + token.len());
            }
        }
    }

    #[test]
    fn skips_nested_values_and_refuses_what_it_does_not_understand() {
        let skipped = |t: &str| {
            let mut c = Cursor::new(t);
            c.skip_any().and_then(|()| c.end()).is_some()
        };
        for ok in [r#"{"a":{"b":[1,"x",null,{}]},"c":[]}"#, "[ ]", "-0.5e+2", r#""é""#] {
            assert!(skipped(ok), "{ok}");
        }
        let deep = format!("{}{}", "[".repeat(MAX_DEPTH + 1), "]".repeat(MAX_DEPTH + 1));
        for refused in [
            r#"{"a":1,}"#,
            "[1,]",
            r#""x\"y""#,
            r#"{"a\"":1}"#,
            r#"{"a":{"b\u0041":1}}"#,
            "01",
            r#"{"a" 1}"#,
            "[1",
            deep.as_str(),
        ] {
            assert!(!skipped(refused), "{refused}");
        }
    }
}
