//! Nado gateway REST (nado.md §1–3, §5–6): `POST {gw}/query` for reads,
//! `POST {gw}/execute` for signed orders, `GET {gw}/time` for clock skew.
//!
//! - Every request offers gzip (`Accept-Encoding`, required by the venue).
//! - Both the HTTP status and the envelope's `status` are checked.
//! - Queries spend a client-side weight budget, a share of the per-IP limit
//!   the bot also uses; an exhausted budget is a `RateLimited` error (never
//!   "no positions").
//! - The product table comes from the `symbols` query (refreshed with the
//!   markets) and the chain id and Endpoint from `contracts`; until both
//!   are loaded and match the configuration, positions are not read.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, AtomicI64, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::time::Duration;

use rust_decimal::Decimal;

use super::parse::{self, NadoError, Products};
use crate::venue::types::{MarketInfo, OrderFailure, RateBudget, RestError, RestSnapshot};

use super::limits::weight;

/// Who is asking, and what the gateway must confirm.
#[derive(Debug, Clone)]
pub struct Identity {
    /// `0x` + 64 lowercase hex: owner address and subaccount name.
    pub subaccount: String,
    pub chain_id: u64,
    /// The Endpoint contract, lowercase `0x` hex.
    pub endpoint: String,
}

#[derive(Debug, Clone)]
pub struct RestClient {
    http: reqwest::Client,
    base: String,
    id: Identity,
    /// The product table as last read, shared whole: a read takes the
    /// `Arc`, never a copy of the table.
    products: Arc<RwLock<Arc<Products>>>,
    /// Oracle prices from the last `subaccount_info`, by symbol.
    marks: Arc<Mutex<BTreeMap<String, Decimal>>>,
    budget: Arc<Mutex<RateBudget>>,
    contracts_ok: Arc<AtomicBool>,
    /// Server time minus local time, in ms (from `GET /time`).
    skew_ms: Arc<AtomicI64>,
}

/// A fresh read for one close: the cross position and what pricing needs.
#[derive(Debug, Clone, PartialEq)]
pub struct CloseRead {
    pub product: parse::Product,
    /// Cross-margin (`Net`) size; isolated legs are not closed here.
    pub position: Decimal,
    pub oracle: Decimal,
    /// Top of book (bid, ask) read beside the position, for the first
    /// order; `None` when it was not (a re-read, or the book read failed):
    /// an order then reads the book itself.
    pub book: Option<(Option<Decimal>, Option<Decimal>)>,
    /// The product's resting orders, as read beside the position.
    pub resting: Resting,
}

/// Whether the subaccount had resting orders on the product when the
/// close's first read was taken.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Resting {
    /// None rest there: there is nothing to cancel.
    Nothing,
    /// This many rest there.
    Orders(usize),
    /// Not read, or the read failed: cancel as if some did.
    Unknown,
}

