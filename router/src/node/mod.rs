//! The active node's sans-IO core: capsule processing and demand loading.
//!
//! Owns everything an active node decides: parsing arriving datagrams, charging budgets,
//! evaluating capsules in the sandbox with cached code, turning their effects into datagrams
//! and local deliveries, demand-loading missing code from the previous node (then from the
//! capsule's source), serving code to neighbours, and counting every drop under a named reason.
//! See `docs/node.md`.
//!
//! It must never open a socket, spawn a thread or task, read a clock or compile a module: time
//! comes in as `now`, datagrams and timer events come in through [`Node::handle_datagram`] and
//! [`Node::handle_timeout`], and what to transmit, deliver or compile goes out through
//! [`Node::poll_transmit`] and [`Node::poll_event`]. Drivers (the daemon, the emulator, tests)
//! own the I/O, the clock and the compile workers, as in quinn-proto.

mod cookie;
mod demand;
mod fair_share;
mod hello;
mod limiter;
mod limits;
mod liveness;
mod process;
mod serve;
mod stats;
mod tier;

pub use cookie::COOKIE_PERIOD;
pub use fair_share::CpuShareLimits;
pub use limits::{DemandLimits, MIN_MAX_BUDGET};
pub use liveness::{
    DEFAULT_HELLO_INTERVAL, LivenessLimits, MAX_HELLO_INTERVAL, MIN_HELLO_INTERVAL,
};
pub(crate) use stats::Origin;
pub use stats::{
    DropCounters, DropReason, LoadStatus, NeighbourStatus, NodeStats, NodeStatus, ProtocolStatus,
    RejectedStatus,
};

use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::net::IpAddr;
use std::num::NonZeroUsize;
use std::sync::Arc;

use lru::LruCache;

use crate::fingerprint::{Fingerprint, FingerprintPolicy};
use crate::limits::LimitError;
use crate::routing::{Route, RouteError};
use crate::sandbox::{
    CompileTier, CompiledCapsule, Compiler, LoadError, LogLevel, NodeContext, Sandbox,
    SandboxLimits,
};
use crate::softstore::{CodeCache, CodeCacheError, CodeCacheLimits, StateLimits, StateStore};
use crate::time::Timestamp;
use crate::wire::CapsuleRepr;

use cookie::{CookieJar, CookieMint};
use demand::Load;
use fair_share::FairShare;
use limiter::RateLimiter;
use liveness::Liveness;

/// Configuration of one active node.
#[derive(Clone, Debug)]
pub struct NodeConfig {
    /// This node's (logical) node address: what routes, capsules and neighbours call it.
    pub address: IpAddr,
    /// Active neighbours (node addresses).
    pub neighbours: Vec<IpAddr>,
    /// Other active nodes this node exchanges code with directly, beyond its neighbours (the
    /// daemon's configured peers): code sources it may ask and requesters it serves.
    pub peers: Vec<IpAddr>,
    /// Routing table entries; every next hop must be one of `neighbours`.
    pub routes: Vec<Route>,
    /// Bounds of the code cache.
    pub code_cache: CodeCacheLimits,
    /// Bounds of the protocol state store.
    pub state: StateLimits,
    /// Limits of every module and evaluation.
    pub sandbox: SandboxLimits,
    /// Which fingerprint algorithms this node accepts.
    pub fingerprints: FingerprintPolicy,
    /// Bounds of demand loading and code serving.
    pub demand: DemandLimits,
    /// The node's evaluation capacity and the fair share between protocols.
    pub cpu: CpuShareLimits,
    /// Hellos, neighbour liveness and overlay routing (off by default).
    pub liveness: LivenessLimits,
    /// Largest budget a capsule may arrive with; a larger one is clamped to it (counted in
    /// `budgets_clamped`). Budgets are conserved (a capsule's copies split what is left), so
    /// one capsule entering the network causes at most this many evaluations anywhere.
    pub max_budget: u16,
    /// Key of the code-request cookies this node hands out (see `docs/node.md`, Serving
    /// code). `None` draws a random one when the node is built; the emulator derives one from
    /// its seed so that runs repeat.
    pub cookie_secret: Option<[u8; 32]>,
}

