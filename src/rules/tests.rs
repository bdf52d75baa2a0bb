use std::path::Path;
use std::str::FromStr;

use super::*;
use crate::sorted::SortedMap;

fn d(s: &str) -> Decimal {
    Decimal::from_str(s).unwrap()
}

fn errors(text: &str) -> Vec<String> {
    match compile(text, Path::new("r.yaml")) {
        Ok(_) => vec![],
        Err(e) => e.iter().map(ToString::to_string).collect(),
    }
}

const GOOD: &str = "groups:
  eth_sol: [ETH, SOL]
rules:
  - id: sol-residual
    description: The exchange holds what the bot's DB does not.
    scope: {groups: [eth_sol]}
    condition:
      untracked_position: {notional_usd: 50}
    for: 60s
    cooldown: 15m
    severity: critical
    actions: [alert, reduce_to_bot]
";

#[test]
fn a_good_file_compiles() {
    let set = compile(GOOD, Path::new("r.yaml")).unwrap();
    let r = &set.rules[0];
    assert_eq!(r.id, "sol-residual");
    assert_eq!(r.hold, Duration::from_secs(60));
    assert_eq!(r.cooldown, Duration::from_secs(900));
    assert_eq!(
        r.condition,
        Condition::UntrackedPosition {
            above: Threshold::NotionalUsd(d("50"))
        }
    );
    assert_eq!(r.scope.symbols.len(), 2);
    assert_eq!(r.actions, vec![Action::Alert, Action::ReduceToBot]);
}

#[test]
fn every_kind_of_mistake_is_rejected_with_its_location() {
    let cases: Vec<(String, Vec<&str>)> = vec![
        (GOOD.replace("condition:", "conditon:"), vec!["r.yaml:7:5: rules[0]: unknown field `conditon`, expected one of `id`, `description`, `scope`, `condition`, `for`, `cooldown`, `severity`, `actions`"]),
        (GOOD.replace("severity: critical", "severity: urgent"), vec!["r.yaml:11:15: rules[0].severity: unknown variant `urgent`, expected one of `info`, `warning`, `critical`"]),
        (GOOD.replace("[alert, reduce_to_bot]", "[alert, panic]"), vec!["r.yaml:12:22: rules[0].actions[1]: unknown variant `panic`, expected one of `alert`, `correct_db`, `resync`, `reduce_to_bot`, `close_position`"]),
        (GOOD.replace("for: 60s", "for: soon"), vec!["r.yaml:9:10: rules[0].for: invalid duration \"soon\": expected a number and a unit (ms, s, m, h, d), e.g. \"5s\""]),
        (GOOD.replace("{notional_usd: 50}", "{notional_usd: 50, size: 1}"), vec!["r.yaml:8:7: rules[0].condition.untracked_position: give exactly one of `size` (base units) or `notional_usd`"]),
        (GOOD.replace("groups: [eth_sol]", "groups: [btc_eth]"), vec!["r.yaml:6:22: rules[0].scope.groups[0]: unknown group \"btc_eth\""]),
        (GOOD.replace("id: sol-residual", "id: Sol Residual"), vec!["r.yaml:4:9: rules[0].id: invalid rule id \"Sol Residual\": use lowercase letters, digits, '-' and '_'"]),
        (GOOD.replace("untracked_position: {notional_usd: 50}", "stale_db_row: {}"), vec!["r.yaml:12:22: rules[0].actions[1]: reduce_to_bot needs a condition about what the bot's DB explains (untracked_position or net_exposure)"]),
        (GOOD.replace("[alert, reduce_to_bot]", "[alert, reduce_to_bot, close_position]"), vec!["r.yaml:12:37: rules[0].actions[2]: close_position and reduce_to_bot contradict each other; choose one"]),
        (GOOD.replace("untracked_position: {notional_usd: 50}", "drift: {pair: ws_rest, size: 0.1}").replace("reduce_to_bot", "close_position"), vec!["r.yaml:12:22: rules[0].actions[1]: stream drift means the exchange's own views disagree; resync, do not close"]),
        (GOOD.replace("untracked_position: {notional_usd: 50}", "untracked_position: {notional_usd: 50}\n      stale_db_row: {}"), vec!["r.yaml:7:5: rules[0].condition: give exactly one condition: drift, untracked_position, stale_db_row, position_limit, net_exposure or stale_source"]),
        (format!("{GOOD}  - id: sol-residual\n    condition: {{stale_db_row: {{}}}}\n    severity: info\n    actions: [alert]\n"), vec!["r.yaml:13:9: rules[1].id: duplicate rule id \"sol-residual\""]),
        (GOOD.replace("actions: [alert, reduce_to_bot]", "actions: []"), vec!["r.yaml:12:5: rules[0].actions: a rule needs at least one action"]),
        (GOOD.replace("eth_sol", "eth_sol:long"), vec!["r.yaml:2:3: groups.eth_sol:long: a group's name cannot end in :long, :short or :isolated (it would read as a hedge leg)"]),
    ];
    for (text, want) in cases {
        assert_eq!(errors(&text), want, "\n{text}");
    }
}

