//! The router over real UDP sockets: relay throughput on loopback against a plain UDP relay
//! built with the same socket code (and Linux kernel IP forwarding between network namespaces
//! as the physical reference), and the latency of the first capsule of a protocol crossing four
//! active hops that must demand-load and compile its code, against the same capsule once every
//! hop has it cached.
//!
//! Run with `cargo bench -p ants-daemon --bench relay` after `make capsules` (about 35 s).
//! Results and how to read them: docs/benchmarks.md. `-- --quick` runs a short version (one
//! 0.3 s window per relay, no kernel reference, one chain) to check the set-up in seconds.
//! Under `cargo test` (no `--bench` argument: debug build, where compiling a module alone
//! takes a second) it only says so and exits.
//!
//! Traffic goes only to 127.0.0.1 and, for the kernel reference, to 10.x addresses inside
//! network namespaces this binary creates and removes again (also when a step fails).

use std::fs::File;
use std::io;
use std::net::{IpAddr, SocketAddr, UdpSocket as StdUdpSocket};
use std::os::fd::AsRawFd;
use std::path::Path;
use std::process::Command;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

mod support;

use support::RunningDriver;

use ants_daemon::app::Client;
use ants_daemon::config::ConfigWriter;
use ants_daemon::driver::RECV_BATCHES;
use ants_daemon::driver::udp::UdpIo;
use ants_router::fingerprint::Fingerprint;
use ants_router::routing::{NextHop, Route};
use ants_router::sandbox::{NodeContext, Sandbox, SandboxLimits};
use ants_router::wire::CapsuleRepr;
use socket2::{Domain, Protocol, Socket, Type};
use tokio::sync::mpsc;
use tracing::field::{Field, Visit};
use tracing::subscriber::Interest as CallsiteInterest;
use tracing::{Metadata, Subscriber};
use tracing_subscriber::layer::{self, Layer, SubscriberExt};

const FORWARD_WASM: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../../capsules/target/wasm32-unknown-unknown/release/capsule_forward.wasm"
);

/// Capsule payload of every measurement.
const PAYLOAD: usize = 64;
/// Budget of the relayed capsules: far more than the hops they cross.
const BUDGET: u16 = 1000;
/// The forward capsule delivers on this port at the destination.
const DELIVERY_PORT: u16 = 1;
/// Kernel socket buffers of both relays: the driver's defaults (`DriverLimits`).
const RELAY_BUFFER: usize = 4 * 1024 * 1024;
/// The sink's receive buffer, larger so that it is never the one that drops.
const SINK_BUFFER: usize = 8 * 1024 * 1024;

/// Node addresses of the relay measurement. Only names: every datagram goes to 127.0.0.1.
const RELAY_NODE: &str = "127.0.2.1";
const GENERATOR_NODE: &str = "127.0.2.8";
const SINK_NODE: &str = "127.0.2.9";
/// Node addresses of the chain, source first.
const CHAIN: [&str; 5] = [
    "127.0.3.1",
    "127.0.3.2",
    "127.0.3.3",
    "127.0.3.4",
    "127.0.3.5",
];

/// CPU of the relay under test; the generator and the sink share the other one.
const RELAY_CPU: usize = 1;
const TRAFFIC_CPU: usize = 0;

/// How long and how often each part runs.
struct Settings {
    /// Measured window of one relay run.
    window: Duration,
    /// Time the generator runs before the window opens (queues fill, caches warm).
    settle: Duration,
    /// Runs of each relay kind, interleaved.
    runs: usize,
    /// Fresh five-router chains, each with one first capsule.
    chains: usize,
    /// Cached capsules timed per chain after the first.
    cached: usize,
    /// Whether to measure kernel forwarding between namespaces.
    kernel: bool,
}

const BENCH: Settings = Settings {
    window: Duration::from_secs(3),
    settle: Duration::from_millis(500),
    runs: 3,
    chains: 5,
    cached: 50,
    kernel: true,
};

/// A check of the set-up, not a measurement: with windows this short, the relay's socket
/// buffer (thousands of datagrams) still skews the rates.
const QUICK: Settings = Settings {
    window: Duration::from_millis(300),
    settle: Duration::from_millis(300),
    runs: 1,
    chains: 1,
    cached: 2,
    kernel: false,
};

fn main() {
    if !std::env::args().any(|a| a == "--bench") {
        println!(
            "relay: a benchmark, not run by `cargo test`; run `cargo bench -p ants-daemon --bench relay`"
        );
        return;
    }
    let settings = if std::env::args().any(|a| a == "--quick") {
        &QUICK
    } else {
        &BENCH
    };
    let wasm = std::fs::read(FORWARD_WASM)
        .unwrap_or_else(|e| panic!("{FORWARD_WASM}: {e}; run `make capsules` first"));
    let fingerprint = Fingerprint::sha256(&wasm);
    let started = Instant::now();
    let pinned = pinning_possible();
    enter_thread_context(None, None);
    // Without it the chain report lacks the per-hop compile times, nothing else.
    let _ = tracing::subscriber::set_global_default(tracing_subscriber::registry().with(Recorder));

    let relay = relay_throughput(settings, fingerprint, pinned);
    let chain = first_capsule_latency(settings, &wasm, fingerprint);
    print_relay(settings, &relay, pinned, &wasm);
    print_chain(settings, &chain, &wasm);
    println!("\ntotal run time {:.1} s", started.elapsed().as_secs_f64());
}

// ---------------------------------------------------------------------------------------------
// Relay throughput

/// One measured window of one relay.
struct RelayRun {
    /// Datagrams per second the generator offered during the window.
    offered: f64,
    /// Datagrams per second the sink received during the window.
    pps: f64,
    /// Datagrams the sink received over the whole run (must be > 0).
    relayed: u64,
}

