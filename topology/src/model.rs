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

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::net::Ipv4Addr;
use std::time::Duration;

use serde::Serialize;

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
/// namespaces).
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", rename_all = "lowercase")]
pub enum AppSpec {
    /// Pings `to` with the ping capsule `count` times, `interval` apart, from `start`.
    Ping {
        /// Node the application runs on.
        node: NodeId,
        /// Destination.
        to: NodeId,
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
        node: NodeId,
        /// Capsule name (`forward`, looked up in the capsule directory) or a `.wasm` path.
        protocol: String,
        /// Destination node or group.
        to: Target,
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
        node: NodeId,
        /// Application port.
        port: u16,
    },
}

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
    /// Emulator settings from the file.
    pub emulator: EmulatorSettings,
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
    /// An application sends to a legacy router or an empty group.
    #[error("application {index} sends to {target}, which cannot receive capsules")]
    BadAppTarget {
        /// Position of the application in the file (0-based).
        index: usize,
        /// The target named.
        target: String,
    },
}

/// A scripted application as named in a file, before node names are resolved.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum AppDraft {
    /// See [`AppSpec::Ping`].
    Ping {
        /// Node name.
        node: String,
        /// Destination node name.
        to: String,
        /// Requests.
        count: u32,
        /// Interval.
        interval: Duration,
        /// Start.
        start: Duration,
    },
    /// See [`AppSpec::Send`]; `to` is a node or group name.
    Send {
        /// Node name.
        node: String,
        /// Capsule name or path.
        protocol: String,
        /// Node or group name.
        to: String,
        /// Capsules per destination.
        count: u32,
        /// Interval.
        interval: Duration,
        /// Start.
        start: Duration,
        /// Budget.
        budget: u16,
        /// Payload.
        payload: Vec<u8>,
    },
    /// See [`AppSpec::Listen`].
    Listen {
        /// Node name.
        node: String,
        /// Port.
        port: u16,
    },
}

struct NodeDraft {
    name: String,
    kind: NodeKind,
    address: Option<Ipv4Addr>,
    groups: BTreeSet<String>,
}

struct LinkDraft {
    a: String,
    b: String,
    params: LinkParams,
    explicit: LinkOptionsSet,
}

/// Collects nodes, links, groups and applications by name, then validates and resolves them
/// into a [`Topology`].
pub struct TopologyBuilder {
    name: String,
    seed: u64,
    node_pool: Pool,
    link_pool: Pool,
    nodes: Vec<NodeDraft>,
    links: Vec<LinkDraft>,
    groups: BTreeMap<String, Vec<String>>,
    apps: Vec<AppDraft>,
    emulator: EmulatorSettings,
}

impl TopologyBuilder {
    /// An empty network called `name`, seed 1, default pools.
    pub fn new(name: impl Into<String>) -> Self {
        TopologyBuilder {
            name: name.into(),
            seed: 1,
            node_pool: Pool::NODES,
            link_pool: Pool::LINKS,
            nodes: Vec::new(),
            links: Vec::new(),
            groups: BTreeMap::new(),
            apps: Vec::new(),
            emulator: EmulatorSettings::default(),
        }
    }

    /// Sets the emulator settings.
    pub fn emulator(&mut self, settings: EmulatorSettings) -> &mut Self {
        self.emulator = settings;
        self
    }

    /// Sets the emulator seed.
    pub fn seed(&mut self, seed: u64) -> &mut Self {
        self.seed = seed;
        self
    }

    /// Sets the pool node addresses are drawn from.
    pub fn node_pool(&mut self, pool: Pool) -> &mut Self {
        self.node_pool = pool;
        self
    }

    /// Sets the pool link subnets (/30 each) are drawn from.
    pub fn link_pool(&mut self, pool: Pool) -> &mut Self {
        self.link_pool = pool;
        self
    }

