//! The multicast scenario end to end: the shipped `multicast` capsule on
//! `topology/examples/multicast.toml` in the emulator.
//!
//! Needs the capsules built (`make capsules`).

use std::collections::BTreeSet;
use std::time::Duration;

use ants_scenarios::multicast::{self, Burst, CAPSULE, MEMBERS, Multicast, Plan, Report, SOURCE};
use ants_scenarios::{Scenario, ScenarioOptions, ScenarioReport};
use ants_topology::Topology;
use ants_topology::capsules::CapsuleLocator;
use capsule_multicast::MEMBER_TTL_MS;

/// The repository's built capsules; a clear failure if the multicast one is missing.
fn capsules() -> CapsuleLocator {
    let l = CapsuleLocator::new(None, None);
    l.require(&[CAPSULE]).unwrap_or_else(|e| panic!("{e}"));
    l
}

fn example() -> Topology {
    multicast::load_topology(&ScenarioOptions::default())
        .expect("the example loads")
        .0
}

fn run(plan: Plan, seed: Option<u64>) -> (Multicast, Report) {
    let t = example();
    let mut s = Multicast::new(&t, &capsules(), seed, plan).expect("the scenario builds");
    let r = s.run_to_report().expect("the scenario runs");
    (s, r)
}

/// Data copies on the link `from > to` (0 if the report has no such row).
fn data(r: &Report, from: &str, to: &str) -> u64 {
    r.links
        .iter()
        .find(|l| l.from == from && l.to == to)
        .map_or(0, |l| l.data)
}

/// Sequence numbers `node` received, each once.
fn seqs(s: &Multicast, node: &str) -> Vec<u32> {
    let id = s.emulator().topology().node_id(node).unwrap();
    let log = s.member_log(id).unwrap();
    assert!(log.received.values().all(|&c| c == 1), "{node}: {log:?}");
    log.received.keys().copied().collect()
}

#[test]
fn every_member_gets_every_packet_exactly_once_along_a_tree() {
    let (s, r) = run(Plan::default(), None);
    let t = s.emulator().topology();
    let routes = s.emulator().routes();
    let n = u64::from(Plan::default().packets());
    assert_eq!(r.packets, 20);
    assert_eq!(r.send_errors, 0);

    // Every member: every packet, exactly once.
    assert_eq!(r.receivers.len(), t.groups[MEMBERS].len());
    for rx in &r.receivers {
        assert_eq!(
            (rx.wanted, rx.delivered, rx.duplicates, rx.lost, rx.unwanted),
            (20, 20, 0, 0, 0),
            "{rx:?}"
        );
        assert_eq!(seqs(&s, &rx.node), (0..20).collect::<Vec<u32>>());
    }
    assert!(r.exactly_once);

    // Nothing toward the edge without members: no capsule of the protocol on any of its
    // links, its hosts' links included, and it never loaded the code.
    assert_eq!(r.quiet_edges.len(), 1);
    assert_eq!(r.quiet_edges[0].node, "e5");
    assert_eq!(r.quiet_edges[0].capsules, 0);
    assert!(!r.quiet_edges[0].loaded_code);
    let per_link = s.capsules_per_link();
    for name in ["e5", "x1", "x2"] {
        for &l in t.links_of(t.node_id(name).unwrap()) {
            assert_eq!(per_link[l], [0, 0], "link {l} of {name}");
        }
    }
    assert_eq!(r.stray_capsules, 0);

    // Multicast against unicast fan-out (per member: packets × IP hops from the source).
    let src = t.node_id(SOURCE).unwrap();
    let unicast: u64 = t.groups[MEMBERS]
        .iter()
        .map(|&m| n * routes.ip_hops(src, m).unwrap() as u64)
        .sum();
    assert_eq!(r.totals.unicast, unicast);
    assert!(
        r.totals.multicast < r.totals.unicast,
        "{} multicast copies, {} unicast",
        r.totals.multicast,
        r.totals.unicast
    );
    // The source's first link carries each packet once, not once per member.
    let sl = r.source_link.as_ref().unwrap();
    assert_eq!(sl.link, "src -- e0");
    assert_eq!(sl.copies.multicast, n);
    assert_eq!(sl.copies.unicast, n * 10);
    assert_eq!(data(&r, "src", "e0"), n);
    // Each member's own link carries each packet once; e0 sends one copy per member edge.
    for rx in &r.receivers {
        assert_eq!(data(&r, &rx.edge, &rx.node), n, "{} > {}", rx.edge, rx.node);
    }
    assert_eq!(data(&r, "e0", "c1"), 4 * n);
    assert_eq!(r.totals.multicast, 500);
    assert_eq!(r.totals.unicast, 1080);

    // The code was demand-loaded at every active node on the tree, from an overlay neighbour,
    // after that neighbour had it.
    let on_tree: BTreeSet<String> = r
        .links
        .iter()
        .filter(|l| l.data > 0)
        .flat_map(|l| [l.from.clone(), l.to.clone()])
        .filter(|n| t.nodes[t.node_id(n).unwrap()].kind == ants_topology::NodeKind::Active)
        .collect();
    assert_eq!(
        on_tree.iter().map(String::as_str).collect::<Vec<_>>(),
        ["e0", "e1", "e2", "e3", "e4"]
    );
    for node in &on_tree {
        let load = r
            .code_loading
            .iter()
            .find(|l| &l.node == node)
            .unwrap_or_else(|| panic!("{node} never loaded the code"));
        assert_ne!(load.from, "registered", "{node}");
        let id = t.node_id(node).unwrap();
        let from = t.node_id(&load.from).unwrap();
        assert!(routes.active_neighbours(id).contains(&from), "{load:?}");
        let earlier = r.code_loading.iter().find(|l| l.node == load.from).unwrap();
        assert!(earlier.at_ms < load.at_ms, "{earlier:?} then {load:?}");
        assert!(load.at_ms >= r.compile_delay_ms);
    }
    // Registered where the applications run: the source and every member.
    let registered = r
        .code_loading
        .iter()
        .filter(|l| l.from == "registered")
        .count();
    assert_eq!(registered, 11);

    let table = r.table();
    assert!(table.contains("exactly once"), "{table}");
    assert!(table.contains("src -- e0"), "{table}");
}

