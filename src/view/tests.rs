use std::str::FromStr;

use super::*;
use crate::domain::{Position, PositionKey, Symbol};

const SILENCE: Duration = Duration::from_secs(30);

fn pos(symbol: &str, size: &str) -> Position {
    Position {
        key: PositionKey::net(symbol),
        size: Decimal::from_str(size).unwrap(),
        entry_price: None,
    }
}

fn snap(positions: Vec<Position>, seq: u64) -> StreamEvent {
    StreamEvent::Snapshot {
        positions,
        seq: Some(seq),
    }
}

fn rest(positions: Vec<Position>, seq: u64) -> RestSnapshot {
    RestSnapshot {
        positions,
        seq: Some(seq),
    }
}

fn no_lots(_: &Symbol) -> Option<Decimal> {
    None
}

fn live_view() -> StreamView {
    let mut v = StreamView::new(StreamStyle::FullSnapshots);
    v.apply(&StreamEvent::Connected, Timestamp(0));
    v.apply(&snap(vec![pos("BTC", "1")], 10), Timestamp(1));
    assert_eq!(
        v.verify_with_rest(&rest(vec![pos("BTC", "1")], 10), no_lots, Timestamp(0)),
        Verification::Agreed
    );
    v
}

#[test]
fn a_new_view_is_untrusted_and_disconnected() {
    let v = StreamView::new(StreamStyle::FullSnapshots);
    assert_eq!(v.trust(Timestamp(0), SILENCE), Err(Untrusted::Disconnected));
}

#[test]
fn snapshot_alone_is_not_enough_a_rest_read_must_agree() {
    let mut v = StreamView::new(StreamStyle::FullSnapshots);
    v.apply(&StreamEvent::Connected, Timestamp(0));
    assert_eq!(v.trust(Timestamp(0), SILENCE), Err(Untrusted::AwaitingSnapshot));
    v.apply(&snap(vec![pos("BTC", "1")], 10), Timestamp(1));
    assert_eq!(v.trust(Timestamp(1), SILENCE), Err(Untrusted::AwaitingRestAgreement));
    assert_eq!(
        v.verify_with_rest(&rest(vec![], 11), no_lots, Timestamp(0)),
        Verification::Disagreed
    );
    assert_eq!(v.trust(Timestamp(1), SILENCE), Err(Untrusted::AwaitingRestAgreement));
    assert_eq!(
        v.verify_with_rest(&rest(vec![pos("BTC", "1")], 11), no_lots, Timestamp(0)),
        Verification::Agreed
    );
    assert_eq!(v.trust(Timestamp(2), SILENCE), Ok(()));
}

#[test]
fn each_frame_replaces_the_open_set() {
    let mut v = live_view();
    v.apply(&snap(vec![pos("ETH", "-2")], 11), Timestamp(2));
    assert_eq!(v.positions().len(), 1);
    assert!(v.positions().contains_key(&PositionKey::net("ETH")));
    v.apply(&snap(vec![], 12), Timestamp(3));
    assert!(v.positions().is_empty());
}

#[test]
fn frames_with_a_lower_sequence_are_dropped() {
    let mut v = live_view();
    v.apply(&snap(vec![pos("BTC", "2")], 20), Timestamp(2));
    assert_eq!(
        v.apply(&snap(vec![pos("BTC", "3")], 15), Timestamp(3)),
        Applied::DroppedOutOfOrder
    );
    assert_eq!(
        v.positions().get(&PositionKey::net("BTC")).unwrap().size,
        Decimal::from(2)
    );
    // Equal sequence is applied: li is exchange-wide and funding changes do not bump it.
    assert_eq!(
        v.apply(&snap(vec![pos("BTC", "4")], 20), Timestamp(4)),
        Applied::Replaced
    );
}

#[test]
fn a_disconnect_untrusts_and_keeps_the_last_known_sizes() {
    let mut v = live_view();
    v.apply(&StreamEvent::Disconnected { reason: "reset".into() }, Timestamp(5));
    assert_eq!(v.trust(Timestamp(5), SILENCE), Err(Untrusted::Disconnected));
    assert_eq!(v.positions().len(), 1, "a dropped socket is not a flat account");
    assert_eq!(v.reconnects(), 1);
    v.apply(&StreamEvent::Connected, Timestamp(6));
    assert_eq!(v.trust(Timestamp(6), SILENCE), Err(Untrusted::AwaitingSnapshot));
}

#[test]
fn silence_untrusts() {
    let v = live_view();
    assert!(v.trust(Timestamp(1_000), SILENCE).is_ok());
    assert!(matches!(
        v.trust(Timestamp(40_000), SILENCE),
        Err(Untrusted::Silent { .. })
    ));
}

