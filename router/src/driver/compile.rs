//! The compile worker: module compilation off the forwarding path.
//!
//! Owns the bounded pool that turns [`Event::Compile`](crate::node::Event) into
//! [`CompiledCapsule`]s: each job runs on tokio's blocking pool, at most `workers` at once,
//! and its result comes back to the driver loop through a channel, which hands it to
//! [`Node::compile_done`](crate::node::Node::compile_done). The driver loop itself never
//! compiles, so a flood of new code cannot stall capsules of protocols already loaded. This
//! module never touches the node: it only compiles what it is given.

use std::sync::Arc;

use tokio::sync::{Semaphore, mpsc};

use super::code_store::CodeStore;
use crate::fingerprint::Fingerprint;
use crate::sandbox::{CompileTier, CompiledCapsule, Compiler, LoadError};

/// A finished compilation.
pub(crate) struct CompileDone {
    pub fingerprint: Fingerprint,
    pub result: Result<CompiledCapsule, LoadError>,
}

/// Compiles modules on the blocking pool, at most `workers` at once.
pub(crate) struct CompileWorker {
    compiler: Compiler,
    permits: Arc<Semaphore>,
    done: mpsc::UnboundedSender<CompileDone>,
    /// Where compiled code is kept across restarts, if anywhere.
    store: Option<Arc<CodeStore>>,
}

impl CompileWorker {
    /// A worker compiling with `compiler`; results arrive on the returned receiver. The
    /// channel is unbounded because the node bounds the compilations in flight
    /// (`demand.max_concurrent_compiles`), and a result must never be lost.
    pub fn new(
        compiler: Compiler,
        workers: usize,
        store: Option<Arc<CodeStore>>,
    ) -> (CompileWorker, mpsc::UnboundedReceiver<CompileDone>) {
        let (done, rx) = mpsc::unbounded_channel();
        let worker = CompileWorker {
            compiler,
            permits: Arc::new(Semaphore::new(workers.max(1))),
            done,
            store,
        };
        (worker, rx)
    }

    /// Queues a compilation; its result is sent to the receiver when done.
    pub fn submit(&self, fingerprint: Fingerprint, bytes: Arc<[u8]>, tier: CompileTier) {
        let compiler = self.compiler.clone();
        let permits = Arc::clone(&self.permits);
        let done = self.done.clone();
        let store = self.store.clone();
        tokio::spawn(async move {
            // The semaphore is never closed, so acquiring only waits for a free worker.
            let _permit = permits.acquire_owned().await;
            let job = {
                let (compiler, bytes) = (compiler.clone(), Arc::clone(&bytes));
                tokio::task::spawn_blocking(move || {
                    compiler.compile_tier(fingerprint, &bytes, tier)
                })
            };
            let result = job.await.unwrap_or_else(|e| {
                Err(LoadError::Rejected(format!(
                    "the compiler stopped unexpectedly: {e}"
                )))
            });
            let stored = match (&result, store) {
                (Ok(code), Some(store)) => Some((code.clone(), store)),
                _ => None,
            };
            // The receiver is gone only when the driver has stopped.
            let _ = done.send(CompileDone {
                fingerprint,
                result,
            });
            // Kept for the next start once the node has its code: neither the forwarding path
            // nor the capsules waiting for this compile wait for the disk (a synced write can
            // take milliseconds). The worker's permit is held until the entry is written.
            if let Some((code, store)) = stored {
                let _ =
                    tokio::task::spawn_blocking(move || store.put(&compiler, &bytes, &code)).await;
            }
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sandbox::{Sandbox, SandboxLimits};

    #[tokio::test]
    async fn compiles_valid_modules_and_reports_invalid_ones() {
        let sandbox = Sandbox::new(SandboxLimits::default()).unwrap();
        let (worker, mut rx) = CompileWorker::new(sandbox.compiler(), 1, None);
        let good = wat::parse_str(
            r#"(module (memory (export "memory") 1)
                 (func (export "ants_evaluate") (result i32) i32.const 0))"#,
        )
        .unwrap();
        let bad = b"\0asm\x01\0\0\0garbage".to_vec();
        let (fg, fb) = (Fingerprint::sha256(&good), Fingerprint::sha256(&bad));
        worker.submit(fg, good.into(), CompileTier::Baseline);
        worker.submit(fb, bad.into(), CompileTier::Baseline);
        let mut seen = Vec::new();
        for _ in 0..2 {
            let d = rx.recv().await.unwrap();
            seen.push((d.fingerprint, d.result.is_ok()));
        }
        seen.sort();
        let mut want = vec![(fg, true), (fb, false)];
        want.sort();
        assert_eq!(seen, want);
    }
}
