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

use tokio::sync::watch;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::Message;

use super::parse::{self, WsFrame};
use crate::secret::Secret;
use crate::venue::reconnect::{Reconnect, SessionEnd as End};
use crate::venue::session::{self, NoRenewal, Plan, Read};
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
    let plan = Plan::<NoRenewal> {
        request,
        subscribe: ["account_positions", "account_trades"]
            .iter()
            .map(|source| parse::subscribe_message(source, &params.account))
            .collect(),
        acknowledged: true,
        ping: Message::text(parse::PING_MESSAGE),
        renew: None,
        label: format!("pacifica {}", params.account),
        age_reason: "planned reconnect before the venue's 24h cut",
    };
    let account = params.account.clone();
    // This connection's frames: told as changes against its own last frame.
    let mut decoder = parse::Decoder::default();
    let read = move |text: &str| match decoder.frame(text) {
        Ok(WsFrame::SubscribeAck { source }) if source == "account_positions" => Read::Acked,
        Ok(WsFrame::SubscribeAck { .. }) | Ok(WsFrame::Alive) => Read::Events {
            events: vec![StreamEvent::Alive],
            fresh: false,
        },
        Ok(WsFrame::Event(ev)) => Read::Events {
            fresh: matches!(ev, StreamEvent::Snapshot { .. } | StreamEvent::Changes { .. }),
            events: vec![ev],
        },
        Ok(WsFrame::Error(e)) => {
            tracing::warn!(account = %account, error = %e, "Pacifica stream error frame.");
            Read::Events {
                events: vec![StreamEvent::Alive],
                fresh: false,
            }
        }
        Err(e) => Read::End(End::Failed(format!("unparsable frame ({e})"))),
    };
    session::run(plan, &params.timing, &params.resync, read, emit, shutdown, backoff).await
}
