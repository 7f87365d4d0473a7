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

use std::cell::RefCell;
use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;
use std::net::IpAddr;
use std::path::PathBuf;
use std::rc::Rc;
use std::time::Duration;

use ants_router::fingerprint::Fingerprint;
use ants_router::time::Timestamp;
use anyhow::{Context as _, bail};
use capsule_reliable_multicast::{MAX_DATA, MAX_NACK_SEQS, Message, RETRY_AFTER_MS};
use capsule_sdk::Address;
use serde::Serialize;
use serde_json::{Value, json};

use super::{ScenarioOptions, ScenarioReport};
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
#[derive(Clone, Debug)]
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

/// Shared, read-only view of an application's counters for the code that runs the emulator
/// (the application itself lives inside the emulator).
#[derive(Debug)]
pub struct Probe<T>(Rc<RefCell<T>>);

impl<T> Clone for Probe<T> {
    fn clone(&self) -> Self {
        Probe(Rc::clone(&self.0))
    }
}

impl<T: Clone> Probe<T> {
    /// A copy of the counters now.
    pub fn snapshot(&self) -> T {
        self.0.borrow().clone()
    }

    fn read<R>(&self, f: impl FnOnce(&T) -> R) -> R {
        f(&self.0.borrow())
    }
}

impl<T: Default> Probe<T> {
    fn new() -> Self {
        Probe(Rc::new(RefCell::new(T::default())))
    }
}

/// What the source application did.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct SourceStats {
    /// Data packets injected.
    pub sent: u32,
    /// Announcements injected.
    pub announces: u64,
    /// End-to-end NACKs that reached the source application.
    pub nacks_received: u64,
    /// Sequence numbers those NACKs named.
    pub nack_seqs: u64,
    /// Unicast repairs it sent in answer.
    pub repairs_sent: u64,
    /// Capsules the source's node refused.
    pub send_errors: u64,
    /// The first refusal.
    pub first_error: Option<String>,
    /// When the last data packet left (virtual time).
    #[serde(skip)]
    pub last_sent: Option<Timestamp>,
}

/// The source: [`Config::packets`] data capsules, one every [`Config::interval`] from
/// [`Config::start`], an announcement every [`ANNOUNCE_EVERY`] while sending and for
/// [`ANNOUNCE_TAIL`] after, and in [`Recovery::EndToEnd`] a unicast repair for every sequence
/// number of every NACK that reaches it.
pub struct ReliableSource {
    recovery: Recovery,
    packets: u32,
    interval: Duration,
    data_len: usize,
    start: Duration,
    protocol: Option<Fingerprint>,
    unicast: Option<Fingerprint>,
    stats: Probe<SourceStats>,
}

impl ReliableSource {
    /// A source sending as `config` says, answering NACKs itself in end-to-end mode.
    pub fn new(config: &Config, recovery: Recovery) -> Self {
        ReliableSource {
            recovery,
            packets: config.packets,
            interval: config.interval,
            data_len: config.data_len,
            start: config.start,
            protocol: None,
            unicast: None,
            stats: Probe::new(),
        }
    }

    /// Its counters, readable while it runs inside an emulator.
    pub fn probe(&self) -> Probe<SourceStats> {
        self.stats.clone()
    }

    /// Sends `m`; a refusal is counted, not fatal.
    fn send(
        &self,
        ctx: &mut AppContext<'_>,
        fp: Fingerprint,
        to: IpAddr,
        budget: u16,
        m: &Message<'_>,
    ) -> bool {
        let mut s = self.stats.0.borrow_mut();
        let SourceStats {
            send_errors,
            first_error,
            ..
        } = &mut *s;
        send_message(ctx, fp, to, budget, m, send_errors, first_error)
    }
}

/// Encodes and injects `m`; on a refusal, counts it and keeps the first reason.
fn send_message(
    ctx: &mut AppContext<'_>,
    fp: Fingerprint,
    to: IpAddr,
    budget: u16,
    m: &Message<'_>,
    errors: &mut u64,
    first_error: &mut Option<String>,
) -> bool {
    let result = postcard::to_allocvec(m)
        .map_err(|e| AppError::Other(format!("encoding a reliable multicast message: {e}")))
        .and_then(|p| ctx.send_capsule(fp, to, budget, &p));
    match result {
        Ok(()) => true,
        Err(e) => {
            *errors += 1;
            first_error.get_or_insert_with(|| e.to_string());
            false
        }
    }
}

impl Application for ReliableSource {
    fn name(&self) -> String {
        format!("reliable multicast source ({})", self.recovery.label())
    }

    fn start(&mut self, ctx: &mut AppContext<'_>) -> Result<(), AppError> {
        self.protocol = Some(ctx.register_capsule(CAPSULE)?);
        if self.recovery == Recovery::EndToEnd {
            self.unicast = Some(ctx.register_capsule(UNICAST_CAPSULE)?);
            ctx.listen(FORWARD_PORT);
        }
        if self.packets > 0 {
            ctx.set_timer(self.start, DATA);
            ctx.set_timer(self.start + ANNOUNCE_EVERY, ANNOUNCE);
        }
        Ok(())
    }

