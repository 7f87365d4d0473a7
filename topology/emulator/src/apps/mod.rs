//! Applications on emulated nodes: the [`Application`] trait, its [`AppContext`], and the
//! built-in applications a topology file names (`ping`, `send`, `listen`).
//!
//! Owns what an application may do on its node: read the virtual time, register capsule
//! modules (by shipped capsule name or as bytes), inject capsules, set timers, listen on
//! application ports, look nodes and groups up by name; and what the built-in applications
//! record and report. An application is plain Rust driven by the emulator's virtual time.
//!
//! It never reaches another node, a link or the event queue directly: everything goes through
//! its own node core (as a local application of a real router would, through the application
//! socket) and through the timers and ports its context hands back to the emulator.

use std::collections::BTreeMap;
use std::net::IpAddr;
use std::time::Duration;

use ants_router::fingerprint::Fingerprint;
use ants_router::node::NodeError;
use ants_router::time::Timestamp;
use capsule_ping::{Kind, Ping, REPLY_PORT};
use serde::Serialize;
use serde_json::{Value, json};

use ants_topology::capsules::CapsuleError;
use ants_topology::model::{AppSpec, NodeId, Target, Topology};

mod context;

#[cfg(test)]
use context::capsule_label;
pub use context::{AppContext, AppNode, AppRequests, Modules};

/// Budget of each ping request: enough for any path of a generated topology and back.
pub const PING_BUDGET: u16 = 64;

/// Why an application could not do what it asked.
#[derive(Debug, thiserror::Error)]
pub enum AppError {
    /// A capsule module could not be found or read.
    #[error(transparent)]
    Capsule(#[from] CapsuleError),
    /// The node refused a module (it breaks the node API rules or limits).
    #[error("capsule `{name}`: {error}")]
    Module {
        /// The capsule's name or label.
        name: String,
        /// Why the node refused it.
        error: NodeError,
    },
    /// The node refused a capsule (unknown protocol, payload too large, budget 0).
    #[error(transparent)]
    Node(#[from] NodeError),
    /// The application's own reason.
    #[error("{0}")]
    Other(String),
}

/// A payload a capsule delivered to an application port of this node.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AppDelivery {
    /// When (virtual time).
    pub at: Timestamp,
    /// Application port.
    pub port: u16,
    /// The delivering capsule's source address.
    pub source: IpAddr,
    /// The delivering capsule's type.
    pub fingerprint: Fingerprint,
    /// The payload.
    pub payload: Vec<u8>,
}

/// An application running on one host or active node, driven by the emulator.
///
/// The emulator calls [`Application::start`] once when the application is added (at the
/// current virtual time), [`Application::on_delivery`] for every payload delivered on a port
/// the application listens on ([`AppContext::listen`]), and [`Application::on_timer`] when a
/// timer it set ([`AppContext::set_timer`]) expires, with the token it gave. Every call gets a
/// fresh [`AppContext`] for its node; capsules sent during a call leave when the call returns,
/// at the same virtual time.
///
/// ```no_run
/// use ants_emulator::{AppContext, AppDelivery, AppError, Application};
/// use serde_json::{Value, json};
/// use std::time::Duration;
///
/// /// Sends one `forward` capsule to node `h2` every 10 ms and counts what comes back on port 1.
/// struct Chatter { fp: Option<ants_router::fingerprint::Fingerprint>, got: u64 }
///
/// impl Application for Chatter {
///     fn name(&self) -> String { "chatter".into() }
///     fn start(&mut self, ctx: &mut AppContext<'_>) -> Result<(), AppError> {
///         self.fp = Some(ctx.register_capsule("forward")?);
///         ctx.listen(1);
///         ctx.set_timer(Duration::ZERO, 0);
///         Ok(())
///     }
///     fn on_timer(&mut self, ctx: &mut AppContext<'_>, _token: u64) {
///         if let (Some(fp), Some(h2)) = (self.fp, ctx.node_id("h2")) {
///             let _ = ctx.send_capsule(fp, ctx.node_address(h2), 16, b"hello");
///         }
///         ctx.set_timer(Duration::from_millis(10), 0);
///     }
///     fn on_delivery(&mut self, _ctx: &mut AppContext<'_>, _d: &AppDelivery) { self.got += 1; }
///     fn report(&self) -> Value { json!({ "received": self.got }) }
/// }
/// ```
pub trait Application {
    /// A short label for tables, such as `ping h1 -> h2`.
    fn name(&self) -> String;

