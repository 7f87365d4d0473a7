//! The emulated IP network: datagrams, link directions with their queues, counters and load.
//!
//! Owns [`Datagram`] (source node, destination node, frame bytes), one [`Direction`] per link
//! direction (delay, loss decided by the direction's own seeded stream, bandwidth as
//! serialisation time, a drop-tail queue of datagrams), the counters every direction keeps
//! ([`DirectionStats`], with packets per protocol fingerprint) and the [`LinkLoad`] a node
//! reads for the direction toward a neighbour.
//!
//! It never schedules events or touches a node: the emulator asks a direction what happens to
//! a datagram and schedules the answer. Forwarding is by destination node only: the frame is
//! parsed with `ants_router::wire` for the per-protocol counters and nothing else, so a
//! legacy router never depends on what a datagram carries.

use std::collections::VecDeque;
use std::time::Duration;

use ants_router::fingerprint::Fingerprint;
use ants_router::routing::{LinkLoad, LoadMeter};
use ants_router::time::Timestamp;
use ants_router::wire::Frame;
use serde::Serialize;

use super::rng::SplitMix64;
use ants_topology::model::{Impairments, LinkParams, NodeId};

/// Bytes an IPv4 and a UDP header add to every frame on the wire.
pub const IP_UDP_OVERHEAD: usize = 28;

/// One IP datagram between node-core nodes: what legacy routers forward.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Datagram {
    /// The sending node (IP source).
    pub src: NodeId,
    /// The node it is addressed to (IP destination).
    pub dst: NodeId,
    /// The frame (UDP payload).
    pub bytes: Vec<u8>,
    /// Corrupted on a wire (a link's `corrupt`): its UDP checksum fails, so the first node
    /// core it reaches drops it; legacy routers forward it (they do not check UDP).
    pub corrupt: bool,
}

impl Datagram {
    /// Size on the wire: the frame plus IPv4 and UDP headers.
    pub fn wire_len(&self) -> usize {
        self.bytes.len() + IP_UDP_OVERHEAD
    }
}

/// Datagrams of one protocol that crossed a direction.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
pub struct ProtocolCount {
    /// Capsule frames of this type.
    pub capsules: u64,
    /// Code requests, fragments and code-missing frames for this type.
    pub code: u64,
}

/// Counters of one link direction since the start of the run.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct DirectionStats {
    /// Datagrams put on the wire (lost ones included: loss happens on the wire).
    pub packets: u64,
    /// Their bytes on the wire (frame + 28).
    pub bytes: u64,
    /// Datagrams refused because the queue was full (drop-tail).
    pub queue_drops: u64,
    /// Datagrams lost on the wire.
    pub losses: u64,
    /// Longest the queue has been, in datagrams waiting.
    pub max_queue: usize,
    /// Datagrams put on the wire whose frame did not parse (not expected from node cores).
    pub unparsed: u64,
    /// Hello frames put on the wire (liveness and overlay routing; they name no protocol).
    pub hellos: u64,
    /// Datagrams that reached the wire while the link was down (a `link_down` event): lost.
    pub down_drops: u64,
    /// Datagrams held back by one more delay (`reorder`).
    pub reordered: u64,
    /// Datagrams that arrived twice (`duplicate`).
    pub duplicated: u64,
    /// Datagrams with a flipped byte (`corrupt`).
    pub corrupted: u64,
    /// Datagrams put on the wire, by the protocol fingerprint their frame names, in order of
    /// first appearance.
    pub protocols: Vec<(Fingerprint, ProtocolCount)>,
}

impl DirectionStats {
    /// Counts of one protocol (zero if it never crossed).
    pub fn protocol(&self, fingerprint: &Fingerprint) -> ProtocolCount {
        self.protocols
            .iter()
            .find(|(f, _)| f == fingerprint)
            .map_or_else(ProtocolCount::default, |(_, c)| *c)
    }

