//! The on-disk code store: compiled code that survives a restart.
//!
//! Owns one directory of entries, one file per (module, tier, engine configuration): the
//! module's bytes and wasmtime's serialized code, behind a SHA-256 of both. At start the driver
//! loads every entry (newest first, within the bound) into the node, so a restarted router runs
//! its protocols at once instead of compiling them again; after every successful compile the
//! worker writes one (atomically: a temporary file, then a rename, so concurrent writers and
//! crashes never leave a torn entry). The directory is bounded in bytes; the least recently
//! used entries (file modification time, refreshed when an entry is loaded) go first.
//!
//! Serialized code is machine code that will run, so an entry is used only when its magic,
//! its engine key (the compatibility hash of the engine configuration, `Compiler::engine_key`),
//! its SHA-256 and its module's fingerprint all check out; anything else is counted, deleted
//! and recompiled on demand, never run. The store trusts the directory's owner: whoever can
//! write there can already replace the daemon's binary. It never touches the network.

use std::fs;
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};

use sha2::{Digest, Sha256};

use ants_router::fingerprint::Fingerprint;
use ants_router::sandbox::{CompileTier, CompiledCapsule, Compiler};

/// First bytes of every entry (format version 1).
const MAGIC: &[u8; 8] = b"ANTSCOD1";
/// magic, engine key (8), SHA-256 of the rest (32), tier (1), module length (4).
const HEADER: usize = 8 + 8 + 32 + 1 + 4;

/// What the store did, for the daemon's status.
#[derive(Debug, Default, serde::Serialize)]
pub struct CodeStoreStats {
    /// Entries loaded into the node at start.
    pub loaded: AtomicU64,
    /// Entries written after a compile.
    pub written: AtomicU64,
    /// Entries refused and deleted: torn, tampered, or not matching their module.
    pub rejected_corrupt: AtomicU64,
    /// Entries refused: made by another engine configuration or wasmtime version.
    pub rejected_foreign: AtomicU64,
    /// Entries deleted to stay within the bound.
    pub evicted: AtomicU64,
    /// Writes that failed (disk full, permissions); the code still runs from memory.
    pub write_errors: AtomicU64,
}

/// An entry read back: the module and its code, ready for `Node::preload`.
pub struct StoredCode {
    /// The module's bytes.
    pub module: Vec<u8>,
    /// Its compiled form.
    pub code: CompiledCapsule,
}

/// The store. Shared between the driver and its compile workers.
pub struct CodeStore {
    dir: PathBuf,
    max_bytes: u64,
    /// Serializes eviction (writes themselves are atomic renames).
    evicting: Mutex<()>,
    /// Counters.
    pub stats: CodeStoreStats,
}

impl CodeStore {
    /// Opens (creating it if needed) the store in `dir`, bounded to `max_bytes`.
    pub fn open(dir: &Path, max_bytes: u64) -> std::io::Result<CodeStore> {
        fs::create_dir_all(dir)?;
        Ok(CodeStore {
            dir: dir.to_path_buf(),
            max_bytes,
            evicting: Mutex::new(()),
            stats: CodeStoreStats::default(),
        })
    }

    fn path(&self, fp: &Fingerprint, tier: CompileTier, key: u64) -> PathBuf {
        let name = fp.to_string().replace(':', "-");
        self.dir
            .join(format!("{name}.{}.{key:016x}.code", tier.name()))
    }

    /// Writes the entry for `code` (compiled from `module`). Failures are counted, not fatal.
    pub fn put(&self, compiler: &Compiler, module: &[u8], code: &CompiledCapsule) {
        let tier = code.tier();
        let key = compiler.engine_key(tier);
        let Ok(serialized) = compiler.serialize(code) else {
            self.stats.write_errors.fetch_add(1, Ordering::Relaxed);
            return;
        };
        let Ok(module_len) = u32::try_from(module.len()) else {
            return;
        };
        let mut body = Vec::with_capacity(1 + 4 + module.len() + serialized.len());
        body.push(tier_code(tier));
        body.extend_from_slice(&module_len.to_be_bytes());
        body.extend_from_slice(module);
        body.extend_from_slice(&serialized);
        let mut entry = Vec::with_capacity(HEADER + body.len());
        entry.extend_from_slice(MAGIC);
        entry.extend_from_slice(&key.to_be_bytes());
        entry.extend_from_slice(&Sha256::digest(&body));
        entry.extend_from_slice(&body);
        let path = self.path(&code.fingerprint(), tier, key);
        let tmp = path.with_extension(format!("tmp{}", std::process::id()));
        let written = fs::File::create(&tmp)
            .and_then(|mut f| f.write_all(&entry).and_then(|()| f.sync_data()))
            .and_then(|()| fs::rename(&tmp, &path));
        match written {
            Ok(()) => {
                self.stats.written.fetch_add(1, Ordering::Relaxed);
                self.evict();
            }
            Err(e) => {
                let _ = fs::remove_file(&tmp);
                self.stats.write_errors.fetch_add(1, Ordering::Relaxed);
                tracing::warn!(path = %path.display(), "code store: cannot write an entry: {e}");
            }
        }
    }

