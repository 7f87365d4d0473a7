//! pcap capture of the emulated links: a small topology file run with the capture on, its files
//! read back with `pcap-file` and every record checked against what the links counted.
//!
//! Needs the capsules built (`make capsules`).

use std::collections::BTreeSet;
use std::net::Ipv4Addr;
use std::path::Path;
use std::time::Duration;

use ants_emulator::{CAPSULE_PORT, Emulator, EmulatorOptions, PcapFile};
use ants_router::time::Timestamp;
use ants_topology::capsules::CapsuleLocator;
use ants_topology::{Routes, Topology};
use pcap_file::pcap::PcapReader;
use pcap_file::{DataLink, TsResolution};

/// h1 - a1 - l1 - a2 - h2: a link without bandwidth (captured when offered), links with one
/// (captured when serialised), a lossy link, hellos every 500 ms and a ping that demand-loads.
const TOPOLOGY: &str = r#"
name = "pcap"
seed = 11

[emulator]
duration = "2s"

[liveness]
hello_interval = "500ms"

[defaults.link]
delay = "2ms"

[[node]]
name = "h1"
kind = "host"

[[node]]
name = "a1"
kind = "active"

[[node]]
name = "l1"
kind = "legacy"

[[node]]
name = "a2"
kind = "active"

[[node]]
name = "h2"
kind = "host"

[[link]]
ends = ["h1", "a1"]

[[link]]
ends = ["a1", "l1"]
bandwidth = "10Mbit"

[[link]]
ends = ["l1", "a2"]
bandwidth = "10Mbit"
loss = "10%"

[[link]]
ends = ["a2", "h2"]
bandwidth = "10Mbit"

[[app]]
kind = "ping"
node = "h1"
to = "h2"
count = 4
interval = "300ms"
"#;

fn topology() -> Topology {
    ants_topology::file::parse(TOPOLOGY, Path::new("pcap.toml")).expect("topology parses")
}

fn capsules() -> CapsuleLocator {
    let l = CapsuleLocator::new(None, None);
    l.require(&["ping"]).unwrap_or_else(|e| panic!("{e}"));
    l
}

/// Runs the topology for 2 s with the capture on; returns the emulator and the files.
fn run(seed: u64, limit: u64) -> (Emulator, Topology, Vec<PcapFile>) {
    let t = topology();
    let options = EmulatorOptions {
        seed: Some(seed),
        ..EmulatorOptions::default()
    };
    let mut emu = Emulator::new(&t, &Routes::compute(&t), &capsules(), options).expect("builds");
    emu.record_pcap(limit);
    emu.run_until(Timestamp::ZERO + Duration::from_secs(2));
    let files = emu.take_pcap().expect("capturing").into_files();
    (emu, t, files)
}

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

/// One record: (timestamp, IP source, IP destination, frame), with every header checked.
fn decode(data: &[u8]) -> (Ipv4Addr, Ipv4Addr, &[u8]) {
    assert_eq!(data[0], 0x45, "IPv4 without options");
    assert_eq!(
        u16::from_be_bytes([data[2], data[3]]) as usize,
        data.len(),
        "IPv4 total length"
    );
    assert_eq!(data[9], 17, "UDP");
    assert_eq!(fold(sum16(&data[..20])), 0xffff, "IPv4 header checksum");
    let src = Ipv4Addr::new(data[12], data[13], data[14], data[15]);
    let dst = Ipv4Addr::new(data[16], data[17], data[18], data[19]);
    let udp = &data[20..];
    assert_eq!(u16::from_be_bytes([udp[0], udp[1]]), CAPSULE_PORT);
    assert_eq!(u16::from_be_bytes([udp[2], udp[3]]), CAPSULE_PORT);
    let udp_len = u16::from_be_bytes([udp[4], udp[5]]);
    assert_eq!(udp_len as usize, udp.len(), "UDP length");
    let pseudo = sum16(&data[12..20]) + 17 + u64::from(udp_len);
    assert_eq!(fold(pseudo + sum16(udp)), 0xffff, "UDP checksum");
    (src, dst, &udp[8..])
}

