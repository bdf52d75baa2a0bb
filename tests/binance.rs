//! Issue [binance], so far: HMAC-SHA256 signing reproduced byte for byte
//! against every shared vector (shared/venues/vectors/binance_usdm_signing.json,
//! made by Binance's own connectors), reduce-only closes out of the offline
//! panic button in one-way and hedge mode, and an account the daemon cannot
//! watch yet refused with the reason.

mod common;

use common::*;
use driftwatch::venue::binance::sign;
use serde_json::Value;

fn vectors() -> Value {
    // A copy of shared/venues/vectors/binance_usdm_signing.json (a clean
    // clone has no ../shared).
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("testdata/vectors/binance_usdm_signing.json");
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    serde_json::from_str(&text).unwrap()
}

/// Every library's signed string signs to its recorded signature: the HMAC
/// is over exactly the bytes sent, whatever their order.
#[test]
fn every_librarys_signature_is_reproduced() {
    let v = vectors();
    let secret = v["credentials"]["api_secret"].as_str().unwrap();
    let docs = &v["docs_example_check"];
    assert_eq!(
        sign::signature(secret, docs["signed_string"].as_str().unwrap()),
        docs["signature"].as_str().unwrap()
    );
    let mut n = 0;
    for vector in v["vectors"].as_array().unwrap() {
        for (library, out) in vector["outputs"].as_object().unwrap() {
            assert_eq!(
                sign::signature(secret, out["signed_string"].as_str().unwrap()),
                out["signature"].as_str().unwrap(),
                "{} by {library}",
                vector["name"]
            );
            n += 1;
        }
    }
    assert!(n >= 12, "{n} signatures checked");
}

/// The connector's request, rebuilt by `sign::sign` from its parameters in
/// the order sent: the signed string, the signature and the full URL.
#[test]
fn every_connector_request_is_rebuilt_byte_for_byte() {
    let v = vectors();
    let secret = v["credentials"]["api_secret"].as_str().unwrap();
    for vector in v["vectors"].as_array().unwrap() {
        let out = &vector["outputs"]["binance_futures_connector"];
        let signed = out["signed_string"].as_str().unwrap();
        // The parameters in the order sent, less the two `sign` appends.
        let params: Vec<(&str, String)> = signed
            .split('&')
            .map(|kv| kv.split_once('=').unwrap())
            .filter(|(k, _)| *k != "recvWindow" && *k != "timestamp")
            .map(|(k, v)| (k, v.to_owned()))
            .collect();
        let path: &'static str = match vector["path"].as_str().unwrap() {
            "/fapi/v1/order" => "/fapi/v1/order",
            "/fapi/v1/countdownCancelAll" => "/fapi/v1/countdownCancelAll",
            "/fapi/v3/positionRisk" => "/fapi/v3/positionRisk",
            other => panic!("a vector for {other}: add it here"),
        };
        let s = sign::sign(
            secret,
            "POST",
            path,
            params,
            vector["params"]["recvWindow"].as_u64().unwrap(),
            vector["params"]["timestamp"].as_u64().unwrap(),
        );
        assert_eq!(s.signed_string, signed, "{}", vector["name"]);
        assert_eq!(s.signature, out["signature"].as_str().unwrap(), "{}", vector["name"]);
        assert_eq!(
            s.url(sign::MAINNET),
            out["request_url"].as_str().unwrap(),
            "{}",
            vector["name"]
        );
    }
}

/// `driftwatch close --offline --venue binance` prints the connector's exact
/// request for every close vector, from explicit inputs.
#[tokio::test]
async fn every_close_vector_comes_out_of_the_panic_button() {
    let v = vectors();
    let dir = TempDir::new("binance-offline");
    let key = dir.path().join("secret");
    std::fs::write(&key, format!("{}\n", v["credentials"]["api_secret"].as_str().unwrap())).unwrap();
    let api_key = v["credentials"]["api_key"].as_str().unwrap();
    let mut closes = 0;
    for vector in v["vectors"].as_array().unwrap() {
        if vector["path"] != "/fapi/v1/order" {
            continue;
        }
        let p = &vector["params"];
        let mut args: Vec<String> = [
            "close",
            "--offline",
            "--venue",
            "binance",
            "--key-file",
            key.to_str().unwrap(),
            "--address",
            api_key,
            "--symbol",
            p["symbol"].as_str().unwrap(),
            "--side",
            if p["side"] == "BUY" { "bid" } else { "ask" },
            "--amount",
            p["quantity"].as_str().unwrap(),
            "--client-order-id",
            p["newClientOrderId"].as_str().unwrap(),
        ]
        .map(str::to_owned)
        .to_vec();
        args.extend(["--timestamp".into(), p["timestamp"].to_string()]);
        args.extend(["--expiry-window".into(), p["recvWindow"].to_string()]);
        if let Some(t) = p["newOrderRespType"].as_str() {
            args.extend(["--resp-type".into(), t.to_owned()]);
        }
        let (code, stdout, stderr) = run_driftwatch(args).await;
        assert_eq!(code, 0, "{}: {stderr}", vector["name"]);
        let got: Value = serde_json::from_str(&stdout).unwrap();
        let out = &vector["outputs"]["binance_futures_connector"];
        assert_eq!(got["url"], out["request_url"], "{}", vector["name"]);
        assert_eq!(got["signed_string"], out["signed_string"]);
        assert_eq!(got["signature"], out["signature"]);
        assert_eq!(got["method"], "POST");
        assert_eq!(got["headers"]["X-MBX-APIKEY"], api_key);
        closes += 1;
    }
    assert!(closes >= 2);
}

