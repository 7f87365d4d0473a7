//! The multicast scenario: one source, a group of members behind active edge routers, legacy
//! routers in between; the `multicast` capsule (`capsules/multicast`) is loaded hop by hop as
//! the members' subscribes travel toward the source, and the data follows the tree they built.
//!
//! Owns the member and source applications ([`MulticastMember`], [`MulticastSource`]), a run
//! ([`Scenario`], shaped by a [`Plan`]), its [`Report`] (per receiver: delivered, duplicated,
//! lost; per link: data copies next to what unicast fan-out from the source would send; code
//! loading hop by hop) and [`Hierarchy`], the generated network of the scale benchmark.
//!
//! How copies are counted: every capsule of the protocol is counted per link direction by the
//! emulator. Data moves away from the source (each hop one IP hop farther from it: a tree edge
//! follows a shortest path between two nodes that are themselves on a shortest path from the
//! source), and subscribes and leaves move toward it, so on every link the direction away from
//! the source carries exactly the data copies and the other direction the control capsules,
//! whenever they were sent.
//!
//! It never reaches into a node core: everything it measures comes from the emulator's public
//! counters and the applications' own records, and it reads no clock (the report is the same
//! for the same network, seed and plan).

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;
use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use ants_router::fingerprint::Fingerprint;
use ants_router::time::Timestamp;
use anyhow::{Context as _, bail};
use capsule_multicast::{MEMBER_TTL_MS, Message, REFRESH_INTERVAL_MS};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::{AppLog, ScenarioOptions, ScenarioReport};
use ants_emulator::{
    AppContext, AppDelivery, AppError, AppId, Application, Emulator, EmulatorOptions,
};
use ants_topology::capsules::CapsuleLocator;
use ants_topology::graph::Traffic;
use ants_topology::model::{
    LinkOptionsSet, LinkParams, NodeId, NodeKind, Topology, TopologyBuilder,
};
use ants_topology::routes::Routes;

/// The scenario's topology file, relative to the repository root.
pub const EXAMPLE: &str = "topology/examples/multicast.toml";
/// The same file, built in, so the demo runs from any directory.
pub const EXAMPLE_TOML: &str = include_str!("../../examples/multicast.toml");
/// The capsule the scenario drives.
pub const CAPSULE: &str = "multicast";
/// Name of the source host in the scenario's networks.
pub const SOURCE: &str = "src";
/// Name of the group whose hosts become members.
pub const MEMBERS: &str = "members";
/// The multicast group id the applications use.
pub const GROUP_ID: u32 = 1;
/// Application port members receive data on.
pub const PORT: u16 = 5000;
/// Budget of subscribe and leave capsules (the capsule crate's advice: 64 is plenty).
pub const SUBSCRIBE_BUDGET: u16 = 64;
/// Budget of data capsules, split down the tree (the capsule crate's advice: 4,096 covers
/// hundreds of members).
pub const DATA_BUDGET: u16 = 4096;
/// Largest data payload a capsule of the protocol carries (about 1,180 bytes, so the capsule
/// fits 1,200).
pub const MAX_DATA: usize = 1_180;
/// Rows each section of [`Report::table`] shows at most (everything is in the JSON).
pub const TABLE_ROWS: usize = 30;

// ---- The plan of a run ----------------------------------------------------------------------

/// Packets the source sends back to back, `Plan::interval` apart.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Burst {
    /// When the first packet leaves (virtual time since the start of the run).
    pub start: Duration,
    /// Packets in the burst.
    pub packets: u32,
}

/// What happens in a run: when the source sends, and which members leave or fall silent.
///
/// Every member subscribes at the start of the run and refreshes its subscription every
/// [`REFRESH_INTERVAL_MS`] unless it leaves or falls silent.
#[derive(Clone, Debug, PartialEq)]
pub struct Plan {
    /// The source's bursts, in time order; sequence numbers run on across bursts from 0.
    pub bursts: Vec<Burst>,
    /// Time between two packets of a burst.
    pub interval: Duration,
    /// Bytes of application data per packet (at most [`MAX_DATA`]).
    pub payload_len: usize,
    /// How long the run goes on after the last packet left.
    pub settle: Duration,
    /// Members (by node name) that send a leave at the given time.
    pub leaves: Vec<(String, Duration)>,
    /// Members (by node name) that stop refreshing their subscription from the given time on;
    /// the tree drops them [`MEMBER_TTL_MS`] after their last subscribe.
    pub silences: Vec<(String, Duration)>,
}

impl Default for Plan {
    /// 20 packets of 64 bytes, 20 ms apart, from 500 ms (the subscribes, which demand-load the
    /// code at every active hop, have reached the source by then), then 500 ms to settle.
    fn default() -> Self {
        Plan {
            bursts: vec![Burst {
                start: Duration::from_millis(500),
                packets: 20,
            }],
            interval: Duration::from_millis(20),
            payload_len: 64,
            settle: Duration::from_millis(500),
            leaves: Vec::new(),
            silences: Vec::new(),
        }
    }
}

impl Plan {
    /// Packets the source sends in all.
    pub fn packets(&self) -> u32 {
        self.bursts.iter().map(|b| b.packets).sum()
    }

    /// When the last packet leaves.
    pub fn last_packet(&self) -> Duration {
        self.bursts
            .iter()
            .map(|b| b.start + self.interval * b.packets.saturating_sub(1))
            .max()
            .unwrap_or_default()
    }

    /// When the run ends: [`Plan::settle`] after the last packet.
    pub fn end(&self) -> Duration {
        self.last_packet() + self.settle
    }

