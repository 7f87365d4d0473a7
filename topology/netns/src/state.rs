//! The state record of a topology brought up in namespaces: `<state dir>/state.json`.
//!
//! Owns [`State`], what `ants topo up` made so far (namespaces, daemon pids, files) and what
//! `exec` and `status` need to find a node (namespace, addresses, application socket), and its
//! reading and atomic writing. `up` writes the record before it creates anything and again
//! after each thing it creates, so `down` can remove all of it even after `up` crashed.
//!
//! It never creates or removes namespaces or processes; it only describes them.

use std::io;
use std::net::Ipv4Addr;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::plan::Plan;

/// File name of the record inside the state directory.
pub const STATE_FILE: &str = "state.json";

/// Version of the record's format; a record of another version is refused with a message.
pub const FORMAT: u32 = 1;

/// Why a state record could not be read or written.
#[derive(Debug, thiserror::Error)]
pub enum StateError {
    /// Reading or writing the file failed.
    #[error("state record {}: {source}", path.display())]
    Io {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        source: io::Error,
    },
    /// The file is not a state record of this version.
    #[error(
        "state record {} is not readable ({reason}); remove the namespaces by hand (`ip netns list`) and delete the file",
        path.display()
    )]
    Invalid {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        reason: String,
    },
}

/// A link interface of a node, as recorded.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct InterfaceRecord {
    /// Interface name.
    pub name: String,
    /// Its address.
    pub address: Ipv4Addr,
    /// Prefix length.
    pub prefix_len: u8,
    /// The node at the other end.
    pub peer: String,
}

/// A node, as recorded (what `exec` and `status` need).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct NodeRecord {
    /// Node name.
    pub name: String,
    /// `host`, `active` or `legacy`.
    pub kind: String,
    /// Its namespace.
    pub namespace: String,
    /// Its node address.
    pub address: Ipv4Addr,
    /// Its link interfaces.
    pub interfaces: Vec<InterfaceRecord>,
    /// Its daemon's application socket, on nodes that run one.
    pub app_socket: Option<PathBuf>,
}

/// A daemon `up` started.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct DaemonRecord {
    /// Node name.
    pub node: String,
    /// Process id.
    pub pid: u32,
    /// Its log file.
    pub log: PathBuf,
}

/// The record. See the module docs.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct State {
    /// [`FORMAT`].
    pub format: u32,
    /// Topology name.
    pub topology: String,
    /// The topology file `up` read, if any.
    pub file: Option<PathBuf>,
    /// Namespace prefix.
    pub prefix: String,
    /// The directory holding this record.
    pub state_dir: PathBuf,
    /// Whether `up` finished.
    pub complete: bool,
    /// Every node of the topology.
    pub nodes: Vec<NodeRecord>,
    /// Namespaces created (each recorded just before it is created).
    pub namespaces: Vec<String>,
    /// Daemons started.
    pub daemons: Vec<DaemonRecord>,
    /// Files written in the state directory (configurations, logs).
    pub files: Vec<PathBuf>,
}

impl State {
    /// A record of a plan before anything is created.
    pub fn new(plan: &Plan, file: Option<&Path>) -> State {
        let nodes = plan
            .nodes
            .iter()
            .map(|n| NodeRecord {
                name: n.name.clone(),
                kind: n.kind.name().to_string(),
                namespace: n.namespace.clone(),
                address: n.address,
                interfaces: n
                    .interfaces
                    .iter()
                    .map(|i| InterfaceRecord {
                        name: i.name.clone(),
                        address: i.address,
                        prefix_len: i.prefix_len,
                        peer: plan.nodes[i.peer].name.clone(),
                    })
                    .collect(),
                app_socket: n.daemon.as_ref().map(|d| d.app_socket.clone()),
            })
            .collect();
        State {
            format: FORMAT,
            topology: plan.topology.clone(),
            file: file.map(Path::to_path_buf),
            prefix: plan.prefix.clone(),
            state_dir: plan.state_dir.clone(),
            complete: false,
            nodes,
            namespaces: Vec::new(),
            daemons: Vec::new(),
            files: Vec::new(),
        }
    }

