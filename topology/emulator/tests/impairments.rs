//! Seeded link impairments from a topology file: duplication, corruption, jitter and
//! reordering. Each is counted on its link, corrupted datagrams are dropped and counted by the
//! node that receives them (their UDP checksum fails), and runs repeat exactly for a seed.
//!
//! Needs the capsules built (`make capsules`).

use std::path::Path;
use std::time::Duration;

use ants_emulator::{Emulator, EmulatorOptions, EmulatorReport};
use ants_router::time::Timestamp;
use ants_topology::Routes;
use ants_topology::capsules::CapsuleLocator;
use ants_topology::file::parse;

/// h1 sends a forward capsule to h2 every 10 ms for 2 s over h1 - a1 - a2 - h2; the middle
/// link carries `impairment`.
fn run(impairment: &str) -> (EmulatorReport, Vec<u64>) {
    let text = format!(
        r#"
name = "impaired"
seed = 5
[[node]]
name = "h1"
kind = "host"
[[node]]
name = "a1"
kind = "active"
[[node]]
name = "a2"
kind = "active"
[[node]]
name = "h2"
kind = "host"
[[link]]
ends = ["h1", "a1"]
[[link]]
ends = ["a1", "a2"]
delay = "10ms"
{impairment}
[[link]]
ends = ["a2", "h2"]
[[app]]
kind = "send"
node = "h1"
to = "h2"
protocol = "forward"
count = 200
interval = "10ms"
"#
    );
    let t = parse(&text, Path::new("impaired.toml")).unwrap();
    let capsules = CapsuleLocator::new(None, None);
    capsules
        .require(&["forward"])
        .unwrap_or_else(|e| panic!("{e}"));
    let mut emu = Emulator::new(
        &t,
        &Routes::compute(&t),
        &capsules,
        EmulatorOptions::default(),
    )
    .unwrap();
    emu.record_deliveries();
    emu.run_until(Timestamp::ZERO + Duration::from_secs(4));
    let h2 = t.node_id("h2").unwrap();
    let arrivals = emu
        .delivered()
        .iter()
        .filter(|d| d.node == h2)
        .map(|d| d.at.as_nanos())
        .collect();
    (emu.report(), arrivals)
}

#[test]
fn duplicated_datagrams_arrive_twice_and_are_counted() {
    let (report, arrivals) = run("duplicate = \"20%\"");
    let link = &report.links[1];
    let dup = link.a_to_b.duplicated;
    assert!(dup > 20, "{dup} duplicated of about 210");
    // Every capsule arrives; the duplicated data capsules arrive twice (code fragments and
    // requests duplicated on the way are absorbed by the loader).
    assert!(arrivals.len() > 200, "{}", arrivals.len());
    assert!(arrivals.len() as u64 <= 200 + dup, "{}", arrivals.len());
}

#[test]
fn corrupted_datagrams_are_dropped_by_the_receiving_node_and_counted() {
    let (report, arrivals) = run("corrupt = \"10%\"");
    let corrupted: u64 = report
        .links
        .iter()
        .map(|l| l.a_to_b.corrupted + l.b_to_a.corrupted)
        .sum();
    let caught: u64 = report.nodes.iter().map(|n| n.udp_checksum_drops).sum();
    assert!(corrupted > 0);
    assert_eq!(
        caught, corrupted,
        "every corrupted datagram is caught where it arrives"
    );
    // No corrupted capsule was evaluated or delivered: what arrived is whole.
    assert!(arrivals.len() < 200, "{}", arrivals.len());
    let a2 = report.nodes.iter().find(|n| n.name == "a2").unwrap();
    assert!(a2.udp_checksum_drops > 0);
    assert!(
        report.nodes.iter().all(|n| n.drops.is_empty()),
        "no node core saw a bad frame"
    );
}

#[test]
fn jitter_and_reordering_spread_and_reorder_arrivals() {
    let (plain, steady) = run("");
    let gaps = |a: &[u64]| -> Vec<u64> { a.windows(2).map(|w| w[1] - w[0]).collect() };
    // Without impairments, capsules arrive 10 ms apart once the code is loaded (the first
    // ones wait for it and arrive together).
    assert!(gaps(&steady[30..]).iter().all(|&g| g == 10_000_000));
    assert_eq!(plain.links[1].a_to_b.reordered, 0);

    let (report, jittered) = run("jitter = \"4ms\"\nreorder = \"10%\"");
    let link = &report.links[1].a_to_b;
    assert!(link.reordered > 5, "{}", link.reordered);
    assert_eq!(jittered.len(), 200);
    assert!(
        gaps(&jittered[30..]).iter().any(|&g| g != 10_000_000),
        "jitter moves arrivals"
    );
}

#[test]
fn impaired_runs_repeat_exactly_for_a_seed() {
    let all = "jitter = \"3ms\"\nreorder = \"5%\"\nduplicate = \"5%\"\ncorrupt = \"5%\"";
    let (a, arrivals_a) = run(all);
    let (b, arrivals_b) = run(all);
    assert_eq!(arrivals_a, arrivals_b);
    assert_eq!(
        serde_json::to_string(&a).unwrap(),
        serde_json::to_string(&b).unwrap()
    );
}
