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

/// The documented bound on a handover: `takeover_after` of silence, then up
/// to two rounds (`takeover_after / 5` each) to notice it and take over;
/// plus the 100 ms at which the tests poll the replicas' metrics.
const HANDOVER_BOUND: Duration = Duration::from_millis(2000 + 2 * 400 + 200);

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
        let mut command = Command::new(env!("CARGO_BIN_EXE_driftwatch"));
        command
            .args(["run", "--config", path.to_str().unwrap()])
            .env_remove("RUST_LOG");
        // DRIFTWATCH_TEST_REPLICA_LOG (a RUST_LOG filter), to debug a failure.
        if let Ok(filter) = std::env::var("DRIFTWATCH_TEST_REPLICA_LOG") {
            command.env("RUST_LOG", filter);
        }
        let child = command
            .stdout(Stdio::null())
            // The replica's log, for when a test fails.
            .stderr(std::fs::File::create(dir.path().join(format!("{name}.log"))).unwrap())
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

/// A fast test config for the simulated Pacifica account with `correct`,
/// the journal on PostgreSQL and leadership under `scope`.
fn pair_config(sim: &SimHandle, db: &str, correct: &str, journal: &str, scope: &str) -> String {
    coordinated_config(sim, db, correct, journal, scope, "")
}

/// [`pair_config`], with more of the `leadership:` section (`, lease: {...}`).
fn coordinated_config(sim: &SimHandle, db: &str, correct: &str, journal: &str, scope: &str, more: &str) -> String {
    format!(
        "{}leadership: {{scope: {scope}, takeover_after: {}s{more}}}\n",
        fast_config_with(&sim.addrs, db, NEXWAVE_MAPPING, correct, journal),
        TAKEOVER.as_secs()
    )
}

/// The API server simulator's Lease endpoints, with `token` allowed, and
/// the `lease:` config that points a replica at them.
struct Leases {
    sim: driftwatch::leader::lease_sim::LeaseSim,
    url: String,
    _stop: tokio::sync::watch::Sender<bool>,
}

impl Leases {
    async fn start() -> Leases {
        let (stop, rx) = tokio::sync::watch::channel(false);
        let (sim, addr) = driftwatch::leader::lease_sim::LeaseSim::start("127.0.0.1:0".parse().unwrap(), rx)
            .await
            .unwrap();
        Leases {
            sim,
            url: format!("http://{addr}"),
            _stop: stop,
        }
    }

    /// `, lease: {...}` for a replica using `token` (written to a file in `dir`).
    fn config(&self, dir: &TempDir, token: &str) -> String {
        let file = dir.path().join(format!("{token}.token"));
        std::fs::write(&file, format!("{token}\n")).unwrap();
        format!(
            ", lease: {{name: driftwatch-ha, namespace: trading, api_url: \"{}\", token_file: \"{}\"}}",
            self.url,
            file.display()
        )
    }

    /// One replica (named `name`) on the simulated Pacifica, coordinated by
    /// the Lease with `token`, under `scope`; the simulator lives as long.
    async fn replica(
        &self,
        dir: &TempDir,
        journal: &str,
        (scope, token, name): (&str, &str, &str),
    ) -> (SimHandle, Replica) {
        let sim = start_sim(Default::default()).await;
        let db = sqlite_db(dir, &[]).await;
        let config = coordinated_config(
            &sim,
            &db,
            "    correct: {mode: apply, confirmations: 2}\n",
            journal,
            scope,
            &self.config(dir, token),
        );
        let r = Replica::start(&config, dir, name);
        (sim, r)
    }

    fn holder(&self) -> String {
        self.sim.holder("trading", "driftwatch-ha").unwrap_or_default()
    }

    /// Reads of the Lease made with `token` so far.
    fn reads_by(&self, token: &str) -> usize {
        self.sim
            .requests()
            .iter()
            .filter(|(m, _, t)| m == "GET" && t == token)
            .count()
    }
}

/// A pair's config that closes: `rules` in a rules dir, the Pacifica test
/// key armed, `correct`, leadership under `scope`, `extra` top-level lines.
fn closing_config(
    sim: &SimHandle,
    dir: &TempDir,
    db: &str,
    journal: &str,
    (rules, correct, scope, extra): (&str, &str, &str, &str),
) -> String {
    let rules_dir = dir.path().join("rules");
    std::fs::create_dir_all(&rules_dir).unwrap();
    std::fs::write(rules_dir.join("r.yaml"), rules).unwrap();
    let key = dir.path().join("key");
    std::fs::write(
        &key,
        "2Ana1pUpv2ZbMVkwF5FXapYeBEjdxDatLn7nvJkhgTSdZd8hbDHTd21as7EAsg7ypityqfsw2pMQKJcVDVcAEsd",
    )
    .unwrap();
    format!(
        "{}rules: {{dir: {}}}\n{extra}leadership: {{scope: {scope}, takeover_after: {}s}}\n",
        fast_config_with(
            &sim.addrs,
            db,
            NEXWAVE_MAPPING,
            &format!(
                "    correct: {correct}\n    close: {{key: {{file: {}}}, armed: true, verify_timeout: 5s}}\n",
                key.display()
            ),
            journal
        ),
        rules_dir.display(),
        TAKEOVER.as_secs()
    )
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
    let dir = TempDir::new("ha");
    one_acts_and_hands_over(&journal, &dir, "").await;
}

