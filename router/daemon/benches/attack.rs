//! Hostile capsule code against a benign flow through one router: can a module that burns
//! every evaluation it is given, by looping forever around one node-API import called in its
//! costliest legal way (or around no import, or bulk memory instructions), starve the capsules
//! of another protocol crossing the same router?
//!
//! Router r2 is a [`Driver`] on its own thread (pinned to CPU 1 when the machine has two
//! CPUs). r1, r3 and the attacker are plain UDP sockets of the benchmark, on CPU 0. r1 sends
//! forward capsules toward r3's node address at 200 capsules/s; r2 forwards them to r3, which
//! takes each one's latency from the send time in its payload and the kernel's receive
//! timestamp (so the scheduling of the measuring threads does not count). Meanwhile the
//! attacker floods r2 with capsules of one hostile module. r2 pins the forward module and every
//! hostile module and has compiled them all before traffic starts, so no demand loading is
//! involved. Every case runs on a fresh r2 (state, instances and counters start empty), in a
//! process of its own (this executable again), so that a router stuck in an endless
//! evaluation ends with its case and leaves the CPU to the next: the benign flow alone (the
//! baseline), then beside each attack, sent once from a configured peer of r2 and once from a
//! socket r2 does not know, with the baseline again in the middle and at the end. Each attacked
//! case is marked PASS when the benign flow keeps at least 90 % delivery and a p99 latency at
//! most twice the median of the three baselines' p99, else FAIL.
//!
//! Run with `cargo bench -p ants-daemon --bench attack` after `make capsules` (48 cases of 3 to
//! 13 s, 4 to 6 min in all). `-- --quick` uses 1 s windows (2 to 4 min); `-- --rate N` paces
//! the attacker to N capsules per second instead of flooding (so that what is measured is the
//! cost of the hostile code, not of receiving a flood); any other argument keeps only the
//! attacks whose case name contains it (`-- --quick state_put`). Under `cargo test` (no
//! `--bench` argument) it only says so and exits.
//!
//! Traffic goes only to 127.0.0.1 (the 127.0.5.x node addresses are names): r1 sends forward
//! capsules with 64-byte payloads and budget 16, paced; the attacker sends one 1,200-byte
//! capsule with budget 64 over and over with `sendmmsg`, as fast as one thread can, from
//! 200 ms before the measured window until its end; r2 sends the forwarded capsules to r3. r2
//! formats its log lines as `antsd` does at its default level (info), into a sink.

use std::fs;
use std::io::{self, BufRead};
use std::mem;
use std::net::{IpAddr, SocketAddr, UdpSocket};
use std::os::fd::AsRawFd;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

mod support;

use support::RunningDriver;

use ants_daemon::app::Client;
use ants_daemon::config::ConfigWriter;
use ants_router::fingerprint::Fingerprint;
use ants_router::wire::{CapsuleRepr, Frame};
use capsule_sdk::abi;
use socket2::{Domain, Protocol, Socket, Type};

const FORWARD_WASM: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../../capsules/target/wasm32-unknown-unknown/release/capsule_forward.wasm"
);

/// Node addresses. Only names: every datagram goes to a socket on 127.0.0.1.
const R1_NODE: &str = "127.0.5.1";
const R2_NODE: &str = "127.0.5.2";
const R3_NODE: &str = "127.0.5.3";
const ATTACKER_NODE: &str = "127.0.5.66";

/// The benign flow: capsules per second, budget and payload (sequence number, send time in
/// nanoseconds since the Unix epoch, padding).
const BENIGN_RATE: u32 = 200;
const BENIGN_BUDGET: u16 = 16;
const BENIGN_PAYLOAD: usize = 64;
/// Sequence number of the warm-up capsules, which are not measured.
const WARM_UP_SEQ: u32 = u32::MAX;

/// Attack capsules carry the largest payload a capsule may send on (the modules copy it), and
/// enough budget for the `send` loop to reach the per-evaluation cap of sends.
const ATTACK_PAYLOAD: usize = abi::MAX_PAYLOAD;
const ATTACK_BUDGET: u16 = 64;
/// Attack datagrams per `sendmmsg` call.
const ATTACK_BATCH: usize = 64;

/// `--rate N`: the attacker sends N capsules per second, paced, instead of flooding.
const RATE_ARG: &str = "--rate";
/// The attacker's pace in capsules per second; 0 floods.
static ATTACK_RATE: AtomicU64 = AtomicU64::new(0);

/// CPU of r2; r1, r3 and the attacker share the other one.
const ROUTER_CPU: usize = 1;
const TRAFFIC_CPU: usize = 0;

/// r3's receive buffer: large, so that r3 never drops what r2 forwards.
const R3_BUFFER: usize = 8 * 1024 * 1024;

/// The bar for an attacked case.
const MIN_DELIVERED: f64 = 0.90;
const MAX_P99_RATIO: f64 = 2.0;

/// How long r2 may take to stop. It finishes the datagrams it has read before it looks at its
/// control channel again (a few batches), each an evaluation the attack made as long as the
/// limits allow; past this, the case process ends without r2's final counters.
const STOP_LIMIT: Duration = Duration::from_secs(30);

/// How long each case runs.
struct Settings {
    /// Measured window of the benign flow.
    window: Duration,
    /// The attacker's head start: r2's socket is already full when the window opens.
    settle: Duration,
    /// After the last benign send, how long its stragglers may still arrive; later ones count
    /// as lost.
    drain: Duration,
    /// Between cases, so that the previous r2's threads are gone and the CPUs quiet.
    pause: Duration,
}

const BENCH: Settings = Settings {
    window: Duration::from_secs(3),
    settle: Duration::from_millis(200),
    drain: Duration::from_secs(1),
    pause: Duration::from_millis(300),
};

const QUICK: Settings = Settings {
    window: Duration::from_secs(1),
    settle: Duration::from_millis(200),
    drain: Duration::from_secs(1),
    pause: Duration::from_millis(200),
};

// ---------------------------------------------------------------------------------------------
// Hostile modules

/// One hostile module: `setup` once, then `call` in a loop that never ends, so every
/// evaluation lasts until the sandbox stops it.
///
/// Memory (16 pages, the 1 MiB the limits allow, which also makes each fresh instance as
/// dear as possible): r3's node address at 0..16, outputs of the fixed-size calls at 32..64, a
/// 64-byte state key at 64..128, the value, payload and log buffer at 4,096..8,192. `$i`
/// counts iterations.
struct Attack {
    name: &'static str,
    imports: &'static [&'static str],
    setup: &'static str,
    call: &'static str,
}

/// A 4,096-byte value under the 64-byte key, for one hour (the longest TTL).
const PUT_ONE: &str = "(drop (call $state_put (i32.const 64) (i32.const 64) (i32.const 4096) \
                       (i32.const 4096) (i64.const 3600000)))";

