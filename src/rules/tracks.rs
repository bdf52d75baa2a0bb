//! The conditions that hold, each with since when: the rule engine's memory
//! between evaluations, and how many of them each subject has.
//!
//! A focused evaluation (one per frame) must find the conditions in view
//! that stopped holding. It knows how many hold; with each subject's count
//! it knows at once whether any in view stopped (most frames: none), and
//! searches the subjects' ranges only then.

use std::collections::btree_map::{self, BTreeMap};
use std::collections::HashMap;
use std::hash::BuildHasherDefault;

use super::names::{Fnv, Id, TrackKey};
use super::Track;

#[derive(Debug, Default)]
pub(super) struct Tracks {
    by_key: BTreeMap<TrackKey, Track>,
    /// (account, subject) → how many of `by_key`'s keys are theirs; no zeros.
    counts: HashMap<(Id, Id), u32, BuildHasherDefault<Fnv>>,
}

impl Tracks {
    /// `key`'s track, begun with `new` if it has none.
    pub(super) fn get_or_insert(&mut self, key: TrackKey, new: impl FnOnce() -> Track) -> &mut Track {
        match self.by_key.entry(key) {
            btree_map::Entry::Occupied(e) => e.into_mut(),
            btree_map::Entry::Vacant(e) => {
                *self.counts.entry((key.account, key.subject)).or_insert(0) += 1;
                e.insert(new())
            }
        }
    }

    pub(super) fn remove(&mut self, key: &TrackKey) -> Option<Track> {
        let track = self.by_key.remove(key)?;
        if let Some(n) = self.counts.get_mut(&(key.account, key.subject)) {
            *n -= 1;
            if *n == 0 {
                self.counts.remove(&(key.account, key.subject));
            }
        }
        Some(track)
    }

    /// How many conditions `subject` has on `account`, of any leg, rule and venue.
    pub(super) fn count(&self, account: Id, subject: Id) -> u32 {
        self.counts.get(&(account, subject)).copied().unwrap_or(0)
    }

    /// `subject`'s conditions on `account`, in key order.
    pub(super) fn of_subject(&self, account: Id, subject: Id) -> impl Iterator<Item = &TrackKey> {
        self.by_key
            .range(TrackKey::subject_range(account, subject))
            .map(|(k, _)| k)
    }

    pub(super) fn keys(&self) -> impl Iterator<Item = &TrackKey> {
        self.by_key.keys()
    }

    pub(super) fn iter(&self) -> impl Iterator<Item = (&TrackKey, &Track)> {
        self.by_key.iter()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::{Leg, Timestamp};

    fn key(subject: Id, leg: Leg, rule: Id) -> TrackKey {
        TrackKey {
            account: 1,
            subject,
            leg,
            rule,
            venue: 2,
        }
    }

    fn track() -> Track {
        Track {
            since: Timestamp(0),
            alerted: None,
        }
    }

    #[test]
    fn a_subjects_count_follows_its_inserts_and_removals() {
        let mut t = Tracks::default();
        t.get_or_insert(key(7, Leg::Net, 1), track);
        t.get_or_insert(key(7, Leg::Net, 1), track);
        t.get_or_insert(key(7, Leg::Long, 2), track);
        t.get_or_insert(key(8, Leg::Net, 1), track);
        assert_eq!((t.count(1, 7), t.count(1, 8), t.count(2, 7)), (2, 1, 0));
        assert_eq!(t.of_subject(1, 7).count(), 2);
        assert!(t.remove(&key(7, Leg::Long, 2)).is_some());
        assert!(t.remove(&key(7, Leg::Long, 2)).is_none());
        assert_eq!(t.count(1, 7), 1);
        assert!(t.remove(&key(8, Leg::Net, 1)).is_some());
        assert_eq!(t.count(1, 8), 0);
        assert!(t.counts.values().all(|n| *n > 0));
    }
}
