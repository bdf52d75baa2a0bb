//! Action planning: what driftwatch would change in the bot's database, from
//! a reconciled report. Pure: `now` and data in, a [`CorrectionPlan`] out.
//!
//! Policy (the fix for the 2025-11-10 incident, made safe):
//! - a DB row with no exchange position is deleted (archived first);
//! - a row that says more than the exchange holds, on the same side, is
//!   brought down to the exchange's size;
//! - exposure the bot's rows do not explain (no row, a smaller row, the
//!   other side) is the rules' matter first: it is written into the bot's
//!   database only when `insert` (no row) or `adopt` (a row) says so
//!   explicitly, and never while a rule about the symbol holds.
//!
//! Guards, each a reason to leave a key (or the whole account) alone this cycle:
//! - nothing in an account where the stream and REST disagree about any key,
//!   or any source is untrusted ([`Blocked`]): an account's evidence is
//!   judged whole;
//! - only rows in a confirmed mismatch state (which implies the stream, REST
//!   and the DB were all trusted and the stream and REST agreed), seen in at
//!   least `confirmations` distinct REST reads: never on one observation;
//! - only on a REST reading *taken after* the mismatch was first seen and
//!   after the bot's last write to the row (a read that was already under way
//!   judges the world before the row);
//! - nothing while a rule's condition about the symbol is pending (the rule
//!   alerts before driftwatch corrects);
//! - not within `settle` of the bot's own last write to the row;
//! - never several rows for one key when the change is not a delete
//!   (ambiguous: which strategy's row is wrong?);
//! - the mass-change guard refuses the whole cycle when it would change more
//!   than `max_rows` rows, or more than `max_fraction` of the table.
//!
//! Every [`Correction`] carries the evidence it was planned on.

pub mod close;
pub mod retry;
pub mod settle;

use std::collections::BTreeMap;
use std::time::Duration;

use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};

use crate::domain::{DbRow, DbSnapshot, Position, PositionKey, Symbol, Timestamp};
use crate::reconcile::{AccountReport, Row, State};
use crate::rules::RuleHold;
use crate::sorted::SortedMap;

/// What a mapping may do.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Mode {
    Off,
    /// Plan, log and count exactly what would be done; change nothing.
    DryRun,
    Apply,
}

#[derive(Debug, Clone)]
pub struct CorrectionPolicy {
    pub mode: Mode,
    /// Insert rows for exchange positions the DB lacks (off by default: an
    /// unexplained position is the rules' matter).
    pub insert: bool,
    /// Rewrite a row to the exchange's larger size or other side (off by
    /// default, for the same reason).
    pub adopt: bool,
    /// The venue symbols the mapping's `symbols:` names, when it names any:
    /// a row is never inserted for a symbol outside them (it would carry a
    /// venue name the bot does not use).
    pub mapped_symbols: Option<std::collections::BTreeSet<String>>,
    /// The legs the bot's rows stand for (the mapping's `leg`): another leg
    /// is never corrected into or out of the bot's table.
    pub leg: crate::domain::RowLegs,
    /// What correcting a stale row means for this bot (the mapping's `on_stale`).
    pub stale: StaleFix,
    /// Whether a row larger than the exchange's may be brought down (the
    /// mapping's `on_resize`); otherwise it is alerted on only.
    pub resize: bool,
    /// Distinct reads a mismatch must have been seen in.
    pub confirmations: u32,
    /// Quiet time after the bot's last write to a row.
    pub settle: Duration,
    pub max_rows: usize,
    /// Refuse a cycle that changes more than this fraction of the table.
    pub max_fraction: Option<Decimal>,
}

/// What a stale row (the exchange holds nothing) becomes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StaleFix {
    Delete,
    /// Marked closed the bot's way (needs the mark price).
    Close,
    AlertOnly,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Op {
    Created,
    Updated,
    Deleted,
    /// A stale row marked closed the bot's way (Freqtrade's `is_open = false`).
    Closed,
}

