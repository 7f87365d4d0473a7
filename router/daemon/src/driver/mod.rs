//! The daemon's driver: the thin async shell that gives the sans-IO node a socket and a clock.
//!
//! Owns the I/O of one active node, as quinn's `ConnectionDriver` does for a connection: one
//! UDP socket, the monotonic clock (node time is the time since the driver started), the timer
//! the node asks for, the compile worker, the application endpoint, and the map from node
//! addresses to socket addresses. Its loop: a datagram arrives → [`Node::handle_datagram`];
//! then drain [`Node::poll_event`] (compile on the worker, hand deliveries to applications,
//! log) and [`Node::poll_transmit`] (resolve the node address, `send_to`); sleep until
//! [`Node::poll_timeout`] or the next datagram, compile result, application request or control
//! message.
//!
//! It never decides anything about capsules, code or routes: every decision is the node's.
//! Datagrams cross the socket in batches (`recvmmsg` and GRO on receive; GSO for runs of
//! equal-sized datagrams to one neighbour on send, through `quinn-udp`), and a bounded burst
//! of ready datagrams is handled before the loop looks at its other inputs.
//!
//! Every datagram to a neighbour crosses that neighbour's [`Egress`]: a meter of what is sent
//! and lost, and with a configured `rate` a pacing queue the loop drains on its timer. Before
//! each input is handed to the node, the node's neighbour table gets every link's current
//! load, which capsules read through `link_load`.

mod app_requests;
pub mod code_store;
mod compile;
pub mod egress;
pub mod on_path;
mod pcap;
mod reload;
pub mod udp;

use std::collections::HashMap;
use std::io;
use std::net::{IpAddr, SocketAddr};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use serde::Serialize;
use tokio::sync::mpsc;
use tokio::time::Instant;

use crate::app::server::{AppEvent, AppServer, ConnId};
use crate::app::{Delivery, ErrorReason, Request, Response};
pub use crate::config::DriverLimits;
use crate::config::{Config, PeerMap};
use crate::metrics::MetricsServer;
use crate::notify::Notifier;
use ants_router::fingerprint::Fingerprint;
use ants_router::node::{DropReason, Event, Node, NodeError, NodeStats, Transmit};
use ants_router::routing::RoutingTable;
use ants_router::sandbox::LogLevel;
use ants_router::time::Timestamp;
use code_store::CodeStore;
use compile::{CompileDone, CompileWorker};
use egress::{Egress, Offer};
use on_path::{CaptureStats, OnPath, OnPathError};
use pcap::PcapLog;
use udp::UdpIo;

/// Receive batches handled per wake-up before the loop flushes and looks at its other
/// inputs, so a flood of datagrams cannot starve timers, compile results or applications.
pub const RECV_BATCHES: usize = 4;
/// Time after which the loop stops taking receive batches and looks at its other inputs
/// (signals, status requests, timers), however fast datagrams arrive: evaluations are bounded
/// (`docs/node-api.md` section 6), so one batch cannot take much longer.
const RECV_TIME_SLICE: Duration = Duration::from_millis(5);

/// Why the driver could not start.
#[derive(Debug, thiserror::Error)]
pub enum DriverError {
    /// The node refused its configuration.
    #[error("the node could not be built: {0}")]
    Node(NodeError),
    /// A pinned module could not be registered.
    #[error("pinned module {} could not be registered: {error}", path.display())]
    Pin {
        /// The module file.
        path: PathBuf,
        /// The node's reason.
        error: NodeError,
    },
    /// The UDP socket could not be opened.
    #[error("cannot bind the UDP socket {addr}: {error}")]
    Udp {
        /// The configured `listen` address.
        addr: SocketAddr,
        /// The system's reason.
        error: io::Error,
    },
    /// The application socket could not be opened.
    #[error("cannot open the application socket {}: {error}", path.display())]
    App {
        /// The configured `app_socket`.
        path: PathBuf,
        /// The system's reason.
        error: io::Error,
    },
    /// The metrics endpoint could not be opened.
    #[error("cannot listen for metrics on {addr} (`metrics_listen`): {error}")]
    Metrics {
        /// The configured `metrics_listen`.
        addr: SocketAddr,
        /// The system's reason.
        error: io::Error,
    },
    /// On-path mode could not start (`mode = "on-path"`).
    #[error("on-path mode: {0}")]
    OnPath(OnPathError),
    /// The pcap file could not be created.
    #[error("cannot create the pcap file {} (`pcap`): {error}", path.display())]
    Pcap {
        /// The configured `pcap`.
        path: PathBuf,
        /// The system's reason.
        error: io::Error,
    },
}

