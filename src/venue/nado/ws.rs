//! The subscriptions WebSocket (`{gw}/subscribe`, nado.md §4):
//! `position_change` for one subaccount (it fires on liquidations too).
//!
//! The venue refuses clients that do not negotiate permessage-deflate
//! (error 2080) and tokio-tungstenite cannot, so this socket is `yawc`
//! (RFC 7692); see ARCHITECTURE.md. Otherwise the task has the Pacifica
//! stream's shape: it reconnects with jittered back-off, reports
//! [`StreamEvent`]s and decides nothing.
//!
//! - It waits for the product table (the `symbols` query) before
//!   subscribing: a `position_change` is only meaningful with a name.
//! - `Connected` is reported when the subscription is acknowledged, so the
//!   REST read that every connect triggers (the baseline: nothing is
//!   replayed) is taken while the subscription is already live.
//! - A WebSocket ping frame goes out every `ping_interval` (the venue asks
//!   for one at least every 30 s); any frame, pongs included, is proof of
//!   life, and `silence_timeout` without one abandons the connection.

use std::future::Future;
use std::sync::{Arc, RwLock};
use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use tokio::sync::watch;
use tokio::time::{sleep_until, Instant};
use yawc::{Frame, OpCode, Options, WebSocket};

use super::parse::{self, Products, WsFrame};
use crate::venue::reconnect::{Reconnect, SessionEnd as End};
use crate::venue::types::StreamConfig;
use crate::venue::types::{Backoff, StreamEvent};

pub struct StreamParams {
    pub url: String,
    /// `0x` + 64 lowercase hex.
    pub subaccount: String,
    pub timing: StreamConfig,
    /// Shared with the REST client, which loads and refreshes it.
    pub products: Arc<RwLock<Arc<Products>>>,
    /// Notified to drop the connection and start over.
    pub resync: Arc<tokio::sync::Notify>,
}

/// The subscribe control frame: positions of the subaccount in every
/// product (spot and quote are filtered out when parsed).
pub fn subscribe_frame(subaccount: &str) -> String {
    serde_json::json!({"method": "subscribe", "id": 1,
        "stream": {"type": "position_change", "subaccount": subaccount, "product_id": null}})
    .to_string()
}

/// Client options: permessage-deflate offered (required by the venue).
pub fn client_options() -> Options {
    Options::default()
        .with_low_latency_compression()
        .with_no_delay()
        .with_utf8()
}

/// Runs until `shutdown` turns true or `emit` reports the receiver gone.
pub async fn run<F, Fut>(params: StreamParams, mut emit: F, mut shutdown: watch::Receiver<bool>)
where
    F: FnMut(StreamEvent) -> Fut,
    Fut: Future<Output = bool>,
{
    let mut r = Reconnect::new("nado", &params.subaccount, &params.timing);
    while !*shutdown.borrow() {
        let end = session(&params, &mut emit, &mut shutdown, &mut r.backoff).await;
        if !r.again(end, &mut emit, &mut shutdown).await {
            return;
        }
    }
}