    /// Refuses plans that cannot run as written.
    fn check(&self) -> anyhow::Result<()> {
        if self.payload_len > MAX_DATA {
            bail!(
                "payload of {} bytes: a multicast data capsule carries at most {MAX_DATA}",
                self.payload_len
            );
        }
        if self.interval.is_zero() && self.bursts.iter().any(|b| b.packets > 1) {
            bail!("the interval between packets must be more than zero");
        }
        if self.bursts.windows(2).any(|w| w[1].start < w[0].start) {
            bail!("the bursts must be in time order");
        }
        Ok(())
    }
}

// ---- Applications --------------------------------------------------------------------------

/// What a [`MulticastMember`] did and received (its JSON report, read back with
/// [`MemberLog::of`]).
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

impl AppLog for MemberLog {}

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
    log: MemberLog,
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
            log: MemberLog::default(),
        }
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
        let result = postcard::to_allocvec(message)
            .map_err(|e| AppError::Other(format!("multicast payload: {e}")))
            .and_then(|p| ctx.send_capsule(fp, to, SUBSCRIBE_BUDGET, &p));
        match result {
            Ok(()) => true,
            Err(e) => {
                self.log.send_errors += 1;
                self.log.first_error.get_or_insert_with(|| e.to_string());
                false
            }
        }
    }
}

/// Time from now until `at` (virtual time since the start), zero if it has passed.
fn until(ctx: &AppContext<'_>, at: Duration) -> Duration {
    (Timestamp::ZERO + at).saturating_duration_since(ctx.now())
}

impl Application for MulticastMember {
    fn name(&self) -> String {
        format!("multicast member {}", self.log.node)
    }

    fn start(&mut self, ctx: &mut AppContext<'_>) -> Result<(), AppError> {
        self.log.node = ctx.node_name(ctx.node()).to_string();
        self.fingerprint = Some(ctx.register_capsule(CAPSULE)?);
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
        let silent = self
            .silent_at
            .is_some_and(|at| ctx.now() >= Timestamp::ZERO + at);
        self.log.silent |= silent;
        match token {
            SUBSCRIBE if self.log.left_ns.is_none() && !silent => {
                let m = Message::Subscribe {
                    group: self.group,
                    port: self.port,
                };
                if self.send(ctx, &m) {
                    self.log.subscribes_ns.push(now);
                }
                ctx.set_timer(self.refresh, SUBSCRIBE);
            }
            LEAVE if self.log.left_ns.is_none() => {
                let m = Message::Leave {
                    group: self.group,
                    port: self.port,
                };
                self.send(ctx, &m);
                self.log.left_ns = Some(now);
            }
            _ => {}
        }
    }

    fn on_delivery(&mut self, _ctx: &mut AppContext<'_>, d: &AppDelivery) {
        match Message::parse(&d.payload) {
            Ok(Message::Data { group, seq, .. })
                if group == self.group && Some(d.fingerprint) == self.fingerprint =>
            {
                *self.log.received.entry(seq).or_default() += 1;
                let at = d.at.as_nanos();
                self.log.first_ns.get_or_insert(at);
                self.log.last_ns = Some(at);
            }
            _ => self.log.foreign += 1,
        }
    }

    fn report(&self) -> Value {
        serde_json::to_value(&self.log).unwrap_or(Value::Null)
    }

    fn summary(&self) -> String {
        let copies: u32 = self.log.received.values().sum();
        format!(
            "{} packets ({} copies), {} subscribes{}",
            self.log.received.len(),
            copies,
            self.log.subscribes_ns.len(),
            if self.log.left_ns.is_some() {
                ", left"
            } else {
                ""
            }
        )
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

/// What a [`MulticastSource`] sent (its JSON report, read back with [`SourceLog::of`]).
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

impl AppLog for SourceLog {}

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
    firsts: Vec<u32>,
    log: SourceLog,
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
            log: SourceLog::default(),
        }
    }

    /// The burst sequence number `seq` belongs to, and whether it is the burst's last.
    fn last_of_burst(&self, seq: u32) -> bool {
        self.firsts
            .iter()
            .zip(&self.bursts)
            .any(|(&f, b)| seq.checked_sub(f).is_some_and(|i| i + 1 == b.packets))
    }
}

impl Application for MulticastSource {
    fn name(&self) -> String {
        format!("multicast source {}", self.log.node)
    }

    fn start(&mut self, ctx: &mut AppContext<'_>) -> Result<(), AppError> {
        self.log.node = ctx.node_name(ctx.node()).to_string();
        self.fingerprint = Some(ctx.register_capsule(CAPSULE)?);
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
        let result = postcard::to_allocvec(&message)
            .map_err(|e| AppError::Other(format!("multicast payload: {e}")))
            .and_then(|p| ctx.send_capsule(fp, me, self.budget, &p));
        match result {
            Ok(()) => self.log.sent.push(SentPacket {
                seq,
                at_ns: ctx.now().as_nanos(),
            }),
            Err(e) => {
                self.log.send_errors += 1;
                self.log.first_error.get_or_insert_with(|| e.to_string());
            }
        }
        if !self.last_of_burst(seq) {
            ctx.set_timer(self.interval, token + 1);
        }
    }

    fn report(&self) -> Value {
        serde_json::to_value(&self.log).unwrap_or(Value::Null)
    }

    fn summary(&self) -> String {
        format!("{} data packets sent", self.log.sent.len())
    }
}

// ---- The run ---------------------------------------------------------------------------------

/// A multicast run: the emulator with the source application on [`SOURCE`] and a member on
/// every node of group [`MEMBERS`], shaped by a [`Plan`].
pub struct Scenario {
    emulator: Emulator,
    plan: Plan,
    source: NodeId,
    source_app: AppId,
    /// Members in node order: node, application.
    members: Vec<(NodeId, AppId)>,
}