/// Hedge mode closes a leg from its own side without `reduceOnly` (−1106
/// otherwise); a side that would grow the leg, a malformed secret or client
/// order id is refused, not signed.
#[tokio::test]
async fn hedge_mode_and_what_the_panic_button_refuses() {
    let v = vectors();
    let dir = TempDir::new("binance-hedge");
    let key = dir.path().join("secret");
    std::fs::write(&key, v["credentials"]["api_secret"].as_str().unwrap()).unwrap();
    let api_key = v["credentials"]["api_key"].as_str().unwrap().to_owned();
    let run = |extra: &[&str], key: &std::path::Path| {
        let mut args: Vec<String> = [
            "close",
            "--offline",
            "--venue",
            "binance",
            "--key-file",
            key.to_str().unwrap(),
            "--address",
            &api_key,
            "--symbol",
            "ETHUSDT",
            "--amount",
            "0.01",
            "--timestamp",
            "1716200000000",
        ]
        .map(str::to_owned)
        .to_vec();
        args.extend(extra.iter().map(|s| s.to_string()));
        run_driftwatch(args)
    };
    let (code, stdout, stderr) = run(
        &[
            "--side",
            "ask",
            "--position-side",
            "LONG",
            "--client-order-id",
            "dw-h-1",
        ],
        &key,
    )
    .await;
    assert_eq!(code, 0, "{stderr}");
    let got: Value = serde_json::from_str(&stdout).unwrap();
    assert_eq!(
        got["signed_string"],
        "symbol=ETHUSDT&side=SELL&positionSide=LONG&type=MARKET&quantity=0.01&newClientOrderId=dw-h-1&recvWindow=5000&timestamp=1716200000000"
    );
    let (code, _, stderr) = run(
        &[
            "--side",
            "bid",
            "--position-side",
            "LONG",
            "--client-order-id",
            "dw-h-2",
        ],
        &key,
    )
    .await;
    assert_eq!(code, 2);
    assert!(stderr.contains("a LONG leg closes with SELL"), "{stderr}");
    let (code, _, stderr) = run(&["--side", "ask", "--client-order-id", "has space"], &key).await;
    assert_eq!(code, 2);
    assert!(stderr.contains("newClientOrderId"), "{stderr}");
    let bad = dir.path().join("bad");
    std::fs::write(&bad, "not-a-secret").unwrap();
    let (code, _, stderr) = run(&["--side", "ask", "--client-order-id", "dw-h-3"], &bad).await;
    assert_eq!(code, 2);
    assert!(stderr.contains("invalid Binance API secret"), "{stderr}");
}

/// A Binance account is named by its API key and needs the key's secret to
/// sign its reads; without it, it is refused at its line.
#[test]
fn a_binance_account_needs_its_api_secret() {
    let text = "bot_db:\n  url: {value: \"sqlite::memory:\"}\naccounts:\n  - name: b\n    venue: binance\n    address: dbefbc809e3e83c283a984c3a1459732ea7db1360ca80c5c2c8867408d28cc83\n    mapping:\n      preset: nexwave\n";
    let e = match driftwatch::config::parse(text, std::path::Path::new("c.yaml"), &driftwatch::config::ProcessEnv) {
        Err(driftwatch::config::LoadError::Invalid(e)) => e.iter().map(ToString::to_string).collect::<Vec<_>>(),
        other => panic!("{other:?}"),
    };
    assert_eq!(e.len(), 1, "{e:?}");
    assert!(
        e[0].starts_with("c.yaml:6:14: accounts[0].address: a Binance account needs api_secret"),
        "{e:?}"
    );
    let with = text.replace(
        "    mapping:",
        "    api_secret: {value: \"2b5eb11e18796d12d88f13dc27dbbd02c2cc51ff7059765ed9821957d82bb4d9\"}\n    mapping:",
    );
    let (c, _) =
        driftwatch::config::parse(&with, std::path::Path::new("c.yaml"), &driftwatch::config::ProcessEnv).unwrap();
    assert!(c.accounts[0].link.api_secret.is_some());
    assert_eq!(c.accounts[0].link.rest_url, "https://fapi.binance.com");
}

mod closes {
    //! The close loop on Binance against the simulator, over real sockets:
    //! reduce-only MARKET in one-way mode, the leg's own side in hedge
    //! mode, a lost reply settled by the client order id (never a second
    //! blind send), a lost request re-sent only after its recvWindow, a
    //! secret the venue does not accept refused, and each close verified.

    use std::time::Duration;

    use driftwatch::actions::close::{close_with, CloseOutcome};
    use driftwatch::plan::close::CloseTarget;
    use driftwatch::secret::Secret;
    use driftwatch::venue::binance::close::{BinanceCloseParams, BinanceCloser};
    use driftwatch::venue::binance::http::RestClient;
    use driftwatch::venue::binance::sim::{BinanceSim, OrderFault};
    use driftwatch::venue::types::CloseRun;
    use rust_decimal::Decimal;