    fn on_timer(&mut self, ctx: &mut AppContext<'_>, token: u64) {
        let Some(fp) = self.protocol else { return };
        let me = ctx.address();
        match token {
            DATA => {
                let seq = self.stats.read(|s| s.sent);
                let data = data_for(seq, self.data_len);
                let m = Message::Data {
                    group: GROUP,
                    seq,
                    data: &data,
                };
                self.send(ctx, fp, me, DATA_BUDGET, &m);
                let mut s = self.stats.0.borrow_mut();
                s.sent += 1;
                s.last_sent = Some(ctx.now());
                if s.sent < self.packets {
                    ctx.set_timer(self.interval, DATA);
                }
            }
            ANNOUNCE => {
                let (sent, last) = self.stats.read(|s| (s.sent, s.last_sent));
                if sent > 0 {
                    let m = Message::Announce {
                        group: GROUP,
                        highest: sent - 1,
                    };
                    if self.send(ctx, fp, me, DATA_BUDGET, &m) {
                        self.stats.0.borrow_mut().announces += 1;
                    }
                }
                let sending = sent < self.packets;
                if sending || last.is_some_and(|t| ctx.now() < t + ANNOUNCE_TAIL) {
                    ctx.set_timer(ANNOUNCE_EVERY, ANNOUNCE);
                }
            }
            _ => {}
        }
    }

    fn on_delivery(&mut self, ctx: &mut AppContext<'_>, d: &AppDelivery) {
        let Some(unicast) = self.unicast else {
            return;
        };
        if d.port != FORWARD_PORT || d.fingerprint != unicast {
            return;
        }
        let Ok(Message::Nack {
            group: GROUP, seqs, ..
        }) = postcard::from_bytes::<Message>(&d.payload)
        else {
            return;
        };
        let sent = self.stats.read(|s| s.sent);
        {
            let mut s = self.stats.0.borrow_mut();
            s.nacks_received += 1;
            s.nack_seqs += seqs.len() as u64;
        }
        let origin = Address::from(ctx.address());
        for seq in seqs.into_iter().filter(|&s| s < sent) {
            let data = data_for(seq, self.data_len);
            let m = Message::Repair {
                group: GROUP,
                seq,
                origin,
                made_ns: ctx.now().as_nanos(),
                data: &data,
            };
            if self.send(ctx, unicast, d.source, UNICAST_BUDGET, &m) {
                self.stats.0.borrow_mut().repairs_sent += 1;
            }
        }
    }

    fn report(&self) -> Value {
        serde_json::to_value(self.stats.snapshot()).unwrap_or(Value::Null)
    }

    fn summary(&self) -> String {
        let s = self.stats.snapshot();
        format!(
            "{} packets, {} announcements, {} NACKs answered with {} repairs",
            s.sent, s.announces, s.nacks_received, s.repairs_sent
        )
    }
}

/// One repair packet as a member saw it: who made it, which packet, and when.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize)]
pub struct RepairId {
    /// The node that made it (its name).
    pub origin: String,
    /// The packet.
    pub seq: u32,
    /// The origin's time when it made it.
    pub made_ns: u64,
}

/// What one member application saw.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct MemberStats {
    /// Sequence numbers delivered (each once).
    pub got: BTreeSet<u32>,
    /// Sequence numbers that arrived as original data (the others came only as repairs).
    pub originals: BTreeSet<u32>,
    /// Packets that arrived again after the member had them.
    pub duplicates: u64,
    /// Packets whose bytes were not the ones sent (never counted as delivered).
    pub corrupt: u64,
    /// Highest sequence number seen in data, repairs or announcements.
    pub highest: Option<u32>,
    /// Subscribes injected.
    pub subscribes: u64,
    /// NACK capsules injected.
    pub nacks: u64,
    /// Sequence numbers those NACKs named (retries included).
    pub nack_seqs: u64,
    /// Repairs received, each with how many times it arrived here.
    pub repairs: BTreeMap<RepairId, u64>,
    /// When the member had every packet.
    pub complete_at: Option<Timestamp>,
    /// Capsules the member's node refused.
    pub send_errors: u64,
    /// The first refusal.
    pub first_error: Option<String>,
}

impl MemberStats {
    /// Sequence numbers up to `packets` not delivered.
    pub fn missing(&self, packets: u32) -> Vec<u32> {
        (0..packets).filter(|s| !self.got.contains(s)).collect()
    }
}

/// A member: subscribes every [`SUBSCRIBE_EVERY`], records every packet by sequence number
/// (checking its bytes), and every [`NACK_TICK`] NACKs the sequence numbers up to the highest
/// seen that it misses and has not NACKed within [`RETRY_AFTER_MS`] (up to
/// [`MAX_NACKS_PER_TICK`] capsules of [`MAX_NACK_SEQS`]). In [`Recovery::EndToEnd`] the NACKs
/// go to the source application in `forward` capsules and the repairs come back the same way.
pub struct ReliableMember {
    recovery: Recovery,
    source: NodeId,
    source_addr: Option<IpAddr>,
    packets: u32,
    data_len: usize,
    protocol: Option<Fingerprint>,
    unicast: Option<Fingerprint>,
    nacked: BTreeMap<u32, Timestamp>,
    stats: Probe<MemberStats>,
}

