//! Unit and property tests of the state store: quotas, expiry in virtual time, fair-share eviction
//! and its counters, checked against a simple model. Tests only; nothing here is part of the store.

use super::*;
use proptest::prelude::*;

const O: usize = ENTRY_OVERHEAD;
const TTL: Duration = Duration::from_secs(60);

fn proto(i: u8) -> Fingerprint {
    Fingerprint::sha256(&[i])
}

fn t(millis: u64) -> Timestamp {
    Timestamp::from_millis(millis)
}

fn store(per_protocol_bytes: usize, total_bytes: usize) -> StateStore {
    StateStore::new(StateLimits {
        per_protocol_bytes,
        total_bytes,
        ..StateLimits::default()
    })
}

/// Puts 1-byte keys `0..n` with 10-byte values into `p`, one millisecond apart.
fn fill(s: &mut StateStore, p: &Fingerprint, keys: std::ops::Range<u8>, start: u64) {
    for k in keys {
        s.put(p, &[k], &[k; 10], t(start + u64::from(k)), TTL)
            .unwrap();
    }
}

/// Charge of a 1-byte key with a 10-byte value.
const C: usize = 1 + 10 + O;

fn keys_present(
    s: &mut StateStore,
    p: &Fingerprint,
    keys: std::ops::Range<u8>,
    now: Timestamp,
) -> Vec<u8> {
    keys.filter(|k| s.get(p, &[*k], now).is_some()).collect()
}

#[test]
fn put_get_and_replace_recounts_bytes() {
    let mut s = StateStore::default();
    let a = proto(1);
    s.put(&a, b"k", b"v1", t(0), TTL).unwrap();
    assert_eq!(s.get(&a, b"k", t(1)), Some(&b"v1"[..]));
    assert_eq!(s.protocol_usage(&a), (1, 1 + 2 + O));
    s.put(&a, b"k", b"value2", t(2), TTL).unwrap();
    assert_eq!(s.get(&a, b"k", t(3)), Some(&b"value2"[..]));
    assert_eq!(s.protocol_usage(&a), (1, 1 + 6 + O));
    assert_eq!((s.len(), s.total_bytes()), (1, 1 + 6 + O));
    assert_eq!(s.get(&a, b"other", t(3)), None);
    let st = s.stats();
    assert_eq!((st.puts, st.inserts, st.replacements), (2, 1, 1));
    assert_eq!((st.gets, st.hits, st.misses), (3, 2, 1));
}

#[test]
fn oversized_keys_values_and_zero_ttl_are_refused() {
    let mut s = StateStore::new(StateLimits {
        max_key_len: 4,
        max_value_len: 8,
        ..StateLimits::default()
    });
    let a = proto(1);
    assert_eq!(
        s.put(&a, b"12345", b"", t(0), TTL),
        Err(StateError::KeyTooLong { len: 5, max: 4 })
    );
    assert_eq!(
        s.put(&a, b"k", &[0; 9], t(0), TTL),
        Err(StateError::ValueTooLong { len: 9, max: 8 })
    );
    assert_eq!(
        s.put(&a, b"k", b"v", t(0), Duration::ZERO),
        Err(StateError::ZeroTtl)
    );
    // Exactly at the limits is fine.
    s.put(&a, b"1234", &[0; 8], t(0), TTL).unwrap();
    let st = s.stats();
    assert_eq!((st.too_large_rejections, st.zero_ttl_rejections), (2, 1));
    assert_eq!(s.len(), 1);

    let mut never = StateStore::new(StateLimits {
        max_ttl: Duration::ZERO,
        ..StateLimits::default()
    });
    assert_eq!(
        never.put(&a, b"k", b"v", t(0), TTL),
        Err(StateError::ZeroTtl)
    );
}

#[test]
fn expiry_follows_virtual_time_and_is_removed_lazily() {
    let mut s = StateStore::default();
    let a = proto(1);
    s.put(&a, b"short", b"x", t(0), Duration::from_secs(10))
        .unwrap();
    s.put(&a, b"long", b"y", t(0), Duration::from_secs(20))
        .unwrap();
    assert_eq!(s.next_expiry(), Some(t(10_000)));
    assert_eq!(s.get(&a, b"short", t(9_999)), Some(&b"x"[..]));
    // Expired, but still held until someone looks.
    assert_eq!(s.len(), 2);
    assert_eq!(s.get(&a, b"short", t(10_000)), None);
    assert_eq!(s.len(), 1);
    assert_eq!(s.stats().expirations, 1);
    assert_eq!(s.next_expiry(), Some(t(20_000)));
    // Removing an expired entry reports nothing live.
    s.put(&a, b"gone", b"z", t(0), Duration::from_secs(1))
        .unwrap();
    assert!(!s.remove(&a, b"gone", t(1_000)));
    assert_eq!(s.purge_expired(t(19_999)), 0);
    assert_eq!(s.purge_expired(t(20_000)), 1);
    assert!(s.is_empty());
    assert_eq!(s.partition_count(), 0);
    assert_eq!(s.next_expiry(), None);
    assert_eq!(s.stats().expirations, 3);
}

