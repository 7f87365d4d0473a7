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

use std::collections::VecDeque;
use std::mem;
use std::net::IpAddr;
use std::sync::Arc;
use std::time::Duration;

use super::{DropReason, Event, LoadStatus, Node, Transmit};
use crate::fingerprint::Fingerprint;
use crate::routing::NextHop;
use crate::sandbox::{CompileTier, CompiledCapsule, LoadError};
use crate::time::Timestamp;
use crate::wire::{
    CapsulePacket, CapsuleRepr, CodeAnnounceRepr, CodeCookieRepr, CodeFragmentRepr,
    CodeMissingRepr, CodeRequestRepr, fragment_count, fragment_range, max_mask_len,
};

/// Code sources one load may try: the first capsule's previous node and source, and those of
/// capsules that joined the wait with other ones.
const MAX_SOURCES: usize = 4;

/// Cookies one fetch accepts from its source; each re-sends the request at once. A source (or
/// an attacker spoofing it) that keeps answering with cookies gets no more requests than this.
const MAX_COOKIES_PER_FETCH: u8 = 2;

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

/// A module being put back together from fragments. Its buffer is allocated once, at the
/// announced length, which is checked against the module size limit first.
struct Reassembly {
    len: u32,
    buf: Vec<u8>,
    have: Vec<bool>,
    received: usize,
}

impl Reassembly {
    fn new(len: u32) -> Self {
        let count = fragment_count(len) as usize;
        Reassembly {
            len,
            buf: vec![0; len as usize],
            have: vec![false; count],
            received: 0,
        }
    }

    /// Stores one fragment; true when the module is complete.
    fn insert(&mut self, fragment: &CodeFragmentRepr<'_>) -> Result<bool, DropReason> {
        if fragment.module_len != self.len {
            return Err(DropReason::FragmentMismatch);
        }
        // The wire layer checked index, count and data length against the module length.
        let range = fragment_range(self.len, fragment.index).ok_or(DropReason::FragmentMismatch)?;
        let slot = self
            .have
            .get_mut(usize::from(fragment.index))
            .ok_or(DropReason::FragmentMismatch)?;
        if *slot {
            return Err(DropReason::DuplicateFragment);
        }
        let dst = self
            .buf
            .get_mut(range)
            .ok_or(DropReason::FragmentMismatch)?;
        if dst.len() != fragment.data.len() {
            return Err(DropReason::FragmentMismatch);
        }
        dst.copy_from_slice(fragment.data);
        *slot = true;
        self.received += 1;
        Ok(self.received == self.have.len())
    }

