//! The HTTP endpoints, served by hyper on their own task so that a stuck
//! exchange or database call never blocks a scrape:
//! - `/metrics`: Prometheus text format;
//! - `/healthz`: 200 while the process serves requests; depends on nothing
//!   outside it (an exchange outage must not restart driftwatch);
//! - `/readyz`: 200 once the config is loaded and a first reconciliation ran;
//! - `/`: the live status page (`status::html`), `/api/v1/state` its JSON twin.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use bytes::Bytes;
use http_body_util::{combinators::BoxBody, BodyExt, Full, StreamBody};
use hyper::body::Frame;
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use tokio::net::TcpListener;
use tokio::sync::watch;

use crate::metrics::Metrics;
use crate::snapshot::Snapshot;

/// What the endpoints show; written by the core, read per request.
pub struct HttpState {
    pub metrics: Arc<Metrics>,
    pub ready: AtomicBool,
    /// The latest reconciled state; the table is drawn from it per request
    /// (not per tick: at 1,000 symbols drawing costs more than reconciling).
    snapshot: Mutex<Option<Arc<Snapshot>>>,
    /// The action journal, opened on the first status request.
    journal: Option<crate::journal::Shared>,
}

impl HttpState {
    pub fn new(metrics: Arc<Metrics>) -> Arc<HttpState> {
        HttpState::with_journal(metrics, None)
    }

    /// With the journal the status page lists recent actions from.
    pub fn with_journal(metrics: Arc<Metrics>, journal: Option<crate::journal::Shared>) -> Arc<HttpState> {
        Arc::new(HttpState {
            metrics,
            ready: AtomicBool::new(false),
            snapshot: Mutex::new(None),
            journal,
        })
    }

    /// The journal's entries of the last 24 hours, newest first (at most 20);
    /// none when the journal cannot be read (the page says nothing false).
    async fn recent(&self, now: crate::domain::Timestamp) -> Vec<crate::status::Action> {
        let Some(shared) = &self.journal else {
            return Vec::new();
        };
        let Ok(journal) = shared.get().await else {
            return Vec::new();
        };
        let since = crate::domain::Timestamp(now.0 - 86_400_000);
        let entries = journal.latest(since, 20).await.unwrap_or_default();
        entries
            .iter()
            .map(|e| crate::status::Action {
                at: e.created_at.to_utc_string(),
                account: e.account.clone(),
                symbol: e.symbol.clone(),
                kind: match e.kind {
                    crate::journal::Kind::DbCorrection => "db correction",
                    crate::journal::Kind::EmergencyClose => "emergency close",
                },
                op: e.op.clone(),
                status: e.status.to_string(),
            })
            .collect()
    }

    pub fn set_snapshot(&self, snapshot: Arc<Snapshot>) {
        if let Ok(mut s) = self.snapshot.lock() {
            *s = Some(snapshot);
        }
    }
}

/// A response body: whole, or (`/metrics`) sent a piece at a time.
type Body = BoxBody<Bytes, Infallible>;

fn respond(status: StatusCode, content_type: &str, body: String) -> Response<Body> {
    with_body(status, content_type, Full::new(Bytes::from(body)).boxed())
}

fn with_body(status: StatusCode, content_type: &str, body: Body) -> Response<Body> {
    Response::builder()
        .status(status)
        .header("content-type", content_type)
        .body(body)
        .unwrap_or_else(|_| Response::new(Full::new(Bytes::new()).boxed()))
}

async fn handle(state: Arc<HttpState>, req: Request<Incoming>) -> Result<Response<Body>, Infallible> {
    let text = "text/plain; charset=utf-8";
    Ok(match req.uri().path() {
        // A piece at a time: at thousands of symbols the page is megabytes.
        "/metrics" => with_body(
            StatusCode::OK,
            "text/plain; version=0.0.4; charset=utf-8",
            StreamBody::new(futures_util::stream::iter(
                state.metrics.pages().map(|piece| Ok(Frame::data(Bytes::from(piece)))),
            ))
            .boxed(),
        ),
        "/healthz" => respond(StatusCode::OK, text, "ok\n".into()),
        "/readyz" => {
            if state.ready.load(Ordering::Relaxed) {
                respond(StatusCode::OK, text, "ready\n".into())
            } else {
                respond(
                    StatusCode::SERVICE_UNAVAILABLE,
                    text,
                    "not ready: no reconciliation yet\n".into(),
                )
            }
        }
        "/" | "/api/v1/state" => {
            let snapshot = state.snapshot.lock().ok().and_then(|s| s.clone());
            let recent = match &snapshot {
                Some(snap) => state.recent(snap.at).await,
                None => Vec::new(),
            };
            let status = crate::status::status(snapshot.as_deref(), recent);
            if req.uri().path() == "/" {
                respond(StatusCode::OK, "text/html; charset=utf-8", crate::status::html(&status))
            } else {
                respond(
                    StatusCode::OK,
                    "application/json",
                    serde_json::to_string(&status).unwrap_or_else(|_| "{}".into()),
                )
            }
        }
        _ => respond(StatusCode::NOT_FOUND, text, "not found\n".into()),
    })
}

/// Binds `addr` (port 0 picks a free one) and returns the bound address.
pub async fn bind(addr: SocketAddr) -> std::io::Result<(TcpListener, SocketAddr)> {
    let listener = TcpListener::bind(addr).await?;
    let local = listener.local_addr()?;
    Ok((listener, local))
}

/// Serves until `shutdown` turns true.
pub async fn serve(
    listener: TcpListener,
    state: Arc<HttpState>,
    mut shutdown: watch::Receiver<bool>,
) -> anyhow::Result<()> {
    loop {
        tokio::select! {
            biased;
            _ = shutdown.changed() => return Ok(()),
            accepted = listener.accept() => {
                let (stream, _) = match accepted {
                    Ok(a) => a,
                    Err(e) => {
                        tracing::warn!(error = %e, "HTTP accept failed.");
                        continue;
                    }
                };
                let state = state.clone();
                tokio::spawn(async move {
                    let svc = service_fn(move |req| handle(state.clone(), req));
                    if let Err(e) = http1::Builder::new().serve_connection(TokioIo::new(stream), svc).await {
                        tracing::debug!(error = %e, "HTTP connection ended with an error.");
                    }
                });
            }
        }
    }
}
