//! A deterministic, virtual-time network of [`Node`]s, for the node library's own tests.
//!
//! The emulator (crate `ants-emulator`) is the network-level model (topologies, legacy IP
//! routers, link queues, applications); this one is node-level: any node can reach any other
//! over a direct or default link, and a test may tamper with any datagram.
//!
//! Owns [`Sim`]: a set of nodes keyed by node address, directed links with a delay, a loss
//! probability and an optional bandwidth, a seeded random generator for losses, and a hook that
//! may drop, delay or rewrite chosen datagrams (to test fragment loss, reordering or a node that
//! serves spoofed code). Compilation happens in the simulation too, synchronously with each
//! node's own [`Node::compiler`], optionally after a virtual compile delay so tests can see
//! compilations overlap. Everything is driven by virtual time: two runs with the same seed and
//! inputs produce the same trace.
//!
//! It never reads a clock or opens a socket, and it never reimplements node logic: it only
//! carries [`Transmit`]s between [`Node`]s and answers their [`Event::Compile`]s.

use std::cmp::Reverse;
use std::collections::{BTreeMap, BinaryHeap, HashMap};
use std::net::IpAddr;
use std::sync::Arc;
use std::time::Duration;

use super::{Event, Node, NodeError, Transmit};
use crate::fingerprint::Fingerprint;
use crate::sandbox::{CompileTier, LogLevel};
use crate::time::Timestamp;

/// Properties of one direction of a link.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Link {
    /// Propagation delay.
    pub delay: Duration,
    /// Probability that a datagram is lost, in parts per million.
    pub loss_ppm: u32,
    /// Bits per second; `None` for infinite (no serialisation delay, no queueing).
    pub bandwidth_bps: Option<u64>,
}

impl Link {
    /// A lossless link of infinite bandwidth with this delay.
    pub const fn delay(delay: Duration) -> Self {
        Link {
            delay,
            loss_ppm: 0,
            bandwidth_bps: None,
        }
    }
}

impl Default for Link {
    /// 1 ms, lossless, infinite bandwidth.
    fn default() -> Self {
        Link::delay(Duration::from_millis(1))
    }
}

/// A datagram on its way, as the tamper hook sees it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Datagram {
    /// Sending node.
    pub from: IpAddr,
    /// Receiving node.
    pub to: IpAddr,
    /// The frame (the hook may rewrite it).
    pub bytes: Vec<u8>,
    /// When it was sent.
    pub sent_at: Timestamp,
}

/// What the tamper hook decides for a datagram.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Verdict {
    /// Carry it as the link would.
    Deliver,
    /// Lose it.
    Drop,
    /// Carry it this much later than the link would (reordering).
    Delay(Duration),
}

/// A payload a node delivered to a local application port.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SimDelivery {
    /// When.
    pub at: Timestamp,
    /// The delivering node.
    pub node: IpAddr,
    /// Application port.
    pub port: u16,
    /// The capsule's source.
    pub source: IpAddr,
    /// The capsule's type.
    pub fingerprint: Fingerprint,
    /// The payload.
    pub payload: Vec<u8>,
}

/// A code load a node reported ([`Event::CodeLoaded`]).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SimCodeLoaded {
    /// When.
    pub at: Timestamp,
    /// The loading node.
    pub node: IpAddr,
    /// The protocol.
    pub fingerprint: Fingerprint,
    /// Where the code came from (`None` when registered locally).
    pub from: Option<IpAddr>,
}

/// One datagram the network carried, dropped or could not deliver.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TraceRecord {
    /// When it was sent.
    pub at: Timestamp,
    /// Sending node.
    pub from: IpAddr,
    /// Receiving node.
    pub to: IpAddr,
    /// The frame as sent (before any tampering).
    pub bytes: Vec<u8>,
    /// Lost (by the hook, the link's loss rate, or for want of a receiving node).
    pub lost: bool,
}

struct SimNode {
    node: Node,
    /// Whether the simulation answers this node's compile requests.
    compiles: bool,
    /// Compilations asked for and not answered yet.
    outstanding: usize,
    /// The most that were outstanding at once.
    max_outstanding: usize,
}

/// What happens next, ordered by time and then by the order it was scheduled.
#[derive(Debug, PartialEq, Eq, PartialOrd, Ord)]
enum Scheduled {
    Arrival {
        from: IpAddr,
        to: IpAddr,
        bytes: Vec<u8>,
    },
    Compiled {
        node: IpAddr,
        fingerprint: Fingerprint,
        bytes: Arc<[u8]>,
        tier: CompileTier,
    },
}

/// The hook's type.
type Tamper = Box<dyn FnMut(&mut Datagram) -> Verdict>;

