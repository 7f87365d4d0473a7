//! End to end in network namespaces: `a1 – l1 – l2 – a2` (two legacy Linux routers between two
//! active routers) brought up by the built `ants-topo`, with real `antsd` daemons, pinged with
//! the ping capsule through `ants topo exec`, inspected, and brought down again.
//!
//! Needs root (it creates namespaces); without root it says why and passes. Every namespace it
//! makes is named after a prefix unique to this run, traffic only flows between those
//! namespaces, every command is bounded in time, and a guard removes everything if the test
//! fails halfway.

mod netns_support;

use std::fs;
use std::process::{Command, Output};
use std::time::Duration;

use netns_support::{
    Deadline, Guard, capsule_module, forwarded_datagrams, namespaces_with, ok, programs, run, text,
    unique_prefix,
};
use serde_json::Value;

/// The whole test, every command included, ends within this.
const TEST_LIMIT: Duration = Duration::from_secs(60);

/// `reply from ADDR: seq=N hops=H path=A -> B time=T ms` → (hops, path, time in ms).
fn parse_reply(line: &str) -> (u32, String, f64) {
    let after = |key: &str| {
        line.split(key)
            .nth(1)
            .unwrap_or_else(|| panic!("no {key} in {line}"))
    };
    let hops = after("hops=").split(' ').next().unwrap().parse().unwrap();
    let path = after("path=").split(" time=").next().unwrap().to_string();
    let time = after("time=").trim_end_matches(" ms").parse().unwrap();
    (hops, path, time)
}

