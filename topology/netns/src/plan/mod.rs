//! What `ants topo up` creates, computed from the topology alone.
//!
//! Owns [`Plan`]: for a [`Topology`], its [`Routes`], a namespace prefix and a state directory,
//! every namespace, veth interface and address, every kernel route and sysctl, the traffic
//! shaping of each link, the link options that cannot be applied, and the generated `antsd`
//! configurations; and the exact `ip`/`tc` arguments that create them.
//!
//! It is pure: it never runs a command, touches a file or looks at the machine, so all of it is
//! tested without root. [`super::apply`] carries a plan out.

use std::net::{IpAddr, Ipv4Addr, SocketAddr, SocketAddrV4};
use std::path::{Path, PathBuf};
use std::time::Duration;

use ants_daemon::config::{ConfigWriter, DEFAULT_PORT, DriverLimits, LinkShaping, MAX_LINK_QUEUE};
use ants_router::routing::NextHop;

use ants_topology::model::{LinkId, NodeId, NodeKind, Topology};
use ants_topology::routes::Routes;

/// Longest namespace prefix accepted. Namespace names are `<prefix>-<node>` (node names have at
/// most 32 characters), and the default application socket path
/// `/run/ants-topo/<prefix>/<node>.sock` must stay under the 107-byte limit of Unix sockets.
pub const MAX_PREFIX_LEN: usize = 40;

/// Longest Unix socket path the kernel accepts (`sun_path` is 108 bytes with the final NUL).
pub const MAX_SOCKET_PATH: usize = 107;

/// Longest Linux interface name (`IFNAMSIZ` - 1).
pub const MAX_IFNAME: usize = 15;

/// Bytes per datagram assumed when a queue length in datagrams becomes a byte limit (an
/// Ethernet frame of a full-size packet).
const FRAME_BYTES: u64 = 1514;

/// Why a topology cannot be planned with these names and paths.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum PlanError {
    /// The namespace prefix is not a usable namespace name.
    #[error("namespace prefix `{prefix}` cannot be used: {reason}; choose another with --prefix")]
    BadPrefix {
        /// The prefix.
        prefix: String,
        /// What is wrong with it.
        reason: &'static str,
    },
    /// The state directory is not absolute (daemons run with another working directory).
    #[error("state directory {} must be an absolute path", .0.display())]
    RelativeStateDir(PathBuf),
    /// An application socket path would be too long for a Unix socket.
    #[error(
        "application socket {} is {len} bytes long, more than the {MAX_SOCKET_PATH} a Unix socket allows: use a shorter --state-dir or --prefix",
        path.display()
    )]
    SocketPathTooLong {
        /// The path.
        path: PathBuf,
        /// Its length in bytes.
        len: usize,
    },
}

/// The prefix used when none is given: `ants-<topology name>`.
pub fn default_prefix(topology_name: &str) -> String {
    format!("ants-{topology_name}")
}

/// Checks that `prefix` makes valid, unambiguous namespace names: 1 to [`MAX_PREFIX_LEN`]
/// ASCII letters, digits, `-`, `_` or `.`, starting with a letter or digit.
pub fn check_prefix(prefix: &str) -> Result<(), PlanError> {
    let bad = |reason| {
        Err(PlanError::BadPrefix {
            prefix: prefix.to_string(),
            reason,
        })
    };
    if prefix.is_empty() {
        return bad("it is empty");
    }
    if prefix.len() > MAX_PREFIX_LEN {
        return bad("it is longer than 40 characters");
    }
    if !prefix.starts_with(|c: char| c.is_ascii_alphanumeric()) {
        return bad("it must start with a letter or digit");
    }
    if !prefix
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
    {
        return bad("only letters, digits, `-`, `_` and `.` are allowed");
    }
    Ok(())
}

/// The state directory used when none is given: `/run/ants-topo/<prefix>`.
pub fn default_state_dir(prefix: &str) -> PathBuf {
    Path::new(super::STATE_ROOT).join(prefix)
}

/// One end of a link inside a node's namespace.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Interface {
    /// Interface name (`eth<k>`, k = position of the link among the node's links).
    pub name: String,
    /// The link.
    pub link: LinkId,
    /// The node at the other end.
    pub peer: NodeId,
    /// This end's address on the link.
    pub address: Ipv4Addr,
    /// The peer's address on the link.
    pub peer_address: Ipv4Addr,
    /// Prefix length of the link subnet.
    pub prefix_len: u8,
}

