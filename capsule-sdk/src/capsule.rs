//! Layer 2: read-only access to the capsule being evaluated.
//!
//! Owns the safe wrappers over the `capsule_*` imports and [`Fingerprint`]. It must never
//! cause an effect: nothing here sends, delivers or touches state.

use alloc::vec::Vec;

use serde::de::DeserializeOwned;

use crate::abi::FINGERPRINT_LEN;
use crate::{Address, Error, sys};

/// Remaining budget of the capsule after this hop's charge: the most that the capsules sent
/// during this evaluation may carry in total.
pub fn budget() -> u32 {
    // The node never returns a negative budget; clamp anyway rather than wrap.
    sys::capsule_budget().max(0) as u32
}

/// Calls an import that writes one address at its `out` pointer.
///
/// `f` receives a pointer to 16 writable bytes and must write at most that many.
pub(crate) fn read_address(f: impl FnOnce(*mut u8) -> i32) -> Result<Address, Error> {
    let mut a = Address::UNSPECIFIED;
    Error::check(f(a.0.as_mut_ptr()))?;
    Ok(a)
}

/// The source address in the capsule's header.
pub fn source() -> Result<Address, Error> {
    // SAFETY: the import writes exactly 16 bytes at the pointer it is given.
    read_address(|out| unsafe { sys::capsule_source(out) })
}

/// The destination address in the capsule's header.
pub fn destination() -> Result<Address, Error> {
    // SAFETY: the import writes exactly 16 bytes at the pointer it is given.
    read_address(|out| unsafe { sys::capsule_destination(out) })
}

/// The previous active node that evaluated a capsule of this protocol (where the node
/// demand-loads code from).
pub fn previous() -> Result<Address, Error> {
    // SAFETY: the import writes exactly 16 bytes at the pointer it is given.
    read_address(|out| unsafe { sys::capsule_previous(out) })
}

/// Length of the payload in bytes.
pub fn payload_len() -> usize {
    sys::capsule_payload_len().max(0) as usize
}

/// Copies the payload into `buf` (as much as fits) and returns the full payload length.
pub fn payload_into(buf: &mut [u8]) -> Result<usize, Error> {
    // SAFETY: `buf` is `buf.len()` writable bytes.
    let n = Error::check(unsafe { sys::capsule_payload(buf.as_mut_ptr(), buf.len()) })?;
    Ok(n as usize)
}

/// Fills a fresh `Vec` of up to `cap` bytes through `f(out, cap)`, an import that writes
/// `min(len, cap)` bytes at `out` and returns `len`. The buffer is not zeroed first: sandbox
/// fuel is charged per byte of `memory.fill`, and the node overwrites it anyway.
pub(crate) fn read_vec(
    cap: usize,
    f: impl FnOnce(*mut u8, usize) -> i32,
) -> Result<Vec<u8>, Error> {
    let mut v = Vec::with_capacity(cap);
    let len = Error::check(f(v.as_mut_ptr(), cap))? as usize;
    // SAFETY: the import initialised the first `min(len, cap)` bytes of the capacity.
    unsafe { v.set_len(len.min(cap)) };
    Ok(v)
}

/// The whole payload.
pub fn payload() -> Result<Vec<u8>, Error> {
    // SAFETY: `out` is writable for `cap` bytes (the Vec's capacity).
    read_vec(payload_len(), |out, cap| unsafe {
        sys::capsule_payload(out, cap)
    })
}

/// The payload decoded as a postcard value of type `T`; [`Error::Decode`] if it does not
/// decode or has bytes left over.
pub fn payload_as<T: DeserializeOwned>() -> Result<T, Error> {
    decode(&payload()?)
}

/// Decodes postcard bytes that must hold exactly one `T`.
pub fn decode<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, Error> {
    match postcard::take_from_bytes::<T>(bytes) {
        Ok((value, [])) => Ok(value),
        _ => Err(Error::Decode),
    }
}

/// The capsule's type: the fingerprint of the code evaluating it.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
pub struct Fingerprint {
    bytes: [u8; FINGERPRINT_LEN],
    len: u8,
}

impl Fingerprint {
    /// The digest: 32 bytes for SHA-256, 16 for the legacy MD5 type.
    pub fn as_bytes(&self) -> &[u8] {
        &self.bytes[..usize::from(self.len)]
    }

    /// Whether this is the legacy (unsafe) MD5 fingerprint.
    pub fn is_legacy_md5(&self) -> bool {
        self.len == 16
    }
}

/// The fingerprint of the current protocol.
pub fn fingerprint() -> Result<Fingerprint, Error> {
    let mut bytes = [0; FINGERPRINT_LEN];
    // SAFETY: `bytes` is 32 writable bytes, which is what the import writes.
    let n = Error::check(unsafe { sys::capsule_fingerprint(bytes.as_mut_ptr()) })?;
    let len = (n as usize).min(FINGERPRINT_LEN) as u8;
    Ok(Fingerprint { bytes, len })
}
