//! The reliable multicast scenario (`topology/examples/reliable-multicast.toml`): 10 % loss on
//! every link, every member gets every packet, and fewer repairs cross the source's first
//! link with the capsule's local repair than with end-to-end retransmission.
//!
//! Needs the capsules built (`make capsules`).

use ants_scenarios::reliable_multicast::{self, CAPSULE, Config, UNICAST_CAPSULE};
use ants_scenarios::{ReliableMulticast, Scenario, ScenarioOptions, ScenarioReport};
use ants_topology::capsules::CapsuleLocator;

fn options() -> ScenarioOptions {
    CapsuleLocator::new(None, None)
        .require(&[CAPSULE, UNICAST_CAPSULE])
        .unwrap_or_else(|e| panic!("{e}"));
    ScenarioOptions::default()
}

/// The bar, on the example's own seed: complete delivery in both modes, local repair sends
/// fewer repairs across the first link than end to end (and than any source-only scheme
/// could), and the same seed gives the same numbers.
#[test]
fn local_repair_delivers_everything_and_spares_the_first_link() {
    let started = std::time::Instant::now();
    let report = ReliableMulticast::run_default(&options()).expect("the scenario runs");
    println!("{}", report.table());
    println!("wall time: {:.1} s", started.elapsed().as_secs_f64());

    assert!(report.members.len() >= 6, "{:?}", report.members);
    assert!(
        (report.loss_min - 0.10).abs() < 1e-9 && (report.loss_max - 0.10).abs() < 1e-9,
        "every link must lose 10 %: {}..{}",
        report.loss_min,
        report.loss_max
    );
    for run in [&report.local, &report.end_to_end] {
        let what = run.recovery.label();
        assert_eq!(run.source.sent, report.packets, "{what}");
        assert_eq!(
            run.source.send_errors, 0,
            "{what}: {:?}",
            run.source.first_error
        );
        for m in &run.members {
            assert_eq!(
                m.delivered, report.packets,
                "{what}: {} misses {:?}",
                m.node, m.missing
            );
            assert_eq!(m.corrupt, 0, "{what}: {}", m.node);
        }
        assert!(run.all_complete, "{what}");
        // The loss is real: members missed originals and got them back as repairs.
        assert!(
            run.missed_originals > 100,
            "{what}: {}",
            run.missed_originals
        );
        // Repair datagrams counted on the link include every distinct source-made repair
        // some member saw (some more were lost on the way).
        assert!(
            run.first_link.repairs >= run.repairs_from_source,
            "{what}: {} on the link, {} distinct from the source seen",
            run.first_link.repairs,
            run.repairs_from_source
        );
    }

    // Local repair: intermediate nodes made repairs; the network never duplicated a packet.
    assert!(report.local.repairs_from_intermediate > 0);
    assert!(report.local.members.iter().all(|m| m.duplicates == 0));
    // End to end: every repair came from the source.
    assert_eq!(report.end_to_end.repairs_from_intermediate, 0);

    let c = &report.comparison;
    assert!(
        c.local < c.end_to_end,
        "local repair sent {} repairs across the first link, end to end {}",
        c.local,
        c.end_to_end
    );
    assert!(
        c.local < c.source_only_floor,
        "local repair sent {} repairs across the first link; a source-only scheme needs at least {}",
        c.local,
        c.source_only_floor
    );
    assert_eq!(report.repeat_identical, Some(true));
    assert!(report.bar_met());
}

/// Another seed: the numbers change, the bar does not.
#[test]
fn the_bar_holds_on_another_seed() {
    let options = ScenarioOptions {
        seed: Some(1),
        ..options()
    };
    let config = Config {
        repeat: false,
        ..Config::default()
    };
    let report = ReliableMulticast::run_with(&options, config).expect("the scenario runs");
    println!("{}", report.table());
    assert_eq!(report.local.seed, 1);
    assert!(report.bar_met(), "{}", report.table());
    assert!(report.comparison.local < report.comparison.source_only_floor);
}

/// A file whose source has two links has no single first link to measure: refused, naming
/// the node and what to change.
#[test]
fn a_source_with_two_links_is_refused() {
    let text = r#"
        [[node]]
        name = "s"
        kind = "host"
        groups = ["source"]
        [[node]]
        name = "a"
        kind = "active"
        [[node]]
        name = "b"
        kind = "active"
        [[node]]
        name = "m"
        kind = "host"
        groups = ["members"]
        [[link]]
        ends = ["s", "a"]
        [[link]]
        ends = ["s", "b"]
        [[link]]
        ends = ["a", "m"]
    "#;
    let path = std::path::Path::new("two-links.toml");
    let topology = ants_topology::file::parse(text, path).expect("the file is valid");
    let e =
        reliable_multicast::Network::new(path.into(), topology, CapsuleLocator::new(None, None))
            .expect_err("refused")
            .to_string();
    assert!(e.contains("`s`") && e.contains("exactly one link"), "{e}");
}
