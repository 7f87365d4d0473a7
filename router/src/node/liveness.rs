//! Neighbour liveness and overlay routing: hellos between active neighbours, a neighbour
//! declared down after missed hellos and up again at its next one, and the distance vector the
//! hellos carry (see `docs/node.md`, Liveness and overlay routing).
//!
//! Owns [`LivenessLimits`] (its defaults, bounds and file form, the `[liveness]` section of
//! `antsd`'s configuration) and the per-neighbour state: when each was last heard, its hello
//! interval, up or down, and the routes it advertised. It computes the learned routes (the
//! best metric over neighbours that are up) and the vector each neighbour is told, with
//! poisoned reverse. It never sends anything or touches the routing table itself: the node
//! applies what it returns. Time comes in as `now`.

use std::collections::BTreeMap;
use std::net::IpAddr;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::limits::{Check, LimitError};
use crate::time::Timestamp;
use crate::wire::{HelloRepr, METRIC_UNREACHABLE, max_hello_routes};

/// Bounds of liveness and overlay routing (see `docs/node.md`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct LivenessLimits {
    /// How often to say hello to every configured neighbour; 0 turns liveness and overlay
    /// routing off (the default: routes are the configured ones only). Otherwise 10 ms to
    /// 60 s.
    #[serde(rename = "hello_interval_ms", with = "crate::limits::millis")]
    pub hello_interval: Duration,
    /// Hello intervals (the neighbour's own) without a hello after which a neighbour that has
    /// said hello before is declared down. At least 2.
    pub dead_after: u32,
}

/// Hello interval of generated deployments and of the emulator when a file turns liveness on
/// without an interval: with [`LivenessLimits::default`]'s `dead_after` of 3, a dead neighbour
/// is noticed within 1.5 s.
pub const DEFAULT_HELLO_INTERVAL: Duration = Duration::from_millis(500);

/// Shortest hello interval a node accepts in its configuration.
pub const MIN_HELLO_INTERVAL: Duration = Duration::from_millis(10);
/// Longest hello interval (the wire field holds milliseconds in 16 bits).
pub const MAX_HELLO_INTERVAL: Duration = Duration::from_secs(60);

/// Triggered updates (hellos sent early because routes changed) leave at least the hello
/// interval divided by this after the previous round: at most 4 rounds per interval.
pub const TRIGGER_SPACING: u32 = 4;

impl Default for LivenessLimits {
    fn default() -> Self {
        LivenessLimits {
            hello_interval: Duration::ZERO,
            dead_after: 3,
        }
    }
}

impl LivenessLimits {
    /// Liveness on, saying hello every `interval`.
    pub fn every(interval: Duration) -> Self {
        LivenessLimits {
            hello_interval: interval,
            ..LivenessLimits::default()
        }
    }

    /// Whether hellos are sent at all.
    pub fn enabled(&self) -> bool {
        !self.hello_interval.is_zero()
    }

    /// Checks the bounds: an interval of 0 or between 10 ms and 60 s, `dead_after` at least 2.
    pub fn validate(&self) -> Result<(), LimitError> {
        let check = Check::section("liveness");
        if self.enabled() {
            check
                .millis_at_least(
                    "hello_interval_ms",
                    self.hello_interval,
                    crate::limits::millis::of(MIN_HELLO_INTERVAL),
                )?
                .at_most(
                    "hello_interval_ms",
                    crate::limits::millis::of(self.hello_interval),
                    crate::limits::millis::of(MAX_HELLO_INTERVAL),
                )?;
        }
        check.at_least("dead_after", self.dead_after, 2)?;
        Ok(())
    }
}

/// What one configured neighbour said last.
#[derive(Clone, Debug)]
struct Peer {
    /// When its last hello came; `None` if it never said hello (then it is never declared
    /// down: a neighbour that does not speak hellos keeps its configured routes).
    heard: Option<Timestamp>,
    /// Its own hello interval, from its last hello.
    interval: Duration,
    up: bool,
    /// Its routes: destination → its metric.
    routes: BTreeMap<IpAddr, u8>,
}

