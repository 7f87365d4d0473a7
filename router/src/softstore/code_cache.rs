//! The code cache: capsule code keyed by its type fingerprint, bounded and LRU-evicted.
//!
//! Owns the mapping from a capsule type ([`Fingerprint`]) to the module bytes that hash to it and
//! the compiled form a later layer attaches. It must never hold code whose bytes do not hash to
//! their key (every insert re-checks [`Fingerprint::matches`], so a bug or an attack upstream
//! cannot plant spoofed code), never exceed its bounds, and never evict a pinned entry. It does
//! not compile, load or log anything: it reports what it evicted and counts the rest in
//! [`CodeCacheStats`].
//!
//! # Bounds and memory accounting
//!
//! Two bounds hold after every call: the number of entries is at most
//! [`CodeCacheLimits::max_entries`] and the sum of the entries' *charges* is at most
//! [`CodeCacheLimits::max_bytes`]. An entry's charge is its module length plus the size the
//! caller declares for its compiled form in [`CodeCache::attach_compiled`]. The compiled form is
//! counted because it dominates: native code and metadata are typically several times the size of
//! the wasm bytes, so a bound on module bytes alone would not bound the node's memory. The cache
//! cannot measure an opaque `C` itself, so the sandbox layer reports it (for a wasmtime `Module`,
//! the length of its code image is a good estimate).
//!
//! # Eviction and pinning
//!
//! Unpinned entries live in recency order; [`CodeCache::get`], a duplicate insert,
//! [`CodeCache::attach_compiled`] and [`CodeCache::unpin`] make an entry the most recently used.
//! When an insert or an attach needs room, the least recently used unpinned entries are evicted
//! until it fits, and their fingerprints are returned. Pinned entries (the protocols the node
//! originates) are never evicted: an operation that could only fit by evicting a pinned entry
//! fails with [`CodeCacheError::PinnedFull`] before anything is evicted, so a failed call
//! changes nothing but the counters. Only [`CodeCache::remove`] takes a pinned entry out.
//!
//! # Duplicates
//!
//! Inserting a fingerprint that is already cached keeps the existing entry (and its compiled
//! form), refreshes its recency and, for [`CodeCache::insert_pinned`], pins it. With SHA-256 the
//! bytes are necessarily the same; with the legacy MD5 option a colliding module is ignored
//! rather than allowed to replace code that is already running.

use std::sync::Arc;

use lru::LruCache;

use super::CodeCacheLimits;
use crate::fingerprint::Fingerprint;


/// Counters of a [`CodeCache`], monotonically increasing from its creation.
///
/// `insertions - evictions - removals` always equals the number of cached entries.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct CodeCacheStats {
    /// [`CodeCache::get`] calls that found the fingerprint.
    pub hits: u64,
    /// [`CodeCache::get`] calls that did not find the fingerprint (a demand load follows).
    pub misses: u64,
    /// New entries added by an insert.
    pub insertions: u64,
    /// Inserts of a fingerprint that was already cached (the existing entry is kept).
    pub duplicate_insertions: u64,
    /// Entries evicted to make room, never pinned ones.
    pub evictions: u64,
    /// Total charge of the evicted entries, in bytes.
    pub evicted_bytes: u64,
    /// Entries taken out by [`CodeCache::remove`].
    pub removals: u64,
    /// Compiled forms attached by [`CodeCache::attach_compiled`].
    pub compiled_attached: u64,
    /// Inserts refused because the bytes do not hash to the fingerprint.
    pub rejected_spoofed: u64,
    /// Inserts or attaches refused because the entry alone exceeds `max_bytes`.
    pub rejected_too_large: u64,
    /// Inserts or attaches refused because pinned entries leave no room.
    pub rejected_pinned_full: u64,
}

