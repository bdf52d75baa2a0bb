//! Hyperliquid perpetuals, shared/venues/hyperliquid.md. So far: the L1
//! signing of a reduce-only IOC close and of `scheduleCancel` (`sign/`),
//! which the offline panic button uses; the `/info` reads with the
//! worst-price rule (`parse.rs`); the REST client (`http.rs`) and the
//! stream task (`ws.rs`), exercised against `sim::hyperliquid`. The close
//! loop, the registry arm and the demo are issue `[hyperliquid]`'s next
//! steps.

pub mod account;
pub mod close;
pub mod http;
pub mod offline;
pub mod parse;
mod scan;
pub mod sign;
pub mod sim;
pub mod ws;
