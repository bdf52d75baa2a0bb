//! The three-way comparison: the stream view, the REST read and the bot's
//! database, per (account, position key). Pure: `now` and data in, rows out.
//!
//! Entry point: [`Reconciler::reconcile`]. Invariants:
//! - a source that failed, timed out, went stale or was never read gives an
//!   *unknown* reading, never a zero; no state other than
//!   [`State::SourceUntrusted`] is derived from an unknown reading;
//! - the exchange's size is the stream's, and only when REST agrees with it
//!   (within one lot); when they differ the row is [`State::StreamDrift`];
//! - a mismatch counts ([`Row::confirmed`]) only after it has held for
//!   `confirm_polls` distinct source reads or for `confirm_after`, whichever
//!   comes first. The hysteresis lives in [`Reconciler`], not in timers.

use std::collections::BTreeMap;
use std::time::Duration;

use rust_decimal::Decimal;

use crate::domain::{same_size, DbSnapshot, Pair, PositionKey, Source, Symbol, Timestamp};
use crate::sorted::SortedMap;
use crate::venue::types::RestSnapshot;
use crate::view::StreamView;
use crate::walk::{search_from, Walk};

/// The last outcome of a polled source (REST or DB).
///
/// A reading is stamped with when its request was *sent* (when the caller
/// said so with [`Polled::requested`]), not when its answer arrived: a
/// request that hung while the world changed judges the world as it was
/// before. A request outstanding for longer than the policy allows makes the
/// source untrusted at once, not at its timeout.
#[derive(Debug, Clone)]
pub struct Polled<T> {
    last_ok: Option<(T, Timestamp)>,
    last_error: Option<(String, Timestamp)>,
    /// When the outstanding request was sent, if one is.
    requested_at: Option<Timestamp>,
    /// Successful reads so far: tells two reads apart even within one millisecond.
    reads: u64,
}

impl<T> Default for Polled<T> {
    fn default() -> Self {
        Polled {
            last_ok: None,
            last_error: None,
            requested_at: None,
            reads: 0,
        }
    }
}

impl<T> Polled<T> {
    /// A request was sent at `now`; its answer will be stamped with `now`.
    pub fn requested(&mut self, now: Timestamp) {
        self.requested_at = Some(now);
    }

    pub fn succeeded(&mut self, value: T, now: Timestamp) {
        let taken = self.requested_at.take().map_or(now, |at| at.min(now));
        self.last_ok = Some((value, taken));
        self.last_error = None;
        self.reads += 1;
    }

    pub fn failed(&mut self, error: impl Into<String>, now: Timestamp) {
        self.requested_at = None;
        self.last_error = Some((error.into(), now));
    }

    /// The value, if the last attempt succeeded, was taken no longer than
    /// `stale_after` ago, and no request has been outstanding for longer
    /// than `answer_within`.
    pub fn usable(&self, now: Timestamp, stale_after: Duration, answer_within: Duration) -> Result<&T, String> {
        if let Some(at) = self.requested_at {
            if now.since(at) > answer_within {
                return Err(format!("no answer for {}s", now.since(at).as_secs()));
            }
        }
        if let Some((err, _)) = &self.last_error {
            return Err(err.clone());
        }
        match &self.last_ok {
            None => Err("not read yet".into()),
            Some((_, at)) if now.since(*at) > stale_after => Err(format!("stale for {}s", now.since(*at).as_secs())),
            Some((value, _)) => Ok(value),
        }
    }

    /// The last good value and when it was taken, however old (for display only).
    pub fn last(&self) -> Option<&(T, Timestamp)> {
        self.last_ok.as_ref()
    }

    /// When the last good reading was taken (its request sent).
    pub fn read_at(&self) -> Option<Timestamp> {
        self.last_ok.as_ref().map(|(_, at)| *at)
    }

    /// Successful reads so far.
    pub fn reads(&self) -> u64 {
        self.reads
    }
}

/// Thresholds, all named, all from config.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Policy {
    pub confirm_polls: u32,
    pub confirm_after: Duration,
    pub rest_stale_after: Duration,
    pub db_stale_after: Duration,
    pub stream_silence_after: Duration,
    /// A REST request outstanding for longer than this (the poll interval)
    /// makes REST untrusted at once.
    #[serde(default = "default_answer_within")]
    pub rest_answer_within: Duration,
}

