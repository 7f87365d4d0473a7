//! `antsd`: the active node daemon.
//!
//! Reads a configuration file (`docs/daemon.md`), runs one active node on a UDP socket with an
//! application socket for local programs, and stops cleanly on SIGINT or SIGTERM, printing its
//! final counters. SIGHUP re-reads the file: a valid one is applied, an invalid one is logged
//! and the running configuration kept. `--check` only validates the file and its pinned
//! modules. Errors are reported here, at the edge; the library never exits the process.
//!
//! Under a service manager (`$NOTIFY_SOCKET`, see `examples/systemd/antsd@.service`) it says
//! when it is ready, reloading and stopping, and pings the watchdog (`$WATCHDOG_USEC`).

use std::io::IsTerminal as _;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Duration;

use anyhow::Context as _;
use clap::Parser;
use tokio::signal::unix::{SignalKind, signal};
use tokio::sync::mpsc;

use ants_daemon::app::text::counters_text;
use ants_daemon::config::{Config, ConfigError};
use ants_daemon::driver::{Control, Driver, Summary};
use ants_daemon::notify::Notifier;

/// Active-network capsule router daemon.
#[derive(Parser)]
#[command(name = "antsd", version, about)]
struct Args {
    /// The configuration file (TOML; see docs/daemon.md).
    #[arg(short, long, value_name = "FILE")]
    config: PathBuf,
    /// Validate the configuration and its pinned modules, print a one-line verdict and exit
    /// (status 0 when valid, 1 when not).
    #[arg(long)]
    check: bool,
    /// More log output: -v debug, -vv trace. `RUST_LOG` overrides it.
    #[arg(short, long, action = clap::ArgAction::Count)]
    verbose: u8,
}

fn main() -> ExitCode {
    let args = Args::parse();
    if args.check {
        return check(&args.config);
    }
    init_tracing(args.verbose);
    match run(&args.config) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("antsd: {e:#}");
            ExitCode::FAILURE
        }
    }
}

/// Loads the file and validates its pinned modules.
fn load(path: &Path) -> Result<Config, ConfigError> {
    let config = Config::load(path)?;
    config.check_modules()?;
    Ok(config)
}

fn check(path: &Path) -> ExitCode {
    match load(path) {
        Ok(c) => {
            println!(
                "{}: ok: node {}, {} neighbours, {} routes, {} pinned modules",
                path.display(),
                c.address,
                c.neighbours.len(),
                c.routes.len(),
                c.pins.len()
            );
            ExitCode::SUCCESS
        }
        Err(e) => {
            println!("{e}");
            ExitCode::FAILURE
        }
    }
}

fn init_tracing(verbose: u8) {
    let default = match verbose {
        0 => "info",
        1 => "debug",
        _ => "trace",
    };
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(default));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        // Colour codes only for a terminal, not in log files and journals.
        .with_ansi(std::io::stderr().is_terminal())
        .init();
}

fn run(path: &Path) -> anyhow::Result<()> {
    let config = load(path)?;
    // One thread runs the node; compilation goes to tokio's blocking pool.
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    let notify = Notifier::from_env();
    let summary = runtime.block_on(async {
        let mut driver = Driver::new(config)?;
        driver.set_notifier(notify.clone());
        let (control, controls) = mpsc::channel(4);
        let signals = signals(path.to_path_buf(), control, notify)?;
        let summary = driver.run(controls).await;
        signals.abort();
        anyhow::Ok(summary)
    })?;
    // Compilations still running are not waited for.
    runtime.shutdown_timeout(Duration::from_millis(500));
    print_summary(&summary);
    Ok(())
}

/// Turns SIGINT and SIGTERM into a shutdown and SIGHUP into a reload.
fn signals(
    path: PathBuf,
    control: mpsc::Sender<Control>,
    notify: Notifier,
) -> anyhow::Result<tokio::task::JoinHandle<()>> {
    let mut hup = signal(SignalKind::hangup()).context("cannot handle SIGHUP")?;
    let mut int = signal(SignalKind::interrupt()).context("cannot handle SIGINT")?;
    let mut term = signal(SignalKind::terminate()).context("cannot handle SIGTERM")?;
    Ok(tokio::spawn(async move {
        loop {
            tokio::select! {
                _ = hup.recv() => {
                    tracing::info!(file = %path.display(), "SIGHUP: reloading the configuration");
                    // The driver says READY=1 again once it has applied the new file.
                    notify.reloading();
                    let p = path.clone();
                    // Reading and validating modules is blocking work: keep it off the node's
                    // thread.
                    match tokio::task::spawn_blocking(move || load(&p)).await {
                        Ok(Ok(config)) => {
                            let _ = control.send(Control::Reload(Box::new(config))).await;
                        }
                        Ok(Err(e)) => {
                            tracing::error!(
                                "reload refused, the running configuration stays in force: {e}"
                            );
                            notify.ready();
                        }
                        Err(e) => {
                            tracing::error!("reload failed: {e}");
                            notify.ready();
                        }
                    }
                }
                _ = int.recv() => {
                    tracing::info!("SIGINT: stopping");
                    break;
                }
                _ = term.recv() => {
                    tracing::info!("SIGTERM: stopping");
                    break;
                }
            }
        }
        let _ = control.send(Control::Shutdown).await;
    }))
}

fn print_summary(summary: &Summary) {
    let node = serde_json::to_value(&summary.node).unwrap_or_default();
    let driver = serde_json::to_value(&summary.driver).unwrap_or_default();
    println!("antsd stopped; final counters:");
    print!("{}", counters_text(&node, &driver));
}