#[test]
fn rest_disagreement_after_verification_does_not_flatten_the_stream() {
    let mut v = live_view();
    assert_eq!(
        v.verify_with_rest(&rest(vec![], 30), no_lots, Timestamp(0)),
        Verification::Disagreed
    );
    assert_eq!(v.positions().get(&PositionKey::net("BTC")).unwrap().size, Decimal::ONE);
}

#[test]
fn an_older_rest_read_is_recognised() {
    let mut v = live_view();
    v.apply(&snap(vec![pos("BTC", "2")], 50), Timestamp(2));
    assert_eq!(
        v.verify_with_rest(&rest(vec![pos("BTC", "1")], 40), no_lots, Timestamp(0)),
        Verification::RestOlder
    );
}

#[test]
fn agreement_uses_the_lot_size() {
    let mut v = StreamView::new(StreamStyle::FullSnapshots);
    v.apply(&StreamEvent::Connected, Timestamp(0));
    v.apply(&snap(vec![pos("BTC", "1.000")], 1), Timestamp(0));
    let lots = |_: &Symbol| Some(Decimal::from_str("0.01").unwrap());
    assert_eq!(
        v.verify_with_rest(&rest(vec![pos("BTC", "1.004")], 1), lots, Timestamp(0)),
        Verification::Agreed
    );
}

#[test]
fn per_key_venues_seed_from_rest_and_keep_newer_stream_values() {
    let mut v = StreamView::new(StreamStyle::PerKeyUpdates);
    v.apply(&StreamEvent::Connected, Timestamp(0));
    v.apply(
        &StreamEvent::Update {
            position: pos("SOL", "0.5"),
            seq: None,
        },
        Timestamp(1),
    );
    let seed = RestSnapshot {
        positions: vec![pos("SOL", "0"), pos("ETH", "-1")],
        seq: None,
    };
    // The REST seed is older than the SOL update, so they disagree on SOL...
    assert_eq!(
        v.verify_with_rest(&seed, no_lots, Timestamp(0)),
        Verification::Disagreed
    );
    assert_eq!(
        v.positions().get(&PositionKey::net("SOL")).unwrap().size,
        Decimal::from_str("0.5").unwrap()
    );
    assert_eq!(
        v.positions().get(&PositionKey::net("ETH")).unwrap().size,
        Decimal::from(-1)
    );
    // ...and the next REST read that agrees makes the view trusted.
    let later = RestSnapshot {
        positions: vec![pos("SOL", "0.5"), pos("ETH", "-1")],
        seq: None,
    };
    assert_eq!(v.verify_with_rest(&later, no_lots, Timestamp(0)), Verification::Agreed);
    assert!(v.trust(Timestamp(2), SILENCE).is_ok());
}

#[test]
fn a_duplicate_update_changes_nothing() {
    let mut v = StreamView::new(StreamStyle::PerKeyUpdates);
    v.apply(&StreamEvent::Connected, Timestamp(0));
    let ev = StreamEvent::Update {
        position: pos("SOL", "0.5"),
        seq: None,
    };
    v.apply(&ev, Timestamp(1));
    let before = v.positions().clone();
    v.apply(&ev, Timestamp(2));
    assert_eq!(&before, v.positions());
    v.apply(
        &StreamEvent::Update {
            position: pos("SOL", "0"),
            seq: None,
        },
        Timestamp(3),
    );
    assert!(v.positions().is_empty(), "a zero update closes the key");
}

#[test]
fn dirty_symbols_are_kept_until_rest_agrees() {
    let mut v = live_view();
    v.apply(
        &StreamEvent::Dirty {
            symbols: vec!["BTC".into()],
            cause: "market_liquidation".into(),
        },
        Timestamp(3),
    );
    assert!(v.dirty().contains("BTC"));
    v.verify_with_rest(&rest(vec![pos("BTC", "1")], 12), no_lots, Timestamp(0));
    assert!(v.dirty().is_empty());
}

