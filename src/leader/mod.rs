//! Two replicas, one acts (issue `[ha]`).
//!
//! With `leadership:` configured, every replica watches (its own view,
//! metrics and table) and only the leader acts. Who leads is decided by a
//! [`Coordinator`]: a PostgreSQL advisory lock held on a dedicated
//! connection (`postgres.rs`), or a Kubernetes `Lease` (`lease.rs`). Either
//! way the journal's PostgreSQL keeps one row per scope in
//! `driftwatch_leader` (epoch, holder, backend pid, heartbeat), and with the
//! lock:
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

pub mod lease;
pub mod lease_sim;
mod postgres;

use sqlx::{Connection, PgConnection};
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
    /// Pinned to one term ([`Leadership::pinned`]), or following the role.
    term: Term,
}

/// Which terms a [`Leadership`] acts in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Term {
    /// Whatever the role is now.
    Any,
    /// Only as the leader of this epoch.
    Epoch(i64),
    /// Never: pinned while not leading.
    Never,
}

impl Leadership {
    /// A process that acts alone.
    pub fn solo() -> Leadership {
        let (_, rx) = watch::channel(Role::Solo);
        Leadership {
            rx,
            scope: None,
            term: Term::Any,
        }
    }

    /// This view pinned to the term it acts in now: it acts only while this
    /// replica leads under the same epoch. A close runs in one term: a
    /// leader stopped or cut off mid-close, whose intent the next leader
    /// resumed, must not send nor journal for it even if it leads again
    /// later under a new epoch. (Alone, nothing changes.)
    pub fn pinned(&self) -> Leadership {
        let term = match self.acting() {
            Some(Some(epoch)) => Term::Epoch(epoch),
            Some(None) => Term::Any,
            None => Term::Never,
        };
        Leadership { term, ..self.clone() }
    }

