//! What a Nado account needs beyond the owner address (from the config).

use rust_decimal::Decimal;

/// What a Nado account needs beyond the owner address.
#[derive(Debug, Clone)]
pub struct NadoAccount {
    /// `0x` + 64 lowercase hex: owner ‖ name.
    pub subaccount: String,
    pub chain_id: u64,
    /// Lowercase `0x` hex.
    pub endpoint: String,
    pub query_share: Decimal,
}
