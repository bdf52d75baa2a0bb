//! Property tests over generated interleavings of what the core observes:
//! stream frames, REST requests and their answers (fresh, empty-because-
//! broken, failing, or never), bot writes, DB reads, reconnects and the
//! passing of time. Each step runs the same pure pipeline the daemon runs
//! (`AccountSources::observe`, `Reconciler::reconcile`, `plan::corrections`)
//! against a ground truth the generator keeps, and every planned correction
//! is checked:
//!
//! - **right**: a delete only where the exchange is truly flat, an update
//!   only to the size the exchange truly holds;
//! - **fresh**: the REST reading it rests on was requested after the bot's
//!   last write to the row;
//! - **never adopting**: with the defaults, no insert and no row grown or
//!   flipped to match the exchange.
//!
//! Run longer with `PROPTEST_CASES=100000 cargo test --test interleavings`.

use std::collections::BTreeMap;
use std::time::Duration;

use driftwatch::domain::{DbRow, DbSnapshot, Position, PositionKey, Timestamp};
use driftwatch::plan::{self, CorrectionPolicy, Mode, Op, SourceTimes};
use driftwatch::reconcile::{Policy, Reconciler};
use driftwatch::replay::{AccountSources, Observed};
use driftwatch::venue::types::{RestSnapshot, StreamEvent, StreamStyle};
use proptest::prelude::*;
use rust_decimal::Decimal;

const SYMBOLS: [&str; 3] = ["BTC", "ETH", "SOL"];

#[derive(Debug, Clone)]
enum Answer {
    Fresh,
    /// Success with no positions, whatever is open (a broken venue).
    Empty,
    Fail,
}

#[derive(Debug, Clone)]
enum Step {
    /// The exchange's position in a symbol changes (the stream sees it
    /// while connected; nothing changes while it is not).
    Exchange(usize, i64),
    RestRequest,
    RestAnswer(Answer),
    /// The bot writes its row (0 deletes it).
    BotWrite(usize, i64),
    DbRead,
    Advance(u32),
    Reconnect,
}

fn step() -> impl Strategy<Value = Step> {
    prop_oneof![
        3 => (0..3usize, -3..=3i64).prop_map(|(s, n)| Step::Exchange(s, n)),
        3 => Just(Step::RestRequest),
        3 => prop_oneof![
            4 => Just(Answer::Fresh),
            2 => Just(Answer::Empty),
            1 => Just(Answer::Fail),
        ]
        .prop_map(Step::RestAnswer),
        2 => (0..3usize, -3..=3i64).prop_map(|(s, n)| Step::BotWrite(s, n)),
        4 => Just(Step::DbRead),
        3 => (1..4_000u32).prop_map(Step::Advance),
        1 => Just(Step::Reconnect),
    ]
}

fn d(n: i64) -> Decimal {
    Decimal::from(n)
}

fn positions(truth: &BTreeMap<usize, i64>) -> Vec<Position> {
    truth
        .iter()
        .filter(|(_, n)| **n != 0)
        .map(|(s, n)| Position {
            key: PositionKey::net(SYMBOLS[*s]),
            size: d(*n),
            entry_price: None,
        })
        .collect()
}

struct World {
    style: StreamStyle,
    truth: BTreeMap<usize, i64>,
    /// The bot's table: symbol → (size, last write).
    table: BTreeMap<usize, (i64, Timestamp)>,
    /// The outstanding REST request: when it was sent, and what was true then.
    pending: Option<(Timestamp, BTreeMap<usize, i64>)>,
    connected: bool,
    now: Timestamp,
    src: AccountSources,
    rec: Reconciler,
}

fn policy() -> Policy {
    Policy {
        confirm_polls: 2,
        confirm_after: Duration::from_secs(10),
        rest_stale_after: Duration::from_secs(10),
        db_stale_after: Duration::from_secs(10),
        stream_silence_after: Duration::from_secs(3600),
        rest_answer_within: Duration::from_secs(2),
    }
}

fn correct() -> CorrectionPolicy {
    CorrectionPolicy {
        mode: Mode::Apply,
        insert: false,
        adopt: false,
        mapped_symbols: None,
        leg: driftwatch::domain::RowLegs::One(driftwatch::domain::Leg::Net),
        stale: plan::StaleFix::Delete,
        resize: true,
        confirmations: 2,
        // No settle window: freshness alone must protect a new row.
        settle: Duration::ZERO,
        max_rows: 100,
        max_fraction: None,
    }
}

