//! pcap capture of the emulated links: one file per link, holding every datagram put on that
//! link (both directions), framed as the IPv4/UDP datagram it stands for.
//!
//! Off by default ([`Emulator::record_pcap`] turns it on); the event loop then hands each
//! datagram to [`PcapCapture::record`] when it enters a link: when it is offered to a link
//! without a bandwidth, when its last bit leaves on a link with one. Datagrams lost on the link
//! are in the file (loss happens on the wire, after the capture point); datagrams dropped at a
//! full queue never reached the wire and are not. The file's count of a link is therefore the
//! sum of its two directions' `packets` counters ([`crate::DirectionStats`]).
//!
//! Framing: link type raw IP (`LINKTYPE_RAW`, 101), no Ethernet header. Each record is a
//! 20-byte IPv4 header (no options, don't-fragment set, TTL 64, correct header checksum and
//! total length; the identification is a hash of the datagram, so the same datagram keeps it
//! across the IP routers it crosses), an 8-byte UDP header (source and destination port
//! [`CAPSULE_PORT`], correct length and checksum) and the frame. Addresses are the emulated
//! nodes' node addresses. Timestamps are virtual time since the start of the run with
//! nanosecond resolution (tools that print dates show 1970-01-01). The files are written
//! big-endian whatever the host, so the same topology and seed give the same bytes.
//!
//! Bound: the files are kept in memory until [`write_files`] and together hold at
//! most the limit given to [`Emulator::record_pcap`] (headers included). The first datagram
//! that would pass it stops the capture for every link: the files then hold everything up to
//! [`PcapCapture::limit_reached_at`], and [`PcapCapture::not_written`] counts what came after.
//!
//! It never decides anything about a datagram: it only copies what the links carry.

use std::borrow::Cow;
use std::fmt;
use std::net::{Ipv4Addr, SocketAddr};
use std::path::{Path, PathBuf};
use std::time::Duration;

use ants_router::time::Timestamp;
use ants_topology::model::{LinkId, Topology};
use pcap_file::pcap::{PcapHeader, PcapPacket, PcapWriter};
use pcap_file::{DataLink, Endianness, TsResolution};

#[cfg(doc)]
use crate::Emulator;

/// The UDP port capsules travel on: the daemon's default (`ants_daemon::config::DEFAULT_PORT`),
/// used as source and destination port of every captured datagram.
pub const CAPSULE_PORT: u16 = 3322;

/// The default bound on the bytes of all of a run's pcap files together: 64 MiB.
pub const DEFAULT_PCAP_LIMIT: u64 = 64 * 1024 * 1024;

/// Bytes of the pcap file header.
pub const PCAP_FILE_HEADER_LEN: u64 = 24;

/// Bytes of each pcap record header (before the captured datagram).
pub const PCAP_RECORD_HEADER_LEN: u64 = 16;

/// Bytes of the IPv4 and UDP headers in front of each frame.
pub const IPV4_UDP_HEADER_LEN: usize = 28;

/// The largest frame an IPv4 datagram can carry (its total length is a 16-bit field).
pub const MAX_FRAME_LEN: usize = u16::MAX as usize - IPV4_UDP_HEADER_LEN;

/// Writing the pcap files failed.
#[derive(Debug, thiserror::Error)]
pub enum PcapError {
    /// The directory could not be created.
    #[error("cannot create the pcap directory {}: {source}", dir.display())]
    CreateDir {
        /// The directory.
        dir: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// A file could not be written.
    #[error("cannot write the pcap file {}: {source}", path.display())]
    Write {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
}

/// One link's capture.
struct LinkCapture {
    /// File name, from the link's ends: `a1--l1.pcap`.
    file_name: String,
    /// The file so far (header and records).
    writer: PcapWriter<Vec<u8>>,
    /// Datagrams in it.
    packets: u64,
}

/// One link's pcap file, as [`PcapCapture::into_files`] gives it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PcapFile {
    /// The link.
    pub link: LinkId,
    /// File name, from the link's ends (`a1--l1.pcap`).
    pub file_name: String,
    /// Datagrams in the file.
    pub packets: u64,
    /// The file's bytes.
    pub bytes: Vec<u8>,
}

/// The pcap capture of a run's links. See the module docs.
pub struct PcapCapture {
    links: Vec<LinkCapture>,
    /// Node address of each node.
    addresses: Vec<Ipv4Addr>,
    limit: u64,
    written: u64,
    limit_reached_at: Option<Timestamp>,
    not_written: u64,
    too_long: u64,
    /// Reused for each record.
    scratch: Vec<u8>,
}

impl fmt::Debug for PcapCapture {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PcapCapture")
            .field("links", &self.links.len())
            .field("limit", &self.limit)
            .field("written", &self.written)
            .field("limit_reached_at", &self.limit_reached_at)
            .field("not_written", &self.not_written)
            .finish()
    }
}

