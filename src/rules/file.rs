//! Rule files: strict YAML in, a [`RuleSet`] out, every error as
//! `file:line:col: message` (the same machinery as the config).
//!
//! ```yaml
//! groups:
//!   eth_sol: [ETH, SOL]
//! rules:
//!   - id: sol-residual
//!     description: The exchange holds what the bot's database does not.
//!     scope: {venues: [pacifica], groups: [eth_sol]}
//!     condition:
//!       untracked_position: {notional_usd: 50}
//!     for: 60s
//!     cooldown: 15m
//!     severity: critical
//!     actions: [alert, reduce_to_bot]
//! ```

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::time::Duration;

use rust_decimal::Decimal;
use serde::Deserialize;

use super::{Action, Condition, DriftPair, Rule, RuleSet, Scope, Severity, Threshold};
use crate::config::duration::Dur;
use crate::config::error::ConfigError;
use crate::config::position::PositionIndex;
use crate::domain::{Leg, PositionKey, Source, Symbol};

/// A rule-file problem, located.
pub type RuleError = ConfigError;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawFile {
    #[serde(default)]
    groups: BTreeMap<String, Vec<String>>,
    #[serde(default)]
    rules: Vec<RawRule>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawRule {
    id: String,
    #[serde(default)]
    description: String,
    #[serde(default)]
    scope: RawScope,
    condition: RawCondition,
    #[serde(rename = "for")]
    hold: Option<Dur>,
    cooldown: Option<Dur>,
    severity: Severity,
    actions: Vec<Action>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawScope {
    #[serde(default)]
    venues: Vec<String>,
    #[serde(default)]
    accounts: Vec<String>,
    #[serde(default)]
    symbols: Vec<String>,
    #[serde(default)]
    groups: Vec<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawThreshold {
    size: Option<Decimal>,
    notional_usd: Option<Decimal>,
}

#[derive(Debug, Deserialize, Clone, Copy)]
#[serde(rename_all = "snake_case")]
enum RawPair {
    WsRest,
    ExchangeDb,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawDrift {
    pair: RawPair,
    size: Option<Decimal>,
    notional_usd: Option<Decimal>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawEmpty {}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawNet {
    group: String,
    above_usd: Decimal,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawStale {
    source: Source,
    longer_than: Dur,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawCondition {
    drift: Option<RawDrift>,
    untracked_position: Option<RawThreshold>,
    stale_db_row: Option<RawEmpty>,
    position_limit: Option<RawThreshold>,
    net_exposure: Option<RawNet>,
    stale_source: Option<RawStale>,
}

struct Checker<'a> {
    file: &'a str,
    index: PositionIndex,
    errors: Vec<RuleError>,
}

impl Checker<'_> {
    fn error(&mut self, path: &str, message: impl Into<String>) {
        let pos = self.index.find(path);
        self.errors.push(ConfigError {
            file: self.file.to_owned(),
            line: pos.line,
            col: pos.col,
            message: format!("{path}: {}", message.into()),
        });
    }

    fn threshold(&mut self, path: &str, size: Option<Decimal>, notional: Option<Decimal>) -> Option<Threshold> {
        let t = match (size, notional) {
            (Some(s), None) => Threshold::Size(s),
            (None, Some(n)) => Threshold::NotionalUsd(n),
            _ => {
                self.error(path, "give exactly one of `size` (base units) or `notional_usd`");
                return None;
            }
        };
        let (Threshold::Size(v) | Threshold::NotionalUsd(v)) = t;
        if v.is_sign_negative() {
            self.error(path, "a threshold cannot be negative");
            return None;
        }
        Some(t)
    }
}

/// Compiles one rule file.
pub fn compile(text: &str, path: &Path) -> Result<RuleSet, Vec<RuleError>> {
    let file = path.display().to_string();
    let raw: RawFile = crate::config::recover::parse_all(text, &file)?;
    let mut c = Checker {
        file: &file,
        index: PositionIndex::build(text),
        errors: Vec::new(),
    };
    let mut groups: BTreeMap<String, BTreeSet<Symbol>> = BTreeMap::new();
    for (name, members) in &raw.groups {
        if members.is_empty() {
            c.error(&format!("groups.{name}"), "a group needs at least one symbol");
        }
        if PositionKey::split(name).1 != Leg::Net {
            c.error(
                &format!("groups.{name}"),
                "a group's name cannot end in :long, :short or :isolated (it would read as a hedge leg)",
            );
        }
        groups.insert(name.clone(), members.iter().map(|m| Symbol::new(m)).collect());
    }
    let mut rules = Vec::new();
    let mut ids = BTreeSet::new();
    for (i, r) in raw.rules.into_iter().enumerate() {
        let p = format!("rules[{i}]");
        let id_ok = !r.id.is_empty()
            && r.id
                .chars()
                .all(|ch| ch.is_ascii_lowercase() || ch.is_ascii_digit() || ch == '-' || ch == '_');
        if !id_ok {
            c.error(
                &format!("{p}.id"),
                format!("invalid rule id {:?}: use lowercase letters, digits, '-' and '_'", r.id),
            );
        } else if !ids.insert(r.id.clone()) {
            c.error(&format!("{p}.id"), format!("duplicate rule id {:?}", r.id));
        }
        let mut symbols: BTreeSet<String> = r.scope.symbols.iter().cloned().collect();
        for (gi, g) in r.scope.groups.iter().enumerate() {
            match groups.get(g) {
                Some(members) => symbols.extend(members.iter().map(Symbol::to_string)),
                None => c.error(&format!("{p}.scope.groups[{gi}]"), format!("unknown group {g:?}")),
            }
        }
        let cond = &r.condition;
        let given = [
            cond.drift.is_some(),
            cond.untracked_position.is_some(),
            cond.stale_db_row.is_some(),
            cond.position_limit.is_some(),
            cond.net_exposure.is_some(),
            cond.stale_source.is_some(),
        ]
        .iter()
        .filter(|b| **b)
        .count();
        let cp = format!("{p}.condition");
        let condition = if given != 1 {
            c.error(
                &cp,
                "give exactly one condition: drift, untracked_position, stale_db_row, position_limit, net_exposure or stale_source",
            );
            None
        } else if let Some(d) = &cond.drift {
            c.threshold(&format!("{cp}.drift"), d.size, d.notional_usd)
                .map(|above| Condition::Drift {
                    pair: match d.pair {
                        RawPair::WsRest => DriftPair::WsRest,
                        RawPair::ExchangeDb => DriftPair::ExchangeDb,
                    },
                    above,
                })
        } else if let Some(t) = &cond.untracked_position {
            c.threshold(&format!("{cp}.untracked_position"), t.size, t.notional_usd)
                .map(|above| Condition::UntrackedPosition { above })
        } else if cond.stale_db_row.is_some() {
            Some(Condition::StaleDbRow)
        } else if let Some(t) = &cond.position_limit {
            c.threshold(&format!("{cp}.position_limit"), t.size, t.notional_usd)
                .map(|above| Condition::PositionLimit { above })
        } else if let Some(n) = &cond.net_exposure {
            if !groups.contains_key(&n.group) {
                c.error(
                    &format!("{cp}.net_exposure.group"),
                    format!("unknown group {:?}", n.group),
                );
            }
            Some(Condition::NetExposure {
                group: n.group.clone(),
                above_usd: n.above_usd,
            })
        } else {
            cond.stale_source.as_ref().map(|s| Condition::StaleSource {
                source: s.source,
                longer_than: s.longer_than.0,
            })
        };
        if r.actions.is_empty() {
            c.error(&format!("{p}.actions"), "a rule needs at least one action");
        }
        let mut seen = BTreeSet::new();
        for (ai, a) in r.actions.iter().enumerate() {
            let ap = format!("{p}.actions[{ai}]");
            if !seen.insert(*a) {
                c.error(&ap, format!("{} is listed twice", a.as_str()));
            }
            let contradiction = match (a, &condition) {
                (Action::ReduceToBot, Some(c)) if !matches!(c, Condition::UntrackedPosition { .. } | Condition::NetExposure { .. }) => {
                    Some("reduce_to_bot needs a condition about what the bot's DB explains (untracked_position or net_exposure)")
                }
                (Action::ClosePosition | Action::ReduceToBot, Some(Condition::StaleDbRow)) => {
                    Some("there is no exchange position to close when the DB row is stale; use correct_db")
                }
                (Action::ClosePosition | Action::ReduceToBot, Some(Condition::StaleSource { .. })) => {
                    Some("never close on a stale source: nothing about it can be trusted")
                }
                (Action::ClosePosition, Some(Condition::Drift { pair: DriftPair::WsRest, .. })) => {
                    Some("stream drift means the exchange's own views disagree; resync, do not close")
                }
                _ => None,
            };
            if let Some(m) = contradiction {
                c.error(&ap, m);
            }
            if *a == Action::ReduceToBot && seen.contains(&Action::ClosePosition)
                || *a == Action::ClosePosition && seen.contains(&Action::ReduceToBot)
            {
                c.error(
                    &ap,
                    "close_position and reduce_to_bot contradict each other; choose one",
                );
            }
        }
        if let (Some(condition), true) = (condition, c.errors.is_empty()) {
            rules.push(Rule {
                id: r.id,
                description: r.description,
                scope: Scope {
                    venues: r.scope.venues.into_iter().collect(),
                    accounts: r.scope.accounts.into_iter().collect(),
                    symbols,
                },
                condition,
                hold: r.hold.map_or(Duration::ZERO, |d| d.0),
                cooldown: r.cooldown.map_or(Duration::from_secs(600), |d| d.0),
                severity: r.severity,
                actions: r.actions,
            });
        }
    }
    if c.errors.is_empty() {
        Ok(RuleSet { rules, groups })
    } else {
        c.errors.sort_by_key(|e| (e.line, e.col));
        Err(c.errors)
    }
}

/// Compiles several files into one set (ids unique across files; groups
/// shared). Every file's errors are reported.
pub fn compile_files(paths: &[std::path::PathBuf]) -> Result<RuleSet, Vec<RuleError>> {
    let mut set = RuleSet::default();
    let mut errors = Vec::new();
    for path in paths {
        let text = match std::fs::read_to_string(path) {
            Ok(t) => t,
            Err(e) => {
                errors.push(ConfigError {
                    file: path.display().to_string(),
                    line: 1,
                    col: 1,
                    message: format!("cannot read: {e}"),
                });
                continue;
            }
        };
        match compile(&text, path) {
            Ok(s) => {
                for r in s.rules {
                    if set.rules.iter().any(|x| x.id == r.id) {
                        errors.push(ConfigError {
                            file: path.display().to_string(),
                            line: 1,
                            col: 1,
                            message: format!("rule id {:?} is also defined in another file", r.id),
                        });
                    } else {
                        set.rules.push(r);
                    }
                }
                set.groups.extend(s.groups);
            }
            Err(e) => errors.extend(e),
        }
    }
    if errors.is_empty() {
        Ok(set)
    } else {
        Err(errors)
    }
}

/// The `*.yaml` rule files of a directory (test files, `*_test.yaml`, excluded), sorted.
pub fn rule_files(dir: &Path) -> std::io::Result<Vec<std::path::PathBuf>> {
    let mut files: Vec<std::path::PathBuf> = std::fs::read_dir(dir)?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| {
            let name = p.file_name().and_then(|n| n.to_str()).unwrap_or("");
            (name.ends_with(".yaml") || name.ends_with(".yml")) && !name.contains("_test.")
        })
        .collect();
    files.sort();
    Ok(files)
}