/// Issue [operator] part 1: a rule with a bad `for`, a bad severity and an
/// unknown action is told all three, in file order.
#[test]
fn every_structural_mistake_of_a_file_is_reported_at_once() {
    let text = GOOD
        .replace("for: 60s", "for: soon")
        .replace("severity: critical", "severity: urgent")
        .replace("[alert, reduce_to_bot]", "[alert, panic]");
    let e = errors(&text);
    let at: Vec<&str> = e.iter().map(|m| m.split(": ").next().unwrap()).collect();
    assert_eq!(at, ["r.yaml:9:10", "r.yaml:11:15", "r.yaml:12:22"], "{e:#?}");
}

mod focus {
    use super::*;
    use crate::reconcile::fixtures::agreeing as report;

    const LIMIT: &str = "rules:
  - id: limit
    condition: {position_limit: {size: 0.5}}
    cooldown: 1h
    severity: warning
    actions: [alert]
";

    fn evaluate(engine: &mut Engine, rules: &RuleSet, r: &AccountReport, at: i64, focus: &[&str]) -> Vec<String> {
        evaluate_at(engine, rules, r, &SortedMap::new(), at, focus)
    }

    /// [`evaluate`] with mark prices.
    fn evaluate_at(
        engine: &mut Engine,
        rules: &RuleSet,
        r: &AccountReport,
        marks: &SortedMap<Symbol, Decimal>,
        at: i64,
        focus: &[&str],
    ) -> Vec<String> {
        let state = AccountState {
            venue: "pacifica",
            account: "main",
            report: r,
            marks,
        };
        let mut symbols: Vec<Symbol> = focus.iter().map(|s| Symbol::new(s)).collect();
        symbols.sort_unstable();
        symbols.dedup();
        let focus = (!focus.is_empty()).then_some(Focus {
            account: "main",
            symbols: &symbols,
        });
        engine
            .evaluate_focused(rules, &[state], Timestamp(at), focus)
            .into_iter()
            .map(|d| d.subject)
            .collect()
    }

