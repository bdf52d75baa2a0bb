//! Rules: when to alert, correct the bot's database, re-sync, or close a
//! position reduce-only. Pure: files are parsed and compiled once
//! ([`compile`]); [`Engine::evaluate`] takes `now` and the reconciled
//! accounts and returns [`Decision`]s, each carrying its rule id.
//!
//! A rule holds one condition over a scope (venues, accounts, symbols,
//! named symbol groups). The condition must hold for `for` before the rule
//! fires; once fired, its actions are not repeated within `cooldown`. A
//! condition that reads an untrusted source is false (unknown is never a
//! reason to act), except `stale_source`, which is about exactly that.
//!
//! Conditions about the exchange read the stream view, the authority, as
//! soon as it is trusted; they do not wait for the next REST poll to agree.
//! That is safe because every close is sized from its own fresh REST read
//! (a position REST does not show is "already flat": nothing is sent), and
//! because comparisons with the bot's database need the database trusted.

pub mod file;
mod names;
pub mod testing;
mod tracks;

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};

use crate::domain::{Leg, Pair, PositionKey, Source, Symbol, Timestamp};
use crate::reconcile::{AccountReport, Row, State};
use crate::sorted::SortedMap;
use crate::walk::Walk;
use names::{Id, Names, TrackKey};
use tracks::Tracks;

pub use file::{compile, compile_files, RuleError};

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Deserialize, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Severity {
    Info,
    Warning,
    Critical,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Deserialize, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Action {
    /// Page.
    Alert,
    /// Ask for a correction cycle now (the mapping's mode and guards apply).
    CorrectDb,
    /// Reconnect the stream (new snapshot) and read REST now.
    Resync,
    /// Reduce-only trim of the unexplained part, down to what the bot's DB says.
    ReduceToBot,
    /// Reduce-only flatten.
    ClosePosition,
}

impl Action {
    pub fn as_str(self) -> &'static str {
        match self {
            Action::Alert => "alert",
            Action::CorrectDb => "correct_db",
            Action::Resync => "resync",
            Action::ReduceToBot => "reduce_to_bot",
            Action::ClosePosition => "close_position",
        }
    }
}

/// A size threshold: base units, or USD notional at the mark price.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Threshold {
    Size(Decimal),
    NotionalUsd(Decimal),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DriftPair {
    WsRest,
    ExchangeDb,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Condition {
    Drift {
        pair: DriftPair,
        above: Threshold,
    },
    /// The exchange holds more than the bot's DB explains.
    UntrackedPosition {
        above: Threshold,
    },
    /// The DB holds a position the exchange does not.
    StaleDbRow,
    PositionLimit {
        above: Threshold,
    },
    /// |Σ signed notional over the group| above the limit.
    NetExposure {
        group: String,
        above_usd: Decimal,
    },
    /// A source untrusted for longer than this.
    StaleSource {
        source: Source,
        longer_than: Duration,
    },
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Scope {
    pub venues: BTreeSet<String>,
    pub accounts: BTreeSet<String>,
    /// Symbols, with the groups' members expanded.
    pub symbols: BTreeSet<String>,
}

impl Scope {
    fn matches_account(&self, venue: &str, account: &str) -> bool {
        (self.venues.is_empty() || self.venues.contains(venue))
            && (self.accounts.is_empty() || self.accounts.contains(account))
    }

    fn matches_symbol(&self, symbol: &Symbol) -> bool {
        self.symbols.is_empty() || self.symbols.contains(symbol.as_str())
    }
}

/// A compiled rule.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rule {
    pub id: String,
    pub description: String,
    pub scope: Scope,
    pub condition: Condition,
    pub hold: Duration,
    pub cooldown: Duration,
    pub severity: Severity,
    pub actions: Vec<Action>,
}

/// Every rule of every file, compiled.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RuleSet {
    pub rules: Vec<Rule>,
    pub groups: BTreeMap<String, BTreeSet<Symbol>>,
}

/// One account as the rules see it.
pub struct AccountState<'a> {
    pub venue: &'a str,
    pub account: &'a str,
    pub report: &'a AccountReport,
    /// Mark prices by symbol (for notional thresholds).
    pub marks: &'a SortedMap<Symbol, Decimal>,
}

