//! The soft-store: the node's bounded, self-cleaning memory for code and protocol state.
//!
//! Owns the two caches an active node keeps between capsules:
//! - [`CodeCache`]: capsule code keyed by its type
//!   [`Fingerprint`](crate::fingerprint::Fingerprint), with an optional compiled form attached
//!   by the sandbox layer, LRU-evicted under a byte and an entry bound, with pinning for the
//!   protocols the node itself originates.
//! - [`StateStore`]: per-protocol key/value state with expiry, partitioned by the protocol's
//!   fingerprint so one protocol can never read or evict another's state except through the
//!   documented fair-share rule.
//!
//! Both are sans-IO and deterministic: time is passed in as a
//! [`Timestamp`](crate::time::Timestamp), nothing here reads a clock, spawns work, logs or
//! compiles code. Every bound is enforced on insert; no input can make either structure grow
//! past its limits or panic. Callers log and count what the returned values and the `stats()`
//! counters report.

mod code_cache;
mod limits;
mod state_store;

pub use code_cache::{CodeCache, CodeCacheError, CodeCacheStats, CodeEntry};
pub use limits::{CodeCacheLimits, StateLimits};
pub use state_store::{ENTRY_OVERHEAD, StateError, StateStore, StateStoreStats};
