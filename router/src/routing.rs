//! The node's routing and neighbour tables: where the next *active* hop toward a destination is.
//!
//! Owns destination → next-active-hop lookup (longest-prefix match, IPv4 and IPv6) and the list
//! of active neighbours with their current link load. Capsules reach both through the node API
//! (`route_next_hop`, `neighbours`, `link_load`). The tables are filled from configuration (or
//! computed by the topology tools) and, with liveness on, from the overlay routes the node
//! learns (`node/liveness.rs`): a lookup skips routes through a neighbour that is down, and a
//! configured route wins over a learned one of the same length. This module never learns
//! routes by itself, never touches a socket and never reads a clock.

use std::net::IpAddr;
use std::time::Duration;

/// Where a capsule for some destination goes next.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum NextHop {
    /// The destination is this node.
    Local,
    /// The next active node on the way, a neighbour of this one.
    Neighbour(IpAddr),
}

/// One routing entry: every address in `prefix/len` goes via `next_hop`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Route {
    /// Network address of the prefix (host bits are ignored).
    pub prefix: IpAddr,
    /// Prefix length in bits (0..=32 for IPv4, 0..=128 for IPv6).
    pub len: u8,
    /// Where matching destinations go.
    pub next_hop: NextHop,
}

/// Why a route could not be added.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum RouteError {
    /// The prefix length is longer than the address.
    #[error("prefix length /{len} is longer than a {bits}-bit address")]
    PrefixTooLong {
        /// The length given.
        len: u8,
        /// Bits in the address family.
        bits: u8,
    },
    /// The next hop is not in the neighbour table.
    #[error("next hop {0} is not a neighbour of this node")]
    NotANeighbour(IpAddr),
}

/// Load of the link toward one neighbour, as a capsule sees it through `link_load`: the SDK's
/// ABI record, so the node writes exactly what capsules read.
///
/// The driver that owns the link (daemon socket queue, emulator link model) keeps it current.
pub use capsule_sdk::abi::LinkLoad;

/// Length of the link-load measurement period, the same for every driver (the daemon's
/// per-neighbour meters and the emulator's default): a capsule sees the queue now, and the
/// drops and transmit rates of the last complete period of this length. Short enough that a
/// congestion-aware capsule reacts within a few round trips, long enough that a rate is more
/// than a handful of datagrams at a few hundred per second.
pub const LINK_LOAD_WINDOW: Duration = Duration::from_millis(100);

/// Datagrams, bytes and drops of one measurement period of a link.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct PeriodCounts {
    /// Datagrams sent.
    pub packets: u64,
    /// Their bytes.
    pub bytes: u64,
    /// Datagrams lost on the link (queue full, refused by the socket).
    pub drops: u64,
}

/// The measurement behind [`LinkLoad`], shared by every driver (the daemon's links and the
/// emulator's): fixed periods of [`LINK_LOAD_WINDOW`] (or the emulator's window), numbered by
/// the caller from its own time, and a node sees the last complete one. It keeps two periods'
/// counts and never reads a clock.
#[derive(Clone, Copy, Debug, Default)]
pub struct LoadMeter {
    period: u64,
    current: PeriodCounts,
    last: PeriodCounts,
}

impl LoadMeter {
    /// Moves the meter forward to `period` (periods without traffic count as zero).
    pub fn roll(&mut self, period: u64) {
        if period <= self.period {
            return;
        }
        self.last = if period == self.period + 1 {
            self.current
        } else {
            PeriodCounts::default()
        };
        self.current = PeriodCounts::default();
        self.period = period;
    }

    /// Counts `packets` datagrams of `bytes` in all, sent in `period`.
    pub fn sent(&mut self, period: u64, packets: u64, bytes: u64) {
        self.roll(period);
        self.current.packets += packets;
        self.current.bytes += bytes;
    }

    /// Counts `drops` datagrams lost in `period`.
    pub fn dropped(&mut self, period: u64, drops: u64) {
        self.roll(period);
        self.current.drops += drops;
    }

    /// The last complete period as seen from `period`, without moving the meter.
    pub fn completed(&self, period: u64) -> PeriodCounts {
        if period == self.period {
            self.last
        } else if period == self.period + 1 {
            self.current
        } else {
            PeriodCounts::default()
        }
    }

