//! The in-process, virtual-time network emulator (see `docs/emulator.md`).
//!
//! Owns [`Emulator`]: every node of a [`Topology`] in one process, driven by one event queue
//! in virtual time. Hosts and active routers run the real node core
//! ([`ants_router::node::Node`], configured by [`Routes::node_config`]) with the real sandbox,
//! all sharing one wasmtime engine; legacy routers forward datagrams by destination node along
//! [`Routes::ip_next_hop`], and so does every other node for datagrams not addressed to it.
//! Links ([`network`]) have delay, seeded loss, bandwidth and drop-tail queues; each node-core
//! node's routing table carries the current load of the link toward each active neighbour.
//! Compilation answers each node's `Event::Compile` from a cache (one real compilation per
//! fingerprint per run) after a fixed virtual delay. Applications ([`apps`]) inject capsules
//! and receive deliveries. [`report`] turns the run into a serialisable report and tables.
//!
//! Determinism: the same topology, seed and applications give the same report, byte for byte.
//! Events are ordered by (virtual time, insertion order), losses come from per-direction
//! seeded streams ([`rng`]), compilation takes a virtual delay, and the sandbox meters CPU in
//! fuel; nothing here reads a clock, and no hash map is iterated to make a decision.
//!
//! Cost: one heap operation (O(log events)) per event, no scan over all nodes or links.
//!
//! It never reimplements node logic (it only carries datagrams and answers compilations), and
//! never opens a socket.

pub mod apps;
pub mod generate;
pub mod network;
pub mod report;
pub mod rng;

pub use apps::{
    AppContext, AppDelivery, AppError, Application, ListenApp, PingApp, PingReply, SendApp,
};
pub use network::{Datagram, DirectionStats, IP_UDP_OVERHEAD, ProtocolCount};
pub use report::EmulatorReport;

use std::cmp::Ordering;
use std::collections::{BTreeMap, BinaryHeap, HashMap};
use std::net::IpAddr;
use std::time::Duration;

use ants_router::fingerprint::Fingerprint;
use ants_router::node::{DemandLimits, Event, Node, NodeError, Transmit};
use ants_router::sandbox::{CompiledCapsule, Compiler, LoadError, Sandbox, SandboxLimits};
use ants_router::time::Timestamp;

use ants_topology::capsules::CapsuleLocator;
use ants_topology::model::{LinkId, NodeId, Topology};
use ants_topology::routes::Routes;
use apps::Modules;
use network::{Direction, Offer};
use rng::SplitMix64;

/// Virtual time one compilation takes on a node unless the file or the caller says otherwise:
/// the measured baseline (Winch) compile in a router's driver for the 12.5 KB forward capsule
/// (6.7 ms median, `docs/benchmarks.md`, "the first capsule over 4 hops per tier"). Real
/// routers compile every protocol's first code with it; the optimizing tier comes later, in
/// the background, and the emulator does not model it.
pub const DEFAULT_COMPILE_DELAY: Duration = Duration::from_millis(7);

/// Default length of the link-load measurement period.
pub const DEFAULT_LOAD_WINDOW: Duration = Duration::from_millis(100);

/// Capsule log lines kept for the report (all are counted).
pub const MAX_LOGS: usize = 200;

/// How to run a topology. `Default` runs the file's applications with its seed and settings.
#[derive(Clone, Debug)]
pub struct EmulatorOptions {
    /// Seed of the link losses; `None` takes the topology's.
    pub seed: Option<u64>,
    /// Virtual time of one compilation; `None` takes the file's, else
    /// [`DEFAULT_COMPILE_DELAY`].
    pub compile_delay: Option<Duration>,
    /// Length of the link-load measurement period: a node sees the queue now and the drops
    /// and rates of the last complete period.
    pub load_window: Duration,
    /// Sandbox limits of every node (one shared engine).
    pub sandbox: SandboxLimits,
    /// Demand-loading limits of every node-core node.
    pub demand: DemandLimits,
    /// Largest budget an arriving capsule keeps on every node; `None` takes the file's
    /// `[emulator] max_budget`, else the node default (64).
    pub max_budget: Option<u16>,
    /// Whether to start the applications the topology lists.
    pub start_apps: bool,
}

