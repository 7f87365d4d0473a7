//! The daemon's one UDP socket: creation, batched receive and segmented send.
//!
//! Owns how the socket is opened (dual-stack when bound to `[::]`, larger kernel buffers so a
//! burst does not overflow them while the node evaluates) and how datagrams cross it: up to
//! [`quinn_udp::BATCH_SIZE`] datagrams per receive system call (`recvmmsg`, and GRO where the
//! kernel coalesces a flow), and a run of equal-sized datagrams to one destination in one send
//! (GSO) where the kernel supports it. It never decides what to send or where: the node says
//! which node, the [`PeerMap`](crate::config::PeerMap) which socket address.
//!
//! Public so that other programs measure or reuse exactly the daemon's socket code (the relay
//! benchmark's plain relay is [`UdpIo`] with no node): [`UdpIo::bind`], then
//! [`UdpIo::readable`] and [`UdpIo::try_recv`] to receive, [`UdpIo::send`] to send, and
//! [`adapt`] for a destination of the other address family.

use std::io::{self, IoSliceMut};
use std::net::{IpAddr, SocketAddr};
use std::sync::atomic::{AtomicU64, Ordering};

use quinn_udp::{RecvMeta, UdpSockRef, UdpSocketState};
use socket2::{Domain, Protocol, Socket, Type};
use tokio::io::Interest;
use tokio::net::UdpSocket;

/// Bytes of each receive buffer: the largest UDP payload, which is also the most GRO puts in
/// one buffer, so nothing a peer sends is ever cut.
const RECV_BUFFER: usize = 65_536;
/// Most bytes in one segmented send (below the 65,507-byte UDP payload limit of IPv4).
const MAX_SEGMENTED_BYTES: usize = 65_000;
/// Most datagrams in one segmented send.
const MAX_SEGMENTS: usize = 64;

/// The driver's UDP socket with its batching state and buffers.
pub struct UdpIo {
    socket: UdpSocket,
    state: UdpSocketState,
    local: SocketAddr,
    bufs: Vec<Box<[u8]>>,
    meta: Vec<RecvMeta>,
    /// Sends that found the kernel's send buffer full (EAGAIN) and waited for room.
    send_waits: AtomicU64,
}

impl UdpIo {
    /// Opens a non-blocking UDP socket bound to `listen`, with the requested kernel buffer
    /// sizes (0 keeps the system default; the kernel may grant less, see
    /// `net.core.rmem_max`). Must be called inside a tokio runtime.
    pub fn bind(listen: SocketAddr, recv_buffer: usize, send_buffer: usize) -> io::Result<UdpIo> {
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
        socket.bind(&listen.into())?;
        // Also makes the socket non-blocking, and turns on GRO where available.
        let state = UdpSocketState::new(UdpSockRef::from(&socket))?;
        let socket = UdpSocket::from_std(socket.into())?;
        let local = socket.local_addr()?;
        Ok(UdpIo {
            socket,
            state,
            local,
            bufs: (0..quinn_udp::BATCH_SIZE)
                .map(|_| vec![0u8; RECV_BUFFER].into_boxed_slice())
                .collect(),
            meta: vec![RecvMeta::default(); quinn_udp::BATCH_SIZE],
            send_waits: AtomicU64::new(0),
        })
    }

    /// Times a send found the kernel's send buffer full (`EAGAIN`) and waited for room:
    /// backpressure, not a loss, counted so that an operator sees a saturated socket.
    pub fn send_waits(&self) -> u64 {
        self.send_waits.load(Ordering::Relaxed)
    }

    /// The bound address.
    pub fn local_addr(&self) -> SocketAddr {
        self.local
    }

    /// The kernel's receive and send buffer sizes, for the startup log.
    pub fn buffer_sizes(&self) -> (usize, usize) {
        let s = socket2::SockRef::from(&self.socket);
        (
            s.recv_buffer_size().unwrap_or(0),
            s.send_buffer_size().unwrap_or(0),
        )
    }

    /// Datagrams one [`UdpIo::send`] may carry (1 without segmentation offload).
    pub fn max_segments(&self) -> usize {
        self.state.max_gso_segments().clamp(1, MAX_SEGMENTS)
    }

    /// Most bytes one [`UdpIo::send`] may carry when it has several segments.
    pub fn max_segmented_bytes(&self) -> usize {
        MAX_SEGMENTED_BYTES
    }

    /// Waits until a datagram may be waiting.
    pub async fn readable(&self) -> io::Result<()> {
        self.socket.readable().await
    }

