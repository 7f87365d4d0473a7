//! Layer 2: the effects of an evaluation: sending capsules of this protocol and delivering to
//! local applications.
//!
//! Owns the safe wrappers over `send` and `deliver`. Effects are buffered by the node and
//! released only when `ants_evaluate` returns 0; this module must never try to bypass that
//! (for example by retrying a failed send with a larger budget).
//!
//! The rules (`docs/node-api.md` §4.3 and §7):
//! - **All or nothing.** Sends and deliveries are released, in call order, only if
//!   [`Capsule::evaluate`](crate::Capsule::evaluate) returns `Ok(())`; an error or a trap
//!   discards all of them. `Ok(())` with none drops the capsule on purpose (`no_effect`).
//! - **Budget.** Every sent capsule carries at least 1; all the sends of one evaluation
//!   together carry at most [`capsule::budget`]. Split it, never increase it.
//! - **Caps.** At most [`MAX_SENDS`](crate::abi::MAX_SENDS) (64) sends and
//!   [`MAX_DELIVERIES`](crate::abi::MAX_DELIVERIES) (16) deliveries per evaluation, payloads of
//!   at most [`MAX_PAYLOAD`] (1,200) bytes.
//! - **Same protocol.** Every sent capsule has the current capsule's type.
//!
//! Costs, in fuel (§6.1): a send 170, plus the route lookup (10 per prefix route of the node,
//! or 2 per neighbour with [`Send::via`]), plus 1 per 8 payload bytes; a delivery 70 plus 1
//! per 8 payload bytes.
//!
//! ```
//! use capsule_sdk::prelude::*;
//! use capsule_sdk::testing::{FakeNode, Incoming};
//!
//! /// Delivers at the destination, forwards elsewhere.
//! #[derive(Default)]
//! struct Unicast;
//!
//! impl Capsule for Unicast {
//!     fn evaluate(&mut self) -> Result<(), Error> {
//!         if capsule::destination()? == node::address()? {
//!             return deliver(1, &capsule::payload()?);
//!         }
//!         forward()
//!     }
//! }
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
//! assert_eq!(node.evaluate::<Unicast>(), 0);
//! assert_eq!(node.sends[0].next_hop, NextHop::Neighbour(next));
//! assert_eq!(node.sends[0].budget, 5);
//!
//! node.address = dst; // now at the destination
//! assert_eq!(node.evaluate::<Unicast>(), 0);
//! assert_eq!((node.deliveries[0].port, &node.deliveries[0].payload[..]), (1, &b"data"[..]));
//! ```

use alloc::vec::Vec;

use serde::Serialize;

use crate::abi::{MAX_PAYLOAD, SEND_SOURCE_SELF, SEND_VIA_NEIGHBOUR};
use crate::{Address, Error, capsule, sys};

/// A capsule of the current protocol about to be sent. Build it with [`Send::to`], adjust
/// it, then send it with [`Send::bytes`] or [`Send::typed`].
///
/// | option | effect | default |
/// | --- | --- | --- |
/// | [`Send::to`]`(dst, budget)` | header destination and budget | (required) |
/// | [`.via(neighbour)`](Send::via) | transmit to this neighbour, whatever the route toward `dst` | the routed next hop toward `dst` |
/// | [`.source_self()`](Send::source_self) | this node becomes the header source | the current capsule's source |
///
/// The new capsule's previous node is always this node, and its type the current capsule's.
/// A capsule sent to this node's own address (without `via`) is looped back: evaluated here
/// again as a new arrival after this evaluation succeeds.
///
/// ```
/// use capsule_sdk::prelude::*;
/// use capsule_sdk::testing::{FakeNode, Incoming};
///
/// let (src, me, left, right, dst) = (
///     Address::from([1; 16]),
///     Address::from([2; 16]),
///     Address::from([3; 16]),
///     Address::from([4; 16]),
///     Address::from([9; 16]),
/// );
/// let mut node = FakeNode::new(me)
///     .route(dst, left)
///     .neighbour(right)
///     .with_capsule(Incoming::new(src, dst, 10, b""));
/// node.run(|| {
///     // Routed toward dst, keeping the capsule's source: 10 - 4 = 6 left.
///     assert_eq!(Send::to(dst, 4).bytes(b"a"), Ok(6));
///     // Through a chosen neighbour, whatever the route says.
///     assert_eq!(Send::to(dst, 4).via(right).bytes(b"b"), Ok(2));
///     // A reply: this node is the source.
///     assert_eq!(Send::to(src, 2).via(left).source_self().bytes(b"c"), Ok(0));
///     // Nothing left to split.
///     assert_eq!(Send::to(dst, 1).bytes(b"d"), Err(Error::BudgetExceeded));
/// });
/// let s = &node.sends;
/// assert_eq!((s[0].next_hop, s[0].source, s[0].budget), (NextHop::Neighbour(left), src, 4));
/// assert_eq!((s[1].next_hop, s[1].source, s[1].budget), (NextHop::Neighbour(right), src, 4));
/// assert_eq!((s[2].destination, s[2].source, s[2].budget), (src, me, 2));
/// ```
#[derive(Clone, Copy, Debug)]
#[must_use = "nothing is sent until `bytes` or `typed` is called"]
pub struct Send {
    dst: Address,
    budget: u32,
    via: Option<Address>,
    source_self: bool,
}

