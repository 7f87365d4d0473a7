//! The Wireshark dissector `tools/wireshark/ants.lua` against the emulator and the wire format:
//! `ants topo emulate --pcap` writes pcaps, tshark decodes them with the dissector, and every
//! decoded field of every datagram must equal what `ants_router::wire` reads from the same
//! bytes (kinds, fingerprints, budgets, addresses, requests, cookies, fragments, hellos), and
//! IPv4/UDP checksums must verify. A second pcap, on another UDP port, holds the examples of
//! `docs/wire.md` and malformed variants of them: the heuristic must claim every frame of the
//! protocol, name the same error as the node would, and leave other UDP traffic alone.
//!
//! Needs tshark (`make setup` installs it with apt-get) and the capsules (`make capsules`).
//! Where tshark is missing and apt-get is not there to install it, the test says so and
//! passes; where apt-get is there, a missing tshark is a failure telling how to install it (set
//! `ANTS_SKIP_TSHARK=1` to skip where it cannot be installed).

use std::borrow::Cow;
use std::collections::BTreeSet;
use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use ants_emulator::CAPSULE_PORT;
use ants_router::wire::{Frame, fragment_count};
use pcap_file::pcap::{PcapHeader, PcapPacket, PcapReader, PcapWriter};
use pcap_file::{DataLink, Endianness, TsResolution};

/// The fields compared, in order: IP and UDP from Wireshark's own dissectors, then ours.
const FIELDS: &[&str] = &[
    "frame.time_epoch",
    "ip.src",
    "ip.dst",
    "ip.checksum.status",
    "udp.srcport",
    "udp.dstport",
    "udp.checksum.status",
    "ants.kind",
    "ants.algorithm",
    "ants.flags",
    "ants.fingerprint",
    "ants.budget",
    "ants.payload_len",
    "ants.source",
    "ants.source6",
    "ants.destination",
    "ants.destination6",
    "ants.previous",
    "ants.previous6",
    "ants.payload",
    "ants.request.first",
    "ants.request.mask_len",
    "ants.request.mask",
    "ants.cookie",
    "ants.fragment.module_len",
    "ants.fragment.index",
    "ants.fragment.count",
    "ants.fragment.data_len",
    "ants.hello.interval",
    "ants.hello.sequence",
    "ants.hello.route_count",
    "ants.hello.destination",
    "ants.hello.destination6",
    "ants.hello.metric",
    "ants.error",
];

/// Index of the first of our fields in [`FIELDS`].
const ANTS_FIELDS: usize = 7;

/// h1 - a1 - l1 - a2 - h2 with hellos, a lossy link and a ping that demand-loads its code hop
/// by hop: capsules, code announces, requests with and without cookie, cookies, fragments,
/// re-requests by mask and hellos all cross the links.
const TOPOLOGY: &str = r#"
name = "dissector"
seed = 3

[emulator]
duration = "3s"

[liveness]
hello_interval = "500ms"

[defaults.link]
delay = "2ms"
bandwidth = "10Mbit"

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
loss = "15%"

[[link]]
ends = ["l1", "a2"]

[[link]]
ends = ["a2", "h2"]

[[app]]
kind = "ping"
node = "h1"
to = "h2"
count = 5
interval = "400ms"
"#;

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn dissector() -> PathBuf {
    repo().join("tools/wireshark/ants.lua")
}

/// Whether tshark can run here; false (after saying why) where the test must skip.
fn tshark_available() -> bool {
    if Command::new("tshark").arg("-v").output().is_ok() {
        return true;
    }
    let apt = Command::new("apt-get").arg("--version").output().is_ok();
    if !apt {
        eprintln!(
            "SKIPPED: tshark is not installed and apt-get is not available to install it; \
             install Wireshark's tshark to run the dissector test"
        );
        return false;
    }
    if std::env::var_os("ANTS_SKIP_TSHARK").is_some() {
        eprintln!("SKIPPED: tshark is not installed and ANTS_SKIP_TSHARK is set");
        return false;
    }
    panic!(
        "tshark is not installed: run `make setup`, which installs it with \
         `DEBIAN_FRONTEND=noninteractive apt-get install -y tshark`; where it cannot be \
         installed, set ANTS_SKIP_TSHARK=1 to skip this test"
    );
}

