//! Application scenarios: a topology file from `topology/examples/` plus the Rust applications
//! that drive one shipped capsule in the emulator, and the numbers that show whether it works.
//!
//! Owns the [`Scenario`] trait every scenario implements, in three steps: build (from a
//! topology file, [`ScenarioOptions::load`], and a plan), run to a *record* (plain data of what
//! happened), and report from the record (a [`ScenarioReport`]: tables a person reads, JSON for
//! scripts). Per capsule application, one folder module holds the scripted
//! source/receiver/member applications (built on [`ants_emulator::Application`], each writing
//! its log through a [`Probe`] the scenario reads), the run, and the report. The tables of every
//! report are built with [`Table`]; times in reports are [`ms`].
//!
//! Scenarios only use the emulator's public API and the capsules' public payload types; they
//! never reach into a node core's internals, and never read a clock (a record, and so a
//! report, is the same for the same network, seed and plan).

use std::path::{Path, PathBuf};

use serde::Serialize;

use ants_topology::capsules::CapsuleLocator;
use ants_topology::model::Topology;

/// Options every scenario takes.
#[derive(Clone, Debug, Default)]
pub struct ScenarioOptions {
    /// The topology file; `None` takes the scenario's own example.
    pub file: Option<PathBuf>,
    /// Emulator seed; `None` takes the file's.
    pub seed: Option<u64>,
    /// Capsule directory; `None` searches as [`ants_topology::capsules::CapsuleLocator`] does.
    pub capsules: Option<PathBuf>,
}

impl ScenarioOptions {
    /// The topology file to run: the one given, else `default` (a path relative to the
    /// repository root, found by walking up from the current directory and from this
    /// executable).
    pub fn file_or(&self, default: &str) -> PathBuf {
        if let Some(f) = &self.file {
            return f.clone();
        }
        let starts = [
            std::env::current_dir().ok(),
            std::env::current_exe()
                .ok()
                .and_then(|e| e.parent().map(Path::to_path_buf)),
        ];
        starts
            .into_iter()
            .flatten()
            .flat_map(|s| s.ancestors().map(|d| d.join(default)).collect::<Vec<_>>())
            .find(|p| p.is_file())
            .unwrap_or_else(|| PathBuf::from(default))
    }
}

/// A scenario's network, read from a file, with the capsule lookup for that file.
#[derive(Debug)]
pub struct Loaded {
    /// The file that was read.
    pub file: PathBuf,
    /// The network it describes.
    pub topology: Topology,
    /// Where its capsules are found (explicit directory, else searched from the file).
    pub capsules: CapsuleLocator,
}

impl ScenarioOptions {
    /// Reads the topology file these options name (else `example`, see
    /// [`ScenarioOptions::file_or`]) and sets up the capsule lookup for it.
    pub fn load(&self, example: &str) -> anyhow::Result<Loaded> {
        let file = self.file_or(example);
        let topology = ants_topology::file::load(&file)?;
        let capsules = CapsuleLocator::new(self.capsules.as_deref(), Some(&file));
        Ok(Loaded {
            file,
            topology,
            capsules,
        })
    }
}

/// What every scenario's result offers.
pub trait ScenarioReport: Serialize {
    /// Compact text tables for a person.
    fn table(&self) -> String;
}

/// One application scenario: built from a network and a plan, run to a record of what
/// happened, reported from that record.
///
/// [`Scenario::run_with`] does all three for the network [`ScenarioOptions`] name; the steps
/// are apart so a caller can read the record, or the scenario itself, between them.
pub trait Scenario: Sized {
    /// What a run does (timing, sizes, who leaves); `Default` is the scenario's standard run.
    type Plan: Default;
    /// Plain data of what happened in a run: everything the report is made from.
    type Record;
    /// What a person (tables) or a script (JSON) reads.
    type Report: ScenarioReport;

    /// The scenario's topology file, relative to the repository root.
    const EXAMPLE: &'static str;

    /// Reads the network `options` name (else [`Scenario::EXAMPLE`]).
    fn load(options: &ScenarioOptions) -> anyhow::Result<Loaded> {
        options.load(Self::EXAMPLE)
    }

    /// Builds a run of `plan` on `loaded` at virtual time zero; `seed` overrides the file's.
    /// Refuses networks and plans it cannot run, saying why.
    fn build(loaded: Loaded, seed: Option<u64>, plan: Self::Plan) -> anyhow::Result<Self>;

    /// Runs to the end of the plan and records what happened.
    fn run(&mut self) -> anyhow::Result<Self::Record>;

    /// The report of a record.
    fn report(record: &Self::Record) -> Self::Report;

    /// Runs to the end and reports.
    fn run_to_report(&mut self) -> anyhow::Result<Self::Report> {
        let record = self.run()?;
        Ok(Self::report(&record))
    }

    /// Loads the network `options` name, builds `plan` on it, runs and reports.
    fn run_with(options: &ScenarioOptions, plan: Self::Plan) -> anyhow::Result<Self::Report> {
        let loaded = Self::load(options)?;
        Self::build(loaded, options.seed, plan)?.run_to_report()
    }

    /// [`Scenario::run_with`] the default plan.
    fn run_default(options: &ScenarioOptions) -> anyhow::Result<Self::Report> {
        Self::run_with(options, Self::Plan::default())
    }
}

pub mod anycast;
pub mod congestion;
pub mod multicast;
pub mod private_ip;
pub mod reliable_multicast;

mod app;
mod compared;
mod probe;
mod table;

pub use anycast::Anycast;
pub use compared::Compared;
pub use congestion::Congestion;
pub use multicast::Multicast;
pub use private_ip::PrivateIp;
pub use probe::Probe;
pub use reliable_multicast::ReliableMulticast;
pub use table::{Nanos, Table, ms};