    const API_KEY: &str = "dbefbc809e3e83c283a984c3a1459732ea7db1360ca80c5c2c8867408d28cc83";
    const SECRET: &str = "2b5eb11e18796d12d88f13dc27dbbd02c2cc51ff7059765ed9821957d82bb4d9";
    const INTENT: &str = "6f9619ff-8b86-d011-b42d-00c04fc964ff";

    fn d(s: &str) -> Decimal {
        s.parse().unwrap()
    }

    struct World {
        sim: BinanceSim,
        rest: RestClient,
        _stop: tokio::sync::watch::Sender<bool>,
    }

    async fn world(hedge: bool, secret: &str) -> World {
        let (stop, rx) = tokio::sync::watch::channel(false);
        let (sim, addr) = BinanceSim::start("127.0.0.1:0".parse().unwrap(), rx).await.unwrap();
        sim.add_account(API_KEY, SECRET, hedge);
        sim.set_mark("ETHUSDT", d("3000"));
        let rest = RestClient::new(
            &format!("http://{addr}"),
            Secret::new(API_KEY),
            Secret::new(secret),
            Decimal::ONE,
            Duration::from_secs(2),
        )
        .unwrap()
        .with_recv_window(1000);
        World { sim, rest, _stop: stop }
    }

    fn params(armed: bool) -> BinanceCloseParams {
        BinanceCloseParams {
            run: CloseRun {
                armed,
                max_attempts: 4,
                verify_timeout: Duration::from_secs(2),
            },
            cancel_orders_first: true,
        }
    }

    async fn flatten(w: &World, symbol: &str, armed: bool) -> CloseOutcome {
        let p = params(armed);
        close_with(
            &BinanceCloser::new(&w.rest, &p),
            symbol,
            CloseTarget::Flatten,
            d("0.001"),
            INTENT,
        )
        .await
    }

    #[tokio::test]
    async fn one_way_closes_reduce_only_and_verifies() {
        let w = world(false, SECRET).await;
        w.sim.set_position(API_KEY, "ETHUSDT", "BOTH", d("0.05"));
        let out = flatten(&w, "ETHUSDT", true).await;
        assert!(
            matches!(out, CloseOutcome::Verified { closed, attempts: 1, .. } if closed == d("0.05")),
            "{out:?}"
        );
        assert_eq!(w.sim.position(API_KEY, "ETHUSDT", "BOTH"), Decimal::ZERO);
        let orders = w.sim.orders();
        assert_eq!(orders.len(), 1);
        assert!(
            orders[0].query.starts_with(&format!(
                "symbol=ETHUSDT&side=SELL&type=MARKET&quantity=0.05&reduceOnly=true&newClientOrderId={INTENT}&newOrderRespType=RESULT&recvWindow=1000&timestamp="
            )),
            "{}",
            orders[0].query
        );
    }

    /// The market list is read once for two closes, each sized from its
    /// own fresh `positionRisk`.
    #[tokio::test]
    async fn closes_in_a_row_read_the_markets_once_and_the_position_each_time() {
        let w = world(false, SECRET).await;
        w.sim.set_position(API_KEY, "ETHUSDT", "BOTH", d("0.05"));
        assert!(matches!(
            flatten(&w, "ETHUSDT", true).await,
            CloseOutcome::Verified { .. }
        ));
        w.sim.set_position(API_KEY, "ETHUSDT", "BOTH", d("-0.03"));
        let reads_before = w.sim.timing(|t| t.times("GET /fapi/v3/positionRisk")).len();
        let p = params(true);
        let out = close_with(
            &BinanceCloser::new(&w.rest, &p),
            "ETHUSDT",
            CloseTarget::Flatten,
            d("0.001"),
            "x-second-intent",
        )
        .await;
        assert!(
            matches!(out, CloseOutcome::Verified { closed, .. } if closed == d("0.03")),
            "sized from the new read: {out:?}"
        );
        assert_eq!(
            w.sim.timing(|t| t.times("GET /fapi/v1/exchangeInfo")).len(),
            1,
            "the markets once"
        );
        assert!(w.sim.timing(|t| t.times("GET /fapi/v3/positionRisk")).len() > reads_before);
    }

    /// Hedge mode: the short leg is closed from its own side while the long
    /// leg of the same symbol stays open and untouched; a net close on a
    /// hedge account is refused before anything is sent.
    #[tokio::test]
    async fn hedge_mode_closes_one_leg_while_the_other_stays_open() {
        use driftwatch::domain::{Leg, PositionKey};
        let w = world(true, SECRET).await;
        w.sim.set_position(API_KEY, "SOLUSDT", "LONG", d("2"));
        w.sim.set_position(API_KEY, "SOLUSDT", "SHORT", d("-1.5"));
        let p = params(true);
        let short = PositionKey {
            symbol: "SOLUSDT".into(),
            leg: Leg::Short,
        };
        let out = driftwatch::actions::close::close_capped(
            &BinanceCloser::new(&w.rest, &p),
            &short,
            CloseTarget::Flatten,
            d("0.01"),
            INTENT,
            std::future::ready(Ok(())),
            None,
        )
        .await;
        assert!(
            matches!(out, CloseOutcome::Verified { closed, .. } if closed == d("1.5")),
            "{out:?}"
        );
        assert_eq!(w.sim.position(API_KEY, "SOLUSDT", "SHORT"), Decimal::ZERO);
        assert_eq!(
            w.sim.position(API_KEY, "SOLUSDT", "LONG"),
            d("2"),
            "the other leg untouched"
        );
        let orders = w.sim.orders();
        assert_eq!(orders.len(), 1);
        let q = &orders[0].query;
        assert!(
            q.starts_with("symbol=SOLUSDT&side=BUY&positionSide=SHORT&type=MARKET&quantity=1.5&newClientOrderId="),
            "{q}"
        );
        assert!(!q.contains("reduceOnly"), "never in hedge mode: {q}");
        // The symbol's net position on a hedge account: refused, nothing sent.
        match flatten(&w, "SOLUSDT", true).await {
            CloseOutcome::Failed(m) => assert!(m.contains("hedge legs"), "{m}"),
            other => panic!("{other:?}"),
        }
        assert_eq!(w.sim.orders().len(), 1);
        assert_eq!(w.sim.position(API_KEY, "SOLUSDT", "LONG"), d("2"));
    }