impl Op {
    pub const ALL: [Op; 4] = [Op::Created, Op::Updated, Op::Deleted, Op::Closed];

    pub fn as_str(self) -> &'static str {
        match self {
            Op::Created => "created",
            Op::Updated => "updated",
            Op::Deleted => "deleted",
            Op::Closed => "closed",
        }
    }
}

/// What the three sources said when a correction was planned.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Evidence {
    pub ws: Option<Decimal>,
    pub rest: Option<Decimal>,
    pub db: Option<Decimal>,
    pub ws_at: Option<Timestamp>,
    pub rest_at: Option<Timestamp>,
    pub db_at: Option<Timestamp>,
    pub state: String,
    pub since: Timestamp,
    pub observations: u32,
}

/// One row change.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Correction {
    pub op: Op,
    pub key: PositionKey,
    /// The row to change (updates and deletes), as read.
    pub row: Option<DbRow>,
    /// The signed size the row must hold afterwards (creates and updates).
    pub target: Option<Decimal>,
    /// The exchange's entry price, for inserts.
    pub entry_price: Option<Decimal>,
    /// The venue's mark price, for closes (`close_rate`).
    #[serde(default)]
    pub mark_price: Option<Decimal>,
    pub evidence: Evidence,
}

/// Why a mismatched key is left alone this cycle.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Skip {
    NotConfirmed {
        observations: u32,
    },
    Settling {
        until: Timestamp,
    },
    Ambiguous {
        rows: usize,
    },
    InsertsOff,
    /// The exchange holds more than the row, or the other side: exposure
    /// the bot does not explain, left to the rules (`adopt: false`).
    Unexplained,
    /// A rule's condition about the symbol is pending (it alerts first), or,
    /// for a change that would adopt exposure, holds at all.
    RuleHolds(RuleHold),
    /// No REST reading taken after the mismatch was first seen (or after
    /// the bot's last write to the row).
    NotFresh {
        rest_taken_at: Option<Timestamp>,
    },
    /// Another leg of the symbol is open (Nado's isolated margin): the bot's
    /// row may be tracking it, so the row is neither deleted nor moved.
    OtherLegOpen,
    /// An insert for a venue symbol the mapping's `symbols:` does not name.
    UnmappedSymbol,
    /// A leg the bot's rows do not stand for (an isolated position under a
    /// `net` mapping): the rules' matter, never a row.
    NotTheMappedLeg,
    /// The mapping says this correction is the operator's (`alert_only`).
    AlertOnly,
    /// A close writes the mark price, and there is none for the symbol.
    NoMarkPrice,
    /// The venue lists no such market: the row's symbol may be the bot's
    /// spelling of something else; it is never corrected.
    UnknownMarket,
    /// The bot has an order open for the row: it is settling it itself.
    BotBusy,
}

impl Skip {
    /// In words, for logs.
    pub fn describe(&self) -> String {
        match self {
            Skip::NotConfirmed { observations } => format!("not confirmed yet ({observations} reading(s))"),
            Skip::Settling { until } => {
                format!("the bot wrote the row lately; settling until {}", until.to_utc_string())
            }
            Skip::Ambiguous { rows } => format!("{rows} rows for one position: ambiguous"),
            Skip::InsertsOff => "inserts are off".into(),
            Skip::Unexplained => "exposure the bot does not explain (adopt: false): the rules' matter".into(),
            Skip::RuleHolds(RuleHold::Pending) => "a rule's condition about it is pending".into(),
            Skip::RuleHolds(RuleHold::Fired) => "a rule about it holds".into(),
            Skip::NotFresh { rest_taken_at } => match rest_taken_at {
                Some(t) => format!("no REST reading since the mismatch began (last {})", t.to_utc_string()),
                None => "no REST reading yet".into(),
            },
            Skip::OtherLegOpen => "another leg of the symbol is open".into(),
            Skip::UnmappedSymbol => "a venue symbol the mapping does not name".into(),
            Skip::NotTheMappedLeg => "a leg the mapping does not stand for".into(),
            Skip::AlertOnly => "the mapping leaves this correction to the operator (alert_only)".into(),
            Skip::NoMarkPrice => "no mark price to close the row at".into(),
            Skip::UnknownMarket => "the venue lists no such market (or market info is not loaded yet)".into(),
            Skip::BotBusy => "the bot has an order open for the row: it is settling it".into(),
        }
    }
}

