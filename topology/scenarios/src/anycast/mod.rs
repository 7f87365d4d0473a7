//! The anycast scenario: members of one anycast address on hosts at different distances from a
//! client; the client's data reaches the nearest live member, and when that member leaves,
//! the next nearest. Drives the `anycast` capsule (`capsules/anycast`).
//!
//! Owns the applications the capsule's crate doc asks for ([`AnycastMember`]: advertises at
//! start and every [`Plan::advertise_period`], withdraws when told to leave; [`AnycastClient`]:
//! sends numbered data to the anycast address), a run ([`Anycast`], shaped by a [`Plan`], the
//! crate's [`Scenario`]), its [`Record`] and its [`Report`]: per member, its distance from the client and the deliveries before and after
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
use std::net::Ipv4Addr;
use std::time::Duration;

use ants_emulator::{Emulator, EmulatorOptions};
use ants_router::time::Timestamp;
use ants_topology::capsules::CapsuleLocator;
use ants_topology::model::{NodeId, Topology};
use ants_topology::routes::Routes;
use anyhow::{Context as _, bail};
use capsule_anycast::{ADVERTISE_PERIOD, MAX_DATA};

use crate::app::at;
use crate::{Loaded, Probe, Scenario};

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

mod apps;
mod report;
#[cfg(test)]
mod tests;

pub use apps::*;
pub use report::*;

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
pub struct Anycast {
    emulator: Emulator,
    plan: Plan,
    client: (NodeId, Probe<ClientLog>),
    /// Members by increasing distance (ties in node order): node, log, distance.
    members: Vec<(NodeId, Probe<MemberLog>, usize)>,
}

/// One member in a [`Record`].
#[derive(Clone, Debug, PartialEq)]
pub struct MemberRecord {
    /// The member's node.
    pub node: String,
    /// Active hops from the client.
    pub distance: usize,
    /// What it did and received.
    pub log: MemberLog,
}

/// What happened in an anycast run: everything its [`Report`] is made from.
#[derive(Clone, Debug, PartialEq)]
pub struct Record {
    /// Topology name.
    pub topology: String,
    /// Seed.
    pub seed: u64,
    /// The plan.
    pub plan: Plan,
    /// The client's node.
    pub client: String,
    /// What the client sent.
    pub client_log: ClientLog,
    /// Members by increasing distance from the client.
    pub members: Vec<MemberRecord>,
    /// Capsules the nodes dropped, by reason, over all nodes.
    pub drops: BTreeMap<String, u64>,
    /// Virtual time covered.
    pub virtual_time: Timestamp,
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

impl Anycast {
    /// Builds the run at virtual time zero. `topology` needs one node-core node in group
    /// [`CLIENT_GROUP`] and at least two in group [`MEMBER_GROUP`].
    pub fn new(
        topology: &Topology,
        capsules: &CapsuleLocator,
        seed: Option<u64>,
        plan: Plan,
    ) -> anyhow::Result<Anycast> {
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
            let log = app.probe();
            emulator.add_app(m, Box::new(app))?;
            apps.push((m, log, d));
        }
        let app = AnycastClient::new(
            plan.group,
            plan.start,
            plan.stop,
            plan.interval,
            plan.data_len,
        );
        let client_log = app.probe();
        emulator.add_app(client, Box::new(app))?;
        Ok(Anycast {
            emulator,
            plan,
            client: (client, client_log),
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
        let (_, log, _) = self.members.iter().find(|(m, _, _)| *m == node)?;
        Some(log.snapshot())
    }

    /// What the client sent.
    pub fn client_log(&self) -> ClientLog {
        self.client.1.snapshot()
    }

    /// What happened so far.
    pub fn record(&self) -> Record {
        let emu = &self.emulator;
        let t = emu.topology();
        let mut drops: BTreeMap<String, u64> = BTreeMap::new();
        for n in 0..t.nodes.len() {
            if let Some(core) = emu.node(n) {
                for (reason, count) in core.stats().drops.nonzero() {
                    *drops.entry(reason.to_string()).or_default() += count;
                }
            }
        }
        Record {
            topology: t.name.clone(),
            seed: emu.seed(),
            plan: self.plan.clone(),
            client: t.nodes[self.client.0].name.clone(),
            client_log: self.client_log(),
            members: self
                .members
                .iter()
                .map(|(m, log, d)| MemberRecord {
                    node: t.nodes[*m].name.clone(),
                    distance: *d,
                    log: log.snapshot(),
                })
                .collect(),
            drops,
            virtual_time: emu.now(),
        }
    }
}

impl Scenario for Anycast {
    type Plan = Plan;
    type Record = Record;
    type Report = Report;

    const EXAMPLE: &'static str = EXAMPLE;

    fn build(loaded: Loaded, seed: Option<u64>, plan: Plan) -> anyhow::Result<Self> {
        Anycast::new(&loaded.topology, &loaded.capsules, seed, plan)
    }

    fn run(&mut self) -> anyhow::Result<Record> {
        self.emulator.run_until(at(self.plan.end()));
        Ok(self.record())
    }

    fn report(record: &Record) -> Report {
        build_report(record)
    }
}
