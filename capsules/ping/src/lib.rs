//! `capsule-ping`: an active-path ping.
//!
//! A request travels toward its destination; every active node that evaluates it, the first
//! and the last included, increments `hops` and appends its own address to `path` (only the
//! first [`MAX_PATH`] nodes are recorded; `hops` keeps counting). At the destination the
//! request becomes a reply, sent back to the request's source with this node as source and all
//! the remaining budget. Nodes forward the reply unchanged; at its destination (the original
//! source) it is delivered to the local application on [`REPLY_PORT`], which reads the path,
//! the hop count, and its own `sent_ns` to compute the round trip.
//!
//! Payload: [`Ping`] encoded with postcard, which is, in order: `kind` (varint: 0 request,
//! 1 reply), `id` (varint u32), `sent_ns` (varint u64), `hops` (varint u16), `path` (varint
//! count, then 16 bytes per address). An application starts a ping by injecting a request
//! whose source is its node, with `hops = 0` and an empty path. The capsule keeps no state.

#![no_std]

extern crate alloc;

use alloc::vec::Vec;

use capsule_sdk::prelude::*;

/// Local application port that receives replies at the source.
pub const REPLY_PORT: u16 = 7;
/// Most path entries recorded; a payload carrying more is rejected.
pub const MAX_PATH: usize = 32;

/// Whether a [`Ping`] is on its way out or back.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(crate = "capsule_sdk::serde")]
pub enum Kind {
    /// Travelling toward the destination, recording the path.
    Request,
    /// Travelling back to the source with the recorded path.
    Reply,
}

/// The ping payload.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(crate = "capsule_sdk::serde")]
pub struct Ping {
    /// Request or reply.
    pub kind: Kind,
    /// Chosen by the application to match replies to requests.
    pub id: u32,
    /// Node time at the source when the request was sent (set by the application).
    pub sent_ns: u64,
    /// Active nodes that evaluated the request, the source's and destination's included.
    pub hops: u16,
    /// The first [`MAX_PATH`] of those nodes, in order.
    pub path: Vec<Address>,
}

/// The ping protocol.
#[derive(Default)]
pub struct PingCapsule;

impl Capsule for PingCapsule {
    fn evaluate(&mut self) -> Result<(), Error> {
        let raw = capsule::payload()?;
        let mut ping: Ping = capsule::decode(&raw)?;
        if ping.path.len() > MAX_PATH {
            return Err(Error::Decode);
        }
        let me = node::address()?;
        let dst = capsule::destination()?;
        let id = ping.id;
        let result = match ping.kind {
            Kind::Request => {
                ping.hops = ping.hops.saturating_add(1);
                if ping.path.len() < MAX_PATH {
                    ping.path.push(me);
                }
                if dst == me {
                    reply(ping)
                } else {
                    forward_typed(&ping)
                }
            }
            Kind::Reply if dst == me => deliver(REPLY_PORT, &raw),
            Kind::Reply => forward_with(&raw),
        };
        if result == Err(Error::NoRoute) {
            // A `Line` rather than `error!`, which would pull `core::fmt` into the module.
            let _ = capsule_sdk::log::Line::new(capsule_sdk::log::Level::Error)
                .text("ping ")
                .number(u64::from(id))
                .text(": no route toward the destination")
                .send();
        }
        result
    }
}

/// Turns the request around: back to its source, from this node, with all budget left.
fn reply(mut ping: Ping) -> Result<(), Error> {
    let budget = capsule::budget();
    if budget == 0 {
        return Err(Error::BudgetExceeded);
    }
    ping.kind = Kind::Reply;
    Send::to(capsule::source()?, budget)
        .source_self()
        .typed(&ping)?;
    Ok(())
}

export_capsule!(PingCapsule);

#[cfg(test)]
mod tests {
    use super::*;
    use alloc::vec;
    use capsule_sdk::abi::status;
    use capsule_sdk::testing::{FakeNode, Incoming};

    fn addr(last: u8) -> Address {
        Address::from(core::net::Ipv4Addr::new(10, 0, 0, last))
    }

    fn request(path: Vec<Address>) -> Ping {
        Ping {
            kind: Kind::Request,
            id: 42,
            sent_ns: 1_000,
            hops: path.len() as u16,
            path,
        }
    }

    fn encode(p: &Ping) -> Vec<u8> {
        capsule_sdk::postcard::to_allocvec(p).unwrap()
    }

    fn decode(b: &[u8]) -> Ping {
        capsule_sdk::postcard::from_bytes(b).unwrap()
    }

    #[test]
    fn wire_layout_is_the_documented_one() {
        let p = Ping {
            kind: Kind::Reply,
            id: 300,
            sent_ns: 1,
            hops: 2,
            path: vec![addr(7)],
        };
        let mut want = vec![1, 0xac, 0x02, 1, 2, 1];
        want.extend_from_slice(&addr(7).octets());
        assert_eq!(encode(&p), want);
    }

