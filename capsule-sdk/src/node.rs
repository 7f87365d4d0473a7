//! Layer 2: what a capsule may ask about the node evaluating it.
//!
//! Owns the safe wrappers over `node_address`, `node_time_ns`, `route_next_hop`, `neighbours`
//! and `link_load`, and the [`NextHop`] and [`LinkLoad`] types. Read-only: it must never cause
//! an effect.
//!
//! Everything here is fixed for the whole evaluation (`docs/node-api.md` §7.6): the time, the
//! routing table, the neighbours and the link loads do not change while a capsule runs.
//!
//! Costs, in fuel (§6.1): [`address`] 60; [`time_ns`] nothing beyond the call; [`next_hop`]
//! 100 plus 10 per prefix route of the node; [`neighbours_into`] 130 plus 25 per neighbour
//! ([`neighbours`] calls it twice); [`link_load`] 120 plus 2 per neighbour.

use alloc::vec;
use alloc::vec::Vec;

pub use crate::abi::LinkLoad;
use crate::abi::{LINK_LOAD_LEN, ROUTE_LOCAL};
use crate::capsule::read_address;
use crate::{Address, Error, sys};

/// This node's address (the one capsules it originates carry as source).
///
/// Other nodes route to this address; a capsule is at its destination when its
/// [`destination`](crate::capsule::destination) equals it.
///
/// Cost: 60 fuel. Errors: only [`Error::OutOfFuel`].
///
/// ```
/// use capsule_sdk::prelude::*;
/// use capsule_sdk::testing::FakeNode;
/// use core::net::Ipv4Addr;
///
/// let me = Address::from(Ipv4Addr::new(10, 0, 0, 2));
/// let mut node = FakeNode::new(me);
/// assert_eq!(node.run(node::address), Ok(me));
/// ```
pub fn address() -> Result<Address, Error> {
    // SAFETY: the import writes exactly 16 bytes at the pointer it is given.
    read_address(|out| unsafe { sys::node_address(out) })
}

/// Node time in nanoseconds: monotonic, and fixed for the whole evaluation.
///
/// Counted from an epoch the node chose (its start, or the start of a simulation): compare
/// times of the same node only, for example against a time kept in [`state`](crate::state).
/// In the emulator it is simulated time.
///
/// Cost: nothing beyond the call. Never fails.
///
/// ```
/// use capsule_sdk::prelude::*;
/// use capsule_sdk::testing::FakeNode;
/// use core::time::Duration;
///
/// let mut node = FakeNode::new(Address::from([2; 16]));
/// assert_eq!(node.run(node::time_ns), 0);
/// node.advance(Duration::from_millis(250)); // time moves only between evaluations
/// assert_eq!(node.run(node::time_ns), 250_000_000);
/// ```
pub fn time_ns() -> u64 {
    sys::node_time_ns().max(0) as u64
}

/// Where the routing table sends capsules for a destination, as [`next_hop`] answers and as
/// [`Sent::next_hop`](crate::testing::Sent) records on the host.
///
/// ```
/// use capsule_sdk::prelude::*;
/// use capsule_sdk::testing::FakeNode;
///
/// let (me, next, dst) = (Address::from([2; 16]), Address::from([3; 16]), Address::from([9; 16]));
/// let mut node = FakeNode::new(me).route(dst, next);
/// let here = node.run(|| matches!(node::next_hop(me), Ok(NextHop::Local)));
/// assert!(here);
/// match node.run(|| node::next_hop(dst)) {
///     Ok(NextHop::Neighbour(n)) => assert_eq!(n, next),
///     other => panic!("{other:?}"),
/// }
/// ```
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum NextHop {
    /// The destination is this node (a send there is looped back and evaluated here again).
    Local,
    /// The next active node toward the destination; always one of [`neighbours`].
    Neighbour(Address),
}

