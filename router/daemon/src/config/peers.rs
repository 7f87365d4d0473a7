//! Node addresses and the sockets they are reached at: [`NeighbourConfig`] and [`PeerMap`].
//!
//! Owns the two-way map the driver consults for every datagram. It never resolves names or
//! talks to the network: its entries come from the configuration only.

use std::net::{IpAddr, SocketAddr};

use super::DEFAULT_PORT;

/// An active neighbour: its node address, the UDP socket address it listens on, and an
/// optional software bottleneck toward it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct NeighbourConfig {
    /// The neighbour's node address.
    pub address: IpAddr,
    /// Where its datagrams go.
    pub socket: SocketAddr,
    /// `rate` and `queue`: datagrams toward it are paced and queued (`None`: sent at once).
    pub shaping: Option<LinkShaping>,
}

/// A software bottleneck toward one neighbour: datagrams leave at `rate_bps`, at most
/// `queue` wait behind the one being paced out, and the rest are dropped at the tail.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct LinkShaping {
    /// Bits per second on the link (each datagram with its IP and UDP headers, as the
    /// emulator's link `bandwidth` counts), more than 0.
    pub rate_bps: u64,
    /// Datagrams that may wait, from 1 to [`MAX_LINK_QUEUE`].
    pub queue: usize,
}

/// Datagrams that may wait toward a neighbour with a `rate` and no `queue`.
pub const DEFAULT_LINK_QUEUE: usize = 64;
/// Longest `queue` a neighbour may have: with datagrams of at most 64 KiB, 1 GiB per
/// neighbour at worst, a few MB with capsule-sized datagrams.
pub const MAX_LINK_QUEUE: usize = 16_384;

/// Node address ↔ UDP socket address, in both directions.
///
/// On one host several nodes share an IP address (loopback), so a node address is not where
/// its datagrams go: this map says where. Node addresses without an entry are reached at
/// `(address, DEFAULT_PORT)`. The reverse direction names the node a datagram came from, which
/// the node needs to answer code requests; a sender not in the map and not on the default port
/// is unknown (`None`).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct PeerMap {
    // Looked up once per datagram in each direction: a fast seeded hasher, not SipHash. The
    // keys come from configuration only, never from the network.
    to_socket: foldhash::HashMap<IpAddr, SocketAddr>,
    to_node: foldhash::HashMap<SocketAddr, IpAddr>,
}

/// IPv4-mapped IPv6 socket addresses (what a dual-stack socket reports for IPv4 senders) as
/// plain IPv4, so one mapping matches either form.
pub(super) fn canonical(socket: SocketAddr) -> SocketAddr {
    match socket {
        SocketAddr::V6(v6) => match v6.ip().to_ipv4_mapped() {
            Some(v4) => SocketAddr::new(IpAddr::V4(v4), v6.port()),
            None => socket,
        },
        SocketAddr::V4(_) => socket,
    }
}

impl PeerMap {
    /// An empty map: every node is reached on the default port.
    pub fn new() -> Self {
        Self::default()
    }

    /// Maps `node` to `socket`, replacing an earlier mapping of either.
    pub fn insert(&mut self, node: IpAddr, socket: SocketAddr) {
        let socket = canonical(socket);
        if let Some(old) = self.to_socket.insert(node, socket) {
            self.to_node.remove(&old);
        }
        if let Some(old) = self.to_node.insert(socket, node)
            && old != node
        {
            self.to_socket.remove(&old);
        }
    }

    /// Where datagrams for `node` go.
    pub fn socket_for(&self, node: IpAddr) -> SocketAddr {
        self.to_socket
            .get(&node)
            .copied()
            .unwrap_or(SocketAddr::new(node, DEFAULT_PORT))
    }

    /// The node a datagram from `socket` came from, if known.
    pub fn node_for(&self, socket: SocketAddr) -> Option<IpAddr> {
        let socket = canonical(socket);
        if let Some(node) = self.to_node.get(&socket) {
            return Some(*node);
        }
        // An unmapped node listens on the default port of its own address.
        (socket.port() == DEFAULT_PORT && !self.to_socket.contains_key(&socket.ip()))
            .then_some(socket.ip())
    }

    /// Explicit mappings, sorted by node address.
    pub fn entries(&self) -> Vec<(IpAddr, SocketAddr)> {
        let mut all: Vec<_> = self.to_socket.iter().map(|(n, s)| (*n, *s)).collect();
        all.sort();
        all
    }
}
