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
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Error {
    /// A pointer/length range lies outside linear memory (an SDK or host bug, not a user one).
    BadPointer,
    /// A scalar argument is out of range.
    BadArgument,
    /// The state key does not exist.
    NotFound,
    /// The node has no route toward the destination.
    NoRoute,
    /// The sends of this evaluation ask for more budget than the capsule has left.
    BudgetExceeded,
    /// The protocol's state quota would be exceeded.
    QuotaExceeded,
    /// The per-evaluation cap on sends or deliveries is reached.
    TooManyEffects,
    /// The protocol's log rate limit dropped the message.
    RateLimited,
    /// The address is not one of this node's neighbours.
    UnknownNeighbour,
    /// A payload, key or value is longer than its limit.
    TooLarge,
    /// The node-wide state store is full.
    StoreFull,
    /// The evaluation's fuel could not pay for the call: it did nothing, and the evaluation is
    /// about to be stopped.
    OutOfFuel,
    /// Bytes did not decode as the expected postcard type (or had bytes left over).
    Decode,
    /// A value could not be encoded with postcard.
    Encode,
    /// A negative status this SDK version does not know (a newer node).
    Unknown(i32),
}

/// Status returned by `ants_evaluate` for [`Error::Decode`]; outside the node's code range.
pub const DECODE_STATUS: i32 = -100;
/// Status returned by `ants_evaluate` for [`Error::Encode`]; outside the node's code range.
pub const ENCODE_STATUS: i32 = -101;

impl Error {
    /// The error a status code stands for, or `None` when the status is a success (`>= 0`).
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
    pub const fn check(code: i32) -> Result<u32, Error> {
        match Error::from_status(code) {
            None => Ok(code as u32),
            Some(e) => Err(e),
        }
    }
}

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