impl Send {
    /// A capsule for `dst` carrying `budget` (at least 1; all sends of one evaluation together
    /// may carry at most [`capsule::budget`]). It is routed toward `dst` and keeps the current
    /// capsule's source.
    ///
    /// Nothing is checked or sent yet: the builder is a plain value until [`Send::bytes`] or
    /// [`Send::typed`].
    ///
    /// ```
    /// use capsule_sdk::prelude::*;
    /// use capsule_sdk::testing::{FakeNode, Incoming};
    ///
    /// let (me, next, dst) = (Address::from([2; 16]), Address::from([3; 16]), Address::from([9; 16]));
    /// let mut node = FakeNode::new(me)
    ///     .route(dst, next)
    ///     .with_capsule(Incoming::new(me, dst, 3, b""));
    /// node.run(|| {
    ///     assert_eq!(Send::to(dst, 0).bytes(b"x"), Err(Error::BadArgument)); // at least 1
    ///     assert_eq!(Send::to(dst, 3).bytes(b"x"), Ok(0));
    /// });
    /// assert_eq!(node.sends[0].destination, dst);
    /// ```
    pub fn to(dst: Address, budget: u32) -> Send {
        Send {
            dst,
            budget,
            via: None,
            source_self: false,
        }
    }

    /// Sends it to the neighbour `neighbour` instead of the routed next hop.
    ///
    /// The header destination stays `dst`; only the first hop is chosen. The send then fails
    /// with [`Error::UnknownNeighbour`] if `neighbour` is not one of
    /// [`node::neighbours`](crate::node::neighbours), and never with [`Error::NoRoute`]. The
    /// route lookup costs 2 fuel per neighbour instead of the routing table's.
    ///
    /// ```
    /// use capsule_sdk::prelude::*;
    /// use capsule_sdk::testing::{FakeNode, Incoming};
    ///
    /// let (me, n, stranger, dst) = (
    ///     Address::from([2; 16]),
    ///     Address::from([3; 16]),
    ///     Address::from([7; 16]),
    ///     Address::from([9; 16]),
    /// );
    /// // No route toward dst at all: `via` does not need one.
    /// let mut node = FakeNode::new(me)
    ///     .neighbour(n)
    ///     .with_capsule(Incoming::new(me, dst, 2, b""));
    /// node.run(|| {
    ///     assert_eq!(Send::to(dst, 1).bytes(b""), Err(Error::NoRoute));
    ///     assert_eq!(Send::to(dst, 1).via(stranger).bytes(b""), Err(Error::UnknownNeighbour));
    ///     assert_eq!(Send::to(dst, 1).via(n).bytes(b""), Ok(1));
    /// });
    /// assert_eq!(node.sends[0].next_hop, NextHop::Neighbour(n));
    /// assert_eq!(node.sends[0].destination, dst);
    /// ```
    pub fn via(mut self, neighbour: Address) -> Send {
        self.via = Some(neighbour);
        self
    }

