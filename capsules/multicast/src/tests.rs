//! Host tests of the multicast protocol at one node and across a small tree of fake nodes.

use alloc::vec;
use alloc::vec::Vec;
use core::time::Duration;

use capsule_sdk::testing::{Delivery, FakeNode, Incoming};

use super::*;
use crate::tree::{BRANCH_LEN, TAG_GROUP, TARGET_LEN, Target, local, neighbour, u64_at};
use capsule_sdk::testing::net::{Net, addr, b, m1, m2, s};

const GROUP: u32 = 7;
const PORT: u16 = 5000;

/// A neighbour of the branch node that is not on the tree.
fn x() -> Address {
    addr(5)
}

fn enc(m: &Message) -> Vec<u8> {
    capsule_sdk::postcard::to_allocvec(m).unwrap()
}

fn subscribe() -> Vec<u8> {
    enc(&Message::Subscribe {
        group: GROUP,
        port: PORT,
    })
}

fn leave() -> Vec<u8> {
    enc(&Message::Leave {
        group: GROUP,
        port: PORT,
    })
}

fn data(seq: u32) -> Vec<u8> {
    enc(&Message::Data {
        group: GROUP,
        seq,
        data: b"payload",
    })
}

/// A capsule from `src` toward `dst` arriving from `previous`.
fn arrival(src: Address, dst: Address, previous: Address, budget: u32, p: &[u8]) -> Incoming {
    let mut c = Incoming::new(src, dst, budget, p);
    c.previous = previous;
    c
}

/// A membership entry as the tests read it.
struct Entry {
    upstream_ns: u64,
    branches: Vec<(Target, u64)>,
}

/// The live membership entry of the test group on `n`, if stored.
fn group_of(n: &FakeNode) -> Option<Entry> {
    let v = n.state_value(&tree::key(TAG_GROUP, s(), GROUP, 0))?;
    let mut g = tree::Group::new();
    tree::live(v, n.time_ns, &mut g).unwrap();
    let g = g.as_slice();
    let branches = tree::branches(g)
        .chunks_exact(BRANCH_LEN)
        .map(|b| (b[..TARGET_LEN].try_into().unwrap(), u64_at(b, TARGET_LEN)))
        .collect();
    Some(Entry {
        upstream_ns: u64_at(g, 0),
        branches,
    })
}

fn targets_of(n: &FakeNode) -> Vec<Target> {
    group_of(n).unwrap().branches.iter().map(|b| b.0).collect()
}

fn branch_node() -> FakeNode {
    FakeNode::new(b())
        .route(s(), s())
        .neighbour(m1())
        .neighbour(m2())
        .neighbour(x())
}

#[test]
fn wire_layout_is_the_documented_one() {
    let d = Message::Data {
        group: 300,
        seq: 1,
        data: b"ab",
    };
    assert_eq!(enc(&d), [2, 0xac, 0x02, 1, 2, b'a', b'b']);
    assert_eq!(enc(&Message::Subscribe { group: 1, port: 80 }), [0, 1, 80]);
    assert_eq!(enc(&Message::Leave { group: 1, port: 80 }), [1, 1, 80]);
    assert_eq!(Message::parse(&enc(&d)), Ok(d));
}

/// A small deterministic generator for the parser comparisons.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
}

/// What postcard's derived decoder makes of `b` (the whole input, or an error).
fn postcard_view(b: &[u8]) -> Option<Message<'_>> {
    match capsule_sdk::postcard::take_from_bytes::<Message>(b) {
        Ok((m, [])) => Some(m),
        _ => None,
    }
}

#[test]
fn parse_round_trips_postcard_encodings() {
    let data = [7u8; 300];
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    for _ in 0..2_000 {
        let group = rng.next() as u32 >> (rng.next() % 32);
        let seq = rng.next() as u32 >> (rng.next() % 32);
        let port = rng.next() as u16;
        let len = (rng.next() % 300) as usize;
        for m in [
            Message::Subscribe { group, port },
            Message::Leave { group, port },
            Message::Data {
                group,
                seq,
                data: &data[..len],
            },
        ] {
            assert_eq!(Message::parse(&enc(&m)), Ok(m));
        }
    }
}

