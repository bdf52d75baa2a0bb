//! Detection to order on the wire: from the simulator writing the frame that
//! breaks a rule (`for: 0s`) to its socket, to the simulator having read the
//! signed reduce-only close (before it verifies the signature or applies its
//! speed bump), on loopback. The path includes the fresh REST read every
//! close is sized from (and, on Nado, the top-of-book read that prices the
//! IOC and the resting-orders read, both beside it; with
//! `DETECT_NADO_RESTING=1` each round leaves a resting order, which the
//! close cancels before its order). driftwatch runs as `run` runs it:
//! its own thread, a current-thread runtime. The simulator and the rounds
//! share one other thread (the bench's own current-thread runtime): the
//! venue stands in for a gateway on other machines, so it takes no pool of
//! threads from the two cores the measured process runs on. Run: `cargo
//! bench --bench detect` (`DETECT_VENUES=pacifica,nado,hyperliquid,binance`;
//! Pacifica alone by default, Nado's rounds are paced by its query budget
//! and take three minutes).

use std::net::SocketAddr;
use std::time::Duration;

use driftwatch::app;
use driftwatch::config;
use driftwatch::venue::binance::sim::BinanceSim;
use driftwatch::venue::hyperliquid::sim::HyperliquidSim;
use driftwatch::venue::nado::sim::NadoSim;
use driftwatch::venue::pacifica::sim::{Sim, SimConfig};
use tokio::sync::watch;

const ACCOUNT: &str = "9C6hybhQ6Aycep9jaUnP6uL9ZYvDjUp1aSkFWPUFJtpj";
const KEY: &str = "2Ana1pUpv2ZbMVkwF5FXapYeBEjdxDatLn7nvJkhgTSdZd8hbDHTd21as7EAsg7ypityqfsw2pMQKJcVDVcAEsd";
const NADO_OWNER: &str = "0xFCAd0B19bB29D4674531d6f115237E16AfCE377c";
const NADO_SUB: &str = "0xfcad0b19bb29d4674531d6f115237e16afce377c64656661756c740000000000";
const NADO_KEY: &str = "0x0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";
/// The master account of [`NADO_KEY`] on Hyperliquid (it signs its own closes).
const HL_MASTER: &str = "0xFCAd0B19bB29D4674531d6f115237E16AfCE377c";
const BN_KEY: &str = "dbefbc809e3e83c283a984c3a1459732ea7db1360ca80c5c2c8867408d28cc83";
const BN_SECRET: &str = "2b5eb11e18796d12d88f13dc27dbbd02c2cc51ff7059765ed9821957d82bb4d9";

/// One venue's simulator, behind what the rounds need.
enum Venue {
    Pacifica(Sim),
    Nado(NadoSim),
    Hyperliquid(HyperliquidSim),
    Binance(BinanceSim),
}

