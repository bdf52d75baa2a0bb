//! The command line. Errors are printed once, here; nothing below calls
//! `process::exit`.
//!
//! Exit codes: `check` 0 valid, 1 invalid, 2 unreadable; `run` and
//! `snapshot` 78 (EX_CONFIG) on a bad config; `snapshot` 0 when every
//! position is in sync and every source trusted, 1 otherwise; 1 on any other
//! failure.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use clap::{Parser, Subcommand};

use crate::config::{self, LoadError, LogFormat, ProcessEnv};

pub const EX_CONFIG: u8 = 78;

#[derive(Parser, Debug)]
#[command(
    name = "driftwatch",
    version,
    about = "Keeps a trading bot's positions equal to the exchange's."
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

// Parsed once at start-up: the size of `close`'s offline arguments costs nothing.
#[allow(clippy::large_enum_variant)]
#[derive(Subcommand, Debug)]
pub enum Command {
    /// Watch the configured accounts and the bot's database; serve /metrics.
    Run {
        #[arg(long, short)]
        config: PathBuf,
        #[command(flatten)]
        record: RecordArgs,
    },
    /// Run rule files over a recording (`run --record`) and print what each
    /// rule would have done, and when. Several files (oldest first, e.g.
    /// FILE.2 FILE.1 FILE) replay as one history.
    Replay {
        #[arg(required = true)]
        files: Vec<PathBuf>,
        /// The rules directory to try.
        #[arg(long)]
        rules: PathBuf,
        /// Print each decision as a JSON line instead of a table.
        #[arg(long)]
        json: bool,
    },
    /// Exit 0 when driftwatch's /healthz answers 200 (for images without curl).
    Healthcheck {
        /// The endpoint to ask.
        #[arg(long, default_value = "http://127.0.0.1:9733/healthz")]
        url: String,
        /// Give up after this long.
        #[arg(long, default_value = "3s", value_parser = parse_duration)]
        timeout: Duration,
    },
    /// Print the three-way table once and exit.
    Snapshot {
        #[arg(long, short)]
        config: PathBuf,
        /// Give up waiting for every source after this long (e.g. 20s).
        #[arg(long, default_value = "20s", value_parser = parse_duration)]
        timeout: Duration,
    },
    /// Validate a config file with the loader `run` uses.
    Check {
        #[arg(long, short)]
        config: PathBuf,
        /// Treat warnings as errors.
        #[arg(long)]
        deny_warnings: bool,
    },
    /// The panic button: close positions reduce-only, through the same code
    /// path as rule-triggered closes (fresh read, lot floor, one client
    /// order id, verification, the journal).
    Close {
        #[arg(long, short, required_unless_present = "offline")]
        config: Option<PathBuf>,
        /// The account (by its config name); the only one if omitted.
        #[arg(long)]
        account: Option<String>,
        /// Symbols to close, exactly as the venue spells them.
        symbols: Vec<String>,
        /// Close every open position of the account.
        #[arg(long, conflicts_with = "symbols")]
        all: bool,
        /// Sign but do not send (as when disarmed).
        #[arg(long)]
        dry_run: bool,
        /// Print the exact signed request body.
        #[arg(long)]
        print_request: bool,
        /// Build a signed request from explicit inputs, without contacting the venue.
        #[arg(long, requires_all = ["key_file", "address", "symbol", "side", "amount"])]
        offline: bool,
        #[arg(long)]
        key_file: Option<PathBuf>,
        /// The main account (offline).
        #[arg(long)]
        address: Option<String>,
        #[arg(long)]
        symbol: Option<String>,
        /// bid or ask (offline).
        #[arg(long)]
        side: Option<String>,
        #[arg(long)]
        amount: Option<String>,
        #[arg(long, default_value = "1")]
        slippage: String,
        /// The key is an agent wallet (offline).
        #[arg(long)]
        agent: bool,
        #[arg(long)]
        timestamp: Option<u64>,
        #[arg(long, default_value_t = 5000)]
        expiry_window: u64,
        #[arg(long)]
        client_order_id: Option<String>,
        /// The venue the offline request is for: pacifica, nado, hyperliquid or binance.
        #[arg(long, value_parser = parse_venue, default_value = "pacifica")]
        venue: crate::domain::VenueKind,
        /// Nado (offline): the subaccount's name under the owner `--address`.
        #[arg(long, default_value = "default")]
        subaccount: String,
        /// Nado (offline): the product id (`symbols` gives it).
        #[arg(long)]
        product_id: Option<u32>,
        /// Nado (offline): the worst price the IOC may fill at.
        #[arg(long)]
        price: Option<String>,
        /// Nado (offline): the order nonce ((recv time ms << 20) + random).
        #[arg(long)]
        nonce: Option<u64>,
        /// Nado (offline): expiration, unix seconds.
        #[arg(long)]
        expiration: Option<u64>,
        /// Nado (offline): the chain id (mainnet's by default).
        #[arg(long)]
        chain_id: Option<u64>,
        /// Nado (offline): the key is the subaccount's linked signer, not the owner.
        #[arg(long)]
        linked: bool,
        /// Hyperliquid (offline): the asset index (the coin's place in `meta`'s universe).
        #[arg(long)]
        asset: Option<u32>,
        /// Hyperliquid (offline): mainnet or testnet.
        #[arg(long, default_value = "mainnet")]
        network: String,
        /// Hyperliquid (offline): the sub-account or vault traded for (signed by --address's key or its agent).
        #[arg(long)]
        vault: Option<String>,
        /// Hyperliquid (offline): expiresAfter, unix milliseconds.
        #[arg(long)]
        expires_after: Option<u64>,
        /// Binance (offline, hedge mode): the leg closed, LONG or SHORT (no reduceOnly is sent).
        #[arg(long)]
        position_side: Option<String>,
        /// Binance (offline): newOrderRespType (RESULT: the reply carries the fill).
        #[arg(long)]
        resp_type: Option<String>,
    },
    /// Run rule unit tests (like `promtool test rules`): 0 all pass, 1 a test failed, 2 a file is bad.
    Test {
        /// Test files (e.g. rules/*_test.yaml).
        #[arg(required = true)]
        files: Vec<PathBuf>,
    },
    /// Show the action journal: every correction planned, refused, applied or failed.
    History {
        #[arg(long, short)]
        config: PathBuf,
        /// How far back: a duration (e.g. 24h) or epoch milliseconds.
        #[arg(long, default_value = "24h")]
        since: String,
        /// Only this symbol.
        #[arg(long)]
        symbol: Option<String>,
    },
    /// Run a simulated exchange on loopback (scripted with POST /_sim/...).
    Sim {
        /// pacifica, nado (one port: the gateway and /v1/subscribe on --rest-listen), or
        /// hyperliquid (/info and /exchange on --rest-listen, the stream on --ws-listen), or
        /// binance (REST on --rest-listen, the user data stream on --ws-listen).
        #[arg(long, value_parser = parse_venue, default_value = "pacifica")]
        venue: crate::domain::VenueKind,
        #[arg(long, default_value = "127.0.0.1:9810")]
        rest_listen: SocketAddr,
        #[arg(long, default_value = "127.0.0.1:9811")]
        ws_listen: SocketAddr,
        /// Open a position at start: ACCOUNT:SYMBOL:bid|ask:AMOUNT, optionally :ENTRY
        /// (Nado: SUBACCOUNT:SYMBOL:SIGNED_AMOUNT; Hyperliquid: 0xACCOUNT:COIN:SIGNED_SIZE;
        /// Binance: API_KEY:SECRET:SYMBOL:BOTH|LONG|SHORT:SIGNED_AMOUNT)
        /// (repeatable).
        #[arg(long = "open")]
        open: Vec<String>,
    },
    /// Replay the 2025-11-10 incident on loopback: simulator, SQLite bot database, watcher.
    Demo {
        /// pacifica (the default); nado or hyperliquid: the delta-neutral ETH/SOL pair of 2026-02-03;
        /// binance: the 2025-11-10 incident on a hedge-mode account (`--scenario sol`: the pair, one-way).
        #[arg(long, value_parser = parse_venue, default_value = "pacifica")]
        venue: crate::domain::VenueKind,
        /// Pacifica and Binance: incident (the 2025-11-10 stale rows) or sol (the 2026-02-03 SOL residual).
        #[arg(long, value_enum, default_value = "incident")]
        scenario: crate::demo::Scenario,
        /// Whose database: nexwave (the incident's own table) or freqtrade
        /// (the incident's trades in Freqtrade's database, closed its way).
        #[arg(long, value_enum, default_value = "nexwave")]
        bot: crate::demo::Bot,
        #[arg(long, default_value = config::DEFAULT_LISTEN)]
        listen: SocketAddr,
        /// Stop after this long instead of at Ctrl-C (e.g. 15s).
        #[arg(long = "for", value_parser = parse_duration)]
        run_for: Option<Duration>,
        #[command(flatten)]
        record: RecordArgs,
    },
}

