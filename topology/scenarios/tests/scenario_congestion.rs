//! The congestion notification scenario end to end: the shipped `congestion` capsule on
//! `topology/examples/congestion.toml` in the emulator, the same flow with and without the
//! sender reacting to its notifications.
//!
//! Needs the capsules built (`make capsules`).

use ants_scenarios::congestion::{CAPSULE, Config, MAX_DROP_RATIO, MIN_GOODPUT_RATIO, Network};
use ants_scenarios::{Congestion, Scenario, ScenarioOptions, ScenarioReport};
use ants_topology::capsules::CapsuleLocator;

/// A clear failure if the congestion capsule is not built.
fn require_capsule() {
    CapsuleLocator::new(None, None)
        .require(&[CAPSULE])
        .unwrap_or_else(|e| panic!("{e}"));
}

#[test]
fn advice_cuts_bottleneck_drops_and_goodput_holds() {
    require_capsule();
    let config = Config {
        repeat: true,
        ..Config::default()
    };
    let r = Congestion::run_with(&ScenarioOptions::default(), config).expect("the scenario runs");
    println!("{}", r.table());
    let (a, b) = (&r.with_advice, &r.without_advice);

    // The example's bottleneck leaves the active router a1.
    assert_eq!(
        (r.bottleneck.from.as_str(), r.bottleneck.to.as_str()),
        ("a1", "l1")
    );

    // Without advice the flow overloads the bottleneck throughout: the queue drops the
    // excess, roughly a third of what is sent at 1.5 times the capacity.
    assert!(b.bottleneck_drops * 5 > b.sent, "{b:?}");
    assert_eq!(b.decreases, 0);
    assert!(b.notifications > 0, "the capsule advises either way: {b:?}");

    // The bar: far fewer drops, goodput held, notifications arrived and were acted on.
    assert!(a.notifications > 0 && a.decreases > 0, "{a:?}");
    assert!(
        (a.bottleneck_drops as f64) < MAX_DROP_RATIO * b.bottleneck_drops as f64,
        "drops with advice {} vs {} without",
        a.bottleneck_drops,
        b.bottleneck_drops
    );
    assert!(
        a.goodput_bps >= MIN_GOODPUT_RATIO * b.goodput_bps,
        "goodput with advice {} vs {} without",
        a.goodput_bps,
        b.goodput_bps
    );
    assert!(r.bar_met());

    // Advice never costs data: whatever the sender sent and the queue did not drop arrives,
    // once, and the nodes dropped nothing.
    for run in [a, b] {
        assert!(run.warm_up_delivered, "{run:?}");
        assert_eq!(run.send_errors, 0, "{run:?}");
        assert_eq!(run.duplicates, 0, "{run:?}");
        assert_eq!(run.capsule_drops, 0, "{run:?}");
        assert_eq!(run.other_queue_drops, 0, "{run:?}");
        assert_eq!(run.lost, run.bottleneck_drops, "{run:?}");
    }
    // Deterministic for a seed.
    assert_eq!(r.repeat_identical, Some(true));
}

#[test]
fn the_bottleneck_must_leave_an_active_router() {
    let t = ants_topology::file::parse(
        r#"
name = "legacy bottleneck"
[groups]
sender = ["s"]
receiver = ["r"]
[[node]]
name = "s"
kind = "host"
[[node]]
name = "a"
kind = "active"
[[node]]
name = "l"
kind = "legacy"
[[node]]
name = "r"
kind = "host"
[[link]]
ends = ["s", "a"]
[[link]]
ends = ["a", "l"]
[[link]]
ends = ["l", "r"]
bandwidth = "1Mbit"
"#,
        std::path::Path::new("legacy.toml"),
    )
    .unwrap();
    let e = Network::new(
        "legacy.toml".into(),
        t,
        CapsuleLocator::new(None, None),
        100,
    )
    .unwrap_err()
    .to_string();
    assert!(e.contains("legacy router `l`"), "{e}");
}
