//! Layer 2 helpers for flooding protocols: a message that an origin issues in numbered
//! rounds and every node passes on to all its neighbours.
//!
//! Owns comparing rounds ([`newer`]) and the send of one payload to every neighbour but the
//! one it came from ([`flood`]). Whether a message is new or useful enough to pass on is the
//! protocol's to decide (typically from state kept per origin); this module never reads or
//! writes state.
//!
//! A typical flooding capsule keeps the newest round seen per origin in state, passes a
//! message on only if [`newer`] says its round is new, and drops it otherwise (no effect):
//!
//! ```
//! use capsule_sdk::flood::{flood, newer};
//! use capsule_sdk::prelude::*;
//! use capsule_sdk::testing::{FakeNode, Incoming};
//! use core::time::Duration;
//!
//! #[derive(Serialize, Deserialize)]
//! #[serde(crate = "capsule_sdk::serde")]
//! struct Announce {
//!     origin: Address,
//!     round: u32,
//! }
//!
//! #[derive(Default)]
//! struct Flood;
//!
//! impl Capsule for Flood {
//!     fn evaluate(&mut self) -> Result<(), Error> {
//!         let msg: Announce = capsule::payload_as()?;
//!         let key = msg.origin.octets();
//!         if let Some(seen) = state::get_typed::<u32>(&key)? {
//!             if !newer(msg.round, seen) {
//!                 return Ok(()); // already passed on: drop it
//!             }
//!         }
//!         state::put_typed(&key, &msg.round, Duration::from_secs(60))?;
//!         deliver(9, &capsule::payload()?)?;
//!         let me = node::address()?;
//!         flood(capsule::destination()?, capsule::previous()?, me, &capsule::payload()?)
//!     }
//! }
//!
//! let (me, from, a, b) = (
//!     Address::from([2; 16]),
//!     Address::from([1; 16]),
//!     Address::from([3; 16]),
//!     Address::from([4; 16]),
//! );
//! let payload = capsule_sdk::postcard::to_allocvec(&Announce { origin: from, round: 1 }).unwrap();
//! let mut arrival = Incoming::new(from, Address::UNSPECIFIED, 6, &payload);
//! arrival.previous = from;
//! let mut node = FakeNode::new(me)
//!     .neighbour(from)
//!     .neighbour(a)
//!     .neighbour(b)
//!     .with_capsule(arrival);
//! assert_eq!(node.evaluate::<Flood>(), 0);
//! // Passed on to every neighbour but the one it came from, the budget split 3 + 3.
//! let out: Vec<(NextHop, u32)> = node.sends.iter().map(|s| (s.next_hop, s.budget)).collect();
//! assert_eq!(out, [(NextHop::Neighbour(a), 3), (NextHop::Neighbour(b), 3)]);
//! // The same round again: dropped.
//! assert_eq!(node.evaluate::<Flood>(), 0);
//! assert!(!node.made_effect());
//! ```

use crate::effects::Send;
use crate::{Address, Error, abi, capsule, node};

/// Whether round `a` is newer than round `b` in serial number arithmetic (RFC 1982): `a` is
/// newer if it lies less than 2^31 ahead of `b`, so numbering may wrap at 2^32.
///
/// Pure computation: no node call. Exactly 2^31 apart, neither is newer.
///
/// ```
/// use capsule_sdk::flood::newer;
///
/// assert!(newer(8, 7));
/// assert!(!newer(7, 7) && !newer(7, 8));
/// assert!(newer(2, u32::MAX - 2)); // across the wrap
/// assert!(!newer(1 << 31, 0) && !newer(0, 1 << 31));
/// ```
pub fn newer(a: u32, b: u32) -> bool {
    (a.wrapping_sub(b) as i32) > 0
}

