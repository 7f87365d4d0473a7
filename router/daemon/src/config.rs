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

use std::collections::{BTreeMap, HashMap};
use std::fmt;
use std::net::{IpAddr, Ipv6Addr, SocketAddr};
use std::ops::Range;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use serde::Deserialize;
use toml::Spanned;
use toml::de::{DeTable, DeValue};

use crate::driver::DriverLimits;
use ants_router::fingerprint::{Fingerprint, FingerprintPolicy};
use ants_router::node::{CpuShareLimits, DemandLimits, NodeConfig};
use ants_router::routing::{NextHop, Route};
use ants_router::sandbox::{Sandbox, SandboxLimits};
use ants_router::softstore::{CodeCacheLimits, StateLimits};

/// UDP port of an active node whose socket address is not configured: a node address without
/// a `neighbours` or `peers` entry is reached at that address, on this port.
pub const DEFAULT_PORT: u16 = 3322;

/// Application socket used when the file does not set `app_socket`.
pub const DEFAULT_APP_SOCKET: &str = "/run/antsd.sock";

/// A line and column in the configuration file, both counted from 1 (columns in characters).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Location {
    /// Line, from 1.
    pub line: usize,
    /// Column, from 1.
    pub column: usize,
}

impl Location {
    /// The location of byte `offset` in `text` (clamped to the text).
    pub fn of_offset(text: &str, offset: usize) -> Location {
        let mut offset = offset.min(text.len());
        while !text.is_char_boundary(offset) {
            offset -= 1;
        }
        let before = &text[..offset];
        let line = before.matches('\n').count() + 1;
        let line_start = before.rfind('\n').map_or(0, |i| i + 1);
        let column = before[line_start..].chars().count() + 1;
        Location { line, column }
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

/// An active neighbour: its node address and the UDP socket address it listens on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct NeighbourConfig {
    /// The neighbour's node address.
    pub address: IpAddr,
    /// Where its datagrams go.
    pub socket: SocketAddr,
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

/// Node address ↔ UDP socket address, in both directions.
///
/// On one host several nodes share an IP address (loopback), so a node address is not where
/// its datagrams go: this map says where. Node addresses without an entry are reached at
/// `(address, DEFAULT_PORT)`. The reverse direction names the node a datagram came from, which
/// the node needs to answer code requests; a sender not in the map and not on the default port
/// is unknown (`None`).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct PeerMap {
    // Looked up once per datagram in each direction: a fast seeded hasher, not SipHash. The
    // keys come from configuration only, never from the network.
    to_socket: foldhash::HashMap<IpAddr, SocketAddr>,
    to_node: foldhash::HashMap<SocketAddr, IpAddr>,
}

/// IPv4-mapped IPv6 socket addresses (what a dual-stack socket reports for IPv4 senders) as
/// plain IPv4, so one mapping matches either form.
fn canonical(socket: SocketAddr) -> SocketAddr {
    match socket {
        SocketAddr::V6(v6) => match v6.ip().to_ipv4_mapped() {
            Some(v4) => SocketAddr::new(IpAddr::V4(v4), v6.port()),
            None => socket,
        },
        SocketAddr::V4(_) => socket,
    }
}

impl PeerMap {
    /// An empty map: every node is reached on the default port.
    pub fn new() -> Self {
        Self::default()
    }

    /// Maps `node` to `socket`, replacing an earlier mapping of either.
    pub fn insert(&mut self, node: IpAddr, socket: SocketAddr) {
        let socket = canonical(socket);
        if let Some(old) = self.to_socket.insert(node, socket) {
            self.to_node.remove(&old);
        }
        if let Some(old) = self.to_node.insert(socket, node)
            && old != node
        {
            self.to_socket.remove(&old);
        }
    }

    /// Where datagrams for `node` go.
    pub fn socket_for(&self, node: IpAddr) -> SocketAddr {
        self.to_socket
            .get(&node)
            .copied()
            .unwrap_or(SocketAddr::new(node, DEFAULT_PORT))
    }

