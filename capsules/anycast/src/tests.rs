//! Host tests of the anycast protocol on `FakeNode`s.

use super::*;
use alloc::collections::{BTreeMap, VecDeque};
use alloc::vec;
use capsule_sdk::testing::{FakeNode, Incoming};

fn addr(last: u8) -> Address {
    Address::from(core::net::Ipv4Addr::new(10, 0, 0, last))
}

fn group() -> Address {
    Address::from(core::net::Ipv4Addr::new(240, 0, 0, 1))
}

fn encode<T: Serialize>(m: &T) -> Vec<u8> {
    capsule_sdk::postcard::to_allocvec(m).unwrap()
}

fn decode<T: capsule_sdk::serde::de::DeserializeOwned>(b: &[u8]) -> T {
    capsule_sdk::postcard::from_bytes(b).unwrap()
}

fn advertise(seq: u32, distance: u16) -> Message {
    Message::Advertise { seq, distance }
}

fn data() -> Message {
    Message::Data(b"query".to_vec())
}

/// Evaluates `msg` at `node` as sent by `member`/`source` and relayed by `prev`.
fn arrive(node: &mut FakeNode, source: Address, prev: Address, budget: u32, msg: &Message) -> i32 {
    let mut c = Incoming::new(source, group(), budget, &encode(msg));
    c.previous = prev;
    node.capsule = c;
    node.evaluate::<Anycast>()
}

fn table(node: &FakeNode) -> Vec<Entry> {
    node.state_value(&group().octets())
        .unwrap_or_default()
        .chunks(Entry::LEN)
        .map(Entry::from_bytes)
        .collect()
}

/// Node 10.0.0.2 with neighbours 1, 3 and 4.
fn hub() -> FakeNode {
    FakeNode::new(addr(2))
        .neighbour(addr(1))
        .neighbour(addr(3))
        .neighbour(addr(4))
}

#[test]
fn member_records_itself_and_floods_to_every_neighbour() {
    let mut node = hub();
    assert_eq!(arrive(&mut node, addr(2), addr(2), 10, &advertise(1, 0)), 0);
    let t = table(&node);
    assert_eq!(t.len(), 1);
    assert_eq!(
        (t[0].member, t[0].via, t[0].distance, t[0].seq),
        (addr(2), addr(2), 0, 1)
    );
    assert_eq!(t[0].expires_ns, ENTRY_TTL.as_nanos() as u64);
    let hops: Vec<_> = node.sends.iter().map(|s| s.next_hop).collect();
    assert_eq!(
        hops,
        [addr(1), addr(3), addr(4)].map(NextHop::Neighbour).to_vec()
    );
    // 10 split three ways, the remainder to the first.
    let budgets: Vec<_> = node.sends.iter().map(|s| s.budget).collect();
    assert_eq!(budgets, [4, 3, 3]);
    for s in &node.sends {
        assert_eq!((s.source, s.destination), (addr(2), group()));
        assert_eq!(decode::<Message>(&s.payload), advertise(1, 0));
    }
}

#[test]
fn relay_records_next_hop_and_passes_on_except_back() {
    let mut node = hub();
    assert_eq!(arrive(&mut node, addr(9), addr(1), 6, &advertise(1, 2)), 0);
    let t = table(&node);
    assert_eq!(
        (t[0].member, t[0].via, t[0].distance),
        (addr(9), addr(1), 3)
    );
    let hops: Vec<_> = node.sends.iter().map(|s| s.next_hop).collect();
    assert_eq!(hops, [addr(3), addr(4)].map(NextHop::Neighbour).to_vec());
    assert_eq!(node.sends[0].budget + node.sends[1].budget, 6);
    assert_eq!(decode::<Message>(&node.sends[0].payload), advertise(1, 3));
}

