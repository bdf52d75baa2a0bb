//! The bot-database source against the real local PostgreSQL and MariaDB
//! servers and SQLite: each mapping kind, the Nexwave schema unchanged,
//! exact float conversion, hostile identifiers, bad rows, access denied, and
//! the database going away mid-run.
//!
//! Servers: PostgreSQL on 127.0.0.1:5432 (trust auth) and MariaDB on
//! 127.0.0.1:3306 (root, no password), overridable with DRIFTWATCH_TEST_PG
//! and DRIFTWATCH_TEST_MYSQL. Each test creates its own database.

mod common;

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::str::FromStr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use common::*;
use driftwatch::botdb::raw::RawMapping;
use driftwatch::botdb::{BotDb, DbError};
use driftwatch::domain::{DbSnapshot, PositionKey};
use rust_decimal::Decimal;
use sqlx::Executor;

const TIMEOUT: Duration = Duration::from_secs(5);

fn mapping(yaml: &str) -> driftwatch::botdb::mapping::Mapping {
    let raw: RawMapping = serde_yaml::from_str(yaml).unwrap();
    raw.validate().unwrap()
}

fn sizes(snap: &DbSnapshot) -> BTreeMap<String, String> {
    snap.sizes()
        .into_iter()
        .map(|(k, v): (PositionKey, Decimal)| (k.symbol.to_string(), v.normalize().to_string()))
        .collect()
}

const NEXWAVE_SQL: &str = include_str!("../testdata/botdb/nexwave_positions.sql");

#[test]
fn the_nexwave_schema_copy_is_the_shared_one_verbatim() {
    let shared = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/botdb/nexwave_positions.sql");
    match std::fs::read_to_string(&shared) {
        Ok(text) => assert_eq!(
            text, NEXWAVE_SQL,
            "testdata/botdb/nexwave_positions.sql drifted from shared/"
        ),
        Err(_) => eprintln!("SKIPPED: {} not present", shared.display()),
    }
}

#[tokio::test]
async fn postgres_nexwave_schema_unchanged_with_the_preset() {
    let Some(url) = pg_database("nexwave").await else {
        return;
    };
    let pool = sqlx::PgPool::connect(&url).await.unwrap();
    sqlx::raw_sql(NEXWAVE_SQL).execute(&pool).await.unwrap();
    for (symbol, side, amount, entry) in driftwatch::demo::INCIDENT_ROWS {
        sqlx::query("INSERT INTO positions (strategy_id, symbol, side, amount, entry_price, realized_pnl, opened_at, updated_at) VALUES ('vwm_momentum_1', $1, $2, $3, $4, 0, now(), now())")
            .bind(symbol).bind(side).bind(amount).bind(entry).execute(&pool).await.unwrap();
    }
    // Another strategy's row, and a short written with the model comment's word.
    pool.execute("INSERT INTO positions (strategy_id, symbol, side, amount, entry_price, realized_pnl, opened_at, updated_at) VALUES ('other', 'BTC', 'ask', 1, 1, 0, now(), now())").await.unwrap();
    pool.execute("UPDATE positions SET side = 'short', amount = 0.3 WHERE symbol = 'SUI'")
        .await
        .unwrap();

    let db = BotDb::connect_lazy(&url, 2, TIMEOUT).unwrap();
    let m = mapping("preset: nexwave\nfilter: {strategy_id: vwm_momentum_1}\n");
    let snap = db.read(&m, TIMEOUT).await.unwrap();
    let got = sizes(&snap);
    assert_eq!(got.len(), 16);
    assert!(!got.contains_key("BTC"), "the filter keeps other strategies out");
    assert_eq!(got["BNB"], "0.05");
    assert_eq!(got["FARTCOIN"], "235.9");
    assert_eq!(got["PUMP"], "15296");
    assert_eq!(got["ZEC"], "0.1");
    assert_eq!(got["SUI"], "-0.3", "0.3 as a float reads back as exactly 0.3");
    assert!(snap.rows.iter().all(|r| r.row_key.parse::<i64>().is_ok()));

    // Without a filter, every strategy counts.
    let all = db.read(&mapping("preset: nexwave\n"), TIMEOUT).await.unwrap();
    assert_eq!(sizes(&all)["BTC"], "-1");
    db.close().await;
}