#[derive(clap::Args, Debug)]
pub struct RecordArgs {
    /// Record every observation (stream frames, REST and DB reads) as JSON lines.
    #[arg(long, value_name = "FILE")]
    record: Option<PathBuf>,
    /// Rotate the recording when it reaches this size (e.g. 64MiB).
    #[arg(long, default_value = "64MiB", value_parser = parse_size)]
    record_max_bytes: u64,
    /// Rotated recordings to keep (FILE.1 ... FILE.N).
    #[arg(long, default_value = "4")]
    record_keep: u32,
}

impl RecordArgs {
    fn config(&self) -> Option<crate::record::RecordConfig> {
        self.record.as_ref().map(|p| crate::record::RecordConfig {
            path: p.clone(),
            max_bytes: self.record_max_bytes,
            keep: self.record_keep,
        })
    }
}

/// `123`, `64KiB`, `64MiB`, `1GiB` (also kB/MB/GB as powers of 1000).
fn parse_size(s: &str) -> Result<u64, String> {
    let t = s.trim();
    let split = t.find(|c: char| !c.is_ascii_digit()).unwrap_or(t.len());
    let (n, unit) = t.split_at(split);
    let n: u64 = n.parse().map_err(|_| format!("invalid size {s:?}: e.g. 64MiB"))?;
    let mult: u64 = match unit.trim() {
        "" | "B" => 1,
        "kB" | "KB" => 1000,
        "KiB" => 1 << 10,
        "MB" => 1_000_000,
        "MiB" => 1 << 20,
        "GB" => 1_000_000_000,
        "GiB" => 1 << 30,
        other => return Err(format!("invalid size unit {other:?}: use B, KiB, MiB or GiB")),
    };
    n.checked_mul(mult)
        .filter(|v| *v >= 4096)
        .ok_or_else(|| format!("invalid size {s:?}: at least 4KiB"))
}

