//! Counters and the status snapshot of a node.
//!
//! Owns [`DropReason`] (every reason the node drops a datagram, a capsule or a module, with a
//! stable snake_case name), [`DropCounters`], [`NodeStats`] and [`NodeStatus`]. Both
//! [`NodeStats`] and [`NodeStatus`] serialize with serde for `ants status --json`. This module
//! only counts and describes; it never decides to drop anything.

use serde::ser::{Serialize, SerializeMap, Serializer};

use std::net::IpAddr;

use crate::sandbox::{EvalError, ProtocolCounters};
use crate::time::Timestamp;
use crate::wire::WireError;

/// Why the node dropped something. Cheap to copy; [`DropReason::name`] is the counter label.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum DropReason {
    /// A datagram did not parse; named after the [`WireError`].
    Malformed(WireError),
    /// An evaluation failed (trap, limit, nonzero status); named after the [`EvalError`].
    Evaluation(EvalError),
    /// The capsule's fingerprint algorithm is not accepted by this node (MD5 not enabled).
    AlgorithmNotAllowed,
    /// The capsule arrived with budget 0.
    BudgetExhausted,
    /// A capsule's send had no route when its effects were released.
    NoRoute,
    /// The evaluation returned 0 without sending or delivering: a deliberate drop.
    NoEffect,
    /// A delivery found no application bound to its port (reported by the driver).
    NoApplication,
    /// The held-capsule queue of a loading protocol, or of all loads, is full.
    QueueFull,
    /// A capsule of yet another unknown type arrived while the most loads were in progress.
    TooManyLoads,
    /// The capsule's previous node or source has triggered too many code loads recently.
    LoadRateLimited,
    /// No code source answered with the module: held capsules are dropped.
    CodeUnavailable,
    /// A reassembled module does not hash to the type it was requested for (spoofed or
    /// corrupted code); it is never cached.
    HashMismatch,
    /// A code source announced a module larger than the node accepts.
    ModuleTooLarge,
    /// The module failed validation or compilation, or did recently: its capsules are dropped.
    ModuleRejected,
    /// The code cache had no room for a loaded module (pinned code fills it).
    CodeCacheFull,
    /// Too many capsules looped back to this node at once.
    LoopbackFull,
    /// A requester asked for more code than its rate allows.
    RequestRateLimited,
    /// A code request from a sender whose node address the driver did not know (nowhere to
    /// answer), or from a node that is not a configured neighbour or peer (by default).
    UnknownRequester,
    /// A code fragment or code-missing frame no load of this node asked for (or from another
    /// node than the one asked).
    UnsolicitedCode,
    /// A code fragment disagrees with earlier fragments of the same load (module length).
    FragmentMismatch,
    /// A code fragment already received.
    DuplicateFragment,
    /// A capsule sent by an evaluation could not be encoded.
    EncodeFailed,
    /// The node is busy and the capsule's protocol has used more than its share of
    /// evaluation CPU over the recent window.
    CpuShareExceeded,
    /// A capsule of an unknown type whose previous node and source are not configured
    /// neighbours or peers: there is nobody this node may ask for the code.
    UnknownCodeSource,
    /// A hello from a node that is not a configured neighbour (or from an unknown sender).
    NotANeighbour,
}

/// Names of the node's own reasons, in declaration order after the two wrapping variants.
const OWN_NAMES: [&str; 23] = [
    "algorithm_not_allowed",
    "budget_exhausted",
    "no_route",
    "no_effect",
    "no_application",
    "queue_full",
    "too_many_loads",
    "load_rate_limited",
    "code_unavailable",
    "hash_mismatch",
    "module_too_large",
    "module_rejected",
    "code_cache_full",
    "loopback_full",
    "request_rate_limited",
    "unknown_requester",
    "unsolicited_code",
    "fragment_mismatch",
    "duplicate_fragment",
    "encode_failed",
    "cpu_share_exceeded",
    "unknown_code_source",
    "not_a_neighbour",
];

