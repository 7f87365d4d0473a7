//! Layer 2: this protocol's soft state on the node, the only data that outlives an evaluation.
//!
//! Owns the safe wrappers over `state_get`, `state_put` and `state_remove`. The node picks
//! the partition from the capsule's fingerprint, so this module can never name or reach
//! another protocol's state.
//!
//! The rules (`docs/node-api.md` §4.4):
//! - Keys are 1 to [`MAX_KEY_LEN`](crate::abi::MAX_KEY_LEN) (64) bytes, values 0 to
//!   [`MAX_VALUE_LEN`] (4,096) bytes, TTLs 1 ms to 1 hour.
//! - Each entry is charged key + value + [`STATE_ENTRY_OVERHEAD`](crate::abi::STATE_ENTRY_OVERHEAD)
//!   (128) bytes against the protocol's quota, 64 KiB by default
//!   ([`DEFAULT_STATE_QUOTA`](crate::abi::DEFAULT_STATE_QUOTA)).
//! - An expired entry behaves exactly like a missing one. State is soft: the node may drop it
//!   earlier (restart, code evicted, memory pressure), so keep only what can be rebuilt.
//! - Writes take effect at once and are kept even if the evaluation then fails.
//! - State is keyed by the exact module fingerprint: a new build starts empty.
//!
//! Costs, in fuel (§6.1): a put 430 plus 1 per 2 bytes of key and value; a get 230 plus 1 per
//! 2 bytes of key and output buffer ([`get`] and [`get_typed`] make two calls, one to learn
//! the length); a remove 230 plus 1 per 2 bytes of key.
//!
//! Errors common to all calls: [`Error::BadArgument`] for an empty key, [`Error::TooLarge`]
//! for a key over 64 bytes, [`Error::OutOfFuel`].
//!
//! ```
//! use capsule_sdk::prelude::*;
//! use capsule_sdk::testing::{FakeNode, Incoming};
//! use core::time::Duration;
//!
//! /// Delivers a capsule only the first time its source is seen within ten seconds.
//! #[derive(Default)]
//! struct FirstOnly;
//!
//! impl Capsule for FirstOnly {
//!     fn evaluate(&mut self) -> Result<(), Error> {
//!         let key = capsule::source()?.octets();
//!         if state::get(&key)?.is_some() {
//!             return Ok(()); // a duplicate: no effect, the node drops it
//!         }
//!         state::put(&key, b"", Duration::from_secs(10))?;
//!         deliver(1, &capsule::payload()?)
//!     }
//! }
//!
//! let (src, me) = (Address::from([1; 16]), Address::from([2; 16]));
//! let mut node = FakeNode::new(me).with_capsule(Incoming::new(src, me, 0, b"x"));
//! assert_eq!(node.evaluate::<FirstOnly>(), 0);
//! assert_eq!(node.deliveries.len(), 1);
//! assert_eq!(node.evaluate::<FirstOnly>(), 0);
//! assert!(!node.made_effect()); // the duplicate
//! node.advance(Duration::from_secs(10)); // the entry expires
//! assert_eq!(node.evaluate::<FirstOnly>(), 0);
//! assert_eq!(node.deliveries.len(), 1);
//! ```

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
///
/// Without allocating: a fixed-size value needs no heap. An empty `buf` just asks for the
/// length. Bytes of `buf` past the value are left untouched.
///
/// Cost: 230 fuel plus 1 per 2 bytes of key and of `buf` (up to 4,096). Errors:
/// [`Error::BadArgument`] (empty key), [`Error::TooLarge`] (key over 64 bytes),
/// [`Error::OutOfFuel`].
///
/// ```
/// use capsule_sdk::prelude::*;
/// use capsule_sdk::testing::FakeNode;
/// use core::time::Duration;
///
/// let mut node = FakeNode::new(Address::from([2; 16]));
/// node.set_state(b"seq", &7u32.to_le_bytes(), Duration::from_secs(1));
/// node.run(|| {
///     let mut b = [0; 4];
///     assert_eq!(state::get_into(b"seq", &mut b), Ok(Some(4)));
///     assert_eq!(u32::from_le_bytes(b), 7);
///     assert_eq!(state::get_into(b"none", &mut b), Ok(None));
///     assert_eq!(state::get_into(b"", &mut b), Err(Error::BadArgument));
/// });
/// ```
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
///
/// Reads see this evaluation's own writes. Cost: two gets (one for the length, one for the
/// bytes), about 460 fuel plus 1 per 2 bytes of key and value. Errors:
/// [`Error::BadArgument`] (empty key), [`Error::TooLarge`] (key over 64 bytes),
/// [`Error::OutOfFuel`].
///
/// ```
/// use capsule_sdk::prelude::*;
/// use capsule_sdk::testing::FakeNode;
/// use core::time::Duration;
///
/// let mut node = FakeNode::new(Address::from([2; 16]));
/// node.run(|| {
///     assert_eq!(state::get(b"k"), Ok(None));
///     state::put(b"k", b"value", Duration::from_millis(10)).unwrap();
///     assert_eq!(state::get(b"k"), Ok(Some(b"value".to_vec())));
///     assert_eq!(state::get(&[0; 65]), Err(Error::TooLarge));
/// });
/// node.advance(Duration::from_millis(10));
/// assert_eq!(node.run(|| state::get(b"k")), Ok(None)); // expired at its TTL
/// ```
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
///
/// The entry expires at node time + `ttl`. It is charged `key.len() + value.len() + 128`
/// bytes against the protocol's quota; replacing an entry is charged only for the new size.
/// The write is kept even if the evaluation then fails.
///
/// Cost: 430 fuel plus 1 per 2 bytes of key and value. Errors, in the node's check order:
/// [`Error::BadArgument`] for an empty key or a TTL of zero or over one hour;
/// [`Error::TooLarge`] for a key over 64 bytes or a value over 4,096; [`Error::QuotaExceeded`]
/// when the protocol's live entries would be charged more than its quota;
/// [`Error::StoreFull`] when the node-wide store has no room; [`Error::OutOfFuel`]. A failed
/// put changes nothing.
///
/// ```
/// use capsule_sdk::abi::STATE_ENTRY_OVERHEAD;
/// use capsule_sdk::prelude::*;
/// use capsule_sdk::testing::FakeNode;
/// use core::time::Duration;
///
/// let mut node = FakeNode::new(Address::from([2; 16]));
/// // Room for two entries of a 1-byte key and a 100-byte value.
/// node.state_quota = 2 * (1 + 100 + STATE_ENTRY_OVERHEAD);
/// node.run(|| {
///     let (v, s) = ([0; 100], Duration::from_secs(1));
///     assert_eq!(state::put(b"a", &v, s), Ok(()));
///     assert_eq!(state::put(b"b", &v, s), Ok(()));
///     assert_eq!(state::put(b"c", &v, s), Err(Error::QuotaExceeded));
///     assert_eq!(state::put(b"b", &v, s), Ok(())); // replacing costs no more
///     assert_eq!(state::put(b"", &v, s), Err(Error::BadArgument)); // empty key
///     assert_eq!(state::put(b"c", &v, Duration::ZERO), Err(Error::BadArgument));
///     assert_eq!(state::put(b"c", &v, Duration::from_secs(3601)), Err(Error::BadArgument));
///     assert_eq!(state::put(b"c", &[0; 4097], s), Err(Error::TooLarge));
///     // A microsecond rounds up to a millisecond rather than down to zero.
///     assert_eq!(state::put(b"a", b"", Duration::from_micros(1)), Ok(()));
/// });
/// assert_eq!(node.state_value(b"a"), Some(&b""[..]));
/// node.advance(Duration::from_millis(1));
/// assert_eq!(node.state_value(b"a"), None);
/// ```
pub fn put(key: &[u8], value: &[u8], ttl: Duration) -> Result<(), Error> {
    let ttl_ms = i64::try_from(ttl.as_nanos().div_ceil(1_000_000)).unwrap_or(i64::MAX);
    // SAFETY: `key` and `value` are readable for their lengths.
    let code =
        unsafe { sys::state_put(key.as_ptr(), key.len(), value.as_ptr(), value.len(), ttl_ms) };
    Error::check(code)?;
    Ok(())
}

