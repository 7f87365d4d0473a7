//! Code missing frames (kind 4): "I do not hold the module with this type".
//!
//! Owns the layout (field offsets in [`field`]), the checked view [`CodeMissingPacket`] and the
//! parsed form [`CodeMissingRepr`]. A node answers a code request with this frame when the
//! module is not (or no longer) in its soft-store, so the requester can fall back to another
//! source at once instead of waiting for a timeout. This module never decides the fallback.
//!
//! ```text
//!  0                   1                   2                   3
//!  0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |     magic "AN" (0x414E)       |  version = 1  |   kind = 4    |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |   flags = 0   |   algorithm   |         reserved = 0          |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |        type fingerprint (F = 32 bytes SHA-256, 16 MD5)        |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! ```

use super::WireError;
use super::common::{self, FrameKind, Prefix, check_prefix, read_fingerprint, write_fingerprint};
use crate::fingerprint::{Fingerprint, FingerprintAlgorithm};

/// Byte offsets of a code missing frame.
pub mod field {
    use core::ops::Range;

    /// Reserved, zero.
    pub const RESERVED: Range<usize> = 6..8;
    /// Start of the type fingerprint.
    pub const FINGERPRINT: usize = 8;

    /// The type fingerprint, for a fingerprint of `f` bytes; it ends the frame.
    pub const fn fingerprint(f: usize) -> Range<usize> {
        FINGERPRINT..FINGERPRINT + f
    }
}

/// A code missing frame over a byte buffer.
///
/// Built with [`CodeMissingPacket::new_checked`], every accessor is infallible and panic-free.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CodeMissingPacket<T: AsRef<[u8]>> {
    buffer: T,
}

impl<T: AsRef<[u8]>> CodeMissingPacket<T> {
    /// Wraps `buffer` without validating it.
    pub const fn new_unchecked(buffer: T) -> Self {
        CodeMissingPacket { buffer }
    }

    /// Wraps `buffer` after validating every field ([`CodeMissingPacket::check`]).
    pub fn new_checked(buffer: T) -> Result<Self, WireError> {
        let packet = Self::new_unchecked(buffer);
        packet.check()?;
        Ok(packet)
    }

    /// Validates the whole frame: prefix, size bound, exact length, reserved bytes.
    pub fn check(&self) -> Result<(), WireError> {
        self.check_kind(FrameKind::CodeMissing)
    }

    /// [`Self::check`] for another kind with the same layout (the code announce frame).
    pub(crate) fn check_kind(&self, kind: FrameKind) -> Result<(), WireError> {
        let buf = self.buffer.as_ref();
        let algorithm = check_prefix(buf, kind)?;
        let end = field::fingerprint(algorithm.digest_len()).end;
        if buf.len() < end {
            return Err(WireError::Truncated {
                needed: end,
                available: buf.len(),
            });
        }
        if buf[field::RESERVED] != [0, 0] {
            return Err(WireError::ReservedNotZero);
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

    /// The type of the module the sender does not hold.
    pub fn fingerprint(&self) -> Fingerprint {
        read_fingerprint(self.buffer.as_ref(), field::FINGERPRINT)
    }
}

/// The parsed form of a code missing frame.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct CodeMissingRepr {
    /// The type of the module the sender does not hold.
    pub fingerprint: Fingerprint,
}

impl CodeMissingRepr {
    /// Parses a code missing view, validating it first (so an unchecked view is fine).
    pub fn parse<T: AsRef<[u8]> + ?Sized>(
        packet: &CodeMissingPacket<&T>,
    ) -> Result<CodeMissingRepr, WireError> {
        packet.check()?;
        Ok(CodeMissingRepr {
            fingerprint: packet.fingerprint(),
        })
    }

    /// Length of the emitted frame.
    pub fn buffer_len(&self) -> usize {
        field::fingerprint(self.fingerprint.algorithm().digest_len()).end
    }

    /// Writes this frame into `packet`.
    ///
    /// # Panics
    /// If the buffer is shorter than [`CodeMissingRepr::buffer_len`].
    pub fn emit<T: AsRef<[u8]> + AsMut<[u8]> + ?Sized>(
        &self,
        packet: &mut CodeMissingPacket<&mut T>,
    ) {
        self.emit_kind(packet, FrameKind::CodeMissing);
    }

    /// [`Self::emit`] as another kind with the same layout (the code announce frame).
    pub(crate) fn emit_kind<T: AsRef<[u8]> + AsMut<[u8]> + ?Sized>(
        &self,
        packet: &mut CodeMissingPacket<&mut T>,
        kind: FrameKind,
    ) {
        let buf = packet.buffer.as_mut();
        Prefix {
            kind,
            algorithm: self.fingerprint.algorithm(),
        }
        .emit(buf);
        buf[field::RESERVED].fill(0);
        write_fingerprint(buf, field::FINGERPRINT, &self.fingerprint);
    }

    /// The emitted frame in a new vector.
    pub fn to_vec(&self) -> Vec<u8> {
        let mut buf = vec![0u8; self.buffer_len()];
        self.emit(&mut CodeMissingPacket::new_unchecked(&mut buf[..]));
        buf
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_both_algorithms() {
        for algorithm in FingerprintAlgorithm::ALL {
            let repr = CodeMissingRepr {
                fingerprint: Fingerprint::of(algorithm, b"gone"),
            };
            let bytes = repr.to_vec();
            assert_eq!(bytes.len(), 8 + algorithm.digest_len());
            let packet = CodeMissingPacket::new_checked(&bytes[..]).unwrap();
            assert_eq!(CodeMissingRepr::parse(&packet), Ok(repr));
        }
    }

    #[test]
    fn rejects_bad_lengths_and_reserved() {
        let good = CodeMissingRepr {
            fingerprint: Fingerprint::md5(b"gone"),
        }
        .to_vec();
        assert_eq!(good.len(), 24);
        assert_eq!(
            CodeMissingPacket::new_checked(&good[..23]),
            Err(WireError::Truncated {
                needed: 24,
                available: 23
            })
        );
        let mut long = good.clone();
        long.push(0);
        assert_eq!(
            CodeMissingPacket::new_checked(&long),
            Err(WireError::LengthMismatch {
                expected: 24,
                actual: 25
            })
        );
        let mut reserved = good.clone();
        reserved[6] = 1;
        assert_eq!(
            CodeMissingPacket::new_checked(&reserved),
            Err(WireError::ReservedNotZero)
        );
        let mut huge = good;
        huge.resize(1300, 0);
        assert_eq!(
            CodeMissingPacket::new_checked(&huge),
            Err(WireError::FrameTooLong { len: 1300 })
        );
    }
}
