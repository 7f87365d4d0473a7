//! The bounds the sandbox enforces on every capsule module and every evaluation.
//!
//! Owns [`SandboxLimits`], its defaults, its minimums ([`SandboxLimits::validate`]) and its file
//! form (the `[sandbox]` section of `antsd`'s configuration; durations in milliseconds; the
//! node API's own caps, fixed by the ABI, are not in it). Values only: enforcement lives in the
//! validator (load time), the engine configuration and the host functions (run time).

use std::time::Duration;

use capsule_sdk::abi;
use serde::{Deserialize, Serialize};

use crate::limits::{Check, LimitError};

/// Limits for loading and running untrusted capsule code.
///
/// Defaults are chosen for edge routers: small modules, a few microseconds of work per capsule,
/// and a hard cap on everything a hostile module could make the node spend.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
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
    #[serde(rename = "max_evaluation_time_ms", with = "crate::limits::millis")]
    pub max_evaluation_time: Duration,
    /// Native stack the compiled code may use, in bytes. Engine-wide: set when the sandbox is
    /// created.
    pub max_wasm_stack: usize,
    /// Capsules one evaluation may send.
    #[serde(skip)]
    pub max_sends: usize,
    /// Local deliveries one evaluation may make.
    #[serde(skip)]
    pub max_deliveries: usize,
    /// Largest payload of a sent capsule or a delivery, in bytes.
    #[serde(skip)]
    pub max_payload: usize,
    /// Log messages a protocol may emit in a burst before being rate limited.
    pub log_burst: u32,
    /// Log messages per second a protocol may sustain.
    pub log_per_second: u32,
    /// Longest log message kept, in bytes; the rest is cut.
    #[serde(skip)]
    pub max_log_len: usize,
    /// Evaluations after which a protocol's instance is replaced by a fresh one, so guest state
    /// that leaks across calls (heap fragmentation, globals) cannot accumulate without bound.
    pub recycle_after_calls: u32,
    /// Protocols with a live instance at once; the least recently used is dropped beyond it.
    pub max_live_instances: usize,
    /// An instance unused for this long (node time) is dropped, giving its memory back.
    #[serde(rename = "idle_instance_ms", with = "crate::limits::millis")]
    pub idle_instance_timeout: Duration,
    /// Protocols whose counters and log bucket are remembered while they have no live
    /// instance; the least recently retired is forgotten beyond it.
    #[serde(skip)]
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

impl SandboxLimits {
    /// Refuses limits under which no capsule could load or run: a module smaller than its
    /// header, no function, less than one wasm page of memory, no fuel, no time, a stack too
    /// small for the engine's own frames, an instance recycled before its first call, no live
    /// instance. Checked in the order of the configuration file's documentation.
    pub fn validate(&self) -> Result<(), LimitError> {
        Check::section("sandbox")
            .at_least("max_module_bytes", self.max_module_bytes, 8)?
            .at_least("max_functions", self.max_functions, 1)?
            .at_least("max_memory_bytes", self.max_memory_bytes, 64 * 1024)?
            .at_least("fuel_per_evaluation", self.fuel_per_evaluation, 1)?
            .millis_at_least("max_evaluation_time_ms", self.max_evaluation_time, 1)?
            .millis_at_least("idle_instance_ms", self.idle_instance_timeout, 1)?
            .at_least("max_wasm_stack", self.max_wasm_stack, 16 * 1024)?
            .at_least("recycle_after_calls", self.recycle_after_calls, 1)?
            .at_least("max_live_instances", self.max_live_instances, 1)?;
        Ok(())
    }
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_valid_and_minimums_are_named() {
        SandboxLimits::default().validate().unwrap();
        let e = SandboxLimits {
            fuel_per_evaluation: 0,
            ..SandboxLimits::default()
        }
        .validate()
        .unwrap_err();
        assert_eq!(e.path(), "sandbox.fuel_per_evaluation");
        let e = SandboxLimits {
            max_evaluation_time: Duration::ZERO,
            ..SandboxLimits::default()
        }
        .validate()
        .unwrap_err();
        assert_eq!(e.path(), "sandbox.max_evaluation_time_ms");
    }
}
