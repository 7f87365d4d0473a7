//! A tiny network of [`FakeNode`]s for multi-node host tests of capsule logic (the shipped
//! multicast and reliable-multicast capsules use it).
//!
//! Owns the hop-by-hop walk: evaluate a capsule at a node, turn each send into an arrival at
//! the next hop (previous = sender, one budget unit charged), and collect deliveries. A test
//! decides which transmissions are lost. It never reorders (arrivals are handled in order) and
//! has no time of its own: for timing, links, legacy routers and the real sandbox, use the
//! emulator (`ants topo emulate`).
//!
//! ```
//! use capsule_sdk::prelude::*;
//! use capsule_sdk::testing::FakeNode;
//! use capsule_sdk::testing::net::{Net, addr};
//!
//! #[derive(Default)]
//! struct Unicast;
//!
//! impl Capsule for Unicast {
//!     fn evaluate(&mut self) -> Result<(), Error> {
//!         if capsule::destination()? == node::address()? {
//!             return deliver(1, &capsule::payload()?);
//!         }
//!         forward()
//!     }
//! }
//!
//! // 10.0.0.1 -- 10.0.0.2 -- 10.0.0.3
//! let mut net = Net::new([
//!     FakeNode::new(addr(1)).route(addr(3), addr(2)),
//!     FakeNode::new(addr(2)).route(addr(3), addr(3)).neighbour(addr(1)),
//!     FakeNode::new(addr(3)).neighbour(addr(2)),
//! ]);
//! net.inject(addr(1), addr(3), 8, b"hello");
//! let seen = net.run::<Unicast>(|_, _, _| false);
//! assert_eq!(seen, [(addr(3), 1, b"hello".to_vec())]);
//! assert_eq!(net.links.len(), 2); // 1 -> 2 -> 3
//!
//! // The same, with the link from 2 to 3 losing everything.
//! net.inject(addr(1), addr(3), 8, b"lost");
//! assert!(net.run::<Unicast>(|from, to, _| (from, to) == (addr(2), addr(3))).is_empty());
//! ```

use alloc::collections::{BTreeMap, VecDeque};
use alloc::vec::Vec;

use super::{FakeNode, Incoming};
use crate::Address;
use crate::export::Capsule;
use crate::node::NextHop;

/// Test node addresses: 10.0.0.`last`. The four-node test tree of the multicast capsules is
/// [`s`] (the source's node), [`b`] (a branch), [`m1`] and [`m2`] (two members' nodes).
///
/// ```
/// use capsule_sdk::testing::net::{addr, b, m1, m2, s};
///
/// assert_eq!(addr(7).to_string(), "10.0.0.7");
/// assert_eq!([s(), b(), m1(), m2()], [addr(1), addr(2), addr(3), addr(4)]);
/// ```
pub fn addr(last: u8) -> Address {
    Address::from(core::net::Ipv4Addr::new(10, 0, 0, last))
}

/// The source's node.
pub fn s() -> Address {
    addr(1)
}
/// The branch node.
pub fn b() -> Address {
    addr(2)
}
/// The first member's node.
pub fn m1() -> Address {
    addr(3)
}
/// The second member's node.
pub fn m2() -> Address {
    addr(4)
}

/// A delivery seen at a node: (node, port, payload), as [`Net::run`] returns them.
pub type Seen = (Address, u16, Vec<u8>);

/// Nodes by address, and the arrivals waiting to be evaluated.
///
/// Each node's neighbours and routes are its own [`FakeNode`] setup; a send to a neighbour
/// that is not in the net panics in [`Net::run`]. See the module example.
pub struct Net {
    /// The nodes, by address: inspect or change any of them between runs (state, time, routes).
    pub nodes: BTreeMap<Address, FakeNode>,
    queue: VecDeque<(Address, Incoming)>,
    /// Every transmission between two nodes so far: (from, to, payload), lost ones included.
    pub links: Vec<(Address, Address, Vec<u8>)>,
}

