//! driftwatch: a sidecar that keeps a trading bot's idea of its positions
//! equal to the exchange's.
//!
//! Codemap (pure modules first; they import no tokio, sqlx, reqwest or lettre):
//! - [`domain`]: venues, position keys, signed `Decimal` sizes, timestamps.
//! - [`view`]: driftwatch's own stream view of an account, and its trust.
//! - [`reconcile`]: stream vs REST vs bot DB, per key, with hysteresis.
//! - [`config`]: YAML config, strictly validated, errors as `file:line:col`.
//!
//! The shell:
//! - [`venue`]: one folder per exchange (adapter and simulator), all the same shape.
//! - [`botdb`]: reads the bot's positions table through a validated mapping.
//! - [`metrics`], [`http`]: Prometheus registry and the HTTP endpoints.
//! - [`app`]: starts and supervises the tasks; it publishes a [`snapshot`]
//!   after every input, which [`table`] renders and [`http`] serves.
//! - [`cli`]: the command line.

pub mod actions;
pub mod app;
pub mod botdb;
pub mod cli;
pub mod clock;
pub mod config;
pub mod demo;
pub mod domain;
pub mod http;
pub mod journal;
pub mod leader;
pub mod metrics;
pub mod notify;
pub mod panic_button;
pub mod plan;
pub mod reconcile;
pub mod record;
pub mod replay;
pub mod rules;
pub mod secret;
pub mod snapshot;
pub mod sorted;
pub mod status;
pub mod table;
pub mod venue;
pub mod view;
pub(crate) mod walk;
