//! Host tests of reliable multicast: the window, NACK handling and repair at one node, the
//! parser against postcard, and a lossy walk over a small tree of fake nodes.

use alloc::collections::{BTreeMap, BTreeSet};
use alloc::vec;
use alloc::vec::Vec;
use core::cell::Cell;
use core::time::Duration;

use capsule_sdk::testing::{FakeNode, Incoming};

use super::*;
use crate::tree::{local, neighbour};
use capsule_sdk::testing::net::{Net, Seen, addr, b, m1, m2, s};

const GROUP: u32 = 9;
const PORT: u16 = 6000;

fn enc(m: &Message) -> Vec<u8> {
    capsule_sdk::postcard::to_allocvec(m).unwrap()
}

fn dec(b: &[u8]) -> Message<'_> {
    capsule_sdk::postcard::from_bytes(b).unwrap()
}

fn subscribe(port: u16) -> Vec<u8> {
    enc(&Message::Subscribe { group: GROUP, port })
}

fn bytes_of(seq: u32) -> [u8; 4] {
    (seq * 3 + 1).to_be_bytes()
}

fn data(seq: u32) -> Vec<u8> {
    enc(&Message::Data {
        group: GROUP,
        seq,
        data: &bytes_of(seq),
    })
}

fn nack(port: u16, hops: u16, seqs: &[u32]) -> Vec<u8> {
    enc(&Message::Nack {
        group: GROUP,
        port,
        hops,
        seqs: seqs.to_vec(),
    })
}

fn repair(seq: u32, origin: Address, made_ns: u64) -> Vec<u8> {
    enc(&Message::Repair {
        group: GROUP,
        seq,
        origin,
        made_ns,
        data: &bytes_of(seq),
    })
}

/// A capsule from `src` toward `dst` arriving from `previous`.
fn arrival(src: Address, dst: Address, previous: Address, budget: u32, p: &[u8]) -> Incoming {
    let mut c = Incoming::new(src, dst, budget, p);
    c.previous = previous;
    c
}

fn slot_of(n: &FakeNode, seq: u32) -> Option<&[u8]> {
    n.state_value(&slot_key(s(), GROUP, seq))
}

fn held(seq: u32) -> Vec<u8> {
    let mut v = vec![HELD];
    v.extend_from_slice(&seq.to_le_bytes());
    v.extend_from_slice(&bytes_of(seq));
    v
}

/// The branch node `b` (upstream `s`, members below at `m1` and `m2`), with both members
/// subscribed.
fn branch_node() -> FakeNode {
    let mut n = FakeNode::new(b())
        .route(s(), s())
        .neighbour(m1())
        .neighbour(m2());
    for m in [m1(), m2()] {
        n.capsule = arrival(m, s(), m, 10, &subscribe(PORT));
        assert_eq!(n.evaluate::<ReliableMulticast>(), 0);
    }
    n
}

#[test]
fn wire_layout_is_the_documented_one() {
    assert_eq!(nack(80, 2, &[300, 1]), [4, 9, 80, 2, 2, 0xac, 0x02, 1]);
    let r = repair(1, Address([7; 16]), 2);
    let mut want = vec![5, 9, 1];
    want.extend_from_slice(&[7; 16]);
    want.extend_from_slice(&[2, 4]);
    want.extend_from_slice(&bytes_of(1));
    assert_eq!(r, want);
    assert_eq!(
        enc(&Message::Announce {
            group: 9,
            highest: 3
        }),
        [3, 9, 3]
    );
}

#[test]
fn data_is_kept_forwarded_once_and_duplicates_dropped() {
    let mut n = branch_node();
    n.capsule = arrival(s(), s(), s(), 8, &data(3));
    assert_eq!(n.evaluate::<ReliableMulticast>(), 0);
    assert_eq!(n.sends.len(), 2);
    assert_eq!(slot_of(&n, 3), Some(&held(3)[..]));

    n.capsule = arrival(s(), s(), s(), 8, &data(3));
    assert_eq!(n.evaluate::<ReliableMulticast>(), 0);
    assert!(!n.made_effect(), "a duplicate is dropped");

    // The window keeps each packet CACHE_TTL_MS.
    n.advance(Duration::from_millis(CACHE_TTL_MS));
    assert_eq!(slot_of(&n, 3), None);
}

