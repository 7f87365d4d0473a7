//! The multicast scenario: one source, a group of members behind active edge routers, legacy
//! routers in between; the `multicast` capsule (`capsules/multicast`) is loaded hop by hop as
//! the members' subscribes travel toward the source, and the data follows the tree they built.
//!
//! Owns the member and source applications ([`MulticastMember`], [`MulticastSource`]), a run
//! ([`Multicast`], shaped by a [`Plan`], the crate's [`Scenario`]), its [`Record`] and its
//! [`Report`] (per receiver: delivered, duplicated, lost; per link: data copies next to what
//! unicast fan-out from the source would send; code loading hop by hop). The scale benchmark's network is
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

use std::path::{Path, PathBuf};
use std::time::Duration;

use ants_emulator::{CodeLoad, Emulator, EmulatorOptions};
use ants_router::fingerprint::Fingerprint;
use ants_router::time::Timestamp;
use ants_topology::capsules::CapsuleLocator;
use ants_topology::model::{NodeId, Topology};
use ants_topology::routes::Routes;
use anyhow::{Context as _, bail};

use crate::{Loaded, Probe, Scenario, ScenarioOptions};

/// The scenario's topology file, relative to the repository root.
pub const EXAMPLE: &str = "topology/examples/multicast.toml";
/// The same file, built in, so the demo runs from any directory.
pub const EXAMPLE_TOML: &str = include_str!("../../../examples/multicast.toml");
/// The name the built-in copy goes by (in errors, and as [`Loaded::file`]).
pub const BUILT_IN: &str = "multicast.toml (built in)";
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
/// Rows each section of the report's [table](crate::ScenarioReport::table) shows at most
/// (everything is in the JSON).
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

/// A multicast run: the emulator with the source application on [`SOURCE`] and a member on
/// every node of group [`MEMBERS`], shaped by a [`Plan`].
pub struct Multicast {
    emulator: Emulator,
    plan: Plan,
    source: (NodeId, Probe<SourceLog>),
    /// Members in node order: node, log.
    members: Vec<(NodeId, Probe<MemberLog>)>,
}

/// What happened in a multicast run: everything its [`Report`] is made from.
#[derive(Clone, Debug)]
pub struct Record {
    /// The network.
    pub topology: Topology,
    /// Its routes.
    pub routes: Routes,
    /// Seed.
    pub seed: u64,
    /// The plan.
    pub plan: Plan,
    /// The source's node.
    pub source: NodeId,
    /// What the source sent.
    pub source_log: SourceLog,
    /// Every member, in node order, with what it did and received.
    pub members: Vec<(NodeId, MemberLog)>,
    /// Loads of the protocol's code, in time order.
    pub code_loads: Vec<CodeLoad>,
    /// Capsules of the protocol on each link, per direction `[a → b, b → a]`.
    pub capsules_per_link: Vec<[u64; 2]>,
    /// Virtual time of one compilation.
    pub compile_delay: Duration,
    /// Virtual time covered.
    pub virtual_time: Timestamp,
    /// Events the emulator processed.
    pub events: u64,
}

