//! Shared test harness: the simulator on loopback, driftwatch started from a
//! config text, real databases, and waiting with deadlines (never sleeps
//! standing in for synchronisation).

#![allow(dead_code)]

use std::future::Future;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use driftwatch::app::{self, Running, Snapshot};
use driftwatch::config::{self, Config};
use driftwatch::reconcile::{Row, State};
use driftwatch::venue::pacifica::sim::{Sim, SimAddrs, SimConfig};
use tokio::sync::watch;

pub mod alerting;
pub mod smtp;

pub const ACCOUNT: &str = "9C6hybhQ6Aycep9jaUnP6uL9ZYvDjUp1aSkFWPUFJtpj";

/// How long the long-hold tests (a REST outage, an isolated leg beside the
/// bot's row) hold their condition: `HOLD_SECONDS` for the issue's full
/// length (5 and 10 minutes, run by hand), else `default` (the suite's).
pub fn hold_secs(default: u64) -> u64 {
    std::env::var("HOLD_SECONDS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// `n` lots of 0.01 (SOL's lot on both simulators), as a decimal.
pub fn lots(n: i64) -> rust_decimal::Decimal {
    rust_decimal::Decimal::new(n, 2)
}

/// A position of `range` lots, long or short (the close property tests).
pub fn signed_lots(range: std::ops::Range<i64>) -> impl proptest::strategy::Strategy<Value = i64> {
    use proptest::prelude::*;
    (range, proptest::bool::ANY).prop_map(|(n, long)| if long { n } else { -n })
}

/// Cases per close property test: `CLOSE_CASES`, else 16 (each runs a
/// simulator and a close over real sockets).
pub fn close_cases() -> u32 {
    std::env::var("CLOSE_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(16)
}

/// The repository's root (tests run from it, but say so).
pub fn root() -> &'static std::path::Path {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
}

/// Whether a missing external service fails the test (CI) or skips it.
pub fn services_required() -> bool {
    std::env::var("DRIFTWATCH_REQUIRE_SERVICES").is_ok_and(|v| v == "1")
}

pub fn skip_or_fail(what: &str, why: impl std::fmt::Display) {
    if services_required() {
        panic!("{what} is required (DRIFTWATCH_REQUIRE_SERVICES=1) but unavailable: {why}");
    }
    eprintln!("SKIPPED: {what} unavailable: {why}");
}

pub struct SimHandle {
    pub sim: Sim,
    pub addrs: SimAddrs,
    _stop: watch::Sender<bool>,
}

pub async fn start_sim(cfg: SimConfig) -> SimHandle {
    driftwatch::app::install_crypto();
    let (stop, rx) = watch::channel(false);
    let any: SocketAddr = "127.0.0.1:0".parse().unwrap();
    let (sim, addrs) = Sim::start(cfg, any, any, rx).await.expect("simulator binds loopback");
    SimHandle {
        sim,
        addrs,
        _stop: stop,
    }
}

/// A unique temporary directory, removed on drop.
pub struct TempDir(pub PathBuf);

impl TempDir {
    pub fn new(tag: &str) -> TempDir {
        let p = std::env::temp_dir().join(format!("driftwatch-test-{tag}-{}-{}", std::process::id(), unique()));
        std::fs::create_dir_all(&p).unwrap();
        TempDir(p)
    }

    pub fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        // Kept after a failure when asked, to read every log whole.
        let keep = std::env::var("DRIFTWATCH_KEEP_FAILED_TEST_DIRS").ok();
        if keep.as_deref() == Some("always") || (std::thread::panicking() && keep.is_some()) {
            eprintln!("kept {}", self.0.display());
            return;
        }
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

pub fn unique() -> u64 {
    use std::sync::atomic::{AtomicU64, Ordering};
    static N: AtomicU64 = AtomicU64::new(0);
    let t = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos() as u64;
    (t % 1_000_000_000) * 1000 + N.fetch_add(1, Ordering::Relaxed) % 1000
}

/// A config with fast timings, for tests over loopback.
pub fn fast_config(addrs: &SimAddrs, db_url: &str, mapping: &str) -> String {
    fast_config_with(addrs, db_url, mapping, "    correct: {mode: off}\n", "sqlite::memory:")
}

/// As [`fast_config`], with an account-level `correct:` block and a journal URL.
pub fn fast_config_with(addrs: &SimAddrs, db_url: &str, mapping: &str, correct: &str, journal: &str) -> String {
    format!(
        r#"listen: 127.0.0.1:0
intervals:
  rest_poll: 300ms
  db_poll: 300ms
  reconcile: 100ms
reconcile:
  confirm_polls: 2
  confirm_after: 5s
  rest_stale_after: 3s
  db_stale_after: 3s
bot_db:
  url: {{value: "{db_url}"}}
  timeout: 2s
journal:
  url: {{value: "{journal}"}}
accounts:
  - name: main
    venue: pacifica
    address: {ACCOUNT}
    rest_url: "{rest}"
    ws_url: "{ws}"
    stream:
      ping_interval: 200ms
      ack_timeout: 1s
      silence_timeout: 1s
      backoff_initial: 50ms
      backoff_max: 200ms
      rest_timeout: 1s
    mapping:
{mapping}
{correct}"#,
        rest = addrs.rest_url(),
        ws = addrs.ws_url(),
    )
}

pub fn parse_config(text: &str) -> Config {
    config::parse(text, Path::new("test.yaml"), &config::ProcessEnv)
        .unwrap_or_else(|e| panic!("{e}"))
        .0
}

/// A SQLite bot database with the Nexwave schema and the given rows
/// (symbol, side, amount).
pub async fn sqlite_db(dir: &TempDir, rows: &[(&str, &str, f64)]) -> String {
    let path = dir.path().join("bot.db");
    let _ = std::fs::remove_file(&path);
    driftwatch::demo::seed_sqlite(&path).await.unwrap();
    let url = format!("sqlite://{}", path.display());
    let pool = sqlx::SqlitePool::connect(&url).await.unwrap();
    sqlx::query("DELETE FROM positions").execute(&pool).await.unwrap();
    for (symbol, side, amount) in rows {
        sqlx::query("INSERT INTO positions (strategy_id, symbol, side, amount, entry_price, realized_pnl, opened_at, updated_at) VALUES ('vwm_momentum_1', ?, ?, ?, 1, 0, 'x', 'x')")
            .bind(symbol).bind(side).bind(amount).execute(&pool).await.unwrap();
    }
    pool.close().await;
    url
}

pub const NEXWAVE_MAPPING: &str = "      preset: nexwave\n      filter: {strategy_id: vwm_momentum_1}";

pub async fn start_app(text: &str, http: bool) -> Running {
    let config = parse_config(text);
    let listen = config.listen;
    app::start(
        config,
        app::Options {
            http: http.then_some(listen),
            record: None,
        },
    )
    .await
    .expect("driftwatch starts")
}

/// Waits for a snapshot that satisfies `pred`, or panics with the last one.
pub async fn wait_for(
    running: &Running,
    what: &str,
    timeout: Duration,
    pred: impl Fn(&Snapshot) -> bool,
) -> Arc<Snapshot> {
    let mut rx = running.snapshots.clone();
    let deadline = tokio::time::Instant::now() + timeout;
    loop {
        let snap = rx.borrow_and_update().clone();
        if !snap.accounts.is_empty() && pred(&snap) {
            return snap;
        }
        tokio::select! {
            _ = tokio::time::sleep_until(deadline) => {
                panic!("timed out waiting for {what}; last table:\n{}", driftwatch::table::render(&snap, snap.at));
            }
            r = rx.changed() => r.expect("driftwatch is running"),
        }
    }
}

pub fn row<'a>(snap: &'a Snapshot, symbol: &str) -> Option<&'a Row> {
    snap.accounts[0].report.rows.iter().find(|r| r.key.symbol == symbol)
}

pub fn state(snap: &Snapshot, symbol: &str) -> Option<State> {
    row(snap, symbol).map(|r| r.state)
}

pub fn ws_trusted(snap: &Snapshot) -> bool {
    snap.accounts[0].report.sources[0].trusted
}

pub fn rest_trusted(snap: &Snapshot) -> bool {
    snap.accounts[0].report.sources[1].trusted
}

pub fn db_trusted(snap: &Snapshot) -> bool {
    snap.accounts[0].report.sources[2].trusted
}

/// The value of one sample in a Prometheus text exposition.
pub fn sample(text: &str, name_and_labels: &str) -> Option<f64> {
    text.lines()
        .find(|l| l.starts_with(name_and_labels) && l[name_and_labels.len()..].starts_with(' '))
        .and_then(|l| l.rsplit(' ').next())
        .and_then(|v| v.parse().ok())
}

/// Polls `f` until it returns true.
pub async fn eventually<F, Fut>(what: &str, timeout: Duration, mut f: F)
where
    F: FnMut() -> Fut,
    Fut: Future<Output = bool>,
{
    let deadline = tokio::time::Instant::now() + timeout;
    while tokio::time::Instant::now() < deadline {
        if f().await {
            return;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    panic!("timed out waiting for {what}");
}

pub fn pg_base() -> String {
    std::env::var("DRIFTWATCH_TEST_PG").unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432".into())
}

pub fn mysql_base() -> String {
    std::env::var("DRIFTWATCH_TEST_MYSQL").unwrap_or_else(|_| "mysql://root@127.0.0.1:3306".into())
}

/// A fresh PostgreSQL database; `None` (skipped) when the server is absent.
pub async fn pg_database(tag: &str) -> Option<String> {
    use sqlx::Executor;
    let admin = match sqlx::PgPool::connect(&format!("{}/postgres", pg_base())).await {
        Ok(p) => p,
        Err(e) => {
            skip_or_fail("PostgreSQL", e);
            return None;
        }
    };
    let name = format!("dw_{tag}_{}", unique());
    admin.execute(format!("CREATE DATABASE {name}").as_str()).await.unwrap();
    admin.close().await;
    Some(format!("{}/{name}", pg_base()))
}

/// A fresh MariaDB database; `None` (skipped) when the server is absent.
pub async fn mysql_database(tag: &str) -> Option<String> {
    use sqlx::Executor;
    let admin = match sqlx::MySqlPool::connect(&format!("{}/mysql", mysql_base())).await {
        Ok(p) => p,
        Err(e) => {
            skip_or_fail("MariaDB", e);
            return None;
        }
    };
    let name = format!("dw_{tag}_{}", unique());
    admin.execute(format!("CREATE DATABASE {name}").as_str()).await.unwrap();
    admin.close().await;
    Some(format!("{}/{name}", mysql_base()))
}

/// Runs SQL (several statements allowed) against any of the three.
pub async fn exec(url: &str, sql: &str) {
    sqlx::any::install_default_drivers();
    let pool = sqlx::AnyPool::connect(url)
        .await
        .unwrap_or_else(|e| panic!("{url}: {e}"));
    sqlx::raw_sql(sql)
        .execute(&pool)
        .await
        .unwrap_or_else(|e| panic!("{sql}: {e}"));
    pool.close().await;
}

/// Rows of a query whose columns are all text.
pub async fn texts(url: &str, sql: &str) -> Vec<Vec<Option<String>>> {
    try_texts(url, sql).await.unwrap_or_else(|e| panic!("{sql}: {e}"))
}

/// As [`texts`], with the error returned (for polling a table that may
/// not exist yet).
pub async fn try_texts(url: &str, sql: &str) -> Result<Vec<Vec<Option<String>>>, sqlx::Error> {
    use sqlx::Row;
    sqlx::any::install_default_drivers();
    let pool = sqlx::AnyPool::connect(url).await?;
    let rows = sqlx::query(sql).fetch_all(&pool).await;
    pool.close().await;
    let rows = rows?;
    let out = rows
        .iter()
        .map(|r| {
            (0..r.len())
                .map(|i| {
                    // MariaDB's TEXT arrives as a blob through the Any driver.
                    r.try_get::<Option<String>, _>(i).unwrap_or_else(|_| {
                        r.try_get::<Option<Vec<u8>>, _>(i)
                            .unwrap()
                            .map(|b| String::from_utf8(b).unwrap())
                    })
                })
                .collect()
        })
        .collect();
    Ok(out)
}

/// A loopback port nobody listens on (yet).
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// Runs the driftwatch binary off the runtime's threads: (exit code, stdout, stderr).
pub async fn run_driftwatch(args: Vec<String>) -> (i32, String, String) {
    let out = tokio::task::spawn_blocking(move || {
        std::process::Command::new(env!("CARGO_BIN_EXE_driftwatch"))
            .env_remove("RUST_LOG")
            .args(&args)
            .output()
            .unwrap()
    })
    .await
    .unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// The shipped `rules/default.yaml`, with its holds shortened so a test sees
/// them fire (`stream-rest-drift` and so its `resync` included), written into
/// `dir/rules`. Returns the config line that loads it.
#[allow(dead_code)]
pub fn shipped_rules(dir: &TempDir, symbols: &[(&str, &str)]) -> String {
    let rules_dir = dir.path().join("rules");
    std::fs::create_dir_all(&rules_dir).unwrap();
    let mut text = std::fs::read_to_string("rules/default.yaml")
        .unwrap()
        .replace("for: 30s", "for: 1s")
        .replace("for: 60s", "for: 2s")
        .replace("for: 2m", "for: 2s")
        .replace("longer_than: 2m", "longer_than: 3s");
    for (from, to) in symbols {
        text = text.replace(from, to);
    }
    std::fs::write(rules_dir.join("default.yaml"), text).unwrap();
    format!("rules: {{dir: {}}}\n", rules_dir.display())
}

/// The bot table's rows as (id, symbol, side, amount) text, in id order:
/// any delete, insert or rewrite shows.
#[allow(dead_code)]
pub async fn table_rows(url: &str) -> Vec<Vec<Option<String>>> {
    texts(
        url,
        "SELECT CAST(id AS TEXT), symbol, side, CAST(amount AS TEXT) FROM positions ORDER BY id",
    )
    .await
}
