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
use crate::domain::{DbSnapshot, Leg, PositionKey, Symbol, Timestamp};
use crate::http::{self, HttpState};
use crate::journal::Status;
use crate::metrics::{AccountLabels, Channel, FrameOutcome, Metrics, PageResult};
use crate::notify::Page;
use crate::plan::retry::{waiting, Retry};
use crate::plan::{self, CorrectionPolicy, Mode, SourceTimes};
use crate::reconcile::{AccountReport, Policy, Reconciler, Touched};
use crate::replay::{AccountSources, Burst, Effect, Observation, Observed};
use crate::venue::types::{MarketInfo, RestError, RestSnapshot, StreamEvent};
use crate::view::{Applied, Verification};

/// What the tasks send the core.
#[derive(Debug)]
pub enum Input {
    Stream {
        account: usize,
        event: StreamEvent,
    },
    /// A REST positions request is about to be sent.
    RestRequested {
        account: usize,
    },
    Rest {
        account: usize,
        result: Result<RestSnapshot, RestError>,
    },
    /// A second endpoint's reading of the symbols whose baseline was refused.
    Corroborated {
        account: usize,
        result: Result<Vec<crate::domain::Position>, RestError>,
    },
    Markets {
        account: usize,
        result: Result<Vec<MarketInfo>, RestError>,
    },
    Db {
        account: usize,
        result: Result<DbSnapshot, DbError>,
    },
    Prices {
        account: usize,
        result: Result<BTreeMap<String, Decimal>, RestError>,
    },
}

impl Input {
    /// The account and what it observed, as recordings hold it.
    fn observed(self) -> (usize, Observed) {
        let err = |e: &dyn std::fmt::Display| e.to_string();
        match self {
            Input::Stream { account, event } => (account, Observed::Stream(event)),
            Input::RestRequested { account } => (account, Observed::RestRequested),
            Input::Rest { account, result } => (account, Observed::Rest(result.map_err(|e| err(&e)))),
            Input::Corroborated { account, result } => (account, Observed::Corroborated(result.map_err(|e| err(&e)))),
            Input::Markets { account, result } => (account, Observed::Markets(result.map_err(|e| err(&e)))),
            Input::Prices { account, result } => (account, Observed::Prices(result.map_err(|e| err(&e)))),
            Input::Db { account, result } => (account, Observed::Db(result.map_err(|e| err(&e)))),
        }
    }
}

/// Rules say info, warning or critical; a page is critical or a warning.
fn page_severity(s: crate::rules::Severity) -> crate::notify::Severity {
    match s {
        crate::rules::Severity::Critical => crate::notify::Severity::Critical,
        _ => crate::notify::Severity::Warning,
    }
}

pub use crate::snapshot::{AccountSnapshot, Snapshot};

/// How to start.
pub struct Options {
    /// Serve HTTP on this address (`None`: no HTTP, as for `snapshot`).
    pub http: Option<SocketAddr>,
    /// Record every observation the core receives (`run --record`).
    pub record: Option<crate::record::RecordConfig>,
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
    /// Closed once the tasks are done with it.
    journal: crate::journal::Shared,
}

