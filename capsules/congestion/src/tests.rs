//! Host tests of the congestion notification protocol on `FakeNode`s.

use super::*;
use alloc::collections::{BTreeMap, VecDeque};
use alloc::vec;
use capsule_sdk::testing::{FakeNode, Incoming};

fn addr(last: u8) -> Address {
    Address::from(core::net::Ipv4Addr::new(10, 0, 0, last))
}

fn data(flow: u32, seq: u32, hops: u8) -> Message {
    Message::Data(Data {
        hops,
        flow,
        seq,
        data: b"payload".to_vec(),
    })
}

fn encode(m: &Message) -> Vec<u8> {
    capsule_sdk::postcard::to_allocvec(m).unwrap()
}

fn decode<T: capsule_sdk::serde::de::DeserializeOwned>(b: &[u8]) -> T {
    capsule_sdk::postcard::from_bytes(b).unwrap()
}

fn load(queue_len: u32, queue_cap: u32, drops_recent: u32) -> LinkLoad {
    LinkLoad {
        queue_len,
        queue_cap,
        drops_recent,
        tx_pps: 900,
        tx_bytes_per_s: 900_000,
    }
}

/// Router 10.0.0.2 on the path from 10.0.0.1 to 10.0.0.9, next hop 10.0.0.3 with `link`.
fn router(link: LinkLoad) -> FakeNode {
    let mut node = FakeNode::new(addr(2))
        .route(addr(9), addr(3))
        .route(addr(1), addr(1));
    node.link_loads.insert(addr(3), link);
    node
}

fn arrive(node: &mut FakeNode, msg: &Message, budget: u32) -> i32 {
    node.capsule = Incoming::new(addr(1), addr(9), budget, &encode(msg));
    node.evaluate::<Congestion>()
}

#[test]
fn below_threshold_forwards_without_notification() {
    let mut node = router(load(499, 1000, 0));
    assert_eq!(arrive(&mut node, &data(7, 1, 1), 20), 0);
    assert_eq!(node.sends.len(), 1);
    let sent = &node.sends[0];
    assert_eq!(sent.next_hop, NextHop::Neighbour(addr(3)));
    assert_eq!((sent.source, sent.destination), (addr(1), addr(9)));
    assert_eq!(sent.budget, 20);
    assert_eq!(decode::<Message>(&sent.payload), data(7, 1, 2));
    assert_eq!(node.state_value(&flow_key(addr(1), 7)), None);
}

#[test]
fn unknown_capacity_without_drops_is_not_congestion() {
    let mut node = router(load(5_000, 0, 0));
    assert_eq!(arrive(&mut node, &data(7, 1, 1), 20), 0);
    assert_eq!(node.sends.len(), 1);
}

#[test]
fn above_threshold_notifies_source_and_still_forwards() {
    let mut node = router(load(500, 1000, 0));
    node.time_ns = 5_000;
    assert_eq!(arrive(&mut node, &data(7, 41, 1), 20), 0);
    assert_eq!(node.sends.len(), 2);

    let fwd = &node.sends[0];
    assert_eq!(fwd.next_hop, NextHop::Neighbour(addr(3)));
    assert_eq!((fwd.source, fwd.destination), (addr(1), addr(9)));
    // The notification took hops (2) + slack (4).
    assert_eq!(fwd.budget, 20 - 6);
    assert_eq!(decode::<Message>(&fwd.payload), data(7, 41, 2));

    let note = &node.sends[1];
    assert_eq!((note.source, note.destination), (addr(2), addr(1)));
    assert_eq!(note.next_hop, NextHop::Neighbour(addr(1)));
    assert_eq!(note.budget, 6);
    assert_eq!(
        decode::<Message>(&note.payload),
        Message::Notify(Notification {
            flow: 7,
            seq: 41,
            hops: 2,
            node: addr(2),
            link: addr(3),
            load: Load {
                queue_len: 500,
                queue_cap: 1000,
                drops_recent: 0,
                tx_pps: 900,
            },
        })
    );
    let last: u64 = decode(node.state_value(&flow_key(addr(1), 7)).unwrap());
    assert_eq!(last, 5_000);
}

#[test]
fn recent_drops_are_congestion_even_with_an_empty_queue() {
    let mut node = router(load(0, 0, 3));
    assert_eq!(arrive(&mut node, &data(7, 1, 0), 20), 0);
    assert_eq!(node.sends.len(), 2);
}

#[test]
fn repeats_are_rate_limited_per_flow() {
    let mut node = router(load(900, 1000, 0));
    assert_eq!(arrive(&mut node, &data(7, 1, 0), 20), 0);
    assert_eq!(node.sends.len(), 2);

    // Same flow, within the interval: forwarded with all its budget, no advice.
    node.advance(NOTIFY_INTERVAL - Duration::from_millis(1));
    assert_eq!(arrive(&mut node, &data(7, 2, 0), 20), 0);
    assert_eq!(node.sends.len(), 1);
    assert_eq!(node.sends[0].budget, 20);

    // Another flow of the same source is limited separately.
    assert_eq!(arrive(&mut node, &data(8, 1, 0), 20), 0);
    assert_eq!(node.sends.len(), 2);

    // Once the interval has passed, flow 7 is notified again.
    node.advance(Duration::from_millis(1));
    assert_eq!(arrive(&mut node, &data(7, 3, 0), 20), 0);
    assert_eq!(node.sends.len(), 2);
    let Message::Notify(n) = decode(&node.sends[1].payload) else {
        panic!("expected a notification");
    };
    assert_eq!((n.flow, n.seq), (7, 3));
}

