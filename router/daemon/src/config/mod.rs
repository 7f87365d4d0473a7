//! The daemon's configuration file: TOML in, a validated [`Config`] out.
//!
//! Owns the file format of `antsd` (documented in `docs/daemon.md`), its defaults, and every
//! check that can be made before a node starts: addresses parse, routes go via neighbours,
//! node addresses map to distinct sockets, pinned module files exist (and, with
//! [`Config::check_modules`], pass the sandbox's load-time validation). Every error names the
//! file, the line and column, and the field (`routes[1].via`), so an operator can fix it
//! without guessing.
//!
//! The limits sections are not checked here: they are read into the node library's limits
//! types and [`DriverLimits`], whose `validate()` owns each minimum; this module only says
//! where in the file a refused value is. Parts: `file.rs` (the file as serde reads it),
//! `fields.rs` (field paths and locations), `peers.rs` ([`PeerMap`]), `driver.rs`
//! ([`DriverLimits`]), `writer.rs` ([`ConfigWriter`], the one writer of these files).
//!
//! It never opens a socket, starts a node or keeps files open, and never names the driver: it
//! reads the configuration and the pinned modules once, and the driver decides what to do
//! with the result.

mod driver;
mod fields;
mod file;
mod peers;
#[cfg(test)]
mod tests;
mod writer;

use std::collections::HashMap;
use std::fmt;
use std::net::{IpAddr, Ipv6Addr, SocketAddr};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use toml::Spanned;

use ants_router::fingerprint::{Fingerprint, FingerprintPolicy};
use ants_router::node::{
    CpuShareLimits, DEFAULT_MAX_BUDGET, DemandLimits, LivenessLimits, NodeConfig,
};
use ants_router::routing::{NextHop, Route};
use ants_router::sandbox::{Sandbox, SandboxLimits};
use ants_router::softstore::{CodeCacheLimits, StateLimits};
use ants_router::text::{parse_bit_rate, parse_prefix};

pub use ants_router::text::TextLocation as Location;
pub use driver::DriverLimits;
use fields::Checker;
use file::RawConfig;
use peers::canonical;
pub use peers::{DEFAULT_LINK_QUEUE, LinkShaping, MAX_LINK_QUEUE, NeighbourConfig, PeerMap};
pub use writer::ConfigWriter;

/// UDP port of an active node whose socket address is not configured: a node address without
/// a `neighbours` or `peers` entry is reached at that address, on this port.
pub const DEFAULT_PORT: u16 = 3322;

/// Application socket used when the file does not set `app_socket`.
pub const DEFAULT_APP_SOCKET: &str = "/run/antsd.sock";

/// The default bound on the pcap file (`pcap_max_bytes`): 64 MiB.
pub const DEFAULT_PCAP_MAX_BYTES: u64 = 64 * 1024 * 1024;

/// The smallest `pcap_max_bytes`: room for the file header and a few datagrams.
pub const MIN_PCAP_MAX_BYTES: u64 = 4096;

/// Longest network interface name Linux accepts (`IFNAMSIZ` less the terminating zero).
pub const MAX_INTERFACE_NAME: usize = 15;

/// How capsules reach the node.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub enum Mode {
    /// Capsules are addressed to this node and arrive on its UDP socket (`mode = "overlay"`,
    /// the default).
    #[default]
    Overlay,
    /// Also every capsule that crosses the named interfaces toward the capsule port, whatever
    /// its IP destination, is captured and evaluated here, and the kernel does not forward it
    /// (`mode = "on-path"`, `docs/on-path.md`).
    OnPath {
        /// The interfaces captured on, in file order.
        interfaces: Vec<String>,
    },
}

impl Mode {
    /// The interfaces of on-path mode; none in overlay mode.
    pub fn interfaces(&self) -> &[String] {
        match self {
            Mode::Overlay => &[],
            Mode::OnPath { interfaces } => interfaces,
        }
    }
}

/// Why a configuration was refused: the file, where in it, which field, and what is wrong.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub struct ConfigError {
    path: PathBuf,
    location: Option<Location>,
    field: Option<String>,
    message: String,
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.path.display())?;
        if let Some(at) = self.location {
            write!(f, ":{}:{}", at.line, at.column)?;
        }
        if let Some(field) = &self.field {
            write!(f, ": `{field}`")?;
        }
        write!(f, ": {}", self.message)
    }
}

