//! Every metric driftwatch exports, on a registry of its own (never the
//! process-global default). Names and label sets are fixed here and nowhere
//! else; label values are enums or configured names, never error text.
//!
//! Sizes and drifts are exported as floats because Prometheus has no other
//! number type; driftwatch's decisions never read them back.

use std::collections::BTreeSet;

use prometheus::{
    core::Collector, Encoder, Gauge, GaugeVec, Histogram, HistogramOpts, HistogramVec, IntCounter, IntCounterVec, Opts,
    Registry, TextEncoder,
};
use rust_decimal::prelude::ToPrimitive;
use rust_decimal::Decimal;

use crate::domain::{Pair, Source, Timestamp};
use crate::reconcile::{AccountReport, State};
use crate::venue::RestError;

/// All reconcile states, for the `state` label of `driftwatch_position_state`.
pub const STATES: [State; 6] = [
    State::InSync,
    State::DbStale,
    State::DbMissing,
    State::DbMismatch,
    State::StreamDrift,
    State::SourceUntrusted,
];

pub struct Metrics {
    registry: Registry,
    names: Vec<String>,
    pub position_size: GaugeVec,
    pub position_drift: GaugeVec,
    pub position_in_sync: GaugeVec,
    pub position_state: GaugeVec,
    pub source_up: GaugeVec,
    pub ws_connected: GaugeVec,
    pub ws_reconnects_total: IntCounterVec,
    pub ws_last_event_timestamp_seconds: GaugeVec,
    pub ws_frames_total: IntCounterVec,
    pub rest_request_duration_seconds: HistogramVec,
    pub rest_errors_total: IntCounterVec,
    pub db_poll_duration_seconds: Histogram,
    pub db_errors_total: IntCounter,
    pub last_reconcile_timestamp_seconds: Gauge,
    pub db_corrections_total: IntCounterVec,
    pub db_correction_guard_refusals_total: IntCounterVec,
    pub emergency_closes_total: IntCounterVec,
    pub rule_firing: GaugeVec,
    pub rule_triggers_total: IntCounterVec,
    pub rules_reload_total: IntCounterVec,
    pub pages_total: IntCounterVec,
    pub build_info: GaugeVec,
}

/// Results of an emergency close, for `driftwatch_emergency_closes_total{result}`.
pub const CLOSE_RESULTS: [&str; 7] = [
    "verified",
    "unverified",
    "nothing_to_do",
    "below_lot",
    "disarmed",
    "failed",
    "refused",
];

/// Results of one page on one channel, for `driftwatch_pages_total{result}`.
pub const PAGE_RESULTS: [&str; 5] = ["sent", "failed", "deduplicated", "rate_limited", "dropped"];

/// Results of one planned correction, for `driftwatch_db_corrections_total{result}`.
pub const CORRECTION_RESULTS: [&str; 5] = ["applied", "dry_run", "refused", "failed", "moved"];

/// Registers collectors and remembers the name of every family, so tests can
/// check that dashboards and alerts only name metrics that exist.
struct Families {
    registry: Registry,
    names: Vec<String>,
}

impl Families {
    fn add<C: Collector + Clone + 'static>(&mut self, c: C) -> C {
        self.names.extend(c.desc().iter().map(|d| d.fq_name.clone()));
        self.registry
            .register(Box::new(c.clone()))
            .expect("metric registered once");
        c
    }
}

fn gauge_vec(r: &mut Families, name: &str, help: &str, labels: &[&str]) -> GaugeVec {
    r.add(GaugeVec::new(Opts::new(name, help), labels).expect("metric definition is valid"))
}

fn counter_vec(r: &mut Families, name: &str, help: &str, labels: &[&str]) -> IntCounterVec {
    r.add(IntCounterVec::new(Opts::new(name, help), labels).expect("metric definition is valid"))
}

/// Buckets from 5 ms to 10 s.
const LATENCY_BUCKETS: &[f64] = &[0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0];

/// One watched account, for pre-initialising its series.
pub struct AccountLabels<'a> {
    pub venue: &'a str,
    pub account: &'a str,
}