#[test]
fn ttl_is_clamped_to_max_ttl() {
    let mut s = StateStore::default();
    let a = proto(1);
    let hour = 3_600_000;
    s.put(&a, b"k", b"v", t(5), Duration::from_secs(10 * 3600))
        .unwrap();
    assert_eq!(s.next_expiry(), Some(t(5 + hour)));
    assert!(s.get(&a, b"k", t(4 + hour)).is_some());
    assert!(s.get(&a, b"k", t(5 + hour)).is_none());
    // Saturating: a put near the end of time never wraps around.
    s.put(&a, b"k", b"v", Timestamp::MAX, TTL).unwrap();
    assert_eq!(s.next_expiry(), Some(Timestamp::MAX));
}

#[test]
fn quota_stops_one_protocol_without_touching_another() {
    let mut s = store(3 * C, 100 * C);
    let (a, b) = (proto(1), proto(2));
    fill(&mut s, &b, 0..2, 0);
    fill(&mut s, &a, 0..3, 0);
    assert_eq!(
        s.put(&a, &[9], &[9; 10], t(10), TTL),
        Err(StateError::QuotaExceeded {
            needed: C,
            used: 3 * C,
            quota: 3 * C
        })
    );
    // Replacing within the quota is fine (recounted, not added).
    s.put(&a, &[1], &[7; 10], t(11), TTL).unwrap();
    // The other protocol is untouched and can still use its own quota.
    assert_eq!(keys_present(&mut s, &b, 0..2, t(12)), vec![0, 1]);
    s.put(&b, &[2], &[2; 10], t(13), TTL).unwrap();
    let st = s.stats();
    assert_eq!((st.quota_rejections, st.evictions), (1, 0));
    // Once the protocol's oldest entries expire, the quota frees up. Keys 0 and 2 of `a`
    // and 0 and 1 of `b` have expired by then (purging is store-wide).
    let later = TTL.as_millis() as u64 + 5;
    s.put(&a, &[9], &[9; 10], t(later), TTL).unwrap();
    assert_eq!(s.protocol_usage(&a), (2, 2 * C));
    assert_eq!(s.protocol_usage(&b), (1, C));
    assert_eq!(s.stats().expirations, 4);
}

#[test]
fn refused_put_keeps_the_old_value() {
    let mut s = StateStore::new(StateLimits {
        per_protocol_bytes: 2 * C,
        ..StateLimits::default()
    });
    let a = proto(1);
    fill(&mut s, &a, 0..2, 0);
    assert!(matches!(
        s.put(&a, &[0], &[5; 11], t(5), TTL),
        Err(StateError::QuotaExceeded { needed, used, .. }) if needed == C + 1 && used == C
    ));
    assert_eq!(s.get(&a, &[0], t(6)), Some(&[0; 10][..]));
    assert_eq!(s.protocol_usage(&a), (2, 2 * C));
}

#[test]
fn same_key_in_two_protocols_is_independent() {
    let mut s = StateStore::default();
    let (a, b) = (proto(1), proto(2));
    s.put(&a, b"group", b"a-members", t(0), TTL).unwrap();
    s.put(&b, b"group", b"b-members", t(0), TTL).unwrap();
    assert_eq!(s.get(&a, b"group", t(1)), Some(&b"a-members"[..]));
    assert_eq!(s.get(&b, b"group", t(1)), Some(&b"b-members"[..]));
    assert!(s.remove(&a, b"group", t(2)));
    assert!(!s.remove(&a, b"group", t(2)));
    assert_eq!(s.get(&a, b"group", t(3)), None);
    assert_eq!(s.get(&b, b"group", t(3)), Some(&b"b-members"[..]));
    assert_eq!(s.protocol_usage(&a), (0, 0));
    assert_eq!(s.stats().removes, 1);
}