impl ReliableMember {
    /// A member of the group sent by the host `source`, expecting `config.packets` packets.
    pub fn new(source: NodeId, config: &Config, recovery: Recovery) -> Self {
        ReliableMember {
            recovery,
            source,
            source_addr: None,
            packets: config.packets,
            data_len: config.data_len,
            protocol: None,
            unicast: None,
            nacked: BTreeMap::new(),
            stats: Probe::new(),
        }
    }

    /// Its counters, readable while it runs inside an emulator.
    pub fn probe(&self) -> Probe<MemberStats> {
        self.stats.clone()
    }

    /// Sends `m` to the source; a refusal is counted, not fatal.
    fn send(
        &self,
        ctx: &mut AppContext<'_>,
        fp: Fingerprint,
        budget: u16,
        m: &Message<'_>,
    ) -> bool {
        let Some(to) = self.source_addr else {
            return false;
        };
        let mut s = self.stats.0.borrow_mut();
        let MemberStats {
            send_errors,
            first_error,
            ..
        } = &mut *s;
        send_message(ctx, fp, to, budget, m, send_errors, first_error)
    }

    /// Records packet `seq` (original data unless `repair`).
    fn packet(&mut self, now: Timestamp, seq: u32, data: &[u8], repair: bool) {
        let mut s = self.stats.0.borrow_mut();
        if data != data_for(seq, self.data_len).as_slice() {
            s.corrupt += 1;
            return;
        }
        s.highest = s.highest.max(Some(seq));
        if !repair {
            s.originals.insert(seq);
        }
        if !s.got.insert(seq) {
            s.duplicates += 1;
            return;
        }
        self.nacked.remove(&seq);
        if s.complete_at.is_none() && (0..self.packets).all(|q| s.got.contains(&q)) {
            s.complete_at = Some(now);
        }
    }

    fn nack(&mut self, ctx: &mut AppContext<'_>) {
        let Some(highest) = self.stats.read(|s| s.highest) else {
            return;
        };
        let now = ctx.now();
        let retry = Duration::from_millis(RETRY_AFTER_MS);
        let due: Vec<u32> = self.stats.read(|s| {
            (0..=highest)
                .filter(|q| !s.got.contains(q))
                .filter(|q| self.nacked.get(q).is_none_or(|&t| now >= t + retry))
                .take(MAX_NACK_SEQS * MAX_NACKS_PER_TICK)
                .collect()
        });
        let (fp, budget) = match self.recovery {
            Recovery::Local => (self.protocol, NACK_BUDGET),
            Recovery::EndToEnd => (self.unicast, UNICAST_BUDGET),
        };
        let Some(fp) = fp else { return };
        for seqs in due.chunks(MAX_NACK_SEQS) {
            let m = Message::Nack {
                group: GROUP,
                port: MEMBER_PORT,
                hops: 0,
                seqs: seqs.to_vec(),
            };
            if self.send(ctx, fp, budget, &m) {
                let mut s = self.stats.0.borrow_mut();
                s.nacks += 1;
                s.nack_seqs += seqs.len() as u64;
                for &q in seqs {
                    self.nacked.insert(q, now);
                }
            }
        }
    }
}

impl Application for ReliableMember {
    fn name(&self) -> String {
        format!("reliable multicast member ({})", self.recovery.label())
    }

    fn start(&mut self, ctx: &mut AppContext<'_>) -> Result<(), AppError> {
        if ctx.topology().nodes.get(self.source).is_none() {
            return Err(AppError::Other(format!("no source node #{}", self.source)));
        }
        self.source_addr = Some(ctx.node_address(self.source));
        self.protocol = Some(ctx.register_capsule(CAPSULE)?);
        if self.recovery == Recovery::EndToEnd {
            self.unicast = Some(ctx.register_capsule(UNICAST_CAPSULE)?);
            ctx.listen(FORWARD_PORT);
        }
        ctx.listen(MEMBER_PORT);
        ctx.set_timer(Duration::ZERO, SUBSCRIBE);
        ctx.set_timer(NACK_TICK, NACK);
        Ok(())
    }

    fn on_timer(&mut self, ctx: &mut AppContext<'_>, token: u64) {
        match token {
            SUBSCRIBE => {
                let Some(fp) = self.protocol else { return };
                let m = Message::Subscribe {
                    group: GROUP,
                    port: MEMBER_PORT,
                };
                if self.send(ctx, fp, SUBSCRIBE_BUDGET, &m) {
                    self.stats.0.borrow_mut().subscribes += 1;
                }
                ctx.set_timer(SUBSCRIBE_EVERY, SUBSCRIBE);
            }
            NACK => {
                self.nack(ctx);
                ctx.set_timer(NACK_TICK, NACK);
            }
            _ => {}
        }
    }