    /// Issue [binance] part 2: each hedge leg is its own subject (one
    /// condition, decision and alert per leg), a focus on the symbol clears a
    /// leg's alert, and a group's exposure nets both legs.
    #[test]
    fn hedge_legs_are_subjects_of_their_own() {
        use crate::domain::Leg;
        let rules = compile(LIMIT, Path::new("r.yaml")).unwrap();
        let mut engine = Engine::new();
        let mut r = report(&[("SOL", "1"), ("SOL", "-2")]);
        r.rows[0].key.leg = Leg::Long;
        r.rows[1].key.leg = Leg::Short;
        assert_eq!(evaluate(&mut engine, &rules, &r, 1, &[]), ["SOL:long", "SOL:short"]);
        // The long leg closed; a focus on SOL (its frame) clears its alert.
        let mut short_only = r.clone();
        short_only.rows.remove(0);
        assert!(evaluate(&mut engine, &rules, &short_only, 2, &["SOL"]).is_empty());
        let cleared: Vec<String> = engine.take_cleared().into_iter().map(|c| c.subject).collect();
        assert_eq!(cleared, ["SOL:long"]);
        // A pair's exposure counts both legs: long 1 ETH at 150, long 1 and
        // short 2 SOL at 100, net +50 USD (one leg alone: 250 or -50).
        let exposure = compile(
            "groups:\n  pair: [ETH, SOL]\nrules:\n  - id: neutral\n    condition: {net_exposure: {group: pair, above_usd: 40}}\n    severity: warning\n    actions: [alert]\n",
            Path::new("r.yaml"),
        )
        .unwrap();
        let mut pair = report(&[("ETH", "1"), ("SOL", "1"), ("SOL", "-2")]);
        pair.rows[1].key.leg = Leg::Long;
        pair.rows[2].key.leg = Leg::Short;
        let marks: SortedMap<Symbol, Decimal> = [(Symbol::new("ETH"), d("150")), (Symbol::new("SOL"), d("100"))].into();
        let state = AccountState {
            venue: "binance",
            account: "main",
            report: &pair,
            marks: &marks,
        };
        let decided = Engine::new().evaluate(&exposure, &[state], Timestamp(1));
        assert_eq!(decided.len(), 1);
        assert_eq!(decided[0].reason, "neutral: net exposure 50 USD");
    }

    /// A group's exposure is evaluated when one of its members is in focus;
    /// a frame about another symbol leaves its condition as it was.
    #[test]
    fn a_focus_elsewhere_leaves_a_groups_exposure_alone() {
        let rules = compile(
            "groups:\n  pair: [ETH, SOL]\nrules:\n  - id: neutral\n    condition: {net_exposure: {group: pair, above_usd: 40}}\n    severity: warning\n    actions: [alert]\n",
            Path::new("r.yaml"),
        )
        .unwrap();
        let marks: SortedMap<Symbol, Decimal> = [
            (Symbol::new("ETH"), d("100")),
            (Symbol::new("SOL"), d("100")),
            (Symbol::new("BTC"), d("100")),
        ]
        .into();
        let mut engine = Engine::new();
        let run = |engine: &mut Engine, r: &AccountReport, at: i64, focus: &[&str]| {
            evaluate_at(engine, &rules, r, &marks, at, focus).len()
        };
        let long = report(&[("BTC", "1"), ("ETH", "1")]);
        assert_eq!(run(&mut engine, &long, 1, &[]), 1, "exposure 100 > 40 fires");
        // The pair is neutral now, but the frame was about BTC: nothing clears.
        let neutral = report(&[("BTC", "2"), ("ETH", "1"), ("SOL", "-1")]);
        run(&mut engine, &neutral, 2, &["BTC"]);
        assert!(engine.take_cleared().is_empty());
        // A frame about SOL: the exposure is looked at again, and clears.
        run(&mut engine, &neutral, 3, &["SOL"]);
        let cleared: Vec<String> = engine.take_cleared().into_iter().map(|c| c.subject).collect();
        assert_eq!(cleared, ["pair"]);
    }

    #[test]
    fn a_focused_evaluation_leaves_other_symbols_as_they_were() {
        let rules = compile(LIMIT, Path::new("r.yaml")).unwrap();
        let mut engine = Engine::new();
        let both = report(&[("BTC", "1"), ("ETH", "1")]);
        assert_eq!(evaluate(&mut engine, &rules, &both, 1, &[]), ["BTC", "ETH"]);
        // BTC went flat, but only ETH is in focus: BTC's alert is not cleared
        // (the next full evaluation decides), ETH stays in its cooldown.
        let eth_only = report(&[("ETH", "1")]);
        assert!(evaluate(&mut engine, &rules, &eth_only, 2, &["ETH"]).is_empty());
        assert!(engine.take_cleared().is_empty());
        // Focused on BTC: its condition is gone and its alert resolves.
        assert!(evaluate(&mut engine, &rules, &eth_only, 3, &["BTC"]).is_empty());
        let cleared: Vec<String> = engine.take_cleared().into_iter().map(|c| c.subject).collect();
        assert_eq!(cleared, ["BTC"]);
        // A symbol that starts breaking the rule fires when it is in focus.
        let sol = report(&[("ETH", "1"), ("SOL", "2")]);
        assert_eq!(evaluate(&mut engine, &rules, &sol, 4, &["SOL"]), ["SOL"]);
    }

