//! The `clearinghouseState` stream (hyperliquid.md §4.3): every frame is the
//! account's whole position set on the main dex, the first after the ack
//! is the baseline. One task per account; it reconnects with the shared
//! policy and reports [`StreamEvent`]s; it decides nothing. A connection is
//! abandoned when the subscription is not acknowledged within
//! `ack_timeout`, when nothing arrives within `silence_timeout` (pongs
//! count), when a frame cannot be read, and at `max_connection_age`. A JSON
//! `{"method":"ping"}` goes out every `ping_interval` (the venue drops a
//! connection silent for 60 s).

use std::future::Future;
use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use tokio::sync::watch;
use tokio::time::{sleep_until, Instant};
use tokio_tungstenite::tungstenite::Message;

use super::parse::{self, WsFrame};
use crate::venue::reconnect::{Reconnect, SessionEnd as End};
use crate::venue::types::{Backoff, StreamConfig, StreamEvent};

pub const PING_MESSAGE: &str = r#"{"method":"ping"}"#;

/// The subscription of `user`'s positions on the main dex.
pub fn subscribe_message(user: &str) -> String {
    serde_json::json!({
        "method": "subscribe",
        "subscription": {"type": "clearinghouseState", "user": user.to_ascii_lowercase(), "dex": ""}
    })
    .to_string()
}

pub struct StreamParams {
    pub url: String,
    /// The account (master or sub-account), never an API wallet.
    pub user: String,
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
    let mut r = Reconnect::new("hyperliquid", &params.user, &params.timing);
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
    let connect = tokio_tungstenite::connect_async(params.url.as_str());
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
    if let Err(e) = sink.send(Message::text(subscribe_message(&params.user))).await {
        return End::Failed(format!("subscribe failed: {e}"));
    }
    if !emit(StreamEvent::Connected).await {
        return End::Shutdown;
    }
    tracing::info!(user = %params.user, "Hyperliquid stream connected.");

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
                        last_frame = Instant::now();
                        continue;
                    }
                };
                last_frame = Instant::now();
                let event = match parse::ws_frame(&text) {
                    Ok(WsFrame::Subscribed) => {
                        acked = true;
                        StreamEvent::Subscribed
                    }
                    Ok(WsFrame::Alive) => StreamEvent::Alive,
                    Ok(WsFrame::Event(ev)) => {
                        backoff.reset();
                        ev
                    }
                    Ok(WsFrame::Error(e)) => {
                        tracing::warn!(user = %params.user, error = %e, "Hyperliquid stream error frame.");
                        StreamEvent::Alive
                    }
                    Err(e) => return End::Failed(format!("unparsable frame ({e})")),
                };
                if !emit(event).await {
                    return End::Shutdown;
                }
            }
            _ = sleep_until(next_ping) => {
                next_ping = Instant::now() + t.ping_interval;
                if let Err(e) = sink.send(Message::text(PING_MESSAGE)).await {
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