impl Default for EmulatorOptions {
    fn default() -> Self {
        EmulatorOptions {
            seed: None,
            compile_delay: None,
            load_window: DEFAULT_LOAD_WINDOW,
            // Virtual time: CPU is bounded by fuel alone, so that a run never depends on how
            // busy the machine is (the wall-clock backstop is for real routers).
            sandbox: SandboxLimits {
                max_evaluation_time: Duration::from_secs(3600),
                // One compiler, so that fuel and reports never depend on when a tier-up lands.
                tier_up_after: 0,
                ..SandboxLimits::default()
            },
            demand: DemandLimits::default(),
            max_budget: None,
            start_apps: true,
        }
    }
}

/// A node's code-request cookie key, drawn from the run's seed (streams past the links'), so
/// that runs repeat byte for byte.
fn cookie_key(seed: u64, node: NodeId) -> [u8; 32] {
    let mut rng = SplitMix64::stream(seed, u64::MAX / 2 + node as u64);
    let mut key = [0u8; 32];
    for chunk in key.chunks_mut(8) {
        chunk.copy_from_slice(&rng.next_u64().to_be_bytes());
    }
    key
}

/// Why an emulator could not be built or an application added.
#[derive(Debug, thiserror::Error)]
pub enum EmulatorError {
    /// The shared sandbox engine could not be configured.
    #[error("the sandbox engine could not be set up: {0}")]
    Sandbox(LoadError),
    /// A node core refused its configuration.
    #[error("node `{node}`: {error}")]
    Node {
        /// The node.
        node: String,
        /// Why.
        error: NodeError,
    },
    /// Applications run only on hosts and active routers.
    #[error(
        "node `{0}` runs no node core (a legacy router, or no such node): it cannot run applications"
    )]
    NoNodeCore(String),
    /// An application failed to start.
    #[error("application `{app}` on node `{node}`: {error}")]
    App {
        /// The node.
        node: String,
        /// The application's name.
        app: String,
        /// Why.
        error: Box<AppError>,
    },
}

/// Identifies an application of an emulator (in the order they were added).
pub type AppId = usize;

/// A code load a node reported (`Event::CodeLoaded`): the hop-by-hop timeline.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CodeLoad {
    /// When (virtual time).
    pub at: Timestamp,
    /// The node that loaded the code.
    pub node: NodeId,
    /// The protocol.
    pub fingerprint: Fingerprint,
    /// Where it came from: `None` if registered locally.
    pub from: Option<IpAddr>,
    /// Module size in bytes.
    pub bytes: usize,
}

/// Payloads delivered on one port of one node.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct DeliveryCount {
    /// Payloads.
    pub count: u64,
    /// Their bytes.
    pub bytes: u64,
}

/// A capsule's log line.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LogLine {
    /// When.
    pub at: Timestamp,
    /// The node.
    pub node: NodeId,
    /// The logging protocol.
    pub fingerprint: Fingerprint,
    /// Severity (`error`, `warn`, ...).
    pub level: String,
    /// The text.
    pub message: String,
}

struct AppSlot {
    /// `None` only while the application is being called.
    app: Option<Box<dyn Application>>,
}

/// One node: its core (none for legacy routers), timers, applications and IP counters.
struct EmuNode {
    core: Option<Box<Node>>,
    /// The node timer the queue holds (`poll_timeout`, never before the time it was set).
    timer: Option<Timestamp>,
    apps: Vec<AppSlot>,
    /// Port → applications listening on it (indexes into `apps`).
    ports: BTreeMap<u16, Vec<usize>>,
    /// Neighbour (sorted) → direction of the link toward it.
    toward: Vec<(NodeId, usize)>,
    /// Directions whose load some active neighbour's entry mirrors.
    feed_dirs: Vec<usize>,
    /// Feed directions whose queue changed since the last refresh.
    dirty_dirs: Vec<usize>,
    /// Measurement period of the last full refresh of the link loads.
    feed_period: Option<u64>,
    /// Datagrams forwarded at the IP level (not addressed to this node).
    ip_forwarded: u64,
    /// Datagrams dropped for want of a route or of a node at their address.
    ip_unroutable: u64,
    /// Capsule log lines.
    logs: u64,
}

