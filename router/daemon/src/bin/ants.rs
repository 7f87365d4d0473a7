//! `ants`: the command line of the capsule router.
//!
//! `inspect` examines a capsule module offline; `send`, `listen`, `ping` and `status` talk to a
//! running `antsd` through its application socket with [`ants_daemon::app::Client`]. Output is
//! for people unless `--json` asks for a document for scripts. Errors are reported here, with
//! context, and end the process with status 1.

use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::{Duration, Instant};

use anyhow::{Context as _, bail};
use clap::{Parser, Subcommand};
use serde::{Deserialize, Serialize};
use wasmparser::{ExternalKind, FuncType};

use ants_daemon::app::text::{bytes as human_bytes, status_text};
use ants_daemon::app::{Client, ClientError};
use ants_router::fingerprint::Fingerprint;
use ants_router::sandbox::{ModuleShape, Sandbox, SandboxLimits};

/// Where `ants ping` looks for the ping capsule, relative to the working directory or to the
/// repository holding this executable.
const PING_MODULE: &str = "capsules/target/wasm32-unknown-unknown/release/capsule_ping.wasm";
/// The ping capsule delivers replies on this port (`capsule_ping::REPLY_PORT`).
const PING_REPLY_PORT: u16 = 7;

/// Command line of the active-network capsule router.
#[derive(Parser)]
#[command(name = "ants", version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

/// Where the daemon's application socket is.
#[derive(clap::Args)]
struct SocketArg {
    /// The daemon's application socket (its `app_socket` setting).
    #[arg(
        long,
        short = 's',
        env = "ANTS_SOCKET",
        default_value = "/run/antsd.sock"
    )]
    socket: PathBuf,
}

#[derive(Subcommand)]
enum Command {
    /// Examine a capsule module: fingerprint, size, imports, exports, and whether a node with
    /// default limits accepts it. Works offline. Exit status 1 if the module is refused.
    Inspect {
        /// The WebAssembly module.
        module: PathBuf,
        /// Print a JSON document instead.
        #[arg(long)]
        json: bool,
    },
    /// Inject capsules at the daemon's node: one, or `--count` of them paced by `--interval`
    /// or `--rate`.
    Send {
        #[command(flatten)]
        socket: SocketArg,
        /// Register this module first and send a capsule of it.
        #[arg(
            long,
            conflicts_with = "fingerprint",
            required_unless_present = "fingerprint"
        )]
        module: Option<PathBuf>,
        /// Send a capsule of this already registered protocol.
        #[arg(long)]
        fingerprint: Option<Fingerprint>,
        /// Destination node address.
        #[arg(long)]
        to: IpAddr,
        /// Resource budget (active hops it may take, copies included).
        #[arg(long, default_value_t = 16)]
        budget: u16,
        /// Read PAYLOAD as hex digits instead of text.
        #[arg(long)]
        hex: bool,
        /// Capsules to send.
        #[arg(long, short = 'c', default_value_t = 1)]
        count: u64,
        /// Seconds between two capsules (default: 0.01 with --count).
        #[arg(long, conflicts_with = "rate")]
        interval: Option<f64>,
        /// Capsules per second (instead of --interval).
        #[arg(long)]
        rate: Option<f64>,
        /// The payload.
        payload: String,
    },
    /// Print the payloads capsules deliver to a local port.
    Listen {
        #[command(flatten)]
        socket: SocketArg,
        /// The port (the forward capsule delivers on 1).
        #[arg(long, short)]
        port: u16,
        /// Stop after this many deliveries.
        #[arg(long, short = 'c')]
        count: Option<u64>,
        /// Stop after this many seconds (exit status 1 if `--count` was not reached).
        #[arg(long)]
        timeout: Option<f64>,
        /// One JSON object per line instead.
        #[arg(long)]
        json: bool,
    },
    /// Ping a node along the active path: hops, path and round-trip time.
    Ping {
        #[command(flatten)]
        socket: SocketArg,
        /// Destination node address.
        address: IpAddr,
        /// Pings to send.
        #[arg(short = 'c', long, default_value_t = 1)]
        count: u32,
        /// The ping capsule module (default: the one `make capsules` builds).
        #[arg(long)]
        module: Option<PathBuf>,
        /// Resource budget of each request (active hops there and back).
        #[arg(long, default_value_t = 64)]
        budget: u16,
        /// Seconds to wait for each reply (the first may wait for code to load hop by hop).
        #[arg(long, default_value_t = 5.0)]
        timeout: f64,
        /// Seconds between pings.
        #[arg(long, default_value_t = 1.0)]
        interval: f64,
    },
    /// Start something new: `ants new capsule NAME` makes a capsule crate from the SDK's
    /// template, ready for `cargo test` and a wasm32 build.
    New {
        #[command(subcommand)]
        what: New,
    },
    /// The node's status: neighbours, cached protocols, loads, counters.
    Status {
        #[command(flatten)]
        socket: SocketArg,
        /// Print the JSON document instead.
        #[arg(long)]
        json: bool,
    },
    /// Topologies: emulate, bring up in namespaces, draw (`ants topo --help`). Runs the
    /// `ants-topo` program installed next to `ants`.
    #[command(disable_help_flag = true)]
    Topo {
        /// Arguments for `ants-topo`.
        #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
        args: Vec<std::ffi::OsString>,
    },
}

