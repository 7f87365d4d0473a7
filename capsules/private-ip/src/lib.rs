//! `capsule-private-ip`: a private IPv4 address space carried between edge nodes.
//!
//! # Protocol
//!
//! Private hosts live in [`PRIVATE_NET`] (192.168.0.0/16) behind **edges**: active nodes whose
//! application serves some private prefixes. Private addresses only ever appear inside
//! payloads: between edges a private packet is an ordinary capsule from one edge's public
//! address to another's, so legacy routers see UDP between active nodes and nothing else.
//! Two messages ([`Message`], postcard):
//!
//! - **Announce** `{ seq, prefixes }`, header source = the edge. Injected by an edge's
//!   application at its node, it floods to every active node: a node that has not yet seen
//!   this `seq` (or a newer one) from this edge records each prefix → edge and sends copies to
//!   every neighbour except the one it came from, splitting the remaining budget; repeats stop
//!   there. Prefixes must lie inside [`PRIVATE_NET`], be at least /16, have no host bits set,
//!   and number at most [`MAX_PREFIXES`]; anything else is a decode error. A prefix already
//!   held by another edge is left to it until that entry expires (the first live claim wins;
//!   two edges claiming one prefix is a configuration error, logged).
//! - **Packet** `(Packet { src, dst, data })`, private addresses inside. The edge's
//!   application injects it with header destination = **its own node**. There the node maps
//!   `dst` to the serving edge by longest prefix match and sends the capsule to that edge
//!   (keeping the header source, all remaining budget). Nodes on the way forward it toward the
//!   header destination like `capsule-forward`. At the serving edge, a packet that came from
//!   another edge is delivered if this edge serves `dst`; it is never mapped again, so two
//!   edges with different views cannot bounce it between them. A packet whose destination
//!   both edges serve locally is delivered at once.
//!
//! An unknown private destination, or one outside [`PRIVATE_NET`], fails the evaluation with
//! `NO_ROUTE` (counted by the node): the packet is refused at the edge and never reaches the
//! public side addressed by its private destination. A `src` outside [`PRIVATE_NET`] is a decode
//! error.
//!
//! # State
//!
//! - Per prefix ([`Prefix::key`]): key `b"p"` + prefix length + the 4 network bytes (6
//!   bytes), value the serving edge's 16 address bytes, TTL [`ANNOUNCE_TTL`] from the last
//!   announce.
//! - Per edge ([`seq_key`]): key `b"s"` + the edge's address (17 bytes), value the last `seq`
//!   seen (4 bytes, little-endian), TTL [`ANNOUNCE_TTL`]: the flood's duplicate filter.
//!
//! About 150 charged bytes per prefix: the default 64 KiB quota holds some 400 prefixes per
//! node; past it an announce fails with `QUOTA_EXCEEDED` (the prefixes recorded before stay).
//! A prefix an edge stops announcing is served by it until its entry expires; there is no
//! explicit withdraw.
//!
//! # Guarantees
//!
//! A delivered packet carries exactly the private addresses and data the ingress edge
//! received. Delivery is best effort (capsules may be lost); mapping follows the newest
//! announcements that reached the ingress edge, so for up to [`ANNOUNCE_TTL`] after a prefix
//! moved, packets may go to its old edge and be refused there.
//!
//! # Application side
//!
//! - **Edge announcing.** Every [`ANNOUNCE_PERIOD`] (10 s), injects `Message::Announce { seq,
//!   prefixes }` with destination = its own node address, `seq` one more than the previous
//!   round, and a large budget (e.g. 4,096: it is divided among copies at each node).
//! - **Edge sending** for a private host. Injects `Message::Packet(Packet { src, dst, data })`
//!   with destination = its own node address and a budget of at least the active hops to the
//!   other edges (e.g. 32); `data` at most [`MAX_DATA`] bytes.
//! - **Edge receiving.** Gets [`Packet`] (postcard, no [`Message`] wrapper) on
//!   [`DELIVERY_PORT`] of its node and hands `data` to the private host `dst`.

