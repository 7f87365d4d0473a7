//! The reliable multicast scenario's member application, [`ReliableMember`]: subscribes,
//! records every packet (checking its bytes), NACKs what it misses; its [`MemberStats`] are
//! read by the scenario through a [`Probe`].
//!
//! It never reads another application's counters or any node but its own.

use super::*;
use crate::app::send;

crate::app::refusals!(MemberStats);

/// One repair packet as a member saw it: who made it, which packet, and when.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize)]
pub struct RepairId {
    /// The node that made it (its name).
    pub origin: String,
    /// The packet.
    pub seq: u32,
    /// The origin's time when it made it.
    pub made_ns: u64,
}

/// What one member application saw.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct MemberStats {
    /// Sequence numbers delivered (each once).
    pub got: BTreeSet<u32>,
    /// Sequence numbers that arrived as original data (the others came only as repairs).
    pub originals: BTreeSet<u32>,
    /// Packets that arrived again after the member had them.
    pub duplicates: u64,
    /// Packets whose bytes were not the ones sent (never counted as delivered).
    pub corrupt: u64,
    /// Highest sequence number seen in data, repairs or announcements.
    pub highest: Option<u32>,
    /// Subscribes injected.
    pub subscribes: u64,
    /// NACK capsules injected.
    pub nacks: u64,
    /// Sequence numbers those NACKs named (retries included).
    pub nack_seqs: u64,
    /// Repairs received, each with how many times it arrived here.
    pub repairs: BTreeMap<RepairId, u64>,
    /// When the member had every packet.
    pub complete_at: Option<Timestamp>,
    /// Capsules the member's node refused.
    pub send_errors: u64,
    /// The first refusal.
    pub first_error: Option<String>,
}

impl MemberStats {
    /// Sequence numbers up to `packets` not delivered.
    pub fn missing(&self, packets: u32) -> Vec<u32> {
        (0..packets).filter(|s| !self.got.contains(s)).collect()
    }
}

/// A member: subscribes every [`SUBSCRIBE_EVERY`], records every packet by sequence number
/// (checking its bytes), and every [`NACK_TICK`] NACKs the sequence numbers up to the highest
/// seen that it misses and has not NACKed within [`RETRY_AFTER_MS`] (up to
/// [`MAX_NACKS_PER_TICK`] capsules of [`MAX_NACK_SEQS`]). In [`Recovery::EndToEnd`] the NACKs
/// go to the source application in `forward` capsules and the repairs come back the same way.
pub struct ReliableMember {
    recovery: Recovery,
    source: NodeId,
    source_addr: Option<IpAddr>,
    packets: u32,
    data_len: usize,
    protocol: Option<Fingerprint>,
    unicast: Option<Fingerprint>,
    nacked: BTreeMap<u32, Timestamp>,
    stats: Probe<MemberStats>,
}

impl ReliableMember {
    /// A member of the group sent by the host `source`, expecting `config.packets` packets.
    pub fn new(source: NodeId, config: &Config, recovery: Recovery) -> Self {
        ReliableMember {
            recovery,
            source,
            source_addr: None,
            packets: config.packets,
            data_len: config.data_len,
            protocol: None,
            unicast: None,
            nacked: BTreeMap::new(),
            stats: Probe::new(),
        }
    }

    /// Its counters, readable while it runs inside an emulator.
    pub fn probe(&self) -> Probe<MemberStats> {
        self.stats.clone()
    }

    /// Sends `m` to the source; a refusal is counted, not fatal.
    fn send(
        &self,
        ctx: &mut AppContext<'_>,
        fp: Fingerprint,
        budget: u16,
        m: &Message<'_>,
    ) -> bool {
        let Some(to) = self.source_addr else {
            return false;
        };
        send(ctx, &self.stats, fp, to, budget, PAYLOAD, m)
    }

    /// Records packet `seq` (original data unless `repair`).
    fn packet(&mut self, now: Timestamp, seq: u32, data: &[u8], repair: bool) {
        let intact = data == data_for(seq, self.data_len).as_slice();
        let packets = self.packets;
        let new = self.stats.update(|s| {
            if !intact {
                s.corrupt += 1;
                return false;
            }
            s.highest = s.highest.max(Some(seq));
            if !repair {
                s.originals.insert(seq);
            }
            if !s.got.insert(seq) {
                s.duplicates += 1;
                return false;
            }
            if s.complete_at.is_none() && (0..packets).all(|q| s.got.contains(&q)) {
                s.complete_at = Some(now);
            }
            true
        });
        if new {
            self.nacked.remove(&seq);
        }
    }