#[test]
fn node_holding_the_packet_repairs_toward_the_requester_only() {
    let mut n = branch_node();
    n.capsule = arrival(s(), s(), s(), 8, &data(5));
    assert_eq!(n.evaluate::<ReliableMulticast>(), 0);
    n.advance(Duration::from_millis(40));

    n.capsule = arrival(m1(), s(), m1(), 100, &nack(PORT, 1, &[5]));
    assert_eq!(n.evaluate::<ReliableMulticast>(), 0);
    assert_eq!(n.sends.len(), 1, "repaired here, the NACK goes no further");
    let sent = &n.sends[0];
    assert_eq!(sent.next_hop, NextHop::Neighbour(m1()));
    assert_eq!(sent.destination, s());
    assert_eq!(sent.budget, 1 + REPAIR_SLACK);
    assert_eq!(sent.payload, repair(5, b(), 40_000_000));
}

#[test]
fn member_node_holding_the_packet_delivers_the_repair_locally() {
    let mut n = FakeNode::new(m1()).route(s(), b());
    n.capsule = arrival(m1(), s(), m1(), 10, &subscribe(PORT));
    assert_eq!(n.evaluate::<ReliableMulticast>(), 0);
    n.capsule = arrival(s(), s(), b(), 5, &data(2));
    assert_eq!(n.evaluate::<ReliableMulticast>(), 0);
    assert_eq!(n.deliveries[0].payload, data(2));

    n.capsule = arrival(m1(), s(), m1(), 100, &nack(PORT, 0, &[2]));
    assert_eq!(n.evaluate::<ReliableMulticast>(), 0);
    assert!(n.sends.is_empty());
    assert_eq!(n.deliveries.len(), 1);
    assert_eq!(
        (n.deliveries[0].port, &n.deliveries[0].payload[..]),
        (PORT, &repair(2, m1(), 0)[..])
    );
}

#[test]
fn node_missing_the_packet_asks_upstream_once_and_repairs_every_requester() {
    let mut n = branch_node();
    n.capsule = arrival(m1(), s(), m1(), 100, &nack(PORT, 1, &[7, 8]));
    assert_eq!(n.evaluate::<ReliableMulticast>(), 0);
    assert_eq!(n.sends.len(), 1);
    let up = &n.sends[0];
    assert_eq!(up.next_hop, NextHop::Neighbour(s()));
    assert_eq!((up.source, up.destination, up.budget), (m1(), s(), 100));
    assert_eq!(up.payload, nack(PORT, 2, &[7, 8]));

    // m2 misses 7 as well, and 9: only 9 goes upstream while the request for 7 is fresh.
    n.advance(Duration::from_millis(NACK_HOLD_MS - 1));
    n.capsule = arrival(m2(), s(), m2(), 100, &nack(PORT, 1, &[7, 9]));
    assert_eq!(n.evaluate::<ReliableMulticast>(), 0);
    assert_eq!(n.sends[0].payload, nack(PORT, 2, &[9]));

    // A repeat after NACK_HOLD_MS asks again.
    n.advance(Duration::from_millis(1));
    n.capsule = arrival(m1(), s(), m1(), 100, &nack(PORT, 1, &[7]));
    assert_eq!(n.evaluate::<ReliableMulticast>(), 0);
    assert_eq!(n.sends[0].payload, nack(PORT, 2, &[7]));

    // The repair from the source goes to both requesters and nowhere else, and is kept.
    n.capsule = arrival(m1(), s(), s(), 20, &repair(7, s(), 1));
    assert_eq!(n.evaluate::<ReliableMulticast>(), 0);
    let hops: Vec<(NextHop, u32)> = n.sends.iter().map(|x| (x.next_hop, x.budget)).collect();
    assert_eq!(
        hops,
        [
            (NextHop::Neighbour(m1()), 10),
            (NextHop::Neighbour(m2()), 10)
        ]
    );
    assert!(n.sends.iter().all(|x| x.payload == repair(7, s(), 1)));
    assert_eq!(slot_of(&n, 7), Some(&held(7)[..]));

    // A second copy of the repair finds nobody waiting.
    assert_eq!(n.evaluate::<ReliableMulticast>(), 0);
    assert!(!n.made_effect());
}