/// A neighbour that changed state.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) struct Change {
    pub(super) neighbour: IpAddr,
    pub(super) up: bool,
}

/// Liveness state of one node. See the module docs.
pub(super) struct Liveness {
    limits: LivenessLimits,
    me: IpAddr,
    /// Configured neighbours, in configuration order (ties go to the first).
    order: Vec<IpAddr>,
    peers: BTreeMap<IpAddr, Peer>,
    next_hello: Timestamp,
    /// When the last round of hellos went out: triggered updates keep their distance from it.
    last_hello: Option<Timestamp>,
    sequence: u32,
    /// Learned routes: destination → (next hop, metric).
    learned: BTreeMap<IpAddr, (IpAddr, u8)>,
}

impl Liveness {
    pub(super) fn new(limits: LivenessLimits, me: IpAddr, neighbours: &[IpAddr]) -> Self {
        let peers = neighbours
            .iter()
            .map(|&n| {
                let peer = Peer {
                    heard: None,
                    interval: limits.hello_interval,
                    up: true,
                    routes: BTreeMap::new(),
                };
                (n, peer)
            })
            .collect();
        Liveness {
            limits,
            me,
            order: neighbours.to_vec(),
            peers,
            next_hello: Timestamp::ZERO,
            last_hello: None,
            sequence: 0,
            learned: BTreeMap::new(),
        }
    }

    pub(super) fn enabled(&self) -> bool {
        self.limits.enabled()
    }

    fn deadline(&self, peer: &Peer) -> Option<Timestamp> {
        let heard = peer.heard?;
        let interval = peer.interval.clamp(MIN_HELLO_INTERVAL, MAX_HELLO_INTERVAL);
        Some(heard + interval * self.limits.dead_after)
    }

    /// The next time [`Liveness::on_timeout`] has something to do.
    pub(super) fn poll_timeout(&self) -> Option<Timestamp> {
        if !self.enabled() {
            return None;
        }
        let expiry = self
            .peers
            .values()
            .filter(|p| p.up)
            .filter_map(|p| self.deadline(p))
            .min();
        Some(expiry.map_or(self.next_hello, |e| e.min(self.next_hello)))
    }

    /// Declares down every neighbour whose hellos stopped; returns the changes and whether it
    /// is time to say hello (the caller then asks [`Liveness::hellos`]).
    pub(super) fn on_timeout(&mut self, now: Timestamp) -> (Vec<Change>, bool) {
        if !self.enabled() {
            return (Vec::new(), false);
        }
        let mut changes = Vec::new();
        let expired: Vec<IpAddr> = self
            .peers
            .iter()
            .filter(|(_, p)| p.up && self.deadline(p).is_some_and(|d| d <= now))
            .map(|(&a, _)| a)
            .collect();
        for neighbour in expired {
            if let Some(p) = self.peers.get_mut(&neighbour) {
                p.up = false;
                p.routes.clear();
            }
            changes.push(Change {
                neighbour,
                up: false,
            });
        }
        if !changes.is_empty() {
            self.recompute();
            // A triggered update, so that the rest of the overlay hears of it at once.
            self.trigger(now);
        }
        let due = self.next_hello <= now;
        if due {
            self.next_hello = now + self.limits.hello_interval;
            self.last_hello = Some(now);
        }
        (changes, due)
    }

    /// Takes a hello from `from`. `None` if `from` is not a configured neighbour; else
    /// whether it came back up, and whether the learned routes changed.
    pub(super) fn on_hello(
        &mut self,
        now: Timestamp,
        from: IpAddr,
        hello: &HelloRepr<'_>,
    ) -> Option<(Option<Change>, bool)> {
        let me = self.me;
        let peer = self.peers.get_mut(&from)?;
        peer.heard = Some(now);
        peer.interval = Duration::from_millis(u64::from(hello.interval_ms));
        let came_up = !peer.up;
        peer.up = true;
        // The frame bounds the entries (at most `max_hello_routes`), so this map is bounded.
        let routes: BTreeMap<IpAddr, u8> = hello.routes().filter(|&(d, _)| d != me).collect();
        let changed_vector = routes != peer.routes;
        peer.routes = routes;
        let changed_routes = (came_up || changed_vector) && self.recompute();
        if changed_routes {
            self.trigger(now);
        }
        let change = came_up.then_some(Change {
            neighbour: from,
            up: true,
        });
        Some((change, changed_routes))
    }