    /// A position above `MARKET_LOT_SIZE.maxQty` (120 BTCUSDT in the
    /// simulator) is closed in orders of at most that, within one intent.
    #[tokio::test]
    async fn a_position_above_max_qty_is_closed_in_orders_of_at_most_max_qty() {
        let w = world(false, SECRET).await;
        w.sim.set_position(API_KEY, "BTCUSDT", "BOTH", d("-250.5"));
        let out = flatten(&w, "BTCUSDT", true).await;
        assert!(
            matches!(out, CloseOutcome::Verified { closed, .. } if closed == d("250.5")),
            "{out:?}"
        );
        assert_eq!(w.sim.position(API_KEY, "BTCUSDT", "BOTH"), Decimal::ZERO);
        let sizes: Vec<String> = w
            .sim
            .orders()
            .iter()
            .map(|o| {
                o.query
                    .split("quantity=")
                    .nth(1)
                    .unwrap()
                    .split('&')
                    .next()
                    .unwrap()
                    .to_owned()
            })
            .collect();
        assert_eq!(sizes, ["120", "120", "10.5"]);
    }

    /// −4118: resting reduce-only orders (a full-size take-profit) cover the
    /// position. With the operator's leave they are cancelled and the close
    /// goes through; without it, nothing is cancelled and the close fails.
    #[tokio::test]
    async fn resting_reduce_only_orders_are_cancelled_only_with_leave() {
        let w = world(false, SECRET).await;
        w.sim.set_position(API_KEY, "ETHUSDT", "BOTH", d("0.05"));
        w.sim.cover_with_resting_orders(API_KEY, "ETHUSDT");
        let mut p = params(true);
        p.cancel_orders_first = false;
        let out = close_with(
            &BinanceCloser::new(&w.rest, &p),
            "ETHUSDT",
            CloseTarget::Flatten,
            d("0.001"),
            INTENT,
        )
        .await;
        assert!(matches!(out, CloseOutcome::Failed(_)), "{out:?}");
        assert_eq!(
            w.sim.position(API_KEY, "ETHUSDT", "BOTH"),
            d("0.05"),
            "nothing traded, nothing cancelled"
        );
        let out = flatten(&w, "ETHUSDT", true).await;
        assert!(matches!(out, CloseOutcome::Verified { attempts: 2, .. }), "{out:?}");
        assert_eq!(w.sim.position(API_KEY, "ETHUSDT", "BOTH"), Decimal::ZERO);
    }

    #[tokio::test]
    async fn a_lost_reply_is_settled_by_the_client_order_id_not_sent_again() {
        let w = world(false, SECRET).await;
        w.sim.set_position(API_KEY, "ETHUSDT", "BOTH", d("-0.2"));
        w.sim.set_fault(Some(OrderFault::LostReply), 1);
        let out = flatten(&w, "ETHUSDT", true).await;
        assert!(
            matches!(out, CloseOutcome::Verified { ref order_id, .. } if order_id.is_some()),
            "{out:?}"
        );
        assert_eq!(w.sim.orders().len(), 1, "executed once");
        assert_eq!(w.sim.position(API_KEY, "ETHUSDT", "BOTH"), Decimal::ZERO);
    }

    #[tokio::test]
    async fn a_lost_request_is_sent_again_only_after_its_window() {
        let w = world(false, SECRET).await;
        w.sim.set_position(API_KEY, "ETHUSDT", "BOTH", d("0.05"));
        w.sim.set_fault(Some(OrderFault::Dropped), 1);
        let started = std::time::Instant::now();
        let out = flatten(&w, "ETHUSDT", true).await;
        assert!(matches!(out, CloseOutcome::Verified { attempts: 2, .. }), "{out:?}");
        assert!(started.elapsed() >= Duration::from_secs(1), "waited out the recvWindow");
        let orders = w.sim.orders();
        assert_eq!(orders.len(), 1, "the venue saw one order");
        assert_eq!(orders[0].client_order_id, INTENT, "the same id to the end");
    }

