//! The private IP scenario: private sites behind active edge routers, a public network of
//! legacy routers between them; the `private-ip` capsule (`capsules/private-ip`) carries the
//! private hosts' packets from edge to edge and refuses those to unknown private destinations.
//!
//! Owns the edge application the capsule's crate doc asks for ([`PrivateEdge`]: announces its
//! site's prefix, injects its private hosts' packets, receives those for its hosts), a run
//! ([`Scenario`], shaped by a [`Plan`]) and its [`Report`]: packets per site pair sent and
//! delivered intact at the right site, the packets refused at their ingress edge (and whether
//! any of them left it), and what each legacy router forwarded.
//!
//! The network is a topology file whose group `edges` names the active edge routers; edge `i`
//! (0-based, in the group's order) serves the site `192.168.<i + 1>.0/24` (see
//! [`site_prefix`]) with private hosts `.10`, `.11`, ... The private hosts live behind their
//! edge and have no node of their own: their packets exist only inside capsule payloads, so
//! no private address ever appears in an IP header of the emulated network.
//!
//! How refusal is observed: injecting a capsule evaluates it on the edge's node at once, so the
//! edge application reads its node's counters right before and after each injection and
//! records what that one packet caused: capsules sent (carried) or a failed evaluation
//! (`capsule_error`, the capsule's `NO_ROUTE`) with nothing sent (refused).
//!
//! It never reaches into a node core beyond its public counters. Runs take virtual time only
//! and are deterministic for a seed.

use std::fmt::Write as _;
use std::net::Ipv4Addr;
use std::time::Duration;

use ants_router::fingerprint::Fingerprint;
use ants_router::time::Timestamp;
use anyhow::{Context as _, bail};
use capsule_private_ip::{
    ANNOUNCE_PERIOD, DELIVERY_PORT, MAX_DATA, Message, PRIVATE_NET, Packet, Prefix,
};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::{AppLog, ScenarioOptions, ScenarioReport};
use ants_emulator::{
    AppContext, AppDelivery, AppError, AppId, Application, Emulator, EmulatorOptions,
};
use ants_topology::capsules::CapsuleLocator;
use ants_topology::model::{NodeId, NodeKind, Topology};
use ants_topology::routes::Routes;

/// The scenario's topology file, relative to the repository root.
pub const EXAMPLE: &str = "topology/examples/private-ip.toml";
/// The capsule the scenario drives.
pub const CAPSULE: &str = "private-ip";
/// The file's group naming the edge routers, in site order.
pub const EDGE_GROUP: &str = "edges";
/// Budget of announcements: split at every node of the flood (the crate doc's advice).
pub const ANNOUNCE_BUDGET: u16 = 4096;
/// Budget of packets: the active hops to any other edge, with room to spare.
pub const PACKET_BUDGET: u16 = 32;
/// Host number of a site's first private host.
pub const FIRST_HOST: u8 = 10;
/// The node's drop counter of failed evaluations, where the capsule's `NO_ROUTE` lands.
pub const REFUSED_COUNTER: &str = "capsule_error";

/// The private prefix of site `i` (0-based): `192.168.<i + 1>.0/24`, for up to 254 sites.
pub fn site_prefix(i: usize) -> Option<Prefix> {
    let third = u8::try_from(i + 1).ok().filter(|&b| b < 255)?;
    Some(Prefix {
        addr: Ipv4Addr::new(192, 168, third, 0),
        len: 24,
    })
}

/// Private host `k` (0-based) of site `i`.
pub fn site_host(i: usize, k: u8) -> Option<Ipv4Addr> {
    let p = site_prefix(i)?;
    let [a, b, c, _] = p.addr.octets();
    Some(Ipv4Addr::new(a, b, c, FIRST_HOST.checked_add(k)?))
}

fn ns(at: Duration) -> Timestamp {
    Timestamp::ZERO + at
}

// ---- The edge application --------------------------------------------------------------------

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

/// What a [`PrivateEdge`] did (its JSON report, read back with [`EdgeLog::of`]).
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

