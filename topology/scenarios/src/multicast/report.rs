//! The multicast scenario's report: its rows and how they are counted from a [`Record`]
//! (its tables are in `table.rs`).
//!
//! How copies are counted is in the parent module's doc. It never looks at the emulator: a
//! report is a function of the record alone.

use std::collections::BTreeSet;
use std::net::IpAddr;

use ants_topology::model::{NodeId, NodeKind};
use serde::Serialize;

use super::{GROUP_ID, Record};
use crate::ms;

/// What the network is made of.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Network {
    /// All nodes.
    pub nodes: usize,
    /// Hosts.
    pub hosts: usize,
    /// Active routers.
    pub active: usize,
    /// Legacy routers.
    pub legacy: usize,
    /// Links.
    pub links: usize,
}

/// One code load of the multicast protocol.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct CodeLoadRow {
    /// When the code became usable on the node (after its compile delay), ms.
    pub at_ms: f64,
    /// The node.
    pub node: String,
    /// Its kind.
    pub kind: NodeKind,
    /// The node it was loaded from, or `registered` (an application registered it).
    pub from: String,
    /// Module bytes.
    pub bytes: usize,
}

/// One member's reception.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Receiver {
    /// The member's node.
    pub node: String,
    /// Its active router (first active neighbour).
    pub edge: String,
    /// Packets sent while it wanted them (before it left or expired).
    pub wanted: u32,
    /// Wanted packets received at least once.
    pub delivered: u32,
    /// Extra copies received (all packets).
    pub duplicates: u32,
    /// Wanted packets never received.
    pub lost: u32,
    /// Packets received that were sent after it left or expired.
    pub unwanted: u32,
    /// When it left, if it did (ms).
    pub left_ms: Option<f64>,
    /// Whether it stopped refreshing.
    pub silent: bool,
    /// Subscribes it sent.
    pub subscribes: u32,
    /// First and last data arrival (ms).
    pub first_ms: Option<f64>,
    /// See `first_ms`.
    pub last_ms: Option<f64>,
}

impl Receiver {
    /// Whether it got every wanted packet exactly once and nothing else.
    pub fn exactly_once(&self) -> bool {
        self.delivered == self.wanted
            && self.lost == 0
            && self.duplicates == 0
            && self.unwanted == 0
    }
}

/// One burst of the plan.
#[derive(Clone, Copy, Debug, PartialEq, Serialize)]
pub struct BurstRow {
    /// When its first packet left (ms).
    pub start_ms: f64,
    /// Packets in it.
    pub packets: u32,
}

/// Copies on one link, oriented away from the source.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct LinkCopies {
    /// The end nearer the source (data leaves from here).
    pub from: String,
    /// The other end.
    pub to: String,
    /// Data copies `from → to` (multicast capsules moving away from the source).
    pub data: u64,
    /// Subscribes and leaves `to → from`.
    pub control: u64,
    /// Copies unicast fan-out from the source would put on `from → to`: one per member and
    /// packet whose shortest path crosses the link.
    pub unicast: u64,
    /// Hops from the source to `from`.
    pub depth: usize,
}

/// Multicast versus unicast fan-out.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub struct Copies {
    /// Data copies the multicast tree put on the links.
    pub multicast: u64,
    /// Copies unicast fan-out would have put there (per member: packets × IP hops).
    pub unicast: u64,
}

/// The source's first link.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct SourceLink {
    /// `src -- e0`.
    pub link: String,
    /// Copies on it, multicast versus unicast.
    pub copies: Copies,
}

/// An active router with hosts behind it, none of them a member or the source.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct QuietEdge {
    /// The router.
    pub node: String,
    /// Multicast capsules on its links (both directions).
    pub capsules: u64,
    /// Whether it loaded the protocol's code.
    pub loaded_code: bool,
}