#[test]
fn low_budget_keeps_the_data_and_skips_the_advice() {
    let mut node = router(load(900, 1000, 0));
    assert_eq!(arrive(&mut node, &data(7, 1, 9), 1), 0);
    assert_eq!(node.sends.len(), 1);
    assert_eq!(node.sends[0].budget, 1);
    // Not recorded either: the next capsule with budget may still advise.
    assert_eq!(node.state_value(&flow_key(addr(1), 7)), None);

    // With 3 left the advice is capped so that the data keeps 1.
    assert_eq!(arrive(&mut node, &data(7, 2, 9), 3), 0);
    assert_eq!((node.sends[0].budget, node.sends[1].budget), (1, 2));
}

#[test]
fn unreachable_source_does_not_cost_the_data() {
    let mut node = FakeNode::new(addr(2)).route(addr(9), addr(3));
    node.link_loads.insert(addr(3), load(900, 1000, 0));
    assert_eq!(arrive(&mut node, &data(7, 1, 0), 20), 0);
    assert_eq!(node.sends.len(), 1);
    assert_eq!(node.sends[0].destination, addr(9));
}

#[test]
fn full_state_quota_skips_the_advice() {
    let mut node = router(load(900, 1000, 0));
    node.state_quota = 0;
    assert_eq!(arrive(&mut node, &data(7, 1, 0), 20), 0);
    assert_eq!(node.sends.len(), 1);
    assert_eq!(node.sends[0].budget, 20);
}

#[test]
fn destination_delivers_data_with_its_hop_count() {
    let mut node = FakeNode::new(addr(9));
    node.capsule = Incoming::new(addr(1), addr(9), 0, &encode(&data(7, 5, 3)));
    assert_eq!(node.evaluate::<Congestion>(), 0);
    assert!(node.sends.is_empty());
    assert_eq!(node.deliveries.len(), 1);
    assert_eq!(node.deliveries[0].port, DATA_PORT);
    let got: Data = decode(&node.deliveries[0].payload);
    assert_eq!((got.flow, got.seq, got.hops), (7, 5, 4));
    assert_eq!(got.data, b"payload");
}

#[test]
fn notification_is_relayed_unchanged_then_delivered_at_source() {
    let n = Notification {
        flow: 3,
        seq: 9,
        hops: 4,
        node: addr(5),
        link: addr(6),
        load: Load {
            queue_len: 8,
            queue_cap: 10,
            drops_recent: 1,
            tx_pps: 0,
        },
    };
    let payload = encode(&Message::Notify(n.clone()));
    let mut mid = FakeNode::new(addr(2)).route(addr(1), addr(1));
    // A relay never looks at link load for notifications: this link is saturated.
    mid.link_loads.insert(addr(1), load(1000, 1000, 50));
    mid.capsule = Incoming::new(addr(5), addr(1), 4, &payload);
    assert_eq!(mid.evaluate::<Congestion>(), 0);
    assert_eq!(mid.sends.len(), 1);
    assert_eq!(mid.sends[0].payload, payload);
    assert_eq!(mid.sends[0].budget, 4);

    let mut src = FakeNode::new(addr(1));
    src.capsule = Incoming::new(addr(5), addr(1), 3, &payload);
    assert_eq!(src.evaluate::<Congestion>(), 0);
    assert!(src.sends.is_empty());
    assert_eq!(src.deliveries[0].port, NOTIFY_PORT);
    assert_eq!(decode::<Notification>(&src.deliveries[0].payload), n);
}

#[test]
fn no_route_and_no_budget_fail_without_effects() {
    let mut lost = FakeNode::new(addr(2));
    assert_eq!(
        arrive(&mut lost, &data(1, 1, 0), 5),
        Error::NoRoute.status()
    );
    assert!(!lost.made_effect());

    let mut spent = router(load(900, 1000, 0));
    assert_eq!(
        arrive(&mut spent, &data(1, 1, 0), 0),
        Error::BudgetExceeded.status()
    );
    assert!(!spent.made_effect());
    assert_eq!(spent.state_value(&flow_key(addr(1), 1)), None);
}

#[test]
fn malformed_payloads_are_decode_errors_without_effects() {
    let mut trailing = encode(&data(1, 1, 0));
    trailing.push(0);
    for payload in [vec![], vec![2], vec![0, 1, 1, 0, 200], trailing] {
        let mut node = router(load(900, 1000, 0));
        node.capsule = Incoming::new(addr(1), addr(9), 20, &payload);
        assert_eq!(node.evaluate::<Congestion>(), Error::Decode.status());
        assert!(!node.made_effect());
        assert_eq!(node.state_value(&flow_key(addr(1), 1)), None);
    }
}

