//! What a capsule evaluation sees of the node, and what it leaves behind.
//!
//! Owns [`NodeContext`] (the node's address, time, routing table and protocol state store,
//! lent to the sandbox for each evaluation) and [`Effects`] (the capsules to send, the
//! deliveries and the log records one evaluation produced). The sandbox only records effects;
//! carrying them out (transmitting, delivering) is the node core's job, never this module's.

use std::net::IpAddr;
use std::ops::Range;

use crate::routing::RoutingTable;
use crate::softstore::StateStore;
use crate::time::Timestamp;

/// The part of a node a capsule may look at or change, lent to the sandbox per evaluation.
///
/// The node core keeps one and passes `&mut` to [`Sandbox::evaluate`](super::Sandbox::evaluate);
/// the sandbox moves it into the capsule's store for the call and back afterwards, so the host
/// functions own it while the guest runs and no reference outlives the call.
#[derive(Debug)]
pub struct NodeContext {
    /// This node's address.
    pub address: IpAddr,
    /// Node time for this evaluation (fixed during it).
    pub now: Timestamp,
    /// Routes and neighbours (read-only for capsules).
    pub routing: RoutingTable,
    /// Protocol state; each capsule sees only its own protocol's partition. Boxed so that
    /// lending the context to an evaluation moves a pointer, not the whole store.
    pub state: Box<StateStore>,
    /// Effects of the last evaluation; cleared at the start of each.
    pub effects: Effects,
}

impl NodeContext {
    /// A context for a node at `address` with empty tables and default state limits.
    pub fn new(address: IpAddr) -> Self {
        NodeContext {
            address,
            now: Timestamp::ZERO,
            routing: RoutingTable::new(),
            state: Box::default(),
            effects: Effects::default(),
        }
    }
}

/// A reference to bytes held by [`Effects`] (payloads, log messages).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Bytes(Range<usize>);

/// Where a sent capsule goes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SendRoute {
    /// Toward its destination, by the routing table.
    Toward,
    /// To this neighbour directly.
    Via(IpAddr),
}

/// A capsule of the evaluated protocol that the evaluation asked the node to send.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SentCapsule {
    /// Source address the new capsule carries.
    pub source: IpAddr,
    /// Destination address.
    pub destination: IpAddr,
    /// How it leaves this node.
    pub route: SendRoute,
    /// Resource budget it carries (taken from the evaluated capsule's budget).
    pub budget: u16,
    /// Its payload; read with [`Effects::bytes`].
    pub payload: Bytes,
}

/// A payload the evaluation delivered to a local application port.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Delivery {
    /// Application port.
    pub port: u16,
    /// The payload; read with [`Effects::bytes`].
    pub payload: Bytes,
}

/// Log severity, as capsules give it (0 error .. 4 trace): the SDK's ABI type, so both
/// sides of the node API name the same levels.
pub use capsule_sdk::abi::Level as LogLevel;

/// A log message a capsule emitted (already rate limited and truncated).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LogRecord {
    /// Severity.
    pub level: LogLevel,
    /// UTF-8 text (invalid sequences replaced); read with [`Effects::text`].
    pub message: Bytes,
}

/// Everything one evaluation asked for. Buffers are reused across evaluations, so steady-state
/// evaluation does not allocate.
#[derive(Clone, Debug, Default)]
pub struct Effects {
    sends: Vec<SentCapsule>,
    deliveries: Vec<Delivery>,
    logs: Vec<LogRecord>,
    arena: Vec<u8>,
}

impl Effects {
    /// Capsules to send, in the order the capsule sent them.
    pub fn sends(&self) -> &[SentCapsule] {
        &self.sends
    }

    /// Local deliveries, in order.
    pub fn deliveries(&self) -> &[Delivery] {
        &self.deliveries
    }

    /// Log records, in order.
    pub fn logs(&self) -> &[LogRecord] {
        &self.logs
    }

    /// The bytes behind a payload reference.
    pub fn bytes(&self, b: &Bytes) -> &[u8] {
        self.arena.get(b.0.clone()).unwrap_or_default()
    }

    /// A log message's text.
    pub fn text(&self, b: &Bytes) -> std::borrow::Cow<'_, str> {
        String::from_utf8_lossy(self.bytes(b))
    }

    /// True if the evaluation neither sent nor delivered anything (the node drops and counts
    /// such capsules).
    pub fn is_inert(&self) -> bool {
        self.sends.is_empty() && self.deliveries.is_empty()
    }

    /// Drops sends and deliveries but keeps the logs (used when a capsule is stopped: what it
    /// logged explains why; what it asked for must not happen).
    pub(crate) fn discard_actions(&mut self) {
        self.sends.clear();
        self.deliveries.clear();
    }

    /// Forgets everything recorded, keeping the buffers for reuse.
    pub fn clear(&mut self) {
        self.sends.clear();
        self.deliveries.clear();
        self.logs.clear();
        self.arena.clear();
    }

    fn store(&mut self, bytes: &[u8]) -> Bytes {
        let start = self.arena.len();
        self.arena.extend_from_slice(bytes);
        Bytes(start..self.arena.len())
    }

    /// Records a capsule to send. The sandbox's `send` host call uses it; so can a protocol
    /// implemented natively (benchmarks compare against one).
    pub fn push_send(
        &mut self,
        source: IpAddr,
        destination: IpAddr,
        route: SendRoute,
        budget: u16,
        payload: &[u8],
    ) {
        let payload = self.store(payload);
        self.sends.push(SentCapsule {
            source,
            destination,
            route,
            budget,
            payload,
        });
    }

    /// Records a local delivery.
    pub fn push_delivery(&mut self, port: u16, payload: &[u8]) {
        let payload = self.store(payload);
        self.deliveries.push(Delivery { port, payload });
    }

    /// Records a log message.
    pub fn push_log(&mut self, level: LogLevel, message: &[u8]) {
        let message = self.store(message);
        self.logs.push(LogRecord { level, message });
    }
}
