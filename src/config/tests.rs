//! Bad configs and their exact messages, one row each (blackbox_exporter's
//! TestLoadBadConfigs). The golden files under testdata/config/ are checked
//! through the binary in tests/cli.rs.

use std::collections::HashMap;

use super::*;
use crate::plan::Mode;

const ADDR: &str = "9C6hybhQ6Aycep9jaUnP6uL9ZYvDjUp1aSkFWPUFJtpj";

fn env() -> HashMap<String, String> {
    [(
        "BOT_DB_URL".to_string(),
        "postgres://bot:hunter2@127.0.0.1/bot".to_string(),
    )]
    .into()
}

fn good() -> String {
    format!(
        "bot_db:\n  url: {{env: BOT_DB_URL}}\naccounts:\n  - name: main\n    venue: pacifica\n    address: {ADDR}\n    mapping:\n      preset: nexwave\n      filter: {{strategy_id: vwm_momentum_1}}\n"
    )
}

fn errors(text: &str) -> Vec<String> {
    match parse(text, Path::new("c.yaml"), &env()) {
        Ok(_) => vec![],
        Err(LoadError::Invalid(errs)) => errs.iter().map(ToString::to_string).collect(),
        Err(e) => vec![e.to_string()],
    }
}

#[test]
fn a_minimal_config_gets_safe_defaults() {
    let (c, warnings) = parse(&good(), Path::new("c.yaml"), &env()).unwrap();
    assert!(warnings.is_empty(), "{warnings:?}");
    assert_eq!(c.listen.to_string(), DEFAULT_LISTEN);
    assert!(c.listen.ip().is_loopback());
    assert_eq!(c.accounts[0].link.rest_url, "https://api.pacifica.fi/api/v1");
    let db = c.bot_db.as_ref().unwrap();
    assert_eq!(db.dialect, Dialect::Postgres);
    assert_eq!(format!("{:?}", db.url), "***");
    assert!(
        !format!("{c:?}").contains("hunter2"),
        "the config's Debug must not leak secrets"
    );
}

#[test]
fn bad_configs_and_their_exact_messages() {
    let g = good();
    let cases: Vec<(String, Vec<&str>)> = vec![
        (g.replace("  - name: main", "  - nmae: main"), vec!["c.yaml:4:5: accounts[0]: unknown field `nmae`, expected one of `name`, `venue`, `address`, `rest_url`, `ws_url`, `api_key`, `api_secret`, `subaccount`, `chain_id`, `endpoint`, `query_share`, `network`, `vault`, `stream`, `mapping`, `bot_api`, `correct`, `close`"]),
        (g.replace("venue: pacifica", "venue: pacifca"), vec!["c.yaml:5:12: accounts[0].venue: unknown variant `pacifca`, expected one of `pacifica`, `nado`, `hyperliquid`, `binance`"]),
        (format!("{g}intervals:\n  rest_poll: 5x\n"), vec!["c.yaml:11:14: intervals.rest_poll: invalid duration \"5x\": expected a number and a unit (ms, s, m, h, d), e.g. \"5s\""]),
        (format!("{g}listen: nowhere\n"), vec!["c.yaml:10:9: listen: invalid listen address \"nowhere\": expected host:port, e.g. 127.0.0.1:9733"]),
        (g.replace(ADDR, "not-base58!"), vec!["c.yaml:6:14: accounts[0].address: invalid Pacifica account \"not-base58!\": expected a base58 Ed25519 public key (32 bytes)"]),
        (g.replace("preset: nexwave", "preset: nexwave\n      table: \"positions; DROP TABLE positions\""), vec!["c.yaml:9:14: accounts[0].mapping.table: invalid SQL identifier \"positions; DROP TABLE positions\": use letters, digits and underscores, starting with a letter or underscore"]),
        (g.replace("{env: BOT_DB_URL}", "{env: NOPE}"), vec!["c.yaml:2:3: bot_db.url: environment variable NOPE is not set"]),
        (format!("{g}    stream:\n      ping_interval: 45s\n"), vec!["c.yaml:11:22: accounts[0].stream.ping_interval: must be at most 30s: Pacifica closes connections silent for 60s"]),
        // Several semantic errors are all reported, in file order.
        (
            format!("{g}    stream:\n      ping_interval: 45s\n      max_connection_age: 24h\n  - name: main\n    venue: pacifica\n    address: {ADDR}\n    mapping: {{preset: nope}}\n"),
            vec![
                "c.yaml:11:22: accounts[0].stream.ping_interval: must be at most 30s: Pacifica closes connections silent for 60s",
                "c.yaml:12:27: accounts[0].stream.max_connection_age: must be under 24h: the venue cuts every connection at 24h",
                "c.yaml:13:11: accounts[1].name: duplicate account name \"main\"",
                "c.yaml:16:23: accounts[1].mapping.preset: unknown preset \"nope\"; known presets: nexwave, freqtrade, hummingbot",
            ],
        ),
        (
            "bot_db: [\n".to_string(),
            vec![
                "c.yaml:1:1: missing field `accounts`",
                "c.yaml:1:9: bot_db: invalid type: sequence, expected struct RawBotDb",
            ],
        ),
        ("bot_db:\n  url: {env: X\n".to_string(), vec!["c.yaml:3:1: did not find expected ',' or '}'"]),
    ];
    for (text, want) in cases {
        assert_eq!(errors(&text), want, "\n--- config ---\n{text}");
    }
}

