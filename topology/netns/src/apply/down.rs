//! `down`: stopping the recorded (and found) daemons, removing the namespaces and the state
//! files, and reporting what it did; also finding namespaces a lost record left behind.
//!
//! It only signals processes that are `antsd` and recorded or running in its own namespaces,
//! and only deletes namespaces its record names or that carry its prefix.

use std::collections::HashSet;
use std::fs;
use std::io;
use std::path::{Path, PathBuf};
use std::time::Instant;

use super::commands::run;
use super::machine::{cmdline, is_antsd_cmdline, is_live_antsd, list_namespaces, processes_in};
use super::{KILL_GRACE, NetnsError, POLL, Progress, STOP_GRACE};
use crate::state::State;

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
