//! Host tests of the private IP protocol on `FakeNode`s.

use super::*;
use alloc::collections::{BTreeMap, VecDeque};
use alloc::vec;
use capsule_sdk::testing::{FakeNode, Incoming};

fn addr(last: u8) -> Address {
    Address::from(Ipv4Addr::new(10, 0, 0, last))
}

fn private(c: u8, d: u8) -> Ipv4Addr {
    Ipv4Addr::new(192, 168, c, d)
}

fn prefix(c: u8, len: u8) -> Prefix {
    Prefix {
        addr: private(c, 0),
        len,
    }
}

fn encode<T: Serialize>(m: &T) -> Vec<u8> {
    capsule_sdk::postcard::to_allocvec(m).unwrap()
}

fn decode<T: capsule_sdk::serde::de::DeserializeOwned>(b: &[u8]) -> T {
    capsule_sdk::postcard::from_bytes(b).unwrap()
}

fn announce(seq: u32, prefixes: &[Prefix]) -> Message {
    Message::Announce {
        seq,
        prefixes: prefixes.to_vec(),
    }
}

fn packet(dst: Ipv4Addr) -> Packet {
    Packet {
        src: private(1, 10),
        dst,
        data: b"hello".to_vec(),
    }
}

fn route(node: &FakeNode, p: Prefix) -> Option<Address> {
    let v = node.state_value(&p.key())?;
    Some(Address(v.try_into().unwrap()))
}

/// Evaluates `msg` at `node`, from `source` toward `dst`, relayed by `prev`.
fn arrive(
    node: &mut FakeNode,
    source: Address,
    dst: Address,
    prev: Address,
    budget: u32,
    msg: &Message,
) -> i32 {
    let mut c = Incoming::new(source, dst, budget, &encode(msg));
    c.previous = prev;
    node.capsule = c;
    node.evaluate::<PrivateIp>()
}

/// Node 10.0.0.2 with neighbours 1, 3 and 4, routes to the edges 5 and 6 via 3 and 4.
fn node() -> FakeNode {
    FakeNode::new(addr(2))
        .neighbour(addr(1))
        .route(addr(5), addr(3))
        .route(addr(6), addr(4))
}

/// `node()` after edges 5 (192.168.0.0/16) and 6 (192.168.7.0/24) announced.
fn mapped() -> FakeNode {
    let mut n = node();
    assert_eq!(
        arrive(
            &mut n,
            addr(5),
            addr(5),
            addr(3),
            9,
            &announce(1, &[prefix(0, 16)])
        ),
        0
    );
    assert_eq!(
        arrive(
            &mut n,
            addr(6),
            addr(6),
            addr(4),
            9,
            &announce(1, &[prefix(7, 24)])
        ),
        0
    );
    n
}

#[test]
fn edge_records_its_own_prefixes_and_floods_them() {
    let mut n = node();
    let msg = announce(1, &[prefix(1, 24), prefix(2, 24)]);
    assert_eq!(arrive(&mut n, addr(2), addr(2), addr(2), 9, &msg), 0);
    for p in [prefix(1, 24), prefix(2, 24)] {
        assert_eq!(route(&n, p), Some(addr(2)));
    }
    let hops: Vec<_> = n.sends.iter().map(|s| s.next_hop).collect();
    assert_eq!(
        hops,
        [addr(1), addr(3), addr(4)].map(NextHop::Neighbour).to_vec()
    );
    assert_eq!(
        n.sends.iter().map(|s| s.budget).collect::<Vec<_>>(),
        [3, 3, 3]
    );
    for s in &n.sends {
        assert_eq!((s.source, s.destination), (addr(2), addr(2)));
        assert_eq!(decode::<Message>(&s.payload), msg);
    }
}

