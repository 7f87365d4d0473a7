//! What an application may do on its node during one call: its [`AppContext`], the node
//! behind it ([`AppNode`]: the emulator's node core, or a real `antsd`), and the capsule
//! modules a run reads once ([`Modules`]).
//!
//! It never runs the application or keeps its timers: the loop that drives it (the emulator's
//! virtual time, or a real-time runner) reads back what a call asked for ([`AppRequests`]).

use std::collections::BTreeMap;
use std::net::IpAddr;
use std::time::Duration;

use ants_router::fingerprint::Fingerprint;
use ants_router::node::{Node, NodeError};
use ants_router::time::Timestamp;
use ants_topology::capsules::{CapsuleError, CapsuleLocator};
use ants_topology::model::{NodeId, Topology};

use super::AppError;

/// The node an application runs on, as the application uses it. The emulator's node core is
/// one; a real `antsd` reached through its application socket is another, so the same
/// [`Application`](super::Application) runs in both.
pub trait AppNode {
    /// Registers (pins) `module`, called `label` in errors, at `now`; returns its fingerprint.
    fn register(
        &mut self,
        now: Timestamp,
        label: &str,
        module: Vec<u8>,
    ) -> Result<Fingerprint, AppError>;

    /// Injects a capsule of a registered protocol at `now`.
    fn send_capsule(
        &mut self,
        now: Timestamp,
        fingerprint: Fingerprint,
        destination: IpAddr,
        budget: u16,
        payload: &[u8],
    ) -> Result<(), AppError>;

    /// The node core itself, read-only, where the application runs beside it (the emulator).
    fn core(&self) -> Option<&Node> {
        None
    }
}

impl AppNode for Node {
    fn register(
        &mut self,
        now: Timestamp,
        label: &str,
        module: Vec<u8>,
    ) -> Result<Fingerprint, AppError> {
        self.register_protocol(now, module)
            .map_err(|error: NodeError| AppError::Module {
                name: label.to_string(),
                error,
            })
    }

    fn send_capsule(
        &mut self,
        now: Timestamp,
        fingerprint: Fingerprint,
        destination: IpAddr,
        budget: u16,
        payload: &[u8],
    ) -> Result<(), AppError> {
        Node::send_capsule(self, now, fingerprint, destination, budget, payload)?;
        Ok(())
    }

    fn core(&self) -> Option<&Node> {
        Some(self)
    }
}

/// What one call of an application asked of the loop that drives it.
#[derive(Debug, Default)]
pub struct AppRequests {
    /// Timers set during the call: when, token.
    pub timers: Vec<(Timestamp, u64)>,
    /// Ports listened on during the call.
    pub ports: Vec<u16>,
}

/// Capsule modules read once per run, and the names of the protocols they define.
#[derive(Debug, Default)]
pub struct Modules {
    /// Capsule name (as given) → module bytes.
    bytes: BTreeMap<String, Vec<u8>>,
    /// Fingerprint → label for output.
    pub(crate) labels: BTreeMap<Fingerprint, String>,
}

impl Modules {
    /// The label of a fingerprint: the capsule's name if known, else the first 12 hex digits.
    pub fn label(&self, fp: &Fingerprint) -> String {
        self.labels
            .get(fp)
            .cloned()
            .unwrap_or_else(|| fp.to_string().chars().take(12).collect())
    }

    /// The module bytes of capsule `name`, read through `locator` the first time.
    pub(crate) fn load(
        &mut self,
        locator: &CapsuleLocator,
        name: &str,
    ) -> Result<Vec<u8>, CapsuleError> {
        if let Some(b) = self.bytes.get(name) {
            return Ok(b.clone());
        }
        let b = locator.load(name)?;
        self.bytes.insert(name.to_string(), b.clone());
        Ok(b)
    }
}

/// Label of a capsule name: `forward` stays, `dir/my-capsule.wasm` becomes `my-capsule`.
pub(crate) fn capsule_label(name: &str) -> String {
    match name.strip_suffix(".wasm") {
        Some(path) => std::path::Path::new(path)
            .file_name()
            .map_or_else(|| path.to_string(), |s| s.to_string_lossy().into_owned()),
        None => name.to_string(),
    }
}

/// What an application may do on its node during one call. See [`Application`].
pub struct AppContext<'a> {
    now: Timestamp,
    node: NodeId,
    topology: &'a Topology,
    host: &'a mut dyn AppNode,
    modules: &'a mut Modules,
    locator: &'a CapsuleLocator,
    requests: &'a mut AppRequests,
}

