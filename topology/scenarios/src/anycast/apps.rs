//! The anycast scenario's applications: [`AnycastMember`] (advertises, withdraws when told to
//! leave, records the data delivered to it) and [`AnycastClient`] (sends numbered data to the
//! anycast address), each with its log, which the scenario reads through a [`Probe`].
//!
//! They never read another application's log or any node but their own.

use std::net::{IpAddr, Ipv4Addr};
use std::time::Duration;

use ants_emulator::{AppContext, AppDelivery, AppError, Application};
use ants_router::fingerprint::Fingerprint;
use capsule_anycast::{DELIVERY_PORT, MAX_DATA, Message, Received};
use capsule_sdk::Address;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::{CAPSULE, DATA_BUDGET, FLOOD_BUDGET};
use crate::Probe;
use crate::app::{at, register, send, until};

crate::app::named!(MemberLog, ClientLog);
crate::app::refusals!(MemberLog, ClientLog);

/// What an [`AnycastMember`] did and received (read through [`AnycastMember::probe`]).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct MemberLog {
    /// The member's node.
    pub node: String,
    /// When each advertisement was injected (ns of virtual time).
    pub advertised_ns: Vec<u64>,
    /// When the withdraw was injected, if the member left.
    pub left_ns: Option<u64>,
    /// Data delivered: (sequence number, arrival in ns), in arrival order.
    pub received: Vec<(u32, u64)>,
    /// Deliveries on the port that were no data of this group.
    pub foreign: u64,
    /// Advertisements or withdraws the node refused.
    pub send_errors: u64,
    /// The first refusal.
    pub first_error: Option<String>,
}

/// What an encoding error says was being encoded.
const PAYLOAD: &str = "anycast payload";

/// Timer tokens of a member.
const ADVERTISE: u64 = 0;
const LEAVE: u64 = 1;

/// A member of an anycast address: advertises at start and every `period` with a new round,
/// withdraws (its last round) at `leave_at` if given and then stops advertising; records the
/// data delivered to it on [`DELIVERY_PORT`].
#[derive(Debug)]
pub struct AnycastMember {
    group: Ipv4Addr,
    period: Duration,
    leave_at: Option<Duration>,
    fingerprint: Option<Fingerprint>,
    round: u32,
    log: Probe<MemberLog>,
}

impl AnycastMember {
    /// A member of `group` advertising every `period`.
    pub fn new(group: Ipv4Addr, period: Duration) -> Self {
        AnycastMember {
            group,
            period,
            leave_at: None,
            fingerprint: None,
            round: 0,
            log: Probe::new(),
        }
    }

    /// Its log, readable while it runs inside an emulator.
    pub fn probe(&self) -> Probe<MemberLog> {
        self.log.clone()
    }

    /// Withdraws at `at` (virtual time since the start of the run).
    pub fn leave_at(mut self, at: Duration) -> Self {
        self.leave_at = Some(at);
        self
    }

    fn send(&mut self, ctx: &mut AppContext<'_>, message: &Message) -> bool {
        let Some(fp) = self.fingerprint else {
            return false;
        };
        let to = IpAddr::V4(self.group);
        send(ctx, &self.log, fp, to, FLOOD_BUDGET, PAYLOAD, message)
    }
}

impl Application for AnycastMember {
    fn name(&self) -> String {
        format!(
            "anycast member {} of {}",
            self.log.read(|l| l.node.clone()),
            self.group
        )
    }

    fn start(&mut self, ctx: &mut AppContext<'_>) -> Result<(), AppError> {
        self.fingerprint = Some(register(ctx, &self.log, CAPSULE)?);
        ctx.listen(DELIVERY_PORT);
        ctx.set_timer(Duration::ZERO, ADVERTISE);
        if let Some(at) = self.leave_at {
            ctx.set_timer(until(ctx, at), LEAVE);
        }
        Ok(())
    }

    fn on_timer(&mut self, ctx: &mut AppContext<'_>, token: u64) {
        if self.log.read(|l| l.left_ns.is_some()) {
            return;
        }
        let now = ctx.now().as_nanos();
        match token {
            ADVERTISE => {
                self.round = self.round.wrapping_add(1);
                let m = Message::Advertise {
                    seq: self.round,
                    distance: 0,
                };
                if self.send(ctx, &m) {
                    self.log.update(|l| l.advertised_ns.push(now));
                }
                ctx.set_timer(self.period, ADVERTISE);
            }
            LEAVE => {
                let m = Message::Withdraw { seq: self.round };
                self.send(ctx, &m);
                self.log.update(|l| l.left_ns = Some(now));
            }
            _ => {}
        }
    }

