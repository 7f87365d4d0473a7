//! The resolved network a topology describes: nodes, links, addresses, groups, applications.
//!
//! Owns [`Topology`] and its [`TopologyBuilder`], which validates a network (unique names,
//! known link ends, no self-links or parallel links, a connected graph, valid link parameters,
//! no address clash) and assigns every address not given: node addresses from the node pool,
//! one /30 per link from the link pool. Errors name the node or link at fault.
//!
//! It never reads files (see [`crate::file`]), computes routes (see [`crate::routes`]), or runs
//! anything; every consumer (emulator, namespace deployer, pictures) reads the same resolved
//! form, so they cannot disagree about the network.
//!
//! This module holds the resolved types; `builder` turns names into them and checks them.

mod builder;

use std::collections::{BTreeMap, HashMap};
use std::net::Ipv4Addr;
use std::time::Duration;

use serde::Serialize;

pub use builder::{AppDraft, TopologyBuilder};

/// Index of a node in [`Topology::nodes`].
pub type NodeId = usize;
/// Index of a link in [`Topology::links`].
pub type LinkId = usize;

/// What a node is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum NodeKind {
    /// An end system running applications; it runs a node core of its own so applications can
    /// inject and receive capsules (as every ANTS end system does), but nothing transits it.
    Host,
    /// An active router: runs the node core and evaluates every capsule it receives.
    Active,
    /// A plain IP router: forwards datagrams by destination address, never looks inside.
    Legacy,
}

impl NodeKind {
    /// Whether this kind of node runs the node core (hosts and active routers do).
    pub fn runs_node_core(self) -> bool {
        matches!(self, NodeKind::Host | NodeKind::Active)
    }

    /// The name used in files and output.
    pub fn name(self) -> &'static str {
        match self {
            NodeKind::Host => "host",
            NodeKind::Active => "active",
            NodeKind::Legacy => "legacy",
        }
    }
}

impl std::fmt::Display for NodeKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// One node of the network.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Node {
    /// Unique name, used in files, commands and output.
    pub name: String,
    /// What it is.
    pub kind: NodeKind,
    /// Its node address: what capsules, routes and other nodes call it.
    pub address: Ipv4Addr,
    /// Groups it belongs to (sorted, unique).
    pub groups: Vec<String>,
}

/// Properties of a link, the same in both directions.
#[derive(Clone, Copy, Debug, PartialEq, Serialize)]
pub struct LinkParams {
    /// One-way propagation delay.
    pub delay: Duration,
    /// Probability that a datagram is lost on the way, 0.0..=1.0 (each direction).
    pub loss: f64,
    /// Bits per second; `None` for unlimited (no serialisation delay, no queueing).
    pub bandwidth_bps: Option<u64>,
    /// Drop-tail queue length in datagrams per direction (only matters with a bandwidth).
    pub queue: usize,
    /// Seeded impairments on the wire: jitter, reordering, duplication, corruption.
    pub impairments: Impairments,
}

/// What a link does to datagrams on its wire besides delay and loss, drawn per datagram from
/// the link's seeded stream (each direction).
#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize)]
pub struct Impairments {
    /// Extra delay drawn uniformly from 0 to this (datagrams may overtake each other).
    pub jitter: Duration,
    /// Probability that a datagram is held back by one more link delay (at least 1 ms), so
    /// that the ones behind it arrive first.
    pub reorder: f64,
    /// Probability that a datagram arrives twice.
    pub duplicate: f64,
    /// Probability that one byte of a datagram's payload is flipped; the UDP checksum then
    /// fails, and the first node core it reaches drops and counts it.
    pub corrupt: f64,
}

impl Impairments {
    /// Whether any impairment is set.
    pub fn any(&self) -> bool {
        !self.jitter.is_zero() || self.reorder > 0.0 || self.duplicate > 0.0 || self.corrupt > 0.0
    }
}

impl LinkParams {
    /// Default queue length in datagrams.
    pub const DEFAULT_QUEUE: usize = 64;
}

impl Default for LinkParams {
    /// 1 ms, lossless, unlimited bandwidth, a 64-datagram queue.
    fn default() -> Self {
        LinkParams {
            delay: Duration::from_millis(1),
            loss: 0.0,
            bandwidth_bps: None,
            queue: Self::DEFAULT_QUEUE,
            impairments: Impairments::default(),
        }
    }
}

/// Which link properties a file set explicitly (on the link or in the defaults), so a deployer
/// that cannot apply one can say so instead of silently ignoring it.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
pub struct LinkOptionsSet {
    /// `delay` was given.
    pub delay: bool,
    /// `loss` was given.
    pub loss: bool,
    /// `bandwidth` was given.
    pub bandwidth: bool,
    /// `queue` was given.
    pub queue: bool,
    /// Any of `jitter`, `reorder`, `duplicate`, `corrupt` was given.
    pub impairments: bool,
}

