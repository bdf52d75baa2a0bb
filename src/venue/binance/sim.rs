//! A simulated Binance USDⓈ-M futures REST API (binance_usdm.md §2–§6, §8):
//! `GET /fapi/v1/time`, `/fapi/v1/exchangeInfo`, `/fapi/v1/premiumIndex`,
//! the signed `GET /fapi/v3/positionRisk`, `POST /fapi/v1/order`,
//! `GET /fapi/v1/order` and the listenKey. Every signed request's HMAC is
//! recomputed over the exact query (and body) received, with the API key's
//! secret, and its timestamp checked against the window (−1022, −1021,
//! −2015 as the venue answers). One-way and hedge accounts behave as the
//! reference says: `reduceOnly` refused in hedge mode (−1106), a position
//! side that does not match the mode (−4061), a reduce-only order with
//! nothing to reduce (−2022), a step the market does not allow (−1111), a
//! one-way reduce-only order larger than the position filled up to it and
//! the rest expired. MARKET orders fill at the mark and are kept for the
//! query by client order id (−2013 otherwise).
//!
//! The user data stream ([`BinanceSim::start_ws`]): `/private/ws/<listenKey>`
//! sends `ACCOUNT_UPDATE` for every position change (nothing on connect),
//! and `listenKeyExpired` when the key is expired.
//!
//! Control: the methods below, or `POST /_sim/account {api_key, secret,
//! hedge}`, `/_sim/position {api_key, symbol, position_side, amount}`,
//! `/_sim/mark {symbol, price}`, `/_sim/fault {fault: lost_reply|dropped|none, times}`.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use http_body_util::Full;
use hyper::body::{Bytes, Incoming};
use hyper::{Request, Response};
use rust_decimal::Decimal;
use serde_json::{json, Value};
use tokio::net::TcpListener;
use tokio::sync::watch;

/// The filters of a symbol [`BinanceSim::list`]ed: MARKET step, MARKET maxQty, tick.
const LISTED: (&str, &str, &str) = ("0.001", "1000", "0.01");

/// The simulator's markets: (symbol, MARKET step, MARKET maxQty, tick).
pub const MARKETS: &[(&str, &str, &str, &str)] = &[
    ("BTCUSDT", "0.001", "120", "0.1"),
    ("ETHUSDT", "0.001", "2000", "0.01"),
    ("SOLUSDT", "0.01", "5000", "0.01"),
    ("ZECUSDT", "0.001", "1000", "0.01"),
    // The rest of the 2025-11-10 incident's markets (the demo's ghosts).
    ("VIRTUALUSDT", "0.1", "500000", "0.0001"),
    ("FARTCOINUSDT", "0.1", "1000000", "0.0001"),
    ("2ZUSDT", "1", "1000000", "0.00001"),
    ("BNBUSDT", "0.01", "2000", "0.01"),
    ("XRPUSDT", "0.1", "1000000", "0.0001"),
    ("ASTERUSDT", "0.01", "1000000", "0.0001"),
    ("PENGUUSDT", "1", "10000000", "0.000001"),
    ("LDOUSDT", "0.1", "1000000", "0.0001"),
    ("CRVUSDT", "0.1", "1000000", "0.0001"),
    ("ENAUSDT", "1", "1000000", "0.0001"),
    ("XPLUSDT", "1", "1000000", "0.0001"),
    ("WLFIUSDT", "1", "1000000", "0.0001"),
    ("PUMPUSDT", "1", "100000000", "0.000001"),
    ("MONUSDT", "1", "1000000", "0.00001"),
    ("SUIUSDT", "0.1", "1000000", "0.0001"),
];

/// A fault injected into `POST /fapi/v1/order`, for a number of requests.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum OrderFault {
    /// Executed, but the reply is lost (503 "Unknown error").
    LostReply,
    /// Never reaches the matching engine (503 "Unknown error").
    Dropped,
}

/// An order the venue executed or refused.
#[derive(Debug, Clone)]
pub struct SimOrder {
    pub api_key: String,
    pub order_id: u64,
    pub client_order_id: String,
    pub symbol: String,
    pub status: String,
    pub executed: Decimal,
    /// The exact query string received.
    pub query: String,
}

