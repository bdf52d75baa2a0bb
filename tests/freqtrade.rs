//! Issue [bots]: a real Freqtrade database (built by Freqtrade's own
//! persistence code: testdata/freqtrade/generate.py), on SQLite and on
//! PostgreSQL, with `preset: freqtrade` and no other mapping line, beside
//! the Pacifica simulator. The fixture's open trades: 1 BTC long 0.0125,
//! 2 ETH short 1.5, 5 HYPE long 80 (no such market on the simulator),
//! 7 SOL short 12.5 with a resting exit order, 8 ETH long with its entry
//! still unfilled (amount 0). Closed: 3, 4, 6.
//!
//! The exchange holds the ETH short and an XRP long the bot never opened;
//! BTC was closed on the exchange behind the bot's back. Expected: trade 1
//! closed the way Freqtrade closes a trade found closed on the exchange (no
//! row deleted, every order still pointing at its trade), trade 7 left to
//! the bot (its order is open), HYPE shown as unmapped and never touched,
//! the XRP long closed reduce-only by the shipped `untracked-position` rule
//! and never written into `trades`, in the same run.

mod common;

use std::time::Duration;

use common::*;
use driftwatch::reconcile::State;
use driftwatch::venue::pacifica::sim::SimConfig;
use rust_decimal::Decimal;

const T: Duration = Duration::from_secs(30);
const MAIN_KEYPAIR: &str = "2Ana1pUpv2ZbMVkwF5FXapYeBEjdxDatLn7nvJkhgTSdZd8hbDHTd21as7EAsg7ypityqfsw2pMQKJcVDVcAEsd";

#[derive(Clone, Copy, PartialEq)]
enum Store {
    Sqlite,
    Postgres,
    /// Freqtrade supports MariaDB/MySQL too (booleans are `tinyint(1)`).
    MySql,
}

/// The fixture, in a fresh database of this kind.
async fn freqtrade_db(store: Store, dir: &TempDir) -> Option<String> {
    let here = env!("CARGO_MANIFEST_DIR");
    match store {
        Store::Sqlite => {
            let path = dir.path().join("tradesv3.sqlite");
            std::fs::copy(format!("{here}/testdata/freqtrade/tradesv3.sqlite"), &path).unwrap();
            Some(format!("sqlite://{}", path.display()))
        }
        Store::Postgres => {
            let url = pg_database("freqtrade").await?;
            let dump = std::fs::read_to_string(format!("{here}/testdata/freqtrade/tradesv3.postgres.sql")).unwrap();
            exec(&url, &dump).await;
            Some(url)
        }
        Store::MySql => {
            let url = mysql_database("freqtrade").await?;
            let dump = std::fs::read_to_string(format!("{here}/testdata/freqtrade/tradesv3.mysql.sql")).unwrap();
            exec(&url, &dump).await;
            Some(url)
        }
    }
}

fn config(sim: &SimHandle, dir: &TempDir, db: &str) -> String {
    let key = dir.path().join("key");
    std::fs::write(&key, MAIN_KEYPAIR).unwrap();
    let account = format!(
        "    correct: {{mode: apply, confirmations: 2}}\n    close: {{key: {{file: {}}}, armed: true, verify_timeout: 3s}}\n",
        key.display()
    );
    format!(
        "{}{}",
        fast_config_with(
            &sim.addrs,
            db,
            "      preset: freqtrade",
            &account,
            &format!("sqlite://{}", dir.path().join("journal.db").display()),
        ),
        shipped_rules(dir, &[])
    )
}

/// A column of one trade as text: booleans as `true`/`false`, numbers normalised.
async fn trade(url: &str, store: Store, id: i64, column: &str) -> Option<String> {
    let text = if store == Store::MySql { "CHAR" } else { "TEXT" };
    let sql = format!("SELECT CAST({column} AS {text}) FROM trades WHERE id = {id}");
    let v = texts(url, &sql).await.remove(0).remove(0)?;
    Some(match (store, v.as_str()) {
        (Store::Sqlite | Store::MySql, "1") if column.starts_with("is_") => "true".into(),
        (Store::Sqlite | Store::MySql, "0") if column.starts_with("is_") => "false".into(),
        _ => v,
    })
}