    fn on_delivery(&mut self, ctx: &mut AppContext<'_>, d: &AppDelivery) {
        let ours = match d.port {
            MEMBER_PORT => self.protocol == Some(d.fingerprint),
            FORWARD_PORT => self.unicast == Some(d.fingerprint),
            _ => false,
        };
        if !ours {
            return;
        }
        let Ok(m) = postcard::from_bytes::<Message>(&d.payload) else {
            return;
        };
        match m {
            Message::Data {
                group: GROUP,
                seq,
                data,
            } => self.packet(d.at, seq, data, false),
            Message::Repair {
                group: GROUP,
                seq,
                origin,
                made_ns,
                data,
            } => {
                let ip = origin.to_ip();
                let origin = ctx
                    .name_of(ip)
                    .map_or_else(|| ip.to_string(), str::to_string);
                let id = RepairId {
                    origin,
                    seq,
                    made_ns,
                };
                *self.stats.0.borrow_mut().repairs.entry(id).or_default() += 1;
                self.packet(d.at, seq, data, true);
            }
            Message::Announce {
                group: GROUP,
                highest,
            } => {
                let mut s = self.stats.0.borrow_mut();
                s.highest = s.highest.max(Some(highest));
            }
            _ => {}
        }
    }

    fn report(&self) -> Value {
        let s = self.stats.snapshot();
        json!({
            "delivered": s.got.len(),
            "originals": s.originals.len(),
            "duplicates": s.duplicates,
            "corrupt": s.corrupt,
            "missing": s.missing(self.packets),
            "nacks": s.nacks,
            "repairs": s.repairs.values().sum::<u64>(),
            "complete_ms": s.complete_at.map(ms_of),
        })
    }

    fn summary(&self) -> String {
        let s = self.stats.snapshot();
        format!(
            "{}/{} packets ({} repaired), {} duplicates, {} NACKs",
            s.got.len(),
            self.packets,
            s.got.difference(&s.originals).count(),
            s.duplicates,
            s.nacks
        )
    }
}

fn ms_of(t: Timestamp) -> f64 {
    t.as_nanos() as f64 / 1e6
}

/// The network a run uses: the topology, its routes, the capsules, and the scenario's roles.
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
    /// The sending host (the file's group `source`).
    pub source: NodeId,
    /// The members (the file's group `members`), in node order.
    pub members: Vec<NodeId>,
    /// The source's only link: where repairs are counted.
    pub first_link: LinkId,
}

impl Network {
    /// Reads the topology file `options` names (else [`EXAMPLE`]) and finds the roles.
    pub fn load(options: &ScenarioOptions) -> anyhow::Result<Network> {
        let loaded = options.load(EXAMPLE)?;
        Network::new(loaded.file, loaded.topology, loaded.capsules)
    }

    /// The roles of `topology`: the one node of group `source` (a host or active node with
    /// exactly one link) and the nodes of group `members`.
    pub fn new(
        file: PathBuf,
        topology: Topology,
        capsules: CapsuleLocator,
    ) -> anyhow::Result<Network> {
        let group = |g: &str| topology.groups.get(g).cloned().unwrap_or_default();
        let source = match group(SOURCE_GROUP).as_slice() {
            [s] => *s,
            other => bail!(
                "{}: the group `{SOURCE_GROUP}` must name exactly one node (the sending host), it names {}",
                file.display(),
                other.len()
            ),
        };
        let members: Vec<NodeId> = group(MEMBER_GROUP)
            .into_iter()
            .filter(|&m| m != source)
            .collect();
        if members.is_empty() {
            bail!(
                "{}: the group `{MEMBER_GROUP}` names no receiver",
                file.display()
            );
        }
        for &n in members.iter().chain([&source]) {
            if !topology.nodes[n].kind.runs_node_core() {
                bail!(
                    "{}: `{}` is a legacy router; the source and members must run a node core",
                    file.display(),
                    topology.nodes[n].name
                );
            }
        }
        let first_link = match topology.links_of(source) {
            [l] => *l,
            links => bail!(
                "{}: the source `{}` must have exactly one link (its first link, where repairs are counted), it has {}",
                file.display(),
                topology.nodes[source].name,
                links.len()
            ),
        };
        let routes = Routes::compute(&topology);
        Ok(Network {
            file,
            topology,
            routes,
            capsules,
            source,
            members,
            first_link,
        })
    }

    /// An emulator of this network (seed `seed`, else the file's) with the source and one
    /// member application per member added at time zero, and probes of their counters. The
    /// file's own applications are not started: the first link must carry only this
    /// scenario's traffic.
    pub fn emulator(
        &self,
        seed: Option<u64>,
        config: &Config,
        recovery: Recovery,
    ) -> anyhow::Result<Prepared> {
        if config.data_len > MAX_DATA {
            bail!(
                "packets of {} bytes exceed the capsule's limit of {MAX_DATA} bytes",
                config.data_len
            );
        }
        let options = EmulatorOptions {
            seed,
            start_apps: false,
            // Above the node default of 64: its data capsules are split down the whole tree.
            max_budget: Some(DATA_BUDGET),
            ..EmulatorOptions::default()
        };
        let mut emulator = Emulator::new(&self.topology, &self.routes, &self.capsules, options)?;
        let app = ReliableSource::new(config, recovery);
        let source = app.probe();
        emulator.add_app(self.source, Box::new(app))?;
        let mut members = Vec::with_capacity(self.members.len());
        for &m in &self.members {
            let app = ReliableMember::new(self.source, config, recovery);
            members.push(app.probe());
            emulator.add_app(m, Box::new(app))?;
        }
        Ok(Prepared {
            emulator,
            source,
            members,
        })
    }