fn parse_venue(s: &str) -> Result<crate::domain::VenueKind, String> {
    crate::domain::VenueKind::parse(s)
}

fn parse_duration(s: &str) -> Result<Duration, String> {
    config::duration::parse(s)
}

/// Whether output to a stream may carry colour escapes: only on a terminal,
/// and never when `NO_COLOR` is set to anything (no-color.org).
pub fn colour(terminal: bool) -> bool {
    terminal && std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty())
}

/// Sets up logging into `path` (plain text, no colour): the demo's table owns
/// the terminal, and a log line must never be drawn over it.
pub fn init_logging_to_file(level: &str, path: &std::path::Path) -> std::io::Result<()> {
    let file = std::fs::File::create(path)?;
    let filter =
        tracing_subscriber::EnvFilter::try_new(level).unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn"));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(false)
        .with_writer(std::sync::Mutex::new(file))
        .try_init();
    Ok(())
}

/// Sets up logging on stderr.
pub fn init_logging(format: LogFormat, level: &str) {
    let filter = std::env::var("RUST_LOG")
        .ok()
        .and_then(|v| tracing_subscriber::EnvFilter::try_new(v).ok())
        .or_else(|| tracing_subscriber::EnvFilter::try_new(level).ok())
        .unwrap_or_else(|| tracing_subscriber::EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(colour(std::io::IsTerminal::is_terminal(&std::io::stderr())))
        .with_writer(std::io::stderr);
    let _ = match format {
        LogFormat::Json => builder.json().try_init(),
        LogFormat::Text => builder.try_init(),
    };
}

/// Waits for SIGINT or SIGTERM.
pub async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        _ = ctrl_c => tracing::info!("SIGINT received; shutting down."),
        _ = term => tracing::info!("SIGTERM received; shutting down."),
    }
}

