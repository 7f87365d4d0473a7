//! Shared helpers of the node core tests: the real forward capsule, module variants with
//! distinct fingerprints, and chain topologies in the simulated network.

#![allow(dead_code)]

use std::net::IpAddr;
use std::path::PathBuf;
use std::time::Duration;

use ants_router::fingerprint::Fingerprint;
use ants_router::node::sim::{Link, Sim};
use ants_router::node::{Node, NodeConfig};
use ants_router::routing::{NextHop, Route};
use ants_router::time::Timestamp;
use ants_router::wire::{CodeRequestRepr, Cookie, Frame};

pub fn ip(s: &str) -> IpAddr {
    s.parse().unwrap()
}

/// Address of chain node `i` (0-based): 10.0.0.(i + 1).
pub fn addr(i: usize) -> IpAddr {
    IpAddr::from([10, 0, 0, u8::try_from(i + 1).unwrap()])
}

/// The shipped unicast forwarding capsule (about 12 KB, 12 fragments).
pub fn forward_wasm() -> Vec<u8> {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../capsules/target/wasm32-unknown-unknown/release/capsule_forward.wasm");
    std::fs::read(&path).unwrap_or_else(|e| {
        panic!(
            "{}: {e}; build the capsules first with `make capsules`",
            path.display()
        )
    })
}

/// `module` with a custom section appended: same behaviour, another fingerprint.
pub fn variant(module: &[u8], tag: u32) -> Vec<u8> {
    let name = b"ants-test";
    let mut body = vec![name.len() as u8];
    body.extend_from_slice(name);
    body.extend_from_slice(&tag.to_le_bytes());
    let mut out = module.to_vec();
    out.push(0); // custom section id
    out.push(u8::try_from(body.len()).unwrap()); // LEB128, < 128
    out.extend_from_slice(&body);
    out
}

/// The smallest capsule: returns 0 without effects (dropped as `no_effect`).
pub fn inert_wat() -> Vec<u8> {
    wat::parse_str(
        r#"(module (memory (export "memory") 1)
             (func (export "ants_evaluate") (result i32) i32.const 0))"#,
    )
    .unwrap()
}

/// A config for node `i` of a chain of `n`: neighbours i-1 and i+1, every other chain node a
/// peer, host routes to every other chain node through the neighbour on its side.
pub fn chain_config(i: usize, n: usize) -> NodeConfig {
    let mut config = NodeConfig::new(addr(i));
    // A fixed cookie key, so that runs repeat byte for byte.
    config.cookie_secret = Some([u8::try_from(i).unwrap(); 32]);
    if i > 0 {
        config.neighbours.push(addr(i - 1));
    }
    if i + 1 < n {
        config.neighbours.push(addr(i + 1));
    }
    for j in 0..n {
        if j == i {
            continue;
        }
        // Every chain node is a configured peer: a capsule's source may be asked for code.
        if j + 1 < i || j > i + 1 {
            config.peers.push(addr(j));
        }
        let via = if j > i { addr(i + 1) } else { addr(i - 1) };
        config.routes.push(Route {
            prefix: addr(j),
            len: 32,
            next_hop: NextHop::Neighbour(via),
        });
    }
    config
}

/// A simulated chain of `n` nodes with `link` between neighbours, each configured by
/// `tweak(i, config)`.
pub fn chain(n: usize, link: Link, tweak: impl Fn(usize, &mut NodeConfig)) -> Sim {
    let mut sim = Sim::new(7);
    for i in 0..n {
        let mut config = chain_config(i, n);
        tweak(i, &mut config);
        sim.add_node(Node::new(config).unwrap());
    }
    for i in 1..n {
        sim.link(addr(i - 1), addr(i), link);
    }
    sim
}

pub fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

/// Asks `node`, as `asker`, for `fp` without a cookie and returns the cookie it answers with
/// (the first step of every requester; see `docs/node.md`, Serving code).
pub fn cookie_from(node: &mut Node, now: Timestamp, asker: IpAddr, fp: Fingerprint) -> Cookie {
    node.handle_datagram(
        now,
        Some(asker),
        &CodeRequestRepr::all(fp).to_vec().unwrap(),
    );
    let answer = node.poll_transmit().expect("an answer to the request");
    assert_eq!(answer.to, asker);
    assert!(node.poll_transmit().is_none(), "one frame, not code");
    match Frame::parse(&answer.bytes).unwrap() {
        Frame::CodeCookie(c) => c.cookie,
        other => panic!("expected a code cookie, got {other:?}"),
    }
}
