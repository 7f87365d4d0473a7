//! `ants topo demo` (behind `make demo`): runs the multicast scenario
//! ([`ants_scenarios::multicast`]) and tells what happened in a minute's reading: the
//! network, the code loading hop by hop, each receiver's deliveries, link copies versus
//! unicast fan-out, and a picture of the tree.
//!
//! It only runs the scenario, prints, and writes the picture; the wall-clock time it measures
//! is printed apart from the report, which stays deterministic for a seed.

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Instant;

use anyhow::Context as _;

use ants_scenarios::multicast::{self, BUILT_IN, Multicast, Plan};
use ants_scenarios::{Scenario, ScenarioOptions, ScenarioReport};

/// Where the picture goes unless `--svg` says otherwise (relative to the current directory).
pub const DEFAULT_SVG: &str = "target/demo/multicast-tree.svg";

/// Arguments of `ants topo demo`.
#[derive(Debug, clap::Args)]
pub struct DemoArgs {
    /// Print the whole report as JSON (deterministic for a seed) instead of the story.
    #[arg(long)]
    pub json: bool,
    /// Write the picture of the topology and the multicast tree here.
    #[arg(long, value_name = "PATH", default_value = DEFAULT_SVG)]
    pub svg: PathBuf,
    /// Seed of the emulator (default: the topology file's).
    #[arg(long, value_name = "N")]
    pub seed: Option<u64>,
    /// Directory of the built capsules (default: `$ANTS_CAPSULES`, else
    /// `capsules/target/wasm32-unknown-unknown/release` found from here).
    #[arg(long, value_name = "DIR")]
    pub capsules: Option<PathBuf>,
    /// Topology file with a host `src` and a group `members` (default:
    /// topology/examples/multicast.toml).
    #[arg(long, value_name = "FILE")]
    pub file: Option<PathBuf>,
}

/// Runs the demo. Fails (non-zero exit) if any member missed or duplicated a packet.
pub fn run(args: DemoArgs) -> anyhow::Result<ExitCode> {
    let options = ScenarioOptions {
        file: args.file,
        seed: args.seed,
        capsules: args.capsules,
    };
    let loaded = Multicast::load(&options)?;
    let from = if loaded.file == Path::new(BUILT_IN) {
        "the built-in copy of topology/examples/multicast.toml".to_string()
    } else {
        loaded.file.display().to_string()
    };

    let started = Instant::now();
    let mut scenario = Multicast::build(loaded, options.seed, Plan::default())?;
    let record = scenario.run()?;
    let wall = started.elapsed();
    let report = Multicast::report(&record);

    write_picture(&args.svg, &record.topology, &report)?;
    let notes = format!(
        "picture of the topology and the multicast tree: {}\n\
         topology: {from}; wall time {:.0} ms for {:.0} ms of virtual time ({} events)",
        args.svg.display(),
        wall.as_secs_f64() * 1e3,
        report.virtual_time_ms,
        report.events
    );
    if args.json {
        println!("{}", serde_json::to_string_pretty(&report)?);
        eprintln!("{notes}");
    } else {
        print!("{}", report.table());
        println!("\n{notes}");
    }
    if report.exactly_once {
        Ok(ExitCode::SUCCESS)
    } else {
        eprintln!("error: not every member got every packet exactly once (see the receivers)");
        Ok(ExitCode::FAILURE)
    }
}

fn write_picture(
    path: &Path,
    topology: &ants_topology::Topology,
    report: &multicast::Report,
) -> anyhow::Result<()> {
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir)
            .with_context(|| format!("cannot create the directory {}", dir.display()))?;
    }
    let picture = ants_topology::graph::svg(topology, Some(&report.traffic()));
    std::fs::write(path, picture)
        .with_context(|| format!("cannot write the picture to {}", path.display()))
}
