//! Compilation in the node core: the fair turn between sources.
//!
//! A flood of modules from one origin (previous node and capsule source) must not hold back a
//! protocol from another: each origin takes one compile per round.

mod node_support;

use ants_router::fingerprint::Fingerprint;
use ants_router::node::{Event, Node};
use ants_router::time::Timestamp;
use ants_router::wire::{CapsuleRepr, CodeFragmentRepr};
use node_support::{addr, chain_config, forward_wasm, ip, variant};

const T0: Timestamp = Timestamp::from_millis(1_000);

/// A capsule of `fp` from neighbour `from`, with capsule source `source`: the node holds it and
/// asks `from` for the code; the code then arrives, all of it.
fn load(node: &mut Node, module: &[u8], from: usize, source: &str) -> Fingerprint {
    let fp = Fingerprint::sha256(module);
    let capsule = CapsuleRepr {
        fingerprint: fp,
        source: ip(source),
        destination: addr(2),
        previous: addr(from),
        budget: 8,
        payload: b"x",
    };
    node.handle_datagram(T0, Some(addr(from)), &capsule.to_vec().unwrap());
    for f in CodeFragmentRepr::fragments(fp, module).unwrap() {
        node.handle_datagram(T0, Some(addr(from)), &f.to_vec().unwrap());
    }
    fp
}

#[test]
fn a_flood_of_modules_from_one_origin_does_not_hold_back_another() {
    let mut config = chain_config(1, 3);
    config.demand.max_concurrent_compiles = 1;
    let mut node = Node::new(config).unwrap();
    let wasm = forward_wasm();
    let flood: Vec<Fingerprint> = (1..=5)
        .map(|tag| load(&mut node, &variant(&wasm, tag), 0, "192.0.2.66"))
        .collect();
    let benign = load(&mut node, &variant(&wasm, 99), 2, "10.0.0.3");

    // Answer the compiles one at a time, in the order they are asked for.
    let mut order = Vec::new();
    while let Some(event) = node.poll_event() {
        if let Event::Compile {
            fingerprint,
            bytes,
            tier,
        } = event
        {
            order.push(fingerprint);
            let compiled = node.compiler().compile_tier(fingerprint, &bytes, tier);
            node.compile_done(T0, fingerprint, compiled);
        }
    }
    assert_eq!(order.len(), 6, "every module compiled once");
    assert_eq!(
        order[0], flood[0],
        "the first complete module started at once"
    );
    assert_eq!(
        order[1], benign,
        "the other origin's module goes next, not sixth"
    );
    assert_eq!(&order[2..], &flood[1..]);
    assert_eq!(node.stats().loads_completed, 6);
}