#[test]
fn parse_accepts_exactly_what_postcard_accepts() {
    let mut rng = Rng(0x2545_f491_4f6c_dd1d);
    let mut accepted = 0;
    for _ in 0..200_000 {
        let len = (rng.next() % 12) as usize;
        let mut b: Vec<u8> = (0..len).map(|_| rng.next() as u8).collect();
        // Bias toward valid variant indices and continuation bytes, where the edge cases are.
        if let Some(first) = b.first_mut() {
            *first %= 4;
        }
        if rng.next().is_multiple_of(4)
            && let Some(x) = b.get_mut(1)
        {
            *x |= 0x80;
        }
        let ours = Message::parse(&b).ok();
        assert_eq!(ours, postcard_view(&b), "{b:02x?}");
        accepted += usize::from(ours.is_some());
    }
    assert!(
        accepted > 1_000,
        "the comparison must see valid messages too"
    );
    // Varint edge cases: overlong but in range, and bits beyond the type.
    for b in [
        &[0x80, 0x00, 1, 2][..],
        &[0, 0xff, 0xff, 0xff, 0xff, 0x0f, 1],
        &[0, 0xff, 0xff, 0xff, 0xff, 0x10, 1],
        &[0, 1, 0xff, 0xff, 0x03],
        &[0, 1, 0xff, 0xff, 0x04],
        &[2, 1, 1, 0x80, 0x80, 0x80, 0x80, 0x00],
    ] {
        assert_eq!(Message::parse(b).ok(), postcard_view(b), "{b:02x?}");
    }
}

#[test]
fn local_subscribe_records_member_with_expiry_and_goes_upstream() {
    let mut n = FakeNode::new(m1()).route(s(), b()).with_capsule(arrival(
        m1(),
        s(),
        m1(),
        63,
        &subscribe(),
    ));
    n.advance(Duration::from_secs(3));
    assert_eq!(n.evaluate::<Multicast>(), 0);
    let g = group_of(&n).unwrap();
    let expires_ns = (3_000 + MEMBER_TTL_MS) * 1_000_000;
    assert_eq!(g.branches, [(local(PORT), expires_ns)]);
    assert_eq!(g.upstream_ns, 3_000_000_000);
    assert_eq!(n.sends.len(), 1);
    let sent = &n.sends[0];
    assert_eq!(sent.next_hop, NextHop::Neighbour(b()));
    assert_eq!((sent.destination, sent.budget), (s(), 63));
    assert_eq!(sent.payload, subscribe());

    // The entry itself lives exactly as long as its branch.
    n.advance(Duration::from_millis(MEMBER_TTL_MS - 1));
    assert_eq!(group_of(&n).unwrap().branches.len(), 1);
    n.advance(Duration::from_millis(1));
    assert!(group_of(&n).is_none());
}

#[test]
fn node_on_the_tree_absorbs_subscribes_until_refresh_is_due() {
    let mut n = branch_node().with_capsule(arrival(m1(), s(), m1(), 10, &subscribe()));
    assert_eq!(n.evaluate::<Multicast>(), 0);
    assert_eq!(n.sends.len(), 1, "first subscribe goes upstream");

    n.capsule = arrival(m2(), s(), m2(), 10, &subscribe());
    n.advance(Duration::from_millis(UPSTREAM_REFRESH_MS - 1));
    assert_eq!(n.evaluate::<Multicast>(), 0);
    assert!(!n.made_effect(), "upstream subscription is fresh");
    assert_eq!(targets_of(&n), [neighbour(m1()), neighbour(m2())]);

    n.capsule = arrival(m1(), s(), m1(), 10, &subscribe());
    n.advance(Duration::from_millis(1));
    assert_eq!(n.evaluate::<Multicast>(), 0);
    assert_eq!(n.sends.len(), 1, "refresh is due: forwarded again");
    assert_eq!(n.sends[0].next_hop, NextHop::Neighbour(s()));
}

#[test]
fn source_node_records_and_absorbs() {
    let mut n =
        FakeNode::new(s())
            .neighbour(b())
            .with_capsule(arrival(m1(), s(), b(), 10, &subscribe()));
    assert_eq!(n.evaluate::<Multicast>(), 0);
    assert!(!n.made_effect());
    let g = group_of(&n).unwrap();
    assert_eq!(g.branches[0].0, neighbour(b()));
    assert_eq!(g.upstream_ns, u64::MAX);
}

#[test]
fn data_goes_once_to_each_recorded_branch_only() {
    let mut n = branch_node();
    for m in [m1(), m2()] {
        n.capsule = arrival(m, s(), m, 10, &subscribe());
        assert_eq!(n.evaluate::<Multicast>(), 0);
    }
    n.capsule = arrival(s(), s(), s(), 9, &data(4));
    assert_eq!(n.evaluate::<Multicast>(), 0);
    assert!(n.deliveries.is_empty());
    let mut hops: Vec<(NextHop, u32)> = n.sends.iter().map(|s| (s.next_hop, s.budget)).collect();
    hops.sort_by_key(|h| h.1);
    assert_eq!(
        hops,
        [(NextHop::Neighbour(m2()), 4), (NextHop::Neighbour(m1()), 5)]
    );
    for sent in &n.sends {
        assert_eq!((sent.source, sent.destination), (s(), s()));
        assert_eq!(sent.payload, data(4));
    }
}