/// The same with a Kubernetes Lease deciding who leads (the API server's
/// Lease endpoints simulated; the epoch fence in PostgreSQL as before).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_lease_pair_one_acts_and_hands_over_on_kill_and_stop_without_acting_twice() {
    let Some(journal) = pg_database("ha_lease").await else {
        return;
    };
    let dir = TempDir::new("ha-lease");
    let leases = Leases::start().await;
    leases.sim.token("dw-token", true);
    let last = one_acts_and_hands_over(&journal, &dir, &leases.config(&dir, "dw-token")).await;
    // The Lease says the same: the last replica to take over holds it.
    assert!(
        leases.holder().ends_with(&format!("/{last}")),
        "{} is not replica {last}",
        leases.holder()
    );
    let lease = leases.sim.lease("trading", "driftwatch-ha").unwrap();
    assert_eq!(lease["spec"]["leaseDurationSeconds"], TAKEOVER.as_secs());
    assert_eq!(lease["spec"]["leaseTransitions"], 2, "{lease}");
}

/// Two replicas, then a third: kill -9 and SIGSTOP hand over, a stopped
/// leader that resumes stays a standby, every stale row corrected once.
/// Returns the process id of the replica that leads at the end.
async fn one_acts_and_hands_over(journal: &str, dir: &TempDir, coordinator: &str) -> u32 {
    let journal = journal.to_owned();
    let sim = start_sim(Default::default()).await;
    sim.sim.open(ACCOUNT, "ZEC", "ask", "0.1", "649.2");
    let db = sqlite_db(dir, &[("ZEC", "ask", 0.1)]).await;
    let config = coordinated_config(
        &sim,
        &db,
        "    correct: {mode: apply, confirmations: 2}\n",
        &journal,
        "ha-test",
        coordinator,
    );

    // A starts first and leads; B watches.
    let a = Replica::start(&config, dir, "a");
    until("A to lead", Duration::from_secs(20), async || {
        a.leader().await == Some(1.0)
    })
    .await;
    let b = Replica::start(&config, dir, "b");
    until("B to watch, as a standby", Duration::from_secs(20), async || {
        let m = b.metrics().await;
        sample(&m, "driftwatch_leader") == Some(0.0)
            && sample(&m, "driftwatch_last_reconcile_timestamp_seconds").is_some_and(|t| t > 0.0)
    })
    .await;

    // Each says what it is, on its status page's JSON twin.
    let role = |r: &Replica| {
        let url = format!("http://127.0.0.1:{}/api/v1/state", r.port);
        async move {
            let v: serde_json::Value = reqwest::get(&url).await.unwrap().json().await.unwrap();
            v["role"].as_str().unwrap_or_default().to_owned()
        }
    };
    assert!(role(&a).await.contains("leads (epoch 1)"), "{}", role(&a).await);
    assert!(role(&b).await.contains("STANDBY"), "{}", role(&b).await);

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
    assert!(took <= HANDOVER_BOUND, "{took:?} is past the bound {HANDOVER_BOUND:?}");
    insert_stale(&db, "XPL").await;
    until("XPL to be corrected by B", Duration::from_secs(30), async || {
        row_gone(&db, "XPL").await
    })
    .await;

    // A new replica joins as standby; then the leader B is stopped
    // (SIGSTOP: its connection stays open, its heartbeat stops). The
    // standby ends B's session and takes over.
    let c = Replica::start(&config, dir, "c");
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
    assert!(took <= HANDOVER_BOUND, "{took:?} is past the bound {HANDOVER_BOUND:?}");
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
    let last = c.child.id();
    drop(c);
    drop(b);
    last
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
    let (_stop, rx) = tokio::sync::watch::channel(false);
    let cfg = driftwatch::leader::LeaderConfig {
        url: driftwatch::secret::Secret::new(url.clone()),
        scope: "fence".into(),
        takeover_after: TAKEOVER,
        coordinator: driftwatch::leader::Coordinator::Postgres,
    };
    let (leadership, task) = driftwatch::leader::start(cfg, |_| {}, rx);
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
    // Nor can it write an outcome over what the new leader settles.
    let outcome = journal
        .finish(&[("leading".into(), Status::Applied)], driftwatch::clock::now())
        .await
        .unwrap_err();
    assert!(outcome.contains("left to the leader"), "{outcome}");
    let ids = texts(
        &url,
        "SELECT entry_id || ' ' || status FROM driftwatch_journal ORDER BY entry_id",
    )
    .await;
    assert_eq!(ids, vec![vec![Some("leading pending".to_owned())]]);
    // And the replica notices at its next renewal: it stops acting.
    until("the replica to step down", TAKEOVER * 3, async || {
        leadership.acting().is_none()
    })
    .await;
    handle.abort();
}

