//! The reliable multicast scenario's report: per-run rows, the comparison, the tables.

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

/// Runs the scenario with the default [`Config`].
pub fn run(options: &ScenarioOptions) -> anyhow::Result<Report> {
    run_with(options, &Config::default())
}

/// Runs the scenario: local repair, end to end, and (if `config.repeat`) local repair again.
pub fn run_with(options: &ScenarioOptions, config: &Config) -> anyhow::Result<Report> {
    let net = Network::load(options)?;
    let local = net
        .run(options.seed, config, Recovery::Local)
        .context("local repair run")?;
    let end_to_end = net
        .run(options.seed, config, Recovery::EndToEnd)
        .context("end-to-end run")?;
    let repeat_identical = if config.repeat {
        let again = net
            .run(options.seed, config, Recovery::Local)
            .context("repeated local repair run")?;
        Some(again == local)
    } else {
        None
    };
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
    let t = &net.topology;
    let losses = t.links.iter().map(|l| l.params.loss);
    Ok(Report {
        topology: t.name.clone(),
        file: net.file.display().to_string(),
        source: t.nodes[net.source].name.clone(),
        members: net
            .members
            .iter()
            .map(|&m| t.nodes[m].name.clone())
            .collect(),
        packets: config.packets,
        interval_ms: config.interval.as_secs_f64() * 1e3,
        start_ms: config.start.as_secs_f64() * 1e3,
        links: t.links.len(),
        loss_min: losses.clone().fold(f64::INFINITY, f64::min),
        loss_max: losses.fold(0.0, f64::max),
        local,
        end_to_end,
        comparison,
        repeat_identical,
    })
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
    let _ = writeln!(
        out,
        "\nmembers ({}):\n  {:<8} {:>9} {:>9} {:>8} {:>5} {:>7} {:>6} {:>9} {:>10} {:>12} {:>11}",
        run.recovery.label(),
        "member",
        "delivered",
        "originals",
        "repaired",
        "dups",
        "missing",
        "NACKs",
        "NACK seqs",
        "rep. src",
        "rep. interm.",
        "complete ms"
    );
    for r in &run.members {
        let _ = writeln!(
            out,
            "  {:<8} {:>9} {:>9} {:>8} {:>5} {:>7} {:>6} {:>9} {:>10} {:>12} {:>11}",
            r.node,
            r.delivered,
            r.originals,
            r.repaired,
            r.duplicates,
            r.missing.len(),
            r.nacks,
            r.nack_seqs,
            r.repairs_from_source,
            r.repairs_from_intermediate,
            r.complete_ms
                .map_or_else(|| "-".into(), |t| format!("{t:.0}")),
        );
    }
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
        let row = |out: &mut String, what: &str, a: String, b: String| {
            let _ = writeln!(out, "  {what:<44} {a:>13} {b:>13}");
        };
        let _ = writeln!(
            out,
            "\n  {:<44} {:>13} {:>13}",
            "", "local repair", "end to end"
        );
        row(
            &mut out,
            &format!("repair datagrams on {}", l.first_link.link),
            l.first_link.repairs.to_string(),
            e.first_link.repairs.to_string(),
        );
        let _ = writeln!(
            out,
            "  local / end to end = {:.3}; packets some member missed (source-only floor) {}, local / floor = {:.3}",
            self.comparison.ratio,
            self.comparison.source_only_floor,
            self.comparison.ratio_to_floor
        );
        row(
            &mut out,
            "every member has every packet",
            yes(l.all_complete).into(),
            yes(e.all_complete).into(),
        );
        let fin = |r: &RunStats| {
            r.finished_ms
                .map_or_else(|| "-".into(), |t| format!("{t:.0}"))
        };
        row(&mut out, "last member complete (ms)", fin(l), fin(e));
        row(
            &mut out,
            "NACK capsules sent by members",
            l.nacks.to_string(),
            e.nacks.to_string(),
        );
        row(
            &mut out,
            "sequence numbers NACKed",
            l.nack_seqs.to_string(),
            e.nack_seqs.to_string(),
        );
        row(
            &mut out,
            "repairs made by the source (distinct)",
            l.repairs_from_source.to_string(),
            e.repairs_from_source.to_string(),
        );
        row(
            &mut out,
            "repairs made by intermediate nodes (distinct)",
            l.repairs_from_intermediate.to_string(),
            e.repairs_from_intermediate.to_string(),
        );
        row(
            &mut out,
            "original packets missed (sum over members)",
            l.missed_originals.to_string(),
            e.missed_originals.to_string(),
        );
        row(
            &mut out,
            "duplicates (sum over members)",
            l.members
                .iter()
                .map(|m| m.duplicates)
                .sum::<u64>()
                .to_string(),
            e.members
                .iter()
                .map(|m| m.duplicates)
                .sum::<u64>()
                .to_string(),
        );
        let fl = |r: &RunStats| {
            format!(
                "{}/{}/{}",
                r.first_link.data,
                r.first_link.announces,
                r.first_link.protocol_down + r.first_link.unicast_down
            )
        };
        row(
            &mut out,
            "first link: data/announces/all capsules down",
            fl(l),
            fl(e),
        );
        row(
            &mut out,
            "first link: capsules up (subscribes, NACKs)",
            (l.first_link.protocol_up + l.first_link.unicast_up).to_string(),
            (e.first_link.protocol_up + e.first_link.unicast_up).to_string(),
        );
        row(
            &mut out,
            "link losses (whole network)",
            l.link_losses.to_string(),
            e.link_losses.to_string(),
        );
        let reasons: BTreeSet<&String> = l.drops.keys().chain(e.drops.keys()).collect();
        for reason in reasons {
            let n = |r: &RunStats| r.drops.get(reason).copied().unwrap_or(0).to_string();
            row(
                &mut out,
                &format!("capsules dropped by nodes: {reason}"),
                n(l),
                n(e),
            );
        }
        row(
            &mut out,
            "emulator events",
            l.events.to_string(),
            e.events.to_string(),
        );

        let _ = writeln!(
            out,
            "\nrepairs by origin (local repair):\n  {:<8} {:<13} {:>8} {:>11}",
            "node", "role", "packets", "deliveries"
        );
        for o in &l.repairs_by_origin {
            let _ = writeln!(
                out,
                "  {:<8} {:<13} {:>8} {:>11}",
                o.node, o.role, o.packets, o.deliveries
            );
        }
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
