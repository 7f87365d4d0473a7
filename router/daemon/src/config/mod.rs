//! The daemon's configuration file: TOML in, a validated [`Config`] out.
//!
//! Owns the file format of `antsd` (documented in `docs/daemon.md`), its defaults, and every
//! check that can be made before a node starts: addresses parse, routes go via neighbours,
//! node addresses map to distinct sockets, pinned module files exist (and, with
//! [`Config::check_modules`], pass the sandbox's load-time validation). Every error names the
//! file, the line and column, and the field (`routes[1].via`), so an operator can fix it
//! without guessing.
//!
//! It never opens a socket, starts a node or keeps files open: it reads the configuration and
//! the pinned modules once, and the driver decides what to do with the result.

mod driver;
mod fields;
mod file;
mod peers;
#[cfg(test)]
mod tests;

use std::collections::HashMap;
use std::fmt;
use std::net::{IpAddr, Ipv6Addr, SocketAddr};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use toml::Spanned;

use ants_router::fingerprint::{Fingerprint, FingerprintPolicy};
use ants_router::node::{CpuShareLimits, DemandLimits, NodeConfig};
use ants_router::routing::{NextHop, Route};
use ants_router::sandbox::{Sandbox, SandboxLimits};
use ants_router::softstore::{CodeCacheLimits, StateLimits};

pub use driver::DriverLimits;
pub use fields::Location;
use fields::{Checker, parse_prefix};
use file::RawConfig;
use peers::canonical;
pub use peers::{NeighbourConfig, PeerMap};

/// UDP port of an active node whose socket address is not configured: a node address without
/// a `neighbours` or `peers` entry is reached at that address, on this port.
pub const DEFAULT_PORT: u16 = 3322;