#[test]
fn a_frame_reports_the_keys_whose_size_it_changed() {
    let mut v = StreamView::new(StreamStyle::FullSnapshots);
    v.apply(&StreamEvent::Connected, Timestamp(0));
    v.apply(&snap(vec![pos("BTC", "1"), pos("ETH", "2")], 1), Timestamp(1));
    let keys = |v: &StreamView| v.changed().iter().map(|k| k.symbol.clone()).collect::<Vec<_>>();
    assert_eq!(keys(&v), ["BTC", "ETH"]);
    // Same BTC, ETH resized, SOL new; a snapshot without a key closed it.
    v.apply(
        &snap(vec![pos("BTC", "1"), pos("ETH", "3"), pos("SOL", "1")], 2),
        Timestamp(2),
    );
    assert_eq!(keys(&v), ["ETH", "SOL"]);
    v.apply(&snap(vec![pos("ETH", "3"), pos("SOL", "1")], 3), Timestamp(3));
    assert_eq!(keys(&v), ["BTC"]);
    v.apply(&StreamEvent::Alive, Timestamp(4));
    assert!(v.changed().is_empty());
    v.apply(
        &StreamEvent::Update {
            position: pos("SOL", "0"),
            seq: Some(4),
        },
        Timestamp(5),
    );
    assert_eq!(keys(&v), ["SOL"]);
}

mod snapshots {
    use proptest::prelude::*;

    use super::*;

    fn frame() -> impl Strategy<Value = Vec<Position>> {
        let item = (
            prop::sample::select(vec!["BTC", "ETH", "SOL", "ZEC"]),
            prop::sample::select(vec!["0", "1", "-1", "2.5"]),
            prop::option::of(prop::sample::select(vec!["10", "11"])),
        )
            .prop_map(|(s, size, entry)| Position {
                entry_price: entry.map(|e| Decimal::from_str(e).unwrap()),
                ..pos(s, size)
            });
        prop::collection::vec(item, 0..6)
    }

    proptest! {
        /// A snapshot leaves exactly what collecting it into a map would (the
        /// last item of a key wins, zero sizes drop out), and reports the keys
        /// whose size changed or that opened, in order, then those closed.
        #[test]
        fn a_snapshot_replaces_the_open_set_as_a_map_would(first in frame(), second in frame()) {
            let mut v = StreamView::new(StreamStyle::FullSnapshots);
            v.apply(&StreamEvent::Connected, Timestamp(0));
            v.apply(&snap(first, 1), Timestamp(1));
            let before = v.positions().clone();
            v.apply(&snap(second.clone(), 2), Timestamp(2));
            let expected: BTreeMap<PositionKey, Position> = second
                .iter()
                .filter(|p| !p.size.is_zero())
                .map(|p| (p.key.clone(), p.clone()))
                .collect();
            prop_assert!(v.positions().iter().eq(expected.iter()), "{:?} against {:?}", v.positions(), expected);
            let mut changed: Vec<PositionKey> = expected
                .iter()
                .filter(|(k, p)| before.get(*k).is_none_or(|old| old.size != p.size))
                .map(|(k, _)| k.clone())
                .collect();
            changed.extend(before.keys().filter(|k| !expected.contains_key(*k)).cloned());
            prop_assert_eq!(v.changed(), &changed[..]);
        }

        /// Frames told as changes (what differs from the last set: new
        /// values, zero for a closed key) leave the view, its changed keys
        /// and its trust exactly as the same frames told whole.
        #[test]
        fn changes_leave_the_view_as_the_whole_frames_would(first in frame(), rest in prop::collection::vec(frame(), 1..6)) {
            let as_map = |f: &[Position]| -> BTreeMap<PositionKey, Position> {
                f.iter().filter(|p| !p.size.is_zero()).map(|p| (p.key.clone(), p.clone())).collect()
            };
            let (mut whole, mut told) = (live_view(), live_view());
            whole.apply(&snap(first.clone(), 11), Timestamp(2));
            told.apply(&snap(first.clone(), 11), Timestamp(2));
            let mut last = as_map(&first);
            for (i, f) in rest.iter().enumerate() {
                let next = as_map(f);
                let mut diff: Vec<Position> = next.values().filter(|p| last.get(&p.key) != Some(*p)).cloned().collect();
                diff.extend(last.keys().filter(|k| !next.contains_key(*k)).map(|k| Position { key: k.clone(), size: Decimal::ZERO, entry_price: None }));
                let at = Timestamp(3 + i as i64);
                prop_assert_eq!(whole.apply(&snap(f.clone(), 12), at), Applied::Replaced);
                prop_assert_eq!(told.apply(&StreamEvent::Changes { positions: diff, seq: Some(12) }, at), Applied::Replaced);
                prop_assert_eq!(whole.positions(), told.positions());
                let mut changed = whole.changed().to_vec();
                changed.sort();
                prop_assert_eq!(&changed[..], told.changed());
                prop_assert_eq!(whole.trust(at, SILENCE), told.trust(at, SILENCE));
                last = next;
            }
        }
    }
}

