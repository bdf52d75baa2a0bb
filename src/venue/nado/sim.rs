//! A simulated Nado gateway on loopback: the documented query, execute and
//! subscriptions protocol over real sockets (nado.md §1–6), with the
//! venue's quirks:
//! - `/v1/subscribe` refuses a client that does not negotiate
//!   permessage-deflate (an error frame with code 2080, then a close), and
//!   drops a client that sends no WebSocket ping frame for `ping_timeout`;
//! - `position_change` carries the new **absolute** x18 amount, fires for
//!   the quote product (0) on every match, is never replayed after a
//!   reconnect, and can be sent twice;
//! - `subaccount_info` lists previously traded products with `amount: "0"`;
//!   isolated positions appear only in `isolated_positions`;
//! - an empty ask side is `i128::MAX` in `market_price`;
//! - queries share the per-IP weight limits (400 per 10 s, 2400 per minute)
//!   with whatever else calls from the same address ([`NadoSim::spend_query_weight`]
//!   plays the bot);
//! - `place_order` checks the EIP-712 signature against the owner or the
//!   linked signer, the nonce's receive window, the expiration (seconds),
//!   the appendix, the increments and the oracle band, and executes IOC/FOK
//!   reduce-only orders against a one-level book, with the documented
//!   error codes (2000, 2001, 2004, 2007, 2011, 2012, 2013, 2027, 2028,
//!   2031, 2034, 2035, 2056, 2064, 2067, 2095).
//!
//! Requests to undocumented paths, and the simulator's own choices (HTTP
//! 429 alongside error 1000; unknown products as error 2 "invalid
//! product"), are marked where they are made. It is scripted through
//! [`NadoSim`] (in process) or `POST /_sim/...`, and injects the Pacifica
//! simulator's faults: drop every socket, withhold data frames or acks,
//! duplicate events, answer REST with 429, 500, a timeout, garbage or an
//! empty account, fail or lose the next order, move a position while an
//! order is in flight.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::convert::Infallible;
use std::net::SocketAddr;
use std::str::FromStr;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use alloy_primitives::{Address, B256};
use bytes::Bytes;
use futures_util::{SinkExt, StreamExt};
use http_body_util::{Either, Empty, Full};
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use rust_decimal::Decimal;
use serde::Deserialize;
use serde_json::{json, Value};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{mpsc, watch};
use tokio::time::Instant;
use yawc::{Frame, OpCode, WebSocket};

use crate::venue::nado::parse::to_x18;
use crate::venue::nado::sign::{self, OrderParams, RecoverError};
use crate::venue::types::RateBudget;

pub use crate::venue::simkit::RestFault;

/// The simulated venue's settings.
#[derive(Debug, Clone)]
pub struct SimConfig {
    /// A client that sends no ping frame for this long is disconnected (the
    /// docs ask for one at least every 30 s).
    pub ping_timeout: Duration,
    pub chain_id: u64,
    /// The Endpoint contract, as `contracts` reports it.
    pub endpoint: String,
    /// Refuse `/v1/subscribe` without permessage-deflate (2080).
    pub require_deflate: bool,
    /// Perps listed beyond [`PRODUCTS`] (`P0-PERP`, `P1-PERP`, ...: ids
    /// 1000, 1002, ...), for load tests with many symbols.
    pub extra_products: u32,
}

impl Default for SimConfig {
    fn default() -> Self {
        SimConfig {
            ping_timeout: Duration::from_secs(30),
            chain_id: sign::MAINNET_CHAIN_ID,
            endpoint: sign::MAINNET_ENDPOINT.to_owned(),
            require_deflate: true,
            extra_products: 0,
        }
    }
}

/// One perp market (the simulator's choices; ids follow the venue's
/// metadata: perps are even).
#[derive(Debug, Clone)]
pub struct SimProduct {
    pub id: u32,
    pub symbol: std::borrow::Cow<'static, str>,
    pub size_increment: &'static str,
    pub price_increment: &'static str,
    /// Quote notional.
    pub min_size: &'static str,
    pub oracle: &'static str,
}

pub const PRODUCTS: &[SimProduct] = &[
    SimProduct {
        id: 2,
        symbol: std::borrow::Cow::Borrowed("BTC-PERP"),
        size_increment: "0.00005",
        price_increment: "1",
        min_size: "10",
        oracle: "90000",
    },
    SimProduct {
        id: 4,
        symbol: std::borrow::Cow::Borrowed("ETH-PERP"),
        size_increment: "0.001",
        price_increment: "0.1",
        min_size: "10",
        oracle: "3000",
    },
    SimProduct {
        id: 8,
        symbol: std::borrow::Cow::Borrowed("SOL-PERP"),
        size_increment: "0.01",
        price_increment: "0.01",
        min_size: "10",
        oracle: "140",
    },
    SimProduct {
        id: 10,
        symbol: std::borrow::Cow::Borrowed("XRP-PERP"),
        size_increment: "1",
        price_increment: "0.0001",
        min_size: "10",
        oracle: "2.2",
    },
    SimProduct {
        id: 14,
        symbol: std::borrow::Cow::Borrowed("BNB-PERP"),
        size_increment: "0.01",
        price_increment: "0.01",
        min_size: "10",
        oracle: "900",
    },
    SimProduct {
        id: 16,
        symbol: std::borrow::Cow::Borrowed("HYPE-PERP"),
        size_increment: "0.01",
        price_increment: "0.001",
        min_size: "10",
        oracle: "35",
    },
];

/// The quote product (USDT0): changes on most matches; not a perp.
const QUOTE: u32 = 0;

/// An execute the simulator received, with what it answered.
#[derive(Debug, Clone)]
pub struct ReceivedOrder {
    pub at: Instant,
    /// `place_order` or `cancel_product_orders`.
    pub kind: String,
    pub body: Value,
    /// Whether the signature recovered to the owner or the linked signer.
    pub verified: bool,
    pub status: u16,
    pub error_code: Option<i64>,
    pub response: String,
    /// What the venue executed for it (zero when refused or unmatched).
    pub filled: Decimal,
}

/// A request the simulator received (for assertions).
#[derive(Debug, Clone)]
pub struct Recorded {
    pub at: Instant,
    pub method: String,
    pub path: String,
    pub body: Vec<u8>,
    pub accept_encoding: Option<String>,
}

#[derive(Debug, Clone, Copy, Default)]
struct Balance {
    amount: Decimal,
    v_quote: Decimal,
}

#[derive(Debug, Clone, Copy)]
struct Book {
    bid: Option<Decimal>,
    ask: Option<Decimal>,
    /// Base available at the top level (`None`: unlimited).
    depth: Option<Decimal>,
}

enum Out {
    Frame(String),
    Drop,
}

struct Conn {
    tx: mpsc::UnboundedSender<Out>,
    /// Subaccounts whose `position_change` this connection wants.
    positions: BTreeSet<String>,
    liquidations: bool,
}

#[derive(Default)]
struct Faults {
    silent: bool,
    no_ack: bool,
    duplicate_next: bool,
    rest: crate::venue::simkit::RestFaults,
    /// Answer the next place_order with this error code.
    next_order_error: Option<i64>,
    lose_next_order_response: bool,
    /// (subaccount, product, amount) set before the next order is decided.
    next_order_position: Option<(String, u32, Decimal)>,
    /// Answer `subaccount_orders` with HTTP 500.
    orders_query_down: bool,
}

