//! Layer 2: what a capsule may ask about the node evaluating it.
//!
//! Owns the safe wrappers over `node_address`, `node_time_ns`, `route_next_hop`, `neighbours`
//! and `link_load`, and the [`NextHop`] and [`LinkLoad`] types. Read-only: it must never cause
//! an effect.

use alloc::vec;
use alloc::vec::Vec;

pub use crate::abi::LinkLoad;
use crate::abi::{LINK_LOAD_LEN, ROUTE_LOCAL};
use crate::capsule::read_address;
use crate::{Address, Error, sys};

/// This node's address (the one capsules it originates carry as source).
pub fn address() -> Result<Address, Error> {
    // SAFETY: the import writes exactly 16 bytes at the pointer it is given.
    read_address(|out| unsafe { sys::node_address(out) })
}

/// Node time in nanoseconds: monotonic, and fixed for the whole evaluation.
pub fn time_ns() -> u64 {
    sys::node_time_ns().max(0) as u64
}

/// Where the routing table sends capsules for a destination.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum NextHop {
    /// The destination is this node.
    Local,
    /// The next active node toward the destination; always one of [`neighbours`].
    Neighbour(Address),
}

/// The next active hop toward `dst`, or [`Error::NoRoute`].
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
pub fn neighbours_into(buf: &mut [Address]) -> Result<usize, Error> {
    // SAFETY: `Address` is `repr(transparent)` over `[u8; 16]`, so `buf` is
    // `16 * buf.len()` contiguous writable bytes.
    let n = Error::check(unsafe { sys::neighbours(buf.as_mut_ptr().cast::<u8>(), buf.len()) })?;
    Ok(n as usize)
}

/// Every neighbour of this node (active nodes it exchanges capsules with directly), in
/// ascending byte order.
pub fn neighbours() -> Result<Vec<Address>, Error> {
    let total = neighbours_into(&mut [])?;
    let mut all = vec![Address::UNSPECIFIED; total];
    let now = neighbours_into(&mut all)?;
    all.truncate(now);
    Ok(all)
}

/// Load of the link toward `neighbour`; [`Error::UnknownNeighbour`] if it is not one.
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