#[test]
fn original_data_also_reaches_requesters_off_the_tree() {
    let mut n = FakeNode::new(b())
        .route(s(), s())
        .neighbour(m1())
        .neighbour(m2());
    n.capsule = arrival(m1(), s(), m1(), 10, &subscribe(PORT));
    assert_eq!(n.evaluate::<ReliableMulticast>(), 0);
    // m2 is not subscribed (its branch expired) but asked for 4 before 4 arrived here.
    n.capsule = arrival(m2(), s(), m2(), 100, &nack(PORT, 1, &[4]));
    assert_eq!(n.evaluate::<ReliableMulticast>(), 0);
    n.capsule = arrival(s(), s(), s(), 8, &data(4));
    assert_eq!(n.evaluate::<ReliableMulticast>(), 0);
    let to: Vec<NextHop> = n.sends.iter().map(|x| x.next_hop).collect();
    assert_eq!(to, [NextHop::Neighbour(m1()), NextHop::Neighbour(m2())]);
}

#[test]
fn source_node_repairs_and_drops_what_it_never_sent() {
    let mut n = FakeNode::new(s()).neighbour(b());
    n.capsule = arrival(b(), s(), b(), 10, &subscribe(PORT));
    assert_eq!(n.evaluate::<ReliableMulticast>(), 0);
    n.capsule = arrival(s(), s(), s(), 100, &data(0));
    assert_eq!(n.evaluate::<ReliableMulticast>(), 0);

    n.capsule = arrival(m1(), s(), b(), 50, &nack(PORT, 2, &[0, 1]));
    assert_eq!(n.evaluate::<ReliableMulticast>(), 0);
    assert_eq!(
        n.sends.len(),
        1,
        "seq 1 was never sent: nothing to ask or repair"
    );
    assert_eq!(n.sends[0].payload, repair(0, s(), 0));
    assert_eq!(n.sends[0].next_hop, NextHop::Neighbour(b()));
    assert_eq!(slot_of(&n, 1), None, "the source keeps no wanted entries");
}

#[test]
fn window_is_bounded_and_older_packets_are_unrecoverable() {
    let mut n = branch_node();
    for seq in 0..WINDOW + 10 {
        n.capsule = arrival(s(), s(), s(), 8, &data(seq));
        assert_eq!(n.evaluate::<ReliableMulticast>(), 0);
    }
    let kept: Vec<u32> = (0..=255u8)
        .filter_map(|slot| n.state_value(&tree::key(TAG_SLOT, s(), GROUP, slot)))
        .map(|v| u32::from_le_bytes(v[1..5].try_into().unwrap()))
        .collect();
    assert_eq!(kept.len(), WINDOW as usize);
    assert!(kept.iter().all(|&seq| seq >= 10));

    // Seq 3 left the window: neither repaired nor asked for upstream. Seq 70 is repaired.
    n.capsule = arrival(m1(), s(), m1(), 100, &nack(PORT, 1, &[3, 70]));
    assert_eq!(n.evaluate::<ReliableMulticast>(), 0);
    assert_eq!(n.sends.len(), 1);
    assert_eq!(n.sends[0].payload, repair(70, b(), 0));
    // A late copy of seq 3 is older than the window and dropped too.
    n.capsule = arrival(s(), s(), s(), 8, &data(3));
    assert_eq!(n.evaluate::<ReliableMulticast>(), 0);
    assert!(!n.made_effect());
}

#[test]
fn wanted_requesters_are_bounded() {
    let mut n = FakeNode::new(b()).route(s(), s());
    for i in 0..MAX_WANTED as u8 + 4 {
        let m = addr(100 + i);
        n = n.neighbour(m);
        n.capsule = arrival(m, s(), m, 100, &nack(PORT, 1, &[1]));
        assert_eq!(n.evaluate::<ReliableMulticast>(), 0);
    }
    let v = slot_of(&n, 1).unwrap();
    assert_eq!(v.len(), WANTED_HEAD + MAX_WANTED * TARGET_LEN);
    assert_eq!(v[WANTED_HEAD..][..TARGET_LEN], neighbour(addr(100)));
}

#[test]
fn repairs_spend_at_most_half_the_budget_off_the_source() {
    let mut n = branch_node();
    for seq in 0..3 {
        n.capsule = arrival(s(), s(), s(), 8, &data(seq));
        assert_eq!(n.evaluate::<ReliableMulticast>(), 0);
    }
    // 40 budget: 20 for repairs (one of 17, one of 3, none for the third), the rest asks
    // upstream for 5.
    n.capsule = arrival(m1(), s(), m1(), 40, &nack(PORT, 1, &[0, 1, 2, 5]));
    assert_eq!(n.evaluate::<ReliableMulticast>(), 0);
    let budgets: Vec<u32> = n.sends.iter().map(|x| x.budget).collect();
    assert_eq!(budgets, [17, 3, 20]);
    assert_eq!(n.sends[2].payload, nack(PORT, 2, &[5]));
}