/// A request to a running driver.
#[derive(Debug)]
pub enum Control {
    /// Apply a new, already validated configuration: peers, neighbours and routes, and
    /// register newly pinned modules. Settings that need new sockets or a new sandbox
    /// (`listen`, `app_socket`, limits) are kept, with a warning.
    Reload(Box<Config>),
    /// Stop: the loop returns its final counters.
    Shutdown,
}

/// The driver's own counters. Drops inside the node are in [`NodeStats`].
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct DriverStats {
    /// Datagrams read from the socket.
    pub datagrams_received: u64,
    /// Their bytes.
    pub bytes_received: u64,
    /// Datagrams from a socket address with no known node address (passed on with `from`
    /// unknown).
    pub unknown_senders: u64,
    /// Socket read errors.
    pub receive_errors: u64,
    /// Datagrams sent.
    pub datagrams_sent: u64,
    /// Their bytes.
    pub bytes_sent: u64,
    /// Datagrams the socket refused to send (or that the socket's address family cannot
    /// reach); each is lost.
    pub send_errors: u64,
    /// Deliveries handed to an application connection.
    pub deliveries: u64,
    /// Deliveries dropped because the listening application's queue was full.
    pub app_queue_full: u64,
    /// Compilations run on the worker.
    pub compiles: u64,
    /// Application requests answered.
    pub app_requests: u64,
    /// Application requests refused.
    pub app_refusals: u64,
    /// Configuration reloads applied.
    pub reloads: u64,
    /// Datagrams dropped at the tail of a neighbour's full egress queue (`queue`).
    pub egress_queue_drops: u64,
    /// On-path mode's capture (all zero in overlay mode).
    #[serde(flatten)]
    pub capture: CaptureStats,
}

/// Final counters, returned when the driver stops.
#[derive(Clone, Debug, Serialize)]
pub struct Summary {
    /// The node's counters.
    pub node: NodeStats,
    /// The driver's counters.
    pub driver: DriverStats,
}

/// The application connection listening on a port.
struct Listener {
    conn: ConnId,
    out: mpsc::Sender<Response>,
}

/// A running node with its socket, clock, compile worker and application endpoint.
pub struct Driver {
    node: Node,
    config: Config,
    io: UdpIo,
    peers: PeerMap,
    start: Instant,
    compile: CompileWorker,
    compiled: mpsc::UnboundedReceiver<CompileDone>,
    /// The on-disk code store, if configured and usable.
    store: Option<Arc<CodeStore>>,
    app: AppServer,
    app_events: mpsc::Receiver<AppEvent>,
    /// The Prometheus endpoint, if `metrics_listen` is set.
    metrics: Option<MetricsServer>,
    listeners: HashMap<u16, Listener>,
    pinned: Vec<Fingerprint>,
    stats: DriverStats,
    /// Reused buffer of segmented sends.
    segments: Vec<u8>,
    /// The link toward each neighbour: its meter, and its queue when it has a rate.
    egress: foldhash::HashMap<IpAddr, Egress>,
    /// The service manager's notifications (off unless [`Driver::set_notifier`] is called).
    notify: Notifier,
    /// The pcap log of every datagram sent and received, if `pcap` is set.
    pcap: Option<PcapLog>,
    /// On-path mode's taps and filters (`mode = "on-path"`); dropped last, with the driver.
    on_path: Option<OnPath>,
}

/// What woke the loop.
enum Wake {
    Control(Option<Control>),
    Readable(io::Result<()>),
    Captured(usize),
    Compiled(CompileDone),
    App(AppEvent),
    Timer,
}