/// The part of the accounts an evaluation looks at: one account's
/// account-wide conditions (sources, groups) and the rows of `symbols`.
/// Conditions outside it keep their state as the last evaluation left it.
#[derive(Debug, Clone, Copy)]
pub struct Focus<'a> {
    pub account: &'a str,
    /// In order, each once (a symbol is found by halving).
    pub symbols: &'a [Symbol],
}

impl Focus<'_> {
    fn has(&self, symbol: &Symbol) -> bool {
        self.symbols.binary_search(symbol).is_ok()
    }
}

/// What a rule decided.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Decision {
    pub rule: String,
    pub severity: Severity,
    pub action: Action,
    pub venue: String,
    pub account: String,
    /// The symbol, or the group name for `net_exposure`, or the source for `stale_source`.
    pub subject: String,
    /// For `reduce_to_bot`: the signed size the bot's DB explains.
    pub keep: Option<Decimal>,
    /// The condition held since.
    pub since: Timestamp,
    pub reason: String,
}

/// A condition that holds now: its rule, its account's place in the
/// evaluation's accounts (its name and venue), its key, and its figures.
#[derive(Debug)]
struct Held {
    rule: usize,
    at: usize,
    key: TrackKey,
    why: Why,
    keep: Option<Decimal>,
}

/// Which rows of one account an evaluation looks at.
#[derive(Debug, Clone)]
enum InView {
    /// Every row (a full evaluation).
    All,
    /// Only the rows of the symbols in focus: [`Scratch::rows`]`[range]`.
    Rows(std::ops::Range<usize>),
    /// None: the focus is on another account.
    Nothing,
}

/// The buffers one evaluation fills, kept between evaluations for their
/// memory: an evaluation on every frame asks the allocator for nothing
/// once they have grown to the account's size. Empty between calls.
#[derive(Debug, Default)]
struct Scratch {
    /// Each account's number and its venue's.
    ids: Vec<(Id, Id)>,
    /// What each account shows this evaluation.
    in_view: Vec<InView>,
    /// The rows in focus: each one's place in its report, its symbol's
    /// number and its mark (each looked up once, not once per rule).
    rows: Vec<(usize, Id, Option<Decimal>)>,
    /// The conditions that hold.
    held: Vec<Held>,
    /// Their keys, in order (found by halving).
    live: Vec<TrackKey>,
    /// The subjects in focus (the focused account's symbols met so far,
    /// then the rules' sources and groups in focus), each once.
    subjects: Vec<Id>,
    /// Conditions in view that stopped holding.
    ended: Vec<TrackKey>,
}

impl Scratch {
    fn clear(&mut self) {
        self.ids.clear();
        self.in_view.clear();
        self.rows.clear();
        self.held.clear();
        self.live.clear();
        self.subjects.clear();
        self.ended.clear();
    }
}

/// Why a condition holds: the figures, put into words only when its rule
/// fires (a condition can hold for every frame of hours).
#[derive(Debug, Clone)]
enum Why {
    Drift(Pair, Decimal),
    Untracked { exchange: Decimal, explained: Decimal },
    StaleDbRow(Decimal),
    OverLimit(Decimal),
    Exposure(Decimal),
    Untrusted { source: Source, reason: String },
}

impl std::fmt::Display for Why {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Why::Drift(pair, d) => write!(f, "{} drift {d}", pair.as_str()),
            Why::Untracked { exchange, explained } => {
                write!(f, "exchange holds {exchange}, the bot's DB explains {explained}")
            }
            Why::StaleDbRow(size) => write!(f, "DB holds {size} the exchange does not"),
            Why::OverLimit(size) => write!(f, "position {size} over the limit"),
            Why::Exposure(net) => write!(f, "net exposure {net} USD"),
            Why::Untrusted { source, reason } => write!(f, "{} untrusted: {reason}", source.as_str()),
        }
    }
}

#[derive(Debug, Clone)]
struct Track {
    since: Timestamp,
    /// Severity, if it fired an `alert`: its end is worth a page too.
    alerted: Option<Severity>,
}

/// What the rules are doing about one symbol of an account, for the
/// correction planner: a correction never overtakes a rule.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum RuleHold {
    /// A condition holds and its rule has not fired yet.
    Pending,
    /// Its rule has fired (alerted or acted), and the condition still holds.
    Fired,
}