#[test]
fn announce_is_recorded_and_passed_on_once_per_round() {
    let mut n = node();
    let msg = announce(4, &[prefix(9, 24)]);
    assert_eq!(arrive(&mut n, addr(5), addr(5), addr(3), 8, &msg), 0);
    assert_eq!(route(&n, prefix(9, 24)), Some(addr(5)));
    let hops: Vec<_> = n.sends.iter().map(|s| s.next_hop).collect();
    assert_eq!(hops, [addr(1), addr(4)].map(NextHop::Neighbour).to_vec());

    // The same round by another path, or an older one: nothing.
    assert_eq!(arrive(&mut n, addr(5), addr(5), addr(4), 8, &msg), 0);
    assert!(!n.made_effect());
    assert_eq!(
        arrive(
            &mut n,
            addr(5),
            addr(5),
            addr(4),
            8,
            &announce(3, &[prefix(8, 24)])
        ),
        0
    );
    assert!(!n.made_effect());
    assert_eq!(route(&n, prefix(8, 24)), None);

    // A newer round refreshes and is passed on.
    n.advance(ANNOUNCE_PERIOD);
    assert_eq!(
        arrive(
            &mut n,
            addr(5),
            addr(5),
            addr(4),
            8,
            &announce(5, &[prefix(9, 24)])
        ),
        0
    );
    assert_eq!(n.sends.len(), 2);
    assert_eq!(route(&n, prefix(9, 24)), Some(addr(5)));
    assert_eq!(
        n.state_value(&seq_key(addr(5))),
        Some(&5u32.to_le_bytes()[..])
    );
}

#[test]
fn invalid_announcements_are_decode_errors() {
    let too_many: Vec<Prefix> = (0..=MAX_PREFIXES as u8).map(|c| prefix(c, 24)).collect();
    let bad = [
        vec![Prefix {
            addr: Ipv4Addr::new(10, 1, 0, 0),
            len: 16,
        }],
        vec![Prefix {
            addr: Ipv4Addr::new(192, 0, 0, 0),
            len: 8,
        }],
        vec![Prefix {
            addr: private(1, 1),
            len: 24,
        }],
        vec![Prefix {
            addr: private(1, 1),
            len: 33,
        }],
        too_many,
    ];
    for prefixes in bad {
        let mut n = node();
        let msg = Message::Announce { seq: 1, prefixes };
        assert_eq!(
            arrive(&mut n, addr(5), addr(5), addr(3), 9, &msg),
            Error::Decode.status()
        );
        assert!(!n.made_effect());
        assert_eq!(n.state_value(&seq_key(addr(5))), None);
    }
}

#[test]
fn packet_is_mapped_to_the_longest_prefix_edge() {
    let mut n = mapped();
    let msg = Message::Packet(packet(private(7, 20)));
    assert_eq!(arrive(&mut n, addr(2), addr(2), addr(2), 12, &msg), 0);
    assert_eq!(n.sends.len(), 1);
    let s = &n.sends[0];
    assert_eq!(s.next_hop, NextHop::Neighbour(addr(4)));
    assert_eq!((s.source, s.destination, s.budget), (addr(2), addr(6), 12));
    assert_eq!(s.payload, encode(&msg));

    let msg = Message::Packet(packet(private(8, 20)));
    assert_eq!(arrive(&mut n, addr(2), addr(2), addr(2), 12, &msg), 0);
    assert_eq!(n.sends[0].destination, addr(5));
}

#[test]
fn transit_forwards_toward_the_edge_unchanged() {
    let mut n = node();
    let msg = Message::Packet(packet(private(200, 1)));
    // No mapping here at all: transit nodes never look at the private addresses.
    assert_eq!(arrive(&mut n, addr(1), addr(6), addr(1), 7, &msg), 0);
    let s = &n.sends[0];
    assert_eq!(
        (s.next_hop, s.destination, s.budget),
        (NextHop::Neighbour(addr(4)), addr(6), 7)
    );
    assert_eq!(s.payload, encode(&msg));
}

#[test]
fn serving_edge_delivers_with_private_addresses() {
    let mut n = node().route(addr(1), addr(1));
    let msg = announce(1, &[prefix(3, 24)]);
    assert_eq!(arrive(&mut n, addr(2), addr(2), addr(2), 9, &msg), 0);
    let p = packet(private(3, 77));
    assert_eq!(
        arrive(
            &mut n,
            addr(1),
            addr(2),
            addr(1),
            0,
            &Message::Packet(p.clone())
        ),
        0
    );
    assert!(n.sends.is_empty());
    assert_eq!(n.deliveries.len(), 1);
    assert_eq!(n.deliveries[0].port, DELIVERY_PORT);
    assert_eq!(decode::<Packet>(&n.deliveries[0].payload), p);

    // Between two hosts of the same edge: delivered where it was injected.
    assert_eq!(
        arrive(
            &mut n,
            addr(2),
            addr(2),
            addr(2),
            5,
            &Message::Packet(p.clone())
        ),
        0
    );
    assert!(n.sends.is_empty());
    assert_eq!(decode::<Packet>(&n.deliveries[0].payload), p);
}

