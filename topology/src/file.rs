//! Reading and validating topology files (the format is in `docs/topology.md`).
//!
//! Owns the file format: TOML read with serde (unknown fields are refused), the values with
//! units (durations, bit rates, percentages, addresses, prefixes) converted here, the defaults
//! of every optional field, and the location of every error: the file, the line and column,
//! and the entry at fault (`node h1`, `link h1 -- a1`, `app[2] (send on h1)`). Checks that need
//! the whole network (names resolve, the graph is connected, addresses do not clash) belong to
//! [`TopologyBuilder`]; its errors are matched back to the entry they name, so they carry a
//! line too.
//!
//! It never touches the network, runs anything or looks for capsule modules: a protocol is kept
//! as written (a capsule name, or a `.wasm` path relative to the file) for
//! [`crate::capsules::CapsuleLocator`] to resolve when something runs.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::net::{IpAddr, Ipv4Addr};
use std::ops::Range;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Deserialize;
use toml::Spanned;
use toml::Value;
use toml::de::{DeTable, DeValue};

use ants_router::node::MIN_MAX_BUDGET;
use ants_router::text::PrefixError;
/// A line and column in a topology file: the same text location as the daemon's
/// configuration errors use.
pub use ants_router::text::TextLocation as Location;

use crate::model::{
    AppDraft, EmulatorSettings, LinkOptionsSet, LinkParams, NodeKind, Pool, Topology,
    TopologyBuilder, TopologyError,
};

/// Emulator seed when the file gives none.
pub const DEFAULT_SEED: u64 = 1;
/// Requests or capsules an application sends when the file gives no `count`.
pub const DEFAULT_COUNT: u32 = 1;
/// Time between an application's requests or capsules when the file gives no `interval`.
pub const DEFAULT_INTERVAL: Duration = Duration::from_secs(1);
/// Resource budget of a `send` application's capsules when the file gives no `budget`.
pub const DEFAULT_BUDGET: u16 = 16;
/// Longest one-way link delay a file may give.
pub const MAX_LINK_DELAY: Duration = Duration::from_secs(60);
/// Longest drop-tail queue a file may give, in datagrams.
pub const MAX_QUEUE: u64 = 1_000_000;

/// Why a topology file was refused: the file, where in it, and what is wrong (naming the
/// entry and field at fault).
///
/// Displayed as `net.toml:12:3: link h1 -- r9: names node `r9`, which is not defined`, or
/// without the line and column when the error is about the file as a whole.
#[derive(Clone, Debug, PartialEq, thiserror::Error)]
pub struct FileError {
    path: PathBuf,
    location: Option<Location>,
    message: String,
    topology: Option<Box<TopologyError>>,
}

impl fmt::Display for FileError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.path.display())?;
        if let Some(at) = self.location {
            write!(f, ":{}:{}", at.line, at.column)?;
        }
        write!(f, ": {}", self.message)
    }
}

impl FileError {
    /// The topology file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Where in the file, when the error is about some part of it.
    pub fn location(&self) -> Option<Location> {
        self.location
    }

    /// What is wrong, without the file and location (it starts with the entry at fault).
    pub fn message(&self) -> &str {
        &self.message
    }

    /// The network-level error, when the entries were well-formed but the network they
    /// describe is not valid.
    pub fn topology_error(&self) -> Option<&TopologyError> {
        self.topology.as_deref()
    }
}

/// A value with a unit that could not be read (`"2 parsecs"` as a duration).
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct UnitError(String);

/// Reads and validates the topology file at `path`.
pub fn load(path: &Path) -> Result<Topology, FileError> {
    let text = std::fs::read_to_string(path).map_err(|e| FileError {
        path: path.to_path_buf(),
        location: None,
        message: format!("cannot read the topology file: {e}"),
        topology: None,
    })?;
    parse(&text, path)
}

/// Validates `text` as the contents of the topology file at `origin`: errors name `origin`,
/// and the topology is named after its file stem unless the file sets `name`.
pub fn parse(text: &str, origin: &Path) -> Result<Topology, FileError> {
    let reader = Reader { path: origin, text };
    let raw: RawFile = toml::from_str(text).map_err(|e| reader.toml_error(&e))?;
    let builder = reader.convert(&raw)?;
    builder.build().map_err(|e| reader.topology_error(&raw, e))
}

// ---- Values with units -----------------------------------------------------------------------

/// A decimal number without sign or exponent, split from the unit after it: `(digits as an
/// integer, digits after the point, unit)`. `"1.5 ms"` is `(15, 1, "ms")`.
fn split_number(text: &str) -> Option<(u128, u32, &str)> {
    let t = text.trim();
    let end = t
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(t.len());
    let (number, unit) = t.split_at(end);
    let (int, frac) = number.split_once('.').unwrap_or((number, ""));
    let digits_only = |s: &str| s.bytes().all(|b| b.is_ascii_digit());
    if (int.is_empty() && frac.is_empty()) || !digits_only(int) || !digits_only(frac) {
        return None;
    }
    // 30 digits fit a u128 with room to multiply by a unit of up to 10^8.
    if int.len() + frac.len() > 30 {
        return None;
    }
    let mantissa = format!("{int}{frac}").parse::<u128>().ok()?;
    Some((mantissa, frac.len() as u32, unit.trim()))
}

/// `mantissa / 10^decimals * factor`, if that is a whole number.
fn scaled(mantissa: u128, decimals: u32, factor: u128) -> Option<u128> {
    let product = mantissa.checked_mul(factor)?;
    let divisor = 10u128.checked_pow(decimals)?;
    (product % divisor == 0).then_some(product / divisor)
}

