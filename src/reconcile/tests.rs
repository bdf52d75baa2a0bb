use std::collections::BTreeSet;
use std::str::FromStr;

use super::*;
use crate::domain::{DbRow, Leg, Position, Symbol};
use crate::sorted::SortedMap;
use crate::venue::types::{StreamEvent, StreamStyle};

fn d(s: &str) -> Decimal {
    Decimal::from_str(s).unwrap()
}

fn r(size: Option<&str>, trusted: bool) -> Reading {
    Reading {
        size: size.map(d),
        trusted,
    }
}

#[test]
fn classification_table() {
    let lot = Some(d("0.01"));
    // (ws, rest, db, db_has_row) -> state
    let cases: Vec<(Reading, Reading, Reading, bool, State)> = vec![
        (
            r(Some("1"), true),
            r(Some("1"), true),
            r(Some("1"), true),
            true,
            State::InSync,
        ),
        (
            r(Some("1"), true),
            r(Some("1.005"), true),
            r(Some("0.995"), true),
            true,
            State::InSync,
        ),
        (
            r(Some("0"), true),
            r(Some("0"), true),
            r(Some("5"), true),
            true,
            State::DbStale,
        ),
        (
            r(Some("-0.5"), true),
            r(Some("-0.5"), true),
            r(Some("0"), true),
            false,
            State::DbMissing,
        ),
        (
            r(Some("-0.1"), true),
            r(Some("-0.1"), true),
            r(Some("0.1"), true),
            true,
            State::DbMismatch,
        ),
        (
            r(Some("0.5"), true),
            r(Some("0"), true),
            r(Some("0"), true),
            false,
            State::StreamDrift,
        ),
        (
            r(Some("0.5"), false),
            r(Some("0"), true),
            r(Some("0"), true),
            false,
            State::SourceUntrusted,
        ),
        (
            r(Some("0"), true),
            r(None, false),
            r(Some("3"), true),
            true,
            State::SourceUntrusted,
        ),
        (
            r(Some("0"), true),
            r(Some("0"), true),
            r(Some("3"), false),
            true,
            State::SourceUntrusted,
        ),
        (
            r(None, false),
            r(None, false),
            r(None, false),
            false,
            State::SourceUntrusted,
        ),
    ];
    for (i, (ws, rest, db, has_row, want)) in cases.into_iter().enumerate() {
        assert_eq!(classify(ws, rest, db, has_row, lot), want, "case {i}");
    }
}

fn policy() -> Policy {
    Policy {
        confirm_polls: 3,
        confirm_after: Duration::from_secs(60),
        rest_stale_after: Duration::from_secs(30),
        db_stale_after: Duration::from_secs(30),
        stream_silence_after: Duration::from_secs(30),
        rest_answer_within: Duration::from_secs(10),
    }
}

fn pos(symbol: &str, size: &str) -> Position {
    Position {
        key: PositionKey::net(symbol),
        size: d(size),
        entry_price: None,
    }
}

fn row(symbol: &str, size: &str) -> DbRow {
    DbRow {
        row_key: symbol.to_lowercase(),
        key: PositionKey::net(symbol),
        size: d(size),
        side_word: None,
        amount: d(size),
        updated_at: None,
        busy: false,
    }
}

struct World {
    view: StreamView,
    rest: Polled<RestSnapshot>,
    db: Polled<DbSnapshot>,
    lots: SortedMap<Symbol, Decimal>,
}

impl World {
    fn new(exchange: Vec<Position>, db_rows: Vec<DbRow>) -> World {
        let mut view = StreamView::new(StreamStyle::FullSnapshots);
        view.apply(&StreamEvent::Connected, Timestamp(0));
        view.apply(
            &StreamEvent::Snapshot {
                positions: exchange.clone(),
                seq: Some(1),
            },
            Timestamp(0),
        );
        let snap = RestSnapshot {
            positions: exchange,
            seq: Some(1),
        };
        view.verify_with_rest(&snap, |_| None, Timestamp(0));
        let mut rest = Polled::default();
        rest.succeeded(snap, Timestamp(0));
        let mut db = Polled::default();
        db.succeeded(
            DbSnapshot {
                rows: db_rows,
                ..Default::default()
            },
            Timestamp(0),
        );
        World {
            view,
            rest,
            db,
            lots: SortedMap::new(),
        }
    }

    fn inputs(&self) -> AccountInputs<'_> {
        AccountInputs {
            view: &self.view,
            rest: &self.rest,
            db: &self.db,
            lot_sizes: &self.lots,
        }
    }
}