/// Something that happens at a virtual time.
enum Scheduled {
    /// A datagram reaches the far end of a direction.
    Arrival { dir: usize, datagram: Datagram },
    /// A datagram's last bit leaves on a direction with a bandwidth.
    TxDone { dir: usize, datagram: Datagram },
    /// A node sent a datagram to its own address.
    Local { node: NodeId, datagram: Datagram },
    /// A node's compilation is done (after the compile delay).
    Compiled {
        node: NodeId,
        fingerprint: Fingerprint,
    },
    /// A node's own timer (stale if the node's timer moved since).
    NodeTimer { node: NodeId },
    /// An application's timer.
    AppTimer {
        node: NodeId,
        app: usize,
        token: u64,
    },
}

struct Entry {
    at: Timestamp,
    seq: u64,
    what: Scheduled,
}

impl PartialEq for Entry {
    fn eq(&self, other: &Self) -> bool {
        (self.at, self.seq) == (other.at, other.seq)
    }
}
impl Eq for Entry {}
impl PartialOrd for Entry {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}
impl Ord for Entry {
    /// Reversed, so the max-heap pops the earliest (then first scheduled) entry.
    fn cmp(&self, other: &Self) -> Ordering {
        (other.at, other.seq).cmp(&(self.at, self.seq))
    }
}

/// A topology running in virtual time. See the module docs and `docs/emulator.md`.
pub struct Emulator {
    topology: Topology,
    routes: Routes,
    locator: CapsuleLocator,
    seed: u64,
    compile_delay: Duration,
    load_window: Duration,
    now: Timestamp,
    seq: u64,
    queue: BinaryHeap<Entry>,
    events: u64,
    nodes: Vec<EmuNode>,
    /// Link directions: `2 * link` is a → b, `2 * link + 1` is b → a.
    dirs: Vec<Direction>,
    compiler: Compiler,
    compiled: HashMap<Fingerprint, Result<CompiledCapsule, LoadError>>,
    compilations: u64,
    modules: Modules,
    code_loads: Vec<CodeLoad>,
    deliveries: BTreeMap<(NodeId, u16), DeliveryCount>,
    logs: Vec<LogLine>,
    apps: Vec<(NodeId, usize)>,
}

