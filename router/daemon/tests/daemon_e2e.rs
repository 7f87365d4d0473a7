//! End to end: three real `antsd` processes chained on loopback, r1 - r2 - r3.
//!
//! A ping from r1 to r3 demand-loads the ping capsule hop by hop (r2 from r1, r3 from r2) with
//! nothing lost; then 10,000 forward capsules from r1 all reach the application on r3.

mod daemon_support;

use std::net::IpAddr;
use std::time::{Duration, Instant};

use ants_router::fingerprint::Fingerprint;
use daemon_support::{Daemon, ants, capsule, chain_config, free_ports};
use serde_json::Value;

fn start_chain(dir: &std::path::Path) -> Vec<Daemon> {
    let ports = free_ports(3);
    (1..=3)
        .map(|i| Daemon::start(dir, &format!("r{i}"), &chain_config(dir, &ports, i, &[])))
        .collect()
}

fn logs(nodes: &[Daemon]) -> String {
    nodes
        .iter()
        .map(|n| format!("--- {} ---\n{}", n.name, n.log()))
        .collect()
}

fn protocol<'a>(status: &'a Value, fp: &str) -> Option<&'a Value> {
    status["node"]["protocols"]
        .as_array()?
        .iter()
        .find(|p| p["fingerprint"] == fp)
}

fn drops(status: &Value) -> u64 {
    status["node"]["stats"]["drops"]
        .as_object()
        .map_or(0, |m| m.values().filter_map(Value::as_u64).sum())
}

fn stat(status: &Value, name: &str) -> u64 {
    status["node"]["stats"][name].as_u64().unwrap_or(0)
}

#[test]
fn ping_demand_loads_hop_by_hop_then_ten_thousand_capsules_arrive() {
    let dir = tempfile::tempdir().unwrap();
    let nodes = start_chain(dir.path());
    let (r1, r2, r3) = (&nodes[0], &nodes[1], &nodes[2]);

    // --- ping: the first request waits at r2 and at r3 while each loads the code ---
    let ping = capsule("ping");
    let ping_fp = Fingerprint::sha256(&std::fs::read(&ping).unwrap()).to_string();
    let (status, out, err) = ants(&[
        "ping",
        "--socket",
        r1.socket.to_str().unwrap(),
        "127.0.1.3",
        "--module",
        ping.to_str().unwrap(),
        "-c",
        "2",
        "--interval",
        "0.1",
        "--timeout",
        "60",
    ]);
    assert!(status.success(), "{out}{err}{}", logs(&nodes));
    assert_eq!(
        out.matches("hops=3 path=127.0.1.1 -> 127.0.1.2 -> 127.0.1.3 ")
            .count(),
        2,
        "{out}"
    );
    assert!(out.contains("2 sent, 2 received, 0% lost"), "{out}");

    // What an operator sees with `ants status --json`: r1 registered the protocol (pinned);
    // r2 and r3 loaded it on demand, once each.
    let s: Vec<Value> = nodes
        .iter()
        .map(|n| {
            let (status, out, err) =
                ants(&["status", "--json", "--socket", n.socket.to_str().unwrap()]);
            assert!(status.success(), "{err}");
            serde_json::from_str(&out).unwrap()
        })
        .collect();
    for (i, st) in s.iter().enumerate() {
        let p = protocol(st, &ping_fp).unwrap_or_else(|| panic!("r{} lacks ping: {st}", i + 1));
        assert_eq!(p["compiled"], true, "{st}");
        assert_eq!(p["pinned"], i == 0, "{st}");
        assert_eq!(drops(st), 0, "r{} dropped something: {st}", i + 1);
    }
    assert_eq!(stat(&s[0], "loads_started"), 0);
    for st in &s[1..] {
        assert_eq!(stat(st, "loads_started"), 1, "{st}");
        assert_eq!(stat(st, "loads_completed"), 1, "{st}");
    }
    // r2 held the first ping while it loaded; r3 was told by r2 as soon as r2 had the code,
    // so it loaded ahead of the capsule (and may not have held it at all).
    assert!(stat(&s[1], "capsules_held") >= 1, "{}", s[1]);
    assert_eq!(stat(&s[1], "announces_sent"), 1, "{}", s[1]);
    assert_eq!(stat(&s[2], "announces_received"), 1, "{}", s[2]);
    // Hop by hop: r2 fetched from r1, r3 from r2.
    assert_eq!(stat(&s[0], "requests_served"), 1, "{}", s[0]);
    assert_eq!(stat(&s[1], "requests_served"), 1, "{}", s[1]);
    assert_eq!(stat(&s[2], "requests_served"), 0, "{}", s[2]);

    // --- 10,000 forward capsules, every one counted at r3 ---
    let forward = std::fs::read(capsule("forward")).unwrap();
    let to: IpAddr = "127.0.1.3".parse().unwrap();
    let mut rx = r3.client();
    rx.listen(1).unwrap();
    let mut tx = r1.client();
    let fp = tx.register(&forward).unwrap();
    // The first capsule demand-loads the code along the path; the others find it cached.
    tx.send(fp, to, 8, b"first").unwrap();
    let first = rx
        .next_delivery(Some(Duration::from_secs(60)))
        .unwrap()
        .unwrap_or_else(|| panic!("first forward capsule lost\n{}", logs(&nodes)));
    assert_eq!(first.payload, b"first");
    assert_eq!(first.source, "127.0.1.1".parse::<IpAddr>().unwrap());
    assert_eq!(first.fingerprint, fp);

    const N: u32 = 10_000;
    // Capsules in flight at once: the application paces itself, as UDP senders must, so
    // no socket buffer on the way overflows.
    const WINDOW: u32 = 256;
    let mut seen = vec![false; N as usize];
    let (mut sent, mut received) = (0u32, 0u32);
    let deadline = Instant::now() + Duration::from_secs(300);
    while received < N {
        while sent < N && sent - received < WINDOW {
            tx.send(fp, to, 8, &sent.to_be_bytes()).unwrap();
            sent += 1;
        }
        let Some(d) = rx.next_delivery(Some(Duration::from_secs(10))).unwrap() else {
            panic!(
                "{received} of {sent} capsules arrived, then nothing for 10 s\nr1 {}\nr2 {}\nr3 {}",
                r1.status(),
                r2.status(),
                r3.status()
            );
        };
        let seq = u32::from_be_bytes(d.payload.as_slice().try_into().unwrap()) as usize;
        assert!(!seen[seq], "capsule {seq} delivered twice");
        seen[seq] = true;
        received += 1;
        assert!(Instant::now() < deadline, "too slow: {received} of {N}");
    }
    assert!(seen.iter().all(|s| *s));

    let s: Vec<Value> = nodes.iter().map(Daemon::status).collect();
    for st in &s {
        assert_eq!(drops(st), 0, "{st}");
    }
    assert_eq!(stat(&s[2], "deliveries"), u64::from(N) + 1, "{}", s[2]);
    assert_eq!(s[2]["daemon"]["stats"]["deliveries"], u64::from(N) + 1);
    assert_eq!(stat(&s[1], "loads_completed"), 2, "{}", s[1]);
}
