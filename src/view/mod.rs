//! driftwatch's own view of an account's positions, built from the venue's
//! stream. Pure: it takes events and `now`, holds no locks, reads no clock.
//!
//! The stream is the authority; REST only verifies. The view therefore has
//! one rule that matters more than any other: after every (re)connect it is
//! *untrusted* until it has a baseline (a snapshot frame, or for per-key
//! venues a REST seed) **and** a REST read agrees with it. A socket that
//! drops, goes silent or has not yet sent its snapshot never reads as flat.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use rust_decimal::Decimal;

use crate::domain::{same_size, Position, PositionKey, Symbol, Timestamp};
use crate::sorted::SortedMap;
use crate::venue::types::{RestSnapshot, StreamEvent, StreamStyle};

/// The state of the link behind the view.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Link {
    /// No socket (never connected, or dropped).
    Down,
    /// Socket open, subscription sent, no baseline yet.
    AwaitingBaseline,
    /// Baseline received; frames are applied as they come.
    Live,
}

/// Why the view may not be acted on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Untrusted {
    Disconnected,
    AwaitingSnapshot,
    AwaitingRestAgreement,
    Silent {
        for_: Duration,
    },
    /// The REST baseline offered after a reconnect contradicts what the view
    /// last held while trusted, with no stream event to explain it.
    BaselineConflict {
        keys: Vec<PositionKey>,
    },
}

impl Untrusted {
    pub fn describe(&self) -> String {
        match self {
            Untrusted::Disconnected => "disconnected".into(),
            Untrusted::AwaitingSnapshot => "awaiting snapshot".into(),
            Untrusted::AwaitingRestAgreement => "awaiting REST agreement".into(),
            Untrusted::Silent { for_ } => format!("silent for {}s", for_.as_secs()),
            Untrusted::BaselineConflict { keys } => {
                let keys: Vec<String> = keys.iter().map(|k| k.to_string()).collect();
                format!(
                    "REST baseline contradicts the last trusted view ({}); waiting for a stream event or REST to agree",
                    keys.join(", ")
                )
            }
        }
    }
}

/// What applying one event did (for logs and tests).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Applied {
    Replaced,
    Updated,
    DroppedOutOfOrder,
    /// [`StreamEvent::Changes`] with no complete set from this connection to
    /// apply them to (none yet), or older than the set held: not applied;
    /// the view awaits a new baseline and the stream should resync.
    Unanchored,
    LinkChanged,
    Liveness,
    MarkedDirty,
}

/// The result of comparing a REST read with the view.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verification {
    /// Every key agrees within one lot.
    Agreed,
    /// They differ, and the REST read is not older than the view.
    Disagreed,
    /// They differ, but the REST read predates the view's last frame.
    RestOlder,
    /// The view has no baseline to compare with.
    NoBaseline,
    /// Offered as a baseline, the REST read contradicts the last trusted
    /// view: refused (see [`Untrusted::BaselineConflict`]).
    BaselineConflict,
}

#[derive(Debug, Clone)]
pub struct StreamView {
    style: StreamStyle,
    positions: SortedMap<PositionKey, Position>,
    last_seq: Option<u64>,
    link: Link,
    verified: bool,
    last_frame_at: Option<Timestamp>,
    connected_at: Option<Timestamp>,
    /// Per-key venues: keys the stream has set since the last connect, which
    /// a REST seed must not overwrite.
    set_since_connect: BTreeSet<PositionKey>,
    dirty: BTreeSet<String>,
    reconnects: u64,
    /// Keys whose size the last applied event changed.
    changed: Vec<PositionKey>,
    /// Empty; kept for its memory: a frame's changes in key order.
    order: Vec<usize>,
    /// Full-snapshot venues: the view holds a complete set from this
    /// connection, and every frame since that anchors anything: what a
    /// [`StreamEvent::Changes`] is told against.
    complete: bool,
    /// When the stream last changed each key's size.
    changed_at: SortedMap<PositionKey, Timestamp>,
    /// A REST read has agreed with the view since the last connect.
    agreed_since_connect: bool,
    /// Per-key venues: what the view knew when its link last dropped, kept
    /// across reconnects until a new baseline is earned; a REST baseline is
    /// judged against it. Complete (an absent key is flat) when taken from a
    /// view REST had agreed with; otherwise it knows only the keys the stream
    /// spoke for.
    judge: Option<BTreeMap<PositionKey, Decimal>>,
    judge_complete: bool,
    /// Keys where the offered REST baseline contradicted `judge`.
    conflict: Vec<PositionKey>,
    /// Sizes read from a second endpoint since the last connect (see
    /// [`StreamView::corroborate`]).
    corroborated: BTreeMap<PositionKey, Decimal>,
    /// When a REST read last agreed with the view, or the view last changed
    /// while trusted: when its position data was last good.
    last_good_at: Option<Timestamp>,
    /// When a REST read last agreed with the view.
    last_agreed_at: Option<Timestamp>,
}

