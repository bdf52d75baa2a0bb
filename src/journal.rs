//! driftwatch's own action journal: every action is recorded before it is
//! attempted and its outcome after, in a store that survives restarts (an
//! embedded SQLite file by default, or PostgreSQL).
//!
//! An entry is `pending` from just before the attempt until its outcome is
//! known. Entries still `pending` at start-up belong to a cycle interrupted
//! by a crash or a kill; [`Journal::pending`] lists them so the caller can
//! settle each from the bot database's archive (written in the same
//! transaction as the change): archived means `applied`, absent means
//! `not_applied`. Nothing is ever re-applied from the journal: the next cycle
//! plans from fresh reads.

use std::str::FromStr;

use serde::Serialize;
use sqlx::any::{AnyPoolOptions, AnyRow};
use sqlx::{AnyPool, Row};

use crate::domain::Timestamp;
use crate::rules::Fired;

/// What an entry records. Each kind is settled after a crash by its own
/// owner: corrections from the bot database's archive, closes by resuming
/// them; neither ever touches the other's entries.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Kind {
    DbCorrection,
    EmergencyClose,
}

impl Kind {
    pub fn as_str(self) -> &'static str {
        match self {
            Kind::DbCorrection => "db_correction",
            Kind::EmergencyClose => "emergency_close",
        }
    }

    fn parse(s: &str) -> Result<Kind, String> {
        match s {
            "db_correction" => Ok(Kind::DbCorrection),
            "emergency_close" => Ok(Kind::EmergencyClose),
            other => Err(format!("unknown journal entry kind {other:?}")),
        }
    }
}

impl std::fmt::Display for Kind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.pad(self.as_str())
    }
}

/// Where an entry stands. Corrections end `applied`, `moved`, `dry_run`,
/// `refused`, `failed` or (settled after a crash) `not_applied`; closes end
/// as their outcome, or `abandoned` / `disarmed` when a restart does not
/// resume them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    Pending,
    Applied,
    Moved,
    DryRun,
    Refused,
    Failed,
    NotApplied,
    Verified,
    Unverified,
    NothingToDo,
    BelowLot,
    Disarmed,
    Abandoned,
}

impl Status {
    pub const ALL: [Status; 13] = [
        Status::Pending,
        Status::Applied,
        Status::Moved,
        Status::DryRun,
        Status::Refused,
        Status::Failed,
        Status::NotApplied,
        Status::Verified,
        Status::Unverified,
        Status::NothingToDo,
        Status::BelowLot,
        Status::Disarmed,
        Status::Abandoned,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Status::Pending => "pending",
            Status::Applied => "applied",
            Status::Moved => "moved",
            Status::DryRun => "dry_run",
            Status::Refused => "refused",
            Status::Failed => "failed",
            Status::NotApplied => "not_applied",
            Status::Verified => "verified",
            Status::Unverified => "unverified",
            Status::NothingToDo => "nothing_to_do",
            Status::BelowLot => "below_lot",
            Status::Disarmed => "disarmed",
            Status::Abandoned => "abandoned",
        }
    }
}

impl FromStr for Status {
    type Err = String;

    fn from_str(s: &str) -> Result<Status, String> {
        Status::ALL
            .into_iter()
            .find(|st| st.as_str() == s)
            .ok_or_else(|| format!("unknown journal status {s:?}"))
    }
}

impl std::fmt::Display for Status {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.pad(self.as_str())
    }
}

