//! `ants topo emulate`: runs a topology file in the in-process emulator and prints what
//! happened (tables, or the JSON report), optionally with a picture of the traffic and one pcap
//! file per link (`--pcap DIR`, `docs/wireshark.md`).
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
    /// Also write one pcap file per link into DIR (`a1--l1.pcap`): every datagram the link
    /// carried, as IPv4/UDP on port 3322 with virtual timestamps (docs/wireshark.md).
    #[arg(long, value_name = "DIR")]
    pub pcap: Option<PathBuf>,
    /// Bound on the bytes of all pcap files together, e.g. `64MiB` (the default), `500KiB`
    /// or a number of bytes; the capture stops when it is reached, and says so.
    #[arg(long, value_name = "SIZE", value_parser = byte_size, default_value = "64MiB")]
    pub pcap_limit: u64,
}

/// Parses a size: a whole number of bytes, optionally followed by `B`, `KiB`, `MiB` or `GiB`.
pub fn byte_size(text: &str) -> Result<u64, String> {
    let t = text.trim();
    let digits = t.find(|c: char| !c.is_ascii_digit()).unwrap_or(t.len());
    let (number, unit) = t.split_at(digits);
    let scale: u64 = match unit.trim() {
        "" | "B" => 1,
        "KiB" => 1 << 10,
        "MiB" => 1 << 20,
        "GiB" => 1 << 30,
        _ => {
            return Err(format!(
                "\"{text}\" is not a size: write a number of bytes, or a number with KiB, MiB or GiB (\"64MiB\")"
            ));
        }
    };
    let n: u64 = number.parse().map_err(|_| {
        format!("\"{text}\" is not a size: it must start with a whole number (\"64MiB\")")
    })?;
    n.checked_mul(scale)
        .ok_or_else(|| format!("\"{text}\" is too large a size"))
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
    if args.pcap.is_some() {
        emu.record_pcap(args.pcap_limit);
    }
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
    if let Some(dir) = &args.pcap {
        write_pcaps(&mut emu, dir, args.json)?;
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

/// Writes the run's pcap files into `dir` and says what was written (on standard error with
/// `--json`, so the report stays alone on standard output).
fn write_pcaps(emu: &mut Emulator, dir: &std::path::Path, json: bool) -> anyhow::Result<()> {
    let Some(capture) = emu.take_pcap() else {
        return Ok(());
    };
    let limit_message = capture.limit_message();
    let too_long = capture.too_long();
    let files = capture.into_files();
    ants_emulator::pcap::write_files(dir, &files)?;
    let mut lines = vec![format!(
        "pcap files in {} (raw IPv4/UDP, port {}):",
        dir.display(),
        ants_emulator::CAPSULE_PORT
    )];
    for f in &files {
        lines.push(format!(
            "  {}: {} datagrams, {} bytes",
            f.file_name,
            f.packets,
            f.bytes.len()
        ));
    }
    if too_long > 0 {
        lines.push(format!(
            "  {too_long} datagrams longer than an IPv4 datagram can be were not written"
        ));
    }
    if let Some(message) = limit_message {
        lines.push(format!("{message} (--pcap-limit SIZE)"));
    }
    for line in lines {
        if json {
            eprintln!("{line}");
        } else {
            println!("{line}");
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::byte_size;

    #[test]
    fn sizes() {
        assert_eq!(byte_size("4096"), Ok(4096));
        assert_eq!(byte_size("500KiB"), Ok(500 * 1024));
        assert_eq!(byte_size("64MiB"), Ok(64 << 20));
        assert_eq!(byte_size("1GiB"), Ok(1 << 30));
        assert!(byte_size("64MB").unwrap_err().contains("KiB, MiB or GiB"));
        assert!(byte_size("MiB").unwrap_err().contains("whole number"));
        assert!(
            byte_size("99999999999GiB")
                .unwrap_err()
                .contains("too large")
        );
    }
}
