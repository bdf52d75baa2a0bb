//! The binary's commands and exit codes: `check` on a table of bad configs
//! against golden files, `run` on a bad config, `snapshot` against the
//! simulator.

mod common;

use std::path::Path;
use std::process::Command;
use std::time::Duration;

use common::*;

fn driftwatch() -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_driftwatch"));
    c.current_dir(env!("CARGO_MANIFEST_DIR"));
    c.env_remove("RUST_LOG");
    c
}

/// Runs `driftwatch` with `args` (a demo, for a while) to a successful end:
/// its stdout and stderr.
fn demo(args: &[&str]) -> (String, String) {
    let out = driftwatch().args(args).output().unwrap();
    let (stdout, stderr) = (
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    );
    assert_eq!(out.status.code(), Some(0), "{stdout}\n{stderr}");
    (stdout, stderr)
}

#[test]
fn check_reports_every_bad_config_exactly() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("testdata/config");
    let mut seen = 0;
    for entry in std::fs::read_dir(&dir).unwrap() {
        let path = entry.unwrap().path();
        let name = path.file_name().unwrap().to_string_lossy().to_string();
        if !(name.starts_with("invalid-") && name.ends_with(".yaml")) {
            continue;
        }
        seen += 1;
        let out = driftwatch()
            .args(["check", "--config", &format!("testdata/config/{name}")])
            .output()
            .unwrap();
        let expected = std::fs::read_to_string(path.with_extension("expected")).unwrap();
        assert_eq!(String::from_utf8_lossy(&out.stderr), expected, "{name}");
        assert_eq!(out.status.code(), Some(1), "{name}");
    }
    assert!(seen >= 5);
}

#[test]
fn check_exit_codes() {
    let ok = driftwatch()
        .args(["check", "--config", "testdata/config/valid.yaml"])
        .output()
        .unwrap();
    assert_eq!(ok.status.code(), Some(0), "{}", String::from_utf8_lossy(&ok.stderr));
    let missing = driftwatch()
        .args(["check", "--config", "testdata/config/nope.yaml"])
        .output()
        .unwrap();
    assert_eq!(missing.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&missing.stderr).starts_with("testdata/config/nope.yaml: cannot read:"));
}

#[test]
fn run_exits_78_on_a_bad_config() {
    let out = driftwatch()
        .args(["run", "--config", "testdata/config/invalid-unknown-field.yaml"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(78));
    assert!(String::from_utf8_lossy(&out.stderr).contains("unknown field `treshold`"));
}

#[test]
fn the_shipped_example_config_is_valid() {
    let out = driftwatch()
        .args(["check", "--config", "deploy/driftwatch.yaml"])
        .env("BOT_DB_URL", "postgres://driftwatch@127.0.0.1:5432/nexwave")
        .env("SMTP_PASSWORD", "example")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stderr));
}

#[tokio::test]
async fn snapshot_prints_the_three_way_table_once() {
    let sim = start_sim(Default::default()).await;
    sim.sim.open(ACCOUNT, "ZEC", "ask", "0.1", "649.2");
    let dir = TempDir::new("snapshot");
    let db = sqlite_db(&dir, &[("ZEC", "ask", 0.1), ("WLFI", "bid", 601.0)]).await;
    let config = dir.path().join("c.yaml");
    std::fs::write(&config, fast_config(&sim.addrs, &db, NEXWAVE_MAPPING)).unwrap();
    let out = tokio::task::spawn_blocking(move || {
        driftwatch()
            .args(["snapshot", "--config", config.to_str().unwrap(), "--timeout", "10s"])
            .output()
            .unwrap()
    })
    .await
    .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "drift present: exit 1\n{stdout}");
    let lines: Vec<&str> = stdout.lines().collect();
    assert!(lines[0].starts_with("ACCOUNT"), "{stdout}");
    assert!(
        stdout
            .lines()
            .any(|l| l.contains("WLFI") && l.contains("601") && l.contains("db_stale")),
        "{stdout}"
    );
    assert!(
        stdout
            .lines()
            .any(|l| l.contains("ZEC") && l.contains("-0.1") && l.contains("in_sync")),
        "{stdout}"
    );
    assert!(
        stdout.contains("ws trusted") && stdout.contains("rest trusted") && stdout.contains("db trusted"),
        "{stdout}"
    );

    // In sync: exit 0.
    let db = sqlite_db(&dir, &[("ZEC", "ask", 0.1)]).await;
    std::fs::write(dir.path().join("c.yaml"), fast_config(&sim.addrs, &db, NEXWAVE_MAPPING)).unwrap();
    let config = dir.path().join("c.yaml");
    let out = tokio::task::spawn_blocking(move || {
        driftwatch()
            .args(["snapshot", "--config", config.to_str().unwrap(), "--timeout", "10s"])
            .output()
            .unwrap()
    })
    .await
    .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stdout));
}

