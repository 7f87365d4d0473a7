//! The SDK's error type: node status codes plus the few failures the SDK itself detects.
//!
//! Owns the mapping between `ants_v1` status codes and [`Error`]. It must never allocate or
//! call the node: errors are created on hot paths and inside the panic handler.

use core::fmt;

use crate::abi::status;

/// Why a node call, or the SDK around it, failed.
///
/// The first eleven variants are the node's status codes (see `docs/node-api.md`, "Status
/// codes"); [`Error::Decode`] and [`Error::Encode`] come from the SDK's postcard helpers.
/// `Display` is implemented by hand rather than with `thiserror`: the workspace pins `thiserror`
/// with its `std` feature, which a `no_std` guest cannot link.
///
/// `Copy`, and never allocates. An evaluation that returns `Err(e)` makes `ants_evaluate`
/// return [`e.status()`](Error::status): the node discards the evaluation's sends and
/// deliveries and counts the error under that number (`capsule_error`). Most capsules just
/// pass errors up with `?`; some are expected and handled, such as [`Error::NoRoute`] (log and
/// fail, or try another way) and [`Error::RateLimited`] (ignore).
///
/// | variant | status | returned by |
/// | --- | --- | --- |
/// | [`BadPointer`](Error::BadPointer) | -1 | never through the safe wrappers |
/// | [`BadArgument`](Error::BadArgument) | -2 | sends (budget 0), state calls (empty key, TTL), `log` (level) |
/// | [`NotFound`](Error::NotFound) | -3 | only the raw `sys` state calls: the wrappers answer `None` / `false` |
/// | [`NoRoute`](Error::NoRoute) | -4 | [`node::next_hop`](crate::node::next_hop), routed sends, [`forward`](crate::effects::forward) |
/// | [`BudgetExceeded`](Error::BudgetExceeded) | -5 | sends, [`forward`](crate::effects::forward) with no budget left |
/// | [`QuotaExceeded`](Error::QuotaExceeded) | -6 | [`state::put`](crate::state::put) |
/// | [`TooManyEffects`](Error::TooManyEffects) | -7 | the 65th send, the 17th delivery |
/// | [`RateLimited`](Error::RateLimited) | -8 | logging |
/// | [`UnknownNeighbour`](Error::UnknownNeighbour) | -9 | [`Send::via`](crate::effects::Send::via), [`node::link_load`](crate::node::link_load) |
/// | [`TooLarge`](Error::TooLarge) | -10 | payloads over 1,200 bytes, keys over 64, values over 4,096 |
/// | [`StoreFull`](Error::StoreFull) | -11 | [`state::put`](crate::state::put) |
/// | [`OutOfFuel`](Error::OutOfFuel) | -12 | any call that does work, once the evaluation's fuel is spent |
/// | [`Decode`](Error::Decode) | -100 | the typed readers: [`capsule::payload_as`](crate::capsule::payload_as), [`state::get_typed`](crate::state::get_typed) |
/// | [`Encode`](Error::Encode) | -101 | the typed writers (`*_typed`) |
/// | [`Unknown`](Error::Unknown) | its own | a newer node's code |
///
/// ```
/// use capsule_sdk::prelude::*;
/// use capsule_sdk::testing::{FakeNode, Incoming};
///
/// #[derive(Default)]
/// struct CopyThenCheck;
///
/// impl Capsule for CopyThenCheck {
///     fn evaluate(&mut self) -> Result<(), Error> {
///         let dst = capsule::destination()?;
///         Send::to(dst, 1).via(Address::from([3; 16])).bytes(b"copy")?; // made first...
///         node::next_hop(dst)?; // ...then this fails without a route
///         Ok(())
///     }
/// }
///
/// let (me, n, dst) = (Address::from([2; 16]), Address::from([3; 16]), Address::from([9; 16]));
/// let mut node = FakeNode::new(me)
///     .neighbour(n)
///     .with_capsule(Incoming::new(me, dst, 2, b""));
/// node.default_route = Some(n);
/// assert_eq!(node.evaluate::<CopyThenCheck>(), 0);
/// assert_eq!(node.sends.len(), 1);
/// node.default_route = None;
/// assert_eq!(node.evaluate::<CopyThenCheck>(), Error::NoRoute.status()); // -4
/// assert!(node.sends.is_empty()); // the copy was discarded
/// assert_eq!(Error::NoRoute.to_string(), "the node has no route toward the destination");
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Error {
    /// A pointer/length range lies outside linear memory (an SDK or host bug, not a user one).
    ///
    /// Status -1. The safe wrappers always pass valid buffers, so a capsule using them never
    /// sees it; the fake node returns it for a null pointer with a non-zero length.
    BadPointer,
    /// A scalar argument is out of range.
    ///
    /// Status -2: a send with budget 0 (or an unknown flag through [`sys`](crate::sys)), a
    /// state key of 0 bytes, a state TTL of 0 or over one hour, a log level above 4, a port
    /// outside 0..=65535 (raw calls only).
    BadArgument,
    /// The state key does not exist.
    ///
    /// Status -3, from the raw `state_get` and `state_remove`; the wrappers turn it into
    /// `Ok(None)` ([`state::get`](crate::state::get)) and `Ok(false)`
    /// ([`state::remove`](crate::state::remove)).
    NotFound,
    /// The node has no route toward the destination.
    ///
    /// Status -4, from [`node::next_hop`](crate::node::next_hop) and from sends without
    /// [`via`](crate::effects::Send::via) (including [`forward`](crate::effects::forward)).
    NoRoute,
    /// The sends of this evaluation ask for more budget than the capsule has left.
    ///
    /// Status -5, from sends, and from [`forward`](crate::effects::forward) when no budget is
    /// left (the capsule's hop limit is reached).
    BudgetExceeded,
    /// The protocol's state quota would be exceeded.
    ///
    /// Status -6, from [`state::put`](crate::state::put): remove entries or shorten TTLs.
    QuotaExceeded,
    /// The per-evaluation cap on sends or deliveries is reached.
    ///
    /// Status -7: the 65th send or the 17th delivery of one evaluation.
    TooManyEffects,
    /// The protocol's log rate limit dropped the message.
    ///
    /// Status -8, from [`log::log`](crate::log::log) and [`Line::send`](crate::log::Line::send)
    /// (the macros ignore it). Usually ignored: the node counts dropped messages.
    RateLimited,
    /// The address is not one of this node's neighbours.
    ///
    /// Status -9, from [`Send::via`](crate::effects::Send::via) sends and
    /// [`node::link_load`](crate::node::link_load).
    UnknownNeighbour,
    /// A payload, key or value is longer than its limit.
    ///
    /// Status -10: a payload over 1,200 bytes (sends, deliveries, typed values that encode
    /// longer), a state key over 64 bytes, a state value over 4,096.
    TooLarge,
    /// The node-wide state store is full.
    ///
    /// Status -11, from [`state::put`](crate::state::put): the node as a whole is short of
    /// room, whatever this protocol's quota; retry later with less state.
    StoreFull,
    /// The evaluation's fuel could not pay for the call: it did nothing, and the evaluation is
    /// about to be stopped.
    ///
    /// Status -12, from any call that does work (`docs/node-api.md` §6.1). The evaluation is
    /// stopped as `out_of_fuel` whatever the capsule returns.
    OutOfFuel,
    /// Bytes did not decode as the expected postcard type (or had bytes left over).
    ///
    /// Status [`DECODE_STATUS`] (-100), from [`capsule::payload_as`](crate::capsule::payload_as),
    /// [`capsule::decode`](crate::capsule::decode) and [`state::get_typed`](crate::state::get_typed).
    Decode,
    /// A value could not be encoded with postcard.
    ///
    /// Status [`ENCODE_STATUS`] (-101), from the `*_typed` writers (rare: a `Serialize` impl
    /// that fails, or a sequence of unknown length).
    Encode,
    /// A negative status this SDK version does not know (a newer node).
    ///
    /// Its status is the code itself.
    Unknown(i32),
}

