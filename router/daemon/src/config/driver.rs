//! The driver's own bounds and sizes: [`DriverLimits`], its defaults, its minimums
//! ([`DriverLimits::validate`]) and its file form (the `[driver]` section).
//!
//! It lives with the configuration, which reads it, so that the configuration never needs the
//! driver; the driver only reads these values. Resolving `code_store` against the file's
//! directory is the parser's ([`super::Config::parse`]): here a path is kept as written.

use std::path::PathBuf;

use ants_router::limits::{Check, LimitError};
use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// Bounds and sizes of the driver itself (the node's own bounds are in
/// [`NodeConfig`](ants_router::node::NodeConfig)).
///
/// In the file, `code_store = ""` is `None` (compiled code in memory only).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct DriverLimits {
    /// Modules compiled at once on the blocking pool; at least 1.
    pub compile_workers: usize,
    /// Requested kernel receive buffer of the UDP socket, in bytes (0: system default).
    pub udp_recv_buffer: usize,
    /// Requested kernel send buffer of the UDP socket, in bytes (0: system default).
    pub udp_send_buffer: usize,
    /// Messages queued toward one application connection; deliveries beyond it are dropped
    /// and counted (`app_queue_full`). At least 1.
    pub app_queue: usize,
    /// Application connections open at once; more are refused. At least 1.
    pub max_app_connections: usize,
    /// Directory of the on-disk code store (`code_store.rs`); `None` keeps compiled code in
    /// memory only.
    #[serde(with = "code_store_path")]
    pub code_store: Option<PathBuf>,
    /// Bound of the code store, in bytes.
    pub code_store_max_bytes: u64,
}

impl Default for DriverLimits {
    fn default() -> Self {
        DriverLimits {
            compile_workers: 2,
            udp_recv_buffer: 4 * 1024 * 1024,
            udp_send_buffer: 4 * 1024 * 1024,
            app_queue: 8192,
            max_app_connections: 64,
            // Relative paths are taken from the configuration file's directory.
            code_store: Some(PathBuf::from("antsd-code")),
            code_store_max_bytes: 256 * 1024 * 1024,
        }
    }
}

impl DriverLimits {
    /// Refuses a driver that could compile nothing or serve no application.
    pub fn validate(&self) -> Result<(), LimitError> {
        Check::section("driver")
            .at_least("compile_workers", self.compile_workers, 1)?
            .at_least("app_queue", self.app_queue, 1)?
            .at_least("max_app_connections", self.max_app_connections, 1)?;
        Ok(())
    }
}

/// `code_store` in the file: a path, or `""` for none.
mod code_store_path {
    use super::*;

    pub fn serialize<S: Serializer>(path: &Option<PathBuf>, s: S) -> Result<S::Ok, S::Error> {
        match path {
            Some(p) => s.serialize_str(&p.to_string_lossy()),
            None => s.serialize_str(""),
        }
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<PathBuf>, D::Error> {
        let text = String::deserialize(d)?;
        Ok((!text.is_empty()).then(|| PathBuf::from(text)))
    }
}