#[test]
fn under_global_pressure_the_hog_loses_its_oldest_and_the_modest_keeps_all() {
    // Room for ten entries; each protocol may use all of it.
    let mut s = store(10 * C, 10 * C);
    let (modest, hog) = (proto(1), proto(2));
    fill(&mut s, &modest, 0..2, 0);
    fill(&mut s, &hog, 0..8, 10);
    assert_eq!(s.total_bytes(), 10 * C);
    // Using key 0 makes key 1 the hog's least recently used.
    assert!(s.get(&hog, &[0], t(20)).is_some());
    s.put(&hog, &[8], &[8; 10], t(21), TTL).unwrap();
    assert_eq!(
        keys_present(&mut s, &hog, 0..9, t(22)),
        vec![0, 2, 3, 4, 5, 6, 7, 8]
    );
    // The modest protocol grows to its fair share (half) at the hog's expense.
    fill(&mut s, &modest, 2..5, 30);
    assert_eq!(
        keys_present(&mut s, &modest, 0..5, t(40)),
        vec![0, 1, 2, 3, 4]
    );
    assert_eq!(s.protocol_usage(&hog), (5, 5 * C));
    assert_eq!(s.protocol_usage(&modest), (5, 5 * C));
    assert_eq!(s.stats().evictions, 4);
    // At its share, the hog can only displace its own entries.
    s.put(&hog, &[20], &[0; 10], t(41), TTL).unwrap();
    assert_eq!(s.protocol_usage(&modest), (5, 5 * C));
    assert_eq!(s.protocol_usage(&hog), (5, 5 * C));
    assert!(s.total_bytes() <= 10 * C);
}

#[test]
fn eviction_takes_from_the_most_over_share_first() {
    let mut s = store(10 * C, 10 * C);
    let (a, b, c) = (proto(1), proto(2), proto(3));
    fill(&mut s, &a, 0..6, 0);
    fill(&mut s, &b, 0..3, 10);
    // Fills the last slot without evicting.
    s.put(&c, &[0], &[0; 10], t(20), TTL).unwrap();
    // Share is 10C/3: each of these takes from `a`, the biggest, never from `b`.
    s.put(&c, &[1], &[1; 10], t(21), TTL).unwrap();
    s.put(&c, &[2], &[2; 10], t(22), TTL).unwrap();
    assert_eq!(s.protocol_usage(&a), (4, 4 * C));
    assert_eq!(keys_present(&mut s, &a, 0..6, t(23)), vec![2, 3, 4, 5]);
    // Now `c` would be at 4C, tied with `a`: the putting protocol gives up its own oldest.
    s.put(&c, &[3], &[3; 10], t(24), TTL).unwrap();
    assert_eq!(keys_present(&mut s, &c, 0..4, t(25)), vec![1, 2, 3]);
    assert_eq!(s.protocol_usage(&a), (4, 4 * C));
    assert_eq!(s.protocol_usage(&b), (3, 3 * C));
}

#[test]
fn store_full_when_nobody_is_over_share_and_nothing_is_evicted() {
    let limits = StateLimits {
        max_value_len: 1000,
        per_protocol_bytes: 1000,
        total_bytes: 1000,
        ..StateLimits::default()
    };
    let mut s = StateStore::new(limits);
    let (a, p) = (proto(1), proto(2));
    s.put(&a, b"k", &[0; 450 - 1 - O], t(0), TTL).unwrap();
    // 600 bytes would fit under the quota, but `a` (450) is under its share (500).
    assert_eq!(
        s.put(&p, b"k", &[0; 600 - 1 - O], t(1), TTL),
        Err(StateError::StoreFull)
    );
    assert_eq!(s.protocol_usage(&a), (1, 450));
    assert_eq!(s.partition_count(), 1);
    let st = s.stats();
    assert_eq!((st.full_rejections, st.evictions), (1, 0));
    // Expired entries are dropped before anyone is refused.
    s.put(&p, b"k", &[0; 600 - 1 - O], t(TTL.as_millis() as u64), TTL)
        .unwrap();
    assert_eq!(s.protocol_usage(&a), (0, 0));
}

#[test]
fn empty_partitions_are_removed() {
    let mut s = StateStore::default();
    for i in 0..50 {
        s.put(
            &proto(i),
            b"k",
            b"v",
            t(0),
            Duration::from_secs(u64::from(i) + 1),
        )
        .unwrap();
    }
    assert_eq!(s.partition_count(), 50);
    for i in 0..10 {
        assert!(s.remove(&proto(i), b"k", t(0)));
    }
    assert_eq!(s.partition_count(), 40);
    assert_eq!(s.drop_protocol(&proto(10)), (1, 1 + 1 + O));
    assert_eq!(s.drop_protocol(&proto(10)), (0, 0));
    assert_eq!(s.partition_count(), 39);
    assert_eq!(s.purge_expired(t(30_000)), 19);
    assert_eq!(s.partition_count(), 20);
    assert_eq!(s.get(&proto(40), b"k", t(60_000)), None);
    assert_eq!(s.purge_expired(t(60_000)), 19);
    assert_eq!((s.partition_count(), s.len(), s.total_bytes()), (0, 0, 0));
    assert!(s.by_usage.is_empty() && s.expiry.is_empty());
    assert_eq!(s.stats().dropped, 1);
}

