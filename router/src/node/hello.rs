//! The node's side of liveness and overlay routing: saying hello on time, taking hellos from
//! neighbours, and applying what [`Liveness`](super::liveness) decides to the routing table,
//! with an event and a counter for every neighbour that goes down or comes back.
//!
//! It never decides who is alive or which route is best (that is `liveness.rs`), and sends
//! hellos only to configured neighbours.

use std::net::IpAddr;

use super::liveness::Change;
use super::{DropReason, Event, Node, Transmit};
use crate::wire::HelloRepr;

impl Node {
    /// Liveness timers due at `now`: neighbours whose hellos stopped go down, and hellos go
    /// out when it is time.
    pub(super) fn liveness_timeouts(&mut self) {
        let (changes, due) = self.liveness.on_timeout(self.now);
        let routes_changed = !changes.is_empty();
        for change in changes {
            self.apply_change(change);
        }
        if routes_changed {
            self.install_learned();
        }
        if due {
            self.send_hellos();
        }
    }

    /// A hello arrived from `from` (the driver's node address of the sender).
    pub(super) fn on_hello(&mut self, from: Option<IpAddr>, hello: &HelloRepr<'_>) {
        let Some(result) = from.and_then(|f| self.liveness.on_hello(self.now, f, hello)) else {
            return self.drop_with(DropReason::NotANeighbour, None);
        };
        self.stats.hellos_received += 1;
        let (change, routes_changed) = result;
        if let Some(change) = change {
            self.apply_change(change);
        }
        if routes_changed || change.is_some() {
            self.install_learned();
        }
        if routes_changed {
            // A triggered update: the liveness timer is due now.
            self.liveness_timeouts();
        }
    }

    fn apply_change(&mut self, change: Change) {
        self.ctx
            .routing
            .set_neighbour_up(change.neighbour, change.up);
        if change.up {
            self.stats.neighbours_up += 1;
            tracing::debug!(neighbour = %change.neighbour, "neighbour up");
        } else {
            self.stats.neighbours_down += 1;
            tracing::debug!(neighbour = %change.neighbour, "neighbour down");
        }
        self.events.push_back(Event::Neighbour {
            address: change.neighbour,
            up: change.up,
        });
    }

    /// Applies the liveness state to a routing table the driver has just replaced (a
    /// configuration reload): neighbours known down stay down, and the learned overlay
    /// routes stay in force.
    pub fn reapply_liveness(&mut self) {
        for (neighbour, up, _, _) in self.liveness.status() {
            if !up {
                self.ctx.routing.set_neighbour_up(neighbour, false);
            }
        }
        self.install_learned();
    }

    fn install_learned(&mut self) {
        self.ctx.routing.set_learned(self.liveness.learned());
    }

    fn send_hellos(&mut self) {
        let interval_ms = self.liveness.interval_ms();
        let algorithm = crate::fingerprint::FingerprintAlgorithm::Sha256;
        let (sequence, hellos) = self.liveness.hellos();
        for (to, entries, left_out) in hellos {
            let repr = HelloRepr {
                algorithm,
                interval_ms,
                sequence,
                v6: self.config.address.is_ipv6(),
                entries: &entries,
            };
            match repr.to_vec() {
                Ok(bytes) => {
                    self.stats.hellos_sent += 1;
                    self.stats.hello_routes_left_out += left_out as u64;
                    self.transmits.push_back(Transmit { to, bytes });
                }
                Err(e) => {
                    self.stats.drops.add(DropReason::EncodeFailed);
                    tracing::debug!(reason = e.name(), "hello not encoded: {e}");
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use std::net::IpAddr;
    use std::time::Duration;

    use super::super::{LivenessLimits, Node, NodeConfig};
    use crate::fingerprint::FingerprintAlgorithm;
    use crate::routing::{NextHop, Route};
    use crate::time::Timestamp;
    use crate::wire::HelloRepr;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    fn hello(routes: &[(IpAddr, u8)]) -> Vec<u8> {
        let entries = HelloRepr::encode_routes(routes.iter().copied(), false).unwrap();
        HelloRepr {
            algorithm: FingerprintAlgorithm::Sha256,
            interval_ms: 100,
            sequence: 1,
            v6: false,
            entries: &entries,
        }
        .to_vec()
        .unwrap()
    }

    #[test]
    fn a_strangers_hello_is_counted_and_a_silent_neighbour_goes_down() {
        let (me, n) = (ip("10.0.0.1"), ip("10.0.0.2"));
        let mut config = NodeConfig::new(me);
        config.neighbours.push(n);
        config.routes.push(Route {
            prefix: ip("10.0.0.7"),
            len: 32,
            next_hop: NextHop::Neighbour(n),
        });
        config.liveness = LivenessLimits::every(Duration::from_millis(100));
        let mut node = Node::new(config).unwrap();
        let t0 = Timestamp::ZERO;
        // A stranger claims routes: dropped, counted, nothing learned.
        node.handle_datagram(t0, Some(ip("10.0.0.9")), &hello(&[(ip("10.0.0.8"), 0)]));
        let s = node.stats();
        assert_eq!(s.drops.by_name("not_a_neighbour"), 1);
        assert_eq!(s.hellos_received, 0);
        assert_eq!(node.status().learned_routes, 0);
        // The neighbour says hello, then falls silent for 3 of its intervals.
        node.handle_datagram(t0, Some(n), &hello(&[(n, 0), (ip("10.0.0.8"), 1)]));
        assert_eq!(node.stats().hellos_received, 1);
        assert_eq!(node.status().learned_routes, 2);
        node.handle_timeout(t0 + Duration::from_millis(301));
        let s = node.stats();
        assert_eq!(s.neighbours_down, 1);
        assert!(s.hellos_sent > 0);
        assert_eq!(node.status().neighbours_down, vec![n.to_string()]);
        assert_eq!(node.status().learned_routes, 0);
    }

    #[test]
    fn a_neighbour_flapping_its_routes_cannot_make_the_node_flood_hellos() {
        // Three neighbours, hellos every 500 ms. n1 changes what it advertises every 1 ms for
        // 1 s: each hello changes the learned routes, and each change asks for a triggered
        // update to all three neighbours.
        let me = ip("10.0.0.1");
        let ns = [ip("10.0.0.2"), ip("10.0.0.3"), ip("10.0.0.4")];
        let mut config = NodeConfig::new(me);
        config.neighbours.extend(ns);
        config.liveness = LivenessLimits::every(Duration::from_millis(500));
        let mut node = Node::new(config).unwrap();
        let flap = [
            hello(&[(ns[0], 0), (ip("10.9.0.1"), 1)]),
            hello(&[(ns[0], 0)]),
        ];
        for i in 0..1000u64 {
            let now = Timestamp::ZERO + Duration::from_millis(i);
            if node.poll_timeout().is_some_and(|t| t <= now) {
                node.handle_timeout(now);
            }
            node.handle_datagram(now, Some(ns[0]), &flap[(i % 2) as usize]);
            while node.poll_transmit().is_some() {}
        }
        let s = node.stats();
        assert_eq!(s.hellos_received, 1000);
        // At most one round of hellos per quarter interval (plus the first): 9 rounds of 3.
        assert!(s.hellos_sent <= 27, "{} hellos sent", s.hellos_sent);
    }
}
