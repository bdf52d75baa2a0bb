//! The `closes` task ([`run_closes`]): runs the core's close requests, at
//! most one per leg (`Running`), each in the term it starts in; on taking
//! the lead it first resumes what earlier terms left `pending`
//! (`Resumes`), with their client order ids; it journals each intent
//! before and after, pages outcomes, and reports each end to the core
//! ([`CloseDone`], [`Ended`]). The close loop itself is [`super::close`].

use std::sync::Arc;

use tokio::sync::{broadcast, mpsc, watch};

use super::close;
use crate::clock;
use crate::journal::{self, Entry, Journal, Status};
use crate::metrics::Metrics;
use crate::notify::{Page, Severity};

/// A close the core decided on (after its guards).
#[derive(Debug, Clone)]
pub struct CloseRequest {
    pub account: usize,
    /// The leg to close (a symbol's net position, or a hedge leg).
    pub key: crate::domain::PositionKey,
    pub target: crate::plan::close::CloseTarget,
    pub rule: String,
    pub lot: rust_decimal::Decimal,
    /// Earlier intents for this decision that ended unverified.
    pub retry: u32,
    /// A retry's share of its decision: what the earlier intents left room
    /// for (`None` for a decision's first intent: its first fresh read).
    pub cap: Option<rust_decimal::Decimal>,
    /// Resumed from the journal after a restart (the core never counted it).
    pub resumed: bool,
}

impl CloseRequest {
    /// Intents of this decision the core has not counted toward
    /// `max_per_hour`: its retries, and a resumed first one.
    pub fn uncounted_intents(&self) -> u32 {
        self.retry + u32::from(self.resumed)
    }
}

/// An unverified close is tried again (a new intent, sized from a new fresh
/// read, so an order that landed late leaves nothing to send) this many times.
pub const UNVERIFIED_RETRIES: u32 = 2;

/// What the end of a close leaves for the next decision about its leg.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ended {
    /// It completed, had nothing to send by design (disarmed), or was a
    /// close resumed after a failover that found its leg already flat (the
    /// earlier try filled): the rules decide again at once.
    Completed,
    /// It did not complete: failed, unverified, refused, or its fresh read
    /// found nothing the stream shows (REST broken, or lagging). The leg's
    /// next close waits (back-off).
    NotCompleted,
    /// This replica stopped leading mid-close: the leader resumes the intent
    /// with its client order id. Not a failure of the close: nothing backs
    /// off, here or in this replica's next term as leader.
    HandedOver,
    /// A close resumed after a failover already runs for the leg: the
    /// decision is left to it (made again when it ends). Not a failure.
    LeftToRunning,
}

impl Ended {
    /// How a close that ran ends, from its outcome; `resumed`: a close a
    /// failover or restart left pending, not one the core asked for.
    pub fn of(result: Status, resumed: bool) -> Ended {
        match result {
            Status::NothingToDo if resumed => Ended::Completed,
            Status::Failed | Status::Unverified | Status::Refused | Status::NothingToDo => Ended::NotCompleted,
            _ => Ended::Completed,
        }
    }
}

/// A close that finished, reported back to the core.
#[derive(Debug, Clone)]
pub struct CloseDone {
    pub account: usize,
    pub key: crate::domain::PositionKey,
    pub result: Status,
    /// What its end leaves for the leg's next decision.
    pub ended: Ended,
    pub summary: String,
    /// The rule whose decision this was.
    pub rule: String,
    /// Intents the core did not count toward `max_per_hour` (retries, a resumed close).
    pub uncounted: u32,
    /// After an unverified close: what a retry may still send (`Some(None)`:
    /// unbounded, a flatten).
    pub room: Option<Option<rust_decimal::Decimal>>,
    /// After a verified close: when the read that saw it done was sent, and
    /// the position it saw. A stream that shows another size, and has not
    /// changed the leg since that read, has not shown the close yet.
    pub verified: Option<(crate::domain::Timestamp, rust_decimal::Decimal)>,
}