/// Runs the parsed command.
pub fn main(cli: Cli) -> ExitCode {
    match cli.command {
        Command::Check { config, deny_warnings } => check(&config, deny_warnings),
        Command::Test { files } => rule_tests(&files),
        other => {
            // `run` is a sidecar: one thread does its work at a few percent
            // of a core (BENCHMARKS.md), with one allocator arena and no
            // cross-thread wake-ups. The demo and the simulators, which
            // serve load, get a thread per core.
            let mut builder = match other {
                Command::Run { .. } => tokio::runtime::Builder::new_current_thread(),
                _ => tokio::runtime::Builder::new_multi_thread(),
            };
            let rt = match builder.enable_all().build() {
                Ok(rt) => rt,
                Err(e) => {
                    eprintln!("driftwatch: cannot start the runtime: {e}");
                    return ExitCode::FAILURE;
                }
            };
            rt.block_on(async_main(other))
        }
    }
}

fn rule_tests(files: &[PathBuf]) -> ExitCode {
    let (mut passed, mut failed, mut broken) = (0, 0, 0);
    for f in files {
        println!("{}:", f.display());
        match crate::rules::testing::run_file(f) {
            Ok(o) => {
                print!("{}", o.report);
                passed += o.passed;
                failed += o.failed;
            }
            Err(errors) => {
                broken += 1;
                for e in errors {
                    eprintln!("{e}");
                }
            }
        }
    }
    if broken > 0 {
        println!("{passed} passed, {failed} failed; {broken} file(s) could not be run (errors above)");
    } else {
        println!("{passed} passed, {failed} failed");
    }
    if broken > 0 {
        ExitCode::from(2)
    } else if failed > 0 {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    }
}

fn check(path: &std::path::Path, deny_warnings: bool) -> ExitCode {
    match config::load(path, &ProcessEnv) {
        Ok((_, warnings)) => {
            for w in &warnings {
                eprintln!("{w} (warning)");
            }
            if deny_warnings && !warnings.is_empty() {
                ExitCode::from(1)
            } else {
                println!("{}: valid", path.display());
                ExitCode::SUCCESS
            }
        }
        Err(LoadError::Unreadable { .. }) => {
            if let Err(e) = config::load(path, &ProcessEnv) {
                eprintln!("{e}");
            }
            ExitCode::from(2)
        }
        Err(e) => {
            eprintln!("{e}");
            ExitCode::from(1)
        }
    }
}

fn load_or_report(path: &std::path::Path) -> Result<config::Config, ExitCode> {
    match config::load(path, &ProcessEnv) {
        Ok((c, warnings)) => {
            for w in &warnings {
                eprintln!("{w} (warning)");
            }
            Ok(c)
        }
        Err(e) => {
            eprintln!("{e}");
            Err(ExitCode::from(EX_CONFIG))
        }
    }
}

