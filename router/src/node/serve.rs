//! Serving code to other nodes: answering code requests from the code cache.
//!
//! Owns the answer to a code request: the fragments its mask asks for (each frame at most 1232
//! bytes) to a requester that echoed a valid cookie, a code cookie frame to one that did not,
//! or a code-missing frame when the module is not cached here, all within a per-requester rate
//! limit. It never serves bytes that are not in the code cache, whose entries always hash to
//! their fingerprint, never sends code toward an address that has not proved it receives there
//! (anything it sends an unproved address is smaller than the request: the 3x rule of QUIC
//! holds per datagram), never answers a sender whose node address it does not know, and by
//! default answers only configured neighbours and peers.

use std::net::IpAddr;

use super::{DropReason, Node, Transmit};
use crate::wire::{
    CodeCookieRepr, CodeFragmentRepr, CodeMissingRepr, CodeRequestRepr, fragment_count,
};

impl Node {
    /// A code request arrived from `from`.
    pub(super) fn on_code_request(&mut self, from: Option<IpAddr>, request: &CodeRequestRepr<'_>) {
        let fp = request.fingerprint;
        if !self.config.fingerprints.accepts(fp.algorithm()) {
            self.stats.requests_refused += 1;
            return self.drop_with(DropReason::AlgorithmNotAllowed, Some(fp));
        }
        // Only configured neighbours and peers are served by default: anyone else could be a
        // victim whose address a request spoofed.
        let Some(to) = from.filter(|n| self.config.demand.serve_unknown_nodes || self.is_known(*n))
        else {
            self.stats.requests_refused += 1;
            return self.drop_with(DropReason::UnknownRequester, Some(fp));
        };
        let Some(module) = self.code.peek(&fp).map(|e| e.module().clone()) else {
            if !self.serve_limiter.take(to, 1, self.now) {
                self.stats.requests_refused += 1;
                return self.drop_with(DropReason::RequestRateLimited, Some(fp));
            }
            self.transmits.push_back(Transmit {
                to,
                bytes: CodeMissingRepr { fingerprint: fp }.to_vec(),
            });
            self.stats.requests_missing += 1;
            return;
        };
        // Code only toward an address that proved it receives there, by echoing the cookie
        // minted for it; anyone else gets the cookie, in a frame smaller than any request.
        let verified = request
            .cookie
            .is_some_and(|c| self.mint.check(to, &c, self.now));
        if !verified {
            if !self.serve_limiter.take(to, 1, self.now) {
                self.stats.requests_refused += 1;
                return self.drop_with(DropReason::RequestRateLimited, Some(fp));
            }
            if request.cookie.is_some() {
                self.stats.cookies_stale += 1;
            }
            let cookie = self.mint.mint(to, self.now);
            self.transmits.push_back(Transmit {
                to,
                bytes: CodeCookieRepr {
                    fingerprint: fp,
                    cookie,
                }
                .to_vec(),
            });
            self.stats.cookies_sent += 1;
            return;
        }
        // Cached modules are at most `max_module_bytes`, far below the wire's bound, so the
        // count fits in u16; a module that does not is refused by `fragment` below.
        let count = fragment_count(u32::try_from(module.len()).unwrap_or(u32::MAX));
        let count = u16::try_from(count).unwrap_or(u16::MAX);
        let wanted: Vec<u16> = request.wanted(count).collect();
        let cost = u32::try_from(wanted.len()).unwrap_or(u32::MAX);
        if !self.serve_limiter.take(to, cost, self.now) {
            self.stats.requests_refused += 1;
            return self.drop_with(DropReason::RequestRateLimited, Some(fp));
        }
        for index in wanted {
            match CodeFragmentRepr::fragment(fp, &module, index).and_then(|f| f.to_vec()) {
                Ok(bytes) => {
                    self.transmits.push_back(Transmit { to, bytes });
                    self.stats.fragments_sent += 1;
                }
                Err(_) => self.stats.drops.add(DropReason::EncodeFailed),
            }
        }
        self.stats.requests_served += 1;
    }
}