impl Venue {
    /// The symbol the rounds open and the rule closes.
    fn symbol(&self) -> &'static str {
        match self {
            Venue::Pacifica(_) | Venue::Hyperliquid(_) => "BTC",
            Venue::Nado(_) => "BTC-PERP",
            Venue::Binance(_) => "BTCUSDT",
        }
    }

    fn open_btc(&self) {
        match self {
            Venue::Pacifica(s) => s.open(ACCOUNT, "BTC", "bid", "1", "90000"),
            Venue::Nado(s) => {
                // The bot's resting order, when asked for: the close then
                // cancels it before its order (else no cancel is sent).
                if std::env::var_os("DETECT_NADO_RESTING").is_some() {
                    s.rest_order(NADO_SUB, "BTC-PERP", "0.1");
                }
                s.set_position(NADO_SUB, "BTC-PERP", "1")
            }
            Venue::Hyperliquid(s) => s.open(hl_master(), "BTC", rust_decimal::Decimal::ONE),
            Venue::Binance(s) => s.set_position(BN_KEY, "BTCUSDT", "BOTH", rust_decimal::Decimal::ONE),
        }
    }

    /// Orders the simulator has taken (Nado: `place_order`s only); cheap
    /// enough to poll, unlike the request log.
    fn orders_taken(&self) -> usize {
        match self {
            Venue::Pacifica(s) => s.orders().len(),
            Venue::Nado(s) => s.orders().iter().filter(|o| o.kind == "place_order").count(),
            Venue::Hyperliquid(s) => s.timing(|t| t.times("order").len()),
            Venue::Binance(s) => s.timing(|t| t.times("POST /fapi/v1/order").len()),
        }
    }

    /// When each order request reached the simulator (its body read, before
    /// any verification).
    fn order_times(&self) -> Vec<tokio::time::Instant> {
        match self {
            Venue::Pacifica(s) => Self::paths(s, "/api/v1/orders/create_market"),
            Venue::Nado(s) => Self::nado_type(s, "place_order"),
            Venue::Hyperliquid(s) => s.timing(|t| t.times("order")),
            Venue::Binance(s) => s.timing(|t| t.times("POST /fapi/v1/order")),
        }
    }

    /// When each position read (what a close is sized from) reached the simulator.
    fn read_times(&self) -> Vec<tokio::time::Instant> {
        match self {
            Venue::Pacifica(s) => Self::paths(s, "/api/v1/positions"),
            Venue::Nado(s) => Self::nado_type(s, "subaccount_info"),
            Venue::Hyperliquid(s) => s.timing(|t| t.times("clearinghouseState")),
            Venue::Binance(s) => s.timing(|t| t.times("GET /fapi/v3/positionRisk")),
        }
    }

    fn paths(s: &Sim, path: &str) -> Vec<tokio::time::Instant> {
        s.requests()
            .into_iter()
            .filter(|r| r.path == path)
            .map(|r| r.at)
            .collect()
    }

    fn nado_type(s: &NadoSim, kind: &str) -> Vec<tokio::time::Instant> {
        s.requests()
            .into_iter()
            .filter(|r| String::from_utf8_lossy(&r.body).contains(&format!("\"{kind}\"")))
            .map(|r| r.at)
            .collect()
    }

    fn watch_next_frame(&self) {
        match self {
            Venue::Pacifica(s) => s.watch_next_frame(),
            Venue::Nado(s) => s.watch_next_frame(),
            Venue::Hyperliquid(s) => s.timing(|t| t.watch_next_frame()),
            Venue::Binance(s) => s.timing(|t| t.watch_next_frame()),
        }
    }

    /// When the first stream frame after [`Venue::watch_next_frame`] was
    /// written to the socket.
    fn next_frame_written(&self) -> Option<tokio::time::Instant> {
        match self {
            Venue::Pacifica(s) => s.next_frame_written(),
            Venue::Nado(s) => s.next_frame_written(),
            Venue::Hyperliquid(s) => s.timing(|t| t.next_frame_written()),
            Venue::Binance(s) => s.timing(|t| t.next_frame_written()),
        }
    }

    fn btc(&self) -> rust_decimal::Decimal {
        match self {
            Venue::Pacifica(s) => s.position(ACCOUNT, "BTC"),
            Venue::Nado(s) => s.position(NADO_SUB, "BTC-PERP"),
            Venue::Hyperliquid(s) => s.position(hl_master(), "BTC"),
            Venue::Binance(s) => s.position(BN_KEY, "BTCUSDT", "BOTH"),
        }
    }
}

fn hl_master() -> alloy_primitives::Address {
    HL_MASTER.parse().expect("an address")
}

/// The process under test, run as `driftwatch run` runs it: on its own
/// thread, on a current-thread runtime; the simulator and the rounds run on
/// the bench's, one thread too.
struct Process {
    snapshots: watch::Receiver<std::sync::Arc<app::Snapshot>>,
    metrics: std::sync::Arc<driftwatch::metrics::Metrics>,
    stop: tokio::sync::oneshot::Sender<()>,
    thread: std::thread::JoinHandle<()>,
}

