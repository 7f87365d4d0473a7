//! `ants topo up`, `down`, `exec` and `status`.

use std::path::PathBuf;
use std::process::ExitCode;

/// Arguments of `ants topo up`.
#[derive(Debug, clap::Args)]
pub struct UpArgs {
    /// Topology file.
    pub file: PathBuf,
}
/// Arguments of `ants topo down`.
#[derive(Debug, clap::Args)]
pub struct DownArgs {
    /// Topology file.
    pub file: PathBuf,
}
/// Arguments of `ants topo exec`.
#[derive(Debug, clap::Args)]
pub struct ExecArgs {
    /// Node name.
    pub node: String,
}
/// Arguments of `ants topo status`.
#[derive(Debug, clap::Args)]
pub struct StatusArgs {
    /// Topology file.
    pub file: PathBuf,
}

/// `up`.
pub fn up(_: UpArgs) -> anyhow::Result<ExitCode> {
    anyhow::bail!("namespaces are not available in this build")
}
/// `down`.
pub fn down(_: DownArgs) -> anyhow::Result<ExitCode> {
    anyhow::bail!("namespaces are not available in this build")
}
/// `exec`.
pub fn exec(_: ExecArgs) -> anyhow::Result<ExitCode> {
    anyhow::bail!("namespaces are not available in this build")
}
/// `status`.
pub fn status(_: StatusArgs) -> anyhow::Result<ExitCode> {
    anyhow::bail!("namespaces are not available in this build")
}
