//! The congestion scenario's applications: [`CongestionSender`], the paced flow that reacts to
//! the capsule's notifications (or not), and [`FlowReceiver`]; each keeps its log, which the
//! scenario reads through a [`Probe`].
//!
//! They never read another application's log or any node but their own.

use std::collections::BTreeSet;
use std::time::Duration;

use ants_emulator::{AppContext, AppDelivery, AppError, Application};
use ants_router::fingerprint::Fingerprint;
use ants_router::time::Timestamp;
use ants_topology::model::NodeId;
use capsule_congestion::{DATA_PORT, Data, MAX_DATA, Message, NOTIFY_PORT, Notification};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::{CAPSULE, DATA_BUDGET, FLOW};
use crate::Probe;
use crate::app::{at, register, send, until};

crate::app::named!(SenderLog, ReceiverLog);
crate::app::refusals!(SenderLog);

/// How a [`CongestionSender`] paces its flow.
#[derive(Clone, Copy, Debug, PartialEq, Serialize)]
pub struct RateControl {
    /// Capsules per second when the flow starts.
    pub start_pps: f64,
    /// Highest rate additive increase reaches.
    pub ceiling_pps: f64,
    /// Lowest rate halving reaches.
    pub floor_pps: f64,
    /// Capsules per second added every round trip without a decrease.
    pub step_pps: f64,
    /// The round trip that paces increases.
    pub rtt: Duration,
    /// Whether notifications change the rate; `false` sends at `start_pps` throughout.
    pub react: bool,
}

/// What a [`CongestionSender`] did (read through [`CongestionSender::probe`]).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct SenderLog {
    /// The sender's node.
    pub node: String,
    /// Data capsules the node accepted during the flow (the warm-up capsule not included).
    pub sent: u64,
    /// Data capsules the node refused.
    pub send_errors: u64,
    /// The first refusal.
    pub first_error: Option<String>,
    /// Notifications of this flow delivered on the notification port.
    pub notifications: u64,
    /// Notifications that changed nothing: reactions off, or about a capsule sent before the
    /// last decrease (at most one decrease per round trip).
    pub ignored: u64,
    /// Deliveries on the notification port that were no notification of this flow.
    pub foreign: u64,
    /// Times the rate was halved.
    pub decreases: u64,
    /// Times the rate grew by one step.
    pub increases: u64,
    /// Lowest and highest rate during the flow (capsules per second).
    pub min_rate_pps: f64,
    /// See `min_rate_pps`.
    pub max_rate_pps: f64,
    /// The rate when the flow ended.
    pub final_rate_pps: f64,
}

/// Timer tokens of the sender.
const WARM_UP: u64 = 0;
const SEND: u64 = 1;

/// The flow's source: one warm-up data capsule at time zero (so every active node on the
/// path has loaded the code before the flow starts), then data capsules paced by its
/// [`RateControl`] from `start` to `stop`, numbered from 1. With reactions on it follows the
/// crate doc: on a notification, halve the rate, at most once per round trip (notifications
/// about a capsule sent before the last decrease are ignored); otherwise add one step every
/// round trip, up to the ceiling.
#[derive(Debug)]
pub struct CongestionSender {
    to: NodeId,
    control: RateControl,
    start: Duration,
    stop: Duration,
    data_len: usize,
    fingerprint: Option<Fingerprint>,
    rate: f64,
    next_seq: u32,
    /// Notifications about capsules before this seq predate the last decrease.
    recover_seq: u32,
    /// Last decrease or increase.
    last_change: Timestamp,
    log: Probe<SenderLog>,
}

impl CongestionSender {
    /// A flow to node `to` from `start` to `stop` (virtual time since the start of the run)
    /// with `data_len` bytes of data per capsule (at most [`MAX_DATA`]).
    pub fn new(
        to: NodeId,
        control: RateControl,
        start: Duration,
        stop: Duration,
        data_len: usize,
    ) -> Self {
        CongestionSender {
            to,
            control,
            start,
            stop,
            data_len: data_len.min(MAX_DATA),
            fingerprint: None,
            rate: control.start_pps,
            next_seq: 1,
            recover_seq: 0,
            last_change: Timestamp::ZERO,
            log: Probe::with(SenderLog {
                min_rate_pps: control.start_pps,
                max_rate_pps: control.start_pps,
                final_rate_pps: control.start_pps,
                ..SenderLog::default()
            }),
        }
    }

