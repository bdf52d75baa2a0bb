use std::str::FromStr;

use super::*;
use crate::domain::{Source, Symbol};
use crate::reconcile::{Reading, SourceHealth};
use crate::sorted::SortedMap;

fn d(s: &str) -> Decimal {
    Decimal::from_str(s).unwrap()
}

fn reading(s: &str) -> Reading {
    Reading {
        size: Some(d(s)),
        trusted: true,
    }
}

fn row(symbol: &str, ws: &str, db: &str, has_row: bool, state: State, observations: u32) -> Row {
    Row {
        key: PositionKey::net(symbol),
        ws: reading(ws),
        rest: reading(ws),
        db: reading(db),
        db_has_row: has_row,
        rest_lags: false,
        state,
        confirmed: observations >= 3,
        since: Timestamp(0),
        observations,
    }
}

fn db_row(key: &str, symbol: &str, size: &str, updated_at: Option<i64>) -> DbRow {
    DbRow {
        row_key: key.into(),
        key: PositionKey::net(symbol),
        size: d(size),
        side_word: Some(if d(size).is_sign_negative() { "ask" } else { "bid" }.into()),
        amount: d(size).abs(),
        updated_at: updated_at.map(Timestamp),
        busy: false,
    }
}

fn report(rows: Vec<Row>) -> AccountReport {
    let ok = |source| SourceHealth {
        source,
        trusted: true,
        reason: None,
        last_good_at: None,
    };
    AccountReport {
        rows,
        sources: [ok(Source::Ws), ok(Source::Rest), ok(Source::Db)],
    }
}

fn policy() -> CorrectionPolicy {
    CorrectionPolicy {
        leg: crate::domain::RowLegs::One(crate::domain::Leg::Net),
        mode: Mode::Apply,
        insert: true,
        adopt: false,
        mapped_symbols: None,
        stale: StaleFix::Delete,
        resize: true,
        confirmations: 3,
        settle: Duration::from_secs(30),
        max_rows: 25,
        max_fraction: None,
    }
}

const NOW: Timestamp = Timestamp(1_000_000);

/// Every symbol the tests use is a venue market, with a mark price.
struct Markets {
    lots: SortedMap<Symbol, Decimal>,
    marks: SortedMap<Symbol, Decimal>,
}

impl Markets {
    fn with<'a>(&'a self, positions: &'a SortedMap<PositionKey, Position>) -> Exchange<'a> {
        Exchange {
            positions,
            lots: &self.lots,
            marks: &self.marks,
        }
    }
}

fn all_markets() -> Markets {
    let symbols = ["BTC", "ETH", "PUMP", "SOL", "VIRTUAL", "WLFI", "ZEC"].map(Symbol::new);
    Markets {
        lots: symbols.clone().map(|s| (s, Decimal::new(1, 2))).into(),
        marks: symbols.map(|s| (s, Decimal::from(100))).into(),
    }
}

/// Plans with no exchange positions, fresh readings and no rule holding.
fn plan_of(r: &AccountReport, db: &DbSnapshot, p: &CorrectionPolicy) -> CorrectionPlan {
    let symbols = r.rows.iter().map(|row| row.key.symbol.clone());
    let markets = Markets {
        lots: symbols.clone().map(|s| (s, Decimal::new(1, 2))).collect(),
        marks: symbols.map(|s| (s, Decimal::from(100))).collect(),
    };
    corrections(
        r,
        db,
        &markets.with(&SortedMap::new()),
        fresh(),
        &BTreeMap::new(),
        p,
        NOW,
    )
}

/// Every source read just now: a REST reading taken after every row's state began.
fn fresh() -> SourceTimes {
    SourceTimes {
        ws: Some(NOW),
        rest: Some(NOW),
        db: Some(NOW),
    }
}

