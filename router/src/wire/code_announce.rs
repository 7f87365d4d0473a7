//! Code announce frames (kind 6): "I have just loaded the module with this type, and a capsule
//! of it is on its way to you".
//!
//! Owns the parsed form [`CodeAnnounceRepr`] and its checked view [`CodeAnnouncePacket`]. The
//! layout is the code missing frame's (prefix, two reserved bytes, the fingerprint), only the
//! kind differs, so the view and the field offsets are that module's. A node that has verified a
//! module it loaded sends this to the neighbour its held capsule goes to next, so the neighbour
//! asks for the code (through the usual request and cookie) while this node still compiles:
//! the hops' compiles overlap. This module never decides whom to announce to.
//!
//! ```text
//!  0                   1                   2                   3
//!  0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |     magic "AN" (0x414E)       |  version = 1  |   kind = 6    |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |   flags = 0   |   algorithm   |         reserved = 0          |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |        type fingerprint (F = 32 bytes SHA-256, 16 MD5)        |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! ```

use super::WireError;
use super::code_missing::{CodeMissingPacket, CodeMissingRepr};
use super::common::FrameKind;
use crate::fingerprint::Fingerprint;

/// A code announce frame over a byte buffer: the code missing view, checked as kind 6.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CodeAnnouncePacket<T: AsRef<[u8]>>(CodeMissingPacket<T>);

impl<T: AsRef<[u8]>> CodeAnnouncePacket<T> {
    /// Wraps `buffer` without validating it.
    pub const fn new_unchecked(buffer: T) -> Self {
        CodeAnnouncePacket(CodeMissingPacket::new_unchecked(buffer))
    }

    /// Wraps `buffer` after validating every field.
    pub fn new_checked(buffer: T) -> Result<Self, WireError> {
        let packet = Self::new_unchecked(buffer);
        packet.check()?;
        Ok(packet)
    }

    /// Validates the whole frame: prefix (kind 6), size bound, exact length, reserved bytes.
    pub fn check(&self) -> Result<(), WireError> {
        self.0.check_kind(FrameKind::CodeAnnounce)
    }

    /// The type of the module announced.
    pub fn fingerprint(&self) -> Fingerprint {
        self.0.fingerprint()
    }
}

/// The parsed form of a code announce frame.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct CodeAnnounceRepr {
    /// The type of the module the sender has just loaded.
    pub fingerprint: Fingerprint,
}

impl CodeAnnounceRepr {
    /// Parses a code announce view, validating it first.
    pub fn parse<T: AsRef<[u8]> + ?Sized>(
        packet: &CodeAnnouncePacket<&T>,
    ) -> Result<CodeAnnounceRepr, WireError> {
        packet.check()?;
        Ok(CodeAnnounceRepr {
            fingerprint: packet.fingerprint(),
        })
    }

    /// Length of the emitted frame.
    pub fn buffer_len(&self) -> usize {
        self.as_missing().buffer_len()
    }

    fn as_missing(&self) -> CodeMissingRepr {
        CodeMissingRepr {
            fingerprint: self.fingerprint,
        }
    }

    /// Writes this frame into `packet`.
    ///
    /// # Panics
    /// If the buffer is shorter than [`CodeAnnounceRepr::buffer_len`].
    pub fn emit<T: AsRef<[u8]> + AsMut<[u8]> + ?Sized>(
        &self,
        packet: &mut CodeAnnouncePacket<&mut T>,
    ) {
        self.as_missing()
            .emit_kind(&mut packet.0, FrameKind::CodeAnnounce);
    }

    /// The emitted frame in a new vector.
    pub fn to_vec(&self) -> Vec<u8> {
        let mut buf = vec![0u8; self.buffer_len()];
        self.emit(&mut CodeAnnouncePacket::new_unchecked(&mut buf[..]));
        buf
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fingerprint::FingerprintAlgorithm;

    #[test]
    fn round_trips_and_is_not_a_code_missing_frame() {
        for algorithm in FingerprintAlgorithm::ALL {
            let repr = CodeAnnounceRepr {
                fingerprint: Fingerprint::of(algorithm, b"module"),
            };
            let bytes = repr.to_vec();
            assert_eq!(bytes.len(), 8 + algorithm.digest_len());
            assert_eq!(bytes[3], 6);
            let packet = CodeAnnouncePacket::new_checked(&bytes[..]).unwrap();
            assert_eq!(CodeAnnounceRepr::parse(&packet), Ok(repr));
            assert!(CodeMissingPacket::new_checked(&bytes[..]).is_err());
        }
    }
}