    /// Its log, readable while it runs inside an emulator.
    pub fn probe(&self) -> Probe<SenderLog> {
        self.log.clone()
    }

    fn send(&mut self, ctx: &mut AppContext<'_>, seq: u32) -> bool {
        let Some(fp) = self.fingerprint else {
            return false;
        };
        // Recognisable bytes: the sequence number, then filler.
        let mut data = vec![b'c'; self.data_len];
        for (d, s) in data.iter_mut().zip(seq.to_be_bytes()) {
            *d = s;
        }
        let message = Message::Data(Data {
            hops: 0,
            flow: FLOW,
            seq,
            data,
        });
        let to = ctx.node_address(self.to);
        send(
            ctx,
            &self.log,
            fp,
            to,
            DATA_BUDGET,
            "congestion payload",
            &message,
        )
    }

    fn set_rate(&mut self, rate: f64) {
        self.rate = rate;
        self.log
            .update(|l| l.min_rate_pps = l.min_rate_pps.min(rate));
        self.log
            .update(|l| l.max_rate_pps = l.max_rate_pps.max(rate));
        self.log.update(|l| l.final_rate_pps = rate);
    }

    /// Time between two capsules at the current rate.
    fn gap(&self) -> Duration {
        Duration::from_secs_f64(1.0 / self.rate.max(1e-3))
    }
}

impl Application for CongestionSender {
    fn name(&self) -> String {
        let mode = if self.control.react {
            "reacting"
        } else {
            "constant rate"
        };
        format!(
            "congestion sender {} ({mode})",
            self.log.read(|l| l.node.clone())
        )
    }

    fn start(&mut self, ctx: &mut AppContext<'_>) -> Result<(), AppError> {
        self.fingerprint = Some(register(ctx, &self.log, CAPSULE)?);
        ctx.listen(NOTIFY_PORT);
        ctx.set_timer(Duration::ZERO, WARM_UP);
        ctx.set_timer(until(ctx, self.start), SEND);
        Ok(())
    }

    fn on_timer(&mut self, ctx: &mut AppContext<'_>, token: u64) {
        if token == WARM_UP {
            self.send(ctx, 0);
            return;
        }
        let now = ctx.now();
        if now >= at(self.stop) {
            return;
        }
        if self.control.react
            && now.saturating_duration_since(self.last_change) >= self.control.rtt
            && self.rate < self.control.ceiling_pps
        {
            let rate = (self.rate + self.control.step_pps).min(self.control.ceiling_pps);
            self.set_rate(rate);
            self.log.update(|l| l.increases += 1);
            self.last_change = now;
        }
        let seq = self.next_seq;
        if self.send(ctx, seq) {
            self.log.update(|l| l.sent += 1);
        }
        self.next_seq = self.next_seq.wrapping_add(1);
        ctx.set_timer(self.gap(), SEND);
    }

    fn on_delivery(&mut self, ctx: &mut AppContext<'_>, d: &AppDelivery) {
        let notification = match postcard::from_bytes::<Notification>(&d.payload) {
            Ok(n) if n.flow == FLOW && Some(d.fingerprint) == self.fingerprint => n,
            _ => {
                self.log.update(|l| l.foreign += 1);
                return;
            }
        };
        self.log.update(|l| l.notifications += 1);
        if !self.control.react || notification.seq < self.recover_seq {
            self.log.update(|l| l.ignored += 1);
            return;
        }
        let rate = (self.rate / 2.0).max(self.control.floor_pps);
        self.set_rate(rate);
        self.log.update(|l| l.decreases += 1);
        self.recover_seq = self.next_seq;
        self.last_change = ctx.now();
    }

    fn report(&self) -> Value {
        self.log.to_json()
    }

    fn summary(&self) -> String {
        self.log.read(|l| {
            format!(
                "{} data capsules sent, {} notifications, {} decreases, rate {:.0}..{:.0} capsules/s",
                l.sent, l.notifications, l.decreases, l.min_rate_pps, l.max_rate_pps
            )
        })
    }
}

