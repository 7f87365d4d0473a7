//! Layer 1: the raw `ants_v1` imports, one function per import, exactly as `docs/node-api.md`
//! specifies them.
//!
//! On wasm32 these are `extern "C"` imports from module `ants_v1`. On every other target the
//! same functions, with the same signatures, are served by the thread-local fake node of
//! `crate::testing`, so the crate builds on the host and capsule logic can be unit-tested
//! there. This module must never add behaviour: safe wrappers live in the modules above it.
//!
//! Pointers are linear-memory addresses (`i32` in the wasm signature), lengths are `usize`
//! (`i32` on wasm32). Every function returns a status: `>= 0` success, negative an error code
//! from [`crate::abi::status`].

#[cfg(target_arch = "wasm32")]
pub use self::wasm::*;

#[cfg(not(target_arch = "wasm32"))]
pub use crate::testing::sys::*;

#[cfg(target_arch = "wasm32")]
mod wasm {
    #[link(wasm_import_module = "ants_v1")]
    unsafe extern "C" {
        /// Remaining budget of the capsule being evaluated (after this hop's charge).
        pub safe fn capsule_budget() -> i32;
        /// Writes the capsule's source address (16 bytes) at `out`; returns 16.
        pub fn capsule_source(out: *mut u8) -> i32;
        /// Writes the capsule's destination address (16 bytes) at `out`; returns 16.
        pub fn capsule_destination(out: *mut u8) -> i32;
        /// Writes the previous active node's address (16 bytes) at `out`; returns 16.
        pub fn capsule_previous(out: *mut u8) -> i32;
        /// Length of the capsule's payload in bytes.
        pub safe fn capsule_payload_len() -> i32;
        /// Copies `min(len, cap)` payload bytes to `out`; returns the full length.
        pub fn capsule_payload(out: *mut u8, cap: usize) -> i32;
        /// Writes the 32-byte (zero-padded) type fingerprint at `out`; returns the digest length.
        pub fn capsule_fingerprint(out: *mut u8) -> i32;
        /// Writes this node's address (16 bytes) at `out`; returns 16.
        pub fn node_address(out: *mut u8) -> i32;
        /// Node time in nanoseconds, fixed for the whole evaluation.
        pub safe fn node_time_ns() -> i64;
        /// Next active hop toward the 16-byte address at `dst`, written at `out`:
        /// returns 0 (local) or 1 (neighbour), or `NO_ROUTE`.
        pub fn route_next_hop(dst: *const u8, out: *mut u8) -> i32;
        /// Writes up to `cap_entries` neighbour addresses at `out`; returns the total count.
        pub fn neighbours(out: *mut u8, cap_entries: usize) -> i32;
        /// Writes the 24-byte link-load record of `neighbour` at `out`; returns 24.
        pub fn link_load(neighbour: *const u8, out: *mut u8) -> i32;
        /// Sends a capsule of the current protocol; returns the budget still available.
        pub fn send(
            dst: *const u8,
            via: *const u8,
            budget: i32,
            flags: i32,
            payload: *const u8,
            payload_len: usize,
        ) -> i32;
        /// Delivers `payload` to the local application bound to `port`; returns 0.
        pub fn deliver(port: i32, payload: *const u8, payload_len: usize) -> i32;
        /// Copies `min(len, cap)` bytes of the value under `key`; returns the value length.
        pub fn state_get(key: *const u8, key_len: usize, out: *mut u8, cap: usize) -> i32;
        /// Stores `value` under `key` for `ttl_ms` milliseconds; returns 0.
        pub fn state_put(
            key: *const u8,
            key_len: usize,
            value: *const u8,
            value_len: usize,
            ttl_ms: i64,
        ) -> i32;
        /// Removes the entry under `key`; returns 0, or `NOT_FOUND`.
        pub fn state_remove(key: *const u8, key_len: usize) -> i32;
        /// Logs `msg` (UTF-8, truncated to 256 bytes) at `level` 0..=4; returns 0.
        pub fn log(level: i32, msg: *const u8, msg_len: usize) -> i32;
    }
}
