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
mod tests;
