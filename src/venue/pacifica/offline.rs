//! The offline panic button on Pacifica: a signed `create_market_order`
//! body from explicit inputs; no network.

use std::time::Duration;

use super::close::{signed_body, CloseParams};
use super::sign::Keypair;
use crate::venue::types::{CloseOrder, CloseRun, OfflineOrder, OrderSide};

/// Signs a reduce-only market close; refuses a key that is not the
/// account's unless `agent`.
pub fn signed(o: &OfflineOrder) -> Result<String, String> {
    let signer = Keypair::from_base58(o.key.trim()).map_err(|e| format!("{}: {e}", o.key_name))?;
    if !o.agent && signer.public_base58() != o.address {
        return Err(format!(
            "the key is {}'s, not the account {}'s; not signing (an agent wallet's key needs --agent)",
            signer.public_base58(),
            o.address
        ));
    }
    let side = match o.side.as_str() {
        "bid" => OrderSide::Bid,
        "ask" => OrderSide::Ask,
        other => return Err(format!("--side {other:?}: expected bid or ask")),
    };
    let (Ok(amount), Ok(slippage)) = (o.amount.parse(), o.slippage.parse()) else {
        return Err("--amount and --slippage must be decimals".into());
    };
    let order = CloseOrder {
        symbol: o.symbol.clone(),
        side,
        amount,
    };
    let params = CloseParams {
        account: &o.address,
        signer: &signer,
        agent: o.agent,
        slippage_percent: slippage,
        expiry_window_ms: o.expiry_window_ms,
        run: CloseRun {
            armed: false,
            max_attempts: 1,
            verify_timeout: Duration::ZERO,
        },
    };
    let cloid = o
        .client_order_id
        .clone()
        .unwrap_or_else(|| uuid::Uuid::new_v4().to_string());
    let ts = o.timestamp.unwrap_or_else(|| crate::clock::now().0 as u64);
    signed_body(&params, &order, &cloid, ts).map(|body| serde_json::Value::Object(body).to_string())
}