impl Process {
    async fn start(cfg: config::Config) -> Process {
        let (up_tx, up_rx) = tokio::sync::oneshot::channel();
        let (stop, stop_rx) = tokio::sync::oneshot::channel::<()>();
        let thread = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap();
            rt.block_on(async move {
                let options = app::Options {
                    http: None,
                    record: None,
                };
                let running = app::start(cfg, options).await.unwrap();
                let _ = up_tx.send((running.snapshots.clone(), running.metrics.clone()));
                let _ = stop_rx.await;
                running.shutdown_within(Duration::from_secs(3)).await;
            });
        });
        let (snapshots, metrics) = up_rx.await.expect("the process starts");
        Process {
            snapshots,
            metrics,
            stop,
            thread,
        }
    }

    fn stop(self) {
        let _ = self.stop.send(());
        let _ = self.thread.join();
    }
}

/// "p50 .. p99 .. max ..", or "none" for no samples.
fn percentiles(v: &mut [Duration]) -> String {
    if v.is_empty() {
        return "none".into();
    }
    v.sort();
    let pct = |p: f64| {
        v[((v.len() as f64 * p).ceil() as usize)
            .saturating_sub(1)
            .min(v.len() - 1)]
    };
    format!(
        "p50 {:?}   p99 {:?}   max {:?}   ({} rounds)",
        pct(0.50),
        pct(0.99),
        v[v.len() - 1],
        v.len()
    )
}

/// What the process believes, for a failed round: sources, the row, the last close.
fn state(running: &Process, symbol: &str) -> String {
    let snap = running.snapshots.borrow().clone();
    snap.accounts
        .iter()
        .map(|a| {
            let sources: Vec<String> = a
                .report
                .sources
                .iter()
                .map(|s| format!("{:?} trusted={} {:?}", s.source, s.trusted, s.reason))
                .collect();
            let row = a.report.rows.iter().find(|r| r.key.symbol == symbol);
            format!(
                "{}: sources [{}]; row {row:?}; last close {:?}",
                a.name,
                sources.join(", "),
                a.closes
            )
        })
        .collect::<Vec<_>>()
        .join("; ")
}

// One thread for the venue and the rounds: a pool of workers beside the
// process measured, on two cores, added to its latency (BENCHMARKS.md, the
// twenty-fourth session).
#[tokio::main(flavor = "current_thread")]
async fn main() {
    if std::env::var_os("RUST_LOG").is_some() {
        driftwatch::cli::init_logging(config::LogFormat::Text, "warn");
    }
    let measuring = std::env::args().any(|a| a == "--bench");
    let n = if measuring { 300 } else { 5 };
    // Nado is opt-in: its rounds are paced by the venue's query budget.
    let venues = std::env::var("DETECT_VENUES").unwrap_or_else(|_| "pacifica".into());
    for v in venues.split(',') {
        run(v.trim(), n).await;
    }
}

