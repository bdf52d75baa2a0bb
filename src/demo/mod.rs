//! `driftwatch demo`: the 2025-11-10 incident, replayed on loopback with
//! nothing to install.
//!
//! The simulated Pacifica holds the one real position (ZEC, short 0.1 @
//! 649.20). The bot's database (an embedded SQLite file with the Nexwave
//! schema) holds the 16 rows the incident report lists: 15 for positions
//! closed long ago, and ZEC, whose row still says *long* 0.1: the bot opened
//! the short at start-up, found a row for ZEC and "changed nothing"
//! (pacifica.md §10). The demo config is embedded and goes through the same
//! loader as `run`, with corrections on: once the `db-stale-row` rule has
//! alerted, the 15 ghost rows are archived and deleted in one transaction,
//! and (the demo config sets `adopt: true`) the ZEC row becomes the short
//! the exchange holds.
//!
//! `--venue nado` replays the 2026-02-03 incident where it happened: a
//! delta-neutral ETH/SOL pair on the simulated Nado gateway, whose bot
//! reset its view of SOL and kept selling. The short SOL leg grows by
//! about $400 the database never hears of; the `net_exposure` rule over the
//! pair trims SOL back to the database's size, reduce-only, signed EIP-712.
//!
//! `--venue binance` replays the 2025-11-10 incident on a simulated Binance
//! USDⓈ-M account in hedge mode: the bot's 16 rows name their leg by their
//! side (`leg: by_side`); the 15 ghosts are deleted, the ZEC long row matches
//! the LONG leg, and the SHORT leg the bot opened at start-up and never
//! recorded is closed from its own side (`positionSide=SHORT`) while the
//! LONG leg stays open. `--scenario sol` replays the SOL residual on a
//! one-way account instead: a reduce-only MARKET order.
//!
//! `--venue hyperliquid` replays the same SOL residual on the simulated
//! Hyperliquid: the trim is a reduce-only IOC signed as an L1 action,
//! settled by its cloid and verified by a fresh `clearinghouseState`.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::Context;
use sqlx::sqlite::SqliteConnectOptions;
use sqlx::{ConnectOptions, Connection};
use tokio::sync::watch;

use crate::config::{self, ProcessEnv};
use crate::venue::nado::sim::{NadoSim, SimConfig as NadoSimConfig};
use crate::venue::pacifica::sim::{Sim, SimAddrs, SimConfig};
use rust_decimal::Decimal;

pub const ACCOUNT: &str = "9C6hybhQ6Aycep9jaUnP6uL9ZYvDjUp1aSkFWPUFJtpj";
const CONFIG: &str = include_str!("pacifica.yaml");
const NADO_CONFIG: &str = include_str!("nado.yaml");
const HYPERLIQUID_CONFIG: &str = include_str!("hyperliquid.yaml");
const BINANCE_CONFIG: &str = include_str!("binance.yaml");
const BINANCE_PAIR_CONFIG: &str = include_str!("binance_pair.yaml");
/// The public example key and secret of Binance's signing documentation.
const BINANCE_API_KEY: &str = "dbefbc809e3e83c283a984c3a1459732ea7db1360ca80c5c2c8867408d28cc83";
const BINANCE_SECRET: &str = "2b5eb11e18796d12d88f13dc27dbbd02c2cc51ff7059765ed9821957d82bb4d9";
/// The address of [`NADO_DEMO_KEY`], the Hyperliquid demo's master account.
const HYPERLIQUID_MASTER: &str = "0xFCAd0B19bB29D4674531d6f115237E16AfCE377c";
const DELTA_NEUTRAL_RULES: &str = include_str!("../../rules/delta-neutral.yaml");
/// The key of shared/venues/vectors/nado_signing.json (a public test key).
const NADO_DEMO_KEY: &str = "0x0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";
/// Its default subaccount.
pub const NADO_SUBACCOUNT: &str = "0xfcad0b19bb29d4674531d6f115237e16afce377c64656661756c740000000000";
const SCHEMA: &str = include_str!("nexwave_sqlite.sql");
const DEFAULT_RULES: &str = include_str!("../../rules/default.yaml");
/// The main key of shared/venues/vectors/pacifica_signing.json (a public test key).
const DEMO_KEY: &str = "2Ana1pUpv2ZbMVkwF5FXapYeBEjdxDatLn7nvJkhgTSdZd8hbDHTd21as7EAsg7ypityqfsw2pMQKJcVDVcAEsd";