    /// Runs one recovery mode to the end: until every member has every packet and the source
    /// has sent them all, or [`Config::limit`] after [`Config::start`].
    pub fn run(
        &self,
        seed: Option<u64>,
        config: &Config,
        recovery: Recovery,
    ) -> anyhow::Result<RunStats> {
        let mut p = self.emulator(seed, config, recovery)?;
        let start = Timestamp::ZERO + config.start;
        let deadline = start + config.limit;
        p.emulator.run_until(start);
        let complete = |p: &Prepared| {
            p.source.read(|s| s.sent == config.packets)
                && p.members
                    .iter()
                    .all(|m| m.read(|s| s.complete_at.is_some()))
        };
        while !complete(&p) && p.emulator.now() < deadline {
            let next = p.emulator.now() + CHECK_EVERY;
            p.emulator.run_until(next);
        }
        // Datagrams still being serialised at the last check are counted when they leave,
        // microseconds later at the example's bandwidth; the source's default timers fall on
        // the 50 ms grid, so it injects nothing new meanwhile.
        p.emulator.run_for(Duration::from_millis(1));
        Ok(self.stats(&p, config, recovery))
    }

    fn stats(&self, p: &Prepared, config: &Config, recovery: Recovery) -> RunStats {
        let emu = &p.emulator;
        let t = &self.topology;
        let name = |n: NodeId| t.nodes[n].name.clone();
        let source = p.source.snapshot();
        let members: Vec<(NodeId, MemberStats)> = self
            .members
            .iter()
            .zip(&p.members)
            .map(|(&n, probe)| (n, probe.snapshot()))
            .collect();

        let source_name = name(self.source);
        let mut origins: BTreeMap<String, OriginRow> = BTreeMap::new();
        let mut distinct: BTreeSet<&RepairId> = BTreeSet::new();
        for (_, s) in &members {
            for (id, &n) in &s.repairs {
                let row = origins
                    .entry(id.origin.clone())
                    .or_insert_with(|| OriginRow {
                        node: id.origin.clone(),
                        role: if id.origin == source_name {
                            "source"
                        } else {
                            "intermediate"
                        },
                        packets: 0,
                        deliveries: 0,
                    });
                row.deliveries += n;
                if distinct.insert(id) {
                    row.packets += 1;
                }
            }
        }
        let (from_source, from_intermediate) = origins.values().fold((0, 0), |(s, i), r| {
            if r.role == "source" {
                (s + r.packets, i)
            } else {
                (s, i + r.packets)
            }
        });

        let rows: Vec<MemberRow> = members
            .iter()
            .map(|(n, s)| {
                let repairs_from = |src: bool| {
                    s.repairs
                        .iter()
                        .filter(|(id, _)| (id.origin == source_name) == src)
                        .map(|(_, &n)| n)
                        .sum()
                };
                MemberRow {
                    node: name(*n),
                    delivered: s.got.len() as u32,
                    originals: s.originals.len() as u32,
                    repaired: s.got.difference(&s.originals).count() as u32,
                    duplicates: s.duplicates,
                    corrupt: s.corrupt,
                    missing: s.missing(config.packets),
                    nacks: s.nacks,
                    nack_seqs: s.nack_seqs,
                    repairs_from_source: repairs_from(true),
                    repairs_from_intermediate: repairs_from(false),
                    complete_ms: s.complete_at.map(ms_of),
                }
            })
            .collect();

        let lost_somewhere = (0..config.packets)
            .filter(|q| members.iter().any(|(_, s)| !s.originals.contains(q)))
            .count() as u64;

        let link = &t.links[self.first_link];
        let down = usize::from(link.a != self.source);
        let count = |dir: usize, label: &str| {
            let fp = emu.fingerprint(label);
            emu.link_stats(self.first_link)
                .zip(fp)
                .map_or(0, |(s, fp)| s[dir].protocol(&fp).capsules)
        };
        let (protocol_down, unicast_down) = (count(down, CAPSULE), count(down, UNICAST_CAPSULE));
        let (protocol_up, unicast_up) =
            (count(1 - down, CAPSULE), count(1 - down, UNICAST_CAPSULE));
        let originals = u64::from(source.sent) + source.announces;
        let first_link = FirstLink {
            link: format!("{} -- {}", name(self.source), name(link.other(self.source))),
            data: source.sent,
            announces: source.announces,
            protocol_down,
            unicast_down,
            repairs: protocol_down.saturating_sub(originals) + unicast_down,
            protocol_up,
            unicast_up,
            losses_down: emu
                .link_stats(self.first_link)
                .map_or(0, |s| s[down].losses),
        };
        let report = emu.report();
        let finished = rows.iter().all(|r| r.complete_ms.is_some());
        RunStats {
            recovery,
            seed: emu.seed(),
            all_complete: finished,
            finished_ms: finished.then(|| {
                rows.iter()
                    .filter_map(|r| r.complete_ms)
                    .fold(0.0, f64::max)
            }),
            virtual_ms: ms_of(emu.now()),
            nacks: rows.iter().map(|r| r.nacks).sum(),
            nack_seqs: rows.iter().map(|r| r.nack_seqs).sum(),
            repairs_from_source: from_source,
            repairs_from_intermediate: from_intermediate,
            repairs_by_origin: origins.into_values().collect(),
            missed_originals: rows
                .iter()
                .map(|r| u64::from(config.packets - r.originals.min(config.packets)))
                .sum(),
            lost_somewhere,
            first_link,
            source,
            members: rows,
            events: emu.events(),
            drops: report.nodes.iter().flat_map(|n| &n.drops).fold(
                BTreeMap::new(),
                |mut all, (reason, n)| {
                    *all.entry(reason.clone()).or_default() += n;
                    all
                },
            ),
            link_losses: report.totals.link_losses,
        }
    }
}