#[test]
fn local_requester_at_its_own_node_is_remembered_by_port() {
    let mut n = FakeNode::new(m1()).route(s(), b());
    n.capsule = arrival(m1(), s(), m1(), 100, &nack(PORT, 0, &[6]));
    assert_eq!(n.evaluate::<ReliableMulticast>(), 0);
    assert_eq!(n.sends[0].payload, nack(PORT, 1, &[6]));
    let v = slot_of(&n, 6).unwrap();
    assert_eq!(v[0], WANTED);
    assert_eq!(v[WANTED_HEAD..], local(PORT));

    n.capsule = arrival(m1(), s(), b(), 5, &repair(6, b(), 1));
    assert_eq!(n.evaluate::<ReliableMulticast>(), 0);
    assert!(n.sends.is_empty());
    assert_eq!(n.deliveries.len(), 1);
    assert_eq!(
        (n.deliveries[0].port, &n.deliveries[0].payload[..]),
        (PORT, &repair(6, b(), 1)[..])
    );
}

#[test]
fn late_original_after_a_repair_is_not_delivered_again() {
    let mut n = FakeNode::new(m1()).route(s(), b());
    n.capsule = arrival(m1(), s(), m1(), 10, &subscribe(PORT));
    assert_eq!(n.evaluate::<ReliableMulticast>(), 0);
    n.capsule = arrival(m1(), s(), m1(), 100, &nack(PORT, 0, &[3]));
    assert_eq!(n.evaluate::<ReliableMulticast>(), 0);
    n.capsule = arrival(m1(), s(), b(), 5, &repair(3, b(), 1));
    assert_eq!(n.evaluate::<ReliableMulticast>(), 0);
    assert_eq!(n.deliveries.len(), 1);
    n.capsule = arrival(s(), s(), b(), 5, &data(3));
    assert_eq!(n.evaluate::<ReliableMulticast>(), 0);
    assert!(!n.made_effect());
}

#[test]
fn announcements_follow_the_tree_uncached() {
    let mut n = branch_node();
    let a = enc(&Message::Announce {
        group: GROUP,
        highest: 12,
    });
    n.capsule = arrival(s(), s(), s(), 8, &a);
    assert_eq!(n.evaluate::<ReliableMulticast>(), 0);
    assert_eq!(n.sends.len(), 2);
    assert!(n.sends.iter().all(|x| x.payload == a));
    assert_eq!(slot_of(&n, 12), None);
}

#[test]
fn malformed_or_oversized_payloads_fail_without_effects_or_state() {
    let mut long_nack = nack(PORT, 0, &[0; MAX_NACK_SEQS + 1]);
    let big = enc(&Message::Data {
        group: GROUP,
        seq: 1,
        data: &[0; MAX_DATA + 1],
    });
    let mut trailing = data(1);
    trailing.push(0);
    let cases = [
        (vec![], Error::Decode),
        (vec![6], Error::Decode),
        (trailing, Error::Decode),
        (core::mem::take(&mut long_nack), Error::Decode),
        (nack(PORT, 0, &[1])[..5].to_vec(), Error::Decode),
        (repair(1, s(), 0)[..20].to_vec(), Error::Decode),
        (big, Error::TooLarge),
    ];
    for (p, err) in cases {
        let mut n = branch_node();
        n.capsule = arrival(m1(), s(), m1(), 100, &p);
        assert_eq!(n.evaluate::<ReliableMulticast>(), err.status(), "{p:02x?}");
        assert!(!n.made_effect());
        assert_eq!(slot_of(&n, 1), None);
    }
}

/// A small deterministic generator.
struct Rng(Cell<u64>);

impl Rng {
    fn next(&self) -> u64 {
        let mut x = self.0.get();
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        self.0.set(x);
        x
    }
}

