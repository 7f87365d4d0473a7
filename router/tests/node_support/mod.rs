//! Shared helpers of the node core tests: the real forward capsule, module variants with
//! distinct fingerprints, and chains of nodes in the emulator ([`Net`]: the emulator's
//! network addressed by node address).

#![allow(dead_code)]

use std::net::IpAddr;
use std::path::PathBuf;
use std::time::Duration;

use ants_emulator::{CodeLoad, Delivery, Emulator, Mesh, Sent, TraceRecord, Verdict};
use ants_router::fingerprint::Fingerprint;
use ants_router::node::{Node, NodeConfig, NodeError};
use ants_router::routing::{NextHop, Route};
use ants_router::time::Timestamp;
use ants_router::wire::{CodeRequestRepr, Cookie, Frame};

// Not every test file that includes this module uses them.
#[allow(unused_imports)]
pub use ants_emulator::mesh::link;
#[allow(unused_imports)]
pub use ants_topology::model::LinkParams;

pub fn ip(s: &str) -> IpAddr {
    s.parse().unwrap()
}

/// Address of chain node `i` (0-based): 10.0.0.(i + 1).
pub fn addr(i: usize) -> IpAddr {
    IpAddr::from([10, 0, 0, u8::try_from(i + 1).unwrap()])
}

/// The shipped forwarding capsule padded to 12 KB (12 fragments) with a custom section: the
/// same code, loaded in as many fragments as a typical capsule needs.
pub fn forward_12k_wasm() -> Vec<u8> {
    let mut wasm = forward_wasm();
    let pad = (12 * 1024usize).saturating_sub(wasm.len() + 4).max(16);
    wasm.extend(ants_router::harness::custom_section("pad", pad, 0));
    wasm
}

/// The shipped unicast forwarding capsule (about 3.4 KB, 4 fragments).
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

/// A chain of `n` nodes with `link` between neighbours (and the mesh's default link, 5 ms,
/// between the others), each configured by `tweak(i, config)`; more nodes and links may be
/// added before [`Net::build`].
pub fn chain_mesh(n: usize, link: LinkParams, tweak: impl Fn(usize, &mut NodeConfig)) -> Mesh {
    let mut mesh = Mesh::new(7);
    for i in 0..n {
        let mut config = chain_config(i, n);
        tweak(i, &mut config);
        mesh.node(config);
    }
    for i in 1..n {
        mesh.link(addr(i - 1), addr(i), link);
    }
    mesh
}

/// [`chain_mesh`], built.
pub fn chain(n: usize, link: LinkParams, tweak: impl Fn(usize, &mut NodeConfig)) -> Net {
    Net::build(&chain_mesh(n, link, tweak))
}

/// An emulated network of node cores, addressed by node address, recording every delivery and
/// every datagram sent.
pub struct Net {
    pub emu: Emulator,
}

impl Net {
    pub fn build(mesh: &Mesh) -> Net {
        let mut emu = mesh.build().expect("a valid mesh");
        emu.record_deliveries();
        emu.record_trace();
        Net { emu }
    }

    fn id(&self, addr: IpAddr) -> usize {
        self.emu
            .node_id(addr)
            .unwrap_or_else(|| panic!("the network has no node at {addr}"))
    }

    pub fn now(&self) -> Timestamp {
        self.emu.now()
    }

    pub fn run_for(&mut self, d: Duration) {
        self.emu.run_for(d);
    }

    pub fn node(&self, addr: IpAddr) -> Option<&Node> {
        self.emu.node(self.emu.node_id(addr)?)
    }

    pub fn register(&mut self, addr: IpAddr, module: Vec<u8>) -> Result<Fingerprint, NodeError> {
        let id = self.id(addr);
        self.emu
            .with_node(id, |n, now| n.register_protocol(now, module))
            .expect("a node core")
    }

    pub fn send_capsule(
        &mut self,
        addr: IpAddr,
        fingerprint: Fingerprint,
        destination: IpAddr,
        budget: u16,
        payload: &[u8],
    ) -> Result<(), NodeError> {
        let id = self.id(addr);
        self.emu
            .with_node(id, |n, now| {
                n.send_capsule(now, fingerprint, destination, budget, payload)
            })
            .expect("a node core")
    }

    /// `from` (a node) sends `bytes` to `to` now, as if its core had.
    pub fn inject(&mut self, from: IpAddr, to: IpAddr, bytes: Vec<u8>) {
        let id = self.id(from);
        self.emu.inject(id, to, bytes);
    }

    /// Restarts the node at the configuration's address with it (empty caches).
    pub fn replace_node(&mut self, config: NodeConfig) -> Option<Node> {
        let id = self.id(config.address);
        self.emu.restart_node(id, config).expect("a valid restart")
    }

    pub fn set_tamper(&mut self, hook: impl FnMut(&mut Sent) -> Verdict + 'static) {
        self.emu.set_tamper(hook);
    }

    pub fn set_compile_delay(&mut self, delay: Duration) {
        self.emu.set_compile_delay(delay);
    }

    pub fn set_compiling(&mut self, addr: IpAddr, compiles: bool) {
        let id = self.id(addr);
        self.emu.set_compiling(id, compiles);
    }

    pub fn outstanding_compiles(&self, addr: IpAddr) -> usize {
        self.emu.outstanding_compiles(self.id(addr))
    }

    pub fn max_outstanding_compiles(&self, addr: IpAddr) -> usize {
        self.emu.max_outstanding_compiles(self.id(addr))
    }

    pub fn deliveries(&self) -> &[Delivery] {
        self.emu.delivered()
    }

    pub fn deliveries_at(&self, addr: IpAddr) -> impl Iterator<Item = &Delivery> {
        let id = self.id(addr);
        self.deliveries().iter().filter(move |d| d.node == id)
    }

    pub fn code_loaded(&self) -> &[CodeLoad] {
        self.emu.code_loads()
    }

    /// The address of node `id`.
    pub fn address(&self, id: usize) -> IpAddr {
        IpAddr::V4(self.emu.topology().nodes[id].address)
    }

    pub fn trace(&self) -> &[TraceRecord] {
        self.emu.trace()
    }
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
