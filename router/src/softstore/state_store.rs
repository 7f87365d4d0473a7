//! Per-protocol state: byte-string keys and values with expiry, partitioned by protocol.
//!
//! Owns the soft state capsule code keeps at a node between capsules (multicast group members,
//! reverse paths, congestion marks). Each protocol, named by its code's [`Fingerprint`], has its
//! own partition: every call takes the protocol first and only ever sees that partition, and
//! nothing here enumerates or reads across partitions except the aggregate counters. It never
//! reads a clock (callers pass `now`), never lets one protocol's use push out another
//! protocol's state except by the fair-share rule below, and never grows past its limits.
//!
//! # Semantics
//!
//! *Charge.* Each entry costs `key.len() + value.len() + ENTRY_OVERHEAD` bytes against both its
//! protocol's quota and the store total. The overhead approximates the bookkeeping memory of an
//! entry, so a flood of empty entries is bounded like any other.
//!
//! *Expiry.* [`StateStore::put`] stores a value until `now + min(ttl, max_ttl)`; an entry is
//! expired when `now >= expiry`. A zero ttl (after clamping) is refused with
//! [`StateError::ZeroTtl`]: a value that is never visible is almost certainly a bug in the
//! capsule, and [`StateStore::remove`] exists for deletion. Expired entries are invisible to
//! [`StateStore::get`] at once and are removed lazily: by `get` and `remove` when they meet
//! one, by [`StateStore::purge_expired`], and by a put under pressure (below). Until removed they
//! still count in [`StateStore::protocol_usage`] and the totals. An expiry index keeps
//! `purge_expired` proportional to the number of entries it removes (`O(k log n)`), so purging
//! is cheap and [`StateStore::next_expiry`] tells a driver when to call it.
//!
//! *Put*, in order:
//! 1. A key longer than `max_key_len` or a value longer than `max_value_len` is refused with
//!    [`StateError::KeyTooLong`] / [`StateError::ValueTooLong`]; a zero ttl with
//!    [`StateError::ZeroTtl`].
//! 2. Putting an existing key replaces its value and expiry; the checks below see the protocol
//!    without the old entry, so bytes are recounted, not added.
//! 3. Quota: if the protocol's usage plus the charge exceeds `per_protocol_bytes`, expired
//!    entries are purged (store-wide; they are invisible already), and if it still exceeds it the
//!    put fails with [`StateError::QuotaExceeded`]. A protocol over its quota never evicts
//!    anything, its own entries or another protocol's.
//! 4. Total: if the store total plus the charge exceeds `total_bytes`, expired entries are
//!    purged; if still over, entries are evicted from the protocols above their fair share,
//!    `share = total_bytes / n` where `n` counts the partitions holding data *including the
//!    putting protocol*, computed once when the put starts. The putting protocol's usage counts
//!    its new entry (which is never itself evicted). Each step evicts the
//!    least recently used entry (put and a successful get both count as use) of the protocol
//!    with the highest usage, the putting protocol first on a tie; a protocol at or under its
//!    share is never touched, and stops being a candidate once an eviction brings it there. If
//!    these evictions cannot make room the put fails with [`StateError::StoreFull`].
//!    Feasibility is decided before anything is evicted, so a failed put evicts nothing.
//! 5. A refused put leaves an existing value for the key in place (as the most recently used
//!    entry of its protocol), unless that value had expired.
//!
//! *Partitions.* A partition is created by its first put and removed with its last entry, so
//! the partition count is at most the entry count, which is at most
//! `total_bytes / ENTRY_OVERHEAD` (131,072 with the defaults). A hostile sender minting
//! fingerprints cannot grow it further; creating a protocol costs a code load, which the node
//! bounds separately. A partition's fixed bookkeeping (a few hundred bytes) is not charged, so
//! real memory can exceed `total_bytes` by at most that per-entry factor.
//!
//! *Code eviction.* The store does not follow the code cache: a protocol's state outlives the
//! eviction of its code, as in ANTS, so a protocol whose code is reloaded on demand finds its
//! soft state intact. Orphaned state is bounded by its ttl, its quota and the fair-share rule.
//! [`StateStore::drop_protocol`] removes a partition at once, for a node that bans a protocol.

