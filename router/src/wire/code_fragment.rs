//! Code fragment frames (kind 3): one piece of a capsule's WebAssembly module.
//!
//! Owns the fragment layout (field offsets in [`field`]), the checked view
//! [`CodeFragmentPacket`], the parsed form [`CodeFragmentRepr`], and the fixed split of a module
//! into fragments ([`fragment_count`], [`CodeFragmentRepr::fragments`]). Every fragment but the
//! last carries exactly [`FRAGMENT_DATA_LEN`] bytes, so a fragment's place in the module follows
//! from its index alone and a receiver can check each one on arrival. This module never
//! reassembles modules or checks their hash: the node core and the soft-store do.
//!
//! ```text
//!  0                   1                   2                   3
//!  0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |     magic "AN" (0x414E)       |  version = 1  |   kind = 3    |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |   flags = 0   |   algorithm   |         reserved = 0          |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |                  total module length (> 0)                    |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |        fragment index         |        fragment count         |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |       data length D           |  type fingerprint (F bytes)   :
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+                               +
//! :                      data (D bytes)                           |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! ```

use core::ops::Range;

use super::WireError;
use super::common::{
    self, FRAGMENT_DATA_LEN, FrameKind, MAX_MODULE_LEN, Prefix, check_prefix, read_fingerprint,
    read_u16, read_u32, write_fingerprint, write_u16, write_u32,
};
use crate::fingerprint::{Fingerprint, FingerprintAlgorithm};

/// Byte offsets of a code fragment.
pub mod field {
    use core::ops::Range;

    /// Reserved, zero.
    pub const RESERVED: Range<usize> = 6..8;
    /// Length of the whole module, in bytes.
    pub const MODULE_LEN: Range<usize> = 8..12;
    /// Index of this fragment.
    pub const INDEX: Range<usize> = 12..14;
    /// Number of fragments of the module.
    pub const COUNT: Range<usize> = 14..16;
    /// Data bytes in this fragment.
    pub const DATA_LEN: Range<usize> = 16..18;
    /// Start of the type fingerprint.
    pub const FINGERPRINT: usize = 18;

    /// The type fingerprint, for a fingerprint of `f` bytes.
    pub const fn fingerprint(f: usize) -> Range<usize> {
        FINGERPRINT..FINGERPRINT + f
    }

    /// The data, of `len` bytes.
    pub const fn data(f: usize, len: usize) -> Range<usize> {
        FINGERPRINT + f..FINGERPRINT + f + len
    }
}

/// Number of fragments a module of `module_len` bytes is split into:
/// `ceil(module_len / FRAGMENT_DATA_LEN)`.
pub const fn fragment_count(module_len: u32) -> u32 {
    module_len.div_ceil(FRAGMENT_DATA_LEN as u32)
}

/// Where fragment `index` of a module of `module_len` bytes lies in the module, or `None` when
/// the module has no such fragment.
pub fn fragment_range(module_len: u32, index: u16) -> Option<Range<usize>> {
    if u32::from(index) >= fragment_count(module_len) {
        return None;
    }
    let start = usize::from(index) * FRAGMENT_DATA_LEN;
    let end = (start + FRAGMENT_DATA_LEN).min(module_len as usize);
    Some(start..end)
}

/// Validates the numbers of a fragment header against each other, in the order the errors
/// are documented: module length, count, index, data length.
fn check_numbers(
    module_len: u32,
    index: u16,
    count: u16,
    data_len: usize,
) -> Result<(), WireError> {
    if module_len == 0 {
        return Err(WireError::ModuleLengthZero);
    }
    if module_len > MAX_MODULE_LEN {
        return Err(WireError::ModuleTooLong {
            len: module_len.into(),
        });
    }
    let expected = fragment_count(module_len);
    if u32::from(count) != expected {
        return Err(WireError::FragmentCountMismatch { count, expected });
    }
    let Some(range) = fragment_range(module_len, index) else {
        return Err(WireError::FragmentIndexOutOfRange { index, count });
    };
    if data_len != range.len() {
        return Err(WireError::FragmentLengthInvalid {
            index,
            len: data_len,
            expected: range.len(),
        });
    }
    Ok(())
}

