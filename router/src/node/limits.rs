//! The bounds and timers of demand loading and code serving: [`DemandLimits`].
//!
//! Owns [`DemandLimits`], its defaults, its minimums ([`DemandLimits::validate`]) and its file
//! form (the `[demand]` section of `antsd`'s configuration, durations in milliseconds), and the
//! check of a whole [`NodeConfig`] ([`NodeConfig::validate`]). Values only: the node enforces
//! them (`demand`, `serve.rs`, `mod.rs`).

use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::NodeConfig;
use crate::limits::{Check, LimitError};

/// Smallest [`NodeConfig::max_budget`]: every active hop charges 1, so 0 would drop every
/// capsule.
pub const MIN_MAX_BUDGET: u16 = 1;

impl NodeConfig {
    /// Checks every limit of the node against its minimum (see each limits type's
    /// `validate`), section by section in the order of the configuration file's
    /// documentation: `code_cache`, `state`, `sandbox`, `cpu`, `demand`, `liveness`, then
    /// `max_budget`.
    pub fn validate(&self) -> Result<(), LimitError> {
        self.code_cache.validate()?;
        self.state.validate()?;
        self.sandbox.validate()?;
        self.cpu.validate()?;
        self.demand.validate()?;
        self.liveness.validate()?;
        Check::section("").at_least("max_budget", self.max_budget, MIN_MAX_BUDGET.into())?;
        Ok(())
    }
}

/// Bounds and timers of demand loading and code serving (see `docs/node.md`).
///
/// Every count, rate and timer is at least 1 but `max_retries`, `max_rejected`,
/// `rejected_ttl` and `max_loopback`, which may be 0.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
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
    #[serde(rename = "fragment_timeout_ms", with = "crate::limits::millis")]
    pub fragment_timeout: Duration,
    /// Upper bound of the timeout after exponential backoff.
    #[serde(rename = "max_fragment_timeout_ms", with = "crate::limits::millis")]
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
    #[serde(rename = "rejected_ttl_ms", with = "crate::limits::millis")]
    pub rejected_ttl: Duration,
    /// Looped-back capsules (sent by a capsule to its own node) waiting to be evaluated.
    pub max_loopback: usize,
    /// How often expired protocol state is purged.
    #[serde(rename = "state_purge_interval_ms", with = "crate::limits::millis")]
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

impl DemandLimits {
    /// Refuses bounds under which no code could ever load or be served.
    pub fn validate(&self) -> Result<(), LimitError> {
        Check::section("demand")
            .at_least("max_held_per_protocol", self.max_held_per_protocol, 1)?
            .at_least("max_held_bytes", self.max_held_bytes, 1)?
            .at_least("max_concurrent_loads", self.max_concurrent_loads, 1)?
            .at_least("max_concurrent_compiles", self.max_concurrent_compiles, 1)?
            .millis_at_least("fragment_timeout_ms", self.fragment_timeout, 1)?
            .millis_at_least("max_fragment_timeout_ms", self.max_fragment_timeout, 1)?
            .at_least(
                "loads_per_peer_per_second",
                self.loads_per_peer_per_second,
                1,
            )?
            .at_least("load_burst", self.load_burst, 1)?
            .at_least(
                "fragments_per_requester_per_second",
                self.fragments_per_requester_per_second,
                1,
            )?
            .at_least("fragment_burst", self.fragment_burst, 1)?
            .at_least("max_tracked_peers", self.max_tracked_peers, 1)?
            .millis_at_least("state_purge_interval_ms", self.state_purge_interval, 1)?;
        Ok(())
    }
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::limits::Bound;

    #[test]
    fn a_default_node_is_valid_and_each_section_is_checked() {
        let config = NodeConfig::new("10.0.0.1".parse().unwrap());
        config.validate().unwrap();
        let mut c = config.clone();
        c.demand.max_concurrent_compiles = 0;
        assert_eq!(
            c.validate().unwrap_err().path(),
            "demand.max_concurrent_compiles"
        );
        let mut c = config.clone();
        c.cpu.busy_percent = 101;
        let e = c.validate().unwrap_err();
        assert_eq!(
            (e.path(), e.bound),
            ("cpu.busy_percent".into(), Bound::AtMost(100))
        );
        let mut c = config.clone();
        c.max_budget = 0;
        assert_eq!(c.validate().unwrap_err().path(), "max_budget");
        let mut c = config;
        c.code_cache.max_entries = 0;
        c.demand.load_burst = 0;
        // The first section in file order is reported.
        assert_eq!(c.validate().unwrap_err().path(), "code_cache.max_entries");
    }
}