/// Parses a duration: a decimal number and a unit (`ns`, `us` or `µs`, `ms`, `s`, `min`), as
/// in `"500us"`, `"2ms"`, `"1.5s"`. A space between number and unit is allowed.
pub fn parse_duration(text: &str) -> Result<Duration, UnitError> {
    const HINT: &str =
        "write a number and a unit (ns, us, ms, s, min), e.g. \"500us\", \"2ms\", \"1.5s\"";
    let (mantissa, decimals, unit) = split_number(text)
        .ok_or_else(|| UnitError(format!("\"{text}\" is not a duration: {HINT}")))?;
    let factor: u128 = match unit {
        "ns" => 1,
        "us" | "µs" | "μs" => 1_000,
        "ms" => 1_000_000,
        "s" => 1_000_000_000,
        "min" => 60_000_000_000,
        "" => return Err(UnitError(format!("\"{text}\" has no unit: {HINT}"))),
        other => {
            return Err(UnitError(format!(
                "\"{text}\": `{other}` is not a unit of time: {HINT}"
            )));
        }
    };
    let nanos = scaled(mantissa, decimals, factor)
        .ok_or_else(|| UnitError(format!("\"{text}\" is finer than 1 ns")))?;
    u64::try_from(nanos)
        .map(Duration::from_nanos)
        .map_err(|_| UnitError(format!("\"{text}\" is too long")))
}

/// Parses a bit rate in bit/s: a decimal number and a unit (`bit`, `kbit`, `Mbit`, `Gbit`,
/// `Tbit`; powers of 1000; `/s` and the `bps` spellings are accepted too), as in `"100kbit"`,
/// `"10Mbit"`, `"1.5Gbit/s"`. Bytes are refused, so a rate is never off by a factor of 8.
pub fn parse_bandwidth(text: &str) -> Result<u64, UnitError> {
    const HINT: &str = "write a number and a unit (bit, kbit, Mbit, Gbit), e.g. \"100kbit\", \"10Mbit\", \"1Gbit\"";
    let (mantissa, decimals, unit) = split_number(text)
        .ok_or_else(|| UnitError(format!("\"{text}\" is not a bit rate: {HINT}")))?;
    if unit.contains('B') || unit.to_ascii_lowercase().contains("byte") {
        return Err(UnitError(format!(
            "\"{text}\": bit rates are written in bits, not bytes: {HINT}"
        )));
    }
    let lower = unit.to_ascii_lowercase();
    let base = lower.strip_suffix("/s").unwrap_or(&lower);
    let base = base
        .strip_suffix("ps")
        .map_or(base.to_string(), |p| format!("{p}it"));
    let factor: u128 = match base.as_str() {
        "bit" => 1,
        "kbit" => 1_000,
        "mbit" => 1_000_000,
        "gbit" => 1_000_000_000,
        "tbit" => 1_000_000_000_000,
        "" => return Err(UnitError(format!("\"{text}\" has no unit: {HINT}"))),
        _ => {
            return Err(UnitError(format!(
                "\"{text}\": `{unit}` is not a unit of bit rate: {HINT}"
            )));
        }
    };
    let bps = scaled(mantissa, decimals, factor)
        .ok_or_else(|| UnitError(format!("\"{text}\" is not a whole number of bit/s")))?;
    match u64::try_from(bps) {
        Ok(0) => Err(UnitError(format!(
            "\"{text}\": a bandwidth must be more than 0 bit/s (leave it out for unlimited)"
        ))),
        Ok(bps) => Ok(bps),
        Err(_) => Err(UnitError(format!("\"{text}\" is too large"))),
    }
}

/// Parses a loss rate written as a percentage, `"1%"` or `"2.5 %"`, into a probability
/// (0.01, 0.025). It must be between 0 % and 100 %.
pub fn parse_loss(text: &str) -> Result<f64, UnitError> {
    const HINT: &str = "write a percentage such as \"1%\", or a probability from 0 to 1 without quotes such as 0.01";
    let bad = || UnitError(format!("\"{text}\" is not a loss rate: {HINT}"));
    let (_, _, unit) = split_number(text).ok_or_else(bad)?;
    if unit != "%" {
        return Err(bad());
    }
    let number = text.trim().trim_end_matches('%').trim();
    let percent: f64 = number.parse().map_err(|_| bad())?;
    if !(0.0..=100.0).contains(&percent) {
        return Err(UnitError(format!(
            "\"{text}\": a loss rate must be between 0 % and 100 %"
        )));
    }
    Ok(percent / 100.0)
}

/// Parses an IPv4 prefix `a.b.c.d/len` whose host bits are zero: the node library's prefix
/// syntax ([`ants_router::text::parse_prefix`]), with the length required and IPv4 only.
fn parse_prefix(text: &str) -> Result<Pool, String> {
    let Some((addr, _)) = text.split_once('/') else {
        return Err(format!(
            "\"{text}\" has no prefix length: write e.g. \"10.0.0.0/16\""
        ));
    };
    let not_ipv4 = || format!("\"{text}\": `{addr}` is not an IPv4 address");
    let (network, len) = match ants_router::text::parse_prefix(text) {
        Ok((IpAddr::V4(network), len)) => (network, len),
        Ok((IpAddr::V6(_), _))
        | Err(PrefixError::Address { .. })
        | Err(PrefixError::Length {
            address: IpAddr::V6(_),
            ..
        }) => return Err(not_ipv4()),
        Err(PrefixError::Length { .. }) => {
            return Err(format!(
                "\"{text}\": the prefix length must be a number from 0 to 32"
            ));
        }
    };
    let mask = if len == 0 {
        0
    } else {
        u32::MAX << (32 - u32::from(len))
    };
    let base = Ipv4Addr::from(u32::from(network) & mask);
    if base != network {
        return Err(format!(
            "\"{text}\" has host bits set: did you mean \"{base}/{len}\"?"
        ));
    }
    Ok(Pool { network, len })
}

