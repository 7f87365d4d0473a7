//! Turning module bytes into runnable code, with either compiler.
//!
//! Owns [`CompileTier`], [`CompiledCapsule`] and [`Compiler`]: the two engines (Winch for every
//! protocol's first code, Cranelift for the tier-up) configured for untrusted code, each with
//! the node API defined for it; the node-API checks and WebAssembly validation before any
//! compile; the shape limits the optimizing compiler must stay within; and wasmtime's serialized
//! form for the code store. It never runs guest code; `Sandbox` (the parent module) does.

use std::sync::Arc;

use wasmtime::{
    Config, Engine, InstancePre, Linker, Module, OperatorCost, OptLevel, RegallocAlgorithm,
    Strategy,
};

use super::complexity::Complexity;
use super::host::{self, HostState};
use super::{LoadError, SandboxLimits, cost, epoch, validate, warm_up};
use crate::fingerprint::Fingerprint;

/// Which compiler made a module's code.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum CompileTier {
    /// Winch: one pass over the code, compile time linear in its size; the code runs slower.
    /// Every protocol starts here.
    Baseline,
    /// Cranelift: optimized code, compile time that grows faster than the code (bounded by
    /// the shape limits of [`SandboxLimits`]). Done in the background after
    /// [`SandboxLimits::tier_up_after`] evaluations.
    Optimized,
}

impl CompileTier {
    /// Stable label for status and logs.
    pub fn name(self) -> &'static str {
        match self {
            CompileTier::Baseline => "baseline",
            CompileTier::Optimized => "optimized",
        }
    }
}

/// A validated, compiled capsule module, ready to instantiate. Cheap to clone.
#[derive(Clone)]
pub struct CompiledCapsule {
    pub(super) fingerprint: Fingerprint,
    pub(super) pre: InstancePre<HostState>,
    pub(super) module_len: usize,
    /// Fuel-equivalent cost of creating an instance (see [`cost::instantiation`]).
    pub(super) instantiation_cost: u64,
    /// How long validation and compilation took (wall clock, on the compiling thread).
    pub(super) compile_time: std::time::Duration,
    pub(super) tier: CompileTier,
    /// Whether the module's shape is within the optimizing compiler's limits.
    pub(super) optimizable: bool,
    /// The baseline compile time, once this optimized code replaced baseline code.
    pub(super) baseline_time: Option<std::time::Duration>,
}

impl CompiledCapsule {
    /// Which compiler made this code.
    pub fn tier(&self) -> CompileTier {
        self.tier
    }

    /// Whether the optimizing compiler may take this module (its shape is within the limits).
    pub fn optimizable(&self) -> bool {
        self.optimizable
    }

    /// How long the baseline compile took, for optimized code that replaced it.
    pub fn baseline_time(&self) -> Option<std::time::Duration> {
        self.baseline_time
    }

    /// Records the compile time of the baseline code this code replaces.
    pub fn replacing(mut self, baseline: &CompiledCapsule) -> Self {
        self.baseline_time = Some(baseline.compile_time);
        self
    }

    /// The type fingerprint of the module it was compiled from.
    pub fn fingerprint(&self) -> Fingerprint {
        self.fingerprint
    }

    /// Size of the module's bytes.
    pub fn module_len(&self) -> usize {
        self.module_len
    }

    /// How long validating and compiling the module took, on the thread that compiled it.
    pub fn compile_time(&self) -> std::time::Duration {
        self.compile_time
    }

    /// Approximate memory the compiled code occupies, in bytes (for soft-store accounting).
    pub fn compiled_len(&self) -> usize {
        let range = self.pre.module().image_range();
        (range.end as usize).saturating_sub(range.start as usize)
    }
}

impl std::fmt::Debug for CompiledCapsule {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CompiledCapsule")
            .field("fingerprint", &self.fingerprint)
            .field("module_len", &self.module_len)
            .field("tier", &self.tier)
            .finish()
    }
}