    /// A request for the fragments still missing: the first missing index and a mask up to
    /// the last one, cut at `max_mask` bytes (the rest is asked for in a later round).
    fn missing(&self, max_mask: usize) -> (u16, Vec<u8>) {
        let Some(first) = self.have.iter().position(|h| !h) else {
            return (0, Vec::new());
        };
        let last = self.have.iter().rposition(|h| !h).unwrap_or(first);
        let bits = (last - first + 1).min(max_mask.saturating_mul(8));
        let mut mask = vec![0u8; bits.div_ceil(8)];
        for i in 0..bits {
            if !self.have[first + i] {
                mask[i / 8] |= 0x80 >> (i % 8);
            }
        }
        // Fragment indexes fit in u16 (the wire bounds the count).
        (u16::try_from(first).unwrap_or(u16::MAX), mask)
    }
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

/// Appends the code sources a capsule names (previous node, then source) that `may_ask`
/// allows, skipping this node and those already listed, up to [`MAX_SOURCES`].
fn add_sources(
    sources: &mut Vec<IpAddr>,
    capsule: &CapsuleRepr<'_>,
    me: IpAddr,
    may_ask: impl Fn(IpAddr) -> bool,
) {
    for peer in [capsule.previous, capsule.source] {
        if peer != me && !sources.contains(&peer) && sources.len() < MAX_SOURCES && may_ask(peer) {
            sources.push(peer);
        }
    }
}

impl Node {
    /// A capsule whose compiled code is not cached: hold it and load the code, or drop it.
    pub(super) fn on_miss(&mut self, from: Option<IpAddr>, bytes: &[u8], repr: &CapsuleRepr<'_>) {
        let fp = repr.fingerprint;
        if let Some(until) = self.rejected.peek(&fp).map(|r| r.until) {
            if self.now < until {
                return self.drop_with(DropReason::ModuleRejected, Some(fp));
            }
            self.rejected.pop(&fp);
        }
        if self.loads.contains_key(&fp) {
            if let Err(reason) = self.hold(fp, bytes) {
                return self.drop_with(reason, Some(fp));
            }
            let me = self.config.address;
            let known: Vec<bool> = [repr.previous, repr.source]
                .iter()
                .map(|n| self.may_ask(*n))
                .collect();
            if let Some(load) = self.loads.get_mut(&fp)
                && !load.registered
            {
                add_sources(&mut load.sources, repr, me, |n| {
                    (n == repr.previous && known[0]) || (n == repr.source && known[1])
                });
            }
            return;
        }
        let demand = &self.config.demand;
        if self.loads.len() >= demand.max_concurrent_loads {
            return self.drop_with(DropReason::TooManyLoads, Some(fp));
        }
        if self.held_bytes.saturating_add(bytes.len()) > demand.max_held_bytes
            || demand.max_held_per_protocol == 0
        {
            return self.drop_with(DropReason::QueueFull, Some(fp));
        }
        let me = self.config.address;
        if repr.previous != me && !self.is_known(repr.previous) {
            self.stats.unknown_previous += 1;
        }
        let mut sources = Vec::new();
        add_sources(&mut sources, repr, me, |n| self.may_ask(n));
        let Some(&first) = sources.first() else {
            // Nobody this node may ask: previous node and source are this node (yet the code
            // is not here), or nodes it does not know.
            let reason = if repr.previous == me && repr.source == me {
                DropReason::CodeUnavailable
            } else {
                DropReason::UnknownCodeSource
            };
            return self.drop_with(reason, Some(fp));
        };
        // The sender (or the previous node it claims) and the source each pay for the load.
        let neighbour = from.unwrap_or(repr.previous);
        let mut payers = [Some(neighbour), Some(repr.source)];
        if repr.source == neighbour {
            payers[1] = None;
        }
        let payers = payers.into_iter().flatten().filter(|p| *p != me);
        if !payers
            .clone()
            .all(|p| self.load_limiter.allows(p, 1, self.now))
        {
            return self.drop_with(DropReason::LoadRateLimited, Some(fp));
        }
        for p in payers {
            self.load_limiter.take(p, 1, self.now);
        }
        let fetch = Fetch::new(first, self.now, demand.fragment_timeout);
        let mut load = Load::new(false, Phase::Fetching(fetch));
        load.sources = sources;
        load.on_demand = true;
        load.origin = Some((repr.previous, repr.source));
        self.loads.insert(fp, load);
        self.stats.loads_started += 1;
        if let Err(reason) = self.hold(fp, bytes) {
            self.drop_with(reason, Some(fp));
        }
        tracing::debug!(fingerprint = %fp, source = %first, "demand load started");
        self.send_request(fp, first, 0, Vec::new());
    }

    /// Whether a code request may go to `node` (see [`DemandLimits::ask_unknown_nodes`]).
    ///
    /// [`DemandLimits::ask_unknown_nodes`]: super::DemandLimits::ask_unknown_nodes
    fn may_ask(&self, node: IpAddr) -> bool {
        self.config.demand.ask_unknown_nodes || self.is_known(node)
    }

    /// Adds a capsule frame to the wait of an existing load, within the bounds.
    fn hold(&mut self, fp: Fingerprint, bytes: &[u8]) -> Result<(), DropReason> {
        let demand = &self.config.demand;
        let Some(load) = self.loads.get_mut(&fp) else {
            return Err(DropReason::CodeUnavailable);
        };
        if load.held.len() >= demand.max_held_per_protocol
            || self.held_bytes.saturating_add(bytes.len()) > demand.max_held_bytes
        {
            return Err(DropReason::QueueFull);
        }
        let mut frame = bytes.to_vec();
        // Held with the clamped budget, so its release is not clamped (and counted) again.
        if let Ok(mut packet) = CapsulePacket::new_checked(&mut frame[..])
            && packet.budget() > self.config.max_budget
        {
            packet.set_budget(self.config.max_budget);
        }
        load.held.push_back(frame);
        load.held_bytes += bytes.len();
        self.held_bytes += bytes.len();
        self.stats.capsules_held += 1;
        Ok(())
    }

