//! The daemon's pcap log: every datagram the driver receives on or sends from its UDP socket,
//! written to one classic pcap file when the configuration says `pcap = "path"` (off by
//! default).
//!
//! Each record is the datagram as an IP packet (link type raw IP, `LINKTYPE_RAW`, 101): an
//! IPv4 or IPv6 header and a UDP header with correct lengths and checksums, the socket
//! addresses the datagram had (for received datagrams the sender's and the bound socket's,
//! with the node address in place of an unspecified bound address; for sent ones the
//! reverse), then the frame. Timestamps are the system
//! clock's, in microseconds. A segmented send is written as the datagrams it stands for.
//!
//! The file is buffered: it is written at least once a second while datagrams flow, and in
//! full when the daemon stops.
//!
//! Bound: the file holds at most `pcap_max_bytes` (headers included). The first datagram that
//! would pass it stops the log, with one warning naming the file and the bound; a write error
//! also stops it, with one warning. Neither ever stops the router.

use std::borrow::Cow;
use std::fs::File;
use std::io::{self, BufWriter, Write};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use pcap_file::pcap::{PcapHeader, PcapPacket, PcapWriter};
use pcap_file::{DataLink, TsResolution};

/// Bytes of the pcap file header.
const FILE_HEADER: u64 = 24;
/// Bytes of each record header.
const RECORD_HEADER: u64 = 16;
/// Longest the file lags behind while datagrams flow.
const FLUSH_EVERY: Duration = Duration::from_secs(1);

/// The pcap log of one driver. See the module docs.
pub(crate) struct PcapLog {
    path: PathBuf,
    /// This end of every datagram.
    local: SocketAddr,
    writer: Option<PcapWriter<TimedFlush>>,
    max_bytes: u64,
    written: u64,
    /// Datagrams written.
    pub(crate) packets: u64,
    scratch: Vec<u8>,
}

impl PcapLog {
    /// Creates (or truncates) the file at `path` and writes its header.
    pub(crate) fn create(path: &Path, max_bytes: u64, local: SocketAddr) -> io::Result<PcapLog> {
        let file = TimedFlush {
            inner: BufWriter::new(File::create(path)?),
            last_flush: Instant::now(),
        };
        let header = PcapHeader {
            datalink: DataLink::RAW,
            ts_resolution: TsResolution::MicroSecond,
            ..PcapHeader::default()
        };
        let writer = PcapWriter::with_header(file, header).map_err(io::Error::other)?;
        Ok(PcapLog {
            path: path.to_path_buf(),
            local,
            writer: Some(writer),
            max_bytes,
            written: FILE_HEADER,
            packets: 0,
            scratch: Vec::new(),
        })
    }

    /// Logs a datagram received from `from`.
    pub(crate) fn received(&mut self, from: SocketAddr, frame: &[u8]) {
        self.record(from, self.local, frame);
    }

    /// Logs a datagram sent to `to`.
    pub(crate) fn sent(&mut self, to: SocketAddr, frame: &[u8]) {
        self.record(self.local, to, frame);
    }

    /// Logs one datagram from `src` to `dst` carrying `frame`.
    fn record(&mut self, src: SocketAddr, dst: SocketAddr, frame: &[u8]) {
        let Some(writer) = self.writer.as_mut() else {
            return;
        };
        self.scratch.clear();
        if !ants_router::ip_packet::udp_packet(&mut self.scratch, src, dst, 0, frame) {
            return;
        }
        let size = RECORD_HEADER + self.scratch.len() as u64;
        if self.written + size > self.max_bytes {
            tracing::warn!(
                file = %self.path.display(),
                max_bytes = self.max_bytes,
                datagrams = self.packets,
                "the pcap file reached pcap_max_bytes: later datagrams are not written \
                 (raise pcap_max_bytes to capture more)"
            );
            self.close();
            return;
        }
        let timestamp = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap_or_default();
        let packet = PcapPacket {
            timestamp,
            orig_len: self.scratch.len() as u32,
            data: Cow::Borrowed(&self.scratch),
        };
        match writer.write_packet(&packet) {
            Ok(_) => {
                self.written += size;
                self.packets += 1;
            }
            Err(e) => {
                tracing::warn!(file = %self.path.display(), "pcap log stopped: {e}");
                self.writer = None;
            }
        }
    }

    fn close(&mut self) {
        // Dropping the writer flushes what is buffered.
        self.writer = None;
    }
}

/// The file under the pcap writer: buffered, and flushed when a write comes more than a
/// second after the last flush (and on drop), so the file stays close to current while
/// datagrams flow without a system call per datagram.
struct TimedFlush {
    inner: BufWriter<File>,
    last_flush: Instant,
}

impl Write for TimedFlush {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let n = self.inner.write(buf)?;
        if self.last_flush.elapsed() >= FLUSH_EVERY {
            self.inner.flush()?;
            self.last_flush = Instant::now();
        }
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}
