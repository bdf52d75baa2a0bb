//! Looking keys up in a sorted map or slice when the keys come in order:
//! each is found by stepping on from the last one, or, when it lies further
//! ahead than a few entries (a few keys of a large account), by a fresh
//! search.
//!
//! A frame of a full-snapshot venue touches every key of the account, in
//! order: the reconciler looks each up in five maps, the rules each
//! symbol's mark. The next entry is tested for equality first (the cheap
//! comparison, and the usual answer when the keys are dense).

use std::collections::btree_map::{BTreeMap, Range};
use std::iter::Peekable;

/// Entries stepped over before a fresh search is cheaper.
const STEPS: usize = 4;

pub(crate) struct Walk<'a, K, V> {
    map: &'a BTreeMap<K, V>,
    at: Place<'a, K, V>,
}

/// Where a walk is. A walk that finds one key costs one lookup; a second
/// key starts the walk at it.
enum Place<'a, K, V> {
    Unstarted,
    OneLooked,
    At(Peekable<Range<'a, K, V>>),
}

impl<'a, K: Ord, V> Walk<'a, K, V> {
    pub(crate) fn new(map: &'a BTreeMap<K, V>) -> Self {
        Walk {
            map,
            at: Place::Unstarted,
        }
    }

    /// `key`'s value. Keys asked for must not decrease: an entry before
    /// the last key asked for is not found.
    pub(crate) fn find(&mut self, key: &K) -> Option<&'a V> {
        match &mut self.at {
            Place::Unstarted => {
                self.at = Place::OneLooked;
                return self.map.get(key);
            }
            Place::OneLooked => {}
            Place::At(at) => {
                for _ in 0..STEPS {
                    match at.peek() {
                        Some((k, v)) if *k == key => return Some(*v),
                        Some((k, _)) if *k < key => {
                            at.next();
                        }
                        _ => return None,
                    }
                }
            }
        }
        let mut at = self.map.range(key..).peekable();
        let found = at.peek().filter(|(k, _)| *k == key).map(|(_, v)| *v);
        self.at = Place::At(at);
        found
    }
}

/// [`Walk`] over a slice of `(key, value)` sorted by key, each key once:
/// each key is looked for from where the last one was.
pub(crate) struct SliceWalk<'a, K, V> {
    items: &'a [(K, V)],
    from: usize,
}

impl<'a, K: Ord, V> SliceWalk<'a, K, V> {
    pub(crate) fn new(items: &'a [(K, V)]) -> Self {
        SliceWalk { items, from: 0 }
    }

    /// `key`'s value. Keys asked for must not decrease.
    pub(crate) fn find(&mut self, key: &K) -> Option<&'a V> {
        match search_from(self.items, self.from, key, |e| &e.0) {
            Ok(i) => {
                self.from = i;
                Some(&self.items[i].1)
            }
            Err(i) => {
                self.from = i;
                None
            }
        }
    }
}

/// Where `key` is (`Ok`) or would go (`Err`) in `items`, sorted by `key_of`,
/// knowing every item before `from` is smaller: the item at `from` is
/// tested first, then the rest halved.
pub(crate) fn search_from<T, K: Ord>(
    items: &[T],
    from: usize,
    key: &K,
    key_of: impl Fn(&T) -> &K,
) -> Result<usize, usize> {
    match items.get(from) {
        Some(item) if key_of(item) == key => Ok(from),
        None => Err(from),
        Some(_) => match items[from..].binary_search_by(|item| key_of(item).cmp(key)) {
            Ok(i) => Ok(from + i),
            Err(i) => Err(from + i),
        },
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

        /// Whatever the sorted entries and the increasing keys, a slice
        /// walk finds what a lookup finds.
        #[test]
        fn a_slice_walk_finds_what_a_lookup_finds(
            map in prop::collection::btree_map(0u16..200, any::<u8>(), 0..60),
            keys in prop::collection::btree_set(0u16..200, 0..40),
        ) {
            let items: Vec<(u16, u8)> = map.iter().map(|(k, v)| (*k, *v)).collect();
            let mut walk = SliceWalk::new(&items);
            for k in &keys {
                prop_assert_eq!(walk.find(k), map.get(k));
                prop_assert_eq!(walk.find(k), map.get(k));
            }
        }

        /// Searching a sorted slice from where the last key was gives what
        /// a search of the whole slice gives.
        #[test]
        fn a_search_from_the_last_place_finds_what_a_whole_search_finds(
            items in prop::collection::btree_set(0u16..200, 0..60),
            keys in prop::collection::btree_set(0u16..200, 0..40),
        ) {
            let items: Vec<u16> = items.into_iter().collect();
            let mut from = 0;
            for k in &keys {
                let found = search_from(&items, from, k, |i| i);
                prop_assert_eq!(found, items.binary_search(k));
                from = found.unwrap_or_else(|i| i);
            }
        }
    }
}
