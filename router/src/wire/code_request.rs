//! Code request frames (kind 2): "send me these fragments of the module with this type".
//!
//! Owns the request layout (field offsets in [`field`]), the checked view [`CodeRequestPacket`]
//! and the parsed form [`CodeRequestRepr`]. A node sends a request to the previous active node
//! named in a capsule whose code it lacks. The mask works like the chunk mask of ANTS: after a
//! loss, only the missing fragments are asked for again. This module never decides which
//! fragments to ask for or when; the node core does.
//!
//! ```text
//!  0                   1                   2                   3
//!  0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |     magic "AN" (0x414E)       |  version = 1  |   kind = 2    |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |     flags     |   algorithm   |         reserved = 0          |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |     first fragment index      |  mask length M (0 = all)      |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |        type fingerprint (F = 32 bytes SHA-256, 16 MD5)        |
//! |   cookie (16 bytes, only with flag COOKIE)                    |
//! |   mask (M bytes): bit i, MSB first, = fragment first + i      |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! ```
//!
//! Flag bit 0 (`COOKIE`) says a cookie follows the fingerprint: the one the code source
//! handed this requester in a code cookie frame (kind 5). Without a valid cookie a source
//! answers with a cookie, not with code.

use super::WireError;
use super::code_cookie::{COOKIE_LEN, Cookie};
use super::common::{
    self, FrameKind, MAX_CODE_FRAME_LEN, Prefix, check_prefix, read_fingerprint, read_u16,
    write_fingerprint, write_u16,
};
use crate::fingerprint::{Fingerprint, FingerprintAlgorithm};

/// Flag bit of a code request: a cookie follows the fingerprint.
pub const FLAG_COOKIE: u8 = 0x01;

/// Byte offsets of a code request.
pub mod field {
    use core::ops::Range;

    use super::COOKIE_LEN;

    /// Reserved, zero.
    pub const RESERVED: Range<usize> = 6..8;
    /// Index of the fragment bit 0 of the mask stands for.
    pub const FIRST: Range<usize> = 8..10;
    /// Mask length in bytes; 0 asks for every fragment from `FIRST` on.
    pub const MASK_LEN: Range<usize> = 10..12;
    /// Start of the type fingerprint.
    pub const FINGERPRINT: usize = 12;

    /// The type fingerprint, for a fingerprint of `f` bytes.
    pub const fn fingerprint(f: usize) -> Range<usize> {
        FINGERPRINT..FINGERPRINT + f
    }

    /// The cookie, present when the `COOKIE` flag is set.
    pub const fn cookie(f: usize) -> Range<usize> {
        FINGERPRINT + f..FINGERPRINT + f + COOKIE_LEN
    }

    /// The mask, of `len` bytes, after the cookie if there is one.
    pub const fn mask(f: usize, cookie: bool, len: usize) -> Range<usize> {
        let start = FINGERPRINT + f + if cookie { COOKIE_LEN } else { 0 };
        start..start + len
    }
}

/// Longest mask a request with this algorithm, with or without a cookie, can carry within
/// [`MAX_CODE_FRAME_LEN`] (1188 bytes, 9504 fragments, for SHA-256 without a cookie).
pub const fn max_mask_len(algorithm: FingerprintAlgorithm, cookie: bool) -> usize {
    MAX_CODE_FRAME_LEN - field::mask(algorithm.digest_len(), cookie, 0).start
}

/// Whether bit `bit` (MSB first) of `mask` is set.
fn mask_bit(mask: &[u8], bit: usize) -> bool {
    mask.get(bit / 8)
        .is_some_and(|byte| byte & (0x80 >> (bit % 8)) != 0)
}

/// Whether `mask`, starting at fragment `first`, has a bit set for an index above
/// `u16::MAX`. Checked byte-wise: cost is linear in the mask, never in the bits.
fn mask_out_of_range(first: u16, mask: &[u8]) -> bool {
    // Bits from `in_range` on would name indexes above u16::MAX.
    let in_range = usize::from(u16::MAX) + 1 - usize::from(first);
    let Some(tail) = mask.get(in_range / 8..) else {
        return false;
    };
    match tail.split_first() {
        None => false,
        Some((partial, rest)) => {
            partial & (0xff >> (in_range % 8)) != 0 || rest.iter().any(|&b| b != 0)
        }
    }
}

