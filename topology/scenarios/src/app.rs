//! What the scenarios' applications share: starting on a node ([`register`], noting the
//! node's name in a [`Named`] log), injecting one of their capsule's messages and counting the
//! refusals in their log ([`send`], [`Refusals`]), and virtual time since the start of a run
//! ([`at`], [`until`]). The logs implement the two traits with [`named!`] and [`refusals!`].
//!
//! It never decides what an application sends or when: callers give the message, the
//! capsule, the budget and the times.

use std::net::IpAddr;
use std::time::Duration;

use ants_emulator::{AppContext, AppError};
use ants_router::fingerprint::Fingerprint;
use ants_router::time::Timestamp;
use serde::Serialize;

use crate::Probe;

/// An application log that names the application's node.
pub(crate) trait Named {
    /// Notes the node's name.
    fn set_node(&mut self, node: String);
}

/// An application log that counts the capsules its node refused to take.
pub(crate) trait Refusals {
    /// Counts one more refusal, keeping the first `reason`.
    fn refused(&mut self, reason: String);
}

/// Implements [`Named`] for logs with a field `node: String`.
macro_rules! named {
    ($($log:ty),+) => {$(
        impl $crate::app::Named for $log {
            fn set_node(&mut self, node: String) {
                self.node = node;
            }
        }
    )+};
}

/// Implements [`Refusals`] for logs with the fields `send_errors` (a count) and
/// `first_error: Option<String>`.
macro_rules! refusals {
    ($($log:ty),+) => {$(
        impl $crate::app::Refusals for $log {
            fn refused(&mut self, reason: String) {
                self.send_errors += 1;
                self.first_error.get_or_insert(reason);
            }
        }
    )+};
}

pub(crate) use {named, refusals};

/// What an application does first on its node: notes the node's name in `log` and registers
/// `capsule` there. The capsule's fingerprint.
pub(crate) fn register<L: Named>(
    ctx: &mut AppContext<'_>,
    log: &Probe<L>,
    capsule: &str,
) -> Result<Fingerprint, AppError> {
    let node = ctx.node_name(ctx.node()).to_string();
    log.update(|l| l.set_node(node));
    ctx.register_capsule(capsule)
}

/// Encodes `message` (postcard; an encoding error says it was `what`) and injects it on the
/// application's node as a capsule of `fp` to `to` with `budget`. A refusal is counted in
/// `log`, not fatal. Whether the node took the capsule.
pub(crate) fn send<L: Refusals>(
    ctx: &mut AppContext<'_>,
    log: &Probe<L>,
    fp: Fingerprint,
    to: IpAddr,
    budget: u16,
    what: &str,
    message: &impl Serialize,
) -> bool {
    let result = postcard::to_allocvec(message)
        .map_err(|e| AppError::Other(format!("{what}: {e}")))
        .and_then(|p| ctx.send_capsule(fp, to, budget, &p));
    match result {
        Ok(()) => true,
        Err(e) => {
            log.update(|l| l.refused(e.to_string()));
            false
        }
    }
}

/// The virtual time `since_start` after the start of the run.
pub(crate) fn at(since_start: Duration) -> Timestamp {
    Timestamp::ZERO + since_start
}

/// Time from now until `since_start` after the start of the run; zero if that has passed.
pub(crate) fn until(ctx: &AppContext<'_>, since_start: Duration) -> Duration {
    at(since_start).saturating_duration_since(ctx.now())
}
