//! What a run did: the serialisable [`EmulatorReport`] and its text tables.
//!
//! Owns the report's shape (per node, per link direction, deliveries per host and port,
//! applications, the hop-by-hop code loading timeline, capsule logs) and
//! [`EmulatorReport::table`], compact tables a person reads in a minute (the busiest rows of
//! large networks, everything in `--json`).
//!
//! It never includes wall-clock time or anything else that varies between runs: the same
//! topology and seed give the same report, byte for byte. It only reads the emulator.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use serde::Serialize;
use serde_json::Value;

use super::apps::{at_ms, ms};
use super::network::{DirectionStats, ProtocolCount};
use std::net::IpAddr;

use super::Emulator;
use ants_topology::model::{Event, NodeKind};

/// Rows each section of [`EmulatorReport::table`] shows at most.
pub const TABLE_ROWS: usize = 30;

/// The deterministic report of a run. See the module docs.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct EmulatorReport {
    /// Topology name.
    pub topology: String,
    /// Seed of the link losses.
    pub seed: u64,
    /// Virtual time of one compilation.
    pub compile_delay_ms: f64,
    /// Link-load measurement period.
    pub load_window_ms: f64,
    /// Virtual time covered.
    pub virtual_time_ms: f64,
    /// Events processed.
    pub events: u64,
    /// Real compilations (one per protocol).
    pub compilations: u64,
    /// Sums over the network.
    pub totals: Totals,
    /// Protocol label → fingerprint.
    pub protocols: BTreeMap<String, String>,
    /// Every node, in node order.
    pub nodes: Vec<NodeReport>,
    /// Every link, in link order.
    pub links: Vec<LinkReport>,
    /// Payloads delivered, per node and port (with or without an application listening).
    pub deliveries: Vec<DeliveryReport>,
    /// Applications, in the order they were added.
    pub apps: Vec<AppReport>,
    /// Every code load, in time order: code travelling hop by hop.
    pub code_loading: Vec<CodeLoadReport>,
    /// Capsule log lines (the first ones; `totals.capsule_logs` counts all).
    pub logs: Vec<LogReport>,
    /// The file's scripted events, as applied (empty without `[[event]]`).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub scripted_events: Vec<EventReport>,
}

/// What one scripted event did.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct EventReport {
    /// The event as applied.
    #[serde(flatten)]
    pub event: crate::EventRecord,
    /// For `link_down` and `node_down`: datagrams lost since because the link was down (both
    /// directions) or addressed to the stopped node core, by the end of the run.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub lost_while_down: Option<u64>,
}

/// Sums over the network.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct Totals {
    /// Datagrams put on links (each hop counts).
    pub link_packets: u64,
    /// Their bytes on the wire.
    pub link_bytes: u64,
    /// Datagrams lost on links.
    pub link_losses: u64,
    /// Datagrams dropped at full queues.
    pub queue_drops: u64,
    /// Capsules the node cores dropped (all reasons).
    pub capsule_drops: u64,
    /// Payloads delivered to application ports.
    pub deliveries: u64,
    /// Code loads (registrations included).
    pub code_loads: u64,
    /// Capsule log lines.
    pub capsule_logs: u64,
}

/// One node.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct NodeReport {
    /// Name.
    pub name: String,
    /// Host, active or legacy.
    pub kind: NodeKind,
    /// Node address.
    pub address: String,
    /// Capsules that arrived (from the network, local applications or the loopback).
    pub capsules_received: u64,
    /// Capsule frames sent on.
    pub capsules_forwarded: u64,
    /// Payloads delivered to local applications.
    pub capsules_delivered: u64,
    /// Capsule evaluations.
    pub evaluations: u64,
    /// Code requests sent (demand loading).
    pub code_requests: u64,
    /// Code fragments served.
    pub fragments_sent: u64,
    /// Datagrams forwarded at the IP level (all a legacy router does).
    pub ip_forwarded: u64,
    /// Datagrams dropped for want of a route.
    pub ip_unroutable: u64,
    /// Datagrams addressed to it that arrived corrupted (a link's `corrupt`): dropped by the
    /// UDP checksum before its core saw them.
    #[serde(skip_serializing_if = "is_zero")]
    pub udp_checksum_drops: u64,
    /// Capsule log lines.
    pub capsule_logs: u64,
    /// Drops by named reason (nonzero ones; see `docs/node.md`).
    pub drops: BTreeMap<String, u64>,
    /// Code this node loaded, in time order.
    pub code_loads: Vec<NodeCodeLoad>,
}

