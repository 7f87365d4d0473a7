//! What the namespace end-to-end tests share: the built programs they drive, a namespace
//! prefix unique to the run, commands bounded in time (in the foreground or in the
//! background), the guard that removes everything a test made, and reading a namespace's IP
//! counters.
//!
//! It never touches a namespace outside the run's prefix and ends only processes it started
//! itself, by their pid.

// Each test uses its own part of this module.
#![allow(dead_code)]

use std::fs::{self, File};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Output, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

/// When a test must be over, every command included.
pub struct Deadline(pub Instant);

impl Deadline {
    /// `limit` from now.
    pub fn after(limit: Duration) -> Self {
        Self(Instant::now() + limit)
    }

    /// Time left (zero once passed).
    pub fn left(&self) -> Duration {
        self.0.saturating_duration_since(Instant::now())
    }
}

/// The programs a namespace test runs, all from this build.
pub struct Programs {
    /// `ants-topo`.
    pub topo: PathBuf,
    /// `ants`, next to it.
    pub ants: PathBuf,
}

/// The built programs, or `None` (saying why) when namespaces cannot be made here: the test
/// then passes without doing anything. Fails when the programs are missing.
pub fn programs() -> Option<Programs> {
    // SAFETY: geteuid has no preconditions.
    if unsafe { libc::geteuid() } != 0 {
        eprintln!("skipped: creating network namespaces needs root");
        return None;
    }
    if Command::new("ip").arg("-V").output().is_err() {
        eprintln!("skipped: the `ip` program (iproute2) is not installed");
        return None;
    }
    let topo = PathBuf::from(env!("CARGO_BIN_EXE_ants-topo"));
    let bin_dir = topo.parent().unwrap();
    for program in ["antsd", "ants"] {
        assert!(
            bin_dir.join(program).is_file(),
            "{} is missing: build the whole workspace first (`make build`, or `cargo build --workspace`)",
            bin_dir.join(program).display()
        );
    }
    let ants = bin_dir.join("ants");
    Some(Programs { topo, ants })
}

/// The built module of the capsule crate `crate_name` (`capsule_ping`, ...); fails when
/// `make capsules` has not built it.
pub fn capsule_module(crate_name: &str) -> PathBuf {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join(format!(
        "../../capsules/target/wasm32-unknown-unknown/release/{crate_name}.wasm"
    ));
    assert!(
        path.is_file(),
        "{} is missing: build the capsules first (`make capsules`)",
        path.display()
    );
    path
}

/// A namespace prefix no other run uses: `tag`, this process's id and the clock's nanoseconds.
pub fn unique_prefix(tag: &str) -> String {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .subsec_nanos();
    format!("{tag}{}-{}", std::process::id(), nanos % 100_000)
}

/// Fresh files under `dir` for one command's stdout and stderr.
fn output_files(dir: &Path) -> (PathBuf, PathBuf) {
    static NEXT: AtomicUsize = AtomicUsize::new(0);
    let n = NEXT.fetch_add(1, Ordering::Relaxed);
    (
        dir.join(format!("out{n}.txt")),
        dir.join(format!("err{n}.txt")),
    )
}

/// A command running in the background with its output in files; killed (by its pid) if it
/// is dropped before it ended.
pub struct Background {
    child: Child,
    what: String,
    out: PathBuf,
    err: PathBuf,
    reaped: bool,
}

impl Background {
    /// Starts `cmd` with its output in files under `dir`.
    pub fn spawn(cmd: &mut Command, dir: &Path) -> Self {
        let (out, err) = output_files(dir);
        let child = cmd
            .stdin(Stdio::null())
            .stdout(File::create(&out).unwrap())
            .stderr(File::create(&err).unwrap())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot run {cmd:?}: {e}"));
        Self {
            child,
            what: format!("{cmd:?}"),
            out,
            err,
            reaped: false,
        }
    }

    /// Whether it has ended.
    pub fn finished(&mut self) -> bool {
        self.child.try_wait().unwrap().is_some()
    }

