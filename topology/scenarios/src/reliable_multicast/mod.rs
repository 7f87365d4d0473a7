//! The reliable multicast scenario: a source streams numbered packets to a group across lossy
//! links, members NACK what they miss, and the source's first link shows what local repair
//! saves over end-to-end retransmission.
//!
//! Owns the two applications that drive `capsules/reliable-multicast` ([`ReliableSource`],
//! [`ReliableMember`], as its crate doc's "Application side" asks), the run of one network in
//! both recovery modes ([`Recovery`]), and the [`Report`]: delivery per member, NACKs, repairs
//! by origin, and the repair datagrams that crossed the source's first link in each mode,
//! side by side. The network is a topology file ([`EXAMPLE`] by default) whose group `source`
//! names the one sending host and whose group `members` names the receivers.
//!
//! How the first link is measured: the emulator counts, per link direction and per protocol,
//! every capsule put on the wire. On the direction leaving the source, the reliable-multicast
//! capsules are the original data packets, the announcements and the repairs; the source
//! application counts the first two, so the rest are repairs. In end-to-end mode the repairs
//! are `forward` capsules, counted the same way. Both modes run the same network, seed and
//! applications; only the way losses are repaired differs.
//!
//! Why the baseline is fair: in [`Recovery::EndToEnd`] the same members NACK on the same
//! timers, but to the source application, which answers every NACK itself: each repair
//! starts at the source and crosses its first link, as with any protocol that gets no help
//! from the network. Since it repairs per member, the report also gives a floor no
//! source-only scheme can beat, even one that multicasts each repair once to everybody: the
//! number of packets that at least one member missed in the local-repair run, each of which
//! must cross the first link again at least once.
//!
//! It never reaches into a node core: everything goes through the emulator's public API and
//! the capsule's public message types. Runs take virtual time only and are deterministic for
//! a seed.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;
use std::net::IpAddr;
use std::path::PathBuf;
use std::time::Duration;

use ants_router::fingerprint::Fingerprint;
use ants_router::time::Timestamp;
use anyhow::bail;
use capsule_reliable_multicast::{MAX_DATA, MAX_NACK_SEQS, Message, RETRY_AFTER_MS};
use capsule_sdk::Address;
use serde::Serialize;
use serde_json::{Value, json};

use crate::{Compared, Loaded, Probe, Scenario, ScenarioReport, Table, ms};
use ants_emulator::{AppContext, AppDelivery, AppError, Application, Emulator, EmulatorOptions};
use ants_topology::capsules::CapsuleLocator;
use ants_topology::model::{LinkId, NodeId, Topology};
use ants_topology::routes::Routes;

/// The scenario's topology file, relative to the repository root.
pub const EXAMPLE: &str = "topology/examples/reliable-multicast.toml";
/// The file's group naming the one sending host.
pub const SOURCE_GROUP: &str = "source";
/// The file's group naming the receivers.
pub const MEMBER_GROUP: &str = "members";
/// The capsule, as registered by name.
pub const CAPSULE: &str = "reliable-multicast";
/// The unicast capsule that carries NACKs and repairs in [`Recovery::EndToEnd`].
pub const UNICAST_CAPSULE: &str = "forward";
/// The `forward` capsule's delivery port (`capsule-forward` builds no Rust library to take
/// its `DELIVERY_PORT` from).
pub const FORWARD_PORT: u16 = 1;
/// Group id of the stream.
pub const GROUP: u32 = 1;
/// Application port of every member.
pub const MEMBER_PORT: u16 = 5000;
/// Budget of subscribes (the crate doc's value).
pub const SUBSCRIBE_BUDGET: u16 = 64;
/// Budget of data and announcements (the crate doc's value).
pub const DATA_BUDGET: u16 = 4096;
/// Budget of NACKs (the crate doc's value).
pub const NACK_BUDGET: u16 = 1024;
/// Budget of `forward` capsules in end-to-end mode: more than any path's active hops.
pub const UNICAST_BUDGET: u16 = 64;
/// How often the source announces its highest sequence number while sending and after.
pub const ANNOUNCE_EVERY: Duration = Duration::from_millis(100);
/// How long the source keeps announcing after its last packet.
pub const ANNOUNCE_TAIL: Duration = Duration::from_secs(2);
/// How often a member looks for sequence numbers to NACK.
pub const NACK_TICK: Duration = Duration::from_millis(20);
/// Most NACK capsules a member sends per tick (each names up to [`MAX_NACK_SEQS`]).
pub const MAX_NACKS_PER_TICK: usize = 4;
/// How often a member subscribes. The crate asks for at least every
/// [`REFRESH_INTERVAL_MS`](capsule_reliable_multicast::REFRESH_INTERVAL_MS) (10 s); every
/// node forwards a subscribe upstream at most every
/// [`UPSTREAM_REFRESH_MS`](capsule_reliable_multicast::UPSTREAM_REFRESH_MS) (5 s) anyway, so
/// subscribing more often adds no link traffic and makes sure each of those chances is taken:
/// under loss, every hop of the tree is then refreshed about six times per branch lifetime
/// ([`MEMBER_TTL_MS`](capsule_reliable_multicast::MEMBER_TTL_MS), 30 s) instead of three.
pub const SUBSCRIBE_EVERY: Duration = Duration::from_secs(1);
/// How often the run checks whether every member has everything.
pub const CHECK_EVERY: Duration = Duration::from_millis(100);