    #[tokio::test]
    async fn disarmed_it_signs_and_sends_nothing_and_a_wrong_secret_is_refused() {
        let w = world(false, SECRET).await;
        w.sim.set_position(API_KEY, "ETHUSDT", "BOTH", d("0.05"));
        match flatten(&w, "ETHUSDT", false).await {
            CloseOutcome::Disarmed { body, order } => {
                assert_eq!(order.amount, d("0.05"));
                assert!(body["url"].as_str().unwrap().contains("&signature="), "{body}");
            }
            other => panic!("{other:?}"),
        }
        assert!(w.sim.orders().is_empty());
        let stranger = world(false, &"0".repeat(64)).await;
        stranger.sim.set_position(API_KEY, "ETHUSDT", "BOTH", d("0.05"));
        match flatten(&stranger, "ETHUSDT", true).await {
            CloseOutcome::Failed(m) => assert!(m.contains("-1022"), "{m}"),
            other => panic!("{other:?}"),
        }
        assert_eq!(stranger.sim.position(API_KEY, "ETHUSDT", "BOTH"), d("0.05"));
    }
}

/// A Binance account on the simulator (REST and user data stream) and
/// driftwatch's config for it: `rules` in a rules dir, `mapping` (indented
/// under `mapping:`), corrections applied, closes armed.
struct E2e {
    sim: driftwatch::venue::binance::sim::BinanceSim,
    dir: TempDir,
    _stop: tokio::sync::watch::Sender<bool>,
}

const E2E_KEY: &str = "dbefbc809e3e83c283a984c3a1459732ea7db1360ca80c5c2c8867408d28cc83";
const E2E_SECRET: &str = "2b5eb11e18796d12d88f13dc27dbbd02c2cc51ff7059765ed9821957d82bb4d9";

impl E2e {
    async fn start(name: &str, hedge: bool) -> (E2e, String, String) {
        let (stop, rx) = tokio::sync::watch::channel(false);
        let (sim, rest) =
            driftwatch::venue::binance::sim::BinanceSim::start("127.0.0.1:0".parse().unwrap(), rx.clone())
                .await
                .unwrap();
        let ws = sim.start_ws("127.0.0.1:0".parse().unwrap(), rx).await.unwrap();
        sim.add_account(E2E_KEY, E2E_SECRET, hedge);
        let e = E2e {
            sim,
            dir: TempDir::new(name),
            _stop: stop,
        };
        (e, format!("http://{rest}"), format!("ws://{ws}/private"))
    }

    fn config(&self, (rest, ws): (&str, &str), db: &str, rules: &str, mapping: &str) -> String {
        let dir = self.dir.path();
        std::fs::create_dir_all(dir.join("rules")).unwrap();
        std::fs::write(dir.join("rules/r.yaml"), rules).unwrap();
        let key = dir.join("secret");
        std::fs::write(&key, E2E_SECRET).unwrap();
        format!(
            r#"listen: 127.0.0.1:0
intervals: {{rest_poll: 300ms, db_poll: 300ms, reconcile: 100ms}}
reconcile: {{confirm_polls: 2, confirm_after: 5s, rest_stale_after: 3s, db_stale_after: 3s}}
bot_db:
  url: {{value: "{db}"}}
journal:
  url: {{value: "sqlite://{journal}"}}
rules: {{dir: {rules}}}
accounts:
  - name: futures
    venue: binance
    address: {E2E_KEY}
    api_secret: {{file: {key}}}
    query_share: 1
    rest_url: "{rest}"
    ws_url: "{ws}"
    stream: {{ping_interval: 200ms, ack_timeout: 1s, silence_timeout: 1s, backoff_initial: 50ms, backoff_max: 200ms, rest_timeout: 1s}}
    mapping:
{mapping}
    correct: {{mode: apply, confirmations: 2}}
    close: {{key: {{file: {key}}}, armed: true, verify_timeout: 3s}}
"#,
            journal = dir.join("journal.db").display(),
            rules = dir.join("rules").display(),
            key = key.display(),
        )
    }
}

