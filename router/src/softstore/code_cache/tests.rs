//! Unit and property tests of the code cache: bounds, eviction order, pinning, spoof checks and
//! counters, checked against a simple model. Tests only; nothing here is part of the cache.

use super::*;
use proptest::prelude::*;
use std::collections::HashMap;

/// A distinct module of `len` bytes per `tag`, with its fingerprint.
fn module(tag: u8, len: usize) -> (Fingerprint, Vec<u8>) {
    let mut bytes = vec![tag; len];
    if let Some(first) = bytes.first_mut() {
        *first = tag.wrapping_add(1);
    }
    // Different lengths of the same tag differ too.
    bytes.extend_from_slice(&(len as u64).to_le_bytes());
    bytes.truncate(len);
    (Fingerprint::sha256(&bytes), bytes)
}

fn cache(max_bytes: usize, max_entries: usize) -> CodeCache<&'static str> {
    CodeCache::new(CodeCacheLimits {
        max_bytes,
        max_entries,
    })
}

#[test]
fn get_counts_hits_and_misses_and_returns_bytes() {
    let mut c = cache(1000, 10);
    let (fp, bytes) = module(1, 100);
    let (absent, _) = module(2, 100);
    assert_eq!(c.insert(fp, bytes.clone()), Ok(vec![]));
    assert_eq!(c.get(&fp).map(|e| &e.module()[..]), Some(&bytes[..]));
    assert!(c.get(&absent).is_none());
    let s = c.stats();
    assert_eq!((s.hits, s.misses, s.insertions), (1, 1, 1));
    assert_eq!((c.len(), c.total_bytes()), (1, 100));
    assert!(c.contains(&fp) && !c.contains(&absent));
}

#[test]
fn spoofed_insert_is_rejected_and_counted() {
    let mut c = cache(1000, 10);
    let (fp, _) = module(1, 100);
    let (_, other) = module(2, 100);
    assert_eq!(
        c.insert(fp, other.clone()),
        Err(CodeCacheError::Spoofed { fingerprint: fp })
    );
    assert_eq!(
        c.insert_pinned(fp, &other[..]),
        Err(CodeCacheError::Spoofed { fingerprint: fp })
    );
    assert!(c.is_empty());
    assert_eq!(c.total_bytes(), 0);
    assert_eq!(c.stats().rejected_spoofed, 2);
    assert_eq!(c.stats().insertions, 0);
}

#[test]
fn entry_larger_than_cache_is_rejected() {
    let mut c = cache(100, 10);
    let (fp, bytes) = module(1, 101);
    assert_eq!(
        c.insert(fp, bytes),
        Err(CodeCacheError::TooLarge {
            size: 101,
            max_bytes: 100
        })
    );
    assert_eq!(c.stats().rejected_too_large, 1);
    let (fp, bytes) = module(1, 100);
    assert_eq!(c.insert(fp, bytes), Ok(vec![]));
}

#[test]
fn byte_bound_evicts_least_recently_used() {
    let mut c = cache(300, 10);
    let m: Vec<_> = (0..4).map(|i| module(i, 100)).collect();
    for (fp, bytes) in &m[..3] {
        assert_eq!(c.insert(*fp, bytes.clone()), Ok(vec![]));
    }
    // Use the oldest; the second becomes the least recently used.
    assert!(c.get(&m[0].0).is_some());
    assert_eq!(c.insert(m[3].0, m[3].1.clone()), Ok(vec![m[1].0]));
    assert!(!c.contains(&m[1].0));
    assert_eq!((c.len(), c.total_bytes()), (3, 300));
    // A bigger module evicts as many as it needs, oldest first.
    let (big, big_bytes) = module(9, 250);
    assert_eq!(c.insert(big, big_bytes), Ok(vec![m[2].0, m[0].0, m[3].0]));
    assert_eq!((c.len(), c.total_bytes()), (1, 250));
    let s = c.stats();
    assert_eq!((s.evictions, s.evicted_bytes), (4, 400));
}

