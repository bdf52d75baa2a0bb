//! Starts and supervises driftwatch's tasks, and owns the core loop.
//!
//! Tasks, each named (a task that dies stops the process with its name):
//! - `stream/<account>`: the venue's WebSocket, reporting [`StreamEvent`]s;
//! - `rest/<account>`: REST position polls (on a timer, and on demand after
//!   a reconnect or a liquidation);
//! - `markets/<account>`: lot and tick sizes, refreshed;
//! - `db`: reads of the bot's database, for every account's mapping;
//! - `core`: the only owner of the views; applies inputs, reconciles,
//!   publishes metrics and the table;
//! - `http`: `/metrics`, `/healthz`, `/readyz`, `/`.
//!
//! The core reads the clock once per input and hands `now` to pure code.

use std::collections::{BTreeMap, BTreeSet};
use std::net::SocketAddr;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{anyhow, Context};
use rust_decimal::Decimal;
use tokio::sync::{mpsc, watch, Notify};
use tokio::task::JoinSet;

use crate::actions::{self, CorrectionRequest, CycleReport};
use crate::botdb::{BotDb, DbError};
use crate::clock;
use crate::config::{AccountConfig, Config};
use crate::domain::{DbSnapshot, Timestamp};
use crate::http::{self, HttpState};
use crate::metrics::{AccountLabels, Metrics};
use crate::notify::Page;
use crate::plan::{self, CorrectionPolicy, Mode, SourceTimes};
use crate::reconcile::{AccountInputs, AccountReport, Policy, Polled, Reconciler};
use crate::venue::pacifica;
use crate::venue::{MarketInfo, RestError, RestSnapshot, StreamEvent, StreamStyle};
use crate::view::{Applied, StreamView, Verification};

/// What the tasks send the core.
#[derive(Debug)]
pub enum Input {
    Stream {
        account: usize,
        event: StreamEvent,
    },
    Rest {
        account: usize,
        result: Result<RestSnapshot, RestError>,
    },
    Markets {
        account: usize,
        result: Result<Vec<MarketInfo>, RestError>,
    },
    Db {
        account: usize,
        result: Result<DbSnapshot, DbError>,
    },
}

/// The reconciled state of every account at one moment.
#[derive(Debug, Clone)]
pub struct Snapshot {
    pub at: Timestamp,
    pub accounts: Vec<AccountSnapshot>,
}

#[derive(Debug, Clone)]
pub struct AccountSnapshot {
    pub name: String,
    pub venue: String,
    pub report: AccountReport,
    /// The last correction cycle's summary, if any.
    pub corrections: Option<String>,
}

impl Snapshot {
    /// Every source of every account is trusted.
    pub fn all_sources_trusted(&self) -> bool {
        self.accounts.iter().all(|a| a.report.sources.iter().all(|s| s.trusted))
    }
}

/// How to start.
pub struct Options {
    /// Serve HTTP on this address (`None`: no HTTP, as for `snapshot`).
    pub http: Option<SocketAddr>,
}

/// A running driftwatch.
pub struct Running {
    pub snapshots: watch::Receiver<Arc<Snapshot>>,
    pub http_addr: Option<SocketAddr>,
    pub metrics: Arc<Metrics>,
    /// Pages as they happen (subscribe to hear them).
    pub pages: tokio::sync::broadcast::Sender<Page>,
    shutdown: watch::Sender<bool>,
    tasks: JoinSet<(String, anyhow::Result<()>)>,
}

struct AccountState {
    cfg: AccountConfig,
    policy: Policy,
    view: StreamView,
    rest: Polled<RestSnapshot>,
    db: Polled<DbSnapshot>,
    lots: BTreeMap<String, Decimal>,
    exported: BTreeSet<String>,
    poll_now: Arc<Notify>,
    correct: CorrectionPolicy,
    /// A correction cycle is with the corrections task.
    correcting: bool,
    /// When the last cycle finished: the next plan needs a DB read after it.
    corrected_at: Option<Timestamp>,
    last_corrections: Option<String>,
    /// The last dry-run or refused plan sent: an identical one is not sent
    /// again (no repeated journal entries, counts or pages for one situation).
    last_unapplied: Option<Vec<String>>,
}

