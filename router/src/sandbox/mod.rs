//! The sandbox: compiles untrusted capsule modules and evaluates capsules with them.
//!
//! Owns the wasmtime engine and its configuration for untrusted code, load-time validation,
//! compilation, the per-protocol instances and the limits of every evaluation (fuel, memory,
//! stack, effects, log rate). It implements the node API of `docs/node-api.md` (in `host`) and
//! records what a capsule asked for as [`Effects`]; it never transmits, delivers, or reads a
//! clock: time and the node's tables come in through [`NodeContext`].
//!
//! # Instance model
//!
//! Each protocol (type fingerprint) gets its own wasmtime `Store` and instance, created on its
//! first capsule and reused for the following ones (a call on a warm instance costs well under
//! a microsecond; a fresh instance per capsule costs tens). Guarantees:
//! - **isolation**: stores are never shared between protocols, so no linear memory, global or
//!   table of one protocol is visible to another; the state store API is partitioned by the
//!   calling protocol's fingerprint, which the guest cannot choose;
//! - **no poisoning**: an instance that traps (out of fuel, stack, memory, any trap) is dropped;
//!   the next capsule of that protocol gets a fresh one;
//! - **bounded memory**: linear memory is capped by a resource limiter; instances are replaced
//!   after `recycle_after_calls` evaluations, and at most `max_live_instances` live at once
//!   (least recently used dropped first).
//!
//! Capsule authors may therefore rely on nothing but the state store surviving between
//! evaluations.
//!
//! # Compile and evaluate are separate
//!
//! [`Compiler`] is cheap to clone and `Send`, so a node can compile on a worker thread while it
//! keeps evaluating protocols already loaded; [`Sandbox::evaluate`] only needs a
//! [`CompiledCapsule`].

mod account;
mod complexity;
mod context;
mod cost;
mod epoch;
mod error;
mod host;
mod limits;
mod validate;

use std::sync::Arc;

use lru::LruCache;
use wasmtime::{
    Config, Engine, InstancePre, Linker, Module, OperatorCost, Store, Strategy, Trap, TypedFunc,
};

pub use account::{ProtocolCounters, StopCounters};
pub use context::{
    Bytes, Delivery, Effects, LogLevel, LogRecord, NodeContext, SendRoute, SentCapsule,
};
pub use error::{EvalError, LoadError};
pub use limits::SandboxLimits;

use crate::fingerprint::Fingerprint;
use crate::time::Timestamp;
use crate::wire::CapsuleRepr;
use account::Accounts;
use host::{HostState, LogBucket};

pub use complexity::Complexity;

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
    fingerprint: Fingerprint,
    pre: InstancePre<HostState>,
    module_len: usize,
    /// Fuel-equivalent cost of creating an instance (see [`cost::instantiation`]).
    instantiation_cost: u64,
    /// How long validation and compilation took (wall clock, on the compiling thread).
    compile_time: std::time::Duration,
    tier: CompileTier,
    /// Whether the module's shape is within the optimizing compiler's limits.
    optimizable: bool,
    /// The baseline compile time, once this optimized code replaced baseline code.
    baseline_time: Option<std::time::Duration>,
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
    limits: Arc<SandboxLimits>,
}