/// Whether a request (`first`, `mask`) asks for fragment `index`.
fn wants(first: u16, mask: &[u8], index: u16) -> bool {
    match index.checked_sub(first) {
        None => false,
        Some(_) if mask.is_empty() => true,
        Some(offset) => mask_bit(mask, offset.into()),
    }
}

/// A code request frame over a byte buffer.
///
/// Built with [`CodeRequestPacket::new_checked`], every accessor is infallible and panic-free.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CodeRequestPacket<T: AsRef<[u8]>> {
    buffer: T,
}

impl<T: AsRef<[u8]>> CodeRequestPacket<T> {
    /// Wraps `buffer` without validating it.
    pub const fn new_unchecked(buffer: T) -> Self {
        CodeRequestPacket { buffer }
    }

    /// Wraps `buffer` after validating every field ([`CodeRequestPacket::check`]).
    pub fn new_checked(buffer: T) -> Result<Self, WireError> {
        let packet = Self::new_unchecked(buffer);
        packet.check()?;
        Ok(packet)
    }

    /// Validates the whole frame: prefix, size bound, reserved bytes, mask length, exact
    /// datagram length, and that no mask bit names a fragment index above 65535.
    pub fn check(&self) -> Result<(), WireError> {
        let buf = self.buffer.as_ref();
        let algorithm = check_prefix(buf, FrameKind::CodeRequest)?;
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
        let cookie = buf[common::field::FLAGS] & FLAG_COOKIE != 0;
        let mask_len = usize::from(read_u16(buf, field::MASK_LEN.start));
        let max = max_mask_len(algorithm, cookie);
        if mask_len > max {
            return Err(WireError::MaskTooLong { len: mask_len, max });
        }
        let end = field::mask(f, cookie, mask_len).end;
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
        if mask_out_of_range(
            read_u16(buf, field::FIRST.start),
            &buf[field::mask(f, cookie, mask_len)],
        ) {
            return Err(WireError::MaskOutOfRange);
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

    /// The type of the module requested.
    pub fn fingerprint(&self) -> Fingerprint {
        read_fingerprint(self.buffer.as_ref(), field::FINGERPRINT)
    }

    /// The fragment index bit 0 of the mask stands for.
    pub fn first(&self) -> u16 {
        read_u16(self.buffer.as_ref(), field::FIRST.start)
    }

    /// The mask length in bytes; 0 asks for every fragment from [`Self::first`] on.
    pub fn mask_len(&self) -> u16 {
        read_u16(self.buffer.as_ref(), field::MASK_LEN.start)
    }

    /// Whether the `COOKIE` flag is set.
    pub fn has_cookie(&self) -> bool {
        self.buffer.as_ref()[common::field::FLAGS] & FLAG_COOKIE != 0
    }

    /// The echoed cookie, if the `COOKIE` flag is set.
    pub fn cookie(&self) -> Option<Cookie> {
        let f = self.algorithm().digest_len();
        self.has_cookie()
            .then(|| Cookie::read(&self.buffer.as_ref()[field::cookie(f)]))
    }

    fn mask_range(&self) -> core::ops::Range<usize> {
        let f = self.algorithm().digest_len();
        field::mask(f, self.has_cookie(), self.mask_len().into())
    }

    /// The mask bytes.
    pub fn mask(&self) -> &[u8] {
        &self.buffer.as_ref()[self.mask_range()]
    }

    /// Whether fragment `index` is asked for.
    pub fn wants(&self, index: u16) -> bool {
        wants(self.first(), self.mask(), index)
    }
}

impl<'a, T: AsRef<[u8]> + ?Sized> CodeRequestPacket<&'a T> {
    fn mask_ref(&self) -> &'a [u8] {
        let range = self.mask_range();
        let buffer: &'a T = self.buffer;
        &buffer.as_ref()[range]
    }
}

/// The parsed form of a code request. The mask is borrowed from the datagram.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct CodeRequestRepr<'a> {
    /// The type of the module requested.
    pub fingerprint: Fingerprint,
    /// The fragment index bit 0 of the mask stands for.
    pub first: u16,
    /// Bit i (MSB first within each byte) set asks for fragment `first + i`. Empty asks for
    /// every fragment from `first` on (with `first == 0`, the whole module).
    pub mask: &'a [u8],
    /// The cookie the requested node handed this requester, if it has one.
    pub cookie: Option<Cookie>,
}

