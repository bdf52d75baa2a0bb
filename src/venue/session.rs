//! One connection of a stream task over tokio-tungstenite, the same for
//! every venue that uses it (Pacifica, Hyperliquid, Binance): connect within
//! a bound, subscribe, report `Connected`, then read frames until the
//! connection must end. It ends when the subscription is not acknowledged
//! within `ack_timeout` (where the venue acknowledges one), when nothing at
//! all arrives within `silence_timeout` (pongs count), when a frame cannot
//! be read, on `resync`, and at `max_connection_age` (before the venue's
//! own cut). A ping goes out every `ping_interval`; a venue with a lease to
//! renew (Binance's listenKey) renews it on its own period. What a frame
//! means is the venue's: its `read` turns text into a [`Read`].

use std::future::Future;
use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use tokio::sync::{watch, Notify};
use tokio::time::{sleep_until, Instant};
use tokio_tungstenite::tungstenite::handshake::client::Request;
use tokio_tungstenite::tungstenite::Message;

use super::reconnect::SessionEnd as End;
use super::types::{Backoff, StreamConfig, StreamEvent};

/// What one text frame meant.
pub enum Read {
    /// Events to report; `fresh` when they carry positions (the back-off
    /// starts over once a connection delivered state).
    Events { events: Vec<StreamEvent>, fresh: bool },
    /// The position subscription is acknowledged.
    Acked,
    /// The connection must end (planned or failed).
    End(End),
}

/// How one venue's connection is opened and kept.
pub struct Plan<K> {
    pub request: Request,
    /// Text frames sent right after connecting.
    pub subscribe: Vec<String>,
    /// Whether the venue acknowledges the subscription (else `Subscribed`
    /// is reported at connect).
    pub acknowledged: bool,
    pub ping: Message,
    /// A lease renewed every period (its error ends the connection).
    pub renew: Option<(Duration, K)>,
    /// Why a connection is replaced at `max_connection_age`.
    pub age_reason: &'static str,
    /// Who the stream is for, in the log (venue and account).
    pub label: String,
}

/// Runs one connection until it must end.
pub async fn run<F, Fut, R, K, KF>(
    mut plan: Plan<K>,
    t: &StreamConfig,
    resync: &Notify,
    mut read: R,
    emit: &mut F,
    shutdown: &mut watch::Receiver<bool>,
    backoff: &mut Backoff,
) -> End
where
    F: FnMut(StreamEvent) -> Fut,
    Fut: Future<Output = bool>,
    R: FnMut(&str) -> Read,
    K: FnMut() -> KF,
    KF: Future<Output = Result<(), String>>,
{
    let connect = tokio_tungstenite::connect_async(plan.request);
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
    for text in std::mem::take(&mut plan.subscribe) {
        if let Err(e) = sink.send(Message::text(text)).await {
            return End::Failed(format!("subscribe failed: {e}"));
        }
    }
    if !emit(StreamEvent::Connected).await {
        return End::Shutdown;
    }
    if !plan.acknowledged && !emit(StreamEvent::Subscribed).await {
        return End::Shutdown;
    }
    tracing::info!(stream = %plan.label, "Stream connected.");
    let opened = Instant::now();
    let mut acked = !plan.acknowledged;
    let mut last_frame = Instant::now();
    let mut next_ping = Instant::now() + t.ping_interval;
    let renew_every = plan.renew.as_ref().map(|(every, _)| *every);
    // Without a lease, the renewal deadline never comes.
    let mut next_renew = Instant::now() + renew_every.unwrap_or(Duration::from_secs(86_400 * 365));
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
                        if !emit(StreamEvent::Alive).await {
                            return End::Shutdown;
                        }
                        continue;
                    }
                };
                last_frame = Instant::now();
                let events = match read(&text) {
                    Read::Acked => {
                        acked = true;
                        vec![StreamEvent::Subscribed]
                    }
                    Read::Events { events, fresh } => {
                        if fresh {
                            backoff.reset();
                        }
                        events
                    }
                    Read::End(end) => return end,
                };
                for event in events {
                    if !emit(event).await {
                        return End::Shutdown;
                    }
                }
            }
            _ = sleep_until(next_ping) => {
                next_ping = Instant::now() + t.ping_interval;
                if let Err(e) = sink.send(plan.ping.clone()).await {
                    return End::Failed(format!("ping failed: {e}"));
                }
            }
            _ = sleep_until(next_renew), if renew_every.is_some() => {
                next_renew = Instant::now() + renew_every.unwrap_or_default();
                if let Some((_, renew)) = plan.renew.as_mut() {
                    if let Err(e) = renew().await {
                        return End::Failed(e);
                    }
                }
            }
            _ = sleep_until(ack_deadline), if !acked => {
                return End::Failed(format!("no subscription ack within {:?}", t.ack_timeout));
            }
            _ = sleep_until(silence_deadline) => {
                return End::Failed(format!("silent for {:?}", t.silence_timeout));
            }
            _ = resync.notified() => {
                let _ = sink.send(Message::Close(None)).await;
                return End::Planned("resync requested".into());
            }
            _ = sleep_until(age_deadline) => {
                let _ = sink.send(Message::Close(None)).await;
                return End::Planned(plan.age_reason.into());
            }
        }
    }
}

/// No lease to renew.
pub type NoRenewal = fn() -> std::future::Ready<Result<(), String>>;
