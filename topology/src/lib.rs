//! Topology files: the network model, its file format, routes and pictures.
//!
//! One file describes a network (`docs/topology.md`); [`file`] reads and validates it into a
//! [`model::Topology`]; [`routes`] computes IP shortest paths and the active overlay and gives
//! each active node its configuration; [`graph`] draws it; [`capsules`] finds capsule modules
//! by name. The resolved network then runs in the emulator (crate `ants-emulator`), comes up
//! in namespaces (`ants-netns`), or runs a shipped capsule's scenario (`ants-scenarios`);
//! `ants topo` (crate `ants-topo`) is the command line over all of them. This crate runs
//! nothing and touches no file but the topology file it is given.

#![warn(missing_docs)]

pub mod capsules;
pub mod file;
pub mod graph;
pub mod model;
pub mod routes;

pub use model::{NodeId, NodeKind, Topology, TopologyBuilder, TopologyError};
pub use routes::Routes;