impl Record {
    /// For each link, which direction moves away from the source: `Some(0)` for a → b,
    /// `Some(1)` for b → a, `None` if both ends are as far from it.
    pub fn downstream(&self) -> Vec<Option<usize>> {
        let hops = |n: NodeId| self.routes.ip_hops(self.source, n).unwrap_or(usize::MAX);
        self.topology
            .links
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
}

impl Multicast {
    /// Builds the run at virtual time zero (nothing has happened yet; the applications have
    /// registered the capsule on their nodes). `topology` needs a host or active node called
    /// [`SOURCE`] and a group [`MEMBERS`]; `seed` overrides the topology's.
    pub fn new(
        topology: &Topology,
        capsules: &CapsuleLocator,
        seed: Option<u64>,
        plan: Plan,
    ) -> anyhow::Result<Multicast> {
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
        let source_log = app.probe();
        emulator.add_app(source, Box::new(app))?;
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
            let log = app.probe();
            emulator.add_app(m, Box::new(app))?;
            member_apps.push((m, log));
        }
        Ok(Multicast {
            emulator,
            plan,
            source: (source, source_log),
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
        self.source.0
    }

    /// The members' nodes, in node order.
    pub fn members(&self) -> Vec<NodeId> {
        self.members.iter().map(|(m, _)| *m).collect()
    }

    /// The protocol's fingerprint (known once the applications started).
    pub fn fingerprint(&self) -> Option<Fingerprint> {
        self.emulator.fingerprint(CAPSULE)
    }

    /// What the member on `node` did and received.
    pub fn member_log(&self, node: NodeId) -> Option<MemberLog> {
        let (_, log) = self.members.iter().find(|(m, _)| *m == node)?;
        Some(log.snapshot())
    }

    /// What the source sent.
    pub fn source_log(&self) -> SourceLog {
        self.source.1.snapshot()
    }

    /// Multicast capsules on each link so far, per direction `[a → b, b → a]`.
    pub fn capsules_per_link(&self) -> Vec<[u64; 2]> {
        match self.fingerprint() {
            Some(fp) => self.emulator.traffic(Some(fp)).per_link,
            None => vec![[0; 2]; self.emulator.topology().links.len()],
        }
    }

    /// What happened so far (the run can go on after).
    pub fn record(&self) -> Record {
        let emu = &self.emulator;
        let fp = self.fingerprint();
        Record {
            topology: emu.topology().clone(),
            routes: emu.routes().clone(),
            seed: emu.seed(),
            plan: self.plan.clone(),
            source: self.source.0,
            source_log: self.source_log(),
            members: self
                .members
                .iter()
                .map(|(m, log)| (*m, log.snapshot()))
                .collect(),
            code_loads: emu
                .code_loads()
                .iter()
                .filter(|l| Some(l.fingerprint) == fp)
                .cloned()
                .collect(),
            capsules_per_link: self.capsules_per_link(),
            compile_delay: emu.compile_delay(),
            virtual_time: emu.now(),
            events: emu.events(),
        }
    }
}

impl Scenario for Multicast {
    type Plan = Plan;
    type Record = Record;
    type Report = Report;

    const EXAMPLE: &'static str = EXAMPLE;

    /// The file `options` name, else the example (the file if found, else the built-in copy,
    /// whose [`Loaded::file`] is [`BUILT_IN`]); fails, saying to run `make capsules`, if the
    /// multicast capsule is missing.
    fn load(options: &ScenarioOptions) -> anyhow::Result<Loaded> {
        let (topology, file) = load_topology(options)?;
        let capsules = locate_capsules(options, file.as_deref())?;
        Ok(Loaded {
            file: file.unwrap_or_else(|| PathBuf::from(BUILT_IN)),
            topology,
            capsules,
        })
    }

    fn build(loaded: Loaded, seed: Option<u64>, plan: Plan) -> anyhow::Result<Self> {
        Multicast::new(&loaded.topology, &loaded.capsules, seed, plan)
    }

    fn run(&mut self) -> anyhow::Result<Record> {
        self.emulator.run_until(Timestamp::ZERO + self.plan.end());
        Ok(self.record())
    }

    fn report(record: &Record) -> Report {
        build_report(record)
    }
}

/// The topology `options` name (else the scenario's example: the file if found, else the
/// built-in copy) and the file it came from, if any.
pub fn load_topology(options: &ScenarioOptions) -> anyhow::Result<(Topology, Option<PathBuf>)> {
    let path = options.file_or(EXAMPLE);
    if options.file.is_some() || path.is_file() {
        let t = ants_topology::file::load(&path)?;
        return Ok((t, Some(path)));
    }
    let t = ants_topology::file::parse(EXAMPLE_TOML, Path::new(BUILT_IN))?;
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