#[test]
fn the_incident_plans_deletes_for_ghosts_and_an_update_for_zec() {
    let mut rows = Vec::new();
    let mut db = DbSnapshot::default();
    for (i, s) in ["VIRTUAL", "WLFI", "PUMP"].iter().enumerate() {
        rows.push(row(s, "0", "5", true, State::DbStale, 3));
        db.rows.push(db_row(&i.to_string(), s, "5", Some(0)));
    }
    rows.push(row("ZEC", "-0.1", "0.1", true, State::DbMismatch, 3));
    db.rows.push(db_row("9", "ZEC", "0.1", Some(0)));
    let adopt = CorrectionPolicy {
        adopt: true,
        ..policy()
    };
    let plan = plan_of(&report(rows.clone()), &db, &adopt);
    // By default the flipped ZEC row is exposure the bot does not explain:
    // the rules' matter, not rewritten.
    let default = plan_of(&report(rows), &db, &policy());
    assert_eq!(default.summary(), "0 updated, 0 created, 3 deleted");
    assert_eq!(default.skipped, vec![(PositionKey::net("ZEC"), Skip::Unexplained)]);
    assert_eq!(plan.summary(), "1 updated, 0 created, 3 deleted");
    assert_eq!(plan.refused, None);
    let zec = plan.corrections.iter().find(|c| c.key.symbol == "ZEC").unwrap();
    assert_eq!(zec.target, Some(d("-0.1")));
    assert_eq!(zec.row.as_ref().unwrap().row_key, "9");
}

#[test]
fn a_single_observation_never_acts() {
    let db = DbSnapshot {
        rows: vec![db_row("1", "BTC", "1", None)],
        ..Default::default()
    };
    let plan = corrections(
        &report(vec![row("BTC", "0", "1", true, State::DbStale, 1)]),
        &db,
        &all_markets().with(&SortedMap::new()),
        fresh(),
        &BTreeMap::new(),
        &policy(),
        NOW,
    );
    assert!(plan.corrections.is_empty());
    assert_eq!(
        plan.skipped,
        vec![(PositionKey::net("BTC"), Skip::NotConfirmed { observations: 1 })]
    );
    // Confirmed by time alone is still not enough distinct reads.
    let mut r = row("BTC", "0", "1", true, State::DbStale, 2);
    r.confirmed = true;
    let plan = plan_of(&report(vec![r]), &db, &policy());
    assert!(plan.corrections.is_empty());
}

#[test]
fn untrusted_drifting_and_in_sync_rows_are_never_touched() {
    let db = DbSnapshot {
        rows: vec![db_row("1", "BTC", "1", None)],
        ..Default::default()
    };
    for state in [State::SourceUntrusted, State::StreamDrift, State::InSync] {
        let plan = corrections(
            &report(vec![row("BTC", "0", "1", true, state, 9)]),
            &db,
            &all_markets().with(&SortedMap::new()),
            fresh(),
            &BTreeMap::new(),
            &policy(),
            NOW,
        );
        assert!(plan.is_empty(), "{state:?}");
    }
}

#[test]
fn the_settle_window_after_the_bots_write_is_respected() {
    let db = DbSnapshot {
        rows: vec![db_row("1", "BTC", "1", Some(NOW.0 - 10_000))],
        ..Default::default()
    };
    let plan = corrections(
        &report(vec![row("BTC", "0", "1", true, State::DbStale, 3)]),
        &db,
        &all_markets().with(&SortedMap::new()),
        fresh(),
        &BTreeMap::new(),
        &policy(),
        NOW,
    );
    assert_eq!(
        plan.skipped,
        vec![(
            PositionKey::net("BTC"),
            Skip::Settling {
                until: Timestamp(NOW.0 + 20_000)
            }
        )]
    );
}

