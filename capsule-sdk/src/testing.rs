//! A fake node for host tests (every target except wasm32).
//!
//! Owns [`FakeNode`] and the host versions of the raw imports that [`crate::sys`] re-exports
//! off wasm32. A test builds a node (address, neighbours, routes, state, the incoming capsule),
//! calls [`FakeNode::evaluate`], and inspects the sends, deliveries, logs and state the
//! capsule produced. The fake follows `docs/node-api.md` (argument checks in the documented
//! order, budget splitting, effect caps, limits, state TTLs and quota, effects discarded on
//! error) with two simplifications: it cannot detect out-of-memory pointers (only null ones
//! with a non-zero length), and routes match whole addresses, not prefixes.
//! It must never be compiled into a wasm32 capsule.
//!
//! | to set up | use |
//! | --- | --- |
//! | this node's address | [`FakeNode::new`], [`FakeNode::address`] |
//! | neighbours | [`FakeNode::neighbour`], [`FakeNode::neighbours`] |
//! | routes | [`FakeNode::route`], [`FakeNode::routes`], [`FakeNode::default_route`] |
//! | link loads | [`FakeNode::link_loads`] (all zero when absent) |
//! | time | [`FakeNode::time_ns`], [`FakeNode::advance`] |
//! | the capsule | [`FakeNode::with_capsule`], [`FakeNode::capsule`], [`Incoming`] |
//! | state | [`FakeNode::set_state`], [`FakeNode::state_quota`], [`FakeNode::store_capacity`] |
//! | the log rate limit | [`FakeNode::log_allowance`] |
//!
//! | to run | use |
//! | --- | --- |
//! | a whole evaluation | [`FakeNode::evaluate`]: the status, effects discarded unless 0 |
//! | SDK calls directly | [`FakeNode::run`] |
//! | several nodes, hop by hop | [`net::Net`] |
//!
//! | to inspect | use |
//! | --- | --- |
//! | sends | [`FakeNode::sends`] ([`Sent`]) |
//! | deliveries | [`FakeNode::deliveries`] ([`Delivery`]) |
//! | logs | [`FakeNode::logs`] ([`LogLine`]) |
//! | state | [`FakeNode::state_value`] |
//! | whether a node would drop the capsule | [`FakeNode::made_effect`] |
//!
//! ```
//! use capsule_sdk::prelude::*;
//! use capsule_sdk::testing::{FakeNode, Incoming};
//! use core::time::Duration;
//!
//! /// Forwards at most one capsule per source per second; delivers at the destination.
//! #[derive(Default)]
//! struct Paced;
//!
//! impl Capsule for Paced {
//!     fn evaluate(&mut self) -> Result<(), Error> {
//!         if capsule::destination()? == node::address()? {
//!             return deliver(1, &capsule::payload()?);
//!         }
//!         let key = capsule::source()?.octets();
//!         if state::get(&key)?.is_some() {
//!             let _ = capsule_sdk::log::log(capsule_sdk::log::Level::Debug, "paced");
//!             return Ok(());
//!         }
//!         state::put(&key, b"", Duration::from_secs(1))?;
//!         forward()
//!     }
//! }
//!
//! let n = |i: u8| Address::from(core::net::Ipv4Addr::new(10, 0, 0, i));
//! let mut node = FakeNode::new(n(2))
//!     .route(n(9), n(3))
//!     .with_capsule(Incoming::new(n(1), n(9), 5, b"data"));
//! assert_eq!(node.evaluate::<Paced>(), 0);
//! assert_eq!(node.sends.len(), 1);
//! assert_eq!(node.state_value(&n(1).octets()), Some(&b""[..]));
//!
//! assert_eq!(node.evaluate::<Paced>(), 0); // within the second: dropped
//! assert!(!node.made_effect());
//! assert_eq!(node.logs[0].message, "paced");
//!
//! node.advance(Duration::from_secs(1));
//! assert_eq!(node.evaluate::<Paced>(), 0);
//! assert_eq!(node.sends[0].budget, 5);
//! ```

