//! What the config checks about a Binance USDⓈ-M account. The account is
//! named by its API key (`address:`); the close key is the key's secret.
//! HMAC secrets cannot be matched to their API key without asking the
//! venue, so only their shape is checked here.

use rust_decimal::Decimal;

use crate::venue::types::{AccountFields, FieldError};

pub const REST_URL: &str = super::sign::MAINNET;
/// User data flows only on the routed `/private` path (§1).
pub const WS_URL: &str = "wss://fstream.binance.com/private";
/// Why the ping interval is at most 30 s.
pub const PING_RULE: &str = "must be at most 30s: Binance drops a silent user data stream";
/// The venue-specific account fields it reads.
pub const FIELDS: &[&str] = &["api_secret", "query_share"];

/// What a Binance account needs beyond its API key.
#[derive(Debug, Clone)]
pub struct BinanceAccount {
    /// The part of the per-IP REST weight driftwatch may spend.
    pub rest_share: Decimal,
}

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

/// The account's Binance fields, checked.
pub fn from_fields(f: &AccountFields) -> Result<BinanceAccount, Vec<FieldError>> {
    let mut errors = Vec::new();
    if !f.api_secret {
        errors.push((
            "address",
            "a Binance account needs api_secret: the secret of its API key (address), to sign its reads".into(),
        ));
    }
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
    Ok(BinanceAccount { rest_share })
}
