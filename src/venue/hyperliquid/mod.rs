//! Hyperliquid perpetuals, shared/venues/hyperliquid.md. So far the L1
//! signing of a reduce-only IOC close and of `scheduleCancel` (`sign/`),
//! which the offline panic button uses; the stream, REST client, simulator
//! and demo are issue `[hyperliquid]`'s next steps.

pub mod sign;
