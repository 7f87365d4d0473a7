//! What a test may attach to a run beyond the topology file: a hook that sees every datagram a
//! node sends and may rewrite, drop or delay it (fragment loss, reordering, a node that serves
//! spoofed code); a trace of those datagrams; a log of every delivery with its payload; nodes
//! whose compilations are never answered (a stuck compile worker); and a pcap capture of what
//! every link carries (`crate::pcap`).
//!
//! All of it is off by default and costs one branch per datagram then, so large runs pay
//! nothing. It never decides anything itself: the hook is the test's, and the rest records.

use std::collections::BTreeSet;
use std::net::IpAddr;
use std::time::Duration;

use ants_router::fingerprint::Fingerprint;
use ants_router::node::Node;
use ants_router::time::Timestamp;

use ants_topology::model::NodeId;

use super::Emulator;
use crate::pcap::PcapCapture;

/// A datagram a node is sending, as the tamper hook sees it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Sent {
    /// The sending node's address.
    pub from: IpAddr,
    /// Where it goes (the hook may readdress it).
    pub to: IpAddr,
    /// The frame (the hook may rewrite it).
    pub bytes: Vec<u8>,
    /// When it was sent.
    pub sent_at: Timestamp,
}

/// What the tamper hook decides for a datagram.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Verdict {
    /// Send it as the network would.
    Deliver,
    /// Lose it.
    Drop,
    /// Send it this much later (reordering).
    Delay(Duration),
}

/// One datagram a node sent (in the trace).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TraceRecord {
    /// When it was sent.
    pub at: Timestamp,
    /// Sending node.
    pub from: IpAddr,
    /// Where it went (after the hook).
    pub to: IpAddr,
    /// The frame as sent (before any tampering).
    pub bytes: Vec<u8>,
    /// Dropped on sending: by the hook, or for want of a node at its address. Losses on links
    /// are counted per link ([`Emulator::link_stats`]).
    pub dropped: bool,
}

/// A payload a node delivered to a local port (in the delivery log).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Delivery {
    /// When.
    pub at: Timestamp,
    /// The delivering node.
    pub node: NodeId,
    /// Application port.
    pub port: u16,
    /// The capsule's source.
    pub source: IpAddr,
    /// The capsule's type.
    pub fingerprint: Fingerprint,
    /// The payload.
    pub payload: Vec<u8>,
}

/// The hook's type.
pub(crate) type Tamper = Box<dyn FnMut(&mut Sent) -> Verdict>;

/// The instruments attached to a run (see the module docs).
#[derive(Default)]
pub(crate) struct Instruments {
    pub(crate) tamper: Option<Tamper>,
    pub(crate) trace: Option<Vec<TraceRecord>>,
    pub(crate) deliveries: Option<Vec<Delivery>>,
    /// Nodes whose compilations are never answered.
    pub(crate) not_compiling: BTreeSet<NodeId>,
    /// The pcap capture of the links.
    pub(crate) pcap: Option<PcapCapture>,
}

impl Instruments {
    /// Whether sends take the slow path through the hook and the trace.
    pub(crate) fn watches_sends(&self) -> bool {
        self.tamper.is_some() || self.trace.is_some()
    }
}

impl Emulator {
    /// Installs a hook that sees every datagram a node sends, when it sends it, and may
    /// rewrite, readdress, drop or delay it.
    pub fn set_tamper(&mut self, hook: impl FnMut(&mut Sent) -> Verdict + 'static) {
        self.instruments.tamper = Some(Box::new(hook));
    }

    /// Removes the tamper hook.
    pub fn clear_tamper(&mut self) {
        self.instruments.tamper = None;
    }

    /// Starts keeping every datagram nodes send from now on (see [`Emulator::trace`]).
    pub fn record_trace(&mut self) {
        self.instruments.trace.get_or_insert_with(Vec::new);
    }

    /// The datagrams nodes sent since [`Emulator::record_trace`], in order.
    pub fn trace(&self) -> &[TraceRecord] {
        self.instruments.trace.as_deref().unwrap_or(&[])
    }

    /// Starts capturing every datagram the links carry from now on, into one pcap file per
    /// link holding at most `limit` bytes in all (see [`crate::pcap`]). Already capturing: the
    /// capture goes on as it was.
    pub fn record_pcap(&mut self, limit: u64) {
        let topology = &self.topology;
        self.instruments
            .pcap
            .get_or_insert_with(|| PcapCapture::new(topology, limit));
    }

    /// The pcap capture so far, if [`Emulator::record_pcap`] started one.
    pub fn pcap(&self) -> Option<&PcapCapture> {
        self.instruments.pcap.as_ref()
    }

    /// Stops the pcap capture and hands it over (its files with
    /// [`PcapCapture::into_files`]).
    pub fn take_pcap(&mut self) -> Option<PcapCapture> {
        self.instruments.pcap.take()
    }

    /// Starts keeping every delivery with its payload from now on (see
    /// [`Emulator::delivered`]); [`Emulator::deliveries`] counts them either way.
    pub fn record_deliveries(&mut self) {
        self.instruments.deliveries.get_or_insert_with(Vec::new);
    }

    /// The deliveries since [`Emulator::record_deliveries`], in order.
    pub fn delivered(&self) -> &[Delivery] {
        self.instruments.deliveries.as_deref().unwrap_or(&[])
    }

    /// Whether the emulator answers `node`'s compile requests (default true). A node that gets
    /// no answer keeps its compilations outstanding, as with a stuck compile worker.
    pub fn set_compiling(&mut self, node: NodeId, compiles: bool) {
        if compiles {
            self.instruments.not_compiling.remove(&node);
        } else {
            self.instruments.not_compiling.insert(node);
        }
    }

    /// Sets the virtual time each compilation takes from now on.
    pub fn set_compile_delay(&mut self, delay: Duration) {
        self.compile_delay = delay;
    }

    /// Compilations `node` has asked for and not been answered yet.
    pub fn outstanding_compiles(&self, node: NodeId) -> usize {
        self.nodes.get(node).map_or(0, |n| n.compiling as usize)
    }

    /// The most compilations `node` had outstanding at once.
    pub fn max_outstanding_compiles(&self, node: NodeId) -> usize {
        self.nodes
            .get(node)
            .map_or(0, |n| n.most_compiling as usize)
    }

    /// Runs `f` on `node`'s core at the current time, then moves what it produced onto the
    /// network. `None` if `node` runs no node core.
    pub fn with_node<R>(
        &mut self,
        node: NodeId,
        f: impl FnOnce(&mut Node, Timestamp) -> R,
    ) -> Option<R> {
        self.nodes.get(node)?.core.as_ref()?;
        self.refresh_loads(node);
        let now = self.now;
        let result = f(self.nodes[node].core.as_deref_mut()?, now);
        self.drain(node);
        Some(result)
    }

    /// Makes `node` send `bytes` to `to` now, as if its core had (through the hook and the
    /// links): how a test plays a hostile or broken neighbour.
    pub fn inject(&mut self, node: NodeId, to: IpAddr, bytes: Vec<u8>) {
        if node < self.nodes.len() {
            self.transmit(node, ants_router::node::Transmit { to, bytes });
        }
    }
}
