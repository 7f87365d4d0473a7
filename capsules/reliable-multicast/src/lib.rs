//! `capsule-reliable-multicast`: the receiver-driven multicast tree of `capsule-multicast`
//! plus in-network caching, negative acknowledgements (NACKs) and local repair.
//!
//! The tree is the same code (`capsules/multicast/src/tree.rs`, included by path), and the
//! first three [`Message`] variants encode exactly as multicast's. Every capsule carries the
//! group's source address as its header destination. Like multicast, the module neither
//! allocates nor has a panic path, which keeps it small (see `tree.rs`).
//!
//! # Messages ([`Message`], postcard)
//!
//! - `Subscribe`, `Leave`: as in `capsule-multicast` (a branch per downstream neighbour or
//!   local port, refreshed upstream at most every [`UPSTREAM_REFRESH_MS`]).
//! - [`Message::Data`]: follows the tree like multicast data. Each node also keeps it in its
//!   window ([`WINDOW`] slots, slot `seq % WINDOW`, for [`CACHE_TTL_MS`]) and forwards each
//!   `seq` once: a copy whose `seq` the slot already holds, or older than the slot's, is
//!   dropped, so members see no duplicates from the network.
//! - [`Message::Announce`]: the source's highest sequence number, following the tree without
//!   being cached, so receivers detect the loss of the last packets.
//! - [`Message::Nack`]: from a receiver toward the source, listing up to [`MAX_NACK_SEQS`]
//!   missing sequence numbers. At each node, for each `seq`: if the window holds it, the node
//!   sends a [`Message::Repair`] back toward the requester only (the previous node, or the
//!   local port at the receiver's own node). Otherwise it records the requester in the slot
//!   (a *wanted* entry, [`WANTED_TTL_MS`], at most [`MAX_WANTED`] requesters) and asks
//!   upstream, unless it already asked for that `seq` within [`NACK_HOLD_MS`]: NACKs from
//!   many receivers for one loss become one request per link. The NACK goes on upstream
//!   with only the sequence numbers still to ask for; the source's node holds everything in
//!   its window, so a NACK ends there at the latest. Sequence numbers older than a node's
//!   window, or not sent yet when they reach the source, are dropped from the NACK.
//! - [`Message::Repair`]: a packet re-sent by the node named in `origin`. A node with a
//!   wanted entry for its `seq` caches it and copies it to every requester recorded there,
//!   nowhere else; a node without one caches it and stops it.
//!
//! Encoding (postcard): the variant index (0 `Subscribe`, 1 `Leave`, 2 `Data`, 3 `Announce`,
//! 4 `Nack`, 5 `Repair`), then the fields in order: integers as varints, byte strings and the
//! NACK's `seqs` as a varint count then the items, `origin` as 16 raw bytes. For example
//! `Nack { group: 9, port: 80, hops: 2, seqs: vec![300, 1] }` is `04 09 50 02 02 ac 02 01`.
//!
//! # State (per node, per group)
//!
//! The membership entry of `capsule-multicast` (key `G`), plus up to [`WINDOW`] slot entries
//! under key `b'S'` + source (16 bytes) + group id (4, big endian) + `seq % WINDOW`. A slot
//! holds either a packet, `[0, seq (u32 LE), data]`, kept [`CACHE_TTL_MS`], or a wanted
//! entry, `[1, seq (u32 LE), last request upstream (node time ns, u64 LE), requesters]`, kept
//! [`WANTED_TTL_MS`], where each requester is a 17-byte target (kind 0 and a neighbour
//! address, or kind 1 and a local port, `u16` LE, padded). A slot is only ever replaced by a
//! newer `seq`. With [`MAX_DATA`]-byte packets a full window takes about 44 KiB of the
//! protocol's 64 KiB default quota, so a node carries one such group at full size, or several
//! with smaller packets. A packet that does not fit the quota is still forwarded, but not kept
//! there; the source's node must have room, as the repair of last resort.
//!
//! # Guarantees
//!
//! With receivers that keep NACKing what they miss (see below), every member receives every
//! packet still in the source's window. A node delivers a `seq` to its members at most once
//! while its window holds that `seq` (a late original or a second repair finds the slot
//! filled and is dropped); only a slot lost in between (quota, expiry, 64 newer packets) lets
//! a copy through twice, so applications still count by `seq`. Repairs come from the nearest node upstream that holds the packet, so the
//! source's first link carries one repair per packet lost on it (plus one per lost repair),
//! not one per receiver. Packets that left the source's window before a receiver asked for
//! them are lost for that receiver, and nothing is promised about packets sent before a
//! member joined.
//!
//! # Application side
//!
//! - **Receiver** on node `R`: as for multicast, inject `Subscribe { group, port }` toward
//!   the source (destination = source address, budget 64), again every
//!   [`REFRESH_INTERVAL_MS`]. On `port` it receives the unchanged bytes of [`Message::Data`],
//!   [`Message::Repair`] and [`Message::Announce`]. A repair names its `origin` (the node that
//!   held the packet) and `made_ns` (that node's time): `(origin, seq, made_ns)` identifies
//!   one repair packet, and the repairs whose `origin` is the source crossed the source's
//!   first link. When a `seq` up to the highest one seen (in data, repairs or announcements)
//!   is missing, inject [`Message::Nack`] `{ group, port, hops: 0, seqs }` toward the source
//!   with budget 1,024 (half of it at most funds repairs on the way, the rest the request
//!   upstream); if a `seq` is still missing [`RETRY_AFTER_MS`] later, NACK it again.
//! - **Source** on node `S`: inject [`Message::Data`] `{ group, seq, data }` (`seq` from 0
//!   upwards, `data` at most [`MAX_DATA`] bytes) with destination = `S` and budget 4,096; also
//!   inject [`Message::Announce`] `{ group, highest }` the same way, periodically while
//!   sending and for a while after the last packet (every 100 ms for a couple of seconds), so
//!   that receivers which lost the last packets learn they exist.

