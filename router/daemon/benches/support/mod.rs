//! What the benchmarks that run real routers share: a [`Driver`] on its own thread and
//! current-thread runtime, as `antsd` runs it.
//!
//! Owns [`RunningDriver`]: start from a configuration text, the bound UDP and application
//! socket addresses, and a stop bounded in time. It measures nothing itself.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

use ants_daemon::config::Config;
use ants_daemon::driver::{Control, Driver, Summary};
use tokio::sync::mpsc;

/// A running [`Driver`]. Stopped when dropped; one that does not stop within the limit given
/// to [`RunningDriver::stop`] is left to the process's exit.
pub struct RunningDriver {
    /// The bound UDP socket.
    pub addr: SocketAddr,
    /// The application socket.
    pub app: PathBuf,
    control: mpsc::Sender<Control>,
    thread: Option<JoinHandle<Summary>>,
}

/// How long dropping a driver waits for it to stop.
const DROP_LIMIT: Duration = Duration::from_secs(30);

impl RunningDriver {
    /// Parses `config` (as if read from `dir/router.toml`) and runs the driver on a thread
    /// named `name`, which first calls `enter` (CPU pinning, namespaces, priority).
    pub fn start(
        name: &str,
        config: &str,
        dir: &Path,
        enter: impl FnOnce() + Send + 'static,
    ) -> RunningDriver {
        let config = Config::parse(config, &dir.join("router.toml"))
            .unwrap_or_else(|e| panic!("bench configuration refused: {e}\n{config}"));
        let (control, controls) = mpsc::channel(4);
        let (ready, started) = std::sync::mpsc::channel();
        let thread = thread::Builder::new()
            .name(name.to_owned())
            .spawn(move || {
                enter();
                let runtime = tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                    .expect("runtime");
                let summary = runtime.block_on(async move {
                    let driver = Driver::new(config).unwrap_or_else(|e| panic!("driver: {e}"));
                    let _ = ready.send((driver.local_addr(), driver.app_socket().to_path_buf()));
                    driver.run(controls).await
                });
                runtime.shutdown_timeout(Duration::from_millis(500));
                summary
            })
            .expect("driver thread");
        let (addr, app) = started.recv().expect("driver started");
        RunningDriver {
            addr,
            app,
            control,
            thread: Some(thread),
        }
    }

    /// Stops it (what SIGTERM does to `antsd`) and returns its final counters, or none if it
    /// did not stop within `limit`.
    pub fn stop(mut self, limit: Duration) -> Option<Summary> {
        self.finish(limit)
    }

    fn finish(&mut self, limit: Duration) -> Option<Summary> {
        let thread = self.thread.take()?;
        let _ = self.control.try_send(Control::Shutdown);
        let deadline = Instant::now() + limit;
        while !thread.is_finished() {
            if Instant::now() >= deadline {
                return None;
            }
            thread::sleep(Duration::from_millis(5));
        }
        thread.join().ok()
    }
}

impl Drop for RunningDriver {
    fn drop(&mut self) {
        let _ = self.finish(DROP_LIMIT);
    }
}
