//! Rerouting on real routers: an `antsd` on the way dies (SIGKILL) and capsules go around it
//! within 3 s, found by the daemons' hellos and overlay routing alone.
//!
//! ```text
//!          a2
//!        /    \
//!   h1 - a1    a4 - h2
//!        \    /
//!     l1 - a3
//! ```
//!
//! Every node runs the generated configuration with `[liveness] hello_interval = "500ms"` (the
//! default of generated deployments, 3 missed hellos to declare a neighbour down). h1 sends a
//! `forward` capsule to h2 every 20 ms through its daemon's application socket; a1's
//! configured route goes through a2 (the shorter way). After 2 s a2's daemon is killed. Its
//! namespace stays and its kernel still forwards IP, as a router whose routing daemon crashed
//! does: only the active overlay must find the other way, through a3. The longest silence at
//! h2 must stay within 3 s, and the flow must go on arriving through a3.
//!
//! Needs root (it creates namespaces); without root it says why and passes. The namespaces are
//! named after a prefix unique to this run, traffic only flows between them, every wait is
//! bounded, and a guard removes everything if the test fails halfway.

mod netns_support;

use std::fs;
use std::net::IpAddr;
use std::process::Command;
use std::time::{Duration, Instant};

use ants_daemon::app::Client;
use ants_netns::State;
use netns_support::{Guard, capsule_module, ok, programs, run, unique_prefix};

/// The reroute bar of the overlay routing issue.
const BAR: Duration = Duration::from_secs(3);
/// Between two capsules.
const INTERVAL: Duration = Duration::from_millis(20);
/// When a2's daemon dies, and how long the flow goes on after.
const KILL_AT: Duration = Duration::from_secs(2);
const AFTER: Duration = Duration::from_secs(6);

const TOPOLOGY: &str = r#"
name = "reroute"

[liveness]
hello_interval = "500ms"

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
name = "l1"
kind = "legacy"

[[node]]
name = "a3"
kind = "active"

[[node]]
name = "a4"
kind = "active"

[[node]]
name = "h2"
kind = "host"

[[link]]
ends = ["h1", "a1"]

[[link]]
ends = ["a1", "a2"]

[[link]]
ends = ["a2", "a4"]

[[link]]
ends = ["a1", "l1"]

[[link]]
ends = ["l1", "a3"]

[[link]]
ends = ["a3", "a4"]

[[link]]
ends = ["a4", "h2"]
"#;

