//! `ants topo emulate`: runs a topology file in the in-process emulator and prints what
//! happened (tables, or the JSON report), optionally with a picture of the traffic.
//!
//! It only reads the file, builds the [`Emulator`], runs it and prints; the wall-clock times it
//! measures are printed apart from the report, which stays deterministic.

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::{Duration, Instant};

use ants_router::time::Timestamp;
use anyhow::Context as _;

use ants_emulator::{Emulator, EmulatorOptions};
use ants_topology::capsules::CapsuleLocator;
use ants_topology::routes::Routes;

/// How long a run without a duration may go on before it stops (virtual time).
pub const IDLE_LIMIT: Duration = Duration::from_secs(600);

/// Arguments of `ants topo emulate`.
#[derive(Debug, clap::Args)]
pub struct EmulateArgs {
    /// Topology file.
    pub file: PathBuf,
    /// Seed of the link losses (default: the file's `seed`).
    #[arg(long)]
    pub seed: Option<u64>,
    /// Virtual time to run, e.g. `2s` or `500ms` (default: the file's emulator duration, else
    /// until nothing is left to do, at most 600 s).
    #[arg(long = "for", value_name = "DURATION", value_parser = duration)]
    pub duration: Option<Duration>,
    /// Print the report as JSON (deterministic for a given file and seed) instead of tables.
    #[arg(long)]
    pub json: bool,
    /// Also write an SVG picture of the topology with the packets each link carried.
    #[arg(long, value_name = "PATH")]
    pub svg: Option<PathBuf>,
    /// Directory of the built capsules (default: `$ANTS_CAPSULES`, else
    /// `capsules/target/wasm32-unknown-unknown/release` found above the file or here).
    #[arg(long, value_name = "DIR")]
    pub capsules: Option<PathBuf>,
    /// Virtual time one compilation takes on a node (default: the file's, else 60ms, the
    /// measured Cranelift time for a ~13 KB capsule).
    #[arg(long, value_name = "DURATION", value_parser = duration)]
    pub compile_delay: Option<Duration>,
}

fn duration(text: &str) -> Result<Duration, String> {
    ants_topology::file::parse_duration(text).map_err(|e| e.to_string())
}

/// Runs the command.
pub fn run(args: EmulateArgs) -> anyhow::Result<ExitCode> {
    let topology = ants_topology::file::load(&args.file)?;
    let routes = Routes::compute(&topology);
    let locator = CapsuleLocator::new(args.capsules.as_deref(), Some(&args.file));
    let options = EmulatorOptions {
        seed: args.seed,
        compile_delay: args.compile_delay,
        ..EmulatorOptions::default()
    };

    let started = Instant::now();
    let mut emu = Emulator::new(&topology, &routes, &locator, options)
        .with_context(|| format!("cannot emulate {}", args.file.display()))?;
    let built = started.elapsed();
    let started = Instant::now();
    let went_idle = match args.duration.or(topology.emulator.duration) {
        Some(d) => {
            emu.run_until(Timestamp::ZERO + d);
            None
        }
        None => Some(emu.run_until_idle(Timestamp::ZERO + IDLE_LIMIT)),
    };
    let ran = started.elapsed();

    let report = emu.report();
    let events_per_s = emu.events() as f64 / ran.as_secs_f64().max(1e-9);
    let wall = format!(
        "wall time: build {:.1} ms, run {:.1} ms ({} events, {:.0} events/s)",
        built.as_secs_f64() * 1e3,
        ran.as_secs_f64() * 1e3,
        emu.events(),
        events_per_s
    );
    if args.json {
        println!("{}", serde_json::to_string_pretty(&report)?);
        eprintln!("{wall}");
    } else {
        print!("{}", report.table());
        if went_idle == Some(false) {
            println!(
                "\nstill busy after {} s of virtual time; choose how long to run with --for",
                IDLE_LIMIT.as_secs()
            );
        }
        println!("\n{wall}");
    }
    if let Some(path) = &args.svg {
        let traffic = emu.traffic(None);
        let picture = ants_topology::graph::svg(&topology, Some(&traffic));
        std::fs::write(path, picture)
            .with_context(|| format!("cannot write the picture to {}", path.display()))?;
        let note = format!("picture with the packets per link: {}", path.display());
        if args.json {
            eprintln!("{note}");
        } else {
            println!("{note}");
        }
    }
    Ok(ExitCode::SUCCESS)
}
