//! The wall-clock backstop: a thread that advances an engine's epoch at a fixed tick.
//!
//! Owns the ticker thread. Wasmtime checks the epoch at every function entry and loop head; a
//! store whose deadline (in ticks) has passed stops with a trap that the sandbox names
//! `time_limit`. Fuel bounds what it can see deterministically; this bounds everything else (a
//! machine far slower than the fuel costs assume, work no fuel is charged for). The thread
//! holds only a weak reference and ends within one tick of the engine's last handle.

use std::time::Duration;

use wasmtime::Engine;

/// How often the epoch advances: the backstop's resolution.
pub(crate) const TICK: Duration = Duration::from_millis(1);

/// Starts the ticker of `engine`. If the thread cannot be spawned, evaluations are still
/// bounded by fuel; the backstop is then missing and a warning says so.
pub(crate) fn start_ticker(engine: &Engine) {
    let weak = engine.weak();
    let spawned = std::thread::Builder::new()
        .name("ants-epoch".to_string())
        .spawn(move || {
            while let Some(engine) = weak.upgrade() {
                engine.increment_epoch();
                drop(engine);
                std::thread::sleep(TICK);
            }
        });
    if let Err(e) = spawned {
        tracing::warn!("no wall-clock backstop for capsule evaluations: {e}");
    }
}

/// Ticks of deadline for an evaluation allowed `limit` of wall-clock time: one more than the
/// limit covers, because the evaluation may start just before a tick.
pub(crate) fn deadline_ticks(limit: Duration) -> u64 {
    let tick = TICK.as_nanos();
    (limit.as_nanos().div_ceil(tick) as u64).saturating_add(1)
}
