//! Pacifica REST reads: `GET /positions` and `GET /info`. GETs carry no body
//! (a body earns CloudFront's 403, pacifica.md §2); the optional `PF-API-KEY`
//! header raises the rate limit shared with the bot.

use std::time::Duration;

use reqwest::header::HeaderMap;

use super::parse;
use crate::secret::Secret;
use crate::venue::types::{MarketInfo, RestError, RestSnapshot};

#[derive(Debug, Clone)]
pub struct RestClient {
    http: reqwest::Client,
    base: String,
    account: String,
    api_key: Option<Secret>,
}

impl RestClient {
    /// `base` is e.g. `https://api.pacifica.fi/api/v1`; `account` is the main
    /// account's address (never an agent wallet's).
    pub fn new(base: &str, account: &str, api_key: Option<Secret>, timeout: Duration) -> Result<RestClient, RestError> {
        let http = reqwest::Client::builder()
            .timeout(timeout)
            .connect_timeout(timeout)
            .user_agent(concat!("driftwatch/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| RestError::Transport(e.to_string()))?;
        Ok(RestClient {
            http,
            base: base.trim_end_matches('/').to_owned(),
            account: account.to_owned(),
            api_key,
        })
    }

    async fn get(&self, path: &str, query: &[(&str, &str)]) -> Result<(u16, bytes::Bytes), RestError> {
        let mut req = self.http.get(format!("{}{path}", self.base)).query(query);
        if let Some(key) = &self.api_key {
            req = req.header("PF-API-KEY", key.expose());
        }
        let resp = req.send().await.map_err(|e| {
            if e.is_timeout() {
                RestError::Timeout
            } else {
                RestError::Transport(e.without_url().to_string())
            }
        })?;
        let status = resp.status().as_u16();
        if status == 429 {
            return Err(RestError::RateLimited {
                retry_after: retry_after(resp.headers()),
            });
        }
        let body = resp.bytes().await.map_err(|e| {
            if e.is_timeout() {
                RestError::Timeout
            } else {
                RestError::Transport(e.without_url().to_string())
            }
        })?;
        Ok((status, body))
    }

    /// The account's open positions and `last_order_id`.
    pub async fn positions(&self) -> Result<RestSnapshot, RestError> {
        let (status, body) = self.get("/positions", &[("account", &self.account)]).await?;
        parse::positions_response(status, &body)
    }

    /// Mark prices by symbol.
    pub async fn prices(&self) -> Result<std::collections::BTreeMap<String, rust_decimal::Decimal>, RestError> {
        let (status, body) = self.get("/info/prices", &[]).await?;
        parse::prices_response(status, &body)
    }

    /// Lot and tick sizes of the perpetual markets.
    pub async fn markets(&self) -> Result<Vec<MarketInfo>, RestError> {
        let (status, body) = self.get("/info", &[]).await?;
        parse::info_response(status, &body)
    }
}

impl RestClient {
    /// `POST /orders/create_market` with a signed body (see [`super::sign`]).
    /// Not cancel-safe in effect: once sent, the order may land whatever the
    /// caller does; retry with the same client order id.
    pub async fn create_market_order(
        &self,
        body: &serde_json::Map<String, serde_json::Value>,
    ) -> Result<u64, parse::OrderError> {
        let mut req = self.http.post(format!("{}/orders/create_market", self.base)).json(body);
        if let Some(key) = &self.api_key {
            req = req.header("PF-API-KEY", key.expose());
        }
        let resp = req
            .send()
            .await
            .map_err(|e| parse::OrderError::Unknown(e.without_url().to_string()))?;
        let status = resp.status().as_u16();
        if status == 429 {
            return Err(parse::OrderError::RateLimited {
                retry_after: retry_after(resp.headers()),
            });
        }
        let body = resp
            .bytes()
            .await
            .map_err(|e| parse::OrderError::Unknown(e.without_url().to_string()))?;
        parse::order_response(status, &body)
    }
}

fn retry_after(headers: &HeaderMap) -> Duration {
    let h = |name: &str| headers.get(name).and_then(|v| v.to_str().ok());
    parse::retry_after(h("ratelimit"), h("retry-after"))
}