extern crate std;

use alloc::collections::BTreeMap;
use alloc::string::String;
use alloc::vec::Vec;
use core::time::Duration;
use std::cell::RefCell;

use crate::Address;
use crate::abi::{self, status};
use crate::export::{Capsule, run};
use crate::node::{LinkLoad, NextHop};

pub mod net;

/// The capsule a [`FakeNode`] evaluates: what the `capsule_*` calls read.
///
/// The budget is what is left after this hop's charge, as a node gives it to the capsule: to
/// test a capsule that arrived with budget `b`, use `b - 1`. Set any field directly.
///
/// ```
/// use capsule_sdk::prelude::*;
/// use capsule_sdk::testing::{FakeNode, Incoming};
///
/// let (src, prev, me) = (Address::from([1; 16]), Address::from([3; 16]), Address::from([2; 16]));
/// let mut c = Incoming::new(src, me, 4, b"hi");
/// c.previous = prev;
/// c.fingerprint = vec![0xee; 16]; // the legacy MD5 type
/// let mut node = FakeNode::new(me).with_capsule(c);
/// node.run(|| {
///     assert_eq!(capsule::previous(), Ok(prev));
///     assert!(capsule::fingerprint().unwrap().is_legacy_md5());
/// });
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Incoming {
    /// Header source.
    pub source: Address,
    /// Header destination.
    pub destination: Address,
    /// Previous active node.
    pub previous: Address,
    /// Remaining budget after this hop's charge.
    pub budget: u32,
    /// Payload bytes.
    pub payload: Vec<u8>,
    /// Type fingerprint digest: 32 bytes (SHA-256) or 16 (legacy MD5).
    pub fingerprint: Vec<u8>,
}

impl Incoming {
    /// A capsule from `source` to `destination` with `budget` left and `payload`; the previous
    /// node is the source and the fingerprint a fixed 32-byte value.
    ///
    /// ```
    /// use capsule_sdk::Address;
    /// use capsule_sdk::testing::Incoming;
    ///
    /// let (src, dst) = (Address::from([1; 16]), Address::from([9; 16]));
    /// let c = Incoming::new(src, dst, 5, b"data");
    /// assert_eq!((c.source, c.destination, c.previous, c.budget), (src, dst, src, 5));
    /// assert_eq!(c.fingerprint, [0x5a; 32]);
    /// ```
    pub fn new(source: Address, destination: Address, budget: u32, payload: &[u8]) -> Self {
        Incoming {
            source,
            destination,
            previous: source,
            budget,
            payload: payload.to_vec(),
            fingerprint: [0x5a; 32].to_vec(),
        }
    }
}

/// A capsule the evaluation sent, as the node would transmit it: an entry of
/// [`FakeNode::sends`].
///
/// Its previous node is the fake node, and its type the current capsule's. A send to this
/// node's own address is [`NextHop::Local`] (looped back).
///
/// ```
/// use capsule_sdk::prelude::*;
/// use capsule_sdk::testing::{FakeNode, Incoming, Sent};
///
/// let (src, me, next, dst) = (
///     Address::from([1; 16]),
///     Address::from([2; 16]),
///     Address::from([3; 16]),
///     Address::from([9; 16]),
/// );
/// let mut node = FakeNode::new(me)
///     .route(dst, next)
///     .with_capsule(Incoming::new(src, dst, 3, b""));
/// node.run(|| {
///     send(dst, 2, b"on")?;
///     send(me, 1, b"again") // loopback
/// })
/// .unwrap();
/// assert_eq!(
///     node.sends[0],
///     Sent { destination: dst, source: src, budget: 2, next_hop: NextHop::Neighbour(next), payload: b"on".to_vec() }
/// );
/// assert_eq!(node.sends[1].next_hop, NextHop::Local);
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Sent {
    /// Header destination.
    pub destination: Address,
    /// Header source (this node with `SOURCE_SELF`, else the incoming capsule's source).
    pub source: Address,
    /// Budget it carries.
    pub budget: u32,
    /// Where it goes: this node again (loopback) or a neighbour.
    pub next_hop: NextHop,
    /// Payload bytes.
    pub payload: Vec<u8>,
}

