//! Hyperliquid perpetuals, shared/venues/hyperliquid.md. So far: the L1
//! signing of a reduce-only IOC close and of `scheduleCancel` (`sign/`),
//! which the offline panic button uses, and the `/info` reads with the
//! worst-price rule (`parse.rs`); the stream, the REST client, the
//! simulator and the demo are issue `[hyperliquid]`'s next steps.

pub mod parse;
pub mod sign;