/// Installs the TLS crypto provider (ring) once per process.
pub fn install_crypto() {
    let _ = rustls::crypto::ring::default_provider().install_default();
}

/// Starts every task. Fails only on what the operator must fix (an address
/// already in use, an unusable database URL); outages are handled inside.
pub async fn start(config: Config, options: Options) -> anyhow::Result<Running> {
    install_crypto();
    let labels: Vec<AccountLabels<'_>> = config
        .accounts
        .iter()
        .map(|a| AccountLabels {
            venue: a.venue.as_str(),
            account: &a.name,
        })
        .collect();
    let metrics = Arc::new(Metrics::new(&labels));
    let (shutdown_tx, shutdown_rx) = watch::channel(false);
    let (tx, rx) = mpsc::channel::<Input>(4096);
    let mut tasks: JoinSet<(String, anyhow::Result<()>)> = JoinSet::new();

    let db = BotDb::connect_lazy(
        config.bot_db.url.expose(),
        config.bot_db.max_connections,
        config.bot_db.timeout,
    )
    .map_err(|e| anyhow!("bot database: {e}"))?;

    let mut accounts = Vec::new();
    for (i, acc) in config.accounts.iter().enumerate() {
        let poll_now = Arc::new(Notify::new());
        let rest = pacifica::http::RestClient::new(
            &acc.rest_url,
            &acc.address,
            acc.api_key.clone(),
            acc.stream.rest_timeout,
        )
        .map_err(|e| anyhow!("account {}: {e}", acc.name))?;
        // stream/<account>
        {
            let tx = tx.clone();
            let params = pacifica::ws::StreamParams {
                url: acc.ws_url.clone(),
                account: acc.address.clone(),
                api_key: acc.api_key.clone(),
                timing: acc.stream.clone(),
            };
            let shutdown = shutdown_rx.clone();
            tasks.spawn(named(format!("stream/{}", acc.name), async move {
                pacifica::ws::run(
                    params,
                    |event| {
                        let tx = tx.clone();
                        async move { tx.send(Input::Stream { account: i, event }).await.is_ok() }
                    },
                    shutdown,
                )
                .await;
                Ok(())
            }));
        }
        // rest/<account>
        tasks.spawn(named(
            format!("rest/{}", acc.name),
            rest_poller(
                i,
                rest.clone(),
                config.intervals.rest_poll,
                poll_now.clone(),
                tx.clone(),
                metrics.clone(),
                acc.venue.as_str(),
                shutdown_rx.clone(),
            ),
        ));
        // markets/<account>
        tasks.spawn(named(
            format!("markets/{}", acc.name),
            markets_poller(
                i,
                rest,
                config.intervals.markets_refresh,
                tx.clone(),
                shutdown_rx.clone(),
            ),
        ));
        accounts.push(AccountState {
            cfg: acc.clone(),
            policy: config.policy_for(acc),
            view: StreamView::new(StreamStyle::FullSnapshots),
            rest: Polled::default(),
            db: Polled::default(),
            lots: BTreeMap::new(),
            exported: BTreeSet::new(),
            poll_now,
            correct: acc.correct.clone(),
            correcting: false,
            corrected_at: None,
            last_corrections: None,
            last_unapplied: None,
        });
    }

    let db_poll_now = Arc::new(Notify::new());
    tasks.spawn(named(
        "db".to_owned(),
        db_poller(
            db.clone(),
            config.clone(),
            tx.clone(),
            metrics.clone(),
            db_poll_now.clone(),
            shutdown_rx.clone(),
        ),
    ));
    drop(tx);

    // corrections: the only writer to the bot's database.
    let (pages, _) = tokio::sync::broadcast::channel::<Page>(256);
    let (correct_tx, correct_rx) = mpsc::channel::<CorrectionRequest>(16);
    let (done_tx, done_rx) = mpsc::channel::<CycleReport>(16);
    let targets = config
        .accounts
        .iter()
        .map(|a| actions::AccountTarget {
            venue: a.venue.as_str().to_owned(),
            account: a.name.clone(),
            mapping: a.mapping.clone(),
            archive: a.archive_table.clone(),
            mode: a.correct.mode,
        })
        .collect();
    tasks.spawn(named(
        "corrections".to_owned(),
        actions::run_corrections(
            actions::Corrections {
                db: db.clone(),
                journal_url: config.journal_url.expose().to_owned(),
                accounts: targets,
                metrics: metrics.clone(),
                pages: pages.clone(),
            },
            correct_rx,
            done_tx,
            shutdown_rx.clone(),
        ),
    ));
    // pager: every page is logged; email and Alertmanager listen here too.
    {
        let mut rx = pages.subscribe();
        let mut shutdown = shutdown_rx.clone();
        tasks.spawn(named("pager".to_owned(), async move {
            loop {
                tokio::select! {
                    biased;
                    _ = shutdown.changed() => return Ok(()),
                    page = rx.recv() => match page {
                        Ok(p) => tracing::error!(page = p.id, severity = ?p.severity, venue = %p.venue,
                            account = %p.account, summary = %p.summary, detail = %p.detail, "Page."),
                        Err(tokio::sync::broadcast::error::RecvError::Lagged(n)) => {
                            tracing::error!(missed = n, "Pages were dropped.")
                        }
                        Err(tokio::sync::broadcast::error::RecvError::Closed) => return Ok(()),
                    },
                }
            }
        }));
    }

    let http_state = HttpState::new(metrics.clone());
    let mut http_addr = None;
    if let Some(addr) = options.http {
        let (listener, local) = http::bind(addr).await.with_context(|| format!("binding {addr}"))?;
        http_addr = Some(local);
        tasks.spawn(named(
            "http".to_owned(),
            http::serve(listener, http_state.clone(), shutdown_rx.clone()),
        ));
        tracing::info!(address = %local, "Serving /metrics, /healthz, /readyz and /.");
    }

    let empty = Arc::new(Snapshot {
        at: clock::now(),
        accounts: Vec::new(),
    });
    let (snap_tx, snap_rx) = watch::channel(empty);
    let core = Core {
        accounts,
        reconciler: Reconciler::new(),
        metrics: metrics.clone(),
        http: http_state,
        snapshots: snap_tx,
        tick: config.intervals.reconcile,
        correct_tx,
        db_poll_now,
    };
    tasks.spawn(named("core".to_owned(), core.run(rx, done_rx, shutdown_rx.clone())));

    Ok(Running {
        snapshots: snap_rx,
        http_addr,
        metrics,
        pages,
        shutdown: shutdown_tx,
        tasks,
    })
}