/// Status returned by `ants_evaluate` for [`Error::Decode`]; outside the node's code range.
///
/// ```
/// use capsule_sdk::{DECODE_STATUS, Error};
///
/// assert_eq!(Error::Decode.status(), DECODE_STATUS);
/// assert_eq!(Error::from_status(-100), Some(Error::Decode));
/// ```
pub const DECODE_STATUS: i32 = -100;
/// Status returned by `ants_evaluate` for [`Error::Encode`]; outside the node's code range.
///
/// ```
/// use capsule_sdk::{ENCODE_STATUS, Error};
///
/// assert_eq!(Error::Encode.status(), ENCODE_STATUS);
/// ```
pub const ENCODE_STATUS: i32 = -101;

impl Error {
    /// The error a status code stands for, or `None` when the status is a success (`>= 0`).
    ///
    /// Reads an evaluation's status back, as a host test or a node does.
    ///
    /// ```
    /// use capsule_sdk::Error;
    ///
    /// assert_eq!(Error::from_status(0), None);
    /// assert_eq!(Error::from_status(16), None);
    /// assert_eq!(Error::from_status(-4), Some(Error::NoRoute));
    /// assert_eq!(Error::from_status(-13), Some(Error::Unknown(-13)));
    /// ```
    pub const fn from_status(code: i32) -> Option<Error> {
        Some(match code {
            0.. => return None,
            status::BAD_POINTER => Error::BadPointer,
            status::BAD_ARGUMENT => Error::BadArgument,
            status::NOT_FOUND => Error::NotFound,
            status::NO_ROUTE => Error::NoRoute,
            status::BUDGET_EXCEEDED => Error::BudgetExceeded,
            status::QUOTA_EXCEEDED => Error::QuotaExceeded,
            status::TOO_MANY_EFFECTS => Error::TooManyEffects,
            status::RATE_LIMITED => Error::RateLimited,
            status::UNKNOWN_NEIGHBOUR => Error::UnknownNeighbour,
            status::TOO_LARGE => Error::TooLarge,
            status::STORE_FULL => Error::StoreFull,
            status::OUT_OF_FUEL => Error::OutOfFuel,
            DECODE_STATUS => Error::Decode,
            ENCODE_STATUS => Error::Encode,
            other => Error::Unknown(other),
        })
    }