impl Driver {
    /// Builds the node, binds the UDP and application sockets and registers the pinned
    /// modules (their compilation starts when [`Driver::run`] does). Must be called inside a
    /// tokio runtime.
    pub fn new(config: Config) -> Result<Driver, DriverError> {
        let start = Instant::now();
        let mut node = Node::new(config.node_config()).map_err(DriverError::Node)?;
        // A real router reports the CPU time each protocol's evaluations take.
        node.set_evaluation_timing(true);
        let io = UdpIo::bind(
            config.listen,
            config.driver.udp_recv_buffer,
            config.driver.udp_send_buffer,
        )
        .map_err(|error| DriverError::Udp {
            addr: config.listen,
            error,
        })?;
        let (recv, send) = io.buffer_sizes();
        tracing::debug!(
            recv,
            send,
            max_segments = io.max_segments(),
            "UDP socket buffers"
        );
        // Before the application socket: once it answers, capsules crossing the interfaces
        // reach this daemon and no longer the kernel's forwarding. Whatever fails later drops
        // it, which removes the filters again.
        let on_path = match &config.mode {
            crate::config::Mode::Overlay => None,
            crate::config::Mode::OnPath { interfaces } => Some(
                OnPath::start(interfaces, crate::config::DEFAULT_PORT)
                    .map_err(DriverError::OnPath)?,
            ),
        };
        let (app, app_events) = crate::app::server::bind(
            &config.app_socket,
            config.driver.app_queue,
            config.driver.max_app_connections,
        )
        .map_err(|error| DriverError::App {
            path: config.app_socket.clone(),
            error,
        })?;
        let metrics = match config.metrics_listen {
            Some(addr) => {
                let server = crate::metrics::bind(addr, app.requests())
                    .map_err(|error| DriverError::Metrics { addr, error })?;
                tracing::info!(listen = %server.local_addr(), "serving metrics at /metrics");
                Some(server)
            }
            None => None,
        };
        let pcap = match &config.pcap {
            Some(path) => {
                // This end of every datagram: the bound socket, with the node address in
                // place of an unspecified one.
                let bound = io.local_addr();
                let local = match bound.ip().is_unspecified() {
                    true => SocketAddr::new(config.address, bound.port()),
                    false => bound,
                };
                let log = PcapLog::create(path, config.pcap_max_bytes, local).map_err(|error| {
                    DriverError::Pcap {
                        path: path.clone(),
                        error,
                    }
                })?;
                tracing::info!(file = %path.display(), max_bytes = config.pcap_max_bytes,
                    "writing every datagram sent and received to a pcap file");
                Some(log)
            }
            None => None,
        };
        let store = config.driver.code_store.as_ref().and_then(|dir| {
            CodeStore::open(dir, config.driver.code_store_max_bytes)
                .map_err(|e| {
                    tracing::warn!(dir = %dir.display(),
                        "code store unavailable, compiled code stays in memory: {e}");
                })
                .ok()
                .map(Arc::new)
        });
        if let Some(store) = &store {
            let started = Instant::now();
            let mut loaded = 0;
            let mut stored = store.load_all(&node.compiler());
            // Optimized code last, so that it replaces the baseline code of the same module.
            stored.sort_by_key(|s| s.code.tier());
            for stored in stored {
                match node.preload(timestamp(start), stored.module, stored.code) {
                    Ok(_) => loaded += 1,
                    Err(e) => tracing::debug!("stored code not preloaded: {e}"),
                }
            }
            tracing::info!(
                protocols = loaded,
                ms = started.elapsed().as_secs_f64() * 1e3,
                "compiled code loaded from the code store"
            );
        }
        let (compile, compiled) = CompileWorker::new(
            node.compiler(),
            config.driver.compile_workers,
            store.clone(),
        );
        let mut pinned = Vec::new();
        let now = timestamp(start);
        for pin in &config.pins {
            let fp = node
                .register_protocol(now, pin.bytes.to_vec())
                .map_err(|error| DriverError::Pin {
                    path: pin.path.clone(),
                    error,
                })?;
            tracing::info!(fingerprint = %fp, file = %pin.path.display(), "pinned protocol");
            pinned.push(fp);
        }
        let egress = config
            .neighbours
            .iter()
            .map(|n| (n.address, Egress::new(n.shaping).toward(n.socket)))
            .collect();
        Ok(Driver {
            node,
            peers: config.peers.clone(),
            config,
            io,
            start,
            compile,
            compiled,
            store,
            app,
            app_events,
            metrics,
            listeners: HashMap::new(),
            pinned,
            stats: DriverStats::default(),
            segments: Vec::new(),
            egress,
            notify: Notifier::disabled(),
            pcap,
            on_path,
        })
    }

