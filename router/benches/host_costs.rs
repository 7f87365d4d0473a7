//! Does fuel track CPU time? For every node-API import, a capsule that calls it in its
//! costliest legal way in a loop (`harness::hostile`), and for a plain wasm loop and the bulk
//! memory instructions: nanoseconds per evaluation, fuel per evaluation, and nanoseconds per
//! unit of fuel, side by side in one run. The fuel charged for host calls
//! (`docs/node-api.md` section 6) is right when every row's ns/fuel is within a small factor
//! of the plain loop's; the worst row, times the fuel allowance, is the CPU one evaluation can
//! take (the wall-clock backstop covers what fuel cannot see).
//!
//! Run with `cargo bench -p ants-router --bench host_costs` (about 10 s). Results:
//! docs/benchmarks.md. Under `cargo test` it only says so and exits.

use std::net::IpAddr;
use std::time::{Duration, Instant};

use ants_router::fingerprint::Fingerprint;
use ants_router::harness::hostile::HostileLoop;
use ants_router::routing::{NextHop, Route};
use ants_router::sandbox::{NodeContext, Sandbox, SandboxLimits};
use ants_router::time::Timestamp;
use ants_router::wire::CapsuleRepr;

fn ip(s: &str) -> IpAddr {
    s.parse().expect("address")
}

/// A node with 16 neighbours and 64 prefix routes: lookups and listings do real work.
fn context() -> NodeContext {
    let mut ctx = NodeContext::new(ip("10.0.0.1"));
    for n in 0..16u8 {
        ctx.routing.add_neighbour(IpAddr::from([10, 0, 1, n]));
    }
    for p in 0..64u8 {
        ctx.routing
            .add_route(Route {
                prefix: IpAddr::from([10, 64 + p, 0, 0]),
                len: 16,
                next_hop: NextHop::Neighbour(IpAddr::from([10, 0, 1, p % 16])),
            })
            .expect("route");
    }
    ctx.now = Timestamp::from_millis(1);
    ctx
}

fn main() {
    if !std::env::args().any(|a| a == "--bench") {
        println!("host_costs: a benchmark; run it with `cargo bench --bench host_costs`");
        return;
    }
    let quick = std::env::args().any(|a| a == "--quick");
    let limits = SandboxLimits {
        // Far more than any loop below needs: the rows measure work, not the stop.
        fuel_per_evaluation: 1_000_000_000,
        max_evaluation_time: Duration::from_secs(10),
        recycle_after_calls: u32::MAX,
        ..SandboxLimits::default()
    };
    let mut sandbox = Sandbox::new(limits).expect("sandbox");
    let payload = vec![0x5A; 1200];
    // The address at offset 0: a neighbour (link_load finds it; send routes toward it).
    let target = ip("10.0.1.15");
    let window = if quick {
        Duration::from_millis(100)
    } else {
        Duration::from_millis(400)
    };
    println!(
        "{:<22} {:>10} {:>12} {:>12} {:>10}",
        "loop", "calls", "ns/eval", "fuel/eval", "ns/fuel"
    );
    let mut plain = None;
    for h in HostileLoop::ALL {
        let iterations = match h {
            HostileLoop::MemoryFill | HostileLoop::MemoryCopy => 20,
            _ => 2_000,
        };
        let wasm = wat::parse_str(h.wat(target, Some(iterations))).expect("wat");
        let fp = Fingerprint::sha256(&wasm);
        let code = sandbox.compile(fp, &wasm).expect("compile");
        let capsule = CapsuleRepr {
            fingerprint: fp,
            source: ip("10.0.5.5"),
            destination: ip("10.0.9.9"),
            previous: ip("10.0.5.5"),
            budget: 1000,
            payload: &payload,
        };
        let mut ctx = context();
        // Warm the instance and the state entry.
        let _ = sandbox.evaluate(&code, &capsule, &mut ctx);
        let before = sandbox.stats();
        let start = Instant::now();
        let mut evals = 0u64;
        while start.elapsed() < window {
            let r = sandbox.evaluate(&code, &capsule, &mut ctx);
            assert!(r.is_ok(), "{}: {r:?}", h.name());
            evals += 1;
        }
        let ns = start.elapsed().as_nanos() as f64 / evals as f64;
        let fuel = (sandbox.stats().fuel_consumed - before.fuel_consumed) as f64 / evals as f64;
        let per_fuel = ns / fuel;
        if h == HostileLoop::PlainLoop {
            plain = Some(per_fuel);
        }
        println!(
            "{:<22} {:>10} {:>12.0} {:>12.0} {:>10.3}",
            h.name(),
            iterations,
            ns,
            fuel,
            per_fuel
        );
    }
    if let Some(p) = plain {
        println!("plain loop: {p:.3} ns per unit of fuel");
    }
}