    /// Called once, when the application is added. An error stops the emulator from being
    /// built (for the file's applications) or is returned by
    /// [`Emulator::add_app`](super::Emulator::add_app).
    fn start(&mut self, ctx: &mut AppContext<'_>) -> Result<(), AppError>;

    /// A payload arrived on a port this application listens on.
    fn on_delivery(&mut self, ctx: &mut AppContext<'_>, delivery: &AppDelivery) {
        let _ = (ctx, delivery);
    }

    /// A timer set with [`AppContext::set_timer`] expired.
    fn on_timer(&mut self, ctx: &mut AppContext<'_>, token: u64) {
        let _ = (ctx, token);
    }

    /// What the application observed, for the report (deterministic for a given run).
    fn report(&self) -> Value;

    /// One line for the text tables; by default the report as compact JSON.
    fn summary(&self) -> String {
        self.report().to_string()
    }
}

/// Milliseconds of a duration, for reports.
pub(crate) fn ms(d: Duration) -> f64 {
    d.as_nanos() as f64 / 1e6
}

/// Milliseconds since the start of the run, for reports.
pub(crate) fn at_ms(t: Timestamp) -> f64 {
    t.as_nanos() as f64 / 1e6
}

/// Capsules an application could not inject: how many, and why the first one failed.
#[derive(Debug, Default)]
struct SendErrors {
    count: u64,
    first: Option<String>,
}

impl SendErrors {
    fn record(&mut self, e: &AppError) {
        self.count += 1;
        self.first.get_or_insert_with(|| e.to_string());
    }

    /// The summary's clause about failed sends; empty when none failed.
    fn summary(&self) -> String {
        match &self.first {
            Some(e) => format!("; {} send errors (first: {e})", self.count),
            None => String::new(),
        }
    }
}

/// The application a file's [`AppSpec`] describes.
pub fn builtin(spec: &AppSpec, topology: &Topology) -> Box<dyn Application> {
    let name = |id: NodeId| topology.nodes[id].name.clone();
    match spec {
        AppSpec::Ping {
            node,
            to,
            count,
            interval,
            start,
        } => Box::new(PingApp::new(
            name(*node),
            *to,
            name(*to),
            *count,
            *interval,
            *start,
        )),
        AppSpec::Send {
            node,
            protocol,
            to,
            count,
            interval,
            start,
            budget,
            payload,
        } => Box::new(SendApp {
            from: name(*node),
            protocol: protocol.clone(),
            target: to.clone(),
            target_label: match to {
                Target::Node(id) => name(*id),
                Target::Group(g) => format!("group {g}"),
            },
            count: *count,
            interval: *interval,
            start: *start,
            budget: *budget,
            payload: payload.clone(),
            fingerprint: None,
            destinations: Vec::new(),
            rounds: 0,
            sent: 0,
            errors: SendErrors::default(),
        }),
        AppSpec::Listen { node, port } => Box::new(ListenApp::new(name(*node), *port)),
    }
}

/// One ping reply.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct PingReply {
    /// Request number (0-based).
    pub id: u32,
    /// When the reply arrived (ms since the start).
    pub at_ms: f64,
    /// Round-trip time in milliseconds.
    pub rtt_ms: f64,
    /// Active nodes that evaluated the request, both ends included.
    pub hops: u16,
    /// Their names, in order.
    pub path: Vec<String>,
}

/// `ping`: sends ping capsules to one node and records every reply's round trip and path.
#[derive(Debug)]
pub struct PingApp {
    from: String,
    to: NodeId,
    to_name: String,
    count: u32,
    interval: Duration,
    start: Duration,
    fingerprint: Option<Fingerprint>,
    sent: u32,
    errors: SendErrors,
    replies: Vec<PingReply>,
}

impl PingApp {
    /// Pings node `to` (called `to_name`) `count` times, `interval` apart, from `start`.
    pub fn new(
        from: String,
        to: NodeId,
        to_name: String,
        count: u32,
        interval: Duration,
        start: Duration,
    ) -> Self {
        PingApp {
            from,
            to,
            to_name,
            count,
            interval,
            start,
            fingerprint: None,
            sent: 0,
            errors: SendErrors::default(),
            replies: Vec::new(),
        }
    }

    /// Replies received so far, in arrival order.
    pub fn replies(&self) -> &[PingReply] {
        &self.replies
    }