/// What the closes task needs per account.
pub struct CloseAccount {
    pub venue: String,
    pub account: String,
    pub rest: crate::venue::registry::Rest,
    pub address: String,
    /// The close section and its keys, parsed once.
    pub close: Option<(crate::config::CloseConfig, crate::venue::registry::CloseKeys)>,
}

pub struct Closes {
    pub journal: journal::Shared,
    /// Only the acting replica resumes and sends closes.
    pub leadership: crate::leader::Leadership,
    pub accounts: Vec<CloseAccount>,
    pub metrics: Arc<Metrics>,
    pub pages: broadcast::Sender<Page>,
}

#[derive(serde::Serialize, serde::Deserialize)]
struct CloseDetail {
    rule: String,
    target: crate::plan::close::CloseTarget,
    lot: rust_decimal::Decimal,
    client_order_id: String,
    /// Whether the close was armed when it was journaled. An entry without
    /// it (an older driftwatch) reads as disarmed: never resumed live.
    #[serde(default)]
    armed: bool,
    /// A retry's cap, if it was one.
    #[serde(default)]
    cap: Option<rust_decimal::Decimal>,
    /// The leg closed (the entry's `symbol` is the symbol's): a hedge
    /// leg, or the net position (absent in older entries).
    #[serde(default = "net_leg")]
    leg: crate::domain::Leg,
}

fn net_leg() -> crate::domain::Leg {
    crate::domain::Leg::Net
}

/// A close interrupted by a restart is resumed (with its own client order
/// id, so an order that landed answers as a duplicate) only this soon after
/// it was journaled; an older one is abandoned and paged, and the rules
/// decide again on a fresh view. Hours later, the bot may have reopened the
/// position the close was meant for.
pub const RESUME_WITHIN: std::time::Duration = std::time::Duration::from_secs(120);

/// What to do with a close a restart left pending.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Resume {
    Resume,
    /// Journaled while disarmed: it never sends, so it is not resumed armed.
    Disarmed,
    /// Journaled too long ago to act on.
    TooOld,
}

impl Resume {
    pub fn as_str(self) -> &'static str {
        match self {
            Resume::Resume => "resume",
            Resume::Disarmed => "journaled_disarmed",
            Resume::TooOld => "too_old",
        }
    }
}

/// Decides a pending close's fate from its journal entry's age and arming.
pub fn resume(created_at: crate::domain::Timestamp, armed_then: bool, now: crate::domain::Timestamp) -> Resume {
    if !armed_then {
        Resume::Disarmed
    } else if now.since(created_at) > RESUME_WITHIN {
        Resume::TooOld
    } else {
        Resume::Resume
    }
}

