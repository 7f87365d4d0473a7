//! Layer 2: read-only access to the capsule being evaluated.
//!
//! Owns the safe wrappers over the `capsule_*` imports and [`Fingerprint`]. It must never
//! cause an effect: nothing here sends, delivers or touches state.
//!
//! Costs, in fuel (`docs/node-api.md` §6.1; an evaluation has 250,000 by default):
//! [`budget`] and [`payload_len`] nothing beyond the call; [`source`], [`destination`] and
//! [`previous`] 60; [`payload`] and [`payload_into`] 30 plus 1 per 8 bytes copied;
//! [`fingerprint`] 110. None of them can fail in practice except with [`Error::OutOfFuel`]
//! (the SDK always passes valid buffers, so [`Error::BadPointer`] never happens).
//!
//! ```
//! use capsule_sdk::prelude::*;
//! use capsule_sdk::testing::{FakeNode, Incoming};
//!
//! let (src, me, dst) = (Address::from([1; 16]), Address::from([2; 16]), Address::from([9; 16]));
//! let mut node = FakeNode::new(me).with_capsule(Incoming::new(src, dst, 4, b"hello"));
//! node.run(|| {
//!     assert_eq!(capsule::source(), Ok(src));
//!     assert_eq!(capsule::destination(), Ok(dst));
//!     assert_eq!(capsule::previous(), Ok(src)); // `Incoming::new` makes the source previous
//!     assert_eq!(capsule::budget(), 4);
//!     assert_eq!(capsule::payload().unwrap(), b"hello");
//! });
//! ```

use alloc::vec::Vec;

use serde::de::DeserializeOwned;

use crate::abi::FINGERPRINT_LEN;
use crate::{Address, Error, sys};

/// Remaining budget of the capsule after this hop's charge: the most that the capsules sent
/// during this evaluation may carry in total.
///
/// The node charged 1 for this hop before the evaluation, so a capsule that arrived with
/// budget 1 sees 0 here: it may still deliver, but not send (every send carries at least 1).
/// The value does not go down as sends spend it; [`Send::bytes`](crate::effects::Send::bytes)
/// returns what is left. At most 65,534 (the header field is 16 bits).
///
/// Cost: nothing beyond the call. Never fails.
///
/// ```
/// use capsule_sdk::prelude::*;
/// use capsule_sdk::testing::{FakeNode, Incoming};
///
/// let (me, dst) = (Address::from([2; 16]), Address::from([9; 16]));
/// let mut node = FakeNode::new(me)
///     .route(dst, dst)
///     .with_capsule(Incoming::new(me, dst, 7, b""));
/// node.run(|| {
///     assert_eq!(capsule::budget(), 7);
///     assert_eq!(send(dst, 3, b"copy"), Ok(4)); // what is left for further sends
///     assert_eq!(capsule::budget(), 7); // unchanged: split it, never increase it
/// });
/// ```
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

/// The source address in the capsule's header: the node or host that originated the
/// capsule, kept by every forward unless a node sends with
/// [`Send::source_self`](crate::effects::Send::source_self).
///
/// Cost: 60 fuel. Errors: only [`Error::OutOfFuel`].
///
/// ```
/// use capsule_sdk::prelude::*;
/// use capsule_sdk::testing::{FakeNode, Incoming};
///
/// let (src, me) = (Address::from([1; 16]), Address::from([2; 16]));
/// let mut node = FakeNode::new(me).with_capsule(Incoming::new(src, me, 0, b""));
/// assert_eq!(node.run(capsule::source), Ok(src));
/// ```
pub fn source() -> Result<Address, Error> {
    // SAFETY: the import writes exactly 16 bytes at the pointer it is given.
    read_address(|out| unsafe { sys::capsule_source(out) })
}

/// The destination address in the capsule's header. The capsule is at its destination when
/// this equals [`node::address`](crate::node::address).
///
/// Cost: 60 fuel. Errors: only [`Error::OutOfFuel`].
///
/// ```
/// use capsule_sdk::prelude::*;
/// use capsule_sdk::testing::{FakeNode, Incoming};
///
/// let (src, me, dst) = (Address::from([1; 16]), Address::from([2; 16]), Address::from([9; 16]));
/// let mut node = FakeNode::new(me).with_capsule(Incoming::new(src, dst, 3, b""));
/// node.run(|| {
///     assert_eq!(capsule::destination(), Ok(dst));
///     assert_ne!(capsule::destination(), node::address()); // not there yet
/// });
/// ```
pub fn destination() -> Result<Address, Error> {
    // SAFETY: the import writes exactly 16 bytes at the pointer it is given.
    read_address(|out| unsafe { sys::capsule_destination(out) })
}