    /// Receives what is waiting, up to one batch, without blocking, and calls `each` with the
    /// sender and the bytes of every datagram in arrival order. Returns the number of
    /// datagrams; `WouldBlock` when none was waiting.
    pub fn try_recv(&mut self, mut each: impl FnMut(SocketAddr, &[u8])) -> io::Result<usize> {
        let messages = {
            let mut slices: Vec<IoSliceMut<'_>> =
                self.bufs.iter_mut().map(|b| IoSliceMut::new(b)).collect();
            let (socket, state, meta) = (&self.socket, &self.state, &mut self.meta);
            socket.try_io(Interest::READABLE, || {
                state.recv(UdpSockRef::from(socket), &mut slices, meta)
            })?
        };
        let mut datagrams = 0;
        for (meta, buf) in self.meta.iter().zip(&self.bufs).take(messages) {
            let bytes = &buf[..meta.len.min(buf.len())];
            // With GRO one buffer holds several datagrams of `stride` bytes (the last may be
            // shorter); without it, `stride` is the whole length.
            let stride = if meta.stride == 0 {
                bytes.len().max(1)
            } else {
                meta.stride
            };
            if bytes.is_empty() {
                each(meta.addr, bytes);
                datagrams += 1;
                continue;
            }
            for datagram in bytes.chunks(stride) {
                each(meta.addr, datagram);
                datagrams += 1;
            }
        }
        Ok(datagrams)
    }

    /// Sends `contents` to `to`: one datagram, or with `segment_size` several of that size
    /// (the last may be shorter). Waits for room in the kernel buffer rather than drop.
    pub async fn send(
        &self,
        to: SocketAddr,
        contents: &[u8],
        segment_size: Option<usize>,
    ) -> io::Result<()> {
        let transmit = quinn_udp::Transmit {
            destination: to,
            ecn: None,
            contents,
            segment_size,
            src_ip: None,
        };
        loop {
            let sent = self.socket.try_io(Interest::WRITABLE, || {
                self.state
                    .try_send(UdpSockRef::from(&self.socket), &transmit)
            });
            match sent {
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                    self.send_waits.fetch_add(1, Ordering::Relaxed);
                    self.socket.writable().await?
                }
                other => return other,
            }
        }
    }
}

/// `to` in a form a socket bound to `local` can send to: IPv4 destinations become
/// IPv4-mapped IPv6 on an IPv6 socket; `None` when an IPv4 socket is asked to reach IPv6.
pub fn adapt(local: SocketAddr, to: SocketAddr) -> Option<SocketAddr> {
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
    use std::time::Duration;

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

    /// Receives until `want` datagrams arrived (bounded in time).
    async fn receive(io: &mut UdpIo, want: usize) -> Vec<(SocketAddr, Vec<u8>)> {
        let mut got = Vec::new();
        let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
        while got.len() < want {
            tokio::time::timeout_at(deadline, io.readable())
                .await
                .expect("datagrams in time")
                .unwrap();
            match io.try_recv(|from, bytes| got.push((from, bytes.to_vec()))) {
                Ok(_) => {}
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
                Err(e) => panic!("{e}"),
            }
        }
        got
    }

    #[tokio::test]
    async fn single_and_segmented_sends_arrive_as_separate_datagrams() {
        let a = UdpIo::bind(sa("127.0.0.1:0"), 1 << 20, 1 << 20).unwrap();
        let mut b = UdpIo::bind(sa("[::]:0"), 0, 0).unwrap();
        let (recv, send) = a.buffer_sizes();
        assert!(recv > 0 && send > 0);
        let to = SocketAddr::new("127.0.0.1".parse().unwrap(), b.local_addr().port());

        a.send(to, b"AN one", None).await.unwrap();
        // Ten 100-byte datagrams and a shorter eleventh, in one call where GSO is available,
        // as consecutive single sends otherwise.
        let mut run = Vec::new();
        for i in 0..10u8 {
            run.extend_from_slice(&[i; 100]);
        }
        run.extend_from_slice(&[10; 40]);
        if a.max_segments() >= 11 {
            a.send(to, &run, Some(100)).await.unwrap();
        } else {
            for chunk in run.chunks(100) {
                a.send(to, chunk, None).await.unwrap();
            }
        }
        let got = receive(&mut b, 12).await;
        let from = adapt(b.local_addr(), a.local_addr()).unwrap();
        assert!(got.iter().all(|(f, _)| *f == from), "{got:?}");
        assert_eq!(got[0].1, b"AN one");
        for (i, (_, d)) in got[1..].iter().enumerate() {
            let len = if i < 10 { 100 } else { 40 };
            assert_eq!(d, &vec![i as u8; len]);
        }
    }
}
