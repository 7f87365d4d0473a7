//! A protocol cannot take more than its share of a busy node: flooded with capsules whose code
//! burns its whole fuel allowance, the node keeps evaluating a benign protocol's capsules,
//! drops the hog's over-share capsules as `cpu_share_exceeded` before they cost anything, and
//! lets the hog run again once the window has passed. Deterministic: the share is measured in
//! fuel over node time.

mod node_support;

use std::time::Duration;

use ants_router::fingerprint::Fingerprint;
use ants_router::harness::compile_pending;
use ants_router::harness::hostile::HostileLoop;
use ants_router::node::{CpuShareLimits, DropReason, Node, NodeConfig};
use ants_router::time::Timestamp;
use ants_router::wire::CapsuleRepr;
use node_support::{addr, chain_config, forward_wasm};

const T0: Timestamp = Timestamp::from_millis(1_000);

/// The middle node of a chain 10.0.0.1 - 10.0.0.2 - 10.0.0.3.
fn node() -> Node {
    let mut config = chain_config(1, 3);
    // Only fuel stops an evaluation here, so the test does not depend on machine speed.
    config.sandbox.max_evaluation_time = Duration::from_secs(30);
    Node::new(config).unwrap()
}

fn register(node: &mut Node, module: Vec<u8>) -> Fingerprint {
    let fp = node.register_protocol(T0, module).unwrap();
    compile_pending(node, T0);
    fp
}

fn capsule(fp: Fingerprint) -> Vec<u8> {
    CapsuleRepr {
        fingerprint: fp,
        source: addr(0),
        destination: addr(2),
        previous: addr(0),
        budget: 8,
        payload: b"benign or not",
    }
    .to_vec()
    .unwrap()
}

#[test]
fn a_hog_is_held_to_its_share_and_the_benign_flow_is_untouched() {
    let mut n = node();
    let benign = register(&mut n, forward_wasm());
    let hog_module = wat::parse_str(HostileLoop::StatePut.wat(addr(2), None)).unwrap();
    let hog = register(&mut n, hog_module);
    let (benign_frame, hog_frame) = (capsule(benign), capsule(hog));
    let fuel = NodeConfig::new(addr(1)).sandbox.fuel_per_evaluation;

    // 300 ms of node time: every millisecond, 20 hog capsules (20 G fuel per second offered,
    // five times the node's capacity) and one benign capsule.
    let mut forwarded = 0;
    for ms in 0..300u64 {
        let now = T0 + Duration::from_millis(ms);
        for _ in 0..20 {
            n.handle_datagram(now, Some(addr(0)), &hog_frame);
        }
        n.handle_datagram(now, Some(addr(0)), &benign_frame);
        while let Some(t) = n.poll_transmit() {
            assert_eq!(t.to, addr(2));
            forwarded += 1;
        }
    }
    let stats = n.stats();
    assert_eq!(forwarded, 300, "every benign capsule forwarded: {stats:?}");
    let refused = stats.drops.get(DropReason::CpuShareExceeded);
    let status = n.status();
    let hog_status = status
        .protocols
        .iter()
        .find(|p| p.fingerprint == hog.to_string())
        .unwrap();
    let hog_evals = hog_status.sandbox.evaluations;
    assert_eq!(
        hog_evals + refused,
        6_000,
        "every hog capsule evaluated or refused"
    );
    // Beside a protocol that uses almost nothing, the hog may burn up to the busy level (half
    // the node's capacity, 2 G fuel per second by default): over 300 ms, 600 evaluations of
    // 1 M fuel, plus at most one window's worth while the sliding estimate catches up.
    let limits = CpuShareLimits::default();
    let busy_per_second = limits.fuel_per_second / 100 * u64::from(limits.busy_percent);
    let cap = busy_per_second * 3 / 10 / fuel;
    assert!(
        hog_evals <= cap + busy_per_second / 10 / fuel,
        "the hog ran {hog_evals} times; the busy level allows about {cap}"
    );
    assert!(refused >= 5_000, "only {refused} refused");
    let benign_status = status
        .protocols
        .iter()
        .find(|p| p.fingerprint == benign.to_string())
        .unwrap();
    assert_eq!(benign_status.sandbox.evaluations, 300);
    assert_eq!(benign_status.sandbox.stops.total(), 0);

    // Quiet for a while: the window forgets, and the hog runs again.
    let later = T0 + Duration::from_secs(2);
    n.handle_datagram(later, Some(addr(0)), &hog_frame);
    assert_eq!(n.stats().drops.get(DropReason::CpuShareExceeded), refused);
}