struct AccountState {
    cfg: AccountConfig,
    policy: Policy,
    /// The account's sources; changed only through `AccountSources::observe`.
    src: AccountSources,
    poll_now: Arc<Notify>,
    /// The symbols whose REST baseline the view refused: each REST poll
    /// also reads them from a second endpoint until the conflict settles.
    corroborate: watch::Sender<Vec<String>>,
    correct: CorrectionPolicy,
    /// A correction cycle is with the corrections task.
    correcting: bool,
    /// When the last cycle finished: the next plan needs a DB read after it.
    corrected_at: Option<Timestamp>,
    /// After a failed cycle: no new cycle before its end.
    correction_retry: Option<Retry>,
    /// After a resubscribe for a missing baseline: no new one before its end.
    stream_retry: Option<Retry>,
    last_corrections: Option<String>,
    /// The last dry-run or refused plan sent: an identical one is not sent
    /// again (no repeated journal entries, counts or pages for one situation).
    last_unapplied: Option<Vec<String>>,
    last_close: Option<String>,
    last_report: Option<AccountReport>,
    resync: Arc<Notify>,
    /// When closes were sent, for the per-hour guard.
    closes_sent: std::collections::VecDeque<Timestamp>,
    /// `--record`: a frame of this account's was not recorded (the recorder
    /// was behind), so the next applied frame is recorded whole.
    frame_unrecorded: bool,
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
            venue: a.link.venue.as_str(),
            account: &a.name,
        })
        .collect();
    let metrics = Arc::new(Metrics::new(&labels));
    let (shutdown_tx, shutdown_rx) = watch::channel(false);
    let (tx, rx) = mpsc::channel::<Input>(4096);
    let mut tasks: JoinSet<(String, anyhow::Result<()>)> = JoinSet::new();
    // With `leadership:`, only the leader acts; every replica watches.
    let leadership = match &config.leadership {
        None => crate::leader::Leadership::solo(),
        Some(l) => {
            let m = metrics.clone();
            let (handle, task) = crate::leader::start(l.clone(), move |epoch| m.leadership(epoch), shutdown_rx.clone());
            metrics.leadership(None);
            tasks.spawn(named("leadership".to_owned(), task));
            handle
        }
    };

    let db = match &config.bot_db {
        Some(cfg) => Some(
            BotDb::connect_lazy(cfg.url.expose(), cfg.max_connections, cfg.timeout)
                .map_err(|e| anyhow!("bot database: {e}"))?,
        ),
        None => None,
    };

    let mut accounts = Vec::new();
    let mut close_accounts = Vec::new();
    for (i, acc) in config.accounts.iter().enumerate() {
        let poll_now = Arc::new(Notify::new());
        let (corroborate, corroborate_rx) = watch::channel(Vec::new());
        let rest =
            crate::venue::registry::Rest::for_account(&acc.link).map_err(|e| anyhow!("account {}: {e}", acc.name))?;
        let resync = Arc::new(Notify::new());
        // stream/<account>
        {
            let tx = tx.clone();
            let (name, link, rest, resync) = (acc.name.clone(), acc.link.clone(), rest.clone(), resync.clone());
            let shutdown = shutdown_rx.clone();
            // The stream's own lines (Stream lost, ...) carry the account's configured name.
            let span = tracing::info_span!("stream", account = %name);
            tasks.spawn(named(format!("stream/{name}"), async move {
                tracing::Instrument::instrument(
                    crate::venue::registry::run_stream(
                        &link,
                        &rest,
                        resync,
                        |event| {
                            let tx = tx.clone();
                            async move { tx.send(Input::Stream { account: i, event }).await.is_ok() }
                        },
                        shutdown,
                    ),
                    span,
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
                corroborate_rx,
                tx.clone(),
                metrics.clone(),
                acc.link.venue.as_str(),
                acc.name.clone(),
                shutdown_rx.clone(),
            ),
        ));
        // markets/<account>
        tasks.spawn(named(
            format!("markets/{}", acc.name),
            markets_poller(
                i,
                rest.clone(),
                config.intervals.markets_refresh,
                config.intervals.rest_poll,
                tx.clone(),
                shutdown_rx.clone(),
            ),
        ));
        accounts.push(AccountState {
            cfg: acc.clone(),
            policy: config.policy_for(acc),
            src: AccountSources::new(crate::venue::registry::stream_style(acc.link.venue)),
            poll_now,
            corroborate,
            correct: acc.correct.clone(),
            correcting: false,
            corrected_at: None,
            correction_retry: None,
            stream_retry: None,
            last_corrections: None,
            last_unapplied: None,
            last_close: None,
            last_report: None,
            resync,
            closes_sent: std::collections::VecDeque::new(),
            frame_unrecorded: false,
        });
        let close = match &acc.close {
            Some(c) => {
                let keys = crate::venue::registry::CloseKeys::load(&acc.link, &c.key)
                    .map_err(|e| anyhow::anyhow!("accounts.{}.close: {e}", acc.name))?;
                Some((c.clone(), keys))
            }
            None => None,
        };
        close_accounts.push(actions::CloseAccount {
            venue: acc.link.venue.as_str().to_owned(),
            account: acc.name.clone(),
            rest,
            address: acc.link.address.clone(),
            close,
        });
    }

    let (pages, _) = tokio::sync::broadcast::channel::<Page>(256);
    let db_poll_now = Arc::new(Notify::new());
    tasks.spawn(named(
        "db".to_owned(),
        db_poller(
            db.clone(),
            config.clone(),
            tx.clone(),
            metrics.clone(),
            pages.clone(),
            db_poll_now.clone(),
            shutdown_rx.clone(),
        ),
    ));
    drop(tx);

    // The one journal every task writes to and reads from.
    let journal = crate::journal::Shared::new(config.journal_url.expose());
    // corrections: the only writer to the bot's database.
    let (correct_tx, correct_rx) = mpsc::channel::<CorrectionRequest>(16);
    let (done_tx, done_rx) = mpsc::channel::<CycleReport>(16);
    let targets = config
        .accounts
        .iter()
        .map(|a| actions::AccountTarget {
            venue: a.link.venue.as_str().to_owned(),
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
                leadership: leadership.clone(),
                db: db.clone(),
                journal: journal.clone(),
                accounts: targets,
                metrics: metrics.clone(),
                pages: pages.clone(),
            },
            correct_rx,
            done_tx,
            shutdown_rx.clone(),
        ),
    ));
    // pager: every page is logged; with notify.email, the pager decides
    // what is mailed and the mailer delivers it off this path.
    {
        let mut rx = pages.subscribe();
        let mut shutdown = shutdown_rx.clone();
        let mut email = None;
        if let Some(cfg) = config.email.clone() {
            let (mail_tx, mail_rx) = mpsc::channel::<crate::notify::Mail>(cfg.queue);
            let pager = crate::notify::Pager::new(cfg.policy);
            let mailer = crate::notify::email::Mailer::new(cfg)?;
            metrics.email_enabled();
            tasks.spawn(named(
                "mailer".to_owned(),
                mailer.run(mail_rx, metrics.clone(), shutdown_rx.clone()),
            ));
            email = Some((pager, mail_tx));
        }
        let metrics = metrics.clone();
        tasks.spawn(named("pager".to_owned(), async move {
            loop {
                let page = tokio::select! {
                    biased;
                    _ = shutdown.changed() => return Ok(()),
                    page = rx.recv() => match page {
                        Ok(p) => p,
                        Err(tokio::sync::broadcast::error::RecvError::Lagged(n)) => {
                            tracing::error!(missed = n, "Pages were dropped.");
                            continue;
                        }
                        Err(tokio::sync::broadcast::error::RecvError::Closed) => return Ok(()),
                    },
                };
                match page.status {
                    crate::notify::Status::Firing => {
                        tracing::error!(page = %page.id, severity = page.severity.as_str(),
                        venue = %page.venue, account = %page.account, subject = %page.subject,
                        summary = %page.summary, detail = %page.detail, "Page.")
                    }
                    crate::notify::Status::Resolved => tracing::info!(page = %page.id, venue = %page.venue,
                        account = %page.account, subject = %page.subject, summary = %page.summary, "Page resolved."),
                }
                metrics.paged(Channel::Log, PageResult::Sent);
                let Some((pager, mail_tx)) = email.as_mut() else {
                    continue;
                };
                let result = match pager.offer(&page, clock::now()) {
                    crate::notify::Verdict::Send(mail) => match mail_tx.try_send(mail) {
                        // Counted as sent or failed by the mailer.
                        Ok(()) => None,
                        Err(_) => Some(PageResult::Dropped),
                    },
                    crate::notify::Verdict::Deduplicated => Some(PageResult::Deduplicated),
                    crate::notify::Verdict::RateLimited => Some(PageResult::RateLimited),
                };
                if let Some(result) = result {
                    metrics.paged(Channel::Email, result);
                    if result == PageResult::Dropped {
                        tracing::error!(page = %page.id, "The mail queue is full: page not mailed.");
                    }
                }
            }
        }));
    }

    // closes: reduce-only emergency closes, one per (account, symbol) at a time.
    let (close_tx, close_rx) = mpsc::channel::<actions::CloseRequest>(64);
    let (close_done_tx, close_done_rx) = mpsc::channel::<actions::CloseDone>(64);
    tasks.spawn(named(
        "closes".to_owned(),
        actions::run_closes(
            actions::Closes {
                leadership: leadership.clone(),
                journal: journal.clone(),
                accounts: close_accounts,
                metrics: metrics.clone(),
                pages: pages.clone(),
            },
            close_rx,
            close_done_tx,
            shutdown_rx.clone(),
        ),
    ));
    // rules: reloaded on SIGHUP and when a file changes; a bad file keeps the old rules.
    let ids: Vec<String> = config.rules.rules.iter().map(|r| r.id.clone()).collect();
    metrics.rules_loaded(&ids);
    let (rules_tx, rules_rx) = watch::channel(Arc::new(config.rules.clone()));
    if let Some(dir) = config.rules_dir.clone() {
        tasks.spawn(named(
            "rules".to_owned(),
            rules_reloader(
                fingerprint(&dir),
                dir,
                config.rules_reload_interval,
                rules_tx,
                metrics.clone(),
                shutdown_rx.clone(),
            ),
        ));
    }

    let http_state = HttpState::with_journal(metrics.clone(), Some(journal.clone()));
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
        acting: crate::snapshot::Acting::Alone,
        accounts: Vec::new(),
    });
    let (snap_tx, snap_rx) = watch::channel(empty);
    let recorder = match options.record {
        None => None,
        Some(rc) => {
            let header = crate::replay::Header {
                driftwatch_recording: crate::replay::FORMAT_VERSION,
                started_at: clock::now(),
                tick: config.intervals.reconcile,
                accounts: config
                    .accounts
                    .iter()
                    .map(|a| crate::replay::RecordedAccount {
                        name: a.name.clone(),
                        venue: a.link.venue.as_str().to_owned(),
                        style: crate::venue::registry::stream_style(a.link.venue),
                        policy: config.policy_for(a),
                    })
                    .collect(),
            };
            let (tx, rx) = mpsc::channel::<String>(4096);
            tracing::info!(path = %rc.path.display(), max_bytes = rc.max_bytes, keep = rc.keep, "Recording observations.");
            let writer = crate::record::start(rc, &header, rx, shutdown_rx.clone())?;
            tasks.spawn(named("recorder".to_owned(), writer));
            Some(tx)
        }
    };
    // rule-state: when rules fired, kept in the journal so a cooldown
    // outlives a restart. Loaded before the core starts.
    let mut engine = crate::rules::Engine::new();
    let (fired_tx, fired_rx) = mpsc::channel::<Vec<crate::rules::Fired>>(256);
    match journal.get().await {
        Ok(j) => {
            match j.fired().await {
                Ok(fired) => engine.restore(fired),
                Err(e) => tracing::error!(error = %e, "Cannot read when rules last fired; cooldowns start afresh."),
            }
            tasks.spawn(named("rule-state".to_owned(), rule_state_writer(j, fired_rx)));
        }
        Err(e) => tracing::error!(error = %e, "The journal is unavailable: rule cooldowns will not survive a restart."),
    }
    let core = Core {
        leadership,
        recorder,
        fired: fired_tx,
        accounts,
        reconciler: Reconciler::new(),
        metrics: metrics.clone(),
        http: http_state,
        snapshots: snap_tx,
        tick: config.intervals.reconcile,
        correct_tx,
        db_poll_now,
        rules: rules_rx,
        engine,
        close_tx,
        in_flight: BTreeSet::new(),
        deferred: BTreeMap::new(),
        settling: BTreeMap::new(),
        backing_off: BTreeMap::new(),
        guards: config.closes.clone(),
        pages: pages.clone(),
    };
    tasks.spawn(named(
        "core".to_owned(),
        core.run(rx, done_rx, close_done_rx, shutdown_rx.clone()),
    ));

    Ok(Running {
        snapshots: snap_rx,
        http_addr,
        metrics,
        pages,
        shutdown: shutdown_tx,
        tasks,
        journal,
    })
}

