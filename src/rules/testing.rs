//! Rule unit tests, like `promtool test rules`: a timeline of exchange and
//! DB states in, the expected decisions out. The timeline goes through the
//! real pipeline (stream view, REST, DB, reconcile, rules) with `now` set by
//! the test; nothing touches a clock, a socket or a database.
//!
//! ```yaml
//! rule_files: [default.yaml]          # relative to this file
//! tests:
//!   - name: a SOL residual is trimmed after its hold
//!     marks: {SOL: "125"}
//!     steps:
//!       - {at: 0s, exchange: {SOL: "0.5"}, db: {}}
//!       - {at: 30s}
//!       - {at: 60s}
//!     expect:
//!       - {at: 60s, rule: untracked-position, action: alert, subject: SOL}
//!       - {at: 60s, rule: untracked-position, action: reduce_to_bot, subject: SOL}
//! ```
//! At every step the state is evaluated; the decisions at each step must be
//! exactly those expected at that time (none, if none are listed).

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::time::Duration;

use rust_decimal::Decimal;
use serde::Deserialize;

use super::{AccountState, Engine, RuleSet};
use crate::config::duration::Dur;
use crate::domain::{DbRow, DbSnapshot, Position, PositionKey, Source, Symbol, Timestamp};
use crate::reconcile::{AccountInputs, Policy, Polled, Reconciler};
use crate::sorted::SortedMap;
use crate::venue::types::{RestSnapshot, StreamEvent, StreamStyle};
use crate::view::StreamView;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawTestFile {
    rule_files: Vec<PathBuf>,
    tests: Vec<RawTest>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawTest {
    name: String,
    #[serde(default = "default_venue")]
    venue: String,
    #[serde(default = "default_account")]
    account: String,
    #[serde(default)]
    marks: BTreeMap<Symbol, Decimal>,
    steps: Vec<RawStep>,
    #[serde(default)]
    expect: Vec<Expected>,
}

fn default_venue() -> String {
    "pacifica".into()
}

fn default_account() -> String {
    "main".into()
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawStep {
    at: Dur,
    /// Signed sizes on the exchange (stream and REST agree), if changed.
    exchange: Option<BTreeMap<String, Decimal>>,
    /// REST alone says this (to script disagreement), if given.
    rest: Option<BTreeMap<String, Decimal>>,
    /// The bot's DB, if changed.
    db: Option<BTreeMap<String, Decimal>>,
    /// Sources failing from this step on (an empty list restores them).
    failing: Option<Vec<Source>>,
}

#[derive(Debug, Clone, Deserialize, PartialEq, Eq, PartialOrd, Ord)]
#[serde(deny_unknown_fields)]
struct Expected {
    at: Dur,
    rule: String,
    action: String,
    subject: String,
}

/// The result of one test file.
#[derive(Debug, Default)]
pub struct Outcome {
    pub passed: usize,
    pub failed: usize,
    /// Human-readable report (PASS/FAIL lines and diffs).
    pub report: String,
}

fn positions(map: &BTreeMap<String, Decimal>) -> Vec<Position> {
    map.iter()
        .filter(|(_, s)| !s.is_zero())
        .map(|(sym, s)| Position {
            key: PositionKey::net(sym),
            size: *s,
            entry_price: None,
        })
        .collect()
}

/// Runs one test file. `Err` holds located errors (exit 2 territory).
pub fn run_file(path: &Path) -> Result<Outcome, Vec<String>> {
    let text = std::fs::read_to_string(path).map_err(|e| vec![format!("{}: cannot read: {e}", path.display())])?;
    let file = path.display().to_string();
    let raw: RawTestFile = crate::config::recover::parse_all(&text, &file)
        .map_err(|errors| errors.iter().map(ToString::to_string).collect::<Vec<_>>())?;
    let base = path.parent().unwrap_or(Path::new("."));
    let rule_paths: Vec<PathBuf> = raw.rule_files.iter().map(|p| base.join(p)).collect();
    let rules =
        super::compile_files(&rule_paths).map_err(|es| es.iter().map(ToString::to_string).collect::<Vec<_>>())?;
    let mut out = Outcome::default();
    for t in &raw.tests {
        let diff = run_test(&rules, t);
        if diff.is_empty() {
            out.passed += 1;
            out.report.push_str(&format!("  PASS  {}\n", t.name));
        } else {
            out.failed += 1;
            out.report.push_str(&format!("  FAIL  {}\n{diff}", t.name));
        }
    }
    Ok(out)
}

fn run_test(rules: &RuleSet, t: &RawTest) -> String {
    let policy = Policy {
        confirm_polls: 1,
        confirm_after: Duration::ZERO,
        rest_stale_after: Duration::from_secs(u32::MAX as u64),
        db_stale_after: Duration::from_secs(u32::MAX as u64),
        stream_silence_after: Duration::from_secs(u32::MAX as u64),
        rest_answer_within: Duration::from_secs(10),
    };
    let mut view = StreamView::new(StreamStyle::FullSnapshots);
    let mut rest: Polled<RestSnapshot> = Polled::default();
    let mut db: Polled<DbSnapshot> = Polled::default();
    let mut reconciler = Reconciler::new();
    let mut engine = Engine::new();
    let lots = SortedMap::new();
    let marks: SortedMap<Symbol, Decimal> = t.marks.iter().map(|(s, m)| (s.clone(), *m)).collect();
    let mut exchange: BTreeMap<String, Decimal> = BTreeMap::new();
    let mut rest_override: Option<BTreeMap<String, Decimal>> = None;
    let mut db_rows: BTreeMap<String, Decimal> = BTreeMap::new();
    let mut failing: BTreeSet<Source> = BTreeSet::new();
    let mut got: Vec<Expected> = Vec::new();
    let mut times: Vec<Duration> = Vec::new();
    view.apply(&StreamEvent::Connected, Timestamp(0));
    for (i, step) in t.steps.iter().enumerate() {
        let now = Timestamp(step.at.0.as_millis() as i64);
        times.push(step.at.0);
        if let Some(e) = &step.exchange {
            exchange = e.clone();
        }
        if let Some(r) = &step.rest {
            rest_override = Some(r.clone());
        }
        if let Some(d) = &step.db {
            db_rows = d.clone();
        }
        if let Some(f) = &step.failing {
            failing = f.iter().copied().collect();
        }
        if failing.contains(&Source::Ws) {
            view.apply(&StreamEvent::Disconnected { reason: "test".into() }, now);
        } else {
            if view.link() == crate::view::Link::Down {
                view.apply(&StreamEvent::Connected, now);
            }
            view.apply(
                &StreamEvent::Snapshot {
                    positions: positions(&exchange),
                    seq: Some(i as u64 + 1),
                },
                now,
            );
        }
        let rest_snap = RestSnapshot {
            positions: positions(rest_override.as_ref().unwrap_or(&exchange)),
            seq: Some(i as u64 + 1),
        };
        if failing.contains(&Source::Rest) {
            rest.failed("test: failing", now);
        } else {
            view.verify_with_rest(&rest_snap, |_| None, now);
            rest.succeeded(rest_snap, now);
        }
        if failing.contains(&Source::Db) {
            db.failed("test: failing", now);
        } else {
            let rows = db_rows
                .iter()
                .map(|(sym, size)| DbRow {
                    row_key: sym.clone(),
                    key: PositionKey::net(sym),
                    size: *size,
                    side_word: None,
                    amount: *size,
                    updated_at: None,
                    busy: false,
                })
                .collect();
            db.succeeded(
                DbSnapshot {
                    rows,
                    unmapped: Vec::new(),
                },
                now,
            );
        }
        let report = reconciler.reconcile(
            0,
            &AccountInputs {
                view: &view,
                rest: &rest,
                db: &db,
                lot_sizes: &lots,
            },
            &policy,
            now,
        );
        let account = AccountState {
            venue: &t.venue,
            account: &t.account,
            report: &report,
            marks: &marks,
        };
        for d in engine.evaluate(rules, &[account], now) {
            got.push(Expected {
                at: step.at,
                rule: d.rule,
                action: d.action.as_str().to_owned(),
                subject: d.subject,
            });
        }
    }
    let mut want = t.expect.clone();
    want.sort();
    got.sort();
    let mut diff = String::new();
    for w in &want {
        if !times.contains(&w.at.0) {
            diff.push_str(&format!(
                "        expected at {} but there is no step at that time\n",
                w.at
            ));
        }
    }
    for w in want.iter().filter(|w| !got.contains(w)) {
        diff.push_str(&format!(
            "      - expected at {}: {} {} {}\n",
            w.at, w.rule, w.action, w.subject
        ));
    }
    for g in got.iter().filter(|g| !want.contains(g)) {
        diff.push_str(&format!(
            "      + got      at {}: {} {} {}\n",
            g.at, g.rule, g.action, g.subject
        ));
    }
    diff
}
