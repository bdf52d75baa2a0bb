//! Hyperliquid L1-action signing, byte for byte as the official SDK does it
//! (shared/venues/hyperliquid.md §6; every shared vector reproduced in the
//! tests below and through `driftwatch close --offline --venue hyperliquid`).
//!
//! 1. The action is an ordered map: order wire `a, b, p, s, r, t[, c]`,
//!    order action `type, orders, grouping`, `scheduleCancel` `type[, time]`;
//!    optional keys are omitted, never null. It is msgpack'd as Python's
//!    `msgpack.packb` does (maps in field order, smallest integers).
//! 2. Hash input: msgpack ‖ nonce (u64 BE) ‖ `00` or `01` ‖ vault (20 bytes)
//!    ‖ [`00` ‖ expiresAfter (u64 BE)]; `connectionId` = keccak256 of it.
//! 3. The "phantom agent" `Agent { source, connectionId }` (source `a` on
//!    mainnet, `b` on testnet) is signed as EIP-712 typed data in the
//!    domain `Exchange` / `1` / chain 1337 / the zero address, with the
//!    master key or its approved agent's: RFC 6979, low s, v = 27 + id.
//!
//! Pure: no I/O, no clock. Prices and sizes are decimals, never floats.

use alloy_primitives::{keccak256, Address, B256, U256};
use alloy_sol_types::{eip712_domain, sol, Eip712Domain, SolStruct};
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};

use crate::venue::evm::Signer;

sol! {
    /// The phantom agent every L1 action is signed as.
    struct Agent {
        string source;
        bytes32 connectionId;
    }
}

/// Which Hyperliquid: it enters only the phantom agent's `source`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Network {
    Mainnet,
    Testnet,
}

impl Network {
    pub fn source(self) -> &'static str {
        match self {
            Network::Mainnet => "a",
            Network::Testnet => "b",
        }
    }

    /// Where the signed body is posted.
    pub fn exchange_url(self) -> &'static str {
        match self {
            Network::Mainnet => "https://api.hyperliquid.xyz/exchange",
            Network::Testnet => "https://api.hyperliquid-testnet.xyz/exchange",
        }
    }
}

/// The L1 domain: the same constant on every network.
pub fn domain() -> Eip712Domain {
    eip712_domain! {
        name: "Exchange",
        version: "1",
        chain_id: 1337,
        verifying_contract: Address::ZERO,
    }
}

/// A price or size as the wire wants it: at most 8 decimals, trailing
/// zeros and the point dropped, no exponent, `-0` as `0` (the SDK's
/// `float_to_wire`, which refuses what 8 decimals cannot hold; so does this).
pub fn to_wire(d: Decimal) -> Result<String, String> {
    if d.round_dp(8) != d {
        return Err(format!("{d} has more than 8 decimals"));
    }
    let n = d.normalize();
    Ok(if n.is_zero() { "0".to_owned() } else { n.to_string() })
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct Limit {
    pub tif: String,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct OrderType {
    pub limit: Limit,
}

/// One order, in the SDK's field order.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct OrderWire {
    /// The asset index (the coin's position in `meta`'s universe).
    pub a: u32,
    /// Buy?
    pub b: bool,
    pub p: String,
    pub s: String,
    /// Reduce-only?
    pub r: bool,
    pub t: OrderType,
    /// The client order id, `0x` + 32 lowercase hex.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub c: Option<String>,
}

/// An L1 action.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
#[serde(untagged)]
pub enum Action {
    Order(OrderAction),
    ScheduleCancel(ScheduleCancel),
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct OrderAction {
    #[serde(rename = "type")]
    pub kind: String,
    pub orders: Vec<OrderWire>,
    pub grouping: String,
}

/// The dead-man switch: cancel every open order at `time` (ms), or clear
/// it (no `time` key at all).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct ScheduleCancel {
    #[serde(rename = "type")]
    pub kind: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub time: Option<u64>,
}

/// What a reduce-only IOC close needs (sizes already floored to the
/// asset's size decimals, the price already the worst acceptable).
#[derive(Debug, Clone)]
pub struct CloseOrder {
    pub asset: u32,
    pub is_buy: bool,
    pub price: Decimal,
    pub size: Decimal,
    pub cloid: String,
}

impl Action {
    /// A reduce-only IOC limit order at a worst price, with its cloid.
    pub fn close(o: &CloseOrder) -> Result<Action, String> {
        let cloid = o.cloid.to_ascii_lowercase();
        let hex = cloid.strip_prefix("0x").unwrap_or("");
        if hex.len() != 32 || !hex.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(format!("a cloid is 0x and 32 hex digits, not {:?}", o.cloid));
        }
        if o.size <= Decimal::ZERO || o.price <= Decimal::ZERO {
            return Err("a close needs a positive size and price".into());
        }
        Ok(Action::Order(OrderAction {
            kind: "order".into(),
            orders: vec![OrderWire {
                a: o.asset,
                b: o.is_buy,
                p: to_wire(o.price)?,
                s: to_wire(o.size)?,
                r: true,
                t: OrderType {
                    limit: Limit { tif: "Ioc".into() },
                },
                c: Some(cloid),
            }],
            grouping: "na".into(),
        }))
    }

    pub fn schedule_cancel(time: Option<u64>) -> Action {
        Action::ScheduleCancel(ScheduleCancel {
            kind: "scheduleCancel".into(),
            time,
        })
    }

    /// msgpack, as Python's `msgpack.packb` writes it.
    pub fn msgpack(&self) -> Result<Vec<u8>, String> {
        rmp_serde::to_vec_named(self).map_err(|e| format!("msgpack: {e}"))
    }
}