/// How long the rule-state writer lets a firing's close go first: a rule
/// fires and its close is journaled at the same moment, and the close's
/// entry is on its way to the wire while the firing's is not. A crash in
/// this window loses the cooldown's start, never the close's intent.
pub const FIRED_WRITE_DELAY: Duration = Duration::from_millis(50);

/// The most inputs the core takes as one burst: a decision waits for at most
/// this many inputs to be applied before it, each cheaper than the decision
/// it saves (tens of microseconds in all at ten open positions).
const BURST: usize = 64;

/// Journals rule firings as the core reports them, [`FIRED_WRITE_DELAY`]
/// after each (what arrives meanwhile is written with it). It ends when
/// the core does (the channel closes), after writing what it was given.
async fn rule_state_writer(
    journal: crate::journal::Journal,
    mut rx: mpsc::Receiver<Vec<crate::rules::Fired>>,
) -> anyhow::Result<()> {
    while let Some(mut fired) = rx.recv().await {
        tokio::time::sleep(FIRED_WRITE_DELAY).await;
        while let Ok(more) = rx.try_recv() {
            fired.extend(more);
        }
        if let Err(e) = journal.record_fired(&fired).await {
            tracing::error!(error = %e, "Cannot journal when rules fired; their cooldowns may not survive a restart.");
        }
    }
    Ok(())
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
        self.journal.close().await;
    }
}

