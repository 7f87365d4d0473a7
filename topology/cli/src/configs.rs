//! `ants topo configs`: one `antsd` configuration per node that runs a node core (hosts and
//! active routers), for real Linux hosts instead of namespaces.
//!
//! Owns mapping node names to the real socket addresses of their hosts (`--host`, `--hosts`),
//! the host-side paths written into each file (application socket, code store, pinned modules)
//! and writing the files and the pinned modules into the output directory. What a node's file
//! says about the network (neighbours, peers, routes) comes from the namespace deployer's
//! [`ants_netns::plan::daemon_config`], and the text from `ConfigWriter`: this module never
//! writes configuration text itself, never contacts a host and never installs anything.

use std::collections::BTreeMap;
use std::net::{IpAddr, SocketAddr};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use ants_daemon::config::{DEFAULT_PORT, DriverLimits};
use ants_topology::capsules::CapsuleLocator;
use ants_topology::model::{NodeId, Topology};
use ants_topology::routes::Routes;
use clap::Args;

/// Where a configuration is installed on its host (the systemd unit reads `/etc/antsd/%i.toml`).
pub const INSTALL_DIR: &str = "/etc/antsd";

/// Arguments of `ants topo configs`.
#[derive(Args, Debug)]
pub struct ConfigsArgs {
    /// The topology file.
    pub file: PathBuf,
    /// Directory the configurations (`<node>.toml`) and pinned modules (`modules/`) are
    /// written to; created if missing.
    #[arg(long, value_name = "DIR")]
    pub out: PathBuf,
    /// The real address of a node's host, `NODE=ADDR` or `NODE=ADDR:PORT` (`[v6]:PORT`);
    /// the port defaults to 3322. Repeat for each node; unmapped nodes keep their topology
    /// address.
    #[arg(long = "host", value_name = "NODE=ADDR[:PORT]")]
    pub hosts: Vec<String>,
    /// A file of host addresses, one `NODE = "ADDR[:PORT]"` line each (TOML); `--host`
    /// entries override it.
    #[arg(long = "hosts", value_name = "FILE")]
    pub hosts_file: Option<PathBuf>,
    /// Directory of the application sockets on the hosts (`<dir>/<node>.sock`).
    #[arg(long, value_name = "DIR", default_value = "/run/antsd")]
    pub socket_dir: PathBuf,
    /// Directory of the code stores on the hosts (`<dir>/<node>`).
    #[arg(long, value_name = "DIR", default_value = "/var/lib/antsd")]
    pub state_dir: PathBuf,
    /// A module every daemon pins at start: a capsule name (`ping`) looked up like the
    /// emulator does, or a `.wasm` file. Copied to `<out>/modules/`; the files name it
    /// relative to their own directory. Repeatable.
    #[arg(long = "pin", value_name = "CAPSULE")]
    pub pins: Vec<String>,
    /// Directory of the built capsules (default: `$ANTS_CAPSULES`, else
    /// `capsules/target/wasm32-unknown-unknown/release` found above the file or here).
    #[arg(long, value_name = "DIR")]
    pub capsules: Option<PathBuf>,
}

