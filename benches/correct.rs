//! One correction cycle against each SQL backend: a Nexwave `positions`
//! table of `rows` open positions, `n` of them to correct (six in ten
//! deleted, three updated, one created), applied in one transaction with
//! its archive rows.
//!
//!   cargo bench --bench correct   (PostgreSQL on 127.0.0.1:5432 or DRIFTWATCH_TEST_PG,
//!                                  MariaDB on 127.0.0.1:3306 or DRIFTWATCH_TEST_MYSQL,
//!                                  SQLite in a file under target/)
//!
//! Criterion times `actions::correct::apply` alone; before each cycle the
//! table is rebuilt to its rows, analyzed, and the archive emptied (not timed). The
//! cases are 10,000 rows with 100, 1,000 and 3,000 corrections, and 100,000
//! rows with 1,000: the cost should follow the corrections, not the rows.
//! A backend that is not running is skipped (unless DRIFTWATCH_REQUIRE_SERVICES).

use std::time::{Duration, Instant};

use criterion::{BenchmarkId, Criterion, SamplingMode};

use driftwatch::actions::correct::{self, Context};
use driftwatch::botdb::names::TableName;
use driftwatch::botdb::raw::RawMapping;
use driftwatch::botdb::BotDb;
use driftwatch::domain::{PositionKey, Timestamp};
use driftwatch::plan::{Correction, Evidence, Op};
use rust_decimal::Decimal;
use sqlx::AnyPool;

/// (rows, corrections).
const CASES: [(usize, usize); 4] = [(10_000, 100), (10_000, 1_000), (10_000, 3_000), (100_000, 1_000)];

fn evidence(state: &str) -> Evidence {
    Evidence {
        ws: Some(Decimal::ZERO),
        rest: Some(Decimal::ZERO),
        db: Some(Decimal::ONE),
        ws_at: Some(Timestamp(0)),
        rest_at: Some(Timestamp(0)),
        db_at: Some(Timestamp(0)),
        state: state.into(),
        since: Timestamp(0),
        observations: 3,
    }
}

const DB: &str = "dw_bench_correct";

#[derive(Clone, Copy)]
enum Backend {
    Postgres,
    MySql,
    Sqlite,
}