    /// The bound UDP socket address (useful when `listen` asked for port 0).
    pub fn local_addr(&self) -> SocketAddr {
        self.io.local_addr()
    }

    /// The application socket path.
    pub fn app_socket(&self) -> &Path {
        self.app.path()
    }

    /// Tells the service manager through `notify` that the node is ready once it runs, that
    /// it is ready again after each reload, and that it stops; and pings its watchdog from
    /// the loop, so that a loop that no longer turns stops pinging.
    pub fn set_notifier(&mut self, notify: Notifier) {
        self.notify = notify;
    }

    /// Runs until [`Control::Shutdown`] arrives or every control sender is dropped, then
    /// returns the final counters.
    pub async fn run(mut self, mut control: mpsc::Receiver<Control>) -> Summary {
        tracing::info!(
            address = %self.node.address(),
            listen = %self.io.local_addr(),
            app_socket = %self.app.path().display(),
            neighbours = self.config.neighbours.len(),
            routes = self.config.routes.len(),
            "active node running"
        );
        // Sockets are bound and pins registered (Driver::new).
        self.notify.ready();
        let ping = self.notify.watchdog_interval();
        let mut next_ping = ping.map(|p| Instant::now() + p);
        loop {
            self.flush().await;
            if let (Some(p), Some(at)) = (ping, next_ping)
                && Instant::now() >= at
            {
                self.notify.watchdog();
                next_ping = Some(Instant::now() + p);
            }
            let due = self.egress.values().filter_map(Egress::due).min();
            let deadline = match (self.node.poll_timeout(), due) {
                (Some(a), Some(b)) => Some(a.min(b)),
                (a, b) => a.or(b),
            }
            .map(|t| self.instant(t));
            let deadline = match (deadline, next_ping) {
                (Some(a), Some(b)) => Some(a.min(b)),
                (a, b) => a.or(b),
            };
            let wake = tokio::select! {
                c = control.recv() => Wake::Control(c),
                r = self.io.readable() => Wake::Readable(r),
                i = captured(self.on_path.as_mut()) => Wake::Captured(i),
                Some(d) = self.compiled.recv() => Wake::Compiled(d),
                Some(e) = self.app_events.recv() => Wake::App(e),
                _ = sleep_until(deadline), if deadline.is_some() => Wake::Timer,
            };
            self.refresh_loads();
            match wake {
                Wake::Control(None) | Wake::Control(Some(Control::Shutdown)) => break,
                Wake::Control(Some(Control::Reload(config))) => {
                    // RELOADING=1 was sent when the reload began (the file is read off this
                    // thread); ready again once it is applied.
                    self.reload(*config);
                    self.notify.ready();
                }
                Wake::Readable(r) => self.on_readable(r),
                Wake::Captured(i) => self.on_captured(i).await,
                Wake::Compiled(d) => {
                    self.stats.compiles += 1;
                    if let Err(e) = &d.result {
                        tracing::warn!(fingerprint = %d.fingerprint, reason = e.name(), "module refused: {e}");
                    }
                    let now = self.now();
                    self.node.compile_done(now, d.fingerprint, d.result);
                }
                Wake::App(e) => self.on_app(e),
                Wake::Timer => {}
            }
            let now = self.now();
            if self.node.poll_timeout().is_some_and(|t| t <= now) {
                self.node.handle_timeout(now);
            }
        }
        self.notify.stopping();
        self.flush().await;
        Summary {
            node: self.node.stats(),
            driver: self.stats.clone(),
        }
    }

    fn now(&self) -> Timestamp {
        timestamp(self.start)
    }

    /// The instant of node time `t`; far in the future for "never".
    fn instant(&self, t: Timestamp) -> Instant {
        self.start
            .checked_add(Duration::from_nanos(t.as_nanos()))
            .unwrap_or_else(|| Instant::now() + Duration::from_secs(86_400))
    }

    /// Gives the node every link's load as of now.
    fn refresh_loads(&mut self) {
        let now = self.now();
        let routing = self.node.routing_mut();
        for (address, e) in &self.egress {
            routing.set_link_load(*address, e.load(now));
        }
    }