/// A code load as seen from the node.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct NodeCodeLoad {
    /// When (ms).
    pub at_ms: f64,
    /// Protocol label.
    pub protocol: String,
    /// Node it came from, or `registered`.
    pub from: String,
}

/// One link, both directions.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct LinkReport {
    /// One end.
    pub a: String,
    /// The other end.
    pub b: String,
    /// One-way delay.
    pub delay_ms: f64,
    /// Loss probability per direction.
    pub loss: f64,
    /// Bandwidth, if limited.
    pub bandwidth_bps: Option<u64>,
    /// Queue length in datagrams (with a bandwidth).
    pub queue: usize,
    /// Traffic from `a` to `b`.
    pub a_to_b: DirectionReport,
    /// Traffic from `b` to `a`.
    pub b_to_a: DirectionReport,
}

/// One link direction.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct DirectionReport {
    /// Datagrams put on the wire.
    pub packets: u64,
    /// Their bytes on the wire (frame + 28).
    pub bytes: u64,
    /// Datagrams dropped at the full queue.
    pub queue_drops: u64,
    /// Datagrams lost on the wire.
    pub losses: u64,
    /// Longest queue seen.
    pub max_queue: usize,
    /// Datagrams lost while the link was down (`link_down` events).
    #[serde(skip_serializing_if = "is_zero")]
    pub down_drops: u64,
    /// Datagrams held back by one more delay (`reorder`).
    #[serde(skip_serializing_if = "is_zero")]
    pub reordered: u64,
    /// Datagrams that arrived twice (`duplicate`).
    #[serde(skip_serializing_if = "is_zero")]
    pub duplicated: u64,
    /// Datagrams with a flipped byte (`corrupt`).
    #[serde(skip_serializing_if = "is_zero")]
    pub corrupted: u64,
    /// Datagrams by protocol label.
    pub protocols: BTreeMap<String, ProtocolCount>,
}

/// For `skip_serializing_if`: counters of features a run does not use stay out of its report.
fn is_zero(n: &u64) -> bool {
    *n == 0
}

/// Payloads delivered on one port of one node.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct DeliveryReport {
    /// Node name.
    pub node: String,
    /// Port.
    pub port: u16,
    /// Payloads.
    pub count: u64,
    /// Their bytes.
    pub bytes: u64,
    /// Whether an application listened on the port.
    pub listened: bool,
}

/// One application.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct AppReport {
    /// Node name.
    pub node: String,
    /// Application name.
    pub name: String,
    /// One line for tables.
    pub summary: String,
    /// The application's own report.
    pub report: Value,
}

/// One code load in the timeline.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct CodeLoadReport {
    /// When (ms).
    pub at_ms: f64,
    /// The loading node.
    pub node: String,
    /// Protocol label.
    pub protocol: String,
    /// Node it came from, or `registered`.
    pub from: String,
    /// Module size.
    pub bytes: usize,
}

/// One capsule log line.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct LogReport {
    /// When (ms).
    pub at_ms: f64,
    /// Node name.
    pub node: String,
    /// Protocol label.
    pub protocol: String,
    /// Severity.
    pub level: String,
    /// Text.
    pub message: String,
}

fn direction(emu: &Emulator, stats: &DirectionStats) -> DirectionReport {
    DirectionReport {
        packets: stats.packets,
        bytes: stats.bytes,
        queue_drops: stats.queue_drops,
        losses: stats.losses,
        max_queue: stats.max_queue,
        down_drops: stats.down_drops,
        reordered: stats.reordered,
        duplicated: stats.duplicated,
        corrupted: stats.corrupted,
        protocols: stats
            .protocols
            .iter()
            .map(|(fp, c)| (emu.label(fp), *c))
            .collect(),
    }
}