/// An emulator ready to run, with probes of its scenario applications.
pub struct Prepared {
    /// The emulator, at time zero with the applications started.
    pub emulator: Emulator,
    /// The source's counters.
    pub source: Probe<SourceStats>,
    /// Each member's counters, in [`Network::members`] order.
    pub members: Vec<Probe<MemberStats>>,
}

/// Repairs that members received from one origin.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct OriginRow {
    /// The node that made them.
    pub node: String,
    /// `source` or `intermediate`.
    pub role: &'static str,
    /// Distinct repair packets (origin, seq, time made) that reached at least one member.
    pub packets: u64,
    /// Their deliveries to members (a repair copied to several requesters counts for each).
    pub deliveries: u64,
}

/// One member's result.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct MemberRow {
    /// The member's node.
    pub node: String,
    /// Distinct packets delivered.
    pub delivered: u32,
    /// Of those, how many arrived as original data.
    pub originals: u32,
    /// And how many only as repairs.
    pub repaired: u32,
    /// Packets delivered again.
    pub duplicates: u64,
    /// Packets with wrong bytes.
    pub corrupt: u64,
    /// Packets never delivered.
    pub missing: Vec<u32>,
    /// NACK capsules sent.
    pub nacks: u64,
    /// Sequence numbers they named.
    pub nack_seqs: u64,
    /// Repair deliveries made by the source.
    pub repairs_from_source: u64,
    /// Repair deliveries made by other nodes.
    pub repairs_from_intermediate: u64,
    /// When it had every packet (virtual ms).
    pub complete_ms: Option<f64>,
}

/// What crossed the source's first link.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct FirstLink {
    /// The link, source end first.
    pub link: String,
    /// Original data packets the source sent (one copy each crosses the link).
    pub data: u32,
    /// Announcements it sent (likewise).
    pub announces: u64,
    /// Reliable-multicast capsules put on the link leaving the source.
    pub protocol_down: u64,
    /// `forward` capsules put on it (end-to-end repairs).
    pub unicast_down: u64,
    /// Repair datagrams: `protocol_down - data - announces + unicast_down`.
    pub repairs: u64,
    /// Reliable-multicast capsules toward the source (subscribes and NACKs).
    pub protocol_up: u64,
    /// `forward` capsules toward the source (end-to-end NACKs).
    pub unicast_up: u64,
    /// Datagrams lost on the link leaving the source.
    pub losses_down: u64,
}

/// One run of one recovery mode.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct RunStats {
    /// How losses were repaired.
    pub recovery: Recovery,
    /// Seed of the link losses.
    pub seed: u64,
    /// Whether every member got every packet.
    pub all_complete: bool,
    /// When the last member had everything (virtual ms).
    pub finished_ms: Option<f64>,
    /// Virtual time when the run stopped.
    pub virtual_ms: f64,
    /// NACK capsules the members sent.
    pub nacks: u64,
    /// Sequence numbers they named.
    pub nack_seqs: u64,
    /// Distinct repair packets made by the source that reached a member.
    pub repairs_from_source: u64,
    /// Distinct repair packets made by other nodes that reached a member.
    pub repairs_from_intermediate: u64,
    /// Repairs by the node that made them.
    pub repairs_by_origin: Vec<OriginRow>,
    /// Original packets members missed, summed over members.
    pub missed_originals: u64,
    /// Packets at least one member missed: a source-only scheme must send each of them across
    /// the first link again at least once.
    pub lost_somewhere: u64,
    /// The source's first link.
    pub first_link: FirstLink,
    /// The source application's counters.
    pub source: SourceStats,
    /// Per member.
    pub members: Vec<MemberRow>,
    /// Emulator events.
    pub events: u64,
    /// Capsules node cores dropped, by reason, over all nodes. `no_effect` counts what the
    /// protocol absorbs on purpose: subscribes a node on the tree does not pass upstream, and
    /// NACKs answered or merged without a request upstream.
    pub drops: BTreeMap<String, u64>,
    /// Datagrams lost on links.
    pub link_losses: u64,
}