#[test]
fn only_improvements_are_passed_on() {
    let mut node = hub();
    assert_eq!(arrive(&mut node, addr(9), addr(1), 6, &advertise(5, 4)), 0);
    assert_eq!(table(&node)[0].distance, 5);

    // The same round again, or by a longer path: recorded nothing, sent nothing.
    for (prev, d) in [(addr(1), 4), (addr(3), 4), (addr(3), 7)] {
        assert_eq!(arrive(&mut node, addr(9), prev, 6, &advertise(5, d)), 0);
        assert!(!node.made_effect());
        assert_eq!(
            (table(&node)[0].via, table(&node)[0].distance),
            (addr(1), 5)
        );
    }
    // An older round is ignored even when shorter.
    assert_eq!(arrive(&mut node, addr(9), addr(3), 6, &advertise(4, 0)), 0);
    assert!(!node.made_effect());

    // Same round, shorter path: switched and passed on.
    assert_eq!(arrive(&mut node, addr(9), addr(3), 6, &advertise(5, 1)), 0);
    assert_eq!(
        (table(&node)[0].via, table(&node)[0].distance),
        (addr(3), 2)
    );
    assert_eq!(node.sends.len(), 2);

    // A newer round refreshes even by a longer path (the old one may be gone).
    node.advance(Duration::from_secs(20));
    assert_eq!(arrive(&mut node, addr(9), addr(4), 6, &advertise(6, 3)), 0);
    let t = table(&node)[0];
    assert_eq!((t.via, t.distance, t.seq), (addr(4), 4, 6));
    assert_eq!(
        t.expires_ns,
        (Duration::from_secs(20) + ENTRY_TTL).as_nanos() as u64
    );
    assert_eq!(node.sends.len(), 2);
}

#[test]
fn advertisement_encoding_is_postcard() {
    for (seq, distance) in [(0, 0), (1, 127), (128, 128), (u32::MAX, u16::MAX)] {
        assert_eq!(
            advertisement(seq, distance),
            encode(&advertise(seq, distance))
        );
    }
}

#[test]
fn entry_layout_round_trips() {
    let e = Entry {
        member: addr(9),
        via: addr(4),
        distance: 0x0102,
        seq: 0x0304_0506,
        expires_ns: 0x0708_090a_0b0c_0d0e,
    };
    let mut bytes = Vec::new();
    e.write_to(&mut bytes);
    assert_eq!(bytes.len(), Entry::LEN);
    assert_eq!(&bytes[32..38], &[2, 1, 6, 5, 4, 3]);
    assert_eq!(Entry::from_bytes(&bytes), e);
}

#[test]
fn rounds_compare_with_wraparound() {
    assert!(newer(0, u32::MAX));
    assert!(newer(5, 4));
    assert!(!newer(4, 4));
    assert!(!newer(u32::MAX, 0));
}

#[test]
fn table_keeps_the_nearest_members() {
    let mut node = hub();
    for m in 0..MAX_ENTRIES as u8 {
        assert_eq!(
            arrive(
                &mut node,
                addr(20 + m),
                addr(1),
                6,
                &advertise(1, 3 + m as u16)
            ),
            0
        );
    }
    assert_eq!(table(&node).len(), MAX_ENTRIES);
    // A farther member does not fit and is not passed on.
    assert_eq!(arrive(&mut node, addr(30), addr(1), 6, &advertise(1, 9)), 0);
    assert!(!node.made_effect());
    // A nearer one replaces the farthest.
    assert_eq!(arrive(&mut node, addr(31), addr(3), 6, &advertise(1, 0)), 0);
    assert!(node.made_effect());
    let members: Vec<_> = table(&node).iter().map(|e| e.member).collect();
    assert_eq!(members, [addr(31), addr(20), addr(21), addr(22)]);
}

#[test]
fn data_follows_the_nearest_entry_then_the_next_after_withdraw() {
    let mut node = hub();
    assert_eq!(arrive(&mut node, addr(8), addr(3), 20, &advertise(1, 2)), 0);
    assert_eq!(arrive(&mut node, addr(9), addr(4), 20, &advertise(1, 0)), 0);

    assert_eq!(arrive(&mut node, addr(1), addr(1), 7, &data()), 0);
    assert_eq!(node.sends.len(), 1);
    let s = &node.sends[0];
    assert_eq!(s.next_hop, NextHop::Neighbour(addr(4)));
    assert_eq!((s.source, s.destination, s.budget), (addr(1), group(), 7));
    assert_eq!(decode::<Message>(&s.payload), data());

    // Member 9 leaves: its withdraw removes the entry and is passed on.
    assert_eq!(
        arrive(
            &mut node,
            addr(9),
            addr(4),
            20,
            &Message::Withdraw { seq: 1 }
        ),
        0
    );
    assert_eq!(node.sends.len(), 2);
    assert_eq!(
        decode::<Message>(&node.sends[0].payload),
        Message::Withdraw { seq: 1 }
    );
    assert_eq!(table(&node).len(), 1);
    // A repeat of the withdraw stops here.
    assert_eq!(
        arrive(
            &mut node,
            addr(9),
            addr(3),
            20,
            &Message::Withdraw { seq: 1 }
        ),
        0
    );
    assert!(!node.made_effect());

    assert_eq!(arrive(&mut node, addr(1), addr(1), 7, &data()), 0);
    assert_eq!(node.sends[0].next_hop, NextHop::Neighbour(addr(3)));
}