/// A point-to-point link between two nodes.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Link {
    /// One end.
    pub a: NodeId,
    /// The other end.
    pub b: NodeId,
    /// Delay, loss, bandwidth, queue.
    pub params: LinkParams,
    /// Which of those were set explicitly.
    pub explicit: LinkOptionsSet,
    /// Interface address of `a` on this link (namespaces; the emulator routes by node address).
    pub a_addr: Ipv4Addr,
    /// Interface address of `b` on this link.
    pub b_addr: Ipv4Addr,
    /// Prefix length of the link subnet.
    pub prefix_len: u8,
}

impl Link {
    /// The end that is not `node` (or `a` if `node` is neither end).
    pub fn other(&self, node: NodeId) -> NodeId {
        if node == self.a { self.b } else { self.a }
    }

    /// Interface address of `node` on this link.
    pub fn addr_of(&self, node: NodeId) -> Ipv4Addr {
        if node == self.a {
            self.a_addr
        } else {
            self.b_addr
        }
    }
}

/// What a scripted application sends to.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Target {
    /// One node.
    Node(NodeId),
    /// Every member of a group, one capsule each (unicast fan-out).
    Group(String),
}

/// A scripted application on a host or active node, started by the emulator (or by hand in
/// namespaces), as a file names it ([`AppDraft`]: `N` and `T` are names) or resolved
/// ([`AppSpec`]).
///
/// `N` is how a node is named and `T` what a `send` goes to.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", rename_all = "lowercase")]
pub enum ScriptedApp<N, T> {
    /// Pings `to` with the ping capsule `count` times, `interval` apart, from `start`.
    Ping {
        /// Node the application runs on.
        node: N,
        /// Destination node.
        to: N,
        /// Requests to send.
        count: u32,
        /// Time between requests.
        interval: Duration,
        /// When the first request leaves (virtual time since the start).
        start: Duration,
    },
    /// Sends `count` capsules of `protocol` to `to`, `interval` apart, from `start`.
    Send {
        /// Node the application runs on.
        node: N,
        /// Capsule name (`forward`, looked up in the capsule directory) or a `.wasm` path.
        protocol: String,
        /// Destination node or group.
        to: T,
        /// Capsules to send (per destination).
        count: u32,
        /// Time between capsules.
        interval: Duration,
        /// When the first capsule leaves.
        start: Duration,
        /// Resource budget of each capsule.
        budget: u16,
        /// Payload bytes.
        payload: Vec<u8>,
    },
    /// Records what arrives on `port` at `node`.
    Listen {
        /// Node the application runs on.
        node: N,
        /// Application port.
        port: u16,
    },
}

/// Something that happens to the network at a time of a run (the file's `[[event]]`), as a
/// file names it ([`EventDraft`]: `N` is a node name) or resolved ([`Event`]: ids).
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum ScriptedEvent<N, L> {
    /// The link stops carrying anything, in both directions, until a `link_up`.
    LinkDown {
        /// When (virtual time since the start).
        at: Duration,
        /// The link.
        link: L,
    },
    /// The link carries traffic again.
    LinkUp {
        /// When.
        at: Duration,
        /// The link.
        link: L,
    },
    /// The link's delay, loss or bandwidth change (each direction); what is not given stays.
    LinkSet {
        /// When.
        at: Duration,
        /// The link.
        link: L,
        /// The new one-way delay.
        delay: Option<Duration>,
        /// The new loss probability.
        loss: Option<f64>,
        /// The new bit rate.
        bandwidth_bps: Option<u64>,
    },
    /// The node's core crashes: its router (`antsd`) is gone, its code, state and loads with
    /// it; IP forwarding through it goes on, as on a Linux router whose daemon died.
    NodeDown {
        /// When.
        at: Duration,
        /// The node (a host or an active router).
        node: N,
    },
    /// The node's core starts again, empty (code loads again on demand).
    NodeUp {
        /// When.
        at: Duration,
        /// The node.
        node: N,
    },
}

/// An event as a file names it: nodes by name, a link by its two ends.
pub type EventDraft = ScriptedEvent<String, (String, String)>;

/// A resolved event: nodes and links by id.
pub type Event = ScriptedEvent<NodeId, LinkId>;

impl<N, L> ScriptedEvent<N, L> {
    /// When it happens.
    pub fn at(&self) -> Duration {
        match self {
            ScriptedEvent::LinkDown { at, .. }
            | ScriptedEvent::LinkUp { at, .. }
            | ScriptedEvent::LinkSet { at, .. }
            | ScriptedEvent::NodeDown { at, .. }
            | ScriptedEvent::NodeUp { at, .. } => *at,
        }
    }