#[test]
fn flood_of_empty_entries_is_bounded_by_the_overhead() {
    let mut s = store(16 * O, 64 * O);
    let mut stored = 0;
    for i in 0..1000u16 {
        if s.put(&proto((i % 8) as u8), &i.to_le_bytes(), b"", t(0), TTL)
            .is_ok()
        {
            stored += 1;
        }
    }
    // 2-byte keys and empty values still cost 2 + O each.
    let fit = 64 * O / (2 + O);
    assert_eq!(s.len(), fit);
    assert!(stored >= fit);
    assert_eq!(s.total_bytes(), fit * (2 + O));
    for i in 0..8 {
        assert!(s.protocol_usage(&proto(i)).1 <= 16 * O);
    }
}

#[derive(Clone, Debug)]
enum Op {
    Put {
        p: u8,
        k: u8,
        len: usize,
        seed: u8,
        ttl: u64,
    },
    Get {
        p: u8,
        k: u8,
    },
    Remove {
        p: u8,
        k: u8,
    },
    Advance(u64),
    Purge,
    Drop(u8),
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        6 => (0..4u8, 0..8u8, 0..80usize, any::<u8>(), 0..1500u64)
            .prop_map(|(p, k, len, seed, ttl)| Op::Put { p, k, len, seed, ttl }),
        3 => (0..4u8, 0..8u8).prop_map(|(p, k)| Op::Get { p, k }),
        1 => (0..4u8, 0..8u8).prop_map(|(p, k)| Op::Remove { p, k }),
        2 => (0..400u64).prop_map(Op::Advance),
        1 => Just(Op::Purge),
        1 => (0..4u8).prop_map(Op::Drop),
    ]
}

type Live = HashMap<(Fingerprint, Vec<u8>), Vec<u8>>;

/// Every unexpired entry the store holds, read without touching recency or counters.
fn live(s: &StateStore, now: Timestamp) -> Live {
    let mut out = HashMap::new();
    for (p, part) in &s.partitions {
        for (k, e) in part.entries.iter() {
            if !e.is_expired(now) {
                out.insert((*p, k.to_vec()), e.value.to_vec());
            }
        }
    }
    out
}

fn usage(l: &Live, p: &Fingerprint) -> usize {
    l.iter()
        .filter(|((q, _), _)| q == p)
        .map(|((_, k), v)| charge(k.len(), v.len()))
        .sum()
}

