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
mod compiler;
mod complexity;
mod context;
mod cost;
mod epoch;
mod error;
mod host;
mod limits;
mod validate;
mod warm_up;

use lru::LruCache;
use wasmtime::{Store, Trap, TypedFunc};

pub use account::{ProtocolCounters, StopCounters};
pub use context::{
    Bytes, Delivery, Effects, LogLevel, LogRecord, NodeContext, SendRoute, SentCapsule,
};
pub use error::{EvalError, LoadError};
pub use limits::SandboxLimits;
pub use validate::{ExportShape, ImportShape, ModuleShape};

use crate::fingerprint::Fingerprint;
use crate::time::Timestamp;
use crate::wire::CapsuleRepr;
use account::Accounts;
use host::{HostState, LogBucket};

pub use compiler::{CompileTier, CompiledCapsule, Compiler};
pub use complexity::Complexity;

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

impl Sandbox {
    /// A sandbox with its own engine, configured for untrusted code.
    pub fn new(limits: SandboxLimits) -> Result<Self, LoadError> {
        Ok(Sandbox::with_compiler(Compiler::new(limits)?))
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
