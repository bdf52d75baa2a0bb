//! Hyperliquid's REST side: `POST /info` reads (positions, the universe and
//! mark prices) and `POST /exchange` for a signed action. Every read is a
//! POST with a JSON body (shared/venues/hyperliquid.md §2); a 429 is rate
//! limiting, anything unexpected is an error, never "flat".

use std::collections::BTreeMap;
use std::time::Duration;

use rust_decimal::Decimal;
use serde_json::{json, Value};

use super::parse::{self, Market};
use super::sign::Body;
use crate::venue::types::{MarketInfo, RestError, RestSnapshot};

/// One account's client. `user` is the account whose positions are read:
/// the master or the sub-account/vault, never an API wallet's address.
#[derive(Debug, Clone)]
pub struct RestClient {
    http: reqwest::Client,
    base: String,
    user: String,
}

fn transport(e: reqwest::Error) -> RestError {
    if e.is_timeout() {
        RestError::Timeout
    } else {
        RestError::Transport(e.to_string())
    }
}

impl RestClient {
    pub fn new(base: &str, user: &str, timeout: Duration) -> Result<RestClient, RestError> {
        let http = reqwest::Client::builder()
            .timeout(timeout)
            .build()
            .map_err(|e| RestError::Transport(e.to_string()))?;
        Ok(RestClient {
            http,
            base: base.trim_end_matches('/').to_owned(),
            user: user.to_ascii_lowercase(),
        })
    }

    async fn post(&self, path: &str, body: &Value) -> Result<(u16, Vec<u8>), RestError> {
        self.send(self.http.post(format!("{}{path}", self.base)).json(body))
            .await
    }

    /// Sends a request: its status and body, or a 429 as rate limiting.
    async fn send(&self, request: reqwest::RequestBuilder) -> Result<(u16, Vec<u8>), RestError> {
        let r = request.send().await.map_err(transport)?;
        let status = r.status().as_u16();
        if status == 429 {
            return Err(RestError::RateLimited {
                retry_after: Duration::from_secs(1),
            });
        }
        let bytes = r.bytes().await.map_err(transport)?;
        Ok((status, bytes.to_vec()))
    }

    /// The account's open positions (`clearinghouseState`, main dex).
    pub async fn positions(&self) -> Result<RestSnapshot, RestError> {
        let (status, body) = self
            .post(
                "/info",
                &json!({"type": "clearinghouseState", "user": self.user, "dex": ""}),
            )
            .await?;
        parse::clearinghouse_state(status, &body)
    }

    /// The perp universe (asset ids, size decimals) and mark prices.
    pub async fn universe(&self) -> Result<(Vec<Market>, BTreeMap<String, Decimal>), RestError> {
        let (status, body) = self.post("/info", &json!({"type": "metaAndAssetCtxs"})).await?;
        parse::meta_and_asset_ctxs(status, &body)
    }

    /// Lot and tick sizes of the listed perps.
    pub async fn markets(&self) -> Result<Vec<MarketInfo>, RestError> {
        Ok(parse::market_infos(&self.universe().await?.0))
    }

    /// Mark prices by coin.
    pub async fn prices(&self) -> Result<BTreeMap<String, Decimal>, RestError> {
        Ok(self.universe().await?.1)
    }

    /// Posts a signed action, its keys in the SDK's order (the text is sent
    /// as serialized, not through a map that would sort them); the
    /// `/exchange` envelope as it came.
    pub async fn exchange(&self, body: &Body) -> Result<Value, RestError> {
        let text = serde_json::to_string(body).map_err(|e| RestError::Decode(e.to_string()))?;
        let (status, bytes) = self
            .send(
                self.http
                    .post(format!("{}/exchange", self.base))
                    .header(reqwest::header::CONTENT_TYPE, "application/json")
                    .body(text),
            )
            .await?;
        if status != 200 {
            let text: String = String::from_utf8_lossy(&bytes).chars().take(200).collect();
            return Err(RestError::Http { status, message: text });
        }
        serde_json::from_slice(&bytes).map_err(|e| RestError::Decode(e.to_string()))
    }
}
