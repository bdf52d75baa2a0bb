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

use tokio::sync::watch;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::Message;

use super::parse::{self, WsFrame};
use crate::venue::reconnect::{Reconnect, SessionEnd as End};
use crate::venue::session::{self, NoRenewal, Plan, Read};
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
    let request = match params.url.as_str().into_client_request() {
        Ok(r) => r,
        Err(e) => return End::Failed(format!("bad WebSocket URL: {e}")),
    };
    let plan = Plan::<NoRenewal> {
        request,
        subscribe: vec![subscribe_message(&params.user)],
        acknowledged: true,
        ping: Message::text(PING_MESSAGE),
        renew: None,
        label: format!("hyperliquid {}", params.user),
        age_reason: "planned reconnect",
    };
    let user = params.user.clone();
    // This connection's frames: told as changes against its own last frame.
    let mut decoder = parse::Decoder::default();
    let read = move |text: &str| match decoder.frame(text) {
        Ok(WsFrame::Subscribed) => Read::Acked,
        Ok(WsFrame::Alive) => Read::Events {
            events: vec![StreamEvent::Alive],
            fresh: false,
        },
        Ok(WsFrame::Event(ev)) => Read::Events {
            events: vec![ev],
            fresh: true,
        },
        Ok(WsFrame::Error(e)) => {
            tracing::warn!(user = %user, error = %e, "Hyperliquid stream error frame.");
            Read::Events {
                events: vec![StreamEvent::Alive],
                fresh: false,
            }
        }
        Err(e) => Read::End(End::Failed(format!("unparsable frame ({e})"))),
    };
    session::run(plan, &params.timing, &params.resync, read, emit, shutdown, backoff).await
}
