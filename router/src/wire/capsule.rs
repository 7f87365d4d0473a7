//! Capsule frames (kind 1): the packets of the active network.
//!
//! Owns the capsule layout (field offsets in [`field`]), the checked view [`CapsulePacket`] and
//! the parsed form [`CapsuleRepr`]. The payload is opaque here: only the capsule's code reads it.
//! This module must never interpret the budget or the addresses beyond reading and writing them;
//! forwarding decisions belong to the node core.
//!
//! ```text
//!  0                   1                   2                   3
//!  0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |     magic "AN" (0x414E)       |  version = 1  |   kind = 1    |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |   flags = 0   |   algorithm   |   families    | reserved = 0  |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |        resource budget        |        payload length L       |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |        type fingerprint (F = 32 bytes SHA-256, 16 MD5)        |
//! |  source (4|16), destination (4|16), previous node (4|16)      |
//! |                     payload (L bytes)                         |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! ```

use core::net::IpAddr;

use super::WireError;
use super::common::{
    self, FrameKind, Prefix, addr_len, check_prefix, read_addr, read_fingerprint, read_u16,
    write_addr, write_fingerprint, write_u16,
};
use crate::fingerprint::{Fingerprint, FingerprintAlgorithm};

/// Byte offsets of a capsule. Fields after the fingerprint move with the fingerprint length
/// `f` and the address families, so they are functions.
pub mod field {
    use core::ops::Range;

    /// Address families: [`SOURCE_V6`], [`DESTINATION_V6`], [`PREVIOUS_V6`].
    pub const FAMILIES: usize = 6;
    /// Reserved, zero.
    pub const RESERVED: usize = 7;
    /// Resource budget.
    pub const BUDGET: Range<usize> = 8..10;
    /// Payload length.
    pub const PAYLOAD_LEN: Range<usize> = 10..12;
    /// Start of the type fingerprint; everything before it has a fixed position.
    pub const FINGERPRINT: usize = 12;

    /// Families bit: the source address is IPv6.
    pub const SOURCE_V6: u8 = 0b001;
    /// Families bit: the destination address is IPv6.
    pub const DESTINATION_V6: u8 = 0b010;
    /// Families bit: the previous active node's address is IPv6.
    pub const PREVIOUS_V6: u8 = 0b100;
    /// Every families bit version 1 defines.
    pub const FAMILIES_DEFINED: u8 = SOURCE_V6 | DESTINATION_V6 | PREVIOUS_V6;

    const fn addr_len(families: u8, bit: u8) -> usize {
        if families & bit != 0 { 16 } else { 4 }
    }

    /// The type fingerprint, for a fingerprint of `f` bytes.
    pub const fn fingerprint(f: usize) -> Range<usize> {
        FINGERPRINT..FINGERPRINT + f
    }

    /// The source address.
    pub const fn source(f: usize, families: u8) -> Range<usize> {
        let start = FINGERPRINT + f;
        start..start + addr_len(families, SOURCE_V6)
    }

    /// The destination address.
    pub const fn destination(f: usize, families: u8) -> Range<usize> {
        let start = source(f, families).end;
        start..start + addr_len(families, DESTINATION_V6)
    }

    /// The previous active node's address.
    pub const fn previous(f: usize, families: u8) -> Range<usize> {
        let start = destination(f, families).end;
        start..start + addr_len(families, PREVIOUS_V6)
    }

    /// The payload, of `len` bytes.
    pub const fn payload(f: usize, families: u8, len: usize) -> Range<usize> {
        let start = previous(f, families).end;
        start..start + len
    }
}

/// Shortest capsule header: SHA-256 fingerprint and three IPv4 addresses.
pub const MIN_HEADER_LEN: usize = field::FINGERPRINT + 32 + 3 * 4;

/// A capsule frame over a byte buffer.
///
/// Built with [`CapsulePacket::new_checked`], every accessor is infallible and panic-free.
/// Built with [`CapsulePacket::new_unchecked`], accessors may panic on malformed bytes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CapsulePacket<T: AsRef<[u8]>> {
    buffer: T,
}

