//! The common prefix every frame starts with, and the constants all frame kinds share.
//!
//! Owns the 6-byte prefix (magic, version, kind, flags, fingerprint algorithm), its field
//! offsets, [`FrameKind`], the size limits of version 1, and the big-endian and address helpers
//! the per-kind modules use. It must never know the layout past byte 6: that belongs to the
//! per-kind modules.

use core::fmt;
use core::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use super::WireError;
use crate::fingerprint::{Fingerprint, FingerprintAlgorithm};

/// Byte offsets of the common prefix.
pub mod field {
    use core::ops::Range;

    /// Magic bytes `0x41 0x4E` ("AN").
    pub const MAGIC: Range<usize> = 0..2;
    /// Wire version.
    pub const VERSION: usize = 2;
    /// Frame kind.
    pub const KIND: usize = 3;
    /// Flags; none are defined in version 1.
    pub const FLAGS: usize = 4;
    /// Fingerprint algorithm code.
    pub const ALGORITHM: usize = 5;
    /// First byte after the prefix.
    pub const END: usize = 6;
}

/// The magic bytes every frame starts with: "AN" (active node).
pub const MAGIC: [u8; 2] = *b"AN";
/// The wire version this module speaks.
pub const VERSION: u8 = 1;
/// Length of the common prefix.
pub const PREFIX_LEN: usize = field::END;
/// Longest code-transfer frame (kinds 2 to 4): the 1280-byte IPv6 minimum MTU minus the
/// 40-byte IPv6 and 8-byte UDP headers, so code crosses any IPv6 link without IP fragmentation.
pub const MAX_CODE_FRAME_LEN: usize = 1232;
/// Data bytes in every code fragment but the last, which carries the rest of the module.
pub const FRAGMENT_DATA_LEN: usize = 1024;
/// Longest module that can be transferred: 65535 fragments of [`FRAGMENT_DATA_LEN`] bytes.
pub const MAX_MODULE_LEN: u32 = u16::MAX as u32 * FRAGMENT_DATA_LEN as u32;

/// The kind of a frame, from byte 3 of the prefix.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
#[repr(u8)]
pub enum FrameKind {
    /// A capsule: a packet carrying its type, addresses, budget and payload.
    Capsule = 1,
    /// A request for some or all fragments of a module, sent to the previous active node.
    CodeRequest = 2,
    /// One fragment of a module, sent in answer to a request.
    CodeFragment = 3,
    /// The answer of a node that does not hold the requested module.
    CodeMissing = 4,
    /// The answer to a code request without a valid cookie: ask again with this one.
    CodeCookie = 5,
    /// A neighbour has just loaded a module whose capsule comes to this node next.
    CodeAnnounce = 6,
    /// An active neighbour is alive, and reaches these destinations over the overlay.
    Hello = 7,
}

impl FrameKind {
    /// Every kind, in wire-code order.
    pub const ALL: [FrameKind; 7] = [
        FrameKind::Capsule,
        FrameKind::CodeRequest,
        FrameKind::CodeFragment,
        FrameKind::CodeMissing,
        FrameKind::CodeCookie,
        FrameKind::CodeAnnounce,
        FrameKind::Hello,
    ];

    /// The kind for a wire code, if version 1 defines it.
    pub const fn from_code(code: u8) -> Option<Self> {
        match code {
            1 => Some(FrameKind::Capsule),
            2 => Some(FrameKind::CodeRequest),
            3 => Some(FrameKind::CodeFragment),
            4 => Some(FrameKind::CodeMissing),
            5 => Some(FrameKind::CodeCookie),
            6 => Some(FrameKind::CodeAnnounce),
            7 => Some(FrameKind::Hello),
            _ => None,
        }
    }

    /// The wire code.
    pub const fn code(self) -> u8 {
        self as u8
    }

    /// The flag bits this kind defines; any other set bit is `unknown_flags`.
    pub const fn defined_flags(self) -> u8 {
        match self {
            FrameKind::CodeRequest => super::code_request::FLAG_COOKIE,
            FrameKind::Hello => super::hello::FLAG_V6,
            _ => 0,
        }
    }

    /// Whether frames of this kind transfer code (and so are bounded by
    /// [`MAX_CODE_FRAME_LEN`]).
    pub const fn is_code_transfer(self) -> bool {
        !matches!(self, FrameKind::Capsule)
    }

    /// A short, stable snake_case name for counters and logs.
    pub const fn name(self) -> &'static str {
        match self {
            FrameKind::Capsule => "capsule",
            FrameKind::CodeRequest => "code_request",
            FrameKind::CodeFragment => "code_fragment",
            FrameKind::CodeMissing => "code_missing",
            FrameKind::CodeCookie => "code_cookie",
            FrameKind::CodeAnnounce => "code_announce",
            FrameKind::Hello => "hello",
        }
    }
}