/// Twenty failovers, each cutting short a correction and a close: every
/// round a stale row and an untracked position appear together; once the
/// close is journaled, the leader is killed (-9), cut off from its
/// database, or stopped (SIGSTOP, resumed once another leads). Across them
/// no correction is applied twice, and every close executes once, under the
/// one client order id its intent was journaled with.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn twenty_failovers_never_apply_a_correction_or_a_close_twice() {
    use driftwatch::venue::pacifica::sim::SimConfig;
    use rust_decimal::Decimal;
    let Some(journal) = pg_database("ha20").await else {
        return;
    };
    // Orders wait in the venue's speed bump: a failover often lands mid-send.
    let sim = start_sim(SimConfig {
        speed_bump: Duration::from_millis(400),
        ..SimConfig::default()
    })
    .await;
    sim.sim.set_mark("SOL", "150");
    let dir = TempDir::new("ha20");
    let _logs = LogsOnFailure(dir.path().to_owned());
    let db = sqlite_db(&dir, &[]).await;
    let config = closing_config(
        &sim,
        &dir,
        &db,
        &journal,
        (
            "rules:\n  - id: untracked-position\n    condition: {untracked_position: {notional_usd: 25}}\n    for: 1s\n    cooldown: 1s\n    severity: critical\n    actions: [alert, close_position]\n  - id: stale\n    condition: {stale_db_row: {}}\n    cooldown: 1s\n    severity: warning\n    actions: [alert, correct_db]\n",
            "{mode: apply, confirmations: 2}",
            "ha-twenty",
            "closes: {max_per_hour: 100}\n",
        ),
    );
    let mut replicas = vec![Replica::start(&config, &dir, "r0"), Replica::start(&config, &dir, "r1")];
    let mut started = 2;
    let mut expected = Vec::new();
    // The close intents journaled, with `status` (a SQL condition).
    let closes_in = |status: &'static str| {
        let journal = journal.clone();
        async move {
            try_texts(
                &journal,
                &format!(
                    "SELECT correlation_id FROM driftwatch_journal WHERE kind = 'emergency_close' AND status {status} ORDER BY created_at_ms"
                ),
            )
            .await
            .unwrap_or_default()
            .into_iter()
            .filter_map(|r| r[0].clone())
            .collect::<Vec<String>>()
        }
    };
    for round in 0..20 {
        // Exactly one leads.
        let mut leader = None;
        until("exactly one leader", Duration::from_secs(20), async || {
            let mut leaders = Vec::new();
            for (i, r) in replicas.iter().enumerate() {
                match r.leader().await {
                    Some(1.0) => leaders.push(i),
                    Some(_) => {}
                    None => return false,
                }
            }
            leader = leaders.first().copied();
            leaders.len() == 1
        })
        .await;
        // Markets the venue lists (a row on another is never corrected).
        const SYMBOLS: [&str; 9] = ["BTC", "ETH", "VIRTUAL", "BNB", "XRP", "ASTER", "LDO", "CRV", "ENA"];
        let symbol = SYMBOLS[round % SYMBOLS.len()].to_owned();
        insert_stale(&db, &symbol).await;
        sim.sim.open(ACCOUNT, "SOL", "bid", "0.5", "150");
        until(
            "the round's close to be journaled",
            Duration::from_secs(30),
            async || !closes_in("= 'pending'").await.is_empty(),
        )
        .await;
        let leader = leader.unwrap();
        match round % 3 {
            0 => {
                // kill -9, and a fresh replica joins in its place.
                replicas[leader].signal("-KILL");
                replicas.remove(leader);
                replicas.push(Replica::start(&config, &dir, &format!("r{started}")));
                started += 1;
            }
            1 => {
                // Its database connection is cut: it must step down, and
                // the lock is won again (by either replica) under a new epoch.
                let epoch_now = || async {
                    texts(
                        &journal,
                        "SELECT CAST(epoch AS TEXT) FROM driftwatch_leader WHERE scope = 'ha-twenty'",
                    )
                    .await[0][0]
                        .clone()
                };
                let before = epoch_now().await;
                exec(
                    &journal,
                    "SELECT pg_terminate_backend(backend_pid) FROM driftwatch_leader WHERE scope = 'ha-twenty'",
                )
                .await;
                until("a new epoch after the cut", Duration::from_secs(20), async || {
                    epoch_now().await != before
                })
                .await;
            }
            _ => {
                // Stopped: another takes over; it resumes as a standby.
                replicas[leader].signal("-STOP");
                let other = 1 - leader;
                until("the other to lead while it is stopped", TAKEOVER * 6, async || {
                    replicas[other].leader().await == Some(1.0)
                })
                .await;
                replicas[leader].signal("-CONT");
            }
        }
        until(
            "the round's row corrected and its close settled",
            Duration::from_secs(30),
            async || {
                row_gone(&db, &symbol).await
                    && sim.sim.position(ACCOUNT, "SOL") == Decimal::ZERO
                    && closes_in("= 'pending'").await.is_empty()
            },
        )
        .await;
        match expected.iter_mut().find(|(s, _)| *s == symbol) {
            Some((_, n)) => *n += 1,
            None => expected.push((symbol, 1)),
        }
    }
    expected.sort();
    assert_eq!(deletions(&journal).await, expected);
    // Every close executed once: 0.5 SOL per round, each round's fills
    // under one client order id, and every id a journaled intent's.
    let orders = sim.sim.orders();
    let mut filled: std::collections::BTreeMap<String, Decimal> = Default::default();
    for o in &orders {
        let id = o.body["client_order_id"].as_str().unwrap_or_default().to_owned();
        *filled.entry(id).or_default() += o.filled;
    }
    filled.retain(|_, f| !f.is_zero());
    // No two closes of one position overlapped: the venue never had to trim
    // a reduce-only order to the position it found.
    assert_eq!(sim.sim.reduce_only_trimmed(), 0, "{filled:?}");
    assert_eq!(filled.len(), 20, "one executing id per round: {filled:?}");
    assert!(filled.values().all(|f| *f == Decimal::new(5, 1)), "{filled:?}");
    let journaled = closes_in("IS NOT NULL").await;
    assert!(
        filled.keys().all(|id| journaled.contains(id)),
        "every executing id is a journaled intent's: {filled:?} {journaled:?}"
    );
    let statuses = texts(
        &journal,
        "SELECT status || ' ' || CAST(COUNT(*) AS TEXT) FROM driftwatch_journal WHERE kind = 'emergency_close' GROUP BY status ORDER BY status",
    )
    .await;
    eprintln!(
        "{} orders reached the venue for 20 closes; intents by outcome: {:?}",
        orders.len(),
        statuses
            .iter()
            .map(|r| r[0].clone().unwrap_or_default())
            .collect::<Vec<_>>()
    );
    // Each intent's outcome was written once, by a leader: none failed.
    assert!(
        closes_in("= 'failed'").await.is_empty(),
        "{:?}",
        closes_in("IS NOT NULL").await
    );
    let epoch = texts(
        &journal,
        "SELECT CAST(epoch AS TEXT) FROM driftwatch_leader WHERE scope = 'ha-twenty'",
    )
    .await;
    let epoch: i64 = epoch[0][0].as_deref().unwrap().parse().unwrap();
    assert!(epoch >= 21, "a new epoch per failover at least: {epoch}");
    // Every close completed or was handed over: none backed off. A replica
    // that counted its handed-over closes as failures carried a back-off
    // into its next term as leader, and held a real close past 30 s.
    for e in std::fs::read_dir(dir.path()).unwrap().flatten() {
        if e.path().extension().is_some_and(|x| x == "log") {
            let log = std::fs::read_to_string(e.path()).unwrap();
            let backed_off: Vec<&str> = log
                .lines()
                .filter(|l| l.contains("The close did not complete"))
                .collect();
            assert!(backed_off.is_empty(), "{}: {backed_off:#?}", e.path().display());
        }
    }
}

