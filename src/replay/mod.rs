//! Recordings and their replay. A recording (`driftwatch run --record`) is
//! JSON lines: a [`Header`] naming the accounts and their reconcile policy,
//! then one [`Observation`] per input the core received, stamped with the
//! `now` the core used. [`replay()`] feeds them through the same pure pipeline
//! the daemon runs (stream view, REST and DB sources, reconcile, rules), with
//! the daemon's reconcile tick in between, and returns every decision: what
//! each rule would have done, and when.
//!
//! [`AccountSources`] is the one place an input changes an account's
//! sources; the daemon's core and the replay both use it.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};

use crate::domain::{DbSnapshot, Symbol, Timestamp};
use crate::reconcile::{AccountInputs, AccountReport, Policy, Polled, Reconciler, Touched};
use crate::rules::{AccountState, Decision, Engine, Focus, RuleSet};
use crate::sorted::SortedMap;
use crate::venue::types::{MarketInfo, RestSnapshot, StreamEvent, StreamStyle};
use crate::view::{Applied, StreamView, Verification};

pub const FORMAT_VERSION: u32 = 1;

/// The first line of a recording.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Header {
    pub driftwatch_recording: u32,
    pub started_at: Timestamp,
    /// The core's reconcile tick: replay evaluates at this pace between inputs.
    pub tick: Duration,
    pub accounts: Vec<RecordedAccount>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RecordedAccount {
    pub name: String,
    pub venue: String,
    pub style: StreamStyle,
    pub policy: Policy,
}

/// One input to the core. Failed reads keep their message: a failure is an
/// observation too (it makes a source untrusted), never "flat".
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", content = "data", rename_all = "snake_case")]
pub enum Observed {
    Stream(StreamEvent),
    /// A REST positions request was sent: its answer is a reading taken now,
    /// and if none comes within the poll interval REST is untrusted.
    RestRequested,
    Rest(Result<RestSnapshot, String>),
    /// Sizes read from a second endpoint to settle a refused baseline
    /// (sent just before the REST reading of the same poll).
    Corroborated(Result<Vec<crate::domain::Position>, String>),
    Markets(Result<Vec<MarketInfo>, String>),
    Prices(Result<BTreeMap<String, Decimal>, String>),
    Db(Result<DbSnapshot, String>),
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Observation {
    pub at: Timestamp,
    pub account: String,
    #[serde(flatten)]
    pub observed: Observed,
    /// Another input was already queued behind this one: the core applied
    /// both and decided once, after the last of the burst (see [`Burst`]).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub more_queued: bool,
}

/// The accounts a burst of queued inputs touched, in the order first
/// touched, and what of each. The core (and the replay) apply every input of
/// a burst in order, then reconcile and decide once per account, on the
/// latest state: under load, one decision per burst instead of one per frame.
/// An input that arrives alone is a burst of one, decided alone.
#[derive(Debug, Default)]
pub struct Burst {
    touched: Vec<(usize, Touched)>,
}

impl Burst {
    pub fn add(&mut self, account: usize, touched: Touched) {
        match self.touched.iter_mut().find(|(a, _)| *a == account) {
            Some((_, t)) => t.merge(touched),
            None => self.touched.push((account, touched)),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.touched.is_empty()
    }

    /// Each account the burst touched, and what, leaving the burst empty.
    pub fn take(&mut self) -> Vec<(usize, Touched)> {
        std::mem::take(&mut self.touched)
    }
}

/// What the core knows about one account's sources.
#[derive(Debug)]
pub struct AccountSources {
    pub view: StreamView,
    pub rest: Polled<RestSnapshot>,
    pub db: Polled<DbSnapshot>,
    /// Lot sizes by symbol, from the venue's market info.
    pub lots: SortedMap<Symbol, Decimal>,
    /// Mark prices by symbol.
    pub marks: SortedMap<Symbol, Decimal>,
}

/// What an observation did, for the caller's logs and metrics.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Effect {
    Stream(Applied),
    Rest(Option<Verification>),
    Other,
}

impl AccountSources {
    pub fn new(style: StreamStyle) -> AccountSources {
        AccountSources {
            view: StreamView::new(style),
            rest: Polled::default(),
            db: Polled::default(),
            lots: SortedMap::new(),
            marks: SortedMap::new(),
        }
    }