/// tshark's rows for `pcap`: one per record, the fields of [`FIELDS`].
fn tshark(pcap: &Path) -> Vec<Vec<String>> {
    let mut command = Command::new("tshark");
    command
        .arg("-r")
        .arg(pcap)
        .arg("-X")
        .arg(format!("lua_script:{}", dissector().display()))
        .args([
            "-o",
            "ip.check_checksum:TRUE",
            "-o",
            "udp.check_checksum:TRUE",
        ])
        .args(["-T", "fields", "-E", "separator=/t", "-E", "occurrence=a"])
        .args(["-E", "aggregator=,"]);
    for f in FIELDS {
        command.args(["-e", f]);
    }
    let out = command.output().expect("tshark runs");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "tshark failed: {stderr}");
    assert!(
        !stderr.contains("Lua: Error") && !stderr.contains("lua_script"),
        "the dissector did not load: {stderr}"
    );
    String::from_utf8(out.stdout)
        .expect("utf-8")
        .lines()
        .map(|l| l.split('\t').map(str::to_string).collect())
        .collect()
}

fn ip(addr: IpAddr) -> (String, String) {
    match addr {
        IpAddr::V4(a) => (a.to_string(), String::new()),
        IpAddr::V6(a) => (String::new(), a.to_string()),
    }
}

/// What our fields must say for `frame`, as `ants_router::wire` reads it.
fn expected(frame: &[u8]) -> Vec<String> {
    let mut row = vec![String::new(); FIELDS.len() - ANTS_FIELDS];
    let mut set = |name: &str, value: String| {
        let i = FIELDS.iter().position(|f| *f == name).expect("a field") - ANTS_FIELDS;
        row[i] = value;
    };
    // The prefix, when it is there to read.
    if frame.len() >= 6 && frame[..3] == *b"AN\x01" {
        set("ants.kind", frame[3].to_string());
        set("ants.flags", format!("0x{:02x}", frame[4]));
        set("ants.algorithm", frame[5].to_string());
    }
    let frame = match Frame::parse(frame) {
        Ok(frame) => frame,
        Err(e) => {
            // Only the prefix and the error are compared for a broken frame.
            set("ants.error", e.name().to_string());
            row.iter_mut()
                .enumerate()
                .filter(|(i, _)| ![0, 1, 2].contains(i) && *i != FIELDS.len() - ANTS_FIELDS - 1)
                .for_each(|(_, v)| *v = "*".into());
            return row;
        }
    };
    match frame {
        Frame::Capsule(c) => {
            set("ants.fingerprint", hex::encode(c.fingerprint.digest()));
            set("ants.budget", c.budget.to_string());
            set("ants.payload_len", c.payload.len().to_string());
            let (v4, v6) = ip(c.source);
            set("ants.source", v4);
            set("ants.source6", v6);
            let (v4, v6) = ip(c.destination);
            set("ants.destination", v4);
            set("ants.destination6", v6);
            let (v4, v6) = ip(c.previous);
            set("ants.previous", v4);
            set("ants.previous6", v6);
            set("ants.payload", hex::encode(c.payload));
        }
        Frame::CodeRequest(r) => {
            set("ants.fingerprint", hex::encode(r.fingerprint.digest()));
            set("ants.request.first", r.first.to_string());
            set("ants.request.mask_len", r.mask.len().to_string());
            set("ants.request.mask", hex::encode(r.mask));
            set(
                "ants.cookie",
                r.cookie.map(|c| hex::encode(c.0)).unwrap_or_default(),
            );
        }
        Frame::CodeFragment(f) => {
            set("ants.fingerprint", hex::encode(f.fingerprint.digest()));
            set("ants.fragment.module_len", f.module_len.to_string());
            set("ants.fragment.index", f.index.to_string());
            set(
                "ants.fragment.count",
                fragment_count(f.module_len).to_string(),
            );
            set("ants.fragment.data_len", f.data.len().to_string());
        }
        Frame::CodeMissing(m) => set("ants.fingerprint", hex::encode(m.fingerprint.digest())),
        Frame::CodeAnnounce(a) => set("ants.fingerprint", hex::encode(a.fingerprint.digest())),
        Frame::CodeCookie(c) => {
            set("ants.fingerprint", hex::encode(c.fingerprint.digest()));
            set("ants.cookie", hex::encode(c.cookie.0));
        }
        Frame::Hello(h) => {
            set("ants.hello.interval", h.interval_ms.to_string());
            set("ants.hello.sequence", h.sequence.to_string());
            let routes: Vec<(IpAddr, u8)> = h.routes().collect();
            set("ants.hello.route_count", routes.len().to_string());
            let join = |v6: bool| {
                routes
                    .iter()
                    .filter(|(a, _)| a.is_ipv6() == v6)
                    .map(|(a, _)| a.to_string())
                    .collect::<Vec<_>>()
                    .join(",")
            };
            set("ants.hello.destination", join(false));
            set("ants.hello.destination6", join(true));
            let metrics: Vec<String> = routes.iter().map(|(_, m)| m.to_string()).collect();
            set("ants.hello.metric", metrics.join(","));
        }
    }
    row
}

