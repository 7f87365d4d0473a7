//! Layer 2: the effects of an evaluation: sending capsules of this protocol and delivering to
//! local applications.
//!
//! Owns the safe wrappers over `send` and `deliver`. Effects are buffered by the node and
//! released only when `ants_evaluate` returns 0; this module must never try to bypass that
//! (for example by retrying a failed send with a larger budget).

use alloc::vec::Vec;

use serde::Serialize;

use crate::abi::{MAX_PAYLOAD, SEND_SOURCE_SELF, SEND_VIA_NEIGHBOUR};
use crate::{Address, Error, capsule, sys};

/// A capsule of the current protocol about to be sent. Build it with [`Send::to`], adjust
/// it, then send it with [`Send::bytes`] or [`Send::typed`].
#[derive(Clone, Copy, Debug)]
#[must_use = "nothing is sent until `bytes` or `typed` is called"]
pub struct Send {
    dst: Address,
    budget: u32,
    via: Option<Address>,
    source_self: bool,
}

impl Send {
    /// A capsule for `dst` carrying `budget` (at least 1; all sends of one evaluation together
    /// may carry at most [`capsule::budget`]). It is routed toward `dst` and keeps the current
    /// capsule's source.
    pub fn to(dst: Address, budget: u32) -> Send {
        Send {
            dst,
            budget,
            via: None,
            source_self: false,
        }
    }

    /// Sends it to the neighbour `neighbour` instead of the routed next hop.
    pub fn via(mut self, neighbour: Address) -> Send {
        self.via = Some(neighbour);
        self
    }

    /// Makes this node the new capsule's source (for replies and node-originated capsules).
    pub fn source_self(mut self) -> Send {
        self.source_self = true;
        self
    }

    /// Sends it with `payload`; returns the budget still available to further sends.
    pub fn bytes(self, payload: &[u8]) -> Result<u32, Error> {
        // A budget beyond i32 can never fit in what is left; say so without a call.
        let budget = i32::try_from(self.budget).map_err(|_| Error::BudgetExceeded)?;
        let mut flags = 0;
        if self.via.is_some() {
            flags |= SEND_VIA_NEIGHBOUR;
        }
        if self.source_self {
            flags |= SEND_SOURCE_SELF;
        }
        let via = self.via.unwrap_or(Address::UNSPECIFIED);
        // SAFETY: `dst` and `via` are 16 readable bytes each; `payload` is readable.
        let left = unsafe {
            sys::send(
                self.dst.0.as_ptr(),
                via.0.as_ptr(),
                budget,
                flags,
                payload.as_ptr(),
                payload.len(),
            )
        };
        Error::check(left)
    }

    /// Sends it with `value` encoded by postcard as payload.
    pub fn typed<T: Serialize + ?Sized>(self, value: &T) -> Result<u32, Error> {
        self.bytes(&encode(value, MAX_PAYLOAD)?)
    }
}

/// Encodes `value` with postcard; [`Error::TooLarge`] if it takes more than `limit` bytes.
pub fn encode<T: Serialize + ?Sized>(value: &T, limit: usize) -> Result<Vec<u8>, Error> {
    // Growing the newest heap block happens in place, so this costs no copies.
    let bytes = postcard::to_allocvec(value).map_err(|_| Error::Encode)?;
    if bytes.len() > limit {
        return Err(Error::TooLarge);
    }
    Ok(bytes)
}

/// Sends `payload` toward `dst` with `budget`; returns the budget still available.
pub fn send(dst: Address, budget: u32, payload: &[u8]) -> Result<u32, Error> {
    Send::to(dst, budget).bytes(payload)
}

/// Sends `value` (postcard) toward `dst` with `budget`; returns the budget still available.
pub fn send_typed<T: Serialize + ?Sized>(
    dst: Address,
    budget: u32,
    value: &T,
) -> Result<u32, Error> {
    Send::to(dst, budget).typed(value)
}

/// The send that forwards the current capsule: toward its destination, all budget left.
fn forwarding() -> Result<Send, Error> {
    match capsule::budget() {
        // Nothing left to give the next hop: the capsule's hop limit is reached.
        0 => Err(Error::BudgetExceeded),
        budget => Ok(Send::to(capsule::destination()?, budget)),
    }
}

/// Forwards the current capsule unchanged toward its destination with all its remaining
/// budget. Call it at most once, and not after other sends (they took part of the budget).
/// [`Error::BudgetExceeded`] when no budget is left.
pub fn forward() -> Result<(), Error> {
    forward_with(&capsule::payload()?)
}

/// Like [`forward`], with `payload` in place of the capsule's own.
pub fn forward_with(payload: &[u8]) -> Result<(), Error> {
    forwarding()?.bytes(payload)?;
    Ok(())
}

/// Like [`forward`], with `value` encoded by postcard as the new payload.
pub fn forward_typed<T: Serialize + ?Sized>(value: &T) -> Result<(), Error> {
    forwarding()?.typed(value)?;
    Ok(())
}

/// Delivers `payload` to the local application bound to `port` on this node.
pub fn deliver(port: u16, payload: &[u8]) -> Result<(), Error> {
    // SAFETY: `payload` is readable for its length.
    Error::check(unsafe { sys::deliver(i32::from(port), payload.as_ptr(), payload.len()) })?;
    Ok(())
}

/// Delivers `value` (postcard) to the local application bound to `port`.
pub fn deliver_typed<T: Serialize + ?Sized>(port: u16, value: &T) -> Result<(), Error> {
    deliver(port, &encode(value, MAX_PAYLOAD)?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn encode_reports_overflow_as_too_large() {
        assert_eq!(encode(&[7u8; 10][..], 4), Err(Error::TooLarge));
        assert_eq!(
            encode(&(1u8, 300u16), 3).as_deref(),
            Ok(&[1, 0xac, 0x02][..])
        );
    }
}