/// Everything about one signature besides the key.
#[derive(Debug, Clone)]
pub struct Signing {
    pub nonce: u64,
    /// A sub-account or vault traded for by the signer.
    pub vault: Option<Address>,
    pub expires_after: Option<u64>,
    pub network: Network,
}

/// The bytes the action hash is taken over.
pub fn hash_input(action: &Action, s: &Signing) -> Result<Vec<u8>, String> {
    let mut out = action.msgpack()?;
    out.extend_from_slice(&s.nonce.to_be_bytes());
    match s.vault {
        None => out.push(0),
        Some(v) => {
            out.push(1);
            out.extend_from_slice(v.as_slice());
        }
    }
    if let Some(t) = s.expires_after {
        out.push(0);
        out.extend_from_slice(&t.to_be_bytes());
    }
    Ok(out)
}

/// `connectionId`: keccak256 of the hash input.
pub fn action_hash(action: &Action, s: &Signing) -> Result<B256, String> {
    Ok(keccak256(hash_input(action, s)?))
}

/// The EIP-712 digest the key signs.
pub fn digest(action: &Action, s: &Signing) -> Result<B256, String> {
    let agent = Agent {
        source: s.network.source().to_owned(),
        connectionId: action_hash(action, s)?,
    };
    Ok(agent.eip712_signing_hash(&domain()))
}

/// `{r, s, v}` as the SDK sends it: r and s as hex numbers without zero
/// padding.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct Signature {
    pub r: String,
    pub s: String,
    pub v: u8,
}

/// The body posted to `/exchange`, in the SDK's key order.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Body {
    pub action: Action,
    pub nonce: u64,
    pub signature: Signature,
    #[serde(rename = "vaultAddress")]
    pub vault_address: Option<String>,
    #[serde(rename = "expiresAfter")]
    pub expires_after: Option<u64>,
}

/// Signs `action` with `signer` (the master or its agent).
pub fn sign(signer: &Signer, action: Action, s: &Signing) -> Result<Body, String> {
    let sig = signer.sign_digest(digest(&action, s)?)?;
    let number = |b: &[u8]| format!("{:#x}", U256::from_be_slice(b));
    Ok(Body {
        action,
        nonce: s.nonce,
        signature: Signature {
            r: number(&sig[..32]),
            s: number(&sig[32..64]),
            v: sig[64],
        },
        vault_address: s.vault.map(|v| format!("{v:#x}")),
        expires_after: s.expires_after,
    })
}

#[cfg(test)]
mod tests;
