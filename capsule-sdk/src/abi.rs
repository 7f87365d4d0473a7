//! The numbers of the `ants_v1` node API: status codes, send flags, limits, import signatures.
//!
//! This module owns every constant that `docs/node-api.md` fixes, so the guest SDK and a host
//! implementation can share one source of truth. It holds data only: it must never call the
//! node or depend on the target architecture.
//!
//! A capsule author uses the limits (to size payloads and state, and in tests), [`LinkLoad`]
//! (re-exported as [`node::LinkLoad`](crate::node::LinkLoad)) and [`Level`] (re-exported as
//! [`log::Level`](crate::log::Level)); the rest serves host implementations and the SDK.
//!
//! ```
//! use capsule_sdk::abi::{MAX_PAYLOAD, MAX_SENDS};
//! use capsule_sdk::prelude::*;
//! use capsule_sdk::testing::{FakeNode, Incoming};
//!
//! let (me, next, dst) = (Address::from([2; 16]), Address::from([3; 16]), Address::from([9; 16]));
//! let mut node = FakeNode::new(me)
//!     .route(dst, next)
//!     .with_capsule(Incoming::new(me, dst, 100, b""));
//! node.run(|| {
//!     assert_eq!(send(dst, 1, &[0; MAX_PAYLOAD + 1]), Err(Error::TooLarge));
//!     for _ in 0..MAX_SENDS {
//!         send(dst, 1, b"").unwrap();
//!     }
//!     assert_eq!(send(dst, 1, b""), Err(Error::TooManyEffects));
//! });
//! ```

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

/// Largest payload of a sent capsule or of a delivery, in bytes; a longer one is
/// [`Error::TooLarge`](crate::Error::TooLarge). It keeps a capsule, header included, inside one
/// 1,500-byte Ethernet frame. See the module example.
pub const MAX_PAYLOAD: usize = 1200;
/// Sends allowed per evaluation; the next one is
/// [`Error::TooManyEffects`](crate::Error::TooManyEffects). See the module example.
pub const MAX_SENDS: usize = 64;
/// Deliveries allowed per evaluation; the next one is
/// [`Error::TooManyEffects`](crate::Error::TooManyEffects).
///
/// ```
/// use capsule_sdk::abi::MAX_DELIVERIES;
/// use capsule_sdk::prelude::*;
/// use capsule_sdk::testing::FakeNode;
///
/// let mut node = FakeNode::new(Address::from([2; 16]));
/// node.run(|| {
///     for port in 0..MAX_DELIVERIES as u16 {
///         deliver(port, b"").unwrap();
///     }
///     assert_eq!(deliver(99, b""), Err(Error::TooManyEffects));
/// });
/// ```
pub const MAX_DELIVERIES: usize = 16;
/// Largest state key, in bytes (keys are at least 1 byte). A longer key is
/// [`Error::TooLarge`](crate::Error::TooLarge), an empty one
/// [`Error::BadArgument`](crate::Error::BadArgument).
///
/// ```
/// use capsule_sdk::abi::MAX_KEY_LEN;
/// use capsule_sdk::prelude::*;
/// use capsule_sdk::testing::FakeNode;
/// use core::time::Duration;
///
/// let mut node = FakeNode::new(Address::from([2; 16]));
/// let ttl = Duration::from_secs(1);
/// node.run(|| {
///     assert_eq!(state::put(&[1; MAX_KEY_LEN], b"", ttl), Ok(()));
///     assert_eq!(state::put(&[1; MAX_KEY_LEN + 1], b"", ttl), Err(Error::TooLarge));
/// });
/// ```
pub const MAX_KEY_LEN: usize = 64;
/// Largest state value, in bytes; a longer one is [`Error::TooLarge`](crate::Error::TooLarge).
///
/// ```
/// use capsule_sdk::abi::MAX_VALUE_LEN;
/// use capsule_sdk::prelude::*;
/// use capsule_sdk::testing::FakeNode;
/// use core::time::Duration;
///
/// let mut node = FakeNode::new(Address::from([2; 16]));
/// let ttl = Duration::from_secs(1);
/// node.run(|| {
///     assert_eq!(state::put(b"k", &[0; MAX_VALUE_LEN], ttl), Ok(()));
///     assert_eq!(state::put(b"k", &[0; MAX_VALUE_LEN + 1], ttl), Err(Error::TooLarge));
/// });
/// ```
pub const MAX_VALUE_LEN: usize = 4096;
/// Bytes charged against the quota per state entry, on top of key and value lengths.
///
/// Many small entries cost more than one larger one: with a 16-byte key and a 4-byte value an
/// entry is charged 148 bytes, so the default 64 KiB quota holds 442 of them.
///
/// ```
/// use capsule_sdk::abi::{DEFAULT_STATE_QUOTA, STATE_ENTRY_OVERHEAD};
///
/// let per_entry = 16 + 4 + STATE_ENTRY_OVERHEAD;
/// assert_eq!(DEFAULT_STATE_QUOTA / per_entry, 442);
/// ```
pub const STATE_ENTRY_OVERHEAD: usize = 128;
/// Default state quota of one protocol, in charged bytes; a put beyond it is
/// [`Error::QuotaExceeded`](crate::Error::QuotaExceeded). An operator may configure another
/// quota; [`FakeNode::state_quota`](crate::testing::FakeNode::state_quota) sets it in tests.
pub const DEFAULT_STATE_QUOTA: usize = 64 * 1024;
/// Longest state TTL, in milliseconds (one hour). The shortest is 1 ms. Outside that range a
/// put is [`Error::BadArgument`](crate::Error::BadArgument).
///
/// ```
/// use capsule_sdk::prelude::*;
/// use capsule_sdk::testing::FakeNode;
/// use core::time::Duration;
///
/// let mut node = FakeNode::new(Address::from([2; 16]));
/// node.run(|| {
///     assert_eq!(state::put(b"k", b"", Duration::from_secs(3600)), Ok(()));
///     assert_eq!(state::put(b"k", b"", Duration::from_millis(3_600_001)), Err(Error::BadArgument));
/// });
/// ```
pub const MAX_TTL_MS: i64 = 3_600_000;
/// Longest log message kept, in bytes; longer messages are truncated (by the SDK on a
/// character boundary, by the node on a byte boundary for raw calls).
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
///
/// ```
/// use capsule_sdk::abi::{ValType, import_named};
///
/// let send = import_named("send").unwrap();
/// assert_eq!((send.params.len(), send.result), (6, ValType::I32));
/// assert!(import_named("fd_write").is_none());
/// ```
pub fn import_named(name: &str) -> Option<&'static Import> {
    IMPORTS.iter().find(|i| i.name == name)
}

