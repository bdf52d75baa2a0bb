//! Every metric driftwatch exports, on a registry of its own (never the
//! process-global default). Names and label sets are fixed here and nowhere
//! else; label values are enums or configured names, never error text.
//!
//! Sizes and drifts are exported as floats because Prometheus has no other
//! number type; driftwatch's decisions never read them back.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, Mutex, MutexGuard};

use prometheus::core::Collector;
use prometheus::{
    Gauge, GaugeVec, Histogram, HistogramOpts, HistogramVec, IntCounter, IntCounterVec, Opts, Registry, TextEncoder,
};
use rust_decimal::prelude::ToPrimitive;
use rust_decimal::Decimal;

use crate::domain::{Pair, Source, Timestamp};
use crate::journal::Status;
use crate::plan::Op;
use crate::reconcile::{AccountReport, State};
use crate::venue::types::RestError;

#[cfg(target_os = "linux")]
mod process;

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
    positions: PositionFamilies,
    pub source_up: GaugeVec,
    pub ws_connected: GaugeVec,
    pub ws_reconnects_total: IntCounterVec,
    pub ws_last_event_timestamp_seconds: GaugeVec,
    pub ws_frames_total: IntCounterVec,
    pub rest_request_duration_seconds: HistogramVec,
    pub rest_errors_total: IntCounterVec,
    pub db_poll_duration_seconds: Histogram,
    pub db_errors_total: IntCounter,
    pub db_unmapped_rows: GaugeVec,
    pub db_mapping_problems: GaugeVec,
    pub last_reconcile_timestamp_seconds: Gauge,
    pub db_corrections_total: IntCounterVec,
    pub db_correction_guard_refusals_total: IntCounterVec,
    pub rule_firing: GaugeVec,
    pub rule_triggers_total: IntCounterVec,
    pub rules_reload_total: IntCounterVec,
    pub pages_total: IntCounterVec,
    pub build_info: GaugeVec,
    /// 1 while this replica acts (the leader, or alone), 0 on standby.
    pub leader: Gauge,
    /// The leadership epoch this replica acts for (0 alone or on standby).
    pub leader_epoch: Gauge,
}

/// Results of an emergency close, for `driftwatch_emergency_closes_total{result}`.
pub const CLOSE_RESULTS: [Status; 7] = [
    Status::Verified,
    Status::Unverified,
    Status::NothingToDo,
    Status::BelowLot,
    Status::Disarmed,
    Status::Failed,
    Status::Refused,
];

/// Results of one planned correction, for `driftwatch_db_corrections_total{result}`.
pub const CORRECTION_RESULTS: [Status; 5] = [
    Status::Applied,
    Status::DryRun,
    Status::Refused,
    Status::Failed,
    Status::Moved,
];

/// Results of a rules reload, for `driftwatch_rules_reload_total{result}`.
const RELOAD_RESULTS: [&str; 2] = ["success", "failure"];

/// Where a page goes, for `driftwatch_pages_total{channel}`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Channel {
    Log,
    Email,
}

impl Channel {
    pub fn as_str(self) -> &'static str {
        match self {
            Channel::Log => "log",
            Channel::Email => "email",
        }
    }
}

/// What became of one page on one channel, for `driftwatch_pages_total{result}`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PageResult {
    Sent,
    Failed,
    Deduplicated,
    RateLimited,
    /// The mail queue was full.
    Dropped,
}

impl PageResult {
    pub const ALL: [PageResult; 5] = [
        PageResult::Sent,
        PageResult::Failed,
        PageResult::Deduplicated,
        PageResult::RateLimited,
        PageResult::Dropped,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            PageResult::Sent => "sent",
            PageResult::Failed => "failed",
            PageResult::Deduplicated => "deduplicated",
            PageResult::RateLimited => "rate_limited",
            PageResult::Dropped => "dropped",
        }
    }
}

/// What became of one position frame, for `driftwatch_ws_frames_total{outcome}`.
/// (A frame that does not parse ends its connection: it is counted in
/// `driftwatch_ws_reconnects_total` and logged with the reason.)
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FrameOutcome {
    Applied,
    OutOfOrder,
    Unanchored,
}

