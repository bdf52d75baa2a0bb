//! What a Hyperliquid account needs beyond its address (from the config).

use rust_decimal::Decimal;

use super::sign::Network;

/// What a Hyperliquid account needs beyond its address.
#[derive(Debug, Clone)]
pub struct HyperliquidAccount {
    /// Which chain the signatures are for (only the phantom agent's source).
    pub network: Network,
    /// The address is a sub-account or vault: closes are signed by its
    /// master (or the master's agent) with `vaultAddress` set to it.
    pub vault: bool,
    /// The part of the per-IP REST weight driftwatch may spend; the bot on
    /// the same host has the rest.
    pub rest_share: Decimal,
}