    /// Every valid entry made by this build's engines, newest first, within the bound. Invalid
    /// entries are deleted and counted.
    pub fn load_all(&self, compiler: &Compiler) -> Vec<StoredCode> {
        let mut found = Vec::new();
        for (path, _, _) in self.entries() {
            match self.read(compiler, &path) {
                Ok(Some(stored)) => {
                    // Loaded: most recently used now.
                    let _ = fs::File::options()
                        .append(true)
                        .open(&path)
                        .and_then(|f| f.set_modified(std::time::SystemTime::now()));
                    self.stats.loaded.fetch_add(1, Ordering::Relaxed);
                    found.push(stored);
                }
                Ok(None) => {
                    self.stats.rejected_foreign.fetch_add(1, Ordering::Relaxed);
                }
                Err(why) => {
                    tracing::warn!(path = %path.display(), "code store: entry refused: {why}");
                    self.stats.rejected_corrupt.fetch_add(1, Ordering::Relaxed);
                    let _ = fs::remove_file(&path);
                }
            }
        }
        found
    }

    /// Reads one entry: `Ok(None)` for another engine's, `Err` for a damaged one.
    fn read(&self, compiler: &Compiler, path: &Path) -> Result<Option<StoredCode>, String> {
        let bytes = fs::read(path).map_err(|e| e.to_string())?;
        if bytes.len() < HEADER || &bytes[..8] != MAGIC {
            return Err("not a code store entry".into());
        }
        let key = u64::from_be_bytes(bytes[8..16].try_into().map_err(|_| "short key")?);
        let body = &bytes[48..];
        if Sha256::digest(body)[..] != bytes[16..48] {
            return Err("checksum mismatch (torn or altered)".into());
        }
        let tier = match body[0] {
            1 => CompileTier::Baseline,
            2 => CompileTier::Optimized,
            other => return Err(format!("unknown tier {other}")),
        };
        if key != compiler.engine_key(tier) {
            return Ok(None);
        }
        let len = u32::from_be_bytes(body[1..5].try_into().map_err(|_| "short length")?) as usize;
        let module = body.get(5..5 + len).ok_or("module cut short")?;
        let serialized = &body[5 + len..];
        let fp = Fingerprint::sha256(module);
        // SAFETY: the entry passed its SHA-256 and its engine key: these are the bytes
        // `Compiler::serialize` wrote with this engine configuration.
        let code = unsafe { compiler.deserialize(fp, module, tier, serialized) }
            .map_err(|e| e.to_string())?;
        Ok(Some(StoredCode {
            module: module.to_vec(),
            code,
        }))
    }

    /// Entries as (path, size, modified), newest first.
    fn entries(&self) -> Vec<(PathBuf, u64, std::time::SystemTime)> {
        let mut entries: Vec<_> = fs::read_dir(&self.dir)
            .map(|d| {
                d.filter_map(Result::ok)
                    .filter(|e| e.path().extension().is_some_and(|x| x == "code"))
                    .filter_map(|e| {
                        let meta = e.metadata().ok()?;
                        Some((e.path(), meta.len(), meta.modified().ok()?))
                    })
                    .collect()
            })
            .unwrap_or_default();
        entries.sort_by_key(|e| std::cmp::Reverse(e.2));
        entries
    }

    /// Deletes the least recently used entries beyond the bound.
    fn evict(&self) {
        let _guard = self.evicting.lock();
        let mut total = 0u64;
        for (path, size, _) in self.entries() {
            total += size;
            if total > self.max_bytes && fs::remove_file(&path).is_ok() {
                self.stats.evicted.fetch_add(1, Ordering::Relaxed);
            }
        }
    }
}