/// The next active hop toward `dst`, or [`Error::NoRoute`].
///
/// [`NextHop::Local`] if `dst` is this node; otherwise the neighbour the routing table of
/// active nodes names (legacy IP routers in between are invisible to it). A send without
/// [`via`](crate::effects::Send::via) goes exactly there.
///
/// Cost: 100 fuel plus 10 per prefix route of the node (host routes are one lookup). Errors:
/// [`Error::NoRoute`] when the table has no entry for `dst`, [`Error::OutOfFuel`].
///
/// ```
/// use capsule_sdk::prelude::*;
/// use capsule_sdk::testing::FakeNode;
///
/// let (me, next, dst) = (Address::from([2; 16]), Address::from([3; 16]), Address::from([9; 16]));
/// let mut node = FakeNode::new(me).route(dst, next);
/// node.run(|| {
///     assert_eq!(node::next_hop(dst), Ok(NextHop::Neighbour(next)));
///     assert_eq!(node::next_hop(me), Ok(NextHop::Local));
///     assert_eq!(node::next_hop(Address::from([8; 16])), Err(Error::NoRoute));
/// });
/// // A default route answers for every other destination.
/// node.default_route = Some(next);
/// assert_eq!(node.run(|| node::next_hop(Address::from([8; 16]))), Ok(NextHop::Neighbour(next)));
/// ```
pub fn next_hop(dst: Address) -> Result<NextHop, Error> {
    let mut code = 0;
    let hop = read_address(|out| {
        // SAFETY: `dst` is 16 readable bytes; `out` is 16 writable bytes.
        code = unsafe { sys::route_next_hop(dst.0.as_ptr(), out) };
        code
    })?;
    Ok(if code == ROUTE_LOCAL {
        NextHop::Local
    } else {
        NextHop::Neighbour(hop)
    })
}

/// Fills `buf` with neighbour addresses (in ascending byte order) and returns how many
/// neighbours the node has, which may be more than `buf.len()`.
///
/// Without allocating: use a fixed array when the protocol needs only a few neighbours, or an
/// empty one to count them. Entries of `buf` past the count are left untouched.
///
/// Cost: 130 fuel plus 25 per neighbour. Errors: only [`Error::OutOfFuel`].
///
/// ```
/// use capsule_sdk::prelude::*;
/// use capsule_sdk::testing::FakeNode;
///
/// let mut node = FakeNode::new(Address::from([2; 16]))
///     .neighbour(Address::from([5; 16]))
///     .neighbour(Address::from([3; 16]))
///     .neighbour(Address::from([4; 16]));
/// let mut two = [Address::UNSPECIFIED; 2];
/// assert_eq!(node.run(|| node::neighbours_into(&mut two)), Ok(3));
/// assert_eq!(two, [Address::from([3; 16]), Address::from([4; 16])]);
/// assert_eq!(node.run(|| node::neighbours_into(&mut [])), Ok(3));
/// ```
pub fn neighbours_into(buf: &mut [Address]) -> Result<usize, Error> {
    // SAFETY: `Address` is `repr(transparent)` over `[u8; 16]`, so `buf` is
    // `16 * buf.len()` contiguous writable bytes.
    let n = Error::check(unsafe { sys::neighbours(buf.as_mut_ptr().cast::<u8>(), buf.len()) })?;
    Ok(n as usize)
}

/// Every neighbour of this node (active nodes it exchanges capsules with directly), in
/// ascending byte order.
///
/// Neighbours are the active nodes this node exchanges capsules with directly, over UDP and
/// across any number of legacy routers. The list has no duplicates.
///
/// Cost: two calls of [`neighbours_into`] (one to count, one to fill), so 260 fuel plus 50
/// per neighbour. Errors: only [`Error::OutOfFuel`].
///
/// ```
/// use capsule_sdk::prelude::*;
/// use capsule_sdk::testing::FakeNode;
///
/// let (a, b) = (Address::from([4; 16]), Address::from([3; 16]));
/// let mut node = FakeNode::new(Address::from([2; 16])).neighbour(a).neighbour(b);
/// assert_eq!(node.run(node::neighbours), Ok(vec![b, a])); // ascending
/// ```
pub fn neighbours() -> Result<Vec<Address>, Error> {
    let total = neighbours_into(&mut [])?;
    let mut all = vec![Address::UNSPECIFIED; total];
    let now = neighbours_into(&mut all)?;
    all.truncate(now);
    Ok(all)
}

