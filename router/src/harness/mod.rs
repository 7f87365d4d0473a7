//! A scripted node for testing capsules without a network.
//!
//! Owns [`ScriptedNode`]: one sandbox plus a [`NodeContext`] whose address, neighbours, routes,
//! link loads, time and protocol state a test sets directly. A test loads a compiled capsule
//! module, evaluates capsules with it and asserts on the [`Outcome`]: the capsules it sent,
//! what it delivered, what it logged, and why it stopped if it did. It runs the real sandbox
//! and the real node API, so what passes here behaves the same in a router; it never opens a
//! socket or reads a clock.
//!
//! For tests that drive a whole [`Node`] instead, [`compile_pending`] plays the driver's
//! compile threads, and [`custom_section`] makes module variants of any length.
//!
//! ```no_run
//! use ants_router::harness::{ScriptedNode, TestCapsule};
//!
//! let wasm = std::fs::read("capsules/target/wasm32-unknown-unknown/release/capsule_forward.wasm")?;
//! let mut node = ScriptedNode::new("10.0.0.1");
//! node.neighbour("10.0.0.2").route("10.0.9.0/24", "10.0.0.2");
//! let forward = node.load(&wasm)?;
//! let out = node.evaluate(&forward, &TestCapsule::new("10.0.5.1", "10.0.9.9").budget(8));
//! assert!(out.result.is_ok());
//! assert_eq!(out.sends[0].destination, "10.0.9.9".parse::<std::net::IpAddr>()?);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

pub mod hostile;

use std::net::IpAddr;
use std::time::Duration;

use crate::fingerprint::Fingerprint;
use crate::node::{Event, Node};
use crate::routing::{LinkLoad, NextHop, Route};
use crate::sandbox::{
    CompiledCapsule, EvalError, LoadError, LogLevel, NodeContext, Sandbox, SandboxLimits,
    SandboxStats, SendRoute,
};
use crate::softstore::{StateLimits, StateStore};
use crate::time::Timestamp;
use crate::wire::CapsuleRepr;

/// The smallest forwarding capsule, in WebAssembly text: reads the destination and payload,
/// sends the payload toward the destination with the whole budget (four host calls, no SDK).
/// For tests and benchmarks that need a capsule without building the shipped ones.
pub const MINIMAL_FORWARD_WAT: &str = r#"(module
  (import "ants_v1" "capsule_budget" (func $budget (result i32)))
  (import "ants_v1" "capsule_destination" (func $dst (param i32) (result i32)))
  (import "ants_v1" "capsule_payload" (func $payload (param i32 i32) (result i32)))
  (import "ants_v1" "send" (func $send (param i32 i32 i32 i32 i32 i32) (result i32)))
  (memory (export "memory") 1)
  (func (export "ants_evaluate") (result i32)
    (local $len i32)
    (drop (call $dst (i32.const 0)))
    (local.set $len (call $payload (i32.const 64) (i32.const 1200)))
    (i32.lt_s (call $send (i32.const 0) (i32.const 0) (call $budget) (i32.const 0)
                          (i32.const 64) (local.get $len)) (i32.const 0))))"#;

/// A custom section named `name` (under 128 bytes) with `len` bytes of contents in all (the
/// name's length byte and the name, then `fill`). Appended to a module it gives the same code
/// another fingerprint, padded to the length a test needs.
pub fn custom_section(name: &str, len: usize, fill: u8) -> Vec<u8> {
    assert!(
        name.len() < 0x80 && name.len() < len,
        "custom section `{name}` of {len}"
    );
    let mut section = vec![0]; // section id: custom
    let mut rest = len;
    while rest >= 0x80 {
        section.push((rest as u8 & 0x7f) | 0x80);
        rest >>= 7;
    }
    section.push(rest as u8);
    section.push(name.len() as u8);
    section.extend_from_slice(name.as_bytes());
    section.resize(section.len() + len - 1 - name.len(), fill);
    section
}

/// Answers every pending compile request of `node` at once, in the order asked (answers may
/// ask for more), the way the emulator does; returns the node's other events in order.
pub fn compile_pending(node: &mut Node, now: Timestamp) -> Vec<Event> {
    let mut others = Vec::new();
    while let Some(event) = node.poll_event() {
        others.extend(answer_compile(node, now, event));
    }
    others
}

/// Compiles the module of `event` at once with the node's own compiler, if it is an
/// [`Event::Compile`], and hands the node the result; any other event comes back.
pub fn answer_compile(node: &mut Node, now: Timestamp, event: Event) -> Option<Event> {
    let Event::Compile {
        fingerprint,
        bytes,
        tier,
    } = event
    else {
        return Some(event);
    };
    let compiled = node.compiler().compile_tier(fingerprint, &bytes, tier);
    node.compile_done(now, fingerprint, compiled);
    None
}

