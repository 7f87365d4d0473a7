//! The blocking Rust client of the application endpoint, used by the `ants` CLI and tests.
//!
//! Owns one Unix stream connection to a daemon: it sends [`Request`]s, waits (bounded by a
//! timeout) for the reply of each, and keeps the [`Delivery`]s that arrive in between for
//! [`Client::next_delivery`]. It never spawns threads or tasks and never reads the daemon's
//! state except through the protocol.

use std::collections::VecDeque;
use std::io::{self, Read, Write};
use std::net::IpAddr;
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use super::{Delivery, ErrorReason, Request, Response, take_frame};
use ants_router::fingerprint::Fingerprint;

/// How long a request waits for its reply unless [`Client::set_reply_timeout`] says otherwise.
pub const DEFAULT_REPLY_TIMEOUT: Duration = Duration::from_secs(10);

/// Why a client call failed.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    /// The daemon's socket could not be reached.
    #[error(
        "cannot connect to the daemon at {}: {error} (is antsd running, and is this its `app_socket`?)",
        path.display()
    )]
    Connect {
        /// The socket path.
        path: PathBuf,
        /// The system's reason.
        error: io::Error,
    },
    /// Reading or writing the connection failed.
    #[error("connection to the daemon failed: {0}")]
    Io(io::Error),
    /// The daemon closed the connection.
    #[error("the daemon closed the connection")]
    Closed,
    /// No reply (or delivery) within the timeout.
    #[error("no answer from the daemon within {0:?}")]
    Timeout(Duration),
    /// The daemon sent something this client cannot decode.
    #[error("unexpected message from the daemon: {0}")]
    Protocol(String),
    /// The daemon refused the request.
    #[error("{message}")]
    Refused {
        /// Why, for programs.
        reason: ErrorReason,
        /// Why, for people.
        message: String,
    },
}

// By hand rather than `#[from]`, which would also make the error its own `source` and print
// it twice in a cause chain.
impl From<io::Error> for ClientError {
    fn from(e: io::Error) -> Self {
        ClientError::Io(e)
    }
}

/// A connection to a daemon's application socket.
pub struct Client {
    stream: UnixStream,
    buf: Vec<u8>,
    deliveries: VecDeque<Delivery>,
    reply_timeout: Duration,
}

impl Client {
    /// Connects to the daemon's application socket at `path`.
    pub fn connect(path: impl AsRef<Path>) -> Result<Client, ClientError> {
        let path = path.as_ref();
        let stream = UnixStream::connect(path).map_err(|error| ClientError::Connect {
            path: path.to_path_buf(),
            error,
        })?;
        Ok(Client {
            stream,
            buf: Vec::new(),
            deliveries: VecDeque::new(),
            reply_timeout: DEFAULT_REPLY_TIMEOUT,
        })
    }

    /// Sets how long each request waits for its reply.
    pub fn set_reply_timeout(&mut self, timeout: Duration) {
        self.reply_timeout = timeout;
    }

    /// Registers a protocol: the node pins and compiles the module. Returns its fingerprint.
    pub fn register(&mut self, module: &[u8]) -> Result<Fingerprint, ClientError> {
        match self.call(&Request::Register {
            module: module.to_vec(),
        })? {
            Response::Registered { fingerprint } => Ok(fingerprint),
            other => Err(unexpected(&other)),
        }
    }

    /// Injects a capsule of a registered protocol at the node.
    pub fn send(
        &mut self,
        fingerprint: Fingerprint,
        destination: IpAddr,
        budget: u16,
        payload: &[u8],
    ) -> Result<(), ClientError> {
        match self.call(&Request::Send {
            fingerprint,
            destination,
            budget,
            payload: payload.to_vec(),
        })? {
            Response::Sent => Ok(()),
            other => Err(unexpected(&other)),
        }
    }

    /// Binds this connection to `port`: deliveries to it arrive through
    /// [`Client::next_delivery`] until the client is dropped.
    pub fn listen(&mut self, port: u16) -> Result<(), ClientError> {
        match self.call(&Request::Listen { port })? {
            Response::Listening { port: p } if p == port => Ok(()),
            other => Err(unexpected(&other)),
        }
    }

    /// The node's status snapshot as JSON text (what `ants status --json` prints).
    pub fn status(&mut self) -> Result<String, ClientError> {
        match self.call(&Request::Status)? {
            Response::Status { json } => Ok(json),
            other => Err(unexpected(&other)),
        }
    }

    /// The next delivery on a port this connection listens on, waiting at most `timeout`
    /// (`None` waits for ever). `Ok(None)` when the time ran out.
    pub fn next_delivery(
        &mut self,
        timeout: Option<Duration>,
    ) -> Result<Option<Delivery>, ClientError> {
        if let Some(d) = self.deliveries.pop_front() {
            return Ok(Some(d));
        }
        let deadline = timeout.map(|t| Instant::now() + t);
        match self.read_message(deadline)? {
            None => Ok(None),
            Some(Response::Delivery(d)) => Ok(Some(d)),
            Some(other) => Err(unexpected(&other)),
        }
    }

    /// Sends `request` and waits for its reply, keeping deliveries that arrive first.
    fn call(&mut self, request: &Request) -> Result<Response, ClientError> {
        self.stream.write_all(&super::encode_frame(request))?;
        let deadline = Instant::now() + self.reply_timeout;
        loop {
            match self.read_message(Some(deadline))? {
                None => return Err(ClientError::Timeout(self.reply_timeout)),
                Some(Response::Delivery(d)) => self.deliveries.push_back(d),
                Some(Response::Error { reason, message }) => {
                    return Err(ClientError::Refused { reason, message });
                }
                Some(reply) => return Ok(reply),
            }
        }
    }

    /// The next message, or `None` if `deadline` passed first. A partly read frame stays in
    /// the buffer for the next call, so a timeout never desynchronises the stream.
    fn read_message(&mut self, deadline: Option<Instant>) -> Result<Option<Response>, ClientError> {
        let mut chunk = [0u8; 16 * 1024];
        loop {
            match take_frame(&mut self.buf) {
                Err(e) => return Err(ClientError::Protocol(e.to_string())),
                Ok(Some(body)) => {
                    return postcard::from_bytes(&body)
                        .map(Some)
                        .map_err(|e| ClientError::Protocol(e.to_string()));
                }
                Ok(None) => {}
            }
            let wait = match deadline {
                None => None,
                Some(d) => match d.checked_duration_since(Instant::now()) {
                    Some(left) if !left.is_zero() => Some(left),
                    _ => return Ok(None),
                },
            };
            self.stream.set_read_timeout(wait)?;
            match self.stream.read(&mut chunk) {
                Ok(0) => return Err(ClientError::Closed),
                Ok(n) => self.buf.extend_from_slice(&chunk[..n]),
                Err(e)
                    if matches!(
                        e.kind(),
                        io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
                    ) =>
                {
                    continue;
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(e.into()),
            }
        }
    }
}

fn unexpected(r: &Response) -> ClientError {
    ClientError::Protocol(format!("unexpected reply {r:?}"))
}
