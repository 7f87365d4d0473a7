//! `capsule-anycast`: data addressed to an anycast address reaches the nearest live member.
//!
//! # Protocol
//!
//! An anycast address (the **group**) is an address chosen by the applications, by convention
//! IPv4 in 240.0.0.0/4 (reserved, never a node's address). Every capsule of the protocol
//! carries the group as its header destination; it is never routed by the routing table, only
//! by the entries below, sent to explicit neighbours. Three messages ([`Message`], postcard):
//!
//! - **Advertise** `{ seq, distance }`, header source = the member's node. Injected by a member
//!   application at its node, it floods to active nodes: each node computes its distance to
//!   the member (0 at the member's node, else the sender's `distance` + 1, the sender being
//!   the capsule's previous node), updates its table, and only if the table **improved** sends
//!   copies to every neighbour except the one it came from, with its own distance. Improved
//!   means: a member it had no entry for (table not full, or nearer than its farthest entry),
//!   a newer round (`seq` newer than the entry's, serial arithmetic), or the same round at a
//!   shorter distance. Repeats and longer paths of a round stop there.
//! - **Withdraw** `{ seq }`, header source = the leaving member's node. Floods the same way
//!   and removes, at each node, the entry for that member if its `seq` is not newer than the
//!   withdraw's; a node that had no such entry does not pass it on (the member's own node
//!   always does).
//! - **Data** `(bytes)`: at a node whose best entry is local (the member's own node) it is
//!   delivered; otherwise it goes to the best entry's next hop with all remaining budget. The
//!   best entry is the live one with the lowest distance (ties: the member known first),
//!   skipping one that leads back to the node the data came from. No entry: `NO_ROUTE`.
//!
//! # State
//!
//! One entry per group, key = the group's 16 address bytes, value = up to [`MAX_ENTRIES`] (4)
//! [`Entry`]s back to back, nearest first (each [`Entry::LEN`] = 46 bytes: member, next hop,
//! distance, round, expiry), so at most 184 bytes. Each member entry is dead [`ENTRY_TTL`]
//! (30 s) after the advertisement that set it; the state entry itself is written with that
//! TTL at every change, so it outlives its members by at most [`ENTRY_TTL`] and is removed
//! when the last member is withdrawn.
//!
//! # Convergence, honestly
//!
//! - A new member is reachable from a node once its first advertisement has arrived there:
//!   within one flood, if the advertisement's budget covers the node.
//! - Within one round, entries converge to shortest paths (a longer path that arrives first is
//!   replaced when the shorter one arrives); data then follows strictly decreasing distances.
//!   While a round is still flooding, data may take a longer path; a transient loop is cut by
//!   the budget.
//! - A member that **withdraws** is removed everywhere the withdraw reaches; nodes that also
//!   hold another member switch to it at once. A node that knew only the leaving member (it
//!   keeps the 4 nearest, and a farther member's rounds stop at nodes whose table they do not
//!   improve) has no entry until the next round of another member reaches it: at most one
//!   advertisement period.
//! - A member that **vanishes** without a withdraw keeps attracting data until its entries
//!   expire, at most [`ENTRY_TTL`] after its last advertisement; then the next round of the
//!   other members re-establishes the nearest live one.
//! - Budget splits among copies at every node, so a flood reaches about `log_fanout(budget)`
//!   hops: give advertisements a large budget.
//!
//! # Application side
//!
//! - **Member.** Every [`ADVERTISE_PERIOD`] (10 s), injects `Message::Advertise { seq,
//!   distance: 0 }` with destination = the group, `seq` one more than the previous round, and
//!   a large budget (e.g. 4,096: it is divided among copies at each node). To leave, injects
//!   `Message::Withdraw { seq }` (the last round's `seq`) with the same budget. Receives
//!   [`Received`] (postcard) on [`DELIVERY_PORT`] of its node.
//! - **Sender.** Injects `Message::Data(bytes)` with destination = the group and a budget of
//!   at least the active hops to the members (e.g. 32), at most [`MAX_DATA`] bytes. Nothing
//!   comes back. The sender's own node must hold entries (be within the advertisements'
//!   flood), else the data fails there with `NO_ROUTE`.

#![no_std]
#![warn(missing_docs)]

extern crate alloc;

use alloc::vec::Vec;
use core::time::Duration;

use capsule_sdk::flood::flood;
pub use capsule_sdk::flood::newer;
use capsule_sdk::prelude::*;

