use super::*;
use crate::domain::{Leg, Position, PositionKey};

fn header() -> Header {
    Header {
        driftwatch_recording: FORMAT_VERSION,
        started_at: Timestamp(0),
        tick: Duration::from_secs(1),
        accounts: vec![RecordedAccount {
            name: "main".into(),
            venue: "pacifica".into(),
            style: StreamStyle::FullSnapshots,
            policy: Policy {
                confirm_polls: 2,
                confirm_after: Duration::from_secs(5),
                rest_stale_after: Duration::from_secs(30),
                db_stale_after: Duration::from_secs(30),
                stream_silence_after: Duration::from_secs(30),
                rest_answer_within: Duration::from_secs(10),
            },
        }],
    }
}

fn sol(size: &str) -> Position {
    Position {
        key: PositionKey {
            symbol: "SOL".into(),
            leg: Leg::Net,
        },
        size: size.parse().unwrap(),
        entry_price: None,
    }
}

/// The bot's row for 0.5 SOL.
fn sol_row() -> crate::domain::DbRow {
    crate::domain::DbRow {
        row_key: "1".into(),
        key: PositionKey::net("SOL"),
        size: "0.5".parse().unwrap(),
        side_word: None,
        amount: "0.5".parse().unwrap(),
        updated_at: None,
        busy: false,
    }
}

fn obs(at: i64, observed: Observed) -> Observation {
    Observation {
        at: Timestamp(at),
        account: "main".into(),
        observed,
        more_queued: false,
    }
}

fn text(h: &Header, o: &[Observation]) -> String {
    let mut t = serde_json::to_string(h).unwrap();
    for o in o {
        t.push('\n');
        t.push_str(&serde_json::to_string(o).unwrap());
    }
    t
}

