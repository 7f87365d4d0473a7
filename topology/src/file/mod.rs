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

use schemars::JsonSchema;
use serde::Deserialize;
use toml::Spanned;
use toml::Value;
use toml::de::{DeTable, DeValue};

use ants_router::node::MIN_MAX_BUDGET;
use ants_router::text::PrefixError;
/// A line and column in a topology file: the same text location as the daemon's
/// configuration errors use.
pub use ants_router::text::TextLocation as Location;
pub use schema::schema;
pub use writer::to_toml;

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
/// `"10Mbit"`, `"1.5Gbit/s"`. Bytes are refused, so a rate is never off by a factor of 8. The
/// same reader as the daemon's link `rate` ([`ants_router::text::parse_bit_rate`]).
pub fn parse_bandwidth(text: &str) -> Result<u64, UnitError> {
    ants_router::text::parse_bit_rate(text).map_err(|e| UnitError(e.to_string()))
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

#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
struct RawFile {
    /// The topology's name (default: the file name without extension).
    #[schemars(with = "Option<String>")]
    name: Option<Spanned<String>>,
    #[schemars(with = "Option<schema::Seed>")]
    seed: Option<Spanned<Value>>,
    /// Where node addresses and link subnets are drawn from.
    addressing: Option<RawAddressing>,
    /// Emulator settings.
    emulator: Option<RawEmulator>,
    /// Hellos, neighbour liveness and overlay routing on every node core.
    liveness: Option<RawLiveness>,
    /// Defaults for every link.
    defaults: Option<RawDefaults>,
    /// The nodes.
    #[serde(default)]
    #[schemars(with = "Vec<RawNode>")]
    node: Vec<Spanned<RawNode>>,
    /// The links.
    #[serde(default)]
    #[schemars(with = "Vec<RawLink>")]
    link: Vec<Spanned<RawLink>>,
    /// Named groups of nodes (also given per node with `groups`).
    #[serde(default)]
    #[schemars(with = "BTreeMap<String, Vec<String>>")]
    groups: BTreeMap<String, Spanned<Vec<Spanned<String>>>>,
    /// Scripted applications for the emulator.
    #[serde(default)]
    #[schemars(with = "Vec<RawApp>")]
    app: Vec<Spanned<RawApp>>,
    /// Scripted events for the emulator: links going down and up, node cores crashing and
    /// restarting.
    #[serde(default)]
    #[schemars(with = "Vec<RawEvent>")]
    event: Vec<Spanned<RawEvent>>,
}

#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
struct RawEvent {
    /// When (virtual time since the start), e.g. "2s".
    #[schemars(with = "schema::DurationText")]
    at: Spanned<Value>,
    #[schemars(with = "schema::EventKindText")]
    kind: Spanned<String>,
    /// link_down, link_up: the link's two ends.
    #[schemars(with = "Option<schema::LinkEnds>")]
    link: Option<Spanned<Vec<Spanned<String>>>>,
    /// node_down, node_up: the node (a host or an active router).
    #[schemars(with = "Option<String>")]
    node: Option<Spanned<String>>,
    /// link_set: the new one-way delay.
    #[schemars(with = "Option<schema::DurationText>")]
    delay: Option<Spanned<Value>>,
    /// link_set: the new loss rate.
    #[schemars(with = "Option<schema::LossRate>")]
    loss: Option<Spanned<Value>>,
    /// link_set: the new bit rate.
    #[schemars(with = "Option<schema::BitRate>")]
    bandwidth: Option<Spanned<Value>>,
}

#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
struct RawAddressing {
    /// Node addresses (default 10.0.0.0/16).
    #[schemars(with = "Option<schema::Prefix>")]
    nodes: Option<Spanned<String>>,
    /// Link subnets, one /30 per link (default 10.1.0.0/16).
    #[schemars(with = "Option<schema::Prefix>")]
    links: Option<Spanned<String>>,
}

#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
struct RawEmulator {
    /// Virtual time to run (default: until nothing is left to do).
    #[schemars(with = "Option<schema::DurationText>")]
    duration: Option<Spanned<Value>>,
    /// Virtual time one compilation takes.
    #[schemars(with = "Option<schema::DurationText>")]
    compile_delay: Option<Spanned<Value>>,
    /// Largest budget an arriving capsule keeps on every node.
    #[schemars(with = "Option<schema::Budget>")]
    max_budget: Option<Spanned<Value>>,
}

#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
struct RawLiveness {
    /// Hello interval of every node core (10 ms to 60 s), e.g. "500ms".
    #[schemars(with = "Option<schema::DurationText>")]
    hello_interval: Option<Spanned<Value>>,
}

#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
struct RawDefaults {
    /// Options of every link that does not set them itself.
    link: Option<RawLinkOptions>,
}

#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
struct RawLinkOptions {
    /// One-way delay.
    #[schemars(with = "Option<schema::DurationText>")]
    delay: Option<Spanned<Value>>,
    /// Bit rate of each direction (default: unlimited).
    #[schemars(with = "Option<schema::BitRate>")]
    bandwidth: Option<Spanned<Value>>,
    /// Random loss of each datagram.
    #[schemars(with = "Option<schema::LossRate>")]
    loss: Option<Spanned<Value>>,
    /// Drop-tail queue in datagrams, with a bandwidth.
    #[schemars(with = "Option<schema::Queue>")]
    queue: Option<Spanned<Value>>,
    /// Extra delay drawn uniformly from 0 to this for each datagram (emulator).
    #[schemars(with = "Option<schema::DurationText>")]
    jitter: Option<Spanned<Value>>,
    /// Share of datagrams held back by one more link delay (emulator).
    #[schemars(with = "Option<schema::LossRate>")]
    reorder: Option<Spanned<Value>>,
    /// Share of datagrams that arrive twice (emulator).
    #[schemars(with = "Option<schema::LossRate>")]
    duplicate: Option<Spanned<Value>>,
    /// Share of datagrams with one byte flipped; the receiving node drops them on the UDP
    /// checksum and counts them (emulator).
    #[schemars(with = "Option<schema::LossRate>")]
    corrupt: Option<Spanned<Value>>,
}

#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
struct RawNode {
    /// Unique name.
    #[schemars(with = "String")]
    name: Spanned<String>,
    #[schemars(with = "schema::NodeKindText")]
    kind: Spanned<String>,
    /// IPv4 address (default: drawn from the node pool).
    #[schemars(with = "Option<String>")]
    address: Option<Spanned<String>>,
    /// Groups this node belongs to.
    #[serde(default)]
    #[schemars(with = "Vec<String>")]
    groups: Vec<Spanned<String>>,
}

// serde's `flatten` does not combine with `deny_unknown_fields`, so the options are repeated.
#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
struct RawLink {
    #[schemars(with = "schema::LinkEnds")]
    ends: Spanned<Vec<Spanned<String>>>,
    /// One-way delay.
    #[schemars(with = "Option<schema::DurationText>")]
    delay: Option<Spanned<Value>>,
    /// Bit rate of each direction.
    #[schemars(with = "Option<schema::BitRate>")]
    bandwidth: Option<Spanned<Value>>,
    /// Random loss of each datagram.
    #[schemars(with = "Option<schema::LossRate>")]
    loss: Option<Spanned<Value>>,
    /// Drop-tail queue in datagrams, with a bandwidth.
    #[schemars(with = "Option<schema::Queue>")]
    queue: Option<Spanned<Value>>,
    /// Extra delay drawn uniformly from 0 to this for each datagram (emulator).
    #[schemars(with = "Option<schema::DurationText>")]
    jitter: Option<Spanned<Value>>,
    /// Share of datagrams held back by one more link delay (emulator).
    #[schemars(with = "Option<schema::LossRate>")]
    reorder: Option<Spanned<Value>>,
    /// Share of datagrams that arrive twice (emulator).
    #[schemars(with = "Option<schema::LossRate>")]
    duplicate: Option<Spanned<Value>>,
    /// Share of datagrams with one byte flipped; the receiving node drops them on the UDP
    /// checksum and counts them (emulator).
    #[schemars(with = "Option<schema::LossRate>")]
    corrupt: Option<Spanned<Value>>,
}

impl RawLink {
    fn options(&self) -> [(&'static str, Option<&Spanned<Value>>); 8] {
        [
            ("delay", self.delay.as_ref()),
            ("bandwidth", self.bandwidth.as_ref()),
            ("loss", self.loss.as_ref()),
            ("queue", self.queue.as_ref()),
            ("jitter", self.jitter.as_ref()),
            ("reorder", self.reorder.as_ref()),
            ("duplicate", self.duplicate.as_ref()),
            ("corrupt", self.corrupt.as_ref()),
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

#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
struct RawApp {
    #[schemars(with = "schema::AppKindText")]
    kind: Spanned<String>,
    /// The host or active node it runs on.
    #[schemars(with = "String")]
    node: Spanned<String>,
    /// ping: a node; send: a node or a group.
    #[schemars(with = "Option<String>")]
    to: Option<Spanned<String>>,
    /// ping, send: how many.
    #[schemars(with = "Option<schema::Count>")]
    count: Option<Spanned<Value>>,
    /// ping, send: time between two.
    #[schemars(with = "Option<schema::DurationText>")]
    interval: Option<Spanned<Value>>,
    /// ping, send: when the first leaves.
    #[schemars(with = "Option<schema::DurationText>")]
    start: Option<Spanned<Value>>,
    /// send: a shipped capsule's name or a .wasm path.
    #[schemars(with = "Option<String>")]
    protocol: Option<Spanned<String>>,
    /// send: each capsule's budget.
    #[schemars(with = "Option<schema::Budget>")]
    budget: Option<Spanned<Value>>,
    /// send: the payload as text.
    #[schemars(with = "Option<String>")]
    payload: Option<Spanned<String>>,
    /// send: the payload as hex digits.
    #[schemars(with = "Option<String>")]
    payload_hex: Option<Spanned<String>>,
    /// listen: the port.
    #[schemars(with = "Option<schema::Port>")]
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
const ENTRY_KEYS: [&str; 4] = ["node", "link", "app", "event"];

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

mod events;
mod reader;
mod schema;
#[cfg(test)]
mod tests;
mod writer;

use reader::Reader;