#[test]
fn entry_bound_evicts_least_recently_used() {
    let mut c = cache(10_000, 2);
    let m: Vec<_> = (0..3).map(|i| module(i, 10)).collect();
    c.insert(m[0].0, m[0].1.clone()).unwrap();
    c.insert(m[1].0, m[1].1.clone()).unwrap();
    assert_eq!(c.insert(m[2].0, m[2].1.clone()), Ok(vec![m[0].0]));
    assert_eq!(c.len(), 2);
}

#[test]
fn peek_and_contains_change_neither_recency_nor_counters() {
    let mut c = cache(200, 10);
    let m: Vec<_> = (0..3).map(|i| module(i, 100)).collect();
    c.insert(m[0].0, m[0].1.clone()).unwrap();
    c.insert(m[1].0, m[1].1.clone()).unwrap();
    assert!(c.peek(&m[0].0).is_some());
    assert!(c.contains(&m[0].0));
    assert_eq!(c.stats().hits + c.stats().misses, 0);
    // m[0] is still the least recently used.
    assert_eq!(c.insert(m[2].0, m[2].1.clone()), Ok(vec![m[0].0]));
}

#[test]
fn duplicate_insert_keeps_entry_and_refreshes_recency() {
    let mut c = cache(200, 10);
    let m: Vec<_> = (0..3).map(|i| module(i, 100)).collect();
    c.insert(m[0].0, m[0].1.clone()).unwrap();
    c.attach_compiled(m[0].0, "compiled", 0).unwrap();
    c.insert(m[1].0, m[1].1.clone()).unwrap();
    assert_eq!(c.insert(m[0].0, m[0].1.clone()), Ok(vec![]));
    assert_eq!(
        c.peek(&m[0].0).and_then(|e| e.compiled()),
        Some(&"compiled")
    );
    assert_eq!(c.insert(m[2].0, m[2].1.clone()), Ok(vec![m[1].0]));
    let s = c.stats();
    assert_eq!((s.insertions, s.duplicate_insertions), (3, 1));
    // A pinned duplicate pins the existing entry in place.
    assert_eq!(c.insert_pinned(m[2].0, m[2].1.clone()), Ok(vec![]));
    assert!(c.peek(&m[2].0).is_some_and(CodeEntry::is_pinned));
    assert_eq!(c.pinned_bytes(), 100);
}

#[test]
fn pinned_entries_survive_any_pressure() {
    let mut c = cache(1000, 5);
    let (own, own_bytes) = module(200, 300);
    c.insert_pinned(own, own_bytes).unwrap();
    for i in 0..100 {
        let (fp, bytes) = module(i, 50 + usize::from(i) * 3);
        let evicted = c.insert(fp, bytes).unwrap();
        assert!(!evicted.contains(&own));
        assert!(c.contains(&own));
        assert!(c.total_bytes() <= 1000 && c.len() <= 5);
    }
    assert_eq!(c.pinned_len(), 1);
    assert!(c.peek(&own).is_some_and(CodeEntry::is_pinned));
}

#[test]
fn insert_fails_when_pinned_entries_fill_the_bytes() {
    let mut c = cache(300, 10);
    let (p1, b1) = module(1, 150);
    let (p2, b2) = module(2, 100);
    let (u, ub) = module(3, 50);
    c.insert_pinned(p1, b1).unwrap();
    c.insert_pinned(p2, b2).unwrap();
    c.insert(u, ub).unwrap();
    let (big, big_bytes) = module(4, 51);
    assert_eq!(
        c.insert(big, big_bytes),
        Err(CodeCacheError::PinnedFull {
            size: 51,
            pinned_bytes: 250,
            pinned_entries: 2,
            max_bytes: 300,
            max_entries: 10
        })
    );
    // Nothing was evicted by the failed insert.
    assert!(c.contains(&u));
    assert_eq!(c.stats().rejected_pinned_full, 1);
    assert_eq!(c.stats().evictions, 0);
    // Exactly the unpinned room still works, by evicting the unpinned entry.
    let (fits, fits_bytes) = module(5, 50);
    assert_eq!(c.insert_pinned(fits, fits_bytes), Ok(vec![u]));
    assert_eq!(c.pinned_bytes(), 300);
}