/// Local repair against the end-to-end baseline, on the source's first link.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Comparison {
    /// Repair datagrams on the first link with local repair.
    pub local: u64,
    /// Repair datagrams on the first link end to end (measured).
    pub end_to_end: u64,
    /// `local / end_to_end`.
    pub ratio: f64,
    /// Packets some member missed in the local-repair run: the fewest repairs any source-only
    /// scheme (even one that multicasts each repair once) sends across the first link.
    pub source_only_floor: u64,
    /// `local / source_only_floor`.
    pub ratio_to_floor: f64,
}

/// The scenario's result.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Report {
    /// Topology name.
    pub topology: String,
    /// The topology file.
    pub file: String,
    /// The source's node.
    pub source: String,
    /// The members' nodes.
    pub members: Vec<String>,
    /// Data packets sent.
    pub packets: u32,
    /// Time between packets (ms).
    pub interval_ms: f64,
    /// When sending started (virtual ms).
    pub start_ms: f64,
    /// Links in the network.
    pub links: usize,
    /// Lowest loss rate of any link.
    pub loss_min: f64,
    /// Highest loss rate of any link.
    pub loss_max: f64,
    /// The run with the capsule's local repair.
    pub local: RunStats,
    /// The run with end-to-end retransmission.
    pub end_to_end: RunStats,
    /// The first link, side by side.
    pub comparison: Comparison,
    /// Whether a second local-repair run with the same seed gave the same numbers (`None`
    /// if not repeated).
    pub repeat_identical: Option<bool>,
}

/// Runs the scenario with the default [`Config`].
pub fn run(options: &ScenarioOptions) -> anyhow::Result<Report> {
    run_with(options, &Config::default())
}

/// Runs the scenario: local repair, end to end, and (if `config.repeat`) local repair again.
pub fn run_with(options: &ScenarioOptions, config: &Config) -> anyhow::Result<Report> {
    let net = Network::load(options)?;
    let local = net
        .run(options.seed, config, Recovery::Local)
        .context("local repair run")?;
    let end_to_end = net
        .run(options.seed, config, Recovery::EndToEnd)
        .context("end-to-end run")?;
    let repeat_identical = if config.repeat {
        let again = net
            .run(options.seed, config, Recovery::Local)
            .context("repeated local repair run")?;
        Some(again == local)
    } else {
        None
    };
    let ratio = |a: u64, b: u64| {
        if b == 0 {
            f64::INFINITY
        } else {
            a as f64 / b as f64
        }
    };
    let comparison = Comparison {
        local: local.first_link.repairs,
        end_to_end: end_to_end.first_link.repairs,
        ratio: ratio(local.first_link.repairs, end_to_end.first_link.repairs),
        source_only_floor: local.lost_somewhere,
        ratio_to_floor: ratio(local.first_link.repairs, local.lost_somewhere),
    };
    let t = &net.topology;
    let losses = t.links.iter().map(|l| l.params.loss);
    Ok(Report {
        topology: t.name.clone(),
        file: net.file.display().to_string(),
        source: t.nodes[net.source].name.clone(),
        members: net
            .members
            .iter()
            .map(|&m| t.nodes[m].name.clone())
            .collect(),
        packets: config.packets,
        interval_ms: config.interval.as_secs_f64() * 1e3,
        start_ms: config.start.as_secs_f64() * 1e3,
        links: t.links.len(),
        loss_min: losses.clone().fold(f64::INFINITY, f64::min),
        loss_max: losses.fold(0.0, f64::max),
        local,
        end_to_end,
        comparison,
        repeat_identical,
    })
}

impl Report {
    /// Whether the scenario's bar holds: every member got every packet in both runs, and
    /// fewer repairs crossed the source's first link with local repair than end to end.
    pub fn bar_met(&self) -> bool {
        self.local.all_complete
            && self.end_to_end.all_complete
            && self.comparison.local < self.comparison.end_to_end
    }
}

fn yes(b: bool) -> &'static str {
    if b { "yes" } else { "NO" }
}

fn member_table(out: &mut String, run: &RunStats) {
    let _ = writeln!(
        out,
        "\nmembers ({}):\n  {:<8} {:>9} {:>9} {:>8} {:>5} {:>7} {:>6} {:>9} {:>10} {:>12} {:>11}",
        run.recovery.label(),
        "member",
        "delivered",
        "originals",
        "repaired",
        "dups",
        "missing",
        "NACKs",
        "NACK seqs",
        "rep. src",
        "rep. interm.",
        "complete ms"
    );
    for r in &run.members {
        let _ = writeln!(
            out,
            "  {:<8} {:>9} {:>9} {:>8} {:>5} {:>7} {:>6} {:>9} {:>10} {:>12} {:>11}",
            r.node,
            r.delivered,
            r.originals,
            r.repaired,
            r.duplicates,
            r.missing.len(),
            r.nacks,
            r.nack_seqs,
            r.repairs_from_source,
            r.repairs_from_intermediate,
            r.complete_ms
                .map_or_else(|| "-".into(), |t| format!("{t:.0}")),
        );
    }
}