async fn async_main(command: Command) -> ExitCode {
    let result = match command {
        Command::Run { config, record } => {
            let c = match load_or_report(&config) {
                Ok(c) => c,
                Err(code) => return code,
            };
            init_logging(c.log_format, &c.log_level);
            tracing::info!(config = %config.display(), accounts = c.accounts.len(), "Starting driftwatch.");
            let listen = c.listen;
            match crate::app::start(
                c,
                crate::app::Options {
                    http: Some(listen),
                    record: record.config(),
                },
            )
            .await
            {
                Ok(running) => running.supervise(shutdown_signal(), Duration::from_secs(10)).await,
                Err(e) => Err(e),
            }
        }
        Command::Snapshot { config, timeout } => {
            let c = match load_or_report(&config) {
                Ok(c) => c,
                Err(code) => return code,
            };
            init_logging(c.log_format, "warn");
            return snapshot(c, timeout).await;
        }
        Command::Close {
            config,
            account,
            symbols,
            all,
            dry_run,
            print_request,
            offline,
            key_file,
            address,
            symbol,
            side,
            amount,
            slippage,
            agent,
            timestamp,
            expiry_window,
            client_order_id,
            venue,
            subaccount,
            product_id,
            price,
            nonce,
            expiration,
            chain_id,
            linked,
            asset,
            network,
            vault,
            expires_after,
            position_side,
            resp_type,
        } => {
            if offline {
                let key_file = key_file.unwrap_or_default();
                let key = match std::fs::read_to_string(&key_file) {
                    Ok(k) => k,
                    Err(e) => return print_signed(Err(format!("{}: cannot read: {e}", key_file.display()))),
                };
                let order = crate::venue::types::OfflineOrder {
                    key,
                    key_name: key_file.display().to_string(),
                    address: address.unwrap_or_default(),
                    symbol: symbol.unwrap_or_default(),
                    side: side.unwrap_or_default(),
                    amount: amount.unwrap_or_default(),
                    slippage,
                    agent,
                    timestamp,
                    expiry_window_ms: expiry_window,
                    client_order_id,
                    subaccount,
                    product_id,
                    price,
                    nonce,
                    expiration,
                    chain_id,
                    linked,
                    asset,
                    network,
                    vault,
                    expires_after,
                    position_side,
                    resp_type,
                };
                return print_signed(crate::venue::registry::offline_close(venue, &order));
            }
            let Some(config) = config else {
                eprintln!("driftwatch: close needs --config (or --offline)");
                return ExitCode::from(2);
            };
            let c = match load_or_report(&config) {
                Ok(c) => c,
                Err(code) => return code,
            };
            init_logging(c.log_format, "warn");
            return crate::panic_button::run(&c, account.as_deref(), &symbols, all, dry_run, print_request).await;
        }
        Command::History { config, since, symbol } => {
            let c = match load_or_report(&config) {
                Ok(c) => c,
                Err(code) => return code,
            };
            return history(&c, &since, symbol.as_deref()).await;
        }
        Command::Sim {
            venue,
            rest_listen,
            ws_listen,
            open,
        } => {
            init_logging(LogFormat::Text, "info");
            crate::venue::registry::serve_simulator(venue, rest_listen, ws_listen, &open, shutdown_signal()).await
        }
        Command::Healthcheck { url, timeout } => return healthcheck(&url, timeout).await,
        Command::Replay { files, rules, json } => return replay(&files, &rules, json),
        Command::Demo {
            venue,
            scenario,
            bot,
            listen,
            run_for,
            record,
        } => {
            // On a terminal the table redraws in place: logs go to a file
            // (named in the demo's header), never over the table.
            let log = std::io::IsTerminal::is_terminal(&std::io::stdout()).then(crate::demo::log_path);
            match &log {
                Some(path) => {
                    if let Err(e) = init_logging_to_file("warn", path) {
                        eprintln!("driftwatch: cannot write the demo's log {}: {e}", path.display());
                        return ExitCode::from(1);
                    }
                }
                None => init_logging(LogFormat::Text, "warn"),
            }
            let stop = async move {
                match run_for {
                    Some(d) => tokio::select! {
                        _ = tokio::time::sleep(d) => {}
                        _ = shutdown_signal() => {}
                    },
                    None => shutdown_signal().await,
                }
            };
            crate::demo::run(
                crate::demo::DemoOptions {
                    venue,
                    scenario,
                    bot,
                    listen,
                    run_for,
                    record: record.config(),
                },
                stop,
            )
            .await
        }
        Command::Check { .. } | Command::Test { .. } => unreachable!("handled without a runtime"),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("driftwatch: {e:#}");
            ExitCode::FAILURE
        }
    }
}