/// Builds the report of `emu` as it stands.
pub(super) fn build(emu: &Emulator) -> EmulatorReport {
    let t = &emu.topology;
    let name_of = |addr: Option<IpAddr>| match addr {
        None => "registered".to_string(),
        Some(IpAddr::V4(a)) => t
            .node_by_address(a)
            .map_or_else(|| a.to_string(), |n| t.nodes[n].name.clone()),
        Some(other) => other.to_string(),
    };
    let mut loads_by_node: Vec<Vec<NodeCodeLoad>> = vec![Vec::new(); t.nodes.len()];
    let code_loading: Vec<CodeLoadReport> = emu
        .code_loads
        .iter()
        .map(|l| {
            let protocol = emu.label(&l.fingerprint);
            let from = name_of(l.from);
            loads_by_node[l.node].push(NodeCodeLoad {
                at_ms: at_ms(l.at),
                protocol: protocol.clone(),
                from: from.clone(),
            });
            CodeLoadReport {
                at_ms: at_ms(l.at),
                node: t.nodes[l.node].name.clone(),
                protocol,
                from,
                bytes: l.bytes,
            }
        })
        .collect();

    let mut totals = Totals {
        code_loads: emu.code_loads.len() as u64,
        ..Totals::default()
    };
    let nodes: Vec<NodeReport> = t
        .nodes
        .iter()
        .zip(&emu.nodes)
        .zip(loads_by_node)
        .map(|((n, e), code_loads)| {
            let stats = e.core.as_deref().map(|c| c.stats()).unwrap_or_default();
            totals.capsule_drops += stats.drops.total();
            totals.deliveries += stats.deliveries;
            totals.capsule_logs += e.logs;
            NodeReport {
                name: n.name.clone(),
                kind: n.kind,
                address: n.address.to_string(),
                capsules_received: stats
                    .capsules_received
                    .saturating_sub(stats.capsules_released),
                capsules_forwarded: stats.capsules_sent,
                capsules_delivered: stats.deliveries,
                evaluations: stats.evaluations,
                code_requests: stats.code_requests_sent,
                fragments_sent: stats.fragments_sent,
                ip_forwarded: e.ip_forwarded,
                ip_unroutable: e.ip_unroutable,
                udp_checksum_drops: e.checksum_drops,
                capsule_logs: e.logs,
                drops: stats
                    .drops
                    .nonzero()
                    .map(|(k, v)| (k.to_string(), v))
                    .collect(),
                code_loads,
            }
        })
        .collect();

    let links: Vec<LinkReport> = t
        .links
        .iter()
        .enumerate()
        .map(|(l, link)| {
            let (ab, ba) = (&emu.dirs[2 * l].stats, &emu.dirs[2 * l + 1].stats);
            for s in [ab, ba] {
                totals.link_packets += s.packets;
                totals.link_bytes += s.bytes;
                totals.link_losses += s.losses;
                totals.queue_drops += s.queue_drops;
            }
            LinkReport {
                a: t.nodes[link.a].name.clone(),
                b: t.nodes[link.b].name.clone(),
                delay_ms: ms(link.params.delay),
                loss: link.params.loss,
                bandwidth_bps: link.params.bandwidth_bps,
                queue: link.params.queue,
                a_to_b: direction(emu, ab),
                b_to_a: direction(emu, ba),
            }
        })
        .collect();

    let deliveries = emu
        .deliveries
        .iter()
        .map(|(&(node, port), c)| DeliveryReport {
            node: t.nodes[node].name.clone(),
            port,
            count: c.count,
            bytes: c.bytes,
            listened: emu.nodes[node].ports.contains_key(&port),
        })
        .collect();

    let apps = emu
        .apps
        .iter()
        .filter_map(|&(node, index)| {
            let app = emu.app_ref(node, index)?;
            Some(AppReport {
                node: t.nodes[node].name.clone(),
                name: app.name(),
                summary: app.summary(),
                report: app.report(),
            })
        })
        .collect();

    let logs = emu
        .logs
        .iter()
        .map(|l| LogReport {
            at_ms: at_ms(l.at),
            node: t.nodes[l.node].name.clone(),
            protocol: emu.label(&l.fingerprint),
            level: l.level.clone(),
            message: l.message.clone(),
        })
        .collect();

    let scripted_events = emu
        .event_log
        .iter()
        .zip(&t.events)
        .map(|(record, event)| EventReport {
            event: record.clone(),
            lost_while_down: match *event {
                Event::LinkDown { link, .. } => Some(
                    emu.dirs[2 * link].stats.down_drops + emu.dirs[2 * link + 1].stats.down_drops,
                ),
                Event::NodeDown { node, .. } => Some(emu.down_drops(node)),
                _ => None,
            },
        })
        .collect();

    EmulatorReport {
        scripted_events,
        topology: t.name.clone(),
        seed: emu.seed,
        compile_delay_ms: ms(emu.compile_delay),
        load_window_ms: ms(emu.load_window),
        virtual_time_ms: at_ms(emu.now),
        events: emu.events,
        compilations: emu.compilations,
        totals,
        protocols: emu
            .modules
            .labels
            .iter()
            .map(|(fp, l)| (l.clone(), fp.to_string()))
            .collect(),
        nodes,
        links,
        deliveries,
        apps,
        code_loading,
        logs,
    }
}

/// A text table: headers, rows, and which columns are numbers (right-aligned).
struct Table {
    headers: Vec<&'static str>,
    numeric: Vec<bool>,
    rows: Vec<Vec<String>>,
}