/// Default of [`NodeConfig::max_budget`]: a few dozen, in the spirit of IP's TTL of 64.
pub const DEFAULT_MAX_BUDGET: u16 = 64;

impl NodeConfig {
    /// A node at `address` with no neighbours or routes and default limits (SHA-256 only).
    pub fn new(address: IpAddr) -> Self {
        NodeConfig {
            address,
            neighbours: Vec::new(),
            peers: Vec::new(),
            routes: Vec::new(),
            code_cache: CodeCacheLimits::default(),
            state: StateLimits::default(),
            sandbox: SandboxLimits::default(),
            fingerprints: FingerprintPolicy::default(),
            demand: DemandLimits::default(),
            cpu: CpuShareLimits::default(),
            liveness: LivenessLimits::default(),
            max_budget: DEFAULT_MAX_BUDGET,
            cookie_secret: None,
        }
    }
}

/// A datagram to send.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Transmit {
    /// Node address of the receiver (the next active hop, or a code source or requester).
    pub to: IpAddr,
    /// The frame, exactly one per datagram.
    pub bytes: Vec<u8>,
}

/// Something the driver must act on or may log.
#[derive(Clone, Debug)]
pub enum Event {
    /// Compile this module off the forwarding path, with the compiler of `tier`
    /// ([`Compiler::compile_tier`]), and call [`Node::compile_done`].
    Compile {
        /// The module's type; its bytes hash to it.
        fingerprint: Fingerprint,
        /// The module.
        bytes: Arc<[u8]>,
        /// Baseline for a protocol's first code; optimized for a tier-up of a protocol that
        /// runs baseline code (its capsules keep running meanwhile).
        tier: CompileTier,
    },
    /// A capsule delivered a payload to a local application port.
    Deliver {
        /// Application port.
        port: u16,
        /// The delivering capsule's source address.
        source: IpAddr,
        /// The delivering capsule's type.
        fingerprint: Fingerprint,
        /// The payload.
        payload: Vec<u8>,
    },
    /// A protocol's code became available (loaded on demand, or registered).
    CodeLoaded {
        /// The protocol.
        fingerprint: Fingerprint,
        /// The node it was loaded from; `None` for a locally registered protocol.
        from: Option<IpAddr>,
        /// Module size in bytes.
        bytes: usize,
    },
    /// A capsule's log line (already rate limited and truncated).
    Log {
        /// The logging protocol.
        fingerprint: Fingerprint,
        /// Severity.
        level: LogLevel,
        /// The text.
        message: String,
    },
    /// A neighbour went down (its hellos stopped) or came back up (see `docs/node.md`,
    /// Liveness and overlay routing).
    Neighbour {
        /// The neighbour's node address.
        address: IpAddr,
        /// Whether it is up now.
        up: bool,
    },
}