/// One compiler's engine and the node API defined for it. Code compiled by an engine runs only
/// in stores of that engine.
#[derive(Clone)]
struct TierEngine {
    engine: Engine,
    linker: Arc<Linker<HostState>>,
}

impl TierEngine {
    fn new(limits: &SandboxLimits, tier: CompileTier) -> Result<Self, LoadError> {
        let engine = Engine::new(&engine_config(limits, tier))
            .map_err(|e| LoadError::Rejected(format!("engine configuration: {e:#}")))?;
        epoch::start_ticker(&engine);
        let mut linker = Linker::new(&engine);
        host::define_imports(&mut linker)
            .map_err(|e| LoadError::Rejected(format!("node API definition: {e:#}")))?;
        // The first compile on an engine pays for setting the compiler up (about 2.5 ms for
        // Winch here): pay it now, not in the first capsule's wait.
        let warm_up = b"\0asm\x01\0\0\0\x01\x04\x01\x60\0\0\x03\x02\x01\0\x0a\x04\x01\x02\0\x0b";
        let _ = Module::from_binary(&engine, warm_up);
        Ok(TierEngine {
            engine,
            linker: Arc::new(linker),
        })
    }
}

/// Validates and compiles modules, with either compiler. Clone it into a worker thread to
/// compile off the forwarding path.
#[derive(Clone)]
pub struct Compiler {
    baseline: TierEngine,
    optimized: TierEngine,
    pub(super) limits: Arc<SandboxLimits>,
}

impl Compiler {
    /// Both engines, configured for untrusted code within `limits`.
    pub(super) fn new(limits: SandboxLimits) -> Result<Compiler, LoadError> {
        Ok(Compiler {
            baseline: TierEngine::new(&limits, CompileTier::Baseline)?,
            optimized: TierEngine::new(&limits, CompileTier::Optimized)?,
            limits: Arc::new(limits),
        })
    }

    /// Checks `bytes` against the node API rules and limits (cheap, no compilation): size,
    /// imports, exports, function count, declared memory, and full WebAssembly validation with
    /// the sandbox's feature set.
    pub fn validate(&self, bytes: &[u8]) -> Result<(), LoadError> {
        validate::check_module(bytes, &self.limits)?;
        Module::validate(&self.baseline.engine, bytes)
            .map_err(|e| LoadError::Rejected(format!("{e:#}")))
    }

    /// Validates, then compiles `bytes` with the baseline compiler: what every protocol runs
    /// first. The fingerprint is the caller's claim of what these bytes are; check it against
    /// the bytes before calling.
    pub fn compile(
        &self,
        fingerprint: Fingerprint,
        bytes: &[u8],
    ) -> Result<CompiledCapsule, LoadError> {
        self.compile_tier(fingerprint, bytes, CompileTier::Baseline)
    }

    /// Whether the optimizing compiler may take a module of this shape, and if not, why.
    pub fn check_optimizable(&self, shape: &Complexity) -> Result<(), LoadError> {
        let l = &self.limits;
        for (what, found, limit) in [
            ("block nesting", shape.max_nesting, l.optimize_max_nesting),
            (
                "control instructions",
                shape.total_branches,
                l.optimize_max_branches,
            ),
            (
                "branch-table targets in one function",
                shape.max_br_table_targets,
                l.optimize_max_br_table_targets,
            ),
            (
                "locals in one function",
                shape.max_locals,
                l.optimize_max_locals,
            ),
        ] {
            if found > limit {
                return Err(LoadError::TooComplexToOptimize { what, found, limit });
            }
        }
        Ok(())
    }