impl Metrics {
    /// Registers every family on a fresh registry and pre-initialises the
    /// counters of the given accounts, so `rate()` sees their first increment.
    pub fn new(accounts: &[AccountLabels<'_>]) -> Metrics {
        let mut r = Families {
            registry: Registry::new(),
            names: Vec::new(),
        };
        let rest_request_duration_seconds = r.add(
            HistogramVec::new(
                HistogramOpts::new(
                    "driftwatch_rest_request_duration_seconds",
                    "Duration of REST requests to the venue, by endpoint.",
                )
                .buckets(LATENCY_BUCKETS.to_vec()),
                &["venue", "endpoint"],
            )
            .expect("metric definition is valid"),
        );
        let db_poll_duration_seconds = r.add(
            Histogram::with_opts(
                HistogramOpts::new(
                    "driftwatch_db_poll_duration_seconds",
                    "Duration of reads of the bot's database.",
                )
                .buckets(LATENCY_BUCKETS.to_vec()),
            )
            .expect("metric definition is valid"),
        );
        let db_errors_total = r.add(
            IntCounter::new("driftwatch_db_errors_total", "Failed reads of the bot's database.")
                .expect("metric definition is valid"),
        );
        let last_reconcile_timestamp_seconds = r.add(
            Gauge::new(
                "driftwatch_last_reconcile_timestamp_seconds",
                "When the last reconciliation cycle finished, in Unix seconds.",
            )
            .expect("metric definition is valid"),
        );

        let m = Metrics {
            position_size: gauge_vec(
                &mut r,
                "driftwatch_position_size",
                "Signed position size in base units as each source reports it (NaN when the source is untrusted).",
                &["venue", "account", "symbol", "source"],
            ),
            position_drift: gauge_vec(
                &mut r,
                "driftwatch_position_drift",
                "Signed size difference between two sources in base units (NaN when either is untrusted).",
                &["venue", "account", "symbol", "pair"],
            ),
            position_in_sync: gauge_vec(
                &mut r,
                "driftwatch_position_in_sync",
                "1 when the stream, REST and the bot's database agree on this position, else 0.",
                &["venue", "account", "symbol"],
            ),
            position_state: gauge_vec(
                &mut r,
                "driftwatch_position_state",
                "1 for the position's current reconcile state, 0 for the others.",
                &["venue", "account", "symbol", "state"],
            ),
            source_up: gauge_vec(
                &mut r,
                "driftwatch_source_up",
                "1 when the source is connected, fresh and trusted, else 0.",
                &["venue", "account", "source"],
            ),
            ws_connected: gauge_vec(
                &mut r,
                "driftwatch_ws_connected",
                "1 while the WebSocket to the venue is open.",
                &["venue", "account"],
            ),
            ws_reconnects_total: counter_vec(
                &mut r,
                "driftwatch_ws_reconnects_total",
                "WebSocket connections lost and re-established.",
                &["venue", "account"],
            ),
            ws_last_event_timestamp_seconds: gauge_vec(
                &mut r,
                "driftwatch_ws_last_event_timestamp_seconds",
                "When the last WebSocket frame arrived, in Unix seconds.",
                &["venue", "account"],
            ),
            ws_frames_total: counter_vec(
                &mut r,
                "driftwatch_ws_frames_total",
                "Position frames received, by outcome (applied, out_of_order, unparsable).",
                &["venue", "account", "outcome"],
            ),
            rest_request_duration_seconds,
            rest_errors_total: counter_vec(
                &mut r,
                "driftwatch_rest_errors_total",
                "Failed REST requests to the venue, by kind.",
                &["venue", "kind"],
            ),
            db_poll_duration_seconds,
            db_errors_total,
            db_corrections_total: counter_vec(
                &mut r,
                "driftwatch_db_corrections_total",
                "Planned corrections of the bot's database rows, by operation and result \
                 (applied, dry_run, refused by a guard, failed, moved: the bot changed the row first).",
                &["venue", "account", "op", "result"],
            ),
            emergency_closes_total: counter_vec(
                &mut r,
                "driftwatch_emergency_closes_total",
                "Reduce-only emergency closes, by result (verified, unverified, nothing_to_do, below_lot, \
                 disarmed, failed, refused by a guard).",
                &["venue", "account", "symbol", "result"],
            ),
            rule_firing: gauge_vec(
                &mut r,
                "driftwatch_rule_firing",
                "1 while a rule's condition has held for its `for` duration, else 0.",
                &["rule"],
            ),
            rule_triggers_total: counter_vec(
                &mut r,
                "driftwatch_rule_triggers_total",
                "Times a rule fired its actions (after its hold, outside its cooldown).",
                &["rule"],
            ),
            rules_reload_total: counter_vec(
                &mut r,
                "driftwatch_rules_reload_total",
                "Rule reloads, by result (success, failure: the old rules stay in force).",
                &["result"],
            ),
            db_correction_guard_refusals_total: counter_vec(
                &mut r,
                "driftwatch_db_correction_guard_refusals_total",
                "Correction cycles refused by the mass-change guard.",
                &["venue", "account"],
            ),
            last_reconcile_timestamp_seconds,
            build_info: gauge_vec(
                &mut r,
                "driftwatch_build_info",
                "Always 1; the labels say which build is running.",
                &["version"],
            ),
            pages_total: counter_vec(
                &mut r,
                "driftwatch_pages_total",
                "Pages, by channel (log, email) and result (sent, failed, deduplicated, rate_limited, \
                 dropped: the email queue was full).",
                &["channel", "result"],
            ),
            registry: r.registry,
            names: r.names,
        };
        m.pages_total.with_label_values(&["log", "sent"]).inc_by(0);
        m.build_info.with_label_values(&[env!("CARGO_PKG_VERSION")]).set(1.0);
        for result in ["success", "failure"] {
            m.rules_reload_total.with_label_values(&[result]).inc_by(0);
        }
        for a in accounts {
            m.ws_reconnects_total.with_label_values(&[a.venue, a.account]).inc_by(0);
            m.ws_connected.with_label_values(&[a.venue, a.account]).set(0.0);
            for outcome in ["applied", "out_of_order", "unparsable"] {
                m.ws_frames_total
                    .with_label_values(&[a.venue, a.account, outcome])
                    .inc_by(0);
            }
            for s in Source::ALL {
                m.source_up
                    .with_label_values(&[a.venue, a.account, s.as_str()])
                    .set(0.0);
            }
            for kind in RestError::KINDS {
                m.rest_errors_total.with_label_values(&[a.venue, kind]).inc_by(0);
            }
            for op in crate::plan::Op::ALL {
                for result in CORRECTION_RESULTS {
                    m.db_corrections_total
                        .with_label_values(&[a.venue, a.account, op.as_str(), result])
                        .inc_by(0);
                }
            }
            m.db_correction_guard_refusals_total
                .with_label_values(&[a.venue, a.account])
                .inc_by(0);
        }
        m
    }

    pub fn registry(&self) -> &Registry {
        &self.registry
    }

    /// The name of every metric family driftwatch exports (histograms by
    /// their base name), whether or not it has series yet.
    pub fn family_names(&self) -> &[String] {
        &self.names
    }

    /// Pre-initialises the `email` channel's page counters.
    pub fn email_enabled(&self) {
        for result in PAGE_RESULTS {
            self.pages_total.with_label_values(&["email", result]).inc_by(0);
        }
    }

    /// The Prometheus text exposition (format 0.0.4).
    pub fn render(&self) -> String {
        let mut buf = Vec::new();
        if let Err(e) = TextEncoder::new().encode(&self.registry.gather(), &mut buf) {
            tracing::error!(error = %e, "Failed to encode metrics.");
        }
        String::from_utf8(buf).unwrap_or_default()
    }

    /// Publishes one account's report. `exported` holds the symbols published
    /// last time; series of symbols that left the report are removed.
    pub fn publish(&self, venue: &str, account: &str, report: &AccountReport, exported: &mut BTreeSet<String>) {
        let mut now_exported = BTreeSet::new();
        for row in &report.rows {
            let symbol = row.key.to_string();
            for source in Source::ALL {
                let r = row.reading(source);
                self.position_size
                    .with_label_values(&[venue, account, &symbol, source.as_str()])
                    .set(r.believed().map_or(f64::NAN, to_f64));
            }
            for pair in Pair::ALL {
                self.position_drift
                    .with_label_values(&[venue, account, &symbol, pair.as_str()])
                    .set(row.drift(pair).map_or(f64::NAN, to_f64));
            }
            self.position_in_sync
                .with_label_values(&[venue, account, &symbol])
                .set(if row.state == State::InSync { 1.0 } else { 0.0 });
            for s in STATES {
                self.position_state
                    .with_label_values(&[venue, account, &symbol, s.as_str()])
                    .set(if row.state == s { 1.0 } else { 0.0 });
            }
            if !exported.contains(&symbol) {
                for result in CLOSE_RESULTS {
                    self.emergency_closes_total
                        .with_label_values(&[venue, account, &symbol, result])
                        .inc_by(0);
                }
            }
            now_exported.insert(symbol);
        }
        for gone in exported.difference(&now_exported) {
            for source in Source::ALL {
                let _ = self
                    .position_size
                    .remove_label_values(&[venue, account, gone, source.as_str()]);
            }
            for pair in Pair::ALL {
                let _ = self
                    .position_drift
                    .remove_label_values(&[venue, account, gone, pair.as_str()]);
            }
            let _ = self.position_in_sync.remove_label_values(&[venue, account, gone]);
            for s in STATES {
                let _ = self
                    .position_state
                    .remove_label_values(&[venue, account, gone, s.as_str()]);
            }
        }
        *exported = now_exported;
        for s in &report.sources {
            self.source_up
                .with_label_values(&[venue, account, s.source.as_str()])
                .set(if s.trusted { 1.0 } else { 0.0 });
        }
    }

    /// Pre-initialises the per-rule series of a (re)loaded rule set.
    pub fn rules_loaded(&self, ids: &[String]) {
        for id in ids {
            self.rule_triggers_total.with_label_values(&[id]).inc_by(0);
            self.rule_firing.with_label_values(&[id]).set(0.0);
        }
    }

    pub fn reconciled(&self, now: Timestamp) {
        self.last_reconcile_timestamp_seconds.set(now.as_secs_f64());
    }
}

fn to_f64(d: Decimal) -> f64 {
    d.to_f64().unwrap_or(f64::NAN)
}
