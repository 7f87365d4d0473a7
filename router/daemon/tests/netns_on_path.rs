//! On-path mode end to end, in network namespaces made by hand: h1 - a1 - l1 - a2 - h2.
//!
//! a1 and a2 run `antsd` with `mode = "on-path"` on both their interfaces, l1 is a plain Linux
//! router, h1 and h2 run `antsd` in the normal (overlay) mode and know nothing of a1 and a2 as
//! next hops: h1 addresses its capsules to h2 directly (a forward capsule, pings), and h2
//! subscribes to h1's multicast group with a capsule addressed to h1. The capsules are
//! evaluated at a1 and a2 all the same (their counters say so, the ping's path lists them, the
//! multicast tree's branches are kept there and h1's data reach h2), l1 only forwards
//! (its kernel's `ForwDatagrams` grows), the daemons' tc filters are gone after a clean stop,
//! and a filter left by a killed daemon is removed by the next start.
//!
//! Needs root (skipped with a message otherwise), `ip` and `tc`, and the capsules built
//! (`make capsules`). Everything lives in namespaces named with a prefix unique to the run;
//! the guard kills the daemons it started (by their pid) and deletes the namespaces, also when
//! the test fails. Traffic stays inside those namespaces.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use ants_daemon::app::Client;
use ants_daemon::config::ConfigWriter;

const ANTSD: &str = env!("CARGO_BIN_EXE_antsd");
const ANTS: &str = env!("CARGO_BIN_EXE_ants");

/// The nodes in path order: name, node address (on `lo`).
const NODES: [(&str, &str); 5] = [
    ("h1", "10.77.0.1"),
    ("a1", "10.77.0.2"),
    ("l1", "10.77.0.3"),
    ("a2", "10.77.0.4"),
    ("h2", "10.77.0.5"),
];

