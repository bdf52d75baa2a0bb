//! The core: the only owner of the views. It applies inputs, reconciles,
//! asks the pure decision what to do, hands corrections and closes to their
//! tasks, and publishes metrics and the table.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use rust_decimal::Decimal;
use tokio::sync::{mpsc, watch, Notify};

use crate::actions::{self, CorrectionRequest, CycleReport};
use crate::clock;
use crate::config::AccountConfig;
use crate::domain::{Leg, PositionKey, Symbol, Timestamp};
use crate::http::HttpState;
use crate::journal::Status;
use crate::metrics::{FrameOutcome, Metrics, StreamSeries};
use crate::notify::Page;
use crate::plan::retry::{waiting, Retry};
use crate::plan::{self, CorrectionPolicy, Mode, SourceTimes};
use crate::reconcile::{AccountReport, Policy, Reconciler, Touched};
use crate::replay::{AccountSources, Burst, Effect, Observation, Observed};
use crate::snapshot::{AccountSnapshot, Snapshot};
use crate::venue::types::StreamEvent;
use crate::view::{Applied, Verification};

use super::Input;

fn page_severity(s: crate::rules::Severity) -> crate::notify::Severity {
    match s {
        crate::rules::Severity::Critical => crate::notify::Severity::Critical,
        _ => crate::notify::Severity::Warning,
    }
}

pub(super) struct AccountState {
    pub(super) cfg: AccountConfig,
    pub(super) policy: Policy,
    /// The account's sources; changed only through `AccountSources::observe`.
    pub(super) src: AccountSources,
    pub(super) poll_now: Arc<Notify>,
    /// The symbols whose REST baseline the view refused: each REST poll
    /// also reads them from a second endpoint until the conflict settles.
    pub(super) corroborate: watch::Sender<Vec<String>>,
    pub(super) correct: CorrectionPolicy,
    /// A correction cycle is with the corrections task.
    pub(super) correcting: bool,
    /// When the last cycle finished: the next plan needs a DB read after it.
    pub(super) corrected_at: Option<Timestamp>,
    /// After a failed cycle: no new cycle before its end.
    pub(super) correction_retry: Option<Retry>,
    /// After a resubscribe for a missing baseline: no new one before its end.
    pub(super) stream_retry: Option<Retry>,
    pub(super) last_corrections: Option<String>,
    /// The last dry-run or refused plan sent: an identical one is not sent
    /// again (no repeated journal entries, counts or pages for one situation).
    pub(super) last_unapplied: Option<Vec<String>>,
    pub(super) last_close: Option<String>,
    pub(super) last_report: Option<AccountReport>,
    pub(super) resync: Arc<Notify>,
    /// When closes were sent, for the per-hour guard.
    pub(super) closes_sent: std::collections::VecDeque<Timestamp>,
    /// `--record`: a frame of this account's was not recorded (the recorder
    /// was behind), so the next applied frame is recorded whole.
    pub(super) frame_unrecorded: bool,
    /// Its per-frame metric series.
    pub(super) series: StreamSeries,
}

/// The most inputs the core takes as one burst: a decision waits for at most
/// this many inputs to be applied before it, each cheaper than the decision
/// it saves (tens of microseconds in all at ten open positions).
const BURST: usize = 64;

/// What became of a close decision the core was asked to carry out.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Asked {
    /// Sent, refused, withheld by a back-off, or nothing to close.
    Done,
    /// Left, on every leg, to a close already made there.
    Left,
}

pub(super) struct Core {
    /// Whether this replica acts (plans corrections, evaluates rules, closes).
    pub(super) leadership: crate::leader::Leadership,
    pub(super) accounts: Vec<AccountState>,
    pub(super) reconciler: Reconciler,
    pub(super) metrics: Arc<Metrics>,
    pub(super) http: Arc<HttpState>,
    pub(super) snapshots: watch::Sender<Arc<Snapshot>>,
    pub(super) tick: Duration,
    pub(super) correct_tx: mpsc::Sender<CorrectionRequest>,
    pub(super) db_poll_now: Arc<Notify>,
    pub(super) rules: watch::Receiver<Arc<crate::rules::RuleSet>>,
    pub(super) engine: crate::rules::Engine,
    pub(super) close_tx: mpsc::Sender<actions::CloseRequest>,
    /// (account, leg) with a close in flight: never two at once.
    pub(super) in_flight: BTreeSet<(usize, crate::domain::PositionKey)>,
    /// (account, leg) with a close in flight, or settling → the (rule,
    /// subject) of each close decision that came meanwhile and was left to
    /// that close. Its rule fired (its cooldown began) without acting; when
    /// the close ends or the leg settles, the rule may decide again at once
    /// (or when a back-off ends), so a second rule about the leg is not
    /// silenced for its whole cooldown.
    pub(super) deferred: BTreeMap<(usize, crate::domain::PositionKey), BTreeSet<(String, String)>>,
    /// (account, leg) whose close a fresh read verified and whose stream
    /// view may still lag that read (`plan::settle`): a close decision about
    /// the leg is left to the close already made (deferred, as above) until
    /// the stream shows it or the wait runs out.
    pub(super) settling: BTreeMap<(usize, crate::domain::PositionKey), plan::settle::Settling>,
    /// (account, subject: a leg as its rules name it, or a group) whose last
    /// close did not complete: no new close before the wait ends. Cleared by
    /// a close that ends otherwise.
    pub(super) backing_off: BTreeMap<(usize, String), Retry>,
    pub(super) guards: crate::config::CloseGuards,
    pub(super) pages: tokio::sync::broadcast::Sender<Page>,
    /// Where observations go when `--record` is on.
    pub(super) recorder: Option<mpsc::Sender<String>>,
    /// Rule firings, to the journal (cooldowns that survive a restart).
    pub(super) fired: mpsc::Sender<Vec<crate::rules::Fired>>,
}