#[test]
fn warnings_do_not_fail_the_load() {
    let text = format!("{}listen: 0.0.0.0:9733\nintervals:\n  rest_poll: 1s\n", good());
    let (_, warnings) = parse(&text, Path::new("c.yaml"), &env()).unwrap();
    let w: Vec<String> = warnings.iter().map(ToString::to_string).collect();
    assert_eq!(w.len(), 2, "{w:?}");
    assert!(w[0].starts_with("c.yaml:10:9: listen: listening on 0.0.0.0:9733"));
}

#[test]
fn nado_accounts_and_their_exact_messages() {
    const OWNER: &str = "0xFCAd0B19bB29D4674531d6f115237E16AfCE377c";
    let nado = |extra: &str| {
        format!(
            "bot_db:\n  url: {{env: BOT_DB_URL}}\naccounts:\n  - name: hedge\n    venue: nado\n    address: \"{OWNER}\"\n    mapping: {{preset: nexwave}}\n{extra}"
        )
    };
    let (c, _) = parse(&nado(""), Path::new("c.yaml"), &env()).unwrap();
    let n = c.accounts[0].link.nado.as_ref().unwrap();
    assert_eq!(
        n.subaccount,
        "0xfcad0b19bb29d4674531d6f115237e16afce377c64656661756c740000000000"
    );
    assert_eq!(n.chain_id, 57073);
    assert_eq!(n.endpoint, "0x05ec92d78ed421f3d3ada77ffde167106565974e");
    let cases: Vec<(String, Vec<&str>)> = vec![
        (
            good().replace("    mapping:", "    subaccount: default\n    mapping:"),
            vec!["c.yaml:7:5: accounts[0].subaccount: subaccount is only for venue: nado"],
        ),
        (
            nado("    chain_id: 1\n"),
            vec!["c.yaml:8:15: accounts[0].chain_id: chain 1 is neither Ink mainnet (57073) nor testnet (763373): set endpoint too"],
        ),
        (
            nado("    subaccount: a-name-longer-than-12\n"),
            vec!["c.yaml:8:17: accounts[0].subaccount: subaccount name \"a-name-longer-than-12\" is longer than 12 bytes"],
        ),
        // Issue [bots] part 3: a settle window with nothing to settle after.
        (
            good().replace("    mapping:", "    correct: {settle: 30s}\n    mapping:").replace("preset: nexwave", "preset: freqtrade"),
            vec!["c.yaml:7:23: accounts[0].correct.settle: settle needs mapping.updated_at_column: without the bot's last-write time there is nothing to wait after"],
        ),
        // Freqtrade's trades are not written from the exchange's side.
        (
            good().replace("    mapping:", "    correct: {insert: true}\n    mapping:").replace("preset: nexwave", "preset: freqtrade"),
            vec!["c.yaml:7:23: accounts[0].correct.insert: the mapping's on_missing is alert_only (this bot's rows cannot be written from the exchange's side)"],
        ),
        (
            good().replace("preset: nexwave", "preset: nexwave\n      symbol_pattern: \"BTC\""),
            vec!["c.yaml:9:23: accounts[0].mapping.symbol_pattern: symbol_pattern \"BTC\" has no {symbol} placeholder"],
        ),
        (
            nado("    query_share: 1.5\n"),
            vec!["c.yaml:8:18: accounts[0].query_share: must be above 0 and at most 1 (the bot shares the per-IP limit)"],
        ),
    ];
    for (text, want) in cases {
        assert_eq!(errors(&text), want, "\n--- config ---\n{text}");
    }
}