impl StreamView {
    pub fn new(style: StreamStyle) -> Self {
        StreamView {
            style,
            positions: SortedMap::new(),
            last_seq: None,
            link: Link::Down,
            verified: false,
            last_frame_at: None,
            connected_at: None,
            set_since_connect: BTreeSet::new(),
            dirty: BTreeSet::new(),
            reconnects: 0,
            changed: Vec::new(),
            order: Vec::new(),
            complete: false,
            changed_at: SortedMap::new(),
            agreed_since_connect: false,
            judge: None,
            judge_complete: false,
            conflict: Vec::new(),
            corroborated: BTreeMap::new(),
            last_good_at: None,
            last_agreed_at: None,
        }
    }

    /// Applies one stream event received at `now`.
    pub fn apply(&mut self, event: &StreamEvent, now: Timestamp) -> Applied {
        let applied = self.apply_event(event, now);
        // Mostly in key order: each found from the last.
        let mut changed_at = self.changed_at.cursor();
        for k in &self.changed {
            match changed_at.seek(k) {
                Some(at) => *at = now,
                None => changed_at.insert(k.clone(), now),
            }
        }
        if !self.changed.is_empty() && self.verified {
            self.last_good_at = Some(now);
        }
        applied
    }

    fn apply_event(&mut self, event: &StreamEvent, now: Timestamp) -> Applied {
        self.changed.clear();
        match event {
            StreamEvent::Connected => {
                // What the view held while last trusted judges the next
                // baseline; a connection that never earned agreement keeps
                // the older judge.
                if self.style == StreamStyle::PerKeyUpdates {
                    if self.agreed_since_connect {
                        self.judge = Some(self.positions.iter().map(|(k, p)| (k.clone(), p.size)).collect());
                        self.judge_complete = true;
                    } else if !self.set_since_connect.is_empty() {
                        // Never agreed, but the stream spoke for these keys:
                        // that is evidence too.
                        let judge = self.judge.get_or_insert_with(BTreeMap::new);
                        for k in &self.set_since_connect {
                            let size = self.positions.get(k).map_or(Decimal::ZERO, |p| p.size);
                            judge.insert(k.clone(), size);
                        }
                    }
                }
                self.agreed_since_connect = false;
                self.complete = false;
                self.conflict.clear();
                self.corroborated.clear();
                self.link = Link::AwaitingBaseline;
                self.verified = false;
                self.connected_at = Some(now);
                self.last_frame_at = Some(now);
                self.set_since_connect.clear();
                // Sequence numbers restart being meaningful with the new snapshot.
                self.last_seq = None;
                Applied::LinkChanged
            }
            StreamEvent::Disconnected { .. } => {
                if self.link != Link::Down {
                    self.reconnects += 1;
                }
                self.link = Link::Down;
                self.verified = false;
                self.complete = false;
                Applied::LinkChanged
            }
            StreamEvent::Subscribed | StreamEvent::Alive => {
                self.last_frame_at = Some(now);
                Applied::Liveness
            }
            StreamEvent::Dirty { symbols, .. } => {
                self.last_frame_at = Some(now);
                self.dirty.extend(symbols.iter().cloned());
                Applied::MarkedDirty
            }
            StreamEvent::Snapshot { positions, seq } => {
                self.last_frame_at = Some(now);
                if Self::is_older(*seq, self.last_seq) {
                    // The view keeps the newer set, which the stream's next
                    // changes are told against (an older frame never anchors them).
                    return Applied::DroppedOutOfOrder;
                }
                self.last_seq = seq.or(self.last_seq);
                self.replace_all(positions);
                self.complete = true;
                if self.link == Link::AwaitingBaseline {
                    self.link = Link::Live;
                }
                Applied::Replaced
            }
            StreamEvent::Changes { positions, seq } => {
                self.last_frame_at = Some(now);
                if !self.complete || Self::is_older(*seq, self.last_seq) {
                    // Changes to a set the view does not hold would make up
                    // a set nobody sent: untrusted until a full frame.
                    self.complete = false;
                    if self.link == Link::Live {
                        self.link = Link::AwaitingBaseline;
                        self.verified = false;
                    }
                    return Applied::Unanchored;
                }
                self.last_seq = seq.or(self.last_seq);
                self.change_some(positions);
                Applied::Replaced
            }
            StreamEvent::Update { position, seq } => {
                self.last_frame_at = Some(now);
                if Self::is_older(*seq, self.last_seq) {
                    return Applied::DroppedOutOfOrder;
                }
                self.last_seq = seq.or(self.last_seq);
                self.set_since_connect.insert(position.key.clone());
                self.changed.push(position.key.clone());
                if position.size.is_zero() {
                    self.positions.remove(&position.key);
                } else {
                    self.positions.insert(position.key.clone(), position.clone());
                }
                Applied::Updated
            }
        }
    }

