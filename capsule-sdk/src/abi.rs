//! The numbers of the `ants_v1` node API: status codes, send flags, limits, import signatures.
//!
//! This module owns every constant that `docs/node-api.md` fixes, so the guest SDK and a host
//! implementation can share one source of truth. It holds data only: it must never call the
//! node or depend on the target architecture.

/// The only wasm import module a capsule may import from.
pub const MODULE: &str = "ants_v1";
/// The export the node calls once per capsule evaluation: `() -> i32`.
pub const EVALUATE_EXPORT: &str = "ants_evaluate";
/// The linear memory export the node reads and writes through.
pub const MEMORY_EXPORT: &str = "memory";

/// Status codes returned by every import: `>= 0` is success, negative is one of these.
pub mod status {
    /// Success with no further value.
    pub const OK: i32 = 0;
    /// A pointer/length range lies outside the capsule's linear memory.
    pub const BAD_POINTER: i32 = -1;
    /// A scalar argument is out of range (flags, level, port, budget, TTL, empty key).
    pub const BAD_ARGUMENT: i32 = -2;
    /// The state key does not exist (or its entry has expired).
    pub const NOT_FOUND: i32 = -3;
    /// The node has no route toward the destination.
    pub const NO_ROUTE: i32 = -4;
    /// A send asked for more budget than the current capsule has left to split.
    pub const BUDGET_EXCEEDED: i32 = -5;
    /// The protocol's state partition would exceed its quota.
    pub const QUOTA_EXCEEDED: i32 = -6;
    /// The per-evaluation cap on sends or deliveries is reached.
    pub const TOO_MANY_EFFECTS: i32 = -7;
    /// The protocol's log rate limit is exhausted; the message was dropped.
    pub const RATE_LIMITED: i32 = -8;
    /// The address given as a neighbour is not one of this node's neighbours.
    pub const UNKNOWN_NEIGHBOUR: i32 = -9;
    /// A payload, key or value is longer than its limit.
    pub const TOO_LARGE: i32 = -10;
    /// The node-wide state store is full.
    pub const STORE_FULL: i32 = -11;
    /// The evaluation's fuel cannot pay for this call: the call did nothing, and the
    /// evaluation stops as `out_of_fuel` at its next fuel check.
    pub const OUT_OF_FUEL: i32 = -12;
}

/// `send` flag: send to the neighbour at `via` instead of routing toward `dst`.
pub const SEND_VIA_NEIGHBOUR: i32 = 1 << 0;
/// `send` flag: this node becomes the new capsule's source.
pub const SEND_SOURCE_SELF: i32 = 1 << 1;
/// Every flag bit `ants_v1` defines; any other bit set is `BAD_ARGUMENT`.
pub const SEND_FLAGS_ALL: i32 = SEND_VIA_NEIGHBOUR | SEND_SOURCE_SELF;

/// `route_next_hop` result: the destination is this node (the node's address is written).
pub const ROUTE_LOCAL: i32 = 0;
/// `route_next_hop` result: the next active hop, a neighbour, is written.
pub const ROUTE_NEIGHBOUR: i32 = 1;

/// Bytes of an address crossing the ABI (IPv6, or IPv4-mapped IPv6).
pub const ADDRESS_LEN: usize = 16;
/// Bytes written by `capsule_fingerprint` (a shorter digest is zero-padded).
pub const FINGERPRINT_LEN: usize = 32;
/// Bytes written by `link_load`.
pub const LINK_LOAD_LEN: usize = 24;