/// Issue [bots] part 6: the incident against a Freqtrade database: the 15
/// stale trades are closed the way Freqtrade closes a trade found closed on
/// the exchange (none deleted), and the ZEC short the bot's long trade does
/// not explain is the rules' matter.
#[test]
fn demo_freqtrade_closes_the_stale_trades_freqtrades_way() {
    let (stdout, _) = demo(&["demo", "--bot", "freqtrade", "--listen", "127.0.0.1:0", "--for", "12s"]);
    assert!(stdout.contains("Freqtrade's trades table, 16 open trades"), "{stdout}");
    let tables: Vec<&str> = stdout.split("ACCOUNT ").collect();
    assert!(tables.iter().any(|t| t.matches("db_stale").count() == 15), "{stdout}");
    assert!(tables.iter().any(|t| t.contains("closed")), "{stdout}");
    let closed = stdout
        .rsplit("Freqtrade's trades closed the way Freqtrade closes a trade found closed on the exchange")
        .next()
        .unwrap();
    assert!(closed.contains("none deleted"), "{closed}");
    let trades: Vec<&str> = closed.lines().filter(|l| l.contains("sold_on_exchange")).collect();
    assert!(trades.len() >= 15, "{closed}");
    assert!(
        trades
            .iter()
            .any(|l| l.contains("VIRTUAL/USDC:USDC") && l.contains("close_rate 1.6078")),
        "{closed}"
    );
}

#[test]
fn demo_shows_the_incident_then_corrects_it() {
    let (stdout, stderr) = demo(&["demo", "--listen", "127.0.0.1:0", "--for", "10s"]);
    assert!(stdout.contains("metrics:            http://127.0.0.1:"), "{stdout}");
    // First the drift: 15 ghost rows and the ZEC row on the wrong side...
    let tables: Vec<&str> = stdout.split("ACCOUNT ").collect();
    assert!(
        tables.iter().any(|t| t.matches("db_stale").count() == 15
            && t.lines().any(|l| l.contains("ZEC") && l.contains("db_mismatch"))),
        "{stdout}"
    );
    // ...then the rule alerts, the 15 ghosts go in one cycle (ZEC's row is
    // adopted on its own: the demo sets `adopt: true`), and only the real
    // ZEC short is left.
    let last = tables.last().unwrap();
    assert!(
        last.contains("last correction cycle: applied: 0 updated, 0 created, 15 deleted")
            || last.contains("last correction cycle: applied: 1 updated, 0 created, 15 deleted"),
        "{last}"
    );
    // The order (alert, then correction) is the planner's: src/plan/tests.rs.
    assert!(stderr.contains("db-stale-row"), "the stale-row rule fired: {stderr}");
    // Not a terminal: no colour escapes anywhere, no debug formatting.
    assert!(
        !stdout.contains('\u{1b}') && !stderr.contains('\u{1b}'),
        "escape codes when not on a terminal: {stderr}"
    );
    assert!(!stderr.contains("Some("), "debug formatting in the logs: {stderr}");
    let journal = stdout.rsplit("The action journal:").next().unwrap();
    assert_eq!(
        journal
            .lines()
            .filter(|l| l.contains("deleted") && l.contains("applied"))
            .count(),
        15,
        "{journal}"
    );
    assert!(
        last.lines()
            .any(|l| l.contains("ZEC") && l.contains("-0.1") && l.contains("in_sync")),
        "{last}"
    );
    assert_eq!(last.matches("db_stale").count(), 0, "{last}");
}

