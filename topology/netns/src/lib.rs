//! Bringing a topology up in Linux network namespaces (see `docs/namespaces.md`).
//!
//! One namespace per node, one veth pair per link, the node address on `lo`, kernel host
//! routes along the IP shortest paths, IP forwarding on every router, `tbf` rate limits where
//! links have a bandwidth, and an `antsd` with a generated configuration on every host and
//! active router. Legacy routers are plain Linux routers: nothing runs in them.
//!
//! [`plan`] computes all of that from the topology alone (pure, tested without root);
//! [`state`] is the record that lets `down` undo it even after a crash; [`apply`] runs the
//! commands and processes. Nothing here touches namespaces, interfaces, routes or processes
//! that are not the deployer's own.

pub mod apply;
pub mod plan;
pub mod state;

pub use apply::{NetnsError, Progress, UpOptions, UpReport};
pub use plan::{Plan, PlanError};
pub use state::State;

/// Directory under which each prefix's default state directory lives.
pub const STATE_ROOT: &str = "/run/ants-topo";