impl Scenario {
    /// Builds the run at virtual time zero (nothing has happened yet; the applications have
    /// registered the capsule on their nodes). `topology` needs a host or active node called
    /// [`SOURCE`] and a group [`MEMBERS`]; `seed` overrides the topology's.
    pub fn new(
        topology: &Topology,
        capsules: &CapsuleLocator,
        seed: Option<u64>,
        plan: Plan,
    ) -> anyhow::Result<Scenario> {
        plan.check()?;
        let source = topology
            .node_id(SOURCE)
            .filter(|&s| topology.nodes[s].kind.runs_node_core())
            .with_context(|| {
                format!(
                    "the multicast scenario needs a host called `{SOURCE}` in `{}`",
                    topology.name
                )
            })?;
        let members: Vec<NodeId> = topology
            .groups
            .get(MEMBERS)
            .map(|g| {
                g.iter()
                    .copied()
                    .filter(|&m| m != source && topology.nodes[m].kind.runs_node_core())
                    .collect()
            })
            .unwrap_or_default();
        if members.is_empty() {
            bail!(
                "the multicast scenario needs a group `{MEMBERS}` of hosts in `{}`",
                topology.name
            );
        }
        for (name, _) in plan.leaves.iter().chain(&plan.silences) {
            if !members.iter().any(|&m| topology.nodes[m].name == *name) {
                bail!("`{name}` is not a member of group `{MEMBERS}`");
            }
        }

        let routes = Routes::compute(topology);
        let options = EmulatorOptions {
            seed,
            start_apps: false,
            // Above the node default of 64: its data capsules are split down trees of hundreds of nodes.
            max_budget: Some(DATA_BUDGET),
            ..EmulatorOptions::default()
        };
        let mut emulator = Emulator::new(topology, &routes, capsules, options)
            .with_context(|| format!("cannot emulate `{}`", topology.name))?;
        let app = MulticastSource::new(
            GROUP_ID,
            plan.bursts.clone(),
            plan.interval,
            plan.payload_len,
        );
        let source_app = emulator.add_app(source, Box::new(app))?;
        let when = |list: &[(String, Duration)], name: &str| {
            list.iter().find(|(n, _)| n == name).map(|&(_, at)| at)
        };
        let mut member_apps = Vec::with_capacity(members.len());
        for m in members {
            let name = &topology.nodes[m].name;
            let mut app = MulticastMember::new(source, GROUP_ID, PORT);
            if let Some(at) = when(&plan.leaves, name) {
                app = app.leave_at(at);
            }
            if let Some(at) = when(&plan.silences, name) {
                app = app.silent_from(at);
            }
            member_apps.push((m, emulator.add_app(m, Box::new(app))?));
        }
        Ok(Scenario {
            emulator,
            plan,
            source,
            source_app,
            members: member_apps,
        })
    }

    /// The emulator (to run further, or read what it counted).
    pub fn emulator(&self) -> &Emulator {
        &self.emulator
    }

    /// The emulator, to run it by hand.
    pub fn emulator_mut(&mut self) -> &mut Emulator {
        &mut self.emulator
    }

    /// The plan.
    pub fn plan(&self) -> &Plan {
        &self.plan
    }

    /// The source's node.
    pub fn source(&self) -> NodeId {
        self.source
    }

    /// The members' nodes, in node order.
    pub fn members(&self) -> Vec<NodeId> {
        self.members.iter().map(|&(m, _)| m).collect()
    }

    /// The protocol's fingerprint (known once the applications started).
    pub fn fingerprint(&self) -> Option<Fingerprint> {
        self.emulator.fingerprint(CAPSULE)
    }

    /// What the member on `node` did and received.
    pub fn member_log(&self, node: NodeId) -> Option<MemberLog> {
        let &(_, app) = self.members.iter().find(|&&(m, _)| m == node)?;
        MemberLog::of(&self.emulator, app)
    }

    /// What the source sent.
    pub fn source_log(&self) -> SourceLog {
        SourceLog::of(&self.emulator, self.source_app).unwrap_or_default()
    }

    /// Runs to the end of the plan ([`Plan::end`]) and reports.
    pub fn run(&mut self) -> Report {
        self.emulator.run_until(Timestamp::ZERO + self.plan.end());
        self.report()
    }

    /// Multicast capsules on each link so far, per direction `[a → b, b → a]`.
    pub fn capsules_per_link(&self) -> Vec<[u64; 2]> {
        match self.fingerprint() {
            Some(fp) => self.emulator.traffic(Some(fp)).per_link,
            None => vec![[0; 2]; self.emulator.topology().links.len()],
        }
    }

    /// For each link, which direction moves away from the source: `Some(0)` for a → b,
    /// `Some(1)` for b → a, `None` if both ends are as far from it.
    pub fn downstream(&self) -> Vec<Option<usize>> {
        let t = self.emulator.topology();
        let r = self.emulator.routes();
        let hops = |n: NodeId| r.ip_hops(self.source, n).unwrap_or(usize::MAX);
        t.links
            .iter()
            .map(|l| {
                let (a, b) = (hops(l.a), hops(l.b));
                if b == a.wrapping_add(1) {
                    Some(0)
                } else if a == b.wrapping_add(1) {
                    Some(1)
                } else {
                    None
                }
            })
            .collect()
    }

    /// The report of the run so far.
    pub fn report(&self) -> Report {
        build_report(self)
    }
}

// ---- The report ------------------------------------------------------------------------------

/// What the network is made of.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Network {
    /// All nodes.
    pub nodes: usize,
    /// Hosts.
    pub hosts: usize,
    /// Active routers.
    pub active: usize,
    /// Legacy routers.
    pub legacy: usize,
    /// Links.
    pub links: usize,
}