    /// What to record of an observation just applied: itself, except that
    /// applied changes after a frame that was not recorded (`unrecorded`)
    /// are recorded whole, as the set the view now holds, since changes are
    /// told against the frame before them and a replay lacks it.
    pub fn recordable(&self, observed: Observed, effect: Effect, unrecorded: bool) -> Observed {
        match observed {
            Observed::Stream(StreamEvent::Changes { seq, .. })
                if unrecorded && effect == Effect::Stream(Applied::Replaced) =>
            {
                Observed::Stream(StreamEvent::Snapshot {
                    positions: self.view.positions().values().cloned().collect(),
                    seq,
                })
            }
            other => other,
        }
    }

    /// Applies one observation at `now`. A failed market or price refresh
    /// keeps the last values.
    pub fn observe(&mut self, observed: &Observed, now: Timestamp) -> Effect {
        match observed {
            Observed::Stream(event) => Effect::Stream(self.view.apply(event, now)),
            Observed::RestRequested => {
                self.rest.requested(now);
                Effect::Other
            }
            Observed::Rest(Ok(snap)) => {
                let lots = &self.lots;
                let v = self.view.verify_with_rest(snap, |s| lots.get(s).copied(), now);
                self.rest.succeeded(snap.clone(), now);
                Effect::Rest(Some(v))
            }
            Observed::Rest(Err(e)) => {
                self.rest.failed(e.clone(), now);
                Effect::Rest(None)
            }
            Observed::Corroborated(Ok(positions)) => {
                self.view.corroborate(positions);
                Effect::Other
            }
            Observed::Corroborated(Err(_)) => Effect::Other,
            Observed::Markets(Ok(markets)) => {
                self.lots = markets.iter().map(|m| (Symbol::new(&m.symbol), m.lot_size)).collect();
                Effect::Other
            }
            Observed::Prices(Ok(marks)) => {
                self.marks = marks.iter().map(|(s, m)| (Symbol::new(s), *m)).collect();
                Effect::Other
            }
            Observed::Markets(Err(_)) | Observed::Prices(Err(_)) => Effect::Other,
            Observed::Db(Ok(snap)) => {
                self.db.succeeded(self.placed(snap), now);
                Effect::Other
            }
            Observed::Db(Err(e)) => {
                self.db.failed(e.clone(), now);
                Effect::Other
            }
        }
    }

    /// The bot's rows with those on a market the venue does not list moved
    /// to `unmapped` (once the venue's markets are known): such a row never
    /// enters the comparison, so nothing is ever corrected or closed on it.
    fn placed(&self, snap: &DbSnapshot) -> DbSnapshot {
        if self.lots.is_empty() {
            return snap.clone();
        }
        let mut out = DbSnapshot {
            rows: Vec::with_capacity(snap.rows.len()),
            unmapped: snap.unmapped.clone(),
        };
        for row in &snap.rows {
            if self.lots.contains_key(&row.key.symbol) {
                out.rows.push(row.clone());
            } else {
                out.unmapped.push(crate::domain::UnmappedRow {
                    row_key: row.row_key.clone(),
                    symbol: row.key.symbol.to_string(),
                });
            }
        }
        out
    }

    /// What an observation's `effect` can have changed, for
    /// [`Reconciler::refresh`]: a stream frame only the keys whose size it
    /// changed; anything else the whole account.
    pub fn touched(&self, effect: Effect) -> Touched {
        match effect {
            Effect::Stream(
                Applied::Updated
                | Applied::Replaced
                | Applied::DroppedOutOfOrder
                | Applied::Liveness
                | Applied::MarkedDirty,
            ) => Touched::Keys(self.view.changed().to_vec()),
            // Unanchored changes leave the view awaiting a baseline: its trust changed.
            Effect::Stream(Applied::LinkChanged | Applied::Unanchored) | Effect::Rest(_) | Effect::Other => {
                Touched::All
            }
        }
    }

    pub fn inputs(&self) -> AccountInputs<'_> {
        AccountInputs {
            view: &self.view,
            rest: &self.rest,
            db: &self.db,
            lot_sizes: &self.lots,
        }
    }
}

/// Why a recording could not be replayed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ReplayError {
    #[error("line {line}: {message}")]
    Line { line: usize, message: String },
    #[error("not a driftwatch recording: the first line is not a header")]
    NoHeader,
}