use std::cmp::Ordering;
use std::collections::{BTreeSet, HashMap};
use std::sync::Arc;
use std::time::Duration;

use lru::LruCache;

use super::StateLimits;
use crate::fingerprint::Fingerprint;
use crate::time::Timestamp;

/// Bytes charged per entry on top of its key and value, approximating its bookkeeping memory
/// (recency list node, hash slot, expiry index node, shared key header).
pub const ENTRY_OVERHEAD: usize = 128;


/// Counters of a [`StateStore`], monotonically increasing from its creation.
///
/// Two identities hold: `puts = inserts + replacements + too_large_rejections +
/// zero_ttl_rejections + quota_rejections + full_rejections`, and the number of stored entries
/// is `inserts - removes - expirations - evictions - dropped`. Also `gets = hits + misses`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct StateStoreStats {
    /// [`StateStore::put`] calls.
    pub puts: u64,
    /// Puts that stored a key with no live value.
    pub inserts: u64,
    /// Puts that replaced a live value.
    pub replacements: u64,
    /// [`StateStore::get`] calls.
    pub gets: u64,
    /// Gets that found a live value.
    pub hits: u64,
    /// Gets that found nothing or an expired value.
    pub misses: u64,
    /// [`StateStore::remove`] calls that removed a live value.
    pub removes: u64,
    /// Expired entries removed (lazily, by a purge, or by a put under pressure).
    pub expirations: u64,
    /// Live entries evicted by the fair-share rule.
    pub evictions: u64,
    /// Entries removed by [`StateStore::drop_protocol`].
    pub dropped: u64,
    /// Puts refused because the protocol's quota was full.
    pub quota_rejections: u64,
    /// Puts refused because the store was full and fair-share eviction could not make room.
    pub full_rejections: u64,
    /// Puts refused because the key or the value was too long.
    pub too_large_rejections: u64,
    /// Puts refused because the ttl was zero.
    pub zero_ttl_rejections: u64,
}

/// Why a [`StateStore::put`] was refused. A refused put evicts nothing.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum StateError {
    /// The key is longer than `max_key_len`.
    #[error("state key of {len} bytes is longer than the limit of {max} bytes; use a shorter key")]
    KeyTooLong {
        /// The key's length.
        len: usize,
        /// The store's `max_key_len`.
        max: usize,
    },
    /// The value is longer than `max_value_len`.
    #[error(
        "state value of {len} bytes is longer than the limit of {max} bytes; split it across keys"
    )]
    ValueTooLong {
        /// The value's length.
        len: usize,
        /// The store's `max_value_len`.
        max: usize,
    },
    /// The ttl is zero (after clamping to `max_ttl`), so the value could never be read.
    #[error("state ttl is zero, so the value would never be visible; use `remove` to delete a key")]
    ZeroTtl,
    /// The protocol's own quota is full, even after dropping its expired entries.
    #[error(
        "protocol state quota exceeded: {used} of {quota} bytes in use, {needed} more needed; \
         remove keys or use shorter ttls"
    )]
    QuotaExceeded {
        /// The charge of the refused entry (key + value + overhead).
        needed: usize,
        /// The protocol's usage without the refused entry (and without an old value it
        /// would have replaced).
        used: usize,
        /// The store's `per_protocol_bytes`.
        quota: usize,
    },
    /// The store is full and no protocol above its fair share has enough to give up.
    #[error(
        "node state store is full and no protocol above its fair share can make room; retry later"
    )]
    StoreFull,
}

/// One stored value.
#[derive(Debug)]
struct Entry {
    value: Box<[u8]>,
    expires_at: Timestamp,
}

impl Entry {
    fn is_expired(&self, now: Timestamp) -> bool {
        now >= self.expires_at
    }
}

/// One protocol's entries in recency order, with their total charge.
#[derive(Debug)]
struct Partition {
    entries: LruCache<Arc<[u8]>, Entry>,
    bytes: usize,
}

fn charge(key_len: usize, value_len: usize) -> usize {
    key_len + value_len + ENTRY_OVERHEAD
}

