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
//!
//! Here: what the tasks send the core ([`Input`]), starting them all
//! ([`start`]) and supervising them ([`Running`]). The core loop is in
//! `core_loop.rs`; the pollers, the rules reloader, the pager and the
//! rule-state writer in `tasks.rs`.

mod core_loop;
mod tasks;

use std::collections::{BTreeMap, BTreeSet};
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{anyhow, Context};
use rust_decimal::Decimal;
use tokio::sync::{mpsc, watch, Notify};
use tokio::task::JoinSet;

use crate::actions::{self, CorrectionRequest, CycleReport};
use crate::botdb::{BotDb, DbError};
use crate::clock;
use crate::config::Config;
use crate::domain::DbSnapshot;
use crate::http::{self, HttpState};
use crate::metrics::{AccountLabels, Metrics};
use crate::notify::Page;
use crate::reconcile::Reconciler;
use crate::replay::{AccountSources, Observed};
use crate::venue::types::{MarketInfo, RestError, RestSnapshot, StreamEvent};

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

pub use crate::snapshot::{AccountSnapshot, Snapshot};
pub use tasks::FIRED_WRITE_DELAY;

use core_loop::{AccountState, Core};
use tasks::{db_poller, fingerprint, markets_poller, pager, rest_poller, rule_state_writer, rules_reloader};

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
            series: metrics.stream_series(acc.link.venue.as_str(), &acc.name),
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
        tasks.spawn(named(
            "pager".to_owned(),
            pager(pages.subscribe(), email, metrics.clone(), shutdown_rx.clone()),
        ));
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