fn default_answer_within() -> Duration {
    Duration::from_secs(10)
}

/// Everything known about one account at `now`.
pub struct AccountInputs<'a> {
    pub view: &'a StreamView,
    pub rest: &'a Polled<RestSnapshot>,
    pub db: &'a Polled<DbSnapshot>,
    pub lot_sizes: &'a SortedMap<Symbol, Decimal>,
}

/// A source's size for one key: `size` is the last known value (possibly
/// old), `trusted` says whether it may be believed now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Reading {
    pub size: Option<Decimal>,
    pub trusted: bool,
}

impl Reading {
    /// The size, only when it may be believed.
    pub fn believed(self) -> Option<Decimal> {
        if self.trusted {
            self.size
        } else {
            None
        }
    }
}

/// The classification of one row.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum State {
    InSync,
    /// The DB holds a position the exchange does not (the 2025-11-10 ghosts).
    DbStale,
    /// The exchange holds a position the DB has no row for (the SOL residual).
    DbMissing,
    /// Both hold it, with a different size or side.
    DbMismatch,
    /// The stream and REST disagree about the exchange.
    StreamDrift,
    /// A source needed to decide is untrusted: nothing may act on this row.
    SourceUntrusted,
}

impl State {
    pub fn as_str(self) -> &'static str {
        match self {
            State::InSync => "in_sync",
            State::DbStale => "db_stale",
            State::DbMissing => "db_missing",
            State::DbMismatch => "db_mismatch",
            State::StreamDrift => "stream_drift",
            State::SourceUntrusted => "source_untrusted",
        }
    }
}

/// One reconciled position slot.
#[derive(Debug, Clone, PartialEq)]
pub struct Row {
    pub key: PositionKey,
    pub ws: Reading,
    pub rest: Reading,
    pub db: Reading,
    /// Whether the DB has at least one row for this key.
    pub db_has_row: bool,
    /// REST's reading was taken before the stream last changed this key: a
    /// difference between them is REST lagging, not disagreement.
    pub rest_lags: bool,
    pub state: State,
    /// The state has held long enough to count.
    pub confirmed: bool,
    /// When the current state began.
    pub since: Timestamp,
    /// Distinct REST readings seen in the current state (the first counts).
    pub observations: u32,
}

impl Row {
    /// Signed drift `a - b` for a pair, when both readings are believed.
    pub fn drift(&self, pair: Pair) -> Option<Decimal> {
        let (a, b) = match pair {
            Pair::WsRest => (self.ws, self.rest),
            Pair::WsDb => (self.ws, self.db),
            Pair::RestDb => (self.rest, self.db),
        };
        Some(a.believed()? - b.believed()?)
    }

    pub fn reading(&self, source: Source) -> Reading {
        match source {
            Source::Ws => self.ws,
            Source::Rest => self.rest,
            Source::Db => self.db,
        }
    }
}

/// Trust of one source for a whole account.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SourceHealth {
    pub source: Source,
    pub trusted: bool,
    /// Why not, when not.
    pub reason: Option<String>,
    /// When the source last delivered something good.
    pub last_good_at: Option<Timestamp>,
}

/// The reconciled state of one account.
#[derive(Debug, Clone, PartialEq)]
pub struct AccountReport {
    pub rows: Vec<Row>,
    pub sources: [SourceHealth; 3],
}

#[derive(Debug, Clone, Copy)]
struct Tracker {
    state: State,
    since: Timestamp,
    observations: u32,
    /// REST's read count when last counted: only a new REST reading is a
    /// new observation (DB reads judge nothing about the exchange).
    rest_reads: u64,
}

/// How much of an account an input can have changed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Touched {
    /// Only these keys' sizes (none: a frame that changed no size).
    Keys(Vec<PositionKey>),
    /// Anything: a REST or DB read, a link change, lot sizes, marks, the tick.
    All,
}

impl Touched {
    /// What two inputs touched together: every key of both, once each
    /// (in key order), or the whole account if either touched it.
    pub fn merge(&mut self, other: Touched) {
        match (&mut *self, other) {
            (Touched::All, _) => {}
            (_, Touched::All) => *self = Touched::All,
            (Touched::Keys(keys), Touched::Keys(more)) => {
                keys.extend(more);
                keys.sort_unstable();
                keys.dedup();
            }
        }
    }