/// Per-protocol key/value state with expiry, quotas and fair-share eviction. See the module
/// docs for the exact semantics.
#[derive(Debug)]
pub struct StateStore {
    limits: StateLimits,
    /// Non-empty partitions only.
    partitions: HashMap<Fingerprint, Partition>,
    /// `(bytes, protocol)` of every partition, so the biggest user is found in `O(log n)`.
    by_usage: BTreeSet<(usize, Fingerprint)>,
    /// `(expiry, protocol, key)` of every entry, so purging walks only expired entries.
    expiry: BTreeSet<(Timestamp, Fingerprint, Arc<[u8]>)>,
    total_bytes: usize,
    total_entries: usize,
    stats: StateStoreStats,
}

impl Default for StateStore {
    fn default() -> Self {
        StateStore::new(StateLimits::default())
    }
}

impl StateStore {
    /// An empty store with the given limits.
    pub fn new(limits: StateLimits) -> Self {
        StateStore {
            limits,
            partitions: HashMap::new(),
            by_usage: BTreeSet::new(),
            expiry: BTreeSet::new(),
            total_bytes: 0,
            total_entries: 0,
            stats: StateStoreStats::default(),
        }
    }

    /// The limits this store enforces.
    pub fn limits(&self) -> StateLimits {
        self.limits
    }

    /// Stores `value` under `key` in `proto`'s partition until `now + min(ttl, max_ttl)`.
    ///
    /// See the module docs for the order of checks, the quota and the fair-share eviction.
    pub fn put(
        &mut self,
        proto: &Fingerprint,
        key: &[u8],
        value: &[u8],
        now: Timestamp,
        ttl: Duration,
    ) -> Result<(), StateError> {
        self.stats.puts += 1;
        if key.len() > self.limits.max_key_len {
            self.stats.too_large_rejections += 1;
            return Err(StateError::KeyTooLong {
                len: key.len(),
                max: self.limits.max_key_len,
            });
        }
        if value.len() > self.limits.max_value_len {
            self.stats.too_large_rejections += 1;
            return Err(StateError::ValueTooLong {
                len: value.len(),
                max: self.limits.max_value_len,
            });
        }
        let ttl = ttl.min(self.limits.max_ttl);
        if ttl.is_zero() {
            self.stats.zero_ttl_rejections += 1;
            return Err(StateError::ZeroTtl);
        }
        let needed = charge(key.len(), value.len());

        // Take the old value out so the checks see the protocol without it.
        let old = match self.detach(proto, key) {
            Some((_, entry)) if entry.is_expired(now) => {
                self.stats.expirations += 1;
                None
            }
            other => other,
        };

        if let Err(e) = self.admit(proto, needed, now) {
            if let Some((old_key, entry)) = old {
                // Nothing was evicted, so the old entry still fits where it was.
                self.attach(*proto, old_key, entry);
            }
            return Err(e);
        }

        let stored_key = match old {
            Some((old_key, _)) => {
                self.stats.replacements += 1;
                old_key
            }
            None => {
                self.stats.inserts += 1;
                Arc::from(key)
            }
        };
        let entry = Entry {
            value: value.into(),
            expires_at: now + ttl,
        };
        self.attach(*proto, stored_key, entry);
        Ok(())
    }

    /// The live value of `key` in `proto`'s partition, making it the most recently used.
    /// An expired value is removed and reported as absent.
    pub fn get(&mut self, proto: &Fingerprint, key: &[u8], now: Timestamp) -> Option<&[u8]> {
        self.stats.gets += 1;
        let expired = match self.partitions.get(proto).and_then(|p| p.entries.peek(key)) {
            None => {
                self.stats.misses += 1;
                return None;
            }
            Some(entry) => entry.is_expired(now),
        };
        if expired {
            self.detach(proto, key);
            self.stats.expirations += 1;
            self.stats.misses += 1;
            return None;
        }
        self.stats.hits += 1;
        let entry = self.partitions.get_mut(proto)?.entries.get(key)?;
        Some(&entry.value)
    }

    /// Removes `key` from `proto`'s partition; true if a live value was removed (an expired
    /// one is removed too, but counted as an expiration).
    pub fn remove(&mut self, proto: &Fingerprint, key: &[u8], now: Timestamp) -> bool {
        match self.detach(proto, key) {
            None => false,
            Some((_, entry)) if entry.is_expired(now) => {
                self.stats.expirations += 1;
                false
            }
            Some(_) => {
                self.stats.removes += 1;
                true
            }
        }
    }

