//! Binance USDⓈ-M futures, shared/venues/binance_usdm.md: HMAC-SHA256
//! request signing (`sign.rs`, every shared vector reproduced), the answers
//! read exactly (`parse.rs`: positionRisk v3 with hedge legs, exchangeInfo,
//! ACCOUNT_UPDATE, order replies and refusal codes), the REST client
//! (`http.rs`), the user data stream with its listenKey (`ws.rs`), its side
//! of the close loop (`close.rs`), the offline panic button (`offline.rs`),
//! what the config checks (`account.rs`) and the simulator (`sim.rs`).

pub mod account;
pub mod close;
pub mod http;
pub mod offline;
pub mod parse;
pub mod sign;
pub mod sim;
pub mod ws;
