//! The only code that changes the world: the bot's database (corrections,
//! here) and orders on the venue (the closes task, [`closes`]; the close
//! loop, [`close`]). Everything here carries out a plan made by pure code
//! ([`crate::plan`]); nothing here decides.
//!
//! [`run_corrections`] is the `corrections` task. Per request it:
//! 1. journals every planned correction (`pending`, or straight away
//!    `refused` / `dry_run`) before anything is attempted;
//! 2. applies the cycle in one transaction ([`correct::apply`]);
//! 3. journals each outcome, counts it, logs one line per correction, and
//!    pages on a refusal or a failure.
//!
//! At start-up it settles journal entries left `pending` by a crash, from the
//! archive table the changes were written with.

pub mod close;
pub mod closes;
pub mod correct;

pub use closes::{run_closes, CloseAccount, CloseDone, CloseRequest, Closes, Ended, UNVERIFIED_RETRIES};

use std::collections::BTreeMap;
use std::sync::Arc;

use tokio::sync::{broadcast, mpsc, watch};

use crate::botdb::mapping::Mapping;
use crate::botdb::names::TableName;
use crate::botdb::sql::TableInfo;
use crate::botdb::BotDb;
use crate::clock;
use crate::journal::{self, Entry, Journal, Status};
use crate::metrics::Metrics;
use crate::notify::{Page, Severity};
use crate::plan::{Correction, CorrectionPlan, Mode};
use correct::{Context, RowOutcome};

/// One account's correction cycle, planned by the core.
#[derive(Debug)]
pub struct CorrectionRequest {
    pub account: usize,
    pub plan: CorrectionPlan,
    /// The term the plan was made in (`Leadership::acting`): it is applied
    /// in that term or not at all.
    pub term: Option<Option<i64>>,
}

/// What became of a cycle, reported back to the core.
#[derive(Debug, Clone)]
pub struct CycleReport {
    pub account: usize,
    pub correlation_id: String,
    /// e.g. `applied: 0 updated, 0 created, 16 deleted`.
    pub summary: String,
    pub changed_anything: bool,
    pub outcome: CycleOutcome,
}

/// How a cycle ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CycleOutcome {
    /// Applied in one transaction (some rows may have moved meanwhile).
    Applied,
    DryRun,
    /// Refused whole by the mass-change guard.
    Refused,
    /// Not tried: planned in a term this replica no longer acts in.
    Dropped,
    /// Changed nothing when it should have (a failure that will likely
    /// recur: permission, constraint, schema, journal): the core backs off,
    /// and the task pages once per reason.
    Failed(Failure),
}

/// A failed cycle's page, held back when it repeats the last one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Failure {
    pub summary: String,
    pub detail: String,
}

/// What the task needs to know about each account.
#[derive(Debug, Clone)]
pub struct AccountTarget {
    pub venue: String,
    pub account: String,
    pub mapping: Mapping,
    pub archive: TableName,
    pub mode: Mode,
}

pub struct Corrections {
    /// `None` when every account reads its bot over an API (corrections off).
    pub db: Option<BotDb>,
    pub journal: journal::Shared,
    /// Only the acting replica settles and applies corrections.
    pub leadership: crate::leader::Leadership,
    pub accounts: Vec<AccountTarget>,
    pub metrics: Arc<Metrics>,
    pub pages: broadcast::Sender<Page>,
}

/// An optional size as people read it: the number, or "none".
fn shown(size: Option<rust_decimal::Decimal>) -> String {
    size.map_or_else(|| "none".to_owned(), |s| s.normalize().to_string())
}

fn detail(c: &Correction) -> String {
    serde_json::json!({
        "row_key": c.row.as_ref().map(|r| r.row_key.clone()),
        "before": c.row.as_ref().map(|r| serde_json::json!({"side": r.side_word, "amount": r.amount.to_string()})),
        "target": c.target.map(|t| t.to_string()),
        "evidence": c.evidence,
    })
    .to_string()
}

impl Corrections {
    fn page(&self, t: &AccountTarget, id: &str, severity: Severity, summary: String, detail: String) {
        let _ = self.pages.send(Page {
            status: crate::notify::Status::Firing,
            subject: String::new(),
            id: id.to_owned(),
            severity,
            venue: t.venue.clone(),
            account: t.account.clone(),
            summary,
            detail,
            at: clock::now(),
        });
    }

    /// A cycle that changed nothing: every planned correction counts as
    /// failed; the page goes with the cycle's report (see [`run_corrections`]).
    fn fail(&self, t: &AccountTarget, plan: &CorrectionPlan, summary: String, detail: String) -> Failure {
        for c in &plan.corrections {
            self.count(t, c, Status::Failed);
        }
        Failure { summary, detail }
    }