/// A seeded, virtual-time network of nodes. See the module docs.
pub struct Sim {
    now: Timestamp,
    nodes: BTreeMap<IpAddr, SimNode>,
    links: HashMap<(IpAddr, IpAddr), Link>,
    /// Toward a node without a direct link (a capsule's source across the network).
    default_link: Link,
    /// When each directed link finishes sending what it has queued (bandwidth model).
    busy_until: HashMap<(IpAddr, IpAddr), Timestamp>,
    queue: BinaryHeap<Reverse<(Timestamp, u64, Scheduled)>>,
    seq: u64,
    rng: u64,
    compile_delay: Duration,
    tamper: Option<Tamper>,
    trace: Vec<TraceRecord>,
    deliveries: Vec<SimDelivery>,
    loaded: Vec<SimCodeLoaded>,
    logs: Vec<(IpAddr, Fingerprint, LogLevel, String)>,
    /// Steps `run_until` may take before it stops (a guard against a livelock in a test).
    max_steps: u64,
}

impl Sim {
    /// An empty network; `seed` drives the link losses.
    pub fn new(seed: u64) -> Self {
        Sim {
            now: Timestamp::ZERO,
            nodes: BTreeMap::new(),
            links: HashMap::new(),
            default_link: Link::delay(Duration::from_millis(5)),
            busy_until: HashMap::new(),
            queue: BinaryHeap::new(),
            seq: 0,
            rng: seed,
            compile_delay: Duration::ZERO,
            tamper: None,
            trace: Vec::new(),
            deliveries: Vec::new(),
            loaded: Vec::new(),
            logs: Vec::new(),
            max_steps: 10_000_000,
        }
    }

    /// Current virtual time.
    pub fn now(&self) -> Timestamp {
        self.now
    }

    /// Adds a node (replacing any node with the same address, as [`Sim::replace_node`]).
    pub fn add_node(&mut self, node: Node) {
        self.replace_node(node);
    }

    /// Puts `node` in place of the node with its address (a restart: the new node starts with
    /// empty caches) and returns the old one. Datagrams already on their way reach the new one.
    pub fn replace_node(&mut self, node: Node) -> Option<Node> {
        let sim = SimNode {
            node,
            compiles: true,
            outstanding: 0,
            max_outstanding: 0,
        };
        let addr = sim.node.address();
        self.nodes.insert(addr, sim).map(|old| old.node)
    }

    /// The node at `addr`.
    pub fn node(&self, addr: IpAddr) -> Option<&Node> {
        self.nodes.get(&addr).map(|n| &n.node)
    }

    /// The node at `addr`, mutably. Call [`Sim::flush`] after driving it directly.
    pub fn node_mut(&mut self, addr: IpAddr) -> Option<&mut Node> {
        self.nodes.get_mut(&addr).map(|n| &mut n.node)
    }

    /// Sets both directions of the link between `a` and `b`.
    pub fn link(&mut self, a: IpAddr, b: IpAddr, link: Link) {
        self.links.insert((a, b), link);
        self.links.insert((b, a), link);
    }

    /// The link used between nodes without a direct one (default: 5 ms, lossless).
    pub fn set_default_link(&mut self, link: Link) {
        self.default_link = link;
    }

    /// Virtual time each compilation takes (default zero: compiled at once).
    pub fn set_compile_delay(&mut self, delay: Duration) {
        self.compile_delay = delay;
    }

    /// Whether the simulation compiles what `addr` asks for (default true). A node that never
    /// gets an answer keeps its compilations outstanding, as with a stuck compile worker.
    pub fn set_compiling(&mut self, addr: IpAddr, compiles: bool) {
        if let Some(n) = self.nodes.get_mut(&addr) {
            n.compiles = compiles;
        }
    }

    /// Installs a hook that sees every datagram when it is sent and may rewrite, drop or
    /// delay it.
    pub fn set_tamper(&mut self, hook: impl FnMut(&mut Datagram) -> Verdict + 'static) {
        self.tamper = Some(Box::new(hook));
    }

    /// Removes the tamper hook.
    pub fn clear_tamper(&mut self) {
        self.tamper = None;
    }

    /// Limits how many steps one `run_*` call may take (default ten million).
    pub fn set_max_steps(&mut self, steps: u64) {
        self.max_steps = steps;
    }

    /// Puts a datagram on the wire from `from` to `to` now, as if `from` had sent it (`from`
    /// need not be a node: this is how a test plays a hostile or legacy sender).
    pub fn inject(&mut self, from: IpAddr, to: IpAddr, bytes: Vec<u8>) {
        self.send(from, Transmit { to, bytes });
    }