    /// Makes this node the new capsule's source (for replies and node-originated capsules).
    ///
    /// Without it a sent capsule keeps the current capsule's source, as a forward does.
    ///
    /// ```
    /// use capsule_sdk::prelude::*;
    /// use capsule_sdk::testing::{FakeNode, Incoming};
    ///
    /// /// Answers every capsule with a copy of its payload sent back to its source.
    /// #[derive(Default)]
    /// struct Echo;
    ///
    /// impl Capsule for Echo {
    ///     fn evaluate(&mut self) -> Result<(), Error> {
    ///         Send::to(capsule::source()?, capsule::budget())
    ///             .source_self()
    ///             .bytes(&capsule::payload()?)?;
    ///         Ok(())
    ///     }
    /// }
    ///
    /// let (src, me, back) = (Address::from([1; 16]), Address::from([2; 16]), Address::from([3; 16]));
    /// let mut node = FakeNode::new(me)
    ///     .route(src, back)
    ///     .with_capsule(Incoming::new(src, me, 4, b"ping"));
    /// assert_eq!(node.evaluate::<Echo>(), 0);
    /// let reply = &node.sends[0];
    /// assert_eq!((reply.source, reply.destination, reply.budget), (me, src, 4));
    /// ```
    pub fn source_self(mut self) -> Send {
        self.source_self = true;
        self
    }

    /// Sends it with `payload`; returns the budget still available to further sends.
    ///
    /// The capsule is transmitted only if the evaluation then returns `Ok(())`.
    ///
    /// Errors, in the node's check order: [`Error::BadArgument`] if the budget is 0;
    /// [`Error::TooLarge`] if `payload` is over [`MAX_PAYLOAD`] (1,200) bytes;
    /// [`Error::TooManyEffects`] after 64 sends in this evaluation; [`Error::BudgetExceeded`]
    /// if this budget and the earlier sends' add up to more than [`capsule::budget`] (also for
    /// a budget above `i32::MAX`, without calling the node); with [`via`](Send::via),
    /// [`Error::UnknownNeighbour`]; without it, [`Error::NoRoute`]; and
    /// [`Error::OutOfFuel`]. A failed send sends nothing and spends no budget.
    ///
    /// Cost: 170 fuel, plus the route lookup (10 per prefix route, or 2 per neighbour with
    /// `via`), plus 1 per 8 payload bytes.
    ///
    /// ```
    /// use capsule_sdk::abi::MAX_PAYLOAD;
    /// use capsule_sdk::prelude::*;
    /// use capsule_sdk::testing::{FakeNode, Incoming};
    ///
    /// let (me, next, dst) = (Address::from([2; 16]), Address::from([3; 16]), Address::from([9; 16]));
    /// let mut node = FakeNode::new(me)
    ///     .route(dst, next)
    ///     .with_capsule(Incoming::new(me, dst, 5, b""));
    /// node.run(|| {
    ///     assert_eq!(Send::to(dst, 2).bytes(&[0; MAX_PAYLOAD + 1]), Err(Error::TooLarge));
    ///     assert_eq!(Send::to(dst, 2).bytes(&[0; MAX_PAYLOAD]), Ok(3));
    ///     assert_eq!(Send::to(dst, 4).bytes(b""), Err(Error::BudgetExceeded));
    ///     assert_eq!(Send::to(Address::from([8; 16]), 1).bytes(b""), Err(Error::NoRoute));
    /// });
    /// assert_eq!(node.sends.len(), 1);
    /// ```
    pub fn bytes(self, payload: &[u8]) -> Result<u32, Error> {
        // A budget beyond i32 can never fit in what is left; say so without a call.
        let budget = i32::try_from(self.budget).map_err(|_| Error::BudgetExceeded)?;
        let mut flags = 0;
        if self.via.is_some() {
            flags |= SEND_VIA_NEIGHBOUR;
        }
        if self.source_self {
            flags |= SEND_SOURCE_SELF;
        }
        let via = self.via.unwrap_or(Address::UNSPECIFIED);
        // SAFETY: `dst` and `via` are 16 readable bytes each; `payload` is readable.
        let left = unsafe {
            sys::send(
                self.dst.0.as_ptr(),
                via.0.as_ptr(),
                budget,
                flags,
                payload.as_ptr(),
                payload.len(),
            )
        };
        Error::check(left)
    }