/// The multicast scenario's report: deterministic for a network, seed and plan.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Report {
    /// Topology name.
    pub topology: String,
    /// Seed.
    pub seed: u64,
    /// What the network is made of.
    pub network: Network,
    /// The source's node.
    pub source: String,
    /// Group id.
    pub group: u32,
    /// Members.
    pub members: usize,
    /// The plan's bursts.
    pub bursts: Vec<BurstRow>,
    /// Time between packets of a burst (ms).
    pub interval_ms: f64,
    /// Data bytes per packet.
    pub payload_len: usize,
    /// Packets the source sent.
    pub packets: u32,
    /// Packets the source's node refused (0 expected).
    pub send_errors: u32,
    /// Virtual time of one compilation (ms).
    pub compile_delay_ms: f64,
    /// Virtual time covered (ms).
    pub virtual_time_ms: f64,
    /// Events the emulator processed.
    pub events: u64,
    /// Code loads of the protocol, in time order: registrations, then on demand hop by hop.
    pub code_loading: Vec<CodeLoadRow>,
    /// Every member, in node order.
    pub receivers: Vec<Receiver>,
    /// Every link that carried capsules of the protocol or would have carried unicast copies,
    /// in link order.
    pub links: Vec<LinkCopies>,
    /// Data copies on all links.
    pub totals: Copies,
    /// Data copies on the source's first link.
    pub source_link: Option<SourceLink>,
    /// Active routers without members (no copy should reach them).
    pub quiet_edges: Vec<QuietEdge>,
    /// Multicast capsules on links whose ends are as far from the source (0 expected).
    pub stray_capsules: u64,
    /// Every member got every packet it wanted exactly once, and nothing else.
    pub exactly_once: bool,
    /// Data copies per link `[a → b, b → a]`, for the picture.
    #[serde(skip)]
    pub per_link: Vec<[u64; 2]>,
}

