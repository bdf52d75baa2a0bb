//! Cost per cycle as the number of positions grows, and /metrics rendering.
//!
//!   cargo bench --bench scaling     (writes benches/scaling.svg)
//!
//! One cycle = what the core does on its tick for one account: reconcile the
//! stream view, the REST read and the DB snapshot, then evaluate the shipped
//! rules (rules/default.yaml + delta-neutral.yaml). Every position is in a
//! different symbol; a tenth of them drift, so rules have work to do. The
//! scrape figure renders /metrics after publishing a report of that size.

use std::collections::BTreeMap;
use std::hint::black_box;
use std::time::{Duration, Instant};

use driftwatch::domain::{DbRow, DbSnapshot, Leg, Position, PositionKey, Timestamp};
use driftwatch::metrics::{AccountLabels, Metrics};
use driftwatch::reconcile::{AccountInputs, Policy, Polled, Reconciler};
use driftwatch::rules::{AccountState, Engine};
use driftwatch::venue::{RestSnapshot, StreamEvent, StreamStyle};
use driftwatch::view::StreamView;
use rust_decimal::Decimal;

struct World {
    view: StreamView,
    rest: Polled<RestSnapshot>,
    db: Polled<DbSnapshot>,
    lots: BTreeMap<String, Decimal>,
    marks: BTreeMap<String, Decimal>,
}

fn world(n: usize) -> World {
    let sym = |i: usize| format!("S{i:06}");
    let pos = |i: usize| Position {
        key: PositionKey {
            symbol: sym(i),
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
    let lots: BTreeMap<String, Decimal> = (0..n).map(|i| (sym(i), Decimal::new(1, 2))).collect();
    view.verify_with_rest(&snap, |s| lots.get(s).copied());
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
                    }
                })
                .collect(),
        },
        Timestamp(0),
    );
    let marks = (0..n).map(|i| (sym(i), Decimal::new(100, 0))).collect();
    World {
        view,
        rest,
        db,
        lots,
        marks,
    }
}

fn policy() -> Policy {
    Policy {
        confirm_polls: 3,
        confirm_after: Duration::from_secs(60),
        rest_stale_after: Duration::from_secs(3600),
        db_stale_after: Duration::from_secs(3600),
        stream_silence_after: Duration::from_secs(3600),
    }
}

/// Median seconds per cycle at `n` positions.
fn cycle(n: usize, rounds: usize) -> (f64, f64) {
    let w = world(n);
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    let files = driftwatch::rules::file::rule_files(&root.join("rules")).unwrap();
    let rules = driftwatch::rules::compile_files(&files).unwrap();
    let mut rec = Reconciler::new();
    let mut engine = Engine::new();
    let inputs = AccountInputs {
        view: &w.view,
        rest: &w.rest,
        db: &w.db,
        lot_sizes: &w.lots,
    };
    let mut times = Vec::with_capacity(rounds);
    let mut last = None;
    for r in 0..rounds {
        let now = Timestamp(1000 * (r as i64 + 1));
        let t = Instant::now();
        let report = rec.reconcile(0, &inputs, &policy(), now);
        let decisions = engine.evaluate(
            &rules,
            &[AccountState {
                venue: "pacifica",
                account: "main",
                report: &report,
                marks: &w.marks,
            }],
            now,
        );
        times.push(t.elapsed().as_secs_f64());
        black_box(decisions);
        last = Some(report);
    }
    times.sort_by(f64::total_cmp);
    // Scrape: publish the last report, then render /metrics.
    let metrics = Metrics::new(&[AccountLabels {
        venue: "pacifica",
        account: "main",
    }]);
    metrics.publish(vec![driftwatch::metrics::Published {
        venue: "pacifica".into(),
        account: "main".into(),
        report: std::sync::Arc::new(last.unwrap()),
    }]);
    let mut renders = Vec::new();
    let mut series = 0;
    for _ in 0..rounds.clamp(3, 21) {
        let t = Instant::now();
        let text = metrics.render();
        renders.push(t.elapsed().as_secs_f64());
        series = text.lines().filter(|l| !l.starts_with('#')).count();
    }
    renders.sort_by(f64::total_cmp);
    if n == 500 || n == 1000 {
        println!(
            "  scrape at {n} positions: {series} series rendered in {:.2} ms (median)",
            renders[renders.len() / 2] * 1e3
        );
    }
    (times[times.len() / 2], series as f64)
}

