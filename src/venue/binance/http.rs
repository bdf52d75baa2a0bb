//! Binance USDⓈ-M's REST side: signed reads (`positionRisk` v3, an order by
//! its client order id), the unsigned market list and mark prices, the
//! signed close order, the user data stream's listenKey, and server time
//! for the clock skew the signature's window depends on (§6.3).
//!
//! The per-IP weight (2400 a minute, §7) is shared with the bot: the client
//! spends at most its `share` and says how long to wait rather than send
//! past it. A 429 or 418 is rate limiting (418 is a ban: a long wait); a
//! failure is never "flat".

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use rust_decimal::Decimal;

use super::parse::{self, Market, OrderState};
use super::sign::{self, Signed};
use crate::secret::Secret;
use crate::venue::remembered::Remembered;
use crate::venue::types::{MarketInfo, OrderFailure, RateBudget, RestError, RestSnapshot};

/// Request weights (§7).
pub mod weight {
    pub const POSITION_RISK: u32 = 5;
    pub const EXCHANGE_INFO: u32 = 1;
    pub const PREMIUM_INDEX: u32 = 10;
    pub const QUERY_ORDER: u32 = 1;
    pub const LISTEN_KEY: u32 = 1;
    pub const TIME: u32 = 1;
    /// The venue's per-IP weight a minute.
    pub const PER_MINUTE: u32 = 2400;
}

/// How old a remembered market list a close may use (lot sizes change when
/// the venue relists, not between closes).
pub const MARKETS_MAX_AGE: Duration = Duration::from_secs(60);

/// One account's client.
#[derive(Debug, Clone)]
pub struct RestClient {
    http: reqwest::Client,
    base: String,
    api_key: Secret,
    secret: Secret,
    /// The signature's validity window (`recvWindow`), ms.
    recv_window: u64,
    /// Server time minus local time, ms (from `GET /fapi/v1/time`).
    skew_ms: Arc<AtomicI64>,
    budget: Arc<Mutex<RateBudget>>,
    share: Decimal,
    /// The markets as last read (a close's market comes from them).
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
    pub fn new(
        base: &str,
        api_key: Secret,
        secret: Secret,
        share: Decimal,
        timeout: Duration,
    ) -> Result<RestClient, RestError> {
        let http = reqwest::Client::builder()
            .timeout(timeout)
            .build()
            .map_err(|e| RestError::Transport(e.to_string()))?;
        use rust_decimal::prelude::ToPrimitive;
        let allowance = (Decimal::from(weight::PER_MINUTE) * share)
            .floor()
            .to_u32()
            .unwrap_or(0)
            .max(1);
        Ok(RestClient {
            http,
            base: base.trim_end_matches('/').to_owned(),
            api_key,
            secret,
            recv_window: 5000,
            skew_ms: Arc::new(AtomicI64::new(0)),
            budget: Arc::new(Mutex::new(RateBudget::new(&[(Duration::from_secs(60), allowance)]))),
            share,
            markets: Arc::default(),
        })
    }

    /// The shortest gap between position polls the share sustains (one
    /// `positionRisk` each), leaving a third for closes and metadata.
    pub fn poll_floor(&self) -> Duration {
        use rust_decimal::prelude::ToPrimitive;
        let per_minute = (Decimal::from(weight::PER_MINUTE) * self.share)
            .to_u32()
            .unwrap_or(1)
            .max(3)
            * 2
            / 3;
        Duration::from_secs(60) * weight::POSITION_RISK / per_minute.max(1)
    }

    /// The venue's clock now, as this host best knows it (ms).
    pub fn venue_now_ms(&self) -> u64 {
        (crate::clock::now().0 + self.skew_ms.load(Ordering::Relaxed)).max(0) as u64
    }

    /// The signature's validity window (default 5 s; the venue's default).
    pub fn with_recv_window(mut self, ms: u64) -> RestClient {
        self.recv_window = ms;
        self
    }

    /// The REST base URL.
    pub fn base(&self) -> &str {
        &self.base
    }

    pub fn recv_window(&self) -> u64 {
        self.recv_window
    }

    fn spend(&self, weight: u32) -> Result<(), RestError> {
        let mut b = self.budget.lock().unwrap_or_else(|e| e.into_inner());
        b.try_spend(std::time::Instant::now(), weight)
            .map_err(|retry_after| RestError::RateLimited { retry_after })
    }

    async fn send(&self, request: reqwest::RequestBuilder) -> Result<(u16, Vec<u8>), RestError> {
        let r = request
            .header(sign::API_KEY_HEADER, self.api_key.expose())
            .send()
            .await
            .map_err(transport)?;
        let status = r.status().as_u16();
        if status == 429 || status == 418 {
            let secs = r
                .headers()
                .get("retry-after")
                .and_then(|v| v.to_str().ok())
                .and_then(|v| v.parse::<u64>().ok())
                .unwrap_or(if status == 418 { 120 } else { 1 });
            return Err(RestError::RateLimited {
                retry_after: Duration::from_secs(secs),
            });
        }
        let bytes = r.bytes().await.map_err(transport)?;
        Ok((status, bytes.to_vec()))
    }

    /// Measures the clock skew against `GET /fapi/v1/time`.
    pub async fn sync_time(&self) -> Result<(), RestError> {
        self.spend(weight::TIME)?;
        let before = crate::clock::now().0;
        let (status, body) = self.send(self.http.get(format!("{}/fapi/v1/time", self.base))).await?;
        let after = crate::clock::now().0;
        let v: serde_json::Value = serde_json::from_slice(&body).map_err(|e| RestError::Decode(e.to_string()))?;
        let server = v["serverTime"]
            .as_i64()
            .filter(|_| status == 200)
            .ok_or_else(|| RestError::Decode(format!("no serverTime in HTTP {status}")))?;
        self.skew_ms.store(server - (before + after) / 2, Ordering::Relaxed);
        Ok(())
    }

