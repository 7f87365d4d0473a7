//! The configuration file as written.

use std::collections::BTreeMap;
use std::net::{IpAddr, SocketAddr};

use serde::Deserialize;
use toml::Spanned;

// ---- The file as written -------------------------------------------------------------------

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawConfig {
    pub(super) address: Spanned<IpAddr>,
    pub(super) listen: Option<Spanned<SocketAddr>>,
    pub(super) app_socket: Option<Spanned<String>>,
    pub(super) max_budget: Option<Spanned<u16>>,
    #[serde(default)]
    pub(super) pin: Vec<Spanned<String>>,
    #[serde(default)]
    pub(super) neighbours: Vec<RawNeighbour>,
    #[serde(default)]
    pub(super) peers: BTreeMap<Spanned<String>, Spanned<SocketAddr>>,
    #[serde(default)]
    pub(super) routes: Vec<RawRoute>,
    #[serde(default)]
    pub(super) code_cache: RawCodeCache,
    #[serde(default)]
    pub(super) state: RawState,
    #[serde(default)]
    pub(super) sandbox: RawSandbox,
    #[serde(default)]
    pub(super) fingerprints: RawFingerprints,
    #[serde(default)]
    pub(super) demand: RawDemand,
    #[serde(default)]
    pub(super) cpu: RawCpu,
    #[serde(default)]
    pub(super) driver: RawDriver,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub(super) struct RawCpu {
    pub(super) fuel_per_second: Option<Spanned<u64>>,
    pub(super) busy_percent: Option<Spanned<u8>>,
    pub(super) window_ms: Option<Spanned<u64>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawNeighbour {
    pub(super) address: Spanned<IpAddr>,
    pub(super) socket: Option<Spanned<SocketAddr>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawRoute {
    pub(super) prefix: Spanned<String>,
    pub(super) via: Spanned<IpAddr>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub(super) struct RawCodeCache {
    pub(super) max_bytes: Option<Spanned<usize>>,
    pub(super) max_entries: Option<Spanned<usize>>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub(super) struct RawState {
    pub(super) max_key_len: Option<Spanned<usize>>,
    pub(super) max_value_len: Option<Spanned<usize>>,
    pub(super) per_protocol_bytes: Option<Spanned<usize>>,
    pub(super) total_bytes: Option<Spanned<usize>>,
    pub(super) max_ttl_ms: Option<Spanned<u64>>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub(super) struct RawSandbox {
    pub(super) max_module_bytes: Option<Spanned<usize>>,
    pub(super) max_functions: Option<Spanned<u32>>,
    pub(super) max_memory_bytes: Option<Spanned<usize>>,
    pub(super) max_table_elements: Option<Spanned<usize>>,
    pub(super) fuel_per_evaluation: Option<Spanned<u64>>,
    pub(super) max_evaluation_time_ms: Option<Spanned<u64>>,
    pub(super) max_wasm_stack: Option<Spanned<usize>>,
    pub(super) log_burst: Option<Spanned<u32>>,
    pub(super) log_per_second: Option<Spanned<u32>>,
    pub(super) recycle_after_calls: Option<Spanned<u32>>,
    pub(super) max_live_instances: Option<Spanned<usize>>,
    pub(super) idle_instance_ms: Option<Spanned<u64>>,
    pub(super) tier_up_after: Option<Spanned<u32>>,
    pub(super) optimize_max_nesting: Option<Spanned<u32>>,
    pub(super) optimize_max_branches: Option<Spanned<u32>>,
    pub(super) optimize_max_br_table_targets: Option<Spanned<u32>>,
    pub(super) optimize_max_locals: Option<Spanned<u32>>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub(super) struct RawFingerprints {
    pub(super) allow_legacy_md5: Option<bool>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub(super) struct RawDemand {
    pub(super) max_held_per_protocol: Option<Spanned<usize>>,
    pub(super) max_held_bytes: Option<Spanned<usize>>,
    pub(super) max_concurrent_loads: Option<Spanned<usize>>,
    pub(super) max_concurrent_compiles: Option<Spanned<usize>>,
    pub(super) fragment_timeout_ms: Option<Spanned<u64>>,
    pub(super) max_fragment_timeout_ms: Option<Spanned<u64>>,
    pub(super) max_retries: Option<u32>,
    pub(super) loads_per_peer_per_second: Option<Spanned<u32>>,
    pub(super) load_burst: Option<Spanned<u32>>,
    pub(super) fragments_per_requester_per_second: Option<Spanned<u32>>,
    pub(super) fragment_burst: Option<Spanned<u32>>,
    pub(super) max_tracked_peers: Option<Spanned<usize>>,
    pub(super) max_rejected: Option<usize>,
    pub(super) rejected_ttl_ms: Option<u64>,
    pub(super) max_loopback: Option<usize>,
    pub(super) state_purge_interval_ms: Option<Spanned<u64>>,
    pub(super) ask_unknown_nodes: Option<bool>,
    pub(super) announce_code: Option<bool>,
    pub(super) serve_unknown_nodes: Option<bool>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub(super) struct RawDriver {
    pub(super) compile_workers: Option<Spanned<usize>>,
    pub(super) udp_recv_buffer: Option<usize>,
    pub(super) udp_send_buffer: Option<usize>,
    pub(super) app_queue: Option<Spanned<usize>>,
    pub(super) max_app_connections: Option<Spanned<usize>>,
    pub(super) code_store: Option<String>,
    pub(super) code_store_max_bytes: Option<u64>,
}