/// Local application port that receives [`Received`] at the chosen member's node.
pub const DELIVERY_PORT: u16 = 30;
/// How long an advertisement keeps its entry alive on a node.
pub const ENTRY_TTL: Duration = Duration::from_secs(30);
/// [`ENTRY_TTL`] in nanoseconds of node time.
const ENTRY_TTL_NS: u64 = ENTRY_TTL.as_secs() * 1_000_000_000;
/// How often members should advertise (a third of [`ENTRY_TTL`], so one lost round is harmless).
pub const ADVERTISE_PERIOD: Duration = Duration::from_secs(10);
/// Member entries a node keeps per group: the nearest ones.
pub const MAX_ENTRIES: usize = 4;
/// Largest application data in one data capsule whose [`Received`] delivery still fits the
/// 1,200-byte limit (16 bytes of group and 2 of length on top).
pub const MAX_DATA: usize = 1_182;

/// A capsule of the anycast protocol; its header destination is always the group.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(crate = "capsule_sdk::serde")]
pub enum Message {
    /// The header source is a member of the group, `distance` active hops from the sender.
    Advertise {
        /// Advertisement round of the member; newer rounds refresh entries.
        seq: u32,
        /// Hops from the member to the node that sent this copy (0 from the member).
        distance: u16,
    },
    /// The header source leaves the group.
    Withdraw {
        /// The member's last round: entries of this round or older are removed.
        seq: u32,
    },
    /// Application data for the nearest member.
    Data(Vec<u8>),
}

/// [`Message`] as a node reads it: the same encoding, with the data borrowed in place
/// rather than copied byte by byte into a `Vec` (less code and fuel).
#[derive(Deserialize)]
#[serde(crate = "capsule_sdk::serde")]
enum View<'a> {
    Advertise { seq: u32, distance: u16 },
    Withdraw { seq: u32 },
    Data(#[allow(dead_code)] &'a [u8]),
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

/// What the member's application receives on [`DELIVERY_PORT`].
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(crate = "capsule_sdk::serde")]
pub struct Received {
    /// The anycast address the data was sent to.
    pub group: Address,
    /// The sender's bytes.
    pub data: Vec<u8>,
}

/// One member as a node knows it (kept in state, [`Entry::LEN`] bytes each).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Entry {
    /// The member's node.
    pub member: Address,
    /// The neighbour toward the member; this node's own address for a local member.
    pub via: Address,
    /// Active hops to the member.
    pub distance: u16,
    /// Round of the advertisement that set the entry.
    pub seq: u32,
    /// Node time (ns) after which the entry is dead.
    pub expires_ns: u64,
}

impl Entry {
    /// Bytes of one entry in state: member (16), via (16), distance (u16), seq (u32) and
    /// expiry (u64), integers little-endian.
    pub const LEN: usize = 46;

    /// Reads one entry from its [`Entry::LEN`] bytes (shorter input reads as zeros).
    pub fn from_bytes(b: &[u8]) -> Entry {
        let mut f = [0u8; Entry::LEN];
        let n = b.len().min(Entry::LEN);
        f[..n].copy_from_slice(&b[..n]);
        let mut member = [0; 16];
        let mut via = [0; 16];
        member.copy_from_slice(&f[0..16]);
        via.copy_from_slice(&f[16..32]);
        Entry {
            member: Address(member),
            via: Address(via),
            distance: u16::from_le_bytes([f[32], f[33]]),
            seq: u32::from_le_bytes([f[34], f[35], f[36], f[37]]),
            expires_ns: u64::from_le_bytes([
                f[38], f[39], f[40], f[41], f[42], f[43], f[44], f[45],
            ]),
        }
    }

    /// Appends the entry's [`Entry::LEN`] bytes to `out`.
    pub fn write_to(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(&self.member.octets());
        out.extend_from_slice(&self.via.octets());
        out.extend_from_slice(&self.distance.to_le_bytes());
        out.extend_from_slice(&self.seq.to_le_bytes());
        out.extend_from_slice(&self.expires_ns.to_le_bytes());
    }
}

/// The anycast protocol.
#[derive(Default)]
pub struct Anycast;