async fn named(
    name: String,
    fut: impl std::future::Future<Output = anyhow::Result<()>>,
) -> (String, anyhow::Result<()>) {
    (name, fut.await)
}

impl Running {
    /// Waits until a task stops on its own (an error: driftwatch must not
    /// silently stop watching) or `stop` resolves, then shuts everything down
    /// within `grace`.
    pub async fn supervise(
        mut self,
        stop: impl std::future::Future<Output = ()>,
        grace: Duration,
    ) -> anyhow::Result<()> {
        tokio::pin!(stop);
        let outcome = tokio::select! {
            _ = &mut stop => Ok(()),
            joined = self.tasks.join_next() => Err(match joined {
                Some(Ok((name, Ok(())))) => anyhow!("task {name} stopped unexpectedly"),
                Some(Ok((name, Err(e)))) => anyhow!("task {name} failed: {e:#}"),
                Some(Err(e)) if e.is_panic() => anyhow!("a task panicked: {e}"),
                Some(Err(e)) => anyhow!("a task was cancelled: {e}"),
                None => anyhow!("no tasks are running"),
            }),
        };
        self.shutdown_within(grace).await;
        outcome
    }

    /// Asks every task to stop and waits up to `grace` for them.
    pub async fn shutdown_within(mut self, grace: Duration) {
        let _ = self.shutdown.send(true);
        let drained = tokio::time::timeout(grace, async { while self.tasks.join_next().await.is_some() {} }).await;
        if drained.is_err() {
            tracing::warn!(
                grace_ms = grace.as_millis() as u64,
                "Tasks did not stop within the grace period; aborting them."
            );
            self.tasks.abort_all();
        }
    }
}