impl Closes {
    /// Runs one close to completion (journal before and after).
    async fn execute(
        &self,
        journal: Option<&Journal>,
        req: &CloseRequest,
        cloid: String,
        resumed: bool,
        term: &crate::leader::Leadership,
    ) -> CloseDone {
        let a = &self.accounts[req.account];
        // Journaled only while this replica leads in the close's term.
        let journal = journal.map(|j| j.clone().fenced(term.clone()));
        let journal = journal.as_ref();
        let page = |severity, summary: String, detail: String| {
            let _ = self.pages.send(Page {
                status: crate::notify::Status::Firing,
                subject: req.key.to_string(),
                id: req.rule.clone(),
                severity,
                venue: a.venue.clone(),
                account: a.account.clone(),
                summary,
                detail,
                at: clock::now(),
            });
        };
        let done = |result: Status, summary: String| {
            self.metrics
                .close_finished(&a.venue, &a.account, &req.key.to_string(), result);
            CloseDone {
                account: req.account,
                key: req.key.clone(),
                result,
                ended: Ended::of(result, resumed),
                summary,
                rule: req.rule.clone(),
                uncounted: req.uncounted_intents(),
                room: None,
                verified: None,
            }
        };
        let Some((cfg, keys)) = &a.close else {
            page(
                Severity::Critical,
                format!(
                    "{}: {} needs closing but the account has no close: section",
                    a.account, req.key
                ),
                req.rule.clone(),
            );
            return done(Status::Refused, "no close configuration".into());
        };
        let entry_id = journal::entry_id(&cloid, 0);
        // The "before" entry; nothing is sent until it is written (a resumed
        // close has its entry already).
        let journaled = async {
            if resumed {
                return Ok(());
            }
            let j = journal.ok_or("the journal is unavailable")?;
            let detail = CloseDetail {
                rule: req.rule.clone(),
                target: req.target,
                lot: req.lot,
                client_order_id: cloid.clone(),
                armed: cfg.armed,
                cap: req.cap,
                leg: req.key.leg,
            };
            let entry = Entry {
                entry_id: entry_id.clone(),
                correlation_id: cloid.clone(),
                created_at: clock::now(),
                kind: journal::Kind::EmergencyClose,
                venue: a.venue.clone(),
                account: a.account.clone(),
                symbol: req.key.symbol.to_string(),
                op: match req.target {
                    crate::plan::close::CloseTarget::Flatten => "close_position".into(),
                    crate::plan::close::CloseTarget::ReduceTo(_) => "reduce_to_bot".into(),
                },
                status: Status::Pending,
                detail: serde_json::to_string(&detail).unwrap_or_default(),
                finished_at: None,
            };
            j.record(&[entry]).await.map_err(|e| format!("cannot journal it: {e}"))
        };
        let target = close::AccountClose {
            rest: &a.rest,
            address: &a.address,
            keys,
            close: cfg,
            armed: cfg.armed,
            cap: req.cap,
            leadership: term.scope().is_some().then_some(term),
        };
        let outcome = close::close_account(&target, &req.key, req.target, req.lot, &cloid, journaled).await;
        // Leadership lost mid-close (stopped, cut off), even if won again
        // since under a new epoch: what became of the intent is the next
        // leader's to say, which resumes it with this client order id. No
        // page, no outcome from here.
        if term.acting().is_none() {
            tracing::warn!(rule = %req.rule, account = %a.account, symbol = %req.key, client_order_id = %cloid,
                outcome = %outcome.describe(), "Leadership lost during the close: left to the leader, which resumes it.");
            return CloseDone {
                ended: Ended::HandedOver,
                ..done(Status::Refused, "leadership lost: left to the leader".into())
            };
        }
        let result = outcome.result();
        let summary = outcome.describe();
        match &outcome {
            close::CloseOutcome::Disarmed { order, body } => tracing::warn!(rule = %req.rule, account = %a.account,
                symbol = %req.key, side = order.side.as_str(), amount = %order.amount,
                request = %body, "Close disarmed: this exact request was NOT sent."),
            close::CloseOutcome::Verified {
                order,
                order_id,
                closed,
                ..
            } => {
                tracing::warn!(rule = %req.rule, account = %a.account, symbol = %req.key, side = order.side.as_str(),
                    amount = %closed, order_id = order_id.as_deref().unwrap_or("unknown"), client_order_id = %cloid, "Emergency close verified.");
                page(
                    Severity::Critical,
                    format!(
                        "{}: closed {} {} {} reduce-only (rule {})",
                        a.account,
                        order.side.as_str(),
                        closed.normalize(),
                        req.key,
                        req.rule
                    ),
                    summary.clone(),
                );
            }
            close::CloseOutcome::Unverified { .. } | close::CloseOutcome::Failed(_) => {
                tracing::error!(rule = %req.rule, account = %a.account, symbol = %req.key, outcome = %summary, "Emergency close did not complete.");
                page(
                    Severity::Critical,
                    format!("{}: emergency close of {} {result}", a.account, req.key),
                    summary.clone(),
                );
            }
            _ => {
                tracing::info!(rule = %req.rule, account = %a.account, symbol = %req.key, outcome = %summary, "Emergency close: nothing to send.")
            }
        }
        if let Some(j) = journal {
            if let Err(e) = j.finish(&[(entry_id, result)], clock::now()).await {
                tracing::error!(error = %e, "Cannot journal a close's outcome.");
            }
        }
        let room = match &outcome {
            close::CloseOutcome::Unverified { room, .. } => Some(*room),
            _ => None,
        };
        let verified = match &outcome {
            close::CloseOutcome::Verified { seen, .. } => Some(*seen),
            _ => None,
        };
        CloseDone {
            room,
            verified,
            ..done(result, summary)
        }
    }
}