fn ip(s: &str) -> IpAddr {
    s.parse()
        .unwrap_or_else(|e| panic!("`{s}` is not an IP address: {e}"))
}

/// A capsule to evaluate, built field by field. Defaults: previous node = source, budget 16,
/// empty payload.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TestCapsule {
    /// Source address.
    pub source: IpAddr,
    /// Destination address.
    pub destination: IpAddr,
    /// Previous active node.
    pub previous: IpAddr,
    /// Budget the capsule sees, i.e. after this hop's charge.
    pub budget: u16,
    /// Payload bytes.
    pub payload: Vec<u8>,
}

impl TestCapsule {
    /// A capsule from `source` to `destination` (IP address strings; panics on bad ones).
    pub fn new(source: &str, destination: &str) -> Self {
        TestCapsule {
            source: ip(source),
            destination: ip(destination),
            previous: ip(source),
            budget: 16,
            payload: Vec::new(),
        }
    }

    /// Sets the previous active node.
    pub fn previous(mut self, previous: &str) -> Self {
        self.previous = ip(previous);
        self
    }

    /// Sets the budget the capsule sees.
    pub fn budget(mut self, budget: u16) -> Self {
        self.budget = budget;
        self
    }

    /// Sets the payload.
    pub fn payload(mut self, payload: impl Into<Vec<u8>>) -> Self {
        self.payload = payload.into();
        self
    }
}

/// A capsule the evaluation sent, with its payload copied out.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Sent {
    /// Source address it carries.
    pub source: IpAddr,
    /// Destination address.
    pub destination: IpAddr,
    /// The neighbour it leaves through (resolved from the routing table when routed).
    pub next_hop: NextHop,
    /// Whether the capsule named the neighbour itself (`SEND_VIA_NEIGHBOUR`).
    pub explicit_neighbour: bool,
    /// Its budget.
    pub budget: u16,
    /// Its payload.
    pub payload: Vec<u8>,
}

/// Everything one evaluation did.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Outcome {
    /// `Ok` if `ants_evaluate` returned 0; otherwise why it stopped.
    pub result: Result<(), EvalError>,
    /// Capsules sent (empty if it stopped).
    pub sends: Vec<Sent>,
    /// `(port, payload)` deliveries (empty if it stopped).
    pub deliveries: Vec<(u16, Vec<u8>)>,
    /// Log records, kept even when it stopped (a panic message is the last one).
    pub logs: Vec<(LogLevel, String)>,
}

/// A loaded protocol: its fingerprint and compiled module.
#[derive(Clone, Debug)]
pub struct Protocol {
    code: CompiledCapsule,
}

impl Protocol {
    /// The protocol's type fingerprint (SHA-256 of the module).
    pub fn fingerprint(&self) -> Fingerprint {
        self.code.fingerprint()
    }
}

/// A node whose tables a test writes directly. See the module docs.
pub struct ScriptedNode {
    sandbox: Sandbox,
    ctx: NodeContext,
}

impl ScriptedNode {
    /// A node at `address` with default sandbox and state limits.
    pub fn new(address: &str) -> Self {
        Self::with_limits(address, SandboxLimits::default(), StateLimits::default())
    }

    /// A node at `address` with the given limits.
    pub fn with_limits(address: &str, sandbox: SandboxLimits, state: StateLimits) -> Self {
        let sandbox = Sandbox::new(sandbox)
            .unwrap_or_else(|e| panic!("the sandbox engine could not be built: {e}"));
        let mut ctx = NodeContext::new(ip(address));
        ctx.state = Box::new(StateStore::new(state));
        ScriptedNode { sandbox, ctx }
    }

    /// Adds an active neighbour.
    pub fn neighbour(&mut self, address: &str) -> &mut Self {
        self.ctx.routing.add_neighbour(ip(address));
        self
    }

    /// Routes `prefix` (`"10.0.9.0/24"`, or a bare address for a host route) via the
    /// neighbour `via`, which is added as a neighbour if it is not one yet.
    pub fn route(&mut self, prefix: &str, via: &str) -> &mut Self {
        let (addr, len) = match prefix.split_once('/') {
            Some((a, l)) => (
                ip(a),
                l.parse()
                    .unwrap_or_else(|e| panic!("bad prefix length in `{prefix}`: {e}")),
            ),
            None => {
                let a = ip(prefix);
                (a, if a.is_ipv4() { 32 } else { 128 })
            }
        };
        let via = ip(via);
        self.ctx.routing.add_neighbour(via);
        self.ctx
            .routing
            .add_route(Route {
                prefix: addr,
                len,
                next_hop: NextHop::Neighbour(via),
            })
            .unwrap_or_else(|e| panic!("route {prefix} via {via}: {e}"));
        self
    }