    fn count_protocol(&mut self, frame: &[u8]) {
        let (fingerprint, capsule) = match Frame::parse(frame) {
            Ok(Frame::Capsule(c)) => (c.fingerprint, true),
            Ok(Frame::CodeRequest(r)) => (r.fingerprint, false),
            Ok(Frame::CodeFragment(f)) => (f.fingerprint, false),
            Ok(Frame::CodeMissing(m)) => (m.fingerprint, false),
            Ok(Frame::CodeCookie(c)) => (c.fingerprint, false),
            Ok(Frame::CodeAnnounce(a)) => (a.fingerprint, false),
            Ok(Frame::Hello(_)) => {
                self.hellos += 1;
                return;
            }
            Err(_) => {
                self.unparsed += 1;
                return;
            }
        };
        // A handful of protocols per run: a short vector beats any map here.
        let slot = match self.protocols.iter().position(|(f, _)| *f == fingerprint) {
            Some(i) => &mut self.protocols[i].1,
            None => {
                self.protocols.push((fingerprint, ProtocolCount::default()));
                &mut self.protocols.last_mut().expect("just pushed").1
            }
        };
        if capsule {
            slot.capsules += 1;
        } else {
            slot.code += 1;
        }
    }
}

/// What a direction does with a datagram handed to it.
#[derive(Debug)]
pub enum Offer {
    /// The link is idle with a bandwidth: the datagram is being serialised until `done`.
    Serialising {
        /// When the last bit leaves.
        done: Timestamp,
        /// The datagram on the wire.
        datagram: Datagram,
    },
    /// Unlimited bandwidth: the datagram arrives at `at` (it left at once).
    Arrives {
        /// Arrival time at the far end.
        at: Timestamp,
        /// The datagram.
        datagram: Datagram,
        /// Whether a second copy arrives too (`duplicate`).
        twice: bool,
    },
    /// It waits in the queue behind the datagram being serialised.
    Queued,
    /// The queue was full: dropped and counted.
    QueueDrop,
    /// Lost on the wire: counted.
    Lost,
}

/// When a datagram that made it across arrives, and whether it arrives twice (`duplicate`).
pub type Arrival = (Timestamp, bool);

/// One direction of a link, from `from` to `to`. See the module docs.
#[derive(Debug)]
pub struct Direction {
    /// Sending end.
    pub from: NodeId,
    /// Receiving end.
    pub to: NodeId,
    delay: Duration,
    loss: f64,
    bandwidth_bps: Option<u64>,
    capacity: usize,
    /// Datagrams waiting behind the one being serialised.
    queue: VecDeque<Datagram>,
    /// Whether a datagram is being serialised now.
    busy: bool,
    rng: SplitMix64,
    window: LoadMeter,
    /// Counters since the start.
    pub stats: DirectionStats,
    /// Node addresses of the sending node's active neighbours whose first IP hop is this
    /// direction: their link load is this direction's.
    pub feed: Vec<std::net::IpAddr>,
    /// Whether the queue length changed since the sending node's loads were last refreshed.
    pub dirty: bool,
    /// Down (a `link_down` event): nothing crosses until it is up again.
    down: bool,
    impairments: Impairments,
}

impl Direction {
    /// A direction with `params`, its losses drawn from `rng`.
    pub fn new(from: NodeId, to: NodeId, params: &LinkParams, rng: SplitMix64) -> Self {
        Direction {
            from,
            to,
            delay: params.delay,
            loss: params.loss,
            bandwidth_bps: params.bandwidth_bps.filter(|b| *b > 0),
            capacity: params.queue.max(1),
            queue: VecDeque::new(),
            busy: false,
            rng,
            window: LoadMeter::default(),
            stats: DirectionStats::default(),
            feed: Vec::new(),
            dirty: false,
            down: false,
            impairments: params.impairments,
        }
    }

    /// Takes the direction down (nothing crosses; what reaches the wire is counted in
    /// `down_drops`) or up again.
    pub fn set_down(&mut self, down: bool) {
        self.down = down;
    }

    /// Whether it is down.
    pub fn is_down(&self) -> bool {
        self.down
    }