pub(super) fn build_report(rec: &Record) -> Report {
    let t = &rec.topology;
    let r = &rec.routes;
    let name = |n: NodeId| {
        t.nodes
            .get(n)
            .map_or_else(|| format!("#{n}"), |n| n.name.clone())
    };
    let source_log = &rec.source_log;
    let source = rec.source;

    let count = |k: NodeKind| t.nodes_of(k).count();
    let network = Network {
        nodes: t.nodes.len(),
        hosts: count(NodeKind::Host),
        active: count(NodeKind::Active),
        legacy: count(NodeKind::Legacy),
        links: t.links.len(),
    };

    // Code loads of this protocol.
    let node_of = |a: IpAddr| match a {
        IpAddr::V4(v4) => t.node_by_address(v4),
        IpAddr::V6(_) => None,
    };
    let code_loading: Vec<CodeLoadRow> = rec
        .code_loads
        .iter()
        .map(|l| CodeLoadRow {
            at_ms: ms(l.at),
            node: name(l.node),
            kind: t.nodes[l.node].kind,
            from: match l.from {
                None => "registered".into(),
                Some(a) => node_of(a).map_or_else(|| a.to_string(), name),
            },
            bytes: l.bytes,
        })
        .collect();
    let loaded: BTreeSet<NodeId> = rec.code_loads.iter().map(|l| l.node).collect();

    // Receivers, and the unicast copies each would have cost.
    let mut unicast_per_link = vec![[0u64; 2]; t.links.len()];
    let mut receivers = Vec::with_capacity(rec.members.len());
    for (m, log) in &rec.members {
        let m = *m;
        let until = log.wanted_until_ns();
        let wanted: BTreeSet<u32> = source_log
            .sent
            .iter()
            .filter(|p| p.at_ns < until)
            .map(|p| p.seq)
            .collect();
        let delivered = wanted
            .iter()
            .filter(|q| log.received.contains_key(q))
            .count() as u32;
        let unwanted = log.received.keys().filter(|q| !wanted.contains(q)).count() as u32;
        let duplicates = log.received.values().map(|c| c.saturating_sub(1)).sum();
        let path = r.ip_path(source, m);
        for w in path.windows(2) {
            if let Some(l) = t.link_between(w[0], w[1]) {
                let d = usize::from(t.links[l].a != w[0]);
                unicast_per_link[l][d] += wanted.len() as u64;
            }
        }
        receivers.push(Receiver {
            node: name(m),
            edge: r
                .active_neighbours(m)
                .first()
                .map_or_else(|| "-".into(), |&e| name(e)),
            wanted: wanted.len() as u32,
            delivered,
            duplicates,
            lost: wanted.len() as u32 - delivered,
            unwanted,
            left_ms: log.left_ns.map(ms),
            silent: log.silent,
            subscribes: log.subscribes_ns.len() as u32,
            first_ms: log.first_ns.map(ms),
            last_ms: log.last_ns.map(ms),
        });
    }

    // Links: data away from the source, control toward it.
    let capsules = &rec.capsules_per_link;
    let downstream = rec.downstream();
    let mut per_link = vec![[0u64; 2]; t.links.len()];
    let mut links = Vec::new();
    let mut totals = Copies {
        multicast: 0,
        unicast: 0,
    };
    let mut stray = 0;
    for (l, link) in t.links.iter().enumerate() {
        let c = capsules.get(l).copied().unwrap_or_default();
        let u = unicast_per_link[l];
        let Some(d) = downstream[l] else {
            stray += c[0] + c[1];
            continue;
        };
        per_link[l][d] = c[d];
        totals.multicast += c[d];
        totals.unicast += u[d];
        if c[0] + c[1] + u[d] == 0 {
            continue;
        }
        let (from, to) = if d == 0 {
            (link.a, link.b)
        } else {
            (link.b, link.a)
        };
        links.push(LinkCopies {
            from: name(from),
            to: name(to),
            data: c[d],
            control: c[1 - d],
            unicast: u[d],
            depth: r.ip_hops(source, from).unwrap_or(0),
        });
    }

    let source_link = t.links_of(source).first().map(|&l| {
        let d = downstream[l].unwrap_or(0);
        let link = &t.links[l];
        SourceLink {
            link: format!("{} -- {}", name(source), name(link.other(source))),
            copies: Copies {
                multicast: capsules.get(l).map_or(0, |c| c[d]),
                unicast: unicast_per_link[l][d],
            },
        }
    });

    // Active routers serving hosts, none of them a member or the source.
    let members: BTreeSet<NodeId> = rec.members.iter().map(|(m, _)| *m).collect();
    let quiet_edges = t
        .nodes_of(NodeKind::Active)
        .filter(|&e| {
            let hosts: Vec<NodeId> = t
                .neighbours(e)
                .map(|(_, n)| n)
                .filter(|&n| t.nodes[n].kind == NodeKind::Host)
                .collect();
            !hosts.is_empty() && hosts.iter().all(|h| !members.contains(h) && *h != source)
        })
        .map(|e| QuietEdge {
            node: name(e),
            capsules: t
                .links_of(e)
                .iter()
                .map(|&l| capsules.get(l).map_or(0, |c| c[0] + c[1]))
                .sum(),
            loaded_code: loaded.contains(&e),
        })
        .collect();

    let packets = source_log.sent.len() as u32;
    let exactly_once =
        packets > 0 && source_log.send_errors == 0 && receivers.iter().all(Receiver::exactly_once);
    Report {
        topology: t.name.clone(),
        seed: rec.seed,
        network,
        source: name(source),
        group: GROUP_ID,
        members: rec.members.len(),
        bursts: rec
            .plan
            .bursts
            .iter()
            .map(|b| BurstRow {
                start_ms: ms(b.start),
                packets: b.packets,
            })
            .collect(),
        interval_ms: ms(rec.plan.interval),
        payload_len: rec.plan.payload_len,
        packets,
        send_errors: source_log.send_errors,
        compile_delay_ms: ms(rec.compile_delay),
        virtual_time_ms: ms(rec.virtual_time),
        events: rec.events,
        code_loading,
        receivers,
        links,
        totals,
        source_link,
        quiet_edges,
        stray_capsules: stray,
        exactly_once,
        per_link,
    }
}
