//! Looking at the machine: the namespaces `ip netns` knows, which processes are `antsd` and
//! in which namespaces they run, the tail of a daemon's log, and where `antsd` is.
//!
//! Read-only: it never creates, signals or removes anything.

use std::collections::HashMap;
use std::fs;
use std::io;
use std::os::unix::fs::MetadataExt as _;
use std::path::{Path, PathBuf};

use super::commands::io_error;
use super::{LOG_TAIL_LINES, NETNS_DIR, NetnsError};

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
pub(super) fn cmdline(pid: u32) -> Option<Vec<String>> {
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

pub(super) fn is_antsd_cmdline(args: &[String]) -> bool {
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
pub(super) fn processes_in(namespaces: &[String]) -> HashMap<String, Vec<u32>> {
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
