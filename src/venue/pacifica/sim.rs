//! A simulated Pacifica exchange on loopback: the documented REST and
//! WebSocket protocol over real sockets, with the venue's quirks
//! (pacifica.md §2–4, §7–9):
//! - a GET with a body gets CloudFront's 403;
//! - a client that sends nothing for `idle_timeout` (60 s) is disconnected,
//!   and every connection is closed at `max_connection_age` (24 h);
//! - `account_positions` sends the whole open set on subscribe and on every
//!   change, with the exchange-wide `li`; a close is `data: []`;
//! - a subscription with bad params gets no ack and no error.
//!
//! It is scripted through [`Sim`] (in process) or `POST /_sim/...` (for
//! `driftwatch sim`), and injects faults: drop every socket, go silent while
//! connected, delay or reorder frames, withhold acks, and answer REST with
//! 429, 500, a timeout, garbage, or "no positions" during an outage.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::convert::Infallible;
use std::net::SocketAddr;
use std::str::FromStr;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use bytes::Bytes;
use futures_util::{SinkExt, StreamExt};
use http_body_util::Full;
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
use tokio_tungstenite::tungstenite::Message;

/// Timing of the simulated venue.
#[derive(Debug, Clone)]
pub struct SimConfig {
    pub idle_timeout: Duration,
    pub max_connection_age: Duration,
    /// Market orders fill this long after they are accepted (~200 ms on the venue).
    pub speed_bump: Duration,
}

impl Default for SimConfig {
    fn default() -> Self {
        SimConfig {
            idle_timeout: Duration::from_secs(60),
            max_connection_age: Duration::from_secs(24 * 3600),
            speed_bump: Duration::from_millis(200),
        }
    }
}

/// An order the simulator received, with what it answered.
#[derive(Debug, Clone)]
pub struct ReceivedOrder {
    pub at: Instant,
    pub body: Value,
    /// Whether the signature verified.
    pub verified: bool,
    pub status: u16,
    pub response: String,
    /// What the venue executed for it (zero when refused or never filled).
    pub filled: Decimal,
}

pub use crate::venue::simkit::RestFault;

/// A request the simulator received (for assertions).
#[derive(Debug, Clone)]
pub struct Recorded {
    pub at: Instant,
    pub method: String,
    pub path: String,
    pub query: String,
    pub body: Vec<u8>,
}

#[derive(Debug, Clone)]
struct SimPosition {
    side: &'static str,
    amount: Decimal,
    entry_price: Decimal,
    created_at: i64,
    updated_at: i64,
}

/// One market's steps.
#[derive(Debug, Clone)]
pub struct SimMarket {
    pub symbol: &'static str,
    pub tick_size: &'static str,
    pub lot_size: &'static str,
}

/// The markets the simulator lists (its own choices, picked so that the
/// incident's sizes are whole lots).
pub const MARKETS: &[SimMarket] = &[
    SimMarket {
        symbol: "BTC",
        tick_size: "1",
        lot_size: "0.00001",
    },
    SimMarket {
        symbol: "ETH",
        tick_size: "0.1",
        lot_size: "0.0001",
    },
    SimMarket {
        symbol: "SOL",
        tick_size: "0.01",
        lot_size: "0.01",
    },
    SimMarket {
        symbol: "ZEC",
        tick_size: "0.01",
        lot_size: "0.01",
    },
    SimMarket {
        symbol: "VIRTUAL",
        tick_size: "0.0001",
        lot_size: "0.1",
    },
    SimMarket {
        symbol: "FARTCOIN",
        tick_size: "0.0001",
        lot_size: "0.1",
    },
    SimMarket {
        symbol: "2Z",
        tick_size: "0.0001",
        lot_size: "1",
    },
    SimMarket {
        symbol: "BNB",
        tick_size: "0.01",
        lot_size: "0.01",
    },
    SimMarket {
        symbol: "XRP",
        tick_size: "0.0001",
        lot_size: "1",
    },
    SimMarket {
        symbol: "ASTER",
        tick_size: "0.0001",
        lot_size: "0.1",
    },
    SimMarket {
        symbol: "PENGU",
        tick_size: "0.000001",
        lot_size: "1",
    },
    SimMarket {
        symbol: "LDO",
        tick_size: "0.0001",
        lot_size: "0.1",
    },
    SimMarket {
        symbol: "CRV",
        tick_size: "0.0001",
        lot_size: "0.1",
    },
    SimMarket {
        symbol: "ENA",
        tick_size: "0.0001",
        lot_size: "1",
    },
    SimMarket {
        symbol: "XPL",
        tick_size: "0.0001",
        lot_size: "1",
    },
    SimMarket {
        symbol: "WLFI",
        tick_size: "0.0001",
        lot_size: "1",
    },
    SimMarket {
        symbol: "PUMP",
        tick_size: "0.000001",
        lot_size: "1",
    },
    SimMarket {
        symbol: "MON",
        tick_size: "0.00001",
        lot_size: "1",
    },
    SimMarket {
        symbol: "SUI",
        tick_size: "0.0001",
        lot_size: "0.1",
    },
    SimMarket {
        symbol: "kBONK",
        tick_size: "0.000001",
        lot_size: "1",
    },
];

