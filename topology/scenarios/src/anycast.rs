//! The anycast scenario: members of one anycast address on hosts at different distances from a
//! client; the client's data reaches the nearest live member, and when that member leaves,
//! the next nearest. Drives the `anycast` capsule (`capsules/anycast`).
//!
//! Owns the applications the capsule's crate doc asks for ([`AnycastMember`]: advertises at
//! start and every [`Plan::advertise_period`], withdraws when told to leave; [`AnycastClient`]:
//! sends numbered data to the anycast address), a run ([`Scenario`], shaped by a [`Plan`]) and
//! its [`Report`]: per member, its distance from the client and the deliveries before and after
//! the nearest member withdrew; the time until traffic moved, in virtual milliseconds; packets
//! lost on the way; deliveries to any member that was not the nearest live one.
//!
//! Distance is what the capsule measures: active hops (node-core nodes) on the overlay, the
//! graph of nodes that exchange capsules directly across legacy routers. The network is a
//! topology file whose group `client` names the sending host and whose group `members` names
//! the member hosts.
//!
//! It never reaches into a node core: everything comes from the applications' records and the
//! emulator's public counters. Runs take virtual time only and are deterministic for a seed.

use std::collections::{BTreeMap, VecDeque};
use std::fmt::Write as _;
use std::net::{IpAddr, Ipv4Addr};
use std::time::Duration;

use ants_router::fingerprint::Fingerprint;
use ants_router::time::Timestamp;
use anyhow::{Context as _, bail};
use capsule_anycast::{ADVERTISE_PERIOD, DELIVERY_PORT, MAX_DATA, Message, Received};
use capsule_sdk::Address;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::{AppLog, ScenarioOptions, ScenarioReport};
use ants_emulator::{
    AppContext, AppDelivery, AppError, AppId, Application, Emulator, EmulatorOptions,
};
use ants_topology::capsules::CapsuleLocator;
use ants_topology::model::{NodeId, Topology};
use ants_topology::routes::Routes;

/// The scenario's topology file, relative to the repository root.
pub const EXAMPLE: &str = "topology/examples/anycast.toml";
/// The capsule the scenario drives.
pub const CAPSULE: &str = "anycast";
/// The file's group naming the one sending host.
pub const CLIENT_GROUP: &str = "client";
/// The file's group naming the member hosts.
pub const MEMBER_GROUP: &str = "members";
/// The anycast address of the default plan (reserved space, never a node's address).
pub const GROUP: Ipv4Addr = Ipv4Addr::new(240, 0, 0, 1);
/// Budget of advertisements and withdraws: split at every node of the flood (the crate doc's
/// advice).
pub const FLOOD_BUDGET: u16 = 4096;
/// Budget of data capsules: the active hops to any member, with room to spare.
pub const DATA_BUDGET: u16 = 32;

fn ns(at: Duration) -> Timestamp {
    Timestamp::ZERO + at
}

fn ms(ns: u64) -> f64 {
    ns as f64 / 1e6
}

// ---- Applications --------------------------------------------------------------------------

/// What an [`AnycastMember`] did and received (its JSON report, read back with
/// [`MemberLog::of`]).
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

impl AppLog for MemberLog {}

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
    log: MemberLog,
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
            log: MemberLog::default(),
        }
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
        let result = postcard::to_allocvec(message)
            .map_err(|e| AppError::Other(format!("anycast payload: {e}")))
            .and_then(|p| ctx.send_capsule(fp, IpAddr::V4(self.group), FLOOD_BUDGET, &p));
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

impl Application for AnycastMember {
    fn name(&self) -> String {
        format!("anycast member {} of {}", self.log.node, self.group)
    }

    fn start(&mut self, ctx: &mut AppContext<'_>) -> Result<(), AppError> {
        self.log.node = ctx.node_name(ctx.node()).to_string();
        self.fingerprint = Some(ctx.register_capsule(CAPSULE)?);
        ctx.listen(DELIVERY_PORT);
        ctx.set_timer(Duration::ZERO, ADVERTISE);
        if let Some(at) = self.leave_at {
            ctx.set_timer(ns(at).saturating_duration_since(ctx.now()), LEAVE);
        }
        Ok(())
    }