    /// Validates, then compiles `bytes` with the compiler of `tier`. The optimizing compiler
    /// refuses a module over its shape limits ([`LoadError::TooComplexToOptimize`]) before it
    /// starts.
    pub fn compile_tier(
        &self,
        fingerprint: Fingerprint,
        bytes: &[u8],
        tier: CompileTier,
    ) -> Result<CompiledCapsule, LoadError> {
        let started = std::time::Instant::now();
        // The node API rules; WebAssembly validation happens once, in `from_binary`.
        validate::check_module(bytes, &self.limits)?;
        let Some(shape) = Complexity::of(bytes) else {
            // Code that does not parse: the validator says why, as `validate` would.
            return Err(match Module::validate(&self.baseline.engine, bytes) {
                Err(invalid) => LoadError::Rejected(format!("{invalid:#}")),
                Ok(()) => LoadError::Malformed("unreadable code section".to_string()),
            });
        };
        let optimizable = self.check_optimizable(&shape);
        let engine = match tier {
            CompileTier::Baseline => &self.baseline,
            CompileTier::Optimized => {
                optimizable.clone()?;
                &self.optimized
            }
        };
        // Validation runs inside `from_binary`; on a refusal, the standalone validator names
        // the reason exactly as `validate` does (a compiler's own message words it otherwise).
        let module =
            Module::from_binary(&engine.engine, bytes).map_err(|e| {
                match Module::validate(&self.baseline.engine, bytes) {
                    Err(invalid) => LoadError::Rejected(format!("{invalid:#}")),
                    Ok(()) => LoadError::Rejected(format!("{e:#}")),
                }
            })?;
        let pre = engine
            .linker
            .instantiate_pre(&module)
            .map_err(|e| LoadError::Rejected(format!("{e:#}")))?;
        Ok(CompiledCapsule {
            fingerprint,
            pre,
            module_len: bytes.len(),
            instantiation_cost: cost::instantiation(initial_memory_bytes(&module)),
            compile_time: started.elapsed(),
            tier,
            optimizable: optimizable.is_ok(),
            baseline_time: None,
        })
    }
}

impl Compiler {
    /// Compiles a synthetic capsule-sized module with the baseline compiler and drops it. Call
    /// it once on each thread that will compile, when the thread starts: its first compile
    /// otherwise pays for faulting in the thread's allocator memory (`warm_up`).
    pub fn warm_up_thread(&self) {
        let _ = Module::from_binary(&self.baseline.engine, &warm_up::module());
    }

    /// A fingerprint of the engine configuration of `tier`: serialized code made by another
    /// configuration (or another wasmtime) must not be loaded, and is keyed apart by it.
    pub fn engine_key(&self, tier: CompileTier) -> u64 {
        use std::hash::{Hash, Hasher};
        let engine = match tier {
            CompileTier::Baseline => &self.baseline.engine,
            CompileTier::Optimized => &self.optimized.engine,
        };
        // SHA-256 under `Hasher`: the same configuration gives the same key in every process
        // and every build (std's hashers promise neither).
        struct Sha(sha2::Sha256);
        impl Hasher for Sha {
            fn write(&mut self, bytes: &[u8]) {
                sha2::Digest::update(&mut self.0, bytes);
            }
            fn finish(&self) -> u64 {
                let digest = sha2::Digest::finalize(self.0.clone());
                u64::from_be_bytes(digest[..8].try_into().unwrap_or([0; 8]))
            }
        }
        let mut hasher = Sha(<sha2::Sha256 as sha2::Digest>::new());
        engine.precompile_compatibility_hash().hash(&mut hasher);
        tier.hash(&mut hasher);
        hasher.finish()
    }

    /// The compiled code in wasmtime's serialized form, for the on-disk code store.
    pub fn serialize(&self, code: &CompiledCapsule) -> Result<Vec<u8>, LoadError> {
        code.pre
            .module()
            .serialize()
            .map_err(|e| LoadError::Rejected(format!("serialize: {e:#}")))
    }