#[derive(Debug, Default)]
struct Account {
    secret: String,
    hedge: bool,
    /// (symbol, BOTH|LONG|SHORT) → signed amount.
    positions: BTreeMap<(String, String), Decimal>,
}

#[derive(Debug, Default)]
struct State {
    accounts: BTreeMap<String, Account>,
    marks: BTreeMap<String, Decimal>,
    orders: Vec<SimOrder>,
    next_id: u64,
    fault: Option<(OrderFault, u32)>,
    listen_keys: BTreeMap<String, String>,
    /// (API key, symbol) with resting reduce-only orders covering the
    /// position (a new reduce-only order meets −4118 until they are cancelled).
    covered: std::collections::BTreeSet<(String, String)>,
    /// User data stream subscribers: the API key and the connection's outbox.
    subscribers: Vec<(String, tokio::sync::mpsc::UnboundedSender<String>)>,
    /// Requests by method and path (`POST /fapi/v1/order`).
    stopwatch: crate::venue::simkit::Stopwatch,
    /// Symbols listed after [`MARKETS`], with [`LISTED`]'s filters.
    listed: Vec<String>,
}

/// The simulator; cheap to clone.
#[derive(Debug, Clone)]
pub struct BinanceSim {
    state: Arc<Mutex<State>>,
}

fn reply(status: u16, body: String) -> Response<Full<Bytes>> {
    Response::builder()
        .status(status)
        .header("content-type", "application/json")
        .body(Full::new(Bytes::from(body)))
        .unwrap_or_else(|_| Response::new(Full::new(Bytes::new())))
}

fn error(status: u16, code: i64, msg: &str) -> Response<Full<Bytes>> {
    reply(status, json!({"code": code, "msg": msg}).to_string())
}

fn now_ms() -> i64 {
    crate::clock::now().0
}

