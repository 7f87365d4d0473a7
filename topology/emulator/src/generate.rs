//! Generated topologies for scale runs, benchmarks and demos.
//!
//! Owns [`campus`]: a legacy IP core, active edge routers around it, and hosts behind each
//! edge, with deterministic names ([`core_name`], [`edge_name`], [`host_name`]) so callers add
//! groups and applications by name; and [`Hierarchy`], the tiered network of the multicast
//! scale benchmark (a source, aggregation and edge tiers of active routers with legacy routers
//! between every two tiers, and a group of member hosts). Both return a [`TopologyBuilder`],
//! not a finished network, so the caller can still add groups, applications and settings
//! before validating.
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

/// A generated network for multicast at scale: the source host `src` behind the active router
/// `se`, a ring of legacy core routers, active aggregation routers (each behind its own legacy
/// uplink router) and active edge routers (behind two legacy distribution routers per
/// aggregation) with member and other hosts. Every tier of active routers is separated from
/// the next by at least two legacy routers, and no router needs more than
/// `MAX_BRANCHES` branches of the `multicast` capsule (`capsules/multicast`) when every edge's
/// members subscribe.
///
/// Names: core `c{i}`; aggregation `a{i}`, its uplink `a{i}u`, its distribution routers
/// `a{i}d` and `a{i}f`; edge `a{i}e{j}`; member `a{i}e{j}m{k}`; other host `a{i}e{j}x{k}`.
/// Members form the group [`Hierarchy::MEMBERS`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Hierarchy {
    /// Legacy core routers in a ring (at least 1).
    pub core: usize,
    /// Active aggregation routers.
    pub aggregations: usize,
    /// Active edge routers per aggregation router.
    pub edges_per_aggregation: usize,
    /// Member hosts per edge router.
    pub members_per_edge: usize,
    /// Other hosts per edge router.
    pub others_per_edge: usize,
}

impl Hierarchy {
    /// Name of the source host.
    pub const SOURCE: &'static str = "src";

    /// The group of member hosts.
    pub const MEMBERS: &'static str = "members";

    /// The scale benchmark's network: 1,026 nodes, 500 members (5 aggregation routers with 10
    /// edges each, 10 members and 9 other hosts per edge, 4 core routers).
    pub const SCALE: Hierarchy = Hierarchy {
        core: 4,
        aggregations: 5,
        edges_per_aggregation: 10,
        members_per_edge: 10,
        others_per_edge: 9,
    };

    /// Nodes the network has.
    pub fn node_count(&self) -> usize {
        let edges = self.aggregations * self.edges_per_aggregation;
        2 + self.core.max(1)
            + self.aggregations * 4
            + edges * (1 + self.members_per_edge + self.others_per_edge)
    }

    /// Member hosts.
    pub fn members(&self) -> usize {
        self.aggregations * self.edges_per_aggregation * self.members_per_edge
    }

    /// The network, named `name`, with `seed`: host links 1 ms, router links 2 ms, core links
    /// 5 ms; lossless, unlimited bandwidth.
    pub fn build(&self, name: &str, seed: u64) -> TopologyBuilder {
        let link = |ms: u64| LinkParams {
            delay: Duration::from_millis(ms),
            ..LinkParams::default()
        };
        let set = LinkOptionsSet {
            delay: true,
            ..LinkOptionsSet::default()
        };
        let core = self.core.max(1);
        let mut b = TopologyBuilder::new(name);
        b.seed(seed);
        b.node(Self::SOURCE, NodeKind::Host, None)
            .node("se", NodeKind::Active, None)
            .link_with(Self::SOURCE, "se", link(1), set);
        for c in 0..core {
            b.node(format!("c{c}"), NodeKind::Legacy, None);
        }
        let ring = match core {
            1 => 0,
            2 => 1,
            n => n,
        };
        for c in 0..ring {
            b.link_with(
                format!("c{c}"),
                format!("c{}", (c + 1) % core),
                link(5),
                set,
            );
        }
        b.link_with("se", "c0", link(2), set);
        for a in 0..self.aggregations {
            let agg = format!("a{a}");
            let (up, d, f) = (format!("{agg}u"), format!("{agg}d"), format!("{agg}f"));
            b.node(agg.clone(), NodeKind::Active, None)
                .node(up.clone(), NodeKind::Legacy, None)
                .node(d.clone(), NodeKind::Legacy, None)
                .node(f.clone(), NodeKind::Legacy, None)
                .link_with(up.clone(), format!("c{}", a % core), link(2), set)
                .link_with(agg.clone(), up, link(2), set)
                .link_with(agg.clone(), d.clone(), link(2), set)
                .link_with(d, f.clone(), link(2), set);
            for e in 0..self.edges_per_aggregation {
                let edge = format!("{agg}e{e}");
                b.node(edge.clone(), NodeKind::Active, None).link_with(
                    edge.clone(),
                    f.clone(),
                    link(2),
                    set,
                );
                for k in 0..self.members_per_edge {
                    let h = format!("{edge}m{k}");
                    b.node(h.clone(), NodeKind::Host, None)
                        .link_with(h.clone(), edge.clone(), link(1), set)
                        .member(Self::MEMBERS, h);
                }
                for k in 0..self.others_per_edge {
                    let h = format!("{edge}x{k}");
                    b.node(h.clone(), NodeKind::Host, None).link_with(
                        h,
                        edge.clone(),
                        link(1),
                        set,
                    );
                }
            }
        }
        b
    }
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

    #[test]
    fn the_scale_network_has_the_promised_shape() {
        let h = Hierarchy {
            core: 3,
            aggregations: 2,
            edges_per_aggregation: 3,
            members_per_edge: 2,
            others_per_edge: 1,
        };
        let t = h.build("h", 1).build().unwrap();
        assert_eq!(t.nodes.len(), h.node_count());
        assert_eq!(t.groups[Hierarchy::MEMBERS].len(), h.members());
        let r = Routes::compute(&t);
        let id = |n: &str| t.node_id(n).unwrap();
        // Member → edge → aggregation → source edge → source, two legacy routers between
        // active tiers.
        assert_eq!(
            r.next_active_hop(id("a1e2m0"), id(Hierarchy::SOURCE)),
            Some(id("a1e2"))
        );
        assert_eq!(
            r.next_active_hop(id("a1e2"), id(Hierarchy::SOURCE)),
            Some(id("a1"))
        );
        assert_eq!(
            r.next_active_hop(id("a1"), id(Hierarchy::SOURCE)),
            Some(id("se"))
        );
        assert_eq!(r.ip_hops(id("a1e2"), id("a1")), Some(3));
        assert!(r.ip_hops(id("a1"), id("se")).unwrap() >= 3);
        assert_eq!(Hierarchy::SCALE.node_count(), 1026);
        assert_eq!(Hierarchy::SCALE.members(), 500);
    }
}