const WIRE_COUNT: usize = WireError::NAMES.len();
/// Number of distinct drop counters.
const COUNT: usize = OWN_NAMES.len() + WIRE_COUNT + EvalError::NAMES.len();

impl DropReason {
    /// Stable snake_case counter label: the wire or evaluation error's own name for
    /// [`DropReason::Malformed`] and [`DropReason::Evaluation`].
    pub fn name(self) -> &'static str {
        NAMES[self.index()]
    }

    /// Every counter label, in counter order.
    pub fn names() -> &'static [&'static str] {
        &NAMES
    }

    fn index(self) -> usize {
        let own = |i: usize| i;
        match self {
            DropReason::Malformed(e) => {
                let name = e.name();
                OWN_NAMES.len()
                    + WireError::NAMES
                        .iter()
                        .position(|n| *n == name)
                        .unwrap_or(0)
            }
            DropReason::Evaluation(e) => OWN_NAMES.len() + WIRE_COUNT + e.index(),
            DropReason::AlgorithmNotAllowed => own(0),
            DropReason::BudgetExhausted => own(1),
            DropReason::NoRoute => own(2),
            DropReason::NoEffect => own(3),
            DropReason::NoApplication => own(4),
            DropReason::QueueFull => own(5),
            DropReason::TooManyLoads => own(6),
            DropReason::LoadRateLimited => own(7),
            DropReason::CodeUnavailable => own(8),
            DropReason::HashMismatch => own(9),
            DropReason::ModuleTooLarge => own(10),
            DropReason::ModuleRejected => own(11),
            DropReason::CodeCacheFull => own(12),
            DropReason::LoopbackFull => own(13),
            DropReason::RequestRateLimited => own(14),
            DropReason::UnknownRequester => own(15),
            DropReason::UnsolicitedCode => own(16),
            DropReason::FragmentMismatch => own(17),
            DropReason::DuplicateFragment => own(18),
            DropReason::EncodeFailed => own(19),
            DropReason::CpuShareExceeded => own(20),
            DropReason::UnknownCodeSource => own(21),
            DropReason::NotANeighbour => own(22),
        }
    }
}

const NAMES: [&str; COUNT] = {
    let mut names = [""; COUNT];
    let mut i = 0;
    while i < OWN_NAMES.len() {
        names[i] = OWN_NAMES[i];
        i += 1;
    }
    let mut j = 0;
    while j < WIRE_COUNT {
        names[OWN_NAMES.len() + j] = WireError::NAMES[j];
        j += 1;
    }
    let mut k = 0;
    while k < EvalError::NAMES.len() {
        names[OWN_NAMES.len() + WIRE_COUNT + k] = EvalError::NAMES[k];
        k += 1;
    }
    names
};

impl std::fmt::Display for DropReason {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// Drops counted by reason. Serializes as a map from every reason's name to its count.
#[derive(Clone, PartialEq, Eq)]
pub struct DropCounters([u64; COUNT]);

impl Default for DropCounters {
    fn default() -> Self {
        DropCounters([0; COUNT])
    }
}

impl DropCounters {
    /// Counts one drop.
    pub(crate) fn add(&mut self, reason: DropReason) {
        let slot = &mut self.0[reason.index()];
        *slot = slot.saturating_add(1);
    }

    /// Drops counted under `reason`.
    pub fn get(&self, reason: DropReason) -> u64 {
        self.0[reason.index()]
    }

    /// Drops counted under the label `name` (0 for an unknown name).
    pub fn by_name(&self, name: &str) -> u64 {
        NAMES
            .iter()
            .position(|n| *n == name)
            .map_or(0, |i| self.0[i])
    }

    /// All drops.
    pub fn total(&self) -> u64 {
        self.0.iter().sum()
    }