    /// Whether this replica may act now: `Some(None)` alone, `Some(Some(epoch))`
    /// as the leader of `epoch`, `None` as a standby (or a leader whose
    /// renewal is overdue).
    pub fn acting(&self) -> Option<Option<i64>> {
        let now = match *self.rx.borrow() {
            Role::Solo => Some(None),
            Role::Leader { epoch, until } if Instant::now() < until => Some(Some(epoch)),
            _ => None,
        };
        match self.term {
            Term::Any => now,
            Term::Epoch(pinned) => now.filter(|a| *a == Some(pinned)),
            Term::Never => None,
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

/// What decides who leads.
#[derive(Debug, Clone)]
pub enum Coordinator {
    /// A PostgreSQL advisory lock in the journal's database.
    Postgres,
    /// A Kubernetes `Lease` (`leadership.lease`).
    Lease(lease::LeaseConfig),
}

/// The `leadership:` section.
#[derive(Debug, Clone)]
pub struct LeaderConfig {
    /// The journal's PostgreSQL: the leader row (the fence), and the lock.
    pub url: crate::secret::Secret,
    /// Replicas of one deployment share a scope; others never contend.
    pub scope: String,
    /// A standby takes over once the leader has been silent this long.
    pub takeover_after: Duration,
    pub coordinator: Coordinator,
}

/// A replica's connections to what coordinates it.
#[derive(Default)]
pub(crate) struct Links {
    conn: Option<PgConnection>,
    lease: lease::LeaseState,
    /// The last coordination failure logged, and when: the same one is
    /// logged again only after [`REPEAT_LOG`], not at every round.
    logged: Option<(String, Instant)>,
}

/// How often an unchanged coordination failure is logged again.
pub const REPEAT_LOG: Duration = Duration::from_secs(60);

impl Links {
    /// Whether `failure` is worth a log line now (new, or repeated after
    /// [`REPEAT_LOG`]); a success resets it.
    fn worth_logging(&mut self, failure: Option<&str>) -> bool {
        let Some(f) = failure else {
            self.logged = None;
            return false;
        };
        match &self.logged {
            Some((last, at)) if last == f && at.elapsed() < REPEAT_LOG => false,
            _ => {
                self.logged = Some((f.to_owned(), Instant::now()));
                true
            }
        }
    }
}

/// The dedicated connection to the journal's PostgreSQL (made, with the
/// leader table, when missing).
async fn connect<'a>(
    cfg: &LeaderConfig,
    conn: &'a mut Option<PgConnection>,
) -> Result<&'a mut PgConnection, sqlx::Error> {
    if conn.is_none() {
        let mut c = PgConnection::connect(cfg.url.expose()).await?;
        sqlx::query(postgres::DDL).execute(&mut c).await?;
        *conn = Some(c);
    }
    conn.as_mut().ok_or(sqlx::Error::PoolClosed)
}

/// Starts the leadership task; the handle says the role, and `report` hears
/// the epoch this replica acts for (`None`: it does not lead) after every step.
pub fn start(
    cfg: LeaderConfig,
    report: impl Fn(Option<i64>) + Send + 'static,
    shutdown: watch::Receiver<bool>,
) -> (Leadership, impl std::future::Future<Output = anyhow::Result<()>>) {
    let (tx, rx) = watch::channel(Role::Standby);
    let handle = Leadership {
        rx,
        scope: Some(cfg.scope.clone()),
        term: Term::Any,
    };
    (handle, run(cfg, tx, report, shutdown))
}

async fn run(
    cfg: LeaderConfig,
    tx: watch::Sender<Role>,
    report: impl Fn(Option<i64>),
    mut shutdown: watch::Receiver<bool>,
) -> anyhow::Result<()> {
    let holder = format!(
        "{}/{}",
        std::env::var("HOSTNAME").unwrap_or_else(|_| "host".into()),
        std::process::id()
    );
    let tick = cfg.takeover_after / 5;
    let mut links = Links::default();
    loop {
        let role = *tx.borrow();
        let next = step(&cfg, &holder, &mut links, role).await;
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
        report(epoch_of(next));
        tokio::select! {
            _ = shutdown.changed() => break,
            _ = tokio::time::sleep(tick) => {}
        }
    }
    // Leaving: free the lock (or the Lease) at once rather than after
    // takeover_after.
    if let Coordinator::Lease(_) = cfg.coordinator {
        let _ = tokio::time::timeout(cfg.takeover_after / 4, lease::release(&holder, &mut links)).await;
    }
    if let Some(mut c) = links.conn {
        let _ = sqlx::query("SELECT pg_advisory_unlock_all()").execute(&mut c).await;
        let _ = c.close().await;
    }
    let _ = tx.send(Role::Standby);
    Ok(())
}

/// One round: renew as the leader, or try to become it.
async fn step(cfg: &LeaderConfig, holder: &str, links: &mut Links, role: Role) -> Role {
    // Taken before the round trip: the lease runs from when the renewal was sent.
    let sent = Instant::now();
    let bound = cfg.takeover_after / 4;
    let round = async {
        match &cfg.coordinator {
            Coordinator::Postgres => postgres::round(cfg, holder, &mut links.conn, role)
                .await
                .map_err(|e| format!("the database: {e}")),
            Coordinator::Lease(l) => lease::round(cfg, l, holder, links, role).await,
        }
    };
    let result = tokio::time::timeout(bound, round).await;
    match result {
        Ok(Ok(led)) => {
            links.worth_logging(None);
            match led {
                Some(epoch) => Role::Leader {
                    epoch,
                    until: sent + cfg.takeover_after / 2,
                },
                None => Role::Standby,
            }
        }
        Ok(Err(e)) => {
            if links.worth_logging(Some(&e)) {
                tracing::warn!(scope = %cfg.scope, error = %e, "Leadership: cannot coordinate; not acting.");
            }
            links.conn = None;
            Role::Standby
        }
        Err(_) => {
            if links.worth_logging(Some("timeout")) {
                tracing::warn!(scope = %cfg.scope, "Leadership: no answer in time; not acting.");
            }
            links.conn = None;
            Role::Standby
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A view pinned to a term acts only in that term: not as a standby, and
    /// not when this replica leads again under a later epoch.
    #[test]
    fn a_pinned_view_acts_only_in_its_own_term() {
        let until = Instant::now() + std::time::Duration::from_secs(60);
        let (tx, rx) = watch::channel(Role::Leader { epoch: 5, until });
        let live = Leadership {
            rx,
            scope: Some("s".into()),
            term: Term::Any,
        };
        let pinned = live.pinned();
        assert_eq!(pinned.acting(), Some(Some(5)));
        tx.send(Role::Standby).unwrap();
        assert_eq!((live.acting(), pinned.acting()), (None, None));
        let standby_pin = live.pinned();
        tx.send(Role::Leader { epoch: 7, until }).unwrap();
        assert_eq!(live.acting(), Some(Some(7)));
        assert_eq!(pinned.acting(), None, "a later term is not the pinned one's");
        assert_eq!(standby_pin.acting(), None, "pinned while not leading: never acts");
        assert_eq!(live.pinned().acting(), Some(Some(7)));
        // Alone, pinning changes nothing.
        assert_eq!(Leadership::solo().pinned().acting(), Some(None));
    }

    /// A coordination failure that lasts is logged once a minute, not at
    /// every round; a new one at once; after a success, again at once.
    #[test]
    fn a_lasting_failure_is_not_logged_at_every_round() {
        let mut links = Links::default();
        assert!(links.worth_logging(Some("forbidden (403)")));
        assert!(!links.worth_logging(Some("forbidden (403)")));
        assert!(links.worth_logging(Some("the database: refused")));
        assert!(!links.worth_logging(None));
        assert!(links.worth_logging(Some("the database: refused")));
    }
}