/// A close in flight when its leader is killed (-9) is resumed by the new
/// leader from the journal with the same client order id: the venue sees
/// one intent, and executes the position once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_close_cut_short_by_kill_is_resumed_by_the_new_leader_with_its_client_order_id() {
    use driftwatch::venue::pacifica::sim::SimConfig;
    let Some(journal) = pg_database("haclose").await else {
        return;
    };
    // Orders wait 2 s in the venue's speed bump: time to kill the sender.
    let sim = start_sim(SimConfig {
        speed_bump: Duration::from_secs(2),
        ..SimConfig::default()
    })
    .await;
    sim.sim.set_mark("SOL", "150");
    sim.sim.open(ACCOUNT, "SOL", "bid", "0.5", "150");
    let dir = TempDir::new("haclose");
    let db = sqlite_db(&dir, &[]).await;
    let config = closing_config(
        &sim,
        &dir,
        &db,
        &journal,
        (
            "rules:\n  - id: untracked-position\n    condition: {untracked_position: {notional_usd: 25}}\n    for: 1s\n    cooldown: 10m\n    severity: critical\n    actions: [alert, close_position]\n",
            "{mode: off}",
            "ha-close",
            "",
        ),
    );
    let a = Replica::start(&config, &dir, "a");
    until("A to lead", Duration::from_secs(20), async || {
        a.leader().await == Some(1.0)
    })
    .await;
    let b = Replica::start(&config, &dir, "b");
    until("B to watch", Duration::from_secs(20), async || {
        b.leader().await == Some(0.0)
    })
    .await;
    let pending = || async {
        try_texts(
            &journal,
            "SELECT correlation_id FROM driftwatch_journal WHERE kind = 'emergency_close' AND status = 'pending'",
        )
        .await
        .unwrap_or_default()
    };
    // The leader's rule fires and its close is journaled: kill it there.
    let journaled = tokio::time::timeout(Duration::from_secs(20), async {
        while pending().await.is_empty() {
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    })
    .await;
    assert!(
        journaled.is_ok(),
        "A never journaled the close; its log:\n{}",
        std::fs::read_to_string(dir.path().join("a.log")).unwrap_or_default()
    );
    let cloid = pending().await[0][0].clone().unwrap();
    a.signal("-KILL");
    until("B to lead", TAKEOVER * 5, async || b.leader().await == Some(1.0)).await;
    until("the close to be settled", Duration::from_secs(30), async || {
        texts(
            &journal,
            "SELECT status FROM driftwatch_journal WHERE kind = 'emergency_close' ORDER BY created_at_ms",
        )
        .await
        .first()
        .is_some_and(|r| r[0].as_deref() == Some("verified"))
    })
    .await;
    assert_eq!(sim.sim.position(ACCOUNT, "SOL"), rust_decimal::Decimal::ZERO);
    let orders = sim.sim.orders();
    assert!(!orders.is_empty());
    assert!(
        orders.iter().all(|o| o.body["client_order_id"] == cloid.as_str()),
        "one client order id for the intent, across the failover: {:?}",
        orders
            .iter()
            .map(|o| o.body["client_order_id"].clone())
            .collect::<Vec<_>>()
    );
    let executed: rust_decimal::Decimal = orders.iter().map(|o| o.filled).sum();
    assert_eq!(
        executed,
        "0.5".parse::<rust_decimal::Decimal>().unwrap(),
        "executed once"
    );
    let closes = texts(
        &journal,
        "SELECT CAST(COUNT(*) AS TEXT) FROM driftwatch_journal WHERE kind = 'emergency_close'",
    )
    .await;
    assert_eq!(
        closes[0][0].as_deref(),
        Some("1"),
        "one intent, resumed, not a second one"
    );
    let b_log = std::fs::read_to_string(dir.path().join("b.log")).unwrap();
    assert!(
        b_log.contains("Resuming a close interrupted by a restart") && b_log.contains(&cloid),
        "B resumed A's close: {b_log}"
    );
}