    /// Sets the load of the link toward a neighbour.
    pub fn link_load(&mut self, neighbour: &str, load: LinkLoad) -> &mut Self {
        assert!(
            self.ctx.routing.set_link_load(ip(neighbour), load),
            "{neighbour} is not a neighbour"
        );
        self
    }

    /// Sets node time.
    pub fn set_time(&mut self, now: Timestamp) -> &mut Self {
        self.ctx.now = now;
        self
    }

    /// Moves node time forward.
    pub fn advance(&mut self, by: Duration) -> &mut Self {
        self.ctx.now = self.ctx.now + by;
        self
    }

    /// Validates and compiles a module; its fingerprint is its SHA-256.
    pub fn load(&mut self, wasm: &[u8]) -> Result<Protocol, LoadError> {
        let code = self.sandbox.compile(Fingerprint::sha256(wasm), wasm)?;
        Ok(Protocol { code })
    }

    /// Evaluates `capsule` with `protocol` and returns what it did.
    pub fn evaluate(&mut self, protocol: &Protocol, capsule: &TestCapsule) -> Outcome {
        let repr = CapsuleRepr {
            fingerprint: protocol.fingerprint(),
            source: capsule.source,
            destination: capsule.destination,
            previous: capsule.previous,
            budget: capsule.budget,
            payload: &capsule.payload,
        };
        let result = self.sandbox.evaluate(&protocol.code, &repr, &mut self.ctx);
        let fx = &self.ctx.effects;
        let sends = fx
            .sends()
            .iter()
            .map(|s| {
                let (next_hop, explicit_neighbour) = match s.route {
                    SendRoute::Via(n) => (NextHop::Neighbour(n), true),
                    SendRoute::Toward => (
                        self.ctx
                            .routing
                            .lookup(s.destination, self.ctx.address)
                            .unwrap_or(NextHop::Local),
                        false,
                    ),
                };
                Sent {
                    source: s.source,
                    destination: s.destination,
                    next_hop,
                    explicit_neighbour,
                    budget: s.budget,
                    payload: fx.bytes(&s.payload).to_vec(),
                }
            })
            .collect();
        Outcome {
            result,
            sends,
            deliveries: fx
                .deliveries()
                .iter()
                .map(|d| (d.port, fx.bytes(&d.payload).to_vec()))
                .collect(),
            logs: fx
                .logs()
                .iter()
                .map(|l| (l.level, fx.text(&l.message).into_owned()))
                .collect(),
        }
    }

    /// The value `protocol` stored under `key`, if any (as the capsule would see it now).
    pub fn state(&mut self, protocol: &Protocol, key: &[u8]) -> Option<Vec<u8>> {
        let now = self.ctx.now;
        self.ctx
            .state
            .get(&protocol.fingerprint(), key, now)
            .map(<[u8]>::to_vec)
    }

    /// Stores a value for `protocol` as if a capsule had (to script prior state).
    pub fn put_state(&mut self, protocol: &Protocol, key: &[u8], value: &[u8], ttl: Duration) {
        let now = self.ctx.now;
        self.ctx
            .state
            .put(&protocol.fingerprint(), key, value, now, ttl)
            .unwrap_or_else(|e| panic!("scripted state put failed: {e}"));
    }

    /// The node's state store (usage, stats).
    pub fn state_store(&self) -> &StateStore {
        &self.ctx.state
    }

    /// The sandbox's counters.
    pub fn sandbox_stats(&self) -> SandboxStats {
        self.sandbox.stats()
    }

    /// The sandbox itself (limits, live instances).
    pub fn sandbox(&self) -> &Sandbox {
        &self.sandbox
    }

    /// The sandbox, to drive what the node core would (idle reclamation).
    pub fn sandbox_mut(&mut self) -> &mut Sandbox {
        &mut self.sandbox
    }

    /// The node time evaluations see.
    pub fn now(&self) -> Timestamp {
        self.ctx.now
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_custom_section_is_as_long_as_asked_and_keeps_the_module_valid() {
        let section = custom_section("pad", 300, 0x5a);
        // Id 0, contents length 300 as LEB128 (ac 02), then the name as a length and bytes.
        assert_eq!(section[..7], [0, 0xac, 0x02, 3, b'p', b'a', b'd']);
        assert_eq!(section.len(), 3 + 300);
        assert!(section[7..].iter().all(|&b| b == 0x5a));
        let mut module = wat::parse_str(MINIMAL_FORWARD_WAT).unwrap();
        module.extend(section);
        let compiler = Sandbox::new(SandboxLimits::default()).unwrap().compiler();
        let fp = Fingerprint::sha256(&module);
        assert!(compiler.compile(fp, &module).is_ok());
    }
}