    /// Sends it with `value` encoded by postcard as payload; returns the budget still
    /// available to further sends.
    ///
    /// Errors: [`Error::Encode`] if `value` cannot be encoded, [`Error::TooLarge`] if it
    /// encodes to more than [`MAX_PAYLOAD`] bytes, then those of [`Send::bytes`].
    ///
    /// ```
    /// use capsule_sdk::prelude::*;
    /// use capsule_sdk::testing::{FakeNode, Incoming};
    ///
    /// let (me, next, dst) = (Address::from([2; 16]), Address::from([3; 16]), Address::from([9; 16]));
    /// let mut node = FakeNode::new(me)
    ///     .route(dst, next)
    ///     .with_capsule(Incoming::new(me, dst, 5, b""));
    /// node.run(|| Send::to(dst, 5).typed(&(7u8, 300u16))).unwrap();
    /// assert_eq!(node.sends[0].payload, [7, 0xac, 0x02]); // postcard: u16 as a varint
    /// let back: (u8, u16) = capsule_sdk::postcard::from_bytes(&node.sends[0].payload).unwrap();
    /// assert_eq!(back, (7, 300));
    /// ```
    pub fn typed<T: Serialize + ?Sized>(self, value: &T) -> Result<u32, Error> {
        self.bytes(&encode(value, MAX_PAYLOAD)?)
    }
}

/// Encodes `value` with postcard; [`Error::TooLarge`] if it takes more than `limit` bytes,
/// [`Error::Encode`] if it cannot be encoded. Pure computation: no node call.
///
/// The typed sends, deliveries and state writes use it with their limits
/// ([`MAX_PAYLOAD`], [`MAX_VALUE_LEN`](crate::abi::MAX_VALUE_LEN)).
///
/// ```
/// use capsule_sdk::Error;
/// use capsule_sdk::effects::encode;
///
/// assert_eq!(encode(&(1u8, 300u16), 3).as_deref(), Ok(&[1, 0xac, 0x02][..]));
/// assert_eq!(encode(&[7u8; 10][..], 4), Err(Error::TooLarge));
/// ```
pub fn encode<T: Serialize + ?Sized>(value: &T, limit: usize) -> Result<Vec<u8>, Error> {
    // Growing the newest heap block happens in place, so this costs no copies.
    let bytes = postcard::to_allocvec(value).map_err(|_| Error::Encode)?;
    if bytes.len() > limit {
        return Err(Error::TooLarge);
    }
    Ok(bytes)
}

/// Sends `payload` toward `dst` with `budget`; returns the budget still available.
///
/// Short for [`Send::to`]`(dst, budget).`[`bytes`](Send::bytes)`(payload)`: routed, keeping
/// the capsule's source. Errors and cost: those of [`Send::bytes`].
///
/// ```
/// use capsule_sdk::prelude::*;
/// use capsule_sdk::testing::{FakeNode, Incoming};
///
/// /// Sends one copy to each of two destinations, splitting the budget.
/// #[derive(Default)]
/// struct Twice;
///
/// impl Capsule for Twice {
///     fn evaluate(&mut self) -> Result<(), Error> {
///         let half = capsule::budget() / 2;
///         let left = send(Address::from([8; 16]), half, b"one")?;
///         send(Address::from([9; 16]), left, b"two")?;
///         Ok(())
///     }
/// }
///
/// let (me, next) = (Address::from([2; 16]), Address::from([3; 16]));
/// let mut node = FakeNode::new(me)
///     .route(Address::from([8; 16]), next)
///     .route(Address::from([9; 16]), next)
///     .with_capsule(Incoming::new(me, me, 9, b""));
/// assert_eq!(node.evaluate::<Twice>(), 0);
/// let budgets: Vec<u32> = node.sends.iter().map(|s| s.budget).collect();
/// assert_eq!(budgets, [4, 5]);
/// ```
pub fn send(dst: Address, budget: u32, payload: &[u8]) -> Result<u32, Error> {
    Send::to(dst, budget).bytes(payload)
}

/// Sends `value` (postcard) toward `dst` with `budget`; returns the budget still available.
///
/// Short for [`Send::to`]`(dst, budget).`[`typed`](Send::typed)`(value)`. Errors:
/// [`Error::Encode`], [`Error::TooLarge`] and those of [`Send::bytes`].
///
/// ```
/// use capsule_sdk::prelude::*;
/// use capsule_sdk::testing::{FakeNode, Incoming};
///
/// let (me, next, dst) = (Address::from([2; 16]), Address::from([3; 16]), Address::from([9; 16]));
/// let mut node = FakeNode::new(me)
///     .route(dst, next)
///     .with_capsule(Incoming::new(me, dst, 2, b""));
/// assert_eq!(node.run(|| send_typed(dst, 1, &(1u8, 2u8))), Ok(1));
/// assert_eq!(node.sends[0].payload, [1, 2]);
/// ```
pub fn send_typed<T: Serialize + ?Sized>(
    dst: Address,
    budget: u32,
    value: &T,
) -> Result<u32, Error> {
    Send::to(dst, budget).typed(value)
}