    /// Pages a failure once per reason (a repeat is logged), and its end
    /// when a cycle of that account succeeds again.
    fn page_failure(&self, failing: &mut BTreeMap<usize, Failure>, account: usize, failure: Option<Failure>) {
        let t = &self.accounts[account];
        match failure {
            Some(f) if failing.get(&account).map(|p| &p.summary) == Some(&f.summary) => {
                tracing::warn!(account = %t.account, reason = %f.summary, "Correction cycle failed again, for the same reason; not paged again.");
            }
            Some(f) => {
                self.page(
                    t,
                    "correction_failed",
                    Severity::Critical,
                    f.summary.clone(),
                    f.detail.clone(),
                );
                failing.insert(account, f);
            }
            None => {
                if let Some(f) = failing.remove(&account) {
                    tracing::info!(account = %t.account, "Correction cycles succeed again.");
                    let _ = self.pages.send(Page {
                        status: crate::notify::Status::Resolved,
                        subject: String::new(),
                        id: "correction_failed".to_owned(),
                        severity: Severity::Critical,
                        venue: t.venue.clone(),
                        account: t.account.clone(),
                        summary: format!("{}: corrections succeed again", t.account),
                        detail: format!("the failure was: {}", f.summary),
                        at: clock::now(),
                    });
                }
            }
        }
    }

    fn count(&self, t: &AccountTarget, c: &Correction, result: Status) {
        self.metrics.correction(&t.venue, &t.account, c.op, result);
    }

    /// The journal, fenced by `term` (this replica's leadership, or a view
    /// of it pinned to one term), or `None` with the reason logged.
    async fn open_journal(&self, term: &crate::leader::Leadership) -> Option<Journal> {
        match self.journal.get().await {
            Ok(j) => Some(j.fenced(term.clone())),
            Err(e) => {
                tracing::error!(error = %e, "The action journal is unavailable; no correction is applied without it.");
                None
            }
        }
    }

    /// Settles entries a crash left `pending`, from the archive.
    async fn recover(&self, j: &Journal) {
        // Corrections only: an interrupted close is the closes task's to resume.
        let pending = match j.pending(journal::Kind::DbCorrection).await {
            Ok(p) => p,
            Err(e) => {
                tracing::error!(error = %e, "Cannot read pending journal entries.");
                return;
            }
        };
        let mut by_cycle: BTreeMap<String, Vec<Entry>> = BTreeMap::new();
        for e in pending {
            by_cycle.entry(e.correlation_id.clone()).or_default().push(e);
        }
        for (cid, entries) in by_cycle {
            let Some(t) = self.accounts.iter().find(|t| t.account == entries[0].account) else {
                continue;
            };
            let Some(db) = &self.db else {
                continue;
            };
            match correct::archived(db, &t.archive, &cid).await {
                Ok(archived) => {
                    let outcomes: Vec<(String, Status)> = entries
                        .iter()
                        .map(|e| {
                            let done = archived.iter().any(|(op, sym, _)| *op == e.op && *sym == e.symbol);
                            let status = if done { Status::Applied } else { Status::NotApplied };
                            (e.entry_id.clone(), status)
                        })
                        .collect();
                    let applied = outcomes.iter().filter(|(_, s)| *s == Status::Applied).count();
                    tracing::warn!(correlation_id = %cid, account = %t.account, entries = entries.len(), applied,
                        "Settled a correction cycle interrupted by a restart, from the archive.");
                    if let Err(e) = j.finish(&outcomes, clock::now()).await {
                        tracing::error!(error = %e, "Cannot settle pending journal entries.");
                    }
                }
                Err(e) => tracing::warn!(correlation_id = %cid, error = %e, "Cannot settle pending entries yet."),
            }
        }
    }