    fn on_timer(&mut self, ctx: &mut AppContext<'_>, token: u64) {
        if self.log.left_ns.is_some() {
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
                    self.log.advertised_ns.push(now);
                }
                ctx.set_timer(self.period, ADVERTISE);
            }
            LEAVE => {
                let m = Message::Withdraw { seq: self.round };
                self.send(ctx, &m);
                self.log.left_ns = Some(now);
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
                self.log.received.push((seq, d.at.as_nanos()));
            }
            _ => self.log.foreign += 1,
        }
    }

    fn report(&self) -> Value {
        serde_json::to_value(&self.log).unwrap_or(Value::Null)
    }

    fn summary(&self) -> String {
        format!(
            "{} packets, {} advertisements{}",
            self.log.received.len(),
            self.log.advertised_ns.len(),
            if self.log.left_ns.is_some() {
                ", left"
            } else {
                ""
            }
        )
    }
}

/// What an [`AnycastClient`] sent (its JSON report, read back with [`ClientLog::of`]).
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

impl AppLog for ClientLog {}

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
    log: ClientLog,
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
            log: ClientLog::default(),
        }
    }
}

impl Application for AnycastClient {
    fn name(&self) -> String {
        format!("anycast client {} -> {}", self.log.node, self.group)
    }

    fn start(&mut self, ctx: &mut AppContext<'_>) -> Result<(), AppError> {
        self.log.node = ctx.node_name(ctx.node()).to_string();
        self.fingerprint = Some(ctx.register_capsule(CAPSULE)?);
        ctx.set_timer(ns(self.start).saturating_duration_since(ctx.now()), 0);
        Ok(())
    }

    fn on_timer(&mut self, ctx: &mut AppContext<'_>, _token: u64) {
        let Some(fp) = self.fingerprint else { return };
        if ctx.now() >= ns(self.stop) {
            return;
        }
        let seq = self.log.sent_ns.len() as u32;
        let mut data = vec![b'a'; self.data_len];
        data[..4].copy_from_slice(&seq.to_be_bytes());
        let result = postcard::to_allocvec(&Message::Data(data))
            .map_err(|e| AppError::Other(format!("anycast payload: {e}")))
            .and_then(|p| ctx.send_capsule(fp, IpAddr::V4(self.group), DATA_BUDGET, &p));
        if let Err(e) = result {
            self.log.send_errors += 1;
            self.log.first_error.get_or_insert_with(|| e.to_string());
        }
        // The number is used either way, so sequence numbers index `sent_ns`.
        self.log.sent_ns.push(ctx.now().as_nanos());
        if !self.interval.is_zero() {
            ctx.set_timer(self.interval, 0);
        }
    }

    fn report(&self) -> Value {
        serde_json::to_value(&self.log).unwrap_or(Value::Null)
    }

    fn summary(&self) -> String {
        format!("{} packets sent", self.log.sent_ns.len())
    }
}

// ---- The plan and the run ----------------------------------------------------------------------

/// What happens in a run.
#[derive(Clone, Debug, PartialEq)]
pub struct Plan {
    /// The anycast address.
    pub group: Ipv4Addr,
    /// How often members advertise (from time zero).
    pub advertise_period: Duration,
    /// When the client starts sending (the first advertisements have flooded by then).
    pub start: Duration,
    /// Time between two packets.
    pub interval: Duration,
    /// When the nearest member withdraws.
    pub leave_at: Duration,
    /// When the client stops sending.
    pub stop: Duration,
    /// How long the run goes on after that.
    pub settle: Duration,
    /// Data bytes per packet (4 to [`MAX_DATA`]).
    pub data_len: usize,
}

impl Default for Plan {
    /// [`GROUP`], advertisements every [`ADVERTISE_PERIOD`] (10 s), a packet every 20 ms from
    /// 1 s to 12 s (so every live member re-advertises once while traffic flows), the nearest
    /// member leaving at 5 s, 500 ms to settle, 64-byte packets.
    fn default() -> Self {
        Plan {
            group: GROUP,
            advertise_period: ADVERTISE_PERIOD,
            start: Duration::from_secs(1),
            interval: Duration::from_millis(20),
            leave_at: Duration::from_secs(5),
            stop: Duration::from_secs(12),
            settle: Duration::from_millis(500),
            data_len: 64,
        }
    }
}

