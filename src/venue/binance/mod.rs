//! Binance USDⓈ-M futures, shared/venues/binance_usdm.md. So far: HMAC-SHA256
//! request signing (`sign.rs`, every shared vector reproduced), the offline
//! panic button's reduce-only close in one-way and hedge mode
//! (`offline.rs`), and what the config checks (`account.rs`: an account is
//! not watched yet, and says so). The user data stream, the REST reads, the
//! close loop and the simulator are issue `[binance]`'s next steps.

pub mod account;
pub mod close;
pub mod http;
pub mod offline;
pub mod parse;
pub mod sign;
pub mod sim;