const ATTACKS: &[Attack] = &[
    Attack {
        name: "state_put",
        imports: &["state_put"],
        setup: "",
        // Four keys (first byte 0..3): 4 x (64 + 4,096 + 128) bytes stay under the quota, so
        // every put succeeds and replaces a live 4 KiB entry.
        call: "(i32.store8 (i32.const 64) (i32.and (local.get $i) (i32.const 3))) \
               (drop (call $state_put (i32.const 64) (i32.const 64) (i32.const 4096) \
               (i32.const 4096) (i64.const 3600000)))",
    },
    Attack {
        name: "state_get",
        imports: &["state_put", "state_get"],
        setup: PUT_ONE,
        call: "(drop (call $state_get (i32.const 64) (i32.const 64) (i32.const 4096) \
               (i32.const 4096)))",
    },
    Attack {
        name: "state_remove",
        imports: &["state_put", "state_remove"],
        // The first remove finds the entry; the later ones look up a 64-byte key in vain.
        setup: PUT_ONE,
        call: "(drop (call $state_remove (i32.const 64) (i32.const 64)))",
    },
    Attack {
        name: "send",
        imports: &["send"],
        // Routed toward r3, budget 1 each: 63 sends succeed (the per-evaluation cap is 64),
        // then every call fails its checks. Never released: the evaluation never returns.
        setup: "",
        call: "(drop (call $send (i32.const 0) (i32.const 0) (i32.const 1) (i32.const 0) \
               (i32.const 4096) (i32.const 1200)))",
    },
    Attack {
        name: "deliver",
        imports: &["deliver"],
        setup: "",
        call: "(drop (call $deliver (i32.const 1) (i32.const 4096) (i32.const 1200)))",
    },
    Attack {
        name: "log",
        imports: &["log"],
        // 256 bytes of 'x' at level error, which `antsd` logs by default.
        setup: "(memory.fill (i32.const 4096) (i32.const 120) (i32.const 256))",
        call: "(drop (call $log (i32.const 0) (i32.const 4096) (i32.const 256)))",
    },
    Attack {
        name: "capsule_payload",
        imports: &["capsule_payload"],
        setup: "",
        call: "(drop (call $capsule_payload (i32.const 4096) (i32.const 1200)))",
    },
    Attack {
        name: "capsule_source",
        imports: &["capsule_source"],
        setup: "",
        call: "(drop (call $capsule_source (i32.const 32)))",
    },
    Attack {
        name: "capsule_destination",
        imports: &["capsule_destination"],
        setup: "",
        call: "(drop (call $capsule_destination (i32.const 32)))",
    },
    Attack {
        name: "capsule_previous",
        imports: &["capsule_previous"],
        setup: "",
        call: "(drop (call $capsule_previous (i32.const 32)))",
    },
    Attack {
        name: "capsule_fingerprint",
        imports: &["capsule_fingerprint"],
        setup: "",
        call: "(drop (call $capsule_fingerprint (i32.const 32)))",
    },
    Attack {
        name: "node_address",
        imports: &["node_address"],
        setup: "",
        call: "(drop (call $node_address (i32.const 32)))",
    },
    Attack {
        name: "route_next_hop",
        imports: &["route_next_hop"],
        setup: "",
        call: "(drop (call $route_next_hop (i32.const 0) (i32.const 32)))",
    },
    Attack {
        name: "neighbours",
        imports: &["neighbours"],
        // Room for 65,536 entries: the whole memory.
        setup: "",
        call: "(drop (call $neighbours (i32.const 0) (i32.const 65536)))",
    },
    Attack {
        name: "link_load",
        imports: &["link_load"],
        setup: "",
        call: "(drop (call $link_load (i32.const 0) (i32.const 32)))",
    },
    Attack {
        name: "node_time_ns",
        imports: &["node_time_ns"],
        setup: "",
        call: "(drop (call $node_time_ns))",
    },
    Attack {
        name: "capsule_budget",
        imports: &["capsule_budget"],
        setup: "",
        call: "(drop (call $capsule_budget))",
    },
    Attack {
        name: "capsule_payload_len",
        imports: &["capsule_payload_len"],
        setup: "",
        call: "(drop (call $capsule_payload_len))",
    },
    Attack {
        name: "plain_loop",
        imports: &[],
        setup: "",
        call: "",
    },
    // Bulk memory instructions over the whole memory. Wasmtime charges their fuel per byte,
    // up front: a 1 MiB fill needs more than one evaluation's fuel (1,000,000), so it is
    // stopped before it runs, and the 960 KiB variants (15 pages, the most whole pages the
    // fuel pays for) are the dearest evaluations bulk memory can buy.
    Attack {
        name: "memory_fill",
        imports: &[],
        setup: "",
        call: "(memory.fill (i32.const 0) (local.get $i) (i32.const 1048576))",
    },
    Attack {
        name: "memory_copy",
        imports: &[],
        // Overlapping by one byte: a memmove of the whole memory.
        setup: "",
        call: "(memory.copy (i32.const 1) (i32.const 0) (i32.const 1048575))",
    },
    Attack {
        name: "memory_fill_960k",
        imports: &[],
        setup: "",
        call: "(memory.fill (i32.const 0) (local.get $i) (i32.const 983040))",
    },
    Attack {
        name: "memory_copy_960k",
        imports: &[],
        setup: "",
        call: "(memory.copy (i32.const 1) (i32.const 0) (i32.const 983040))",
    },
];

/// The module's text. Import signatures come from `abi::IMPORTS`, as the node checks them.
fn attack_wat(attack: &Attack, target: IpAddr) -> String {
    let ty = |t: abi::ValType| match t {
        abi::ValType::I32 => "i32",
        abi::ValType::I64 => "i64",
    };
    let mut text = String::from("(module\n");
    for name in attack.imports {
        let import = abi::import_named(name).unwrap_or_else(|| panic!("no import {name}"));
        let params: Vec<&str> = import.params.iter().map(|t| ty(*t)).collect();
        let params = if params.is_empty() {
            String::new()
        } else {
            format!(" (param {})", params.join(" "))
        };
        text += &format!(
            "  (import \"{}\" \"{name}\" (func ${name}{params} (result {})))\n",
            abi::MODULE,
            ty(import.result)
        );
    }
    let address: String = abi_address(target)
        .iter()
        .map(|b| format!("\\{b:02x}"))
        .collect();
    text += &format!(
        "  (memory (export \"memory\") 16)\n  (data (i32.const 0) \"{address}\")\n  \
         (data (i32.const 64) \"{key}\")\n  (func (export \"ants_evaluate\") (result i32)\n    \
         (local $i i32)\n    {setup}\n    (loop $again\n      {call}\n      \
         (local.set $i (i32.add (local.get $i) (i32.const 1)))\n      (br $again))\n    \
         (i32.const 0)))\n",
        key = "k".repeat(abi::MAX_KEY_LEN),
        setup = attack.setup,
        call = attack.call,
    );
    text
}