/// A rule condition that holds on an account (for the status page).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Holding {
    pub rule: String,
    /// The symbol or group it holds for.
    pub subject: String,
    pub since: Timestamp,
    /// Held for at least the rule's `for`.
    pub firing: bool,
}

/// An alerted condition that stopped holding (its rule may also have been
/// removed by a reload).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cleared {
    pub rule: String,
    pub severity: Severity,
    pub venue: String,
    pub account: String,
    pub subject: String,
}

/// Evaluates rules over time: remembers since when each condition holds
/// and when each rule last fired.
#[derive(Debug, Default)]
pub struct Engine {
    /// The names the keys below number.
    names: Names,
    tracks: Tracks,
    /// Alerted conditions that stopped holding since the last `take_cleared`.
    cleared: Vec<Cleared>,
    /// When each (venue, account) was first evaluated: a source never read
    /// has been untrusted since then, not forever.
    first_seen: BTreeMap<(Id, Id), Timestamp>,
    /// When each condition's rule last fired, kept after the condition
    /// stops holding (and across restarts, through [`Engine::restore`]), so
    /// a cooldown is never forgotten.
    fired: BTreeMap<TrackKey, Timestamp>,
    /// Firings since the last [`Engine::take_fired`], for the journal.
    newly_fired: Vec<Fired>,
    /// Memory for the next evaluation.
    scratch: Scratch,
}

/// A rule that fired for one subject, as the journal keeps it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Fired {
    pub rule: String,
    pub venue: String,
    pub account: String,
    pub subject: String,
    pub at: Timestamp,
}

/// Whether `value` is above `t`; `mark` (the symbol's mark price) is
/// asked for only by a notional threshold, and only for a nonzero value.
fn above(value: Decimal, t: Threshold, mark: impl FnOnce() -> Option<Decimal>) -> bool {
    match t {
        Threshold::Size(s) => value.abs() > s,
        // Zero is above no limit of zero or more, whatever the mark: no
        // lookup for the rows in sync, most rows on most frames.
        Threshold::NotionalUsd(n) if value.is_zero() && !n.is_sign_negative() => false,
        Threshold::NotionalUsd(n) => mark().is_some_and(|m| value.abs() * m > n),
    }
}

/// Whether `cond` holds for `row`: why, and the size to keep if it closes.
fn row_condition(
    cond: &Condition,
    row: &Row,
    mark: impl FnOnce() -> Option<Decimal>,
) -> Option<(Why, Option<Decimal>)> {
    match cond {
        Condition::Drift { pair, above: t } => {
            let p = match pair {
                DriftPair::WsRest => Pair::WsRest,
                DriftPair::ExchangeDb => Pair::WsDb,
            };
            let d = row.drift(p)?;
            above(d, *t, mark).then_some((Why::Drift(p, d), None))
        }
        Condition::UntrackedPosition { above: t } => {
            let ex = row.ws.believed()?;
            let db = row.db.believed()?;
            // The part the DB does not explain: same side and larger, or any other side.
            let explained = if db.is_sign_negative() == ex.is_sign_negative() && db.abs() <= ex.abs() {
                db
            } else {
                Decimal::ZERO
            };
            let unexplained = ex - explained;
            (!unexplained.is_zero() && above(unexplained, *t, mark)).then_some((
                Why::Untracked {
                    exchange: ex,
                    explained,
                },
                Some(explained),
            ))
        }
        Condition::StaleDbRow => {
            (row.state == State::DbStale).then(|| (Why::StaleDbRow(row.db.size.unwrap_or_default()), None))
        }
        Condition::PositionLimit { above: t } => {
            let ex = row.ws.believed()?;
            above(ex, *t, mark).then_some((Why::OverLimit(ex), Some(Decimal::ZERO)))
        }
        _ => None,
    }
}

impl Engine {
    pub fn new() -> Self {
        Self::default()
    }

    /// Restores when rules last fired (from the journal, at start-up): their
    /// cooldowns hold across the restart.
    pub fn restore(&mut self, fired: impl IntoIterator<Item = Fired>) {
        for f in fired {
            let (subject, leg) = PositionKey::split(&f.subject);
            let key = TrackKey {
                account: self.names.id(&f.account),
                subject: self.names.id(subject),
                leg,
                rule: self.names.id(&f.rule),
                venue: self.names.id(&f.venue),
            };
            let at = self.fired.entry(key).or_insert(f.at);
            *at = (*at).max(f.at);
        }
    }