    /// Its kind as the file writes it.
    pub fn kind(&self) -> &'static str {
        match self {
            ScriptedEvent::LinkDown { .. } => "link_down",
            ScriptedEvent::LinkUp { .. } => "link_up",
            ScriptedEvent::LinkSet { .. } => "link_set",
            ScriptedEvent::NodeDown { .. } => "node_down",
            ScriptedEvent::NodeUp { .. } => "node_up",
        }
    }
}

/// A resolved scripted application: nodes by id, a `send`'s destination a [`Target`].
pub type AppSpec = ScriptedApp<NodeId, Target>;

impl AppSpec {
    /// The node the application runs on.
    pub fn node(&self) -> NodeId {
        match self {
            AppSpec::Ping { node, .. }
            | AppSpec::Send { node, .. }
            | AppSpec::Listen { node, .. } => *node,
        }
    }
}

/// An IPv4 prefix addresses are drawn from.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub struct Pool {
    /// Network address.
    pub network: Ipv4Addr,
    /// Prefix length.
    pub len: u8,
}

impl Pool {
    /// Default node-address pool.
    pub const NODES: Pool = Pool {
        network: Ipv4Addr::new(10, 0, 0, 0),
        len: 16,
    };
    /// Default link-subnet pool (one /30 per link).
    pub const LINKS: Pool = Pool {
        network: Ipv4Addr::new(10, 1, 0, 0),
        len: 16,
    };

    fn base(&self) -> u32 {
        let mask = if self.len == 0 {
            0
        } else {
            u32::MAX << (32 - u32::from(self.len.min(32)))
        };
        u32::from(self.network) & mask
    }

    fn size(&self) -> u64 {
        1u64 << (32 - u32::from(self.len.min(32)))
    }

    /// Whether `addr` lies in the pool.
    pub fn contains(&self, addr: Ipv4Addr) -> bool {
        let a = u64::from(u32::from(addr));
        let b = u64::from(self.base());
        a >= b && a < b + self.size()
    }

    fn overlaps(&self, other: &Pool) -> bool {
        let (a0, a1) = (u64::from(self.base()), u64::from(self.base()) + self.size());
        let (b0, b1) = (
            u64::from(other.base()),
            u64::from(other.base()) + other.size(),
        );
        a0 < b1 && b0 < a1
    }
}

impl std::fmt::Display for Pool {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", self.network, self.len)
    }
}

/// Emulator settings a file may carry (command-line options override them).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
pub struct EmulatorSettings {
    /// How long (virtual time) to run; `None` means until nothing is left to do.
    pub duration: Option<Duration>,
    /// Virtual time one compilation takes on a node; `None` means the emulator's default.
    pub compile_delay: Option<Duration>,
    /// Largest budget an arriving capsule keeps on every node; `None` means the node default
    /// (64). Multicast trees of more nodes than that need more.
    pub max_budget: Option<u16>,
}

/// A validated network with every address assigned. Build it with [`TopologyBuilder`] (or
/// read a file with [`crate::file`]).
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Topology {
    /// Name of the network (namespace names and state are derived from it).
    pub name: String,
    /// Seed of the emulator's random choices (link losses).
    pub seed: u64,
    /// Nodes, indexed by [`NodeId`].
    pub nodes: Vec<Node>,
    /// Links, indexed by [`LinkId`].
    pub links: Vec<Link>,
    /// Group name → members, in node order.
    pub groups: BTreeMap<String, Vec<NodeId>>,
    /// Scripted applications.
    pub apps: Vec<AppSpec>,
    /// Scripted events, in time order (ties in file order).
    pub events: Vec<Event>,
    /// Emulator settings from the file.
    pub emulator: EmulatorSettings,
    /// Hello interval of every node core (`[liveness] hello_interval` in the file): liveness
    /// and overlay routing in the emulator and in generated `antsd` configurations; `None`
    /// for off.
    pub hello_interval: Option<Duration>,
    /// Pool node addresses were drawn from.
    pub node_pool: Pool,
    /// Pool link subnets were drawn from.
    pub link_pool: Pool,
    /// Links of each node, in link order (adjacency).
    #[serde(skip)]
    adjacency: Vec<Vec<LinkId>>,
    #[serde(skip)]
    by_name: HashMap<String, NodeId>,
    #[serde(skip)]
    by_address: HashMap<Ipv4Addr, NodeId>,
}

impl Topology {
    /// The node called `name`.
    pub fn node_id(&self, name: &str) -> Option<NodeId> {
        self.by_name.get(name).copied()
    }

    /// The node whose node address is `addr`.
    pub fn node_by_address(&self, addr: Ipv4Addr) -> Option<NodeId> {
        self.by_address.get(&addr).copied()
    }

    /// Links of `node`, in link order.
    pub fn links_of(&self, node: NodeId) -> &[LinkId] {
        self.adjacency.get(node).map_or(&[], Vec::as_slice)
    }