    /// Adds a node; `address` `None` means "assign one from the node pool".
    pub fn node(
        &mut self,
        name: impl Into<String>,
        kind: NodeKind,
        address: Option<Ipv4Addr>,
    ) -> &mut Self {
        self.nodes.push(NodeDraft {
            name: name.into(),
            kind,
            address,
            groups: BTreeSet::new(),
        });
        self
    }

    /// Adds a link with default parameters, none of them explicit.
    pub fn link(&mut self, a: impl Into<String>, b: impl Into<String>) -> &mut Self {
        self.link_with(a, b, LinkParams::default(), LinkOptionsSet::default())
    }

    /// Adds a link with these parameters; `explicit` says which were set by the user.
    pub fn link_with(
        &mut self,
        a: impl Into<String>,
        b: impl Into<String>,
        params: LinkParams,
        explicit: LinkOptionsSet,
    ) -> &mut Self {
        self.links.push(LinkDraft {
            a: a.into(),
            b: b.into(),
            params,
            explicit,
        });
        self
    }

    /// Adds `member` to group `group` (created on first use).
    pub fn member(&mut self, group: impl Into<String>, member: impl Into<String>) -> &mut Self {
        self.groups
            .entry(group.into())
            .or_default()
            .push(member.into());
        self
    }

    /// Adds a scripted application.
    pub fn app(&mut self, app: AppDraft) -> &mut Self {
        self.apps.push(app);
        self
    }

