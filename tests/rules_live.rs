//! Rules in the running daemon, over real sockets against the simulator:
//! the 2026-02-03 SOL residual closed reduce-only after its hold, disarmed
//! mode, the guards, a delta-neutral pair, and hot reload.

mod common;

use std::time::Duration;

use common::*;
use driftwatch::venue::pacifica::sim::SimConfig;
use rust_decimal::Decimal;

// Generous: on a loaded 2-core machine a close can wait out a back-off or two.
const T: Duration = Duration::from_secs(30);
const MAIN_KEYPAIR: &str = "2Ana1pUpv2ZbMVkwF5FXapYeBEjdxDatLn7nvJkhgTSdZd8hbDHTd21as7EAsg7ypityqfsw2pMQKJcVDVcAEsd";

const UNTRACKED: &str = "rules:
  - id: untracked-position
    condition: {untracked_position: {notional_usd: 25}}
    for: 1s
    cooldown: 1m
    severity: critical
    actions: [alert, reduce_to_bot]
";

fn config(sim: &SimHandle, dir: &TempDir, db: &str, rules: &str, armed: bool, extra: &str) -> String {
    let rules_dir = dir.path().join("rules");
    std::fs::create_dir_all(&rules_dir).unwrap();
    std::fs::write(rules_dir.join("r.yaml"), rules).unwrap();
    let key = dir.path().join("key");
    std::fs::write(&key, MAIN_KEYPAIR).unwrap();
    let account = format!(
        "    correct: {{mode: off}}\n    close: {{key: {{file: {}}}, armed: {armed}, verify_timeout: 3s}}\n",
        key.display()
    );
    format!(
        "{}rules: {{dir: {}, reload_interval: 200ms}}\n{extra}",
        fast_config_with(
            &sim.addrs,
            db,
            NEXWAVE_MAPPING,
            &account,
            &format!("sqlite://{}", dir.path().join("journal.db").display())
        ),
        rules_dir.display()
    )
}

fn fast_sim() -> SimConfig {
    SimConfig {
        speed_bump: Duration::from_millis(50),
        ..SimConfig::default()
    }
}

