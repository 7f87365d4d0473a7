//! Running the programs the deployer needs: `ip` (one by one or as a batch inside a
//! namespace), `tc`, sysctl writes inside a namespace, and a command or an address listing
//! inside one of its namespaces for `exec` and `status`.
//!
//! It never decides what to create or remove (see `up` and `down`); a failed command comes
//! back as a [`NetnsError`] naming the command line and its output.

use std::ffi::OsString;
use std::fs::{self, File};
use std::io::{self, Write as _};
use std::os::fd::AsRawFd as _;
use std::path::Path;
use std::process::{Command, ExitStatus, Stdio};

use super::{NETNS_DIR, NetnsError};

fn command_line(program: &str, args: &[String]) -> String {
    let mut s = program.to_string();
    for a in args {
        s.push(' ');
        s.push_str(a);
    }
    s
}

/// Runs `program args`, feeding `input` on stdin; its stdout when it succeeds.
pub(super) fn run(
    program: &str,
    args: &[String],
    input: Option<&str>,
) -> Result<String, NetnsError> {
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
pub(super) fn ip_batch(namespace: &str, lines: &[String]) -> Result<(), NetnsError> {
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

pub(super) fn io_error(what: &'static str, path: &Path) -> impl FnOnce(io::Error) -> NetnsError {
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