/// Issue [operator]: a password whose variable is not set is that error
/// alone, not also "username and password go together".
#[test]
fn an_unset_smtp_password_is_one_error() {
    let text = format!(
        "{}notify:\n  email:\n    smtp: smtp.example.com:587\n    username: alerts\n    password: {{env: SMTP_PASSWORD}}\n    from: a@example.com\n    to: [b@example.com]\n",
        good()
    );
    let errs = errors(&text);
    assert_eq!(
        errs,
        vec!["c.yaml:14:5: notify.email.password: environment variable SMTP_PASSWORD is not set"],
        "{errs:?}"
    );
    let without = text.replace("    password: {env: SMTP_PASSWORD}\n", "");
    assert!(errors(&without)
        .iter()
        .any(|e| e.ends_with("username and password go together")));
}

/// Issue [operator] part 1: a config with a misspelt `bot_db` and an
/// account missing its `address` is told both, in file order.
#[test]
fn every_missing_field_is_reported_at_once() {
    let text = good()
        .replace("bot_db:", "bot_dbb:")
        .replace(&format!("    address: {ADDR}\n"), "");
    let e = errors(&text);
    assert_eq!(e.len(), 2, "{e:?}");
    assert!(e[0].starts_with("c.yaml:1:1: unknown field `bot_dbb`"), "{e:?}");
    assert_eq!(e[1], "c.yaml:4:5: accounts[0]: missing field `address`");
}

/// Issue [bots] part 5: `bot_db` is needed by an account that reads its
/// bot's table, and not by one read over the bot's API; corrections over an
/// API are alert-only.
#[test]
fn bot_db_is_needed_only_for_a_table_and_an_api_account_corrects_nothing() {
    let no_db = good().replace("bot_db:\n  url: {env: BOT_DB_URL}\n", "");
    assert_eq!(
        errors(&no_db),
        vec!["c.yaml:1:1: bot_db: missing bot_db: account \"main\" reads its bot's database (give bot_db, or bot_api for that account)"]
    );
    let api = format!(
        "accounts:\n  - name: ft\n    venue: pacifica\n    address: {ADDR}\n    bot_api:\n      url: http://127.0.0.1:8080\n      preset: freqtrade\n      username: driftwatch\n      password: {{value: secret}}\n"
    );
    let (c, _) = parse(&api, Path::new("c.yaml"), &env()).unwrap();
    let a = &c.accounts[0];
    assert!(c.bot_db.is_none());
    assert_eq!(a.correct.mode, Mode::Off);
    assert_eq!(a.bot_api.as_ref().unwrap().url, "http://127.0.0.1:8080");
    assert_eq!(a.mapping.venue_symbol("BTC/USDC:USDC").as_deref(), Some("BTC"));
    let apply = api.replace("    bot_api:", "    correct: {mode: apply}\n    bot_api:");
    assert_eq!(
        errors(&apply),
        vec!["c.yaml:5:21: accounts[0].correct.mode: corrections through a bot's API are alert-only (Freqtrade's API cannot close a trade without trading): use mode: off"]
    );
    let neither = api.replace("    bot_api:\n      url: http://127.0.0.1:8080\n      preset: freqtrade\n      username: driftwatch\n      password: {value: secret}\n", "");
    assert_eq!(
        errors(&neither),
        vec!["c.yaml:2:5: accounts[0]: an account needs mapping (the bot's table in bot_db) or bot_api (the bot's HTTP API)"]
    );
}

