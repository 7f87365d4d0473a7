//! Application scenarios: a topology file from `topology/examples/` plus the Rust applications
//! that drive one shipped capsule in the emulator, and the numbers that show whether it works.
//!
//! Owns, per capsule application, the scripted source/receiver/member applications (built on
//! [`crate::emulator::Application`]), the run, and a [`ScenarioReport`] (tables a person reads,
//! JSON for scripts). Scenarios only use the emulator's public API and the capsules' public
//! payload types; they never reach into a node core's internals.

use std::path::{Path, PathBuf};

use serde::Serialize;

/// Options every scenario takes.
#[derive(Clone, Debug, Default)]
pub struct ScenarioOptions {
    /// The topology file; `None` takes the scenario's own example.
    pub file: Option<PathBuf>,
    /// Emulator seed; `None` takes the file's.
    pub seed: Option<u64>,
    /// Capsule directory; `None` searches as [`crate::capsules::CapsuleLocator`] does.
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