/// A kernel host route: `destination/32 via via dev dev src src`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct KernelRoute {
    /// Node address of the destination.
    pub destination: Ipv4Addr,
    /// The next hop's address on the shared link.
    pub via: Ipv4Addr,
    /// The interface toward it.
    pub dev: String,
    /// Source address for locally sent packets: this node's address, so replies come back
    /// along the node-address routes even from nodes several hops away.
    pub src: Ipv4Addr,
}

/// The `antsd` of a node that runs the node core.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DaemonPlan {
    /// The configuration file written in the state directory.
    pub config_path: PathBuf,
    /// Its contents (TOML, `docs/daemon.md`).
    pub config: String,
    /// The application socket.
    pub app_socket: PathBuf,
    /// Where the daemon's output goes.
    pub log_path: PathBuf,
    /// The UDP socket it binds.
    pub listen: SocketAddr,
}

/// Everything one node's namespace gets.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NodePlan {
    /// The node.
    pub node: NodeId,
    /// Node name.
    pub name: String,
    /// What it is.
    pub kind: NodeKind,
    /// Namespace name, `<prefix>-<node>`.
    pub namespace: String,
    /// Node address, on `lo` as a /32.
    pub address: Ipv4Addr,
    /// One interface per link, in link order.
    pub interfaces: Vec<Interface>,
    /// A host route to every other node.
    pub routes: Vec<KernelRoute>,
    /// Whether `net.ipv4.ip_forward` is set (every router, active ones included: the node
    /// core also relays datagrams not addressed to it, such as code loads to a capsule's
    /// source).
    pub ip_forward: bool,
    /// The daemon, on hosts and active routers.
    pub daemon: Option<DaemonPlan>,
}

impl NodePlan {
    /// `ip -batch` lines that bring `lo` and the link interfaces up and give them their
    /// addresses.
    pub fn address_batch(&self) -> Vec<String> {
        let mut lines = vec![
            "link set dev lo up".to_string(),
            format!("address add {}/32 dev lo", self.address),
        ];
        for i in &self.interfaces {
            lines.push(format!(
                "address add {}/{} dev {}",
                i.address, i.prefix_len, i.name
            ));
            lines.push(format!("link set dev {} up", i.name));
        }
        lines
    }

    /// `ip -batch` lines that add the kernel routes.
    pub fn route_batch(&self) -> Vec<String> {
        self.routes
            .iter()
            .map(|r| {
                format!(
                    "route add {}/32 via {} dev {} src {}",
                    r.destination, r.via, r.dev, r.src
                )
            })
            .collect()
    }
}

/// Rate limiting of one link: by the `tbf` qdisc at each end that runs no `antsd` (or whose
/// `antsd` sends nothing over it), and by the daemon's own egress queue toward its neighbours
/// at an end that does (see [`daemon_shaping`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Shaping {
    /// Bits per second.
    pub rate_bps: u64,
    /// Drop-tail queue in datagrams.
    pub queue: usize,
}

impl Shaping {
    /// Token bucket depth in bytes: 10 ms at the rate, at least two full frames (`tbf` needs
    /// a bucket of at least one frame, and about rate/HZ to reach the rate).
    pub fn burst_bytes(&self) -> u64 {
        (self.rate_bps / 8 / 100).max(2 * FRAME_BYTES)
    }

    /// `tc` arguments (after `tc -n NAMESPACE`) for the interface `dev`: a `tbf` root qdisc at
    /// the rate, then a packet FIFO of `queue` datagrams as its queue.
    pub fn tc_commands(&self, dev: &str) -> [Vec<String>; 2] {
        let s = |x: &str| x.to_string();
        let limit = self.queue as u64 * FRAME_BYTES;
        [
            vec![
                s("qdisc"),
                s("replace"),
                s("dev"),
                s(dev),
                s("root"),
                s("handle"),
                s("1:"),
                s("tbf"),
                s("rate"),
                format!("{}bit", self.rate_bps),
                s("burst"),
                self.burst_bytes().to_string(),
                s("limit"),
                limit.to_string(),
            ],
            vec![
                s("qdisc"),
                s("replace"),
                s("dev"),
                s(dev),
                s("parent"),
                s("1:1"),
                s("handle"),
                s("10:"),
                s("pfifo"),
                s("limit"),
                self.queue.to_string(),
            ],
        ]
    }
}

