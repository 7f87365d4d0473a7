//! Carrying a [`Plan`] out on this machine, and undoing it.
//!
//! Owns every side effect of the namespace deployer: the `ip` and `tc` commands, the sysctl
//! writes, the daemon processes and the files in the state directory; keeping the state record
//! current while `up` works; `down`'s teardown; and what `status` observes. `up` records each
//! namespace before it creates it and each daemon as soon as it runs, so a teardown from the
//! record removes everything even after a crash.
//!
//! It never touches a namespace, interface, route or process of the host that is not its own:
//! interfaces, addresses and routes are only ever created inside its own namespaces; it only
//! deletes namespaces its record names (or, without a record, the ones named after the
//! prefix); and it only signals processes that are `antsd` and either recorded or running in
//! one of those namespaces.

use std::collections::{HashMap, HashSet};
use std::ffi::OsString;
use std::fs::{self, File};
use std::io::{self, IsTerminal as _, Write as _};
use std::os::fd::AsRawFd as _;
use std::os::unix::fs::MetadataExt as _;
use std::os::unix::process::CommandExt as _;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

use super::plan::{Plan, PlanError};
use super::state::{DaemonRecord, State, StateError};

/// Where `ip netns` keeps its namespaces (one bind-mounted file per name).
pub const NETNS_DIR: &str = "/var/run/netns";

/// How long daemons get to stop after SIGTERM before they are killed.
const STOP_GRACE: Duration = Duration::from_secs(5);
/// How long a killed daemon gets to disappear.
const KILL_GRACE: Duration = Duration::from_secs(2);
/// Pause between polls of daemons and sockets.
const POLL: Duration = Duration::from_millis(20);
/// Log lines quoted when a daemon fails.
const LOG_TAIL_LINES: usize = 20;

/// Why bringing a topology up or down failed.
#[derive(Debug, thiserror::Error)]
pub enum NetnsError {
    /// The command needs root.
    #[error("ants topo {0} needs root (network namespaces): run it with sudo")]
    NotRoot(&'static str),
    /// The plan could not be made.
    #[error(transparent)]
    Plan(#[from] PlanError),
    /// The state record could not be read or written.
    #[error(transparent)]
    State(#[from] StateError),
    /// A state record already exists for this prefix.
    #[error(
        "a topology with prefix `{prefix}` is already up (state record {}): run `ants topo down` first, or choose another --prefix",
        state.display()
    )]
    AlreadyUp {
        /// The prefix.
        prefix: String,
        /// The record.
        state: PathBuf,
    },
    /// Namespaces the plan needs exist already and are not recorded as this topology's.
    #[error(
        "namespace(s) {} already exist and are not part of this topology's state: remove them or choose another --prefix",
        .0.join(", ")
    )]
    NamespacesExist(Vec<String>),
    /// A program could not be started.
    #[error("cannot run `{program}`: {source}{}", hint(program))]
    Spawn {
        /// The program.
        program: String,
        /// Why.
        source: io::Error,
    },
    /// A command failed.
    #[error("`{command}` failed: {detail}")]
    Command {
        /// The command line.
        command: String,
        /// Its error output, or its exit status.
        detail: String,
    },
    /// A file or sysctl could not be read or written.
    #[error("{what} {}: {source}", path.display())]
    Io {
        /// What was being done.
        what: &'static str,
        /// The file.
        path: PathBuf,
        /// The I/O error.
        source: io::Error,
    },
    /// No `antsd` executable was found.
    #[error(
        "cannot find `antsd` ({0}): build it with `cargo build -p ants-daemon` or pass --antsd PATH"
    )]
    NoAntsd(String),
    /// A daemon exited while starting.
    #[error(
        "antsd of node `{node}` exited while starting ({status}); last lines of {}:\n{tail}",
        log.display()
    )]
    DaemonExited {
        /// Node name.
        node: String,
        /// Its exit status.
        status: ExitStatus,
        /// Its log file.
        log: PathBuf,
        /// The end of the log.
        tail: String,
    },
    /// A daemon did not open its application socket in time.
    #[error(
        "antsd of node `{node}` did not open its application socket {} within {secs} s; last lines of {}:\n{tail}",
        socket.display(),
        log.display()
    )]
    DaemonNotReady {
        /// Node name.
        node: String,
        /// The socket waited for.
        socket: PathBuf,
        /// Seconds waited.
        secs: u64,
        /// Its log file.
        log: PathBuf,
        /// The end of the log.
        tail: String,
    },
    /// `up` failed and removed what it had made (the report says how that went).
    #[error("{cause}\n{cleanup}")]
    UpFailed {
        /// What went wrong.
        cause: Box<NetnsError>,
        /// What the cleanup did.
        cleanup: String,
    },
}