/// What `ants new` makes.
#[derive(Subcommand)]
enum New {
    /// A capsule crate from the SDK's template (`capsule-sdk/template`).
    Capsule {
        /// The crate's name (lowercase letters, digits, `-`, `_`).
        name: String,
        /// Where to create it [default: ./NAME]; it must not exist yet.
        #[arg(long)]
        dir: Option<PathBuf>,
        /// The capsule SDK to depend on [default: the one of the repository `ants` was built
        /// from].
        #[arg(long)]
        sdk: Option<PathBuf>,
    },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Inspect { module, json } => inspect(&module, json),
        Command::Send {
            socket,
            module,
            fingerprint,
            to,
            budget,
            hex,
            count,
            interval,
            rate,
            payload,
        } => pace(interval, rate).and_then(|gap| {
            send(
                &socket.socket,
                module,
                fingerprint,
                to,
                budget,
                hex,
                &payload,
                (count, gap),
            )
        }),
        Command::Listen {
            socket,
            port,
            count,
            timeout,
            json,
        } => listen(&socket.socket, port, count, timeout, json),
        Command::Ping {
            socket,
            address,
            count,
            module,
            budget,
            timeout,
            interval,
        } => seconds(timeout).and_then(|timeout| {
            ping(
                &socket.socket,
                address,
                count,
                module,
                budget,
                timeout,
                seconds(interval)?,
            )
        }),
        Command::Status { socket, json } => status(&socket.socket, json),
        Command::New {
            what: New::Capsule { name, dir, sdk },
        } => new_capsule(&name, dir, sdk),
        Command::Topo { args } => topo(&args),
    };
    match result {
        Ok(code) => code,
        Err(e) => {
            eprintln!("ants: {e:#}");
            ExitCode::FAILURE
        }
    }
}

/// Hands `ants topo ...` to the `ants-topo` program (next to this executable, else on
/// `PATH`), replacing this process so signals and exit status pass straight through.
fn topo(args: &[std::ffi::OsString]) -> anyhow::Result<ExitCode> {
    use std::os::unix::process::CommandExt as _;
    let beside = std::env::current_exe()
        .ok()
        .and_then(|exe| exe.parent().map(|d| d.join("ants-topo")))
        .filter(|p| p.is_file());
    let program = beside.unwrap_or_else(|| PathBuf::from("ants-topo"));
    let err = std::process::Command::new(&program).args(args).exec();
    bail!(
        "cannot run {}: {err}; build it with `cargo build --release -p ants-topo` \
         (it is installed next to `ants`)",
        program.display()
    )
}

fn seconds(s: f64) -> anyhow::Result<Duration> {
    Duration::try_from_secs_f64(s).with_context(|| format!("`{s}` is not a number of seconds"))
}

fn read_module(path: &Path) -> anyhow::Result<Vec<u8>> {
    std::fs::read(path).with_context(|| format!("cannot read module {}", path.display()))
}

fn connect(socket: &Path) -> anyhow::Result<Client> {
    Ok(Client::connect(socket)?)
}

// ---- inspect -------------------------------------------------------------------------------

#[derive(Serialize)]
struct Inspection {
    file: String,
    fingerprint: String,
    md5_legacy: String,
    size: usize,
    imports: Vec<String>,
    exports: Vec<String>,
    functions: u32,
    problems: Vec<String>,
    valid: bool,
    verdict: String,
}

fn signature(ty: Option<&FuncType>) -> String {
    let Some(ty) = ty else {
        return "(?)".to_string();
    };
    let list = |tys: &[wasmparser::ValType]| {
        tys.iter()
            .map(|t| t.to_string())
            .collect::<Vec<_>>()
            .join(" ")
    };
    format!("({}) -> ({})", list(ty.params()), list(ty.results()))
}

