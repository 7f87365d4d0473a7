//! Scripted events from a topology file: a link that goes down and up, a node core that
//! crashes and starts again. Deliveries stop and resume, what was lost meanwhile is counted,
//! and the report says what each event did.
//!
//! Needs the capsules built (`make capsules`).

use std::path::Path;
use std::time::Duration;

use ants_emulator::{Emulator, EmulatorOptions};
use ants_router::time::Timestamp;
use ants_topology::Routes;
use ants_topology::capsules::CapsuleLocator;
use ants_topology::file::parse;

/// h1 sends a forward capsule to h2 every 20 ms for 2 s over h1 - a1 - a2 - h2.
const BASE: &str = r#"
name = "events"
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
[[link]]
ends = ["a2", "h2"]
[[app]]
kind = "send"
node = "h1"
to = "h2"
protocol = "forward"
count = 100
interval = "20ms"
"#;

/// Runs `BASE` plus `events` for 3 s: the report and the arrival times at h2 (ms).
fn run(events: &str) -> (ants_emulator::EmulatorReport, Vec<f64>) {
    let text = format!("{BASE}{events}");
    let t = parse(&text, Path::new("events.toml")).unwrap();
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
    emu.run_until(Timestamp::ZERO + Duration::from_secs(3));
    let h2 = t.node_id("h2").unwrap();
    let arrivals = emu
        .delivered()
        .iter()
        .filter(|d| d.node == h2)
        .map(|d| d.at.as_nanos() as f64 / 1e6)
        .collect();
    (emu.report(), arrivals)
}

#[test]
fn a_link_down_stops_the_flow_until_it_is_up_and_the_loss_is_counted() {
    let (report, arrivals) = run(r#"
[[event]]
at = "500ms"
kind = "link_down"
link = ["a1", "a2"]
[[event]]
at = "1s"
kind = "link_up"
link = ["a2", "a1"]
"#);
    // Nothing arrives while the link is down; before and after, the flow goes on.
    assert!(
        arrivals.iter().all(|&t| !(505.0..1000.0).contains(&t)),
        "{arrivals:?}"
    );
    assert!(arrivals.iter().any(|&t| t < 500.0));
    assert!(arrivals.iter().any(|&t| t > 1000.0));
    let events = &report.scripted_events;
    assert_eq!(events.len(), 2, "{events:?}");
    assert_eq!(
        (events[0].event.kind, events[0].event.target.as_str()),
        ("link_down", "a1 -- a2")
    );
    assert_eq!(events[0].event.outcome, "applied");
    assert_eq!(events[0].event.at_ms, 500.0);
    // 25 capsules (500 ms at one per 20 ms) were sent into the dead link.
    let lost = events[0].lost_while_down.unwrap();
    assert!((24..=26).contains(&lost), "{lost}");
    assert_eq!(
        arrivals.len() as u64 + lost,
        100,
        "every capsule arrived or was counted"
    );
    let table = report.table();
    assert!(table.contains("scripted events"), "{table}");
}

#[test]
fn a_crashed_node_core_loses_what_reaches_it_and_starts_again_empty() {
    let (report, arrivals) = run(r#"
[[event]]
at = "1s"
kind = "node_up"
node = "a2"
[[event]]
at = "400ms"
kind = "node_down"
node = "a2"
"#);
    // Events run in time order whatever the file's order.
    let events = &report.scripted_events;
    assert_eq!(events[0].event.kind, "node_down");
    assert_eq!(events[1].event.kind, "node_up");
    assert!(events[1].event.outcome.starts_with("applied"), "{events:?}");
    assert!(
        arrivals.iter().all(|&t| !(405.0..1000.0).contains(&t)),
        "{arrivals:?}"
    );
    assert!(arrivals.iter().any(|&t| t > 1000.0), "the flow resumes");
    // The restarted core had to load the code again, from a1.
    let a2_loads = report
        .code_loading
        .iter()
        .filter(|l| l.node == "a2")
        .count();
    assert_eq!(a2_loads, 2, "{:?}", report.code_loading);
    let lost = events[0].lost_while_down.unwrap();
    assert!(lost > 0);
}

#[test]
fn a_link_set_changes_delay_and_loss_mid_run() {
    let (report, arrivals) = run(r#"
[[event]]
at = "500ms"
kind = "link_set"
link = ["a1", "a2"]
loss = 1.0
[[event]]
at = "1s"
kind = "link_set"
link = ["a1", "a2"]
loss = "0%"
delay = "50ms"
"#);
    // A certain loss: nothing crosses between 500 ms and 1 s, and the link counts the losses.
    assert!(
        arrivals.iter().all(|&t| !(505.0..1000.0).contains(&t)),
        "{arrivals:?}"
    );
    let lost = report.links[1].a_to_b.losses;
    assert!((24..=26).contains(&lost), "{lost}");
    // Then 49 ms more delay: the last capsule, sent at 1,980 ms, arrives about 52 ms later
    // (it took 3 ms before).
    let last = *arrivals.last().unwrap();
    assert!((2030.0..2034.0).contains(&last), "{last}");
    let e = &report.scripted_events[1];
    assert_eq!(e.event.kind, "link_set");
    assert_eq!(e.event.outcome, "applied: delay 50ms, loss 0%");
}

#[test]
fn bad_events_are_refused_where_they_are_written() {
    for (event, needle) in [
        (
            "at = \"1s\"\nkind = \"link_flap\"\nlink = [\"a1\", \"a2\"]",
            "is not an event",
        ),
        ("at = \"1s\"\nkind = \"link_down\"", "`link`: missing"),
        (
            "at = \"1s\"\nkind = \"link_down\"\nlink = [\"a1\", \"a2\", \"h2\"]",
            "exactly two",
        ),
        (
            "at = \"1s\"\nkind = \"link_down\"\nlink = [\"h1\", \"h2\"]",
            "not defined",
        ),
        (
            "at = \"1s\"\nkind = \"node_down\"\nlink = [\"a1\", \"a2\"]",
            "names a node",
        ),
        ("at = 5\nkind = \"node_down\"\nnode = \"a1\"", "no unit"),
        (
            "at = \"1s\"\nkind = \"node_down\"\nnode = \"x9\"",
            "not defined",
        ),
    ] {
        let text = format!("{BASE}[[event]]\n{event}\n");
        let e = parse(&text, Path::new("events.toml"))
            .unwrap_err()
            .to_string();
        assert!(e.contains(needle), "{event}: {e}");
        assert!(e.contains("events.toml:"), "located: {e}");
    }
}
