//! Nado (Ink), shared/venues/nado.md. Per-key stream (`position_change`,
//! absolute x18 amounts, nothing replayed after a reconnect) over a
//! permessage-deflate WebSocket; REST `subaccount_info` + `isolated_positions`
//! for verification; EIP-712 signed reduce-only IOC closes.

pub mod account;
pub mod close;
pub mod http;
pub mod limits;
pub mod models;
pub mod offline;
pub mod parse;
pub mod price;
pub mod sign;
pub mod sim;
pub mod ws;
