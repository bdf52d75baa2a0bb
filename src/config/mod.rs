//! The daemon's configuration: strict YAML in, a validated [`Config`] out.
//!
//! `check`, `run`, `snapshot` and `close` all use [`load`]. Every error is
//! reported as `file:line:col: message`: serde_yaml gives the location of a
//! structural error (unknown field, wrong type, bad duration); the semantic
//! checks after it collect *every* problem and locate each one through a
//! [`position::PositionIndex`] of the same text. Secrets are resolved here and
//! never printed.
//!
//! Here: the validated settings and [`load`]. The file's shape as written
//! is `raw.rs`; the checks from it to a [`Config`] are `validate.rs`.

pub mod duration;
pub mod error;
pub mod position;
mod raw;
pub mod recover;
pub mod secret;
mod validate;

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Deserialize;

use crate::botdb::api::BotApiConfig;
use crate::botdb::mapping::Mapping;
use crate::botdb::names::{Dialect, TableName};
use crate::plan::CorrectionPolicy;
use crate::reconcile::Policy;
pub use crate::venue::registry::VenueLink;
pub use crate::venue::types::StreamConfig;
pub use error::{yaml_error, ConfigError};
use position::PositionIndex;
use raw::RawConfig;
use rust_decimal::Decimal;
pub use secret::{Env, ProcessEnv, Secret, SecretSource};
use validate::Validator;

/// Why a config could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    #[error("{path}: cannot read: {source}")]
    Unreadable { path: String, source: std::io::Error },
    #[error("{}", .0.iter().map(|e| e.to_string()).collect::<Vec<_>>().join("\n"))]
    Invalid(Vec<ConfigError>),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LogFormat {
    Text,
    Json,
}

#[derive(Debug, Clone)]
pub struct Config {
    pub path: PathBuf,
    /// Where `/metrics`, `/healthz`, `/readyz` and `/` are served.
    pub listen: SocketAddr,
    pub log_format: LogFormat,
    pub log_level: String,
    pub intervals: Intervals,
    pub policy: Policy,
    /// `None` when every account reads its bot over `bot_api`.
    pub bot_db: Option<BotDbConfig>,
    /// driftwatch's own action journal.
    pub journal_url: Secret,
    /// The rules directory (absolute) and its compiled rules.
    pub rules_dir: Option<PathBuf>,
    pub rules: crate::rules::RuleSet,
    pub rules_reload_interval: Duration,
    pub closes: CloseGuards,
    /// Direct email paging; `None`: pages are only logged.
    pub email: Option<EmailConfig>,
    /// `None`: this process acts alone.
    pub leadership: Option<crate::leader::LeaderConfig>,
    pub accounts: Vec<AccountConfig>,
}

/// How the SMTP connection is protected.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SmtpTls {
    /// Plain text: only for a relay on the same host.
    None,
    /// STARTTLS, required (port 587).
    Starttls,
    /// TLS from the first byte (port 465).
    Tls,
}

#[derive(Debug, Clone)]
pub struct EmailConfig {
    pub host: String,
    pub port: u16,
    pub tls: SmtpTls,
    pub username: Option<String>,
    pub password: Option<Secret>,
    /// An extra trusted root (PEM), read from `ca_file` at load.
    pub ca_pem: Option<Vec<u8>>,
    pub timeout: Duration,
    pub from: lettre::message::Mailbox,
    pub to: Vec<lettre::message::Mailbox>,
    pub policy: crate::notify::PagerPolicy,
    /// Mails waiting for the SMTP server; beyond this they are dropped and counted.
    pub queue: usize,
}

/// Global guards on emergency closes.
#[derive(Debug, Clone)]
pub struct CloseGuards {
    /// Per account, over a sliding hour.
    pub max_per_hour: u32,
    /// A close worth more than this (at the mark) is refused and paged.
    pub max_notional_usd: Option<Decimal>,
}

#[derive(Debug, Clone)]
pub struct Intervals {
    pub rest_poll: Duration,
    pub db_poll: Duration,
    pub markets_refresh: Duration,
    pub reconcile: Duration,
}

#[derive(Debug, Clone)]
pub struct BotDbConfig {
    pub url: Secret,
    pub dialect: Dialect,
    pub timeout: Duration,
    pub max_connections: u32,
}

#[derive(Debug, Clone)]
pub struct AccountConfig {
    /// The label used in metrics and logs.
    pub name: String,
    /// The venue's side: all its adapter is given.
    pub link: VenueLink,
    pub mapping: Mapping,
    pub correct: CorrectionPolicy,
    /// driftwatch's archive table in the bot's database.
    pub archive_table: TableName,
    /// How to send reduce-only closes; `None`: this account cannot be closed.
    pub close: Option<CloseConfig>,
    /// The bot is read over its HTTP API, not `bot_db` (corrections off).
    pub bot_api: Option<BotApiConfig>,
}

#[derive(Debug, Clone)]
pub struct CloseConfig {
    /// Base58: a 64-byte keypair or a 32-byte seed (checked at load).
    pub key: Secret,
    /// The key is an agent wallet bound to the account.
    pub agent: bool,
    /// Disarmed (the default), the exact request is logged and not sent.
    pub armed: bool,
    pub slippage_percent: Decimal,
    pub max_attempts: u32,
    pub verify_timeout: Duration,
    pub expiry_window: Duration,
    /// Nado: cancel the product's resting orders before closing, so none
    /// can reopen the position (default true).
    pub cancel_orders_first: bool,
}

pub const DEFAULT_LISTEN: &str = "127.0.0.1:9733";
/// Relative to the working directory; point it at a state directory in deployments.
pub const DEFAULT_JOURNAL: &str = "sqlite://driftwatch-journal.db";

/// A path from the config file, relative to the file's own directory.
fn relative_to(config: &Path, p: PathBuf) -> PathBuf {
    if p.is_absolute() {
        p
    } else {
        config.parent().unwrap_or(Path::new(".")).join(p)
    }
}

/// Loads and validates the config at `path`, resolving secrets from `env`.
pub fn load(path: &Path, env: &dyn Env) -> Result<(Config, Vec<ConfigError>), LoadError> {
    let text = std::fs::read_to_string(path).map_err(|source| LoadError::Unreadable {
        path: path.display().to_string(),
        source,
    })?;
    parse(&text, path, env)
}

/// Validates config text. Returns the config and its warnings.
pub fn parse(text: &str, path: &Path, env: &dyn Env) -> Result<(Config, Vec<ConfigError>), LoadError> {
    let file = path.display().to_string();
    let raw: RawConfig = recover::parse_all(text, &file).map_err(LoadError::Invalid)?;
    let index = PositionIndex::build(text);
    let mut v = Validator {
        file: &file,
        index: &index,
        errors: Vec::new(),
        rule_errors: Vec::new(),
        warnings: Vec::new(),
    };
    let config = v.config(raw, path, env);
    v.errors.sort_by_key(|e| (e.line, e.col));
    v.errors.append(&mut v.rule_errors);
    v.warnings.sort_by_key(|e| (e.line, e.col));
    if v.errors.is_empty() {
        Ok((config, v.warnings))
    } else {
        Err(LoadError::Invalid(v.errors))
    }
}

impl Config {
    /// The reconcile policy for one account (its stream's silence timeout).
    pub fn policy_for(&self, account: &AccountConfig) -> Policy {
        Policy {
            stream_silence_after: account.link.stream.silence_timeout,
            ..self.policy.clone()
        }
    }
}

#[cfg(test)]
mod tests;