    /// Brings the next round of hellos forward to now, but no closer than a
    /// [`TRIGGER_SPACING`] of the interval to the previous round: a neighbour that changes
    /// what it advertises at every hello cannot make this node send more than that many rounds
    /// per interval to all its neighbours.
    fn trigger(&mut self, now: Timestamp) {
        let earliest = self.last_hello.map_or(now, |last| {
            (last + self.limits.hello_interval / TRIGGER_SPACING).max(now)
        });
        self.next_hello = self.next_hello.min(earliest);
    }

    /// Recomputes the learned routes; true if they changed.
    fn recompute(&mut self) -> bool {
        let mut learned: BTreeMap<IpAddr, (IpAddr, u8)> = BTreeMap::new();
        for n in &self.order {
            let Some(p) = self.peers.get(n).filter(|p| p.up && p.heard.is_some()) else {
                continue;
            };
            for (&dest, &metric) in &p.routes {
                let metric = metric.saturating_add(1);
                if metric >= METRIC_UNREACHABLE {
                    continue;
                }
                let better = learned.get(&dest).is_none_or(|&(_, m)| metric < m);
                if better {
                    learned.insert(dest, (*n, metric));
                }
            }
        }
        let changed = learned != self.learned;
        self.learned = learned;
        changed
    }

    /// Learned routes: destination → next hop.
    pub(super) fn learned(&self) -> impl Iterator<Item = (IpAddr, IpAddr)> + '_ {
        self.learned.iter().map(|(&d, &(via, _))| (d, via))
    }

    /// Number of learned routes.
    pub(super) fn learned_len(&self) -> usize {
        self.learned.len()
    }

    /// One hello per configured neighbour: (neighbour, route entries, entries left out).
    /// Each tells this node (metric 0) and its learned routes, those through that neighbour
    /// as unreachable (poisoned reverse), of this node's address family, nearest first when
    /// they do not all fit.
    pub(super) fn hellos(&mut self) -> (u32, Vec<(IpAddr, Vec<u8>, usize)>) {
        self.sequence = self.sequence.wrapping_add(1);
        let v6 = self.me.is_ipv6();
        let max = max_hello_routes(v6);
        let mut out = Vec::with_capacity(self.order.len());
        for &n in &self.order {
            let mut routes: Vec<(IpAddr, u8)> = std::iter::once((self.me, 0))
                .chain(
                    self.learned
                        .iter()
                        .filter(|(d, _)| d.is_ipv6() == v6)
                        .map(|(&d, &(via, m))| (d, if via == n { METRIC_UNREACHABLE } else { m })),
                )
                .collect();
            let left_out = routes.len().saturating_sub(max);
            if left_out > 0 {
                routes.sort_by_key(|&(d, m)| (m, d));
                routes.truncate(max);
            }
            let entries = HelloRepr::encode_routes(routes, v6).unwrap_or_default();
            out.push((n, entries, left_out));
        }
        (self.sequence, out)
    }

    /// Hello interval in milliseconds, as the frame says it.
    pub(super) fn interval_ms(&self) -> u16 {
        u16::try_from(self.limits.hello_interval.as_millis()).unwrap_or(u16::MAX)
    }

    /// Each configured neighbour: address, up, when last heard, routes it advertised.
    pub(super) fn status(&self) -> Vec<(IpAddr, bool, Option<Timestamp>, usize)> {
        self.order
            .iter()
            .filter_map(|n| {
                let p = self.peers.get(n)?;
                Some((*n, p.up, p.heard, p.routes.len()))
            })
            .collect()
    }
}