/// Why a whole account is left alone this cycle.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Blocked {
    /// The stream and REST disagree about these keys (an empty REST reply
    /// while the stream holds positions is such a disagreement).
    Disagreement(Vec<PositionKey>),
    /// A source is untrusted, so no key can be judged.
    Untrusted,
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CorrectionPlan {
    pub corrections: Vec<Correction>,
    pub skipped: Vec<(PositionKey, Skip)>,
    /// Set when the mass-change guard refused the cycle; `corrections` then
    /// lists what was refused.
    pub refused: Option<String>,
    /// Set when the account's evidence disagrees: nothing is planned.
    pub blocked: Option<Blocked>,
}

impl CorrectionPlan {
    pub fn is_empty(&self) -> bool {
        self.corrections.is_empty() && self.refused.is_none()
    }

    /// `N updated, N created, N deleted`.
    pub fn summary(&self) -> String {
        let count = |op| self.corrections.iter().filter(|c| c.op == op).count();
        let closed = match count(Op::Closed) {
            0 => String::new(),
            n => format!(", {n} closed"),
        };
        format!(
            "{} updated, {} created, {} deleted{closed}",
            count(Op::Updated),
            count(Op::Created),
            count(Op::Deleted)
        )
    }
}

/// When each source last delivered, for the evidence.
#[derive(Debug, Clone, Copy, Default)]
pub struct SourceTimes {
    pub ws: Option<Timestamp>,
    pub rest: Option<Timestamp>,
    pub db: Option<Timestamp>,
}

fn evidence(row: &Row, times: SourceTimes) -> Evidence {
    Evidence {
        ws: row.ws.believed(),
        rest: row.rest.believed(),
        db: row.db.believed(),
        ws_at: times.ws,
        rest_at: times.rest,
        db_at: times.db,
        state: row.state.as_str().to_owned(),
        since: row.since,
        observations: row.observations,
    }
}

/// The keys where the stream and REST disagree: a REST reading taken
/// after the stream last changed the key, that still differs. (One taken
/// before is REST lagging a moving position: not evidence either way.)
fn disagreeing(report: &AccountReport) -> Vec<PositionKey> {
    report
        .rows
        .iter()
        .filter(|r| r.state == State::StreamDrift && !r.rest_lags)
        .map(|r| r.key.clone())
        .collect()
}

/// Whether an account's evidence may be acted on at all: every source
/// trusted, and the stream and REST agreeing about every key.
pub fn blocked(report: &AccountReport) -> Option<Blocked> {
    if report.sources.iter().any(|s| !s.trusted) {
        return Some(Blocked::Untrusted);
    }
    let drifting = disagreeing(report);
    if !drifting.is_empty() {
        return Some(Blocked::Disagreement(drifting));
    }
    report
        .rows
        .iter()
        .any(|r| r.state == State::SourceUntrusted)
        .then_some(Blocked::Untrusted)
}

/// Whether the exchange side of an account may be acted on (a close): the
/// stream and REST trusted, and agreeing about every key. The bot's
/// database is not needed to flatten.
pub fn exchange_blocked(report: &AccountReport) -> Option<Blocked> {
    use crate::domain::Source;
    if report
        .sources
        .iter()
        .any(|s| matches!(s.source, Source::Ws | Source::Rest) && !s.trusted)
    {
        return Some(Blocked::Untrusted);
    }
    let drifting = disagreeing(report);
    (!drifting.is_empty()).then_some(Blocked::Disagreement(drifting))
}

impl Blocked {
    pub fn describe(&self) -> String {
        match self {
            Blocked::Untrusted => "a source is untrusted".into(),
            Blocked::Disagreement(keys) => {
                let keys: Vec<String> = keys.iter().map(|k| k.to_string()).collect();
                format!("the stream and REST disagree about {}", keys.join(", "))
            }
        }
    }
}