impl Compiler {
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

/// Counters of a [`Sandbox`], monotonically increasing.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct SandboxStats {
    /// Evaluations started.
    pub evaluations: u64,
    /// Evaluations that ended with `ants_evaluate` returning 0.
    pub completed: u64,
    /// Instances created.
    pub instantiations: u64,
    /// Instances dropped after a trap.
    pub discarded_after_trap: u64,
    /// Instances replaced after `recycle_after_calls` evaluations.
    pub recycled: u64,
    /// Instances dropped to stay within `max_live_instances`.
    pub evicted: u64,
    /// Fuel burnt in total.
    pub fuel_consumed: u64,
    /// Evaluations stopped for running out of fuel.
    pub out_of_fuel: u64,
    /// Evaluations stopped for stack exhaustion.
    pub stack_overflow: u64,
    /// Evaluations stopped for exceeding the memory or table limit.
    pub memory_limit: u64,
    /// Evaluations stopped by the wall-clock backstop.
    pub time_limit: u64,
    /// Instances dropped after `idle_instance_timeout` without an evaluation.
    pub reclaimed_idle: u64,
    /// Evaluations stopped by another trap.
    pub traps: u64,
    /// Evaluations whose instance could not be created.
    pub instantiation_failed: u64,
    /// Evaluations where `ants_evaluate` returned a nonzero status.
    pub capsule_errors: u64,
    /// Log messages dropped by the per-protocol rate limit.
    pub logs_rate_limited: u64,
    /// Host calls answered with an error status, by code (index = -status; index 1 is
    /// `BAD_POINTER`, see `docs/node-api.md`).
    pub host_call_errors: [u64; 16],
}

struct LiveInstance {
    store: Store<HostState>,
    evaluate: TypedFunc<(), i32>,
    calls: u32,
    /// What this instance has counted since it was created (folded into the protocol's
    /// account when it retires).
    counters: ProtocolCounters,
    /// Node time of its last evaluation, for idle reclamation.
    last_used: Timestamp,
}

/// Runs capsules of many protocols, each in its own instance, within [`SandboxLimits`].
pub struct Sandbox {
    compiler: Compiler,
    /// Live instances, most recently used last out; at most `max_live_instances` between
    /// evaluations.
    instances: LruCache<Fingerprint, LiveInstance>,
    /// Per-protocol records of instances that retired.
    accounts: Accounts,
    stats: SandboxStats,
    /// Fuel the last evaluation burnt, host-call charges included.
    last_fuel: u64,
    /// Instantiation cost of the last evaluation (0 when its instance was warm).
    last_instantiation: u64,
    /// Whether evaluations are timed with the system clock (the daemon; not the emulator).
    timing: bool,
}