    /// What a capsule sees in `period` of a `window`: the queue as given, and the last
    /// complete period's drops and rates scaled to one second.
    pub fn load(
        &self,
        period: u64,
        window: Duration,
        queue_len: usize,
        queue_cap: usize,
    ) -> LinkLoad {
        let done = self.completed(period);
        let window_ns = window.as_nanos().max(1);
        let per_second = |n: u64| u128::from(n) * 1_000_000_000 / window_ns;
        let sat_u32 = |v: u64| u32::try_from(v).unwrap_or(u32::MAX);
        LinkLoad {
            queue_len: sat_u32(queue_len as u64),
            queue_cap: sat_u32(queue_cap as u64),
            drops_recent: sat_u32(done.drops),
            tx_pps: u32::try_from(per_second(done.packets)).unwrap_or(u32::MAX),
            tx_bytes_per_s: u64::try_from(per_second(done.bytes)).unwrap_or(u64::MAX),
        }
    }
}

/// An active neighbour: an active node whose capsules this node exchanges directly (possibly
/// across legacy IP routers).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Neighbour {
    /// The neighbour's node address.
    pub address: IpAddr,
    /// Current load of the link toward it.
    pub load: LinkLoad,
}

/// Routing table plus neighbour table of one active node.
#[derive(Clone, Debug, Default)]
pub struct RoutingTable {
    /// Host routes (/32, /128), the common case in generated tables: one hash lookup (with a
    /// fast seeded hasher: it runs for every forwarded capsule, and the keys come from
    /// configuration, not from the network).
    hosts: foldhash::HashMap<IpAddr, NextHop>,
    /// Shorter prefixes, longest first, so the first match is the longest.
    prefixes: Vec<Route>,
    /// Neighbours that are up (what capsules see).
    neighbours: Vec<Neighbour>,
    /// Configured neighbours declared down (by missed hellos): no route goes through them.
    down: Vec<Neighbour>,
    /// Overlay routes learned from hellos: destination → next hop (always a neighbour that is
    /// up). Consulted after the configured host routes, before the shorter prefixes.
    learned: foldhash::HashMap<IpAddr, IpAddr>,
}

fn family_bits(addr: IpAddr) -> u8 {
    match addr {
        IpAddr::V4(_) => 32,
        IpAddr::V6(_) => 128,
    }
}

fn masked(addr: IpAddr, len: u8) -> u128 {
    let (value, bits) = match addr {
        IpAddr::V4(a) => (u128::from(u32::from(a)), 32u32),
        IpAddr::V6(a) => (u128::from(a), 128u32),
    };
    let len = u32::from(len).min(bits);
    if len == 0 { 0 } else { value >> (bits - len) }
}

fn prefix_matches(route: &Route, dst: IpAddr) -> bool {
    family_bits(route.prefix) == family_bits(dst)
        && masked(route.prefix, route.len) == masked(dst, route.len)
}

impl RoutingTable {
    /// An empty table: no neighbours, no routes.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds (or replaces the load of) an active neighbour.
    pub fn add_neighbour(&mut self, address: IpAddr) {
        if !self.is_neighbour(address) {
            self.neighbours.push(Neighbour {
                address,
                load: LinkLoad::default(),
            });
        }
    }

    /// Adds a route; a route for the same prefix replaces the old one. The next hop must already
    /// be a neighbour.
    pub fn add_route(&mut self, route: Route) -> Result<(), RouteError> {
        let bits = family_bits(route.prefix);
        if route.len > bits {
            return Err(RouteError::PrefixTooLong {
                len: route.len,
                bits,
            });
        }
        if let NextHop::Neighbour(n) = route.next_hop
            && !self.is_neighbour(n)
        {
            return Err(RouteError::NotANeighbour(n));
        }
        if route.len == bits {
            self.hosts.insert(route.prefix, route.next_hop);
            return Ok(());
        }
        self.prefixes
            .retain(|r| !(r.len == route.len && prefix_matches(r, route.prefix)));
        let at = self.prefixes.partition_point(|r| r.len >= route.len);
        self.prefixes.insert(at, route);
        Ok(())
    }

    /// Next active hop toward `dst`: `local` says whether `dst` is this node's own address.
    pub fn lookup(&self, dst: IpAddr, local: IpAddr) -> Option<NextHop> {
        if dst == local {
            return Some(NextHop::Local);
        }
        if let Some(hop) = self.hosts.get(&dst).filter(|h| self.usable(h)) {
            return Some(*hop);
        }
        if let Some(via) = self.learned.get(&dst) {
            return Some(NextHop::Neighbour(*via));
        }
        self.prefixes
            .iter()
            .find(|r| prefix_matches(r, dst) && self.usable(&r.next_hop))
            .map(|r| r.next_hop)
    }

