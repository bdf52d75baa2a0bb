//! Ingest throughput: position frames through parse → view → reconcile →
//! rule evaluation on one core, for Pacifica (`account_positions`, the whole
//! open set per frame) and Nado (`position_change`, one product per frame).
//! Run: `cargo bench --bench ingest`.
//!
//! A plain timing harness (no test-time assertions): it prints frames per
//! second for a few frame shapes; BENCHMARKS.md records the results.

use std::collections::BTreeMap;
use std::hint::black_box;
use std::time::{Duration, Instant};

use driftwatch::domain::{DbRow, DbSnapshot, PositionKey, Timestamp};
use driftwatch::reconcile::{AccountInputs, AccountReport, Policy, Polled, Reconciler, Touched};
use driftwatch::rules::{AccountState, Engine, Focus, RuleSet};
use driftwatch::venue::nado::parse::{Product, Products};
use driftwatch::venue::{nado, pacifica, RestSnapshot, StreamEvent, StreamStyle};
use driftwatch::view::StreamView;
use rust_decimal::Decimal;

const SYMBOLS: [&str; 10] = ["BTC", "ETH", "SOL", "ZEC", "SUI", "XRP", "BNB", "ENA", "LDO", "CRV"];

fn pacifica_frame(n_positions: usize, tweak: u64) -> String {
    let items: Vec<String> = SYMBOLS[..n_positions]
        .iter()
        .enumerate()
        .map(|(i, s)| {
            let side = if i % 2 == 0 { "bid" } else { "ask" };
            format!(
                r#"{{"s":"{s}","d":"{side}","a":"{}.{:03}","p":"87285.5","m":"0","f":"-0.00023989","i":false,"l":"-95166.79231","t":1764133656974}}"#,
                1 + i,
                tweak % 1000
            )
        })
        .collect();
    format!(
        r#"{{"channel":"account_positions","data":[{}],"li":0}}"#,
        items.join(",")
    )
}

/// A documented `position_change`, for product `2 * (i + 1)`.
fn nado_frame(i: usize, tweak: u64) -> String {
    format!(
        r#"{{"type":"position_change","timestamp":"{}","product_id":{},"subaccount":"0xfcad0b19bb29d4674531d6f115237e16afce377c64656661756c740000000000","isolated":false,"amount":"{}{:03}000000000000000","v_quote_amount":"-150000000000000000000","reason":"match_orders"}}"#,
        1_767_225_600_000_000_000u64 + tweak,
        2 * (i + 1),
        1 + i,
        tweak % 1000
    )
}

fn nado_products() -> Products {
    Products {
        by_id: SYMBOLS
            .iter()
            .enumerate()
            .map(|(i, s)| {
                let id = 2 * (i as u32 + 1);
                (
                    id,
                    Product {
                        product_id: id,
                        symbol: s.to_string(),
                        size_increment: Decimal::new(1, 3),
                        price_increment: Decimal::new(1, 2),
                        min_size: Decimal::TEN,
                        trading_status: "live".into(),
                    },
                )
            })
            .collect(),
    }
}

fn shipped_rules() -> RuleSet {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    let files = driftwatch::rules::file::rule_files(&root.join("rules")).expect("rules/");
    driftwatch::rules::compile_files(&files).expect("the shipped rules compile")
}

struct Pipeline {
    view: StreamView,
    rest: Polled<RestSnapshot>,
    db: Polled<DbSnapshot>,
    lots: BTreeMap<String, Decimal>,
    marks: BTreeMap<String, Decimal>,
    policy: Policy,
    rec: Reconciler,
    report: Option<AccountReport>,
    engine: Engine,
    rules: RuleSet,
}

impl Pipeline {
    fn new(style: StreamStyle, n_db: usize) -> Pipeline {
        let mut view = StreamView::new(style);
        view.apply(&StreamEvent::Connected, Timestamp(0));
        let mut rest = Polled::default();
        rest.succeeded(
            RestSnapshot {
                positions: vec![],
                seq: Some(0),
            },
            Timestamp(0),
        );
        let mut db = Polled::default();
        db.succeeded(
            DbSnapshot {
                rows: SYMBOLS[..n_db]
                    .iter()
                    .map(|s| DbRow {
                        row_key: s.to_string(),
                        key: PositionKey::net(*s),
                        size: Decimal::ONE,
                        side_word: None,
                        amount: Decimal::ONE,
                        updated_at: None,
                    })
                    .collect(),
            },
            Timestamp(0),
        );
        Pipeline {
            view,
            rest,
            db,
            lots: SYMBOLS.iter().map(|s| (s.to_string(), Decimal::new(1, 3))).collect(),
            marks: SYMBOLS.iter().map(|s| (s.to_string(), Decimal::ONE_HUNDRED)).collect(),
            policy: Policy {
                confirm_polls: 3,
                confirm_after: Duration::from_secs(60),
                rest_stale_after: Duration::from_secs(3600),
                db_stale_after: Duration::from_secs(3600),
                stream_silence_after: Duration::from_secs(3600),
            },
            rec: Reconciler::new(),
            report: None,
            engine: Engine::new(),
            rules: shipped_rules(),
        }
    }