/// Reads as its word, for assertions and filters (`e.status == "verified"`).
impl PartialEq<&str> for Status {
    fn eq(&self, other: &&str) -> bool {
        self.as_str() == *other
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Entry {
    /// `<correlation id>/<index>`.
    pub entry_id: String,
    pub correlation_id: String,
    pub created_at: Timestamp,
    pub kind: Kind,
    pub venue: String,
    pub account: String,
    pub symbol: String,
    pub op: String,
    pub status: Status,
    /// JSON: what was planned, and the outcome's detail.
    pub detail: String,
    pub finished_at: Option<Timestamp>,
}

#[derive(Debug, Clone)]
pub struct Journal {
    pool: AnyPool,
    /// With leadership: entries are written only while the leader row
    /// holds this replica's epoch (see `leader`).
    fence: Option<crate::leader::Leadership>,
}

fn err(e: sqlx::Error) -> String {
    e.to_string()
}

const DDL: &str = "CREATE TABLE IF NOT EXISTS driftwatch_journal (\
    entry_id TEXT PRIMARY KEY, correlation_id TEXT NOT NULL, created_at_ms BIGINT NOT NULL, kind TEXT NOT NULL, \
    venue TEXT NOT NULL, account TEXT NOT NULL, symbol TEXT NOT NULL, op TEXT NOT NULL, status TEXT NOT NULL, \
    detail TEXT NOT NULL, finished_at_ms BIGINT)";

/// When each rule last fired for each subject: a cooldown outlives a restart.
const FIRED_DDL: &str = "CREATE TABLE IF NOT EXISTS driftwatch_rule_fired (\
    rule TEXT NOT NULL, venue TEXT NOT NULL, account TEXT NOT NULL, subject TEXT NOT NULL, \
    fired_at_ms BIGINT NOT NULL, PRIMARY KEY (rule, venue, account, subject))";

fn entry(r: &AnyRow) -> Result<Entry, sqlx::Error> {
    Ok(Entry {
        entry_id: r.try_get(0)?,
        correlation_id: r.try_get(1)?,
        created_at: Timestamp(r.try_get(2)?),
        kind: Kind::parse(&r.try_get::<String, _>(3)?).map_err(|e| sqlx::Error::Decode(e.into()))?,
        venue: r.try_get(4)?,
        account: r.try_get(5)?,
        symbol: r.try_get(6)?,
        op: r.try_get(7)?,
        status: Status::from_str(&r.try_get::<String, _>(8)?).map_err(|e| sqlx::Error::Decode(e.into()))?,
        detail: r.try_get(9)?,
        finished_at: r.try_get::<Option<i64>, _>(10)?.map(Timestamp),
    })
}

type Query<'q> = sqlx::query::Query<'q, sqlx::Any, sqlx::any::AnyArguments<'q>>;

fn insert(e: &Entry) -> Query<'static> {
    sqlx::query(
        "INSERT INTO driftwatch_journal (entry_id, correlation_id, created_at_ms, kind, venue, account, symbol, \
         op, status, detail, finished_at_ms) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)",
    )
    .bind(e.entry_id.clone())
    .bind(e.correlation_id.clone())
    .bind(e.created_at.0)
    .bind(e.kind.as_str())
    .bind(e.venue.clone())
    .bind(e.account.clone())
    .bind(e.symbol.clone())
    .bind(e.op.clone())
    .bind(e.status.as_str())
    .bind(e.detail.clone())
    .bind(e.finished_at.map(|t| t.0))
}

const COLUMNS: &str =
    "entry_id, correlation_id, created_at_ms, kind, venue, account, symbol, op, status, detail, finished_at_ms";

impl Journal {
    /// Opens (creating if needed) the journal at `url` (`sqlite://…?mode=rwc` or `postgres://…`).
    pub async fn open(url: &str) -> Result<Journal, String> {
        sqlx::any::install_default_drivers();
        let url = if url.starts_with("sqlite:") && !url.contains("mode=") {
            format!("{url}{}mode=rwc", if url.contains('?') { "&" } else { "?" })
        } else {
            url.to_owned()
        };
        let sqlite = url.starts_with("sqlite:");
        let pool = AnyPoolOptions::new()
            // A SQLite file takes one writer at a time: its writes queue in
            // the pool ([`Shared`]). A server takes the tasks' writes at once.
            .max_connections(if sqlite { 1 } else { 4 })
            // A server's idle connection may have died (checked before use);
            // a local SQLite file cannot, and the check costs a round trip
            // on every close.
            .test_before_acquire(!sqlite)
            .after_connect(move |conn, _| {
                Box::pin(async move {
                    if sqlite {
                        // WAL with NORMAL sync: a commit survives the process
                        // dying (the restart the journal exists for) without an
                        // fsync on every entry; a power cut may lose the last
                        // entries, and the next close is sized from a fresh read.
                        sqlx::Executor::execute(&mut *conn, "PRAGMA journal_mode=WAL").await?;
                        sqlx::Executor::execute(&mut *conn, "PRAGMA synchronous=NORMAL").await?;
                    }
                    Ok(())
                })
            })
            .connect(&url)
            .await
            .map_err(|e| format!("opening the journal: {e}"))?;
        for ddl in [DDL, FIRED_DDL] {
            // Another task or replica creating the same table at the same
            // moment makes PostgreSQL's IF NOT EXISTS fail once (a catalog
            // unique violation); the table exists when it is tried again.
            let mut tries = 0;
            loop {
                match sqlx::query(ddl).execute(&pool).await {
                    Ok(_) => break,
                    Err(e) if tries < 3 => {
                        tries += 1;
                        tracing::debug!(error = %e, "Creating a journal table raced another creator; trying again.");
                        tokio::time::sleep(std::time::Duration::from_millis(50 * tries)).await;
                    }
                    Err(e) => return Err(format!("creating the journal tables: {e}")),
                }
            }
        }
        Ok(Journal { pool, fence: None })
    }

