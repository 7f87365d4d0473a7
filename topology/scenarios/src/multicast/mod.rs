//! The multicast scenario: one source, a group of members behind active edge routers, legacy
//! routers in between; the `multicast` capsule (`capsules/multicast`) is loaded hop by hop as
//! the members' subscribes travel toward the source, and the data follows the tree they built.
//!
//! Owns the member and source applications ([`MulticastMember`], [`MulticastSource`]), a run
//! ([`Scenario`], shaped by a [`Plan`]), its [`Report`] (per receiver: delivered, duplicated,
//! lost; per link: data copies next to what unicast fan-out from the source would send; code
//! loading hop by hop). The scale benchmark's network is
//! [`ants_emulator::generate::Hierarchy`], whose source and member group carry this scenario's
//! names ([`SOURCE`], [`MEMBERS`]).
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
use ants_topology::model::{NodeId, NodeKind, Topology};
use ants_topology::routes::Routes;

/// The scenario's topology file, relative to the repository root.
pub const EXAMPLE: &str = "topology/examples/multicast.toml";
/// The same file, built in, so the demo runs from any directory.
pub const EXAMPLE_TOML: &str = include_str!("../../../examples/multicast.toml");
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

mod apps;
mod plan;
mod report;
mod table;
#[cfg(test)]
mod tests;

pub use apps::*;
pub use plan::*;
pub use report::*;

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
