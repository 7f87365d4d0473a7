//! `ants topo up`, `down`, `exec` and `status`: a topology in Linux network namespaces.
//!
//! Owns the arguments of these commands, how they find a topology's prefix and state directory,
//! and what they print. The work itself is [`ants_netns`]'s; this module never runs `ip` or
//! touches processes on its own.
//!
//! `status` and what it prints live in `status`.

mod status;
#[cfg(test)]
mod tests;

use std::ffi::OsString;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Duration;

use anyhow::{Context as _, bail};

use ants_netns::apply::{self, Progress, UpOptions};
use ants_netns::plan::{self, Plan};
use ants_netns::{STATE_ROOT, State};
use ants_topology::capsules::CapsuleLocator;
use ants_topology::model::{AppSpec, NodeId, Target, Topology};
use ants_topology::routes::Routes;

pub use status::{router_summary, status};

/// Arguments of `ants topo up`.
#[derive(Debug, clap::Args)]
pub struct UpArgs {
    /// Topology file.
    pub file: PathBuf,
    /// Namespace prefix: namespaces are named `<prefix>-<node>` [default: ants-<topology name>].
    #[arg(long)]
    pub prefix: Option<String>,
    /// The `antsd` to run [default: the one next to this program, else the first on PATH].
    #[arg(long, value_name = "PATH")]
    pub antsd: Option<PathBuf>,
    /// Where the state record, daemon configurations, sockets and logs go
    /// [default: /run/ants-topo/<prefix>].
    #[arg(long, value_name = "DIR")]
    pub state_dir: Option<PathBuf>,
    /// Seconds all daemons together get to open their sockets [default: 15 + 0.1 per daemon].
    #[arg(long, value_name = "SECS")]
    pub ready_timeout: Option<f64>,
}

/// Arguments of `ants topo down`.
#[derive(Debug, clap::Args)]
pub struct DownArgs {
    /// Topology file (gives the prefix and the namespace names).
    #[arg(required_unless_present_any = ["prefix", "state_dir"])]
    pub file: Option<PathBuf>,
    /// Namespace prefix, if `up` was given one.
    #[arg(long)]
    pub prefix: Option<String>,
    /// State directory, if `up` was given one.
    #[arg(long, value_name = "DIR")]
    pub state_dir: Option<PathBuf>,
}

/// Arguments of `ants topo exec`.
#[derive(Debug, clap::Args)]
pub struct ExecArgs {
    /// Namespace prefix of the topology (optional when only one topology is up).
    #[arg(long, conflicts_with = "file")]
    pub prefix: Option<String>,
    /// Topology file (instead of --prefix).
    #[arg(long)]
    pub file: Option<PathBuf>,
    /// State directory, if `up` was given one.
    #[arg(long, value_name = "DIR")]
    pub state_dir: Option<PathBuf>,
    /// Node name.
    pub node: String,
    /// The command and its arguments, after `--`.
    #[arg(last = true, required = true, value_name = "CMD")]
    pub command: Vec<OsString>,
}

/// Arguments of `ants topo status`.
#[derive(Debug, clap::Args)]
pub struct StatusArgs {
    /// Topology file (optional when only one topology is up).
    pub file: Option<PathBuf>,
    /// Namespace prefix, if `up` was given one.
    #[arg(long)]
    pub prefix: Option<String>,
    /// State directory, if `up` was given one.
    #[arg(long, value_name = "DIR")]
    pub state_dir: Option<PathBuf>,
    /// Print a JSON document instead.
    #[arg(long)]
    pub json: bool,
}

fn load_topology(file: &Path) -> anyhow::Result<Topology> {
    Ok(ants_topology::file::load(file)?)
}

/// The state directory: `given` made absolute, else the prefix's default.
fn state_dir_of(given: Option<&Path>, prefix: &str) -> anyhow::Result<PathBuf> {
    match given {
        Some(d) => {
            std::path::absolute(d).with_context(|| format!("state directory {}", d.display()))
        }
        None => Ok(plan::default_state_dir(prefix)),
    }
}