    /// Changes the delay, loss or bandwidth (a `link_set` event); what is `None` stays. A
    /// datagram already on the wire keeps the delay it left with; one being serialised
    /// finishes at the old rate, the queue behind it drains at the new one.
    pub fn set_params(
        &mut self,
        delay: Option<Duration>,
        loss: Option<f64>,
        bandwidth_bps: Option<u64>,
    ) {
        if let Some(d) = delay {
            self.delay = d;
        }
        if let Some(p) = loss {
            self.loss = p;
        }
        if let Some(b) = bandwidth_bps.filter(|b| *b > 0) {
            self.bandwidth_bps = Some(b);
        }
    }

    /// Whether the direction has a bandwidth (and so a queue whose length can change).
    pub fn is_limited(&self) -> bool {
        self.bandwidth_bps.is_some()
    }

    /// Datagrams waiting now.
    pub fn queue_len(&self) -> usize {
        self.queue.len()
    }

    /// A datagram from `from` enters the direction at `now` (`period` is `now`'s measurement
    /// period).
    pub fn offer(&mut self, now: Timestamp, period: u64, datagram: Datagram) -> Offer {
        self.window.roll(period);
        if self.bandwidth_bps.is_none() {
            let mut datagram = datagram;
            return match self.transmit(period, &datagram) {
                true => {
                    let (extra, twice) = self.impair(&mut datagram);
                    Offer::Arrives {
                        at: now + self.delay + extra,
                        datagram,
                        twice,
                    }
                }
                false => Offer::Lost,
            };
        }
        if !self.busy {
            self.busy = true;
            let done = now + self.serialisation(&datagram);
            return Offer::Serialising { done, datagram };
        }
        if self.queue.len() >= self.capacity {
            self.stats.queue_drops += 1;
            self.window.dropped(period, 1);
            return Offer::QueueDrop;
        }
        self.queue.push_back(datagram);
        self.stats.max_queue = self.stats.max_queue.max(self.queue.len());
        Offer::Queued
    }

    /// The datagram being serialised has left at `now`: returns when it arrives (or `None` if
    /// lost on the wire) and the next datagram to serialise with the time its last bit leaves.
    pub fn finish(
        &mut self,
        now: Timestamp,
        period: u64,
        datagram: &mut Datagram,
    ) -> (Option<Arrival>, Option<(Timestamp, Datagram)>) {
        self.window.roll(period);
        let arrival = self.transmit(period, datagram).then(|| {
            let (extra, twice) = self.impair(datagram);
            (now + self.delay + extra, twice)
        });
        let next = match self.queue.pop_front() {
            Some(d) => Some((now + self.serialisation(&d), d)),
            None => {
                self.busy = false;
                None
            }
        };
        (arrival, next)
    }

    /// Counts a datagram put on the wire and decides its loss; true if it arrives.
    fn transmit(&mut self, period: u64, datagram: &Datagram) -> bool {
        if self.down {
            self.stats.down_drops += 1;
            self.window.dropped(period, 1);
            return false;
        }
        let len = datagram.wire_len() as u64;
        self.stats.packets += 1;
        self.stats.bytes += len;
        self.stats.count_protocol(&datagram.bytes);
        self.window.sent(period, 1, datagram.bytes.len() as u64);
        if self.rng.chance(self.loss) {
            self.stats.losses += 1;
            return false;
        }
        true
    }

    /// The impairments of a datagram that made it across: extra delay (jitter, and one more
    /// delay when held back), whether it arrives twice; a corrupted one gets a flipped byte.
    /// Draws from the stream only for impairments that are set, so runs without them are
    /// unchanged.
    fn impair(&mut self, datagram: &mut Datagram) -> (Duration, bool) {
        let i = self.impairments;
        let mut extra = Duration::ZERO;
        if !i.jitter.is_zero() {
            let span = u64::try_from(i.jitter.as_nanos()).unwrap_or(u64::MAX);
            extra += Duration::from_nanos(self.rng.next_u64() % span.saturating_add(1));
        }
        if i.reorder > 0.0 && self.rng.chance(i.reorder) {
            extra += self.delay.max(Duration::from_millis(1));
            self.stats.reordered += 1;
        }
        let twice = i.duplicate > 0.0 && self.rng.chance(i.duplicate);
        if twice {
            self.stats.duplicated += 1;
        }
        if i.corrupt > 0.0 && self.rng.chance(i.corrupt) && !datagram.bytes.is_empty() {
            let at = (self.rng.next_u64() % datagram.bytes.len() as u64) as usize;
            datagram.bytes[at] ^= 0xff;
            datagram.corrupt = true;
            self.stats.corrupted += 1;
        }
        (extra, twice)
    }