struct State {
    /// When the first frame after [`NadoSim::watch_next_frame`] was written.
    next_frame_written: Option<Instant>,
    /// subaccount → (product, isolated) → balance. Entries stay after a
    /// close with amount zero, as the venue lists them.
    balances: BTreeMap<String, BTreeMap<(u32, bool), Balance>>,
    linked: BTreeMap<String, Address>,
    oracle: BTreeMap<u32, Decimal>,
    books: BTreeMap<u32, Book>,
    conns: HashMap<u64, Conn>,
    next_conn: u64,
    connections_accepted: u64,
    refused_uncompressed: u64,
    faults: Faults,
    orders: Vec<ReceivedOrder>,
    /// (subaccount, product) → the signed amounts of its resting orders
    /// (placed by the script; the simulator does not match them).
    resting: BTreeMap<(String, u32), Vec<Decimal>>,
    digests: BTreeSet<B256>,
    requests: Vec<Recorded>,
    budget: RateBudget,
    last_ns: u128,
}

struct Inner {
    state: Mutex<State>,
    cfg: SimConfig,
    products: Vec<SimProduct>,
}

/// A handle to a running simulator. Cloning shares it.
#[derive(Clone)]
pub struct NadoSim {
    inner: Arc<Inner>,
}

/// Where a running simulator listens (one port: gateway and subscriptions).
#[derive(Debug, Clone, Copy)]
pub struct SimAddrs {
    pub gateway: SocketAddr,
}

impl SimAddrs {
    pub fn rest_url(&self) -> String {
        format!("http://{}/v1", self.gateway)
    }

    pub fn ws_url(&self) -> String {
        format!("ws://{}/v1/subscribe", self.gateway)
    }
}

fn listed(extra: u32) -> Vec<SimProduct> {
    let mut all = PRODUCTS.to_vec();
    all.extend((0..extra).map(|i| SimProduct {
        id: 1000 + 2 * i,
        symbol: format!("P{i}-PERP").into(),
        size_increment: "0.01",
        price_increment: "0.01",
        min_size: "10",
        oracle: "100",
    }));
    all
}

fn dec(s: &str) -> Decimal {
    Decimal::from_str(s).unwrap_or_default()
}

fn x18(d: Decimal) -> String {
    to_x18(d).map_or_else(|_| "0".into(), |v| v.to_string())
}

/// The isolated subaccount for a product: owner ‖ 6 zero bytes ‖ product
/// id (2 bytes) ‖ index ‖ "iso".
fn iso_subaccount(parent: &str, product_id: u32) -> String {
    let owner = &parent[..42];
    format!("{owner}000000000000{:04x}0069736f", product_id)
}

fn lower(s: &str) -> String {
    s.to_ascii_lowercase()
}