#[test]
fn every_datagram_of_every_link_is_in_its_file() {
    let (emu, t, files) = run(11, ants_emulator::DEFAULT_PCAP_LIMIT);
    let addr = |name: &str| t.nodes[t.node_id(name).expect("node")].address;
    let names: Vec<&str> = files.iter().map(|f| f.file_name.as_str()).collect();
    assert_eq!(
        names,
        ["h1--a1.pcap", "a1--l1.pcap", "l1--a2.pcap", "a2--h2.pcap"]
    );
    let node_addresses: BTreeSet<Ipv4Addr> = t.nodes.iter().map(|n| n.address).collect();
    let mut kinds = BTreeSet::new();
    for file in &files {
        let [ab, ba] = emu.link_stats(file.link).expect("link");
        assert_eq!(
            file.packets,
            ab.packets + ba.packets,
            "{}: every datagram put on the link, lost ones included",
            file.file_name
        );
        assert!(file.packets > 0, "{} carried traffic", file.file_name);
        let mut reader = PcapReader::new(&file.bytes[..]).expect("a pcap file");
        let header = reader.header();
        assert_eq!(header.datalink, DataLink::RAW);
        assert_eq!(header.ts_resolution, TsResolution::NanoSecond);
        let (mut count, mut last) = (0u64, Duration::ZERO);
        let mut sources = BTreeSet::new();
        while let Some(packet) = reader.next_packet() {
            let packet = packet.expect("a record");
            assert!(packet.timestamp >= last, "timestamps never go back");
            assert!(packet.timestamp <= Duration::from_secs(2));
            last = packet.timestamp;
            assert_eq!(packet.orig_len as usize, packet.data.len());
            let (src, dst, frame) = decode(&packet.data);
            assert!(node_addresses.contains(&src) && node_addresses.contains(&dst));
            assert_ne!(src, dst);
            assert_eq!(&frame[..3], b"AN\x01", "a frame of this protocol");
            kinds.insert(frame[3]);
            sources.insert(src);
            count += 1;
        }
        assert_eq!(count, file.packets);
        let link = &t.links[file.link];
        assert!(
            sources.contains(&t.nodes[link.a].address)
                || sources.contains(&t.nodes[link.b].address),
            "{}: one of its ends sent something",
            file.file_name
        );
    }
    // The legacy router never sends: only h1, a1, a2 and h2 appear as sources.
    assert!(files.iter().all(|f| {
        let mut r = PcapReader::new(&f.bytes[..]).expect("pcap");
        let mut ok = true;
        while let Some(p) = r.next_packet() {
            ok &= decode(&p.expect("record").data).0 != addr("l1");
        }
        ok
    }));
    // Capsules, code requests, fragments, cookies and hellos all crossed.
    for kind in [1, 2, 3, 5, 7] {
        assert!(kinds.contains(&kind), "kind {kind} captured: {kinds:?}");
    }
}

#[test]
fn the_same_seed_gives_the_same_bytes() {
    let (_, _, first) = run(11, ants_emulator::DEFAULT_PCAP_LIMIT);
    let (_, _, second) = run(11, ants_emulator::DEFAULT_PCAP_LIMIT);
    assert_eq!(first, second);
    let (_, _, other) = run(12, ants_emulator::DEFAULT_PCAP_LIMIT);
    assert_ne!(
        first, other,
        "another seed loses other datagrams on the lossy link"
    );
}

#[test]
fn the_limit_stops_the_capture_with_a_message() {
    let limit = 4096;
    let t = topology();
    let mut emu = Emulator::new(
        &t,
        &Routes::compute(&t),
        &capsules(),
        EmulatorOptions::default(),
    )
    .expect("builds");
    emu.record_pcap(limit);
    emu.run_until(Timestamp::ZERO + Duration::from_secs(2));
    let pcap = emu.pcap().expect("capturing");
    assert!(pcap.bytes() <= limit);
    let at = pcap.limit_reached_at().expect("4 KiB is not enough");
    assert!(pcap.not_written() > 0);
    let message = pcap.limit_message().expect("a message");
    assert!(
        message.contains("pcap limit of 4096 bytes reached"),
        "{message}"
    );
    assert!(message.contains("raise the limit"), "{message}");
    let capture = emu.take_pcap().expect("capturing");
    let files = capture.into_files();
    let total: usize = files.iter().map(|f| f.bytes.len()).sum();
    assert!(total as u64 <= limit, "{total} bytes written");
    // Everything in the files is from before the limit was reached.
    for f in &files {
        let mut r = PcapReader::new(&f.bytes[..]).expect("pcap");
        while let Some(p) = r.next_packet() {
            assert!(p.expect("record").timestamp <= Duration::from_nanos(at.as_nanos()));
        }
    }
}

#[test]
fn files_are_written_to_a_directory() {
    let (_, _, files) = run(11, ants_emulator::DEFAULT_PCAP_LIMIT);
    let dir = tempfile::tempdir().expect("tempdir");
    let out = dir.path().join("captures");
    let paths = ants_emulator::pcap::write_files(&out, &files).expect("written");
    assert_eq!(paths.len(), 4);
    for (path, file) in paths.iter().zip(&files) {
        assert_eq!(std::fs::read(path).expect("read"), file.bytes);
    }
    // A directory that cannot be made is a typed error naming it.
    let blocked = dir.path().join("file");
    std::fs::write(&blocked, b"x").expect("write");
    let err = ants_emulator::pcap::write_files(&blocked.join("sub"), &files).unwrap_err();
    assert!(
        err.to_string().contains("cannot create the pcap directory"),
        "{err}"
    );
}