/// Watched end to end against the simulator: the user data stream (a
/// listenKey, `ACCOUNT_UPDATE` per key) and REST agree, a stale row is
/// deleted, an untracked position is closed reduce-only by a rule and
/// verified; an expired listenKey is replaced and the view trusted again.
#[tokio::test]
async fn watched_end_to_end_and_a_lost_listen_key_replaced() {
    use rust_decimal::Decimal;
    use std::time::Duration;
    const API_KEY: &str = E2E_KEY;
    let d = |s: &str| s.parse::<Decimal>().unwrap();
    let (e, rest, ws) = E2e::start("binance-e2e", false).await;
    let sim = &e.sim;
    sim.set_mark("ETHUSDT", d("3000"));
    sim.set_mark("SOLUSDT", d("150"));
    sim.set_position(API_KEY, "ETHUSDT", "BOTH", d("0.05"));
    sim.set_position(API_KEY, "SOLUSDT", "BOTH", d("-1.5"));
    let db = sqlite_db(&e.dir, &[("ETHUSDT", "bid", 0.05), ("BTCUSDT", "bid", 0.01)]).await;
    let text = e.config(
        (&rest, &ws),
        &db,
        "rules:\n  - id: untracked-position\n    condition: {untracked_position: {notional_usd: 25}}\n    for: 1s\n    cooldown: 10m\n    severity: critical\n    actions: [alert, close_position]\n",
        NEXWAVE_MAPPING,
    );
    let app = start_app(&text, false).await;
    wait_for(&app, "the stream and REST to agree", Duration::from_secs(20), |s| {
        ws_trusted(s) && rest_trusted(s) && row(s, "ETHUSDT").is_some_and(|r| r.ws.believed() == Some(d("0.05")))
    })
    .await;
    wait_for(
        &app,
        "the stale BTCUSDT row deleted and SOLUSDT closed",
        Duration::from_secs(30),
        |s| row(s, "BTCUSDT").is_none() && row(s, "SOLUSDT").is_none(),
    )
    .await;
    assert_eq!(sim.position(API_KEY, "SOLUSDT", "BOTH"), Decimal::ZERO);
    let orders = sim.orders();
    assert_eq!(orders.len(), 1, "one close");
    assert!(orders[0].query.contains("reduceOnly=true"), "{}", orders[0].query);
    assert_eq!(
        sim.position(API_KEY, "ETHUSDT", "BOTH"),
        d("0.05"),
        "the bot's position untouched"
    );

    // The bot's shutdown DELETEs the shared listenKey: a new one is made,
    // the view is rebuilt, and a change after it is seen.
    sim.expire_listen_key(API_KEY);
    // The old stream is cut, so a stream open now is a new connection on a
    // new key: told by the simulator, since a snapshot may never fall in the
    // moment between the two (a reconnect within one publication).
    eventually(
        "a new stream on a new listenKey",
        Duration::from_secs(20),
        || async move { sim.streams(API_KEY) == 1 },
    )
    .await;
    wait_for(&app, "the stream back and trusted", Duration::from_secs(20), |s| {
        ws_trusted(s) && rest_trusted(s)
    })
    .await;
    sim.set_position(API_KEY, "ETHUSDT", "BOTH", d("0.08"));
    wait_for(&app, "the change on the new key", Duration::from_secs(10), |s| {
        row(s, "ETHUSDT").is_some_and(|r| r.ws.believed() == Some(d("0.08")))
    })
    .await;
    app.shutdown_within(Duration::from_secs(5)).await;
}

/// Issue [binance] part 2: a hedge-mode account reconciled leg by leg. The
/// bot's rows name their leg by their side (`leg: by_side`): a stale short
/// ETH row is deleted while the ETH long leg it does not stand for stays
/// open; a SOL short leg the bot never recorded is closed from its own side
/// (`positionSide=SHORT`, no `reduceOnly`) while the tracked SOL long leg
/// stays open.
#[tokio::test]
async fn a_hedge_account_is_reconciled_and_closed_leg_by_leg() {
    use rust_decimal::Decimal;
    use std::time::Duration;
    const API_KEY: &str = E2E_KEY;
    let d = |s: &str| s.parse::<Decimal>().unwrap();
    let leg = |s: &driftwatch::snapshot::Snapshot, key: &str| {
        s.accounts[0]
            .report
            .rows
            .iter()
            .find(|r| r.key.to_string() == key)
            .cloned()
    };
    let (e, rest, ws) = E2e::start("binance-legs", true).await;
    let sim = &e.sim;
    sim.set_mark("ETHUSDT", d("3000"));
    sim.set_mark("SOLUSDT", d("150"));
    sim.set_position(API_KEY, "ETHUSDT", "LONG", d("0.05"));
    sim.set_position(API_KEY, "SOLUSDT", "LONG", d("1.5"));
    sim.set_position(API_KEY, "SOLUSDT", "SHORT", d("-0.8"));
    // A hedge-mode bot's table: one row per leg, its side in `position_side`.
    let db = format!("sqlite://{}?mode=rwc", e.dir.path().join("bot.db").display());
    let pool = sqlx::SqlitePool::connect(&db).await.unwrap();
    sqlx::query(
        "CREATE TABLE legs (id INTEGER PRIMARY KEY, symbol TEXT NOT NULL, position_side TEXT NOT NULL, \
         qty TEXT NOT NULL, UNIQUE (symbol, position_side))",
    )
    .execute(&pool)
    .await
    .unwrap();
    sqlx::query("INSERT INTO legs (symbol, position_side, qty) VALUES ('ETHUSDT', 'LONG', '0.05'), ('ETHUSDT', 'SHORT', '0.05'), ('SOLUSDT', 'LONG', '1.5')")
        .execute(&pool)
        .await
        .unwrap();
    let text = e.config(
        (&rest, &ws),
        &db,
        "rules:\n  - id: stale\n    condition: {stale_db_row: {}}\n    for: 1s\n    cooldown: 10m\n    severity: warning\n    actions: [alert, correct_db]\n  - id: untracked-position\n    condition: {untracked_position: {notional_usd: 25}}\n    for: 1s\n    cooldown: 10m\n    severity: critical\n    actions: [alert, reduce_to_bot]\n",
        "      table: legs\n      key_column: id\n      symbol_column: symbol\n      amount_column: qty\n      side_column: position_side\n      long_values: [LONG]\n      short_values: [SHORT]\n      leg: by_side",
    );
    let app = start_app(&text, false).await;
    wait_for(&app, "both SOL legs seen, trusted", Duration::from_secs(20), |s| {
        ws_trusted(s)
            && rest_trusted(s)
            && leg(s, "SOLUSDT:long").is_some_and(|r| r.ws.believed() == Some(d("1.5")))
            && leg(s, "ETHUSDT:long").is_some_and(|r| r.db.believed() == Some(d("0.05")))
    })
    .await;
    wait_for(
        &app,
        "the stale ETH short row deleted and the SOL short leg closed",
        Duration::from_secs(30),
        |s| leg(s, "ETHUSDT:short").is_none() && leg(s, "SOLUSDT:short").is_none(),
    )
    .await;
    let orders = sim.orders();
    assert_eq!(orders.len(), 1, "one close: {orders:?}");
    let q = &orders[0].query;
    assert!(
        q.starts_with("symbol=SOLUSDT&side=BUY&positionSide=SHORT&type=MARKET&quantity=0.8&"),
        "{q}"
    );
    assert!(!q.contains("reduceOnly"), "{q}");
    assert_eq!(sim.position(API_KEY, "SOLUSDT", "SHORT"), Decimal::ZERO);
    assert_eq!(
        sim.position(API_KEY, "SOLUSDT", "LONG"),
        d("1.5"),
        "the tracked leg untouched"
    );
    assert_eq!(sim.position(API_KEY, "ETHUSDT", "LONG"), d("0.05"));
    // The bot's table: the two tracked long rows, the stale short gone.
    let left: Vec<(String, String)> = sqlx::query_as("SELECT symbol, position_side FROM legs ORDER BY symbol")
        .fetch_all(&pool)
        .await
        .unwrap();
    assert_eq!(
        left,
        [
            ("ETHUSDT".to_owned(), "LONG".to_owned()),
            ("SOLUSDT".to_owned(), "LONG".to_owned())
        ]
    );
    pool.close().await;
    app.shutdown_within(Duration::from_secs(5)).await;
}