/// Kill -9 mid-correction: the leader has journaled its cycle and waits on
/// a lock the bot holds on its table when it dies. The new leader settles
/// the interrupted cycle from the archive (nothing was applied) and then
/// corrects the row itself, once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_correction_cut_short_by_kill_is_settled_and_applied_once_by_the_new_leader() {
    let Some(journal) = pg_database("hacorr").await else {
        return;
    };
    let sim = start_sim(Default::default()).await;
    let dir = TempDir::new("hacorr");
    let db = sqlite_db(&dir, &[]).await;
    let config = pair_config(
        &sim,
        &db,
        "    correct: {mode: apply, confirmations: 2}\n",
        &journal,
        "ha-corr",
    );
    let a = Replica::start(&config, &dir, "a");
    until("A to lead", Duration::from_secs(20), async || {
        a.leader().await == Some(1.0)
    })
    .await;
    let b = Replica::start(&config, &dir, "b");
    until("B to watch", Duration::from_secs(20), async || {
        b.leader().await == Some(0.0)
    })
    .await;

    // A first correction, so the archive table exists (it is created at
    // the first one, before anything is journaled).
    insert_stale(&db, "XPL").await;
    until("XPL to be corrected by A", Duration::from_secs(30), async || {
        row_gone(&db, "XPL").await
    })
    .await;

    // The bot holds its table's write lock while A's correction comes.
    insert_stale(&db, "WLFI").await;
    let mut bot = sqlx::SqliteConnection::connect(&db).await.unwrap();
    use sqlx::Connection;
    sqlx::query("BEGIN IMMEDIATE").execute(&mut bot).await.unwrap();
    let pending = || async {
        try_texts(
            &journal,
            "SELECT entry_id FROM driftwatch_journal WHERE kind = 'db_correction' AND status = 'pending'",
        )
        .await
        .unwrap_or_default()
    };
    let journaled = tokio::time::timeout(Duration::from_secs(20), async {
        while pending().await.is_empty() {
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    })
    .await;
    assert!(
        journaled.is_ok(),
        "A never journaled its cycle; its log:\n{}",
        std::fs::read_to_string(dir.path().join("a.log")).unwrap_or_default()
    );
    a.signal("-KILL");
    sqlx::query("ROLLBACK").execute(&mut bot).await.unwrap();
    drop(bot);

    until("B to lead", TAKEOVER * 5, async || b.leader().await == Some(1.0)).await;
    until("WLFI to be corrected by B", Duration::from_secs(30), async || {
        row_gone(&db, "WLFI").await
    })
    .await;
    until("A's cycle to be settled", Duration::from_secs(10), async || {
        pending().await.is_empty()
    })
    .await;
    assert_eq!(
        deletions(&journal).await,
        vec![("WLFI".to_owned(), 1), ("XPL".to_owned(), 1)]
    );
    let statuses = texts(
        &journal,
        "SELECT status FROM driftwatch_journal WHERE kind = 'db_correction' AND symbol = 'WLFI' ORDER BY created_at_ms",
    )
    .await;
    assert_eq!(statuses.len(), 2, "A's interrupted entry and B's: {statuses:?}");
    assert_ne!(
        statuses[0][0].as_deref(),
        Some("applied"),
        "A's never applied: {statuses:?}"
    );
    let pool = sqlx::SqlitePool::connect(&db).await.unwrap();
    let archived: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM driftwatch_archive WHERE symbol = 'WLFI'")
        .fetch_one(&pool)
        .await
        .unwrap_or(-1);
    assert_eq!(archived, 1, "archived once");
}

