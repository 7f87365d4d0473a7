//! The link toward each neighbour as the daemon sees it: an optional software bottleneck
//! (a rate and a drop-tail queue) and the meter behind the node API's `link_load`.
//!
//! Owns, per neighbour, the datagrams waiting for the configured rate, when the link is free
//! again, and the counts of the measurement window
//! ([`LINK_LOAD_WINDOW`](ants_router::routing::LINK_LOAD_WINDOW), shared with the emulator):
//! a capsule sees the queue now, and the drops and transmit rates of the last complete
//! period, exactly as the emulator computes them. It is sans-IO: time is passed in, nothing
//! here sends, sleeps or reads a clock; the driver sends what [`Egress::offer`] and
//! [`Egress::pop_due`] release and reports back with [`Egress::sent`] and
//! [`Egress::send_failed`]. Memory is bounded by the configured queue (datagrams, each at
//! most one UDP payload); without a rate nothing is ever kept.

use std::collections::VecDeque;
use std::net::SocketAddr;
use std::time::Duration;

use ants_router::routing::{LINK_LOAD_WINDOW, LinkLoad, LoadMeter};
use ants_router::time::Timestamp;
use serde::Serialize;

pub use crate::config::LinkShaping;

/// How late a pacing timer may fire and still be caught up on: the datagrams the link would
/// have sent meanwhile leave at once (a loop woken a few milliseconds late, as on a busy
/// machine, keeps the configured rate). Beyond this the link counts as idle from now, so a
/// stalled loop never releases more than this much time's worth in a burst.
const CATCH_UP: Duration = Duration::from_millis(10);

/// IP and UDP header bytes of a datagram to `socket`: 28 over IPv4, 48 over IPv6.
pub fn udp_headers(socket: SocketAddr) -> usize {
    match socket {
        SocketAddr::V4(_) => 20 + 8,
        SocketAddr::V6(_) => 40 + 8,
    }
}

/// Counters of one neighbour's link since the daemon started (for `ants status`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
pub struct EgressStats {
    /// Datagrams handed to the socket.
    pub datagrams_sent: u64,
    /// Their bytes.
    pub bytes_sent: u64,
    /// Datagrams dropped because the queue was full.
    pub queue_drops: u64,
    /// Datagrams the socket refused (each is lost).
    pub send_errors: u64,
    /// Longest queue seen.
    pub max_queue: usize,
}

/// What became of a datagram offered to a link.
#[derive(Debug, PartialEq, Eq)]
pub enum Offer {
    /// Send it now (the link is reserved for its time on the wire).
    Send,
    /// It waits in the queue; [`Egress::pop_due`] releases it.
    Queued,
    /// The queue was full: dropped at the tail and counted.
    Dropped,
}

/// One neighbour's link. See the module docs.
#[derive(Debug)]
pub struct Egress {
    shaping: Option<LinkShaping>,
    queue: VecDeque<Vec<u8>>,
    /// When the datagram being paced out has left (the link is free from then on).
    free_at: Timestamp,
    window: LoadMeter,
    window_ns: u64,
    /// IP and UDP header bytes each datagram takes on the link besides its payload.
    headers: usize,
    /// Counters since the start.
    pub stats: EgressStats,
}

impl Egress {
    /// A link with `shaping`, or one that only measures.
    pub fn new(shaping: Option<LinkShaping>) -> Egress {
        Egress {
            shaping,
            queue: VecDeque::new(),
            free_at: Timestamp::ZERO,
            window: LoadMeter::default(),
            window_ns: u64::try_from(LINK_LOAD_WINDOW.as_nanos())
                .unwrap_or(u64::MAX)
                .max(1),
            headers: 0,
            stats: EgressStats::default(),
        }
    }

    /// The same link toward a neighbour at `socket`: pacing counts each datagram's IP and UDP
    /// headers too ([`udp_headers`]), as the emulator's link bandwidth does.
    pub fn toward(mut self, socket: SocketAddr) -> Egress {
        self.headers = udp_headers(socket);
        self
    }

    /// The configured bottleneck, if any.
    pub fn shaping(&self) -> Option<LinkShaping> {
        self.shaping
    }

    /// Changes the bottleneck (on reload), keeping the counters. Datagrams beyond a smaller
    /// queue are dropped and counted (returns how many); without a rate any waiting datagram
    /// is due at once.
    pub fn reshape(&mut self, now: Timestamp, shaping: Option<LinkShaping>) -> u64 {
        self.shaping = shaping;
        let mut dropped = 0;
        if let Some(s) = shaping {
            while self.queue.len() > s.queue {
                self.queue.pop_back();
                self.drop_one(now);
                dropped += 1;
            }
        }
        dropped
    }

    /// Datagrams waiting now.
    pub fn queue_len(&self) -> usize {
        self.queue.len()
    }

