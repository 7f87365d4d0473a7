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
mod tests;