/// Builds the engine configuration for untrusted code, for the compiler of `tier`.
fn engine_config(limits: &SandboxLimits, tier: CompileTier) -> Config {
    let mut config = Config::new();
    config.strategy(match tier {
        CompileTier::Baseline => Strategy::Winch,
        CompileTier::Optimized => Strategy::Cranelift,
    });
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

impl Sandbox {
    /// A sandbox with its own engine, configured for untrusted code.
    pub fn new(limits: SandboxLimits) -> Result<Self, LoadError> {
        Ok(Sandbox::with_compiler(Compiler {
            baseline: TierEngine::new(&limits, CompileTier::Baseline)?,
            optimized: TierEngine::new(&limits, CompileTier::Optimized)?,
            limits: Arc::new(limits),
        }))
    }

    /// A sandbox sharing another sandbox's engine, node API definition and limits (those of
    /// `compiler`). Modules compiled by any sandbox of that engine run in this one, so an
    /// emulator of many nodes compiles each module once instead of once per node. Instances
    /// and their stores stay per sandbox: sharing the engine shares no guest state.
    pub fn with_compiler(compiler: Compiler) -> Self {
        let accounts = Accounts::new(compiler.limits.max_protocol_accounts);
        Sandbox {
            compiler,
            // Bounded by `max_live_instances` after each evaluation (`trim`), so the instance
            // that is evicted can hand its counters to its protocol's account.
            instances: LruCache::unbounded(),
            accounts,
            stats: SandboxStats::default(),
            last_fuel: 0,
            last_instantiation: 0,
            timing: false,
        }
    }

    /// Times every evaluation with the system clock, for the per-protocol CPU figures. Off by
    /// default: the emulator's reports must not depend on the machine.
    pub fn set_timing(&mut self, on: bool) {
        self.timing = on;
    }

    /// The limits this sandbox enforces.
    pub fn limits(&self) -> &SandboxLimits {
        &self.compiler.limits
    }

    /// A handle that validates and compiles with this sandbox's engine (cheap clone).
    pub fn compiler(&self) -> Compiler {
        self.compiler.clone()
    }

    /// Validates and compiles on the calling thread. See [`Compiler::compile`].
    pub fn compile(
        &self,
        fingerprint: Fingerprint,
        bytes: &[u8],
    ) -> Result<CompiledCapsule, LoadError> {
        self.compiler.compile(fingerprint, bytes)
    }

    /// Counters so far.
    pub fn stats(&self) -> SandboxStats {
        self.stats
    }

    /// What `fingerprint` has cost so far: its record plus its live instance's counts. `None`
    /// for a protocol never evaluated here (or forgotten, see `max_protocol_accounts`).
    pub fn protocol(&self, fingerprint: &Fingerprint) -> Option<ProtocolCounters> {
        let live = self.instances.peek(fingerprint).map(|l| l.counters);
        match (self.accounts.counters(fingerprint), live) {
            (None, None) => None,
            (a, l) => {
                let mut total = a.unwrap_or_default();
                total.merge(&l.unwrap_or_default());
                Some(total)
            }
        }
    }

    /// Fuel the last evaluation burnt, host-call charges included (0 if it never started).
    pub fn last_fuel(&self) -> u64 {
        self.last_fuel
    }

    /// What the last evaluation cost the node, in fuel: its fuel, plus the fuel-equivalent
    /// cost of the instance it had to create, if it created one (memory mapped and touched
    /// afresh, which no fuel counts). What the fair share charges.
    pub fn last_cost(&self) -> u64 {
        self.last_fuel + self.last_instantiation
    }

    /// Whether `fingerprint` has a live instance.
    pub fn has_instance(&self, fingerprint: &Fingerprint) -> bool {
        self.instances.contains(fingerprint)
    }

    /// Protocols with a live instance.
    pub fn live_instances(&self) -> usize {
        self.instances.len()
    }

    /// Drops the live instance of a protocol (e.g. when its code leaves the soft-store).
    pub fn forget(&mut self, fingerprint: &Fingerprint) {
        if let Some(live) = self.instances.pop(fingerprint) {
            self.retire(*fingerprint, live);
        }
    }

    /// Drops every instance unused since `now - idle_instance_timeout`, so that memory a
    /// flood of protocols touched is given back. Returns how many went.
    pub fn reclaim_idle(&mut self, now: Timestamp) -> usize {
        let idle = self.compiler.limits.idle_instance_timeout;
        let mut dropped = 0;
        while let Some((_, live)) = self.instances.peek_lru() {
            if now.saturating_duration_since(live.last_used) < idle {
                break;
            }
            if let Some((fp, live)) = self.instances.pop_lru() {
                self.retire(fp, live);
                self.stats.reclaimed_idle += 1;
                dropped += 1;
            }
        }
        dropped
    }

    /// When the least recently used instance becomes idle (see [`Sandbox::reclaim_idle`]).
    pub fn next_idle_deadline(&self) -> Option<Timestamp> {
        self.instances
            .peek_lru()
            .map(|(_, live)| live.last_used + self.compiler.limits.idle_instance_timeout)
    }

    /// Evaluates `capsule` with `code`, the compiled module of its type.
    ///
    /// `capsule.budget` must already be this hop's remaining budget (the node decrements it
    /// before evaluation). On success the effects are in `ctx.effects`; on error they are
    /// cleared (a stopped capsule has no effects) and the reason is counted.
    pub fn evaluate(
        &mut self,
        code: &CompiledCapsule,
        capsule: &CapsuleRepr<'_>,
        ctx: &mut NodeContext,
    ) -> Result<(), EvalError> {
        self.stats.evaluations += 1;
        self.last_fuel = 0;
        self.last_instantiation = 0;
        ctx.effects.clear();
        let fp = code.fingerprint;
        let started = self.timing.then(std::time::Instant::now);
        // One map lookup on the common path (a warm instance, made most recently used); the
        // closure only runs on a miss.
        let Sandbox {
            compiler,
            instances,
            accounts,
            stats,
            last_instantiation,
            ..
        } = self;
        let live = match instances.try_get_or_insert_mut(fp, || {
            *last_instantiation = code.instantiation_cost;
            instantiate(compiler, accounts, stats, code, ctx.now)
        }) {
            Ok(live) => live,
            Err(e) => {
                self.count_error(e);
                let mut failed = ProtocolCounters {
                    evaluations: 1,
                    ..ProtocolCounters::default()
                };
                failed.stops.add(e);
                let bucket = self
                    .accounts
                    .log_bucket(&fp)
                    .unwrap_or(LogBucket::new(self.compiler.limits.log_burst));
                self.accounts.retire(fp, &failed, bucket);
                return Err(e);
            }
        };
        let limits = &self.compiler.limits;
        let fuel = limits.fuel_per_evaluation;
        live.last_used = ctx.now;
        live.store
            .set_epoch_deadline(epoch::deadline_ticks(limits.max_evaluation_time));
        let state = live.store.data_mut();
        state.load_capsule(capsule);
        state.limiter.denied = false;
        std::mem::swap(&mut state.ctx, ctx);
        let result = match live.store.set_fuel(fuel) {
            Ok(()) => live.evaluate.call(&mut live.store, ()),
            Err(e) => Err(e),
        };
        let left = live.store.get_fuel().unwrap_or(0);
        let state = live.store.data_mut();
        // Host-call charges not yet settled count as burnt (at most `cost::SETTLE_AT`).
        let burnt = fuel.saturating_sub(left) + std::mem::take(&mut state.fuel_debt);
        self.last_fuel = burnt;
        self.stats.fuel_consumed += burnt;
        std::mem::swap(&mut state.ctx, ctx);
        let counters = &mut live.counters;
        counters.evaluations += 1;
        counters.fuel_total += burnt;
        counters.fuel_max = counters.fuel_max.max(burnt);
        if let Some(started) = started {
            let ns = u64::try_from(started.elapsed().as_nanos()).unwrap_or(u64::MAX);
            counters.cpu_ns += ns;
            counters.cpu_max_ns = counters.cpu_max_ns.max(ns);
        }
        if std::mem::take(&mut state.any_error) {
            let mut errors = 0;
            for (total, n) in self
                .stats
                .host_call_errors
                .iter_mut()
                .zip(std::mem::take(&mut state.status_counts))
            {
                *total += n;
                errors += n;
            }
            let dropped = std::mem::take(&mut state.logs_dropped);
            self.stats.logs_rate_limited += dropped;
            counters.logs_dropped += dropped;
            counters.host_call_errors += errors;
        }
        live.calls += 1;

        let memory_denied = state.limiter.denied;
        let outcome = match result {
            Ok(0) => Ok(()),
            Ok(status) => Err(EvalError::CapsuleStatus(status)),
            Err(e) => Err(match classify(&e).unwrap_or(EvalError::OtherTrap) {
                // A refused `memory.grow` returns -1; a trap of the guest's own after it is the
                // guest giving up on allocation (a Rust panic), so name the limit instead.
                EvalError::Unreachable | EvalError::MemoryOutOfBounds | EvalError::OtherTrap
                    if memory_denied =>
                {
                    EvalError::MemoryLimit
                }
                other => other,
            }),
        };
        let recycle = live.calls >= limits.recycle_after_calls;
        match outcome {
            Ok(()) => {
                live.counters.completed += 1;
                self.stats.completed += 1;
            }
            Err(e) => {
                live.counters.stops.add(e);
                self.count_error(e);
                if e.poisons_instance() {
                    // Keep what the capsule logged before it died (a panic message is there);
                    // drop everything else it asked for, and the instance with it.
                    ctx.effects.discard_actions();
                    self.stats.discarded_after_trap += 1;
                    self.forget(&fp);
                    return outcome;
                }
            }
        }
        if recycle {
            self.stats.recycled += 1;
            self.forget(&fp);
        }
        self.trim();
        outcome
    }

    /// Drops least recently used instances beyond `max_live_instances`.
    fn trim(&mut self) {
        while self.instances.len() > self.compiler.limits.max_live_instances.max(1) {
            let Some((fp, live)) = self.instances.pop_lru() else {
                break;
            };
            self.stats.evicted += 1;
            self.retire(fp, live);
        }
    }

    /// Folds a dropped instance's counters and log bucket into its protocol's account.
    fn retire(&mut self, fp: Fingerprint, live: LiveInstance) {
        let bucket = live.store.data().log_bucket;
        self.accounts.retire(fp, &live.counters, bucket);
    }

    fn count_error(&mut self, e: EvalError) {
        let s = &mut self.stats;
        match e {
            EvalError::OutOfFuel => s.out_of_fuel += 1,
            EvalError::StackOverflow => s.stack_overflow += 1,
            EvalError::MemoryLimit => s.memory_limit += 1,
            EvalError::TimeLimit => s.time_limit += 1,
            EvalError::Unreachable | EvalError::MemoryOutOfBounds | EvalError::OtherTrap => {
                s.traps += 1
            }
            EvalError::Instantiation => s.instantiation_failed += 1,
            EvalError::CapsuleStatus(_) => s.capsule_errors += 1,
        }
    }
}

/// A fresh instance of `code` in its own store, with the sandbox's limits and the protocol's
/// log bucket. Modules have no start function (validation refuses one), so instantiation runs
/// no guest code; any failure (a data or element segment out of bounds, a limit) is
/// `instantiation_failed`.
fn instantiate(
    compiler: &Compiler,
    accounts: &Accounts,
    stats: &mut SandboxStats,
    code: &CompiledCapsule,
    now: Timestamp,
) -> Result<LiveInstance, EvalError> {
    stats.instantiations += 1;
    let limits = &compiler.limits;
    let mut state = HostState::new(limits);
    if let Some(bucket) = accounts.log_bucket(&code.fingerprint) {
        state.log_bucket = bucket;
    }
    // The engine of the compiler that made the code (baseline or optimized).
    let mut store = Store::new(code.pre.module().engine(), state);
    store.limiter(|s| &mut s.limiter);
    store.set_fuel(0).map_err(|_| EvalError::Instantiation)?;
    store.set_epoch_deadline(epoch::deadline_ticks(limits.max_evaluation_time));
    let instance = code
        .pre
        .instantiate(&mut store)
        .map_err(|_| EvalError::Instantiation)?;
    let memory = instance
        .get_memory(&mut store, capsule_sdk::abi::MEMORY_EXPORT)
        .ok_or(EvalError::Instantiation)?;
    store.data_mut().memory = Some(memory);
    let evaluate = instance
        .get_typed_func::<(), i32>(&mut store, capsule_sdk::abi::EVALUATE_EXPORT)
        .map_err(|_| EvalError::Instantiation)?;
    Ok(LiveInstance {
        store,
        evaluate,
        calls: 0,
        counters: ProtocolCounters {
            instantiations: 1,
            ..ProtocolCounters::default()
        },
        last_used: now,
    })
}

/// The declared minimum size of a module's linear memory, in bytes.
fn initial_memory_bytes(module: &Module) -> u64 {
    module
        .exports()
        .find_map(|e| e.ty().memory().map(|m| m.minimum()))
        .map_or(0, |pages| pages.saturating_mul(64 * 1024))
}

/// Names the reason a wasmtime call failed, if it is a sandbox stop rather than a host bug.
fn classify(e: &wasmtime::Error) -> Option<EvalError> {
    Some(match e.downcast_ref::<Trap>()? {
        Trap::OutOfFuel => EvalError::OutOfFuel,
        Trap::StackOverflow => EvalError::StackOverflow,
        Trap::UnreachableCodeReached => EvalError::Unreachable,
        Trap::MemoryOutOfBounds => EvalError::MemoryOutOfBounds,
        Trap::Interrupt => EvalError::TimeLimit,
        _ => EvalError::OtherTrap,
    })
}
