//! What the config checks about a Pacifica account.

use super::sign::Keypair;

pub const REST_URL: &str = "https://api.pacifica.fi/api/v1";
pub const WS_URL: &str = "wss://ws.pacifica.fi/ws";
/// Why the ping interval is at most 30 s.
pub const PING_RULE: &str = "must be at most 30s: Pacifica closes connections silent for 60s";
/// The venue-specific account fields it reads.
pub const FIELDS: &[&str] = &[];

/// The main account: a base58 Ed25519 public key.
pub fn check_address(address: &str) -> Result<(), String> {
    match bs58::decode(address).into_vec() {
        Ok(bytes) if bytes.len() == 32 => Ok(()),
        _ => Err(format!(
            "invalid Pacifica account {address:?}: expected a base58 Ed25519 public key (32 bytes)"
        )),
    }
}

/// The close key is the account's, or (`agent`) an agent wallet bound to it.
pub fn check_close_key(key: &str, address: &str, agent: bool) -> Result<(), String> {
    let k = Keypair::from_base58(key).map_err(|e| e.to_string())?;
    if !agent && k.public_base58() != address {
        return Err(format!(
            "the key's public key is not {address} (set agent: true for an agent wallet bound to it)"
        ));
    }
    Ok(())
}
