//! Multicast end to end in network namespaces: the multicast capsule on real `antsd` daemons,
//! with Linux kernels as the legacy routers between the active ones.
//!
//! ```text
//!                          l2 -- a1 -- m1, m2
//!   src -- a0 -- l1 -----  l3 -- a2 -- m3
//!                          l4 -- a3 -- m4, x1 (not a member)
//! ```
//!
//! Every path between two active routers crosses at least two legacy routers (l1 and one of
//! l2..l4). The four members listen on a port and subscribe toward `src`; once the
//! subscriptions are in, `src` sends [`DATA`] data capsules to its own address. Each member
//! must receive every sequence number exactly once and `x1` nothing; the code must have been
//! demand-loaded at every active router; the tree must copy (one capsule per data packet out
//! of `src`, three out of `a0`, two out of `a1`); and l1..l4 must have forwarded the datagrams
//! in the kernel.
//!
//! Needs root (it creates namespaces); without root it says why and passes. Namespaces are
//! named after a prefix unique to this run, traffic only flows between them, every command
//! and every wait is bounded in time, and a guard removes everything if the test fails
//! halfway.

mod netns_support;

use std::collections::BTreeMap;
use std::fs;
use std::process::Command;
use std::time::{Duration, Instant};

use ants_router::fingerprint::Fingerprint;
use capsule_multicast::Message;
use netns_support::{
    Background, Deadline, Guard, capsule_module, forwarded_datagrams, namespaces_with, ok,
    programs, run, text, unique_prefix,
};
use serde_json::Value;

/// The whole test, every command included, ends within this.
const TEST_LIMIT: Duration = Duration::from_secs(60);
/// Data capsules the source sends (sequence numbers `0..DATA`).
const DATA: u32 = 10;
/// The group id.
const GROUP: u32 = 7;
/// The port the members listen on.
const PORT: u16 = 4000;
/// Members and the edge router each one sits behind.
const MEMBERS: [(&str, &str); 4] = [("m1", "a1"), ("m2", "a1"), ("m3", "a2"), ("m4", "a3")];
/// Active routers, all of which must load the code on demand.
const ROUTERS: [&str; 4] = ["a0", "a1", "a2", "a3"];
/// Legacy routers and the data datagrams each must at least have forwarded: l1 carries the
/// copies to all three edges.
const LEGACY: [(&str, u64); 4] = [
    ("l1", 3 * DATA as u64),
    ("l2", DATA as u64),
    ("l3", DATA as u64),
    ("l4", DATA as u64),
];

const TOPOLOGY: &str = r#"
name = "mcast"

[[node]]
name = "src"
kind = "host"

[[node]]
name = "a0"
kind = "active"

[[node]]
name = "l1"
kind = "legacy"

[[node]]
name = "l2"
kind = "legacy"

[[node]]
name = "l3"
kind = "legacy"

[[node]]
name = "l4"
kind = "legacy"

[[node]]
name = "a1"
kind = "active"

[[node]]
name = "a2"
kind = "active"

[[node]]
name = "a3"
kind = "active"

[[node]]
name = "m1"
kind = "host"

[[node]]
name = "m2"
kind = "host"

[[node]]
name = "m3"
kind = "host"

[[node]]
name = "m4"
kind = "host"

[[node]]
name = "x1"
kind = "host"

[[link]]
ends = ["src", "a0"]

[[link]]
ends = ["a0", "l1"]

[[link]]
ends = ["l1", "l2"]

[[link]]
ends = ["l1", "l3"]

[[link]]
ends = ["l1", "l4"]

[[link]]
ends = ["l2", "a1"]

[[link]]
ends = ["l3", "a2"]

[[link]]
ends = ["l4", "a3"]

[[link]]
ends = ["m1", "a1"]

[[link]]
ends = ["m2", "a1"]

[[link]]
ends = ["m3", "a2"]

[[link]]
ends = ["m4", "a3"]

[[link]]
ends = ["x1", "a3"]
"#;

/// A message's postcard bytes, in hex for `ants send --hex`.
fn payload_hex(m: &Message<'_>) -> String {
    hex::encode(capsule_sdk::postcard::to_allocvec(m).unwrap())
}

/// The entry of node `name` in an `ants topo status --json` document.
fn node<'a>(doc: &'a Value, name: &str) -> &'a Value {
    doc["nodes"]
        .as_array()
        .unwrap()
        .iter()
        .find(|n| n["name"] == name)
        .unwrap_or_else(|| panic!("no node {name} in {doc:#}"))
}