    /// This journal, writing entries only while `leadership` acts for the
    /// epoch the leader row holds (no fence for a process acting alone).
    pub fn fenced(mut self, leadership: crate::leader::Leadership) -> Journal {
        if leadership.scope().is_some() {
            self.fence = Some(leadership);
        }
        self
    }

    /// Records entries only if this replica still leads: in one
    /// transaction that holds the leader row (`FOR SHARE`), so no other
    /// replica can take over between the check and the write.
    async fn record_fenced(&self, l: &crate::leader::Leadership, entries: &[Entry]) -> Result<(), String> {
        let mut tx = self.pool.begin().await.map_err(err)?;
        fence(&mut tx, l, "nothing is journaled, nothing is done").await?;
        for e in entries {
            insert(e).execute(&mut *tx).await.map_err(err)?;
        }
        tx.commit().await.map_err(err)
    }

    /// Records rule firings (the latest per rule and subject is kept).
    pub async fn record_fired(&self, fired: &[Fired]) -> Result<(), String> {
        let mut tx = self.pool.begin().await.map_err(err)?;
        for f in fired {
            sqlx::query(
                "INSERT INTO driftwatch_rule_fired (rule, venue, account, subject, fired_at_ms) \
                 VALUES ($1, $2, $3, $4, $5) ON CONFLICT (rule, venue, account, subject) \
                 DO UPDATE SET fired_at_ms = excluded.fired_at_ms",
            )
            .bind(f.rule.clone())
            .bind(f.venue.clone())
            .bind(f.account.clone())
            .bind(f.subject.clone())
            .bind(f.at.0)
            .execute(&mut *tx)
            .await
            .map_err(err)?;
        }
        tx.commit().await.map_err(err)
    }

    /// When each rule last fired for each subject.
    pub async fn fired(&self) -> Result<Vec<Fired>, String> {
        let rows = sqlx::query("SELECT rule, venue, account, subject, fired_at_ms FROM driftwatch_rule_fired")
            .fetch_all(&self.pool)
            .await
            .map_err(err)?;
        rows.iter()
            .map(|r| {
                Ok(Fired {
                    rule: r.try_get(0)?,
                    venue: r.try_get(1)?,
                    account: r.try_get(2)?,
                    subject: r.try_get(3)?,
                    at: Timestamp(r.try_get(4)?),
                })
            })
            .collect::<Result<_, sqlx::Error>>()
            .map_err(err)
    }

    /// Records entries (one transaction; one entry is one statement),
    /// before the action is attempted.
    pub async fn record(&self, entries: &[Entry]) -> Result<(), String> {
        if let Some(l) = &self.fence {
            return self.record_fenced(l, entries).await;
        }
        if let [e] = entries {
            // A close's entry is on its latency path: no BEGIN/COMMIT round trips.
            return insert(e).execute(&self.pool).await.map(drop).map_err(err);
        }
        let mut tx = self.pool.begin().await.map_err(err)?;
        for e in entries {
            insert(e).execute(&mut *tx).await.map_err(err)?;
        }
        tx.commit().await.map_err(err)
    }

    /// Records the outcome of entries (one transaction).
    pub async fn finish(&self, outcomes: &[(String, Status)], at: Timestamp) -> Result<(), String> {
        let mut tx = self.pool.begin().await.map_err(err)?;
        // A replica that no longer leads leaves outcomes to the leader,
        // which resumes or settles what is pending: an outcome is never
        // written over the leader's.
        if let Some(l) = &self.fence {
            fence(&mut tx, l, "the outcome is left to the leader").await?;
        }
        for (entry_id, status) in outcomes {
            sqlx::query("UPDATE driftwatch_journal SET status = $1, finished_at_ms = $2 WHERE entry_id = $3")
                .bind(status.as_str())
                .bind(at.0)
                .bind(entry_id.clone())
                .execute(&mut *tx)
                .await
                .map_err(err)?;
        }
        tx.commit().await.map_err(err)
    }

    /// Entries of `kind` whose outcome was never recorded.
    pub async fn pending(&self, kind: Kind) -> Result<Vec<Entry>, String> {
        let rows = sqlx::query(&format!(
            "SELECT {COLUMNS} FROM driftwatch_journal WHERE status = 'pending' AND kind = $1 \
             ORDER BY created_at_ms, entry_id"
        ))
        .bind(kind.as_str())
        .fetch_all(&self.pool)
        .await
        .map_err(err)?;
        rows.iter().map(entry).collect::<Result<_, _>>().map_err(err)
    }