#[tokio::test]
async fn history_shows_the_journal() {
    use driftwatch::domain::Timestamp;
    use driftwatch::journal::{entry_id, Entry, Journal};
    let dir = TempDir::new("history");
    let journal_url = format!("sqlite://{}", dir.path().join("journal.db").display());
    let j = Journal::open(&journal_url).await.unwrap();
    let now = driftwatch::clock::now();
    let e = |i: usize, symbol: &str, op: &str, status: &str, at: i64| Entry {
        entry_id: entry_id("c1", i),
        correlation_id: "c1".into(),
        created_at: Timestamp(at),
        kind: driftwatch::journal::Kind::DbCorrection,
        venue: "pacifica".into(),
        account: "main".into(),
        symbol: symbol.into(),
        op: op.into(),
        status: status.parse().unwrap(),
        detail: "{}".into(),
        finished_at: Some(Timestamp(at)),
    };
    j.record(&[
        e(0, "WLFI", "deleted", "applied", now.0 - 1000),
        e(1, "ZEC", "updated", "applied", now.0 - 1000),
        e(2, "OLD", "deleted", "applied", now.0 - 3 * 86_400_000),
    ])
    .await
    .unwrap();
    j.close().await;
    let config = dir.path().join("c.yaml");
    std::fs::write(
        &config,
        format!(
            "bot_db:\n  url: {{value: \"sqlite:///nonexistent.db\"}}\njournal:\n  url: {{value: \"{journal_url}\"}}\naccounts:\n  - name: main\n    venue: pacifica\n    address: {ACCOUNT}\n    mapping: {{preset: nexwave}}\n"
        ),
    )
    .unwrap();
    let cfg = config.to_str().unwrap().to_owned();
    let out = tokio::task::spawn_blocking(move || driftwatch().args(["history", "--config", &cfg]).output().unwrap())
        .await
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(stdout.starts_with("AT (UTC)"), "{stdout}");
    assert!(
        stdout.contains("WLFI") && stdout.contains("ZEC") && !stdout.contains("OLD"),
        "default is the last 24h: {stdout}"
    );
    let cfg = config.to_str().unwrap().to_owned();
    let out = tokio::task::spawn_blocking(move || {
        driftwatch()
            .args(["history", "--config", &cfg, "--since", "7d", "--symbol", "OLD"])
            .output()
            .unwrap()
    })
    .await
    .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.contains("OLD") && !stdout.contains("WLFI"), "{stdout}");
}

#[test]
fn demo_sol_closes_the_residual_reduce_only_and_journals_it() {
    let (stdout, _) = demo(&["demo", "--scenario", "sol", "--listen", "127.0.0.1:0", "--for", "12s"]);
    assert!(stdout.contains("db_missing"), "the residual is seen first: {stdout}");
    assert!(
        stdout.contains("last emergency close: SOL verified: closed ask 0.5 SOL reduce-only"),
        "{stdout}"
    );
    let journal = stdout.rsplit("The action journal:").next().unwrap();
    assert!(
        journal.lines().any(|l| l.contains("emergency_close")
            && l.contains("SOL")
            && l.contains("reduce_to_bot")
            && l.contains("verified")),
        "{journal}"
    );
}

/// Runs `driftwatch demo --venue VENUE` (the delta-neutral pair whose SOL
/// leg grows) and checks that SOL was trimmed back to the database's size
/// by one reduce-only close, verified and journaled once.
fn demo_trims_the_sol_leg(venue: &[&str], banner: &str, sol: &str) {
    let mut args = vec!["demo", "--listen", "127.0.0.1:0", "--for", "20s", "--venue"];
    args.extend(venue);
    let (stdout, _) = demo(&args);
    assert!(stdout.contains(banner), "{stdout}");
    assert!(
        stdout.contains(&format!(
            "last emergency close: {sol} verified: closed bid 2.86 {sol} reduce-only"
        )),
        "{stdout}"
    );
    let last = stdout.rsplit("ACCOUNT").next().unwrap();
    assert!(
        last.lines()
            .any(|l| l.contains(&format!(" {sol} ")) && l.contains("-10.71") && l.contains("in_sync")),
        "{last}"
    );
    let journal = stdout.rsplit("The action journal:").next().unwrap();
    assert_eq!(
        journal
            .lines()
            .filter(|l| l.contains("emergency_close") && l.contains("verified"))
            .count(),
        1,
        "{journal}"
    );
}

#[test]
fn demo_nado_trims_the_sol_accumulation_on_the_delta_neutral_pair() {
    demo_trims_the_sol_leg(&["nado"], "simulated Nado", "SOL-PERP");
}

/// Issue [hyperliquid]: the SOL residual replayed on the simulated
/// Hyperliquid: the pair's net exposure trims SOL back to the database's
/// size with one reduce-only IOC, verified, journaled once.
#[test]
fn demo_hyperliquid_trims_the_sol_residual_reduce_only_and_verifies_it() {
    demo_trims_the_sol_leg(&["hyperliquid"], "simulated Hyperliquid", "SOL");
}

/// Issue [binance]: the same residual on a simulated one-way Binance
/// account (`--scenario sol`): one reduce-only MARKET order, verified,
/// journaled once.
#[test]
fn demo_binance_sol_trims_the_residual_reduce_only_and_verifies_it() {
    demo_trims_the_sol_leg(&["binance", "--scenario", "sol"], "simulated Binance", "SOLUSDT");
}

