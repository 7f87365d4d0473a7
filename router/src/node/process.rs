//! Capsule processing: parse, charge, evaluate with cached code, release the effects.
//!
//! Owns the forwarding path of [`Node`]: frame dispatch, the fingerprint policy and budget
//! checks, evaluation in the sandbox, and turning an evaluation's effects into capsule frames
//! for the next hops, looped-back arrivals, deliveries and log events, as `docs/node-api.md`
//! section 3 says. A code miss is handed to demand loading. It never waits: nothing here
//! compiles code or blocks on a load.

use std::net::IpAddr;

use super::{DropReason, Event, Node, Transmit};
use crate::routing::NextHop;
use crate::sandbox::{CompileTier, EvalError};
use crate::wire::{CapsuleRepr, Frame};

impl Node {
    /// Dispatches one datagram (from the network, a local application or the loopback).
    pub(super) fn on_datagram(&mut self, from: Option<IpAddr>, bytes: &[u8]) {
        match Frame::parse(bytes) {
            Err(e) => {
                self.stats.drops.add(DropReason::Malformed(e));
                tracing::debug!(from = ?from, reason = e.name(), "malformed datagram: {e}");
            }
            Ok(Frame::Capsule(repr)) => self.on_capsule(from, bytes, &repr),
            Ok(Frame::CodeRequest(repr)) => self.on_code_request(from, &repr),
            Ok(Frame::CodeFragment(repr)) => self.on_code_fragment(from, &repr),
            Ok(Frame::CodeMissing(repr)) => self.on_code_missing(from, &repr),
            Ok(Frame::CodeCookie(repr)) => self.on_code_cookie(from, &repr),
            Ok(Frame::CodeAnnounce(repr)) => self.on_code_announce(from, &repr),
            Ok(Frame::Hello(repr)) => self.on_hello(from, &repr),
        }
    }

    /// A capsule arrived: `bytes` is its whole frame, kept if it must wait for its code.
    fn on_capsule(&mut self, from: Option<IpAddr>, bytes: &[u8], repr: &CapsuleRepr<'_>) {
        self.stats.capsules_received += 1;
        let fp = repr.fingerprint;
        if !self.config.fingerprints.accepts(fp.algorithm()) {
            return self.drop_with(DropReason::AlgorithmNotAllowed, Some(fp));
        }
        // Budgets are conserved, so the cap bounds what one capsule can cause downstream.
        let arriving = repr.budget.min(self.config.max_budget);
        if arriving < repr.budget {
            self.stats.budgets_clamped += 1;
        }
        let Some(budget) = arriving.checked_sub(1) else {
            return self.drop_with(DropReason::BudgetExhausted, Some(fp));
        };
        // The hop is charged before evaluation: the capsule sees what it may still spend.
        let charged = CapsuleRepr { budget, ..*repr };
        let now = self.now;
        // A protocol over its CPU share on a busy node loses its capsules before they cost
        // anything more (`fair_share`); checked first, so a flood of them costs little.
        if !self.fair.admit(&fp, now) {
            return self.drop_with(DropReason::CpuShareExceeded, Some(fp));
        }
        let result = match self.code.get(&fp).and_then(|entry| entry.compiled()) {
            Some(code) => {
                let may_tier_up = code.tier() == CompileTier::Baseline && code.optimizable();
                let result = self.sandbox.evaluate(code, &charged, &mut self.ctx);
                self.fair.charge(fp, self.sandbox.last_cost(), now);
                Some((result, may_tier_up))
            }
            None => None,
        };
        match result {
            Some((result, may_tier_up)) => {
                self.stats.cache_hits += 1;
                self.release(&charged, result);
                if may_tier_up {
                    self.count_for_tier_up(fp);
                }
            }
            None => {
                self.stats.cache_misses += 1;
                self.on_miss(from, bytes, repr);
            }
        }
    }

