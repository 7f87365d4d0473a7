//! Unit tests of the parent module.

use super::*;

#[test]
fn the_built_in_example_is_valid() {
    let t = ants_topology::file::parse(EXAMPLE_TOML, Path::new("multicast.toml")).unwrap();
    assert_eq!(t.groups[MEMBERS].len(), 10);
    assert!(t.node_id(SOURCE).is_some());
}

#[test]
fn plans_add_up() {
    let p = Plan::default();
    assert_eq!(p.packets(), 20);
    assert_eq!(p.last_packet(), Duration::from_millis(500 + 19 * 20));
    assert_eq!(p.end(), Duration::from_millis(1380));
    let big = Plan {
        payload_len: MAX_DATA + 1,
        ..Plan::default()
    };
    assert!(big.check().is_err());
}

#[test]
fn bursts_number_packets_on() {
    let s = MulticastSource::new(
        1,
        vec![
            Burst {
                start: Duration::ZERO,
                packets: 3,
            },
            Burst {
                start: Duration::from_secs(1),
                packets: 2,
            },
        ],
        Duration::from_millis(1),
        8,
    );
    assert_eq!(s.firsts, vec![0, 3]);
    let last: Vec<bool> = (0..5).map(|q| s.last_of_burst(q)).collect();
    assert_eq!(last, vec![false, false, true, false, true]);
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
    assert_eq!(t.groups[MEMBERS].len(), h.members());
    let r = Routes::compute(&t);
    let id = |n: &str| t.node_id(n).unwrap();
    // Member → edge → aggregation → source edge → source, two legacy routers between
    // active tiers.
    assert_eq!(
        r.next_active_hop(id("a1e2m0"), id(SOURCE)),
        Some(id("a1e2"))
    );
    assert_eq!(r.next_active_hop(id("a1e2"), id(SOURCE)), Some(id("a1")));
    assert_eq!(r.next_active_hop(id("a1"), id(SOURCE)), Some(id("se")));
    assert_eq!(r.ip_hops(id("a1e2"), id("a1")), Some(3));
    assert!(r.ip_hops(id("a1"), id("se")).unwrap() >= 3);
    assert_eq!(Hierarchy::SCALE.node_count(), 1026);
    assert_eq!(Hierarchy::SCALE.members(), 500);
}
