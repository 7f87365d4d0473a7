//! The one writer of `antsd` configuration files: [`ConfigWriter`].
//!
//! Owns turning a configuration built in code (the namespace deployer's generated routers, the
//! benchmarks' and tests' chains) into the TOML text [`super::Config::parse`] reads, with the
//! same keys the parser knows, so that a program never writes that text by hand. Limits
//! sections are written through the limits types' own serde form, and only the keys that
//! differ from their defaults, so a written file stays short and says what is special about
//! it.
//!
//! It never checks what it writes (the parser does, when the daemon reads the file) and never
//! touches the file system: it returns text.

use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;

use ants_router::fingerprint::FingerprintPolicy;
use ants_router::node::{CpuShareLimits, DemandLimits, LivenessLimits};
use ants_router::sandbox::SandboxLimits;
use ants_router::softstore::{CodeCacheLimits, StateLimits};
use serde::Serialize;
use toml::{Table, Value};

use super::file::Fingerprints;
use super::{DriverLimits, LinkShaping};

/// A configuration file under construction. See `docs/daemon.md` for what each part means;
/// what is not set is left out of the file, so the daemon's default applies.
///
/// ```
/// use ants_daemon::config::{Config, ConfigWriter};
/// let text = ConfigWriter::new("10.0.0.1".parse().unwrap())
///     .listen("127.0.0.1:4001".parse().unwrap())
///     .neighbour("10.0.0.2".parse().unwrap(), "127.0.0.1:4002".parse().unwrap())
///     .route("0.0.0.0".parse().unwrap(), 0, "10.0.0.2".parse().unwrap())
///     .to_toml();
/// let config = Config::parse(&text, std::path::Path::new("/etc/ants/r1.toml")).unwrap();
/// assert_eq!(config.routes.len(), 1);
/// ```
#[derive(Clone, Debug, PartialEq)]
pub struct ConfigWriter {
    comment: Vec<String>,
    address: IpAddr,
    listen: Option<SocketAddr>,
    app_socket: Option<PathBuf>,
    metrics_listen: Option<SocketAddr>,
    max_budget: Option<u16>,
    pins: Vec<PathBuf>,
    neighbours: Vec<(IpAddr, Option<SocketAddr>, Option<LinkShaping>)>,
    peers: Vec<(IpAddr, SocketAddr)>,
    routes: Vec<(IpAddr, u8, IpAddr)>,
    sections: Vec<(&'static str, Table)>,
}

impl ConfigWriter {
    /// A file for the node at `address`, with nothing else set.
    pub fn new(address: IpAddr) -> ConfigWriter {
        ConfigWriter {
            comment: Vec::new(),
            address,
            listen: None,
            app_socket: None,
            metrics_listen: None,
            max_budget: None,
            pins: Vec::new(),
            neighbours: Vec::new(),
            peers: Vec::new(),
            routes: Vec::new(),
            sections: Vec::new(),
        }
    }

    /// A comment line at the top of the file (who wrote it, for whom).
    pub fn comment(&mut self, line: impl Into<String>) -> &mut Self {
        self.comment.push(line.into());
        self
    }

    /// The UDP socket the daemon binds (`listen`).
    pub fn listen(&mut self, socket: SocketAddr) -> &mut Self {
        self.listen = Some(socket);
        self
    }

    /// The application socket (`app_socket`); a relative path is taken from the file's
    /// directory.
    pub fn app_socket(&mut self, path: impl Into<PathBuf>) -> &mut Self {
        self.app_socket = Some(path.into());
        self
    }

    /// Where `GET /metrics` is served (`metrics_listen`).
    pub fn metrics_listen(&mut self, socket: SocketAddr) -> &mut Self {
        self.metrics_listen = Some(socket);
        self
    }

    /// Largest budget an arriving capsule keeps (`max_budget`).
    pub fn max_budget(&mut self, budget: u16) -> &mut Self {
        self.max_budget = Some(budget);
        self
    }

    /// A module registered and pinned at start (`pin`), after those already given.
    pub fn pin(&mut self, module: impl Into<PathBuf>) -> &mut Self {
        self.pins.push(module.into());
        self
    }

    /// An active neighbour and the socket its datagrams go to (`[[neighbours]]`).
    pub fn neighbour(&mut self, address: IpAddr, socket: SocketAddr) -> &mut Self {
        self.neighbours.push((address, Some(socket), None));
        self
    }

    /// An active neighbour reached at its own address on the default port.
    pub fn neighbour_at_default_port(&mut self, address: IpAddr) -> &mut Self {
        self.neighbours.push((address, None, None));
        self
    }

    /// A software bottleneck (`rate`, `queue`) toward the neighbour at `address`, which must
    /// already be given; a later call for the same neighbour replaces an earlier one.
    pub fn shape(&mut self, address: IpAddr, shaping: LinkShaping) -> &mut Self {
        if let Some(n) = self.neighbours.iter_mut().find(|n| n.0 == address) {
            n.2 = Some(shaping);
        }
        self
    }

    /// Another node's socket (`[peers]`): a node this one asks for code and serves.
    pub fn peer(&mut self, node: IpAddr, socket: SocketAddr) -> &mut Self {
        self.peers.push((node, socket));
        self
    }

    /// A route: `prefix/len` via the neighbour `via` (`[[routes]]`).
    pub fn route(&mut self, prefix: IpAddr, len: u8, via: IpAddr) -> &mut Self {
        self.routes.push((prefix, len, via));
        self
    }