impl ScenarioReport for Report {
    fn table(&self) -> String {
        let (l, e) = (&self.local, &self.end_to_end);
        let mut out = String::new();
        let loss = if self.loss_min == self.loss_max {
            format!("{:.0} % loss on every link", self.loss_max * 100.0)
        } else {
            format!(
                "{:.0}-{:.0} % loss per link",
                self.loss_min * 100.0,
                self.loss_max * 100.0
            )
        };
        let _ = writeln!(
            out,
            "reliable multicast on {} (seed {}): {} packets, one every {:.0} ms from {:.0} ms, \
             {} -> {} members, {} ({} links)",
            self.topology,
            l.seed,
            self.packets,
            self.interval_ms,
            self.start_ms,
            self.source,
            self.members.len(),
            loss,
            self.links
        );
        let row = |out: &mut String, what: &str, a: String, b: String| {
            let _ = writeln!(out, "  {what:<44} {a:>13} {b:>13}");
        };
        let _ = writeln!(
            out,
            "\n  {:<44} {:>13} {:>13}",
            "", "local repair", "end to end"
        );
        row(
            &mut out,
            &format!("repair datagrams on {}", l.first_link.link),
            l.first_link.repairs.to_string(),
            e.first_link.repairs.to_string(),
        );
        let _ = writeln!(
            out,
            "  local / end to end = {:.3}; packets some member missed (source-only floor) {}, local / floor = {:.3}",
            self.comparison.ratio,
            self.comparison.source_only_floor,
            self.comparison.ratio_to_floor
        );
        row(
            &mut out,
            "every member has every packet",
            yes(l.all_complete).into(),
            yes(e.all_complete).into(),
        );
        let fin = |r: &RunStats| {
            r.finished_ms
                .map_or_else(|| "-".into(), |t| format!("{t:.0}"))
        };
        row(&mut out, "last member complete (ms)", fin(l), fin(e));
        row(
            &mut out,
            "NACK capsules sent by members",
            l.nacks.to_string(),
            e.nacks.to_string(),
        );
        row(
            &mut out,
            "sequence numbers NACKed",
            l.nack_seqs.to_string(),
            e.nack_seqs.to_string(),
        );
        row(
            &mut out,
            "repairs made by the source (distinct)",
            l.repairs_from_source.to_string(),
            e.repairs_from_source.to_string(),
        );
        row(
            &mut out,
            "repairs made by intermediate nodes (distinct)",
            l.repairs_from_intermediate.to_string(),
            e.repairs_from_intermediate.to_string(),
        );
        row(
            &mut out,
            "original packets missed (sum over members)",
            l.missed_originals.to_string(),
            e.missed_originals.to_string(),
        );
        row(
            &mut out,
            "duplicates (sum over members)",
            l.members
                .iter()
                .map(|m| m.duplicates)
                .sum::<u64>()
                .to_string(),
            e.members
                .iter()
                .map(|m| m.duplicates)
                .sum::<u64>()
                .to_string(),
        );
        let fl = |r: &RunStats| {
            format!(
                "{}/{}/{}",
                r.first_link.data,
                r.first_link.announces,
                r.first_link.protocol_down + r.first_link.unicast_down
            )
        };
        row(
            &mut out,
            "first link: data/announces/all capsules down",
            fl(l),
            fl(e),
        );
        row(
            &mut out,
            "first link: capsules up (subscribes, NACKs)",
            (l.first_link.protocol_up + l.first_link.unicast_up).to_string(),
            (e.first_link.protocol_up + e.first_link.unicast_up).to_string(),
        );
        row(
            &mut out,
            "link losses (whole network)",
            l.link_losses.to_string(),
            e.link_losses.to_string(),
        );
        let reasons: BTreeSet<&String> = l.drops.keys().chain(e.drops.keys()).collect();
        for reason in reasons {
            let n = |r: &RunStats| r.drops.get(reason).copied().unwrap_or(0).to_string();
            row(
                &mut out,
                &format!("capsules dropped by nodes: {reason}"),
                n(l),
                n(e),
            );
        }
        row(
            &mut out,
            "emulator events",
            l.events.to_string(),
            e.events.to_string(),
        );

        let _ = writeln!(
            out,
            "\nrepairs by origin (local repair):\n  {:<8} {:<13} {:>8} {:>11}",
            "node", "role", "packets", "deliveries"
        );
        for o in &l.repairs_by_origin {
            let _ = writeln!(
                out,
                "  {:<8} {:<13} {:>8} {:>11}",
                o.node, o.role, o.packets, o.deliveries
            );
        }
        member_table(&mut out, l);
        member_table(&mut out, e);
        let _ = writeln!(
            out,
            "\nsame seed, same numbers: {}",
            match self.repeat_identical {
                Some(true) => "yes (the local-repair run repeated gave an identical result)",
                Some(false) => "NO (the repeated local-repair run differed)",
                None => "not checked",
            }
        );
        out
    }
}