/// The HA alerts on a real Prometheus scraping a real pair (with its
/// staleness handling, which promtool only imitates), routed by the real
/// Alertmanager with the shipped example to an SMTP server: the leader
/// killed, the dead replica is `DriftwatchReplicaDown`, mailed to the team
/// as a warning, and nothing pages (no `DriftwatchDown`, no
/// `DriftwatchTwoLeaders`); both dead, each is `DriftwatchDown`, paged once
/// to on-call under a subject that names the pair's scope.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_real_prometheus_pages_for_a_dead_pair_and_warns_for_a_dead_replica() {
    let Some(journal) = pg_database("haprom").await else {
        return;
    };
    let sim = start_sim(Default::default()).await;
    let dir = TempDir::new("haprom");
    let _logs = LogsOnFailure(dir.path().to_owned());
    let Some(sink) = common::smtp::SmtpSink::start(&dir, common::smtp::SmtpMode::Plain, None) else {
        return;
    };
    let Some((_am, am_port, am_log)) = common::alerting::alertmanager(dir.path(), sink.port) else {
        return;
    };
    common::alerting::wait_ready("alertmanager", &format!("http://127.0.0.1:{am_port}/-/ready"), &am_log).await;
    let db = sqlite_db(&dir, &[]).await;
    let config = pair_config(&sim, &db, "    correct: {mode: off}\n", &journal, "ha-prom");
    let a = Replica::start(&config, &dir, "a");
    until("A to lead", Duration::from_secs(20), async || {
        a.leader().await == Some(1.0)
    })
    .await;
    let b = Replica::start(&config, &dir, "b");
    until("B to watch", Duration::from_secs(20), async || {
        b.leader().await == Some(0.0)
    })
    .await;

    let prom_port = free_port();
    let prom_config = dir.path().join("prometheus.yml");
    std::fs::write(
        &prom_config,
        format!(
            "global: {{scrape_interval: 1s, evaluation_interval: 1s}}\nrule_files: [{}]\nalerting:\n  alertmanagers:\n    - static_configs: [{{targets: ['127.0.0.1:{am_port}']}}]\nscrape_configs:\n  - job_name: driftwatch\n    static_configs:\n      - targets: ['127.0.0.1:{}', '127.0.0.1:{}']\n        labels: {{scope: ha-prom}}\n",
            common::alerting::fast_rules(dir.path()).display(),
            a.port,
            b.port
        ),
    )
    .unwrap();
    let log = std::fs::File::create(dir.path().join("prometheus.log")).unwrap();
    let prom = match Command::new("prometheus")
        .args([
            format!("--config.file={}", prom_config.display()),
            format!("--storage.tsdb.path={}", dir.path().join("tsdb").display()),
            format!("--web.listen-address=127.0.0.1:{prom_port}"),
        ])
        .stdout(Stdio::null())
        .stderr(log)
        .spawn()
    {
        Ok(p) => p,
        Err(e) => {
            skip_or_fail("prometheus", e);
            return;
        }
    };
    struct Kill(Child);
    impl Drop for Kill {
        fn drop(&mut self) {
            let _ = self.0.kill();
            let _ = self.0.wait();
        }
    }
    let _prom = Kill(prom);
    let query = |q: &str| {
        let url = format!("http://127.0.0.1:{prom_port}/api/v1/query");
        let q = q.to_owned();
        async move {
            let Ok(r) = reqwest::Client::new()
                .get(&url)
                .query(&[("query", q.as_str())])
                .send()
                .await
            else {
                return Vec::new();
            };
            let v: serde_json::Value = r.json().await.unwrap_or_default();
            v["data"]["result"].as_array().cloned().unwrap_or_default()
        }
    };
    let firing = |name: &str| {
        let q = format!("ALERTS{{alertname=\"{name}\", alertstate=\"firing\"}}");
        let query = &query;
        async move {
            query(&q)
                .await
                .iter()
                .map(|s| s["metric"]["instance"].as_str().unwrap_or_default().to_owned())
                .collect::<Vec<_>>()
        }
    };
    // Prometheus sees the pair: one leader, one standby, scope-labelled.
    until(
        "Prometheus to scrape both replicas",
        Duration::from_secs(30),
        async || {
            query("sum by (scope) (driftwatch_leader)")
                .await
                .first()
                .is_some_and(|s| s["metric"]["scope"] == "ha-prom" && s["value"][1] == "1")
                && query("driftwatch_leader").await.len() == 2
        },
    )
    .await;

    a.signal("-KILL");
    until("B to lead", TAKEOVER * 5, async || b.leader().await == Some(1.0)).await;
    let a_instance = format!("127.0.0.1:{}", a.port);
    until(
        "DriftwatchReplicaDown for the dead leader",
        Duration::from_secs(30),
        async || firing("DriftwatchReplicaDown").await == vec![a_instance.clone()],
    )
    .await;
    assert!(
        firing("DriftwatchDown").await.is_empty(),
        "another replica acts: no page"
    );
    assert!(
        firing("DriftwatchTwoLeaders").await.is_empty(),
        "the dead one's series went stale"
    );
    assert!(firing("DriftwatchNoLeader").await.is_empty());
    // A warning for the team, not a page.
    let warned = sink
        .wait_for("for the dead replica", Duration::from_secs(30), |m| {
            common::smtp::subject(m).contains("DriftwatchReplicaDown")
        })
        .await;
    assert!(warned.contains("trading-team@example.com"), "{warned}");
    let pages = || {
        sink.messages()
            .into_iter()
            .filter(|m| m.contains("oncall@example.com"))
            .map(|m| common::smtp::subject(&m))
            .collect::<Vec<_>>()
    };
    assert!(pages().is_empty(), "nothing pages while a replica acts: {:?}", pages());

    drop(b);
    until(
        "DriftwatchDown for both once nothing acts",
        Duration::from_secs(30),
        async || firing("DriftwatchDown").await.len() == 2,
    )
    .await;
    let paged = sink
        .wait_for("paging the dead pair", Duration::from_secs(30), |m| {
            common::smtp::subject(m).contains("DriftwatchDown")
        })
        .await;
    assert!(paged.contains("oncall@example.com"), "{paged}");
    assert_eq!(common::smtp::subject(&paged), "[FIRING] DriftwatchDown scope ha-prom");
    // One page for one problem: the two replicas' alerts in one message
    // (waited out past Alertmanager's 1 s group interval of this test).
    tokio::time::sleep(Duration::from_secs(3)).await;
    let down: Vec<String> = pages().into_iter().filter(|s| s.contains("DriftwatchDown")).collect();
    assert_eq!(down, ["[FIRING] DriftwatchDown scope ha-prom"], "{:?}", pages());
    drop(a);
}