/// A code fragment frame over a byte buffer.
///
/// Built with [`CodeFragmentPacket::new_checked`], every accessor is infallible and panic-free.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CodeFragmentPacket<T: AsRef<[u8]>> {
    buffer: T,
}

impl<T: AsRef<[u8]>> CodeFragmentPacket<T> {
    /// Wraps `buffer` without validating it.
    pub const fn new_unchecked(buffer: T) -> Self {
        CodeFragmentPacket { buffer }
    }

    /// Wraps `buffer` after validating every field ([`CodeFragmentPacket::check`]).
    pub fn new_checked(buffer: T) -> Result<Self, WireError> {
        let packet = Self::new_unchecked(buffer);
        packet.check()?;
        Ok(packet)
    }

    /// Validates the whole frame: prefix, size bound, reserved bytes, module length, count,
    /// index, data length for that index, and exact datagram length.
    pub fn check(&self) -> Result<(), WireError> {
        let buf = self.buffer.as_ref();
        let algorithm = check_prefix(buf, FrameKind::CodeFragment)?;
        let f = algorithm.digest_len();
        if buf.len() < field::FINGERPRINT {
            let needed = field::FINGERPRINT + f;
            return Err(WireError::Truncated {
                needed,
                available: buf.len(),
            });
        }
        if buf[field::RESERVED] != [0, 0] {
            return Err(WireError::ReservedNotZero);
        }
        let data_len = usize::from(read_u16(buf, field::DATA_LEN.start));
        check_numbers(
            read_u32(buf, field::MODULE_LEN.start),
            read_u16(buf, field::INDEX.start),
            read_u16(buf, field::COUNT.start),
            data_len,
        )?;
        let end = field::data(f, data_len).end;
        if buf.len() < end {
            return Err(WireError::Truncated {
                needed: end,
                available: buf.len(),
            });
        }
        if buf.len() > end {
            return Err(WireError::LengthMismatch {
                expected: end,
                actual: buf.len(),
            });
        }
        Ok(())
    }

    /// Consumes the view and returns the buffer.
    pub fn into_inner(self) -> T {
        self.buffer
    }

    /// The fingerprint algorithm.
    pub fn algorithm(&self) -> FingerprintAlgorithm {
        common::algorithm(self.buffer.as_ref())
    }

    /// The type of the module this fragment belongs to.
    pub fn fingerprint(&self) -> Fingerprint {
        read_fingerprint(self.buffer.as_ref(), field::FINGERPRINT)
    }

    /// Length of the whole module.
    pub fn module_len(&self) -> u32 {
        read_u32(self.buffer.as_ref(), field::MODULE_LEN.start)
    }

    /// Index of this fragment.
    pub fn index(&self) -> u16 {
        read_u16(self.buffer.as_ref(), field::INDEX.start)
    }

    /// Number of fragments of the module.
    pub fn count(&self) -> u16 {
        read_u16(self.buffer.as_ref(), field::COUNT.start)
    }

    /// Number of data bytes.
    pub fn data_len(&self) -> u16 {
        read_u16(self.buffer.as_ref(), field::DATA_LEN.start)
    }

    /// Offset of this fragment's data in the module.
    pub fn offset(&self) -> usize {
        usize::from(self.index()) * FRAGMENT_DATA_LEN
    }

    fn data_range(&self) -> Range<usize> {
        field::data(self.algorithm().digest_len(), self.data_len().into())
    }

    /// The data bytes.
    pub fn data(&self) -> &[u8] {
        &self.buffer.as_ref()[self.data_range()]
    }
}