/// Compares tshark's row with the expectation (`*` matches anything).
fn check_row(file: &str, number: usize, got: &[String], want_ip: &[String], want: &[String]) {
    let got_ip = &got[..ANTS_FIELDS];
    let got_ants = &got[ANTS_FIELDS..];
    for (i, (g, w)) in got_ip.iter().zip(want_ip).enumerate() {
        assert!(
            w == "*" || g == w,
            "{file} #{number}: {} is {g:?}, the emulator sent {w:?}",
            FIELDS[i]
        );
    }
    for (i, (g, w)) in got_ants.iter().zip(want).enumerate() {
        assert!(
            w == "*" || g == w,
            "{file} #{number}: {} is {g:?}, expected {w:?}",
            FIELDS[ANTS_FIELDS + i]
        );
    }
}

/// The records of a pcap: (timestamp, IPv4/UDP datagram).
fn records(path: &Path) -> Vec<(Duration, Vec<u8>)> {
    let bytes = std::fs::read(path).expect("pcap file");
    let mut reader = PcapReader::new(&bytes[..]).expect("a pcap");
    let mut out = Vec::new();
    while let Some(p) = reader.next_packet() {
        let p = p.expect("record");
        out.push((p.timestamp, p.data.into_owned()));
    }
    out
}

#[test]
fn tshark_decodes_the_emulators_pcaps_as_the_emulator_sent_them() {
    if !tshark_available() {
        return;
    }
    let dir = tempfile::tempdir().expect("tempdir");
    let file = dir.path().join("dissector.toml");
    std::fs::write(&file, TOPOLOGY).expect("topology file");
    let out_dir = dir.path().join("pcap");
    let out = Command::new(env!("CARGO_BIN_EXE_ants-topo"))
        .arg("emulate")
        .arg(&file)
        .arg("--capsules")
        .arg(repo().join("capsules/target/wasm32-unknown-unknown/release"))
        .arg("--pcap")
        .arg(&out_dir)
        .output()
        .expect("ants-topo runs");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(stdout.contains("a1--l1.pcap: "), "{stdout}");

    let mut kinds = BTreeSet::new();
    let (mut with_cookie, mut without_cookie, mut masks) = (0, 0, 0);
    let mut total = 0;
    for name in ["h1--a1", "a1--l1", "l1--a2", "a2--h2"] {
        let path = out_dir.join(format!("{name}.pcap"));
        let records = records(&path);
        let rows = tshark(&path);
        assert_eq!(rows.len(), records.len(), "{name}: one row per datagram");
        assert!(!records.is_empty(), "{name} carried traffic");
        for (n, ((at, datagram), row)) in records.iter().zip(&rows).enumerate() {
            let frame = &datagram[28..];
            let src =
                std::net::Ipv4Addr::from([datagram[12], datagram[13], datagram[14], datagram[15]]);
            let dst =
                std::net::Ipv4Addr::from([datagram[16], datagram[17], datagram[18], datagram[19]]);
            let want_ip = [
                format!("{}.{:09}", at.as_secs(), at.subsec_nanos()),
                src.to_string(),
                dst.to_string(),
                "1".to_string(), // checksum good
                CAPSULE_PORT.to_string(),
                CAPSULE_PORT.to_string(),
                "1".to_string(),
            ];
            let want = expected(frame);
            assert_eq!(
                want.last().map(String::as_str),
                Some(""),
                "the emulator sends valid frames"
            );
            check_row(name, n + 1, row, &want_ip, &want);
            kinds.insert(frame[3]);
            if frame[3] == 2 {
                if frame[4] & 1 == 1 {
                    with_cookie += 1;
                } else {
                    without_cookie += 1;
                }
                if frame[10..12] != [0, 0] {
                    masks += 1;
                }
            }
            total += 1;
        }
    }
    for kind in [1u8, 2, 3, 5, 6, 7] {
        assert!(
            kinds.contains(&kind),
            "kind {kind} crossed a link: {kinds:?}"
        );
    }
    assert!(
        with_cookie > 0 && without_cookie > 0,
        "requests with and without cookie"
    );
    eprintln!(
        "decoded {total} datagrams: kinds {kinds:?}, {without_cookie} requests without cookie, \
         {with_cookie} with, {masks} by mask"
    );
}