/// A node-core counter of node `name` (`router.node.stats.<key>`).
fn stat(doc: &Value, name: &str, key: &str) -> u64 {
    node(doc, name)["router"]["node"]["stats"][key]
        .as_u64()
        .unwrap_or_else(|| panic!("no counter {key} for {name}: {doc:#}"))
}

/// Whether every subscription has been evaluated all the way to the source: each node on
/// the tree ran at least as many evaluations as subscribes must reach it (a node already on
/// the tree absorbs later ones), and none still waits for code. `Err` says what is missing.
fn subscriptions_in(doc: &Value) -> Result<(), String> {
    let expected = [
        ("m1", 1),
        ("m2", 1),
        ("m3", 1),
        ("m4", 1),
        ("a1", 2),
        ("a2", 1),
        ("a3", 1),
        ("a0", 3),
        ("src", 1),
    ];
    let mut missing = Vec::new();
    for (name, evaluations) in expected {
        let core = &node(doc, name)["router"]["node"];
        let done = core["stats"]["evaluations"].as_u64().unwrap_or(0);
        let loading = core["loads"].as_array().map_or(0, Vec::len);
        let held = core["held_bytes"].as_u64().unwrap_or(0);
        if done < evaluations || loading > 0 || held > 0 {
            missing.push(format!(
                "{name}: {done}/{evaluations} evaluations, {loading} loads, {held} held bytes"
            ));
        }
    }
    if missing.is_empty() {
        Ok(())
    } else {
        Err(missing.join("; "))
    }
}