struct RelayResults {
    plain: Vec<RelayRun>,
    router: Vec<RelayRun>,
    /// Router counters summed over its runs: datagrams received, sent, node drops, send errors.
    router_counts: (u64, u64, u64, u64),
    /// Ok(runs) or why the kernel reference was not measured.
    kernel: Result<Vec<RelayRun>, String>,
    frame_len: usize,
}

fn relay_throughput(settings: &Settings, fingerprint: Fingerprint, pinned: bool) -> RelayResults {
    let gen_node: IpAddr = GENERATOR_NODE.parse().unwrap();
    let sink_node: IpAddr = SINK_NODE.parse().unwrap();
    // A few distinct frames (sequence number in the payload), encoded once.
    let frames: Arc<Vec<Vec<u8>>> = Arc::new(
        (0u32..16)
            .map(|seq| capsule_frame(fingerprint, gen_node, sink_node, seq))
            .collect(),
    );
    let frame_len = frames[0].len();
    let mut results = RelayResults {
        plain: Vec::new(),
        router: Vec::new(),
        router_counts: (0, 0, 0, 0),
        kernel: Err("skipped (--quick)".into()),
        frame_len,
    };
    let cpu = |c: usize| pinned.then_some(c);
    // Interleaved, so that drift in the machine's load hits both kinds alike.
    for _ in 0..settings.runs {
        let sink = Sink::start(
            "127.0.0.1:0".parse().unwrap(),
            None,
            cpu(TRAFFIC_CPU),
            frame_len,
        );
        let relay = PlainRelay::start(sink.addr, cpu(RELAY_CPU));
        results.plain.push(measure(
            settings,
            &frames,
            relay.addr,
            None,
            cpu(TRAFFIC_CPU),
            &sink,
        ));
        relay.stop();
        sink.stop();

        let sink = Sink::start(
            "127.0.0.1:0".parse().unwrap(),
            None,
            cpu(TRAFFIC_CPU),
            frame_len,
        );
        let dir = tempfile::tempdir().expect("temporary directory");
        let sink_node: IpAddr = SINK_NODE.parse().expect("sink address");
        let config = ConfigWriter::new(RELAY_NODE.parse().expect("relay address"))
            .listen("127.0.0.1:0".parse().expect("listen"))
            .app_socket(dir.path().join("relay.sock"))
            .pin(FORWARD_WASM)
            .neighbour(sink_node, sink.addr)
            .route(sink_node, 32, sink_node)
            .to_toml();
        let router = RunningDriver::start("router", &config, dir.path(), {
            let cpu = cpu(RELAY_CPU);
            move || enter_thread_context(None, cpu)
        });
        warm_up(&router, &frames[0], &sink);
        results.router.push(measure(
            settings,
            &frames,
            router.addr,
            None,
            cpu(TRAFFIC_CPU),
            &sink,
        ));
        let summary = router
            .stop(Duration::from_secs(30))
            .expect("the router stops");
        sink.stop();
        let c = &mut results.router_counts;
        c.0 += summary.driver.datagrams_received;
        c.1 += summary.driver.datagrams_sent;
        c.2 += summary.node.drops.total();
        c.3 += summary.driver.send_errors;
    }
    if settings.kernel {
        results.kernel = kernel_forwarding(settings, &frames, pinned);
    }
    results
}

/// Sends a capsule every few milliseconds until the sink has seen ten: the pinned code is
/// compiled and the relay's first instance exists before the measurement starts.
fn warm_up(router: &RunningDriver, frame: &[u8], sink: &Sink) {
    let socket = StdUdpSocket::bind("127.0.0.1:0").expect("warm-up socket");
    let deadline = Instant::now() + Duration::from_secs(10);
    while sink.count() < 10 {
        assert!(
            Instant::now() < deadline,
            "the router relayed no capsule within 10 s"
        );
        let _ = socket.send_to(frame, router.addr);
        thread::sleep(Duration::from_millis(5));
    }
}

/// Runs the generator toward `target` and measures the sink's rate over one window.
fn measure(
    settings: &Settings,
    frames: &Arc<Vec<Vec<u8>>>,
    target: SocketAddr,
    netns: Option<&str>,
    cpu: Option<usize>,
    sink: &Sink,
) -> RelayRun {
    let generator = Generator::start(Arc::clone(frames), target, netns, cpu);
    thread::sleep(settings.settle);
    let (s0, g0, t0) = (sink.count(), generator.count(), Instant::now());
    thread::sleep(settings.window);
    let (s1, g1, t1) = (sink.count(), generator.count(), Instant::now());
    generator.stop();
    // Let the relay's queue drain before the sink's total is read.
    thread::sleep(Duration::from_millis(50));
    let secs = (t1 - t0).as_secs_f64();
    RelayRun {
        offered: (g1 - g0) as f64 / secs,
        pps: (s1 - s0) as f64 / secs,
        relayed: sink.count(),
    }
}

/// One encoded forward capsule from the generator's node to the sink's node.
fn capsule_frame(fingerprint: Fingerprint, from: IpAddr, to: IpAddr, seq: u32) -> Vec<u8> {
    let mut payload = [0u8; PAYLOAD];
    payload[..4].copy_from_slice(&seq.to_be_bytes());
    CapsuleRepr {
        fingerprint,
        source: from,
        destination: to,
        previous: from,
        budget: BUDGET,
        payload: &payload,
    }
    .to_vec()
    .expect("a 64-byte capsule encodes")
}

/// Datagrams per generator system call.
const GENERATOR_BATCH: usize = 64;

/// A thread that sends the frames round-robin as fast as the socket takes them, 64 per
/// `sendmmsg` call so that the generator, which shares its CPU with the sink, outruns every
/// relay. Each frame is its own datagram all the way (no segmentation offload), so the relay
/// under test receives datagrams one by one, as from many senders on a network.
struct Generator {
    stop: Arc<AtomicBool>,
    sent: Arc<AtomicU64>,
    thread: JoinHandle<()>,
}

