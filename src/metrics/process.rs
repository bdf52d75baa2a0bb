//! The standard `process_*` series, with CPU time to the kernel's tick.
//!
//! The prometheus crate's own `ProcessCollector` keeps
//! `process_cpu_seconds_total` in whole seconds (tikv/rust-prometheus #451,
//! #560): a sidecar using 1 % of a core would step by one every 100 s, and
//! `rate()` over five minutes would read 0 % or 0.33 %. This collector
//! serves that crate's families unchanged except that one, which it reads
//! from `/proc/self/stat` in clock ticks (10 ms), as the Go client does.

use prometheus::core::{Collector, Desc};
use prometheus::process_collector::ProcessCollector;
use prometheus::proto::{Counter, MetricFamily};

const CPU: &str = "process_cpu_seconds_total";

/// `ProcessCollector`, with CPU seconds as a fraction.
pub(super) struct ProcessMetrics {
    inner: ProcessCollector,
}

impl ProcessMetrics {
    pub(super) fn for_self() -> ProcessMetrics {
        ProcessMetrics {
            inner: ProcessCollector::for_self(),
        }
    }
}

/// User and system CPU time of this process so far, in seconds.
fn cpu_seconds() -> Option<f64> {
    let stat = procfs::process::Process::myself().ok()?.stat().ok()?;
    Some((stat.utime + stat.stime) as f64 / procfs::ticks_per_second() as f64)
}

/// Sets the CPU family's one sample to `seconds`; the other families pass as they are.
fn with_cpu(mut families: Vec<MetricFamily>, seconds: Option<f64>) -> Vec<MetricFamily> {
    if let Some(seconds) = seconds {
        for f in families.iter_mut().filter(|f| f.name() == CPU) {
            for m in f.mut_metric() {
                let mut c = Counter::default();
                c.set_value(seconds);
                m.set_counter(c);
            }
        }
    }
    families
}

impl Collector for ProcessMetrics {
    fn desc(&self) -> Vec<&Desc> {
        self.inner.desc()
    }

    fn collect(&self) -> Vec<MetricFamily> {
        with_cpu(self.inner.collect(), cpu_seconds())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cpu_sample(families: &[MetricFamily]) -> Option<f64> {
        let f = families.iter().find(|f| f.name() == CPU)?;
        Some(f.get_metric().first()?.get_counter().get_value())
    }

    #[test]
    fn cpu_seconds_come_to_the_tick_not_the_whole_second() {
        // Burn a little CPU, so the reading is past zero.
        let start = std::time::Instant::now();
        let mut x = 0u64;
        while start.elapsed() < std::time::Duration::from_millis(30) {
            x = std::hint::black_box(x.wrapping_mul(31).wrapping_add(7));
        }
        let before = cpu_seconds().expect("/proc/self/stat");
        let served = ProcessMetrics::for_self().collect();
        let after = cpu_seconds().expect("/proc/self/stat");
        let seconds = cpu_sample(&served).expect("a process_cpu_seconds_total sample");
        // Whole seconds (the crate's own) would read below `before` unless it
        // fell on a whole second: one chance in a hundred ticks.
        assert!(before > 0.0);
        assert!(
            before <= seconds && seconds <= after,
            "served {seconds}, read {before} before and {after} after"
        );
        // Every family of the crate's collector is still served, once.
        let names: Vec<&str> = served.iter().map(|f| f.name()).collect();
        for want in [
            CPU,
            "process_resident_memory_bytes",
            "process_open_fds",
            "process_start_time_seconds",
            "process_threads",
        ] {
            assert_eq!(names.iter().filter(|n| **n == want).count(), 1, "{want} in {names:?}");
        }
    }

    #[test]
    fn only_the_cpu_family_changes() {
        let families = ProcessCollector::for_self().collect();
        let changed = with_cpu(families.clone(), Some(0.37));
        assert_eq!(cpu_sample(&changed), Some(0.37));
        for (a, b) in families.iter().zip(&changed).filter(|(a, _)| a.name() != CPU) {
            assert_eq!(a, b);
        }
        // Unknown (no /proc): the crate's own value stays.
        assert_eq!(with_cpu(families.clone(), None), families);
    }
}
