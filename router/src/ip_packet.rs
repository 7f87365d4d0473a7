//! IP and UDP headers around a datagram, for packet captures (the emulator's and the daemon's
//! pcap files): the bytes a datagram has on the wire, checksums included.
//!
//! It never touches the forwarding path, and it parses nothing: it only writes headers
//! around a datagram the caller already has.

use std::net::{IpAddr, SocketAddr};

/// IPv4 (20) and UDP (8) header bytes.
pub const IPV4_UDP_HEADER_LEN: usize = 28;

/// Appends to `out` the IP/UDP packet carrying `payload` from `src` to `dst`: IPv4 when both
/// are IPv4 (identification `ident`, don't fragment, TTL 64, header checksum), else IPv6 (hop
/// limit 64; an IPv4 end is written as `::ffff:` mapped), then UDP with its checksum. False,
/// with nothing appended, if the packet would be longer than its IP version allows.
pub fn udp_packet(
    out: &mut Vec<u8>,
    src: SocketAddr,
    dst: SocketAddr,
    ident: u16,
    payload: &[u8],
) -> bool {
    let udp_len = 8 + payload.len();
    let Ok(udp_len16) = u16::try_from(udp_len) else {
        return false;
    };
    let (s, d) = (src.ip().to_canonical(), dst.ip().to_canonical());
    let start = out.len();
    let pseudo = match (s, d) {
        (IpAddr::V4(s), IpAddr::V4(d)) => {
            let Ok(total) = u16::try_from(20 + udp_len) else {
                return false;
            };
            out.extend_from_slice(&[0x45, 0]);
            out.extend_from_slice(&total.to_be_bytes());
            out.extend_from_slice(&ident.to_be_bytes());
            // Don't fragment, offset 0; TTL 64; UDP; checksum below.
            out.extend_from_slice(&[0x40, 0, 64, 17, 0, 0]);
            out.extend_from_slice(&s.octets());
            out.extend_from_slice(&d.octets());
            let sum = !fold(sum16(0, &out[start..start + 20]));
            out[start + 10..start + 12].copy_from_slice(&sum.to_be_bytes());
            sum16(sum16(0, &s.octets()), &d.octets())
        }
        _ => {
            let v6 = |a: IpAddr| match a {
                IpAddr::V4(v4) => v4.to_ipv6_mapped(),
                IpAddr::V6(v6) => v6,
            };
            let (s, d) = (v6(s), v6(d));
            out.extend_from_slice(&[0x60, 0, 0, 0]);
            out.extend_from_slice(&udp_len16.to_be_bytes());
            out.extend_from_slice(&[17, 64]);
            out.extend_from_slice(&s.octets());
            out.extend_from_slice(&d.octets());
            sum16(sum16(0, &s.octets()), &d.octets())
        }
    };
    let udp = out.len();
    out.extend_from_slice(&src.port().to_be_bytes());
    out.extend_from_slice(&dst.port().to_be_bytes());
    out.extend_from_slice(&udp_len16.to_be_bytes());
    out.extend_from_slice(&[0, 0]);
    out.extend_from_slice(payload);
    let acc = sum16(pseudo + 17 + udp_len as u64, &out[udp..]);
    let mut checksum = !fold(acc);
    if checksum == 0 {
        // 0 means "no checksum" in UDP.
        checksum = 0xffff;
    }
    out[udp + 6..udp + 8].copy_from_slice(&checksum.to_be_bytes());
    true
}

/// One's-complement sum of `bytes` as big-endian 16-bit words (odd length padded with 0).
fn sum16(mut acc: u64, bytes: &[u8]) -> u64 {
    let mut chunks = bytes.chunks_exact(2);
    for c in &mut chunks {
        acc += u64::from(u16::from_be_bytes([c[0], c[1]]));
    }
    if let [last] = chunks.remainder() {
        acc += u64::from(*last) << 8;
    }
    acc
}

fn fold(mut acc: u64) -> u16 {
    while acc > 0xffff {
        acc = (acc & 0xffff) + (acc >> 16);
    }
    acc as u16
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A packet's checksums verify when the sum over what they cover folds to 0xffff.
    fn verifies(header: &[u8]) -> bool {
        fold(sum16(0, header)) == 0xffff
    }

    #[test]
    fn ipv4_and_ipv6_packets_have_checksums_that_verify() {
        let v4 = |a: [u8; 4], p| SocketAddr::from((a, p));
        let mut out = Vec::new();
        assert!(udp_packet(
            &mut out,
            v4([10, 0, 0, 1], 3322),
            v4([10, 0, 0, 2], 3322),
            7,
            b"abc"
        ));
        assert_eq!(out.len(), IPV4_UDP_HEADER_LEN + 3);
        assert!(verifies(&out[..20]));
        // The UDP checksum over the pseudo-header and the datagram.
        let mut pseudo = Vec::new();
        pseudo.extend_from_slice(&out[12..20]);
        pseudo.extend_from_slice(&[0, 17]);
        pseudo.extend_from_slice(&out[24..26]);
        pseudo.extend_from_slice(&out[20..]);
        assert!(verifies(&pseudo));

        let v6: SocketAddr = "[fd00::1]:3322".parse().unwrap();
        let mut out = Vec::new();
        assert!(udp_packet(&mut out, v6, v4([10, 0, 0, 2], 3322), 0, b"x"));
        assert_eq!(out[0] >> 4, 6);
        assert_eq!(out.len(), 40 + 8 + 1);
        // Too long for IPv4.
        let mut out = Vec::new();
        let big = vec![0; 65_600];
        assert!(!udp_packet(
            &mut out,
            v4([1, 1, 1, 1], 1),
            v4([2, 2, 2, 2], 2),
            0,
            &big
        ));
        assert!(out.is_empty());
    }
}