/// A number column of one trade, exactly (MariaDB prints a double cast to
/// text with six digits: it is read through DECIMAL there).
async fn trade_number(url: &str, store: Store, id: i64, column: &str) -> Decimal {
    let sql = match store {
        Store::MySql => format!("SELECT CAST(CAST({column} AS DECIMAL(38,12)) AS CHAR) FROM trades WHERE id = {id}"),
        _ => format!("SELECT CAST({column} AS TEXT) FROM trades WHERE id = {id}"),
    };
    d(&texts(url, &sql).await.remove(0).remove(0).unwrap())
}

fn d(s: &str) -> Decimal {
    s.parse().unwrap()
}

/// `SELECT COUNT(*) FROM …`, counted.
async fn count(url: &str, from: &str) -> i64 {
    let text = if url.starts_with("mysql") { "CHAR" } else { "TEXT" };
    let sql = format!("SELECT CAST(COUNT(*) AS {text}) FROM {from}");
    texts(url, &sql).await[0][0].as_deref().unwrap().parse().unwrap()
}

async fn freqtrade_end_to_end(store: Store) {
    let dir = TempDir::new("freqtrade");
    let Some(url) = freqtrade_db(store, &dir).await else {
        return;
    };
    let sim = start_sim(SimConfig {
        speed_bump: Duration::from_millis(50),
        ..SimConfig::default()
    })
    .await;
    sim.sim.open(ACCOUNT, "ETH", "ask", "1.5", "3412.25");
    sim.sim.open(ACCOUNT, "XRP", "bid", "10", "2.1");
    sim.sim.set_mark("BTC", "98000");
    sim.sim.set_mark("XRP", "10");
    let text = config(&sim, &dir, &url);
    let path = dir.path().join("driftwatch.yaml");
    std::fs::write(&path, &text).unwrap();

    // `check` accepts the preset as it is.
    let (code, stdout, stderr) =
        run_driftwatch(vec!["check".into(), "--config".into(), path.display().to_string()]).await;
    assert_eq!(code, 0, "{stdout}{stderr}");

    let app = start_app(&text, false).await;
    // Open trades are matched to the venue's symbols: BTC/USDC:USDC is BTC.
    let s = wait_for(&app, "the trades read and matched", T, |s| {
        row(s, "ETH").is_some_and(|r| r.db.believed() == Some(d("-1.5")))
            && row(s, "BTC").is_some()
            && !s.accounts[0].unmapped.is_empty()
    })
    .await;
    assert_eq!(state(&s, "ETH"), Some(State::InSync));
    assert!(
        s.accounts[0]
            .unmapped
            .iter()
            .any(|u| u.symbol == "HYPE" && u.row_key == "5"),
        "HYPE is no market of this venue: {:?}",
        s.accounts[0].unmapped
    );
    assert!(row(&s, "HYPE").is_none(), "an unmapped row is not compared");

    // The stale BTC trade is closed Freqtrade's way; the XRP long the bot
    // never opened is closed reduce-only by the rule, and is no row.
    eventually("trade 1 closed", T, || async {
        trade(&url, store, 1, "is_open").await.as_deref() == Some("false")
    })
    .await;
    eventually("XRP flat", T, || async {
        sim.sim.position(ACCOUNT, "XRP") == Decimal::ZERO
    })
    .await;
    let xrp: Vec<_> = sim
        .sim
        .orders()
        .into_iter()
        .filter(|o| o.body["symbol"] == "XRP")
        .collect();
    assert_eq!(xrp.len(), 1);
    assert_eq!(xrp[0].body["reduce_only"], true);

    assert_eq!(trade_number(&url, store, 1, "close_rate").await, d("98000"));
    assert_eq!(
        trade(&url, store, 1, "exit_reason").await.as_deref(),
        Some("sold_on_exchange")
    );
    assert_eq!(
        trade(&url, store, 1, "exit_order_status").await.as_deref(),
        Some("closed")
    );
    assert!(trade(&url, store, 1, "close_date").await.is_some());
    // At the mark, before fees: 0.0125 × (98000 − 97000.5) = 12.49375;
    // over the stake at 3× leverage: 12.49375 / (0.0125 × 97000.5) × 3.
    let abs = trade_number(&url, store, 1, "close_profit_abs").await;
    assert!((abs - d("12.49375")).abs() < d("0.000001"), "{abs}");
    assert_eq!(trade_number(&url, store, 1, "realized_profit").await, abs);
    let ratio = trade_number(&url, store, 1, "close_profit").await;
    assert!((ratio - d("0.0309122117927227")).abs() < d("0.000001"), "{ratio}");

    // Nothing deleted, no foreign key broken, no trade written for XRP.
    assert_eq!(count(&url, "trades").await, 8);
    assert_eq!(count(&url, "orders").await, 12);
    assert_eq!(count(&url, "orders o JOIN trades t ON t.id = o.ft_trade_id").await, 12);
    // The trades with an open order are the bot's; HYPE is unmapped.
    for id in [2, 5, 7, 8] {
        assert_eq!(
            trade(&url, store, id, "is_open").await.as_deref(),
            Some("true"),
            "trade {id}"
        );
    }
    let s = app.snapshots.borrow().clone();
    assert_eq!(
        state(&s, "SOL"),
        Some(State::DbStale),
        "trade 7 waits for its own exit order"
    );
    assert_eq!(
        sample(
            &app.metrics.render(),
            r#"driftwatch_db_unmapped_rows{account="main",venue="pacifica"}"#
        ),
        Some(1.0)
    );
    let closed = sample(
        &app.metrics.render(),
        r#"driftwatch_db_corrections_total{account="main",op="closed",result="applied",venue="pacifica"}"#,
    );
    assert_eq!(closed, Some(1.0));
    app.shutdown_within(Duration::from_secs(5)).await;

    // The archive holds trade 1 as it was; the journal, the close.
    let archived = texts(
        &url,
        "SELECT op, row_key, before_row, after_row FROM driftwatch_archive ORDER BY id",
    )
    .await;
    assert_eq!(archived.len(), 1, "{archived:?}");
    assert_eq!(archived[0][0].as_deref(), Some("closed"));
    assert_eq!(archived[0][1].as_deref(), Some("1"));
    assert!(archived[0][2].as_deref().unwrap().contains("BTC/USDC:USDC"));
    assert!(archived[0][3].as_deref().unwrap().contains("sold_on_exchange"));
    let journal = driftwatch::journal::Journal::open(&format!("sqlite://{}", dir.path().join("journal.db").display()))
        .await
        .unwrap();
    let entries = journal.history(driftwatch::domain::Timestamp(0), None).await.unwrap();
    let done: Vec<(&str, &str, String)> = entries
        .iter()
        .map(|e| (e.symbol.as_str(), e.op.as_str(), e.status.to_string()))
        .collect();
    assert!(done.contains(&("BTC", "closed", "applied".to_string())), "{done:?}");
    assert!(
        done.contains(&("XRP", "reduce_to_bot", "verified".to_string())),
        "{done:?}"
    );
}