/// Prints an offline close's signed request, or why none was signed (exit 2).
fn print_signed(signed: Result<String, String>) -> ExitCode {
    match signed {
        Ok(body) => {
            println!("{body}");
            ExitCode::SUCCESS
        }
        Err(m) => {
            eprintln!("driftwatch: {m}");
            ExitCode::from(2)
        }
    }
}

async fn history(c: &config::Config, since: &str, symbol: Option<&str>) -> ExitCode {
    let now = crate::clock::now();
    let since = match crate::journal::parse_since(since, now) {
        Ok(t) => t,
        Err(e) => {
            eprintln!("driftwatch: --since: {e}");
            return ExitCode::from(2);
        }
    };
    let journal = match crate::journal::Journal::open(c.journal_url.expose()).await {
        Ok(j) => j,
        Err(e) => {
            eprintln!("driftwatch: {e}");
            return ExitCode::FAILURE;
        }
    };
    let entries = match journal.history(since, symbol).await {
        Ok(e) => e,
        Err(e) => {
            eprintln!("driftwatch: reading the journal: {e}");
            return ExitCode::FAILURE;
        }
    };
    journal.close().await;
    // Columns as wide as their widest cell, so every row lines up.
    let mut rows: Vec<[String; 7]> = vec![[
        "AT (UTC)".into(),
        "ACCOUNT".into(),
        "SYMBOL".into(),
        "KIND".into(),
        "OP".into(),
        "STATUS".into(),
        "CORRELATION".into(),
    ]];
    for e in &entries {
        let kind = match e.kind {
            crate::journal::Kind::DbCorrection => "db",
            crate::journal::Kind::EmergencyClose => "close",
        };
        rows.push([
            e.created_at.to_utc_string(),
            e.account.clone(),
            e.symbol.clone(),
            kind.into(),
            e.op.clone(),
            e.status.to_string(),
            e.correlation_id.clone(),
        ]);
    }
    print!("{}", crate::table::align(&rows));
    if entries.is_empty() {
        println!("(no journal entries since {})", since.to_utc_string());
    }
    ExitCode::SUCCESS
}

async fn snapshot(c: config::Config, timeout: Duration) -> ExitCode {
    let running = match crate::app::start(
        c,
        crate::app::Options {
            http: None,
            record: None,
        },
    )
    .await
    {
        Ok(r) => r,
        Err(e) => {
            eprintln!("driftwatch: {e:#}");
            return ExitCode::FAILURE;
        }
    };
    let mut snaps = running.snapshots.clone();
    let deadline = tokio::time::Instant::now() + timeout;
    let mut last = None;
    loop {
        tokio::select! {
            _ = tokio::time::sleep_until(deadline) => break,
            changed = snaps.changed() => {
                if changed.is_err() { break; }
                let s = snaps.borrow_and_update().clone();
                let settled = s.all_sources_trusted() && !s.accounts.is_empty();
                last = Some(s);
                if settled { break; }
            }
        }
    }
    running.shutdown_within(Duration::from_secs(2)).await;
    match last {
        None => {
            eprintln!("driftwatch: no reconciliation within {timeout:?}");
            ExitCode::FAILURE
        }
        Some(s) => {
            print!("{}", crate::table::render(&s, s.at));
            let clean = s.all_sources_trusted()
                && s.accounts
                    .iter()
                    .all(|a| a.report.rows.iter().all(|r| r.state == crate::reconcile::State::InSync));
            if clean {
                ExitCode::SUCCESS
            } else {
                ExitCode::from(1)
            }
        }
    }
}

/// `driftwatch healthcheck`: 0 when `url` answers 200 within `timeout`, else 1.
async fn healthcheck(url: &str, timeout: Duration) -> ExitCode {
    let client = match reqwest::Client::builder().timeout(timeout).build() {
        Ok(c) => c,
        Err(e) => {
            eprintln!("healthcheck: {e}");
            return ExitCode::FAILURE;
        }
    };
    match client.get(url).send().await {
        Ok(r) if r.status().is_success() => ExitCode::SUCCESS,
        Ok(r) => {
            eprintln!("healthcheck: {url} answered {}", r.status());
            ExitCode::FAILURE
        }
        Err(e) => {
            eprintln!("healthcheck: {url}: {e}");
            ExitCode::FAILURE
        }
    }
}