impl<'a> CodeRequestRepr<'a> {
    /// A request for the whole module.
    pub const fn all(fingerprint: Fingerprint) -> Self {
        CodeRequestRepr {
            fingerprint,
            first: 0,
            mask: &[],
            cookie: None,
        }
    }

    /// Parses a code request view, validating it first (so an unchecked view is fine).
    pub fn parse<T: AsRef<[u8]> + ?Sized>(
        packet: &CodeRequestPacket<&'a T>,
    ) -> Result<CodeRequestRepr<'a>, WireError> {
        packet.check()?;
        Ok(CodeRequestRepr {
            fingerprint: packet.fingerprint(),
            first: packet.first(),
            mask: packet.mask_ref(),
            cookie: packet.cookie(),
        })
    }

    /// Whether fragment `index` is asked for.
    pub fn wants(&self, index: u16) -> bool {
        wants(self.first, self.mask, index)
    }

    /// The fragment indexes below `count` that are asked for, in increasing order.
    pub fn wanted(&self, count: u16) -> impl Iterator<Item = u16> + '_ {
        (self.first..count).filter(move |&index| self.wants(index))
    }

    /// Length of the emitted frame.
    pub fn buffer_len(&self) -> usize {
        let f = self.fingerprint.algorithm().digest_len();
        field::mask(f, self.cookie.is_some(), self.mask.len()).end
    }

    /// Whether this request can be emitted: the mask fits one frame and names no index
    /// above 65535.
    pub fn validate(&self) -> Result<(), WireError> {
        let max = max_mask_len(self.fingerprint.algorithm(), self.cookie.is_some());
        if self.mask.len() > max {
            return Err(WireError::MaskTooLong {
                len: self.mask.len(),
                max,
            });
        }
        if mask_out_of_range(self.first, self.mask) {
            return Err(WireError::MaskOutOfRange);
        }
        Ok(())
    }

    /// Writes this request into `packet`.
    ///
    /// # Panics
    /// If the buffer is shorter than [`CodeRequestRepr::buffer_len`]. A request that fails
    /// [`CodeRequestRepr::validate`] makes a frame that does not parse.
    pub fn emit<T: AsRef<[u8]> + AsMut<[u8]> + ?Sized>(
        &self,
        packet: &mut CodeRequestPacket<&mut T>,
    ) {
        let f = self.fingerprint.algorithm().digest_len();
        let buf = packet.buffer.as_mut();
        Prefix {
            kind: FrameKind::CodeRequest,
            algorithm: self.fingerprint.algorithm(),
        }
        .emit(buf);
        buf[field::RESERVED].fill(0);
        write_u16(buf, field::FIRST.start, self.first);
        // Masks longer than u16::MAX fail `validate` long before this cast matters.
        write_u16(buf, field::MASK_LEN.start, self.mask.len() as u16);
        write_fingerprint(buf, field::FINGERPRINT, &self.fingerprint);
        if let Some(cookie) = self.cookie {
            buf[common::field::FLAGS] |= FLAG_COOKIE;
            buf[field::cookie(f)].copy_from_slice(&cookie.0);
        }
        let mask = field::mask(f, self.cookie.is_some(), self.mask.len());
        buf[mask].copy_from_slice(self.mask);
    }

    /// The emitted frame in a new vector.
    pub fn to_vec(&self) -> Result<Vec<u8>, WireError> {
        super::Frame::CodeRequest(*self).to_vec()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fp() -> Fingerprint {
        Fingerprint::sha256(b"module")
    }

    #[test]
    fn round_trips() {
        for algorithm in FingerprintAlgorithm::ALL {
            let fingerprint = Fingerprint::of(algorithm, b"module");
            for repr in [
                CodeRequestRepr::all(fingerprint),
                CodeRequestRepr {
                    fingerprint,
                    first: 3,
                    mask: &[0b1010_0000],
                    cookie: None,
                },
                CodeRequestRepr {
                    fingerprint,
                    first: 0,
                    mask: &[0xff; 16],
                    cookie: None,
                },
                CodeRequestRepr {
                    cookie: Some(Cookie([0x5a; COOKIE_LEN])),
                    ..CodeRequestRepr::all(fingerprint)
                },
                CodeRequestRepr {
                    fingerprint,
                    first: 2,
                    mask: &[0b0100_0000],
                    cookie: Some(Cookie([7; COOKIE_LEN])),
                },
            ] {
                let bytes = repr.to_vec().unwrap();
                assert_eq!(bytes.len(), repr.buffer_len());
                let packet = CodeRequestPacket::new_checked(&bytes[..]).unwrap();
                assert_eq!(CodeRequestRepr::parse(&packet), Ok(repr));
            }
        }
    }

    #[test]
    fn mask_bits_are_msb_first_from_first() {
        let repr = CodeRequestRepr {
            fingerprint: fp(),
            first: 3,
            mask: &[0b1010_0000, 0x01],
            cookie: None,
        };
        assert_eq!(repr.wanted(100).collect::<Vec<_>>(), [3, 5, 18]);
        assert_eq!(repr.wanted(18).collect::<Vec<_>>(), [3, 5]);
        assert!(!repr.wants(2));
        assert!(!repr.wants(19));
        let bytes = repr.to_vec().unwrap();
        let packet = CodeRequestPacket::new_checked(&bytes[..]).unwrap();
        assert!(packet.wants(18) && !packet.wants(4));
    }

    #[test]
    fn empty_mask_asks_for_everything_from_first() {
        let all = CodeRequestRepr::all(fp());
        assert_eq!(all.wanted(4).collect::<Vec<_>>(), [0, 1, 2, 3]);
        let tail = CodeRequestRepr {
            fingerprint: fp(),
            first: 2,
            mask: &[],
            cookie: None,
        };
        assert_eq!(tail.wanted(4).collect::<Vec<_>>(), [2, 3]);
    }

    #[test]
    fn rejects_reserved_and_lengths() {
        let good = CodeRequestRepr {
            fingerprint: fp(),
            first: 0,
            mask: &[0x80, 0],
            cookie: None,
        }
        .to_vec()
        .unwrap();
        assert_eq!(good.len(), 46);
        let mut bytes = good.clone();
        bytes[7] = 1;
        assert_eq!(
            CodeRequestPacket::new_checked(&bytes),
            Err(WireError::ReservedNotZero)
        );
        assert_eq!(
            CodeRequestPacket::new_checked(&good[..11]),
            Err(WireError::Truncated {
                needed: 44,
                available: 11
            })
        );
        assert_eq!(
            CodeRequestPacket::new_checked(&good[..45]),
            Err(WireError::Truncated {
                needed: 46,
                available: 45
            })
        );
        let mut bytes = good.clone();
        bytes.push(0);
        assert_eq!(
            CodeRequestPacket::new_checked(&bytes),
            Err(WireError::LengthMismatch {
                expected: 46,
                actual: 47
            })
        );
    }

    #[test]
    fn bounds_mask_and_frame_length() {
        let fingerprint = fp();
        let max = max_mask_len(FingerprintAlgorithm::Sha256, false);
        assert_eq!(max, 1188);
        assert_eq!(max_mask_len(FingerprintAlgorithm::Md5, false), 1204);
        let mask = vec![0u8; max];
        let bytes = CodeRequestRepr {
            fingerprint,
            first: 0,
            mask: &mask,
            cookie: None,
        }
        .to_vec()
        .unwrap();
        assert_eq!(bytes.len(), MAX_CODE_FRAME_LEN);
        assert!(CodeRequestPacket::new_checked(&bytes).is_ok());

        let mut longer = bytes.clone();
        longer.push(0);
        assert_eq!(
            CodeRequestPacket::new_checked(&longer),
            Err(WireError::FrameTooLong { len: 1233 })
        );
        let mut header_only = bytes[..44].to_vec();
        write_u16(&mut header_only, field::MASK_LEN.start, 1189);
        assert_eq!(
            CodeRequestPacket::new_checked(&header_only),
            Err(WireError::MaskTooLong {
                len: 1189,
                max: 1188
            })
        );
        let mask = vec![0u8; max + 1];
        assert_eq!(
            CodeRequestRepr {
                fingerprint,
                first: 0,
                mask: &mask,
                cookie: None,
            }
            .to_vec(),
            Err(WireError::MaskTooLong {
                len: 1189,
                max: 1188
            })
        );
    }

    #[test]
    fn a_cookie_takes_16_bytes_from_the_longest_mask() {
        let fingerprint = fp();
        let max = max_mask_len(FingerprintAlgorithm::Sha256, true);
        assert_eq!(max, 1172);
        let mask = vec![0u8; max];
        let repr = CodeRequestRepr {
            fingerprint,
            first: 0,
            mask: &mask,
            cookie: Some(Cookie([1; COOKIE_LEN])),
        };
        let bytes = repr.to_vec().unwrap();
        assert_eq!(bytes.len(), MAX_CODE_FRAME_LEN);
        assert_eq!(bytes[4], FLAG_COOKIE);
        let packet = CodeRequestPacket::new_checked(&bytes[..]).unwrap();
        assert_eq!(packet.cookie(), Some(Cookie([1; COOKIE_LEN])));
        let longer = vec![0u8; max + 1];
        assert_eq!(
            CodeRequestRepr {
                mask: &longer,
                ..repr
            }
            .validate(),
            Err(WireError::MaskTooLong {
                len: 1173,
                max: 1172
            })
        );
        // The flag without the 16 bytes after the fingerprint is truncated.
        let mut short = CodeRequestRepr::all(fingerprint).to_vec().unwrap();
        short[4] = FLAG_COOKIE;
        assert_eq!(
            CodeRequestPacket::new_checked(&short[..]),
            Err(WireError::Truncated {
                needed: 60,
                available: 44
            })
        );
        short[4] = 0x02;
        assert_eq!(
            CodeRequestPacket::new_checked(&short[..]),
            Err(WireError::UnknownFlags(2))
        );
    }

    #[test]
    fn out_of_range_check_agrees_with_the_bitwise_definition() {
        let slow = |first: u16, mask: &[u8]| {
            let in_range = usize::from(u16::MAX) + 1 - usize::from(first);
            (in_range..mask.len() * 8).any(|bit| mask_bit(mask, bit))
        };
        for first in [0, 1, 65520, 65527, 65528, 65529, 65534, 65535] {
            for mask in [
                &[][..],
                &[0x80],
                &[0x01],
                &[0, 0, 0x10],
                &[0xff; 3],
                &[0, 0, 0],
            ] {
                assert_eq!(
                    mask_out_of_range(first, mask),
                    slow(first, mask),
                    "{first} {mask:?}"
                );
            }
        }
    }

    #[test]
    fn rejects_mask_bits_past_the_last_index() {
        let fingerprint = fp();
        // 65534 and 65535 are nameable; the six bits after are padding and must be clear.
        let ok = CodeRequestRepr {
            fingerprint,
            first: 65534,
            mask: &[0b1100_0000],
            cookie: None,
        };
        assert_eq!(ok.wanted(u16::MAX).collect::<Vec<_>>(), [65534]);
        let bytes = ok.to_vec().unwrap();
        assert!(CodeRequestPacket::new_checked(&bytes).is_ok());
        let bad = CodeRequestRepr {
            fingerprint,
            first: 65534,
            mask: &[0b1110_0000],
            cookie: None,
        };
        assert_eq!(bad.validate(), Err(WireError::MaskOutOfRange));
        let mut bytes = bytes;
        *bytes.last_mut().unwrap() = 0b0010_0000;
        assert_eq!(
            CodeRequestPacket::new_checked(&bytes),
            Err(WireError::MaskOutOfRange)
        );
    }
}