#[allow(clippy::too_many_arguments)]
async fn rest_poller(
    account: usize,
    client: crate::venue::registry::Rest,
    every: Duration,
    poll_now: Arc<Notify>,
    corroborate: watch::Receiver<Vec<String>>,
    tx: mpsc::Sender<Input>,
    metrics: Arc<Metrics>,
    venue: &'static str,
    name: String,
    mut shutdown: watch::Receiver<bool>,
) -> anyhow::Result<()> {
    // However often a poll is asked for (reconnects, liquidations), polls
    // stay at least MIN_GAP apart, and a 429's back-off is always honoured.
    const MIN_GAP: Duration = Duration::from_secs(1);
    // Never faster than the venue's budget sustains (Nado: the client's
    // share of the per-IP query limit): a drained budget would delay the
    // first read after an outage, and a close's fresh read.
    let floor = client.poll_floor();
    if floor > every {
        tracing::info!(account = %name, every_ms = floor.as_millis() as u64,
            "REST polls spaced to fit the venue's rate limit (shorter than intervals.rest_poll allows).");
    }
    let every = every.max(floor);
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
        // The core stamps the reading with this moment, and stops trusting
        // REST if no answer comes within the poll interval.
        if tx.send(Input::RestRequested { account }).await.is_err() {
            return Ok(());
        }
        let started = tokio::time::Instant::now();
        let read = client.positions();
        tokio::pin!(read);
        let result = tokio::select! {
            r = &mut read => r,
            _ = tokio::time::sleep(every.max(Duration::from_secs(2))) => {
                tracing::warn!(account = %name, waited_s = every.max(Duration::from_secs(2)).as_secs(),
                    "REST read has not answered within the poll interval; REST is untrusted until it does.");
                read.await
            }
        };
        metrics
            .rest_request_duration_seconds
            .with_label_values(&[venue, "positions"])
            .observe(started.elapsed().as_secs_f64());
        let now = tokio::time::Instant::now();
        next_at = now + every;
        not_before = now + MIN_GAP.min(every).max(floor);
        if let Err(RestError::RateLimited { retry_after }) = &result {
            not_before = now + *retry_after;
            next_at = next_at.max(not_before);
        }
        if let Err(e) = &result {
            metrics.rest_errors_total.with_label_values(&[venue, e.kind()]).inc();
        }
        // A refused baseline: the same poll reads those symbols from a second
        // endpoint, handed over first so this reading is judged with it.
        let symbols = corroborate.borrow().clone();
        if result.is_ok() && !symbols.is_empty() {
            let corroborated = client.corroborate(&symbols).await;
            if tx
                .send(Input::Corroborated {
                    account,
                    result: corroborated,
                })
                .await
                .is_err()
            {
                return Ok(());
            }
        }
        if tx.send(Input::Rest { account, result }).await.is_err() {
            return Ok(());
        }
    }
}