/// A delivery to a local application: an entry of [`FakeNode::deliveries`].
///
/// ```
/// use capsule_sdk::prelude::*;
/// use capsule_sdk::testing::{Delivery, FakeNode};
///
/// let mut node = FakeNode::new(Address::from([2; 16]));
/// node.run(|| deliver(4000, b"hello")).unwrap();
/// assert_eq!(node.deliveries, [Delivery { port: 4000, payload: b"hello".to_vec() }]);
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Delivery {
    /// Application port.
    pub port: u16,
    /// Delivered bytes.
    pub payload: Vec<u8>,
}

/// A logged message, as the node keeps it (truncated, UTF-8 lossy): an entry of
/// [`FakeNode::logs`].
///
/// ```
/// use capsule_sdk::log::Level;
/// use capsule_sdk::prelude::*;
/// use capsule_sdk::testing::{FakeNode, LogLine};
///
/// let mut node = FakeNode::new(Address::from([2; 16]));
/// node.run(|| capsule_sdk::log::log(Level::Warn, &"x".repeat(300))).unwrap();
/// assert_eq!(node.logs[0].level, Level::Warn as i32);
/// assert_eq!(node.logs[0].message.len(), 256);
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LogLine {
    /// Level 0 (error) ..= 4 (trace).
    pub level: i32,
    /// The message.
    pub message: String,
}

