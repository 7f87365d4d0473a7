//! Restart time with the on-disk code store: a router that had 100 protocols compiled has all
//! of them usable again (read, checked, deserialized and in the node's code cache) in how long,
//! against compiling them again. Bar (issue "compilation"): 100 ms or less in total.
//!
//! Run with `cargo bench -p ants-daemon --bench code_store` (a few seconds). Results:
//! docs/benchmarks.md. Under `cargo test` it only says so and exits.

use std::time::Instant;

use ants_daemon::driver::code_store::CodeStore;
use ants_router::fingerprint::Fingerprint;
use ants_router::node::{Node, NodeConfig};
use ants_router::sandbox::{CompileTier, Sandbox, SandboxLimits};
use ants_router::time::Timestamp;

const PROTOCOLS: u32 = 100;
const RUNS: usize = 5;

/// The forward capsule with a custom section naming `tag`: same code, another type.
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

fn median(mut v: Vec<f64>) -> (f64, f64, f64) {
    v.sort_by(f64::total_cmp);
    (v[0], v[v.len() / 2], v[v.len() - 1])
}

fn main() {
    if !std::env::args().any(|a| a == "--bench") {
        println!("code_store: a benchmark; run it with `cargo bench --bench code_store`");
        return;
    }
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../capsules/target/wasm32-unknown-unknown/release/capsule_forward.wasm"
    );
    let forward = std::fs::read(path).expect("the forward capsule: run `make capsules` first");
    let dir = tempfile::tempdir().expect("temp dir");
    let compiler = Sandbox::new(SandboxLimits::default())
        .expect("sandbox")
        .compiler();
    let store = CodeStore::open(dir.path(), 1 << 30).expect("store");
    let mut compile_ms = Vec::new();
    for tier in [CompileTier::Baseline, CompileTier::Optimized] {
        let started = Instant::now();
        for tag in 0..PROTOCOLS {
            let m = variant(&forward, tag);
            let code = compiler
                .compile_tier(Fingerprint::sha256(&m), &m, tier)
                .expect("compiles");
            store.put(&compiler, &m, &code);
        }
        compile_ms.push((tier, started.elapsed().as_secs_f64() * 1e3));
    }
    let mut load = Vec::new();
    let mut total = Vec::new();
    for _ in 0..RUNS {
        let started = Instant::now();
        let store = CodeStore::open(dir.path(), 1 << 30).expect("store");
        let mut stored = store.load_all(&compiler);
        let loaded_at = started.elapsed();
        stored.sort_by_key(|s| s.code.tier());
        let mut config = NodeConfig::new("10.0.0.1".parse().expect("ip"));
        config.code_cache.max_bytes = 1 << 30;
        let mut node = Node::with_compiler(config, compiler.clone()).expect("node");
        for s in stored {
            node.preload(Timestamp::ZERO, s.module, s.code)
                .expect("preloads");
        }
        let usable = node
            .status()
            .protocols
            .iter()
            .filter(|p| p.compiled && p.tier == Some("optimized"))
            .count();
        assert_eq!(usable, PROTOCOLS as usize);
        load.push(loaded_at.as_secs_f64() * 1e3);
        total.push(started.elapsed().as_secs_f64() * 1e3);
    }
    let (lmin, lmed, lmax) = median(load);
    let (tmin, tmed, tmax) = median(total);
    println!(
        "code store: {PROTOCOLS} protocols (forward capsule variants, 12 KB), both tiers stored ({} entries), {RUNS} restarts",
        2 * PROTOCOLS
    );
    println!("| | median | min | max |");
    println!("|---|---|---|---|");
    println!(
        "| read, check and deserialize every entry | {lmed:.1} ms | {lmin:.1} ms | {lmax:.1} ms |"
    );
    println!(
        "| ... and all {PROTOCOLS} protocols usable in the node (optimized code) | {tmed:.1} ms | {tmin:.1} ms | {tmax:.1} ms |"
    );
    for (tier, ms) in compile_ms {
        println!(
            "| compiling the {PROTOCOLS} again instead ({}) | {ms:.0} ms | | |",
            tier.name()
        );
    }
}
