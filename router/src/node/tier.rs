//! Tiered compilation: protocols start on baseline code and are optimized in the background.
//!
//! Owns when a protocol that runs baseline code (Winch) is handed to the optimizing compiler
//! (Cranelift): after [`SandboxLimits::tier_up_after`] evaluations, only when no load waits
//! for a compile slot (first code always goes first), and only for modules whose shape is
//! within the optimizing compiler's limits. The optimized code replaces the baseline code in
//! the code cache between two evaluations; the protocol's live instance is dropped, so its next
//! capsule runs the new code. A refused or failed tier-up leaves the baseline code in place
//! for good (until the protocol leaves the cache).
//!
//! It never compiles (the driver does, like first compiles) and never delays a capsule: the
//! baseline code runs until the optimized code is in.
//!
//! [`SandboxLimits::tier_up_after`]: crate::sandbox::SandboxLimits::tier_up_after

use super::{Event, Node};
use crate::fingerprint::Fingerprint;
use crate::sandbox::{CompileTier, CompiledCapsule, LoadError};

impl Node {
    /// One more evaluation of `fp` on baseline code that may be optimized.
    pub(super) fn count_for_tier_up(&mut self, fp: Fingerprint) {
        let after = self.config.sandbox.tier_up_after;
        if after == 0 || self.tiering.contains(&fp) || self.tier_refused.contains(&fp) {
            return;
        }
        let count = self.tier_counts.entry(fp).or_insert(0);
        *count = count.saturating_add(1);
        if *count >= after {
            self.start_tier_ups();
        }
    }

    /// Hands due tier-ups to the driver while compile slots are free and no load waits.
    pub(super) fn start_tier_ups(&mut self) {
        let after = self.config.sandbox.tier_up_after;
        let slots = self.config.demand.max_concurrent_compiles.max(1);
        while self.compiling < slots && self.compile_queue.is_empty() && after > 0 {
            let Some(fp) = self
                .tier_counts
                .iter()
                .find(|(_, n)| **n >= after)
                .map(|(fp, _)| *fp)
            else {
                return;
            };
            self.tier_counts.remove(&fp);
            let Some(bytes) = self.code.peek(&fp).map(|e| e.module().clone()) else {
                continue;
            };
            self.tiering.insert(fp);
            self.compiling += 1;
            self.stats.tier_ups_started += 1;
            tracing::debug!(fingerprint = %fp, "optimizing in the background");
            self.events.push_back(Event::Compile {
                fingerprint: fp,
                bytes,
                tier: CompileTier::Optimized,
            });
        }
    }

    /// The driver's answer to a tier-up's [`Event::Compile`]: swap the optimized code in, or
    /// keep the baseline code.
    pub(super) fn finish_tier_up(
        &mut self,
        fp: Fingerprint,
        result: Result<CompiledCapsule, LoadError>,
    ) {
        let result = result.and_then(|c| {
            if c.fingerprint() == fp && c.tier() == CompileTier::Optimized {
                Ok(c)
            } else {
                Err(LoadError::Rejected(format!(
                    "tier-up of {fp} answered with {} code for {}",
                    c.tier().name(),
                    c.fingerprint()
                )))
            }
        });
        let compiled = match result {
            Ok(compiled) => compiled,
            Err(e) => {
                tracing::debug!(fingerprint = %fp, reason = e.name(),
                    "keeps its baseline code: {e}");
                self.stats.tier_ups_failed += 1;
                self.tier_refused.insert(fp);
                return;
            }
        };
        // Left the cache meanwhile: nothing to replace.
        let Some(old) = self.code.peek(&fp).and_then(|e| e.compiled()).cloned() else {
            return;
        };
        let compiled = compiled.replacing(&old);
        let size = compiled.compiled_len();
        match self.code.attach_compiled(fp, compiled, size) {
            Ok(evicted) => {
                self.evicted(evicted);
                // The next capsule instantiates the optimized code.
                self.sandbox.forget(&fp);
                self.stats.tier_ups_completed += 1;
                tracing::info!(fingerprint = %fp, "optimized code swapped in");
            }
            Err(e) => {
                tracing::warn!(fingerprint = %fp, "optimized code not cached: {e}");
                self.stats.tier_ups_failed += 1;
                self.tier_refused.insert(fp);
            }
        }
    }
}
