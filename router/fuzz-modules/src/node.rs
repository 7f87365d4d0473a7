//! Drives one node core with sequences of frames from several peers, as a router on a network
//! meets them: capsules that start code loads, genuine and forged code fragments, code-missing
//! and cookie answers from the node asked and from others, code requests with and without
//! cookies, arbitrary bytes, timers and compilations finishing, in any order.
//!
//! Owns [`run`], the body of the `node` fuzz target. Each input byte pair is one step: the
//! first picks the step and the sender, the second its argument. What a run asserts, after
//! every step:
//! - nothing panics;
//! - every datagram is counted exactly once on arrival: exactly one arrival counter or
//!   arrival drop reason of its kind moves by one (side effects such as released capsules are
//!   counted under their own names and are not arrivals);
//! - memory stays bounded: held capsule bytes, loads in progress, code cache bytes and live
//!   instances within the configured limits;
//! - nothing leaves toward an address that did not prove it receives there, except frames no
//!   larger than three times what that address sent (the anti-amplification rule), and code
//!   fragments go only to a requester that echoed a cookie.

use std::collections::BTreeMap;
use std::net::{IpAddr, Ipv4Addr};
use std::sync::OnceLock;
use std::time::Duration;

use ants_router::fingerprint::Fingerprint;
use ants_router::harness::{MINIMAL_FORWARD_WAT, custom_section};
use ants_router::node::{Event, Node, NodeConfig, NodeStats};
use ants_router::routing::{NextHop, Route};
use ants_router::sandbox::{CompiledCapsule, Compiler, Sandbox};
use ants_router::time::Timestamp;
use ants_router::wire::{
    CapsuleRepr, CodeAnnounceRepr, CodeCookieRepr, CodeFragmentRepr, CodeMissingRepr,
    CodeRequestRepr, Cookie, Frame, FrameKind,
};

/// Senders: the driver names a configured neighbour or peer, or cannot name the sender.
const SENDERS: [Option<[u8; 4]>; 5] = [
    Some([10, 0, 0, 2]),
    Some([10, 0, 0, 3]),
    Some([10, 0, 0, 4]),
    Some([192, 0, 2, 66]),
    None,
];
const ME: [u8; 4] = [10, 0, 0, 1];

/// The node's limits: small, so that an input of a few hundred steps reaches each of them.
fn config() -> NodeConfig {
    let mut config = NodeConfig::new(ip(ME));
    config.neighbours = vec![ip([10, 0, 0, 2]), ip([10, 0, 0, 3])];
    config.peers = vec![ip([10, 0, 0, 4])];
    config.routes = vec![Route {
        prefix: IpAddr::V4(Ipv4Addr::UNSPECIFIED),
        len: 0,
        next_hop: NextHop::Neighbour(ip([10, 0, 0, 3])),
    }];
    config.cookie_secret = Some([9; 32]);
    config.max_budget = 8;
    let d = &mut config.demand;
    d.max_held_per_protocol = 4;
    d.max_held_bytes = 4096;
    d.max_concurrent_loads = 3;
    d.max_concurrent_compiles = 1;
    d.fragment_burst = 16;
    d.fragments_per_requester_per_second = 32;
    d.load_burst = 4;
    d.max_tracked_peers = 4;
    d.max_loopback = 8;
    config.code_cache.max_entries = 4;
    config.code_cache.max_bytes = 64 * 1024;
    config
}

fn ip(octets: [u8; 4]) -> IpAddr {
    IpAddr::V4(Ipv4Addr::from(octets))
}

/// Two modules the node may load (the minimal forward capsule, and a three-fragment variant
/// padded with a custom section), compiled once with the engine every run shares.
struct Modules {
    compiler: Compiler,
    bytes: [Vec<u8>; 2],
    fps: [Fingerprint; 2],
    compiled: [CompiledCapsule; 2],
}

fn modules() -> &'static Modules {
    static MODULES: OnceLock<Modules> = OnceLock::new();
    MODULES.get_or_init(|| {
        let small = wat::parse_str(MINIMAL_FORWARD_WAT).expect("the minimal forward capsule");
        let mut large = small.clone();
        // A custom section of 2,500 bytes: same code, another type, three fragments.
        large.extend(custom_section("pad", 2500, 0xa5));
        let compiler = Sandbox::new(config().sandbox)
            .expect("the sandbox engine")
            .compiler();
        let fps = [Fingerprint::sha256(&small), Fingerprint::sha256(&large)];
        let compile = |fp, bytes: &[u8]| compiler.compile(fp, bytes).expect("the module compiles");
        let compiled = [compile(fps[0], &small), compile(fps[1], &large)];
        Modules {
            compiler: compiler.clone(),
            bytes: [small, large],
            fps,
            compiled,
        }
    })
}