    /// Whether a route's next hop may be used: not a neighbour that is down.
    fn usable(&self, hop: &NextHop) -> bool {
        match hop {
            NextHop::Local => true,
            NextHop::Neighbour(n) => {
                self.down.is_empty() || self.down.iter().all(|d| d.address != *n)
            }
        }
    }

    /// Whether `address` is a configured neighbour, up or down.
    pub fn is_neighbour(&self, address: IpAddr) -> bool {
        self.neighbour(address).is_some() || self.down.iter().any(|n| n.address == address)
    }

    /// Marks a configured neighbour up or down; false if it is no neighbour or already so. A
    /// neighbour that is down is not listed by [`RoutingTable::neighbours`] and no lookup goes
    /// through it.
    pub fn set_neighbour_up(&mut self, address: IpAddr, up: bool) -> bool {
        let (from, to) = if up {
            (&mut self.down, &mut self.neighbours)
        } else {
            (&mut self.neighbours, &mut self.down)
        };
        match from.iter().position(|n| n.address == address) {
            Some(i) => {
                let mut n = from.remove(i);
                n.load = LinkLoad::default();
                to.push(n);
                true
            }
            None => false,
        }
    }

    /// The neighbours that are down.
    pub fn down_neighbours(&self) -> &[Neighbour] {
        &self.down
    }

    /// Replaces the learned overlay routes (destination, next hop); routes whose next hop is
    /// not a neighbour that is up are left out.
    pub fn set_learned(&mut self, routes: impl IntoIterator<Item = (IpAddr, IpAddr)>) {
        self.learned.clear();
        for (dest, via) in routes {
            if self.neighbour(via).is_some() {
                self.learned.insert(dest, via);
            }
        }
    }

    /// Number of learned overlay routes.
    pub fn learned_count(&self) -> usize {
        self.learned.len()
    }

    /// Prefix routes a lookup that misses the host routes may scan (the host-call cost of a
    /// lookup grows with it).
    pub fn prefix_count(&self) -> usize {
        self.prefixes.len()
    }

    /// The active neighbours that are up (in the order they were added, those that came back
    /// up last).
    pub fn neighbours(&self) -> &[Neighbour] {
        &self.neighbours
    }

    /// The neighbour with this address, if it is one.
    pub fn neighbour(&self, address: IpAddr) -> Option<&Neighbour> {
        self.neighbours.iter().find(|n| n.address == address)
    }