impl NadoSim {
    /// Binds the gateway (port 0 picks a free one) and serves until
    /// `shutdown` turns true.
    pub async fn start(
        cfg: SimConfig,
        addr: SocketAddr,
        shutdown: watch::Receiver<bool>,
    ) -> std::io::Result<(NadoSim, SimAddrs)> {
        let listener = TcpListener::bind(addr).await?;
        let addrs = SimAddrs {
            gateway: listener.local_addr()?,
        };
        let products = listed(cfg.extra_products);
        let sim = NadoSim {
            inner: Arc::new(Inner {
                state: Mutex::new(State {
                    next_frame_written: None,
                    balances: BTreeMap::new(),
                    linked: BTreeMap::new(),
                    oracle: products.iter().map(|p| (p.id, dec(p.oracle))).collect(),
                    books: BTreeMap::new(),
                    conns: HashMap::new(),
                    next_conn: 0,
                    connections_accepted: 0,
                    refused_uncompressed: 0,
                    faults: Faults::default(),
                    orders: Vec::new(),
                    resting: BTreeMap::new(),
                    digests: BTreeSet::new(),
                    requests: Vec::new(),
                    budget: RateBudget::new(&crate::venue::nado::limits::QUERY_LIMITS),
                    last_ns: 0,
                }),
                cfg,
                products,
            }),
        };
        tokio::spawn(sim.clone().serve(listener, shutdown));
        Ok((sim, addrs))
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        self.inner.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn product(&self, id: u32) -> Option<&SimProduct> {
        self.inner.products.iter().find(|p| p.id == id)
    }

    fn product_by_symbol(&self, symbol: &str) -> Option<&SimProduct> {
        self.inner.products.iter().find(|p| p.symbol == symbol)
    }

    // === Script ===

    /// Sets a subaccount's cross position in `symbol` to `amount` (signed,
    /// absolute), as a match would, and streams the change. The subaccount
    /// exists from then on.
    pub fn set_position(&self, subaccount: &str, symbol: &str, amount: &str) {
        self.set_leg(subaccount, symbol, amount, false, "match_orders");
    }

    /// The same for the isolated leg.
    pub fn set_isolated(&self, subaccount: &str, symbol: &str, amount: &str) {
        self.set_leg(subaccount, symbol, amount, true, "match_orders");
    }

    fn set_leg(&self, subaccount: &str, symbol: &str, amount: &str, isolated: bool, reason: &str) {
        let Some(p) = self.product_by_symbol(symbol) else {
            return;
        };
        let amount = dec(amount);
        let mut st = self.lock();
        let oracle = st.oracle.get(&p.id).copied().unwrap_or_default();
        let sub = lower(subaccount);
        let bal = st.balances.entry(sub.clone()).or_default();
        bal.entry((QUOTE, false)).or_default();
        let b = bal.entry((p.id, isolated)).or_default();
        b.v_quote -= (amount - b.amount) * oracle;
        b.amount = amount;
        let b = *b;
        Self::emit_position(&mut st, &sub, p.id, isolated, b, reason);
        let q = st.balances[&sub][&(QUOTE, false)];
        Self::emit_position(&mut st, &sub, QUOTE, false, q, reason);
    }

    /// A subaccount with a deposit and nothing else.
    pub fn deposit(&self, subaccount: &str) {
        let sub = lower(subaccount);
        let mut st = self.lock();
        let b = st
            .balances
            .entry(sub.clone())
            .or_default()
            .entry((QUOTE, false))
            .or_default();
        b.amount += Decimal::from(1000);
        let b = *b;
        Self::emit_position(&mut st, &sub, QUOTE, false, b, "deposit_collateral");
    }

    /// Liquidates a cross position: `liquidation` to its subscribers, then
    /// the `position_change` (reason `liquidate_subaccount`).
    pub fn liquidate(&self, subaccount: &str, symbol: &str) {
        let Some(p) = self.product_by_symbol(symbol) else {
            return;
        };
        let sub = lower(subaccount);
        {
            let mut st = self.lock();
            let ns = Self::next_ns(&mut st);
            let oracle = st.oracle.get(&p.id).copied().unwrap_or_default();
            let amount = st
                .balances
                .get(&sub)
                .and_then(|b| b.get(&(p.id, false)))
                .map_or(Decimal::ZERO, |b| b.amount);
            let frame = json!({"type": "liquidation", "timestamp": ns.to_string(), "product_ids": [p.id],
                "liquidator": "0x0000000000000000000000000000000000000000000000000000000000000000",
                "liquidatee": sub, "amount": x18(amount), "price": x18(oracle)})
            .to_string();
            for c in st.conns.values() {
                if c.liquidations {
                    let _ = c.tx.send(Out::Frame(frame.clone()));
                }
            }
        }
        self.set_leg(&sub, symbol, "0", false, "liquidate_subaccount");
    }

    /// Links a signer to a subaccount (replacing any other, as on the venue).
    pub fn link_signer(&self, subaccount: &str, signer: Address) {
        self.lock().linked.insert(lower(subaccount), signer);
    }

    pub fn set_oracle(&self, symbol: &str, price: &str) {
        if let Some(p) = self.product_by_symbol(symbol) {
            self.lock().oracle.insert(p.id, dec(price));
        }
    }

    /// Sets the top of book (`None`: that side is empty). Without a book a
    /// product trades at its oracle price on both sides.
    pub fn set_book(&self, symbol: &str, bid: Option<&str>, ask: Option<&str>, depth: Option<&str>) {
        if let Some(p) = self.product_by_symbol(symbol) {
            self.lock().books.insert(
                p.id,
                Book {
                    bid: bid.map(dec),
                    ask: ask.map(dec),
                    depth: depth.map(dec),
                },
            );
        }
    }

    /// Spends query weight from the shared per-IP budget, as the bot would.
    pub fn spend_query_weight(&self, weight: u32) -> bool {
        self.lock().budget.try_spend(std::time::Instant::now(), weight).is_ok()
    }

    // === Faults ===

    /// Drops every WebSocket abruptly (no close frame).
    pub fn drop_connections(&self) {
        for c in self.lock().conns.values() {
            let _ = c.tx.send(Out::Drop);
        }
    }

    /// A resting (unmatched) order of the subaccount on `symbol`, as the
    /// bot would leave one: listed by `subaccount_orders` until
    /// `cancel_product_orders` cancels it.
    pub fn rest_order(&self, subaccount: &str, symbol: &str, amount: &str) {
        if let Some(p) = self.product_by_symbol(symbol) {
            let key = (lower(subaccount), p.id);
            self.lock().resting.entry(key).or_default().push(dec(amount));
        }
    }

    /// Answer `subaccount_orders` with HTTP 500 while `down`.
    pub fn set_orders_query_down(&self, down: bool) {
        self.lock().faults.orders_query_down = down;
    }

    /// While silent, no data frame is sent (WebSocket pongs still are).
    pub fn set_silent(&self, silent: bool) {
        self.lock().faults.silent = silent;
    }

    pub fn set_no_ack(&self, no_ack: bool) {
        self.lock().faults.no_ack = no_ack;
    }

    /// Send the next `position_change` twice (identical but for the timestamp).
    pub fn duplicate_next_event(&self) {
        self.lock().faults.duplicate_next = true;
    }

    /// Makes queries misbehave, for `times` requests or until cleared.
    pub fn set_rest_fault(&self, fault: Option<RestFault>, times: Option<u32>) {
        let mut st = self.lock();
        st.faults.rest.set(fault, times);
    }

    /// Answer the next `place_order` with this error code (after the
    /// signature check), executing nothing.
    pub fn fail_next_order(&self, code: i64) {
        self.lock().faults.next_order_error = Some(code);
    }

    /// Execute the next order but answer 500, as if the response were lost.
    pub fn lose_next_order_response(&self) {
        self.lock().faults.lose_next_order_response = true;
    }

    /// When the next order arrives, the cross position is `amount`.
    pub fn move_position_before_next_order(&self, subaccount: &str, symbol: &str, amount: &str) {
        if let Some(p) = self.product_by_symbol(symbol) {
            self.lock().faults.next_order_position = Some((lower(subaccount), p.id, dec(amount)));
        }
    }

    // === Observation ===

    pub fn orders(&self) -> Vec<ReceivedOrder> {
        self.lock().orders.clone()
    }

    /// How many resting orders the subaccount has on `symbol`.
    pub fn resting_orders(&self, subaccount: &str, symbol: &str) -> usize {
        self.product_by_symbol(symbol).map_or(0, |p| {
            self.lock().resting.get(&(lower(subaccount), p.id)).map_or(0, Vec::len)
        })
    }

    /// The signed cross position (zero when none).
    pub fn position(&self, subaccount: &str, symbol: &str) -> Decimal {
        let Some(p) = self.product_by_symbol(symbol) else {
            return Decimal::ZERO;
        };
        self.lock()
            .balances
            .get(&lower(subaccount))
            .and_then(|b| b.get(&(p.id, false)))
            .map_or(Decimal::ZERO, |b| b.amount)
    }

    pub fn connections(&self) -> usize {
        self.lock().conns.len()
    }

    pub fn connections_accepted(&self) -> u64 {
        self.lock().connections_accepted
    }

    /// Subscription sockets refused for want of permessage-deflate.
    pub fn refused_uncompressed(&self) -> u64 {
        self.lock().refused_uncompressed
    }

    /// Start timing the next stream frame: [`Self::next_frame_written`]
    /// then says when the first frame after this call left for a client
    /// (written to its socket).
    pub fn watch_next_frame(&self) {
        self.lock().next_frame_written = None;
    }

    pub fn next_frame_written(&self) -> Option<Instant> {
        self.lock().next_frame_written
    }

    /// The REST requests received, oldest first (the most recent
    /// [`crate::venue::simkit::REQUEST_LOG`] at most).
    pub fn requests(&self) -> Vec<Recorded> {
        self.lock().requests.clone()
    }

    // === Stream ===

    /// Nanosecond timestamps, strictly increasing.
    fn next_ns(st: &mut State) -> u128 {
        let now = (crate::clock::now().0 as u128) * 1_000_000;
        st.last_ns = now.max(st.last_ns + 1);
        st.last_ns
    }

    fn emit_position(st: &mut State, sub: &str, product_id: u32, isolated: bool, b: Balance, reason: &str) {
        let copies = if std::mem::take(&mut st.faults.duplicate_next) && product_id != QUOTE {
            2
        } else {
            1
        };
        for _ in 0..copies {
            let ns = Self::next_ns(st);
            let frame = json!({"type": "position_change", "timestamp": ns.to_string(), "product_id": product_id,
                "subaccount": sub, "isolated": isolated, "amount": x18(b.amount),
                "v_quote_amount": x18(b.v_quote), "reason": reason})
            .to_string();
            for c in st.conns.values() {
                if c.positions.contains(sub) {
                    let _ = c.tx.send(Out::Frame(frame.clone()));
                }
            }
        }
    }

    // === Server ===

    async fn serve(self, listener: TcpListener, mut shutdown: watch::Receiver<bool>) {
        loop {
            tokio::select! {
                biased;
                _ = shutdown.changed() => return,
                accepted = listener.accept() => {
                    let Ok((stream, _)) = accepted else { continue };
                    tokio::spawn(self.clone().connection(stream, shutdown.clone()));
                }
            }
        }
    }

    async fn connection(self, stream: TcpStream, shutdown: watch::Receiver<bool>) {
        let svc = service_fn(move |req| self.clone().handle(req, shutdown.clone()));
        let _ = http1::Builder::new()
            .serve_connection(TokioIo::new(stream), svc)
            .with_upgrades()
            .await;
    }

    async fn handle(
        self,
        mut req: Request<Incoming>,
        shutdown: watch::Receiver<bool>,
    ) -> Result<Response<Either<Full<Bytes>, Empty<Bytes>>>, Infallible> {
        if req.uri().path() == "/v1/subscribe" && req.headers().contains_key(hyper::header::UPGRADE) {
            let offered = req
                .headers()
                .get_all(hyper::header::SEC_WEBSOCKET_EXTENSIONS)
                .iter()
                .any(|v| v.to_str().unwrap_or("").contains("permessage-deflate"));
            let refuse = self.inner.cfg.require_deflate && !offered;
            let options = if refuse {
                yawc::Options::default()
            } else {
                yawc::Options::default().with_low_latency_compression()
            };
            return Ok(match WebSocket::upgrade_with_options(&mut req, options) {
                Ok((resp, fut)) => {
                    let sim = self.clone();
                    tokio::spawn(async move {
                        if let Ok(ws) = fut.await {
                            if refuse {
                                sim.refuse(ws).await;
                            } else {
                                sim.subscriptions(ws, shutdown).await;
                            }
                        }
                    });
                    resp.map(Either::Right)
                }
                Err(e) => reply(StatusCode::BAD_REQUEST, "text/plain", e.to_string()).map(Either::Left),
            });
        }
        Ok(self.rest(req).await.map(Either::Left))
    }

    /// Error 2080, then a close.
    async fn refuse<S>(&self, mut ws: WebSocket<S>)
    where
        WebSocket<S>: futures_util::Sink<Frame> + Unpin,
    {
        self.lock().refused_uncompressed += 1;
        let msg = json!({"error": "WebsocketCompressionRequired: permessage-deflate must be negotiated",
            "error_code": 2080})
        .to_string();
        let _ = ws.send(Frame::text(msg)).await;
        let _ = ws
            .send(Frame::close(yawc::close::CloseCode::Policy, b"compression required"))
            .await;
    }

    async fn subscriptions<S>(&self, mut ws: WebSocket<S>, mut shutdown: watch::Receiver<bool>)
    where
        WebSocket<S>: futures_util::Sink<Frame> + futures_util::Stream<Item = Frame> + Unpin,
    {
        let (tx, mut rx) = mpsc::unbounded_channel::<Out>();
        let id = {
            let mut st = self.lock();
            st.next_conn += 1;
            st.connections_accepted += 1;
            let id = st.next_conn;
            st.conns.insert(
                id,
                Conn {
                    tx: tx.clone(),
                    positions: BTreeSet::new(),
                    liquidations: false,
                },
            );
            id
        };
        let mut last_ping = Instant::now();
        loop {
            let ping_deadline = last_ping + self.inner.cfg.ping_timeout;
            tokio::select! {
                biased;
                _ = shutdown.changed() => break,
                out = rx.recv() => match out {
                    Some(Out::Frame(f)) => {
                        if self.lock().faults.silent {
                            continue;
                        }
                        if ws.send(Frame::text(f)).await.is_err() {
                            break;
                        }
                        self.lock().next_frame_written.get_or_insert_with(Instant::now);
                    }
                    Some(Out::Drop) | None => break,
                },
                frame = ws.next() => {
                    let Some(frame) = frame else { break };
                    match frame.opcode() {
                        OpCode::Text => {
                            let text = frame.as_str().to_owned();
                            self.on_client_text(id, &tx, &text);
                        }
                        // yawc answers the ping; the venue only needs to see one.
                        OpCode::Ping => last_ping = Instant::now(),
                        OpCode::Close => break,
                        _ => {}
                    }
                }
                _ = tokio::time::sleep_until(ping_deadline) => {
                    let _ = ws.send(Frame::close(yawc::close::CloseCode::Policy, b"no ping")).await;
                    break;
                }
            }
        }
        self.lock().conns.remove(&id);
    }

    fn on_client_text(&self, id: u64, tx: &mpsc::UnboundedSender<Out>, text: &str) {
        let send = |v: Value| {
            let _ = tx.send(Out::Frame(v.to_string()));
        };
        let Ok(msg) = serde_json::from_str::<Value>(text) else {
            send(json!({"error": "invalid message"}));
            return;
        };
        let req_id = msg.get("id").cloned().unwrap_or(Value::Null);
        match msg.get("method").and_then(Value::as_str) {
            Some("ping") => {
                let client_time = msg.get("client_time").cloned().unwrap_or(Value::Null);
                send(
                    json!({"result": {"method": "pong", "server_time": crate::clock::now().0.to_string(),
                    "client_time": client_time}, "id": req_id}),
                );
            }
            Some(m @ ("subscribe" | "unsubscribe")) => {
                let stream = msg.get("stream").cloned().unwrap_or(Value::Null);
                let kind = stream.get("type").and_then(Value::as_str).unwrap_or("");
                let sub = stream.get("subaccount").and_then(Value::as_str).map(lower);
                let valid_sub = sub.as_deref().is_some_and(|s| {
                    s.len() == 66 && s.starts_with("0x") && s[2..].bytes().all(|b| b.is_ascii_hexdigit())
                });
                let mut st = self.lock();
                let Some(conn) = st.conns.get_mut(&id) else { return };
                let subscribe = m == "subscribe";
                match kind {
                    "position_change" | "fill" if !valid_sub => {
                        send(json!({"error": "invalid subaccount", "id": req_id}));
                        return;
                    }
                    "position_change" => {
                        let sub = sub.unwrap_or_default();
                        if subscribe {
                            conn.positions.insert(sub);
                        } else {
                            conn.positions.remove(&sub);
                        }
                    }
                    "liquidation" => conn.liquidations = subscribe,
                    "order_update" => {
                        send(json!({"error": "authentication required", "id": req_id}));
                        return;
                    }
                    // Accepted; the simulator publishes nothing on them.
                    "fill" | "trade" | "best_bid_offer" | "book_depth" | "latest_candlestick" | "funding_payment"
                    | "funding_rate" | "all_bbo" => {}
                    _ => {
                        send(json!({"error": format!("unknown stream type {kind:?}"), "id": req_id}));
                        return;
                    }
                }
                if !st.faults.no_ack {
                    send(json!({"result": null, "id": req_id}));
                }
            }
            Some("list") => {
                let st = self.lock();
                let streams: Vec<Value> = st.conns.get(&id).map_or_else(Vec::new, |c| {
                    c.positions
                        .iter()
                        .map(|s| json!({"type": "position_change", "subaccount": s, "product_id": null}))
                        .collect()
                });
                send(json!({"result": streams, "id": req_id}));
            }
            _ => send(json!({"error": "unsupported method", "id": req_id})),
        }
    }

    // === Gateway REST ===

    async fn rest(&self, req: Request<Incoming>) -> Response<Full<Bytes>> {
        let method = req.method().clone();
        let path = req.uri().path().to_owned();
        let query = req.uri().query().unwrap_or("").to_owned();
        let accept_encoding = req
            .headers()
            .get(hyper::header::ACCEPT_ENCODING)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned);
        let body = crate::venue::simkit::body(req).await;
        crate::venue::simkit::remember(
            &mut self.lock().requests,
            Recorded {
                at: Instant::now(),
                method: method.to_string(),
                path: path.clone(),
                body: body.clone(),
                accept_encoding: accept_encoding.clone(),
            },
        );
        if path.starts_with("/_sim/") && method == Method::POST {
            return self.control(&path, &body);
        }
        // The docs require it of every request (the response to a client
        // without it is the simulator's choice).
        let compressed = accept_encoding
            .as_deref()
            .is_some_and(|a| ["gzip", "br", "deflate"].iter().any(|e| a.contains(e)));
        if !compressed {
            return reply(
                StatusCode::BAD_REQUEST,
                "text/plain",
                "Accept-Encoding must include gzip, br or deflate".into(),
            );
        }
        match (method, path.as_str()) {
            (Method::GET, "/v1/time") => reply(StatusCode::OK, "application/json", crate::clock::now().0.to_string()),
            (Method::POST, "/v1/query") => match serde_json::from_slice::<Value>(&body) {
                Ok(q) => self.query(&q).await,
                Err(_) => failure(StatusCode::BAD_REQUEST, "invalid request body", 1, "query"),
            },
            (Method::GET, "/v1/query") => {
                let mut q = serde_json::Map::new();
                for kv in query.split('&') {
                    if let Some((k, v)) = kv.split_once('=') {
                        q.insert(k.to_owned(), Value::String(v.to_owned()));
                    }
                }
                self.query(&Value::Object(q)).await
            }
            (Method::POST, "/v1/execute") => self.execute(&body),
            _ => reply(StatusCode::NOT_FOUND, "text/plain", "Not Found".into()),
        }
    }