/// The hex examples of `docs/wire.md`, valid and invalid, by name.
fn doc_examples() -> Vec<(String, Vec<u8>)> {
    let doc = std::fs::read_to_string(repo().join("docs/wire.md")).expect("docs/wire.md");
    let mut examples = Vec::new();
    let mut lines = doc.lines();
    while let Some(line) = lines.next() {
        let line = line.trim();
        let Some(rest) = line
            .strip_prefix("<!-- example:")
            .or_else(|| line.strip_prefix("<!-- invalid-example:"))
        else {
            continue;
        };
        let name = rest.trim_end_matches("-->").trim().to_string();
        assert_eq!(lines.next().map(str::trim), Some("```hex"), "{name}");
        let mut digits = String::new();
        for line in lines.by_ref() {
            if line.trim() == "```" {
                break;
            }
            let data = line.split('#').next().unwrap_or("");
            digits.extend(data.chars().filter(|c| !c.is_whitespace()));
        }
        examples.push((name, hex::decode(&digits).expect("hex")));
    }
    examples
}

/// Broken variants of a valid frame: cut short, one byte too many, each header byte changed.
fn variants(frame: &[u8]) -> Vec<Vec<u8>> {
    let mut out = Vec::new();
    for cut in [5, 7, 11, 12, 17, 20, 30, frame.len() - 1] {
        if cut < frame.len() {
            out.push(frame[..cut].to_vec());
        }
    }
    let mut longer = frame.to_vec();
    longer.push(0);
    out.push(longer);
    for i in 0..frame.len().min(20) {
        for value in [0x00, 0x01, 0x02, 0x07, 0x10, 0xff] {
            if frame[i] != value {
                let mut v = frame.to_vec();
                v[i] = value;
                out.push(v);
            }
        }
    }
    out
}

#[test]
fn the_heuristic_decodes_the_wire_examples_on_any_port_with_the_nodes_errors() {
    if !tshark_available() {
        return;
    }
    let port = 40000u16;
    let mut frames: Vec<(String, Vec<u8>)> = Vec::new();
    for (name, bytes) in doc_examples() {
        for (i, v) in variants(&bytes).into_iter().enumerate() {
            frames.push((format!("{name} variant {i}"), v));
        }
        frames.push((name, bytes));
    }
    // Other UDP traffic on the same port: never claimed.
    frames.push(("not ours".into(), b"GET / HTTP/1.0\r\n\r\n".to_vec()));
    frames.push(("other magic".into(), b"AB\x01\x01\x00\x01".to_vec()));

    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("examples.pcap");
    let header = PcapHeader {
        datalink: DataLink::RAW,
        ts_resolution: TsResolution::NanoSecond,
        endianness: Endianness::Big,
        ..PcapHeader::default()
    };
    let mut writer = PcapWriter::with_header(Vec::new(), header).expect("pcap");
    let (a, b) = (
        "192.0.2.1".parse().unwrap(),
        "198.51.100.7".parse().unwrap(),
    );
    for (i, (_, frame)) in frames.iter().enumerate() {
        let mut datagram = Vec::new();
        ants_emulator::pcap::ipv4_udp(&mut datagram, a, b, frame);
        // Another port, and no UDP checksum (0 is "none" over IPv4).
        datagram[20..22].copy_from_slice(&port.to_be_bytes());
        datagram[22..24].copy_from_slice(&(port + 1).to_be_bytes());
        datagram[26..28].copy_from_slice(&[0, 0]);
        let packet = PcapPacket {
            timestamp: Duration::from_millis(i as u64),
            orig_len: datagram.len() as u32,
            data: Cow::Owned(datagram),
        };
        writer.write_packet(&packet).expect("record");
    }
    std::fs::write(&path, writer.into_writer()).expect("write pcap");

    let rows = tshark(&path);
    assert_eq!(rows.len(), frames.len());
    let (mut valid, mut invalid) = (0, 0);
    for (n, ((name, frame), row)) in frames.iter().zip(&rows).enumerate() {
        let ours = frame.len() >= 6 && frame[..3] == *b"AN\x01" && (1..=7).contains(&frame[3]);
        if !ours {
            assert!(
                row[ANTS_FIELDS..].iter().all(String::is_empty),
                "{name}: not claimed by the heuristic: {row:?}"
            );
            continue;
        }
        let want = expected(frame);
        if want.last().is_some_and(|e| e.is_empty()) {
            valid += 1;
        } else {
            invalid += 1;
        }
        let want_ip = vec!["*".to_string(); ANTS_FIELDS];
        check_row(&format!("examples ({name})"), n + 1, row, &want_ip, &want);
    }
    assert!(
        valid >= 10 && invalid >= 100,
        "{valid} valid, {invalid} invalid frames"
    );
    eprintln!("decoded {valid} valid and {invalid} broken frames like the node");
}
