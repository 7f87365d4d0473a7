//! `ants topo emulate`.

use std::path::PathBuf;
use std::process::ExitCode;

/// Arguments of `ants topo emulate`.
#[derive(Debug, clap::Args)]
pub struct EmulateArgs {
    /// Topology file.
    pub file: PathBuf,
}

/// Runs the command.
pub fn run(args: EmulateArgs) -> anyhow::Result<ExitCode> {
    anyhow::bail!(
        "emulating {} is not available in this build",
        args.file.display()
    )
}