    fn nack(&mut self, ctx: &mut AppContext<'_>) {
        let Some(highest) = self.stats.read(|s| s.highest) else {
            return;
        };
        let now = ctx.now();
        let retry = Duration::from_millis(RETRY_AFTER_MS);
        let due: Vec<u32> = self.stats.read(|s| {
            (0..=highest)
                .filter(|q| !s.got.contains(q))
                .filter(|q| self.nacked.get(q).is_none_or(|&t| now >= t + retry))
                .take(MAX_NACK_SEQS * MAX_NACKS_PER_TICK)
                .collect()
        });
        let (fp, budget) = match self.recovery {
            Recovery::Local => (self.protocol, NACK_BUDGET),
            Recovery::EndToEnd => (self.unicast, UNICAST_BUDGET),
        };
        let Some(fp) = fp else { return };
        for seqs in due.chunks(MAX_NACK_SEQS) {
            let m = Message::Nack {
                group: GROUP,
                port: MEMBER_PORT,
                hops: 0,
                seqs: seqs.to_vec(),
            };
            if self.send(ctx, fp, budget, &m) {
                self.stats.update(|s| {
                    s.nacks += 1;
                    s.nack_seqs += seqs.len() as u64;
                });
                for &q in seqs {
                    self.nacked.insert(q, now);
                }
            }
        }
    }
}

impl Application for ReliableMember {
    fn name(&self) -> String {
        format!("reliable multicast member ({})", self.recovery.label())
    }

    fn start(&mut self, ctx: &mut AppContext<'_>) -> Result<(), AppError> {
        if ctx.topology().nodes.get(self.source).is_none() {
            return Err(AppError::Other(format!("no source node #{}", self.source)));
        }
        self.source_addr = Some(ctx.node_address(self.source));
        self.protocol = Some(ctx.register_capsule(CAPSULE)?);
        if self.recovery == Recovery::EndToEnd {
            self.unicast = Some(ctx.register_capsule(UNICAST_CAPSULE)?);
            ctx.listen(FORWARD_PORT);
        }
        ctx.listen(MEMBER_PORT);
        ctx.set_timer(Duration::ZERO, SUBSCRIBE);
        ctx.set_timer(NACK_TICK, NACK);
        Ok(())
    }

    fn on_timer(&mut self, ctx: &mut AppContext<'_>, token: u64) {
        match token {
            SUBSCRIBE => {
                let Some(fp) = self.protocol else { return };
                let m = Message::Subscribe {
                    group: GROUP,
                    port: MEMBER_PORT,
                };
                if self.send(ctx, fp, SUBSCRIBE_BUDGET, &m) {
                    self.stats.update(|s| s.subscribes += 1);
                }
                ctx.set_timer(SUBSCRIBE_EVERY, SUBSCRIBE);
            }
            NACK => {
                self.nack(ctx);
                ctx.set_timer(NACK_TICK, NACK);
            }
            _ => {}
        }
    }

    fn on_delivery(&mut self, ctx: &mut AppContext<'_>, d: &AppDelivery) {
        let ours = match d.port {
            MEMBER_PORT => self.protocol == Some(d.fingerprint),
            FORWARD_PORT => self.unicast == Some(d.fingerprint),
            _ => false,
        };
        if !ours {
            return;
        }
        let Ok(m) = postcard::from_bytes::<Message>(&d.payload) else {
            return;
        };
        match m {
            Message::Data {
                group: GROUP,
                seq,
                data,
            } => self.packet(d.at, seq, data, false),
            Message::Repair {
                group: GROUP,
                seq,
                origin,
                made_ns,
                data,
            } => {
                let ip = origin.to_ip();
                let origin = ctx
                    .name_of(ip)
                    .map_or_else(|| ip.to_string(), str::to_string);
                let id = RepairId {
                    origin,
                    seq,
                    made_ns,
                };
                self.stats
                    .update(|s| *s.repairs.entry(id).or_default() += 1);
                self.packet(d.at, seq, data, true);
            }
            Message::Announce {
                group: GROUP,
                highest,
            } => {
                self.stats
                    .update(|s| s.highest = s.highest.max(Some(highest)));
            }
            _ => {}
        }
    }

    fn report(&self) -> Value {
        let s = self.stats.snapshot();
        json!({
            "delivered": s.got.len(),
            "originals": s.originals.len(),
            "duplicates": s.duplicates,
            "corrupt": s.corrupt,
            "missing": s.missing(self.packets),
            "nacks": s.nacks,
            "repairs": s.repairs.values().sum::<u64>(),
            "complete_ms": s.complete_at.map(ms),
        })
    }

    fn summary(&self) -> String {
        let s = self.stats.snapshot();
        format!(
            "{}/{} packets ({} repaired), {} duplicates, {} NACKs",
            s.got.len(),
            self.packets,
            s.got.difference(&s.originals).count(),
            s.duplicates,
            s.nacks
        )
    }
}