#[test]
fn changes_with_no_set_from_this_connection_are_not_applied() {
    let btc = |size| StreamEvent::Changes {
        positions: vec![pos("BTC", size)],
        seq: Some(30),
    };
    // After a reconnect, before the connection's first whole frame.
    let mut v = live_view();
    v.apply(&StreamEvent::Connected, Timestamp(2));
    assert_eq!(v.apply(&btc("5"), Timestamp(3)), Applied::Unanchored);
    assert_eq!(v.trust(Timestamp(3), SILENCE), Err(Untrusted::AwaitingSnapshot));
    // An older whole frame is dropped and anchors nothing: the changes after
    // it are told against the set the view kept.
    let mut v = live_view();
    assert_eq!(v.apply(&btc("2"), Timestamp(2)), Applied::Replaced);
    assert_eq!(v.trust(Timestamp(2), SILENCE), Ok(()));
    assert_eq!(v.apply(&snap(vec![], 9), Timestamp(3)), Applied::DroppedOutOfOrder);
    assert_eq!(v.apply(&btc("3"), Timestamp(4)), Applied::Replaced);
    // Changes older than the set they would change: the view stops trusting itself.
    let older = StreamEvent::Changes {
        positions: vec![pos("BTC", "5")],
        seq: Some(29),
    };
    assert_eq!(v.apply(&older, Timestamp(4)), Applied::Unanchored);
    assert_eq!(
        v.positions().get(&PositionKey::net("BTC")).unwrap().size,
        Decimal::from(3)
    );
    assert_eq!(v.trust(Timestamp(4), SILENCE), Err(Untrusted::AwaitingSnapshot));
    assert_eq!(v.apply(&btc("4"), Timestamp(5)), Applied::Unanchored);
    // A whole frame anchors it again; REST must agree again before it is trusted.
    assert_eq!(
        v.apply(&snap(vec![pos("BTC", "4")], 30), Timestamp(6)),
        Applied::Replaced
    );
    assert_eq!(v.trust(Timestamp(6), SILENCE), Err(Untrusted::AwaitingRestAgreement));
    assert_eq!(v.apply(&btc("5"), Timestamp(7)), Applied::Replaced);
    assert_eq!(
        v.positions().get(&PositionKey::net("BTC")).unwrap().size,
        Decimal::from(5)
    );
}

/// A Nado-style view, live and trusted on ETH short 0.5 and SOL long 2.
fn trusted_per_key_view() -> StreamView {
    let mut v = StreamView::new(StreamStyle::PerKeyUpdates);
    v.apply(&StreamEvent::Connected, Timestamp(0));
    let held = RestSnapshot {
        positions: vec![pos("ETH", "-0.5"), pos("SOL", "2")],
        seq: None,
    };
    assert_eq!(v.verify_with_rest(&held, no_lots, Timestamp(1)), Verification::Agreed);
    assert!(v.trust(Timestamp(1), SILENCE).is_ok());
    v
}

fn flat() -> RestSnapshot {
    RestSnapshot {
        positions: vec![],
        seq: None,
    }
}

#[test]
fn an_empty_rest_reply_after_a_resync_is_not_a_baseline() {
    let mut v = trusted_per_key_view();
    // A resync: the stream reconnects while REST answers "no positions".
    v.apply(
        &StreamEvent::Disconnected {
            reason: "resync".into(),
        },
        Timestamp(2),
    );
    v.apply(&StreamEvent::Connected, Timestamp(3));
    for t in 4..10 {
        // The same empty answer, however often, earns nothing.
        assert_eq!(
            v.verify_with_rest(&flat(), no_lots, Timestamp(t)),
            Verification::BaselineConflict
        );
        let why = v.trust(Timestamp(t), SILENCE).unwrap_err();
        assert_eq!(
            why,
            Untrusted::BaselineConflict {
                keys: vec![PositionKey::net("ETH"), PositionKey::net("SOL")]
            }
        );
        assert_eq!(v.positions().len(), 2, "the held positions are not wiped");
    }
    // Another reconnect keeps the same judge: the view was never trusted since.
    v.apply(&StreamEvent::Disconnected { reason: "again".into() }, Timestamp(10));
    v.apply(&StreamEvent::Connected, Timestamp(11));
    assert_eq!(
        v.verify_with_rest(&flat(), no_lots, Timestamp(12)),
        Verification::BaselineConflict
    );
    // REST recovers: the baseline agrees with the last trusted view.
    let back = RestSnapshot {
        positions: vec![pos("ETH", "-0.5"), pos("SOL", "2")],
        seq: None,
    };
    assert_eq!(v.verify_with_rest(&back, no_lots, Timestamp(13)), Verification::Agreed);
    assert!(v.trust(Timestamp(13), SILENCE).is_ok());
}

