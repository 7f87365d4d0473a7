//! The bounds of the soft-store's two caches: [`CodeCacheLimits`] and [`StateLimits`].
//!
//! Values only: the caches enforce them (`code_cache.rs`, `state_store.rs`).

use std::time::Duration;

#[cfg(doc)]
use super::{CodeCache, ENTRY_OVERHEAD, StateStore};

/// Bounds of a [`CodeCache`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CodeCacheLimits {
    /// Maximum total charge (module bytes plus declared compiled bytes) of all entries.
    pub max_bytes: usize,
    /// Maximum number of entries, pinned or not.
    pub max_entries: usize,
}

impl Default for CodeCacheLimits {
    /// 64 MiB and 1,024 entries: room for about a hundred 16 KiB modules with their compiled
    /// forms (each several times the module size) with ample headroom, while a flood of distinct
    /// tiny modules is stopped by the entry bound.
    fn default() -> Self {
        CodeCacheLimits {
            max_bytes: 64 * 1024 * 1024,
            max_entries: 1024,
        }
    }
}

/// Bounds of a [`StateStore`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct StateLimits {
    /// Longest key accepted, in bytes.
    pub max_key_len: usize,
    /// Longest value accepted, in bytes.
    pub max_value_len: usize,
    /// Most bytes (charged as key + value + [`ENTRY_OVERHEAD`]) one protocol may hold.
    pub per_protocol_bytes: usize,
    /// Most bytes all protocols together may hold.
    pub total_bytes: usize,
    /// Longest lifetime of an entry; longer ttls are clamped to it.
    pub max_ttl: Duration,
}

impl Default for StateLimits {
    /// 256 B keys, 4 KiB values, 64 KiB per protocol, 16 MiB in total, one hour of lifetime.
    fn default() -> Self {
        StateLimits {
            max_key_len: 64,
            max_value_len: 4096,
            per_protocol_bytes: 64 * 1024,
            total_bytes: 16 * 1024 * 1024,
            max_ttl: Duration::from_secs(3600),
        }
    }
}