impl Generator {
    fn start(
        frames: Arc<Vec<Vec<u8>>>,
        target: SocketAddr,
        netns: Option<&str>,
        cpu: Option<usize>,
    ) -> Generator {
        let stop = Arc::new(AtomicBool::new(false));
        let sent = Arc::new(AtomicU64::new(0));
        let (s, n) = (Arc::clone(&stop), Arc::clone(&sent));
        let netns = netns.map(str::to_owned);
        let (ready, started) = std::sync::mpsc::channel();
        let thread = thread::Builder::new()
            .name("generator".into())
            .spawn(move || {
                enter_thread_context(netns.as_deref(), cpu);
                let socket = StdUdpSocket::bind("0.0.0.0:0").expect("generator socket");
                socket.connect(target).expect("generator connect");
                let _ = ready.send(());
                let mut iov: Vec<libc::iovec> = frames
                    .iter()
                    .cycle()
                    .take(GENERATOR_BATCH)
                    .map(|f| libc::iovec {
                        iov_base: f.as_ptr() as *mut libc::c_void,
                        iov_len: f.len(),
                    })
                    .collect();
                let mut msgs = mmsg_headers(&mut iov);
                let mut count = 0u64;
                while !s.load(Ordering::Relaxed) {
                    // SAFETY: every header points at one iovec of `iov`, which points into
                    // `frames`; both outlive the call. The kernel only reads the frames.
                    let rc = unsafe {
                        libc::sendmmsg(
                            socket.as_raw_fd(),
                            msgs.as_mut_ptr(),
                            GENERATOR_BATCH as libc::c_uint,
                            0,
                        )
                    };
                    // A refused send (relay not up yet, ICMP unreachable) is not counted.
                    if rc > 0 {
                        count += rc as u64;
                        n.store(count, Ordering::Relaxed);
                    }
                }
            })
            .expect("generator thread");
        started.recv().expect("generator started");
        Generator { stop, sent, thread }
    }

    fn count(&self) -> u64 {
        self.sent.load(Ordering::Relaxed)
    }

    fn stop(self) {
        self.stop.store(true, Ordering::Relaxed);
        self.thread.join().expect("generator thread");
    }
}

/// Turns on UDP GRO for `socket`: a run of datagrams the sender segmented arrives in one read.
fn set_gro(socket: &Socket) -> bool {
    let on: libc::c_int = 1;
    // SAFETY: a valid socket descriptor and a pointer to a c_int of the given length.
    let rc = unsafe {
        libc::setsockopt(
            socket.as_raw_fd(),
            libc::SOL_UDP,
            libc::UDP_GRO,
            (&on as *const libc::c_int).cast(),
            std::mem::size_of::<libc::c_int>() as libc::socklen_t,
        )
    };
    rc == 0
}

/// Messages per sink `recvmmsg` call.
const SINK_BATCH: usize = 32;

/// A thread that counts the datagrams of the expected length arriving on its socket. It must
/// never be the bottleneck: it reads up to 32 messages per `recvmmsg` call, and with UDP GRO a
/// relay's segmented send arrives as one message. A message counts as many datagrams as
/// frames it holds, and nothing if its length is not a whole number of frames.
struct Sink {
    addr: SocketAddr,
    stop: Arc<AtomicBool>,
    received: Arc<AtomicU64>,
    thread: JoinHandle<()>,
}

impl Sink {
    fn start(bind: SocketAddr, netns: Option<&str>, cpu: Option<usize>, len: usize) -> Sink {
        let stop = Arc::new(AtomicBool::new(false));
        let received = Arc::new(AtomicU64::new(0));
        let (s, n) = (Arc::clone(&stop), Arc::clone(&received));
        let netns = netns.map(str::to_owned);
        let (ready, started) = std::sync::mpsc::channel();
        let thread = thread::Builder::new()
            .name("sink".into())
            .spawn(move || {
                enter_thread_context(netns.as_deref(), cpu);
                let socket = udp_socket(bind, SINK_BUFFER, SINK_BUFFER).expect("sink socket");
                set_gro(&socket);
                let socket: StdUdpSocket = socket.into();
                socket
                    .set_read_timeout(Some(Duration::from_millis(20)))
                    .expect("sink timeout");
                let _ = ready.send(socket.local_addr().expect("sink address"));
                let mut bufs = vec![[0u8; 65_536]; SINK_BATCH];
                let mut iov: Vec<libc::iovec> = bufs
                    .iter_mut()
                    .map(|b| libc::iovec {
                        iov_base: b.as_mut_ptr().cast(),
                        iov_len: b.len(),
                    })
                    .collect();
                let mut msgs = mmsg_headers(&mut iov);
                while !s.load(Ordering::Relaxed) {
                    // SAFETY: every header points at one iovec of `iov`, which points into
                    // `bufs`; all outlive the call. Blocks at most the read timeout for the
                    // first message, then takes what is waiting.
                    let got = unsafe {
                        libc::recvmmsg(
                            socket.as_raw_fd(),
                            msgs.as_mut_ptr(),
                            SINK_BATCH as libc::c_uint,
                            libc::MSG_WAITFORONE,
                            std::ptr::null_mut(),
                        )
                    };
                    let got = usize::try_from(got).unwrap_or(0);
                    let frames: u64 = msgs[..got]
                        .iter()
                        .map(|m| m.msg_len as usize)
                        .filter(|l| *l > 0 && l % len == 0)
                        .map(|l| (l / len) as u64)
                        .sum();
                    n.fetch_add(frames, Ordering::Relaxed);
                }
            })
            .expect("sink thread");
        let addr = started.recv().expect("sink started");
        Sink {
            addr,
            stop,
            received,
            thread,
        }
    }

    fn count(&self) -> u64 {
        self.received.load(Ordering::Relaxed)
    }