/// Why no configuration was written.
#[derive(Debug, thiserror::Error)]
pub enum ConfigsError {
    /// A mapping names a node the topology does not have.
    #[error("{origin}: no node `{node}` in topology `{topology}` (nodes that run antsd: {known})")]
    UnknownNode {
        /// `--host` or the hosts file.
        origin: String,
        /// The name given.
        node: String,
        /// Topology name.
        topology: String,
        /// The nodes that run `antsd`.
        known: String,
    },
    /// A mapping names a node that runs no daemon.
    #[error(
        "{origin}: `{node}` is a {kind} node and runs no antsd, so it has no host to map; map only hosts and active routers"
    )]
    NotADaemon {
        /// `--host` or the hosts file.
        origin: String,
        /// Node name.
        node: String,
        /// Its kind.
        kind: String,
    },
    /// A mapping is not `NODE=ADDR[:PORT]` or its address is not an IP address.
    #[error("{origin}: {reason}")]
    BadMapping {
        /// `--host` or the hosts file.
        origin: String,
        /// What is wrong.
        reason: String,
    },
    /// The hosts file cannot be read or is not `NODE = "ADDR"` lines.
    #[error("hosts file {}: {reason}", path.display())]
    HostsFile {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        reason: String,
    },
    /// Two nodes would receive on the same socket.
    #[error(
        "`{a}` and `{b}` are both mapped to {socket}: two daemons cannot share a socket; give one another port"
    )]
    SharedSocket {
        /// First node.
        a: String,
        /// Second node.
        b: String,
        /// The socket.
        socket: SocketAddr,
    },
    /// The topology has no node that runs `antsd`.
    #[error(
        "topology `{0}` has no host or active node: there is no antsd to configure (legacy routers run none)"
    )]
    NoDaemon(String),
    /// A host-side directory is relative.
    #[error("{option} {} must be an absolute path (it is a path on the target hosts)", path.display())]
    RelativeHostPath {
        /// The option.
        option: &'static str,
        /// The path.
        path: PathBuf,
    },
    /// A pinned module cannot be found or read.
    #[error("--pin {name}: {reason}")]
    Pin {
        /// The name given.
        name: String,
        /// What is wrong.
        reason: String,
    },
    /// The output directory or a file in it cannot be written.
    #[error("cannot write {}: {error}; choose a writable --out directory", path.display())]
    Output {
        /// The path.
        path: PathBuf,
        /// The system's reason.
        error: std::io::Error,
    },
}

/// One written configuration.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Written {
    /// Node name (also the systemd instance name).
    pub node: String,
    /// The file in the output directory.
    pub path: PathBuf,
    /// The socket its daemon listens on (where the other routers send).
    pub socket: SocketAddr,
}

/// Runs the command and prints what to copy where.
pub fn run(args: ConfigsArgs) -> anyhow::Result<ExitCode> {
    let written = write(&args)?;
    let pins = !args.pins.is_empty();
    println!(
        "wrote {} antsd configurations to {}:",
        written.len(),
        args.out.display()
    );
    for w in &written {
        println!(
            "  {:<12} host {:<22} copy {} to {INSTALL_DIR}/{}.toml{}, then: systemctl enable --now antsd@{}",
            w.node,
            w.socket.ip().to_string(),
            w.path.display(),
            w.node,
            if pins {
                format!(
                    " and {}/modules/ to {INSTALL_DIR}/modules/",
                    args.out.display()
                )
            } else {
                String::new()
            },
            w.node
        );
    }
    let mut ports: Vec<u16> = written.iter().map(|w| w.socket.port()).collect();
    ports.sort_unstable();
    ports.dedup();
    let ports: Vec<String> = ports.iter().map(u16::to_string).collect();
    println!(
        "open UDP port {} between these hosts; the unit is examples/systemd/antsd@.service (docs/daemon.md, Deploy on several Linux hosts)",
        ports.join(", ")
    );
    Ok(ExitCode::SUCCESS)
}