impl World {
    fn new(style: StreamStyle) -> World {
        let mut w = World {
            style,
            truth: BTreeMap::new(),
            table: BTreeMap::new(),
            pending: None,
            connected: false,
            now: Timestamp(1_000),
            src: AccountSources::new(style),
            rec: Reconciler::new(),
        };
        // The venue's markets: a row outside them is never corrected, so
        // without these the property would hold by doing nothing.
        let markets = SYMBOLS
            .iter()
            .map(|s| driftwatch::venue::types::MarketInfo {
                symbol: s.to_string(),
                lot_size: Decimal::new(1, 2),
                tick_size: Decimal::new(1, 2),
            })
            .collect();
        w.observe(Observed::Markets(Ok(markets)));
        w.connect();
        w
    }

    fn observe(&mut self, o: Observed) {
        self.src.observe(&o, self.now);
    }

    fn connect(&mut self) {
        self.connected = true;
        self.observe(Observed::Stream(StreamEvent::Connected));
        if self.style == StreamStyle::FullSnapshots {
            let positions = positions(&self.truth);
            self.observe(Observed::Stream(StreamEvent::Snapshot { positions, seq: None }));
        }
    }

    fn apply(&mut self, step: &Step) {
        match step {
            Step::Exchange(s, n) => {
                if !self.connected {
                    return;
                }
                self.truth.insert(*s, *n);
                let event = match self.style {
                    StreamStyle::FullSnapshots => StreamEvent::Snapshot {
                        positions: positions(&self.truth),
                        seq: None,
                    },
                    StreamStyle::PerKeyUpdates => StreamEvent::Update {
                        position: Position {
                            key: PositionKey::net(SYMBOLS[*s]),
                            size: d(*n),
                            entry_price: None,
                        },
                        seq: None,
                    },
                };
                self.observe(Observed::Stream(event));
            }
            Step::RestRequest => {
                if self.pending.is_none() {
                    self.pending = Some((self.now, self.truth.clone()));
                    self.observe(Observed::RestRequested);
                }
            }
            Step::RestAnswer(answer) => {
                let Some((_, then)) = self.pending.take() else { return };
                let reply = match answer {
                    Answer::Fresh => Ok(RestSnapshot {
                        positions: positions(&then),
                        seq: None,
                    }),
                    Answer::Empty => Ok(RestSnapshot {
                        positions: vec![],
                        seq: None,
                    }),
                    Answer::Fail => Err("HTTP 500".to_owned()),
                };
                self.observe(Observed::Rest(reply));
            }
            Step::BotWrite(s, n) => {
                if *n == 0 {
                    self.table.remove(s);
                } else {
                    self.table.insert(*s, (*n, self.now));
                }
            }
            Step::DbRead => {
                let rows = self
                    .table
                    .iter()
                    .map(|(s, (n, at))| DbRow {
                        row_key: s.to_string(),
                        key: PositionKey::net(SYMBOLS[*s]),
                        size: d(*n),
                        side_word: None,
                        amount: d(n.abs()),
                        updated_at: Some(*at),
                        busy: false,
                    })
                    .collect();
                self.observe(Observed::Db(Ok(DbSnapshot {
                    rows,
                    ..Default::default()
                })));
            }
            Step::Advance(ms) => self.now = Timestamp(self.now.0 + i64::from(*ms)),
            Step::Reconnect => {
                self.observe(Observed::Stream(StreamEvent::Disconnected { reason: "test".into() }));
                self.connected = false;
                self.now = Timestamp(self.now.0 + 1);
                self.connect();
            }
        }
    }

    /// Plans as the core does after a DB read: the plan and the source
    /// times it was made on (none while the DB is unusable).
    fn plan(&mut self) -> Option<(plan::CorrectionPlan, SourceTimes)> {
        let p = policy();
        let report = self.rec.reconcile(0, &self.src.inputs(), &p, self.now);
        let db = self.src.db.usable(self.now, p.db_stale_after, p.db_stale_after).ok()?;
        let times = SourceTimes {
            ws: self.src.view.last_frame_at(),
            rest: self.src.rest.read_at(),
            db: self.src.db.read_at(),
        };
        let market = plan::Exchange {
            positions: self.src.view.positions(),
            lots: &self.src.lots,
            marks: &self.src.marks,
        };
        let plan = plan::corrections(&report, db, &market, times, &BTreeMap::new(), &correct(), self.now);
        Some((plan, times))
    }