/// Issue [binance] done-when: the 2025-11-10 incident on a hedge-mode
/// account. The 15 ghost rows are deleted in one cycle; the ZEC short leg
/// the bot never recorded is closed from its own side, verified and
/// journaled once, while the ZEC long leg its row stands for stays open.
#[test]
fn demo_binance_corrects_the_ghosts_and_closes_the_untracked_hedge_leg() {
    let (stdout, _) = demo(&["demo", "--venue", "binance", "--listen", "127.0.0.1:0", "--for", "20s"]);
    assert!(stdout.contains("hedge mode"), "{stdout}");
    // First the drift: both ZEC legs, the short one untracked.
    let tables: Vec<&str> = stdout.split("ACCOUNT ").collect();
    assert!(
        tables.iter().any(|t| t.matches("db_stale").count() == 15
            && t.lines()
                .any(|l| l.contains("ZECUSDT:short") && l.contains("db_missing"))),
        "{stdout}"
    );
    let last = tables.last().unwrap();
    assert!(
        last.contains("last correction cycle: applied: 0 updated, 0 created, 15 deleted"),
        "{last}"
    );
    assert!(
        last.contains("last emergency close: ZECUSDT:short verified: closed bid 0.1 ZECUSDT reduce-only"),
        "{last}"
    );
    let rows: Vec<&str> = last.lines().filter(|l| l.starts_with("binance/hedge  ")).collect();
    assert_eq!(rows.len(), 1, "{last}");
    assert!(
        rows[0].contains("ZECUSDT:long") && rows[0].contains("in_sync"),
        "{last}"
    );
    let journal = stdout.rsplit("The action journal:").next().unwrap();
    let closes: Vec<&str> = journal.lines().filter(|l| l.contains("emergency_close")).collect();
    assert_eq!(closes.len(), 1, "{journal}");
    assert!(closes[0].contains("verified"), "{journal}");
    assert_eq!(
        journal.lines().filter(|l| l.contains("db_correction")).count(),
        15,
        "{journal}"
    );
}

#[test]
fn rule_tests_exit_like_promtool() {
    let ok = driftwatch().args(["test", "rules/default_test.yaml"]).output().unwrap();
    let stdout = String::from_utf8_lossy(&ok.stdout);
    assert_eq!(ok.status.code(), Some(0), "{stdout}");
    assert!(stdout.trim_end().ends_with("9 passed, 0 failed"), "{stdout}");

    let dir = TempDir::new("ruletests");
    std::fs::copy("rules/default.yaml", dir.path().join("default.yaml")).unwrap();
    let failing = dir.path().join("f_test.yaml");
    std::fs::write(
        &failing,
        "rule_files: [default.yaml]\ntests:\n  - name: wrong expectation\n    steps:\n      - {at: 0s, exchange: {}, db: {BTC: \"1\"}}\n      - {at: 2m}\n    expect:\n      - {at: 2m, rule: db-stale-row, action: close_position, subject: BTC}\n",
    )
    .unwrap();
    let out = driftwatch().args(["test", failing.to_str().unwrap()]).output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "{stdout}");
    assert!(stdout.contains("FAIL  wrong expectation"), "{stdout}");
    assert!(
        stdout.contains("- expected at 120s: db-stale-row close_position BTC"),
        "{stdout}"
    );
    assert!(
        stdout.contains("+ got      at 120s: db-stale-row correct_db BTC"),
        "{stdout}"
    );

    let broken = dir.path().join("b_test.yaml");
    std::fs::write(&broken, "rule_files: [nope.yaml]\ntests: []\n").unwrap();
    let out = driftwatch().args(["test", broken.to_str().unwrap()]).output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("nope.yaml:1:1: cannot read"));
}