    fn send_request(&mut self, fp: Fingerprint, to: IpAddr, first: u16, mask: Vec<u8>) {
        // An address a capsule named (`ask_unknown_nodes`) is asked at a bounded rate, so
        // capsules cannot aim this node's requests at a victim.
        if !self.is_known(to) && !self.request_limiter.take(to, 1, self.now) {
            self.stats.requests_suppressed += 1;
            return;
        }
        let request = CodeRequestRepr {
            fingerprint: fp,
            first,
            mask: &mask,
            cookie: self.jar.get(to),
        };
        match request.to_vec() {
            Ok(bytes) => {
                self.transmits.push_back(Transmit { to, bytes });
                self.stats.code_requests_sent += 1;
            }
            Err(_) => self.stats.drops.add(DropReason::EncodeFailed),
        }
    }

    /// A code fragment arrived.
    pub(super) fn on_code_fragment(
        &mut self,
        from: Option<IpAddr>,
        fragment: &CodeFragmentRepr<'_>,
    ) {
        let fp = fragment.fingerprint;
        let max_module = self.config.sandbox.max_module_bytes;
        let Some(load) = self.loads.get_mut(&fp) else {
            return self.drop_with(DropReason::UnsolicitedCode, Some(fp));
        };
        let Phase::Fetching(fetch) = &mut load.phase else {
            // The module is complete already (an answer to a re-request crossed it).
            return self.drop_with(DropReason::DuplicateFragment, Some(fp));
        };
        // Only the node asked may answer, and the driver names a sender only when its socket
        // address is the one configured for that node: a frame from an unknown socket, or from
        // another node, changes nothing.
        if from != Some(fetch.peer) {
            return self.drop_with(DropReason::UnsolicitedCode, Some(fp));
        }
        if fragment.module_len as usize > max_module {
            tracing::debug!(fingerprint = %fp, source = %fetch.peer, len = fragment.module_len,
                "code source announced a module over the size limit");
            self.drop_with(DropReason::ModuleTooLarge, Some(fp));
            return self.next_source(fp);
        }
        let module = fetch
            .module
            .get_or_insert_with(|| Reassembly::new(fragment.module_len));
        match module.insert(fragment) {
            Err(reason) => self.drop_with(reason, Some(fp)),
            Ok(complete) => {
                self.stats.fragments_received += 1;
                // Progress: wait a full timeout for the next one.
                fetch.deadline = self.now + fetch.timeout;
                if complete {
                    let peer = fetch.peer;
                    let bytes = fetch.module.take().map(|m| m.buf).unwrap_or_default();
                    self.module_complete(fp, peer, bytes);
                }
            }
        }
    }

    /// All fragments are in: check the hash, cache the bytes (so this node can serve them
    /// downstream while it compiles) and queue the compilation.
    fn module_complete(&mut self, fp: Fingerprint, peer: IpAddr, bytes: Vec<u8>) {
        if !fp.matches(&bytes) {
            tracing::warn!(fingerprint = %fp, source = %peer,
                "code source served a module that does not hash to its type; trying the next source");
            self.drop_with(DropReason::HashMismatch, Some(fp));
            return self.next_source(fp);
        }
        let bytes: Arc<[u8]> = bytes.into();
        match self.code.insert(fp, bytes.clone()) {
            Ok(evicted) => {
                self.evicted(evicted);
                self.cached.insert(fp);
            }
            Err(e) => {
                tracing::warn!(fingerprint = %fp, "loaded module not cached: {e}");
                return self.fail_load(fp, DropReason::CodeCacheFull);
            }
        }
        self.announce_to_next_hops(fp, peer);
        if let Some(load) = self.loads.get_mut(&fp) {
            load.phase = Phase::WaitingToCompile {
                bytes,
                from: Some(peer),
            };
            self.compile_queue.push_back(fp);
        }
        self.start_compiles();
    }

    /// Tells the neighbours the held capsules go to next that this module is here, so they
    /// ask for it now and compile it while this node does (before the capsule reaches them).
    /// The next hop is the routing table's toward each capsule's destination: a capsule's
    /// code may still send it elsewhere, and then that neighbour only loaded early.
    fn announce_to_next_hops(&mut self, fp: Fingerprint, source: IpAddr) {
        if !self.config.demand.announce_code {
            return;
        }
        let Some(load) = self.loads.get(&fp) else {
            return;
        };
        let me = self.config.address;
        let mut targets: Vec<IpAddr> = Vec::new();
        for frame in &load.held {
            let Ok(packet) = CapsulePacket::new_checked(&frame[..]) else {
                continue;
            };
            if let Some(NextHop::Neighbour(n)) = self.ctx.routing.lookup(packet.destination(), me)
                && n != source
                && n != me
                && !targets.contains(&n)
            {
                targets.push(n);
            }
        }
        for to in targets {
            let bytes = CodeAnnounceRepr { fingerprint: fp }.to_vec();
            self.transmits.push_back(Transmit { to, bytes });
            self.stats.announces_sent += 1;
        }
    }