#[tokio::test]
async fn a_real_freqtrade_sqlite_database_end_to_end() {
    freqtrade_end_to_end(Store::Sqlite).await;
}

#[tokio::test]
async fn a_real_freqtrade_postgres_database_end_to_end() {
    freqtrade_end_to_end(Store::Postgres).await;
}

#[tokio::test]
async fn a_real_freqtrade_mariadb_database_end_to_end() {
    freqtrade_end_to_end(Store::MySql).await;
}

/// Issue [bots] part 2: a mapping that cannot work on the table as it is
/// (text words for Freqtrade's boolean `is_short`) is refused when the table
/// is introspected, with the reason, before any read is believed; and a
/// pattern the bot's pairs do not match leaves every row unmapped, so the
/// stale trade is not closed.
#[tokio::test]
async fn a_mapping_that_cannot_work_is_refused_and_unplaced_rows_are_left_alone() {
    let dir = TempDir::new("freqtrade-bad");
    let url = freqtrade_db(Store::Sqlite, &dir).await.unwrap();
    let sim = start_sim(SimConfig::default()).await;
    sim.sim.open(ACCOUNT, "ETH", "ask", "1.5", "3412.25");
    let words = fast_config_with(
        &sim.addrs,
        &url,
        "      preset: freqtrade\n      long_values: [\"0\"]\n      short_values: [\"1\"]",
        "    correct: {mode: apply, confirmations: 2}\n",
        "sqlite::memory:",
    );
    let app = start_app(&words, false).await;
    let s = wait_for(&app, "the database refused", T, |s| {
        s.accounts[0].report.sources[2]
            .reason
            .as_deref()
            .is_some_and(|r| r.contains("side_column \"is_short\" is a boolean column"))
    })
    .await;
    assert!(!s.accounts[0].report.sources[2].trusted);
    assert_eq!(
        sample(
            &app.metrics.render(),
            r#"driftwatch_db_mapping_problems{account="main",venue="pacifica"}"#
        ),
        Some(1.0)
    );
    app.shutdown_within(Duration::from_secs(2)).await;

    let usdt = fast_config_with(
        &sim.addrs,
        &url,
        "      preset: freqtrade\n      symbol_pattern: \"{symbol}/USDT:USDT\"",
        "    correct: {mode: apply, confirmations: 2}\n",
        "sqlite::memory:",
    );
    let app = start_app(&usdt, false).await;
    let s = wait_for(&app, "every trade unmapped", T, |s| {
        s.accounts[0].unmapped.len() == 5 && state(s, "ETH") == Some(State::DbMissing)
    })
    .await;
    assert_eq!(row(&s, "ETH").unwrap().db.believed(), Some(Decimal::ZERO));
    let table = driftwatch::table::render(&s, s.at);
    assert!(table.contains("UNMAPPED rows"), "{table}");
    // The status page and its JSON say so too.
    let page = driftwatch::status::status(Some(&s), Vec::new());
    assert_eq!(page.accounts[0].unmapped.len(), 5);
    assert!(driftwatch::status::html(&page).contains("Unmapped bot rows"));
    assert!(table.contains("BTC/USDC:USDC (row 1)"), "{table}");
    // Three more DB reads later (each would have planned), nothing is closed.
    let reads = || sample(&app.metrics.render(), "driftwatch_db_poll_duration_seconds_count").unwrap_or(0.0);
    let before = reads();
    eventually("three more DB reads", T, || async { reads() >= before + 3.0 }).await;
    assert_eq!(trade(&url, Store::Sqlite, 1, "is_open").await.as_deref(), Some("true"));
    app.shutdown_within(Duration::from_secs(2)).await;
}