    /// `(link, neighbour)` pairs of `node`, in link order.
    pub fn neighbours(&self, node: NodeId) -> impl Iterator<Item = (LinkId, NodeId)> + '_ {
        self.links_of(node)
            .iter()
            .map(move |&l| (l, self.links[l].other(node)))
    }

    /// The link between `a` and `b`, if they are adjacent.
    pub fn link_between(&self, a: NodeId, b: NodeId) -> Option<LinkId> {
        self.links_of(a)
            .iter()
            .copied()
            .find(|&l| self.links[l].other(a) == b)
    }

    /// Nodes of a kind, in node order.
    pub fn nodes_of(&self, kind: NodeKind) -> impl Iterator<Item = NodeId> + '_ {
        (0..self.nodes.len()).filter(move |&n| self.nodes[n].kind == kind)
    }
}

/// Why a network is not valid. Every variant names what is at fault.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum TopologyError {
    /// The network has no nodes.
    #[error("the topology has no nodes")]
    Empty,
    /// Two nodes share a name.
    #[error("node `{0}` is defined twice; node names must be unique")]
    DuplicateNode(String),
    /// A node name is empty or has characters other than letters, digits, `-` and `_`, or is
    /// longer than 32 characters (names become namespace and interface names).
    #[error(
        "node name `{0}` is not allowed: use 1 to 32 letters, digits, `-` or `_`, starting with a letter"
    )]
    BadNodeName(String),
    /// A link, group or application names a node that does not exist.
    #[error("{place} names node `{node}`, which is not defined")]
    UnknownNode {
        /// Where the name appears (e.g. "link h1 -- r9").
        place: String,
        /// The unknown name.
        node: String,
    },
    /// A link connects a node to itself.
    #[error("link {0} -- {0} connects the node to itself")]
    SelfLink(String),
    /// Two links connect the same pair of nodes.
    #[error("link {a} -- {b} is defined twice; at most one link per pair of nodes")]
    DuplicateLink {
        /// One end.
        a: String,
        /// The other end.
        b: String,
    },
    /// A link parameter is out of range.
    #[error("link {a} -- {b}: {reason}")]
    BadLinkParam {
        /// One end.
        a: String,
        /// The other end.
        b: String,
        /// What is wrong.
        reason: String,
    },
    /// Some nodes cannot reach others.
    #[error("the network is disconnected: {unreachable} cannot be reached from {from}")]
    Disconnected {
        /// A node of the first component.
        from: String,
        /// A node that cannot be reached from it.
        unreachable: String,
    },
    /// Two nodes were given the same address, or a given address collides with a link subnet.
    #[error("address {address} of node `{node}` is already used by {other}")]
    AddressClash {
        /// The address.
        address: Ipv4Addr,
        /// The node that was given it.
        node: String,
        /// Who else has it.
        other: String,
    },
    /// A given node address is unusable (unspecified, broadcast, multicast, loopback).
    #[error("address {address} of node `{node}` cannot be a node address ({reason})")]
    BadAddress {
        /// The address.
        address: Ipv4Addr,
        /// The node.
        node: String,
        /// Why.
        reason: &'static str,
    },
    /// A pool has no room left.
    #[error("the {which} pool {pool} is too small for this network ({needed} needed)")]
    PoolExhausted {
        /// "node address" or "link subnet".
        which: &'static str,
        /// The pool.
        pool: Pool,
        /// How many addresses or subnets were needed.
        needed: usize,
    },
    /// The node and link pools overlap.
    #[error("the node pool {nodes} and the link pool {links} overlap")]
    PoolsOverlap {
        /// Node pool.
        nodes: Pool,
        /// Link pool.
        links: Pool,
    },
    /// An application runs on a legacy router, which has no node core.
    #[error(
        "application {index} runs on `{node}`, a legacy router; applications need a host or active node"
    )]
    AppOnLegacy {
        /// Position of the application in the file (0-based).
        index: usize,
        /// The node.
        node: String,
    },
    /// An event names a link that does not exist.
    #[error("event {index} names the link {a} -- {b}, which is not defined")]
    UnknownLink {
        /// Position of the event in the file (0-based).
        index: usize,
        /// One end.
        a: String,
        /// The other end.
        b: String,
    },
    /// An event crashes or restarts a legacy router, which has no node core.
    #[error("event {index} ({kind}) names `{node}`, a legacy router, which runs no node core")]
    EventOnLegacy {
        /// Position of the event in the file (0-based).
        index: usize,
        /// The event's kind.
        kind: &'static str,
        /// The node.
        node: String,
    },
    /// An application sends to a legacy router or an empty group.
    #[error("application {index} sends to {target}, which cannot receive capsules")]
    BadAppTarget {
        /// Position of the application in the file (0-based).
        index: usize,
        /// The target named.
        target: String,
    },
}