/// Removes the entry under `key`; returns whether there was one.
///
/// An expired entry counts as none. Cost: 230 fuel plus 1 per 2 bytes of key. Errors:
/// [`Error::BadArgument`] (empty key), [`Error::TooLarge`] (key over 64 bytes),
/// [`Error::OutOfFuel`].
///
/// ```
/// use capsule_sdk::prelude::*;
/// use capsule_sdk::testing::FakeNode;
/// use core::time::Duration;
///
/// let mut node = FakeNode::new(Address::from([2; 16]));
/// node.set_state(b"k", b"v", Duration::from_secs(1));
/// node.run(|| {
///     assert_eq!(state::remove(b"k"), Ok(true));
///     assert_eq!(state::remove(b"k"), Ok(false));
/// });
/// assert_eq!(node.state_value(b"k"), None);
/// ```
pub fn remove(key: &[u8]) -> Result<bool, Error> {
    // SAFETY: `key` is readable for its length.
    match Error::check(unsafe { sys::state_remove(key.as_ptr(), key.len()) }) {
        Ok(_) => Ok(true),
        Err(Error::NotFound) => Ok(false),
        Err(e) => Err(e),
    }
}

/// The value under `key` decoded as postcard `T`, or `None` if there is no such entry.
///
/// Errors: those of [`get`], and [`Error::Decode`] if the value does not decode as exactly
/// one `T`.
///
/// ```
/// use capsule_sdk::prelude::*;
/// use capsule_sdk::testing::FakeNode;
/// use core::time::Duration;
///
/// let mut node = FakeNode::new(Address::from([2; 16]));
/// node.run(|| {
///     assert_eq!(state::get_typed::<u32>(b"count"), Ok(None));
///     state::put_typed(b"count", &41u32, Duration::from_secs(60)).unwrap();
///     let n: u32 = state::get_typed(b"count").unwrap().unwrap_or(0);
///     assert_eq!(n, 41);
///     assert_eq!(state::get_typed::<(u32, u8)>(b"count"), Err(Error::Decode));
/// });
/// ```
pub fn get_typed<T: DeserializeOwned>(key: &[u8]) -> Result<Option<T>, Error> {
    match get(key)? {
        Some(bytes) => decode(&bytes).map(Some),
        None => Ok(None),
    }
}

/// Stores `value` encoded by postcard under `key` for `ttl`.
///
/// Errors: [`Error::Encode`], [`Error::TooLarge`] if it encodes to more than
/// [`MAX_VALUE_LEN`] (4,096) bytes, and those of [`put`].
///
/// ```
/// use capsule_sdk::prelude::*;
/// use capsule_sdk::testing::FakeNode;
/// use core::time::Duration;
///
/// let mut node = FakeNode::new(Address::from([2; 16]));
/// let peer = Address::from([3; 16]);
/// node.run(|| state::put_typed(b"peer", &(7u8, peer), Duration::from_secs(1))).unwrap();
/// let mut raw = vec![7];
/// raw.extend_from_slice(&peer.octets()); // an Address encodes as its 16 bytes
/// assert_eq!(node.state_value(b"peer"), Some(&raw[..]));
/// assert_eq!(
///     node.run(|| state::put_typed(b"big", &vec![0u8; 5000], Duration::from_secs(1))),
///     Err(Error::TooLarge)
/// );
/// ```
pub fn put_typed<T: Serialize + ?Sized>(key: &[u8], value: &T, ttl: Duration) -> Result<(), Error> {
    put(key, &encode(value, MAX_VALUE_LEN)?, ttl)
}
