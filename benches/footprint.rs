//! Footprint: the `driftwatch run` process (the release binary, as deployed)
//! watching many symbols while a simulated venue changes positions at a
//! steady rate. The driver runs the simulator in-process and measures the
//! child from /proc:
//! - start to ready: spawn → `/readyz` 200, and spawn → every source up;
//! - RSS sampled every 5 s, and the kernel's peak (`VmHWM`);
//! - CPU: user + system ticks over the event phase, as a share of one core.
//!
//! `cargo bench --bench footprint` runs 10 minutes per venue, 1,000
//! symbols, 50 events/s. Override with FOOTPRINT_SECS, FOOTPRINT_SYMBOLS,
//! FOOTPRINT_RATE, FOOTPRINT_VENUES (comma-separated: nado,pacifica,hyperliquid,binance),
//! FOOTPRINT_CORRECT (`off`, or `apply` for the safety soak),
//! FOOTPRINT_WRAPPER (a profiler to run the child under),
//! FOOTPRINT_MALLOC_ARENA_MAX (1) and FOOTPRINT_MALLOC_MMAP_THRESHOLD
//! (131072), as the deploy shapes set them ("" for glibc's default), and
//! FOOTPRINT_BIN (the binary to run; by default the one this bench was
//! built with, which `cargo bench` builds with the dev-dependencies'
//! features, so its function names differ from the deployed build's and
//! `deploy/text-order.txt` finds only part of them: for the deployed layout,
//! `cargo build --release` and name a copy of `target/release/driftwatch`
//! here, a copy because `cargo bench` puts its own build there). The driver
//! scrapes `/metrics` every FOOTPRINT_SCRAPE_SECS (15) as Prometheus would.
//! Without `--bench` (as `cargo test --all-targets` runs it) it is a
//! 3-second smoke run. Results go to BENCHMARKS.md; nothing is asserted.

use std::net::SocketAddr;
use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use rust_decimal::Decimal;
use tokio::sync::watch;

const OWNER: &str = "0xFCAd0B19bB29D4674531d6f115237E16AfCE377c";
const SUB: &str = "0xfcad0b19bb29d4674531d6f115237e16afce377c64656661756c740000000000";
const PACIFICA_ACCOUNT: &str = "9C6hybhQ6Aycep9jaUnP6uL9ZYvDjUp1aSkFWPUFJtpj";
const BINANCE_KEY: &str = "dbefbc809e3e83c283a984c3a1459732ea7db1360ca80c5c2c8867408d28cc83";
const BINANCE_SECRET: &str = "2b5eb11e18796d12d88f13dc27dbbd02c2cc51ff7059765ed9821957d82bb4d9";

fn env_or<T: std::str::FromStr>(name: &str, default: T) -> T {
    std::env::var(name).ok().and_then(|v| v.parse().ok()).unwrap_or(default)
}

/// Kernel page size and clock ticks, for /proc arithmetic.
fn clk_tck() -> f64 {
    // sysconf(_SC_CLK_TCK) is 100 on every Linux this runs on; read it from getconf when present.
    Command::new("getconf")
        .arg("CLK_TCK")
        .output()
        .ok()
        .and_then(|o| String::from_utf8(o.stdout).ok())
        .and_then(|s| s.trim().parse().ok())
        .unwrap_or(100.0)
}

fn status_kib(pid: u32, field: &str) -> Option<u64> {
    let text = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    text.lines()
        .find(|l| l.starts_with(field))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|v| v.parse().ok())
}

/// utime + stime, in clock ticks.
fn cpu_ticks(pid: u32) -> Option<u64> {
    let text = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // Fields after the parenthesised command name; utime and stime are 14 and 15.
    let rest = &text[text.rfind(')')? + 2..];
    let f: Vec<&str> = rest.split_whitespace().collect();
    Some(f.get(11)?.parse::<u64>().ok()? + f.get(12)?.parse::<u64>().ok()?)
}

/// The means of the samples `(seconds, value)` taken in the first and in the
/// last `window` seconds of a run of `elapsed` seconds (NaN where none was).
fn first_and_last(samples: &[(f64, f64)], window: f64, elapsed: f64) -> (f64, f64) {
    let mean = |keep: &dyn Fn(f64) -> bool| {
        let v: Vec<f64> = samples.iter().filter(|(t, _)| keep(*t)).map(|s| s.1).collect();
        if v.is_empty() {
            f64::NAN
        } else {
            v.iter().sum::<f64>() / v.len() as f64
        }
    };
    (mean(&|t| t <= window), mean(&|t| t >= elapsed - window))
}

