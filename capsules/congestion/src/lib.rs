//! `capsule-congestion`: unicast data with congestion notification back to the flow's source.
//!
//! # Protocol
//!
//! Two messages share the protocol ([`Message`], postcard):
//!
//! - [`Data`] travels hop by hop toward the capsule's destination, like `capsule-forward`.
//!   Every active node that evaluates it adds one to `hops`. At the destination it is
//!   delivered on [`DATA_PORT`]. Anywhere else the node looks up the next active hop and reads
//!   `node::link_load` for the link toward it. The link is **congested** when its transmit
//!   queue is at least [`CONGESTED_PER_MILLE`] per mille full (50 %; only when the node knows
//!   the queue capacity) or when it dropped capsules in the last measurement window. On a
//!   congested link the node sends a [`Notification`] back to the data's source, then forwards
//!   the data anyway: the notification is advice, never a drop.
//! - [`Notification`] travels from the congested node (its header source) to the flow's
//!   source, forwarded unchanged by the nodes in between, and is delivered there on
//!   [`NOTIFY_PORT`]. It names the congested node, the link, the load seen, the flow and the
//!   `seq` of the data capsule that triggered it.
//!
//! # Rate limit and state
//!
//! A node notifies a flow (source address + `flow` id) at most once per
//! [`NOTIFY_INTERVAL`] (100 ms). It keeps the time of the last notification under the
//! 21-byte key `b"n"` + source (16 bytes) + flow (4 bytes, big-endian), with a TTL of one
//! interval: nothing is kept for flows that are not being notified. The protocol's state
//! quota (64 KiB by default, about 400 such entries) bounds the number of flows a node can
//! rate-limit at once; when a new entry does not fit, the node skips the notification rather
//! than send it unlimited.
//!
//! # Budget
//!
//! A notification is paid out of the data capsule's budget: it carries `hops` (active nodes
//! between the source and here, this one included) + [`NOTIFY_SLACK`], enough for the way
//! back when routes are symmetric, capped so that the data keeps at least 1. With less than 2
//! budget left, no notification is sent. The data carries the rest.
//!
//! # Guarantees
//!
//! Data is forwarded (or delivered) whatever the load, along the routed path like
//! `capsule-forward`; only its budget shrinks by what a notification took, and a failed
//! notification (no route back) never affects it. The sender's own node checks its first link
//! too: a notification about it is looped back and delivered locally. Notifications are best effort: they
//! may be lost, and they say only that one link on the path was loaded when a capsule of the
//! flow crossed it. Nothing is guaranteed about fairness between flows: the reaction is up to
//! the applications.
//!
//! # Application side
//!
//! - **Sender.** Injects `Message::Data(Data { hops: 0, flow, seq, data })` with destination =
//!   the receiver's node address and a budget at least the number of active hops plus room
//!   for notifications (e.g. 32). `flow` is any id unique among the sender's flows; `seq`
//!   counts the flow's capsules. Keep `data` at most [`MAX_DATA`] bytes. It receives
//!   [`Notification`] (postcard, no [`Message`] wrapper) on [`NOTIFY_PORT`] of its node.
//! - **Receiver.** Receives [`Data`] (postcard, `hops` = active nodes evaluated, both ends
//!   included) on [`DATA_PORT`] of the destination node.
//! - **Recommended reaction** (the rate control is the application's): multiplicative decrease,
//!   additive increase. On a notification for a flow, halve its sending rate, but at most once
//!   per round trip: ignore notifications whose `seq` is below the first `seq` sent after the
//!   previous decrease. Without notifications, add a fixed step (e.g. one capsule per second)
//!   every round trip, up to the application's ceiling.

#![no_std]
#![warn(missing_docs)]

extern crate alloc;

use alloc::vec::Vec;
use core::time::Duration;

use capsule_sdk::prelude::*;

/// Local application port that receives [`Data`] at the destination.
pub const DATA_PORT: u16 = 20;
/// Local application port that receives [`Notification`]s at the flow's source.
pub const NOTIFY_PORT: u16 = 21;
/// Queue occupancy, in per mille of the queue's capacity, from which a link is congested.
pub const CONGESTED_PER_MILLE: u32 = 500;
/// Shortest time between two notifications of one flow by one node.
pub const NOTIFY_INTERVAL: Duration = Duration::from_millis(100);
/// Budget a notification carries beyond the hops the data has made (asymmetric routes).
pub const NOTIFY_SLACK: u32 = 4;
/// Largest application data in one [`Data`] capsule that always fits the 1,200-byte payload
/// limit, whatever `flow`, `seq` and `hops` are.
pub const MAX_DATA: usize = 1_186;

/// A capsule of the congestion notification protocol.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(crate = "capsule_sdk::serde")]
pub enum Message {
    /// Application data of a flow, toward the capsule's destination.
    Data(Data),
    /// Advice from a congested node, toward the flow's source.
    Notify(Notification),
}

/// Application data of one flow.
///
/// `hops` comes first and is a `u8`, so it is always the payload's second byte (after the
/// message's variant tag): nodes count it in place without re-encoding the capsule.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(crate = "capsule_sdk::serde")]
pub struct Data {
    /// Active nodes that evaluated this capsule so far (the sender injects 0; stops at 255).
    pub hops: u8,
    /// Flow id chosen by the sender; notifications name it.
    pub flow: u32,
    /// Sequence number chosen by the sender; notifications echo it.
    pub seq: u32,
    /// Application bytes, opaque to the protocol.
    pub data: Vec<u8>,
}