/// Whether a change from the row's `db` size to the exchange's `ex` would
/// write exposure the bot does not explain into its database: a larger size,
/// or the other side.
pub fn adopts(db: Decimal, ex: Decimal) -> bool {
    !ex.is_zero() && (ex.is_sign_negative() != db.is_sign_negative() || db.is_zero() || ex.abs() > db.abs())
}

/// What the venue says, as the plan needs it.
#[derive(Debug, Clone, Copy)]
pub struct Exchange<'a> {
    /// The stream's positions (entry prices for inserts).
    pub positions: &'a SortedMap<PositionKey, Position>,
    /// Lot sizes by symbol: the venue's list of markets. A row whose symbol
    /// is not in it is never corrected (empty until market info loads).
    pub lots: &'a SortedMap<Symbol, Decimal>,
    /// Mark prices by symbol (what a close writes as the exit price).
    pub marks: &'a SortedMap<Symbol, Decimal>,
}

/// Plans one correction cycle for one account. `holds` says, by symbol,
/// which rules' conditions hold on this account (see [`RuleHold`]).
pub fn corrections(
    report: &AccountReport,
    db: &DbSnapshot,
    exchange: &Exchange<'_>,
    times: SourceTimes,
    holds: &BTreeMap<String, RuleHold>,
    policy: &CorrectionPolicy,
    now: Timestamp,
) -> CorrectionPlan {
    let mut plan = CorrectionPlan::default();
    if policy.mode == Mode::Off {
        return plan;
    }
    if let Some(b) = blocked(report) {
        plan.blocked = Some(b);
        return plan;
    }
    // The legs the exchange holds open, by symbol: a row is not corrected
    // while another leg of its symbol is open (the bot's row stands for one
    // leg, the mapping's; the other is a matter for the rules). The two
    // hedge legs are the exception: each is its own position, and each is
    // reconciled against the rows of its side.
    let open_legs: std::collections::BTreeSet<(&str, crate::domain::Leg)> = report
        .rows
        .iter()
        .filter(|r| r.ws.believed().is_some_and(|s| !s.is_zero()))
        .map(|r| (r.key.symbol.as_str(), r.key.leg))
        .collect();
    for row in &report.rows {
        if !matches!(row.state, State::DbStale | State::DbMissing | State::DbMismatch) {
            continue;
        }
        if !exchange.lots.contains_key(&row.key.symbol) {
            plan.skipped.push((row.key.clone(), Skip::UnknownMarket));
            continue;
        }
        if !policy.leg.covers(row.key.leg) {
            plan.skipped.push((row.key.clone(), Skip::NotTheMappedLeg));
            continue;
        }
        if open_legs.iter().any(|(symbol, leg)| {
            *symbol == row.key.symbol && *leg != row.key.leg && !(leg.is_hedge() && row.key.leg.is_hedge())
        }) {
            plan.skipped.push((row.key.clone(), Skip::OtherLegOpen));
            continue;
        }
        if !row.confirmed || row.observations < policy.confirmations {
            plan.skipped.push((
                row.key.clone(),
                Skip::NotConfirmed {
                    observations: row.observations,
                },
            ));
            continue;
        }
        let rows: Vec<&DbRow> = db.rows.iter().filter(|r| r.key == row.key).collect();
        if rows.iter().any(|r| r.busy) {
            plan.skipped.push((row.key.clone(), Skip::BotBusy));
            continue;
        }
        let settling = rows
            .iter()
            .filter_map(|r| r.updated_at)
            .map(|at| at.plus(policy.settle))
            .filter(|until| *until > now)
            .max();
        if let Some(until) = settling {
            plan.skipped.push((row.key.clone(), Skip::Settling { until }));
            continue;
        }
        // The REST reading must have been taken after the mismatch began and
        // after the bot last wrote the row: one already under way judged the
        // world before the row changed.
        let judged = rows.iter().filter_map(|r| r.updated_at).fold(row.since, Timestamp::max);
        if times.rest.is_none_or(|taken| taken <= judged) {
            plan.skipped.push((
                row.key.clone(),
                Skip::NotFresh {
                    rest_taken_at: times.rest,
                },
            ));
            continue;
        }
        // The stream is the authority (and REST agreed, or the state would be drift).
        let target = row.ws.believed().unwrap_or(Decimal::ZERO);
        let adopting = match row.state {
            State::DbMissing => true,
            State::DbMismatch => adopts(row.db.believed().unwrap_or(Decimal::ZERO), target),
            _ => false,
        };
        match holds.get(row.key.symbol.as_str()) {
            Some(h @ RuleHold::Pending) => {
                plan.skipped.push((row.key.clone(), Skip::RuleHolds(*h)));
                continue;
            }
            Some(h) if adopting => {
                plan.skipped.push((row.key.clone(), Skip::RuleHolds(*h)));
                continue;
            }
            _ => {}
        }
        if adopting && row.state == State::DbMismatch && !policy.adopt {
            plan.skipped.push((row.key.clone(), Skip::Unexplained));
            continue;
        }
        let ev = evidence(row, times);
        match row.state {
            State::DbStale => {
                let (op, mark_price) = match policy.stale {
                    StaleFix::AlertOnly => {
                        plan.skipped.push((row.key.clone(), Skip::AlertOnly));
                        continue;
                    }
                    StaleFix::Delete => (Op::Deleted, None),
                    StaleFix::Close => match exchange.marks.get(&row.key.symbol) {
                        Some(p) => (Op::Closed, Some(*p)),
                        None => {
                            plan.skipped.push((row.key.clone(), Skip::NoMarkPrice));
                            continue;
                        }
                    },
                };
                // A row that claims nothing (an entry not filled yet) is not stale.
                for r in rows.into_iter().filter(|r| !r.size.is_zero()) {
                    plan.corrections.push(Correction {
                        op,
                        key: row.key.clone(),
                        row: Some(r.clone()),
                        target: None,
                        entry_price: None,
                        mark_price,
                        evidence: ev.clone(),
                    });
                }
            }
            State::DbMismatch if !policy.resize => plan.skipped.push((row.key.clone(), Skip::AlertOnly)),
            State::DbMismatch if rows.len() == 1 => plan.corrections.push(Correction {
                op: Op::Updated,
                key: row.key.clone(),
                row: Some(rows[0].clone()),
                target: Some(target),
                entry_price: None,
                mark_price: None,
                evidence: ev,
            }),
            State::DbMismatch => plan
                .skipped
                .push((row.key.clone(), Skip::Ambiguous { rows: rows.len() })),
            State::DbMissing if !policy.insert => plan.skipped.push((row.key.clone(), Skip::InsertsOff)),
            State::DbMissing
                if policy
                    .mapped_symbols
                    .as_ref()
                    .is_some_and(|m| !m.contains(row.key.symbol.as_str())) =>
            {
                plan.skipped.push((row.key.clone(), Skip::UnmappedSymbol))
            }
            State::DbMissing => plan.corrections.push(Correction {
                op: Op::Created,
                key: row.key.clone(),
                row: None,
                target: Some(target),
                entry_price: exchange.positions.get(&row.key).and_then(|p| p.entry_price),
                mark_price: None,
                evidence: ev,
            }),
            _ => {}
        }
    }
    let n = plan.corrections.len();
    if n > policy.max_rows {
        plan.refused = Some(format!(
            "mass-change guard: {n} rows to change in one cycle, more than max_rows {}",
            policy.max_rows
        ));
    } else if let Some(f) = policy.max_fraction {
        let table = Decimal::from(db.rows.len().max(1));
        if Decimal::from(n) > f * table {
            plan.refused = Some(format!(
                "mass-change guard: {n} of {} rows to change in one cycle, more than max_fraction {f}",
                db.rows.len()
            ));
        }
    }
    plan
}

#[cfg(test)]
mod tests;
