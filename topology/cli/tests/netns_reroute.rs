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
//! h2 must stay within 3 s, and the flow must go on arriving through a3. At 7 s a2's daemon
//! is started again, empty: a1 hears its hellos, its configured route through a2 wins again,
//! a2 loads the code on demand, and the flow goes on without a silence over 3 s. What was lost
//! meanwhile must be counted (by a2's kernel, as UDP to a closed port).
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
use netns_support::{Background, Guard, capsule_module, ok, programs, run, unique_prefix};

/// The reroute bar of the overlay routing issue.
const BAR: Duration = Duration::from_secs(3);
/// Between two capsules.
const INTERVAL: Duration = Duration::from_millis(20);
/// When a2's daemon dies, when it is started again, and when the flow ends.
const KILL_AT: Duration = Duration::from_secs(2);
const BACK_AT: Duration = Duration::from_secs(7);
const END: Duration = Duration::from_secs(12);

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
fn capsules_go_around_a_killed_antsd_within_3_s_and_come_back_when_it_restarts() {
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
    let mut back: Option<(Duration, Background)> = None;
    let mut arrivals: Vec<(Duration, u32)> = Vec::new();
    while start.elapsed() < END {
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
        if back.is_none() && start.elapsed() >= BACK_AT {
            // The same daemon again, as a service manager would restart it: empty, with its
            // configuration (no code store in namespaces, so its code must load again).
            let namespace = &state.node("a2").unwrap().namespace;
            let mut cmd = Command::new("ip");
            cmd.args(["netns", "exec", namespace])
                .arg(programs.topo.with_file_name("antsd"))
                .arg("--config")
                .arg(state_dir.join("a2.toml"));
            back = Some((start.elapsed(), Background::spawn(&mut cmd, &scratch)));
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
    // The restarted daemon stays until `down` stops it (its handle kills it on failure).
    let (restarted, _a2_again) = back.unwrap();
    let count = |from: Duration, to: Duration| {
        arrivals
            .iter()
            .filter(|(t, _)| *t >= from && *t < to)
            .count()
    };
    let before = count(Duration::ZERO, killed);
    let while_dead = count(killed, restarted);
    let again = count(restarted, END);
    let (gap_down, gap_back) = (silence(&arrivals, killed), silence(&arrivals, restarted));
    eprintln!(
        "sent {seq}, arrived {} ({before} before the kill, {while_dead} while a2 was dead, {again} after it came back); longest silence after the kill {gap_down:?}, after the restart {gap_back:?}",
        arrivals.len()
    );
    assert!(before > 0, "nothing arrived before the kill");
    // The flow runs on around a2: most of what was sent in the last 2 s before the restart
    // arrived, and the same once a2 is back.
    let per_2s = 2000 / INTERVAL.as_millis() as usize;
    for (what, from) in [("around a2", restarted), ("after a2 came back", END)] {
        let n = count(from - Duration::from_secs(2), from);
        assert!(n * 10 >= per_2s * 9, "only {n} of {per_2s} arrived {what}");
    }
    assert!(
        gap_down <= BAR,
        "capsules stopped arriving for {gap_down:?} after a2 died"
    );
    assert!(
        gap_back <= BAR,
        "capsules stopped arriving for {gap_back:?} when a2 came back"
    );

    let status = |name: &str| -> serde_json::Value {
        let json = Client::connect(socket(name)).unwrap().status().unwrap();
        serde_json::from_str(&json).unwrap()
    };
    // a1 declared a2 down, then up again.
    let a1 = status("a1");
    let a1_stats = &a1["node"]["stats"];
    assert!(
        a1_stats["neighbours_down"].as_u64() >= Some(1),
        "{a1_stats:#}"
    );
    assert!(
        a1_stats["neighbours_up"].as_u64() >= Some(1),
        "{a1_stats:#}"
    );
    let a3 = status("a3");
    assert!(a3["node"]["stats"]["evaluations"].as_u64() > Some(0));
    // Traffic returned through the restarted a2, whose code loaded again on demand.
    let a2 = status("a2");
    let a2_stats = &a2["node"]["stats"];
    assert!(
        a2_stats["loads_completed"].as_u64() >= Some(1),
        "{a2_stats:#}"
    );
    assert!(a2_stats["evaluations"].as_u64() > Some(0), "{a2_stats:#}");

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

/// The longest time without an arrival from `from` on (counting from the last arrival before).
fn silence(arrivals: &[(Duration, u32)], from: Duration) -> Duration {
    let mut last = arrivals
        .iter()
        .rev()
        .find(|(t, _)| *t < from)
        .map_or(from, |(t, _)| *t);
    let mut gap = Duration::ZERO;
    for (t, _) in arrivals.iter().filter(|(t, _)| *t >= from) {
        gap = gap.max(*t - last);
        last = *t;
    }
    gap
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
