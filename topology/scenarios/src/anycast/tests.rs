//! Unit tests of the parent module: plans, checks and helpers that need no capsule (the runs
//! are tested end to end in `topology/scenarios/tests/`).

use super::*;
use ants_topology::model::{NodeKind, TopologyBuilder};

#[test]
fn distances_count_active_hops_only() {
    let mut b = TopologyBuilder::new("t");
    b.node("c", NodeKind::Host, None)
        .node("a0", NodeKind::Active, None)
        .node("l1", NodeKind::Legacy, None)
        .node("l2", NodeKind::Legacy, None)
        .node("a1", NodeKind::Active, None)
        .node("m", NodeKind::Host, None)
        .link("c", "a0")
        .link("a0", "l1")
        .link("l1", "l2")
        .link("l2", "a1")
        .link("a1", "m");
    let t = b.build().unwrap();
    let r = Routes::compute(&t);
    let d = overlay_distances(&t, &r, 0);
    assert_eq!(d[t.node_id("m").unwrap()], 3);
    assert_eq!(d[t.node_id("l1").unwrap()], usize::MAX);
}

#[test]
fn plans_are_checked() {
    assert!(Plan::default().check().is_ok());
    let late = Plan {
        leave_at: Duration::from_secs(20),
        ..Plan::default()
    };
    assert!(late.check().is_err());
}
