//! The daemon's one UDP socket: creation with buffer sizes, and address-family fix-ups.
//!
//! Owns how the socket is opened (dual-stack when bound to `[::]`, larger kernel buffers so a
//! burst does not overflow them while the node evaluates) and how a destination is adapted to
//! the socket's family. It never decides what to send or where: the node says which node, the
//! [`PeerMap`](crate::config::PeerMap) says which socket address.

use std::io;
use std::net::{IpAddr, SocketAddr};

use socket2::{Domain, Protocol, Socket, Type};
use tokio::net::UdpSocket;

/// Largest datagram the socket reads (the largest UDP payload over IPv4); frames are far
/// smaller, so nothing a peer sends is ever cut.
pub(crate) const RECV_BUFFER: usize = 65_536;

/// Opens a non-blocking UDP socket bound to `listen`, with the requested kernel buffer sizes
/// (0 keeps the system default; the kernel may grant less, see `net.core.rmem_max`).
pub(crate) fn bind(
    listen: SocketAddr,
    recv_buffer: usize,
    send_buffer: usize,
) -> io::Result<UdpSocket> {
    let socket = Socket::new(
        Domain::for_address(listen),
        Type::DGRAM,
        Some(Protocol::UDP),
    )?;
    if listen.is_ipv6() && listen.ip().is_unspecified() {
        // `[::]` also receives IPv4 datagrams (as ::ffff:a.b.c.d), so one socket serves both.
        socket.set_only_v6(false)?;
    }
    if recv_buffer > 0 {
        // Best effort: a smaller buffer than asked is not a reason to refuse to start.
        let _ = socket.set_recv_buffer_size(recv_buffer);
    }
    if send_buffer > 0 {
        let _ = socket.set_send_buffer_size(send_buffer);
    }
    socket.set_nonblocking(true)?;
    socket.bind(&listen.into())?;
    UdpSocket::from_std(socket.into())
}

/// The kernel's receive and send buffer sizes of `socket`, for the startup log.
pub(crate) fn buffer_sizes(socket: &UdpSocket) -> (usize, usize) {
    let s = socket2::SockRef::from(socket);
    (
        s.recv_buffer_size().unwrap_or(0),
        s.send_buffer_size().unwrap_or(0),
    )
}

/// `to` in a form a socket bound to `local` can send to: IPv4 destinations become
/// IPv4-mapped IPv6 on an IPv6 socket; `None` when an IPv4 socket is asked to reach IPv6.
pub(crate) fn adapt(local: SocketAddr, to: SocketAddr) -> Option<SocketAddr> {
    match (local, to.ip()) {
        (SocketAddr::V6(_), IpAddr::V4(v4)) => {
            Some(SocketAddr::new(IpAddr::V6(v4.to_ipv6_mapped()), to.port()))
        }
        (SocketAddr::V4(_), IpAddr::V6(v6)) => v6
            .to_ipv4_mapped()
            .map(|v4| SocketAddr::new(IpAddr::V4(v4), to.port())),
        _ => Some(to),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sa(s: &str) -> SocketAddr {
        s.parse().unwrap()
    }

    #[test]
    fn destinations_follow_the_socket_family() {
        assert_eq!(
            adapt(sa("[::]:1"), sa("127.0.0.1:9")),
            Some(sa("[::ffff:127.0.0.1]:9"))
        );
        assert_eq!(
            adapt(sa("0.0.0.0:1"), sa("127.0.0.1:9")),
            Some(sa("127.0.0.1:9"))
        );
        assert_eq!(adapt(sa("0.0.0.0:1"), sa("[::1]:9")), None);
        assert_eq!(
            adapt(sa("0.0.0.0:1"), sa("[::ffff:10.0.0.1]:9")),
            Some(sa("10.0.0.1:9"))
        );
        assert_eq!(adapt(sa("[::1]:1"), sa("[::1]:9")), Some(sa("[::1]:9")));
    }

    #[tokio::test]
    async fn binds_with_buffers_and_exchanges_a_datagram() {
        let a = bind(sa("127.0.0.1:0"), 1 << 20, 1 << 20).unwrap();
        let b = bind(sa("127.0.0.1:0"), 0, 0).unwrap();
        let (recv, send) = buffer_sizes(&a);
        assert!(recv > 0 && send > 0);
        a.send_to(b"AN", b.local_addr().unwrap()).await.unwrap();
        let mut buf = [0u8; 16];
        let (n, from) = b.recv_from(&mut buf).await.unwrap();
        assert_eq!((&buf[..n], from), (&b"AN"[..], a.local_addr().unwrap()));
    }
}
