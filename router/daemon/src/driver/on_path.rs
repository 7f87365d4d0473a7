//! On-path mode (`mode = "on-path"`, `docs/on-path.md`): capsules captured on the router's
//! interfaces, whatever their IP destination, and kept from the kernel's forwarding.
//!
//! Owns three things, all of them undone when the [`OnPath`] is dropped:
//!
//! - **The taps.** One `pnet_datalink` channel (`AF_PACKET`) per named interface, on a socket
//!   this module opens first so that a classic BPF socket filter is attached before the socket
//!   is bound: the kernel queues only incoming IPv4 and IPv6 UDP datagrams to the capsule port
//!   (not fragments, not what this host sends), so the channel costs nothing for the rest of
//!   the traffic. The socket is non-blocking and registered with tokio; the driver loop reads
//!   it when it is readable, at most [`FRAMES_PER_WAKE`] frames per wake-up, into one buffer of
//!   [`SNAP_BYTES`], with a kernel queue of [`CAPTURE_RECV_BUFFER`] bytes requested.
//! - **The parse.** A captured frame is untrusted: it is read with `pnet_packet`'s checked
//!   views (Ethernet, IPv4 or IPv6, UDP), every length checked against the bytes captured
//!   before any slice is taken, the IPv4 header checksum verified; anything else is dropped
//!   and counted by a named reason ([`CaptureStats`]). Nothing here panics on any input.
//! - **The kernel's share.** A `tc` ingress filter on each interface (`bpf` classifier in
//!   direct-action mode, classic BPF bytecode, marked `pref 3322 handle 0x3322`) drops the
//!   same datagrams the taps capture: taps see a packet before tc ingress, so the capture gets
//!   it and neither the kernel's forwarding nor its local delivery does. Filters left by a
//!   run that did not stop cleanly are found by their mark and removed at start; a `clsact`
//!   qdisc is added where the interface has no ingress qdisc, and removed again at exit.
//!
//! It decides nothing about capsules: each datagram goes to the node as a UDP datagram from
//! its IP source would, and what the node sends leaves on the daemon's UDP socket, routed by
//! the kernel.

use std::io;
use std::net::{IpAddr, SocketAddr};
use std::os::fd::{AsRawFd, RawFd};
use std::process::Command;
use std::task::Poll;
use std::time::Duration;

use pnet_datalink::{Channel, DataLinkReceiver, MacAddr, NetworkInterface};
use pnet_packet::ethernet::{EtherTypes, EthernetPacket};
use pnet_packet::ip::IpNextHeaderProtocols;
use pnet_packet::ipv4::{self, Ipv4Packet};
use pnet_packet::ipv6::Ipv6Packet;
use pnet_packet::udp::UdpPacket;
use serde::Serialize;
use tokio::io::unix::AsyncFd;

/// Bytes of a tap's receive buffer: the longest frame read whole (Ethernet header, an IPv6
/// header and the largest UDP datagram); a longer one is cut and dropped as
/// `capture_truncated`.
pub const SNAP_BYTES: usize = 14 + 40 + 65_535;
/// Bytes of the virtio-net header the kernel puts before each frame (`PACKET_VNET_HDR`): it
/// carries the segment size of a segmented (GSO) datagram, which a veth or a local sender
/// hands over unsegmented.
pub const VNET_HEADER: usize = 10;
/// `VIRTIO_NET_HDR_GSO_UDP_L4`: a segmented UDP datagram (each segment its own datagram).
const GSO_UDP_L4: u8 = 5;
/// The kernel queue requested for each tap (`SO_RCVBUF`; capped by `net.core.rmem_max`).
/// Frames that find it full are dropped by the kernel before the daemon sees them.
pub const CAPTURE_RECV_BUFFER: usize = 4 * 1024 * 1024;
/// Frames read from one tap per wake-up before the loop looks at its other inputs.
pub const FRAMES_PER_WAKE: usize = 64;
/// The `tc` filter's priority and handle: what marks a filter as this daemon's.
pub const FILTER_PREF: u16 = 3322;
/// See [`FILTER_PREF`].
pub const FILTER_HANDLE: &str = "0x3322";

