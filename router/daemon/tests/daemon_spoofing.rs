//! End to end, with address spoofing: a raw socket writes code requests whose source is the
//! socket of r1's configured neighbour r2 (a plain UDP socket here, the victim). r1, a real
//! `antsd`, must send the victim no more than three times what the attacker sent, and no code;
//! the genuine r2, which receives at that socket, then gets the module by echoing its cookie.
//!
//! Needs root (a raw socket, as `make test` runs). Every datagram stays on 127.0.0.1.

mod daemon_support;

use std::net::{Ipv4Addr, SocketAddr, SocketAddrV4, UdpSocket};
use std::time::{Duration, Instant};

use ants_router::fingerprint::Fingerprint;
use ants_router::wire::{CodeRequestRepr, Cookie, Frame};
use daemon_support::{Daemon, capsule, chain_config, eventually, free_ports};
use socket2::{Domain, Protocol, Socket, Type};

/// An IPv4 + UDP datagram from `from` to `to` carrying `payload` (UDP checksum 0: none, as
/// IPv4 allows).
fn spoofed_datagram(from: SocketAddrV4, to: SocketAddrV4, payload: &[u8]) -> Vec<u8> {
    let total = u16::try_from(20 + 8 + payload.len()).unwrap();
    let mut ip = vec![0x45, 0, 0, 0, 0, 0, 0x40, 0, 64, 17, 0, 0];
    ip[2..4].copy_from_slice(&total.to_be_bytes());
    ip.extend_from_slice(&from.ip().octets());
    ip.extend_from_slice(&to.ip().octets());
    let sum = ip
        .chunks(2)
        .map(|w| u32::from(u16::from_be_bytes([w[0], w[1]])))
        .sum::<u32>();
    let folded = (sum & 0xffff) + (sum >> 16);
    let checksum = !(((folded & 0xffff) + (folded >> 16)) as u16);
    ip[10..12].copy_from_slice(&checksum.to_be_bytes());
    let mut udp = Vec::with_capacity(8 + payload.len());
    udp.extend_from_slice(&from.port().to_be_bytes());
    udp.extend_from_slice(&to.port().to_be_bytes());
    udp.extend_from_slice(&(total - 20).to_be_bytes());
    udp.extend_from_slice(&[0, 0]);
    udp.extend_from_slice(payload);
    ip.extend_from_slice(&udp);
    ip
}

/// Everything the victim receives until `quiet` passes without a datagram.
fn drain(victim: &UdpSocket, quiet: Duration) -> Vec<Vec<u8>> {
    victim.set_read_timeout(Some(quiet)).unwrap();
    let mut got = Vec::new();
    let mut buf = [0u8; 2048];
    let deadline = Instant::now() + Duration::from_secs(10);
    while Instant::now() < deadline {
        match victim.recv(&mut buf) {
            Ok(n) => got.push(buf[..n].to_vec()),
            Err(_) => break,
        }
    }
    got
}

#[test]
fn a_spoofed_code_request_brings_the_victim_at_most_three_times_its_size() {
    // SAFETY: geteuid has no preconditions.
    if unsafe { libc::geteuid() } != 0 {
        eprintln!("skipped: a raw socket needs root (make test runs as root)");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let ports = free_ports(2);
    let victim = UdpSocket::bind(("127.0.0.1", ports[1])).unwrap();
    let module = capsule("forward");
    let fp = Fingerprint::sha256(&std::fs::read(&module).unwrap());
    let r1 = Daemon::start(
        dir.path(),
        "r1",
        &chain_config(dir.path(), &ports, 1, std::slice::from_ref(&module)),
    );
    eventually(
        "r1 compiled its pinned module",
        Duration::from_secs(30),
        || {
            r1.status()["node"]["protocols"]
                .as_array()
                .is_some_and(|p| p.iter().any(|p| p["compiled"] == true))
        },
    );

    let router = SocketAddrV4::new(Ipv4Addr::LOCALHOST, ports[0]);
    let spoofed = SocketAddrV4::new(Ipv4Addr::LOCALHOST, ports[1]);
    let raw = Socket::new(
        Domain::IPV4,
        Type::RAW,
        Some(Protocol::from(libc::IPPROTO_RAW)),
    )
    .expect("a raw socket");
    let requests = [
        CodeRequestRepr::all(fp),
        CodeRequestRepr {
            fingerprint: fp,
            first: 0,
            mask: &[0xff, 0xff],
            cookie: None,
        },
        CodeRequestRepr {
            cookie: Some(Cookie([0x42; 16])),
            ..CodeRequestRepr::all(fp)
        },
    ];
    let mut bytes_in = 0;
    for round in 0..10 {
        for request in &requests {
            let payload = request.to_vec().unwrap();
            let datagram = spoofed_datagram(spoofed, router, &payload);
            raw.send_to(&datagram, &SocketAddr::V4(router).into())
                .unwrap_or_else(|e| panic!("raw send, round {round}: {e}"));
            bytes_in += payload.len();
        }
        std::thread::sleep(Duration::from_millis(5));
    }
    let got = drain(&victim, Duration::from_millis(300));
    let bytes_out: usize = got.iter().map(Vec::len).sum();
    let cookies: Vec<Cookie> = got
        .iter()
        .filter_map(|d| match Frame::parse(d) {
            Ok(Frame::CodeCookie(c)) => Some(c.cookie),
            _ => None,
        })
        .collect();
    eprintln!(
        "spoofed: {bytes_in} bytes of requests, {bytes_out} bytes to the victim in {} datagrams ({:.2}x)",
        got.len(),
        bytes_out as f64 / bytes_in as f64
    );
    assert_eq!(cookies.len(), got.len(), "only cookies reach the victim");
    assert_eq!(
        got.len(),
        30,
        "every spoofed request was answered, with a cookie"
    );
    assert!(
        bytes_out <= 3 * bytes_in,
        "{bytes_out} bytes out for {bytes_in} in"
    );

    // The genuine neighbour receives at that socket: it echoes the cookie and gets the code.
    let request = CodeRequestRepr {
        cookie: Some(cookies[0]),
        ..CodeRequestRepr::all(fp)
    };
    victim
        .send_to(&request.to_vec().unwrap(), SocketAddr::V4(router))
        .unwrap();
    let got = drain(&victim, Duration::from_millis(300));
    let module_len = std::fs::read(&module).unwrap().len();
    let fragments = got
        .iter()
        .filter(|d| matches!(Frame::parse(d), Ok(Frame::CodeFragment(_))))
        .count();
    assert_eq!(fragments, module_len.div_ceil(1024), "the whole module");

    let stats = &r1.status()["node"]["stats"];
    assert_eq!(stats["cookies_sent"], 30);
    assert_eq!(stats["cookies_stale"], 10);
    assert_eq!(stats["requests_served"], 1);
}