fn state_of(report: &AccountReport, symbol: &str) -> (State, bool) {
    let row = report.rows.iter().find(|r| r.key.symbol == symbol).unwrap();
    (row.state, row.confirmed)
}

#[test]
fn the_2025_11_10_incident_shows_ghost_rows_and_keeps_the_real_short() {
    let world = World::new(
        vec![pos("ZEC", "-0.1")],
        vec![row("VIRTUAL", "49.5"), row("WLFI", "601"), row("ZEC", "-0.1")],
    );
    let mut rec = Reconciler::new();
    let report = rec.reconcile(0, &world.inputs(), &policy(), Timestamp(1));
    assert_eq!(state_of(&report, "VIRTUAL").0, State::DbStale);
    assert_eq!(state_of(&report, "WLFI").0, State::DbStale);
    assert_eq!(state_of(&report, "ZEC"), (State::InSync, true));
    assert!(report.sources.iter().all(|s| s.trusted));
}

#[test]
fn a_mismatch_needs_n_distinct_rest_readings_before_it_counts() {
    let mut world = World::new(vec![], vec![row("BTC", "1")]);
    let mut rec = Reconciler::new();
    let p = policy();
    assert_eq!(
        state_of(&rec.reconcile(0, &world.inputs(), &p, Timestamp(1)), "BTC"),
        (State::DbStale, false)
    );
    // Re-reconciling without a new read is not a new observation.
    assert_eq!(
        state_of(&rec.reconcile(0, &world.inputs(), &p, Timestamp(2)), "BTC"),
        (State::DbStale, false)
    );
    // Nor is a new DB read: it judges nothing about the exchange.
    for t in [3, 4, 5] {
        world.db.succeeded(
            DbSnapshot {
                rows: vec![row("BTC", "1")],
                ..Default::default()
            },
            Timestamp(t),
        );
        assert_eq!(
            state_of(&rec.reconcile(0, &world.inputs(), &p, Timestamp(t)), "BTC"),
            (State::DbStale, false)
        );
    }
    let flat = || RestSnapshot {
        positions: vec![],
        seq: None,
    };
    world.rest.succeeded(flat(), Timestamp(6));
    assert_eq!(
        state_of(&rec.reconcile(0, &world.inputs(), &p, Timestamp(6)), "BTC"),
        (State::DbStale, false)
    );
    world.rest.succeeded(flat(), Timestamp(7));
    assert_eq!(
        state_of(&rec.reconcile(0, &world.inputs(), &p, Timestamp(7)), "BTC"),
        (State::DbStale, true)
    );
}

#[test]
fn a_rest_request_without_an_answer_is_untrusted_at_once_and_stamps_its_reading_when_sent() {
    let mut world = World::new(vec![], vec![row("BTC", "1")]);
    let mut rec = Reconciler::new();
    let p = policy();
    world.rest.requested(Timestamp(1_000));
    // Within the answer window the last reading still counts...
    let r = rec.reconcile(0, &world.inputs(), &p, Timestamp(10_000));
    assert!(r.sources[1].trusted);
    // ...past it REST is untrusted at once, long before any timeout.
    let r = rec.reconcile(0, &world.inputs(), &p, Timestamp(11_001));
    assert!(!r.sources[1].trusted);
    assert_eq!(r.sources[1].reason.as_deref(), Some("no answer for 10s"));
    assert_eq!(state_of(&r, "BTC").0, State::SourceUntrusted);
    // When the answer comes, it is a reading taken when it was asked for.
    world.rest.succeeded(
        RestSnapshot {
            positions: vec![],
            seq: None,
        },
        Timestamp(12_000),
    );
    assert_eq!(world.rest.read_at(), Some(Timestamp(1_000)));
}

#[test]
fn a_mismatch_also_counts_after_the_confirm_window() {
    let world = World::new(vec![], vec![row("BTC", "1")]);
    let mut rec = Reconciler::new();
    let p = Policy {
        rest_stale_after: Duration::from_secs(3600),
        db_stale_after: Duration::from_secs(3600),
        stream_silence_after: Duration::from_secs(3600),
        ..policy()
    };
    rec.reconcile(0, &world.inputs(), &p, Timestamp(1));
    let report = rec.reconcile(0, &world.inputs(), &p, Timestamp(61_001));
    assert_eq!(state_of(&report, "BTC"), (State::DbStale, true));
}