    fn stop(self) {
        self.stop.store(true, Ordering::Relaxed);
        self.thread.join().expect("sink thread");
    }
}

/// The sink's blocking socket (read with `recvmmsg` on its own thread, so not the driver's
/// [`UdpIo`]): requested buffer sizes, then bound.
fn udp_socket(listen: SocketAddr, recv_buffer: usize, send_buffer: usize) -> io::Result<Socket> {
    let socket = Socket::new(
        Domain::for_address(listen),
        Type::DGRAM,
        Some(Protocol::UDP),
    )?;
    let _ = socket.set_recv_buffer_size(recv_buffer);
    let _ = socket.set_send_buffer_size(send_buffer);
    socket.bind(&listen.into())?;
    Ok(socket)
}

/// The baseline: a relay on a tokio current-thread runtime over the driver's own socket layer
/// ([`UdpIo`]: the same socket set-up, batched receive with GRO, segmented send), wake on
/// readable, up to the driver's `RECV_BATCHES` receive batches, then every datagram forwarded
/// unchanged, runs of equal-sized datagrams in one GSO send, waiting for room rather than drop.
/// Against it, the router's cost is the node's work alone.
struct PlainRelay {
    addr: SocketAddr,
    stop: mpsc::Sender<()>,
    thread: JoinHandle<()>,
}

impl PlainRelay {
    fn start(to: SocketAddr, cpu: Option<usize>) -> PlainRelay {
        let (stop, stopped) = mpsc::channel::<()>(1);
        let (ready, started) = std::sync::mpsc::channel();
        let thread = thread::Builder::new()
            .name("plain-relay".into())
            .spawn(move || {
                enter_thread_context(None, cpu);
                let runtime = tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                    .expect("runtime");
                runtime.block_on(plain_relay(to, ready, stopped));
            })
            .expect("relay thread");
        let addr = started.recv().expect("relay started");
        PlainRelay { addr, stop, thread }
    }

    fn stop(self) {
        let _ = self.stop.blocking_send(());
        self.thread.join().expect("relay thread");
    }
}

async fn plain_relay(
    to: SocketAddr,
    ready: std::sync::mpsc::Sender<SocketAddr>,
    mut stopped: mpsc::Receiver<()>,
) {
    let mut io = UdpIo::bind("127.0.0.1:0".parse().unwrap(), RELAY_BUFFER, RELAY_BUFFER)
        .expect("relay socket");
    let _ = ready.send(io.local_addr());
    let (max_segments, max_bytes) = (io.max_segments(), io.max_segmented_bytes());
    // Received datagrams back to back, and their lengths, until the flush.
    let mut pending: Vec<u8> = Vec::new();
    let mut lens: Vec<usize> = Vec::new();
    loop {
        tokio::select! {
            _ = stopped.recv() => return,
            r = io.readable() => if r.is_err() { continue },
        }
        for _ in 0..RECV_BATCHES {
            let received = io.try_recv(|_, datagram| {
                if !datagram.is_empty() {
                    pending.extend_from_slice(datagram);
                    lens.push(datagram.len());
                }
            });
            match received {
                Ok(_) => {}
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                Err(_) => continue,
            }
        }
        // Runs of equal-sized datagrams (the last may be shorter) in one send each.
        let (mut i, mut offset) = (0, 0);
        while i < lens.len() {
            let size = lens[i];
            let (mut count, mut bytes) = (1, size);
            while i + count < lens.len() && count < max_segments {
                let next = lens[i + count];
                if next == 0 || next > size || bytes + next > max_bytes {
                    break;
                }
                bytes += next;
                count += 1;
                if next < size {
                    break;
                }
            }
            let segment_size = (count > 1).then_some(size);
            // A failed send is a lost datagram, as in the driver.
            let _ = io
                .send(to, &pending[offset..offset + bytes], segment_size)
                .await;
            i += count;
            offset += bytes;
        }
        pending.clear();
        lens.clear();
    }
}

// ---------------------------------------------------------------------------------------------
// Kernel IP forwarding between network namespaces

/// Network namespaces created for one measurement; removed (with their veth pairs) on drop,
/// so also when a step fails or panics.
struct Namespaces {
    names: Vec<String>,
}

impl Drop for Namespaces {
    fn drop(&mut self) {
        for name in &self.names {
            let _ = Command::new("ip").args(["netns", "del", name]).status();
        }
    }
}

/// Namespace names are `antsbench<pid><role>`.
const NETNS_PREFIX: &str = "antsbench";

/// Removes namespaces left by an earlier run of this benchmark that was killed before it could
/// clean up (its process is gone). Namespaces of a run still going are left alone.
fn remove_stale_namespaces() {
    let Ok(entries) = std::fs::read_dir("/run/netns") else {
        return;
    };
    for entry in entries.flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        let Some(rest) = name.strip_prefix(NETNS_PREFIX) else {
            continue;
        };
        let pid: String = rest.chars().take_while(char::is_ascii_digit).collect();
        if !pid.is_empty() && !Path::new(&format!("/proc/{pid}")).exists() {
            let _ = Command::new("ip").args(["netns", "del", &name]).status();
        }
    }
}

/// Runs `ip` with `args`; an error names the command and its output.
fn ip(args: &[&str]) -> Result<(), String> {
    let out = Command::new("ip")
        .args(args)
        .output()
        .map_err(|e| format!("cannot run `ip`: {e}"))?;
    if out.status.success() {
        Ok(())
    } else {
        Err(format!(
            "`ip {}` failed: {}",
            args.join(" "),
            String::from_utf8_lossy(&out.stderr).trim()
        ))
    }
}

