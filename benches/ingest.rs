//! Ingest throughput: position frames through parse → view → reconcile →
//! rule evaluation on one core, for Pacifica (`account_positions`, the whole
//! open set per frame) and Nado (`position_change`, one product per frame).
//!
//!   cargo bench --bench ingest
//!
//! Criterion reports frames per second (`thrpt`) for five groups: the
//! whole path frame by frame (`ingest`), the path without the rules
//! (`ingest_no_rules`) and the venue decoder alone (`parse`), each at 1, 3
//! and 10 open positions; and the whole path at 10 open positions taking
//! frames in bursts of 8 and of 64, as the core takes frames already queued
//! (`ingest_burst`: each applied, one decision per burst); and, for the
//! full-snapshot venues, the whole path at 10 open with one position moving
//! per frame (`ingest_one_moves`). BENCHMARKS.md
//! records the results.
//!
//! Every figure is taken on the path production runs: the view has a REST
//! reading that agreed with it (so it is trusted), REST is re-read every
//! 100,000 frames (a periodic poll), the database is trusted and differs
//! from the exchange (real drift), and every frame parses, through one
//! connection's decoder as the stream task holds it (Pacifica and
//! Hyperliquid tell a frame against the last one; here every frame changes
//! every size, so every item is read). Each case asserts so before and
//! after it is timed (`assert_production_path`).

mod common;

use std::hint::black_box;
use std::time::Duration;

use criterion::measurement::WallTime;
use criterion::{criterion_group, criterion_main, BenchmarkGroup, BenchmarkId, Criterion, Throughput};

use driftwatch::domain::{DbRow, DbSnapshot, PositionKey, Symbol, Timestamp};
use driftwatch::reconcile::{AccountReport, Policy, Polled, Reconciler, State, Touched};
use driftwatch::replay::AccountSources;
use driftwatch::rules::{AccountState, Engine, Focus, RuleSet};
use driftwatch::venue::nado::parse::{Product, Products};
use driftwatch::venue::types::{RestSnapshot, StreamEvent, StreamStyle};
use driftwatch::venue::{binance, hyperliquid, nado, pacifica};
use driftwatch::view::StreamView;
use rust_decimal::Decimal;

const SYMBOLS: [&str; 10] = ["BTC", "ETH", "SOL", "ZEC", "SUI", "XRP", "BNB", "ENA", "LDO", "CRV"];

/// Every venue, each through its own decoder into the same view, reconciler
/// and rules.
const VENUES: [&str; 4] = ["pacifica", "nado", "hyperliquid", "binance"];

/// Which sizes a frame of a full-snapshot venue moves.
#[derive(Clone, Copy)]
enum Moves {
    /// Every size, every frame (each item read again: the worst case).
    Every,
    /// One position per frame, in turn (a bot trading one symbol at a
    /// time); where the 64 frames wrap, every size moves once.
    One,
}

/// Item `i`'s size in frame `tweak`: its fraction of a unit.
fn fraction(moves: Moves, n: usize, i: usize, tweak: u64) -> u64 {
    match moves {
        Moves::Every => tweak % 1000,
        Moves::One => (tweak + n as u64 - 1 - i as u64) / n as u64 % 1000,
    }
}

fn pacifica_frame(n_positions: usize, tweak: u64, moves: Moves) -> String {
    let items: Vec<String> = SYMBOLS[..n_positions]
        .iter()
        .enumerate()
        .map(|(i, s)| {
            let side = if i % 2 == 0 { "bid" } else { "ask" };
            format!(
                r#"{{"s":"{s}","d":"{side}","a":"{}.{:03}","p":"87285.5","m":"0","f":"-0.00023989","i":false,"l":"-95166.79231","t":1764133656974}}"#,
                1 + i,
                fraction(moves, n_positions, i, tweak)
            )
        })
        .collect();
    format!(
        r#"{{"channel":"account_positions","data":[{}],"li":0}}"#,
        items.join(",")
    )
}