    /// Shortens `rule`'s cooldown for `subject` of `account` so it may fire
    /// again at `at`: its action did not complete (a close that failed or was
    /// refused), so it decides again when the caller's back-off ends, not only
    /// after its cooldown. Until then nothing fires (no storm of decisions).
    pub fn retry_at(&mut self, rules: &RuleSet, rule: &str, account: &str, subject: &str, at: Timestamp) {
        let Some(cooldown) = rules.rules.iter().find(|r| r.id == rule).map(|r| r.cooldown) else {
            return;
        };
        let due = Timestamp(at.0.saturating_sub(cooldown.as_millis().min(i64::MAX as u128) as i64));
        let (subject, leg) = PositionKey::split(subject);
        let (Some(rule), Some(account), Some(subject)) = (
            self.names.find(rule),
            self.names.find(account),
            self.names.find(subject),
        ) else {
            // A name never met: the rule never fired for it.
            return;
        };
        for (k, fired) in self.fired.iter_mut() {
            if k.rule == rule && k.account == account && k.subject == subject && k.leg == leg {
                *fired = (*fired).min(due);
            }
        }
    }

    /// The firings since the last call, to be journaled.
    pub fn take_fired(&mut self) -> Vec<Fired> {
        std::mem::take(&mut self.newly_fired)
    }