/// One code load of the multicast protocol.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct CodeLoadRow {
    /// When the code became usable on the node (after its compile delay), ms.
    pub at_ms: f64,
    /// The node.
    pub node: String,
    /// Its kind.
    pub kind: NodeKind,
    /// The node it was loaded from, or `registered` (an application registered it).
    pub from: String,
    /// Module bytes.
    pub bytes: usize,
}

/// One member's reception.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Receiver {
    /// The member's node.
    pub node: String,
    /// Its active router (first active neighbour).
    pub edge: String,
    /// Packets sent while it wanted them (before it left or expired).
    pub wanted: u32,
    /// Wanted packets received at least once.
    pub delivered: u32,
    /// Extra copies received (all packets).
    pub duplicates: u32,
    /// Wanted packets never received.
    pub lost: u32,
    /// Packets received that were sent after it left or expired.
    pub unwanted: u32,
    /// When it left, if it did (ms).
    pub left_ms: Option<f64>,
    /// Whether it stopped refreshing.
    pub silent: bool,
    /// Subscribes it sent.
    pub subscribes: u32,
    /// First and last data arrival (ms).
    pub first_ms: Option<f64>,
    /// See `first_ms`.
    pub last_ms: Option<f64>,
}

impl Receiver {
    /// Whether it got every wanted packet exactly once and nothing else.
    pub fn exactly_once(&self) -> bool {
        self.delivered == self.wanted
            && self.lost == 0
            && self.duplicates == 0
            && self.unwanted == 0
    }
}

/// One burst of the plan.
#[derive(Clone, Copy, Debug, PartialEq, Serialize)]
pub struct BurstRow {
    /// When its first packet left (ms).
    pub start_ms: f64,
    /// Packets in it.
    pub packets: u32,
}

/// Copies on one link, oriented away from the source.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct LinkCopies {
    /// The end nearer the source (data leaves from here).
    pub from: String,
    /// The other end.
    pub to: String,
    /// Data copies `from → to` (multicast capsules moving away from the source).
    pub data: u64,
    /// Subscribes and leaves `to → from`.
    pub control: u64,
    /// Copies unicast fan-out from the source would put on `from → to`: one per member and
    /// packet whose shortest path crosses the link.
    pub unicast: u64,
    /// Hops from the source to `from`.
    pub depth: usize,
}

/// Multicast versus unicast fan-out.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub struct Copies {
    /// Data copies the multicast tree put on the links.
    pub multicast: u64,
    /// Copies unicast fan-out would have put there (per member: packets × IP hops).
    pub unicast: u64,
}

/// The source's first link.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct SourceLink {
    /// `src -- e0`.
    pub link: String,
    /// Copies on it, multicast versus unicast.
    pub copies: Copies,
}

/// An active router with hosts behind it, none of them a member or the source.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct QuietEdge {
    /// The router.
    pub node: String,
    /// Multicast capsules on its links (both directions).
    pub capsules: u64,
    /// Whether it loaded the protocol's code.
    pub loaded_code: bool,
}

/// The multicast scenario's report: deterministic for a network, seed and plan.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Report {
    /// Topology name.
    pub topology: String,
    /// Seed.
    pub seed: u64,
    /// What the network is made of.
    pub network: Network,
    /// The source's node.
    pub source: String,
    /// Group id.
    pub group: u32,
    /// Members.
    pub members: usize,
    /// The plan's bursts.
    pub bursts: Vec<BurstRow>,
    /// Time between packets of a burst (ms).
    pub interval_ms: f64,
    /// Data bytes per packet.
    pub payload_len: usize,
    /// Packets the source sent.
    pub packets: u32,
    /// Packets the source's node refused (0 expected).
    pub send_errors: u32,
    /// Virtual time of one compilation (ms).
    pub compile_delay_ms: f64,
    /// Virtual time covered (ms).
    pub virtual_time_ms: f64,
    /// Events the emulator processed.
    pub events: u64,
    /// Code loads of the protocol, in time order: registrations, then on demand hop by hop.
    pub code_loading: Vec<CodeLoadRow>,
    /// Every member, in node order.
    pub receivers: Vec<Receiver>,
    /// Every link that carried capsules of the protocol or would have carried unicast copies,
    /// in link order.
    pub links: Vec<LinkCopies>,
    /// Data copies on all links.
    pub totals: Copies,
    /// Data copies on the source's first link.
    pub source_link: Option<SourceLink>,
    /// Active routers without members (no copy should reach them).
    pub quiet_edges: Vec<QuietEdge>,
    /// Multicast capsules on links whose ends are as far from the source (0 expected).
    pub stray_capsules: u64,
    /// Every member got every packet it wanted exactly once, and nothing else.
    pub exactly_once: bool,
    /// Data copies per link `[a → b, b → a]`, for the picture.
    #[serde(skip)]
    pub per_link: Vec<[u64; 2]>,
}

fn ms(ns: u64) -> f64 {
    ns as f64 / 1e6
}

