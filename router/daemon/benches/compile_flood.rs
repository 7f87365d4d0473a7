//! A new protocol's load through a router that is receiving compile bombs: the bar of the
//! compilation issue, "a new benign protocol loads through a router receiving 8 bombs per
//! second within 2x its unattacked time".
//!
//! Three real `Driver`s on loopback, each on its own thread: r1 (the router under test) between
//! A (the attacker's neighbour) and B (the benign protocol's). Every 125 ms an application on A
//! registers a fresh bomb, a forwarding capsule carrying an unused function of loops nested
//! 9,000 deep (64 KiB; Winch takes about 30 ms on it, Cranelift would take minutes), and sends
//! one capsule of it to r1, which must load and compile it. Meanwhile an application on B
//! registers a fresh variant of the forward capsule and sends one capsule to r1; the time from
//! that send to its delivery on r1 (load from B, compile, evaluate) is the benign load time.
//! Ten benign loads without the attack, then ten with it, in one run. A's own compiles of its
//! bombs run in the same process, on the same two cores.
//!
//! Run with `cargo bench -p ants-daemon --bench compile_flood` after `make capsules` (about
//! 15 s). Results: docs/benchmarks.md. Under `cargo test` it only says so and exits.

mod support;

use std::net::{IpAddr, SocketAddr};
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use ants_daemon::app::Client;
use ants_daemon::config::{ConfigWriter, DriverLimits};
use ants_router::harness::MINIMAL_FORWARD_WAT;
use support::RunningDriver;

const R1: &str = "127.0.1.1";
const A: &str = "127.0.1.2";
const B: &str = "127.0.1.3";
const FORWARD_WASM: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../../capsules/target/wasm32-unknown-unknown/release/capsule_forward.wasm"
);
const TRIALS: usize = 10;
const BOMB_INTERVAL: Duration = Duration::from_millis(125);
/// Application port the forward capsule delivers to at its destination.
const PORT: u16 = 1;

/// `module` with a custom section naming `tag`: same code, another type.
fn variant(module: &[u8], tag: u32) -> Vec<u8> {
    let name = b"ants-bench";
    let mut body = vec![name.len() as u8];
    body.extend_from_slice(name);
    body.extend_from_slice(&tag.to_le_bytes());
    let mut out = module.to_vec();
    out.push(0);
    out.push(body.len() as u8);
    out.extend_from_slice(&body);
    out
}

/// A forwarding capsule with an unused function of loops nested `depth` deep.
fn bomb(depth: usize) -> Vec<u8> {
    let text = MINIMAL_FORWARD_WAT.trim_end();
    let text = text.strip_suffix(')').expect("a module");
    let mut bomb = String::from(text);
    bomb.push_str("\n(func $bomb (local i32)\n");
    for _ in 0..depth {
        bomb.push_str("(loop (br_if 0 (local.get 0))\n");
    }
    bomb.push_str(&")".repeat(depth));
    bomb.push_str("))");
    wat::parse_str(bomb).expect("the bomb assembles")
}

fn config(me: &str, port: u16, neighbours: &[(&str, u16)], dir: &Path) -> String {
    let node = |a: &str| a.parse::<IpAddr>().expect("node address");
    let socket = |p: u16| SocketAddr::from(([127, 0, 0, 1], p));
    let mut c = ConfigWriter::new(node(me));
    c.listen(socket(port))
        .app_socket(dir.join(format!("{me}.sock")))
        .driver(&DriverLimits {
            code_store: None,
            ..DriverLimits::default()
        });
    for (n, p) in neighbours {
        c.neighbour(node(n), socket(*p));
    }
    if me != R1 {
        c.route(node(R1), 32, node(R1));
    }
    c.to_toml()
}

fn free_ports(count: usize) -> Vec<u16> {
    let held: Vec<std::net::UdpSocket> = (0..count)
        .map(|_| std::net::UdpSocket::bind("127.0.0.1:0").expect("free port"))
        .collect();
    held.iter()
        .map(|s| s.local_addr().expect("port").port())
        .collect()
}

fn median(mut v: Vec<f64>) -> (f64, f64, f64) {
    v.sort_by(f64::total_cmp);
    (v[0], v[v.len() / 2], v[v.len() - 1])
}

/// One benign load: a fresh variant registered on B, one capsule to r1, until its delivery.
fn benign_load(b: &mut Client, r1: &mut Client, forward: &[u8], tag: u32) -> f64 {
    let fp = b.register(&variant(forward, tag)).expect("register on B");
    // B's own compile is not part of r1's load: wait for it.
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let status: serde_json::Value =
            serde_json::from_str(&b.status().expect("B status")).expect("JSON");
        let ready = status["node"]["protocols"]
            .as_array()
            .into_iter()
            .flatten()
            .any(|p| p["fingerprint"] == fp.to_string().as_str() && p["compiled"] == true);
        if ready {
            break;
        }
        assert!(Instant::now() < deadline, "B did not compile its protocol");
        std::thread::sleep(Duration::from_millis(2));
    }
    let r1_addr: IpAddr = R1.parse().expect("address");
    let started = Instant::now();
    b.send(fp, r1_addr, 8, b"benign").expect("send on B");
    loop {
        let d = r1
            .next_delivery(Some(Duration::from_secs(20)))
            .expect("r1 application socket")
            .expect("the benign capsule is delivered within 20 s");
        if d.fingerprint == fp {
            return started.elapsed().as_secs_f64() * 1e3;
        }
    }
}