/// Application socket used when the file does not set `app_socket`.
pub const DEFAULT_APP_SOCKET: &str = "/run/antsd.sock";

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
            neighbours.push(NeighbourConfig { address: a, socket });
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
                .map_err(|m| check.error(r.prefix.span(), format!("routes[{i}].prefix"), m))?;
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
        let listen = raw.listen.as_ref().map_or(
            SocketAddr::new(IpAddr::V6(Ipv6Addr::UNSPECIFIED), DEFAULT_PORT),
            |l| *l.get_ref(),
        );

        let d = CodeCacheLimits::default();
        let c = &raw.code_cache;
        let code_cache = CodeCacheLimits {
            max_bytes: check.at_least(&c.max_bytes, "code_cache.max_bytes", 1024, d.max_bytes)?,
            max_entries: check.at_least(
                &c.max_entries,
                "code_cache.max_entries",
                1,
                d.max_entries,
            )?,
        };

        let d = StateLimits::default();
        let s = &raw.state;
        let state = StateLimits {
            max_key_len: check.at_least(&s.max_key_len, "state.max_key_len", 1, d.max_key_len)?,
            max_value_len: check.at_least(
                &s.max_value_len,
                "state.max_value_len",
                0,
                d.max_value_len,
            )?,
            per_protocol_bytes: check.at_least(
                &s.per_protocol_bytes,
                "state.per_protocol_bytes",
                0,
                d.per_protocol_bytes,
            )?,
            total_bytes: check.at_least(&s.total_bytes, "state.total_bytes", 0, d.total_bytes)?,
            max_ttl: Duration::from_millis(check.at_least(
                &s.max_ttl_ms,
                "state.max_ttl_ms",
                1,
                u64::try_from(d.max_ttl.as_millis()).unwrap_or(u64::MAX),
            )?),
        };

        let d = SandboxLimits::default();
        let s = &raw.sandbox;
        let sandbox = SandboxLimits {
            max_module_bytes: check.at_least(
                &s.max_module_bytes,
                "sandbox.max_module_bytes",
                8,
                d.max_module_bytes,
            )?,
            max_functions: check.at_least(
                &s.max_functions,
                "sandbox.max_functions",
                1,
                d.max_functions,
            )?,
            max_memory_bytes: check.at_least(
                &s.max_memory_bytes,
                "sandbox.max_memory_bytes",
                64 * 1024,
                d.max_memory_bytes,
            )?,
            max_table_elements: check.at_least(
                &s.max_table_elements,
                "sandbox.max_table_elements",
                0,
                d.max_table_elements,
            )?,
            fuel_per_evaluation: check.at_least(
                &s.fuel_per_evaluation,
                "sandbox.fuel_per_evaluation",
                1,
                d.fuel_per_evaluation,
            )?,
            max_evaluation_time: Duration::from_millis(check.at_least(
                &s.max_evaluation_time_ms,
                "sandbox.max_evaluation_time_ms",
                1,
                u64::try_from(d.max_evaluation_time.as_millis()).unwrap_or(u64::MAX),
            )?),
            idle_instance_timeout: Duration::from_millis(check.at_least(
                &s.idle_instance_ms,
                "sandbox.idle_instance_ms",
                1,
                u64::try_from(d.idle_instance_timeout.as_millis()).unwrap_or(u64::MAX),
            )?),
            // 0 keeps every protocol on baseline code.
            tier_up_after: s
                .tier_up_after
                .as_ref()
                .map_or(d.tier_up_after, |v| *v.get_ref()),
            // The optimizing compiler's shape limits: lower is safer, higher optimizes more.
            optimize_max_nesting: s
                .optimize_max_nesting
                .as_ref()
                .map_or(d.optimize_max_nesting, |v| *v.get_ref()),
            optimize_max_branches: s
                .optimize_max_branches
                .as_ref()
                .map_or(d.optimize_max_branches, |v| *v.get_ref()),
            optimize_max_br_table_targets: s
                .optimize_max_br_table_targets
                .as_ref()
                .map_or(d.optimize_max_br_table_targets, |v| *v.get_ref()),
            optimize_max_locals: s
                .optimize_max_locals
                .as_ref()
                .map_or(d.optimize_max_locals, |v| *v.get_ref()),
            max_wasm_stack: check.at_least(
                &s.max_wasm_stack,
                "sandbox.max_wasm_stack",
                16 * 1024,
                d.max_wasm_stack,
            )?,
            log_burst: check.at_least(&s.log_burst, "sandbox.log_burst", 0, d.log_burst)?,
            log_per_second: check.at_least(
                &s.log_per_second,
                "sandbox.log_per_second",
                0,
                d.log_per_second,
            )?,
            recycle_after_calls: check.at_least(
                &s.recycle_after_calls,
                "sandbox.recycle_after_calls",
                1,
                d.recycle_after_calls,
            )?,
            max_live_instances: check.at_least(
                &s.max_live_instances,
                "sandbox.max_live_instances",
                1,
                d.max_live_instances,
            )?,
            ..d
        };

        let fingerprints = if raw.fingerprints.allow_legacy_md5.unwrap_or(false) {
            FingerprintPolicy::allow_legacy_md5()
        } else {
            FingerprintPolicy::sha256_only()
        };

        let d = DemandLimits::default();
        let m = &raw.demand;
        let ms = |v: &Option<Spanned<u64>>, field: &str, default: Duration| {
            check
                .at_least(
                    v,
                    field,
                    1,
                    u64::try_from(default.as_millis()).unwrap_or(u64::MAX),
                )
                .map(Duration::from_millis)
        };
        let cd = CpuShareLimits::default();
        let c = &raw.cpu;
        let cpu = CpuShareLimits {
            fuel_per_second: check.at_least(
                &c.fuel_per_second,
                "cpu.fuel_per_second",
                1_000_000,
                cd.fuel_per_second,
            )?,
            busy_percent: check.at_most(
                &c.busy_percent,
                "cpu.busy_percent",
                100,
                cd.busy_percent,
            )?,
            window: Duration::from_millis(check.at_least(
                &c.window_ms,
                "cpu.window_ms",
                1,
                u64::try_from(cd.window.as_millis()).unwrap_or(u64::MAX),
            )?),
        };

        let demand = DemandLimits {
            max_held_per_protocol: check.at_least(
                &m.max_held_per_protocol,
                "demand.max_held_per_protocol",
                1,
                d.max_held_per_protocol,
            )?,
            max_held_bytes: check.at_least(
                &m.max_held_bytes,
                "demand.max_held_bytes",
                1,
                d.max_held_bytes,
            )?,
            max_concurrent_loads: check.at_least(
                &m.max_concurrent_loads,
                "demand.max_concurrent_loads",
                1,
                d.max_concurrent_loads,
            )?,
            max_concurrent_compiles: check.at_least(
                &m.max_concurrent_compiles,
                "demand.max_concurrent_compiles",
                1,
                d.max_concurrent_compiles,
            )?,
            fragment_timeout: ms(
                &m.fragment_timeout_ms,
                "demand.fragment_timeout_ms",
                d.fragment_timeout,
            )?,
            max_fragment_timeout: ms(
                &m.max_fragment_timeout_ms,
                "demand.max_fragment_timeout_ms",
                d.max_fragment_timeout,
            )?,
            max_retries: m.max_retries.unwrap_or(d.max_retries),
            loads_per_peer_per_second: check.at_least(
                &m.loads_per_peer_per_second,
                "demand.loads_per_peer_per_second",
                1,
                d.loads_per_peer_per_second,
            )?,
            load_burst: check.at_least(&m.load_burst, "demand.load_burst", 1, d.load_burst)?,
            fragments_per_requester_per_second: check.at_least(
                &m.fragments_per_requester_per_second,
                "demand.fragments_per_requester_per_second",
                1,
                d.fragments_per_requester_per_second,
            )?,
            fragment_burst: check.at_least(
                &m.fragment_burst,
                "demand.fragment_burst",
                1,
                d.fragment_burst,
            )?,
            max_tracked_peers: check.at_least(
                &m.max_tracked_peers,
                "demand.max_tracked_peers",
                1,
                d.max_tracked_peers,
            )?,
            max_rejected: m.max_rejected.unwrap_or(d.max_rejected),
            rejected_ttl: m
                .rejected_ttl_ms
                .map_or(d.rejected_ttl, Duration::from_millis),
            max_loopback: m.max_loopback.unwrap_or(d.max_loopback),
            state_purge_interval: ms(
                &m.state_purge_interval_ms,
                "demand.state_purge_interval_ms",
                d.state_purge_interval,
            )?,
            ask_unknown_nodes: m.ask_unknown_nodes.unwrap_or(d.ask_unknown_nodes),
            announce_code: m.announce_code.unwrap_or(d.announce_code),
            serve_unknown_nodes: m.serve_unknown_nodes.unwrap_or(d.serve_unknown_nodes),
        };

        let max_budget = check.at_least(
            &raw.max_budget,
            "max_budget",
            1,
            ants_router::node::DEFAULT_MAX_BUDGET,
        )?;

        let d = DriverLimits::default();
        let v = &raw.driver;
        let driver = DriverLimits {
            compile_workers: check.at_least(
                &v.compile_workers,
                "driver.compile_workers",
                1,
                d.compile_workers,
            )?,
            udp_recv_buffer: v.udp_recv_buffer.unwrap_or(d.udp_recv_buffer),
            udp_send_buffer: v.udp_send_buffer.unwrap_or(d.udp_send_buffer),
            app_queue: check.at_least(&v.app_queue, "driver.app_queue", 1, d.app_queue)?,
            max_app_connections: check.at_least(
                &v.max_app_connections,
                "driver.max_app_connections",
                1,
                d.max_app_connections,
            )?,
            // Relative to the configuration file, like `pin`; "" turns the store off.
            code_store: match v.code_store.as_deref() {
                // One directory per node address, so that routers whose files share a
                // directory never load each other's code.
                None => d
                    .code_store
                    .as_deref()
                    .map(|p| resolve(base, &p.to_string_lossy()).join(address.to_string())),
                Some("") => None,
                Some(p) => Some(resolve(base, p)),
            },
            code_store_max_bytes: v.code_store_max_bytes.unwrap_or(d.code_store_max_bytes),
        };

        Ok(Config {
            path: path.to_path_buf(),
            address,
            listen,
            app_socket,
            neighbours,
            peers,
            routes,
            pins,
            code_cache,
            state,
            sandbox,
            fingerprints,
            demand,
            cpu,
            max_budget,
            driver,
        })
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
            max_budget: self.max_budget,
            // A fresh random key at every start: cookies are cheap to hand out again.
            cookie_secret: None,
        }
    }
}