#[test]
fn rest_answering_empty_during_an_outage_is_stream_drift_never_flat() {
    let mut world = World::new(vec![pos("SOL", "0.5")], vec![row("SOL", "0.5")]);
    world.rest.succeeded(
        RestSnapshot {
            positions: vec![],
            seq: Some(2),
        },
        Timestamp(5),
    );
    let mut rec = Reconciler::new();
    let report = rec.reconcile(0, &world.inputs(), &policy(), Timestamp(5));
    let sol = report.rows.iter().find(|r| r.key.symbol == "SOL").unwrap();
    assert_eq!(sol.state, State::StreamDrift);
    assert_eq!(sol.drift(Pair::WsRest), Some(d("0.5")));
}

#[test]
fn a_failed_source_untrusts_every_row_and_keeps_its_last_values_visible() {
    let mut world = World::new(vec![], vec![row("BTC", "1")]);
    world.rest.failed("HTTP 500", Timestamp(2));
    let mut rec = Reconciler::new();
    let report = rec.reconcile(0, &world.inputs(), &policy(), Timestamp(2));
    let btc = report.rows.iter().find(|r| r.key.symbol == "BTC").unwrap();
    assert_eq!(btc.state, State::SourceUntrusted);
    assert_eq!(btc.rest, r(Some("0"), false));
    assert_eq!(btc.drift(Pair::RestDb), None);
    assert!(!report.sources[1].trusted);
}

#[test]
fn stale_reads_are_untrusted() {
    let world = World::new(vec![], vec![row("BTC", "1")]);
    let mut rec = Reconciler::new();
    let report = rec.reconcile(0, &world.inputs(), &policy(), Timestamp(31_000));
    assert_eq!(state_of(&report, "BTC").0, State::SourceUntrusted);
}

#[test]
fn a_row_that_resolves_is_dropped_once_flat_everywhere() {
    let mut world = World::new(vec![], vec![row("BTC", "1")]);
    let mut rec = Reconciler::new();
    rec.reconcile(0, &world.inputs(), &policy(), Timestamp(1));
    world.db.succeeded(DbSnapshot::default(), Timestamp(2));
    let report = rec.reconcile(0, &world.inputs(), &policy(), Timestamp(2));
    assert!(report.rows.is_empty());
}

#[test]
fn diff_is_zero_when_all_sources_agree() {
    let world = World::new(
        vec![pos("ETH", "-2"), pos("SOL", "3")],
        vec![row("ETH", "-2"), row("SOL", "3")],
    );
    let mut rec = Reconciler::new();
    let report = rec.reconcile(0, &world.inputs(), &policy(), Timestamp(1));
    for row in &report.rows {
        assert_eq!(row.state, State::InSync);
        for pair in Pair::ALL {
            assert_eq!(row.drift(pair), Some(Decimal::ZERO));
        }
    }
}

mod incremental {
    use proptest::prelude::*;

    use super::*;

    /// One stream input: a per-key update, or a whole snapshot.
    #[derive(Debug, Clone)]
    enum Frame {
        Update(usize, i64),
        Snapshot(Vec<(usize, i64)>),
    }

    /// Five keys: SOL's two hedge legs share a symbol (and its lot), so
    /// the full pass's walk over the lots must not step past a symbol on
    /// its first leg.
    const KEYS: [(&str, Leg); 5] = [
        ("BTC", Leg::Net),
        ("ETH", Leg::Net),
        ("SOL", Leg::Long),
        ("SOL", Leg::Short),
        ("DOGE", Leg::Net),
    ];

    fn keyed(k: usize, size: i64) -> Position {
        Position {
            key: PositionKey {
                symbol: KEYS[k].0.into(),
                leg: KEYS[k].1,
            },
            size: Decimal::from(size),
            entry_price: None,
        }
    }

    fn frame() -> impl Strategy<Value = Frame> {
        prop_oneof![
            (0..5usize, -3..4i64).prop_map(|(s, n)| Frame::Update(s, n)),
            proptest::collection::vec((0..5usize, -3..4i64), 0..5).prop_map(Frame::Snapshot),
        ]
    }

    fn event(f: &Frame, seq: u64) -> StreamEvent {
        match f {
            Frame::Update(s, n) => StreamEvent::Update {
                position: keyed(*s, *n),
                seq: Some(seq),
            },
            Frame::Snapshot(items) => {
                let mut seen = BTreeSet::new();
                StreamEvent::Snapshot {
                    positions: items
                        .iter()
                        .filter(|(s, _)| seen.insert(*s))
                        .map(|(s, n)| keyed(*s, *n))
                        .collect(),
                    seq: Some(seq),
                }
            }
        }
    }