/// The incident report's 16 rows: (symbol, side, amount, entry price).
pub const INCIDENT_ROWS: [(&str, &str, f64, f64); 16] = [
    ("VIRTUAL", "bid", 49.5, 1.6078),
    ("FARTCOIN", "bid", 235.9, 0.3376),
    ("2Z", "bid", 180.0, 0.1992),
    ("BNB", "bid", 0.05, 1015.19),
    ("XRP", "bid", 30.0, 2.4251),
    ("ASTER", "bid", 53.9, 1.1244),
    ("PENGU", "bid", 4048.0, 0.0158),
    ("LDO", "bid", 64.7, 0.8621),
    ("CRV", "bid", 112.9, 0.4928),
    ("ENA", "bid", 207.0, 0.3410),
    ("XPL", "bid", 242.0, 0.3286),
    ("WLFI", "bid", 601.0, 0.1324),
    ("PUMP", "bid", 15296.0, 0.0043),
    ("MON", "bid", 549.0, 0.0592),
    ("ZEC", "bid", 0.1, 649.2),
    ("SUI", "bid", 25.8, 2.1764),
];

/// Creates the SQLite bot database at `path`, seeded with the incident.
pub async fn seed_sqlite(path: &Path) -> anyhow::Result<()> {
    let mut conn = SqliteConnectOptions::new()
        .filename(path)
        .create_if_missing(true)
        .connect()
        .await
        .with_context(|| format!("creating {}", path.display()))?;
    let mut tx = conn.begin().await?;
    let schema: String = SCHEMA
        .lines()
        .filter(|l| !l.trim_start().starts_with("--"))
        .collect::<Vec<_>>()
        .join("\n");
    for stmt in schema.split(';').map(str::trim).filter(|s| !s.is_empty()) {
        sqlx::query(stmt).execute(&mut *tx).await?;
    }
    for (symbol, side, amount, entry) in INCIDENT_ROWS {
        sqlx::query(
            "INSERT INTO positions (strategy_id, symbol, side, amount, entry_price, realized_pnl, opened_at, updated_at) \
             VALUES ('vwm_momentum_1', ?, ?, ?, ?, 0, '2025-11-09T12:00:00Z', '2025-11-09T12:00:00Z')",
        )
        .bind(symbol)
        .bind(side)
        .bind(amount)
        .bind(entry)
        .execute(&mut *tx)
        .await?;
    }
    tx.commit().await?;
    conn.close().await?;
    Ok(())
}

/// The exchange side of the incident: the one real position.
pub fn seed_exchange(sim: &Sim) {
    sim.open(ACCOUNT, "ZEC", "ask", "0.1", "649.2");
}

/// The embedded demo config, filled in.
pub fn config_text(listen: SocketAddr, db_path: &Path, sim: &SimAddrs) -> String {
    fill(CONFIG, listen, db_path, &sim.rest_url(), &sim.ws_url())
}

fn fill(template: &str, listen: SocketAddr, db_path: &Path, rest_url: &str, ws_url: &str) -> String {
    template
        .replace("${LISTEN}", &listen.to_string())
        .replace("${DB_URL}", &format!("sqlite://{}", db_path.display()))
        .replace(
            "${JOURNAL_URL}",
            &format!("sqlite://{}", db_path.with_file_name("journal.db").display()),
        )
        .replace("${REST_URL}", rest_url)
        .replace("${WS_URL}", ws_url)
}

