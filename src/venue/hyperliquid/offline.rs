//! The offline panic button on Hyperliquid: the exact `POST /exchange`
//! body of a reduce-only IOC from explicit inputs; no network.

use rust_decimal::Decimal;

use super::sign;
use crate::venue::types::OfflineOrder;

/// Signs a reduce-only IOC as an L1 action; the key must be the account's
/// (or, with `agent`, is taken as its approved API wallet).
pub fn signed(o: &OfflineOrder) -> Result<String, String> {
    let signer = crate::venue::evm::Signer::from_hex(o.key.trim()).map_err(|e| format!("{}: {e}", o.key_name))?;
    let account: alloy_primitives::Address = o.address.parse().map_err(|_| {
        format!(
            "--address {:?}: expected the master account, 0x and 40 hex digits",
            o.address
        )
    })?;
    if !o.agent && signer.address() != account {
        return Err(format!(
            "the key is {}'s, not the account {}'s; not signing (an approved API wallet's key needs --agent)",
            signer.address(),
            account
        ));
    }
    let (Some(asset), Some(price), Some(nonce)) = (o.asset, o.price.as_deref(), o.nonce) else {
        return Err("offline Hyperliquid closes need --asset, --price and --nonce".into());
    };
    let (Ok(size), Ok(price)) = (o.amount.parse::<Decimal>(), price.parse::<Decimal>()) else {
        return Err("--amount and --price must be decimals".into());
    };
    let is_buy = match o.side.as_str() {
        "bid" => true,
        "ask" => false,
        other => return Err(format!("--side {other:?}: expected bid or ask")),
    };
    let network = match o.network.as_str() {
        "mainnet" => sign::Network::Mainnet,
        "testnet" => sign::Network::Testnet,
        other => return Err(format!("--network {other:?}: expected mainnet or testnet")),
    };
    let vault = match o.vault.as_deref() {
        None => None,
        Some(v) => Some(
            v.parse::<alloy_primitives::Address>()
                .map_err(|_| format!("--vault {v:?}: expected 0x and 40 hex digits"))?,
        ),
    };
    let cloid = o
        .client_order_id
        .clone()
        .ok_or("offline Hyperliquid closes need --client-order-id (0x and 32 hex digits)")?;
    let action = sign::Action::close(&sign::CloseOrder {
        asset,
        is_buy,
        price,
        size: size.abs(),
        cloid,
    })?;
    let signing = sign::Signing {
        nonce,
        vault,
        expires_after: o.expires_after,
        network,
    };
    let body = sign::sign(&signer, action, &signing)?;
    serde_json::to_string(&body).map_err(|e| e.to_string())
}