/// An in-process node serving the `ants_v1` imports to code running on the same thread.
///
/// Build it with [`FakeNode::new`] and the builder methods, or set the public fields
/// directly; run a capsule with [`FakeNode::evaluate`] (or SDK calls with [`FakeNode::run`]);
/// then read [`sends`](FakeNode::sends), [`deliveries`](FakeNode::deliveries),
/// [`logs`](FakeNode::logs) and [`state_value`](FakeNode::state_value). A node is reused
/// across evaluations: state, time and logs carry over, as on a real node; sends and
/// deliveries are those of the last evaluation.
///
/// It follows `docs/node-api.md`: the documented check order, budget splitting, the caps of
/// 64 sends and 16 deliveries, payload, key and value limits, state TTLs and quota, effects
/// discarded on a non-zero status, state kept. It differs from a node in that it cannot detect
/// out-of-range pointers (only null ones), routes match whole addresses (no prefixes), it
/// charges no fuel and never returns [`Error::OutOfFuel`](crate::Error::OutOfFuel), and its
/// log rate limit is a plain allowance.
///
/// ```
/// use capsule_sdk::prelude::*;
/// use capsule_sdk::testing::{FakeNode, Incoming};
/// use core::time::Duration;
///
/// let n = |i: u8| Address::from(core::net::Ipv4Addr::new(10, 0, 0, i));
/// let mut node = FakeNode::new(n(2))
///     .neighbour(n(4))
///     .route(n(9), n(3)) // adds n(3) as a neighbour too
///     .with_capsule(Incoming::new(n(1), n(9), 5, b"data"));
/// node.time_ns = 1_000;
/// node.link_loads.insert(n(3), LinkLoad { queue_len: 10, queue_cap: 100, ..Default::default() });
/// node.set_state(b"k", b"v", Duration::from_secs(1));
/// node.run(|| {
///     assert_eq!(node::neighbours().unwrap(), [n(3), n(4)]);
///     assert_eq!(node::time_ns(), 1_000);
///     assert_eq!(node::link_load(n(3)).unwrap().occupancy_per_mille(), 100);
///     assert_eq!(state::get(b"k"), Ok(Some(b"v".to_vec())));
/// });
/// ```
#[derive(Clone, Debug)]
pub struct FakeNode {
    /// This node's address: what [`node::address`](crate::node::address) returns, and the
    /// source of capsules sent with [`source_self`](crate::effects::Send::source_self). A
    /// capsule whose destination is this address is at its destination.
    pub address: Address,
    /// Node time in nanoseconds (fixed during an evaluation; see [`FakeNode::advance`]).
    ///
    /// What [`node::time_ns`](crate::node::time_ns) returns; state entries expire against it.
    /// Starts at 0. Set it, or move it with [`FakeNode::advance`], between evaluations.
    pub time_ns: u64,
    /// Neighbours (reported in ascending order).
    ///
    /// What [`node::neighbours`](crate::node::neighbours) returns (sorted, without duplicates),
    /// and the addresses [`Send::via`](crate::effects::Send::via) and
    /// [`node::link_load`](crate::node::link_load) accept. [`FakeNode::neighbour`] and
    /// [`FakeNode::route`] add to it.
    pub neighbours: Vec<Address>,
    /// Destination → next active hop.
    ///
    /// Whole addresses only (no prefixes). A routed send and
    /// [`node::next_hop`](crate::node::next_hop) look `dst` up here, then in
    /// [`default_route`](FakeNode::default_route); this node's own address is always
    /// [`NextHop::Local`]. Add entries with [`FakeNode::route`] (which also adds the neighbour);
    /// a hop inserted here directly should also be in [`neighbours`](FakeNode::neighbours).
    pub routes: BTreeMap<Address, Address>,
    /// Next hop for destinations without a route.
    ///
    /// `None` (the default): those destinations give [`Error::NoRoute`](crate::Error::NoRoute).
    ///
    /// ```
    /// use capsule_sdk::prelude::*;
    /// use capsule_sdk::testing::FakeNode;
    ///
    /// let up = Address::from([3; 16]);
    /// let mut node = FakeNode::new(Address::from([2; 16])).neighbour(up);
    /// node.default_route = Some(up);
    /// assert_eq!(node.run(|| node::next_hop(Address::from([77; 16]))), Ok(NextHop::Neighbour(up)));
    /// ```
    pub default_route: Option<Address>,
    /// Link load per neighbour (all zero when absent).
    ///
    /// What [`node::link_load`](crate::node::link_load) returns for a neighbour; a neighbour
    /// without an entry reports [`LinkLoad::default`]. An address that is not in
    /// [`neighbours`](FakeNode::neighbours) gives
    /// [`Error::UnknownNeighbour`](crate::Error::UnknownNeighbour), entry or not.
    ///
    /// ```
    /// use capsule_sdk::prelude::*;
    /// use capsule_sdk::testing::FakeNode;
    ///
    /// let nb = Address::from([3; 16]);
    /// let mut node = FakeNode::new(Address::from([2; 16])).neighbour(nb);
    /// let busy = LinkLoad { queue_len: 60, queue_cap: 64, drops_recent: 3, tx_pps: 9_000, tx_bytes_per_s: 10_000_000 };
    /// node.link_loads.insert(nb, busy);
    /// assert_eq!(node.run(|| node::link_load(nb)), Ok(busy));
    /// node.link_loads.clear();
    /// assert_eq!(node.run(|| node::link_load(nb)), Ok(LinkLoad::default()));
    /// ```
    pub link_loads: BTreeMap<Address, LinkLoad>,
    /// The capsule being evaluated.
    ///
    /// What the [`capsule`](crate::capsule) calls read. [`FakeNode::new`] puts an empty
    /// capsule addressed to the node itself, with budget 0; set it with
    /// [`FakeNode::with_capsule`] or change its fields between evaluations.
    pub capsule: Incoming,
    /// This protocol's state quota, in charged bytes.
    ///
    /// Each live entry is charged key + value + 128 bytes; a [`state::put`](crate::state::put)
    /// that would go over it fails with
    /// [`Error::QuotaExceeded`](crate::Error::QuotaExceeded). Defaults to the node's 64 KiB
    /// ([`DEFAULT_STATE_QUOTA`](crate::abi::DEFAULT_STATE_QUOTA)).
    ///
    /// ```
    /// use capsule_sdk::prelude::*;
    /// use capsule_sdk::testing::FakeNode;
    /// use core::time::Duration;
    ///
    /// let mut node = FakeNode::new(Address::from([2; 16]));
    /// node.state_quota = 200; // one entry of 1 + 8 + 128 bytes fits, two do not
    /// node.run(|| {
    ///     assert_eq!(state::put(b"a", &[0; 8], Duration::from_secs(1)), Ok(()));
    ///     assert_eq!(state::put(b"b", &[0; 8], Duration::from_secs(1)), Err(Error::QuotaExceeded));
    /// });
    /// ```
    pub state_quota: usize,
    /// Node-wide state capacity, in charged bytes.
    ///
    /// A [`state::put`](crate::state::put) within the quota but over this fails with
    /// [`Error::StoreFull`](crate::Error::StoreFull). Defaults to 16 MiB.
    ///
    /// ```
    /// use capsule_sdk::prelude::*;
    /// use capsule_sdk::testing::FakeNode;
    /// use core::time::Duration;
    ///
    /// let mut node = FakeNode::new(Address::from([2; 16]));
    /// node.store_capacity = 100;
    /// assert_eq!(node.run(|| state::put(b"k", b"", Duration::from_secs(1))), Err(Error::StoreFull));
    /// ```
    pub store_capacity: usize,
    /// Log messages accepted before `RATE_LIMITED`.
    ///
    /// The fake's stand-in for the node's rate limit (10 per second, bursts of 20): each
    /// accepted message takes one; at 0, logging fails with
    /// [`Error::RateLimited`](crate::Error::RateLimited) and nothing is recorded. Unlimited by
    /// default; it does not refill with time.
    ///
    /// ```
    /// use capsule_sdk::log::{Level, log};
    /// use capsule_sdk::prelude::*;
    /// use capsule_sdk::testing::FakeNode;
    ///
    /// let mut node = FakeNode::new(Address::from([2; 16]));
    /// node.log_allowance = 2;
    /// node.run(|| {
    ///     for _ in 0..5 {
    ///         capsule_sdk::info!("busy"); // the macros ignore RateLimited
    ///     }
    ///     assert_eq!(log(Level::Info, "more"), Err(Error::RateLimited));
    /// });
    /// assert_eq!(node.logs.len(), 2);
    /// ```
    pub log_allowance: u32,
    /// Sends of the last evaluation (empty if it failed).
    ///
    /// In call order, as the node would release them. [`FakeNode::evaluate`] clears them
    /// first; [`FakeNode::run`] appends to them.
    pub sends: Vec<Sent>,
    /// Deliveries of the last evaluation (empty if it failed).
    ///
    /// In call order. [`FakeNode::evaluate`] clears them first; [`FakeNode::run`] appends.
    pub deliveries: Vec<Delivery>,
    /// Every message logged so far.
    ///
    /// Logs are never rolled back, so they accumulate across evaluations, failed ones
    /// included; clear the `Vec` to start afresh.
    pub logs: Vec<LogLine>,
    state: BTreeMap<Vec<u8>, (Vec<u8>, u64)>,
    spent: u64,
}

