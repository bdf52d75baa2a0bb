//! The checks after parsing: the file's raw shape to a [`Config`], every
//! problem collected and located (`file:line:col`), secrets resolved.

use std::collections::BTreeSet;
use std::net::SocketAddr;
use std::path::Path;
use std::time::Duration;

use rust_decimal::Decimal;

use crate::botdb::api::{ApiAuth, BotApiConfig};
use crate::botdb::mapping::OnStale;
use crate::botdb::names::{Dialect, TableName};
use crate::botdb::raw::RawMapping;
use crate::plan::{CorrectionPolicy, Mode, StaleFix};
use crate::reconcile::Policy;
use crate::venue::types::AccountFields;

use super::duration::Dur;
use super::position::PositionIndex;
use super::raw::*;
use super::{
    relative_to, AccountConfig, BotDbConfig, CloseConfig, CloseGuards, Config, ConfigError, EmailConfig, Env,
    Intervals, LogFormat, Secret, SmtpTls, StreamConfig, VenueLink, DEFAULT_JOURNAL, DEFAULT_LISTEN,
};

pub(super) struct Validator<'a> {
    pub(super) file: &'a str,
    pub(super) index: &'a PositionIndex,
    pub(super) errors: Vec<ConfigError>,
    /// Errors in rule files (already located in their own files).
    pub(super) rule_errors: Vec<ConfigError>,
    pub(super) warnings: Vec<ConfigError>,
}