    /// Validates everything and assigns addresses.
    pub fn build(self) -> Result<Topology, TopologyError> {
        if self.nodes.is_empty() {
            return Err(TopologyError::Empty);
        }
        if self.node_pool.overlaps(&self.link_pool) {
            return Err(TopologyError::PoolsOverlap {
                nodes: self.node_pool,
                links: self.link_pool,
            });
        }
        let mut by_name: HashMap<String, NodeId> = HashMap::new();
        for (id, n) in self.nodes.iter().enumerate() {
            if !valid_name(&n.name) {
                return Err(TopologyError::BadNodeName(n.name.clone()));
            }
            if by_name.insert(n.name.clone(), id).is_some() {
                return Err(TopologyError::DuplicateNode(n.name.clone()));
            }
        }
        let lookup = |place: &dyn Fn() -> String, name: &str| {
            by_name
                .get(name)
                .copied()
                .ok_or_else(|| TopologyError::UnknownNode {
                    place: place(),
                    node: name.to_string(),
                })
        };

        // Links: ends known, no self-links, no parallel links, sane parameters.
        let mut pairs = BTreeSet::new();
        let mut ends = Vec::with_capacity(self.links.len());
        for l in &self.links {
            let place = || format!("link {} -- {}", l.a, l.b);
            let a = lookup(&place, &l.a)?;
            let b = lookup(&place, &l.b)?;
            if a == b {
                return Err(TopologyError::SelfLink(l.a.clone()));
            }
            if !pairs.insert((a.min(b), a.max(b))) {
                return Err(TopologyError::DuplicateLink {
                    a: l.a.clone(),
                    b: l.b.clone(),
                });
            }
            check_params(&l.params).map_err(|reason| TopologyError::BadLinkParam {
                a: l.a.clone(),
                b: l.b.clone(),
                reason,
            })?;
            ends.push((a, b));
        }
        let mut adjacency = vec![Vec::new(); self.nodes.len()];
        for (i, &(a, b)) in ends.iter().enumerate() {
            adjacency[a].push(i);
            adjacency[b].push(i);
        }
        check_connected(&self.nodes, &ends, &adjacency)?;

        // Groups.
        let mut nodes_groups: Vec<BTreeSet<String>> =
            self.nodes.iter().map(|n| n.groups.clone()).collect();
        let mut groups = BTreeMap::new();
        for (g, members) in &self.groups {
            let mut ids = BTreeSet::new();
            for m in members {
                let id = lookup(&|| format!("group `{g}`"), m)?;
                ids.insert(id);
                nodes_groups[id].insert(g.clone());
            }
            groups.insert(g.clone(), ids.into_iter().collect::<Vec<_>>());
        }

        // Addresses: given ones first (checked), then the pool fills the rest in node order.
        let link_subnets = self.link_pool.size() / 4;
        if (self.links.len() as u64) > link_subnets {
            return Err(TopologyError::PoolExhausted {
                which: "link subnet",
                pool: self.link_pool,
                needed: self.links.len(),
            });
        }
        let link_addr =
            |i: usize, host: u32| Ipv4Addr::from(self.link_pool.base() + 4 * i as u32 + host);
        let mut taken: HashMap<Ipv4Addr, String> = HashMap::new();
        for (i, l) in self.links.iter().enumerate() {
            for h in 0..4 {
                taken.insert(link_addr(i, h), format!("link {} -- {}", l.a, l.b));
            }
        }
        let mut addresses: Vec<Option<Ipv4Addr>> = vec![None; self.nodes.len()];
        for (id, n) in self.nodes.iter().enumerate() {
            let Some(addr) = n.address else { continue };
            if let Some(reason) = unusable(addr) {
                return Err(TopologyError::BadAddress {
                    address: addr,
                    node: n.name.clone(),
                    reason,
                });
            }
            if let Some(other) = taken.get(&addr) {
                return Err(TopologyError::AddressClash {
                    address: addr,
                    node: n.name.clone(),
                    other: other.clone(),
                });
            }
            taken.insert(addr, format!("node `{}`", n.name));
            addresses[id] = Some(addr);
        }
        // Skip the pool's network address (x.x.0.0) so assigned addresses start at .1.
        let mut next = u64::from(self.node_pool.base()) + 1;
        let end = u64::from(self.node_pool.base()) + self.node_pool.size() - 1;
        for slot in addresses.iter_mut().filter(|a| a.is_none()) {
            loop {
                if next >= end {
                    return Err(TopologyError::PoolExhausted {
                        which: "node address",
                        pool: self.node_pool,
                        needed: self.nodes.len(),
                    });
                }
                let candidate = Ipv4Addr::from(next as u32);
                next += 1;
                if !taken.contains_key(&candidate) && unusable(candidate).is_none() {
                    taken.insert(candidate, String::new());
                    *slot = Some(candidate);
                    break;
                }
            }
        }

        let nodes: Vec<Node> = self
            .nodes
            .into_iter()
            .zip(addresses)
            .zip(nodes_groups)
            .map(|((n, addr), groups)| Node {
                name: n.name,
                kind: n.kind,
                address: addr.unwrap_or(Ipv4Addr::UNSPECIFIED),
                groups: groups.into_iter().collect(),
            })
            .collect();
        let links: Vec<Link> = self
            .links
            .iter()
            .zip(&ends)
            .enumerate()
            .map(|(i, (l, &(a, b)))| Link {
                a,
                b,
                params: l.params,
                explicit: l.explicit,
                a_addr: link_addr(i, 1),
                b_addr: link_addr(i, 2),
                prefix_len: 30,
            })
            .collect();

        // Applications.
        let mut apps = Vec::with_capacity(self.apps.len());
        for (index, app) in self.apps.into_iter().enumerate() {
            let place = || format!("application {index}");
            let on = |name: &str| -> Result<NodeId, TopologyError> {
                let id = lookup(&place, name)?;
                if nodes[id].kind == NodeKind::Legacy {
                    return Err(TopologyError::AppOnLegacy {
                        index,
                        node: name.to_string(),
                    });
                }
                Ok(id)
            };
            let receiver = |name: &str| -> Result<NodeId, TopologyError> {
                let id = lookup(&place, name)?;
                if !nodes[id].kind.runs_node_core() {
                    return Err(TopologyError::BadAppTarget {
                        index,
                        target: format!("legacy router `{name}`"),
                    });
                }
                Ok(id)
            };
            apps.push(match app {
                AppDraft::Ping {
                    node,
                    to,
                    count,
                    interval,
                    start,
                } => AppSpec::Ping {
                    node: on(&node)?,
                    to: receiver(&to)?,
                    count,
                    interval,
                    start,
                },
                AppDraft::Send {
                    node,
                    protocol,
                    to,
                    count,
                    interval,
                    start,
                    budget,
                    payload,
                } => {
                    let node = on(&node)?;
                    let to = if let Some(members) = groups.get(&to) {
                        if members.iter().all(|&m| !nodes[m].kind.runs_node_core()) {
                            return Err(TopologyError::BadAppTarget {
                                index,
                                target: format!("group `{to}` (no host or active member)"),
                            });
                        }
                        Target::Group(to)
                    } else {
                        Target::Node(receiver(&to)?)
                    };
                    AppSpec::Send {
                        node,
                        protocol,
                        to,
                        count,
                        interval,
                        start,
                        budget,
                        payload,
                    }
                }
                AppDraft::Listen { node, port } => AppSpec::Listen {
                    node: on(&node)?,
                    port,
                },
            });
        }

        let by_address = nodes
            .iter()
            .enumerate()
            .map(|(i, n)| (n.address, i))
            .collect();
        Ok(Topology {
            name: self.name,
            seed: self.seed,
            nodes,
            links,
            groups,
            apps,
            emulator: self.emulator,
            node_pool: self.node_pool,
            link_pool: self.link_pool,
            adjacency,
            by_name,
            by_address,
        })
    }
}

