//! The congestion notification scenario: one flow across a bottleneck link, run twice on the
//! same network and seed, once with the sender reacting to the `congestion` capsule's advice
//! (`capsules/congestion`) and once ignoring it, side by side.
//!
//! Owns the two applications the capsule's crate doc asks for ([`CongestionSender`] with its
//! [`RateControl`], and [`FlowReceiver`]), the [`Network`] of a run (the file's groups `sender`
//! and `receiver`, the bottleneck found on the path between them), the runs ([`RunStats`]) and
//! the [`Report`]: capsules sent and delivered, queue drops at the bottleneck (the emulator's
//! link counters), goodput and notifications, with and without the advice.
//!
//! The bottleneck is the link of lowest bandwidth on the IP path from the sender to the
//! receiver; its sending end must run a node core (an active router), since only a node's own
//! outgoing links feed the link load a capsule reads. Goodput is the application data the
//! receiver got during the flow's sending period, per second of virtual time.
//!
//! It never reaches into a node core: everything it measures comes from the emulator's public
//! counters and the applications' own records. Runs take virtual time only and are
//! deterministic for a seed.

use std::collections::BTreeSet;
use std::fmt::Write as _;
use std::path::PathBuf;
use std::time::Duration;

use ants_router::fingerprint::Fingerprint;
use ants_router::time::Timestamp;
use ants_router::wire::capsule::MIN_HEADER_LEN;
use anyhow::{Context as _, bail};
use capsule_congestion::{DATA_PORT, Data, MAX_DATA, Message, NOTIFY_PORT, Notification};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::{AppLog, ScenarioOptions, ScenarioReport};
use ants_emulator::{
    AppContext, AppDelivery, AppError, AppId, Application, Emulator, EmulatorOptions,
    IP_UDP_OVERHEAD,
};
use ants_topology::capsules::CapsuleLocator;
use ants_topology::model::{LinkId, NodeId, Topology};
use ants_topology::routes::Routes;

/// The scenario's topology file, relative to the repository root.
pub const EXAMPLE: &str = "topology/examples/congestion.toml";
/// The capsule the scenario drives.
pub const CAPSULE: &str = "congestion";
/// The file's group naming the one sending host.
pub const SENDER_GROUP: &str = "sender";
/// The file's group naming the one receiving host.
pub const RECEIVER_GROUP: &str = "receiver";
/// Flow id of the scenario's flow.
pub const FLOW: u32 = 1;
/// Budget of each data capsule: the active hops plus room for a notification (the crate
/// doc's advice).
pub const DATA_BUDGET: u16 = 32;

// ---- Applications --------------------------------------------------------------------------

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

/// What a [`CongestionSender`] did (its JSON report, read back with [`SenderLog::of`]).
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