    /// Makes the open set exactly `positions` (zero sizes dropped; of two
    /// items for one key the later wins). When no key opens or closes (most
    /// frames) the entries are updated in place, nothing allocated; else the
    /// sorted frame and the view are merged into a new set, in one pass.
    /// `changed` gets the keys whose size changed or that appeared, in key
    /// order, then the keys that closed.
    fn replace_all(&mut self, positions: &[Position]) {
        let mut next: Vec<&Position> = positions.iter().filter(|p| !p.size.is_zero()).collect();
        next.sort_by(|a, b| a.key.cmp(&b.key));
        next.dedup_by(|later, earlier| {
            let same = later.key == earlier.key;
            if same {
                *earlier = *later;
            }
            same
        });
        let same_keys =
            next.len() == self.positions.len() && next.iter().zip(self.positions.keys()).all(|(p, k)| p.key == *k);
        if same_keys {
            for ((key, held), p) in self.positions.iter_mut().zip(next) {
                Self::update(&mut self.changed, key, held, p);
            }
            return;
        }
        // The held and the new merged in key order into a new set: one
        // pass, however many opened or closed.
        let mut merged = Vec::with_capacity(next.len());
        let mut next = next.into_iter().peekable();
        let mut closed = Vec::new();
        for (key, mut held) in std::mem::take(&mut self.positions) {
            while let Some(p) = next.next_if(|p| p.key < key) {
                self.changed.push(p.key.clone());
                merged.push((p.key.clone(), p.clone()));
            }
            match next.next_if(|p| p.key == key) {
                Some(p) => {
                    Self::update(&mut self.changed, &key, &mut held, p);
                    merged.push((key, held));
                }
                None => closed.push(key),
            }
        }
        for p in next {
            self.changed.push(p.key.clone());
            merged.push((p.key.clone(), p.clone()));
        }
        self.changed.extend(closed);
        // In order already: collecting checks it in one pass.
        self.positions = merged.into_iter().collect();
    }

    /// Sets a held position's figures to the frame's (`changed` gets its key
    /// if its size moved).
    fn update(changed: &mut Vec<PositionKey>, key: &PositionKey, held: &mut Position, p: &Position) {
        // Every field but the key, so a new field cannot be missed.
        let Position {
            key: _,
            size,
            entry_price,
        } = *p;
        if held.size != size {
            changed.push(key.clone());
        }
        held.size = size;
        held.entry_price = entry_price;
    }

