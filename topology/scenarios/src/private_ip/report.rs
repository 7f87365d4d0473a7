//! The private IP scenario's report: its rows, how they are counted from a run, and its tables.

use super::*;

// ---- The report ------------------------------------------------------------------------------

/// Packets from one site to another.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct PairRow {
    /// Sending site's edge.
    pub from: String,
    /// Receiving site's edge.
    pub to: String,
    /// Packets the sending edge injected for its hosts.
    pub sent: u64,
    /// Of them, carried off the edge (one capsule each).
    pub carried: u64,
    /// Packets delivered at the receiving edge, for one of its hosts, addresses intact.
    pub delivered: u64,
}

/// One edge's packets to destinations no site serves.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct RefusedRow {
    /// The edge.
    pub edge: String,
    /// Packets injected to unknown destinations.
    pub sent: u64,
    /// Of them, refused at the edge (failed evaluation, nothing sent).
    pub refused: u64,
    /// Of them, any capsule left the edge for (0 expected).
    pub leaked: u64,
    /// The node's own `capsule_error` counter at the end (every failed evaluation there).
    pub node_counter: u64,
}

/// What one legacy router carried.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct LegacyRow {
    /// The router.
    pub node: String,
    /// Datagrams it forwarded.
    pub forwarded: u64,
    /// Datagrams it had no route for (0 expected).
    pub unroutable: u64,
    /// Datagrams that arrived over its links (sent toward it and not lost).
    pub arrived: u64,
    /// Of the datagrams put on its links (both directions), capsule frames of the private
    /// IP protocol.
    pub private_ip_capsules: u64,
    /// Code-loading frames (0 expected: every edge registered the protocol).
    pub code_frames: u64,
    /// Frames of other protocols (0 expected).
    pub other_frames: u64,
    /// Datagrams that were no ANTS frame (0 expected).
    pub unparsed: u64,
}

/// The private IP scenario's report: deterministic for a network, seed and plan.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Report {
    /// Topology name.
    pub topology: String,
    /// Seed.
    pub seed: u64,
    /// The sites.
    pub sites: Vec<Site>,
    /// Announcements per edge, in site order.
    pub announcements: Vec<usize>,
    /// Every ordered pair of distinct sites.
    pub pairs: Vec<PairRow>,
    /// Packets delivered at an edge that does not serve their destination, or with changed
    /// addresses (0 expected).
    pub misdelivered: u64,
    /// Per edge, the packets to unknown destinations.
    pub refused: Vec<RefusedRow>,
    /// The legacy routers.
    pub legacy: Vec<LegacyRow>,
    /// Whether every node address lies outside the private space, so no private address
    /// appears in any IP header.
    pub public_addresses_only: bool,
    /// Virtual time covered (ms).
    pub virtual_time_ms: f64,
}

impl Report {
    /// Packets sent between sites in all.
    pub fn sent(&self) -> u64 {
        self.pairs.iter().map(|p| p.sent).sum()
    }

    /// Packets delivered intact at the right site in all.
    pub fn delivered(&self) -> u64 {
        self.pairs.iter().map(|p| p.delivered).sum()
    }
}

