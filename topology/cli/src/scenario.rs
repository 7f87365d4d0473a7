//! `ants topo scenario NAME`: runs one shipped capsule's scenario in the emulator (or, for
//! `congestion`, with `--netns` on real daemons in network namespaces) and prints its tables (or
//! `--json`). It only runs and prints; the bars each scenario must meet are checked by its tests
//! (`topology/scenarios/tests/scenario_*.rs`, `topology/cli/tests/netns_congestion.rs`) and
//! shown in its tables.

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Instant;

use anyhow::bail;

use ants_scenarios::{
    Anycast, Congestion, Multicast, PrivateIp, ReliableMulticast, Scenario, ScenarioOptions,
    ScenarioReport,
};

use crate::scenario_netns::{self, NetnsOptions};

/// The scenarios, one per shipped capsule application.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum Name {
    /// Receiver-driven multicast: the tree, exactly-once delivery, copies vs unicast.
    Multicast,
    /// Reliable multicast with local repair under 10 % loss on every link.
    ReliableMulticast,
    /// Congestion notification over a bottleneck, against the same flow without it.
    Congestion,
    /// Anycast to the nearest live member, and the move when it leaves.
    Anycast,
    /// A private address space carried across a public network of legacy routers.
    PrivateIp,
}

/// Arguments of `ants topo scenario`.
#[derive(Debug, clap::Args)]
pub struct ScenarioArgs {
    /// Which scenario.
    #[arg(value_enum)]
    pub name: Name,
    /// Topology file (default: the scenario's own in topology/examples/).
    #[arg(long, value_name = "FILE")]
    pub file: Option<PathBuf>,
    /// Seed of the emulator (default: the topology file's).
    #[arg(long, value_name = "N")]
    pub seed: Option<u64>,
    /// Directory of the built capsules (default: `$ANTS_CAPSULES`, else
    /// `capsules/target/wasm32-unknown-unknown/release` found from here).
    #[arg(long, value_name = "DIR")]
    pub capsules: Option<PathBuf>,
    /// Print the report as JSON (deterministic for a seed) instead of tables.
    #[arg(long)]
    pub json: bool,
    /// Run on real `antsd` daemons in network namespaces, in real time, instead of the
    /// emulator (congestion only; needs root). Each run brings the topology up and down.
    #[arg(long)]
    pub netns: bool,
    /// With --netns: the namespace prefix [default: ants-scenario-<pid>].
    #[arg(long, requires = "netns")]
    pub prefix: Option<String>,
    /// With --netns: the `antsd` to run [default: the one next to this program, else on PATH].
    #[arg(long, value_name = "PATH", requires = "netns")]
    pub antsd: Option<PathBuf>,
}

/// Runs the command.
pub fn run(args: ScenarioArgs) -> anyhow::Result<ExitCode> {
    let options = ScenarioOptions {
        file: args.file,
        seed: args.seed,
        capsules: args.capsules,
    };
    let started = Instant::now();
    if args.netns {
        if args.name != Name::Congestion {
            bail!("only the congestion scenario runs in namespaces (--netns) so far");
        }
        let netns = NetnsOptions {
            prefix: args
                .prefix
                .unwrap_or_else(|| format!("ants-scenario-{}", std::process::id())),
            antsd: args.antsd,
        };
        let loaded = Congestion::load(&options)?;
        let record = scenario_netns::run_congestion(loaded, &Default::default(), &netns)?;
        show(&Congestion::report(&record), args.json)?;
        eprintln!("wall time {:.0} ms", started.elapsed().as_secs_f64() * 1e3);
        return Ok(ExitCode::SUCCESS);
    }
    match args.name {
        Name::Multicast => print::<Multicast>(&options, args.json)?,
        Name::ReliableMulticast => print::<ReliableMulticast>(&options, args.json)?,
        Name::Congestion => print::<Congestion>(&options, args.json)?,
        Name::Anycast => print::<Anycast>(&options, args.json)?,
        Name::PrivateIp => print::<PrivateIp>(&options, args.json)?,
    }
    eprintln!("wall time {:.0} ms", started.elapsed().as_secs_f64() * 1e3);
    Ok(ExitCode::SUCCESS)
}

/// Runs scenario `S` with its default plan on the network `options` name, and prints.
fn print<S: Scenario>(options: &ScenarioOptions, json: bool) -> anyhow::Result<()> {
    show(&S::run_default(options)?, json)
}

/// Prints `report` as tables or JSON.
fn show<R: ScenarioReport>(report: &R, json: bool) -> anyhow::Result<()> {
    if json {
        println!("{}", serde_json::to_string_pretty(report)?);
    } else {
        print!("{}", report.table());
    }
    Ok(())
}