    /// Applies a full-snapshot frame's changes: each key's new size (zero
    /// closes it), the other keys as they are. `changed` gets the keys whose
    /// size changed, opened or closed, in key order.
    fn change_some(&mut self, positions: &[Position]) {
        // In key order (of two items for one key the later wins), so each
        // key is found from where the last one was and `changed` comes out
        // sorted: a frame that moves every key costs a comparison or two a
        // key, not a search.
        let order = &mut self.order;
        order.clear();
        order.extend(0..positions.len());
        order.sort_by(|&a, &b| positions[a].key.cmp(&positions[b].key));
        let mut view = self.positions.cursor();
        for &i in order.iter() {
            let p = &positions[i];
            let moved = match view.seek(&p.key) {
                Some(_) if p.size.is_zero() => view.remove().is_some(),
                Some(held) => {
                    // Every field but the key, so a new field cannot be missed.
                    let Position {
                        key: _,
                        size,
                        entry_price,
                    } = *p;
                    let moved = held.size != size;
                    held.size = size;
                    held.entry_price = entry_price;
                    moved
                }
                None if p.size.is_zero() => false,
                None => {
                    view.insert(p.key.clone(), p.clone());
                    true
                }
            };
            if moved {
                self.changed.push(p.key.clone());
            }
        }
        self.changed.dedup();
    }

    fn is_older(seq: Option<u64>, last: Option<u64>) -> bool {
        matches!((seq, last), (Some(s), Some(l)) if s < l)
    }

    /// Compares a REST read with the view, and marks the view verified when
    /// they agree. Per-key venues take their baseline from the first REST read
    /// after a connect (keys the stream already set keep the stream's value).
    pub fn verify_with_rest(
        &mut self,
        rest: &RestSnapshot,
        lot_size: impl Fn(&Symbol) -> Option<Decimal>,
        now: Timestamp,
    ) -> Verification {
        if self.style == StreamStyle::PerKeyUpdates && self.link == Link::AwaitingBaseline {
            // A baseline must be earned: one that contradicts the last
            // trusted view, where no stream event since the connect explains
            // it, is refused (an outage that answers "no positions" must not
            // become the truth). REST agreeing with the judge again, or the
            // stream speaking for the key, settles it.
            if let Some(judge) = &self.judge {
                let rest_sizes: BTreeMap<&PositionKey, Decimal> =
                    rest.positions.iter().map(|p| (&p.key, p.size)).collect();
                let keys: BTreeSet<&PositionKey> = if self.judge_complete {
                    judge.keys().chain(rest_sizes.keys().copied()).collect()
                } else {
                    judge.keys().collect()
                };
                let conflict: Vec<PositionKey> = keys
                    .into_iter()
                    .filter(|k| !self.set_since_connect.contains(*k))
                    .filter(|k| {
                        let was = judge.get(*k).copied().unwrap_or(Decimal::ZERO);
                        let now = rest_sizes.get(*k).copied().unwrap_or(Decimal::ZERO);
                        let lot = lot_size(&k.symbol);
                        // A second endpoint read since the connect that agrees
                        // with REST explains the change (it really happened).
                        let corroborated = self.corroborated.get(*k).is_some_and(|c| same_size(*c, now, lot));
                        !same_size(was, now, lot) && !corroborated
                    })
                    .cloned()
                    .collect();
                if !conflict.is_empty() {
                    self.conflict = conflict;
                    return Verification::BaselineConflict;
                }
            }
            self.conflict.clear();
            for p in &rest.positions {
                if !self.set_since_connect.contains(&p.key) {
                    self.positions.insert(p.key.clone(), p.clone());
                }
            }
            let stale: Vec<PositionKey> = self
                .positions
                .keys()
                .filter(|k| !self.set_since_connect.contains(k) && !rest.positions.iter().any(|p| &p.key == *k))
                .cloned()
                .collect();
            for k in stale {
                self.positions.remove(&k);
            }
            self.link = Link::Live;
        }
        if self.link != Link::Live {
            return Verification::NoBaseline;
        }
        let rest_sizes: BTreeMap<&PositionKey, Decimal> = rest.positions.iter().map(|p| (&p.key, p.size)).collect();
        let keys: BTreeSet<&PositionKey> = rest_sizes.keys().copied().chain(self.positions.keys()).collect();
        let agree = keys.iter().all(|k| {
            let a = self.positions.get(*k).map_or(Decimal::ZERO, |p| p.size);
            let b = rest_sizes.get(*k).copied().unwrap_or(Decimal::ZERO);
            same_size(a, b, lot_size(&k.symbol))
        });
        if agree {
            self.verified = true;
            self.agreed_since_connect = true;
            self.judge = None;
            self.judge_complete = false;
            self.last_good_at = Some(now);
            self.last_agreed_at = Some(now);
            self.dirty.clear();
            Verification::Agreed
        } else if Self::is_older(rest.seq, self.last_seq) {
            Verification::RestOlder
        } else {
            Verification::Disagreed
        }
    }