    /// Registers a protocol at node `addr` (see [`Node::register_protocol`]).
    ///
    /// # Panics
    /// If there is no node at `addr`.
    pub fn register(&mut self, addr: IpAddr, module: Vec<u8>) -> Result<Fingerprint, NodeError> {
        let now = self.now;
        let result = self.expect_node(addr).register_protocol(now, module);
        self.flush();
        result
    }

    /// A local application at `addr` sends a capsule (see [`Node::send_capsule`]).
    ///
    /// # Panics
    /// If there is no node at `addr`.
    pub fn send_capsule(
        &mut self,
        addr: IpAddr,
        fingerprint: Fingerprint,
        destination: IpAddr,
        budget: u16,
        payload: &[u8],
    ) -> Result<(), NodeError> {
        let now = self.now;
        let result =
            self.expect_node(addr)
                .send_capsule(now, fingerprint, destination, budget, payload);
        self.flush();
        result
    }

    fn expect_node(&mut self, addr: IpAddr) -> &mut Node {
        match self.nodes.get_mut(&addr) {
            Some(n) => &mut n.node,
            None => panic!("the simulation has no node at {addr}"),
        }
    }

    /// Every delivery so far, in order.
    pub fn deliveries(&self) -> &[SimDelivery] {
        &self.deliveries
    }

    /// Deliveries at node `addr`.
    pub fn deliveries_at(&self, addr: IpAddr) -> impl Iterator<Item = &SimDelivery> {
        self.deliveries.iter().filter(move |d| d.node == addr)
    }

    /// Every code load reported so far, in order.
    pub fn code_loaded(&self) -> &[SimCodeLoaded] {
        &self.loaded
    }

    /// Every datagram sent so far, in order.
    pub fn trace(&self) -> &[TraceRecord] {
        &self.trace
    }

    /// Capsule log lines so far: node, protocol, level, text.
    pub fn logs(&self) -> &[(IpAddr, Fingerprint, LogLevel, String)] {
        &self.logs
    }

    /// The most compilations node `addr` had outstanding at once.
    pub fn max_outstanding_compiles(&self, addr: IpAddr) -> usize {
        self.nodes.get(&addr).map_or(0, |n| n.max_outstanding)
    }

    /// Compilations node `addr` has outstanding now.
    pub fn outstanding_compiles(&self, addr: IpAddr) -> usize {
        self.nodes.get(&addr).map_or(0, |n| n.outstanding)
    }

    /// Runs for `d` of virtual time (see [`Sim::run_until`]).
    pub fn run_for(&mut self, d: Duration) -> bool {
        self.run_until(self.now + d)
    }

    /// Processes everything scheduled up to `until` (arrivals, compilations, node timers) in
    /// time order, then sets the clock to `until`. Returns false if it stopped at the step
    /// limit first.
    pub fn run_until(&mut self, until: Timestamp) -> bool {
        self.flush();
        for _ in 0..self.max_steps {
            let next_queued = self.queue.peek().map(|Reverse((t, _, _))| *t);
            let next_timer = self
                .nodes
                .iter()
                .filter_map(|(a, n)| n.node.poll_timeout().map(|t| (t.max(self.now), *a)))
                .min();
            let queued_first = match (next_queued, next_timer) {
                (Some(q), Some((t, _))) => q <= t,
                (Some(_), None) => true,
                (None, Some(_)) => false,
                (None, None) => break,
            };
            if queued_first {
                let Some(Reverse((at, _, item))) = self.queue.pop() else {
                    break;
                };
                if at > until {
                    self.queue.push(Reverse((at, self.seq, item)));
                    self.seq += 1;
                    break;
                }
                self.now = self.now.max(at);
                self.process(item);
            } else if let Some((at, addr)) = next_timer {
                if at > until {
                    break;
                }
                self.now = self.now.max(at);
                let now = self.now;
                if let Some(n) = self.nodes.get_mut(&addr) {
                    n.node.handle_timeout(now);
                }
                self.flush();
            }
        }
        let done = self
            .queue
            .peek()
            .is_none_or(|Reverse((t, _, _))| *t > until)
            && self
                .nodes
                .values()
                .all(|n| n.node.poll_timeout().is_none_or(|t| t > until));
        self.now = self.now.max(until);
        done
    }

    fn process(&mut self, item: Scheduled) {
        let now = self.now;
        match item {
            Scheduled::Arrival { from, to, bytes } => {
                if let Some(n) = self.nodes.get_mut(&to) {
                    n.node.handle_datagram(now, Some(from), &bytes);
                }
            }
            Scheduled::Compiled {
                node,
                fingerprint,
                bytes,
                tier,
            } => self.compile(node, fingerprint, &bytes, tier),
        }
        self.flush();
    }

