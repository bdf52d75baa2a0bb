//! A map kept as one vector sorted by key, each key once.
//!
//! The reconciler's full pass walks the stream view's positions and their
//! change times beside REST's and the DB's sizes, every key in order, on
//! every tick. A `BTreeMap`'s entries lie in nodes scattered over the heap:
//! past the caches (100,000 positions) each node is a wait on memory, and
//! walking one cost four times what walking a vector does. Here the entries
//! lie end to end, so a walk reads memory in order. A key is found by
//! halving; adding or removing one moves the entries after it (a position
//! opened or closed, not a size changed). Keys that come in order (a
//! frame's changes, sorted) are found with a [`Cursor`], each from the last.

use std::borrow::Borrow;

/// Entries sorted by key, each key once.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SortedMap<K, V> {
    entries: Vec<(K, V)>,
}

impl<K, V> Default for SortedMap<K, V> {
    fn default() -> Self {
        SortedMap { entries: Vec::new() }
    }
}

impl<K: Ord, V> SortedMap<K, V> {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Where `key` is (`Ok`) or would go (`Err`).
    fn find<Q: Ord + ?Sized>(&self, key: &Q) -> Result<usize, usize>
    where
        K: Borrow<Q>,
    {
        self.entries.binary_search_by(|(k, _)| k.borrow().cmp(key))
    }

    pub fn get<Q: Ord + ?Sized>(&self, key: &Q) -> Option<&V>
    where
        K: Borrow<Q>,
    {
        self.find(key).ok().map(|i| &self.entries[i].1)
    }

    pub fn get_mut<Q: Ord + ?Sized>(&mut self, key: &Q) -> Option<&mut V>
    where
        K: Borrow<Q>,
    {
        self.find(key).ok().map(|i| &mut self.entries[i].1)
    }

    pub fn contains_key<Q: Ord + ?Sized>(&self, key: &Q) -> bool
    where
        K: Borrow<Q>,
    {
        self.find(key).is_ok()
    }

    /// Sets `key`'s value; the value it had, if any.
    pub fn insert(&mut self, key: K, value: V) -> Option<V> {
        match self.find(&key) {
            Ok(i) => Some(std::mem::replace(&mut self.entries[i].1, value)),
            Err(i) => {
                self.entries.insert(i, (key, value));
                None
            }
        }
    }

    pub fn remove<Q: Ord + ?Sized>(&mut self, key: &Q) -> Option<V>
    where
        K: Borrow<Q>,
    {
        self.find(key).ok().map(|i| self.entries.remove(i).1)
    }

    pub fn clear(&mut self) {
        self.entries.clear();
    }

    /// In key order.
    pub fn iter(&self) -> impl DoubleEndedIterator<Item = (&K, &V)> + ExactSizeIterator {
        self.entries.iter().map(|(k, v)| (k, v))
    }

    /// In key order; the keys cannot change.
    pub fn iter_mut(&mut self) -> impl DoubleEndedIterator<Item = (&K, &mut V)> + ExactSizeIterator {
        self.entries.iter_mut().map(|(k, v)| (&*k, v))
    }

    pub fn keys(&self) -> impl DoubleEndedIterator<Item = &K> + ExactSizeIterator {
        self.entries.iter().map(|(k, _)| k)
    }

    pub fn values(&self) -> impl DoubleEndedIterator<Item = &V> + ExactSizeIterator {
        self.entries.iter().map(|(_, v)| v)
    }

    /// The entries, in key order (for a walk: `crate::walk::Walk`).
    pub fn as_slice(&self) -> &[(K, V)] {
        &self.entries
    }

    /// A cursor for keys asked for in increasing order ([`Cursor`]).
    pub fn cursor(&mut self) -> Cursor<'_, K, V> {
        Cursor { map: self, at: Err(0) }
    }
}