#[test]
fn a_stream_event_settles_a_baseline_conflict_for_its_key() {
    let mut v = trusted_per_key_view();
    v.apply(&StreamEvent::Disconnected { reason: "drop".into() }, Timestamp(2));
    v.apply(&StreamEvent::Connected, Timestamp(3));
    // SOL really was closed while the socket was down: REST says so, and
    // so, once it speaks, does the stream.
    let eth_only = RestSnapshot {
        positions: vec![pos("ETH", "-0.5")],
        seq: None,
    };
    assert_eq!(
        v.verify_with_rest(&eth_only, no_lots, Timestamp(4)),
        Verification::BaselineConflict
    );
    v.apply(
        &StreamEvent::Update {
            position: pos("SOL", "0"),
            seq: None,
        },
        Timestamp(5),
    );
    assert_eq!(
        v.verify_with_rest(&eth_only, no_lots, Timestamp(6)),
        Verification::Agreed
    );
    assert!(v.trust(Timestamp(6), SILENCE).is_ok());
    assert!(!v.positions().contains_key(&PositionKey::net("SOL")));
}

#[test]
fn pongs_do_not_make_position_data_good() {
    let mut v = trusted_per_key_view();
    assert_eq!(v.last_good_at(), Some(Timestamp(1)));
    v.apply(&StreamEvent::Alive, Timestamp(50));
    assert_eq!(v.last_good_at(), Some(Timestamp(1)));
    assert_eq!(v.last_frame_at(), Some(Timestamp(50)));
    v.apply(
        &StreamEvent::Update {
            position: pos("SOL", "3"),
            seq: None,
        },
        Timestamp(60),
    );
    assert_eq!(v.last_good_at(), Some(Timestamp(60)));
    assert_eq!(v.changed_at(&PositionKey::net("SOL")), Some(Timestamp(60)));
    assert_eq!(v.changed_at(&PositionKey::net("ETH")), None);
}

#[test]
fn a_drift_where_only_rest_moved_is_told_apart() {
    let mut v = trusted_per_key_view();
    // REST later says SOL is gone; the stream never said so.
    assert_eq!(
        v.verify_with_rest(&flat(), no_lots, Timestamp(5)),
        Verification::Disagreed
    );
    assert!(v.rest_moved("SOL"));
    // Once the stream itself moves SOL, the drift is the stream's to explain.
    v.apply(
        &StreamEvent::Update {
            position: pos("SOL", "3"),
            seq: None,
        },
        Timestamp(6),
    );
    assert!(!v.rest_moved("SOL"));
    // A view that is not live (reconnecting) never claims it.
    v.apply(&StreamEvent::Disconnected { reason: "x".into() }, Timestamp(7));
    assert!(!v.rest_moved("ETH"));
}

/// Issue [baselines] part 1: a second endpoint that agrees with REST
/// settles a refused baseline; one that agrees with the judge (an outage
/// faking the position reads) does not, and a reading from before the
/// connect is gone with it.
#[test]
fn a_second_endpoint_settles_a_refused_baseline_only_when_it_agrees_with_rest() {
    let mut v = trusted_per_key_view();
    v.apply(&StreamEvent::Disconnected { reason: "drop".into() }, Timestamp(2));
    v.apply(&StreamEvent::Connected, Timestamp(3));
    let eth_only = RestSnapshot {
        positions: vec![pos("ETH", "-0.5")],
        seq: None,
    };
    assert_eq!(
        v.verify_with_rest(&eth_only, no_lots, Timestamp(4)),
        Verification::BaselineConflict
    );
    assert_eq!(v.conflict_keys(), [PositionKey::net("SOL")]);
    // The second endpoint still sees SOL 2: REST's "flat" stays refused.
    v.corroborate(&[pos("SOL", "2")]);
    assert_eq!(
        v.verify_with_rest(&eth_only, no_lots, Timestamp(5)),
        Verification::BaselineConflict
    );
    // A reconnect forgets every reading taken before it.
    v.apply(&StreamEvent::Disconnected { reason: "drop".into() }, Timestamp(6));
    v.apply(&StreamEvent::Connected, Timestamp(7));
    v.corroborate(&[pos("SOL", "0")]);
    assert_eq!(
        v.verify_with_rest(&eth_only, no_lots, Timestamp(8)),
        Verification::Agreed,
        "the second endpoint agrees SOL is flat"
    );
    assert!(v.trust(Timestamp(8), SILENCE).is_ok());
    assert_eq!(v.positions().len(), 1);
}
