//! The [`Emulator`] itself: building every node and link of a topology, adding applications,
//! running to a virtual time, and what a run can be asked afterwards (counters, code loads,
//! deliveries, logs, traffic, the report).
//!
//! The records a run keeps ([`CodeLoad`], [`DeliveryCount`], [`LogLine`]) live here too. The
//! event queue and what each event does are in `event_loop`. It never reads a clock or opens
//! a socket, and it never reimplements node logic.

mod event_loop;
mod events;
mod instruments;

pub use events::EventRecord;
pub use instruments::{Delivery, Sent, TraceRecord, Verdict};

use std::collections::{BTreeMap, BinaryHeap, HashMap};
use std::net::IpAddr;
use std::time::Duration;

use ants_router::fingerprint::Fingerprint;
use ants_router::node::{Node, NodeConfig};
use ants_router::sandbox::{CompileTier, CompiledCapsule, Compiler, LoadError, Sandbox};
use ants_router::time::Timestamp;

use ants_topology::capsules::CapsuleLocator;
use ants_topology::model::{LinkId, NodeId, Topology};
use ants_topology::routes::Routes;

use crate::apps::{self, Application, Modules};
use crate::network::{Direction, DirectionStats};
#[cfg(doc)]
use crate::options::MAX_LOGS;
use crate::options::{DEFAULT_COMPILE_DELAY, EmulatorError, EmulatorOptions};
use crate::report::{self, EmulatorReport};
use crate::rng::SplitMix64;
use event_loop::Entry;
use instruments::Instruments;

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

/// A node core declared a neighbour down or up again (`Event::Neighbour`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct NeighbourChange {
    /// When (virtual time).
    pub at: Timestamp,
    /// The node that noticed.
    pub node: NodeId,
    /// The neighbour's node address.
    pub neighbour: IpAddr,
    /// Whether it is up now.
    pub up: bool,
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
pub(crate) struct EmuNode {
    pub(crate) core: Option<Box<Node>>,
    /// The node timer the queue holds (`poll_timeout`, never before the time it was set).
    timer: Option<Timestamp>,
    apps: Vec<AppSlot>,
    /// Port → applications listening on it (indexes into `apps`).
    pub(crate) ports: BTreeMap<u16, Vec<usize>>,
    /// Neighbour (sorted) → direction of the link toward it.
    toward: Vec<(NodeId, usize)>,
    /// Directions whose load some active neighbour's entry mirrors.
    feed_dirs: Vec<usize>,
    /// Feed directions whose queue changed since the last refresh.
    dirty_dirs: Vec<usize>,
    /// Measurement period of the last full refresh of the link loads.
    feed_period: Option<u64>,
    /// Datagrams forwarded at the IP level (not addressed to this node).
    pub(crate) ip_forwarded: u64,
    /// Datagrams dropped for want of a route or of a node at their address.
    pub(crate) ip_unroutable: u64,
    /// Capsule log lines.
    pub(crate) logs: u64,
    /// Whether the node core is down ([`Emulator::node_down`]); IP forwarding goes on.
    pub(crate) down: bool,
    /// Datagrams addressed to the node while its core was down.
    pub(crate) down_drops: u64,
    /// Datagrams addressed to it that arrived corrupted (UDP checksum), dropped.
    pub(crate) checksum_drops: u64,
    /// Compilations asked for and not answered yet.
    compiling: u32,
    /// The most that were outstanding at once.
    most_compiling: u32,
}