/// A Nado account's REST polls go no faster than its share of the per-IP
/// budget sustains (1.6 s at the default 0.25): a staleness limit shorter
/// than two of them would make REST go stale between polls.
#[test]
fn a_nado_account_needs_rest_to_stay_fresh_across_two_of_its_polls() {
    let nado = "bot_db:\n  url: {env: BOT_DB_URL}\naccounts:\n  - name: hedge\n    venue: nado\n    address: \"0xFCAd0B19bB29D4674531d6f115237E16AfCE377c\"\n    mapping:\n      preset: nexwave\n";
    assert_eq!(errors(nado), Vec::<String>::new());
    let tight = format!("{nado}intervals:\n  rest_poll: 1s\nreconcile:\n  rest_stale_after: 3s\n");
    let e = errors(&tight);
    assert_eq!(e.len(), 1, "{e:?}");
    assert!(
        e[0].contains("reconcile.rest_stale_after: must be longer than two REST polls of account \"hedge\": its query_share 0.25 of Nado's per-IP budget allows one every 1600 ms"),
        "{e:?}"
    );
}

/// Issue [hyperliquid]: an account is its master, sub-account or vault
/// address (0x); its network and vault flag are its own fields; a close key
/// that is neither the account's nor (with `agent: true`) its API wallet is
/// refused at load.
#[test]
fn hyperliquid_accounts_and_their_close_keys() {
    const MASTER: &str = "0x0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";
    let master = crate::venue::evm::Signer::from_hex(MASTER).unwrap().address();
    let mut env = env();
    env.insert("HL_KEY".into(), MASTER.into());
    let account = |extra: &str, address: &str| {
        format!(
            "bot_db:\n  url: {{env: BOT_DB_URL}}\naccounts:\n  - name: hl\n    venue: hyperliquid\n    address: \"{address}\"\n{extra}    mapping:\n      preset: nexwave\n"
        )
    };
    let errs = |text: &str| match parse(text, Path::new("c.yaml"), &env) {
        Ok(_) => vec![],
        Err(LoadError::Invalid(errs)) => errs.iter().map(ToString::to_string).collect(),
        Err(e) => vec![e.to_string()],
    };
    let ok = account(
        "    network: testnet\n    close: {key: {env: HL_KEY}}\n",
        &format!("{master:#x}"),
    );
    let (c, _) = parse(&ok, Path::new("c.yaml"), &env).unwrap();
    let h = c.accounts[0].link.hyperliquid.as_ref().unwrap();
    assert_eq!(h.network, crate::venue::hyperliquid::sign::Network::Testnet);
    assert!(!h.vault);
    assert_eq!(c.accounts[0].link.rest_url, "https://api.hyperliquid.xyz");
    let sub = "0x1111111111111111111111111111111111111111";
    assert_eq!(
        errs(&account("    vault: true\n    close: {key: {env: HL_KEY}}\n", sub)),
        Vec::<String>::new()
    );
    let stranger = errs(&account("    close: {key: {env: HL_KEY}}\n", sub));
    assert_eq!(stranger.len(), 1, "{stranger:?}");
    assert!(stranger[0].starts_with("c.yaml:"), "{stranger:?}");
    assert!(
        stranger[0].contains("accounts[0].close.key: the key's address is"),
        "{stranger:?}"
    );
    assert_eq!(
        errs(&account("    close: {key: {env: HL_KEY}, agent: true}\n", sub)),
        Vec::<String>::new()
    );
    let e = errs(&account("    network: devnet\n", sub));
    assert!(
        e.len() == 1 && e[0].contains("accounts[0].network: unknown network \"devnet\": mainnet or testnet"),
        "{e:?}"
    );
    let e = errs(&account("", ADDR));
    assert!(e.len() == 1 && e[0].contains("invalid Hyperliquid account"), "{e:?}");
    let e = errs(&good().replace("    mapping:", "    vault: true\n    mapping:"));
    assert!(
        e.len() == 1 && e[0].contains("accounts[0].vault: vault is only for venue: hyperliquid"),
        "{e:?}"
    );
}