    /// The account both property tests start from: BTC and ETH in the DB,
    /// BTC and a SOL short on the stream, lots where a size within one lot
    /// is the same size (none for BTC).
    fn start() -> World {
        let mut world = World::new(
            vec![pos("BTC", "1"), keyed(3, -2)],
            vec![row("BTC", "1"), row("ETH", "4")],
        );
        world.lots = [("ETH", "1"), ("SOL", "2"), ("DOGE", "1"), ("XRP", "1")]
            .into_iter()
            .map(|(s, l)| (Symbol::new(s), d(l)))
            .collect();
        world
    }

    /// Input `i`: now and then a REST or DB read (an account-wide change),
    /// else the frame; what it touched.
    fn input(world: &mut World, f: &Frame, read: u8, i: usize) -> Touched {
        let now = Timestamp(1 + i as i64);
        match read {
            0 => {
                let positions = world.view.positions().values().cloned().collect();
                world.rest.succeeded(
                    RestSnapshot {
                        positions,
                        seq: Some(2 + i as u64),
                    },
                    now,
                );
                Touched::All
            }
            1 => {
                let mut short = row("SOL", "-2");
                short.key.leg = Leg::Short;
                world.db.succeeded(
                    DbSnapshot {
                        rows: vec![short, row("DOGE", "3")],
                        ..Default::default()
                    },
                    now,
                );
                Touched::All
            }
            _ => {
                world.view.apply(&event(f, 2 + i as u64), now);
                Touched::Keys(world.view.changed().to_vec())
            }
        }
    }

    proptest! {
        /// Refreshing only the keys a frame changed gives the report a full
        /// pass gives, frame after frame (with REST and DB reads between).
        #[test]
        fn refreshing_touched_keys_equals_a_full_pass(
            frames in proptest::collection::vec((frame(), 0..6u8), 1..40)
        ) {
            let mut world = start();
            let p = policy();
            let (mut full, mut inc) = (Reconciler::new(), Reconciler::new());
            let mut report = None;
            for (i, (f, read)) in frames.iter().enumerate() {
                let now = Timestamp(1 + i as i64);
                let touched = input(&mut world, f, *read, i);
                inc.refresh(0, &world.inputs(), &p, now, touched, &mut report);
                let want = full.reconcile(0, &world.inputs(), &p, now);
                prop_assert_eq!(report.as_ref().unwrap(), &want);
            }
        }

        /// Inputs taken as bursts (the core's `take_burst`: each applied,
        /// then one refresh of everything any of them touched) give, after
        /// every burst, the report a full pass gives: merging what the
        /// inputs touched loses no key, whatever splits the bursts.
        #[test]
        fn refreshing_a_bursts_touched_keys_equals_a_full_pass(
            inputs in proptest::collection::vec((frame(), 0..6u8, any::<bool>()), 1..40)
        ) {
            let mut world = start();
            let p = policy();
            let (mut full, mut inc) = (Reconciler::new(), Reconciler::new());
            let mut report = None;
            let mut burst = Touched::Keys(vec![]);
            for (i, (f, read, more)) in inputs.iter().enumerate() {
                burst.merge(input(&mut world, f, *read, i));
                if *more && i + 1 < inputs.len() {
                    continue;
                }
                let now = Timestamp(1 + i as i64);
                let touched = std::mem::replace(&mut burst, Touched::Keys(vec![]));
                inc.refresh(0, &world.inputs(), &p, now, touched, &mut report);
                let want = full.reconcile(0, &world.inputs(), &p, now);
                prop_assert_eq!(report.as_ref().unwrap(), &want);
            }
        }
    }

    #[test]
    fn touched_keys_merge_once_each_and_all_absorbs() {
        let k = |s: &str| PositionKey::net(s);
        let mut t = Touched::Keys(vec![k("SOL"), k("BTC")]);
        t.merge(Touched::Keys(vec![k("ETH"), k("SOL")]));
        assert_eq!(t, Touched::Keys(vec![k("BTC"), k("ETH"), k("SOL")]));
        t.merge(Touched::All);
        assert_eq!(t, Touched::All);
        t.merge(Touched::Keys(vec![k("XRP")]));
        assert_eq!(t, Touched::All);
    }