/// What a [`FlowReceiver`] got (read through [`FlowReceiver::probe`]).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReceiverLog {
    /// The receiver's node.
    pub node: String,
    /// Whether the warm-up capsule (sequence number 0) arrived; it counts nowhere else.
    pub warm_up: bool,
    /// Distinct sequence numbers of the flow delivered.
    pub delivered: u64,
    /// Sequence numbers delivered more than once (extra copies).
    pub duplicates: u64,
    /// Data bytes delivered, distinct capsules only.
    pub bytes: u64,
    /// Distinct capsules delivered during the measurement window.
    pub window_packets: u64,
    /// Their data bytes.
    pub window_bytes: u64,
    /// Highest sequence number delivered.
    pub highest_seq: u32,
    /// Capsules delivered after one with a higher sequence number.
    pub reordered: u64,
    /// Most active nodes a capsule was evaluated on, both ends included.
    pub max_hops: u8,
    /// When the first and last capsules arrived (ns of virtual time).
    pub first_ns: Option<u64>,
    /// See `first_ns`.
    pub last_ns: Option<u64>,
    /// Deliveries on the data port that were no data of the flow.
    pub foreign: u64,
}

/// The flow's destination: records every data capsule of the flow delivered on
/// [`DATA_PORT`], by sequence number (0 is the sender's warm-up capsule, noted apart), and the
/// data that arrived within a measurement window (for goodput).
#[derive(Debug)]
pub struct FlowReceiver {
    window: (Duration, Duration),
    fingerprint: Option<Fingerprint>,
    seen: BTreeSet<u32>,
    log: Probe<ReceiverLog>,
}

impl FlowReceiver {
    /// A receiver of [`FLOW`] counting goodput over `[from, until)` (virtual time since the
    /// start of the run).
    pub fn new(from: Duration, until: Duration) -> Self {
        FlowReceiver {
            window: (from, until),
            fingerprint: None,
            seen: BTreeSet::new(),
            log: Probe::new(),
        }
    }

    /// Its log, readable while it runs inside an emulator.
    pub fn probe(&self) -> Probe<ReceiverLog> {
        self.log.clone()
    }
}

impl Application for FlowReceiver {
    fn name(&self) -> String {
        format!("flow receiver {}", self.log.read(|l| l.node.clone()))
    }

    fn start(&mut self, ctx: &mut AppContext<'_>) -> Result<(), AppError> {
        // Registering pins the code here, so the receiver's node never has to load it.
        self.fingerprint = Some(register(ctx, &self.log, CAPSULE)?);
        ctx.listen(DATA_PORT);
        Ok(())
    }

    fn on_delivery(&mut self, _ctx: &mut AppContext<'_>, d: &AppDelivery) {
        let data = match postcard::from_bytes::<Data>(&d.payload) {
            Ok(data) if data.flow == FLOW && Some(d.fingerprint) == self.fingerprint => data,
            _ => {
                self.log.update(|l| l.foreign += 1);
                return;
            }
        };
        if data.seq == 0 {
            self.log.update(|l| l.warm_up = true);
            return;
        }
        if !self.seen.insert(data.seq) {
            self.log.update(|l| l.duplicates += 1);
            return;
        }
        let len = data.data.len() as u64;
        let (from, to) = (at(self.window.0), at(self.window.1));
        self.log.update(|log| {
            log.delivered += 1;
            log.bytes += len;
            if data.seq < log.highest_seq {
                log.reordered += 1;
            }
            log.highest_seq = log.highest_seq.max(data.seq);
            log.max_hops = log.max_hops.max(data.hops);
            let at = d.at.as_nanos();
            log.first_ns.get_or_insert(at);
            log.last_ns = Some(at);
            if d.at >= from && d.at < to {
                log.window_packets += 1;
                log.window_bytes += len;
            }
        });
    }

    fn report(&self) -> Value {
        self.log.to_json()
    }

    fn summary(&self) -> String {
        self.log.read(|l| {
            format!(
                "{} capsules ({} bytes of data), {} in the window",
                l.delivered, l.bytes, l.window_packets
            )
        })
    }
}