/// Generator in namespace G, Linux forwarding in R, sink in S: G ─veth─ R ─veth─ S. With
/// receive packet steering the forwarding runs on the relay CPU, as the user-space relays do.
fn kernel_forwarding(
    settings: &Settings,
    frames: &Arc<Vec<Vec<u8>>>,
    pinned: bool,
) -> Result<Vec<RelayRun>, String> {
    // SAFETY: geteuid has no preconditions and cannot fail.
    if unsafe { libc::geteuid() } != 0 {
        return Err("needs root (network namespaces)".into());
    }
    remove_stale_namespaces();
    let tag = std::process::id();
    let (g, r, s) = (
        format!("{NETNS_PREFIX}{tag}g"),
        format!("{NETNS_PREFIX}{tag}r"),
        format!("{NETNS_PREFIX}{tag}s"),
    );
    let mut guard = Namespaces { names: Vec::new() };
    for name in [&g, &r, &s] {
        ip(&["netns", "add", name])?;
        guard.names.push(name.clone());
    }
    // Both ends are created inside the namespaces, so nothing ever appears in the host's.
    ip(&[
        "-n", &g, "link", "add", "vg", "type", "veth", "peer", "name", "vrg", "netns", &r,
    ])?;
    ip(&[
        "-n", &s, "link", "add", "vs", "type", "veth", "peer", "name", "vrs", "netns", &r,
    ])?;
    for (ns, dev, addr) in [
        (&g, "vg", "10.201.1.1/24"),
        (&r, "vrg", "10.201.1.2/24"),
        (&r, "vrs", "10.201.2.2/24"),
        (&s, "vs", "10.201.2.1/24"),
    ] {
        ip(&["-n", ns, "addr", "add", addr, "dev", dev])?;
        ip(&["-n", ns, "link", "set", dev, "up"])?;
    }
    for ns in [&g, &r, &s] {
        ip(&["-n", ns, "link", "set", "lo", "up"])?;
    }
    ip(&["-n", &g, "route", "add", "default", "via", "10.201.1.2"])?;
    ip(&["-n", &s, "route", "add", "default", "via", "10.201.2.2"])?;
    ip(&[
        "netns",
        "exec",
        &r,
        "sysctl",
        "-qw",
        "net.ipv4.ip_forward=1",
    ])?;
    if pinned {
        let mask = format!("{:x}", 1u32 << RELAY_CPU);
        ip(&[
            "netns",
            "exec",
            &r,
            "sh",
            "-c",
            &format!("echo {mask} > /sys/class/net/vrg/queues/rx-0/rps_cpus"),
        ])?;
    }
    let cpu = pinned.then_some(TRAFFIC_CPU);
    let target: SocketAddr = "10.201.2.1:9000".parse().unwrap();
    let mut runs = Vec::new();
    for _ in 0..settings.runs {
        let sink = Sink::start(target, Some(&s), cpu, frames[0].len());
        runs.push(measure(settings, frames, target, Some(&g), cpu, &sink));
        sink.stop();
    }
    drop(guard);
    if runs.iter().any(|r| r.relayed == 0) {
        return Err("nothing was forwarded between the namespaces".into());
    }
    Ok(runs)
}

/// Moves the calling thread into network namespace `netns` (if any) and onto `cpu` (if any),
/// and raises its scheduling weight (nice -20, as root; threads it creates inherit it), so
/// that other work on the machine takes little from the measured threads.
fn enter_thread_context(netns: Option<&str>, cpu: Option<usize>) {
    // SAFETY: no pointers; on Linux, `who = 0` with PRIO_PROCESS names the calling thread.
    // Failure (not root) leaves the default weight.
    unsafe {
        libc::setpriority(libc::PRIO_PROCESS, 0, -20);
    }
    if let Some(name) = netns {
        let file = File::open(format!("/run/netns/{name}"))
            .unwrap_or_else(|e| panic!("namespace {name}: {e}"));
        // SAFETY: a valid, open namespace file descriptor; setns only changes this thread's
        // network namespace (the process and other threads keep theirs).
        let rc = unsafe { libc::setns(file.as_raw_fd(), libc::CLONE_NEWNET) };
        assert_eq!(rc, 0, "setns {name}: {}", io::Error::last_os_error());
    }
    if let Some(cpu) = cpu {
        // SAFETY: a zeroed cpu_set_t is a valid empty set; CPU_SET stays within it for
        // cpu < CPU_SETSIZE; pid 0 is the calling thread.
        unsafe {
            let mut set: libc::cpu_set_t = std::mem::zeroed();
            libc::CPU_SET(cpu, &mut set);
            libc::sched_setaffinity(0, std::mem::size_of::<libc::cpu_set_t>(), &set);
        }
    }
}

/// Pinning needs the two CPUs the measurement names.
fn pinning_possible() -> bool {
    thread::available_parallelism().is_ok_and(|n| n.get() >= 2)
}

// ---------------------------------------------------------------------------------------------
// First-capsule latency over four active hops

struct ChainResults {
    /// Latency of each chain's first capsule (code loaded and compiled at every hop).
    first: Vec<Duration>,
    /// Latency of each chain's second capsule (code cached everywhere).
    second: Vec<Duration>,
    /// Latencies of the further cached capsules of every chain.
    cached: Vec<Duration>,
    /// Compilation of the module by a fresh sandbox, as at a hop, timed in this process.
    compile: Vec<Duration>,
    /// The first evaluation on that sandbox (instantiation included), as at a hop.
    first_eval: Vec<Duration>,
    /// Per chain, per hop: (compile in the driver, from the previous hop ready to this
    /// hop's compile starting), from the drivers' log events.
    hops: Vec<Vec<(Duration, Duration)>>,
    /// Whether some chain's log events were not all seen.
    timeline_missing: bool,
    /// Capsules sent, delivered, node drops and send errors summed over all chains.
    sent: u64,
    delivered: u64,
    drops: u64,
    send_errors: u64,
    /// Code loads completed at the hops, and fragment re-requests (should be 0 on loopback).
    loads: u64,
    retries: u64,
}

