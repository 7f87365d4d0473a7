//! The bounds of the soft-store's two caches: [`CodeCacheLimits`] and [`StateLimits`].
//!
//! Each type owns its defaults, its minimums ([`CodeCacheLimits::validate`],
//! [`StateLimits::validate`]) and its file form (the `[code_cache]` and `[state]` sections of
//! `antsd`'s configuration, durations in milliseconds). Values only: the caches enforce them
//! (`code_cache/`, `state_store/`) and must never read them from anywhere else.

use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::limits::{Check, LimitError};

#[cfg(doc)]
use super::{CodeCache, ENTRY_OVERHEAD, StateStore};

/// Bounds of a [`CodeCache`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct CodeCacheLimits {
    /// Maximum total charge (module bytes plus declared compiled bytes) of all entries; at
    /// least 1,024.
    pub max_bytes: usize,
    /// Maximum number of entries, pinned or not; at least 1.
    pub max_entries: usize,
}

impl CodeCacheLimits {
    /// Refuses bounds that would leave no room for any protocol.
    pub fn validate(&self) -> Result<(), LimitError> {
        Check::section("code_cache")
            .at_least("max_bytes", self.max_bytes, 1024)?
            .at_least("max_entries", self.max_entries, 1)?;
        Ok(())
    }
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
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct StateLimits {
    /// Longest key accepted, in bytes; at least 1.
    pub max_key_len: usize,
    /// Longest value accepted, in bytes.
    pub max_value_len: usize,
    /// Most bytes (charged as key + value + [`ENTRY_OVERHEAD`]) one protocol may hold.
    pub per_protocol_bytes: usize,
    /// Most bytes all protocols together may hold.
    pub total_bytes: usize,
    /// Longest lifetime of an entry; longer ttls are clamped to it. At least 1 ms; written
    /// `max_ttl_ms`.
    #[serde(rename = "max_ttl_ms", with = "crate::limits::millis")]
    pub max_ttl: Duration,
}

impl StateLimits {
    /// Refuses bounds under which no state could ever be kept. Zero value, per-protocol and
    /// total bytes are allowed: they turn protocol state off.
    pub fn validate(&self) -> Result<(), LimitError> {
        Check::section("state")
            .at_least("max_key_len", self.max_key_len, 1)?
            .millis_at_least("max_ttl_ms", self.max_ttl, 1)?;
        Ok(())
    }
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::limits::Bound;

    #[test]
    fn defaults_are_valid_and_minimums_are_named() {
        CodeCacheLimits::default().validate().unwrap();
        StateLimits::default().validate().unwrap();
        let e = CodeCacheLimits {
            max_bytes: 1023,
            ..CodeCacheLimits::default()
        }
        .validate()
        .unwrap_err();
        assert_eq!(
            (e.path(), e.value, e.bound),
            (
                "code_cache.max_bytes".to_string(),
                1023,
                Bound::AtLeast(1024)
            )
        );
        let e = StateLimits {
            max_ttl: Duration::ZERO,
            ..StateLimits::default()
        }
        .validate()
        .unwrap_err();
        assert_eq!(e.path(), "state.max_ttl_ms");
    }
}
