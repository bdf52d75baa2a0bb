//! Looking keys up in a sorted slice when the keys come in order: each is
//! found from where the last one was, the next entry tested first (the
//! usual answer when the keys are dense), else by halving what is left.
//!
//! A frame of a full-snapshot venue touches every key of the account, in
//! order: the reconciler looks each up in its sorted sets, the rules each
//! symbol's mark.

/// A walk over entries sorted by key, each key once ([`crate::sorted::SortedMap::as_slice`]).
pub(crate) struct Walk<'a, K, V> {
    items: &'a [(K, V)],
    /// Every entry before it is smaller than the last key asked for.
    from: usize,
}

impl<'a, K: Ord, V> Walk<'a, K, V> {
    pub(crate) fn new(items: &'a [(K, V)]) -> Self {
        Walk { items, from: 0 }
    }

    /// `key`'s value. Keys asked for must not decrease; the same key may be
    /// asked for again (a symbol's legs share its lot).
    pub(crate) fn find(&mut self, key: &K) -> Option<&'a V> {
        // The next entry first; `search_from` tests the last one's place.
        let at = match self.items.get(self.from + 1) {
            Some(next) if next.0 == *key => Ok(self.from + 1),
            _ => search_from(self.items, self.from, key, |e| &e.0),
        };
        match at {
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
        /// Whatever the sorted entries and the increasing keys, a walk
        /// finds what a lookup finds.
        #[test]
        fn a_walk_finds_what_a_lookup_finds(
            map in prop::collection::btree_map(0u16..200, any::<u8>(), 0..60),
            keys in prop::collection::btree_set(0u16..200, 0..40),
        ) {
            let items: Vec<(u16, u8)> = map.iter().map(|(k, v)| (*k, *v)).collect();
            let mut walk = Walk::new(&items);
            for k in &keys {
                // Twice: a key asked for again (a symbol's legs share its lot).
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