/// The node-side view of `m`, for comparing with [`parse`].
fn expected(m: &Message) -> Option<Msg<'static>> {
    Some(match *m {
        Message::Subscribe { group, port } => Msg::Subscribe(group, port),
        Message::Leave { group, port } => Msg::Leave(group, port),
        Message::Announce { group, .. } => Msg::Announce(group),
        Message::Nack {
            group,
            port,
            hops,
            ref seqs,
        } => {
            if seqs.len() > MAX_NACK_SEQS {
                return None;
            }
            let mut a = [0; MAX_NACK_SEQS];
            a[..seqs.len()].copy_from_slice(seqs);
            Msg::Nack {
                group,
                port,
                hops,
                seqs: a,
                n: seqs.len(),
            }
        }
        // Data bytes are compared separately (lifetimes).
        Message::Data { group, seq, .. } => Msg::Packet {
            group,
            seq,
            data: &[],
            repair: false,
        },
        Message::Repair { group, seq, .. } => Msg::Packet {
            group,
            seq,
            data: &[],
            repair: true,
        },
    })
}

fn without_data(m: Msg) -> Msg<'static> {
    match m {
        Msg::Packet {
            group, seq, repair, ..
        } => Msg::Packet {
            group,
            seq,
            data: &[],
            repair,
        },
        Msg::Subscribe(g, p) => Msg::Subscribe(g, p),
        Msg::Leave(g, p) => Msg::Leave(g, p),
        Msg::Announce(g) => Msg::Announce(g),
        Msg::Nack {
            group,
            port,
            hops,
            seqs,
            n,
        } => Msg::Nack {
            group,
            port,
            hops,
            seqs,
            n,
        },
    }
}

fn payload_data<'a>(m: &Msg<'a>) -> &'a [u8] {
    match m {
        Msg::Packet { data, .. } => data,
        _ => &[],
    }
}

#[test]
fn parse_agrees_with_postcard() {
    let rng = Rng(Cell::new(0x9e37_79b9_7f4a_7c15));
    let bytes = [5u8; 600];
    for _ in 0..2_000 {
        let v = |bits: u64| rng.next() >> (64 - bits) >> (rng.next() % bits);
        let (group, seq, port) = (v(32) as u32, v(32) as u32, v(16) as u16);
        let data = &bytes[..v(9) as usize];
        let seqs: Vec<u32> = (0..v(5)).map(|_| v(32) as u32).collect();
        for m in [
            Message::Subscribe { group, port },
            Message::Leave { group, port },
            Message::Data { group, seq, data },
            Message::Announce {
                group,
                highest: seq,
            },
            Message::Nack {
                group,
                port,
                hops: v(16) as u16,
                seqs: seqs.clone(),
            },
            Message::Repair {
                group,
                seq,
                origin: Address([v(8) as u8; 16]),
                made_ns: v(64),
                data,
            },
        ] {
            let b = enc(&m);
            let ours = parse(&b).ok();
            assert_eq!(
                ours.as_ref().map(payload_data),
                expected(&m).map(|_| match &m {
                    Message::Data { data, .. } | Message::Repair { data, .. } => *data,
                    _ => &[][..],
                })
            );
            assert_eq!(ours.map(without_data), expected(&m), "{m:?}");
        }
    }
    // Random bytes: accepted exactly when postcard accepts (within the NACK bound).
    let mut accepted = 0;
    for _ in 0..200_000 {
        let len = (rng.next() % 30) as usize;
        let mut b: Vec<u8> = (0..len).map(|_| rng.next() as u8).collect();
        if let Some(first) = b.first_mut() {
            *first %= 7;
        }
        let theirs = match capsule_sdk::postcard::take_from_bytes::<Message>(&b) {
            Ok((m, [])) => expected(&m),
            _ => None,
        };
        let ours = parse(&b).ok().map(without_data);
        assert_eq!(ours, theirs, "{b:02x?}");
        accepted += usize::from(ours.is_some());
    }
    assert!(accepted > 1_000);
}

/// What one member application has seen.
#[derive(Default)]
struct Member {
    got: BTreeSet<u32>,
    duplicates: u32,
    highest: Option<u32>,
}

impl Member {
    fn missing(&self) -> Vec<u32> {
        let top = self.highest.map_or(0, |h| h + 1);
        (0..top)
            .filter(|s| !self.got.contains(s))
            .take(MAX_NACK_SEQS)
            .collect()
    }
}

