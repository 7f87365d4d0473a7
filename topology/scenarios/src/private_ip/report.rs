//! The private IP scenario's report: its rows, how they are counted from a [`Record`], and
//! its tables.
//!
//! It never looks at the emulator: a report is a function of the record alone.

use std::fmt::Write as _;
use std::net::Ipv4Addr;

use serde::Serialize;

use super::{REFUSED_COUNTER, Record, Site};
use crate::{ScenarioReport, Table, ms};

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

pub(super) fn build_report(r: &Record) -> Report {
    let site_of = |a: Ipv4Addr| r.edges.iter().position(|e| e.site.hosts.contains(&a));

    let mut pairs = Vec::new();
    for (i, from) in r.edges.iter().enumerate() {
        for (j, to) in r.edges.iter().enumerate() {
            if i == j {
                continue;
            }
            let out = from
                .log
                .injected
                .iter()
                .filter(|p| site_of(p.dst) == Some(j));
            let delivered = to
                .log
                .arrived
                .iter()
                .filter(|a| a.local && a.intact && site_of(a.src) == Some(i))
                .count() as u64;
            pairs.push(PairRow {
                from: from.site.edge.clone(),
                to: to.site.edge.clone(),
                sent: out.clone().count() as u64,
                carried: out.filter(|p| p.capsules_sent == 1 && !p.refused).count() as u64,
                delivered,
            });
        }
    }
    let misdelivered = r
        .edges
        .iter()
        .flat_map(|e| &e.log.arrived)
        .filter(|a| !(a.local && a.intact))
        .count() as u64;

    let refused = r
        .edges
        .iter()
        .map(|e| RefusedRow {
            edge: e.site.edge.clone(),
            sent: e.log.unknown.len() as u64,
            refused: e
                .log
                .unknown
                .iter()
                .filter(|p| p.refused && p.capsules_sent == 0)
                .count() as u64,
            leaked: e.log.unknown.iter().filter(|p| p.capsules_sent > 0).count() as u64,
            node_counter: e.refused_counter,
        })
        .collect();

    Report {
        topology: r.topology.clone(),
        seed: r.seed,
        sites: r.edges.iter().map(|e| e.site.clone()).collect(),
        announcements: r.edges.iter().map(|e| e.log.announced_ns.len()).collect(),
        pairs,
        misdelivered,
        refused,
        legacy: r.legacy.clone(),
        public_addresses_only: r.public_addresses_only,
        virtual_time_ms: ms(r.virtual_time),
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
        out.push('\n');
        let mut pairs = Table::new()
            .left("from", 8)
            .left("to", 8)
            .right("sent", 6)
            .right("carried", 8)
            .right("delivered", 10);
        for p in &self.pairs {
            pairs.row([
                p.from.clone(),
                p.to.clone(),
                p.sent.to_string(),
                p.carried.to_string(),
                p.delivered.to_string(),
            ]);
        }
        pairs.write(&mut out);
        let _ = writeln!(
            out,
            "{} of {} packets delivered with their private addresses at the right site; {} misdelivered",
            self.delivered(),
            self.sent(),
            self.misdelivered
        );
        out.push_str("\npackets to unknown destinations\n");
        let mut refused = Table::new()
            .left("edge", 8)
            .right("sent", 6)
            .right("refused", 8)
            .right("leaked", 7)
            .right(REFUSED_COUNTER, 14);
        for r in &self.refused {
            refused.row([
                r.edge.clone(),
                r.sent.to_string(),
                r.refused.to_string(),
                r.leaked.to_string(),
                r.node_counter.to_string(),
            ]);
        }
        refused.write(&mut out);
        out.push_str("\nlegacy routers (frames on their links, both directions)\n");
        let mut legacy = Table::new()
            .left("router", 8)
            .right("forwarded", 9)
            .right("arrived", 8)
            .right("unroutable", 11)
            .right("private-ip capsules", 18)
            .right("code", 5)
            .right("other", 6)
            .right("unparsed", 9);
        for l in &self.legacy {
            legacy.row([
                l.node.clone(),
                l.forwarded.to_string(),
                l.arrived.to_string(),
                l.unroutable.to_string(),
                l.private_ip_capsules.to_string(),
                l.code_frames.to_string(),
                l.other_frames.to_string(),
                l.unparsed.to_string(),
            ]);
        }
        legacy.write(&mut out);
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