    async fn cycle(
        &self,
        journal: Option<Journal>,
        infos: &mut BTreeMap<usize, TableInfo>,
        req: CorrectionRequest,
    ) -> CycleReport {
        let t = &self.accounts[req.account];
        let cid = journal::new_correlation_id();
        let now = clock::now();
        let plan = req.plan;
        let summary = plan.summary();
        let report = |summary: String, changed, outcome| CycleReport {
            account: req.account,
            correlation_id: cid.clone(),
            summary,
            changed_anything: changed,
            outcome,
        };
        let failed = |summary: String, failure: Failure| report(summary, false, CycleOutcome::Failed(failure));
        let entry = |i: usize, c: &Correction, status: Status| Entry {
            entry_id: journal::entry_id(&cid, i),
            correlation_id: cid.clone(),
            created_at: now,
            kind: journal::Kind::DbCorrection,
            venue: t.venue.clone(),
            account: t.account.clone(),
            symbol: c.key.symbol.to_string(),
            op: c.op.as_str().into(),
            status,
            detail: detail(c),
            finished_at: (status != Status::Pending).then_some(now),
        };
        let Some(journal) = journal else {
            let f = self.fail(
                t,
                &plan,
                format!(
                    "{}: corrections not applied: the action journal is unavailable",
                    t.account
                ),
                summary.clone(),
            );
            return failed(format!("failed (no journal): {summary}"), f);
        };

        if let Some(reason) = &plan.refused {
            let entries: Vec<Entry> = plan
                .corrections
                .iter()
                .enumerate()
                .map(|(i, c)| entry(i, c, Status::Refused))
                .collect();
            if let Err(e) = journal.record(&entries).await {
                tracing::error!(error = %e, "Cannot journal a refused cycle.");
            }
            for c in &plan.corrections {
                self.count(t, c, Status::Refused);
            }
            self.metrics
                .db_correction_guard_refusals_total
                .with_label_values(&[&t.venue, &t.account])
                .inc();
            tracing::error!(correlation_id = %cid, account = %t.account, reason = %reason, would = %summary,
                "Correction cycle refused by a guard; nothing changed.");
            self.page(
                t,
                "correction_refused",
                Severity::Critical,
                format!("{}: correction refused: {reason}", t.account),
                format!("would have been: {summary}; correlation id {cid}"),
            );
            return report(format!("refused ({reason}): {summary}"), false, CycleOutcome::Refused);
        }

        if t.mode == Mode::DryRun {
            let entries: Vec<Entry> = plan
                .corrections
                .iter()
                .enumerate()
                .map(|(i, c)| entry(i, c, Status::DryRun))
                .collect();
            if let Err(e) = journal.record(&entries).await {
                tracing::error!(error = %e, "Cannot journal a dry run.");
            }
            for c in &plan.corrections {
                self.count(t, c, Status::DryRun);
                tracing::info!(correlation_id = %cid, account = %t.account, symbol = %c.key.symbol, op = c.op.as_str(),
                    before = %shown(c.row.as_ref().map(|r| r.size)), after = %shown(c.target), reason = %c.evidence.state,
                    "Dry run: would correct the bot's row.");
            }
            return report(format!("dry run: {summary}"), false, CycleOutcome::DryRun);
        }

        // Apply: the table's shape, the archive, then the journal, then the change.
        let Some(db) = &self.db else {
            let f = self.fail(
                t,
                &plan,
                format!("{}: corrections failed: no bot_db to correct", t.account),
                summary.clone(),
            );
            return failed(format!("failed (no bot_db): {summary}"), f);
        };
        let info = match infos.get(&req.account) {
            Some(i) => Ok(i.clone()),
            None => match db.introspect(&t.mapping.table).await {
                Ok(i) => match correct::ensure_archive(db, &t.archive).await {
                    Ok(()) => {
                        infos.insert(req.account, i.clone());
                        Ok(i)
                    }
                    Err(e) => Err(e),
                },
                Err(e) => Err(e),
            },
        };
        let info = match info {
            Ok(i) => i,
            Err(e) => {
                let f = self.fail(
                    t,
                    &plan,
                    format!("{}: corrections failed: {e}", t.account),
                    summary.clone(),
                );
                return failed(format!("failed ({e}): {summary}"), f);
            }
        };
        let entries: Vec<Entry> = plan
            .corrections
            .iter()
            .enumerate()
            .map(|(i, c)| entry(i, c, Status::Pending))
            .collect();
        if let Err(e) = journal.record(&entries).await {
            let f = self.fail(
                t,
                &plan,
                format!("{}: corrections not applied: cannot journal them: {e}", t.account),
                summary.clone(),
            );
            return failed(format!("failed (journal): {summary}"), f);
        }
        let ctx = Context {
            venue: &t.venue,
            account: &t.account,
            mapping: &t.mapping,
            info: &info,
            archive: &t.archive,
            correlation_id: &cid,
            now: clock::now(),
        };
        match correct::apply(db, &ctx, &plan.corrections).await {
            Ok(outcomes) => {
                let mut statuses = Vec::new();
                let mut applied = CorrectionPlan::default();
                for (i, (c, o)) in plan.corrections.iter().zip(&outcomes).enumerate() {
                    let status = match o {
                        RowOutcome::Applied => Status::Applied,
                        RowOutcome::Moved => Status::Moved,
                    };
                    if *o == RowOutcome::Applied {
                        applied.corrections.push(c.clone());
                    }
                    statuses.push((journal::entry_id(&cid, i), status));
                    self.count(t, c, status);
                    tracing::warn!(correlation_id = %cid, account = %t.account, symbol = %c.key.symbol, op = c.op.as_str(),
                        result = status.as_str(), before = %shown(c.row.as_ref().map(|r| r.size)), after = %shown(c.target),
                        reason = %c.evidence.state, "Corrected the bot's row.");
                }
                if let Err(e) = journal.finish(&statuses, clock::now()).await {
                    tracing::error!(correlation_id = %cid, error = %e, "Applied, but cannot journal the outcome; it will be settled from the archive at the next start.");
                }
                let moved = outcomes.iter().filter(|o| **o == RowOutcome::Moved).count();
                let line = format!(
                    "applied: {}{}",
                    applied.summary(),
                    if moved > 0 {
                        format!(", {moved} left alone (moved)")
                    } else {
                        String::new()
                    }
                );
                tracing::warn!(correlation_id = %cid, account = %t.account, summary = %line, "Correction cycle done.");
                report(line, !applied.corrections.is_empty(), CycleOutcome::Applied)
            }
            Err(e) => {
                let statuses: Vec<(String, Status)> = (0..plan.corrections.len())
                    .map(|i| (journal::entry_id(&cid, i), Status::Failed))
                    .collect();
                if let Err(je) = journal.finish(&statuses, clock::now()).await {
                    tracing::error!(error = %je, "Cannot journal a failed cycle.");
                }
                tracing::error!(correlation_id = %cid, account = %t.account, error = %e, "Correction cycle failed and was rolled back; nothing changed.");
                let f = self.fail(
                    t,
                    &plan,
                    format!("{}: correction cycle rolled back: {e}", t.account),
                    format!("planned: {summary}; correlation id {cid}"),
                );
                failed(format!("failed, rolled back ({e}): {summary}"), f)
            }
        }
    }
}

