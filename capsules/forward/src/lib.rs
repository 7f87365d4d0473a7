//! `capsule-forward`: plain unicast, the IP behaviour as a capsule.
//!
//! At the destination node the payload is delivered, unchanged, to the local application on
//! [`DELIVERY_PORT`]. Anywhere else the capsule is forwarded toward its destination with all
//! the budget the node left it (the node already charged this hop). With no budget left the
//! evaluation fails with `BUDGET_EXCEEDED`; with no route it logs an error and fails with
//! `NO_ROUTE`. The payload is opaque: this capsule never reads or changes it, and keeps no
//! state.

#![no_std]

use capsule_sdk::prelude::*;

/// Local application port that receives the payload at the destination.
pub const DELIVERY_PORT: u16 = 1;

/// The unicast forwarding protocol.
#[derive(Default)]
pub struct Forward;

impl Capsule for Forward {
    fn evaluate(&mut self) -> Result<(), Error> {
        // The fast path of every node: one copy in, one out, no formatting.
        let payload = capsule::payload()?;
        let dst = capsule::destination()?;
        if dst == node::address()? {
            return deliver(DELIVERY_PORT, &payload);
        }
        match forward_with(&payload) {
            Err(Error::NoRoute) => {
                // A `Line` rather than `error!`: formatting would add 10 KB to the module.
                let _ = capsule_sdk::log::Line::new(capsule_sdk::log::Level::Error)
                    .text("forward: no route toward ")
                    .address(dst)
                    .send();
                Err(Error::NoRoute)
            }
            other => other,
        }
    }
}

export_capsule!(Forward);

#[cfg(test)]
mod tests {
    use super::*;
    use capsule_sdk::testing::{Delivery, FakeNode, Incoming};

    fn addr(last: u8) -> Address {
        Address::from(core::net::Ipv4Addr::new(10, 0, 0, last))
    }

    #[test]
    fn forwards_toward_destination_with_remaining_budget() {
        let mut node = FakeNode::new(addr(2))
            .route(addr(9), addr(3))
            .with_capsule(Incoming::new(addr(1), addr(9), 5, b"data"));
        assert_eq!(node.evaluate::<Forward>(), 0);
        assert_eq!(node.sends.len(), 1);
        let sent = &node.sends[0];
        assert_eq!(sent.next_hop, NextHop::Neighbour(addr(3)));
        assert_eq!((sent.source, sent.destination), (addr(1), addr(9)));
        assert_eq!(sent.budget, 5);
        assert_eq!(sent.payload, b"data");
        assert!(node.deliveries.is_empty());
    }

    #[test]
    fn delivers_at_destination() {
        let mut node =
            FakeNode::new(addr(9)).with_capsule(Incoming::new(addr(1), addr(9), 0, b"hello"));
        assert_eq!(node.evaluate::<Forward>(), 0);
        assert!(node.sends.is_empty());
        assert_eq!(
            node.deliveries,
            [Delivery {
                port: DELIVERY_PORT,
                payload: b"hello".to_vec()
            }]
        );
    }

    #[test]
    fn no_route_is_logged_and_fails() {
        let mut node =
            FakeNode::new(addr(2)).with_capsule(Incoming::new(addr(1), addr(9), 5, b"x"));
        assert_eq!(node.evaluate::<Forward>(), Error::NoRoute.status());
        assert!(!node.made_effect());
        assert_eq!(node.logs.len(), 1);
        assert_eq!(node.logs[0].level, 0);
        assert_eq!(node.logs[0].message, "forward: no route toward 10.0.0.9");
    }

    #[test]
    fn exhausted_budget_stops_the_capsule() {
        let mut node = FakeNode::new(addr(2))
            .route(addr(9), addr(3))
            .with_capsule(Incoming::new(addr(1), addr(9), 0, b"x"));
        assert_eq!(node.evaluate::<Forward>(), Error::BudgetExceeded.status());
        assert!(!node.made_effect());
    }
}
