//! Layer 3: the [`Capsule`] trait and the [`export_capsule!`](crate::export_capsule) macro.
//!
//! Owns the glue between the node's `ants_evaluate` export and a capsule author's `impl`
//! block. It must never keep anything across evaluations: each one starts from a rewound heap
//! and a fresh `Default` value.

use crate::Error;

/// A protocol: what every node does with a capsule of this type.
///
/// A fresh value is made with `Default` for every evaluation; fields are scratch space for
/// one evaluation only. State that must outlive it goes through [`crate::state`].
///
/// Implement it on a `Default` type, export it with [`export_capsule!`](crate::export_capsule),
/// and test it on the host with [`FakeNode::evaluate`](crate::testing::FakeNode::evaluate):
///
/// ```
/// use capsule_sdk::prelude::*;
/// use capsule_sdk::testing::{FakeNode, Incoming};
///
/// /// Unicast that refuses payloads over 8 bytes.
/// #[derive(Default)]
/// struct Small {
///     payload: Vec<u8>, // scratch for this evaluation only
/// }
///
/// impl Capsule for Small {
///     fn evaluate(&mut self) -> Result<(), Error> {
///         self.payload = capsule::payload()?;
///         if self.payload.len() > 8 {
///             return Err(Error::TooLarge);
///         }
///         if capsule::destination()? == node::address()? {
///             return deliver(1, &self.payload);
///         }
///         forward_with(&self.payload)
///     }
/// }
///
/// export_capsule!(Small);
///
/// let (me, next, dst) = (Address::from([2; 16]), Address::from([3; 16]), Address::from([9; 16]));
/// let mut node = FakeNode::new(me)
///     .route(dst, next)
///     .with_capsule(Incoming::new(me, dst, 2, b"short"));
/// assert_eq!(node.evaluate::<Small>(), 0);
/// assert_eq!(node.sends.len(), 1);
/// node.capsule.payload = b"far too long".to_vec();
/// assert_eq!(node.evaluate::<Small>(), Error::TooLarge.status());
/// assert!(!node.made_effect());
/// ```
pub trait Capsule: Default {
    /// Evaluates the current capsule on this node.
    ///
    /// `Ok(())` releases the effects (sends, deliveries) made during the call; if there were
    /// none, the node drops the capsule and counts it. `Err(e)` makes `ants_evaluate` return
    /// `e.status()`: the node discards the effects and counts the error. State changes made
    /// before an error are kept.
    fn evaluate(&mut self) -> Result<(), Error>;
}

/// Runs one evaluation of `C`: what `ants_evaluate` does. Returns the status for the node.
///
/// On wasm32 it first rewinds the heap; then it evaluates a fresh `C::default()` and turns
/// the result into a status: 0 for `Ok(())`, [`Error::status`] otherwise. Capsules do not
/// call it themselves: [`export_capsule!`](crate::export_capsule) and
/// [`FakeNode::evaluate`](crate::testing::FakeNode::evaluate) do.
///
/// ```
/// use capsule_sdk::prelude::*;
/// use capsule_sdk::testing::FakeNode;
///
/// #[derive(Default)]
/// struct Lost;
///
/// impl Capsule for Lost {
///     fn evaluate(&mut self) -> Result<(), Error> {
///         Err(Error::NoRoute)
///     }
/// }
///
/// let mut node = FakeNode::new(Address::from([2; 16]));
/// assert_eq!(node.run(capsule_sdk::export::run::<Lost>), -4);
/// ```
pub fn run<C: Capsule>() -> i32 {
    #[cfg(all(target_arch = "wasm32", feature = "runtime"))]
    // SAFETY: an evaluation is starting, so no heap data of the previous one is in use.
    unsafe {
        crate::runtime::reset_heap()
    };
    match C::default().evaluate() {
        Ok(()) => 0,
        Err(e) => e.status(),
    }
}

/// Exports a [`Capsule`] type as the module's `ants_evaluate` function.
///
/// Use it once per crate, at the top level. The export exists on wasm32 only: on the host the
/// macro expands to nothing, so tests, and host programs that link several capsule crates for
/// their payload types, never see clashing entry points.
///
/// ```
/// use capsule_sdk::prelude::*;
///
/// #[derive(Default)]
/// struct Forward;
///
/// impl Capsule for Forward {
///     fn evaluate(&mut self) -> Result<(), Error> {
///         forward()
///     }
/// }
///
/// export_capsule!(Forward);
///
/// // On the host, the fake node evaluates it as a node would.
/// use capsule_sdk::testing::{FakeNode, Incoming};
/// let (a, b) = (Address::from([1; 16]), Address::from([2; 16]));
/// let mut node = FakeNode::new(a)
///     .route(b, b)
///     .with_capsule(Incoming::new(a, b, 3, b"hi"));
/// assert_eq!(node.evaluate::<Forward>(), 0);
/// assert_eq!(node.sends[0].next_hop, NextHop::Neighbour(b));
/// ```
#[macro_export]
macro_rules! export_capsule {
    ($capsule:ty) => {
        /// Entry point the node calls once per capsule evaluation. Exported on wasm32 only,
        /// so a host program may link several capsule crates (for their payload types)
        /// without their entry points clashing.
        #[cfg(target_arch = "wasm32")]
        #[unsafe(no_mangle)]
        pub extern "C" fn ants_evaluate() -> i32 {
            $crate::export::run::<$capsule>()
        }
    };
}
