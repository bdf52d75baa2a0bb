//! Hyperliquid's REST side: `POST /info` reads (positions, the universe and
//! mark prices) and `POST /exchange` for a signed action. Every read is a
//! POST with a JSON body (shared/venues/hyperliquid.md §2); a 429 is rate
//! limiting, anything unexpected is an error, never "flat".
//!
//! The per-IP weight (1200 a minute, §7) is shared with the bot on the same
//! host: the client spends at most its `share` of it and says how long to
//! wait rather than sending past it.

use std::collections::BTreeMap;
use std::time::Duration;

use std::sync::{Arc, Mutex};

use rust_decimal::Decimal;
use serde_json::{json, Value};

use super::parse::{self, Market, OrderState};
use super::sign::Body;
use crate::venue::remembered::Remembered;
use crate::venue::types::{MarketInfo, RateBudget, RestError, RestSnapshot};

/// Request weights (§7).
pub mod weight {
    pub const CLEARINGHOUSE_STATE: u32 = 2;
    pub const ORDER_STATUS: u32 = 2;
    pub const ALL_MIDS: u32 = 2;
    pub const META_AND_ASSET_CTXS: u32 = 20;
    pub const EXCHANGE: u32 = 1;
    /// The venue's per-IP budget a minute, shared by `/info` and `/exchange`.
    pub const PER_MINUTE: u32 = 1200;
}

/// How old a remembered universe a close may use (asset ids and size
/// decimals change when the venue relists, not between closes).
pub const MARKETS_MAX_AGE: Duration = Duration::from_secs(60);

/// One account's client. `user` is the account whose positions are read:
/// the master or the sub-account/vault, never an API wallet's address.
#[derive(Debug, Clone)]
pub struct RestClient {
    http: reqwest::Client,
    base: String,
    user: String,
    budget: Arc<Mutex<RateBudget>>,
    share: Decimal,
    /// The perp universe as last read (a close's market comes from it).
    markets: Arc<Remembered<Vec<Market>>>,
}

fn transport(e: reqwest::Error) -> RestError {
    if e.is_timeout() {
        RestError::Timeout
    } else {
        RestError::Transport(e.to_string())
    }
}

impl RestClient {
    /// `share`: the part of the per-IP weight this client may spend (the
    /// bot on the same host has the rest).
    pub fn new(base: &str, user: &str, share: Decimal, timeout: Duration) -> Result<RestClient, RestError> {
        let http = reqwest::Client::builder()
            .timeout(timeout)
            .build()
            .map_err(|e| RestError::Transport(e.to_string()))?;
        Ok(RestClient {
            http,
            base: base.trim_end_matches('/').to_owned(),
            user: user.to_ascii_lowercase(),
            budget: Arc::new(Mutex::new(RateBudget::new(&[(
                Duration::from_secs(60),
                Self::allowance(share),
            )]))),
            share,
            markets: Arc::default(),
        })
    }

    /// This client's weight a minute.
    fn allowance(share: Decimal) -> u32 {
        use rust_decimal::prelude::ToPrimitive;
        (Decimal::from(weight::PER_MINUTE) * share)
            .floor()
            .to_u32()
            .unwrap_or(0)
            .max(1)
    }

    /// The shortest gap between position polls the share sustains (one
    /// `clearinghouseState` each), leaving a third for closes and metadata.
    pub fn poll_floor(&self) -> Duration {
        let per_minute = Self::allowance(self.share) * 2 / 3;
        Duration::from_secs(60) * weight::CLEARINGHOUSE_STATE / per_minute.max(1)
    }

    /// Spends `weight` from the share, or says how long until it fits.
    fn spend(&self, weight: u32) -> Result<(), RestError> {
        let mut b = self.budget.lock().unwrap_or_else(|e| e.into_inner());
        b.try_spend(std::time::Instant::now(), weight)
            .map_err(|retry_after| RestError::RateLimited { retry_after })
    }

    async fn post(&self, path: &str, weight: u32, body: &Value) -> Result<(u16, Vec<u8>), RestError> {
        self.spend(weight)?;
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
                weight::CLEARINGHOUSE_STATE,
                &json!({"type": "clearinghouseState", "user": self.user, "dex": ""}),
            )
            .await?;
        parse::clearinghouse_state(status, &body)
    }

    /// The perp universe (asset ids, size decimals) and mark prices.
    pub async fn universe(&self) -> Result<(Vec<Market>, BTreeMap<String, Decimal>), RestError> {
        let (status, body) = self
            .post(
                "/info",
                weight::META_AND_ASSET_CTXS,
                &json!({"type": "metaAndAssetCtxs"}),
            )
            .await?;
        let (markets, marks) = parse::meta_and_asset_ctxs(status, &body)?;
        self.markets.keep(markets.clone());
        Ok((markets, marks))
    }

    /// Lot and tick sizes of the listed perps.
    pub async fn markets(&self) -> Result<Vec<MarketInfo>, RestError> {
        Ok(parse::market_infos(&self.universe().await?.0))
    }

    /// Mark prices by coin.
    pub async fn prices(&self) -> Result<BTreeMap<String, Decimal>, RestError> {
        Ok(self.universe().await?.1)
    }

    /// `coin`'s market (asset id, size decimals), from the universe as read
    /// within [`MARKETS_MAX_AGE`] (the mark poll keeps it fresh), or read now.
    pub async fn market(&self, coin: &str) -> Result<Market, RestError> {
        self.markets
            .fresh_or(MARKETS_MAX_AGE, async { Ok(self.universe().await?.0) })
            .await?
            .iter()
            .find(|m| m.coin == coin)
            .cloned()
            .ok_or_else(|| RestError::Decode(format!("{coin} is not a listed perp")))
    }

    /// `coin`'s mid price now (`allMids`; the last trade where the book is empty).
    pub async fn mid(&self, coin: &str) -> Result<Decimal, RestError> {
        let (status, body) = self
            .post("/info", weight::ALL_MIDS, &json!({"type": "allMids", "dex": ""}))
            .await?;
        parse::all_mids(status, &body)?
            .get(coin)
            .copied()
            .ok_or_else(|| RestError::Decode(format!("no price for {coin}")))
    }

    /// What the venue knows of the account's order with this cloid (`None`:
    /// never seen).
    pub async fn order_status(&self, cloid: &str) -> Result<Option<OrderState>, RestError> {
        let (status, body) = self
            .post(
                "/info",
                weight::ORDER_STATUS,
                &json!({"type": "orderStatus", "user": self.user, "oid": cloid}),
            )
            .await?;
        parse::order_status(status, &body)
    }

    /// Posts a signed action, its keys in the SDK's order (the text is sent
    /// as serialized, not through a map that would sort them); the
    /// `/exchange` envelope as it came.
    pub async fn exchange(&self, body: &Body) -> Result<Value, RestError> {
        let text = serde_json::to_string(body).map_err(|e| RestError::Decode(e.to_string()))?;
        self.spend(weight::EXCHANGE)?;
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
