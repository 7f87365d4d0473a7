//! The shipped capsules, built to wasm32, run in the real sandbox against scripted nodes.

use std::net::IpAddr;

use ants_router::harness::{Outcome, Protocol, ScriptedNode, TestCapsule};
use ants_router::routing::NextHop;
use ants_router::sandbox::{Sandbox, SandboxLimits};
use ants_tests::{CAPSULES_DIR, capsule_wasm, repo_root};
use capsule_sdk::Address;
use capsule_sdk::serde::{Deserialize, Serialize};

/// ANTS's own cap on capsule code.
const MAX_CAPSULE_BYTES: u64 = 16 * 1024;

/// Crate directories under `capsules/`, each one shipped capsule.
fn shipped_capsules() -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(repo_root().join("capsules"))
        .unwrap()
        .filter_map(|e| e.ok())
        .filter(|e| e.path().join("Cargo.toml").is_file() && e.path().join("src").is_dir())
        .map(|e| e.file_name().to_string_lossy().replace('-', "_"))
        .collect();
    names.sort();
    names
}

#[test]
fn every_shipped_capsule_fits_in_16_kib_and_a_node_accepts_it() {
    let names = shipped_capsules();
    assert!(names.len() >= 7, "capsule crates found: {names:?}");
    let sandbox = Sandbox::new(SandboxLimits::default()).unwrap();
    for name in &names {
        let wasm = capsule_wasm(name);
        assert!(
            wasm.len() as u64 <= MAX_CAPSULE_BYTES,
            "{}/capsule_{name}.wasm is {} bytes",
            CAPSULES_DIR,
            wasm.len()
        );
        let fp = ants_router::fingerprint::Fingerprint::sha256(&wasm);
        if let Err(e) = sandbox.compile(fp, &wasm) {
            panic!("the sandbox refuses capsule_{name}.wasm: {e}");
        }
    }
}

fn ip(s: &str) -> IpAddr {
    s.parse().unwrap()
}

#[test]
fn forward_capsule_forwards_then_delivers() {
    let wasm = capsule_wasm("forward");
    let mut r1 = ScriptedNode::new("10.0.0.1");
    r1.route("10.0.0.3", "10.0.0.2");
    let forward = r1.load(&wasm).expect("forward capsule loads");
    let out = r1.evaluate(
        &forward,
        &TestCapsule::new("10.0.0.1", "10.0.0.3")
            .budget(5)
            .payload(&b"data"[..]),
    );
    assert_eq!(out.result, Ok(()), "{out:?}");
    assert_eq!(out.sends.len(), 1);
    let sent = &out.sends[0];
    assert_eq!(sent.next_hop, NextHop::Neighbour(ip("10.0.0.2")));
    assert_eq!(
        (sent.source, sent.destination),
        (ip("10.0.0.1"), ip("10.0.0.3"))
    );
    assert_eq!(sent.budget, 5);
    assert_eq!(sent.payload, b"data");

    let mut r3 = ScriptedNode::new("10.0.0.3");
    let forward = r3.load(&wasm).unwrap();
    let out = r3.evaluate(
        &forward,
        &TestCapsule::new("10.0.0.1", "10.0.0.3").payload(&b"data"[..]),
    );
    assert_eq!(out.result, Ok(()));
    assert!(out.sends.is_empty());
    assert_eq!(out.deliveries, [(1, b"data".to_vec())]);

    // No route: the capsule logs why and reports NO_ROUTE.
    let out = r3.evaluate(&forward, &TestCapsule::new("10.0.0.1", "10.0.0.9"));
    assert_eq!(
        out.result,
        Err(ants_router::sandbox::EvalError::CapsuleStatus(
            capsule_sdk::abi::status::NO_ROUTE
        ))
    );
    assert!(out.logs[0].1.contains("no route"), "{:?}", out.logs);
}

/// The ping payload, as `capsules/ping` defines it (postcard).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(crate = "capsule_sdk::serde")]
enum Kind {
    Request,
    Reply,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(crate = "capsule_sdk::serde")]
struct Ping {
    kind: Kind,
    id: u32,
    sent_ns: u64,
    hops: u16,
    path: Vec<Address>,
}