impl Validator<'_> {
    /// Locates `path` (at its key when `at_key`) and prefixes the message
    /// with it, as serde_yaml does for structural errors.
    fn located(&self, path: &str, message: String, at_key: bool) -> ConfigError {
        let pos = if at_key {
            self.index.find_key(path)
        } else {
            self.index.find(path)
        };
        ConfigError {
            file: self.file.to_owned(),
            line: pos.line,
            col: pos.col,
            message: format!("{path}: {message}"),
        }
    }

    fn error(&mut self, path: &str, message: impl Into<String>) {
        let e = self.located(path, message.into(), false);
        self.errors.push(e);
    }

    fn error_at_key(&mut self, path: &str, message: impl Into<String>) {
        let e = self.located(path, message.into(), true);
        self.errors.push(e);
    }

    fn warn(&mut self, path: &str, message: impl Into<String>) {
        let e = self.located(path, message.into(), false);
        self.warnings.push(e);
    }

    fn positive(&mut self, path: &str, value: Option<Dur>, default: Duration) -> Duration {
        match value {
            Some(Dur(d)) if d.is_zero() => {
                self.error(path, "must be greater than zero");
                default
            }
            Some(Dur(d)) => d,
            None => default,
        }
    }

    pub(super) fn config(&mut self, raw: RawConfig, path: &Path, env: &dyn Env) -> Config {
        let listen = match raw.listen.as_deref().unwrap_or(DEFAULT_LISTEN).parse::<SocketAddr>() {
            Ok(a) => a,
            Err(_) => {
                self.error(
                    "listen",
                    format!(
                        "invalid listen address {:?}: expected host:port, e.g. 127.0.0.1:9733",
                        raw.listen.unwrap_or_default()
                    ),
                );
                DEFAULT_LISTEN.parse().expect("default listen address parses")
            }
        };
        if !listen.ip().is_loopback() {
            self.warn(
                "listen",
                format!("listening on {listen}: /metrics shows positions; keep it off public networks"),
            );
        }
        let log_level = raw.log.level.unwrap_or_else(|| "info".into());
        if tracing_subscriber::EnvFilter::try_new(&log_level).is_err() {
            self.error(
                "log.level",
                format!("invalid log level {log_level:?}: use error, warn, info, debug or trace"),
            );
        }

        let intervals = Intervals {
            rest_poll: self.positive("intervals.rest_poll", raw.intervals.rest_poll, Duration::from_secs(10)),
            db_poll: self.positive("intervals.db_poll", raw.intervals.db_poll, Duration::from_secs(10)),
            markets_refresh: self.positive(
                "intervals.markets_refresh",
                raw.intervals.markets_refresh,
                Duration::from_secs(600),
            ),
            reconcile: self.positive("intervals.reconcile", raw.intervals.reconcile, Duration::from_secs(1)),
        };
        if intervals.rest_poll < Duration::from_secs(5) {
            self.warn(
                "intervals.rest_poll",
                "REST polls faster than every 5s spend the venue's rate-limit budget, which the bot \
                 shares with driftwatch",
            );
        }

        let confirm_polls = raw.reconcile.confirm_polls.unwrap_or(3);
        if confirm_polls == 0 {
            self.error(
                "reconcile.confirm_polls",
                "must be at least 1: a single observation never counts",
            );
        }
        let policy = Policy {
            confirm_polls: confirm_polls.max(1),
            confirm_after: self.positive(
                "reconcile.confirm_after",
                raw.reconcile.confirm_after,
                Duration::from_secs(60),
            ),
            rest_stale_after: self.positive(
                "reconcile.rest_stale_after",
                raw.reconcile.rest_stale_after,
                intervals.rest_poll * 3,
            ),
            db_stale_after: self.positive(
                "reconcile.db_stale_after",
                raw.reconcile.db_stale_after,
                intervals.db_poll * 3,
            ),
            // Replaced per account below by its stream's silence timeout.
            stream_silence_after: Duration::from_secs(45),
            // The poll interval, but never under 2 s: a busy machine's slow
            // answer is not a hang.
            rest_answer_within: intervals.rest_poll.max(Duration::from_secs(2)),
        };
        if policy.rest_stale_after <= intervals.rest_poll {
            self.error(
                "reconcile.rest_stale_after",
                "must be longer than intervals.rest_poll, or every read is stale",
            );
        }
        if policy.db_stale_after <= intervals.db_poll {
            self.error(
                "reconcile.db_stale_after",
                "must be longer than intervals.db_poll, or every read is stale",
            );
        }

        let bot_db = raw.bot_db.map(|raw_db| self.bot_db(raw_db, env));
        let journal_url = match raw.journal.url.as_ref().map(|s| s.resolve(env)) {
            None => Secret::new(DEFAULT_JOURNAL),
            Some(Ok(s)) => s,
            Some(Err(m)) => {
                self.error("journal.url", m);
                Secret::new(DEFAULT_JOURNAL)
            }
        };
        if !matches!(
            Dialect::from_url(journal_url.expose()),
            Some(Dialect::Sqlite | Dialect::Postgres)
        ) {
            self.error("journal.url", "the journal needs a sqlite:// or postgres:// URL");
        }
        let leadership = raw.leadership.as_ref().and_then(|l| {
            if Dialect::from_url(journal_url.expose()) != Some(Dialect::Postgres) {
                self.error(
                    "leadership",
                    "leadership needs the journal on PostgreSQL (journal.url: postgres://...): the lock and the epoch every action is fenced by live there",
                );
                return None;
            }
            let takeover_after = self.positive("leadership.takeover_after", l.takeover_after, Duration::from_secs(15));
            if takeover_after < Duration::from_secs(2) {
                self.error("leadership.takeover_after", "must be at least 2s");
            }
            let scope = l.scope.clone().unwrap_or_else(|| "driftwatch".into());
            if scope.is_empty() || scope.len() > 64 {
                self.error("leadership.scope", "must be 1 to 64 characters");
            }
            let coordinator = match &l.lease {
                None => crate::leader::Coordinator::Postgres,
                Some(lease) => {
                    // What the API server accepts as a Lease's name (DNS-1123).
                    let dns = |s: &str| {
                        !s.is_empty()
                            && s.len() <= 253
                            && s.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'.')
                            && s.starts_with(|c: char| c.is_ascii_alphanumeric())
                            && s.ends_with(|c: char| c.is_ascii_alphanumeric())
                    };
                    let name = lease.name.clone().unwrap_or_else(|| format!("driftwatch-{scope}"));
                    if !dns(&name) {
                        self.error(
                            "leadership.lease.name",
                            format!("{name:?} is not a Kubernetes object name (lowercase letters, digits, '-' and '.')"),
                        );
                    }
                    if let Some(ns) = lease.namespace.as_deref().filter(|ns| !dns(ns) || ns.contains('.')) {
                        self.error("leadership.lease.namespace", format!("{ns:?} is not a namespace name"));
                    }
                    if let Some(u) = lease.api_url.as_deref().filter(|u| !(u.starts_with("https://") || u.starts_with("http://"))) {
                        self.error("leadership.lease.api_url", format!("{u:?}: give an http(s):// URL"));
                    }
                    crate::leader::Coordinator::Lease(crate::leader::lease::LeaseConfig {
                        name: Some(name),
                        namespace: lease.namespace.clone(),
                        api_url: lease.api_url.clone(),
                        token_file: lease.token_file.clone().map(|f| relative_to(path, f)),
                        ca_file: lease.ca_file.clone().map(|f| relative_to(path, f)),
                    })
                }
            };
            Some(crate::leader::LeaderConfig {
                url: journal_url.clone(),
                scope,
                takeover_after,
                coordinator,
            })
        });

        let rules_dir = raw.rules.dir.clone().map(|d| relative_to(path, d));
        let rules = match &rules_dir {
            None => crate::rules::RuleSet::default(),
            Some(dir) => match crate::rules::file::rule_files(dir) {
                Err(e) => {
                    self.error(
                        "rules.dir",
                        format!("cannot read rules directory {}: {e}", dir.display()),
                    );
                    crate::rules::RuleSet::default()
                }
                Ok(files) => match crate::rules::compile_files(&files) {
                    Ok(set) => set,
                    Err(errors) => {
                        self.rule_errors.extend(errors);
                        crate::rules::RuleSet::default()
                    }
                },
            },
        };
        let closes = CloseGuards {
            max_per_hour: raw.closes.max_per_hour.unwrap_or(10),
            max_notional_usd: raw.closes.max_notional_usd,
        };

        if raw.accounts.is_empty() {
            self.error("accounts", "at least one account is needed");
        }
        let email = raw.notify.email.and_then(|e| self.email(e, path, env));
        let mut names = BTreeSet::new();
        let mut accounts = Vec::new();
        for (i, a) in raw.accounts.into_iter().enumerate() {
            let p = format!("accounts[{i}]");
            if let Some(acc) = self.account(&p, a, env, &mut names) {
                if let Some((floor, why)) = crate::venue::registry::rest_poll_floor(&acc.link) {
                    // Polls go no faster than the account's share of the
                    // venue's budget sustains: REST must stay fresh across
                    // two of them, or it goes stale between polls.
                    if policy.rest_stale_after <= floor * 2 {
                        self.error(
                            "reconcile.rest_stale_after",
                            format!(
                                "must be longer than two REST polls of account {:?}: {why} allows one every {} ms",
                                acc.name,
                                floor.as_millis()
                            ),
                        );
                    }
                }
                accounts.push(acc);
            }
        }
        if bot_db.is_none() {
            if let Some(a) = accounts.iter().find(|a| a.bot_api.is_none()) {
                self.error(
                    "bot_db",
                    format!(
                        "missing bot_db: account {:?} reads its bot's database (give bot_db, or bot_api for that account)",
                        a.name
                    ),
                );
            }
        }
        Config {
            path: path.to_owned(),
            listen,
            log_format: raw.log.format.unwrap_or(LogFormat::Text),
            log_level,
            intervals,
            policy,
            bot_db,
            journal_url,
            leadership,
            rules_dir,
            rules,
            rules_reload_interval: raw.rules.reload_interval.map_or(Duration::from_secs(2), |d| d.0),
            closes,
            email,
            accounts,
        }
    }

    fn bot_db(&mut self, raw: RawBotDb, env: &dyn Env) -> BotDbConfig {
        let url = match raw.url.resolve(env) {
            Ok(s) => s,
            Err(m) => {
                self.error("bot_db.url", m);
                Secret::new("")
            }
        };
        let dialect = Dialect::from_url(url.expose()).unwrap_or_else(|| {
            if !url.expose().is_empty() {
                self.error(
                    "bot_db.url",
                    "unsupported database URL: use postgres://, mysql:// or sqlite://",
                );
            }
            Dialect::Postgres
        });
        let max_connections = raw.max_connections.unwrap_or(2);
        if max_connections == 0 {
            self.error("bot_db.max_connections", "must be at least 1");
        }
        BotDbConfig {
            url,
            dialect,
            timeout: self.positive("bot_db.timeout", raw.timeout, Duration::from_secs(5)),
            max_connections: max_connections.max(1),
        }
    }

    fn email(&mut self, e: RawEmail, path: &Path, env: &dyn Env) -> Option<EmailConfig> {
        let p = "notify.email";
        let before = self.errors.len();
        let (host, port) = match e.smtp.rsplit_once(':').map(|(h, port)| (h, port.parse::<u16>())) {
            Some((h, Ok(port))) if !h.is_empty() && port > 0 => (h.trim_matches(['[', ']']).to_owned(), port),
            _ => {
                self.error(
                    &format!("{p}.smtp"),
                    format!(
                        "invalid SMTP server {:?}: expected host:port, e.g. smtp.example.com:587",
                        e.smtp
                    ),
                );
                (String::new(), 0)
            }
        };
        let tls = e.tls.unwrap_or(SmtpTls::Starttls);
        // A password that is given but cannot be resolved has its own error.
        let password_given = e.password.is_some();
        let password = match e.password.map(|s| s.resolve(env)) {
            None => None,
            Some(Ok(s)) => Some(s),
            Some(Err(m)) => {
                self.error(&format!("{p}.password"), m);
                None
            }
        };
        if e.username.is_some() != password_given {
            self.error(p, "username and password go together");
        }
        if tls == SmtpTls::None && password.is_some() {
            self.error(
                &format!("{p}.tls"),
                "tls: none would send the SMTP password in clear; use starttls or tls",
            );
        }
        // Read and checked once, here: a bad CA file is a config error, not a start-up failure.
        let mut ca_pem = None;
        if let Some(f) = e.ca_file.map(|f| relative_to(path, f)) {
            let at = format!("{p}.ca_file");
            if tls == SmtpTls::None {
                self.error(&at, "a CA file needs tls: starttls or tls");
            } else {
                match std::fs::read(&f) {
                    Err(err) => self.error(&at, format!("cannot read {}: {err}", f.display())),
                    Ok(pem) if lettre::transport::smtp::client::Certificate::from_pem(&pem).is_err() => {
                        self.error(&at, format!("{} is not a PEM certificate", f.display()))
                    }
                    Ok(pem) => ca_pem = Some(pem),
                }
            }
        }
        let from = match e.from.parse::<lettre::message::Mailbox>() {
            Ok(m) => Some(m),
            Err(err) => {
                self.error(&format!("{p}.from"), format!("invalid address {:?}: {err}", e.from));
                None
            }
        };
        if e.to.is_empty() {
            self.error_at_key(&format!("{p}.to"), "at least one recipient is needed");
        }
        let mut to = Vec::new();
        for (i, addr) in e.to.iter().enumerate() {
            match addr.parse::<lettre::message::Mailbox>() {
                Ok(m) => to.push(m),
                Err(err) => self.error(&format!("{p}.to[{i}]"), format!("invalid address {addr:?}: {err}")),
            }
        }
        let queue = e.queue.unwrap_or(64);
        if queue == 0 {
            self.error(&format!("{p}.queue"), "must be at least 1");
        }
        let policy = crate::notify::PagerPolicy {
            repeat_interval: self.positive(
                &format!("{p}.repeat_interval"),
                e.repeat_interval,
                Duration::from_secs(3600),
            ),
            max_per_hour: e.max_per_hour.unwrap_or(20),
        };
        if policy.max_per_hour == 0 {
            self.error(
                &format!("{p}.max_per_hour"),
                "must be at least 1; remove notify.email to turn mail off",
            );
        }
        let timeout = self.positive(&format!("{p}.timeout"), e.timeout, Duration::from_secs(10));
        if self.errors.len() > before {
            return None;
        }
        Some(EmailConfig {
            host,
            port,
            tls,
            username: e.username,
            password,
            ca_pem,
            timeout,
            from: from?,
            to,
            policy,
            queue,
        })
    }

    fn account(
        &mut self,
        p: &str,
        a: RawAccount,
        env: &dyn Env,
        names: &mut BTreeSet<String>,
    ) -> Option<AccountConfig> {
        let name_ok = !a.name.is_empty()
            && a.name.len() <= 64
            && a.name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-');
        if !name_ok {
            self.error(
                &format!("{p}.name"),
                format!("invalid account name {:?}: use letters, digits, '-' and '_'", a.name),
            );
        } else if !names.insert(a.name.clone()) {
            self.error(&format!("{p}.name"), format!("duplicate account name {:?}", a.name));
        }
        if let Err(m) = crate::venue::registry::check_address(a.venue, &a.address) {
            self.error(&format!("{p}.address"), m);
        }
        let fields = AccountFields {
            address: a.address.clone(),
            subaccount: a.subaccount.clone(),
            chain_id: a.chain_id,
            endpoint: a.endpoint.clone(),
            query_share: a.query_share,
            network: a.network.clone(),
            vault: a.vault,
            api_secret: a.api_secret.is_some(),
        };
        let api_secret = match a.api_secret.as_ref().map(|s| s.resolve(env)) {
            None => None,
            Some(Ok(s)) => Some(s),
            Some(Err(m)) => {
                self.error(&format!("{p}.api_secret"), m);
                None
            }
        };
        let foreign = crate::venue::registry::foreign_fields(a.venue, &fields);
        for (field, m) in &foreign {
            self.error_at_key(&format!("{p}.{field}"), m.clone());
        }
        let params = match crate::venue::registry::venue_params(a.venue, &fields) {
            Ok(v) => v,
            Err(errors) => {
                for (field, m) in errors {
                    self.error(&format!("{p}.{field}"), m);
                }
                Default::default()
            }
        };
        let (rest_default, ws_default) = crate::venue::registry::default_urls(a.venue);
        let rest_url = a.rest_url.unwrap_or_else(|| rest_default.to_owned());
        let ws_url = a.ws_url.unwrap_or_else(|| ws_default.to_owned());
        if !(rest_url.starts_with("https://") || rest_url.starts_with("http://")) {
            self.error(
                &format!("{p}.rest_url"),
                format!("invalid rest_url {rest_url:?}: expected http:// or https://"),
            );
        }
        if !(ws_url.starts_with("wss://") || ws_url.starts_with("ws://")) {
            self.error(
                &format!("{p}.ws_url"),
                format!("invalid ws_url {ws_url:?}: expected ws:// or wss://"),
            );
        }
        let api_key = match a.api_key.map(|s| s.resolve(env)) {
            None => None,
            Some(Ok(s)) => Some(s),
            Some(Err(m)) => {
                self.error(&format!("{p}.api_key"), m);
                None
            }
        };
        let s = a.stream;
        let sp = |f: &str| format!("{p}.stream.{f}");
        let ping_interval = self.positive(&sp("ping_interval"), s.ping_interval, Duration::from_secs(15));
        let stream = StreamConfig {
            ping_interval,
            ack_timeout: self.positive(&sp("ack_timeout"), s.ack_timeout, Duration::from_secs(5)),
            // Three missed pongs.
            silence_timeout: self.positive(&sp("silence_timeout"), s.silence_timeout, ping_interval * 3),
            max_connection_age: self.positive(
                &sp("max_connection_age"),
                s.max_connection_age,
                Duration::from_secs(23 * 3600),
            ),
            backoff_initial: self.positive(&sp("backoff_initial"), s.backoff_initial, Duration::from_millis(500)),
            backoff_max: self.positive(&sp("backoff_max"), s.backoff_max, Duration::from_secs(30)),
            rest_timeout: self.positive(&sp("rest_timeout"), s.rest_timeout, Duration::from_secs(10)),
        };
        if stream.ping_interval > Duration::from_secs(30) {
            self.error(&sp("ping_interval"), crate::venue::registry::ping_rule(a.venue));
        }
        if stream.silence_timeout <= stream.ping_interval {
            self.error(
                &sp("silence_timeout"),
                "must be longer than ping_interval, or every pong arrives too late",
            );
        }
        if stream.max_connection_age >= Duration::from_secs(24 * 3600) {
            self.error(
                &sp("max_connection_age"),
                "must be under 24h: the venue cuts every connection at 24h",
            );
        }
        if stream.backoff_max < stream.backoff_initial {
            self.error(&sp("backoff_max"), "must not be shorter than backoff_initial");
        }
        let bot_api = a.bot_api.as_ref().and_then(|api| self.bot_api(p, api, env));
        let raw_mapping = match (a.mapping, &a.bot_api) {
            (Some(m), _) => Some(m),
            // Over an API the preset gives the symbols.
            (None, Some(api)) => Some(RawMapping {
                preset: Some(api.preset.clone()),
                ..Default::default()
            }),
            (None, None) => {
                self.error(
                    p,
                    "an account needs mapping (the bot's table in bot_db) or bot_api (the bot's HTTP API)",
                );
                None
            }
        };
        let mapping = match raw_mapping.map(|m| m.validate()) {
            None => None,
            Some(Ok(m)) => Some(m),
            Some(Err(errs)) => {
                for e in errs {
                    let path = format!("{p}.mapping.{}", e.field);
                    if e.field.starts_with("filter.") {
                        // The column name is the key: point at it.
                        self.error_at_key(&path, e.message);
                    } else {
                        self.error(&path, e.message);
                    }
                }
                None
            }
        };
        let c = a.correct;
        let cp = |f: &str| format!("{p}.correct.{f}");
        if bot_api.is_some() && matches!(c.mode, Some(Mode::Apply | Mode::DryRun)) {
            self.error(
                &cp("mode"),
                "corrections through a bot's API are alert-only (Freqtrade's API cannot close a trade without trading): use mode: off",
            );
        }
        if c.insert == Some(true) && mapping.as_ref().is_some_and(|m| !m.insertable) {
            self.error(
                &cp("insert"),
                "the mapping's on_missing is alert_only (this bot's rows cannot be written from the exchange's side)",
            );
        }
        match (&c.settle, mapping.as_ref().map(|m| m.updated_at_column.is_some())) {
            (Some(_), Some(false)) => self.error(
                &cp("settle"),
                "settle needs mapping.updated_at_column: without the bot's last-write time there is nothing to wait after",
            ),
            (None, Some(false)) => self.warn(
                &cp("settle"),
                "the mapping has no updated_at_column: corrections cannot wait for the bot's own writes to settle \
                 (confirmations still apply)",
            ),
            _ => {}
        }
        let confirmations = c.confirmations.unwrap_or(3);
        if confirmations < 2 {
            self.error(
                &cp("confirmations"),
                "must be at least 2: never correct on a single observation",
            );
        }
        let max_rows = c.max_rows.unwrap_or(25);
        if max_rows == 0 {
            self.error(
                &cp("max_rows"),
                "must be at least 1 (use mode: off to disable corrections)",
            );
        }
        if let Some(f) = c.max_fraction {
            if f <= Decimal::ZERO || f > Decimal::ONE {
                self.error(&cp("max_fraction"), "must be above 0 and at most 1");
            }
        }
        let correct = CorrectionPolicy {
            mode: if bot_api.is_some() {
                Mode::Off
            } else {
                c.mode.unwrap_or(Mode::DryRun)
            },
            insert: c.insert.unwrap_or(false) && mapping.as_ref().is_some_and(|m| m.insertable),
            adopt: c.adopt.unwrap_or(false),
            // Inserts only for symbols the mapping can spell in the bot's
            // words: every one with a template; else those it names.
            mapped_symbols: mapping
                .as_ref()
                .filter(|m| {
                    m.symbols.template.is_none() && !(m.symbols.explicit.is_empty() && m.symbols.regex.is_none())
                })
                .map(|m| m.symbols.explicit.values().cloned().collect()),
            stale: match mapping.as_ref().map(|m| &m.on_stale) {
                Some(OnStale::Close(_)) => StaleFix::Close,
                Some(OnStale::AlertOnly) => StaleFix::AlertOnly,
                Some(OnStale::Delete) | None => StaleFix::Delete,
            },
            resize: mapping.as_ref().is_none_or(|m| m.resize),
            leg: mapping
                .as_ref()
                .map_or(crate::domain::RowLegs::One(crate::domain::Leg::Net), |m| m.leg),
            confirmations: confirmations.max(2),
            settle: c.settle.map_or(Duration::from_secs(30), |d| d.0),
            max_rows: max_rows.max(1),
            max_fraction: c.max_fraction,
        };
        let close = a.close.and_then(|raw| {
            let kp = |f: &str| format!("{p}.close.{f}");
            let key = match raw.key.resolve(env) {
                Ok(k) => k,
                Err(m) => {
                    self.error(&kp("key"), m);
                    return None;
                }
            };
            if let Err(m) = crate::venue::registry::check_close_key(a.venue, &key, &fields, raw.agent) {
                self.error(&kp("key"), m);
            }
            let slippage = raw.slippage_percent.unwrap_or(Decimal::ONE);
            if slippage <= Decimal::ZERO || slippage > Decimal::from(10) {
                self.error(&kp("slippage_percent"), "must be above 0 and at most 10 (percent)");
            }
            let max_attempts = raw.max_attempts.unwrap_or(5);
            if max_attempts == 0 {
                self.error(&kp("max_attempts"), "must be at least 1");
            }
            Some(CloseConfig {
                key,
                agent: raw.agent,
                armed: raw.armed,
                slippage_percent: slippage,
                max_attempts: max_attempts.max(1),
                verify_timeout: raw.verify_timeout.map_or(Duration::from_secs(10), |d| d.0),
                expiry_window: raw.expiry_window.map_or(Duration::from_secs(5), |d| d.0),
                cancel_orders_first: raw.cancel_orders_first.unwrap_or(true),
            })
        });
        let archive_table = match TableName::parse(c.archive_table.as_deref().unwrap_or("driftwatch_archive")) {
            Ok(t) => Some(t),
            Err(m) => {
                self.error(&cp("archive_table"), m);
                None
            }
        };
        Some(AccountConfig {
            name: a.name,
            link: VenueLink {
                venue: a.venue,
                address: a.address,
                rest_url: rest_url.trim_end_matches('/').to_owned(),
                ws_url,
                api_key,
                api_secret,
                stream,
                nado: params.nado,
                hyperliquid: params.hyperliquid,
                binance: params.binance,
            },
            mapping: mapping?,
            correct,
            archive_table: archive_table?,
            close,
            bot_api,
        })
    }

    /// The `bot_api` block of an account.
    fn bot_api(&mut self, p: &str, raw: &RawBotApi, env: &dyn Env) -> Option<BotApiConfig> {
        let ap = |f: &str| format!("{p}.bot_api.{f}");
        let before = self.errors.len();
        if !(raw.url.starts_with("http://") || raw.url.starts_with("https://")) {
            self.error(
                &ap("url"),
                format!("invalid url {:?}: expected http:// or https://", raw.url),
            );
        }
        if raw.preset != "freqtrade" {
            self.error(
                &ap("preset"),
                format!("unknown bot API {:?}; known: freqtrade", raw.preset),
            );
        }
        let password = match raw.password.resolve(env) {
            Ok(s) => Some(s),
            Err(m) => {
                self.error(&ap("password"), m);
                None
            }
        };
        let timeout = self.positive(&ap("timeout"), raw.timeout, Duration::from_secs(5));
        if self.errors.len() > before {
            return None;
        }
        Some(BotApiConfig {
            url: raw.url.trim_end_matches('/').to_owned(),
            username: raw.username.clone(),
            password: password?,
            auth: raw.auth.unwrap_or(ApiAuth::Jwt),
            timeout,
        })
    }
}