/// `up`.
pub fn up(args: UpArgs) -> anyhow::Result<ExitCode> {
    apply::require_root("up")?;
    let topology = load_topology(&args.file)?;
    let prefix = args
        .prefix
        .clone()
        .unwrap_or_else(|| plan::default_prefix(&topology.name));
    plan::check_prefix(&prefix)?;
    let state_dir = state_dir_of(args.state_dir.as_deref(), &prefix)?;
    let routes = Routes::compute(&topology);
    let plan = Plan::new(&topology, &routes, &prefix, &state_dir)?;
    let antsd = if plan.daemons().next().is_some() {
        apply::find_antsd(args.antsd.as_deref())?
    } else {
        PathBuf::from("antsd")
    };
    for notice in plan.notices() {
        eprintln!("warning: {notice}");
    }
    let selector = exec_selector(
        &plan.prefix,
        args.prefix.is_some(),
        args.state_dir.is_some(),
        &plan.state_dir,
    );
    let apps = app_commands(&topology, &args.file, &selector);
    if !apps.is_empty() {
        eprintln!(
            "note: the file's applications are scripted for the emulator and are not started in namespaces; run them by hand:"
        );
        for a in &apps {
            eprintln!("  {a}");
        }
    }
    if !topology.events.is_empty() {
        eprintln!(
            "note: the file's {} scripted event(s) run in the emulator only; in namespaces, stop a daemon with `kill` or a link with `ip link set DEV down` inside its namespace (`ants topo exec`)",
            topology.events.len()
        );
    }
    let daemons = plan.daemons().count();
    let ready_timeout = match args.ready_timeout {
        Some(s) if s.is_finite() && s > 0.0 => Duration::from_secs_f64(s.min(3600.0)),
        Some(s) => bail!("--ready-timeout {s} must be a positive number of seconds"),
        None => Duration::from_millis(15_000 + 100 * daemons as u64).min(Duration::from_secs(300)),
    };
    let options = UpOptions {
        antsd,
        file: std::path::absolute(&args.file).ok(),
        ready_timeout,
    };
    let report = apply::up(&plan, &options, &mut Progress::stderr())?;
    for notice in &report.notices {
        eprintln!("warning: {notice}");
    }

    let mut out = String::new();
    let _ = writeln!(
        out,
        "topology `{}` is up in {:.1} s: {} namespaces ({}-*), {} links, {} antsd",
        plan.topology,
        report.elapsed.as_secs_f64(),
        plan.nodes.len(),
        plan.prefix,
        plan.links.len(),
        daemons
    );
    let width = plan
        .nodes
        .iter()
        .map(|n| n.name.len())
        .max()
        .unwrap_or(4)
        .max(4);
    let ns_width = plan
        .nodes
        .iter()
        .map(|n| n.namespace.len())
        .max()
        .unwrap_or(9)
        .max(9);
    let _ = writeln!(
        out,
        "  {:<width$}  {:<6}  {:<ns_width$}  {:<15}  antsd",
        "node", "kind", "namespace", "address"
    );
    for n in &plan.nodes {
        let pid = report
            .state
            .daemon(&n.name)
            .map_or_else(|| "-".to_string(), |d| format!("pid {}", d.pid));
        let _ = writeln!(
            out,
            "  {:<width$}  {:<6}  {:<ns_width$}  {:<15}  {pid}",
            n.name,
            n.kind.name(),
            n.namespace,
            n.address.to_string()
        );
    }
    let _ = writeln!(out, "state and logs: {}", plan.state_dir.display());
    let mut cores = plan.daemons().map(|(n, _)| n);
    if let (Some(a), Some(b)) = (cores.next(), cores.last()) {
        let _ = writeln!(
            out,
            "try:  ants topo exec{} {} -- ants ping {}",
            selector, a.name, b.address
        );
    }
    let _ = writeln!(
        out,
        "stop: ants topo down {}{}",
        args.file.display(),
        selector
    );
    print!("{out}");
    Ok(ExitCode::SUCCESS)
}