impl AppLog for EdgeLog {}

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
    log: EdgeLog,
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
            log: EdgeLog::default(),
        }
    }

    fn inject(
        &mut self,
        ctx: &mut AppContext<'_>,
        message: &Message,
        budget: u16,
    ) -> Option<(u64, bool)> {
        let fp = self.fingerprint?;
        let me = ctx.address();
        let before = ctx.core().stats();
        let result = postcard::to_allocvec(message)
            .map_err(|e| AppError::Other(format!("private IP payload: {e}")))
            .and_then(|p| ctx.send_capsule(fp, me, budget, &p));
        if let Err(e) = result {
            self.log.send_errors += 1;
            self.log.first_error.get_or_insert_with(|| e.to_string());
            return None;
        }
        let after = ctx.core().stats();
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
            self.log.node, self.prefix.addr, self.prefix.len
        )
    }

    fn start(&mut self, ctx: &mut AppContext<'_>) -> Result<(), AppError> {
        self.log.node = ctx.node_name(ctx.node()).to_string();
        self.fingerprint = Some(ctx.register_capsule(CAPSULE)?);
        ctx.listen(DELIVERY_PORT);
        ctx.set_timer(Duration::ZERO, ANNOUNCE);
        let now = ctx.now();
        if self.plan.rounds > 0 {
            ctx.set_timer(ns(self.plan.start).saturating_duration_since(now), ROUND);
        }
        if !self.unknown.is_empty() {
            ctx.set_timer(
                ns(self.plan.unknown_at).saturating_duration_since(now),
                UNKNOWN,
            );
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
                    self.log.announced_ns.push(ctx.now().as_nanos());
                }
                ctx.set_timer(self.plan.announce_period, ANNOUNCE);
            }
            ROUND => {
                for src in self.hosts.clone() {
                    for dst in self.remote.clone() {
                        if let Some(p) = self.packet(ctx, src, dst) {
                            self.log.injected.push(p);
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
                        self.log.unknown.push(p);
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
                self.log.arrived.push(Arrived {
                    src: p.src,
                    dst: p.dst,
                    local: self.hosts.contains(&p.dst),
                    intact,
                    at_ns: d.at.as_nanos(),
                });
            }
            _ => self.log.foreign += 1,
        }
    }

    fn report(&self) -> Value {
        serde_json::to_value(&self.log).unwrap_or(Value::Null)
    }

    fn summary(&self) -> String {
        let refused = self.log.unknown.iter().filter(|p| p.refused).count();
        format!(
            "{} packets sent, {} arrived, {} of {} to unknown destinations refused",
            self.log.injected.len(),
            self.log.arrived.len(),
            refused,
            self.log.unknown.len()
        )
    }
}

// ---- The plan and the run ----------------------------------------------------------------------

/// What happens in a run.
#[derive(Clone, Debug, PartialEq)]
pub struct Plan {
    /// Private hosts per site (`.10`, `.11`, ...).
    pub hosts_per_site: u8,
    /// How often edges announce (from time zero).
    pub announce_period: Duration,
    /// When the first round of packets leaves (the announcements have flooded by then).
    pub start: Duration,
    /// Rounds: in each, every host sends one packet to every host of every other site.
    pub rounds: u32,
    /// Time between rounds.
    pub interval: Duration,
    /// Private destinations no site serves (and any outside the private space), each sent
    /// one packet by every edge's first host.
    pub unknown: Vec<Ipv4Addr>,
    /// When those leave.
    pub unknown_at: Duration,
    /// When the run ends.
    pub end: Duration,
    /// Data bytes per packet (12 to [`MAX_DATA`]).
    pub data_len: usize,
}

impl Default for Plan {
    /// Two hosts per site, announcements every [`ANNOUNCE_PERIOD`] (10 s), 20 rounds 20 ms
    /// apart from 500 ms, then at 1.5 s one packet per edge to 192.168.99.1 (a private
    /// address no site serves) and one to 172.16.0.1 (outside the private space); the run
    /// ends at 2 s. 64-byte packets.
    fn default() -> Self {
        Plan {
            hosts_per_site: 2,
            announce_period: ANNOUNCE_PERIOD,
            start: Duration::from_millis(500),
            rounds: 20,
            interval: Duration::from_millis(20),
            unknown: vec![Ipv4Addr::new(192, 168, 99, 1), Ipv4Addr::new(172, 16, 0, 1)],
            unknown_at: Duration::from_millis(1500),
            end: Duration::from_secs(2),
            data_len: 64,
        }
    }
}

impl Plan {
    fn check(&self) -> anyhow::Result<()> {
        if !(12..=MAX_DATA).contains(&self.data_len) {
            bail!(
                "packets carry 12 to {MAX_DATA} bytes of data, not {}",
                self.data_len
            );
        }
        if self.hosts_per_site == 0
            || usize::from(self.hosts_per_site) > usize::from(u8::MAX - FIRST_HOST)
        {
            bail!("a site has 1 to {} private hosts", u8::MAX - FIRST_HOST);
        }
        if self.announce_period.is_zero() || (self.rounds > 1 && self.interval.is_zero()) {
            bail!("the announcement period and the interval between rounds must be more than zero");
        }
        Ok(())
    }
}