async fn markets_poller(
    account: usize,
    client: crate::venue::registry::Rest,
    every: Duration,
    prices_every: Duration,
    tx: mpsc::Sender<Input>,
    mut shutdown: watch::Receiver<bool>,
) -> anyhow::Result<()> {
    // Lot sizes every `every`; mark prices every `prices_every`.
    let mut next_markets = tokio::time::Instant::now();
    loop {
        if tokio::time::Instant::now() >= next_markets {
            let result = client.markets().await;
            next_markets = tokio::time::Instant::now()
                + if result.is_ok() {
                    every
                } else {
                    Duration::from_secs(10).min(every)
                };
            if tx.send(Input::Markets { account, result }).await.is_err() {
                return Ok(());
            }
        }
        let result = client.prices().await;
        if tx.send(Input::Prices { account, result }).await.is_err() {
            return Ok(());
        }
        tokio::select! {
            biased;
            _ = shutdown.changed() => return Ok(()),
            _ = tokio::time::sleep(prices_every) => {}
        }
    }
}

type Fingerprint = Vec<(std::path::PathBuf, Option<std::time::SystemTime>, u64)>;

fn fingerprint(dir: &std::path::Path) -> Fingerprint {
    crate::rules::file::rule_files(dir)
        .unwrap_or_default()
        .into_iter()
        .map(|p| {
            let meta = std::fs::metadata(&p).ok();
            let modified = meta.as_ref().and_then(|m| m.modified().ok());
            let len = meta.map_or(0, |m| m.len());
            (p, modified, len)
        })
        .collect()
}