fn header() -> PcapHeader {
    PcapHeader {
        version_major: 2,
        version_minor: 4,
        ts_correction: 0,
        ts_accuracy: 0,
        snaplen: u32::from(u16::MAX),
        datalink: DataLink::RAW,
        ts_resolution: TsResolution::NanoSecond,
        endianness: Endianness::Big,
    }
}

/// A file name part from a node name: letters, digits, `.`, `_` and `-` kept, anything else `_`.
fn file_part(name: &str) -> String {
    name.chars()
        .map(|c| match c {
            'a'..='z' | 'A'..='Z' | '0'..='9' | '.' | '_' | '-' => c,
            _ => '_',
        })
        .collect()
}

impl PcapCapture {
    /// An empty capture of every link of `topology`, bounded to `limit` bytes in all.
    pub fn new(topology: &Topology, limit: u64) -> PcapCapture {
        let mut links: Vec<LinkCapture> = Vec::with_capacity(topology.links.len());
        for link in &topology.links {
            let stem = format!(
                "{}--{}",
                file_part(&topology.nodes[link.a].name),
                file_part(&topology.nodes[link.b].name)
            );
            // Parallel links between the same two nodes get a suffix.
            let mut file_name = format!("{stem}.pcap");
            let mut n = 2;
            while links.iter().any(|l| l.file_name == file_name) {
                file_name = format!("{stem}-{n}.pcap");
                n += 1;
            }
            // Writing to a vector cannot fail.
            let writer = PcapWriter::with_header(Vec::new(), header())
                .unwrap_or_else(|_| unreachable!("writing to a Vec cannot fail"));
            links.push(LinkCapture {
                file_name,
                writer,
                packets: 0,
            });
        }
        let written = PCAP_FILE_HEADER_LEN * links.len() as u64;
        PcapCapture {
            links,
            addresses: topology.nodes.iter().map(|n| n.address).collect(),
            limit,
            written,
            limit_reached_at: None,
            not_written: 0,
            too_long: 0,
            scratch: Vec::new(),
        }
    }

    /// Records a datagram from node `src` to node `dst` entering `link` at `at`.
    pub fn record(&mut self, link: LinkId, at: Timestamp, src: usize, dst: usize, frame: &[u8]) {
        if self.limit_reached_at.is_some() {
            self.not_written += 1;
            return;
        }
        if frame.len() > MAX_FRAME_LEN {
            self.too_long += 1;
            return;
        }
        let (Some(capture), Some(&src), Some(&dst)) = (
            self.links.get_mut(link),
            self.addresses.get(src),
            self.addresses.get(dst),
        ) else {
            return;
        };
        let size = PCAP_RECORD_HEADER_LEN + (IPV4_UDP_HEADER_LEN + frame.len()) as u64;
        if self.written + size > self.limit {
            self.limit_reached_at = Some(at);
            self.not_written += 1;
            return;
        }
        self.scratch.clear();
        ipv4_udp(&mut self.scratch, src, dst, frame);
        let len = self.scratch.len() as u32;
        let packet = PcapPacket {
            timestamp: Duration::from_nanos(at.as_nanos()),
            orig_len: len,
            data: Cow::Borrowed(&self.scratch),
        };
        // Writing to a vector cannot fail, and the record is within the snap length.
        if capture.writer.write_packet(&packet).is_ok() {
            capture.packets += 1;
            self.written += size;
        }
    }

    /// The files, one per link in the topology's link order.
    pub fn into_files(self) -> Vec<PcapFile> {
        self.links
            .into_iter()
            .enumerate()
            .map(|(link, c)| PcapFile {
                link,
                file_name: c.file_name,
                packets: c.packets,
                bytes: c.writer.into_writer(),
            })
            .collect()
    }

    /// Datagrams in each link's file so far, in link order.
    pub fn packets_per_link(&self) -> Vec<u64> {
        self.links.iter().map(|l| l.packets).collect()
    }

    /// The bound on the bytes of all files together.
    pub fn limit(&self) -> u64 {
        self.limit
    }