pub(super) fn build_report(s: &Scenario) -> Report {
    let emu = &s.emulator;
    let t = emu.topology();
    let logs: Vec<EdgeLog> = s
        .edges
        .iter()
        .map(|(e, _, _)| s.edge_log(*e).unwrap_or_default())
        .collect();
    let site_of = |a: Ipv4Addr| {
        s.edges
            .iter()
            .position(|(_, _, site)| site.hosts.contains(&a))
    };

    let mut pairs = Vec::new();
    for (i, (_, _, from)) in s.edges.iter().enumerate() {
        for (j, (_, _, to)) in s.edges.iter().enumerate() {
            if i == j {
                continue;
            }
            let out = logs[i]
                .injected
                .iter()
                .filter(|p| site_of(p.dst) == Some(j));
            let delivered = logs[j]
                .arrived
                .iter()
                .filter(|a| a.local && a.intact && site_of(a.src) == Some(i))
                .count() as u64;
            pairs.push(PairRow {
                from: from.edge.clone(),
                to: to.edge.clone(),
                sent: out.clone().count() as u64,
                carried: out.filter(|p| p.capsules_sent == 1 && !p.refused).count() as u64,
                delivered,
            });
        }
    }
    let misdelivered = logs
        .iter()
        .flat_map(|l| &l.arrived)
        .filter(|a| !(a.local && a.intact))
        .count() as u64;

    let refused = s
        .edges
        .iter()
        .zip(&logs)
        .map(|((e, _, site), log)| RefusedRow {
            edge: site.edge.clone(),
            sent: log.unknown.len() as u64,
            refused: log
                .unknown
                .iter()
                .filter(|p| p.refused && p.capsules_sent == 0)
                .count() as u64,
            leaked: log.unknown.iter().filter(|p| p.capsules_sent > 0).count() as u64,
            node_counter: emu
                .node(*e)
                .map_or(0, |n| n.stats().drops.by_name(REFUSED_COUNTER)),
        })
        .collect();

    let fp = emu.fingerprint(CAPSULE);
    let legacy = t
        .nodes_of(NodeKind::Legacy)
        .map(|l| {
            let mut row = LegacyRow {
                node: t.nodes[l].name.clone(),
                forwarded: emu.ip_forwarded(l),
                unroutable: emu.ip_unroutable(l),
                arrived: 0,
                private_ip_capsules: 0,
                code_frames: 0,
                other_frames: 0,
                unparsed: 0,
            };
            for &link in t.links_of(l) {
                let Some(dirs) = emu.link_stats(link) else {
                    continue;
                };
                // Direction 0 is a → b: toward `l` when `l` is b.
                let inbound = usize::from(t.links[link].a == l);
                row.arrived += dirs[inbound].packets - dirs[inbound].losses;
                for d in dirs {
                    row.unparsed += d.unparsed;
                    for (f, c) in &d.protocols {
                        if Some(*f) == fp {
                            row.private_ip_capsules += c.capsules;
                            row.code_frames += c.code;
                        } else {
                            row.other_frames += c.capsules + c.code;
                        }
                    }
                }
            }
            row
        })
        .collect();

    Report {
        topology: t.name.clone(),
        seed: emu.seed(),
        sites: s.sites(),
        announcements: logs.iter().map(|l| l.announced_ns.len()).collect(),
        pairs,
        misdelivered,
        refused,
        legacy,
        public_addresses_only: t
            .nodes
            .iter()
            .map(|n| n.address)
            .chain(t.links.iter().flat_map(|l| [l.a_addr, l.b_addr]))
            .all(|a| !PRIVATE_NET.contains(a)),
        virtual_time_ms: emu.now().as_nanos() as f64 / 1e6,
    }
}

impl ScenarioReport for Report {
    fn table(&self) -> String {
        let mut out = String::new();
        let sites: Vec<String> = self
            .sites
            .iter()
            .map(|s| format!("{} serves {}", s.edge, s.prefix))
            .collect();
        let _ = writeln!(
            out,
            "private IP on {} (seed {}): {}",
            self.topology,
            self.seed,
            sites.join(", ")
        );
        let _ = writeln!(
            out,
            "\n  {:<8} {:<8} {:>6} {:>8} {:>10}",
            "from", "to", "sent", "carried", "delivered"
        );
        for p in &self.pairs {
            let _ = writeln!(
                out,
                "  {:<8} {:<8} {:>6} {:>8} {:>10}",
                p.from, p.to, p.sent, p.carried, p.delivered
            );
        }
        let _ = writeln!(
            out,
            "{} of {} packets delivered with their private addresses at the right site; {} misdelivered",
            self.delivered(),
            self.sent(),
            self.misdelivered
        );
        let _ = writeln!(
            out,
            "\npackets to unknown destinations\n  {:<8} {:>6} {:>8} {:>7} {:>14}",
            "edge", "sent", "refused", "leaked", REFUSED_COUNTER
        );
        for r in &self.refused {
            let _ = writeln!(
                out,
                "  {:<8} {:>6} {:>8} {:>7} {:>14}",
                r.edge, r.sent, r.refused, r.leaked, r.node_counter
            );
        }
        let _ = writeln!(
            out,
            "\nlegacy routers (frames on their links, both directions)\n  {:<8} {:>9} {:>8} {:>11} {:>18} {:>5} {:>6} {:>9}",
            "router",
            "forwarded",
            "arrived",
            "unroutable",
            "private-ip capsules",
            "code",
            "other",
            "unparsed"
        );
        for l in &self.legacy {
            let _ = writeln!(
                out,
                "  {:<8} {:>9} {:>8} {:>11} {:>18} {:>5} {:>6} {:>9}",
                l.node,
                l.forwarded,
                l.arrived,
                l.unroutable,
                l.private_ip_capsules,
                l.code_frames,
                l.other_frames,
                l.unparsed
            );
        }
        let _ = writeln!(
            out,
            "node and link addresses all public (no private address in any IP header): {}",
            if self.public_addresses_only {
                "yes"
            } else {
                "NO"
            }
        );
        out
    }
}
