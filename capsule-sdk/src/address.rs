//! Node addresses as they cross the ABI: 16 bytes, IPv6 or IPv4-mapped IPv6.
//!
//! Owns [`Address`] and its conversions. It must never call the node: addresses are plain
//! values usable in payload types, state and host tests alike.

use core::fmt;
use core::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use serde::{Deserialize, Serialize};

/// A node address: an IPv6 address, or an IPv4 address mapped as `::ffff:a.b.c.d`.
///
/// `repr(transparent)` over `[u8; 16]` so slices of addresses can be filled by the node
/// directly. With postcard it encodes as exactly 16 bytes.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default, Serialize, Deserialize)]
#[repr(transparent)]
pub struct Address(pub [u8; 16]);

impl Address {
    /// `::`, the unspecified address.
    pub const UNSPECIFIED: Address = Address([0; 16]);

    /// The 16 bytes, in network order.
    pub const fn octets(self) -> [u8; 16] {
        self.0
    }

    /// The IP address: IPv4 for IPv4-mapped addresses, IPv6 otherwise.
    pub fn to_ip(self) -> IpAddr {
        let v6 = Ipv6Addr::from(self.0);
        match v6.to_ipv4_mapped() {
            Some(v4) => IpAddr::V4(v4),
            None => IpAddr::V6(v6),
        }
    }

    /// Whether this is an IPv4-mapped address.
    pub fn is_ipv4(self) -> bool {
        Ipv6Addr::from(self.0).to_ipv4_mapped().is_some()
    }
}

impl From<[u8; 16]> for Address {
    fn from(octets: [u8; 16]) -> Self {
        Address(octets)
    }
}

impl From<Ipv6Addr> for Address {
    fn from(ip: Ipv6Addr) -> Self {
        Address(ip.octets())
    }
}

impl From<Ipv4Addr> for Address {
    fn from(ip: Ipv4Addr) -> Self {
        Address(ip.to_ipv6_mapped().octets())
    }
}

impl From<IpAddr> for Address {
    fn from(ip: IpAddr) -> Self {
        match ip {
            IpAddr::V4(v4) => v4.into(),
            IpAddr::V6(v6) => v6.into(),
        }
    }
}

impl From<Address> for IpAddr {
    fn from(a: Address) -> Self {
        a.to_ip()
    }
}

impl fmt::Display for Address {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&self.to_ip(), f)
    }
}

impl fmt::Debug for Address {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Address({self})")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloc::format;
    use alloc::vec::Vec;

    #[test]
    fn ipv4_is_mapped() {
        let a = Address::from(Ipv4Addr::new(10, 0, 0, 1));
        assert_eq!(
            a.octets(),
            [0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 10, 0, 0, 1]
        );
        assert!(a.is_ipv4());
        assert_eq!(a.to_ip(), IpAddr::V4(Ipv4Addr::new(10, 0, 0, 1)));
        assert_eq!(format!("{a}"), "10.0.0.1");
    }

    #[test]
    fn ipv6_round_trips() {
        let ip: IpAddr = "2001:db8::7".parse().unwrap();
        let a = Address::from(ip);
        assert!(!a.is_ipv4());
        assert_eq!(IpAddr::from(a), ip);
        assert_eq!(format!("{a:?}"), "Address(2001:db8::7)");
    }

    #[test]
    fn ipv4_compatible_is_not_mapped() {
        // `::a.b.c.d` (deprecated IPv4-compatible) stays IPv6: only `::ffff:` maps.
        let a = Address::from(Ipv6Addr::new(0, 0, 0, 0, 0, 0, 0x0a00, 1));
        assert!(!a.is_ipv4());
        assert!(Address::UNSPECIFIED.to_ip().is_ipv6());
    }

    #[test]
    fn postcard_encodes_sixteen_raw_bytes() {
        let a = Address::from(Ipv4Addr::new(192, 0, 2, 9));
        let bytes: Vec<u8> = postcard::to_allocvec(&a).unwrap();
        assert_eq!(bytes, a.octets());
        assert_eq!(postcard::from_bytes::<Address>(&bytes).unwrap(), a);
    }
}
