//! The offline panic button on Nado: the exact `POST /v1/execute` body of
//! a reduce-only IOC from explicit inputs; no network.

use rust_decimal::Decimal;

use super::{parse, sign};
use crate::venue::types::OfflineOrder;

/// Signs a reduce-only IOC; the key must be the owner's (or, with
/// `linked`, is taken as the subaccount's linked signer).
pub fn signed(o: &OfflineOrder) -> Result<String, String> {
    let signer = sign::Signer::from_hex(o.key.trim()).map_err(|e| format!("{}: {e}", o.key_name))?;
    let owner: alloy_primitives::Address = o
        .address
        .parse()
        .map_err(|_| format!("--address {:?}: expected the owner, 0x and 40 hex digits", o.address))?;
    if !o.linked && signer.address() != owner {
        return Err(format!(
            "the key is {}'s, not the owner {}'s; not signing (a linked signer's key needs --linked)",
            signer.address(),
            owner
        ));
    }
    let (Some(product_id), Some(price), Some(nonce), Some(expiration)) =
        (o.product_id, o.price.as_deref(), o.nonce, o.expiration)
    else {
        return Err("offline Nado closes need --product-id, --price, --nonce and --expiration".into());
    };
    let sender = sign::subaccount(owner, &o.subaccount).map_err(|e| format!("--subaccount: {e}"))?;
    let (Ok(amount), Ok(price)) = (o.amount.parse::<Decimal>(), price.parse::<Decimal>()) else {
        return Err("--amount and --price must be decimals".into());
    };
    let amount = match o.side.as_str() {
        "bid" => amount.abs(),
        "ask" => -amount.abs(),
        other => return Err(format!("--side {other:?}: expected bid or ask")),
    };
    let (Ok(price_x18), Ok(amount_x18)) = (parse::to_x18(price), parse::to_x18(amount)) else {
        return Err("--amount or --price out of range".into());
    };
    let p = sign::OrderParams {
        chain_id: o.chain_id.unwrap_or(sign::MAINNET_CHAIN_ID),
        product_id,
        sender,
        price_x18,
        amount_x18,
        expiration,
        nonce,
        appendix: sign::appendix(sign::OrderType::Ioc, true, false),
    };
    sign::sign_order(&signer, &p).map(|signed| signed.body)
}
