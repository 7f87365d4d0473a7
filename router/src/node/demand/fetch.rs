//! Fetching a load's code: admitting a capsule of an unknown type, choosing and asking code
//! sources (with cookies, re-requests, backoff and fallback to the next source), taking
//! fragments and announces, and checking the finished module against its fingerprint.
//!
//! It must never accept code from a node it did not ask, cache bytes that do not hash to their
//! fingerprint, ask a node a capsule named beyond the request rate, or compile anything: a
//! verified module goes to the compile queue of the `compile` module.

use std::net::IpAddr;
use std::sync::Arc;

use super::{Fetch, Load, Phase, Reassembly};
use crate::fingerprint::Fingerprint;
use crate::node::{DropReason, Node, Transmit};
use crate::routing::NextHop;
use crate::time::Timestamp;
use crate::wire::{
    CapsulePacket, CapsuleRepr, CodeAnnounceRepr, CodeCookieRepr, CodeFragmentRepr,
    CodeMissingRepr, CodeRequestRepr, max_mask_len,
};

/// Code sources one load may try: the first capsule's previous node and source, and those of
/// capsules that joined the wait with other ones.
const MAX_SOURCES: usize = 4;

/// Cookies one fetch accepts from its source; each re-sends the request at once. A source (or
/// an attacker spoofing it) that keeps answering with cookies gets no more requests than this.
const MAX_COOKIES_PER_FETCH: u8 = 2;

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
    pub(in crate::node) fn on_miss(
        &mut self,
        from: Option<IpAddr>,
        bytes: &[u8],
        repr: &CapsuleRepr<'_>,
    ) {
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
    /// [`DemandLimits::ask_unknown_nodes`]: crate::node::DemandLimits::ask_unknown_nodes
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
    pub(in crate::node) fn on_code_fragment(
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
                self.cached
                    .insert(fp, crate::node::Origin::loaded(self.now, Some(peer)));
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
    pub(in crate::node) fn on_code_announce(
        &mut self,
        from: Option<IpAddr>,
        announce: &CodeAnnounceRepr,
    ) {
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
    pub(in crate::node) fn on_code_missing(
        &mut self,
        from: Option<IpAddr>,
        missing: &CodeMissingRepr,
    ) {
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
    pub(in crate::node) fn on_code_cookie(
        &mut self,
        from: Option<IpAddr>,
        answer: &CodeCookieRepr,
    ) {
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
    pub(super) fn fail_load(&mut self, fp: Fingerprint, reason: DropReason) {
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
    pub(in crate::node) fn next_load_deadline(&self) -> Option<Timestamp> {
        self.loads
            .values()
            .filter_map(|l| match &l.phase {
                Phase::Fetching(f) => Some(f.deadline),
                _ => None,
            })
            .min()
    }

    /// Re-asks for missing fragments, with backoff, or falls back to the next source.
    pub(in crate::node) fn load_timeouts(&mut self) {
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
}