fn build_report(s: &Scenario) -> Report {
    let emu = &s.emulator;
    let t = emu.topology();
    let r = emu.routes();
    let name = |n: NodeId| t.nodes[n].name.clone();
    let fp = s.fingerprint();
    let source_log = s.source_log();

    let count = |k: NodeKind| t.nodes_of(k).count();
    let network = Network {
        nodes: t.nodes.len(),
        hosts: count(NodeKind::Host),
        active: count(NodeKind::Active),
        legacy: count(NodeKind::Legacy),
        links: t.links.len(),
    };

    // Code loads of this protocol.
    let node_of = |a: IpAddr| match a {
        IpAddr::V4(v4) => t.node_by_address(v4),
        IpAddr::V6(_) => None,
    };
    let code_loading: Vec<CodeLoadRow> = emu
        .code_loads()
        .iter()
        .filter(|l| Some(l.fingerprint) == fp)
        .map(|l| CodeLoadRow {
            at_ms: ms(l.at.as_nanos()),
            node: name(l.node),
            kind: t.nodes[l.node].kind,
            from: match l.from {
                None => "registered".into(),
                Some(a) => node_of(a).map_or_else(|| a.to_string(), name),
            },
            bytes: l.bytes,
        })
        .collect();
    let loaded: BTreeSet<NodeId> = emu
        .code_loads()
        .iter()
        .filter(|l| Some(l.fingerprint) == fp)
        .map(|l| l.node)
        .collect();

    // Receivers, and the unicast copies each would have cost.
    let mut unicast_per_link = vec![[0u64; 2]; t.links.len()];
    let mut receivers = Vec::with_capacity(s.members.len());
    for &(m, app) in &s.members {
        let log = MemberLog::of(emu, app).unwrap_or_default();
        let until = log.wanted_until_ns();
        let wanted: BTreeSet<u32> = source_log
            .sent
            .iter()
            .filter(|p| p.at_ns < until)
            .map(|p| p.seq)
            .collect();
        let delivered = wanted
            .iter()
            .filter(|q| log.received.contains_key(q))
            .count() as u32;
        let unwanted = log.received.keys().filter(|q| !wanted.contains(q)).count() as u32;
        let duplicates = log.received.values().map(|c| c.saturating_sub(1)).sum();
        let path = r.ip_path(s.source, m);
        for w in path.windows(2) {
            if let Some(l) = t.link_between(w[0], w[1]) {
                let d = usize::from(t.links[l].a != w[0]);
                unicast_per_link[l][d] += wanted.len() as u64;
            }
        }
        receivers.push(Receiver {
            node: name(m),
            edge: r
                .active_neighbours(m)
                .first()
                .map_or_else(|| "-".into(), |&e| name(e)),
            wanted: wanted.len() as u32,
            delivered,
            duplicates,
            lost: wanted.len() as u32 - delivered,
            unwanted,
            left_ms: log.left_ns.map(ms),
            silent: log.silent,
            subscribes: log.subscribes_ns.len() as u32,
            first_ms: log.first_ns.map(ms),
            last_ms: log.last_ns.map(ms),
        });
    }

    // Links: data away from the source, control toward it.
    let capsules = s.capsules_per_link();
    let downstream = s.downstream();
    let mut per_link = vec![[0u64; 2]; t.links.len()];
    let mut links = Vec::new();
    let mut totals = Copies {
        multicast: 0,
        unicast: 0,
    };
    let mut stray = 0;
    for (l, link) in t.links.iter().enumerate() {
        let c = capsules.get(l).copied().unwrap_or_default();
        let u = unicast_per_link[l];
        let Some(d) = downstream[l] else {
            stray += c[0] + c[1];
            continue;
        };
        per_link[l][d] = c[d];
        totals.multicast += c[d];
        totals.unicast += u[d];
        if c[0] + c[1] + u[d] == 0 {
            continue;
        }
        let (from, to) = if d == 0 {
            (link.a, link.b)
        } else {
            (link.b, link.a)
        };
        links.push(LinkCopies {
            from: name(from),
            to: name(to),
            data: c[d],
            control: c[1 - d],
            unicast: u[d],
            depth: r.ip_hops(s.source, from).unwrap_or(0),
        });
    }

    let source_link = t.links_of(s.source).first().map(|&l| {
        let d = downstream[l].unwrap_or(0);
        let link = &t.links[l];
        SourceLink {
            link: format!("{} -- {}", name(s.source), name(link.other(s.source))),
            copies: Copies {
                multicast: capsules.get(l).map_or(0, |c| c[d]),
                unicast: unicast_per_link[l][d],
            },
        }
    });

    // Active routers serving hosts, none of them a member or the source.
    let members: BTreeSet<NodeId> = s.members.iter().map(|&(m, _)| m).collect();
    let quiet_edges = t
        .nodes_of(NodeKind::Active)
        .filter(|&e| {
            let hosts: Vec<NodeId> = t
                .neighbours(e)
                .map(|(_, n)| n)
                .filter(|&n| t.nodes[n].kind == NodeKind::Host)
                .collect();
            !hosts.is_empty() && hosts.iter().all(|h| !members.contains(h) && *h != s.source)
        })
        .map(|e| QuietEdge {
            node: name(e),
            capsules: t
                .links_of(e)
                .iter()
                .map(|&l| capsules.get(l).map_or(0, |c| c[0] + c[1]))
                .sum(),
            loaded_code: loaded.contains(&e),
        })
        .collect();

    let packets = source_log.sent.len() as u32;
    let exactly_once =
        packets > 0 && source_log.send_errors == 0 && receivers.iter().all(Receiver::exactly_once);
    Report {
        topology: t.name.clone(),
        seed: emu.seed(),
        network,
        source: name(s.source),
        group: GROUP_ID,
        members: s.members.len(),
        bursts: s
            .plan
            .bursts
            .iter()
            .map(|b| BurstRow {
                start_ms: b.start.as_secs_f64() * 1e3,
                packets: b.packets,
            })
            .collect(),
        interval_ms: s.plan.interval.as_secs_f64() * 1e3,
        payload_len: s.plan.payload_len,
        packets,
        send_errors: source_log.send_errors,
        compile_delay_ms: emu.compile_delay().as_secs_f64() * 1e3,
        virtual_time_ms: ms(emu.now().as_nanos()),
        events: emu.events(),
        code_loading,
        receivers,
        links,
        totals,
        source_link,
        quiet_edges,
        stray_capsules: stray,
        exactly_once,
        per_link,
    }
}