/// One site: its edge and private hosts.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Site {
    /// The edge router.
    pub edge: String,
    /// The prefix it serves.
    pub prefix: String,
    /// Its private hosts.
    pub hosts: Vec<Ipv4Addr>,
}

/// A private IP run: a [`PrivateEdge`] on every router of the file's group `edges`.
pub struct Scenario {
    emulator: Emulator,
    plan: Plan,
    /// Edge node, application, site.
    edges: Vec<(NodeId, AppId, Site)>,
}

impl Scenario {
    /// Builds the run at virtual time zero. `topology` needs at least two active routers in
    /// group [`EDGE_GROUP`].
    pub fn new(
        topology: &Topology,
        capsules: &CapsuleLocator,
        seed: Option<u64>,
        plan: Plan,
    ) -> anyhow::Result<Scenario> {
        plan.check()?;
        let edges = topology.groups.get(EDGE_GROUP).cloned().unwrap_or_default();
        if edges.len() < 2 {
            bail!(
                "`{}`: the group `{EDGE_GROUP}` must name at least two active routers",
                topology.name
            );
        }
        let mut sites = Vec::with_capacity(edges.len());
        for (i, &e) in edges.iter().enumerate() {
            let node = &topology.nodes[e];
            if node.kind != NodeKind::Active {
                bail!(
                    "`{}`: edge `{}` must be an active router, it is a {}",
                    topology.name,
                    node.name,
                    node.kind
                );
            }
            let prefix = site_prefix(i)
                .with_context(|| format!("`{}`: at most 254 sites", topology.name))?;
            let hosts: Vec<Ipv4Addr> = (0..plan.hosts_per_site)
                .filter_map(|k| site_host(i, k))
                .collect();
            sites.push((e, prefix, hosts));
        }
        if let Some(n) = topology
            .nodes
            .iter()
            .find(|n| PRIVATE_NET.contains(n.address))
        {
            bail!(
                "`{}`: node `{}` has the private address {}; node addresses must be public (outside {}/{})",
                topology.name,
                n.name,
                n.address,
                PRIVATE_NET.addr,
                PRIVATE_NET.len
            );
        }

        let routes = Routes::compute(topology);
        let options = EmulatorOptions {
            seed,
            start_apps: false,
            ..EmulatorOptions::default()
        };
        let mut emulator = Emulator::new(topology, &routes, capsules, options)
            .with_context(|| format!("cannot emulate `{}`", topology.name))?;
        let mut apps = Vec::with_capacity(sites.len());
        for (i, (e, prefix, hosts)) in sites.iter().enumerate() {
            let remote: Vec<Ipv4Addr> = sites
                .iter()
                .enumerate()
                .filter(|&(j, _)| j != i)
                .flat_map(|(_, (_, _, h))| h.iter().copied())
                .collect();
            let app = PrivateEdge::new(
                *prefix,
                hosts.clone(),
                remote,
                plan.unknown.clone(),
                plan.clone(),
            );
            let id = emulator.add_app(*e, Box::new(app))?;
            let site = Site {
                edge: topology.nodes[*e].name.clone(),
                prefix: format!("{}/{}", prefix.addr, prefix.len),
                hosts: hosts.clone(),
            };
            apps.push((*e, id, site));
        }
        Ok(Scenario {
            emulator,
            plan,
            edges: apps,
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

    /// The sites, in the group's order.
    pub fn sites(&self) -> Vec<Site> {
        self.edges.iter().map(|(_, _, s)| s.clone()).collect()
    }

    /// What the edge on `node` did.
    pub fn edge_log(&self, node: NodeId) -> Option<EdgeLog> {
        let (_, app, _) = self.edges.iter().find(|(e, _, _)| *e == node)?;
        EdgeLog::of(&self.emulator, *app)
    }

    /// Runs to the end of the plan and reports.
    pub fn run(&mut self) -> Report {
        self.emulator.run_until(ns(self.plan.end));
        self.report()
    }

    /// The report of the run so far.
    pub fn report(&self) -> Report {
        build_report(self)
    }
}

// ---- The report ------------------------------------------------------------------------------

/// Packets from one site to another.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct PairRow {
    /// Sending site's edge.
    pub from: String,
    /// Receiving site's edge.
    pub to: String,
    /// Packets the sending edge injected for its hosts.
    pub sent: u64,
    /// Of them, carried off the edge (one capsule each).
    pub carried: u64,
    /// Packets delivered at the receiving edge, for one of its hosts, addresses intact.
    pub delivered: u64,
}

/// One edge's packets to destinations no site serves.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct RefusedRow {
    /// The edge.
    pub edge: String,
    /// Packets injected to unknown destinations.
    pub sent: u64,
    /// Of them, refused at the edge (failed evaluation, nothing sent).
    pub refused: u64,
    /// Of them, any capsule left the edge for (0 expected).
    pub leaked: u64,
    /// The node's own `capsule_error` counter at the end (every failed evaluation there).
    pub node_counter: u64,
}

/// What one legacy router carried.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct LegacyRow {
    /// The router.
    pub node: String,
    /// Datagrams it forwarded.
    pub forwarded: u64,
    /// Datagrams it had no route for (0 expected).
    pub unroutable: u64,
    /// Datagrams that arrived over its links (sent toward it and not lost).
    pub arrived: u64,
    /// Of the datagrams put on its links (both directions), capsule frames of the private
    /// IP protocol.
    pub private_ip_capsules: u64,
    /// Code-loading frames (0 expected: every edge registered the protocol).
    pub code_frames: u64,
    /// Frames of other protocols (0 expected).
    pub other_frames: u64,
    /// Datagrams that were no ANTS frame (0 expected).
    pub unparsed: u64,
}