#[test]
fn insert_fails_when_pinned_entries_fill_the_count() {
    let mut c = cache(10_000, 2);
    for i in 0..2 {
        let (fp, bytes) = module(i, 10);
        c.insert_pinned(fp, bytes).unwrap();
    }
    let (fp, bytes) = module(9, 10);
    assert!(matches!(
        c.insert(fp, bytes),
        Err(CodeCacheError::PinnedFull {
            pinned_entries: 2,
            ..
        })
    ));
    assert_eq!(c.len(), 2);
}

#[test]
fn pin_and_unpin() {
    let mut c = cache(200, 10);
    let m: Vec<_> = (0..3).map(|i| module(i, 100)).collect();
    assert_eq!(
        c.pin(&m[0].0),
        Err(CodeCacheError::NotCached {
            fingerprint: m[0].0
        })
    );
    assert_eq!(
        c.unpin(&m[0].0),
        Err(CodeCacheError::NotCached {
            fingerprint: m[0].0
        })
    );
    c.insert(m[0].0, m[0].1.clone()).unwrap();
    c.insert(m[1].0, m[1].1.clone()).unwrap();
    c.pin(&m[0].0).unwrap();
    c.pin(&m[0].0).unwrap();
    assert_eq!((c.pinned_len(), c.pinned_bytes()), (1, 100));
    assert_eq!(c.insert(m[2].0, m[2].1.clone()), Ok(vec![m[1].0]));
    // Unpinned, it becomes the most recently used, so m[2] goes first.
    c.unpin(&m[0].0).unwrap();
    c.unpin(&m[0].0).unwrap();
    assert_eq!((c.pinned_len(), c.pinned_bytes()), (0, 0));
    assert_eq!(c.insert(m[1].0, m[1].1.clone()), Ok(vec![m[2].0]));
    assert!(!c.peek(&m[0].0).is_some_and(CodeEntry::is_pinned));
}

#[test]
fn attached_compiled_form_is_charged_and_can_evict() {
    let mut c = cache(1000, 10);
    let m: Vec<_> = (0..3).map(|i| module(i, 100)).collect();
    for (fp, bytes) in &m {
        c.insert(*fp, bytes.clone()).unwrap();
    }
    assert_eq!(
        c.attach_compiled(m[0].0, "a", 300),
        Ok(vec![]),
        "fits as is"
    );
    assert_eq!(c.total_bytes(), 600);
    // Growing m[1] to 600 needs 100 more bytes: evicts m[2], the least recently used,
    // and never m[1] itself although it is older than m[0].
    assert_eq!(c.attach_compiled(m[1].0, "b", 500), Ok(vec![m[2].0]));
    assert_eq!(c.total_bytes(), 1000);
    assert_eq!(c.attach_compiled(m[1].0, "b2", 800), Ok(vec![m[0].0]));
    let e = c.peek(&m[1].0).unwrap();
    assert_eq!(
        (e.compiled(), e.compiled_bytes(), e.charge()),
        (Some(&"b2"), 800, 900)
    );
    assert_eq!((c.len(), c.total_bytes()), (1, 900));
    assert_eq!(
        c.attach_compiled(m[1].0, "c", 901),
        Err(CodeCacheError::TooLarge {
            size: 1001,
            max_bytes: 1000
        })
    );
    assert_eq!(
        c.attach_compiled(m[0].0, "d", 1),
        Err(CodeCacheError::NotCached {
            fingerprint: m[0].0
        })
    );
    assert_eq!(c.stats().compiled_attached, 3);
    assert_eq!(c.peek(&m[1].0).and_then(CodeEntry::compiled), Some(&"b2"));
}