/// One table per mapping kind, same rows, on every dialect.
async fn mapping_kinds(url: &str, numeric: &str, pk: &str) {
    let db = BotDb::connect_lazy(url, 2, TIMEOUT).unwrap();
    let exec = |sql: String| {
        let url = url.to_owned();
        async move {
            match driftwatch::botdb::names::Dialect::from_url(&url).unwrap() {
                driftwatch::botdb::names::Dialect::Postgres => {
                    let p = sqlx::PgPool::connect(&url).await.unwrap();
                    sqlx::raw_sql(&sql).execute(&p).await.unwrap();
                    p.close().await;
                }
                driftwatch::botdb::names::Dialect::MySql => {
                    let p = sqlx::MySqlPool::connect(&url).await.unwrap();
                    sqlx::raw_sql(&sql).execute(&p).await.unwrap();
                    p.close().await;
                }
                driftwatch::botdb::names::Dialect::Sqlite => {
                    let p = sqlx::SqlitePool::connect(&url).await.unwrap();
                    sqlx::raw_sql(&sql).execute(&p).await.unwrap();
                    p.close().await;
                }
            }
        }
    };
    // long/short words, a numeric amount, a row filter.
    exec(format!(
        "CREATE TABLE words (pk {pk}, sym VARCHAR(20) NOT NULL, dir VARCHAR(10) NOT NULL, qty {numeric} NOT NULL, acct VARCHAR(20) NOT NULL);\
         INSERT INTO words (sym, dir, qty, acct) VALUES ('ETH', 'long', 1.25, 'a'), ('SOL', 'short', 0.5, 'a'), ('BTC', 'long', 9, 'b');"
    ))
    .await;
    let m = mapping("table: words\nkey_column: pk\nsymbol_column: sym\nside_column: dir\namount_column: qty\nlong_values: [long]\nshort_values: [short]\nfilter: {acct: a}\n");
    assert_eq!(
        sizes(&db.read(&m, TIMEOUT).await.unwrap()),
        BTreeMap::from([
            ("ETH".to_string(), "1.25".to_string()),
            ("SOL".to_string(), "-0.5".to_string())
        ])
    );
    // buy/sell words, a float amount, a symbol map.
    exec(format!(
        "CREATE TABLE trades_open (pk {pk}, sym VARCHAR(20) NOT NULL, dir VARCHAR(10) NOT NULL, qty DOUBLE PRECISION NOT NULL);\
         INSERT INTO trades_open (sym, dir, qty) VALUES ('ETHUSD', 'buy', 0.1), ('SOLUSD', 'sell', 235.9);"
    ))
    .await;
    let m = mapping("table: trades_open\nkey_column: pk\nsymbol_column: sym\nside_column: dir\namount_column: qty\nlong_values: [buy]\nshort_values: [sell]\nsymbols: {ETHUSD: ETH, SOLUSD: SOL}\n");
    assert_eq!(
        sizes(&db.read(&m, TIMEOUT).await.unwrap()),
        BTreeMap::from([
            ("ETH".to_string(), "0.1".to_string()),
            ("SOL".to_string(), "-235.9".to_string())
        ])
    );
    // A signed amount and no side column; several rows for one symbol add up.
    exec(format!(
        "CREATE TABLE signed_pos (pk {pk}, sym VARCHAR(20) NOT NULL, qty {numeric} NOT NULL);\
         INSERT INTO signed_pos (sym, qty) VALUES ('ETH', -2), ('ETH', 0.5), ('SOL', 3);"
    ))
    .await;
    let m = mapping("table: signed_pos\nkey_column: pk\nsymbol_column: sym\namount_column: qty\nsigned_amount: true\n");
    assert_eq!(
        sizes(&db.read(&m, TIMEOUT).await.unwrap()),
        BTreeMap::from([
            ("ETH".to_string(), "-1.5".to_string()),
            ("SOL".to_string(), "3".to_string())
        ])
    );
    // Amounts stored as text.
    exec(format!(
        "CREATE TABLE text_pos (pk {pk}, sym VARCHAR(20) NOT NULL, qty VARCHAR(40) NOT NULL);\
         INSERT INTO text_pos (sym, qty) VALUES ('kBONK', '-1000.000001');"
    ))
    .await;
    let m = mapping("table: text_pos\nkey_column: pk\nsymbol_column: sym\namount_column: qty\nsigned_amount: true\n");
    assert_eq!(sizes(&db.read(&m, TIMEOUT).await.unwrap())["kBONK"], "-1000.000001");

    // Reserved words as identifiers are quoted, not interpreted.
    exec(format!(
        "CREATE TABLE {q}order{q} (pk {pk}, {q}select{q} VARCHAR(20) NOT NULL, {q}from{q} VARCHAR(10) NOT NULL, {q}where{q} {numeric} NOT NULL);\
         INSERT INTO {q}order{q} ({q}select{q}, {q}from{q}, {q}where{q}) VALUES ('ETH', 'bid', 4);",
        q = if url.starts_with("mysql") { "`" } else { "\"" }
    ))
    .await;
    let m = mapping("table: order\nkey_column: pk\nsymbol_column: select\nside_column: from\namount_column: where\nlong_values: [bid]\nshort_values: [ask]\n");
    assert_eq!(sizes(&db.read(&m, TIMEOUT).await.unwrap())["ETH"], "4");

    // A row driftwatch cannot understand fails the whole read, naming the row.
    exec("INSERT INTO words (sym, dir, qty, acct) VALUES ('XRP', 'sideways', 1, 'a');".into()).await;
    let m = mapping("table: words\nkey_column: pk\nsymbol_column: sym\nside_column: dir\namount_column: qty\nlong_values: [long]\nshort_values: [short]\nfilter: {acct: a}\n");
    match db.read(&m, TIMEOUT).await {
        Err(DbError::BadRow { row_key, reason }) => {
            assert_eq!(row_key, "4");
            assert_eq!(reason, "unknown side \"sideways\"");
        }
        other => panic!("{other:?}"),
    }
    // A table that does not exist is an error, not an empty account.
    let m = mapping("table: nope\nkey_column: pk\nsymbol_column: sym\namount_column: qty\nsigned_amount: true\n");
    assert!(matches!(db.read(&m, TIMEOUT).await, Err(DbError::Sql(_))));
    db.close().await;
}