#[test]
fn observations_round_trip_exactly() {
    let o = vec![
        obs(1, Observed::Stream(StreamEvent::Connected)),
        obs(
            2,
            Observed::Stream(StreamEvent::Snapshot {
                positions: vec![sol("0.123456789012345678")],
                seq: Some(7),
            }),
        ),
        obs(3, Observed::Rest(Err("timeout".into()))),
        obs(4, Observed::Db(Ok(DbSnapshot::default()))),
    ];
    let (h, back) = parse(&text(&header(), &o)).unwrap();
    assert_eq!(h, header());
    assert_eq!(back, o);
    // Sizes are decimal strings on the wire, never floats.
    assert!(text(&header(), &o).contains(r#""size":"0.123456789012345678""#));
}

#[test]
fn bad_recordings_say_where() {
    assert_eq!(parse(""), Err(ReplayError::NoHeader));
    assert_eq!(parse("{\"at\": 1}"), Err(ReplayError::NoHeader));
    let t = format!(
        "{}\n{{\"at\":1,\"account\":\"main\",\"kind\":\"nope\"}}",
        serde_json::to_string(&header()).unwrap()
    );
    assert!(matches!(parse(&t), Err(ReplayError::Line { line: 2, .. })));
    let other = Observation {
        account: "other".into(),
        ..obs(1, Observed::Stream(StreamEvent::Alive))
    };
    let err = parse(&text(&header(), &[other])).unwrap_err();
    assert_eq!(err.to_string(), "line 2: account \"other\" is not in the header");
}

#[test]
fn replay_finds_what_a_rule_would_have_done_and_when() {
    let rules = crate::rules::compile(
        "rules:\n  - id: untracked\n    condition: {untracked_position: {size: 0.1}}\n    for: 10s\n    severity: warning\n    actions: [alert]\n",
        std::path::Path::new("r.yaml"),
    )
    .unwrap();
    let s = 1000;
    let mut o = vec![
        obs(0, Observed::Stream(StreamEvent::Connected)),
        obs(
            0,
            Observed::Stream(StreamEvent::Snapshot {
                positions: vec![sol("0.5")],
                seq: None,
            }),
        ),
    ];
    // REST and DB every 5 s for a minute; the DB never explains the 0.5 SOL.
    for t in (0..=60).step_by(5) {
        o.push(obs(
            t * s,
            Observed::Rest(Ok(RestSnapshot {
                positions: vec![sol("0.5")],
                seq: None,
            })),
        ));
        o.push(obs(t * s, Observed::Db(Ok(DbSnapshot::default()))));
    }
    let replayed = replay(&header(), &o, &rules);
    // It holds from t=0 (trusted at the first agreeing REST read) and fires at 10 s.
    assert_eq!(replayed.len(), 1, "{replayed:#?}");
    assert_eq!(replayed[0].at, Timestamp(10 * s));
    assert_eq!(replayed[0].decision.subject, "SOL");
    let summary = summary(&replayed);
    assert_eq!(summary["untracked"].0, 1);
    // A longer hold would not have fired within this history.
    let patient = crate::rules::compile(
        "rules:\n  - id: untracked\n    condition: {untracked_position: {size: 0.1}}\n    for: 2m\n    severity: warning\n    actions: [alert]\n",
        std::path::Path::new("r.yaml"),
    )
    .unwrap();
    assert!(replay(&header(), &o, &patient).is_empty());
}

#[test]
fn an_alerted_condition_that_stops_holding_is_cleared_once() {
    let rules = crate::rules::compile(
        "rules:\n  - id: untracked\n    condition: {untracked_position: {size: 0.1}}\n    severity: critical\n    actions: [alert]\n",
        std::path::Path::new("r.yaml"),
    )
    .unwrap();
    let h = header();
    let mut src = AccountSources::new(StreamStyle::FullSnapshots);
    let mut rec = Reconciler::default();
    let mut engine = Engine::new();
    let snap = || {
        Observed::Rest(Ok(RestSnapshot {
            positions: vec![sol("0.5")],
            seq: None,
        }))
    };
    let explained = DbSnapshot {
        rows: vec![sol_row()],
        ..Default::default()
    };
    let steps = [
        Observed::Stream(StreamEvent::Connected),
        Observed::Stream(StreamEvent::Snapshot {
            positions: vec![sol("0.5")],
            seq: None,
        }),
        snap(),
        Observed::Db(Ok(DbSnapshot::default())),
        // The bot records its position: the condition no longer holds.
        Observed::Db(Ok(explained)),
        snap(),
    ];
    let mut fired = 0;
    let mut cleared = Vec::new();
    for (i, o) in steps.iter().enumerate() {
        let now = Timestamp(i as i64 * 1000);
        src.observe(o, now);
        let report = rec.reconcile(0, &src.inputs(), &h.accounts[0].policy, now);
        let states = [AccountState {
            venue: "pacifica",
            account: "main",
            report: &report,
            marks: &src.marks,
        }];
        fired += engine.evaluate(&rules, &states, now).len();
        cleared.extend(engine.take_cleared());
    }
    assert_eq!(fired, 1);
    assert_eq!(cleared.len(), 1, "{cleared:?}");
    assert_eq!(cleared[0].rule, "untracked");
    assert_eq!(cleared[0].subject, "SOL");
    assert_eq!(cleared[0].severity, crate::rules::Severity::Critical);
}

/// A burst (inputs already queued behind each other) is decided once, after
/// its last input, as the core decides it: a size that lived only inside the
/// burst is never judged; the same inputs taken one by one are.
#[test]
fn a_burst_is_decided_once_on_its_latest_state() {
    let rules = crate::rules::compile(
        "rules:\n  - id: sol-limit\n    condition: {position_limit: {size: 1}}\n    severity: warning\n    actions: [alert]\n",
        std::path::Path::new("r.yaml"),
    )
    .unwrap();
    let frame = |size: &str| {
        Observed::Stream(StreamEvent::Snapshot {
            positions: vec![sol(size)],
            seq: None,
        })
    };
    let history = |queued: bool| {
        let mut spike = obs(1000, frame("2"));
        spike.more_queued = queued;
        vec![
            obs(0, Observed::Stream(StreamEvent::Connected)),
            obs(0, frame("0.5")),
            obs(
                0,
                Observed::Rest(Ok(RestSnapshot {
                    positions: vec![sol("0.5")],
                    seq: None,
                })),
            ),
            obs(
                0,
                Observed::Db(Ok(DbSnapshot {
                    rows: vec![sol_row()],
                    ..Default::default()
                })),
            ),
            spike,
            obs(1001, frame("0.5")),
        ]
    };
    let one_by_one = replay(&header(), &history(false), &rules);
    assert_eq!(one_by_one.len(), 1, "{one_by_one:#?}");
    assert_eq!(one_by_one[0].at, Timestamp(1000));
    assert!(replay(&header(), &history(true), &rules).is_empty());
    // The burst marker survives the recording; a lone input writes none.
    let text = text(&header(), &history(true));
    assert_eq!(text.matches(r#""more_queued":true"#).count(), 1, "{text}");
    assert_eq!(parse(&text).unwrap().1, history(true));
}

#[test]
fn after_a_frame_the_recording_lacks_the_next_is_recorded_whole() {
    let eth = |size: &str| Position {
        key: PositionKey::net("ETH"),
        ..sol(size)
    };
    let changes = |p: Position| {
        Observed::Stream(StreamEvent::Changes {
            positions: vec![p],
            seq: None,
        })
    };
    let mut live = AccountSources::new(StreamStyle::FullSnapshots);
    let mut recorded = Vec::new();
    let mut unrecorded = false;
    for (i, (observed, kept)) in [
        (Observed::Stream(StreamEvent::Connected), true),
        (
            Observed::Stream(StreamEvent::Snapshot {
                positions: vec![sol("1"), eth("2")],
                seq: None,
            }),
            true,
        ),
        // The recorder was behind: this frame is not in the recording.
        (changes(sol("3")), false),
        (changes(eth("4")), true),
        (changes(eth("5")), true),
    ]
    .into_iter()
    .enumerate()
    {
        let effect = live.observe(&observed, Timestamp(i as i64));
        let told = live.recordable(observed.clone(), effect, unrecorded);
        // Only the frame after the gap is recorded whole.
        assert_eq!(told != observed, i == 3, "frame {i}");
        if kept {
            recorded.push(told);
        }
        unrecorded = !kept;
    }
    let mut replayed = AccountSources::new(StreamStyle::FullSnapshots);
    for (i, o) in recorded.iter().enumerate() {
        replayed.observe(o, Timestamp(i as i64));
    }
    assert_eq!(replayed.view.positions(), live.view.positions());
    assert_eq!(
        live.view.positions().get(&PositionKey::net("SOL")).unwrap().size,
        "3".parse().unwrap()
    );
}