impl AppLog for SenderLog {}

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
    log: SenderLog,
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
            log: SenderLog {
                min_rate_pps: control.start_pps,
                max_rate_pps: control.start_pps,
                final_rate_pps: control.start_pps,
                ..SenderLog::default()
            },
        }
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
        let result = postcard::to_allocvec(&message)
            .map_err(|e| AppError::Other(format!("congestion payload: {e}")))
            .and_then(|p| ctx.send_capsule(fp, to, DATA_BUDGET, &p));
        match result {
            Ok(()) => true,
            Err(e) => {
                self.log.send_errors += 1;
                self.log.first_error.get_or_insert_with(|| e.to_string());
                false
            }
        }
    }

    fn set_rate(&mut self, rate: f64) {
        self.rate = rate;
        self.log.min_rate_pps = self.log.min_rate_pps.min(rate);
        self.log.max_rate_pps = self.log.max_rate_pps.max(rate);
        self.log.final_rate_pps = rate;
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
        format!("congestion sender {} ({mode})", self.log.node)
    }

    fn start(&mut self, ctx: &mut AppContext<'_>) -> Result<(), AppError> {
        self.log.node = ctx.node_name(ctx.node()).to_string();
        self.fingerprint = Some(ctx.register_capsule(CAPSULE)?);
        ctx.listen(NOTIFY_PORT);
        ctx.set_timer(Duration::ZERO, WARM_UP);
        let after = (Timestamp::ZERO + self.start).saturating_duration_since(ctx.now());
        ctx.set_timer(after, SEND);
        Ok(())
    }

    fn on_timer(&mut self, ctx: &mut AppContext<'_>, token: u64) {
        if token == WARM_UP {
            self.send(ctx, 0);
            return;
        }
        let now = ctx.now();
        if now >= Timestamp::ZERO + self.stop {
            return;
        }
        if self.control.react
            && now.saturating_duration_since(self.last_change) >= self.control.rtt
            && self.rate < self.control.ceiling_pps
        {
            let rate = (self.rate + self.control.step_pps).min(self.control.ceiling_pps);
            self.set_rate(rate);
            self.log.increases += 1;
            self.last_change = now;
        }
        let seq = self.next_seq;
        if self.send(ctx, seq) {
            self.log.sent += 1;
        }
        self.next_seq = self.next_seq.wrapping_add(1);
        ctx.set_timer(self.gap(), SEND);
    }

    fn on_delivery(&mut self, ctx: &mut AppContext<'_>, d: &AppDelivery) {
        let notification = match postcard::from_bytes::<Notification>(&d.payload) {
            Ok(n) if n.flow == FLOW && Some(d.fingerprint) == self.fingerprint => n,
            _ => {
                self.log.foreign += 1;
                return;
            }
        };
        self.log.notifications += 1;
        if !self.control.react || notification.seq < self.recover_seq {
            self.log.ignored += 1;
            return;
        }
        let rate = (self.rate / 2.0).max(self.control.floor_pps);
        self.set_rate(rate);
        self.log.decreases += 1;
        self.recover_seq = self.next_seq;
        self.last_change = ctx.now();
    }

    fn report(&self) -> Value {
        serde_json::to_value(&self.log).unwrap_or(Value::Null)
    }

    fn summary(&self) -> String {
        format!(
            "{} data capsules sent, {} notifications, {} decreases, rate {:.0}..{:.0} capsules/s",
            self.log.sent,
            self.log.notifications,
            self.log.decreases,
            self.log.min_rate_pps,
            self.log.max_rate_pps
        )
    }
}

/// What a [`FlowReceiver`] got (its JSON report, read back with [`ReceiverLog::of`]).
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

impl AppLog for ReceiverLog {}

/// The flow's destination: records every data capsule of the flow delivered on
/// [`DATA_PORT`], by sequence number (0 is the sender's warm-up capsule, noted apart), and the
/// data that arrived within a measurement window (for goodput).
#[derive(Debug)]
pub struct FlowReceiver {
    window: (Duration, Duration),
    fingerprint: Option<Fingerprint>,
    seen: BTreeSet<u32>,
    log: ReceiverLog,
}

impl FlowReceiver {
    /// A receiver of [`FLOW`] counting goodput over `[from, until)` (virtual time since the
    /// start of the run).
    pub fn new(from: Duration, until: Duration) -> Self {
        FlowReceiver {
            window: (from, until),
            fingerprint: None,
            seen: BTreeSet::new(),
            log: ReceiverLog::default(),
        }
    }
}

impl Application for FlowReceiver {
    fn name(&self) -> String {
        format!("flow receiver {}", self.log.node)
    }

    fn start(&mut self, ctx: &mut AppContext<'_>) -> Result<(), AppError> {
        self.log.node = ctx.node_name(ctx.node()).to_string();
        // Registering pins the code here, so the receiver's node never has to load it.
        self.fingerprint = Some(ctx.register_capsule(CAPSULE)?);
        ctx.listen(DATA_PORT);
        Ok(())
    }