impl<T: AsRef<[u8]>> CapsulePacket<T> {
    /// Wraps `buffer` without validating it.
    pub const fn new_unchecked(buffer: T) -> Self {
        CapsulePacket { buffer }
    }

    /// Wraps `buffer` after validating every field ([`CapsulePacket::check`]).
    pub fn new_checked(buffer: T) -> Result<Self, WireError> {
        let packet = Self::new_unchecked(buffer);
        packet.check()?;
        Ok(packet)
    }

    /// Validates the whole frame: prefix, families, reserved byte, and that the datagram is
    /// exactly as long as the header and payload length say.
    pub fn check(&self) -> Result<(), WireError> {
        let buf = self.buffer.as_ref();
        let algorithm = check_prefix(buf, FrameKind::Capsule)?;
        let f = algorithm.digest_len();
        if buf.len() < field::FINGERPRINT {
            // Report the shortest header this algorithm allows (all-IPv4 addresses).
            let needed = field::FINGERPRINT + f + 3 * 4;
            return Err(WireError::Truncated {
                needed,
                available: buf.len(),
            });
        }
        let families = buf[field::FAMILIES];
        if families & !field::FAMILIES_DEFINED != 0 {
            return Err(WireError::BadAddressFamily(families));
        }
        if buf[field::RESERVED] != 0 {
            return Err(WireError::ReservedNotZero);
        }
        let payload = field::payload(f, families, read_u16(buf, field::PAYLOAD_LEN.start).into());
        if buf.len() < payload.end {
            return Err(WireError::Truncated {
                needed: payload.end,
                available: buf.len(),
            });
        }
        if buf.len() > payload.end {
            return Err(WireError::LengthMismatch {
                expected: payload.end,
                actual: buf.len(),
            });
        }
        Ok(())
    }

    /// Consumes the view and returns the buffer.
    pub fn into_inner(self) -> T {
        self.buffer
    }

    fn f(&self) -> usize {
        self.algorithm().digest_len()
    }

    /// The fingerprint algorithm.
    pub fn algorithm(&self) -> FingerprintAlgorithm {
        common::algorithm(self.buffer.as_ref())
    }

    /// The capsule's type: the fingerprint of the code that must process it.
    pub fn fingerprint(&self) -> Fingerprint {
        read_fingerprint(self.buffer.as_ref(), field::FINGERPRINT)
    }

    /// The raw address-families byte (see the `field::*_V6` bits).
    pub fn families(&self) -> u8 {
        self.buffer.as_ref()[field::FAMILIES]
    }

    /// The resource budget left.
    pub fn budget(&self) -> u16 {
        read_u16(self.buffer.as_ref(), field::BUDGET.start)
    }

    /// The payload length from the header.
    pub fn payload_len(&self) -> u16 {
        read_u16(self.buffer.as_ref(), field::PAYLOAD_LEN.start)
    }

    /// The source address.
    pub fn source(&self) -> IpAddr {
        let range = field::source(self.f(), self.families());
        read_addr(self.buffer.as_ref(), range.start, range.len() == 16)
    }

    /// The destination address.
    pub fn destination(&self) -> IpAddr {
        let range = field::destination(self.f(), self.families());
        read_addr(self.buffer.as_ref(), range.start, range.len() == 16)
    }

    /// The address of the previous active node that processed a capsule of this type: where
    /// its code can be loaded from.
    pub fn previous(&self) -> IpAddr {
        let range = field::previous(self.f(), self.families());
        read_addr(self.buffer.as_ref(), range.start, range.len() == 16)
    }

    /// Length of the header (everything before the payload).
    pub fn header_len(&self) -> usize {
        field::previous(self.f(), self.families()).end
    }

    /// Length of the whole frame, header and payload.
    pub fn frame_len(&self) -> usize {
        self.header_len() + usize::from(self.payload_len())
    }

    fn payload_range(&self) -> core::ops::Range<usize> {
        field::payload(self.f(), self.families(), self.payload_len().into())
    }

