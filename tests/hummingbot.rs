//! Issue [bots] part 4, the second framework: Hummingbot's `Position` table
//! (strategy V2 position holds), as Hummingbot's own code writes it
//! (testdata/hummingbot/generate.py), on SQLite and PostgreSQL, with
//! `preset: hummingbot` and the connector as a filter, beside the Pacifica
//! simulator.
//!
//! The fixture's binance_perpetual rows: 1 BTC-USDT BUY 0.07 (open),
//! 2 ETH-USDT SELL 1.2 (the short was closed; Hummingbot itself left the
//! row), 3 SOL-USDT BUY 0 and 5 ETH-USDT BUY 0 (flat). Row 4 is another
//! connector's. The exchange holds the BTC long only. Expected: row 2 closed
//! the way Hummingbot closes a long (its amount set to 0, archived), nothing
//! else written, nothing deleted.

mod common;

use std::time::Duration;

use common::*;
use driftwatch::reconcile::State;
use driftwatch::venue::pacifica::sim::SimConfig;
use rust_decimal::Decimal;

const T: Duration = Duration::from_secs(30);

#[derive(Clone, Copy, PartialEq)]
enum Store {
    Sqlite,
    Postgres,
}

async fn hummingbot_db(store: Store, dir: &TempDir) -> Option<String> {
    let here = env!("CARGO_MANIFEST_DIR");
    match store {
        Store::Sqlite => {
            let path = dir.path().join("hummingbot_trades.sqlite");
            std::fs::copy(format!("{here}/testdata/hummingbot/hummingbot_trades.sqlite"), &path).unwrap();
            Some(format!("sqlite://{}", path.display()))
        }
        Store::Postgres => {
            let url = pg_database("hummingbot").await?;
            let dump = std::fs::read_to_string(format!("{here}/testdata/hummingbot/hummingbot.postgres.sql")).unwrap();
            exec(&url, &dump).await;
            Some(url)
        }
    }
}

/// (trading_pair, side, raw amount) of every row, in id order of the fixture.
async fn positions(url: &str) -> Vec<(String, String, String)> {
    texts(
        url,
        r#"SELECT trading_pair, side, CAST(amount AS TEXT) FROM "Position" ORDER BY controller_id, connector_name, trading_pair, side"#,
    )
    .await
    .into_iter()
    .map(|r| {
        (
            r[0].clone().unwrap(),
            r[1].clone().unwrap(),
            r[2].clone().unwrap(),
        )
    })
    .collect()
}

async fn hummingbot_end_to_end(store: Store) {
    let dir = TempDir::new("hummingbot");
    let Some(url) = hummingbot_db(store, &dir).await else {
        return;
    };
    let before = positions(&url).await;
    let sim = start_sim(SimConfig::default()).await;
    sim.sim.open(ACCOUNT, "BTC", "bid", "0.07", "97000");
    let text = fast_config_with(
        &sim.addrs,
        &url,
        "      preset: hummingbot\n      filter: {connector_name: binance_perpetual}",
        "    correct: {mode: apply, confirmations: 2}\n",
        &format!("sqlite://{}", dir.path().join("journal.db").display()),
    );
    let app = start_app(&text, false).await;
    let s = wait_for(&app, "the correction cycle", T, |s| s.accounts[0].corrections.is_some()).await;
    let summary = s.accounts[0].corrections.clone().unwrap();
    assert!(
        summary.starts_with("applied: 0 updated, 0 created, 0 deleted, 1 closed"),
        "{summary}"
    );
    // BTC-USDT is BTC, 0.07 (70000 × 10⁻⁶), in sync.
    let s = wait_for(&app, "ETH flat on both sides after the close", T, |s| {
        matches!(state(s, "ETH"), None | Some(State::InSync))
    })
    .await;
    assert_eq!(state(&s, "BTC"), Some(State::InSync));
    assert_eq!(
        row(&s, "BTC").unwrap().db.believed(),
        Some("0.07".parse::<Decimal>().unwrap())
    );
    app.shutdown_within(Duration::from_secs(2)).await;

    let after = positions(&url).await;
    assert_eq!(after.len(), before.len(), "nothing deleted");
    let changed: Vec<_> = before.iter().zip(&after).filter(|(b, a)| b != a).collect();
    assert_eq!(
        changed,
        vec![(
            &("ETH-USDT".to_string(), "SELL".to_string(), "1200000".to_string()),
            &("ETH-USDT".to_string(), "SELL".to_string(), "0".to_string())
        )],
        "only the stale short's amount, set to 0"
    );
    let archived = texts(&url, "SELECT op, before_row FROM driftwatch_archive").await;
    assert_eq!(archived.len(), 1);
    assert_eq!(archived[0][0].as_deref(), Some("closed"));
    assert!(archived[0][1].as_deref().unwrap().contains("1200000"));
}

#[tokio::test]
async fn a_real_hummingbot_sqlite_database_end_to_end() {
    hummingbot_end_to_end(Store::Sqlite).await;
}

#[tokio::test]
async fn a_real_hummingbot_postgres_database_end_to_end() {
    hummingbot_end_to_end(Store::Postgres).await;
}
