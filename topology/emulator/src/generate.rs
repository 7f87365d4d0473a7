//! Generated topologies for scale runs, benchmarks and demos.
//!
//! Owns [`campus`]: a legacy IP core, active edge routers around it, and hosts behind each
//! edge, with deterministic names ([`core_name`], [`edge_name`], [`host_name`]) so callers add
//! groups and applications by name. It returns a [`TopologyBuilder`], not a finished network,
//! so the caller can still add groups, applications and settings before validating.
//!
//! It never runs anything or reads files.

use std::time::Duration;

use ants_topology::model::{LinkOptionsSet, LinkParams, NodeKind, TopologyBuilder};

/// Shape and link properties of a [`campus`].
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Campus {
    /// Active edge routers.
    pub edges: usize,
    /// Hosts behind each edge router.
    pub hosts_per_edge: usize,
    /// Legacy core routers (in a ring; at least 1).
    pub core: usize,
    /// Links between core routers.
    pub core_link: LinkParams,
    /// Links from an edge router to its core router.
    pub uplink: LinkParams,
    /// Links from a host to its edge router.
    pub access: LinkParams,
}

impl Campus {
    /// `edges` edge routers with `hosts_per_edge` hosts each around `core` legacy routers;
    /// core links 2 ms, uplinks 1 ms, access links 0.5 ms, all lossless and unlimited.
    pub fn new(edges: usize, hosts_per_edge: usize, core: usize) -> Self {
        let link = |ms: u64| LinkParams {
            delay: Duration::from_micros(ms),
            ..LinkParams::default()
        };
        Campus {
            edges,
            hosts_per_edge,
            core: core.max(1),
            core_link: link(2_000),
            uplink: link(1_000),
            access: link(500),
        }
    }

    /// Nodes the campus has.
    pub fn node_count(&self) -> usize {
        self.core + self.edges * (1 + self.hosts_per_edge)
    }

    /// The builder of this campus, named `name`, with `seed`.
    pub fn build(&self, name: &str, seed: u64) -> TopologyBuilder {
        let explicit = LinkOptionsSet {
            delay: true,
            ..LinkOptionsSet::default()
        };
        let mut b = TopologyBuilder::new(name);
        b.seed(seed);
        for c in 0..self.core {
            b.node(core_name(c), NodeKind::Legacy, None);
        }
        // A ring (one link for two routers, none for one).
        let ring = match self.core {
            1 => 0,
            2 => 1,
            n => n,
        };
        for c in 0..ring {
            b.link_with(
                core_name(c),
                core_name((c + 1) % self.core),
                self.core_link,
                explicit,
            );
        }
        for e in 0..self.edges {
            b.node(edge_name(e), NodeKind::Active, None);
            b.link_with(
                edge_name(e),
                core_name(e % self.core),
                self.uplink,
                explicit,
            );
            for h in 0..self.hosts_per_edge {
                b.node(host_name(e, h), NodeKind::Host, None);
                b.link_with(host_name(e, h), edge_name(e), self.access, explicit);
            }
        }
        b
    }
}

/// A campus of `edges` active edge routers with `hosts_per_edge` hosts each, around a ring of
/// `core` legacy routers (edge `e` hangs off core router `e % core`), with [`Campus::new`]'s
/// link properties and seed 1. `campus(30, 32, 10)` has 1,000 nodes.
///
/// ```
/// use ants_emulator::generate::{campus, host_name};
/// let mut b = campus(3, 2, 2);
/// b.member("all", host_name(0, 0)).member("all", host_name(2, 1));
/// let t = b.build().unwrap();
/// assert_eq!(t.nodes.len(), 2 + 3 * 3);
/// assert_eq!(t.groups["all"].len(), 2);
/// ```
pub fn campus(edges: usize, hosts_per_edge: usize, core: usize) -> TopologyBuilder {
    Campus::new(edges, hosts_per_edge, core).build("campus", 1)
}

/// Name of core router `i`: `c0`, `c1`, ...
pub fn core_name(i: usize) -> String {
    format!("c{i}")
}

/// Name of edge router `e`: `e0`, `e1`, ...
pub fn edge_name(e: usize) -> String {
    format!("e{e}")
}

/// Name of host `h` behind edge `e`: `e0h0`, `e0h1`, ...
pub fn host_name(e: usize, h: usize) -> String {
    format!("e{e}h{h}")
}

#[cfg(test)]
mod tests {
    use super::*;
    use ants_topology::routes::Routes;

    #[test]
    fn a_thousand_nodes_with_hosts_behind_active_edges() {
        let t = campus(30, 32, 10).build().unwrap();
        assert_eq!(t.nodes.len(), 1000);
        assert_eq!(t.nodes_of(NodeKind::Legacy).count(), 10);
        assert_eq!(t.nodes_of(NodeKind::Active).count(), 30);
        assert_eq!(t.links.len(), 10 + 30 + 960);
        let r = Routes::compute(&t);
        let (h, far) = (
            t.node_id(&host_name(0, 0)).unwrap(),
            t.node_id(&host_name(15, 3)).unwrap(),
        );
        // Host, edge, legacy core ..., edge, host: the active path is host, edge, edge, host.
        assert_eq!(r.next_active_hop(h, far), t.node_id("e0"));
        assert_eq!(
            r.next_active_hop(t.node_id("e0").unwrap(), far),
            t.node_id("e15")
        );
    }

    #[test]
    fn small_cores_have_no_parallel_links() {
        for core in [1, 2, 3] {
            let t = campus(4, 1, core).build().unwrap();
            assert_eq!(t.nodes.len(), core + 8);
        }
    }
}