/// The previous active node that evaluated a capsule of this protocol (where the node
/// demand-loads code from).
///
/// For a capsule a local application injected at this node, and for a capsule this node sent
/// to itself (loopback), it is this node's own address. Flooding protocols use it not to send
/// a message back where it came from (see [`flood::flood`](crate::flood::flood)).
///
/// Cost: 60 fuel. Errors: only [`Error::OutOfFuel`].
///
/// ```
/// use capsule_sdk::prelude::*;
/// use capsule_sdk::testing::{FakeNode, Incoming};
///
/// let (src, prev, me) = (Address::from([1; 16]), Address::from([3; 16]), Address::from([2; 16]));
/// let mut incoming = Incoming::new(src, me, 0, b"");
/// incoming.previous = prev;
/// let mut node = FakeNode::new(me).with_capsule(incoming);
/// assert_eq!(node.run(capsule::previous), Ok(prev));
/// ```
pub fn previous() -> Result<Address, Error> {
    // SAFETY: the import writes exactly 16 bytes at the pointer it is given.
    read_address(|out| unsafe { sys::capsule_previous(out) })
}

/// Length of the payload in bytes (at most [`MAX_PAYLOAD`](crate::abi::MAX_PAYLOAD), 1,200).
///
/// Cost: nothing beyond the call. Never fails.
///
/// ```
/// use capsule_sdk::prelude::*;
/// use capsule_sdk::testing::{FakeNode, Incoming};
///
/// let me = Address::from([2; 16]);
/// let mut node = FakeNode::new(me).with_capsule(Incoming::new(me, me, 0, b"hello"));
/// assert_eq!(node.run(capsule::payload_len), 5);
/// ```
pub fn payload_len() -> usize {
    sys::capsule_payload_len().max(0) as usize
}

/// Copies the payload into `buf` (as much as fits) and returns the full payload length.
///
/// Without allocating: a capsule that reads a fixed-size header of its payload needs no heap.
/// Bytes of `buf` past the payload are left untouched.
///
/// Cost: 30 fuel plus 1 per 8 bytes copied. Errors: only [`Error::OutOfFuel`].
///
/// ```
/// use capsule_sdk::prelude::*;
/// use capsule_sdk::testing::{FakeNode, Incoming};
///
/// let me = Address::from([2; 16]);
/// let mut node = FakeNode::new(me).with_capsule(Incoming::new(me, me, 0, b"payload"));
/// let mut head = [0; 3];
/// assert_eq!(node.run(|| capsule::payload_into(&mut head)), Ok(7)); // the full length
/// assert_eq!(&head, b"pay");
/// ```
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

/// The whole payload, in a fresh `Vec` (on the bump heap, gone after the evaluation).
///
/// Cost: 30 fuel plus 1 per 8 bytes. Errors: only [`Error::OutOfFuel`].
///
/// ```
/// use capsule_sdk::prelude::*;
/// use capsule_sdk::testing::{FakeNode, Incoming};
///
/// #[derive(Default)]
/// struct Echo;
///
/// impl Capsule for Echo {
///     fn evaluate(&mut self) -> Result<(), Error> {
///         let mut data = capsule::payload()?;
///         data.reverse();
///         deliver(7, &data)
///     }
/// }
///
/// let me = Address::from([2; 16]);
/// let mut node = FakeNode::new(me).with_capsule(Incoming::new(me, me, 0, b"abc"));
/// assert_eq!(node.evaluate::<Echo>(), 0);
/// assert_eq!(node.deliveries[0].payload, b"cba");
/// ```
pub fn payload() -> Result<Vec<u8>, Error> {
    // SAFETY: `out` is writable for `cap` bytes (the Vec's capacity).
    read_vec(payload_len(), |out, cap| unsafe {
        sys::capsule_payload(out, cap)
    })
}

/// The payload decoded as a postcard value of type `T`; [`Error::Decode`] if it does not
/// decode or has bytes left over.
///
/// The payload type derives `Serialize` and `Deserialize` through the SDK's re-export
/// (`#[serde(crate = "capsule_sdk::serde")]`), so the capsule crate needs no serde dependency
/// of its own. A host program that links the capsule crate as an `rlib` encodes the same type
/// with `capsule_sdk::postcard::to_allocvec` (see the guide, "Sharing payload types").
///
/// Cost: as [`payload`], plus the decoding's own instructions. Errors: [`Error::Decode`],
/// [`Error::OutOfFuel`].
///
/// ```
/// use capsule_sdk::prelude::*;
/// use capsule_sdk::testing::{FakeNode, Incoming};
///
/// #[derive(Serialize, Deserialize, PartialEq, Debug)]
/// #[serde(crate = "capsule_sdk::serde")]
/// struct Probe {
///     hops: u8,
///     origin: Address,
/// }
///
/// let me = Address::from([2; 16]);
/// let bytes = capsule_sdk::postcard::to_allocvec(&Probe { hops: 3, origin: me }).unwrap();
/// let mut node = FakeNode::new(me).with_capsule(Incoming::new(me, me, 0, &bytes));
/// node.run(|| {
///     assert_eq!(capsule::payload_as::<Probe>(), Ok(Probe { hops: 3, origin: me }));
///     // A shorter type leaves bytes over; a longer one runs out of them.
///     assert_eq!(capsule::payload_as::<u8>(), Err(Error::Decode));
///     assert_eq!(capsule::payload_as::<(Probe, u8)>(), Err(Error::Decode));
/// });
/// ```
pub fn payload_as<T: DeserializeOwned>() -> Result<T, Error> {
    decode(&payload()?)
}

