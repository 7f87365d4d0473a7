//! `capsule-multicast`: protocol-independent, receiver-driven multicast (the ANTS multicast
//! example, as a capsule).
//!
//! A group is `(source address, group id)`. Every capsule of this protocol carries the group's
//! source address as its header destination, so any node finds the group from the header and
//! the payload alone.
//!
//! # Messages ([`Message`], postcard)
//!
//! - [`Message::Subscribe`] travels from a receiver's node toward the source. Each active node
//!   on the way records a branch for the group: the previous node (the downstream neighbour)
//!   or, at the receiver's own node, the local member's `port`. It forwards the subscribe
//!   upstream only when it has not done so for this group within
//!   [`UPSTREAM_REFRESH_MS`]; a node already on the tree absorbs it.
//!   The source's node records the branch and absorbs it (counted `no_effect` by the node).
//! - [`Message::Leave`] removes the requester's branch; a node with no branch left removes the
//!   group and forwards the leave upstream, pruning the branch.
//! - [`Message::Data`] starts at the source's node and follows the tree: each node sends one
//!   copy per downstream neighbour branch (`Send::via`, never back to the previous node; the
//!   remaining budget split evenly) and delivers the payload to each local member's port.
//!
//! Encoding (postcard): the variant index (0 `Subscribe`, 1 `Leave`, 2 `Data`), then the
//! fields in order, integers as varints, `data` as a varint length and the bytes; for example
//! `Data { group: 300, seq: 1, data: b"ab" }` is `02 ac 02 01 02 61 62`. The capsule parses it
//! with [`Message::parse`], which accepts exactly what postcard does.
//!
//! # State (per node, per group)
//!
//! One entry, key `b'G'` + source (16 bytes) + group id (4, big endian) + `0`, expiring
//! [`MEMBER_TTL_MS`] after its last change. Its value is when the node last refreshed
//! upstream (`u64` little endian, `u64::MAX` for never), then at most [`MAX_BRANCHES`]
//! 25-byte branches (at most [`MAX_LOCAL`] of them local): kind (0 neighbour, 1 local), the
//! neighbour's address or the port (`u16` little endian, padded to 16 bytes), and the
//! branch's own expiry in node time (`u64` little endian, [`MEMBER_TTL_MS`] after its latest
//! subscribe). A subscribe that would exceed the bounds fails with `QUOTA_EXCEEDED`.
//!
//! # Guarantees
//!
//! On a loss-free network with stable routes, every member subscribed before a data capsule
//! left the source receives it exactly once (one copy per tree edge, one delivery per member).
//! Nothing is retransmitted: a capsule lost on a link is lost for the subtree below it (see
//! `capsule-reliable-multicast`). Members that stop refreshing are pruned after
//! [`MEMBER_TTL_MS`]; a route change is followed within one refresh.
//!
//! # Module size
//!
//! About 7.4 KB as `make capsules` builds it. The capsule never allocates and has no panic path
//! (fixed buffers, checked accessors, unformatted logs), so neither the allocator nor the panic
//! handler with its `core::fmt` machinery is linked; that is most of a typical capsule's size.
//!
//! # Application side
//!
//! - **Receiver** on node `R`: inject [`Message::Subscribe`] `{ group, port }` with
//!   destination = the source's address and a budget of at least the hop count to the source
//!   (64 is plenty), then again every [`REFRESH_INTERVAL_MS`].
//!   Data arrives on `port` as the unchanged [`Message::Data`] bytes `{ group, seq, data }`
//!   (the delivery's source address is the group's source). To leave, inject
//!   [`Message::Leave`] `{ group, port }` the same way, or stop refreshing.
//! - **Source** on node `S`: inject [`Message::Data`] `{ group, seq, data }` with destination
//!   = `S` itself and a budget large enough to be split down the tree (each branching node
//!   divides what is left among its branches; 4,096 covers hundreds of members). Number `seq`
//!   from 0 upwards: receivers count delivered, duplicated and lost sequence numbers.

#![no_std]
#![warn(missing_docs)]

extern crate alloc;

mod tree;

use capsule_sdk::prelude::*;

pub use tree::{MAX_BRANCHES, MAX_LOCAL, MEMBER_TTL_MS, REFRESH_INTERVAL_MS, UPSTREAM_REFRESH_MS};

/// A multicast capsule's payload.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(crate = "capsule_sdk::serde")]
pub enum Message<'a> {
    /// Join (or stay in) `group`; sent toward the group's source.
    Subscribe {
        /// Group id.
        group: u32,
        /// Port of the member application on the subscribing node.
        port: u16,
    },
    /// Leave `group`; sent toward the group's source.
    Leave {
        /// Group id.
        group: u32,
        /// Port the member subscribed with.
        port: u16,
    },
    /// One packet of the group's stream, sent by the source to its own node.
    Data {
        /// Group id.
        group: u32,
        /// Sequence number chosen by the source application.
        seq: u32,
        /// Application bytes (up to about 1,180, so the capsule fits 1,200 bytes).
        data: &'a [u8],
    },
}

impl<'a> Message<'a> {
    /// Parses a payload: postcard, exactly as the derived `Deserialize` reads it, but with a
    /// few hundred bytes of module instead of several KiB. [`Error::Decode`] on anything else,
    /// trailing bytes included.
    pub fn parse(bytes: &'a [u8]) -> Result<Self, Error> {
        let mut r = tree::Reader::new(bytes);
        let m = match r.u32() {
            0 => Message::Subscribe {
                group: r.u32(),
                port: r.u16(),
            },
            1 => Message::Leave {
                group: r.u32(),
                port: r.u16(),
            },
            2 => Message::Data {
                group: r.u32(),
                seq: r.u32(),
                data: r.bytes(),
            },
            _ => return Err(Error::Decode),
        };
        r.end()?;
        Ok(m)
    }
}

/// The multicast protocol.
#[derive(Default)]
pub struct Multicast;

impl Capsule for Multicast {
    fn evaluate(&mut self) -> Result<(), Error> {
        let mut buf = tree::Payload::new();
        let raw = tree::payload(&mut buf)?;
        match Message::parse(raw)? {
            Message::Subscribe { group, port } => tree::subscribe(raw, group, port),
            Message::Leave { group, port } => tree::leave(raw, group, port),
            Message::Data { group, .. } => {
                let mut g = tree::Group::new();
                tree::load(capsule::destination()?, group, &mut g)?;
                tree::fan_out(tree::branches(g.as_slice()), &[], raw)
            }
        }
    }
}

export_capsule!(Multicast);

#[cfg(test)]
mod tests;