    /// Updates the load of the link toward `address`; false if it is not a neighbour.
    pub fn set_link_load(&mut self, address: IpAddr, load: LinkLoad) -> bool {
        match self.neighbours.iter_mut().find(|n| n.address == address) {
            Some(n) => {
                n.load = load;
                true
            }
            None => false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_load_meter_shows_the_last_complete_period() {
        let mut m = LoadMeter::default();
        m.sent(1, 10, 1_000);
        m.dropped(1, 2);
        let w = Duration::from_millis(100);
        // Period 1 is still running: nothing complete yet.
        assert_eq!(m.load(1, w, 3, 8).tx_pps, 0);
        let l = m.load(2, w, 3, 8);
        assert_eq!(
            (l.tx_pps, l.tx_bytes_per_s, l.drops_recent),
            (100, 10_000, 2)
        );
        assert_eq!((l.queue_len, l.queue_cap), (3, 8));
        // A period without traffic in between: the load is zero again.
        assert_eq!(m.load(3, w, 0, 0), LinkLoad::default());
        m.sent(5, 1, 10);
        assert_eq!(m.completed(5), PeriodCounts::default());
    }

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    fn table() -> RoutingTable {
        let mut t = RoutingTable::new();
        t.add_neighbour(ip("10.0.0.2"));
        t.add_neighbour(ip("10.0.0.3"));
        t.add_neighbour(ip("fd00::2"));
        t
    }

    #[test]
    fn longest_prefix_wins_and_host_routes_first() {
        let mut t = table();
        let via2 = NextHop::Neighbour(ip("10.0.0.2"));
        let via3 = NextHop::Neighbour(ip("10.0.0.3"));
        t.add_route(Route {
            prefix: ip("0.0.0.0"),
            len: 0,
            next_hop: via2,
        })
        .unwrap();
        t.add_route(Route {
            prefix: ip("10.1.0.0"),
            len: 16,
            next_hop: via3,
        })
        .unwrap();
        t.add_route(Route {
            prefix: ip("10.1.2.0"),
            len: 24,
            next_hop: via2,
        })
        .unwrap();
        t.add_route(Route {
            prefix: ip("10.1.2.9"),
            len: 32,
            next_hop: via3,
        })
        .unwrap();
        let me = ip("10.0.0.1");
        assert_eq!(t.lookup(ip("192.0.2.1"), me), Some(via2));
        assert_eq!(t.lookup(ip("10.1.9.9"), me), Some(via3));
        assert_eq!(t.lookup(ip("10.1.2.8"), me), Some(via2));
        assert_eq!(t.lookup(ip("10.1.2.9"), me), Some(via3));
        assert_eq!(t.lookup(me, me), Some(NextHop::Local));
        // No IPv6 default route: v4 routes never match v6 destinations.
        assert_eq!(t.lookup(ip("fd00::9"), me), None);
    }

    #[test]
    fn replacing_a_prefix_keeps_one_entry() {
        let mut t = table();
        let via2 = NextHop::Neighbour(ip("10.0.0.2"));
        let via3 = NextHop::Neighbour(ip("10.0.0.3"));
        t.add_route(Route {
            prefix: ip("fd00:1::"),
            len: 32,
            next_hop: via2,
        })
        .unwrap();
        t.add_route(Route {
            prefix: ip("fd00:1::5"),
            len: 32,
            next_hop: via3,
        })
        .unwrap();
        assert_eq!(t.prefixes.len(), 1);
        assert_eq!(t.lookup(ip("fd00:1::77"), ip("fd00::1")), Some(via3));
    }

    #[test]
    fn rejects_bad_routes() {
        let mut t = table();
        let via2 = NextHop::Neighbour(ip("10.0.0.2"));
        assert_eq!(
            t.add_route(Route {
                prefix: ip("10.0.0.0"),
                len: 33,
                next_hop: via2
            }),
            Err(RouteError::PrefixTooLong { len: 33, bits: 32 })
        );
        assert_eq!(
            t.add_route(Route {
                prefix: ip("10.0.0.0"),
                len: 8,
                next_hop: NextHop::Neighbour(ip("10.9.9.9"))
            }),
            Err(RouteError::NotANeighbour(ip("10.9.9.9")))
        );
    }

    #[test]
    fn link_load_updates_only_neighbours() {
        let mut t = table();
        let load = LinkLoad {
            queue_len: 3,
            queue_cap: 64,
            drops_recent: 1,
            tx_pps: 10,
            tx_bytes_per_s: 9000,
        };
        assert!(t.set_link_load(ip("10.0.0.3"), load));
        assert!(!t.set_link_load(ip("10.0.0.9"), load));
        assert_eq!(t.neighbour(ip("10.0.0.3")).unwrap().load, load);
        t.add_neighbour(ip("10.0.0.3"));
        assert_eq!(t.neighbours().len(), 3, "adding twice keeps one entry");
    }

    #[test]
    fn lookups_skip_a_down_neighbour_and_configured_routes_win_over_learned_ones() {
        let mut t = table();
        let (n2, n3) = (ip("10.0.0.2"), ip("10.0.0.3"));
        let d = ip("10.9.0.1");
        t.add_route(Route {
            prefix: d,
            len: 32,
            next_hop: NextHop::Neighbour(n2),
        })
        .unwrap();
        t.add_route(Route {
            prefix: ip("0.0.0.0"),
            len: 0,
            next_hop: NextHop::Neighbour(n2),
        })
        .unwrap();
        t.set_learned([(d, n3), (ip("10.9.0.2"), ip("10.7.7.7"))]);
        assert_eq!(
            t.learned_count(),
            1,
            "a learned route needs a neighbour that is up"
        );
        assert_eq!(t.lookup(d, ip("10.0.0.1")), Some(NextHop::Neighbour(n2)));

        assert!(t.set_neighbour_up(n2, false));
        assert!(!t.set_neighbour_up(n2, false), "already down");
        assert!(t.is_neighbour(n2) && t.neighbour(n2).is_none());
        assert_eq!(t.neighbours().len(), 2);
        assert_eq!(t.lookup(d, ip("10.0.0.1")), Some(NextHop::Neighbour(n3)));
        // The default route goes through the down neighbour: no route at all.
        assert_eq!(t.lookup(ip("192.0.2.1"), ip("10.0.0.1")), None);

        assert!(t.set_neighbour_up(n2, true));
        assert_eq!(t.lookup(d, ip("10.0.0.1")), Some(NextHop::Neighbour(n2)));
    }
}