#[tokio::test]
async fn postgres_mapping_kinds() {
    let Some(url) = pg_database("kinds").await else { return };
    mapping_kinds(&url, "NUMERIC(30,10)", "BIGSERIAL PRIMARY KEY").await;
}

#[tokio::test]
async fn mariadb_mapping_kinds() {
    let Some(url) = mysql_database("kinds").await else {
        return;
    };
    mapping_kinds(&url, "DECIMAL(30,10)", "BIGINT AUTO_INCREMENT PRIMARY KEY").await;
}

#[tokio::test]
async fn sqlite_mapping_kinds() {
    let dir = TempDir::new("sqlite-kinds");
    let url = format!("sqlite://{}?mode=rwc", dir.path().join("bot.db").display());
    mapping_kinds(&url, "NUMERIC", "INTEGER PRIMARY KEY AUTOINCREMENT").await;
}

#[tokio::test]
async fn mariadb_nexwave_schema_with_the_preset() {
    let Some(url) = mysql_database("nexwave").await else {
        return;
    };
    let pool = sqlx::MySqlPool::connect(&url).await.unwrap();
    // The Nexwave model in MariaDB's types.
    sqlx::raw_sql(
        "CREATE TABLE positions (id BIGINT AUTO_INCREMENT PRIMARY KEY, strategy_id TEXT NOT NULL, symbol VARCHAR(64) NOT NULL, side TEXT NOT NULL, \
         amount DOUBLE PRECISION NOT NULL, entry_price DOUBLE PRECISION NOT NULL, realized_pnl DOUBLE PRECISION NOT NULL, \
         opened_at DATETIME NOT NULL, updated_at DATETIME NOT NULL, metadata JSON)",
    )
    .execute(&pool)
    .await
    .unwrap();
    for (symbol, side, amount, entry) in driftwatch::demo::INCIDENT_ROWS {
        sqlx::query("INSERT INTO positions (strategy_id, symbol, side, amount, entry_price, realized_pnl, opened_at, updated_at) VALUES ('vwm_momentum_1', ?, ?, ?, ?, 0, NOW(), NOW())")
            .bind(symbol).bind(side).bind(amount).bind(entry).execute(&pool).await.unwrap();
    }
    let db = BotDb::connect_lazy(&url, 2, TIMEOUT).unwrap();
    let got = sizes(
        &db.read(
            &mapping("preset: nexwave\nfilter: {strategy_id: vwm_momentum_1}\n"),
            TIMEOUT,
        )
        .await
        .unwrap(),
    );
    assert_eq!(got.len(), 16);
    assert_eq!(got["BNB"], "0.05");
    assert_eq!(got["LDO"], "64.7");
    db.close().await;
}

