//! What a Nado account needs beyond the owner address, and what the config
//! checks about it.

use rust_decimal::Decimal;

use super::sign;
use crate::venue::types::{AccountFields, FieldError};

pub const REST_URL: &str = "https://gateway.prod.nado.xyz/v1";
pub const WS_URL: &str = "wss://gateway.prod.nado.xyz/v1/subscribe";
/// Why the ping interval is at most 30 s.
pub const PING_RULE: &str = "must be at most 30s: Nado requires a ping frame at least every 30s";
/// The venue-specific account fields it reads.
pub const FIELDS: &[&str] = &["subaccount", "chain_id", "endpoint", "query_share"];

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

/// The owner: an EVM address.
pub fn check_address(address: &str) -> Result<(), String> {
    address
        .parse::<alloy_primitives::Address>()
        .map(|_| ())
        .map_err(|_| format!("invalid Nado owner address {address:?}: expected 0x and 40 hex digits"))
}

/// The close key is the owner's, or (`agent`) the subaccount's linked signer.
pub fn check_close_key(key: &str, address: &str, agent: bool) -> Result<(), String> {
    let k = sign::Signer::from_hex(key)?;
    if !agent && !k.address().to_string().eq_ignore_ascii_case(address) {
        return Err(format!(
            "the key's address is {}, not the owner {address} (set agent: true for the subaccount's linked signer)",
            k.address()
        ));
    }
    Ok(())
}

/// The account's Nado fields, checked.
pub fn from_fields(f: &AccountFields) -> Result<NadoAccount, Vec<FieldError>> {
    let mut errors = Vec::new();
    let chain_id = f.chain_id.unwrap_or(sign::MAINNET_CHAIN_ID);
    let endpoint = match (&f.endpoint, chain_id) {
        (Some(e), _) => e.clone(),
        (None, sign::MAINNET_CHAIN_ID) => sign::MAINNET_ENDPOINT.to_owned(),
        (None, sign::TESTNET_CHAIN_ID) => sign::TESTNET_ENDPOINT.to_owned(),
        (None, other) => {
            return Err(vec![(
                "chain_id",
                format!("chain {other} is neither Ink mainnet (57073) nor testnet (763373): set endpoint too"),
            )]);
        }
    };
    if endpoint.parse::<alloy_primitives::Address>().is_err() {
        errors.push((
            "endpoint",
            format!("invalid Endpoint address {endpoint:?}: expected 0x and 40 hex digits"),
        ));
    }
    let name = f.subaccount.clone().unwrap_or_else(|| "default".into());
    // A bad owner address is reported once, by `check_address`.
    let owner = f
        .address
        .parse::<alloy_primitives::Address>()
        .map_err(|_| errors.clone())?;
    let subaccount = match sign::subaccount(owner, &name) {
        Ok(s) => sign::hex0x(s.as_slice()),
        Err(e) => {
            errors.push(("subaccount", e));
            return Err(errors);
        }
    };
    let query_share = f.query_share.unwrap_or(Decimal::new(25, 2));
    if query_share <= Decimal::ZERO || query_share > Decimal::ONE {
        errors.push((
            "query_share",
            "must be above 0 and at most 1 (the bot shares the per-IP limit)".into(),
        ));
    }
    if !errors.is_empty() {
        return Err(errors);
    }
    Ok(NadoAccount {
        subaccount,
        chain_id,
        endpoint: endpoint.to_ascii_lowercase(),
        query_share,
    })
}
