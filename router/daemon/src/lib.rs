//! The capsule router daemon `antsd`, around the node library `ants_router`.
//!
//! - [`config`]: the `antsd` configuration file, read into the node's configuration types.
//! - [`driver`]: the tokio UDP driver that feeds the sans-IO node datagrams, time and compile
//!   results, and sends what it returns; the compile threads and the on-disk code store.
//! - [`app`]: the application socket, its messages and its client (used by `ants`).
//! - [`notify`]: readiness and watchdog notifications to the service manager (systemd).
//!
//! This crate owns every socket, file and clock of a running router; it never decides what a
//! capsule does (that is the node's), and never parses a datagram beyond handing it over.

#![warn(missing_docs)]

pub mod app;
pub mod config;
pub mod driver;
pub mod metrics;
pub mod new_capsule;
pub mod notify;