#[test]
fn capsules_go_around_a_killed_antsd_within_3_s() {
    let Some(programs) = programs() else {
        return;
    };
    let prefix = unique_prefix("antrr");
    let scratch = std::env::temp_dir().join(format!("{prefix}.reroute"));
    fs::create_dir_all(&scratch).unwrap();
    let state_dir = scratch.join("state");
    let file = scratch.join("reroute.toml");
    fs::write(&file, TOPOLOGY).unwrap();
    let mut guard = Guard {
        topo: programs.topo.clone(),
        file: file.clone(),
        prefix: prefix.clone(),
        state_dir: state_dir.clone(),
        scratch: scratch.clone(),
        down: false,
    };
    let mut up = Command::new(&programs.topo);
    up.arg("up")
        .arg(&file)
        .args(["--prefix", &prefix, "--state-dir"])
        .arg(&state_dir);
    ok(
        run(&mut up, &scratch, Duration::from_secs(30)),
        "ants topo up",
    );
    let state = State::load(&state_dir).unwrap().expect("a state record");
    let address = |name: &str| -> IpAddr {
        IpAddr::V4(
            state
                .node(name)
                .unwrap_or_else(|| panic!("no node {name}"))
                .address,
        )
    };
    let socket = |name: &str| state_dir.join(format!("{name}.sock"));

    // The receiver listens on the forward capsule's port; the sender registers its module.
    let mut receiver = Client::connect(socket("h2")).unwrap();
    receiver.listen(1).unwrap();
    let mut sender = Client::connect(socket("h1")).unwrap();
    let module = fs::read(capsule_module("capsule_forward")).unwrap();
    let fp = sender.register(&module).unwrap();
    let h2 = address("h2");

    // Hellos settle the overlay (a few intervals) before the flow starts.
    std::thread::sleep(Duration::from_secs(2));
    let start = Instant::now();
    let mut next = start;
    let mut seq: u32 = 0;
    let mut killed = None;
    let mut arrivals: Vec<(Duration, u32)> = Vec::new();
    while start.elapsed() < KILL_AT + AFTER {
        if Instant::now() >= next {
            sender.send(fp, h2, 16, &seq.to_be_bytes()).unwrap();
            seq += 1;
            next += INTERVAL;
        }
        if killed.is_none() && start.elapsed() >= KILL_AT {
            let pid = state.daemon("a2").expect("a2's daemon").pid;
            // SAFETY: kill has no memory preconditions; the pid is the antsd this test's
            // topology started in its own namespace (from the state record).
            assert_eq!(unsafe { libc::kill(pid as i32, libc::SIGKILL) }, 0);
            killed = Some(start.elapsed());
        }
        let wait = next
            .saturating_duration_since(Instant::now())
            .max(Duration::from_micros(100));
        while let Some(d) = receiver.next_delivery(Some(wait)).unwrap() {
            let n = u32::from_be_bytes(d.payload[..4].try_into().unwrap());
            arrivals.push((start.elapsed(), n));
        }
    }
    let killed = killed.unwrap();
    let before = arrivals.iter().filter(|(t, _)| *t < killed).count();
    let after = arrivals.iter().filter(|(t, _)| *t >= killed).count();
    // The longest silence at h2 from the kill on.
    let mut gap = Duration::ZERO;
    let mut last = arrivals
        .iter()
        .rev()
        .find(|(t, _)| *t < killed)
        .map_or(killed, |(t, _)| *t);
    for (t, _) in arrivals.iter().filter(|(t, _)| *t >= killed) {
        gap = gap.max(*t - last);
        last = *t;
    }
    eprintln!(
        "sent {seq}, arrived {} ({before} before the kill, {after} after); longest silence after the kill {gap:?}",
        arrivals.len()
    );
    assert!(before > 0, "nothing arrived before the kill");
    // The flow runs on after the silence: most of what was sent in the last 3 s arrived.
    let tail = arrivals
        .iter()
        .filter(|(t, _)| *t >= KILL_AT + AFTER - Duration::from_secs(3))
        .count();
    assert!(
        tail * 10 >= 3000 / INTERVAL.as_millis() as usize * 9,
        "only {tail} in the last 3 s"
    );
    assert!(
        gap <= BAR,
        "capsules stopped arriving for {gap:?} after a2 died"
    );

    // a1 declared a2 down and now routes through a3.
    let status = |name: &str| -> serde_json::Value {
        let json = Client::connect(socket(name)).unwrap().status().unwrap();
        serde_json::from_str(&json).unwrap()
    };
    let a1 = status("a1");
    assert!(
        a1["node"]["stats"]["neighbours_down"].as_u64().unwrap_or(0) >= 1,
        "{:#}",
        a1["node"]["stats"]
    );
    let a3 = status("a3");
    assert!(a3["node"]["stats"]["evaluations"].as_u64().unwrap_or(0) > 0);

    // Nothing is lost silently: what a1 sent toward the dead daemon before it was declared
    // down reached a2's kernel, which counted it as UDP to a closed port.
    let lost = u64::from(seq) - arrivals.len() as u64;
    let mut snmp = Command::new(&programs.topo);
    snmp.args(["exec", "--prefix", &prefix, "--state-dir"])
        .arg(&state_dir)
        .args(["a2", "--", "cat", "/proc/net/snmp"]);
    let snmp = ok(
        run(&mut snmp, &scratch, Duration::from_secs(10)),
        "read a2's counters",
    );
    let no_ports = udp_no_ports(&snmp);
    eprintln!("lost {lost}; UDP datagrams to a closed port at a2: {no_ports}");
    assert!(lost <= no_ports, "{lost} lost, {no_ports} counted at a2");

    drop((sender, receiver));
    let mut down = Command::new(&programs.topo);
    down.arg("down")
        .arg(&file)
        .args(["--prefix", &prefix, "--state-dir"])
        .arg(&state_dir);
    ok(
        run(&mut down, &scratch, Duration::from_secs(30)),
        "ants topo down",
    );
    guard.down = true;
}

/// `Udp: NoPorts` of a `/proc/net/snmp` text: datagrams that arrived for a port no socket has.
fn udp_no_ports(snmp: &str) -> u64 {
    let udp: Vec<&str> = snmp.lines().filter(|l| l.starts_with("Udp:")).collect();
    assert!(udp.len() >= 2, "no Udp lines in /proc/net/snmp: {snmp}");
    let names: Vec<&str> = udp[0].split_whitespace().collect();
    let values: Vec<&str> = udp[1].split_whitespace().collect();
    let at = names.iter().position(|n| *n == "NoPorts").expect("NoPorts");
    values[at].parse().unwrap()
}