    /// The `[code_cache]` section (only values that differ from the defaults are written).
    pub fn code_cache(&mut self, limits: &CodeCacheLimits) -> &mut Self {
        self.section("code_cache", limits, &CodeCacheLimits::default())
    }

    /// The `[state]` section.
    pub fn state(&mut self, limits: &StateLimits) -> &mut Self {
        self.section("state", limits, &StateLimits::default())
    }

    /// The `[sandbox]` section (limits the node API fixes are not part of the file).
    pub fn sandbox(&mut self, limits: &SandboxLimits) -> &mut Self {
        self.section("sandbox", limits, &SandboxLimits::default())
    }

    /// The `[fingerprints]` section.
    pub fn fingerprints(&mut self, policy: FingerprintPolicy) -> &mut Self {
        self.section(
            "fingerprints",
            &Fingerprints::of(policy),
            &Fingerprints::default(),
        )
    }

    /// The `[demand]` section.
    pub fn demand(&mut self, limits: &DemandLimits) -> &mut Self {
        self.section("demand", limits, &DemandLimits::default())
    }

    /// The `[cpu]` section.
    pub fn cpu(&mut self, limits: &CpuShareLimits) -> &mut Self {
        self.section("cpu", limits, &CpuShareLimits::default())
    }

    /// The `[liveness]` section.
    pub fn liveness(&mut self, limits: &LivenessLimits) -> &mut Self {
        self.section("liveness", limits, &LivenessLimits::default())
    }

    /// The `[driver]` section. A `code_store` of `None` is written `""` (compiled code in
    /// memory only); the default one is left out, which the daemon reads as one directory
    /// per node address beside the file.
    pub fn driver(&mut self, limits: &DriverLimits) -> &mut Self {
        self.section("driver", limits, &DriverLimits::default())
    }

    /// Keeps the keys of `limits` whose values differ from `default`, replacing an earlier
    /// section of the same name.
    fn section<T: Serialize>(&mut self, name: &'static str, limits: &T, default: &T) -> &mut Self {
        let (Some(set), Some(default)) = (table_of(limits), table_of(default)) else {
            return self;
        };
        let changed: Table = set
            .into_iter()
            .filter(|(key, value)| default.get(key) != Some(value))
            .collect();
        self.sections.retain(|(n, _)| *n != name);
        if !changed.is_empty() {
            self.sections.push((name, changed));
        }
        self
    }

    /// The file's text.
    pub fn to_toml(&self) -> String {
        let mut top = Table::new();
        let text = |s: String| Value::String(s);
        top.insert("address".into(), text(self.address.to_string()));
        if let Some(l) = self.listen {
            top.insert("listen".into(), text(l.to_string()));
        }
        if let Some(p) = &self.app_socket {
            top.insert("app_socket".into(), text(p.to_string_lossy().into_owned()));
        }
        if let Some(m) = self.metrics_listen {
            top.insert("metrics_listen".into(), text(m.to_string()));
        }
        if let Some(b) = self.max_budget {
            top.insert("max_budget".into(), Value::Integer(b.into()));
        }
        if !self.pins.is_empty() {
            let pins = self.pins.iter();
            let pins = pins.map(|p| text(p.to_string_lossy().into_owned()));
            top.insert("pin".into(), Value::Array(pins.collect()));
        }
        let mut out: String = self.comment.iter().map(|c| format!("# {c}\n")).collect();
        out += &top.to_string();
        // Tables after the top-level keys, in the order of `docs/daemon.md`.
        for (address, socket, shaping) in &self.neighbours {
            let mut t = Table::new();
            t.insert("address".into(), text(address.to_string()));
            if let Some(s) = socket {
                t.insert("socket".into(), text(s.to_string()));
            }
            if let Some(s) = shaping {
                t.insert("rate".into(), text(bit_rate(s.rate_bps)));
                let queue = i64::try_from(s.queue).unwrap_or(i64::MAX);
                t.insert("queue".into(), Value::Integer(queue));
            }
            out += &format!("\n[[neighbours]]\n{t}");
        }
        if !self.peers.is_empty() {
            let mut t = Table::new();
            for (node, socket) in &self.peers {
                t.insert(node.to_string(), text(socket.to_string()));
            }
            out += &format!("\n[peers]\n{t}");
        }
        for (prefix, len, via) in &self.routes {
            let mut t = Table::new();
            t.insert("prefix".into(), text(format!("{prefix}/{len}")));
            t.insert("via".into(), text(via.to_string()));
            out += &format!("\n[[routes]]\n{t}");
        }
        for (name, t) in &self.sections {
            out += &format!("\n[{name}]\n{t}");
        }
        out
    }
}

/// `bps` in the largest decimal unit that keeps it whole (`400kbit`, `10Mbit`), as
/// [`ants_router::text::parse_bit_rate`] reads it.
fn bit_rate(bps: u64) -> String {
    for (factor, unit) in [
        (1_000_000_000, "Gbit"),
        (1_000_000, "Mbit"),
        (1_000, "kbit"),
    ] {
        if bps >= factor && bps.is_multiple_of(factor) {
            return format!("{}{unit}", bps / factor);
        }
    }
    format!("{bps}bit")
}

/// The serde form of a limits type as a TOML table.
fn table_of<T: Serialize>(value: &T) -> Option<Table> {
    match Value::try_from(value) {
        Ok(Value::Table(t)) => Some(t),
        _ => None,
    }
}