impl ConfigError {
    /// The configuration file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Where in the file, when the error is about some part of it.
    pub fn location(&self) -> Option<Location> {
        self.location
    }

    /// The field, as a path from the top of the file (`neighbours[0].socket`).
    pub fn field(&self) -> Option<&str> {
        self.field.as_deref()
    }

    /// What is wrong, without the location.
    pub fn message(&self) -> &str {
        &self.message
    }
}

/// A module registered (and pinned in the code cache) when the daemon starts.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PinnedModule {
    /// The file, resolved against the configuration file's directory.
    pub path: PathBuf,
    /// Its bytes, read when the configuration was loaded.
    pub bytes: Arc<[u8]>,
    location: Location,
    index: usize,
}

impl PinnedModule {
    /// The module's type fingerprint (SHA-256 of its bytes).
    pub fn fingerprint(&self) -> Fingerprint {
        Fingerprint::sha256(&self.bytes)
    }
}

/// A validated daemon configuration. See `docs/daemon.md` for the file format.
#[derive(Clone, Debug)]
pub struct Config {
    /// The file it was read from.
    pub path: PathBuf,
    /// This node's address.
    pub address: IpAddr,
    /// The UDP socket address the daemon binds.
    pub listen: SocketAddr,
    /// The Unix socket local applications connect to.
    pub app_socket: PathBuf,
    /// Where `GET /metrics` is served (Prometheus text format); `None`: not served.
    pub metrics_listen: Option<SocketAddr>,
    /// The pcap file every datagram sent and received is written to (`pcap`, resolved against
    /// the file's directory); `None`: none is written.
    pub pcap: Option<PathBuf>,
    /// Bound on the pcap file's bytes (`pcap_max_bytes`).
    pub pcap_max_bytes: u64,
    /// Overlay (the default) or on-path, with its interfaces (`mode`, `interfaces`).
    pub mode: Mode,
    /// Active neighbours, in file order.
    pub neighbours: Vec<NeighbourConfig>,
    /// Every node address with a configured socket: neighbours and peers.
    pub peers: PeerMap,
    /// Routing table entries; every next hop is a neighbour.
    pub routes: Vec<Route>,
    /// Modules registered at start, in file order.
    pub pins: Vec<PinnedModule>,
    /// Code cache bounds.
    pub code_cache: CodeCacheLimits,
    /// Protocol state store bounds.
    pub state: StateLimits,
    /// Module and evaluation limits.
    pub sandbox: SandboxLimits,
    /// Accepted fingerprint algorithms.
    pub fingerprints: FingerprintPolicy,
    /// Demand loading bounds and timers.
    pub demand: DemandLimits,
    /// Evaluation capacity and the fair share between protocols.
    pub cpu: CpuShareLimits,
    /// Hellos, neighbour liveness and overlay routing (off unless `hello_interval_ms` is set).
    pub liveness: LivenessLimits,
    /// Largest budget an arriving capsule keeps (larger ones are clamped).
    pub max_budget: u16,
    /// Socket buffers, compile workers and application queues of the driver.
    pub driver: DriverLimits,
}

fn resolve(base: &Path, file: &str) -> PathBuf {
    let p = Path::new(file);
    if p.is_absolute() {
        p.to_path_buf()
    } else {
        base.join(p)
    }
}

