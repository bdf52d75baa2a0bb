//! A simulated Hyperliquid (main perp dex), REST side: `POST /info`
//! (`clearinghouseState`, `meta`, `metaAndAssetCtxs`, `allMids`) and
//! `POST /exchange`, which re-derives every action's hash from the parsed
//! action (its own field order), recovers the signer from the signature as
//! the venue does, maps an approved API wallet to its master, and refuses
//! what the reference says it refuses (shared/venues/hyperliquid.md §5.3,
//! §5.4, §6.7): an unknown signer ("User or API Wallet … does not exist."),
//! a reused nonce, a `vaultAddress` the signer's master does not own, an
//! action past its `expiresAfter`, a reduce-only order that would increase
//! or open a position or is larger than it (rejected, not clipped), an IOC
//! that cannot cross the mark. Reduce-only IOCs fill at the mark. Every
//! order is kept for `orderStatus` by oid or cloid (`unknownOid` otherwise).
//! `spotMeta` answers an empty spot universe, as the official SDK's `Info`
//! reads it at start.
//!
//! Control: the methods below, or over HTTP on the REST port:
//! `POST /_sim/open {account, coin, szi}`, `/_sim/mark {coin, px}`,
//! `/_sim/approve_agent {master, agent}`, `/_sim/sub_account {master, sub}`,
//! `/_sim/fault {fault: "lost_reply"|"dropped"|"none", times}`.
//! WebSocket ([`HyperliquidSim::start_ws`]): the plain-text greeting, then
//! `clearinghouseState` subscriptions acknowledged and answered with the
//! whole state at once and after every change; `{"method":"ping"}` → pong.

use std::collections::{BTreeMap, BTreeSet};
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use alloy_primitives::{Address, U256};
use http_body_util::Full;
use hyper::body::{Bytes, Incoming};
use hyper::{Request, Response};
use rust_decimal::Decimal;
use serde_json::{json, Value};
use tokio::net::TcpListener;
use tokio::sync::watch;

use crate::venue::hyperliquid::sign::{self, Action, Body, Network, Signing};

/// The simulator's universe: (coin, szDecimals); the index is the asset id
/// (BTC 0 and ETH 1, as on mainnet).
pub const UNIVERSE: &[(&str, u32)] = &[("BTC", 5), ("ETH", 4), ("SOL", 2), ("HYPE", 2), ("kPEPE", 0)];

/// A fault injected into `/exchange`, for a number of requests.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ExchangeFault {
    /// The action is carried out, but the reply is lost (HTTP 502).
    LostReply,
    /// The request is lost before the venue sees it (HTTP 502).
    Dropped,
}

/// An order the venue has seen, for `orderStatus`.
#[derive(Debug, Clone)]
struct SimOrder {
    user: Address,
    oid: u64,
    cloid: Option<String>,
    coin: String,
    status: &'static str,
}

/// An action the simulator received, and what it answered.
#[derive(Debug, Clone)]
pub struct ReceivedAction {
    pub body: Value,
    /// The address the signature recovered to.
    pub signer: Option<Address>,
    pub response: Value,
}

#[derive(Debug, Default)]
struct State {
    /// (account, coin) → signed size.
    positions: BTreeMap<(Address, String), Decimal>,
    /// Where the book fills (and the mark).
    marks: BTreeMap<String, Decimal>,
    /// A mid that differs from the book (a moving market), if set.
    mids: BTreeMap<String, Decimal>,
    /// Accounts with a deposit (an unknown signer is refused).
    accounts: BTreeSet<Address>,
    /// API wallet → its master.
    agents: BTreeMap<Address, Address>,
    /// (signer, nonce) already used.
    nonces: BTreeSet<(Address, u64)>,
    next_oid: u64,
    /// Sub-account or vault → its master.
    subs: BTreeMap<Address, Address>,
    orders: Vec<SimOrder>,
    fault: Option<(ExchangeFault, u32)>,
    actions: Vec<ReceivedAction>,
    /// WebSocket subscribers: the user and the connection's outbox.
    subscribers: Vec<(Address, tokio::sync::mpsc::UnboundedSender<String>)>,
    /// Requests by `/info` type or `/exchange` action type.
    stopwatch: crate::venue::simkit::Stopwatch,
    /// Coins listed after [`UNIVERSE`] (their asset ids follow its own).
    listed: Vec<(String, u32)>,
    /// The next position read replies only once a mid is asked for; the
    /// flag says whether that read has yet to come.
    mid_gate: Option<(Arc<tokio::sync::Notify>, bool)>,
    /// Held position reads that no mid released within [`MID_GATE_WAIT`].
    mid_gate_timeouts: u32,
}