/// The private IP scenario's report: deterministic for a network, seed and plan.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Report {
    /// Topology name.
    pub topology: String,
    /// Seed.
    pub seed: u64,
    /// The sites.
    pub sites: Vec<Site>,
    /// Announcements per edge, in site order.
    pub announcements: Vec<usize>,
    /// Every ordered pair of distinct sites.
    pub pairs: Vec<PairRow>,
    /// Packets delivered at an edge that does not serve their destination, or with changed
    /// addresses (0 expected).
    pub misdelivered: u64,
    /// Per edge, the packets to unknown destinations.
    pub refused: Vec<RefusedRow>,
    /// The legacy routers.
    pub legacy: Vec<LegacyRow>,
    /// Whether every node address lies outside the private space, so no private address
    /// appears in any IP header.
    pub public_addresses_only: bool,
    /// Virtual time covered (ms).
    pub virtual_time_ms: f64,
}

impl Report {
    /// Packets sent between sites in all.
    pub fn sent(&self) -> u64 {
        self.pairs.iter().map(|p| p.sent).sum()
    }

    /// Packets delivered intact at the right site in all.
    pub fn delivered(&self) -> u64 {
        self.pairs.iter().map(|p| p.delivered).sum()
    }
}

fn build_report(s: &Scenario) -> Report {
    let emu = &s.emulator;
    let t = emu.topology();
    let logs: Vec<EdgeLog> = s
        .edges
        .iter()
        .map(|(e, _, _)| s.edge_log(*e).unwrap_or_default())
        .collect();
    let site_of = |a: Ipv4Addr| {
        s.edges
            .iter()
            .position(|(_, _, site)| site.hosts.contains(&a))
    };

    let mut pairs = Vec::new();
    for (i, (_, _, from)) in s.edges.iter().enumerate() {
        for (j, (_, _, to)) in s.edges.iter().enumerate() {
            if i == j {
                continue;
            }
            let out = logs[i]
                .injected
                .iter()
                .filter(|p| site_of(p.dst) == Some(j));
            let delivered = logs[j]
                .arrived
                .iter()
                .filter(|a| a.local && a.intact && site_of(a.src) == Some(i))
                .count() as u64;
            pairs.push(PairRow {
                from: from.edge.clone(),
                to: to.edge.clone(),
                sent: out.clone().count() as u64,
                carried: out.filter(|p| p.capsules_sent == 1 && !p.refused).count() as u64,
                delivered,
            });
        }
    }
    let misdelivered = logs
        .iter()
        .flat_map(|l| &l.arrived)
        .filter(|a| !(a.local && a.intact))
        .count() as u64;

    let refused = s
        .edges
        .iter()
        .zip(&logs)
        .map(|((e, _, site), log)| RefusedRow {
            edge: site.edge.clone(),
            sent: log.unknown.len() as u64,
            refused: log
                .unknown
                .iter()
                .filter(|p| p.refused && p.capsules_sent == 0)
                .count() as u64,
            leaked: log.unknown.iter().filter(|p| p.capsules_sent > 0).count() as u64,
            node_counter: emu
                .node(*e)
                .map_or(0, |n| n.stats().drops.by_name(REFUSED_COUNTER)),
        })
        .collect();

    let fp = emu.fingerprint(CAPSULE);
    let legacy = t
        .nodes_of(NodeKind::Legacy)
        .map(|l| {
            let mut row = LegacyRow {
                node: t.nodes[l].name.clone(),
                forwarded: emu.ip_forwarded(l),
                unroutable: emu.ip_unroutable(l),
                arrived: 0,
                private_ip_capsules: 0,
                code_frames: 0,
                other_frames: 0,
                unparsed: 0,
            };
            for &link in t.links_of(l) {
                let Some(dirs) = emu.link_stats(link) else {
                    continue;
                };
                // Direction 0 is a → b: toward `l` when `l` is b.
                let inbound = usize::from(t.links[link].a == l);
                row.arrived += dirs[inbound].packets - dirs[inbound].losses;
                for d in dirs {
                    row.unparsed += d.unparsed;
                    for (f, c) in &d.protocols {
                        if Some(*f) == fp {
                            row.private_ip_capsules += c.capsules;
                            row.code_frames += c.code;
                        } else {
                            row.other_frames += c.capsules + c.code;
                        }
                    }
                }
            }
            row
        })
        .collect();

    Report {
        topology: t.name.clone(),
        seed: emu.seed(),
        sites: s.sites(),
        announcements: logs.iter().map(|l| l.announced_ns.len()).collect(),
        pairs,
        misdelivered,
        refused,
        legacy,
        public_addresses_only: t
            .nodes
            .iter()
            .map(|n| n.address)
            .chain(t.links.iter().flat_map(|l| [l.a_addr, l.b_addr]))
            .all(|a| !PRIVATE_NET.contains(a)),
        virtual_time_ms: emu.now().as_nanos() as f64 / 1e6,
    }
}