/// (account, symbol, the position to set: `None` closed, or (side, amount)).
type PendingMove = (String, String, Option<(&'static str, Decimal)>);

enum Out {
    Frame(String),
    /// Close the socket abruptly (no close frame).
    Drop,
}

struct Conn {
    tx: mpsc::UnboundedSender<Out>,
    /// (channel, account) pairs this connection subscribed to.
    subs: BTreeSet<(String, String)>,
}

#[derive(Default)]
struct Faults {
    silent: bool,
    no_ack: bool,
    withhold_snapshot: bool,
    frame_delay: Duration,
    reorder_next: bool,
    held: Option<(String, String)>,
    rest: crate::venue::simkit::RestFaults,
}

struct State {
    /// When the first frame after [`Sim::watch_next_frame`] was written.
    next_frame_written: Option<Instant>,
    li: u64,
    accounts: BTreeMap<String, BTreeMap<String, SimPosition>>,
    conns: HashMap<u64, Conn>,
    next_conn: u64,
    faults: Faults,
    requests: Vec<Recorded>,
    connections_accepted: u64,
    orders: Vec<ReceivedOrder>,
    /// Client order ids seen, per account.
    cloids: BTreeSet<(String, String)>,
    /// Agent wallets bound to accounts.
    agents: BTreeSet<(String, String)>,
    /// Execute the next order but answer 504 (a response lost on the way).
    lose_next_order_response: bool,
    /// Every order response is lost (504), whatever the order did.
    lose_all_order_responses: bool,
    /// Before deciding on the next order, set this position (the venue's
    /// state moved while the order was in flight).
    next_order_position: Option<PendingMove>,
    /// Answer the next order with 429.
    rate_limit_next_order: bool,
    /// Mark prices set by the script (others default to 100).
    marks: BTreeMap<String, Decimal>,
    /// Accept the next order but never fill it.
    skip_next_fill: bool,
    /// Reduce-only orders the venue trimmed when they executed: they asked
    /// for more than the position then held (two closes of one position).
    reduce_only_trimmed: u64,
}

/// An accepted market order, to execute after the speed bump.
struct Fill {
    account: String,
    symbol: String,
    /// Signed: positive buys.
    delta: Decimal,
    cloid: Option<String>,
    order_id: u64,
    reduce_only: bool,
}

struct Inner {
    state: Mutex<State>,
    cfg: SimConfig,
    clock_ms: fn() -> i64,
}

/// A handle to a running simulator. Cloning shares it.
#[derive(Clone)]
pub struct Sim {
    inner: Arc<Inner>,
}

/// Where a running simulator listens.
#[derive(Debug, Clone, Copy)]
pub struct SimAddrs {
    pub rest: SocketAddr,
    pub ws: SocketAddr,
}

impl SimAddrs {
    /// The REST base URL, as a driftwatch config wants it.
    pub fn rest_url(&self) -> String {
        format!("http://{}/api/v1", self.rest)
    }

    pub fn ws_url(&self) -> String {
        format!("ws://{}/ws", self.ws)
    }
}

fn wall_ms() -> i64 {
    crate::clock::now().0
}

impl Sim {
    /// Binds the REST and WebSocket listeners (port 0 picks free ports) and
    /// serves until `shutdown` turns true.
    pub async fn start(
        cfg: SimConfig,
        rest_addr: SocketAddr,
        ws_addr: SocketAddr,
        shutdown: watch::Receiver<bool>,
    ) -> std::io::Result<(Sim, SimAddrs)> {
        let rest = TcpListener::bind(rest_addr).await?;
        let ws = TcpListener::bind(ws_addr).await?;
        let addrs = SimAddrs {
            rest: rest.local_addr()?,
            ws: ws.local_addr()?,
        };
        let sim = Sim {
            inner: Arc::new(Inner {
                state: Mutex::new(State {
                    next_frame_written: None,
                    li: 1_557_000_000,
                    accounts: BTreeMap::new(),
                    conns: HashMap::new(),
                    next_conn: 0,
                    faults: Faults::default(),
                    requests: Vec::new(),
                    connections_accepted: 0,
                    orders: Vec::new(),
                    cloids: BTreeSet::new(),
                    agents: BTreeSet::new(),
                    lose_next_order_response: false,
                    lose_all_order_responses: false,
                    next_order_position: None,
                    rate_limit_next_order: false,
                    marks: BTreeMap::new(),
                    skip_next_fill: false,
                    reduce_only_trimmed: 0,
                }),
                cfg,
                clock_ms: wall_ms,
            }),
        };
        tokio::spawn(sim.clone().serve_rest(rest, shutdown.clone()));
        tokio::spawn(sim.clone().serve_ws(ws, shutdown));
        Ok((sim, addrs))
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        // A panic while holding the lock would be a simulator bug; keep serving.
        self.inner.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    // === Script ===

    /// Opens (or replaces) a position. `side` is `bid` (long) or `ask` (short).
    pub fn open(&self, account: &str, symbol: &str, side: &str, amount: &str, entry_price: &str) {
        let side = if side == "ask" { "ask" } else { "bid" };
        let amount = Decimal::from_str(amount).unwrap_or_default();
        let entry_price = Decimal::from_str(entry_price).unwrap_or_default();
        let now = (self.inner.clock_ms)();
        let mut st = self.lock();
        st.li += 1;
        let created_at = st
            .accounts
            .get(account)
            .and_then(|a| a.get(symbol))
            .map_or(now, |p| p.created_at);
        st.accounts.entry(account.to_owned()).or_default().insert(
            symbol.to_owned(),
            SimPosition {
                side,
                amount,
                entry_price,
                created_at,
                updated_at: now,
            },
        );
        Self::push_positions(&mut st, account);
    }

    /// Closes a position (the frame that follows lists what remains, `[]` when nothing).
    pub fn close(&self, account: &str, symbol: &str) {
        let mut st = self.lock();
        st.li += 1;
        if let Some(a) = st.accounts.get_mut(account) {
            a.remove(symbol);
        }
        Self::push_positions(&mut st, account);
    }

    /// Liquidates a position: an `account_trades` fill with cause
    /// `market_liquidation`, then the new open set.
    pub fn liquidate(&self, account: &str, symbol: &str) {
        let now = (self.inner.clock_ms)();
        let mut st = self.lock();
        st.li += 1;
        let li = st.li;
        let Some(p) = st.accounts.get_mut(account).and_then(|a| a.remove(symbol)) else {
            return;
        };
        let ts = if p.side == "bid" { "close_long" } else { "close_short" };
        let trade = json!({"channel": "account_trades", "data": [{
            "h": li, "i": li, "I": null, "u": account, "s": symbol, "p": p.entry_price.to_string(),
            "o": p.entry_price.to_string(), "a": p.amount.to_string(), "te": "fulfill_taker", "ts": ts,
            "tc": "market_liquidation", "f": "0", "n": "0", "t": now, "li": li}]})
        .to_string();
        Self::send_to_subscribers(&mut st, "account_trades", account, trade);
        Self::push_positions(&mut st, account);
    }

    // === Faults ===

    /// Drops every WebSocket abruptly (no close frame).
    pub fn drop_connections(&self) {
        let st = self.lock();
        for c in st.conns.values() {
            let _ = c.tx.send(Out::Drop);
        }
    }

    /// While silent, connections stay open but nothing is sent (pongs included).
    pub fn set_silent(&self, silent: bool) {
        self.lock().faults.silent = silent;
    }

    /// Withhold subscription acks (as for a subscription with bad params).
    pub fn set_no_ack(&self, no_ack: bool) {
        self.lock().faults.no_ack = no_ack;
    }

    /// Ack `account_positions` subscriptions but withhold their first
    /// snapshot (pongs still flow): a stream that looks alive and says nothing.
    pub fn set_withhold_snapshot(&self, withhold: bool) {
        self.lock().faults.withhold_snapshot = withhold;
    }

    /// Delay every outgoing frame.
    pub fn set_frame_delay(&self, delay: Duration) {
        self.lock().faults.frame_delay = delay;
    }

    /// Hold the next `account_positions` frame and send it after the one
    /// that follows it (so its `li` arrives out of order).
    pub fn reorder_next_frame(&self) {
        self.lock().faults.reorder_next = true;
    }

    /// Makes REST misbehave, for `times` requests or until cleared (`None`).
    pub fn set_rest_fault(&self, fault: Option<RestFault>, times: Option<u32>) {
        let mut st = self.lock();
        st.faults.rest.set(fault, times);
    }

    /// Binds an agent wallet to an account (`POST /agent/bind` on the venue).
    pub fn bind_agent(&self, account: &str, agent: &str) {
        self.lock().agents.insert((account.to_owned(), agent.to_owned()));
    }

    /// Execute the next market order but answer 504, as if the response were lost.
    pub fn lose_next_order_response(&self) {
        self.lock().lose_next_order_response = true;
    }

    /// Lose every order response (504) until cleared, whatever the order did.
    pub fn lose_all_order_responses(&self, lose: bool) {
        self.lock().lose_all_order_responses = lose;
    }

    /// When the next order arrives, the position is `position` (`None`:
    /// closed; `Some((side, amount))`), as if it moved while the order was
    /// in flight.
    pub fn move_position_before_next_order(&self, account: &str, symbol: &str, position: Option<(&str, &str)>) {
        let position = position.map(|(side, amount)| {
            (
                if side == "ask" { "ask" } else { "bid" },
                Decimal::from_str(amount).unwrap_or_default(),
            )
        });
        self.lock().next_order_position = Some((account.to_owned(), symbol.to_owned(), position));
    }

    /// Accept the next market order but never fill it (lost by the engine).
    pub fn skip_next_fill(&self) {
        self.lock().skip_next_fill = true;
    }

    /// Sets a symbol's mark price (`GET /info/prices`, and the `prices`
    /// channel's subscribers get the new prices).
    pub fn set_mark(&self, symbol: &str, mark: &str) {
        if let Ok(m) = Decimal::from_str(mark) {
            let now = (self.inner.clock_ms)();
            let mut st = self.lock();
            st.marks.insert(symbol.to_owned(), m);
            let frame = json!({"channel": "prices", "data": Self::prices(&st, now)}).to_string();
            Self::send_to_subscribers(&mut st, "prices", "", frame);
        }
    }

    /// Every market's prices, as `GET /info/prices` and the `prices` channel give them.
    fn prices(st: &State, now: i64) -> Vec<Value> {
        MARKETS
            .iter()
            .map(|m| {
                let mark = st
                    .marks
                    .get(m.symbol)
                    .copied()
                    .unwrap_or(Decimal::ONE_HUNDRED)
                    .to_string();
                json!({"symbol": m.symbol, "mark": mark, "mid": mark, "oracle": mark, "funding": "0.0000125",
                    "next_funding": "0.0000125", "open_interest": "1000000", "volume_24h": "1000000",
                    "yesterday_price": mark, "timestamp": now})
            })
            .collect()
    }

    /// Answer the next market order with 429 (`t=2`).
    pub fn rate_limit_next_order(&self) {
        self.lock().rate_limit_next_order = true;
    }

    /// Reduce-only orders trimmed when they executed: each asked for more
    /// than the position held by then. Zero when no two closes overlapped.
    pub fn reduce_only_trimmed(&self) -> u64 {
        self.lock().reduce_only_trimmed
    }

    /// Every order received, in order.
    pub fn orders(&self) -> Vec<ReceivedOrder> {
        self.lock().orders.clone()
    }

    /// The signed size of a position (zero when none).
    pub fn position(&self, account: &str, symbol: &str) -> Decimal {
        self.lock()
            .accounts
            .get(account)
            .and_then(|a| a.get(symbol))
            .map_or(Decimal::ZERO, |p| if p.side == "ask" { -p.amount } else { p.amount })
    }

    // === Observation ===

    /// Open WebSocket connections.
    pub fn connections(&self) -> usize {
        self.lock().conns.len()
    }

    /// WebSocket connections accepted since start.
    pub fn connections_accepted(&self) -> u64 {
        self.lock().connections_accepted
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

    pub fn last_order_id(&self) -> u64 {
        self.lock().li
    }

    // === Wire ===

    fn positions_json(st: &State, account: &str, short_keys: bool) -> Vec<Value> {
        st.accounts
            .get(account)
            .map(|a| {
                a.iter()
                    .map(|(symbol, p)| {
                        if short_keys {
                            json!({"s": symbol, "d": p.side, "a": p.amount.to_string(), "p": p.entry_price.to_string(),
                                   "m": "0", "f": "0", "i": false, "l": null, "t": p.updated_at})
                        } else {
                            json!({"symbol": symbol, "side": p.side, "amount": p.amount.to_string(),
                                   "entry_price": p.entry_price.to_string(), "margin": "0", "funding": "0",
                                   "isolated": false, "liquidation_price": null,
                                   "created_at": p.created_at, "updated_at": p.updated_at})
                        }
                    })
                    .collect()
            })
            .unwrap_or_default()
    }

    fn positions_frame(st: &State, account: &str) -> String {
        json!({"channel": "account_positions", "data": Self::positions_json(st, account, true), "li": st.li})
            .to_string()
    }

    fn push_positions(st: &mut State, account: &str) {
        let frame = Self::positions_frame(st, account);
        if st.faults.reorder_next {
            st.faults.reorder_next = false;
            st.faults.held = Some((account.to_owned(), frame));
            return;
        }
        let held = st.faults.held.take();
        Self::send_to_subscribers(st, "account_positions", account, frame);
        if let Some((held_account, held_frame)) = held {
            Self::send_to_subscribers(st, "account_positions", &held_account, held_frame);
        }
    }

    fn send_to_subscribers(st: &mut State, channel: &str, account: &str, frame: String) {
        let key = (channel.to_owned(), account.to_owned());
        for c in st.conns.values() {
            if c.subs.contains(&key) {
                let _ = c.tx.send(Out::Frame(frame.clone()));
            }
        }
    }

    // === WebSocket server ===

    async fn serve_ws(self, listener: TcpListener, mut shutdown: watch::Receiver<bool>) {
        loop {
            tokio::select! {
                biased;
                _ = shutdown.changed() => return,
                accepted = listener.accept() => {
                    if let Ok((stream, _)) = accepted {
                        tokio::spawn(self.clone().ws_connection(stream, shutdown.clone()));
                    }
                }
            }
        }
    }

    async fn ws_connection(self, stream: TcpStream, mut shutdown: watch::Receiver<bool>) {
        let Ok(ws) = tokio_tungstenite::accept_async(stream).await else {
            return;
        };
        let (mut sink, mut source) = ws.split();
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
                    subs: BTreeSet::new(),
                },
            );
            id
        };
        // Writer: applies the silence and delay faults at send time, in order.
        let sim = self.clone();
        let writer = tokio::spawn(async move {
            while let Some(out) = rx.recv().await {
                match out {
                    Out::Drop => return,
                    Out::Frame(f) => {
                        let (silent, delay) = {
                            let st = sim.lock();
                            (st.faults.silent, st.faults.frame_delay)
                        };
                        if silent {
                            continue;
                        }
                        if !delay.is_zero() {
                            tokio::time::sleep(delay).await;
                        }
                        if sink.send(Message::text(f)).await.is_err() {
                            return;
                        }
                        sim.lock().next_frame_written.get_or_insert_with(Instant::now);
                    }
                }
            }
        });
        let opened = Instant::now();
        let mut last_client_msg = Instant::now();
        let mut writer = writer;
        loop {
            let idle_deadline = last_client_msg + self.inner.cfg.idle_timeout;
            let age_deadline = opened + self.inner.cfg.max_connection_age;
            tokio::select! {
                biased;
                _ = shutdown.changed() => break,
                _ = &mut writer => break,
                _ = tokio::time::sleep_until(idle_deadline) => break,
                _ = tokio::time::sleep_until(age_deadline) => break,
                msg = source.next() => match msg {
                    Some(Ok(Message::Text(text))) => {
                        last_client_msg = Instant::now();
                        self.on_client_text(id, &tx, &text);
                    }
                    Some(Ok(Message::Close(_))) | None | Some(Err(_)) => break,
                    // Protocol pings do not count as client traffic (pacifica.md §4.2).
                    Some(Ok(_)) => {}
                },
            }
        }
        self.lock().conns.remove(&id);
        writer.abort();
    }

    fn on_client_text(&self, id: u64, tx: &mpsc::UnboundedSender<Out>, text: &str) {
        let Ok(msg) = serde_json::from_str::<Value>(text) else {
            return;
        };
        match msg.get("method").and_then(Value::as_str) {
            // A trading operation has an id and params and no method.
            None if msg.get("id").is_some() && msg.get("params").is_some() => self.ws_operation(tx, &msg),
            Some("ping") => {
                let _ = tx.send(Out::Frame(json!({"channel": "pong"}).to_string()));
            }
            Some("subscribe") => {
                let params = msg.get("params").cloned().unwrap_or(Value::Null);
                let source = params.get("source").and_then(Value::as_str).unwrap_or("");
                if source == "prices" {
                    // Public: every market's prices now, then on every mark change.
                    let mut st = self.lock();
                    if let Some(c) = st.conns.get_mut(&id) {
                        c.subs.insert(("prices".to_owned(), String::new()));
                    }
                    if !st.faults.no_ack {
                        let _ = tx.send(Out::Frame(json!({"channel": "subscribe", "data": params}).to_string()));
                    }
                    let now = (self.inner.clock_ms)();
                    let _ = tx.send(Out::Frame(
                        json!({"channel": "prices", "data": Self::prices(&st, now)}).to_string(),
                    ));
                    return;
                }
                let account = params.get("account").and_then(Value::as_str);
                let known = matches!(
                    source,
                    "account_positions"
                        | "account_trades"
                        | "account_order_updates"
                        | "account_orders"
                        | "account_info"
                );
                // Quirk: bad params get neither an ack nor an error.
                let Some(account) = account.filter(|_| known) else {
                    return;
                };
                let mut st = self.lock();
                if let Some(c) = st.conns.get_mut(&id) {
                    c.subs.insert((source.to_owned(), account.to_owned()));
                }
                if !st.faults.no_ack {
                    let _ = tx.send(Out::Frame(json!({"channel": "subscribe", "data": params}).to_string()));
                }
                if source == "account_positions" && !st.faults.withhold_snapshot {
                    let _ = tx.send(Out::Frame(Self::positions_frame(&st, account)));
                }
            }
            _ => {}
        }
    }

    // === REST server ===

    async fn serve_rest(self, listener: TcpListener, mut shutdown: watch::Receiver<bool>) {
        loop {
            tokio::select! {
                biased;
                _ = shutdown.changed() => return,
                accepted = listener.accept() => {
                    let Ok((stream, _)) = accepted else { continue };
                    let sim = self.clone();
                    tokio::spawn(async move {
                        let svc = service_fn(move |req| sim.clone().rest(req));
                        let _ = http1::Builder::new().serve_connection(TokioIo::new(stream), svc).await;
                    });
                }
            }
        }
    }

    async fn rest(self, req: Request<Incoming>) -> Result<Response<Full<Bytes>>, Infallible> {
        let method = req.method().clone();
        let path = req.uri().path().to_owned();
        let query = req.uri().query().unwrap_or("").to_owned();
        let body = crate::venue::simkit::body(req).await;
        crate::venue::simkit::remember(
            &mut self.lock().requests,
            Recorded {
                at: Instant::now(),
                method: method.to_string(),
                path: path.clone(),
                query: query.clone(),
                body: body.clone(),
            },
        );
        if path.starts_with("/_sim/") && method == Method::POST {
            return Ok(self.control(&path, &body));
        }
        if method == Method::POST && path == "/api/v1/orders/create_market" {
            let limited = std::mem::take(&mut self.lock().rate_limit_next_order);
            if limited || self.take_rest_fault(&path) == Some(RestFault::RateLimited) {
                return Ok(rate_limited());
            }
            return Ok(self.create_market(&body).await);
        }
        if method == Method::GET && !body.is_empty() {
            return Ok(cloudfront_403());
        }
        if method == Method::GET && path.starts_with("/api/v1/") {
            if let Some(fault) = self.take_rest_fault(&path) {
                return Ok(match fault {
                    RestFault::RateLimited => rate_limited(),
                    RestFault::ServerError => {
                        envelope_error(StatusCode::INTERNAL_SERVER_ERROR, "Internal server error", None)
                    }
                    RestFault::Timeout => {
                        tokio::time::sleep(Duration::from_secs(120)).await;
                        envelope_error(StatusCode::GATEWAY_TIMEOUT, "Request timed out", Some(504))
                    }
                    RestFault::Garbage => reply(StatusCode::OK, "text/html", "<html>\u{0}\u{1}garbage".into()),
                    RestFault::EmptyPositions => {
                        let li = self.lock().li;
                        ok_json(json!({"success": true, "data": [], "error": null, "code": null, "last_order_id": li}))
                    }
                });
            }
        }
        let account = query_param(&query, "account");
        Ok(match (method, path.as_str()) {
            (Method::GET, "/api/v1/positions") => match account {
                None => envelope_error(StatusCode::BAD_REQUEST, "Missing account", Some(400)),
                Some(a) => {
                    let st = self.lock();
                    ok_json(json!({"success": true, "data": Self::positions_json(&st, &a, false),
                                   "error": null, "code": null, "last_order_id": st.li}))
                }
            },
            (Method::GET, "/api/v1/account") => match account {
                None => envelope_error(StatusCode::BAD_REQUEST, "Missing account", Some(400)),
                Some(a) => {
                    let st = self.lock();
                    let count = st.accounts.get(&a).map_or(0, BTreeMap::len);
                    ok_json(
                        json!({"success": true, "data": {"balance": "10000", "account_equity": "10000",
                        "positions_count": count, "orders_count": 0, "stop_orders_count": 0, "fee_level": 0,
                        "updated_at": (self.inner.clock_ms)()}, "error": null, "code": null}),
                    )
                }
            },
            (Method::GET, "/api/v1/info/prices") => {
                let now = (self.inner.clock_ms)();
                let data = Self::prices(&self.lock(), now);
                ok_json(json!({"success": true, "data": data, "error": null, "code": null}))
            }
            (Method::GET, "/api/v1/info") => {
                let data: Vec<Value> = MARKETS
                    .iter()
                    .map(|m| {
                        json!({"symbol": m.symbol, "tick_size": m.tick_size, "min_tick": "0", "max_tick": "1000000",
                        "lot_size": m.lot_size, "max_leverage": 10, "isolated_only": false, "min_order_size": "10",
                        "max_order_size": "1000000", "funding_rate": "0.0000125", "next_funding_rate": "0.0000125",
                        "created_at": 1748881333944i64, "instrument_type": "perpetual", "base_asset": m.symbol})
                    })
                    .collect();
                ok_json(json!({"success": true, "data": data, "error": null, "code": null}))
            }
            _ => envelope_error(StatusCode::NOT_FOUND, "Not found", Some(404)),
        })
    }

    /// REST faults hit account endpoints (positions, account, orders);
    /// market data (`/info`, `/info/prices`) stays healthy.
    fn take_rest_fault(&self, path: &str) -> Option<RestFault> {
        if path.starts_with("/api/v1/info") {
            return None;
        }
        let mut st = self.lock();
        if st.faults.rest.peek()? == RestFault::EmptyPositions && path != "/api/v1/positions" {
            return None;
        }
        st.faults.rest.take()
    }

    /// `POST /api/v1/orders/create_market` (pacifica.md §5): verifies the
    /// signature, then executes reduce-only (and plain) market orders after
    /// the speed bump. Errors as the venue gives them: 21, 22, 23 (observed
    /// as a bare `{"error": …}` with HTTP 422), 36, and a mis-rounded
    /// amount as 59 (the newer enum's code; HTTP 400).
    async fn create_market(&self, raw: &[u8]) -> Response<Full<Bytes>> {
        let (status, body, lost) = self.accept_market(raw);
        if lost {
            return envelope_error(StatusCode::GATEWAY_TIMEOUT, "Request timed out", Some(504));
        }
        reply(status, "application/json", body)
    }

    /// A market order from REST or the WebSocket: decided, recorded, its
    /// fill scheduled. The REST status and body, and whether the reply is
    /// to be lost.
    fn accept_market(&self, raw: &[u8]) -> (StatusCode, String, bool) {
        let (status, body, fill) = self.order_decision(raw);
        let fill = fill.filter(|_| !std::mem::take(&mut self.lock().skip_next_fill));
        let lose = {
            let mut st = self.lock();
            let lose = (status == StatusCode::OK && std::mem::take(&mut st.lose_next_order_response))
                || st.lose_all_order_responses;
            st.orders.push(ReceivedOrder {
                at: Instant::now(),
                body: serde_json::from_slice(raw).unwrap_or(Value::Null),
                verified: status != StatusCode::BAD_REQUEST || !body.contains("Verification failed"),
                status: status.as_u16(),
                response: body.clone(),
                filled: fill.as_ref().map_or(Decimal::ZERO, |f| f.delta.abs()),
            });
            lose
        };
        if let Some(fill) = fill {
            let sim = self.clone();
            let bump = self.inner.cfg.speed_bump;
            tokio::spawn(async move {
                tokio::time::sleep(bump).await;
                sim.fill(fill);
            });
        }
        (status, body, lose)
    }

    /// A trading operation over the WebSocket (pacifica.md §5.2): `{"id",
    /// "params": {"<operation>": <the REST body>}}`, answered with the
    /// operation's frame (`code` 200 and `data` {I, i, s}, or `code` and
    /// `err`; a signature problem is 401 here, as on the venue).
    fn ws_operation(&self, tx: &mpsc::UnboundedSender<Out>, msg: &Value) {
        let id = msg.get("id").cloned().unwrap_or(Value::Null);
        let now = (self.inner.clock_ms)();
        let Some((op, body)) = msg
            .get("params")
            .and_then(Value::as_object)
            .and_then(|p| p.iter().next())
        else {
            return;
        };
        let frame = if op == "create_market_order" {
            let raw = serde_json::to_vec(body).unwrap_or_default();
            let (status, text, lost) = self.accept_market(&raw);
            if lost {
                return;
            }
            let v: Value = serde_json::from_str(&text).unwrap_or(Value::Null);
            if status == StatusCode::OK {
                json!({"code": 200, "data": {"I": body.get("client_order_id").cloned().unwrap_or(Value::Null),
                    "i": v["data"]["order_id"], "s": body.get("symbol").cloned().unwrap_or(Value::Null)},
                    "id": id, "t": now, "type": op})
            } else {
                let err = v["error"].as_str().unwrap_or("Internal server error").to_owned();
                let code = match v["code"].as_i64() {
                    _ if err.contains("Verification failed") || err == "Invalid message" => 401,
                    Some(c) => c,
                    None => i64::from(status.as_u16()),
                };
                json!({"id": id, "type": op, "code": code, "err": err, "t": now})
            }
        } else {
            json!({"id": id, "type": op, "code": 400, "err": format!("Unsupported operation: {op}"), "t": now})
        };
        let _ = tx.send(Out::Frame(frame.to_string()));
    }

    #[allow(clippy::type_complexity)]
    fn order_decision(&self, raw: &[u8]) -> (StatusCode, String, Option<Fill>) {
        let err = |status: StatusCode, message: String, code: Option<i64>| {
            (
                status,
                json!({"success": false, "data": null, "error": message, "code": code}).to_string(),
                None,
            )
        };
        let Ok(Value::Object(body)) = serde_json::from_slice::<Value>(raw) else {
            return err(StatusCode::BAD_REQUEST, "Invalid request body".into(), Some(400));
        };
        let s = |k: &str| body.get(k).and_then(Value::as_str).map(str::to_owned);
        let (Some(account), Some(signature)) = (s("account"), s("signature")) else {
            return err(
                StatusCode::BAD_REQUEST,
                "Missing account or signature".into(),
                Some(400),
            );
        };
        let Some(timestamp) = body.get("timestamp").and_then(Value::as_u64) else {
            return err(StatusCode::BAD_REQUEST, "Invalid message".into(), Some(400));
        };
        let expiry = body.get("expiry_window").and_then(Value::as_u64).unwrap_or(30_000);
        let agent = s("agent_wallet");
        // Everything but the auth fields was signed as `data`.
        let mut payload = body.clone();
        for k in ["account", "agent_wallet", "signature", "timestamp", "expiry_window"] {
            payload.remove(k);
        }
        let header = crate::venue::pacifica::sign::Header {
            kind: "create_market_order".into(),
            timestamp,
            expiry_window: expiry,
        };
        let Ok(message) = crate::venue::pacifica::sign::canonical_message(&header, &payload) else {
            return err(StatusCode::BAD_REQUEST, "Invalid message".into(), Some(400));
        };
        let signer = match &agent {
            Some(a) => {
                if !self.lock().agents.contains(&(account.clone(), a.clone())) {
                    return err(
                        StatusCode::BAD_REQUEST,
                        "Agent not authorized for account".into(),
                        Some(400),
                    );
                }
                a.clone()
            }
            None => account.clone(),
        };
        if !crate::venue::pacifica::sign::verify(&signer, &message, &signature) {
            return err(StatusCode::BAD_REQUEST, "Verification failed".into(), Some(400));
        }
        let now = (self.inner.clock_ms)();
        if (timestamp + expiry) < now as u64 {
            return err(StatusCode::BAD_REQUEST, "Invalid message".into(), Some(400));
        }
        let (Some(symbol), Some(side), Some(amount)) = (s("symbol"), s("side"), s("amount")) else {
            return err(
                StatusCode::BAD_REQUEST,
                "Missing symbol, side or amount".into(),
                Some(400),
            );
        };
        let Some(market) = MARKETS.iter().find(|m| m.symbol == symbol) else {
            return err(StatusCode::BAD_REQUEST, format!("Book not found: {symbol}"), Some(3));
        };
        let (Ok(amount), Ok(lot)) = (Decimal::from_str(&amount), Decimal::from_str(market.lot_size)) else {
            return err(StatusCode::BAD_REQUEST, "Invalid amount".into(), Some(59));
        };
        if amount <= Decimal::ZERO || !(amount % lot).is_zero() {
            // The newer error enum's code for a mis-rounded amount (§5.4;
            // older deployments answered a bare 500).
            return err(
                StatusCode::BAD_REQUEST,
                format!("Invalid amount: {amount} is not a multiple of the lot size {lot}"),
                Some(59),
            );
        }
        if !matches!(side.as_str(), "bid" | "ask") {
            return err(StatusCode::BAD_REQUEST, format!("Invalid side: {side}"), Some(400));
        }
        let cloid = s("client_order_id");
        let mut st = self.lock();
        if let Some((acc, sym, position)) = st.next_order_position.take() {
            let now = (self.inner.clock_ms)();
            let positions = st.accounts.entry(acc).or_default();
            match position {
                None => {
                    positions.remove(&sym);
                }
                Some((side, amount)) => {
                    positions.insert(
                        sym,
                        SimPosition {
                            side,
                            amount,
                            entry_price: Decimal::ONE,
                            created_at: now,
                            updated_at: now,
                        },
                    );
                }
            }
        }
        if let Some(c) = &cloid {
            if st.cloids.contains(&(account.clone(), c.clone())) {
                return err(
                    StatusCode::BAD_REQUEST,
                    format!("Duplicate client order id: {c}"),
                    Some(36),
                );
            }
        }
        let reduce_only = body.get("reduce_only").and_then(Value::as_bool).unwrap_or(false);
        let held = st.accounts.get(&account).and_then(|a| a.get(&symbol)).cloned();
        if reduce_only {
            let Some(p) = held else {
                // As observed in production: HTTP 422 and only an `error` key.
                return (
                    StatusCode::UNPROCESSABLE_ENTITY,
                    json!({"error": format!("No position found for reduce-only order: {account} {symbol}")})
                        .to_string(),
                    None,
                );
            };
            if p.side == side {
                return err(
                    StatusCode::BAD_REQUEST,
                    "Invalid reduce-only order side: must be opposite to position side".into(),
                    Some(21),
                );
            }
            if amount > p.amount {
                return err(
                    StatusCode::BAD_REQUEST,
                    format!(
                        "Invalid reduce-only order amount: {amount} exceeds position amount {}",
                        p.amount
                    ),
                    Some(22),
                );
            }
        }
        if let Some(c) = &cloid {
            st.cloids.insert((account.clone(), c.clone()));
        }
        st.li += 1;
        let order_id = st.li;
        let delta = if side == "bid" { amount } else { -amount };
        (
            StatusCode::OK,
            json!({"success": true, "data": {"order_id": order_id}, "error": null, "code": null}).to_string(),
            Some(Fill {
                account,
                symbol,
                delta,
                cloid,
                order_id,
                reduce_only,
            }),
        )
    }

    /// Applies a fill after the speed bump, and streams what changed. A
    /// reduce-only order executes against the position as it is then: at
    /// most down to flat, never through it (nothing, if the position is gone
    /// or on its side). Each one so trimmed is counted.
    fn fill(&self, fill: Fill) {
        let Fill {
            account,
            symbol,
            delta,
            cloid,
            order_id,
            reduce_only,
        } = fill;
        let (account, symbol) = (account.as_str(), symbol.as_str());
        let now = (self.inner.clock_ms)();
        let mut st = self.lock();
        let held = st
            .accounts
            .get(account)
            .and_then(|a| a.get(symbol))
            .map_or(Decimal::ZERO, |p| if p.side == "ask" { -p.amount } else { p.amount });
        let asked = delta;
        let delta = match reduce_only {
            true if held.is_zero() || held.is_sign_negative() == asked.is_sign_negative() => Decimal::ZERO,
            true if asked.abs() > held.abs() => -held,
            _ => asked,
        };
        if delta != asked {
            st.reduce_only_trimmed += 1;
            if let Some(o) =
                st.orders.iter_mut().rev().find(|o| {
                    o.status == 200 && cloid.is_some() && o.body["client_order_id"].as_str() == cloid.as_deref()
                })
            {
                o.filled = delta.abs();
            }
        }
        if delta.is_zero() {
            return;
        }
        st.li += 1;
        let li = st.li;
        let positions = st.accounts.entry(account.to_owned()).or_default();
        let before = held;
        let after = before + delta;
        let entry_price = positions.get(symbol).map_or(Decimal::ONE, |p| p.entry_price);
        if after.is_zero() {
            positions.remove(symbol);
        } else {
            let created_at = positions.get(symbol).map_or(now, |p| p.created_at);
            positions.insert(
                symbol.to_owned(),
                SimPosition {
                    side: if after.is_sign_negative() { "ask" } else { "bid" },
                    amount: after.abs(),
                    entry_price,
                    created_at,
                    updated_at: now,
                },
            );
        }
        let ts = match (before.is_sign_positive() && !before.is_zero(), delta.is_sign_negative()) {
            (true, true) => "close_long",
            (false, false) if !before.is_zero() => "close_short",
            (_, true) => "open_short",
            _ => "open_long",
        };
        let side = if delta.is_sign_negative() { "ask" } else { "bid" };
        let trade = json!({"channel": "account_trades", "data": [{"h": li, "i": order_id, "I": cloid, "u": account,
            "s": symbol, "p": entry_price.to_string(), "o": entry_price.to_string(), "a": delta.abs().to_string(),
            "te": "fulfill_taker", "ts": ts, "tc": "normal", "f": "0", "n": "0", "t": now, "li": li}]})
        .to_string();
        let update = json!({"channel": "account_order_updates", "data": [{"i": order_id, "I": cloid, "u": account,
            "s": symbol, "d": side, "p": entry_price.to_string(), "ip": entry_price.to_string(), "lp": entry_price.to_string(),
            "a": delta.abs().to_string(), "f": delta.abs().to_string(), "oe": "fulfill_market", "os": "filled",
            "ot": "market", "sp": null, "si": null, "r": true, "ct": now, "ut": now, "li": li}]})
        .to_string();
        Self::send_to_subscribers(&mut st, "account_trades", account, trade);
        Self::send_to_subscribers(&mut st, "account_order_updates", account, update);
        Self::push_positions(&mut st, account);
    }

    fn control(&self, path: &str, body: &[u8]) -> Response<Full<Bytes>> {
        #[derive(Deserialize)]
        struct Pos {
            account: String,
            symbol: String,
            #[serde(default)]
            side: Option<String>,
            #[serde(default)]
            amount: Option<String>,
            #[serde(default)]
            entry_price: Option<String>,
        }
        #[derive(Deserialize)]
        struct Fault {
            #[serde(default)]
            ws: Option<String>,
            #[serde(default)]
            delay_ms: Option<u64>,
            #[serde(default)]
            rest: Option<String>,
            #[serde(default)]
            times: Option<u32>,
        }
        let bad = |m: String| envelope_error(StatusCode::BAD_REQUEST, &m, Some(400));
        match path {
            "/_sim/open" | "/_sim/close" | "/_sim/liquidate" => {
                let p: Pos = match serde_json::from_slice(body) {
                    Ok(p) => p,
                    Err(e) => return bad(format!("bad request: {e}")),
                };
                match path {
                    "/_sim/open" => {
                        let (Some(side), Some(amount)) = (p.side.as_deref(), p.amount.as_deref()) else {
                            return bad("open needs side and amount".into());
                        };
                        if Decimal::from_str(amount).is_err() || !matches!(side, "bid" | "ask") {
                            return bad("side must be bid or ask and amount a decimal string".into());
                        }
                        self.open(
                            &p.account,
                            &p.symbol,
                            side,
                            amount,
                            p.entry_price.as_deref().unwrap_or("0"),
                        );
                    }
                    "/_sim/close" => self.close(&p.account, &p.symbol),
                    _ => self.liquidate(&p.account, &p.symbol),
                }
            }
            "/_sim/bind_agent" => {
                #[derive(Deserialize)]
                struct Bind {
                    account: String,
                    agent: String,
                }
                match serde_json::from_slice::<Bind>(body) {
                    Ok(b) => self.bind_agent(&b.account, &b.agent),
                    Err(e) => return bad(format!("bad request: {e}")),
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
                    Some("reorder_next") => self.reorder_next_frame(),
                    Some("normal") => {
                        self.set_silent(false);
                        self.set_no_ack(false);
                        self.set_frame_delay(Duration::ZERO);
                    }
                    Some(other) => return bad(format!("unknown ws fault {other:?}")),
                }
                if let Some(ms) = f.delay_ms {
                    self.set_frame_delay(Duration::from_millis(ms));
                }
                match f.rest.as_deref() {
                    None => {}
                    Some("none") => self.set_rest_fault(None, None),
                    Some(name) => match serde_json::from_value::<RestFault>(Value::String(name.to_owned())) {
                        Ok(fault) => self.set_rest_fault(Some(fault), f.times),
                        Err(_) => return bad(format!("unknown rest fault {name:?}")),
                    },
                }
            }
            _ => return envelope_error(StatusCode::NOT_FOUND, "Not found", Some(404)),
        }
        ok_json(json!({"success": true, "data": {"last_order_id": self.last_order_id()}, "error": null, "code": null}))
    }
}

fn query_param(query: &str, name: &str) -> Option<String> {
    query.split('&').find_map(|kv| {
        let (k, v) = kv.split_once('=')?;
        (k == name && !v.is_empty()).then(|| v.to_owned())
    })
}

fn reply(status: StatusCode, content_type: &str, body: String) -> Response<Full<Bytes>> {
    Response::builder()
        .status(status)
        .header("content-type", content_type)
        .header("ratelimit", "\"credits\";r=1240;t=50")
        .header("ratelimit-policy", "\"credits\";q=1250;w=60")
        .body(Full::new(Bytes::from(body)))
        .unwrap_or_else(|_| Response::new(Full::new(Bytes::new())))
}

fn ok_json(v: Value) -> Response<Full<Bytes>> {
    reply(StatusCode::OK, "application/json", v.to_string())
}

fn envelope_error(status: StatusCode, message: &str, code: Option<i64>) -> Response<Full<Bytes>> {
    reply(
        status,
        "application/json",
        json!({"success": false, "data": null, "error": message, "code": code}).to_string(),
    )
}

fn rate_limited() -> Response<Full<Bytes>> {
    Response::builder()
        .status(StatusCode::TOO_MANY_REQUESTS)
        .header("content-type", "application/json")
        .header("ratelimit", "\"credits\";r=0;t=2")
        .header("ratelimit-policy", "\"credits\";q=1250;w=60")
        .body(Full::new(Bytes::from(
            json!({"success": false, "data": null, "error": "Rate limit exceeded", "code": 429}).to_string(),
        )))
        .unwrap_or_else(|_| Response::new(Full::new(Bytes::new())))
}

fn cloudfront_403() -> Response<Full<Bytes>> {
    reply(
        StatusCode::FORBIDDEN,
        "text/html",
        "<HTML><HEAD><TITLE>ERROR: The request could not be satisfied</TITLE></HEAD><BODY><H1>403 ERROR</H1>\
         <H2>The request could not be satisfied.</H2>Bad request.<BR>Generated by cloudfront (CloudFront)</BODY></HTML>"
            .into(),
    )
}

/// `driftwatch sim --venue pacifica`: REST on `rest`, the stream on `ws`;
/// `--open ACCOUNT:SYMBOL:bid|ask:AMOUNT[:ENTRY]`; until `until` resolves.
pub async fn serve(
    rest: std::net::SocketAddr,
    ws: std::net::SocketAddr,
    open: &[String],
    until: impl std::future::Future<Output = ()>,
) -> anyhow::Result<()> {
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    let (sim, addrs) = Sim::start(SimConfig::default(), rest, ws, stop_rx).await?;
    for spec in open {
        let parts: Vec<&str> = spec.split(':').collect();
        match parts.as_slice() {
            [account, symbol, side @ ("bid" | "ask"), amount] => sim.open(account, symbol, side, amount, "0"),
            [account, symbol, side @ ("bid" | "ask"), amount, entry] => sim.open(account, symbol, side, amount, entry),
            _ => anyhow::bail!("--open {spec:?}: expected ACCOUNT:SYMBOL:bid|ask:AMOUNT[:ENTRY]"),
        }
    }
    println!("Simulated Pacifica on loopback:");
    println!("  rest_url: {}", addrs.rest_url());
    println!("  ws_url:   {}", addrs.ws_url());
    println!(
        "Script it with POST {}/_sim/open|close|liquidate|fault (JSON).",
        addrs.rest
    );
    until.await;
    let _ = stop_tx.send(true);
    Ok(())
}
