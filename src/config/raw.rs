//! The config file as written: the YAML's shape, strict (`deny_unknown_fields`),
//! before any check of what it means (`validate.rs`).

use std::path::PathBuf;

use rust_decimal::Decimal;
use serde::Deserialize;

use crate::botdb::api::ApiAuth;
use crate::botdb::raw::RawMapping;
use crate::domain::VenueKind;
use crate::plan::Mode;

use super::duration::Dur;
use super::secret::SecretSource;
use super::{LogFormat, SmtpTls};

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawConfig {
    #[serde(default)]
    pub(super) listen: Option<String>,
    #[serde(default)]
    pub(super) log: RawLog,
    #[serde(default)]
    pub(super) intervals: RawIntervals,
    #[serde(default)]
    pub(super) reconcile: RawReconcile,
    /// Needed unless every account reads its bot over `bot_api`.
    pub(super) bot_db: Option<RawBotDb>,
    #[serde(default)]
    pub(super) journal: RawJournal,
    #[serde(default)]
    pub(super) rules: RawRules,
    #[serde(default)]
    pub(super) closes: RawCloses,
    #[serde(default)]
    pub(super) notify: RawNotify,
    /// Two replicas, one acts (on the journal's PostgreSQL).
    pub(super) leadership: Option<RawLeadership>,
    pub(super) accounts: Vec<RawAccount>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawLeadership {
    /// Replicas of one deployment share it (default `driftwatch`).
    pub(super) scope: Option<String>,
    /// A standby takes over once the leader has been silent this long.
    pub(super) takeover_after: Option<Dur>,
    /// A Kubernetes Lease decides who leads, instead of the PostgreSQL lock.
    pub(super) lease: Option<RawLease>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawLease {
    pub(super) name: Option<String>,
    pub(super) namespace: Option<String>,
    pub(super) api_url: Option<String>,
    pub(super) token_file: Option<PathBuf>,
    pub(super) ca_file: Option<PathBuf>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawNotify {
    pub(super) email: Option<RawEmail>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawEmail {
    /// `host:port` of the SMTP server.
    pub(super) smtp: String,
    pub(super) tls: Option<SmtpTls>,
    pub(super) username: Option<String>,
    pub(super) password: Option<SecretSource>,
    /// An extra trusted root (PEM), e.g. a private CA.
    pub(super) ca_file: Option<PathBuf>,
    pub(super) timeout: Option<Dur>,
    pub(super) from: String,
    pub(super) to: Vec<String>,
    pub(super) repeat_interval: Option<Dur>,
    pub(super) max_per_hour: Option<u32>,
    pub(super) queue: Option<usize>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawRules {
    /// Relative to the config file.
    pub(super) dir: Option<PathBuf>,
    pub(super) reload_interval: Option<Dur>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawCloses {
    pub(super) max_per_hour: Option<u32>,
    pub(super) max_notional_usd: Option<Decimal>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawJournal {
    pub(super) url: Option<SecretSource>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawCorrect {
    pub(super) mode: Option<Mode>,
    pub(super) insert: Option<bool>,
    pub(super) adopt: Option<bool>,
    pub(super) confirmations: Option<u32>,
    pub(super) settle: Option<Dur>,
    pub(super) max_rows: Option<usize>,
    pub(super) max_fraction: Option<Decimal>,
    pub(super) archive_table: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawLog {
    pub(super) format: Option<LogFormat>,
    pub(super) level: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawIntervals {
    pub(super) rest_poll: Option<Dur>,
    pub(super) db_poll: Option<Dur>,
    pub(super) markets_refresh: Option<Dur>,
    pub(super) reconcile: Option<Dur>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawReconcile {
    pub(super) confirm_polls: Option<u32>,
    pub(super) confirm_after: Option<Dur>,
    pub(super) rest_stale_after: Option<Dur>,
    pub(super) db_stale_after: Option<Dur>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawBotDb {
    pub(super) url: SecretSource,
    pub(super) timeout: Option<Dur>,
    pub(super) max_connections: Option<u32>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawAccount {
    pub(super) name: String,
    pub(super) venue: VenueKind,
    pub(super) address: String,
    pub(super) rest_url: Option<String>,
    pub(super) ws_url: Option<String>,
    pub(super) api_key: Option<SecretSource>,
    /// Binance: the secret of the API key the account is named by, to sign
    /// its reads.
    pub(super) api_secret: Option<SecretSource>,
    /// Nado: the subaccount name (12 bytes at most; default "default").
    pub(super) subaccount: Option<String>,
    /// Nado: the chain id the gateway must report (default: Ink mainnet).
    pub(super) chain_id: Option<u64>,
    /// Nado: the Endpoint contract the gateway must report.
    pub(super) endpoint: Option<String>,
    /// Nado, Hyperliquid: the share of the per-IP request limit driftwatch
    /// may use (the bot on the same host has the rest).
    pub(super) query_share: Option<Decimal>,
    /// Hyperliquid: mainnet (default) or testnet.
    pub(super) network: Option<String>,
    /// Hyperliquid: the address is a sub-account or vault, traded for by
    /// the close key's master (or its agent) with `vaultAddress`.
    pub(super) vault: Option<bool>,
    #[serde(default)]
    pub(super) stream: RawStream,
    /// The bot's table in `bot_db` (or, beside `bot_api`, its symbols).
    pub(super) mapping: Option<RawMapping>,
    /// The bot read over its HTTP API instead of its database.
    pub(super) bot_api: Option<RawBotApi>,
    #[serde(default)]
    pub(super) correct: RawCorrect,
    pub(super) close: Option<RawClose>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawBotApi {
    pub(super) url: String,
    /// The bot: `freqtrade` (its mapping preset, for the symbols).
    pub(super) preset: String,
    pub(super) username: String,
    pub(super) password: SecretSource,
    /// `jwt` (default: Freqtrade's token login) or `basic`.
    pub(super) auth: Option<ApiAuth>,
    pub(super) timeout: Option<Dur>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawClose {
    pub(super) key: SecretSource,
    #[serde(default)]
    pub(super) agent: bool,
    #[serde(default)]
    pub(super) armed: bool,
    pub(super) slippage_percent: Option<Decimal>,
    pub(super) max_attempts: Option<u32>,
    pub(super) verify_timeout: Option<Dur>,
    pub(super) expiry_window: Option<Dur>,
    pub(super) cancel_orders_first: Option<bool>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawStream {
    pub(super) ping_interval: Option<Dur>,
    pub(super) ack_timeout: Option<Dur>,
    pub(super) silence_timeout: Option<Dur>,
    pub(super) max_connection_age: Option<Dur>,
    pub(super) backoff_initial: Option<Dur>,
    pub(super) backoff_max: Option<Dur>,
    pub(super) rest_timeout: Option<Dur>,
}