/// A link option the file sets that namespaces cannot reproduce.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum NotApplied {
    /// A delay: it needs the `netem` qdisc, which this kernel lacks.
    Delay(Duration),
    /// A loss rate: it needs `netem` as well.
    Loss(f64),
    /// Jitter, reordering, duplication or corruption: `netem` too.
    Impairments,
    /// A queue length without a bandwidth: a queue only fills behind a rate limit (as in the
    /// emulator), so it has no effect.
    QueueWithoutBandwidth(usize),
}

/// One link: the veth pair and what is applied to it.
#[derive(Clone, Debug, PartialEq)]
pub struct LinkPlan {
    /// The link.
    pub link: LinkId,
    /// `a1 -- l1`, as in files and messages.
    pub label: String,
    /// Namespace and interface of end `a`.
    pub a: (String, String),
    /// Namespace and interface of end `b`.
    pub b: (String, String),
    /// Rate limiting, when the link has a bandwidth.
    pub shaping: Option<Shaping>,
    /// Whether the daemon at end `a` (index 0) or `b` (index 1) paces what it sends over the
    /// link itself (its neighbours' `rate` and `queue`), so that end gets no `tbf`: a capsule
    /// there reads the queue it fills, as in the emulator.
    pub daemon_shaped: [bool; 2],
    /// Options set in the file that are not applied.
    pub not_applied: Vec<NotApplied>,
}

impl LinkPlan {
    /// `ip` arguments creating the veth pair with each end directly in its namespace.
    pub fn veth_command(&self) -> Vec<String> {
        let s = |x: &str| x.to_string();
        vec![
            s("link"),
            s("add"),
            s(&self.a.1),
            s("netns"),
            s(&self.a.0),
            s("type"),
            s("veth"),
            s("peer"),
            s("name"),
            s(&self.b.1),
            s("netns"),
            s(&self.b.0),
        ]
    }
}

/// Everything `ants topo up` creates for one topology. See the module docs.
#[derive(Clone, Debug, PartialEq)]
pub struct Plan {
    /// Topology name.
    pub topology: String,
    /// Namespace prefix.
    pub prefix: String,
    /// Where the state record, configurations, sockets and logs go.
    pub state_dir: PathBuf,
    /// One entry per node, indexed by [`NodeId`].
    pub nodes: Vec<NodePlan>,
    /// One entry per link, indexed by [`LinkId`].
    pub links: Vec<LinkPlan>,
}

impl Plan {
    /// Plans `topology` under `prefix` with its files in `state_dir` (absolute).
    pub fn new(
        topology: &Topology,
        routes: &Routes,
        prefix: &str,
        state_dir: &Path,
    ) -> Result<Plan, PlanError> {
        check_prefix(prefix)?;
        if !state_dir.is_absolute() {
            return Err(PlanError::RelativeStateDir(state_dir.to_path_buf()));
        }
        let namespace = |n: NodeId| format!("{prefix}-{}", topology.nodes[n].name);
        // Interface of each (node, link): eth<k>, k = position among the node's links.
        let ifname = |n: NodeId, l: LinkId| {
            let k = topology
                .links_of(n)
                .iter()
                .position(|&x| x == l)
                .unwrap_or(0);
            format!("eth{k}")
        };

        let mut nodes = Vec::with_capacity(topology.nodes.len());
        for (id, node) in topology.nodes.iter().enumerate() {
            let interfaces: Vec<Interface> = topology
                .neighbours(id)
                .map(|(l, peer)| {
                    let link = &topology.links[l];
                    Interface {
                        name: ifname(id, l),
                        link: l,
                        peer,
                        address: link.addr_of(id),
                        peer_address: link.addr_of(peer),
                        prefix_len: link.prefix_len,
                    }
                })
                .collect();
            let mut kernel_routes = Vec::with_capacity(topology.nodes.len().saturating_sub(1));
            for dest in 0..topology.nodes.len() {
                let Some(next) = routes.ip_next_hop(id, dest) else {
                    continue;
                };
                let Some(iface) = interfaces.iter().find(|i| i.peer == next) else {
                    continue;
                };
                kernel_routes.push(KernelRoute {
                    destination: topology.nodes[dest].address,
                    via: iface.peer_address,
                    dev: iface.name.clone(),
                    src: node.address,
                });
            }
            let daemon = if node.kind.runs_node_core() {
                Some(daemon_plan(topology, routes, id, state_dir)?)
            } else {
                None
            };
            nodes.push(NodePlan {
                node: id,
                name: node.name.clone(),
                kind: node.kind,
                namespace: namespace(id),
                address: node.address,
                interfaces,
                routes: kernel_routes,
                ip_forward: node.kind != NodeKind::Host,
                daemon,
            });
        }

        // (node, link) pairs whose sending end is paced by the node's daemon.
        let shaped_by_daemon: Vec<(NodeId, LinkId)> = nodes
            .iter()
            .filter(|n| n.daemon.is_some())
            .flat_map(|n| {
                daemon_shaping(topology, routes, n.node)
                    .into_iter()
                    .map(move |(_, link, _)| (n.node, link))
            })
            .collect();
        let links = topology
            .links
            .iter()
            .enumerate()
            .map(|(l, link)| {
                let p = &link.params;
                let set = &link.explicit;
                let mut not_applied = Vec::new();
                if set.delay && !p.delay.is_zero() {
                    not_applied.push(NotApplied::Delay(p.delay));
                }
                if set.loss && p.loss > 0.0 {
                    not_applied.push(NotApplied::Loss(p.loss));
                }
                if set.impairments && p.impairments.any() {
                    not_applied.push(NotApplied::Impairments);
                }
                if set.queue && p.bandwidth_bps.is_none() {
                    not_applied.push(NotApplied::QueueWithoutBandwidth(p.queue));
                }
                LinkPlan {
                    link: l,
                    label: format!(
                        "{} -- {}",
                        topology.nodes[link.a].name, topology.nodes[link.b].name
                    ),
                    a: (namespace(link.a), ifname(link.a, l)),
                    b: (namespace(link.b), ifname(link.b, l)),
                    shaping: p.bandwidth_bps.map(|rate_bps| Shaping {
                        rate_bps,
                        queue: p.queue,
                    }),
                    daemon_shaped: [link.a, link.b].map(|end| shaped_by_daemon.contains(&(end, l))),
                    not_applied,
                }
            })
            .collect();

        Ok(Plan {
            topology: topology.name.clone(),
            prefix: prefix.to_string(),
            state_dir: state_dir.to_path_buf(),
            nodes,
            links,
        })
    }