#[tokio::test]
async fn postgres_access_denied_is_a_clear_error() {
    let Some(url) = pg_database("denied").await else { return };
    let pool = sqlx::PgPool::connect(&url).await.unwrap();
    sqlx::raw_sql(NEXWAVE_SQL).execute(&pool).await.unwrap();
    let role = format!("dw_nobody_{}", unique());
    pool.execute(format!("CREATE ROLE {role} LOGIN").as_str())
        .await
        .unwrap();
    let db_name = url.rsplit('/').next().unwrap();
    let denied_url = url.replace("postgres@", &format!("{role}@"));
    let db = BotDb::connect_lazy(&denied_url, 1, TIMEOUT).unwrap();
    match db.read(&mapping("preset: nexwave\n"), TIMEOUT).await {
        Err(DbError::Sql(msg)) => assert!(msg.contains("permission denied"), "{msg} ({db_name})"),
        other => panic!("{other:?}"),
    }
    db.close().await;
    pool.execute(format!("DROP OWNED BY {role}").as_str()).await.unwrap();
    pool.execute(format!("DROP ROLE {role}").as_str()).await.unwrap();
}

/// A TCP relay whose far side can "go away": existing connections are cut
/// and new ones refused until it comes back.
struct Relay {
    addr: SocketAddr,
    down: Arc<AtomicBool>,
    conns: Arc<Mutex<Vec<tokio::task::AbortHandle>>>,
}

impl Relay {
    async fn start(target: SocketAddr) -> Relay {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let down = Arc::new(AtomicBool::new(false));
        let conns: Arc<Mutex<Vec<tokio::task::AbortHandle>>> = Arc::default();
        let (d, c) = (down.clone(), conns.clone());
        tokio::spawn(async move {
            while let Ok((mut inbound, _)) = listener.accept().await {
                if d.load(Ordering::SeqCst) {
                    continue; // dropped at once
                }
                let task = tokio::spawn(async move {
                    if let Ok(mut outbound) = tokio::net::TcpStream::connect(target).await {
                        let _ = tokio::io::copy_bidirectional(&mut inbound, &mut outbound).await;
                    }
                });
                c.lock().unwrap().push(task.abort_handle());
            }
        });
        Relay { addr, down, conns }
    }

    fn go_away(&self) {
        self.down.store(true, Ordering::SeqCst);
        for c in self.conns.lock().unwrap().drain(..) {
            c.abort();
        }
    }

    fn come_back(&self) {
        self.down.store(false, Ordering::SeqCst);
    }
}