    /// Distinct requests answered.
    fn answered(&self) -> u32 {
        let mut ids: Vec<u32> = self.replies.iter().map(|r| r.id).collect();
        ids.sort_unstable();
        ids.dedup();
        ids.len() as u32
    }
}

impl Application for PingApp {
    fn name(&self) -> String {
        format!("ping {} -> {}", self.from, self.to_name)
    }

    fn start(&mut self, ctx: &mut AppContext<'_>) -> Result<(), AppError> {
        self.fingerprint = Some(ctx.register_capsule("ping")?);
        ctx.listen(REPLY_PORT);
        if self.count > 0 {
            ctx.set_timer(self.start, 0);
        }
        Ok(())
    }

    fn on_timer(&mut self, ctx: &mut AppContext<'_>, token: u64) {
        let Some(fp) = self.fingerprint else { return };
        let id = token as u32;
        let request = Ping {
            kind: Kind::Request,
            id,
            sent_ns: ctx.now().as_nanos(),
            hops: 0,
            path: Vec::new(),
        };
        let result = postcard::to_allocvec(&request)
            .map_err(|e| AppError::Other(format!("ping payload: {e}")))
            .and_then(|payload| {
                let to = ctx.node_address(self.to);
                ctx.send_capsule(fp, to, PING_BUDGET, &payload)
            });
        self.sent += 1;
        if let Err(e) = result {
            self.errors.record(&e);
        }
        if id + 1 < self.count {
            ctx.set_timer(self.interval, u64::from(id + 1));
        }
    }

    fn on_delivery(&mut self, ctx: &mut AppContext<'_>, d: &AppDelivery) {
        if Some(d.fingerprint) != self.fingerprint || d.source != ctx.node_address(self.to) {
            return;
        }
        let Ok(reply) = postcard::from_bytes::<Ping>(&d.payload) else {
            return;
        };
        if reply.kind != Kind::Reply {
            return;
        }
        let rtt = Duration::from_nanos(d.at.as_nanos().saturating_sub(reply.sent_ns));
        let path = reply
            .path
            .iter()
            .map(|a| {
                let ip = a.to_ip();
                ctx.name_of(ip)
                    .map_or_else(|| ip.to_string(), str::to_string)
            })
            .collect();
        self.replies.push(PingReply {
            id: reply.id,
            at_ms: at_ms(d.at),
            rtt_ms: ms(rtt),
            hops: reply.hops,
            path,
        });
    }

    fn report(&self) -> Value {
        let rtts: Vec<f64> = self.replies.iter().map(|r| r.rtt_ms).collect();
        let rtt = (!rtts.is_empty()).then(|| {
            json!({
                "min": rtts.iter().copied().fold(f64::INFINITY, f64::min),
                "avg": rtts.iter().sum::<f64>() / rtts.len() as f64,
                "max": rtts.iter().copied().fold(0.0, f64::max),
            })
        });
        json!({
            "kind": "ping",
            "from": self.from,
            "to": self.to_name,
            "sent": self.sent,
            "received": self.replies.len(),
            "lost": self.sent.saturating_sub(self.answered()),
            "send_errors": self.errors.count,
            "first_error": self.errors.first,
            "rtt_ms": rtt,
            "replies": self.replies,
        })
    }

    fn summary(&self) -> String {
        let mut s = format!(
            "{} sent, {} replies, {} lost",
            self.sent,
            self.replies.len(),
            self.sent.saturating_sub(self.answered())
        );
        if !self.replies.is_empty() {
            let rtts = self.replies.iter().map(|r| r.rtt_ms);
            let min = rtts.clone().fold(f64::INFINITY, f64::min);
            let max = rtts.clone().fold(0.0, f64::max);
            let avg = rtts.sum::<f64>() / self.replies.len() as f64;
            s += &format!("; rtt min/avg/max {min:.3}/{avg:.3}/{max:.3} ms");
            let last = &self.replies[self.replies.len() - 1];
            s += &format!("; {} active hops: {}", last.hops, last.path.join(" > "));
        }
        s + &self.errors.summary()
    }
}

/// `send`: sends capsules of one protocol to a node, or to every member of a group.
#[derive(Debug)]
pub struct SendApp {
    from: String,
    protocol: String,
    target: Target,
    target_label: String,
    count: u32,
    interval: Duration,
    start: Duration,
    budget: u16,
    payload: Vec<u8>,
    fingerprint: Option<Fingerprint>,
    destinations: Vec<IpAddr>,
    rounds: u32,
    sent: u64,
    errors: SendErrors,
}

impl Application for SendApp {
    fn name(&self) -> String {
        format!(
            "send {} {} -> {}",
            self.protocol, self.from, self.target_label
        )
    }