    /// One frame's whole path, as the daemon's core takes it (only the keys
    /// the frame changed are reconciled and evaluated); `rules` off
    /// measures the stages before the rules.
    fn step(&mut self, event: Option<StreamEvent>, now: Timestamp, rules: bool) {
        let touched = match event {
            Some(ev) => {
                self.view.apply(&ev, now);
                Touched::Keys(self.view.changed().to_vec())
            }
            None => Touched::Keys(vec![]),
        };
        let inputs = AccountInputs {
            view: &self.view,
            rest: &self.rest,
            db: &self.db,
            lot_sizes: &self.lots,
        };
        let done = self
            .rec
            .refresh(0, &inputs, &self.policy, now, &touched, &mut self.report);
        if rules {
            let states = [AccountState {
                venue: "bench",
                account: "main",
                report: self.report.as_ref().expect("refreshed"),
                marks: &self.marks,
            }];
            let symbols = done.symbols();
            let focus = symbols.as_ref().map(|symbols| Focus {
                account: "main",
                symbols,
            });
            black_box(self.engine.evaluate_focused(&self.rules, &states, now, focus));
        }
    }
}

/// Frames per second through the pipeline, cycling `frames`.
fn run<P>(frames: &[String], parse: P, style: StreamStyle, n_db: usize, rules: bool, budget: Duration) -> f64
where
    P: Fn(&str) -> Option<StreamEvent>,
{
    let mut p = Pipeline::new(style, n_db);
    let start = Instant::now();
    let mut n: u64 = 0;
    while start.elapsed() < budget {
        for f in frames {
            p.step(parse(f), Timestamp(n as i64), rules);
            n += 1;
        }
    }
    n as f64 / start.elapsed().as_secs_f64()
}

fn parse_rate<P: Fn(&str) -> Option<StreamEvent>>(frame: &str, parse: P, budget: Duration) -> f64 {
    let start = Instant::now();
    let mut n = 0u64;
    while start.elapsed() < budget {
        for _ in 0..1000 {
            black_box(parse(black_box(frame)));
        }
        n += 1000;
    }
    n as f64 / start.elapsed().as_secs_f64()
}

fn main() {
    // `cargo test --all-targets` runs bench binaries without `--bench`: a
    // short smoke run then, the real measurement only under `cargo bench`.
    let measuring = std::env::args().any(|a| a == "--bench");
    let budget = if measuring {
        Duration::from_secs(
            std::env::var("BENCH_SECS")
                .ok()
                .and_then(|s| s.parse().ok())
                .unwrap_or(3),
        )
    } else {
        Duration::from_millis(30)
    };
    let pacifica = |f: &str| match pacifica::parse::ws_frame(f) {
        Ok(pacifica::parse::WsFrame::Event(ev)) => Some(ev),
        _ => None,
    };
    let products = nado_products();
    let nado = |f: &str| match nado::parse::ws_frame(f, &products) {
        Ok(nado::parse::WsFrame::Event(ev)) => Some(ev),
        _ => None,
    };
    println!("ingest: frames through parse -> view -> reconcile -> rules (the shipped set), one core");
    println!("  venue     open positions  frames/s (all)  without rules  parse alone");
    for n in [1usize, 3, 10] {
        let frames: Vec<String> = (0..64).map(|i| pacifica_frame(n, i)).collect();
        let all = run(&frames, pacifica, StreamStyle::FullSnapshots, n, true, budget);
        let no_rules = run(&frames, pacifica, StreamStyle::FullSnapshots, n, false, budget / 2);
        let parse = parse_rate(&frames[7], pacifica, budget / 3);
        println!("  pacifica  {n:>14}  {all:>14.0}  {no_rules:>13.0}  {parse:>11.0}");
    }
    // Nado sends one product per frame; the account holds `n` positions.
    for n in [1usize, 3, 10] {
        let frames: Vec<String> = (0..64).map(|i| nado_frame(i as usize % n, i)).collect();
        let all = run(&frames, nado, StreamStyle::PerKeyUpdates, n, true, budget);
        let no_rules = run(&frames, nado, StreamStyle::PerKeyUpdates, n, false, budget / 2);
        let parse = parse_rate(&frames[7], nado, budget / 3);
        println!("  nado      {n:>14}  {all:>14.0}  {no_rules:>13.0}  {parse:>11.0}");
    }
}