/// `driftwatch replay`: 0 when replayed, 1 on a bad recording or rule file.
fn replay(files: &[PathBuf], rules_dir: &std::path::Path, json: bool) -> ExitCode {
    let rules = match crate::rules::file::rule_files(rules_dir)
        .map_err(|e| vec![format!("{}: cannot read: {e}", rules_dir.display())])
        .and_then(|f| crate::rules::compile_files(&f).map_err(|errs| errs.iter().map(|e| e.to_string()).collect()))
    {
        Ok(r) => r,
        Err(errs) => {
            for e in errs {
                eprintln!("{e}");
            }
            return ExitCode::FAILURE;
        }
    };
    let mut header: Option<crate::replay::Header> = None;
    let mut observations: Vec<crate::replay::Observation> = Vec::new();
    for (i, f) in files.iter().enumerate() {
        let parsed = std::fs::read_to_string(f)
            .map_err(|e| format!("{}: cannot read: {e}", f.display()))
            .and_then(|t| crate::replay::parse(&t).map_err(|e| format!("{}: {e}", f.display())));
        match parsed {
            Ok((h, mut obs)) => {
                if header.as_ref().is_some_and(|prev| prev.accounts != h.accounts) {
                    eprintln!(
                        "{}: recorded with other accounts than {}",
                        f.display(),
                        files[0].display()
                    );
                    return ExitCode::FAILURE;
                }
                // One history, oldest first: a file that starts before the
                // previous one ended is out of order (or overlaps it).
                if let (Some(prev), Some(first)) = (observations.last(), obs.first()) {
                    if first.at < prev.at {
                        eprintln!(
                            "{}: starts at {}, before {} ends ({}): give the files oldest first (FILE.2 FILE.1 FILE)",
                            f.display(),
                            first.at.to_utc_string(),
                            files[i - 1].display(),
                            prev.at.to_utc_string(),
                        );
                        return ExitCode::FAILURE;
                    }
                }
                header.get_or_insert(h);
                observations.append(&mut obs);
            }
            Err(e) => {
                eprintln!("{e}");
                return ExitCode::FAILURE;
            }
        }
    }
    let header = header.expect("at least one file");
    let replayed = crate::replay::replay(&header, &observations, &rules);
    // Written at once, and a closed pipe (`| head`) is not an error.
    use std::fmt::Write as _;
    let mut out = String::new();
    if json {
        for r in &replayed {
            let _ = writeln!(out, "{}", serde_json::to_string(r).unwrap_or_default());
        }
        let _ = std::io::Write::write_all(&mut std::io::stdout(), out.as_bytes());
        return ExitCode::SUCCESS;
    }
    let span = match (observations.first(), observations.last()) {
        (Some(a), Some(b)) => format!("{} to {}", a.at.to_utc_string(), b.at.to_utc_string()),
        _ => "empty".into(),
    };
    let _ = writeln!(
        out,
        "replayed {} observations of {} account(s), {span}, with {} rule(s) from {}",
        observations.len(),
        header.accounts.len(),
        rules.rules.len(),
        rules_dir.display()
    );
    for r in &replayed {
        let d = &r.decision;
        let _ = writeln!(
            out,
            "{}  {:<24} {:<15} {}/{} {:<10} {}",
            r.at.to_utc_string(),
            d.rule,
            d.action.as_str(),
            d.venue,
            d.account,
            d.subject,
            d.reason
        );
    }
    let summary = crate::replay::summary(&replayed);
    let _ = writeln!(out, "\nper rule:");
    for rule in &rules.rules {
        let _ = match summary.get(&rule.id) {
            Some((n, first, last)) => writeln!(
                out,
                "  {:<24} fired {n} time(s), first {}, last {}",
                rule.id,
                first.to_utc_string(),
                last.to_utc_string()
            ),
            None => writeln!(out, "  {:<24} never fired", rule.id),
        };
    }
    let _ = std::io::Write::write_all(&mut std::io::stdout(), out.as_bytes());
    ExitCode::SUCCESS
}