#![no_std]
#![warn(missing_docs)]

extern crate alloc;

#[path = "../../multicast/src/tree.rs"]
mod tree;

use alloc::vec::Vec;

use capsule_sdk::prelude::*;

use tree::{Buf, Group, MS, Payload, Reader, TARGET_LEN, Target, copy, u64_at};
pub use tree::{MAX_BRANCHES, MAX_LOCAL, MEMBER_TTL_MS, REFRESH_INTERVAL_MS, UPSTREAM_REFRESH_MS};

/// Slots of the per-group window: how many recent sequence numbers a node can repair.
pub const WINDOW: u32 = 64;
/// Most application bytes in one data packet (a repair adds at most 39 bytes of header).
pub const MAX_DATA: usize = 512;
/// How long a node keeps a packet for repairs.
pub const CACHE_TTL_MS: u64 = 30_000;
/// How long a node waits for a repair it asked upstream before a new NACK for the same `seq`
/// makes it ask again.
pub const NACK_HOLD_MS: u64 = 100;
/// How long a node remembers who asked for a missing packet.
pub const WANTED_TTL_MS: u64 = 2_000;
/// Most sequence numbers in one NACK (each may become a delivery at the receiver's node,
/// and an evaluation makes at most 16).
pub const MAX_NACK_SEQS: usize = 16;
/// Most requesters remembered per missing packet on one node.
pub const MAX_WANTED: usize = 16;
/// Budget a repair gets beyond the hop count back to its requester, for the copies it makes
/// to other requesters on the way.
pub const REPAIR_SLACK: u32 = 16;
/// How long a receiver application should wait before NACKing the same `seq` again (more
/// than [`NACK_HOLD_MS`], so the repeat is not held back on the way).
pub const RETRY_AFTER_MS: u64 = 250;

const TAG_SLOT: u8 = b'S';
const HELD: u8 = 0;
const WANTED: u8 = 1;
/// Bytes before the data of a held slot: kind, seq.
const HELD_HEAD: usize = 5;
/// Bytes before the requesters of a wanted slot: kind, seq, last request upstream.
const WANTED_HEAD: usize = 13;
/// The largest slot value.
const SLOT_MAX: usize = {
    let held = HELD_HEAD + MAX_DATA;
    let wanted = WANTED_HEAD + MAX_WANTED * TARGET_LEN;
    if held > wanted { held } else { wanted }
};
const NACK: u32 = 4;
const REPAIR: u32 = 5;

/// A reliable multicast capsule's payload (postcard).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
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
        /// Sequence number, from 0 upwards.
        seq: u32,
        /// Application bytes, at most [`MAX_DATA`].
        data: &'a [u8],
    },
    /// The highest sequence number the source has sent, sent by the source to its own node.
    Announce {
        /// Group id.
        group: u32,
        /// Highest `seq` sent so far.
        highest: u32,
    },
    /// Missing packets, sent by a receiver toward the group's source.
    Nack {
        /// Group id.
        group: u32,
        /// Port of the member application asking (used at its own node only).
        port: u16,
        /// Active hops between the requester's node and the node evaluating it (0 when
        /// injected; each node asking upstream adds one).
        hops: u16,
        /// Missing sequence numbers, at most [`MAX_NACK_SEQS`].
        seqs: Vec<u32>,
    },
    /// A packet re-sent toward the receivers that asked for it.
    Repair {
        /// Group id.
        group: u32,
        /// Sequence number.
        seq: u32,
        /// The node that held the packet and made this repair.
        origin: Address,
        /// `origin`'s node time when it made the repair.
        made_ns: u64,
        /// Application bytes.
        data: &'a [u8],
    },
}

