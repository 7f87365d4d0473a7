//! Code cookie frames (kind 5): "ask me again, with this cookie".
//!
//! Owns the layout (field offsets in [`field`]), the checked view [`CodeCookiePacket`], the
//! parsed form [`CodeCookieRepr`] and the [`Cookie`] value itself. A node answers a code
//! request that carries no valid cookie with this frame instead of code: only a requester that
//! receives datagrams at its address can echo the cookie, so a request with a spoofed source
//! never makes the node send more than this small frame (the return-routability check of
//! QUIC's Retry and DNS cookies). This module never computes or checks a cookie; the node does.
//!
//! ```text
//!  0                   1                   2                   3
//!  0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |     magic "AN" (0x414E)       |  version = 1  |   kind = 5    |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |   flags = 0   |   algorithm   |         reserved = 0          |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |        type fingerprint (F = 32 bytes SHA-256, 16 MD5)        |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |                       cookie (16 bytes)                       |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! ```

use core::fmt;

use super::WireError;
use super::common::{self, FrameKind, Prefix, check_prefix, read_fingerprint, write_fingerprint};
use crate::fingerprint::{Fingerprint, FingerprintAlgorithm};

/// Length of a cookie in bytes.
pub const COOKIE_LEN: usize = 16;

/// An opaque value a code source hands a requester, which echoes it in its code requests to
/// that source (flag `COOKIE` of a code request).
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct Cookie(pub [u8; COOKIE_LEN]);

impl fmt::Debug for Cookie {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Cookie({})", hex::encode(self.0))
    }
}

impl Cookie {
    /// Reads a cookie from exactly [`COOKIE_LEN`] bytes.
    pub(crate) fn read(bytes: &[u8]) -> Cookie {
        let mut cookie = [0u8; COOKIE_LEN];
        cookie.copy_from_slice(&bytes[..COOKIE_LEN]);
        Cookie(cookie)
    }
}

/// Byte offsets of a code cookie frame.
pub mod field {
    use core::ops::Range;

    use super::COOKIE_LEN;

    /// Reserved, zero.
    pub const RESERVED: Range<usize> = 6..8;
    /// Start of the type fingerprint.
    pub const FINGERPRINT: usize = 8;

    /// The type fingerprint, for a fingerprint of `f` bytes.
    pub const fn fingerprint(f: usize) -> Range<usize> {
        FINGERPRINT..FINGERPRINT + f
    }

    /// The cookie; it ends the frame.
    pub const fn cookie(f: usize) -> Range<usize> {
        FINGERPRINT + f..FINGERPRINT + f + COOKIE_LEN
    }
}

/// A code cookie frame over a byte buffer.
///
/// Built with [`CodeCookiePacket::new_checked`], every accessor is infallible and panic-free.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CodeCookiePacket<T: AsRef<[u8]>> {
    buffer: T,
}

impl<T: AsRef<[u8]>> CodeCookiePacket<T> {
    /// Wraps `buffer` without validating it.
    pub const fn new_unchecked(buffer: T) -> Self {
        CodeCookiePacket { buffer }
    }

    /// Wraps `buffer` after validating every field ([`CodeCookiePacket::check`]).
    pub fn new_checked(buffer: T) -> Result<Self, WireError> {
        let packet = Self::new_unchecked(buffer);
        packet.check()?;
        Ok(packet)
    }

    /// Validates the whole frame: prefix, size bound, exact length, reserved bytes.
    pub fn check(&self) -> Result<(), WireError> {
        let buf = self.buffer.as_ref();
        let algorithm = check_prefix(buf, FrameKind::CodeCookie)?;
        let end = field::cookie(algorithm.digest_len()).end;
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

    /// The type of the module the request asked for.
    pub fn fingerprint(&self) -> Fingerprint {
        read_fingerprint(self.buffer.as_ref(), field::FINGERPRINT)
    }

    /// The cookie to echo.
    pub fn cookie(&self) -> Cookie {
        let f = self.algorithm().digest_len();
        Cookie::read(&self.buffer.as_ref()[field::cookie(f)])
    }
}

/// The parsed form of a code cookie frame.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct CodeCookieRepr {
    /// The type of the module the answered request asked for.
    pub fingerprint: Fingerprint,
    /// The cookie the requester echoes in its next requests to this sender.
    pub cookie: Cookie,
}

impl CodeCookieRepr {
    /// Parses a code cookie view, validating it first (so an unchecked view is fine).
    pub fn parse<T: AsRef<[u8]> + ?Sized>(
        packet: &CodeCookiePacket<&T>,
    ) -> Result<CodeCookieRepr, WireError> {
        packet.check()?;
        Ok(CodeCookieRepr {
            fingerprint: packet.fingerprint(),
            cookie: packet.cookie(),
        })
    }

    /// Length of the emitted frame.
    pub fn buffer_len(&self) -> usize {
        field::cookie(self.fingerprint.algorithm().digest_len()).end
    }

    /// Writes this frame into `packet`.
    ///
    /// # Panics
    /// If the buffer is shorter than [`CodeCookieRepr::buffer_len`].
    pub fn emit<T: AsRef<[u8]> + AsMut<[u8]> + ?Sized>(
        &self,
        packet: &mut CodeCookiePacket<&mut T>,
    ) {
        let f = self.fingerprint.algorithm().digest_len();
        let buf = packet.buffer.as_mut();
        Prefix {
            kind: FrameKind::CodeCookie,
            algorithm: self.fingerprint.algorithm(),
        }
        .emit(buf);
        buf[field::RESERVED].fill(0);
        write_fingerprint(buf, field::FINGERPRINT, &self.fingerprint);
        buf[field::cookie(f)].copy_from_slice(&self.cookie.0);
    }

    /// The emitted frame in a new vector.
    pub fn to_vec(&self) -> Vec<u8> {
        let mut buf = vec![0u8; self.buffer_len()];
        self.emit(&mut CodeCookiePacket::new_unchecked(&mut buf[..]));
        buf
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_both_algorithms() {
        for algorithm in FingerprintAlgorithm::ALL {
            let repr = CodeCookieRepr {
                fingerprint: Fingerprint::of(algorithm, b"module"),
                cookie: Cookie([0xa5; COOKIE_LEN]),
            };
            let bytes = repr.to_vec();
            assert_eq!(bytes.len(), 8 + algorithm.digest_len() + COOKIE_LEN);
            let packet = CodeCookiePacket::new_checked(&bytes[..]).unwrap();
            assert_eq!(CodeCookieRepr::parse(&packet), Ok(repr));
        }
    }

    #[test]
    fn rejects_bad_lengths_flags_and_reserved() {
        let good = CodeCookieRepr {
            fingerprint: Fingerprint::sha256(b"module"),
            cookie: Cookie([1; COOKIE_LEN]),
        }
        .to_vec();
        assert_eq!(good.len(), 56);
        assert_eq!(
            CodeCookiePacket::new_checked(&good[..55]),
            Err(WireError::Truncated {
                needed: 56,
                available: 55
            })
        );
        let mut long = good.clone();
        long.push(0);
        assert_eq!(
            CodeCookiePacket::new_checked(&long),
            Err(WireError::LengthMismatch {
                expected: 56,
                actual: 57
            })
        );
        let mut reserved = good.clone();
        reserved[7] = 1;
        assert_eq!(
            CodeCookiePacket::new_checked(&reserved),
            Err(WireError::ReservedNotZero)
        );
        let mut flagged = good;
        flagged[4] = 1;
        assert_eq!(
            CodeCookiePacket::new_checked(&flagged),
            Err(WireError::UnknownFlags(1))
        );
    }
}