impl fmt::Display for FrameKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            FrameKind::Capsule => "capsule",
            FrameKind::CodeRequest => "code request",
            FrameKind::CodeFragment => "code fragment",
            FrameKind::CodeMissing => "code missing",
            FrameKind::CodeCookie => "code cookie",
            FrameKind::CodeAnnounce => "code announce",
            FrameKind::Hello => "hello",
        })
    }
}

/// The validated common prefix of a frame: what a driver needs to dispatch it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Prefix {
    /// The frame kind.
    pub kind: FrameKind,
    /// The fingerprint algorithm, which fixes the fingerprint length in the frame.
    pub algorithm: FingerprintAlgorithm,
}

impl Prefix {
    /// Validates the first [`PREFIX_LEN`] bytes of `buf`, in field order: length, magic,
    /// version, kind, flags, algorithm. Says nothing about the rest of the frame.
    pub fn parse(buf: &[u8]) -> Result<Prefix, WireError> {
        if buf.len() < PREFIX_LEN {
            return Err(WireError::Truncated {
                needed: PREFIX_LEN,
                available: buf.len(),
            });
        }
        if buf[field::MAGIC] != MAGIC {
            return Err(WireError::BadMagic);
        }
        if buf[field::VERSION] != VERSION {
            return Err(WireError::UnsupportedVersion(buf[field::VERSION]));
        }
        let kind = FrameKind::from_code(buf[field::KIND])
            .ok_or(WireError::UnknownKind(buf[field::KIND]))?;
        if buf[field::FLAGS] & !kind.defined_flags() != 0 {
            return Err(WireError::UnknownFlags(buf[field::FLAGS]));
        }
        let algorithm = FingerprintAlgorithm::from_code(buf[field::ALGORITHM])
            .ok_or(WireError::UnknownAlgorithm(buf[field::ALGORITHM]))?;
        Ok(Prefix { kind, algorithm })
    }

    /// Writes the prefix into the first [`PREFIX_LEN`] bytes of `buf`.
    ///
    /// # Panics
    /// If `buf` is shorter than [`PREFIX_LEN`].
    pub fn emit(&self, buf: &mut [u8]) {
        buf[field::MAGIC].copy_from_slice(&MAGIC);
        buf[field::VERSION] = VERSION;
        buf[field::KIND] = self.kind.code();
        buf[field::FLAGS] = 0;
        buf[field::ALGORITHM] = self.algorithm.code();
    }
}

/// Validates the prefix of a frame that a decoder for `expected` was given, including the
/// [`MAX_CODE_FRAME_LEN`] bound for code-transfer kinds (checked first of the kind-specific
/// rules, so an oversized frame is always reported as such).
pub(crate) fn check_prefix(
    buf: &[u8],
    expected: FrameKind,
) -> Result<FingerprintAlgorithm, WireError> {
    let prefix = Prefix::parse(buf)?;
    if prefix.kind != expected {
        return Err(WireError::UnexpectedKind {
            expected,
            found: prefix.kind,
        });
    }
    if expected.is_code_transfer() && buf.len() > MAX_CODE_FRAME_LEN {
        return Err(WireError::FrameTooLong { len: buf.len() });
    }
    Ok(prefix.algorithm)
}

/// The algorithm of a prefix that has been validated.
///
/// # Panics
/// If the algorithm byte is unknown, which only a view built with `new_unchecked` over
/// invalid bytes can reach.
pub(crate) fn algorithm(buf: &[u8]) -> FingerprintAlgorithm {
    match FingerprintAlgorithm::from_code(buf[field::ALGORITHM]) {
        Some(algorithm) => algorithm,
        None => panic!("unchecked frame has an unknown fingerprint algorithm"),
    }
}

/// Reads the fingerprint stored at `start` under the prefix's algorithm.
pub(crate) fn read_fingerprint(buf: &[u8], start: usize) -> Fingerprint {
    let algorithm = algorithm(buf);
    let digest = &buf[start..start + algorithm.digest_len()];
    match Fingerprint::from_digest(algorithm, digest) {
        Ok(fingerprint) => fingerprint,
        Err(_) => unreachable!("digest slice has the algorithm's length"),
    }
}

/// Writes `fingerprint`'s digest at `start`.
pub(crate) fn write_fingerprint(buf: &mut [u8], start: usize, fingerprint: &Fingerprint) {
    let digest = fingerprint.digest();
    buf[start..start + digest.len()].copy_from_slice(digest);
}

/// Reads a big-endian `u16` at `at`.
pub(crate) fn read_u16(buf: &[u8], at: usize) -> u16 {
    u16::from_be_bytes([buf[at], buf[at + 1]])
}

