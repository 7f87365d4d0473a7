//! The anycast scenario's report: its rows, how they are counted from a [`Record`], and its
//! tables.
//!
//! It never looks at the emulator: a report is a function of the record alone.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use serde::Serialize;

use super::{MemberLog, Record};
use crate::{ScenarioReport, Table, ms};

/// One member's share.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct MemberRow {
    /// The member's node.
    pub node: String,
    /// Active hops from the client.
    pub distance: usize,
    /// Advertisements it injected.
    pub advertisements: usize,
    /// When it withdrew (ms), if it did.
    pub left_ms: Option<f64>,
    /// Packets delivered to it before the withdraw.
    pub before: u64,
    /// Packets delivered to it after the withdraw.
    pub after: u64,
    /// First and last delivery (ms).
    pub first_ms: Option<f64>,
    /// See `first_ms`.
    pub last_ms: Option<f64>,
}

/// How traffic moved when the nearest member left.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Switch {
    /// The member that left (the nearest).
    pub from: String,
    /// The next nearest member.
    pub to: String,
    /// When the withdraw was injected (ms).
    pub withdraw_ms: f64,
    /// Last delivery at the leaving member (ms).
    pub last_before_ms: Option<f64>,
    /// First delivery at the next nearest member after the withdraw (ms).
    pub first_after_ms: Option<f64>,
    /// `first_after_ms - withdraw_ms`: how long until traffic moved.
    pub switch_ms: Option<f64>,
    /// Packets sent between the last one delivered to the leaving member and the first one
    /// delivered to the next that were delivered nowhere.
    pub lost_in_switch: u64,
}

/// The anycast scenario's report: deterministic for a network, seed and plan.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Report {
    /// Topology name.
    pub topology: String,
    /// Seed.
    pub seed: u64,
    /// The anycast address.
    pub group: String,
    /// The client's node.
    pub client: String,
    /// Advertisement period (ms).
    pub advertise_period_ms: f64,
    /// Time between packets (ms).
    pub interval_ms: f64,
    /// Members by increasing distance.
    pub members: Vec<MemberRow>,
    /// Packets the client sent.
    pub sent: u64,
    /// Distinct packets delivered to some member.
    pub delivered: u64,
    /// Packets delivered to more than one member, or twice (0 expected).
    pub duplicates: u64,
    /// Packets delivered nowhere.
    pub lost: u64,
    /// Packets delivered to a member that was not the nearest live one (0 expected): before
    /// the withdraw, anyone but the nearest; after the switch, anyone but the next nearest.
    pub misrouted: u64,
    /// The move.
    pub switch: Switch,
    /// Capsules the nodes dropped, by reason: `no_effect` for flood copies that improved
    /// no table (where a flood stops), `capsule_error` for data a node had no live entry
    /// for (packets in flight to the leaving member when it withdrew).
    pub drops: BTreeMap<String, u64>,
    /// Virtual time covered (ms).
    pub virtual_time_ms: f64,
}