/// Arrival counters of a datagram of `kind`: exactly one of them moves per arrival.
fn arrivals(kind: Option<FrameKind>, s: &NodeStats) -> u64 {
    let drop = |name: &str| s.drops.by_name(name);
    match kind {
        None => s
            .drops
            .nonzero()
            .filter(|(name, _)| ants_router::wire::WireError::NAMES.contains(name))
            .map(|(_, c)| c)
            .sum(),
        Some(FrameKind::Capsule) => {
            s.capsules_received - s.capsules_looped_back - s.capsules_released
        }
        Some(FrameKind::CodeRequest) => {
            s.requests_served + s.requests_missing + s.cookies_sent + s.requests_refused
        }
        Some(FrameKind::CodeFragment) => {
            s.fragments_received
                + drop("unsolicited_code")
                + drop("duplicate_fragment")
                + drop("fragment_mismatch")
                + drop("module_too_large")
        }
        Some(FrameKind::CodeMissing) => s.code_missing_received + drop("unsolicited_code"),
        Some(FrameKind::CodeCookie) => s.cookies_received + drop("unsolicited_code"),
        Some(FrameKind::CodeAnnounce) => {
            s.announces_received + s.announces_ignored + drop("unsolicited_code")
        }
        Some(FrameKind::Hello) => s.hellos_received + drop("not_a_neighbour"),
    }
}

/// What one run did, so the smoke test can check the steps reach every part of the machine.
#[derive(Clone, Copy, Debug, Default)]
pub struct NodeReport {
    /// Datagrams handed to the node.
    pub datagrams: u64,
    /// Loads that completed with compiled code.
    pub loads_completed: u64,
    /// Cookies the node accepted from a source it asked.
    pub cookies_received: u64,
    /// Code fragments it served.
    pub fragments_sent: u64,
    /// Capsules it evaluated.
    pub evaluations: u64,
}