#[test]
fn largest_data_fits_one_capsule() {
    let m = Message::Data(Data {
        hops: u8::MAX,
        flow: u32::MAX,
        seq: u32::MAX,
        data: vec![0xab; MAX_DATA],
    });
    assert_eq!(encode(&m).len(), capsule_sdk::abi::MAX_PAYLOAD);
}

/// A network of fake nodes: capsules go where the sends say, one hop charged per arrival.
struct Net {
    nodes: BTreeMap<Address, FakeNode>,
    delivered: Vec<(Address, u16, Vec<u8>)>,
}

impl Net {
    fn inject(&mut self, at: Address, dst: Address, budget: u32, msg: &Message) {
        let mut queue = VecDeque::new();
        queue.push_back((at, Incoming::new(at, dst, budget - 1, &encode(msg))));
        while let Some((here, capsule)) = queue.pop_front() {
            let node = self.nodes.get_mut(&here).unwrap();
            node.capsule = capsule;
            assert_eq!(node.evaluate::<Congestion>(), 0, "at {here}");
            for d in &node.deliveries {
                self.delivered.push((here, d.port, d.payload.clone()));
            }
            for s in &node.sends {
                let to = match s.next_hop {
                    NextHop::Local => here,
                    NextHop::Neighbour(n) => n,
                };
                let mut next = Incoming::new(s.source, s.destination, s.budget - 1, &s.payload);
                next.previous = here;
                queue.push_back((to, next));
            }
        }
    }
}

#[test]
fn walk_source_router_destination_with_advice_back_to_the_sender() {
    // Host 1 - router 2 - router 3 - host 9; the link 2 -> 3 is congested.
    let mut nodes = BTreeMap::new();
    nodes.insert(addr(1), FakeNode::new(addr(1)).route(addr(9), addr(2)));
    nodes.insert(addr(2), router(load(800, 1000, 0)));
    nodes.insert(
        addr(3),
        FakeNode::new(addr(3))
            .route(addr(9), addr(9))
            .route(addr(1), addr(2)),
    );
    nodes.insert(addr(9), FakeNode::new(addr(9)).route(addr(1), addr(3)));
    let mut net = Net {
        nodes,
        delivered: Vec::new(),
    };

    net.inject(addr(1), addr(9), 32, &data(11, 0, 0));
    assert_eq!(net.delivered.len(), 2, "{:?}", net.delivered);
    // The advice reaches the sender's node first (fewer hops), the data its destination.
    let (at, port, bytes) = &net.delivered[0];
    assert_eq!((*at, *port), (addr(1), NOTIFY_PORT));
    let n: Notification = decode(bytes);
    assert_eq!(
        (n.flow, n.seq, n.hops, n.node, n.link),
        (11, 0, 2, addr(2), addr(3))
    );
    let (at, port, bytes) = &net.delivered[1];
    assert_eq!((*at, *port), (addr(9), DATA_PORT));
    let d: Data = decode(bytes);
    assert_eq!((d.flow, d.hops), (11, 4));

    // The next capsule of the flow within the interval: data only.
    net.delivered.clear();
    net.inject(addr(1), addr(9), 32, &data(11, 1, 0));
    assert_eq!(net.delivered.len(), 1);
    assert_eq!(net.delivered[0].1, DATA_PORT);
}

#[test]
fn congested_first_link_advises_the_local_sender_by_loopback() {
    let mut host = FakeNode::new(addr(1)).route(addr(9), addr(2));
    host.link_loads.insert(addr(2), load(0, 10, 2));
    host.capsule = Incoming::new(addr(1), addr(9), 10, &encode(&data(4, 0, 0)));
    assert_eq!(host.evaluate::<Congestion>(), 0);
    assert_eq!(host.sends[1].next_hop, NextHop::Local);
    let looped = host.sends[1].clone();
    assert_eq!(looped.budget, 5);
    host.capsule = Incoming::new(looped.source, looped.destination, 4, &looped.payload);
    assert_eq!(host.evaluate::<Congestion>(), 0);
    assert_eq!(host.deliveries[0].port, NOTIFY_PORT);
    let n: Notification = decode(&host.deliveries[0].payload);
    assert_eq!((n.node, n.hops), (addr(1), 1));
}

#[test]
fn hop_count_saturates_in_place() {
    let mut node = router(load(0, 1000, 0));
    let before = encode(&data(7, 1, u8::MAX));
    assert_eq!(arrive(&mut node, &data(7, 1, u8::MAX), 20), 0);
    assert_eq!(node.sends[0].payload, before);
    assert_eq!(arrive(&mut node, &data(7, 1, 254), 20), 0);
    assert_eq!(node.sends[0].payload, encode(&data(7, 1, u8::MAX)));
}