/// A `clearinghouseState` frame (hyperliquid.md §4.3): the whole open set.
fn hyperliquid_frame(n_positions: usize, tweak: u64, moves: Moves) -> String {
    let items: Vec<String> = SYMBOLS[..n_positions]
        .iter()
        .enumerate()
        .map(|(i, s)| {
            let sign = if i % 2 == 0 { "" } else { "-" };
            format!(
                r#"{{"type":"oneWay","position":{{"coin":"{s}","szi":"{sign}{}.{:03}","leverage":{{"type":"cross","value":20}},"entryPx":"87285.5","positionValue":"100.0","unrealizedPnl":"-0.1","returnOnEquity":"-0.001","liquidationPx":null,"marginUsed":"5.0","maxLeverage":50,"cumFunding":{{"allTime":"0.1","sinceOpen":"0.1","sinceChange":"0.1"}}}}}}"#,
                1 + i,
                fraction(moves, n_positions, i, tweak)
            )
        })
        .collect();
    format!(
        r#"{{"channel":"clearinghouseState","data":{{"dex":"","user":"0xfcad0b19bb29d4674531d6f115237e16afce377c","clearinghouseState":{{"marginSummary":{{"accountValue":"1000.0","totalNtlPos":"100.0","totalRawUsd":"900.0","totalMarginUsed":"5.0"}},"crossMaintenanceMarginUsed":"1.0","withdrawable":"900.0","assetPositions":[{}],"time":{}}}}}}}"#,
        items.join(","),
        1_767_225_600_000u64 + tweak
    )
}