/// The closes task's journal (fenced by leadership), or `None` with the
/// reason logged: no close is sent without it.
async fn open_closes_journal(c: &Closes) -> Option<Journal> {
    c.journal
        .get()
        .await
        .map_err(|e| tracing::error!(error = %e, "The journal is unavailable: no close will be sent."))
        .ok()
        .map(|j| j.fenced(c.leadership.clone()))
}

/// Resumes (or settles) the closes a crash or a failover left `pending`:
/// run when this replica starts acting. True when some were left for later:
/// their leg's close still runs here.
async fn resume_pending(c: &Arc<Closes>, j: &Journal, running: &mut Running) -> bool {
    let mut left = false;
    for e in j
        .pending(journal::Kind::EmergencyClose)
        .await
        .unwrap_or_default()
        .into_iter()
    {
        let (Some(account), Ok(detail)) = (
            c.accounts.iter().position(|a| a.account == e.account),
            serde_json::from_str::<CloseDetail>(&e.detail),
        ) else {
            continue;
        };
        // The leg's close still runs here, from an earlier term of this
        // replica's (it led, was stopped or cut off, and leads again): that
        // close sends nothing more (its term is over), and this intent is
        // resumed when it ends.
        let key = crate::domain::PositionKey {
            symbol: e.symbol.as_str().into(),
            leg: detail.leg,
        };
        if running.has(account, &key) {
            left = true;
            continue;
        }
        let fate = resume(e.created_at, detail.armed, clock::now());
        if fate != Resume::Resume {
            let status = match fate {
                Resume::Disarmed => Status::Disarmed,
                _ => Status::Abandoned,
            };
            tracing::error!(symbol = %e.symbol, client_order_id = %detail.client_order_id, fate = fate.as_str(),
                    "A close interrupted by a restart is not resumed; the rules decide again on a fresh view.");
            if fate == Resume::TooOld {
                let a = &c.accounts[account];
                let _ = c.pages.send(Page {
                    status: crate::notify::Status::Firing,
                    subject: e.symbol.clone(),
                    id: detail.rule.clone(),
                    severity: Severity::Critical,
                    venue: a.venue.clone(),
                    account: a.account.clone(),
                    summary: format!(
                        "{}: a close of {} interrupted by a restart was abandoned (journaled at {})",
                        a.account,
                        e.symbol,
                        e.created_at.to_utc_string()
                    ),
                    detail: format!("client order id {}", detail.client_order_id),
                    at: clock::now(),
                });
            }
            if let Err(err) = j.finish(&[(e.entry_id.clone(), status)], clock::now()).await {
                tracing::error!(error = %err, "Cannot settle a pending close.");
            }
            continue;
        }
        tracing::warn!(symbol = %e.symbol, client_order_id = %detail.client_order_id, "Resuming a close interrupted by a restart, with its client order id.");
        let req = CloseRequest {
            account,
            key: crate::domain::PositionKey {
                symbol: e.symbol.as_str().into(),
                leg: detail.leg,
            },
            target: detail.target,
            rule: detail.rule,
            lot: detail.lot,
            retry: 0,
            cap: detail.cap,
            resumed: true,
        };
        running.spawn(c, req, Some(j.clone()), detail.client_order_id, true);
    }
    left
}