impl Capsule for Anycast {
    fn evaluate(&mut self) -> Result<(), Error> {
        let raw = capsule::payload()?;
        let msg = View::decode(&raw)?;
        let group = capsule::destination()?;
        let me = node::address()?;
        let prev = capsule::previous()?;
        let now = node::time_ns();
        let mut table = load(&group, now)?;
        match msg {
            View::Advertise { seq, distance } => {
                let member = capsule::source()?;
                let (via, distance) = match (member == me, prev == me) {
                    (true, true) => (me, 0),
                    // Our own advertisement coming back, or a spoofed local one: ignore.
                    (true, false) | (false, true) => return Ok(()),
                    (false, false) => (prev, distance.saturating_add(1)),
                };
                let entry = Entry {
                    member,
                    via,
                    distance,
                    seq,
                    expires_ns: now.saturating_add(ENTRY_TTL_NS),
                };
                if !improve(&mut table, entry) {
                    return Ok(());
                }
                save(&group, &table)?;
                flood(group, prev, me, &advertisement(seq, distance))
            }
            View::Withdraw { seq } => {
                let member = capsule::source()?;
                let before = table.len();
                table.retain(|e| e.member != member || newer(e.seq, seq));
                // The member's own node always passes it on, even if its entry had expired.
                if table.len() == before && !(member == me && prev == me) {
                    return Ok(());
                }
                save(&group, &table)?;
                // Passed on unchanged.
                flood(group, prev, me, &raw)
            }
            View::Data(_) => {
                for e in &table {
                    if e.via == me {
                        // `Received` is the group's 16 bytes then the data exactly as
                        // encoded after the message's one-byte variant tag.
                        let mut received = Vec::with_capacity(16 + raw.len());
                        received.extend_from_slice(&group.octets());
                        received.extend_from_slice(&raw[1..]);
                        return deliver(DELIVERY_PORT, &received);
                    }
                    if e.via == prev {
                        // Split horizon: the previous node sent it here as nearer; going
                        // back would loop until the budget runs out.
                        continue;
                    }
                    let budget = capsule::budget();
                    if budget == 0 {
                        return Err(Error::BudgetExceeded);
                    }
                    match Send::to(group, budget).via(e.via).bytes(&raw) {
                        // The neighbour went away since the entry was made: try the next.
                        Err(Error::UnknownNeighbour) => continue,
                        other => return other.map(drop),
                    }
                }
                Err(Error::NoRoute)
            }
        }
    }
}

/// The live entries of `group`, nearest first.
fn load(group: &Address, now: u64) -> Result<Vec<Entry>, Error> {
    let bytes = state::get(&group.octets())?.unwrap_or_default();
    let mut table: Vec<Entry> = bytes
        .chunks_exact(Entry::LEN)
        .take(MAX_ENTRIES)
        .map(Entry::from_bytes)
        .collect();
    table.retain(|e| e.expires_ns > now);
    Ok(table)
}

/// Stores the table (or removes it when empty). Every entry expires within [`ENTRY_TTL`]
/// from now, so that TTL outlives them all; each entry's own expiry decides when it is dead.
fn save(group: &Address, table: &[Entry]) -> Result<(), Error> {
    let key = group.octets();
    if table.is_empty() {
        return state::remove(&key).map(drop);
    }
    let mut bytes = Vec::with_capacity(table.len() * Entry::LEN);
    for e in table {
        e.write_to(&mut bytes);
    }
    state::put(&key, &bytes, ENTRY_TTL)
}

/// `Message::Advertise { seq, distance }` encoded as postcard does (variant 0, two varints),
/// without pulling the serializer into the module.
fn advertisement(seq: u32, distance: u16) -> Vec<u8> {
    let mut out = Vec::with_capacity(9);
    out.push(0);
    for mut v in [seq, u32::from(distance)] {
        while v >= 0x80 {
            out.push(v as u8 | 0x80);
            v >>= 7;
        }
        out.push(v as u8);
    }
    out
}

/// Applies an advertisement to the table; returns whether it improved it (then it is sorted,
/// nearest first, and at most [`MAX_ENTRIES`] long).
pub fn improve(table: &mut Vec<Entry>, entry: Entry) -> bool {
    if let Some(e) = table.iter_mut().find(|e| e.member == entry.member) {
        if !(newer(entry.seq, e.seq) || (entry.seq == e.seq && entry.distance < e.distance)) {
            return false;
        }
        *e = entry;
    } else if table.len() < MAX_ENTRIES {
        table.push(entry);
    } else {
        // Full: replace the farthest entry (the last, the table being sorted) if the
        // newcomer is nearer.
        let Some(far) = table.last_mut() else {
            return false;
        };
        if entry.distance >= far.distance {
            return false;
        }
        *far = entry;
    }
    // Stable insertion sort by distance (ties keep the member known first): at most
    // MAX_ENTRIES entries, and core's sort would add ~15 KB of code.
    for i in 1..table.len() {
        let mut j = i;
        while j > 0 && table[j].distance < table[j - 1].distance {
            table.swap(j, j - 1);
            j -= 1;
        }
    }
    true
}

export_capsule!(Anycast);

#[cfg(test)]
mod tests;