/// Load of the link toward `neighbour`; [`Error::UnknownNeighbour`] if it is not one.
///
/// Rates are over the node's last complete measurement window (100 ms), scaled to one second;
/// a node without a link model, or `antsd` without a configured `rate`, reports zeros for the
/// queue. See [`LinkLoad`] for the fields and [`LinkLoad::occupancy_per_mille`].
///
/// Cost: 120 fuel plus 2 per neighbour. Errors: [`Error::UnknownNeighbour`],
/// [`Error::OutOfFuel`].
///
/// On the host, set the load per neighbour in [`FakeNode::link_loads`](crate::testing::FakeNode::link_loads)
/// (a neighbour without an entry reports all zeros):
///
/// ```
/// use capsule_sdk::prelude::*;
/// use capsule_sdk::testing::{FakeNode, Incoming};
///
/// /// Sends toward the destination through the least loaded neighbour.
/// #[derive(Default)]
/// struct LeastLoaded;
///
/// impl Capsule for LeastLoaded {
///     fn evaluate(&mut self) -> Result<(), Error> {
///         let mut best = None;
///         for n in node::neighbours()? {
///             let load = node::link_load(n)?.occupancy_per_mille();
///             if best.is_none_or(|(_, l)| load < l) {
///                 best = Some((n, load));
///             }
///         }
///         let Some((via, _)) = best else { return Err(Error::NoRoute) };
///         Send::to(capsule::destination()?, capsule::budget()).via(via).bytes(b"")?;
///         Ok(())
///     }
/// }
///
/// let (me, busy, idle, dst) = (
///     Address::from([2; 16]),
///     Address::from([3; 16]),
///     Address::from([4; 16]),
///     Address::from([9; 16]),
/// );
/// let mut node = FakeNode::new(me)
///     .neighbour(busy)
///     .neighbour(idle)
///     .with_capsule(Incoming::new(me, dst, 3, b""));
/// node.link_loads.insert(busy, LinkLoad { queue_len: 48, queue_cap: 64, ..LinkLoad::default() });
/// node.link_loads.insert(idle, LinkLoad { queue_len: 2, queue_cap: 64, ..LinkLoad::default() });
/// assert_eq!(node.evaluate::<LeastLoaded>(), 0);
/// assert_eq!(node.sends[0].next_hop, NextHop::Neighbour(idle));
///
/// assert_eq!(node.run(|| node::link_load(dst)), Err(Error::UnknownNeighbour));
/// ```
pub fn link_load(neighbour: Address) -> Result<LinkLoad, Error> {
    let mut b = [0; LINK_LOAD_LEN];
    // SAFETY: `neighbour` is 16 readable bytes; `b` is 24 writable bytes.
    Error::check(unsafe { sys::link_load(neighbour.0.as_ptr(), b.as_mut_ptr()) })?;
    Ok(LinkLoad::from_le_bytes(&b))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn link_load_layout_is_little_endian_and_fixed() {
        let l = LinkLoad {
            queue_len: 1,
            queue_cap: 0x0302,
            drops_recent: 4,
            tx_pps: 5,
            tx_bytes_per_s: 0x0807_0000_0006,
        };
        let b = l.to_le_bytes();
        assert_eq!(&b[0..8], &[1, 0, 0, 0, 2, 3, 0, 0]);
        assert_eq!(&b[16..24], &[6, 0, 0, 0, 7, 8, 0, 0]);
        assert_eq!(LinkLoad::from_le_bytes(&b), l);
    }

    #[test]
    fn occupancy_handles_unknown_and_overfull_queues() {
        let mut l = LinkLoad::default();
        assert_eq!(l.occupancy_per_mille(), 0);
        l.queue_cap = 200;
        l.queue_len = 50;
        assert_eq!(l.occupancy_per_mille(), 250);
        l.queue_len = 900;
        assert_eq!(l.occupancy_per_mille(), 1000);
    }
}