fn valid_name(name: &str) -> bool {
    let mut chars = name.chars();
    matches!(chars.next(), Some(c) if c.is_ascii_alphabetic())
        && name.len() <= 32
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
}

fn unusable(addr: Ipv4Addr) -> Option<&'static str> {
    if addr.is_unspecified() {
        Some("unspecified")
    } else if addr.is_broadcast() {
        Some("broadcast")
    } else if addr.is_multicast() {
        Some("multicast")
    } else if addr.is_loopback() {
        Some("loopback")
    } else {
        None
    }
}

fn check_params(p: &LinkParams) -> Result<(), String> {
    if !(0.0..=1.0).contains(&p.loss) || p.loss.is_nan() {
        return Err(format!(
            "loss {} is not between 0 and 1 (0 % and 100 %)",
            p.loss
        ));
    }
    if p.bandwidth_bps == Some(0) {
        return Err("bandwidth must be more than 0 bit/s (leave it out for unlimited)".into());
    }
    if p.queue == 0 {
        return Err("queue must hold at least 1 datagram".into());
    }
    if p.delay > Duration::from_secs(60) {
        return Err(format!("delay {:?} is longer than 60 s", p.delay));
    }
    Ok(())
}

fn check_connected(
    nodes: &[NodeDraft],
    ends: &[(NodeId, NodeId)],
    adjacency: &[Vec<LinkId>],
) -> Result<(), TopologyError> {
    let mut seen = vec![false; nodes.len()];
    let mut stack = vec![0];
    seen[0] = true;
    while let Some(n) = stack.pop() {
        for &l in &adjacency[n] {
            let (a, b) = ends[l];
            let m = if a == n { b } else { a };
            if !seen[m] {
                seen[m] = true;
                stack.push(m);
            }
        }
    }
    match seen.iter().position(|s| !s) {
        None => Ok(()),
        Some(u) => Err(TopologyError::Disconnected {
            from: nodes[0].name.clone(),
            unreachable: nodes[u].name.clone(),
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn line() -> TopologyBuilder {
        let mut b = TopologyBuilder::new("line");
        b.node("h1", NodeKind::Host, None)
            .node("r1", NodeKind::Active, None)
            .node("l1", NodeKind::Legacy, None)
            .node("r2", NodeKind::Active, None)
            .node("h2", NodeKind::Host, None)
            .link("h1", "r1")
            .link("r1", "l1")
            .link("l1", "r2")
            .link("r2", "h2");
        b
    }

    #[test]
    fn addresses_are_assigned_in_node_order_and_links_get_a_slash_30() {
        let t = line().build().unwrap();
        assert_eq!(t.nodes[0].address, Ipv4Addr::new(10, 0, 0, 1));
        assert_eq!(t.nodes[4].address, Ipv4Addr::new(10, 0, 0, 5));
        assert_eq!(t.links[1].a_addr, Ipv4Addr::new(10, 1, 0, 5));
        assert_eq!(t.links[1].b_addr, Ipv4Addr::new(10, 1, 0, 6));
        assert_eq!(t.node_id("l1"), Some(2));
        assert_eq!(t.node_by_address(Ipv4Addr::new(10, 0, 0, 3)), Some(2));
        assert_eq!(t.link_between(2, 3), Some(2));
        assert_eq!(t.neighbours(2).collect::<Vec<_>>(), vec![(1, 1), (2, 3)]);
    }

    #[test]
    fn given_addresses_are_kept_and_skipped_by_the_pool() {
        let mut b = line();
        b.nodes[1].address = Some(Ipv4Addr::new(10, 0, 0, 2));
        b.nodes[0].address = None;
        b.nodes[2].address = Some(Ipv4Addr::new(10, 0, 0, 1));
        let t = b.build().unwrap();
        assert_eq!(t.nodes[2].address, Ipv4Addr::new(10, 0, 0, 1));
        assert_eq!(t.nodes[1].address, Ipv4Addr::new(10, 0, 0, 2));
        assert_eq!(t.nodes[0].address, Ipv4Addr::new(10, 0, 0, 3));
    }

    #[test]
    fn errors_name_the_culprit() {
        let mut b = line();
        b.node("r1", NodeKind::Active, None);
        assert_eq!(
            b.build().unwrap_err(),
            TopologyError::DuplicateNode("r1".into())
        );

        let mut b = line();
        b.link("h1", "r9");
        let e = b.build().unwrap_err();
        assert_eq!(
            e.to_string(),
            "link h1 -- r9 names node `r9`, which is not defined"
        );

        let mut b = line();
        b.link("r2", "r1").link("h1", "r1");
        assert!(matches!(
            b.build().unwrap_err(),
            TopologyError::DuplicateLink { .. }
        ));

        let mut b = line();
        b.node("lonely", NodeKind::Host, None);
        assert_eq!(
            b.build().unwrap_err(),
            TopologyError::Disconnected {
                from: "h1".into(),
                unreachable: "lonely".into()
            }
        );

        let mut b = line();
        b.nodes[3].address = Some(Ipv4Addr::new(10, 1, 0, 2));
        let e = b.build().unwrap_err();
        assert_eq!(
            e.to_string(),
            "address 10.1.0.2 of node `r2` is already used by link h1 -- r1"
        );

        let mut b = line();
        b.nodes[3].address = Some(Ipv4Addr::new(10, 0, 0, 9));
        b.nodes[4].address = Some(Ipv4Addr::new(10, 0, 0, 9));
        assert!(matches!(
            b.build().unwrap_err(),
            TopologyError::AddressClash { .. }
        ));

        let mut b = line();
        b.links[0].params.loss = 1.5;
        assert!(
            b.build()
                .unwrap_err()
                .to_string()
                .starts_with("link h1 -- r1: loss 1.5")
        );

        let mut b = line();
        b.app(AppDraft::Listen {
            node: "l1".into(),
            port: 1,
        });
        assert!(matches!(
            b.build().unwrap_err(),
            TopologyError::AppOnLegacy { .. }
        ));

        let mut b = line();
        b.node("bad name", NodeKind::Host, None);
        assert!(matches!(
            b.build().unwrap_err(),
            TopologyError::BadNodeName(_)
        ));
    }

    #[test]
    fn groups_resolve_and_mark_members() {
        let mut b = line();
        b.member("g", "h2").member("g", "h1").member("g", "h2");
        let t = b.build().unwrap();
        assert_eq!(t.groups["g"], vec![0, 4]);
        assert_eq!(t.nodes[4].groups, vec!["g".to_string()]);
    }
}
