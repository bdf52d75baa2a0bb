//! Two replicas, one acts: leadership on PostgreSQL (issue `[ha]`).
//!
//! With `leadership:` configured, every replica watches (its own view,
//! metrics and table) and only the leader acts. Leadership is a PostgreSQL
//! advisory lock held on a dedicated connection, plus one row per scope in
//! `driftwatch_leader` (epoch, holder, the lock's backend pid, heartbeat):
//! - a replica that takes the lock bumps the epoch and is the leader of that
//!   epoch; it renews the heartbeat every `takeover_after / 5`;
//! - it acts only until `takeover_after / 2` after its last renewal was sent
//!   (a hung, stopped or cut-off leader stops acting on its own);
//! - a standby whose heartbeat reading is older than `takeover_after`
//!   terminates the silent holder's backend (which frees the lock) and takes
//!   it, so a leader that hangs with its connection open is still replaced;
//! - every journal entry (and so every correction and close, which are
//!   journaled before they are attempted) is written only while the row
//!   still holds the writer's epoch (`Journal::record` when fenced): a
//!   leader that lost the lock cannot start anything after the other began.
//!
//! Without `leadership:`, the process acts alone ([`Leadership::solo`]).

use std::time::Duration;

use sqlx::{Connection, PgConnection, Row};
use tokio::sync::watch;
use tokio::time::Instant;

/// What a replica may do now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    /// No leadership configured: this process acts alone, unfenced.
    Solo,
    /// Watching only.
    Standby,
    /// Acting, for `epoch`, until `until` unless renewed.
    Leader { epoch: i64, until: Instant },
}

/// A replica's view of its role, shared by the core and the action tasks.
#[derive(Debug, Clone)]
pub struct Leadership {
    rx: watch::Receiver<Role>,
    /// The lock's scope, when leadership is configured.
    scope: Option<String>,
}

impl Leadership {
    /// A process that acts alone.
    pub fn solo() -> Leadership {
        let (_, rx) = watch::channel(Role::Solo);
        Leadership { rx, scope: None }
    }

    /// Whether this replica may act now: `Some(None)` alone, `Some(Some(epoch))`
    /// as the leader of `epoch`, `None` as a standby (or a leader whose
    /// renewal is overdue).
    pub fn acting(&self) -> Option<Option<i64>> {
        match *self.rx.borrow() {
            Role::Solo => Some(None),
            Role::Leader { epoch, until } if Instant::now() < until => Some(Some(epoch)),
            _ => None,
        }
    }

    /// The scope the journal fences on (`None`: alone, unfenced).
    pub fn scope(&self) -> Option<&str> {
        self.scope.as_deref()
    }

    /// Waits for the role to change (never returns for a solo process).
    pub async fn changed(&mut self) {
        if self.rx.changed().await.is_err() {
            std::future::pending::<()>().await;
        }
    }
}

/// The `leadership:` section.
#[derive(Debug, Clone)]
pub struct LeaderConfig {
    /// The PostgreSQL the lock lives in (the journal's).
    pub url: crate::secret::Secret,
    /// Replicas of one deployment share a scope; others never contend.
    pub scope: String,
    /// A standby takes over once the leader has been silent this long.
    pub takeover_after: Duration,
}

/// The advisory lock's key for `scope` (stable across versions: FNV-1a).
pub fn lock_key(scope: &str) -> i64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in format!("driftwatch/{scope}").bytes() {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0000_0100_0000_01b3);
    }
    h as i64
}

pub const DDL: &str = "CREATE TABLE IF NOT EXISTS driftwatch_leader (\
    scope TEXT PRIMARY KEY, epoch BIGINT NOT NULL, holder TEXT NOT NULL, \
    backend_pid INTEGER NOT NULL, heartbeat_at TIMESTAMPTZ NOT NULL)";

/// Starts the leadership task; the handle says the role.
pub fn start(
    cfg: LeaderConfig,
    metrics: std::sync::Arc<crate::metrics::Metrics>,
    shutdown: watch::Receiver<bool>,
) -> (Leadership, impl std::future::Future<Output = anyhow::Result<()>>) {
    let (tx, rx) = watch::channel(Role::Standby);
    let handle = Leadership {
        rx,
        scope: Some(cfg.scope.clone()),
    };
    (handle, run(cfg, tx, metrics, shutdown))
}