    /// Whether the view may be believed at `now`.
    pub fn trust(&self, now: Timestamp, silence_after: Duration) -> Result<(), Untrusted> {
        match self.link {
            Link::Down => return Err(Untrusted::Disconnected),
            Link::AwaitingBaseline if !self.conflict.is_empty() => {
                return Err(Untrusted::BaselineConflict {
                    keys: self.conflict.clone(),
                })
            }
            Link::AwaitingBaseline => return Err(Untrusted::AwaitingSnapshot),
            Link::Live => {}
        }
        if let Some(last) = self.last_frame_at {
            let quiet = now.since(last);
            if quiet > silence_after {
                return Err(Untrusted::Silent { for_: quiet });
            }
        }
        if !self.verified {
            return Err(Untrusted::AwaitingRestAgreement);
        }
        Ok(())
    }

    /// The last known open positions (believe them only if [`Self::trust`] says so).
    pub fn positions(&self) -> &SortedMap<PositionKey, Position> {
        &self.positions
    }

    /// Whether the view ever had a baseline (so its positions mean something).
    pub fn has_baseline(&self) -> bool {
        self.link == Link::Live || (self.link == Link::Down && self.connected_at.is_some())
    }

    pub fn link(&self) -> Link {
        self.link
    }

    pub fn last_frame_at(&self) -> Option<Timestamp> {
        self.last_frame_at
    }

    /// When the view's position data was last good: a REST read agreed, or
    /// the stream changed a size while the view was trusted. Pongs do not count.
    pub fn last_good_at(&self) -> Option<Timestamp> {
        self.last_good_at
    }

    /// When the link last (re)connected.
    pub fn connected_at(&self) -> Option<Timestamp> {
        self.connected_at
    }

    /// Whether a REST baseline was refused as contradicting the last trusted view.
    pub fn in_conflict(&self) -> bool {
        !self.conflict.is_empty()
    }

    /// The keys whose REST baseline was refused.
    pub fn conflict_keys(&self) -> &[PositionKey] {
        &self.conflict
    }

    /// Sizes of some keys read from a second endpoint (not the position
    /// reads), taken after the current connect: where one agrees with a
    /// refused baseline, the next REST read settles that key. Repeating the
    /// same REST answer never does.
    pub fn corroborate(&mut self, positions: &[Position]) {
        if self.link != Link::AwaitingBaseline {
            return;
        }
        for p in positions {
            self.corroborated.insert(p.key.clone(), p.size);
        }
    }

    /// Whether REST, not the stream, is the side that moved on `symbol`: a
    /// live view that REST agreed with, and that the stream has not changed
    /// for the symbol since. A resync cannot mend that (the new baseline
    /// would be judged against the same REST), so none is asked for.
    pub fn rest_moved(&self, symbol: &str) -> bool {
        let Some(agreed) = self.last_agreed_at else {
            return false;
        };
        self.link == Link::Live
            && self
                .changed_at
                .iter()
                .filter(|(k, _)| k.symbol == symbol)
                .all(|(_, at)| *at < agreed)
    }

    /// When the stream last changed `key`'s size, if it ever did.
    pub fn changed_at(&self, key: &PositionKey) -> Option<Timestamp> {
        self.changed_at.get(key).copied()
    }

    /// When the stream last changed each key's size, in key order (the
    /// reconciler's full pass walks it beside the other sources).
    pub fn changes(&self) -> &SortedMap<PositionKey, Timestamp> {
        &self.changed_at
    }

    pub fn last_seq(&self) -> Option<u64> {
        self.last_seq
    }

    /// Keys whose size the last applied event changed (empty after any
    /// event that changed no size; a snapshot lists what differs from the
    /// open set it replaced).
    pub fn changed(&self) -> &[PositionKey] {
        &self.changed
    }

    pub fn dirty(&self) -> &BTreeSet<String> {
        &self.dirty
    }

    pub fn reconnects(&self) -> u64 {
        self.reconnects
    }
}

#[cfg(test)]
mod tests;
