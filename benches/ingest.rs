//! Ingest throughput: `account_positions` frames through parse → view →
//! reconcile on one core. Run: `cargo bench --bench ingest`.
//!
//! A plain timing harness (no test-time assertions): it prints frames per
//! second for a few frame shapes; BENCHMARKS.md records the results.

use std::collections::BTreeMap;
use std::hint::black_box;
use std::time::{Duration, Instant};

use driftwatch::domain::{DbRow, DbSnapshot, PositionKey, Timestamp};
use driftwatch::reconcile::{AccountInputs, Policy, Polled, Reconciler};
use driftwatch::venue::pacifica::parse::{ws_frame, WsFrame};
use driftwatch::venue::{RestSnapshot, StreamEvent, StreamStyle};
use driftwatch::view::StreamView;
use rust_decimal::Decimal;

const SYMBOLS: [&str; 10] = ["BTC", "ETH", "SOL", "ZEC", "SUI", "XRP", "BNB", "ENA", "LDO", "CRV"];

fn frame(n_positions: usize, li: u64, tweak: u64) -> String {
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
        r#"{{"channel":"account_positions","data":[{}],"li":{li}}}"#,
        items.join(",")
    )
}

fn run(n_positions: usize, budget: Duration) -> f64 {
    // 64 distinct frames, cycled, with increasing li.
    let frames: Vec<String> = (0..64).map(|i| frame(n_positions, 0, i)).collect();
    let mut view = StreamView::new(StreamStyle::FullSnapshots);
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
            rows: SYMBOLS[..n_positions]
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
    let lots: BTreeMap<String, Decimal> = SYMBOLS.iter().map(|s| (s.to_string(), Decimal::new(1, 3))).collect();
    let policy = Policy {
        confirm_polls: 3,
        confirm_after: Duration::from_secs(60),
        rest_stale_after: Duration::from_secs(3600),
        db_stale_after: Duration::from_secs(3600),
        stream_silence_after: Duration::from_secs(3600),
    };
    let mut rec = Reconciler::new();
    let start = Instant::now();
    let mut n: u64 = 0;
    while start.elapsed() < budget {
        for f in &frames {
            // Equal `li` values are applied (funding updates do not bump it).
            let now = Timestamp(n as i64);
            if let Ok(WsFrame::Event(ev)) = ws_frame(f) {
                view.apply(&ev, now);
            }
            let report = rec.reconcile(
                0,
                &AccountInputs {
                    view: &view,
                    rest: &rest,
                    db: &db,
                    lot_sizes: &lots,
                },
                &policy,
                now,
            );
            black_box(report);
            n += 1;
        }
    }
    n as f64 / start.elapsed().as_secs_f64()
}

/// Where the time goes for one frame shape (parse only, parse + view).
fn stages(n_positions: usize, budget: Duration) -> (f64, f64) {
    let f = frame(n_positions, 0, 7);
    let start = Instant::now();
    let mut n = 0u64;
    while start.elapsed() < budget {
        for _ in 0..1000 {
            black_box(ws_frame(black_box(&f)).ok());
        }
        n += 1000;
    }
    let parse = n as f64 / start.elapsed().as_secs_f64();
    let mut view = StreamView::new(StreamStyle::FullSnapshots);
    view.apply(&StreamEvent::Connected, Timestamp(0));
    let start = Instant::now();
    let mut n = 0u64;
    while start.elapsed() < budget {
        for _ in 0..1000 {
            if let Ok(WsFrame::Event(ev)) = ws_frame(black_box(&f)) {
                view.apply(&ev, Timestamp(n as i64));
            }
        }
        n += 1000;
    }
    (parse, n as f64 / start.elapsed().as_secs_f64())
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
    println!("ingest: account_positions frames through parse -> view -> reconcile, one core");
    for n in [1usize, 3, 10] {
        let rate = run(n, budget);
        let (parse, view) = stages(n, budget / 3);
        println!("  {n:>2} positions/frame: {rate:>12.0} frames/s  (parse alone {parse:.0}/s, parse+view {view:.0}/s)");
    }
}