impl Table {
    fn new(columns: &[(&'static str, bool)]) -> Self {
        Table {
            headers: columns.iter().map(|c| c.0).collect(),
            numeric: columns.iter().map(|c| c.1).collect(),
            rows: Vec::new(),
        }
    }

    fn row(&mut self, cells: Vec<String>) {
        self.rows.push(cells);
    }

    fn render(&self, out: &mut String) {
        let mut widths: Vec<usize> = self.headers.iter().map(|h| h.chars().count()).collect();
        for r in &self.rows {
            for (w, c) in widths.iter_mut().zip(r) {
                *w = (*w).max(c.chars().count());
            }
        }
        let line = |cells: &mut dyn Iterator<Item = &str>, out: &mut String| {
            let mut s = String::from(" ");
            for (i, c) in cells.enumerate() {
                let w = widths[i];
                let last = i + 1 == widths.len();
                if self.numeric[i] {
                    let _ = write!(s, " {c:>w$}");
                } else if last {
                    let _ = write!(s, " {c}");
                } else {
                    let _ = write!(s, " {c:<w$}");
                }
            }
            out.push_str(s.trim_end());
            out.push('\n');
        };
        line(&mut self.headers.iter().copied(), out);
        for r in &self.rows {
            line(&mut r.iter().map(String::as_str), out);
        }
    }
}

fn dash(v: u64) -> String {
    if v == 0 { "-".into() } else { v.to_string() }
}

/// "… and N more" when a section shows `shown` of `total` rows.
fn more(out: &mut String, shown: usize, total: usize, what: &str) {
    if total > shown {
        let _ = writeln!(
            out,
            "  ... and {} more {what} (all of them with --json)",
            total - shown
        );
    }
}

impl EmulatorReport {
    /// Compact text tables: applications, the code loading timeline, the busiest nodes and
    /// links, deliveries. Large networks show the first or busiest [`TABLE_ROWS`] rows of
    /// each section.
    pub fn table(&self) -> String {
        let mut out = String::new();
        let _ = writeln!(
            out,
            "{}: {} nodes, {} links, seed {}, {:.3} ms of virtual time, {} events, compile delay {} ms",
            self.topology,
            self.nodes.len(),
            self.links.len(),
            self.seed,
            self.virtual_time_ms,
            self.events,
            self.compile_delay_ms
        );
        let t = &self.totals;
        let _ = writeln!(
            out,
            "datagrams on links {} ({} bytes), lost {}, queue drops {}; capsules delivered {}, dropped {}; code loads {}",
            t.link_packets,
            t.link_bytes,
            t.link_losses,
            t.queue_drops,
            t.deliveries,
            t.capsule_drops,
            t.code_loads
        );

        if !self.apps.is_empty() {
            out.push_str("\napplications\n");
            let mut table = Table::new(&[("application", false), ("result", false)]);
            for a in self.apps.iter().take(TABLE_ROWS) {
                table.row(vec![a.name.clone(), a.summary.clone()]);
            }
            table.render(&mut out);
            more(&mut out, TABLE_ROWS, self.apps.len(), "applications");
        }

        if !self.scripted_events.is_empty() {
            out.push_str("\nscripted events\n");
            let mut table = Table::new(&[
                ("at ms", true),
                ("event", false),
                ("target", false),
                ("outcome", false),
                ("lost while down", true),
            ]);
            for e in self.scripted_events.iter().take(TABLE_ROWS) {
                table.row(vec![
                    format!("{:.3}", e.event.at_ms),
                    e.event.kind.to_string(),
                    e.event.target.clone(),
                    e.event.outcome.clone(),
                    e.lost_while_down
                        .map_or_else(String::new, |n| n.to_string()),
                ]);
            }
            table.render(&mut out);
            more(&mut out, TABLE_ROWS, self.scripted_events.len(), "events");
        }

        if !self.code_loading.is_empty() {
            out.push_str("\ncode loading, hop by hop\n");
            let mut table = Table::new(&[
                ("at ms", true),
                ("node", false),
                ("protocol", false),
                ("from", false),
            ]);
            for l in self.code_loading.iter().take(TABLE_ROWS) {
                table.row(vec![
                    format!("{:.3}", l.at_ms),
                    l.node.clone(),
                    l.protocol.clone(),
                    l.from.clone(),
                ]);
            }
            table.render(&mut out);
            more(&mut out, TABLE_ROWS, self.code_loading.len(), "code loads");
        }

        // Busiest first, ties in node order.
        let mut busy: Vec<&NodeReport> = self
            .nodes
            .iter()
            .filter(|n| {
                n.capsules_received + n.ip_forwarded + n.ip_unroutable > 0 || !n.drops.is_empty()
            })
            .collect();
        busy.sort_by_key(|n| std::cmp::Reverse(n.capsules_received + n.ip_forwarded));
        if !busy.is_empty() {
            let _ = writeln!(
                out,
                "\nnodes ({} of {} saw traffic{})",
                busy.len(),
                self.nodes.len(),
                if busy.len() > TABLE_ROWS {
                    ", busiest shown"
                } else {
                    ""
                }
            );
            let mut table = Table::new(&[
                ("node", false),
                ("kind", false),
                ("address", false),
                ("received", true),
                ("forwarded", true),
                ("delivered", true),
                ("ip fwd", true),
                ("drops", false),
            ]);
            for n in busy.iter().take(TABLE_ROWS) {
                let drops: Vec<String> = n.drops.iter().map(|(k, v)| format!("{k} {v}")).collect();
                table.row(vec![
                    n.name.clone(),
                    n.kind.to_string(),
                    n.address.clone(),
                    dash(n.capsules_received),
                    dash(n.capsules_forwarded),
                    dash(n.capsules_delivered),
                    dash(n.ip_forwarded + n.ip_unroutable),
                    if drops.is_empty() {
                        "-".into()
                    } else {
                        drops.join(", ")
                    },
                ]);
            }
            table.render(&mut out);
            more(&mut out, TABLE_ROWS, busy.len(), "nodes");
        }

        let mut links: Vec<&LinkReport> = self
            .links
            .iter()
            .filter(|l| {
                l.a_to_b.packets + l.b_to_a.packets + l.a_to_b.queue_drops + l.b_to_a.queue_drops
                    > 0
            })
            .collect();
        links.sort_by_key(|l| std::cmp::Reverse(l.a_to_b.packets + l.b_to_a.packets));
        if !links.is_empty() {
            let _ = writeln!(
                out,
                "\nlinks ({} of {} carried traffic{}; per direction: packets, lost, queue drops, max queue)",
                links.len(),
                self.links.len(),
                if links.len() > TABLE_ROWS {
                    ", busiest shown"
                } else {
                    ""
                }
            );
            let mut table = Table::new(&[
                ("link", false),
                ("a>b pkts", true),
                ("lost", true),
                ("qdrop", true),
                ("maxq", true),
                ("b>a pkts", true),
                ("lost", true),
                ("qdrop", true),
                ("maxq", true),
                ("protocols (capsules+code)", false),
            ]);
            for l in links.iter().take(TABLE_ROWS) {
                let mut protos: BTreeMap<&str, (u64, u64)> = BTreeMap::new();
                for d in [&l.a_to_b, &l.b_to_a] {
                    for (k, c) in &d.protocols {
                        let e = protos.entry(k.as_str()).or_default();
                        e.0 += c.capsules;
                        e.1 += c.code;
                    }
                }
                let protos: Vec<String> = protos
                    .iter()
                    .map(|(k, (c, code))| format!("{k} {c}+{code}"))
                    .collect();
                let (ab, ba) = (&l.a_to_b, &l.b_to_a);
                table.row(vec![
                    format!("{} -- {}", l.a, l.b),
                    ab.packets.to_string(),
                    dash(ab.losses),
                    dash(ab.queue_drops),
                    dash(ab.max_queue as u64),
                    ba.packets.to_string(),
                    dash(ba.losses),
                    dash(ba.queue_drops),
                    dash(ba.max_queue as u64),
                    protos.join(", "),
                ]);
            }
            table.render(&mut out);
            more(&mut out, TABLE_ROWS, links.len(), "links");
        }

        if !self.deliveries.is_empty() {
            out.push_str("\ndeliveries\n");
            let mut table = Table::new(&[
                ("node", false),
                ("port", true),
                ("payloads", true),
                ("bytes", true),
                ("application", false),
            ]);
            for d in self.deliveries.iter().take(TABLE_ROWS) {
                table.row(vec![
                    d.node.clone(),
                    d.port.to_string(),
                    d.count.to_string(),
                    d.bytes.to_string(),
                    if d.listened { "yes" } else { "none" }.into(),
                ]);
            }
            table.render(&mut out);
            more(&mut out, TABLE_ROWS, self.deliveries.len(), "ports");
        }

        if !self.logs.is_empty() {
            let _ = writeln!(
                out,
                "\ncapsule logs ({} lines, first {} shown)",
                self.totals.capsule_logs,
                self.logs.len().min(10)
            );
            for l in self.logs.iter().take(10) {
                let _ = writeln!(
                    out,
                    "  {:.3} ms {} {} {}: {}",
                    l.at_ms, l.node, l.protocol, l.level, l.message
                );
            }
        }
        out
    }
}
