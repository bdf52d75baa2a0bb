//! Nado's EIP-712 signing, as the official SDKs do it: typed data hashed by
//! `alloy-sol-types`, signed with secp256k1 (`k256`, RFC 6979 nonces, low-s),
//! `r ‖ s ‖ v` with `v ∈ {27, 28}`. The digest is signed directly (no EIP-191
//! prefix). Reproduces shared/venues/vectors/nado_signing.json byte for byte.
//!
//! `place_order` is verified against `address(product_id)`; every other
//! execute and the stream authentication against the Endpoint contract.

use alloy_primitives::{Address, B256, U256};
use alloy_sol_types::{sol, Eip712Domain, SolStruct};
use serde::Serialize;

pub use crate::venue::evm::{hex0x, recover, RecoverError, Signer};

sol! {
    struct Order {
        bytes32 sender;
        int128 priceX18;
        int128 amount;
        uint64 expiration;
        uint64 nonce;
        uint128 appendix;
    }

    struct CancellationProducts {
        bytes32 sender;
        uint32[] productIds;
        uint64 nonce;
    }

    struct StreamAuthentication {
        bytes32 sender;
        uint64 expiration;
    }
}

pub const MAINNET_CHAIN_ID: u64 = 57073;
pub const TESTNET_CHAIN_ID: u64 = 763373;
/// The Endpoint contracts (verifying contract of every execute but orders).
pub const MAINNET_ENDPOINT: &str = "0x05ec92D78ED421f3D3Ada77FFdE167106565974E";
pub const TESTNET_ENDPOINT: &str = "0x698D87105274292B5673367DEC81874Ce3633Ac2";

/// How an order may execute (appendix bits 9–10).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum OrderType {
    Default,
    Ioc,
    Fok,
    PostOnly,
}

/// The appendix (uint128): version 1, the isolated bit, the order type and
/// the reduce-only bit; everything else zero.
pub fn appendix(order_type: OrderType, reduce_only: bool, isolated: bool) -> u128 {
    let t: u128 = match order_type {
        OrderType::Default => 0,
        OrderType::Ioc => 1,
        OrderType::Fok => 2,
        OrderType::PostOnly => 3,
    };
    1 | (u128::from(isolated) << 8) | (t << 9) | (u128::from(reduce_only) << 11)
}

/// `(recv_time_ms << 20) + random`, `random < 2^20`: the engine discards the
/// order after `recv_time_ms`.
pub fn nonce(recv_time_ms: u64, random: u32) -> u64 {
    (recv_time_ms << 20) + u64::from(random & 0xF_FFFF)
}

/// The subaccount as bytes32: the owner's 20-byte address, then the name's
/// UTF-8 bytes right-padded with zeros to 12.
pub fn subaccount(owner: Address, name: &str) -> Result<B256, String> {
    let n = name.as_bytes();
    if n.len() > 12 {
        return Err(format!("subaccount name {name:?} is longer than 12 bytes"));
    }
    let mut b = [0u8; 32];
    b[..20].copy_from_slice(owner.as_slice());
    b[20..20 + n.len()].copy_from_slice(n);
    Ok(B256::from(b))
}

/// The product id as the order's verifying contract: 20 bytes, big-endian.
pub fn product_address(product_id: u32) -> Address {
    let mut a = [0u8; 20];
    a[16..].copy_from_slice(&product_id.to_be_bytes());
    Address::from(a)
}

pub fn domain(chain_id: u64, verifying_contract: Address) -> Eip712Domain {
    Eip712Domain::new(
        Some("Nado".into()),
        Some("0.0.1".into()),
        Some(U256::from(chain_id)),
        Some(verifying_contract),
        None,
    )
}

/// An order before signing, in the venue's units (x18 integers).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OrderParams {
    pub chain_id: u64,
    pub product_id: u32,
    pub sender: B256,
    pub price_x18: i128,
    /// Negative sells.
    pub amount_x18: i128,
    /// Unix seconds.
    pub expiration: u64,
    pub nonce: u64,
    pub appendix: u128,
}

/// A signed `place_order`, ready to send.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SignedOrder {
    pub digest: B256,
    pub signature: [u8; 65],
    /// The exact `POST /v1/execute` body.
    pub body: String,
}

#[derive(Serialize)]
struct PlaceOrderBody {
    place_order: PlaceOrder,
}