/// The simulated Binance USDⓈ-M (REST and user data stream) with the demo's
/// account, hedge mode or not: the simulator and its two URLs.
async fn binance_sim(
    any: SocketAddr,
    stop: watch::Receiver<bool>,
    hedge: bool,
) -> anyhow::Result<(crate::venue::binance::sim::BinanceSim, String, String)> {
    let (sim, rest) = crate::venue::binance::sim::BinanceSim::start(any, stop.clone()).await?;
    let ws = sim.start_ws(any, stop).await?;
    sim.add_account(BINANCE_API_KEY, BINANCE_SECRET, hedge);
    Ok((sim, format!("http://{rest}"), format!("ws://{ws}/private")))
}

/// A closed trade: id, pair, close rate, profit, exit reason.
type ClosedTrade = (i64, String, Option<f64>, Option<f64>, Option<String>);

/// The Freqtrade trades driftwatch closed, as Freqtrade's own UI would list them.
async fn print_freqtrade_trades(db_path: &Path) {
    let Ok(pool) = sqlx::SqlitePool::connect(&format!("sqlite://{}", db_path.display())).await else {
        return;
    };
    let rows: Vec<ClosedTrade> = sqlx::query_as(
        "SELECT id, pair, close_rate, close_profit_abs, exit_reason FROM trades WHERE is_open = 0 ORDER BY id",
    )
    .fetch_all(&pool)
    .await
    .unwrap_or_default();
    let open: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM trades WHERE is_open = 1")
        .fetch_one(&pool)
        .await
        .unwrap_or(0);
    pool.close().await;
    if rows.is_empty() {
        return;
    }
    println!(
        "\nFreqtrade's trades closed the way Freqtrade closes a trade found closed on the exchange ({} still open, none deleted):",
        open
    );
    let shown = |v: Option<f64>| v.map_or_else(|| "-".to_owned(), |v| v.to_string());
    for (id, pair, rate, profit, reason) in rows {
        println!(
            "  trade {id:>2}  {pair:<18}  close_rate {:<8}  close_profit_abs {:<8}  {}",
            shown(rate),
            shown(profit),
            reason.unwrap_or_default()
        );
    }
}

/// The Nado demo's bot database: the pair as the bot opened it.
async fn seed_nado_pair(db_path: &Path) -> anyhow::Result<()> {
    let pool = sqlx::SqlitePool::connect(&format!("sqlite://{}", db_path.display())).await?;
    sqlx::query("DELETE FROM positions").execute(&pool).await?;
    sqlx::query(
        "INSERT INTO positions (strategy_id, symbol, side, amount, entry_price, realized_pnl, opened_at, updated_at) VALUES \
         ('eth_sol_dn', 'ETH', 'bid', 0.5, 3000, 0, '2026-02-03T08:00:00Z', '2026-02-03T08:00:00Z'), \
         ('eth_sol_dn', 'SOL', 'ask', 10.71, 140, 0, '2026-02-03T08:00:00Z', '2026-02-03T08:00:00Z')",
    )
    .execute(&pool)
    .await?;
    pool.close().await;
    Ok(())
}

/// The 2025-11-10 incident as a Freqtrade database: 16 open trades, made
/// by Freqtrade's own code (testdata/freqtrade/generate_incident.py).
const FREQTRADE_INCIDENT: &[u8] = include_bytes!("../../testdata/freqtrade/incident.sqlite");

/// Whose database the bot keeps.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Bot {
    /// The Nexwave bot's `positions` table (the incident's own).
    Nexwave,
    /// Freqtrade's `trades` table: stale trades are closed Freqtrade's way.
    Freqtrade,
}

/// Which incident the demo replays.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Scenario {
    /// 2025-11-10: 16 stale rows in a Pacifica bot's database.
    Incident,
    /// 2026-02-03: 0.5 SOL left on the exchange that the bot's database does not know.
    Sol,
}