#[test]
fn attaching_to_pinned_entries_respects_the_pinned_bound() {
    let mut c = cache(1000, 10);
    let (p1, b1) = module(1, 100);
    let (p2, b2) = module(2, 100);
    let (u, ub) = module(3, 100);
    c.insert_pinned(p1, b1).unwrap();
    c.insert_pinned(p2, b2).unwrap();
    c.insert(u, ub).unwrap();
    assert_eq!(c.attach_compiled(p1, "x", 700), Ok(vec![]), "exactly full");
    assert_eq!(c.attach_compiled(p1, "x", 701), Ok(vec![u]));
    assert_eq!((c.pinned_bytes(), c.total_bytes()), (901, 901));
    assert!(matches!(
        c.attach_compiled(p2, "y", 100),
        Err(CodeCacheError::PinnedFull {
            size: 200,
            pinned_bytes: 801,
            ..
        })
    ));
    assert_eq!(c.peek(&p2).map(CodeEntry::charge), Some(100));
    // Shrinking a pinned compiled form frees room.
    assert_eq!(c.attach_compiled(p1, "x2", 0), Ok(vec![]));
    assert_eq!((c.pinned_bytes(), c.total_bytes()), (200, 200));
}

#[test]
fn remove_updates_totals() {
    let mut c = cache(1000, 10);
    let (p, pb) = module(1, 100);
    let (u, ub) = module(2, 200);
    c.insert_pinned(p, pb).unwrap();
    c.insert(u, ub).unwrap();
    c.attach_compiled(u, "u", 50).unwrap();
    assert_eq!(c.remove(&u).map(|e| e.charge()), Some(250));
    assert!(c.remove(&u).is_none());
    assert_eq!(c.remove(&p).map(|e| e.is_pinned()), Some(true));
    assert_eq!((c.len(), c.total_bytes(), c.pinned_bytes()), (0, 0, 0));
    assert_eq!(c.stats().removals, 2);
}

#[test]
fn zero_limits_refuse_everything_without_panicking() {
    let mut c = cache(0, 0);
    let (fp, bytes) = module(1, 0);
    assert!(matches!(
        c.insert(fp, bytes),
        Err(CodeCacheError::PinnedFull { .. })
    ));
    assert!(c.is_empty());
}

/// One step of the model-checked random sequence.
#[derive(Clone, Debug)]
enum Op {
    Insert(usize),
    InsertPinned(usize),
    Spoof(usize, usize),
    Get(usize),
    Peek(usize),
    Pin(usize),
    Unpin(usize),
    Attach(usize, usize),
    Remove(usize),
}

const POOL: usize = 12;

fn op() -> impl Strategy<Value = Op> {
    let i = 0..POOL;
    prop_oneof![
        4 => i.clone().prop_map(Op::Insert),
        1 => i.clone().prop_map(Op::InsertPinned),
        1 => (i.clone(), 1..POOL).prop_map(|(a, b)| Op::Spoof(a, (a + b) % POOL)),
        3 => i.clone().prop_map(Op::Get),
        1 => i.clone().prop_map(Op::Peek),
        1 => i.clone().prop_map(Op::Pin),
        1 => i.clone().prop_map(Op::Unpin),
        2 => (i.clone(), 0..400usize).prop_map(|(a, b)| Op::Attach(a, b)),
        1 => i.prop_map(Op::Remove),
    ]
}

/// Reference model: entry -> (charge, pinned, last use). Eviction picks the unpinned entry
/// with the oldest use.
#[derive(Default)]
struct Model {
    entries: HashMap<usize, (usize, usize, bool, u64)>,
    tick: u64,
}