/// Finds, changes, adds and removes entries for keys that come in
/// increasing order (a frame's keys, sorted), each found from where the
/// last one was: the entry after it is tried first, the usual answer when
/// a frame moves every key, else the rest is halved. A key out of order is
/// found from the start, so any order gives the right answer.
pub struct Cursor<'m, K, V> {
    map: &'m mut SortedMap<K, V>,
    /// Where the last key sought is (`Ok`) or would go (`Err`).
    at: Result<usize, usize>,
}

impl<K: Ord, V> Cursor<'_, K, V> {
    /// Steps to `key`: its value, if the map holds it.
    pub fn seek(&mut self, key: &K) -> Option<&mut V> {
        let entries = &self.map.entries;
        let last = match self.at {
            Ok(i) | Err(i) => i,
        };
        // Every entry before `from` is smaller than `key`.
        let from = match last.checked_sub(1).map(|i| &entries[i].0) {
            Some(before) if before >= key => 0,
            _ => last,
        };
        self.at = match entries.get(from + 1) {
            Some((next, _)) if next == key => Ok(from + 1),
            _ => crate::walk::search_from(entries, from, key, |e| &e.0),
        };
        self.at.ok().map(|i| &mut self.map.entries[i].1)
    }

    /// Sets the key last sought to `value` (`key` must be that key: any
    /// other is inserted where it belongs).
    pub fn insert(&mut self, key: K, value: V) {
        match self.at {
            Ok(i) if self.map.entries[i].0 == key => self.map.entries[i].1 = value,
            Err(i) if self.fits(i, &key) => {
                self.map.entries.insert(i, (key, value));
                self.at = Ok(i);
            }
            _ => {
                self.map.insert(key, value);
                self.at = Err(0);
            }
        }
    }

    /// Removes the key last sought: its value, if the map held it.
    pub fn remove(&mut self) -> Option<V> {
        let i = self.at.ok()?;
        self.at = Err(i);
        Some(self.map.entries.remove(i).1)
    }

    /// `key` goes at `i`: between the entries either side of it.
    fn fits(&self, i: usize, key: &K) -> bool {
        let entries = &self.map.entries;
        i.checked_sub(1).is_none_or(|b| entries[b].0 < *key) && entries.get(i).is_none_or(|(after, _)| after > key)
    }
}

/// In key order.
impl<K, V> IntoIterator for SortedMap<K, V> {
    type Item = (K, V);
    type IntoIter = std::vec::IntoIter<(K, V)>;

    fn into_iter(self) -> Self::IntoIter {
        self.entries.into_iter()
    }
}

impl<K: Ord, V> SortedMap<K, V> {
    /// `entries` in key order, each key once: `merge` folds a later
    /// entry's value into the earlier one's ("later": the order given; the
    /// sort is stable, and linear when the entries come in order already).
    pub fn merged(mut entries: Vec<(K, V)>, mut merge: impl FnMut(&mut V, V)) -> Self {
        entries.sort_by(|a, b| a.0.cmp(&b.0));
        // Each key once already (the view's merged set, a REST read): kept
        // as given, not moved into a second vector.
        if entries.windows(2).all(|w| w[0].0 != w[1].0) {
            return SortedMap { entries };
        }
        let mut out: Vec<(K, V)> = Vec::with_capacity(entries.len());
        for (k, v) in entries {
            match out.last_mut() {
                Some(last) if last.0 == k => merge(&mut last.1, v),
                _ => out.push((k, v)),
            }
        }
        SortedMap { entries: out }
    }
}

/// As a `BTreeMap` collects: a key given twice keeps its later value.
impl<K: Ord, V> FromIterator<(K, V)> for SortedMap<K, V> {
    fn from_iter<I: IntoIterator<Item = (K, V)>>(iter: I) -> Self {
        Self::merged(iter.into_iter().collect(), |earlier, later| *earlier = later)
    }
}

