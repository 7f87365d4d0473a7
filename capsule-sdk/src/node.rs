//! Layer 2: what a capsule may ask about the node evaluating it.
//!
//! Owns the safe wrappers over `node_address`, `node_time_ns`, `route_next_hop`, `neighbours`
//! and `link_load`, and the [`NextHop`] and [`LinkLoad`] types. Read-only: it must never cause
//! an effect.

use alloc::vec;
use alloc::vec::Vec;

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

/// Recent load of the link toward one neighbour (see `docs/node-api.md`, `link_load`).
///
/// Rates are over the node's last complete measurement window (one second by default).
/// A node without a bounded queue toward that neighbour reports `queue_cap == 0`.
#[derive(Clone, Copy, PartialEq, Eq, Debug, Default)]
pub struct LinkLoad {
    /// Capsules waiting in the transmit queue.
    pub queue_len: u32,
    /// Capacity of the transmit queue in capsules (0: unknown or unbounded).
    pub queue_cap: u32,
    /// Capsules dropped on this link in the last window.
    pub drops_recent: u32,
    /// Capsules transmitted per second.
    pub tx_pps: u32,
    /// Bytes transmitted per second.
    pub tx_bytes_per_s: u64,
}

impl LinkLoad {
    /// Parses the 24-byte little-endian record `link_load` writes.
    pub fn from_le_bytes(b: &[u8; LINK_LOAD_LEN]) -> Self {
        let u32_at = |i: usize| u32::from_le_bytes([b[i], b[i + 1], b[i + 2], b[i + 3]]);
        let mut rate = [0; 8];
        rate.copy_from_slice(&b[16..24]);
        LinkLoad {
            queue_len: u32_at(0),
            queue_cap: u32_at(4),
            drops_recent: u32_at(8),
            tx_pps: u32_at(12),
            tx_bytes_per_s: u64::from_le_bytes(rate),
        }
    }

    /// The 24-byte little-endian record, as the node writes it.
    pub fn to_le_bytes(&self) -> [u8; LINK_LOAD_LEN] {
        let mut b = [0; LINK_LOAD_LEN];
        b[0..4].copy_from_slice(&self.queue_len.to_le_bytes());
        b[4..8].copy_from_slice(&self.queue_cap.to_le_bytes());
        b[8..12].copy_from_slice(&self.drops_recent.to_le_bytes());
        b[12..16].copy_from_slice(&self.tx_pps.to_le_bytes());
        b[16..24].copy_from_slice(&self.tx_bytes_per_s.to_le_bytes());
        b
    }

    /// Queue occupancy in per mille (0 when the capacity is unknown).
    pub fn occupancy_per_mille(&self) -> u32 {
        match self.queue_cap {
            0 => 0,
            cap => (u64::from(self.queue_len) * 1000 / u64::from(cap)).min(1000) as u32,
        }
    }
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
