//! Rendering `/metrics` after publishing a real report, at 500 positions
//! (10,051 series: the 10,000) and at 1,000 (20,051).
//!
//!   cargo bench --bench scrape
//!
//! Twenty series per position (three sizes, three drifts, in-sync, six
//! states, seven close results) plus the process's own families, rendered
//! in the Prometheus text format as a scrape of `/metrics` gets it.

mod common;

use std::hint::black_box;
use std::sync::Arc;
use std::time::Duration;

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion};
use driftwatch::metrics::{AccountLabels, Metrics, Published};

fn scrape(c: &mut Criterion) {
    let mut g = c.benchmark_group("scrape");
    for n in [500usize, 1_000] {
        let metrics = Metrics::new(&[AccountLabels {
            venue: "pacifica",
            account: "main",
        }]);
        metrics.publish(vec![Published {
            venue: "pacifica".into(),
            account: "main".into(),
            report: Arc::new(common::report(&common::world(n))),
        }]);
        let series = metrics.render().lines().filter(|l| !l.starts_with('#')).count();
        g.bench_function(BenchmarkId::new("series", series), |b| {
            b.iter(|| black_box(metrics.render()))
        });
    }
    g.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default().measurement_time(Duration::from_secs(5));
    targets = scrape
}
criterion_main!(benches);