    /// Code serialized by [`Compiler::serialize`] with the same engine configuration, for
    /// `module` (whose bytes the caller has hashed to `fingerprint`).
    ///
    /// # Safety
    /// `serialized` is machine code that will run: it must be exactly what
    /// [`Compiler::serialize`] produced in a process of this build, checked for integrity by
    /// the caller (the code store keeps a SHA-256 of it). Wasmtime refuses code made by another
    /// engine configuration or version, but it cannot tell tampered code from genuine.
    pub unsafe fn deserialize(
        &self,
        fingerprint: Fingerprint,
        module: &[u8],
        tier: CompileTier,
        serialized: &[u8],
    ) -> Result<CompiledCapsule, LoadError> {
        let started = std::time::Instant::now();
        let engine = match tier {
            CompileTier::Baseline => &self.baseline,
            CompileTier::Optimized => &self.optimized,
        };
        // SAFETY: the caller guarantees the bytes came from `serialize` with this engine's
        // configuration and were checked for integrity (see the function's contract).
        let compiled = unsafe { Module::deserialize(&engine.engine, serialized) }
            .map_err(|e| LoadError::Rejected(format!("stored code: {e:#}")))?;
        let pre = engine
            .linker
            .instantiate_pre(&compiled)
            .map_err(|e| LoadError::Rejected(format!("{e:#}")))?;
        let shape = Complexity::of(module)
            .ok_or_else(|| LoadError::Malformed("unreadable code section".to_string()))?;
        Ok(CompiledCapsule {
            fingerprint,
            pre,
            module_len: module.len(),
            instantiation_cost: cost::instantiation(initial_memory_bytes(&compiled)),
            compile_time: started.elapsed(),
            tier,
            optimizable: self.check_optimizable(&shape).is_ok(),
            baseline_time: None,
        })
    }
}

/// Builds the engine configuration for untrusted code, for the compiler of `tier`.
fn engine_config(limits: &SandboxLimits, tier: CompileTier) -> Config {
    let mut config = Config::new();
    match tier {
        CompileTier::Baseline => {
            // Winch still hands the entry and host-call trampolines (about 30 for a 40-function
            // capsule) to Cranelift: compiled without optimization and with the single-pass
            // register allocator, the whole baseline compile takes about 30 % less
            // (`docs/benchmarks.md`), for a few instructions more per entry.
            config
                .strategy(Strategy::Winch)
                .cranelift_opt_level(OptLevel::None)
                .cranelift_regalloc_algorithm(RegallocAlgorithm::SinglePass);
        }
        CompileTier::Optimized => {
            config.strategy(Strategy::Cranelift);
        }
    }
    config
        // Deterministic CPU bound: the emulator's runs must not depend on machine speed.
        .consume_fuel(true)
        // The wall-clock backstop (see `epoch`).
        .epoch_interruption(true)
        .max_wasm_stack(limits.max_wasm_stack)
        .cranelift_nan_canonicalization(true)
        // Rust's wasm32 output uses these; everything else stays off.
        .wasm_bulk_memory(true)
        .wasm_multi_value(true)
        .wasm_simd(false)
        .wasm_relaxed_simd(false)
        .wasm_multi_memory(false)
        .wasm_memory64(false)
        .wasm_tail_call(false)
        .wasm_wide_arithmetic(false)
        .wasm_custom_page_sizes(false);
    // Growth is bounded by the instance limiter (at most `max_table_elements`), so charging fuel
    // for the amount a guest asks for would only turn a refused `table.grow` (which must return
    // -1) into `out_of_fuel`.
    let mut cost = OperatorCost::new();
    cost.variable.table_grow_per_element = 0;
    // A growth request, granted or refused, goes through the instance limiter: about 30 ns,
    // two hundred times a plain instruction (`cargo bench --bench host_costs`).
    cost.MemoryGrow = cost::GROW;
    cost.TableGrow = cost::GROW;
    config.operator_cost(cost);
    // Threads, GC, exceptions, function references and the component model are compiled out (crate
    // features off), so modules using them fail validation.
    config
}

/// The declared minimum size of a module's linear memory, in bytes.
fn initial_memory_bytes(module: &Module) -> u64 {
    module
        .exports()
        .find_map(|e| e.ty().memory().map(|m| m.minimum()))
        .map_or(0, |pages| pages.saturating_mul(64 * 1024))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_warm_up_module_compiles_with_the_baseline_compiler() {
        let compiler = Compiler::new(SandboxLimits::default()).unwrap();
        Module::from_binary(&compiler.baseline.engine, &warm_up::module()).expect("compiles");
    }
}
