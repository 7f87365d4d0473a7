//! Topology files, the in-process network emulator, the namespace deployer and pictures.
//!
//! One file describes a network (`docs/topology.md`); [`file`] reads and validates it into a
//! [`model::Topology`]; [`routes`] computes IP shortest paths and the active overlay; the same
//! resolved network then runs in the deterministic, virtual-time [`emulator`] (real node cores
//! and sandboxes, legacy routers that only forward IP), comes up in Linux network namespaces
//! with real `antsd` daemons and kernel routers ([`netns`]), or is drawn ([`graph`]).
//! The `ants-topo` binary (run as `ants topo ...`) is a thin front end over [`cli`].

#![warn(missing_docs)]

pub mod capsules;
pub mod cli;
pub mod emulator;
pub mod file;
pub mod graph;
pub mod model;
pub mod netns;
pub mod routes;
pub mod scenarios;

pub use model::{NodeId, NodeKind, Topology, TopologyBuilder, TopologyError};
pub use routes::Routes;