    /// Signs `params` as of the venue's clock.
    fn signed(&self, method: &'static str, path: &'static str, params: Vec<(&str, String)>) -> Signed {
        sign::sign(
            self.secret.expose(),
            method,
            path,
            params,
            self.recv_window,
            self.venue_now_ms(),
        )
    }

    /// A signed GET; a timestamp outside the window (−1021) measures the
    /// skew again and tries once more.
    async fn signed_get(
        &self,
        path: &'static str,
        params: Vec<(&str, String)>,
        weight: u32,
    ) -> Result<(u16, Vec<u8>), RestError> {
        for attempt in 0..2 {
            self.spend(weight)?;
            let s = self.signed("GET", path, params.clone());
            let (status, body) = self.send(self.http.get(s.url(&self.base))).await?;
            if attempt == 0 && status == 400 && String::from_utf8_lossy(&body).contains("-1021") {
                self.sync_time().await?;
                continue;
            }
            return Ok((status, body));
        }
        Err(RestError::Decode("unreachable".into()))
    }

    /// The account's open positions (`positionRisk` v3; hedge legs apart).
    pub async fn positions(&self) -> Result<RestSnapshot, RestError> {
        let (status, body) = self
            .signed_get("/fapi/v3/positionRisk", Vec::new(), weight::POSITION_RISK)
            .await?;
        parse::position_risk(status, &body)
    }

    /// The markets' MARKET order rules.
    pub async fn universe(&self) -> Result<Vec<Market>, RestError> {
        self.spend(weight::EXCHANGE_INFO)?;
        let (status, body) = self
            .send(self.http.get(format!("{}/fapi/v1/exchangeInfo", self.base)))
            .await?;
        let markets = parse::exchange_info(status, &body)?;
        self.markets.keep(markets.clone());
        Ok(markets)
    }

    /// `symbol`'s market, from the markets as read within
    /// [`MARKETS_MAX_AGE`] (the lot-size poll keeps them fresh), or read now.
    pub async fn market(&self, symbol: &str) -> Result<Market, RestError> {
        self.markets
            .fresh_or(MARKETS_MAX_AGE, self.universe())
            .await?
            .iter()
            .find(|m| m.symbol == symbol)
            .cloned()
            .ok_or_else(|| RestError::Decode(format!("{symbol} is not a listed market")))
    }

    /// Lot (MARKET step) and tick sizes of the trading markets.
    pub async fn markets(&self) -> Result<Vec<MarketInfo>, RestError> {
        Ok(parse::market_infos(&self.universe().await?))
    }

    /// Mark prices by symbol (`premiumIndex`).
    pub async fn prices(&self) -> Result<BTreeMap<String, Decimal>, RestError> {
        self.spend(weight::PREMIUM_INDEX)?;
        let (status, body) = self
            .send(self.http.get(format!("{}/fapi/v1/premiumIndex", self.base)))
            .await?;
        parse::premium_index(status, &body)
    }

    /// A close order's parameters, signed as of the venue's clock now.
    pub fn sign_order(&self, params: Vec<(&str, String)>) -> Signed {
        self.signed("POST", "/fapi/v1/order", params)
    }

    /// Sends a signed `POST /fapi/v1/order` (the order counters, not the
    /// IP weight, count it): the order, or what its refusal means.
    pub async fn post_order(&self, url: &str) -> Result<OrderState, OrderFailure> {
        match self.send(self.http.post(url)).await {
            Ok((status, body)) => parse::order_reply(status, &body),
            Err(RestError::RateLimited { retry_after }) => Err(OrderFailure::RateLimited { retry_after }),
            Err(e) => Err(OrderFailure::Unknown(e.to_string())),
        }
    }

    /// Cancels every resting order on `symbol`, regular and conditional
    /// (algo), as −4118 asks before a reduce-only close (§5.3, §5.5).
    pub async fn cancel_open_orders(&self, symbol: &str) -> Result<(), RestError> {
        for path in ["/fapi/v1/allOpenOrders", "/fapi/v1/algoOpenOrders"] {
            self.spend(1)?;
            let s = self.signed("DELETE", path, vec![("symbol", symbol.to_owned())]);
            let url = s.url(&self.base);
            let (status, body) = self.send(self.http.delete(url)).await?;
            if status != 200 {
                return Err(RestError::Http {
                    status,
                    message: String::from_utf8_lossy(&body).chars().take(200).collect(),
                });
            }
        }
        Ok(())
    }

    /// The order with this client order id, or `None` (−2013: never seen).
    pub async fn query_order(&self, symbol: &str, client_order_id: &str) -> Result<Option<OrderState>, RestError> {
        let (status, body) = self
            .signed_get(
                "/fapi/v1/order",
                vec![
                    ("symbol", symbol.to_owned()),
                    ("origClientOrderId", client_order_id.to_owned()),
                ],
                weight::QUERY_ORDER,
            )
            .await?;
        parse::query_order(status, &body)
    }

    /// Creates (POST) or extends (PUT) the user data stream's listenKey;
    /// the key (API key only, no signature).
    pub async fn listen_key(&self, extend: bool) -> Result<String, RestError> {
        self.spend(weight::LISTEN_KEY)?;
        let url = format!("{}/fapi/v1/listenKey", self.base);
        let req = if extend {
            self.http.put(url)
        } else {
            self.http.post(url)
        };
        let (status, body) = self.send(req).await?;
        parse::listen_key(status, &body)
    }
}