    async fn query(&self, q: &Value) -> Response<Full<Bytes>> {
        let kind = q.get("type").and_then(Value::as_str).unwrap_or("").to_owned();
        let request_type = format!("query_{kind}");
        let weight = match kind.as_str() {
            "subaccount_info" | "symbols" | "nonces" | "subaccount_orders" => 2,
            "isolated_positions" => 10,
            "all_products" | "linked_signer" | "max_order_size" => 5,
            _ => 1,
        };
        if self.lock().budget.try_spend(std::time::Instant::now(), weight).is_err() {
            // HTTP 429 alongside the envelope is the simulator's choice.
            return failure(
                StatusCode::TOO_MANY_REQUESTS,
                "Rate limit exceeded",
                1000,
                &request_type,
            );
        }
        let account_read = matches!(kind.as_str(), "subaccount_info" | "isolated_positions");
        if account_read {
            let fault = self.lock().faults.rest.take();
            if let Some(fault) = fault {
                match fault {
                    RestFault::RateLimited => {
                        return failure(
                            StatusCode::TOO_MANY_REQUESTS,
                            "Rate limit exceeded",
                            1000,
                            &request_type,
                        )
                    }
                    RestFault::ServerError => {
                        return reply(
                            StatusCode::INTERNAL_SERVER_ERROR,
                            "text/plain",
                            "Internal Server Error".into(),
                        )
                    }
                    RestFault::Timeout => {
                        tokio::time::sleep(Duration::from_secs(120)).await;
                        return reply(StatusCode::GATEWAY_TIMEOUT, "text/plain", "Gateway Timeout".into());
                    }
                    RestFault::Garbage => return reply(StatusCode::OK, "text/html", "<html>\u{0}garbage".into()),
                    RestFault::EmptyPositions => {
                        let sub = q
                            .get("subaccount")
                            .and_then(Value::as_str)
                            .map(lower)
                            .unwrap_or_default();
                        let data = if kind == "subaccount_info" {
                            self.subaccount_info(&sub, true)
                        } else {
                            json!({"isolated_positions": []})
                        };
                        return success(data, &request_type);
                    }
                }
            }
        }
        let st_sub = q.get("subaccount").and_then(Value::as_str).map(lower);
        match kind.as_str() {
            "contracts" => success(
                json!({"chain_id": self.inner.cfg.chain_id.to_string(), "endpoint_addr": lower(&self.inner.cfg.endpoint)}),
                &request_type,
            ),
            "status" => success(json!("active"), &request_type),
            "symbols" => {
                let mut symbols = serde_json::Map::new();
                for p in &self.inner.products {
                    symbols.insert(
                        p.symbol.to_string(),
                        json!({"type": "perp", "product_id": p.id, "symbol": p.symbol,
                            "price_increment_x18": x18(dec(p.price_increment)), "size_increment": x18(dec(p.size_increment)),
                            "min_size": x18(dec(p.min_size)), "maker_fee_rate_x18": "0", "taker_fee_rate_x18": "200000000000000",
                            "long_weight_initial_x18": "950000000000000000", "long_weight_maintenance_x18": "970000000000000000",
                            "max_open_interest_x18": null, "trading_status": "live", "isolated_only": false}),
                    );
                }
                success(json!({"symbols": symbols}), &request_type)
            }
            "subaccount_info" => match st_sub {
                Some(sub) => success(self.subaccount_info(&sub, false), &request_type),
                None => failure(StatusCode::OK, "missing subaccount", 1, &request_type),
            },
            "isolated_positions" => match st_sub {
                Some(sub) => {
                    let st = self.lock();
                    let list: Vec<Value> = st
                        .balances
                        .get(&sub)
                        .map(|b| {
                            b.iter()
                                .filter(|((_, iso), _)| *iso)
                                .map(|((pid, _), bal)| {
                                    json!({"subaccount": iso_subaccount(&sub, *pid),
                                        "quote_balance": {"product_id": 0, "balance": {"amount": "0"}},
                                        "base_balance": {"product_id": pid, "balance": {"amount": x18(bal.amount),
                                            "v_quote_balance": x18(bal.v_quote), "last_cumulative_funding_x18": "0"}},
                                        "quote_product": {}, "base_product": {}, "quote_healths": [], "base_healths": [],
                                        "healths": []})
                                })
                                .collect()
                        })
                        .unwrap_or_default();
                    success(json!({"isolated_positions": list}), &request_type)
                }
                None => failure(StatusCode::OK, "missing subaccount", 1, &request_type),
            },
            // The largest reduce-only order in `direction`: what the
            // cross position lets one reduce (only reduce-only is simulated).
            "max_order_size" => {
                let pid = q
                    .get("product_id")
                    .and_then(|v| v.as_u64().or_else(|| v.as_str().and_then(|s| s.parse().ok())))
                    .unwrap_or(u64::MAX) as u32;
                let sender = q.get("sender").and_then(Value::as_str).map(lower).unwrap_or_default();
                let reduce_only = matches!(q.get("reduce_only"), Some(Value::String(s)) if s == "true");
                if self.product(pid).is_none() {
                    return failure(StatusCode::OK, "invalid product", 2, &request_type);
                }
                if !reduce_only {
                    return failure(StatusCode::OK, "only reduce_only is simulated", 1, &request_type);
                }
                let amount = self
                    .lock()
                    .balances
                    .get(&sender)
                    .and_then(|b| b.get(&(pid, false)))
                    .map_or(Decimal::ZERO, |b| b.amount);
                let size = match q.get("direction").and_then(Value::as_str) {
                    Some("short") => amount.max(Decimal::ZERO),
                    Some("long") => (-amount).max(Decimal::ZERO),
                    _ => return failure(StatusCode::OK, "direction must be long or short", 1, &request_type),
                };
                success(json!({"max_order_size": x18(size)}), &request_type)
            }
            "subaccount_orders" => {
                let pid = q
                    .get("product_id")
                    .and_then(|v| v.as_u64().or_else(|| v.as_str().and_then(|s| s.parse().ok())))
                    .unwrap_or(u64::MAX) as u32;
                let Some(sender) = q.get("sender").and_then(Value::as_str).map(lower) else {
                    return failure(StatusCode::OK, "missing sender", 1, &request_type);
                };
                if self.product(pid).is_none() {
                    return failure(StatusCode::OK, "invalid product", 2, &request_type);
                }
                let st = self.lock();
                if st.faults.orders_query_down {
                    return reply(
                        StatusCode::INTERNAL_SERVER_ERROR,
                        "text/plain",
                        "Internal Server Error".into(),
                    );
                }
                let orders: Vec<Value> = st
                    .resting
                    .get(&(sender.clone(), pid))
                    .map(|v| {
                        v.iter()
                            .enumerate()
                            .map(|(i, a)| resting_json(&sender, pid, i, *a))
                            .collect()
                    })
                    .unwrap_or_default();
                success(json!({"sender": sender, "orders": orders}), &request_type)
            }
            "market_price" => {
                let pid = q
                    .get("product_id")
                    .and_then(|v| v.as_u64().or_else(|| v.as_str().and_then(|s| s.parse().ok())))
                    .unwrap_or(u64::MAX) as u32;
                if self.product(pid).is_none() {
                    return failure(StatusCode::OK, "invalid product", 2, &request_type);
                }
                let (bid, ask, _) = self.top_of_book(pid);
                success(
                    json!({"product_id": pid, "bid_x18": bid.map_or_else(|| "0".into(), x18),
                        "ask_x18": ask.map_or_else(|| i128::MAX.to_string(), x18)}),
                    &request_type,
                )
            }
            _ => failure(
                StatusCode::OK,
                &format!("unsupported query type {kind:?}"),
                1,
                &request_type,
            ),
        }
    }