    fn serialisation(&self, datagram: &Datagram) -> Duration {
        let Some(bps) = self.bandwidth_bps else {
            return Duration::ZERO;
        };
        let bits = (datagram.wire_len() as u128) * 8;
        let nanos = bits * 1_000_000_000 / u128::from(bps);
        Duration::from_nanos(u64::try_from(nanos).unwrap_or(u64::MAX))
    }

    /// The load a node sees for this direction in measurement period `period` of length
    /// `window`: queue now, and the last complete period's drops and rates.
    pub fn load(&self, period: u64, window: Duration) -> LinkLoad {
        let cap = if self.is_limited() { self.capacity } else { 0 };
        self.window.load(period, window, self.queue.len(), cap)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dg(len: usize) -> Datagram {
        Datagram {
            src: 0,
            dst: 1,
            bytes: vec![0; len],
            corrupt: false,
        }
    }

    fn params(bandwidth: Option<u64>, queue: usize) -> LinkParams {
        LinkParams {
            delay: Duration::from_millis(2),
            loss: 0.0,
            bandwidth_bps: bandwidth,
            queue,
            ..LinkParams::default()
        }
    }

    #[test]
    fn unlimited_links_only_delay() {
        let mut d = Direction::new(0, 1, &params(None, 4), SplitMix64::new(1));
        match d.offer(Timestamp::from_millis(10), 0, dg(72)) {
            Offer::Arrives { at, .. } => assert_eq!(at, Timestamp::from_millis(12)),
            other => panic!("{other:?}"),
        }
        assert_eq!(d.stats.packets, 1);
        assert_eq!(d.stats.bytes, 100);
        assert_eq!(d.stats.unparsed, 1, "zero bytes are no frame");
    }

    #[test]
    fn bandwidth_serialises_and_the_queue_drops_at_the_tail() {
        // 100 bytes on the wire at 800 kbit/s: 1 ms each.
        let mut d = Direction::new(0, 1, &params(Some(800_000), 2), SplitMix64::new(1));
        let t0 = Timestamp::ZERO;
        let Offer::Serialising { done, datagram } = d.offer(t0, 0, dg(72)) else {
            panic!("idle link serialises at once");
        };
        assert_eq!(done, Timestamp::from_millis(1));
        assert!(matches!(d.offer(t0, 0, dg(72)), Offer::Queued));
        assert!(matches!(d.offer(t0, 0, dg(72)), Offer::Queued));
        assert!(matches!(d.offer(t0, 0, dg(72)), Offer::QueueDrop));
        assert_eq!((d.stats.queue_drops, d.stats.max_queue), (1, 2));
        let load = d.load(0, Duration::from_millis(100));
        assert_eq!(
            (load.queue_len, load.queue_cap, load.drops_recent),
            (2, 2, 0)
        );
        let mut datagram = datagram;
        let (arrival, next) = d.finish(done, 0, &mut datagram);
        assert_eq!(arrival, Some((Timestamp::from_millis(3), false)));
        assert_eq!(next.as_ref().map(|n| n.0), Some(Timestamp::from_millis(2)));
        // The next period sees the previous one's drop and rate.
        let load = d.load(1, Duration::from_millis(100));
        assert_eq!((load.queue_len, load.drops_recent, load.tx_pps), (1, 1, 10));
        assert_eq!(load.tx_bytes_per_s, 720);
        // Two periods later, nothing recent.
        assert_eq!(d.load(2, Duration::from_millis(100)).drops_recent, 0);
    }

    #[test]
    fn loss_is_counted_on_the_wire() {
        let mut p = params(None, 4);
        p.loss = 1.0;
        let mut d = Direction::new(0, 1, &p, SplitMix64::new(1));
        assert!(matches!(d.offer(Timestamp::ZERO, 0, dg(10)), Offer::Lost));
        assert_eq!((d.stats.packets, d.stats.losses), (1, 1));
    }
}