fn free_port() -> SocketAddr {
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    l.local_addr().unwrap()
}

/// The sum of the series of family `name` in a Prometheus text page whose
/// labels contain `labels` ("" for every series).
fn family_sum(page: &str, name: &str, labels: &str) -> Option<f64> {
    let mut found = None;
    for line in page.lines() {
        let Some(rest) = line.strip_prefix(name) else { continue };
        if !(rest.starts_with(' ') || rest.starts_with('{')) || !rest.contains(labels) {
            continue;
        }
        let value: f64 = rest.rsplit(' ').next()?.parse().ok()?;
        *found.get_or_insert(0.0) += value;
    }
    found
}

/// What driftwatch's own `/metrics` says: the operator's view of the run.
#[derive(Clone, Copy, Default)]
struct Said {
    cpu_seconds: f64,
    resident_bytes: f64,
    frames: f64,
    /// Sources trusted (`driftwatch_source_up` 1), of three.
    sources_up: f64,
}

async fn said(base_url: &str) -> Option<Said> {
    let page = get(&format!("{base_url}/metrics")).await?;
    Some(Said {
        cpu_seconds: family_sum(&page, "process_cpu_seconds_total", "")?,
        resident_bytes: family_sum(&page, "process_resident_memory_bytes", "")?,
        frames: family_sum(&page, "driftwatch_ws_frames_total", "outcome=\"applied\"").unwrap_or(0.0),
        sources_up: family_sum(&page, "driftwatch_source_up", "")?,
    })
}

async fn get(url: &str) -> Option<String> {
    let r = reqwest::get(url).await.ok()?;
    if !r.status().is_success() {
        return None;
    }
    r.text().await.ok()
}

enum Venue {
    Nado(driftwatch::venue::nado::sim::NadoSim),
    Pacifica(driftwatch::venue::pacifica::sim::Sim),
    Hyperliquid(driftwatch::venue::hyperliquid::sim::HyperliquidSim),
    Binance(driftwatch::venue::binance::sim::BinanceSim),
}

impl Venue {
    fn symbol(&self, i: usize) -> String {
        match self {
            Venue::Nado(_) => format!("P{i}-PERP"),
            Venue::Pacifica(_) => format!("S{i}"),
            Venue::Hyperliquid(_) => format!("C{i}"),
            Venue::Binance(_) => format!("P{i}USDT"),
        }
    }

    fn set(&self, i: usize, amount: Decimal) {
        let symbol = self.symbol(i);
        match self {
            Venue::Nado(s) => s.set_position(SUB, &symbol, &amount.to_string()),
            Venue::Pacifica(s) => s.open(PACIFICA_ACCOUNT, &symbol, "bid", &amount.to_string(), "100"),
            Venue::Hyperliquid(s) => s.open(OWNER.parse().expect("an address"), &symbol, amount),
            Venue::Binance(s) => s.set_position(BINANCE_KEY, &symbol, "BOTH", amount),
        }
    }
}

struct Outcome {
    venue: &'static str,
    ready_ms: f64,
    watching_ms: f64,
    rss_first_min_kib: f64,
    rss_last_min_kib: f64,
    peak_kib: u64,
    /// At the end: anonymous memory (heap, stacks) and file-backed (the mapped binary).
    anon_kib: u64,
    file_kib: u64,
    threads: u64,
    cpu_share: f64,
    /// The same run as driftwatch's `/metrics` told it: CPU as a share of a
    /// core (in `cpu_seconds`), resident memory at the end, frames applied
    /// during the event phase, sources up at the end.
    said: Said,
    /// `process_resident_memory_bytes` averaged over the first and the last minute's scrapes.
    said_rss_first_last: (f64, f64),
    events: u64,
    secs: f64,
}

