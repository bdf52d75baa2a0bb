//! The offline panic button on Binance USDⓈ-M: the exact signed
//! `POST /fapi/v1/order` of a reduce-only MARKET close from explicit
//! inputs; no network. One-way mode sends `reduceOnly=true`; hedge mode
//! (`--position-side LONG|SHORT`) sends the leg instead.

use rust_decimal::Decimal;
use serde_json::json;

use super::sign::{self, Close, PositionSide};
use crate::venue::types::OfflineOrder;

/// The request as JSON: method, URL (signature last), what was signed,
/// the signature, and the API key header.
pub fn signed(o: &OfflineOrder) -> Result<String, String> {
    super::account::check_close_key(&o.key).map_err(|e| format!("{}: {e}", o.key_name))?;
    super::account::check_address(&o.address).map_err(|e| format!("--address: {e}"))?;
    let position_side = match o.position_side.as_deref() {
        None => None,
        Some("LONG") => Some(PositionSide::Long),
        Some("SHORT") => Some(PositionSide::Short),
        Some(other) => return Err(format!("--position-side {other:?}: expected LONG or SHORT")),
    };
    let buy = match o.side.as_str() {
        "bid" => true,
        "ask" => false,
        other => return Err(format!("--side {other:?}: expected bid or ask")),
    };
    let quantity: Decimal = o.amount.parse().map_err(|_| "--amount must be a decimal")?;
    let client_order_id = o
        .client_order_id
        .clone()
        .ok_or("offline Binance closes need --client-order-id (one per intent)")?;
    let base = match o.network.as_str() {
        "mainnet" => sign::MAINNET,
        "testnet" => sign::TESTNET,
        other => return Err(format!("--network {other:?}: expected mainnet or testnet")),
    };
    let params = sign::close_params(&Close {
        symbol: o.symbol.clone(),
        buy,
        quantity: quantity.abs(),
        position_side,
        client_order_id,
        resp_type: o.resp_type.clone(),
    })?;
    let timestamp = o.timestamp.unwrap_or_else(|| crate::clock::now().0 as u64);
    let s = sign::sign(
        o.key.trim(),
        "POST",
        "/fapi/v1/order",
        params,
        o.expiry_window_ms,
        timestamp,
    );
    Ok(json!({
        "method": s.method,
        "url": s.url(base),
        "signed_string": s.signed_string,
        "signature": s.signature,
        "headers": {sign::API_KEY_HEADER: o.address},
    })
    .to_string())
}
