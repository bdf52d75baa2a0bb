//! What the venue simulators share. Each simulator (`venue/<name>/sim.rs`)
//! is a real server on loopback that speaks its venue's documented
//! protocol, used by `driftwatch sim`, `driftwatch demo` and the tests; they
//! are part of the product, not test doubles.

use serde::Deserialize;

/// How REST misbehaves while a fault is set.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RestFault {
    RateLimited,
    ServerError,
    Timeout,
    Garbage,
    /// `GET /positions` answers success with `data: []`, whatever is open.
    EmptyPositions,
}

/// A REST fault, for a number of requests or until cleared; the
/// simulators inject it the same way.
#[derive(Debug, Default, Clone, Copy)]
pub struct RestFaults {
    fault: Option<RestFault>,
    times: Option<u32>,
}

impl RestFaults {
    pub fn set(&mut self, fault: Option<RestFault>, times: Option<u32>) {
        self.fault = fault;
        self.times = times;
    }

    /// The fault in force, without using it up.
    pub fn peek(&self) -> Option<RestFault> {
        self.fault
    }

    /// The fault for this request, counting it.
    pub fn take(&mut self) -> Option<RestFault> {
        let fault = self.fault?;
        if let Some(n) = self.times.as_mut() {
            *n = n.saturating_sub(1);
            if *n == 0 {
                self.set(None, None);
            }
        }
        Some(fault)
    }
}

/// A request's whole body (empty if the client broke off mid-body).
pub(crate) async fn body(req: hyper::Request<hyper::body::Incoming>) -> Vec<u8> {
    use http_body_util::BodyExt;
    req.into_body()
        .collect()
        .await
        .map(|b| b.to_bytes().to_vec())
        .unwrap_or_default()
}

/// How many requests a simulator remembers: tests and benches read a few
/// hundred, and the demo runs one for as long as it is left running.
pub const REQUEST_LOG: usize = 10_000;

/// Appends `item` to a request log, dropping the older half when it is full.
pub(crate) fn remember<T>(log: &mut Vec<T>, item: T) {
    if log.len() >= REQUEST_LOG {
        log.drain(..REQUEST_LOG / 2);
    }
    log.push(item);
}

/// Accepts connections until `shutdown`, each served by its own task.
pub(crate) fn accept<F, Fut>(
    listener: tokio::net::TcpListener,
    mut shutdown: tokio::sync::watch::Receiver<bool>,
    serve: F,
) where
    F: Fn(tokio::net::TcpStream, tokio::sync::watch::Receiver<bool>) -> Fut + Send + 'static,
    Fut: std::future::Future<Output = ()> + Send + 'static,
{
    tokio::spawn(async move {
        loop {
            tokio::select! {
                biased;
                _ = shutdown.changed() => return,
                accepted = listener.accept() => {
                    let Ok((stream, _)) = accepted else { continue };
                    tokio::spawn(serve(stream, shutdown.clone()));
                }
            }
        }
    });
}

/// Serves HTTP/1 on `listener` until `shutdown`: each request is answered
/// by `handle` (the simulators' REST endpoints).
pub(crate) fn serve_http<F, Fut>(
    listener: tokio::net::TcpListener,
    shutdown: tokio::sync::watch::Receiver<bool>,
    handle: F,
) where
    F: Fn(hyper::Request<hyper::body::Incoming>) -> Fut + Clone + Send + Sync + 'static,
    Fut: std::future::Future<Output = hyper::Response<http_body_util::Full<hyper::body::Bytes>>> + Send + 'static,
{
    accept(listener, shutdown, move |stream, _| {
        let handle = handle.clone();
        async move {
            let svc = hyper::service::service_fn(move |req| {
                let reply = handle(req);
                async move { Ok::<_, std::convert::Infallible>(reply.await) }
            });
            let _ = hyper::server::conn::http1::Builder::new()
                .serve_connection(hyper_util::rt::TokioIo::new(stream), svc)
                .await;
        }
    });
}

/// When a simulator received each request and when a watched stream frame
/// left it: what the detection bench (`benches/detect.rs`) measures, from
/// the venue's side of the socket.
#[derive(Debug, Default)]
pub struct Stopwatch {
    next_frame_written: Option<tokio::time::Instant>,
    received: Vec<(String, tokio::time::Instant)>,
}

impl Stopwatch {
    /// Starts timing the next position frame.
    pub fn watch_next_frame(&mut self) {
        self.next_frame_written = None;
    }

    /// A position frame was written to a client's socket (the first since
    /// the watch began is the one timed).
    pub fn frame_written(&mut self) {
        self.next_frame_written.get_or_insert_with(tokio::time::Instant::now);
    }

    pub fn next_frame_written(&self) -> Option<tokio::time::Instant> {
        self.next_frame_written
    }

    /// A request of `kind` (the simulator's name for it) was read whole.
    pub fn received(&mut self, kind: String) {
        remember(&mut self.received, (kind, tokio::time::Instant::now()));
    }

    /// When requests of `kind` were received, oldest first.
    pub fn times(&self, kind: &str) -> Vec<tokio::time::Instant> {
        self.received
            .iter()
            .filter(|(k, _)| k == kind)
            .map(|(_, at)| *at)
            .collect()
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_request_log_is_bounded_and_keeps_the_newest() {
        let mut log = Vec::new();
        for i in 0..3 * super::REQUEST_LOG {
            super::remember(&mut log, i);
        }
        assert!(log.len() <= super::REQUEST_LOG);
        assert_eq!(log.last(), Some(&(3 * super::REQUEST_LOG - 1)));
        assert!(log.windows(2).all(|w| w[1] == w[0] + 1), "in order, no gaps");
    }
}