/// Why the on-path mode could not start.
#[derive(Debug, thiserror::Error)]
pub enum OnPathError {
    /// A named interface does not exist (in this network namespace).
    #[error("interface `{0}` (`interfaces`) does not exist here")]
    NoInterface(String),
    /// The capture socket could not be opened.
    #[error("cannot capture on `{interface}`: {error} (on-path mode needs CAP_NET_RAW)")]
    Capture {
        /// The interface.
        interface: String,
        /// The system's reason.
        error: io::Error,
    },
    /// `tc` failed to install the ingress filter.
    #[error(
        "cannot install the tc ingress filter on `{interface}`: {message} (on-path mode needs `tc` and CAP_NET_ADMIN)"
    )]
    Filter {
        /// The interface.
        interface: String,
        /// `tc`'s output or the reason it could not run.
        message: String,
    },
}

/// What the capture saw, as driver counters (flattened into the status' daemon counters).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct CaptureStats {
    /// Capsule-port datagrams captured and handed to the node.
    pub captured: u64,
    /// Their UDP payload bytes.
    pub captured_bytes: u64,
    /// Frames this host sent itself (its own source MAC), ignored.
    pub capture_own_frames: u64,
    /// Frames shorter than an Ethernet header, or of another EtherType.
    pub capture_bad_ethernet: u64,
    /// IPv4 headers that are short, of another version, or whose lengths do not fit.
    pub capture_bad_ipv4: u64,
    /// IPv4 headers whose checksum is wrong.
    pub capture_bad_ipv4_checksum: u64,
    /// IPv4 fragments (left to the kernel by the filters; counted if one gets here).
    pub capture_ipv4_fragment: u64,
    /// IPv6 headers that are short, of another version, or whose payload length does not fit.
    pub capture_bad_ipv6: u64,
    /// UDP headers that are short or whose length does not fit the IP payload.
    pub capture_bad_udp: u64,
    /// Not UDP to the capsule port (the socket filter lets none through; counted if one does).
    pub capture_other_traffic: u64,
    /// Frames longer than the tap's buffer ([`SNAP_BYTES`]).
    pub capture_truncated: u64,
    /// Read errors on a tap.
    pub capture_read_errors: u64,
    /// Captured segmented datagrams (GSO), each counted again in `captured` per segment.
    pub captured_segmented: u64,
}

/// Why a captured frame was not handed to the node.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Reject {
    /// Sent by this host.
    OwnFrame,
    /// Too short for Ethernet, or not IPv4/IPv6.
    BadEthernet,
    /// A malformed IPv4 header.
    BadIpv4,
    /// A wrong IPv4 header checksum.
    BadIpv4Checksum,
    /// An IPv4 fragment.
    Ipv4Fragment,
    /// A malformed IPv6 header.
    BadIpv6,
    /// A malformed UDP header.
    BadUdp,
    /// Not UDP to the capsule port.
    OtherTraffic,
    /// Cut at the buffer's size.
    Truncated,
}

impl Reject {
    /// The counter's name in the status.
    pub fn name(self) -> &'static str {
        match self {
            Reject::OwnFrame => "capture_own_frames",
            Reject::BadEthernet => "capture_bad_ethernet",
            Reject::BadIpv4 => "capture_bad_ipv4",
            Reject::BadIpv4Checksum => "capture_bad_ipv4_checksum",
            Reject::Ipv4Fragment => "capture_ipv4_fragment",
            Reject::BadIpv6 => "capture_bad_ipv6",
            Reject::BadUdp => "capture_bad_udp",
            Reject::OtherTraffic => "capture_other_traffic",
            Reject::Truncated => "capture_truncated",
        }
    }
}

impl CaptureStats {
    fn count(&mut self, reject: Reject) {
        let c = match reject {
            Reject::OwnFrame => &mut self.capture_own_frames,
            Reject::BadEthernet => &mut self.capture_bad_ethernet,
            Reject::BadIpv4 => &mut self.capture_bad_ipv4,
            Reject::BadIpv4Checksum => &mut self.capture_bad_ipv4_checksum,
            Reject::Ipv4Fragment => &mut self.capture_ipv4_fragment,
            Reject::BadIpv6 => &mut self.capture_bad_ipv6,
            Reject::BadUdp => &mut self.capture_bad_udp,
            Reject::OtherTraffic => &mut self.capture_other_traffic,
            Reject::Truncated => &mut self.capture_truncated,
        };
        *c += 1;
    }
}