/// For each scripted application of the file, the command that does the same by hand
/// (`selector`: the options of `ants topo exec` that name this topology, if any).
pub fn app_commands(topology: &Topology, file: &Path, selector: &str) -> Vec<String> {
    let locator = CapsuleLocator::new(None, Some(file));
    let name = |n: NodeId| topology.nodes[n].name.as_str();
    let addr = |n: NodeId| topology.nodes[n].address;
    let mut out = Vec::new();
    for app in &topology.apps {
        match app {
            AppSpec::Ping {
                node,
                to,
                count,
                interval,
                ..
            } => out.push(format!(
                "ants topo exec{selector} {} -- ants ping {} -c {count} --interval {}",
                name(*node),
                addr(*to),
                interval.as_secs_f64()
            )),
            AppSpec::Send {
                node,
                protocol,
                to,
                count,
                budget,
                payload,
                ..
            } => {
                let module = locator
                    .path(protocol)
                    .map_or_else(|_| format!("{protocol}.wasm"), |p| p.display().to_string());
                let payload = match std::str::from_utf8(payload) {
                    Ok(t) if !t.is_empty() && !t.contains(['\'', '\\']) => format!("'{t}'"),
                    _ => format!("--hex '{}'", hex_string(payload)),
                };
                let targets: Vec<NodeId> = match to {
                    Target::Node(n) => vec![*n],
                    Target::Group(g) => topology.groups.get(g).cloned().unwrap_or_default(),
                };
                for t in targets
                    .into_iter()
                    .filter(|&t| topology.nodes[t].kind.runs_node_core())
                {
                    out.push(format!(
                        "ants topo exec{selector} {} -- ants send --module {module} --to {} --budget {budget} {payload}{}",
                        name(*node),
                        addr(t),
                        if *count > 1 {
                            format!("   ({count} times)")
                        } else {
                            String::new()
                        }
                    ));
                }
            }
            AppSpec::Listen { node, port } => out.push(format!(
                "ants topo exec{selector} {} -- ants listen --port {port}",
                name(*node)
            )),
        }
    }
    out
}

