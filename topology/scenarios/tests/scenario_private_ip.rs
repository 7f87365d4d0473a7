//! The private IP scenario end to end: the shipped `private-ip` capsule on
//! `topology/examples/private-ip.toml` in the emulator; private packets cross a public core
//! of legacy routers between edges, unknown destinations are refused at the edge.
//!
//! Needs the capsules built (`make capsules`).

use ants_scenarios::private_ip::{self, CAPSULE, Plan, PrivateIp, Report};
use ants_scenarios::{Scenario, ScenarioOptions, ScenarioReport};
use ants_topology::capsules::CapsuleLocator;

/// The repository's built capsules; a clear failure if the private IP one is missing.
fn capsules() -> CapsuleLocator {
    let l = CapsuleLocator::new(None, None);
    l.require(&[CAPSULE]).unwrap_or_else(|e| panic!("{e}"));
    l
}

fn run(plan: Plan) -> (PrivateIp, Report) {
    let t = ScenarioOptions::default()
        .load(private_ip::EXAMPLE)
        .expect("the example loads")
        .topology;
    let mut s = PrivateIp::new(&t, &capsules(), None, plan).expect("the scenario builds");
    let r = s.run_to_report().expect("the scenario runs");
    (s, r)
}

#[test]
fn private_packets_cross_the_public_core_and_unknown_ones_are_refused() {
    let plan = Plan::default();
    let (s, r) = run(plan.clone());
    println!("{}", r.table());

    // Three sites, each announced once (the run is shorter than the announcement period).
    let prefixes: Vec<&str> = r.sites.iter().map(|s| s.prefix.as_str()).collect();
    assert_eq!(
        prefixes,
        ["192.168.1.0/24", "192.168.2.0/24", "192.168.3.0/24"]
    );
    assert_eq!(r.announcements, vec![1, 1, 1]);

    // Every ordered site pair: 2 hosts x 2 hosts x 20 rounds, all carried and all delivered,
    // with their private addresses, at the right site.
    assert_eq!(r.pairs.len(), 6);
    for p in &r.pairs {
        assert_eq!((p.sent, p.carried, p.delivered), (80, 80, 80), "{p:?}");
    }
    assert_eq!(r.misdelivered, 0);
    let t = s.emulator().topology();
    for site in s.sites() {
        let log = s.edge_log(t.node_id(&site.edge).unwrap()).unwrap();
        assert_eq!(log.arrived.len(), 160, "{}", site.edge);
        assert!(log.arrived.iter().all(|a| site.hosts.contains(&a.dst)));
        assert_eq!(log.foreign + log.send_errors, 0);
    }

    // Unknown destinations: refused at the ingress edge, nothing sent for them, each counted
    // by the node (and nothing else failed there).
    for row in &r.refused {
        assert_eq!((row.sent, row.refused, row.leaked), (2, 2, 0), "{row:?}");
        assert_eq!(row.node_counter, 2, "{row:?}");
    }

    // The public core: legacy routers forwarded what arrived, all of it capsules of the
    // protocol between edges, no code (every edge registered it), nothing else.
    assert!(r.public_addresses_only);
    assert_eq!(r.legacy.len(), 4);
    let mut forwarded = 0;
    for l in &r.legacy {
        assert_eq!(l.forwarded, l.arrived, "{l:?}");
        assert_eq!(
            (l.unroutable, l.code_frames, l.other_frames, l.unparsed),
            (0, 0, 0, 0),
            "{l:?}"
        );
        forwarded += l.forwarded;
    }
    assert!(
        forwarded > r.sent(),
        "every packet crosses at least one legacy router"
    );
}

#[test]
fn the_same_seed_gives_the_same_report() {
    let plan = Plan {
        rounds: 5,
        ..Plan::default()
    };
    let (_, a) = run(plan.clone());
    let (_, b) = run(plan);
    assert_eq!(a, b);
}