#[test]
fn data_is_never_sent_back_to_the_previous_node() {
    let mut n = branch_node();
    // An entry naming the upstream neighbour as a branch (a route change can leave one).
    let mut entry = u64::MAX.to_le_bytes().to_vec();
    for t in [neighbour(s()), neighbour(m1())] {
        entry.extend_from_slice(&t);
        entry.extend_from_slice(&u64::MAX.to_le_bytes());
    }
    n.set_state(
        &tree::key(TAG_GROUP, s(), GROUP, 0),
        &entry,
        Duration::from_secs(60),
    );
    n.capsule = arrival(s(), s(), s(), 9, &data(0));
    assert_eq!(n.evaluate::<Multicast>(), 0);
    assert_eq!(n.sends.len(), 1);
    assert_eq!(n.sends[0].next_hop, NextHop::Neighbour(m1()));
    assert_eq!(n.sends[0].budget, 9);
}

#[test]
fn member_node_delivers_to_each_local_port() {
    let mut n = FakeNode::new(m1()).route(s(), b());
    for port in [PORT, PORT + 1] {
        let p = enc(&Message::Subscribe { group: GROUP, port });
        n.capsule = arrival(m1(), s(), m1(), 10, &p);
        assert_eq!(n.evaluate::<Multicast>(), 0);
    }
    n.capsule = arrival(s(), s(), b(), 5, &data(1));
    assert_eq!(n.evaluate::<Multicast>(), 0);
    assert!(n.sends.is_empty());
    assert_eq!(
        n.deliveries,
        [
            Delivery {
                port: PORT,
                payload: data(1)
            },
            Delivery {
                port: PORT + 1,
                payload: data(1)
            }
        ]
    );
}

#[test]
fn leave_prunes_and_goes_upstream_only_when_last() {
    let mut n = branch_node();
    for m in [m1(), m2()] {
        n.capsule = arrival(m, s(), m, 10, &subscribe());
        assert_eq!(n.evaluate::<Multicast>(), 0);
    }
    n.capsule = arrival(m2(), s(), m2(), 10, &leave());
    assert_eq!(n.evaluate::<Multicast>(), 0);
    assert!(!n.made_effect(), "another member remains below");
    assert_eq!(group_of(&n).unwrap().branches.len(), 1);

    n.capsule = arrival(s(), s(), s(), 9, &data(0));
    assert_eq!(n.evaluate::<Multicast>(), 0);
    assert_eq!(n.sends.len(), 1);
    assert_eq!(n.sends[0].next_hop, NextHop::Neighbour(m1()));

    n.capsule = arrival(m1(), s(), m1(), 10, &leave());
    assert_eq!(n.evaluate::<Multicast>(), 0);
    assert!(group_of(&n).is_none());
    assert_eq!(n.sends.len(), 1);
    assert_eq!(n.sends[0].next_hop, NextHop::Neighbour(s()));
    assert_eq!(n.sends[0].payload, leave());

    n.capsule = arrival(s(), s(), s(), 9, &data(1));
    assert_eq!(n.evaluate::<Multicast>(), 0);
    assert!(!n.made_effect(), "pruned: nothing to copy");
}

#[test]
fn expiry_prunes_branches_that_stop_refreshing() {
    let mut n = branch_node().with_capsule(arrival(m1(), s(), m1(), 10, &subscribe()));
    assert_eq!(n.evaluate::<Multicast>(), 0);
    n.advance(Duration::from_millis(REFRESH_INTERVAL_MS));
    n.capsule = arrival(m2(), s(), m2(), 10, &subscribe());
    assert_eq!(n.evaluate::<Multicast>(), 0);

    // m1's branch expires first; m2's, refreshed later, still stands.
    n.advance(Duration::from_millis(MEMBER_TTL_MS - REFRESH_INTERVAL_MS));
    n.capsule = arrival(s(), s(), s(), 9, &data(0));
    assert_eq!(n.evaluate::<Multicast>(), 0);
    assert_eq!(n.sends.len(), 1);
    assert_eq!(n.sends[0].next_hop, NextHop::Neighbour(m2()));

    n.advance(Duration::from_millis(REFRESH_INTERVAL_MS));
    assert_eq!(n.evaluate::<Multicast>(), 0);
    assert!(!n.made_effect());
    assert!(group_of(&n).is_none());
}

