//! Prometheus metrics: with `metrics_listen` set, `antsd` serves `GET /metrics` over HTTP/1.1
//! in the text exposition format, made from the same status document as `ants status --json`.
//!
//! Owns the endpoint and its bounds: at most [`MAX_CONNECTIONS`] scrapes at once (more wait
//! for a slot), a request head of at most [`MAX_REQUEST`] bytes read within
//! [`REQUEST_TIMEOUT`], one response per connection. It never reads the node: a scrape asks
//! the driver loop for the status exactly as an application does, so a scrape costs the loop
//! one status snapshot. Anything but `GET /metrics` is answered with an error status, counted
//! by reason (`metrics_refused` in the status, `ants_metrics_refused_total` in the metrics)
//! and logged at debug level only, so a scanner cannot fill the log.

mod render;
#[cfg(test)]
mod tests;

use std::collections::BTreeMap;
use std::io;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{Semaphore, mpsc, oneshot};
use tokio::task::JoinHandle;

pub use render::render;

use crate::app::server::AppEvent;
use crate::app::{Request, Response};

/// Scrapes served at once.
pub const MAX_CONNECTIONS: usize = 4;
/// Longest request head read (request line and headers).
pub const MAX_REQUEST: usize = 8 * 1024;
/// How long a client gets to send its request head, and the driver to answer.
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(2);

/// The listening endpoint. Dropping it stops accepting.
pub(crate) struct MetricsServer {
    accept: JoinHandle<()>,
    local: SocketAddr,
    refused: Arc<Refusals>,
}

impl MetricsServer {
    /// The address it listens on.
    pub(crate) fn local_addr(&self) -> SocketAddr {
        self.local
    }

    /// Requests refused since the start, by reason.
    pub(crate) fn refused(&self) -> BTreeMap<&'static str, u64> {
        self.refused.by_reason()
    }
}

/// Requests the endpoint refused, by reason: every refusal is counted, none logged above
/// debug level (a scanner cannot fill the log).
#[derive(Debug, Default)]
struct Refusals {
    /// Another path (404).
    not_found: AtomicU64,
    /// Another method (405).
    method_not_allowed: AtomicU64,
    /// Not an HTTP request line (400).
    bad_request: AtomicU64,
    /// A request head over [`MAX_REQUEST`] bytes (431).
    too_large: AtomicU64,
    /// No complete request head within [`REQUEST_TIMEOUT`], or the connection closed first.
    incomplete: AtomicU64,
}

impl Refusals {
    fn count(counter: &AtomicU64) {
        counter.fetch_add(1, Ordering::Relaxed);
    }

    fn by_reason(&self) -> BTreeMap<&'static str, u64> {
        [
            ("not_found", &self.not_found),
            ("method_not_allowed", &self.method_not_allowed),
            ("bad_request", &self.bad_request),
            ("too_large", &self.too_large),
            ("incomplete", &self.incomplete),
        ]
        .into_iter()
        .map(|(name, n)| (name, n.load(Ordering::Relaxed)))
        .collect()
    }
}

impl Drop for MetricsServer {
    fn drop(&mut self) {
        self.accept.abort();
    }
}

/// Binds `listen` and serves scrapes, asking the driver through `to_driver`.
pub(crate) fn bind(
    listen: SocketAddr,
    to_driver: mpsc::Sender<AppEvent>,
) -> io::Result<MetricsServer> {
    let std = std::net::TcpListener::bind(listen)?;
    std.set_nonblocking(true)?;
    let listener = TcpListener::from_std(std)?;
    let local = listener.local_addr()?;
    let refused = Arc::new(Refusals::default());
    let accept = tokio::spawn(accept_loop(
        listener,
        to_driver,
        Arc::new(Semaphore::new(MAX_CONNECTIONS)),
        refused.clone(),
    ));
    Ok(MetricsServer {
        accept,
        local,
        refused,
    })
}

async fn accept_loop(
    listener: TcpListener,
    to_driver: mpsc::Sender<AppEvent>,
    slots: Arc<Semaphore>,
    refused: Arc<Refusals>,
) {
    loop {
        let Ok(permit) = slots.clone().acquire_owned().await else {
            return;
        };
        let stream = match listener.accept().await {
            Ok((stream, _)) => stream,
            Err(e) => {
                tracing::warn!("metrics endpoint: accept failed: {e}");
                tokio::time::sleep(Duration::from_millis(100)).await;
                continue;
            }
        };
        let to_driver = to_driver.clone();
        let refused = refused.clone();
        tokio::spawn(async move {
            let _permit = permit;
            if let Err(e) = serve(stream, &to_driver, &refused).await {
                tracing::debug!("metrics endpoint: {e}");
            }
        });
    }
}