/// Recent load of the link toward one neighbour (see `docs/node-api.md`, `link_load`).
///
/// Rates are over the node's last complete measurement window (100 ms on every driver, the
/// emulator and `antsd`), scaled to one second.
/// A node without a bounded queue toward that neighbour reports `queue_cap == 0`.
///
/// Read it with [`node::link_load`](crate::node::link_load); set it in host tests through
/// [`FakeNode::link_loads`](crate::testing::FakeNode::link_loads). In the emulator the fields
/// come from the link model; in `antsd`, from what the daemon sends to that neighbour and
/// loses on the way out (queue fields only with a configured `rate`).
///
/// ```
/// use capsule_sdk::prelude::*;
/// use capsule_sdk::testing::FakeNode;
///
/// let nb = Address::from([3; 16]);
/// let mut node = FakeNode::new(Address::from([2; 16])).neighbour(nb);
/// node.link_loads.insert(nb, LinkLoad { queue_len: 16, queue_cap: 64, drops_recent: 2, tx_pps: 800, tx_bytes_per_s: 400_000 });
/// let load = node.run(|| node::link_load(nb)).unwrap();
/// assert_eq!(load.occupancy_per_mille(), 250);
/// assert!(load.drops_recent > 0); // congested lately
/// ```
#[derive(Clone, Copy, PartialEq, Eq, Debug, Default)]
pub struct LinkLoad {
    /// Capsules waiting in the transmit queue.
    pub queue_len: u32,
    /// Capacity of the transmit queue in capsules (0: unknown or unbounded).
    pub queue_cap: u32,
    /// Capsules dropped on this link in the last window.
    pub drops_recent: u32,
    /// Capsules transmitted per second.
    pub tx_pps: u32,
    /// Bytes transmitted per second.
    pub tx_bytes_per_s: u64,
}