/// The Python client of Kubernetes (`kubernetes`, its `LeaderElection` over
/// a `LeaseLock`; `KUBERNETES_CLIENT_PYTHON` names an interpreter that has
/// it, as scripts/test sets up) and driftwatch contend for one Lease on the
/// API server simulator: while the client leads, driftwatch watches as a
/// standby; the client killed, driftwatch takes the Lease over; while
/// driftwatch leads, a new client candidate waits; driftwatch stopped
/// (SIGTERM) hands the Lease back and the client takes it at once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn driftwatch_and_the_official_client_share_one_lease() {
    let python = std::env::var("KUBERNETES_CLIENT_PYTHON").unwrap_or_else(|_| "python3".into());
    let has = Command::new(&python)
        .args(["-c", "import kubernetes.leaderelection.resourcelock.leaselock"])
        .output()
        .is_ok_and(|o| o.status.success());
    if !has {
        skip_or_fail(
            "the Kubernetes Python client (kubernetes)",
            format!("{python} cannot import it"),
        );
        return;
    }
    let Some(journal) = pg_database("ha_lease_client").await else {
        return;
    };
    let dir = TempDir::new("ha-lease-client");
    let _logs = LogsOnFailure(dir.path().to_owned());
    let leases = Leases::start().await;
    leases.sim.token("dw-token", true);
    leases.sim.token("py-token", true);
    let script = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/support/k8s_lease.py");
    let candidate = |identity: &str| {
        Command::new(&python)
            .arg(&script)
            .args([&leases.url, "py-token", "trading", "driftwatch-ha", identity, "3"])
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(dir.path().join(format!("{identity}.log"))).unwrap())
            .spawn()
            .unwrap()
    };
    // The client leads first.
    let mut py = candidate("py-1");
    until("the client to take the Lease", Duration::from_secs(20), async || {
        leases.holder() == "py-1"
    })
    .await;

    // driftwatch watches as a standby, reading the Lease it does not hold.
    let (_sim, d) = leases.replica(&dir, &journal, ("ha-client", "dw-token", "d")).await;
    until(
        "driftwatch to read the held Lease a few times",
        Duration::from_secs(20),
        async || leases.reads_by("dw-token") >= 10 && d.leader().await == Some(0.0),
    )
    .await;
    assert_eq!(leases.holder(), "py-1", "driftwatch never took a held Lease");

    // The client dies without handing the Lease back: driftwatch takes it
    // over once it has been unchanged for the lease's duration (3 s).
    let _ = py.kill();
    let _ = py.wait();
    let took = until(
        "driftwatch to take the Lease over",
        Duration::from_secs(20),
        async || d.leader().await == Some(1.0),
    )
    .await;
    eprintln!("takeover from the official client: {took:?}");
    assert!(
        leases.holder().ends_with(&format!("/{}", d.child.id())),
        "{}",
        leases.holder()
    );

    // A new client candidate waits while driftwatch renews.
    let mut py = candidate("py-2");
    let before = leases.reads_by("py-token");
    until(
        "the new candidate to try a few times",
        Duration::from_secs(20),
        async || leases.reads_by("py-token") >= before + 4,
    )
    .await;
    assert!(
        leases.holder().ends_with(&format!("/{}", d.child.id())),
        "{}",
        leases.holder()
    );
    assert_eq!(d.leader().await, Some(1.0));

    // driftwatch stopped: it hands the Lease back, and the client takes it
    // well before the lease's duration would have passed.
    d.signal("-TERM");
    let took = until(
        "the client to take the handed-back Lease",
        Duration::from_secs(20),
        async || leases.holder() == "py-2",
    )
    .await;
    eprintln!("the client took the handed-back Lease after {took:?}");
    let _ = py.kill();
    let _ = py.wait();
}