/// The `mode` and `interfaces` keys: overlay unless `mode = "on-path"`, which needs one or
/// more distinct interface names and the capsule port as the listening port.
fn mode(check: &Checker<'_>, raw: &RawConfig, listen: SocketAddr) -> Result<Mode, ConfigError> {
    let on_path = match &raw.mode {
        None => false,
        Some(m) => match m.get_ref().as_str() {
            "overlay" => false,
            "on-path" => true,
            other => {
                return Err(check.error(
                    m.span(),
                    "mode",
                    format_args!("unknown mode `{other}`, expected `overlay` or `on-path`"),
                ));
            }
        },
    };
    let Some(list) = raw.interfaces.as_ref() else {
        if on_path {
            let span = raw.mode.as_ref().map(|m| m.span()).unwrap_or(0..0);
            return Err(check.error(
                span,
                "mode",
                "on-path mode captures on the interfaces it is given: add e.g. \
                 interfaces = [\"eth0\", \"eth1\"]",
            ));
        }
        return Ok(Mode::Overlay);
    };
    if !on_path {
        return Err(check.error(
            list.span(),
            "interfaces",
            "interfaces are captured only in on-path mode: add mode = \"on-path\" or remove `interfaces`",
        ));
    }
    if list.get_ref().is_empty() {
        return Err(check.error(
            list.span(),
            "interfaces",
            "on-path mode needs at least one interface",
        ));
    }
    let mut interfaces: Vec<String> = Vec::new();
    for (i, name) in list.get_ref().iter().enumerate() {
        let n = name.get_ref();
        let field = format!("interfaces[{i}]");
        let valid = !n.is_empty()
            && n.len() <= MAX_INTERFACE_NAME
            && n != "."
            && n != ".."
            && n.chars()
                .all(|c| c.is_ascii_graphic() && c != '/' && c != ':');
        if !valid {
            return Err(check.error(
                name.span(),
                field,
                format_args!(
                    "`{n}` is not an interface name (1 to {MAX_INTERFACE_NAME} visible characters, \
                     no `/` or `:`)"
                ),
            ));
        }
        if interfaces.iter().any(|m| m == n) {
            return Err(check.error(
                name.span(),
                field,
                format_args!("interface `{n}` is listed twice"),
            ));
        }
        interfaces.push(n.clone());
    }
    if listen.port() != DEFAULT_PORT {
        let span = raw.listen.as_ref().map(|l| l.span()).unwrap_or(0..0);
        return Err(check.error(
            span,
            "listen",
            format_args!(
                "on-path mode captures datagrams to the capsule port {DEFAULT_PORT} and sends \
                 from it: listen on port {DEFAULT_PORT}, not {}",
                listen.port()
            ),
        ));
    }
    Ok(Mode::OnPath { interfaces })
}

impl Config {
    /// Reads and validates the configuration file at `path`, and reads the pinned modules.
    pub fn load(path: impl AsRef<Path>) -> Result<Config, ConfigError> {
        let path = path.as_ref();
        let text = std::fs::read_to_string(path).map_err(|e| ConfigError {
            path: path.to_path_buf(),
            location: None,
            field: None,
            message: format!("cannot read the configuration file: {e}"),
        })?;
        Config::parse(&text, path)
    }