/// The panic button on a hedge-mode account names a leg: `SOLUSDT:short`
/// closes the short leg from its own side and leaves the long leg open; the
/// bare symbol (its net position) is refused, nothing sent.
#[tokio::test]
async fn the_panic_button_closes_one_hedge_leg() {
    use driftwatch::venue::binance::sim::BinanceSim;
    use rust_decimal::Decimal;
    const API_KEY: &str = "dbefbc809e3e83c283a984c3a1459732ea7db1360ca80c5c2c8867408d28cc83";
    const SECRET: &str = "2b5eb11e18796d12d88f13dc27dbbd02c2cc51ff7059765ed9821957d82bb4d9";
    let d = |s: &str| s.parse::<Decimal>().unwrap();
    let (_stop, rx) = tokio::sync::watch::channel(false);
    let (sim, rest) = BinanceSim::start("127.0.0.1:0".parse().unwrap(), rx).await.unwrap();
    sim.add_account(API_KEY, SECRET, true);
    sim.set_mark("SOLUSDT", d("150"));
    sim.set_position(API_KEY, "SOLUSDT", "LONG", d("2"));
    sim.set_position(API_KEY, "SOLUSDT", "SHORT", d("-1.5"));
    let dir = TempDir::new("binance-panic-leg");
    let db = sqlite_db(&dir, &[]).await;
    let key = dir.path().join("secret");
    std::fs::write(&key, SECRET).unwrap();
    let cfg = dir.path().join("c.yaml");
    std::fs::write(
        &cfg,
        format!(
            "bot_db:\n  url: {{value: \"{db}\"}}\njournal:\n  url: {{value: \"sqlite://{journal}\"}}\naccounts:\n  - name: hedge\n    venue: binance\n    address: {API_KEY}\n    api_secret: {{file: {key}}}\n    rest_url: \"http://{rest}\"\n    ws_url: \"ws://127.0.0.1:1/private\"\n    mapping:\n{NEXWAVE_MAPPING}\n    close: {{key: {{file: {key}}}, armed: true, verify_timeout: 3s}}\n",
            journal = dir.path().join("journal.db").display(),
            key = key.display(),
        ),
    )
    .unwrap();
    let press = |symbol: &str| {
        run_driftwatch(vec![
            "close".into(),
            "--config".into(),
            cfg.display().to_string(),
            symbol.into(),
        ])
    };
    let (code, stdout, stderr) = press("SOLUSDT").await;
    assert_eq!(code, 1, "{stdout}{stderr}");
    assert!(stdout.contains("hedge legs"), "{stdout}{stderr}");
    assert!(sim.orders().is_empty(), "nothing sent for a net close");
    let (code, stdout, stderr) = press("SOLUSDT:short").await;
    assert_eq!(code, 0, "{stdout}{stderr}");
    assert!(stdout.contains("SOLUSDT:short: closed bid 1.5 reduce-only"), "{stdout}");
    assert_eq!(sim.position(API_KEY, "SOLUSDT", "SHORT"), Decimal::ZERO);
    assert_eq!(sim.position(API_KEY, "SOLUSDT", "LONG"), d("2"));
    let orders = sim.orders();
    assert_eq!(orders.len(), 1);
    assert!(orders[0].query.contains("positionSide=SHORT"), "{}", orders[0].query);
}