#![no_std]
#![warn(missing_docs)]

extern crate alloc;

use alloc::vec::Vec;
use core::net::Ipv4Addr;
use core::time::Duration;

use capsule_sdk::flood::flood;
pub use capsule_sdk::flood::newer;
use capsule_sdk::prelude::*;

/// Local application port that receives [`Packet`]s at the serving edge.
pub const DELIVERY_PORT: u16 = 40;
/// The private address space: 192.168.0.0/16.
pub const PRIVATE_NET: Prefix = Prefix {
    addr: Ipv4Addr::new(192, 168, 0, 0),
    len: 16,
};
/// How long an announcement keeps its entries alive on a node.
pub const ANNOUNCE_TTL: Duration = Duration::from_secs(30);
/// How often edges should announce (a third of [`ANNOUNCE_TTL`]).
pub const ANNOUNCE_PERIOD: Duration = Duration::from_secs(10);
/// Most prefixes in one announcement.
pub const MAX_PREFIXES: usize = 16;
/// Largest `data` of a [`Packet`] that always fits the 1,200-byte payload limit.
pub const MAX_DATA: usize = 1_189;

/// A capsule of the private IP protocol.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(crate = "capsule_sdk::serde")]
pub enum Message {
    /// The header source serves these private prefixes.
    Announce {
        /// The edge's announcement round; each node acts on a round once.
        seq: u32,
        /// What the edge serves, at most [`MAX_PREFIXES`].
        prefixes: Vec<Prefix>,
    },
    /// A private packet, on its way from the ingress edge to the serving edge.
    Packet(Packet),
}

/// An IPv4 prefix (postcard: 4 address bytes, then the length).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(crate = "capsule_sdk::serde")]
pub struct Prefix {
    /// Network address; host bits must be zero.
    pub addr: Ipv4Addr,
    /// Prefix length, 0 ..= 32.
    pub len: u8,
}

/// A packet between private hosts.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(crate = "capsule_sdk::serde")]
pub struct Packet {
    /// Private source host.
    pub src: Ipv4Addr,
    /// Private destination host.
    pub dst: Ipv4Addr,
    /// The host's bytes, opaque to the protocol.
    pub data: Vec<u8>,
}

/// [`Message`] as a node reads it: the same encoding, with packet data borrowed in place
/// rather than copied byte by byte into a `Vec` (less code and fuel).
#[derive(Deserialize)]
#[serde(crate = "capsule_sdk::serde")]
enum View<'a> {
    Announce {
        seq: u32,
        prefixes: Vec<Prefix>,
    },
    Packet {
        src: Ipv4Addr,
        dst: Ipv4Addr,
        #[allow(dead_code)]
        data: &'a [u8],
    },
}

impl<'a> View<'a> {
    /// Exactly one message in `bytes`, as `capsule::decode` would require.
    fn decode(bytes: &'a [u8]) -> Result<View<'a>, Error> {
        match capsule_sdk::postcard::take_from_bytes(bytes) {
            Ok((view, [])) => Ok(view),
            _ => Err(Error::Decode),
        }
    }
}

impl Prefix {
    /// The netmask as a number (`len` above 32 counts as 32).
    fn mask(len: u8) -> u32 {
        u32::MAX
            .checked_shl(32 - u32::from(len.min(32)))
            .unwrap_or(0)
    }

    /// The prefix of length `len` holding `ip`.
    pub fn of(ip: Ipv4Addr, len: u8) -> Prefix {
        Prefix {
            addr: Ipv4Addr::from(u32::from(ip) & Self::mask(len)),
            len: len.min(32),
        }
    }

    /// Whether `ip` lies in this prefix.
    pub fn contains(&self, ip: Ipv4Addr) -> bool {
        Prefix::of(ip, self.len) == *self
    }