    /// `(name, count)` for every reason with a nonzero count, in counter order.
    pub fn nonzero(&self) -> impl Iterator<Item = (&'static str, u64)> + '_ {
        NAMES
            .iter()
            .zip(self.0.iter())
            .filter(|(_, c)| **c > 0)
            .map(|(n, c)| (*n, *c))
    }
}

impl std::fmt::Debug for DropCounters {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_map().entries(self.nonzero()).finish()
    }
}

impl Serialize for DropCounters {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut map = serializer.serialize_map(Some(COUNT))?;
        for (name, count) in NAMES.iter().zip(self.0.iter()) {
            map.serialize_entry(name, count)?;
        }
        map.end()
    }
}

/// A node's counters since it was built. Monotonically increasing.
#[derive(Clone, Debug, Default, PartialEq, Eq, serde::Serialize)]
pub struct NodeStats {
    /// Everything dropped, by reason.
    pub drops: DropCounters,
    /// Datagrams handed to [`Node::handle_datagram`](super::Node::handle_datagram).
    pub datagrams_received: u64,
    /// Capsule frames processed: arrivals from the network, a local application or the
    /// loopback, plus each held capsule once more when its code is ready (also counted in
    /// `capsules_released`; subtract it for arrivals only).
    pub capsules_received: u64,
    /// Capsules injected by local applications.
    pub capsules_injected: u64,
    /// Capsules a capsule sent to this very node, evaluated again here.
    pub capsules_looped_back: u64,
    /// Capsules that arrived with more budget than the node's `max_budget`, clamped to it
    /// (counted once: a held capsule keeps the clamped budget).
    pub budgets_clamped: u64,
    /// Evaluations run.
    pub evaluations: u64,
    /// Evaluations that returned 0 with at least one effect.
    pub evaluated: u64,
    /// Capsule frames queued for transmission.
    pub capsules_sent: u64,
    /// Payloads delivered to local application ports (as [`Event::Deliver`](super::Event)).
    pub deliveries: u64,
    /// Capsule log lines passed on as events.
    pub capsule_logs: u64,
    /// Capsules held while their code loaded.
    pub capsules_held: u64,
    /// Held capsules evaluated once their code was ready.
    pub capsules_released: u64,
    /// Demand loads started (a capsule of an unknown type arrived).
    pub loads_started: u64,
    /// Capsules of an unknown type whose previous node is not a configured neighbour or peer.
    pub unknown_previous: u64,
    /// Demand loads that ended with compiled code.
    pub loads_completed: u64,
    /// Demand loads that ended without code (unavailable, spoofed, rejected, no room).
    pub loads_failed: u64,
    /// Times a load turned to its next code source (code missing, timeout, bad module).
    pub load_fallbacks: u64,
    /// Code requests sent (first requests and re-requests).
    pub code_requests_sent: u64,
    /// Code requests re-sent after a timeout, for the missing fragments only.
    pub code_requests_retried: u64,
    /// Code fragments accepted into a reassembly.
    pub fragments_received: u64,
    /// Code-missing answers received from a source that was asked.
    pub code_missing_received: u64,
    /// Code requests answered with fragments.
    pub requests_served: u64,
    /// Code requests answered with code missing (the module is not cached here).
    pub requests_missing: u64,
    /// Code requests refused (rate limit, unknown requester, algorithm).
    pub requests_refused: u64,
    /// Code fragments sent to requesters.
    pub fragments_sent: u64,
    /// Code requests answered with a cookie instead of code (no valid cookie echoed).
    pub cookies_sent: u64,
    /// Of those, requests that echoed a cookie that was not valid (stale, or not minted here
    /// for that address).
    pub cookies_stale: u64,
    /// Cookies accepted from a code source this node asked (each re-sends the request).
    pub cookies_received: u64,
    /// Code announces sent to the next hop of a held capsule once its module was verified.
    pub announces_sent: u64,
    /// Hellos sent to configured neighbours.
    pub hellos_sent: u64,
    /// Hellos taken from configured neighbours.
    pub hellos_received: u64,
    /// Neighbours declared down (their hellos stopped).
    pub neighbours_down: u64,
    /// Neighbours that came back up (a hello after being down).
    pub neighbours_up: u64,
    /// Route entries left out of hellos because they did not fit one frame.
    pub hello_routes_left_out: u64,
    /// Code announces from a neighbour that started a load here before its capsule came.
    pub announces_received: u64,
    /// Code announces from a neighbour that changed nothing (code here or loading already,
    /// rejected type, no room for a load, the neighbour's load rate spent).
    pub announces_ignored: u64,
    /// Code requests not sent because the node asked is not a configured neighbour or peer
    /// and was asked too often (only with `ask_unknown_nodes`).
    pub requests_suppressed: u64,
    /// Compilations handed to the driver.
    pub compiles_started: u64,
    /// Compilations that failed (module rejected).
    pub compiles_failed: u64,
    /// Optimizing compiles started for protocols running baseline code.
    pub tier_ups_started: u64,
    /// Optimized code swapped in.
    pub tier_ups_completed: u64,
    /// Optimizing compiles refused or failed (the protocol keeps its baseline code).
    pub tier_ups_failed: u64,
    /// Protocols registered by local applications.
    pub protocols_registered: u64,
    /// Protocols whose compiled code was loaded from the daemon's code store at start.
    pub protocols_preloaded: u64,
    /// Code cache lookups that found compiled code.
    pub cache_hits: u64,
    /// Code cache lookups that did not.
    pub cache_misses: u64,
    /// Modules evicted from the code cache.
    pub cache_evictions: u64,
    /// Modules inserted into the code cache.
    pub cache_insertions: u64,
}