/// Issue [binance] part 5: Binance's official futures connector
/// (`binance-futures-connector` 4.2.0; `BINANCE_CONNECTOR_PYTHON` names an
/// interpreter that has it, as scripts/test sets up) against the simulator:
/// server time and positions read, a reduce-only MARKET close with a client
/// order id executed and found again by that id, a reduce-only order with
/// nothing to reduce refused (−2022), a wrong secret refused (−1022).
#[tokio::test]
async fn the_official_connector_reads_closes_and_is_refused_with_a_wrong_secret() {
    use driftwatch::venue::binance::sim::BinanceSim;
    const API_KEY: &str = "dbefbc809e3e83c283a984c3a1459732ea7db1360ca80c5c2c8867408d28cc83";
    const SECRET: &str = "2b5eb11e18796d12d88f13dc27dbbd02c2cc51ff7059765ed9821957d82bb4d9";
    let python = std::env::var("BINANCE_CONNECTOR_PYTHON").unwrap_or_else(|_| "python3".into());
    let has = std::process::Command::new(&python)
        .args(["-c", "import binance.um_futures"])
        .output()
        .is_ok_and(|o| o.status.success());
    if !has {
        skip_or_fail(
            "Binance's futures connector (binance-futures-connector)",
            format!("{python} cannot import it"),
        );
        return;
    }
    let (_stop, rx) = tokio::sync::watch::channel(false);
    let (sim, addr) = BinanceSim::start("127.0.0.1:0".parse().unwrap(), rx).await.unwrap();
    sim.add_account(API_KEY, SECRET, false);
    sim.set_position(API_KEY, "ETHUSDT", "BOTH", "0.05".parse().unwrap());
    let script = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/support/binance_connector.py");
    let url = format!("http://{addr}");
    let out = tokio::task::spawn_blocking(move || {
        std::process::Command::new(python)
            .arg(script)
            .args([url.as_str(), API_KEY, SECRET])
            .output()
            .unwrap()
    })
    .await
    .unwrap();
    assert!(
        out.status.success(),
        "the connector script failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let seen: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(seen["server_time"], true, "{seen}");
    assert_eq!(seen["positions"]["ETHUSDT"], "0.05", "{seen}");
    assert_eq!(seen["close"]["status"], "FILLED", "{seen}");
    assert_eq!(seen["close"]["executedQty"], "0.05", "{seen}");
    assert_eq!(seen["query"]["orderId"], seen["close"]["orderId"], "{seen}");
    assert_eq!(seen["after"], serde_json::json!({}), "{seen}");
    assert_eq!(seen["nothing_to_reduce"], -2022, "{seen}");
    assert_eq!(seen["bad_signature"], -1022, "{seen}");
    // What the connector sent is what it signed, in its own order.
    let first = &sim.orders()[0].query;
    assert!(
        first.starts_with(
            "symbol=ETHUSDT&side=SELL&type=MARKET&quantity=0.05&reduceOnly=true&newClientOrderId=dw-sdk-close-1"
        ),
        "{first}"
    );
}

/// `driftwatch sim --venue binance` serves REST and the user data stream
/// from the command line, with `--open` positions (a hedge leg makes the
/// account hedge-mode).
#[tokio::test]
async fn the_simulator_runs_from_the_command_line() {
    use driftwatch::secret::Secret;
    use driftwatch::venue::binance::http::RestClient;
    use std::io::BufRead;
    const API_KEY: &str = "dbefbc809e3e83c283a984c3a1459732ea7db1360ca80c5c2c8867408d28cc83";
    const SECRET: &str = "2b5eb11e18796d12d88f13dc27dbbd02c2cc51ff7059765ed9821957d82bb4d9";
    struct Killed(std::process::Child);
    impl Drop for Killed {
        fn drop(&mut self) {
            let _ = self.0.kill();
            let _ = self.0.wait();
        }
    }
    let (rest, ws) = (free_port(), free_port());
    let mut child = Killed(
        std::process::Command::new(env!("CARGO_BIN_EXE_driftwatch"))
            .args([
                "sim",
                "--venue",
                "binance",
                "--rest-listen",
                &format!("127.0.0.1:{rest}"),
                "--ws-listen",
                &format!("127.0.0.1:{ws}"),
                "--open",
                &format!("{API_KEY}:{SECRET}:ETHUSDT:SHORT:-0.3"),
            ])
            .stdout(std::process::Stdio::piped())
            .spawn()
            .unwrap(),
    );
    let stdout = child.0.stdout.take().unwrap();
    let printed = tokio::time::timeout(
        std::time::Duration::from_secs(20),
        tokio::task::spawn_blocking(move || {
            std::io::BufReader::new(stdout)
                .lines()
                .take(3)
                .map(|l| l.unwrap())
                .collect::<Vec<String>>()
        }),
    )
    .await
    .expect("the simulator prints its URLs")
    .unwrap();
    assert!(printed[1].contains(&format!("http://127.0.0.1:{rest}")), "{printed:?}");
    assert!(
        printed[2].contains(&format!("ws://127.0.0.1:{ws}/private")),
        "{printed:?}"
    );
    let client = RestClient::new(
        &format!("http://127.0.0.1:{rest}"),
        Secret::new(API_KEY),
        Secret::new(SECRET),
        rust_decimal::Decimal::ONE,
        std::time::Duration::from_secs(2),
    )
    .unwrap();
    let snap = client.positions().await.unwrap();
    assert_eq!(snap.positions.len(), 1);
    assert_eq!(snap.positions[0].key.leg, driftwatch::domain::Leg::Short);
    assert_eq!(snap.positions[0].size, "-0.3".parse().unwrap());
    assert!(!client.listen_key(false).await.unwrap().is_empty());
    drop(child);
}
