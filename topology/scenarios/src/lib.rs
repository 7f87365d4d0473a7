//! Application scenarios: a topology file from `topology/examples/` plus the Rust applications
//! that drive one shipped capsule in the emulator, and the numbers that show whether it works.
//!
//! Owns, per capsule application, the scripted source/receiver/member applications (built on
//! [`ants_emulator::Application`]), the run, and a [`ScenarioReport`] (tables a person reads,
//! JSON for scripts). Scenarios only use the emulator's public API and the capsules' public
//! payload types; they never reach into a node core's internals.

use std::path::{Path, PathBuf};

use serde::Serialize;
use serde::de::DeserializeOwned;

use ants_emulator::{AppId, Emulator};
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

/// The typed log of a scenario application, read back from the JSON report
/// ([`ants_emulator::Application::report`]) the emulator keeps for it.
pub trait AppLog: DeserializeOwned {
    /// The log of application `app` of `emu`; `None` if `app` is not an application of this
    /// kind.
    fn of(emu: &Emulator, app: AppId) -> Option<Self> {
        serde_json::from_value(emu.app_report(app)?).ok()
    }
}

/// What every scenario's result offers.
pub trait ScenarioReport: Serialize {
    /// Compact text tables for a person.
    fn table(&self) -> String;
}

pub mod anycast;
pub mod congestion;
pub mod multicast;
pub mod private_ip;
pub mod reliable_multicast;