fn capsule(name: &str) -> PathBuf {
    let p = Path::new(env!("CARGO_MANIFEST_DIR")).join(format!(
        "../../capsules/target/wasm32-unknown-unknown/release/capsule_{name}.wasm"
    ));
    assert!(
        p.is_file(),
        "{} is missing: run `make capsules`",
        p.display()
    );
    p
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

/// Runs a command, killing it after `limit`; its output.
fn run(cmd: &mut Command, limit: Duration) -> Output {
    let mut child = cmd
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("cannot run {cmd:?}: {e}"));
    let end = Instant::now() + limit;
    while child.try_wait().unwrap().is_none() {
        if Instant::now() >= end {
            let _ = child.kill();
            let o = child.wait_with_output().unwrap();
            panic!(
                "{cmd:?} did not finish within {limit:?}: {}",
                text(&o.stderr)
            );
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    child.wait_with_output().unwrap()
}

fn ok(cmd: &mut Command) -> String {
    let what = format!("{cmd:?}");
    let o = run(cmd, Duration::from_secs(20));
    assert!(
        o.status.success(),
        "{what} failed: {}\n{}",
        text(&o.stdout),
        text(&o.stderr)
    );
    text(&o.stdout)
}

/// `ip netns exec <ns> <args>`, which must succeed.
fn ns_ok(ns: &str, args: &[&str]) -> String {
    ok(Command::new("ip").args(["netns", "exec", ns]).args(args))
}

fn eventually(what: &str, limit: Duration, mut cond: impl FnMut() -> bool) {
    let end = Instant::now() + limit;
    while !cond() {
        assert!(Instant::now() < end, "timed out after {limit:?}: {what}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// The namespaces and daemons of one run, removed when dropped.
struct Guard {
    prefix: String,
    daemons: Vec<(String, Child)>,
    namespaces: Vec<String>,
}

impl Guard {
    fn ns(&self, node: &str) -> String {
        format!("{}-{node}", self.prefix)
    }
}

impl Drop for Guard {
    fn drop(&mut self) {
        for (_, child) in &mut self.daemons {
            let _ = child.kill();
            let _ = child.wait();
        }
        for ns in &self.namespaces {
            let _ = Command::new("ip")
                .args(["netns", "delete", ns])
                .stderr(Stdio::null())
                .status();
        }
    }
}

/// A running daemon of the test.
struct Daemon {
    socket: PathBuf,
    log: PathBuf,
}

fn start_daemon(guard: &mut Guard, dir: &Path, node: &str, config: &str) -> Daemon {
    let path = dir.join(format!("{node}.toml"));
    fs::write(&path, config).unwrap();
    let log = dir.join(format!("{node}.log"));
    let socket = dir.join(format!("{node}.sock"));
    let child = Command::new("ip")
        .args(["netns", "exec", &guard.ns(node), ANTSD, "--config"])
        .arg(&path)
        .env("RUST_LOG", "info")
        .stdin(Stdio::null())
        .stdout(fs::File::create(dir.join(format!("{node}.out"))).unwrap())
        .stderr(fs::File::create(&log).unwrap())
        .spawn()
        .unwrap();
    guard.daemons.push((node.to_string(), child));
    let d = Daemon { socket, log };
    eventually(
        &format!("{node}'s antsd answers"),
        Duration::from_secs(15),
        || {
            if let Some((_, c)) = guard.daemons.iter_mut().find(|(n, _)| n == node)
                && let Ok(Some(status)) = c.try_wait()
            {
                panic!(
                    "{node}'s antsd exited ({status}): {}",
                    fs::read_to_string(&d.log).unwrap_or_default()
                );
            }
            Client::connect(&d.socket).is_ok()
        },
    );
    // The application socket answers once the on-path filters are in place; the log line
    // says so too.
    if config.contains("on-path") {
        eventually(
            &format!("{node}'s on-path filters are installed"),
            Duration::from_secs(15),
            || fs::read_to_string(&d.log).is_ok_and(|l| l.contains("on-path mode: capturing")),
        );
    }
    d
}

/// Stops a daemon with SIGTERM and waits for it (bounded).
fn stop_daemon(guard: &mut Guard, node: &str, signal: i32) {
    let i = guard
        .daemons
        .iter()
        .position(|(n, _)| n == node)
        .expect("a daemon of the test");
    let (_, mut child) = guard.daemons.remove(i);
    // `ip netns exec` runs antsd in its own process (exec), so the pid is antsd's.
    // SAFETY: kill has no memory preconditions; the pid is a child this test started.
    unsafe { libc::kill(child.id() as i32, signal) };
    let end = Instant::now() + Duration::from_secs(10);
    while child.try_wait().unwrap().is_none() {
        if Instant::now() >= end {
            let _ = child.kill();
            let _ = child.wait();
            panic!("{node}'s antsd did not stop within 10 s");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn status(d: &Daemon) -> serde_json::Value {
    let json = Client::connect(&d.socket).unwrap().status().unwrap();
    serde_json::from_str(&json).unwrap()
}

/// Waits until an application listens on `port` at the daemon.
fn wait_listening(d: &Daemon, port: u64) {
    eventually(
        &format!("an application listens on port {port}"),
        Duration::from_secs(15),
        || {
            status(d)["daemon"]["listening_ports"]
                .as_array()
                .is_some_and(|p| p.iter().any(|x| x.as_u64() == Some(port)))
        },
    );
}

fn forwarded(ns: &str) -> u64 {
    let snmp = ns_ok(ns, &["cat", "/proc/net/snmp"]);
    let ip: Vec<&str> = snmp.lines().filter(|l| l.starts_with("Ip:")).collect();
    let names: Vec<&str> = ip[0].split_whitespace().collect();
    let values: Vec<&str> = ip[1].split_whitespace().collect();
    let at = names.iter().position(|n| *n == "ForwDatagrams").unwrap();
    values[at].parse().unwrap()
}

fn ip(s: &str) -> std::net::IpAddr {
    s.parse().unwrap()
}

/// The configuration of node `i` (index in [`NODES`]). On-path: hosts route to the other
/// host directly, on-path routers route each host to itself, and every node has the others
/// as neighbours so that code may be asked for and served. Overlay: the usual chain,
/// h1 -> a1 -> a2 -> h2, each node's active neighbours its next active hops.
fn config(dir: &Path, i: usize, on_path: bool) -> String {
    let (name, addr) = NODES[i];
    let mut w = ConfigWriter::new(ip(addr));
    w.listen(format!("{addr}:3322").parse().unwrap())
        .app_socket(dir.join(format!("{name}.sock")))
        .driver(&ants_daemon::config::DriverLimits {
            code_store: None,
            ..Default::default()
        });
    let hosts = [NODES[0].1, NODES[4].1];
    if !on_path {
        // Active nodes in path order: h1, a1, a2, h2.
        let chain = [0, 1, 3, 4];
        let at = chain.iter().position(|&c| c == i).unwrap();
        if at > 0 {
            let left = NODES[chain[at - 1]].1;
            w.neighbour_at_default_port(ip(left))
                .route(ip(hosts[0]), 32, ip(left));
        }
        if at + 1 < chain.len() {
            let right = NODES[chain[at + 1]].1;
            w.neighbour_at_default_port(ip(right))
                .route(ip(hosts[1]), 32, ip(right));
        }
        return w.to_toml();
    }
    for h in hosts.iter().filter(|h| **h != addr) {
        w.neighbour_at_default_port(ip(h)).route(ip(h), 32, ip(h));
    }
    // The on-path routers are neighbours too, without routes through them: the multicast
    // capsule sends along its tree's branches to the node each subscribe came from.
    for (_, other) in NODES {
        if other != addr && !hosts.contains(&other) && other != NODES[2].1 {
            w.neighbour_at_default_port(ip(other));
        }
    }
    let text = w.to_toml();
    if name.starts_with('a') {
        format!("mode = \"on-path\"\ninterfaces = [\"eth0\", \"eth1\"]\n{text}")
    } else {
        text
    }
}

/// Whether namespaces can be made here; says why not.
fn can_run() -> bool {
    // SAFETY: geteuid has no preconditions.
    if unsafe { libc::geteuid() } != 0 {
        eprintln!("skipped: network namespaces and capture need root");
        return false;
    }
    for program in ["ip", "tc"] {
        let present = Command::new(program)
            .arg("-V")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_ok();
        if !present {
            eprintln!("skipped: the `{program}` program (iproute2) is not installed");
            return false;
        }
    }
    true
}

/// Makes the namespaces of h1 - a1 - l1 - a2 - h2 with their links, addresses and routes.
fn build_line(tag: &str) -> Guard {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .subsec_nanos();
    let mut guard = Guard {
        prefix: format!("{tag}{}-{}", std::process::id(), nanos % 100_000),
        daemons: Vec::new(),
        namespaces: Vec::new(),
    };
    // Namespaces, veths (created inside the namespaces), addresses, routes.
    for (name, addr) in NODES {
        let ns = guard.ns(name);
        guard.namespaces.push(ns.clone());
        ok(Command::new("ip").args(["netns", "add", &ns]));
        ns_ok(&ns, &["ip", "link", "set", "lo", "up"]);
        ns_ok(
            &ns,
            &["ip", "address", "add", &format!("{addr}/32"), "dev", "lo"],
        );
    }
    // Link k joins node k (its eth1, or eth0 for h1) and node k+1 (its eth0) on 10.77.(k+1).0/30.
    for k in 0..4 {
        let (a, b) = (guard.ns(NODES[k].0), guard.ns(NODES[k + 1].0));
        let a_if = if k == 0 { "eth0" } else { "eth1" };
        ok(Command::new("ip").args([
            "link", "add", a_if, "netns", &a, "type", "veth", "peer", "name", "eth0", "netns", &b,
        ]));
        let net = k + 1;
        ns_ok(
            &a,
            &[
                "ip",
                "address",
                "add",
                &format!("10.77.{net}.1/30"),
                "dev",
                a_if,
            ],
        );
        ns_ok(
            &b,
            &[
                "ip",
                "address",
                "add",
                &format!("10.77.{net}.2/30"),
                "dev",
                "eth0",
            ],
        );
        ns_ok(&a, &["ip", "link", "set", a_if, "up"]);
        ns_ok(&b, &["ip", "link", "set", "eth0", "up"]);
    }
    // Kernel routes along the line, every node address reachable from every node.
    for (i, (name, addr)) in NODES.iter().enumerate() {
        let ns = guard.ns(name);
        for (j, (_, other)) in NODES.iter().enumerate() {
            if i == j {
                continue;
            }
            // Toward the left: link i (10.77.i.0/30), the left neighbour is .1; toward the
            // right: link i+1, the right neighbour is .2.
            let via = if j < i {
                format!("10.77.{i}.1")
            } else {
                format!("10.77.{}.2", i + 1)
            };
            ns_ok(
                &ns,
                &[
                    "ip",
                    "route",
                    "add",
                    &format!("{other}/32"),
                    "via",
                    &via,
                    "src",
                    addr,
                ],
            );
        }
        if !name.starts_with('h') {
            ns_ok(&ns, &["sysctl", "-q", "-w", "net.ipv4.ip_forward=1"]);
        }
    }
    guard
}

/// Deletes the namespaces and checks none is left.
fn tear_down(guard: Guard) {
    let prefix = guard.prefix.clone();
    drop(guard);
    let left: Vec<String> = fs::read_dir("/var/run/netns")
        .map(|d| {
            d.filter_map(Result::ok)
                .filter_map(|e| e.file_name().into_string().ok())
                .filter(|n| n.starts_with(&format!("{prefix}-")))
                .collect()
        })
        .unwrap_or_default();
    assert!(left.is_empty(), "namespaces left: {left:?}");
}

#[test]
fn capsules_to_a_host_are_evaluated_by_every_on_path_router() {
    if !can_run() {
        return;
    }
    let (forward, ping) = (capsule("forward"), capsule("ping"));
    let mut guard = build_line("aop");
    let scratch = tempfile::tempdir().unwrap();
    let dir = scratch.path();

    let mut daemons = Vec::new();
    for (i, (name, _)) in NODES.iter().enumerate() {
        if *name == "l1" {
            daemons.push(None);
            continue;
        }
        daemons.push(Some(start_daemon(
            &mut guard,
            dir,
            name,
            &config(dir, i, true),
        )));
    }
    let d = |name: &str| {
        daemons[NODES.iter().position(|(n, _)| *n == name).unwrap()]
            .as_ref()
            .unwrap()
    };
    for a in ["a1", "a2"] {
        let filters = ns_ok(
            &guard.ns(a),
            &["tc", "filter", "show", "dev", "eth0", "ingress"],
        );
        assert!(
            filters.contains("pref 3322 bpf") && filters.contains("handle 0x3322"),
            "{a} has no on-path filter: {filters}"
        );
    }
    let l1_before = forwarded(&guard.ns("l1"));

    // A forward capsule from h1 to h2: delivered on port 1 at h2.
    let mut listener = Command::new(ANTS)
        .args([
            "listen",
            "--port",
            "1",
            "--count",
            "1",
            "--timeout",
            "20",
            "--socket",
        ])
        .arg(&d("h2").socket)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    wait_listening(d("h2"), 1);
    ok(Command::new(ANTS)
        .args(["send", "--module"])
        .arg(&forward)
        .args(["--to", NODES[4].1, "--socket"])
        .arg(&d("h1").socket)
        .arg("across the on-path routers"));
    let end = Instant::now() + Duration::from_secs(25);
    while listener.try_wait().unwrap().is_none() {
        if Instant::now() >= end {
            let _ = listener.kill();
            let _ = listener.wait();
            panic!(
                "h2 got nothing; a1: {}\na2: {}",
                fs::read_to_string(&d("a1").log).unwrap_or_default(),
                fs::read_to_string(&d("a2").log).unwrap_or_default()
            );
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let heard = listener.wait_with_output().unwrap();
    if !heard.status.success() {
        let mut report = text(&heard.stderr);
        for n in ["h1", "a1", "a2", "h2"] {
            report.push_str(&format!(
                "\n--- {n} status:\n{}\n--- {n} log:\n{}",
                status(d(n)),
                fs::read_to_string(&d(n).log).unwrap_or_default()
            ));
        }
        panic!("h2 got no delivery: {report}");
    }
    assert!(
        text(&heard.stdout).contains("across the on-path routers"),
        "{}",
        text(&heard.stdout)
    );

    // A ping: the path lists both on-path routers.
    let out = ok(Command::new(ANTS)
        .args([
            "ping",
            "-c",
            "3",
            "--interval",
            "0.2",
            "--timeout",
            "10",
            "--module",
        ])
        .arg(&ping)
        .arg("--socket")
        .arg(&d("h1").socket)
        .arg(NODES[4].1));
    assert!(
        out.contains("path=10.77.0.1 -> 10.77.0.2 -> 10.77.0.4 -> 10.77.0.5"),
        "{out}"
    );
    assert!(out.contains("3 received"), "{out}");

    // Multicast: h2 subscribes to group 7 of source h1 (a capsule addressed to h1); a2 and a1
    // record the tree's branches on the way, and h1's data follow them to h2.
    let multicast = capsule("multicast");
    let mut member = Command::new(ANTS)
        .args([
            "listen",
            "--port",
            "9",
            "--count",
            "2",
            "--timeout",
            "20",
            "--socket",
        ])
        .arg(&d("h2").socket)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    wait_listening(d("h2"), 9);
    // postcard: Subscribe (variant 0) { group 7, port 9 }.
    ok(Command::new(ANTS)
        .args(["send", "--module"])
        .arg(&multicast)
        .args(["--to", NODES[0].1, "--budget", "64", "--hex", "--socket"])
        .arg(&d("h2").socket)
        .arg("000709"));
    eventually(
        "the subscribe reaches h1 through a2 and a1",
        Duration::from_secs(20),
        || status(d("h1"))["node"]["state_entries"].as_u64() >= Some(1),
    );
    for seq in ["01", "02"] {
        // postcard: Data (variant 2) { group 7, seq, data "tree" }.
        ok(Command::new(ANTS)
            .args(["send", "--module"])
            .arg(&multicast)
            .args(["--to", NODES[0].1, "--budget", "4096", "--hex", "--socket"])
            .arg(&d("h1").socket)
            .arg(format!("0207{seq}0474726565")));
    }
    let end = Instant::now() + Duration::from_secs(25);
    while member.try_wait().unwrap().is_none() {
        assert!(Instant::now() < end, "the member did not stop");
        std::thread::sleep(Duration::from_millis(50));
    }
    let heard = member.wait_with_output().unwrap();
    assert!(
        heard.status.success(),
        "h2 got fewer than 2 multicast packets: {}\na1: {}\na2: {}",
        text(&heard.stderr),
        status(d("a1")),
        status(d("a2"))
    );
    for a in ["a1", "a2"] {
        let s = status(d(a));
        assert!(
            s["node"]["state_entries"].as_u64() >= Some(1),
            "{a} holds no branch of the tree: {s}"
        );
    }

    for a in ["a1", "a2"] {
        let s = status(d(a));
        let node = &s["node"]["stats"];
        let daemon = &s["daemon"]["stats"];
        // 1 forward capsule, 3 pings and 3 replies, 1 subscribe, 2 data packets.
        assert!(node["evaluations"].as_u64().unwrap() >= 10, "{a}: {s}");
        assert!(daemon["captured"].as_u64().unwrap() >= 10, "{a}: {s}");
        // Captured frames are all well formed, and none were the router's own.
        for reason in [
            "capture_bad_ethernet",
            "capture_bad_ipv4",
            "capture_bad_ipv4_checksum",
            "capture_bad_udp",
            "capture_own_frames",
            "capture_truncated",
        ] {
            assert_eq!(daemon[reason].as_u64(), Some(0), "{a} {reason}: {s}");
        }
    }
    // l1 forwarded them in its kernel: 2 forward capsules at least (capsule, code), 6 pings.
    let l1_after = forwarded(&guard.ns("l1"));
    assert!(
        l1_after >= l1_before + 8,
        "l1 forwarded {l1_before} -> {l1_after}"
    );

    // Hostile frames on a1's wire: dropped and counted by name, visible in `ants status`.
    let mac = |ns: &str, ifname: &str| -> [u8; 6] {
        let text = ns_ok(ns, &["cat", &format!("/sys/class/net/{ifname}/address")]);
        let bytes: Vec<u8> = text
            .trim()
            .split(':')
            .map(|b| u8::from_str_radix(b, 16).unwrap())
            .collect();
        bytes.try_into().unwrap()
    };
    let (to, from) = (mac(&guard.ns("a1"), "eth0"), mac(&guard.ns("h1"), "eth0"));
    inject(&guard.ns("h1"), "eth0", &hostile_frame(to, from, true, 12));
    inject(
        &guard.ns("h1"),
        "eth0",
        &hostile_frame(to, from, false, 200),
    );
    eventually(
        "a1 counts both hostile frames",
        Duration::from_secs(10),
        || {
            let s = status(d("a1"));
            let c = &s["daemon"]["stats"];
            c["capture_bad_ipv4_checksum"].as_u64() == Some(1)
                && c["capture_bad_udp"].as_u64() == Some(1)
        },
    );
    let shown = ok(Command::new(ANTS)
        .arg("status")
        .arg("--socket")
        .arg(&d("a1").socket));
    assert!(
        shown.contains("capture_bad_ipv4_checksum") && shown.contains("capture_bad_udp"),
        "{shown}"
    );

    // A clean stop removes the filter and the qdisc it added.
    stop_daemon(&mut guard, "a2", libc::SIGTERM);
    for ifname in ["eth0", "eth1"] {
        let filters = ns_ok(
            &guard.ns("a2"),
            &["tc", "filter", "show", "dev", ifname, "ingress"],
        );
        assert!(!filters.contains("pref 3322"), "a2 {ifname}: {filters}");
        let qdiscs = ns_ok(&guard.ns("a2"), &["tc", "qdisc", "show", "dev", ifname]);
        assert!(!qdiscs.contains("clsact"), "a2 {ifname}: {qdiscs}");
    }
    // A killed daemon leaves its filters; the next start removes them before adding its own.
    stop_daemon(&mut guard, "a1", libc::SIGKILL);
    let left = ns_ok(
        &guard.ns("a1"),
        &["tc", "filter", "show", "dev", "eth0", "ingress"],
    );
    assert!(left.contains("handle 0x3322"), "{left}");
    let a1 = start_daemon(&mut guard, dir, "a1", &config(dir, 1, true));
    let log = fs::read_to_string(&a1.log).unwrap();
    assert!(log.contains("an earlier run left"), "{log}");
    let filters = ns_ok(
        &guard.ns("a1"),
        &["tc", "filter", "show", "dev", "eth0", "ingress"],
    );
    assert_eq!(filters.matches("handle 0x3322").count(), 1, "{filters}");
    stop_daemon(&mut guard, "a1", libc::SIGTERM);
    let filters = ns_ok(
        &guard.ns("a1"),
        &["tc", "filter", "show", "dev", "eth0", "ingress"],
    );
    assert!(!filters.contains("pref 3322"), "{filters}");

    tear_down(guard);
}

/// An Ethernet frame to `to` from `from` carrying an IPv4/UDP datagram to port 3322 from h1's
/// link address to h2: with a wrong IP header checksum if `bad_checksum`, with `udp_len` in
/// its UDP header (12 is right: 8 + 4 bytes of payload).
fn hostile_frame(to: [u8; 6], from: [u8; 6], bad_checksum: bool, udp_len: u16) -> Vec<u8> {
    let mut f = Vec::new();
    f.extend_from_slice(&to);
    f.extend_from_slice(&from);
    f.extend_from_slice(&[0x08, 0x00]);
    let mut ip = vec![0x45, 0, 0, 32, 0, 1, 0x40, 0, 64, 17, 0, 0];
    ip.extend_from_slice(&[10, 77, 1, 1, 10, 77, 0, 5]);
    let mut sum: u32 = ip
        .chunks(2)
        .map(|c| u32::from(u16::from_be_bytes([c[0], c[1]])))
        .sum();
    while sum > 0xffff {
        sum = (sum & 0xffff) + (sum >> 16);
    }
    let mut checksum = !(sum as u16);
    if bad_checksum {
        checksum ^= 0x0101;
    }
    ip[10..12].copy_from_slice(&checksum.to_be_bytes());
    f.extend_from_slice(&ip);
    f.extend_from_slice(&4000u16.to_be_bytes());
    f.extend_from_slice(&3322u16.to_be_bytes());
    f.extend_from_slice(&udp_len.to_be_bytes());
    f.extend_from_slice(&[0, 0]);
    f.extend_from_slice(b"bad!");
    f
}

/// Sends one raw Ethernet frame out of `ifname` in namespace `ns` (a packet socket).
fn inject(ns: &str, ifname: &str, frame: &[u8]) {
    let (ns, ifname, frame) = (ns.to_string(), ifname.to_string(), frame.to_vec());
    std::thread::spawn(move || {
        let f = fs::File::open(format!("/var/run/netns/{ns}")).unwrap();
        // SAFETY: setns on an open namespace file moves only this thread; the packet socket
        // is opened, used with a filled-in address and closed here.
        unsafe {
            assert_eq!(
                libc::setns(std::os::fd::AsRawFd::as_raw_fd(&f), libc::CLONE_NEWNET),
                0
            );
            let name = std::ffi::CString::new(ifname).unwrap();
            let index = libc::if_nametoindex(name.as_ptr());
            assert!(index > 0, "no interface");
            let fd = libc::socket(libc::AF_PACKET, libc::SOCK_RAW, 0);
            assert!(fd >= 0, "packet socket");
            let mut addr: libc::sockaddr_ll = std::mem::zeroed();
            addr.sll_family = libc::AF_PACKET as u16;
            addr.sll_ifindex = index as i32;
            addr.sll_halen = 6;
            addr.sll_addr[..6].copy_from_slice(&frame[..6]);
            let sent = libc::sendto(
                fd,
                frame.as_ptr().cast(),
                frame.len(),
                0,
                (&addr as *const libc::sockaddr_ll).cast(),
                std::mem::size_of::<libc::sockaddr_ll>() as u32,
            );
            libc::close(fd);
            assert_eq!(
                sent,
                frame.len() as isize,
                "{}",
                std::io::Error::last_os_error()
            );
        }
    })
    .join()
    .unwrap();
}

/// Sends `frames` from a UDP socket bound to `bind` inside namespace `ns`, `rate` per second
/// on an absolute schedule (0: as fast as the socket takes them); returns when all are sent.
fn blast(
    ns: &str,
    bind: &str,
    to: &str,
    frames: usize,
    rate: u64,
    frame: &[u8],
) -> std::thread::JoinHandle<()> {
    let (ns, bind, to, frame) = (
        ns.to_string(),
        bind.to_string(),
        to.to_string(),
        frame.to_vec(),
    );
    std::thread::spawn(move || {
        let f = fs::File::open(format!("/var/run/netns/{ns}")).unwrap();
        // SAFETY: setns on an open namespace file; it moves only this thread.
        let r = unsafe { libc::setns(std::os::fd::AsRawFd::as_raw_fd(&f), libc::CLONE_NEWNET) };
        assert_eq!(r, 0, "setns {ns}");
        let s = std::net::UdpSocket::bind(&bind).unwrap();
        let mut sent = 0;
        let start = Instant::now();
        while sent < frames {
            if rate > 0 && sent % 16 == 0 {
                let due = start + Duration::from_secs_f64(sent as f64 / rate as f64);
                if let Some(wait) = due.checked_duration_since(Instant::now()) {
                    std::thread::sleep(wait);
                }
            }
            match s.send_to(&frame, &to) {
                Ok(_) => sent += 1,
                // A full send buffer or queue: try again shortly.
                Err(_) => std::thread::sleep(Duration::from_micros(50)),
            }
        }
    })
}

fn deliveries(d: &Daemon) -> u64 {
    status(d)["node"]["stats"]["deliveries"].as_u64().unwrap()
}

/// Throughput of on-path mode against the overlay mode on the same five namespaces: a
/// generator in h1 sends `ANTS_BENCH_CAPSULES` (default 20,000) forward capsules to h2,
/// `ANTS_BENCH_RATE` per second (default: as fast as its socket takes them), through a1 and a2 (addressed to a1 in overlay mode, to h2 in
/// on-path mode); the rate is what h2's node delivered over the time from the first send to
/// the last delivery. Results in `docs/benchmarks.md`.
#[test]
#[ignore = "a measurement: cargo test -p ants-daemon --test netns_on_path -- --ignored --nocapture"]
fn throughput_on_path_against_overlay() {
    if !can_run() {
        return;
    }
    let n: usize = std::env::var("ANTS_BENCH_CAPSULES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(20_000);
    let rate: u64 = std::env::var("ANTS_BENCH_RATE")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(0);
    let forward = capsule("forward");
    let module = fs::read(&forward).unwrap();
    let fingerprint = ants_router::fingerprint::Fingerprint::sha256(&module);
    for on_path in [false, true] {
        let mode = if on_path { "on-path" } else { "overlay" };
        let guard_line = build_line("aob");
        let mut guard = guard_line;
        let scratch = tempfile::tempdir().unwrap();
        let dir = scratch.path();
        let mut daemons = std::collections::HashMap::new();
        for (i, (name, _)) in NODES.iter().enumerate() {
            if *name != "l1" {
                let d = start_daemon(&mut guard, dir, name, &config(dir, i, on_path));
                daemons.insert(*name, d);
            }
        }
        // Warm-up: the code loads at every hop.
        ok(Command::new(ANTS)
            .args(["send", "--module"])
            .arg(&forward)
            .args(["--to", NODES[4].1, "--socket"])
            .arg(&daemons["h1"].socket)
            .arg("warm-up"));
        eventually(
            "the warm-up capsule arrives",
            Duration::from_secs(20),
            || deliveries(&daemons["h2"]) == 1,
        );
        // The generator is a node of its own at h1's link address, port 3322.
        let frame = ants_router::wire::CapsuleRepr {
            fingerprint,
            source: ip("10.77.1.1"),
            destination: ip(NODES[4].1),
            previous: ip("10.77.1.1"),
            budget: 16,
            payload: &[0x5a; 64],
        }
        .to_vec()
        .unwrap();
        let to = if on_path { NODES[4].1 } else { NODES[1].1 };
        let start = Instant::now();
        blast(
            &guard.ns("h1"),
            "10.77.1.1:3322",
            &format!("{to}:3322"),
            n,
            rate,
            &frame,
        )
        .join()
        .unwrap();
        let sent_in = start.elapsed();
        let (mut last, mut last_at) = (deliveries(&daemons["h2"]), Instant::now());
        while last < 1 + n as u64 && last_at.elapsed() < Duration::from_secs(1) {
            std::thread::sleep(Duration::from_millis(5));
            let now = deliveries(&daemons["h2"]);
            if now != last {
                (last, last_at) = (now, Instant::now());
            }
        }
        let delivered = last - 1;
        let secs = last_at.duration_since(start).as_secs_f64();
        let a1 = status(&daemons["a1"]);
        println!(
            "{mode}: {n} sent in {:.3} s ({:.0}/s offered), {delivered} delivered at h2 in {secs:.3} s: {:.0} capsules/s, {:.1} % lost; a1 evaluations {}, captured {}",
            sent_in.as_secs_f64(),
            n as f64 / sent_in.as_secs_f64(),
            delivered as f64 / secs,
            100.0 * (n as f64 - delivered as f64) / n as f64,
            a1["node"]["stats"]["evaluations"],
            a1["daemon"]["stats"]["captured"],
        );
        tear_down(guard);
    }
}