    #[test]
    fn a_cooldown_outlives_the_condition_and_a_restart() {
        let rules = compile(LIMIT, Path::new("r.yaml")).unwrap();
        let mut engine = Engine::new();
        let over = report(&[("BTC", "1")]);
        let flat = report(&[]);
        assert_eq!(evaluate(&mut engine, &rules, &over, 0, &[]), ["BTC"]);
        let fired = engine.take_fired();
        assert_eq!(fired.len(), 1);
        assert_eq!((fired[0].subject.as_str(), fired[0].at), ("BTC", Timestamp(0)));
        // The condition clears (or a source merely goes untrusted) and comes back:
        // still inside the hour's cooldown, nothing fires.
        assert!(evaluate(&mut engine, &rules, &flat, 60_000, &[]).is_empty());
        assert!(evaluate(&mut engine, &rules, &over, 240_000, &[]).is_empty());
        // A restart that restores the journaled firings keeps the cooldown too.
        let mut restarted = Engine::new();
        restarted.restore(fired);
        assert!(evaluate(&mut restarted, &rules, &over, 300_000, &[]).is_empty());
        assert!(restarted.take_fired().is_empty());
        // After the cooldown it fires again.
        assert_eq!(evaluate(&mut restarted, &rules, &over, 3_600_001, &[]), ["BTC"]);
    }

    #[test]
    fn holds_say_pending_until_the_rule_fires_and_fired_while_it_cools_down() {
        let rules = compile(
            "rules:\n  - id: stale\n    condition: {position_limit: {size: 0.5}}\n    for: 2m\n    cooldown: 30m\n    severity: warning\n    actions: [alert]\n",
            Path::new("r.yaml"),
        )
        .unwrap();
        let mut engine = Engine::new();
        let over = report(&[("BTC", "1")]);
        assert!(evaluate(&mut engine, &rules, &over, 0, &[]).is_empty());
        assert_eq!(
            engine.holds(&rules, "main", Timestamp(0)).get("BTC"),
            Some(&RuleHold::Pending)
        );
        assert_eq!(evaluate(&mut engine, &rules, &over, 120_000, &[]), ["BTC"]);
        assert_eq!(
            engine.holds(&rules, "main", Timestamp(120_000)).get("BTC"),
            Some(&RuleHold::Fired)
        );
        // Cleared and back within the cooldown: pending for its `for`, then
        // counted as spoken for (it will not fire again until the cooldown ends).
        evaluate(&mut engine, &rules, &report(&[]), 130_000, &[]);
        evaluate(&mut engine, &rules, &over, 140_000, &[]);
        assert_eq!(
            engine.holds(&rules, "main", Timestamp(140_000)).get("BTC"),
            Some(&RuleHold::Pending)
        );
        assert!(evaluate(&mut engine, &rules, &over, 260_000, &[]).is_empty());
        assert_eq!(
            engine.holds(&rules, "main", Timestamp(260_000)).get("BTC"),
            Some(&RuleHold::Fired)
        );
        assert!(engine.holds(&rules, "other", Timestamp(260_000)).is_empty());
    }