    fn top_of_book(&self, pid: u32) -> (Option<Decimal>, Option<Decimal>, Option<Decimal>) {
        let st = self.lock();
        match st.books.get(&pid) {
            Some(b) => (b.bid, b.ask, b.depth),
            None => {
                let o = st.oracle.get(&pid).copied();
                (o, o, None)
            }
        }
    }

    /// `empty`: an outage that answers with no balances at all.
    fn subaccount_info(&self, sub: &str, empty: bool) -> Value {
        let st = self.lock();
        let bal = st.balances.get(sub);
        let exists = bal.is_some();
        let perp_balances: Vec<Value> = if empty {
            Vec::new()
        } else {
            bal.map(|b| {
                b.iter()
                    .filter(|((pid, iso), _)| !*iso && *pid != QUOTE)
                    .map(|((pid, _), v)| {
                        json!({"product_id": pid, "balance": {"amount": x18(v.amount),
                            "v_quote_balance": x18(v.v_quote), "last_cumulative_funding_x18": "0"}})
                    })
                    .collect()
            })
            .unwrap_or_default()
        };
        let quote = bal
            .and_then(|b| b.get(&(QUOTE, false)))
            .map_or(Decimal::ZERO, |b| b.amount);
        let perp_products: Vec<Value> = self
            .inner
            .products
            .iter()
            .map(|p| {
                let oracle = st.oracle.get(&p.id).copied().unwrap_or_default();
                json!({"product_id": p.id, "oracle_price_x18": x18(oracle),
                    "risk": {"long_weight_initial_x18": "950000000000000000", "short_weight_initial_x18": "1050000000000000000",
                        "long_weight_maintenance_x18": "970000000000000000", "short_weight_maintenance_x18": "1030000000000000000",
                        "price_x18": x18(oracle)},
                    "state": {"cumulative_funding_long_x18": "0", "cumulative_funding_short_x18": "0",
                        "available_settle": "0", "open_interest": "0"},
                    "book_info": {"size_increment": x18(dec(p.size_increment)),
                        "price_increment_x18": x18(dec(p.price_increment)), "min_size": x18(dec(p.min_size)),
                        "collected_fees": "0"}})
            })
            .collect();
        let health = json!({"assets": "0", "liabilities": "0", "health": "0"});
        json!({"subaccount": sub, "exists": exists, "healths": [health.clone(), health.clone(), health],
            "health_contributions": [], "spot_count": 1, "perp_count": perp_balances.len(),
            "spot_balances": [{"product_id": 0, "balance": {"amount": x18(quote)}}],
            "perp_balances": perp_balances, "spot_products": [], "perp_products": perp_products})
    }

