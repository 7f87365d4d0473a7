//! The reliable multicast scenario's source application, [`ReliableSource`]: the data stream,
//! its announcements, and in end-to-end mode the repairs it answers NACKs with; its
//! [`SourceStats`] are read by the scenario through a [`Probe`].
//!
//! It never reads another application's counters or any node but its own.

use super::*;
use crate::app::send;

crate::app::refusals!(SourceStats);

/// What the source application did.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct SourceStats {
    /// Data packets injected.
    pub sent: u32,
    /// Announcements injected.
    pub announces: u64,
    /// End-to-end NACKs that reached the source application.
    pub nacks_received: u64,
    /// Sequence numbers those NACKs named.
    pub nack_seqs: u64,
    /// Unicast repairs it sent in answer.
    pub repairs_sent: u64,
    /// Capsules the source's node refused.
    pub send_errors: u64,
    /// The first refusal.
    pub first_error: Option<String>,
    /// When the last data packet left (virtual time).
    #[serde(skip)]
    pub last_sent: Option<Timestamp>,
}

/// The source: [`Config::packets`] data capsules, one every [`Config::interval`] from
/// [`Config::start`], an announcement every [`ANNOUNCE_EVERY`] while sending and for
/// [`ANNOUNCE_TAIL`] after, and in [`Recovery::EndToEnd`] a unicast repair for every sequence
/// number of every NACK that reaches it.
pub struct ReliableSource {
    recovery: Recovery,
    packets: u32,
    interval: Duration,
    data_len: usize,
    start: Duration,
    protocol: Option<Fingerprint>,
    unicast: Option<Fingerprint>,
    stats: Probe<SourceStats>,
}

impl ReliableSource {
    /// A source sending as `config` says, answering NACKs itself in end-to-end mode.
    pub fn new(config: &Config, recovery: Recovery) -> Self {
        ReliableSource {
            recovery,
            packets: config.packets,
            interval: config.interval,
            data_len: config.data_len,
            start: config.start,
            protocol: None,
            unicast: None,
            stats: Probe::new(),
        }
    }

    /// Its counters, readable while it runs inside an emulator.
    pub fn probe(&self) -> Probe<SourceStats> {
        self.stats.clone()
    }
}

impl Application for ReliableSource {
    fn name(&self) -> String {
        format!("reliable multicast source ({})", self.recovery.label())
    }

    fn start(&mut self, ctx: &mut AppContext<'_>) -> Result<(), AppError> {
        self.protocol = Some(ctx.register_capsule(CAPSULE)?);
        if self.recovery == Recovery::EndToEnd {
            self.unicast = Some(ctx.register_capsule(UNICAST_CAPSULE)?);
            ctx.listen(FORWARD_PORT);
        }
        if self.packets > 0 {
            ctx.set_timer(self.start, DATA);
            ctx.set_timer(self.start + ANNOUNCE_EVERY, ANNOUNCE);
        }
        Ok(())
    }

    fn on_timer(&mut self, ctx: &mut AppContext<'_>, token: u64) {
        let Some(fp) = self.protocol else { return };
        let me = ctx.address();
        match token {
            DATA => {
                let seq = self.stats.read(|s| s.sent);
                let data = data_for(seq, self.data_len);
                let m = Message::Data {
                    group: GROUP,
                    seq,
                    data: &data,
                };
                send(ctx, &self.stats, fp, me, DATA_BUDGET, PAYLOAD, &m);
                let now = ctx.now();
                let sent = self.stats.update(|s| {
                    s.sent += 1;
                    s.last_sent = Some(now);
                    s.sent
                });
                if sent < self.packets {
                    ctx.set_timer(self.interval, DATA);
                }
            }
            ANNOUNCE => {
                let (sent, last) = self.stats.read(|s| (s.sent, s.last_sent));
                if sent > 0 {
                    let m = Message::Announce {
                        group: GROUP,
                        highest: sent - 1,
                    };
                    if send(ctx, &self.stats, fp, me, DATA_BUDGET, PAYLOAD, &m) {
                        self.stats.update(|s| s.announces += 1);
                    }
                }
                let sending = sent < self.packets;
                if sending || last.is_some_and(|t| ctx.now() < t + ANNOUNCE_TAIL) {
                    ctx.set_timer(ANNOUNCE_EVERY, ANNOUNCE);
                }
            }
            _ => {}
        }
    }

    fn on_delivery(&mut self, ctx: &mut AppContext<'_>, d: &AppDelivery) {
        let Some(unicast) = self.unicast else {
            return;
        };
        if d.port != FORWARD_PORT || d.fingerprint != unicast {
            return;
        }
        let Ok(Message::Nack {
            group: GROUP, seqs, ..
        }) = postcard::from_bytes::<Message>(&d.payload)
        else {
            return;
        };
        let sent = self.stats.read(|s| s.sent);
        self.stats.update(|s| {
            s.nacks_received += 1;
            s.nack_seqs += seqs.len() as u64;
        });
        let origin = Address::from(ctx.address());
        for seq in seqs.into_iter().filter(|&s| s < sent) {
            let data = data_for(seq, self.data_len);
            let m = Message::Repair {
                group: GROUP,
                seq,
                origin,
                made_ns: ctx.now().as_nanos(),
                data: &data,
            };
            if send(
                ctx,
                &self.stats,
                unicast,
                d.source,
                UNICAST_BUDGET,
                PAYLOAD,
                &m,
            ) {
                self.stats.update(|s| s.repairs_sent += 1);
            }
        }
    }

    fn report(&self) -> Value {
        serde_json::to_value(self.stats.snapshot()).unwrap_or(Value::Null)
    }

    fn summary(&self) -> String {
        let s = self.stats.snapshot();
        format!(
            "{} packets, {} announcements, {} NACKs answered with {} repairs",
            s.sent, s.announces, s.nacks_received, s.repairs_sent
        )
    }
}