impl FakeNode {
    /// A node at `address` with no neighbours, no routes, empty state and an empty capsule
    /// addressed to itself.
    ///
    /// Time 0, no link loads, the default 64 KiB state quota, a 16 MiB store, unlimited logs.
    ///
    /// ```
    /// use capsule_sdk::prelude::*;
    /// use capsule_sdk::testing::FakeNode;
    ///
    /// let me = Address::from([2; 16]);
    /// let node = FakeNode::new(me);
    /// assert_eq!((node.address, node.time_ns, node.capsule.destination), (me, 0, me));
    /// assert!(node.neighbours.is_empty() && node.routes.is_empty());
    /// assert_eq!(node.state_quota, capsule_sdk::abi::DEFAULT_STATE_QUOTA);
    /// ```
    pub fn new(address: Address) -> Self {
        FakeNode {
            address,
            time_ns: 0,
            neighbours: Vec::new(),
            routes: BTreeMap::new(),
            default_route: None,
            link_loads: BTreeMap::new(),
            capsule: Incoming::new(address, address, 0, &[]),
            state_quota: abi::DEFAULT_STATE_QUOTA,
            store_capacity: 16 << 20,
            log_allowance: u32::MAX,
            sends: Vec::new(),
            deliveries: Vec::new(),
            logs: Vec::new(),
            state: BTreeMap::new(),
            spent: 0,
        }
    }