fn type_name(v: &Value) -> &'static str {
    match v {
        Value::String(_) => "a string",
        Value::Integer(_) => "an integer",
        Value::Float(_) => "a float",
        Value::Boolean(_) => "a boolean",
        Value::Datetime(_) => "a date-time",
        Value::Array(_) => "an array",
        Value::Table(_) => "a table",
    }
}

fn duration_value(v: &Value) -> Result<Duration, String> {
    match v {
        Value::String(s) => parse_duration(s).map_err(|e| e.to_string()),
        Value::Integer(_) | Value::Float(_) => Err(format!(
            "{v} has no unit: write it as a string with a unit, e.g. \"{v}ms\""
        )),
        other => Err(format!(
            "expected a duration such as \"2ms\", found {}",
            type_name(other)
        )),
    }
}

fn bandwidth_value(v: &Value) -> Result<u64, String> {
    match v {
        Value::String(s) => parse_bandwidth(s).map_err(|e| e.to_string()),
        Value::Integer(i) if *i > 0 => Ok(*i as u64),
        Value::Integer(i) => Err(format!(
            "{i} bit/s: a bandwidth must be more than 0 bit/s (leave it out for unlimited)"
        )),
        other => Err(format!(
            "expected a bit rate such as \"10Mbit\" or an integer in bit/s, found {}",
            type_name(other)
        )),
    }
}

fn loss_value(v: &Value) -> Result<f64, String> {
    let p = match v {
        Value::String(s) => return parse_loss(s).map_err(|e| e.to_string()),
        Value::Float(f) => *f,
        Value::Integer(i) => *i as f64,
        other => {
            return Err(format!(
                "expected a loss rate such as \"1%\" or 0.01, found {}",
                type_name(other)
            ));
        }
    };
    if (0.0..=1.0).contains(&p) {
        Ok(p)
    } else {
        Err(format!(
            "{v} is not a probability from 0 to 1 (write \"{v}%\" for a percentage)"
        ))
    }
}

/// An integer from `min` to `max`.
fn whole(v: &Value, min: u64, max: u64) -> Result<u64, String> {
    match v {
        Value::Integer(i) if *i >= 0 && (*i as u64) >= min && (*i as u64) <= max => Ok(*i as u64),
        Value::Integer(i) => Err(format!("{i} is out of range: use {min} to {max}")),
        other => Err(format!(
            "expected a whole number from {min} to {max}, found {}",
            type_name(other)
        )),
    }
}

