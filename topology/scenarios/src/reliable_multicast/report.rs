//! The reliable multicast scenario's report: per-run rows, both modes compared on the source's
//! first link, made from a [`Record`], and the tables.
//!
//! It never looks at an emulator: a report is a function of the record alone.

use super::*;

/// Repairs that members received from one origin.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct OriginRow {
    /// The node that made them.
    pub node: String,
    /// `source` or `intermediate`.
    pub role: &'static str,
    /// Distinct repair packets (origin, seq, time made) that reached at least one member.
    pub packets: u64,
    /// Their deliveries to members (a repair copied to several requesters counts for each).
    pub deliveries: u64,
}

/// One member's result.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct MemberRow {
    /// The member's node.
    pub node: String,
    /// Distinct packets delivered.
    pub delivered: u32,
    /// Of those, how many arrived as original data.
    pub originals: u32,
    /// And how many only as repairs.
    pub repaired: u32,
    /// Packets delivered again.
    pub duplicates: u64,
    /// Packets with wrong bytes.
    pub corrupt: u64,
    /// Packets never delivered.
    pub missing: Vec<u32>,
    /// NACK capsules sent.
    pub nacks: u64,
    /// Sequence numbers they named.
    pub nack_seqs: u64,
    /// Repair deliveries made by the source.
    pub repairs_from_source: u64,
    /// Repair deliveries made by other nodes.
    pub repairs_from_intermediate: u64,
    /// When it had every packet (virtual ms).
    pub complete_ms: Option<f64>,
}

/// What crossed the source's first link.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct FirstLink {
    /// The link, source end first.
    pub link: String,
    /// Original data packets the source sent (one copy each crosses the link).
    pub data: u32,
    /// Announcements it sent (likewise).
    pub announces: u64,
    /// Reliable-multicast capsules put on the link leaving the source.
    pub protocol_down: u64,
    /// `forward` capsules put on it (end-to-end repairs).
    pub unicast_down: u64,
    /// Repair datagrams: `protocol_down - data - announces + unicast_down`.
    pub repairs: u64,
    /// Reliable-multicast capsules toward the source (subscribes and NACKs).
    pub protocol_up: u64,
    /// `forward` capsules toward the source (end-to-end NACKs).
    pub unicast_up: u64,
    /// Datagrams lost on the link leaving the source.
    pub losses_down: u64,
}

/// One run of one recovery mode.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct RunStats {
    /// How losses were repaired.
    pub recovery: Recovery,
    /// Seed of the link losses.
    pub seed: u64,
    /// Whether every member got every packet.
    pub all_complete: bool,
    /// When the last member had everything (virtual ms).
    pub finished_ms: Option<f64>,
    /// Virtual time when the run stopped.
    pub virtual_ms: f64,
    /// NACK capsules the members sent.
    pub nacks: u64,
    /// Sequence numbers they named.
    pub nack_seqs: u64,
    /// Distinct repair packets made by the source that reached a member.
    pub repairs_from_source: u64,
    /// Distinct repair packets made by other nodes that reached a member.
    pub repairs_from_intermediate: u64,
    /// Repairs by the node that made them.
    pub repairs_by_origin: Vec<OriginRow>,
    /// Original packets members missed, summed over members.
    pub missed_originals: u64,
    /// Packets at least one member missed: a source-only scheme must send each of them across
    /// the first link again at least once.
    pub lost_somewhere: u64,
    /// The source's first link.
    pub first_link: FirstLink,
    /// The source application's counters.
    pub source: SourceStats,
    /// Per member.
    pub members: Vec<MemberRow>,
    /// Emulator events.
    pub events: u64,
    /// Capsules node cores dropped, by reason, over all nodes. `no_effect` counts what the
    /// protocol absorbs on purpose: subscribes a node on the tree does not pass upstream, and
    /// NACKs answered or merged without a request upstream.
    pub drops: BTreeMap<String, u64>,
    /// Datagrams lost on links.
    pub link_losses: u64,
}