/// Issue [ha]: leadership lives in the journal's PostgreSQL; anywhere else
/// there is no lock and no fence, so it is refused with the reason.
#[test]
fn leadership_needs_a_postgres_journal_and_a_sane_takeover() {
    let pg = format!("{}journal: {{url: {{value: \"postgres://u@h/j\"}}}}\n", good());
    let (c, _) = parse(
        &format!("{pg}leadership: {{scope: eth-sol, takeover_after: 10s}}\n"),
        Path::new("c.yaml"),
        &env(),
    )
    .unwrap();
    let l = c.leadership.unwrap();
    assert_eq!(
        (l.scope.as_str(), l.takeover_after),
        ("eth-sol", Duration::from_secs(10))
    );
    assert_eq!(l.url.expose(), "postgres://u@h/j");
    let (c, _) = parse(&format!("{pg}leadership: {{}}\n"), Path::new("c.yaml"), &env()).unwrap();
    assert_eq!(c.leadership.unwrap().takeover_after, Duration::from_secs(15));
    assert!(parse(&pg, Path::new("c.yaml"), &env()).unwrap().0.leadership.is_none());
    let e = errors(&format!("{}leadership: {{scope: x}}\n", good()));
    assert!(
        e.len() == 1 && e[0].contains("leadership: leadership needs the journal on PostgreSQL"),
        "{e:?}"
    );
    let e = errors(&format!("{pg}leadership: {{takeover_after: 1s}}\n"));
    assert!(
        e.len() == 1 && e[0].contains("leadership.takeover_after: must be at least 2s"),
        "{e:?}"
    );
    let e = errors(&format!("{pg}leadership: {{scope: x, lease: k8s}}\n"));
    assert!(e.len() == 1 && e[0].contains("leadership.lease: invalid type"), "{e:?}");
    // A Kubernetes Lease: its name defaults from the scope; names are checked.
    let (c, _) = parse(
        &format!("{pg}leadership: {{scope: nexwave, lease: {{namespace: trading}}}}\n"),
        Path::new("c.yaml"),
        &env(),
    )
    .unwrap();
    match c.leadership.unwrap().coordinator {
        crate::leader::Coordinator::Lease(l) => {
            assert_eq!(l.name.as_deref(), Some("driftwatch-nexwave"));
            assert_eq!(l.namespace.as_deref(), Some("trading"));
        }
        other => panic!("{other:?}"),
    }
    let e = errors(&format!(
        "{pg}leadership: {{scope: x, lease: {{name: Driftwatch_HA, namespace: a.b, api_url: apiserver, tokn: x}}}}\n"
    ));
    assert!(e.len() == 1 && e[0].contains("unknown field `tokn`"), "{e:?}");
    let e = errors(&format!(
        "{pg}leadership: {{scope: x, lease: {{name: Driftwatch_HA, namespace: a.b, api_url: apiserver}}}}\n"
    ));
    let fields: Vec<&str> = e.iter().map(|m| m.split(": ").nth(1).unwrap_or_default()).collect();
    assert_eq!(
        fields,
        [
            "leadership.lease.name",
            "leadership.lease.namespace",
            "leadership.lease.api_url"
        ],
        "{e:?}"
    );
}