impl ScenarioReport for Report {
    fn table(&self) -> String {
        let mut out = String::new();
        let sites: Vec<String> = self
            .sites
            .iter()
            .map(|s| format!("{} serves {}", s.edge, s.prefix))
            .collect();
        let _ = writeln!(
            out,
            "private IP on {} (seed {}): {}",
            self.topology,
            self.seed,
            sites.join(", ")
        );
        let _ = writeln!(
            out,
            "\n  {:<8} {:<8} {:>6} {:>8} {:>10}",
            "from", "to", "sent", "carried", "delivered"
        );
        for p in &self.pairs {
            let _ = writeln!(
                out,
                "  {:<8} {:<8} {:>6} {:>8} {:>10}",
                p.from, p.to, p.sent, p.carried, p.delivered
            );
        }
        let _ = writeln!(
            out,
            "{} of {} packets delivered with their private addresses at the right site; {} misdelivered",
            self.delivered(),
            self.sent(),
            self.misdelivered
        );
        let _ = writeln!(
            out,
            "\npackets to unknown destinations\n  {:<8} {:>6} {:>8} {:>7} {:>14}",
            "edge", "sent", "refused", "leaked", REFUSED_COUNTER
        );
        for r in &self.refused {
            let _ = writeln!(
                out,
                "  {:<8} {:>6} {:>8} {:>7} {:>14}",
                r.edge, r.sent, r.refused, r.leaked, r.node_counter
            );
        }
        let _ = writeln!(
            out,
            "\nlegacy routers (frames on their links, both directions)\n  {:<8} {:>9} {:>8} {:>11} {:>18} {:>5} {:>6} {:>9}",
            "router",
            "forwarded",
            "arrived",
            "unroutable",
            "private-ip capsules",
            "code",
            "other",
            "unparsed"
        );
        for l in &self.legacy {
            let _ = writeln!(
                out,
                "  {:<8} {:>9} {:>8} {:>11} {:>18} {:>5} {:>6} {:>9}",
                l.node,
                l.forwarded,
                l.arrived,
                l.unroutable,
                l.private_ip_capsules,
                l.code_frames,
                l.other_frames,
                l.unparsed
            );
        }
        let _ = writeln!(
            out,
            "node and link addresses all public (no private address in any IP header): {}",
            if self.public_addresses_only {
                "yes"
            } else {
                "NO"
            }
        );
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

    #[test]
    fn sites_number_from_one() {
        assert_eq!(site_prefix(0).unwrap().addr, Ipv4Addr::new(192, 168, 1, 0));
        assert_eq!(site_host(1, 1), Some(Ipv4Addr::new(192, 168, 2, 11)));
        assert!(site_prefix(0).unwrap().is_announceable());
        assert!(site_prefix(254).is_none());
    }

    #[test]
    fn plans_are_checked() {
        assert!(Plan::default().check().is_ok());
        let tiny = Plan {
            data_len: 4,
            ..Plan::default()
        };
        assert!(tiny.check().is_err());
    }
}