impl<'a> AppContext<'a> {
    /// The context of one call at `now` of an application on node `node` of `topology`,
    /// reaching its node through `host`; what the call asks for goes into `requests`.
    pub fn new(
        now: Timestamp,
        node: NodeId,
        topology: &'a Topology,
        host: &'a mut dyn AppNode,
        modules: &'a mut Modules,
        locator: &'a CapsuleLocator,
        requests: &'a mut AppRequests,
    ) -> Self {
        AppContext {
            now,
            node,
            topology,
            host,
            modules,
            locator,
            requests,
        }
    }
}

impl AppContext<'_> {
    /// Time now since the start of the run (virtual in the emulator).
    pub fn now(&self) -> Timestamp {
        self.now
    }

    /// The node this application runs on.
    pub fn node(&self) -> NodeId {
        self.node
    }

    /// This node's address.
    pub fn address(&self) -> IpAddr {
        IpAddr::V4(self.topology.nodes[self.node].address)
    }

    /// The whole network, read-only.
    pub fn topology(&self) -> &Topology {
        self.topology
    }

    /// The node called `name`.
    pub fn node_id(&self, name: &str) -> Option<NodeId> {
        self.topology.node_id(name)
    }

    /// The name of node `id` (`"?"` for an id outside the topology).
    pub fn node_name(&self, id: NodeId) -> &str {
        self.topology.nodes.get(id).map_or("?", |n| n.name.as_str())
    }

    /// The address of node `id` (unspecified for an id outside the topology).
    pub fn node_address(&self, id: NodeId) -> IpAddr {
        IpAddr::V4(
            self.topology
                .nodes
                .get(id)
                .map_or(std::net::Ipv4Addr::UNSPECIFIED, |n| n.address),
        )
    }

    /// The name of the node with address `addr`, if it is one.
    pub fn name_of(&self, addr: IpAddr) -> Option<&str> {
        let IpAddr::V4(v4) = addr else { return None };
        self.topology
            .node_by_address(v4)
            .map(|id| self.topology.nodes[id].name.as_str())
    }

    /// Members of group `name`, in node order (empty for an unknown group).
    pub fn group(&self, name: &str) -> &[NodeId] {
        self.topology.groups.get(name).map_or(&[], Vec::as_slice)
    }

    /// This node's core, read-only (counters, status, routing table), where the application
    /// runs beside it (in the emulator; `None` on a real daemon).
    pub fn core(&self) -> Option<&Node> {
        self.host.core()
    }

    /// Registers a shipped capsule (`forward`, `ping`, ...) or a `.wasm` path on this node
    /// (pinned, compiled after the compile delay) and returns its fingerprint. Registering
    /// twice is harmless.
    pub fn register_capsule(&mut self, name: &str) -> Result<Fingerprint, AppError> {
        let module = self.modules.load(self.locator, name)?;
        self.register(capsule_label(name), module)
    }

    /// Registers a module given as bytes, shown as `label` in the output.
    pub fn register_module(
        &mut self,
        label: &str,
        module: Vec<u8>,
    ) -> Result<Fingerprint, AppError> {
        self.register(label.to_string(), module)
    }

    fn register(&mut self, label: String, module: Vec<u8>) -> Result<Fingerprint, AppError> {
        let fp = self.host.register(self.now, &label, module)?;
        self.modules.labels.entry(fp).or_insert(label);
        Ok(fp)
    }

    /// Injects a capsule of a protocol registered on this node toward `destination`; it is
    /// evaluated on this node first (and waits there while the protocol compiles).
    pub fn send_capsule(
        &mut self,
        fingerprint: Fingerprint,
        destination: IpAddr,
        budget: u16,
        payload: &[u8],
    ) -> Result<(), AppError> {
        self.host
            .send_capsule(self.now, fingerprint, destination, budget, payload)
    }

    /// Calls [`Application::on_timer`] with `token` after `after` of virtual time.
    pub fn set_timer(&mut self, after: Duration, token: u64) {
        self.requests.timers.push((self.now + after, token));
    }

    /// Hands this application every payload delivered on `port` at this node (several
    /// applications may listen on one port; each gets every payload).
    pub fn listen(&mut self, port: u16) {
        self.requests.ports.push(port);
    }
}