/// Local repair against the end-to-end baseline, on the source's first link.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Comparison {
    /// Repair datagrams on the first link with local repair.
    pub local: u64,
    /// Repair datagrams on the first link end to end (measured).
    pub end_to_end: u64,
    /// `local / end_to_end`.
    pub ratio: f64,
    /// Packets some member missed in the local-repair run: the fewest repairs any source-only
    /// scheme (even one that multicasts each repair once) sends across the first link.
    pub source_only_floor: u64,
    /// `local / source_only_floor`.
    pub ratio_to_floor: f64,
}

/// The scenario's result.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Report {
    /// Topology name.
    pub topology: String,
    /// The topology file.
    pub file: String,
    /// The source's node.
    pub source: String,
    /// The members' nodes.
    pub members: Vec<String>,
    /// Data packets sent.
    pub packets: u32,
    /// Time between packets (ms).
    pub interval_ms: f64,
    /// When sending started (virtual ms).
    pub start_ms: f64,
    /// Links in the network.
    pub links: usize,
    /// Lowest loss rate of any link.
    pub loss_min: f64,
    /// Highest loss rate of any link.
    pub loss_max: f64,
    /// The run with the capsule's local repair.
    pub local: RunStats,
    /// The run with end-to-end retransmission.
    pub end_to_end: RunStats,
    /// The first link, side by side.
    pub comparison: Comparison,
    /// Whether a second local-repair run with the same seed gave the same numbers (`None`
    /// if not repeated).
    pub repeat_identical: Option<bool>,
}

pub(super) fn build_report(r: &Record) -> Report {
    let (local, end_to_end) = (&r.local, &r.end_to_end);
    let ratio = |a: u64, b: u64| {
        if b == 0 {
            f64::INFINITY
        } else {
            a as f64 / b as f64
        }
    };
    let comparison = Comparison {
        local: local.first_link.repairs,
        end_to_end: end_to_end.first_link.repairs,
        ratio: ratio(local.first_link.repairs, end_to_end.first_link.repairs),
        source_only_floor: local.lost_somewhere,
        ratio_to_floor: ratio(local.first_link.repairs, local.lost_somewhere),
    };
    let losses = r.losses.iter().copied();
    Report {
        topology: r.topology.clone(),
        file: r.file.display().to_string(),
        source: r.source.clone(),
        members: r.members.clone(),
        packets: r.config.packets,
        interval_ms: ms(r.config.interval),
        start_ms: ms(r.config.start),
        links: r.losses.len(),
        loss_min: losses.clone().fold(f64::INFINITY, f64::min),
        loss_max: losses.fold(0.0, f64::max),
        local: local.clone(),
        end_to_end: end_to_end.clone(),
        comparison,
        repeat_identical: r.repeat.as_ref().map(|again| again == local),
    }
}

impl Report {
    /// Whether the scenario's bar holds: every member got every packet in both runs, and
    /// fewer repairs crossed the source's first link with local repair than end to end.
    pub fn bar_met(&self) -> bool {
        self.local.all_complete
            && self.end_to_end.all_complete
            && self.comparison.local < self.comparison.end_to_end
    }
}

fn yes(b: bool) -> &'static str {
    if b { "yes" } else { "NO" }
}

fn member_table(out: &mut String, run: &RunStats) {
    let _ = writeln!(out, "\nmembers ({}):", run.recovery.label());
    let mut t = Table::new()
        .left("member", 8)
        .right("delivered", 9)
        .right("originals", 9)
        .right("repaired", 8)
        .right("dups", 5)
        .right("missing", 7)
        .right("NACKs", 6)
        .right("NACK seqs", 9)
        .right("rep. src", 10)
        .right("rep. interm.", 12)
        .right("complete ms", 11);
    for r in &run.members {
        t.row([
            r.node.clone(),
            r.delivered.to_string(),
            r.originals.to_string(),
            r.repaired.to_string(),
            r.duplicates.to_string(),
            r.missing.len().to_string(),
            r.nacks.to_string(),
            r.nack_seqs.to_string(),
            r.repairs_from_source.to_string(),
            r.repairs_from_intermediate.to_string(),
            r.complete_ms
                .map_or_else(|| "-".into(), |t| format!("{t:.0}")),
        ]);
    }
    t.write(out);
}