impl Model {
    fn total(&self) -> usize {
        self.entries.values().map(|e| e.0 + e.1).sum()
    }
    fn pinned(&self) -> (usize, usize) {
        let p = self.entries.values().filter(|e| e.2);
        (p.clone().count(), p.map(|e| e.0 + e.1).sum())
    }
    fn touch(&mut self, i: usize) {
        self.tick += 1;
        let t = self.tick;
        if let Some(e) = self.entries.get_mut(&i).filter(|e| !e.2) {
            e.3 = t;
        }
    }
    /// Evicts until `extra` bytes and entries fit, returning the evicted indices.
    fn make_room(&mut self, limits: CodeCacheLimits, bytes: usize, n: usize) -> Vec<usize> {
        let mut out = Vec::new();
        while self.total() + bytes > limits.max_bytes || self.entries.len() + n > limits.max_entries
        {
            let victim = self
                .entries
                .iter()
                .filter(|(_, e)| !e.2)
                .min_by_key(|(_, e)| e.3)
                .map(|(i, _)| *i)
                .expect("the model only evicts when an unpinned entry can make room");
            self.entries.remove(&victim);
            out.push(victim);
        }
        out
    }
}

/// A result as model indices (evictions) or an error name.
fn outcome(
    r: Result<Vec<Fingerprint>, CodeCacheError>,
    index: &HashMap<Fingerprint, usize>,
) -> Result<Vec<usize>, &'static str> {
    match r {
        Ok(evicted) => Ok(evicted.iter().map(|fp| index[fp]).collect()),
        Err(CodeCacheError::Spoofed { .. }) => Err("spoofed"),
        Err(CodeCacheError::TooLarge { .. }) => Err("too large"),
        Err(CodeCacheError::PinnedFull { .. }) => Err("pinned full"),
        Err(CodeCacheError::NotCached { .. }) => Err("not cached"),
    }
}

