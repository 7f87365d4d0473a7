//! Demand loading: holding capsules of unknown types while their code is fetched, checked and
//! compiled.
//!
//! Owns the per-fingerprint [`Load`] state machine (fetching from one code source after
//! another, waiting for a compile slot, compiling), fragment reassembly with bounded memory,
//! re-requests of missing fragments with backoff, the fallback from the capsule's previous node
//! to its source, the admission bounds (concurrent loads, held capsules and bytes, loads per
//! peer per second, recently rejected fingerprints) and the compile bound. Described in
//! `docs/node.md`.
//!
//! It never compiles (the driver does, off the forwarding path, and answers through
//! [`Node::compile_done`]), never caches bytes that do not hash to their fingerprint, and never
//! drops a held capsule without counting it.
//!
//! The state types live here; the work is split by what it acts on: `fetch` asks code sources
//! and puts fragments together (with `reassembly`), `compile` queues verified modules for the
//! driver and takes its answers.

mod compile;
mod fetch;
mod reassembly;

use std::collections::VecDeque;
use std::net::IpAddr;
use std::sync::Arc;
use std::time::Duration;

use super::LoadStatus;
#[cfg(doc)]
use super::{Event, Node};
use crate::fingerprint::Fingerprint;
use crate::time::Timestamp;
use reassembly::Reassembly;

/// One protocol whose code is on its way.
pub(super) struct Load {
    /// Capsule frames waiting for the code, in arrival order.
    held: VecDeque<Vec<u8>>,
    /// Their total size.
    held_bytes: usize,
    /// Code sources, in the order they are asked.
    sources: Vec<IpAddr>,
    /// Index in `sources` of the one being asked.
    source: usize,
    /// Registered by a local application (pinned; no sources).
    registered: bool,
    /// Started by a capsule of an unknown type (counted in `loads_*`).
    on_demand: bool,
    /// Who this load's compile is charged to, for the fair turn between sources: the first
    /// capsule's previous node and source (`None` for a registered protocol, which goes first).
    origin: Option<(IpAddr, IpAddr)>,
    pub(super) phase: Phase,
}

/// Where a load stands.
pub(super) enum Phase {
    /// Asking `sources[source]` for fragments.
    Fetching(Fetch),
    /// The module is verified and cached; it waits for a compile slot.
    WaitingToCompile {
        bytes: Arc<[u8]>,
        from: Option<IpAddr>,
    },
    /// An [`Event::Compile`] is out; waiting for [`Node::compile_done`].
    Compiling {
        bytes: Arc<[u8]>,
        from: Option<IpAddr>,
    },
}

/// Fetching from one source.
pub(super) struct Fetch {
    peer: IpAddr,
    /// Requests sent to this peer, the first included.
    requests: u32,
    /// Cookies accepted from this peer for this fetch.
    cookies: u8,
    /// Current wait for the next fragment (doubles after each unanswered request).
    timeout: Duration,
    /// When to ask again (or give up on this peer).
    pub(super) deadline: Timestamp,
    /// Fragments so far, once the first announced the module's length.
    module: Option<Reassembly>,
}

impl Fetch {
    fn new(peer: IpAddr, now: Timestamp, timeout: Duration) -> Self {
        Fetch {
            peer,
            requests: 1,
            cookies: 0,
            timeout,
            deadline: now + timeout,
            module: None,
        }
    }
}

impl Load {
    fn new(registered: bool, phase: Phase) -> Self {
        Load {
            held: VecDeque::new(),
            held_bytes: 0,
            sources: Vec::new(),
            source: 0,
            registered,
            on_demand: false,
            origin: None,
            phase,
        }
    }

    /// The snapshot `ants status` shows.
    pub(super) fn status(&self, fp: &Fingerprint) -> LoadStatus {
        let (phase, source, received, total, requests) = match &self.phase {
            Phase::Fetching(f) => (
                "fetching",
                Some(f.peer.to_string()),
                f.module.as_ref().map_or(0, |m| m.received),
                f.module.as_ref().map(|m| m.have.len()),
                f.requests,
            ),
            Phase::WaitingToCompile { .. } => ("waiting_to_compile", None, 0, None, 0),
            Phase::Compiling { .. } => ("compiling", None, 0, None, 0),
        };
        LoadStatus {
            fingerprint: fp.to_string(),
            phase,
            source,
            fragments_received: received,
            fragments_total: total,
            held_capsules: self.held.len(),
            requests,
        }
    }
}
