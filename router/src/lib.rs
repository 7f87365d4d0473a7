//! The active node of the capsule router.
//!
//! Layers, bottom up (see `docs/architecture.md`):
//! - [`wire`]: checked zero-copy views and parsed forms of every datagram the node speaks.
//! - [`fingerprint`]: capsule type fingerprints (SHA-256 by default, MD5 as a legacy option).
//! - [`softstore`]: the bounded LRU code cache and the per-protocol state store.
//! - [`time`]: the node's notion of time, always passed in by the caller.
//! - [`routing`]: the routing table (next active hop) and the neighbour table with link load.
//! - [`sandbox`]: wasmtime configured for untrusted capsule code, and the node API it exposes.
//! - [`node`]: the active node's sans-IO core: capsule processing, demand loading, counters.
//! - [`harness`]: a scripted node to unit-test capsules against the real sandbox.
//! - [`limits`]: the error of a limit out of its bounds, shared by every limits type.
//! - [`text`]: line and column of a byte in a configuration text, and route prefixes.
//!
//! The daemon `antsd` around this library (configuration file, UDP driver, application socket)
//! is the crate `ants-daemon` in `router/daemon`. Nothing in this crate reads the system clock,
//! opens a socket or touches a file.

#![warn(missing_docs)]

pub mod fingerprint;
#[cfg(feature = "sandbox")]
pub mod harness;
pub mod ip_packet;
pub mod limits;
#[cfg(feature = "sandbox")]
pub mod node;
pub mod routing;
#[cfg(feature = "sandbox")]
pub mod sandbox;
pub mod softstore;
pub mod text;
pub mod time;
pub mod wire;