fn hint(program: &str) -> &'static str {
    match program {
        "ip" | "tc" => " (install iproute2)",
        _ => "",
    }
}

/// Fails with [`NetnsError::NotRoot`] unless the effective user is root.
pub fn require_root(command: &'static str) -> Result<(), NetnsError> {
    // SAFETY: geteuid has no preconditions and cannot fail.
    if unsafe { libc::geteuid() } == 0 {
        Ok(())
    } else {
        Err(NetnsError::NotRoot(command))
    }
}

// ---- Progress --------------------------------------------------------------------------------

/// Progress of long steps on stderr: `[ 37/120] namespaces`, rewritten in place on a terminal,
/// one line per finished step otherwise.
pub struct Progress {
    mode: Mode,
    open: bool,
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Mode {
    Quiet,
    Lines,
    Terminal,
}

impl Progress {
    /// Progress on stderr, in place if stderr is a terminal.
    pub fn stderr() -> Progress {
        let mode = if io::stderr().is_terminal() {
            Mode::Terminal
        } else {
            Mode::Lines
        };
        Progress { mode, open: false }
    }

    /// No output.
    pub fn quiet() -> Progress {
        Progress {
            mode: Mode::Quiet,
            open: false,
        }
    }

    /// `done` of `total` items of step `what` are finished.
    pub fn update(&mut self, what: &str, done: usize, total: usize) {
        let width = total.to_string().len();
        let line = format!("[{done:>width$}/{total}] {what}");
        let mut err = io::stderr().lock();
        match self.mode {
            Mode::Quiet => {}
            Mode::Lines => {
                if done == total {
                    let _ = writeln!(err, "{line}");
                }
            }
            Mode::Terminal => {
                let _ = write!(err, "\r\x1b[2K{line}");
                self.open = done != total;
                if done == total {
                    let _ = writeln!(err);
                }
                let _ = err.flush();
            }
        }
    }