// ---- The file as written ---------------------------------------------------------------------

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawFile {
    name: Option<Spanned<String>>,
    seed: Option<Spanned<Value>>,
    addressing: Option<RawAddressing>,
    emulator: Option<RawEmulator>,
    defaults: Option<RawDefaults>,
    #[serde(default)]
    node: Vec<Spanned<RawNode>>,
    #[serde(default)]
    link: Vec<Spanned<RawLink>>,
    #[serde(default)]
    groups: BTreeMap<String, Spanned<Vec<Spanned<String>>>>,
    #[serde(default)]
    app: Vec<Spanned<RawApp>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawAddressing {
    nodes: Option<Spanned<String>>,
    links: Option<Spanned<String>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawEmulator {
    duration: Option<Spanned<Value>>,
    compile_delay: Option<Spanned<Value>>,
    max_budget: Option<Spanned<Value>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawDefaults {
    link: Option<RawLinkOptions>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawLinkOptions {
    delay: Option<Spanned<Value>>,
    bandwidth: Option<Spanned<Value>>,
    loss: Option<Spanned<Value>>,
    queue: Option<Spanned<Value>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawNode {
    name: Spanned<String>,
    kind: Spanned<String>,
    address: Option<Spanned<String>>,
    #[serde(default)]
    groups: Vec<Spanned<String>>,
}

// serde's `flatten` does not combine with `deny_unknown_fields`, so the options are repeated.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawLink {
    ends: Spanned<Vec<Spanned<String>>>,
    delay: Option<Spanned<Value>>,
    bandwidth: Option<Spanned<Value>>,
    loss: Option<Spanned<Value>>,
    queue: Option<Spanned<Value>>,
}

impl RawLink {
    fn options(&self) -> [(&'static str, Option<&Spanned<Value>>); 4] {
        [
            ("delay", self.delay.as_ref()),
            ("bandwidth", self.bandwidth.as_ref()),
            ("loss", self.loss.as_ref()),
            ("queue", self.queue.as_ref()),
        ]
    }

    /// `(a, b)` once `ends` is known to hold two names.
    fn pair(&self) -> Option<(&str, &str)> {
        match self.ends.get_ref().as_slice() {
            [a, b] => Some((a.get_ref(), b.get_ref())),
            _ => None,
        }
    }

    fn describe(&self, index: usize) -> String {
        match self.pair() {
            Some((a, b)) => format!("link {a} -- {b}"),
            None => format!("link[{index}]"),
        }
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawApp {
    kind: Spanned<String>,
    node: Spanned<String>,
    to: Option<Spanned<String>>,
    count: Option<Spanned<Value>>,
    interval: Option<Spanned<Value>>,
    start: Option<Spanned<Value>>,
    protocol: Option<Spanned<String>>,
    budget: Option<Spanned<Value>>,
    payload: Option<Spanned<String>>,
    payload_hex: Option<Spanned<String>>,
    port: Option<Spanned<Value>>,
}

impl RawApp {
    fn describe(&self, index: usize) -> String {
        format!(
            "app[{index}] ({} on {})",
            self.kind.get_ref(),
            self.node.get_ref()
        )
    }

    /// Every optional field given, with its name and span.
    fn given(&self) -> Vec<(&'static str, Range<usize>)> {
        let mut out = Vec::new();
        let mut add = |name, span: Option<Range<usize>>| {
            if let Some(s) = span {
                out.push((name, s));
            }
        };
        add("to", self.to.as_ref().map(Spanned::span));
        add("count", self.count.as_ref().map(Spanned::span));
        add("interval", self.interval.as_ref().map(Spanned::span));
        add("start", self.start.as_ref().map(Spanned::span));
        add("protocol", self.protocol.as_ref().map(Spanned::span));
        add("budget", self.budget.as_ref().map(Spanned::span));
        add("payload", self.payload.as_ref().map(Spanned::span));
        add("payload_hex", self.payload_hex.as_ref().map(Spanned::span));
        add("port", self.port.as_ref().map(Spanned::span));
        out
    }
}

/// Entry keys whose values are arrays of tables, named by their contents in messages.
const ENTRY_KEYS: [&str; 3] = ["node", "link", "app"];

// ---- Conversion --------------------------------------------------------------------------------

/// One text being read: builds located errors.
struct Reader<'a> {
    path: &'a Path,
    text: &'a str,
}

impl Reader<'_> {
    fn located(&self, span: Option<Range<usize>>, message: String) -> FileError {
        FileError {
            path: self.path.to_path_buf(),
            location: span.map(|s| Location::of_offset(self.text, s.start)),
            message,
            topology: None,
        }
    }

    /// An error about `field` of `entry` (empty for a top-level or section field).
    fn field(
        &self,
        span: Range<usize>,
        entry: &str,
        field: &str,
        what: impl fmt::Display,
    ) -> FileError {
        let message = if entry.is_empty() {
            format!("`{field}`: {what}")
        } else {
            format!("{entry}: `{field}`: {what}")
        };
        self.located(Some(span), message)
    }

    fn line_of(&self, span: &Range<usize>) -> usize {
        Location::of_offset(self.text, span.start).line
    }

    /// Converts a deserialization error of `toml`, naming the entry and field its span is in.
    fn toml_error(&self, e: &toml::de::Error) -> FileError {
        let mut message = e.message().trim_end().to_string();
        let Some(span) = e.span() else {
            return self.located(None, message);
        };
        let place = describe_at(self.text, span.start);
        if let Some(key) = ENTRY_KEYS
            .iter()
            .find(|k| place.as_deref() == Some(&format!("`{k}`")))
            && message.contains("expected a sequence")
        {
            message.push_str(&format!(
                "; write each entry as its own [[{key}]] table (two brackets)"
            ));
        }
        let message = match place {
            Some(place) => format!("{place}: {message}"),
            None => message,
        };
        self.located(Some(span), message)
    }

    /// Everything but the network-level checks: the builder, fed in file order.
    fn convert(&self, raw: &RawFile) -> Result<TopologyBuilder, FileError> {
        let name = match &raw.name {
            Some(n) if n.get_ref().trim().is_empty() => {
                return Err(self.field(n.span(), "", "name", "must not be empty"));
            }
            Some(n) => n.get_ref().clone(),
            None => self
                .path
                .file_stem()
                .map(|s| s.to_string_lossy().into_owned())
                .filter(|s| !s.is_empty())
                .unwrap_or_else(|| "topology".to_string()),
        };
        let mut b = TopologyBuilder::new(name);
        if let Some(seed) = &raw.seed {
            let v = whole(seed.get_ref(), 0, i64::MAX as u64)
                .map_err(|m| self.field(seed.span(), "", "seed", m))?;
            b.seed(v);
        } else {
            b.seed(DEFAULT_SEED);
        }
        if let Some(a) = &raw.addressing {
            for (field, value, set) in [
                ("addressing.nodes", &a.nodes, true),
                ("addressing.links", &a.links, false),
            ] {
                if let Some(v) = value {
                    let pool = parse_prefix(v.get_ref())
                        .map_err(|m| self.field(v.span(), "", field, m))?;
                    if set {
                        b.node_pool(pool);
                    } else {
                        b.link_pool(pool);
                    }
                }
            }
        }
        if let Some(e) = &raw.emulator {
            let mut settings = EmulatorSettings::default();
            if let Some(v) = &e.duration {
                let d = duration_value(v.get_ref())
                    .and_then(|d| {
                        if d.is_zero() {
                            Err("must be longer than 0 s".to_string())
                        } else {
                            Ok(d)
                        }
                    })
                    .map_err(|m| self.field(v.span(), "", "emulator.duration", m))?;
                settings.duration = Some(d);
            }
            if let Some(v) = &e.compile_delay {
                let d = duration_value(v.get_ref())
                    .map_err(|m| self.field(v.span(), "", "emulator.compile_delay", m))?;
                settings.compile_delay = Some(d);
            }
            if let Some(v) = &e.max_budget {
                let budget = v
                    .get_ref()
                    .as_integer()
                    .and_then(|n| u16::try_from(n).ok())
                    .filter(|n| *n >= MIN_MAX_BUDGET)
                    .ok_or_else(|| {
                        self.field(
                            v.span(),
                            "",
                            "emulator.max_budget",
                            format_args!("must be a whole number from {MIN_MAX_BUDGET} to 65535"),
                        )
                    })?;
                settings.max_budget = Some(budget);
            }
            b.emulator(settings);
        }

        // Link defaults: the value and whether it was given.
        let mut defaults = (LinkParams::default(), LinkOptionsSet::default());
        if let Some(d) = raw.defaults.as_ref().and_then(|d| d.link.as_ref()) {
            let options = [
                ("delay", d.delay.as_ref()),
                ("bandwidth", d.bandwidth.as_ref()),
                ("loss", d.loss.as_ref()),
                ("queue", d.queue.as_ref()),
            ];
            for (name, value) in options {
                if let Some(v) = value {
                    self.link_option(&mut defaults.0, &mut defaults.1, name, v)
                        .map_err(|m| {
                            self.field(v.span(), "", &format!("defaults.link.{name}"), m)
                        })?;
                }
            }
        }

        // Nodes, and the groups they list.
        let mut node_names = BTreeSet::new();
        for n in &raw.node {
            let n = n.get_ref();
            node_names.insert(n.name.get_ref().as_str());
        }
        for node in &raw.node {
            let n = node.get_ref();
            let name = n.name.get_ref();
            let entry = format!("node {name}");
            let kind = match n.kind.get_ref().as_str() {
                "host" => NodeKind::Host,
                "active" => NodeKind::Active,
                "legacy" => NodeKind::Legacy,
                other => {
                    return Err(self.field(
                        n.kind.span(),
                        &entry,
                        "kind",
                        format_args!("`{other}` is not a kind of node: use host, active or legacy"),
                    ));
                }
            };
            let address = match &n.address {
                None => None,
                Some(a) => Some(a.get_ref().trim().parse::<Ipv4Addr>().map_err(|_| {
                    self.field(
                        a.span(),
                        &entry,
                        "address",
                        format_args!("\"{}\" is not an IPv4 address", a.get_ref()),
                    )
                })?),
            };
            b.node(name.clone(), kind, address);
            for g in &n.groups {
                self.check_group_name(g, &entry, "groups", &node_names)?;
                b.member(g.get_ref().clone(), name.clone());
            }
        }

        // Links: two ends each, options over the defaults.
        for (index, link) in raw.link.iter().enumerate() {
            let l = link.get_ref();
            let Some((a, b_end)) = l.pair() else {
                let names = l.ends.get_ref().len();
                return Err(self.field(
                    l.ends.span(),
                    &format!("link[{index}]"),
                    "ends",
                    format_args!("a link needs exactly two node names, found {names}"),
                ));
            };
            let entry = l.describe(index);
            let (mut params, mut explicit) = defaults;
            for (name, value) in l.options() {
                if let Some(v) = value {
                    self.link_option(&mut params, &mut explicit, name, v)
                        .map_err(|m| self.field(v.span(), &entry, name, m))?;
                }
            }
            b.link_with(a, b_end, params, explicit);
        }

        // The [groups] table.
        for (group, members) in &raw.groups {
            let entry = format!("group {group}");
            if group.trim().is_empty() {
                return Err(self.located(
                    Some(members.span()),
                    "`groups`: a group name must not be empty".to_string(),
                ));
            }
            if node_names.contains(group.as_str()) {
                return Err(self.located(
                    Some(members.span()),
                    format!(
                        "{entry}: `{group}` is also the name of a node, so `to = \"{group}\"` would be ambiguous; rename the group"
                    ),
                ));
            }
            for m in members.get_ref() {
                b.member(group.clone(), m.get_ref().clone());
            }
        }

        // Group names from both places, to tell a `to` target's kind.
        let mut groups: BTreeSet<&str> = raw
            .groups
            .iter()
            .filter(|(_, m)| !m.get_ref().is_empty())
            .map(|(g, _)| g.as_str())
            .collect();
        for n in &raw.node {
            groups.extend(n.get_ref().groups.iter().map(|g| g.get_ref().as_str()));
        }

        for (index, app) in raw.app.iter().enumerate() {
            b.app(self.app(index, app, &groups, raw)?);
        }
        Ok(b)
    }

    fn check_group_name(
        &self,
        g: &Spanned<String>,
        entry: &str,
        field: &str,
        node_names: &BTreeSet<&str>,
    ) -> Result<(), FileError> {
        let name = g.get_ref();
        if name.trim().is_empty() {
            return Err(self.field(g.span(), entry, field, "a group name must not be empty"));
        }
        if node_names.contains(name.as_str()) {
            return Err(self.field(
                g.span(),
                entry,
                field,
                format_args!(
                    "`{name}` is also the name of a node, so `to = \"{name}\"` would be ambiguous; rename the group"
                ),
            ));
        }
        Ok(())
    }

    /// Applies one link option (`delay`, `bandwidth`, `loss`, `queue`).
    fn link_option(
        &self,
        params: &mut LinkParams,
        explicit: &mut LinkOptionsSet,
        name: &str,
        value: &Spanned<Value>,
    ) -> Result<(), String> {
        let v = value.get_ref();
        match name {
            "delay" => {
                let d = duration_value(v)?;
                if d > MAX_LINK_DELAY {
                    return Err(format!(
                        "{} is longer than the longest link delay, {} s",
                        v,
                        MAX_LINK_DELAY.as_secs()
                    ));
                }
                params.delay = d;
                explicit.delay = true;
            }
            "bandwidth" => {
                params.bandwidth_bps = Some(bandwidth_value(v)?);
                explicit.bandwidth = true;
            }
            "loss" => {
                params.loss = loss_value(v)?;
                explicit.loss = true;
            }
            _ => {
                params.queue = whole(v, 1, MAX_QUEUE)
                    .map_err(|m| format!("a queue length in datagrams: {m}"))?
                    as usize;
                explicit.queue = true;
            }
        }
        Ok(())
    }

    fn app(
        &self,
        index: usize,
        app: &Spanned<RawApp>,
        groups: &BTreeSet<&str>,
        raw: &RawFile,
    ) -> Result<AppDraft, FileError> {
        let a = app.get_ref();
        let entry = a.describe(index);
        let node = a.node.get_ref().clone();
        let (kind, allowed): (&str, &[&str]) = match a.kind.get_ref().as_str() {
            "ping" => ("ping", &["to", "count", "interval", "start"]),
            "send" => (
                "send",
                &[
                    "to",
                    "count",
                    "interval",
                    "start",
                    "protocol",
                    "budget",
                    "payload",
                    "payload_hex",
                ],
            ),
            "listen" => ("listen", &["port"]),
            other => {
                return Err(self.field(
                    a.kind.span(),
                    &entry,
                    "kind",
                    format_args!(
                        "`{other}` is not a kind of application: use ping, send or listen"
                    ),
                ));
            }
        };
        for (field, span) in a.given() {
            if !allowed.contains(&field) {
                return Err(self.field(
                    span,
                    &entry,
                    field,
                    format_args!(
                        "does not apply to a {kind} application (it takes node, {})",
                        allowed.join(", ")
                    ),
                ));
            }
        }
        let missing = |field: &str, hint: &str| {
            self.located(
                Some(app.span()),
                format!("{entry}: `{field}` is missing: {hint}"),
            )
        };
        let duration = |v: &Option<Spanned<Value>>, field: &str, default: Duration| match v {
            None => Ok(default),
            Some(v) => {
                duration_value(v.get_ref()).map_err(|m| self.field(v.span(), &entry, field, m))
            }
        };
        let number =
            |v: &Option<Spanned<Value>>, field: &str, min: u64, max: u64, default: u64| match v {
                None => Ok(default),
                Some(v) => {
                    whole(v.get_ref(), min, max).map_err(|m| self.field(v.span(), &entry, field, m))
                }
            };
        if kind == "listen" {
            let Some(port) = &a.port else {
                return Err(missing(
                    "port",
                    "the application port to record, e.g. port = 1",
                ));
            };
            let port = whole(port.get_ref(), 0, u64::from(u16::MAX))
                .map_err(|m| self.field(port.span(), &entry, "port", m))?
                as u16;
            return Ok(AppDraft::Listen { node, port });
        }
        let Some(to) = &a.to else {
            return Err(missing(
                "to",
                if kind == "ping" {
                    "the node to ping"
                } else {
                    "the node or group to send to"
                },
            ));
        };
        let count = number(
            &a.count,
            "count",
            1,
            u64::from(u32::MAX),
            u64::from(DEFAULT_COUNT),
        )? as u32;
        let interval = duration(&a.interval, "interval", DEFAULT_INTERVAL)?;
        let start = duration(&a.start, "start", Duration::ZERO)?;
        if kind == "ping" {
            if groups.contains(to.get_ref().as_str()) {
                return Err(self.field(
                    to.span(),
                    &entry,
                    "to",
                    format_args!(
                        "`{}` is a group; a ping goes to one node (use kind = \"send\" to reach a group)",
                        to.get_ref()
                    ),
                ));
            }
            return Ok(AppDraft::Ping {
                node,
                to: to.get_ref().clone(),
                count,
                interval,
                start,
            });
        }
        if let Some((g, members)) = raw.groups.get_key_value(to.get_ref())
            && members.get_ref().is_empty()
            && !groups.contains(g.as_str())
        {
            return Err(self.field(
                to.span(),
                &entry,
                "to",
                format_args!("group `{g}` has no members"),
            ));
        }
        let Some(protocol) = &a.protocol else {
            return Err(missing(
                "protocol",
                "a capsule name such as \"forward\", or a .wasm file relative to this file",
            ));
        };
        if protocol.get_ref().trim().is_empty() {
            return Err(self.field(
                protocol.span(),
                &entry,
                "protocol",
                "must name a capsule (\"forward\") or a .wasm file",
            ));
        }
        let budget = number(
            &a.budget,
            "budget",
            1,
            u64::from(u16::MAX),
            u64::from(DEFAULT_BUDGET),
        )? as u16;
        let payload = match (&a.payload, &a.payload_hex) {
            (Some(_), Some(hex)) => {
                return Err(self.field(
                    hex.span(),
                    &entry,
                    "payload_hex",
                    "give either `payload` or `payload_hex`, not both",
                ));
            }
            (Some(text), None) => text.get_ref().as_bytes().to_vec(),
            (None, Some(h)) => {
                let digits: String = h.get_ref().split_whitespace().collect();
                hex::decode(&digits).map_err(|e| {
                    self.field(
                        h.span(),
                        &entry,
                        "payload_hex",
                        format_args!("not hexadecimal bytes ({e}); write e.g. \"00ff10\""),
                    )
                })?
            }
            (None, None) => Vec::new(),
        };
        Ok(AppDraft::Send {
            node,
            protocol: protocol.get_ref().clone(),
            to: to.get_ref().clone(),
            count,
            interval,
            start,
            budget,
            payload,
        })
    }

    /// Locates an error of the builder at the entry it names.
    fn topology_error(&self, raw: &RawFile, e: TopologyError) -> FileError {
        let node_named = |name: &str| raw.node.iter().find(|n| n.get_ref().name.get_ref() == name);
        let link_named =
            |a: &str, b: &str| raw.link.iter().find(|l| l.get_ref().pair() == Some((a, b)));
        let app_at = |index: usize| {
            raw.app
                .get(index)
                .map(|a| (a.get_ref(), a.get_ref().describe(index)))
        };
        let (span, message): (Option<Range<usize>>, String) = match &e {
            TopologyError::Empty => (
                None,
                "the topology has no nodes: add a [[node]] table for each node".to_string(),
            ),
            TopologyError::DuplicateNode(name) => {
                let mut same = raw
                    .node
                    .iter()
                    .filter(|n| n.get_ref().name.get_ref() == name);
                let first = same.next();
                let second = same.next();
                match (first, second) {
                    (Some(first), Some(second)) => (
                        Some(second.get_ref().name.span()),
                        format!(
                            "node {name}: the name is already used by the node at line {}; node names must be unique",
                            self.line_of(&first.span())
                        ),
                    ),
                    _ => (None, e.to_string()),
                }
            }
            TopologyError::BadNodeName(name) => (
                node_named(name).map(|n| n.get_ref().name.span()),
                format!(
                    "node `{name}`: the name is not allowed: use 1 to 32 letters, digits, `-` or `_`, starting with a letter"
                ),
            ),
            TopologyError::UnknownNode { place, node } => self
                .unknown_node(raw, place, node)
                .unwrap_or((None, e.to_string())),
            TopologyError::SelfLink(name) => (
                link_named(name, name).map(|l| l.get_ref().ends.span()),
                format!("link {name} -- {name}: connects the node to itself"),
            ),
            TopologyError::DuplicateLink { a, b } => {
                let same = |l: &&Spanned<RawLink>| matches!(l.get_ref().pair(), Some((x, y)) if (x, y) == (a, b) || (y, x) == (a, b));
                let mut pair = raw.link.iter().filter(same);
                let first = pair.next();
                match (first, pair.next()) {
                    (Some(first), Some(second)) => (
                        Some(second.get_ref().ends.span()),
                        format!(
                            "link {a} -- {b}: these nodes are already linked at line {}; at most one link per pair of nodes",
                            self.line_of(&first.span())
                        ),
                    ),
                    _ => (None, e.to_string()),
                }
            }
            TopologyError::BadLinkParam { a, b, reason } => (
                link_named(a, b).map(Spanned::span),
                format!("link {a} -- {b}: {reason}"),
            ),
            TopologyError::Disconnected { from, unreachable } => (
                node_named(unreachable).map(Spanned::span),
                format!(
                    "node {unreachable}: cannot be reached from {from}; the network must be connected (add a [[link]])"
                ),
            ),
            TopologyError::AddressClash {
                address,
                node,
                other,
            } => (
                node_named(node)
                    .map(|n| n.get_ref().address.as_ref().map_or(n.span(), Spanned::span)),
                format!("node {node}: address {address} is already used by {other}"),
            ),
            TopologyError::BadAddress {
                address,
                node,
                reason,
            } => (
                node_named(node)
                    .map(|n| n.get_ref().address.as_ref().map_or(n.span(), Spanned::span)),
                format!("node {node}: address {address} cannot be a node address ({reason})"),
            ),
            TopologyError::PoolExhausted { which, .. } => {
                let addressing = raw.addressing.as_ref();
                let field = if *which == "link subnet" {
                    addressing.and_then(|a| a.links.as_ref())
                } else {
                    addressing.and_then(|a| a.nodes.as_ref())
                };
                (field.map(Spanned::span), e.to_string())
            }
            TopologyError::PoolsOverlap { .. } => {
                let addressing = raw.addressing.as_ref();
                let field = addressing
                    .and_then(|a| a.links.as_ref())
                    .or_else(|| addressing.and_then(|a| a.nodes.as_ref()));
                (field.map(Spanned::span), e.to_string())
            }
            TopologyError::AppOnLegacy { index, node } => match app_at(*index) {
                Some((a, entry)) => (
                    Some(a.node.span()),
                    format!(
                        "{entry}: runs on `{node}`, a legacy router; applications need a host or active node"
                    ),
                ),
                None => (None, e.to_string()),
            },
            TopologyError::BadAppTarget { index, target } => match app_at(*index) {
                Some((a, entry)) => (
                    a.to.as_ref()
                        .map(Spanned::span)
                        .or(Some(app_span(raw, *index))),
                    format!("{entry}: `to` is {target}, which cannot receive capsules"),
                ),
                None => (None, e.to_string()),
            },
        };
        FileError {
            path: self.path.to_path_buf(),
            location: span.map(|s| Location::of_offset(self.text, s.start)),
            message,
            topology: Some(Box::new(e)),
        }
    }

    /// Locates "`place` names node `node`, which is not defined".
    fn unknown_node(
        &self,
        raw: &RawFile,
        place: &str,
        node: &str,
    ) -> Option<(Option<Range<usize>>, String)> {
        let message = format!("{place}: names node `{node}`, which is not defined");
        if place.starts_with("link ") {
            let (index, link) = raw
                .link
                .iter()
                .enumerate()
                .find(|(i, l)| l.get_ref().describe(*i) == place)?;
            let end = link
                .get_ref()
                .ends
                .get_ref()
                .iter()
                .find(|e| e.get_ref() == node)
                .map_or(raw.link[index].span(), Spanned::span);
            return Some((Some(end), message));
        }
        if let Some(group) = place
            .strip_prefix("group `")
            .and_then(|r| r.strip_suffix('`'))
        {
            let members = raw.groups.get(group)?;
            let member = members
                .get_ref()
                .iter()
                .find(|m| m.get_ref() == node)
                .map_or(members.span(), Spanned::span);
            return Some((
                Some(member),
                format!("group {group}: names node `{node}`, which is not defined"),
            ));
        }
        let index: usize = place.strip_prefix("application ")?.parse().ok()?;
        let app = raw.app.get(index)?.get_ref();
        let entry = app.describe(index);
        if app.node.get_ref() == node {
            return Some((
                Some(app.node.span()),
                format!("{entry}: `node` names `{node}`, which is not defined"),
            ));
        }
        let to = app.to.as_ref()?;
        let what = if app.kind.get_ref() == "send" {
            "neither a node nor a group"
        } else {
            "not a defined node"
        };
        Some((
            Some(to.span()),
            format!("{entry}: `to` names `{node}`, which is {what}"),
        ))
    }
}

fn app_span(raw: &RawFile, index: usize) -> Range<usize> {
    raw.app.get(index).map_or(0..0, Spanned::span)
}

// ---- Naming the place of a deserialization error ----------------------------------------------

/// Whether `value` or anything inside it covers `offset` (the span of a table declared with a
/// `[header]` is the header alone, so look inside).
fn covers(value: &Spanned<DeValue<'_>>, offset: usize) -> bool {
    value.span().contains(&offset)
        || match value.get_ref() {
            DeValue::Table(t) => t
                .iter()
                .any(|(k, v)| k.span().contains(&offset) || covers(v, offset)),
            DeValue::Array(items) => items.iter().any(|i| covers(i, offset)),
            _ => false,
        }
}

fn string_of<'a>(table: &'a DeTable<'_>, key: &str) -> Option<&'a str> {
    table.iter().find_map(|(k, v)| match v.get_ref() {
        DeValue::String(s) if k.get_ref() == key => Some(s.as_ref()),
        _ => None,
    })
}

/// How messages name entry `index` of `[[key]]`: by its contents where they are readable.
fn entry_name(key: &str, index: usize, item: &DeValue<'_>) -> String {
    let DeValue::Table(t) = item else {
        return format!("{key}[{index}]");
    };
    match key {
        "node" => string_of(t, "name").map_or(format!("node[{index}]"), |n| format!("node {n}")),
        "link" => {
            let ends = t.iter().find_map(|(k, v)| match v.get_ref() {
                DeValue::Array(items) if k.get_ref() == "ends" => Some(items),
                _ => None,
            });
            let names: Option<Vec<&str>> = ends.map(|items| {
                items
                    .iter()
                    .filter_map(|i| match i.get_ref() {
                        DeValue::String(s) => Some(s.as_ref()),
                        _ => None,
                    })
                    .collect()
            });
            match names.as_deref() {
                Some([a, b]) if ends.is_some_and(|e| e.len() == 2) => format!("link {a} -- {b}"),
                _ => format!("link[{index}]"),
            }
        }
        _ => match (string_of(t, "kind"), string_of(t, "node")) {
            (Some(kind), Some(node)) => format!("app[{index}] ({kind} on {node})"),
            _ => format!("app[{index}]"),
        },
    }
}

/// The dotted key path inside `value` whose key or value covers `offset`.
fn key_path(value: &DeValue<'_>, offset: usize, path: &mut String) {
    if let DeValue::Table(t) = value {
        for (k, v) in t.iter() {
            if k.span().contains(&offset) || covers(v, offset) {
                if !path.is_empty() {
                    path.push('.');
                }
                path.push_str(k.get_ref());
                key_path(v.get_ref(), offset, path);
                return;
            }
        }
    }
}

/// Names the place of `offset`: ``node h1: `count` ``, `` `emulator.duration` ``, or the
/// entry alone (a missing field is reported at the entry's header).
fn describe_at(text: &str, offset: usize) -> Option<String> {
    let (root, _) = DeTable::parse_recoverable(text);
    for (key, value) in root.get_ref().iter() {
        let name: &str = key.get_ref();
        if key.span().contains(&offset) && !ENTRY_KEYS.contains(&name) {
            return Some(format!("`{name}`"));
        }
        if !key.span().contains(&offset) && !covers(value, offset) {
            continue;
        }
        if let DeValue::Array(items) = value.get_ref()
            && ENTRY_KEYS.contains(&name)
        {
            let Some((index, item)) = items.iter().enumerate().find(|(_, i)| covers(i, offset))
            else {
                return Some(format!("`{name}`"));
            };
            let entry = entry_name(name, index, item.get_ref());
            let mut field = String::new();
            key_path(item.get_ref(), offset, &mut field);
            return Some(if field.is_empty() {
                entry
            } else {
                format!("{entry}: `{field}`")
            });
        }
        let mut path = name.to_string();
        key_path(value.get_ref(), offset, &mut path);
        return Some(format!("`{path}`"));
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_split_from_units() {
        assert_eq!(split_number("1.5s"), Some((15, 1, "s")));
        assert_eq!(split_number(" 250 us "), Some((250, 0, "us")));
        assert_eq!(split_number(".5ms"), Some((5, 1, "ms")));
        assert_eq!(split_number("1.2.3s"), None);
        assert_eq!(split_number("-1s"), None);
        assert_eq!(split_number("ms"), None);
        assert_eq!(split_number(&"9".repeat(40)), None);
    }

    #[test]
    fn prefixes() {
        assert_eq!(
            parse_prefix("10.2.0.0/16"),
            Ok(Pool {
                network: Ipv4Addr::new(10, 2, 0, 0),
                len: 16
            })
        );
        assert!(
            parse_prefix("10.2.0.1/16")
                .unwrap_err()
                .contains("10.2.0.0/16")
        );
        assert!(parse_prefix("10.2.0.0").is_err());
        assert!(parse_prefix("10.2.0.0/33").is_err());
        assert!(parse_prefix("10.2.0/8").is_err());
    }

    #[test]
    fn describe_names_entries_and_fields() {
        let text = "seed = 1\n[[node]]\nname = \"h1\"\nkind = \"host\"\nbogus = 1\n[emulator]\nduration = 3\n";
        let at = |needle: &str| describe_at(text, text.find(needle).unwrap());
        assert_eq!(at("bogus").as_deref(), Some("node h1: `bogus`"));
        assert_eq!(at("seed").as_deref(), Some("`seed`"));
        assert_eq!(at("3\n").as_deref(), Some("`emulator.duration`"));
        assert_eq!(at("[[node]]").as_deref(), Some("node h1"));
    }
}