/// Why a [`CodeCache`] refused an operation. A refused operation changes nothing but counters.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum CodeCacheError {
    /// The module bytes do not hash to the fingerprint they were offered under.
    #[error(
        "module bytes do not hash to capsule type {fingerprint}; spoofed or corrupted code is \
         never cached (drop the load and check the neighbour that sent it)"
    )]
    Spoofed {
        /// The fingerprint the bytes claimed.
        fingerprint: Fingerprint,
    },
    /// The entry alone is larger than the whole cache.
    #[error(
        "code cache entry of {size} bytes exceeds the cache bound of {max_bytes} bytes; \
         raise `max_bytes` or reject such modules before loading them"
    )]
    TooLarge {
        /// The entry's charge in bytes (module, plus compiled form for an attach).
        size: usize,
        /// The cache's `max_bytes`.
        max_bytes: usize,
    },
    /// Pinned entries leave no room, and pinned entries are never evicted.
    #[error(
        "pinned code ({pinned_entries} entries, {pinned_bytes} bytes) leaves no room for \
         {size} more bytes within {max_entries} entries / {max_bytes} bytes; unpin a protocol \
         or raise the code cache limits"
    )]
    PinnedFull {
        /// The charge that did not fit, in bytes.
        size: usize,
        /// Total charge of the pinned entries (other than the one being changed).
        pinned_bytes: usize,
        /// Number of pinned entries (other than the one being changed).
        pinned_entries: usize,
        /// The cache's `max_bytes`.
        max_bytes: usize,
        /// The cache's `max_entries`.
        max_entries: usize,
    },
    /// The operation needs a cached entry and there is none for this fingerprint.
    #[error("no code is cached for capsule type {fingerprint}; it may have been evicted")]
    NotCached {
        /// The fingerprint that was looked up.
        fingerprint: Fingerprint,
    },
}

/// One cached module: its bytes, optional compiled form and pin state.
#[derive(Clone, Debug)]
pub struct CodeEntry<C> {
    module: Arc<[u8]>,
    compiled: Option<C>,
    compiled_bytes: usize,
    pinned: bool,
}

impl<C> CodeEntry<C> {
    /// The module bytes; they hash to the entry's fingerprint.
    pub fn module(&self) -> &Arc<[u8]> {
        &self.module
    }

    /// The compiled form, once a later layer has attached one.
    pub fn compiled(&self) -> Option<&C> {
        self.compiled.as_ref()
    }

    /// Module length in bytes.
    pub fn size(&self) -> usize {
        self.module.len()
    }

    /// The size declared for the compiled form (zero until one is attached).
    pub fn compiled_bytes(&self) -> usize {
        self.compiled_bytes
    }

    /// What the entry counts against `max_bytes`: module plus declared compiled size.
    pub fn charge(&self) -> usize {
        self.module.len().saturating_add(self.compiled_bytes)
    }

    /// Whether the entry is pinned (never evicted).
    pub fn is_pinned(&self) -> bool {
        self.pinned
    }
}

/// A bounded LRU cache of capsule code keyed by type fingerprint. See the module docs.
///
/// `C` is the compiled form a later layer attaches (a wasmtime `Module` in the node); the cache
/// never looks inside it.
#[derive(Debug)]
pub struct CodeCache<C> {
    limits: CodeCacheLimits,
    /// Unpinned entries in recency order; eviction pops the least recently used end. The entry
    /// bound is enforced by hand across both maps, so this one is unbounded.
    lru: LruCache<Fingerprint, CodeEntry<C>>,
    /// Pinned entries. They are never evicted, so they need no recency order, and keeping them
    /// apart makes eviction O(1) instead of a scan past pinned entries.
    /// Looked up for every capsule; keys are verified digests, so the fast seeded hasher (the
    /// one `lru` uses too) replaces SipHash.
    pinned: foldhash::HashMap<Fingerprint, CodeEntry<C>>,
    /// Sum of the charges of all entries.
    total_bytes: usize,
    /// Sum of the charges of pinned entries.
    pinned_bytes: usize,
    stats: CodeCacheStats,
}