/// [`Message`] as a node reads it: the same encoding, with the data borrowed in place
/// rather than copied byte by byte into a `Vec` (less code and fuel).
#[derive(Deserialize)]
#[serde(crate = "capsule_sdk::serde")]
enum View<'a> {
    Data {
        hops: u8,
        flow: u32,
        seq: u32,
        #[allow(dead_code)]
        data: &'a [u8],
    },
    Notify(#[allow(dead_code)] Notification),
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

/// The load a congested node saw on the link toward its next hop.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(crate = "capsule_sdk::serde")]
pub struct Load {
    /// Capsules waiting in the transmit queue.
    pub queue_len: u32,
    /// Capacity of the queue in capsules (0: unknown).
    pub queue_cap: u32,
    /// Capsules dropped on the link in the last measurement window.
    pub drops_recent: u32,
    /// Capsules transmitted per second over the last window.
    pub tx_pps: u32,
}

/// Congestion advice for a flow's source.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(crate = "capsule_sdk::serde")]
pub struct Notification {
    /// The flow, as in [`Data::flow`].
    pub flow: u32,
    /// `seq` of the data capsule that found the link congested.
    pub seq: u32,
    /// Active nodes from the source to the congested node, both included (at most 255).
    pub hops: u8,
    /// The congested node.
    pub node: Address,
    /// The neighbour the congested link leads to.
    pub link: Address,
    /// What the node saw on that link.
    pub load: Load,
}

impl Load {
    /// Whether this load counts as congestion: queue at least [`CONGESTED_PER_MILLE`] full
    /// (known capacity only), or any recent drop.
    pub fn is_congested(&self) -> bool {
        let link = LinkLoad {
            queue_len: self.queue_len,
            queue_cap: self.queue_cap,
            ..LinkLoad::default()
        };
        link.occupancy_per_mille() >= CONGESTED_PER_MILLE || self.drops_recent > 0
    }
}

impl From<LinkLoad> for Load {
    fn from(l: LinkLoad) -> Self {
        Load {
            queue_len: l.queue_len,
            queue_cap: l.queue_cap,
            drops_recent: l.drops_recent,
            tx_pps: l.tx_pps,
        }
    }
}

/// The congestion notification protocol.
#[derive(Default)]
pub struct Congestion;

impl Capsule for Congestion {
    fn evaluate(&mut self) -> Result<(), Error> {
        let mut raw = capsule::payload()?;
        let me = node::address()?;
        let dst = capsule::destination()?;
        let (flow, seq, hops) = match View::decode(&raw)? {
            // A notification's encoding follows the one-byte variant tag.
            View::Notify(_) if dst == me => return deliver(NOTIFY_PORT, &raw[1..]),
            View::Notify(_) => return forward_with(&raw),
            View::Data {
                hops, flow, seq, ..
            } => (flow, seq, hops),
        };
        let hops = hops.saturating_add(1);
        // Decoding succeeded, so byte 1 is `hops` (see `Data`).
        raw[1] = hops;
        match node::next_hop(dst)? {
            NextHop::Local => deliver(DATA_PORT, &raw[1..]),
            NextHop::Neighbour(next) => forward_data(&raw, flow, seq, hops, dst, next, me),
        }
    }
}

/// Forwards the data capsule `raw` to `next`, first sending a notification to its source
/// if the link toward `next` is congested.
fn forward_data(
    raw: &[u8],
    flow: u32,
    seq: u32,
    hops: u8,
    dst: Address,
    next: Address,
    me: Address,
) -> Result<(), Error> {
    let budget = capsule::budget();
    if budget == 0 {
        return Err(Error::BudgetExceeded);
    }
    let load = Load::from(node::link_load(next)?);
    let source = capsule::source()?;
    let mut notify_budget = 0;
    if budget >= 2 && load.is_congested() && may_notify(source, flow)? {
        notify_budget = (u32::from(hops) + NOTIFY_SLACK).min(budget - 1);
    }
    Send::to(dst, budget - notify_budget).via(next).bytes(raw)?;
    if notify_budget > 0 {
        let notification = Notification {
            flow,
            seq,
            hops,
            node: me,
            link: next,
            load,
        };
        // Advice only: a notification that cannot be sent (no route back) must not cost the
        // data its forwarding, so its error is dropped here.
        let _ = Send::to(source, notify_budget)
            .source_self()
            .typed(&Message::Notify(notification));
    }
    Ok(())
}

/// The state key of a flow's rate limit.
pub fn flow_key(source: Address, flow: u32) -> [u8; 21] {
    let mut key = [0; 21];
    key[0] = b'n';
    key[1..17].copy_from_slice(&source.octets());
    key[17..].copy_from_slice(&flow.to_be_bytes());
    key
}

/// Whether the flow may be notified now; if so, records this as its last notification.
fn may_notify(source: Address, flow: u32) -> Result<bool, Error> {
    let key = flow_key(source, flow);
    let now = node::time_ns();
    let interval = NOTIFY_INTERVAL.as_millis() as u64 * 1_000_000;
    if let Some(last) = state::get_typed::<u64>(&key)?
        && now.saturating_sub(last) < interval
    {
        return Ok(false);
    }
    match state::put_typed(&key, &now, NOTIFY_INTERVAL) {
        Ok(()) => Ok(true),
        // Without a record the limit could not hold: skip the advice instead.
        Err(Error::QuotaExceeded | Error::StoreFull) => Ok(false),
        Err(e) => Err(e),
    }
}

export_capsule!(Congestion);

#[cfg(test)]
mod tests;