/// A topology running in virtual time. See the module docs and `docs/emulator.md`.
pub struct Emulator {
    pub(crate) topology: Topology,
    routes: Routes,
    locator: CapsuleLocator,
    pub(crate) seed: u64,
    pub(crate) compile_delay: Duration,
    pub(crate) load_window: Duration,
    pub(crate) now: Timestamp,
    seq: u64,
    queue: BinaryHeap<Entry>,
    pub(crate) events: u64,
    pub(crate) nodes: Vec<EmuNode>,
    /// Link directions: `2 * link` is a → b, `2 * link + 1` is b → a.
    pub(crate) dirs: Vec<Direction>,
    compiler: Compiler,
    compiled: HashMap<(Fingerprint, CompileTier), Result<CompiledCapsule, LoadError>>,
    pub(crate) compilations: u64,
    pub(crate) modules: Modules,
    pub(crate) code_loads: Vec<CodeLoad>,
    pub(crate) deliveries: BTreeMap<(NodeId, u16), DeliveryCount>,
    pub(crate) logs: Vec<LogLine>,
    pub(crate) apps: Vec<(NodeId, usize)>,
    pub(crate) neighbour_changes: Vec<NeighbourChange>,
    /// The topology's scripted events applied so far.
    pub(crate) event_log: Vec<EventRecord>,
    options: EmulatorOptions,
    instruments: Instruments,
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
                let config = core_config(topology, routes, &options, seed, id);
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
                down: false,
                down_drops: 0,
                checksum_drops: 0,
                compiling: 0,
                most_compiling: 0,
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
            neighbour_changes: Vec::new(),
            event_log: Vec::new(),
            options: options.clone(),
            instruments: Instruments::default(),
        };
        for id in 0..emu.nodes.len() {
            emu.refresh_loads(id);
        }
        for (index, event) in topology.events.iter().enumerate() {
            emu.schedule_event(Timestamp::ZERO + event.at(), index);
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

    /// Restarts `node` with `config`: a new core with empty caches and no state, on the shared
    /// compiler, in place of the old one (returned). Datagrams and compilations already on
    /// their way reach the new core; applications on the node stay. The address must be the
    /// node's own.
    pub fn restart_node(
        &mut self,
        node: NodeId,
        config: NodeConfig,
    ) -> Result<Option<Node>, EmulatorError> {
        let Some(n) = self.topology.nodes.get(node) else {
            return Err(EmulatorError::NoNodeCore(format!("#{node}")));
        };
        if !n.kind.runs_node_core() {
            return Err(EmulatorError::NoNodeCore(n.name.clone()));
        }
        if config.address != IpAddr::V4(n.address) {
            return Err(EmulatorError::NotItsAddress {
                node: n.name.clone(),
                address: config.address,
            });
        }
        let core = Node::with_compiler(config, self.compiler.clone()).map_err(|error| {
            EmulatorError::Node {
                node: n.name.clone(),
                error,
            }
        })?;
        let slot = &mut self.nodes[node];
        let old = slot.core.replace(Box::new(core));
        slot.timer = None;
        slot.feed_period = None;
        slot.compiling = 0;
        self.refresh_loads(node);
        self.drain(node);
        Ok(old.map(|core| *core))
    }

    /// Stops `node`'s core, as when its `antsd` dies: datagrams addressed to it are dropped
    /// and counted ([`Emulator::down_drops`]), its timers and applications stop, and IP
    /// forwarding through it goes on (the kernel forwards). Its neighbours notice through
    /// missed hellos when liveness is on.
    pub fn node_down(&mut self, node: NodeId) -> Result<(), EmulatorError> {
        let name = self.node_name(node);
        let n = self
            .nodes
            .get_mut(node)
            .ok_or(EmulatorError::NoNodeCore(name.clone()))?;
        if n.core.take().is_none() {
            return Err(EmulatorError::NoNodeCore(name));
        }
        n.down = true;
        n.timer = None;
        n.compiling = 0;
        Ok(())
    }

    /// Starts `node`'s core again after [`Emulator::node_down`], empty (no code, no state),
    /// with the configuration it was built with: code loads again on demand.
    pub fn node_up(&mut self, node: NodeId) -> Result<(), EmulatorError> {
        if !self.nodes.get(node).is_some_and(|n| n.down) {
            return Err(EmulatorError::NoNodeCore(self.node_name(node)));
        }
        let config = core_config(&self.topology, &self.routes, &self.options, self.seed, node);
        self.nodes[node].down = false;
        self.restart_node(node, config)?;
        Ok(())
    }

    /// Datagrams addressed to `node` while its core was down.
    pub fn down_drops(&self, node: NodeId) -> u64 {
        self.nodes.get(node).map_or(0, |n| n.down_drops)
    }

    /// Every neighbour a node core declared down or up again, in time order.
    pub fn neighbour_changes(&self) -> &[NeighbourChange] {
        &self.neighbour_changes
    }

    fn node_name(&self, node: NodeId) -> String {
        self.topology
            .nodes
            .get(node)
            .map_or_else(|| format!("#{node}"), |n| n.name.clone())
    }

    /// The node whose node address is `addr`.
    pub fn node_id(&self, addr: IpAddr) -> Option<NodeId> {
        match addr {
            IpAddr::V4(a) => self.topology.node_by_address(a),
            IpAddr::V6(_) => None,
        }
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

    pub(crate) fn app_ref(&self, node: NodeId, index: usize) -> Option<&dyn Application> {
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
}

/// The node-core configuration of `node` in a run: its routes, with the run's demand limits,
/// budget cap and cookie key.
fn core_config(
    topology: &Topology,
    routes: &Routes,
    options: &EmulatorOptions,
    seed: u64,
    node: NodeId,
) -> NodeConfig {
    let mut config = routes.node_config(topology, node);
    config.demand = options.demand.clone();
    config.cookie_secret = Some(cookie_key(seed, node));
    if let Some(max) = options.max_budget.or(topology.emulator.max_budget) {
        config.max_budget = max;
    }
    config
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
