//! The `ants topo` subcommands: argument types and what each command does. The binary
//! `ants-topo` only parses arguments and calls these.

pub mod configs;
pub mod demo;
pub mod emulate;
pub mod generate;
pub mod graph;
pub mod live;
pub mod netns;
pub mod scenario;
pub mod scenario_netns;