/// Watches the rules directory (every `every`, and on SIGHUP) and publishes
/// each good new rule set; a bad one is reported and the old one kept.
async fn rules_reloader(
    // Taken when the rules were loaded, so a change made before this task
    // first runs is still seen.
    mut last: Fingerprint,
    dir: std::path::PathBuf,
    every: Duration,
    tx: watch::Sender<Arc<crate::rules::RuleSet>>,
    metrics: Arc<Metrics>,
    mut shutdown: watch::Receiver<bool>,
) -> anyhow::Result<()> {
    #[cfg(unix)]
    let mut hup = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::hangup())?;
    loop {
        #[cfg(unix)]
        let forced = tokio::select! {
            biased;
            _ = shutdown.changed() => return Ok(()),
            _ = hup.recv() => true,
            _ = tokio::time::sleep(every) => false,
        };
        #[cfg(not(unix))]
        let forced = tokio::select! {
            biased;
            _ = shutdown.changed() => return Ok(()),
            _ = tokio::time::sleep(every) => false,
        };
        let now = fingerprint(&dir);
        if !forced && now == last {
            continue;
        }
        last = now;
        let files = crate::rules::file::rule_files(&dir).unwrap_or_default();
        match crate::rules::compile_files(&files) {
            Ok(set) => {
                metrics.rules_reloaded(true);
                let ids: Vec<String> = set.rules.iter().map(|r| r.id.clone()).collect();
                metrics.rules_loaded(&ids);
                tracing::info!(rules = ids.len(), dir = %dir.display(), "Rules reloaded.");
                let _ = tx.send(Arc::new(set));
            }
            Err(errors) => {
                metrics.rules_reloaded(false);
                for e in &errors {
                    tracing::error!(error = %e, "Rule reload failed; the previous rules stay in force.");
                }
            }
        }
    }
}

/// How one account's bot is read: its table in the bot's database, or its
/// HTTP API.
enum BotSource {
    Table(BotDb, Duration),
    Api(crate::botdb::api::BotApi),
}

