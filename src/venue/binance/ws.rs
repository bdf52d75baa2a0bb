//! The user data stream (binance_usdm.md §4): a listenKey created over REST,
//! the socket on the routed `/private/ws/<listenKey>` path, positions from
//! `ACCOUNT_UPDATE` (per key; zero is closed; nothing is replayed, so the
//! core takes a REST baseline after every connect). The key is kept alive
//! every `KEEPALIVE` and the connection replaced before the venue's 24 h
//! cut; `listenKeyExpired` (the bot's DELETE can do it) drops the
//! connection and a new key is made. WebSocket ping frames go out every
//! `ping_interval` (the venue answers pong; its own pings every 3 minutes
//! are answered by the library), so a quiet account is not a silent link.
//! Liquidation, ADL and settlement orders are reported as `Dirty`.

use std::future::Future;
use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use tokio::sync::watch;
use tokio::time::{sleep_until, Instant};
use tokio_tungstenite::tungstenite::Message;

use super::http::RestClient;
use super::parse::{self, WsFrame};
use crate::venue::reconnect::{Reconnect, SessionEnd as End};
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
    let t = &params.timing;
    let key = match params.rest.listen_key(false).await {
        Ok(k) if !k.is_empty() => k,
        Ok(_) => return End::Failed("the venue gave no listenKey".into()),
        Err(e) => return End::Failed(format!("no listenKey: {e}")),
    };
    let url = format!("{}/ws/{key}", params.url.trim_end_matches('/'));
    let connect = tokio_tungstenite::connect_async(url.as_str());
    let ws = tokio::select! {
        biased;
        _ = shutdown.changed() => return End::Shutdown,
        r = tokio::time::timeout(t.ack_timeout.max(Duration::from_secs(1)) * 2, connect) => match r {
            Ok(Ok((ws, _))) => ws,
            Ok(Err(e)) => return End::Failed(format!("connect failed: {e}")),
            Err(_) => return End::Failed("connect timed out".into()),
        },
    };
    let (mut sink, mut stream) = ws.split();
    // No subscription to acknowledge: the key is the subscription.
    for event in [StreamEvent::Connected, StreamEvent::Subscribed] {
        if !emit(event).await {
            return End::Shutdown;
        }
    }
    tracing::info!("Binance user data stream connected.");
    let opened = Instant::now();
    let mut last_frame = Instant::now();
    let mut next_ping = Instant::now() + t.ping_interval;
    let mut next_keepalive = Instant::now() + KEEPALIVE;
    let age_deadline = opened + t.max_connection_age;
    loop {
        let silence_deadline = last_frame + t.silence_timeout;
        tokio::select! {
            biased;
            _ = shutdown.changed() => {
                let _ = sink.send(Message::Close(None)).await;
                return End::Shutdown;
            }
            msg = stream.next() => {
                let text = match msg {
                    None => return End::Failed("closed by the venue".into()),
                    Some(Err(e)) => return End::Failed(format!("socket error: {e}")),
                    Some(Ok(Message::Text(text))) => text,
                    Some(Ok(Message::Close(frame))) => {
                        return End::Failed(format!("closed by the venue: {}", frame.map(|f| f.reason.to_string()).unwrap_or_default()))
                    }
                    Some(Ok(_)) => {
                        // Pings (answered by the library) and pongs: alive.
                        last_frame = Instant::now();
                        if !emit(StreamEvent::Alive).await {
                            return End::Shutdown;
                        }
                        continue;
                    }
                };
                last_frame = Instant::now();
                let events = match parse::ws_frame(&text) {
                    Ok(WsFrame::Positions { events, .. }) => {
                        backoff.reset();
                        events
                    }
                    Ok(WsFrame::Unexplained { symbol, cause }) => vec![StreamEvent::Dirty { symbols: vec![symbol], cause }],
                    Ok(WsFrame::ListenKeyExpired) => return End::Planned("listenKey expired".into()),
                    Ok(WsFrame::Alive) => vec![StreamEvent::Alive],
                    Err(e) => return End::Failed(format!("unparsable frame ({e})")),
                };
                for event in events {
                    if !emit(event).await {
                        return End::Shutdown;
                    }
                }
            }
            _ = sleep_until(next_ping) => {
                next_ping = Instant::now() + t.ping_interval;
                if let Err(e) = sink.send(Message::Ping(Vec::new().into())).await {
                    return End::Failed(format!("ping failed: {e}"));
                }
            }
            _ = sleep_until(next_keepalive) => {
                next_keepalive = Instant::now() + KEEPALIVE;
                match params.rest.listen_key(true).await {
                    Ok(_) => {}
                    // −1125: the key is gone; a new one, a new connection.
                    Err(e) => return End::Failed(format!("listenKey keep-alive failed: {e}")),
                }
            }
            _ = sleep_until(silence_deadline) => {
                return End::Failed(format!("silent for {:?}", t.silence_timeout));
            }
            _ = params.resync.notified() => {
                let _ = sink.send(Message::Close(None)).await;
                return End::Planned("resync requested".into());
            }
            _ = sleep_until(age_deadline) => {
                let _ = sink.send(Message::Close(None)).await;
                return End::Planned("planned reconnect".into());
            }
        }
    }
}