    /// The symbols touched, in order, each once, or `None` for the whole
    /// account (for [`crate::rules::Focus`]).
    pub fn symbols(self) -> Option<Vec<Symbol>> {
        match self {
            Touched::All => None,
            Touched::Keys(keys) => {
                let mut symbols: Vec<Symbol> = keys.into_iter().map(|k| k.symbol).collect();
                symbols.sort_unstable();
                symbols.dedup();
                Some(symbols)
            }
        }
    }
}

/// What every row of an account depends on besides its own sizes. While it
/// is unchanged, a key no input touched keeps its row (except a
/// time-confirmed mismatch, which the tick's full pass picks up).
#[derive(Debug, Clone, PartialEq, Eq)]
struct Context {
    trusted: [bool; 3],
    has_baseline: bool,
    token: (Option<Timestamp>, Option<Timestamp>),
}

/// The REST and DB sizes by key, built when a full pass sees new reads
/// (`reads`: REST's and the DB's read counts), looked up by every pass.
/// Sorted vectors: a pass reads them front to back, in memory order,
/// however many there are.
#[derive(Debug, Default)]
struct Sizes {
    reads: (u64, u64),
    rest: SortedMap<PositionKey, Decimal>,
    db: SortedMap<PositionKey, Decimal>,
}

impl Sizes {
    fn of(input: &AccountInputs<'_>) -> Sizes {
        // A key read twice from REST: the later one.
        let rest = input
            .rest
            .last()
            .map(|(r, _)| r.positions.iter().map(|p| (p.key.clone(), p.size)).collect())
            .unwrap_or_default();
        // A position kept in several DB rows: their sum.
        let db = input
            .db
            .last()
            .map(|(d, _)| d.rows.iter().map(|row| (row.key.clone(), row.size)).collect())
            .unwrap_or_default();
        Sizes {
            reads: (input.rest.reads, input.db.reads),
            rest,
            db: SortedMap::merged(db, |earlier, later| *earlier += later),
        }
    }
}

/// Holds the hysteresis between calls, and what the incremental pass needs
/// from the last full one; everything else is recomputed.
#[derive(Debug, Default)]
pub struct Reconciler {
    /// account → key → how long its state has held.
    trackers: BTreeMap<usize, Trackers>,
    /// account → the context of its last pass.
    contexts: BTreeMap<usize, Context>,
    /// account → REST and DB sizes by key.
    sizes: BTreeMap<usize, Sizes>,
}

/// One account's trackers, in key order, each key once: a full pass writes
/// them in order into the buffer the pass before it left (no map rebuilt,
/// no memory asked for once the account's size is reached); an input's
/// keys find theirs by halving.
#[derive(Debug, Default)]
struct Trackers {
    by_key: Vec<(PositionKey, Tracker)>,
    /// Empty; kept for its capacity.
    spare: Vec<(PositionKey, Tracker)>,
}

/// The three sources' sizes for one key, trusted or not.
struct Readings {
    ws: Reading,
    rest: Reading,
    db: Reading,
    db_has_row: bool,
    rest_lags: bool,
}

impl Reconciler {
    pub fn new() -> Self {
        Self::default()
    }

    fn sources(input: &AccountInputs<'_>, policy: &Policy, now: Timestamp) -> [SourceHealth; 3] {
        let ws_trust = input.view.trust(now, policy.stream_silence_after);
        let rest = input
            .rest
            .usable(now, policy.rest_stale_after, policy.rest_answer_within);
        let db = input.db.usable(now, policy.db_stale_after, policy.db_stale_after);
        [
            SourceHealth {
                source: Source::Ws,
                trusted: ws_trust.is_ok(),
                reason: ws_trust.as_ref().err().map(|u| u.describe()),
                // Position data, not pongs: a silent-but-ponging stream goes stale.
                last_good_at: input.view.last_good_at(),
            },
            SourceHealth {
                source: Source::Rest,
                trusted: rest.is_ok(),
                reason: rest.as_ref().err().cloned(),
                last_good_at: input.rest.read_at(),
            },
            SourceHealth {
                source: Source::Db,
                trusted: db.is_ok(),
                reason: db.as_ref().err().cloned(),
                last_good_at: input.db.read_at(),
            },
        ]
    }