/// Writes the configurations (and pinned modules) for `args`; returns them in node order.
pub fn write(args: &ConfigsArgs) -> Result<Vec<Written>, anyhow::Error> {
    let topology = ants_topology::file::load(&args.file)?;
    let routes = Routes::compute(&topology);
    for (option, path) in [
        ("--socket-dir", &args.socket_dir),
        ("--state-dir", &args.state_dir),
    ] {
        if !path.is_absolute() {
            return Err(ConfigsError::RelativeHostPath {
                option,
                path: path.clone(),
            }
            .into());
        }
    }
    let daemons: Vec<NodeId> = (0..topology.nodes.len())
        .filter(|&n| topology.nodes[n].kind.runs_node_core())
        .collect();
    if daemons.is_empty() {
        return Err(ConfigsError::NoDaemon(topology.name.clone()).into());
    }
    let sockets = host_sockets(&topology, args)?;

    // Resolved before anything is written, so a missing module leaves no half output.
    let locator = CapsuleLocator::new(args.capsules.as_deref(), Some(&args.file));
    let mut modules: BTreeMap<String, PathBuf> = BTreeMap::new();
    for name in &args.pins {
        let pin_error = |reason: String| ConfigsError::Pin {
            name: name.clone(),
            reason,
        };
        let source = locator.path(name).map_err(|e| pin_error(e.to_string()))?;
        if !source.is_file() {
            return Err(pin_error(format!("{} is not a file", source.display())).into());
        }
        let file_name = source
            .file_name()
            .map(|f| f.to_string_lossy().into_owned())
            .ok_or_else(|| pin_error("no file name".into()))?;
        modules.insert(file_name, source);
    }

    let output = |path: &Path, error| ConfigsError::Output {
        path: path.to_path_buf(),
        error,
    };
    std::fs::create_dir_all(&args.out).map_err(|e| output(&args.out, e))?;
    if !modules.is_empty() {
        let dir = args.out.join("modules");
        std::fs::create_dir_all(&dir).map_err(|e| output(&dir, e))?;
        for (file_name, source) in &modules {
            let target = dir.join(file_name);
            std::fs::copy(source, &target).map_err(|e| output(&target, e))?;
        }
    }

    let mut written = Vec::with_capacity(daemons.len());
    for node in daemons {
        let n = &topology.nodes[node];
        let socket = sockets[node];
        let mut config = ants_netns::plan::daemon_config(&topology, &routes, node, &|m| sockets[m]);
        config
            .comment(format!(
                "antsd of node `{}` ({}) in topology `{}`, written by `ants topo configs`.",
                n.name, n.kind, topology.name
            ))
            .comment(format!(
                "Install as {INSTALL_DIR}/{}.toml on the host at {}; run with systemctl enable --now antsd@{}.",
                n.name,
                socket.ip(),
                n.name
            ))
            // The mapped socket, not a wildcard: replies then leave from the address the other
            // routers know this node by.
            .listen(socket)
            .app_socket(args.socket_dir.join(format!("{}.sock", n.name)));
        for file_name in modules.keys() {
            // Relative to the file's directory: right both here (for `antsd --check`) and in
            // the install directory once `modules/` is copied next to it.
            config.pin(Path::new("modules").join(file_name));
        }
        config.driver(&DriverLimits {
            code_store: Some(args.state_dir.join(&n.name)),
            ..DriverLimits::default()
        });
        let path = args.out.join(format!("{}.toml", n.name));
        std::fs::write(&path, config.to_toml()).map_err(|e| output(&path, e))?;
        written.push(Written {
            node: n.name.clone(),
            path,
            socket,
        });
    }
    Ok(written)
}