    /// Adds a neighbour (once: adding it again changes nothing).
    ///
    /// ```
    /// use capsule_sdk::prelude::*;
    /// use capsule_sdk::testing::FakeNode;
    ///
    /// let (a, b) = (Address::from([4; 16]), Address::from([3; 16]));
    /// let node = FakeNode::new(Address::from([2; 16])).neighbour(a).neighbour(b).neighbour(a);
    /// assert_eq!(node.neighbours, [a, b]);
    /// ```
    pub fn neighbour(mut self, n: Address) -> Self {
        if !self.neighbours.contains(&n) {
            self.neighbours.push(n);
        }
        self
    }

    /// Routes `dst` through neighbour `via` (added as a neighbour if needed).
    ///
    /// ```
    /// use capsule_sdk::prelude::*;
    /// use capsule_sdk::testing::FakeNode;
    ///
    /// let (next, dst) = (Address::from([3; 16]), Address::from([9; 16]));
    /// let mut node = FakeNode::new(Address::from([2; 16])).route(dst, next);
    /// assert_eq!(node.neighbours, [next]);
    /// assert_eq!(node.run(|| node::next_hop(dst)), Ok(NextHop::Neighbour(next)));
    /// ```
    pub fn route(mut self, dst: Address, via: Address) -> Self {
        self.routes.insert(dst, via);
        self.neighbour(via)
    }

    /// Sets the capsule to evaluate.
    ///
    /// ```
    /// use capsule_sdk::prelude::*;
    /// use capsule_sdk::testing::{FakeNode, Incoming};
    ///
    /// let me = Address::from([2; 16]);
    /// let mut node = FakeNode::new(me).with_capsule(Incoming::new(me, me, 3, b"x"));
    /// assert_eq!(node.run(capsule::budget), 3);
    /// ```
    pub fn with_capsule(mut self, capsule: Incoming) -> Self {
        self.capsule = capsule;
        self
    }

    /// Moves node time forward.
    ///
    /// State entries whose TTL ends by the new time expire. Saturates at `u64::MAX`.
    ///
    /// ```
    /// use capsule_sdk::prelude::*;
    /// use capsule_sdk::testing::FakeNode;
    /// use core::time::Duration;
    ///
    /// let mut node = FakeNode::new(Address::from([2; 16]));
    /// node.run(|| state::put(b"k", b"v", Duration::from_millis(500))).unwrap();
    /// node.advance(Duration::from_millis(499));
    /// assert_eq!(node.state_value(b"k"), Some(&b"v"[..]));
    /// node.advance(Duration::from_millis(1));
    /// assert_eq!(node.time_ns, 500_000_000);
    /// assert_eq!(node.state_value(b"k"), None);
    /// ```
    pub fn advance(&mut self, by: Duration) {
        let nanos = u64::try_from(by.as_nanos()).unwrap_or(u64::MAX);
        self.time_ns = self.time_ns.saturating_add(nanos);
    }