/// The send that forwards the current capsule: toward its destination, all budget left.
fn forwarding() -> Result<Send, Error> {
    match capsule::budget() {
        // Nothing left to give the next hop: the capsule's hop limit is reached.
        0 => Err(Error::BudgetExceeded),
        budget => Ok(Send::to(capsule::destination()?, budget)),
    }
}

/// Forwards the current capsule unchanged toward its destination with all its remaining
/// budget. Call it at most once, and not after other sends (they took part of the budget).
/// [`Error::BudgetExceeded`] when no budget is left.
///
/// The forwarded capsule keeps its source and destination; its previous node becomes this
/// node. Errors: [`Error::BudgetExceeded`] (no budget left, or other sends took some),
/// [`Error::NoRoute`], [`Error::TooManyEffects`], [`Error::OutOfFuel`]. Cost: reading the
/// payload and the destination (about 90 fuel plus 1 per 8 bytes), then a send.
///
/// ```
/// use capsule_sdk::prelude::*;
/// use capsule_sdk::testing::{FakeNode, Incoming};
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
/// let (src, me, next, dst) = (
///     Address::from([1; 16]),
///     Address::from([2; 16]),
///     Address::from([3; 16]),
///     Address::from([9; 16]),
/// );
/// let mut node = FakeNode::new(me)
///     .route(dst, next)
///     .with_capsule(Incoming::new(src, dst, 5, b"data"));
/// assert_eq!(node.evaluate::<Forward>(), 0);
/// let sent = &node.sends[0];
/// assert_eq!((sent.source, sent.destination, sent.budget), (src, dst, 5));
/// assert_eq!(sent.payload, b"data");
///
/// // The hop limit: a capsule with no budget left cannot go on.
/// node.capsule.budget = 0;
/// assert_eq!(node.evaluate::<Forward>(), Error::BudgetExceeded.status());
/// assert!(node.sends.is_empty());
/// ```
pub fn forward() -> Result<(), Error> {
    forward_with(&capsule::payload()?)
}

/// Like [`forward`], with `payload` in place of the capsule's own.
///
/// For protocols that change the payload on the way (a hop counter, a recorded route).
/// Errors: those of [`forward`], and [`Error::TooLarge`] for a payload over 1,200 bytes.
///
/// ```
/// use capsule_sdk::prelude::*;
/// use capsule_sdk::testing::{FakeNode, Incoming};
///
/// /// Appends the last byte of each node's address it crosses.
/// #[derive(Default)]
/// struct RecordRoute;
///
/// impl Capsule for RecordRoute {
///     fn evaluate(&mut self) -> Result<(), Error> {
///         let mut path = capsule::payload()?;
///         path.push(node::address()?.octets()[15]);
///         forward_with(&path)
///     }
/// }
///
/// let (me, next, dst) = (Address::from([2; 16]), Address::from([3; 16]), Address::from([9; 16]));
/// let mut node = FakeNode::new(me)
///     .route(dst, next)
///     .with_capsule(Incoming::new(me, dst, 5, &[1]));
/// assert_eq!(node.evaluate::<RecordRoute>(), 0);
/// assert_eq!(node.sends[0].payload, [1, 2]);
/// ```
pub fn forward_with(payload: &[u8]) -> Result<(), Error> {
    forwarding()?.bytes(payload)?;
    Ok(())
}