impl<C> Default for CodeCache<C> {
    fn default() -> Self {
        CodeCache::new(CodeCacheLimits::default())
    }
}

impl<C> CodeCache<C> {
    /// An empty cache with the given bounds. Zero bounds are allowed and make every insert fail.
    pub fn new(limits: CodeCacheLimits) -> Self {
        CodeCache {
            limits,
            lru: LruCache::unbounded(),
            pinned: foldhash::HashMap::default(),
            total_bytes: 0,
            pinned_bytes: 0,
            stats: CodeCacheStats::default(),
        }
    }

    /// The bounds this cache enforces.
    pub fn limits(&self) -> CodeCacheLimits {
        self.limits
    }

    /// Caches `module` under `fp` as an unpinned entry and returns the fingerprints evicted to
    /// make room (least recently used first).
    ///
    /// Fails with [`CodeCacheError::Spoofed`] if the bytes do not hash to `fp`,
    /// [`CodeCacheError::TooLarge`] if the module alone exceeds `max_bytes`, and
    /// [`CodeCacheError::PinnedFull`] if it could only fit by evicting pinned entries. If `fp` is
    /// already cached, the existing entry is kept and becomes the most recently used.
    pub fn insert<M>(
        &mut self,
        fp: Fingerprint,
        module: M,
    ) -> Result<Vec<Fingerprint>, CodeCacheError>
    where
        M: AsRef<[u8]> + Into<Arc<[u8]>>,
    {
        self.insert_inner(fp, module, false)
    }

    /// Like [`CodeCache::insert`], but the entry is pinned: it is never evicted until unpinned
    /// or removed. An already cached entry is pinned in place.
    pub fn insert_pinned<M>(
        &mut self,
        fp: Fingerprint,
        module: M,
    ) -> Result<Vec<Fingerprint>, CodeCacheError>
    where
        M: AsRef<[u8]> + Into<Arc<[u8]>>,
    {
        self.insert_inner(fp, module, true)
    }

    fn insert_inner<M>(
        &mut self,
        fp: Fingerprint,
        module: M,
        pin: bool,
    ) -> Result<Vec<Fingerprint>, CodeCacheError>
    where
        M: AsRef<[u8]> + Into<Arc<[u8]>>,
    {
        // Checked even for duplicates: a spoofed load is worth counting whatever the cache holds.
        if !fp.matches(module.as_ref()) {
            self.stats.rejected_spoofed += 1;
            return Err(CodeCacheError::Spoofed { fingerprint: fp });
        }
        if self.pinned.contains_key(&fp) {
            self.stats.duplicate_insertions += 1;
            return Ok(Vec::new());
        }
        if self.lru.contains(&fp) {
            self.stats.duplicate_insertions += 1;
            if pin {
                self.move_to_pinned(&fp);
            } else {
                self.lru.promote(&fp);
            }
            return Ok(Vec::new());
        }

        let size = module.as_ref().len();
        self.check_too_large(size)?;
        self.check_pinned_room(size, None)?;

        let evicted = self.make_room(size, 1);
        let entry = CodeEntry {
            module: module.into(),
            compiled: None,
            compiled_bytes: 0,
            pinned: pin,
        };
        self.total_bytes += size;
        if pin {
            self.pinned_bytes += size;
            self.pinned.insert(fp, entry);
        } else {
            self.lru.put(fp, entry);
        }
        self.stats.insertions += 1;
        Ok(evicted)
    }