/// Where a cached protocol's code came from, and when.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Origin {
    pub(crate) how: &'static str,
    pub(crate) from: Option<IpAddr>,
    pub(crate) at: Timestamp,
}

impl Origin {
    pub(crate) fn registered(at: Timestamp) -> Origin {
        Origin {
            how: "registered",
            from: None,
            at,
        }
    }

    pub(crate) fn loaded(at: Timestamp, from: Option<IpAddr>) -> Origin {
        Origin {
            how: "loaded",
            from,
            at,
        }
    }

    pub(crate) fn stored(at: Timestamp) -> Origin {
        Origin {
            how: "stored",
            from: None,
            at,
        }
    }
}

/// One cached protocol, as `ants status` shows it.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct ProtocolStatus {
    /// The fingerprint's text form.
    pub fingerprint: String,
    /// Where its code came from: `registered` by a local application or a pin, `loaded` on
    /// demand from another node, or `stored` (the daemon's code store at start).
    pub origin: &'static str,
    /// For `loaded` code: the node it came from (unknown if it was evicted and cached again
    /// while it compiled).
    pub origin_node: Option<String>,
    /// When it entered the code cache, in milliseconds of node time.
    pub cached_ms: u64,
    /// Module size in bytes.
    pub module_bytes: usize,
    /// Declared size of the compiled form (0 while compiling).
    pub compiled_bytes: usize,
    /// Whether the protocol is pinned (registered locally; never evicted).
    pub pinned: bool,
    /// Whether compiled code is attached.
    pub compiled: bool,
    /// How long validating and compiling its current code took, in microseconds, once
    /// compiled.
    pub compile_time_us: Option<u64>,
    /// Which compiler made its current code: `baseline` (Winch, every protocol's first code)
    /// or `optimized` (Cranelift, after the tier-up).
    pub tier: Option<&'static str>,
    /// For optimized code: how long the baseline compile it replaced took, in microseconds.
    pub baseline_compile_time_us: Option<u64>,
    /// Whether the protocol has a live sandbox instance now.
    pub live_instance: bool,
    /// Fuel its evaluations burnt over the fair-share window (current and previous).
    pub fuel_in_window: u64,
    /// What its evaluations have cost: fuel, CPU time, stops by reason, dropped log lines,
    /// host-call errors, instantiations.
    pub sandbox: ProtocolCounters,
}

/// A module this node refused, while its fingerprint is remembered.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct RejectedStatus {
    /// The fingerprint's text form.
    pub fingerprint: String,
    /// The refusal's counter name (`start_function`, `forbidden_import`, ...).
    pub reason: &'static str,
    /// The refusal, in words.
    pub message: String,
    /// What its evaluations cost before it was refused, if it ever ran here.
    pub sandbox: Option<ProtocolCounters>,
}