    #[test]
    fn a_rule_whose_close_failed_fires_again_when_the_back_off_ends() {
        let rules = compile(LIMIT, Path::new("r.yaml")).unwrap();
        let mut engine = Engine::new();
        let over = report(&[("BTC", "1"), ("ETH", "1")]);
        assert_eq!(evaluate(&mut engine, &rules, &over, 0, &[]), ["BTC", "ETH"]);
        // BTC's close failed at 1 s; the caller backs off until 3 s.
        engine.retry_at(&rules, "limit", "main", "BTC", Timestamp(3_000));
        // Not before (no decision at every evaluation meanwhile)...
        assert!(evaluate(&mut engine, &rules, &over, 2_000, &[]).is_empty());
        assert!(evaluate(&mut engine, &rules, &over, 2_999, &[]).is_empty());
        // ...then once; ETH stays in its hour's cooldown.
        assert_eq!(evaluate(&mut engine, &rules, &over, 3_000, &[]), ["BTC"]);
        assert!(evaluate(&mut engine, &rules, &over, 3_500, &[]).is_empty());
    }
}

/// A focused evaluation (one frame's symbols) keeps exactly the conditions a
/// full evaluation of every row would, over any sequence of frames: the
/// engine's per-symbol ranges find every condition a frame ends, of any
/// leg, and none of another symbol's.
mod focus_agrees {
    use proptest::prelude::*;

    use super::*;
    use crate::domain::{Leg, PositionKey};
    use crate::reconcile::fixtures::agreeing;

    const RULES: &str = "groups:
  pair: [ETH, SOL]
rules:
  - id: limit
    condition: {position_limit: {size: 0.5}}
    for: 2s
    cooldown: 1h
    severity: warning
    actions: [alert]
  - id: neutral
    condition: {net_exposure: {group: pair, above_usd: 40}}
    severity: warning
    actions: [alert]
";

    const KEYS: [(&str, Leg); 6] = [
        ("BTC", Leg::Net),
        ("ETH", Leg::Net),
        ("SOL", Leg::Long),
        ("SOL", Leg::Short),
        ("SOLX", Leg::Net),
        ("SO", Leg::Net),
    ];

    fn report(sizes: &BTreeMap<usize, &str>) -> AccountReport {
        let mut rows: Vec<(PositionKey, &str)> = sizes
            .iter()
            .map(|(i, size)| {
                let (symbol, leg) = KEYS[*i];
                (
                    PositionKey {
                        symbol: symbol.into(),
                        leg,
                    },
                    *size,
                )
            })
            .collect();
        rows.sort();
        let flat: Vec<(&str, &str)> = rows.iter().map(|(k, s)| (k.symbol.as_str(), *s)).collect();
        let mut r = agreeing(&flat);
        for (row, (key, _)) in r.rows.iter_mut().zip(&rows) {
            row.key = key.clone();
        }
        r
    }

    proptest! {
        #[test]
        fn a_focused_engine_holds_what_a_full_one_holds(
            steps in prop::collection::vec(
                (0..KEYS.len(), prop::sample::select(vec!["0", "0.3", "1", "-2"]), 0i64..3_000, any::<bool>()),
                1..40,
            )
        ) {
            let rules = compile(RULES, Path::new("r.yaml")).unwrap();
            let marks: SortedMap<Symbol, Decimal> = [(Symbol::new("ETH"), d("150")), (Symbol::new("SOL"), d("100"))].into();
            let (mut focused, mut full) = (Engine::new(), Engine::new());
            let mut sizes: BTreeMap<usize, &str> = BTreeMap::new();
            let mut now = 0;
            for (key, size, after, tick) in steps {
                now += after;
                if size == "0" {
                    sizes.remove(&key);
                } else {
                    sizes.insert(key, size);
                }
                let r = report(&sizes);
                let state = || [AccountState { venue: "binance", account: "main", report: &r, marks: &marks }];
                let symbols = [Symbol::new(KEYS[key].0)];
                let focus = (!tick).then_some(Focus { account: "main", symbols: &symbols });
                focused.evaluate_focused(&rules, &state(), Timestamp(now), focus);
                full.evaluate(&rules, &state(), Timestamp(now));
                prop_assert_eq!(
                    focused.conditions(&rules, "main", Timestamp(now)),
                    full.conditions(&rules, "main", Timestamp(now))
                );
            }
        }
    }
}