/// Records deliveries in the member applications.
fn see(seen: Vec<Seen>, members: &mut BTreeMap<(Address, u16), Member>) {
    for (at, port, p) in seen {
        let m = members.entry((at, port)).or_default();
        let (seq, data) = match dec(&p) {
            Message::Data { seq, data, .. } | Message::Repair { seq, data, .. } => (seq, data),
            Message::Announce { highest, .. } => {
                m.highest = m.highest.max(Some(highest));
                continue;
            }
            other => panic!("unexpected delivery {other:?}"),
        };
        assert_eq!(data, bytes_of(seq));
        m.highest = m.highest.max(Some(seq));
        if !m.got.insert(seq) {
            m.duplicates += 1;
        }
    }
}

/// Ten percent loss on every link, 200 packets, three member applications (two on `m1`):
/// everyone gets everything exactly once, and far fewer repairs cross the source's first
/// link than end-to-end retransmission would send.
#[test]
fn lossy_walk_delivers_everything_with_local_repair() {
    let rng = Rng(Cell::new(0x2545_f491_4f6c_dd1d));
    let lose = |_: Address, _: Address, _: &[u8]| rng.next().is_multiple_of(10);
    let mut net = Net::new([
        FakeNode::new(s()).neighbour(b()),
        FakeNode::new(b())
            .route(s(), s())
            .neighbour(m1())
            .neighbour(m2()),
        FakeNode::new(m1()).route(s(), b()),
        FakeNode::new(m2()).route(s(), b()),
    ]);
    let apps = [(m1(), PORT), (m1(), PORT + 1), (m2(), PORT)];
    let mut members: BTreeMap<(Address, u16), Member> = BTreeMap::new();
    let mut missed_originals = 0;
    let total = 200;
    // Subscriptions are refreshed until every member is on the tree.
    for _ in 0..10 {
        for &(at, port) in &apps {
            net.inject(at, s(), 64, &subscribe(port));
        }
        net.run::<ReliableMulticast>(lose);
        net.advance(Duration::from_millis(UPSTREAM_REFRESH_MS));
    }
    for seq in 0..total {
        net.inject(s(), s(), 4096, &data(seq));
        let seen = net.run::<ReliableMulticast>(lose);
        missed_originals += apps.len() - seen.len();
        see(seen, &mut members);
        net.advance(Duration::from_millis(20));
        if seq % 10 == 9 {
            net.inject(
                s(),
                s(),
                4096,
                &enc(&Message::Announce {
                    group: GROUP,
                    highest: seq,
                }),
            );
            let seen = net.run::<ReliableMulticast>(lose);
            see(seen, &mut members);
        }
        // Receivers NACK what they know they miss, at most every RETRY_AFTER_MS.
        if seq % 13 == 0 {
            for &(at, port) in &apps {
                let missing = members.entry((at, port)).or_default().missing();
                if !missing.is_empty() {
                    net.inject(at, s(), 1024, &nack(port, 0, &missing));
                }
            }
            let seen = net.run::<ReliableMulticast>(lose);
            see(seen, &mut members);
            net.advance(Duration::from_millis(RETRY_AFTER_MS));
        }
    }
    // The tail: the source announces, receivers keep NACKing until complete.
    for _ in 0..40 {
        net.inject(
            s(),
            s(),
            4096,
            &enc(&Message::Announce {
                group: GROUP,
                highest: total - 1,
            }),
        );
        let seen = net.run::<ReliableMulticast>(lose);
        see(seen, &mut members);
        for &(at, port) in &apps {
            let missing = members.entry((at, port)).or_default().missing();
            if !missing.is_empty() {
                net.inject(at, s(), 1024, &nack(port, 0, &missing));
            }
        }
        let seen = net.run::<ReliableMulticast>(lose);
        see(seen, &mut members);
        net.advance(Duration::from_millis(RETRY_AFTER_MS));
    }
    for app in apps {
        let m = &members[&app];
        assert_eq!(
            m.got.len(),
            total as usize,
            "{app:?} misses {:?}",
            m.missing()
        );
        assert_eq!(m.duplicates, 0, "{app:?}");
    }
    let first_link_repairs = net
        .links
        .iter()
        .filter(|l| (l.0, l.1) == (s(), b()) && matches!(dec(&l.2), Message::Repair { .. }))
        .count();
    // End-to-end retransmission sends at least one repair per member and missed packet.
    assert!(missed_originals > 40, "{missed_originals}");
    assert!(
        first_link_repairs * 2 < missed_originals,
        "{first_link_repairs} repairs on the first link, {missed_originals} end to end"
    );
}
