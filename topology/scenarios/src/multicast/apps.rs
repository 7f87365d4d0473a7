//! The multicast scenario's applications: [`MulticastMember`] (subscribes, refreshes, leaves
//! or falls silent, records every data packet) and [`MulticastSource`] (sends the plan's
//! bursts), each with its log, which the scenario reads through a [`Probe`].
//!
//! They never read another application's log or any node but their own.

use std::collections::BTreeMap;
use std::time::Duration;

use ants_emulator::{AppContext, AppDelivery, AppError, Application};
use ants_router::fingerprint::Fingerprint;
use ants_topology::model::NodeId;
use capsule_multicast::{MEMBER_TTL_MS, Message, REFRESH_INTERVAL_MS};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::{Burst, CAPSULE, DATA_BUDGET, MAX_DATA, SUBSCRIBE_BUDGET};
use crate::Probe;
use crate::app::{at, register, send, until};

crate::app::named!(MemberLog, SourceLog);
crate::app::refusals!(MemberLog, SourceLog);

/// What a [`MulticastMember`] did and received (read through [`MulticastMember::probe`]).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct MemberLog {
    /// The member's node.
    pub node: String,
    /// When each subscribe was injected (ns of virtual time).
    pub subscribes_ns: Vec<u64>,
    /// When the leave was injected, if the member left.
    pub left_ns: Option<u64>,
    /// Whether the member stopped refreshing (and so expires from the tree).
    pub silent: bool,
    /// Sequence number → copies received.
    pub received: BTreeMap<u32, u32>,
    /// When the first and the last data packet arrived.
    pub first_ns: Option<u64>,
    /// See `first_ns`.
    pub last_ns: Option<u64>,
    /// Deliveries on the member's port that were not data of its group.
    pub foreign: u32,
    /// Subscribes or leaves the node refused.
    pub send_errors: u32,
    /// The first refusal.
    pub first_error: Option<String>,
}

impl MemberLog {
    /// Until when (ns) the member wanted data: its leave, or [`MEMBER_TTL_MS`] after its last
    /// subscribe if it fell silent; `u64::MAX` while it stays.
    pub fn wanted_until_ns(&self) -> u64 {
        if let Some(t) = self.left_ns {
            return t;
        }
        match (self.silent, self.subscribes_ns.last()) {
            (true, Some(last)) => last.saturating_add(MEMBER_TTL_MS * 1_000_000),
            (true, None) => 0,
            (false, _) => u64::MAX,
        }
    }
}

/// What an encoding error says was being encoded.
const PAYLOAD: &str = "multicast payload";

/// A group member on a host: subscribes toward the source at start and every
/// [`REFRESH_INTERVAL_MS`], optionally leaves or falls silent, and records every data packet
/// delivered on its port (see [`MemberLog`]).
#[derive(Debug)]
pub struct MulticastMember {
    source: NodeId,
    group: u32,
    port: u16,
    refresh: Duration,
    leave_at: Option<Duration>,
    silent_at: Option<Duration>,
    fingerprint: Option<Fingerprint>,
    log: Probe<MemberLog>,
}

/// Timer tokens of a member.
const SUBSCRIBE: u64 = 0;
const LEAVE: u64 = 1;

impl MulticastMember {
    /// A member of `group` of the source on node `source`, receiving on `port`.
    pub fn new(source: NodeId, group: u32, port: u16) -> Self {
        MulticastMember {
            source,
            group,
            port,
            refresh: Duration::from_millis(REFRESH_INTERVAL_MS),
            leave_at: None,
            silent_at: None,
            fingerprint: None,
            log: Probe::new(),
        }
    }

    /// Its log, readable while it runs inside an emulator.
    pub fn probe(&self) -> Probe<MemberLog> {
        self.log.clone()
    }

    /// Sends a leave at `at` (virtual time since the start of the run) and stops refreshing.
    pub fn leave_at(mut self, at: Duration) -> Self {
        self.leave_at = Some(at);
        self
    }

    /// Stops refreshing from `at` on (virtual time since the start of the run).
    pub fn silent_from(mut self, at: Duration) -> Self {
        self.silent_at = Some(at);
        self
    }

    fn send(&mut self, ctx: &mut AppContext<'_>, message: &Message<'_>) -> bool {
        let Some(fp) = self.fingerprint else {
            return false;
        };
        let to = ctx.node_address(self.source);
        send(ctx, &self.log, fp, to, SUBSCRIBE_BUDGET, PAYLOAD, message)
    }
}

impl Application for MulticastMember {
    fn name(&self) -> String {
        format!("multicast member {}", self.log.read(|l| l.node.clone()))
    }

    fn start(&mut self, ctx: &mut AppContext<'_>) -> Result<(), AppError> {
        self.fingerprint = Some(register(ctx, &self.log, CAPSULE)?);
        ctx.listen(self.port);
        ctx.set_timer(Duration::ZERO, SUBSCRIBE);
        if let Some(at) = self.leave_at {
            let after = until(ctx, at);
            ctx.set_timer(after, LEAVE);
        }
        Ok(())
    }

