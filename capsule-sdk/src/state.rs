//! Layer 2: this protocol's soft state on the node, the only data that outlives an evaluation.
//!
//! Owns the safe wrappers over `state_get`, `state_put` and `state_remove`. The node picks
//! the partition from the capsule's fingerprint, so this module can never name or reach
//! another protocol's state.

use alloc::vec::Vec;
use core::time::Duration;

use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::abi::MAX_VALUE_LEN;
use crate::capsule::{decode, read_vec};
use crate::effects::encode;
use crate::{Error, sys};

/// Copies the value under `key` into `buf` (as much as fits); returns its full length, or
/// `None` if there is no such entry.
pub fn get_into(key: &[u8], buf: &mut [u8]) -> Result<Option<usize>, Error> {
    // SAFETY: `key` is readable and `buf` writable for their lengths.
    let code = unsafe { sys::state_get(key.as_ptr(), key.len(), buf.as_mut_ptr(), buf.len()) };
    match Error::check(code) {
        Ok(n) => Ok(Some(n as usize)),
        Err(Error::NotFound) => Ok(None),
        Err(e) => Err(e),
    }
}

/// The value under `key`, or `None` if there is no such entry (or it expired).
pub fn get(key: &[u8]) -> Result<Option<Vec<u8>>, Error> {
    let Some(len) = get_into(key, &mut [])? else {
        return Ok(None);
    };
    // Nothing else runs during an evaluation, so the entry cannot change in between.
    // SAFETY: `key` is readable for its length; `out` is writable for `cap` bytes.
    read_vec(len, |out, cap| unsafe {
        sys::state_get(key.as_ptr(), key.len(), out, cap)
    })
    .map(Some)
}

/// Stores `value` under `key` for `ttl` (rounded up to whole milliseconds, 1 ms to 1 hour),
/// replacing any previous value and TTL.
pub fn put(key: &[u8], value: &[u8], ttl: Duration) -> Result<(), Error> {
    let ttl_ms = i64::try_from(ttl.as_nanos().div_ceil(1_000_000)).unwrap_or(i64::MAX);
    // SAFETY: `key` and `value` are readable for their lengths.
    let code =
        unsafe { sys::state_put(key.as_ptr(), key.len(), value.as_ptr(), value.len(), ttl_ms) };
    Error::check(code)?;
    Ok(())
}

/// Removes the entry under `key`; returns whether there was one.
pub fn remove(key: &[u8]) -> Result<bool, Error> {
    // SAFETY: `key` is readable for its length.
    match Error::check(unsafe { sys::state_remove(key.as_ptr(), key.len()) }) {
        Ok(_) => Ok(true),
        Err(Error::NotFound) => Ok(false),
        Err(e) => Err(e),
    }
}

/// The value under `key` decoded as postcard `T`, or `None` if there is no such entry.
pub fn get_typed<T: DeserializeOwned>(key: &[u8]) -> Result<Option<T>, Error> {
    match get(key)? {
        Some(bytes) => decode(&bytes).map(Some),
        None => Ok(None),
    }
}

/// Stores `value` encoded by postcard under `key` for `ttl`.
pub fn put_typed<T: Serialize + ?Sized>(key: &[u8], value: &T, ttl: Duration) -> Result<(), Error> {
    put(key, &encode(value, MAX_VALUE_LEN)?, ttl)
}
