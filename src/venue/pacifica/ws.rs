//! The `account_positions` / `account_trades` stream (pacifica.md §4).
//!
//! One task per account. It reconnects on its own with jittered exponential
//! back-off and reports everything as [`StreamEvent`]s; it decides nothing.
//! A connection is abandoned when:
//! - the position subscription is not acknowledged within `ack_timeout`
//!   (a bad subscription gets no error, only silence);
//! - no frame at all (pongs included) arrives within `silence_timeout`;
//! - a frame cannot be parsed (the view may be wrong: start over);
//! - it reaches `max_connection_age` (before the venue's 24 h cut).
//!
//! A JSON `{"method":"ping"}` goes out every `ping_interval`: the venue closes
//! clients that send nothing for 60 s, and protocol pings do not count.

use std::future::Future;
use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use tokio::sync::watch;
use tokio::time::{sleep_until, Instant};
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::Message;

use super::parse::{self, WsFrame};
use crate::secret::Secret;
use crate::venue::reconnect::{Reconnect, SessionEnd as End};
use crate::venue::types::StreamConfig;
use crate::venue::types::{Backoff, StreamEvent};

pub struct StreamParams {
    pub url: String,
    pub account: String,
    pub api_key: Option<Secret>,
    pub timing: StreamConfig,
    /// Notified to drop the connection and start over (a new snapshot).
    pub resync: std::sync::Arc<tokio::sync::Notify>,
}

/// Runs until `shutdown` turns true or `emit` reports the receiver gone.
pub async fn run<F, Fut>(params: StreamParams, mut emit: F, mut shutdown: watch::Receiver<bool>)
where
    F: FnMut(StreamEvent) -> Fut,
    Fut: Future<Output = bool>,
{
    let mut r = Reconnect::new("pacifica", &params.account, &params.timing);
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
    let mut request = match params.url.as_str().into_client_request() {
        Ok(r) => r,
        Err(e) => return End::Failed(format!("bad WebSocket URL: {e}")),
    };
    if let Some(key) = &params.api_key {
        match key.expose().parse() {
            Ok(v) => {
                request.headers_mut().insert("PF-API-KEY", v);
            }
            Err(_) => return End::Failed("API key is not a valid header value".into()),
        }
    }
    let connect = tokio_tungstenite::connect_async(request);
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
    for source in ["account_positions", "account_trades"] {
        if let Err(e) = sink
            .send(Message::text(parse::subscribe_message(source, &params.account)))
            .await
        {
            return End::Failed(format!("subscribe failed: {e}"));
        }
    }
    if !emit(StreamEvent::Connected).await {
        return End::Shutdown;
    }
    tracing::info!(account = %params.account, "Pacifica stream connected.");

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
                        // Binary, protocol ping/pong: proof of life only.
                        last_frame = Instant::now();
                        continue;
                    }
                };
                last_frame = Instant::now();
                let event = match parse::ws_frame(&text) {
                    Ok(WsFrame::SubscribeAck { source }) if source == "account_positions" => {
                        acked = true;
                        StreamEvent::Subscribed
                    }
                    Ok(WsFrame::SubscribeAck { .. }) | Ok(WsFrame::Alive) => StreamEvent::Alive,
                    Ok(WsFrame::Event(ev)) => {
                        if matches!(ev, StreamEvent::Snapshot { .. }) {
                            backoff.reset();
                        }
                        ev
                    }
                    Ok(WsFrame::Error(e)) => {
                        tracing::warn!(account = %params.account, error = %e, "Pacifica stream error frame.");
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
                if let Err(e) = sink.send(Message::text(parse::PING_MESSAGE)).await {
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
                return End::Planned("planned reconnect before the venue's 24h cut".into());
            }
        }
    }
}