async fn measure(venue_name: &'static str, symbols: usize, rate: u32, secs: u64, dir: &Path) -> Outcome {
    driftwatch::app::install_crypto();
    let (_stop, rx) = watch::channel(false);
    let any: SocketAddr = "127.0.0.1:0".parse().unwrap();
    let (venue, rest_url, ws_url, account) = match venue_name {
        "nado" => {
            let cfg = driftwatch::venue::nado::sim::SimConfig {
                extra_products: symbols as u32,
                ..Default::default()
            };
            let (sim, addrs) = driftwatch::venue::nado::sim::NadoSim::start(cfg, any, rx)
                .await
                .unwrap();
            let account = format!("    venue: nado\n    address: \"{OWNER}\"\n");
            (Venue::Nado(sim), addrs.rest_url(), addrs.ws_url(), account)
        }
        "hyperliquid" => {
            use driftwatch::venue::hyperliquid::sim::HyperliquidSim;
            let network = driftwatch::venue::hyperliquid::sign::Network::Mainnet;
            let (sim, rest) = HyperliquidSim::start(network, any, rx.clone()).await.unwrap();
            let ws = sim.start_ws(any, rx).await.unwrap();
            sim.list((0..symbols).map(|i| (format!("C{i}"), 2)));
            let account = format!("    venue: hyperliquid\n    address: \"{OWNER}\"\n");
            (
                Venue::Hyperliquid(sim),
                format!("http://{rest}"),
                format!("ws://{ws}"),
                account,
            )
        }
        "binance" => {
            use driftwatch::venue::binance::sim::BinanceSim;
            let (sim, rest) = BinanceSim::start(any, rx.clone()).await.unwrap();
            let ws = sim.start_ws(any, rx).await.unwrap();
            sim.add_account(BINANCE_KEY, BINANCE_SECRET, false);
            sim.list((0..symbols).map(|i| format!("P{i}USDT")));
            let secret = dir.join("binance-secret");
            std::fs::write(&secret, BINANCE_SECRET).unwrap();
            let account = format!(
                "    venue: binance\n    address: {BINANCE_KEY}\n    api_secret: {{file: \"{}\"}}\n",
                secret.display()
            );
            (
                Venue::Binance(sim),
                format!("http://{rest}"),
                format!("ws://{ws}/private"),
                account,
            )
        }
        _ => {
            let (sim, addrs) = driftwatch::venue::pacifica::sim::Sim::start(Default::default(), any, any, rx)
                .await
                .unwrap();
            let account = format!("    venue: pacifica\n    address: {PACIFICA_ACCOUNT}\n");
            (Venue::Pacifica(sim), addrs.rest_url(), addrs.ws_url(), account)
        }
    };
    let base = Decimal::ONE;
    for i in 0..symbols {
        venue.set(i, base);
    }
    // The bot's database agrees with the exchange at the start.
    let db_path = dir.join(format!("{venue_name}.db"));
    let _ = std::fs::remove_file(&db_path);
    driftwatch::demo::seed_sqlite(&db_path).await.unwrap();
    let db_url = format!("sqlite://{}", db_path.display());
    let pool = sqlx::SqlitePool::connect(&db_url).await.unwrap();
    sqlx::query("DELETE FROM positions").execute(&pool).await.unwrap();
    let mut tx = pool.begin().await.unwrap();
    for i in 0..symbols {
        sqlx::query("INSERT INTO positions (strategy_id, symbol, side, amount, entry_price, realized_pnl, opened_at, updated_at) VALUES ('load', ?, 'bid', 1, 100, 0, 'x', 'x')")
            .bind(venue.symbol(i))
            .execute(&mut *tx)
            .await
            .unwrap();
    }
    tx.commit().await.unwrap();
    pool.close().await;
    let rules = dir.join("rules");
    std::fs::create_dir_all(&rules).unwrap();
    for f in ["default.yaml", "delta-neutral.yaml"] {
        std::fs::copy(
            Path::new(env!("CARGO_MANIFEST_DIR")).join("rules").join(f),
            rules.join(f),
        )
        .unwrap();
    }
    let listen = free_port();
    // FOOTPRINT_CORRECT=apply makes it the safety soak: corrections and rules live.
    let correct: String = env_or("FOOTPRINT_CORRECT", "off".to_owned());
    let config = format!(
        "listen: {listen}\nlog: {{format: json, level: warn}}\nbot_db:\n  url: {{value: \"{db_url}\"}}\njournal:\n  url: {{value: \"sqlite://{}\"}}\naccounts:\n  - name: load\n{account}    rest_url: \"{rest_url}\"\n    ws_url: \"{ws_url}\"\n    mapping:\n      preset: nexwave\n      filter: {{strategy_id: load}}\n    correct: {{mode: {correct}, confirmations: 2}}\nrules: {{dir: \"{}\"}}\n",
        dir.join(format!("{venue_name}-journal.db")).display(),
        rules.display()
    );
    let config_path = dir.join(format!("{venue_name}.yaml"));
    std::fs::write(&config_path, config).unwrap();
    let log = std::fs::File::create(dir.join(format!("{venue_name}.log"))).unwrap();

    let spawned = Instant::now();
    // FOOTPRINT_WRAPPER runs the child under a profiler (e.g. "valgrind --tool=massif").
    let wrapper = std::env::var("FOOTPRINT_WRAPPER").unwrap_or_default();
    let mut argv: Vec<String> = wrapper.split_whitespace().map(str::to_owned).collect();
    argv.push(binary());
    // As deployed: the container image and the systemd unit set one malloc
    // arena and a fixed threshold for mapping large blocks.
    // FOOTPRINT_MALLOC_ARENA_MAX and FOOTPRINT_MALLOC_MMAP_THRESHOLD override
    // them ("" leaves glibc's default).
    let mut command = Command::new(&argv[0]);
    for (knob, variable, deployed) in [
        ("FOOTPRINT_MALLOC_ARENA_MAX", "MALLOC_ARENA_MAX", "1"),
        ("FOOTPRINT_MALLOC_MMAP_THRESHOLD", "MALLOC_MMAP_THRESHOLD_", "131072"),
    ] {
        let value: String = env_or(knob, deployed.to_owned());
        if value.is_empty() {
            command.env_remove(variable);
        } else {
            command.env(variable, &value);
        }
    }
    let mut child: Child = command
        .args(&argv[1..])
        .args(["run", "--config"])
        .arg(&config_path)
        .stdout(Stdio::null())
        .stderr(log)
        // Its own process group, so a wrapper's child is stopped with it.
        .process_group(0)
        .spawn()
        .expect("driftwatch runs");
    let pid = child.id();
    let base_url = format!("http://{listen}");
    let mut ready_ms = f64::NAN;
    let mut watching_ms = f64::NAN;
    let deadline = Instant::now() + Duration::from_secs(60);
    let mut last_scrape = Instant::now() - Duration::from_secs(1);
    while Instant::now() < deadline {
        if ready_ms.is_nan() && get(&format!("{base_url}/readyz")).await.is_some() {
            ready_ms = spawned.elapsed().as_secs_f64() * 1e3;
        }
        // /metrics at most every 50 ms: a scrape is not free at 1,000 symbols.
        if !ready_ms.is_nan() && last_scrape.elapsed() >= Duration::from_millis(50) {
            last_scrape = Instant::now();
            if let Some(m) = get(&format!("{base_url}/metrics")).await {
                let up: Vec<&str> = m.lines().filter(|l| l.starts_with("driftwatch_source_up{")).collect();
                if up.len() == 3 && up.iter().all(|l| l.ends_with(" 1")) {
                    watching_ms = spawned.elapsed().as_secs_f64() * 1e3;
                    break;
                }
            }
        }
        tokio::time::sleep(Duration::from_millis(2)).await;
    }

    // The event phase: one position change every 1/rate s, round robin,
    // each symbol moving one lot away from the database and back.
    let period = Duration::from_secs_f64(1.0 / rate as f64);
    let before = said(&base_url)
        .await
        .expect("driftwatch serves /metrics with process_* and driftwatch_*");
    let mut said_rss: Vec<(f64, f64)> = Vec::new();
    let started = Instant::now();
    let ticks0 = cpu_ticks(pid).unwrap_or(0);
    let mut samples: Vec<(f64, u64)> = Vec::new();
    let mut next_sample = started;
    let scrape_every = Duration::from_secs(env_or("FOOTPRINT_SCRAPE_SECS", 15));
    let mut next_scrape = started;
    let mut next = tokio::time::Instant::now();
    let mut n: u64 = 0;
    let step = Decimal::new(1, 2);
    while started.elapsed() < Duration::from_secs(secs) {
        next += period;
        tokio::time::sleep_until(next).await;
        let i = (n as usize) % symbols;
        let away = (n as usize / symbols) % 2 == 0;
        venue.set(i, if away { base + step } else { base });
        n += 1;
        // Scraped as Prometheus would (every FOOTPRINT_SCRAPE_SECS, 15 by default).
        if Instant::now() >= next_scrape {
            if let Some(now) = said(&base_url).await {
                said_rss.push((started.elapsed().as_secs_f64(), now.resident_bytes));
            }
            next_scrape += scrape_every;
        }
        if Instant::now() >= next_sample {
            if let Some(kib) = status_kib(pid, "VmRSS:") {
                samples.push((started.elapsed().as_secs_f64(), kib));
            }
            next_sample += Duration::from_secs(5);
        }
    }
    let elapsed = started.elapsed().as_secs_f64();
    let ticks = cpu_ticks(pid).unwrap_or(0).saturating_sub(ticks0);
    let after = said(&base_url).await.expect("driftwatch still serves /metrics");
    said_rss.push((elapsed, after.resident_bytes));
    // The last changes may still be on their way: wait (a few seconds at most)
    // until driftwatch has applied a frame for each, for the path check below.
    let mut frames = after.frames - before.frames;
    let settle_by = Instant::now() + Duration::from_secs(10);
    while frames < n as f64 && Instant::now() < settle_by {
        tokio::time::sleep(Duration::from_millis(50)).await;
        if let Some(now) = said(&base_url).await {
            frames = now.frames - before.frames;
        }
    }
    let peak_kib = status_kib(pid, "VmHWM:").unwrap_or(0);
    let anon_kib = status_kib(pid, "RssAnon:").unwrap_or(0);
    let file_kib = status_kib(pid, "RssFile:").unwrap_or(0);
    let threads = status_kib(pid, "Threads:").unwrap_or(0);
    // SIGTERM first (a profiler wrapping the child writes its report on the
    // way out), to the child's process group: a wrapper's own child too.
    let group = format!("-{pid}");
    let kill = |signal: &str| {
        Command::new("kill")
            .args([signal, "--", &group])
            .stderr(Stdio::null())
            .status()
    };
    let _ = kill("-TERM");
    let stop_by = Instant::now() + Duration::from_secs(20);
    while Instant::now() < stop_by && matches!(child.try_wait(), Ok(None)) {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    // Still there after 20 s: killed. Only while the child is unreaped, so
    // its pid (the group's id) cannot have been given to another process.
    if matches!(child.try_wait(), Ok(None)) {
        let _ = kill("-KILL");
    }
    let _ = child.wait();
    let window = 60.0f64.min(elapsed / 3.0);
    let (first, last) = first_and_last(
        &samples.iter().map(|&(t, kib)| (t, kib as f64)).collect::<Vec<_>>(),
        window,
        elapsed,
    );
    let (said_first, said_last) = first_and_last(&said_rss, window, elapsed);
    let csv: String = samples.iter().map(|(t, k)| format!("{t:.1},{k}\n")).collect();
    let _ = std::fs::write(
        Path::new(env!("CARGO_MANIFEST_DIR")).join(format!("target/footprint-{venue_name}.csv")),
        format!("seconds,rss_kib\n{csv}"),
    );
    Outcome {
        venue: venue_name,
        ready_ms,
        watching_ms,
        rss_first_min_kib: first,
        rss_last_min_kib: last,
        peak_kib,
        anon_kib,
        file_kib,
        threads,
        cpu_share: ticks as f64 / clk_tck() / elapsed,
        said: Said {
            cpu_seconds: (after.cpu_seconds - before.cpu_seconds) / elapsed,
            resident_bytes: after.resident_bytes,
            frames,
            sources_up: after.sources_up,
        },
        said_rss_first_last: (said_first, said_last),
        events: n,
        secs: elapsed,
    }
}

/// The `driftwatch` binary to run: FOOTPRINT_BIN, else this build's.
fn binary() -> String {
    std::env::var("FOOTPRINT_BIN")
        .ok()
        .filter(|b| !b.is_empty())
        .unwrap_or_else(|| env!("CARGO_BIN_EXE_driftwatch").to_owned())
}

/// How far the binary's code follows `deploy/text-order.txt`: the ordered
/// functions it holds, their size, and the span of code they lie in (about
/// their own size when the link used the file; most of the code when not).
/// `None` without `nm`.
fn layout(binary: &str) -> Option<String> {
    let order = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/deploy/text-order.txt")).ok()?;
    // The first line is a comment (the linker skips `#` lines too).
    let wanted: std::collections::HashSet<&str> =
        order.lines().filter(|l| !l.is_empty() && !l.starts_with('#')).collect();
    let out = Command::new("nm")
        .args(["-S", "--defined-only"])
        .arg(binary)
        .output()
        .ok()?;
    let symbols = String::from_utf8(out.stdout).ok()?;
    let (mut found, mut size) = (0usize, 0u64);
    let (mut lo, mut hi, mut code_lo, mut code_hi) = (u64::MAX, 0, u64::MAX, 0);
    for line in symbols.lines() {
        let f: Vec<&str> = line.split_whitespace().collect();
        let [addr, len, kind, name] = f[..] else { continue };
        if !matches!(kind, "t" | "T" | "w" | "W") {
            continue;
        }
        let (Ok(addr), Ok(len)) = (u64::from_str_radix(addr, 16), u64::from_str_radix(len, 16)) else {
            continue;
        };
        (code_lo, code_hi) = (code_lo.min(addr), code_hi.max(addr + len));
        if wanted.contains(name) {
            (found, size) = (found + 1, size + len);
            (lo, hi) = (lo.min(addr), hi.max(addr + len));
        }
    }
    let mib = |b: u64| b as f64 / 1048576.0;
    Some(format!(
        "code layout: {found} of the {} functions in deploy/text-order.txt, {:.1} MiB, lie within {:.1} MiB of the binary's {:.1} MiB of code",
        wanted.len(),
        mib(size),
        mib(hi.saturating_sub(lo)),
        mib(code_hi.saturating_sub(code_lo)),
    ))
}

fn main() {
    let measuring = std::env::args().any(|a| a == "--bench");
    let secs = if measuring { env_or("FOOTPRINT_SECS", 600) } else { 3 };
    let symbols: usize = env_or("FOOTPRINT_SYMBOLS", if measuring { 1000 } else { 50 });
    let rate: u32 = env_or("FOOTPRINT_RATE", 50);
    let venues: String = env_or("FOOTPRINT_VENUES", "nado,pacifica,hyperliquid,binance".to_owned());
    let dir = std::env::temp_dir().join(format!("driftwatch-footprint-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    println!("footprint: `driftwatch run` watching {symbols} symbols, {rate} events/s, {secs} s per venue");
    if let Some(l) = layout(&binary()) {
        println!("{l}");
    }
    if std::env::var_os("FOOTPRINT_BIN").is_none() {
        println!("(the bench's own build of driftwatch: for the deployed build's layout, `cargo build --release`, copy target/release/driftwatch aside and name it in FOOTPRINT_BIN)");
    }
    println!("  venue        start->ready  start->watching  RSS 1st min  RSS last min  peak RSS   CPU (one core)  events          at the end: anon + file, threads");
    for v in venues.split(',') {
        let name: &'static str = match v.trim() {
            "nado" => "nado",
            "pacifica" => "pacifica",
            "hyperliquid" => "hyperliquid",
            "binance" => "binance",
            other => panic!("FOOTPRINT_VENUES: unknown venue {other:?}"),
        };
        let o = rt.block_on(measure(name, symbols, rate, secs, &dir));
        println!(
            "  {:<11}  {:>9.1} ms  {:>12.1} ms  {:>8.1} MiB  {:>9.1} MiB  {:>5.1} MiB  {:>12.2} %  {} in {:.0} s  {:.1} + {:.1} MiB, {}",
            o.venue,
            o.ready_ms,
            o.watching_ms,
            o.rss_first_min_kib / 1024.0,
            o.rss_last_min_kib / 1024.0,
            o.peak_kib as f64 / 1024.0,
            o.cpu_share * 100.0,
            o.events,
            o.secs,
            o.anon_kib as f64 / 1024.0,
            o.file_kib as f64 / 1024.0,
            o.threads
        );
        let mib = |b: f64| b / (1024.0 * 1024.0);
        println!(
            "  {:<11}  as /metrics tells it: CPU {:.2} % (process_cpu_seconds_total), RSS {:.1} MiB 1st min, {:.1} MiB last min, {:.1} MiB at the end (process_resident_memory_bytes), {} frames applied (driftwatch_ws_frames_total), {} of 3 sources up at the end",
            "",
            o.said.cpu_seconds * 100.0,
            mib(o.said_rss_first_last.0),
            mib(o.said_rss_first_last.1),
            mib(o.said.resident_bytes),
            o.said.frames,
            o.said.sources_up
        );
        // The figures are worth something only on the path production runs:
        // every source trusted at the end, and the venue's changes reaching
        // driftwatch as applied frames.
        assert_eq!(
            o.said.sources_up, 3.0,
            "{}: a source was untrusted at the end of the run",
            o.venue
        );
        assert!(
            o.said.frames >= o.events as f64 * 0.9,
            "{}: {} frames applied for {} position changes",
            o.venue,
            o.said.frames,
            o.events
        );
    }
    let _ = std::fs::remove_dir_all(&dir);
}
