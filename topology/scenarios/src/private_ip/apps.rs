//! The private IP scenario's edge application, [`PrivateEdge`]: announces its site's prefix,
//! injects its private hosts' packets and records what each one caused at its node, receives
//! those for its hosts; its [`EdgeLog`] is read by the scenario through a [`Probe`].
//!
//! It never reads another node: what a packet caused is read from its own node's counters.

use std::net::Ipv4Addr;
use std::time::Duration;

use ants_emulator::{AppContext, AppDelivery, AppError, Application};
use ants_router::fingerprint::Fingerprint;
use capsule_private_ip::{DELIVERY_PORT, Message, Packet, Prefix};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::{ANNOUNCE_BUDGET, CAPSULE, PACKET_BUDGET, Plan, REFUSED_COUNTER};
use crate::Probe;
use crate::app::{register, send, until};

crate::app::named!(EdgeLog);
crate::app::refusals!(EdgeLog);

/// One packet an edge injected for one of its private hosts, and what it caused there.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Injected {
    /// Private source.
    pub src: Ipv4Addr,
    /// Private destination.
    pub dst: Ipv4Addr,
    /// Packet number at this edge.
    pub seq: u32,
    /// Capsules the edge's node sent for it (1 when carried to another edge).
    pub capsules_sent: u64,
    /// Whether its evaluation failed (`capsule_error`): refused at the edge.
    pub refused: bool,
}

/// One packet delivered to an edge for one of its private hosts.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Arrived {
    /// Private source, as delivered.
    pub src: Ipv4Addr,
    /// Private destination, as delivered.
    pub dst: Ipv4Addr,
    /// Whether `dst` is one of this site's hosts.
    pub local: bool,
    /// Whether the data still names the `src` and `dst` it was sent with.
    pub intact: bool,
    /// When it arrived (ns).
    pub at_ns: u64,
}

/// What a [`PrivateEdge`] did (read through [`PrivateEdge::probe`]).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct EdgeLog {
    /// The edge's node.
    pub node: String,
    /// When each announcement was injected (ns).
    pub announced_ns: Vec<u64>,
    /// Packets to other sites' hosts, in order.
    pub injected: Vec<Injected>,
    /// Packets to private destinations no site serves (or outside the private space).
    pub unknown: Vec<Injected>,
    /// Packets delivered here.
    pub arrived: Vec<Arrived>,
    /// Deliveries on the port that were no packet.
    pub foreign: u64,
    /// Capsules the node refused to take (0 expected).
    pub send_errors: u64,
    /// The first refusal.
    pub first_error: Option<String>,
}

/// Timer tokens of an edge.
const ANNOUNCE: u64 = 0;
const ROUND: u64 = 1;
const UNKNOWN: u64 = 2;

/// An edge router's application: announces its site's prefix at start and every
/// `announce_period`; in each of `rounds` rounds, `interval` apart from `start`, injects one
/// packet from each of its hosts to each host of `remote`; at `unknown_at`, one packet from
/// its first host to each of `unknown`; records every packet delivered for its hosts.
///
/// A packet's data is its source, destination and number (4 bytes each), then filler, so
/// the receiving edge can tell the private addresses arrived as sent.
#[derive(Debug)]
pub struct PrivateEdge {
    prefix: Prefix,
    hosts: Vec<Ipv4Addr>,
    remote: Vec<Ipv4Addr>,
    unknown: Vec<Ipv4Addr>,
    plan: Plan,
    fingerprint: Option<Fingerprint>,
    announce_seq: u32,
    rounds_done: u32,
    next_seq: u32,
    log: Probe<EdgeLog>,
}

impl PrivateEdge {
    /// The edge of the site `prefix` with private `hosts`, sending to the `remote` hosts of
    /// other sites and to the `unknown` destinations as `plan` says.
    pub fn new(
        prefix: Prefix,
        hosts: Vec<Ipv4Addr>,
        remote: Vec<Ipv4Addr>,
        unknown: Vec<Ipv4Addr>,
        plan: Plan,
    ) -> Self {
        PrivateEdge {
            prefix,
            hosts,
            remote,
            unknown,
            plan,
            fingerprint: None,
            announce_seq: 0,
            rounds_done: 0,
            next_seq: 0,
            log: Probe::new(),
        }
    }

    /// Its log, readable while it runs inside an emulator.
    pub fn probe(&self) -> Probe<EdgeLog> {
        self.log.clone()
    }