    /// Attaches the compiled form of a cached module, declaring `compiled_bytes` as its memory
    /// footprint, and returns the fingerprints evicted to make room for it.
    ///
    /// A compiled form already attached is replaced. The entry becomes the most recently used.
    /// Fails with [`CodeCacheError::NotCached`] if `fp` is not cached (it may have been evicted
    /// while compiling), [`CodeCacheError::TooLarge`] if module plus compiled form exceed
    /// `max_bytes`, and [`CodeCacheError::PinnedFull`] if it could only fit by evicting pinned
    /// entries. On failure `compiled` is dropped; clone it first if it must outlive the call.
    pub fn attach_compiled(
        &mut self,
        fp: Fingerprint,
        compiled: C,
        compiled_bytes: usize,
    ) -> Result<Vec<Fingerprint>, CodeCacheError> {
        if let Some(entry) = self.pinned.get(&fp) {
            let old_charge = entry.charge();
            let new_charge = entry.size().saturating_add(compiled_bytes);
            self.check_too_large(new_charge)?;
            // The entry itself is among the pinned ones; compare against the others.
            self.check_pinned_room(new_charge, Some(old_charge))?;
            if let Some(entry) = self.pinned.get_mut(&fp) {
                entry.compiled = Some(compiled);
                entry.compiled_bytes = compiled_bytes;
            }
            self.pinned_bytes = self.pinned_bytes - old_charge + new_charge;
            self.total_bytes = self.total_bytes - old_charge + new_charge;
            self.stats.compiled_attached += 1;
            // The new charge is already counted, so only the overshoot is evicted.
            return Ok(self.make_room(0, 0));
        }

        let Some(entry) = self.lru.peek(&fp) else {
            return Err(CodeCacheError::NotCached { fingerprint: fp });
        };
        let new_charge = entry.size().saturating_add(compiled_bytes);
        self.check_too_large(new_charge)?;
        self.check_pinned_room(new_charge, None)?;
        // Taken out while making room so that it cannot evict itself.
        let Some(mut entry) = self.lru.pop(&fp) else {
            return Err(CodeCacheError::NotCached { fingerprint: fp });
        };
        self.total_bytes -= entry.charge();
        let evicted = self.make_room(new_charge, 1);
        entry.compiled = Some(compiled);
        entry.compiled_bytes = compiled_bytes;
        self.total_bytes += new_charge;
        self.lru.put(fp, entry);
        self.stats.compiled_attached += 1;
        Ok(evicted)
    }

    /// Pins a cached entry so it is never evicted. Pinning a pinned entry does nothing.
    pub fn pin(&mut self, fp: &Fingerprint) -> Result<(), CodeCacheError> {
        if self.pinned.contains_key(fp) {
            return Ok(());
        }
        if self.move_to_pinned(fp) {
            Ok(())
        } else {
            Err(CodeCacheError::NotCached { fingerprint: *fp })
        }
    }

    /// Makes a pinned entry evictable again, as the most recently used. Unpinning an unpinned
    /// entry does nothing.
    pub fn unpin(&mut self, fp: &Fingerprint) -> Result<(), CodeCacheError> {
        if let Some(mut entry) = self.pinned.remove(fp) {
            self.pinned_bytes -= entry.charge();
            entry.pinned = false;
            self.lru.put(*fp, entry);
            Ok(())
        } else if self.lru.contains(fp) {
            Ok(())
        } else {
            Err(CodeCacheError::NotCached { fingerprint: *fp })
        }
    }

    /// Looks up the code for a capsule type, counting a hit or a miss and making a found
    /// unpinned entry the most recently used.
    pub fn get(&mut self, fp: &Fingerprint) -> Option<&CodeEntry<C>> {
        if let Some(entry) = self.pinned.get(fp) {
            self.stats.hits += 1;
            return Some(entry);
        }
        match self.lru.get(fp) {
            Some(entry) => {
                self.stats.hits += 1;
                Some(entry)
            }
            None => {
                self.stats.misses += 1;
                None
            }
        }
    }

    /// Looks up an entry without counting it or changing its recency.
    pub fn peek(&self, fp: &Fingerprint) -> Option<&CodeEntry<C>> {
        self.pinned.get(fp).or_else(|| self.lru.peek(fp))
    }

    /// Whether code for this capsule type is cached (no counters, no recency change).
    pub fn contains(&self, fp: &Fingerprint) -> bool {
        self.pinned.contains_key(fp) || self.lru.contains(fp)
    }