fn first_capsule_latency(
    settings: &Settings,
    wasm: &[u8],
    fingerprint: Fingerprint,
) -> ChainResults {
    let mut out = ChainResults {
        first: Vec::new(),
        second: Vec::new(),
        cached: Vec::new(),
        compile: Vec::new(),
        first_eval: Vec::new(),
        hops: Vec::new(),
        timeline_missing: false,
        sent: 0,
        delivered: 0,
        drops: 0,
        send_errors: 0,
        loads: 0,
        retries: 0,
    };
    let nodes: Vec<IpAddr> = CHAIN.iter().map(|a| a.parse().unwrap()).collect();
    let far = nodes[CHAIN.len() - 1];
    // What each hop does with the code it loaded, on a fresh engine as a new node has: compile,
    // then the first evaluation, which instantiates the module.
    for _ in 0..settings.chains.max(3) {
        let mut sandbox = Sandbox::new(SandboxLimits::default()).expect("sandbox");
        let t = Instant::now();
        let code = sandbox
            .compile(fingerprint, wasm)
            .expect("forward compiles");
        out.compile.push(t.elapsed());
        let mut ctx = NodeContext::new(nodes[1]);
        ctx.routing.add_neighbour(nodes[2]);
        ctx.routing
            .add_route(Route {
                prefix: far,
                len: 32,
                next_hop: NextHop::Neighbour(nodes[2]),
            })
            .expect("route");
        let payload = [0u8; PAYLOAD];
        let capsule = CapsuleRepr {
            fingerprint,
            source: nodes[0],
            destination: far,
            previous: nodes[0],
            budget: BUDGET,
            payload: &payload,
        };
        let t = Instant::now();
        sandbox
            .evaluate(&code, &capsule, &mut ctx)
            .expect("forward evaluates");
        out.first_eval.push(t.elapsed());
        assert_eq!(ctx.effects.sends().len(), 1);
    }
    for _ in 0..settings.chains {
        let dir = tempfile::tempdir().expect("temporary directory");
        let ports = free_ports(CHAIN.len());
        let routers: Vec<RunningDriver> = (0..CHAIN.len())
            .map(|i| {
                RunningDriver::start(
                    &format!("r{i}"),
                    &chain_config(i, &ports, dir.path()),
                    dir.path(),
                    || enter_thread_context(None, None),
                )
            })
            .collect();
        let mut source = Client::connect(&routers[0].app).expect("source application socket");
        let mut sink =
            Client::connect(&routers[CHAIN.len() - 1].app).expect("far application socket");
        sink.listen(DELIVERY_PORT).expect("listen");
        wait_compiled(&mut source, fingerprint);
        // Routers that are up, not starting: their compile threads have warmed up.
        std::thread::sleep(Duration::from_millis(200));

        let mut payload = [0u8; PAYLOAD];
        let mut first_sent = None;
        let mut timed = |seq: u32| -> Duration {
            payload[..4].copy_from_slice(&seq.to_be_bytes());
            let t = Instant::now();
            first_sent.get_or_insert(t);
            source
                .send(fingerprint, far, BUDGET, &payload)
                .expect("send at the source");
            let d = sink
                .next_delivery(Some(Duration::from_secs(20)))
                .expect("far application socket")
                .unwrap_or_else(|| panic!("capsule {seq} not delivered within 20 s"));
            let took = t.elapsed();
            assert_eq!(
                (d.payload.as_slice(), d.source, d.fingerprint),
                (&payload[..], nodes[0], fingerprint),
                "capsule {seq} arrived changed"
            );
            took
        };
        out.first.push(timed(0));
        out.second.push(timed(1));
        for seq in 0..settings.cached as u32 {
            out.cached.push(timed(2 + seq));
        }
        match first_sent.and_then(hop_timeline) {
            Some(hops) => out.hops.push(hops),
            None => out.timeline_missing = true,
        }
        if let Ok(mut marks) = MARKS.lock() {
            marks.clear();
        }
        out.sent += 2 + settings.cached as u64;
        drop(source);
        drop(sink);
        for (i, router) in routers.into_iter().enumerate() {
            let summary = router
                .stop(Duration::from_secs(30))
                .expect("the router stops");
            out.drops += summary.node.drops.total();
            out.send_errors += summary.driver.send_errors;
            out.retries += summary.node.code_requests_retried;
            if i > 0 {
                out.loads += summary.node.loads_completed;
            }
            if i == CHAIN.len() - 1 {
                out.delivered += summary.driver.deliveries;
            }
        }
    }
    assert_eq!(
        (out.delivered, out.drops, out.send_errors),
        (out.sent, 0, 0),
        "capsules lost over the chain"
    );
    assert_eq!(
        out.loads,
        (settings.chains * (CHAIN.len() - 1)) as u64,
        "every hop loads the code exactly once"
    );
    out
}

/// Configuration of chain node `i`: its neighbours on both sides, routes to both ends, and
/// every other node as a peer (the source answers code requests as the fallback). Only the
/// source has the forward protocol.
fn chain_config(i: usize, ports: &[u16], dir: &Path) -> String {
    let n = CHAIN.len();
    let node = |j: usize| CHAIN[j].parse::<IpAddr>().expect("chain address");
    let socket = |j: usize| SocketAddr::from(([127, 0, 0, 1], ports[j]));
    let mut c = ConfigWriter::new(node(i));
    c.listen(socket(i))
        .app_socket(dir.join(format!("r{i}.sock")));
    if i == 0 {
        c.pin(FORWARD_WASM);
    }
    let neighbours: Vec<usize> = [i.checked_sub(1), (i + 1 < n).then_some(i + 1)]
        .into_iter()
        .flatten()
        .collect();
    for &j in &neighbours {
        c.neighbour(node(j), socket(j));
    }
    for j in (0..n).filter(|j| *j != i && !neighbours.contains(j)) {
        c.peer(node(j), socket(j));
    }
    if i + 1 < n {
        c.route(node(n - 1), 32, node(i + 1));
    }
    if i > 0 {
        c.route(node(0), 32, node(i - 1));
    }
    c.to_toml()
}