    fn context(input: &AccountInputs<'_>, sources: &[SourceHealth; 3]) -> Context {
        Context {
            trusted: [sources[0].trusted, sources[1].trusted, sources[2].trusted],
            has_baseline: input.view.has_baseline(),
            token: (input.rest.read_at(), input.db.read_at()),
        }
    }

    /// Brings `report` (this account's last report, if any) up to date
    /// after an input that touched `touched`. Only the touched keys are
    /// reconciled again when nothing account-wide changed since the last
    /// pass; otherwise every key is. Returns what was reconciled.
    pub fn refresh(
        &mut self,
        account: usize,
        input: &AccountInputs<'_>,
        policy: &Policy,
        now: Timestamp,
        touched: Touched,
        report: &mut Option<AccountReport>,
    ) -> Touched {
        let sources = Self::sources(input, policy, now);
        let context = Self::context(input, &sources);
        let (Touched::Keys(mut keys), Some(r)) = (touched, report.as_mut()) else {
            // The last report's rows hand their memory to the new ones.
            let rows = report.take().map(|r| r.rows).unwrap_or_default();
            *report = Some(self.full_pass(account, input, policy, now, rows));
            return Touched::All;
        };
        if self.contexts.get(&account) != Some(&context) {
            let rows = std::mem::take(&mut r.rows);
            *report = Some(self.full_pass(account, input, policy, now, rows));
            return Touched::All;
        }
        r.sources = sources;
        let trackers = &mut self.trackers.entry(account).or_default().by_key;
        // The last full pass had this context, so its sizes are these reads'.
        let sizes = self.sizes.entry(account).or_insert_with(|| Sizes::of(input));
        // In key order, each once (a frame's keys come so): every source
        // is walked, not searched from its root for each key.
        keys.sort_unstable();
        keys.dedup();
        let mut ws = Walk::new(input.view.positions().as_slice());
        let mut rest = Walk::new(sizes.rest.as_slice());
        let mut db = Walk::new(sizes.db.as_slice());
        let mut changes = Walk::new(input.view.changes().as_slice());
        let mut lots = Walk::new(input.lot_sizes.as_slice());
        // Where the last key's tracker and row were: the next are at or after.
        let (mut t_from, mut r_from) = (0, 0);
        for key in &keys {
            let readings = Readings::new(
                input,
                &context,
                ws.find(key).map(|p| p.size),
                rest.find(key).copied(),
                db.find(key).copied(),
                changes.find(key).copied(),
            );
            let lot = lots.find(&key.symbol).copied();
            // One search for the tracker, whatever becomes of it.
            let at = search_from(trackers, t_from, key, |e| &e.0);
            let next = advance(
                at.ok().map(|i| trackers[i].1),
                key,
                readings,
                lot,
                policy,
                now,
                input.rest.reads,
            );
            let row = match (at, next) {
                (Ok(i), Some((tracker, row))) => {
                    trackers[i].1 = tracker;
                    t_from = i + 1;
                    Some(row)
                }
                (Err(i), Some((tracker, row))) => {
                    trackers.insert(i, (key.clone(), tracker));
                    t_from = i + 1;
                    Some(row)
                }
                (Ok(i), None) => {
                    trackers.remove(i);
                    t_from = i;
                    None
                }
                (Err(i), None) => {
                    t_from = i;
                    None
                }
            };
            r_from = match (search_from(&r.rows, r_from, key, |x| &x.key), row) {
                (Ok(i), Some(row)) => {
                    r.rows[i] = row;
                    i + 1
                }
                (Err(i), Some(row)) => {
                    r.rows.insert(i, row);
                    i + 1
                }
                (Ok(i), None) => {
                    r.rows.remove(i);
                    i
                }
                (Err(i), None) => i,
            };
        }
        Touched::Keys(keys)
    }

    /// Reconciles account number `account` (an index the caller keeps
    /// stable): every key any source knows.
    pub fn reconcile(
        &mut self,
        account: usize,
        input: &AccountInputs<'_>,
        policy: &Policy,
        now: Timestamp,
    ) -> AccountReport {
        self.full_pass(account, input, policy, now, Vec::new())
    }

