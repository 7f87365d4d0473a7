//! Applying a configuration read again on `SIGHUP` to the running driver: the node's routing
//! table, neighbours, peers, limits and the per-neighbour egress, keeping what may stay.
//!
//! It never reads the file (the binary does, off the loop) and never restarts sockets: what
//! needs a restart is logged as such.

use super::*;

impl Driver {
    pub(super) fn reload(&mut self, config: Config) {
        let old = &self.config;
        for (what, changed) in [
            ("address", config.address != old.address),
            ("listen", config.listen != old.listen),
            ("app_socket", config.app_socket != old.app_socket),
            ("code_cache", config.code_cache != old.code_cache),
            ("state", config.state != old.state),
            ("sandbox", config.sandbox != old.sandbox),
            ("fingerprints", config.fingerprints != old.fingerprints),
            ("demand", config.demand != old.demand),
            ("liveness", config.liveness != old.liveness),
            ("driver", config.driver != old.driver),
            ("mode", config.mode != old.mode),
        ] {
            if changed {
                tracing::warn!("reload: `{what}` changed; it takes effect only after a restart");
            }
        }
        // Build the new tables completely before changing anything, so a table the node
        // refuses leaves the running one in force. Link loads of neighbours that stay are kept.
        let mut table = RoutingTable::new();
        for n in &config.neighbours {
            table.add_neighbour(n.address);
        }
        for r in &config.routes {
            if let Err(e) = table.add_route(*r) {
                tracing::error!("reload refused, the running configuration stays in force: {e}");
                return;
            }
        }
        for n in self.node.routing().neighbours() {
            table.set_link_load(n.address, n.load);
        }
        *self.node.routing_mut() = table;
        // Neighbours known down stay down, and learned overlay routes stay in force.
        self.node.reapply_liveness();
        // Links of neighbours that stay keep their meters and queues (reshaped if their rate
        // or queue changed); those that go are dropped with what waits in them.
        let now = self.now();
        let mut egress = std::mem::take(&mut self.egress);
        self.egress = config
            .neighbours
            .iter()
            .map(|n| {
                let e = match egress.remove(&n.address) {
                    Some(mut e) => {
                        if e.shaping() != n.shaping {
                            let dropped = e.reshape(now, n.shaping);
                            self.stats.egress_queue_drops += dropped;
                        }
                        e
                    }
                    None => Egress::new(n.shaping).toward(n.socket),
                };
                (n.address, e)
            })
            .collect();
        let lost: usize = egress.values().map(Egress::queue_len).sum();
        self.stats.egress_queue_drops += lost as u64;
        self.node.set_peers(config.code_peers());
        self.peers = config.peers.clone();
        let now = self.now();
        for pin in &config.pins {
            let fp = pin.fingerprint();
            if self.pinned.contains(&fp) {
                continue;
            }
            match self.node.register_protocol(now, pin.bytes.to_vec()) {
                Ok(fp) => {
                    tracing::info!(fingerprint = %fp, file = %pin.path.display(), "reload: pinned protocol");
                    self.pinned.push(fp);
                }
                Err(e) => {
                    tracing::error!(file = %pin.path.display(), "reload: cannot pin module: {e}")
                }
            }
        }
        self.config = config;
        self.stats.reloads += 1;
        tracing::info!(
            neighbours = self.config.neighbours.len(),
            routes = self.config.routes.len(),
            peers = self.peers.entries().len(),
            "configuration reloaded"
        );
    }
}