    /// The negative status code for this error; `ants_evaluate` returns it when a capsule's
    /// evaluation fails with this error.
    ///
    /// The node's codes are -1 to -12 (`docs/node-api.md` §5), the SDK's own -100 and -101;
    /// an [`Error::Unknown`] keeps its code (a non-negative one becomes `i32::MIN`, so that it
    /// still reads as a failure). [`FakeNode::evaluate`](crate::testing::FakeNode::evaluate)
    /// returns the same number, so tests compare against it.
    ///
    /// ```
    /// use capsule_sdk::Error;
    ///
    /// assert_eq!(Error::BadPointer.status(), -1);
    /// assert_eq!(Error::BudgetExceeded.status(), -5);
    /// assert_eq!(Error::OutOfFuel.status(), -12);
    /// assert_eq!(Error::Decode.status(), -100);
    /// assert_eq!(Error::Encode.status(), -101);
    /// assert_eq!(Error::Unknown(-40).status(), -40);
    /// assert!(Error::Unknown(3).status() < 0);
    /// for e in [Error::NotFound, Error::QuotaExceeded, Error::StoreFull, Error::TooLarge] {
    ///     assert_eq!(Error::from_status(e.status()), Some(e));
    /// }
    /// ```
    pub const fn status(self) -> i32 {
        match self {
            Error::BadPointer => status::BAD_POINTER,
            Error::BadArgument => status::BAD_ARGUMENT,
            Error::NotFound => status::NOT_FOUND,
            Error::NoRoute => status::NO_ROUTE,
            Error::BudgetExceeded => status::BUDGET_EXCEEDED,
            Error::QuotaExceeded => status::QUOTA_EXCEEDED,
            Error::TooManyEffects => status::TOO_MANY_EFFECTS,
            Error::RateLimited => status::RATE_LIMITED,
            Error::UnknownNeighbour => status::UNKNOWN_NEIGHBOUR,
            Error::TooLarge => status::TOO_LARGE,
            Error::StoreFull => status::STORE_FULL,
            Error::OutOfFuel => status::OUT_OF_FUEL,
            Error::Decode => DECODE_STATUS,
            Error::Encode => ENCODE_STATUS,
            // A non-negative "unknown" code would read as success; keep it an error.
            Error::Unknown(code) if code < 0 => code,
            Error::Unknown(_) => i32::MIN,
        }
    }