/// How long a held position read waits for a mid before replying anyway.
pub const MID_GATE_WAIT: std::time::Duration = std::time::Duration::from_secs(2);

/// The simulator; cheap to clone.
#[derive(Debug, Clone)]
pub struct HyperliquidSim {
    state: Arc<Mutex<State>>,
    network: Network,
}

fn reply(status: u16, body: String) -> Response<Full<Bytes>> {
    Response::builder()
        .status(status)
        .header("content-type", "application/json")
        .body(Full::new(Bytes::from(body)))
        .unwrap_or_else(|_| Response::new(Full::new(Bytes::new())))
}

fn err(message: String) -> Value {
    json!({"status": "err", "response": message})
}

impl HyperliquidSim {
    /// Binds (port 0 picks a free one) and serves until `shutdown`.
    pub async fn start(
        network: Network,
        addr: SocketAddr,
        shutdown: watch::Receiver<bool>,
    ) -> std::io::Result<(HyperliquidSim, SocketAddr)> {
        let listener = TcpListener::bind(addr).await?;
        let local = listener.local_addr()?;
        let sim = HyperliquidSim {
            state: Arc::new(Mutex::new(State {
                next_oid: 1_000_000,
                ..State::default()
            })),
            network,
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

    /// Gives `account` a deposit and a position (signed size).
    pub fn open(&self, account: Address, coin: &str, szi: Decimal) {
        let mut st = self.lock();
        st.accounts.insert(account);
        st.positions.insert((account, coin.to_owned()), szi);
        Self::push(&mut st, account);
    }

    /// `account`'s whole clearinghouse state, as REST and the stream give it.
    fn state_of(st: &State, account: Address) -> Value {
        let positions: Vec<Value> = st
            .positions
            .iter()
            .filter(|((a, _), s)| *a == account && !s.is_zero())
            .map(|((_, coin), szi)| {
                json!({"type": "oneWay", "position": {
                    "coin": coin, "szi": szi.normalize().to_string(),
                    "entryPx": Self::mark(st, coin).to_string(),
                    "leverage": {"type": "cross", "value": 5}, "liquidationPx": null}})
            })
            .collect();
        json!({"assetPositions": positions, "marginSummary": {"accountValue": "10000"},
               "withdrawable": "10000", "time": crate::clock::now().0})
    }

    /// Sends `account`'s state to its subscribers (dropping closed ones).
    fn push(st: &mut State, account: Address) {
        let frame = json!({"channel": "clearinghouseState", "data": {
            "dex": "", "user": format!("{account:#x}"), "clearinghouseState": Self::state_of(st, account)}})
        .to_string();
        st.subscribers
            .retain(|(user, tx)| *user != account || tx.send(frame.clone()).is_ok());
    }

    /// Serves the WebSocket on its own port until `shutdown`.
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
        use tokio_tungstenite::tungstenite::Message;
        let Ok(ws) = tokio_tungstenite::accept_async(stream).await else {
            return;
        };
        let (mut sink, mut incoming) = ws.split();
        let (tx, mut outbox) = tokio::sync::mpsc::unbounded_channel::<String>();
        let _ = tx.send("Websocket connection established.".into());
        loop {
            tokio::select! {
                biased;
                _ = shutdown.changed() => return,
                Some(out) = outbox.recv() => {
                    let positions = out.starts_with(r#"{"channel":"clearinghouseState""#);
                    if sink.send(Message::text(out)).await.is_err() {
                        return;
                    }
                    if positions {
                        self.lock().stopwatch.frame_written();
                    }
                }
                msg = incoming.next() => {
                    let Some(Ok(Message::Text(text))) = msg else {
                        if matches!(msg, None | Some(Err(_)) | Some(Ok(Message::Close(_)))) {
                            return;
                        }
                        continue;
                    };
                    let Ok(v) = serde_json::from_str::<Value>(&text) else { continue };
                    match v["method"].as_str() {
                        Some("ping") => {
                            let _ = tx.send(json!({"channel": "pong"}).to_string());
                        }
                        Some("subscribe") if v["subscription"]["type"] == "clearinghouseState" => {
                            let user = v["subscription"]["user"].as_str().and_then(|u| u.parse::<Address>().ok());
                            let Some(user) = user else {
                                let _ = tx.send(json!({"channel": "error", "data": format!("Invalid subscription {}", v["subscription"])}).to_string());
                                continue;
                            };
                            let _ = tx.send(json!({"channel": "subscriptionResponse", "data": {"method": "subscribe", "subscription": v["subscription"]}}).to_string());
                            let mut st = self.lock();
                            st.subscribers.push((user, tx.clone()));
                            Self::push(&mut st, user);
                        }
                        _ => {
                            let _ = tx.send(json!({"channel": "error", "data": format!("Invalid subscription {}", v)}).to_string());
                        }
                    }
                }
            }
        }
    }

    /// The next position read (`clearinghouseState`) replies only once an
    /// `allMids` request has arrived, or after [`MID_GATE_WAIT`] (counted
    /// in [`HyperliquidSim::mid_gate_timeouts`]): a client that asks for the
    /// mid only after the position's reply waits it out.
    pub fn hold_next_position_read_until_a_mid(&self) {
        self.lock().mid_gate = Some((Arc::new(tokio::sync::Notify::new()), true));
    }

    /// Held position reads no mid released.
    pub fn mid_gate_timeouts(&self) -> u32 {
        self.lock().mid_gate_timeouts
    }

    /// The next `times` `/exchange` requests meet `fault` (`None` clears).
    pub fn set_fault(&self, fault: Option<ExchangeFault>, times: u32) {
        self.lock().fault = fault.map(|f| (f, times.max(1)));
    }

    fn take_fault(&self) -> Option<ExchangeFault> {
        let mut st = self.lock();
        let (fault, left) = st.fault?;
        st.fault = (left > 1).then_some((fault, left - 1));
        Some(fault)
    }

    /// Registers `sub` (a sub-account or vault) as `master`'s.
    pub fn add_sub_account(&self, master: Address, sub: Address) {
        let mut st = self.lock();
        st.accounts.insert(master);
        st.accounts.insert(sub);
        st.subs.insert(sub, master);
    }

    /// The control API (`POST /_sim/...`).
    fn control(&self, path: &str, v: &Value) -> Result<(), String> {
        let addr = |k: &str| {
            v[k].as_str()
                .and_then(|s| s.parse::<Address>().ok())
                .ok_or(format!("{k}: expected 0x and 40 hex digits"))
        };
        let dec = |k: &str| {
            v[k].as_str()
                .and_then(|s| s.parse::<Decimal>().ok())
                .ok_or(format!("{k}: expected a decimal string"))
        };
        let text = |k: &str| {
            v[k].as_str()
                .map(str::to_owned)
                .ok_or(format!("{k}: expected a string"))
        };
        match path {
            "/_sim/open" => self.open(addr("account")?, &text("coin")?, dec("szi")?),
            "/_sim/mark" => self.set_mark(&text("coin")?, dec("px")?),
            "/_sim/approve_agent" => self.approve_agent(addr("master")?, addr("agent")?),
            "/_sim/sub_account" => self.add_sub_account(addr("master")?, addr("sub")?),
            "/_sim/fault" => {
                let fault = match v["fault"].as_str() {
                    Some("none") => None,
                    Some(f) => Some(
                        serde_json::from_value::<ExchangeFault>(Value::String(f.to_owned()))
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

    /// Reports `px` as the coin's mid while the book stays at the mark (the
    /// market moved between the read and the order).
    pub fn set_mid(&self, coin: &str, px: Decimal) {
        self.lock().mids.insert(coin.to_owned(), px);
    }

    fn mid(st: &State, coin: &str) -> Decimal {
        st.mids.get(coin).copied().unwrap_or_else(|| Self::mark(st, coin))
    }

    pub fn set_mark(&self, coin: &str, px: Decimal) {
        self.lock().marks.insert(coin.to_owned(), px);
    }

    /// Approves `agent` as an API wallet of `master` (`approveAgent`).
    pub fn approve_agent(&self, master: Address, agent: Address) {
        let mut st = self.lock();
        st.accounts.insert(master);
        st.agents.insert(agent, master);
    }

    pub fn position(&self, account: Address, coin: &str) -> Decimal {
        self.lock()
            .positions
            .get(&(account, coin.to_owned()))
            .copied()
            .unwrap_or(Decimal::ZERO)
    }

    pub fn actions(&self) -> Vec<ReceivedAction> {
        self.lock().actions.clone()
    }

    /// The timing of `clearinghouseState` frames written and of requests received, by
    /// kind (an `/info` type such as `clearinghouseState`, or an `/exchange` action type such as `order`), for the detection bench.
    pub fn timing<R>(&self, f: impl FnOnce(&mut crate::venue::simkit::Stopwatch) -> R) -> R {
        f(&mut self.lock().stopwatch)
    }

    async fn handle(&self, req: Request<Incoming>) -> Response<Full<Bytes>> {
        let path = req.uri().path().to_owned();
        let body = crate::venue::simkit::body(req).await;
        let Ok(v) = serde_json::from_slice::<Value>(&body) else {
            return reply(422, "Failed to deserialize the JSON body into the target type".into());
        };
        let kind = match path.as_str() {
            "/exchange" => &v["action"]["type"],
            _ => &v["type"],
        };
        let held = {
            let mut st = self.lock();
            st.stopwatch.received(kind.as_str().unwrap_or("").to_owned());
            match (kind.as_str(), &mut st.mid_gate) {
                (Some("allMids"), Some((gate, _))) => {
                    gate.notify_one();
                    None
                }
                (Some("clearinghouseState"), Some((gate, next @ true))) => {
                    *next = false;
                    Some(gate.clone())
                }
                _ => None,
            }
        };
        if let Some(gate) = held {
            if tokio::time::timeout(MID_GATE_WAIT, gate.notified()).await.is_err() {
                self.lock().mid_gate_timeouts += 1;
            }
        }
        match path.as_str() {
            "/info" => self.info(&v),
            "/exchange" => {
                let fault = self.take_fault();
                if fault == Some(ExchangeFault::Dropped) {
                    return reply(502, "Bad Gateway".into());
                }
                let answer = self.exchange(&v).to_string();
                match fault {
                    Some(_) => reply(502, "Bad Gateway".into()),
                    None => reply(200, answer),
                }
            }
            p if p.starts_with("/_sim/") => match self.control(p, &v) {
                Ok(()) => reply(200, r#"{"ok":true}"#.into()),
                Err(e) => reply(400, json!({ "error": e }).to_string()),
            },
            _ => reply(404, String::new()),
        }
    }

    /// The universe: [`UNIVERSE`], then the coins [`Self::list`]ed; an
    /// asset id is a coin's place in it.
    fn universe(st: &State) -> impl Iterator<Item = (&str, u32)> {
        UNIVERSE
            .iter()
            .copied()
            .chain(st.listed.iter().map(|(c, d)| (c.as_str(), *d)))
    }

    /// Lists more coins (name, szDecimals) after the built-in universe: a
    /// load test watches a thousand.
    pub fn list(&self, coins: impl IntoIterator<Item = (String, u32)>) {
        self.lock().listed.extend(coins);
    }

    fn mark(st: &State, coin: &str) -> Decimal {
        st.marks.get(coin).copied().unwrap_or(Decimal::ONE_HUNDRED)
    }

    fn info(&self, v: &Value) -> Response<Full<Bytes>> {
        let st = self.lock();
        let universe: Vec<Value> = Self::universe(&st)
            .map(|(c, d)| json!({"name": c, "szDecimals": d, "maxLeverage": 20}))
            .collect();
        let body = match v["type"].as_str() {
            Some("clearinghouseState") => {
                let Some(user) = v["user"].as_str().and_then(|u| u.parse::<Address>().ok()) else {
                    return reply(422, "Failed to deserialize the JSON body into the target type".into());
                };
                Self::state_of(&st, user)
            }
            Some("meta") => json!({"universe": universe, "marginTables": []}),
            Some("spotMeta") => json!({"universe": [], "tokens": []}),
            Some("orderStatus") => {
                let Some(user) = v["user"].as_str().and_then(|u| u.parse::<Address>().ok()) else {
                    return reply(422, "Failed to deserialize the JSON body into the target type".into());
                };
                let wanted = |o: &&SimOrder| {
                    o.user == user
                        && match &v["oid"] {
                            Value::Number(n) => n.as_u64() == Some(o.oid),
                            Value::String(c) => o.cloid.as_deref() == Some(c.to_ascii_lowercase().as_str()),
                            _ => false,
                        }
                };
                // The latest order with that id.
                match st.orders.iter().rev().find(wanted) {
                    None => json!({"status": "unknownOid"}),
                    Some(o) => json!({"status": "order", "order": {
                        "order": {"coin": o.coin, "oid": o.oid, "cloid": o.cloid, "reduceOnly": true, "tif": "Ioc"},
                        "status": o.status, "statusTimestamp": crate::clock::now().0}}),
                }
            }
            Some("metaAndAssetCtxs") => {
                let ctxs: Vec<Value> = Self::universe(&st)
                    .map(|(c, _)| {
                        let m = Self::mark(&st, c).to_string();
                        json!({"markPx": m, "midPx": Self::mid(&st, c).to_string(), "oraclePx": m})
                    })
                    .collect();
                json!([{"universe": universe, "marginTables": []}, ctxs])
            }
            Some("allMids") => Value::Object(
                Self::universe(&st)
                    .map(|(c, _)| (c.to_string(), Value::String(Self::mid(&st, c).to_string())))
                    .collect(),
            ),
            _ => return reply(422, "Failed to deserialize the JSON body into the target type".into()),
        };
        reply(200, body.to_string())
    }

    /// The signer of a body, as the venue recovers it from the action it
    /// parsed (re-encoded in its own field order).
    fn signer(&self, body: &Body) -> Result<Address, String> {
        let signing = Signing {
            nonce: body.nonce,
            vault: match &body.vault_address {
                None => None,
                Some(v) => Some(v.parse().map_err(|_| "bad vaultAddress".to_owned())?),
            },
            expires_after: body.expires_after,
            network: self.network,
        };
        let digest = sign::digest(&body.action, &signing)?;
        let num = |s: &str| s.parse::<U256>().map_err(|_| "bad signature".to_owned());
        let mut sig = num(&body.signature.r)?.to_be_bytes::<32>().to_vec();
        sig.extend(num(&body.signature.s)?.to_be_bytes::<32>());
        sig.push(body.signature.v);
        crate::venue::evm::recover(digest, &sig).map_err(|_| "bad signature".to_owned())
    }

    fn exchange(&self, v: &Value) -> Value {
        // Parsed and its signer recovered once: the answer and the log use both.
        let (response, signer) = match serde_json::from_value::<Body>(v.clone()) {
            Err(e) => (
                err(format!("Failed to deserialize the JSON body into the target type: {e}")),
                None,
            ),
            Ok(body) => match self.signer(&body) {
                Err(e) => (err(e), None),
                Ok(signer) => (self.act(&body, signer), Some(signer)),
            },
        };
        let mut st = self.lock();
        crate::venue::simkit::remember(
            &mut st.actions,
            ReceivedAction {
                body: v.clone(),
                signer,
                response: response.clone(),
            },
        );
        response
    }

    fn act(&self, body: &Body, signer: Address) -> Value {
        let mut st = self.lock();
        let master = st.agents.get(&signer).copied().unwrap_or(signer);
        if !st.accounts.contains(&master) {
            return err(format!("User or API Wallet {signer:#x} does not exist."));
        }
        if !st.nonces.insert((signer, body.nonce)) {
            return err("Invalid nonce: duplicate nonce".into());
        }
        if let Some(t) = body.expires_after {
            if (crate::clock::now().0.max(0) as u64) > t {
                return err(format!("Action expired: expiresAfter {t} has passed."));
            }
        }
        let account = match &body.vault_address {
            None => master,
            Some(v) => match v.parse::<Address>() {
                Ok(a) if st.subs.get(&a) == Some(&master) => a,
                // The signer's master does not own it.
                _ => return err(format!("User or API Wallet {signer:#x} does not exist.")),
            },
        };
        match &body.action {
            Action::ScheduleCancel(_) => json!({"status": "ok", "response": {"type": "default"}}),
            Action::Order(o) => {
                let statuses: Vec<Value> = o.orders.iter().map(|w| Self::order(&mut st, account, w)).collect();
                Self::push(&mut st, account);
                json!({"status": "ok", "response": {"type": "order", "data": {"statuses": statuses}}})
            }
        }
    }

    /// One order of the batch, kept for `orderStatus` with its final status.
    fn order(st: &mut State, account: Address, w: &sign::OrderWire) -> Value {
        let answer = Self::match_order(st, account, w);
        let status = match answer.get("error").and_then(Value::as_str) {
            None => "filled",
            Some(e) if e.starts_with("Reduce only") => "reduceOnlyRejected",
            Some(e) if e.starts_with("Order could not immediately match") => "iocCancelRejected",
            Some(_) => "rejected",
        };
        let oid = match answer["filled"]["oid"].as_u64() {
            Some(oid) => oid,
            None => {
                st.next_oid += 1;
                st.next_oid
            }
        };
        let coin = Self::universe(st).nth(w.a as usize).map_or("?", |u| u.0).to_owned();
        crate::venue::simkit::remember(
            &mut st.orders,
            SimOrder {
                user: account,
                oid,
                cloid: w.c.clone(),
                coin,
                status,
            },
        );
        answer
    }

    /// Only reduce-only IOCs fill here.
    fn match_order(st: &mut State, account: Address, w: &sign::OrderWire) -> Value {
        let asset = w.a;
        let Some((coin, sz_decimals)) = Self::universe(st).nth(asset as usize).map(|(c, d)| (c.to_owned(), d)) else {
            return json!({"error": format!("Invalid asset. asset={asset}")});
        };
        let (Ok(px), Ok(sz)) = (w.p.parse::<Decimal>(), w.s.parse::<Decimal>()) else {
            return json!({"error": format!("Order has invalid size. asset={asset}")});
        };
        if sz.round_dp(sz_decimals) != sz {
            return json!({"error": format!("Order has invalid size. asset={asset}")});
        }
        let pos = st
            .positions
            .get(&(account, coin.to_string()))
            .copied()
            .unwrap_or(Decimal::ZERO);
        // Reduce-only orders larger than the position are rejected, not clipped.
        if !w.r || pos.is_zero() || (pos > Decimal::ZERO) == w.b || sz > pos.abs() {
            return json!({"error": format!("Reduce only order would increase position. asset={asset}")});
        }
        let mark = Self::mark(st, &coin);
        if (w.b && px < mark) || (!w.b && px > mark) {
            return json!({"error": format!(
                "Order could not immediately match against any resting orders. asset={asset}"
            )});
        }
        let fill = sz;
        let after = if w.b { pos + fill } else { pos - fill };
        st.positions.insert((account, coin.to_string()), after);
        st.next_oid += 1;
        let mut filled =
            json!({"totalSz": fill.normalize().to_string(), "avgPx": mark.to_string(), "oid": st.next_oid});
        if let Some(c) = &w.c {
            filled["cloid"] = Value::String(c.clone());
        }
        json!({ "filled": filled })
    }
}

/// `driftwatch sim --venue hyperliquid`: `/info` and `/exchange` on
/// `rest`, the stream on `ws`; `--open 0xACCOUNT:COIN:SZI`; until `until`
/// resolves.
pub async fn serve(
    rest: SocketAddr,
    ws: SocketAddr,
    open: &[String],
    until: impl std::future::Future<Output = ()>,
) -> anyhow::Result<()> {
    let (stop_tx, stop_rx) = watch::channel(false);
    let (sim, rest) = HyperliquidSim::start(Network::Mainnet, rest, stop_rx.clone()).await?;
    let ws = sim.start_ws(ws, stop_rx).await?;
    for spec in open {
        let parsed = match spec.split(':').collect::<Vec<_>>().as_slice() {
            [account, coin, szi] => account
                .parse::<Address>()
                .ok()
                .zip(szi.parse::<Decimal>().ok())
                .map(|(a, s)| (a, coin.to_string(), s)),
            _ => None,
        };
        let Some((account, coin, szi)) = parsed else {
            anyhow::bail!("--open {spec:?}: expected 0xACCOUNT:COIN:SIGNED_SIZE");
        };
        sim.open(account, &coin, szi);
    }
    println!("Simulated Hyperliquid (mainnet signing) on loopback:");
    println!("  rest_url: http://{rest}   (POST /info, POST /exchange)");
    println!("  ws_url:   ws://{ws}");
    println!("Script it with POST http://{rest}/_sim/open|mark|approve_agent|sub_account|fault (JSON).");
    until.await;
    let _ = stop_tx.send(true);
    Ok(())
}