    fn on_delivery(&mut self, _ctx: &mut AppContext<'_>, d: &AppDelivery) {
        let data = match postcard::from_bytes::<Data>(&d.payload) {
            Ok(data) if data.flow == FLOW && Some(d.fingerprint) == self.fingerprint => data,
            _ => {
                self.log.foreign += 1;
                return;
            }
        };
        if data.seq == 0 {
            self.log.warm_up = true;
            return;
        }
        if !self.seen.insert(data.seq) {
            self.log.duplicates += 1;
            return;
        }
        let len = data.data.len() as u64;
        let log = &mut self.log;
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
        let (from, until) = self.window;
        if d.at >= Timestamp::ZERO + from && d.at < Timestamp::ZERO + until {
            log.window_packets += 1;
            log.window_bytes += len;
        }
    }

    fn report(&self) -> Value {
        serde_json::to_value(&self.log).unwrap_or(Value::Null)
    }

    fn summary(&self) -> String {
        format!(
            "{} capsules ({} bytes of data), {} in the window",
            self.log.delivered, self.log.bytes, self.log.window_packets
        )
    }
}

// ---- The network and its runs ----------------------------------------------------------------

/// What the flow runs into.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Bottleneck {
    /// The link.
    #[serde(skip)]
    pub link: LinkId,
    /// The flow's direction on it: 0 for a → b, 1 for b → a (as in
    /// [`Emulator::link_stats`]).
    #[serde(skip)]
    pub direction: usize,
    /// Its sending end (an active router) on the flow's path.
    pub from: String,
    /// Its receiving end.
    pub to: String,
    /// Bandwidth, bits per second.
    pub bandwidth_bps: u64,
    /// Drop-tail queue, datagrams.
    pub queue: usize,
    /// Data capsules per second it carries at most.
    pub capacity_pps: f64,
}

/// How the flow runs: timing, size and pacing relative to the bottleneck.
#[derive(Clone, Debug, PartialEq)]
pub struct Config {
    /// When the paced flow starts; one warm-up capsule leaves at time zero so every active
    /// node on the path has loaded the code by then.
    pub start: Duration,
    /// How long the flow sends.
    pub duration: Duration,
    /// How long the run goes on after the flow stopped (the queue drains).
    pub settle: Duration,
    /// Data bytes per capsule (at most [`MAX_DATA`]).
    pub data_len: usize,
    /// Starting rate, and the ceiling of additive increase, as a multiple of the bottleneck's
    /// capacity (above 1: the flow starts above what the bottleneck carries).
    pub overload: f64,
    /// Additive increase per round trip, as a fraction of the bottleneck's capacity.
    pub step: f64,
    /// Whether to run the reacting flow a second time and compare (determinism).
    pub repeat: bool,
}

impl Default for Config {
    /// 100-byte capsules for 4 s from 1 s, starting at 1.5 times the bottleneck's capacity,
    /// increase steps of a quarter of it per round trip, 500 ms to settle, no repeat.
    fn default() -> Self {
        Config {
            start: Duration::from_secs(1),
            duration: Duration::from_secs(4),
            settle: Duration::from_millis(500),
            data_len: 100,
            overload: 1.5,
            step: 0.25,
            repeat: false,
        }
    }
}

impl Config {
    fn check(&self) -> anyhow::Result<()> {
        if self.data_len > MAX_DATA {
            bail!(
                "data of {} bytes: a congestion data capsule carries at most {MAX_DATA}",
                self.data_len
            );
        }
        if !(self.overload > 0.0 && self.overload.is_finite()) {
            bail!("the starting rate must be a positive multiple of the bottleneck's capacity");
        }
        if !(self.step >= 0.0 && self.step.is_finite()) {
            bail!("the increase step must be zero or more");
        }
        if self.duration.is_zero() {
            bail!("the flow must last more than zero");
        }
        Ok(())
    }
}