#[test]
fn inserts_can_be_turned_off_and_carry_the_entry_price() {
    let exchange: SortedMap<PositionKey, Position> = [(
        PositionKey::net("SOL"),
        Position {
            key: PositionKey::net("SOL"),
            size: d("0.5"),
            entry_price: Some(d("123.45")),
        },
    )]
    .into_iter()
    .collect();
    let r = report(vec![row("SOL", "0.5", "0", false, State::DbMissing, 3)]);
    let plan = corrections(
        &r,
        &DbSnapshot::default(),
        &all_markets().with(&exchange),
        fresh(),
        &BTreeMap::new(),
        &policy(),
        NOW,
    );
    assert_eq!(plan.summary(), "0 updated, 1 created, 0 deleted");
    assert_eq!(plan.corrections[0].entry_price, Some(d("123.45")));
    let off = CorrectionPolicy {
        insert: false,
        ..policy()
    };
    let plan = corrections(
        &r,
        &DbSnapshot::default(),
        &all_markets().with(&exchange),
        fresh(),
        &BTreeMap::new(),
        &off,
        NOW,
    );
    assert_eq!(plan.skipped, vec![(PositionKey::net("SOL"), Skip::InsertsOff)]);
}

#[test]
fn an_ambiguous_update_is_skipped() {
    let db = DbSnapshot {
        rows: vec![db_row("1", "ETH", "1", None), db_row("2", "ETH", "1", None)],
        ..Default::default()
    };
    let plan = corrections(
        &report(vec![row("ETH", "1", "2", true, State::DbMismatch, 3)]),
        &db,
        &all_markets().with(&SortedMap::new()),
        fresh(),
        &BTreeMap::new(),
        &policy(),
        NOW,
    );
    assert_eq!(
        plan.skipped,
        vec![(PositionKey::net("ETH"), Skip::Ambiguous { rows: 2 })]
    );
}

#[test]
fn the_mass_change_guard_refuses_the_cycle() {
    let mut rows = Vec::new();
    let mut db = DbSnapshot::default();
    for i in 0..30 {
        let s = format!("S{i}");
        rows.push(row(&s, "0", "1", true, State::DbStale, 3));
        db.rows.push(db_row(&i.to_string(), &s, "1", None));
    }
    let plan = plan_of(&report(rows.clone()), &db, &policy());
    assert_eq!(plan.corrections.len(), 30);
    assert_eq!(
        plan.refused.as_deref(),
        Some("mass-change guard: 30 rows to change in one cycle, more than max_rows 25")
    );
    let frac = CorrectionPolicy {
        max_rows: 100,
        max_fraction: Some(d("0.4")),
        ..policy()
    };
    for i in 0..40 {
        db.rows.push(db_row(&format!("x{i}"), &format!("K{i}"), "1", None));
    }
    let plan = plan_of(&report(rows), &db, &frac);
    assert_eq!(
        plan.refused.as_deref(),
        Some("mass-change guard: 30 of 70 rows to change in one cycle, more than max_fraction 0.4")
    );
}

#[test]
fn mode_off_plans_nothing() {
    let off = CorrectionPolicy {
        mode: Mode::Off,
        ..policy()
    };
    let db = DbSnapshot {
        rows: vec![db_row("1", "BTC", "1", None)],
        ..Default::default()
    };
    let plan = corrections(
        &report(vec![row("BTC", "0", "1", true, State::DbStale, 9)]),
        &db,
        &all_markets().with(&SortedMap::new()),
        fresh(),
        &BTreeMap::new(),
        &off,
        NOW,
    );
    assert!(plan.is_empty());
}

fn one_stale_btc() -> (AccountReport, DbSnapshot) {
    let db = DbSnapshot {
        rows: vec![db_row("1", "BTC", "1", None)],
        ..Default::default()
    };
    (report(vec![row("BTC", "0", "1", true, State::DbStale, 3)]), db)
}

