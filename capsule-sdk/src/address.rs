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
///
/// Every address crossing the node API has this form, in network byte order. Build one from
/// an [`Ipv4Addr`], [`Ipv6Addr`], [`IpAddr`] or 16 bytes with `From`; get the IP address back
/// with [`Address::to_ip`] or `IpAddr::from`. `Display` prints the IP address (`10.0.0.1`,
/// `2001:db8::7`), through `core::fmt`: in a capsule, prefer
/// [`log::Line::address`](crate::log::Line::address), which costs no formatting code.
/// Ordering is byte order, the order [`node::neighbours`](crate::node::neighbours) uses.
///
/// ```
/// use capsule_sdk::Address;
/// use core::net::{IpAddr, Ipv4Addr, Ipv6Addr};
///
/// let v4 = Address::from(Ipv4Addr::new(10, 0, 0, 1));
/// assert_eq!(v4.octets(), [0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 10, 0, 0, 1]);
/// assert!(v4.is_ipv4());
/// assert_eq!(v4.to_string(), "10.0.0.1");
///
/// let v6: Address = "2001:db8::7".parse::<Ipv6Addr>().unwrap().into();
/// assert!(!v6.is_ipv4());
/// assert_eq!(IpAddr::from(v6), "2001:db8::7".parse::<IpAddr>().unwrap());
/// assert_eq!(format!("{v6:?}"), "Address(2001:db8::7)");
///
/// // In payloads and state: exactly its 16 bytes.
/// assert_eq!(capsule_sdk::postcard::to_allocvec(&v4).unwrap(), v4.octets());
/// assert!(Address::from([1; 16]) < Address::from([2; 16]));
/// ```
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default, Serialize, Deserialize)]
#[repr(transparent)]
pub struct Address(pub [u8; 16]);

impl Address {
    /// `::`, the unspecified address (all zero bytes; also the `Default`).
    ///
    /// ```
    /// use capsule_sdk::Address;
    ///
    /// assert_eq!(Address::UNSPECIFIED, Address::default());
    /// assert_eq!(Address::UNSPECIFIED.to_string(), "::");
    /// ```
    pub const UNSPECIFIED: Address = Address([0; 16]);

    /// The 16 bytes, in network order. Handy as a state key.
    ///
    /// ```
    /// use capsule_sdk::Address;
    /// use core::net::Ipv4Addr;
    ///
    /// let a = Address::from(Ipv4Addr::new(192, 0, 2, 9));
    /// assert_eq!(a.octets()[10..], [0xff, 0xff, 192, 0, 2, 9]);
    /// assert_eq!(Address::from(a.octets()), a);
    /// ```
    pub const fn octets(self) -> [u8; 16] {
        self.0
    }

    /// The IP address: IPv4 for IPv4-mapped addresses, IPv6 otherwise.
    ///
    /// Only `::ffff:a.b.c.d` maps to IPv4; the deprecated IPv4-compatible form `::a.b.c.d`
    /// stays IPv6.
    ///
    /// ```
    /// use capsule_sdk::Address;
    /// use core::net::{IpAddr, Ipv4Addr, Ipv6Addr};
    ///
    /// let v4 = Ipv4Addr::new(10, 0, 0, 1);
    /// assert_eq!(Address::from(v4).to_ip(), IpAddr::V4(v4));
    /// let compatible = Ipv6Addr::new(0, 0, 0, 0, 0, 0, 0x0a00, 1);
    /// assert_eq!(Address::from(compatible).to_ip(), IpAddr::V6(compatible));
    /// ```
    pub fn to_ip(self) -> IpAddr {
        let v6 = Ipv6Addr::from(self.0);
        match v6.to_ipv4_mapped() {
            Some(v4) => IpAddr::V4(v4),
            None => IpAddr::V6(v6),
        }
    }

    /// Whether this is an IPv4-mapped address (`::ffff:a.b.c.d`).
    ///
    /// ```
    /// use capsule_sdk::Address;
    /// use core::net::{Ipv4Addr, Ipv6Addr};
    ///
    /// assert!(Address::from(Ipv4Addr::new(10, 0, 0, 1)).is_ipv4());
    /// assert!(!Address::from(Ipv6Addr::LOCALHOST).is_ipv4());
    /// assert!(!Address::UNSPECIFIED.is_ipv4());
    /// ```
    pub fn is_ipv4(self) -> bool {
        Ipv6Addr::from(self.0).to_ipv4_mapped().is_some()
    }
}

/// The address with these 16 bytes, in network order.
impl From<[u8; 16]> for Address {
    fn from(octets: [u8; 16]) -> Self {
        Address(octets)
    }
}

/// The IPv6 address as it is (an IPv4-mapped one stays IPv4-mapped).
impl From<Ipv6Addr> for Address {
    fn from(ip: Ipv6Addr) -> Self {
        Address(ip.octets())
    }
}

/// The IPv4 address mapped as `::ffff:a.b.c.d`.
impl From<Ipv4Addr> for Address {
    fn from(ip: Ipv4Addr) -> Self {
        Address(ip.to_ipv6_mapped().octets())
    }
}

/// Either of the above.
impl From<IpAddr> for Address {
    fn from(ip: IpAddr) -> Self {
        match ip {
            IpAddr::V4(v4) => v4.into(),
            IpAddr::V6(v6) => v6.into(),
        }
    }
}

/// [`Address::to_ip`].
impl From<Address> for IpAddr {
    fn from(a: Address) -> Self {
        a.to_ip()
    }
}

/// The IP address as [`Address::to_ip`] gives it: `10.0.0.1`, `2001:db8::7`.
impl fmt::Display for Address {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&self.to_ip(), f)
    }
}

/// `Address(10.0.0.1)`.
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