    /// Evaluates the current capsule with `C`, as `ants_evaluate` would, and returns the
    /// status. On a non-zero status the sends and deliveries are discarded, as on a node.
    ///
    /// Returns 0 for `Ok(())`, or the error's [`status`](crate::Error::status) (compare with
    /// `Error::NoRoute.status()` and the like). Each call evaluates a fresh `C::default()`
    /// with a fresh budget split; [`sends`](FakeNode::sends) and
    /// [`deliveries`](FakeNode::deliveries) are then those of this evaluation, while state,
    /// time and [`logs`](FakeNode::logs) carry over. A panic in the capsule is a panic of the
    /// test (on a node: a trap, effects discarded).
    ///
    /// ```
    /// use capsule_sdk::prelude::*;
    /// use capsule_sdk::testing::{FakeNode, Incoming};
    ///
    /// #[derive(Default)]
    /// struct Forward;
    ///
    /// impl Capsule for Forward {
    ///     fn evaluate(&mut self) -> Result<(), Error> {
    ///         forward()
    ///     }
    /// }
    ///
    /// let (me, next, dst) = (Address::from([2; 16]), Address::from([3; 16]), Address::from([9; 16]));
    /// let mut node = FakeNode::new(me).with_capsule(Incoming::new(me, dst, 1, b""));
    /// assert_eq!(node.evaluate::<Forward>(), Error::NoRoute.status());
    /// assert!(node.sends.is_empty());
    /// node.routes.insert(dst, next);
    /// node.neighbours.push(next);
    /// assert_eq!(node.evaluate::<Forward>(), 0);
    /// assert_eq!(node.sends.len(), 1);
    /// ```
    pub fn evaluate<C: Capsule>(&mut self) -> i32 {
        self.sends.clear();
        self.deliveries.clear();
        self.spent = 0;
        let status = self.run(run::<C>);
        if status != 0 {
            self.sends.clear();
            self.deliveries.clear();
        }
        status
    }

    /// Runs `f` with this node serving the imports (to call SDK wrappers directly).
    ///
    /// Unlike [`FakeNode::evaluate`], nothing is cleared before and nothing discarded after:
    /// sends and deliveries are appended, and the budget already spent by earlier `run`s of
    /// the same evaluation stays spent. Not re-entrant: do not call it, or `evaluate`, from
    /// inside `f`. SDK calls outside `run` or `evaluate` panic on the host ("no fake node").
    ///
    /// ```
    /// use capsule_sdk::prelude::*;
    /// use capsule_sdk::testing::{FakeNode, Incoming};
    ///
    /// let (me, next, dst) = (Address::from([2; 16]), Address::from([3; 16]), Address::from([9; 16]));
    /// let mut node = FakeNode::new(me)
    ///     .route(dst, next)
    ///     .with_capsule(Incoming::new(me, dst, 3, b""));
    /// assert_eq!(node.run(|| send(dst, 2, b"a")), Ok(1));
    /// assert_eq!(node.run(|| send(dst, 2, b"b")), Err(Error::BudgetExceeded)); // 1 left
    /// assert_eq!(node.sends.len(), 1);
    /// ```
    pub fn run<R>(&mut self, f: impl FnOnce() -> R) -> R {
        let node = core::mem::replace(self, FakeNode::new(Address::UNSPECIFIED));
        CURRENT.with(|c| {
            let mut c = c.borrow_mut();
            assert!(c.is_none(), "FakeNode::run is not re-entrant");
            *c = Some(node);
        });
        let result = f();
        *self = CURRENT
            .with(|c| c.borrow_mut().take())
            .expect("the fake node is still installed");
        result
    }

    /// Whether the last evaluation made an effect (otherwise a node drops the capsule).
    ///
    /// That is, whether [`sends`](FakeNode::sends) or [`deliveries`](FakeNode::deliveries) is
    /// non-empty. A capsule that returns `Ok(())` without effect is dropped on purpose
    /// (counted as `no_effect`).
    ///
    /// ```
    /// use capsule_sdk::prelude::*;
    /// use capsule_sdk::testing::FakeNode;
    ///
    /// #[derive(Default)]
    /// struct Silent;
    ///
    /// impl Capsule for Silent {
    ///     fn evaluate(&mut self) -> Result<(), Error> {
    ///         Ok(())
    ///     }
    /// }
    ///
    /// let mut node = FakeNode::new(Address::from([2; 16]));
    /// assert_eq!(node.evaluate::<Silent>(), 0);
    /// assert!(!node.made_effect());
    /// ```
    pub fn made_effect(&self) -> bool {
        !self.sends.is_empty() || !self.deliveries.is_empty()
    }