    /// Ends a line left open by an interrupted step, so the next message starts clean.
    pub fn interrupt(&mut self) {
        if self.open {
            let _ = writeln!(io::stderr());
            self.open = false;
        }
    }
}

// ---- Commands ----------------------------------------------------------------------------------

fn command_line(program: &str, args: &[String]) -> String {
    let mut s = program.to_string();
    for a in args {
        s.push(' ');
        s.push_str(a);
    }
    s
}

/// Runs `program args`, feeding `input` on stdin; its stdout when it succeeds.
fn run(program: &str, args: &[String], input: Option<&str>) -> Result<String, NetnsError> {
    let mut cmd = Command::new(program);
    cmd.args(args)
        .stdin(if input.is_some() {
            Stdio::piped()
        } else {
            Stdio::null()
        })
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let spawn_error = |source| NetnsError::Spawn {
        program: program.to_string(),
        source,
    };
    let mut child = cmd.spawn().map_err(spawn_error)?;
    if let (Some(text), Some(mut stdin)) = (input, child.stdin.take()) {
        // A failed write shows up as the command's own error below.
        let _ = stdin.write_all(text.as_bytes());
    }
    let out = child.wait_with_output().map_err(spawn_error)?;
    if out.status.success() {
        return Ok(String::from_utf8_lossy(&out.stdout).into_owned());
    }
    let stderr = String::from_utf8_lossy(&out.stderr).trim().to_string();
    Err(NetnsError::Command {
        command: command_line(program, args),
        detail: if stderr.is_empty() {
            out.status.to_string()
        } else {
            stderr
        },
    })
}

/// Runs `ip -n namespace -batch -` with `lines`. On failure the error names the line.
fn ip_batch(namespace: &str, lines: &[String]) -> Result<(), NetnsError> {
    if lines.is_empty() {
        return Ok(());
    }
    let args = ["-n", namespace, "-batch", "-"].map(String::from);
    let text = lines.join("\n") + "\n";
    run("ip", &args, Some(&text))
        .map(drop)
        .map_err(|e| match e {
            NetnsError::Command { command, detail } => {
                // iproute2 reports "Command failed -:N" for the N-th line.
                let line = detail
                    .rsplit("-:")
                    .next()
                    .and_then(|n| n.trim().parse::<usize>().ok())
                    .and_then(|n| lines.get(n.wrapping_sub(1)));
                NetnsError::Command {
                    command: match line {
                        Some(l) => format!("ip -n {namespace} {l}"),
                        None => command,
                    },
                    detail,
                }
            }
            other => other,
        })
}

fn io_error(what: &'static str, path: &Path) -> impl FnOnce(io::Error) -> NetnsError {
    move |source| NetnsError::Io {
        what,
        path: path.to_path_buf(),
        source,
    }
}

/// Writes `value` to the sysctl file `key` (`net/ipv4/ip_forward`) inside `namespace`, from a
/// short-lived thread that enters the namespace (so this process stays where it is).
pub fn set_sysctl(namespace: &str, key: &str, value: &str) -> Result<(), NetnsError> {
    let ns_path = Path::new(NETNS_DIR).join(namespace);
    let ns = File::open(&ns_path).map_err(io_error("cannot open namespace", &ns_path))?;
    let path = Path::new("/proc/sys").join(key);
    let result = std::thread::scope(|s| {
        s.spawn(|| -> io::Result<()> {
            // SAFETY: `ns` is an open namespace file for the duration of the call; setns only
            // changes the network namespace of this thread, which ends right after.
            if unsafe { libc::setns(ns.as_raw_fd(), libc::CLONE_NEWNET) } != 0 {
                return Err(io::Error::last_os_error());
            }
            fs::write(&path, value)?;
            let now = fs::read_to_string(&path)?;
            if now.trim() != value {
                return Err(io::Error::other(format!(
                    "it reads {} after writing {value}",
                    now.trim()
                )));
            }
            Ok(())
        })
        .join()
        .unwrap_or_else(|_| Err(io::Error::other("the sysctl thread panicked")))
    });
    result.map_err(|source| NetnsError::Io {
        what: "cannot set sysctl in namespace",
        path: Path::new(namespace).join(key),
        source,
    })
}

// ---- Looking at the machine --------------------------------------------------------------------

/// Every network namespace `ip netns` knows, sorted.
pub fn list_namespaces() -> Result<Vec<String>, NetnsError> {
    let dir = Path::new(NETNS_DIR);
    let entries = match fs::read_dir(dir) {
        Ok(e) => e,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(io_error("cannot list namespaces in", dir)(e)),
    };
    let mut names: Vec<String> = entries
        .filter_map(Result::ok)
        .filter_map(|e| e.file_name().into_string().ok())
        .collect();
    names.sort();
    Ok(names)
}

/// The command line of process `pid`, unless it is gone or a zombie.
fn cmdline(pid: u32) -> Option<Vec<String>> {
    let stat = fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The state follows the parenthesised command name, which may itself hold ") ".
    let state = stat.rsplit_once(") ")?.1.chars().next()?;
    if matches!(state, 'Z' | 'X') {
        return None;
    }
    let raw = fs::read(format!("/proc/{pid}/cmdline")).ok()?;
    Some(
        raw.split(|&b| b == 0)
            .filter(|a| !a.is_empty())
            .map(|a| String::from_utf8_lossy(a).into_owned())
            .collect(),
    )
}

fn is_antsd_cmdline(args: &[String]) -> bool {
    let named = |a: &String| Path::new(a).file_name().is_some_and(|f| f == "antsd");
    match args {
        [first, ..] if named(first) => true,
        // `ip netns exec NS antsd ...` before the exec replaced the `ip` process.
        [ip, netns, exec, _, prog, ..] => {
            Path::new(ip).file_name().is_some_and(|f| f == "ip")
                && netns == "netns"
                && exec == "exec"
                && named(prog)
        }
        _ => false,
    }
}

/// Whether `pid` is a live `antsd` (not gone, not a zombie, and its command line says so).
pub fn is_live_antsd(pid: u32) -> bool {
    cmdline(pid).is_some_and(|c| is_antsd_cmdline(&c))
}

/// Live processes in each of `namespaces` (by the namespace inode, as `ip netns pids` does).
fn processes_in(namespaces: &[String]) -> HashMap<String, Vec<u32>> {
    let mut by_inode = HashMap::new();
    for ns in namespaces {
        if let Ok(m) = fs::metadata(Path::new(NETNS_DIR).join(ns)) {
            by_inode.insert((m.dev(), m.ino()), ns.clone());
        }
    }
    let mut found: HashMap<String, Vec<u32>> = HashMap::new();
    if by_inode.is_empty() {
        return found;
    }
    let Ok(proc) = fs::read_dir("/proc") else {
        return found;
    };
    let me = std::process::id();
    for entry in proc.filter_map(Result::ok) {
        let Some(pid) = entry
            .file_name()
            .to_str()
            .and_then(|s| s.parse::<u32>().ok())
        else {
            continue;
        };
        if pid == me {
            continue;
        }
        let Ok(m) = fs::metadata(entry.path().join("ns/net")) else {
            continue;
        };
        if let Some(ns) = by_inode.get(&(m.dev(), m.ino())) {
            found.entry(ns.clone()).or_default().push(pid);
        }
    }
    for pids in found.values_mut() {
        pids.sort_unstable();
    }
    found
}

/// The last lines of a log file (or why it cannot be read).
pub fn log_tail(path: &Path) -> String {
    match fs::read_to_string(path) {
        Ok(text) => {
            let lines: Vec<&str> = text.lines().collect();
            let from = lines.len().saturating_sub(LOG_TAIL_LINES);
            if lines.is_empty() {
                "  (empty)".to_string()
            } else {
                lines[from..]
                    .iter()
                    .map(|l| format!("  {l}"))
                    .collect::<Vec<_>>()
                    .join("\n")
            }
        }
        Err(e) => format!("  (cannot read it: {e})"),
    }
}

/// The `antsd` to run: `explicit` if given, else the one next to this executable, else the
/// first on `PATH`. Always an absolute path (daemons start in another namespace, through `ip`).
pub fn find_antsd(explicit: Option<&Path>) -> Result<PathBuf, NetnsError> {
    if let Some(p) = explicit {
        return p
            .canonicalize()
            .ok()
            .filter(|p| p.is_file())
            .ok_or_else(|| NetnsError::NoAntsd(format!("--antsd {} is not a file", p.display())));
    }
    let beside = std::env::current_exe()
        .ok()
        .and_then(|exe| exe.parent().map(|d| d.join("antsd")));
    let on_path: Vec<PathBuf> = std::env::var_os("PATH")
        .map(|p| std::env::split_paths(&p).map(|d| d.join("antsd")).collect())
        .unwrap_or_default();
    beside
        .into_iter()
        .chain(on_path)
        .find(|p| p.is_file())
        .and_then(|p| p.canonicalize().ok())
        .ok_or_else(|| NetnsError::NoAntsd("not next to this program and not on PATH".to_string()))
}

// ---- up --------------------------------------------------------------------------------------

/// How `up` runs the daemons.
#[derive(Clone, Debug)]
pub struct UpOptions {
    /// The `antsd` executable (absolute).
    pub antsd: PathBuf,
    /// The topology file, recorded in the state.
    pub file: Option<PathBuf>,
    /// How long all daemons together get to open their application sockets.
    pub ready_timeout: Duration,
}

/// What `up` did.
#[derive(Debug)]
pub struct UpReport {
    /// The final state record.
    pub state: State,
    /// Link options that could not be applied at run time (beyond [`Plan::notices`]).
    pub notices: Vec<String>,
    /// How long it took.
    pub elapsed: Duration,
}

/// Creates everything in `plan`. On failure, removes what it made and returns
/// [`NetnsError::UpFailed`] with the cause and how the cleanup went.
pub fn up(
    plan: &Plan,
    options: &UpOptions,
    progress: &mut Progress,
) -> Result<UpReport, NetnsError> {
    require_root("up")?;
    let started = Instant::now();
    let dir = &plan.state_dir;
    fs::create_dir_all(dir).map_err(io_error("cannot create the state directory", dir))?;
    let record = State::path_in(dir);
    if record.exists() {
        return Err(NetnsError::AlreadyUp {
            prefix: plan.prefix.clone(),
            state: record,
        });
    }
    let existing: HashSet<String> = list_namespaces()?.into_iter().collect();
    let clash: Vec<String> = plan
        .namespaces()
        .filter(|n| existing.contains(*n))
        .map(String::from)
        .collect();
    if !clash.is_empty() {
        // Only removes the directory if this call just created it (it is empty).
        let _ = fs::remove_dir(dir);
        return Err(NetnsError::NamespacesExist(clash));
    }
    let mut state = State::new(plan, options.file.as_deref());
    state.save()?;
    match build(plan, options, &mut state, progress) {
        Ok(notices) => Ok(UpReport {
            state,
            notices,
            elapsed: started.elapsed(),
        }),
        Err(cause) => {
            progress.interrupt();
            let report = teardown(&state, &[], &mut Progress::quiet());
            Err(NetnsError::UpFailed {
                cause: Box::new(cause),
                cleanup: format!("removed what was made: {}", report.summary()),
            })
        }
    }
}

fn build(
    plan: &Plan,
    options: &UpOptions,
    state: &mut State,
    progress: &mut Progress,
) -> Result<Vec<String>, NetnsError> {
    let n = plan.nodes.len();
    for (i, node) in plan.nodes.iter().enumerate() {
        // Recorded first: a crash right after `ip netns add` still leaves it in the record.
        state.namespaces.push(node.namespace.clone());
        state.save()?;
        run(
            "ip",
            &["netns", "add", &node.namespace].map(String::from),
            None,
        )?;
        progress.update("namespaces", i + 1, n);
    }
    for (i, link) in plan.links.iter().enumerate() {
        run("ip", &link.veth_command(), None)?;
        progress.update("links", i + 1, plan.links.len());
    }
    for (i, node) in plan.nodes.iter().enumerate() {
        ip_batch(&node.namespace, &node.address_batch())?;
        progress.update("addresses", i + 1, n);
    }
    for (i, node) in plan.nodes.iter().enumerate() {
        ip_batch(&node.namespace, &node.route_batch())?;
        progress.update("routes", i + 1, n);
    }
    let routers: Vec<_> = plan.nodes.iter().filter(|x| x.ip_forward).collect();
    for (i, node) in routers.iter().enumerate() {
        set_sysctl(&node.namespace, "net/ipv4/ip_forward", "1")?;
        progress.update("ip forwarding", i + 1, routers.len());
    }
    let notices = shape(plan, progress);

    let daemons: Vec<_> = plan.daemons().collect();
    let mut children: Vec<(usize, Child)> = Vec::with_capacity(daemons.len());
    for (i, (node, d)) in daemons.iter().enumerate() {
        state.files.push(d.config_path.clone());
        state.files.push(d.log_path.clone());
        state.save()?;
        fs::write(&d.config_path, &d.config)
            .map_err(io_error("cannot write the configuration", &d.config_path))?;
        let log = File::create(&d.log_path).map_err(io_error("cannot create", &d.log_path))?;
        let log2 = log
            .try_clone()
            .map_err(io_error("cannot open", &d.log_path))?;
        let mut cmd = Command::new("ip");
        cmd.args(["netns", "exec", &node.namespace])
            .arg(&options.antsd)
            .arg("--config")
            .arg(&d.config_path)
            .stdin(Stdio::null())
            .stdout(log)
            .stderr(log2)
            // Its own process group: a Ctrl-C meant for the terminal does not reach it.
            .process_group(0);
        let child = cmd.spawn().map_err(|source| NetnsError::Spawn {
            program: "ip".to_string(),
            source,
        })?;
        // `ip netns exec` replaces itself with the program: this pid is the daemon's.
        state.daemons.push(DaemonRecord {
            node: node.name.clone(),
            pid: child.id(),
            log: d.log_path.clone(),
        });
        state.save()?;
        children.push((i, child));
        progress.update("daemons started", i + 1, daemons.len());
    }

    let deadline = Instant::now() + options.ready_timeout;
    let mut ready = 0;
    while !children.is_empty() {
        let mut i = 0;
        while i < children.len() {
            let (k, child) = &mut children[i];
            let (node, d) = daemons[*k];
            if let Ok(Some(status)) = child.try_wait() {
                return Err(NetnsError::DaemonExited {
                    node: node.name.clone(),
                    status,
                    log: d.log_path.clone(),
                    tail: log_tail(&d.log_path),
                });
            }
            if std::os::unix::net::UnixStream::connect(&d.app_socket).is_ok() {
                children.swap_remove(i);
                ready += 1;
                progress.update("daemons ready", ready, daemons.len());
            } else {
                i += 1;
            }
        }
        if children.is_empty() {
            break;
        }
        if Instant::now() >= deadline {
            let (node, d) = daemons[children[0].0];
            return Err(NetnsError::DaemonNotReady {
                node: node.name.clone(),
                socket: d.app_socket.clone(),
                secs: options.ready_timeout.as_secs(),
                log: d.log_path.clone(),
                tail: log_tail(&d.log_path),
            });
        }
        std::thread::sleep(POLL);
    }
    state.complete = true;
    state.save()?;
    Ok(notices)
}

/// Applies the rate limits; a link whose shaping fails is left unshaped and reported.
fn shape(plan: &Plan, progress: &mut Progress) -> Vec<String> {
    let shaped: Vec<_> = plan.links.iter().filter(|l| l.shaping.is_some()).collect();
    let mut failed = Vec::new();
    for (i, link) in shaped.iter().enumerate() {
        let Some(shaping) = link.shaping else {
            continue;
        };
        let ends = [&link.a, &link.b];
        let result = ends.iter().try_for_each(|(ns, dev)| {
            shaping.tc_commands(dev).iter().try_for_each(|args| {
                let mut full = vec!["-n".to_string(), ns.clone()];
                full.extend(args.iter().cloned());
                run("tc", &full, None).map(drop)
            })
        });
        if let Err(e) = result {
            for (ns, dev) in ends {
                let del = ["-n", ns, "qdisc", "del", "dev", dev, "root"].map(String::from);
                let _ = run("tc", &del, None);
            }
            failed.push((link.label.clone(), e.to_string()));
        }
        progress.update("bandwidth limits", i + 1, shaped.len());
    }
    if failed.is_empty() {
        return Vec::new();
    }
    let links: Vec<&str> = failed.iter().map(|(l, _)| l.as_str()).collect();
    vec![format!(
        "bandwidth and queue are not applied on link(s) {}: the tbf qdisc could not be set up ({})",
        links.join(", "),
        failed[0].1
    )]
}

// ---- down ------------------------------------------------------------------------------------

/// What a teardown did.
#[derive(Debug, Default)]
pub struct DownReport {
    /// Daemons stopped with SIGTERM: (what, pid).
    pub stopped: Vec<(String, u32)>,
    /// Daemons that had to be killed.
    pub killed: Vec<(String, u32)>,
    /// Namespaces deleted.
    pub namespaces: Vec<String>,
    /// Other processes still running in deleted namespaces (left alone): description.
    pub left_running: Vec<String>,
    /// Files removed.
    pub files: usize,
    /// Whether the state directory was removed.
    pub state_dir_removed: bool,
    /// Everything that failed.
    pub errors: Vec<String>,
}

impl DownReport {
    /// Whether nothing was there to remove.
    pub fn nothing(&self) -> bool {
        self.stopped.is_empty()
            && self.killed.is_empty()
            && self.namespaces.is_empty()
            && self.files == 0
            && !self.state_dir_removed
    }