    /// Every namespace name, in node order.
    pub fn namespaces(&self) -> impl Iterator<Item = &str> {
        self.nodes.iter().map(|n| n.namespace.as_str())
    }

    /// Nodes that run a daemon.
    pub fn daemons(&self) -> impl Iterator<Item = (&NodePlan, &DaemonPlan)> {
        self.nodes
            .iter()
            .filter_map(|n| n.daemon.as_ref().map(|d| (n, d)))
    }

    /// One sentence per kind of link option that is not applied, naming the links: what a
    /// user must be told instead of silently running a different network.
    pub fn notices(&self) -> Vec<String> {
        let mut delay = Vec::new();
        let mut loss = Vec::new();
        let mut impaired = Vec::new();
        let mut queue = Vec::new();
        for l in &self.links {
            for n in &l.not_applied {
                match *n {
                    NotApplied::Delay(d) => delay.push(format!("{} ({d:?})", l.label)),
                    NotApplied::Loss(p) => loss.push(format!("{} ({}%)", l.label, percent(p))),
                    NotApplied::Impairments => impaired.push(l.label.clone()),
                    NotApplied::QueueWithoutBandwidth(q) => {
                        queue.push(format!("{} ({q} datagrams)", l.label))
                    }
                }
            }
        }
        let mut out = Vec::new();
        if !delay.is_empty() {
            out.push(format!(
                "link delay is not applied (it needs the netem qdisc, which this kernel does not have): {}; use `ants topo emulate` for delays",
                delay.join(", ")
            ));
        }
        if !loss.is_empty() {
            out.push(format!(
                "link loss is not applied (it needs the netem qdisc, which this kernel does not have): {}; use `ants topo emulate` for losses",
                loss.join(", ")
            ));
        }
        if !impaired.is_empty() {
            out.push(format!(
                "link jitter, reordering, duplication and corruption are not applied (they need the netem qdisc, which this kernel does not have): {}; use `ants topo emulate` for them",
                impaired.join(", ")
            ));
        }
        if !queue.is_empty() {
            out.push(format!(
                "a queue length has no effect without a bandwidth: {}",
                queue.join(", ")
            ));
        }
        out
    }
}

/// A probability as a percentage, rounded to 4 decimals (0.02 → "2", not "2.0000000000000004").
fn percent(p: f64) -> f64 {
    (p * 1e6).round() / 1e4
}