#[test]
fn line_of_two_legacy_routers_between_two_active_routers() {
    let Some(programs) = programs() else {
        return;
    };
    let deadline = Deadline::after(TEST_LIMIT);
    let topo = programs.topo;
    let ants = programs.ants;
    let ping_wasm = capsule_module("capsule_ping");

    let prefix = unique_prefix("antst");
    let scratch = std::env::temp_dir().join(format!("{prefix}.e2e"));
    fs::create_dir_all(&scratch).unwrap();
    let state_dir = scratch.join("state");
    let file = scratch.join("e2e.toml");
    fs::write(
        &file,
        r#"
name = "e2e"

[[node]]
name = "a1"
kind = "active"

[[node]]
name = "l1"
kind = "legacy"

[[node]]
name = "l2"
kind = "legacy"

[[node]]
name = "a2"
kind = "active"

[[link]]
ends = ["a1", "l1"]

[[link]]
ends = ["l1", "l2"]
bandwidth = "100Mbit"
queue = 32
delay = "2ms"

[[link]]
ends = ["l2", "a2"]
"#,
    )
    .unwrap();
    let mut guard = Guard {
        topo: topo.clone(),
        file: file.clone(),
        prefix: prefix.clone(),
        state_dir: state_dir.clone(),
        scratch: scratch.clone(),
        down: false,
    };
    let select = |cmd: &mut Command| {
        cmd.args(["--prefix", &prefix, "--state-dir"])
            .arg(&state_dir);
    };
    let exec = |node: &str, args: &[&str], limit: Duration| -> Output {
        let mut cmd = Command::new(&topo);
        cmd.arg("exec");
        select(&mut cmd);
        cmd.arg(node).arg("--").args(args);
        run(&mut cmd, &scratch, limit.min(deadline.left()))
    };

    // Up.
    let mut cmd = Command::new(&topo);
    cmd.arg("up").arg(&file);
    select(&mut cmd);
    let o = run(
        &mut cmd,
        &scratch,
        Duration::from_secs(30).min(deadline.left()),
    );
    let stderr = text(&o.stderr);
    let stdout = ok(o, "ants topo up");
    assert!(stdout.contains("topology `e2e` is up"), "{stdout}");
    assert!(
        stderr.contains("delay is not applied") && stderr.contains("l1 -- l2 (2ms)"),
        "the delay that cannot be applied is reported: {stderr}"
    );
    let expected: Vec<String> = ["a1", "a2", "l1", "l2"]
        .iter()
        .map(|n| format!("{prefix}-{n}"))
        .collect();
    assert_eq!(namespaces_with(&prefix), expected);

    // Status: every node up; node addresses.
    let mut cmd = Command::new(&topo);
    cmd.arg("status").arg("--json");
    select(&mut cmd);
    let doc: Value =
        serde_json::from_str(&ok(run(&mut cmd, &scratch, deadline.left()), "status")).unwrap();
    assert_eq!(doc["healthy"], true, "{doc:#}");
    let address = |name: &str| -> String {
        doc["nodes"]
            .as_array()
            .unwrap()
            .iter()
            .find(|n| n["name"] == name)
            .and_then(|n| n["address"].as_str())
            .unwrap()
            .to_string()
    };
    let (a1, a2) = (address("a1"), address("a2"));

    // Ping a2 from a1 through the two legacy routers.
    let wasm = ping_wasm.to_string_lossy().into_owned();
    let ants_path = ants.to_string_lossy().into_owned();
    let o = exec(
        "a1",
        &[
            &ants_path,
            "ping",
            &a2,
            "-c",
            "2",
            "--module",
            &wasm,
            "--timeout",
            "20",
            "--interval",
            "0.2",
        ],
        Duration::from_secs(45),
    );
    let out = ok(o, "ants ping in a1");
    let fingerprint = out
        .lines()
        .next()
        .and_then(|l| l.rsplit(" with ").next())
        .unwrap()
        .to_string();
    let replies: Vec<(u32, String, f64)> = out
        .lines()
        .filter(|l| l.starts_with("reply from"))
        .map(parse_reply)
        .collect();
    assert_eq!(replies.len(), 2, "{out}");
    for (hops, path, _) in &replies {
        assert_eq!(*hops, 2, "two active hops: {out}");
        assert_eq!(path, &format!("{a1} -> {a2}"), "{out}");
    }
    assert!(
        replies[0].2 > replies[1].2,
        "the first reply waited for the code to load at a2: {out}"
    );

    // a2 loaded the ping protocol on demand (not pinned) and a1 served it.
    let status_of = |node: &str| -> Value {
        let o = exec(
            node,
            &[&ants_path, "status", "--json"],
            Duration::from_secs(10),
        );
        serde_json::from_str(&ok(o, "ants status")).unwrap()
    };
    let s2 = status_of("a2");
    let protocol = s2["node"]["protocols"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["fingerprint"] == fingerprint.as_str())
        .unwrap_or_else(|| panic!("a2 has no protocol {fingerprint}: {s2:#}"))
        .clone();
    assert_eq!(protocol["pinned"], false, "{protocol}");
    assert_eq!(protocol["compiled"], true, "{protocol}");
    assert!(
        s2["node"]["stats"]["loads_completed"].as_u64() >= Some(1),
        "{s2:#}"
    );
    let s1 = status_of("a1");
    assert!(
        s1["node"]["stats"]["requests_served"].as_u64() >= Some(1),
        "{s1:#}"
    );

    // The legacy routers forwarded the datagrams in the kernel; l1 -- l2 is rate limited.
    for legacy in ["l1", "l2"] {
        let snmp = ok(
            exec(legacy, &["cat", "/proc/net/snmp"], Duration::from_secs(5)),
            "reading /proc/net/snmp",
        );
        let forwarded = forwarded_datagrams(&snmp);
        assert!(forwarded >= 4, "{legacy} forwarded {forwarded}: {snmp}");
    }
    let qdiscs = ok(
        exec("l1", &["tc", "qdisc", "show"], Duration::from_secs(5)),
        "tc qdisc show",
    );
    assert!(
        qdiscs.contains("tbf") && qdiscs.contains("rate 100Mbit"),
        "{qdiscs}"
    );

    // Exit status passes through.
    let o = exec("a1", &["sh", "-c", "exit 3"], Duration::from_secs(5));
    assert_eq!(o.status.code(), Some(3));

    // Down, twice.
    let down = || {
        let mut cmd = Command::new(&topo);
        cmd.arg("down").arg(&file);
        select(&mut cmd);
        ok(
            run(
                &mut cmd,
                &scratch,
                Duration::from_secs(20).min(deadline.left()),
            ),
            "ants topo down",
        )
    };
    let out = down();
    assert!(
        out.contains("4 namespace(s) deleted, 2 daemon(s) stopped"),
        "{out}"
    );
    assert_eq!(namespaces_with(&prefix), Vec::<String>::new());
    assert!(!state_dir.exists(), "the state directory is gone");
    let out = down();
    assert!(out.starts_with("nothing to remove"), "{out}");
    guard.down = true;
    drop(guard);
    let _ = fs::remove_dir_all(&scratch);
}