    fn on_timer(&mut self, ctx: &mut AppContext<'_>, token: u64) {
        let now = ctx.now().as_nanos();
        let silent = self.silent_at.is_some_and(|from| ctx.now() >= at(from));
        let left = self.log.update(|l| {
            l.silent |= silent;
            l.left_ns.is_some()
        });
        match token {
            SUBSCRIBE if !left && !silent => {
                let m = Message::Subscribe {
                    group: self.group,
                    port: self.port,
                };
                if self.send(ctx, &m) {
                    self.log.update(|l| l.subscribes_ns.push(now));
                }
                ctx.set_timer(self.refresh, SUBSCRIBE);
            }
            LEAVE if !left => {
                let m = Message::Leave {
                    group: self.group,
                    port: self.port,
                };
                self.send(ctx, &m);
                self.log.update(|l| l.left_ns = Some(now));
            }
            _ => {}
        }
    }

    fn on_delivery(&mut self, _ctx: &mut AppContext<'_>, d: &AppDelivery) {
        match Message::parse(&d.payload) {
            Ok(Message::Data { group, seq, .. })
                if group == self.group && Some(d.fingerprint) == self.fingerprint =>
            {
                let at = d.at.as_nanos();
                self.log.update(|l| {
                    *l.received.entry(seq).or_default() += 1;
                    l.first_ns.get_or_insert(at);
                    l.last_ns = Some(at);
                });
            }
            _ => self.log.update(|l| l.foreign += 1),
        }
    }

    fn report(&self) -> Value {
        self.log.to_json()
    }

    fn summary(&self) -> String {
        self.log.read(|l| {
            let copies: u32 = l.received.values().sum();
            format!(
                "{} packets ({} copies), {} subscribes{}",
                l.received.len(),
                copies,
                l.subscribes_ns.len(),
                if l.left_ns.is_some() { ", left" } else { "" }
            )
        })
    }
}

/// One data packet the source sent.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SentPacket {
    /// Sequence number.
    pub seq: u32,
    /// When it was injected (ns of virtual time).
    pub at_ns: u64,
}

/// What a [`MulticastSource`] sent (read through [`MulticastSource::probe`]).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SourceLog {
    /// The source's node.
    pub node: String,
    /// Every packet the node accepted, in order.
    pub sent: Vec<SentPacket>,
    /// Packets the node refused.
    pub send_errors: u32,
    /// The first refusal.
    pub first_error: Option<String>,
}

/// The group's source: injects `Data { group, seq, data }` capsules on its own node, in
/// bursts, numbering them from 0.
#[derive(Debug)]
pub struct MulticastSource {
    group: u32,
    bursts: Vec<Burst>,
    interval: Duration,
    payload_len: usize,
    budget: u16,
    fingerprint: Option<Fingerprint>,
    /// First sequence number of each burst.
    pub(super) firsts: Vec<u32>,
    log: Probe<SourceLog>,
}

impl MulticastSource {
    /// A source of `group` sending `bursts`, `interval` apart within a burst, with
    /// `payload_len` bytes of data per packet and [`DATA_BUDGET`].
    pub fn new(group: u32, bursts: Vec<Burst>, interval: Duration, payload_len: usize) -> Self {
        let mut firsts = Vec::with_capacity(bursts.len());
        let mut next = 0u32;
        for b in &bursts {
            firsts.push(next);
            next = next.saturating_add(b.packets);
        }
        MulticastSource {
            group,
            bursts,
            interval,
            payload_len: payload_len.min(MAX_DATA),
            budget: DATA_BUDGET,
            fingerprint: None,
            firsts,
            log: Probe::new(),
        }
    }

    /// Its log, readable while it runs inside an emulator.
    pub fn probe(&self) -> Probe<SourceLog> {
        self.log.clone()
    }

    /// The burst sequence number `seq` belongs to, and whether it is the burst's last.
    pub(super) fn last_of_burst(&self, seq: u32) -> bool {
        self.firsts
            .iter()
            .zip(&self.bursts)
            .any(|(&f, b)| seq.checked_sub(f).is_some_and(|i| i + 1 == b.packets))
    }
}

impl Application for MulticastSource {
    fn name(&self) -> String {
        format!("multicast source {}", self.log.read(|l| l.node.clone()))
    }

    fn start(&mut self, ctx: &mut AppContext<'_>) -> Result<(), AppError> {
        self.fingerprint = Some(register(ctx, &self.log, CAPSULE)?);
        for (b, &first) in self.bursts.iter().zip(&self.firsts) {
            if b.packets > 0 {
                let after = until(ctx, b.start);
                ctx.set_timer(after, u64::from(first));
            }
        }
        Ok(())
    }

    fn on_timer(&mut self, ctx: &mut AppContext<'_>, token: u64) {
        let Some(fp) = self.fingerprint else { return };
        let Ok(seq) = u32::try_from(token) else {
            return;
        };
        // Recognisable bytes: the sequence number, then filler.
        let mut data = vec![b'm'; self.payload_len];
        for (d, s) in data.iter_mut().zip(seq.to_be_bytes()) {
            *d = s;
        }
        let message = Message::Data {
            group: self.group,
            seq,
            data: &data,
        };
        let me = ctx.address();
        if send(ctx, &self.log, fp, me, self.budget, PAYLOAD, &message) {
            let at_ns = ctx.now().as_nanos();
            self.log.update(|l| l.sent.push(SentPacket { seq, at_ns }));
        }
        if !self.last_of_burst(seq) {
            ctx.set_timer(self.interval, token + 1);
        }
    }

    fn report(&self) -> Value {
        self.log.to_json()
    }

    fn summary(&self) -> String {
        format!("{} data packets sent", self.log.read(|l| l.sent.len()))
    }
}
