//! Bytes out per byte in, for every kind of code request, toward an address that has proved it
//! receives there (it echoed the node's cookie) and toward one that has not (a spoofed source).
//! The bar (issue "untrusted peers"): at most 3x toward any unverified address.
//!
//! The node core is driven directly (sans-IO), so the figures are exact and repeat on any
//! machine: what one request makes the node send, summed over 100 requests of each kind.
//! `router/daemon/tests/daemon_spoofing.rs` checks the same on a real daemon with a raw socket.
//!
//! Run with `cargo bench -p ants-router --bench amplification` (under a second). Results:
//! docs/benchmarks.md. Under `cargo test` it only says so and exits.

use std::net::IpAddr;

use ants_router::fingerprint::{Fingerprint, FingerprintPolicy};
use ants_router::harness::{compile_pending, custom_section};
use ants_router::node::{Node, NodeConfig};
use ants_router::time::Timestamp;
use ants_router::wire::{CodeRequestRepr, Cookie, Frame, FrameKind};

const REQUESTS: usize = 100;
const T0: Timestamp = Timestamp::from_millis(1_000);

fn ip(s: &str) -> IpAddr {
    s.parse().expect("address")
}

/// The shipped forward capsule, and the same code padded to the 64 KiB module limit.
fn modules() -> (Vec<u8>, Vec<u8>) {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../capsules/target/wasm32-unknown-unknown/release/capsule_forward.wasm"
    );
    let forward = std::fs::read(path).expect("the forward capsule: run `make capsules` first");
    let mut large = forward.clone();
    let pad = 64 * 1024 - forward.len() - 8;
    large.extend(custom_section("pad", pad, 0x5a));
    (forward, large)
}

fn node() -> Node {
    let mut config = NodeConfig::new(ip("10.0.0.1"));
    config.neighbours = vec![ip("10.0.0.2")];
    config.fingerprints = FingerprintPolicy::allow_legacy_md5();
    // Rate limits out of the way: this measures what each answered request costs.
    config.demand.fragments_per_requester_per_second = u32::MAX / 2;
    config.demand.fragment_burst = u32::MAX / 2;
    let mut node = Node::new(config).expect("node");
    let (forward, large) = modules();
    node.register_protocol(T0, forward).expect("forward");
    node.register_protocol(T0, large).expect("large");
    compile_pending(&mut node, T0);
    node
}

/// Sends `request` `REQUESTS` times from `from`: (bytes in, bytes out, datagrams out,
/// fragments out).
fn measure(node: &mut Node, from: IpAddr, request: &[u8]) -> (usize, usize, usize, usize) {
    let (mut out, mut datagrams, mut fragments) = (0, 0, 0);
    for _ in 0..REQUESTS {
        node.handle_datagram(T0, Some(from), request);
        while let Some(t) = node.poll_transmit() {
            assert_eq!(t.to, from);
            out += t.bytes.len();
            datagrams += 1;
            fragments += usize::from(t.bytes[3] == FrameKind::CodeFragment.code());
        }
    }
    (request.len() * REQUESTS, out, datagrams, fragments)
}

fn cookie(node: &mut Node, from: IpAddr, fp: Fingerprint) -> Cookie {
    node.handle_datagram(
        T0,
        Some(from),
        &CodeRequestRepr::all(fp).to_vec().expect("request"),
    );
    let answer = node.poll_transmit().expect("an answer");
    match Frame::parse(&answer.bytes) {
        Ok(Frame::CodeCookie(c)) => c.cookie,
        other => panic!("expected a cookie, got {other:?}"),
    }
}

fn main() {
    if !std::env::args().any(|a| a == "--bench") {
        println!("amplification: a benchmark; run it with `cargo bench --bench amplification`");
        return;
    }
    let (forward, large) = modules();
    let fp = Fingerprint::sha256(&forward);
    let fp_large = Fingerprint::sha256(&large);
    let missing = Fingerprint::sha256(b"a module this node does not hold");
    let missing_md5 = Fingerprint::md5(b"a module this node does not hold");
    let peer = ip("10.0.0.2");
    let mut node = node();
    let proved = cookie(&mut node, peer, fp);
    let guessed = Cookie([0x42; 16]);
    let mask = [0xc0];
    let kinds: [(&str, Fingerprint, &[u8]); 5] = [
        ("whole module, forward capsule (12 KB)", fp, &[]),
        ("two fragments (mask)", fp, &mask),
        ("whole module, 64 KiB", fp_large, &[]),
        ("module not cached (SHA-256)", missing, &[]),
        ("module not cached (MD5)", missing_md5, &[]),
    ];
    println!("amplification: {REQUESTS} requests of each kind from configured neighbour {peer}");
    println!(
        "| request | requester | bytes in | bytes out | datagrams out | code fragments | out / in |"
    );
    println!("|---|---|---|---|---|---|---|");
    let mut worst_unverified: f64 = 0.0;
    for (name, fingerprint, mask) in kinds {
        for (who, cookie) in [
            ("unverified: no cookie", None),
            ("unverified: guessed cookie", Some(guessed)),
            ("verified: its cookie", Some(proved)),
        ] {
            let request = CodeRequestRepr {
                fingerprint,
                first: 0,
                mask,
                cookie,
            }
            .to_vec()
            .expect("request");
            let (bytes_in, out, datagrams, fragments) = measure(&mut node, peer, &request);
            let ratio = out as f64 / bytes_in as f64;
            if !who.starts_with("verified") {
                worst_unverified = worst_unverified.max(ratio);
            }
            println!(
                "| {name} | {who} | {bytes_in} | {out} | {datagrams} | {fragments} | {ratio:.2}x |"
            );
        }
    }
    let stats = node.stats();
    println!(
        "worst toward an unverified address: {worst_unverified:.2}x (bar: 3x); cookies sent {}, stale {}",
        stats.cookies_sent, stats.cookies_stale
    );
}