/// Writes a big-endian `u16` at `at`.
pub(crate) fn write_u16(buf: &mut [u8], at: usize, value: u16) {
    buf[at..at + 2].copy_from_slice(&value.to_be_bytes());
}

/// Reads a big-endian `u32` at `at`.
pub(crate) fn read_u32(buf: &[u8], at: usize) -> u32 {
    u32::from_be_bytes([buf[at], buf[at + 1], buf[at + 2], buf[at + 3]])
}

/// Writes a big-endian `u32` at `at`.
pub(crate) fn write_u32(buf: &mut [u8], at: usize, value: u32) {
    buf[at..at + 4].copy_from_slice(&value.to_be_bytes());
}

/// Length of an address of the given family on the wire.
pub(crate) const fn addr_len(is_v6: bool) -> usize {
    if is_v6 { 16 } else { 4 }
}

/// Reads an address of the given family at `at`.
pub(crate) fn read_addr(buf: &[u8], at: usize, is_v6: bool) -> IpAddr {
    if is_v6 {
        let mut octets = [0u8; 16];
        octets.copy_from_slice(&buf[at..at + 16]);
        IpAddr::V6(Ipv6Addr::from(octets))
    } else {
        let mut octets = [0u8; 4];
        octets.copy_from_slice(&buf[at..at + 4]);
        IpAddr::V4(Ipv4Addr::from(octets))
    }
}

/// Writes `addr` at `at`; returns its length.
pub(crate) fn write_addr(buf: &mut [u8], at: usize, addr: IpAddr) -> usize {
    match addr {
        IpAddr::V4(v4) => {
            buf[at..at + 4].copy_from_slice(&v4.octets());
            4
        }
        IpAddr::V6(v6) => {
            buf[at..at + 16].copy_from_slice(&v6.octets());
            16
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prefix_round_trip() {
        for kind in FrameKind::ALL {
            for algorithm in FingerprintAlgorithm::ALL {
                let mut buf = [0xffu8; PREFIX_LEN];
                let prefix = Prefix { kind, algorithm };
                prefix.emit(&mut buf);
                assert_eq!(Prefix::parse(&buf), Ok(prefix));
                assert_eq!(&buf[..2], b"AN");
            }
        }
    }

    #[test]
    fn prefix_rejects_in_field_order() {
        let good = [0x41, 0x4e, 1, 1, 0, 1];
        assert!(Prefix::parse(&good).is_ok());
        assert_eq!(
            Prefix::parse(&good[..5]),
            Err(WireError::Truncated {
                needed: 6,
                available: 5
            })
        );
        assert_eq!(
            Prefix::parse(&[0x41, 0x4f, 9, 9, 9, 9]),
            Err(WireError::BadMagic)
        );
        assert_eq!(
            Prefix::parse(&[0x41, 0x4e, 2, 9, 9, 9]),
            Err(WireError::UnsupportedVersion(2))
        );
        assert_eq!(
            Prefix::parse(&[0x41, 0x4e, 1, 0, 9, 9]),
            Err(WireError::UnknownKind(0))
        );
        assert_eq!(
            Prefix::parse(&[0x41, 0x4e, 1, 8, 0, 1]),
            Err(WireError::UnknownKind(8))
        );
        // Only code requests (bit 0, a cookie follows) and hellos (bit 0, IPv6 routes) define
        // a flag.
        assert_eq!(
            Prefix::parse(&[0x41, 0x4e, 1, 2, 0x01, 1]).map(|p| p.kind),
            Ok(FrameKind::CodeRequest)
        );
        assert_eq!(
            Prefix::parse(&[0x41, 0x4e, 1, 3, 0x01, 1]),
            Err(WireError::UnknownFlags(0x01))
        );
        assert_eq!(
            Prefix::parse(&[0x41, 0x4e, 1, 4, 0x10, 9]),
            Err(WireError::UnknownFlags(0x10))
        );
        assert_eq!(
            Prefix::parse(&[0x41, 0x4e, 1, 4, 0, 0]),
            Err(WireError::UnknownAlgorithm(0))
        );
        assert_eq!(
            Prefix::parse(&[0x41, 0x4e, 1, 4, 0, 3]),
            Err(WireError::UnknownAlgorithm(3))
        );
    }

    #[test]
    fn kinds_round_trip() {
        for kind in FrameKind::ALL {
            assert_eq!(FrameKind::from_code(kind.code()), Some(kind));
        }
        assert!(!FrameKind::Capsule.is_code_transfer());
        assert!(FrameKind::CodeMissing.is_code_transfer());
    }

    #[test]
    fn limits_are_consistent() {
        assert_eq!(MAX_CODE_FRAME_LEN, 1280 - 40 - 8);
        assert_eq!(MAX_MODULE_LEN, 67_107_840);
    }
}