    /// The payload.
    pub fn payload(&self) -> &[u8] {
        &self.buffer.as_ref()[self.payload_range()]
    }
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> CapsulePacket<T> {
    /// Sets the resource budget in place (the node decrements it on the fast path).
    pub fn set_budget(&mut self, budget: u16) {
        write_u16(self.buffer.as_mut(), field::BUDGET.start, budget);
    }

    /// Rewrites the previous-node address in place. Fails with
    /// [`WireError::AddressFamilyMismatch`] when `addr` is of the other family, since that would
    /// move the payload: re-emit the capsule from its [`CapsuleRepr`] instead.
    pub fn set_previous(&mut self, addr: IpAddr) -> Result<(), WireError> {
        let range = field::previous(self.f(), self.families());
        if (range.len() == 16) != addr.is_ipv6() {
            return Err(WireError::AddressFamilyMismatch);
        }
        write_addr(self.buffer.as_mut(), range.start, addr);
        Ok(())
    }

    /// The payload, mutable.
    pub fn payload_mut(&mut self) -> &mut [u8] {
        let range = self.payload_range();
        &mut self.buffer.as_mut()[range]
    }
}

impl<'a, T: AsRef<[u8]> + ?Sized> CapsulePacket<&'a T> {
    /// The payload, borrowed for as long as the underlying buffer.
    fn payload_ref(&self) -> &'a [u8] {
        let range = self.payload_range();
        let buffer: &'a T = self.buffer;
        &buffer.as_ref()[range]
    }
}

/// The parsed form of a capsule. The payload is borrowed from the datagram.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct CapsuleRepr<'a> {
    /// The capsule's type: the fingerprint of the code that must process it.
    pub fingerprint: Fingerprint,
    /// Where the capsule started.
    pub source: IpAddr,
    /// Where the capsule is going.
    pub destination: IpAddr,
    /// The previous active node that processed a capsule of this type (the source itself on
    /// the first hop): where the code can be demand-loaded from.
    pub previous: IpAddr,
    /// Resource budget left, like an IP TTL: decremented per active hop, split among copies.
    pub budget: u16,
    /// The payload; only the capsule's code interprets it.
    pub payload: &'a [u8],
}

