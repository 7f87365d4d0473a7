//! `ants topo graph`: draws a topology file as Graphviz dot, SVG or Mermaid, without running
//! anything. It reads only the topology file and writes only the picture.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context as _;

use ants_topology::file;
use ants_topology::graph::Format;

/// Arguments of `ants topo graph`.
#[derive(Debug, clap::Args)]
pub struct GraphArgs {
    /// Topology file.
    pub file: PathBuf,
    /// Output format; default: from the extension of `-o` (.dot/.gv, .svg, .mmd), else dot.
    #[arg(long, short = 'f', value_enum)]
    pub format: Option<Format>,
    /// Write the picture to this file (and print its path) instead of standard output.
    #[arg(long, short = 'o')]
    pub output: Option<PathBuf>,
}

/// Runs the command.
pub fn run(args: GraphArgs) -> anyhow::Result<ExitCode> {
    let topo = file::load(&args.file)?;
    let format = args
        .format
        .or_else(|| args.output.as_deref().and_then(Format::from_path))
        .unwrap_or(Format::Dot);
    let picture = format.render(&topo, None);
    match args.output {
        Some(path) => {
            std::fs::write(&path, picture)
                .with_context(|| format!("cannot write {}", path.display()))?;
            println!("{}", path.display());
        }
        None => {
            use std::io::Write as _;
            let mut stdout = std::io::stdout().lock();
            // A closed pipe (`| head`) is not an error worth a message.
            if let Err(e) = stdout
                .write_all(picture.as_bytes())
                .and_then(|()| stdout.flush())
                && e.kind() != std::io::ErrorKind::BrokenPipe
            {
                return Err(e).context("cannot write to standard output");
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}