/// [`eventually_flat`] for SOL, printing what the process believed if it
/// never gets there (this test failed twice on a loaded machine, never alone).
async fn flat_or_explain(app: &driftwatch::app::Running, sim: &SimHandle) {
    let deadline = std::time::Instant::now() + T;
    while sim.sim.position(ACCOUNT, "SOL") != Decimal::ZERO {
        if std::time::Instant::now() > deadline {
            let s = app.snapshots.borrow().clone();
            let metrics = app.metrics.render();
            let lines: Vec<&str> = metrics
                .lines()
                .filter(|l| !l.starts_with('#') && (l.contains("emergency_closes") || l.contains("rule_")))
                .collect();
            panic!(
                "SOL never flat: sources {:?}\nrows {:?}\nlast close {:?}\norders {}\n{}",
                s.accounts[0].report.sources,
                s.accounts[0].report.rows,
                s.accounts[0].closes,
                sim.sim.orders().len(),
                lines.join("\n")
            );
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

async fn eventually_flat(sim: &SimHandle, symbol: &str, want: Decimal) {
    eventually(&format!("{symbol} at {want}"), T, || async {
        sim.sim.position(ACCOUNT, symbol) == want
    })
    .await;
}

#[tokio::test]
async fn the_sol_residual_is_closed_reduce_only_after_its_hold() {
    let sim = start_sim(fast_sim()).await;
    sim.sim.set_mark("SOL", "125");
    sim.sim.open(ACCOUNT, "SOL", "bid", "0.5", "123");
    let dir = TempDir::new("sol");
    let db = sqlite_db(&dir, &[]).await;
    let app = start_app(&config(&sim, &dir, &db, UNTRACKED, true, ""), false).await;
    let mut pages = app.pages.subscribe();
    eventually_flat(&sim, "SOL", Decimal::ZERO).await;
    let orders = sim.sim.orders();
    assert_eq!(orders.len(), 1, "one close, not more");
    assert_eq!(orders[0].body["reduce_only"], true);
    assert_eq!(orders[0].body["side"], "ask");
    assert_eq!(orders[0].body["amount"], "0.5");
    // Paged with the rule id, and counted.
    let page = tokio::time::timeout(T, pages.recv()).await.unwrap().unwrap();
    assert_eq!(page.id, "untracked-position");
    eventually("the close is counted", T, || async {
        sample(
            &app.metrics.render(),
            r#"driftwatch_emergency_closes_total{account="main",result="verified",symbol="SOL",venue="pacifica"}"#,
        ) == Some(1.0)
    })
    .await;
    let metrics = app.metrics.render();
    assert!(sample(&metrics, r#"driftwatch_rule_triggers_total{rule="untracked-position"}"#).unwrap() >= 1.0);
    app.shutdown_within(Duration::from_secs(5)).await;
    let j = driftwatch::journal::Journal::open(&format!("sqlite://{}", dir.path().join("journal.db").display()))
        .await
        .unwrap();
    let entries = j.history(driftwatch::domain::Timestamp(0), Some("SOL")).await.unwrap();
    assert_eq!(entries.len(), 1, "{entries:?}");
    assert_eq!(entries[0].kind, driftwatch::journal::Kind::EmergencyClose);
    assert_eq!(entries[0].op, "reduce_to_bot");
    assert_eq!(entries[0].status, "verified");
    assert!(entries[0].detail.contains(r#""rule":"untracked-position""#));
}

#[tokio::test]
async fn disarmed_closes_send_nothing() {
    let sim = start_sim(fast_sim()).await;
    sim.sim.set_mark("SOL", "125");
    sim.sim.open(ACCOUNT, "SOL", "bid", "0.5", "123");
    let dir = TempDir::new("disarmed");
    let db = sqlite_db(&dir, &[]).await;
    let app = start_app(&config(&sim, &dir, &db, UNTRACKED, false, ""), false).await;
    eventually("a disarmed close", T, || async {
        sample(
            &app.metrics.render(),
            r#"driftwatch_emergency_closes_total{account="main",result="disarmed",symbol="SOL",venue="pacifica"}"#,
        ) == Some(1.0)
    })
    .await;
    assert!(sim.sim.orders().is_empty());
    assert_eq!(sim.sim.position(ACCOUNT, "SOL"), "0.5".parse::<Decimal>().unwrap());
    app.shutdown_within(Duration::from_secs(5)).await;
}

#[tokio::test]
async fn a_close_above_the_notional_cap_is_refused_and_paged() {
    let sim = start_sim(fast_sim()).await;
    sim.sim.set_mark("SOL", "125");
    sim.sim.open(ACCOUNT, "SOL", "bid", "0.5", "123");
    let dir = TempDir::new("cap");
    let db = sqlite_db(&dir, &[]).await;
    let app = start_app(
        &config(&sim, &dir, &db, UNTRACKED, true, "closes: {max_notional_usd: 50}\n"),
        false,
    )
    .await;
    let mut pages = app.pages.subscribe();
    let refused = tokio::time::timeout(T, async {
        loop {
            let p = pages.recv().await.unwrap();
            if p.summary.contains("refused") {
                return p;
            }
        }
    })
    .await
    .unwrap();
    assert!(
        refused.summary.contains("notional 62.5 USD above max_notional_usd 50"),
        "{}",
        refused.summary
    );
    assert!(sim.sim.orders().is_empty());
    app.shutdown_within(Duration::from_secs(5)).await;
}

#[tokio::test]
async fn a_delta_neutral_pair_is_trimmed_back_to_neutral() {
    let sim = start_sim(fast_sim()).await;
    sim.sim.set_mark("ETH", "3000");
    sim.sim.set_mark("SOL", "150");
    // The bot believes ETH +0.1 / SOL -2 ($300 / -$300); the exchange holds 0.5 SOL more short.
    sim.sim.open(ACCOUNT, "ETH", "bid", "0.1", "3000");
    sim.sim.open(ACCOUNT, "SOL", "ask", "2.5", "150");
    let dir = TempDir::new("pair");
    let db = sqlite_db(&dir, &[("ETH", "bid", 0.1), ("SOL", "ask", 2.0)]).await;
    let rules = "groups:
  eth_sol: [ETH, SOL]
rules:
  - id: eth-sol-net-exposure
    scope: {groups: [eth_sol]}
    condition: {net_exposure: {group: eth_sol, above_usd: 50}}
    for: 1s
    severity: critical
    actions: [alert, reduce_to_bot]
";
    let app = start_app(&config(&sim, &dir, &db, rules, true, ""), false).await;
    eventually_flat(&sim, "SOL", "-2".parse().unwrap()).await;
    assert_eq!(
        sim.sim.position(ACCOUNT, "ETH"),
        "0.1".parse::<Decimal>().unwrap(),
        "the other leg is untouched"
    );
    let orders = sim.sim.orders();
    assert_eq!(orders.len(), 1);
    assert_eq!(orders[0].body["side"], "bid");
    assert_eq!(orders[0].body["amount"], "0.5");
    app.shutdown_within(Duration::from_secs(5)).await;
}

#[tokio::test]
async fn rules_reload_on_change_and_a_bad_file_keeps_the_old_rules() {
    let sim = start_sim(fast_sim()).await;
    sim.sim.set_mark("SOL", "125");
    let dir = TempDir::new("reload");
    let db = sqlite_db(&dir, &[]).await;
    let app = start_app(&config(&sim, &dir, &db, UNTRACKED, true, ""), false).await;
    let file = dir.path().join("rules").join("r.yaml");
    let metric = |name: &str| {
        sample(
            &app.metrics.render(),
            &format!(r#"driftwatch_rules_reload_total{{result="{name}"}}"#),
        )
    };
    // A bad file: refused, the old rules stay.
    std::fs::write(&file, UNTRACKED.replace("severity: critical", "severity: urgent")).unwrap();
    eventually("a failed reload", T, || async { metric("failure") == Some(1.0) }).await;
    sim.sim.open(ACCOUNT, "SOL", "bid", "0.5", "123");
    flat_or_explain(&app, &sim).await;
    // A good file: the new rules are in force (a position limit that closes everything above 1 SOL).
    std::fs::write(
        &file,
        "rules:\n  - id: sol-limit\n    scope: {symbols: [SOL]}\n    condition: {position_limit: {size: 1}}\n    severity: critical\n    actions: [close_position]\n",
    )
    .unwrap();
    eventually("a successful reload", T, || async { metric("success") == Some(1.0) }).await;
    let db_rows = sqlite_db(&dir, &[("SOL", "bid", 2.0)]).await;
    let _ = db_rows;
    sim.sim.open(ACCOUNT, "SOL", "bid", "2", "123");
    flat_or_explain(&app, &sim).await;
    assert!(
        sample(
            &app.metrics.render(),
            r#"driftwatch_rule_triggers_total{rule="sol-limit"}"#
        )
        .unwrap()
            >= 1.0
    );
    app.shutdown_within(Duration::from_secs(5)).await;
}

async fn pending_close(dir: &TempDir, cloid: &str) {
    pending_close_as(dir, cloid, driftwatch::clock::now(), true).await;
}

async fn pending_close_as(dir: &TempDir, cloid: &str, at: driftwatch::domain::Timestamp, armed: bool) {
    let j = driftwatch::journal::Journal::open(&format!("sqlite://{}", dir.path().join("journal.db").display()))
        .await
        .unwrap();
    j.record(&[driftwatch::journal::Entry {
        entry_id: driftwatch::journal::entry_id(cloid, 0),
        correlation_id: cloid.into(),
        created_at: at,
        kind: driftwatch::journal::Kind::EmergencyClose,
        venue: "pacifica".into(),
        account: "main".into(),
        symbol: "SOL".into(),
        op: "close_position".into(),
        status: driftwatch::journal::Status::Pending,
        detail: format!(
            r#"{{"rule":"sol-limit","target":"flatten","lot":"0.01","client_order_id":"{cloid}","armed":{armed}}}"#
        ),
        finished_at: None,
    }])
    .await
    .unwrap();
    j.close().await;
}

#[tokio::test]
async fn a_restart_resumes_an_unfinished_close_with_its_own_client_order_id() {
    let sim = start_sim(fast_sim()).await;
    sim.sim.open(ACCOUNT, "SOL", "bid", "0.5", "123");
    let dir = TempDir::new("resume");
    let db = sqlite_db(&dir, &[("SOL", "bid", 0.5)]).await;
    // The previous run journaled this close and died before sending it.
    pending_close(&dir, "11111111-1111-4111-8111-111111111111").await;
    // Corrections on: their start-up recovery settles corrections only,
    // never the close the closes task resumes.
    let cfg = config(&sim, &dir, &db, "rules: []\n", true, "")
        .replace("correct: {mode: off}", "correct: {mode: apply, confirmations: 2}");
    let app = start_app(&cfg, false).await;
    eventually_flat(&sim, "SOL", Decimal::ZERO).await;
    let orders = sim.sim.orders();
    assert_eq!(orders.len(), 1);
    assert_eq!(
        orders[0].body["client_order_id"],
        "11111111-1111-4111-8111-111111111111"
    );
    wait_for(&app, "the resumed close finished", T, |s| {
        s.accounts[0].closes.is_some()
    })
    .await;
    app.shutdown_within(Duration::from_secs(5)).await;
    let j = driftwatch::journal::Journal::open(&format!("sqlite://{}", dir.path().join("journal.db").display()))
        .await
        .unwrap();
    let entries = j.history(driftwatch::domain::Timestamp(0), Some("SOL")).await.unwrap();
    let resumed: Vec<_> = entries
        .iter()
        .filter(|e| e.correlation_id == "11111111-1111-4111-8111-111111111111")
        .collect();
    assert_eq!(resumed.len(), 1, "{entries:?}");
    assert_eq!(resumed[0].status, "verified", "{entries:?}");
    j.close().await;
}

#[tokio::test]
async fn a_restart_after_the_order_landed_sends_no_second_order() {
    use driftwatch::plan::close::{CloseOrder, OrderSide};
    use driftwatch::venue::pacifica::close::{signed_body, CloseParams};
    use driftwatch::venue::pacifica::sign::Keypair;
    let sim = start_sim(SimConfig {
        speed_bump: Duration::from_millis(400),
        ..SimConfig::default()
    })
    .await;
    sim.sim.open(ACCOUNT, "SOL", "bid", "0.5", "123");
    let dir = TempDir::new("landed");
    let db = sqlite_db(&dir, &[("SOL", "bid", 0.5)]).await;
    let cloid = "22222222-2222-4222-8222-222222222222";
    pending_close(&dir, cloid).await;
    // The previous run sent it; it is still inside the venue's speed bump.
    let key = Keypair::from_base58(MAIN_KEYPAIR).unwrap();
    let p = CloseParams {
        account: ACCOUNT,
        signer: &key,
        agent: false,
        slippage_percent: Decimal::ONE,
        expiry_window_ms: 5000,
        run: driftwatch::venue::types::CloseRun {
            armed: true,
            max_attempts: 1,
            verify_timeout: Duration::ZERO,
        },
    };
    let order = CloseOrder {
        symbol: "SOL".into(),
        side: OrderSide::Ask,
        amount: "0.5".parse().unwrap(),
    };
    let body = signed_body(&p, &order, cloid, driftwatch::clock::now().0 as u64).unwrap();
    driftwatch::venue::pacifica::http::RestClient::new(&sim.addrs.rest_url(), ACCOUNT, None, Duration::from_secs(2))
        .unwrap()
        .create_market_order(&body)
        .await
        .unwrap();
    let app = start_app(&config(&sim, &dir, &db, "rules: []\n", true, ""), false).await;
    eventually_flat(&sim, "SOL", Decimal::ZERO).await;
    tokio::time::sleep(Duration::from_millis(600)).await;
    let executed = sim.sim.orders().iter().filter(|o| o.status == 200).count();
    assert_eq!(
        executed,
        1,
        "the resumed close was answered 36 or found flat: {:?}",
        sim.sim.orders()
    );
    assert_eq!(sim.sim.position(ACCOUNT, "SOL"), Decimal::ZERO);
    app.shutdown_within(Duration::from_secs(5)).await;
}

#[tokio::test]
async fn an_unverified_close_is_tried_again_from_a_fresh_read() {
    let sim = start_sim(fast_sim()).await;
    let dir = TempDir::new("unverified");
    let db = sqlite_db(&dir, &[]).await;
    let rules = "rules:\n  - id: sol-limit\n    scope: {symbols: [SOL]}\n    condition: {position_limit: {size: 1}}\n    severity: critical\n    actions: [close_position]\n";
    let app = start_app(&config(&sim, &dir, &db, rules, true, ""), false).await;
    wait_for(&app, "trusted", T, ws_trusted).await;
    // The venue accepts the first close and loses it.
    sim.sim.skip_next_fill();
    sim.sim.open(ACCOUNT, "SOL", "bid", "2", "123");
    eventually_flat(&sim, "SOL", Decimal::ZERO).await;
    let accepted: Vec<_> = sim.sim.orders().into_iter().filter(|o| o.status == 200).collect();
    assert_eq!(accepted.len(), 2, "one lost, one retried");
    assert_ne!(
        accepted[0].body["client_order_id"], accepted[1].body["client_order_id"],
        "a new intent"
    );
    eventually("counted", T, || async {
        let m = app.metrics.render();
        sample(
            &m,
            r#"driftwatch_emergency_closes_total{account="main",result="unverified",symbol="SOL",venue="pacifica"}"#,
        ) == Some(1.0)
            && sample(
                &m,
                r#"driftwatch_emergency_closes_total{account="main",result="verified",symbol="SOL",venue="pacifica"}"#,
            ) == Some(1.0)
    })
    .await;
    app.shutdown_within(Duration::from_secs(5)).await;
}

#[tokio::test]
async fn shutdown_waits_for_a_close_in_flight_and_journals_its_outcome() {
    // The venue holds each order 1.5 s: shutdown arrives while the close is in flight.
    let sim = start_sim(SimConfig {
        speed_bump: Duration::from_millis(1500),
        ..SimConfig::default()
    })
    .await;
    sim.sim.set_mark("SOL", "125");
    sim.sim.open(ACCOUNT, "SOL", "bid", "0.5", "123");
    let dir = TempDir::new("drain");
    let db = sqlite_db(&dir, &[]).await;
    let app = start_app(&config(&sim, &dir, &db, UNTRACKED, true, ""), false).await;
    let journal = format!("sqlite://{}", dir.path().join("journal.db").display());
    let journal_file = dir.path().join("journal.db");
    eventually("a close journaled as pending", T, || async {
        // The file exists a moment before its table does.
        journal_file.exists()
            && try_texts(
                &journal,
                "SELECT status FROM driftwatch_journal WHERE kind = 'emergency_close'",
            )
            .await
            .is_ok_and(|rows| rows.iter().any(|r| r[0].as_deref() == Some("pending")))
    })
    .await;
    let started = std::time::Instant::now();
    app.shutdown_within(Duration::from_secs(10)).await;
    assert!(started.elapsed() < Duration::from_secs(10));
    // The close finished before the process let go: sent, filled, verified, journaled.
    assert_eq!(sim.sim.position(ACCOUNT, "SOL"), Decimal::ZERO);
    let rows = texts(
        &journal,
        "SELECT status FROM driftwatch_journal WHERE kind = 'emergency_close'",
    )
    .await;
    assert_eq!(rows.len(), 1, "{rows:?}");
    assert_eq!(rows[0][0].as_deref(), Some("verified"));
}

#[tokio::test]
async fn a_failing_close_backs_off_instead_of_spending_the_hours_closes() {
    use driftwatch::venue::pacifica::sim::RestFault;
    let sim = start_sim(fast_sim()).await;
    let dir = TempDir::new("backoff");
    let db = sqlite_db(&dir, &[]).await;
    // No cooldown: the rule holds and asks again at every evaluation.
    let rules = "rules:\n  - id: sol-limit\n    scope: {symbols: [SOL]}\n    condition: {position_limit: {size: 1}}\n    cooldown: 0s\n    severity: critical\n    actions: [close_position]\n";
    let app = start_app(&config(&sim, &dir, &db, rules, true, ""), false).await;
    wait_for(&app, "trusted", T, ws_trusted).await;
    let mut pages = app.pages.subscribe();
    // Every REST read fails: each close finds no fresh read and fails.
    sim.sim.set_rest_fault(Some(RestFault::ServerError), None);
    sim.sim.open(ACCOUNT, "SOL", "bid", "2", "123");
    let failed = |m: &str| {
        sample(
            m,
            r#"driftwatch_emergency_closes_total{account="main",result="failed",symbol="SOL",venue="pacifica"}"#,
        )
        .unwrap_or(0.0)
    };
    let refused = |m: &str| {
        sample(
            m,
            r#"driftwatch_emergency_closes_total{account="main",result="refused",symbol="SOL",venue="pacifica"}"#,
        )
        .unwrap_or(0.0)
    };
    // A close that started before REST failed fails; once REST is untrusted
    // the next are refused before they start (no close without REST).
    let tried = |m: &str| failed(m) + refused(m);
    eventually("a failed or refused close", T, || async {
        tried(&app.metrics.render()) >= 1.0
    })
    .await;
    tokio::time::sleep(Duration::from_millis(3500)).await;
    // 1 s, 2 s, 4 s apart: at most three in 3.5 s, not the hour's ten
    // (max_per_hour), nor one per evaluation.
    let n = tried(&app.metrics.render());
    assert!((2.0..=3.0).contains(&n), "{n} failed or refused closes in 3.5 s");
    let mut paged = 0;
    while let Ok(p) = pages.try_recv() {
        paged += usize::from(p.summary.contains("refused"));
    }
    assert!(paged <= 3, "{paged} refusal pages in 3.5 s");
    assert!(sim.sim.orders().is_empty(), "no order without a fresh read");
    // The venue recovers: the next try closes it.
    sim.sim.set_rest_fault(None, None);
    eventually_flat(&sim, "SOL", Decimal::ZERO).await;
    app.shutdown_within(Duration::from_secs(5)).await;
}

/// Issue [safety] 8: a rule's cooldown survives a restart (it is journaled
/// when the rule fires). Before, every restart forgot it and the rule fired
/// (and could close) again at once.
#[tokio::test]
async fn a_cooldown_survives_a_restart() {
    let sim = start_sim(fast_sim()).await;
    sim.sim.open(ACCOUNT, "BTC", "bid", "1", "90000");
    let dir = TempDir::new("cooldown");
    let db = sqlite_db(&dir, &[("BTC", "bid", 1.0)]).await;
    let rules = "rules:\n  - id: btc-limit\n    condition: {position_limit: {size: 0.5}}\n    cooldown: 15m\n    severity: warning\n    actions: [alert]\n";
    let triggers = |m: &str| sample(m, r#"driftwatch_rule_triggers_total{rule="btc-limit"}"#).unwrap_or(0.0);
    let firing = |m: &str| sample(m, r#"driftwatch_rule_firing{rule="btc-limit"}"#) == Some(1.0);
    let app = start_app(&config(&sim, &dir, &db, rules, false, ""), false).await;
    eventually("the rule fires", T, || async { triggers(&app.metrics.render()) >= 1.0 }).await;
    app.shutdown_within(Duration::from_secs(5)).await;

    let app = start_app(&config(&sim, &dir, &db, rules, false, ""), false).await;
    // The positive signal: the condition holds again in the new process
    // (the gauge is set by the same evaluation that would have fired).
    eventually("the condition holds after the restart", T, || async {
        firing(&app.metrics.render())
    })
    .await;
    wait_for(&app, "a few more evaluations", T, |s| {
        s.accounts[0].report.sources.iter().all(|h| h.trusted)
    })
    .await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(triggers(&app.metrics.render()), 0.0, "fired again inside its cooldown");
    app.shutdown_within(Duration::from_secs(5)).await;
}

/// Issue [safety] 4 and 15: under a position that keeps growing, one
/// `reduce_to_bot` decision used to send three orders (the first intent and
/// two unverified retries, each re-sized from a new read). The total sent for
/// a decision is now bounded by the excess its first fresh read found.
#[tokio::test]
async fn one_decision_never_sends_more_than_the_excess_it_judged() {
    let sim = start_sim(fast_sim()).await;
    sim.sim.set_mark("SOL", "125");
    sim.sim.open(ACCOUNT, "SOL", "bid", "0.5", "123");
    let dir = TempDir::new("bounded");
    let db = sqlite_db(&dir, &[]).await;
    // The bot keeps buying: the close never sees its target.
    let grower = {
        let sim = sim.sim.clone();
        tokio::spawn(async move {
            for _ in 0..150 {
                tokio::time::sleep(Duration::from_millis(100)).await;
                let size = sim.position(ACCOUNT, "SOL") + Decimal::new(1, 2);
                sim.open(ACCOUNT, "SOL", "bid", &size.to_string(), "123");
            }
        })
    };
    let app = start_app(&config(&sim, &dir, &db, UNTRACKED, true, ""), false).await;
    let unverified = |m: &str| {
        sample(
            m,
            r#"driftwatch_emergency_closes_total{account="main",result="unverified",symbol="SOL",venue="pacifica"}"#,
        )
        .unwrap_or(0.0)
    };
    eventually("the close ends unverified", T, || async {
        unverified(&app.metrics.render()) >= 1.0
    })
    .await;
    grower.abort();
    let orders = sim.sim.orders();
    assert_eq!(orders.len(), 1, "no retry beyond the decision's excess: {orders:?}");
    app.shutdown_within(Duration::from_secs(5)).await;
}

/// Issue [safety] 10: a close journaled long before a crash, or while
/// disarmed, is not resumed on restart (the bot may have reopened the
/// position since; a disarmed close never sends): it is settled, the old one
/// paged, and the rules decide again on a fresh view.
#[tokio::test]
async fn a_stale_or_disarmed_pending_close_is_not_resumed() {
    for (cloid, age_ms, armed, status) in [
        ("33333333-3333-4333-8333-333333333333", 3_600_000, true, "abandoned"),
        ("44444444-4444-4444-8444-444444444444", 0, false, "disarmed"),
    ] {
        let sim = start_sim(fast_sim()).await;
        sim.sim.open(ACCOUNT, "SOL", "bid", "0.5", "123");
        let dir = TempDir::new("stale-resume");
        let db = sqlite_db(&dir, &[("SOL", "bid", 0.5)]).await;
        let at = driftwatch::domain::Timestamp(driftwatch::clock::now().0 - age_ms);
        pending_close_as(&dir, cloid, at, armed).await;
        let app = start_app(&config(&sim, &dir, &db, "rules: []\n", true, ""), false).await;
        let journal = format!("sqlite://{}", dir.path().join("journal.db").display());
        // The positive signal: the entry was settled at start-up.
        eventually("the pending close settled", T, || async {
            try_texts(
                &journal,
                "SELECT status FROM driftwatch_journal WHERE kind = 'emergency_close'",
            )
            .await
            .is_ok_and(|rows| rows.iter().any(|r| r[0].as_deref() == Some(status)))
        })
        .await;
        wait_for(&app, "trusted", T, ws_trusted).await;
        assert!(sim.sim.orders().is_empty(), "{cloid}: not resumed");
        assert_eq!(sim.sim.position(ACCOUNT, "SOL"), Decimal::new(5, 1));
        app.shutdown_within(Duration::from_secs(5)).await;
    }
}

/// Issue [baselines] 5: a close that could not go (refused while REST and
/// the stream disagreed, or failed) is decided again when its back-off ends,
/// not only after the rule's cooldown (15 minutes here).
#[tokio::test]
async fn a_refused_close_is_decided_again_after_its_back_off_not_its_cooldown() {
    use driftwatch::venue::pacifica::sim::RestFault;
    let sim = start_sim(fast_sim()).await;
    sim.sim.set_mark("SOL", "125");
    sim.sim.open(ACCOUNT, "SOL", "bid", "0.5", "123");
    let dir = TempDir::new("refused-again");
    let db = sqlite_db(&dir, &[("SOL", "bid", 0.5)]).await;
    let rules = "rules:\n  - id: sol-limit\n    scope: {symbols: [SOL]}\n    condition: {position_limit: {size: 1}}\n    cooldown: 15m\n    severity: critical\n    actions: [close_position]\n";
    let app = start_app(&config(&sim, &dir, &db, rules, true, ""), false).await;
    wait_for(&app, "trusted", T, |s| {
        s.accounts[0].report.sources.iter().all(|h| h.trusted)
    })
    .await;
    // REST breaks (answers "no positions") as the position crosses the limit.
    sim.sim.set_rest_fault(Some(RestFault::EmptyPositions), None);
    sim.sim.open(ACCOUNT, "SOL", "bid", "2", "123");
    let not_done = |m: &str| {
        ["refused", "nothing_to_do"]
            .iter()
            .map(|r| {
                sample(
                    m,
                    &format!(
                        r#"driftwatch_emergency_closes_total{{account="main",result="{r}",symbol="SOL",venue="pacifica"}}"#
                    ),
                )
                .unwrap_or(0.0)
            })
            .sum::<f64>()
    };
    // Refused (the views disagree) or, decided on the stream before REST
    // was read again, found nothing by its fresh REST read.
    eventually("a close that could not go", T, || async {
        not_done(&app.metrics.render()) >= 1.0
    })
    .await;
    assert!(sim.sim.orders().is_empty());
    sim.sim.set_rest_fault(None, None);
    eventually_flat(&sim, "SOL", Decimal::ZERO).await;
    assert_eq!(sim.sim.orders().len(), 1);
    app.shutdown_within(Duration::from_secs(5)).await;
}

/// Issue [safety] 11: a close in flight may still retry (unverified: a new
/// intent), and those retries count toward `max_per_hour`. They are reserved
/// while it runs, so a second symbol's close cannot slip in under the limit
/// and the two sum past it.
#[tokio::test]
async fn a_close_in_flight_reserves_its_retries_against_max_per_hour() {
    let sim = start_sim(fast_sim()).await;
    let dir = TempDir::new("reserve");
    let db = sqlite_db(&dir, &[]).await;
    let rules = "rules:\n  - id: flat\n    condition: {position_limit: {size: 0.01}}\n    cooldown: 0s\n    severity: critical\n    actions: [close_position]\n";
    let app = start_app(
        &config(&sim, &dir, &db, rules, true, "closes: {max_per_hour: 3}\n"),
        false,
    )
    .await;
    wait_for(&app, "trusted", T, ws_trusted).await;
    let mut pages = app.pages.subscribe();
    // SOL's order is accepted and never fills: its close stays in flight
    // (verifying for 3 s, then retrying).
    sim.sim.skip_next_fill();
    sim.sim.open(ACCOUNT, "SOL", "bid", "2", "123");
    eventually("SOL's order sent", T, || async { !sim.sim.orders().is_empty() }).await;
    sim.sim.open(ACCOUNT, "BTC", "bid", "1", "90000");
    let refused = |m: &str| {
        sample(
            m,
            r#"driftwatch_emergency_closes_total{account="main",result="refused",symbol="BTC",venue="pacifica"}"#,
        )
        .unwrap_or(0.0)
    };
    eventually("BTC's close refused", T, || async {
        refused(&app.metrics.render()) >= 1.0
    })
    .await;
    let mut why = Vec::new();
    while let Ok(p) = pages.try_recv() {
        why.push(p.summary);
    }
    assert!(
        why.iter().any(|w| w.contains("retries reserved by closes in flight")),
        "{why:?}"
    );
    assert!(
        sim.sim.orders().iter().all(|o| o.body["symbol"] == "SOL"),
        "no BTC order while SOL's retries are reserved"
    );
    app.shutdown_within(Duration::from_secs(5)).await;
}

/// A rule that asks again while its own close is in flight is left to that
/// close, which pages its own outcome: here REST fails while the close
/// verifies (so a close now would be refused), and the rule's further
/// decisions are neither sent nor refused (before, each was refused and
/// paged, "no close while a source is untrusted", at the rule's severity;
/// the same with a frame ahead of the close's reads, "the stream and REST
/// disagree").
#[tokio::test]
async fn a_rule_asking_again_while_its_close_is_in_flight_is_left_to_that_close() {
    use driftwatch::venue::pacifica::sim::RestFault;
    let sim = start_sim(fast_sim()).await;
    let dir = TempDir::new("in-flight-quiet");
    let db = sqlite_db(&dir, &[]).await;
    let rules = "rules:\n  - id: flat\n    scope: {symbols: [SOL]}\n    condition: {position_limit: {size: 0.01}}\n    cooldown: 0s\n    severity: critical\n    actions: [close_position]\n";
    let app = start_app(&config(&sim, &dir, &db, rules, true, ""), false).await;
    wait_for(&app, "trusted", T, ws_trusted).await;
    // The order is accepted and never fills: the close verifies for 3 s.
    sim.sim.skip_next_fill();
    sim.sim.open(ACCOUNT, "SOL", "bid", "2", "123");
    eventually("SOL's order sent", T, || async { !sim.sim.orders().is_empty() }).await;
    let closes = |m: &str, result: &str| {
        sample(
            m,
            &format!(
                r#"driftwatch_emergency_closes_total{{account="main",result="{result}",symbol="SOL",venue="pacifica"}}"#
            ),
        )
        .unwrap_or(0.0)
    };
    let asked = |m: &str| sample(m, r#"driftwatch_rule_triggers_total{rule="flat"}"#).unwrap_or(0.0);
    // REST fails: a close now would be refused (its verification's reads
    // fail too, so it keeps verifying). The rule asks again meanwhile.
    sim.sim.set_rest_fault(Some(RestFault::ServerError), None);
    wait_for(&app, "a close would be refused", T, |s| {
        driftwatch::plan::exchange_blocked(&s.accounts[0].report).is_some()
    })
    .await;
    let before = asked(&app.metrics.render());
    eventually("the rule asked again", T, || async {
        asked(&app.metrics.render()) > before
    })
    .await;
    let m = app.metrics.render();
    let finished: f64 = driftwatch::metrics::CLOSE_RESULTS
        .iter()
        .filter(|r| **r != driftwatch::journal::Status::Refused)
        .map(|r| closes(&m, r.as_str()))
        .sum();
    assert_eq!(finished, 0.0, "the close was still in flight when the rule asked again");
    assert_eq!(closes(&m, "refused"), 0.0, "nothing refused while its own close runs");
    assert_eq!(sim.sim.orders().len(), 1, "nothing sent beside it");
    sim.sim.set_rest_fault(None, None);
    app.shutdown_within(Duration::from_secs(5)).await;
}

/// `trim` reduces SOL to what the bot explains; `cap` closes any SOL over
/// 0.5; both with an hour's cooldown.
const TRIM_AND_CAP: &str = "rules:
  - id: trim
    condition: {untracked_position: {size: 0.1}}
    cooldown: 1h
    severity: critical
    actions: [reduce_to_bot]
  - id: cap
    condition: {position_limit: {size: 0.5}}
    cooldown: 1h
    severity: critical
    actions: [close_position]
";

/// A second rule about a leg whose close is in flight is left to that close
/// (neither sent nor refused), and decides again when the close ends, on
/// what the close left: here `trim` reduces SOL to what the bot's database
/// explains, and `cap`, whose decision came while that close ran, then
/// closes the rest. Before, `cap`'s cooldown (an hour) began with the
/// decision left to the other close, and the rest stayed open for the hour.
#[tokio::test]
async fn a_second_rules_decision_left_to_a_close_in_flight_is_made_again_when_it_ends() {
    let sim = start_sim(fast_sim()).await;
    sim.sim.set_mark("SOL", "125");
    let dir = TempDir::new("deferred");
    // The bot's database explains 1 SOL.
    let db = sqlite_db(&dir, &[("SOL", "bid", 1.0)]).await;
    let app = start_app(&config(&sim, &dir, &db, TRIM_AND_CAP, true, ""), false).await;
    wait_for(&app, "trusted", T, ws_trusted).await;
    // Both rules hold on the frame that opens 2 SOL; `trim` comes first.
    sim.sim.open(ACCOUNT, "SOL", "bid", "2", "123");
    eventually_flat(&sim, "SOL", Decimal::ZERO).await;
    let orders = sim.sim.orders();
    let amounts: Vec<&str> = orders
        .iter()
        .map(|o| o.body["amount"].as_str().unwrap_or("?"))
        .collect();
    assert_eq!(amounts, ["1", "1"], "trim's 1 (to the bot's 1), then cap's 1");
    assert!(orders.iter().all(|o| o.body["reduce_only"] == true));
    let m = app.metrics.render();
    let refused = sample(
        &m,
        r#"driftwatch_emergency_closes_total{account="main",result="refused",symbol="SOL",venue="pacifica"}"#,
    )
    .unwrap_or(0.0);
    assert_eq!(refused, 0.0, "the decision left to the close in flight was not refused");
    app.shutdown_within(Duration::from_secs(5)).await;
}

/// A firing whose only action was a close left to a close in flight is not
/// journaled as a firing: after a restart its rule decides afresh, rather
/// than waiting out a cooldown it never acted on. `cap` (cooldown 1 h)
/// decides on the frame `trim` does, and is left to `trim`'s close; the
/// process stops (after that close) and starts again: `cap` then closes
/// the rest. Before, its journaled firing held it for the hour.
#[tokio::test]
async fn a_decision_left_to_a_close_in_flight_is_made_after_a_restart() {
    // trim's order waits a second in the venue's speed bump: the process is
    // told to stop while its close is in flight.
    let sim = start_sim(SimConfig {
        speed_bump: Duration::from_secs(1),
        ..fast_sim()
    })
    .await;
    sim.sim.set_mark("SOL", "125");
    let dir = TempDir::new("deferred-restart");
    let db = sqlite_db(&dir, &[("SOL", "bid", 1.0)]).await;
    let text = config(&sim, &dir, &db, TRIM_AND_CAP, true, "");
    let app = start_app(&text, false).await;
    wait_for(&app, "trusted", T, ws_trusted).await;
    sim.sim.open(ACCOUNT, "SOL", "bid", "2", "123");
    // trim's order reached the venue: the evaluation that sent it had
    // already left cap's decision to it.
    eventually("trim's order", T, || async { !sim.sim.orders().is_empty() }).await;
    // Stopping waits for trim's close; cap has not acted.
    app.shutdown_within(Duration::from_secs(10)).await;
    assert_eq!(sim.sim.position(ACCOUNT, "SOL"), Decimal::ONE, "trim's close, alone");
    assert_eq!(sim.sim.orders().len(), 1);
    let app = start_app(&text, false).await;
    eventually_flat(&sim, "SOL", Decimal::ZERO).await;
    let amounts: Vec<String> = sim
        .sim
        .orders()
        .iter()
        .map(|o| o.body["amount"].as_str().unwrap_or("?").to_owned())
        .collect();
    assert_eq!(amounts, ["1", "1"], "trim's 1, then cap's 1 after the restart");
    app.shutdown_within(Duration::from_secs(5)).await;
}

/// A rule without cooldown does not fire a second close on a stream that
/// lags its verified close: the fresh read that verified it is newer than
/// the stream's view of the leg, so the leg waits (at most
/// `plan::settle::SETTLE_WITHIN`) for the stream to show it. Before, the
/// rule fired again at once; that close's fresh read found SOL flat
/// ("nothing to do"), and SOL's back-off then held the next real close.
#[tokio::test]
async fn a_rule_without_cooldown_waits_for_the_stream_to_show_its_verified_close() {
    let sim = start_sim(fast_sim()).await;
    let dir = TempDir::new("settle");
    let db = sqlite_db(&dir, &[]).await;
    let rules = "rules:\n  - id: flat\n    scope: {symbols: [SOL]}\n    condition: {position_limit: {size: 0.01}}\n    cooldown: 0s\n    severity: critical\n    actions: [close_position]\n";
    let app = start_app(&config(&sim, &dir, &db, rules, true, ""), false).await;
    wait_for(&app, "trusted", T, ws_trusted).await;
    sim.sim.open(ACCOUNT, "SOL", "bid", "2", "123");
    eventually("SOL's order sent", T, || async { !sim.sim.orders().is_empty() }).await;
    // From here every frame reaches the process 600 ms late (within its
    // 1 s silence timeout): the close is verified by REST first.
    sim.sim.set_frame_delay(Duration::from_millis(600));
    let closes = |result: driftwatch::journal::Status| {
        sample(
            &app.metrics.render(),
            &format!(
                r#"driftwatch_emergency_closes_total{{account="main",result="{}",symbol="SOL",venue="pacifica"}}"#,
                result.as_str()
            ),
        )
        .unwrap_or(0.0)
    };
    eventually("the close verified", T, || async {
        closes(driftwatch::journal::Status::Verified) == 1.0
    })
    .await;
    // The stream then shows SOL flat.
    wait_for(&app, "the stream shows SOL flat", T, |s| {
        s.accounts[0]
            .report
            .rows
            .iter()
            .filter(|r| r.key.symbol.as_str() == "SOL")
            .all(|r| r.ws.size.is_none_or(|x| x.is_zero()))
    })
    .await;
    sim.sim.set_frame_delay(Duration::ZERO);
    assert_eq!(
        closes(driftwatch::journal::Status::NothingToDo),
        0.0,
        "no second close on the lagging stream"
    );
    assert_eq!(sim.sim.orders().len(), 1, "one order");
    app.shutdown_within(Duration::from_secs(5)).await;
}
