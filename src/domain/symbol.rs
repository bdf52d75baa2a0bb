//! A market's name, as the venue spells it: the half of every position key
//! that is text.
//!
//! Every frame looks its keys up in the view, the reconciler's maps and the
//! rules' rows, and each look compares symbols. As `String`s, each of those
//! comparisons was a call into `memcmp` and each copy of a key an allocation:
//! a fifth of a frame's time on the ingest bench. A [`Symbol`] of up to 16
//! bytes (`BTC`, `1000PEPEUSDT`, `xyz:TSLA`) is held in place and compared
//! as one 128-bit integer; a longer one is shared (`Arc<str>`). Either way a
//! copy allocates nothing.
//!
//! Its order, equality and hash are its text's, so a `Symbol` sorts where
//! its `String` did and a map keyed by it is looked up by `&str`.

use std::borrow::Borrow;
use std::cmp::Ordering;
use std::fmt;
use std::hash::{Hash, Hasher};
use std::sync::Arc;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// Up to this many bytes a symbol is held in place.
const INLINE: usize = 16;

/// A symbol (case-sensitive, exactly as the venue spells it).
#[derive(Clone)]
pub struct Symbol(Repr);

#[derive(Clone)]
enum Repr {
    /// The text, zero-padded. Only texts of at most [`INLINE`] bytes.
    Short { bytes: [u8; INLINE], len: u8 },
    /// Only texts longer than [`INLINE`] bytes: one text has one form.
    Long(Arc<str>),
}

impl Symbol {
    pub fn new(text: &str) -> Symbol {
        match u8::try_from(text.len()) {
            Ok(len) if text.len() <= INLINE => {
                let mut bytes = [0u8; INLINE];
                bytes[..text.len()].copy_from_slice(text.as_bytes());
                Symbol(Repr::Short { bytes, len })
            }
            _ => Symbol(Repr::Long(Arc::from(text))),
        }
    }

    /// Two symbols' order as texts: a long one's (the short ones' is inline).
    #[inline(never)]
    fn cmp_text(&self, other: &Symbol) -> Ordering {
        self.as_str().cmp(other.as_str())
    }

    pub fn as_str(&self) -> &str {
        match &self.0 {
            // Made from a `&str` (`new`), so always UTF-8.
            Repr::Short { bytes, len } => std::str::from_utf8(&bytes[..usize::from(*len)]).unwrap_or_default(),
            Repr::Long(text) => text,
        }
    }
}

impl Default for Symbol {
    fn default() -> Self {
        Symbol::new("")
    }
}

impl std::ops::Deref for Symbol {
    type Target = str;

    fn deref(&self) -> &str {
        self.as_str()
    }
}

impl AsRef<str> for Symbol {
    fn as_ref(&self) -> &str {
        self.as_str()
    }
}

impl Borrow<str> for Symbol {
    fn borrow(&self) -> &str {
        self.as_str()
    }
}

impl PartialEq for Symbol {
    #[inline]
    fn eq(&self, other: &Symbol) -> bool {
        match (&self.0, &other.0) {
            (Repr::Short { bytes: a, len: la }, Repr::Short { bytes: b, len: lb }) => {
                u128::from_ne_bytes(*a) == u128::from_ne_bytes(*b) && la == lb
            }
            (Repr::Long(a), Repr::Long(b)) => Arc::ptr_eq(a, b) || a == b,
            // One text has one form.
            _ => false,
        }
    }
}

impl Eq for Symbol {}

impl Ord for Symbol {
    /// The texts' order: the padded bytes as a big-endian integer order
    /// them as the texts do (a text before any longer one it begins), the
    /// length settling a tie (a text and itself with zero bytes added).
    #[inline]
    fn cmp(&self, other: &Symbol) -> Ordering {
        match (&self.0, &other.0) {
            (Repr::Short { bytes: a, len: la }, Repr::Short { bytes: b, len: lb }) => {
                u128::from_be_bytes(*a).cmp(&u128::from_be_bytes(*b)).then(la.cmp(lb))
            }
            _ => self.cmp_text(other),
        }
    }
}