/// What a request head asks for.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Asked {
    /// `GET /metrics`.
    Metrics,
    /// Another path.
    NotFound,
    /// Another method.
    MethodNotAllowed,
    /// Not an HTTP request line.
    BadRequest,
}

/// Reads the request line of a complete request head.
pub(crate) fn parse_request(head: &[u8]) -> Asked {
    let Some(line) = head.split(|&b| b == b'\n').next() else {
        return Asked::BadRequest;
    };
    let line = String::from_utf8_lossy(line);
    let mut parts = line.trim_end().split(' ');
    let (Some(method), Some(target), Some(version)) = (parts.next(), parts.next(), parts.next())
    else {
        return Asked::BadRequest;
    };
    if !version.starts_with("HTTP/1.") || parts.next().is_some() {
        return Asked::BadRequest;
    }
    if method != "GET" {
        return Asked::MethodNotAllowed;
    }
    match target.split('?').next() {
        Some("/metrics") => Asked::Metrics,
        _ => Asked::NotFound,
    }
}

async fn serve(
    mut stream: TcpStream,
    to_driver: &mpsc::Sender<AppEvent>,
    refused: &Refusals,
) -> io::Result<()> {
    let head = match tokio::time::timeout(REQUEST_TIMEOUT, read_head(&mut stream)).await {
        Ok(Ok(head)) => head,
        Ok(Err(e)) => {
            Refusals::count(&refused.incomplete);
            return Err(e);
        }
        Err(_) => {
            Refusals::count(&refused.incomplete);
            return Err(io::Error::new(
                io::ErrorKind::TimedOut,
                "no request head in time",
            ));
        }
    };
    let refuse = |counter: &AtomicU64, status| {
        Refusals::count(counter);
        (status, String::new())
    };
    let (status, body) = match head {
        None => refuse(&refused.too_large, "431 Request Header Fields Too Large"),
        Some(head) => match parse_request(&head) {
            Asked::Metrics => match status_json(to_driver).await {
                Some(json) => match serde_json::from_str(&json) {
                    Ok(doc) => ("200 OK", render(&doc)),
                    Err(_) => ("500 Internal Server Error", String::new()),
                },
                None => ("503 Service Unavailable", String::new()),
            },
            Asked::NotFound => refuse(&refused.not_found, "404 Not Found"),
            Asked::MethodNotAllowed => {
                refuse(&refused.method_not_allowed, "405 Method Not Allowed")
            }
            Asked::BadRequest => refuse(&refused.bad_request, "400 Bad Request"),
        },
    };
    let response = format!(
        "HTTP/1.1 {status}\r\nContent-Type: text/plain; version=0.0.4; charset=utf-8\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    stream.write_all(response.as_bytes()).await?;
    stream.shutdown().await
}

/// The request head up to the blank line; `None` if it is longer than [`MAX_REQUEST`].
async fn read_head(stream: &mut TcpStream) -> io::Result<Option<Vec<u8>>> {
    let mut head = Vec::with_capacity(512);
    let mut chunk = [0u8; 1024];
    loop {
        let n = stream.read(&mut chunk).await?;
        if n == 0 {
            return Err(io::Error::new(
                io::ErrorKind::UnexpectedEof,
                "closed before the end of the request head",
            ));
        }
        head.extend_from_slice(&chunk[..n]);
        if head.windows(4).any(|w| w == b"\r\n\r\n") || head.windows(2).any(|w| w == b"\n\n") {
            return Ok(Some(head));
        }
        if head.len() > MAX_REQUEST {
            return Ok(None);
        }
    }
}

/// Asks the driver for the status document, as the application endpoint does.
async fn status_json(to_driver: &mpsc::Sender<AppEvent>) -> Option<String> {
    let (reply, answer) = oneshot::channel();
    // Deliveries never go to this pseudo-connection: it never listens on a port.
    let (out, _unused) = mpsc::channel(1);
    let call = AppEvent::Call {
        conn: METRICS_CONN,
        request: Request::Status,
        reply,
        out,
    };
    to_driver.send(call).await.ok()?;
    match tokio::time::timeout(REQUEST_TIMEOUT, answer).await {
        Ok(Ok(Response::Status { json })) => Some(json),
        _ => None,
    }
}

/// The connection id scrapes use toward the driver (application connections count up from 0).
const METRICS_CONN: u64 = u64::MAX;