    /// Removes every entry expired at `now`, in every partition, and returns how many.
    ///
    /// Costs `O(k log n)` for `k` expired entries; call it when [`StateStore::next_expiry`]
    /// is due.
    pub fn purge_expired(&mut self, now: Timestamp) -> usize {
        let mut purged = 0;
        while let Some((expires_at, proto, key)) = self.expiry.first() {
            if *expires_at > now {
                break;
            }
            let (proto, key) = (*proto, Arc::clone(key));
            if self.detach(&proto, &key).is_none() {
                // Unreachable while the indexes agree; never loop on a stale index entry.
                self.expiry.pop_first();
                continue;
            }
            self.stats.expirations += 1;
            purged += 1;
        }
        purged
    }

    /// The earliest expiry of any stored entry: when [`StateStore::purge_expired`] next has
    /// work to do. `None` when the store is empty.
    pub fn next_expiry(&self) -> Option<Timestamp> {
        self.expiry.first().map(|(t, _, _)| *t)
    }

    /// `(entries, bytes)` held by `proto`, expired-but-not-yet-purged entries included; bytes
    /// are charged bytes (key + value + [`ENTRY_OVERHEAD`] per entry).
    pub fn protocol_usage(&self, proto: &Fingerprint) -> (usize, usize) {
        self.partitions
            .get(proto)
            .map_or((0, 0), |p| (p.entries.len(), p.bytes))
    }

    /// Removes `proto`'s whole partition and returns the `(entries, bytes)` it held.
    pub fn drop_protocol(&mut self, proto: &Fingerprint) -> (usize, usize) {
        let Some(partition) = self.partitions.remove(proto) else {
            return (0, 0);
        };
        for (key, entry) in partition.entries.iter() {
            self.expiry
                .remove(&(entry.expires_at, *proto, Arc::clone(key)));
        }
        self.by_usage.remove(&(partition.bytes, *proto));
        let entries = partition.entries.len();
        self.total_bytes -= partition.bytes;
        self.total_entries -= entries;
        self.stats.dropped += entries as u64;
        (entries, partition.bytes)
    }

    /// Number of stored entries, expired-but-not-yet-purged ones included.
    pub fn len(&self) -> usize {
        self.total_entries
    }

    /// Whether the store holds no entry.
    pub fn is_empty(&self) -> bool {
        self.total_entries == 0
    }

    /// Total charged bytes of all entries.
    pub fn total_bytes(&self) -> usize {
        self.total_bytes
    }

    /// Number of protocols holding at least one entry.
    pub fn partition_count(&self) -> usize {
        self.partitions.len()
    }

    /// The counters since creation.
    pub fn stats(&self) -> StateStoreStats {
        self.stats
    }

    /// Makes room for an entry of `needed` bytes in `proto`'s partition (whose old value for
    /// the key, if any, is already detached), or says why it cannot.
    fn admit(
        &mut self,
        proto: &Fingerprint,
        needed: usize,
        now: Timestamp,
    ) -> Result<(), StateError> {
        let quota = self.limits.per_protocol_bytes;
        if self.usage(proto).saturating_add(needed) > quota {
            self.purge_expired(now);
            let used = self.usage(proto);
            if used.saturating_add(needed) > quota {
                self.stats.quota_rejections += 1;
                return Err(StateError::QuotaExceeded {
                    needed,
                    used,
                    quota,
                });
            }
        }
        let limit = self.limits.total_bytes;
        if self.total_bytes.saturating_add(needed) > limit {
            self.purge_expired(now);
        }
        let over = self
            .total_bytes
            .saturating_add(needed)
            .saturating_sub(limit);
        if over == 0 {
            return Ok(());
        }
        let partitions = self.partitions.len() + usize::from(!self.partitions.contains_key(proto));
        // Fixed for the whole put, so evictions that empty a partition do not move it.
        let share = limit / partitions;
        if self.freeable(proto, needed, share, over) < over {
            self.stats.full_rejections += 1;
            return Err(StateError::StoreFull);
        }
        self.evict_fair_share(proto, needed, share, over);
        Ok(())
    }

