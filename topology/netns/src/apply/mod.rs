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
//!
//! This module holds the error type and the root check; each step has its own module:
//! `progress` (the progress line), `commands` (running `ip`, `tc` and sysctls, and commands
//! inside a namespace), `machine` (what the machine runs now), `up` and `down`.

mod commands;
mod down;
mod machine;
mod progress;
#[cfg(test)]
mod tests;
mod up;

use std::io;
use std::path::PathBuf;
use std::process::ExitStatus;
use std::time::Duration;

#[cfg(doc)]
use super::plan::Plan;
use super::plan::PlanError;
use super::state::{self, StateError};

pub use commands::{addresses_in, exec_in, set_sysctl};
pub use down::{DownReport, orphan_namespaces, teardown};
pub use machine::{find_antsd, is_live_antsd, list_namespaces, log_tail};
pub use progress::Progress;
pub use up::{UpOptions, UpReport, up};

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