impl Emulator {
    /// Builds every node and link of `topology` at virtual time zero and starts the
    /// applications it lists (unless `options.start_apps` is false). Capsules named by the
    /// applications are read through `capsules`; a missing one is an error.
    pub fn new(
        topology: &Topology,
        routes: &Routes,
        capsules: &CapsuleLocator,
        options: EmulatorOptions,
    ) -> Result<Emulator, EmulatorError> {
        let seed = options.seed.unwrap_or(topology.seed);
        let compile_delay = options
            .compile_delay
            .or(topology.emulator.compile_delay)
            .unwrap_or(DEFAULT_COMPILE_DELAY);
        let compiler = Sandbox::new(options.sandbox.clone())
            .map_err(EmulatorError::Sandbox)?
            .compiler();

        let mut dirs = Vec::with_capacity(topology.links.len() * 2);
        for (l, link) in topology.links.iter().enumerate() {
            for (i, (from, to)) in [(link.a, link.b), (link.b, link.a)].into_iter().enumerate() {
                let index = (2 * l + i) as u64;
                let rng = SplitMix64::stream(seed, index);
                dirs.push(Direction::new(from, to, &link.params, rng));
            }
        }

        let mut nodes = Vec::with_capacity(topology.nodes.len());
        for (id, n) in topology.nodes.iter().enumerate() {
            let core = if n.kind.runs_node_core() {
                let mut config = routes.node_config(topology, id);
                config.demand = options.demand.clone();
                config.cookie_secret = Some(cookie_key(seed, id));
                if let Some(max) = options.max_budget.or(topology.emulator.max_budget) {
                    config.max_budget = max;
                }
                let node = Node::with_compiler(config, compiler.clone()).map_err(|error| {
                    EmulatorError::Node {
                        node: n.name.clone(),
                        error,
                    }
                })?;
                Some(Box::new(node))
            } else {
                None
            };
            let mut toward: Vec<(NodeId, usize)> = topology
                .neighbours(id)
                .map(|(l, m)| (m, direction_of(topology, l, id)))
                .collect();
            toward.sort_unstable();
            nodes.push(EmuNode {
                core,
                timer: None,
                apps: Vec::new(),
                ports: BTreeMap::new(),
                toward,
                feed_dirs: Vec::new(),
                dirty_dirs: Vec::new(),
                feed_period: None,
                ip_forwarded: 0,
                ip_unroutable: 0,
                logs: 0,
            });
        }

        // Link-load feed: each active neighbour's entry mirrors the direction of the node's
        // first IP hop toward it.
        for (id, node) in nodes.iter_mut().enumerate() {
            if node.core.is_none() {
                continue;
            }
            for &m in routes.active_neighbours(id) {
                let Some(hop) = routes.ip_next_hop(id, m) else {
                    continue;
                };
                let Some(dir) = lookup_dir(&node.toward, hop) else {
                    continue;
                };
                let d = &mut dirs[dir];
                if d.feed.is_empty() {
                    node.feed_dirs.push(dir);
                }
                d.feed.push(IpAddr::V4(topology.nodes[m].address));
            }
        }

        let mut emu = Emulator {
            topology: topology.clone(),
            routes: routes.clone(),
            locator: capsules.clone(),
            seed,
            compile_delay,
            load_window: options.load_window.max(Duration::from_nanos(1)),
            now: Timestamp::ZERO,
            seq: 0,
            queue: BinaryHeap::new(),
            events: 0,
            nodes,
            dirs,
            compiler,
            compiled: HashMap::new(),
            compilations: 0,
            modules: Modules::default(),
            code_loads: Vec::new(),
            deliveries: BTreeMap::new(),
            logs: Vec::new(),
            apps: Vec::new(),
        };
        for id in 0..emu.nodes.len() {
            emu.refresh_loads(id);
        }
        if options.start_apps {
            for spec in &topology.apps {
                let app = apps::builtin(spec, topology);
                emu.add_app(spec.node(), app)?;
            }
        }
        Ok(emu)
    }

    /// Adds an application on `node` (a host or active router) and starts it now.
    pub fn add_app(
        &mut self,
        node: NodeId,
        app: Box<dyn Application>,
    ) -> Result<AppId, EmulatorError> {
        let node_name = self
            .topology
            .nodes
            .get(node)
            .map_or_else(|| format!("#{node}"), |n| n.name.clone());
        if self.nodes.get(node).is_none_or(|n| n.core.is_none()) {
            return Err(EmulatorError::NoNodeCore(node_name));
        }
        let app_name = app.name();
        let index = self.nodes[node].apps.len();
        self.nodes[node].apps.push(AppSlot { app: Some(app) });
        match self.with_app(node, index, |app, ctx| app.start(ctx)) {
            Some(Ok(())) => {}
            Some(Err(error)) => {
                // Whatever it registered or sent stays; the application itself goes, leaving
                // its slot empty so timers it set find nothing.
                self.nodes[node].apps[index].app = None;
                for listeners in self.nodes[node].ports.values_mut() {
                    listeners.retain(|&i| i != index);
                }
                self.drain(node);
                return Err(EmulatorError::App {
                    node: node_name,
                    app: app_name,
                    error: Box::new(error),
                });
            }
            None => unreachable!("the application was just added"),
        }
        self.drain(node);
        self.apps.push((node, index));
        Ok(self.apps.len() - 1)
    }

    /// Runs every event up to and including `until`, then sets the clock to `until`.
    pub fn run_until(&mut self, until: Timestamp) {
        while let Some(at) = self.next_time() {
            if at > until {
                break;
            }
            self.step();
        }
        self.now = self.now.max(until);
    }

    /// Runs for `d` of virtual time from now.
    pub fn run_for(&mut self, d: Duration) {
        self.run_until(self.now + d);
    }

