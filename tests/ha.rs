//! Issue [ha]: two `driftwatch run` processes on one account, a real
//! PostgreSQL journal (where the leadership lock lives), the simulated
//! Pacifica and a shared bot database. Exactly one acts; killing it (-9)
//! or stopping it (SIGSTOP) hands over within the configured time; a
//! stopped leader that comes back does not act again; and across the
//! failovers every stale row is corrected once, never twice.

mod common;

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use common::*;

/// `takeover_after` in these tests.
const TAKEOVER: Duration = Duration::from_secs(2);

struct Replica {
    child: Child,
    port: u16,
}

impl Replica {
    fn start(config_text: &str, dir: &TempDir, name: &str) -> Replica {
        let port = free_port();
        let path = dir.path().join(format!("{name}.yaml"));
        std::fs::write(
            &path,
            config_text.replace("listen: 127.0.0.1:0", &format!("listen: 127.0.0.1:{port}")),
        )
        .unwrap();
        let child = Command::new(env!("CARGO_BIN_EXE_driftwatch"))
            .args(["run", "--config", path.to_str().unwrap()])
            .env_remove("RUST_LOG")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        Replica { child, port }
    }

    async fn metrics(&self) -> String {
        let url = format!("http://127.0.0.1:{}/metrics", self.port);
        match reqwest::get(&url).await {
            Ok(r) => r.text().await.unwrap_or_default(),
            Err(_) => String::new(),
        }
    }

    /// `driftwatch_leader`, once the replica serves metrics.
    async fn leader(&self) -> Option<f64> {
        sample(&self.metrics().await, "driftwatch_leader")
    }

    fn signal(&self, sig: &str) {
        let ok = Command::new("kill")
            .args([sig, &self.child.id().to_string()])
            .status()
            .unwrap()
            .success();
        assert!(ok, "kill {sig}");
    }
}