/// The software bottlenecks of node `node`'s daemon: for every active neighbour whose IP path
/// starts on a link with a bandwidth, that neighbour, the link and its `rate` (the link's
/// bandwidth) and `queue` (the link's, within the daemon's bounds). Each such neighbour gets
/// the whole rate: several neighbours behind one link together may send more than it carries.
pub fn daemon_shaping(
    topology: &Topology,
    routes: &Routes,
    node: NodeId,
) -> Vec<(NodeId, LinkId, LinkShaping)> {
    routes
        .active_neighbours(node)
        .iter()
        .filter_map(|&m| {
            let first = routes.ip_next_hop(node, m)?;
            let link = topology.link_between(node, first)?;
            let p = &topology.links[link].params;
            let rate_bps = p.bandwidth_bps.filter(|b| *b > 0)?;
            let queue = p.queue.clamp(1, MAX_LINK_QUEUE);
            Some((m, link, LinkShaping { rate_bps, queue }))
        })
        .collect()
}

/// The part of node `node`'s `antsd` configuration the topology decides, shared by the
/// namespace deployer and `ants topo configs` (real hosts): its node address, its active
/// neighbours with the sockets `socket_of` gives them and the bottlenecks toward them
/// ([`daemon_shaping`]), a route to every node through its next
/// active hop, and, as `[peers]`, every other node running a node core that is not a neighbour
/// and whose socket is not the one its address implies (address, port 3322). Without that
/// entry such a node could neither be asked for code nor be named when it asks; with default
/// sockets (namespaces) none is needed.
///
/// What depends on where the daemon runs (comment, `listen`, application socket, driver
/// limits, pins) is the caller's to add.
pub fn daemon_config(
    topology: &Topology,
    routes: &Routes,
    node: NodeId,
    socket_of: &dyn Fn(NodeId) -> SocketAddr,
) -> ConfigWriter {
    let n = &topology.nodes[node];
    let core = routes.node_config(topology, node);
    let neighbours = routes.active_neighbours(node);
    let mut config = ConfigWriter::new(IpAddr::V4(n.address));
    for &m in neighbours {
        config.neighbour(IpAddr::V4(topology.nodes[m].address), socket_of(m));
    }
    for (m, _, shaping) in daemon_shaping(topology, routes, node) {
        config.shape(IpAddr::V4(topology.nodes[m].address), shaping);
    }
    for (m, other) in topology.nodes.iter().enumerate() {
        let implied = SocketAddr::new(IpAddr::V4(other.address), DEFAULT_PORT);
        if m != node
            && other.kind.runs_node_core()
            && !neighbours.contains(&m)
            && socket_of(m) != implied
        {
            config.peer(IpAddr::V4(other.address), socket_of(m));
        }
    }
    for r in &core.routes {
        // Node configurations only route via neighbours (NextHop::Local is never produced).
        if let NextHop::Neighbour(via) = r.next_hop {
            config.route(r.prefix, r.len, via);
        }
    }
    config.liveness(&core.liveness);
    config
}

fn daemon_plan(
    topology: &Topology,
    routes: &Routes,
    node: NodeId,
    state_dir: &Path,
) -> Result<DaemonPlan, PlanError> {
    let n = &topology.nodes[node];
    let app_socket = state_dir.join(format!("{}.sock", n.name));
    let len = app_socket.as_os_str().len();
    if len > MAX_SOCKET_PATH {
        return Err(PlanError::SocketPathTooLong {
            path: app_socket,
            len,
        });
    }
    let listen = SocketAddr::V4(SocketAddrV4::new(n.address, DEFAULT_PORT));
    // In namespaces every node's address is its own and each daemon listens on it.
    let mut config = daemon_config(topology, routes, node, &|m| {
        SocketAddr::new(IpAddr::V4(topology.nodes[m].address), DEFAULT_PORT)
    });
    config
        .comment(format!(
            "antsd of node `{}` ({}) in topology `{}`, written by `ants topo up`.",
            n.name, n.kind, topology.name
        ))
        .listen(listen)
        .app_socket(&app_socket);
    // A namespace topology lives until `down`, which removes only what `up` wrote: compiled
    // code stays in memory.
    config.driver(&DriverLimits {
        code_store: None,
        ..DriverLimits::default()
    });
    let config = config.to_toml();
    Ok(DaemonPlan {
        config_path: state_dir.join(format!("{}.toml", n.name)),
        config,
        app_socket,
        log_path: state_dir.join(format!("{}.log", n.name)),
        listen,
    })
}

#[cfg(test)]
mod tests;