/// An address as it crosses the ABI: 16 bytes, IPv4 mapped into IPv6.
fn abi_address(addr: IpAddr) -> [u8; 16] {
    match addr {
        IpAddr::V4(a) => a.to_ipv6_mapped().octets(),
        IpAddr::V6(a) => a.octets(),
    }
}

// ---------------------------------------------------------------------------------------------
// Main: one child process per case

/// Who sends the attack capsules, as r2 sees it.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Sender {
    /// A socket listed under `[peers]`: its datagrams carry a node address.
    Peer,
    /// A socket r2 does not know.
    Unknown,
}

impl Sender {
    fn tag(self) -> &'static str {
        match self {
            Sender::Peer => "peer",
            Sender::Unknown => "unknown",
        }
    }
}

struct Case {
    label: String,
    /// The hostile module's name; none for a baseline.
    attack: Option<&'static str>,
    sender: Sender,
}

/// `--case NAME SENDER` runs one case in this process and prints its figures as JSON lines.
/// Each case runs in a process of its own so that a router stuck in one endless evaluation
/// can be ended (by ending the process) without taking the CPU from the cases after it.
const CASE_ARG: &str = "--case";
const BASELINE: &str = "baseline";

/// How long a case process may take beyond its traffic (compiling, warm-up, the final status
/// request and r2's stop, each bounded on its own) before it is killed.
const CASE_OVERHEAD_LIMIT: Duration = Duration::from_secs(120);

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if !args.iter().any(|a| a == "--bench") {
        println!(
            "attack: a benchmark, not run by `cargo test`; run `cargo bench -p ants-daemon --bench attack`"
        );
        return;
    }
    let quick = args.iter().any(|a| a == "--quick");
    let settings = if quick { &QUICK } else { &BENCH };
    if let Some(i) = args.iter().position(|a| a == RATE_ARG) {
        let rate: u64 = args
            .get(i + 1)
            .and_then(|r| r.parse().ok())
            .expect("--rate CAPSULES_PER_SECOND");
        ATTACK_RATE.store(rate, Ordering::Relaxed);
    }
    if let Some(i) = args.iter().position(|a| a == CASE_ARG) {
        let (name, sender) = (
            args.get(i + 1).expect("--case NAME SENDER"),
            args.get(i + 2).expect("--case NAME SENDER"),
        );
        let attack = (name != BASELINE).then(|| {
            ATTACKS
                .iter()
                .find(|a| a.name == name)
                .unwrap_or_else(|| panic!("no attack {name}"))
        });
        let sender = if sender == Sender::Unknown.tag() {
            Sender::Unknown
        } else {
            Sender::Peer
        };
        run_case(settings, attack, sender);
        return;
    }
    if let Err(e) = fs::metadata(FORWARD_WASM) {
        panic!("{FORWARD_WASM}: {e}; run `make capsules` first");
    }
    let filter: Vec<&String> = args
        .iter()
        .skip(1)
        .filter(|a| !a.starts_with('-') && a.parse::<u64>().is_err())
        .collect();
    let started = Instant::now();
    let mut cases = vec![Case {
        label: "baseline (no attack)".into(),
        attack: None,
        sender: Sender::Peer,
    }];
    for attack in ATTACKS {
        for sender in [Sender::Peer, Sender::Unknown] {
            let label = format!("{} ({})", attack.name, sender.tag());
            if filter.is_empty() || filter.iter().any(|f| label.contains(f.as_str())) {
                cases.push(Case {
                    label,
                    attack: Some(attack.name),
                    sender,
                });
            }
        }
    }
    let middle = cases.len().div_ceil(2);
    cases.insert(
        middle,
        Case {
            label: "baseline (middle)".into(),
            attack: None,
            sender: Sender::Peer,
        },
    );
    cases.push(Case {
        label: "baseline (last)".into(),
        attack: None,
        sender: Sender::Peer,
    });

    let mut results = Vec::new();
    for (n, case) in cases.iter().enumerate() {
        let t = Instant::now();
        let result = run_child(quick, settings, case);
        eprintln!(
            "attack: {}/{} {} ({:.1} s): {}/{} delivered{}",
            n + 1,
            cases.len(),
            case.label,
            t.elapsed().as_secs_f64(),
            result.delivered,
            result.benign_sent,
            result
                .problem
                .as_ref()
                .map_or(String::new(), |p| format!("; {p}"))
        );
        results.push(result);
        thread::sleep(settings.pause);
    }
    let pinned = thread::available_parallelism().is_ok_and(|n| n.get() >= 2);
    print_table(settings, &results, pinned);
    println!("\ntotal run time {:.1} s", started.elapsed().as_secs_f64());
}

/// A case process, killed (if still running) and reaped when dropped.
struct CaseProcess(Child);

