//! The bounds the sandbox enforces on every capsule module and every evaluation.
//!
//! Owns [`SandboxLimits`] and its defaults. Values only: enforcement lives in the validator
//! (load time), the engine configuration and the host functions (run time).

use std::time::Duration;

use capsule_sdk::abi;

/// Limits for loading and running untrusted capsule code.
///
/// Defaults are chosen for edge routers: small modules, a few microseconds of work per capsule,
/// and a hard cap on everything a hostile module could make the node spend.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SandboxLimits {
    /// Largest module accepted, in bytes (ANTS capped code at 16 KiB; we allow 64 KiB).
    pub max_module_bytes: usize,
    /// Most functions a module may define: compile time grows with it, and compilation is the
    /// expensive step an attacker can trigger.
    pub max_functions: u32,
    /// Largest linear memory a capsule may have, in bytes (declared or grown).
    pub max_memory_bytes: usize,
    /// Most table elements a capsule may have (it may have one table).
    pub max_table_elements: usize,
    /// Fuel one evaluation may burn before it is stopped: about one unit per wasm instruction,
    /// one per byte of bulk memory work, and the host-call charges of `docs/node-api.md`
    /// section 6.
    pub fuel_per_evaluation: u64,
    /// Wall-clock backstop of one evaluation: past it, the evaluation is stopped as
    /// `time_limit` (checked at function entries and loop heads, at a 1 ms resolution).
    pub max_evaluation_time: Duration,
    /// Native stack the compiled code may use, in bytes. Engine-wide: set when the sandbox is
    /// created.
    pub max_wasm_stack: usize,
    /// Capsules one evaluation may send.
    pub max_sends: usize,
    /// Local deliveries one evaluation may make.
    pub max_deliveries: usize,
    /// Largest payload of a sent capsule or a delivery, in bytes.
    pub max_payload: usize,
    /// Log messages a protocol may emit in a burst before being rate limited.
    pub log_burst: u32,
    /// Log messages per second a protocol may sustain.
    pub log_per_second: u32,
    /// Longest log message kept, in bytes; the rest is cut.
    pub max_log_len: usize,
    /// Evaluations after which a protocol's instance is replaced by a fresh one, so guest state
    /// that leaks across calls (heap fragmentation, globals) cannot accumulate without bound.
    pub recycle_after_calls: u32,
    /// Protocols with a live instance at once; the least recently used is dropped beyond it.
    pub max_live_instances: usize,
    /// An instance unused for this long (node time) is dropped, giving its memory back.
    pub idle_instance_timeout: Duration,
    /// Protocols whose counters and log bucket are remembered while they have no live
    /// instance; the least recently retired is forgotten beyond it.
    pub max_protocol_accounts: usize,
    /// Evaluations of a protocol on baseline code after which the node has it compiled by the
    /// optimizing compiler, in the background, and swaps the result in between two
    /// evaluations; 0 never does.
    pub tier_up_after: u32,
    /// The shape a module must stay within to be optimized at all (`complexity.rs`); a module
    /// over any of these keeps its baseline code. Deepest block nesting in one function.
    pub optimize_max_nesting: u32,
    /// Most control-flow instructions in the whole module, for the optimizing compiler.
    pub optimize_max_branches: u32,
    /// Most branch-table targets in one function, for the optimizing compiler.
    pub optimize_max_br_table_targets: u32,
    /// Most locals in one function, for the optimizing compiler.
    pub optimize_max_locals: u32,
}

impl Default for SandboxLimits {
    fn default() -> Self {
        SandboxLimits {
            max_module_bytes: 64 * 1024,
            max_functions: 1_000,
            max_memory_bytes: 1024 * 1024,
            max_table_elements: 4_096,
            fuel_per_evaluation: 250_000,
            max_evaluation_time: Duration::from_millis(50),
            max_wasm_stack: 128 * 1024,
            max_sends: abi::MAX_SENDS,
            max_deliveries: abi::MAX_DELIVERIES,
            max_payload: abi::MAX_PAYLOAD,
            log_burst: 20,
            log_per_second: 10,
            max_log_len: abi::MAX_LOG_LEN,
            recycle_after_calls: 10_000,
            max_live_instances: 256,
            idle_instance_timeout: Duration::from_secs(10),
            max_protocol_accounts: 1024,
            tier_up_after: 100,
            optimize_max_nesting: 64,
            optimize_max_branches: 4_000,
            optimize_max_br_table_targets: 10_000,
            optimize_max_locals: 2_000,
        }
    }
}