impl PartialOrd for Symbol {
    #[inline]
    fn partial_cmp(&self, other: &Symbol) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl Hash for Symbol {
    /// The text's hash, so a map keyed by symbols is looked up by `&str`:
    /// its bytes, then `0xff`, as `str` hashes (written out here, so a
    /// short symbol is hashed without checking its bytes again as text).
    fn hash<H: Hasher>(&self, state: &mut H) {
        match &self.0 {
            Repr::Short { bytes, len } => {
                state.write(&bytes[..usize::from(*len)]);
                state.write_u8(0xff);
            }
            Repr::Long(text) => text.hash(state),
        }
    }
}

impl PartialEq<str> for Symbol {
    fn eq(&self, other: &str) -> bool {
        self.as_str() == other
    }
}

impl PartialEq<&str> for Symbol {
    fn eq(&self, other: &&str) -> bool {
        self.as_str() == *other
    }
}

impl PartialEq<String> for Symbol {
    fn eq(&self, other: &String) -> bool {
        self.as_str() == other
    }
}

impl PartialEq<Symbol> for str {
    fn eq(&self, other: &Symbol) -> bool {
        self == other.as_str()
    }
}

impl PartialEq<Symbol> for &str {
    fn eq(&self, other: &Symbol) -> bool {
        *self == other.as_str()
    }
}

impl PartialEq<Symbol> for String {
    fn eq(&self, other: &Symbol) -> bool {
        self == other.as_str()
    }
}

impl From<&str> for Symbol {
    fn from(text: &str) -> Symbol {
        Symbol::new(text)
    }
}

impl From<&String> for Symbol {
    fn from(text: &String) -> Symbol {
        Symbol::new(text)
    }
}

impl From<String> for Symbol {
    fn from(text: String) -> Symbol {
        Symbol::new(&text)
    }
}

impl From<&Symbol> for Symbol {
    fn from(s: &Symbol) -> Symbol {
        s.clone()
    }
}

impl From<Symbol> for String {
    fn from(s: Symbol) -> String {
        s.as_str().to_owned()
    }
}

impl fmt::Display for Symbol {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl fmt::Debug for Symbol {
    /// As its text's: a key prints as it did when the symbol was a `String`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(self.as_str(), f)
    }
}

impl Serialize for Symbol {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

impl<'de> Deserialize<'de> for Symbol {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Symbol, D::Error> {
        struct Visit;
        impl serde::de::Visitor<'_> for Visit {
            type Value = Symbol;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a symbol (a string)")
            }
            fn visit_str<E: serde::de::Error>(self, text: &str) -> Result<Symbol, E> {
                Ok(Symbol::new(text))
            }
        }
        d.deserialize_str(Visit)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use std::collections::hash_map::DefaultHasher;

    fn hash_of<T: Hash + ?Sized>(t: &T) -> u64 {
        let mut h = DefaultHasher::new();
        t.hash(&mut h);
        h.finish()
    }

    /// Short and long texts, with the bytes that could confuse the padded
    /// comparison (zero, 0xff in UTF-8, a prefix of another).
    fn text() -> impl Strategy<Value = String> {
        prop_oneof![
            "[A-C\u{0}]{0,18}",
            "[a-z0-9:\\-]{0,24}",
            "[\u{0}-\u{7f}\u{e9}\u{1F600}]{0,10}",
        ]
    }

    proptest! {
        #[test]
        fn a_symbol_orders_compares_and_hashes_as_its_text(a in text(), b in text()) {
            let (sa, sb) = (Symbol::new(&a), Symbol::new(&b));
            prop_assert_eq!(sa.as_str(), a.as_str());
            prop_assert_eq!(sa.cmp(&sb), a.cmp(&b));
            prop_assert_eq!(sa == sb, a == b);
            prop_assert_eq!(hash_of(&sa), hash_of(a.as_str()));
            let round: Symbol = serde_json::from_str(&serde_json::to_string(&sa).unwrap()).unwrap();
            prop_assert_eq!(round, sa);
        }
    }

    #[test]
    fn a_prefix_sorts_first_and_the_boundary_lengths_keep_their_text() {
        let sixteen = "ABCDEFGHIJKLMNOP";
        let seventeen = "ABCDEFGHIJKLMNOPQ";
        assert!(Symbol::new("BTC") < Symbol::new("BTC\0"));
        assert!(Symbol::new("BTC") < Symbol::new("BTCUSDT"));
        assert!(Symbol::new(sixteen) < Symbol::new(seventeen));
        assert_eq!(Symbol::new(seventeen).as_str(), seventeen);
        assert_eq!(Symbol::new(sixteen).as_str(), sixteen);
        assert_eq!(format!("{:?}", Symbol::new("SOL")), "\"SOL\"");
    }
}