    /// One line: what was removed and what failed.
    pub fn summary(&self) -> String {
        let mut s = format!(
            "{} namespace(s) deleted, {} daemon(s) stopped",
            self.namespaces.len(),
            self.stopped.len() + self.killed.len()
        );
        if !self.killed.is_empty() {
            s += &format!(" ({} killed after {:?})", self.killed.len(), STOP_GRACE);
        }
        if self.state_dir_removed {
            s += ", state directory removed";
        }
        for p in &self.left_running {
            s += &format!("; still running in a deleted namespace (not ours to stop): {p}");
        }
        for e in &self.errors {
            s += &format!("; FAILED: {e}");
        }
        s
    }
}

/// Removes everything `state` records, plus the namespaces `extra` names: stops the daemons
/// (recorded ones, and any `antsd` inside these namespaces), deletes the namespaces (which
/// removes their veths), removes the files `up` wrote and the state directory if that leaves
/// it empty. Continues past failures and reports them.
pub fn teardown(state: &State, extra: &[String], progress: &mut Progress) -> DownReport {
    let mut report = DownReport::default();
    let existing: HashSet<String> = match list_namespaces() {
        Ok(n) => n.into_iter().collect(),
        Err(e) => {
            report.errors.push(e.to_string());
            HashSet::new()
        }
    };
    let mut ours: Vec<String> = Vec::new();
    for ns in state.namespaces.iter().chain(extra) {
        if existing.contains(ns) && !ours.contains(ns) {
            ours.push(ns.clone());
        }
    }

    // Daemons: recorded ones that are still antsd, and antsd processes in our namespaces.
    let mut targets: Vec<(String, u32)> = state
        .daemons
        .iter()
        .filter(|d| is_live_antsd(d.pid))
        .map(|d| (format!("antsd of {}", d.node), d.pid))
        .collect();
    for (ns, pids) in processes_in(&ours) {
        for pid in pids {
            if targets.iter().any(|(_, p)| *p == pid) {
                continue;
            }
            match cmdline(pid) {
                Some(c) if is_antsd_cmdline(&c) => targets.push((format!("antsd in {ns}"), pid)),
                Some(c) => report
                    .left_running
                    .push(format!("pid {pid} in {ns} ({})", c.join(" "))),
                None => {}
            }
        }
    }
    for (_, pid) in &targets {
        signal(*pid, libc::SIGTERM);
    }
    let deadline = Instant::now() + STOP_GRACE;
    let total = targets.len();
    loop {
        let alive = targets.iter().filter(|(_, p)| is_live_antsd(*p)).count();
        progress.update("daemons stopped", total - alive, total.max(1));
        if alive == 0 || Instant::now() >= deadline {
            break;
        }
        std::thread::sleep(POLL);
    }
    for (what, pid) in targets {
        if is_live_antsd(pid) {
            signal(pid, libc::SIGKILL);
            report.killed.push((what, pid));
        } else {
            report.stopped.push((what, pid));
        }
    }
    let deadline = Instant::now() + KILL_GRACE;
    while report.killed.iter().any(|(_, p)| is_live_antsd(*p)) && Instant::now() < deadline {
        std::thread::sleep(POLL);
    }
    for (what, pid) in &report.killed {
        if is_live_antsd(*pid) {
            report
                .errors
                .push(format!("{what} (pid {pid}) survived SIGKILL"));
        }
    }

    let total = ours.len();
    for (i, ns) in ours.into_iter().enumerate() {
        match run("ip", &["netns", "delete", &ns].map(String::from), None) {
            Ok(_) => report.namespaces.push(ns),
            Err(e) => report.errors.push(e.to_string()),
        }
        progress.update("namespaces deleted", i + 1, total);
    }

    // Files: what the record lists, the sockets of killed daemons, the record itself.
    let dir = &state.state_dir;
    let mut files: Vec<PathBuf> = state.files.clone();
    files.extend(state.nodes.iter().filter_map(|n| n.app_socket.clone()));
    files.push(dir.join(format!(".{}.tmp", super::state::STATE_FILE)));
    files.push(State::path_in(dir));
    for f in files {
        match fs::remove_file(&f) {
            Ok(()) => report.files += 1,
            Err(e) if e.kind() == io::ErrorKind::NotFound => {}
            Err(e) => report
                .errors
                .push(format!("cannot remove {}: {e}", f.display())),
        }
    }
    match fs::remove_dir(dir) {
        Ok(()) => report.state_dir_removed = true,
        Err(e) if e.kind() == io::ErrorKind::NotFound => {}
        Err(e) => report.errors.push(format!(
            "state directory {} kept: {e} (it holds files `up` did not write)",
            dir.display()
        )),
    }
    report
}

fn signal(pid: u32, sig: libc::c_int) {
    let Ok(pid) = libc::pid_t::try_from(pid) else {
        return;
    };
    // SAFETY: kill has no memory preconditions; callers only pass live antsd pids.
    unsafe {
        libc::kill(pid, sig);
    }
}

/// Namespaces that look like they belong to `prefix` when no state record says so:
/// `<prefix>-<name>` with a valid node name, not recorded by another state record under
/// `state_root` (a longer prefix such as `<prefix>-2` has its own record).
pub fn orphan_namespaces(prefix: &str, state_root: &Path) -> Result<Vec<String>, NetnsError> {
    let mut claimed = HashSet::new();
    if let Ok(dirs) = fs::read_dir(state_root) {
        for d in dirs.filter_map(Result::ok) {
            if let Ok(Some(s)) = State::load(&d.path())
                && s.prefix != prefix
            {
                claimed.extend(s.namespaces);
            }
        }
    }
    let start = format!("{prefix}-");
    Ok(list_namespaces()?
        .into_iter()
        .filter(|n| {
            n.strip_prefix(&start).is_some_and(|rest| {
                rest.starts_with(|c: char| c.is_ascii_alphabetic())
                    && rest
                        .chars()
                        .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
            }) && !claimed.contains(n)
        })
        .collect())
}

// ---- exec and status -------------------------------------------------------------------------

/// Runs `command` in `namespace` with `ANTS_SOCKET` set to `socket` (when given); its status.
pub fn exec_in(
    namespace: &str,
    socket: Option<&Path>,
    command: &[OsString],
) -> Result<ExitStatus, NetnsError> {
    let mut cmd = Command::new("ip");
    cmd.args(["netns", "exec", namespace]).args(command);
    if let Some(s) = socket {
        cmd.env("ANTS_SOCKET", s);
    }
    cmd.status().map_err(|source| NetnsError::Spawn {
        program: "ip".to_string(),
        source,
    })
}

/// IPv4 addresses (`a.b.c.d/len`) configured in `namespace`.
pub fn addresses_in(namespace: &str) -> Result<Vec<String>, NetnsError> {
    let out = run(
        "ip",
        &["-n", namespace, "-o", "-4", "address", "show"].map(String::from),
        None,
    )?;
    Ok(out
        .lines()
        .filter_map(|l| {
            let mut words = l.split_whitespace();
            words.find(|w| *w == "inet")?;
            words.next().map(String::from)
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn antsd_command_lines_are_recognised() {
        let v = |s: &str| s.split(' ').map(String::from).collect::<Vec<_>>();
        assert!(is_antsd_cmdline(&v(
            "/x/target/debug/antsd --config a.toml"
        )));
        assert!(is_antsd_cmdline(&v("antsd -c a.toml")));
        assert!(is_antsd_cmdline(&v(
            "ip netns exec ants-line-a1 /x/antsd --config a.toml"
        )));
        assert!(!is_antsd_cmdline(&v("/usr/bin/sleep 100")));
        assert!(!is_antsd_cmdline(&v("ip netns exec ns /bin/sh")));
        assert!(!is_antsd_cmdline(&v("/x/antsd-old --config a")));
        assert!(!is_antsd_cmdline(&[]));
    }

    #[test]
    fn this_process_is_not_an_antsd_and_a_dead_pid_is_not_alive() {
        assert!(cmdline(std::process::id()).is_some());
        assert!(!is_live_antsd(std::process::id()));
        assert!(!is_live_antsd(u32::MAX));
    }

    #[test]
    fn reports_summarise_and_log_tails_are_short() {
        let mut r = DownReport::default();
        assert!(r.nothing());
        r.namespaces.push("p-a".into());
        r.killed.push(("antsd of a".into(), 7));
        r.errors.push("boom".into());
        let s = r.summary();
        assert!(!r.nothing());
        assert!(
            s.starts_with("1 namespace(s) deleted, 1 daemon(s) stopped (1 killed"),
            "{s}"
        );
        assert!(s.ends_with("FAILED: boom"), "{s}");

        let dir = tempfile::tempdir().unwrap();
        let log = dir.path().join("x.log");
        let text: String = (0..50).map(|i| format!("line {i}\n")).collect();
        fs::write(&log, text).unwrap();
        let tail = log_tail(&log);
        assert_eq!(tail.lines().count(), LOG_TAIL_LINES);
        assert!(tail.ends_with("  line 49"));
        assert!(log_tail(&dir.path().join("none")).contains("cannot read"));
    }

    #[test]
    fn an_explicit_antsd_must_exist() {
        let e = find_antsd(Some(Path::new("/nonexistent/antsd"))).unwrap_err();
        assert!(e.to_string().contains("--antsd /nonexistent/antsd"), "{e}");
    }
}