impl BinanceSim {
    /// Binds (port 0 picks a free one) and serves until `shutdown`.
    pub async fn start(addr: SocketAddr, shutdown: watch::Receiver<bool>) -> std::io::Result<(BinanceSim, SocketAddr)> {
        let listener = TcpListener::bind(addr).await?;
        let local = listener.local_addr()?;
        let sim = BinanceSim {
            state: Arc::new(Mutex::new(State {
                next_id: 8_389_765_000,
                ..State::default()
            })),
        };
        let serving = sim.clone();
        crate::venue::simkit::serve_http(listener, shutdown, move |req| {
            let sim = serving.clone();
            async move { sim.handle(req).await }
        });
        Ok((sim, local))
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Registers an account (its API key and secret; hedge or one-way mode).
    pub fn add_account(&self, api_key: &str, secret: &str, hedge: bool) {
        self.lock().accounts.insert(
            api_key.to_owned(),
            Account {
                secret: secret.to_owned(),
                hedge,
                positions: BTreeMap::new(),
            },
        );
    }

    /// Sets a position (`position_side` BOTH, LONG or SHORT; signed amount).
    pub fn set_position(&self, api_key: &str, symbol: &str, position_side: &str, amount: Decimal) {
        let mut st = self.lock();
        if let Some(a) = st.accounts.get_mut(api_key) {
            a.positions
                .insert((symbol.to_owned(), position_side.to_owned()), amount);
        }
        Self::push(&mut st, api_key, symbol, position_side, amount);
    }

    /// Sends `ACCOUNT_UPDATE` for one changed position to the account's
    /// user data streams (dropping closed ones).
    fn push(st: &mut State, api_key: &str, symbol: &str, position_side: &str, amount: Decimal) {
        let now = now_ms();
        let frame = json!({"e": "ACCOUNT_UPDATE", "E": now, "T": now, "a": {"m": "ORDER",
            "B": [{"a": "USDT", "wb": "10000", "cw": "10000", "bc": "0"}],
            "P": [{"s": symbol, "pa": amount.to_string(), "ep": Self::mark(st, symbol).to_string(), "bep": "0",
                   "cr": "0", "up": "0", "mt": "cross", "iw": "0", "ps": position_side}]}})
        .to_string();
        st.subscribers
            .retain(|(key, tx)| key != api_key || tx.send(frame.clone()).is_ok());
    }

    /// Rests reduce-only orders on `symbol` that cover the position (a
    /// full-size take-profit): reduce-only orders meet −4118 until cancelled.
    pub fn cover_with_resting_orders(&self, api_key: &str, symbol: &str) {
        self.lock().covered.insert((api_key.to_owned(), symbol.to_owned()));
    }

    /// Expires the account's listenKey (as the bot's DELETE would): its
    /// streams get `listenKeyExpired` and nothing after.
    pub fn expire_listen_key(&self, api_key: &str) {
        let mut st = self.lock();
        st.listen_keys.retain(|_, a| a != api_key);
        let frame = json!({"e": "listenKeyExpired", "E": now_ms(), "listenKey": ""}).to_string();
        st.subscribers.retain(|(key, tx)| {
            if key == api_key {
                let _ = tx.send(frame.clone());
                false
            } else {
                true
            }
        });
    }

    /// The account's user data streams open on a live listenKey (one a
    /// connection made after [`BinanceSim::expire_listen_key`] is on a new key).
    pub fn streams(&self, api_key: &str) -> usize {
        let st = self.lock();
        st.subscribers
            .iter()
            .filter(|(key, tx)| key == api_key && !tx.is_closed())
            .count()
    }

    /// Serves the user data stream (`/private/ws/<listenKey>`) on its own
    /// port until `shutdown`.
    pub async fn start_ws(&self, addr: SocketAddr, shutdown: watch::Receiver<bool>) -> std::io::Result<SocketAddr> {
        let listener = TcpListener::bind(addr).await?;
        let local = listener.local_addr()?;
        let sim = self.clone();
        crate::venue::simkit::accept(listener, shutdown, move |stream, shutdown| {
            sim.clone().ws_connection(stream, shutdown)
        });
        Ok(local)
    }

    async fn ws_connection(self, stream: tokio::net::TcpStream, mut shutdown: watch::Receiver<bool>) {
        use futures_util::{SinkExt, StreamExt};
        use tokio_tungstenite::tungstenite::handshake::server::{Request as WsRequest, Response as WsResponse};
        use tokio_tungstenite::tungstenite::Message;
        let mut path = String::new();
        // The handshake's callback type is tungstenite's (its error is large).
        #[allow(clippy::result_large_err)]
        let callback = |req: &WsRequest, resp: WsResponse| {
            path = req.uri().path().to_owned();
            Ok(resp)
        };
        let Ok(ws) = tokio_tungstenite::accept_hdr_async(stream, callback).await else {
            return;
        };
        let (mut sink, mut incoming) = ws.split();
        // Only the routed private path carries user data (§1).
        let key = path.strip_prefix("/private/ws/").unwrap_or("").to_owned();
        let api_key = self.lock().listen_keys.get(&key).cloned();
        let (tx, mut outbox) = tokio::sync::mpsc::unbounded_channel::<String>();
        if let Some(api_key) = api_key {
            self.lock().subscribers.push((api_key, tx.clone()));
        }
        drop(tx);
        let mut open = true;
        loop {
            tokio::select! {
                biased;
                _ = shutdown.changed() => return,
                out = outbox.recv(), if open => match out {
                    Some(out) => {
                        let positions = out.contains(r#""e":"ACCOUNT_UPDATE""#);
                        if sink.send(Message::text(out)).await.is_err() {
                            return;
                        }
                        if positions {
                            self.lock().stopwatch.frame_written();
                        }
                    }
                    // Expired (or never a valid key): nothing more comes.
                    None => open = false,
                },
                msg = incoming.next() => match msg {
                    None | Some(Err(_)) | Some(Ok(Message::Close(_))) => return,
                    // Pings are answered by the library.
                    _ => {}
                },
            }
        }
    }

    pub fn position(&self, api_key: &str, symbol: &str, position_side: &str) -> Decimal {
        self.lock()
            .accounts
            .get(api_key)
            .and_then(|a| a.positions.get(&(symbol.to_owned(), position_side.to_owned())).copied())
            .unwrap_or(Decimal::ZERO)
    }

    pub fn set_mark(&self, symbol: &str, price: Decimal) {
        self.lock().marks.insert(symbol.to_owned(), price);
    }

    /// The next `times` orders meet `fault` (`None` clears).
    pub fn set_fault(&self, fault: Option<OrderFault>, times: u32) {
        self.lock().fault = fault.map(|f| (f, times.max(1)));
    }

    /// The timing of `ACCOUNT_UPDATE` frames written and of requests received, by
    /// kind (method and path: `POST /fapi/v1/order`), for the detection bench.
    pub fn timing<R>(&self, f: impl FnOnce(&mut crate::venue::simkit::Stopwatch) -> R) -> R {
        f(&mut self.lock().stopwatch)
    }

    pub fn orders(&self) -> Vec<SimOrder> {
        self.lock().orders.clone()
    }

    fn mark(st: &State, symbol: &str) -> Decimal {
        st.marks.get(symbol).copied().unwrap_or(Decimal::ONE_HUNDRED)
    }

    async fn handle(&self, req: Request<Incoming>) -> Response<Full<Bytes>> {
        let method = req.method().as_str().to_owned();
        let path = req.uri().path().to_owned();
        let query = req.uri().query().unwrap_or("").to_owned();
        let api_key = req
            .headers()
            .get("x-mbx-apikey")
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
            .to_owned();
        let body = crate::venue::simkit::body(req).await;
        let body = String::from_utf8_lossy(&body).into_owned();
        self.lock().stopwatch.received(format!("{method} {path}"));
        if let Some(control) = path.strip_prefix("/_sim/") {
            return match self.control(control, &body) {
                Ok(()) => reply(200, r#"{"ok":true}"#.into()),
                Err(e) => reply(400, json!({ "error": e }).to_string()),
            };
        }
        match (method.as_str(), path.as_str()) {
            ("GET", "/fapi/v1/time") => reply(200, json!({"serverTime": now_ms()}).to_string()),
            ("GET", "/fapi/v1/exchangeInfo") => reply(200, Self::exchange_info(&self.lock()).to_string()),
            ("GET", "/fapi/v1/premiumIndex") => {
                let st = self.lock();
                let list: Vec<Value> = Self::markets(&st)
                    .map(|(s, ..)| json!({"symbol": s, "markPrice": Self::mark(&st, s).to_string()}))
                    .collect();
                reply(200, Value::Array(list).to_string())
            }
            ("POST" | "PUT" | "DELETE", "/fapi/v1/listenKey") => self.listen_key(&method, &api_key),
            (_, "/fapi/v3/positionRisk" | "/fapi/v1/order" | "/fapi/v1/allOpenOrders" | "/fapi/v1/algoOpenOrders") => {
                let params = match self.authenticate(&api_key, &query, &body) {
                    Ok(p) => p,
                    Err(r) => return r,
                };
                match (method.as_str(), path.as_str()) {
                    ("GET", "/fapi/v3/positionRisk") => self.position_risk(&api_key),
                    ("POST", "/fapi/v1/order") => self.order(&api_key, &params, &query),
                    ("GET", "/fapi/v1/order") => self.query_order(&api_key, &params),
                    ("DELETE", "/fapi/v1/allOpenOrders" | "/fapi/v1/algoOpenOrders") => {
                        let symbol = params.get("symbol").cloned().unwrap_or_default();
                        self.lock().covered.remove(&(api_key.clone(), symbol));
                        reply(
                            200,
                            json!({"code": 200, "msg": "The operation of cancel all open order is done."}).to_string(),
                        )
                    }
                    _ => error(405, -1000, "method not allowed"),
                }
            }
            _ => error(404, -1000, "not found"),
        }
    }

    /// [`MARKETS`], then the symbols [`Self::list`]ed.
    fn markets(st: &State) -> impl Iterator<Item = (&str, &'static str, &'static str, &'static str)> {
        let (step, max, tick) = LISTED;
        MARKETS
            .iter()
            .copied()
            .chain(st.listed.iter().map(move |s| (s.as_str(), step, max, tick)))
    }

    /// Lists more symbols after the built-in markets: a load test watches a thousand.
    pub fn list(&self, symbols: impl IntoIterator<Item = String>) {
        self.lock().listed.extend(symbols);
    }

    fn exchange_info(st: &State) -> Value {
        let symbols: Vec<Value> = Self::markets(st)
            .map(|(s, step, max, tick)| {
                json!({"symbol": s, "status": "TRADING", "contractType": "PERPETUAL", "filters": [
                    {"filterType": "PRICE_FILTER", "minPrice": "0.01", "maxPrice": "1000000", "tickSize": tick},
                    {"filterType": "LOT_SIZE", "minQty": step, "maxQty": "100000", "stepSize": step},
                    {"filterType": "MARKET_LOT_SIZE", "minQty": step, "maxQty": max, "stepSize": step},
                    {"filterType": "MIN_NOTIONAL", "notional": "5.0"}]})
            })
            .collect();
        json!({"timezone": "UTC", "serverTime": now_ms(), "symbols": symbols})
    }

    /// Checks the API key, the signature over the exact bytes received and
    /// the timestamp window; the parameters.
    #[allow(clippy::result_large_err)]
    fn authenticate(
        &self,
        api_key: &str,
        query: &str,
        body: &str,
    ) -> Result<BTreeMap<String, String>, Response<Full<Bytes>>> {
        let st = self.lock();
        let Some(account) = st.accounts.get(api_key) else {
            return Err(error(401, -2015, "Invalid API-key, IP, or permissions for action."));
        };
        // totalParams: the query string, then the body, nothing between.
        let total = format!("{query}{body}");
        let Some((signed, signature)) = total.rsplit_once("&signature=") else {
            return Err(error(
                400,
                -1102,
                "Mandatory parameter 'signature' was not sent, was empty/null, or malformed.",
            ));
        };
        if !super::sign::signature(&account.secret, signed).eq_ignore_ascii_case(signature) {
            return Err(error(400, -1022, "Signature for this request is not valid."));
        }
        let params: BTreeMap<String, String> = signed
            .split('&')
            .filter_map(|kv| kv.split_once('='))
            .map(|(k, v)| (k.to_owned(), v.to_owned()))
            .collect();
        let ts: i64 = params.get("timestamp").and_then(|t| t.parse().ok()).unwrap_or(0);
        let window: i64 = params.get("recvWindow").and_then(|t| t.parse().ok()).unwrap_or(5000);
        let now = now_ms();
        if ts >= now + 1000 || now - ts > window {
            return Err(error(
                400,
                -1021,
                "Timestamp for this request is outside of the recvWindow.",
            ));
        }
        Ok(params)
    }

    fn listen_key(&self, method: &str, api_key: &str) -> Response<Full<Bytes>> {
        let mut st = self.lock();
        if !st.accounts.contains_key(api_key) {
            return error(401, -2015, "Invalid API-key, IP, or permissions for action.");
        }
        // One key per account: a second POST returns the same one.
        let existing = st
            .listen_keys
            .iter()
            .find(|(_, a)| *a == api_key)
            .map(|(k, _)| k.clone());
        match (method, existing) {
            ("POST", Some(k)) => reply(200, json!({"listenKey": k}).to_string()),
            ("POST", None) => {
                let k: String = format!("{:064x}", rand::random::<u128>());
                st.listen_keys.insert(k.clone(), api_key.to_owned());
                reply(200, json!({"listenKey": k}).to_string())
            }
            ("PUT", Some(k)) => reply(200, json!({"listenKey": k}).to_string()),
            ("PUT", None) => error(400, -1125, "This listenKey does not exist."),
            (_, Some(k)) => {
                st.listen_keys.remove(&k);
                reply(200, "{}".into())
            }
            _ => error(400, -1125, "This listenKey does not exist."),
        }
    }

    fn position_risk(&self, api_key: &str) -> Response<Full<Bytes>> {
        let st = self.lock();
        let Some(a) = st.accounts.get(api_key) else {
            return error(401, -2015, "Invalid API-key, IP, or permissions for action.");
        };
        let list: Vec<Value> = a
            .positions
            .iter()
            .filter(|(_, amt)| !amt.is_zero())
            .map(|((symbol, ps), amt)| {
                let mark = Self::mark(&st, symbol);
                json!({"symbol": symbol, "positionSide": ps, "positionAmt": amt.to_string(),
                       "entryPrice": mark.to_string(), "markPrice": mark.to_string(),
                       "notional": (mark * amt).to_string(), "updateTime": now_ms()})
            })
            .collect();
        reply(200, Value::Array(list).to_string())
    }

    fn query_order(&self, api_key: &str, params: &BTreeMap<String, String>) -> Response<Full<Bytes>> {
        let st = self.lock();
        let id = params.get("origClientOrderId").cloned().unwrap_or_default();
        // The latest order under that id.
        match st
            .orders
            .iter()
            .rev()
            .find(|o| o.api_key == api_key && o.client_order_id == id)
        {
            None => error(400, -2013, "Order does not exist."),
            Some(o) => reply(200, Self::order_json(o).to_string()),
        }
    }

    fn order_json(o: &SimOrder) -> Value {
        json!({"orderId": o.order_id, "clientOrderId": o.client_order_id, "symbol": o.symbol,
               "type": "MARKET", "status": o.status, "executedQty": o.executed.to_string(),
               "updateTime": now_ms()})
    }

    fn order(&self, api_key: &str, p: &BTreeMap<String, String>, query: &str) -> Response<Full<Bytes>> {
        let fault = {
            let mut st = self.lock();
            match st.fault {
                Some((f, left)) => {
                    st.fault = (left > 1).then_some((f, left - 1));
                    Some(f)
                }
                None => None,
            }
        };
        let unknown = || {
            error(
                503,
                -1000,
                "Unknown error, please check your request or try again later.",
            )
        };
        if fault == Some(OrderFault::Dropped) {
            return unknown();
        }
        let answer = self.execute(api_key, p, query);
        match fault {
            Some(_) => unknown(),
            None => answer,
        }
    }

    fn execute(&self, api_key: &str, p: &BTreeMap<String, String>, query: &str) -> Response<Full<Bytes>> {
        let mut st = self.lock();
        let get = |k: &str| p.get(k).map(String::as_str);
        let symbol = get("symbol").unwrap_or("").to_owned();
        let Some((_, step, ..)) = Self::markets(&st).find(|m| m.0 == symbol) else {
            return error(400, -1121, "Invalid symbol.");
        };
        if get("type") != Some("MARKET") {
            return error(400, -1116, "Invalid orderType.");
        }
        let client_order_id = get("newClientOrderId").unwrap_or("").to_owned();
        if !client_order_id.is_empty() && !super::sign::valid_client_order_id(&client_order_id) {
            return error(400, -1100, "Illegal characters found in parameter 'newClientOrderId'.");
        }
        let Some(qty) = get("quantity")
            .and_then(|q| q.parse::<Decimal>().ok())
            .filter(|q| *q > Decimal::ZERO)
        else {
            return error(
                400,
                -1102,
                "Mandatory parameter 'quantity' was not sent, was empty/null, or malformed.",
            );
        };
        let step: Decimal = step.parse().unwrap_or(Decimal::ONE);
        if (qty % step) != Decimal::ZERO {
            return error(400, -1111, "Precision is over the maximum defined for this asset.");
        }
        let buy = match get("side") {
            Some("BUY") => true,
            Some("SELL") => false,
            _ => return error(400, -1117, "Invalid side."),
        };
        let Some(account) = st.accounts.get(api_key) else {
            return error(401, -2015, "Invalid API-key, IP, or permissions for action.");
        };
        let hedge = account.hedge;
        let ps = get("positionSide").unwrap_or("BOTH").to_owned();
        if hedge && get("reduceOnly").is_some() {
            return error(400, -1106, "Parameter 'reduceonly' sent when not required.");
        }
        if hedge == (ps == "BOTH") {
            return error(400, -4061, "Order's position side does not match user's setting.");
        }
        let key = (symbol.clone(), ps.clone());
        let pos = account.positions.get(&key).copied().unwrap_or(Decimal::ZERO);
        let reduce_only = get("reduceOnly") == Some("true");
        // Reducing: one-way reduce-only, or a hedge leg from its own side.
        let reducing = reduce_only || (ps == "LONG" && !buy) || (ps == "SHORT" && buy);
        if reducing && st.covered.contains(&(api_key.to_owned(), symbol.clone())) {
            return error(
                400,
                -4118,
                "ReduceOnly Order Failed. Please check your existing position and open orders",
            );
        }
        let (executed, status) = if reducing {
            let against = (pos > Decimal::ZERO && !buy) || (pos < Decimal::ZERO && buy);
            if pos.is_zero() || !against {
                return error(400, -2022, "ReduceOnly Order is rejected.");
            }
            if hedge && qty > pos.abs() {
                return error(400, -2022, "ReduceOnly Order is rejected.");
            }
            // One-way: what would reverse the position expires.
            if qty > pos.abs() {
                (pos.abs(), "EXPIRED")
            } else {
                (qty, "FILLED")
            }
        } else {
            (qty, "FILLED")
        };
        let after = if buy { pos + executed } else { pos - executed };
        if let Some(a) = st.accounts.get_mut(api_key) {
            a.positions.insert(key.clone(), after);
        }
        Self::push(&mut st, api_key, &key.0, &key.1, after);
        st.next_id += 1;
        let order = SimOrder {
            api_key: api_key.to_owned(),
            order_id: st.next_id,
            client_order_id,
            symbol,
            status: status.to_owned(),
            executed,
            query: query.to_owned(),
        };
        let out = Self::order_json(&order);
        crate::venue::simkit::remember(&mut st.orders, order);
        reply(200, out.to_string())
    }

    fn control(&self, path: &str, body: &str) -> Result<(), String> {
        let v: Value = serde_json::from_str(body).map_err(|e| format!("bad request: {e}"))?;
        let text = |k: &str| {
            v[k].as_str()
                .map(str::to_owned)
                .ok_or(format!("{k}: expected a string"))
        };
        let dec = |k: &str| {
            v[k].as_str()
                .and_then(|s| s.parse::<Decimal>().ok())
                .ok_or(format!("{k}: expected a decimal string"))
        };
        match path {
            "account" => self.add_account(
                &text("api_key")?,
                &text("secret")?,
                v["hedge"].as_bool().unwrap_or(false),
            ),
            "position" => self.set_position(
                &text("api_key")?,
                &text("symbol")?,
                &text("position_side")?,
                dec("amount")?,
            ),
            "mark" => self.set_mark(&text("symbol")?, dec("price")?),
            "fault" => {
                let fault = match v["fault"].as_str() {
                    Some("none") => None,
                    Some(f) => Some(
                        serde_json::from_value::<OrderFault>(Value::String(f.to_owned()))
                            .map_err(|_| format!("unknown fault {f:?}: lost_reply, dropped or none"))?,
                    ),
                    None => return Err("fault: expected lost_reply, dropped or none".into()),
                };
                self.set_fault(fault, v["times"].as_u64().unwrap_or(1) as u32);
            }
            other => return Err(format!("unknown control {other}")),
        }
        Ok(())
    }
}

/// `driftwatch sim --venue binance`: REST on `rest`, the user data stream on
/// `ws`; `--open API_KEY:SECRET:SYMBOL:POSITION_SIDE:AMOUNT` (the account is
/// made one-way, or hedge when a LONG or SHORT leg is opened); until `until`.
pub async fn serve(
    rest: SocketAddr,
    ws: SocketAddr,
    open: &[String],
    until: impl std::future::Future<Output = ()>,
) -> anyhow::Result<()> {
    let (stop_tx, stop_rx) = watch::channel(false);
    let (sim, rest) = BinanceSim::start(rest, stop_rx.clone()).await?;
    let ws = sim.start_ws(ws, stop_rx).await?;
    for spec in open {
        let parsed = match spec.split(':').collect::<Vec<_>>().as_slice() {
            [key, secret, symbol, side @ ("BOTH" | "LONG" | "SHORT"), amount] => {
                amount.parse::<Decimal>().ok().map(|a| {
                    (
                        key.to_string(),
                        secret.to_string(),
                        symbol.to_string(),
                        side.to_string(),
                        a,
                    )
                })
            }
            _ => None,
        };
        let Some((key, secret, symbol, side, amount)) = parsed else {
            anyhow::bail!("--open {spec:?}: expected API_KEY:SECRET:SYMBOL:BOTH|LONG|SHORT:SIGNED_AMOUNT");
        };
        if !sim.lock().accounts.contains_key(&key) {
            sim.add_account(&key, &secret, side != "BOTH");
        }
        sim.set_position(&key, &symbol, &side, amount);
    }
    println!("Simulated Binance USDⓈ-M futures on loopback:");
    println!("  rest_url: http://{rest}");
    println!("  ws_url:   ws://{ws}/private");
    println!("Script it with POST http://{rest}/_sim/account|position|mark|fault (JSON).");
    until.await;
    let _ = stop_tx.send(true);
    Ok(())
}