    /// Runs until nothing is left to do (no datagram in flight, no timer armed), but not past
    /// `limit`. Returns true if the network went idle; the clock then stays at the last event.
    pub fn run_until_idle(&mut self, limit: Timestamp) -> bool {
        loop {
            match self.next_time() {
                None => return true,
                Some(at) if at > limit => {
                    self.now = self.now.max(limit);
                    return false;
                }
                Some(_) => self.step(),
            }
        }
    }

    /// Virtual time now.
    pub fn now(&self) -> Timestamp {
        self.now
    }

    /// The seed of the link losses.
    pub fn seed(&self) -> u64 {
        self.seed
    }

    /// Virtual time of one compilation.
    pub fn compile_delay(&self) -> Duration {
        self.compile_delay
    }

    /// Length of the link-load measurement period.
    pub fn load_window(&self) -> Duration {
        self.load_window
    }

    /// Events processed so far (datagram arrivals and departures, compilations, timers).
    pub fn events(&self) -> u64 {
        self.events
    }

    /// Real compilations so far (one per fingerprint).
    pub fn compilations(&self) -> u64 {
        self.compilations
    }

    /// The network being emulated.
    pub fn topology(&self) -> &Topology {
        &self.topology
    }

    /// Its routes.
    pub fn routes(&self) -> &Routes {
        &self.routes
    }

    /// The node core of `node` (`None` for legacy routers).
    pub fn node(&self, node: NodeId) -> Option<&Node> {
        self.nodes.get(node)?.core.as_deref()
    }

    /// Datagrams `node` forwarded at the IP level (for legacy routers, all they did).
    pub fn ip_forwarded(&self, node: NodeId) -> u64 {
        self.nodes.get(node).map_or(0, |n| n.ip_forwarded)
    }

    /// Datagrams dropped at `node` for want of a route or of a node at their address.
    pub fn ip_unroutable(&self, node: NodeId) -> u64 {
        self.nodes.get(node).map_or(0, |n| n.ip_unroutable)
    }

    /// Counters of both directions of `link`: `[a → b, b → a]`.
    pub fn link_stats(&self, link: LinkId) -> Option<[&DirectionStats; 2]> {
        Some([
            &self.dirs.get(2 * link)?.stats,
            &self.dirs.get(2 * link + 1)?.stats,
        ])
    }

    /// Datagrams waiting now in the queue of `link` in the direction leaving `from`.
    pub fn queue_len(&self, link: LinkId, from: NodeId) -> Option<usize> {
        let l = self.topology.links.get(link)?;
        if from != l.a && from != l.b {
            return None;
        }
        Some(self.dirs[direction_of(&self.topology, link, from)].queue_len())
    }

    /// Payloads delivered on `port` at `node` (with or without an application listening).
    pub fn deliveries(&self, node: NodeId, port: u16) -> DeliveryCount {
        self.deliveries
            .get(&(node, port))
            .copied()
            .unwrap_or_default()
    }

    /// Every code load so far, in time order: the hop-by-hop timeline.
    pub fn code_loads(&self) -> &[CodeLoad] {
        &self.code_loads
    }

    /// The first [`MAX_LOGS`] capsule log lines.
    pub fn logs(&self) -> &[LogLine] {
        &self.logs
    }

    /// Applications added so far, as (node, name).
    pub fn apps(&self) -> Vec<(NodeId, String)> {
        self.apps
            .iter()
            .map(|&(n, i)| (n, self.app_ref(n, i).map_or_else(String::new, |a| a.name())))
            .collect()
    }

    /// The report of application `id`.
    pub fn app_report(&self, id: AppId) -> Option<serde_json::Value> {
        let &(n, i) = self.apps.get(id)?;
        self.app_ref(n, i).map(|a| a.report())
    }

    fn app_ref(&self, node: NodeId, index: usize) -> Option<&dyn Application> {
        self.nodes.get(node)?.apps.get(index)?.app.as_deref()
    }

    /// The fingerprint of a protocol registered under `label` (a capsule name such as `ping`).
    pub fn fingerprint(&self, label: &str) -> Option<Fingerprint> {
        self.modules
            .labels
            .iter()
            .find(|(_, l)| l.as_str() == label)
            .map(|(f, _)| *f)
    }

