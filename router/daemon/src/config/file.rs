//! The configuration file as written: what serde reads before anything is checked.
//!
//! Owns only the shape of the file. The limits sections are read straight into the node
//! library's types (and the driver's), which own their defaults and minimums; the parts that
//! are the daemon's own (addresses, sockets, routes, pins) keep their spans so that
//! [`super::Config::parse`] can say where an error is. It must never check or default a value
//! itself: that is the limits types' and the parser's.

use std::collections::BTreeMap;
use std::net::{IpAddr, SocketAddr};

use ants_router::fingerprint::FingerprintPolicy;
use ants_router::node::{CpuShareLimits, DemandLimits, LivenessLimits};
use ants_router::sandbox::SandboxLimits;
use ants_router::softstore::{CodeCacheLimits, StateLimits};
use serde::{Deserialize, Serialize};
use toml::Spanned;

use super::DriverLimits;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawConfig {
    pub(super) address: Spanned<IpAddr>,
    pub(super) listen: Option<Spanned<SocketAddr>>,
    pub(super) app_socket: Option<Spanned<String>>,
    pub(super) metrics_listen: Option<Spanned<SocketAddr>>,
    pub(super) pcap: Option<Spanned<String>>,
    pub(super) pcap_max_bytes: Option<Spanned<u64>>,
    pub(super) max_budget: Option<u16>,
    pub(super) mode: Option<Spanned<String>>,
    pub(super) interfaces: Option<Spanned<Vec<Spanned<String>>>>,
    #[serde(default)]
    pub(super) pin: Vec<Spanned<String>>,
    #[serde(default)]
    pub(super) neighbours: Vec<RawNeighbour>,
    #[serde(default)]
    pub(super) peers: BTreeMap<Spanned<String>, Spanned<SocketAddr>>,
    #[serde(default)]
    pub(super) routes: Vec<RawRoute>,
    #[serde(default)]
    pub(super) code_cache: CodeCacheLimits,
    #[serde(default)]
    pub(super) state: StateLimits,
    #[serde(default)]
    pub(super) sandbox: SandboxLimits,
    #[serde(default)]
    pub(super) fingerprints: Fingerprints,
    #[serde(default)]
    pub(super) demand: DemandLimits,
    #[serde(default)]
    pub(super) cpu: CpuShareLimits,
    #[serde(default)]
    pub(super) liveness: LivenessLimits,
    #[serde(default)]
    pub(super) driver: DriverLimits,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawNeighbour {
    pub(super) address: Spanned<IpAddr>,
    pub(super) socket: Option<Spanned<SocketAddr>>,
    pub(super) rate: Option<Spanned<String>>,
    pub(super) queue: Option<Spanned<u64>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawRoute {
    pub(super) prefix: Spanned<String>,
    pub(super) via: Spanned<IpAddr>,
}

/// The `[fingerprints]` section: which capsule types the node accepts.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub(super) struct Fingerprints {
    /// MD5 capsule types too: legacy only, unsafe against code spoofing.
    pub(super) allow_legacy_md5: bool,
}

impl Fingerprints {
    pub(super) fn policy(self) -> FingerprintPolicy {
        if self.allow_legacy_md5 {
            FingerprintPolicy::allow_legacy_md5()
        } else {
            FingerprintPolicy::sha256_only()
        }
    }

    pub(super) fn of(policy: FingerprintPolicy) -> Fingerprints {
        Fingerprints {
            allow_legacy_md5: policy.accepts(ants_router::fingerprint::FingerprintAlgorithm::Md5),
        }
    }
}