/// A text table: headers, rows, which columns are numbers (right-aligned).
fn render(out: &mut String, headers: &[(&str, bool)], rows: &[Vec<String>]) {
    let mut widths: Vec<usize> = headers.iter().map(|h| h.0.chars().count()).collect();
    for r in rows {
        for (w, c) in widths.iter_mut().zip(r) {
            *w = (*w).max(c.chars().count());
        }
    }
    let line = |cells: Vec<&str>, out: &mut String| {
        let mut s = String::from(" ");
        for (i, c) in cells.into_iter().enumerate() {
            let w = widths[i];
            if headers[i].1 {
                let _ = write!(s, " {c:>w$}");
            } else {
                let _ = write!(s, " {c:<w$}");
            }
        }
        out.push_str(s.trim_end());
        out.push('\n');
    };
    line(headers.iter().map(|h| h.0).collect(), out);
    for r in rows {
        line(r.iter().map(String::as_str).collect(), out);
    }
}

fn more(out: &mut String, shown: usize, total: usize, what: &str) {
    if total > shown {
        let _ = writeln!(
            out,
            "  ... and {} more {what} (all of them with --json)",
            total - shown
        );
    }
}

/// `a, b, c and d`, at most `max` names.
fn list(names: &[String], max: usize) -> String {
    match names {
        [] => "none".into(),
        [one] => one.clone(),
        _ if names.len() > max => {
            format!("{} and {} more", names[..max].join(", "), names.len() - max)
        }
        [init @ .., last] => format!("{} and {last}", init.join(", ")),
    }
}

fn ratio(a: u64, b: u64) -> String {
    if a == 0 {
        "-".into()
    } else {
        format!("{:.1}x", b as f64 / a as f64)
    }
}

impl Report {
    /// Data copies per link for a picture (see [`ants_topology::graph::svg`]).
    pub fn traffic(&self) -> Traffic {
        Traffic {
            title: format!(
                "multicast from {}: {} packets to {} members, {} data copies on the links ({} with unicast fan-out)",
                self.source, self.packets, self.members, self.totals.multicast, self.totals.unicast
            ),
            per_link: self.per_link.clone(),
        }
    }
}

impl ScenarioReport for Report {
    /// The story of the run: the network, code loading hop by hop, each receiver's table,
    /// link copies versus unicast fan-out.
    fn table(&self) -> String {
        let mut out = String::new();
        let n = &self.network;
        let _ = writeln!(
            out,
            "network `{}` (seed {}): {} hosts, {} active routers, {} legacy routers, {} links",
            self.topology, self.seed, n.hosts, n.active, n.legacy, n.links
        );
        let edges: BTreeSet<&str> = self.receivers.iter().map(|r| r.edge.as_str()).collect();
        let edges: Vec<String> = edges.into_iter().map(str::to_string).collect();
        let first_ms = self.bursts.first().map_or(0.0, |b| b.start_ms);
        let _ = writeln!(
            out,
            "{} sends {} packets of {} bytes, {} ms apart from {first_ms} ms, to {} members of group {} behind {}",
            self.source,
            self.packets,
            self.payload_len,
            self.interval_ms,
            self.members,
            self.group,
            list(&edges, 8),
        );

        // Code loading.
        let _ = writeln!(
            out,
            "\ncode loading, hop by hop (each node compiles the code for {} ms of virtual time once it has it)",
            self.compile_delay_ms
        );
        let registered: Vec<&CodeLoadRow> = self
            .code_loading
            .iter()
            .filter(|l| l.from == "registered")
            .collect();
        if let (Some(first), Some(last)) = (registered.first(), registered.last()) {
            let when = if first.at_ms == last.at_ms {
                format!("at {:.1} ms", first.at_ms)
            } else {
                format!("from {:.1} to {:.1} ms", first.at_ms, last.at_ms)
            };
            let _ = writeln!(
                out,
                "  the source and the members registered it ({} bytes): usable on their {} hosts {when}",
                first.bytes,
                registered.len(),
            );
        }
        let demand: Vec<&CodeLoadRow> = self
            .code_loading
            .iter()
            .filter(|l| l.from != "registered")
            .collect();
        let mut rows: Vec<Vec<String>> = demand
            .iter()
            .take(TABLE_ROWS)
            .map(|l| {
                vec![
                    format!("{:.3}", l.at_ms),
                    l.node.clone(),
                    l.kind.to_string(),
                    l.from.clone(),
                ]
            })
            .collect();
        for q in self.quiet_edges.iter().filter(|q| !q.loaded_code) {
            rows.push(vec![
                "never".into(),
                q.node.clone(),
                "active".into(),
                "(no member behind it)".into(),
            ]);
        }
        if rows.is_empty() {
            out.push_str("  no node loaded the code on demand\n");
        } else {
            render(
                &mut out,
                &[
                    ("at ms", true),
                    ("node", false),
                    ("kind", false),
                    ("loaded from", false),
                ],
                &rows,
            );
            more(&mut out, TABLE_ROWS, demand.len(), "code loads");
        }

        // Receivers.
        let _ = writeln!(out, "\nreceivers ({} packets sent)", self.packets);
        let leaving = self
            .receivers
            .iter()
            .any(|r| r.left_ms.is_some() || r.silent);
        let mut headers = vec![
            ("node", false),
            ("edge", false),
            ("delivered", true),
            ("duplicates", true),
            ("lost", true),
        ];
        if leaving {
            headers.extend([("wanted", true), ("after leaving", true)]);
        }
        let rows: Vec<Vec<String>> = self
            .receivers
            .iter()
            .take(TABLE_ROWS)
            .map(|r| {
                let mut row = vec![
                    r.node.clone(),
                    r.edge.clone(),
                    r.delivered.to_string(),
                    r.duplicates.to_string(),
                    r.lost.to_string(),
                ];
                if leaving {
                    row.extend([r.wanted.to_string(), r.unwanted.to_string()]);
                }
                row
            })
            .collect();
        render(&mut out, &headers, &rows);
        more(&mut out, TABLE_ROWS, self.receivers.len(), "receivers");
        let bad: Vec<String> = self
            .receivers
            .iter()
            .filter(|r| !r.exactly_once())
            .map(|r| r.node.clone())
            .collect();
        if self.exactly_once {
            let _ = writeln!(
                out,
                "every member got every packet exactly once: {} deliveries, no duplicate, no loss",
                self.receivers
                    .iter()
                    .map(|r| u64::from(r.delivered))
                    .sum::<u64>()
            );
        } else if bad.is_empty() {
            let _ = writeln!(
                out,
                "NOT exactly once: the source sent {} packets with {} refused",
                self.packets, self.send_errors
            );
        } else {
            let _ = writeln!(
                out,
                "NOT exactly once: {} of {} members missed, duplicated or got unwanted packets ({})",
                bad.len(),
                self.receivers.len(),
                list(&bad, 8)
            );
        }

        // Links.
        let _ = writeln!(
            out,
            "\ndata copies on the links: the multicast tree versus unicast fan-out from {} (one copy per member)",
            self.source
        );
        let _ = writeln!(
            out,
            "  all links: {} copies versus {} ({} fewer)",
            self.totals.multicast,
            self.totals.unicast,
            ratio(self.totals.multicast, self.totals.unicast)
        );
        if let Some(sl) = &self.source_link {
            let _ = writeln!(
                out,
                "  the source's first link ({}): {} versus {} ({} packets x {} members)",
                sl.link, sl.copies.multicast, sl.copies.unicast, self.packets, self.members
            );
        }
        for q in &self.quiet_edges {
            let _ = writeln!(
                out,
                "  links of {} (no member behind it): {} capsules of the protocol{}",
                q.node,
                q.capsules,
                if q.loaded_code {
                    ""
                } else {
                    ", code never loaded there"
                }
            );
        }
        if self.stray_capsules > 0 {
            let _ = writeln!(
                out,
                "  {} capsules on links whose ends are as far from the source (none expected)",
                self.stray_capsules
            );
        }
        let mut shown: Vec<&LinkCopies> = self
            .links
            .iter()
            .filter(|l| l.data + l.unicast > 0)
            .collect();
        // Outward from the source, ties in link order.
        shown.sort_by_key(|l| l.depth);
        let rows: Vec<Vec<String>> = shown
            .iter()
            .take(TABLE_ROWS)
            .map(|l| {
                vec![
                    format!("{} > {}", l.from, l.to),
                    l.data.to_string(),
                    l.unicast.to_string(),
                ]
            })
            .collect();
        render(
            &mut out,
            &[
                ("link (away from the source)", false),
                ("multicast", true),
                ("unicast", true),
            ],
            &rows,
        );
        more(&mut out, TABLE_ROWS, shown.len(), "links");
        out
    }
}