/// The `closes` task: runs close requests (several symbols at once; the core
/// never sends two for one symbol), and, each time this replica starts
/// acting, first resumes the closes earlier terms left `pending`, with their
/// own client order ids.
pub async fn run_closes(
    c: Closes,
    mut requests: mpsc::Receiver<CloseRequest>,
    done: mpsc::Sender<CloseDone>,
    mut shutdown: watch::Receiver<bool>,
) -> anyhow::Result<()> {
    let c = Arc::new(c);
    let mut running = Running::default();
    let mut leadership = c.leadership.clone();
    let mut resumes = Resumes::default();
    resumes.catch_up(&c, &mut running).await;
    // False once the core is gone: no new closes, but those in flight finish.
    let mut accepting = true;
    loop {
        if (*shutdown.borrow() || !accepting) && running.is_empty() {
            break;
        }
        tokio::select! {
            // Shutdown waits for closes in flight (they are not cancel-safe).
            _ = shutdown.changed(), if running.is_empty() => break,
            // Became the leader: what the last one left pending is this one's.
            _ = leadership.changed() => resumes.catch_up(&c, &mut running).await,
            Some(d) = running.next(), if !running.is_empty() => {
                // A pending intent left for this leg's close to end is resumed
                // now, before the core hears of the end and asks again.
                resumes.catch_up(&c, &mut running).await;
                // The core may already be gone at shutdown; the journal has the outcome.
                let _ = done.send(d).await;
            }
            req = requests.recv(), if accepting && !*shutdown.borrow() => {
                // A term's own closes come after what earlier terms left.
                resumes.catch_up(&c, &mut running).await;
                match req {
                    Some(req) if running.has(req.account, &req.key) => {
                        // Not a close of its own (nothing is journaled or counted):
                        // the core leaves the decision to the running one.
                        tracing::info!(symbol = %req.key, rule = %req.rule,
                            "A close resumed after a failover or restart already runs for this symbol; the decision is left to it.");
                        let _ = done
                            .send(CloseDone {
                                account: req.account,
                                key: req.key.clone(),
                                result: Status::Refused,
                                ended: Ended::LeftToRunning,
                                summary: "a close for this symbol is already running".into(),
                                rule: req.rule.clone(),
                                uncounted: 0,
                                room: None,
                                verified: None,
                            })
                            .await;
                    }
                    Some(req) => {
                        // A journal that was unavailable is tried again for each
                        // close (without it, nothing is sent).
                        let journal = open_closes_journal(&c).await;
                        running.spawn(&c, req, journal, journal::new_correlation_id(), false);
                    }
                    None => accepting = false,
                }
            }
        }
    }
    Ok(())
}

/// Which term's pending closes were resumed, and whether some wait for a
/// close of their leg still running here (from an earlier term) to end.
#[derive(Default)]
struct Resumes {
    /// The term (`acting()`) whose pending closes were resumed.
    term: Option<Option<i64>>,
    /// Some were skipped: their leg was busy.
    left: bool,
}

impl Resumes {
    /// Resumes what is pending, once per term (and again while some wait
    /// for a busy leg). A standby, or a process that never closes, resumes
    /// nothing.
    async fn catch_up(&mut self, c: &Arc<Closes>, running: &mut Running) {
        let Some(term) = c.leadership.acting() else {
            return;
        };
        if !c.accounts.iter().any(|a| a.close.is_some()) || (self.term == Some(term) && !self.left) {
            return;
        }
        if let Some(j) = open_closes_journal(c).await {
            self.left = resume_pending(c, &j, running).await;
            self.term = Some(term);
        }
    }
}

/// The closes running in the closes task: at most one per (account, leg),
/// resumed ones included (the core learns of a resumed one when it asks for
/// that leg).
#[derive(Default)]
struct Running {
    tasks: tokio::task::JoinSet<CloseDone>,
    /// Each task's request: its leg, and what to report if the task fails.
    legs: std::collections::BTreeMap<tokio::task::Id, CloseRequest>,
}

impl Running {
    fn is_empty(&self) -> bool {
        self.tasks.is_empty()
    }

    /// Whether a close of `key` in `account` runs.
    fn has(&self, account: usize, key: &crate::domain::PositionKey) -> bool {
        self.legs.values().any(|r| r.account == account && r.key == *key)
    }

    fn spawn(&mut self, c: &Arc<Closes>, req: CloseRequest, journal: Option<Journal>, cloid: String, resumed: bool) {
        let close = run_request(c.clone(), req.clone(), journal, cloid, resumed);
        self.run(req, close);
    }

    /// Runs `close`, the close of `req`'s leg.
    fn run(&mut self, req: CloseRequest, close: impl std::future::Future<Output = CloseDone> + Send + 'static) {
        let task = self.tasks.spawn(close);
        self.legs.insert(task.id(), req);
    }