    #[test]
    fn a_change_of_trust_reconciles_every_key() {
        let mut world = World::new(vec![pos("BTC", "1")], vec![row("BTC", "1"), row("ETH", "2")]);
        let p = policy();
        let mut rec = Reconciler::new();
        let mut report = None;
        rec.refresh(0, &world.inputs(), &p, Timestamp(1), Touched::All, &mut report);
        world.rest.failed("HTTP 503", Timestamp(2));
        // The input names no key, but REST's trust changed: every row follows.
        let done = rec.refresh(0, &world.inputs(), &p, Timestamp(2), Touched::Keys(vec![]), &mut report);
        assert_eq!(done, Touched::All);
        assert!(report.unwrap().rows.iter().all(|r| r.state == State::SourceUntrusted));
    }
}

#[test]
fn a_full_pass_keeps_its_trackers_in_key_order_and_an_account_that_shrank_gives_memory_back() {
    let symbols: Vec<String> = (0..1000).map(|i| format!("S{i:04}")).collect();
    let mut world = World::new(
        symbols.iter().rev().map(|s| pos(s, "1")).collect(),
        symbols.iter().map(|s| row(s, "1")).collect(),
    );
    let mut rec = Reconciler::new();
    let mut report = None;
    rec.refresh(0, &world.inputs(), &policy(), Timestamp(1), Touched::All, &mut report);
    let held = &rec.trackers[&0];
    assert_eq!(held.by_key.len(), 1000);
    assert!(
        held.by_key.windows(2).all(|w| w[0].0 < w[1].0),
        "trackers out of key order"
    );
    // All but one closed: the stream, REST and the database say so.
    let one = vec![pos("S0001", "1")];
    world.view.apply(
        &StreamEvent::Snapshot {
            positions: one.clone(),
            seq: Some(2),
        },
        Timestamp(2),
    );
    let snap = RestSnapshot {
        positions: one,
        seq: Some(2),
    };
    world.view.verify_with_rest(&snap, |_| None, Timestamp(2));
    world.rest.succeeded(snap, Timestamp(2));
    world.db.succeeded(
        DbSnapshot {
            rows: vec![row("S0001", "1")],
            ..Default::default()
        },
        Timestamp(2),
    );
    // The next tick's full pass, as the core makes it.
    rec.refresh(0, &world.inputs(), &policy(), Timestamp(3), Touched::All, &mut report);
    let held = &rec.trackers[&0];
    assert_eq!(held.by_key.len(), 1);
    assert!(held.spare.capacity() <= 2, "spare kept {}", held.spare.capacity());
    let rows = &report.as_ref().expect("refreshed").rows;
    assert_eq!(rows.len(), 1);
    assert!(rows.capacity() <= 2, "rows kept {}", rows.capacity());
}

mod sizes {
    use std::collections::BTreeMap;

    use proptest::prelude::*;

    use super::*;

    proptest! {
        /// Whatever the reads (keys repeated, in any order), the sorted
        /// sizes hold what a map built entry by entry holds: REST's last
        /// size of a key, the DB's sum of a key's rows.
        #[test]
        fn sorted_sizes_hold_what_a_map_holds(
            entries in prop::collection::vec((0..6usize, any::<bool>(), -50..50i64), 0..40)
        ) {
            let entries: Vec<(PositionKey, Decimal)> = entries
                .into_iter()
                .map(|(s, long, n)| {
                    let leg = if long { Leg::Long } else { Leg::Net };
                    (PositionKey { symbol: Symbol::new(&format!("S{s}")), leg }, Decimal::new(n, 1))
                })
                .collect();
            let mut last: BTreeMap<PositionKey, Decimal> = BTreeMap::new();
            let mut sum: BTreeMap<PositionKey, Decimal> = BTreeMap::new();
            for (k, v) in &entries {
                last.insert(k.clone(), *v);
                *sum.entry(k.clone()).or_insert(Decimal::ZERO) += *v;
            }
            let as_vec = |m: BTreeMap<PositionKey, Decimal>| m.into_iter().collect::<Vec<_>>();
            let rest: SortedMap<PositionKey, Decimal> = entries.iter().cloned().collect();
            prop_assert_eq!(rest.into_iter().collect::<Vec<_>>(), as_vec(last));
            let db = SortedMap::merged(entries, |e, l| *e += l);
            prop_assert_eq!(db.into_iter().collect::<Vec<_>>(), as_vec(sum));
        }
    }
}