    // === Executes ===

    fn execute(&self, raw: &[u8]) -> Response<Full<Bytes>> {
        let body: Value = serde_json::from_slice(raw).unwrap_or(Value::Null);
        let (kind, status, envelope, fill) = if let Some(po) = body.get("place_order") {
            let (status, env, fill) = self.place_order(po);
            ("place_order", status, env, fill)
        } else if let Some(c) = body.get("cancel_product_orders") {
            let (status, env) = self.cancel_product_orders(c);
            ("cancel_product_orders", status, env, None)
        } else {
            let (s, e) = fail_env(StatusCode::BAD_REQUEST, "unsupported execute", 1, "execute", None);
            ("other", s, e, None)
        };
        let text = envelope.to_string();
        let lose = {
            let mut st = self.lock();
            let lose = kind == "place_order"
                && envelope["status"] == "success"
                && std::mem::take(&mut st.faults.lose_next_order_response);
            let code = envelope.get("error_code").and_then(Value::as_i64);
            st.orders.push(ReceivedOrder {
                at: Instant::now(),
                kind: kind.to_owned(),
                body: body.clone(),
                verified: !matches!(code, Some(2027 | 2028 | 2034 | 2035)),
                status: status.as_u16(),
                error_code: code,
                response: text.clone(),
                filled: fill.as_ref().map_or(Decimal::ZERO, |f| f.delta.abs()),
            });
            lose
        };
        if let Some(f) = fill {
            self.apply_fill(f);
        }
        if lose {
            return reply(
                StatusCode::INTERNAL_SERVER_ERROR,
                "text/plain",
                "Internal Server Error".into(),
            );
        }
        reply(status, "application/json", text)
    }

    /// Checks who signed: the subaccount's owner or its linked signer.
    fn check_signer(&self, digest: B256, signature: &str, sender: &str) -> Result<(), (i64, &'static str)> {
        let bytes = hex_bytes(signature).ok_or((2035, "SignatureError"))?;
        let addr = sign::recover(digest, &bytes).map_err(|e| match e {
            RecoverError::Length => (2027, "InvalidSignatureLength"),
            RecoverError::V => (2034, "InvalidSignatureV"),
            RecoverError::Invalid => (2035, "SignatureError"),
        })?;
        let owner = Address::from_str(&sender[..42]).map_err(|_| (2028, "InvalidSigner"))?;
        let linked = self.lock().linked.get(&lower(sender)).copied();
        if addr == owner || Some(addr) == linked {
            Ok(())
        } else {
            Err((2028, "InvalidSigner"))
        }
    }

    /// The nonce's receive time against the clock (2011, 2012).
    fn check_nonce(nonce: u64) -> Result<(), (i64, &'static str)> {
        let recv = (nonce >> 20) as i64;
        let now = crate::clock::now().0;
        if now > recv {
            return Err((2011, "LateRecvExecution"));
        }
        if recv - now > 100_000 {
            return Err((2012, "EarlyRecvExecution"));
        }
        Ok(())
    }

