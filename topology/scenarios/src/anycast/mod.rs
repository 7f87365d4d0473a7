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

mod apps;
mod report;
#[cfg(test)]
mod tests;

pub use apps::*;
pub use report::*;

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