fn hex_string(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// The options that name this topology again in later commands.
fn exec_selector(prefix: &str, custom_prefix: bool, custom_dir: bool, dir: &Path) -> String {
    let mut s = String::new();
    if custom_prefix {
        s += &format!(" --prefix {prefix}");
    }
    if custom_dir {
        s += &format!(" --state-dir {}", dir.display());
    }
    s
}

/// `down`.
pub fn down(args: DownArgs) -> anyhow::Result<ExitCode> {
    apply::require_root("down")?;
    let topology = match &args.file {
        Some(f) => match load_topology(f) {
            Ok(t) => Some(t),
            // The file is only needed for the prefix and names: go on with the given prefix.
            Err(e) if args.prefix.is_some() || args.state_dir.is_some() => {
                eprintln!("warning: {e:#}; going on with the prefix and state directory given");
                None
            }
            Err(e) => return Err(e),
        },
        None => None,
    };
    let given_dir = args
        .state_dir
        .as_deref()
        .map(std::path::absolute)
        .transpose()?;
    let from_dir = match &given_dir {
        Some(d) => State::load(d)?,
        None => None,
    };
    let prefix = match (&args.prefix, &from_dir, &topology) {
        (Some(p), _, _) => p.clone(),
        (None, Some(s), _) => s.prefix.clone(),
        (None, None, Some(t)) => plan::default_prefix(&t.name),
        (None, None, None) => bail!(
            "no state record in {} and no topology file: give the file or --prefix",
            given_dir
                .as_deref()
                .unwrap_or(Path::new(STATE_ROOT))
                .display()
        ),
    };
    plan::check_prefix(&prefix)?;
    let state_dir = match given_dir {
        Some(d) => d,
        None => plan::default_state_dir(&prefix),
    };
    let state = match from_dir {
        Some(s) => Some(s),
        None => State::load(&state_dir)?,
    };
    // Without a record, the namespaces named after the topology's nodes or the prefix.
    let extra: Vec<String> = match &state {
        Some(_) => Vec::new(),
        None => {
            let mut names = apply::orphan_namespaces(&prefix, Path::new(STATE_ROOT))?;
            if let Some(t) = &topology {
                let existing = apply::list_namespaces()?;
                for n in &t.nodes {
                    let ns = format!("{prefix}-{}", n.name);
                    if existing.contains(&ns) && !names.contains(&ns) {
                        names.push(ns);
                    }
                }
            }
            names
        }
    };
    let record = match state {
        Some(s) => s,
        None if extra.is_empty() => {
            println!(
                "nothing to remove: no state record in {} and no namespace named {prefix}-*",
                state_dir.display()
            );
            return Ok(ExitCode::SUCCESS);
        }
        None => {
            eprintln!(
                "warning: no state record in {}; removing the namespaces named after the prefix: {}",
                state_dir.display(),
                extra.join(", ")
            );
            // A record of only the files `up` names after each node: `extra` and these go.
            let files = extra
                .iter()
                .filter_map(|ns| ns.strip_prefix(&format!("{prefix}-")).map(String::from))
                .flat_map(|node| {
                    ["toml", "log", "sock"].map(|ext| state_dir.join(format!("{node}.{ext}")))
                })
                .collect();
            State {
                format: ants_netns::state::FORMAT,
                topology: topology
                    .as_ref()
                    .map_or_else(String::new, |t| t.name.clone()),
                file: args.file.clone(),
                prefix: prefix.clone(),
                state_dir: state_dir.clone(),
                complete: false,
                nodes: Vec::new(),
                namespaces: Vec::new(),
                daemons: Vec::new(),
                files,
            }
        }
    };
    let report = apply::teardown(&record, &extra, &mut Progress::stderr());
    if report.nothing() {
        println!("nothing left to remove for prefix {prefix}");
    } else {
        let what = if record.topology.is_empty() {
            format!("prefix {prefix}")
        } else {
            format!("topology `{}` (prefix {prefix})", record.topology)
        };
        println!("removed {what}: {}", report.summary());
    }
    // The root of default state directories goes too once the last topology is down.
    if state_dir.parent() == Some(Path::new(STATE_ROOT)) {
        let _ = std::fs::remove_dir(STATE_ROOT);
    }
    Ok(if report.errors.is_empty() {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

/// Finds the state record from the options, or the only one under [`STATE_ROOT`].
fn locate(
    file: Option<&Path>,
    prefix: Option<&str>,
    state_dir: Option<&Path>,
) -> anyhow::Result<State> {
    let dir = if let Some(d) = state_dir {
        std::path::absolute(d)?
    } else if let Some(p) = prefix {
        plan::default_state_dir(p)
    } else if let Some(f) = file {
        plan::default_state_dir(&plan::default_prefix(&load_topology(f)?.name))
    } else {
        let mut found = Vec::new();
        if let Ok(dirs) = std::fs::read_dir(STATE_ROOT) {
            for d in dirs.filter_map(Result::ok) {
                if State::path_in(&d.path()).is_file() {
                    found.push(d.path());
                }
            }
        }
        found.sort();
        match found.as_slice() {
            [one] => one.clone(),
            [] => bail!(
                "no topology is up (no state record under {STATE_ROOT}); start one with `ants topo up FILE`"
            ),
            many => bail!(
                "several topologies are up ({}): choose one with --prefix",
                many.iter()
                    .filter_map(|d| d.file_name().map(|n| n.to_string_lossy().into_owned()))
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
        }
    };
    State::load(&dir)?.with_context(|| {
        format!(
            "no topology is up there (no state record in {}); start it with `ants topo up FILE`",
            dir.display()
        )
    })
}

/// `exec`.
pub fn exec(args: ExecArgs) -> anyhow::Result<ExitCode> {
    apply::require_root("exec")?;
    let state = locate(
        args.file.as_deref(),
        args.prefix.as_deref(),
        args.state_dir.as_deref(),
    )?;
    let Some(node) = state.node(&args.node) else {
        bail!(
            "topology `{}` has no node `{}` (nodes: {})",
            state.topology,
            args.node,
            state
                .nodes
                .iter()
                .map(|n| n.name.as_str())
                .collect::<Vec<_>>()
                .join(", ")
        );
    };
    let status = apply::exec_in(&node.namespace, node.app_socket.as_deref(), &args.command)?;
    Ok(exit_code_of(status))
}

/// The exit status of a child as ours: its code, or 128 + the signal that ended it.
fn exit_code_of(status: std::process::ExitStatus) -> ExitCode {
    use std::os::unix::process::ExitStatusExt as _;
    let code = status
        .code()
        .or_else(|| status.signal().map(|s| 128 + s))
        .unwrap_or(1);
    ExitCode::from(u8::try_from(code).unwrap_or(1))
}