impl Plan {
    fn check(&self) -> anyhow::Result<()> {
        if !(4..=MAX_DATA).contains(&self.data_len) {
            bail!(
                "packets carry 4 to {MAX_DATA} bytes of data, not {}",
                self.data_len
            );
        }
        if self.interval.is_zero() || self.advertise_period.is_zero() {
            bail!("the packet interval and the advertisement period must be more than zero");
        }
        if !(self.start <= self.leave_at && self.leave_at < self.stop) {
            bail!("the nearest member must leave while the client sends");
        }
        Ok(())
    }

    /// When the run ends.
    pub fn end(&self) -> Duration {
        self.stop + self.settle
    }
}

/// An anycast run: the client on the file's group `client`, a member on every node of group
/// `members` (the nearest one leaving at [`Plan::leave_at`]).
pub struct Scenario {
    emulator: Emulator,
    plan: Plan,
    client: (NodeId, AppId),
    /// Members by increasing distance (ties in node order): node, application, distance.
    members: Vec<(NodeId, AppId, usize)>,
}

/// Active hops from `from` to every node over the overlay (`usize::MAX` if unreachable).
pub fn overlay_distances(topology: &Topology, routes: &Routes, from: NodeId) -> Vec<usize> {
    let mut dist = vec![usize::MAX; topology.nodes.len()];
    let mut queue = VecDeque::from([from]);
    dist[from] = 0;
    while let Some(x) = queue.pop_front() {
        for &y in routes.active_neighbours(x) {
            if dist[y] == usize::MAX {
                dist[y] = dist[x] + 1;
                queue.push_back(y);
            }
        }
    }
    dist
}

impl Scenario {
    /// Builds the run at virtual time zero. `topology` needs one node-core node in group
    /// [`CLIENT_GROUP`] and at least two in group [`MEMBER_GROUP`].
    pub fn new(
        topology: &Topology,
        capsules: &CapsuleLocator,
        seed: Option<u64>,
        plan: Plan,
    ) -> anyhow::Result<Scenario> {
        plan.check()?;
        let group = |g: &str| topology.groups.get(g).cloned().unwrap_or_default();
        let client = match group(CLIENT_GROUP).as_slice() {
            [c] if topology.nodes[*c].kind.runs_node_core() => *c,
            other => bail!(
                "`{}`: the group `{CLIENT_GROUP}` must name exactly one host (it names {})",
                topology.name,
                other.len()
            ),
        };
        let routes = Routes::compute(topology);
        let dist = overlay_distances(topology, &routes, client);
        let mut members: Vec<(NodeId, usize)> = group(MEMBER_GROUP)
            .into_iter()
            .filter(|&m| m != client && topology.nodes[m].kind.runs_node_core())
            .map(|m| (m, dist[m]))
            .collect();
        if members.len() < 2 {
            bail!(
                "`{}`: the group `{MEMBER_GROUP}` must name at least two hosts besides the client, so one can leave",
                topology.name
            );
        }
        if let Some(&(m, _)) = members.iter().find(|(_, d)| *d == usize::MAX) {
            bail!(
                "`{}`: member `{}` is unreachable from the client",
                topology.name,
                topology.nodes[m].name
            );
        }
        members.sort_by_key(|&(m, d)| (d, m));

        let options = EmulatorOptions {
            seed,
            start_apps: false,
            // Above the node default of 64: its flood visits every node.
            max_budget: Some(FLOOD_BUDGET),
            ..EmulatorOptions::default()
        };
        let mut emulator = Emulator::new(topology, &routes, capsules, options)
            .with_context(|| format!("cannot emulate `{}`", topology.name))?;
        let mut apps = Vec::with_capacity(members.len());
        for (i, &(m, d)) in members.iter().enumerate() {
            let mut app = AnycastMember::new(plan.group, plan.advertise_period);
            if i == 0 {
                app = app.leave_at(plan.leave_at);
            }
            apps.push((m, emulator.add_app(m, Box::new(app))?, d));
        }
        let app = AnycastClient::new(
            plan.group,
            plan.start,
            plan.stop,
            plan.interval,
            plan.data_len,
        );
        let client_app = emulator.add_app(client, Box::new(app))?;
        Ok(Scenario {
            emulator,
            plan,
            client: (client, client_app),
            members: apps,
        })
    }