#[allow(clippy::too_many_arguments)]
async fn rest_poller(
    account: usize,
    client: pacifica::http::RestClient,
    every: Duration,
    poll_now: Arc<Notify>,
    tx: mpsc::Sender<Input>,
    metrics: Arc<Metrics>,
    venue: &'static str,
    mut shutdown: watch::Receiver<bool>,
) -> anyhow::Result<()> {
    // However often a poll is asked for (reconnects, liquidations), polls
    // stay at least MIN_GAP apart, and a 429's back-off is always honoured.
    const MIN_GAP: Duration = Duration::from_secs(1);
    let mut next_at = tokio::time::Instant::now();
    let mut not_before = next_at;
    loop {
        tokio::select! {
            biased;
            _ = shutdown.changed() => return Ok(()),
            _ = tokio::time::sleep_until(next_at) => {}
            _ = poll_now.notified() => {}
        }
        tokio::select! {
            biased;
            _ = shutdown.changed() => return Ok(()),
            _ = tokio::time::sleep_until(not_before) => {}
        }
        let started = tokio::time::Instant::now();
        let result = client.positions().await;
        metrics
            .rest_request_duration_seconds
            .with_label_values(&[venue, "positions"])
            .observe(started.elapsed().as_secs_f64());
        let now = tokio::time::Instant::now();
        next_at = now + every;
        not_before = now + MIN_GAP.min(every);
        if let Err(RestError::RateLimited { retry_after }) = &result {
            not_before = now + *retry_after;
            next_at = next_at.max(not_before);
        }
        if let Err(e) = &result {
            metrics.rest_errors_total.with_label_values(&[venue, e.kind()]).inc();
        }
        if tx.send(Input::Rest { account, result }).await.is_err() {
            return Ok(());
        }
    }
}

async fn markets_poller(
    account: usize,
    client: pacifica::http::RestClient,
    every: Duration,
    tx: mpsc::Sender<Input>,
    mut shutdown: watch::Receiver<bool>,
) -> anyhow::Result<()> {
    loop {
        let result = client.markets().await;
        let wait = if result.is_ok() {
            every
        } else {
            Duration::from_secs(10).min(every)
        };
        if tx.send(Input::Markets { account, result }).await.is_err() {
            return Ok(());
        }
        tokio::select! {
            biased;
            _ = shutdown.changed() => return Ok(()),
            _ = tokio::time::sleep(wait) => {}
        }
    }
}

async fn db_poller(
    db: BotDb,
    config: Config,
    tx: mpsc::Sender<Input>,
    metrics: Arc<Metrics>,
    poll_now: Arc<Notify>,
    mut shutdown: watch::Receiver<bool>,
) -> anyhow::Result<()> {
    loop {
        for (account, acc) in config.accounts.iter().enumerate() {
            let started = tokio::time::Instant::now();
            let result = db.read(&acc.mapping, config.bot_db.timeout).await;
            metrics
                .db_poll_duration_seconds
                .observe(started.elapsed().as_secs_f64());
            if result.is_err() {
                metrics.db_errors_total.inc();
            }
            if tx.send(Input::Db { account, result }).await.is_err() {
                db.close().await;
                return Ok(());
            }
        }
        tokio::select! {
            biased;
            _ = shutdown.changed() => {
                db.close().await;
                return Ok(());
            }
            _ = tokio::time::sleep(config.intervals.db_poll) => {}
            _ = poll_now.notified() => {}
        }
    }
}