    /// The label of a protocol: its capsule name if registered by name, else a short hex form.
    pub fn label(&self, fingerprint: &Fingerprint) -> String {
        self.modules.label(fingerprint)
    }

    /// Packets per link for a picture: every datagram with `None`, or the capsule frames of
    /// one protocol (copies of that protocol's capsules on each link).
    pub fn traffic(&self, protocol: Option<Fingerprint>) -> ants_topology::graph::Traffic {
        let count = |d: &Direction| match &protocol {
            None => d.stats.packets,
            Some(fp) => d.stats.protocol(fp).capsules,
        };
        let per_link = (0..self.topology.links.len())
            .map(|l| [count(&self.dirs[2 * l]), count(&self.dirs[2 * l + 1])])
            .collect();
        let title = match &protocol {
            None => "datagrams per link".to_string(),
            Some(fp) => format!("{} capsules per link", self.label(fp)),
        };
        ants_topology::graph::Traffic { title, per_link }
    }

    /// The deterministic report of the run so far.
    pub fn report(&self) -> EmulatorReport {
        report::build(self)
    }

    /// The report as text tables (see [`EmulatorReport::table`]).
    pub fn table(&self) -> String {
        self.report().table()
    }

    // ---- the event loop ----

    fn schedule(&mut self, at: Timestamp, what: Scheduled) {
        self.queue.push(Entry {
            at,
            seq: self.seq,
            what,
        });
        self.seq += 1;
    }

    fn period(&self) -> u64 {
        let window = u64::try_from(self.load_window.as_nanos()).unwrap_or(u64::MAX);
        self.now.as_nanos() / window.max(1)
    }

    /// Whether an entry is a node timer the node has moved or cancelled since.
    fn is_stale(&self, entry: &Entry) -> bool {
        matches!(entry.what, Scheduled::NodeTimer { node } if self.nodes[node].timer != Some(entry.at))
    }

    /// Time of the earliest live entry, discarding stale node timers on the way.
    fn next_time(&mut self) -> Option<Timestamp> {
        loop {
            let top = self.queue.peek()?;
            if !self.is_stale(top) {
                return Some(top.at);
            }
            self.queue.pop();
        }
    }

    /// Processes the earliest entry (a stale node timer is dropped without moving the clock).
    fn step(&mut self) {
        let Some(entry) = self.queue.pop() else {
            return;
        };
        if self.is_stale(&entry) {
            return;
        }
        self.now = self.now.max(entry.at);
        self.events += 1;
        match entry.what {
            Scheduled::Arrival { dir, datagram } => {
                let at = self.dirs[dir].to;
                self.arrive(at, datagram);
            }
            Scheduled::Local { node, datagram } => self.arrive(node, datagram),
            Scheduled::TxDone { dir, datagram } => {
                let (now, period) = (self.now, self.period());
                let (arrival, next) = self.dirs[dir].finish(now, period, &datagram);
                if let Some(at) = arrival {
                    self.schedule(at, Scheduled::Arrival { dir, datagram });
                }
                if let Some((done, datagram)) = next {
                    self.schedule(done, Scheduled::TxDone { dir, datagram });
                    self.mark_dirty(dir);
                }
            }
            Scheduled::Compiled { node, fingerprint } => {
                let result = self
                    .compiled
                    .get(&fingerprint)
                    .cloned()
                    .unwrap_or_else(|| Err(LoadError::Rejected("not compiled".into())));
                self.refresh_loads(node);
                let now = self.now;
                if let Some(core) = self.nodes[node].core.as_deref_mut() {
                    core.compile_done(now, fingerprint, result);
                }
                self.drain(node);
            }
            Scheduled::NodeTimer { node } => {
                self.nodes[node].timer = None;
                self.refresh_loads(node);
                let now = self.now;
                if let Some(core) = self.nodes[node].core.as_deref_mut() {
                    core.handle_timeout(now);
                }
                self.drain(node);
            }
            Scheduled::AppTimer { node, app, token } => {
                self.with_app(node, app, |a, ctx| a.on_timer(ctx, token));
                self.drain(node);
            }
        }
    }