/// A service account without the Role's verbs: driftwatch says why (the
/// API server's 403, and what the Role must allow), and never acts.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_forbidden_service_account_is_said_and_never_acts() {
    let Some(journal) = pg_database("ha_lease_forbidden").await else {
        return;
    };
    let dir = TempDir::new("ha-lease-403");
    let leases = Leases::start().await;
    leases.sim.token("no-rbac", false);
    let (_sim, r) = leases.replica(&dir, &journal, ("ha-403", "no-rbac", "r")).await;
    let log = dir.path().join("r.log");
    until("the refusal to be logged", Duration::from_secs(20), async || {
        std::fs::read_to_string(&log).is_ok_and(|l| l.contains("forbidden (403)"))
    })
    .await;
    // Five more rounds refused: still one line (not one per round).
    let tried = leases.sim.requests().len();
    until("five more refused rounds", Duration::from_secs(20), async || {
        leases.sim.requests().len() >= tried + 5
    })
    .await;
    let text = std::fs::read_to_string(&log).unwrap();
    assert!(text.contains("get, create and update on leases"), "{text}");
    assert_eq!(text.matches("forbidden (403)").count(), 1, "{text}");
    assert_eq!(r.leader().await, Some(0.0));
    assert!(leases.sim.lease("trading", "driftwatch-ha").is_none());
}

/// Prints every `*.log` of a test's directory if the test fails (the
/// directory is removed with it).
struct LogsOnFailure(std::path::PathBuf);

impl Drop for LogsOnFailure {
    fn drop(&mut self) {
        if !std::thread::panicking() {
            return;
        }
        for e in std::fs::read_dir(&self.0).into_iter().flatten().flatten() {
            if e.path().extension().is_some_and(|x| x == "log") {
                let text = std::fs::read_to_string(e.path()).unwrap_or_default();
                let tail: Vec<&str> = text.lines().rev().take(30).collect();
                eprintln!("--- {}:", e.path().display());
                for l in tail.iter().rev() {
                    eprintln!("{l}");
                }
            }
        }
    }
}