impl<'a, T: AsRef<[u8]> + ?Sized> CodeFragmentPacket<&'a T> {
    fn data_ref(&self) -> &'a [u8] {
        let range = self.data_range();
        let buffer: &'a T = self.buffer;
        &buffer.as_ref()[range]
    }
}

/// The parsed form of a code fragment. The data is borrowed from the datagram (or, when
/// sending, from the module).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct CodeFragmentRepr<'a> {
    /// The type of the module this fragment belongs to.
    pub fingerprint: Fingerprint,
    /// Length of the whole module, in bytes.
    pub module_len: u32,
    /// Index of this fragment; the fragment count follows from `module_len`.
    pub index: u16,
    /// This fragment's bytes: `module[index * FRAGMENT_DATA_LEN..]`, at most
    /// [`FRAGMENT_DATA_LEN`] of them.
    pub data: &'a [u8],
}

impl<'a> CodeFragmentRepr<'a> {
    /// Fragment `index` of `module`, whose type is `fingerprint`.
    pub fn fragment(
        fingerprint: Fingerprint,
        module: &'a [u8],
        index: u16,
    ) -> Result<CodeFragmentRepr<'a>, WireError> {
        let module_len = checked_module_len(module)?;
        let count = fragment_count(module_len);
        let Some(range) = fragment_range(module_len, index) else {
            // `checked_module_len` bounds the count to u16.
            let count = count as u16;
            return Err(WireError::FragmentIndexOutOfRange { index, count });
        };
        Ok(CodeFragmentRepr {
            fingerprint,
            module_len,
            index,
            data: &module[range],
        })
    }

    /// Every fragment of `module`, whose type is `fingerprint`, in index order.
    pub fn fragments(
        fingerprint: Fingerprint,
        module: &'a [u8],
    ) -> Result<impl ExactSizeIterator<Item = CodeFragmentRepr<'a>>, WireError> {
        let module_len = checked_module_len(module)?;
        // `checked_module_len` bounds the count, so every index fits in u16.
        Ok(module
            .chunks(FRAGMENT_DATA_LEN)
            .enumerate()
            .map(move |(index, data)| CodeFragmentRepr {
                fingerprint,
                module_len,
                index: index as u16,
                data,
            }))
    }

    /// Parses a code fragment view, validating it first (so an unchecked view is fine).
    pub fn parse<T: AsRef<[u8]> + ?Sized>(
        packet: &CodeFragmentPacket<&'a T>,
    ) -> Result<CodeFragmentRepr<'a>, WireError> {
        packet.check()?;
        Ok(CodeFragmentRepr {
            fingerprint: packet.fingerprint(),
            module_len: packet.module_len(),
            index: packet.index(),
            data: packet.data_ref(),
        })
    }

    /// Number of fragments of the module (`ceil(module_len / FRAGMENT_DATA_LEN)`, saturated
    /// to `u16::MAX` for a module too long to transfer).
    pub fn count(&self) -> u16 {
        u16::try_from(fragment_count(self.module_len)).unwrap_or(u16::MAX)
    }

    /// Offset of this fragment's data in the module.
    pub fn offset(&self) -> usize {
        usize::from(self.index) * FRAGMENT_DATA_LEN
    }

    /// Length of the emitted frame.
    pub fn buffer_len(&self) -> usize {
        field::data(self.fingerprint.algorithm().digest_len(), self.data.len()).end
    }

    /// Whether this fragment can be emitted: the same rules as parsing.
    pub fn validate(&self) -> Result<(), WireError> {
        check_numbers(self.module_len, self.index, self.count(), self.data.len())
    }

    /// Writes this fragment into `packet`.
    ///
    /// # Panics
    /// If the buffer is shorter than [`CodeFragmentRepr::buffer_len`]. A fragment that fails
    /// [`CodeFragmentRepr::validate`] makes a frame that does not parse.
    pub fn emit<T: AsRef<[u8]> + AsMut<[u8]> + ?Sized>(
        &self,
        packet: &mut CodeFragmentPacket<&mut T>,
    ) {
        let f = self.fingerprint.algorithm().digest_len();
        let buf = packet.buffer.as_mut();
        Prefix {
            kind: FrameKind::CodeFragment,
            algorithm: self.fingerprint.algorithm(),
        }
        .emit(buf);
        buf[field::RESERVED].fill(0);
        write_u32(buf, field::MODULE_LEN.start, self.module_len);
        write_u16(buf, field::INDEX.start, self.index);
        write_u16(buf, field::COUNT.start, self.count());
        // Data longer than u16::MAX fails `validate` long before this cast matters.
        write_u16(buf, field::DATA_LEN.start, self.data.len() as u16);
        write_fingerprint(buf, field::FINGERPRINT, &self.fingerprint);
        buf[field::data(f, self.data.len())].copy_from_slice(self.data);
    }

    /// The emitted frame in a new vector.
    pub fn to_vec(&self) -> Result<Vec<u8>, WireError> {
        super::Frame::CodeFragment(*self).to_vec()
    }
}

