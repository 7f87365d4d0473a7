//! `pcap = "path"`: a router writes every datagram it sends and receives to a pcap file, within
//! `pcap_max_bytes`. Three real `antsd` on loopback, r1 - r2 - r3, a ping from r1 to r3 through
//! r2, whose file is read back with `pcap-file`.

mod daemon_support;

use std::net::{Ipv4Addr, SocketAddr};
use std::path::Path;

use daemon_support::{Daemon, ants, capsule, chain_config, free_ports};
use pcap_file::DataLink;
use pcap_file::pcap::PcapReader;

fn sum16(bytes: &[u8]) -> u64 {
    bytes
        .chunks(2)
        .map(|c| u64::from(u16::from_be_bytes([c[0], *c.get(1).unwrap_or(&0)])))
        .sum()
}

fn fold(mut acc: u64) -> u16 {
    while acc > 0xffff {
        acc = (acc & 0xffff) + (acc >> 16);
    }
    acc as u16
}

/// Each record's UDP source and destination, after checking its IPv4 and UDP headers.
fn records(path: &Path) -> Vec<(SocketAddr, SocketAddr, Vec<u8>)> {
    let bytes = std::fs::read(path).expect("the pcap file");
    let mut reader = PcapReader::new(&bytes[..]).expect("a pcap file");
    assert_eq!(reader.header().datalink, DataLink::RAW);
    let mut out = Vec::new();
    while let Some(p) = reader.next_packet() {
        let d = p.expect("a record").data.into_owned();
        assert_eq!(d[0], 0x45);
        assert_eq!(u16::from_be_bytes([d[2], d[3]]) as usize, d.len());
        assert_eq!(fold(sum16(&d[..20])), 0xffff, "IPv4 header checksum");
        let udp_len = u16::from_be_bytes([d[24], d[25]]);
        assert_eq!(udp_len as usize, d.len() - 20);
        let pseudo = sum16(&d[12..20]) + 17 + u64::from(udp_len);
        assert_eq!(fold(pseudo + sum16(&d[20..])), 0xffff, "UDP checksum");
        let src = SocketAddr::from((
            Ipv4Addr::from([d[12], d[13], d[14], d[15]]),
            u16::from_be_bytes([d[20], d[21]]),
        ));
        let dst = SocketAddr::from((
            Ipv4Addr::from([d[16], d[17], d[18], d[19]]),
            u16::from_be_bytes([d[22], d[23]]),
        ));
        out.push((src, dst, d[28..].to_vec()));
    }
    out
}

fn ping(r1: &Daemon, count: &str) {
    let ping = capsule("ping");
    let (status, out, err) = ants(&[
        "ping",
        "--socket",
        r1.socket.to_str().unwrap(),
        "127.0.1.3",
        "--module",
        ping.to_str().unwrap(),
        "-c",
        count,
        "--interval",
        "0.05",
        "--timeout",
        "60",
    ]);
    assert!(status.success(), "{out}{err}");
}

#[test]
fn the_middle_router_writes_what_it_sends_and_receives() {
    let dir = tempfile::tempdir().unwrap();
    let ports = free_ports(3);
    let file = dir.path().join("r2.pcap");
    let config = |i: usize| {
        let text = chain_config(dir.path(), &ports, i, &[]);
        if i == 2 {
            format!("pcap = \"r2.pcap\"\n{text}")
        } else {
            text
        }
    };
    let r1 = Daemon::start(dir.path(), "r1", &config(1));
    let r2 = Daemon::start(dir.path(), "r2", &config(2));
    let r3 = Daemon::start(dir.path(), "r3", &config(3));
    ping(&r1, "3");
    let status = r2.status();
    let (exit, _) = r2.terminate();
    assert!(exit.success());
    drop((r1, r3));

    let records = records(&file);
    let socket = |i: usize| SocketAddr::from(([127, 0, 0, 1], ports[i - 1]));
    let received = records.iter().filter(|(_, d, _)| *d == socket(2)).count();
    let sent = records.iter().filter(|(s, _, _)| *s == socket(2)).count();
    assert_eq!(received + sent, records.len(), "every record is r2's");
    let driver = &status["daemon"]["stats"];
    assert!(received as u64 >= driver["datagrams_received"].as_u64().unwrap());
    assert!(sent as u64 >= driver["datagrams_sent"].as_u64().unwrap());
    assert!(received > 0 && sent > 0);
    for (s, d, frame) in &records {
        assert_eq!(&frame[..3], b"AN\x01", "a frame of this protocol");
        assert!([socket(1), socket(3)].contains(if *s == socket(2) { d } else { s }));
    }
    // The capsules crossed both ways, and r2 loaded the code (requests and fragments).
    let kinds: std::collections::BTreeSet<u8> = records.iter().map(|r| r.2[3]).collect();
    for kind in [1, 2, 3] {
        assert!(kinds.contains(&kind), "kind {kind} in {kinds:?}");
    }
}

#[test]
fn the_file_stays_within_pcap_max_bytes_and_the_log_says_so() {
    let dir = tempfile::tempdir().unwrap();
    let ports = free_ports(3);
    let file = dir.path().join("r2.pcap");
    let config = |i: usize| {
        let text = chain_config(dir.path(), &ports, i, &[]);
        if i == 2 {
            format!("pcap = \"r2.pcap\"\npcap_max_bytes = 4096\n{text}")
        } else {
            text
        }
    };
    let r1 = Daemon::start(dir.path(), "r1", &config(1));
    let r2 = Daemon::start(dir.path(), "r2", &config(2));
    let r3 = Daemon::start(dir.path(), "r3", &config(3));
    ping(&r1, "3");
    let log = r2.log();
    let (exit, _) = r2.terminate();
    assert!(exit.success());
    drop((r1, r3));
    let size = std::fs::metadata(&file).unwrap().len();
    assert!(size <= 4096, "{size} bytes");
    assert!(!records(&file).is_empty());
    assert!(log.contains("reached pcap_max_bytes"), "{log}");
}

#[test]
fn a_too_small_bound_is_refused_where_it_is_written() {
    let dir = tempfile::tempdir().unwrap();
    let ports = free_ports(1);
    let text = format!(
        "pcap = \"x.pcap\"\npcap_max_bytes = 100\n{}",
        chain_config(dir.path(), &ports, 1, &[])
    );
    let path = dir.path().join("r.toml");
    std::fs::write(&path, text).unwrap();
    let err = ants_daemon::config::Config::load(&path)
        .unwrap_err()
        .to_string();
    assert!(err.contains("pcap_max_bytes"), "{err}");
    assert!(err.contains("at least 4096"), "{err}");
    assert!(err.contains(":2:"), "line 2 named: {err}");
}