async fn run(
    cfg: LeaderConfig,
    tx: watch::Sender<Role>,
    metrics: std::sync::Arc<crate::metrics::Metrics>,
    mut shutdown: watch::Receiver<bool>,
) -> anyhow::Result<()> {
    let holder = format!(
        "{}/{}",
        std::env::var("HOSTNAME").unwrap_or_else(|_| "host".into()),
        std::process::id()
    );
    let tick = cfg.takeover_after / 5;
    let mut conn: Option<PgConnection> = None;
    loop {
        let role = *tx.borrow();
        let next = step(&cfg, &holder, &mut conn, role).await;
        let epoch_of = |r: Role| match r {
            Role::Leader { epoch, .. } => Some(epoch),
            _ => None,
        };
        match (epoch_of(role), epoch_of(next)) {
            (None, Some(epoch)) => tracing::warn!(scope = %cfg.scope, epoch, "This replica is the leader: it acts."),
            (Some(_), None) => tracing::error!(scope = %cfg.scope, "Leadership lost: this replica stops acting."),
            _ => {}
        }
        // A renewal only moves `until` (read by `acting`): it wakes nobody.
        // A new role or epoch wakes the action tasks (settle, resume).
        tx.send_if_modified(|r| {
            let changed = epoch_of(*r) != epoch_of(next);
            *r = next;
            changed
        });
        metrics.leadership(epoch_of(next));
        tokio::select! {
            _ = shutdown.changed() => break,
            _ = tokio::time::sleep(tick) => {}
        }
    }
    // Leaving: free the lock at once rather than after takeover_after.
    if let Some(mut c) = conn {
        let _ = sqlx::query("SELECT pg_advisory_unlock_all()").execute(&mut c).await;
        let _ = c.close().await;
    }
    let _ = tx.send(Role::Standby);
    Ok(())
}

/// One round: renew as the leader, or try to become it.
async fn step(cfg: &LeaderConfig, holder: &str, conn: &mut Option<PgConnection>, role: Role) -> Role {
    // Taken before the round trip: the lease runs from when the renewal was sent.
    let sent = Instant::now();
    let bound = cfg.takeover_after / 4;
    let result = tokio::time::timeout(bound, round(cfg, holder, conn, role)).await;
    match result {
        Ok(Ok(Some(epoch))) => Role::Leader {
            epoch,
            until: sent + cfg.takeover_after / 2,
        },
        Ok(Ok(None)) => Role::Standby,
        Ok(Err(e)) => {
            tracing::warn!(scope = %cfg.scope, error = %e, "Leadership: the database is unreachable; not acting.");
            *conn = None;
            Role::Standby
        }
        Err(_) => {
            tracing::warn!(scope = %cfg.scope, "Leadership: the database did not answer in time; not acting.");
            *conn = None;
            Role::Standby
        }
    }
}

/// The epoch this replica leads after the round, if any.
async fn round(
    cfg: &LeaderConfig,
    holder: &str,
    conn: &mut Option<PgConnection>,
    role: Role,
) -> Result<Option<i64>, sqlx::Error> {
    if conn.is_none() {
        let mut c = PgConnection::connect(cfg.url.expose()).await?;
        sqlx::query(DDL).execute(&mut c).await?;
        *conn = Some(c);
    }
    let Some(c) = conn.as_mut() else {
        return Ok(None);
    };
    let key = lock_key(&cfg.scope);
    if let Role::Leader { epoch, .. } = role {
        let renewed = sqlx::query(
            "UPDATE driftwatch_leader SET heartbeat_at = now() \
             WHERE scope = $1 AND epoch = $2 AND backend_pid = pg_backend_pid()",
        )
        .bind(&cfg.scope)
        .bind(epoch)
        .execute(&mut *c)
        .await?;
        if renewed.rows_affected() == 1 {
            return Ok(Some(epoch));
        }
        // Someone else holds the row: give the lock up too.
        sqlx::query("SELECT pg_advisory_unlock_all()").execute(&mut *c).await?;
        return Ok(None);
    }
    let got: bool = sqlx::query("SELECT pg_try_advisory_lock($1)")
        .bind(key)
        .fetch_one(&mut *c)
        .await?
        .try_get(0)?;
    if got {
        let epoch: i64 = sqlx::query(
            "INSERT INTO driftwatch_leader (scope, epoch, holder, backend_pid, heartbeat_at) \
             VALUES ($1, 1, $2, pg_backend_pid(), now()) \
             ON CONFLICT (scope) DO UPDATE SET epoch = driftwatch_leader.epoch + 1, \
             holder = excluded.holder, backend_pid = excluded.backend_pid, heartbeat_at = now() \
             RETURNING epoch",
        )
        .bind(&cfg.scope)
        .bind(holder)
        .fetch_one(&mut *c)
        .await?
        .try_get(0)?;
        return Ok(Some(epoch));
    }
    // Someone holds the lock. Silent for longer than takeover_after (hung,
    // stopped): end its session, which frees the lock for the next round.
    let silent = sqlx::query(
        "SELECT backend_pid FROM driftwatch_leader WHERE scope = $1 \
         AND heartbeat_at < now() - make_interval(secs => $2)",
    )
    .bind(&cfg.scope)
    .bind(cfg.takeover_after.as_secs_f64())
    .fetch_optional(&mut *c)
    .await?;
    if let Some(row) = silent {
        let pid: i32 = row.try_get(0)?;
        tracing::warn!(scope = %cfg.scope, pid, "The leader has been silent past takeover_after: ending its session.");
        sqlx::query("SELECT pg_terminate_backend($1)")
            .bind(pid)
            .execute(&mut *c)
            .await?;
    }
    Ok(None)
}

#[cfg(test)]
mod tests {
    #[test]
    fn lock_keys_are_stable_and_scoped() {
        assert_eq!(super::lock_key("a"), super::lock_key("a"));
        assert_ne!(super::lock_key("a"), super::lock_key("b"));
    }
}