/// The network a run uses: the topology, its routes, the capsules, the roles and the
/// bottleneck on the path between them.
#[derive(Clone, Debug)]
pub struct Network {
    /// The topology file.
    pub file: PathBuf,
    /// The network.
    pub topology: Topology,
    /// Its routes.
    pub routes: Routes,
    /// Where the capsules are.
    pub capsules: CapsuleLocator,
    /// The sending host (the file's group `sender`).
    pub sender: NodeId,
    /// The receiving host (the file's group `receiver`).
    pub receiver: NodeId,
    /// The lowest-bandwidth link on the path.
    pub bottleneck: Bottleneck,
    /// Round trip of the path without queueing: propagation both ways plus one data
    /// capsule's serialisation on every link of limited bandwidth.
    pub rtt: Duration,
}

/// Bytes one data capsule of `data_len` bytes takes on the wire (IPv4, UDP, capsule header).
pub fn wire_len(data_len: usize) -> usize {
    let message = Message::Data(Data {
        hops: 0,
        flow: FLOW,
        // A typical sequence number: two bytes of varint.
        seq: 1_000,
        data: vec![0; data_len],
    });
    let payload = postcard::to_allocvec(&message).map_or(data_len + 6, |p| p.len());
    payload + MIN_HEADER_LEN + IP_UDP_OVERHEAD
}

impl Network {
    /// Reads the topology file `options` names (else [`EXAMPLE`]) and finds the roles.
    pub fn load(options: &ScenarioOptions, data_len: usize) -> anyhow::Result<Network> {
        let loaded = options.load(EXAMPLE)?;
        Network::new(loaded.file, loaded.topology, loaded.capsules, data_len)
    }

    /// The roles of `topology` (one node each in groups `sender` and `receiver`, both running
    /// a node core) and the bottleneck on the path between them for capsules of `data_len`
    /// bytes of data.
    pub fn new(
        file: PathBuf,
        topology: Topology,
        capsules: CapsuleLocator,
        data_len: usize,
    ) -> anyhow::Result<Network> {
        let one = |group: &str| -> anyhow::Result<NodeId> {
            match topology.groups.get(group).map(Vec::as_slice) {
                Some([n]) if topology.nodes[*n].kind.runs_node_core() => Ok(*n),
                Some([n]) => bail!(
                    "{}: `{}` (group `{group}`) is a legacy router; it must run a node core",
                    file.display(),
                    topology.nodes[*n].name
                ),
                other => bail!(
                    "{}: the group `{group}` must name exactly one host, it names {}",
                    file.display(),
                    other.map_or(0, <[NodeId]>::len)
                ),
            }
        };
        let sender = one(SENDER_GROUP)?;
        let receiver = one(RECEIVER_GROUP)?;
        if sender == receiver {
            bail!(
                "{}: the sender and the receiver are the same node",
                file.display()
            );
        }
        let routes = Routes::compute(&topology);
        let path = routes.ip_path(sender, receiver);
        let wire_bits = (wire_len(data_len) * 8) as f64;
        let mut rtt = Duration::ZERO;
        let mut bottleneck: Option<(LinkId, NodeId, NodeId, u64)> = None;
        for hop in path.windows(2) {
            let (x, y) = (hop[0], hop[1]);
            let Some(l) = topology.link_between(x, y) else {
                bail!("{}: no link between consecutive path nodes", file.display());
            };
            let p = &topology.links[l].params;
            rtt += p.delay * 2;
            if let Some(bps) = p.bandwidth_bps.filter(|b| *b > 0) {
                rtt += Duration::from_secs_f64(wire_bits / bps as f64);
                if bottleneck.is_none_or(|(_, _, _, b)| bps < b) {
                    bottleneck = Some((l, x, y, bps));
                }
            }
        }
        let Some((link, from, to, bandwidth_bps)) = bottleneck else {
            bail!(
                "{}: no link on the path from `{}` to `{}` has a bandwidth: there is no bottleneck to congest",
                file.display(),
                topology.nodes[sender].name,
                topology.nodes[receiver].name
            );
        };
        if !topology.nodes[from].kind.runs_node_core() {
            bail!(
                "{}: the bottleneck {} -- {} leaves the legacy router `{}`, whose link load no capsule can read; put an active router on its sending end",
                file.display(),
                topology.nodes[from].name,
                topology.nodes[to].name,
                topology.nodes[from].name
            );
        }
        let bottleneck = Bottleneck {
            link,
            direction: usize::from(topology.links[link].a != from),
            from: topology.nodes[from].name.clone(),
            to: topology.nodes[to].name.clone(),
            bandwidth_bps,
            queue: topology.links[link].params.queue,
            capacity_pps: bandwidth_bps as f64 / wire_bits,
        };
        Ok(Network {
            file,
            topology,
            routes,
            capsules,
            sender,
            receiver,
            bottleneck,
            rtt,
        })
    }