#[test]
fn a_rest_reading_taken_before_the_mismatch_began_is_not_evidence() {
    let (mut r, db) = one_stale_btc();
    r.rows[0].since = Timestamp(NOW.0 - 2_000);
    // REST's last reading was sent before the row was first seen (a read that hung).
    let before = SourceTimes {
        rest: Some(Timestamp(NOW.0 - 4_500)),
        ..fresh()
    };
    let plan = corrections(
        &r,
        &db,
        &all_markets().with(&SortedMap::new()),
        before,
        &BTreeMap::new(),
        &policy(),
        NOW,
    );
    assert!(plan.corrections.is_empty());
    assert_eq!(
        plan.skipped,
        vec![(
            PositionKey::net("BTC"),
            Skip::NotFresh {
                rest_taken_at: Some(Timestamp(NOW.0 - 4_500))
            }
        )]
    );
    // Nor one taken before the bot's own last write to the row.
    let written = DbSnapshot {
        rows: vec![db_row("1", "BTC", "1", Some(NOW.0 - 1_000))],
        ..Default::default()
    };
    let after_since = SourceTimes {
        rest: Some(Timestamp(NOW.0 - 1_500)),
        ..fresh()
    };
    let quick = CorrectionPolicy {
        settle: Duration::ZERO,
        ..policy()
    };
    let plan = corrections(
        &r,
        &written,
        &all_markets().with(&SortedMap::new()),
        after_since,
        &BTreeMap::new(),
        &quick,
        NOW,
    );
    assert!(plan.corrections.is_empty(), "{plan:?}");
    // A reading taken after both is.
    let plan = plan_of(&r, &written, &quick);
    assert_eq!(plan.summary(), "0 updated, 0 created, 1 deleted");
}

#[test]
fn any_disagreement_in_the_account_blocks_every_correction() {
    let (mut r, mut db) = one_stale_btc();
    // REST answers empty while the stream holds SOL: SOL drifts, and the
    // stale BTC row (which neither holds) must not be deleted on that read.
    let mut sol = row("SOL", "2", "2", true, State::StreamDrift, 9);
    sol.rest = reading("0");
    r.rows.push(sol);
    db.rows.push(db_row("2", "SOL", "2", None));
    let plan = plan_of(&r, &db, &policy());
    assert!(plan.is_empty());
    assert_eq!(plan.blocked, Some(Blocked::Disagreement(vec![PositionKey::net("SOL")])));
    // An untrusted source anywhere blocks too.
    let (r, db) = one_stale_btc();
    let r = crate::reconcile::fixtures::without(r, Source::Rest);
    let plan = plan_of(&r, &db, &policy());
    assert_eq!(plan.blocked, Some(Blocked::Untrusted));
}

#[test]
fn a_pending_rule_goes_first_and_exposure_is_never_adopted_while_a_rule_holds() {
    let (r, db) = one_stale_btc();
    let pending: BTreeMap<String, RuleHold> = [("BTC".to_owned(), RuleHold::Pending)].into();
    let plan = corrections(
        &r,
        &db,
        &all_markets().with(&SortedMap::new()),
        fresh(),
        &pending,
        &policy(),
        NOW,
    );
    assert_eq!(
        plan.skipped,
        vec![(PositionKey::net("BTC"), Skip::RuleHolds(RuleHold::Pending))]
    );
    // Once the rule has fired (alerted), the stale row is corrected.
    let fired: BTreeMap<String, RuleHold> = [("BTC".to_owned(), RuleHold::Fired)].into();
    let plan = corrections(
        &r,
        &db,
        &all_markets().with(&SortedMap::new()),
        fresh(),
        &fired,
        &policy(),
        NOW,
    );
    assert_eq!(plan.summary(), "0 updated, 0 created, 1 deleted");
    // An insert or a growing update waits while any rule holds, even with
    // insert and adopt on.
    let eager = CorrectionPolicy {
        insert: true,
        adopt: true,
        ..policy()
    };
    let sol: BTreeMap<String, RuleHold> = [("SOL".to_owned(), RuleHold::Fired)].into();
    let missing = report(vec![row("SOL", "0.537", "0", false, State::DbMissing, 3)]);
    let plan = corrections(
        &missing,
        &DbSnapshot::default(),
        &all_markets().with(&SortedMap::new()),
        fresh(),
        &sol,
        &eager,
        NOW,
    );
    assert_eq!(
        plan.skipped,
        vec![(PositionKey::net("SOL"), Skip::RuleHolds(RuleHold::Fired))]
    );
    let grown = report(vec![row("SOL", "1.237", "0.2", true, State::DbMismatch, 3)]);
    let sol_db = DbSnapshot {
        rows: vec![db_row("1", "SOL", "0.2", None)],
        ..Default::default()
    };
    let plan = corrections(
        &grown,
        &sol_db,
        &all_markets().with(&SortedMap::new()),
        fresh(),
        &sol,
        &eager,
        NOW,
    );
    assert!(plan.corrections.is_empty());
}

