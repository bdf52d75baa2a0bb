//! One correction cycle against PostgreSQL: a Nexwave `positions` table of
//! 10,000 rows, 1,000 of them to correct (600 deletes, 300 updates, 100
//! inserts), applied in one transaction with its archive rows.
//!
//!   cargo bench --bench correct   (PostgreSQL on 127.0.0.1:5432, or DRIFTWATCH_TEST_PG)
//!
//! Criterion times `actions::correct::apply` alone; before each cycle the
//! table is rebuilt to its 10,000 rows and the archive emptied (not timed).

use std::time::{Duration, Instant};

use criterion::{Criterion, SamplingMode};

use driftwatch::actions::correct::{self, Context};
use driftwatch::botdb::names::TableName;
use driftwatch::botdb::raw::RawMapping;
use driftwatch::botdb::BotDb;
use driftwatch::domain::{PositionKey, Timestamp};
use driftwatch::plan::{Correction, Evidence, Op};
use rust_decimal::Decimal;
use sqlx::Executor;

const ROWS: usize = 10_000;

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

/// The table's starting state: `ROWS` open positions of strategy `s`.
fn fill() -> String {
    format!(
        "INSERT INTO positions (strategy_id, symbol, side, amount, entry_price, realized_pnl, opened_at, updated_at) \
         SELECT 's', 'S' || g, 'bid', 1.5, 1, 0, now() - interval '1 day', now() - interval '1 day' FROM generate_series(1, {ROWS}) g"
    )
}

/// A fresh database holding the Nexwave schema, unchanged; its URL.
async fn create(base: &str) -> String {
    let admin = sqlx::PgPool::connect(&format!("{base}/postgres"))
        .await
        .expect("PostgreSQL");
    let _ = admin.execute(format!("DROP DATABASE IF EXISTS {DB}").as_str()).await;
    admin.execute(format!("CREATE DATABASE {DB}").as_str()).await.unwrap();
    admin.close().await;
    let url = format!("{base}/{DB}");
    let pool = sqlx::PgPool::connect(&url).await.unwrap();
    sqlx::raw_sql(include_str!("../testdata/botdb/nexwave_positions.sql"))
        .execute(&pool)
        .await
        .unwrap();
    pool.close().await;
    url
}

/// One cycle on a table rebuilt to its starting state; the time `apply` took.
async fn cycle(db: &BotDb, pool: &sqlx::PgPool) -> Duration {
    sqlx::raw_sql("TRUNCATE positions, driftwatch_archive RESTART IDENTITY")
        .execute(pool)
        .await
        .unwrap();
    pool.execute(fill().as_str()).await.unwrap();
    // The refill's writes are flushed before the timed part, which should
    // not pay for this set-up (a bot's table is not rebuilt every cycle).
    let _ = pool.execute("CHECKPOINT").await;
    let raw: RawMapping = serde_yaml::from_str("preset: nexwave\nfilter: {strategy_id: s}\n").unwrap();
    let m = raw.validate().unwrap();
    let snap = db.read(&m, Duration::from_secs(30)).await.unwrap();
    assert_eq!(snap.rows.len(), ROWS);
    let archive = TableName::parse("driftwatch_archive").unwrap();
    let info = db.introspect(&m.table).await.unwrap();
    let mut plan = Vec::new();
    for (i, row) in snap.rows.iter().take(900).enumerate() {
        let (op, target, state) = if i < 600 {
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
    for i in 0..100 {
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
    assert_eq!(outcomes.len(), 1000);
    assert!(
        outcomes.iter().all(|o| *o == correct::RowOutcome::Applied),
        "not every correction applied: {} moved",
        outcomes.iter().filter(|o| **o != correct::RowOutcome::Applied).count()
    );
    took
}

fn main() {
    let base = std::env::var("DRIFTWATCH_TEST_PG").unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432".into());
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    if rt.block_on(sqlx::PgPool::connect(&format!("{base}/postgres"))).is_err() {
        if std::env::var_os("DRIFTWATCH_REQUIRE_SERVICES").is_some() {
            panic!("correct: no PostgreSQL at {base}");
        }
        println!("correct: SKIPPED (no PostgreSQL at {base})");
        return;
    }
    let (db, pool) = rt.block_on(async {
        let url = create(&base).await;
        let db = BotDb::connect_lazy(&url, 2, Duration::from_secs(30)).unwrap();
        correct::ensure_archive(&db, &TableName::parse("driftwatch_archive").unwrap())
            .await
            .unwrap();
        (db, sqlx::PgPool::connect(&url).await.unwrap())
    });
    let mut c = Criterion::default()
        .sample_size(10)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(5))
        .configure_from_args();
    {
        let mut g = c.benchmark_group("correct");
        g.sampling_mode(SamplingMode::Flat);
        g.bench_function("10000_rows_1000_corrections", |b| {
            b.iter_custom(|iters| (0..iters).map(|_| rt.block_on(cycle(&db, &pool))).sum())
        });
        g.finish();
    }
    c.final_summary();
    rt.block_on(async {
        pool.close().await;
        db.close().await
    });
}
