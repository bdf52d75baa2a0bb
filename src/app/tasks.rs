//! The tasks beside the core: those that feed it (REST positions, markets,
//! the bot's state, the rules directory), the pager, and the writer that
//! journals when rules fired. None of them decides.

use std::sync::Arc;
use std::time::Duration;

use anyhow::anyhow;
use tokio::sync::{mpsc, watch, Notify};

use crate::botdb::{BotDb, DbError};
use crate::clock;
use crate::config::Config;
use crate::metrics::{Channel, Metrics, PageResult};
use crate::notify::Page;
use crate::venue::types::RestError;

use super::Input;

/// How long the rule-state writer lets a firing's close go first: a rule
/// fires and its close is journaled at the same moment, and the close's
/// entry is on its way to the wire while the firing's is not. A crash in
/// this window loses the cooldown's start, never the close's intent.
pub const FIRED_WRITE_DELAY: Duration = Duration::from_millis(50);

/// Journals rule firings as the core reports them, [`FIRED_WRITE_DELAY`]
/// after each (what arrives meanwhile is written with it). It ends when
/// the core does (the channel closes), after writing what it was given.
pub(super) async fn rule_state_writer(
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

#[allow(clippy::too_many_arguments)]
pub(super) async fn rest_poller(
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

pub(super) async fn markets_poller(
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

pub(super) type Fingerprint = Vec<(std::path::PathBuf, Option<std::time::SystemTime>, u64)>;

pub(super) fn fingerprint(dir: &std::path::Path) -> Fingerprint {
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
pub(super) async fn rules_reloader(
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

pub(super) async fn db_poller(
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

/// Logs every page and, with `notify.email` (`email`: the pager that decides
/// what is mailed, and the mailer's queue), offers it to be mailed; the
/// mailer delivers it off this path.
pub(super) async fn pager(
    mut rx: tokio::sync::broadcast::Receiver<Page>,
    mut email: Option<(crate::notify::Pager, mpsc::Sender<crate::notify::Mail>)>,
    metrics: Arc<Metrics>,
    mut shutdown: watch::Receiver<bool>,
) -> anyhow::Result<()> {
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
}