    /// The record's path in `dir`.
    pub fn path_in(dir: &Path) -> PathBuf {
        dir.join(STATE_FILE)
    }

    /// Reads the record in `dir`; `Ok(None)` when there is none.
    pub fn load(dir: &Path) -> Result<Option<State>, StateError> {
        let path = Self::path_in(dir);
        let text = match std::fs::read_to_string(&path) {
            Ok(t) => t,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
            Err(source) => return Err(StateError::Io { path, source }),
        };
        Self::parse(&text, &path).map(Some)
    }

    /// Parses a record read from `path`.
    pub fn parse(text: &str, path: &Path) -> Result<State, StateError> {
        let state: State = serde_json::from_str(text).map_err(|e| StateError::Invalid {
            path: path.to_path_buf(),
            reason: e.to_string(),
        })?;
        if state.format != FORMAT {
            return Err(StateError::Invalid {
                path: path.to_path_buf(),
                reason: format!("format {} where this version reads {FORMAT}", state.format),
            });
        }
        Ok(state)
    }

    /// Writes the record into its state directory: to a temporary file first, then renamed
    /// over the old one, so a crash never leaves half a record.
    pub fn save(&self) -> Result<(), StateError> {
        let path = Self::path_in(&self.state_dir);
        let tmp = self.state_dir.join(format!(".{STATE_FILE}.tmp"));
        let io = |source| StateError::Io {
            path: path.clone(),
            source,
        };
        let text = serde_json::to_string_pretty(self).map_err(|e| io(io::Error::other(e)))?;
        std::fs::write(&tmp, text).map_err(io)?;
        std::fs::rename(&tmp, &path).map_err(io)
    }

    /// The node called `name`.
    pub fn node(&self, name: &str) -> Option<&NodeRecord> {
        self.nodes.iter().find(|n| n.name == name)
    }

    /// The daemon of node `name`.
    pub fn daemon(&self, name: &str) -> Option<&DaemonRecord> {
        self.daemons.iter().find(|d| d.node == name)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ants_topology::model::{NodeKind, TopologyBuilder};
    use ants_topology::routes::Routes;

    #[test]
    fn saves_atomically_and_reads_back() {
        let dir = tempfile::tempdir().unwrap();
        let mut b = TopologyBuilder::new("t");
        b.node("a1", NodeKind::Active, None)
            .node("l1", NodeKind::Legacy, None)
            .link("a1", "l1");
        let t = b.build().unwrap();
        let plan = Plan::new(&t, &Routes::compute(&t), "p", dir.path()).unwrap();
        assert_eq!(State::load(dir.path()).unwrap(), None);

        let mut s = State::new(&plan, Some(Path::new("/x/t.toml")));
        s.namespaces.push("p-a1".into());
        s.daemons.push(DaemonRecord {
            node: "a1".into(),
            pid: 42,
            log: dir.path().join("a1.log"),
        });
        s.save().unwrap();
        let back = State::load(dir.path()).unwrap().unwrap();
        assert_eq!(back, s);
        assert_eq!(back.node("a1").unwrap().interfaces[0].peer, "l1");
        assert_eq!(
            back.node("a1").unwrap().app_socket.as_deref(),
            Some(dir.path().join("a1.sock").as_path())
        );
        assert!(back.node("l1").unwrap().app_socket.is_none());
        assert_eq!(back.daemon("a1").unwrap().pid, 42);
        // Only the record is left: the temporary file was renamed.
        let names: Vec<_> = std::fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(names, [STATE_FILE]);

        std::fs::write(State::path_in(dir.path()), "{ not json").unwrap();
        let e = State::load(dir.path()).unwrap_err().to_string();
        assert!(e.contains("not readable"), "{e}");
        let other = serde_json::to_string(&State { format: 9, ..s }).unwrap();
        let e = State::parse(&other, Path::new("s.json"))
            .unwrap_err()
            .to_string();
        assert!(e.contains("format 9"), "{e}");
    }
}