    /// How much fair-share eviction could free, up to at least `target` (it stops counting
    /// once it gets there).
    fn freeable(&self, proto: &Fingerprint, needed: usize, share: usize, target: usize) -> usize {
        // Bytes from one partition's least recently used end until its usage is at the share.
        let walk = |partition: &Partition, mut usage: usize| {
            let mut freed = 0;
            for (key, entry) in partition.entries.iter().rev() {
                if usage <= share {
                    break;
                }
                let c = charge(key.len(), entry.value.len());
                usage -= c;
                freed += c;
            }
            freed
        };
        let mut freed = self
            .partitions
            .get(proto)
            .map_or(0, |p| walk(p, p.bytes + needed));
        for (bytes, fp) in self.by_usage.iter().rev() {
            if freed >= target || *bytes <= share {
                break;
            }
            if fp == proto {
                continue;
            }
            if let Some(p) = self.partitions.get(fp) {
                freed += walk(p, *bytes);
            }
        }
        freed
    }

    /// Evicts least recently used entries of the biggest protocol above `share` until `over`
    /// bytes are freed. [`Self::freeable`] has confirmed that this succeeds.
    fn evict_fair_share(&mut self, proto: &Fingerprint, needed: usize, share: usize, over: usize) {
        let mut remaining = over;
        while remaining > 0 {
            // The putting protocol's usage counts its new entry; it only has its existing
            // entries to give up.
            let own = self.partitions.get(proto).map(|p| p.bytes + needed);
            let other = self
                .by_usage
                .iter()
                .rev()
                .find(|(_, fp)| fp != proto)
                .copied();
            let victim = match (own, other) {
                (Some(own), Some((bytes, fp))) => match own.cmp(&bytes) {
                    Ordering::Less => Some((bytes, fp)),
                    _ => Some((own, *proto)),
                },
                (Some(own), None) => Some((own, *proto)),
                (None, other) => other,
            };
            let Some((_, victim)) = victim.filter(|(usage, _)| *usage > share) else {
                // Unreachable after `freeable`; stop rather than evict below the share.
                break;
            };
            let Some(key) = self
                .partitions
                .get(&victim)
                .and_then(|p| p.entries.peek_lru())
                .map(|(k, _)| Arc::clone(k))
            else {
                break;
            };
            let Some((key, entry)) = self.detach(&victim, &key) else {
                break;
            };
            self.stats.evictions += 1;
            remaining = remaining.saturating_sub(charge(key.len(), entry.value.len()));
        }
    }

    fn usage(&self, proto: &Fingerprint) -> usize {
        self.partitions.get(proto).map_or(0, |p| p.bytes)
    }

    /// Adds an entry as the most recently used of its partition, keeping every index and total
    /// in step. The key must not be present.
    fn attach(&mut self, proto: Fingerprint, key: Arc<[u8]>, entry: Entry) {
        let c = charge(key.len(), entry.value.len());
        let partition = self.partitions.entry(proto).or_insert_with(|| Partition {
            entries: LruCache::unbounded(),
            bytes: 0,
        });
        if partition.bytes > 0 {
            self.by_usage.remove(&(partition.bytes, proto));
        }
        partition.bytes += c;
        self.by_usage.insert((partition.bytes, proto));
        self.expiry
            .insert((entry.expires_at, proto, Arc::clone(&key)));
        partition.entries.put(key, entry);
        self.total_bytes += c;
        self.total_entries += 1;
    }

    /// Takes an entry out, keeping every index and total in step and dropping the partition if
    /// it becomes empty. Counts nothing: callers know why it left.
    fn detach(&mut self, proto: &Fingerprint, key: &[u8]) -> Option<(Arc<[u8]>, Entry)> {
        let partition = self.partitions.get_mut(proto)?;
        let (key, entry) = partition.entries.pop_entry(key)?;
        let c = charge(key.len(), entry.value.len());
        self.by_usage.remove(&(partition.bytes, *proto));
        partition.bytes -= c;
        if partition.entries.is_empty() {
            self.partitions.remove(proto);
        } else {
            self.by_usage.insert((partition.bytes, *proto));
        }
        self.expiry
            .remove(&(entry.expires_at, *proto, Arc::clone(&key)));
        self.total_bytes -= c;
        self.total_entries -= 1;
        Some((key, entry))
    }
}

#[cfg(test)]
mod tests {
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
}