async fn db_poller(
    db: Option<BotDb>,
    config: Config,
    tx: mpsc::Sender<Input>,
    metrics: Arc<Metrics>,
    pages: tokio::sync::broadcast::Sender<Page>,
    poll_now: Arc<Notify>,
    mut shutdown: watch::Receiver<bool>,
) -> anyhow::Result<()> {
    // A mapping that does not fit its table pages once per reason, and
    // again (resolved) when it fits.
    let page = |acc: &crate::config::AccountConfig, status: crate::notify::Status, summary: String, detail: String| {
        let _ = pages.send(Page {
            id: "mapping_invalid".to_owned(),
            severity: crate::notify::Severity::Critical,
            status,
            venue: acc.link.venue.as_str().to_owned(),
            account: acc.name.clone(),
            subject: String::new(),
            summary,
            detail,
            at: clock::now(),
        });
    };
    let mut sources = Vec::new();
    for acc in &config.accounts {
        sources.push(match (&acc.bot_api, &db, &config.bot_db) {
            (Some(api), _, _) => BotSource::Api(
                crate::botdb::api::BotApi::new(api.clone()).map_err(|e| anyhow!("account {}: {e}", acc.name))?,
            ),
            (None, Some(db), Some(cfg)) => BotSource::Table(db.clone(), cfg.timeout),
            (None, _, _) => anyhow::bail!("account {} reads its bot's database, and there is no bot_db", acc.name),
        });
    }
    // Per account: whether its mapping was found to fit the table, and the
    // last problems logged (each set once, not every poll).
    let mut fits = vec![false; config.accounts.len()];
    let mut logged: Vec<Option<String>> = vec![None; config.accounts.len()];
    let close = |db: &Option<BotDb>| {
        let db = db.clone();
        async move {
            if let Some(db) = db {
                db.close().await;
            }
        }
    };
    loop {
        for (account, acc) in config.accounts.iter().enumerate() {
            let started = tokio::time::Instant::now();
            let labels = [acc.link.venue.as_str(), acc.name.as_str()];
            let result = match &sources[account] {
                BotSource::Api(api) => api.read(&acc.mapping).await,
                BotSource::Table(db, timeout) if !fits[account] => match fitting(db, acc, *timeout).await {
                    Ok(()) => {
                        fits[account] = true;
                        if logged[account].take().is_some() {
                            page(
                                acc,
                                crate::notify::Status::Resolved,
                                format!("{}: the mapping fits the bot's table again", acc.name),
                                String::new(),
                            );
                        }
                        metrics.db_mapping_problems.with_label_values(&labels).set(0.0);
                        db.read(&acc.mapping, *timeout).await
                    }
                    Err((n, e)) => {
                        metrics.db_mapping_problems.with_label_values(&labels).set(n as f64);
                        let text = e.to_string();
                        if n > 0 && logged[account].as_ref() != Some(&text) {
                            tracing::error!(account = %acc.name, problems = %text,
                                "The mapping cannot work on the bot's table as it is; the database is untrusted until it is fixed.");
                            page(
                                acc,
                                crate::notify::Status::Firing,
                                format!(
                                    "{}: the mapping does not fit the bot's table; nothing is watched",
                                    acc.name
                                ),
                                text.clone(),
                            );
                            logged[account] = Some(text);
                        }
                        Err(e)
                    }
                },
                BotSource::Table(db, timeout) => db.read(&acc.mapping, *timeout).await,
            };
            metrics
                .db_poll_duration_seconds
                .observe(started.elapsed().as_secs_f64());
            if result.is_err() {
                metrics.db_errors_total.inc();
            }
            if tx.send(Input::Db { account, result }).await.is_err() {
                close(&db).await;
                return Ok(());
            }
        }
        tokio::select! {
            biased;
            _ = shutdown.changed() => {
                close(&db).await;
                return Ok(());
            }
            _ = tokio::time::sleep(config.intervals.db_poll) => {}
            _ = poll_now.notified() => {}
        }
    }
}