#[tokio::test]
async fn postgres_going_away_mid_run_is_an_error_then_recovers() {
    let Some(url) = pg_database("away").await else { return };
    let pool = sqlx::PgPool::connect(&url).await.unwrap();
    sqlx::raw_sql(NEXWAVE_SQL).execute(&pool).await.unwrap();
    pool.execute("INSERT INTO positions (strategy_id, symbol, side, amount, entry_price, realized_pnl, opened_at, updated_at) VALUES ('s', 'ETH', 'bid', 1, 1, 0, now(), now())").await.unwrap();
    pool.close().await;

    let pg_addr: SocketAddr = "127.0.0.1:5432".parse().unwrap();
    let relay = Relay::start(pg_addr).await;
    let relayed = url.replace("127.0.0.1:5432", &relay.addr.to_string());
    let db = BotDb::connect_lazy(&relayed, 1, Duration::from_secs(2)).unwrap();
    let m = mapping("preset: nexwave\n");
    assert_eq!(sizes(&db.read(&m, TIMEOUT).await.unwrap())["ETH"], "1");

    relay.go_away();
    let err = db.read(&m, Duration::from_secs(3)).await.unwrap_err();
    assert!(matches!(err, DbError::Sql(_) | DbError::Timeout(_)), "{err:?}");

    relay.come_back();
    let mut recovered = false;
    for _ in 0..50 {
        if let Ok(snap) = db.read(&m, TIMEOUT).await {
            assert_eq!(sizes(&snap)["ETH"], "1");
            recovered = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(recovered, "the pool reconnects once the database is back");
    db.close().await;
}

#[tokio::test]
async fn a_database_that_is_down_untrusts_the_source_in_the_running_watcher() {
    let sim = start_sim(Default::default()).await;
    sim.sim.open(ACCOUNT, "ETH", "bid", "1", "3000");
    // Nothing listens on this port: every read fails.
    let closed = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap();
    let url = format!("postgres://postgres@{closed}/none");
    let app = start_app(&fast_config(&sim.addrs, &url, NEXWAVE_MAPPING), false).await;
    let s = wait_for(
        &app,
        "stream and REST trusted, the DB read failed",
        Duration::from_secs(10),
        |s| {
            ws_trusted(s)
                && rest_trusted(s)
                && s.accounts[0].report.sources[2].reason.as_deref() != Some("not read yet")
        },
    )
    .await;
    assert!(!db_trusted(&s));
    assert_eq!(state(&s, "ETH"), Some(driftwatch::reconcile::State::SourceUntrusted));
    let reason = s.accounts[0].report.sources[2].reason.clone().unwrap();
    assert!(reason.contains("database"), "{reason}");
    let metrics = app.metrics.render();
    assert!(sample(&metrics, "driftwatch_db_errors_total").unwrap() >= 1.0);
    app.shutdown_within(Duration::from_secs(2)).await;
}

#[test]
fn decimal_from_float_is_the_shortest_round_trip() {
    for (f, s) in [
        (0.1, "0.1"),
        (0.05, "0.05"),
        (649.2, "649.2"),
        (1015.19, "1015.19"),
        (0.0043, "0.0043"),
    ] {
        assert_eq!(
            driftwatch::botdb::decimal_from_f64(f).unwrap(),
            Decimal::from_str(s).unwrap()
        );
    }
}

/// Issue [operator]: the README's SQLite schema for a bot table is one the
/// nexwave preset reads as it stands.
#[tokio::test]
async fn the_readmes_sqlite_schema_reads_with_the_preset() {
    let readme = std::fs::read_to_string(std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("README.md")).unwrap();
    let after = readme
        .split("A bot table in SQLite")
        .nth(1)
        .expect("the README shows a SQLite schema");
    let sql = after
        .split("```sql")
        .nth(1)
        .and_then(|s| s.split("```").next())
        .expect("in a sql block");
    let dir = TempDir::new("readme-sqlite");
    let url = format!("sqlite://{}?mode=rwc", dir.path().join("bot.db").display());
    let pool = sqlx::SqlitePool::connect(&url).await.unwrap();
    sqlx::raw_sql(sql).execute(&pool).await.unwrap();
    pool.execute(
        "INSERT INTO positions (strategy_id, symbol, side, amount, entry_price, realized_pnl, opened_at, updated_at) \
         VALUES ('s', 'SOL', 'bid', 0.5, 150, 0, '2026-01-01T00:00:00Z', '2026-01-01T00:00:00Z')",
    )
    .await
    .unwrap();
    pool.close().await;
    let db = BotDb::connect_lazy(&url, 2, TIMEOUT).unwrap();
    let snap = db.read(&mapping("preset: nexwave\n"), TIMEOUT).await.unwrap();
    assert_eq!(sizes(&snap)["SOL"], "0.5");
}
