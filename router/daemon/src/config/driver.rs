//! The driver's own bounds and sizes: [`DriverLimits`].

/// Bounds and sizes of the driver itself (the node's own bounds are in
/// [`NodeConfig`](ants_router::node::NodeConfig)).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DriverLimits {
    /// Modules compiled at once on the blocking pool.
    pub compile_workers: usize,
    /// Requested kernel receive buffer of the UDP socket, in bytes (0: system default).
    pub udp_recv_buffer: usize,
    /// Requested kernel send buffer of the UDP socket, in bytes (0: system default).
    pub udp_send_buffer: usize,
    /// Messages queued toward one application connection; deliveries beyond it are dropped
    /// and counted (`app_queue_full`).
    pub app_queue: usize,
    /// Application connections open at once; more are refused.
    pub max_app_connections: usize,
    /// Directory of the on-disk code store (`code_store.rs`); `None` keeps compiled code in
    /// memory only.
    pub code_store: Option<std::path::PathBuf>,
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
            code_store: Some(std::path::PathBuf::from("antsd-code")),
            code_store_max_bytes: 256 * 1024 * 1024,
        }
    }
}