    /// Validates `text` as if it were the contents of the file at `path`: relative paths in it
    /// are resolved against `path`'s directory, and errors name `path`.
    pub fn parse(text: &str, path: &Path) -> Result<Config, ConfigError> {
        let check = Checker { path, text };
        let raw: RawConfig = toml::from_str(text).map_err(|e| check.toml_error(&e))?;
        let base = path.parent().unwrap_or(Path::new("."));
        let address = *raw.address.get_ref();

        let mut peers = PeerMap::new();
        // Which field first claimed each socket, to report two nodes on one socket.
        let mut claimed: HashMap<SocketAddr, (IpAddr, String)> = HashMap::new();
        let mut claim = |node: IpAddr,
                         socket: &Spanned<SocketAddr>,
                         field: String|
         -> Result<(), ConfigError> {
            let s = canonical(*socket.get_ref());
            if let Some((other, by)) = claimed.get(&s)
                && *other != node
            {
                return Err(check.error(
                    socket.span(),
                    field,
                    format_args!(
                        "socket {s} is already the socket of node {other} (`{by}`); \
                         each node needs its own socket so senders can be told apart"
                    ),
                ));
            }
            claimed.insert(s, (node, field));
            Ok(())
        };

        let mut neighbours: Vec<NeighbourConfig> = Vec::new();
        for (i, n) in raw.neighbours.iter().enumerate() {
            let a = *n.address.get_ref();
            if a == address {
                return Err(check.error(
                    n.address.span(),
                    format!("neighbours[{i}].address"),
                    format_args!("{a} is this node's own address; a node is not its own neighbour"),
                ));
            }
            if neighbours.iter().any(|m| m.address == a) {
                return Err(check.error(
                    n.address.span(),
                    format!("neighbours[{i}].address"),
                    format_args!("neighbour {a} is listed twice"),
                ));
            }
            let socket = match &n.socket {
                Some(s) => {
                    claim(a, s, format!("neighbours[{i}].socket"))?;
                    peers.insert(a, *s.get_ref());
                    *s.get_ref()
                }
                None => SocketAddr::new(a, DEFAULT_PORT),
            };
            let shaping = match (&n.rate, &n.queue) {
                (None, None) => None,
                (None, Some(q)) => {
                    return Err(check.error(
                        q.span(),
                        format!("neighbours[{i}].queue"),
                        "a queue needs a `rate` (nothing waits on a link without one); \
                         add e.g. rate = \"10Mbit\" or remove `queue`",
                    ));
                }
                (Some(r), q) => {
                    let rate_bps = parse_bit_rate(r.get_ref())
                        .map_err(|e| check.error(r.span(), format!("neighbours[{i}].rate"), e))?;
                    let queue = match q {
                        None => DEFAULT_LINK_QUEUE,
                        Some(q) => usize::try_from(*q.get_ref())
                            .ok()
                            .filter(|v| (1..=MAX_LINK_QUEUE).contains(v))
                            .ok_or_else(|| {
                                check.error(
                                    q.span(),
                                    format!("neighbours[{i}].queue"),
                                    format_args!(
                                        "must be from 1 to {MAX_LINK_QUEUE} datagrams, not {}",
                                        q.get_ref()
                                    ),
                                )
                            })?,
                    };
                    Some(LinkShaping { rate_bps, queue })
                }
            };
            neighbours.push(NeighbourConfig {
                address: a,
                socket,
                shaping,
            });
        }

        for (key, socket) in &raw.peers {
            let field = format!("peers.{:?}", key.get_ref());
            let node: IpAddr = key.get_ref().parse().map_err(|_| {
                check.error(
                    key.span(),
                    field.clone(),
                    format_args!(
                        "`{}` is not an IP address (keys of `peers` are node addresses)",
                        key.get_ref()
                    ),
                )
            })?;
            if let Some(n) = neighbours.iter().find(|n| n.address == node)
                && canonical(n.socket) != canonical(*socket.get_ref())
            {
                return Err(check.error(
                    socket.span(),
                    field,
                    format_args!(
                        "node {node} is a neighbour with socket {}; a peer entry may not give it another",
                        n.socket
                    ),
                ));
            }
            claim(node, socket, field)?;
            peers.insert(node, *socket.get_ref());
        }

        let mut routes = Vec::new();
        for (i, r) in raw.routes.iter().enumerate() {
            let (prefix, len) = parse_prefix(r.prefix.get_ref())
                .map_err(|e| check.error(r.prefix.span(), format!("routes[{i}].prefix"), e))?;
            let via = *r.via.get_ref();
            if !neighbours.iter().any(|n| n.address == via) {
                return Err(check.error(
                    r.via.span(),
                    format!("routes[{i}].via"),
                    format_args!(
                        "{via} is not a neighbour of this node; a route's next hop must be listed under [[neighbours]]"
                    ),
                ));
            }
            routes.push(Route {
                prefix,
                len,
                next_hop: NextHop::Neighbour(via),
            });
        }

        let mut pins = Vec::new();
        for (index, p) in raw.pin.iter().enumerate() {
            let file = resolve(base, p.get_ref());
            let bytes = std::fs::read(&file).map_err(|e| {
                check.error(
                    p.span(),
                    format!("pin[{index}]"),
                    format_args!("cannot read module {}: {e}", file.display()),
                )
            })?;
            pins.push(PinnedModule {
                path: file,
                bytes: bytes.into(),
                location: Location::of_offset(text, p.span().start),
                index,
            });
        }

        let app_socket = match &raw.app_socket {
            Some(s) if s.get_ref().is_empty() => {
                return Err(check.error(s.span(), "app_socket", "must not be empty"));
            }
            Some(s) => resolve(base, s.get_ref()),
            None => PathBuf::from(DEFAULT_APP_SOCKET),
        };
        let pcap = match &raw.pcap {
            Some(p) if p.get_ref().is_empty() => {
                return Err(check.error(
                    p.span(),
                    "pcap",
                    "must not be empty (leave it out for no pcap file)",
                ));
            }
            Some(p) => Some(resolve(base, p.get_ref())),
            None => None,
        };
        let pcap_max_bytes = match &raw.pcap_max_bytes {
            Some(m) if *m.get_ref() < MIN_PCAP_MAX_BYTES => {
                return Err(check.error(
                    m.span(),
                    "pcap_max_bytes",
                    format!("must be at least {MIN_PCAP_MAX_BYTES} bytes"),
                ));
            }
            Some(m) => *m.get_ref(),
            None => DEFAULT_PCAP_MAX_BYTES,
        };
        let listen = raw.listen.as_ref().map_or(
            SocketAddr::new(IpAddr::V6(Ipv6Addr::UNSPECIFIED), DEFAULT_PORT),
            |l| *l.get_ref(),
        );
        let mode = mode(&check, &raw, listen)?;

        // The code store: relative to the configuration file, like `pin`. Left out, one
        // directory per node address, so that routers whose files share a directory never
        // load each other's code; "" turns it off.
        let mut driver = raw.driver;
        driver.code_store = match driver.code_store {
            Some(p) if fields::value_span(text, &["driver", "code_store"]).is_none() => {
                Some(resolve(base, &p.to_string_lossy()).join(address.to_string()))
            }
            Some(p) => Some(resolve(base, &p.to_string_lossy())),
            None => None,
        };

        let config = Config {
            path: path.to_path_buf(),
            address,
            listen,
            app_socket,
            metrics_listen: raw.metrics_listen.as_ref().map(|m| *m.get_ref()),
            pcap,
            pcap_max_bytes,
            mode,
            neighbours,
            peers,
            routes,
            pins,
            code_cache: raw.code_cache,
            state: raw.state,
            sandbox: raw.sandbox,
            fingerprints: raw.fingerprints.policy(),
            demand: raw.demand,
            cpu: raw.cpu,
            liveness: raw.liveness,
            max_budget: raw.max_budget.unwrap_or(DEFAULT_MAX_BUDGET),
            driver,
        };
        // Every limit against its type's minimum, located at the value the file gave.
        config
            .node_config()
            .validate()
            .and_then(|()| config.driver.validate())
            .map_err(|e| check.limit_error(&e))?;
        Ok(config)
    }