impl<'a> CapsuleRepr<'a> {
    /// Parses a capsule view, validating it first (so an unchecked view is fine).
    pub fn parse<T: AsRef<[u8]> + ?Sized>(
        packet: &CapsulePacket<&'a T>,
    ) -> Result<CapsuleRepr<'a>, WireError> {
        packet.check()?;
        Ok(CapsuleRepr {
            fingerprint: packet.fingerprint(),
            source: packet.source(),
            destination: packet.destination(),
            previous: packet.previous(),
            budget: packet.budget(),
            payload: packet.payload_ref(),
        })
    }

    /// The families byte these addresses need.
    pub fn families(&self) -> u8 {
        let bit = |addr: IpAddr, bit: u8| if addr.is_ipv6() { bit } else { 0 };
        bit(self.source, field::SOURCE_V6)
            | bit(self.destination, field::DESTINATION_V6)
            | bit(self.previous, field::PREVIOUS_V6)
    }

    /// Length of the header this capsule needs.
    pub fn header_len(&self) -> usize {
        field::FINGERPRINT
            + self.fingerprint.algorithm().digest_len()
            + addr_len(self.source.is_ipv6())
            + addr_len(self.destination.is_ipv6())
            + addr_len(self.previous.is_ipv6())
    }

    /// Length of the emitted frame.
    pub fn buffer_len(&self) -> usize {
        self.header_len() + self.payload.len()
    }

    /// Whether this capsule can be emitted: the payload fits the 16-bit length field.
    pub fn validate(&self) -> Result<(), WireError> {
        if self.payload.len() > usize::from(u16::MAX) {
            return Err(WireError::PayloadTooLong {
                len: self.payload.len(),
            });
        }
        Ok(())
    }

    /// Writes this capsule into `packet`.
    ///
    /// # Panics
    /// If the buffer is shorter than [`CapsuleRepr::buffer_len`]. A payload longer than 65535
    /// bytes (see [`CapsuleRepr::validate`]) makes a frame that does not parse.
    pub fn emit<T: AsRef<[u8]> + AsMut<[u8]> + ?Sized>(&self, packet: &mut CapsulePacket<&mut T>) {
        let families = self.families();
        let f = self.fingerprint.algorithm().digest_len();
        let buf = packet.buffer.as_mut();
        Prefix {
            kind: FrameKind::Capsule,
            algorithm: self.fingerprint.algorithm(),
        }
        .emit(buf);
        buf[field::FAMILIES] = families;
        buf[field::RESERVED] = 0;
        write_u16(buf, field::BUDGET.start, self.budget);
        write_u16(buf, field::PAYLOAD_LEN.start, self.payload.len() as u16);
        write_fingerprint(buf, field::FINGERPRINT, &self.fingerprint);
        write_addr(buf, field::source(f, families).start, self.source);
        write_addr(buf, field::destination(f, families).start, self.destination);
        write_addr(buf, field::previous(f, families).start, self.previous);
        buf[field::payload(f, families, self.payload.len())].copy_from_slice(self.payload);
    }

    /// The emitted frame in a new vector.
    pub fn to_vec(&self) -> Result<Vec<u8>, WireError> {
        super::Frame::Capsule(*self).to_vec()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use core::net::{Ipv4Addr, Ipv6Addr};

    fn v4(last: u8) -> IpAddr {
        IpAddr::V4(Ipv4Addr::new(192, 0, 2, last))
    }

    fn v6(last: u16) -> IpAddr {
        IpAddr::V6(Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, last))
    }

    fn sample(payload: &[u8]) -> CapsuleRepr<'_> {
        CapsuleRepr {
            fingerprint: Fingerprint::sha256(b"ping"),
            source: v4(1),
            destination: v4(2),
            previous: v4(3),
            budget: 16,
            payload,
        }
    }

    #[test]
    fn round_trips_every_family_mix_and_algorithm() {
        for families in 0..8u8 {
            for algorithm in FingerprintAlgorithm::ALL {
                let pick = |bit: u8, n: u8| {
                    if families & bit != 0 {
                        v6(n.into())
                    } else {
                        v4(n)
                    }
                };
                let repr = CapsuleRepr {
                    fingerprint: Fingerprint::of(algorithm, b"code"),
                    source: pick(field::SOURCE_V6, 1),
                    destination: pick(field::DESTINATION_V6, 2),
                    previous: pick(field::PREVIOUS_V6, 3),
                    budget: 300,
                    payload: b"hello",
                };
                let bytes = repr.to_vec().unwrap();
                assert_eq!(bytes.len(), repr.buffer_len());
                let packet = CapsulePacket::new_checked(&bytes[..]).unwrap();
                assert_eq!(packet.families(), families);
                assert_eq!(packet.frame_len(), bytes.len());
                assert_eq!(CapsuleRepr::parse(&packet), Ok(repr));
            }
        }
    }

    #[test]
    fn header_layout_is_as_specified() {
        let bytes = sample(b"xy").to_vec().unwrap();
        assert_eq!(bytes.len(), MIN_HEADER_LEN + 2);
        assert_eq!(&bytes[..12], &[0x41, 0x4e, 1, 1, 0, 1, 0, 0, 0, 16, 0, 2]);
        assert_eq!(&bytes[12..44], Fingerprint::sha256(b"ping").digest());
        assert_eq!(&bytes[44..56], &[192, 0, 2, 1, 192, 0, 2, 2, 192, 0, 2, 3]);
        assert_eq!(&bytes[56..], b"xy");
    }

    #[test]
    fn empty_payload_is_valid() {
        let bytes = sample(b"").to_vec().unwrap();
        let packet = CapsulePacket::new_checked(&bytes).unwrap();
        assert_eq!(packet.payload(), b"");
    }

    #[test]
    fn budget_and_previous_rewrite_in_place() {
        let mut bytes = sample(b"data").to_vec().unwrap();
        let mut packet = CapsulePacket::new_checked(&mut bytes[..]).unwrap();
        packet.set_budget(15);
        packet.set_previous(v4(9)).unwrap();
        assert_eq!(
            packet.set_previous(v6(9)),
            Err(WireError::AddressFamilyMismatch)
        );
        packet.payload_mut()[0] = b'D';
        let packet = CapsulePacket::new_checked(&bytes[..]).unwrap();
        let repr = CapsuleRepr::parse(&packet).unwrap();
        assert_eq!(repr.budget, 15);
        assert_eq!(repr.previous, v4(9));
        assert_eq!(repr.source, v4(1));
        assert_eq!(repr.payload, b"Data");
    }

    #[test]
    fn rejects_short_frames() {
        let bytes = sample(b"abc").to_vec().unwrap();
        assert_eq!(
            CapsulePacket::new_checked(&bytes[..10]),
            Err(WireError::Truncated {
                needed: 56,
                available: 10
            })
        );
        assert_eq!(
            CapsulePacket::new_checked(&bytes[..20]),
            Err(WireError::Truncated {
                needed: 59,
                available: 20
            })
        );
        assert_eq!(
            CapsulePacket::new_checked(&bytes[..50]),
            Err(WireError::Truncated {
                needed: 59,
                available: 50
            })
        );
        assert_eq!(
            CapsulePacket::new_checked(&bytes[..58]),
            Err(WireError::Truncated {
                needed: 59,
                available: 58
            })
        );
        assert_eq!(
            CapsulePacket::new_checked(&bytes[..3]),
            Err(WireError::Truncated {
                needed: 6,
                available: 3
            })
        );
    }

    #[test]
    fn rejects_trailing_bytes() {
        let mut bytes = sample(b"abc").to_vec().unwrap();
        bytes.push(0);
        assert_eq!(
            CapsulePacket::new_checked(&bytes),
            Err(WireError::LengthMismatch {
                expected: 59,
                actual: 60
            })
        );
    }

    #[test]
    fn rejects_bad_families_and_reserved() {
        let good = sample(b"abc").to_vec().unwrap();
        let mut bytes = good.clone();
        bytes[field::FAMILIES] = 0x08;
        assert_eq!(
            CapsulePacket::new_checked(&bytes),
            Err(WireError::BadAddressFamily(0x08))
        );
        let mut bytes = good.clone();
        bytes[field::RESERVED] = 1;
        assert_eq!(
            CapsulePacket::new_checked(&bytes),
            Err(WireError::ReservedNotZero)
        );
        // Declaring IPv6 on a frame laid out for IPv4 moves the payload past the end.
        let mut bytes = good;
        bytes[field::FAMILIES] = field::SOURCE_V6;
        assert_eq!(
            CapsulePacket::new_checked(&bytes),
            Err(WireError::Truncated {
                needed: 71,
                available: 59
            })
        );
    }

    #[test]
    fn rejects_other_kinds() {
        let mut bytes = sample(b"abc").to_vec().unwrap();
        bytes[common::field::KIND] = FrameKind::CodeMissing.code();
        assert_eq!(
            CapsulePacket::new_checked(&bytes),
            Err(WireError::UnexpectedKind {
                expected: FrameKind::Capsule,
                found: FrameKind::CodeMissing
            })
        );
    }

    #[test]
    fn oversized_payload_is_refused_on_emit() {
        let payload = vec![0u8; 65_536];
        assert_eq!(
            sample(&payload).validate(),
            Err(WireError::PayloadTooLong { len: 65_536 })
        );
        assert_eq!(
            sample(&payload).to_vec(),
            Err(WireError::PayloadTooLong { len: 65_536 })
        );
        let payload = vec![0u8; 65_535];
        let bytes = sample(&payload).to_vec().unwrap();
        assert_eq!(
            CapsulePacket::new_checked(&bytes).unwrap().payload_len(),
            65_535
        );
    }
}