    /// A datagram reached `at`: hand it to the node core if addressed to it, else forward it.
    fn arrive(&mut self, at: NodeId, datagram: Datagram) {
        if datagram.dst != at {
            self.nodes[at].ip_forwarded += 1;
            self.forward(at, datagram);
            return;
        }
        if self.nodes[at].core.is_none() {
            // Node cores never address a legacy router; count it rather than lose it quietly.
            self.nodes[at].ip_unroutable += 1;
            return;
        }
        self.refresh_loads(at);
        let now = self.now;
        let from = IpAddr::V4(self.topology.nodes[datagram.src].address);
        if let Some(core) = self.nodes[at].core.as_deref_mut() {
            core.handle_datagram(now, Some(from), &datagram.bytes);
            core.recycle(datagram.bytes);
        }
        self.drain(at);
    }

    /// Sends a datagram from `at` one hop along the IP shortest path to its destination.
    fn forward(&mut self, at: NodeId, datagram: Datagram) {
        let dir = self
            .routes
            .ip_next_hop(at, datagram.dst)
            .and_then(|hop| lookup_dir(&self.nodes[at].toward, hop));
        let Some(dir) = dir else {
            self.nodes[at].ip_unroutable += 1;
            return;
        };
        let period = self.period();
        match self.dirs[dir].offer(self.now, period, datagram) {
            Offer::Serialising { done, datagram } => {
                self.schedule(done, Scheduled::TxDone { dir, datagram })
            }
            Offer::Arrives { at, datagram } => {
                self.schedule(at, Scheduled::Arrival { dir, datagram })
            }
            Offer::Queued => self.mark_dirty(dir),
            Offer::QueueDrop | Offer::Lost => {}
        }
    }

    /// Notes that a direction's queue length changed, for its sending node's next refresh.
    fn mark_dirty(&mut self, dir: usize) {
        let d = &mut self.dirs[dir];
        if d.dirty || d.feed.is_empty() {
            return;
        }
        d.dirty = true;
        let from = d.from;
        self.nodes[from].dirty_dirs.push(dir);
    }

    /// Brings `node`'s link loads up to date before it runs: every feed direction when a new
    /// measurement period began, else only those whose queue changed.
    fn refresh_loads(&mut self, node: NodeId) {
        let period = self.period();
        let window = self.load_window;
        let n = &mut self.nodes[node];
        let Some(core) = n.core.as_deref_mut() else {
            return;
        };
        let full = n.feed_period != Some(period);
        if !full && n.dirty_dirs.is_empty() {
            return;
        }
        let dirs = if full { &n.feed_dirs } else { &n.dirty_dirs };
        for &d in dirs {
            let load = self.dirs[d].load(period, window);
            for &addr in &self.dirs[d].feed {
                core.routing_mut().set_link_load(addr, load);
            }
        }
        for d in n.dirty_dirs.drain(..) {
            self.dirs[d].dirty = false;
        }
        n.feed_period = Some(period);
    }

    /// Moves everything `node`'s core produced onto the network and to the applications, then
    /// re-arms its timer.
    fn drain(&mut self, node: NodeId) {
        loop {
            let mut progress = false;
            while let Some(t) = self.nodes[node]
                .core
                .as_deref_mut()
                .and_then(Node::poll_transmit)
            {
                progress = true;
                self.transmit(node, t);
            }
            while let Some(e) = self.nodes[node]
                .core
                .as_deref_mut()
                .and_then(Node::poll_event)
            {
                progress = true;
                self.node_event(node, e);
            }
            if !progress {
                break;
            }
        }
        let now = self.now;
        let n = &mut self.nodes[node];
        let wanted = n
            .core
            .as_deref()
            .and_then(Node::poll_timeout)
            .map(|t| t.max(now));
        if wanted != n.timer {
            n.timer = wanted;
            if let Some(at) = wanted {
                self.schedule(at, Scheduled::NodeTimer { node });
            }
        }
    }