impl Drop for CaseProcess {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Runs `case` in a child process of this executable and collects what it printed.
fn run_child(quick: bool, settings: &Settings, case: &Case) -> CaseResult {
    let mut command =
        Command::new(std::env::current_exe().expect("the benchmark's own executable"));
    command.arg("--bench");
    if quick {
        command.arg("--quick");
    }
    let rate = ATTACK_RATE.load(Ordering::Relaxed);
    if rate > 0 {
        command.args([RATE_ARG, &rate.to_string()]);
    }
    command
        .args([CASE_ARG, case.attack.unwrap_or(BASELINE), case.sender.tag()])
        .stdout(Stdio::piped());
    let mut child = CaseProcess(command.spawn().expect("case process"));
    let stdout = child.0.stdout.take().expect("case stdout");
    // Read on the side: the child must never block on a full pipe.
    let reader = thread::spawn(move || {
        io::BufReader::new(stdout)
            .lines()
            .map_while(Result::ok)
            .collect::<Vec<String>>()
    });
    let limit = settings.settle + settings.window + settings.drain + CASE_OVERHEAD_LIMIT;
    let deadline = Instant::now() + limit;
    let status = loop {
        match child.0.try_wait() {
            Ok(Some(status)) => break Some(status),
            Ok(None) if Instant::now() < deadline => thread::sleep(Duration::from_millis(20)),
            _ => break None,
        }
    };
    drop(child);
    let lines = reader.join().unwrap_or_default();
    let line = |tag: &str| {
        lines.iter().find_map(|l| {
            let json = l.strip_prefix(tag)?.strip_prefix(' ')?;
            serde_json::from_str::<serde_json::Value>(json).ok()
        })
    };
    let mut result = CaseResult {
        label: case.label.clone(),
        attacked: case.attack.is_some(),
        benign_sent: 0,
        delivered: 0,
        latencies: Vec::new(),
        attack_sent: 0,
        attack_evaluations: None,
        socket_drops: None,
        drops: Vec::new(),
        received: 0,
        unknown_senders: 0,
        attack_cost: None,
        status_max: None,
        stop_time: None,
        problem: None,
    };
    let Some(benign) = line("benign") else {
        result.problem = Some(match status {
            Some(s) => format!("case process failed ({s})"),
            None => format!("case process killed after {} s", limit.as_secs()),
        });
        return result;
    };
    let number = |v: &serde_json::Value| v.as_u64().unwrap_or(0);
    let pairs = |v: &serde_json::Value| -> Vec<(String, u64)> {
        v.as_array()
            .into_iter()
            .flatten()
            .filter_map(|p| Some((p[0].as_str()?.to_owned(), p[1].as_u64()?)))
            .collect()
    };
    result.benign_sent = number(&benign["sent"]);
    result.latencies = benign["latencies_ns"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|v| Duration::from_nanos(number(v)))
        .collect();
    result.delivered = result.latencies.len() as u64;
    if let Some(control) = line("control") {
        result.attack_sent = number(&control["attack_sent"]);
        result.status_max = (number(&control["status_failed"]) == 0)
            .then(|| Duration::from_nanos(number(&control["status_max_ns"])));
        result.stop_time = Some(Duration::from_nanos(number(&control["stop_ns"])));
    }
    result.socket_drops = benign["socket_drops"].as_u64();
    let cost = &benign["attack_cost"];
    if !cost.is_null() {
        result.attack_cost = Some(SandboxCost {
            evaluations: number(&cost["evaluations"]),
            cpu: Duration::from_nanos(number(&cost["cpu_ns"])),
            stops: pairs(&cost["stops"]),
        });
    }
    match line("router") {
        Some(router) => {
            result.attack_evaluations = router["attack_evaluations"].as_u64();
            result.drops = pairs(&router["drops"]);
            result.received = number(&router["received"]);
            result.unknown_senders = number(&router["unknown_senders"]);
        }
        None => {
            result.problem = Some(match status {
                Some(_) => format!("r2 did not stop within {} s", STOP_LIMIT.as_secs()),
                None => format!("case process killed after {} s", limit.as_secs()),
            })
        }
    }
    result
}

// ---------------------------------------------------------------------------------------------
// One case (in its own process)

/// What one case measured, as the report needs it.
struct CaseResult {
    label: String,
    attacked: bool,
    benign_sent: u64,
    /// Distinct benign capsules at r3 by the end of the drain.
    delivered: u64,
    /// Their latencies, sorted.
    latencies: Vec<Duration>,
    attack_sent: u64,
    /// r2's evaluations that did not succeed: the attack's (the forward capsule always
    /// succeeds at r2; the hostile modules never do). None when r2's counters were lost.
    attack_evaluations: Option<u64>,
    /// Datagrams r2's kernel socket dropped (full receive buffer), from /proc/net/udp.
    socket_drops: Option<u64>,
    /// r2's node drops by reason, largest first.
    drops: Vec<(String, u64)>,
    /// r2's driver: datagrams read, and those from senders it could not name.
    received: u64,
    unknown_senders: u64,
    /// The attack protocol's own sandbox counters, where r2's status reports them.
    attack_cost: Option<SandboxCost>,
    /// The slowest answer to a status request during the window (None if one failed).
    status_max: Option<Duration>,
    /// How long r2 took to stop while the attack went on.
    stop_time: Option<Duration>,
    /// Why part of the case is missing (r2 stuck, process failed).
    problem: Option<String>,
}

/// What one protocol's evaluations cost r2's sandbox, from the status document.
struct SandboxCost {
    evaluations: u64,
    cpu: Duration,
    /// Stops by reason, largest first.
    stops: Vec<(String, u64)>,
}

/// The sandbox counters of protocol `fingerprint` in r2's status (`node.protocols[].sandbox`),
/// if this version of the router reports them and r2 answers in time, as JSON.
fn sandbox_cost(client: &mut Client, fingerprint: Fingerprint) -> Option<serde_json::Value> {
    let json = client.status().ok()?;
    let status: serde_json::Value = serde_json::from_str(&json).ok()?;
    let want = fingerprint.to_string();
    let protocol = status["node"]["protocols"]
        .as_array()?
        .iter()
        .find(|p| p["fingerprint"] == want.as_str())?;
    let sandbox = &protocol["sandbox"];
    let mut stops: Vec<(String, u64)> = sandbox["stops"]
        .as_object()
        .into_iter()
        .flatten()
        .filter_map(|(name, n)| Some((name.clone(), n.as_u64()?)))
        .collect();
    stops.sort_by_key(|(_, n)| std::cmp::Reverse(*n));
    Some(serde_json::json!({
        "evaluations": sandbox["evaluations"].as_u64()?,
        "cpu_ns": sandbox["cpu_ns"].as_u64()?,
        "stops": stops,
    }))
}

/// Runs one case and prints two lines: `benign {json}` once the benign flow is measured,
/// then `router {json}` with r2's final counters once it has stopped. A router that does not
/// stop within [`STOP_LIMIT`] ends the process without the second line.
fn run_case(settings: &Settings, attack: Option<&Attack>, sender: Sender) {
    let s = settings;
    let forward = fs::read(FORWARD_WASM)
        .unwrap_or_else(|e| panic!("{FORWARD_WASM}: {e}; run `make capsules` first"));
    let forward = Fingerprint::sha256(&forward);
    let (r1_node, r3_node, attacker_node): (IpAddr, IpAddr, IpAddr) = (
        R1_NODE.parse().unwrap(),
        R3_NODE.parse().unwrap(),
        ATTACKER_NODE.parse().unwrap(),
    );
    // Every hostile module is pinned in every case, so that all cases have the same code
    // cache; only `attack` is sent.
    let dir = tempfile::tempdir().expect("temporary directory");
    let modules: Vec<(&str, PathBuf, Fingerprint)> = ATTACKS
        .iter()
        .map(|a| {
            let text = attack_wat(a, r3_node);
            let wasm =
                wat::parse_str(&text).unwrap_or_else(|e| panic!("module {}: {e}\n{text}", a.name));
            let path = dir.path().join(format!("{}.wasm", a.name));
            fs::write(&path, &wasm).expect("write module");
            (a.name, path, Fingerprint::sha256(&wasm))
        })
        .collect();
    let pinned = thread::available_parallelism().is_ok_and(|n| n.get() >= 2);
    let cpu = |c: usize| pinned.then_some(c);
    enter_thread_context(None);
    // r2 formats what `antsd` would print by default; the text goes nowhere.
    let _ = tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::new("info"))
        .with_writer(io::sink)
        .with_ansi(false)
        .try_init();