/// Largest payload of a sent capsule or of a delivery, in bytes.
pub const MAX_PAYLOAD: usize = 1200;
/// Sends allowed per evaluation.
pub const MAX_SENDS: usize = 64;
/// Deliveries allowed per evaluation.
pub const MAX_DELIVERIES: usize = 16;
/// Largest state key, in bytes (keys are at least 1 byte).
pub const MAX_KEY_LEN: usize = 64;
/// Largest state value, in bytes.
pub const MAX_VALUE_LEN: usize = 4096;
/// Bytes charged against the quota per state entry, on top of key and value lengths.
pub const STATE_ENTRY_OVERHEAD: usize = 128;
/// Default state quota of one protocol, in charged bytes.
pub const DEFAULT_STATE_QUOTA: usize = 64 * 1024;
/// Longest state TTL, in milliseconds (one hour). The shortest is 1 ms.
pub const MAX_TTL_MS: i64 = 3_600_000;
/// Longest log message kept, in bytes; longer messages are truncated.
pub const MAX_LOG_LEN: usize = 256;
/// Highest log level (trace); 0 is error.
pub const MAX_LOG_LEVEL: i32 = 4;

/// A wasm value type used by the `ants_v1` imports.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ValType {
    /// `i32`
    I32,
    /// `i64`
    I64,
}

/// The signature of one `ants_v1` import.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Import {
    /// Field name inside module [`MODULE`].
    pub name: &'static str,
    /// Parameter types, in order.
    pub params: &'static [ValType],
    /// Result type (every import returns exactly one value).
    pub result: ValType,
}

const fn import(name: &'static str, params: &'static [ValType], result: ValType) -> Import {
    Import {
        name,
        params,
        result,
    }
}

use ValType::{I32, I64};

/// Every import of `ants_v1`, with its exact wasm signature. A module importing anything not
/// listed here, or with another signature, is rejected at load time.
pub const IMPORTS: &[Import] = &[
    import("capsule_budget", &[], I32),
    import("capsule_source", &[I32], I32),
    import("capsule_destination", &[I32], I32),
    import("capsule_previous", &[I32], I32),
    import("capsule_payload_len", &[], I32),
    import("capsule_payload", &[I32, I32], I32),
    import("capsule_fingerprint", &[I32], I32),
    import("node_address", &[I32], I32),
    import("node_time_ns", &[], I64),
    import("route_next_hop", &[I32, I32], I32),
    import("neighbours", &[I32, I32], I32),
    import("link_load", &[I32, I32], I32),
    import("send", &[I32, I32, I32, I32, I32, I32], I32),
    import("deliver", &[I32, I32, I32], I32),
    import("state_get", &[I32, I32, I32, I32], I32),
    import("state_put", &[I32, I32, I32, I32, I64], I32),
    import("state_remove", &[I32, I32], I32),
    import("log", &[I32, I32, I32], I32),
];

/// The signature of the `ants_v1` import called `name`, if there is one.
pub fn import_named(name: &str) -> Option<&'static Import> {
    IMPORTS.iter().find(|i| i.name == name)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn import_names_are_unique() {
        for (i, a) in IMPORTS.iter().enumerate() {
            assert!(
                IMPORTS[i + 1..].iter().all(|b| b.name != a.name),
                "{} listed twice",
                a.name
            );
        }
    }

    #[test]
    fn status_codes_are_distinct_and_negative() {
        let codes = [
            status::BAD_POINTER,
            status::BAD_ARGUMENT,
            status::NOT_FOUND,
            status::NO_ROUTE,
            status::BUDGET_EXCEEDED,
            status::QUOTA_EXCEEDED,
            status::TOO_MANY_EFFECTS,
            status::RATE_LIMITED,
            status::UNKNOWN_NEIGHBOUR,
            status::TOO_LARGE,
            status::STORE_FULL,
        ];
        for (i, c) in codes.iter().enumerate() {
            assert_eq!(*c, -(i as i32) - 1, "codes are -1, -2, ... in order");
        }
    }

    #[test]
    fn lookup_by_name() {
        assert_eq!(import_named("node_time_ns").map(|i| i.result), Some(I64));
        assert_eq!(import_named("send").map(|i| i.params.len()), Some(6));
        assert!(import_named("fd_write").is_none());
    }
}