/// The `corrections` task: one cycle at a time, in arrival order.
pub async fn run_corrections(
    c: Corrections,
    mut requests: mpsc::Receiver<CorrectionRequest>,
    done: mpsc::Sender<CycleReport>,
    mut shutdown: watch::Receiver<bool>,
) -> anyhow::Result<()> {
    let mut infos: BTreeMap<usize, TableInfo> = BTreeMap::new();
    // account → the failure last paged, until a cycle succeeds.
    let mut failing: BTreeMap<usize, Failure> = BTreeMap::new();
    let mut leadership = c.leadership.clone();
    // The epoch under which interrupted cycles were last settled (a
    // standby settles none: the leader may be in the middle of one).
    let mut recovered_for = None;
    let correcting = c.accounts.iter().any(|t| t.mode != Mode::Off);
    loop {
        if let (true, Some(epoch)) = (correcting, leadership.acting()) {
            if recovered_for != Some(epoch) {
                if let Some(j) = c.open_journal(&leadership.pinned()).await {
                    c.recover(&j).await;
                    recovered_for = Some(epoch);
                }
            }
        }
        // A cycle in progress is finished before shutdown is honoured: the
        // transaction either commits or rolls back, and is journaled.
        let req = tokio::select! {
            biased;
            _ = shutdown.changed() => break,
            _ = leadership.changed() => continue,
            r = requests.recv() => match r { Some(r) => r, None => break },
        };
        // A plan is applied in the term it was made in. One made before this
        // replica lost the lead (and perhaps won it again) is dropped: the
        // next leader judged those rows on its own reads, and the core plans
        // again on a fresh read.
        let term = leadership.pinned();
        if term.acting() != req.term || req.term.is_none() {
            tracing::warn!(account = %c.accounts[req.account].account,
                "A correction planned in an earlier term is dropped; nothing changed.");
            let report = CycleReport {
                account: req.account,
                correlation_id: journal::new_correlation_id(),
                summary: "dropped: planned in an earlier term".into(),
                changed_anything: false,
                outcome: CycleOutcome::Dropped,
            };
            if done.send(report).await.is_err() {
                break;
            }
            continue;
        }
        let j = c.open_journal(&term).await;
        let report = c.cycle(j, &mut infos, req).await;
        match &report.outcome {
            CycleOutcome::Failed(f) => c.page_failure(&mut failing, report.account, Some(f.clone())),
            CycleOutcome::Applied => c.page_failure(&mut failing, report.account, None),
            CycleOutcome::DryRun | CycleOutcome::Refused | CycleOutcome::Dropped => {}
        }
        if done.send(report).await.is_err() {
            break;
        }
    }
    Ok(())
}