fn tier_code(tier: CompileTier) -> u8 {
    match tier {
        CompileTier::Baseline => 1,
        CompileTier::Optimized => 2,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ants_router::sandbox::{Sandbox, SandboxLimits};

    fn module(tag: u32) -> Vec<u8> {
        wat::parse_str(format!(
            r#"(module (memory (export "memory") 1)
                 (func (export "ants_evaluate") (result i32) (i32.const {tag}) (drop) (i32.const 0)))"#
        ))
        .unwrap()
    }

    fn store(dir: &Path, max: u64) -> CodeStore {
        CodeStore::open(dir, max).unwrap()
    }

    #[test]
    fn entries_round_trip_for_both_tiers() {
        let dir = tempfile::tempdir().unwrap();
        let compiler = Sandbox::new(SandboxLimits::default()).unwrap().compiler();
        let s = store(dir.path(), 1 << 30);
        let m = module(1);
        let fp = Fingerprint::sha256(&m);
        for tier in [CompileTier::Baseline, CompileTier::Optimized] {
            let code = compiler.compile_tier(fp, &m, tier).unwrap();
            s.put(&compiler, &m, &code);
        }
        let loaded = store(dir.path(), 1 << 30).load_all(&compiler);
        assert_eq!(loaded.len(), 2);
        for l in &loaded {
            assert_eq!(l.module, m);
            assert_eq!(l.code.fingerprint(), fp);
        }
    }

    #[test]
    fn damaged_and_foreign_entries_are_refused_never_run() {
        let dir = tempfile::tempdir().unwrap();
        let compiler = Sandbox::new(SandboxLimits::default()).unwrap().compiler();
        let s = store(dir.path(), 1 << 30);
        let m = module(2);
        let fp = Fingerprint::sha256(&m);
        let code = compiler.compile(fp, &m).unwrap();
        s.put(&compiler, &m, &code);
        let path = s.entries()[0].0.clone();
        let good = fs::read(&path).unwrap();

        // One flipped byte in the machine code: refused and deleted.
        let mut bad = good.clone();
        let last = bad.len() - 1;
        bad[last] ^= 0xff;
        fs::write(&path, &bad).unwrap();
        let s = store(dir.path(), 1 << 30);
        assert!(s.load_all(&compiler).is_empty());
        assert_eq!(s.stats.rejected_corrupt.load(Ordering::Relaxed), 1);
        assert!(!path.exists());

        // Cut short, and not an entry at all.
        fs::write(&path, &good[..good.len() / 2]).unwrap();
        fs::write(dir.path().join("junk.code"), b"hello").unwrap();
        let s = store(dir.path(), 1 << 30);
        assert!(s.load_all(&compiler).is_empty());
        assert_eq!(s.stats.rejected_corrupt.load(Ordering::Relaxed), 2);

        // Made by another engine configuration (another key): left alone, not loaded.
        let mut foreign = good.clone();
        foreign[8] ^= 0xff;
        assert!(!dir.path().join("junk.code").exists(), "deleted as damaged");
        fs::write(&path, &foreign).unwrap();
        let s = store(dir.path(), 1 << 30);
        assert!(s.load_all(&compiler).is_empty());
        assert_eq!(s.stats.rejected_foreign.load(Ordering::Relaxed), 1);
        assert!(path.exists());
        // The genuine entry loads.
        fs::write(&path, &good).unwrap();
        assert_eq!(store(dir.path(), 1 << 30).load_all(&compiler).len(), 1);
    }

    #[test]
    fn the_store_is_bounded_and_keeps_the_newest() {
        let dir = tempfile::tempdir().unwrap();
        let compiler = Sandbox::new(SandboxLimits::default()).unwrap().compiler();
        let first = module(3);
        let code = compiler
            .compile(Fingerprint::sha256(&first), &first)
            .unwrap();
        store(dir.path(), 1 << 30).put(&compiler, &first, &code);
        let one = store(dir.path(), 1 << 30).entries()[0].1;
        // Room for two entries.
        let s = store(dir.path(), one * 2 + one / 2);
        for tag in 4..8 {
            std::thread::sleep(std::time::Duration::from_millis(10));
            let m = module(tag);
            let code = compiler.compile(Fingerprint::sha256(&m), &m).unwrap();
            s.put(&compiler, &m, &code);
        }
        let loaded = s.load_all(&compiler);
        assert_eq!(loaded.len(), 2);
        assert_eq!(loaded[0].module, module(7), "newest first");
        assert_eq!(s.stats.evicted.load(Ordering::Relaxed), 3);
    }
}
