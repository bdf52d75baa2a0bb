//! The user data stream (binance_usdm.md §4): a listenKey created over REST,
//! the socket on the routed `/private/ws/<listenKey>` path, positions from
//! `ACCOUNT_UPDATE` (per key; zero is closed; nothing is replayed, so the
//! core takes a REST baseline after every connect). The key is kept alive
//! every `KEEPALIVE` and the connection replaced before the venue's 24 h
//! cut; `listenKeyExpired` (the bot's DELETE can do it) drops the
//! connection and a new key is made. WebSocket ping frames go out every
//! `ping_interval` (the venue answers pong; its own pings every 3 minutes
//! are answered by the library), so a quiet account is not a silent link.
//! Liquidation, ADL and settlement orders are reported as `Dirty`. Updates
//! are ordered by their transaction time, not their arrival
//! ([`parse::EventOrder`]).

use std::future::Future;
use std::time::Duration;

use tokio::sync::watch;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::Message;

use super::http::RestClient;
use super::parse::{self, WsFrame};
use crate::venue::reconnect::{Reconnect, SessionEnd as End};
use crate::venue::session::{self, Plan, Read};
use crate::venue::types::{Backoff, StreamConfig, StreamEvent};

/// How often the listenKey is extended (the venue keeps it 60 minutes).
pub const KEEPALIVE: Duration = Duration::from_secs(30 * 60);

pub struct StreamParams {
    /// The stream base (`wss://fstream.binance.com/private`).
    pub url: String,
    pub rest: RestClient,
    pub timing: StreamConfig,
    /// Notified to drop the connection and start over.
    pub resync: std::sync::Arc<tokio::sync::Notify>,
}

/// Runs until `shutdown` turns true or `emit` reports the receiver gone.
pub async fn run<F, Fut>(params: StreamParams, mut emit: F, mut shutdown: watch::Receiver<bool>)
where
    F: FnMut(StreamEvent) -> Fut,
    Fut: Future<Output = bool>,
{
    let mut r = Reconnect::new("binance", "user data stream", &params.timing);
    while !*shutdown.borrow() {
        let end = session(&params, &mut emit, &mut shutdown, &mut r.backoff).await;
        if !r.again(end, &mut emit, &mut shutdown).await {
            return;
        }
    }
}

async fn session<F, Fut>(
    params: &StreamParams,
    emit: &mut F,
    shutdown: &mut watch::Receiver<bool>,
    backoff: &mut Backoff,
) -> End
where
    F: FnMut(StreamEvent) -> Fut,
    Fut: Future<Output = bool>,
{
    let key = match params.rest.listen_key(false).await {
        Ok(k) if !k.is_empty() => k,
        Ok(_) => return End::Failed("the venue gave no listenKey".into()),
        Err(e) => return End::Failed(format!("no listenKey: {e}")),
    };
    let url = format!("{}/ws/{key}", params.url.trim_end_matches('/'));
    let request = match url.as_str().into_client_request() {
        Ok(r) => r,
        Err(e) => return End::Failed(format!("bad WebSocket URL: {e}")),
    };
    let rest = params.rest.clone();
    let plan = Plan {
        request,
        // The key is the subscription: nothing to send or acknowledge.
        subscribe: Vec::new(),
        acknowledged: false,
        ping: Message::Ping(Vec::new().into()),
        renew: Some((KEEPALIVE, move || {
            let rest = rest.clone();
            // −1125: the key is gone; a new one, a new connection.
            async move {
                rest.listen_key(true)
                    .await
                    .map(drop)
                    .map_err(|e| format!("listenKey keep-alive failed: {e}"))
            }
        })),
        label: "binance user data".to_owned(),
        age_reason: "planned reconnect before the venue's 24h cut",
    };
    let mut order = parse::EventOrder::default();
    let read = move |text: &str| match parse::ws_frame(text) {
        Ok(WsFrame::Positions { events, at_ms }) => Read::Events {
            events: order.keep(events, at_ms),
            fresh: true,
        },
        Ok(WsFrame::Unexplained { symbol, cause }) => Read::Events {
            events: vec![StreamEvent::Dirty {
                symbols: vec![symbol],
                cause,
            }],
            fresh: false,
        },
        Ok(WsFrame::ListenKeyExpired) => Read::End(End::Planned("listenKey expired".into())),
        Ok(WsFrame::Alive) => Read::Events {
            events: vec![StreamEvent::Alive],
            fresh: false,
        },
        Err(e) => Read::End(End::Failed(format!("unparsable frame ({e})"))),
    };
    session::run(plan, &params.timing, &params.resync, read, emit, shutdown, backoff).await
}