pub(super) fn build_report(r: &Record) -> Report {
    let empty = MemberLog::default();
    let log = |i: usize| r.members.get(i).map_or(&empty, |m| &m.log);
    let name = |i: usize| {
        r.members
            .get(i)
            .map_or_else(String::new, |m| m.node.clone())
    };
    let (nearest, next) = (log(0), log(1));
    let withdraw_ns = nearest.left_ns.unwrap_or(u64::MAX);

    // Who got each packet.
    let mut got: BTreeMap<u32, Vec<usize>> = BTreeMap::new();
    for (i, m) in r.members.iter().enumerate() {
        for &(seq, _) in &m.log.received {
            got.entry(seq).or_default().push(i);
        }
    }
    let sent = r.client_log.sent_ns.len() as u64;
    let delivered = got.keys().filter(|&&q| u64::from(q) < sent).count() as u64;
    let duplicates = got.values().map(|v| v.len() as u64 - 1).sum();

    // The switch: the last delivery at the leaving member, the first after the withdraw at
    // the next nearest.
    let last_before = nearest.received.iter().map(|&(_, at)| at).max();
    let first_after = next
        .received
        .iter()
        .filter(|&&(_, at)| at >= withdraw_ns)
        .map(|&(q, at)| (at, q))
        .min();
    let last_seq_before = nearest.received.iter().map(|&(q, _)| q).max();
    let lost_in_switch = match (last_seq_before, first_after) {
        (Some(a), Some((_, b))) if b > a => {
            (a + 1..b).filter(|q| !got.contains_key(q)).count() as u64
        }
        _ => 0,
    };
    let switch_at = first_after.map_or(u64::MAX, |(at, _)| at);
    // Where each delivery may go: before the withdraw, the nearest member only; from the
    // switch on, the next nearest only; in between (packets in flight), either of the two.
    let allowed = |i: usize, at: u64| {
        if at < withdraw_ns {
            i == 0
        } else if at >= switch_at {
            i == 1
        } else {
            i <= 1
        }
    };
    let misrouted = r
        .members
        .iter()
        .enumerate()
        .flat_map(|(i, m)| m.log.received.iter().map(move |&(_, at)| (i, at)))
        .filter(|&(i, at)| !allowed(i, at))
        .count() as u64;

    let members = r
        .members
        .iter()
        .map(|m| {
            let log = &m.log;
            MemberRow {
                node: m.node.clone(),
                distance: m.distance,
                advertisements: log.advertised_ns.len(),
                left_ms: log.left_ns.map(ms),
                before: log
                    .received
                    .iter()
                    .filter(|&&(_, at)| at < withdraw_ns)
                    .count() as u64,
                after: log
                    .received
                    .iter()
                    .filter(|&&(_, at)| at >= withdraw_ns)
                    .count() as u64,
                first_ms: log.received.iter().map(|&(_, at)| at).min().map(ms),
                last_ms: log.received.iter().map(|&(_, at)| at).max().map(ms),
            }
        })
        .collect();

    Report {
        topology: r.topology.clone(),
        seed: r.seed,
        group: r.plan.group.to_string(),
        client: r.client.clone(),
        advertise_period_ms: ms(r.plan.advertise_period),
        interval_ms: ms(r.plan.interval),
        members,
        sent,
        delivered,
        duplicates,
        lost: sent - delivered.min(sent),
        misrouted,
        switch: Switch {
            from: name(0),
            to: name(1),
            withdraw_ms: ms(withdraw_ns),
            last_before_ms: last_before.map(ms),
            first_after_ms: first_after.map(|(at, _)| ms(at)),
            switch_ms: first_after.map(|(at, _)| ms(at - withdraw_ns.min(at))),
            lost_in_switch,
        },
        drops: r.drops.clone(),
        virtual_time_ms: ms(r.virtual_time),
    }
}

impl ScenarioReport for Report {
    fn table(&self) -> String {
        let mut out = String::new();
        let _ = writeln!(
            out,
            "anycast {} on {} (seed {}): client {}, {} members advertising every {:.0} ms, a packet every {:.0} ms",
            self.group,
            self.topology,
            self.seed,
            self.client,
            self.members.len(),
            self.advertise_period_ms,
            self.interval_ms
        );
        let sw = &self.switch;
        out.push('\n');
        let mut members = Table::new()
            .left("member", 10)
            .right("distance", 8)
            .right("advertisements", 14)
            .right("before withdraw", 15)
            .right("after withdraw", 14)
            .right("left ms", 10);
        for m in &self.members {
            members.row([
                m.node.clone(),
                m.distance.to_string(),
                m.advertisements.to_string(),
                m.before.to_string(),
                m.after.to_string(),
                m.left_ms.map_or_else(|| "-".into(), |t| format!("{t:.0}")),
            ]);
        }
        members.write(&mut out);
        let opt = |v: Option<f64>| v.map_or_else(|| "never".into(), |t| format!("{t:.1} ms"));
        let _ = writeln!(
            out,
            "\n{} withdrew at {:.1} ms; last delivery there {}; first delivery at {} after it {}: traffic moved in {}, {} packets lost in the switch",
            sw.from,
            sw.withdraw_ms,
            opt(sw.last_before_ms),
            sw.to,
            opt(sw.first_after_ms),
            sw.switch_ms
                .map_or_else(|| "never".into(), |t| format!("{t:.1} ms")),
            sw.lost_in_switch
        );
        let _ = writeln!(
            out,
            "{} packets sent, {} delivered, {} lost, {} duplicates, {} to a member that was not the nearest live one",
            self.sent, self.delivered, self.lost, self.duplicates, self.misrouted
        );
        if !self.drops.is_empty() {
            let d: Vec<String> = self.drops.iter().map(|(k, v)| format!("{k} {v}")).collect();
            let _ = writeln!(out, "node drops: {}", d.join(", "));
        }
        out
    }
}