/// Sends `payload` toward `dst` via every neighbour except `prev`, the node the capsule came
/// from (all of them when `prev` is `me`, this node: the capsule was injected here), at most
/// [`abi::MAX_SENDS`] of them in ascending address order. The remaining budget is split
/// evenly, the first neighbours getting one more where it does not divide; neighbours it
/// cannot cover get nothing.
///
/// With no neighbour to send to or no budget left it sends nothing and succeeds: the message
/// is dropped here (the node counts `no_effect` if the evaluation made no other effect).
///
/// Every copy keeps `dst` as its header destination and the current capsule's source; only
/// the first hop is chosen ([`Send::via`]). Cost: [`node::neighbours`] (260 fuel plus 50 per
/// neighbour), then one send per target (170 fuel plus 2 per neighbour plus 1 per 8 payload
/// bytes each). Errors: those of the sends ([`Error::TooLarge`] for a payload over 1,200
/// bytes) and [`Error::OutOfFuel`]; a failed send stops the flood there.
///
/// ```
/// use capsule_sdk::flood::flood;
/// use capsule_sdk::prelude::*;
/// use capsule_sdk::testing::{FakeNode, Incoming};
///
/// let n = |i: u8| Address::from([i; 16]);
/// let mut node = FakeNode::new(n(1))
///     .neighbour(n(2))
///     .neighbour(n(3))
///     .neighbour(n(4))
///     .with_capsule(Incoming::new(n(9), n(9), 7, b"x"));
/// // Injected here (previous = this node): all three neighbours, 7 split as 3 + 2 + 2.
/// node.run(|| flood(n(9), n(1), n(1), b"x")).unwrap();
/// let budgets: Vec<u32> = node.sends.iter().map(|s| s.budget).collect();
/// assert_eq!(budgets, [3, 2, 2]);
/// assert!(node.sends.iter().all(|s| s.destination == n(9)));
/// ```
pub fn flood(dst: Address, prev: Address, me: Address, payload: &[u8]) -> Result<(), Error> {
    let mut targets = node::neighbours()?;
    targets.retain(|n| *n != prev || prev == me);
    targets.truncate(abi::MAX_SENDS);
    let budget = capsule::budget() as usize;
    if targets.is_empty() || budget == 0 {
        return Ok(());
    }
    let (share, extra) = (budget / targets.len(), budget % targets.len());
    for (i, n) in targets.iter().enumerate() {
        let b = share + usize::from(i < extra);
        if b == 0 {
            break;
        }
        Send::to(dst, b as u32).via(*n).bytes(payload)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use alloc::vec::Vec;

    use super::*;
    use crate::node::NextHop;
    use crate::testing::{FakeNode, Incoming};

    fn addr(n: u8) -> Address {
        let mut a = [0; 16];
        a[15] = n;
        Address(a)
    }

    #[test]
    fn rounds_compare_across_the_wrap_up_to_half_the_number_space() {
        assert!(newer(1, 0) && !newer(0, 1) && !newer(7, 7));
        assert!(newer(2, u32::MAX - 2));
        // Less than 2^31 ahead is newer; exactly 2^31 apart, neither is.
        assert!(newer((1 << 31) - 1, 0));
        assert!(!newer(1 << 31, 0) && !newer(0, 1 << 31));
    }

    /// The budgets and neighbours of a flood from node 1 with `budget`, arrived from `prev`.
    fn flooded(budget: u32, prev: u8) -> Vec<(u32, NextHop)> {
        let mut node = FakeNode::new(addr(1))
            .neighbour(addr(2))
            .neighbour(addr(3))
            .neighbour(addr(4))
            .with_capsule(Incoming::new(addr(9), addr(9), budget, b"x"));
        node.run(|| flood(addr(9), addr(prev), addr(1), b"x"))
            .unwrap();
        node.sends.iter().map(|s| (s.budget, s.next_hop)).collect()
    }

    #[test]
    fn splits_the_budget_among_all_neighbours_but_the_previous_one() {
        let via = NextHop::Neighbour;
        assert_eq!(flooded(5, 3), [(3, via(addr(2))), (2, via(addr(4)))]);
        assert_eq!(
            flooded(7, 1),
            [(3, via(addr(2))), (2, via(addr(3))), (2, via(addr(4)))]
        );
        // Too little budget for everyone: the first neighbours get it.
        assert_eq!(flooded(2, 1), [(1, via(addr(2))), (1, via(addr(3)))]);
        assert_eq!(flooded(0, 1), []);
    }
}
