//! The congestion scenario's report: one run's numbers ([`RunStats`]), both runs side by side
//! ([`Report`], made from a [`Record`]), and the tables.
//!
//! It never looks at the emulator: a report is a function of the record alone.

use std::fmt::Write as _;

use serde::Serialize;

use super::{Bottleneck, Config, RateControl, ReceiverLog, Record, RunOn, SenderLog, wire_len};
use crate::{ScenarioReport, Table, ms};

/// One run's numbers.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct RunStats {
    /// Whether the sender reacted to notifications.
    pub react: bool,
    /// The seed.
    pub seed: u64,
    /// Data capsules sent during the flow.
    pub sent: u64,
    /// Of them, delivered (distinct).
    pub delivered: u64,
    /// Sent but never delivered.
    pub lost: u64,
    /// Datagrams the bottleneck's queue refused during the flow (the flow's direction).
    pub bottleneck_drops: u64,
    /// Datagrams the bottleneck put on the wire during the flow (the flow's direction).
    pub bottleneck_packets: u64,
    /// Datagrams the bottleneck's queue refused before the flow started: code fragments
    /// served in a burst to the router behind it while it demand-loaded the capsule (it
    /// asks again for the missing ones), the same in both runs.
    pub warm_up_drops: u64,
    /// Whether the warm-up capsule arrived (the code was loaded along the whole path).
    pub warm_up_delivered: bool,
    /// Queue drops on every other link direction (0 expected).
    pub other_queue_drops: u64,
    /// Capsules the nodes dropped, all reasons (0 expected).
    pub capsule_drops: u64,
    /// Capsules delivered during the sending period.
    pub window_packets: u64,
    /// Application data delivered during the sending period, bits per second of virtual time.
    pub goodput_bps: f64,
    /// Capsules delivered per second of the sending period.
    pub goodput_pps: f64,
    /// Notifications the sender received.
    pub notifications: u64,
    /// Of them, ignored (reactions off, or within a round trip of a decrease).
    pub ignored: u64,
    /// Rate decreases.
    pub decreases: u64,
    /// Rate increases.
    pub increases: u64,
    /// Lowest rate (capsules per second).
    pub min_rate_pps: f64,
    /// Highest rate.
    pub max_rate_pps: f64,
    /// Rate at the end of the flow.
    pub final_rate_pps: f64,
    /// Extra copies the receiver got (0 expected).
    pub duplicates: u64,
    /// Capsules the sender's node refused (0 expected).
    pub send_errors: u64,
    /// Virtual time covered (ms).
    pub virtual_ms: f64,
    /// Emulator events processed.
    pub events: u64,
}

/// What the network counted during one run, from the emulator's counters or from the
/// daemons' (the applications' own logs give the rest of a [`RunStats`]).
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Counted {
    /// Datagrams the bottleneck's queue refused during the flow.
    pub bottleneck_drops: u64,
    /// Datagrams the bottleneck put on the wire during the flow.
    pub bottleneck_packets: u64,
    /// Datagrams the bottleneck's queue refused before the flow started.
    pub warm_up_drops: u64,
    /// Queue drops anywhere else during the flow.
    pub other_queue_drops: u64,
    /// Capsules the nodes dropped, all reasons.
    pub capsule_drops: u64,
    /// Time the run covered (ms: virtual in the emulator, real on daemons).
    pub elapsed_ms: f64,
    /// Emulator events processed (0 on daemons).
    pub events: u64,
}

impl RunStats {
    /// One run's numbers from the sender's and the receiver's logs and what the network
    /// `counted`, for a flow of `config`.
    pub fn new(
        react: bool,
        seed: u64,
        config: &Config,
        s: &SenderLog,
        r: &ReceiverLog,
        counted: Counted,
    ) -> RunStats {
        let secs = config.duration.as_secs_f64();
        RunStats {
            react,
            seed,
            sent: s.sent,
            delivered: r.delivered,
            lost: s.sent.saturating_sub(r.delivered),
            bottleneck_drops: counted.bottleneck_drops,
            bottleneck_packets: counted.bottleneck_packets,
            warm_up_drops: counted.warm_up_drops,
            warm_up_delivered: r.warm_up,
            other_queue_drops: counted.other_queue_drops,
            capsule_drops: counted.capsule_drops,
            window_packets: r.window_packets,
            goodput_bps: r.window_bytes as f64 * 8.0 / secs,
            goodput_pps: r.window_packets as f64 / secs,
            notifications: s.notifications,
            ignored: s.ignored,
            decreases: s.decreases,
            increases: s.increases,
            min_rate_pps: s.min_rate_pps,
            max_rate_pps: s.max_rate_pps,
            final_rate_pps: s.final_rate_pps,
            duplicates: r.duplicates,
            send_errors: s.send_errors,
            virtual_ms: counted.elapsed_ms,
            events: counted.events,
        }
    }
}

/// The scenario's result: the same flow with and without the capsule's advice.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Report {
    /// Where the runs happened.
    pub run_on: RunOn,
    /// Topology name.
    pub topology: String,
    /// The topology file.
    pub file: String,
    /// The sending host.
    pub sender: String,
    /// The receiving host.
    pub receiver: String,
    /// The bottleneck.
    pub bottleneck: Bottleneck,
    /// Path round trip without queueing (ms).
    pub rtt_ms: f64,
    /// Data bytes per capsule.
    pub data_len: usize,
    /// Bytes per capsule on the wire.
    pub wire_len: usize,
    /// The reacting sender's pacing (the other sends at `start_pps` throughout).
    pub control: RateControl,
    /// When the flow started (ms).
    pub start_ms: f64,
    /// How long it sent (ms).
    pub duration_ms: f64,
    /// The run whose sender follows the capsule's advice.
    pub with_advice: RunStats,
    /// The same flow at a constant rate (notifications ignored).
    pub without_advice: RunStats,
    /// Bottleneck drops with advice / without.
    pub drop_ratio: f64,
    /// Goodput with advice / without.
    pub goodput_ratio: f64,
    /// Whether a second reacting run with the same seed gave the same numbers (`None` if
    /// not repeated).
    pub repeat_identical: Option<bool>,
}