    fn start(&mut self, ctx: &mut AppContext<'_>) -> Result<(), AppError> {
        self.fingerprint = Some(ctx.register_capsule(&self.protocol)?);
        let me = ctx.node();
        let members: Vec<NodeId> = match &self.target {
            Target::Node(id) => vec![*id],
            // Every member that runs a node core, except the sender itself.
            Target::Group(g) => ctx
                .group(g)
                .iter()
                .copied()
                .filter(|&m| m != me && ctx.topology().nodes[m].kind.runs_node_core())
                .collect(),
        };
        self.destinations = members.into_iter().map(|m| ctx.node_address(m)).collect();
        if self.count > 0 {
            ctx.set_timer(self.start, 0);
        }
        Ok(())
    }

    fn on_timer(&mut self, ctx: &mut AppContext<'_>, _token: u64) {
        let Some(fp) = self.fingerprint else { return };
        for &dst in &self.destinations {
            match ctx.send_capsule(fp, dst, self.budget, &self.payload) {
                Ok(()) => self.sent += 1,
                Err(e) => self.errors.record(&e),
            }
        }
        self.rounds += 1;
        if self.rounds < self.count {
            ctx.set_timer(self.interval, 0);
        }
    }

    fn report(&self) -> Value {
        json!({
            "kind": "send",
            "from": self.from,
            "protocol": self.protocol,
            "to": self.target_label,
            "destinations": self.destinations.len(),
            "sent": self.sent,
            "send_errors": self.errors.count,
            "first_error": self.errors.first,
        })
    }

    fn summary(&self) -> String {
        format!(
            "{} capsules sent to {} destination(s)",
            self.sent,
            self.destinations.len()
        ) + &self.errors.summary()
    }
}

/// `listen`: records what arrives on one port.
#[derive(Debug)]
pub struct ListenApp {
    node: String,
    port: u16,
    received: u64,
    bytes: u64,
    first: Option<Timestamp>,
    last: Option<Timestamp>,
    by_source: BTreeMap<String, u64>,
}

impl ListenApp {
    /// Listens on `port` of `node` (its name).
    pub fn new(node: String, port: u16) -> Self {
        ListenApp {
            node,
            port,
            received: 0,
            bytes: 0,
            first: None,
            last: None,
            by_source: BTreeMap::new(),
        }
    }

    /// Payloads received so far.
    pub fn received(&self) -> u64 {
        self.received
    }
}

impl Application for ListenApp {
    fn name(&self) -> String {
        format!("listen {}:{}", self.node, self.port)
    }

    fn start(&mut self, ctx: &mut AppContext<'_>) -> Result<(), AppError> {
        ctx.listen(self.port);
        Ok(())
    }

    fn on_delivery(&mut self, ctx: &mut AppContext<'_>, d: &AppDelivery) {
        if d.port != self.port {
            return;
        }
        self.received += 1;
        self.bytes += d.payload.len() as u64;
        self.first.get_or_insert(d.at);
        self.last = Some(d.at);
        let source = ctx
            .name_of(d.source)
            .map_or_else(|| d.source.to_string(), str::to_string);
        *self.by_source.entry(source).or_default() += 1;
    }

    fn report(&self) -> Value {
        json!({
            "kind": "listen",
            "node": self.node,
            "port": self.port,
            "received": self.received,
            "bytes": self.bytes,
            "first_ms": self.first.map(at_ms),
            "last_ms": self.last.map(at_ms),
            "by_source": self.by_source,
        })
    }

    fn summary(&self) -> String {
        let mut s = format!("{} received ({} bytes)", self.received, self.bytes);
        if let (Some(f), Some(l)) = (self.first, self.last) {
            s += &format!(", first at {:.3} ms, last at {:.3} ms", at_ms(f), at_ms(l));
        }
        if !self.by_source.is_empty() {
            let from: Vec<String> = self
                .by_source
                .iter()
                .take(4)
                .map(|(k, v)| format!("{k} {v}"))
                .collect();
            let more = self.by_source.len().saturating_sub(4);
            s += &format!("; from {}", from.join(", "));
            if more > 0 {
                s += &format!(" and {more} more");
            }
        }
        s
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn labels_of_capsule_names() {
        assert_eq!(capsule_label("forward"), "forward");
        assert_eq!(capsule_label("dir/my-cap.wasm"), "my-cap");
        assert_eq!(capsule_label("x.wasm"), "x");
    }
}