    /// Entries since `since`, optionally for one symbol, oldest first.
    pub async fn history(&self, since: Timestamp, symbol: Option<&str>) -> Result<Vec<Entry>, String> {
        let rows = sqlx::query(&format!(
            "SELECT {COLUMNS} FROM driftwatch_journal WHERE created_at_ms >= $1 AND ($2 = '' OR symbol = $3) \
             ORDER BY created_at_ms, entry_id"
        ))
        .bind(since.0)
        .bind(symbol.unwrap_or("").to_owned())
        .bind(symbol.unwrap_or("").to_owned())
        .fetch_all(&self.pool)
        .await
        .map_err(err)?;
        rows.iter().map(entry).collect::<Result<_, _>>().map_err(err)
    }

    /// The latest `n` entries since `since`, newest first (the status page's).
    pub async fn latest(&self, since: Timestamp, n: u32) -> Result<Vec<Entry>, String> {
        let rows = sqlx::query(&format!(
            "SELECT {COLUMNS} FROM driftwatch_journal WHERE created_at_ms >= $1 \
             ORDER BY created_at_ms DESC, entry_id DESC LIMIT $2"
        ))
        .bind(since.0)
        .bind(i64::from(n))
        .fetch_all(&self.pool)
        .await
        .map_err(err)?;
        rows.iter().map(entry).collect::<Result<_, _>>().map_err(err)
    }

    pub async fn close(&self) {
        self.pool.close().await;
    }
}

/// The process's one journal: opened on first use (and tried again at the
/// next use after a failure), then shared by every task that writes or
/// reads it. One SQLite file takes one writer at a time; with a pool per
/// task, two writes at once (a rule's firing and its close's entry) made
/// the second wait in SQLite's busy handler, which sleeps whole
/// milliseconds: on the close's path to the wire. Shared, they queue in
/// the pool and follow each other at once.
#[derive(Debug, Clone)]
pub struct Shared {
    url: std::sync::Arc<str>,
    opened: std::sync::Arc<tokio::sync::Mutex<Option<Journal>>>,
}

impl Shared {
    pub fn new(url: &str) -> Shared {
        Shared {
            url: url.into(),
            opened: Default::default(),
        }
    }

    /// The journal, opening it if no use has yet.
    pub async fn get(&self) -> Result<Journal, String> {
        let mut opened = self.opened.lock().await;
        if let Some(j) = &*opened {
            return Ok(j.clone());
        }
        let j = Journal::open(&self.url).await?;
        *opened = Some(j.clone());
        Ok(j)
    }

    /// Closes the journal once every task is done with it.
    pub async fn close(&self) {
        if let Some(j) = self.opened.lock().await.take() {
            j.close().await;
        }
    }
}

/// `<correlation id>/<index>`, zero-padded so entries sort in plan order.
pub fn entry_id(correlation_id: &str, index: usize) -> String {
    format!("{correlation_id}/{index:04}")
}

/// A new correlation id (a UUID v4).
pub fn new_correlation_id() -> String {
    uuid::Uuid::new_v4().to_string()
}

/// Parses `--since` values: a duration back from `now` (`90m`, `2h`) or
/// epoch milliseconds.
pub fn parse_since(s: &str, now: Timestamp) -> Result<Timestamp, String> {
    if let Ok(ms) = i64::from_str(s) {
        return Ok(Timestamp(ms));
    }
    let d = crate::config::duration::parse(s)?;
    Ok(Timestamp(now.0 - d.as_millis() as i64))
}

/// Whether `l` still leads, checked inside `tx` while it holds the leader
/// row (`FOR SHARE`): no other replica can take over before `tx` ends.
async fn fence(
    tx: &mut sqlx::Transaction<'_, sqlx::Any>,
    l: &crate::leader::Leadership,
    otherwise: &str,
) -> Result<(), String> {
    let (Some(Some(epoch)), Some(scope)) = (l.acting(), l.scope()) else {
        return Err(format!("this replica is not the leader: {otherwise}"));
    };
    let current: Option<i64> = sqlx::query("SELECT epoch FROM driftwatch_leader WHERE scope = $1 FOR SHARE")
        .bind(scope.to_owned())
        .fetch_optional(&mut **tx)
        .await
        .map_err(err)?
        .map(|r| r.try_get(0))
        .transpose()
        .map_err(err)?;
    if current != Some(epoch) {
        return Err(format!(
            "leadership epoch {epoch} is stale (the leader row holds {current:?}): refused, {otherwise}"
        ));
    }
    Ok(())
}