impl Core {
    pub(super) async fn run(
        mut self,
        mut rx: mpsc::Receiver<Input>,
        mut done: mpsc::Receiver<CycleReport>,
        mut closes_done: mpsc::Receiver<actions::CloseDone>,
        mut shutdown: watch::Receiver<bool>,
    ) -> anyhow::Result<()> {
        let mut tick = tokio::time::interval(self.tick);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                biased;
                _ = shutdown.changed() => return Ok(()),
                input = rx.recv() => match input {
                    Some(input) => self.take_burst(input, &mut rx),
                    None => return Ok(()),
                },
                Some(cycle) = done.recv() => {
                    let now = clock::now();
                    let a = &mut self.accounts[cycle.account];
                    a.correcting = false;
                    a.corrected_at = Some(now);
                    // A failure that will recur (permission, constraint,
                    // schema) is not retried at every DB read: 1 s, doubling to 60 s.
                    if let actions::CycleOutcome::Failed(f) = &cycle.outcome {
                        let r = Retry::after(a.correction_retry, now);
                        tracing::warn!(account = %a.cfg.name, failures = r.failures, until = %r.until.to_utc_string(),
                            reason = %f.summary, "Correction cycle failed; the next waits.");
                        a.correction_retry = Some(r);
                    } else {
                        a.correction_retry = None;
                    }
                    a.last_corrections = Some(format!("{} (correlation id {})", cycle.summary, cycle.correlation_id));
                    // Read the table again at once, so the view reflects the change.
                    self.db_poll_now.notify_one();
                }
                Some(closed) = closes_done.recv() => {
                    let leg = (closed.account, closed.key.clone());
                    let subject = closed.key.to_string();
                    if closed.ended == actions::Ended::LeftToRunning {
                        // A close resumed after a failover runs for the leg: it is
                        // that close's until it ends (its report follows on this
                        // channel), and the decision is made again then.
                        self.in_flight.insert(leg.clone());
                        self.defer(closed.account, &closed.key, (&closed.rule, &subject));
                        continue;
                    }
                    self.in_flight.remove(&leg);
                    let key = (closed.account, subject.clone());
                    let rules = self.rules.borrow().clone();
                    let account = &self.accounts[closed.account].cfg.name;
                    let now = clock::now();
                    let retry_at = match closed.ended {
                        actions::Ended::NotCompleted => {
                            let r = Retry::after(self.backing_off.get(&key).copied(), now);
                            tracing::warn!(symbol = %closed.key, failures = r.failures, until = %r.until.to_utc_string(),
                                "The close did not complete; the next one for this symbol waits.");
                            self.backing_off.insert(key, r);
                            // Its rule may decide again when the back-off ends, not only after its cooldown.
                            self.engine.retry_at(&rules, &closed.rule, account, &subject, r.until);
                            r.until
                        }
                        actions::Ended::Completed => {
                            self.backing_off.remove(&key);
                            now
                        }
                        // The leader resumes it: what became of it is not this
                        // replica's evidence, and no back-off starts.
                        actions::Ended::HandedOver | actions::Ended::LeftToRunning => now,
                    };
                    // The decisions left to this close may be made again (below,
                    // on the state the close left), or when its back-off ends.
                    self.undefer(&rules, &(closed.account, closed.key.clone()), retry_at);
                    match closed.verified {
                        Some(seen) => {
                            self.settling.insert((closed.account, closed.key.clone()), plan::settle::Settling::after(seen, now));
                        }
                        None => {
                            self.settling.remove(&(closed.account, closed.key.clone()));
                        }
                    }
                    let a = &mut self.accounts[closed.account];
                    // Retries and resumed closes count toward max_per_hour too.
                    for _ in 0..closed.uncounted {
                        a.closes_sent.push_back(clock::now());
                    }
                    a.last_close = Some(format!("{} {}: {}", closed.key, closed.result, closed.summary));
                    tracing::info!(account = %a.cfg.name, symbol = %closed.key, result = closed.result.as_str(),
                        summary = %closed.summary, "Close finished.");
                    a.poll_now.notify_one();
                    // A rule that still holds may act again now, not at the next tick.
                    self.evaluate_rules(clock::now(), None);
                }
                _ = tick.tick() => {
                    let now = clock::now();
                    self.recover_streams(now);
                    self.publish(now);
                    self.evaluate_rules(now, None);
                }
            }
        }
    }

    /// A stream that connected but has brought no baseline for twice its
    /// silence timeout (subscribed, ponging, saying nothing) is resubscribed
    /// by a reconnect, on a back-off (1 s doubling to 60 s between tries).
    /// A refused REST baseline is not such a case: a reconnect cannot settle it.
    fn recover_streams(&mut self, now: Timestamp) {
        for a in &mut self.accounts {
            let view = &a.src.view;
            if view.link() != crate::view::Link::AwaitingBaseline || view.in_conflict() {
                if view.link() == crate::view::Link::Live {
                    a.stream_retry = None;
                }
                continue;
            }
            let waited = view.connected_at().map_or(Duration::ZERO, |t| now.since(t));
            if waited <= a.policy.stream_silence_after * 2 || waiting(a.stream_retry, now) {
                continue;
            }
            let r = Retry::after(a.stream_retry, now);
            a.stream_retry = Some(r);
            tracing::warn!(account = %a.cfg.name, waited_s = waited.as_secs(), attempt = r.failures,
                "The stream has brought no baseline since it connected; reconnecting to resubscribe.");
            a.resync.notify_one();
            a.poll_now.notify_one();
        }
    }

    /// Takes an input and every input already queued behind it (at most
    /// [`BURST`]): each applied and recorded in order, then each account they
    /// touched reconciled and its rules evaluated once, on the latest state,
    /// then corrections planned where a DB read came in. Under a burst the
    /// core decides once per burst, not once per frame, and never falls
    /// behind its streams; an input that arrives alone is decided alone.
    fn take_burst(&mut self, first: Input, rx: &mut mpsc::Receiver<Input>) {
        let mut burst = Burst::default();
        let mut db_read = Vec::new();
        let (mut next, mut taken, mut now) = (Some(first), 1, clock::now());
        while let Some(input) = next {
            next = if taken < BURST { rx.try_recv().ok() } else { None };
            taken += 1;
            now = clock::now();
            let (account, observed) = input.observed();
            if matches!(observed, Observed::Db(Ok(_))) && !db_read.contains(&account) {
                db_read.push(account);
            }
            let effect = self.apply(account, &observed, now);
            self.record(account, observed, effect, now, next.is_some());
            burst.add(account, self.accounts[account].src.touched(effect));
        }
        for (account, touched) in burst.take() {
            let touched = self.refresh(account, now, touched);
            // The rules see an input first: a correction never overtakes them.
            self.evaluate_rules(now, touched.symbols().map(|s| (account, s)));
            if db_read.contains(&account) {
                // Only a DB read plans corrections: the one copy, not one per input.
                if let Some(report) = self.accounts[account].last_report.clone() {
                    self.plan_corrections(account, &report, now);
                }
            }
        }
    }

    /// Hands an observation to the recorder, if `--record` is on; never waits.
    /// After a frame that was not recorded, the next applied one is recorded
    /// whole (`AccountSources::recordable`), so a replay re-anchors.
    fn record(&mut self, account: usize, observed: Observed, effect: Effect, now: Timestamp, more_queued: bool) {
        let Some(rec) = &self.recorder else { return };
        let a = &mut self.accounts[account];
        let observed = a.src.recordable(observed, effect, a.frame_unrecorded);
        let whole = matches!(observed, Observed::Stream(StreamEvent::Snapshot { .. }));
        let frame = whole || matches!(observed, Observed::Stream(StreamEvent::Changes { .. }));
        let o = Observation {
            at: now,
            account: a.cfg.name.clone(),
            observed,
            more_queued,
        };
        let recorded = match serde_json::to_string(&o) {
            Ok(line) => {
                let sent = rec.try_send(line).is_ok();
                if !sent {
                    tracing::warn!("The recorder is behind; an observation was not recorded.");
                }
                sent
            }
            Err(e) => {
                tracing::warn!(error = %e, "An observation could not be recorded.");
                false
            }
        };
        if frame && !recorded {
            a.frame_unrecorded = true;
        } else if whole && recorded {
            a.frame_unrecorded = false;
        }
    }

    /// Applies one observation to its account's sources, with its logs and metrics.
    fn apply(&mut self, account: usize, observed: &Observed, now: Timestamp) -> Effect {
        let m = &self.metrics;
        let a = &mut self.accounts[account];
        let (venue, name) = (a.cfg.link.venue.as_str(), a.cfg.name.as_str());
        let was_down = a.src.view.link() == crate::view::Link::Down;
        let rest_was_usable = a
            .src
            .rest
            .usable(now, a.policy.rest_stale_after, a.policy.rest_answer_within)
            .is_ok();
        let db_was_usable = a
            .src
            .db
            .usable(now, a.policy.db_stale_after, a.policy.db_stale_after)
            .is_ok();
        let db_read_before = a.src.db.last().is_some();
        let was_conflict = a.src.view.in_conflict();
        let effect = a.src.observe(observed, now);
        match observed {
            Observed::Stream(event) => {
                match event {
                    StreamEvent::Connected => {
                        m.ws_connected.with_label_values(&[venue, name]).set(1.0);
                        a.poll_now.notify_one();
                    }
                    StreamEvent::Disconnected { reason } => {
                        m.ws_connected.with_label_values(&[venue, name]).set(0.0);
                        if !was_down {
                            m.ws_reconnects_total.with_label_values(&[venue, name]).inc();
                            tracing::warn!(account = %name, reason = %reason, "Stream view untrusted until its snapshot arrives and REST agrees.");
                        }
                    }
                    StreamEvent::Dirty { symbols, cause } => {
                        tracing::warn!(account = %name, symbols = %symbols.join(", "), cause = %cause, "Position changed without the bot; verifying by REST.");
                        a.poll_now.notify_one();
                    }
                    _ => {}
                }
                if !matches!(event, StreamEvent::Connected | StreamEvent::Disconnected { .. }) {
                    a.series.event(now);
                }
                match effect {
                    Effect::Stream(Applied::Replaced | Applied::Updated) => {
                        a.series.frame(FrameOutcome::Applied);
                        if a.src.view.trust(now, a.policy.stream_silence_after).is_err() {
                            a.poll_now.notify_one();
                        }
                    }
                    Effect::Stream(Applied::DroppedOutOfOrder) => {
                        a.series.frame(FrameOutcome::OutOfOrder);
                        tracing::debug!(account = %name, "Dropped a position frame older than the last applied.");
                    }
                    Effect::Stream(Applied::Unanchored) => {
                        a.series.frame(FrameOutcome::Unanchored);
                        tracing::warn!(account = %name,
                            "A frame's changes have no complete set from this connection to apply to; the view is untrusted and the stream resyncs.");
                        a.resync.notify_one();
                    }
                    _ => {}
                }
            }
            Observed::Rest(Ok(_)) => {
                if effect == Effect::Rest(Some(Verification::Agreed)) && !rest_was_usable {
                    tracing::info!(account = %name, "REST read succeeded and agrees with the stream.");
                }
                if effect == Effect::Rest(Some(Verification::BaselineConflict)) && !was_conflict {
                    if let Err(why) = a.src.view.trust(now, a.policy.stream_silence_after) {
                        tracing::error!(account = %name, reason = %why.describe(),
                            "REST offered a baseline that contradicts the last trusted view; the account is untrusted (no correction, no close) until a stream event, a second endpoint or REST agreeing again settles it.");
                    }
                }
                // Which symbols the next polls corroborate (net legs: the
                // second endpoint reads the cross position).
                let want: Vec<String> = a
                    .src
                    .view
                    .conflict_keys()
                    .iter()
                    .filter(|k| k.leg == crate::domain::Leg::Net)
                    .map(|k| k.symbol.to_string())
                    .collect();
                a.corroborate.send_if_modified(|w| {
                    let changed = *w != want;
                    *w = want;
                    changed
                });
            }
            Observed::Corroborated(Ok(positions)) => {
                tracing::info!(account = %name, read = %positions.iter().map(|p| format!("{} {}", p.key, p.size)).collect::<Vec<_>>().join(", "),
                    "A second endpoint read the symbols whose baseline was refused.");
            }
            Observed::Corroborated(Err(e)) => {
                tracing::warn!(account = %name, error = %e, "The second endpoint could not be read; the refused baseline stays refused.");
            }
            Observed::Rest(Err(e)) => {
                if rest_was_usable {
                    tracing::warn!(account = %name, error = %e, "REST read failed; REST is untrusted until it succeeds.");
                }
            }
            Observed::Markets(Err(e)) => {
                tracing::warn!(account = %name, error = %e, "Market info refresh failed; keeping the last lot sizes.")
            }
            Observed::Prices(Err(e)) => tracing::debug!(account = %name, error = %e, "Mark prices not refreshed."),
            Observed::Markets(Ok(_)) | Observed::Prices(Ok(_)) | Observed::RestRequested => {}
            Observed::Db(Ok(_)) => {
                if !db_was_usable && db_read_before {
                    tracing::info!(account = %name, "Bot database readable again.");
                }
            }
            Observed::Db(Err(e)) => {
                if db_was_usable || !db_read_before {
                    tracing::error!(account = %name, error = %e, "Bot database read failed; the database is untrusted until it succeeds.");
                }
            }
        }
        effect
    }

    /// Plans a correction cycle after a DB read, when none is in flight and
    /// the read is newer than the last cycle.
    fn plan_corrections(&mut self, account: usize, report: &AccountReport, now: Timestamp) {
        // A standby watches; only the leader corrects.
        if self.leadership.acting().is_none() {
            return;
        }
        let a = &mut self.accounts[account];
        if a.correct.mode == Mode::Off || a.correcting {
            return;
        }
        if waiting(a.correction_retry, now) {
            return;
        }
        if a.corrected_at.is_some() && a.src.db.read_at() <= a.corrected_at {
            return;
        }
        let Ok(db) = a.src.db.usable(now, a.policy.db_stale_after, a.policy.db_stale_after) else {
            return;
        };
        let times = SourceTimes {
            ws: a.src.view.last_frame_at(),
            rest: a.src.rest.read_at(),
            db: a.src.db.read_at(),
        };
        let holds = self.engine.holds(&self.rules.borrow(), &a.cfg.name, now);
        let exchange = plan::Exchange {
            positions: a.src.view.positions(),
            lots: &a.src.lots,
            marks: &a.src.marks,
        };
        let plan = plan::corrections(report, db, &exchange, times, &holds, &a.correct, now);
        if let Some(b) = &plan.blocked {
            tracing::debug!(account = %a.cfg.name, blocked = %b.describe(), "No corrections: the account's evidence disagrees.");
        }
        for (key, skip) in &plan.skipped {
            tracing::debug!(account = %a.cfg.name, symbol = %key, skip = %skip.describe(), "Correction not yet due.");
        }
        if plan.is_empty() {
            a.last_unapplied = None;
            return;
        }
        if a.correct.mode == Mode::DryRun || plan.refused.is_some() {
            let signature: Vec<String> = plan
                .corrections
                .iter()
                .map(|c| {
                    format!(
                        "{:?} {} {:?} {:?}",
                        c.op,
                        c.key,
                        c.row.as_ref().map(|r| &r.row_key),
                        c.target
                    )
                })
                .collect();
            if a.last_unapplied.as_ref() == Some(&signature) {
                return;
            }
            a.last_unapplied = Some(signature);
        } else {
            a.last_unapplied = None;
        }
        let term = self.leadership.acting();
        match self.correct_tx.try_send(CorrectionRequest { account, plan, term }) {
            Ok(()) => a.correcting = true,
            Err(e) => tracing::warn!(account = %a.cfg.name, error = %e, "Correction task busy; will plan again."),
        }
    }

    /// Brings one account's report up to date for the rules: the keys an
    /// input touched, or all of them.
    fn refresh(&mut self, account: usize, now: Timestamp, touched: Touched) -> Touched {
        let a = &mut self.accounts[account];
        self.reconciler
            .refresh(account, &a.src.inputs(), &a.policy, now, touched, &mut a.last_report)
    }

    /// Runs the rules over every account's latest report (or only over the
    /// symbols of one account an input touched) and carries out their
    /// decisions: pages, resyncs, correction cycles and closes.
    fn evaluate_rules(&mut self, now: Timestamp, focus: Option<(usize, Vec<Symbol>)>) {
        // A standby neither fires rules nor starts their cooldowns: the
        // leader pages and acts, and a standby that takes over decides
        // afresh (its holds start when it does).
        if self.leadership.acting().is_none() {
            return;
        }
        // Evaluated even with no rules: a reload that removed an alerting
        // rule clears (and resolves) its open problems.
        let rules = self.rules.borrow().clone();
        self.settle(&rules, now);
        let states: Vec<crate::rules::AccountState<'_>> = self
            .accounts
            .iter()
            .filter_map(|a| {
                a.last_report.as_ref().map(|r| crate::rules::AccountState {
                    venue: a.cfg.link.venue.as_str(),
                    account: &a.cfg.name,
                    report: r,
                    marks: &a.src.marks,
                })
            })
            .collect();
        let focus = focus.as_ref().map(|(i, symbols)| crate::rules::Focus {
            account: &self.accounts[*i].cfg.name,
            symbols,
        });
        let full = focus.is_none();
        let decisions = self.engine.evaluate_focused(&rules, &states, now, focus);
        drop(states);
        let fired = self.engine.take_fired();
        // The gauge goes with full evaluations (at least every tick): it
        // walks every held condition, which an input's focus does not need.
        if full {
            let firing = self.engine.firing(&rules, now);
            for r in &rules.rules {
                self.metrics
                    .rule_firing
                    .with_label_values(&[&r.id])
                    .set(if firing.contains(&r.id) { 1.0 } else { 0.0 });
            }
        }
        // Each firing (rule, account, subject) → whether an action of it did
        // something (false: its only action was a close left to one already made).
        let mut firings: BTreeMap<(String, String, String), bool> = BTreeMap::new();
        for d in decisions {
            let firing = (d.rule.clone(), d.account.clone(), d.subject.clone());
            if !firings.contains_key(&firing) {
                firings.insert(firing.clone(), false);
                self.metrics.rule_triggers_total.with_label_values(&[&d.rule]).inc();
            }
            let Some(account) = self.accounts.iter().position(|a| a.cfg.name == d.account) else {
                continue;
            };
            tracing::warn!(rule = %d.rule, action = d.action.as_str(), account = %d.account, subject = %d.subject,
                reason = %d.reason, "Rule fired.");
            match d.action {
                crate::rules::Action::Alert => {
                    let _ = self.pages.send(Page {
                        status: crate::notify::Status::Firing,
                        subject: d.subject.clone(),
                        id: d.rule.clone(),
                        severity: page_severity(d.severity),
                        venue: d.venue.clone(),
                        account: d.account.clone(),
                        summary: d.reason.clone(),
                        detail: format!(
                            "{} on {}/{} since {}",
                            d.subject,
                            d.venue,
                            d.account,
                            d.since.to_utc_string()
                        ),
                        at: now,
                    });
                }
                crate::rules::Action::Resync => {
                    let a = &self.accounts[account];
                    a.poll_now.notify_one();
                    // A drift in which REST moved and the stream did not is REST's
                    // to mend: a new stream baseline would be judged against it.
                    if a.src.view.rest_moved(&d.subject) {
                        tracing::warn!(account = %a.cfg.name, subject = %d.subject,
                            "REST changed where the stream did not: reading REST again, not resyncing the stream.");
                    } else {
                        a.resync.notify_one();
                    }
                }
                crate::rules::Action::CorrectDb => {
                    if let Some(report) = self.accounts[account].last_report.clone() {
                        self.plan_corrections(account, &report, now);
                    }
                }
                crate::rules::Action::ReduceToBot | crate::rules::Action::ClosePosition => {
                    if self.request_closes(account, &rules, &d, now) == Asked::Left {
                        continue;
                    }
                }
            }
            firings.insert(firing, true);
        }
        // A firing whose only action was a close left to one already made is
        // not journaled: its rule decides again when that close ends, and after
        // a restart it decides afresh instead of waiting out a cooldown it
        // never acted on.
        let fired: Vec<_> = fired
            .into_iter()
            .filter(|f| firings.get(&(f.rule.clone(), f.account.clone(), f.subject.clone())) != Some(&false))
            .collect();
        if !fired.is_empty() && self.fired.try_send(fired).is_err() {
            tracing::warn!("The rule-state writer is behind; a firing was not journaled.");
        }
        self.resolve_alerts(now);
    }

    /// Pages the end of every alerted problem whose condition stopped holding.
    fn resolve_alerts(&mut self, now: Timestamp) {
        for c in self.engine.take_cleared() {
            tracing::info!(rule = %c.rule, account = %c.account, subject = %c.subject, "Rule condition cleared.");
            let _ = self.pages.send(Page {
                summary: format!("{}: {} no longer meets the condition", c.rule, c.subject),
                detail: format!(
                    "{} on {}/{} is back within the rule at {}",
                    c.subject,
                    c.venue,
                    c.account,
                    now.to_utc_string()
                ),
                id: c.rule,
                severity: page_severity(c.severity),
                status: crate::notify::Status::Resolved,
                venue: c.venue,
                account: c.account,
                subject: c.subject,
                at: now,
            });
        }
    }

    fn refuse_close(&self, account: usize, symbol: &str, d: &crate::rules::Decision, why: String, now: Timestamp) {
        let a = &self.accounts[account];
        self.metrics
            .close_finished(a.cfg.link.venue.as_str(), &a.cfg.name, symbol, Status::Refused);
        tracing::error!(rule = %d.rule, account = %a.cfg.name, symbol, reason = %why, "Close refused by a guard.");
        let _ = self.pages.send(Page {
            status: crate::notify::Status::Firing,
            subject: symbol.to_owned(),
            id: d.rule.clone(),
            severity: crate::notify::Severity::Critical,
            venue: d.venue.clone(),
            account: d.account.clone(),
            summary: format!("{}: close of {symbol} refused: {why}", d.account),
            detail: d.reason.clone(),
            at: now,
        });
    }

    /// Turns a close decision into close requests, after the global guards:
    /// one in flight per (account, symbol), `max_per_hour`, `max_notional_usd`.
    fn request_closes(
        &mut self,
        account: usize,
        rules: &crate::rules::RuleSet,
        d: &crate::rules::Decision,
        now: Timestamp,
    ) -> Asked {
        use crate::plan::close::CloseTarget;
        let a = &self.accounts[account];
        let Some(report) = &a.last_report else {
            return Asked::Done;
        };
        // A group (net exposure) closes each leg's unexplained part.
        let group = rules.groups.get(&d.subject);
        // A leg whose close is in flight is that close's to finish (it pages
        // its own outcome): a rule asking again meanwhile (a frame ahead of
        // the close's verifying reads) is neither sent nor refused.
        // The leg a decision about one subject names (a group's are its members').
        let subject_leg: Option<PositionKey> = group
            .is_none()
            .then(|| d.subject.parse().unwrap_or_else(|e| match e {}));
        if let Some(leg) = subject_leg.as_ref().filter(|leg| self.leg_taken(account, leg, now)) {
            self.defer(account, leg, (&d.rule, &d.subject));
            return Asked::Left;
        }
        // Nothing is closed in an account whose exchange views disagree. A
        // rule that keeps asking is refused (and paged) on the failed-close
        // back-off, not at every evaluation.
        if let Some(b) = crate::plan::exchange_blocked(report) {
            let key = (account, d.subject.clone());
            if waiting(self.backing_off.get(&key).copied(), now) {
                return Asked::Done;
            }
            let r = Retry::after(self.backing_off.get(&key).copied(), now);
            self.backing_off.insert(key, r);
            // The rule decides again when the back-off ends, not after its cooldown.
            self.engine.retry_at(rules, &d.rule, &d.account, &d.subject, r.until);
            let why = format!("no close while {}", b.describe());
            self.refuse_close(account, &d.subject, d, why, now);
            return Asked::Done;
        }
        // The legs a decision closes: each open leg of a group's members
        // (each closes its unexplained part), or the leg its subject names.
        let keys: Vec<PositionKey> = match group {
            Some(members) => report
                .rows
                .iter()
                .filter(|r| members.contains(&r.key.symbol))
                .map(|r| r.key.clone())
                .collect(),
            None => subject_leg.into_iter().collect(),
        };
        let mut requests = Vec::new();
        let mut refused = Vec::new();
        for key in &keys {
            // An isolated leg is paged, not closed: closes act on the cross
            // (net) leg and on hedge legs. In a group, only when nothing
            // else of the symbol is open.
            if key.leg == Leg::Isolated {
                if group.is_none() || !keys.iter().any(|k| k.symbol == key.symbol && k.leg != Leg::Isolated) {
                    refused.push((
                        key.clone(),
                        "only an isolated leg is open: not closed automatically".to_owned(),
                    ));
                }
                continue;
            }
            let Some(row) = report.rows.iter().find(|r| r.key == *key) else {
                continue;
            };
            let Some(ex) = row.ws.believed() else {
                refused.push((key.clone(), "the exchange's size is unknown".to_owned()));
                continue;
            };
            let target = match d.action {
                crate::rules::Action::ClosePosition => CloseTarget::Flatten,
                _ => {
                    // What the bot explains must be known to trim to it.
                    let Some(db) = row.db.believed() else {
                        refused.push((
                            key.clone(),
                            "the bot's database is untrusted: what it explains is unknown".into(),
                        ));
                        continue;
                    };
                    CloseTarget::ReduceTo(if group.is_some() { db } else { d.keep.unwrap_or(db) })
                }
            };
            if let CloseTarget::ReduceTo(keep) = target {
                if ex.abs() <= keep.abs() {
                    continue;
                }
            }
            let notional = a.src.marks.get(&key.symbol).map(|m| ex.abs() * m);
            requests.push((key.clone(), target, notional));
        }
        // Whether every leg was left to a close already made.
        let (mut left, mut done) = (false, !refused.is_empty());
        for (key, why) in refused {
            self.refuse_close(account, &key.to_string(), d, why, now);
        }
        for (leg, target, notional) in requests {
            let sym = leg.to_string();
            if self.leg_taken(account, &leg, now) {
                self.defer(account, &leg, (&d.rule, &d.subject));
                left = true;
                continue;
            }
            done = true;
            if let Some(r) = self.backing_off.get(&(account, sym.clone())).filter(|r| r.waiting(now)) {
                tracing::debug!(rule = %d.rule, symbol = %sym, failures = r.failures, until = %r.until.to_utc_string(),
                    "Close withheld: the symbol's last close did not complete and its wait holds.");
                continue;
            }
            let hour_ago = Timestamp(now.0 - 3_600_000);
            let sent = {
                let a = &mut self.accounts[account];
                while a.closes_sent.front().is_some_and(|t| *t < hour_ago) {
                    a.closes_sent.pop_front();
                }
                a.closes_sent.len()
            };
            // A close in flight may still retry (new intents the core counts
            // when it finishes): its retries are reserved now, so closes
            // running side by side can never sum past the limit.
            let reserved = self.in_flight.iter().filter(|(acc, _)| *acc == account).count()
                * crate::actions::UNVERIFIED_RETRIES as usize;
            if sent + reserved >= self.guards.max_per_hour as usize {
                self.refuse_close(
                    account,
                    &sym,
                    d,
                    if reserved == 0 {
                        format!("{sent} closes in the last hour (max_per_hour)")
                    } else {
                        format!("{sent} closes in the last hour and {reserved} retries reserved by closes in flight (max_per_hour)")
                    },
                    now,
                );
                continue;
            }
            if let (Some(_), None) = (self.guards.max_notional_usd, notional) {
                // Unknown means refuse: the cap cannot be checked without a price.
                self.refuse_close(
                    account,
                    &sym,
                    d,
                    "mark price unknown: max_notional_usd cannot be checked".into(),
                    now,
                );
                continue;
            }
            if let (Some(max), Some(n)) = (self.guards.max_notional_usd, notional) {
                if n > max {
                    self.refuse_close(
                        account,
                        &sym,
                        d,
                        format!("notional {n} USD above max_notional_usd {max}"),
                        now,
                    );
                    continue;
                }
            }
            let lot = self.accounts[account]
                .src
                .lots
                .get(&leg.symbol)
                .copied()
                .unwrap_or(Decimal::ZERO);
            if lot.is_zero() {
                self.refuse_close(account, &sym, d, "lot size unknown (no market info yet)".into(), now);
                continue;
            }
            let req = actions::CloseRequest {
                account,
                key: leg.clone(),
                target,
                rule: d.rule.clone(),
                lot,
                retry: 0,
                cap: None,
                resumed: false,
            };
            match self.close_tx.try_send(req) {
                Ok(()) => {
                    self.in_flight.insert((account, leg));
                    self.accounts[account].closes_sent.push_back(now);
                }
                Err(e) => tracing::error!(error = %e, "The closes task is not taking requests."),
            }
        }
        if left && !done {
            Asked::Left
        } else {
            Asked::Done
        }
    }

    /// Whether the stream's view of `leg` still lags the fresh read that
    /// verified the leg's last close (`plan::settle`).
    fn lags_its_close(&self, account: usize, leg: &PositionKey, now: Timestamp) -> bool {
        let Some(s) = self.settling.get(&(account, leg.clone())) else {
            return false;
        };
        let src = &self.accounts[account].src;
        let stream = src.view.positions().get(leg).map_or(Decimal::ZERO, |p| p.size);
        s.lags(
            stream,
            src.view.changed_at(leg),
            src.lots.get(&leg.symbol).copied(),
            now,
        )
    }

    /// Legs whose stream has shown their verified close, or whose wait ran
    /// out, settle: the decisions left to them may be made again now.
    fn settle(&mut self, rules: &crate::rules::RuleSet, now: Timestamp) {
        let settled: Vec<(usize, PositionKey)> = self
            .settling
            .keys()
            .filter(|(account, leg)| !self.lags_its_close(*account, leg, now))
            .cloned()
            .collect();
        for key in settled {
            self.settling.remove(&key);
            if self.in_flight.contains(&key) {
                // A new close's to finish; it retries them when it ends.
                continue;
            }
            self.undefer(rules, &key, now);
        }
    }

    /// Whether a close decision about `leg` is left to a close already made:
    /// one in flight, or a verified one the stream has not shown yet.
    fn leg_taken(&self, account: usize, leg: &PositionKey, now: Timestamp) -> bool {
        self.in_flight.contains(&(account, leg.clone())) || self.lags_its_close(account, leg, now)
    }

    /// The decisions left to the close of `leg` may be made again from `at`.
    fn undefer(&mut self, rules: &crate::rules::RuleSet, leg: &(usize, PositionKey), at: Timestamp) {
        let account = &self.accounts[leg.0].cfg.name;
        for (rule, subject) in self.deferred.remove(leg).unwrap_or_default() {
            self.engine.retry_at(rules, &rule, account, &subject, at);
        }
    }

    /// Leaves a close decision of `rule` about `subject` to the close in
    /// flight on `leg` (its own, or one resumed after a failover), or to the
    /// verified close the stream has not shown yet: neither sent nor refused
    /// (that close pages its own outcome), and the rule may decide again when
    /// that close ends or the leg settles.
    fn defer(&mut self, account: usize, leg: &PositionKey, (rule, subject): (&str, &str)) {
        tracing::debug!(rule, symbol = %leg, "Close decision left to the close already made for this leg.");
        self.deferred
            .entry((account, leg.clone()))
            .or_default()
            .insert((rule.to_owned(), subject.to_owned()));
    }

    fn publish(&mut self, now: Timestamp) {
        let mut accounts = Vec::with_capacity(self.accounts.len());
        let mut published = Vec::with_capacity(self.accounts.len());
        for i in 0..self.accounts.len() {
            self.refresh(i, now, Touched::All);
            let Some(report) = self.accounts[i].last_report.clone() else {
                continue;
            };
            let report = Arc::new(report);
            let a = &self.accounts[i];
            published.push(crate::metrics::Published {
                venue: a.cfg.link.venue.as_str().to_owned(),
                account: a.cfg.name.clone(),
                report: report.clone(),
            });
            accounts.push(AccountSnapshot {
                name: a.cfg.name.clone(),
                venue: a.cfg.link.venue.as_str().to_owned(),
                report,
                corrections: a.last_corrections.clone(),
                closes: a.last_close.clone(),
                conditions: self.engine.conditions(&self.rules.borrow(), &a.cfg.name, now),
                unmapped: a.src.db.last().map(|(d, _)| d.unmapped.clone()).unwrap_or_default(),
            });
            if let Some(last) = accounts.last() {
                self.metrics
                    .db_unmapped_rows
                    .with_label_values(&[&last.venue, &last.name])
                    .set(last.unmapped.len() as f64);
            }
        }
        self.metrics.publish(published);
        self.metrics.reconciled(now);
        let acting = match self.leadership.acting() {
            Some(None) => crate::snapshot::Acting::Alone,
            Some(Some(epoch)) => crate::snapshot::Acting::Leader { epoch },
            None => crate::snapshot::Acting::Standby,
        };
        let snap = Arc::new(Snapshot {
            at: now,
            acting,
            accounts,
        });
        self.http.set_snapshot(snap.clone());
        self.http.ready.store(true, Ordering::Relaxed);
        let _ = self.snapshots.send(snap);
    }
}