fn products_loaded(p: &RwLock<Arc<Products>>) -> bool {
    !p.read().unwrap_or_else(|e| e.into_inner()).by_id.is_empty()
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
    while !products_loaded(&params.products) {
        tokio::select! {
            biased;
            _ = shutdown.changed() => return End::Shutdown,
            _ = tokio::time::sleep(Duration::from_millis(100)) => {}
        }
    }
    let url: url::Url = match params.url.parse() {
        Ok(u) => u,
        Err(e) => return End::Failed(format!("bad WebSocket URL: {e}")),
    };
    let connect = async { WebSocket::connect(url).with_options(client_options()).await };
    let mut ws = tokio::select! {
        biased;
        _ = shutdown.changed() => return End::Shutdown,
        r = tokio::time::timeout(t.ack_timeout.max(Duration::from_secs(1)) * 2, connect) => match r {
            Ok(Ok(ws)) => ws,
            Ok(Err(e)) => return End::Failed(format!("connect failed: {e}")),
            Err(_) => return End::Failed("connect timed out".into()),
        },
    };
    if let Err(e) = ws.send(Frame::text(subscribe_frame(&params.subaccount))).await {
        return End::Failed(format!("subscribe failed: {e}"));
    }
    tracing::info!(subaccount = %params.subaccount, "Nado stream open; subscribing.");

    let opened = Instant::now();
    let mut acked = false;
    let mut last_frame = Instant::now();
    let mut next_ping = Instant::now() + t.ping_interval;
    let ack_deadline = opened + t.ack_timeout;
    let age_deadline = opened + t.max_connection_age;
    loop {
        let silence_deadline = last_frame + t.silence_timeout;
        tokio::select! {
            biased;
            _ = shutdown.changed() => {
                let _ = ws.send(Frame::close(yawc::close::CloseCode::Normal, b"")).await;
                return End::Shutdown;
            }
            frame = ws.next() => {
                let Some(frame) = frame else {
                    return End::Failed("closed by the venue".into());
                };
                last_frame = Instant::now();
                let text = match frame.opcode() {
                    OpCode::Text => frame.as_str().to_owned(),
                    OpCode::Close => {
                        let reason = frame.close_reason().ok().flatten().unwrap_or_default().to_owned();
                        return End::Failed(format!("closed by the venue: {reason}"));
                    }
                    // Pongs, pings (answered by yawc), binary: proof of life.
                    _ => {
                        if !emit(StreamEvent::Alive).await {
                            return End::Shutdown;
                        }
                        continue;
                    }
                };
                let parsed = {
                    let products = params.products.read().unwrap_or_else(|e| e.into_inner());
                    parse::ws_frame(&text, &products)
                };
                let event = match parsed {
                    Ok(WsFrame::Reply { id: Some(1) }) if !acked => {
                        acked = true;
                        backoff.reset();
                        tracing::info!(subaccount = %params.subaccount, "Nado stream subscribed; reading REST for the baseline.");
                        if !emit(StreamEvent::Connected).await {
                            return End::Shutdown;
                        }
                        StreamEvent::Subscribed
                    }
                    Ok(WsFrame::Reply { .. }) | Ok(WsFrame::Ignored) => StreamEvent::Alive,
                    Ok(WsFrame::Event(ev)) => ev,
                    Ok(WsFrame::Error { code, message }) => {
                        // 2080: the socket was not compressed; anything else refused a subscription.
                        return End::Failed(format!("venue error {}: {message}", code.map_or("?".into(), |c| c.to_string())));
                    }
                    Err(e) => return End::Failed(format!("unparsable frame ({e})")),
                };
                if !acked {
                    // Nothing counts before the subscription is live.
                    continue;
                }
                if !emit(event).await {
                    return End::Shutdown;
                }
            }
            _ = sleep_until(next_ping) => {
                next_ping = Instant::now() + t.ping_interval;
                if let Err(e) = ws.send(Frame::ping(bytes::Bytes::new())).await {
                    return End::Failed(format!("ping failed: {e}"));
                }
            }
            _ = sleep_until(ack_deadline), if !acked => {
                return End::Failed(format!("no subscription ack within {:?}", t.ack_timeout));
            }
            _ = sleep_until(silence_deadline) => {
                return End::Failed(format!("silent for {:?}", t.silence_timeout));
            }
            _ = params.resync.notified() => {
                let _ = ws.send(Frame::close(yawc::close::CloseCode::Normal, b"")).await;
                return End::Planned("resync requested".into());
            }
            _ = sleep_until(age_deadline) => {
                let _ = ws.send(Frame::close(yawc::close::CloseCode::Normal, b"")).await;
                return End::Planned("planned reconnect".into());
            }
        }
    }
}