/// What an encoding error says was being encoded.
const PAYLOAD: &str = "encoding a reliable multicast message";

const SUBSCRIBE: u64 = 0;
const NACK: u64 = 1;
const DATA: u64 = 2;
const ANNOUNCE: u64 = 3;

/// How members recover lost packets.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Recovery {
    /// The capsule's NACKs: the nearest node upstream that holds a packet repairs it, and
    /// NACKs for one loss become one request per link.
    Local,
    /// The baseline: members send their NACKs straight to the source application in
    /// `forward` capsules, and it answers each with a unicast repair (it keeps every packet
    /// it sent). No node on the way repairs or merges anything: every repair starts at the
    /// source, as in a protocol without help from the network.
    EndToEnd,
}

impl Recovery {
    /// A label for tables.
    pub fn label(self) -> &'static str {
        match self {
            Recovery::Local => "local repair",
            Recovery::EndToEnd => "end to end",
        }
    }
}

/// What a run sends and how long it may take.
#[derive(Clone, Debug, PartialEq)]
pub struct Config {
    /// Data packets the source sends.
    pub packets: u32,
    /// Time between two data packets. A packet can be repaired only while the source's
    /// window of 64 packets holds it: at 50 ms that is 3.2 s, a dozen NACK retries of 250 ms.
    /// At 20 ms (1.28 s) some packets that need several rounds are lost for good.
    pub interval: Duration,
    /// Application bytes per packet (at most the capsule's [`MAX_DATA`]).
    pub data_len: usize,
    /// When the source sends its first packet. Members subscribe from time zero, but a node
    /// forwards a subscribe upstream at most every 5 s (and, right after it loaded the code,
    /// often only every 10 s); across two links with 10 % loss one in five is lost, and so
    /// is a code load now and then (the subscribe it held is dropped). The tree needs a few
    /// of those chances to reach every member before the first packet: the capsule promises
    /// nothing about packets sent before a member joined.
    pub start: Duration,
    /// Longest the run goes on after `start` when some member still misses packets.
    pub limit: Duration,
    /// Whether to run local repair a second time with the same seed and compare.
    pub repeat: bool,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            packets: 200,
            interval: Duration::from_millis(50),
            data_len: 64,
            start: Duration::from_secs(30),
            limit: Duration::from_secs(30),
            repeat: true,
        }
    }
}

/// The application bytes of packet `seq`: its number, then a pattern derived from it, so a
/// member can check every packet it gets.
pub fn data_for(seq: u32, len: usize) -> Vec<u8> {
    let mut d = seq.to_le_bytes().to_vec();
    d.extend(
        (0..len.saturating_sub(4)).map(|i| (seq as u8).wrapping_mul(31).wrapping_add(i as u8)),
    );
    d.truncate(len);
    d
}

mod member;
mod network;
mod report;
mod source;

pub use member::*;
pub use network::*;
pub use report::*;
pub use source::*;

/// The reliable multicast scenario: one [`Network`] run with local repair, end to end, and (if
/// [`Config::repeat`]) with local repair again.
pub type ReliableMulticast = Compared<Network, Config>;

/// What happened in the scenario's runs: everything its [`Report`] is made from.
#[derive(Clone, Debug, PartialEq)]
pub struct Record {
    /// Topology name.
    pub topology: String,
    /// The topology file.
    pub file: PathBuf,
    /// The source's node.
    pub source: String,
    /// The members' nodes.
    pub members: Vec<String>,
    /// What the runs sent.
    pub config: Config,
    /// Each link's loss rate.
    pub losses: Vec<f64>,
    /// The run with the capsule's local repair.
    pub local: RunStats,
    /// The run with end-to-end retransmission.
    pub end_to_end: RunStats,
    /// The local-repair run again with the same seed, if [`Config::repeat`].
    pub repeat: Option<RunStats>,
}

impl Scenario for ReliableMulticast {
    type Plan = Config;
    type Record = Record;
    type Report = Report;

    const EXAMPLE: &'static str = EXAMPLE;

    fn build(loaded: Loaded, seed: Option<u64>, config: Config) -> anyhow::Result<Self> {
        let network = Network::new(loaded.file, loaded.topology, loaded.capsules)?;
        Ok(Compared::new(network, config, seed))
    }

    fn run(&mut self) -> anyhow::Result<Record> {
        let labels = [
            "local repair run",
            "end-to-end run",
            "repeated local repair run",
        ];
        let runs = self.runs(self.config().repeat, labels, |net, seed, config, local| {
            let recovery = if local {
                Recovery::Local
            } else {
                Recovery::EndToEnd
            };
            net.run(seed, config, recovery)
        })?;
        let (net, config) = (self.network(), self.config());
        let t = &net.topology;
        Ok(Record {
            topology: t.name.clone(),
            file: net.file.clone(),
            source: t.nodes[net.source].name.clone(),
            members: net
                .members
                .iter()
                .map(|&m| t.nodes[m].name.clone())
                .collect(),
            config: config.clone(),
            losses: t.links.iter().map(|l| l.params.loss).collect(),
            local: runs.capsule,
            end_to_end: runs.baseline,
            repeat: runs.repeat,
        })
    }

    fn report(record: &Record) -> Report {
        build_report(record)
    }
}