/// Why a node could not be built or a local request was refused.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum NodeError {
    /// A limit of the configuration is out of its bounds.
    #[error("invalid node configuration: {0}")]
    Limit(#[from] LimitError),
    /// A configured route is invalid.
    #[error("invalid route in the node configuration: {0}")]
    Route(#[from] RouteError),
    /// The sandbox engine could not be built.
    #[error("the sandbox could not be set up: {0}")]
    Sandbox(LoadError),
    /// A registered module breaks the node API rules or limits.
    #[error("module refused: {0}")]
    Module(LoadError),
    /// The code cache has no room for a registered module.
    #[error("cannot register the protocol: {0}")]
    CodeCache(#[from] CodeCacheError),
    /// The fingerprint is not a protocol registered on this node.
    #[error("protocol {0} is not registered on this node; register its module first")]
    UnknownProtocol(Fingerprint),
    /// The payload is larger than a capsule may carry.
    #[error("payload of {len} bytes exceeds the limit of {max} bytes")]
    PayloadTooLarge {
        /// Payload length.
        len: usize,
        /// The node's limit.
        max: usize,
    },
    /// A capsule with budget 0 would be dropped before evaluation.
    #[error("budget must be at least 1: every active hop, this one included, charges 1")]
    ZeroBudget,
}

/// An active node: the sans-IO core. See the module docs and `docs/node.md`.
pub struct Node {
    config: NodeConfig,
    sandbox: Sandbox,
    /// Address, time, routing table and protocol state lent to each evaluation.
    ctx: NodeContext,
    code: CodeCache<CompiledCapsule>,
    /// The fingerprints `code` holds (the cache reports every insert and eviction), with
    /// where each protocol's code came from, for status.
    cached: BTreeMap<Fingerprint, Origin>,
    /// Loads in progress. Ordered, so timers fire in the same order on every run.
    loads: BTreeMap<Fingerprint, Load>,
    /// Bytes of capsules held by all loads.
    held_bytes: usize,
    /// Loads whose verified module waits for a compile slot, in order.
    compile_queue: VecDeque<Fingerprint>,
    /// Compilations handed to the driver and not answered yet (loads and tier-ups).
    compiling: usize,
    /// When each origin (previous node, source) last had a module compiled, in compile
    /// rounds: the fair turn between sources (`demand.rs`, `next_to_compile`).
    compile_turns: LruCache<(IpAddr, IpAddr), u64>,
    /// Compiles started so far (the clock of `compile_turns`).
    compile_round: u64,
    /// Evaluations on baseline code so far, of protocols that may be optimized.
    tier_counts: BTreeMap<Fingerprint, u32>,
    /// Protocols whose optimizing compile is out.
    tiering: BTreeSet<Fingerprint>,
    /// Protocols the optimizing compiler refused (they keep their baseline code).
    tier_refused: BTreeSet<Fingerprint>,
    /// Fingerprints whose module failed to compile: why, and when they may be fetched again.
    rejected: LruCache<Fingerprint, Rejection>,
    /// Evaluation fuel per protocol over a sliding window, for the fair share.
    fair: FairShare,
    /// Code loads each previous node or source may trigger.
    load_limiter: RateLimiter,
    /// Fragments each requester may be served.
    serve_limiter: RateLimiter,
    /// Code requests to each node that is not a configured neighbour or peer.
    request_limiter: RateLimiter,
    /// Cookies this node hands requesters.
    mint: CookieMint,
    /// Cookies code sources handed this node.
    jar: CookieJar,
    /// Neighbour liveness and the overlay routes learned from hellos.
    liveness: Liveness,
    /// Capsules sent by a capsule to this very node, to evaluate as new arrivals.
    loopback: VecDeque<Vec<u8>>,
    /// Earliest time of the next purge of expired protocol state.
    next_purge: Timestamp,
    /// Latest time a caller passed in (node time never goes back).
    now: Timestamp,
    transmits: VecDeque<Transmit>,
    /// Frame buffers handed back through [`Node::recycle`], reused for the next frames so
    /// that steady-state forwarding does not allocate.
    spare: Vec<Vec<u8>>,
    events: VecDeque<Event>,
    stats: NodeStats,
}

/// A module that failed validation or compilation: why, and until when its fingerprint is
/// not fetched again.
#[derive(Clone, Debug)]
struct Rejection {
    until: Timestamp,
    reason: &'static str,
    message: String,
}

/// Longest rejection message kept (module-provided names are in some).
const MAX_REJECTION_MESSAGE: usize = 240;

impl Rejection {
    fn new(until: Timestamp, error: &LoadError) -> Self {
        let mut message = error.to_string();
        if message.len() > MAX_REJECTION_MESSAGE {
            let mut cut = MAX_REJECTION_MESSAGE;
            while !message.is_char_boundary(cut) {
                cut -= 1;
            }
            message.truncate(cut);
            message.push('…');
        }
        Rejection {
            until,
            reason: error.name(),
            message,
        }
    }
}

/// Frame buffers [`Node::recycle`] keeps at most: more than a driver's receive burst, so
/// every frame of one burst finds a buffer.
const MAX_SPARE_BUFFERS: usize = 512;
/// Largest buffer capacity [`Node::recycle`] keeps, so that a few large frames (code
/// fragments) do not pin memory: typical capsules and fragments fit.
const MAX_SPARE_CAPACITY: usize = 2048;

impl Node {
    /// Builds a node: routing table, sandbox, caches. Fails on a limit out of its bounds
    /// ([`NodeConfig::validate`]), a route whose next hop is not a neighbour, or if the sandbox
    /// engine cannot be configured.
    pub fn new(config: NodeConfig) -> Result<Node, NodeError> {
        // Before the sandbox, which would refuse some bad limits with a less direct reason.
        config.validate()?;
        let sandbox = Sandbox::new(config.sandbox.clone()).map_err(NodeError::Sandbox)?;
        Node::with_sandbox(config, sandbox)
    }

    /// Builds a node whose sandbox shares `compiler`'s engine (see
    /// [`Sandbox::with_compiler`]): an emulator of many nodes builds one engine and hands every
    /// node's [`Event::Compile`] the same compiled module. The sandbox limits are `compiler`'s;
    /// `config.sandbox` is ignored. Fails on a limit out of its bounds (the compiler's sandbox
    /// limits included) or a route whose next hop is not a neighbour.
    pub fn with_compiler(config: NodeConfig, compiler: Compiler) -> Result<Node, NodeError> {
        Node::with_sandbox(config, Sandbox::with_compiler(compiler))
    }

    fn with_sandbox(mut config: NodeConfig, sandbox: Sandbox) -> Result<Node, NodeError> {
        config.sandbox = sandbox.limits().clone();
        config.validate()?;
        let mut ctx = NodeContext::new(config.address);
        for n in &config.neighbours {
            ctx.routing.add_neighbour(*n);
        }
        for r in &config.routes {
            ctx.routing.add_route(*r)?;
        }
        ctx.state = Box::new(StateStore::new(config.state));
        let d = &config.demand;
        Ok(Node {
            code: CodeCache::new(config.code_cache),
            cached: BTreeMap::new(),
            loads: BTreeMap::new(),
            held_bytes: 0,
            compile_queue: VecDeque::new(),
            compiling: 0,
            compile_turns: LruCache::new(
                NonZeroUsize::new(d.max_tracked_peers).unwrap_or(NonZeroUsize::MIN),
            ),
            compile_round: 0,
            tier_counts: BTreeMap::new(),
            tiering: BTreeSet::new(),
            tier_refused: BTreeSet::new(),
            rejected: LruCache::new(NonZeroUsize::new(d.max_rejected).unwrap_or(NonZeroUsize::MIN)),
            load_limiter: RateLimiter::new(
                d.loads_per_peer_per_second,
                d.load_burst,
                d.max_tracked_peers,
            ),
            serve_limiter: RateLimiter::new(
                d.fragments_per_requester_per_second,
                d.fragment_burst,
                d.max_tracked_peers,
            ),
            request_limiter: RateLimiter::new(
                d.loads_per_peer_per_second,
                d.load_burst,
                d.max_tracked_peers,
            ),
            mint: CookieMint::new(config.cookie_secret),
            jar: CookieJar::new(d.max_tracked_peers),
            fair: FairShare::new(config.cpu),
            liveness: Liveness::new(config.liveness.clone(), config.address, &config.neighbours),
            loopback: VecDeque::new(),
            next_purge: Timestamp::ZERO,
            now: Timestamp::ZERO,
            transmits: VecDeque::new(),
            spare: Vec::new(),
            events: VecDeque::new(),
            stats: NodeStats::default(),
            config,
            sandbox,
            ctx,
        })
    }

    /// This node's address.
    pub fn address(&self) -> IpAddr {
        self.config.address
    }

    /// A handle to validate and compile modules with this node's engine. It is `Send + Clone`:
    /// the driver compiles with it on a worker and answers with [`Node::compile_done`].
    pub fn compiler(&self) -> Compiler {
        self.sandbox.compiler()
    }

    /// A datagram arrived. `from` is the sender's node address if the driver knows it (the
    /// daemon: when the datagram's socket address is the one configured for that node): code
    /// requests are answered to it (and dropped as `unknown_requester` without it), and code
    /// fragments or code-missing answers count only from the node asked; from another node, or
    /// from an unknown sender, they are dropped as `unsolicited_code` and change nothing.
    pub fn handle_datagram(&mut self, now: Timestamp, from: Option<IpAddr>, bytes: &[u8]) {
        self.set_now(now);
        self.stats.datagrams_received += 1;
        self.on_datagram(from, bytes);
        self.drain_loopback();
    }

    /// Acts on every timer due at `now`: fragment re-requests and source fallbacks, looped-back
    /// capsules still waiting, the purge of expired protocol state, idle sandbox instances,
    /// and with liveness on, neighbours whose hellos stopped and hellos due.
    pub fn handle_timeout(&mut self, now: Timestamp) {
        self.set_now(now);
        self.load_timeouts();
        if self.now >= self.next_purge
            && self.ctx.state.next_expiry().is_some_and(|t| t <= self.now)
        {
            self.ctx.state.purge_expired(self.now);
            self.next_purge = self.now + self.config.demand.state_purge_interval;
        }
        self.sandbox.reclaim_idle(self.now);
        self.liveness_timeouts();
        self.drain_loopback();
    }

    /// The earliest time [`Node::handle_timeout`] must be called, if any timer is armed. A
    /// time in the past (looped-back capsules waiting) means "as soon as possible".
    pub fn poll_timeout(&self) -> Option<Timestamp> {
        let loopback = (!self.loopback.is_empty()).then_some(self.now);
        let purge = self.ctx.state.next_expiry().map(|t| t.max(self.next_purge));
        let idle = self.sandbox.next_idle_deadline();
        let liveness = self.liveness.poll_timeout();
        [loopback, self.next_load_deadline(), purge, idle, liveness]
            .into_iter()
            .flatten()
            .min()
    }

    /// The next datagram to send.
    pub fn poll_transmit(&mut self) -> Option<Transmit> {
        self.transmits.pop_front()
    }

    /// Hands the buffer of a transmitted frame (from [`Node::poll_transmit`]) back for reuse.
    /// Optional: a driver that keeps or drops its buffers only costs one allocation per frame.
    pub fn recycle(&mut self, mut buffer: Vec<u8>) {
        if self.spare.len() < MAX_SPARE_BUFFERS && buffer.capacity() <= MAX_SPARE_CAPACITY {
            buffer.clear();
            self.spare.push(buffer);
        }
    }

    /// The next event.
    pub fn poll_event(&mut self) -> Option<Event> {
        self.events.pop_front()
    }

    /// The driver finished compiling a module an [`Event::Compile`] asked for. On success the
    /// code is cached with its compiled form and the capsules held for it are evaluated in
    /// arrival order; on failure they are dropped as `module_rejected` and the fingerprint is
    /// not fetched again for [`DemandLimits::rejected_ttl`]. A result nobody waits for (the
    /// load was abandoned) is ignored.
    pub fn compile_done(
        &mut self,
        now: Timestamp,
        fingerprint: Fingerprint,
        result: Result<CompiledCapsule, LoadError>,
    ) {
        self.set_now(now);
        self.finish_compile(fingerprint, result);
        self.drain_loopback();
    }

    /// A local application registers a protocol: the module is validated (cheaply, without
    /// compiling), hashed, pinned in the code cache (never evicted, so this node can always
    /// serve it) and compiled (an [`Event::Compile`] is emitted); returns its fingerprint.
    /// Registering a protocol twice is harmless.
    pub fn register_protocol(
        &mut self,
        now: Timestamp,
        module: Vec<u8>,
    ) -> Result<Fingerprint, NodeError> {
        self.set_now(now);
        self.sandbox
            .compiler()
            .validate(&module)
            .map_err(NodeError::Module)?;
        let fp = Fingerprint::sha256(&module);
        let module: Arc<[u8]> = module.into();
        let evicted = self.code.insert_pinned(fp, module.clone())?;
        self.evicted(evicted);
        self.cached.insert(fp, Origin::registered(now));
        self.stats.protocols_registered += 1;
        self.register_load(fp, module);
        self.drain_loopback();
        Ok(fp)
    }

    /// Code compiled earlier (the daemon's on-disk code store): `module` and its compiled form
    /// go into the code cache (unpinned, evicted like demand-loaded code), so capsules of the
    /// protocol run at once, without a load or a compile. Refused if the bytes do not hash to
    /// the code's fingerprint or the cache has no room.
    pub fn preload(
        &mut self,
        now: Timestamp,
        module: Vec<u8>,
        compiled: CompiledCapsule,
    ) -> Result<Fingerprint, NodeError> {
        self.set_now(now);
        let fp = compiled.fingerprint();
        if !fp.matches(&module) {
            return Err(NodeError::Module(LoadError::Rejected(format!(
                "stored module does not hash to {fp}"
            ))));
        }
        if !self.code.contains(&fp) {
            let module: Arc<[u8]> = module.into();
            let evicted = self.code.insert(fp, module)?;
            self.evicted(evicted);
            self.cached.insert(fp, Origin::stored(now));
        }
        let size = compiled.compiled_len();
        let evicted = self.code.attach_compiled(fp, compiled, size)?;
        self.evicted(evicted);
        self.stats.protocols_preloaded += 1;
        Ok(fp)
    }

    /// A local application sends a capsule of a registered protocol; it is evaluated on this
    /// node first (source = previous = this node), like any arriving capsule. If the protocol
    /// is still compiling, the capsule waits for it.
    pub fn send_capsule(
        &mut self,
        now: Timestamp,
        fingerprint: Fingerprint,
        destination: IpAddr,
        budget: u16,
        payload: &[u8],
    ) -> Result<(), NodeError> {
        self.set_now(now);
        if !self.code.peek(&fingerprint).is_some_and(|e| e.is_pinned()) {
            return Err(NodeError::UnknownProtocol(fingerprint));
        }
        if budget == 0 {
            return Err(NodeError::ZeroBudget);
        }
        let max = self.config.sandbox.max_payload;
        if payload.len() > max {
            return Err(NodeError::PayloadTooLarge {
                len: payload.len(),
                max,
            });
        }
        let frame = CapsuleRepr {
            fingerprint,
            source: self.config.address,
            destination,
            previous: self.config.address,
            budget,
            payload,
        }
        .to_vec()
        .map_err(|_| NodeError::PayloadTooLarge {
            len: payload.len(),
            max,
        })?;
        self.stats.capsules_injected += 1;
        self.on_datagram(None, &frame);
        self.drain_loopback();
        Ok(())
    }

    /// Counters so far.
    pub fn stats(&self) -> NodeStats {
        let mut stats = self.stats.clone();
        let cache = self.code.stats();
        stats.cache_evictions = cache.evictions;
        stats.cache_insertions = cache.insertions;
        stats
    }

    /// A snapshot for `ants status`.
    pub fn status(&self) -> NodeStatus {
        let protocols = self
            .cached
            .iter()
            .filter_map(|(fp, origin)| {
                let e = self.code.peek(fp)?;
                Some(ProtocolStatus {
                    fingerprint: fp.to_string(),
                    origin: origin.how,
                    origin_node: origin.from.map(|a| a.to_string()),
                    cached_ms: origin.at.as_nanos() / 1_000_000,
                    module_bytes: e.size(),
                    compiled_bytes: e.compiled_bytes(),
                    pinned: e.is_pinned(),
                    compiled: e.compiled().is_some(),
                    compile_time_us: e
                        .compiled()
                        .map(|c| u64::try_from(c.compile_time().as_micros()).unwrap_or(u64::MAX)),
                    tier: e.compiled().map(|c| c.tier().name()),
                    baseline_compile_time_us: e.compiled().and_then(|c| {
                        c.baseline_time()
                            .map(|t| u64::try_from(t.as_micros()).unwrap_or(u64::MAX))
                    }),
                    live_instance: self.sandbox.has_instance(fp),
                    fuel_in_window: self.fair.usage(fp),
                    sandbox: self.sandbox.protocol(fp).unwrap_or_default(),
                })
            })
            .collect();
        let loads = self
            .loads
            .iter()
            .map(|(fp, load)| load.status(fp))
            .collect();
        let rejected = self
            .rejected
            .iter()
            .filter(|(_, r)| self.now < r.until)
            .map(|(fp, r)| RejectedStatus {
                fingerprint: fp.to_string(),
                reason: r.reason,
                message: r.message.clone(),
                sandbox: self.sandbox.protocol(fp),
            })
            .collect();
        NodeStatus {
            address: self.config.address.to_string(),
            neighbours: self
                .ctx
                .routing
                .neighbours()
                .iter()
                .map(|n| n.address.to_string())
                .collect(),
            neighbours_down: self
                .ctx
                .routing
                .down_neighbours()
                .iter()
                .map(|n| n.address.to_string())
                .collect(),
            liveness: if self.liveness.enabled() {
                self.liveness
                    .status()
                    .into_iter()
                    .map(|(address, up, heard, routes)| NeighbourStatus {
                        address: address.to_string(),
                        up,
                        heard_ms_ago: heard.map(|t| {
                            let ago = self.now.saturating_duration_since(t);
                            u64::try_from(ago.as_millis()).unwrap_or(u64::MAX)
                        }),
                        routes,
                    })
                    .collect()
            } else {
                Vec::new()
            },
            learned_routes: self.liveness.learned_len(),
            protocols,
            loads,
            rejected,
            code_cache_bytes: self.code.total_bytes(),
            code_cache_max_bytes: self.code.limits().max_bytes,
            state_entries: self.ctx.state.len(),
            state_bytes: self.ctx.state.total_bytes(),
            held_bytes: self.held_bytes,
            live_instances: self.sandbox.live_instances(),
            stats: self.stats(),
        }
    }

    /// Counts a drop the driver made after the core handed something over, such as
    /// [`DropReason::NoApplication`] when an [`Event::Deliver`] finds no application bound to
    /// its port, so that every drop shows in one place.
    pub fn record_drop(&mut self, reason: DropReason) {
        self.stats.drops.add(reason);
    }

    /// Whether compiled code for `fingerprint` is cached (no counters, no recency change).
    pub fn has_code(&self, fingerprint: &Fingerprint) -> bool {
        self.code
            .peek(fingerprint)
            .is_some_and(|e| e.compiled().is_some())
    }

    /// The routing and neighbour tables (a driver updates link loads through
    /// [`Node::routing_mut`]).
    pub fn routing(&self) -> &crate::routing::RoutingTable {
        &self.ctx.routing
    }

    /// Mutable routing and neighbour tables, e.g. for the driver's link-load updates.
    pub fn routing_mut(&mut self) -> &mut crate::routing::RoutingTable {
        &mut self.ctx.routing
    }

    /// Times every evaluation with the system clock, for the per-protocol CPU figures of
    /// [`Node::status`]. Off by default (the emulator's reports must not depend on the
    /// machine); the daemon turns it on.
    pub fn set_evaluation_timing(&mut self, on: bool) {
        self.sandbox.set_timing(on);
    }

    fn set_now(&mut self, now: Timestamp) {
        self.now = self.now.max(now);
        self.ctx.now = self.now;
    }

    /// Whether `node` is a configured neighbour or peer of this one.
    fn is_known(&self, node: IpAddr) -> bool {
        self.ctx.routing.is_neighbour(node) || self.config.peers.contains(&node)
    }

    /// Replaces the configured peers (a reloaded configuration; neighbours come with the
    /// routing table, [`Node::routing_mut`]).
    pub fn set_peers(&mut self, peers: Vec<IpAddr>) {
        self.config.peers = peers;
    }

    /// Counts a drop and traces it.
    fn drop_with(&mut self, reason: DropReason, fingerprint: Option<Fingerprint>) {
        self.stats.drops.add(reason);
        tracing::trace!(reason = reason.name(), fingerprint = ?fingerprint, "dropped");
    }

    /// Forgets what the code cache evicted: the protocols' live instances go too.
    fn evicted(&mut self, fingerprints: Vec<Fingerprint>) {
        for fp in fingerprints {
            self.cached.remove(&fp);
            self.tier_counts.remove(&fp);
            self.tier_refused.remove(&fp);
            self.sandbox.forget(&fp);
            tracing::debug!(fingerprint = %fp, "code evicted from the code cache");
        }
    }
}
