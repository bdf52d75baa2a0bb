//! What a Hyperliquid account needs beyond its address, and what the
//! config checks about it.

use rust_decimal::Decimal;

use super::sign::Network;
use crate::venue::types::{AccountFields, FieldError};

pub const REST_URL: &str = "https://api.hyperliquid.xyz";
pub const WS_URL: &str = "wss://api.hyperliquid.xyz/ws";
/// Why the ping interval is at most 30 s.
pub const PING_RULE: &str = "must be at most 30s: Hyperliquid closes connections silent for 60s";
/// The venue-specific account fields it reads.
pub const FIELDS: &[&str] = &["network", "vault", "query_share"];

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

/// The master, sub-account or vault: an EVM address.
pub fn check_address(address: &str) -> Result<(), String> {
    address.parse::<alloy_primitives::Address>().map(|_| ()).map_err(|_| {
        format!(
            "invalid Hyperliquid account {address:?}: expected 0x and 40 hex digits (the master, sub-account or vault, never an API wallet)"
        )
    })
}

/// The close key is the account's, or (`agent`) its API wallet, or, for a
/// sub-account or vault (`vault`), its master's (which no key shows).
pub fn check_close_key(key: &str, address: &str, agent: bool, vault: bool) -> Result<(), String> {
    let k = crate::venue::evm::Signer::from_hex(key)?;
    if !agent && !vault && !k.address().to_string().eq_ignore_ascii_case(address) {
        return Err(format!(
            "the key's address is {}, not the account {address} (set agent: true for its API wallet, or vault: true on the account for a sub-account or vault)",
            k.address()
        ));
    }
    Ok(())
}

/// The account's Hyperliquid fields, checked.
pub fn from_fields(f: &AccountFields) -> Result<HyperliquidAccount, Vec<FieldError>> {
    let mut errors = Vec::new();
    let network = match f.network.as_deref() {
        None | Some("mainnet") => Network::Mainnet,
        Some("testnet") => Network::Testnet,
        Some(other) => {
            errors.push(("network", format!("unknown network {other:?}: mainnet or testnet")));
            Network::Mainnet
        }
    };
    let rest_share = f.query_share.unwrap_or(Decimal::new(25, 2));
    if rest_share <= Decimal::ZERO || rest_share > Decimal::ONE {
        errors.push((
            "query_share",
            "must be above 0 and at most 1 (the bot shares the per-IP limit)".into(),
        ));
    }
    if !errors.is_empty() {
        return Err(errors);
    }
    Ok(HyperliquidAccount {
        network,
        vault: f.vault.unwrap_or(false),
        rest_share,
    })
}