/// The length of a module that can be transferred, or why it cannot.
fn checked_module_len(module: &[u8]) -> Result<u32, WireError> {
    if module.is_empty() {
        return Err(WireError::ModuleLengthZero);
    }
    match u32::try_from(module.len()) {
        Ok(len) if len <= MAX_MODULE_LEN => Ok(len),
        _ => Err(WireError::ModuleTooLong {
            len: module.len() as u64,
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::common::MAX_CODE_FRAME_LEN;

    fn module(len: usize) -> Vec<u8> {
        (0..len).map(|i| (i % 251) as u8).collect()
    }

    #[test]
    fn splits_and_round_trips() {
        for len in [1usize, 1023, 1024, 1025, 2048, 5000] {
            let module = module(len);
            let fp = Fingerprint::sha256(&module);
            let fragments: Vec<_> = CodeFragmentRepr::fragments(fp, &module).unwrap().collect();
            assert_eq!(fragments.len(), len.div_ceil(1024));
            let mut reassembled = vec![0u8; len];
            for repr in &fragments {
                assert_eq!(usize::from(repr.count()), fragments.len());
                let bytes = repr.to_vec().unwrap();
                assert!(bytes.len() <= MAX_CODE_FRAME_LEN);
                let packet = CodeFragmentPacket::new_checked(&bytes[..]).unwrap();
                let parsed = CodeFragmentRepr::parse(&packet).unwrap();
                assert_eq!(parsed, *repr);
                assert_eq!(
                    CodeFragmentRepr::fragment(fp, &module, repr.index),
                    Ok(*repr)
                );
                reassembled[packet.offset()..][..parsed.data.len()].copy_from_slice(parsed.data);
            }
            assert!(fp.matches(&reassembled));
        }
    }

    #[test]
    fn full_fragment_frame_fits_the_limit() {
        let module = module(4096);
        let fp = Fingerprint::sha256(&module);
        let bytes = CodeFragmentRepr::fragment(fp, &module, 0)
            .unwrap()
            .to_vec()
            .unwrap();
        assert_eq!(bytes.len(), 18 + 32 + 1024);
    }

    #[test]
    fn fragment_ranges() {
        assert_eq!(fragment_count(1), 1);
        assert_eq!(fragment_count(1024), 1);
        assert_eq!(fragment_count(1025), 2);
        assert_eq!(fragment_range(1025, 1), Some(1024..1025));
        assert_eq!(fragment_range(1025, 2), None);
        assert_eq!(fragment_range(0, 0), None);
    }

    #[test]
    fn refuses_modules_it_cannot_split() {
        let fp = Fingerprint::sha256(b"");
        assert!(matches!(
            CodeFragmentRepr::fragments(fp, &[]),
            Err(WireError::ModuleLengthZero)
        ));
        assert_eq!(
            CodeFragmentRepr::fragment(fp, b"abc", 1),
            Err(WireError::FragmentIndexOutOfRange { index: 1, count: 1 })
        );
    }

    fn frame(module_len: u32, index: u16, count: u16, data: &[u8]) -> Vec<u8> {
        // Hand-built so that inconsistent headers can be expressed.
        let mut buf = vec![0u8; 18 + 32 + data.len()];
        Prefix {
            kind: FrameKind::CodeFragment,
            algorithm: FingerprintAlgorithm::Sha256,
        }
        .emit(&mut buf);
        write_u32(&mut buf, field::MODULE_LEN.start, module_len);
        write_u16(&mut buf, field::INDEX.start, index);
        write_u16(&mut buf, field::COUNT.start, count);
        write_u16(&mut buf, field::DATA_LEN.start, data.len() as u16);
        buf[field::data(32, data.len())].copy_from_slice(data);
        buf
    }

    #[test]
    fn rejects_inconsistent_headers() {
        let check = |bytes: Vec<u8>| CodeFragmentPacket::new_checked(bytes).map(|_| ());
        assert_eq!(check(frame(3, 0, 1, b"abc")), Ok(()));
        assert_eq!(check(frame(0, 0, 0, b"")), Err(WireError::ModuleLengthZero));
        assert_eq!(
            check(frame(MAX_MODULE_LEN + 1, 0, u16::MAX, b"")),
            Err(WireError::ModuleTooLong {
                len: u64::from(MAX_MODULE_LEN) + 1
            })
        );
        assert_eq!(
            check(frame(3, 0, 2, b"abc")),
            Err(WireError::FragmentCountMismatch {
                count: 2,
                expected: 1
            })
        );
        assert_eq!(
            check(frame(2000, 2, 2, b"abc")),
            Err(WireError::FragmentIndexOutOfRange { index: 2, count: 2 })
        );
        assert_eq!(
            check(frame(2000, 0, 2, b"abc")),
            Err(WireError::FragmentLengthInvalid {
                index: 0,
                len: 3,
                expected: 1024
            })
        );
        assert_eq!(
            check(frame(2000, 1, 2, b"abc")),
            Err(WireError::FragmentLengthInvalid {
                index: 1,
                len: 3,
                expected: 976
            })
        );
        let mut reserved = frame(3, 0, 1, b"abc");
        reserved[6] = 0x80;
        assert_eq!(check(reserved), Err(WireError::ReservedNotZero));
    }

    #[test]
    fn rejects_wrong_datagram_lengths() {
        let good = frame(3, 0, 1, b"abc");
        assert_eq!(
            CodeFragmentPacket::new_checked(&good[..17]),
            Err(WireError::Truncated {
                needed: 50,
                available: 17
            })
        );
        assert_eq!(
            CodeFragmentPacket::new_checked(&good[..52]),
            Err(WireError::Truncated {
                needed: 53,
                available: 52
            })
        );
        let mut long = good.clone();
        long.push(0);
        assert_eq!(
            CodeFragmentPacket::new_checked(&long),
            Err(WireError::LengthMismatch {
                expected: 53,
                actual: 54
            })
        );
        let mut huge = good;
        huge.resize(1233, 0);
        assert_eq!(
            CodeFragmentPacket::new_checked(&huge),
            Err(WireError::FrameTooLong { len: 1233 })
        );
    }

    #[test]
    fn inconsistent_repr_is_refused_on_emit() {
        let fp = Fingerprint::sha256(b"x");
        let repr = CodeFragmentRepr {
            fingerprint: fp,
            module_len: 2000,
            index: 0,
            data: b"x",
        };
        assert_eq!(
            repr.to_vec(),
            Err(WireError::FragmentLengthInvalid {
                index: 0,
                len: 1,
                expected: 1024
            })
        );
    }
}
