//! Routes computed from a [`Topology`]: IP shortest paths and the active overlay.
//!
//! Owns two tables, both derived only from the graph:
//! - **IP forwarding** (what legacy routers and the kernel do): shortest paths by hop count,
//!   ties broken by link order, so the result is the same on every run;
//! - **the active overlay** (what the node cores get): for every node that runs a node core
//!   (hosts and active routers), its *active neighbours* (node-core nodes it reaches through
//!   legacy routers only) and, for every other node-core node, the *next active hop*: the first
//!   node-core node on the IP shortest path toward it. A capsule therefore follows the IP path
//!   and is evaluated at every active node on it; legacy routers in between only see UDP.
//!
//! It never runs anything or reads files; the emulator, the namespace deployer and the
//! generated `antsd` configurations all take their tables from here.

use std::collections::VecDeque;
use std::net::IpAddr;

use ants_router::node::{LivenessLimits, NodeConfig};
use ants_router::routing::{NextHop, Route};

use crate::model::{NodeId, NodeKind, Topology};

const NONE: u32 = u32::MAX;

/// The computed tables. See the module docs.
#[derive(Clone, Debug)]
pub struct Routes {
    /// `ip_next[dest][node]`: the neighbour `node` sends to on its way to `dest`.
    ip_next: Vec<Vec<u32>>,
    /// `ip_dist[dest][node]`: hops from `node` to `dest`.
    ip_dist: Vec<Vec<u32>>,
    /// `active_next[dest][node]`: next node-core node on the way from `node` to `dest`.
    active_next: Vec<Vec<u32>>,
    /// Active neighbours of each node-core node (empty for legacy routers), in node order.
    active_neighbours: Vec<Vec<NodeId>>,
}

impl Routes {
    /// Computes every table: one breadth-first search per node, O(n · (n + links)).
    pub fn compute(t: &Topology) -> Routes {
        let n = t.nodes.len();
        let core = |x: usize| t.nodes[x].kind.runs_node_core();
        let mut ip_next = Vec::with_capacity(n);
        let mut ip_dist = Vec::with_capacity(n);
        let mut active_next = Vec::with_capacity(n);
        let mut queue = VecDeque::with_capacity(n);
        for dest in 0..n {
            // BFS rooted at the destination: a node's parent is its next hop toward `dest`.
            let mut next = vec![NONE; n];
            let mut dist = vec![NONE; n];
            let mut first_core = vec![NONE; n];
            dist[dest] = 0;
            first_core[dest] = dest as u32;
            queue.clear();
            queue.push_back(dest);
            while let Some(x) = queue.pop_front() {
                for (_, y) in t.neighbours(x) {
                    if dist[y] == NONE {
                        dist[y] = dist[x] + 1;
                        next[y] = x as u32;
                        // The first node-core node met walking from y toward dest, y excluded.
                        first_core[y] = if core(x) { x as u32 } else { first_core[x] };
                        queue.push_back(y);
                    }
                }
            }
            let mut active = vec![NONE; n];
            if core(dest) {
                for x in 0..n {
                    if x != dest && core(x) {
                        active[x] = first_core[x];
                    }
                }
            }
            ip_next.push(next);
            ip_dist.push(dist);
            active_next.push(active);
        }
        let active_neighbours = (0..n)
            .map(|x| {
                if core(x) {
                    overlay_neighbours(t, x)
                } else {
                    Vec::new()
                }
            })
            .collect();
        Routes {
            ip_next,
            ip_dist,
            active_next,
            active_neighbours,
        }
    }

    /// The neighbour `from` forwards to on the shortest IP path to `to`; `None` if `from == to`.
    pub fn ip_next_hop(&self, from: NodeId, to: NodeId) -> Option<NodeId> {
        let v = *self.ip_next.get(to)?.get(from)?;
        (v != NONE).then_some(v as usize)
    }

    /// Hops on the shortest IP path.
    pub fn ip_hops(&self, from: NodeId, to: NodeId) -> Option<usize> {
        let v = *self.ip_dist.get(to)?.get(from)?;
        (v != NONE).then_some(v as usize)
    }

    /// Every node on the shortest IP path, both ends included.
    pub fn ip_path(&self, from: NodeId, to: NodeId) -> Vec<NodeId> {
        let mut path = vec![from];
        let mut x = from;
        while let Some(y) = self.ip_next_hop(x, to) {
            path.push(y);
            x = y;
        }
        path
    }

    /// The next node-core node on the way from `from` to `to`; `None` if either end is a legacy
    /// router or `from == to`.
    pub fn next_active_hop(&self, from: NodeId, to: NodeId) -> Option<NodeId> {
        let v = *self.active_next.get(to)?.get(from)?;
        (v != NONE).then_some(v as usize)
    }

    /// Active neighbours of a node-core node (reached through legacy routers only).
    pub fn active_neighbours(&self, node: NodeId) -> &[NodeId] {
        self.active_neighbours.get(node).map_or(&[], Vec::as_slice)
    }