#[test]
fn the_same_seed_gives_the_same_report() {
    let (_, a) = run(Plan::default(), Some(3));
    let (_, b) = run(Plan::default(), Some(3));
    assert_eq!(a.seed, 3);
    assert_eq!(
        serde_json::to_string(&a).unwrap(),
        serde_json::to_string(&b).unwrap()
    );
    assert_eq!(a.table(), b.table());
    assert_eq!(a.per_link, b.per_link);
}

#[test]
fn members_that_leave_are_pruned() {
    // h1 leaves (its edge e1 keeps h2 and h3); h9 and h10, all of e4's members, leave too, so
    // e4 leaves the tree. Ten packets before the leaves, ten after.
    let ms = Duration::from_millis;
    let plan = Plan {
        bursts: vec![
            Burst {
                start: ms(500),
                packets: 10,
            },
            Burst {
                start: ms(1500),
                packets: 10,
            },
        ],
        leaves: ["h1", "h9", "h10"]
            .into_iter()
            .map(|n| (n.to_string(), ms(1000)))
            .collect(),
        ..Plan::default()
    };
    let (s, r) = run(plan, None);
    assert!(r.exactly_once, "{}", r.table());
    for rx in &r.receivers {
        let stays = !["h1", "h9", "h10"].contains(&rx.node.as_str());
        let wanted = if stays { 20 } else { 10 };
        assert_eq!(
            (rx.wanted, rx.delivered, rx.unwanted),
            (wanted, wanted, 0),
            "{rx:?}"
        );
        assert_eq!(seqs(&s, &rx.node), (0..wanted).collect::<Vec<u32>>());
    }
    // h1's branch is gone from e1; e1 stays on the tree for h2 and h3.
    assert_eq!(data(&r, "e1", "h1"), 10);
    assert_eq!(data(&r, "e1", "h2"), 20);
    assert_eq!(data(&r, "c2", "e1"), 20);
    // e4 lost its last member: its branch at e0 is gone, so the core stops carrying copies
    // toward it.
    assert_eq!(data(&r, "e4", "h9"), 10);
    assert_eq!(data(&r, "c5", "e4"), 10);
    assert_eq!(data(&r, "c4", "c5"), 10);
    assert_eq!(data(&r, "e0", "c1"), 4 * 10 + 3 * 10);
}

#[test]
fn a_silent_member_expires_after_the_ttl() {
    // h4 subscribes once and then stays silent; the others refresh every 10 s. The second
    // burst leaves after h4's branches expired.
    let ms = Duration::from_millis;
    let later = ms(MEMBER_TTL_MS + 5_000);
    let plan = Plan {
        bursts: vec![
            Burst {
                start: ms(500),
                packets: 5,
            },
            Burst {
                start: later,
                packets: 5,
            },
        ],
        silences: vec![("h4".into(), ms(1000))],
        ..Plan::default()
    };
    let (s, r) = run(plan, None);
    assert!(r.exactly_once, "{}", r.table());
    let h4 = r.receivers.iter().find(|x| x.node == "h4").unwrap();
    assert!(h4.silent);
    assert_eq!(h4.subscribes, 1);
    assert_eq!((h4.wanted, h4.delivered, h4.unwanted), (5, 5, 0));
    assert_eq!(seqs(&s, "h4"), (0..5).collect::<Vec<u32>>());
    for rx in r.receivers.iter().filter(|x| x.node != "h4") {
        assert_eq!(rx.delivered, 10, "{rx:?}");
        assert_eq!(rx.subscribes, 4, "{rx:?}: at 0, 10, 20 and 30 s");
    }
    assert_eq!(data(&r, "e2", "h4"), 5);
    assert_eq!(data(&r, "e2", "h5"), 10);
    assert_eq!(data(&r, "c3", "e2"), 10);
}