fn main() {
    if !std::env::args().any(|a| a == "--bench") {
        println!("compile_flood: a benchmark; run it with `cargo bench --bench compile_flood`");
        return;
    }
    let forward = std::fs::read(FORWARD_WASM).expect("the forward capsule: run `make capsules`");
    let bomb_module = bomb(9_000);
    assert!(
        bomb_module.len() <= 64 * 1024,
        "{} bytes",
        bomb_module.len()
    );
    let dir = tempfile::tempdir().expect("temporary directory");
    let ports = free_ports(3);
    let r1 = RunningDriver::start(
        "r1",
        &config(R1, ports[0], &[(A, ports[1]), (B, ports[2])], dir.path()),
        dir.path(),
        || {},
    );
    let a = RunningDriver::start(
        "a",
        &config(A, ports[1], &[(R1, ports[0])], dir.path()),
        dir.path(),
        || {},
    );
    let b = RunningDriver::start(
        "b",
        &config(B, ports[2], &[(R1, ports[0])], dir.path()),
        dir.path(),
        || {},
    );
    println!("r1 on {}, A and B beside it on loopback", r1.addr);
    let mut r1_app = Client::connect(&r1.app).expect("r1 application socket");
    r1_app.listen(PORT).expect("listen on r1");
    let mut b_app = Client::connect(&b.app).expect("B application socket");

    // Warm-up, then the unattacked loads.
    benign_load(&mut b_app, &mut r1_app, &forward, 0);
    let quiet: Vec<f64> = (1..=TRIALS as u32)
        .map(|t| benign_load(&mut b_app, &mut r1_app, &forward, t))
        .collect();

    // The attack: a fresh bomb every 125 ms from A.
    let stop = Arc::new(AtomicBool::new(false));
    let bombs_sent = Arc::new(AtomicU64::new(0));
    let attacker = {
        let (stop, sent) = (Arc::clone(&stop), Arc::clone(&bombs_sent));
        let app = a.app.clone();
        std::thread::spawn(move || {
            let mut client = Client::connect(&app).expect("A application socket");
            let r1_addr: IpAddr = R1.parse().expect("address");
            let mut next = Instant::now();
            let mut tag = 1_000u32;
            while !stop.load(Ordering::Relaxed) {
                tag += 1;
                let fp = client
                    .register(&variant(&bomb_module, tag))
                    .expect("register a bomb on A");
                client.send(fp, r1_addr, 8, b"bomb").expect("send a bomb");
                sent.fetch_add(1, Ordering::Relaxed);
                next += BOMB_INTERVAL;
                std::thread::sleep(next.saturating_duration_since(Instant::now()));
            }
        })
    };
    // Let the flood reach its steady state.
    std::thread::sleep(Duration::from_secs(1));
    let attack_started = Instant::now();
    let sent_before = bombs_sent.load(Ordering::Relaxed);
    let attacked: Vec<f64> = (100..100 + TRIALS as u32)
        .map(|t| benign_load(&mut b_app, &mut r1_app, &forward, t))
        .collect();
    let rate = (bombs_sent.load(Ordering::Relaxed) - sent_before) as f64
        / attack_started.elapsed().as_secs_f64();
    stop.store(true, Ordering::Relaxed);
    attacker.join().expect("attacker");
    drop((r1_app, b_app));
    let r1_summary = r1.stop(Duration::from_secs(30)).expect("r1 stops");
    drop((a, b));

    let (qmin, qmed, qmax) = median(quiet);
    let (amin, amed, amax) = median(attacked);
    println!(
        "a benign protocol's load through r1 (load from its neighbour, baseline compile, evaluation, delivery), {TRIALS} loads each"
    );
    println!("| r1 receiving | median | min | max |");
    println!("|---|---|---|---|");
    println!("| nothing else | {qmed:.1} ms | {qmin:.1} ms | {qmax:.1} ms |");
    println!("| {rate:.1} compile bombs/s from A | {amed:.1} ms | {amin:.1} ms | {amax:.1} ms |");
    println!(
        "attacked / unattacked (medians): {:.2}x (bar: 2x); r1 compiled {} modules, loads completed {}, drops {:?}",
        amed / qmed,
        r1_summary.node.compiles_started,
        r1_summary.node.loads_completed,
        r1_summary.node.drops
    );
}