    /// Fills `scratch.held` with the conditions that hold now, per (rule,
    /// venue, account, subject); `scratch.ids` holds the accounts' numbers.
    fn holding(
        names: &mut Names,
        first_seen: &BTreeMap<(Id, Id), Timestamp>,
        scratch: &mut Scratch,
        rules: &RuleSet,
        accounts: &[AccountState<'_>],
        now: Timestamp,
        focus: Option<Focus<'_>>,
    ) {
        let Scratch {
            ids,
            in_view,
            rows: focused,
            held: out,
            subjects,
            ..
        } = scratch;
        // What each account shows this evaluation, found once per account
        // rather than once per rule.
        for a in accounts {
            in_view.push(match focus {
                None => InView::All,
                Some(f) if f.account != a.account => InView::Nothing,
                Some(f) => {
                    let start = focused.len();
                    // Rows are sorted by key, so a symbol's legs are
                    // adjacent, and the focus is sorted too: each symbol is
                    // searched for after the last one's rows.
                    let rows = &a.report.rows;
                    let mut marks = Walk::new(a.marks.as_slice());
                    let mut from = 0;
                    for sym in f.symbols {
                        // Its first row: the next one (every symbol of a
                        // frame that moved them all), or found by halving.
                        let mut i = match rows.get(from) {
                            Some(r) if r.key.symbol == *sym => from,
                            _ => from + rows[from..].partition_point(|r| r.key.symbol < *sym),
                        };
                        if i < rows.len() && rows[i].key.symbol == *sym {
                            let (id, mark) = (names.symbol(sym), marks.find(sym).copied());
                            subjects.push(id);
                            while i < rows.len() && rows[i].key.symbol == *sym {
                                focused.push((i, id, mark));
                                i += 1;
                            }
                        } else {
                            // No row: its conditions, if any, have ended.
                            subjects.extend(names.find(sym));
                        }
                        from = i;
                    }
                    InView::Rows(start..focused.len())
                }
            });
        }
        for (ri, rule) in rules.rules.iter().enumerate() {
            // The rule's number, found once it holds somewhere.
            let mut rule_id = None;
            for (at, (a, view)) in accounts.iter().zip(in_view.iter()).enumerate() {
                if matches!(view, InView::Nothing) || !rule.scope.matches_account(a.venue, a.account) {
                    continue;
                }
                let (account, venue) = ids[at];
                let mut held = |names: &mut Names, subject: Id, leg: Leg, why: Why, keep: Option<Decimal>| Held {
                    rule: ri,
                    at,
                    key: TrackKey {
                        account,
                        subject,
                        leg,
                        rule: *rule_id.get_or_insert_with(|| names.id(&rule.id)),
                        venue,
                    },
                    why,
                    keep,
                };
                match &rule.condition {
                    Condition::StaleSource { source, longer_than } => {
                        let h = a.report.sources.iter().find(|s| s.source == *source);
                        if let Some(h) = h.filter(|h| !h.trusted) {
                            let since = h.last_good_at.or_else(|| first_seen.get(&(venue, account)).copied());
                            let for_ = since.map_or(Duration::MAX, |t| now.since(t));
                            if for_ > *longer_than {
                                let why = Why::Untrusted {
                                    source: *source,
                                    reason: h.reason.clone().unwrap_or_default(),
                                };
                                let subject = names.id(source.as_str());
                                out.push(held(names, subject, Leg::Net, why, None));
                            }
                        }
                    }
                    Condition::NetExposure { group, above_usd } => {
                        let Some(members) = rules.groups.get(group) else {
                            continue;
                        };
                        // Focused on other symbols: the exposure has not moved.
                        if matches!(view, InView::Rows(_)) && focus.is_some_and(|f| !members.iter().any(|m| f.has(m))) {
                            continue;
                        }
                        let mut net = Decimal::ZERO;
                        let mut known = true;
                        for sym in members {
                            // Every leg of the symbol is exposure (hedge legs
                            // net against each other; an isolated leg adds).
                            // Rows are sorted by key: a symbol's legs are adjacent.
                            let start = a.report.rows.partition_point(|r| r.key.symbol < *sym);
                            let mut legs = a.report.rows[start..]
                                .iter()
                                .take_while(|r| &r.key.symbol == sym)
                                .peekable();
                            if legs.peek().is_none() && !a.report.sources[0].trusted {
                                // No row: flat everywhere, if the stream is trusted.
                                known = false;
                            }
                            let mut size = Decimal::ZERO;
                            for r in legs {
                                match r.ws.believed() {
                                    Some(s) => size += s,
                                    None => known = false,
                                }
                            }
                            match a.marks.get(sym) {
                                Some(m) => net += size * m,
                                None if size.is_zero() => {}
                                None => known = false,
                            }
                        }
                        if known && net.abs() > *above_usd {
                            let subject = names.id(group);
                            out.push(held(names, subject, Leg::Net, Why::Exposure(net), None));
                        }
                    }
                    cond => match view {
                        InView::Rows(range) => {
                            for &(i, subject, mark) in &focused[range.clone()] {
                                let row = &a.report.rows[i];
                                if rule.scope.matches_symbol(&row.key.symbol) {
                                    if let Some((why, keep)) = row_condition(cond, row, || mark) {
                                        out.push(held(names, subject, row.key.leg, why, keep));
                                    }
                                }
                            }
                        }
                        _ => {
                            for row in &a.report.rows {
                                if rule.scope.matches_symbol(&row.key.symbol) {
                                    let mark = || a.marks.get(&row.key.symbol).copied();
                                    if let Some((why, keep)) = row_condition(cond, row, mark) {
                                        let subject = names.symbol(&row.key.symbol);
                                        out.push(held(names, subject, row.key.leg, why, keep));
                                    }
                                }
                            }
                        }
                    },
                }
            }
        }
    }

    /// The decisions due at `now`. Firing state is kept between calls;
    /// [`Engine::firing`] lists the rules whose condition has held for `for`.
    pub fn evaluate(&mut self, rules: &RuleSet, accounts: &[AccountState<'_>], now: Timestamp) -> Vec<Decision> {
        self.evaluate_focused(rules, accounts, now, None)
    }

    /// [`Engine::evaluate`], looking only at `focus` when given (the rows an
    /// input touched); the full evaluation on the tick looks at the rest.
    pub fn evaluate_focused(
        &mut self,
        rules: &RuleSet,
        accounts: &[AccountState<'_>],
        now: Timestamp,
        focus: Option<Focus<'_>>,
    ) -> Vec<Decision> {
        let mut scratch = std::mem::take(&mut self.scratch);
        let decisions = self.evaluate_into(&mut scratch, rules, accounts, now, focus);
        scratch.clear();
        self.scratch = scratch;
        decisions
    }

    fn evaluate_into(
        &mut self,
        scratch: &mut Scratch,
        rules: &RuleSet,
        accounts: &[AccountState<'_>],
        now: Timestamp,
        focus: Option<Focus<'_>>,
    ) -> Vec<Decision> {
        // Each account's and venue's number, found once per evaluation.
        for a in accounts {
            scratch.ids.push((self.names.id(a.account), self.names.id(a.venue)));
        }
        for &(account, venue) in &scratch.ids {
            self.first_seen.entry((venue, account)).or_insert(now);
        }
        if focus.is_none() {
            // A firing older than every cooldown restrains nothing.
            let longest = rules.rules.iter().map(|r| r.cooldown).max().unwrap_or_default();
            self.fired.retain(|_, at| now.since(*at) < longest);
        }
        Self::holding(&mut self.names, &self.first_seen, scratch, rules, accounts, now, focus);
        let Scratch {
            held,
            live,
            subjects,
            ended,
            ..
        } = scratch;
        live.extend(held.iter().map(|h| h.key));
        live.sort_unstable();
        live.dedup();
        let decisions = self.decide(held, rules, accounts, now);
        let is_live = |k: &TrackKey| live.binary_search(k).is_ok();
        // A condition that stopped holding starts over; an alerted one is
        // cleared. Every condition that holds is tracked by now.
        match focus {
            None => ended.extend(self.tracks.keys().filter(|k| !is_live(k)).copied()),
            Some(f) => {
                let names = &self.names;
                let venue = accounts.iter().find(|a| a.account == f.account).map(|a| a.venue);
                let in_scope = |r: &&Rule| venue.is_some_and(|v| r.scope.matches_account(v, f.account));
                // The subjects in view: the symbols (found while looking for
                // their rows), and the sources and groups in focus. A name
                // never met has no conditions.
                if venue.is_none() {
                    subjects.extend(f.symbols.iter().filter_map(|s| names.find(s.as_str())));
                }
                for r in rules.rules.iter().filter(in_scope) {
                    let subject = match &r.condition {
                        Condition::StaleSource { source, .. } => source.as_str(),
                        // A group is evaluated when a member is in focus.
                        Condition::NetExposure { group, .. }
                            if rules.groups.get(group).is_some_and(|m| m.iter().any(|s| f.has(s))) =>
                        {
                            group.as_str()
                        }
                        _ => continue,
                    };
                    subjects.extend(names.find(subject));
                }
                subjects.sort_unstable();
                subjects.dedup();
                if let Some(account) = names.find(f.account) {
                    // Tracked in view, against holding in view: equal, and
                    // none stopped (most frames); no range is searched.
                    let tracked: u32 = subjects.iter().map(|s| self.tracks.count(account, *s)).sum();
                    let holding = live
                        .iter()
                        .filter(|k| k.account == account && subjects.binary_search(&k.subject).is_ok())
                        .count();
                    if tracked as usize != holding {
                        // In name order, as the pages go out.
                        subjects.sort_unstable_by(|a, b| names.name(*a).cmp(names.name(*b)));
                        for &subject in subjects.iter() {
                            ended.extend(self.tracks.of_subject(account, subject).filter(|k| !is_live(k)));
                        }
                    }
                }
            }
        }
        for k in ended.drain(..) {
            if let Some(Track {
                alerted: Some(severity),
                ..
            }) = self.tracks.remove(&k)
            {
                self.cleared.push(Cleared {
                    rule: self.names.name(k.rule).to_owned(),
                    severity,
                    venue: self.names.name(k.venue).to_owned(),
                    account: self.names.name(k.account).to_owned(),
                    subject: self.names.subject(k.subject, k.leg),
                });
            }
        }
        decisions
    }

    /// Tracks each condition that holds (`held`, emptied) and decides on
    /// those past their `for` and out of their cooldown.
    fn decide(
        &mut self,
        held: &mut Vec<Held>,
        rules: &RuleSet,
        accounts: &[AccountState<'_>],
        now: Timestamp,
    ) -> Vec<Decision> {
        let mut decisions = Vec::new();
        for h in held.drain(..) {
            let (rule, key) = (&rules.rules[h.rule], h.key);
            // A condition still within its `for` costs one look.
            let track = self.tracks.get_or_insert(key, || Track {
                since: now,
                alerted: None,
            });
            if now.since(track.since) < rule.hold {
                continue;
            }
            if self.fired.get(&key).is_some_and(|t| now.since(*t) < rule.cooldown) {
                continue;
            }
            self.fired.insert(key, now);
            let subject = self.names.subject(key.subject, key.leg);
            self.newly_fired.push(Fired {
                rule: rule.id.clone(),
                venue: accounts[h.at].venue.to_owned(),
                account: accounts[h.at].account.to_owned(),
                subject: subject.clone(),
                at: now,
            });
            if rule.actions.contains(&Action::Alert) {
                track.alerted = Some(rule.severity);
            }
            for action in &rule.actions {
                decisions.push(Decision {
                    rule: rule.id.clone(),
                    severity: rule.severity,
                    action: *action,
                    venue: accounts[h.at].venue.to_owned(),
                    account: accounts[h.at].account.to_owned(),
                    subject: subject.clone(),
                    keep: h.keep,
                    since: track.since,
                    reason: format!("{}: {}", rule.id, h.why),
                });
            }
        }
        decisions
    }

    /// By symbol, what the conditions held on `account` are doing; a
    /// pending one outweighs a fired one. A group's condition (net exposure)
    /// holds each of its members.
    pub fn holds(&self, rules: &RuleSet, account: &str, now: Timestamp) -> BTreeMap<String, RuleHold> {
        let mut out: BTreeMap<String, RuleHold> = BTreeMap::new();
        let Some(account) = self.names.find(account) else {
            return out;
        };
        for (k, t) in self.tracks.iter().filter(|(k, _)| k.account == account) {
            // Spoken for: its rule fired while the condition held, or the
            // condition is past its `for` with the rule still in cooldown.
            let rule = rules.rules.iter().find(|r| r.id == self.names.name(k.rule));
            let fired = self.fired.get(k).copied();
            let fired_now = fired.is_some_and(|f| f >= t.since);
            let cooling =
                rule.is_some_and(|r| now.since(t.since) >= r.hold && fired.is_some_and(|f| now.since(f) < r.cooldown));
            let hold = if fired_now || cooling {
                RuleHold::Fired
            } else {
                RuleHold::Pending
            };
            // A group's members, or the symbol of the leg the subject names.
            let subject = self.names.name(k.subject);
            let subjects: Vec<String> = match rules.groups.get(subject) {
                Some(members) => members
                    .iter()
                    .map(Symbol::to_string)
                    .chain([subject.to_owned()])
                    .collect(),
                None => vec![subject.to_owned()],
            };
            for s in subjects {
                let e = out.entry(s).or_insert(hold);
                *e = (*e).min(hold);
            }
        }
        out
    }

    /// The alerted conditions that stopped holding since the last call.
    pub fn take_cleared(&mut self) -> Vec<Cleared> {
        std::mem::take(&mut self.cleared)
    }

    /// On `account`, every rule condition that holds: since when, and
    /// whether it has held for its `for` (firing) or is still pending.
    /// Ordered by subject, then rule.
    pub fn conditions(&self, rules: &RuleSet, account: &str, now: Timestamp) -> Vec<Holding> {
        let Some(account) = self.names.find(account) else {
            return Vec::new();
        };
        let mut out: Vec<Holding> = self
            .tracks
            .iter()
            .filter(|(k, _)| k.account == account)
            .map(|(k, t)| {
                let rule = self.names.name(k.rule);
                Holding {
                    rule: rule.to_owned(),
                    subject: self.names.subject(k.subject, k.leg),
                    since: t.since,
                    firing: rules.rules.iter().any(|r| r.id == rule && now.since(t.since) >= r.hold),
                }
            })
            .collect();
        out.sort_by(|a, b| (&a.subject, &a.rule).cmp(&(&b.subject, &b.rule)));
        out
    }

    /// Rules currently firing (condition held for at least `for`), by id.
    pub fn firing(&self, rules: &RuleSet, now: Timestamp) -> BTreeSet<String> {
        self.tracks
            .iter()
            .map(|(k, t)| (self.names.name(k.rule), t))
            .filter(|(rule, t)| {
                rules
                    .rules
                    .iter()
                    .any(|r| r.id == *rule && now.since(t.since) >= r.hold)
            })
            .map(|(rule, _)| rule.to_owned())
            .collect()
    }
}

#[cfg(test)]
mod tests;