/// Decodes postcard bytes that must hold exactly one `T`; [`Error::Decode`] if they do not
/// decode or have bytes left over. Pure computation: no node call, no fuel beyond its own
/// instructions. It is what [`payload_as`] and [`state::get_typed`](crate::state::get_typed)
/// use.
///
/// ```
/// use capsule_sdk::Error;
/// use capsule_sdk::capsule::decode;
///
/// assert_eq!(decode::<(u8, u16)>(&[1, 0xac, 0x02]), Ok((1, 300))); // u16 as a varint
/// assert_eq!(decode::<u8>(&[1, 2]), Err(Error::Decode)); // one byte left over
/// assert_eq!(decode::<u32>(&[]), Err(Error::Decode));
/// ```
pub fn decode<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, Error> {
    match postcard::take_from_bytes::<T>(bytes) {
        Ok((value, [])) => Ok(value),
        _ => Err(Error::Decode),
    }
}

/// The capsule's type: the fingerprint of the code evaluating it, as [`fingerprint`]
/// returns it.
///
/// A SHA-256 digest of the module's bytes (32 bytes), or for the legacy type an MD5 digest
/// (16). Changing one byte of the module makes a new type, with its own, empty, state.
///
/// ```
/// use capsule_sdk::prelude::*;
/// use capsule_sdk::testing::{FakeNode, Incoming};
///
/// let me = Address::from([2; 16]);
/// let mut node = FakeNode::new(me).with_capsule(Incoming::new(me, me, 0, b""));
/// let f = node.run(capsule::fingerprint).unwrap();
/// assert_eq!(f, node.run(capsule::fingerprint).unwrap()); // Copy, Eq, Hash
/// assert_eq!(f.as_bytes().len(), 32);
/// ```
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
pub struct Fingerprint {
    bytes: [u8; FINGERPRINT_LEN],
    len: u8,
}

impl Fingerprint {
    /// The digest: 32 bytes for SHA-256, 16 for the legacy MD5 type.
    ///
    /// ```
    /// use capsule_sdk::prelude::*;
    /// use capsule_sdk::testing::{FakeNode, Incoming};
    ///
    /// let me = Address::from([2; 16]);
    /// let mut incoming = Incoming::new(me, me, 0, b"");
    /// incoming.fingerprint = vec![0xab; 32];
    /// let mut node = FakeNode::new(me).with_capsule(incoming);
    /// let f = node.run(capsule::fingerprint).unwrap();
    /// assert_eq!(f.as_bytes(), &[0xab; 32]);
    /// ```
    pub fn as_bytes(&self) -> &[u8] {
        &self.bytes[..usize::from(self.len)]
    }

    /// Whether this is the legacy (unsafe) MD5 fingerprint.
    ///
    /// ```
    /// use capsule_sdk::prelude::*;
    /// use capsule_sdk::testing::{FakeNode, Incoming};
    ///
    /// let me = Address::from([2; 16]);
    /// let mut incoming = Incoming::new(me, me, 0, b"");
    /// incoming.fingerprint = vec![0xee; 16];
    /// let mut node = FakeNode::new(me).with_capsule(incoming);
    /// let f = node.run(capsule::fingerprint).unwrap();
    /// assert!(f.is_legacy_md5());
    /// assert_eq!(f.as_bytes().len(), 16);
    /// ```
    pub fn is_legacy_md5(&self) -> bool {
        self.len == 16
    }
}

/// The fingerprint of the current protocol: the capsule type, as the node matched it to
/// this module.
///
/// Cost: 110 fuel. Errors: only [`Error::OutOfFuel`].
///
/// ```
/// use capsule_sdk::prelude::*;
/// use capsule_sdk::testing::{FakeNode, Incoming};
///
/// let me = Address::from([2; 16]);
/// // `Incoming::new` gives the capsule a fixed 32-byte (SHA-256 sized) fingerprint.
/// let mut node = FakeNode::new(me).with_capsule(Incoming::new(me, me, 0, b""));
/// let f = node.run(capsule::fingerprint).unwrap();
/// assert_eq!(f.as_bytes(), &[0x5a; 32]);
/// assert!(!f.is_legacy_md5());
/// ```
pub fn fingerprint() -> Result<Fingerprint, Error> {
    let mut bytes = [0; FINGERPRINT_LEN];
    // SAFETY: `bytes` is 32 writable bytes, which is what the import writes.
    let n = Error::check(unsafe { sys::capsule_fingerprint(bytes.as_mut_ptr()) })?;
    let len = (n as usize).min(FINGERPRINT_LEN) as u8;
    Ok(Fingerprint { bytes, len })
}