fn check_random_operations(
    per_protocol: usize,
    total: usize,
    ops: Vec<Op>,
) -> Result<(), TestCaseError> {
    let limits = StateLimits {
        max_key_len: 8,
        max_value_len: 64,
        per_protocol_bytes: per_protocol,
        total_bytes: total,
        max_ttl: Duration::from_millis(1000),
    };
    let mut s = StateStore::new(limits);
    // The last successfully put value and expiry of every key.
    let mut model: HashMap<(Fingerprint, Vec<u8>), (Vec<u8>, Timestamp)> = HashMap::new();
    let mut now = t(0);
    let mut gets = 0u64;

    for op in ops {
        let before = live(&s, now);
        let stats_before = s.stats();
        let mut putter = None;
        match op {
            Op::Put {
                p,
                k,
                len,
                seed,
                ttl,
            } => {
                let (p, key, value) = (proto(p), vec![k; 1 + usize::from(k)], vec![seed; len]);
                let ttl = Duration::from_millis(ttl);
                let needed = charge(key.len(), value.len());
                let replaced = before
                    .get(&(p, key.clone()))
                    .map_or(0, |v| charge(key.len(), v.len()));
                let r = s.put(&p, &key, &value, now, ttl);
                match r {
                    Ok(()) => {
                        let ttl = ttl.min(limits.max_ttl);
                        model.insert((p, key.clone()), (value, now + ttl));
                        putter = Some((p, usage(&before, &p) - replaced + needed));
                    }
                    Err(StateError::ValueTooLong { .. }) => prop_assert!(len > 64),
                    Err(StateError::ZeroTtl) => prop_assert!(ttl.is_zero()),
                    Err(StateError::QuotaExceeded {
                        needed: n,
                        used,
                        quota,
                    }) => {
                        prop_assert_eq!(
                            (n, used, quota),
                            (needed, usage(&before, &p) - replaced, per_protocol)
                        );
                        prop_assert!(used + needed > per_protocol);
                    }
                    Err(StateError::StoreFull) => {}
                    Err(e) => prop_assert!(false, "unexpected {:?}", e),
                }
                if matches!(r, Ok(()) | Err(StateError::StoreFull)) {
                    // The quota check is exact on live usage.
                    prop_assert!(usage(&before, &p) - replaced + needed <= per_protocol);
                }
            }
            Op::Get { p, k } => {
                gets += 1;
                let key = vec![k; 1 + usize::from(k)];
                let got = s.get(&proto(p), &key, now).map(<[u8]>::to_vec);
                prop_assert_eq!(got, before.get(&(proto(p), key)).cloned());
            }
            Op::Remove { p, k } => {
                let key = vec![k; 1 + usize::from(k)];
                let had = before.contains_key(&(proto(p), key.clone()));
                prop_assert_eq!(s.remove(&proto(p), &key, now), had);
                model.remove(&(proto(p), key));
            }
            Op::Advance(ms) => now = now + Duration::from_millis(ms),
            Op::Purge => {
                let held = s.len();
                let purged = s.purge_expired(now);
                prop_assert_eq!(held - purged, before.len());
                prop_assert!(s.next_expiry().is_none_or(|e| e > now));
            }
            Op::Drop(p) => {
                let p = proto(p);
                s.drop_protocol(&p);
                model.retain(|(q, _), _| *q != p);
            }
        }

        // What is visible is exactly what the model says, minus what was evicted.
        let after = live(&s, now);
        let evicted = (s.stats().evictions - stats_before.evictions) as usize;
        let mut missing = 0;
        for ((p, k), (v, exp)) in &model {
            if *exp <= now {
                continue;
            }
            match after.get(&(*p, k.clone())) {
                Some(got) => prop_assert_eq!(got, v),
                None => missing += 1,
            }
        }
        for (key, v) in &after {
            prop_assert_eq!(model.get(key).map(|(mv, _)| mv), Some(v));
        }
        prop_assert_eq!(missing, evicted);
        // Evictions only ever hit protocols above the fair share.
        if evicted > 0 {
            let (p, projected) = putter.expect("only a successful put evicts");
            let mut holders: std::collections::HashSet<_> =
                before.keys().map(|(q, _)| *q).collect();
            holders.insert(p);
            let share = total / holders.len();
            for q in &holders {
                // Only evictions remove entries during a put (time stands still).
                let lost = before
                    .keys()
                    .any(|(r, k)| r == q && !after.contains_key(&(*r, k.clone())));
                if lost {
                    let u = if *q == p {
                        projected
                    } else {
                        usage(&before, q)
                    };
                    prop_assert!(
                        u > share,
                        "evicted from a protocol at {} <= share {}",
                        u,
                        share
                    );
                }
            }
        }
        for (key, _) in model.clone() {
            if !after.contains_key(&key) {
                model.remove(&key);
            }
        }

        // Bounds and bookkeeping.
        prop_assert!(s.total_bytes() <= total);
        let mut sum_bytes = 0;
        let mut sum_entries = 0;
        for i in 0..4 {
            let (e, b) = s.protocol_usage(&proto(i));
            prop_assert!(b <= per_protocol);
            prop_assert_eq!(e == 0, b == 0);
            sum_entries += e;
            sum_bytes += b;
        }
        prop_assert_eq!((sum_entries, sum_bytes), (s.len(), s.total_bytes()));
        prop_assert_eq!(s.expiry.len(), s.len());
        prop_assert_eq!(s.by_usage.len(), s.partition_count());
        prop_assert!(s.partitions.values().all(|p| !p.entries.is_empty()));
        let st = s.stats();
        prop_assert_eq!(st.gets, gets);
        prop_assert_eq!(st.hits + st.misses, st.gets);
        prop_assert_eq!(
            st.puts,
            st.inserts
                + st.replacements
                + st.too_large_rejections
                + st.zero_ttl_rejections
                + st.quota_rejections
                + st.full_rejections
        );
        prop_assert_eq!(
            st.inserts - st.removes - st.expirations - st.evictions - st.dropped,
            s.len() as u64
        );
    }
    Ok(())
}

proptest! {
    #[test]
    fn random_operations_keep_invariants(
        per_protocol in 200usize..900,
        total in 300usize..2000,
        ops in proptest::collection::vec(op(), 1..150),
    ) {
        check_random_operations(per_protocol, total, ops)?;
    }
}