/// What a node needs of a [`Message`], parsed without allocating.
#[derive(Debug, PartialEq, Eq)]
enum Msg<'a> {
    Subscribe(u32, u16),
    Leave(u32, u16),
    Announce(u32),
    Nack {
        group: u32,
        port: u16,
        hops: u16,
        seqs: [u32; MAX_NACK_SEQS],
        n: usize,
    },
    /// Data, or a repair (`repair`), of `group`.
    Packet {
        group: u32,
        seq: u32,
        data: &'a [u8],
        repair: bool,
    },
}

/// Parses a payload: the postcard encoding of a [`Message`], exactly as the derived
/// `Deserialize` reads it, plus the protocol's bounds ([`MAX_NACK_SEQS`]). [`Error::Decode`]
/// on anything else, trailing bytes included.
fn parse(bytes: &[u8]) -> Result<Msg<'_>, Error> {
    let mut r = Reader::new(bytes);
    let m = match r.u32() {
        0 => Msg::Subscribe(r.u32(), r.u16()),
        1 => Msg::Leave(r.u32(), r.u16()),
        2 => Msg::Packet {
            group: r.u32(),
            seq: r.u32(),
            data: r.bytes(),
            repair: false,
        },
        3 => {
            let group = r.u32();
            r.u32();
            Msg::Announce(group)
        }
        NACK => {
            let (group, port, hops) = (r.u32(), r.u16(), r.u16());
            let n = r.len();
            if n > MAX_NACK_SEQS {
                r.fail();
            }
            let mut seqs = [0; MAX_NACK_SEQS];
            for s in seqs.iter_mut().take(n) {
                *s = r.u32();
            }
            Msg::Nack {
                group,
                port,
                hops,
                seqs,
                n,
            }
        }
        REPAIR => {
            let (group, seq) = (r.u32(), r.u32());
            r.take(16);
            r.varint(10, 0x01);
            Msg::Packet {
                group,
                seq,
                data: r.bytes(),
                repair: true,
            }
        }
        _ => return Err(Error::Decode),
    };
    r.end()?;
    Ok(m)
}

/// The reliable multicast protocol.
#[derive(Default)]
pub struct ReliableMulticast;

impl Capsule for ReliableMulticast {
    fn evaluate(&mut self) -> Result<(), Error> {
        let mut buf = Payload::new();
        let raw = tree::payload(&mut buf)?;
        let source = capsule::destination()?;
        let mut g = Group::new();
        match parse(raw)? {
            Msg::Subscribe(group, port) => tree::subscribe(raw, group, port),
            Msg::Leave(group, port) => tree::leave(raw, group, port),
            Msg::Announce(group) => {
                tree::load(source, group, &mut g)?;
                tree::fan_out(tree::branches(g.as_slice()), &[], raw)
            }
            Msg::Nack {
                group,
                port,
                hops,
                seqs,
                n,
            } => nack(source, group, port, hops, seqs.get(..n).unwrap_or_default()),
            Msg::Packet {
                group,
                seq,
                data,
                repair,
            } => {
                if data.len() > MAX_DATA {
                    return Err(Error::TooLarge);
                }
                let k = slot_key(source, group, seq);
                let mut slot = Slot::new();
                slot.load(&k)?;
                let (kind, held) = head(slot.as_slice());
                let wanted = match held {
                    Some(s) if s == seq && kind == WANTED => requesters(slot.as_slice()),
                    // A duplicate, or older than this node's window.
                    Some(s) if s >= seq => return Ok(()),
                    _ => &[],
                };
                // Data goes down the tree and to whoever waits for it; a repair only to those.
                if !repair {
                    tree::load(source, group, &mut g)?;
                }
                hold(&k, seq, data)?;
                tree::fan_out(tree::branches(g.as_slice()), wanted, raw)
            }
        }
    }
}

/// A slot value.
type Slot = Buf<SLOT_MAX>;

fn slot_key(source: Address, group: u32, seq: u32) -> [u8; 22] {
    tree::key(TAG_SLOT, source, group, (seq % WINDOW) as u8)
}

/// A slot's kind and sequence number (`None` for an empty slot).
fn head(slot: &[u8]) -> (u8, Option<u32>) {
    match slot.first_chunk::<HELD_HEAD>() {
        Some(&[kind, a, b, c, d]) => (kind, Some(u32::from_le_bytes([a, b, c, d]))),
        None => (HELD, None),
    }
}

/// The requester records of a wanted slot.
fn requesters(slot: &[u8]) -> &[u8] {
    slot.get(WANTED_HEAD..).unwrap_or_default()
}

