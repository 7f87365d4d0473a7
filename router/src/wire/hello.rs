//! Hello frames (kind 7): "I am alive, I say hello every `interval` ms, and these are the
//! destinations I reach over the active overlay, at these distances".
//!
//! Owns the parsed form [`HelloRepr`] (route entries borrowed from the datagram, read through
//! [`HelloRepr::routes`]) and its checked view [`HelloPacket`]. Active neighbours exchange
//! hellos periodically: a neighbour that misses enough of them is declared down, and the
//! distance vector they carry is the overlay routing of `docs/node.md`. This module never
//! decides when to send one or what a route means.
//!
//! ```text
//!  0                   1                   2                   3
//!  0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |     magic "AN" (0x414E)       |  version = 1  |   kind = 7    |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |  flags (v6)   |   algorithm   |      hello interval (ms)      |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |                           sequence                            |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |          route count          |         reserved = 0          |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |  count x (destination: 4 bytes, 16 with flag v6; metric: 1)   |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! ```

use core::net::IpAddr;

use super::WireError;
use super::common::{
    FrameKind, MAX_CODE_FRAME_LEN, PREFIX_LEN, Prefix, addr_len, check_prefix, field as prefix,
    read_addr, read_u16, read_u32, write_addr, write_u16, write_u32,
};
use crate::fingerprint::FingerprintAlgorithm;

/// Flag bit: the route entries carry IPv6 destinations (else IPv4).
pub const FLAG_V6: u8 = 0x01;

/// The metric that means "unreachable" (the distance-vector infinity).
pub const METRIC_UNREACHABLE: u8 = 16;

/// Byte offsets of the hello header.
mod field {
    pub const INTERVAL: usize = super::PREFIX_LEN;
    pub const SEQUENCE: usize = 8;
    pub const COUNT: usize = 12;
    pub const RESERVED: usize = 14;
    pub const ENTRIES: usize = 16;
}

/// Length of the header before the route entries.
pub const HELLO_HEADER_LEN: usize = field::ENTRIES;

/// The most route entries a hello of this family can carry within [`MAX_CODE_FRAME_LEN`].
pub const fn max_hello_routes(v6: bool) -> usize {
    (MAX_CODE_FRAME_LEN - HELLO_HEADER_LEN) / (addr_len(v6) + 1)
}

/// A hello frame over a byte buffer.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HelloPacket<T: AsRef<[u8]>> {
    buffer: T,
}

impl<T: AsRef<[u8]>> HelloPacket<T> {
    /// Wraps `buffer` without validating it.
    pub const fn new_unchecked(buffer: T) -> Self {
        HelloPacket { buffer }
    }

    /// Wraps `buffer` after validating every field.
    pub fn new_checked(buffer: T) -> Result<Self, WireError> {
        let packet = Self::new_unchecked(buffer);
        packet.check()?;
        Ok(packet)
    }

    /// Validates the whole frame: prefix (kind 7), size bound, header, exact length, reserved
    /// bytes, a non-zero interval and every metric at most [`METRIC_UNREACHABLE`].
    pub fn check(&self) -> Result<(), WireError> {
        let buf = self.buffer.as_ref();
        check_prefix(buf, FrameKind::Hello)?;
        if buf.len() < HELLO_HEADER_LEN {
            return Err(WireError::Truncated {
                needed: HELLO_HEADER_LEN,
                available: buf.len(),
            });
        }
        if read_u16(buf, field::RESERVED) != 0 {
            return Err(WireError::ReservedNotZero);
        }
        if read_u16(buf, field::INTERVAL) == 0 {
            return Err(WireError::HelloIntervalZero);
        }
        let entry = addr_len(self.is_v6()) + 1;
        let expected = HELLO_HEADER_LEN + usize::from(self.route_count()) * entry;
        if buf.len() != expected {
            return Err(WireError::LengthMismatch {
                expected,
                actual: buf.len(),
            });
        }
        if let Some(&metric) = buf[HELLO_HEADER_LEN..]
            .chunks_exact(entry)
            .map(|e| &e[entry - 1])
            .find(|&&m| m > METRIC_UNREACHABLE)
        {
            return Err(WireError::BadMetric(metric));
        }
        Ok(())
    }