    fn compile(&mut self, addr: IpAddr, fingerprint: Fingerprint, bytes: &[u8], tier: CompileTier) {
        let now = self.now;
        if let Some(n) = self.nodes.get_mut(&addr) {
            let result = n.node.compiler().compile_tier(fingerprint, bytes, tier);
            n.outstanding = n.outstanding.saturating_sub(1);
            n.node.compile_done(now, fingerprint, result);
        }
    }

    /// Moves every node's pending transmits onto the links and handles its events, until no
    /// node has anything left (compiling at once may release held capsules, which transmit).
    pub fn flush(&mut self) {
        loop {
            let mut progress = false;
            let addrs: Vec<IpAddr> = self.nodes.keys().copied().collect();
            for addr in addrs {
                while let Some(t) = self
                    .nodes
                    .get_mut(&addr)
                    .and_then(|n| n.node.poll_transmit())
                {
                    progress = true;
                    self.send(addr, t);
                }
                while let Some(e) = self.nodes.get_mut(&addr).and_then(|n| n.node.poll_event()) {
                    progress = true;
                    self.event(addr, e);
                }
            }
            if !progress {
                break;
            }
        }
    }

    fn event(&mut self, addr: IpAddr, event: Event) {
        let now = self.now;
        match event {
            Event::Compile {
                fingerprint,
                bytes,
                tier,
            } => {
                let Some(n) = self.nodes.get_mut(&addr) else {
                    return;
                };
                n.outstanding += 1;
                n.max_outstanding = n.max_outstanding.max(n.outstanding);
                if !n.compiles {
                    return;
                }
                if self.compile_delay.is_zero() {
                    self.compile(addr, fingerprint, &bytes, tier);
                } else {
                    self.schedule(
                        now + self.compile_delay,
                        Scheduled::Compiled {
                            node: addr,
                            fingerprint,
                            bytes,
                            tier,
                        },
                    );
                }
            }
            Event::Deliver {
                port,
                source,
                fingerprint,
                payload,
            } => self.deliveries.push(SimDelivery {
                at: now,
                node: addr,
                port,
                source,
                fingerprint,
                payload,
            }),
            Event::CodeLoaded {
                fingerprint, from, ..
            } => self.loaded.push(SimCodeLoaded {
                at: now,
                node: addr,
                fingerprint,
                from,
            }),
            Event::Log {
                fingerprint,
                level,
                message,
            } => self.logs.push((addr, fingerprint, level, message)),
        }
    }

    fn schedule(&mut self, at: Timestamp, item: Scheduled) {
        self.queue.push(Reverse((at, self.seq, item)));
        self.seq += 1;
    }

    /// splitmix64: a tiny, well-mixed generator, enough to decide losses reproducibly.
    fn next_random(&mut self) -> u64 {
        self.rng = self.rng.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.rng;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    fn send(&mut self, from: IpAddr, t: Transmit) {
        let now = self.now;
        let mut datagram = Datagram {
            from,
            to: t.to,
            bytes: t.bytes,
            sent_at: now,
        };
        let original = datagram.bytes.clone();
        let verdict = match self.tamper.as_mut() {
            Some(hook) => hook(&mut datagram),
            None => Verdict::Deliver,
        };
        let link = self
            .links
            .get(&(from, datagram.to))
            .copied()
            .unwrap_or(self.default_link);
        // Nobody at that address: the datagram is lost in the network.
        let lost = verdict == Verdict::Drop
            || !self.nodes.contains_key(&datagram.to)
            || (link.loss_ppm > 0 && self.next_random() % 1_000_000 < u64::from(link.loss_ppm));
        self.trace.push(TraceRecord {
            at: now,
            from,
            to: datagram.to,
            bytes: original,
            lost,
        });
        if lost {
            return;
        }
        let mut depart = now;
        if let Some(bps) = link.bandwidth_bps.filter(|b| *b > 0) {
            let bits = (datagram.bytes.len() as u128) * 8;
            let nanos = u64::try_from(bits * 1_000_000_000 / u128::from(bps)).unwrap_or(u64::MAX);
            let busy = self.busy_until.entry((from, datagram.to)).or_default();
            let start = (*busy).max(now);
            *busy = start + Duration::from_nanos(nanos);
            depart = *busy;
        }
        let extra = match verdict {
            Verdict::Delay(d) => d,
            _ => Duration::ZERO,
        };
        let at = depart + link.delay + extra;
        self.schedule(
            at,
            Scheduled::Arrival {
                from,
                to: datagram.to,
                bytes: datagram.bytes,
            },
        );
    }
}