    /// The emulator (to run further, or read what it counted).
    pub fn emulator(&self) -> &Emulator {
        &self.emulator
    }

    /// The plan.
    pub fn plan(&self) -> &Plan {
        &self.plan
    }

    /// Members by increasing distance from the client: node and distance in active hops.
    pub fn members(&self) -> Vec<(NodeId, usize)> {
        self.members.iter().map(|&(m, _, d)| (m, d)).collect()
    }

    /// What the member on `node` did and received.
    pub fn member_log(&self, node: NodeId) -> Option<MemberLog> {
        let &(_, app, _) = self.members.iter().find(|&&(m, _, _)| m == node)?;
        MemberLog::of(&self.emulator, app)
    }

    /// What the client sent.
    pub fn client_log(&self) -> ClientLog {
        ClientLog::of(&self.emulator, self.client.1).unwrap_or_default()
    }

    /// Runs to the end of the plan and reports.
    pub fn run(&mut self) -> Report {
        self.emulator.run_until(ns(self.plan.end()));
        self.report()
    }

    /// The report of the run so far.
    pub fn report(&self) -> Report {
        build_report(self)
    }
}

// ---- The report ------------------------------------------------------------------------------

/// One member's share.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct MemberRow {
    /// The member's node.
    pub node: String,
    /// Active hops from the client.
    pub distance: usize,
    /// Advertisements it injected.
    pub advertisements: usize,
    /// When it withdrew (ms), if it did.
    pub left_ms: Option<f64>,
    /// Packets delivered to it before the withdraw.
    pub before: u64,
    /// Packets delivered to it after the withdraw.
    pub after: u64,
    /// First and last delivery (ms).
    pub first_ms: Option<f64>,
    /// See `first_ms`.
    pub last_ms: Option<f64>,
}

/// How traffic moved when the nearest member left.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Switch {
    /// The member that left (the nearest).
    pub from: String,
    /// The next nearest member.
    pub to: String,
    /// When the withdraw was injected (ms).
    pub withdraw_ms: f64,
    /// Last delivery at the leaving member (ms).
    pub last_before_ms: Option<f64>,
    /// First delivery at the next nearest member after the withdraw (ms).
    pub first_after_ms: Option<f64>,
    /// `first_after_ms - withdraw_ms`: how long until traffic moved.
    pub switch_ms: Option<f64>,
    /// Packets sent between the last one delivered to the leaving member and the first one
    /// delivered to the next that were delivered nowhere.
    pub lost_in_switch: u64,
}

/// The anycast scenario's report: deterministic for a network, seed and plan.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Report {
    /// Topology name.
    pub topology: String,
    /// Seed.
    pub seed: u64,
    /// The anycast address.
    pub group: String,
    /// The client's node.
    pub client: String,
    /// Advertisement period (ms).
    pub advertise_period_ms: f64,
    /// Time between packets (ms).
    pub interval_ms: f64,
    /// Members by increasing distance.
    pub members: Vec<MemberRow>,
    /// Packets the client sent.
    pub sent: u64,
    /// Distinct packets delivered to some member.
    pub delivered: u64,
    /// Packets delivered to more than one member, or twice (0 expected).
    pub duplicates: u64,
    /// Packets delivered nowhere.
    pub lost: u64,
    /// Packets delivered to a member that was not the nearest live one (0 expected): before
    /// the withdraw, anyone but the nearest; after the switch, anyone but the next nearest.
    pub misrouted: u64,
    /// The move.
    pub switch: Switch,
    /// Capsules the nodes dropped, by reason: `no_effect` for flood copies that improved
    /// no table (where a flood stops), `capsule_error` for data a node had no live entry
    /// for (packets in flight to the leaving member when it withdrew).
    pub drops: BTreeMap<String, u64>,
    /// Virtual time covered (ms).
    pub virtual_time_ms: f64,
}