/// A captured capsule-port datagram.
#[derive(Debug, PartialEq, Eq)]
pub struct Captured<'a> {
    /// The IP source and UDP source port.
    pub from: SocketAddr,
    /// The IP destination.
    pub to: IpAddr,
    /// The UDP payload: the frame for the node.
    pub payload: &'a [u8],
}

/// Reads one frame as the tap gives it: the virtio-net header, then the Ethernet frame.
/// Calls `each` with the source and every datagram it carries: one, or each segment of a
/// segmented (GSO) datagram. Returns the number of datagrams, or why the frame was refused.
pub fn parse_tapped(
    frame: &[u8],
    own: Option<MacAddr>,
    port: u16,
    mut each: impl FnMut(SocketAddr, &[u8]),
) -> Result<usize, Reject> {
    let Some((vnet, ethernet)) = frame.split_at_checked(VNET_HEADER) else {
        return Err(Reject::BadEthernet);
    };
    let c = parse(ethernet, own, port)?;
    let gso_size = usize::from(u16::from_ne_bytes([vnet[4], vnet[5]]));
    if vnet[1] & 0x7f == GSO_UDP_L4 && gso_size > 0 && c.payload.len() > gso_size {
        let mut n = 0;
        for segment in c.payload.chunks(gso_size) {
            each(c.from, segment);
            n += 1;
        }
        return Ok(n);
    }
    each(c.from, c.payload);
    Ok(1)
}

/// Reads one captured Ethernet frame: the UDP datagram to `port` it carries, or why not.
/// `own` is the capturing interface's MAC address.
pub fn parse(frame: &[u8], own: Option<MacAddr>, port: u16) -> Result<Captured<'_>, Reject> {
    let eth = EthernetPacket::new(frame).ok_or(Reject::BadEthernet)?;
    if own.is_some_and(|m| m == eth.get_source()) {
        return Err(Reject::OwnFrame);
    }
    // The Ethernet header is 14 bytes (checked by `new`).
    let ip = &frame[14..];
    let (src, dst, udp) = match eth.get_ethertype() {
        EtherTypes::Ipv4 => {
            let h = Ipv4Packet::new(ip).ok_or(Reject::BadIpv4)?;
            let header = usize::from(h.get_header_length()) * 4;
            let total = usize::from(h.get_total_length());
            if h.get_version() != 4 || header < 20 || total < header {
                return Err(Reject::BadIpv4);
            }
            if total > ip.len() {
                return Err(Reject::Truncated);
            }
            if ipv4::checksum(&h) != h.get_checksum() {
                return Err(Reject::BadIpv4Checksum);
            }
            // More fragments, or an offset: a fragment.
            if h.get_flags() & 0b001 != 0 || h.get_fragment_offset() != 0 {
                return Err(Reject::Ipv4Fragment);
            }
            if h.get_next_level_protocol() != IpNextHeaderProtocols::Udp {
                return Err(Reject::OtherTraffic);
            }
            (
                IpAddr::V4(h.get_source()),
                IpAddr::V4(h.get_destination()),
                &ip[header..total],
            )
        }
        EtherTypes::Ipv6 => {
            let h = Ipv6Packet::new(ip).ok_or(Reject::BadIpv6)?;
            let total = 40 + usize::from(h.get_payload_length());
            if h.get_version() != 6 {
                return Err(Reject::BadIpv6);
            }
            if total > ip.len() {
                return Err(Reject::Truncated);
            }
            if h.get_next_header() != IpNextHeaderProtocols::Udp {
                return Err(Reject::OtherTraffic);
            }
            (
                IpAddr::V6(h.get_source()),
                IpAddr::V6(h.get_destination()),
                &ip[40..total],
            )
        }
        _ => return Err(Reject::BadEthernet),
    };
    let u = UdpPacket::new(udp).ok_or(Reject::BadUdp)?;
    let len = usize::from(u.get_length());
    if len < 8 || len > udp.len() {
        return Err(Reject::BadUdp);
    }
    if u.get_destination() != port {
        return Err(Reject::OtherTraffic);
    }
    Ok(Captured {
        from: SocketAddr::new(src, u.get_source()),
        to: dst,
        payload: &udp[8..len],
    })
}