// ---- Entry points ----------------------------------------------------------------------------

/// The topology `options` name (else the scenario's example: the file if found, else the
/// built-in copy) and the file it came from, if any.
pub fn load_topology(options: &ScenarioOptions) -> anyhow::Result<(Topology, Option<PathBuf>)> {
    let path = options.file_or(EXAMPLE);
    if options.file.is_some() || path.is_file() {
        let t = ants_topology::file::load(&path)?;
        return Ok((t, Some(path)));
    }
    let t = ants_topology::file::parse(EXAMPLE_TOML, Path::new("multicast.toml (built in)"))?;
    Ok((t, None))
}

/// The capsule directory `options` name (else found from the topology file or the current
/// directory); an error that says to run `make capsules` if the multicast capsule is missing.
pub fn locate_capsules(
    options: &ScenarioOptions,
    file: Option<&Path>,
) -> anyhow::Result<CapsuleLocator> {
    let locator = CapsuleLocator::new(options.capsules.as_deref(), file);
    locator.require(&[CAPSULE])?;
    Ok(locator)
}

/// Runs the scenario with the default [`Plan`] and reports.
pub fn run(options: &ScenarioOptions) -> anyhow::Result<Report> {
    let (topology, file) = load_topology(options)?;
    let capsules = locate_capsules(options, file.as_deref())?;
    let mut scenario = Scenario::new(&topology, &capsules, options.seed, Plan::default())?;
    Ok(scenario.run())
}

// ---- The scale network -----------------------------------------------------------------------

/// A generated network for multicast at scale: the source host `src` behind the active router
/// `se`, a ring of legacy core routers, active aggregation routers (each behind its own legacy
/// uplink router) and active edge routers (behind two legacy distribution routers per
/// aggregation) with member and other hosts. Every tier of active routers is separated from
/// the next by at least two legacy routers, and no router needs more than
/// [`capsule_multicast::MAX_BRANCHES`] branches when every edge's members subscribe.
///
/// Names: core `c{i}`; aggregation `a{i}`, its uplink `a{i}u`, its distribution routers
/// `a{i}d` and `a{i}f`; edge `a{i}e{j}`; member `a{i}e{j}m{k}`; other host `a{i}e{j}x{k}`.
/// Members form the group [`MEMBERS`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Hierarchy {
    /// Legacy core routers in a ring (at least 1).
    pub core: usize,
    /// Active aggregation routers.
    pub aggregations: usize,
    /// Active edge routers per aggregation router.
    pub edges_per_aggregation: usize,
    /// Member hosts per edge router.
    pub members_per_edge: usize,
    /// Other hosts per edge router.
    pub others_per_edge: usize,
}

impl Hierarchy {
    /// The scale benchmark's network: 1,026 nodes, 500 members (5 aggregation routers with 10
    /// edges each, 10 members and 9 other hosts per edge, 4 core routers).
    pub const SCALE: Hierarchy = Hierarchy {
        core: 4,
        aggregations: 5,
        edges_per_aggregation: 10,
        members_per_edge: 10,
        others_per_edge: 9,
    };