    /// Acts on an evaluation's outcome and effects (`docs/node-api.md` section 3).
    fn release(&mut self, capsule: &CapsuleRepr<'_>, result: Result<(), EvalError>) {
        self.stats.evaluations += 1;
        let fp = capsule.fingerprint;
        let me = self.config.address;
        let fx = &self.ctx.effects;
        // Logs are kept whatever the outcome: they explain a failure.
        for log in fx.logs() {
            self.events.push_back(Event::Log {
                fingerprint: fp,
                level: log.level,
                message: fx.text(&log.message).into_owned(),
            });
            self.stats.capsule_logs += 1;
        }
        match result {
            Err(e) => {
                self.stats.drops.add(DropReason::Evaluation(e));
                tracing::debug!(fingerprint = %fp, reason = e.name(), "evaluation failed: {e}");
                return;
            }
            Ok(()) if fx.is_inert() => {
                self.stats.drops.add(DropReason::NoEffect);
                return;
            }
            Ok(()) => self.stats.evaluated += 1,
        }
        for sent in fx.sends() {
            let hop = match sent.route {
                crate::sandbox::SendRoute::Via(n) => Some(NextHop::Neighbour(n)),
                crate::sandbox::SendRoute::Toward => self.ctx.routing.lookup(sent.destination, me),
            };
            let frame = Frame::Capsule(CapsuleRepr {
                fingerprint: fp,
                source: sent.source,
                destination: sent.destination,
                previous: me,
                budget: sent.budget,
                payload: fx.bytes(&sent.payload),
            });
            // A recycled buffer if the driver gave one back (`Node::recycle`).
            let mut bytes = self.spare.pop().unwrap_or_default();
            bytes.resize(frame.buffer_len(), 0);
            if frame.emit(&mut bytes).is_err() {
                self.stats.drops.add(DropReason::EncodeFailed);
                continue;
            }
            match hop {
                Some(NextHop::Neighbour(to)) => {
                    self.transmits.push_back(Transmit { to, bytes });
                    self.stats.capsules_sent += 1;
                }
                // A send to this node: evaluated again as a new arrival once this one is done;
                // the budget it carries bounds how often that can repeat.
                Some(NextHop::Local) => {
                    if self.loopback.len() < self.config.demand.max_loopback {
                        self.loopback.push_back(bytes);
                    } else {
                        self.stats.drops.add(DropReason::LoopbackFull);
                    }
                }
                // The sandbox checked the route when the capsule sent; the table cannot change
                // during an evaluation, so this only guards against a future driver that does.
                None => self.stats.drops.add(DropReason::NoRoute),
            }
        }
        for delivery in fx.deliveries() {
            self.events.push_back(Event::Deliver {
                port: delivery.port,
                source: capsule.source,
                fingerprint: fp,
                payload: fx.bytes(&delivery.payload).to_vec(),
            });
            self.stats.deliveries += 1;
        }
    }

    /// Evaluates looped-back capsules, at most `max_loopback` per call so one entry point
    /// cannot spin for long; the rest wait for the next call (`poll_timeout` says "now").
    pub(super) fn drain_loopback(&mut self) {
        let mut left = self.config.demand.max_loopback.max(1);
        while left > 0 {
            let Some(frame) = self.loopback.pop_front() else {
                break;
            };
            left -= 1;
            self.stats.capsules_looped_back += 1;
            self.on_datagram(None, &frame);
            self.recycle(frame);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::{MAX_SPARE_CAPACITY, NodeConfig};
    use super::*;
    use crate::routing::Route;
    use crate::time::Timestamp;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn recycled_buffers_carry_exactly_the_new_frame() {
        let (me, next) = (ip("10.0.0.1"), ip("10.0.0.2"));
        let mut config = NodeConfig::new(me);
        config.neighbours.push(next);
        config.routes.push(Route {
            prefix: ip("10.0.9.0"),
            len: 24,
            next_hop: NextHop::Neighbour(next),
        });
        let mut node = Node::new(config).unwrap();
        let module = wat::parse_str(crate::harness::MINIMAL_FORWARD_WAT).unwrap();
        let fp = node.register_protocol(Timestamp::ZERO, module).unwrap();
        crate::harness::compile_pending(&mut node, Timestamp::ZERO);
        let capsule = |payload: &'static [u8], budget| CapsuleRepr {
            fingerprint: fp,
            source: ip("10.0.5.5"),
            destination: ip("10.0.9.9"),
            previous: ip("10.0.5.5"),
            budget,
            payload,
        };
        let forwarded = |payload, budget| {
            CapsuleRepr {
                previous: me,
                ..capsule(payload, budget)
            }
            .to_vec()
            .unwrap()
        };

        let long = &[0xAB; 300];
        let frame = capsule(long, 9).to_vec().unwrap();
        node.handle_datagram(Timestamp::ZERO, None, &frame);
        let first = node.poll_transmit().unwrap();
        assert_eq!(first.to, next);
        assert_eq!(first.bytes, forwarded(long, 8));
        // A buffer that held a longer frame, scribbled over, then a shorter capsule: nothing of
        // the old contents may show.
        let mut dirty = first.bytes;
        dirty.fill(0xEE);
        node.recycle(dirty);
        assert_eq!(node.spare.len(), 1);
        let frame = capsule(b"short", 5).to_vec().unwrap();
        node.handle_datagram(Timestamp::ZERO, None, &frame);
        assert!(node.spare.is_empty(), "the recycled buffer was not reused");
        let second = node.poll_transmit().unwrap();
        assert_eq!(second.bytes, forwarded(b"short", 4));

        // Large buffers are not kept.
        node.recycle(Vec::with_capacity(MAX_SPARE_CAPACITY + 1));
        assert!(node.spare.is_empty());
    }
}
