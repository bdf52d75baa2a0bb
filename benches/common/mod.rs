//! The account the scaling and scrape benches measure: `n` positions, one per
//! symbol, agreeing between stream and REST, every tenth stale in the
//! database by one lot (drift for the rules to look at).

// Each bench binary uses a part of this module.
#![allow(dead_code)]

use std::time::Duration;

use driftwatch::domain::{DbRow, DbSnapshot, Leg, Position, PositionKey, Symbol, Timestamp};
use driftwatch::reconcile::{AccountReport, Policy, Polled, Reconciler};
use driftwatch::replay::AccountSources;
use driftwatch::rules::RuleSet;
use driftwatch::venue::types::{RestSnapshot, StreamEvent, StreamStyle};
use driftwatch::view::StreamView;
use rust_decimal::Decimal;

/// The account, as the core holds it.
pub fn world(n: usize) -> AccountSources {
    let sym = |i: usize| format!("S{i:06}");
    let pos = |i: usize| Position {
        key: PositionKey {
            symbol: sym(i).into(),
            leg: Leg::Net,
        },
        size: Decimal::new(1 + i as i64 % 7, 1),
        entry_price: None,
    };
    let positions: Vec<Position> = (0..n).map(pos).collect();
    let mut view = StreamView::new(StreamStyle::FullSnapshots);
    view.apply(&StreamEvent::Connected, Timestamp(0));
    view.apply(
        &StreamEvent::Snapshot {
            positions: positions.clone(),
            seq: None,
        },
        Timestamp(0),
    );
    let mut rest = Polled::default();
    let snap = RestSnapshot { positions, seq: None };
    let lots: driftwatch::sorted::SortedMap<Symbol, Decimal> =
        (0..n).map(|i| (sym(i).into(), Decimal::new(1, 2))).collect();
    view.verify_with_rest(&snap, |s| lots.get(s).copied(), Timestamp(0));
    rest.succeeded(snap, Timestamp(0));
    let mut db = Polled::default();
    db.succeeded(
        DbSnapshot {
            rows: (0..n)
                .map(|i| {
                    // Every tenth row is stale by one lot: drift for the rules.
                    let size = pos(i).size + if i % 10 == 0 { Decimal::ONE } else { Decimal::ZERO };
                    DbRow {
                        row_key: i.to_string(),
                        key: PositionKey::net(sym(i)),
                        size,
                        side_word: None,
                        amount: size,
                        updated_at: None,
                        busy: false,
                    }
                })
                .collect(),
            ..Default::default()
        },
        Timestamp(0),
    );
    let marks = (0..n).map(|i| (sym(i).into(), Decimal::new(100, 0))).collect();
    AccountSources {
        view,
        rest,
        db,
        lots,
        marks,
    }
}

pub fn policy() -> Policy {
    Policy {
        confirm_polls: 3,
        confirm_after: Duration::from_secs(60),
        rest_stale_after: Duration::from_secs(3600),
        db_stale_after: Duration::from_secs(3600),
        stream_silence_after: Duration::from_secs(3600),
        rest_answer_within: Duration::from_secs(10),
    }
}

/// A full reconciliation of the account, as the core's tick makes it.
pub fn report(w: &AccountSources) -> AccountReport {
    Reconciler::new().reconcile(0, &w.inputs(), &policy(), Timestamp(1000))
}

/// The shipped rule set (rules/default.yaml and delta-neutral.yaml).
pub fn shipped_rules() -> RuleSet {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    let files = driftwatch::rules::file::rule_files(&root.join("rules")).expect("rules/");
    driftwatch::rules::compile_files(&files).expect("the shipped rules compile")
}
