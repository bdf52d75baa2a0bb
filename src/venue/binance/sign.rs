//! Binance's request signing (binance_usdm.md §6): the signature is the
//! lowercase hex HMAC-SHA256, keyed by the API secret, of the exact
//! url-encoded parameter string that is sent, appended as the last
//! parameter. Parameter order is free but signed; driftwatch sends the
//! order of Binance's own connector (`binance-futures-connector`): the
//! call's parameters, then `recvWindow` and `timestamp`, all in the query.
//! Method and path are not signed. Pure.

use hmac::{Hmac, Mac};
use rust_decimal::Decimal;
use sha2::Sha256;

pub const MAINNET: &str = "https://fapi.binance.com";
pub const TESTNET: &str = "https://demo-fapi.binance.com";
/// The header the API key goes in.
pub const API_KEY_HEADER: &str = "X-MBX-APIKEY";

/// Lowercase hex HMAC-SHA256 of `payload` keyed by `secret`.
pub fn signature(secret: &str, payload: &str) -> String {
    // HMAC takes a key of any length: this cannot fail.
    let mut mac = match Hmac::<Sha256>::new_from_slice(secret.as_bytes()) {
        Ok(m) => m,
        Err(_) => return String::new(),
    };
    mac.update(payload.as_bytes());
    mac.finalize().into_bytes().iter().map(|b| format!("{b:02x}")).collect()
}

/// `application/x-www-form-urlencoded` for one value (as Python's
/// `urlencode`; `@` left as is, as the connector does).
fn encode(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    for b in value.bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' | b'@' => out.push(b as char),
            b' ' => out.push('+'),
            _ => out.push_str(&format!("%{b:02X}")),
        }
    }
    out
}

/// The parameters in the given order, url-encoded.
pub fn query(params: &[(&str, String)]) -> String {
    params
        .iter()
        .map(|(k, v)| format!("{k}={}", encode(v)))
        .collect::<Vec<_>>()
        .join("&")
}

/// A signed request, as it goes on the wire.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Signed {
    pub method: &'static str,
    pub path: &'static str,
    /// What was signed: the query, in the order sent.
    pub signed_string: String,
    pub signature: String,
}

impl Signed {
    /// The full URL, the signature last.
    pub fn url(&self, base: &str) -> String {
        format!(
            "{}{}?{}&signature={}",
            base.trim_end_matches('/'),
            self.path,
            self.signed_string,
            self.signature
        )
    }
}

/// Signs `params` (already in the order to send), then `recvWindow` and
/// `timestamp`, for `method path`.
pub fn sign(
    secret: &str,
    method: &'static str,
    path: &'static str,
    mut params: Vec<(&str, String)>,
    recv_window: u64,
    timestamp: u64,
) -> Signed {
    params.push(("recvWindow", recv_window.to_string()));
    params.push(("timestamp", timestamp.to_string()));
    let signed_string = query(&params);
    let signature = signature(secret, &signed_string);
    Signed {
        method,
        path,
        signed_string,
        signature,
    }
}

/// Which leg a hedge-mode close reduces.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PositionSide {
    Long,
    Short,
}

impl PositionSide {
    pub fn as_str(self) -> &'static str {
        match self {
            PositionSide::Long => "LONG",
            PositionSide::Short => "SHORT",
        }
    }
}

/// A reduce-only MARKET close (§5.1, §5.2).
#[derive(Debug, Clone)]
pub struct Close {
    pub symbol: String,
    /// `true`: BUY (closes a short); `false`: SELL (closes a long).
    pub buy: bool,
    /// Already floored to the market lot step; never more than the position.
    pub quantity: Decimal,
    /// Hedge mode: the leg; one-way: `None` (and `reduceOnly=true`).
    pub position_side: Option<PositionSide>,
    /// `^[.A-Z:/a-z0-9_-]{1,36}$`, one per intent.
    pub client_order_id: String,
    /// `RESULT`: the reply carries the fill.
    pub resp_type: Option<String>,
}

/// Whether `id` is a valid `newClientOrderId`.
pub fn valid_client_order_id(id: &str) -> bool {
    (1..=36).contains(&id.len())
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b':' | b'/' | b'_' | b'-'))
}

/// The parameters of a close, in the connector's order. In hedge mode
/// `reduceOnly` is not sent at all (−1106): the leg and side make the
/// order reducing.
pub fn close_params(c: &Close) -> Result<Vec<(&'static str, String)>, String> {
    if !valid_client_order_id(&c.client_order_id) {
        return Err(format!(
            "newClientOrderId {:?}: 1 to 36 of A-Z a-z 0-9 . : / _ -",
            c.client_order_id
        ));
    }
    if c.quantity <= Decimal::ZERO {
        return Err("a close needs a positive quantity".into());
    }
    if let Some(side) = c.position_side {
        // A hedge leg is reduced only from its own side.
        if (side == PositionSide::Long) == c.buy {
            return Err(format!(
                "a {} leg closes with {}",
                side.as_str(),
                if c.buy { "SELL" } else { "BUY" }
            ));
        }
    }
    let mut p = vec![
        ("symbol", c.symbol.clone()),
        ("side", if c.buy { "BUY" } else { "SELL" }.to_owned()),
    ];
    if let Some(side) = c.position_side {
        p.push(("positionSide", side.as_str().to_owned()));
    }
    p.push(("type", "MARKET".to_owned()));
    p.push(("quantity", c.quantity.normalize().to_string()));
    if c.position_side.is_none() {
        p.push(("reduceOnly", "true".to_owned()));
    }
    p.push(("newClientOrderId", c.client_order_id.clone()));
    if let Some(t) = &c.resp_type {
        p.push(("newOrderRespType", t.clone()));
    }
    Ok(p)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The worked example of Binance's "General Info" page.
    #[test]
    fn the_docs_example() {
        let secret = "2b5eb11e18796d12d88f13dc27dbbd02c2cc51ff7059765ed9821957d82bb4d9";
        assert_eq!(
            signature(
                secret,
                "symbol=BTCUSDT&side=BUY&type=LIMIT&quantity=1&price=9000&timeInForce=GTC&recvWindow=5000&timestamp=1591702613943"
            ),
            "3c661234138461fcc7a7d8746c6558c9842d4e10870d2ecbedf7777cad694af9"
        );
    }

    #[test]
    fn hedge_mode_sends_the_leg_and_never_reduce_only() {
        let c = Close {
            symbol: "ETHUSDT".into(),
            buy: false,
            quantity: "0.010".parse().unwrap(),
            position_side: Some(PositionSide::Long),
            client_order_id: "dw-1".into(),
            resp_type: None,
        };
        assert_eq!(
            query(&close_params(&c).unwrap()),
            "symbol=ETHUSDT&side=SELL&positionSide=LONG&type=MARKET&quantity=0.01&newClientOrderId=dw-1"
        );
        let wrong = Close { buy: true, ..c.clone() };
        assert!(close_params(&wrong).is_err(), "BUY would add to a LONG leg");
        let bad_id = Close {
            client_order_id: "no spaces".into(),
            ..c
        };
        assert!(close_params(&bad_id).is_err());
    }

    #[test]
    fn values_are_form_encoded() {
        assert_eq!(query(&[("a", "x y/é@".into())]), "a=x+y%2F%C3%A9@");
    }
}