    /// A neighbour announced a module it has just loaded: start loading it from that
    /// neighbour now, unless it is here, loading, rejected, or there is no room.
    pub(super) fn on_code_announce(&mut self, from: Option<IpAddr>, announce: &CodeAnnounceRepr) {
        let fp = announce.fingerprint;
        // Only a configured neighbour's announce counts: it only says whom to ask.
        let Some(neighbour) = from.filter(|n| self.ctx.routing.neighbour(*n).is_some()) else {
            return self.drop_with(DropReason::UnsolicitedCode, Some(fp));
        };
        let demand = &self.config.demand;
        let rejected = self.rejected.peek(&fp).is_some_and(|r| self.now < r.until);
        if !demand.announce_code
            || !self.config.fingerprints.accepts(fp.algorithm())
            || self.code.contains(&fp)
            || self.loads.contains_key(&fp)
            || rejected
            || self.loads.len() >= demand.max_concurrent_loads
            || !self.load_limiter.take(neighbour, 1, self.now)
        {
            self.stats.announces_ignored += 1;
            return;
        }
        let fetch = Fetch::new(neighbour, self.now, demand.fragment_timeout);
        let mut load = Load::new(false, Phase::Fetching(fetch));
        load.sources = vec![neighbour];
        load.on_demand = true;
        load.origin = Some((neighbour, neighbour));
        self.loads.insert(fp, load);
        self.stats.loads_started += 1;
        self.stats.announces_received += 1;
        tracing::debug!(fingerprint = %fp, source = %neighbour, "announced: loading ahead");
        self.send_request(fp, neighbour, 0, Vec::new());
    }

    /// A code-missing answer arrived: the asked source does not hold the module.
    pub(super) fn on_code_missing(&mut self, from: Option<IpAddr>, missing: &CodeMissingRepr) {
        let fp = missing.fingerprint;
        let asked = match self.loads.get(&fp).map(|l| &l.phase) {
            Some(Phase::Fetching(f)) => from == Some(f.peer),
            _ => false,
        };
        if !asked {
            return self.drop_with(DropReason::UnsolicitedCode, Some(fp));
        }
        self.stats.code_missing_received += 1;
        self.next_source(fp);
    }

    /// A code cookie arrived: the asked source wants its cookie echoed before it sends code.
    pub(super) fn on_code_cookie(&mut self, from: Option<IpAddr>, answer: &CodeCookieRepr) {
        let fp = answer.fingerprint;
        let now = self.now;
        let Some(Phase::Fetching(fetch)) = self.loads.get_mut(&fp).map(|l| &mut l.phase) else {
            return self.drop_with(DropReason::UnsolicitedCode, Some(fp));
        };
        if from != Some(fetch.peer) || fetch.cookies >= MAX_COOKIES_PER_FETCH {
            return self.drop_with(DropReason::UnsolicitedCode, Some(fp));
        }
        fetch.cookies += 1;
        fetch.deadline = now + fetch.timeout;
        let (peer, (first, mask)) = match &fetch.module {
            None => (fetch.peer, (0, Vec::new())),
            Some(m) => (fetch.peer, m.missing(max_mask_len(fp.algorithm(), true))),
        };
        self.jar.put(peer, answer.cookie);
        self.stats.cookies_received += 1;
        self.send_request(fp, peer, first, mask);
    }

    /// Turns to the load's next code source, or gives up when none is left.
    fn next_source(&mut self, fp: Fingerprint) {
        let timeout = self.config.demand.fragment_timeout;
        let Some(load) = self.loads.get_mut(&fp) else {
            return;
        };
        load.source += 1;
        let Some(&peer) = load.sources.get(load.source) else {
            return self.fail_load(fp, DropReason::CodeUnavailable);
        };
        // A fresh start: fragments of a source that failed are not mixed with another's.
        load.phase = Phase::Fetching(Fetch::new(peer, self.now, timeout));
        self.stats.load_fallbacks += 1;
        tracing::debug!(fingerprint = %fp, source = %peer, "asking the next code source");
        self.send_request(fp, peer, 0, Vec::new());
    }