    /// [`Reconciler::reconcile`], writing the rows into `rows` (emptied
    /// first; its memory reused).
    fn full_pass(
        &mut self,
        account: usize,
        input: &AccountInputs<'_>,
        policy: &Policy,
        now: Timestamp,
        mut rows: Vec<Row>,
    ) -> AccountReport {
        let sources = Self::sources(input, policy, now);
        let context = Self::context(input, &sources);

        // Every REST or DB read comes through a full pass, which rebuilds these.
        let mut sizes = self.sizes.remove(&account).unwrap_or_default();
        if sizes.reads != (input.rest.reads, input.db.reads) {
            sizes = Sizes::of(input);
        }
        // Every key any source knows (the stream's only once it had a
        // baseline), and every key still tracked: the sorted sources walked
        // side by side, each once (a merge join, linear in the keys, where a
        // lookup per key and source grew as n·log n).
        let mut ws = input
            .view
            .positions()
            .iter()
            .filter(|_| context.has_baseline)
            .peekable();
        let mut rest = sizes.rest.iter().peekable();
        let mut db = sizes.db.iter().peekable();
        let mut changes = input.view.changes().iter().peekable();
        let mut lots = input.lot_sizes.iter().peekable();
        let held = self.trackers.entry(account).or_default();
        let mut last = std::mem::take(&mut held.by_key);
        let mut trackers = std::mem::take(&mut held.spare);
        trackers.clear();
        trackers.reserve(last.len());
        let mut tracked = last.drain(..).peekable();
        rows.clear();
        rows.reserve(sizes.db.len().max(sizes.rest.len()));
        loop {
            let read = [ws.peek().map(|e| e.0), rest.peek().map(|e| e.0), db.peek().map(|e| e.0)]
                .into_iter()
                .flatten()
                .min();
            // The smallest key next; a tracked one is moved, not copied.
            let next_read = match (tracked.peek().map(|e| &e.0), read) {
                (_, None) => None,
                (Some(t), Some(r)) if t <= r => None,
                (_, Some(r)) => Some(r),
            };
            let (key, prev) = match next_read {
                Some(r) => (r.clone(), None),
                None => match tracked.next() {
                    Some((t, tracker)) => (t, Some(tracker)),
                    None => break,
                },
            };
            let ws_size = ws.next_if(|e| *e.0 == key).map(|e| e.1.size);
            let rest_size = rest.next_if(|e| *e.0 == key).map(|e| *e.1);
            let db_size = db.next_if(|e| *e.0 == key).map(|e| *e.1);
            while changes.next_if(|e| *e.0 < key).is_some() {}
            let changed = changes.next_if(|e| *e.0 == key).map(|e| *e.1);
            while lots.next_if(|e| *e.0 < key.symbol).is_some() {}
            // Not taken: a symbol's legs share its lot.
            let lot = lots.peek().filter(|e| *e.0 == key.symbol).map(|e| *e.1);
            let readings = Readings::new(input, &context, ws_size, rest_size, db_size, changed);
            if let Some((tracker, row)) = advance(prev, &key, readings, lot, policy, now, input.rest.reads) {
                rows.push(row);
                trackers.push((key, tracker));
            }
        }
        drop((tracked, rest, db));
        // An account that shrank gives back what it no longer needs: the
        // buffers keep at most twice what this pass wrote.
        last.shrink_to(2 * trackers.len());
        rows.shrink_to(2 * rows.len());
        // Written in key order: no sorting, no search.
        let held = self.trackers.entry(account).or_default();
        held.by_key = trackers;
        held.spare = last;
        self.sizes.insert(account, sizes);
        self.contexts.insert(account, context);
        AccountReport { rows, sources }
    }
}

impl Readings {
    /// One key's readings from what each source holds for it (`None`: no
    /// entry), and when the stream last changed it. Sizes are the last
    /// known, trusted or not, so the table can show them.
    fn new(
        input: &AccountInputs<'_>,
        context: &Context,
        ws_size: Option<Decimal>,
        rest_size: Option<Decimal>,
        db_size: Option<Decimal>,
        changed: Option<Timestamp>,
    ) -> Readings {
        let ws = context.has_baseline.then(|| ws_size.unwrap_or(Decimal::ZERO));
        let rest = input.rest.last().map(|_| rest_size.unwrap_or(Decimal::ZERO));
        let db = input.db.last().map(|_| db_size.unwrap_or(Decimal::ZERO));
        Readings {
            ws: Reading {
                size: ws,
                trusted: context.trusted[0],
            },
            rest: Reading {
                size: rest,
                trusted: context.trusted[1],
            },
            db: Reading {
                size: db,
                trusted: context.trusted[2],
            },
            db_has_row: db_size.is_some(),
            rest_lags: match (changed, input.rest.read_at()) {
                (Some(changed), Some(taken)) => taken < changed,
                _ => false,
            },
        }
    }
}