#[cfg(unix)]
#[test]
fn sighup_reloads_the_rules_and_a_bad_file_keeps_the_old_ones() {
    let dir = TempDir::new("sighup");
    let rules = dir.path().join("rules");
    std::fs::create_dir_all(&rules).unwrap();
    std::fs::copy("rules/default.yaml", rules.join("default.yaml")).unwrap();
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let config = dir.path().join("c.yaml");
    std::fs::write(
        &config,
        format!(
            "listen: 127.0.0.1:{port}\nbot_db:\n  url: {{value: \"sqlite://{}/bot.db?mode=rwc\"}}\njournal:\n  url: {{value: \"sqlite://{}/j.db\"}}\nrules: {{dir: rules, reload_interval: 1h}}\naccounts:\n  - name: main\n    venue: pacifica\n    address: {ACCOUNT}\n    rest_url: http://127.0.0.1:9/api/v1\n    ws_url: ws://127.0.0.1:9/ws\n    mapping: {{preset: nexwave}}\n    correct: {{mode: off}}\n",
            dir.path().display(),
            dir.path().display()
        ),
    )
    .unwrap();
    let mut child = driftwatch()
        .args(["run", "--config", config.to_str().unwrap()])
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let scrape = || -> String {
        use std::io::{Read, Write};
        let Ok(mut s) = std::net::TcpStream::connect(("127.0.0.1", port)) else {
            return String::new();
        };
        let _ = s.write_all(b"GET /metrics HTTP/1.0\r\n\r\n");
        let mut out = String::new();
        let _ = s.read_to_string(&mut out);
        out
    };
    let wait = |want: &str| {
        for _ in 0..100 {
            if scrape().contains(want) {
                return true;
            }
            std::thread::sleep(std::time::Duration::from_millis(100));
        }
        false
    };
    assert!(wait("driftwatch_rules_reload_total{result=\"failure\"} 0"));
    let hup = |pid: u32| {
        std::process::Command::new("kill")
            .args(["-HUP", &pid.to_string()])
            .status()
            .unwrap();
    };
    std::fs::write(rules.join("default.yaml"), "rules: [{id: Bad}]\n").unwrap();
    hup(child.id());
    assert!(
        wait("driftwatch_rules_reload_total{result=\"failure\"} 1"),
        "{}",
        scrape()
    );
    assert!(
        scrape().contains("driftwatch_rule_firing{rule=\"untracked-position\"}"),
        "old rules still loaded"
    );
    std::fs::copy("rules/default.yaml", rules.join("default.yaml")).unwrap();
    hup(child.id());
    assert!(
        wait("driftwatch_rules_reload_total{result=\"success\"} 1"),
        "{}",
        scrape()
    );
    let _ = child.kill();
    let _ = child.wait();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn healthcheck_exits_0_on_a_live_driftwatch_and_1_otherwise() {
    let sim = start_sim(Default::default()).await;
    let dir = TempDir::new("healthcheck");
    let db = sqlite_db(&dir, &[]).await;
    let app = start_app(&fast_config(&sim.addrs, &db, NEXWAVE_MAPPING), true).await;
    let url = format!("http://{}/healthz", app.http_addr.unwrap());
    let ok = driftwatch().args(["healthcheck", "--url", &url]).output().unwrap();
    assert_eq!(ok.status.code(), Some(0), "{}", String::from_utf8_lossy(&ok.stderr));
    app.shutdown_within(Duration::from_secs(2)).await;
    let down = driftwatch()
        .args([
            "healthcheck",
            "--url",
            &format!("http://127.0.0.1:{}/healthz", free_port()),
            "--timeout",
            "1s",
        ])
        .output()
        .unwrap();
    assert_eq!(down.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&down.stderr).starts_with("healthcheck: "));
}

/// Issue [operator] part 2: what the README quotes as the program's own
/// words (a backticked phrase that reads like a message: `Close disarmed`,
/// `Page.`) is what the program says, word for word.
#[test]
fn the_readmes_quoted_program_lines_are_the_programs() {
    fn sources(dir: &std::path::Path, out: &mut String) {
        for e in std::fs::read_dir(dir).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                sources(&p, out);
            } else if p.extension().is_some_and(|x| x == "rs") {
                out.push_str(&std::fs::read_to_string(&p).unwrap());
            }
        }
    }
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    let readme = std::fs::read_to_string(root.join("README.md")).unwrap();
    let mut src = String::new();
    sources(&root.join("src"), &mut src);
    let mut quoted = Vec::new();
    for (i, part) in readme.split('`').enumerate() {
        // Odd parts are inside backticks; a message starts with a capital
        // word followed by a lowercase word or a full stop.
        let mut words = part.split(' ');
        let first = words.next().unwrap_or("");
        let looks_like_message = i % 2 == 1
            && !part.contains('\n')
            && first.chars().next().is_some_and(char::is_uppercase)
            && first.chars().skip(1).all(|c| c.is_lowercase() || c == '.')
            && (first.ends_with('.') || words.next().is_some_and(|w| w.chars().all(char::is_lowercase)));
        if looks_like_message {
            quoted.push(part.to_owned());
        }
    }
    assert!(
        quoted.len() >= 2,
        "the README quotes some of the program's lines: {quoted:?}"
    );
    let missing: Vec<&String> = quoted.iter().filter(|q| !src.contains(q.as_str())).collect();
    assert!(
        missing.is_empty(),
        "the README quotes lines the program never says: {missing:?}"
    );
}