    let r1 = UdpSocket::bind("127.0.0.1:0").expect("r1 socket");
    let peer = UdpSocket::bind("127.0.0.1:0").expect("attacker socket");
    let r3 = R3::start(forward, cpu(TRAFFIC_CPU));
    let node = |a: &str| a.parse::<IpAddr>().expect("node address");
    let mut config = ConfigWriter::new(node(R2_NODE));
    config
        .listen("127.0.0.1:0".parse().expect("listen"))
        .app_socket(dir.path().join("r2.sock"))
        .pin(FORWARD_WASM);
    for (_, module, _) in &modules {
        config.pin(module);
    }
    let config = config
        .neighbour(node(R1_NODE), r1.local_addr().expect("r1 address"))
        .neighbour(node(R3_NODE), r3.addr)
        .peer(
            node(ATTACKER_NODE),
            peer.local_addr().expect("attacker address"),
        )
        .route(node(R3_NODE), 32, node(R3_NODE))
        .route(node(R1_NODE), 32, node(R1_NODE))
        .to_toml();
    let r2 = RunningDriver::start("r2", &config, dir.path(), {
        let cpu = cpu(ROUTER_CPU);
        move || enter_thread_context(cpu)
    });
    let mut client = Client::connect(&r2.app).expect("r2 application socket");
    let all: Vec<Fingerprint> = std::iter::once(forward)
        .chain(modules.iter().map(|m| m.2))
        .collect();
    wait_compiled(&mut client, &all);

    // A few unmeasured capsules first: the forward protocol's instance exists and every
    // socket is warm before the window opens.
    let warm_deadline = Instant::now() + Duration::from_secs(10);
    while r3.warm_up.load(Ordering::Relaxed) < 5 {
        assert!(
            Instant::now() < warm_deadline,
            "r2 forwarded no capsule within 10 s"
        );
        let frame = benign_frame(forward, r1_node, r3_node, WARM_UP_SEQ);
        let _ = r1.send_to(&frame, r2.addr);
        thread::sleep(Duration::from_millis(5));
    }

    let attack_fingerprint =
        attack.map(|a| modules.iter().find(|m| m.0 == a.name).expect("module").2);
    let attacker = attack_fingerprint.map(|fingerprint| {
        let socket = match sender {
            Sender::Peer => peer.try_clone().expect("attacker socket"),
            Sender::Unknown => UdpSocket::bind("127.0.0.1:0").expect("unknown socket"),
        };
        let frame = CapsuleRepr {
            fingerprint,
            source: attacker_node,
            destination: r3_node,
            previous: attacker_node,
            budget: ATTACK_BUDGET,
            payload: &[0xA5; ATTACK_PAYLOAD],
        }
        .to_vec()
        .expect("a 1,200-byte capsule encodes");
        let target = r2.addr;
        Worker::spawn("attacker", cpu(TRAFFIC_CPU), move |stop| {
            attack_flood(socket, target, &frame, stop)
        })
    });
    if attacker.is_some() {
        thread::sleep(s.settle);
    }
    let (window, target) = (s.window, r2.addr);
    let benign = Worker::spawn("r1", cpu(TRAFFIC_CPU), move |stop| {
        benign_flow(r1, target, forward, r1_node, r3_node, window, stop)
    });
    // Meanwhile the operator asks for r2's status every 100 ms: the slowest answer is what an
    // operator waits for under this attack.
    client.set_reply_timeout(Duration::from_secs(5));
    let mut status_max = Duration::ZERO;
    let mut status_failed = 0u32;
    let status_end = Instant::now() + s.window;
    while Instant::now() < status_end {
        let asked = Instant::now();
        match client.status() {
            Ok(_) => status_max = status_max.max(asked.elapsed()),
            Err(_) => status_failed += 1,
        }
        thread::sleep(Duration::from_millis(100));
    }
    // The flow stops by itself after the window; the limit only guards against a stall.
    let benign_sent = benign.join_within(s.window + Duration::from_secs(10));
    let drain_end = Instant::now() + s.drain;
    while r3.benign.load(Ordering::Relaxed) < benign_sent && Instant::now() < drain_end {
        thread::sleep(Duration::from_millis(5));
    }
    let arrivals = r3.stop();
    // Read while r2's socket still exists.
    let socket_drops = socket_drops(r2.addr.port());
    let attack_cost = attack_fingerprint.and_then(|fingerprint| {
        // r2 answers between batches of datagrams; a router still deep in its backlog may
        // not, and then the figures are simply missing.
        client.set_reply_timeout(Duration::from_secs(5));
        sandbox_cost(&mut client, fingerprint)
    });
    drop(client);
    let mut seen = std::collections::HashSet::new();
    let mut latencies: Vec<u64> = arrivals
        .into_iter()
        .filter(|(seq, _)| seen.insert(*seq))
        .map(|(_, latency)| latency.as_nanos() as u64)
        .collect();
    latencies.sort_unstable();
    println!(
        "benign {}",
        serde_json::json!({
            "sent": benign_sent,
            "latencies_ns": latencies,
            "socket_drops": socket_drops,
            "attack_cost": attack_cost,
        })
    );
    let _ = io::Write::flush(&mut io::stdout());

    // Stopped while the attack goes on, as SIGTERM would stop `antsd` (it sends the same
    // `Control::Shutdown`).
    let stopping = Instant::now();
    let stopped = r2.stop(STOP_LIMIT);
    let stop_time = stopping.elapsed();
    let attack_sent = attacker.map_or(0, |a| a.stop());
    println!(
        "control {}",
        serde_json::json!({
            "status_max_ns": status_max.as_nanos() as u64,
            "status_failed": status_failed,
            "stop_ns": stop_time.as_nanos() as u64,
            "attack_sent": attack_sent,
        })
    );
    let _ = io::Write::flush(&mut io::stdout());
    let Some(summary) = stopped else {
        eprintln!(
            "attack: r2 did not stop within {} s; ending the case process",
            STOP_LIMIT.as_secs()
        );
        std::process::exit(3);
    };
    let mut drops: Vec<(&str, u64)> = summary.node.drops.nonzero().collect();
    drops.sort_by_key(|(_, n)| std::cmp::Reverse(*n));
    println!(
        "router {}",
        serde_json::json!({
            "attack_evaluations": summary.node.evaluations.saturating_sub(summary.node.evaluated),
            "drops": drops,
            "received": summary.driver.datagrams_received,
            "unknown_senders": summary.driver.unknown_senders,
        })
    );
}

