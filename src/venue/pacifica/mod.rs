//! Pacifica (shared/venues/pacifica.md). Full-snapshot stream
//! (`account_positions`), REST `GET /positions` for verification, `/info` for
//! lot and tick sizes.

pub mod account;
pub mod close;
pub mod http;
pub mod models;
pub mod offline;
pub mod parse;
mod scan;
pub mod sign;
pub mod sim;
pub mod ws;
