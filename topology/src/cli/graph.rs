//! `ants topo graph`.

use std::path::PathBuf;
use std::process::ExitCode;

/// Arguments of `ants topo graph`.
#[derive(Debug, clap::Args)]
pub struct GraphArgs {
    /// Topology file.
    pub file: PathBuf,
}

/// Runs the command.
pub fn run(args: GraphArgs) -> anyhow::Result<ExitCode> {
    anyhow::bail!(
        "drawing {} is not available in this build",
        args.file.display()
    )
}