/// A benign capsule from r1 toward r3: sequence number and send time (now) in the payload.
fn benign_frame(fingerprint: Fingerprint, from: IpAddr, to: IpAddr, seq: u32) -> Vec<u8> {
    let mut payload = [0u8; BENIGN_PAYLOAD];
    payload[..4].copy_from_slice(&seq.to_be_bytes());
    payload[4..12].copy_from_slice(&realtime_ns().to_be_bytes());
    CapsuleRepr {
        fingerprint,
        source: from,
        destination: to,
        previous: from,
        budget: BENIGN_BUDGET,
        payload: &payload,
    }
    .to_vec()
    .expect("a 64-byte capsule encodes")
}

/// Wall-clock time in nanoseconds: the clock of the kernel's receive timestamps.
fn realtime_ns() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos() as u64)
}

/// r1: one benign capsule every 1/200 s for `window`, each on its own schedule so that a late
/// wake-up does not shift the ones after it. Returns how many were sent.
fn benign_flow(
    socket: UdpSocket,
    target: SocketAddr,
    fingerprint: Fingerprint,
    from: IpAddr,
    to: IpAddr,
    window: Duration,
    stop: &AtomicBool,
) -> u64 {
    let interval = Duration::from_secs(1) / BENIGN_RATE;
    let count = (window.as_secs_f64() * f64::from(BENIGN_RATE)) as u32;
    let start = Instant::now();
    let mut sent = 0;
    for seq in 0..count {
        if stop.load(Ordering::Relaxed) {
            break;
        }
        let due = start + interval * seq;
        if let Some(wait) = due.checked_duration_since(Instant::now()) {
            thread::sleep(wait);
        }
        if socket
            .send_to(&benign_frame(fingerprint, from, to, seq), target)
            .is_ok()
        {
            sent += 1;
        }
    }
    sent
}

/// The attacker: `frame` to r2 over and over, `ATTACK_BATCH` datagrams per `sendmmsg`, until
/// stopped. Returns the datagrams the kernel accepted (on loopback it accepts them even when
/// r2's buffer is full: they are dropped there).
fn attack_flood(socket: UdpSocket, target: SocketAddr, frame: &[u8], stop: &AtomicBool) -> u64 {
    // Back to normal weight (the bench's threads run at nice -20 as root): r1's pacing and
    // r3's reading on the shared CPU come first, the flood takes the rest.
    // SAFETY: no pointers; `who = 0` names the calling thread.
    unsafe {
        libc::setpriority(libc::PRIO_PROCESS, 0, 0);
    }
    socket.connect(target).expect("attacker connect");
    let mut iov: Vec<libc::iovec> = (0..ATTACK_BATCH)
        .map(|_| libc::iovec {
            iov_base: frame.as_ptr() as *mut libc::c_void,
            iov_len: frame.len(),
        })
        .collect();
    let mut msgs: Vec<libc::mmsghdr> = iov
        .iter_mut()
        .map(|v| {
            // SAFETY: an all-zero mmsghdr is a valid empty header.
            let mut m: libc::mmsghdr = unsafe { mem::zeroed() };
            m.msg_hdr.msg_iov = v;
            m.msg_hdr.msg_iovlen = 1;
            m
        })
        .collect();
    let mut sent = 0u64;
    let rate = ATTACK_RATE.load(Ordering::Relaxed);
    let started = Instant::now();
    while !stop.load(Ordering::Relaxed) {
        let batch = if rate == 0 {
            ATTACK_BATCH
        } else {
            // Paced: what is due by now, at most one batch; otherwise wait a little.
            let due = (started.elapsed().as_secs_f64() * rate as f64) as u64;
            let n = due.saturating_sub(sent).min(ATTACK_BATCH as u64) as usize;
            if n == 0 {
                thread::sleep(Duration::from_micros(200));
                continue;
            }
            n
        };
        // SAFETY: every header points at one iovec of `iov`, which points into `frame`; all
        // outlive the call. The kernel only reads the frame.
        let rc = unsafe {
            libc::sendmmsg(
                socket.as_raw_fd(),
                msgs.as_mut_ptr(),
                batch as libc::c_uint,
                0,
            )
        };
        if rc > 0 {
            sent += rc as u64;
        }
    }
    sent
}

/// Waits until r2 has compiled every pinned module.
fn wait_compiled(client: &mut Client, fingerprints: &[Fingerprint]) {
    let deadline = Instant::now() + Duration::from_secs(60);
    let want: Vec<String> = fingerprints.iter().map(|f| f.to_string()).collect();
    loop {
        let json = client.status().expect("r2 status");
        let status: serde_json::Value = serde_json::from_str(&json).expect("status JSON");
        let compiled: Vec<&str> = status["node"]["protocols"]
            .as_array()
            .into_iter()
            .flatten()
            .filter(|p| p["compiled"] == true)
            .filter_map(|p| p["fingerprint"].as_str())
            .collect();
        if want.iter().all(|w| compiled.contains(&w.as_str())) {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "r2 did not compile its {} modules within 60 s: {json}",
            want.len()
        );
        thread::sleep(Duration::from_millis(10));
    }
}

/// Datagrams the kernel dropped at the UDP socket bound to 127.0.0.1:`port` (the last column
/// of /proc/net/udp), if it can be read.
fn socket_drops(port: u16) -> Option<u64> {
    let table = fs::read_to_string("/proc/net/udp").ok()?;
    let local = format!("0100007F:{port:04X}");
    table.lines().skip(1).find_map(|line| {
        let fields: Vec<&str> = line.split_whitespace().collect();
        if fields.get(1) == Some(&local.as_str()) {
            fields.last()?.parse().ok()
        } else {
            None
        }
    })
}

// ---------------------------------------------------------------------------------------------
// Threads

/// A thread that runs `f` until `f` returns or the stop flag is set; stopped and joined when
/// dropped, so also when a case fails. Every `f` looks at the flag at least every 20 ms.
struct Worker<T> {
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<T>>,
}

impl<T: Send + 'static> Worker<T> {
    fn spawn(
        name: &str,
        cpu: Option<usize>,
        f: impl FnOnce(&AtomicBool) -> T + Send + 'static,
    ) -> Worker<T> {
        let stop = Arc::new(AtomicBool::new(false));
        let flag = Arc::clone(&stop);
        let thread = thread::Builder::new()
            .name(name.to_owned())
            .spawn(move || {
                enter_thread_context(cpu);
                f(&flag)
            })
            .expect("spawn thread");
        Worker {
            stop,
            thread: Some(thread),
        }
    }

    /// Waits for the thread to end by itself, at most `limit`, then stops it.
    fn join_within(mut self, limit: Duration) -> T {
        let deadline = Instant::now() + limit;
        while self.thread.as_ref().is_some_and(|t| !t.is_finished()) && Instant::now() < deadline {
            thread::sleep(Duration::from_millis(2));
        }
        self.finish().expect("worker thread")
    }

    fn stop(mut self) -> T {
        self.finish().expect("worker thread")
    }

    fn finish(&mut self) -> Option<T> {
        self.stop.store(true, Ordering::Relaxed);
        self.thread.take()?.join().ok()
    }
}