    fn on_delivery(&mut self, _ctx: &mut AppContext<'_>, d: &AppDelivery) {
        let group = Address::from(self.group);
        match postcard::from_bytes::<Received>(&d.payload) {
            Ok(r)
                if r.group == group
                    && r.data.len() >= 4
                    && Some(d.fingerprint) == self.fingerprint =>
            {
                let seq = u32::from_be_bytes([r.data[0], r.data[1], r.data[2], r.data[3]]);
                self.log.update(|l| l.received.push((seq, d.at.as_nanos())));
            }
            _ => self.log.update(|l| l.foreign += 1),
        }
    }

    fn report(&self) -> Value {
        self.log.to_json()
    }

    fn summary(&self) -> String {
        self.log.read(|l| {
            format!(
                "{} packets, {} advertisements{}",
                l.received.len(),
                l.advertised_ns.len(),
                if l.left_ns.is_some() { ", left" } else { "" }
            )
        })
    }
}

/// What an [`AnycastClient`] sent (read through [`AnycastClient::probe`]).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ClientLog {
    /// The client's node.
    pub node: String,
    /// When each packet was injected (ns), indexed by sequence number.
    pub sent_ns: Vec<u64>,
    /// Packets the node refused.
    pub send_errors: u64,
    /// The first refusal.
    pub first_error: Option<String>,
}

/// Sends data to an anycast address: one packet every `interval` from `start` until `stop`,
/// numbered from 0 (the first 4 data bytes, big-endian).
#[derive(Debug)]
pub struct AnycastClient {
    group: Ipv4Addr,
    start: Duration,
    stop: Duration,
    interval: Duration,
    data_len: usize,
    fingerprint: Option<Fingerprint>,
    log: Probe<ClientLog>,
}

impl AnycastClient {
    /// A client of `group` sending `data_len` bytes (at least 4, at most [`MAX_DATA`]) every
    /// `interval` from `start` to `stop` (virtual time since the start of the run).
    pub fn new(
        group: Ipv4Addr,
        start: Duration,
        stop: Duration,
        interval: Duration,
        data_len: usize,
    ) -> Self {
        AnycastClient {
            group,
            start,
            stop,
            interval,
            data_len: data_len.clamp(4, MAX_DATA),
            fingerprint: None,
            log: Probe::new(),
        }
    }

    /// Its log, readable while it runs inside an emulator.
    pub fn probe(&self) -> Probe<ClientLog> {
        self.log.clone()
    }
}

impl Application for AnycastClient {
    fn name(&self) -> String {
        format!(
            "anycast client {} -> {}",
            self.log.read(|l| l.node.clone()),
            self.group
        )
    }

    fn start(&mut self, ctx: &mut AppContext<'_>) -> Result<(), AppError> {
        self.fingerprint = Some(register(ctx, &self.log, CAPSULE)?);
        ctx.set_timer(until(ctx, self.start), 0);
        Ok(())
    }

    fn on_timer(&mut self, ctx: &mut AppContext<'_>, _token: u64) {
        let Some(fp) = self.fingerprint else { return };
        if ctx.now() >= at(self.stop) {
            return;
        }
        let seq = self.log.read(|l| l.sent_ns.len() as u32);
        let mut data = vec![b'a'; self.data_len];
        data[..4].copy_from_slice(&seq.to_be_bytes());
        let (to, message) = (IpAddr::V4(self.group), Message::Data(data));
        send(ctx, &self.log, fp, to, DATA_BUDGET, PAYLOAD, &message);
        // The number is used either way, so sequence numbers index `sent_ns`.
        let now = ctx.now().as_nanos();
        self.log.update(|l| l.sent_ns.push(now));
        if !self.interval.is_zero() {
            ctx.set_timer(self.interval, 0);
        }
    }

    fn report(&self) -> Value {
        self.log.to_json()
    }

    fn summary(&self) -> String {
        format!("{} packets sent", self.log.read(|l| l.sent_ns.len()))
    }
}
