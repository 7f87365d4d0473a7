//! The anycast scenario end to end: the shipped `anycast` capsule on
//! `topology/examples/anycast.toml` in the emulator; data reaches the nearest live member, and
//! the next nearest once it withdraws.
//!
//! Needs the capsules built (`make capsules`).

use ants_scenarios::anycast::{self, Anycast, CAPSULE, Plan, Report};
use ants_scenarios::{Scenario, ScenarioOptions, ScenarioReport};
use ants_topology::capsules::CapsuleLocator;

/// The repository's built capsules; a clear failure if the anycast one is missing.
fn capsules() -> CapsuleLocator {
    let l = CapsuleLocator::new(None, None);
    l.require(&[CAPSULE]).unwrap_or_else(|e| panic!("{e}"));
    l
}

fn run(plan: Plan) -> (Anycast, Report) {
    let t = ScenarioOptions::default()
        .load(anycast::EXAMPLE)
        .expect("the example loads")
        .topology;
    let mut s = Anycast::new(&t, &capsules(), None, plan).expect("the scenario builds");
    let r = s.run_to_report().expect("the scenario runs");
    (s, r)
}

#[test]
fn data_reaches_the_nearest_live_member_and_moves_when_it_leaves() {
    let plan = Plan::default();
    let (s, r) = run(plan.clone());
    println!("{}", r.table());
    let t = s.emulator().topology();

    // Members by distance: m1 (3 active hops), m2 (4), m3 (5).
    let order: Vec<(&str, usize)> = r
        .members
        .iter()
        .map(|m| (m.node.as_str(), m.distance))
        .collect();
    assert_eq!(order, vec![("m1", 3), ("m2", 4), ("m3", 5)]);

    // Every member advertised at start and once more at 10 s, except m1, which left at 5 s.
    let ads: Vec<usize> = r.members.iter().map(|m| m.advertisements).collect();
    assert_eq!(ads, vec![1, 2, 2]);

    // Before the withdraw, everything went to m1; afterwards to m2; never to m3.
    let (m1, m2, m3) = (&r.members[0], &r.members[1], &r.members[2]);
    let before_window =
        (plan.leave_at - plan.start).as_millis() as u64 / plan.interval.as_millis() as u64;
    assert!(
        m1.before + 2 >= before_window,
        "m1 got {} of ~{before_window}",
        m1.before
    );
    assert_eq!(m2.before, 0);
    assert_eq!((m3.before, m3.after), (0, 0));
    assert!(m1.after <= 1, "in flight at most: {m1:?}");
    let after_window =
        (plan.stop - plan.leave_at).as_millis() as u64 / plan.interval.as_millis() as u64;
    assert!(
        m2.after + 3 >= after_window,
        "m2 got {} of ~{after_window}",
        m2.after
    );
    assert_eq!(r.misrouted, 0);
    assert_eq!(r.duplicates, 0);

    // The switch: within a few packet intervals (the withdraw floods back to the client in
    // about 10 ms), losing at most the packets in flight toward m1.
    let sw = &r.switch;
    assert_eq!((sw.from.as_str(), sw.to.as_str()), ("m1", "m2"));
    let switch_ms = sw.switch_ms.expect("traffic moved");
    assert!(switch_ms > 0.0 && switch_ms < 100.0, "{sw:?}");
    assert!(sw.lost_in_switch <= 2, "{sw:?}");
    assert!(r.lost <= 2, "{r:?}");
    assert_eq!(r.sent, r.delivered + r.lost);

    // m2 kept receiving across its re-advertisement at 10 s.
    let m2_log = s.member_log(t.node_id("m2").unwrap()).unwrap();
    assert!(
        m2_log.received.iter().any(|&(_, at)| at > 10_500_000_000),
        "{m2:?}"
    );
    assert!(
        m2_log.received.windows(2).all(|w| w[0].0 < w[1].0),
        "in order, once each"
    );
}

#[test]
fn the_same_seed_gives_the_same_report() {
    let plan = Plan {
        stop: std::time::Duration::from_secs(6),
        ..Plan::default()
    };
    let (_, a) = run(plan.clone());
    let (_, b) = run(plan);
    assert_eq!(a, b);
}
