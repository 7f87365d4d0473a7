//! The server side of the application endpoint: the daemon's Unix socket and its connections.
//!
//! Owns the listening socket (stale-file handling, removal on shutdown), one task per
//! connection that decodes [`Request`]s and encodes [`Response`]s, and the bounded queue of
//! each connection. It never touches the node: every decoded request goes to the driver loop
//! as an [`AppEvent`] with a reply channel, and the driver answers it. A slow application only
//! fills its own queue; the driver never waits for it.

use std::io;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use tokio::io::{AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::unix::OwnedWriteHalf;
use tokio::net::{UnixListener, UnixStream};
use tokio::sync::{Semaphore, mpsc, oneshot};
use tokio::task::JoinHandle;

use super::{ErrorReason, MAX_FRAME, Request, Response, encode_frame};

/// Identifies one application connection for the life of the daemon.
pub(crate) type ConnId = u64;

/// What the connections tell the driver.
pub(crate) enum AppEvent {
    /// A decoded request; the driver must answer on `reply`.
    Call {
        conn: ConnId,
        request: Request,
        reply: oneshot::Sender<Response>,
        /// The connection's outgoing queue, for [`Request::Listen`]: deliveries go here.
        out: mpsc::Sender<Response>,
    },
    /// The connection closed: its ports are free again.
    Closed { conn: ConnId },
}

/// The listening application socket. Dropping it stops accepting and removes the socket file.
pub(crate) struct AppServer {
    path: PathBuf,
    accept: JoinHandle<()>,
    to_driver: mpsc::Sender<AppEvent>,
}

impl Drop for AppServer {
    fn drop(&mut self) {
        self.accept.abort();
        let _ = std::fs::remove_file(&self.path);
    }
}

impl AppServer {
    /// The socket path.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// A way to put requests before the driver as a connection would (the metrics endpoint
    /// asks for the status this way).
    pub(crate) fn requests(&self) -> mpsc::Sender<AppEvent> {
        self.to_driver.clone()
    }
}

/// Binds the application socket at `path` and starts accepting. A leftover socket file of a
/// daemon that is gone is replaced; one a live daemon answers on is an error.
pub(crate) fn bind(
    path: &Path,
    queue: usize,
    max_connections: usize,
) -> io::Result<(AppServer, mpsc::Receiver<AppEvent>)> {
    if let Ok(meta) = std::fs::symlink_metadata(path) {
        // Only a leftover socket is ever removed: a path that names a regular file, a device
        // or a directory is a configuration mistake, and deleting it as root would destroy it.
        if !std::os::unix::fs::FileTypeExt::is_socket(&meta.file_type()) {
            return Err(io::Error::new(
                io::ErrorKind::AlreadyExists,
                format!(
                    "{} exists and is not a socket: choose another `app_socket`",
                    path.display()
                ),
            ));
        }
        if std::os::unix::net::UnixStream::connect(path).is_ok() {
            return Err(io::Error::new(
                io::ErrorKind::AddrInUse,
                format!("another daemon is listening on {}", path.display()),
            ));
        }
        std::fs::remove_file(path)?;
    }
    if let Some(dir) = path.parent()
        && !dir.as_os_str().is_empty()
    {
        std::fs::create_dir_all(dir)?;
    }
    let listener = UnixListener::bind(path)?;
    let (to_driver, events) = mpsc::channel(1024);
    let accept = tokio::spawn(accept_loop(
        listener,
        to_driver.clone(),
        queue.max(1),
        Arc::new(Semaphore::new(max_connections.max(1))),
    ));
    Ok((
        AppServer {
            path: path.to_path_buf(),
            accept,
            to_driver,
        },
        events,
    ))
}

async fn accept_loop(
    listener: UnixListener,
    to_driver: mpsc::Sender<AppEvent>,
    queue: usize,
    slots: Arc<Semaphore>,
) {
    let mut next: ConnId = 0;
    loop {
        let stream = match listener.accept().await {
            Ok((stream, _)) => stream,
            Err(e) => {
                // Out of file descriptors and the like: keep serving the connections we have.
                tracing::warn!("application socket: accept failed: {e}");
                tokio::time::sleep(std::time::Duration::from_millis(100)).await;
                continue;
            }
        };
        let Ok(slot) = Arc::clone(&slots).try_acquire_owned() else {
            tracing::warn!("application socket: connection refused, too many connections");
            continue;
        };
        next += 1;
        let conn = next;
        let to_driver = to_driver.clone();
        tokio::spawn(async move {
            connection(stream, conn, to_driver, queue).await;
            drop(slot);
        });
    }
}

async fn connection(
    stream: UnixStream,
    conn: ConnId,
    to_driver: mpsc::Sender<AppEvent>,
    queue: usize,
) {
    let (read, write) = stream.into_split();
    let (out, out_rx) = mpsc::channel::<Response>(queue);
    let writer = tokio::spawn(write_loop(write, out_rx));
    let mut read = BufReader::new(read);
    while let Ok(len) = read.read_u32().await {
        let len = len as usize;
        if len > MAX_FRAME {
            let _ = out
                .send(refusal(
                    ErrorReason::Malformed,
                    format!("frame of {len} bytes exceeds the limit of {MAX_FRAME} bytes"),
                ))
                .await;
            break;
        }
        let mut body = vec![0u8; len];
        if read.read_exact(&mut body).await.is_err() {
            break;
        }
        let response = match postcard::from_bytes::<Request>(&body) {
            Err(e) => refusal(
                ErrorReason::Malformed,
                format!("cannot decode request: {e}"),
            ),
            Ok(request) => {
                let (reply, answer) = oneshot::channel();
                let call = AppEvent::Call {
                    conn,
                    request,
                    reply,
                    out: out.clone(),
                };
                let stopped =
                    || refusal(ErrorReason::ShuttingDown, "the daemon is stopping".into());
                if to_driver.send(call).await.is_err() {
                    stopped()
                } else {
                    answer.await.unwrap_or_else(|_| stopped())
                }
            }
        };
        if out.send(response).await.is_err() {
            break;
        }
    }
    let _ = to_driver.send(AppEvent::Closed { conn }).await;
    drop(out);
    // The writer ends once the driver has dropped this connection's queue (on `Closed`) and
    // everything queued is written, or when the peer stops reading.
    let _ = writer.await;
}

fn refusal(reason: ErrorReason, message: String) -> Response {
    Response::Error { reason, message }
}

async fn write_loop(mut write: OwnedWriteHalf, mut queue: mpsc::Receiver<Response>) {
    let mut buf = Vec::new();
    while let Some(first) = queue.recv().await {
        // Coalesce what is already queued into one write: deliveries come in bursts.
        buf.clear();
        buf.extend_from_slice(&encode_frame(&first));
        while buf.len() < 64 * 1024 {
            match queue.try_recv() {
                Ok(more) => buf.extend_from_slice(&encode_frame(&more)),
                Err(_) => break,
            }
        }
        if write.write_all(&buf).await.is_err() {
            return;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_path_that_is_not_a_socket_is_refused_and_kept() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("notes.txt");
        std::fs::write(&path, b"keep me").unwrap();
        let e = bind(&path, 8, 8).err().expect("refused");
        assert_eq!(e.kind(), io::ErrorKind::AlreadyExists, "{e}");
        assert_eq!(std::fs::read(&path).unwrap(), b"keep me");
    }
}