/// One run over `data`. Panics when an invariant of the module docs breaks.
pub fn run(data: &[u8]) -> NodeReport {
    let m = modules();
    let mut node = Node::with_compiler(config(), m.compiler.clone()).expect("the node builds");
    let limits = config();
    let mut now = Timestamp::from_millis(1);
    // Register the small module: the node serves it to requesters.
    node.register_protocol(now, m.bytes[0].clone())
        .expect("registers");
    let mut pending_compiles = Vec::new();
    while let Some(event) = node.poll_event() {
        if let Event::Compile {
            fingerprint, bytes, ..
        } = event
        {
            pending_compiles.push((fingerprint, bytes));
        }
    }
    // Bytes each address sent, and the cookie this node last handed it.
    let mut received_from: BTreeMap<IpAddr, usize> = BTreeMap::new();
    let mut sent_unproved: BTreeMap<IpAddr, usize> = BTreeMap::new();
    let mut cookies: BTreeMap<IpAddr, Cookie> = BTreeMap::new();
    let mut datagrams = 0u64;

    for step in data.chunks(2) {
        let (op, arg) = (step[0], step.get(1).copied().unwrap_or(0));
        let from = SENDERS[usize::from(op >> 4) % SENDERS.len()].map(ip);
        let which = usize::from(arg & 1);
        let fp = m.fps[which];
        let frame: Option<Vec<u8>> = match op & 0x0f {
            0 => {
                now = now + Duration::from_millis(u64::from(arg) * 8);
                node.handle_timeout(now);
                None
            }
            1 => {
                // A capsule of a type the node may lack, naming a sender as previous node.
                let previous = from.unwrap_or(ip([10, 0, 0, 2]));
                Some(
                    CapsuleRepr {
                        fingerprint: fp,
                        source: ip([10, 0, 0, 4]),
                        destination: ip([10, 0, 0, 9]),
                        previous,
                        budget: u16::from(arg >> 1),
                        payload: &[arg; 16],
                    }
                    .to_vec()
                    .expect("a capsule encodes"),
                )
            }
            2 => {
                // A genuine fragment.
                let count = m.bytes[which].len().div_ceil(1024) as u16;
                let index = u16::from(arg >> 1) % count;
                Some(fragment(fp, &m.bytes[which], index))
            }
            3 => {
                // A forged fragment: right type, wrong length or bytes.
                let mut forged = m.bytes[which].clone();
                forged.truncate(forged.len().saturating_sub(usize::from(arg)));
                forged.push(arg);
                Some(fragment(fp, &forged, 0))
            }
            4 => Some(CodeMissingRepr { fingerprint: fp }.to_vec()),
            5 => Some(
                CodeCookieRepr {
                    fingerprint: fp,
                    cookie: Cookie([arg; 16]),
                }
                .to_vec(),
            ),
            6 => {
                // A request, echoing the cookie handed to this sender when `arg` says so.
                let cookie = from
                    .and_then(|f| cookies.get(&f).copied())
                    .filter(|_| arg & 2 != 0);
                let mask = [arg];
                let request = CodeRequestRepr {
                    fingerprint: fp,
                    first: u16::from(arg >> 5),
                    mask: if arg & 4 != 0 { &mask } else { &[] },
                    cookie,
                };
                Some(request.to_vec().expect("a request encodes"))
            }
            7 => {
                // Compilations finish, in order.
                for (fingerprint, _) in pending_compiles.drain(..) {
                    let compiled = m
                        .fps
                        .iter()
                        .position(|f| *f == fingerprint)
                        .map(|i| m.compiled[i].clone())
                        .ok_or_else(|| ants_router::sandbox::LoadError::Rejected("unknown".into()));
                    node.compile_done(now, fingerprint, compiled);
                }
                None
            }
            8 => Some(vec![arg; usize::from(arg % 64)]),
            10 => Some(CodeAnnounceRepr { fingerprint: fp }.to_vec()),
            _ => {
                // A valid prefix of some kind with garbage after it.
                let kind = 1 + arg % 6;
                let mut bytes = vec![0x41, 0x4e, 1, kind, arg & 1, 1];
                bytes.resize(6 + usize::from(arg), arg);
                Some(bytes)
            }
        };
        if let Some(bytes) = frame {
            let kind = Frame::parse(&bytes).ok().map(|f| f.kind());
            let before = arrivals(kind, &node.stats());
            if let Some(f) = from {
                *received_from.entry(f).or_default() += bytes.len();
            }
            node.handle_datagram(now, from, &bytes);
            datagrams += 1;
            let after = arrivals(kind, &node.stats());
            assert_eq!(
                after - before,
                1,
                "a datagram of kind {kind:?} from {from:?} was not counted exactly once"
            );
        }
        while let Some(event) = node.poll_event() {
            if let Event::Compile {
                fingerprint, bytes, ..
            } = event
            {
                pending_compiles.push((fingerprint, bytes));
            }
        }
        while let Some(t) = node.poll_transmit() {
            match Frame::parse(&t.bytes) {
                Ok(Frame::CodeCookie(c)) => {
                    cookies.insert(t.to, c.cookie);
                    *sent_unproved.entry(t.to).or_default() += t.bytes.len();
                }
                Ok(Frame::CodeMissing(_)) => {
                    *sent_unproved.entry(t.to).or_default() += t.bytes.len();
                }
                Ok(Frame::CodeFragment(_)) => assert!(
                    cookies.contains_key(&t.to),
                    "code toward {} before it had a cookie",
                    t.to
                ),
                Ok(_) => {}
                Err(e) => panic!("the node emitted a frame that does not parse: {e}"),
            }
        }
        for (to, sent) in &sent_unproved {
            let got = received_from.get(to).copied().unwrap_or(0);
            assert!(
                *sent <= 3 * got,
                "{sent} bytes of answers to {to}, which sent {got}"
            );
        }
        let status = node.status();
        let d = &limits.demand;
        assert!(status.held_bytes <= d.max_held_bytes, "held bytes");
        assert!(status.loads.len() <= d.max_concurrent_loads, "loads");
        assert!(
            status.code_cache_bytes <= limits.code_cache.max_bytes,
            "code cache"
        );
        assert!(
            status.protocols.len() <= limits.code_cache.max_entries,
            "entries"
        );
        assert!(
            pending_compiles.len() <= d.max_concurrent_compiles,
            "compiles"
        );
    }
    let stats = node.stats();
    assert_eq!(stats.datagrams_received, datagrams);
    NodeReport {
        datagrams,
        loads_completed: stats.loads_completed,
        cookies_received: stats.cookies_received,
        fragments_sent: stats.fragments_sent,
        evaluations: stats.evaluations,
    }
}

fn fragment(fp: Fingerprint, module: &[u8], index: u16) -> Vec<u8> {
    CodeFragmentRepr::fragment(fp, module, index)
        .and_then(|f| f.to_vec())
        .expect("a fragment of a module under the size limit")
}