fn build_report(s: &Scenario) -> Report {
    let emu = &s.emulator;
    let t = emu.topology();
    let client = s.client_log();
    let logs: Vec<MemberLog> = s
        .members
        .iter()
        .map(|&(m, _, _)| s.member_log(m).unwrap_or_default())
        .collect();
    let withdraw_ns = logs[0].left_ns.unwrap_or(u64::MAX);

    // Who got each packet.
    let mut got: BTreeMap<u32, Vec<usize>> = BTreeMap::new();
    for (i, log) in logs.iter().enumerate() {
        for &(seq, _) in &log.received {
            got.entry(seq).or_default().push(i);
        }
    }
    let sent = client.sent_ns.len() as u64;
    let delivered = got.keys().filter(|&&q| u64::from(q) < sent).count() as u64;
    let duplicates = got.values().map(|v| v.len() as u64 - 1).sum();

    // The switch: the last delivery at the leaving member, the first after the withdraw at
    // the next nearest.
    let last_before = logs[0].received.iter().map(|&(_, at)| at).max();
    let first_after = logs[1]
        .received
        .iter()
        .filter(|&&(_, at)| at >= withdraw_ns)
        .map(|&(q, at)| (at, q))
        .min();
    let last_seq_before = logs[0].received.iter().map(|&(q, _)| q).max();
    let lost_in_switch = match (last_seq_before, first_after) {
        (Some(a), Some((_, b))) if b > a => {
            (a + 1..b).filter(|q| !got.contains_key(q)).count() as u64
        }
        _ => 0,
    };
    let switch_at = first_after.map_or(u64::MAX, |(at, _)| at);
    // Where each delivery may go: before the withdraw, the nearest member only; from the
    // switch on, the next nearest only; in between (packets in flight), either of the two.
    let allowed = |i: usize, at: u64| {
        if at < withdraw_ns {
            i == 0
        } else if at >= switch_at {
            i == 1
        } else {
            i <= 1
        }
    };
    let misrouted = logs
        .iter()
        .enumerate()
        .flat_map(|(i, l)| l.received.iter().map(move |&(_, at)| (i, at)))
        .filter(|&(i, at)| !allowed(i, at))
        .count() as u64;

    let members = s
        .members
        .iter()
        .zip(&logs)
        .map(|(&(m, _, d), log)| MemberRow {
            node: t.nodes[m].name.clone(),
            distance: d,
            advertisements: log.advertised_ns.len(),
            left_ms: log.left_ns.map(ms),
            before: log
                .received
                .iter()
                .filter(|&&(_, at)| at < withdraw_ns)
                .count() as u64,
            after: log
                .received
                .iter()
                .filter(|&&(_, at)| at >= withdraw_ns)
                .count() as u64,
            first_ms: log.received.iter().map(|&(_, at)| at).min().map(ms),
            last_ms: log.received.iter().map(|&(_, at)| at).max().map(ms),
        })
        .collect();

    let mut drops: BTreeMap<String, u64> = BTreeMap::new();
    for n in 0..t.nodes.len() {
        if let Some(core) = emu.node(n) {
            for (reason, count) in core.stats().drops.nonzero() {
                *drops.entry(reason.to_string()).or_default() += count;
            }
        }
    }

    let name = |i: usize| t.nodes[s.members[i].0].name.clone();
    Report {
        topology: t.name.clone(),
        seed: emu.seed(),
        group: s.plan.group.to_string(),
        client: t.nodes[s.client.0].name.clone(),
        advertise_period_ms: s.plan.advertise_period.as_secs_f64() * 1e3,
        interval_ms: s.plan.interval.as_secs_f64() * 1e3,
        members,
        sent,
        delivered,
        duplicates,
        lost: sent - delivered,
        misrouted,
        switch: Switch {
            from: name(0),
            to: name(1),
            withdraw_ms: ms(withdraw_ns),
            last_before_ms: last_before.map(ms),
            first_after_ms: first_after.map(|(at, _)| ms(at)),
            switch_ms: first_after.map(|(at, _)| ms(at - withdraw_ns.min(at))),
            lost_in_switch,
        },
        drops,
        virtual_time_ms: ms(emu.now().as_nanos()),
    }
}