    fn transmit(&mut self, node: NodeId, t: Transmit) {
        let dst = match t.to {
            IpAddr::V4(a) => self.topology.node_by_address(a),
            IpAddr::V6(_) => None,
        };
        let Some(dst) = dst else {
            self.nodes[node].ip_unroutable += 1;
            return;
        };
        let datagram = Datagram {
            src: node,
            dst,
            bytes: t.bytes,
        };
        if dst == node {
            self.schedule(self.now, Scheduled::Local { node, datagram });
        } else {
            self.forward(node, datagram);
        }
    }

    fn node_event(&mut self, node: NodeId, event: Event) {
        let now = self.now;
        match event {
            // Baseline only: the emulator turns tier-ups off (virtual time models compilation).
            Event::Compile {
                fingerprint, bytes, ..
            } => {
                if !self.compiled.contains_key(&fingerprint) {
                    let result = self.compiler.compile(fingerprint, &bytes);
                    self.compilations += 1;
                    self.compiled.insert(fingerprint, result);
                }
                self.schedule(
                    now + self.compile_delay,
                    Scheduled::Compiled { node, fingerprint },
                );
            }
            Event::Deliver {
                port,
                source,
                fingerprint,
                payload,
            } => {
                let count = self.deliveries.entry((node, port)).or_default();
                count.count += 1;
                count.bytes += payload.len() as u64;
                let Some(listeners) = self.nodes[node].ports.get(&port).cloned() else {
                    return;
                };
                let delivery = AppDelivery {
                    at: now,
                    port,
                    source,
                    fingerprint,
                    payload,
                };
                for index in listeners {
                    self.with_app(node, index, |a, ctx| a.on_delivery(ctx, &delivery));
                }
            }
            Event::CodeLoaded {
                fingerprint,
                from,
                bytes,
            } => self.code_loads.push(CodeLoad {
                at: now,
                node,
                fingerprint,
                from,
                bytes,
            }),
            Event::Log {
                fingerprint,
                level,
                message,
            } => {
                self.nodes[node].logs += 1;
                if self.logs.len() < MAX_LOGS {
                    self.logs.push(LogLine {
                        at: now,
                        node,
                        fingerprint,
                        level: format!("{level:?}").to_lowercase(),
                        message,
                    });
                }
            }
        }
    }

    /// Calls application `index` of `node` with a context; applies the timers and ports it
    /// set. The caller drains the node afterwards. `None` if there is no such application.
    fn with_app<R>(
        &mut self,
        node: NodeId,
        index: usize,
        f: impl FnOnce(&mut dyn Application, &mut AppContext<'_>) -> R,
    ) -> Option<R> {
        let n = self.nodes.get_mut(node)?;
        n.core.as_ref()?;
        let mut app = n.apps.get_mut(index)?.app.take()?;
        self.refresh_loads(node);
        let mut timers = Vec::new();
        let mut ports = Vec::new();
        let result = {
            let core = self.nodes[node].core.as_deref_mut()?;
            let mut ctx = AppContext {
                now: self.now,
                node,
                topology: &self.topology,
                core,
                modules: &mut self.modules,
                locator: &self.locator,
                timers: &mut timers,
                ports: &mut ports,
            };
            f(app.as_mut(), &mut ctx)
        };
        self.nodes[node].apps[index].app = Some(app);
        for (at, token) in timers {
            self.schedule(
                at,
                Scheduled::AppTimer {
                    node,
                    app: index,
                    token,
                },
            );
        }
        for port in ports {
            let listeners = self.nodes[node].ports.entry(port).or_default();
            if !listeners.contains(&index) {
                listeners.push(index);
            }
        }
        Some(result)
    }
}

/// The direction of `link` leaving `from`.
fn direction_of(t: &Topology, link: LinkId, from: NodeId) -> usize {
    if t.links[link].a == from {
        2 * link
    } else {
        2 * link + 1
    }
}

fn lookup_dir(toward: &[(NodeId, usize)], neighbour: NodeId) -> Option<usize> {
    toward
        .binary_search_by_key(&neighbour, |&(m, _)| m)
        .ok()
        .map(|i| toward[i].1)
}