    /// Sends what the pacing of each neighbour's queue lets leave by now.
    async fn send_due(&mut self) {
        let now = self.now();
        let due: Vec<IpAddr> = self
            .egress
            .iter()
            .filter(|(_, e)| e.due().is_some_and(|t| t <= now))
            .map(|(a, _)| *a)
            .collect();
        for to in due {
            while let Some(bytes) = self.egress.get_mut(&to).and_then(|e| e.pop_due(now)) {
                let size = bytes.len();
                self.transmit(to, &bytes, size, 1).await;
            }
        }
    }

    /// Hands every datagram already waiting (up to a few batches) to the node.
    fn on_readable(&mut self, ready: io::Result<()>) {
        if let Err(e) = ready {
            self.stats.receive_errors += 1;
            tracing::debug!("UDP socket error: {e}");
            return;
        }
        let Driver {
            io,
            node,
            peers,
            stats,
            start,
            pcap,
            ..
        } = self;
        let slice = std::time::Instant::now();
        for _ in 0..RECV_BATCHES {
            if slice.elapsed() >= RECV_TIME_SLICE {
                return;
            }
            let now = timestamp(*start);
            let received = io.try_recv(|from, bytes| {
                stats.datagrams_received += 1;
                stats.bytes_received += bytes.len() as u64;
                let sender = peers.node_for(from);
                if sender.is_none() {
                    stats.unknown_senders += 1;
                }
                if let Some(pcap) = pcap.as_mut() {
                    pcap.received(from, bytes);
                }
                node.handle_datagram(now, sender, bytes);
            });
            match received {
                Ok(_) => {}
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return,
                Err(e) => {
                    stats.receive_errors += 1;
                    tracing::debug!("UDP receive error: {e}");
                }
            }
        }
    }

    /// Hands the capsule-port datagrams waiting on tap `i` (on-path mode) to the node, each
    /// from its IP source as a datagram on the UDP socket would be.
    async fn on_captured(&mut self, i: usize) {
        let Driver {
            node,
            peers,
            stats,
            start,
            pcap,
            on_path,
            ..
        } = self;
        let Some(on_path) = on_path.as_mut() else {
            return;
        };
        let now = timestamp(*start);
        on_path
            .drain(i, |from, bytes| {
                // A node with a configured socket is named by it; anyone else by its IP
                // source (the previous hop of a capsule is the node that sent it).
                let sender = peers.node_for(from).unwrap_or(from.ip());
                if let Some(pcap) = pcap.as_mut() {
                    pcap.received(from, bytes);
                }
                node.handle_datagram(now, Some(sender), bytes);
            })
            .await;
        stats.capture = on_path.stats.clone();
    }

    /// Drains the node's events and transmits until both are empty. Consecutive datagrams to
    /// the same node of the same size (the last of a run may be shorter) go out in one
    /// segmented send.
    async fn flush(&mut self) {
        let mut next: Option<Transmit> = None;
        self.send_due().await;
        let mut segments = std::mem::take(&mut self.segments);
        loop {
            while let Some(event) = self.node.poll_event() {
                self.on_event(event);
            }
            let Some(first) = next.take().or_else(|| self.node.poll_transmit()) else {
                break;
            };
            let (to, size) = (first.to, first.bytes.len());
            // A neighbour with a rate: one at a time, through its queue. The clock is read only
            // for those: this loop runs for every datagram the router sends.
            let start = self.start;
            if let Some(e) = self.egress.get_mut(&to).filter(|e| e.shaping().is_some()) {
                match e.offer(timestamp(start), &first.bytes) {
                    Offer::Send => self.transmit(to, &first.bytes, size, 1).await,
                    Offer::Queued => {}
                    Offer::Dropped => self.stats.egress_queue_drops += 1,
                }
                self.node.recycle(first.bytes);
                continue;
            }
            segments.clear();
            segments.extend_from_slice(&first.bytes);
            // Copied: the frame's buffer goes back to the node for its next frame.
            self.node.recycle(first.bytes);
            let mut count = 1u64;
            let (max, max_bytes) = (self.io.max_segments(), self.io.max_segmented_bytes());
            while size > 0 && count < max as u64 && segments.len() + size <= max_bytes {
                let Some(t) = self.node.poll_transmit() else {
                    break;
                };
                if t.to != to || t.bytes.is_empty() || t.bytes.len() > size {
                    next = Some(t);
                    break;
                }
                segments.extend_from_slice(&t.bytes);
                count += 1;
                let last = t.bytes.len() < size;
                self.node.recycle(t.bytes);
                if last {
                    break;
                }
            }
            self.transmit(to, &segments, size, count).await;
        }
        self.segments = segments;
    }