impl ScenarioReport for Report {
    fn table(&self) -> String {
        let (l, e) = (&self.local, &self.end_to_end);
        let mut out = String::new();
        let loss = if self.loss_min == self.loss_max {
            format!("{:.0} % loss on every link", self.loss_max * 100.0)
        } else {
            format!(
                "{:.0}-{:.0} % loss per link",
                self.loss_min * 100.0,
                self.loss_max * 100.0
            )
        };
        let _ = writeln!(
            out,
            "reliable multicast on {} (seed {}): {} packets, one every {:.0} ms from {:.0} ms, \
             {} -> {} members, {} ({} links)",
            self.topology,
            l.seed,
            self.packets,
            self.interval_ms,
            self.start_ms,
            self.source,
            self.members.len(),
            loss,
            self.links
        );
        out.push('\n');
        let mut table = Table::new()
            .left("", 44)
            .right("local repair", 13)
            .right("end to end", 13);
        let runs = [l, e];
        table.compare(
            format!("repair datagrams on {}", l.first_link.link),
            &runs,
            |r| r.first_link.repairs.to_string(),
        );
        // The ratios go under the first row.
        let mut ratios = String::new();
        let _ = writeln!(
            ratios,
            "  local / end to end = {:.3}; packets some member missed (source-only floor) {}, local / floor = {:.3}",
            self.comparison.ratio,
            self.comparison.source_only_floor,
            self.comparison.ratio_to_floor
        );
        table.compare("every member has every packet", &runs, |r| {
            yes(r.all_complete).into()
        });
        table.compare("last member complete (ms)", &runs, |r| {
            r.finished_ms
                .map_or_else(|| "-".into(), |t| format!("{t:.0}"))
        });
        type Count = fn(&RunStats) -> u64;
        let counts: [(&str, Count); 6] = [
            ("NACK capsules sent by members", |r| r.nacks),
            ("sequence numbers NACKed", |r| r.nack_seqs),
            ("repairs made by the source (distinct)", |r| {
                r.repairs_from_source
            }),
            ("repairs made by intermediate nodes (distinct)", |r| {
                r.repairs_from_intermediate
            }),
            ("original packets missed (sum over members)", |r| {
                r.missed_originals
            }),
            ("duplicates (sum over members)", |r| {
                r.members.iter().map(|m| m.duplicates).sum()
            }),
        ];
        for (what, count) in counts {
            table.compare(what, &runs, |r| count(r).to_string());
        }
        table.compare("first link: data/announces/all capsules down", &runs, |r| {
            let f = &r.first_link;
            format!(
                "{}/{}/{}",
                f.data,
                f.announces,
                f.protocol_down + f.unicast_down
            )
        });
        table.compare("first link: capsules up (subscribes, NACKs)", &runs, |r| {
            (r.first_link.protocol_up + r.first_link.unicast_up).to_string()
        });
        table.compare("link losses (whole network)", &runs, |r| {
            r.link_losses.to_string()
        });
        let reasons: BTreeSet<&String> = l.drops.keys().chain(e.drops.keys()).collect();
        for reason in reasons {
            table.compare(format!("capsules dropped by nodes: {reason}"), &runs, |r| {
                r.drops.get(reason).copied().unwrap_or(0).to_string()
            });
        }
        table.compare("emulator events", &runs, |r| r.events.to_string());

        table.write_with_break(&mut out, 1, &ratios);

        out.push_str("\nrepairs by origin (local repair):\n");
        let mut origins = Table::new()
            .left("node", 8)
            .left("role", 13)
            .right("packets", 8)
            .right("deliveries", 11);
        for o in &l.repairs_by_origin {
            origins.row([
                o.node.clone(),
                o.role.to_string(),
                o.packets.to_string(),
                o.deliveries.to_string(),
            ]);
        }
        origins.write(&mut out);
        member_table(&mut out, l);
        member_table(&mut out, e);
        let _ = writeln!(
            out,
            "\nsame seed, same numbers: {}",
            match self.repeat_identical {
                Some(true) => "yes (the local-repair run repeated gave an identical result)",
                Some(false) => "NO (the repeated local-repair run differed)",
                None => "not checked",
            }
        );
        out
    }
}