impl FrameOutcome {
    pub const ALL: [FrameOutcome; 3] = [
        FrameOutcome::Applied,
        FrameOutcome::OutOfOrder,
        FrameOutcome::Unanchored,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            FrameOutcome::Applied => "applied",
            FrameOutcome::OutOfOrder => "out_of_order",
            FrameOutcome::Unanchored => "unanchored",
        }
    }
}

/// An account's stream series (`driftwatch_ws_last_event_timestamp_seconds`
/// and `driftwatch_ws_frames_total`), held by the core: a frame sets them
/// without a label lookup.
#[derive(Clone)]
pub struct StreamSeries {
    last_event: Gauge,
    /// By [`FrameOutcome::ALL`]'s order.
    frames: [IntCounter; FrameOutcome::ALL.len()],
}

impl StreamSeries {
    /// A stream event (other than a connect or disconnect) arrived at `now`.
    pub fn event(&self, now: Timestamp) {
        self.last_event.set(now.as_secs_f64());
    }

    /// Counts one position frame.
    pub fn frame(&self, outcome: FrameOutcome) {
        self.frames[outcome as usize].inc();
    }
}

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
    /// The replica's role: `Some(epoch)` leading, `None` on standby.
    pub fn leadership(&self, epoch: Option<i64>) {
        self.leader.set(if epoch.is_some() { 1.0 } else { 0.0 });
        self.leader_epoch.set(epoch.unwrap_or(0) as f64);
    }

    /// Registers every family on a fresh registry and pre-initialises the
    /// counters of the given accounts, so `rate()` sees their first increment.
    pub fn new(accounts: &[AccountLabels<'_>]) -> Metrics {
        let mut r = Families {
            registry: Registry::new(),
            names: Vec::new(),
        };
        // The standard process_* series (CPU seconds, resident memory, open
        // file descriptors, start time, threads), read from /proc at scrape.
        #[cfg(target_os = "linux")]
        if let Err(e) = r.registry.register(Box::new(process::ProcessMetrics::for_self())) {
            tracing::warn!(error = %e, "The process metrics are unavailable.");
        }
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

        let leader = r.add(
            Gauge::new(
                "driftwatch_leader",
                "1 while this replica acts (the leader, or without leadership configured), 0 on standby.",
            )
            .expect("metric definition is valid"),
        );
        let leader_epoch = r.add(
            Gauge::new(
                "driftwatch_leader_epoch",
                "The leadership epoch this replica acts for (0 without leadership or on standby).",
            )
            .expect("metric definition is valid"),
        );

        let m = Metrics {
            leader,
            leader_epoch,
            positions: PositionFamilies::default(),
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
                "Position frames received, by outcome (applied, out_of_order, unanchored); a frame that does not parse ends the connection.",
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
            db_unmapped_rows: gauge_vec(
                &mut r,
                "driftwatch_db_unmapped_rows",
                "Bot rows whose symbol the mapping does not place on the venue (never corrected or closed).",
                &["venue", "account"],
            ),
            db_mapping_problems: gauge_vec(
                &mut r,
                "driftwatch_db_mapping_problems",
                "Ways the account's mapping cannot work on the bot's table as introspected (0: it fits).",
                &["venue", "account"],
            ),
            db_corrections_total: counter_vec(
                &mut r,
                "driftwatch_db_corrections_total",
                "Planned corrections of the bot's database rows, by operation and result \
                 (applied, dry_run, refused by a guard, failed, moved: the bot changed the row first).",
                &["venue", "account", "op", "result"],
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
                "Always 1; the labels say which build is running (version, and the source revision).",
                &["version", "revision"],
            ),
            pages_total: counter_vec(
                &mut r,
                "driftwatch_pages_total",
                "Pages, by channel (log, email) and result (sent, failed, deduplicated, rate_limited, \
                 dropped: the email queue was full).",
                &["channel", "result"],
            ),
            registry: r.registry,
            names: {
                let mut names = r.names;
                names.extend(POSITION_FAMILIES.iter().map(|f| f.0.to_owned()));
                names
            },
        };
        m.pages_total
            .with_label_values(&[Channel::Log.as_str(), PageResult::Sent.as_str()])
            .inc_by(0);
        // Acting alone until leadership says otherwise.
        m.leader.set(1.0);
        m.build_info
            .with_label_values(&[env!("CARGO_PKG_VERSION"), env!("DRIFTWATCH_REVISION")])
            .set(1.0);
        for result in RELOAD_RESULTS {
            m.rules_reload_total.with_label_values(&[result]).inc_by(0);
        }
        for a in accounts {
            m.ws_reconnects_total.with_label_values(&[a.venue, a.account]).inc_by(0);
            m.ws_connected.with_label_values(&[a.venue, a.account]).set(0.0);
            m.db_unmapped_rows.with_label_values(&[a.venue, a.account]).set(0.0);
            m.db_mapping_problems.with_label_values(&[a.venue, a.account]).set(0.0);
            for outcome in FrameOutcome::ALL {
                m.ws_frames_total
                    .with_label_values(&[a.venue, a.account, outcome.as_str()])
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
            for op in Op::ALL {
                for result in CORRECTION_RESULTS {
                    m.db_corrections_total
                        .with_label_values(&[a.venue, a.account, op.as_str(), result.as_str()])
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
        for result in PageResult::ALL {
            self.pages_total
                .with_label_values(&[Channel::Email.as_str(), result.as_str()])
                .inc_by(0);
        }
    }

    /// Counts one page on `channel`.
    pub fn paged(&self, channel: Channel, result: PageResult) {
        self.pages_total
            .with_label_values(&[channel.as_str(), result.as_str()])
            .inc();
    }

    /// One account's per-frame series, looked up once: a label lookup
    /// hashes the values and takes a lock, and at every frame two of them
    /// were about 1 % of the process's work (BENCHMARKS.md).
    pub fn stream_series(&self, venue: &str, account: &str) -> StreamSeries {
        StreamSeries {
            last_event: self
                .ws_last_event_timestamp_seconds
                .with_label_values(&[venue, account]),
            frames: FrameOutcome::ALL.map(|o| self.ws_frames_total.with_label_values(&[venue, account, o.as_str()])),
        }
    }

    /// Counts one reload of the rule files: `ok` when the new set took over.
    pub fn rules_reloaded(&self, ok: bool) {
        let [success, failure] = RELOAD_RESULTS;
        self.rules_reload_total
            .with_label_values(&[if ok { success } else { failure }])
            .inc();
    }

    /// Counts one planned correction, by result (one of [`CORRECTION_RESULTS`]).
    pub fn correction(&self, venue: &str, account: &str, op: Op, result: Status) {
        if !CORRECTION_RESULTS.contains(&result) {
            tracing::error!(result = result.as_str(), "Not a correction result; not counted.");
            return;
        }
        self.db_corrections_total
            .with_label_values(&[venue, account, op.as_str(), result.as_str()])
            .inc();
    }

    /// The Prometheus text exposition (format 0.0.4), whole.
    pub fn render(&self) -> String {
        self.pages().collect()
    }

    /// The exposition a piece at a time, as `/metrics` sends it: the
    /// registry's families, then the per-position ones in pieces of a few
    /// hundred rows.
    pub fn pages(&self) -> impl Iterator<Item = String> + Send + Sync + 'static {
        let mut head = String::new();
        if let Err(e) = TextEncoder::new().encode_utf8(&self.registry.gather(), &mut head) {
            tracing::error!(error = %e, "Failed to encode metrics.");
        }
        std::iter::once(head)
            .chain(self.positions.pages())
            .filter(|piece| !piece.is_empty())
    }

    /// Publishes the latest reports: the per-position series are rendered
    /// from them at scrape time (nothing per position is kept in between),
    /// and each account's `source_up` is set.
    pub fn publish(&self, accounts: Vec<Published>) {
        for a in &accounts {
            for s in &a.report.sources {
                self.source_up
                    .with_label_values(&[&a.venue, &a.account, s.source.as_str()])
                    .set(if s.trusted { 1.0 } else { 0.0 });
            }
        }
        self.positions.lock().accounts = accounts;
    }

    /// Counts one finished emergency close, by result (one of [`CLOSE_RESULTS`]).
    pub fn close_finished(&self, venue: &str, account: &str, symbol: &str, result: Status) {
        let Some(i) = CLOSE_RESULTS.iter().position(|r| *r == result) else {
            tracing::error!(result = result.as_str(), "Not a close result; not counted.");
            return;
        };
        let mut p = self.positions.lock();
        let counts = p
            .closes
            .entry((venue.to_owned(), account.to_owned(), symbol.to_owned()))
            .or_default();
        counts[i] += 1;
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

/// One account's latest report, as published on the tick.
#[derive(Clone)]
pub struct Published {
    pub venue: String,
    pub account: String,
    pub report: Arc<AccountReport>,
}

#[derive(Default)]
struct PositionState {
    accounts: Vec<Published>,
    /// (venue, account, symbol) → count per [`CLOSE_RESULTS`] entry.
    closes: BTreeMap<(String, String, String), [u64; CLOSE_RESULTS.len()]>,
}

/// The per-position families (sizes, drifts, in-sync, states, close
/// results), written as text from the latest reports when scraped. Neither a
/// `GaugeVec` (~20 series objects per watched symbol alive between scrapes,
/// about 30 KiB a symbol, and a full pass to update) nor a custom collector
/// (~20,000 label and metric structs built per scrape at 1,000 symbols,
/// ~14 MiB of garbage each time) is needed: this keeps nothing but the
/// reports the core publishes anyway and writes each line once. Every watched
/// symbol shows all seven close results, zero until one happens, so
/// `increase()` sees the first.
#[derive(Default)]
struct PositionFamilies {
    state: Mutex<PositionState>,
}

/// (name, help, type, the extra label after venue/account/symbol).
const POSITION_FAMILIES: [(&str, &str, &str, &str); 5] = [
    (
        "driftwatch_position_size",
        "Signed position size in base units as each source reports it (NaN when the source is untrusted).",
        "gauge",
        "source",
    ),
    (
        "driftwatch_position_drift",
        "Signed size difference between two sources in base units (NaN when either is untrusted).",
        "gauge",
        "pair",
    ),
    (
        "driftwatch_position_in_sync",
        "1 when the stream, REST and the bot's database agree on this position, else 0.",
        "gauge",
        "",
    ),
    (
        "driftwatch_position_state",
        "1 for the position's current reconcile state, 0 for the others.",
        "gauge",
        "state",
    ),
    (
        "driftwatch_emergency_closes_total",
        "Reduce-only emergency closes, by result (verified, unverified, nothing_to_do, below_lot, \
         disarmed, failed, refused by a guard).",
        "counter",
        "result",
    ),
];

/// A label value as the text format wants it.
fn escape(v: &str) -> std::borrow::Cow<'_, str> {
    if v.contains(['\\', '"', '\n']) {
        v.replace('\\', "\\\\").replace('"', "\\\"").replace('\n', "\\n").into()
    } else {
        v.into()
    }
}

/// A sample value as the text format wants it, written onto `out`: zero
/// and one (most of the per-position samples) as themselves, any other
/// finite value as Rust writes an `f64` (the shortest text that reads back
/// the same).
fn push_number(out: &mut String, v: f64) {
    use std::fmt::Write;
    if v.is_nan() {
        out.push_str("NaN");
    } else if v.is_infinite() {
        out.push_str(if v > 0.0 { "+Inf" } else { "-Inf" });
    } else if v == 0.0 && v.is_sign_positive() {
        out.push('0');
    } else if v == 1.0 {
        out.push('1');
    } else {
        let _ = write!(out, "{v}");
    }
}

impl PositionFamilies {
    fn lock(&self) -> MutexGuard<'_, PositionState> {
        // The state is replaced whole or counted into; a panic elsewhere cannot leave it half-written.
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The five families, in the text format, a piece at a time, from a
    /// copy of the latest reports (shared, so the core never waits on a
    /// scrape).
    fn pages(&self) -> Pages {
        let (accounts, closes) = {
            let p = self.lock();
            (p.accounts.clone(), p.closes.clone())
        };
        Pages {
            accounts,
            closes,
            family: 0,
            account: 0,
            row: 0,
            headed: false,
            shown: BTreeSet::new(),
        }
    }
}

/// The per-position families as text pieces of at most `Pages::ROWS`
/// rows, so a scrape at thousands of symbols never holds the whole page (at
/// 1,000 symbols about 2.3 MB) in one buffer.
struct Pages {
    accounts: Vec<Published>,
    closes: BTreeMap<(String, String, String), [u64; CLOSE_RESULTS.len()]>,
    /// Where the next piece starts: family, account, row.
    family: usize,
    account: usize,
    row: usize,
    /// The family's `# HELP`/`# TYPE` lines are written.
    headed: bool,
    /// (venue, account, symbol) whose close results are written.
    shown: BTreeSet<(String, String, String)>,
}

impl Pages {
    const ROWS: usize = 200;
}

/// One row's labels as its sample lines write them, in name order, as the
/// registry's own families write theirs: `account="…",` before the extra
/// label (every one of them — pair, result, source, state — sorts between
/// `account` and `symbol`) and `symbol="…",venue="…"} ` after it. Escaped
/// and written once a row, not once a line (a row has twenty lines).
#[derive(Default)]
struct RowLabels {
    head: String,
    tail: String,
}

impl RowLabels {
    fn set(&mut self, venue: &str, account: &str, symbol: &str) {
        self.head.clear();
        for text in ["account=\"", &escape(account), "\","] {
            self.head.push_str(text);
        }
        self.tail.clear();
        for text in ["symbol=\"", &escape(symbol), "\",venue=\"", &escape(venue), "\"} "] {
            self.tail.push_str(text);
        }
    }
}

/// One sample line of family number `family`.
fn sample(out: &mut String, family: usize, labels: &RowLabels, extra: Option<&str>, v: f64) {
    let (name, _, _, label) = POSITION_FAMILIES[family];
    out.push_str(name);
    out.push('{');
    out.push_str(&labels.head);
    if let Some(x) = extra {
        for text in [label, "=\"", x, "\","] {
            out.push_str(text);
        }
    }
    out.push_str(&labels.tail);
    push_number(out, v);
    out.push('\n');
}

impl Iterator for Pages {
    type Item = String;

    fn next(&mut self) -> Option<String> {
        use std::fmt::Write;
        let i = self.family;
        let (name, help, kind, _) = *POSITION_FAMILIES.get(i)?;
        let mut out = String::new();
        if !self.headed {
            let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} {kind}");
            self.headed = true;
        }
        if let Some(a) = self.accounts.get(self.account) {
            let (venue, account) = (a.venue.as_str(), a.account.as_str());
            let rows = &a.report.rows[self.row.min(a.report.rows.len())..];
            let rows = &rows[..rows.len().min(Pages::ROWS)];
            let mut labels = RowLabels::default();
            for row in rows {
                let symbol = row.key.to_string();
                labels.set(venue, account, &symbol);
                let mut line = |extra: Option<&str>, v: f64| sample(&mut out, i, &labels, extra, v);
                match i {
                    0 => {
                        for source in Source::ALL {
                            line(
                                Some(source.as_str()),
                                row.reading(source).believed().map_or(f64::NAN, to_f64),
                            );
                        }
                    }
                    1 => {
                        for pair in Pair::ALL {
                            line(Some(pair.as_str()), row.drift(pair).map_or(f64::NAN, to_f64));
                        }
                    }
                    2 => line(None, f64::from(u8::from(row.state == State::InSync))),
                    3 => {
                        for s in STATES {
                            line(Some(s.as_str()), f64::from(u8::from(row.state == s)));
                        }
                    }
                    _ => {
                        let key = (venue.to_owned(), account.to_owned(), symbol.clone());
                        if !self.shown.contains(&key) {
                            close_results(&mut line, self.closes.get(&key));
                            self.shown.insert(key);
                        }
                    }
                }
            }
            self.row += rows.len();
            if self.row >= a.report.rows.len() {
                (self.account, self.row) = (self.account + 1, 0);
            }
            return Some(out);
        }
        if i == 4 {
            // Closes of symbols no longer watched still count.
            let mut labels = RowLabels::default();
            for (key, counts) in &self.closes {
                if !self.shown.contains(key) {
                    let (venue, account, symbol) = key;
                    labels.set(venue, account, symbol);
                    close_results(&mut |extra, v| sample(&mut out, i, &labels, extra, v), Some(counts));
                }
            }
        }
        (self.family, self.account, self.row, self.headed) = (i + 1, 0, 0, false);
        Some(out)
    }
}

/// One symbol's `emergency_closes_total` lines, a line per result (zero
/// when it never happened).
fn close_results(line: &mut impl FnMut(Option<&str>, f64), counts: Option<&[u64; CLOSE_RESULTS.len()]>) {
    let counts = counts.copied().unwrap_or_default();
    for (result, n) in CLOSE_RESULTS.iter().zip(counts) {
        line(Some(result.as_str()), n as f64);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::reconcile::fixtures;

    fn report(symbols: &[&str]) -> Arc<AccountReport> {
        let sizes: Vec<(&str, &str)> = symbols.iter().map(|s| (*s, "1")).collect();
        Arc::new(fixtures::without(fixtures::agreeing(&sizes), Source::Db))
    }

    fn publish(m: &Metrics, symbols: &[&str]) {
        m.publish(vec![Published {
            venue: "nado".into(),
            account: "main".into(),
            report: report(symbols),
        }]);
    }

    fn value(text: &str, series: &str) -> Option<String> {
        text.lines()
            .find_map(|l| l.strip_prefix(series)?.strip_prefix(' ').map(str::to_owned))
    }

    proptest::proptest! {
        /// A value is written as the text format spells NaN and the
        /// infinities, and any other as Rust writes an `f64`.
        #[test]
        fn a_value_is_written_as_the_text_format_and_rust_spell_it(v in proptest::prop_oneof![
            proptest::num::f64::ANY,
            proptest::sample::select(vec![0.0, -0.0, 1.0, -1.0, 0.1, 1e21, 2.5e-8, f64::NAN, f64::INFINITY, f64::NEG_INFINITY]),
        ]) {
            let want = if v.is_nan() {
                "NaN".to_owned()
            } else if v == f64::INFINITY {
                "+Inf".to_owned()
            } else if v == f64::NEG_INFINITY {
                "-Inf".to_owned()
            } else {
                v.to_string()
            };
            let mut out = String::from("x ");
            push_number(&mut out, v);
            proptest::prop_assert_eq!(out, format!("x {want}"));
        }
    }

    #[test]
    fn a_rows_lines_spell_its_labels_in_name_order_escaped() {
        let mut labels = RowLabels::default();
        labels.set("nado", "ma\"in", "BTC");
        let mut out = String::new();
        sample(&mut out, 0, &labels, Some("ws"), 1.5);
        sample(&mut out, 2, &labels, None, 0.0);
        assert_eq!(
            out,
            "driftwatch_position_size{account=\"ma\\\"in\",source=\"ws\",symbol=\"BTC\",venue=\"nado\"} 1.5\n\
             driftwatch_position_in_sync{account=\"ma\\\"in\",symbol=\"BTC\",venue=\"nado\"} 0\n"
        );
    }

    #[test]
    fn an_accounts_held_series_count_under_its_own_labels() {
        let m = Metrics::new(&[]);
        let main = m.stream_series("nado", "main");
        let other = m.stream_series("nado", "other");
        main.event(Timestamp(1_500));
        for (n, outcome) in FrameOutcome::ALL.into_iter().enumerate() {
            for _ in 0..=n {
                main.frame(outcome);
            }
        }
        other.frame(FrameOutcome::Applied);
        let text = m.render();
        let at = |labels: &str| value(&text, &format!("driftwatch_ws_frames_total{{{labels}}}"));
        for (n, outcome) in FrameOutcome::ALL.into_iter().enumerate() {
            let labels = format!(r#"account="main",outcome="{}",venue="nado""#, outcome.as_str());
            assert_eq!(at(&labels), Some((n + 1).to_string()), "{labels}");
        }
        assert_eq!(
            at(r#"account="other",outcome="applied",venue="nado""#).as_deref(),
            Some("1")
        );
        assert_eq!(
            value(
                &text,
                r#"driftwatch_ws_last_event_timestamp_seconds{account="main",venue="nado"}"#
            )
            .as_deref(),
            Some("1.5")
        );
    }

    #[test]
    fn a_page_of_many_symbols_comes_in_pieces_each_family_whole_and_together() {
        let m = Metrics::new(&[]);
        let names: Vec<String> = (0..450).map(|i| format!("S{i:03}")).collect();
        let symbols: Vec<&str> = names.iter().map(String::as_str).collect();
        publish(&m, &symbols);
        m.close_finished("nado", "main", "S007", Status::Verified);
        m.close_finished("nado", "main", "GONE", Status::Failed);
        let pieces: Vec<String> = m.pages().collect();
        assert!(pieces.len() > 10, "{} pieces", pieces.len());
        assert!(pieces.iter().all(|p| !p.is_empty()));
        let text = pieces.concat();
        // The same text whole (past the registry's families, whose process
        // figures move between two reads).
        let positions = |t: &str| t[t.find("# HELP driftwatch_position_size").unwrap_or(0)..].to_owned();
        assert_eq!(positions(&text), positions(&m.render()));
        for (name, ..) in POSITION_FAMILIES {
            assert_eq!(text.matches(&format!("# TYPE {name} ")).count(), 1, "{name}");
            // The family's samples stand together, right after its header.
            let at: Vec<usize> = text
                .lines()
                .enumerate()
                .filter(|(_, l)| l.starts_with(&format!("{name}{{")) || l.starts_with(&format!("# TYPE {name} ")))
                .map(|(i, _)| i)
                .collect();
            assert!(at.windows(2).all(|w| w[1] == w[0] + 1), "{name} is split");
        }
        let closes = text
            .lines()
            .filter(|l| l.starts_with("driftwatch_emergency_closes_total{"))
            .count();
        assert_eq!(closes, 451 * CLOSE_RESULTS.len());
        let series = |symbol: &str, result: &str| {
            format!("driftwatch_emergency_closes_total{{account=\"main\",result=\"{result}\",symbol=\"{symbol}\",venue=\"nado\"}}")
        };
        assert_eq!(value(&text, &series("S007", "verified")).as_deref(), Some("1"));
        assert_eq!(value(&text, &series("GONE", "failed")).as_deref(), Some("1"));
        assert_eq!(value(&text, &series("S449", "verified")).as_deref(), Some("0"));
    }

    #[test]
    fn position_series_follow_the_latest_report_and_closes_keep_counting() {
        let m = Metrics::new(&[]);
        publish(&m, &["BTC-PERP", "ETH-PERP"]);
        m.close_finished("nado", "main", "ETH-PERP", Status::Verified);
        let text = m.render();
        let eth =
            |name: &str, extra: &str| format!("{name}{{account=\"main\",{extra}symbol=\"ETH-PERP\",venue=\"nado\"}}");
        assert_eq!(
            value(&text, &eth("driftwatch_position_size", "source=\"ws\",")).as_deref(),
            Some("1")
        );
        assert_eq!(
            value(&text, &eth("driftwatch_position_size", "source=\"db\",")).as_deref(),
            Some("NaN")
        );
        assert_eq!(
            value(&text, &eth("driftwatch_position_drift", "pair=\"ws_rest\",")).as_deref(),
            Some("0")
        );
        assert_eq!(
            value(&text, &eth("driftwatch_position_in_sync", "")).as_deref(),
            Some("0")
        );
        assert_eq!(
            value(&text, &eth("driftwatch_position_state", "state=\"source_untrusted\",")).as_deref(),
            Some("1")
        );
        assert_eq!(
            value(&text, &eth("driftwatch_emergency_closes_total", "result=\"verified\",")).as_deref(),
            Some("1")
        );
        assert!(text.contains("# TYPE driftwatch_emergency_closes_total counter"));
        assert!(text.contains(
            "driftwatch_emergency_closes_total{account=\"main\",result=\"failed\",symbol=\"BTC-PERP\",venue=\"nado\"} 0"
        ));
        assert!(text.contains("driftwatch_source_up{account=\"main\",source=\"db\",venue=\"nado\"} 0"));

        // ETH leaves the report: its position series go, its close count stays.
        publish(&m, &["BTC-PERP"]);
        let text = m.render();
        assert_eq!(value(&text, &eth("driftwatch_position_in_sync", "")), None);
        assert_eq!(
            value(&text, &eth("driftwatch_emergency_closes_total", "result=\"verified\",")).as_deref(),
            Some("1")
        );
        assert!(m.family_names().iter().any(|n| n == "driftwatch_position_state"));
    }
}
