use std::str::FromStr;

use super::*;
use crate::domain::Source;
use crate::reconcile::{Reading, SourceHealth};

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
        mode: Mode::Apply,
        insert: true,
        confirmations: 3,
        settle: Duration::from_secs(30),
        max_rows: 25,
        max_fraction: None,
    }
}

const NOW: Timestamp = Timestamp(1_000_000);

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
    let plan = corrections(
        &report(rows),
        &db,
        &BTreeMap::new(),
        SourceTimes::default(),
        &policy(),
        NOW,
    );
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
    };
    let plan = corrections(
        &report(vec![row("BTC", "0", "1", true, State::DbStale, 1)]),
        &db,
        &BTreeMap::new(),
        SourceTimes::default(),
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
    let plan = corrections(
        &report(vec![r]),
        &db,
        &BTreeMap::new(),
        SourceTimes::default(),
        &policy(),
        NOW,
    );
    assert!(plan.corrections.is_empty());
}

#[test]
fn untrusted_drifting_and_in_sync_rows_are_never_touched() {
    let db = DbSnapshot {
        rows: vec![db_row("1", "BTC", "1", None)],
    };
    for state in [State::SourceUntrusted, State::StreamDrift, State::InSync] {
        let plan = corrections(
            &report(vec![row("BTC", "0", "1", true, state, 9)]),
            &db,
            &BTreeMap::new(),
            SourceTimes::default(),
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
    };
    let plan = corrections(
        &report(vec![row("BTC", "0", "1", true, State::DbStale, 3)]),
        &db,
        &BTreeMap::new(),
        SourceTimes::default(),
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
    let exchange: BTreeMap<PositionKey, Position> = [(
        PositionKey::net("SOL"),
        Position {
            key: PositionKey::net("SOL"),
            size: d("0.5"),
            entry_price: Some(d("123.45")),
        },
    )]
    .into();
    let r = report(vec![row("SOL", "0.5", "0", false, State::DbMissing, 3)]);
    let plan = corrections(
        &r,
        &DbSnapshot::default(),
        &exchange,
        SourceTimes::default(),
        &policy(),
        NOW,
    );
    assert_eq!(plan.summary(), "0 updated, 1 created, 0 deleted");
    assert_eq!(plan.corrections[0].entry_price, Some(d("123.45")));
    let off = CorrectionPolicy {
        insert: false,
        ..policy()
    };
    let plan = corrections(&r, &DbSnapshot::default(), &exchange, SourceTimes::default(), &off, NOW);
    assert_eq!(plan.skipped, vec![(PositionKey::net("SOL"), Skip::InsertsOff)]);
}

#[test]
fn an_ambiguous_update_is_skipped() {
    let db = DbSnapshot {
        rows: vec![db_row("1", "ETH", "1", None), db_row("2", "ETH", "1", None)],
    };
    let plan = corrections(
        &report(vec![row("ETH", "3", "2", true, State::DbMismatch, 3)]),
        &db,
        &BTreeMap::new(),
        SourceTimes::default(),
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
    let plan = corrections(
        &report(rows.clone()),
        &db,
        &BTreeMap::new(),
        SourceTimes::default(),
        &policy(),
        NOW,
    );
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
    let plan = corrections(&report(rows), &db, &BTreeMap::new(), SourceTimes::default(), &frac, NOW);
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
    };
    let plan = corrections(
        &report(vec![row("BTC", "0", "1", true, State::DbStale, 9)]),
        &db,
        &BTreeMap::new(),
        SourceTimes::default(),
        &off,
        NOW,
    );
    assert!(plan.is_empty());
}