/// Issue [bots] part 3: a correction that will fail again (here a DELETE of
/// a trade its orders point at, on a mapping that overrides the preset's
/// close) fails whole, is paged once with the database's reason, and is
/// retried only after a back-off, not at every poll.
async fn a_failing_delete_backs_off_and_pages_once(store: Store) {
    let dir = TempDir::new("freqtrade-fk");
    let Some(url) = freqtrade_db(store, &dir).await else {
        return;
    };
    let sim = start_sim(SimConfig::default()).await;
    sim.sim.open(ACCOUNT, "ETH", "ask", "1.5", "3412.25");
    let text = fast_config_with(
        &sim.addrs,
        &url,
        "      preset: freqtrade\n      on_stale: delete",
        "    correct: {mode: apply, confirmations: 2}\n",
        &format!("sqlite://{}", dir.path().join("journal.db").display()),
    );
    let app = start_app(&text, false).await;
    let mut pages = app.pages.subscribe();
    let page = tokio::time::timeout(T, pages.recv()).await.expect("a page").unwrap();
    assert_eq!(page.id, "correction_failed");
    assert!(page.summary.to_lowercase().contains("foreign key"), "{}", page.summary);
    let failed = || {
        sample(
            &app.metrics.render(),
            r#"driftwatch_db_corrections_total{account="main",op="deleted",result="failed",venue="pacifica"}"#,
        )
        .unwrap_or(0.0)
    };
    // The second attempt comes after the back-off, and is not paged again.
    eventually("a second, backed-off attempt", T, || async { failed() >= 2.0 }).await;
    while let Ok(p) = pages.try_recv() {
        assert_ne!(p.id, "correction_failed", "paged twice for one reason: {}", p.summary);
    }
    assert_eq!(trade(&url, store, 1, "is_open").await.as_deref(), Some("true"));
    assert_eq!(count(&url, "trades").await, 8);
    app.shutdown_within(Duration::from_secs(2)).await;
}

#[tokio::test]
async fn sqlite_a_failing_delete_backs_off_and_pages_once() {
    a_failing_delete_backs_off_and_pages_once(Store::Sqlite).await;
}

#[tokio::test]
async fn postgres_a_failing_delete_backs_off_and_pages_once() {
    a_failing_delete_backs_off_and_pages_once(Store::Postgres).await;
}

/// A stand-in for Freqtrade's API server: the responses Freqtrade's own
/// server gave over the fixture database (testdata/freqtrade/api_*.json,
/// recorded by record_api.py), with its auth: basic auth on every route,
/// or the JWT login, a refresh, 401 `{"detail": ...}` otherwise.
mod standin {
    use std::convert::Infallible;
    use std::sync::{Arc, Mutex};