#[test]
fn unknown_destinations_are_refused_without_effects() {
    let mut n = mapped();
    n.set_state(&prefix(0, 16).key(), &[], Duration::ZERO);
    for dst in [
        private(9, 9),
        Ipv4Addr::new(8, 8, 8, 8),
        Ipv4Addr::new(10, 0, 0, 6),
    ] {
        let msg = Message::Packet(packet(dst));
        assert_eq!(
            arrive(&mut n, addr(2), addr(2), addr(2), 9, &msg),
            Error::NoRoute.status()
        );
        assert!(!n.made_effect());
    }
}

#[test]
fn egress_that_does_not_serve_the_destination_refuses_it() {
    // Node 2 maps 192.168.7.0/24 to edge 6, but the packet arrived from another edge that
    // believed node 2 serves it: refused, not sent on a second time.
    let mut n = mapped();
    let msg = Message::Packet(packet(private(7, 1)));
    assert_eq!(
        arrive(&mut n, addr(1), addr(2), addr(1), 9, &msg),
        Error::NoRoute.status()
    );
    assert!(!n.made_effect());
}

#[test]
fn public_source_is_a_decode_error() {
    let mut n = mapped();
    let mut p = packet(private(7, 1));
    p.src = Ipv4Addr::new(10, 9, 9, 9);
    assert_eq!(
        arrive(&mut n, addr(2), addr(2), addr(2), 9, &Message::Packet(p)),
        Error::Decode.status()
    );
    assert!(!n.made_effect());
}

#[test]
fn first_live_claim_wins_until_it_expires() {
    let mut n = mapped();
    let claim = announce(1, &[prefix(7, 24)]);
    assert_eq!(arrive(&mut n, addr(1), addr(1), addr(1), 9, &claim), 0);
    assert_eq!(route(&n, prefix(7, 24)).unwrap(), addr(6));
    assert_eq!(n.logs.len(), 1);
    assert_eq!(
        n.logs[0].message,
        "private-ip: a prefix is claimed by two edges; the first keeps it"
    );

    n.advance(ANNOUNCE_TTL);
    assert_eq!(
        arrive(
            &mut n,
            addr(1),
            addr(1),
            addr(1),
            9,
            &announce(2, &[prefix(7, 24)])
        ),
        0
    );
    assert_eq!(route(&n, prefix(7, 24)).unwrap(), addr(1));
}

#[test]
fn mappings_expire() {
    let mut n = mapped();
    n.advance(ANNOUNCE_TTL);
    let msg = Message::Packet(packet(private(7, 20)));
    assert_eq!(
        arrive(&mut n, addr(2), addr(2), addr(2), 9, &msg),
        Error::NoRoute.status()
    );
    // Expired rounds do not block a restarted edge whose seq begins again.
    assert_eq!(
        arrive(
            &mut n,
            addr(6),
            addr(6),
            addr(4),
            9,
            &announce(0, &[prefix(7, 24)])
        ),
        0
    );
    assert_eq!(arrive(&mut n, addr(2), addr(2), addr(2), 9, &msg), 0);
    assert_eq!(n.sends[0].destination, addr(6));
}

#[test]
fn no_budget_left_at_ingress_fails() {
    let mut n = mapped();
    let msg = Message::Packet(packet(private(7, 20)));
    assert_eq!(
        arrive(&mut n, addr(2), addr(2), addr(2), 0, &msg),
        Error::BudgetExceeded.status()
    );
    assert!(!n.made_effect());
}

#[test]
fn malformed_payloads_are_decode_errors_without_effects() {
    let mut trailing = encode(&Message::Packet(packet(private(7, 20))));
    trailing.push(1);
    for payload in [vec![], vec![2], vec![0, 1, 1, 192], trailing] {
        let mut n = mapped();
        n.capsule = Incoming::new(addr(2), addr(2), 9, &payload);
        assert_eq!(n.evaluate::<PrivateIp>(), Error::Decode.status());
        assert!(!n.made_effect());
    }
}