/// An `ACCOUNT_UPDATE` (binance_usdm.md §4.3) for one position.
fn binance_frame(i: usize, tweak: u64) -> String {
    format!(
        r#"{{"e":"ACCOUNT_UPDATE","E":{t},"T":{t},"a":{{"m":"ORDER","B":[{{"a":"USDT","wb":"122624.12345678","cw":"100.12345678","bc":"50.12345678"}}],"P":[{{"s":"{}","pa":"{}.{:03}","ep":"87285.5","bep":"87285.5","cr":"200","up":"-0.1","mt":"cross","iw":"0","ps":"BOTH"}}]}}}}"#,
        SYMBOLS[i],
        1 + i,
        tweak % 1000,
        t = 1_767_225_600_000u64 + tweak,
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
                        symbol: (*s).into(),
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

struct Pipeline {
    sources: AccountSources,
    policy: Policy,
    rec: Reconciler,
    report: Option<AccountReport>,
    engine: Engine,
    rules: RuleSet,
    /// Frames since the last REST poll.
    since_rest: u32,
}

fn style(venue: &str) -> StreamStyle {
    match venue {
        "pacifica" | "hyperliquid" => StreamStyle::FullSnapshots,
        _ => StreamStyle::PerKeyUpdates,
    }
}

impl Pipeline {
    /// The account after a connect, its first frames and a REST read that
    /// agrees with them: a trusted view, as the daemon has it.
    fn new(style: StreamStyle, n_db: usize, first: &[StreamEvent]) -> Pipeline {
        let mut view = StreamView::new(style);
        view.apply(&StreamEvent::Connected, Timestamp(0));
        for ev in first {
            view.apply(ev, Timestamp(0));
        }
        // A lot of 0.1: the frames move sizes by less than a lot between
        // REST polls, so the stream and REST agree (one lot is the one
        // tolerance) while the database drifts: the trusted path.
        let lots: driftwatch::sorted::SortedMap<Symbol, Decimal> =
            SYMBOLS.iter().map(|s| (Symbol::new(s), Decimal::new(1, 1))).collect();
        let agreeing = RestSnapshot {
            positions: view.positions().values().cloned().collect(),
            seq: None,
        };
        view.verify_with_rest(&agreeing, |s| lots.get(s).copied(), Timestamp(0));
        let mut rest = Polled::default();
        rest.succeeded(agreeing, Timestamp(0));
        let mut db = Polled::default();
        db.succeeded(
            DbSnapshot {
                rows: SYMBOLS[..n_db]
                    .iter()
                    .map(|s| DbRow {
                        row_key: s.to_string(),
                        key: PositionKey::net(*s),
                        // Never what the stream says: the rows drift.
                        size: Decimal::ONE_HUNDRED,
                        side_word: None,
                        amount: Decimal::ONE_HUNDRED,
                        updated_at: None,
                        busy: false,
                    })
                    .collect(),
                ..Default::default()
            },
            Timestamp(0),
        );
        Pipeline {
            sources: AccountSources {
                view,
                rest,
                db,
                lots,
                marks: SYMBOLS.iter().map(|s| (Symbol::new(s), Decimal::ONE_HUNDRED)).collect(),
            },
            policy: common::policy(),
            rec: Reconciler::new(),
            report: None,
            engine: Engine::new(),
            rules: common::shipped_rules(),
            since_rest: 0,
        }
    }

    /// A case's account, trusted and drifting (asserted): full snapshots
    /// open with the first frame, the whole set; per-key venues with one
    /// frame per position; then a REST read agrees.
    fn trusted(venue: &str, n: usize, parse: &mut Parse<'_>) -> Pipeline {
        let first: Vec<StreamEvent> = match style(venue) {
            StreamStyle::FullSnapshots => vec![parse(&frames(venue, n)[0])],
            StreamStyle::PerKeyUpdates => (0..n).map(|i| parse(&opening_frame(venue, i))).collect(),
        };
        let mut p = Pipeline::new(style(venue), n, &first);
        p.poll_rest(Timestamp(1));
        p.assert_production_path(&format!("{venue}/{n} before"));
        p
    }

    /// Counts `frames`; every 100,000 a REST (and DB) poll, as the daemon polls.
    fn counted(&mut self, frames: u32, now: i64) {
        self.since_rest += frames;
        if self.since_rest >= 100_000 {
            self.since_rest = 0;
            self.poll_rest(Timestamp(now));
        }
    }

    /// A periodic REST poll (what the venue holds now: the view's sizes)
    /// and DB poll (the same rows), taken now; a full pass, as after any read.
    fn poll_rest(&mut self, now: Timestamp) {
        if let Some((db, _)) = self.sources.db.last() {
            let db = db.clone();
            self.sources.db.succeeded(db, now);
        }
        let snap = RestSnapshot {
            positions: self.sources.view.positions().values().cloned().collect(),
            seq: None,
        };
        let lots = &self.sources.lots;
        self.sources.view.verify_with_rest(&snap, |s| lots.get(s).copied(), now);
        self.sources.rest.succeeded(snap, now);
        self.rec.refresh(
            0,
            &self.sources.inputs(),
            &self.policy,
            now,
            Touched::All,
            &mut self.report,
        );
    }

    /// The bench measures what production runs: every source trusted, no
    /// row untrusted, and the database drifting from the exchange.
    fn assert_production_path(&self, what: &str) {
        let r = self.report.as_ref().expect("reconciled");
        for s in &r.sources {
            assert!(s.trusted, "{what}: {:?} untrusted: {:?}", s.source, s.reason);
        }
        assert!(
            r.rows.iter().all(|row| row.state != State::SourceUntrusted),
            "{what}: an untrusted row"
        );
        assert!(
            r.rows.iter().any(|row| row.state == State::DbMismatch),
            "{what}: no drift between the database and the exchange: {:?}",
            r.rows.iter().map(|row| row.state).collect::<Vec<_>>()
        );
    }

    /// One frame's whole path, as the daemon's core takes it (only the keys
    /// the frame changed are reconciled and evaluated); `rules` off
    /// measures the stages before the rules.
    fn step(&mut self, event: Option<StreamEvent>, now: Timestamp, rules: bool) {
        let touched = match event {
            Some(ev) => {
                self.sources.view.apply(&ev, now);
                Touched::Keys(self.sources.view.changed().to_vec())
            }
            None => Touched::Keys(vec![]),
        };
        self.decide(touched, now, rules);
    }

    /// Frames already queued behind each other, as the core takes a burst
    /// (`Core::take_burst`): each applied in order, then the keys any of
    /// them changed reconciled and evaluated once.
    fn burst(&mut self, events: impl Iterator<Item = StreamEvent>, clock: &mut i64) {
        let mut touched = Touched::Keys(vec![]);
        for ev in events {
            *clock += 1;
            self.sources.view.apply(&ev, Timestamp(*clock));
            touched.merge(Touched::Keys(self.sources.view.changed().to_vec()));
        }
        assert!(
            matches!(&touched, Touched::Keys(k) if !k.is_empty()),
            "a burst changed no size"
        );
        self.decide(touched, Timestamp(*clock), true);
    }

    fn decide(&mut self, touched: Touched, now: Timestamp, rules: bool) {
        let done = self
            .rec
            .refresh(0, &self.sources.inputs(), &self.policy, now, touched, &mut self.report);
        if rules {
            let states = [AccountState {
                venue: "bench",
                account: "main",
                report: self.report.as_ref().expect("refreshed"),
                marks: &self.sources.marks,
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

/// One connection's decoder, as the stream task holds it (Pacifica and
/// Hyperliquid tell a frame against the connection's last one).
type Parse<'a> = Box<dyn FnMut(&str) -> StreamEvent + 'a>;

/// The frames of one case: 64 of them, cycled, each changing the sizes.
fn frames(venue: &str, n: usize) -> Vec<String> {
    moving(venue, n, Moves::Every)
}

/// The same, each frame of a full-snapshot venue moving `moves`.
fn moving(venue: &str, n: usize, moves: Moves) -> Vec<String> {
    match venue {
        "pacifica" => (0..64).map(|i| pacifica_frame(n, i, moves)).collect(),
        "hyperliquid" => (0..64).map(|i| hyperliquid_frame(n, i, moves)).collect(),
        // Binance and Nado send one position per frame; the account holds `n`.
        "binance" => (0..64).map(|i| binance_frame(i as usize % n, i)).collect(),
        _ => (0..64).map(|i| nado_frame(i as usize % n, i)).collect(),
    }
}

/// Per-key venues: the frame that opens position `i`.
fn opening_frame(venue: &str, i: usize) -> String {
    match venue {
        "binance" => binance_frame(i, 0),
        _ => nado_frame(i, 0),
    }
}

fn parser<'a>(venue: &str, products: &'a Products) -> Parse<'a> {
    match venue {
        // A frame that does not parse to a position event is no frame.
        "pacifica" => {
            let mut decoder = pacifica::parse::Decoder::default();
            Box::new(move |f: &str| match decoder.frame(f) {
                Ok(pacifica::parse::WsFrame::Event(ev)) => ev,
                other => panic!("a bench frame did not parse: {other:?}"),
            })
        }
        "hyperliquid" => {
            let mut decoder = hyperliquid::parse::Decoder::default();
            Box::new(move |f: &str| match decoder.frame(f) {
                Ok(hyperliquid::parse::WsFrame::Event(ev)) => ev,
                other => panic!("a bench frame did not parse: {other:?}"),
            })
        }
        // One position per frame: the stream task emits its one update.
        "binance" => Box::new(|f: &str| match binance::parse::ws_frame(f) {
            Ok(binance::parse::WsFrame::Positions { mut events, .. }) if events.len() == 1 => events.remove(0),
            other => panic!("a bench frame did not parse: {other:?}"),
        }),
        _ => Box::new(move |f: &str| match nado::parse::ws_frame(f, products) {
            Ok(nado::parse::WsFrame::Event(ev)) => ev,
            other => panic!("a bench frame did not parse: {other:?}"),
        }),
    }
}

/// One case of the whole path taken frame by frame (`rules` off: the
/// stages before the rules), through one connection's decoder.
fn frame_by_frame(
    g: &mut BenchmarkGroup<'_, WallTime>,
    venue: &str,
    n: usize,
    frames: &[String],
    products: &Products,
    rules: bool,
) {
    let mut parse = parser(venue, products);
    let mut p = Pipeline::trusted(venue, n, &mut parse);
    let mut clock = 1i64;
    g.bench_function(BenchmarkId::new(venue, n), |b| {
        b.iter(|| {
            for f in frames {
                clock += 1;
                p.step(Some(parse(f)), Timestamp(clock), rules);
            }
            p.counted(64, clock);
        })
    });
    p.assert_production_path(&format!("{venue}/{n} after"));
}

fn ingest(c: &mut Criterion) {
    let products = nado_products();
    for (group, rules) in [("ingest", true), ("ingest_no_rules", false)] {
        let mut g = c.benchmark_group(group);
        g.throughput(Throughput::Elements(64));
        for venue in VENUES {
            for n in [1usize, 3, 10] {
                frame_by_frame(&mut g, venue, n, &frames(venue, n), &products, rules);
            }
        }
        g.finish();
    }
    // Full-snapshot venues, one position moving per frame: the frame's
    // other items are the last frame's, byte for byte, and are not read.
    let mut g = c.benchmark_group("ingest_one_moves");
    g.throughput(Throughput::Elements(64));
    for venue in ["pacifica", "hyperliquid"] {
        frame_by_frame(&mut g, venue, 10, &moving(venue, 10, Moves::One), &products, true);
    }
    g.finish();
    // Bursts: frames already queued when the core takes the first (a
    // stream faster than one decision per frame), decided once per burst.
    let mut g = c.benchmark_group("ingest_burst");
    g.throughput(Throughput::Elements(64));
    for venue in VENUES {
        let n = 10;
        for size in [8usize, 64] {
            let frames = frames(venue, n);
            let mut parse = parser(venue, &products);
            let mut p = Pipeline::trusted(venue, n, &mut parse);
            let mut clock = 1i64;
            g.bench_function(BenchmarkId::new(format!("{venue}/{n}"), size), |b| {
                b.iter(|| {
                    for burst in frames.chunks(size) {
                        p.burst(burst.iter().map(|f| parse(f)), &mut clock);
                    }
                    p.counted(64, clock);
                })
            });
            p.assert_production_path(&format!("{venue}/{n} burst {size} after"));
        }
    }
    g.finish();
    // The decoder alone, over the same frames (each changes every size).
    let mut g = c.benchmark_group("parse");
    g.throughput(Throughput::Elements(64));
    for venue in VENUES {
        for n in [1usize, 3, 10] {
            let frames = frames(venue, n);
            let mut parse = parser(venue, &products);
            g.bench_function(BenchmarkId::new(venue, n), |b| {
                b.iter(|| {
                    for f in &frames {
                        black_box(parse(black_box(f)));
                    }
                })
            });
        }
    }
    g.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default().measurement_time(Duration::from_secs(3)).warm_up_time(Duration::from_secs(1));
    targets = ingest
}
criterion_main!(benches);
