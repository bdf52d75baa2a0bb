//! What the config checks about a Binance USDⓈ-M account. The account is
//! named by its API key (`address:`); the close key is the key's secret.
//! HMAC secrets cannot be matched to their API key without asking the
//! venue, so only their shape is checked here.

use crate::venue::types::{AccountFields, FieldError};

pub const REST_URL: &str = super::sign::MAINNET;
/// User data flows only on the routed `/private` path (§1).
pub const WS_URL: &str = "wss://fstream.binance.com/private";
/// Why the ping interval is at most 30 s.
pub const PING_RULE: &str = "must be at most 30s: Binance drops a silent user data stream";
/// The venue-specific account fields it reads.
pub const FIELDS: &[&str] = &[];

fn key_shaped(s: &str) -> bool {
    s.len() == 64 && s.bytes().all(|b| b.is_ascii_alphanumeric())
}

/// The account's API key: 64 letters and digits.
pub fn check_address(address: &str) -> Result<(), String> {
    if key_shaped(address) {
        Ok(())
    } else {
        Err("invalid Binance account: expected its API key, 64 letters and digits".into())
    }
}

/// The API secret: 64 letters and digits.
pub fn check_close_key(key: &str) -> Result<(), String> {
    if key_shaped(key.trim()) {
        Ok(())
    } else {
        Err("invalid Binance API secret: expected 64 letters and digits".into())
    }
}

/// Not watched yet: the account is refused with the reason.
pub fn from_fields(_: &AccountFields) -> Result<(), Vec<FieldError>> {
    Err(vec![(
        "venue",
        "binance is not watched yet: so far only `driftwatch close --offline --venue binance` signs for it".into(),
    )])
}