#[test]
fn prefix_helpers() {
    assert_eq!(Prefix::of(private(7, 99), 24), prefix(7, 24));
    assert_eq!(Prefix::of(private(7, 99), 0).addr, Ipv4Addr::UNSPECIFIED);
    assert!(PRIVATE_NET.contains(private(255, 255)));
    assert!(!PRIVATE_NET.contains(Ipv4Addr::new(192, 169, 0, 0)));
    assert!(prefix(7, 24).is_announceable());
    assert!(
        Prefix {
            addr: private(7, 9),
            len: 32
        }
        .is_announceable()
    );
    assert_eq!(prefix(7, 24).key(), [b'p', 24, 192, 168, 7, 0]);
    let largest = Message::Packet(Packet {
        src: private(255, 255),
        dst: private(255, 255),
        data: vec![0; MAX_DATA],
    });
    assert_eq!(encode(&largest).len(), capsule_sdk::abi::MAX_PAYLOAD);
}

/// A network of fake nodes: capsules go where the sends say, one hop charged per arrival.
struct Net {
    nodes: BTreeMap<Address, FakeNode>,
    delivered: Vec<(Address, Packet)>,
    /// Every capsule that crossed a link: (header source, header destination).
    on_the_wire: Vec<(Address, Address)>,
}

impl Net {
    fn inject(&mut self, at: Address, budget: u32, msg: &Message) {
        let mut queue = VecDeque::new();
        queue.push_back((at, Incoming::new(at, at, budget - 1, &encode(msg))));
        while let Some((here, capsule)) = queue.pop_front() {
            let node = self.nodes.get_mut(&here).unwrap();
            node.capsule = capsule;
            assert_eq!(node.evaluate::<PrivateIp>(), 0, "at {here}");
            for d in &node.deliveries {
                self.delivered.push((here, decode(&d.payload)));
            }
            for s in &node.sends {
                let NextHop::Neighbour(to) = s.next_hop else {
                    panic!("private IP never loops back");
                };
                self.on_the_wire.push((s.source, s.destination));
                let mut next = Incoming::new(s.source, s.destination, s.budget - 1, &s.payload);
                next.previous = here;
                queue.push_back((to, next));
            }
        }
    }
}

#[test]
fn walk_edge_to_edge_across_a_router() {
    // Edge 1 - router 2 - edge 3 (and a second edge 4 behind router 2).
    let mut nodes = BTreeMap::new();
    nodes.insert(
        addr(1),
        FakeNode::new(addr(1))
            .route(addr(3), addr(2))
            .route(addr(4), addr(2)),
    );
    nodes.insert(
        addr(2),
        FakeNode::new(addr(2))
            .route(addr(1), addr(1))
            .route(addr(3), addr(3))
            .route(addr(4), addr(4)),
    );
    nodes.insert(
        addr(3),
        FakeNode::new(addr(3))
            .route(addr(1), addr(2))
            .route(addr(4), addr(2)),
    );
    nodes.insert(
        addr(4),
        FakeNode::new(addr(4))
            .route(addr(1), addr(2))
            .route(addr(3), addr(2)),
    );
    let mut net = Net {
        nodes,
        delivered: Vec::new(),
        on_the_wire: Vec::new(),
    };
    net.inject(addr(3), 64, &announce(1, &[prefix(30, 24)]));
    net.inject(addr(4), 64, &announce(1, &[prefix(40, 24)]));
    for edge in [1, 2, 3, 4] {
        let n = &net.nodes[&addr(edge)];
        assert_eq!(route(n, prefix(30, 24)), Some(addr(3)));
        assert_eq!(route(n, prefix(40, 24)), Some(addr(4)));
    }

    net.on_the_wire.clear();
    let p = packet(private(30, 5));
    net.inject(addr(1), 16, &Message::Packet(p.clone()));
    assert_eq!(net.delivered, [(addr(3), p)]);
    // Across the public network only edge addresses appear in headers.
    assert_eq!(net.on_the_wire, [(addr(1), addr(3)), (addr(1), addr(3))]);

    let p = packet(private(40, 6));
    net.inject(addr(1), 16, &Message::Packet(p.clone()));
    assert_eq!(net.delivered[1], (addr(4), p));
}
