//! Neighbour liveness and overlay routing in the emulator: when an active router on the way
//! dies and the network leaves another way, capsules go around it within 3 s; when it comes
//! back, they return through it and its code loads again on demand; nothing is lost without
//! a counter.

use std::time::Duration;

use ants_emulator::{Emulator, EmulatorOptions};
use ants_router::node::DEFAULT_HELLO_INTERVAL;
use ants_router::time::Timestamp;
use ants_topology::capsules::CapsuleLocator;
use ants_topology::model::{AppDraft, NodeKind, TopologyBuilder};
use ants_topology::{Routes, Topology};

const INTERVAL: Duration = Duration::from_millis(20);

/// s - a - d and s - b - d, all active; s sends a forward capsule to d every 20 ms for 12 s.
fn diamond() -> Topology {
    let mut b = TopologyBuilder::new("diamond");
    for n in ["s", "a", "b", "d"] {
        b.node(n, NodeKind::Active, None);
    }
    b.link("s", "a")
        .link("s", "b")
        .link("a", "d")
        .link("b", "d")
        .hello_interval(Some(DEFAULT_HELLO_INTERVAL))
        .app(AppDraft::Send {
            node: "s".into(),
            protocol: "forward".into(),
            to: "d".into(),
            count: 600,
            interval: INTERVAL,
            start: Duration::ZERO,
            budget: 16,
            payload: vec![7; 32],
        });
    b.build().unwrap()
}

/// Arrival times at d of the capsules, in order.
fn arrivals(emu: &Emulator, d: usize) -> Vec<Timestamp> {
    emu.delivered()
        .iter()
        .filter(|x| x.node == d)
        .map(|x| x.at)
        .collect()
}

#[test]
fn capsules_go_around_a_dead_active_router_within_3_s_and_come_back() {
    let t = diamond();
    let routes = Routes::compute(&t);
    let capsules = CapsuleLocator::new(None, None);
    capsules
        .require(&["forward"])
        .unwrap_or_else(|e| panic!("{e}"));
    let mut emu = Emulator::new(&t, &routes, &capsules, EmulatorOptions::default()).unwrap();
    emu.record_deliveries();
    emu.record_trace();
    let (s, d) = (t.node_id("s").unwrap(), t.node_id("d").unwrap());
    emu.run_for(Duration::from_secs(2));
    // The router s's capsules cross now.
    let via = routes.next_active_hop(s, d).unwrap();
    let other = [t.node_id("a").unwrap(), t.node_id("b").unwrap()]
        .into_iter()
        .find(|&n| n != via)
        .unwrap();
    assert!(emu.node(other).unwrap().stats().capsules_received == 0);

    let killed_at = emu.now();
    emu.node_down(via).unwrap();
    emu.run_for(Duration::from_secs(4));
    let times = arrivals(&emu, d);
    let before = times.iter().filter(|&&t| t <= killed_at).count();
    let first_after = times[before];
    let outage = first_after.saturating_duration_since(killed_at);
    eprintln!("first capsule at d {outage:?} after its router died");
    assert!(outage < Duration::from_secs(3), "rerouted after {outage:?}");
    assert!(
        emu.node(other).unwrap().stats().capsules_received > 0,
        "the other router carries them"
    );
    let down = emu.neighbour_changes();
    assert!(down.iter().any(|c| c.node == s && !c.up), "{down:?}");

    // Back up: traffic returns through it, and it loads the code again on demand.
    let up_at = emu.now();
    emu.node_up(via).unwrap();
    emu.run_for(Duration::from_secs(3));
    let back = emu.node(via).unwrap().stats();
    assert!(back.capsules_received > 0, "traffic returned");
    assert_eq!(back.loads_completed, 1, "code loaded again on demand");
    assert!(emu.neighbour_changes().iter().any(|c| c.node == s && c.up));

    // Everything s sent is delivered or counted: the capsules sent to the dead router are
    // among its down drops (with the hellos its neighbours sent it meanwhile).
    emu.run_for(Duration::from_secs(4));
    let sent = emu.node(s).unwrap().stats().capsules_injected;
    let delivered = arrivals(&emu, d).len() as u64;
    let dead = std::net::IpAddr::V4(t.nodes[via].address);
    let to_the_dead = emu
        .trace()
        .iter()
        .filter(|r| r.to == dead && r.at >= killed_at && r.at < up_at && r.bytes[3] == 1)
        .count() as u64;
    let dropped: u64 = (0..t.nodes.len())
        .filter_map(|n| emu.node(n))
        .map(|n| n.stats().drops.total())
        .sum();
    assert_eq!(sent, 600);
    assert!(to_the_dead > 0 && to_the_dead <= emu.down_drops(via));
    assert_eq!(
        sent,
        delivered + to_the_dead + dropped,
        "delivered {delivered}, sent to the dead router {to_the_dead}, counted drops {dropped}"
    );
}