/// A chain of three scripted active nodes, 10.0.0.1 - 10.0.0.2 - 10.0.0.3.
struct Chain {
    nodes: Vec<(IpAddr, ScriptedNode, Protocol)>,
}

impl Chain {
    fn new(wasm: &[u8]) -> Self {
        let addrs = ["10.0.0.1", "10.0.0.2", "10.0.0.3"];
        let nodes = addrs
            .iter()
            .enumerate()
            .map(|(i, a)| {
                let mut n = ScriptedNode::new(a);
                for (j, b) in addrs.iter().enumerate() {
                    if j != i {
                        let via = if j > i { addrs[i + 1] } else { addrs[i - 1] };
                        n.route(b, via);
                    }
                }
                let p = n.load(wasm).unwrap();
                (ip(a), n, p)
            })
            .collect();
        Chain { nodes }
    }

    /// Carries a capsule hop by hop (each hop charging one unit of budget, as a node does)
    /// until it is delivered; returns every hop's outcome.
    fn run(&mut self, mut at: IpAddr, mut capsule: TestCapsule) -> Vec<Outcome> {
        let mut outcomes = Vec::new();
        for _ in 0..10 {
            let (_, node, proto) = self.nodes.iter_mut().find(|(a, _, _)| *a == at).unwrap();
            capsule.budget -= 1;
            let out = node.evaluate(proto, &capsule);
            assert_eq!(out.result, Ok(()), "at {at}: {out:?}");
            outcomes.push(out.clone());
            if !out.deliveries.is_empty() {
                return outcomes;
            }
            assert_eq!(out.sends.len(), 1);
            let s = &out.sends[0];
            let NextHop::Neighbour(next) = s.next_hop else {
                panic!("{s:?}")
            };
            capsule = TestCapsule {
                source: s.source,
                destination: s.destination,
                previous: at,
                budget: s.budget,
                payload: s.payload.clone(),
            };
            at = next;
        }
        panic!("no delivery after 10 hops");
    }
}

#[test]
fn ping_records_the_path_and_comes_back() {
    let mut chain = Chain::new(&capsule_wasm("ping"));
    let request = Ping {
        kind: Kind::Request,
        id: 42,
        sent_ns: 7,
        hops: 0,
        path: vec![],
    };
    let payload = capsule_sdk::postcard::to_allocvec(&request).unwrap();
    let outcomes = chain.run(
        ip("10.0.0.1"),
        TestCapsule::new("10.0.0.1", "10.0.0.3")
            .budget(16)
            .payload(payload),
    );
    // Out through 10.0.0.1, 10.0.0.2, turned around at 10.0.0.3, back through 10.0.0.2 to
    // 10.0.0.1, where the reply is delivered.
    assert_eq!(outcomes.len(), 5);
    let reply_hop = &outcomes[2];
    assert_eq!(
        reply_hop.sends[0].source,
        ip("10.0.0.3"),
        "the reply comes from the destination"
    );
    assert_eq!(reply_hop.sends[0].destination, ip("10.0.0.1"));
    let (port, bytes) = &outcomes[4].deliveries[0];
    assert_eq!(*port, 7);
    let reply: Ping = capsule_sdk::postcard::from_bytes(bytes).unwrap();
    assert_eq!(reply.kind, Kind::Reply);
    assert_eq!((reply.id, reply.sent_ns, reply.hops), (42, 7, 3));
    let path: Vec<IpAddr> = reply.path.iter().map(|a| a.to_ip()).collect();
    assert_eq!(path, [ip("10.0.0.1"), ip("10.0.0.2"), ip("10.0.0.3")]);
}

#[test]
fn ping_rejects_a_garbled_payload_without_effects() {
    let mut node = ScriptedNode::new("10.0.0.2");
    node.route("10.0.0.3", "10.0.0.3");
    let ping = node.load(&capsule_wasm("ping")).unwrap();
    let out = node.evaluate(
        &ping,
        &TestCapsule::new("10.0.0.1", "10.0.0.3").payload(vec![0xff; 40]),
    );
    assert!(out.result.is_err(), "{out:?}");
    assert!(out.sends.is_empty() && out.deliveries.is_empty());
}
