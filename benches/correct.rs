//! One correction cycle against PostgreSQL: a Nexwave `positions` table of
//! 10,000 rows, 1,000 of them to correct (600 deletes, 300 updates, 100
//! inserts), applied in one transaction with its archive rows.
//! Run: `cargo bench --bench correct` (needs PostgreSQL on 127.0.0.1:5432,
//! or DRIFTWATCH_TEST_PG).

use std::time::{Duration, Instant};

use driftwatch::actions::correct::{self, Context};
use driftwatch::botdb::mapping::{RawMapping, TableName};
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

async fn setup(base: &str, name: &str) -> String {
    let admin = sqlx::PgPool::connect(&format!("{base}/postgres"))
        .await
        .expect("PostgreSQL");
    let _ = admin.execute(format!("DROP DATABASE IF EXISTS {name}").as_str()).await;
    admin.execute(format!("CREATE DATABASE {name}").as_str()).await.unwrap();
    admin.close().await;
    let url = format!("{base}/{name}");
    let pool = sqlx::PgPool::connect(&url).await.unwrap();
    sqlx::raw_sql(include_str!("../testdata/botdb/nexwave_positions.sql"))
        .execute(&pool)
        .await
        .unwrap();
    pool.execute(
        format!(
            "INSERT INTO positions (strategy_id, symbol, side, amount, entry_price, realized_pnl, opened_at, updated_at) \
             SELECT 's', 'S' || g, 'bid', 1.5, 1, 0, now() - interval '1 day', now() - interval '1 day' FROM generate_series(1, {ROWS}) g"
        )
        .as_str(),
    )
    .await
    .unwrap();
    pool.close().await;
    url
}

async fn run(base: &str) -> Duration {
    let url = setup(base, "dw_bench_correct").await;
    let db = BotDb::connect_lazy(&url, 2, Duration::from_secs(30)).unwrap();
    let raw: RawMapping = serde_yaml::from_str("preset: nexwave\nfilter: {strategy_id: s}\n").unwrap();
    let m = raw.validate().unwrap();
    let snap = db.read(&m, Duration::from_secs(30)).await.unwrap();
    let archive = TableName::parse("driftwatch_archive").unwrap();
    let info = correct::introspect(&db, &m.table).await.unwrap();
    correct::ensure_archive(&db, &archive).await.unwrap();
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
    };
    let started = Instant::now();
    let outcomes = correct::apply(&db, &ctx, &plan).await.unwrap();
    let took = started.elapsed();
    assert_eq!(outcomes.len(), 1000);
    db.close().await;
    took
}

#[tokio::main]
async fn main() {
    let measuring = std::env::args().any(|a| a == "--bench");
    let base = std::env::var("DRIFTWATCH_TEST_PG").unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432".into());
    if sqlx::PgPool::connect(&format!("{base}/postgres")).await.is_err() {
        println!("correct: SKIPPED (no PostgreSQL at {base})");
        return;
    }
    let runs = if measuring { 5 } else { 1 };
    let mut times: Vec<Duration> = Vec::new();
    for _ in 0..runs {
        times.push(run(&base).await);
    }
    times.sort();
    println!(
        "correction cycle: {ROWS} rows, 1,000 corrections (600 deleted, 300 updated, 100 created), one transaction"
    );
    println!(
        "  runs: {:?}",
        times
            .iter()
            .map(|t| format!("{:.1} ms", t.as_secs_f64() * 1000.0))
            .collect::<Vec<_>>()
    );
    println!("  median: {:.1} ms", times[times.len() / 2].as_secs_f64() * 1000.0);
}