    /// The sender's pacing for `config`, reacting or not.
    pub fn rate_control(&self, config: &Config, react: bool) -> RateControl {
        let c = self.bottleneck.capacity_pps;
        RateControl {
            start_pps: c * config.overload,
            ceiling_pps: c * config.overload,
            floor_pps: 1.0,
            step_pps: c * config.step,
            rtt: self.rtt,
            react,
        }
    }

    /// An emulator of this network (seed `seed`, else the file's) with the sender and the
    /// receiver added at time zero; the file's own applications are not started, so the
    /// bottleneck carries only this flow.
    pub fn emulator(
        &self,
        seed: Option<u64>,
        config: &Config,
        react: bool,
    ) -> anyhow::Result<(Emulator, AppId, AppId)> {
        let options = EmulatorOptions {
            seed,
            start_apps: false,
            ..EmulatorOptions::default()
        };
        let mut emulator = Emulator::new(&self.topology, &self.routes, &self.capsules, options)
            .with_context(|| format!("cannot emulate `{}`", self.topology.name))?;
        let stop = config.start + config.duration;
        let receiver = emulator.add_app(
            self.receiver,
            Box::new(FlowReceiver::new(config.start, stop)),
        )?;
        let sender = CongestionSender::new(
            self.receiver,
            self.rate_control(config, react),
            config.start,
            stop,
            config.data_len,
        );
        let sender = emulator.add_app(self.sender, Box::new(sender))?;
        Ok((emulator, sender, receiver))
    }

    /// Runs the flow once to the end (`start + duration + settle`) and counts.
    pub fn run(&self, seed: Option<u64>, config: &Config, react: bool) -> anyhow::Result<RunStats> {
        let (mut emu, sender, receiver) = self.emulator(seed, config, react)?;
        // The warm-up (demand loading along the path) ends before the flow starts; counters
        // are taken from there on, so code fragments the bottleneck dropped while the router
        // behind it fetched the code are counted apart.
        emu.run_until(Timestamp::ZERO + config.start);
        let (warm_up_drops, warm_up_packets) = self.bottleneck_counts(&emu);
        let warm_up_all = all_queue_drops(&emu);
        emu.run_until(Timestamp::ZERO + config.start + config.duration + config.settle);
        let s = SenderLog::of(&emu, sender).context("the sender's log")?;
        let r = ReceiverLog::of(&emu, receiver).context("the receiver's log")?;
        let (drops, packets) = self.bottleneck_counts(&emu);
        let bottleneck_drops = drops - warm_up_drops;
        let capsule_drops = (0..self.topology.nodes.len())
            .filter_map(|n| emu.node(n))
            .map(|n| n.stats().drops.total())
            .sum();
        let secs = config.duration.as_secs_f64();
        let delivered = r.delivered;
        Ok(RunStats {
            react,
            seed: emu.seed(),
            sent: s.sent,
            delivered,
            lost: s.sent.saturating_sub(delivered),
            bottleneck_drops,
            bottleneck_packets: packets - warm_up_packets,
            warm_up_drops,
            warm_up_delivered: r.warm_up,
            other_queue_drops: all_queue_drops(&emu) - warm_up_all - bottleneck_drops,
            capsule_drops,
            window_packets: r.window_packets,
            goodput_bps: r.window_bytes as f64 * 8.0 / secs,
            goodput_pps: r.window_packets as f64 / secs,
            notifications: s.notifications,
            ignored: s.ignored,
            decreases: s.decreases,
            increases: s.increases,
            min_rate_pps: s.min_rate_pps,
            max_rate_pps: s.max_rate_pps,
            final_rate_pps: s.final_rate_pps,
            duplicates: r.duplicates,
            send_errors: s.send_errors,
            virtual_ms: emu.now().as_nanos() as f64 / 1e6,
            events: emu.events(),
        })
    }