impl Net {
    /// A network of the given nodes, keyed by their [`address`](FakeNode::address).
    ///
    /// ```
    /// use capsule_sdk::testing::FakeNode;
    /// use capsule_sdk::testing::net::{Net, addr};
    ///
    /// let net = Net::new([FakeNode::new(addr(1)), FakeNode::new(addr(2))]);
    /// assert_eq!(net.nodes.len(), 2);
    /// assert!(net.links.is_empty());
    /// ```
    pub fn new(nodes: impl IntoIterator<Item = FakeNode>) -> Self {
        Net {
            nodes: nodes.into_iter().map(|n| (n.address, n)).collect(),
            queue: VecDeque::new(),
            links: Vec::new(),
        }
    }

    /// An application at node `at` injects a capsule toward `dst` with `budget`.
    ///
    /// The capsule's source and previous node are `at`; its first evaluation, at `at`, sees
    /// `budget - 1` (the node charges the first hop like any other). Nothing runs until
    /// [`Net::run`].
    ///
    /// ```
    /// use capsule_sdk::prelude::*;
    /// use capsule_sdk::testing::FakeNode;
    /// use capsule_sdk::testing::net::{Net, addr};
    ///
    /// #[derive(Default)]
    /// struct Here;
    ///
    /// impl Capsule for Here {
    ///     fn evaluate(&mut self) -> Result<(), Error> {
    ///         assert_eq!(capsule::budget(), 2); // the first hop is charged
    ///         assert_eq!(capsule::previous()?, node::address()?); // injected here
    ///         deliver(5, b"")
    ///     }
    /// }
    ///
    /// let mut net = Net::new([FakeNode::new(addr(1))]);
    /// net.inject(addr(1), addr(1), 3, b"");
    /// assert_eq!(net.run::<Here>(|_, _, _| false), [(addr(1), 5, vec![])]);
    /// ```
    pub fn inject(&mut self, at: Address, dst: Address, budget: u32, payload: &[u8]) {
        // The node charges the injected capsule's first hop like any other arrival.
        let c = Incoming::new(at, dst, budget.saturating_sub(1), payload);
        self.queue.push_back((at, c));
    }

    /// Moves every node's clock forward (see [`FakeNode::advance`]).
    ///
    /// ```
    /// use capsule_sdk::testing::FakeNode;
    /// use capsule_sdk::testing::net::{Net, addr};
    /// use core::time::Duration;
    ///
    /// let mut net = Net::new([FakeNode::new(addr(1)), FakeNode::new(addr(2))]);
    /// net.advance(Duration::from_secs(2));
    /// assert!(net.nodes.values().all(|n| n.time_ns == 2_000_000_000));
    /// ```
    pub fn advance(&mut self, by: core::time::Duration) {
        for n in self.nodes.values_mut() {
            n.advance(by);
        }
    }

    /// Evaluates arrivals until none is left, with capsule type `C`. `lose(from, to, payload)`
    /// says whether a transmission is lost. Returns the deliveries in order; panics if an
    /// evaluation fails, since these protocols never fail on well-formed traffic.
    ///
    /// Each send becomes an arrival at its next hop (a loopback one at the same node, never
    /// lost), with one budget unit charged and the sender as previous node, in the order the
    /// sends were made. Every transmission between two nodes is recorded in
    /// [`links`](Net::links). See the module example.
    pub fn run<C: Capsule>(&mut self, lose: impl Fn(Address, Address, &[u8]) -> bool) -> Vec<Seen> {
        let mut seen = Vec::new();
        while let Some((at, c)) = self.queue.pop_front() {
            let node = self.nodes.get_mut(&at).expect("arrival at a known node");
            node.capsule = c;
            assert_eq!(node.evaluate::<C>(), 0, "evaluation failed at {at}");
            for d in &node.deliveries {
                seen.push((at, d.port, d.payload.clone()));
            }
            for s in node.sends.clone() {
                let to = match s.next_hop {
                    NextHop::Local => at,
                    NextHop::Neighbour(n) => n,
                };
                if to != at {
                    self.links.push((at, to, s.payload.clone()));
                    if lose(at, to, &s.payload) {
                        continue;
                    }
                }
                let mut c = Incoming::new(s.source, s.destination, s.budget - 1, &s.payload);
                c.previous = at;
                self.queue.push_back((to, c));
            }
        }
        seen
    }
}