/// `count` distinct UDP ports free on 127.0.0.1 right now (all held while choosing, so they
/// differ; another program could take one before the routers bind it, which fails loudly).
fn free_ports(count: usize) -> Vec<u16> {
    let held: Vec<StdUdpSocket> = (0..count)
        .map(|_| StdUdpSocket::bind("127.0.0.1:0").expect("free port"))
        .collect();
    held.iter()
        .map(|s| s.local_addr().expect("port").port())
        .collect()
}

/// Waits until the source has compiled its pinned protocol, so the first capsule's latency is
/// the hops' loading, not the source's own start-up.
fn wait_compiled(client: &mut Client, fingerprint: Fingerprint) {
    let deadline = Instant::now() + Duration::from_secs(20);
    let want = fingerprint.to_string();
    loop {
        let json = client.status().expect("source status");
        let status: serde_json::Value = serde_json::from_str(&json).expect("status JSON");
        let ready = status["node"]["protocols"]
            .as_array()
            .into_iter()
            .flatten()
            .any(|p| p["fingerprint"] == want.as_str() && p["compiled"] == true);
        if ready {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "the source did not compile its protocol within 20 s: {json}"
        );
        thread::sleep(Duration::from_millis(5));
    }
}

// ---------------------------------------------------------------------------------------------
// The drivers' own compile timeline, from their log events

/// What a driver logged, when, and on which thread (each chain router has its own).
struct Mark {
    thread: String,
    step: Step,
    at: Instant,
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Step {
    /// The driver handed a module to its compile worker (`compiling`).
    Compiling,
    /// The compiled module was attached and the held capsules released (`code loaded on
    /// demand`).
    Loaded,
}

static MARKS: Mutex<Vec<Mark>> = Mutex::new(Vec::new());

/// A tracing layer that records the two driver events that bracket a compilation. It enables
/// no other call site, so the relay's hot path logs nothing.
struct Recorder;

impl Recorder {
    fn wanted(metadata: &Metadata<'_>) -> bool {
        metadata.is_event()
            && metadata.target() == "ants_daemon::driver"
            && metadata.fields().field("fingerprint").is_some()
            && metadata.fields().field("bytes").is_some()
    }
}

impl<S: Subscriber> Layer<S> for Recorder {
    fn register_callsite(&self, metadata: &'static Metadata<'static>) -> CallsiteInterest {
        if Recorder::wanted(metadata) {
            CallsiteInterest::always()
        } else {
            CallsiteInterest::never()
        }
    }

    fn enabled(&self, metadata: &Metadata<'_>, _: layer::Context<'_, S>) -> bool {
        Recorder::wanted(metadata)
    }

    fn on_event(&self, event: &tracing::Event<'_>, _: layer::Context<'_, S>) {
        let at = Instant::now();
        struct Message(String);
        impl Visit for Message {
            fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
                if field.name() == "message" {
                    self.0 = format!("{value:?}");
                }
            }
        }
        let mut message = Message(String::new());
        event.record(&mut message);
        let step = match message.0.as_str() {
            "compiling" => Step::Compiling,
            "code loaded on demand" => Step::Loaded,
            _ => return,
        };
        let thread = thread::current().name().unwrap_or("").to_owned();
        if let Ok(mut marks) = MARKS.lock() {
            marks.push(Mark { thread, step, at });
        }
    }
}

/// Per hop of one chain: (compile in the driver, time from the previous hop's code being ready
/// (or the send, for the first hop) to this hop's compile starting). `None` when the driver's
/// log lines were not all seen.
fn hop_timeline(sent: Instant) -> Option<Vec<(Duration, Duration)>> {
    let marks = MARKS.lock().ok()?;
    let at = |i: usize, step: Step| {
        marks
            .iter()
            .find(|m| m.thread == format!("r{i}") && m.step == step && m.at >= sent)
            .map(|m| m.at)
    };
    let mut previous = sent;
    let mut hops = Vec::new();
    for i in 1..CHAIN.len() {
        let (start, done) = (at(i, Step::Compiling)?, at(i, Step::Loaded)?);
        hops.push((
            done.checked_duration_since(start)?,
            // Zero when this hop started compiling before the previous one was ready (it was
            // told ahead by a code announce).
            start.saturating_duration_since(previous),
        ));
        previous = done;
    }
    Some(hops)
}

// ---------------------------------------------------------------------------------------------
// Report

fn median(values: impl Iterator<Item = f64>) -> f64 {
    let mut v: Vec<f64> = values.collect();
    if v.is_empty() {
        return f64::NAN;
    }
    v.sort_by(f64::total_cmp);
    let mid = v.len() / 2;
    if v.len() % 2 == 1 {
        v[mid]
    } else {
        (v[mid - 1] + v[mid]) / 2.0
    }
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}

fn median_ms(d: &[Duration]) -> f64 {
    median(d.iter().map(|d| ms(*d)))
}

fn kpps(v: f64) -> String {
    format!("{:.0} k", v / 1e3)
}