    /// Ends a load without code: every held capsule is dropped under `reason`.
    fn fail_load(&mut self, fp: Fingerprint, reason: DropReason) {
        let Some(load) = self.loads.remove(&fp) else {
            return;
        };
        self.held_bytes -= load.held_bytes;
        for _ in &load.held {
            self.stats.drops.add(reason);
        }
        self.compile_queue.retain(|f| *f != fp);
        if load.on_demand {
            self.stats.loads_failed += 1;
        }
        tracing::debug!(fingerprint = %fp, reason = reason.name(), dropped = load.held.len(),
            "demand load failed");
    }

    /// The earliest fetch deadline.
    pub(super) fn next_load_deadline(&self) -> Option<Timestamp> {
        self.loads
            .values()
            .filter_map(|l| match &l.phase {
                Phase::Fetching(f) => Some(f.deadline),
                _ => None,
            })
            .min()
    }

    /// Re-asks for missing fragments, with backoff, or falls back to the next source.
    pub(super) fn load_timeouts(&mut self) {
        let now = self.now;
        let due: Vec<Fingerprint> = self
            .loads
            .iter()
            .filter(|(_, l)| matches!(&l.phase, Phase::Fetching(f) if f.deadline <= now))
            .map(|(fp, _)| *fp)
            .collect();
        let demand = &self.config.demand;
        let (max_retries, max_timeout) = (demand.max_retries, demand.max_fragment_timeout);
        for fp in due {
            let Some(Phase::Fetching(fetch)) = self.loads.get_mut(&fp).map(|l| &mut l.phase) else {
                continue;
            };
            if fetch.requests > max_retries {
                tracing::debug!(fingerprint = %fp, source = %fetch.peer, "code source timed out");
                self.next_source(fp);
                continue;
            }
            let (first, mask) = match &fetch.module {
                None => (0, Vec::new()),
                Some(m) => m.missing(max_mask_len(fp.algorithm(), true)),
            };
            fetch.requests += 1;
            fetch.timeout = (fetch.timeout * 2).min(max_timeout);
            fetch.deadline = now + fetch.timeout;
            let peer = fetch.peer;
            self.stats.code_requests_retried += 1;
            self.send_request(fp, peer, first, mask);
        }
    }

    /// A registered module: compile it unless it already is, ahead of demand-loaded ones.
    pub(super) fn register_load(&mut self, fp: Fingerprint, bytes: Arc<[u8]>) {
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
    pub(super) fn start_compiles(&mut self) {
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
    pub(super) fn finish_compile(
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
                self.rejected.put(fp, super::Rejection::new(until, &e));
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
            self.cached.insert(fp);
        }
        let size = compiled.compiled_len();
        let evicted = self.code.attach_compiled(fp, compiled, size)?;
        self.evicted(evicted);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fragment(module: &[u8], index: u16) -> CodeFragmentRepr<'_> {
        CodeFragmentRepr::fragment(Fingerprint::sha256(module), module, index).unwrap()
    }

    #[test]
    fn reassembles_in_any_order_and_names_what_is_missing() {
        let module: Vec<u8> = (0..5000u32).map(|i| i as u8).collect();
        let mut r = Reassembly::new(5000);
        assert_eq!(r.missing(8), (0, vec![0b1111_1000]));
        assert_eq!(r.insert(&fragment(&module, 4)), Ok(false));
        assert_eq!(r.insert(&fragment(&module, 1)), Ok(false));
        assert_eq!(
            r.insert(&fragment(&module, 1)),
            Err(DropReason::DuplicateFragment)
        );
        // Missing 0, 2, 3: first 0, bits 0, 2, 3.
        assert_eq!(r.missing(8), (0, vec![0b1011_0000]));
        assert_eq!(r.insert(&fragment(&module, 0)), Ok(false));
        assert_eq!(r.missing(8), (2, vec![0b1100_0000]));
        assert_eq!(r.insert(&fragment(&module, 3)), Ok(false));
        assert_eq!(r.insert(&fragment(&module, 2)), Ok(true));
        assert_eq!(r.buf, module);
    }

    #[test]
    fn refuses_fragments_of_another_length_and_cuts_long_masks() {
        let other = vec![7u8; 2000];
        let mut r = Reassembly::new(3000);
        assert_eq!(
            r.insert(&fragment(&other, 0)),
            Err(DropReason::FragmentMismatch)
        );
        assert_eq!(r.received, 0);
        // 40 fragments missing, but a mask of at most 2 bytes: the first 16 are asked now.
        let big = Reassembly::new(40 * 1024);
        assert_eq!(big.missing(2), (0, vec![0xff, 0xff]));
    }
}