    /// Sends `count` datagrams of `size` bytes (the last may be shorter), back to back in
    /// `bytes`, to node `to`.
    async fn transmit(&mut self, to: IpAddr, bytes: &[u8], size: usize, count: u64) {
        let socket = self.peers.socket_for(to);
        let now = self.now();
        let link = self.egress.get_mut(&to);
        let Some(dst) = udp::adapt(self.io.local_addr(), socket) else {
            self.stats.send_errors += count;
            if let Some(e) = link {
                e.send_failed(now, count);
            }
            tracing::debug!(node = %to, %socket, "cannot reach this address family from {}", self.io.local_addr());
            return;
        };
        let segment_size = (count > 1).then_some(size);
        match self.io.send(dst, bytes, segment_size).await {
            Ok(()) => {
                if let Some(pcap) = self.pcap.as_mut() {
                    for datagram in bytes.chunks(size.max(1)) {
                        pcap.sent(dst, datagram);
                    }
                }
                self.stats.datagrams_sent += count;
                self.stats.bytes_sent += bytes.len() as u64;
                if let Some(e) = self.egress.get_mut(&to) {
                    e.sent(now, count, bytes.len() as u64);
                }
            }
            Err(e) => {
                self.stats.send_errors += count;
                if let Some(link) = self.egress.get_mut(&to) {
                    link.send_failed(now, count);
                }
                tracing::debug!(node = %to, socket = %dst, "UDP send failed: {e}");
            }
        }
    }

    fn on_event(&mut self, event: Event) {
        match event {
            Event::Compile {
                fingerprint,
                bytes,
                tier,
            } => {
                tracing::debug!(%fingerprint, bytes = bytes.len(), tier = tier.name(), "compiling");
                self.compile.submit(fingerprint, bytes, tier);
            }
            Event::Deliver {
                port,
                source,
                fingerprint,
                payload,
            } => self.deliver(Delivery {
                port,
                source,
                fingerprint,
                payload,
            }),
            Event::CodeLoaded {
                fingerprint,
                from,
                bytes,
            } => match from {
                Some(from) => {
                    tracing::info!(%fingerprint, %from, bytes, "code loaded on demand")
                }
                None => tracing::info!(%fingerprint, bytes, "registered protocol ready"),
            },
            Event::Log {
                fingerprint,
                level,
                message,
            } => match level {
                LogLevel::Error => tracing::error!(target: "capsule", %fingerprint, "{message}"),
                LogLevel::Warn => tracing::warn!(target: "capsule", %fingerprint, "{message}"),
                LogLevel::Info => tracing::info!(target: "capsule", %fingerprint, "{message}"),
                LogLevel::Debug => tracing::debug!(target: "capsule", %fingerprint, "{message}"),
                LogLevel::Trace => tracing::trace!(target: "capsule", %fingerprint, "{message}"),
            },
            Event::Neighbour { address, up: true } => {
                tracing::info!(neighbour = %address, "neighbour up: its hellos came back")
            }
            Event::Neighbour { address, up: false } => tracing::warn!(
                neighbour = %address,
                "neighbour down: no hello for {} of its hello intervals; routes avoid it",
                self.config.liveness.dead_after
            ),
        }
    }
}

/// Node time: nanoseconds since the driver started.
fn timestamp(start: Instant) -> Timestamp {
    Timestamp::from_nanos(u64::try_from(start.elapsed().as_nanos()).unwrap_or(u64::MAX))
}

/// The index of a tap with frames waiting; never, without on-path mode.
async fn captured(on_path: Option<&mut OnPath>) -> usize {
    match on_path {
        Some(o) => o.readable().await,
        None => std::future::pending().await,
    }
}

async fn sleep_until(deadline: Option<Instant>) {
    match deadline {
        Some(d) => tokio::time::sleep_until(d).await,
        None => std::future::pending().await,
    }
}