    fn planned(&mut self) -> Vec<plan::Correction> {
        self.plan().map(|(p, _)| p.corrections).unwrap_or_default()
    }

    /// Plans as the core does after a DB read, and checks every correction.
    fn check(&mut self) -> Result<(), TestCaseError> {
        let Some((plan, times)) = self.plan() else {
            return Ok(());
        };
        for c in &plan.corrections {
            let s = SYMBOLS.iter().position(|x| *x == c.key.symbol).unwrap();
            let truly = d(self.truth.get(&s).copied().unwrap_or(0));
            match c.op {
                Op::Deleted | Op::Closed => prop_assert!(
                    truly.is_zero(),
                    "deleted or closed {} while the exchange holds {truly}",
                    c.key
                ),
                Op::Updated => prop_assert_eq!(c.target, Some(truly), "updated {} to a size not held", &c.key),
                Op::Created => prop_assert!(false, "inserted {} with inserts off", c.key),
            }
            let row = c.row.as_ref().unwrap();
            if c.op == Op::Updated {
                prop_assert!(
                    !plan::adopts(row.size, truly),
                    "adopted {} ({} -> {truly})",
                    c.key,
                    row.size
                );
            }
            let written = row.updated_at.unwrap();
            prop_assert!(
                times.rest.is_some_and(|t| t > written),
                "{} corrected on a REST reading taken at {:?}, before the bot wrote the row at {written:?}",
                c.key,
                times.rest
            );
        }
        Ok(())
    }
}

fn run(style: StreamStyle, steps: &[Step]) -> Result<(), TestCaseError> {
    let mut w = World::new(style);
    for s in steps {
        w.apply(s);
        w.check()?;
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    #[test]
    fn full_snapshot_streams_never_correct_without_fresh_agreeing_evidence(
        steps in proptest::collection::vec(step(), 1..80)
    ) {
        run(StreamStyle::FullSnapshots, &steps)?;
    }

    #[test]
    fn per_key_streams_never_correct_without_fresh_agreeing_evidence(
        steps in proptest::collection::vec(step(), 1..80)
    ) {
        run(StreamStyle::PerKeyUpdates, &steps)?;
    }
}

/// The hanging-read incident, by hand: a late answer to a request sent
/// before the bot wrote its row deletes nothing; readings requested after
/// it may.
#[test]
fn a_late_answer_to_a_hanging_read_deletes_nothing() {
    let mut w = World::new(StreamStyle::FullSnapshots);
    for s in [
        Step::RestRequest,
        Step::RestAnswer(Answer::Fresh),
        Step::DbRead,
        Step::Advance(100),
        // REST goes quiet: a request is out and unanswered.
        Step::RestRequest,
        Step::Advance(1_000),
        Step::BotWrite(0, 1),
        Step::DbRead,
        Step::Advance(200),
        Step::DbRead,
    ] {
        w.apply(&s);
        w.check().unwrap();
    }
    // The answer comes late and says flat. It was requested before the row
    // was written: no delete may rest on it.
    w.apply(&Step::RestAnswer(Answer::Fresh));
    w.apply(&Step::DbRead);
    w.check().unwrap();
    let report = w.rec.reconcile(0, &w.src.inputs(), &policy(), w.now);
    let row = report.rows.iter().find(|r| r.key.symbol == "BTC").unwrap();
    assert_eq!(row.state, driftwatch::reconcile::State::DbStale);
    // A fresh reading taken after the write may delete it (the row is a ghost).
    let mut deleted = false;
    for s in [
        Step::Advance(10),
        Step::RestRequest,
        Step::RestAnswer(Answer::Fresh),
        Step::Advance(10),
        Step::RestRequest,
        Step::RestAnswer(Answer::Fresh),
        Step::DbRead,
    ] {
        w.apply(&s);
        w.check().unwrap();
        deleted |= w.planned().iter().any(|c| c.op == Op::Deleted);
    }
    assert!(deleted, "fresh agreeing readings do delete the ghost row");
}