/// Writes a slot. A full quota or store only means this node does not keep it; the old
/// content is removed so that it is neither served nor waited on again.
fn put_slot(k: &[u8], v: &[u8], ttl_ms: u64) -> Result<(), Error> {
    match tree::put(k, v, ttl_ms) {
        Err(Error::QuotaExceeded | Error::StoreFull) => state::remove(k).map(drop),
        other => other,
    }
}

/// Keeps packet `seq` in its slot for repairs.
fn hold(k: &[u8], seq: u32, data: &[u8]) -> Result<(), Error> {
    let mut v = Slot::new();
    v.push(&[HELD])?;
    v.push(&seq.to_le_bytes())?;
    v.push(data)?;
    put_slot(k, v.as_slice(), CACHE_TTL_MS)
}

/// Appends `v` to `buf` as a postcard varint.
fn varint<const N: usize>(buf: &mut Buf<N>, mut v: u64) -> Result<(), Error> {
    while v >= 0x80 {
        buf.push(&[v as u8 | 0x80])?;
        v >>= 7;
    }
    buf.push(&[v as u8])
}

/// Handles a NACK: repairs what this node holds, remembers the requester for the rest, and
/// asks upstream for what it has not asked for within [`NACK_HOLD_MS`].
fn nack(source: Address, group: u32, port: u16, hops: u16, seqs: &[u32]) -> Result<(), Error> {
    let me = node::address()?;
    let at_source = source == me;
    let now = node::time_ns();
    let requester: Target = tree::requester(port)?;
    let mut via = [0; 16];
    copy(&mut via, requester.get(1..).unwrap_or_default());
    let budget = capsule::budget();
    // Repairs may spend half the budget; the rest stays for the request upstream.
    let cap = if at_source { budget } else { budget / 2 };
    let mut spent = 0;
    let mut up = Buf::<{ 16 + 5 * MAX_NACK_SEQS }>::new();
    let mut n_up = 0;
    for (i, &seq) in seqs.iter().enumerate() {
        if seqs.iter().take(i).any(|&s| s == seq) {
            continue;
        }
        let k = slot_key(source, group, seq);
        let mut slot = Slot::new();
        slot.load(&k)?;
        match head(slot.as_slice()) {
            (HELD, Some(s)) if s == seq => {
                let data = slot.as_slice().get(HELD_HEAD..).unwrap_or_default();
                let mut repair = Payload::new();
                for v in [u64::from(REPAIR), group.into(), seq.into()] {
                    varint(&mut repair, v)?;
                }
                repair.push(&me.0)?;
                varint(&mut repair, now)?;
                varint(&mut repair, data.len() as u64)?;
                repair.push(data)?;
                if requester[0] == 1 {
                    deliver(port, repair.as_slice())?;
                } else {
                    let b = (u32::from(hops) + REPAIR_SLACK).min(cap - spent);
                    if b > 0 {
                        Send::to(source, b)
                            .via(Address(via))
                            .bytes(repair.as_slice())?;
                        spent += b;
                    }
                }
                continue;
            }
            // Older than this node's window, or (at the source) not sent yet: nothing to ask.
            (_, Some(s)) if s > seq => continue,
            _ if at_source => continue,
            (WANTED, Some(s)) if s == seq => {
                let since = u64_at(slot.as_slice(), HELD_HEAD);
                let known = requesters(slot.as_slice())
                    .chunks_exact(TARGET_LEN)
                    .any(|t| t == requester);
                if !known && requesters(slot.as_slice()).len() < MAX_WANTED * TARGET_LEN {
                    slot.push(&requester)?;
                }
                let due = now.saturating_sub(since) >= NACK_HOLD_MS * MS;
                if due {
                    let at = slot.as_mut_slice().get_mut(HELD_HEAD..).unwrap_or_default();
                    copy(at, &now.to_le_bytes());
                }
                put_slot(&k, slot.as_slice(), WANTED_TTL_MS)?;
                if !due {
                    continue;
                }
            }
            _ => {
                let mut v = Slot::new();
                v.push(&[WANTED])?;
                v.push(&seq.to_le_bytes())?;
                v.push(&now.to_le_bytes())?;
                v.push(&requester)?;
                put_slot(&k, v.as_slice(), WANTED_TTL_MS)?;
            }
        }
        varint(&mut up, seq.into())?;
        n_up += 1;
    }
    let left = budget - spent;
    if n_up == 0 || left == 0 {
        return Ok(());
    }
    let mut out = Buf::<{ 32 + 5 * MAX_NACK_SEQS }>::new();
    for v in [
        NACK,
        group,
        port.into(),
        hops.saturating_add(1).into(),
        n_up,
    ] {
        varint(&mut out, v.into())?;
    }
    out.push(up.as_slice())?;
    Send::to(source, left).bytes(out.as_slice())?;
    Ok(())
}

export_capsule!(ReliableMulticast);

#[cfg(test)]
mod tests;