    /// Whether this is a prefix an edge may announce: inside [`PRIVATE_NET`], no host bits.
    pub fn is_announceable(&self) -> bool {
        self.len >= PRIVATE_NET.len
            && self.len <= 32
            && Prefix::of(self.addr, self.len) == *self
            && PRIVATE_NET.contains(self.addr)
    }

    /// The state key of this prefix's serving edge.
    pub fn key(&self) -> [u8; 6] {
        let [a, b, c, d] = self.addr.octets();
        [b'p', self.len, a, b, c, d]
    }
}

/// The state key of an edge's last announcement round.
pub fn seq_key(edge: Address) -> [u8; 17] {
    let mut key = [b's'; 17];
    key[1..].copy_from_slice(&edge.octets());
    key
}

/// The private IP protocol.
#[derive(Default)]
pub struct PrivateIp;

impl Capsule for PrivateIp {
    fn evaluate(&mut self) -> Result<(), Error> {
        let raw = capsule::payload()?;
        let msg = View::decode(&raw)?;
        let me = node::address()?;
        let source = capsule::source()?;
        match msg {
            View::Announce { seq, prefixes } => {
                if prefixes.len() > MAX_PREFIXES || !prefixes.iter().all(Prefix::is_announceable) {
                    return Err(Error::Decode);
                }
                announce(source, seq, &prefixes, me, &raw)
            }
            View::Packet { src, dst, .. } => {
                if !PRIVATE_NET.contains(src) {
                    return Err(Error::Decode);
                }
                if capsule::destination()? != me {
                    return forward_with(&raw);
                }
                match (lookup(dst)?, source == me) {
                    // The packet's encoding follows the one-byte variant tag.
                    (Some(edge), _) if edge == me => deliver(DELIVERY_PORT, &raw[1..]),
                    // Ingress: carry it to the serving edge.
                    (Some(edge), true) => match capsule::budget() {
                        0 => Err(Error::BudgetExceeded),
                        budget => Send::to(edge, budget).bytes(&raw).map(drop),
                    },
                    // Unknown here, or arrived from an edge that mapped it to us but we do
                    // not serve it (any more): refused, never mapped twice.
                    _ => Err(Error::NoRoute),
                }
            }
        }
    }
}

/// Records an edge's announcement (once per round) and floods it on.
fn announce(
    edge: Address,
    seq: u32,
    prefixes: &[Prefix],
    me: Address,
    payload: &[u8],
) -> Result<(), Error> {
    let key = seq_key(edge);
    let mut last = [0; 4];
    if state::get_into(&key, &mut last)? == Some(4) && !newer(seq, u32::from_le_bytes(last)) {
        return Ok(());
    }
    state::put(&key, &seq.to_le_bytes(), ANNOUNCE_TTL)?;
    for p in prefixes {
        if let Some(held) = serving_edge(p)?
            && held != edge
        {
            let _ = capsule_sdk::log::log(
                capsule_sdk::log::Level::Warn,
                "private-ip: a prefix is claimed by two edges; the first keeps it",
            );
            continue;
        }
        state::put(&p.key(), &edge.octets(), ANNOUNCE_TTL)?;
    }
    let prev = capsule::previous()?;
    flood(capsule::destination()?, prev, me, payload)
}

/// The edge recorded for exactly this prefix, if its entry is live.
fn serving_edge(p: &Prefix) -> Result<Option<Address>, Error> {
    let mut edge = [0; 16];
    Ok(match state::get_into(&p.key(), &mut edge)? {
        Some(16) => Some(Address(edge)),
        _ => None,
    })
}

/// The edge serving `ip`: the live route of its longest announced prefix.
fn lookup(ip: Ipv4Addr) -> Result<Option<Address>, Error> {
    if !PRIVATE_NET.contains(ip) {
        return Ok(None);
    }
    for len in (PRIVATE_NET.len..=32).rev() {
        if let Some(edge) = serving_edge(&Prefix::of(ip, len))? {
            return Ok(Some(edge));
        }
    }
    Ok(None)
}

export_capsule!(PrivateIp);

#[cfg(test)]
mod tests;
