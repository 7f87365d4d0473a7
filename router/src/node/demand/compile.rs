//! Compiling a load's verified module: the compile queue (registered protocols first, then a
//! fair turn between origins), the bound on concurrent compiles, and the driver's answer, which
//! caches the compiled form and releases the held capsules or rejects the module.
//!
//! It must never compile itself (it hands an [`Event::Compile`] to the driver), never run more
//! compiles than the configured slots, and never release a held capsule before its code is
//! cached.

use std::mem;
use std::sync::Arc;

use super::{Load, Phase};
use crate::fingerprint::Fingerprint;
use crate::node::{DropReason, Event, Node};
use crate::sandbox::{CompileTier, CompiledCapsule, LoadError};

impl Node {
    /// A registered module: compile it unless it already is, ahead of demand-loaded ones.
    pub(in crate::node) fn register_load(&mut self, fp: Fingerprint, bytes: Arc<[u8]>) {
        if self.has_code(&fp) {
            return;
        }
        match self.loads.get_mut(&fp) {
            Some(load) => {
                load.registered = true;
                if let Phase::Fetching(_) = load.phase {
                    // The bytes are here now: no need to fetch them.
                    load.phase = Phase::WaitingToCompile { bytes, from: None };
                    self.compile_queue.push_front(fp);
                }
            }
            None => {
                let load = Load::new(true, Phase::WaitingToCompile { bytes, from: None });
                self.loads.insert(fp, load);
                self.compile_queue.push_front(fp);
            }
        }
        self.start_compiles();
    }

    /// Hands verified modules to the driver while compile slots are free.
    pub(in crate::node) fn start_compiles(&mut self) {
        let slots = self.config.demand.max_concurrent_compiles.max(1);
        while self.compiling < slots {
            let Some(fp) = self.next_to_compile() else {
                break;
            };
            let Some(load) = self.loads.get_mut(&fp) else {
                continue;
            };
            let Phase::WaitingToCompile { bytes, from } = &load.phase else {
                continue;
            };
            let (bytes, from) = (bytes.clone(), *from);
            load.phase = Phase::Compiling {
                bytes: bytes.clone(),
                from,
            };
            self.compiling += 1;
            self.stats.compiles_started += 1;
            self.events.push_back(Event::Compile {
                fingerprint: fp,
                bytes,
                tier: CompileTier::Baseline,
            });
        }
        self.start_tier_ups();
    }

    /// Takes the next module to compile off the queue: registered protocols first, then the
    /// load whose origin (previous node and source) was served longest ago, queue order among
    /// equals. So a flood of expensive modules from one origin takes one turn in each round, and
    /// a protocol from anyone else waits for at most one compile per other origin.
    fn next_to_compile(&mut self) -> Option<Fingerprint> {
        let turn = |fp: &Fingerprint| match self.loads.get(fp).and_then(|l| l.origin) {
            None => 0,
            Some(origin) => self.compile_turns.peek(&origin).copied().unwrap_or(1),
        };
        let (index, _) = self
            .compile_queue
            .iter()
            .enumerate()
            .min_by_key(|(i, fp)| (turn(fp), *i))?;
        let fp = self.compile_queue.remove(index)?;
        if let Some(origin) = self.loads.get(&fp).and_then(|l| l.origin) {
            self.compile_round += 1;
            self.compile_turns.put(origin, self.compile_round + 1);
        }
        Some(fp)
    }

    /// The driver's answer to an [`Event::Compile`].
    pub(in crate::node) fn finish_compile(
        &mut self,
        fp: Fingerprint,
        result: Result<CompiledCapsule, LoadError>,
    ) {
        if self.tiering.remove(&fp) {
            self.compiling -= 1;
            self.finish_tier_up(fp, result);
            return self.start_compiles();
        }
        let Some(load) = self.loads.get(&fp) else {
            tracing::debug!(fingerprint = %fp, "compile result for no load; ignored");
            return;
        };
        let Phase::Compiling { bytes, from } = &load.phase else {
            tracing::debug!(fingerprint = %fp, "compile result for a load not compiling; ignored");
            return;
        };
        let (bytes, from, registered) = (bytes.clone(), *from, load.registered);
        self.compiling -= 1;
        let result = result.and_then(|compiled| {
            if compiled.fingerprint() == fp {
                Ok(compiled)
            } else {
                Err(LoadError::Rejected(format!(
                    "compiled code is for {}, not {fp}",
                    compiled.fingerprint()
                )))
            }
        });
        match result {
            Err(e) => {
                tracing::warn!(fingerprint = %fp, reason = e.name(), "module rejected: {e}");
                self.stats.compiles_failed += 1;
                let until = self.now + self.config.demand.rejected_ttl;
                self.rejected
                    .put(fp, crate::node::Rejection::new(until, &e));
                self.code.remove(&fp);
                self.cached.remove(&fp);
                self.fail_load(fp, DropReason::ModuleRejected);
            }
            Ok(compiled) => {
                if let Err(e) = self.attach(fp, &bytes, registered, compiled) {
                    tracing::warn!(fingerprint = %fp, "compiled module not cached: {e}");
                    self.code.remove(&fp);
                    self.cached.remove(&fp);
                    self.fail_load(fp, DropReason::CodeCacheFull);
                } else if let Some(mut load) = self.loads.remove(&fp) {
                    self.held_bytes -= load.held_bytes;
                    if load.on_demand {
                        self.stats.loads_completed += 1;
                    }
                    tracing::info!(fingerprint = %fp, from = ?from, bytes = bytes.len(),
                        "code loaded");
                    self.events.push_back(Event::CodeLoaded {
                        fingerprint: fp,
                        from,
                        bytes: bytes.len(),
                    });
                    for frame in mem::take(&mut load.held) {
                        self.stats.capsules_released += 1;
                        self.on_datagram(None, &frame);
                    }
                }
            }
        }
        self.start_compiles();
    }

    /// Caches the compiled form (re-inserting the module if it was evicted meanwhile).
    fn attach(
        &mut self,
        fp: Fingerprint,
        bytes: &Arc<[u8]>,
        registered: bool,
        compiled: CompiledCapsule,
    ) -> Result<(), crate::softstore::CodeCacheError> {
        if !self.code.contains(&fp) {
            let evicted = if registered {
                self.code.insert_pinned(fp, bytes.clone())?
            } else {
                self.code.insert(fp, bytes.clone())?
            };
            self.evicted(evicted);
            // Cached again after an eviction while it compiled: the first origin is gone.
            let origin = if registered {
                crate::node::Origin::registered(self.now)
            } else {
                crate::node::Origin::loaded(self.now, None)
            };
            self.cached.entry(fp).or_insert(origin);
        }
        let size = compiled.compiled_len();
        let evicted = self.code.attach_compiled(fp, compiled, size)?;
        self.evicted(evicted);
        Ok(())
    }
}