    /// The live (unexpired) value under `key`.
    ///
    /// `None` when there is no entry or it has expired at [`time_ns`](FakeNode::time_ns).
    ///
    /// ```
    /// use capsule_sdk::prelude::*;
    /// use capsule_sdk::testing::FakeNode;
    /// use core::time::Duration;
    ///
    /// let mut node = FakeNode::new(Address::from([2; 16]));
    /// node.run(|| state::put_typed(b"n", &300u16, Duration::from_secs(1))).unwrap();
    /// assert_eq!(node.state_value(b"n"), Some(&[0xac, 0x02][..])); // postcard varint
    /// assert_eq!(node.state_value(b"other"), None);
    /// ```
    pub fn state_value(&self, key: &[u8]) -> Option<&[u8]> {
        match self.state.get(key) {
            Some((v, expiry)) if *expiry > self.time_ns => Some(v),
            _ => None,
        }
    }

    /// Stores a value directly, bypassing limits (to set up a test).
    ///
    /// The entry expires `ttl` after the current [`time_ns`](FakeNode::time_ns). Neither the
    /// key and value limits nor the quota are checked, but the entry counts against the quota
    /// for later [`state::put`](crate::state::put)s.
    ///
    /// ```
    /// use capsule_sdk::prelude::*;
    /// use capsule_sdk::testing::FakeNode;
    /// use core::time::Duration;
    ///
    /// let mut node = FakeNode::new(Address::from([2; 16]));
    /// node.set_state(b"members", &[1, 2, 3], Duration::from_secs(30));
    /// assert_eq!(node.run(|| state::get(b"members")), Ok(Some(vec![1, 2, 3])));
    /// ```
    pub fn set_state(&mut self, key: &[u8], value: &[u8], ttl: Duration) {
        let ttl = u64::try_from(ttl.as_nanos()).unwrap_or(u64::MAX);
        let expiry = self.time_ns.saturating_add(ttl);
        self.state.insert(key.to_vec(), (value.to_vec(), expiry));
    }

    fn charged(&self, except: Option<&[u8]>) -> usize {
        self.state
            .iter()
            .filter(|(k, (_, expiry))| *expiry > self.time_ns && Some(k.as_slice()) != except)
            .map(|(k, (v, _))| k.len() + v.len() + abi::STATE_ENTRY_OVERHEAD)
            .sum()
    }

    fn next_hop(&self, dst: Address) -> Option<NextHop> {
        if dst == self.address {
            return Some(NextHop::Local);
        }
        self.routes
            .get(&dst)
            .copied()
            .or(self.default_route)
            .map(NextHop::Neighbour)
    }
}

std::thread_local! {
    static CURRENT: RefCell<Option<FakeNode>> = const { RefCell::new(None) };
}

fn with<R>(f: impl FnOnce(&mut FakeNode) -> R) -> R {
    CURRENT.with(|c| {
        let mut c = c.borrow_mut();
        let node = c
            .as_mut()
            .expect("no fake node: call node imports inside FakeNode::evaluate or FakeNode::run");
        f(node)
    })
}

/// Host versions of the raw imports, served by the installed [`FakeNode`]. Same names and
/// signatures as the wasm32 imports in [`crate::sys`].
///
/// Pointers must be valid for their lengths, as the safe wrappers guarantee; a null pointer
/// with a non-zero length returns `BAD_POINTER`.
#[allow(clippy::missing_safety_doc)]
pub mod sys;