#[test]
fn a_row_is_brought_down_to_the_exchange_but_never_up_by_default() {
    let db = DbSnapshot {
        rows: vec![db_row("1", "SOL", "1.237", None)],
        ..Default::default()
    };
    // The bot believes more than is open: corrected down.
    let plan = corrections(
        &report(vec![row("SOL", "0.2", "1.237", true, State::DbMismatch, 3)]),
        &db,
        &all_markets().with(&SortedMap::new()),
        fresh(),
        &BTreeMap::new(),
        &policy(),
        NOW,
    );
    assert_eq!(plan.summary(), "1 updated, 0 created, 0 deleted");
    // The exchange holds more than the row: the incident's residual, not adopted.
    let db = DbSnapshot {
        rows: vec![db_row("1", "SOL", "0.2", None)],
        ..Default::default()
    };
    let plan = corrections(
        &report(vec![row("SOL", "1.237", "0.2", true, State::DbMismatch, 3)]),
        &db,
        &all_markets().with(&SortedMap::new()),
        fresh(),
        &BTreeMap::new(),
        &policy(),
        NOW,
    );
    assert_eq!(plan.skipped, vec![(PositionKey::net("SOL"), Skip::Unexplained)]);
    for (db, ex, adopting) in [
        ("0.2", "1.237", true),
        ("1.237", "0.2", false),
        ("1", "-1", true),
        ("-1", "-0.5", false),
        ("-1", "-2", true),
        ("0", "1", true),
        ("1", "0", false),
    ] {
        assert_eq!(adopts(d(db), d(ex)), adopting, "{db} -> {ex}");
    }
}

#[test]
fn an_isolated_leg_beside_the_bots_row_moves_nothing() {
    // The exchange holds SOL 2 isolated and nothing cross; the bot's row says SOL 2.
    let mut iso = row("SOL", "2", "0", false, State::DbMissing, 9);
    iso.key.leg = crate::domain::Leg::Isolated;
    let net = row("SOL", "0", "2", true, State::DbStale, 9);
    let db = DbSnapshot {
        rows: vec![db_row("1", "SOL", "2", None)],
        ..Default::default()
    };
    let eager = CorrectionPolicy {
        insert: true,
        adopt: true,
        ..policy()
    };
    for _ in 0..100 {
        let plan = corrections(
            &report(vec![net.clone(), iso.clone()]),
            &db,
            &all_markets().with(&SortedMap::new()),
            fresh(),
            &BTreeMap::new(),
            &eager,
            NOW,
        );
        assert!(plan.corrections.is_empty(), "{plan:?}");
        assert_eq!(
            plan.skipped,
            vec![
                (PositionKey::net("SOL"), Skip::OtherLegOpen),
                (iso.key.clone(), Skip::NotTheMappedLeg)
            ]
        );
    }
}