    /// The node-core configuration of `node`: its address, active neighbours, and a host route
    /// to every other node-core node via the next active hop. A host with a single active
    /// neighbour also gets a default route through it, so capsules can name addresses outside
    /// the topology (anycast, private) and still leave the host. Limits are the defaults; a
    /// driver that changes them (the emulator's options) has them checked by
    /// [`NodeConfig::validate`] when the node is built, as the daemon's file is.
    pub fn node_config(&self, t: &Topology, node: NodeId) -> NodeConfig {
        let address = IpAddr::V4(t.nodes[node].address);
        let mut config = NodeConfig::new(address);
        config.neighbours = self
            .active_neighbours(node)
            .iter()
            .map(|&m| IpAddr::V4(t.nodes[m].address))
            .collect();
        for dest in 0..t.nodes.len() {
            if let Some(via) = self.next_active_hop(node, dest) {
                config.routes.push(Route {
                    prefix: IpAddr::V4(t.nodes[dest].address),
                    len: 32,
                    next_hop: NextHop::Neighbour(IpAddr::V4(t.nodes[via].address)),
                });
            }
        }
        if t.nodes[node].kind == NodeKind::Host
            && let [edge] = self.active_neighbours(node)
        {
            config.routes.push(Route {
                prefix: IpAddr::V4(std::net::Ipv4Addr::UNSPECIFIED),
                len: 0,
                next_hop: NextHop::Neighbour(IpAddr::V4(t.nodes[*edge].address)),
            });
        }
        if let Some(interval) = t.hello_interval {
            config.liveness = LivenessLimits::every(interval);
        }
        config
    }
}

/// Node-core nodes reachable from `from` through legacy routers only, in node order.
fn overlay_neighbours(t: &Topology, from: NodeId) -> Vec<NodeId> {
    let mut seen = vec![false; t.nodes.len()];
    seen[from] = true;
    let mut stack = vec![from];
    let mut found = Vec::new();
    while let Some(x) = stack.pop() {
        for (_, y) in t.neighbours(x) {
            if seen[y] {
                continue;
            }
            seen[y] = true;
            if t.nodes[y].kind.runs_node_core() {
                found.push(y);
            } else {
                stack.push(y);
            }
        }
    }
    found.sort_unstable();
    found
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::TopologyBuilder;

    /// h1 - a1 - l1 - l2 - a2 - h2, plus a detour a1 - l3 - a2 that is one hop shorter.
    fn net(detour: bool) -> Topology {
        let mut b = TopologyBuilder::new("t");
        b.node("h1", NodeKind::Host, None)
            .node("a1", NodeKind::Active, None)
            .node("l1", NodeKind::Legacy, None)
            .node("l2", NodeKind::Legacy, None)
            .node("a2", NodeKind::Active, None)
            .node("h2", NodeKind::Host, None)
            .link("h1", "a1")
            .link("a1", "l1")
            .link("l1", "l2")
            .link("l2", "a2")
            .link("a2", "h2");
        if detour {
            b.node("l3", NodeKind::Legacy, None)
                .link("a1", "l3")
                .link("l3", "a2");
        }
        b.build().unwrap()
    }

    #[test]
    fn ip_paths_are_shortest() {
        let t = net(false);
        let r = Routes::compute(&t);
        assert_eq!(r.ip_path(0, 5), vec![0, 1, 2, 3, 4, 5]);
        assert_eq!(r.ip_hops(0, 5), Some(5));
        assert_eq!(r.ip_next_hop(3, 0), Some(2));
        assert_eq!(r.ip_next_hop(3, 3), None);
        let t = net(true);
        let r = Routes::compute(&t);
        assert_eq!(r.ip_path(0, 5), vec![0, 1, 6, 4, 5]);
        assert_eq!(r.ip_path(5, 0), vec![5, 4, 6, 1, 0]);
    }

    #[test]
    fn overlay_crosses_legacy_routers() {
        let t = net(false);
        let r = Routes::compute(&t);
        assert_eq!(r.active_neighbours(1), &[0, 4]);
        assert_eq!(r.active_neighbours(0), &[1]);
        assert_eq!(r.active_neighbours(2), &[] as &[usize]);
        assert_eq!(r.next_active_hop(0, 5), Some(1));
        assert_eq!(r.next_active_hop(1, 5), Some(4));
        assert_eq!(r.next_active_hop(4, 5), Some(5));
        assert_eq!(
            r.next_active_hop(1, 2),
            None,
            "legacy routers are no destination"
        );
        assert_eq!(
            r.next_active_hop(2, 5),
            None,
            "legacy routers have no overlay table"
        );
    }

    #[test]
    fn node_config_has_host_routes_and_a_default_on_hosts() {
        let t = net(false);
        let r = Routes::compute(&t);
        let c = r.node_config(&t, 0);
        assert_eq!(c.neighbours, vec![IpAddr::V4(t.nodes[1].address)]);
        // a1, a2, h2 by host route, plus the default.
        assert_eq!(c.routes.len(), 4);
        assert!(c.routes.iter().any(|r| r.len == 0));
        let c = r.node_config(&t, 1);
        assert_eq!(c.routes.len(), 3);
        assert!(c.routes.iter().all(|r| r.len == 32));
        // Every route's next hop is a neighbour, so the node accepts the table.
        for n in [0, 1, 4, 5] {
            ants_router::node::Node::new(r.node_config(&t, n)).unwrap();
        }
    }

    #[test]
    fn node_configs_are_valid_and_a_bad_limit_refuses_the_node() {
        use ants_router::node::{Node, NodeError};
        let t = net(false);
        let r = Routes::compute(&t);
        r.node_config(&t, 1).validate().unwrap();
        // What a driver (the emulator's options) may change is checked like the daemon's file.
        let mut c = r.node_config(&t, 1);
        c.demand.max_concurrent_loads = 0;
        match Node::new(c) {
            Err(NodeError::Limit(e)) => assert_eq!(e.path(), "demand.max_concurrent_loads"),
            other => panic!("accepted or refused for another reason: {:?}", other.err()),
        }
    }
}