impl<T> Drop for Worker<T> {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// r3: reads what r2 forwards and keeps, per benign capsule, its sequence number and latency:
/// the kernel's receive timestamp (taken when r2's send reached the socket) minus the send
/// time in the payload.
struct R3 {
    addr: SocketAddr,
    benign: Arc<AtomicU64>,
    warm_up: Arc<AtomicU64>,
    worker: Worker<Vec<(u32, Duration)>>,
}

impl R3 {
    fn start(forward: Fingerprint, cpu: Option<usize>) -> R3 {
        let socket = Socket::new(Domain::IPV4, Type::DGRAM, Some(Protocol::UDP)).expect("r3");
        let _ = socket.set_recv_buffer_size(R3_BUFFER);
        socket
            .bind(&"127.0.0.1:0".parse::<SocketAddr>().unwrap().into())
            .expect("r3 bind");
        socket
            .set_read_timeout(Some(Duration::from_millis(20)))
            .expect("r3 timeout");
        let on: libc::c_int = 1;
        // SAFETY: a valid socket and a pointer to a c_int of the given length.
        let rc = unsafe {
            libc::setsockopt(
                socket.as_raw_fd(),
                libc::SOL_SOCKET,
                libc::SO_TIMESTAMPNS,
                (&on as *const libc::c_int).cast(),
                mem::size_of::<libc::c_int>() as libc::socklen_t,
            )
        };
        assert_eq!(rc, 0, "SO_TIMESTAMPNS: {}", io::Error::last_os_error());
        let socket: UdpSocket = socket.into();
        let addr = socket.local_addr().expect("r3 address");
        let benign = Arc::new(AtomicU64::new(0));
        let warm_up = Arc::new(AtomicU64::new(0));
        let (b, w) = (Arc::clone(&benign), Arc::clone(&warm_up));
        let worker = Worker::spawn("r3", cpu, move |stop| {
            let mut arrivals = Vec::new();
            let mut buf = [0u8; 2048];
            while !stop.load(Ordering::Relaxed) {
                let Some((len, received)) = recv_timestamped(&socket, &mut buf) else {
                    continue;
                };
                let Ok(Frame::Capsule(c)) = Frame::parse(&buf[..len]) else {
                    continue;
                };
                if c.fingerprint != forward || c.payload.len() < 12 {
                    continue;
                }
                let seq = u32::from_be_bytes(c.payload[..4].try_into().unwrap());
                let sent = u64::from_be_bytes(c.payload[4..12].try_into().unwrap());
                if seq == WARM_UP_SEQ {
                    w.fetch_add(1, Ordering::Relaxed);
                    continue;
                }
                arrivals.push((seq, Duration::from_nanos(received.saturating_sub(sent))));
                b.fetch_add(1, Ordering::Relaxed);
            }
            arrivals
        });
        R3 {
            addr,
            benign,
            warm_up,
            worker,
        }
    }

