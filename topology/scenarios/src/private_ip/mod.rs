//! The private IP scenario: private sites behind active edge routers, a public network of
//! legacy routers between them; the `private-ip` capsule (`capsules/private-ip`) carries the
//! private hosts' packets from edge to edge and refuses those to unknown private destinations.
//!
//! Owns the edge application the capsule's crate doc asks for ([`PrivateEdge`]: announces its
//! site's prefix, injects its private hosts' packets, receives those for its hosts), a run
//! ([`PrivateIp`], shaped by a [`Plan`], the crate's [`Scenario`]), its [`Record`] and its
//! [`Report`]: packets per site pair sent and delivered intact at the right site, the packets
//! refused at their ingress edge (and whether any of them left it), and what each legacy
//! router forwarded.
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

use std::net::Ipv4Addr;
use std::time::Duration;

use ants_emulator::{Emulator, EmulatorOptions};
use ants_router::time::Timestamp;
use ants_topology::capsules::CapsuleLocator;
use ants_topology::model::{NodeId, NodeKind, Topology};
use ants_topology::routes::Routes;
use anyhow::{Context as _, bail};
use capsule_private_ip::{ANNOUNCE_PERIOD, MAX_DATA, PRIVATE_NET, Prefix};
use serde::Serialize;

use crate::app::at;
use crate::{Loaded, Probe, Scenario};

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

mod apps;
mod report;
#[cfg(test)]
mod tests;

pub use apps::*;
pub use report::*;

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
pub struct PrivateIp {
    emulator: Emulator,
    plan: Plan,
    /// Edge node, log, site.
    edges: Vec<(NodeId, Probe<EdgeLog>, Site)>,
}

/// One edge in a [`Record`].
#[derive(Clone, Debug, PartialEq)]
pub struct EdgeRecord {
    /// Its site.
    pub site: Site,
    /// What its application did.
    pub log: EdgeLog,
    /// Its node's [`REFUSED_COUNTER`] at the end (every failed evaluation there).
    pub refused_counter: u64,
}

/// What happened in a private IP run: everything its [`Report`] is made from.
#[derive(Clone, Debug, PartialEq)]
pub struct Record {
    /// Topology name.
    pub topology: String,
    /// Seed.
    pub seed: u64,
    /// The edges, in site order.
    pub edges: Vec<EdgeRecord>,
    /// What each legacy router carried.
    pub legacy: Vec<LegacyRow>,
    /// Whether every node and link address lies outside the private space.
    pub public_addresses_only: bool,
    /// Virtual time covered.
    pub virtual_time: Timestamp,
}

impl PrivateIp {
    /// Builds the run at virtual time zero. `topology` needs at least two active routers in
    /// group [`EDGE_GROUP`].
    pub fn new(
        topology: &Topology,
        capsules: &CapsuleLocator,
        seed: Option<u64>,
        plan: Plan,
    ) -> anyhow::Result<PrivateIp> {
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
            let log = app.probe();
            emulator.add_app(*e, Box::new(app))?;
            let site = Site {
                edge: topology.nodes[*e].name.clone(),
                prefix: format!("{}/{}", prefix.addr, prefix.len),
                hosts: hosts.clone(),
            };
            apps.push((*e, log, site));
        }
        Ok(PrivateIp {
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
        let (_, log, _) = self.edges.iter().find(|(e, _, _)| *e == node)?;
        Some(log.snapshot())
    }

    /// What happened so far.
    pub fn record(&self) -> Record {
        let emu = &self.emulator;
        let t = emu.topology();
        let edges = self
            .edges
            .iter()
            .map(|(e, log, site)| EdgeRecord {
                site: site.clone(),
                log: log.snapshot(),
                refused_counter: emu
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
        Record {
            topology: t.name.clone(),
            seed: emu.seed(),
            edges,
            legacy,
            public_addresses_only: t
                .nodes
                .iter()
                .map(|n| n.address)
                .chain(t.links.iter().flat_map(|l| [l.a_addr, l.b_addr]))
                .all(|a| !PRIVATE_NET.contains(a)),
            virtual_time: emu.now(),
        }
    }
}

impl Scenario for PrivateIp {
    type Plan = Plan;
    type Record = Record;
    type Report = Report;

    const EXAMPLE: &'static str = EXAMPLE;

    fn build(loaded: Loaded, seed: Option<u64>, plan: Plan) -> anyhow::Result<Self> {
        PrivateIp::new(&loaded.topology, &loaded.capsules, seed, plan)
    }

    fn run(&mut self) -> anyhow::Result<Record> {
        self.emulator.run_until(at(self.plan.end));
        Ok(self.record())
    }

    fn report(record: &Record) -> Report {
        build_report(record)
    }
}