/// Parses a recording's text: its header and observations, in order.
pub fn parse(text: &str) -> Result<(Header, Vec<Observation>), ReplayError> {
    let mut lines = text.lines().enumerate().filter(|(_, l)| !l.trim().is_empty());
    let (_, first) = lines.next().ok_or(ReplayError::NoHeader)?;
    let header: Header = serde_json::from_str(first).map_err(|_| ReplayError::NoHeader)?;
    if header.driftwatch_recording != FORMAT_VERSION {
        return Err(ReplayError::Line {
            line: 1,
            message: format!(
                "recording format {} (this build reads {FORMAT_VERSION})",
                header.driftwatch_recording
            ),
        });
    }
    let mut out = Vec::new();
    for (i, l) in lines {
        let o: Observation = serde_json::from_str(l).map_err(|e| ReplayError::Line {
            line: i + 1,
            message: e.to_string(),
        })?;
        if !header.accounts.iter().any(|a| a.name == o.account) {
            return Err(ReplayError::Line {
                line: i + 1,
                message: format!("account {:?} is not in the header", o.account),
            });
        }
        if let Some(prev) = out.last().filter(|p: &&Observation| p.at > o.at) {
            return Err(ReplayError::Line {
                line: i + 1,
                message: format!(
                    "observed at {}, before the line above ({}): observations must be in time order",
                    o.at.to_utc_string(),
                    prev.at.to_utc_string()
                ),
            });
        }
        out.push(o);
    }
    Ok((header, out))
}

/// A decision and the moment it was taken.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Replayed {
    pub at: Timestamp,
    pub decision: Decision,
}

/// Runs `observations` through the pipeline with `rules`.
pub fn replay(header: &Header, observations: &[Observation], rules: &RuleSet) -> Vec<Replayed> {
    let mut sources: Vec<AccountSources> = header.accounts.iter().map(|a| AccountSources::new(a.style)).collect();
    let mut reports: Vec<Option<AccountReport>> = vec![None; header.accounts.len()];
    let mut reconciler = Reconciler::default();
    let mut engine = Engine::new();
    let mut out = Vec::new();
    let tick = header.tick.max(Duration::from_millis(10));
    let mut evaluate = |reports: &[Option<AccountReport>],
                        sources: &[AccountSources],
                        now: Timestamp,
                        focus: Option<(usize, Vec<Symbol>)>| {
        let states: Vec<AccountState<'_>> = header
            .accounts
            .iter()
            .zip(reports)
            .zip(sources)
            .filter_map(|((a, r), s)| {
                r.as_ref().map(|report| AccountState {
                    venue: &a.venue,
                    account: &a.name,
                    report,
                    marks: &s.marks,
                })
            })
            .collect();
        let focus = focus.as_ref().map(|(i, symbols)| Focus {
            account: &header.accounts[*i].name,
            symbols,
        });
        for decision in engine.evaluate_focused(rules, &states, now, focus) {
            out.push(Replayed { at: now, decision });
        }
    };
    let mut next_tick = observations.first().map(|o| o.at.plus(tick));
    let mut burst = Burst::default();
    for (n, o) in observations.iter().enumerate() {
        // The daemon reconciles every account on its tick, inputs or not
        // (never inside a burst: the core takes one whole).
        while let Some(t) = next_tick.filter(|t| *t < o.at && burst.is_empty()) {
            for (i, a) in header.accounts.iter().enumerate() {
                reconciler.refresh(i, &sources[i].inputs(), &a.policy, t, Touched::All, &mut reports[i]);
            }
            evaluate(&reports, &sources, t, None);
            next_tick = Some(t.plus(tick));
        }
        let i = header
            .accounts
            .iter()
            .position(|a| a.name == o.account)
            .expect("parse checked every account");
        let effect = sources[i].observe(&o.observed, o.at);
        burst.add(i, sources[i].touched(effect));
        // A recording that ends inside a burst ends it there.
        if o.more_queued && n + 1 < observations.len() {
            continue;
        }
        // As the daemon's core does: once per account the burst touched, only what it touched.
        for (i, touched) in burst.take() {
            let policy = &header.accounts[i].policy;
            let refreshed = reconciler.refresh(i, &sources[i].inputs(), policy, o.at, touched, &mut reports[i]);
            evaluate(&reports, &sources, o.at, refreshed.symbols().map(|s| (i, s)));
        }
    }
    out
}

/// Per rule: how often it fired, and its first and last decision.
pub fn summary(replayed: &[Replayed]) -> BTreeMap<String, (usize, Timestamp, Timestamp)> {
    let mut out: BTreeMap<String, (usize, Timestamp, Timestamp)> = BTreeMap::new();
    let mut seen = BTreeSet::new();
    for r in replayed {
        // One firing = one (rule, time, subject), whatever its actions.
        if !seen.insert((r.decision.rule.clone(), r.at, r.decision.subject.clone())) {
            continue;
        }
        let e = out.entry(r.decision.rule.clone()).or_insert((0, r.at, r.at));
        e.0 += 1;
        e.2 = r.at;
    }
    out
}

#[cfg(test)]
mod tests;