/// As a `BTreeMap` is made from an array: a key given twice keeps its later value.
impl<K: Ord, V, const N: usize> From<[(K, V); N]> for SortedMap<K, V> {
    fn from(entries: [(K, V); N]) -> Self {
        entries.into_iter().collect()
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use proptest::prelude::*;

    use super::*;

    /// What may be done to a map.
    #[derive(Debug, Clone)]
    enum Op {
        Insert(u8, u16),
        Remove(u8),
        Set(u8, u16),
        Clear,
    }

    fn op() -> impl Strategy<Value = Op> {
        prop_oneof![
            4 => (0u8..40, any::<u16>()).prop_map(|(k, v)| Op::Insert(k, v)),
            3 => (0u8..40).prop_map(Op::Remove),
            2 => (0u8..40, any::<u16>()).prop_map(|(k, v)| Op::Set(k, v)),
            1 => Just(Op::Clear),
        ]
    }

    proptest! {
        /// Whatever is done to it, the map holds what a `BTreeMap` given
        /// the same holds, in the same order, and answers as it answers.
        #[test]
        fn a_sorted_map_holds_what_a_btree_map_holds(
            first in prop::collection::vec((0u8..40, any::<u16>()), 0..30),
            ops in prop::collection::vec(op(), 0..60),
        ) {
            let mut ours: SortedMap<u8, u16> = first.iter().copied().collect();
            let mut theirs: BTreeMap<u8, u16> = first.iter().copied().collect();
            for op in ops {
                match op {
                    Op::Insert(k, v) => prop_assert_eq!(ours.insert(k, v), theirs.insert(k, v)),
                    Op::Remove(k) => prop_assert_eq!(ours.remove(&k), theirs.remove(&k)),
                    Op::Set(k, v) => {
                        if let (Some(a), Some(b)) = (ours.get_mut(&k), theirs.get_mut(&k)) {
                            *a = v;
                            *b = v;
                        }
                    }
                    Op::Clear => {
                        ours.clear();
                        theirs.clear();
                    }
                }
                for k in 0u8..40 {
                    prop_assert_eq!(ours.get(&k), theirs.get(&k));
                    prop_assert_eq!(ours.contains_key(&k), theirs.contains_key(&k));
                }
                prop_assert_eq!(ours.len(), theirs.len());
                prop_assert!(ours.iter().eq(theirs.iter()));
                prop_assert!(ours.as_slice().windows(2).all(|w| w[0].0 < w[1].0));
            }
            prop_assert!(ours.into_iter().eq(theirs.into_iter()));
        }
    }

    proptest! {
        /// Keys sought in any order (mostly increasing, as frames come),
        /// each value then read, set or removed through the cursor: the map
        /// holds and answers what a `BTreeMap` given the same does.
        #[test]
        fn a_cursor_changes_what_a_btree_map_would(
            first in prop::collection::vec((0u8..40, any::<u16>()), 0..30),
            mut steps in prop::collection::vec((0u8..40, 0u8..4, any::<u16>()), 0..40),
            sorted in any::<bool>(),
        ) {
            if sorted {
                steps.sort_by_key(|s| s.0);
            }
            let mut ours: SortedMap<u8, u16> = first.iter().copied().collect();
            let mut theirs: BTreeMap<u8, u16> = first.iter().copied().collect();
            let mut cursor = ours.cursor();
            for (k, what, v) in steps {
                prop_assert_eq!(cursor.seek(&k).copied(), theirs.get(&k).copied());
                match what {
                    0 => {}
                    1 => {
                        cursor.insert(k, v);
                        theirs.insert(k, v);
                    }
                    2 => prop_assert_eq!(cursor.remove(), theirs.remove(&k)),
                    // Another key than the one sought: set where it belongs.
                    _ => {
                        let other = (v % 40) as u8;
                        cursor.insert(other, v);
                        theirs.insert(other, v);
                    }
                }
            }
            prop_assert_eq!(ours.iter().map(|(k, v)| (*k, *v)).collect::<Vec<_>>(), theirs.into_iter().collect::<Vec<_>>());
        }
    }
}