fn print_relay(settings: &Settings, r: &RelayResults, pinned: bool, wasm: &[u8]) {
    println!(
        "\nRelay over UDP on loopback: forward capsule ({} B module), {PAYLOAD}-byte payload, \
         {}-byte frames; {} runs of {:.1} s per relay, median received datagrams/s at the sink",
        wasm.len(),
        r.frame_len,
        settings.runs,
        settings.window.as_secs_f64()
    );
    println!(
        "pinning: {}; generator: sendmmsg, 64 single datagrams per call; sink: UDP GRO",
        if pinned {
            "relay on CPU 1, generator and sink on CPU 0"
        } else {
            "none (fewer than 2 CPUs available)"
        }
    );
    let plain = median(r.plain.iter().map(|x| x.pps));
    let row = |name: &str, runs: &[RelayRun]| {
        let pps = median(runs.iter().map(|x| x.pps));
        let all: Vec<String> = runs.iter().map(|x| kpps(x.pps)).collect();
        // A relay that passed on (nearly) all it was offered was not saturated: the
        // generator limited it, and its rate is only a lower bound.
        let bound = if runs.iter().all(|x| x.pps >= 0.97 * x.offered) {
            " (generator-bound: a lower bound)"
        } else {
            ""
        };
        println!(
            "| {name:<42} | {:>9} | {:>9} | {:>5.1} % | {}{bound} |",
            kpps(median(runs.iter().map(|x| x.offered))),
            kpps(pps),
            100.0 * pps / plain,
            all.join(", ")
        );
    };
    println!(
        "| {:<42} | {:>9} | {:>9} | {:>7} | runs |",
        "relay", "offered/s", "relayed/s", "/ plain"
    );
    println!("|---|---|---|---|---|");
    row("plain UDP relay (driver socket code)", &r.plain);
    row("router (Driver, forward capsule)", &r.router);
    match &r.kernel {
        Ok(runs) => row("Linux IP forwarding, netns + veth (reference)", runs),
        Err(why) => println!("| Linux IP forwarding (reference) | not measured: {why} |"),
    }
    let (received, sent, drops, errors) = r.router_counts;
    println!(
        "router counters over its runs: {received} datagrams received, {sent} sent, \
         {drops} node drops, {errors} send errors (the rest of the offered load was dropped \
         by the kernel at the relay's full socket buffer)"
    );
}

fn print_chain(settings: &Settings, c: &ChainResults, wasm: &[u8]) {
    println!(
        "\nFirst capsule over 4 active hops ({} routers, in-process drivers on loopback; \
         forward capsule, {} B module, registered only at the source): {} fresh chains, \
         {} cached capsules each",
        CHAIN.len(),
        wasm.len(),
        settings.chains,
        settings.cached
    );
    let fmt = |d: &[Duration]| {
        let v: Vec<f64> = d.iter().map(|d| ms(*d)).collect();
        let min = v.iter().copied().fold(f64::INFINITY, f64::min);
        let max = v.iter().copied().fold(0.0, f64::max);
        format!(
            "{:>8.3} ms | {:>8.3} ms | {:>8.3} ms",
            median_ms(d),
            min,
            max
        )
    };
    println!(
        "| {:<44} | {:>11} | {:>11} | {:>11} |",
        "", "median", "min", "max"
    );
    println!("|---|---|---|---|");
    println!(
        "| {:<44} | {} |",
        "first capsule (load + compile at 4 hops)",
        fmt(&c.first)
    );
    println!(
        "| {:<44} | {} |",
        "second capsule (cached everywhere)",
        fmt(&c.second)
    );
    println!("| {:<44} | {} |", "further cached capsules", fmt(&c.cached));
    println!(
        "| {:<44} | {} |",
        "one compilation (fresh sandbox, here)",
        fmt(&c.compile)
    );
    println!(
        "| {:<44} | {} |",
        "its first evaluation (instantiation)",
        fmt(&c.first_eval)
    );
    if c.hops.is_empty() || c.timeline_missing {
        println!("driver compile timeline: not available (driver log events not seen)");
    } else {
        let per_hop: Vec<Duration> = c.hops.iter().flatten().map(|h| h.0).collect();
        let gaps: Vec<Duration> = c.hops.iter().flatten().map(|h| h.1).collect();
        println!(
            "| {:<44} | {} |",
            "compile in a hop's driver (worker, per hop)",
            fmt(&per_hop)
        );
        println!(
            "| {:<44} | {} |",
            "previous hop ready -> this hop compiling",
            fmt(&gaps)
        );
        let shares: Vec<f64> = c
            .hops
            .iter()
            .zip(&c.first)
            .map(|(hops, first)| {
                let compile: Duration = hops.iter().map(|h| h.0).sum();
                compile.as_secs_f64() / first.as_secs_f64()
            })
            .collect();
        let compile_sum: Vec<Duration> =
            c.hops.iter().map(|h| h.iter().map(|h| h.0).sum()).collect();
        println!(
            "compilation in the drivers: {:.1} ms of the first capsule's {:.1} ms (median over \
             chains), {:.0} % (per chain: {}); in-process reference 4 x {:.1} ms",
            median_ms(&compile_sum),
            median_ms(&c.first),
            100.0 * median(shares.iter().copied()),
            shares
                .iter()
                .map(|s| format!("{:.0} %", 100.0 * s))
                .collect::<Vec<_>>()
                .join(", "),
            median_ms(&c.compile)
        );
    }
    println!(
        "first / cached = {:.0}x",
        median_ms(&c.first) / median_ms(&c.cached)
    );
    println!(
        "lost: {} ({} capsules sent, {} delivered, {} node drops, {} send errors at any node; \
         {} code loads at the hops, {} fragment re-requests)",
        c.sent - c.delivered,
        c.sent,
        c.delivered,
        c.drops,
        c.send_errors,
        c.loads,
        c.retries
    );
}

/// One `mmsghdr` per buffer in `iov`, each pointing at its one buffer, with no address (the
/// sockets are connected or do not need it) and no control data. `iov` must outlive the
/// headers' use.
fn mmsg_headers(iov: &mut [libc::iovec]) -> Vec<libc::mmsghdr> {
    iov.iter_mut()
        .map(|v| {
            // SAFETY: an all-zero mmsghdr is a valid empty header.
            let mut m: libc::mmsghdr = unsafe { std::mem::zeroed() };
            m.msg_hdr.msg_iov = v;
            m.msg_hdr.msg_iovlen = 1;
            m
        })
        .collect()
}
