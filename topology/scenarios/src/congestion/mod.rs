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

use std::path::PathBuf;
use std::time::Duration;

use ants_emulator::{Emulator, EmulatorOptions, IP_UDP_OVERHEAD};
use ants_router::time::Timestamp;
use ants_router::wire::capsule::MIN_HEADER_LEN;
use ants_topology::capsules::CapsuleLocator;
use ants_topology::model::{LinkId, NodeId, Topology};
use ants_topology::routes::Routes;
use anyhow::{Context as _, bail};
use capsule_congestion::{Data, MAX_DATA, Message};
use serde::Serialize;

use crate::{Compared, Loaded, Probe, Scenario, ms};

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

mod apps;
mod report;
#[cfg(test)]
mod tests;

pub use apps::*;
pub use report::*;

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

    /// The flow's two applications for `config`, reacting or not: the sender (to add on
    /// [`Network::sender`]) and the receiver (on [`Network::receiver`]). The emulator and a run
    /// on real daemons use the same ones.
    pub fn flow(&self, config: &Config, react: bool) -> (CongestionSender, FlowReceiver) {
        let stop = config.start + config.duration;
        let sender = CongestionSender::new(
            self.receiver,
            self.rate_control(config, react),
            config.start,
            stop,
            config.data_len,
        );
        (sender, FlowReceiver::new(config.start, stop))
    }

    /// An emulator of this network (seed `seed`, else the file's) with the sender and the
    /// receiver added at time zero; the file's own applications are not started, so the
    /// bottleneck carries only this flow.
    pub fn emulator(
        &self,
        seed: Option<u64>,
        config: &Config,
        react: bool,
    ) -> anyhow::Result<(Emulator, Probe<SenderLog>, Probe<ReceiverLog>)> {
        let options = EmulatorOptions {
            seed,
            start_apps: false,
            ..EmulatorOptions::default()
        };
        let mut emulator = Emulator::new(&self.topology, &self.routes, &self.capsules, options)
            .with_context(|| format!("cannot emulate `{}`", self.topology.name))?;
        let (sender, app) = self.flow(config, react);
        let receiver = app.probe();
        emulator.add_app(self.receiver, Box::new(app))?;
        let sender_log = sender.probe();
        emulator.add_app(self.sender, Box::new(sender))?;
        Ok((emulator, sender_log, receiver))
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
        let (drops, packets) = self.bottleneck_counts(&emu);
        let bottleneck_drops = drops - warm_up_drops;
        let counted = Counted {
            bottleneck_drops,
            bottleneck_packets: packets - warm_up_packets,
            warm_up_drops,
            other_queue_drops: all_queue_drops(&emu) - warm_up_all - bottleneck_drops,
            capsule_drops: (0..self.topology.nodes.len())
                .filter_map(|n| emu.node(n))
                .map(|n| n.stats().drops.total())
                .sum(),
            elapsed_ms: ms(emu.now()),
            events: emu.events(),
        };
        let (s, r) = (sender.snapshot(), receiver.snapshot());
        Ok(RunStats::new(react, emu.seed(), config, &s, &r, counted))
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

/// Where the runs of a [`Record`] happened.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum RunOn {
    /// In the emulator, in virtual time, deterministic for a seed.
    Emulator,
    /// On real `antsd` daemons in network namespaces, in real time (`ants topo scenario
    /// congestion --netns`).
    Namespaces,
}

impl Network {
    /// The record of runs of `config` on this network: the run with the capsule's advice, the
    /// one without, and the repeated one if any.
    pub fn record(
        &self,
        config: &Config,
        run_on: RunOn,
        with_advice: RunStats,
        without_advice: RunStats,
        repeat: Option<RunStats>,
    ) -> Record {
        let t = &self.topology;
        Record {
            run_on,
            topology: t.name.clone(),
            file: self.file.clone(),
            sender: t.nodes[self.sender].name.clone(),
            receiver: t.nodes[self.receiver].name.clone(),
            bottleneck: self.bottleneck.clone(),
            rtt: self.rtt,
            config: config.clone(),
            control: self.rate_control(config, true),
            with_advice,
            without_advice,
            repeat,
        }
    }
}

/// The congestion scenario: the flow on one [`Network`] with the capsule's advice, without it,
/// and (if [`Config::repeat`]) with it again.
pub type Congestion = Compared<Network, Config>;

/// What happened in the congestion scenario's runs: everything its [`Report`] is made from.
#[derive(Clone, Debug, PartialEq)]
pub struct Record {
    /// Where the runs happened.
    pub run_on: RunOn,
    /// Topology name.
    pub topology: String,
    /// The topology file.
    pub file: PathBuf,
    /// The sending host.
    pub sender: String,
    /// The receiving host.
    pub receiver: String,
    /// The bottleneck.
    pub bottleneck: Bottleneck,
    /// Path round trip without queueing.
    pub rtt: Duration,
    /// How the flow ran.
    pub config: Config,
    /// The reacting sender's pacing.
    pub control: RateControl,
    /// The run whose sender follows the capsule's advice.
    pub with_advice: RunStats,
    /// The same flow at a constant rate.
    pub without_advice: RunStats,
    /// The reacting run again with the same seed, if [`Config::repeat`].
    pub repeat: Option<RunStats>,
}

impl Scenario for Congestion {
    type Plan = Config;
    type Record = Record;
    type Report = Report;

    const EXAMPLE: &'static str = EXAMPLE;

    fn build(loaded: Loaded, seed: Option<u64>, config: Config) -> anyhow::Result<Self> {
        config.check()?;
        let network = Network::new(
            loaded.file,
            loaded.topology,
            loaded.capsules,
            config.data_len,
        )?;
        Ok(Compared::new(network, config, seed))
    }

    fn run(&mut self) -> anyhow::Result<Record> {
        let labels = [
            "the run with the capsule's advice",
            "the run without reactions",
            "the repeated run with the capsule's advice",
        ];
        let runs = self.runs(self.config().repeat, labels, Network::run)?;
        Ok(self.network().record(
            self.config(),
            RunOn::Emulator,
            runs.capsule,
            runs.baseline,
            runs.repeat,
        ))
    }

    fn report(record: &Record) -> Report {
        build_report(record)
    }
}