    /// Queue drops and datagrams sent so far on the bottleneck, in the flow's direction.
    fn bottleneck_counts(&self, emu: &Emulator) -> (u64, u64) {
        emu.link_stats(self.bottleneck.link).map_or((0, 0), |d| {
            let s = d[self.bottleneck.direction];
            (s.queue_drops, s.packets)
        })
    }
}

/// Queue drops so far on every link direction.
fn all_queue_drops(emu: &Emulator) -> u64 {
    (0..emu.topology().links.len())
        .filter_map(|l| emu.link_stats(l))
        .flat_map(|d| d.map(|s| s.queue_drops))
        .sum()
}

/// One run's numbers.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct RunStats {
    /// Whether the sender reacted to notifications.
    pub react: bool,
    /// The seed.
    pub seed: u64,
    /// Data capsules sent during the flow.
    pub sent: u64,
    /// Of them, delivered (distinct).
    pub delivered: u64,
    /// Sent but never delivered.
    pub lost: u64,
    /// Datagrams the bottleneck's queue refused during the flow (the flow's direction).
    pub bottleneck_drops: u64,
    /// Datagrams the bottleneck put on the wire during the flow (the flow's direction).
    pub bottleneck_packets: u64,
    /// Datagrams the bottleneck's queue refused before the flow started: code fragments
    /// served in a burst to the router behind it while it demand-loaded the capsule (it
    /// asks again for the missing ones), the same in both runs.
    pub warm_up_drops: u64,
    /// Whether the warm-up capsule arrived (the code was loaded along the whole path).
    pub warm_up_delivered: bool,
    /// Queue drops on every other link direction (0 expected).
    pub other_queue_drops: u64,
    /// Capsules the nodes dropped, all reasons (0 expected).
    pub capsule_drops: u64,
    /// Capsules delivered during the sending period.
    pub window_packets: u64,
    /// Application data delivered during the sending period, bits per second of virtual time.
    pub goodput_bps: f64,
    /// Capsules delivered per second of the sending period.
    pub goodput_pps: f64,
    /// Notifications the sender received.
    pub notifications: u64,
    /// Of them, ignored (reactions off, or within a round trip of a decrease).
    pub ignored: u64,
    /// Rate decreases.
    pub decreases: u64,
    /// Rate increases.
    pub increases: u64,
    /// Lowest rate (capsules per second).
    pub min_rate_pps: f64,
    /// Highest rate.
    pub max_rate_pps: f64,
    /// Rate at the end of the flow.
    pub final_rate_pps: f64,
    /// Extra copies the receiver got (0 expected).
    pub duplicates: u64,
    /// Capsules the sender's node refused (0 expected).
    pub send_errors: u64,
    /// Virtual time covered (ms).
    pub virtual_ms: f64,
    /// Emulator events processed.
    pub events: u64,
}