impl LinkLoad {
    /// Parses the 24-byte little-endian record `link_load` writes.
    ///
    /// ```
    /// use capsule_sdk::node::LinkLoad;
    ///
    /// let mut b = [0; 24];
    /// b[0] = 5; // queue_len
    /// b[4] = 10; // queue_cap
    /// let l = LinkLoad::from_le_bytes(&b);
    /// assert_eq!((l.queue_len, l.queue_cap, l.tx_bytes_per_s), (5, 10, 0));
    /// assert_eq!(LinkLoad::from_le_bytes(&l.to_le_bytes()), l);
    /// ```
    pub fn from_le_bytes(b: &[u8; LINK_LOAD_LEN]) -> Self {
        let u32_at = |i: usize| u32::from_le_bytes([b[i], b[i + 1], b[i + 2], b[i + 3]]);
        let mut rate = [0; 8];
        rate.copy_from_slice(&b[16..24]);
        LinkLoad {
            queue_len: u32_at(0),
            queue_cap: u32_at(4),
            drops_recent: u32_at(8),
            tx_pps: u32_at(12),
            tx_bytes_per_s: u64::from_le_bytes(rate),
        }
    }

    /// The 24-byte little-endian record, as the node writes it.
    ///
    /// ```
    /// use capsule_sdk::node::LinkLoad;
    ///
    /// let l = LinkLoad { tx_pps: 1, ..LinkLoad::default() };
    /// assert_eq!(l.to_le_bytes()[12..16], [1, 0, 0, 0]);
    /// ```
    pub fn to_le_bytes(&self) -> [u8; LINK_LOAD_LEN] {
        let mut b = [0; LINK_LOAD_LEN];
        b[0..4].copy_from_slice(&self.queue_len.to_le_bytes());
        b[4..8].copy_from_slice(&self.queue_cap.to_le_bytes());
        b[8..12].copy_from_slice(&self.drops_recent.to_le_bytes());
        b[12..16].copy_from_slice(&self.tx_pps.to_le_bytes());
        b[16..24].copy_from_slice(&self.tx_bytes_per_s.to_le_bytes());
        b
    }

    /// Queue occupancy in per mille (0 when the capacity is unknown).
    ///
    /// Capped at 1000 (a queue reported fuller than its capacity).
    ///
    /// ```
    /// use capsule_sdk::node::LinkLoad;
    ///
    /// let mut l = LinkLoad { queue_len: 50, queue_cap: 200, ..LinkLoad::default() };
    /// assert_eq!(l.occupancy_per_mille(), 250);
    /// l.queue_len = 900;
    /// assert_eq!(l.occupancy_per_mille(), 1000);
    /// l.queue_cap = 0; // unknown or unbounded
    /// assert_eq!(l.occupancy_per_mille(), 0);
    /// ```
    pub fn occupancy_per_mille(&self) -> u32 {
        match self.queue_cap {
            0 => 0,
            cap => (u64::from(self.queue_len) * 1000 / u64::from(cap)).min(1000) as u32,
        }
    }
}

/// Severity of a log message; the number is the `level` argument of the `log` import.
///
/// Ordered from the most severe: `Level::Error < Level::Trace`. Re-exported as
/// [`log::Level`](crate::log::Level); [`log::Line`](crate::log::Line), [`log::log`](crate::log::log)
/// and the macros take it.
///
/// ```
/// use capsule_sdk::log::{Level, Line};
/// use capsule_sdk::prelude::*;
/// use capsule_sdk::testing::FakeNode;
///
/// assert!(Level::Error < Level::Warn);
/// assert_eq!(Level::Debug as i32, 3);
/// let mut node = FakeNode::new(Address::from([2; 16]));
/// node.run(|| Line::new(Level::Warn).text("w").send()).unwrap();
/// assert_eq!(node.logs[0].level, Level::Warn as i32);
/// ```
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Debug)]
#[repr(i32)]
pub enum Level {
    /// Something failed.
    Error = 0,
    /// Something is wrong but evaluation went on.
    Warn = 1,
    /// Notable events.
    Info = 2,
    /// Detail for debugging a protocol.
    Debug = 3,
    /// Very detailed tracing.
    Trace = 4,
}

impl Level {
    /// The level a `log` call's `level` argument names, if any (the node answers
    /// `BAD_ARGUMENT` to any other number).
    ///
    /// ```
    /// use capsule_sdk::log::Level;
    ///
    /// assert_eq!(Level::from_i32(0), Some(Level::Error));
    /// assert_eq!(Level::from_i32(4), Some(Level::Trace));
    /// assert_eq!(Level::from_i32(5), None);
    /// ```
    pub fn from_i32(level: i32) -> Option<Level> {
        Some(match level {
            0 => Level::Error,
            1 => Level::Warn,
            2 => Level::Info,
            3 => Level::Debug,
            4 => Level::Trace,
            _ => return None,
        })
    }
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
