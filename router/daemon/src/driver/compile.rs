//! The compile worker: module compilation off the forwarding path.
//!
//! Owns the compile threads that turn [`Event::Compile`](ants_router::node::Event) into
//! [`CompiledCapsule`]s: `workers` long-lived threads take jobs from one queue, and each result
//! comes back to the driver loop through a channel, which hands it to
//! [`Node::compile_done`](ants_router::node::Node::compile_done). The driver loop itself never
//! compiles, so a flood of new code cannot stall capsules of protocols already loaded. The
//! threads live as long as the worker and compile a capsule-sized module when they start, so
//! no protocol's first capsule pays for a fresh thread's memory (tokio's blocking pool ends
//! idle threads after 10 s, so sporadic loads each paid it). This module never touches the
//! node: it only compiles what it is given.

use std::sync::mpsc as std_mpsc;
use std::sync::{Arc, Mutex};

use tokio::sync::mpsc;

use super::code_store::CodeStore;
use ants_router::fingerprint::Fingerprint;
use ants_router::sandbox::{CompileTier, CompiledCapsule, Compiler, LoadError};

/// A finished compilation.
pub(crate) struct CompileDone {
    pub fingerprint: Fingerprint,
    pub result: Result<CompiledCapsule, LoadError>,
}

/// One queued compilation.
struct Job {
    fingerprint: Fingerprint,
    bytes: Arc<[u8]>,
    tier: CompileTier,
}

/// Compiles modules on `workers` threads of its own. Dropping it lets the threads finish the
/// queued jobs and end.
pub(crate) struct CompileWorker {
    jobs: std_mpsc::Sender<Job>,
    /// Answers jobs that no thread can take, so that no load waits forever.
    done: mpsc::UnboundedSender<CompileDone>,
}

impl CompileWorker {
    /// A worker compiling with `compiler`; results arrive on the returned receiver. The
    /// channels are unbounded because the node bounds the compilations in flight
    /// (`demand.max_concurrent_compiles`), and a result must never be lost.
    pub fn new(
        compiler: Compiler,
        workers: usize,
        store: Option<Arc<CodeStore>>,
    ) -> (CompileWorker, mpsc::UnboundedReceiver<CompileDone>) {
        let (done, rx) = mpsc::unbounded_channel();
        let (jobs, queue) = std_mpsc::channel::<Job>();
        let queue = Arc::new(Mutex::new(queue));
        for i in 0..workers.max(1) {
            let (compiler, queue, done, store) = (
                compiler.clone(),
                Arc::clone(&queue),
                done.clone(),
                store.clone(),
            );
            let spawned = std::thread::Builder::new()
                .name(format!("ants-compile-{i}"))
                .spawn(move || compile_loop(&compiler, &queue, &done, store.as_deref()));
            if let Err(e) = spawned {
                // Fewer threads only means fewer compiles at once; with none, `submit`
                // answers every job with the error.
                tracing::error!("compile thread {i} not started: {e}");
            }
        }
        (CompileWorker { jobs, done }, rx)
    }

    /// Queues a compilation; its result is sent to the receiver when done.
    pub fn submit(&self, fingerprint: Fingerprint, bytes: Arc<[u8]>, tier: CompileTier) {
        let job = Job {
            fingerprint,
            bytes,
            tier,
        };
        // The queue is closed only when every thread has ended (none could start, or the
        // compile threads panicked): the load fails, and the node says why.
        if let Err(std_mpsc::SendError(job)) = self.jobs.send(job) {
            let _ = self.done.send(CompileDone {
                fingerprint: job.fingerprint,
                result: Err(LoadError::Rejected(
                    "no compile thread is running (see the log)".to_string(),
                )),
            });
        }
    }
}

/// One compile thread: warms up, then compiles jobs until the worker is dropped.
fn compile_loop(
    compiler: &Compiler,
    queue: &Mutex<std_mpsc::Receiver<Job>>,
    done: &mpsc::UnboundedSender<CompileDone>,
    store: Option<&CodeStore>,
) {
    compiler.warm_up_thread();
    loop {
        // The lock is held only while waiting for the next job, never while compiling.
        let job = match queue.lock() {
            Ok(queue) => queue.recv(),
            Err(_) => return,
        };
        let Ok(Job {
            fingerprint,
            bytes,
            tier,
        }) = job
        else {
            return;
        };
        // A panic in the compiler fails this load, not the thread.
        let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            compiler.compile_tier(fingerprint, &bytes, tier)
        }))
        .unwrap_or_else(|_| {
            Err(LoadError::Rejected(
                "the compiler stopped unexpectedly".to_string(),
            ))
        });
        let stored = result.as_ref().ok().cloned();
        // The receiver is gone only when the driver has stopped.
        let _ = done.send(CompileDone {
            fingerprint,
            result,
        });
        // Kept for the next start once the node has its code: neither the forwarding path
        // nor the capsules waiting for this compile wait for the disk (a synced write can
        // take milliseconds). This thread takes its next job once the entry is written.
        if let (Some(code), Some(store)) = (stored, store) {
            store.put(compiler, &bytes, &code);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ants_router::sandbox::{Sandbox, SandboxLimits};

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