/// The socket of every node: its mapped host, else its topology address; port 3322 unless
/// given.
fn host_sockets(topology: &Topology, args: &ConfigsArgs) -> Result<Vec<SocketAddr>, ConfigsError> {
    let mut sockets: Vec<SocketAddr> = topology
        .nodes
        .iter()
        .map(|n| SocketAddr::new(IpAddr::V4(n.address), DEFAULT_PORT))
        .collect();
    let mut entries: Vec<(String, String, String)> = Vec::new();
    if let Some(path) = &args.hosts_file {
        let origin = path.display().to_string();
        for (node, addr) in read_hosts_file(path)? {
            entries.push((origin.clone(), node, addr));
        }
    }
    for h in &args.hosts {
        let origin = format!("--host {h}");
        let Some((node, addr)) = h.split_once('=') else {
            return Err(ConfigsError::BadMapping {
                origin,
                reason: "expected NODE=ADDR or NODE=ADDR:PORT".into(),
            });
        };
        entries.push((origin, node.trim().to_string(), addr.trim().to_string()));
    }
    let mut mapped = vec![false; sockets.len()];
    for (origin, node, addr) in entries {
        let Some(id) = topology.nodes.iter().position(|n| n.name == node) else {
            let known: Vec<&str> = topology
                .nodes
                .iter()
                .filter(|n| n.kind.runs_node_core())
                .map(|n| n.name.as_str())
                .collect();
            return Err(ConfigsError::UnknownNode {
                origin,
                node,
                topology: topology.name.clone(),
                known: known.join(", "),
            });
        };
        if !topology.nodes[id].kind.runs_node_core() {
            return Err(ConfigsError::NotADaemon {
                origin,
                node,
                kind: topology.nodes[id].kind.to_string(),
            });
        }
        sockets[id] = parse_host(&addr).map_err(|reason| ConfigsError::BadMapping {
            origin,
            reason: format!("`{node}`: {reason}"),
        })?;
        mapped[id] = true;
    }
    let daemons: Vec<NodeId> = (0..sockets.len())
        .filter(|&n| topology.nodes[n].kind.runs_node_core())
        .collect();
    for (i, &a) in daemons.iter().enumerate() {
        for &b in &daemons[i + 1..] {
            if sockets[a] == sockets[b] && (mapped[a] || mapped[b]) {
                return Err(ConfigsError::SharedSocket {
                    a: topology.nodes[a].name.clone(),
                    b: topology.nodes[b].name.clone(),
                    socket: sockets[a],
                });
            }
        }
    }
    Ok(sockets)
}

/// `ADDR` (port 3322) or `ADDR:PORT` / `[V6]:PORT`.
fn parse_host(text: &str) -> Result<SocketAddr, String> {
    if let Ok(socket) = text.parse::<SocketAddr>() {
        if socket.port() == 0 {
            return Err(format!(
                "`{text}`: port 0 is not a port other routers can send to"
            ));
        }
        return Ok(socket);
    }
    text.parse::<IpAddr>()
        .map(|ip| SocketAddr::new(ip, DEFAULT_PORT))
        .map_err(|_| {
            format!("`{text}` is not an IP address or IP:PORT (host names are not resolved: give the address)")
        })
}

/// `NODE = "ADDR[:PORT]"` lines (a flat TOML table), in file order.
fn read_hosts_file(path: &Path) -> Result<Vec<(String, String)>, ConfigsError> {
    let bad = |reason: String| ConfigsError::HostsFile {
        path: path.to_path_buf(),
        reason,
    };
    let text = std::fs::read_to_string(path).map_err(|e| bad(e.to_string()))?;
    let table: toml::Table = text
        .parse()
        .map_err(|e: toml::de::Error| bad(e.to_string().trim_end().to_string()))?;
    table
        .into_iter()
        .map(|(node, value)| match value {
            toml::Value::String(addr) => Ok((node, addr)),
            other => Err(bad(format!(
                "`{node}` is a {}; write NODE = \"ADDR\" or NODE = \"ADDR:PORT\"",
                other.type_str()
            ))),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn host_addresses_parse_with_or_without_port() {
        assert_eq!(
            parse_host("192.0.2.1"),
            Ok("192.0.2.1:3322".parse().unwrap())
        );
        assert_eq!(
            parse_host("192.0.2.1:4000"),
            Ok("192.0.2.1:4000".parse().unwrap())
        );
        assert_eq!(
            parse_host("[2001:db8::1]:4000"),
            Ok("[2001:db8::1]:4000".parse().unwrap())
        );
        assert_eq!(
            parse_host("2001:db8::1"),
            Ok("[2001:db8::1]:3322".parse().unwrap())
        );
        assert!(
            parse_host("router1.example")
                .unwrap_err()
                .contains("not resolved")
        );
        assert!(parse_host("192.0.2.1:0").unwrap_err().contains("port 0"));
    }
}
