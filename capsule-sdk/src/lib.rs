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
//!
//! This reference is built by `make doc` (`target/doc/capsule_sdk/index.html`); the guide is
//! `capsule-sdk/README.md`, the node API it wraps `docs/node-api.md`. Every example here is a
//! doc test that runs on the host against [`testing::FakeNode`].
//!
//! # A capsule, and its test on the host
//!
//! ```
//! use capsule_sdk::prelude::*;
//! use capsule_sdk::testing::{FakeNode, Incoming};
//!
//! /// Plain unicast: deliver at the destination, forward anywhere else.
//! #[derive(Default)]
//! struct Forward;
//!
//! impl Capsule for Forward {
//!     fn evaluate(&mut self) -> Result<(), Error> {
//!         if capsule::destination()? == node::address()? {
//!             return deliver(1, &capsule::payload()?);
//!         }
//!         forward()
//!     }
//! }
//!
//! export_capsule!(Forward); // `ants_evaluate` on wasm32; nothing on the host
//!
//! let (src, me, next, dst) = (
//!     Address::from([1; 16]),
//!     Address::from([2; 16]),
//!     Address::from([3; 16]),
//!     Address::from([9; 16]),
//! );
//! let mut node = FakeNode::new(me)
//!     .route(dst, next)
//!     .with_capsule(Incoming::new(src, dst, 5, b"data"));
//! assert_eq!(node.evaluate::<Forward>(), 0); // the status `ants_evaluate` returns
//! assert_eq!(node.sends[0].next_hop, NextHop::Neighbour(next));
//! assert_eq!(node.sends[0].budget, 5);
//! ```
//!
//! # The node API at a glance
//!
//! | call | what it does | errors | fuel (§6.1) |
//! | --- | --- | --- | --- |
//! | [`capsule::budget`] | budget left after this hop | none | 0 |
//! | [`capsule::source`], [`destination`](capsule::destination), [`previous`](capsule::previous) | header addresses | – | 60 |
//! | [`capsule::payload`], [`payload_into`](capsule::payload_into), [`payload_as`](capsule::payload_as) | the payload (raw or postcard) | `Decode` (typed) | 30 + 1/8 B |
//! | [`capsule::fingerprint`] | the capsule type | – | 110 |
//! | [`node::address`] | this node | – | 60 |
//! | [`node::time_ns`] | node time, fixed per evaluation | none | 0 |
//! | [`node::next_hop`] | routed next hop toward an address | `NoRoute` | 100 + 10/prefix route |
//! | [`node::neighbours`], [`neighbours_into`](node::neighbours_into) | the neighbours, ascending | – | 130 + 25/neighbour per call |
//! | [`node::link_load`] | queue, drops and rates toward a neighbour | `UnknownNeighbour` | 120 + 2/neighbour |
//! | [`effects::Send`], [`send`](effects::send), [`forward`](effects::forward) .. | send capsules of this protocol | `BadArgument`, `TooLarge`, `TooManyEffects`, `BudgetExceeded`, `UnknownNeighbour`, `NoRoute` | 170 + route lookup + 1/8 B |
//! | [`effects::deliver`] | deliver to a local application | `TooLarge`, `TooManyEffects` | 70 + 1/8 B |
//! | [`state::get`], [`get_into`](state::get_into) | read soft state | `BadArgument`, `TooLarge` | 230 + 1/2 B |
//! | [`state::put`] | write soft state with a TTL | `BadArgument`, `TooLarge`, `QuotaExceeded`, `StoreFull` | 430 + 1/2 B |
//! | [`state::remove`] | remove an entry | `BadArgument`, `TooLarge` | 230 + 1/2 B |
//! | [`log::log`], [`log::Line`], [`error!`] .. | log through the node | `RateLimited` | 230 + 1/8 B |
//!
//! "–": only [`Error::OutOfFuel`], which any call that does work may return once the
//! evaluation's fuel (250,000 by default) is spent.
//!
//! # Features
//!
//! - `runtime` (default): on wasm32, the bump allocator and the panic handler (which logs
//!   `capsule panicked` and traps).
//! - `panic-location`: the panic handler adds the file and line.
//! - `panic-message`: it adds the panic message (`core::fmt`).
//!
//! Measured on the forward capsule: 3,447 bytes by default, 5,993 with `panic-location`,
//! 7,018 with both (see "Size" in the guide).

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
///
/// The [`Capsule`] trait and [`export_capsule!`]; [`Address`] and [`Error`]; the modules
/// [`capsule`], [`node`] and [`state`] (called as `capsule::payload()`, `node::address()`,
/// `state::get(..)`); every effect ([`Send`](crate::effects::Send), `send*`, `forward*`,
/// `deliver*`); [`NextHop`](crate::node::NextHop) and [`LinkLoad`](crate::node::LinkLoad);
/// and serde's `Serialize` and `Deserialize` derives (use them with
/// `#[serde(crate = "capsule_sdk::serde")]`). Logging is not in it: call
/// `capsule_sdk::log::Line` or the `capsule_sdk::error!` .. `trace!` macros by path.
///
/// ```
/// use capsule_sdk::prelude::*;
///
/// #[derive(Serialize, Deserialize)]
/// #[serde(crate = "capsule_sdk::serde")]
/// struct Msg {
///     to: Address,
/// }
///
/// #[derive(Default)]
/// struct Route;
///
/// impl Capsule for Route {
///     fn evaluate(&mut self) -> Result<(), Error> {
///         let msg: Msg = capsule::payload_as()?;
///         match node::next_hop(msg.to)? {
///             NextHop::Local => deliver_typed(1, &msg),
///             NextHop::Neighbour(_) => forward(),
///         }
///     }
/// }
///
/// export_capsule!(Route);
/// ```
pub mod prelude {
    pub use crate::effects::{
        Send, deliver, deliver_typed, forward, forward_typed, forward_with, send, send_typed,
    };
    pub use crate::node::{LinkLoad, NextHop};
    pub use crate::serde::{Deserialize, Serialize};
    pub use crate::{Address, Capsule, Error, capsule, export_capsule, node, state};
}