/// One demand load in progress.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct LoadStatus {
    /// The fingerprint's text form.
    pub fingerprint: String,
    /// `fetching`, `waiting_to_compile` or `compiling`.
    pub phase: &'static str,
    /// The code source being asked, while fetching.
    pub source: Option<String>,
    /// Fragments received so far from that source.
    pub fragments_received: usize,
    /// Fragments of the module, once known.
    pub fragments_total: Option<usize>,
    /// Capsules waiting for this code.
    pub held_capsules: usize,
    /// Requests sent to the current source.
    pub requests: u32,
}

/// One configured neighbour's hello state, for `ants status`.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct NeighbourStatus {
    /// The neighbour's node address.
    pub address: String,
    /// Whether it is up.
    pub up: bool,
    /// Milliseconds since its last hello; `None` if it never said hello.
    pub heard_ms_ago: Option<u64>,
    /// Routes its last hello advertised (beyond this node).
    pub routes: usize,
}

/// A snapshot of a node for `ants status`.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct NodeStatus {
    /// The node address.
    pub address: String,
    /// Active neighbours that are up.
    pub neighbours: Vec<String>,
    /// Configured neighbours declared down (their hellos stopped).
    pub neighbours_down: Vec<String>,
    /// With liveness on: every configured neighbour's hello state.
    pub liveness: Vec<NeighbourStatus>,
    /// Overlay routes learned from hellos.
    pub learned_routes: usize,
    /// Cached protocols, by fingerprint.
    pub protocols: Vec<ProtocolStatus>,
    /// Demand loads in progress, by fingerprint.
    pub loads: Vec<LoadStatus>,
    /// Modules refused recently, with the reason.
    pub rejected: Vec<RejectedStatus>,
    /// Code cache charge (module plus compiled bytes) and its bound.
    pub code_cache_bytes: usize,
    /// The code cache's byte bound.
    pub code_cache_max_bytes: usize,
    /// Entries in the protocol state store.
    pub state_entries: usize,
    /// Charged bytes in the protocol state store.
    pub state_bytes: usize,
    /// Bytes of capsules held for loads.
    pub held_bytes: usize,
    /// Protocols with a live sandbox instance.
    pub live_instances: usize,
    /// Counters.
    pub stats: NodeStats,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_unique_and_indexed_consistently() {
        let mut seen = std::collections::HashSet::new();
        for n in DropReason::names() {
            assert!(!n.is_empty());
            assert!(seen.insert(*n), "duplicate drop name {n}");
        }
        assert_eq!(DropReason::QueueFull.name(), "queue_full");
        assert_eq!(
            DropReason::Malformed(WireError::BadMagic).name(),
            "bad_magic"
        );
        assert_eq!(
            DropReason::Evaluation(EvalError::CapsuleStatus(-4)).name(),
            "capsule_error"
        );
        for e in [
            EvalError::OutOfFuel,
            EvalError::StackOverflow,
            EvalError::MemoryLimit,
            EvalError::Unreachable,
            EvalError::MemoryOutOfBounds,
            EvalError::OtherTrap,
            EvalError::Instantiation,
            EvalError::CapsuleStatus(1),
        ] {
            assert_eq!(DropReason::Evaluation(e).name(), e.name());
        }
    }

    #[test]
    fn counters_count_by_name() {
        let mut c = DropCounters::default();
        c.add(DropReason::NoEffect);
        c.add(DropReason::NoEffect);
        c.add(DropReason::Malformed(WireError::MaskOutOfRange));
        assert_eq!(c.get(DropReason::NoEffect), 2);
        assert_eq!(c.by_name("mask_out_of_range"), 1);
        assert_eq!(c.by_name("no_such_reason"), 0);
        assert_eq!(c.total(), 3);
        assert_eq!(
            c.nonzero().collect::<Vec<_>>(),
            [("no_effect", 2), ("mask_out_of_range", 1)]
        );
    }
}
