//! `capsule-template`: a capsule that counts the active nodes it crosses.
//!
//! The payload's first byte is a hop count; the rest is carried unchanged. Every active node
//! that evaluates the capsule adds one to the count. At the destination the payload is
//! delivered on [`PORT`]; anywhere else the capsule goes on toward its destination with the
//! budget the node left it. With no route, it logs why and fails with `NO_ROUTE`.
//!
//! Change it into your own protocol: the node API is in `capsule_sdk::prelude`, and
//! `capsule-sdk/README.md` is the guide.

#![no_std]

extern crate alloc;

use alloc::vec::Vec;

use capsule_sdk::log::{Level, Line};
use capsule_sdk::prelude::*;

/// Application port the payload is delivered on at the destination.
pub const PORT: u16 = 1;

/// The payload after one more hop: the count (first byte) plus one, the rest unchanged. An
/// empty payload becomes a count of 1.
pub fn counted(payload: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(payload.len().max(1));
    out.push(payload.first().map_or(1, |c| c.saturating_add(1)));
    out.extend_from_slice(payload.get(1..).unwrap_or(&[]));
    out
}

/// The protocol.
#[derive(Default)]
pub struct HopCount;

impl Capsule for HopCount {
    fn evaluate(&mut self) -> Result<(), Error> {
        let payload = counted(&capsule::payload()?);
        let dst = capsule::destination()?;
        if dst == node::address()? {
            return deliver(PORT, &payload);
        }
        match forward_with(&payload) {
            Err(Error::NoRoute) => {
                // `Line` logs without `core::fmt`, which would add about 8 KB to the module.
                let _ = Line::new(Level::Error)
                    .text("hop count: no route toward ")
                    .address(dst)
                    .send();
                Err(Error::NoRoute)
            }
            other => other,
        }
    }
}

export_capsule!(HopCount);

#[cfg(test)]
mod tests {
    use super::*;
    use capsule_sdk::testing::{FakeNode, Incoming};

    fn addr(last: u8) -> Address {
        Address::from(core::net::Ipv4Addr::new(10, 0, 0, last))
    }

    #[test]
    fn counts_the_hop_and_forwards_toward_the_destination() {
        let mut node = FakeNode::new(addr(2))
            .route(addr(9), addr(3))
            .with_capsule(Incoming::new(addr(1), addr(9), 5, &[2, b'h', b'i']));
        assert_eq!(node.evaluate::<HopCount>(), 0);
        assert_eq!(node.sends.len(), 1);
        assert_eq!(node.sends[0].next_hop, NextHop::Neighbour(addr(3)));
        assert_eq!(node.sends[0].payload, [3, b'h', b'i']);
    }

    #[test]
    fn delivers_at_the_destination() {
        let mut node =
            FakeNode::new(addr(9)).with_capsule(Incoming::new(addr(1), addr(9), 5, &[0]));
        assert_eq!(node.evaluate::<HopCount>(), 0);
        assert_eq!(node.deliveries.len(), 1);
        assert_eq!(node.deliveries[0].port, PORT);
        assert_eq!(node.deliveries[0].payload, [1]);
    }

    #[test]
    fn no_route_fails_and_says_why() {
        let mut node =
            FakeNode::new(addr(2)).with_capsule(Incoming::new(addr(1), addr(9), 5, &[]));
        assert_eq!(node.evaluate::<HopCount>(), Error::NoRoute.status());
        assert!(node.sends.is_empty());
        assert!(
            node.logs
                .iter()
                .any(|l| l.message == "hop count: no route toward 10.0.0.9"),
            "{:?}",
            node.logs
        );
    }
}
