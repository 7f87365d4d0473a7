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