    fn stop(self) -> Vec<(u32, Duration)> {
        self.worker.stop()
    }
}

/// One datagram and its kernel receive time (wall clock, ns), or none after the read timeout.
/// Without a timestamp (which should not happen) the time of the read stands in.
fn recv_timestamped(socket: &UdpSocket, buf: &mut [u8]) -> Option<(usize, u64)> {
    let mut iov = libc::iovec {
        iov_base: buf.as_mut_ptr().cast(),
        iov_len: buf.len(),
    };
    // u64s: aligned for the cmsghdr the kernel writes.
    let mut control = [0u64; 16];
    // SAFETY: an all-zero msghdr is valid; it then points at `iov` (which points into `buf`)
    // and at `control`, all of which outlive the call.
    let mut msg: libc::msghdr = unsafe { mem::zeroed() };
    msg.msg_iov = &mut iov;
    msg.msg_iovlen = 1;
    msg.msg_control = control.as_mut_ptr().cast();
    msg.msg_controllen = mem::size_of_val(&control) as _;
    // SAFETY: as above; blocks at most the socket's read timeout.
    let n = unsafe { libc::recvmsg(socket.as_raw_fd(), &mut msg, 0) };
    let len = usize::try_from(n).ok()?;
    let mut at = None;
    // SAFETY: the CMSG macros walk the control data the kernel wrote within
    // `msg_controllen`; a SCM_TIMESTAMPNS message holds one timespec, read unaligned.
    unsafe {
        let mut cmsg = libc::CMSG_FIRSTHDR(&msg);
        while !cmsg.is_null() {
            if (*cmsg).cmsg_level == libc::SOL_SOCKET && (*cmsg).cmsg_type == libc::SCM_TIMESTAMPNS
            {
                let ts: libc::timespec =
                    std::ptr::read_unaligned(libc::CMSG_DATA(cmsg).cast::<libc::timespec>());
                at = Some(ts.tv_sec as u64 * 1_000_000_000 + ts.tv_nsec as u64);
            }
            cmsg = libc::CMSG_NXTHDR(&msg, cmsg);
        }
    }
    Some((len, at.unwrap_or_else(realtime_ns)))
}

/// Moves the calling thread onto `cpu` (if any) and raises its scheduling weight (nice -20,
/// as root; threads it creates inherit it), so that other work on the machine takes little
/// from the measured threads.
fn enter_thread_context(cpu: Option<usize>) {
    // SAFETY: no pointers; on Linux, `who = 0` with PRIO_PROCESS names the calling thread.
    // Failure (not root) leaves the default weight.
    unsafe {
        libc::setpriority(libc::PRIO_PROCESS, 0, -20);
    }
    if let Some(cpu) = cpu {
        // SAFETY: a zeroed cpu_set_t is a valid empty set; CPU_SET stays within it for
        // cpu < CPU_SETSIZE; pid 0 is the calling thread.
        unsafe {
            let mut set: libc::cpu_set_t = mem::zeroed();
            libc::CPU_SET(cpu, &mut set);
            libc::sched_setaffinity(0, mem::size_of::<libc::cpu_set_t>(), &set);
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Report

/// The `p`-quantile (nearest rank) of sorted values.
fn quantile(sorted: &[Duration], p: f64) -> Option<Duration> {
    if sorted.is_empty() {
        return None;
    }
    let rank = ((p * sorted.len() as f64).ceil() as usize).clamp(1, sorted.len());
    Some(sorted[rank - 1])
}

fn ms(d: Option<Duration>) -> String {
    d.map_or("-".into(), |d| format!("{:.3}", d.as_secs_f64() * 1e3))
}

fn print_table(settings: &Settings, results: &[CaseResult], pinned: bool) {
    println!(
        "\nHostile capsules beside a benign flow through one router (r2: a Driver with default \
         limits, fresh in each case): benign forward capsules r1 -> r2 -> r3 at {BENIGN_RATE}/s \
         ({BENIGN_PAYLOAD}-byte payload, budget {BENIGN_BUDGET}) for {:.0} s per case; attack \
         capsules of {ATTACK_PAYLOAD} bytes (budget {ATTACK_BUDGET}) {}, each module looping \
         forever around one import",
        settings.window.as_secs_f64(),
        match ATTACK_RATE.load(Ordering::Relaxed) {
            0 => "as fast as one thread sends".to_string(),
            rate => format!("paced at {rate} per second"),
        }
    );
    println!(
        "pinning: {}; latency = r1's send time to the kernel's receive timestamp at r3 \
         (capsules not at r3 {:.1} s after the last send count as lost)",
        if pinned {
            "r2 on CPU 1, r1, r3 and the attacker on CPU 0"
        } else {
            "none (fewer than 2 CPUs available)"
        },
        settings.drain.as_secs_f64()
    );
    // The reference is the median of the runs without attack (first, middle, last): one run's
    // p99 moves by a factor of two on this machine from minute to minute.
    let mut baselines: Vec<Duration> = results
        .iter()
        .filter(|r| !r.attacked)
        .filter_map(|r| quantile(&r.latencies, 0.99))
        .collect();
    baselines.sort();
    let base_p99 = baselines.get(baselines.len() / 2).copied();
    println!(
        "bar: delivered >= {:.0} % and p99 <= {MAX_P99_RATIO:.0} x baseline p99 ({} ms, the \
         median of {} runs without attack: {})\n",
        MIN_DELIVERED * 100.0,
        ms(base_p99),
        baselines.len(),
        baselines
            .iter()
            .map(|b| ms(Some(*b)))
            .collect::<Vec<_>>()
            .join(", ")
    );
    println!(
        "| {:<28} | {:>6} | {:>9} | {:>8} | {:>8} | {:>9} | {:>10} | {:>12} | {:>10} | {:<50} | {:<4} |",
        "case",
        "benign",
        "delivered",
        "p50 ms",
        "p99 ms",
        "p99/base",
        "attack",
        "attack evals",
        "r2 socket",
        "r2 drops (top reasons)",
        "bar"
    );
    println!(
        "| {:<28} | {:>6} | {:>9} | {:>8} | {:>8} | {:>9} | {:>10} | {:>12} | {:>10} | {:<50} | {:<4} |",
        "", "sent", "", "", "", "", "sent", "at r2", "drops", "", ""
    );
    println!("|---|---:|---:|---:|---:|---:|---:|---:|---:|---|---|");
    let (mut passed, mut failed) = (Vec::new(), Vec::new());
    for r in results {
        let delivered = r.delivered as f64 / r.benign_sent.max(1) as f64;
        let p99 = quantile(&r.latencies, 0.99);
        let ratio = match (p99, base_p99) {
            (Some(p), Some(b)) if !b.is_zero() => Some(p.as_secs_f64() / b.as_secs_f64()),
            _ => None,
        };
        let verdict = if !r.attacked {
            "ref"
        } else if delivered >= MIN_DELIVERED && ratio.is_some_and(|x| x <= MAX_P99_RATIO) {
            passed.push(r.label.as_str());
            "PASS"
        } else {
            failed.push(r.label.as_str());
            "FAIL"
        };
        let drops: Vec<String> = r
            .drops
            .iter()
            .take(3)
            .map(|(name, n)| format!("{name} {n}"))
            .collect();
        println!(
            "| {:<28} | {:>6} | {:>7.1} % | {:>8} | {:>8} | {:>9} | {:>10} | {:>12} | {:>10} | {:<50} | {:<4} |",
            r.label,
            r.benign_sent,
            100.0 * delivered,
            ms(quantile(&r.latencies, 0.50)),
            ms(p99),
            ratio.map_or("-".into(), |x| format!("{x:.1} x")),
            r.attack_sent,
            r.attack_evaluations.map_or("?".into(), |n| n.to_string()),
            r.socket_drops.map_or("?".into(), |n| n.to_string()),
            if let Some(problem) = &r.problem {
                problem.clone()
            } else if drops.is_empty() {
                "none".into()
            } else {
                drops.join(", ")
            },
            verdict
        );
    }
    println!(
        "\nattack evals at r2 = r2's evaluations that did not succeed (only the hostile modules \
         fail); r2 drops = node drops over the whole case (drain included), by reason; r2 \
         socket drops = datagrams the kernel dropped at r2's full receive buffer, benign and \
         attack alike"
    );
    let list = |v: &mut dyn Iterator<Item = (String, u64)>| {
        let v: Vec<String> = v.map(|(name, n)| format!("{name} {n}")).collect();
        if v.is_empty() {
            "none".to_owned()
        } else {
            v.join(", ")
        }
    };
    for r in results.iter().filter(|r| r.attacked) {
        let cost = match &r.attack_cost {
            Some(c) => format!(
                "; the attack protocol's sandbox counters at the end of the drain: {} \
                 evaluations, {:.0} ms CPU, stops {}",
                c.evaluations,
                c.cpu.as_secs_f64() * 1e3,
                list(&mut c.stops.iter().cloned())
            ),
            None => String::new(),
        };
        println!(
            "  {}: r2 read {} datagrams ({} from unknown senders); all drops: {}{cost}; slowest \
             status answer {} ms; stopped in {} ms",
            r.label,
            r.received,
            r.unknown_senders,
            list(&mut r.drops.iter().cloned()),
            ms(r.status_max),
            ms(r.stop_time)
        );
    }
    // The operator's bars: a status request answers within 100 ms and a stop (SIGTERM) takes
    // at most 1 s, under any attack.
    let attacked: Vec<&CaseResult> = results.iter().filter(|r| r.attacked).collect();
    let worst_status = attacked.iter().map(|r| r.status_max).max().flatten();
    let unanswered = attacked.iter().filter(|r| r.status_max.is_none()).count();
    let worst_stop = attacked.iter().filter_map(|r| r.stop_time).max();
    println!(
        "\ncontrol under attack: slowest status answer {} ms over {} cases ({} with an \
         unanswered request; bar 100 ms); slowest stop {} ms (bar 1,000 ms)",
        ms(worst_status),
        attacked.len(),
        unanswered,
        ms(worst_stop)
    );
    for r in results.iter().filter(|r| !r.attacked) {
        if (r.delivered as f64) < MIN_DELIVERED * r.benign_sent as f64 {
            println!(
                "warning: {} delivered only {} of {}: the set-up, not an attack, loses capsules",
                r.label, r.delivered, r.benign_sent
            );
        }
    }
    println!(
        "\n{} of {} attacked cases pass; failing: {}",
        passed.len(),
        passed.len() + failed.len(),
        if failed.is_empty() {
            "none".into()
        } else {
            failed.join(", ")
        }
    );
}