/// Imports and exports as lines, from the node's own module inspector.
fn structure(shape: &ModuleShape) -> (Vec<String>, Vec<String>) {
    let imports = shape
        .imports
        .iter()
        .map(|i| {
            let what = match &i.func {
                Ok(ty) => format!("func {}", signature(ty.as_ref())),
                Err(kind) => kind.to_string(),
            };
            format!("{}::{} {what}", i.module, i.name)
        })
        .collect();
    let exports = shape
        .exports
        .iter()
        .map(|e| {
            let what = match e.kind {
                ExternalKind::Func => format!("func {}", signature(e.func.as_ref())),
                ExternalKind::Memory => "memory".to_string(),
                ExternalKind::Table => "table".to_string(),
                ExternalKind::Global => "global".to_string(),
                _ => "other".to_string(),
            };
            format!("{} {what}", e.name)
        })
        .collect();
    (imports, exports)
}

fn inspect(path: &Path, json: bool) -> anyhow::Result<ExitCode> {
    let bytes = read_module(path)?;
    let limits = SandboxLimits::default();
    let shape = ModuleShape::read(&bytes);
    let (imports, exports) = structure(&shape);
    // Every rule the module breaks, not just the first one a node would name.
    let problems: Vec<String> = shape
        .problems(&limits)
        .iter()
        .map(|e| format!("{} ({})", e, e.name()))
        .collect();
    let sandbox =
        Sandbox::new(limits).map_err(|e| anyhow::anyhow!("cannot set up the sandbox: {e}"))?;
    // The node's own path: validation, then compilation (a module the compiler refuses after
    // validation passed gets the same verdict here as on a router).
    let verdict = sandbox
        .compile(Fingerprint::sha256(&bytes), &bytes)
        .map(|_| ());
    let report = Inspection {
        file: path.display().to_string(),
        fingerprint: Fingerprint::sha256(&bytes).to_string(),
        md5_legacy: Fingerprint::md5(&bytes).to_string(),
        size: bytes.len(),
        imports,
        exports,
        functions: shape.functions,
        problems,
        valid: verdict.is_ok(),
        verdict: match &verdict {
            Ok(()) => "accepted by a node with default limits".to_string(),
            Err(e) => format!("refused ({}): {e}", e.name()),
        },
    };
    if json {
        println!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        println!("file         {}", report.file);
        println!("fingerprint  {}", report.fingerprint);
        println!(
            "md5 (legacy) {}  (unsafe against spoofing; only for legacy peers)",
            report.md5_legacy
        );
        println!(
            "size         {} ({})",
            report.size,
            human_bytes(report.size as u64)
        );
        println!("functions    {} defined", report.functions);
        println!("imports      {}", list_or_none(&report.imports));
        println!("exports      {}", list_or_none(&report.exports));
        if !report.problems.is_empty() {
            println!("problems     {}", report.problems.join("\n             "));
        }
        println!("verdict      {}", report.verdict);
    }
    Ok(if report.valid {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

fn list_or_none(items: &[String]) -> String {
    if items.is_empty() {
        "none".to_string()
    } else {
        items.join("\n             ")
    }
}

// ---- send, listen, status ------------------------------------------------------------------

/// Time between two capsules of `ants send`: `--interval`, or one over `--rate`, else 10 ms.
fn pace(interval: Option<f64>, rate: Option<f64>) -> anyhow::Result<Duration> {
    match (interval, rate) {
        (Some(i), _) => seconds(i),
        (None, Some(r)) if r > 0.0 && r.is_finite() => seconds(1.0 / r),
        (None, Some(r)) => bail!("--rate {r}: give a positive number of capsules per second"),
        (None, None) => Ok(Duration::from_millis(10)),
    }
}

#[allow(clippy::too_many_arguments)]
fn send(
    socket: &Path,
    module: Option<PathBuf>,
    fingerprint: Option<Fingerprint>,
    to: IpAddr,
    budget: u16,
    hex: bool,
    payload: &str,
    (count, gap): (u64, Duration),
) -> anyhow::Result<ExitCode> {
    let payload = if hex {
        hex::decode(payload.trim()).context("PAYLOAD is not hex digits")?
    } else {
        payload.as_bytes().to_vec()
    };
    let module = module.map(|m| read_module(&m)).transpose()?;
    let mut client = connect(socket)?;
    let fingerprint = match (module, fingerprint) {
        (Some(m), _) => client.register(&m).context("registering the module")?,
        (None, Some(f)) => f,
        (None, None) => bail!("give --module or --fingerprint"),
    };
    if count == 1 {
        client
            .send(fingerprint, to, budget, &payload)
            .context("sending the capsule")?;
        println!(
            "sent {} bytes to {to} as {fingerprint} (budget {budget})",
            payload.len()
        );
        return Ok(ExitCode::SUCCESS);
    }
    // An absolute schedule: a late send does not push the later ones back.
    let start = Instant::now();
    let (mut sent, mut refused, mut first_refusal) = (0u64, 0u64, None);
    for i in 0..count {
        let at = start + gap.saturating_mul(u32::try_from(i).unwrap_or(u32::MAX));
        if let Some(wait) = at.checked_duration_since(Instant::now()) {
            std::thread::sleep(wait);
        }
        match client.send(fingerprint, to, budget, &payload) {
            Ok(()) => sent += 1,
            Err(e @ ClientError::Refused { .. }) => {
                refused += 1;
                first_refusal.get_or_insert_with(|| e.to_string());
            }
            Err(e) => return Err(e).context(format!("sending capsule {}", i + 1)),
        }
    }
    let secs = start.elapsed().as_secs_f64();
    println!(
        "sent {sent} capsules of {} bytes to {to} as {fingerprint} (budget {budget}) in {secs:.3} s ({:.1} capsules/s)",
        payload.len(),
        sent as f64 / secs.max(1e-9)
    );
    if let Some(why) = first_refusal {
        eprintln!("{refused} refused by the node, the first because: {why}");
        return Ok(ExitCode::FAILURE);
    }
    Ok(ExitCode::SUCCESS)
}

/// `ants new capsule`.
fn new_capsule(name: &str, dir: Option<PathBuf>, sdk: Option<PathBuf>) -> anyhow::Result<ExitCode> {
    use ants_daemon::new_capsule::{default_sdk, write_capsule};
    let dir = dir.unwrap_or_else(|| PathBuf::from(name));
    let sdk = match sdk.or_else(default_sdk) {
        Some(s) => std::path::absolute(&s).unwrap_or(s),
        None => bail!(
            "the capsule SDK of the repository `ants` was built from is gone: give its path with --sdk"
        ),
    };
    write_capsule(name, &dir, &sdk)?;
    let wasm = name.replace('-', "_");
    println!("created capsule crate `{name}` in {}", dir.display());
    println!("  cd {}", dir.display());
    println!("  cargo test");
    println!("  cargo rustc --release --target wasm32-unknown-unknown --crate-type cdylib");
    println!("  ants inspect target/wasm32-unknown-unknown/release/{wasm}.wasm");
    Ok(ExitCode::SUCCESS)
}

/// The payload as text if it is printable UTF-8, otherwise as hex.
fn show_payload(payload: &[u8]) -> String {
    match std::str::from_utf8(payload) {
        Ok(s) if !s.chars().any(|c| c.is_control() && c != '\n' && c != '\t') => s.to_string(),
        _ => format!("hex:{}", hex::encode(payload)),
    }
}

fn listen(
    socket: &Path,
    port: u16,
    count: Option<u64>,
    timeout: Option<f64>,
    json: bool,
) -> anyhow::Result<ExitCode> {
    let deadline = timeout
        .map(seconds)
        .transpose()?
        .map(|t| Instant::now() + t);
    let mut client = connect(socket)?;
    client
        .listen(port)
        .with_context(|| format!("listening on port {port}"))?;
    if !json {
        eprintln!("listening on port {port}");
    }
    let mut seen = 0u64;
    while count.is_none_or(|c| seen < c) {
        let wait = match deadline {
            Some(d) => match d.checked_duration_since(Instant::now()) {
                Some(left) => Some(left),
                None => break,
            },
            None => None,
        };
        let Some(d) = client.next_delivery(wait)? else {
            break;
        };
        seen += 1;
        if json {
            println!(
                "{}",
                serde_json::json!({
                    "port": d.port,
                    "source": d.source,
                    "fingerprint": d.fingerprint.to_string(),
                    "payload_hex": hex::encode(&d.payload),
                })
            );
        } else {
            println!(
                "port {} from {} ({} bytes, type {}): {}",
                d.port,
                d.source,
                d.payload.len(),
                short(&d.fingerprint),
                show_payload(&d.payload)
            );
        }
    }
    Ok(if count.is_some_and(|c| seen < c) {
        eprintln!("ants: timed out after {seen} deliveries");
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    })
}

fn short(fp: &Fingerprint) -> String {
    let s = fp.to_string();
    format!("{}…", &s[..s.len().min(12)])
}

fn status(socket: &Path, json: bool) -> anyhow::Result<ExitCode> {
    let mut client = connect(socket)?;
    let doc = client.status()?;
    let value: serde_json::Value =
        serde_json::from_str(&doc).context("the daemon sent a status that is not JSON")?;
    if json {
        println!("{}", serde_json::to_string_pretty(&value)?);
    } else {
        print!("{}", status_text(&value));
    }
    Ok(ExitCode::SUCCESS)
}

// ---- ping ----------------------------------------------------------------------------------

/// `capsule_ping::Kind`: the payload layout is documented in `capsules/ping/src/lib.rs`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
enum Kind {
    Request,
    Reply,
}

/// `capsule_ping::Ping`: kind, id, sender's time, active hops, recorded path.
#[derive(Clone, Debug, Serialize, Deserialize)]
struct Ping {
    kind: Kind,
    id: u32,
    sent_ns: u64,
    hops: u16,
    path: Vec<capsule_sdk::Address>,
}

/// The ping module: `--module`, else the built capsule under the working directory or under
/// the repository this executable was built in.
fn ping_module(module: Option<PathBuf>) -> anyhow::Result<Vec<u8>> {
    if let Some(m) = module {
        return read_module(&m);
    }
    let mut candidates = vec![PathBuf::from(PING_MODULE)];
    if let Ok(exe) = std::env::current_exe() {
        candidates.extend(exe.ancestors().skip(1).map(|dir| dir.join(PING_MODULE)));
    }
    match candidates.iter().find(|p| p.is_file()) {
        Some(p) => read_module(p),
        None => bail!(
            "the ping capsule {PING_MODULE} is not built; run `make capsules` or pass --module"
        ),
    }
}

fn ping(
    socket: &Path,
    address: IpAddr,
    count: u32,
    module: Option<PathBuf>,
    budget: u16,
    timeout: Duration,
    interval: Duration,
) -> anyhow::Result<ExitCode> {
    let module = ping_module(module)?;
    let mut client = connect(socket)?;
    let fingerprint = client
        .register(&module)
        .context("registering the ping capsule")?;
    client
        .listen(PING_REPLY_PORT)
        .context("listening for ping replies on port 7 (is another `ants ping` running?)")?;
    let start = Instant::now();
    // Ids differ between runs, so a late reply to an earlier run is not taken for ours.
    let base = std::process::id().wrapping_mul(65_537);
    let mut rtts = Vec::new();
    println!("PING {address} with {fingerprint}");
    for seq in 0..count {
        if seq > 0 {
            std::thread::sleep(interval);
        }
        let id = base.wrapping_add(seq);
        let request = Ping {
            kind: Kind::Request,
            id,
            sent_ns: u64::try_from(start.elapsed().as_nanos()).unwrap_or(u64::MAX),
            hops: 0,
            path: Vec::new(),
        };
        let payload = postcard::to_allocvec(&request).context("encoding the ping")?;
        let sent = Instant::now();
        client
            .send(fingerprint, address, budget, &payload)
            .context("sending the ping")?;
        let deadline = sent + timeout;
        let reply = loop {
            let Some(left) = deadline.checked_duration_since(Instant::now()) else {
                break None;
            };
            let Some(d) = client.next_delivery(Some(left))? else {
                break None;
            };
            match postcard::from_bytes::<Ping>(&d.payload) {
                Ok(p) if p.kind == Kind::Reply && p.id == id => break Some(p),
                // Another run's reply, or not a ping: not ours.
                _ => continue,
            }
        };
        match reply {
            Some(p) => {
                let rtt = sent.elapsed();
                rtts.push(rtt);
                let path: Vec<String> = p.path.iter().map(|a| a.to_string()).collect();
                println!(
                    "reply from {address}: seq={seq} hops={} path={} time={:.3} ms",
                    p.hops,
                    path.join(" -> "),
                    rtt.as_secs_f64() * 1e3
                );
            }
            None => println!("no reply from {address}: seq={seq} within {timeout:?}"),
        }
    }
    let received = rtts.len() as u32;
    let loss = 100.0 * f64::from(count - received) / f64::from(count.max(1));
    println!("--- {address} ping ---");
    print!("{count} sent, {received} received, {loss:.0}% lost");
    if let (Some(min), Some(max)) = (rtts.iter().min(), rtts.iter().max()) {
        let avg = rtts.iter().sum::<Duration>() / received;
        print!(
            "; round trip min/avg/max = {:.3}/{:.3}/{:.3} ms",
            min.as_secs_f64() * 1e3,
            avg.as_secs_f64() * 1e3,
            max.as_secs_f64() * 1e3
        );
    }
    println!();
    Ok(if received > 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}