fn check_random_operations(
    max_bytes: usize,
    max_entries: usize,
    sizes: Vec<usize>,
    ops: Vec<Op>,
) -> Result<(), TestCaseError> {
    let limits = CodeCacheLimits {
        max_bytes,
        max_entries,
    };
    let mods: Vec<_> = sizes
        .iter()
        .enumerate()
        .map(|(i, &n)| module(i as u8, n))
        .collect();
    let fp_index: HashMap<Fingerprint, usize> = mods
        .iter()
        .enumerate()
        .map(|(i, (fp, _))| (*fp, i))
        .collect();
    let mut c: CodeCache<usize> = CodeCache::new(limits);
    let mut m = Model::default();
    let mut gets = 0u64;

    for op in ops {
        match op {
            Op::Insert(i) | Op::InsertPinned(i) => {
                let pin = matches!(op, Op::InsertPinned(_));
                let (fp, bytes) = &mods[i];
                let got = if pin {
                    c.insert_pinned(*fp, bytes.clone())
                } else {
                    c.insert(*fp, bytes.clone())
                };
                let size = bytes.len();
                let (pinned_n, pinned_b) = m.pinned();
                let want = if m.entries.contains_key(&i) {
                    if pin {
                        if let Some(e) = m.entries.get_mut(&i) {
                            e.2 = true;
                        }
                    } else {
                        m.touch(i);
                    }
                    Ok(vec![])
                } else if size > max_bytes {
                    Err("too large")
                } else if pinned_b + size > max_bytes || pinned_n >= max_entries {
                    Err("pinned full")
                } else {
                    let ev = m.make_room(limits, size, 1);
                    m.tick += 1;
                    m.entries.insert(i, (size, 0, pin, m.tick));
                    Ok(ev)
                };
                prop_assert_eq!(outcome(got, &fp_index), want);
            }
            Op::Spoof(i, j) => {
                let before = c.stats().rejected_spoofed;
                prop_assert_eq!(
                    c.insert(mods[i].0, mods[j].1.clone()),
                    Err(CodeCacheError::Spoofed {
                        fingerprint: mods[i].0
                    })
                );
                prop_assert_eq!(c.stats().rejected_spoofed, before + 1);
            }
            Op::Get(i) => {
                gets += 1;
                let found = c.get(&mods[i].0).map(|e| e.module().to_vec());
                prop_assert_eq!(found.is_some(), m.entries.contains_key(&i));
                if let Some(found) = found {
                    prop_assert_eq!(&found, &mods[i].1);
                }
                m.touch(i);
            }
            Op::Peek(i) => {
                prop_assert_eq!(c.peek(&mods[i].0).is_some(), m.entries.contains_key(&i));
            }
            Op::Pin(i) => {
                prop_assert_eq!(c.pin(&mods[i].0).is_ok(), m.entries.contains_key(&i));
                if let Some(e) = m.entries.get_mut(&i) {
                    e.2 = true;
                }
            }
            Op::Unpin(i) => {
                prop_assert_eq!(c.unpin(&mods[i].0).is_ok(), m.entries.contains_key(&i));
                m.tick += 1;
                let t = m.tick;
                if let Some(e) = m.entries.get_mut(&i).filter(|e| e.2) {
                    e.2 = false;
                    e.3 = t;
                }
            }
            Op::Attach(i, extra) => {
                let got = c.attach_compiled(mods[i].0, i, extra);
                let want = match m.entries.get(&i).copied() {
                    None => Err("not cached"),
                    Some((size, _, _, _)) if size + extra > max_bytes => Err("too large"),
                    Some((size, old, pinned, _)) => {
                        let (pn, pb) = m.pinned();
                        let (pn, pb) = if pinned {
                            (pn - 1, pb - size - old)
                        } else {
                            (pn, pb)
                        };
                        if pb + size + extra > max_bytes || pn >= max_entries {
                            Err("pinned full")
                        } else {
                            let e = m.entries.remove(&i).expect("checked above");
                            let ev = m.make_room(limits, size + extra, 1);
                            m.tick += 1;
                            m.entries.insert(
                                i,
                                (size, extra, pinned, if pinned { e.3 } else { m.tick }),
                            );
                            Ok(ev)
                        }
                    }
                };
                prop_assert_eq!(outcome(got, &fp_index), want);
            }
            Op::Remove(i) => {
                prop_assert_eq!(
                    c.remove(&mods[i].0).is_some(),
                    m.entries.remove(&i).is_some()
                );
            }
        }

        // Invariants after every step.
        prop_assert!(c.total_bytes() <= max_bytes);
        prop_assert!(c.len() <= max_entries);
        prop_assert_eq!(c.len(), m.entries.len());
        prop_assert_eq!(c.total_bytes(), m.total());
        prop_assert_eq!((c.pinned_len(), c.pinned_bytes()), m.pinned());
        for (i, e) in &m.entries {
            let entry = c.peek(&mods[*i].0);
            prop_assert!(entry.is_some(), "model entry {} missing", i);
            prop_assert_eq!(entry.map(CodeEntry::is_pinned), Some(e.2));
            prop_assert_eq!(entry.map(CodeEntry::charge), Some(e.0 + e.1));
        }
        let s = c.stats();
        prop_assert_eq!(s.insertions - s.evictions - s.removals, c.len() as u64);
        prop_assert_eq!(s.hits + s.misses, gets);
    }
    Ok(())
}

proptest! {
    #[test]
    fn random_operations_match_the_model_and_keep_invariants(
        max_bytes in 0usize..1500,
        max_entries in 0usize..8,
        // Non-empty, so every module (and fingerprint) in the pool is distinct.
        sizes in proptest::collection::vec(1usize..300, POOL),
        ops in proptest::collection::vec(op(), 1..120),
    ) {
        check_random_operations(max_bytes, max_entries, sizes, ops)?;
    }
}