    #[allow(clippy::type_complexity)]
    fn place_order(&self, po: &Value) -> (StatusCode, Value, Option<Fill>) {
        const RT: &str = "execute_place_order";
        let sig = po.get("signature").and_then(Value::as_str).unwrap_or("").to_owned();
        let fail = |code: i64, msg: &str| {
            let (s, e) = fail_env(StatusCode::OK, msg, code, RT, Some(&sig));
            (s, e, None)
        };
        let o = po.get("order").cloned().unwrap_or(Value::Null);
        let field = |k: &str| o.get(k).and_then(Value::as_str).unwrap_or("").to_owned();
        let pid = po.get("product_id").and_then(Value::as_u64).unwrap_or(u64::MAX);
        let Some(prod) = u32::try_from(pid).ok().and_then(|id| self.product(id)) else {
            return fail(2, "invalid product");
        };
        let sender_s = lower(&field("sender"));
        let (Ok(sender), Ok(price), Ok(amount), Ok(expiration), Ok(nonce), Ok(appendix)) = (
            B256::from_str(&sender_s),
            field("priceX18").parse::<i128>(),
            field("amount").parse::<i128>(),
            field("expiration").parse::<u64>(),
            field("nonce").parse::<u64>(),
            field("appendix").parse::<u128>(),
        ) else {
            return fail(1, "invalid order: every field must be an integer string");
        };
        let params = OrderParams {
            chain_id: self.inner.cfg.chain_id,
            product_id: prod.id,
            sender,
            price_x18: price,
            amount_x18: amount,
            expiration,
            nonce,
            appendix,
        };
        let digest = sign::order_digest(&params);
        if let Err((code, msg)) = self.check_signer(digest, &sig, &sender_s) {
            return fail(code, msg);
        }
        if appendix & 0xff != 1 {
            return fail(2095, "InvalidOrderVersion");
        }
        let order_type = (appendix >> 9) & 0b11;
        let reduce_only = (appendix >> 11) & 1 == 1;
        if reduce_only && !matches!(order_type, 1 | 2) {
            return fail(2067, "ReduceOnlyNotTaker");
        }
        if let Err((code, msg)) = Self::check_nonce(nonce) {
            return fail(code, msg);
        }
        if expiration <= (crate::clock::now().0 / 1000) as u64 {
            return fail(2004, "OrderExpired");
        }
        if self.lock().digests.contains(&digest) {
            return fail(2013, "DigestAlreadyExists");
        }
        let (Some(price), Some(qty)) = (
            crate::venue::nado::parse::from_x18(price).ok(),
            crate::venue::nado::parse::from_x18(amount).ok(),
        ) else {
            return fail(1, "invalid order");
        };
        if !(price % dec(prod.price_increment)).is_zero() {
            return fail(2000, "InvalidPriceIncrement");
        }
        if qty.is_zero() || !(qty % dec(prod.size_increment)).is_zero() {
            return fail(2001, "InvalidAmountIncrement");
        }
        let oracle = self.lock().oracle.get(&prod.id).copied().unwrap_or_default();
        let band = crate::venue::nado::price::NADO_BAND;
        if price < oracle * band.low || price > oracle * band.high {
            return fail(2007, "OraclePriceDifference");
        }
        if let Some(code) = self.lock().faults.next_order_error.take() {
            return fail(code, "injected by the simulator");
        }
        {
            let mut st = self.lock();
            if let Some((sub, p, amt)) = st.faults.next_order_position.take() {
                st.balances
                    .entry(sub)
                    .or_default()
                    .entry((p, false))
                    .or_default()
                    .amount = amt;
            }
        }
        let held = self
            .lock()
            .balances
            .get(&sender_s)
            .and_then(|b| b.get(&(prod.id, false)))
            .map_or(Decimal::ZERO, |b| b.amount);
        let mut size = qty.abs();
        if reduce_only {
            if held.is_zero() || held.is_sign_negative() == qty.is_sign_negative() {
                return fail(2064, "ReduceOnlyIncreasesPosition");
            }
            size = size.min(held.abs());
        }
        let taker = matches!(order_type, 1 | 2);
        if taker {
            let (bid, ask, depth) = self.top_of_book(prod.id);
            let crossing = if qty.is_sign_negative() {
                bid.filter(|b| *b >= price)
            } else {
                ask.filter(|a| *a <= price)
            };
            let available = depth.unwrap_or(size).min(size);
            let no_fill = if order_type == 2 {
                (2031, "FillOrKillNotFilled")
            } else {
                (2056, "ImmediateOrCancelDoesNotCross")
            };
            let Some(fill_price) = crossing else {
                return fail(no_fill.0, no_fill.1);
            };
            if available.is_zero() || (order_type == 2 && available < size) {
                return fail(no_fill.0, no_fill.1);
            }
            self.lock().digests.insert(digest);
            let delta = if qty.is_sign_negative() { -available } else { available };
            return (
                StatusCode::OK,
                json!({"status": "success", "signature": sig, "data": {"digest": sign::hex0x(digest.as_slice())},
                    "request_type": RT}),
                Some(Fill {
                    sub: sender_s,
                    product_id: prod.id,
                    delta,
                    price: fill_price,
                }),
            );
        }
        // Resting orders are accepted and never fill here.
        self.lock().digests.insert(digest);
        (
            StatusCode::OK,
            json!({"status": "success", "signature": sig, "data": {"digest": sign::hex0x(digest.as_slice())},
                "request_type": RT}),
            None,
        )
    }

    fn apply_fill(&self, f: Fill) {
        let mut st = self.lock();
        let bal = st.balances.entry(f.sub.clone()).or_default();
        let b = bal.entry((f.product_id, false)).or_default();
        b.amount += f.delta;
        b.v_quote -= f.delta * f.price;
        let b = *b;
        let q = *bal.entry((QUOTE, false)).or_default();
        Self::emit_position(&mut st, &f.sub, f.product_id, false, b, "match_orders");
        Self::emit_position(&mut st, &f.sub, QUOTE, false, q, "match_orders");
    }

