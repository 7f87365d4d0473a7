//! Cached-code fast path: evaluating the `forward` capsule on a warm instance, side by side with
//! the same logic compiled natively, at 64- and 1,200-byte payloads; plus the instance-model
//! choice (reused instance per protocol versus a fresh instance per capsule).
//!
//! Run with `make bench` (builds the capsules first) or
//! `cargo bench -p ants-router --bench sandbox`. Results: docs/benchmarks.md.

use std::hint::black_box;
use std::net::IpAddr;

use ants_router::fingerprint::Fingerprint;
use ants_router::harness::MINIMAL_FORWARD_WAT;
use ants_router::routing::{NextHop, Route};
use ants_router::sandbox::{CompileTier, NodeContext, Sandbox, SandboxLimits, SendRoute};
use ants_router::wire::CapsuleRepr;
use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};

const FORWARD_WASM: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../capsules/target/wasm32-unknown-unknown/release/capsule_forward.wasm"
);

fn ip(s: &str) -> IpAddr {
    s.parse().unwrap()
}

fn context() -> NodeContext {
    let mut ctx = NodeContext::new(ip("10.0.0.1"));
    ctx.routing.add_neighbour(ip("10.0.0.2"));
    ctx.routing
        .add_route(Route {
            prefix: ip("10.0.9.0"),
            len: 24,
            next_hop: NextHop::Neighbour(ip("10.0.0.2")),
        })
        .unwrap();
    ctx
}

/// What the `forward` capsule does, written directly against the node context: copy the
/// payload out, deliver if local, else check the route and record a send with all the budget.
fn native_forward(capsule: &CapsuleRepr<'_>, ctx: &mut NodeContext) -> Result<(), ()> {
    ctx.effects.clear();
    let mut buf = [0u8; 1200];
    let payload = buf.get_mut(..capsule.payload.len()).ok_or(())?;
    payload.copy_from_slice(capsule.payload);
    if capsule.destination == ctx.address {
        ctx.effects.push_delivery(1, payload);
        return Ok(());
    }
    ctx.routing
        .lookup(capsule.destination, ctx.address)
        .ok_or(())?;
    ctx.effects.push_send(
        capsule.source,
        capsule.destination,
        SendRoute::Toward,
        capsule.budget,
        payload,
    );
    Ok(())
}

fn bench(c: &mut Criterion) {
    let wasm = std::fs::read(FORWARD_WASM)
        .unwrap_or_else(|e| panic!("{FORWARD_WASM}: {e}; run `make capsules` first"));
    let fp = Fingerprint::sha256(&wasm);
    let mut reused = Sandbox::new(SandboxLimits::default()).unwrap();
    let mut fresh = Sandbox::new(SandboxLimits {
        recycle_after_calls: 1,
        ..SandboxLimits::default()
    })
    .unwrap();
    // Steady state: the optimized tier (a protocol tiers up after its first evaluations).
    let code = reused
        .compiler()
        .compile_tier(fp, &wasm, CompileTier::Optimized)
        .unwrap();
    // What a protocol's first capsules run: the baseline tier (Winch), in a sandbox of its own
    // (instances are per fingerprint).
    let baseline = reused.compile(fp, &wasm).unwrap();
    let mut baseline_box = Sandbox::with_compiler(reused.compiler());
    let fresh_code = fresh
        .compiler()
        .compile_tier(fp, &wasm, CompileTier::Optimized)
        .unwrap();
    let minimal_wasm = // The same forwarding logic hand-written in WebAssembly text: the sandbox's own floor,
    // without the SDK's conveniences.
    wat::parse_str(MINIMAL_FORWARD_WAT).unwrap();
    let minimal = reused
        .compiler()
        .compile_tier(
            Fingerprint::sha256(&minimal_wasm),
            &minimal_wasm,
            CompileTier::Optimized,
        )
        .unwrap();
    let mut ctx = context();

    let mut group = c.benchmark_group("forward");
    for size in [64usize, 1200] {
        let payload = vec![0xa5u8; size];
        let capsule = CapsuleRepr {
            fingerprint: fp,
            source: ip("10.0.5.1"),
            destination: ip("10.0.9.9"),
            previous: ip("10.0.5.1"),
            budget: 16,
            payload: &payload,
        };
        group.throughput(Throughput::Elements(1));
        group.bench_with_input(BenchmarkId::new("wasm", size), &capsule, |b, capsule| {
            b.iter(|| {
                reused
                    .evaluate(&code, black_box(capsule), &mut ctx)
                    .unwrap();
                assert_eq!(ctx.effects.sends().len(), 1);
            })
        });
        group.bench_with_input(
            BenchmarkId::new("wasm-baseline-tier", size),
            &capsule,
            |b, capsule| {
                b.iter(|| {
                    baseline_box
                        .evaluate(&baseline, black_box(capsule), &mut ctx)
                        .unwrap();
                    assert_eq!(ctx.effects.sends().len(), 1);
                })
            },
        );
        let minimal_capsule = CapsuleRepr {
            fingerprint: minimal.fingerprint(),
            ..capsule
        };
        group.bench_with_input(
            BenchmarkId::new("wasm-minimal", size),
            &minimal_capsule,
            |b, capsule| {
                b.iter(|| {
                    reused
                        .evaluate(&minimal, black_box(capsule), &mut ctx)
                        .unwrap();
                    assert_eq!(ctx.effects.sends().len(), 1);
                })
            },
        );
        group.bench_with_input(BenchmarkId::new("native", size), &capsule, |b, capsule| {
            b.iter(|| {
                native_forward(black_box(capsule), &mut ctx).unwrap();
                assert_eq!(ctx.effects.sends().len(), 1);
            })
        });
        if size == 64 {
            group.bench_with_input(
                BenchmarkId::new("wasm-fresh-instance", size),
                &capsule,
                |b, capsule| {
                    b.iter(|| {
                        fresh
                            .evaluate(&fresh_code, black_box(capsule), &mut ctx)
                            .unwrap();
                    })
                },
            );
        }
    }
    group.finish();
    let s = reused.stats();
    eprintln!(
        "forward capsule: {} fuel per evaluation on average, {} instantiations for {} evaluations",
        s.fuel_consumed / s.evaluations.max(1),
        s.instantiations,
        s.evaluations
    );
}

criterion_group!(benches, bench);
criterion_main!(benches);