    use http_body_util::Full;
    use hyper::body::{Bytes, Incoming};
    use hyper::server::conn::http1;
    use hyper::service::service_fn;
    use hyper::{Request, Response};
    use hyper_util::rt::TokioIo;

    pub const USER: &str = "driftwatch";
    pub const PASSWORD: &str = "fixture-password";

    #[derive(Default)]
    pub struct State {
        /// The access tokens the server accepts now.
        pub valid: Vec<String>,
        /// (method, path, auth kind) of every request.
        pub log: Vec<(String, String, String)>,
        pub issued: u32,
    }

    fn read(name: &str) -> String {
        std::fs::read_to_string(format!("{}/testdata/freqtrade/{name}", env!("CARGO_MANIFEST_DIR"))).unwrap()
    }

    fn reply(status: u16, body: String) -> Response<Full<Bytes>> {
        Response::builder()
            .status(status)
            .header("content-type", "application/json")
            .body(Full::new(Bytes::from(body)))
            .unwrap()
    }

    fn basic_ok(auth: &str) -> bool {
        use base64_check::encode;
        auth == format!("Basic {}", encode(&format!("{USER}:{PASSWORD}")))
    }

    /// Just enough base64 for a header (the standard alphabet, padded).
    mod base64_check {
        pub fn encode(s: &str) -> String {
            const A: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
            let b = s.as_bytes();
            let mut out = String::new();
            for chunk in b.chunks(3) {
                let n = (chunk[0] as u32) << 16
                    | (*chunk.get(1).unwrap_or(&0) as u32) << 8
                    | *chunk.get(2).unwrap_or(&0) as u32;
                for i in 0..4 {
                    if i <= chunk.len() {
                        out.push(A[(n >> (18 - 6 * i) & 63) as usize] as char);
                    } else {
                        out.push('=');
                    }
                }
            }
            out
        }
    }

    fn handle(state: &Mutex<State>, req: &Request<Incoming>) -> Response<Full<Bytes>> {
        let auth = req
            .headers()
            .get("authorization")
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
            .to_owned();
        let kind = auth.split(' ').next().unwrap_or("none").to_owned();
        let mut st = state.lock().unwrap();
        st.log
            .push((req.method().to_string(), req.uri().path().to_owned(), kind));
        let login: serde_json::Value = serde_json::from_str(&read("api_login.json")).unwrap();
        let refresh = login["refresh_token"].as_str().unwrap().to_owned();
        match (req.method().as_str(), req.uri().path()) {
            ("POST", "/api/v1/token/login") if basic_ok(&auth) => {
                st.issued += 1;
                let access = format!("{}.{}", login["access_token"].as_str().unwrap(), st.issued);
                st.valid.push(access.clone());
                reply(
                    200,
                    serde_json::json!({"access_token": access, "refresh_token": refresh}).to_string(),
                )
            }
            ("POST", "/api/v1/token/login") => reply(401, r#"{"detail":"Incorrect username or password"}"#.into()),
            ("POST", "/api/v1/token/refresh") if auth == format!("Bearer {refresh}") => {
                st.issued += 1;
                let access = format!("{}.{}", login["access_token"].as_str().unwrap(), st.issued);
                st.valid.push(access.clone());
                reply(200, serde_json::json!({"access_token": access}).to_string())
            }
            ("GET", "/api/v1/status") => {
                let bearer = auth
                    .strip_prefix("Bearer ")
                    .is_some_and(|t| st.valid.iter().any(|v| v == t));
                if bearer || basic_ok(&auth) {
                    reply(200, read("api_status.json"))
                } else {
                    reply(401, r#"{"detail":"Unauthorized"}"#.into())
                }
            }
            _ => reply(401, r#"{"detail":"Could not validate credentials"}"#.into()),
        }
    }

    /// Serves on a loopback port; returns its base URL.
    pub async fn start(state: Arc<Mutex<State>>) -> String {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                let state = state.clone();
                tokio::spawn(async move {
                    let svc = service_fn(move |req: Request<Incoming>| {
                        let r = handle(&state, &req);
                        async move { Ok::<_, Infallible>(r) }
                    });
                    let _ = http1::Builder::new().serve_connection(TokioIo::new(stream), svc).await;
                });
            }
        });
        url
    }
}

/// The table's position rows (no freshness lines), once every state has
/// been confirmed.
fn rows_of(s: &driftwatch::snapshot::Snapshot) -> Vec<String> {
    let table = driftwatch::table::render(s, s.at);
    table.lines().take_while(|l| !l.is_empty()).map(str::to_owned).collect()
}