async fn run(venue_name: &str, n: usize) {
    app::install_crypto();
    let (_stop, rx) = watch::channel(false);
    let any: SocketAddr = "127.0.0.1:0".parse().unwrap();
    let (venue, rest_url, ws_url) = match venue_name {
        "nado" => {
            let (sim, addrs) = NadoSim::start(Default::default(), any, rx).await.unwrap();
            sim.deposit(NADO_SUB);
            (Venue::Nado(sim), addrs.rest_url(), addrs.ws_url())
        }
        "hyperliquid" => {
            use driftwatch::venue::hyperliquid::sign::Network;
            let (sim, rest) = HyperliquidSim::start(Network::Mainnet, any, rx.clone()).await.unwrap();
            let ws = sim.start_ws(any, rx).await.unwrap();
            sim.set_mark("BTC", rust_decimal::Decimal::from(90_000));
            // A deposit, flat: the account exists before the rounds.
            sim.open(hl_master(), "BTC", rust_decimal::Decimal::ZERO);
            (Venue::Hyperliquid(sim), format!("http://{rest}"), format!("ws://{ws}"))
        }
        "binance" => {
            let (sim, rest) = BinanceSim::start(any, rx.clone()).await.unwrap();
            let ws = sim.start_ws(any, rx).await.unwrap();
            sim.add_account(BN_KEY, BN_SECRET, false);
            (
                Venue::Binance(sim),
                format!("http://{rest}"),
                format!("ws://{ws}/private"),
            )
        }
        _ => {
            let (sim, addrs) = Sim::start(
                SimConfig {
                    speed_bump: Duration::from_millis(1),
                    ..SimConfig::default()
                },
                any,
                any,
                rx,
            )
            .await
            .unwrap();
            (Venue::Pacifica(sim), addrs.rest_url(), addrs.ws_url())
        }
    };
    let symbol = venue.symbol();
    let (address, key) = match &venue {
        Venue::Pacifica(_) => (ACCOUNT.to_owned(), KEY),
        Venue::Nado(_) => (format!("\"{NADO_OWNER}\""), NADO_KEY),
        Venue::Hyperliquid(_) => (format!("\"{HL_MASTER}\""), NADO_KEY),
        Venue::Binance(_) => (BN_KEY.to_owned(), BN_SECRET),
    };
    let dir = std::env::temp_dir().join(format!("driftwatch-bench-detect-{}-{venue_name}", std::process::id()));
    std::fs::create_dir_all(dir.join("rules")).unwrap();
    std::fs::write(dir.join("key"), key).unwrap();
    let db = dir.join("bot.db");
    driftwatch::demo::seed_sqlite(&db).await.unwrap();
    // Each venue weighs queries against a per-IP budget (nado.md §6,
    // hyperliquid.md, binance_usdm.md): the bench takes the whole of it and
    // paces its rounds inside it. A round spends the close's fresh read, its
    // price or book read, the order, its verification and the REST read
    // that follows: about 20 of Nado's 400 per 10 s, about 20 of Binance's
    // 2,400 a minute (three `positionRisk` reads at 5). On Hyperliquid (1,200
    // a minute) the REST poll's marks (`metaAndAssetCtxs`, weight 20 every
    // 5 s) leave room for a round (about 10) a second.
    let (rest_poll, pace) = match venue {
        Venue::Nado(_) => ("5s", Duration::from_millis(600)),
        Venue::Hyperliquid(_) => ("5s", Duration::from_millis(1000)),
        Venue::Binance(_) => ("5s", Duration::from_millis(600)),
        Venue::Pacifica(_) => ("1s", Duration::ZERO),
    };
    // The rule has no cooldown: each round's frame fires it. Right after a
    // close is verified, before the stream has shown the fill, the leg
    // settles (`plan::settle`): the rule firing on the stream's stale view
    // sends nothing (before, that close's fresh read found the position
    // flat, and the symbol's one-second back-off then held the next
    // round's close: a figure of the back-off, not of detection).
    std::fs::write(
        dir.join("rules/r.yaml"),
        format!("rules:\n  - id: btc-limit\n    scope: {{symbols: [{symbol}]}}\n    condition: {{position_limit: {{size: 0.5}}}}\n    cooldown: 0s\n    severity: critical\n    actions: [close_position]\n"),
    )
    .unwrap();
    let mut share = match venue {
        Venue::Pacifica(_) => String::new(),
        _ => "\n    query_share: 1".to_owned(),
    };
    if let Venue::Binance(_) = venue {
        // Binance signs its reads with the API secret (binance_usdm.md §2).
        share += &format!("\n    api_secret: {{file: {}/key}}", dir.display());
    }
    let text = format!(
        "listen: 127.0.0.1:0\nintervals: {{rest_poll: {rest_poll}, db_poll: 1s}}\nbot_db: {{url: {{value: \"sqlite://{}\"}}}}\njournal: {{url: {{value: \"sqlite://{}/j.db\"}}}}\nrules: {{dir: {}/rules}}\ncloses: {{max_per_hour: 100000}}\naccounts:\n  - name: main\n    venue: {venue_name}\n    address: {address}\n    rest_url: \"{}\"\n    ws_url: \"{}\"\n    mapping: {{preset: nexwave}}{share}\n    correct: {{mode: off}}\n    close: {{key: {{file: {}/key}}, armed: true, verify_timeout: 2s}}\n",
        db.display(),
        dir.display(),
        dir.display(),
        rest_url,
        ws_url,
        dir.display()
    );
    let (cfg, _) = config::parse(&text, std::path::Path::new("bench.yaml"), &config::ProcessEnv).unwrap();
    let running = Process::start(cfg).await;
    // Wait until the view is trusted and lot sizes are known.
    let mut snaps = running.snapshots.clone();
    let ready = tokio::time::timeout(Duration::from_secs(20), async {
        while !snaps.borrow_and_update().all_sources_trusted() {
            snaps.changed().await.unwrap();
        }
    })
    .await;
    if ready.is_err() {
        panic!("{venue_name}: not trusted after 20 s: {}", state(&running, symbol));
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    let mut lat = Vec::with_capacity(n);
    let mut round_started: Option<tokio::time::Instant> = None;
    // Where the time goes: frame sent -> fresh read received -> order received.
    let (mut to_read, mut read_to_order) = (Vec::with_capacity(n), Vec::with_capacity(n));
    // Round 0 is a warm-up, not counted: right after start-up the stream may
    // still be waiting for the REST read that verifies it, and no close is
    // sent on an unverified stream (the next poll, up to a second later, lets
    // it through).
    for i in 0..=n {
        if let Some(last) = round_started {
            tokio::time::sleep_until(last + pace).await;
        }
        let before = venue.orders_taken();
        let opened = tokio::time::Instant::now();
        round_started = Some(opened);
        venue.watch_next_frame();
        venue.open_btc();
        loop {
            if opened.elapsed() > Duration::from_secs(10) {
                panic!("round {i}: no close within 10 s: {}", state(&running, symbol));
            }
            if venue.orders_taken() > before {
                // From the frame leaving the simulator (its socket write), not
                // from the simulator being told to build it, to the order's
                // receipt; split at the close's fresh read.
                let sent = venue.next_frame_written().unwrap_or(opened);
                let after = |times: Vec<tokio::time::Instant>| times.into_iter().filter(|t| *t >= sent);
                let order = after(venue.order_times()).min().expect("the order taken was received");
                let read = after(venue.read_times()).filter(|t| *t <= order).max();
                if i > 0 {
                    lat.push(order.duration_since(sent));
                    if let Some(read) = read {
                        to_read.push(read.duration_since(sent));
                        read_to_order.push(order.duration_since(read));
                    }
                }
                break;
            }
            // The latency is the simulator's receipt time minus the frame's
            // write time: polling granularity does not enter the figure.
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
        // Let the close settle before the next round.
        let t0 = tokio::time::Instant::now();
        while venue.btc() != rust_decimal::Decimal::ZERO {
            tokio::time::sleep(Duration::from_millis(1)).await;
            if t0.elapsed() > Duration::from_secs(10) {
                panic!("round {i}: the close did not fill: {}", state(&running, symbol));
            }
        }
        // ...and be finished (one close per symbol is in flight at a time).
        // A close a guard refused sent nothing and is not the round's: the
        // rule may fire again on a frame that arrives while the round's close
        // verifies (the stream ahead of REST), and that refusal must not let
        // the next round open before the round's close is done.
        let finished = |m: &str| -> f64 {
            m.lines()
                .filter(|l| {
                    l.starts_with("driftwatch_emergency_closes_total")
                        && l.contains(&format!("symbol=\"{symbol}\""))
                        && !l.contains("result=\"refused\"")
                })
                .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
                .sum()
        };
        let t0 = tokio::time::Instant::now();
        while finished(&running.metrics.render()) < (i + 1) as f64 {
            if t0.elapsed() > Duration::from_secs(10) {
                panic!("round {i}: the close did not finish: {}", state(&running, symbol));
            }
            tokio::time::sleep(Duration::from_millis(2)).await;
        }
    }
    println!("detection to order ({venue_name}): {n} closes, frame sent -> signed reduce-only order received (loopback, for: 0s)");
    println!("  {}", percentiles(&mut lat));
    println!("  of which frame -> fresh read received: {}", percentiles(&mut to_read));
    println!(
        "           fresh read -> order received: {}",
        percentiles(&mut read_to_order)
    );
    running.stop();
    let _ = std::fs::remove_dir_all(&dir);
}