#[test]
fn stale_withdraw_does_not_remove_a_newer_round() {
    let mut node = hub();
    assert_eq!(arrive(&mut node, addr(9), addr(4), 20, &advertise(8, 0)), 0);
    assert_eq!(
        arrive(
            &mut node,
            addr(9),
            addr(4),
            20,
            &Message::Withdraw { seq: 7 }
        ),
        0
    );
    assert!(!node.made_effect());
    assert_eq!(table(&node).len(), 1);
}

#[test]
fn data_is_delivered_at_the_member_node() {
    let mut node = hub();
    assert_eq!(arrive(&mut node, addr(2), addr(2), 3, &advertise(1, 0)), 0);
    assert_eq!(arrive(&mut node, addr(9), addr(4), 20, &advertise(1, 0)), 0);
    assert_eq!(arrive(&mut node, addr(7), addr(1), 0, &data()), 0);
    assert!(node.sends.is_empty());
    assert_eq!(node.deliveries.len(), 1);
    assert_eq!(node.deliveries[0].port, DELIVERY_PORT);
    assert_eq!(
        decode::<Received>(&node.deliveries[0].payload),
        Received {
            group: group(),
            data: b"query".to_vec()
        }
    );
}

#[test]
fn data_never_goes_back_where_it_came_from() {
    let mut node = hub();
    assert_eq!(arrive(&mut node, addr(8), addr(1), 20, &advertise(1, 0)), 0);
    assert_eq!(arrive(&mut node, addr(9), addr(4), 20, &advertise(1, 3)), 0);
    assert_eq!(arrive(&mut node, addr(7), addr(1), 5, &data()), 0);
    assert_eq!(node.sends[0].next_hop, NextHop::Neighbour(addr(4)));
}

#[test]
fn entries_expire_then_a_new_round_restores_them() {
    let mut node = hub();
    assert_eq!(arrive(&mut node, addr(9), addr(4), 20, &advertise(1, 0)), 0);
    node.advance(ENTRY_TTL);
    assert_eq!(
        arrive(&mut node, addr(1), addr(1), 7, &data()),
        Error::NoRoute.status()
    );
    assert!(!node.made_effect());
    // An expired entry does not block the same round either: it is simply new again.
    assert_eq!(arrive(&mut node, addr(9), addr(3), 20, &advertise(1, 0)), 0);
    assert!(node.made_effect());
    assert_eq!(arrive(&mut node, addr(1), addr(1), 7, &data()), 0);
    assert_eq!(node.sends[0].next_hop, NextHop::Neighbour(addr(3)));
}

#[test]
fn a_vanished_neighbour_is_skipped() {
    let mut node = hub();
    assert_eq!(arrive(&mut node, addr(8), addr(3), 20, &advertise(1, 5)), 0);
    assert_eq!(arrive(&mut node, addr(9), addr(4), 20, &advertise(1, 0)), 0);
    node.neighbours.retain(|n| *n != addr(4));
    assert_eq!(arrive(&mut node, addr(1), addr(1), 7, &data()), 0);
    assert_eq!(node.sends[0].next_hop, NextHop::Neighbour(addr(3)));
}

#[test]
fn data_without_budget_or_members_fails_without_effects() {
    let mut node = hub();
    assert_eq!(
        arrive(&mut node, addr(1), addr(1), 7, &data()),
        Error::NoRoute.status()
    );
    assert_eq!(arrive(&mut node, addr(9), addr(4), 20, &advertise(1, 0)), 0);
    assert_eq!(
        arrive(&mut node, addr(1), addr(1), 0, &data()),
        Error::BudgetExceeded.status()
    );
    assert!(!node.made_effect());
}

#[test]
fn own_advertisement_coming_back_is_ignored() {
    let mut node = hub();
    assert_eq!(arrive(&mut node, addr(2), addr(2), 9, &advertise(1, 0)), 0);
    assert_eq!(arrive(&mut node, addr(2), addr(3), 9, &advertise(2, 1)), 0);
    assert!(!node.made_effect());
    assert_eq!(table(&node)[0].seq, 1);
}