    /// Checks every pinned module against the sandbox's load-time rules with this
    /// configuration's limits (what `antsd --check` does after parsing), compiling none.
    /// Returns their fingerprints in file order.
    pub fn check_modules(&self) -> Result<Vec<Fingerprint>, ConfigError> {
        if self.pins.is_empty() {
            return Ok(Vec::new());
        }
        let sandbox = Sandbox::new(self.sandbox.clone()).map_err(|e| ConfigError {
            path: self.path.clone(),
            location: None,
            field: Some("sandbox".to_string()),
            message: format!("the sandbox cannot be set up with these limits: {e}"),
        })?;
        let compiler = sandbox.compiler();
        self.pins
            .iter()
            .map(|p| {
                compiler.validate(&p.bytes).map_err(|e| ConfigError {
                    path: self.path.clone(),
                    location: Some(p.location),
                    field: Some(format!("pin[{}]", p.index)),
                    message: format!("module {} refused: {e}", p.path.display()),
                })?;
                Ok(p.fingerprint())
            })
            .collect()
    }

    /// Configured peers that are not neighbours: the other nodes the core may ask for code and
    /// serve.
    pub fn code_peers(&self) -> Vec<IpAddr> {
        self.peers
            .entries()
            .into_iter()
            .map(|(node, _)| node)
            .filter(|node| !self.neighbours.iter().any(|n| n.address == *node))
            .collect()
    }

    /// The node core's part of this configuration.
    pub fn node_config(&self) -> NodeConfig {
        NodeConfig {
            address: self.address,
            neighbours: self.neighbours.iter().map(|n| n.address).collect(),
            peers: self.code_peers(),
            routes: self.routes.clone(),
            code_cache: self.code_cache,
            state: self.state,
            sandbox: self.sandbox.clone(),
            fingerprints: self.fingerprints,
            demand: self.demand.clone(),
            cpu: self.cpu,
            liveness: self.liveness.clone(),
            max_budget: self.max_budget,
            // A fresh random key at every start: cookies are cheap to hand out again.
            cookie_secret: None,
        }
    }
}