    /// Waits for the command to end and returns its output; kills it and fails the test if it
    /// takes longer than `limit`.
    pub fn wait(&mut self, limit: Duration) -> Output {
        let end = Instant::now() + limit;
        let status: ExitStatus = loop {
            if let Some(s) = self.child.try_wait().unwrap() {
                break s;
            }
            if Instant::now() >= end {
                let _ = self.child.kill();
                let _ = self.child.wait();
                self.reaped = true;
                panic!(
                    "{} did not finish within {limit:?}; stderr:\n{}",
                    self.what,
                    fs::read_to_string(&self.err).unwrap_or_default()
                );
            }
            std::thread::sleep(Duration::from_millis(20));
        };
        self.reaped = true;
        Output {
            status,
            stdout: fs::read(&self.out).unwrap(),
            stderr: fs::read(&self.err).unwrap(),
        }
    }
}

impl Drop for Background {
    fn drop(&mut self) {
        if !self.reaped && self.child.try_wait().ok().flatten().is_none() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// Runs `cmd` with its output in files under `dir`, killing it (by its pid) after `limit`.
pub fn run(cmd: &mut Command, dir: &Path, limit: Duration) -> Output {
    Background::spawn(cmd, dir).wait(limit)
}

/// Bytes as text, invalid UTF-8 replaced.
pub fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

/// Fails the test with the command's output unless it succeeded; returns its stdout.
pub fn ok(o: Output, what: &str) -> String {
    assert!(
        o.status.success(),
        "{what} failed ({}):\nstdout:\n{}\nstderr:\n{}",
        o.status,
        text(&o.stdout),
        text(&o.stderr)
    );
    text(&o.stdout)
}

/// The namespaces named `<prefix>-...`, sorted.
pub fn namespaces_with(prefix: &str) -> Vec<String> {
    let start = format!("{prefix}-");
    let mut v: Vec<String> = fs::read_dir("/var/run/netns")
        .map(|d| {
            d.filter_map(Result::ok)
                .filter_map(|e| e.file_name().into_string().ok())
                .filter(|n| n.starts_with(&start))
                .collect()
        })
        .unwrap_or_default();
    v.sort();
    v
}

/// `Ip: ... ForwDatagrams ...` of a `/proc/net/snmp` text: the datagrams the kernel forwarded.
pub fn forwarded_datagrams(snmp: &str) -> u64 {
    let ip: Vec<&str> = snmp.lines().filter(|l| l.starts_with("Ip:")).collect();
    assert!(ip.len() >= 2, "no Ip lines in /proc/net/snmp: {snmp}");
    let names: Vec<&str> = ip[0].split_whitespace().collect();
    let values: Vec<&str> = ip[1].split_whitespace().collect();
    let at = names
        .iter()
        .position(|n| *n == "ForwDatagrams")
        .unwrap_or_else(|| panic!("no ForwDatagrams in /proc/net/snmp: {snmp}"));
    values[at].parse().unwrap()
}

/// Brings the topology down if the test did not, then, as a last resort, stops any antsd left
/// in this run's namespaces and deletes the namespaces.
pub struct Guard {
    /// `ants-topo`.
    pub topo: PathBuf,
    /// The topology file.
    pub file: PathBuf,
    /// The run's namespace prefix.
    pub prefix: String,
    /// The run's state directory.
    pub state_dir: PathBuf,
    /// The run's scratch directory (removed).
    pub scratch: PathBuf,
    /// Set once the test brought the topology down itself.
    pub down: bool,
}

impl Drop for Guard {
    fn drop(&mut self) {
        if self.down {
            return;
        }
        let _ = Command::new(&self.topo)
            .arg("down")
            .arg(&self.file)
            .args(["--prefix", &self.prefix, "--state-dir"])
            .arg(&self.state_dir)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status();
        for ns in namespaces_with(&self.prefix) {
            let pids = Command::new("ip")
                .args(["netns", "pids", &ns])
                .output()
                .map(|o| text(&o.stdout))
                .unwrap_or_default();
            for pid in pids
                .split_whitespace()
                .filter_map(|p| p.parse::<i32>().ok())
            {
                let cmdline = fs::read(format!("/proc/{pid}/cmdline")).unwrap_or_default();
                if text(&cmdline).contains("antsd") {
                    // SAFETY: kill has no memory preconditions; the pid is an antsd of ours.
                    unsafe {
                        libc::kill(pid, libc::SIGKILL);
                    }
                }
            }
            let _ = Command::new("ip").args(["netns", "delete", &ns]).status();
        }
        let _ = fs::remove_dir_all(&self.scratch);
    }
}