#[test]
fn malformed_payloads_are_decode_errors_without_effects() {
    let mut trailing = encode(&advertise(1, 0));
    trailing.push(0);
    for payload in [vec![], vec![3], vec![2, 5, 1], trailing] {
        let mut node = hub();
        let mut c = Incoming::new(addr(9), group(), 9, &payload);
        c.previous = addr(4);
        node.capsule = c;
        assert_eq!(node.evaluate::<Anycast>(), Error::Decode.status());
        assert!(!node.made_effect());
        assert!(table(&node).is_empty());
    }
}

#[test]
fn largest_data_is_deliverable() {
    let r = Received {
        group: group(),
        data: vec![1; MAX_DATA],
    };
    assert_eq!(encode(&r).len(), capsule_sdk::abi::MAX_PAYLOAD);
}

/// A network of fake nodes: capsules go where the sends say, one hop charged per arrival.
struct Net {
    nodes: BTreeMap<Address, FakeNode>,
    delivered: Vec<(Address, Vec<u8>)>,
}

impl Net {
    /// A line 1 - 2 - 3 - 4 - 5.
    fn line() -> Net {
        let mut nodes = BTreeMap::new();
        for i in 1..=5u8 {
            let mut n = FakeNode::new(addr(i));
            if i > 1 {
                n = n.neighbour(addr(i - 1));
            }
            if i < 5 {
                n = n.neighbour(addr(i + 1));
            }
            nodes.insert(addr(i), n);
        }
        Net {
            nodes,
            delivered: Vec::new(),
        }
    }

    fn inject(&mut self, at: Address, budget: u32, msg: &Message) {
        let mut queue = VecDeque::new();
        queue.push_back((at, Incoming::new(at, group(), budget - 1, &encode(msg))));
        while let Some((here, capsule)) = queue.pop_front() {
            let node = self.nodes.get_mut(&here).unwrap();
            node.capsule = capsule;
            assert_eq!(node.evaluate::<Anycast>(), 0, "at {here}");
            for d in &node.deliveries {
                self.delivered.push((here, d.payload.clone()));
            }
            for s in &node.sends {
                let NextHop::Neighbour(to) = s.next_hop else {
                    panic!("anycast never loops back");
                };
                let mut next = Incoming::new(s.source, s.destination, s.budget - 1, &s.payload);
                next.previous = here;
                queue.push_back((to, next));
            }
        }
    }

    fn advance(&mut self, by: Duration) {
        for n in self.nodes.values_mut() {
            n.advance(by);
        }
    }
}

#[test]
fn walk_nearest_member_then_failover_after_withdraw() {
    let mut net = Net::line();
    net.inject(addr(1), 64, &advertise(1, 0));
    net.inject(addr(5), 64, &advertise(1, 0));
    let t = table(&net.nodes[&addr(2)]);
    assert_eq!(
        t.iter()
            .map(|e| (e.member, e.via, e.distance))
            .collect::<Vec<_>>(),
        [(addr(1), addr(1), 1), (addr(5), addr(3), 3)]
    );

    // From node 2 the nearest member is 1; from node 4 it is 5.
    net.inject(addr(2), 16, &data());
    net.inject(addr(4), 16, &data());
    assert_eq!(
        net.delivered.iter().map(|d| d.0).collect::<Vec<_>>(),
        [addr(1), addr(5)]
    );

    // Member 1 leaves: node 2 switches to member 5 at once.
    net.delivered.clear();
    net.inject(addr(1), 64, &Message::Withdraw { seq: 1 });
    assert!(
        net.nodes
            .values()
            .all(|n| table(n).iter().all(|e| e.member != addr(1)))
    );
    net.inject(addr(2), 16, &data());
    assert_eq!(net.delivered.len(), 1);
    assert_eq!(net.delivered[0].0, addr(5));
}

#[test]
fn walk_member_that_vanishes_expires_and_the_next_round_takes_over() {
    let mut net = Net::line();
    net.inject(addr(1), 64, &advertise(1, 0));
    net.inject(addr(5), 64, &advertise(1, 0));
    // Member 5 keeps advertising; member 1 falls silent.
    for round in 2..=3 {
        net.advance(ADVERTISE_PERIOD);
        net.inject(addr(5), 64, &advertise(round, 0));
    }
    net.inject(addr(2), 16, &data());
    assert_eq!(net.delivered.pop().unwrap().0, addr(1));
    net.advance(ADVERTISE_PERIOD);
    net.inject(addr(5), 64, &advertise(4, 0));
    net.inject(addr(2), 16, &data());
    assert_eq!(net.delivered.pop().unwrap().0, addr(5));
}