    #[test]
    fn request_records_this_node_and_moves_on() {
        let payload = encode(&request(vec![addr(1)]));
        let mut node = FakeNode::new(addr(2))
            .route(addr(9), addr(3))
            .with_capsule(Incoming::new(addr(1), addr(9), 10, &payload));
        assert_eq!(node.evaluate::<PingCapsule>(), 0);
        assert_eq!(node.sends.len(), 1);
        let sent = &node.sends[0];
        assert_eq!(sent.next_hop, NextHop::Neighbour(addr(3)));
        assert_eq!(
            (sent.source, sent.destination, sent.budget),
            (addr(1), addr(9), 10)
        );
        let p = decode(&sent.payload);
        assert_eq!(p.kind, Kind::Request);
        assert_eq!(p.hops, 2);
        assert_eq!(p.path, [addr(1), addr(2)]);
    }

    #[test]
    fn destination_replies_to_source_from_itself() {
        let payload = encode(&request(vec![addr(1), addr(2)]));
        let mut node = FakeNode::new(addr(9))
            .route(addr(1), addr(3))
            .with_capsule(Incoming::new(addr(1), addr(9), 7, &payload));
        assert_eq!(node.evaluate::<PingCapsule>(), 0);
        let sent = &node.sends[0];
        assert_eq!(
            (sent.source, sent.destination, sent.budget),
            (addr(9), addr(1), 7)
        );
        assert_eq!(sent.next_hop, NextHop::Neighbour(addr(3)));
        let p = decode(&sent.payload);
        assert_eq!(p.kind, Kind::Reply);
        assert_eq!((p.id, p.sent_ns, p.hops), (42, 1_000, 3));
        assert_eq!(p.path, [addr(1), addr(2), addr(9)]);
    }

    #[test]
    fn reply_is_forwarded_unchanged_then_delivered_at_source() {
        let mut reply = request(vec![addr(1), addr(9)]);
        reply.kind = Kind::Reply;
        let payload = encode(&reply);
        let mut mid = FakeNode::new(addr(2))
            .route(addr(1), addr(1))
            .with_capsule(Incoming::new(addr(9), addr(1), 4, &payload));
        assert_eq!(mid.evaluate::<PingCapsule>(), 0);
        assert_eq!(mid.sends[0].payload, payload);
        assert_eq!(mid.sends[0].budget, 4);

        let mut src =
            FakeNode::new(addr(1)).with_capsule(Incoming::new(addr(9), addr(1), 3, &payload));
        assert_eq!(src.evaluate::<PingCapsule>(), 0);
        assert!(src.sends.is_empty());
        assert_eq!(src.deliveries.len(), 1);
        assert_eq!(src.deliveries[0].port, REPLY_PORT);
        assert_eq!(decode(&src.deliveries[0].payload), reply);
    }

    #[test]
    fn ping_to_self_loops_back_and_is_delivered() {
        let payload = encode(&request(vec![]));
        let mut node =
            FakeNode::new(addr(1)).with_capsule(Incoming::new(addr(1), addr(1), 2, &payload));
        assert_eq!(node.evaluate::<PingCapsule>(), 0);
        assert_eq!(node.sends[0].next_hop, NextHop::Local);
        let looped = node.sends[0].clone();
        node.capsule = Incoming::new(looped.source, looped.destination, 1, &looped.payload);
        assert_eq!(node.evaluate::<PingCapsule>(), 0);
        let p = decode(&node.deliveries[0].payload);
        assert_eq!((p.kind, p.hops), (Kind::Reply, 1));
        assert_eq!(p.path, [addr(1)]);
    }

    #[test]
    fn path_is_bounded_but_hops_keep_counting() {
        let full: Vec<Address> = (0..MAX_PATH as u8).map(|i| addr(100 + i)).collect();
        let payload = encode(&request(full.clone()));
        let mut node = FakeNode::new(addr(2))
            .route(addr(9), addr(3))
            .with_capsule(Incoming::new(addr(1), addr(9), 10, &payload));
        assert_eq!(node.evaluate::<PingCapsule>(), 0);
        let p = decode(&node.sends[0].payload);
        assert_eq!(p.hops, MAX_PATH as u16 + 1);
        assert_eq!(p.path, full);
    }

    #[test]
    fn oversized_or_garbled_payloads_are_rejected() {
        let mut too_long = request((0..=MAX_PATH as u8).map(addr).collect());
        too_long.hops = 0;
        for payload in [encode(&too_long), vec![9, 9, 9], vec![]] {
            let mut node = FakeNode::new(addr(2))
                .route(addr(9), addr(3))
                .with_capsule(Incoming::new(addr(1), addr(9), 10, &payload));
            assert_eq!(node.evaluate::<PingCapsule>(), Error::Decode.status());
            assert!(!node.made_effect());
        }
    }

    #[test]
    fn no_route_and_no_budget_fail_without_effects() {
        let payload = encode(&request(vec![]));
        let mut lost =
            FakeNode::new(addr(2)).with_capsule(Incoming::new(addr(1), addr(9), 10, &payload));
        assert_eq!(lost.evaluate::<PingCapsule>(), status::NO_ROUTE);
        assert_eq!(
            lost.logs[0].message,
            "ping 42: no route toward the destination"
        );

        let mut spent = FakeNode::new(addr(9))
            .route(addr(1), addr(3))
            .with_capsule(Incoming::new(addr(1), addr(9), 0, &payload));
        assert_eq!(spent.evaluate::<PingCapsule>(), status::BUDGET_EXCEEDED);
        assert!(!spent.made_effect());
    }
}