impl Backend {
    fn name(self) -> &'static str {
        match self {
            Backend::Postgres => "postgres",
            Backend::MySql => "mysql",
            Backend::Sqlite => "sqlite",
        }
    }

    /// The Nexwave schema in this backend's types (shared/botdb's DDL on
    /// PostgreSQL, unchanged).
    fn ddl(self) -> &'static str {
        match self {
            Backend::Postgres => include_str!("../testdata/botdb/nexwave_positions.sql"),
            Backend::MySql => {
                "CREATE TABLE positions (id BIGINT AUTO_INCREMENT PRIMARY KEY, strategy_id VARCHAR(64) NOT NULL, \
                 symbol VARCHAR(64) NOT NULL, side TEXT NOT NULL, amount DOUBLE PRECISION NOT NULL, \
                 entry_price DOUBLE PRECISION NOT NULL, current_price DOUBLE PRECISION, unrealized_pnl DOUBLE PRECISION, \
                 realized_pnl DOUBLE PRECISION NOT NULL, trailing_stop_price DOUBLE PRECISION, opened_at DATETIME NOT NULL, \
                 updated_at DATETIME NOT NULL, metadata JSON, \
                 CONSTRAINT uq_positions_strategy_symbol UNIQUE (strategy_id, symbol))"
            }
            Backend::Sqlite => include_str!("../src/demo/nexwave_sqlite.sql"),
        }
    }

    /// Empties the table and the archive.
    fn truncate(self) -> &'static str {
        match self {
            Backend::Postgres => "TRUNCATE positions, driftwatch_archive RESTART IDENTITY",
            Backend::MySql => "TRUNCATE TABLE positions; TRUNCATE TABLE driftwatch_archive",
            Backend::Sqlite => "DELETE FROM positions; DELETE FROM driftwatch_archive",
        }
    }

    /// Planner statistics, as a bot's table has them (autovacuum keeps
    /// them; right after the refill there are none, and PostgreSQL then
    /// found 250 rows by strategy, reading all 100,000, rather than by key).
    fn analyze(self) -> &'static str {
        match self {
            Backend::Postgres => "ANALYZE positions",
            Backend::MySql => "ANALYZE TABLE positions",
            Backend::Sqlite => "ANALYZE",
        }
    }

    /// The table's starting state: `rows` open positions of strategy `s`.
    fn fill(self, rows: usize) -> String {
        let cols = "INSERT INTO positions (strategy_id, symbol, side, amount, entry_price, realized_pnl, opened_at, updated_at)";
        match self {
            Backend::Postgres => format!(
                "{cols} SELECT 's', 'S' || g, 'bid', 1.5, 1, 0, now() - interval '1 day', now() - interval '1 day' \
                 FROM generate_series(1, {rows}) g"
            ),
            // MariaDB's sequence engine.
            Backend::MySql => format!(
                "{cols} SELECT 's', CONCAT('S', seq), 'bid', 1.5, 1, 0, NOW() - INTERVAL 1 DAY, NOW() - INTERVAL 1 DAY \
                 FROM seq_1_to_{rows}"
            ),
            Backend::Sqlite => format!(
                "{cols} WITH RECURSIVE g(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM g WHERE n < {rows}) \
                 SELECT 's', 'S' || n, 'bid', 1.5, 1, 0, '2025-11-09T12:00:00Z', '2025-11-09T12:00:00Z' FROM g"
            ),
        }
    }

    /// A fresh database holding the schema, its URL; `None` when the
    /// server is not running.
    async fn create(self) -> Option<String> {
        let url = match self {
            Backend::Postgres => {
                server_database("DRIFTWATCH_TEST_PG", "postgres://postgres@127.0.0.1:5432", "postgres").await?
            }
            Backend::MySql => server_database("DRIFTWATCH_TEST_MYSQL", "mysql://root@127.0.0.1:3306", "mysql").await?,
            Backend::Sqlite => {
                let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("target");
                let path = dir.join(format!("{DB}.db"));
                let _ = std::fs::remove_file(&path);
                format!("sqlite://{}?mode=rwc", path.display())
            }
        };
        let pool = AnyPool::connect(&url).await.unwrap();
        sqlx::raw_sql(self.ddl()).execute(&pool).await.unwrap();
        pool.close().await;
        Some(url)
    }
}

/// A fresh database named [`DB`] on the server at `$var` (or `default`),
/// created through its `admin` database; its URL, `None` when the server
/// is not running.
async fn server_database(var: &str, default: &str, admin: &str) -> Option<String> {
    let base = std::env::var(var).unwrap_or_else(|_| default.into());
    let pool = AnyPool::connect(&format!("{base}/{admin}")).await.ok()?;
    let _ = sqlx::raw_sql(&format!("DROP DATABASE IF EXISTS {DB}"))
        .execute(&pool)
        .await;
    sqlx::raw_sql(&format!("CREATE DATABASE {DB}"))
        .execute(&pool)
        .await
        .unwrap();
    pool.close().await;
    Some(format!("{base}/{DB}"))
}

/// The plan: of the first `n · 9/10` rows, two thirds deleted (stale) and a
/// third updated; `n / 10` positions created.
fn plan(snap: &driftwatch::domain::DbSnapshot, n: usize) -> Vec<Correction> {
    let existing = n - n / 10;
    let mut plan = Vec::with_capacity(n);
    for (i, row) in snap.rows.iter().take(existing).enumerate() {
        let (op, target, state) = if i < existing * 2 / 3 {
            (Op::Deleted, None, "db_stale")
        } else {
            (Op::Updated, Some(Decimal::new(-25, 1)), "db_mismatch")
        };
        plan.push(Correction {
            op,
            key: row.key.clone(),
            row: Some(row.clone()),
            target,
            entry_price: None,
            mark_price: None,
            evidence: evidence(state),
        });
    }
    for i in 0..n / 10 {
        plan.push(Correction {
            op: Op::Created,
            key: PositionKey::net(format!("NEW{i}")),
            row: None,
            target: Some(Decimal::new(5, 1)),
            entry_price: Some(Decimal::from(100)),
            mark_price: None,
            evidence: evidence("db_missing"),
        });
    }
    plan
}

