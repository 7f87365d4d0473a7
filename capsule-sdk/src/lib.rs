//! The capsule SDK: write active-network capsules in Rust, build them to
//! `wasm32-unknown-unknown`, and the router runs them against the `ants_v1` node API
//! (`docs/node-api.md`).
//!
//! Three layers, bottom up:
//! 1. [`sys`]: the raw imports, exactly as the ABI document lists them.
//! 2. Safe wrappers returning `Result<_, Error>`: [`capsule`] (read the capsule), [`node`]
//!    (address, time, routes, neighbours, link load), [`effects`] (send, forward, deliver),
//!    [`state`] (this protocol's soft state), [`log`](mod@log); plus [`Address`], postcard
//!    helpers for typed payloads and [`flood`] (rounds and neighbour floods).
//! 3. The [`Capsule`] trait and [`export_capsule!`], so a protocol is one `impl` block.
//!
//! On wasm32 (feature `runtime`, on by default) the crate also provides the global allocator
//! (a bump heap rewound before every evaluation: heap data never survives one) and a panic
//! handler that logs through the node and traps. On other targets [`sys`] is served by
//! `testing::FakeNode`, so capsule logic can be unit-tested on the host.
//!
//! The crate only ever talks to the node through [`sys`]; it never assumes anything survives
//! between evaluations except what [`state`] stores.

#![no_std]
#![warn(missing_docs)]

extern crate alloc;

pub mod abi;
mod address;
pub mod bump;
pub mod capsule;
pub mod effects;
mod error;
pub mod export;
pub mod flood;
pub mod log;
pub mod node;
#[cfg(all(target_arch = "wasm32", feature = "runtime"))]
mod runtime;
pub mod state;
pub mod sys;
#[cfg(not(target_arch = "wasm32"))]
pub mod testing;

pub use address::Address;
pub use error::{DECODE_STATUS, ENCODE_STATUS, Error};
pub use export::Capsule;
pub use postcard;
pub use serde;

/// Everything a typical capsule uses, for `use capsule_sdk::prelude::*;`.
pub mod prelude {
    pub use crate::effects::{
        Send, deliver, deliver_typed, forward, forward_typed, forward_with, send, send_typed,
    };
    pub use crate::node::{LinkLoad, NextHop};
    pub use crate::serde::{Deserialize, Serialize};
    pub use crate::{Address, Capsule, Error, capsule, export_capsule, node, state};
}