/// Like [`forward`], with `value` encoded by postcard as the new payload.
///
/// Errors: [`Error::Encode`], [`Error::TooLarge`] (over 1,200 bytes encoded), and those of
/// [`forward`].
///
/// ```
/// use capsule_sdk::prelude::*;
/// use capsule_sdk::testing::{FakeNode, Incoming};
///
/// #[derive(Serialize, Deserialize, Debug, PartialEq)]
/// #[serde(crate = "capsule_sdk::serde")]
/// struct Hops {
///     count: u32,
/// }
///
/// #[derive(Default)]
/// struct CountHops;
///
/// impl Capsule for CountHops {
///     fn evaluate(&mut self) -> Result<(), Error> {
///         let mut msg: Hops = capsule::payload_as()?;
///         msg.count += 1;
///         forward_typed(&msg)
///     }
/// }
///
/// let (me, next, dst) = (Address::from([2; 16]), Address::from([3; 16]), Address::from([9; 16]));
/// let payload = capsule_sdk::postcard::to_allocvec(&Hops { count: 4 }).unwrap();
/// let mut node = FakeNode::new(me)
///     .route(dst, next)
///     .with_capsule(Incoming::new(me, dst, 5, &payload));
/// assert_eq!(node.evaluate::<CountHops>(), 0);
/// let out: Hops = capsule_sdk::postcard::from_bytes(&node.sends[0].payload).unwrap();
/// assert_eq!(out, Hops { count: 5 });
///
/// // A payload that does not decode fails the evaluation with the SDK's own status.
/// node.capsule.payload = vec![0xff; 8];
/// assert_eq!(node.evaluate::<CountHops>(), Error::Decode.status());
/// ```
pub fn forward_typed<T: Serialize + ?Sized>(value: &T) -> Result<(), Error> {
    forwarding()?.typed(value)?;
    Ok(())
}

/// Delivers `payload` to the local application bound to `port` on this node.
///
/// The application receives the port, the bytes, and the current capsule's source and
/// fingerprint. Like sends, deliveries are released only if the evaluation returns `Ok(())`;
/// if no application is bound to `port` then, the node drops it (counted as
/// `no_application`) without telling the capsule.
///
/// Errors: [`Error::TooLarge`] for a payload over [`MAX_PAYLOAD`] (1,200) bytes,
/// [`Error::TooManyEffects`] after 16 deliveries in this evaluation, [`Error::OutOfFuel`].
/// Cost: 70 fuel plus 1 per 8 payload bytes.
///
/// ```
/// use capsule_sdk::prelude::*;
/// use capsule_sdk::testing::{Delivery, FakeNode, Incoming};
///
/// #[derive(Default)]
/// struct Sink;
///
/// impl Capsule for Sink {
///     fn evaluate(&mut self) -> Result<(), Error> {
///         deliver(4000, &capsule::payload()?)
///     }
/// }
///
/// let me = Address::from([2; 16]);
/// let mut node = FakeNode::new(me).with_capsule(Incoming::new(me, me, 0, b"hello"));
/// assert_eq!(node.evaluate::<Sink>(), 0);
/// assert_eq!(node.deliveries, [Delivery { port: 4000, payload: b"hello".to_vec() }]);
/// ```
pub fn deliver(port: u16, payload: &[u8]) -> Result<(), Error> {
    // SAFETY: `payload` is readable for its length.
    Error::check(unsafe { sys::deliver(i32::from(port), payload.as_ptr(), payload.len()) })?;
    Ok(())
}

/// Delivers `value` (postcard) to the local application bound to `port`.
///
/// Errors: [`Error::Encode`], [`Error::TooLarge`] (over 1,200 bytes encoded), and those of
/// [`deliver`]. The application decodes it with `postcard::from_bytes` and the same type
/// (see the guide, "Sharing payload types").
///
/// ```
/// use capsule_sdk::prelude::*;
/// use capsule_sdk::testing::{FakeNode, Incoming};
///
/// let me = Address::from([2; 16]);
/// let mut node = FakeNode::new(me).with_capsule(Incoming::new(me, me, 0, b""));
/// node.run(|| deliver_typed(80, &(3u8, me))).unwrap();
/// let got: (u8, Address) = capsule_sdk::postcard::from_bytes(&node.deliveries[0].payload).unwrap();
/// assert_eq!(got, (3, me));
/// ```
pub fn deliver_typed<T: Serialize + ?Sized>(port: u16, value: &T) -> Result<(), Error> {
    deliver(port, &encode(value, MAX_PAYLOAD)?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn encode_reports_overflow_as_too_large() {
        assert_eq!(encode(&[7u8; 10][..], 4), Err(Error::TooLarge));
        assert_eq!(
            encode(&(1u8, 300u16), 3).as_deref(),
            Ok(&[1, 0xac, 0x02][..])
        );
    }
}
