//! Memory a flood of protocols leaves behind: resident set size before, after 320 distinct
//! protocols each touched 960 KiB of their 1 MiB linear memory, and after their instances went idle
//! and were reclaimed (`SandboxLimits::idle_instance_timeout`), in one run.
//!
//! Run with `cargo bench -p ants-router --bench instance_memory` (a few seconds). Results:
//! docs/benchmarks.md. Under `cargo test` it only says so and exits.

use std::net::IpAddr;
use std::time::Duration;

use ants_router::fingerprint::Fingerprint;
use ants_router::sandbox::{NodeContext, Sandbox, SandboxLimits};
use ants_router::time::Timestamp;
use ants_router::wire::CapsuleRepr;

/// Protocols in the flood.
const PROTOCOLS: u32 = 320;

/// A protocol that fills 960 KiB of its 1 MiB memory (as much as its fuel allows) with a byte
/// derived from `tag`; distinct tags make distinct modules.
fn toucher(tag: u32) -> Vec<u8> {
    wat::parse_str(format!(
        r#"(module
          (memory (export "memory") 16)
          (func (export "ants_evaluate") (result i32)
            (memory.fill (i32.const 0) (i32.const {}) (i32.const 983040))
            (i32.const {tag})
            (drop)
            (i32.const 0)))"#,
        tag % 251 + 1
    ))
    .expect("wat")
}

/// Resident set size of this process, in MiB.
fn rss_mib() -> f64 {
    let statm = std::fs::read_to_string("/proc/self/statm").unwrap_or_default();
    let pages: f64 = statm
        .split_whitespace()
        .nth(1)
        .and_then(|p| p.parse().ok())
        .unwrap_or(0.0);
    pages * 4096.0 / (1024.0 * 1024.0)
}

fn main() {
    if !std::env::args().any(|a| a == "--bench") {
        println!("instance_memory: a benchmark; run it with `cargo bench --bench instance_memory`");
        return;
    }
    let limits = SandboxLimits::default();
    let idle = limits.idle_instance_timeout;
    let mut sandbox = Sandbox::new(limits).expect("sandbox");
    let ip: IpAddr = "10.0.0.1".parse().expect("ip");
    let mut ctx = NodeContext::new(ip);
    let compiled: Vec<_> = (0..PROTOCOLS)
        .map(|tag| {
            let wasm = toucher(tag);
            sandbox
                .compile(Fingerprint::sha256(&wasm), &wasm)
                .expect("compile")
        })
        .collect();
    let baseline = rss_mib();
    let t0 = Timestamp::from_millis(1_000);
    ctx.now = t0;
    for code in &compiled {
        let capsule = CapsuleRepr {
            fingerprint: code.fingerprint(),
            source: ip,
            destination: ip,
            previous: ip,
            budget: 1,
            payload: &[],
        };
        let _ = sandbox.evaluate(code, &capsule, &mut ctx);
    }
    let flooded = rss_mib();
    let live = sandbox.live_instances();
    let reclaimed = sandbox.reclaim_idle(t0 + idle + Duration::from_millis(1));
    let after = rss_mib();
    println!(
        "{PROTOCOLS} protocols compiled, each touching 960 KiB; live instance cap {}",
        SandboxLimits::default().max_live_instances
    );
    println!("RSS before the flood          {baseline:8.1} MiB");
    println!("RSS after the flood           {flooded:8.1} MiB  ({live} live instances)");
    println!(
        "RSS after {:>2} s idle           {after:8.1} MiB  ({reclaimed} instances reclaimed, {} live)",
        idle.as_secs(),
        sandbox.live_instances()
    );
}