/// Introspects the account's table and checks the mapping against it:
/// `Err((problems, why))`; zero problems means the table could not be read.
async fn fitting(db: &BotDb, acc: &crate::config::AccountConfig, timeout: Duration) -> Result<(), (usize, DbError)> {
    let info = match tokio::time::timeout(timeout, db.introspect(&acc.mapping.table)).await {
        Ok(Ok(info)) => info,
        Ok(Err(e)) => return Err((0, e)),
        Err(_) => return Err((0, DbError::Timeout(timeout))),
    };
    let problems = crate::botdb::schema::problems(&acc.mapping, &info, acc.correct.insert);
    if problems.is_empty() {
        Ok(())
    } else {
        Err((problems.len(), DbError::Mapping(problems.join("; "))))
    }
}

/// What became of a close decision the core was asked to carry out.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Asked {
    /// Sent, refused, withheld by a back-off, or nothing to close.
    Done,
    /// Left, on every leg, to a close already made there.
    Left,
}

struct Core {
    /// Whether this replica acts (plans corrections, evaluates rules, closes).
    leadership: crate::leader::Leadership,
    accounts: Vec<AccountState>,
    reconciler: Reconciler,
    metrics: Arc<Metrics>,
    http: Arc<HttpState>,
    snapshots: watch::Sender<Arc<Snapshot>>,
    tick: Duration,
    correct_tx: mpsc::Sender<CorrectionRequest>,
    db_poll_now: Arc<Notify>,
    rules: watch::Receiver<Arc<crate::rules::RuleSet>>,
    engine: crate::rules::Engine,
    close_tx: mpsc::Sender<actions::CloseRequest>,
    /// (account, leg) with a close in flight: never two at once.
    in_flight: BTreeSet<(usize, crate::domain::PositionKey)>,
    /// (account, leg) with a close in flight, or settling → the (rule,
    /// subject) of each close decision that came meanwhile and was left to
    /// that close. Its rule fired (its cooldown began) without acting; when
    /// the close ends or the leg settles, the rule may decide again at once
    /// (or when a back-off ends), so a second rule about the leg is not
    /// silenced for its whole cooldown.
    deferred: BTreeMap<(usize, crate::domain::PositionKey), BTreeSet<(String, String)>>,
    /// (account, leg) whose close a fresh read verified and whose stream
    /// view may still lag that read (`plan::settle`): a close decision about
    /// the leg is left to the close already made (deferred, as above) until
    /// the stream shows it or the wait runs out.
    settling: BTreeMap<(usize, crate::domain::PositionKey), plan::settle::Settling>,
    /// (account, subject: a leg as its rules name it, or a group) whose last
    /// close did not complete: no new close before the wait ends. Cleared by
    /// a close that ends otherwise.
    backing_off: BTreeMap<(usize, String), Retry>,
    guards: crate::config::CloseGuards,
    pages: tokio::sync::broadcast::Sender<Page>,
    /// Where observations go when `--record` is on.
    recorder: Option<mpsc::Sender<String>>,
    /// Rule firings, to the journal (cooldowns that survive a restart).
    fired: mpsc::Sender<Vec<crate::rules::Fired>>,
}

impl Core {
    async fn run(
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
                    m.ws_last_event_timestamp_seconds
                        .with_label_values(&[venue, name])
                        .set(now.as_secs_f64());
                }
                match effect {
                    Effect::Stream(Applied::Replaced | Applied::Updated) => {
                        m.frame(venue, name, FrameOutcome::Applied);
                        if a.src.view.trust(now, a.policy.stream_silence_after).is_err() {
                            a.poll_now.notify_one();
                        }
                    }
                    Effect::Stream(Applied::DroppedOutOfOrder) => {
                        m.frame(venue, name, FrameOutcome::OutOfOrder);
                        tracing::debug!(account = %name, "Dropped a position frame older than the last applied.");
                    }
                    Effect::Stream(Applied::Unanchored) => {
                        m.frame(venue, name, FrameOutcome::Unanchored);
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