/// The bar: with the advice, bottleneck drops below a quarter of those without it.
pub const MAX_DROP_RATIO: f64 = 0.25;
/// The bar: with the advice, at least this share of the goodput without it.
pub const MIN_GOODPUT_RATIO: f64 = 0.9;

impl Report {
    /// Whether the bar holds: far fewer drops at the bottleneck, goodput held, and
    /// notifications did arrive.
    pub fn bar_met(&self) -> bool {
        self.without_advice.bottleneck_drops > 0
            && self.drop_ratio < MAX_DROP_RATIO
            && self.goodput_ratio >= MIN_GOODPUT_RATIO
            && self.with_advice.notifications > 0
    }
}

pub(super) fn build_report(r: &Record) -> Report {
    let (with_advice, without_advice) = (&r.with_advice, &r.without_advice);
    let ratio = |a: f64, b: f64| if b == 0.0 { f64::INFINITY } else { a / b };
    Report {
        run_on: r.run_on,
        topology: r.topology.clone(),
        file: r.file.display().to_string(),
        sender: r.sender.clone(),
        receiver: r.receiver.clone(),
        bottleneck: r.bottleneck.clone(),
        rtt_ms: ms(r.rtt),
        data_len: r.config.data_len,
        wire_len: wire_len(r.config.data_len),
        control: r.control,
        start_ms: ms(r.config.start),
        duration_ms: ms(r.config.duration),
        drop_ratio: ratio(
            with_advice.bottleneck_drops as f64,
            without_advice.bottleneck_drops as f64,
        ),
        goodput_ratio: ratio(with_advice.goodput_bps, without_advice.goodput_bps),
        with_advice: with_advice.clone(),
        without_advice: without_advice.clone(),
        repeat_identical: r.repeat.as_ref().map(|again| again == with_advice),
    }
}

impl ScenarioReport for Report {
    fn table(&self) -> String {
        let (a, b) = (&self.with_advice, &self.without_advice);
        let c = &self.control;
        let n = &self.bottleneck;
        let mut out = String::new();
        let world = match self.run_on {
            RunOn::Emulator => format!("in the emulator, seed {}", a.seed),
            RunOn::Namespaces => "on antsd in network namespaces, real time; link delays are \
                                  not applied there, the sender paces by the file's round trip"
                .to_string(),
        };
        let _ = writeln!(
            out,
            "congestion notification on {} ({world}): {} -> {}, bottleneck {} -> {} at {} kbit/s \
             with a {}-datagram queue ({:.0} capsules/s of {} bytes), path round trip {:.1} ms",
            self.topology,
            self.sender,
            self.receiver,
            n.from,
            n.to,
            n.bandwidth_bps / 1000,
            n.queue,
            n.capacity_pps,
            self.wire_len,
            self.rtt_ms
        );
        let _ = writeln!(
            out,
            "flow: {}-byte data for {:.0} ms from {:.0} ms at {:.0} capsules/s; with advice: halve \
             per notification at most once per round trip, +{:.0} capsules/s per round trip up to {:.0}",
            self.data_len, self.duration_ms, self.start_ms, c.start_pps, c.step_pps, c.ceiling_pps
        );
        out.push('\n');
        let mut table = Table::new()
            .left("", 34)
            .right("with advice", 13)
            .right("constant rate", 13);
        let runs = [a, b];
        table.compare("data capsules sent", &runs, |r| r.sent.to_string());
        table.compare("delivered", &runs, |r| r.delivered.to_string());
        table.compare(
            format!("queue drops at {} -> {}", n.from, n.to),
            &runs,
            |r| r.bottleneck_drops.to_string(),
        );
        table.compare("goodput (data, kbit/s)", &runs, |r| {
            format!("{:.1}", r.goodput_bps / 1e3)
        });
        table.compare("goodput (capsules/s)", &runs, |r| {
            format!("{:.1}", r.goodput_pps)
        });
        table.compare("notifications received", &runs, |r| {
            r.notifications.to_string()
        });
        table.compare("rate decreases / increases", &runs, |r| {
            format!("{} / {}", r.decreases, r.increases)
        });
        table.compare("rate min..max (capsules/s)", &runs, |r| {
            format!("{:.0}..{:.0}", r.min_rate_pps, r.max_rate_pps)
        });
        table.compare("warm-up drops (code fragments)", &runs, |r| {
            r.warm_up_drops.to_string()
        });
        table.compare("other drops (queues, nodes)", &runs, |r| {
            format!("{}, {}", r.other_queue_drops, r.capsule_drops)
        });
        table.write(&mut out);
        let _ = writeln!(
            out,
            "\nbottleneck drops with / without advice = {:.3} (bar < {MAX_DROP_RATIO}); goodput with / without = {:.3} (bar >= {MIN_GOODPUT_RATIO}): {}",
            self.drop_ratio,
            self.goodput_ratio,
            if self.bar_met() {
                "bar met"
            } else {
                "BAR NOT MET"
            }
        );
        if let Some(same) = self.repeat_identical {
            let _ = writeln!(
                out,
                "same seed again: {}",
                if same {
                    "identical numbers"
                } else {
                    "DIFFERENT numbers"
                }
            );
        }
        out
    }
}
