//! Building a [`Topology`] from names: [`TopologyBuilder`] collects nodes, links, groups and
//! applications ([`AppDraft`]) as a file or a program names them, then validates them and
//! assigns every address not given.
//!
//! It must never hand out a topology that failed a check (names, link ends, parameters,
//! connectivity, address clashes): [`TopologyBuilder::build`] returns the first
//! [`TopologyError`] instead, naming the node or link at fault. It reads no files and computes
//! no routes.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::net::Ipv4Addr;
use std::time::Duration;

use super::{
    AppSpec, EmulatorSettings, Event, EventDraft, Link, LinkId, LinkOptionsSet, LinkParams, Node,
    NodeId, NodeKind, Pool, ScriptedApp, Target, Topology, TopologyError,
};

/// A scripted application as named in a file, before node names are resolved: node names,
/// and a node or group name as a `send`'s destination.
pub type AppDraft = ScriptedApp<String, String>;

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
    events: Vec<EventDraft>,
    emulator: EmulatorSettings,
    hello_interval: Option<Duration>,
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
            events: Vec::new(),
            emulator: EmulatorSettings::default(),
            hello_interval: None,
        }
    }

    /// Turns liveness and overlay routing on for every node core, saying hello every
    /// `interval` (`None`: off).
    pub fn hello_interval(&mut self, interval: Option<Duration>) -> &mut Self {
        self.hello_interval = interval;
        self
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

    /// Adds a scripted event (nodes and links by name).
    pub fn event(&mut self, event: EventDraft) -> &mut Self {
        self.events.push(event);
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

        let mut events = Vec::with_capacity(self.events.len());
        for (index, e) in self.events.into_iter().enumerate() {
            let place = || format!("event {index}");
            let node = |name: &str| -> Result<NodeId, TopologyError> {
                let id = lookup(&place, name)?;
                if !nodes[id].kind.runs_node_core() {
                    return Err(TopologyError::EventOnLegacy {
                        index,
                        kind: e.kind(),
                        node: name.to_string(),
                    });
                }
                Ok(id)
            };
            let link = |(a, b): &(String, String)| -> Result<LinkId, TopologyError> {
                let (x, y) = (lookup(&place, a)?, lookup(&place, b)?);
                adjacency[x]
                    .iter()
                    .copied()
                    .find(|&l| links[l].other(x) == y)
                    .ok_or_else(|| TopologyError::UnknownLink {
                        index,
                        a: a.clone(),
                        b: b.clone(),
                    })
            };
            events.push(match &e {
                EventDraft::LinkDown { at, link: l } => Event::LinkDown {
                    at: *at,
                    link: link(l)?,
                },
                EventDraft::LinkUp { at, link: l } => Event::LinkUp {
                    at: *at,
                    link: link(l)?,
                },
                EventDraft::LinkSet {
                    at,
                    link: l,
                    delay,
                    loss,
                    bandwidth_bps,
                } => Event::LinkSet {
                    at: *at,
                    link: link(l)?,
                    delay: *delay,
                    loss: *loss,
                    bandwidth_bps: *bandwidth_bps,
                },
                EventDraft::NodeDown { at, node: n } => Event::NodeDown {
                    at: *at,
                    node: node(n)?,
                },
                EventDraft::NodeUp { at, node: n } => Event::NodeUp {
                    at: *at,
                    node: node(n)?,
                },
            });
        }
        // Time order; a stable sort keeps the file's order for ties.
        events.sort_by_key(Event::at);

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
            events,
            emulator: self.emulator,
            hello_interval: self.hello_interval,
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
mod tests;