pub struct DemoOptions {
    pub venue: crate::domain::VenueKind,
    pub scenario: Scenario,
    pub bot: Bot,
    pub listen: SocketAddr,
    /// Stop after this long (for scripted runs); `None` runs until Ctrl-C.
    pub run_for: Option<Duration>,
    /// Record every observation (as `run --record` does).
    pub record: Option<crate::record::RecordConfig>,
}

/// Runs the demo; returns when it is stopped.
/// The demo's working directory (its database, rules, keys and log).
fn demo_dir() -> PathBuf {
    std::env::temp_dir().join(format!("driftwatch-demo-{}", std::process::id()))
}

/// Where the demo logs when its table owns the terminal (beside its
/// directory, which is removed at the end; the log is kept).
pub fn log_path() -> PathBuf {
    std::env::temp_dir().join(format!("driftwatch-demo-{}.log", std::process::id()))
}

pub async fn run(opts: DemoOptions, stop: impl std::future::Future<Output = ()>) -> anyhow::Result<()> {
    let dir: PathBuf = demo_dir();
    std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
    let freqtrade = opts.bot == Bot::Freqtrade;
    if freqtrade && (opts.venue != crate::domain::VenueKind::Pacifica || opts.scenario != Scenario::Incident) {
        anyhow::bail!("--bot freqtrade replays the 2025-11-10 incident on Pacifica (the default venue and scenario)");
    }
    let db_path = dir.join(if freqtrade { "tradesv3.sqlite" } else { "nexwave.db" });
    let _ = std::fs::remove_file(&db_path);
    if freqtrade {
        std::fs::write(&db_path, FREQTRADE_INCIDENT).with_context(|| format!("writing {}", db_path.display()))?;
    } else {
        seed_sqlite(&db_path).await?;
    }
    if opts.scenario == Scenario::Sol {
        // The bot's database is flat: it believes the SOL leg was closed.
        let pool = sqlx::SqlitePool::connect(&format!("sqlite://{}", db_path.display())).await?;
        sqlx::query("DELETE FROM positions").execute(&pool).await?;
        pool.close().await;
    }

    let (sim_stop, sim_rx) = watch::channel(false);
    let any: SocketAddr = "127.0.0.1:0".parse()?;
    let rules_dir = dir.join("rules");
    std::fs::create_dir_all(&rules_dir)?;
    // The default port may be taken on a developer's machine: fall back to any.
    let listen = match tokio::net::TcpListener::bind(opts.listen).await {
        Ok(l) => {
            drop(l);
            opts.listen
        }
        Err(_) => any,
    };
    let key = dir.join("close-key");
    let nado = opts.venue == crate::domain::VenueKind::Nado;
    let hyperliquid = opts.venue == crate::domain::VenueKind::Hyperliquid;
    let binance = opts.venue == crate::domain::VenueKind::Binance;
    let (mut text, urls, script) = if binance && opts.scenario == Scenario::Incident {
        // A hedge-mode account: the bot's ZEC long (its row says so) and the
        // short it opened at start-up beside it, which its row never shows.
        let (sim, rest, ws) = binance_sim(any, sim_rx, true).await?;
        // A Binance bot keeps Binance's symbols (ZECUSDT).
        let pool = sqlx::SqlitePool::connect(&format!("sqlite://{}", db_path.display())).await?;
        sqlx::query("UPDATE positions SET symbol = symbol || 'USDT'")
            .execute(&pool)
            .await?;
        pool.close().await;
        sim.set_mark("ZECUSDT", Decimal::new(6492, 1));
        sim.set_position(BINANCE_API_KEY, "ZECUSDT", "LONG", Decimal::new(1, 1));
        sim.set_position(BINANCE_API_KEY, "ZECUSDT", "SHORT", Decimal::new(-1, 1));
        std::fs::write(
            rules_dir.join("default.yaml"),
            DEFAULT_RULES
                .replace("for: 60s", "for: 5s")
                .replace("for: 2m", "for: 3s"),
        )?;
        std::fs::write(&key, BINANCE_SECRET)?;
        let text = fill(BINANCE_CONFIG, listen, &db_path, &rest, &ws).replace("${SECRET}", &key.display().to_string());
        (text, (rest, ws), None)
    } else if binance {
        let (sim, rest, ws) = binance_sim(any, sim_rx, false).await?;
        seed_nado_pair(&db_path).await?;
        sim.set_mark("ETHUSDT", Decimal::from(3000));
        sim.set_mark("SOLUSDT", Decimal::from(140));
        sim.set_position(BINANCE_API_KEY, "ETHUSDT", "BOTH", Decimal::new(5, 1));
        sim.set_position(BINANCE_API_KEY, "SOLUSDT", "BOTH", Decimal::new(-1071, 2));
        std::fs::write(
            rules_dir.join("delta-neutral.yaml"),
            DELTA_NEUTRAL_RULES
                .replace("[ETH, SOL]", "[ETHUSDT, SOLUSDT]")
                .replace("for: 60s", "for: 5s"),
        )?;
        std::fs::write(rules_dir.join("default.yaml"), DEFAULT_RULES)?;
        std::fs::write(&key, BINANCE_SECRET)?;
        let text =
            fill(BINANCE_PAIR_CONFIG, listen, &db_path, &rest, &ws).replace("${SECRET}", &key.display().to_string());
        // The same incident on Binance: the bot keeps selling the SOL leg
        // it no longer sees, 2.86 SOL (about $400) the database never hears of.
        let script = tokio::spawn(async move {
            for _ in 0..4 {
                tokio::time::sleep(Duration::from_secs(2)).await;
                let short = sim.position(BINANCE_API_KEY, "SOLUSDT", "BOTH") - Decimal::new(715, 3);
                sim.set_position(BINANCE_API_KEY, "SOLUSDT", "BOTH", short);
            }
        });
        (text, (rest, ws), Some(script))
    } else if hyperliquid {
        use crate::venue::hyperliquid::sim::HyperliquidSim;
        let (sim, rest) =
            HyperliquidSim::start(crate::venue::hyperliquid::sign::Network::Mainnet, any, sim_rx.clone()).await?;
        let ws = sim.start_ws(any, sim_rx).await?;
        seed_nado_pair(&db_path).await?;
        let master: alloy_primitives::Address = HYPERLIQUID_MASTER.parse()?;
        sim.set_mark("ETH", Decimal::from(3000));
        sim.set_mark("SOL", Decimal::from(140));
        sim.open(master, "ETH", Decimal::new(5, 1));
        sim.open(master, "SOL", Decimal::new(-1071, 2));
        std::fs::write(
            rules_dir.join("delta-neutral.yaml"),
            DELTA_NEUTRAL_RULES.replace("for: 60s", "for: 5s"),
        )?;
        std::fs::write(rules_dir.join("default.yaml"), DEFAULT_RULES)?;
        std::fs::write(&key, NADO_DEMO_KEY)?;
        let (rest, ws) = (format!("http://{rest}"), format!("ws://{ws}"));
        let text = fill(HYPERLIQUID_CONFIG, listen, &db_path, &rest, &ws);
        // The same incident on Hyperliquid: the bot's view of SOL was reset
        // to zero, so it keeps selling the hedge, 2.86 SOL (about $400) the
        // database never hears of.
        let script = tokio::spawn(async move {
            for _ in 0..4 {
                tokio::time::sleep(Duration::from_secs(2)).await;
                let short = sim.position(master, "SOL") - Decimal::new(715, 3);
                sim.open(master, "SOL", short);
            }
        });
        (text, (rest, ws), Some(script))
    } else if nado {
        let (sim, addrs) = NadoSim::start(NadoSimConfig::default(), any, sim_rx).await?;
        seed_nado_pair(&db_path).await?;
        sim.set_position(NADO_SUBACCOUNT, "ETH-PERP", "0.5");
        sim.set_position(NADO_SUBACCOUNT, "SOL-PERP", "-10.71");
        std::fs::write(
            rules_dir.join("delta-neutral.yaml"),
            DELTA_NEUTRAL_RULES
                .replace("[ETH, SOL]", "[ETH-PERP, SOL-PERP]")
                .replace("for: 60s", "for: 5s"),
        )?;
        std::fs::write(rules_dir.join("default.yaml"), DEFAULT_RULES)?;
        std::fs::write(&key, NADO_DEMO_KEY)?;
        let text = fill(NADO_CONFIG, listen, &db_path, &addrs.rest_url(), &addrs.ws_url());
        // The bot's view of SOL was reset to zero, so it keeps selling the
        // hedge: 2.86 SOL (about $400) the database never hears of.
        let script = tokio::spawn(async move {
            for _ in 0..4 {
                tokio::time::sleep(Duration::from_secs(2)).await;
                let short = sim.position(NADO_SUBACCOUNT, "SOL-PERP") - Decimal::new(715, 3);
                sim.set_position(NADO_SUBACCOUNT, "SOL-PERP", &short.to_string());
            }
        });
        (text, (addrs.rest_url(), addrs.ws_url()), Some(script))
    } else {
        let (sim, addrs) = Sim::start(SimConfig::default(), any, any, sim_rx).await?;
        match opts.scenario {
            Scenario::Incident => {
                seed_exchange(&sim);
                if freqtrade {
                    // Marks at the entries: a close writes its rate and profit at the mark.
                    for (symbol, _, _, entry) in INCIDENT_ROWS {
                        sim.set_mark(symbol, &entry.to_string());
                    }
                }
            }
            Scenario::Sol => {
                sim.set_mark("SOL", "125");
                sim.open(ACCOUNT, "SOL", "bid", "0.5", "123.45");
            }
        }
        // The shipped default rules, with their holds shortened for the demo.
        std::fs::write(
            rules_dir.join("default.yaml"),
            DEFAULT_RULES
                .replace("for: 60s", "for: 5s")
                .replace("for: 2m", "for: 3s"),
        )?;
        // The test key of the venue's signing vectors: the demo trades only the simulator.
        std::fs::write(&key, DEMO_KEY)?;
        let mut text = config_text(listen, &db_path, &addrs);
        if opts.scenario == Scenario::Sol {
            text = text.replace("      mode: apply", "      mode: dry_run");
        }
        if freqtrade {
            // Freqtrade's table, by its preset alone; its trades are never
            // rewritten to the exchange's side (ZEC is the rules' matter).
            text = text
                .replace(
                    "      preset: nexwave\n      filter: {strategy_id: vwm_momentum_1}",
                    "      preset: freqtrade",
                )
                .replace("      adopt: true\n", "")
                .replace("  - name: nexwave\n", "  - name: freqtrade\n");
        }
        (text, (addrs.rest_url(), addrs.ws_url()), None)
    };
    text.push_str(&format!(
        "    close: {{key: {{file: \"{}\"}}, armed: true, verify_timeout: 5s}}\nrules: {{dir: \"{}\"}}\n",
        key.display(),
        rules_dir.display()
    ));
    let (config, _) = config::parse(&text, Path::new("<embedded demo config>"), &ProcessEnv)?;
    let running = crate::app::start(
        config,
        crate::app::Options {
            http: Some(listen),
            record: opts.record.clone(),
        },
    )
    .await?;
    let http = running.http_addr;
    let mut snaps = running.snapshots.clone();

    match (opts.venue, opts.scenario) {
        (crate::domain::VenueKind::Binance, Scenario::Incident) => println!(
            "driftwatch demo: the 2025-11-10 incident on a simulated Binance USDⓈ-M account in hedge mode: 16 rows, 15 of them for positions long closed, and a ZEC short leg the bot opened beside its long and never recorded."
        ),
        (crate::domain::VenueKind::Binance, _) => println!(
            "driftwatch demo: the 2026-02-03 SOL residual on a simulated Binance USDⓈ-M account: a delta-neutral ETH/SOL pair whose bot keeps selling SOL it no longer sees."
        ),
        (crate::domain::VenueKind::Hyperliquid, _) => println!(
            "driftwatch demo: the 2026-02-03 SOL residual on a simulated Hyperliquid: a delta-neutral ETH/SOL pair whose bot keeps selling SOL it no longer sees."
        ),
        (crate::domain::VenueKind::Nado, _) => println!(
            "driftwatch demo: the 2026-02-03 incident on a simulated Nado: a delta-neutral ETH/SOL pair whose bot keeps selling SOL it no longer sees."
        ),
        (_, Scenario::Incident) => println!("driftwatch demo: the 2025-11-10 Pacifica incident on loopback."),
        (_, Scenario::Sol) => println!(
            "driftwatch demo: the 2026-02-03 SOL residual on loopback: the bot's database is flat, the exchange holds 0.5 SOL."
        ),
    }
    println!("  simulated exchange: {} (REST), {} (WebSocket)", urls.0, urls.1);
    let rows = if binance && opts.scenario == Scenario::Incident {
        "Nexwave schema, 16 rows, each row's side naming its leg"
    } else if nado || hyperliquid || binance {
        "2 rows: long ETH, short SOL"
    } else if freqtrade {
        "Freqtrade's trades table, 16 open trades"
    } else {
        "Nexwave schema, 16 rows"
    };
    println!("  bot database:       {} ({rows})", db_path.display());
    if let Some(h) = http {
        println!("  metrics:            http://{h}/metrics");
    }
    let tty = std::io::IsTerminal::is_terminal(&std::io::stdout());
    if tty {
        println!("  log:                {}", log_path().display());
    }
    println!();

    let deadline = opts.run_for.map(|d| tokio::time::Instant::now() + d);
    let painter = async {
        let mut last = String::new();
        loop {
            if snaps.changed().await.is_err() {
                return;
            }
            let snap = snaps.borrow_and_update().clone();
            let table = crate::table::render(&snap, snap.at);
            if tty {
                // Clear and redraw in place.
                print!("\x1b[H\x1b[2J{table}\n(Ctrl-C to stop)\n");
            } else if table != last {
                println!("{table}");
            }
            last = table;
            if deadline.is_some_and(|d| tokio::time::Instant::now() >= d) {
                return;
            }
        }
    };
    let stop = async {
        tokio::select! {
            _ = stop => {}
            _ = painter => {}
        }
    };
    let result = running.supervise(stop, Duration::from_secs(5)).await;
    // What the journal recorded, as `driftwatch history` would show it.
    if let Ok(j) =
        crate::journal::Journal::open(&format!("sqlite://{}", db_path.with_file_name("journal.db").display())).await
    {
        let entries = j.history(crate::domain::Timestamp(0), None).await.unwrap_or_default();
        let acted: Vec<_> = entries
            .iter()
            .filter(|e| e.status != crate::journal::Status::DryRun)
            .collect();
        if !acted.is_empty() {
            println!("\nThe action journal:");
            for e in acted {
                println!(
                    "  {}  {:<15}  {:<12}  {:<14}  {}",
                    e.created_at.to_utc_string(),
                    e.kind,
                    e.symbol,
                    e.op,
                    e.status
                );
            }
        }
        j.close().await;
    }
    if freqtrade {
        print_freqtrade_trades(&db_path).await;
    }
    if let Some(s) = script {
        s.abort();
    }
    let _ = sim_stop.send(true);
    let _ = std::fs::remove_dir_all(&dir);
    result
}