/// The scenario's result: the same flow with and without the capsule's advice.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Report {
    /// Topology name.
    pub topology: String,
    /// The topology file.
    pub file: String,
    /// The sending host.
    pub sender: String,
    /// The receiving host.
    pub receiver: String,
    /// The bottleneck.
    pub bottleneck: Bottleneck,
    /// Path round trip without queueing (ms).
    pub rtt_ms: f64,
    /// Data bytes per capsule.
    pub data_len: usize,
    /// Bytes per capsule on the wire.
    pub wire_len: usize,
    /// The reacting sender's pacing (the other sends at `start_pps` throughout).
    pub control: RateControl,
    /// When the flow started (ms).
    pub start_ms: f64,
    /// How long it sent (ms).
    pub duration_ms: f64,
    /// The run whose sender follows the capsule's advice.
    pub with_advice: RunStats,
    /// The same flow at a constant rate (notifications ignored).
    pub without_advice: RunStats,
    /// Bottleneck drops with advice / without.
    pub drop_ratio: f64,
    /// Goodput with advice / without.
    pub goodput_ratio: f64,
    /// Whether a second reacting run with the same seed gave the same numbers (`None` if
    /// not repeated).
    pub repeat_identical: Option<bool>,
}

/// The bar: with the advice, bottleneck drops below a quarter of those without it.
pub const MAX_DROP_RATIO: f64 = 0.25;
/// The bar: with the advice, at least this share of the goodput without it.
pub const MIN_GOODPUT_RATIO: f64 = 0.9;

impl Report {
    /// Whether the bar holds: far fewer drops at the bottleneck, goodput held, and
    /// notifications did arrive.
    pub fn bar_met(&self) -> bool {
        self.without_advice.bottleneck_drops > 0
            && self.drop_ratio < MAX_DROP_RATIO
            && self.goodput_ratio >= MIN_GOODPUT_RATIO
            && self.with_advice.notifications > 0
    }
}

/// Runs the scenario with the default [`Config`].
pub fn run(options: &ScenarioOptions) -> anyhow::Result<Report> {
    run_with(options, &Config::default())
}

/// Runs the flow with the capsule's advice, without it, and (if `config.repeat`) with it
/// again, on the network `options` names.
pub fn run_with(options: &ScenarioOptions, config: &Config) -> anyhow::Result<Report> {
    config.check()?;
    let net = Network::load(options, config.data_len)?;
    let with_advice = net
        .run(options.seed, config, true)
        .context("the run with the capsule's advice")?;
    let without_advice = net
        .run(options.seed, config, false)
        .context("the run without reactions")?;
    let repeat_identical = if config.repeat {
        let again = net
            .run(options.seed, config, true)
            .context("the repeated run with the capsule's advice")?;
        Some(again == with_advice)
    } else {
        None
    };
    let ratio = |a: f64, b: f64| if b == 0.0 { f64::INFINITY } else { a / b };
    let t = &net.topology;
    Ok(Report {
        topology: t.name.clone(),
        file: net.file.display().to_string(),
        sender: t.nodes[net.sender].name.clone(),
        receiver: t.nodes[net.receiver].name.clone(),
        bottleneck: net.bottleneck.clone(),
        rtt_ms: net.rtt.as_secs_f64() * 1e3,
        data_len: config.data_len,
        wire_len: wire_len(config.data_len),
        control: net.rate_control(config, true),
        start_ms: config.start.as_secs_f64() * 1e3,
        duration_ms: config.duration.as_secs_f64() * 1e3,
        drop_ratio: ratio(
            with_advice.bottleneck_drops as f64,
            without_advice.bottleneck_drops as f64,
        ),
        goodput_ratio: ratio(with_advice.goodput_bps, without_advice.goodput_bps),
        with_advice,
        without_advice,
        repeat_identical,
    })
}