impl Drop for Replica {
    fn drop(&mut self) {
        self.signal("-CONT");
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

async fn until(what: &str, timeout: Duration, mut f: impl AsyncFnMut() -> bool) -> Duration {
    let started = Instant::now();
    while started.elapsed() < timeout {
        if f().await {
            return started.elapsed();
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("timed out after {timeout:?} waiting for {what}");
}

async fn insert_stale(db: &str, symbol: &str) {
    let pool = sqlx::SqlitePool::connect(db).await.unwrap();
    sqlx::query(
        "INSERT INTO positions (strategy_id, symbol, side, amount, entry_price, realized_pnl, opened_at, updated_at) \
         VALUES ('vwm_momentum_1', ?, 'bid', 1, 1, 0, 'x', 'x')",
    )
    .bind(symbol)
    .execute(&pool)
    .await
    .unwrap();
    pool.close().await;
}

async fn row_gone(db: &str, symbol: &str) -> bool {
    let pool = sqlx::SqlitePool::connect(db).await.unwrap();
    let n: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM positions WHERE symbol = ?")
        .bind(symbol)
        .fetch_one(&pool)
        .await
        .unwrap();
    pool.close().await;
    n == 0
}

/// The journal's applied deletions, by symbol.
async fn deletions(journal: &str) -> Vec<(String, i64)> {
    texts(
        journal,
        "SELECT symbol, CAST(COUNT(*) AS TEXT) FROM driftwatch_journal \
         WHERE kind = 'db_correction' AND status = 'applied' GROUP BY symbol ORDER BY symbol",
    )
    .await
    .into_iter()
    .map(|r| (r[0].clone().unwrap(), r[1].clone().unwrap().parse().unwrap()))
    .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_replicas_one_acts_and_hands_over_on_kill_and_stop_without_acting_twice() {
    let Some(journal) = pg_database("ha").await else {
        return;
    };
    let sim = start_sim(Default::default()).await;
    sim.sim.open(ACCOUNT, "ZEC", "ask", "0.1", "649.2");
    let dir = TempDir::new("ha");
    let db = sqlite_db(&dir, &[("ZEC", "ask", 0.1)]).await;
    let config = format!(
        "{}leadership: {{scope: ha-test, takeover_after: {}s}}\n",
        fast_config_with(
            &sim.addrs,
            &db,
            NEXWAVE_MAPPING,
            "    correct: {mode: apply, confirmations: 2}\n",
            &journal
        ),
        TAKEOVER.as_secs()
    );

    // A starts first and leads; B watches.
    let a = Replica::start(&config, &dir, "a");
    until("A to lead", Duration::from_secs(20), async || {
        a.leader().await == Some(1.0)
    })
    .await;
    let b = Replica::start(&config, &dir, "b");
    until("B to watch, as a standby", Duration::from_secs(20), async || {
        let m = b.metrics().await;
        sample(&m, "driftwatch_leader") == Some(0.0)
            && sample(&m, "driftwatch_last_reconcile_timestamp_seconds").is_some_and(|t| t > 0.0)
    })
    .await;

    // One stale row: corrected once, by the leader.
    insert_stale(&db, "WLFI").await;
    until("WLFI to be corrected", Duration::from_secs(30), async || {
        row_gone(&db, "WLFI").await
    })
    .await;
    assert_eq!(b.leader().await, Some(0.0), "B never acted");

    // kill -9 the leader: B takes over within the configured time (its
    // lock dies with A's connection; a few ticks of slack).
    a.signal("-KILL");
    let took = until("B to lead after A was killed", TAKEOVER * 5, async || {
        b.leader().await == Some(1.0)
    })
    .await;
    eprintln!("takeover after kill -9: {took:?}");
    insert_stale(&db, "XPL").await;
    until("XPL to be corrected by B", Duration::from_secs(30), async || {
        row_gone(&db, "XPL").await
    })
    .await;

    // A new replica joins as standby; then the leader B is stopped
    // (SIGSTOP: its connection stays open, its heartbeat stops). The
    // standby ends B's session and takes over.
    let c = Replica::start(&config, &dir, "c");
    until("C to watch", Duration::from_secs(20), async || {
        c.leader().await == Some(0.0)
    })
    .await;
    b.signal("-STOP");
    let took = until("C to lead after B stopped", TAKEOVER * 6, async || {
        c.leader().await == Some(1.0)
    })
    .await;
    eprintln!("takeover after SIGSTOP: {took:?}");
    insert_stale(&db, "ENA").await;
    until("ENA to be corrected by C", Duration::from_secs(30), async || {
        row_gone(&db, "ENA").await
    })
    .await;

    // B comes back: it must see it lost, and not act.
    b.signal("-CONT");
    until("B to report standby after it resumed", TAKEOVER * 5, async || {
        b.leader().await == Some(0.0)
    })
    .await;
    insert_stale(&db, "CRV").await;
    until("CRV to be corrected", Duration::from_secs(30), async || {
        row_gone(&db, "CRV").await
    })
    .await;
    assert_eq!(c.leader().await, Some(1.0), "C still leads");

    // Every stale row was deleted once: one applied journal entry each.
    assert_eq!(
        deletions(&journal).await,
        vec![
            ("CRV".to_owned(), 1),
            ("ENA".to_owned(), 1),
            ("WLFI".to_owned(), 1),
            ("XPL".to_owned(), 1)
        ]
    );
    // Three leaderships: A, B, C (a lost lock is never regained silently).
    let epoch = texts(
        &journal,
        "SELECT CAST(epoch AS TEXT) FROM driftwatch_leader WHERE scope = 'ha-test'",
    )
    .await;
    assert_eq!(epoch[0][0].as_deref(), Some("3"));
    drop(c);
    drop(b);
}

/// The fence itself: a leader whose epoch the leader row no longer holds
/// (another replica took over while this one was cut off) cannot journal,
/// so it cannot start a correction or a close; a standby cannot either.
#[tokio::test]
async fn the_journal_refuses_a_stale_epoch() {
    use driftwatch::journal::{Entry, Journal, Kind, Status};
    let Some(url) = pg_database("fence").await else {
        return;
    };
    let metrics = std::sync::Arc::new(driftwatch::metrics::Metrics::new(&[]));
    let (_stop, rx) = tokio::sync::watch::channel(false);
    let cfg = driftwatch::leader::LeaderConfig {
        url: driftwatch::secret::Secret::new(url.clone()),
        scope: "fence".into(),
        takeover_after: TAKEOVER,
    };
    let (leadership, task) = driftwatch::leader::start(cfg, metrics, rx);
    let journal = Journal::open(&url).await.unwrap().fenced(leadership.clone());
    let entry = |id: &str| Entry {
        entry_id: id.into(),
        correlation_id: id.into(),
        created_at: driftwatch::clock::now(),
        kind: Kind::DbCorrection,
        venue: "pacifica".into(),
        account: "main".into(),
        symbol: "SOL".into(),
        op: "deleted".into(),
        status: Status::Pending,
        detail: "{}".into(),
        finished_at: None,
    };
    // Not the leader yet (the task has not run): refused.
    let refused = journal.record(&[entry("before")]).await.unwrap_err();
    assert!(refused.contains("not the leader"), "{refused}");
    let handle = tokio::spawn(task);
    until("the leadership", Duration::from_secs(10), async || {
        leadership.acting().is_some()
    })
    .await;
    journal.record(&[entry("leading")]).await.unwrap();
    // Another replica's epoch now (as after a takeover this one missed).
    exec(
        &url,
        "UPDATE driftwatch_leader SET epoch = epoch + 1 WHERE scope = 'fence'",
    )
    .await;
    let stale = journal.record(&[entry("stale")]).await.unwrap_err();
    assert!(stale.contains("is stale"), "{stale}");
    let ids = texts(&url, "SELECT entry_id FROM driftwatch_journal ORDER BY entry_id").await;
    assert_eq!(ids, vec![vec![Some("leading".to_owned())]]);
    // And the replica notices at its next renewal: it stops acting.
    until("the replica to step down", TAKEOVER * 3, async || {
        leadership.acting().is_none()
    })
    .await;
    handle.abort();
}
