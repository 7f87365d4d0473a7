//! The bounds and timers of demand loading and code serving: [`DemandLimits`].
//!
//! Values only: the node enforces them (`demand.rs`, `serve.rs`, `mod.rs`).

use std::time::Duration;

/// Bounds and timers of demand loading and code serving (see `docs/node.md`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DemandLimits {
    /// Capsules held while one protocol's code loads; more are dropped as `queue_full`.
    pub max_held_per_protocol: usize,
    /// Bytes of held capsules over all loads; more are dropped as `queue_full`.
    pub max_held_bytes: usize,
    /// Code loads (fetching or compiling) in progress at once; a capsule of another unknown
    /// type is dropped as `too_many_loads`.
    pub max_concurrent_loads: usize,
    /// Compilations handed to the driver at once; verified modules wait for a slot.
    pub max_concurrent_compiles: usize,
    /// How long to wait for the first or the next fragment before asking again.
    pub fragment_timeout: Duration,
    /// Upper bound of the timeout after exponential backoff.
    pub max_fragment_timeout: Duration,
    /// Requests to one code source after the first before turning to the next source.
    pub max_retries: u32,
    /// Code loads a capsule's previous node, or its source, may trigger per second.
    pub loads_per_peer_per_second: u32,
    /// Burst of such loads.
    pub load_burst: u32,
    /// Fragments (and code-missing answers) served to one requester per second.
    pub fragments_per_requester_per_second: u32,
    /// Burst of served fragments per requester.
    pub fragment_burst: u32,
    /// Peers tracked by each rate limiter; the least recently seen is forgotten first.
    pub max_tracked_peers: usize,
    /// Fingerprints whose module failed to compile, remembered so they are not fetched again.
    pub max_rejected: usize,
    /// How long a rejected fingerprint is remembered.
    pub rejected_ttl: Duration,
    /// Looped-back capsules (sent by a capsule to its own node) waiting to be evaluated.
    pub max_loopback: usize,
    /// How often expired protocol state is purged.
    pub state_purge_interval: Duration,
    /// Ask a capsule's previous node or source for code even when it is not a configured
    /// neighbour or peer (requests to each such address are limited to
    /// `loads_per_peer_per_second`, burst `load_burst`). Off by default: a capsule's sender
    /// chooses those addresses.
    pub ask_unknown_nodes: bool,
    /// Announce a just-verified module to the neighbour its held capsule goes to next, so that
    /// neighbour loads and compiles it while this node still compiles (`docs/node.md`,
    /// Announcing code). Only neighbours are told, once per load, in one 40-byte frame.
    pub announce_code: bool,
    /// Serve code to nodes that are not configured neighbours or peers. Off by default. Like
    /// every requester, such a node gets code only after echoing a cookie (proof that it
    /// receives at its address); before that, one small cookie frame per request.
    pub serve_unknown_nodes: bool,
}

impl Default for DemandLimits {
    fn default() -> Self {
        DemandLimits {
            max_held_per_protocol: 64,
            max_held_bytes: 1024 * 1024,
            max_concurrent_loads: 16,
            max_concurrent_compiles: 2,
            fragment_timeout: Duration::from_millis(200),
            max_fragment_timeout: Duration::from_secs(2),
            max_retries: 3,
            loads_per_peer_per_second: 20,
            load_burst: 20,
            fragments_per_requester_per_second: 512,
            fragment_burst: 256,
            max_tracked_peers: 1024,
            max_rejected: 256,
            rejected_ttl: Duration::from_secs(60),
            max_loopback: 256,
            state_purge_interval: Duration::from_secs(1),
            ask_unknown_nodes: false,
            announce_code: true,
            serve_unknown_nodes: false,
        }
    }
}
