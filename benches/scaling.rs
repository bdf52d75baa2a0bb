//! Cost per cycle as the number of positions grows.
//!
//!   cargo bench --bench scaling     (then writes benches/scaling.svg)
//!
//! One cycle = what the core does on its tick for one account: reconcile the
//! stream view, the REST read and the DB snapshot (a full pass: `refresh`
//! with every key touched, into the report the last tick left), then
//! evaluate the shipped rules (rules/default.yaml + delta-neutral.yaml).
//! Every position is in a different symbol; a tenth of them drift, so rules
//! have work to do.
//! Criterion measures each size (`thrpt` is positions per second); the plot
//! is drawn from the medians criterion saved.
//!
//! The clock advances a second per cycle and wraps inside the sources'
//! freshness window (the reads are taken at 0 and go stale after an hour),
//! so every cycle is timed on the trusted, drifting path production runs;
//! each size asserts so after it is timed.

mod common;

use std::hint::black_box;
use std::path::PathBuf;
use std::time::Duration;

use criterion::{BenchmarkId, Criterion, SamplingMode, Throughput};
use driftwatch::domain::Timestamp;
use driftwatch::reconcile::{AccountReport, Reconciler, State, Touched};
use driftwatch::rules::{AccountState, Engine};

const SIZES: [usize; 4] = [100, 1_000, 10_000, 100_000];
const GROUP: &str = "cycle";

fn cycle(c: &mut Criterion) {
    let rules = common::shipped_rules();
    let mut g = c.benchmark_group(GROUP);
    g.sampling_mode(SamplingMode::Flat);
    for n in SIZES {
        let w = common::world(n);
        let inputs = w.inputs();
        let policy = common::policy();
        let mut rec = Reconciler::new();
        let mut engine = Engine::new();
        let mut round = 0i64;
        // The account's report, kept from tick to tick as the core keeps it.
        let mut report: Option<AccountReport> = None;
        g.throughput(Throughput::Elements(n as u64));
        if n >= 100_000 {
            g.sample_size(10).measurement_time(Duration::from_secs(15));
        } else {
            g.sample_size(30).measurement_time(Duration::from_secs(5));
        }
        g.bench_function(BenchmarkId::from_parameter(n), |b| {
            b.iter(|| {
                round += 1;
                // One second a cycle, inside the reads' hour of freshness.
                let now = Timestamp(1000 * (1 + round % 3000));
                // The tick's full pass, as the core makes it.
                rec.refresh(0, &inputs, &policy, now, Touched::All, &mut report);
                let decisions = engine.evaluate(
                    &rules,
                    &[AccountState {
                        venue: "pacifica",
                        account: "main",
                        report: report.as_ref().expect("refreshed"),
                        marks: &w.marks,
                    }],
                    now,
                );
                black_box(decisions)
            })
        });
        let last = rec.reconcile(0, &inputs, &policy, Timestamp(1000 * (1 + round % 3000)));
        assert!(
            last.sources.iter().all(|s| s.trusted),
            "{n}: timed on untrusted sources: {:?}",
            last.sources
        );
        assert!(
            last.rows.iter().all(|r| r.state != State::SourceUntrusted),
            "{n}: an untrusted row"
        );
        let drifting = last.rows.iter().filter(|r| r.state == State::DbMismatch).count();
        assert_eq!(drifting, n.div_ceil(10), "{n}: every tenth row drifts");
    }
    g.finish();
}

/// Where criterion keeps its results (its own rule: `CRITERION_HOME`, else
/// the cargo target directory).
fn criterion_home() -> PathBuf {
    if let Some(home) = std::env::var_os("CRITERION_HOME") {
        return home.into();
    }
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("target"));
    target.join("criterion")
}

/// The median seconds per cycle criterion saved for `n`, if it measured it.
fn saved_median(n: usize) -> Option<f64> {
    let path = criterion_home()
        .join(GROUP)
        .join(n.to_string())
        .join("new/estimates.json");
    let text = std::fs::read_to_string(path).ok()?;
    let v: serde_json::Value = serde_json::from_str(&text).ok()?;
    Some(v["median"]["point_estimate"].as_f64()? / 1e9)
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
    let mut c = Criterion::default().configure_from_args();
    cycle(&mut c);
    c.final_summary();
    // Under `cargo test` criterion runs each case once and saves nothing.
    if !std::env::args().any(|a| a == "--bench") {
        return;
    }
    let points: Option<Vec<(usize, f64)>> = SIZES.iter().map(|&n| saved_median(n).map(|t| (n, t))).collect();
    let Some(points) = points else {
        println!("plot: not drawn (criterion has not measured every size; run the whole bench)");
        return;
    };
    println!("cost per cycle (reconcile + shipped rules), one account, median:");
    for (n, t) in &points {
        println!(
            "  {n:>7} positions: {:>9.3} ms per cycle, {:>6.2} µs per position",
            t * 1e3,
            t * 1e6 / *n as f64
        );
    }
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("benches/scaling.svg");
    std::fs::write(&path, svg(&points)).expect("write benches/scaling.svg");
    println!("plot: {}", path.display());
}