/// One cycle on a table rebuilt to its starting state; the time `apply` took.
async fn cycle(backend: Backend, db: &BotDb, pool: &AnyPool, rows: usize, n: usize) -> Duration {
    sqlx::raw_sql(backend.truncate()).execute(pool).await.unwrap();
    sqlx::raw_sql(&backend.fill(rows)).execute(pool).await.unwrap();
    // The refill's writes are flushed before the timed part, which should
    // not pay for this set-up (a bot's table is not rebuilt every cycle).
    sqlx::raw_sql(backend.analyze()).execute(pool).await.unwrap();
    if let Backend::Postgres = backend {
        let _ = sqlx::raw_sql("CHECKPOINT").execute(pool).await;
    }
    let raw: RawMapping = serde_yaml::from_str("preset: nexwave\nfilter: {strategy_id: s}\n").unwrap();
    let m = raw.validate().unwrap();
    let snap = db.read(&m, Duration::from_secs(60)).await.unwrap();
    assert_eq!(snap.rows.len(), rows);
    let archive = TableName::parse("driftwatch_archive").unwrap();
    let info = db.introspect(&m.table).await.unwrap();
    let plan = plan(&snap, n);
    let ctx = Context {
        venue: "pacifica",
        account: "bench",
        mapping: &m,
        info: &info,
        archive: &archive,
        correlation_id: "bench",
        now: driftwatch::clock::now(),
    };
    let started = Instant::now();
    let outcomes = correct::apply(db, &ctx, &plan).await.unwrap();
    let took = started.elapsed();
    // The path production runs: every correction applied, none moved.
    assert_eq!(outcomes.len(), n);
    assert!(
        outcomes.iter().all(|o| *o == correct::RowOutcome::Applied),
        "not every correction applied: {} moved",
        outcomes.iter().filter(|o| **o != correct::RowOutcome::Applied).count()
    );
    took
}

fn main() {
    sqlx::any::install_default_drivers();
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let mut c = Criterion::default()
        .sample_size(10)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(5))
        .configure_from_args();
    for backend in [Backend::Postgres, Backend::MySql, Backend::Sqlite] {
        let Some(url) = rt.block_on(backend.create()) else {
            if std::env::var_os("DRIFTWATCH_REQUIRE_SERVICES").is_some() {
                panic!("correct: no {} server", backend.name());
            }
            println!("correct/{}: SKIPPED (no server)", backend.name());
            continue;
        };
        let (db, pool) = rt.block_on(async {
            // Two connections, as the daemon's pool for one bot database.
            let db = BotDb::connect_lazy(&url, 2, Duration::from_secs(60)).unwrap();
            correct::ensure_archive(&db, &TableName::parse("driftwatch_archive").unwrap())
                .await
                .unwrap();
            (db, AnyPool::connect(&url).await.unwrap())
        });
        let mut g = c.benchmark_group("correct");
        g.sampling_mode(SamplingMode::Flat);
        for (rows, n) in CASES {
            // The refill is not timed but takes the wall clock: fewer
            // cycles for the large table.
            g.measurement_time(Duration::from_secs(if rows > 10_000 { 2 } else { 5 }));
            let id = BenchmarkId::new(backend.name(), format!("{rows}_rows_{n}_corrections"));
            g.bench_function(id, |b| {
                b.iter_custom(|iters| {
                    (0..iters)
                        .map(|_| rt.block_on(cycle(backend, &db, &pool, rows, n)))
                        .sum()
                })
            });
        }
        g.finish();
        rt.block_on(async {
            pool.close().await;
            db.close().await
        });
    }
    c.final_summary();
}
