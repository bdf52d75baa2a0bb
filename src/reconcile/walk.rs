//! Looking keys up in a sorted map when the keys come in order: each is
//! found by stepping on from the last one, or, when it lies further ahead
//! than a few entries (a few keys of a large account), by a fresh search.
//!
//! A frame of a full-snapshot venue touches every key of the account, in
//! order; looking each up from the root of five maps was a third of the
//! reconciler's time on the ingest bench.

use std::collections::btree_map::{BTreeMap, Range};
use std::iter::Peekable;

/// Entries stepped over before a fresh search is cheaper.
const STEPS: usize = 4;

pub(super) struct Walk<'a, K, V> {
    map: &'a BTreeMap<K, V>,
    at: Peekable<Range<'a, K, V>>,
}

impl<'a, K: Ord, V> Walk<'a, K, V> {
    pub(super) fn new(map: &'a BTreeMap<K, V>) -> Self {
        Walk {
            map,
            at: map.range::<K, _>(..).peekable(),
        }
    }

    /// `key`'s value. Keys asked for must not decrease: an entry before
    /// the last key asked for is not found.
    pub(super) fn find(&mut self, key: &K) -> Option<&'a V> {
        for _ in 0..STEPS {
            match self.at.peek() {
                Some((k, _)) if *k < key => {
                    self.at.next();
                }
                Some((k, v)) if *k == key => return Some(*v),
                _ => return None,
            }
        }
        self.at = self.map.range(key..).peekable();
        self.at.peek().filter(|(k, _)| *k == key).map(|(_, v)| *v)
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    proptest! {
        /// Whatever the map and the increasing keys, a walk finds what a
        /// lookup finds.
        #[test]
        fn a_walk_finds_what_a_lookup_finds(
            map in prop::collection::btree_map(0u16..200, any::<u8>(), 0..60),
            keys in prop::collection::btree_set(0u16..200, 0..40),
        ) {
            let mut walk = Walk::new(&map);
            for k in &keys {
                // Twice: a key asked for again (a symbol's legs share its lot).
                prop_assert_eq!(walk.find(k), map.get(k));
                prop_assert_eq!(walk.find(k), map.get(k));
            }
        }
    }
}