    fn is_v6(&self) -> bool {
        self.buffer.as_ref()[prefix::FLAGS] & FLAG_V6 != 0
    }

    /// The sender's hello interval in milliseconds.
    pub fn interval_ms(&self) -> u16 {
        read_u16(self.buffer.as_ref(), field::INTERVAL)
    }

    /// The sender's hello sequence number.
    pub fn sequence(&self) -> u32 {
        read_u32(self.buffer.as_ref(), field::SEQUENCE)
    }

    /// Number of route entries.
    pub fn route_count(&self) -> u16 {
        read_u16(self.buffer.as_ref(), field::COUNT)
    }
}

/// The parsed form of a hello frame.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct HelloRepr<'a> {
    /// The sender's fingerprint algorithm (informative: hellos name no module).
    pub algorithm: FingerprintAlgorithm,
    /// The sender's hello interval in milliseconds (at least 1).
    pub interval_ms: u16,
    /// Incremented by one for every hello the sender sends.
    pub sequence: u32,
    /// Whether the entries carry IPv6 destinations.
    pub v6: bool,
    /// The route entries as on the wire (destination, then metric); see [`HelloRepr::routes`].
    pub entries: &'a [u8],
}

impl<'a> HelloRepr<'a> {
    /// Parses a hello view, validating it first.
    pub fn parse<T: AsRef<[u8]> + ?Sized>(
        packet: &HelloPacket<&'a T>,
    ) -> Result<HelloRepr<'a>, WireError> {
        packet.check()?;
        let buf: &'a [u8] = packet.buffer.as_ref();
        let algorithm = Prefix::parse(buf)?.algorithm;
        Ok(HelloRepr {
            algorithm,
            interval_ms: packet.interval_ms(),
            sequence: packet.sequence(),
            v6: packet.is_v6(),
            entries: &buf[HELLO_HEADER_LEN..],
        })
    }

    /// The advertised routes: (destination, metric), metric [`METRIC_UNREACHABLE`] for a
    /// destination the sender no longer reaches (or reaches through the receiver).
    pub fn routes(&self) -> impl Iterator<Item = (IpAddr, u8)> + 'a {
        let v6 = self.v6;
        let len = addr_len(v6);
        self.entries
            .chunks_exact(len + 1)
            .map(move |e| (read_addr(e, 0, v6), e[len]))
    }

    /// Writes route entries for `routes` (all of one family, each metric at most
    /// [`METRIC_UNREACHABLE`], at most [`max_hello_routes`]) into a new entry buffer.
    pub fn encode_routes(
        routes: impl IntoIterator<Item = (IpAddr, u8)>,
        v6: bool,
    ) -> Result<Vec<u8>, WireError> {
        let len = addr_len(v6);
        let mut out = Vec::new();
        for (count, (addr, metric)) in routes.into_iter().enumerate() {
            if addr.is_ipv6() != v6 {
                return Err(WireError::MixedAddressFamilies);
            }
            if metric > METRIC_UNREACHABLE {
                return Err(WireError::BadMetric(metric));
            }
            if count >= max_hello_routes(v6) {
                return Err(WireError::FrameTooLong {
                    len: HELLO_HEADER_LEN + (count + 1) * (len + 1),
                });
            }
            let at = out.len();
            out.resize(at + len + 1, 0);
            write_addr(&mut out, at, addr);
            out[at + len] = metric;
        }
        Ok(out)
    }

    /// Length of the emitted frame.
    pub fn buffer_len(&self) -> usize {
        HELLO_HEADER_LEN + self.entries.len()
    }

    /// Checks what `emit` needs: whole entries, few enough, valid metrics, a non-zero interval.
    pub fn validate(&self) -> Result<(), WireError> {
        let entry = addr_len(self.v6) + 1;
        if !self.entries.len().is_multiple_of(entry) || self.buffer_len() > MAX_CODE_FRAME_LEN {
            return Err(WireError::FrameTooLong {
                len: self.buffer_len(),
            });
        }
        if self.interval_ms == 0 {
            return Err(WireError::HelloIntervalZero);
        }
        match self.routes().find(|&(_, m)| m > METRIC_UNREACHABLE) {
            Some((_, m)) => Err(WireError::BadMetric(m)),
            None => Ok(()),
        }
    }

    /// Writes this frame into `packet` (call [`HelloRepr::validate`] first).
    ///
    /// # Panics
    /// If the buffer is shorter than [`HelloRepr::buffer_len`].
    pub fn emit<T: AsRef<[u8]> + AsMut<[u8]> + ?Sized>(&self, packet: &mut HelloPacket<&mut T>) {
        let buf = packet.buffer.as_mut();
        Prefix {
            kind: FrameKind::Hello,
            algorithm: self.algorithm,
        }
        .emit(buf);
        if self.v6 {
            buf[prefix::FLAGS] = FLAG_V6;
        }
        write_u16(buf, field::INTERVAL, self.interval_ms);
        write_u32(buf, field::SEQUENCE, self.sequence);
        let count = self.entries.len() / (addr_len(self.v6) + 1);
        write_u16(buf, field::COUNT, u16::try_from(count).unwrap_or(u16::MAX));
        write_u16(buf, field::RESERVED, 0);
        buf[HELLO_HEADER_LEN..self.buffer_len()].copy_from_slice(self.entries);
    }

    /// The emitted frame in a new vector.
    pub fn to_vec(&self) -> Result<Vec<u8>, WireError> {
        self.validate()?;
        let mut buf = vec![0u8; self.buffer_len()];
        self.emit(&mut HelloPacket::new_unchecked(&mut buf[..]));
        Ok(buf)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn round_trips_in_both_families() {
        for routes in [
            vec![(ip("10.0.0.1"), 0), (ip("10.0.0.9"), 16)],
            vec![(ip("fd00::1"), 3)],
            vec![],
        ] {
            let v6 = routes.first().is_some_and(|(a, _)| a.is_ipv6());
            let entries = HelloRepr::encode_routes(routes.clone(), v6).unwrap();
            let repr = HelloRepr {
                algorithm: FingerprintAlgorithm::Sha256,
                interval_ms: 500,
                sequence: 7,
                v6,
                entries: &entries,
            };
            let bytes = repr.to_vec().unwrap();
            assert_eq!(bytes[3], 7);
            let packet = HelloPacket::new_checked(&bytes[..]).unwrap();
            let parsed = HelloRepr::parse(&packet).unwrap();
            assert_eq!(parsed, repr);
            assert_eq!(parsed.routes().collect::<Vec<_>>(), routes);
        }
    }

    #[test]
    fn rejects_bad_metrics_lengths_and_intervals() {
        let entries = HelloRepr::encode_routes([(ip("10.0.0.1"), 1)], false).unwrap();
        let repr = HelloRepr {
            algorithm: FingerprintAlgorithm::Sha256,
            interval_ms: 500,
            sequence: 1,
            v6: false,
            entries: &entries,
        };
        let good = repr.to_vec().unwrap();
        let mut bad = good.clone();
        *bad.last_mut().unwrap() = 17;
        assert_eq!(
            HelloPacket::new_checked(&bad[..]),
            Err(WireError::BadMetric(17))
        );
        assert!(matches!(
            HelloPacket::new_checked(&good[..good.len() - 1]),
            Err(WireError::LengthMismatch { .. })
        ));
        let mut zero = good.clone();
        zero[6..8].copy_from_slice(&[0, 0]);
        assert_eq!(
            HelloPacket::new_checked(&zero[..]),
            Err(WireError::HelloIntervalZero)
        );
        let mut reserved = good;
        reserved[15] = 1;
        assert_eq!(
            HelloPacket::new_checked(&reserved[..]),
            Err(WireError::ReservedNotZero)
        );
        assert_eq!(
            HelloRepr::encode_routes([(ip("fd00::1"), 1)], false),
            Err(WireError::MixedAddressFamilies)
        );
        let too_many =
            (0..=max_hello_routes(false) as u32).map(|i| (IpAddr::from(i.to_be_bytes()), 1));
        assert!(HelloRepr::encode_routes(too_many, false).is_err());
    }
}