    fn period(&self, now: Timestamp) -> u64 {
        now.as_nanos() / self.window_ns
    }

    fn drop_one(&mut self, now: Timestamp) {
        self.stats.queue_drops += 1;
        self.window.dropped(self.period(now), 1);
    }

    /// Reserves the link for a datagram of `len` payload bytes (and its headers) from `now`
    /// (or from when it frees, if only just).
    fn reserve(&mut self, now: Timestamp, len: usize, rate_bps: u64) {
        let len = len + self.headers;
        let start = if now <= self.free_at + CATCH_UP {
            self.free_at
        } else {
            now
        };
        let nanos = (len as u128 * 8 * 1_000_000_000) / u128::from(rate_bps.max(1));
        self.free_at = start + Duration::from_nanos(u64::try_from(nanos).unwrap_or(u64::MAX));
    }

    /// A datagram of `bytes` for this neighbour at `now`: send it at once, keep a copy in the
    /// queue, or drop it.
    pub fn offer(&mut self, now: Timestamp, bytes: &[u8]) -> Offer {
        let Some(s) = self.shaping else {
            return Offer::Send;
        };
        if self.queue.is_empty() && self.free_at <= now {
            self.reserve(now, bytes.len(), s.rate_bps);
            return Offer::Send;
        }
        if self.queue.len() >= s.queue {
            self.drop_one(now);
            return Offer::Dropped;
        }
        self.queue.push_back(bytes.to_vec());
        self.stats.max_queue = self.stats.max_queue.max(self.queue.len());
        Offer::Queued
    }

    /// When the next waiting datagram may leave (`None` with an empty queue).
    pub fn due(&self) -> Option<Timestamp> {
        if self.queue.is_empty() {
            return None;
        }
        Some(match self.shaping {
            Some(_) => self.free_at,
            None => Timestamp::ZERO,
        })
    }

    /// The next waiting datagram if the link is free at `now`, reserving the link for it.
    pub fn pop_due(&mut self, now: Timestamp) -> Option<Vec<u8>> {
        if self.due()? > now {
            return None;
        }
        let bytes = self.queue.pop_front()?;
        if let Some(s) = self.shaping {
            self.reserve(now, bytes.len(), s.rate_bps);
        }
        Some(bytes)
    }

    /// `count` datagrams of `bytes` bytes in all went to the socket at `now`.
    pub fn sent(&mut self, now: Timestamp, count: u64, bytes: u64) {
        self.stats.datagrams_sent += count;
        self.stats.bytes_sent += bytes;
        self.window.sent(self.period(now), count, bytes);
    }

    /// The socket refused `count` datagrams at `now` (ENOBUFS, unreachable, ...): lost, and
    /// counted as drops of this link.
    pub fn send_failed(&mut self, now: Timestamp, count: u64) {
        self.stats.send_errors += count;
        self.window.dropped(self.period(now), count);
    }

