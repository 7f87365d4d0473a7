//! Compilation in the node core: the fair turn between sources.
//!
//! A flood of modules from one origin (previous node and capsule source) must not hold back a
//! protocol from another: each origin takes one compile per round.

mod node_support;

use ants_router::fingerprint::Fingerprint;
use ants_router::harness::answer_compile;
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
        if let Event::Compile { fingerprint, .. } = &event {
            order.push(*fingerprint);
        }
        answer_compile(&mut node, T0, event);
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

/// Code announces: a hop that has verified a module tells the next hop of its held capsule,
/// which loads and compiles it meanwhile, so the first capsule over four hops waits for about
/// one compilation instead of four.
mod announce {
    use super::*;
    use ants_router::node::{DropReason, NodeConfig};
    use ants_router::wire::CodeAnnounceRepr;
    use node_support::{chain, link, ms};
    use std::time::Duration;

    /// Virtual time from the source's send until the first capsule is delivered 4 hops on.
    fn first_capsule(announce: bool) -> (Duration, u64) {
        let mut sim = chain(5, link(ms(1)), |_, c: &mut NodeConfig| {
            c.demand.announce_code = announce;
        });
        sim.set_compile_delay(ms(20));
        let fp = sim.register(addr(0), forward_wasm()).unwrap();
        sim.run_for(ms(100));
        let start = sim.now();
        sim.send_capsule(addr(0), fp, addr(4), 16, b"first")
            .unwrap();
        sim.run_for(Duration::from_secs(2));
        let delivered = sim.deliveries_at(addr(4)).next().expect("delivered").at;
        let received: u64 = (0..5)
            .map(|i| sim.node(addr(i)).unwrap().stats().announces_received)
            .sum();
        (delivered.saturating_duration_since(start), received)
    }

    #[test]
    fn the_hops_compile_at_once_instead_of_one_after_the_other() {
        let (without, none) = first_capsule(false);
        let (with, announced) = first_capsule(true);
        eprintln!("first capsule over 4 hops: {without:?} without announces, {with:?} with");
        assert_eq!(none, 0);
        // Hop 2 hears from hop 1, which held the capsule; hop 2 loads ahead of the capsule, so
        // it has no held capsule to name a next hop when its module is verified, and hop 3
        // learns from the capsule itself; hop 4 hears from hop 3.
        assert_eq!(announced, 2);
        // Four compilations of 20 ms one after the other, against pairs that overlap.
        assert!(without >= ms(80), "{without:?}");
        assert!(
            with + ms(30) <= without,
            "with {with:?}, without {without:?}"
        );
    }

    #[test]
    fn an_announce_from_anyone_but_a_neighbour_changes_nothing() {
        let mut node = Node::new(chain_config(1, 4)).unwrap();
        let announce = CodeAnnounceRepr {
            fingerprint: Fingerprint::sha256(b"some module"),
        }
        .to_vec();
        // A peer that is not a neighbour (node 3 of the chain), and an unknown socket.
        node.handle_datagram(T0, Some(addr(3)), &announce);
        node.handle_datagram(T0, None, &announce);
        assert!(node.poll_transmit().is_none(), "no request");
        let stats = node.stats();
        assert_eq!(stats.drops.get(DropReason::UnsolicitedCode), 2);
        assert_eq!(stats.loads_started, 0);
        // From the neighbour it starts a load: a request to that neighbour.
        node.handle_datagram(T0, Some(addr(0)), &announce);
        assert_eq!(node.poll_transmit().unwrap().to, addr(0));
        assert_eq!(node.stats().announces_received, 1);
        // Again: already loading.
        node.handle_datagram(T0, Some(addr(0)), &announce);
        assert_eq!(node.stats().announces_ignored, 1);
    }
}