    fn inject(
        &mut self,
        ctx: &mut AppContext<'_>,
        message: &Message,
        budget: u16,
    ) -> Option<(u64, bool)> {
        let fp = self.fingerprint?;
        let me = ctx.address();
        // What the injection caused is read from the node core's counters, which only an
        // application beside the core (in the emulator) can see.
        let before = ctx.core()?.stats();
        if !send(
            ctx,
            &self.log,
            fp,
            me,
            budget,
            "private IP payload",
            message,
        ) {
            return None;
        }
        let after = ctx.core()?.stats();
        let sent = after.capsules_sent - before.capsules_sent;
        let failed = after.drops.by_name(REFUSED_COUNTER) > before.drops.by_name(REFUSED_COUNTER);
        Some((sent, failed))
    }

    fn packet(
        &mut self,
        ctx: &mut AppContext<'_>,
        src: Ipv4Addr,
        dst: Ipv4Addr,
    ) -> Option<Injected> {
        let seq = self.next_seq;
        self.next_seq = self.next_seq.wrapping_add(1);
        let mut data = vec![b'p'; self.plan.data_len.max(12)];
        data[..4].copy_from_slice(&src.octets());
        data[4..8].copy_from_slice(&dst.octets());
        data[8..12].copy_from_slice(&seq.to_be_bytes());
        let (capsules_sent, refused) = self.inject(
            ctx,
            &Message::Packet(Packet { src, dst, data }),
            PACKET_BUDGET,
        )?;
        Some(Injected {
            src,
            dst,
            seq,
            capsules_sent,
            refused,
        })
    }
}

impl Application for PrivateEdge {
    fn name(&self) -> String {
        format!(
            "private edge {} ({}/{})",
            self.log.read(|l| l.node.clone()),
            self.prefix.addr,
            self.prefix.len
        )
    }

    fn start(&mut self, ctx: &mut AppContext<'_>) -> Result<(), AppError> {
        self.fingerprint = Some(register(ctx, &self.log, CAPSULE)?);
        ctx.listen(DELIVERY_PORT);
        ctx.set_timer(Duration::ZERO, ANNOUNCE);
        if self.plan.rounds > 0 {
            ctx.set_timer(until(ctx, self.plan.start), ROUND);
        }
        if !self.unknown.is_empty() {
            ctx.set_timer(until(ctx, self.plan.unknown_at), UNKNOWN);
        }
        Ok(())
    }

    fn on_timer(&mut self, ctx: &mut AppContext<'_>, token: u64) {
        match token {
            ANNOUNCE => {
                self.announce_seq = self.announce_seq.wrapping_add(1);
                let m = Message::Announce {
                    seq: self.announce_seq,
                    prefixes: vec![self.prefix],
                };
                if self.inject(ctx, &m, ANNOUNCE_BUDGET).is_some() {
                    let now = ctx.now().as_nanos();
                    self.log.update(|l| l.announced_ns.push(now));
                }
                ctx.set_timer(self.plan.announce_period, ANNOUNCE);
            }
            ROUND => {
                for src in self.hosts.clone() {
                    for dst in self.remote.clone() {
                        if let Some(p) = self.packet(ctx, src, dst) {
                            self.log.update(|l| l.injected.push(p));
                        }
                    }
                }
                self.rounds_done += 1;
                if self.rounds_done < self.plan.rounds {
                    ctx.set_timer(self.plan.interval, ROUND);
                }
            }
            UNKNOWN => {
                let Some(&src) = self.hosts.first() else {
                    return;
                };
                for dst in self.unknown.clone() {
                    if let Some(p) = self.packet(ctx, src, dst) {
                        self.log.update(|l| l.unknown.push(p));
                    }
                }
            }
            _ => {}
        }
    }

    fn on_delivery(&mut self, _ctx: &mut AppContext<'_>, d: &AppDelivery) {
        match postcard::from_bytes::<Packet>(&d.payload) {
            Ok(p) if Some(d.fingerprint) == self.fingerprint => {
                let intact = p.data.len() >= 8
                    && p.data[..4] == p.src.octets()
                    && p.data[4..8] == p.dst.octets();
                let arrived = Arrived {
                    src: p.src,
                    dst: p.dst,
                    local: self.hosts.contains(&p.dst),
                    intact,
                    at_ns: d.at.as_nanos(),
                };
                self.log.update(|l| l.arrived.push(arrived));
            }
            _ => self.log.update(|l| l.foreign += 1),
        }
    }

    fn report(&self) -> Value {
        self.log.to_json()
    }

    fn summary(&self) -> String {
        self.log.read(|l| {
            let refused = l.unknown.iter().filter(|p| p.refused).count();
            format!(
                "{} packets sent, {} arrived, {} of {} to unknown destinations refused",
                l.injected.len(),
                l.arrived.len(),
                refused,
                l.unknown.len()
            )
        })
    }
}