    /// The node a datagram from `socket` came from, if known.
    pub fn node_for(&self, socket: SocketAddr) -> Option<IpAddr> {
        let socket = canonical(socket);
        if let Some(node) = self.to_node.get(&socket) {
            return Some(*node);
        }
        // An unmapped node listens on the default port of its own address.
        (socket.port() == DEFAULT_PORT && !self.to_socket.contains_key(&socket.ip()))
            .then_some(socket.ip())
    }

    /// Explicit mappings, sorted by node address.
    pub fn entries(&self) -> Vec<(IpAddr, SocketAddr)> {
        let mut all: Vec<_> = self.to_socket.iter().map(|(n, s)| (*n, *s)).collect();
        all.sort();
        all
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

// ---- The file as written -------------------------------------------------------------------

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawConfig {
    address: Spanned<IpAddr>,
    listen: Option<Spanned<SocketAddr>>,
    app_socket: Option<Spanned<String>>,
    max_budget: Option<Spanned<u16>>,
    #[serde(default)]
    pin: Vec<Spanned<String>>,
    #[serde(default)]
    neighbours: Vec<RawNeighbour>,
    #[serde(default)]
    peers: BTreeMap<Spanned<String>, Spanned<SocketAddr>>,
    #[serde(default)]
    routes: Vec<RawRoute>,
    #[serde(default)]
    code_cache: RawCodeCache,
    #[serde(default)]
    state: RawState,
    #[serde(default)]
    sandbox: RawSandbox,
    #[serde(default)]
    fingerprints: RawFingerprints,
    #[serde(default)]
    demand: RawDemand,
    #[serde(default)]
    cpu: RawCpu,
    #[serde(default)]
    driver: RawDriver,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct RawCpu {
    fuel_per_second: Option<Spanned<u64>>,
    busy_percent: Option<Spanned<u8>>,
    window_ms: Option<Spanned<u64>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawNeighbour {
    address: Spanned<IpAddr>,
    socket: Option<Spanned<SocketAddr>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawRoute {
    prefix: Spanned<String>,
    via: Spanned<IpAddr>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct RawCodeCache {
    max_bytes: Option<Spanned<usize>>,
    max_entries: Option<Spanned<usize>>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct RawState {
    max_key_len: Option<Spanned<usize>>,
    max_value_len: Option<Spanned<usize>>,
    per_protocol_bytes: Option<Spanned<usize>>,
    total_bytes: Option<Spanned<usize>>,
    max_ttl_ms: Option<Spanned<u64>>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct RawSandbox {
    max_module_bytes: Option<Spanned<usize>>,
    max_functions: Option<Spanned<u32>>,
    max_memory_bytes: Option<Spanned<usize>>,
    max_table_elements: Option<Spanned<usize>>,
    fuel_per_evaluation: Option<Spanned<u64>>,
    max_evaluation_time_ms: Option<Spanned<u64>>,
    max_wasm_stack: Option<Spanned<usize>>,
    log_burst: Option<Spanned<u32>>,
    log_per_second: Option<Spanned<u32>>,
    recycle_after_calls: Option<Spanned<u32>>,
    max_live_instances: Option<Spanned<usize>>,
    idle_instance_ms: Option<Spanned<u64>>,
    tier_up_after: Option<Spanned<u32>>,
    optimize_max_nesting: Option<Spanned<u32>>,
    optimize_max_branches: Option<Spanned<u32>>,
    optimize_max_br_table_targets: Option<Spanned<u32>>,
    optimize_max_locals: Option<Spanned<u32>>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct RawFingerprints {
    allow_legacy_md5: Option<bool>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct RawDemand {
    max_held_per_protocol: Option<Spanned<usize>>,
    max_held_bytes: Option<Spanned<usize>>,
    max_concurrent_loads: Option<Spanned<usize>>,
    max_concurrent_compiles: Option<Spanned<usize>>,
    fragment_timeout_ms: Option<Spanned<u64>>,
    max_fragment_timeout_ms: Option<Spanned<u64>>,
    max_retries: Option<u32>,
    loads_per_peer_per_second: Option<Spanned<u32>>,
    load_burst: Option<Spanned<u32>>,
    fragments_per_requester_per_second: Option<Spanned<u32>>,
    fragment_burst: Option<Spanned<u32>>,
    max_tracked_peers: Option<Spanned<usize>>,
    max_rejected: Option<usize>,
    rejected_ttl_ms: Option<u64>,
    max_loopback: Option<usize>,
    state_purge_interval_ms: Option<Spanned<u64>>,
    ask_unknown_nodes: Option<bool>,
    announce_code: Option<bool>,
    serve_unknown_nodes: Option<bool>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct RawDriver {
    compile_workers: Option<Spanned<usize>>,
    udp_recv_buffer: Option<usize>,
    udp_send_buffer: Option<usize>,
    app_queue: Option<Spanned<usize>>,
    max_app_connections: Option<Spanned<usize>>,
    code_store: Option<String>,
    code_store_max_bytes: Option<u64>,
}

// ---- Loading and validation ----------------------------------------------------------------

/// Collects located errors while one configuration text is checked.
struct Checker<'a> {
    path: &'a Path,
    text: &'a str,
}

impl Checker<'_> {
    fn error(
        &self,
        span: Range<usize>,
        field: impl Into<String>,
        message: impl fmt::Display,
    ) -> ConfigError {
        ConfigError {
            path: self.path.to_path_buf(),
            location: Some(Location::of_offset(self.text, span.start)),
            field: Some(field.into()),
            message: message.to_string(),
        }
    }

    /// `value` of an optional spanned number, which must be at least `min`.
    fn at_least<T: Copy + PartialOrd + fmt::Display>(
        &self,
        value: &Option<Spanned<T>>,
        field: &str,
        min: T,
        default: T,
    ) -> Result<T, ConfigError> {
        match value {
            None => Ok(default),
            Some(v) if *v.get_ref() >= min => Ok(*v.get_ref()),
            Some(v) => Err(self.error(v.span(), field, format_args!("must be at least {min}"))),
        }
    }

    fn at_most<T: Copy + PartialOrd + fmt::Display>(
        &self,
        value: &Option<Spanned<T>>,
        field: &str,
        max: T,
        default: T,
    ) -> Result<T, ConfigError> {
        match value {
            None => Ok(default),
            Some(v) if *v.get_ref() <= max => Ok(*v.get_ref()),
            Some(v) => Err(self.error(v.span(), field, format_args!("must be at most {max}"))),
        }
    }

    /// Converts a deserialization error of `toml`, naming the field its span points into.
    fn toml_error(&self, e: &toml::de::Error) -> ConfigError {
        let message = e.message().trim_end().to_string();
        let Some(span) = e.span() else {
            return ConfigError {
                path: self.path.to_path_buf(),
                location: None,
                field: None,
                message,
            };
        };
        // "missing field `x`" spans the table that lacks it: name that table's field.
        let field = match message
            .strip_prefix("missing field `")
            .and_then(|rest| rest.split('`').next())
        {
            Some(missing) => Some(match table_at(self.text, &span) {
                Some(table) => format!("{table}.{missing}"),
                None => missing.to_string(),
            }),
            None => field_at(self.text, span.start),
        };
        ConfigError {
            path: self.path.to_path_buf(),
            location: Some(Location::of_offset(self.text, span.start)),
            field: Some(field.unwrap_or_else(|| "(top level)".to_string())),
            message,
        }
    }
}

/// The dotted path (`neighbours[1].socket`) of the innermost key or value containing `offset`,
/// read from a span-preserving parse of the same text (which recovers from syntax errors).
fn field_at(text: &str, offset: usize) -> Option<String> {
    let (root, _) = DeTable::parse_recoverable(text);
    let mut path = String::new();
    table_path(root.get_ref(), offset, &mut path);
    (!path.is_empty()).then_some(path)
}

/// The dotted path of the innermost table or array item whose span covers all of `span`
/// (`None` for the top level).
fn table_at(text: &str, span: &Range<usize>) -> Option<String> {
    fn covers(outer: Range<usize>, inner: &Range<usize>) -> bool {
        outer.start <= inner.start && inner.end <= outer.end && outer != (0..0)
    }
    fn walk(value: &DeValue<'_>, span: &Range<usize>, path: &mut String) {
        match value {
            DeValue::Table(t) => {
                for (key, v) in t {
                    if matches!(v.get_ref(), DeValue::Table(_) | DeValue::Array(_))
                        && covers(v.span(), span)
                    {
                        push_key(path, key.get_ref());
                        walk(v.get_ref(), span, path);
                        return;
                    }
                }
            }
            DeValue::Array(items) => {
                for (i, item) in items.iter().enumerate() {
                    if covers(item.span(), span) {
                        path.push_str(&format!("[{i}]"));
                        walk(item.get_ref(), span, path);
                        return;
                    }
                }
            }
            _ => {}
        }
    }
    let (root, _) = DeTable::parse_recoverable(text);
    let mut path = String::new();
    walk(&DeValue::Table(root.into_inner()), span, &mut path);
    (!path.is_empty()).then_some(path)
}

fn push_key(path: &mut String, key: &str) {
    let bare = !key.is_empty()
        && key
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-');
    if !path.is_empty() {
        path.push('.');
    }
    if bare {
        path.push_str(key);
    } else {
        path.push_str(&format!("{key:?}"));
    }
}

fn table_path(table: &DeTable<'_>, offset: usize, path: &mut String) -> bool {
    for (key, value) in table {
        if key.span().contains(&offset) {
            push_key(path, key.get_ref());
            return true;
        }
        if value.span().contains(&offset) || contains_offset(value.get_ref(), offset) {
            push_key(path, key.get_ref());
            value_path(value.get_ref(), offset, path);
            return true;
        }
    }
    false
}

fn value_path(value: &DeValue<'_>, offset: usize, path: &mut String) {
    match value {
        DeValue::Table(t) => {
            table_path(t, offset, path);
        }
        DeValue::Array(items) => {
            for (i, item) in items.iter().enumerate() {
                if item.span().contains(&offset) || contains_offset(item.get_ref(), offset) {
                    path.push_str(&format!("[{i}]"));
                    value_path(item.get_ref(), offset, path);
                    return;
                }
            }
        }
        _ => {}
    }
}

/// Whether any key or value inside `value` covers `offset`: the spans of tables declared with
/// a `[header]` do not always cover their keys, so look inside.
fn contains_offset(value: &DeValue<'_>, offset: usize) -> bool {
    match value {
        DeValue::Table(t) => t.iter().any(|(k, v)| {
            k.span().contains(&offset)
                || v.span().contains(&offset)
                || contains_offset(v.get_ref(), offset)
        }),
        DeValue::Array(items) => items
            .iter()
            .any(|i| i.span().contains(&offset) || contains_offset(i.get_ref(), offset)),
        _ => false,
    }
}

/// Parses `prefix/len` (or a bare address, a host route).
fn parse_prefix(text: &str) -> Result<(IpAddr, u8), String> {
    let (addr, len) = match text.split_once('/') {
        Some((a, l)) => (a, Some(l)),
        None => (text, None),
    };
    let addr: IpAddr = addr.trim().parse().map_err(|_| {
        format!("`{addr}` is not an IP address (write `10.1.0.0/16` or `fd00::/8`)")
    })?;
    let bits = if addr.is_ipv4() { 32 } else { 128 };
    let len = match len {
        None => bits,
        Some(l) => l
            .trim()
            .parse::<u8>()
            .ok()
            .filter(|l| *l <= bits)
            .ok_or_else(|| format!("prefix length `/{l}` must be a number from 0 to {bits}"))?,
    };
    Ok((addr, len))
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

#[cfg(test)]
mod tests {
    use super::*;

    const GOOD: &str = r#"
address = "10.0.0.1"
listen = "127.0.0.1:4001"
app_socket = "run/r1.sock"

[[neighbours]]
address = "10.0.0.2"
socket = "127.0.0.1:4002"

[[neighbours]]
address = "fd00::3"

[peers]
"10.0.0.9" = "127.0.0.1:4009"

[[routes]]
prefix = "10.0.0.0/24"
via = "10.0.0.2"

[[routes]]
prefix = "fd00::/16"
via = "fd00::3"

[sandbox]
fuel_per_evaluation = 5000

[demand]
fragment_timeout_ms = 50
"#;

    fn parse(text: &str) -> Result<Config, ConfigError> {
        Config::parse(text, Path::new("/etc/ants/r1.toml"))
    }

    fn err(text: &str) -> ConfigError {
        match parse(text) {
            Ok(_) => panic!("accepted:\n{text}"),
            Err(e) => e,
        }
    }

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    fn sa(s: &str) -> SocketAddr {
        s.parse().unwrap()
    }

    #[test]
    fn a_full_file_parses() {
        let c = parse(GOOD).unwrap();
        assert_eq!(c.address, ip("10.0.0.1"));
        assert_eq!(c.listen, sa("127.0.0.1:4001"));
        assert_eq!(c.app_socket, PathBuf::from("/etc/ants/run/r1.sock"));
        assert_eq!(
            c.neighbours,
            [
                NeighbourConfig {
                    address: ip("10.0.0.2"),
                    socket: sa("127.0.0.1:4002")
                },
                NeighbourConfig {
                    address: ip("fd00::3"),
                    socket: sa("[fd00::3]:3322")
                },
            ]
        );
        assert_eq!(c.routes.len(), 2);
        assert_eq!(c.routes[1].len, 16);
        assert_eq!(c.routes[1].next_hop, NextHop::Neighbour(ip("fd00::3")));
        assert_eq!(c.sandbox.fuel_per_evaluation, 5000);
        assert_eq!(
            c.sandbox.max_functions,
            SandboxLimits::default().max_functions
        );
        assert_eq!(c.demand.fragment_timeout, Duration::from_millis(50));
        assert_eq!(c.peers.socket_for(ip("10.0.0.9")), sa("127.0.0.1:4009"));
        assert_eq!(c.peers.node_for(sa("127.0.0.1:4002")), Some(ip("10.0.0.2")));
        let node = c.node_config();
        assert_eq!(node.neighbours, [ip("10.0.0.2"), ip("fd00::3")]);
        assert_eq!(node.routes, c.routes);
    }

    #[test]
    fn defaults_for_a_minimal_file() {
        let c = parse("address = \"10.0.0.1\"\n").unwrap();
        assert_eq!(c.listen, sa("[::]:3322"));
        assert_eq!(c.app_socket, PathBuf::from(DEFAULT_APP_SOCKET));
        assert!(c.neighbours.is_empty() && c.routes.is_empty() && c.pins.is_empty());
        assert_eq!(c.fingerprints, FingerprintPolicy::sha256_only());
        // The code store sits beside the configuration file.
        assert_eq!(
            c.driver,
            DriverLimits {
                code_store: Some(PathBuf::from("/etc/ants/antsd-code/10.0.0.1")),
                ..DriverLimits::default()
            }
        );
        assert_eq!(c.demand, DemandLimits::default());
        assert_eq!(c.code_cache, CodeCacheLimits::default());
    }

    /// Every error names the file, the line and column, and the field.
    fn located(e: &ConfigError, line: usize, field: &str) {
        assert_eq!(e.path(), Path::new("/etc/ants/r1.toml"), "{e}");
        assert_eq!(e.location().map(|l| l.line), Some(line), "{e}");
        assert_eq!(e.field(), Some(field), "{e}");
        let shown = e.to_string();
        assert!(
            shown.starts_with(&format!("/etc/ants/r1.toml:{line}:")),
            "{shown}"
        );
        assert!(shown.contains(&format!("`{field}`")), "{shown}");
    }

    #[test]
    fn unknown_fields_are_named() {
        let e = err(&GOOD.replace("listen =", "lisen ="));
        located(&e, 3, "lisen");
        assert!(e.message().contains("unknown field `lisen`"), "{e}");

        let e = err(&GOOD.replace("socket = \"127.0.0.1:4002\"", "sockt = \"127.0.0.1:4002\""));
        located(&e, 8, "neighbours[0].sockt");

        let e = err(&GOOD.replace("fuel_per_evaluation", "fuel"));
        located(&e, 25, "sandbox.fuel");

        let e = err(&format!("{GOOD}\n[extras]\nx = 1\n"));
        assert_eq!(e.field(), Some("extras"), "{e}");
    }

    #[test]
    fn bad_values_are_named() {
        let e = err(&GOOD.replace("\"fd00::3\"\n\n[peers]", "\"fd00::zz\"\n\n[peers]"));
        located(&e, 11, "neighbours[1].address");
        assert!(e.message().contains("invalid IP address"), "{e}");

        let e = err(&GOOD.replace("\"127.0.0.1:4001\"", "\"127.0.0.1\""));
        located(&e, 3, "listen");

        let e = err(&GOOD.replace("5000", "-5"));
        located(&e, 25, "sandbox.fuel_per_evaluation");

        let e = err(&GOOD.replace("5000", "0"));
        located(&e, 25, "sandbox.fuel_per_evaluation");
        assert_eq!(e.message(), "must be at least 1");

        let e = err(&GOOD.replace("10.0.0.0/24", "10.0.0.0/33"));
        located(&e, 17, "routes[0].prefix");
        assert!(e.message().contains("0 to 32"), "{e}");

        let e = err(&GOOD.replace("10.0.0.0/24", "ten/8"));
        located(&e, 17, "routes[0].prefix");

        let e = err(&GOOD.replace("\"10.0.0.9\" =", "\"ten\" ="));
        located(&e, 14, "peers.\"ten\"");

        let e = err("address = \"10.0.0.1\"\napp_socket = \"\"\n");
        located(&e, 2, "app_socket");
    }

    #[test]
    fn missing_and_mistyped_fields_are_named() {
        let e = err("listen = \"127.0.0.1:1\"\n");
        assert_eq!(e.field(), Some("address"), "{e}");
        assert!(e.message().contains("missing field `address`"), "{e}");

        let e = err("address = \"10.0.0.1\"\n[[neighbours]]\nsocket = \"127.0.0.1:2\"\n");
        assert_eq!(e.field(), Some("neighbours[0].address"), "{e}");

        let e = err("address = \"10.0.0.1\"\nneighbours = 3\n");
        located(&e, 2, "neighbours");

        let e = err("address = \"10.0.0.1\"\n[driver]\ncompile_workers = \"two\"\n");
        located(&e, 3, "driver.compile_workers");
    }

    #[test]
    fn syntax_errors_have_a_location() {
        let e = err("address = \"10.0.0.1\"\n[[neighbours]]\naddress = \n");
        assert_eq!(e.location().map(|l| l.line), Some(3), "{e}");
        assert!(e.field().is_some(), "{e}");
    }

    #[test]
    fn routes_must_go_via_neighbours() {
        let e = err(&GOOD.replace("via = \"10.0.0.2\"", "via = \"10.0.0.9\""));
        located(&e, 18, "routes[0].via");
        assert!(e.message().contains("10.0.0.9 is not a neighbour"), "{e}");
    }

    #[test]
    fn neighbour_and_socket_conflicts() {
        let e = err(&GOOD.replace("address = \"fd00::3\"", "address = \"10.0.0.2\""));
        located(&e, 11, "neighbours[1].address");
        assert!(e.message().contains("listed twice"), "{e}");

        let e = err(&GOOD.replace("address = \"fd00::3\"", "address = \"10.0.0.1\""));
        located(&e, 11, "neighbours[1].address");

        // Two node addresses on one socket could not be told apart.
        let e = err(&GOOD.replace("127.0.0.1:4009", "127.0.0.1:4002"));
        located(&e, 14, "peers.\"10.0.0.9\"");
        assert!(e.message().contains("neighbours[0].socket"), "{e}");

        // A peer entry may not move a neighbour to another socket.
        let e = err(&GOOD.replace(
            "\"10.0.0.9\" = \"127.0.0.1:4009\"",
            "\"10.0.0.2\" = \"127.0.0.1:4008\"",
        ));
        located(&e, 14, "peers.\"10.0.0.2\"");
        // ... but may repeat it.
        parse(&GOOD.replace(
            "\"10.0.0.9\" = \"127.0.0.1:4009\"",
            "\"10.0.0.2\" = \"127.0.0.1:4002\"",
        ))
        .unwrap();
    }

    #[test]
    fn pinned_modules_are_read_and_checked() {
        let dir = tempfile::tempdir().unwrap();
        let good = wat::parse_str(
            r#"(module (memory (export "memory") 1)
                 (func (export "ants_evaluate") (result i32) i32.const 0))"#,
        )
        .unwrap();
        let bad =
            wat::parse_str(r#"(module (import "env" "f" (func)) (memory (export "memory") 1))"#)
                .unwrap();
        std::fs::write(dir.path().join("good.wasm"), &good).unwrap();
        std::fs::write(dir.path().join("bad.wasm"), &bad).unwrap();
        let path = dir.path().join("r.toml");

        let text = "address = \"10.0.0.1\"\npin = [\"good.wasm\"]\n";
        let c = Config::parse(text, &path).unwrap();
        assert_eq!(c.pins[0].path, dir.path().join("good.wasm"));
        assert_eq!(c.check_modules().unwrap(), [Fingerprint::sha256(&good)]);

        let text = "address = \"10.0.0.1\"\npin = [\n  \"good.wasm\",\n  \"missing.wasm\",\n]\n";
        let e = Config::parse(text, &path).unwrap_err();
        assert_eq!(e.location().map(|l| l.line), Some(4), "{e}");
        assert_eq!(e.field(), Some("pin[1]"), "{e}");
        assert!(e.message().contains("missing.wasm"), "{e}");

        let text = "address = \"10.0.0.1\"\npin = [\"good.wasm\", \"bad.wasm\"]\n";
        let c = Config::parse(text, &path).unwrap();
        let e = c.check_modules().unwrap_err();
        assert_eq!(
            e.location(),
            Some(Location {
                line: 2,
                column: 21
            }),
            "{e}"
        );
        assert_eq!(e.field(), Some("pin[1]"), "{e}");
        assert!(e.message().contains("forbidden import `env::f`"), "{e}");
    }

    #[test]
    fn unreadable_file_names_the_file() {
        let e = Config::load("/nonexistent/ants/r9.toml").unwrap_err();
        assert_eq!(e.path(), Path::new("/nonexistent/ants/r9.toml"));
        assert!(
            e.to_string()
                .starts_with("/nonexistent/ants/r9.toml: cannot read"),
            "{e}"
        );
    }

    #[test]
    fn peer_map_resolves_both_ways() {
        let mut m = PeerMap::new();
        m.insert(ip("10.0.0.2"), sa("127.0.0.1:4002"));
        assert_eq!(m.socket_for(ip("10.0.0.2")), sa("127.0.0.1:4002"));
        assert_eq!(m.socket_for(ip("10.0.0.7")), sa("10.0.0.7:3322"));
        // A dual-stack socket reports IPv4 senders as IPv4-mapped IPv6.
        assert_eq!(
            m.node_for(sa("[::ffff:127.0.0.1]:4002")),
            Some(ip("10.0.0.2"))
        );
        assert_eq!(m.node_for(sa("10.0.0.7:3322")), Some(ip("10.0.0.7")));
        assert_eq!(m.node_for(sa("10.0.0.7:5555")), None);
        // A mapped node does not also answer at its default port.
        assert_eq!(m.node_for(sa("10.0.0.2:3322")), None);
        // Remapping a node frees its old socket.
        m.insert(ip("10.0.0.2"), sa("127.0.0.1:4012"));
        assert_eq!(m.node_for(sa("127.0.0.1:4002")), None);
        assert_eq!(m.entries(), [(ip("10.0.0.2"), sa("127.0.0.1:4012"))]);
    }

    #[test]
    fn locations_count_lines_and_characters() {
        let t = "ab\né = 1\n";
        assert_eq!(Location::of_offset(t, 0), Location { line: 1, column: 1 });
        assert_eq!(Location::of_offset(t, 3), Location { line: 2, column: 1 });
        // Byte 6 is after "é" (2 bytes) and " ": the third character.
        assert_eq!(Location::of_offset(t, 6), Location { line: 2, column: 3 });
        assert_eq!(Location::of_offset(t, 999), Location { line: 3, column: 1 });
    }
}