    /// Bytes of all files together so far.
    pub fn bytes(&self) -> u64 {
        self.written
    }

    /// Datagrams in all files together.
    pub fn packets(&self) -> u64 {
        self.links.iter().map(|l| l.packets).sum()
    }

    /// When the limit was reached (the capture stopped then), if it was.
    pub fn limit_reached_at(&self) -> Option<Timestamp> {
        self.limit_reached_at
    }

    /// Datagrams not written because the limit had been reached.
    pub fn not_written(&self) -> u64 {
        self.not_written
    }

    /// Datagrams not written because an IPv4 datagram cannot hold their frame
    /// (longer than [`MAX_FRAME_LEN`]).
    pub fn too_long(&self) -> u64 {
        self.too_long
    }

    /// A line saying that the limit was reached and what to do, if it was.
    pub fn limit_message(&self) -> Option<String> {
        let at = self.limit_reached_at?;
        Some(format!(
            "pcap limit of {} bytes reached at {:.6} s of virtual time: the files hold every \
             datagram before then, and {} later datagrams were not written; raise the limit \
             to capture more",
            self.limit,
            at.as_nanos() as f64 / 1e9,
            self.not_written
        ))
    }
}

/// Writes `files` into `dir` (created if missing); returns their paths, in order.
pub fn write_files(dir: &Path, files: &[PcapFile]) -> Result<Vec<PathBuf>, PcapError> {
    std::fs::create_dir_all(dir).map_err(|source| PcapError::CreateDir {
        dir: dir.to_path_buf(),
        source,
    })?;
    let mut paths = Vec::with_capacity(files.len());
    for file in files {
        let path = dir.join(&file.file_name);
        std::fs::write(&path, &file.bytes).map_err(|source| PcapError::Write {
            path: path.clone(),
            source,
        })?;
        paths.push(path);
    }
    Ok(paths)
}

/// Appends to `out` the IPv4/UDP datagram carrying `frame` from `src` to `dst`, both ports
/// [`CAPSULE_PORT`]: header checksum, lengths and UDP checksum filled in. `frame` must be at
/// most [`MAX_FRAME_LEN`] bytes (longer frames are cut there).
pub fn ipv4_udp(out: &mut Vec<u8>, src: Ipv4Addr, dst: Ipv4Addr, frame: &[u8]) {
    let frame = &frame[..frame.len().min(MAX_FRAME_LEN)];
    let ident = identification(src, dst, frame);
    let (src, dst) = (
        SocketAddr::from((src, CAPSULE_PORT)),
        SocketAddr::from((dst, CAPSULE_PORT)),
    );
    // Within MAX_FRAME_LEN an IPv4 packet always fits.
    let framed = ants_router::ip_packet::udp_packet(out, src, dst, ident, frame);
    debug_assert!(framed);
}

/// The IPv4 identification of a datagram: FNV-1a of its addresses and frame, folded to 16
/// bits (deterministic, and the same on every link the datagram crosses unchanged).
fn identification(src: Ipv4Addr, dst: Ipv4Addr, frame: &[u8]) -> u16 {
    let mut h: u32 = 0x811c_9dc5;
    for b in src.octets().iter().chain(&dst.octets()).chain(frame) {
        h ^= u32::from(*b);
        h = h.wrapping_mul(0x0100_0193);
    }
    ((h >> 16) ^ (h & 0xffff)) as u16
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn datagrams_are_framed_as_ipv4_udp_on_the_capsule_port() {
        // The checksums themselves are `ants_router::ip_packet`'s (tested there).
        let mut out = Vec::new();
        let frame = b"AN\x01\x07\x00\x01\x01\xf4\x00\x00\x00\x2a\x00\x00\x00\x00x";
        ipv4_udp(
            &mut out,
            Ipv4Addr::new(10, 0, 0, 1),
            Ipv4Addr::new(10, 0, 0, 2),
            frame,
        );
        assert_eq!(out.len(), 28 + frame.len());
        assert_eq!(u16::from_be_bytes([out[2], out[3]]) as usize, out.len());
        assert_eq!(&out[20..22], &CAPSULE_PORT.to_be_bytes());
        assert_eq!(&out[22..24], &CAPSULE_PORT.to_be_bytes());
        assert_eq!(&out[28..], frame);
    }

    #[test]
    fn file_names_keep_safe_characters() {
        assert_eq!(file_part("a1"), "a1");
        assert_eq!(file_part("core/x y"), "core_x_y");
    }
}