    /// What a capsule sees at `now`: the queue now, and the last complete period's drops and
    /// rates (the emulator's formula, over the same window).
    pub fn load(&self, now: Timestamp) -> LinkLoad {
        let cap = self.shaping.map_or(0, |s| s.queue);
        self.window
            .load(self.period(now), LINK_LOAD_WINDOW, self.queue.len(), cap)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ms(n: u64) -> Timestamp {
        Timestamp::from_nanos(n * 1_000_000)
    }

    const W: u64 = LINK_LOAD_WINDOW.as_millis() as u64;

    #[test]
    fn rates_are_those_of_the_last_complete_window() {
        let mut e = Egress::new(None);
        // 10 datagrams of 100 bytes in the first window.
        for i in 0..10 {
            assert_eq!(e.offer(ms(i), &[0; 100]), Offer::Send);
            e.sent(ms(i), 1, 100);
        }
        // Nothing is complete yet.
        assert_eq!(e.load(ms(W / 2)), LinkLoad::default());
        let per_s = 1000 / W;
        let load = e.load(ms(W + 1));
        assert_eq!(load.tx_pps as u64, 10 * per_s);
        assert_eq!(load.tx_bytes_per_s, 1000 * per_s);
        assert_eq!(
            (load.queue_len, load.queue_cap, load.drops_recent),
            (0, 0, 0)
        );
        // A refused send counts as a drop of the window it happened in.
        e.send_failed(ms(W + 2), 3);
        assert_eq!(e.load(ms(2 * W)).drops_recent, 3);
        assert_eq!(e.load(ms(2 * W)).tx_pps, 0);
        // Two windows later without traffic: all zero.
        assert_eq!(e.load(ms(4 * W)), LinkLoad::default());
        assert_eq!(e.stats.datagrams_sent, 10);
        assert_eq!(e.stats.send_errors, 3);
    }

    #[test]
    fn a_rate_paces_the_queue_and_drops_at_the_tail() {
        // 100 bytes at 80 kbit/s: 10 ms on the wire each.
        let mut e = Egress::new(Some(LinkShaping {
            rate_bps: 80_000,
            queue: 3,
        }));
        let offers: Vec<Offer> = (0..6).map(|_| e.offer(ms(0), &[7; 100])).collect();
        // One on the wire, three waiting, two dropped.
        assert_eq!(
            offers,
            [
                Offer::Send,
                Offer::Queued,
                Offer::Queued,
                Offer::Queued,
                Offer::Dropped,
                Offer::Dropped
            ]
        );
        e.sent(ms(0), 1, 100);
        let load = e.load(ms(0));
        assert_eq!((load.queue_len, load.queue_cap), (3, 3));
        assert_eq!(e.due(), Some(ms(10)));
        assert_eq!(e.pop_due(ms(9)), None);
        assert_eq!(e.pop_due(ms(10)), Some(vec![7; 100]));
        e.sent(ms(10), 1, 100);
        // The link is busy again until 20 ms.
        assert_eq!(e.pop_due(ms(15)), None);
        assert_eq!(e.due(), Some(ms(20)));
        assert!(e.pop_due(ms(20)).is_some());
        e.sent(ms(20), 1, 100);
        assert!(e.pop_due(ms(30)).is_some());
        e.sent(ms(30), 1, 100);
        assert_eq!(e.due(), None);
        assert_eq!(e.stats.max_queue, 3);
        assert_eq!(e.stats.queue_drops, 2);
        // The drops and the four datagrams land in the first window.
        let load = e.load(ms(W));
        assert_eq!(load.drops_recent, 2);
        assert_eq!(load.tx_pps as u64, 4 * 1000 / W);
        assert_eq!(load.queue_len, 0);
    }

    #[test]
    fn pacing_counts_the_headers_like_the_emulator() {
        // 72 bytes of payload + 28 of IPv4 and UDP at 80 kbit/s: 10 ms on the wire; over
        // IPv6 (48 bytes of headers) 12 ms.
        let shaping = Some(LinkShaping {
            rate_bps: 80_000,
            queue: 3,
        });
        let v4: SocketAddr = "10.0.0.1:3322".parse().unwrap();
        let v6: SocketAddr = "[fd00::1]:3322".parse().unwrap();
        for (socket, gap) in [(v4, 10_000_000), (v6, 12_000_000)] {
            let mut e = Egress::new(shaping).toward(socket);
            assert_eq!(e.offer(ms(0), &[1; 72]), Offer::Send);
            assert_eq!(e.offer(ms(0), &[2; 72]), Offer::Queued);
            assert_eq!(e.due(), Some(Timestamp::from_nanos(gap)), "{socket}");
        }
    }

    #[test]
    fn a_late_timer_does_not_release_a_burst() {
        let mut e = Egress::new(Some(LinkShaping {
            rate_bps: 80_000,
            queue: 10,
        }));
        for _ in 0..4 {
            e.offer(ms(0), &[1; 100]);
        }
        // Woken 50 ms late: one datagram now, the next a full 10 ms later.
        assert!(e.pop_due(ms(60)).is_some());
        assert_eq!(e.pop_due(ms(60)), None);
        assert_eq!(e.due(), Some(ms(70)));
    }

    #[test]
    fn a_timer_a_little_late_sends_what_the_link_would_have_sent() {
        // 100 bytes at 800 kbit/s: 1 ms each. Woken at 6 ms instead of 1 ms: the datagrams
        // due at 1..=6 ms all leave now, the next is due at 7 ms.
        let mut e = Egress::new(Some(LinkShaping {
            rate_bps: 800_000,
            queue: 10,
        }));
        for _ in 0..10 {
            e.offer(ms(0), &[1; 100]);
        }
        let released = std::iter::from_fn(|| e.pop_due(ms(6))).count();
        assert_eq!(released, 6);
        assert_eq!(e.due(), Some(ms(7)));
    }

    #[test]
    fn a_smaller_queue_on_reload_drops_the_excess() {
        let mut e = Egress::new(Some(LinkShaping {
            rate_bps: 8_000,
            queue: 10,
        }));
        for _ in 0..6 {
            e.offer(ms(0), &[1; 100]);
        }
        assert_eq!(e.queue_len(), 5);
        e.reshape(
            ms(1),
            Some(LinkShaping {
                rate_bps: 8_000,
                queue: 2,
            }),
        );
        assert_eq!(e.queue_len(), 2);
        assert_eq!(e.stats.queue_drops, 3);
        // Without a rate, what waits leaves at once.
        e.reshape(ms(2), None);
        assert!(e.pop_due(ms(2)).is_some());
        assert!(e.pop_due(ms(2)).is_some());
        assert_eq!(e.due(), None);
    }
}