/// Issue [baselines] part 3: a mapping says which leg the bot's rows stand
/// for. Under `leg: isolated` the bot's row is the isolated leg's: it is
/// corrected when that leg closes, left alone while the cross leg is open,
/// and a cross position is never inserted as a row.
#[test]
fn an_isolated_mapping_corrects_the_isolated_leg_only() {
    use crate::domain::Leg;
    let isolated = |mut r: Row| {
        r.key.leg = Leg::Isolated;
        r
    };
    let mut bot = db_row("1", "SOL", "2", None);
    bot.key.leg = Leg::Isolated;
    let db = DbSnapshot {
        rows: vec![bot],
        ..Default::default()
    };
    let policy = CorrectionPolicy {
        leg: crate::domain::RowLegs::One(Leg::Isolated),
        insert: true,
        ..policy()
    };
    // The isolated leg closed, nothing else open: the row goes.
    let closed = isolated(row("SOL", "0", "2", true, State::DbStale, 9));
    let plan = plan_of(&report(vec![closed.clone()]), &db, &policy);
    assert_eq!(plan.summary(), "0 updated, 0 created, 1 deleted");
    assert_eq!(plan.corrections[0].key, closed.key);
    // It closed while a cross position is open in SOL: the row stays.
    let cross = row("SOL", "3", "0", false, State::DbMissing, 9);
    let plan = plan_of(&report(vec![cross.clone(), closed.clone()]), &db, &policy);
    assert!(plan.corrections.is_empty(), "{plan:?}");
    assert_eq!(
        plan.skipped,
        vec![(cross.key, Skip::NotTheMappedLeg), (closed.key, Skip::OtherLegOpen)]
    );
}

/// Issue [binance] part 2: under `leg: by_side` (hedge mode) a long row is
/// the long leg's and a short row the short leg's. Each leg is corrected on
/// its own while the other is open; a one-way (net) position is never
/// explained by hedge rows.
#[test]
fn a_hedge_mapping_corrects_each_leg_while_the_other_is_open() {
    use crate::domain::{Leg, RowLegs};
    let leg = |mut r: Row, l: Leg| {
        r.key.leg = l;
        r
    };
    let mut long_row = db_row("1", "SOL", "2", None);
    long_row.key.leg = Leg::Long;
    let db = DbSnapshot {
        rows: vec![long_row],
        ..Default::default()
    };
    let policy = CorrectionPolicy {
        leg: RowLegs::BySide,
        insert: false,
        ..policy()
    };
    // The long leg closed while the short leg (the bot's row missing) is
    // open: the stale long row goes; the short leg is the rules' matter.
    let long = leg(row("SOL", "0", "2", true, State::DbStale, 9), Leg::Long);
    let short = leg(row("SOL", "-1", "0", false, State::DbMissing, 9), Leg::Short);
    let plan = plan_of(&report(vec![long.clone(), short.clone()]), &db, &policy);
    assert_eq!(plan.summary(), "0 updated, 0 created, 1 deleted");
    assert_eq!(plan.corrections[0].key, long.key);
    assert!(plan.skipped.iter().all(|(k, _)| *k == short.key), "{plan:?}");
    // A net position in the symbol (the account is one-way after all): the
    // hedge row is not corrected beside it, nor the net leg inserted.
    let net = row("SOL", "3", "0", false, State::DbMissing, 9);
    let plan = plan_of(&report(vec![net.clone(), long.clone()]), &db, &policy);
    assert!(plan.corrections.is_empty(), "{plan:?}");
    assert_eq!(
        plan.skipped,
        vec![(net.key, Skip::NotTheMappedLeg), (long.key, Skip::OtherLegOpen)]
    );
}

#[test]
fn no_insert_under_a_venue_name_the_mapping_does_not_know() {
    let mapped = CorrectionPolicy {
        mapped_symbols: Some(["ETH-PERP".to_owned(), "SOL-PERP".to_owned()].into()),
        ..policy()
    };
    let r = report(vec![
        row("XRP-PERP", "10", "0", false, State::DbMissing, 3),
        row("SOL-PERP", "1", "0", false, State::DbMissing, 3),
    ]);
    let plan = plan_of(&r, &DbSnapshot::default(), &mapped);
    assert_eq!(plan.summary(), "0 updated, 1 created, 0 deleted");
    assert_eq!(plan.corrections[0].key, PositionKey::net("SOL-PERP"));
    assert_eq!(plan.skipped, vec![(PositionKey::net("XRP-PERP"), Skip::UnmappedSymbol)]);
}