impl RestClient {
    /// `base` is the gateway, e.g. `https://gateway.prod.nado.xyz/v1`.
    /// `share` is the fraction of the venue's per-IP query limit this
    /// client may use (the bot needs the rest).
    pub fn new(base: &str, id: Identity, share: Decimal, timeout: Duration) -> Result<RestClient, RestError> {
        let http = reqwest::Client::builder()
            .timeout(timeout)
            .connect_timeout(timeout)
            .gzip(true)
            .user_agent(concat!("driftwatch/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| RestError::Transport(e.to_string()))?;
        let limits = super::limits::limits_for(share);
        Ok(RestClient {
            http,
            base: base.trim_end_matches('/').to_owned(),
            id,
            products: Arc::new(RwLock::new(Arc::new(Products::default()))),
            marks: Arc::new(Mutex::new(BTreeMap::new())),
            budget: Arc::new(Mutex::new(RateBudget::new(&limits))),
            contracts_ok: Arc::new(AtomicBool::new(false)),
            skew_ms: Arc::new(AtomicI64::new(0)),
        })
    }

    /// The shortest gap between position reads that the client's share of
    /// the query budget sustains with a quarter to spare (a close's fresh
    /// reads, the stream's baseline after a reconnect): polls spaced at
    /// least this far never drain the budget, so a read is ready the moment
    /// REST recovers from an outage.
    pub fn poll_floor(&self) -> Duration {
        let b = self.budget.lock().unwrap_or_else(|p| p.into_inner());
        super::limits::poll_floor(b.limits())
    }

    /// The product table this client (and the stream) maps ids with.
    pub fn products(&self) -> Arc<RwLock<Arc<Products>>> {
        self.products.clone()
    }

    pub fn identity(&self) -> &Identity {
        &self.id
    }

    /// Local clock corrected by the measured skew, in ms.
    pub fn venue_now_ms(&self) -> u64 {
        let local = crate::clock::now().0;
        (local + self.skew_ms.load(Ordering::Relaxed)).max(0) as u64
    }

    fn spend(&self, weight: u32) -> Result<(), RestError> {
        let mut b = self.budget.lock().unwrap_or_else(|p| p.into_inner());
        b.try_spend(std::time::Instant::now(), weight)
            .map_err(|retry_after| RestError::RateLimited { retry_after })
    }

    async fn post(&self, path: &str, body: String) -> Result<(u16, String), RestError> {
        let resp = self
            .http
            .post(format!("{}{path}", self.base))
            .header(reqwest::header::CONTENT_TYPE, "application/json")
            .body(body)
            .send()
            .await
            .map_err(transport)?;
        let status = resp.status().as_u16();
        if status == 429 {
            return Err(RestError::RateLimited {
                retry_after: Duration::from_secs(1),
            });
        }
        let text = resp.text().await.map_err(transport)?;
        Ok((status, text))
    }

    async fn query(&self, weight: u32, body: serde_json::Value) -> Result<String, RestError> {
        self.spend(weight)?;
        let (status, text) = self.post("/query", body.to_string()).await?;
        if !(200..300).contains(&status) {
            return Err(RestError::Http {
                status,
                message: text.chars().take(200).collect(),
            });
        }
        Ok(text)
    }

    /// Checks `contracts` against the configured chain and Endpoint; a
    /// mismatch keeps every position read failing (fail closed).
    pub async fn check_contracts(&self) -> Result<(), RestError> {
        let text = self
            .query(weight::CONTRACTS, serde_json::json!({"type": "contracts"}))
            .await?;
        let (chain, endpoint) = parse::contracts(&text).map_err(rest_error)?;
        if chain != self.id.chain_id || !endpoint.eq_ignore_ascii_case(&self.id.endpoint) {
            self.contracts_ok.store(false, Ordering::Relaxed);
            return Err(RestError::Decode(format!(
                "the gateway is chain {chain} with Endpoint {endpoint}, but the config says chain {} with Endpoint {}",
                self.id.chain_id, self.id.endpoint
            )));
        }
        self.contracts_ok.store(true, Ordering::Relaxed);
        Ok(())
    }

    /// `GET /time`: measures the clock skew the nonces are corrected by.
    pub async fn measure_skew(&self) -> Result<i64, RestError> {
        let before = crate::clock::now().0;
        let resp = self
            .http
            .get(format!("{}/time", self.base))
            .send()
            .await
            .map_err(transport)?;
        let text = resp.text().await.map_err(transport)?;
        let after = crate::clock::now().0;
        let server: i64 = text
            .trim()
            .parse()
            .map_err(|_| RestError::Decode(format!("time: {text:?}")))?;
        let skew = server - (before + after) / 2;
        self.skew_ms.store(skew, Ordering::Relaxed);
        Ok(skew)
    }

    /// Confirms the contracts, measures the skew and reloads the product
    /// table from `symbols`; returns the lot and tick sizes.
    pub async fn markets(&self) -> Result<Vec<MarketInfo>, RestError> {
        self.check_contracts().await?;
        if let Err(e) = self.measure_skew().await {
            tracing::warn!(error = %e, "Nado: cannot measure clock skew; nonces use the local clock.");
        }
        let text = self
            .query(
                weight::SYMBOLS,
                serde_json::json!({"type": "symbols", "product_type": "perp"}),
            )
            .await?;
        let products = parse::symbols(&text).map_err(rest_error)?;
        let markets = products.markets();
        *self.products.write().unwrap_or_else(|p| p.into_inner()) = Arc::new(products);
        Ok(markets)
    }

    fn table(&self) -> Result<Arc<Products>, RestError> {
        if !self.contracts_ok.load(Ordering::Relaxed) {
            return Err(RestError::Decode("contracts not confirmed yet".into()));
        }
        let p = self.products.read().unwrap_or_else(|p| p.into_inner()).clone();
        if p.by_id.is_empty() {
            return Err(RestError::Decode("product table not loaded yet (symbols)".into()));
        }
        Ok(p)
    }

    async fn cross(&self, products: &Products) -> Result<Vec<crate::domain::Position>, RestError> {
        let text = self
            .query(
                weight::SUBACCOUNT_INFO,
                serde_json::json!({"type": "subaccount_info", "subaccount": self.id.subaccount}),
            )
            .await?;
        let (positions, marks) = parse::subaccount_info(&text, products).map_err(rest_error)?;
        *self.marks.lock().unwrap_or_else(|p| p.into_inner()) = marks;
        Ok(positions)
    }

    /// Cross (`subaccount_info`) and isolated (`isolated_positions`)
    /// positions together; either failing fails the read.
    pub async fn positions(&self) -> Result<RestSnapshot, RestError> {
        let products = self.table()?;
        let cross = self.cross(&products).await?;
        let text = self
            .query(
                weight::ISOLATED_POSITIONS,
                serde_json::json!({"type": "isolated_positions", "subaccount": self.id.subaccount}),
            )
            .await?;
        let isolated = parse::isolated_positions(&text, &products).map_err(rest_error)?;
        Ok(parse::rest_snapshot(cross, isolated))
    }

    /// Oracle prices from the most recent position read (no extra weight).
    pub async fn prices(&self) -> Result<BTreeMap<String, Decimal>, RestError> {
        let marks = self.marks.lock().unwrap_or_else(|p| p.into_inner()).clone();
        if marks.is_empty() {
            return Err(RestError::Decode("no oracle prices read yet".into()));
        }
        Ok(marks)
    }

    /// `symbol`'s oracle price from the most recent position read.
    fn oracle(&self, symbol: &str) -> Result<Decimal, RestError> {
        self.marks
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(symbol)
            .copied()
            .ok_or_else(|| RestError::Decode(format!("no oracle price for {symbol}")))
    }

    /// A fresh read of one symbol's cross position and oracle price.
    pub async fn close_read(&self, symbol: &str) -> Result<CloseRead, RestError> {
        let products = self.table()?;
        let id = perp_id(&products, symbol)?;
        let cross = self.cross(&products).await?;
        let oracle = self.oracle(symbol)?;
        let position = cross
            .iter()
            .filter(|p| p.key.symbol == symbol && p.key.leg == crate::domain::Leg::Net)
            .map(|p| p.size)
            .sum();
        Ok(CloseRead {
            product: products.by_id[&id].clone(),
            position,
            oracle,
            book: None,
            resting: Resting::Unknown,
        })
    }

    /// The read a close starts from, with what its first order needs read
    /// at the same moment beside it: the top of book and, when `orders`,
    /// whether resting orders are there to cancel. Either of those failing
    /// leaves it unread (the order reads the book itself; unknown resting
    /// orders are cancelled); only the position read failing fails this.
    pub async fn close_read_to_send(&self, symbol: &str, orders: bool) -> Result<CloseRead, RestError> {
        let id = perp_id(&*self.table()?, symbol)?;
        let resting = async {
            if !orders {
                return Resting::Unknown;
            }
            match self.resting_orders(id).await {
                Ok(0) => Resting::Nothing,
                Ok(n) => Resting::Orders(n),
                Err(e) => {
                    tracing::warn!(product = id, error = %e, "Cannot read resting orders; cancelling them unseen.");
                    Resting::Unknown
                }
            }
        };
        // Polled in this order: the position read spends its weight first.
        let (read, book, resting) = tokio::join!(self.close_read(symbol), self.market_price(id), resting);
        Ok(CloseRead {
            book: book.ok(),
            resting,
            ..read?
        })
    }

    /// How many orders the subaccount has resting on the product.
    pub async fn resting_orders(&self, product_id: u32) -> Result<usize, RestError> {
        let text = self
            .query(
                weight::SUBACCOUNT_ORDERS,
                serde_json::json!({"type": "subaccount_orders", "sender": self.id.subaccount, "product_id": product_id}),
            )
            .await?;
        parse::resting_orders(&text, product_id).map_err(rest_error)
    }

    /// A second reading of each symbol's cross size from an endpoint other
    /// than the position reads: the engine's largest reduce-only order in
    /// each direction (`max_order_size`: a sell reduces a long, a buy a
    /// short). An outage that answers the position reads wrongly does not
    /// fake this too, so it can settle a baseline the view refused.
    pub async fn corroborate(&self, symbols: &[String]) -> Result<Vec<crate::domain::Position>, RestError> {
        let products = self.table()?;
        let mut out = Vec::with_capacity(symbols.len());
        for symbol in symbols {
            let id = perp_id(&products, symbol)?;
            let oracle = self.oracle(symbol)?;
            let price_x18 = parse::to_x18(oracle).map_err(RestError::Decode)?;
            let side = |direction: &'static str| {
                self.query(
                    weight::MAX_ORDER_SIZE,
                    serde_json::json!({"type": "max_order_size", "product_id": id, "sender": self.id.subaccount,
                        "price_x18": price_x18.to_string(), "direction": direction, "reduce_only": "true"}),
                )
            };
            let long = parse::max_order_size(&side("short").await?).map_err(rest_error)?;
            let short = parse::max_order_size(&side("long").await?).map_err(rest_error)?;
            out.push(crate::domain::Position {
                key: crate::domain::PositionKey::net(symbol.clone()),
                size: long - short,
                entry_price: None,
            });
        }
        Ok(out)
    }

    /// Top of book: (bid, ask), either side `None` when empty.
    pub async fn market_price(&self, product_id: u32) -> Result<(Option<Decimal>, Option<Decimal>), RestError> {
        let text = self
            .query(
                weight::MARKET_PRICE,
                serde_json::json!({"type": "market_price", "product_id": product_id}),
            )
            .await?;
        parse::market_price(&text).map_err(rest_error)
    }

    /// `POST /execute` with a signed body; the digest on success. Not
    /// cancel-safe in effect: once sent, the order may land.
    pub async fn execute(&self, body: &str) -> Result<String, OrderFailure> {
        let (status, text) = self.post_execute(body).await?;
        match parse::place_order_response(&text) {
            Ok(digest) => Ok(digest),
            // A 4xx without a venue envelope is final.
            Err(NadoError::Parse(m)) if status >= 400 => Err(OrderFailure::Rejected(format!("HTTP {status}: {m}"))),
            Err(e) => Err(parse::order_failure(e)),
        }
    }

    /// `POST /execute` of a signed `cancel_product_orders`.
    pub async fn cancel(&self, body: &str) -> Result<(), OrderFailure> {
        let (_, text) = self.post_execute(body).await?;
        parse::execute_ok(&text).map_err(parse::order_failure)
    }

    /// `POST /execute`: the status and body of an answer that is not a
    /// 429 or a 5xx; those (and a lost answer) are failures whose outcome
    /// is unknown or rate limited.
    async fn post_execute(&self, body: &str) -> Result<(u16, String), OrderFailure> {
        let (status, text) = match self.post("/execute", body.to_owned()).await {
            Ok(r) => r,
            Err(RestError::RateLimited { retry_after }) => return Err(OrderFailure::RateLimited { retry_after }),
            Err(e) => return Err(OrderFailure::Unknown(e.to_string())),
        };
        if status >= 500 {
            return Err(OrderFailure::Unknown(format!("HTTP {status}")));
        }
        Ok((status, text))
    }
}

fn transport(e: reqwest::Error) -> RestError {
    if e.is_timeout() {
        RestError::Timeout
    } else {
        RestError::Transport(e.without_url().to_string())
    }
}

fn rest_error(e: NadoError) -> RestError {
    match e {
        e if e.is_rate_limit() => RestError::RateLimited {
            retry_after: Duration::from_secs(1),
        },
        NadoError::Venue { code, message } => RestError::Venue { code, message },
        NadoError::Parse(m) => RestError::Decode(m),
    }
}

/// `symbol`'s product id, from the venue's own `symbols` table.
fn perp_id(products: &Products, symbol: &str) -> Result<u32, RestError> {
    products
        .id(symbol)
        .ok_or_else(|| RestError::Decode(format!("{symbol} is not a Nado perp (symbols)")))
}