#[test]
fn branch_table_is_bounded() {
    let mut n = FakeNode::new(b()).route(s(), s());
    for i in 0..MAX_BRANCHES as u8 {
        let nb = addr(100 + i);
        n = n.neighbour(nb);
        n.capsule = arrival(nb, s(), nb, 10, &subscribe());
        assert_eq!(n.evaluate::<Multicast>(), 0);
    }
    n = n.neighbour(addr(99));
    n.capsule = arrival(addr(99), s(), addr(99), 10, &subscribe());
    assert_eq!(n.evaluate::<Multicast>(), Error::QuotaExceeded.status());
    assert_eq!(group_of(&n).unwrap().branches.len(), MAX_BRANCHES);
    // A known branch still refreshes.
    n.capsule = arrival(addr(100), s(), addr(100), 10, &subscribe());
    assert_eq!(n.evaluate::<Multicast>(), 0);

    let mut m = FakeNode::new(m1()).route(s(), b());
    for port in 0..=MAX_LOCAL as u16 {
        let p = enc(&Message::Subscribe { group: GROUP, port });
        m.capsule = arrival(m1(), s(), m1(), 10, &p);
        let want = if usize::from(port) < MAX_LOCAL {
            0
        } else {
            Error::QuotaExceeded.status()
        };
        assert_eq!(m.evaluate::<Multicast>(), want);
    }
}

#[test]
fn small_budget_funds_as_many_branches_as_it_can() {
    let mut n = branch_node();
    for m in [m1(), m2()] {
        n.capsule = arrival(m, s(), m, 10, &subscribe());
        assert_eq!(n.evaluate::<Multicast>(), 0);
    }
    n.capsule = arrival(s(), s(), s(), 1, &data(0));
    assert_eq!(n.evaluate::<Multicast>(), 0);
    assert_eq!(n.sends.len(), 1);
    assert_eq!(n.sends[0].budget, 1);
    assert_eq!(
        n.logs.last().unwrap().message,
        "multicast: budget too small for every branch"
    );
}

#[test]
fn malformed_payloads_fail_without_effects_or_state() {
    let mut trailing = subscribe();
    trailing.push(0);
    for p in [vec![], vec![3, 1, 1], vec![2, 1, 1, 9, 1], trailing] {
        let mut n = branch_node().with_capsule(arrival(m1(), s(), m1(), 10, &p));
        assert_eq!(n.evaluate::<Multicast>(), Error::Decode.status(), "{p:?}");
        assert!(!n.made_effect());
        assert!(group_of(&n).is_none());
    }
}

/// Source node `s`, branch node `b`, members at `m1` (two applications) and `m2`.
fn tree_net() -> Net {
    Net::new([
        FakeNode::new(s()).neighbour(b()),
        branch_node(),
        FakeNode::new(m1()).route(s(), b()),
        FakeNode::new(m2()).route(s(), b()),
    ])
}

#[test]
fn walk_every_member_gets_every_seq_exactly_once() {
    let mut net = tree_net();
    net.inject(m1(), s(), 64, &subscribe());
    net.inject(
        m1(),
        s(),
        64,
        &enc(&Message::Subscribe {
            group: GROUP,
            port: PORT + 1,
        }),
    );
    net.inject(m2(), s(), 64, &subscribe());
    assert!(net.run::<Multicast>(|_, _, _| false).is_empty());
    // m1's first subscribe and m2's reached the source through b once: b absorbed m2's.
    let ups = net.links.iter().filter(|l| l.1 == s()).count();
    assert_eq!(ups, 1);
    net.links.clear();

    for seq in 0..20 {
        net.inject(s(), s(), 4096, &data(seq));
    }
    let seen = net.run::<Multicast>(|_, _, _| false);
    for (node, port) in [(m1(), PORT), (m1(), PORT + 1), (m2(), PORT)] {
        for seq in 0..20 {
            let n = seen
                .iter()
                .filter(|(at, p, bytes)| (*at, *p) == (node, port) && *bytes == data(seq))
                .count();
            assert_eq!(n, 1, "{node} port {port} seq {seq}");
        }
    }
    assert_eq!(seen.len(), 60);
    // One copy per tree edge per packet: s-b, b-m1, b-m2.
    assert_eq!(net.links.len(), 60);
    assert_eq!(
        net.links
            .iter()
            .filter(|l| (l.0, l.1) == (s(), b()))
            .count(),
        20
    );
    assert!(net.links.iter().all(|l| l.1 != x()));

    // m2 leaves: b prunes it; the source keeps b (m1 is still below).
    net.inject(m2(), s(), 64, &leave());
    net.run::<Multicast>(|_, _, _| false);
    net.inject(s(), s(), 4096, &data(20));
    let seen = net.run::<Multicast>(|_, _, _| false);
    let at: Vec<Address> = seen.iter().map(|d| d.0).collect();
    assert_eq!(at, [m1(), m1()]);

    // Without refreshes the whole tree expires: data goes nowhere.
    net.advance(Duration::from_millis(MEMBER_TTL_MS));
    net.links.clear();
    net.inject(s(), s(), 4096, &data(21));
    assert!(net.run::<Multicast>(|_, _, _| false).is_empty());
    assert!(net.links.is_empty());
}