    /// Removes an entry, pinned or not, and returns it.
    pub fn remove(&mut self, fp: &Fingerprint) -> Option<CodeEntry<C>> {
        let entry = if let Some(entry) = self.pinned.remove(fp) {
            self.pinned_bytes -= entry.charge();
            entry
        } else {
            self.lru.pop(fp)?
        };
        self.total_bytes -= entry.charge();
        self.stats.removals += 1;
        Some(entry)
    }

    /// Number of cached entries, pinned or not.
    pub fn len(&self) -> usize {
        self.lru.len() + self.pinned.len()
    }

    /// Whether the cache holds no entry.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Number of pinned entries.
    pub fn pinned_len(&self) -> usize {
        self.pinned.len()
    }

    /// Total charge of all entries (module bytes plus declared compiled bytes).
    pub fn total_bytes(&self) -> usize {
        self.total_bytes
    }

    /// Total charge of the pinned entries.
    pub fn pinned_bytes(&self) -> usize {
        self.pinned_bytes
    }

    /// The counters since creation.
    pub fn stats(&self) -> CodeCacheStats {
        self.stats
    }

    /// Fails if an entry of `size` bytes exceeds the whole cache.
    fn check_too_large(&mut self, size: usize) -> Result<(), CodeCacheError> {
        if size <= self.limits.max_bytes {
            return Ok(());
        }
        self.stats.rejected_too_large += 1;
        Err(CodeCacheError::TooLarge {
            size,
            max_bytes: self.limits.max_bytes,
        })
    }

    /// Fails unless the pinned entries leave room for `size` bytes and one entry. `own_pinned`
    /// is the current charge of the entry being changed if it is itself pinned, so that it is
    /// not counted twice.
    fn check_pinned_room(
        &mut self,
        size: usize,
        own_pinned: Option<usize>,
    ) -> Result<(), CodeCacheError> {
        let pinned_bytes = self.pinned_bytes - own_pinned.unwrap_or(0);
        let pinned_entries = self.pinned.len() - usize::from(own_pinned.is_some());
        let fits_bytes = pinned_bytes
            .checked_add(size)
            .is_some_and(|b| b <= self.limits.max_bytes);
        if fits_bytes && pinned_entries < self.limits.max_entries {
            return Ok(());
        }
        self.stats.rejected_pinned_full += 1;
        Err(CodeCacheError::PinnedFull {
            size,
            pinned_bytes,
            pinned_entries,
            max_bytes: self.limits.max_bytes,
            max_entries: self.limits.max_entries,
        })
    }

    /// Evicts least recently used unpinned entries until `extra_bytes` and `extra_entries` more
    /// fit. Callers check [`Self::check_pinned_room`] first, so emptying the LRU always suffices.
    fn make_room(&mut self, extra_bytes: usize, extra_entries: usize) -> Vec<Fingerprint> {
        let mut evicted = Vec::new();
        while self.total_bytes + extra_bytes > self.limits.max_bytes
            || self.len() + extra_entries > self.limits.max_entries
        {
            let Some((fp, entry)) = self.lru.pop_lru() else {
                break;
            };
            let charge = entry.charge();
            self.total_bytes -= charge;
            self.stats.evictions += 1;
            self.stats.evicted_bytes += charge as u64;
            evicted.push(fp);
        }
        evicted
    }

    /// Moves an unpinned entry to the pinned set; false if it is not cached unpinned.
    fn move_to_pinned(&mut self, fp: &Fingerprint) -> bool {
        let Some(mut entry) = self.lru.pop(fp) else {
            return false;
        };
        self.pinned_bytes += entry.charge();
        entry.pinned = true;
        self.pinned.insert(*fp, entry);
        true
    }
}

#[cfg(test)]
mod tests {
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
            while self.total() + bytes > limits.max_bytes
                || self.entries.len() + n > limits.max_entries
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
}