struct Core {
    accounts: Vec<AccountState>,
    reconciler: Reconciler,
    metrics: Arc<Metrics>,
    http: Arc<HttpState>,
    snapshots: watch::Sender<Arc<Snapshot>>,
    tick: Duration,
    correct_tx: mpsc::Sender<CorrectionRequest>,
    db_poll_now: Arc<Notify>,
}

impl Core {
    async fn run(
        mut self,
        mut rx: mpsc::Receiver<Input>,
        mut done: mpsc::Receiver<CycleReport>,
        mut shutdown: watch::Receiver<bool>,
    ) -> anyhow::Result<()> {
        let mut tick = tokio::time::interval(self.tick);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                biased;
                _ = shutdown.changed() => return Ok(()),
                input = rx.recv() => match input {
                    Some(input) => {
                        let now = clock::now();
                        let db_read = matches!(input, Input::Db { result: Ok(_), .. });
                        let account = self.apply(input, now);
                        let report = self.reconcile_one(account, now);
                        if db_read {
                            self.plan_corrections(account, &report, now);
                        }
                    }
                    None => return Ok(()),
                },
                Some(cycle) = done.recv() => {
                    let now = clock::now();
                    let a = &mut self.accounts[cycle.account];
                    a.correcting = false;
                    a.corrected_at = Some(now);
                    a.last_corrections = Some(format!("{} (correlation id {})", cycle.summary, cycle.correlation_id));
                    // Read the table again at once, so the view reflects the change.
                    self.db_poll_now.notify_one();
                }
                _ = tick.tick() => {
                    let now = clock::now();
                    self.publish(now);
                }
            }
        }
    }

    /// Applies one input; returns the account it concerned.
    fn apply(&mut self, input: Input, now: Timestamp) -> usize {
        let m = &self.metrics;
        match input {
            Input::Stream { account, event } => {
                let a = &mut self.accounts[account];
                let (venue, name) = (a.cfg.venue.as_str(), a.cfg.name.as_str());
                let was_down = a.view.link() == crate::view::Link::Down;
                let applied = a.view.apply(&event, now);
                match &event {
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
                        tracing::warn!(account = %name, symbols = ?symbols, cause = %cause, "Position changed without the bot; verifying by REST.");
                        a.poll_now.notify_one();
                    }
                    _ => {}
                }
                if !matches!(event, StreamEvent::Connected | StreamEvent::Disconnected { .. }) {
                    m.ws_last_event_timestamp_seconds
                        .with_label_values(&[venue, name])
                        .set(now.as_secs_f64());
                }
                match applied {
                    Applied::Replaced | Applied::Updated => {
                        m.ws_frames_total.with_label_values(&[venue, name, "applied"]).inc();
                        if a.view.trust(now, a.policy.stream_silence_after).is_err() {
                            a.poll_now.notify_one();
                        }
                    }
                    Applied::DroppedOutOfOrder => {
                        m.ws_frames_total
                            .with_label_values(&[venue, name, "out_of_order"])
                            .inc();
                        tracing::debug!(account = %name, "Dropped a position frame older than the last applied.");
                    }
                    _ => {}
                }
                account
            }
            Input::Rest { account, result } => {
                let a = &mut self.accounts[account];
                match result {
                    Ok(snap) => {
                        let lots = &a.lots;
                        let v = a.view.verify_with_rest(&snap, |s| lots.get(s).copied());
                        if v == Verification::Agreed && a.rest.usable(now, a.policy.rest_stale_after).is_err() {
                            tracing::info!(account = %a.cfg.name, "REST read succeeded and agrees with the stream.");
                        }
                        a.rest.succeeded(snap, now);
                    }
                    Err(e) => {
                        if a.rest.usable(now, a.policy.rest_stale_after).is_ok() {
                            tracing::warn!(account = %a.cfg.name, error = %e, "REST read failed; REST is untrusted until it succeeds.");
                        }
                        a.rest.failed(e.to_string(), now);
                    }
                }
                account
            }
            Input::Markets { account, result } => {
                let a = &mut self.accounts[account];
                match result {
                    Ok(markets) => {
                        a.lots = markets.into_iter().map(|m| (m.symbol, m.lot_size)).collect();
                    }
                    Err(e) => {
                        tracing::warn!(account = %a.cfg.name, error = %e, "Market info refresh failed; keeping the last lot sizes.")
                    }
                }
                account
            }
            Input::Db { account, result } => {
                let a = &mut self.accounts[account];
                match result {
                    Ok(snap) => {
                        if a.db.usable(now, a.policy.db_stale_after).is_err() && a.db.last().is_some() {
                            tracing::info!(account = %a.cfg.name, "Bot database readable again.");
                        }
                        a.db.succeeded(snap, now);
                    }
                    Err(e) => {
                        if a.db.usable(now, a.policy.db_stale_after).is_ok() || a.db.last().is_none() {
                            tracing::error!(account = %a.cfg.name, error = %e, "Bot database read failed; the database is untrusted until it succeeds.");
                        }
                        a.db.failed(e.to_string(), now);
                    }
                }
                account
            }
        }
    }

    /// Plans a correction cycle after a DB read, when none is in flight and
    /// the read is newer than the last cycle.
    fn plan_corrections(&mut self, account: usize, report: &AccountReport, now: Timestamp) {
        let a = &mut self.accounts[account];
        if a.correct.mode == Mode::Off || a.correcting {
            return;
        }
        if a.corrected_at.is_some() && a.db.read_at() <= a.corrected_at {
            return;
        }
        let Ok(db) = a.db.usable(now, a.policy.db_stale_after) else {
            return;
        };
        let times = SourceTimes {
            ws: a.view.last_frame_at(),
            rest: a.rest.read_at(),
            db: a.db.read_at(),
        };
        let plan = plan::corrections(report, db, a.view.positions(), times, &a.correct, now);
        for (key, skip) in &plan.skipped {
            tracing::debug!(account = %a.cfg.name, symbol = %key, skip = ?skip, "Correction not yet due.");
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
        match self.correct_tx.try_send(CorrectionRequest { account, plan }) {
            Ok(()) => a.correcting = true,
            Err(e) => tracing::warn!(account = %a.cfg.name, error = %e, "Correction task busy; will plan again."),
        }
    }

    fn reconcile_one(&mut self, account: usize, now: Timestamp) -> AccountReport {
        let a = &mut self.accounts[account];
        let report = self.reconciler.reconcile(
            account,
            &AccountInputs {
                view: &a.view,
                rest: &a.rest,
                db: &a.db,
                lot_sizes: &a.lots,
            },
            &a.policy,
            now,
        );
        self.metrics
            .publish(a.cfg.venue.as_str(), &a.cfg.name, &report, &mut a.exported);
        report
    }

    fn publish(&mut self, now: Timestamp) {
        let mut accounts = Vec::with_capacity(self.accounts.len());
        for i in 0..self.accounts.len() {
            let report = self.reconcile_one(i, now);
            accounts.push(AccountSnapshot {
                name: self.accounts[i].cfg.name.clone(),
                venue: self.accounts[i].cfg.venue.as_str().to_owned(),
                report,
                corrections: self.accounts[i].last_corrections.clone(),
            });
        }
        self.metrics.reconciled(now);
        let snap = Snapshot { at: now, accounts };
        self.http.set_table(crate::table::render(&snap, now));
        self.http.ready.store(true, Ordering::Relaxed);
        let _ = self.snapshots.send(Arc::new(snap));
    }
}