    /// The next close to end, its leg free again. A task that panicked
    /// (a bug) ends as failed: its leg is not held forever, and its intent,
    /// still pending in the journal, is resumed at the next term or restart.
    async fn next(&mut self) -> Option<CloseDone> {
        let (id, ended) = match self.tasks.join_next_with_id().await? {
            Ok((id, d)) => (id, Ok(d)),
            Err(e) => (e.id(), Err(e)),
        };
        let req = self.legs.remove(&id)?;
        Some(ended.unwrap_or_else(|e| {
            tracing::error!(symbol = %req.key, rule = %req.rule, error = %e, "A close task failed; its intent stays pending.");
            CloseDone {
                account: req.account,
                key: req.key.clone(),
                result: Status::Failed,
                ended: Ended::NotCompleted,
                summary: format!("the close task failed: {e}"),
                rule: req.rule.clone(),
                uncounted: req.uncounted_intents(),
                room: None,
                verified: None,
            }
        }))
    }
}

/// One close request run to its end in the term it starts in: the close,
/// then, while it is unverified (at most [`UNVERIFIED_RETRIES`] times), a
/// new intent sized from a fresh read within what the decision still
/// allows. If this replica stops leading under that term meanwhile, nothing
/// more is sent or journaled for it: it ends handed over.
async fn run_request(
    c: Arc<Closes>,
    mut req: CloseRequest,
    mut journal: Option<Journal>,
    mut cloid: String,
    mut resumed: bool,
) -> CloseDone {
    let term = c.leadership.pinned();
    loop {
        let d = c.execute(journal.as_ref(), &req, cloid, resumed, &term).await;
        // What the decision still allows: unbounded, some, or nothing.
        let room = d.room.filter(|r| r.is_none_or(|r| !r.is_zero()));
        let Some(cap) = room.filter(|_| d.result == Status::Unverified && req.retry < UNVERIFIED_RETRIES) else {
            return d;
        };
        tracing::warn!(symbol = %req.key, retry = req.retry + 1, room = %cap.map_or_else(|| "unbounded (flatten)".to_owned(), |r| r.to_string()),
            "Close unverified; trying again from a fresh read, within what the decision allows.");
        req = CloseRequest {
            retry: req.retry + 1,
            cap,
            ..req
        };
        journal = open_closes_journal(&c).await;
        cloid = journal::new_correlation_id();
        resumed = false;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A close the core asked for backs off unless it completed; a resumed
    /// one that finds its leg already flat completed (the earlier try filled).
    #[test]
    fn what_a_close_end_leaves_for_the_next_decision() {
        for s in [Status::Failed, Status::Unverified, Status::Refused, Status::NothingToDo] {
            assert_eq!(Ended::of(s, false), Ended::NotCompleted, "{s:?}");
        }
        for s in [Status::Verified, Status::Disarmed, Status::BelowLot] {
            assert_eq!(Ended::of(s, false), Ended::Completed, "{s:?}");
        }
        assert_eq!(Ended::of(Status::NothingToDo, true), Ended::Completed);
        assert_eq!(Ended::of(Status::Failed, true), Ended::NotCompleted);
    }

    /// A close task that panics (a bug) ends as failed and frees its leg:
    /// the core is told, and the leg is never held forever.
    #[tokio::test]
    async fn a_close_task_that_panics_ends_failed_and_frees_its_leg() {
        let req = CloseRequest {
            account: 0,
            key: "SOL".parse().unwrap_or_else(|e| match e {}),
            target: crate::plan::close::CloseTarget::Flatten,
            rule: "r".into(),
            lot: rust_decimal::Decimal::ONE,
            retry: 0,
            cap: None,
            resumed: false,
        };
        let mut running = Running::default();
        running.run(req.clone(), async { panic!("a bug") });
        assert!(running.has(0, &req.key));
        let d = running.next().await.expect("a report");
        assert_eq!((d.result, d.ended), (Status::Failed, Ended::NotCompleted));
        assert!(d.summary.contains("a bug"), "{}", d.summary);
        assert!(!running.has(0, &req.key) && running.is_empty());
    }
}