    /// Turns a raw import result into `Ok(value)` for `>= 0` or the matching error.
    ///
    /// For code calling [`sys`](crate::sys) directly.
    ///
    /// ```
    /// use capsule_sdk::Error;
    ///
    /// assert_eq!(Error::check(16), Ok(16));
    /// assert_eq!(Error::check(-9), Err(Error::UnknownNeighbour));
    /// ```
    pub const fn check(code: i32) -> Result<u32, Error> {
        match Error::from_status(code) {
            None => Ok(code as u32),
            Some(e) => Err(e),
        }
    }
}

/// One sentence saying what went wrong and, where there is one, what to do. Uses
/// `core::fmt`: in a capsule, log [`Error::status`] with [`log::Line`](crate::log::Line)
/// instead to keep the module small.
impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let msg = match self {
            Error::BadPointer => "a buffer passed to the node lies outside linear memory",
            Error::BadArgument => {
                "an argument is out of range (flags, level, port, budget >= 1, TTL 1 ms..1 h, key non-empty)"
            }
            Error::NotFound => "no state entry under this key (never stored, removed or expired)",
            Error::NoRoute => "the node has no route toward the destination",
            Error::BudgetExceeded => {
                "sends in this evaluation exceed the capsule's remaining budget: split it, never increase it"
            }
            Error::QuotaExceeded => {
                "the protocol's state quota is used up: remove entries or shorten TTLs"
            }
            Error::TooManyEffects => "too many sends or deliveries in one evaluation",
            Error::RateLimited => "log message dropped by the protocol's rate limit",
            Error::UnknownNeighbour => "the address is not a neighbour of this node",
            Error::TooLarge => "payload, key or value longer than the node API allows",
            Error::StoreFull => "the node's state store is full: retry later with less state",
            Error::OutOfFuel => {
                "the evaluation's fuel is spent: do less work per capsule (docs/node-api.md section 6)"
            }
            Error::Decode => "bytes do not decode as the expected type",
            Error::Encode => "value cannot be encoded",
            Error::Unknown(code) => return write!(f, "unknown node status {code}"),
        };
        f.write_str(msg)
    }
}

impl core::error::Error for Error {}

#[cfg(test)]
mod tests {
    use super::*;
    use alloc::string::ToString;

    const ALL: [Error; 14] = [
        Error::BadPointer,
        Error::BadArgument,
        Error::NotFound,
        Error::NoRoute,
        Error::BudgetExceeded,
        Error::QuotaExceeded,
        Error::TooManyEffects,
        Error::RateLimited,
        Error::UnknownNeighbour,
        Error::TooLarge,
        Error::StoreFull,
        Error::OutOfFuel,
        Error::Decode,
        Error::Encode,
    ];

    #[test]
    fn status_round_trips() {
        for e in ALL {
            assert!(e.status() < 0);
            assert_eq!(Error::from_status(e.status()), Some(e));
        }
    }

    #[test]
    fn node_codes_map_to_documented_numbers() {
        assert_eq!(Error::from_status(-1), Some(Error::BadPointer));
        assert_eq!(Error::from_status(-5), Some(Error::BudgetExceeded));
        assert_eq!(Error::from_status(-11), Some(Error::StoreFull));
        assert_eq!(Error::from_status(-12), Some(Error::OutOfFuel));
        assert_eq!(Error::from_status(-13), Some(Error::Unknown(-13)));
        assert_eq!(Error::Unknown(-13).status(), -13);
    }

    #[test]
    fn successes_are_not_errors() {
        assert_eq!(Error::from_status(0), None);
        assert_eq!(Error::from_status(i32::MAX), None);
        assert_eq!(Error::check(16), Ok(16));
        assert_eq!(Error::check(-4), Err(Error::NoRoute));
    }

    #[test]
    fn unknown_non_negative_code_still_reports_failure() {
        assert!(Error::Unknown(3).status() < 0);
    }

    #[test]
    fn messages_are_distinct() {
        for (i, a) in ALL.iter().enumerate() {
            for b in &ALL[i + 1..] {
                assert_ne!(a.to_string(), b.to_string());
            }
        }
        assert_eq!(Error::Unknown(-40).to_string(), "unknown node status -40");
    }
}