/// Issue [bots] part 5: the same account read through Freqtrade's API (a
/// stand-in serving its recorded answers with its auth) shows the same
/// table as read from the database; the JWT is refreshed when refused;
/// corrections are off. Basic auth works as well, and a wrong password is
/// an untrusted source with the reason, not a crash.
#[tokio::test]
async fn the_same_account_read_through_the_freqtrade_api_shows_the_same_table() {
    let dir = TempDir::new("freqtrade-api");
    let url = freqtrade_db(Store::Sqlite, &dir).await.unwrap();
    let sim = start_sim(SimConfig::default()).await;
    sim.sim.open(ACCOUNT, "ETH", "ask", "1.5", "3412.25");
    sim.sim.open(ACCOUNT, "XRP", "bid", "10", "2.1");
    let confirmed = |s: &driftwatch::snapshot::Snapshot| {
        ["BTC", "SOL", "XRP"]
            .iter()
            .all(|k| row(s, k).is_some_and(|r| r.confirmed))
            && state(s, "ETH") == Some(State::InSync)
    };

    let from_db = fast_config_with(
        &sim.addrs,
        &url,
        "      preset: freqtrade",
        "    correct: {mode: off}\n",
        "sqlite::memory:",
    );
    let app = start_app(&from_db, false).await;
    let db_table = rows_of(&*wait_for(&app, "the table from the database", T, confirmed).await);
    let db_unmapped = app.snapshots.borrow().accounts[0].unmapped.clone();
    app.shutdown_within(Duration::from_secs(2)).await;

    let state = std::sync::Arc::new(std::sync::Mutex::new(standin::State::default()));
    let api = standin::start(state.clone()).await;
    let over_api = |auth: &str, password: &str| {
        fast_config_with(&sim.addrs, "unused", "", "", "sqlite::memory:")
            .replace("bot_db:\n  url: {value: \"unused\"}\n  timeout: 2s\n", "")
            .replace(
                "    mapping:\n\n",
                &format!(
                    "    bot_api:\n      url: {api}\n      preset: freqtrade\n      username: {}\n      password: {{value: {password}}}\n      auth: {auth}\n",
                    standin::USER
                ),
            )
    };
    let text = over_api("jwt", standin::PASSWORD);
    assert!(text.contains("bot_api:") && !text.contains("bot_db:"), "{text}");
    let app = start_app(&text, false).await;
    let api_table = rows_of(&*wait_for(&app, "the table from the API", T, confirmed).await);
    assert_eq!(api_table, db_table);
    assert_eq!(app.snapshots.borrow().accounts[0].unmapped, db_unmapped);
    // The access token expires: the next read refreshes it, once.
    state.lock().unwrap().valid.clear();
    let refreshed = || {
        state
            .lock()
            .unwrap()
            .log
            .iter()
            .any(|(_, p, _)| p == "/api/v1/token/refresh")
    };
    eventually("the token refreshed", T, || async { refreshed() }).await;
    let reads = state.lock().unwrap().log.len();
    eventually("reads go on with the new token", T, || async {
        state.lock().unwrap().log.len() > reads + 2
    })
    .await;
    assert!(db_trusted(&app.snapshots.borrow()));
    let log = state.lock().unwrap().log.clone();
    assert_eq!(
        log.iter().filter(|(_, p, _)| p == "/api/v1/token/login").count(),
        1,
        "{log:?}"
    );
    assert!(log
        .iter()
        .filter(|(_, p, _)| p == "/api/v1/status")
        .all(|(_, _, k)| k == "Bearer"));
    assert!(app.snapshots.borrow().accounts[0].corrections.is_none());
    app.shutdown_within(Duration::from_secs(2)).await;

    // Basic auth on every request.
    let app = start_app(&over_api("basic", standin::PASSWORD), false).await;
    let basic_table = rows_of(&*wait_for(&app, "the table over basic auth", T, confirmed).await);
    assert_eq!(basic_table, db_table);
    app.shutdown_within(Duration::from_secs(2)).await;

    // A wrong password: the bot's source is untrusted, and says why.
    let app = start_app(&over_api("jwt", "wrong"), false).await;
    wait_for(&app, "the login refused", T, |s| {
        s.accounts[0].report.sources[2]
            .reason
            .as_deref()
            .is_some_and(|r| r.contains("login refused (401)"))
    })
    .await;
    app.shutdown_within(Duration::from_secs(2)).await;
}