fn svg(points: &[(usize, f64)]) -> String {
    // log-log: x = positions, y = ms per cycle.
    let (w, h, pad) = (520.0, 320.0, 56.0);
    let lx = |n: usize| (n as f64).log10();
    let ly = |s: f64| (s * 1e3).log10();
    let (x0, x1) = (lx(points[0].0) - 0.2, lx(points[points.len() - 1].0) + 0.2);
    let ys: Vec<f64> = points.iter().map(|p| ly(p.1)).collect();
    let (y0, y1) = (
        ys.iter().cloned().fold(f64::MAX, f64::min).floor(),
        ys.iter().cloned().fold(f64::MIN, f64::max).ceil(),
    );
    let px = |x: f64| pad + (x - x0) / (x1 - x0) * (w - 2.0 * pad);
    let py = |y: f64| h - pad - (y - y0) / (y1 - y0) * (h - 2.0 * pad);
    let mut s = format!(
        r#"<svg xmlns="http://www.w3.org/2000/svg" width="{w}" height="{h}" font-family="sans-serif" font-size="12">
<rect width="100%" height="100%" fill="white"/>
<text x="{}" y="20" text-anchor="middle" font-size="14">driftwatch: cost per cycle (reconcile + rules), log-log</text>
<line x1="{pad}" y1="{}" x2="{}" y2="{}" stroke="black"/><line x1="{pad}" y1="{pad}" x2="{pad}" y2="{}" stroke="black"/>
<text x="{}" y="{}" text-anchor="middle">positions</text>
<text x="14" y="{}" transform="rotate(-90 14 {})" text-anchor="middle">ms per cycle</text>
"#,
        w / 2.0,
        h - pad,
        w - pad,
        h - pad,
        h - pad,
        w / 2.0,
        h - 12.0,
        h / 2.0,
        h / 2.0
    );
    let mut y = y0;
    while y <= y1 + 1e-9 {
        s.push_str(&format!(
            "<line x1=\"{pad}\" y1=\"{0}\" x2=\"{1}\" y2=\"{0}\" stroke=\"#ddd\"/><text x=\"{2}\" y=\"{3}\" text-anchor=\"end\">{4}</text>\n",
            py(y),
            w - pad,
            pad - 6.0,
            py(y) + 4.0,
            10f64.powf(y)
        ));
        y += 1.0;
    }
    // The linear reference through the first point: slope 1 in log-log.
    let (n0, s0) = points[0];
    let (nl, _) = points[points.len() - 1];
    s.push_str(&format!(
        "<line x1=\"{}\" y1=\"{}\" x2=\"{}\" y2=\"{}\" stroke=\"#999\" stroke-dasharray=\"4 4\"/>\n",
        px(lx(n0)),
        py(ly(s0)),
        px(lx(nl)),
        py(ly(s0 * nl as f64 / n0 as f64))
    ));
    let path: Vec<String> = points
        .iter()
        .map(|(n, t)| format!("{:.1},{:.1}", px(lx(*n)), py(ly(*t))))
        .collect();
    s.push_str(&format!(
        "<polyline points=\"{}\" fill=\"none\" stroke=\"#1f77b4\" stroke-width=\"2\"/>\n",
        path.join(" ")
    ));
    for (n, t) in points {
        s.push_str(&format!(
            "<circle cx=\"{:.1}\" cy=\"{:.1}\" r=\"3\" fill=\"#1f77b4\"/><text x=\"{:.1}\" y=\"{:.1}\" text-anchor=\"middle\">{n}: {:.3} ms</text>\n",
            px(lx(*n)),
            py(ly(*t)),
            px(lx(*n)),
            py(ly(*t)) - 8.0,
            t * 1e3
        ));
    }
    s.push_str("<text x=\"470\" y=\"60\" fill=\"#999\" text-anchor=\"end\">dashed: linear from 100</text>\n</svg>\n");
    s
}

fn main() {
    let measuring = std::env::args().any(|a| a == "--bench");
    let sizes: &[usize] = if measuring {
        &[100, 500, 1_000, 10_000, 100_000]
    } else {
        &[100, 1_000]
    };
    println!("cost per cycle (reconcile + shipped rules), one account, median:");
    let mut points = Vec::new();
    for &n in sizes {
        let rounds = if n >= 100_000 {
            7
        } else if n >= 10_000 {
            21
        } else {
            101
        };
        let rounds = if measuring { rounds } else { 3 };
        let (t, series) = cycle(n, rounds);
        println!(
            "  {n:>7} positions: {:>9.3} ms per cycle, {:>6.2} µs per position; /metrics {series} series",
            t * 1e3,
            t * 1e6 / n as f64
        );
        if n != 500 {
            points.push((n, t));
        }
    }
    if measuring {
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("benches/scaling.svg");
        std::fs::write(&path, svg(&points)).unwrap();
        println!("plot: {}", path.display());
    }
}