/// One classic BPF instruction (`struct sock_filter`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(C)]
pub struct Insn {
    /// Opcode.
    pub code: u16,
    /// Jump offset if true.
    pub jt: u8,
    /// Jump offset if false.
    pub jf: u8,
    /// Operand.
    pub k: u32,
}

/// Direct action of a tc classifier: drop the packet (`TC_ACT_SHOT`).
pub const TC_ACT_SHOT: u32 = 2;
/// Direct action of a tc classifier: not matched, go on with the next filter
/// (`TC_ACT_UNSPEC`, -1).
pub const TC_ACT_UNSPEC: u32 = u32::MAX;

/// The classic BPF program matching unfragmented IPv4 and IPv6 UDP datagrams to `port` in an
/// Ethernet frame: `accept` is returned for those, `reject` for everything else. With
/// `incoming_only`, frames the host sends (`PACKET_OUTGOING`) are rejected first (a socket
/// filter can read the packet type; a tc ingress filter sees only incoming packets). The
/// socket filter and the tc filter are this one program, so the capture and the drop can
/// never disagree about a packet.
pub fn filter_program(port: u16, accept: u32, reject: u32, incoming_only: bool) -> Vec<Insn> {
    // Opcodes (linux/filter.h).
    const LD_W_ABS: u16 = 0x20;
    const LD_H_ABS: u16 = 0x28;
    const LD_B_ABS: u16 = 0x30;
    const LD_H_IND: u16 = 0x48;
    const LDX_B_MSH: u16 = 0xb1;
    const JEQ_K: u16 = 0x15;
    const JSET_K: u16 = 0x45;
    const RET_K: u16 = 0x06;
    /// `SKF_AD_OFF + SKF_AD_PKTTYPE`.
    const PKTTYPE: u32 = 0xffff_f000 + 4;
    const PACKET_OUTGOING: u32 = 4;

    // Jump targets are labels, resolved below into the relative offsets BPF wants.
    #[derive(Clone, Copy)]
    enum To {
        Next,
        V4,
        V6,
        Yes,
        No,
    }
    type Line = (u16, To, To, u32, Option<&'static str>);
    let mut prog: Vec<Line> = Vec::new();
    if incoming_only {
        prog.push((LD_W_ABS, To::Next, To::Next, PKTTYPE, None));
        prog.push((JEQ_K, To::No, To::Next, PACKET_OUTGOING, None));
    }
    let mut body: Vec<Line> = vec![
        (LD_H_ABS, To::Next, To::Next, 12, None),
        (JEQ_K, To::V4, To::Next, 0x0800, None),
        (JEQ_K, To::V6, To::No, 0x86dd, None),
        (LD_B_ABS, To::Next, To::Next, 14 + 9, Some("v4")),
        (JEQ_K, To::Next, To::No, 17, None),
        (LD_H_ABS, To::Next, To::Next, 14 + 6, None),
        // More fragments or an offset: left alone.
        (JSET_K, To::No, To::Next, 0x3fff, None),
        (LDX_B_MSH, To::Next, To::Next, 14, None),
        (LD_H_IND, To::Next, To::Next, 14 + 2, None),
        (JEQ_K, To::Yes, To::No, u32::from(port), None),
        (LD_B_ABS, To::Next, To::Next, 14 + 6, Some("v6")),
        (JEQ_K, To::Next, To::No, 17, None),
        (LD_H_ABS, To::Next, To::Next, 14 + 40 + 2, None),
        (JEQ_K, To::Yes, To::No, u32::from(port), None),
        (RET_K, To::Next, To::Next, accept, Some("yes")),
        (RET_K, To::Next, To::Next, reject, Some("no")),
    ];
    prog.append(&mut body);
    let at = |name: &str| {
        prog.iter()
            .position(|p| p.4 == Some(name))
            .expect("every label is in the program")
    };
    let (v4, v6, yes, no) = (at("v4"), at("v6"), at("yes"), at("no"));
    let offset = |i: usize, to: To| -> u8 {
        let target = match to {
            To::Next => i + 1,
            To::V4 => v4,
            To::V6 => v6,
            To::Yes => yes,
            To::No => no,
        };
        u8::try_from(target - i - 1).expect("a short program")
    };
    prog.iter()
        .enumerate()
        .map(|(i, &(code, jt, jf, k, _))| Insn {
            code,
            jt: offset(i, jt),
            jf: offset(i, jf),
            k,
        })
        .collect()
}

/// `prog` as `tc`'s `bytecode` argument: the length, then `code jt jf k` per instruction.
pub fn tc_bytecode(prog: &[Insn]) -> String {
    let mut s = prog.len().to_string();
    for i in prog {
        s.push_str(&format!(",{} {} {} {}", i.code, i.jt, i.jf, i.k));
    }
    s
}

/// The fd of a tap for tokio's readiness; owned by the pnet channel, which closes it.
struct TapFd(RawFd);

impl AsRawFd for TapFd {
    fn as_raw_fd(&self) -> RawFd {
        self.0
    }
}

/// One interface's capture.
struct Tap {
    name: String,
    mac: Option<MacAddr>,
    // Declared before `rx`: deregistered from tokio before pnet closes the socket.
    ready: AsyncFd<TapFd>,
    rx: Box<dyn DataLinkReceiver>,
}

/// One interface's tc filter, removed on drop.
struct Filter {
    interface: String,
    /// This run added the interface's `clsact` qdisc (and removes it).
    added_qdisc: bool,
}

/// The on-path mode of a running driver: taps and filters. Dropping it removes the filters
/// (first, so the kernel forwards capsules again at once) and closes the taps.
pub struct OnPath {
    filters: Vec<Filter>,
    taps: Vec<Tap>,
    port: u16,
    /// The tap the next readiness check starts with, so a busy tap cannot starve the others.
    next: usize,
    /// What the capture saw.
    pub stats: CaptureStats,
}

impl OnPath {
    /// Removes filters left by an earlier run, opens a tap on each interface, then installs
    /// the filters. Must be called inside a tokio runtime. On failure, what was installed is
    /// removed again.
    pub fn start(interfaces: &[String], port: u16) -> Result<OnPath, OnPathError> {
        let all = pnet_datalink::interfaces();
        let mut on = OnPath {
            filters: Vec::new(),
            taps: Vec::new(),
            port,
            next: 0,
            stats: CaptureStats::default(),
        };
        for name in interfaces {
            let iface = all
                .iter()
                .find(|i| &i.name == name)
                .ok_or_else(|| OnPathError::NoInterface(name.clone()))?;
            remove_leftover(name);
            on.taps.push(open_tap(iface, port)?);
        }
        for name in interfaces {
            let filter = install_filter(name, port)?;
            on.filters.push(filter);
        }
        tracing::info!(
            interfaces = ?interfaces,
            port,
            "on-path mode: capturing capsules on the interfaces; their tc ingress filters keep the kernel from forwarding them"
        );
        Ok(on)
    }

    /// Waits until a tap may have frames; returns its index.
    pub async fn readable(&mut self) -> usize {
        let n = self.taps.len();
        let start = self.next;
        let taps = &self.taps;
        let i = std::future::poll_fn(|cx| {
            for k in 0..n {
                let i = (start + k) % n;
                if taps[i].ready.poll_read_ready(cx).is_ready() {
                    return Poll::Ready(i);
                }
            }
            Poll::Pending
        })
        .await;
        self.next = (i + 1) % n.max(1);
        i
    }

    /// Reads up to [`FRAMES_PER_WAKE`] frames from tap `i` and calls `each` with every
    /// capsule-port datagram; counts the rest.
    pub async fn drain(&mut self, i: usize, mut each: impl FnMut(SocketAddr, &[u8])) {
        let OnPath {
            taps, stats, port, ..
        } = self;
        let Some(tap) = taps.get_mut(i) else {
            return;
        };
        let Tap {
            name,
            mac,
            ready,
            rx,
        } = tap;
        let Ok(mut guard) = ready.readable().await else {
            stats.capture_read_errors += 1;
            return;
        };
        for _ in 0..FRAMES_PER_WAKE {
            match rx.next() {
                Ok(frame) => {
                    if frame.len() >= VNET_HEADER + SNAP_BYTES {
                        stats.count(Reject::Truncated);
                        continue;
                    }
                    let counted = parse_tapped(frame, *mac, *port, |from, datagram| {
                        stats.captured += 1;
                        stats.captured_bytes += datagram.len() as u64;
                        each(from, datagram);
                    });
                    match counted {
                        Ok(n) => {
                            if n > 1 {
                                stats.captured_segmented += 1;
                            }
                        }
                        Err(r) => {
                            stats.count(r);
                            tracing::trace!(interface = %name, reason = r.name(), "captured frame dropped");
                        }
                    }
                }
                // pnet polls with the zero read timeout: nothing waiting.
                Err(e)
                    if matches!(
                        e.kind(),
                        io::ErrorKind::TimedOut | io::ErrorKind::WouldBlock
                    ) =>
                {
                    guard.clear_ready();
                    return;
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => {
                    stats.capture_read_errors += 1;
                    tracing::debug!(interface = %name, "capture read error: {e}");
                    guard.clear_ready();
                    return;
                }
            }
        }
    }
}

impl Drop for OnPath {
    fn drop(&mut self) {
        for f in self.filters.drain(..) {
            remove_filter(&f);
        }
        // The taps close as the vector drops.
    }
}

/// Opens a tap on `iface`: the socket filter attached before the socket is bound, so
/// nothing else is ever queued on it.
fn open_tap(iface: &NetworkInterface, port: u16) -> Result<Tap, OnPathError> {
    let fail = |error: io::Error| OnPathError::Capture {
        interface: iface.name.clone(),
        error,
    };
    // Protocol 0: the socket receives nothing until pnet binds it to the interface (with
    // ETH_P_ALL), by which time the filter is in place.
    // SAFETY: plain system calls on a descriptor this function owns until pnet takes it.
    let fd = unsafe { libc::socket(libc::AF_PACKET, libc::SOCK_RAW | libc::SOCK_CLOEXEC, 0) };
    if fd < 0 {
        return Err(fail(io::Error::last_os_error()));
    }
    let prog = filter_program(port, 0x0004_0000, 0, true);
    let fprog = libc::sock_fprog {
        len: prog.len() as u16,
        filter: prog.as_ptr() as *mut libc::sock_filter,
    };
    let size = CAPTURE_RECV_BUFFER as libc::c_int;
    let on: libc::c_int = 1;
    // SAFETY: `fprog` points at `prog`, alive for the call; `size` and `on` are c_ints.
    let failed = unsafe {
        libc::setsockopt(
            fd,
            libc::SOL_SOCKET,
            libc::SO_ATTACH_FILTER,
            (&fprog as *const libc::sock_fprog).cast(),
            std::mem::size_of::<libc::sock_fprog>() as libc::socklen_t,
        ) != 0
            || libc::setsockopt(
                fd,
                libc::SOL_PACKET,
                libc::PACKET_VNET_HDR,
                (&on as *const libc::c_int).cast(),
                std::mem::size_of::<libc::c_int>() as libc::socklen_t,
            ) != 0
            || libc::setsockopt(
                fd,
                libc::SOL_SOCKET,
                libc::SO_RCVBUF,
                (&size as *const libc::c_int).cast(),
                std::mem::size_of::<libc::c_int>() as libc::socklen_t,
            ) != 0
    };
    if failed {
        let e = io::Error::last_os_error();
        // SAFETY: closing the descriptor opened above, not yet handed to anyone.
        unsafe { libc::close(fd) };
        return Err(fail(e));
    }
    let config = pnet_datalink::Config {
        read_buffer_size: VNET_HEADER + SNAP_BYTES,
        // Nothing is sent through the channel: the daemon sends on its UDP socket.
        write_buffer_size: 1,
        // With the zero timeout pnet's read returns at once when nothing waits.
        read_timeout: Some(Duration::ZERO),
        // The router's own frames and those it forwards are addressed to its MAC.
        promiscuous: false,
        socket_fd: Some(fd),
        ..pnet_datalink::Config::default()
    };
    let rx = match pnet_datalink::channel(iface, config) {
        Ok(Channel::Ethernet(_tx, rx)) => rx,
        Ok(_) => {
            return Err(fail(io::Error::other("not an Ethernet channel")));
        }
        Err(e) => return Err(fail(e)),
    };
    // SAFETY: the descriptor stays open as long as the registration: `Tap` declares `ready`
    // before `rx` (the pnet receiver that owns and closes it), so it is deregistered first.
    let ready =
        unsafe { AsyncFd::register_with_interest(TapFd(fd), tokio::io::Interest::READABLE) }
            .map_err(|e| fail(e.into()))?;
    Ok(Tap {
        name: iface.name.clone(),
        mac: iface.mac,
        ready,
        rx,
    })
}

/// Runs `tc` with `args`; its output, or why it failed.
fn tc(args: &[&str]) -> Result<String, String> {
    let out = Command::new("tc")
        .args(args)
        .output()
        .map_err(|e| format!("cannot run tc: {e}"))?;
    if out.status.success() {
        Ok(String::from_utf8_lossy(&out.stdout).into_owned())
    } else {
        Err(format!(
            "`tc {}`: {}",
            args.join(" "),
            String::from_utf8_lossy(&out.stderr).trim()
        ))
    }
}

/// Whether `tc filter show` output lists this daemon's filter (its pref, kind and handle).
pub fn lists_our_filter(show: &str) -> bool {
    let pref = format!("pref {FILTER_PREF} bpf");
    show.lines()
        .any(|l| l.contains(&pref) && l.contains(&format!("handle {FILTER_HANDLE} ")))
}

/// Removes this daemon's filter from `interface` if an earlier run left it there.
fn remove_leftover(interface: &str) {
    let Ok(show) = tc(&["filter", "show", "dev", interface, "ingress"]) else {
        return;
    };
    if lists_our_filter(&show) {
        match delete_filter(interface) {
            Ok(()) => tracing::warn!(
                interface,
                "removed the tc ingress filter an earlier run left (it did not stop cleanly)"
            ),
            Err(e) => tracing::warn!(interface, "cannot remove an earlier run's filter: {e}"),
        }
    }
}

fn delete_filter(interface: &str) -> Result<(), String> {
    let pref = FILTER_PREF.to_string();
    tc(&[
        "filter",
        "del",
        "dev",
        interface,
        "ingress",
        "pref",
        &pref,
        "handle",
        FILTER_HANDLE,
        "bpf",
    ])
    .map(|_| ())
}

fn install_filter(interface: &str, port: u16) -> Result<Filter, OnPathError> {
    let fail = |message| OnPathError::Filter {
        interface: interface.to_string(),
        message,
    };
    let qdiscs = tc(&["qdisc", "show", "dev", interface]).map_err(fail)?;
    let has_ingress = qdiscs
        .lines()
        .any(|l| l.starts_with("qdisc clsact") || l.starts_with("qdisc ingress"));
    if !has_ingress {
        tc(&["qdisc", "add", "dev", interface, "clsact"]).map_err(fail)?;
    }
    let mut filter = Filter {
        interface: interface.to_string(),
        added_qdisc: !has_ingress,
    };
    let code = tc_bytecode(&filter_program(port, TC_ACT_SHOT, TC_ACT_UNSPEC, false));
    let pref = FILTER_PREF.to_string();
    let added = tc(&[
        "filter",
        "add",
        "dev",
        interface,
        "ingress",
        "protocol",
        "all",
        "pref",
        &pref,
        "handle",
        FILTER_HANDLE,
        "bpf",
        "da",
        "bytecode",
        &code,
    ]);
    if let Err(e) = added {
        if filter.added_qdisc {
            let _ = tc(&["qdisc", "del", "dev", interface, "clsact"]);
            filter.added_qdisc = false;
        }
        return Err(fail(e));
    }
    Ok(filter)
}

fn remove_filter(f: &Filter) {
    if let Err(e) = delete_filter(&f.interface) {
        tracing::warn!(interface = %f.interface, "cannot remove the tc ingress filter: {e}");
    }
    if f.added_qdisc
        && let Err(e) = tc(&["qdisc", "del", "dev", &f.interface, "clsact"])
    {
        tracing::warn!(interface = %f.interface, "cannot remove the clsact qdisc: {e}");
    }
    tracing::info!(interface = %f.interface, "on-path mode: tc ingress filter removed");
}

#[cfg(test)]
mod tests;