impl ScenarioReport for Report {
    fn table(&self) -> String {
        let mut out = String::new();
        let _ = writeln!(
            out,
            "anycast {} on {} (seed {}): client {}, {} members advertising every {:.0} ms, a packet every {:.0} ms",
            self.group,
            self.topology,
            self.seed,
            self.client,
            self.members.len(),
            self.advertise_period_ms,
            self.interval_ms
        );
        let sw = &self.switch;
        let _ = writeln!(
            out,
            "\n  {:<10} {:>8} {:>14} {:>15} {:>14} {:>10}",
            "member", "distance", "advertisements", "before withdraw", "after withdraw", "left ms"
        );
        for m in &self.members {
            let _ = writeln!(
                out,
                "  {:<10} {:>8} {:>14} {:>15} {:>14} {:>10}",
                m.node,
                m.distance,
                m.advertisements,
                m.before,
                m.after,
                m.left_ms.map_or_else(|| "-".into(), |t| format!("{t:.0}"))
            );
        }
        let opt = |v: Option<f64>| v.map_or_else(|| "never".into(), |t| format!("{t:.1} ms"));
        let _ = writeln!(
            out,
            "\n{} withdrew at {:.1} ms; last delivery there {}; first delivery at {} after it {}: traffic moved in {}, {} packets lost in the switch",
            sw.from,
            sw.withdraw_ms,
            opt(sw.last_before_ms),
            sw.to,
            opt(sw.first_after_ms),
            sw.switch_ms
                .map_or_else(|| "never".into(), |t| format!("{t:.1} ms")),
            sw.lost_in_switch
        );
        let _ = writeln!(
            out,
            "{} packets sent, {} delivered, {} lost, {} duplicates, {} to a member that was not the nearest live one",
            self.sent, self.delivered, self.lost, self.duplicates, self.misrouted
        );
        if !self.drops.is_empty() {
            let d: Vec<String> = self.drops.iter().map(|(k, v)| format!("{k} {v}")).collect();
            let _ = writeln!(out, "node drops: {}", d.join(", "));
        }
        out
    }
}

// ---- Entry points ----------------------------------------------------------------------------

/// Runs the scenario with the default [`Plan`] and reports.
pub fn run(options: &ScenarioOptions) -> anyhow::Result<Report> {
    let loaded = options.load(EXAMPLE)?;
    let mut scenario = Scenario::new(
        &loaded.topology,
        &loaded.capsules,
        options.seed,
        Plan::default(),
    )?;
    Ok(scenario.run())
}

#[cfg(test)]
mod tests {
    use super::*;
    use ants_topology::model::{NodeKind, TopologyBuilder};

    #[test]
    fn distances_count_active_hops_only() {
        let mut b = TopologyBuilder::new("t");
        b.node("c", NodeKind::Host, None)
            .node("a0", NodeKind::Active, None)
            .node("l1", NodeKind::Legacy, None)
            .node("l2", NodeKind::Legacy, None)
            .node("a1", NodeKind::Active, None)
            .node("m", NodeKind::Host, None)
            .link("c", "a0")
            .link("a0", "l1")
            .link("l1", "l2")
            .link("l2", "a1")
            .link("a1", "m");
        let t = b.build().unwrap();
        let r = Routes::compute(&t);
        let d = overlay_distances(&t, &r, 0);
        assert_eq!(d[t.node_id("m").unwrap()], 3);
        assert_eq!(d[t.node_id("l1").unwrap()], usize::MAX);
    }

    #[test]
    fn plans_are_checked() {
        assert!(Plan::default().check().is_ok());
        let late = Plan {
            leave_at: Duration::from_secs(20),
            ..Plan::default()
        };
        assert!(late.check().is_err());
    }
}