    /// Nodes the network has.
    pub fn node_count(&self) -> usize {
        let edges = self.aggregations * self.edges_per_aggregation;
        2 + self.core.max(1)
            + self.aggregations * 4
            + edges * (1 + self.members_per_edge + self.others_per_edge)
    }

    /// Member hosts.
    pub fn members(&self) -> usize {
        self.aggregations * self.edges_per_aggregation * self.members_per_edge
    }

    /// The network, named `name`, with `seed`: host links 1 ms, router links 2 ms, core links
    /// 5 ms; lossless, unlimited bandwidth.
    pub fn build(&self, name: &str, seed: u64) -> TopologyBuilder {
        let link = |ms: u64| LinkParams {
            delay: Duration::from_millis(ms),
            ..LinkParams::default()
        };
        let set = LinkOptionsSet {
            delay: true,
            ..LinkOptionsSet::default()
        };
        let core = self.core.max(1);
        let mut b = TopologyBuilder::new(name);
        b.seed(seed);
        b.node(SOURCE, NodeKind::Host, None)
            .node("se", NodeKind::Active, None)
            .link_with(SOURCE, "se", link(1), set);
        for c in 0..core {
            b.node(format!("c{c}"), NodeKind::Legacy, None);
        }
        let ring = match core {
            1 => 0,
            2 => 1,
            n => n,
        };
        for c in 0..ring {
            b.link_with(
                format!("c{c}"),
                format!("c{}", (c + 1) % core),
                link(5),
                set,
            );
        }
        b.link_with("se", "c0", link(2), set);
        for a in 0..self.aggregations {
            let agg = format!("a{a}");
            let (up, d, f) = (format!("{agg}u"), format!("{agg}d"), format!("{agg}f"));
            b.node(agg.clone(), NodeKind::Active, None)
                .node(up.clone(), NodeKind::Legacy, None)
                .node(d.clone(), NodeKind::Legacy, None)
                .node(f.clone(), NodeKind::Legacy, None)
                .link_with(up.clone(), format!("c{}", a % core), link(2), set)
                .link_with(agg.clone(), up, link(2), set)
                .link_with(agg.clone(), d.clone(), link(2), set)
                .link_with(d, f.clone(), link(2), set);
            for e in 0..self.edges_per_aggregation {
                let edge = format!("{agg}e{e}");
                b.node(edge.clone(), NodeKind::Active, None).link_with(
                    edge.clone(),
                    f.clone(),
                    link(2),
                    set,
                );
                for k in 0..self.members_per_edge {
                    let h = format!("{edge}m{k}");
                    b.node(h.clone(), NodeKind::Host, None)
                        .link_with(h.clone(), edge.clone(), link(1), set)
                        .member(MEMBERS, h);
                }
                for k in 0..self.others_per_edge {
                    let h = format!("{edge}x{k}");
                    b.node(h.clone(), NodeKind::Host, None).link_with(
                        h,
                        edge.clone(),
                        link(1),
                        set,
                    );
                }
            }
        }
        b
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_built_in_example_is_valid() {
        let t = ants_topology::file::parse(EXAMPLE_TOML, Path::new("multicast.toml")).unwrap();
        assert_eq!(t.groups[MEMBERS].len(), 10);
        assert!(t.node_id(SOURCE).is_some());
    }

    #[test]
    fn plans_add_up() {
        let p = Plan::default();
        assert_eq!(p.packets(), 20);
        assert_eq!(p.last_packet(), Duration::from_millis(500 + 19 * 20));
        assert_eq!(p.end(), Duration::from_millis(1380));
        let big = Plan {
            payload_len: MAX_DATA + 1,
            ..Plan::default()
        };
        assert!(big.check().is_err());
    }

    #[test]
    fn bursts_number_packets_on() {
        let s = MulticastSource::new(
            1,
            vec![
                Burst {
                    start: Duration::ZERO,
                    packets: 3,
                },
                Burst {
                    start: Duration::from_secs(1),
                    packets: 2,
                },
            ],
            Duration::from_millis(1),
            8,
        );
        assert_eq!(s.firsts, vec![0, 3]);
        let last: Vec<bool> = (0..5).map(|q| s.last_of_burst(q)).collect();
        assert_eq!(last, vec![false, false, true, false, true]);
    }

    #[test]
    fn the_scale_network_has_the_promised_shape() {
        let h = Hierarchy {
            core: 3,
            aggregations: 2,
            edges_per_aggregation: 3,
            members_per_edge: 2,
            others_per_edge: 1,
        };
        let t = h.build("h", 1).build().unwrap();
        assert_eq!(t.nodes.len(), h.node_count());
        assert_eq!(t.groups[MEMBERS].len(), h.members());
        let r = Routes::compute(&t);
        let id = |n: &str| t.node_id(n).unwrap();
        // Member → edge → aggregation → source edge → source, two legacy routers between
        // active tiers.
        assert_eq!(
            r.next_active_hop(id("a1e2m0"), id(SOURCE)),
            Some(id("a1e2"))
        );
        assert_eq!(r.next_active_hop(id("a1e2"), id(SOURCE)), Some(id("a1")));
        assert_eq!(r.next_active_hop(id("a1"), id(SOURCE)), Some(id("se")));
        assert_eq!(r.ip_hops(id("a1e2"), id("a1")), Some(3));
        assert!(r.ip_hops(id("a1"), id("se")).unwrap() >= 3);
        assert_eq!(Hierarchy::SCALE.node_count(), 1026);
        assert_eq!(Hierarchy::SCALE.members(), 500);
    }
}