    fn cancel_product_orders(&self, c: &Value) -> (StatusCode, Value) {
        const RT: &str = "execute_cancel_product_orders";
        let sig = c.get("signature").and_then(Value::as_str).unwrap_or("").to_owned();
        let tx = c.get("tx").cloned().unwrap_or(Value::Null);
        let sender_s = lower(tx.get("sender").and_then(Value::as_str).unwrap_or(""));
        let ids: Option<Vec<u32>> = tx.get("productIds").and_then(Value::as_array).map(|a| {
            a.iter()
                .filter_map(|v| v.as_u64().and_then(|n| u32::try_from(n).ok()))
                .collect()
        });
        let nonce = tx
            .get("nonce")
            .and_then(Value::as_str)
            .and_then(|s| s.parse::<u64>().ok());
        let (Ok(sender), Some(ids), Some(nonce), Ok(endpoint)) = (
            B256::from_str(&sender_s),
            ids,
            nonce,
            Address::from_str(&self.inner.cfg.endpoint),
        ) else {
            return fail_env(StatusCode::OK, "invalid cancel_product_orders", 1, RT, Some(&sig));
        };
        let digest = sign::cancel_products_digest(self.inner.cfg.chain_id, endpoint, sender, &ids, nonce);
        if let Err((code, msg)) = self.check_signer(digest, &sig, &sender_s) {
            return fail_env(StatusCode::OK, msg, code, RT, Some(&sig));
        }
        if let Err((code, msg)) = Self::check_nonce(nonce) {
            return fail_env(StatusCode::OK, msg, code, RT, Some(&sig));
        }
        let mut st = self.lock();
        let cancelled: Vec<Value> = ids
            .iter()
            .flat_map(|pid| {
                let gone = st.resting.remove(&(sender_s.clone(), *pid)).unwrap_or_default();
                gone.into_iter()
                    .enumerate()
                    .map(|(i, a)| resting_json(&sender_s, *pid, i, a))
                    .collect::<Vec<_>>()
            })
            .collect();
        (
            StatusCode::OK,
            json!({"status": "success", "signature": sig, "data": {"cancelled_orders": cancelled}, "request_type": RT}),
        )
    }

    // === Control ===

    fn control(&self, path: &str, body: &[u8]) -> Response<Full<Bytes>> {
        #[derive(Deserialize)]
        struct Pos {
            subaccount: String,
            symbol: String,
            #[serde(default)]
            amount: Option<String>,
            #[serde(default)]
            isolated: bool,
        }
        #[derive(Deserialize)]
        struct Fault {
            #[serde(default)]
            ws: Option<String>,
            #[serde(default)]
            rest: Option<String>,
            #[serde(default)]
            times: Option<u32>,
            #[serde(default)]
            order_error: Option<i64>,
        }
        let bad = |m: String| {
            reply(
                StatusCode::BAD_REQUEST,
                "application/json",
                json!({"error": m}).to_string(),
            )
        };
        match path {
            "/_sim/position" | "/_sim/liquidate" => {
                let p: Pos = match serde_json::from_slice(body) {
                    Ok(p) => p,
                    Err(e) => return bad(format!("bad request: {e}")),
                };
                if self.product_by_symbol(&p.symbol).is_none() {
                    return bad(format!("unknown symbol {:?}", p.symbol));
                }
                if path == "/_sim/liquidate" {
                    self.liquidate(&p.subaccount, &p.symbol);
                } else {
                    let Some(amount) = p.amount.filter(|a| Decimal::from_str(a).is_ok()) else {
                        return bad("amount must be a decimal string".into());
                    };
                    if p.isolated {
                        self.set_isolated(&p.subaccount, &p.symbol, &amount);
                    } else {
                        self.set_position(&p.subaccount, &p.symbol, &amount);
                    }
                }
            }
            "/_sim/fault" => {
                let f: Fault = match serde_json::from_slice(body) {
                    Ok(f) => f,
                    Err(e) => return bad(format!("bad request: {e}")),
                };
                match f.ws.as_deref() {
                    None => {}
                    Some("drop") => self.drop_connections(),
                    Some("silent") => self.set_silent(true),
                    Some("no_ack") => self.set_no_ack(true),
                    Some("duplicate_next") => self.duplicate_next_event(),
                    Some("normal") => {
                        self.set_silent(false);
                        self.set_no_ack(false);
                    }
                    Some(other) => return bad(format!("unknown ws fault {other:?}")),
                }
                match f.rest.as_deref() {
                    None => {}
                    Some("none") => self.set_rest_fault(None, None),
                    Some(name) => match serde_json::from_value::<RestFault>(Value::String(name.to_owned())) {
                        Ok(fault) => self.set_rest_fault(Some(fault), f.times),
                        Err(_) => return bad(format!("unknown rest fault {name:?}")),
                    },
                }
                if let Some(code) = f.order_error {
                    self.fail_next_order(code);
                }
            }
            _ => return reply(StatusCode::NOT_FOUND, "text/plain", "Not Found".into()),
        }
        reply(StatusCode::OK, "application/json", json!({"ok": true}).to_string())
    }
}

struct Fill {
    sub: String,
    product_id: u32,
    delta: Decimal,
    price: Decimal,
}

fn hex_bytes(s: &str) -> Option<Vec<u8>> {
    let h = s.strip_prefix("0x")?;
    if h.len() % 2 != 0 {
        return None;
    }
    (0..h.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&h[i..i + 2], 16).ok())
        .collect()
}

fn reply(status: StatusCode, content_type: &str, body: String) -> Response<Full<Bytes>> {
    Response::builder()
        .status(status)
        .header("content-type", content_type)
        .body(Full::new(Bytes::from(body)))
        .unwrap_or_else(|_| Response::new(Full::new(Bytes::new())))
}

/// A resting order as `subaccount_orders` lists it (nado.md §3; the
/// Python SDK's `OrderData`), at a placeholder price and expiration.
fn resting_json(sender: &str, product_id: u32, index: usize, amount: Decimal) -> Value {
    json!({"product_id": product_id, "sender": sender, "price_x18": x18(Decimal::ONE),
        "amount": x18(amount), "expiration": "4294967295", "nonce": index.to_string(),
        "unfilled_amount": x18(amount), "digest": format!("0x{:064x}", index + 1), "placed_at": "0"})
}

fn success(data: Value, request_type: &str) -> Response<Full<Bytes>> {
    reply(
        StatusCode::OK,
        "application/json",
        json!({"status": "success", "data": data, "request_type": request_type}).to_string(),
    )
}

fn fail_env(status: StatusCode, msg: &str, code: i64, request_type: &str, sig: Option<&str>) -> (StatusCode, Value) {
    let mut v = json!({"status": "failure", "error": msg, "error_code": code, "request_type": request_type});
    if let Some(s) = sig {
        v["signature"] = Value::String(s.to_owned());
    }
    (status, v)
}

fn failure(status: StatusCode, msg: &str, code: i64, request_type: &str) -> Response<Full<Bytes>> {
    let (s, v) = fail_env(status, msg, code, request_type, None);
    reply(s, "application/json", v.to_string())
}

/// `driftwatch sim --venue nado`: the gateway and `/v1/subscribe` on one
/// port; `--open SUBACCOUNT:SYMBOL:SIGNED_AMOUNT`; until `until` resolves.
pub async fn serve(
    listen: std::net::SocketAddr,
    open: &[String],
    until: impl std::future::Future<Output = ()>,
) -> anyhow::Result<()> {
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    let (sim, addrs) = NadoSim::start(SimConfig::default(), listen, stop_rx).await?;
    for spec in open {
        match spec.split(':').collect::<Vec<_>>().as_slice() {
            [sub, symbol, amount] if amount.parse::<Decimal>().is_ok() => sim.set_position(sub, symbol, amount),
            _ => anyhow::bail!("--open {spec:?}: expected SUBACCOUNT:SYMBOL:SIGNED_AMOUNT"),
        }
    }
    println!("Simulated Nado gateway on loopback (chain 57073, mainnet Endpoint):");
    println!("  rest_url: {}", addrs.rest_url());
    println!("  ws_url:   {}", addrs.ws_url());
    println!(
        "Script it with POST http://{}/_sim/position|liquidate|fault (JSON).",
        addrs.gateway
    );
    until.await;
    let _ = stop_tx.send(true);
    Ok(())
}