#[test]
fn multicast_through_legacy_linux_routers() {
    let Some(programs) = programs() else {
        return;
    };
    let started = Instant::now();
    let deadline = Deadline::after(TEST_LIMIT);
    let topo = programs.topo;
    let ants = programs.ants.to_string_lossy().into_owned();
    let module_path = capsule_module("capsule_multicast");
    let module = module_path.to_string_lossy().into_owned();
    let fingerprint = Fingerprint::sha256(&fs::read(&module_path).unwrap()).to_string();

    let prefix = unique_prefix("antmc");
    let scratch = std::env::temp_dir().join(format!("{prefix}.mcast"));
    fs::create_dir_all(&scratch).unwrap();
    let state_dir = scratch.join("state");
    let file = scratch.join("mcast.toml");
    fs::write(&file, TOPOLOGY).unwrap();
    let mut guard = Guard {
        topo: topo.clone(),
        file: file.clone(),
        prefix: prefix.clone(),
        state_dir: state_dir.clone(),
        scratch: scratch.clone(),
        down: false,
    };
    let topo_cmd = |sub: &str| {
        let mut cmd = Command::new(&topo);
        cmd.arg(sub)
            .args(["--prefix", &prefix, "--state-dir"])
            .arg(&state_dir);
        cmd
    };
    let exec_cmd = |node: &str, args: &[&str]| {
        let mut cmd = topo_cmd("exec");
        cmd.arg(node).arg("--").args(args);
        cmd
    };
    let exec = |node: &str, args: &[&str], limit: Duration| {
        run(
            &mut exec_cmd(node, args),
            &scratch,
            limit.min(deadline.left()),
        )
    };
    let status = || -> Value {
        let mut cmd = topo_cmd("status");
        cmd.arg("--json");
        let o = run(
            &mut cmd,
            &scratch,
            Duration::from_secs(15).min(deadline.left()),
        );
        serde_json::from_str(&text(&o.stdout))
            .unwrap_or_else(|e| panic!("ants topo status: {e}: {}", text(&o.stderr)))
    };
    // Polls the status until `ready` holds, every 100 ms, bounded by `limit`.
    let wait_for = |what: &str, limit: Duration, ready: &dyn Fn(&Value) -> Result<(), String>| {
        let end = Instant::now() + limit.min(deadline.left());
        loop {
            let doc = status();
            match ready(&doc) {
                Ok(()) => return doc,
                Err(why) if Instant::now() >= end => panic!("{what} within {limit:?}: {why}"),
                Err(_) => std::thread::sleep(Duration::from_millis(100)),
            }
        }
    };
    let listening = |names: &[&str]| {
        let names: Vec<String> = names.iter().map(|n| n.to_string()).collect();
        move |doc: &Value| -> Result<(), String> {
            let waiting: Vec<&str> = names
                .iter()
                .filter(|n| {
                    !node(doc, n)["router"]["daemon"]["listening_ports"]
                        .as_array()
                        .is_some_and(|p| p.contains(&Value::from(PORT)))
                })
                .map(String::as_str)
                .collect();
            if waiting.is_empty() {
                Ok(())
            } else {
                Err(format!("not listening yet: {waiting:?}"))
            }
        }
    };

    // Up.
    let mut cmd = Command::new(&topo);
    cmd.arg("up")
        .arg(&file)
        .args(["--prefix", &prefix, "--state-dir"])
        .arg(&state_dir);
    let o = run(
        &mut cmd,
        &scratch,
        Duration::from_secs(30).min(deadline.left()),
    );
    let stdout = ok(o, "ants topo up");
    assert!(stdout.contains("topology `mcast` is up"), "{stdout}");
    assert_eq!(namespaces_with(&prefix).len(), 14);
    let doc = status();
    assert_eq!(doc["healthy"], true, "{doc:#}");
    let address = |name: &str| node(&doc, name)["address"].as_str().unwrap().to_string();
    let src = address("src");
    let up_done = started.elapsed();

    // The members listen, then subscribe toward the source (registering the module).
    let count = DATA.to_string();
    let mut listeners: Vec<(&str, Background)> = MEMBERS
        .iter()
        .map(|&(m, _)| {
            let listener = Background::spawn(
                &mut exec_cmd(
                    m,
                    &[
                        &ants,
                        "listen",
                        "--port",
                        &PORT.to_string(),
                        "--json",
                        "--count",
                        &count,
                        "--timeout",
                        "40",
                    ],
                ),
                &scratch,
            );
            (m, listener)
        })
        .collect();
    let member_names: Vec<&str> = MEMBERS.iter().map(|&(m, _)| m).collect();
    wait_for(
        "the members listen",
        Duration::from_secs(10),
        &listening(&member_names),
    );
    let subscribe = payload_hex(&Message::Subscribe {
        group: GROUP,
        port: PORT,
    });
    let mut subscribes: Vec<Background> = member_names
        .iter()
        .map(|m| {
            let args = [
                ants.as_str(),
                "send",
                "--module",
                &module,
                "--to",
                &src,
                "--budget",
                "64",
                "--hex",
                &subscribe,
            ];
            Background::spawn(&mut exec_cmd(m, &args), &scratch)
        })
        .collect();
    for s in &mut subscribes {
        ok(
            s.wait(Duration::from_secs(15).min(deadline.left())),
            "subscribe",
        );
    }
    wait_for(
        "the subscriptions reach the source",
        Duration::from_secs(30),
        &subscriptions_in,
    );
    let subscribed = started.elapsed();

    // The non-member listens on the same port, past the data on an idle machine (the
    // daemons' counters, read afterwards, cover any later arrival too).
    let mut outsider = Background::spawn(
        &mut exec_cmd(
            "x1",
            &[
                &ants,
                "listen",
                "--port",
                &PORT.to_string(),
                "--json",
                "--count",
                "1",
                "--timeout",
                "1.5",
            ],
        ),
        &scratch,
    );
    wait_for(
        "the non-member listens",
        Duration::from_secs(10),
        &listening(&["x1"]),
    );

    // The source sends DATA capsules to its own address: the first registers the module.
    let mut script = String::new();
    for seq in 0..DATA {
        let data = format!("packet {seq}");
        let hex = payload_hex(&Message::Data {
            group: GROUP,
            seq,
            data: data.as_bytes(),
        });
        let code = if seq == 0 {
            format!("--module '{module}'")
        } else {
            format!("--fingerprint {fingerprint}")
        };
        script += &format!("'{ants}' send {code} --to {src} --budget 256 --hex {hex} && ");
    }
    script += "true";
    ok(
        exec("src", &["sh", "-c", &script], Duration::from_secs(20)),
        "the source's sends",
    );

    // Every member received every sequence number exactly once, from the source.
    for (m, listener) in &mut listeners {
        let out = ok(
            listener.wait(Duration::from_secs(40).min(deadline.left())),
            &format!("ants listen in {m}"),
        );
        let mut seen: BTreeMap<u32, u32> = BTreeMap::new();
        for line in out.lines() {
            let d: Value = serde_json::from_str(line).unwrap();
            assert_eq!(d["port"], PORT, "{m}: {line}");
            assert_eq!(d["source"], src.as_str(), "{m}: {line}");
            assert_eq!(d["fingerprint"], fingerprint.as_str(), "{m}: {line}");
            let bytes = hex::decode(d["payload_hex"].as_str().unwrap()).unwrap();
            match Message::parse(&bytes) {
                Ok(Message::Data { group, seq, data }) => {
                    assert_eq!(group, GROUP, "{m}: {line}");
                    assert_eq!(data, format!("packet {seq}").as_bytes(), "{m}: {line}");
                    *seen.entry(seq).or_default() += 1;
                }
                other => panic!("{m} got {other:?}: {line}"),
            }
        }
        let expected: BTreeMap<u32, u32> = (0..DATA).map(|s| (s, 1)).collect();
        assert_eq!(
            seen, expected,
            "{m}: sequence numbers and times received:\n{out}"
        );
    }
    let delivered = started.elapsed();

    // The legacy routers forwarded the datagrams in the kernel (while x1 still listens).
    for (legacy, at_least) in LEGACY {
        let snmp = ok(
            exec(legacy, &["cat", "/proc/net/snmp"], Duration::from_secs(5)),
            "reading /proc/net/snmp",
        );
        let forwarded = forwarded_datagrams(&snmp);
        assert!(
            forwarded >= at_least,
            "{legacy} forwarded {forwarded} datagrams, expected at least {at_least}"
        );
    }

    // The non-member got nothing.
    let o = outsider.wait(Duration::from_secs(10).min(deadline.left()));
    assert_eq!(
        o.status.code(),
        Some(1),
        "x1's listener timed out empty: {}",
        text(&o.stderr)
    );
    assert!(text(&o.stderr).contains("timed out after 0 deliveries"));
    assert!(
        o.stdout.is_empty(),
        "x1 received something: {}",
        text(&o.stdout)
    );

    // The daemons' view: no extra deliveries, demand loads, copies along the tree.
    let doc = status();
    for &(m, _) in &MEMBERS {
        assert_eq!(stat(&doc, m, "deliveries"), u64::from(DATA), "{m}: {doc:#}");
        assert_eq!(
            node(&doc, m)["router"]["node"]["stats"]["drops"]["no_application"],
            0,
            "{m}"
        );
    }
    assert_eq!(stat(&doc, "x1", "capsules_received"), 0, "x1: {doc:#}");
    assert_eq!(stat(&doc, "x1", "deliveries"), 0, "x1: {doc:#}");
    for r in ROUTERS {
        let core = &node(&doc, r)["router"]["node"];
        let protocol = core["protocols"]
            .as_array()
            .unwrap()
            .iter()
            .find(|p| p["fingerprint"] == fingerprint.as_str())
            .unwrap_or_else(|| panic!("{r} has no protocol {fingerprint}: {core:#}"));
        assert_eq!(
            protocol["pinned"], false,
            "{r} loaded it on demand: {protocol}"
        );
        assert_eq!(protocol["compiled"], true, "{r}: {protocol}");
        assert!(
            core["stats"]["loads_completed"].as_u64() >= Some(1),
            "{r}: {core:#}"
        );
    }
    // One copy per data packet leaves the source, three leave a0 (one per edge), two leave
    // a1 (its two members), one a3 (not to x1); each router also sent its subscribe upstream.
    for (name, copies) in [("src", 1), ("a0", 3), ("a1", 2), ("a2", 1), ("a3", 1)] {
        let upstream = u64::from(name != "src");
        assert_eq!(
            stat(&doc, name, "capsules_sent"),
            copies * u64::from(DATA) + upstream,
            "capsules sent by {name}: {:#}",
            node(&doc, name)["router"]["node"]["stats"]
        );
    }

    let checked = started.elapsed();

    // Down: nothing is left.
    let mut cmd = topo_cmd("down");
    cmd.arg(&file);
    let out = ok(
        run(
            &mut cmd,
            &scratch,
            Duration::from_secs(20).min(deadline.left()),
        ),
        "ants topo down",
    );
    assert!(
        out.contains("14 namespace(s) deleted, 10 daemon(s) stopped"),
        "{out}"
    );
    assert_eq!(namespaces_with(&prefix), Vec::<String>::new());
    assert!(!state_dir.exists(), "the state directory is gone");
    guard.down = true;
    drop(guard);
    let _ = fs::remove_dir_all(&scratch);
    eprintln!(
        "up {:.1} s, subscribed {:.1} s, delivered {:.1} s, checked {:.1} s, down {:.1} s",
        up_done.as_secs_f64(),
        subscribed.as_secs_f64(),
        delivered.as_secs_f64(),
        checked.as_secs_f64(),
        started.elapsed().as_secs_f64()
    );
}