/// Issue [bots] part 1: a row whose symbol the venue does not list is never
/// corrected (it may be the bot's spelling of something else), and nothing
/// is corrected before the venue's markets are known.
#[test]
fn a_row_for_a_market_the_venue_does_not_list_is_left_alone() {
    let r = report(vec![
        row("BTC", "0", "1", true, State::DbStale, 3),
        row("BTC/USDC:USDC", "0", "1", true, State::DbStale, 3),
    ]);
    let db = DbSnapshot {
        rows: vec![db_row("1", "BTC", "1", None), db_row("2", "BTC/USDC:USDC", "1", None)],
        ..Default::default()
    };
    let plan = corrections(
        &r,
        &db,
        &all_markets().with(&SortedMap::new()),
        fresh(),
        &BTreeMap::new(),
        &policy(),
        NOW,
    );
    assert_eq!(plan.summary(), "0 updated, 0 created, 1 deleted");
    assert_eq!(
        plan.skipped,
        vec![(PositionKey::net("BTC/USDC:USDC"), Skip::UnknownMarket)]
    );
    let (none, no_positions) = (SortedMap::new(), SortedMap::new());
    let unknown = Exchange {
        positions: &no_positions,
        lots: &none,
        marks: &none,
    };
    let plan = corrections(&r, &db, &unknown, fresh(), &BTreeMap::new(), &policy(), NOW);
    assert!(plan.corrections.is_empty());
    assert_eq!(plan.skipped.len(), 2);
}

/// Issue [bots] part 3: a stale row is closed the bot's way at the mark
/// price, or left to the operator; no mark price, no close.
#[test]
fn stale_rows_are_closed_at_the_mark_or_left_to_the_operator() {
    let r = report(vec![row("BTC", "0", "1", true, State::DbStale, 3)]);
    let db = DbSnapshot {
        rows: vec![db_row("7", "BTC", "1", None)],
        ..Default::default()
    };
    let close = CorrectionPolicy {
        stale: StaleFix::Close,
        ..policy()
    };
    let plan = plan_of(&r, &db, &close);
    assert_eq!(plan.summary(), "0 updated, 0 created, 0 deleted, 1 closed");
    assert_eq!(plan.corrections[0].op, Op::Closed);
    assert_eq!(plan.corrections[0].mark_price, Some(Decimal::from(100)));
    assert_eq!(plan.corrections[0].row.as_ref().unwrap().row_key, "7");

    let lots: SortedMap<Symbol, Decimal> = [(Symbol::new("BTC"), Decimal::ONE)].into();
    let (no_marks, no_positions) = (SortedMap::new(), SortedMap::new());
    let market = Exchange {
        positions: &no_positions,
        lots: &lots,
        marks: &no_marks,
    };
    let plan = corrections(&r, &db, &market, fresh(), &BTreeMap::new(), &close, NOW);
    assert!(plan.corrections.is_empty());
    assert_eq!(plan.skipped, vec![(PositionKey::net("BTC"), Skip::NoMarkPrice)]);

    let alert = CorrectionPolicy {
        stale: StaleFix::AlertOnly,
        resize: false,
        ..policy()
    };
    let r = report(vec![
        row("BTC", "0", "1", true, State::DbStale, 3),
        row("ETH", "1", "2", true, State::DbMismatch, 3),
    ]);
    let db = DbSnapshot {
        rows: vec![db_row("1", "BTC", "1", None), db_row("2", "ETH", "2", None)],
        ..Default::default()
    };
    let plan = plan_of(&r, &db, &alert);
    assert!(plan.corrections.is_empty());
    assert_eq!(
        plan.skipped,
        vec![
            (PositionKey::net("BTC"), Skip::AlertOnly),
            (PositionKey::net("ETH"), Skip::AlertOnly)
        ]
    );
}