#[derive(Serialize)]
struct PlaceOrder {
    signature: String,
    product_id: u32,
    order: OrderJson,
}

/// Field order as the SDK sends it; every 64/128-bit integer a string.
#[derive(Serialize)]
struct OrderJson {
    sender: String,
    nonce: String,
    amount: String,
    #[serde(rename = "priceX18")]
    price_x18: String,
    expiration: String,
    appendix: String,
}

/// Signs `digest` and renders the request with the signature in it.
fn signed<B: Serialize>(signer: &Signer, digest: B256, body: impl FnOnce(String) -> B) -> Result<SignedOrder, String> {
    let signature = signer.sign_digest(digest)?;
    let body = serde_json::to_string(&body(hex0x(&signature))).map_err(|e| e.to_string())?;
    Ok(SignedOrder {
        digest,
        signature,
        body,
    })
}

pub fn order_digest(p: &OrderParams) -> B256 {
    let order = Order {
        sender: p.sender,
        priceX18: p.price_x18,
        amount: p.amount_x18,
        expiration: p.expiration,
        nonce: p.nonce,
        appendix: p.appendix,
    };
    order.eip712_signing_hash(&domain(p.chain_id, product_address(p.product_id)))
}

pub fn sign_order(signer: &Signer, p: &OrderParams) -> Result<SignedOrder, String> {
    signed(signer, order_digest(p), |sig| PlaceOrderBody {
        place_order: PlaceOrder {
            signature: sig,
            product_id: p.product_id,
            order: OrderJson {
                sender: hex0x(p.sender.as_slice()),
                nonce: p.nonce.to_string(),
                amount: p.amount_x18.to_string(),
                price_x18: p.price_x18.to_string(),
                expiration: p.expiration.to_string(),
                appendix: p.appendix.to_string(),
            },
        },
    })
}

#[derive(Serialize)]
struct CancelBody<'a> {
    cancel_product_orders: Cancel<'a>,
}

#[derive(Serialize)]
struct Cancel<'a> {
    tx: CancelTx<'a>,
    signature: String,
}

#[derive(Serialize)]
struct CancelTx<'a> {
    sender: String,
    nonce: String,
    #[serde(rename = "productIds")]
    product_ids: &'a [u32],
}

/// The EIP-712 digest of a `CancellationProducts` (Endpoint domain).
pub fn cancel_products_digest(chain_id: u64, endpoint: Address, sender: B256, product_ids: &[u32], nonce: u64) -> B256 {
    let tx = CancellationProducts {
        sender,
        productIds: product_ids.to_vec(),
        nonce,
    };
    tx.eip712_signing_hash(&domain(chain_id, endpoint))
}

/// A signed `cancel_product_orders` (verified against the Endpoint): the
/// digest, signature and exact body.
pub fn sign_cancel_product_orders(
    signer: &Signer,
    chain_id: u64,
    endpoint: Address,
    sender: B256,
    product_ids: &[u32],
    nonce: u64,
) -> Result<SignedOrder, String> {
    let digest = cancel_products_digest(chain_id, endpoint, sender, product_ids, nonce);
    signed(signer, digest, |sig| CancelBody {
        cancel_product_orders: Cancel {
            tx: CancelTx {
                sender: hex0x(sender.as_slice()),
                nonce: nonce.to_string(),
                product_ids,
            },
            signature: sig,
        },
    })
}

#[derive(Serialize)]
struct AuthFrame {
    method: &'static str,
    id: u64,
    tx: AuthTx,
    signature: String,
}

#[derive(Serialize)]
struct AuthTx {
    sender: String,
    expiration: String,
}

/// The subscriptions WebSocket's `authenticate` frame (verified against the
/// Endpoint); `expiration_ms` is in milliseconds.
pub fn sign_stream_authentication(
    signer: &Signer,
    chain_id: u64,
    endpoint: Address,
    sender: B256,
    expiration_ms: u64,
    id: u64,
) -> Result<SignedOrder, String> {
    let msg = StreamAuthentication {
        sender,
        expiration: expiration_ms,
    };
    signed(signer, msg.eip712_signing_hash(&domain(chain_id, endpoint)), |sig| {
        AuthFrame {
            method: "authenticate",
            id,
            tx: AuthTx {
                sender: hex0x(sender.as_slice()),
                expiration: expiration_ms.to_string(),
            },
            signature: sig,
        }
    })
}

#[cfg(test)]
mod tests;
