//! The rule engine's names as numbers: a condition's identity (account,
//! subject, leg, rule, venue) is kept as small integers, so the engine's
//! maps compare numbers, not strings, on every frame.
//!
//! A name is given its number the first time the engine meets it and keeps
//! it for the engine's life. The names are the configured accounts, venues,
//! rules, groups and sources and the symbols the venues list: a set bounded
//! by the configuration and the venues, not by time.

use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};

use crate::domain::{Leg, PositionKey, Symbol};

/// A name's number.
pub(super) type Id = u32;

/// Names met so far, each with its number.
#[derive(Debug, Default)]
pub(super) struct Names {
    ids: HashMap<Box<str>, Id, BuildHasherDefault<Fnv>>,
    names: Vec<Box<str>>,
    /// The symbols' numbers again, keyed by the symbol itself: found
    /// without reading it as text (a symbol compares as one integer).
    symbols: HashMap<Symbol, Id, BuildHasherDefault<Fnv>>,
}

/// FNV-1a. The names are a few bytes each and come from the configuration
/// and the venues' market lists, so a keyed hash (std's SipHash, which
/// resists an attacker choosing the keys) buys nothing here; it was 5 % of
/// a frame on the ingest bench.
#[derive(Debug)]
pub(super) struct Fnv(u64);

impl Default for Fnv {
    fn default() -> Self {
        Fnv(0xcbf2_9ce4_8422_2325)
    }
}

impl Hasher for Fnv {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write(&mut self, bytes: &[u8]) {
        for b in bytes {
            self.0 = (self.0 ^ u64::from(*b)).wrapping_mul(0x0100_0000_01b3);
        }
    }
}

impl Names {
    /// `name`'s number, given one if it has none yet.
    pub(super) fn id(&mut self, name: &str) -> Id {
        if let Some(&id) = self.ids.get(name) {
            return id;
        }
        let id = Id::try_from(self.names.len()).expect("fewer than 2^32 names");
        self.names.push(name.into());
        self.ids.insert(name.into(), id);
        id
    }

    /// `symbol`'s number: the one [`Names::id`] gives its text.
    pub(super) fn symbol(&mut self, symbol: &Symbol) -> Id {
        if let Some(&id) = self.symbols.get(symbol) {
            return id;
        }
        let id = self.id(symbol.as_str());
        self.symbols.insert(symbol.clone(), id);
        id
    }

    /// `name`'s number, if the engine has met it (no condition holds for a
    /// name it has never met).
    pub(super) fn find(&self, name: &str) -> Option<Id> {
        self.ids.get(name).copied()
    }

    pub(super) fn name(&self, id: Id) -> &str {
        &self.names[id as usize]
    }

    /// A subject as the journal and the pages spell it: the name, and a
    /// hedge leg after a colon (`SOL:long`).
    ///
    /// The inverse of [`PositionKey::split`]; group names cannot end in a
    /// leg (the rule files refuse them), so the two are exact.
    pub(super) fn subject(&self, subject: Id, leg: Leg) -> String {
        PositionKey {
            symbol: self.name(subject).into(),
            leg,
        }
        .to_string()
    }
}

/// One condition's identity. Ordered by account and subject first (a
/// symbol's legs together), so a focused evaluation finds a symbol's
/// conditions with one range query.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub(super) struct TrackKey {
    pub(super) account: Id,
    pub(super) subject: Id,
    pub(super) leg: Leg,
    pub(super) rule: Id,
    pub(super) venue: Id,
}

impl TrackKey {
    /// The first and last keys of `subject`'s conditions on `account`, of
    /// any leg, rule and venue.
    pub(super) fn subject_range(account: Id, subject: Id) -> std::ops::RangeInclusive<TrackKey> {
        let key = |leg, n| TrackKey {
            account,
            subject,
            leg,
            rule: n,
            venue: n,
        };
        key(Leg::Net, Id::MIN)..=key(Leg::Isolated, Id::MAX)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_subject_splits_into_its_name_and_leg_and_back() {
        let mut names = Names::default();
        for spelled in [
            "SOL",
            "SOL:long",
            "SOL:short",
            "SOL:isolated",
            "xyz:TSLA",
            "eth_sol",
            "ws",
        ] {
            let (name, leg) = PositionKey::split(spelled);
            let id = names.id(name);
            assert_eq!(names.subject(id, leg), spelled);
        }
        assert_eq!(names.find("SOL"), Some(0));
        assert_eq!(names.find("BTC"), None);
        // A symbol has its text's number, whichever is met first.
        assert_eq!(names.symbol(&Symbol::new("SOL")), 0);
        let btc = names.symbol(&Symbol::new("BTC"));
        assert_eq!((names.id("BTC"), names.name(btc)), (btc, "BTC"));
    }

    /// The published FNV-1a 64-bit values.
    #[test]
    fn fnv_1a_is_the_published_function() {
        for (input, want) in [
            ("", 0xcbf2_9ce4_8422_2325u64),
            ("a", 0xaf63_dc4c_8601_ec8c),
            ("foobar", 0x8594_4171_f739_67e8),
        ] {
            let mut h = Fnv::default();
            h.write(input.as_bytes());
            assert_eq!(h.finish(), want, "{input:?}");
        }
    }

    #[test]
    fn a_symbols_legs_fall_in_its_range_and_no_other_symbols_do() {
        let key = |subject, leg| TrackKey {
            account: 1,
            subject,
            leg,
            rule: 3,
            venue: 4,
        };
        let range = TrackKey::subject_range(1, 7);
        for leg in [Leg::Net, Leg::Long, Leg::Short, Leg::Isolated] {
            assert!(range.contains(&key(7, leg)));
            assert!(!range.contains(&key(6, leg)) && !range.contains(&key(8, leg)));
        }
    }
}
