//! `up`: creating the namespaces, links, addresses, routes and link shaping of a [`Plan`] and
//! starting a daemon in each node's namespace, recording each step in the state before it is
//! taken; on failure, removing what was made.
//!
//! It never touches a namespace that already exists: a clash with any name of the plan stops
//! it before anything is created.

use std::collections::HashSet;
use std::fs::{self, File};
use std::os::unix::process::CommandExt as _;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use super::commands::{io_error, ip_batch, run, set_sysctl};
use super::down::teardown;
use super::machine::{list_namespaces, log_tail};
use super::{NetnsError, POLL, Progress, require_root};
use crate::plan::Plan;
use crate::state::{DaemonRecord, State};

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
        // An end whose daemon paces the link itself gets no second (kernel) bottleneck.
        let ends: Vec<&(String, String)> = [&link.a, &link.b]
            .into_iter()
            .zip(link.daemon_shaped)
            .filter_map(|(end, by_daemon)| (!by_daemon).then_some(end))
            .collect();
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