/// Classifies one key and advances its hysteresis from `prev`, its tracker
/// before; `None` when the key is flat everywhere and in sync (finished: it
/// is forgotten).
fn advance(
    prev: Option<Tracker>,
    key: &PositionKey,
    r: Readings,
    lot: Option<Decimal>,
    policy: &Policy,
    now: Timestamp,
    rest_reads: u64,
) -> Option<(Tracker, Row)> {
    let state = classify(r.ws, r.rest, r.db, r.db_has_row, lot);
    let flat_everywhere = [r.ws, r.rest, r.db].iter().all(|x| x.size.is_none_or(|s| s.is_zero())) && !r.db_has_row;
    if state == State::InSync && flat_everywhere {
        return None;
    }
    let tracker = match prev {
        Some(t) if t.state == state && t.rest_reads != rest_reads => Tracker {
            observations: t.observations.saturating_add(1),
            rest_reads,
            ..t
        },
        Some(t) if t.state == state => t,
        _ => Tracker {
            state,
            since: now,
            observations: 1,
            rest_reads,
        },
    };
    let confirmed = state == State::InSync
        || tracker.observations >= policy.confirm_polls
        || now.since(tracker.since) >= policy.confirm_after;
    let row = Row {
        key: key.clone(),
        ws: r.ws,
        rest: r.rest,
        db: r.db,
        db_has_row: r.db_has_row,
        rest_lags: r.rest_lags,
        state,
        confirmed,
        since: tracker.since,
        observations: tracker.observations,
    };
    Some((tracker, row))
}

/// The state of one key from its three readings.
pub fn classify(ws: Reading, rest: Reading, db: Reading, db_has_row: bool, lot: Option<Decimal>) -> State {
    let (Some(w), Some(r)) = (ws.believed(), rest.believed()) else {
        return State::SourceUntrusted;
    };
    if !same_size(w, r, lot) {
        return State::StreamDrift;
    }
    let Some(d) = db.believed() else {
        return State::SourceUntrusted;
    };
    if same_size(w, d, lot) {
        State::InSync
    } else if w.is_zero() {
        State::DbStale
    } else if !db_has_row {
        State::DbMissing
    } else {
        State::DbMismatch
    }
}

#[cfg(test)]
mod tests;

/// Reports for the tests of the modules that read them (rules, metrics).
#[cfg(test)]
pub(crate) mod fixtures {
    use super::*;

    /// Every source trusted and agreeing on each `(symbol, size)`; in sync.
    pub fn agreeing(sizes: &[(&str, &str)]) -> AccountReport {
        let reading = |s: &str| Reading {
            size: Some(s.parse().expect("a decimal size")),
            trusted: true,
        };
        AccountReport {
            rows: sizes
                .iter()
                .map(|(symbol, size)| Row {
                    key: PositionKey::net(*symbol),
                    ws: reading(size),
                    rest: reading(size),
                    db: reading(size),
                    db_has_row: true,
                    rest_lags: false,
                    state: State::InSync,
                    confirmed: true,
                    since: Timestamp(0),
                    observations: 1,
                })
                .collect(),
            sources: Source::ALL.map(|source| SourceHealth {
                source,
                trusted: true,
                reason: None,
                last_good_at: Some(Timestamp(0)),
            }),
        }
    }

    /// `report` with `source` untrusted: its readings kept but not
    /// believed, every row `SourceUntrusted`.
    pub fn without(mut report: AccountReport, source: Source) -> AccountReport {
        for row in &mut report.rows {
            match source {
                Source::Ws => row.ws.trusted = false,
                Source::Rest => row.rest.trusted = false,
                Source::Db => row.db.trusted = false,
            }
            row.state = State::SourceUntrusted;
        }
        report.sources[source as usize].trusted = false;
        report.sources[source as usize].last_good_at = None;
        report
    }
}