impl ScenarioReport for Report {
    fn table(&self) -> String {
        let (a, b) = (&self.with_advice, &self.without_advice);
        let c = &self.control;
        let n = &self.bottleneck;
        let mut out = String::new();
        let _ = writeln!(
            out,
            "congestion notification on {} (seed {}): {} -> {}, bottleneck {} -> {} at {} kbit/s \
             with a {}-datagram queue ({:.0} capsules/s of {} bytes), path round trip {:.1} ms",
            self.topology,
            a.seed,
            self.sender,
            self.receiver,
            n.from,
            n.to,
            n.bandwidth_bps / 1000,
            n.queue,
            n.capacity_pps,
            self.wire_len,
            self.rtt_ms
        );
        let _ = writeln!(
            out,
            "flow: {}-byte data for {:.0} ms from {:.0} ms at {:.0} capsules/s; with advice: halve \
             per notification at most once per round trip, +{:.0} capsules/s per round trip up to {:.0}",
            self.data_len, self.duration_ms, self.start_ms, c.start_pps, c.step_pps, c.ceiling_pps
        );
        let _ = writeln!(
            out,
            "\n  {:<34} {:>13} {:>13}",
            "", "with advice", "constant rate"
        );
        let mut row = |what: String, x: String, y: String| {
            let _ = writeln!(out, "  {what:<34} {x:>13} {y:>13}");
        };
        row(
            "data capsules sent".into(),
            a.sent.to_string(),
            b.sent.to_string(),
        );
        row(
            "delivered".into(),
            a.delivered.to_string(),
            b.delivered.to_string(),
        );
        row(
            format!("queue drops at {} -> {}", n.from, n.to),
            a.bottleneck_drops.to_string(),
            b.bottleneck_drops.to_string(),
        );
        row(
            "goodput (data, kbit/s)".into(),
            format!("{:.1}", a.goodput_bps / 1e3),
            format!("{:.1}", b.goodput_bps / 1e3),
        );
        row(
            "goodput (capsules/s)".into(),
            format!("{:.1}", a.goodput_pps),
            format!("{:.1}", b.goodput_pps),
        );
        row(
            "notifications received".into(),
            a.notifications.to_string(),
            b.notifications.to_string(),
        );
        row(
            "rate decreases / increases".into(),
            format!("{} / {}", a.decreases, a.increases),
            format!("{} / {}", b.decreases, b.increases),
        );
        row(
            "rate min..max (capsules/s)".into(),
            format!("{:.0}..{:.0}", a.min_rate_pps, a.max_rate_pps),
            format!("{:.0}..{:.0}", b.min_rate_pps, b.max_rate_pps),
        );
        row(
            "warm-up drops (code fragments)".into(),
            a.warm_up_drops.to_string(),
            b.warm_up_drops.to_string(),
        );
        row(
            "other drops (queues, nodes)".into(),
            format!("{}, {}", a.other_queue_drops, a.capsule_drops),
            format!("{}, {}", b.other_queue_drops, b.capsule_drops),
        );
        let _ = writeln!(
            out,
            "\nbottleneck drops with / without advice = {:.3} (bar < {MAX_DROP_RATIO}); goodput with / without = {:.3} (bar >= {MIN_GOODPUT_RATIO}): {}",
            self.drop_ratio,
            self.goodput_ratio,
            if self.bar_met() {
                "bar met"
            } else {
                "BAR NOT MET"
            }
        );
        if let Some(same) = self.repeat_identical {
            let _ = writeln!(
                out,
                "same seed again: {}",
                if same {
                    "identical numbers"
                } else {
                    "DIFFERENT numbers"
                }
            );
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wire_length_adds_every_header() {
        // 100 data bytes, 6 bytes of message around them, a 56-byte capsule header, 28 of
        // IPv4 and UDP.
        assert_eq!(wire_len(100), 100 + 6 + MIN_HEADER_LEN + IP_UDP_OVERHEAD);
    }

    #[test]
    fn configs_are_checked() {
        assert!(Config::default().check().is_ok());
        let big = Config {
            data_len: MAX_DATA + 1,
            ..Config::default()
        };
        assert!(big.check().is_err());
        let zero = Config {
            overload: 0.0,
            ..Config::default()
        };
        assert!(zero.check().is_err());
    }
}
