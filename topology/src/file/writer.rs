//! Writing a [`Topology`] back as a topology file, so that a network made in code (a
//! generator, `ants topo generate`) can be kept, edited and read again.
//!
//! Owns the file form of every value: durations and bit rates in the largest unit that keeps
//! them exact, loss rates as probabilities, every node address (so a read-back network is the
//! same one, whatever the pools), link options only where the link set them, payloads as text
//! when they are printable and as hex otherwise. Reading what it writes gives back an equal
//! [`Topology`] (tested on every example). It never validates: a [`Topology`] already is.

use std::time::Duration;

use toml::{Table, Value};

use crate::model::{AppSpec, Event, NodeKind, Pool, Target, Topology};

/// The file text of `topology`, starting with `comment` lines (each prefixed with `# `).
pub fn to_toml(topology: &Topology, comment: &[&str]) -> String {
    let t = topology;
    let mut top = Table::new();
    top.insert("name".into(), Value::String(t.name.clone()));
    top.insert("seed".into(), integer(t.seed));
    let mut addressing = Table::new();
    if t.node_pool != Pool::NODES {
        addressing.insert("nodes".into(), Value::String(t.node_pool.to_string()));
    }
    if t.link_pool != Pool::LINKS {
        addressing.insert("links".into(), Value::String(t.link_pool.to_string()));
    }
    if !addressing.is_empty() {
        top.insert("addressing".into(), Value::Table(addressing));
    }
    let mut emulator = Table::new();
    if let Some(d) = t.emulator.duration {
        emulator.insert("duration".into(), duration(d));
    }
    if let Some(d) = t.emulator.compile_delay {
        emulator.insert("compile_delay".into(), duration(d));
    }
    if let Some(b) = t.emulator.max_budget {
        emulator.insert("max_budget".into(), integer(u64::from(b)));
    }
    if !emulator.is_empty() {
        top.insert("emulator".into(), Value::Table(emulator));
    }
    if let Some(i) = t.hello_interval {
        let mut liveness = Table::new();
        liveness.insert("hello_interval".into(), duration(i));
        top.insert("liveness".into(), Value::Table(liveness));
    }
    let nodes = t.nodes.iter().map(|n| {
        let mut e = Table::new();
        e.insert("name".into(), Value::String(n.name.clone()));
        e.insert("kind".into(), Value::String(kind(n.kind).into()));
        e.insert("address".into(), Value::String(n.address.to_string()));
        if !n.groups.is_empty() {
            let groups = n.groups.iter().map(|g| Value::String(g.clone()));
            e.insert("groups".into(), Value::Array(groups.collect()));
        }
        Value::Table(e)
    });
    top.insert("node".into(), Value::Array(nodes.collect()));
    let links = t.links.iter().map(|l| {
        let mut e = Table::new();
        let name = |n: usize| Value::String(t.nodes[n].name.clone());
        e.insert("ends".into(), Value::Array(vec![name(l.a), name(l.b)]));
        let (p, set) = (&l.params, &l.explicit);
        if set.delay {
            e.insert("delay".into(), duration(p.delay));
        }
        if set.bandwidth
            && let Some(bps) = p.bandwidth_bps
        {
            e.insert("bandwidth".into(), bit_rate(bps));
        }
        if set.loss {
            e.insert("loss".into(), Value::Float(p.loss));
        }
        if set.queue {
            e.insert("queue".into(), integer(p.queue as u64));
        }
        let i = &p.impairments;
        if set.impairments {
            if !i.jitter.is_zero() {
                e.insert("jitter".into(), duration(i.jitter));
            }
            for (key, value) in [
                ("reorder", i.reorder),
                ("duplicate", i.duplicate),
                ("corrupt", i.corrupt),
            ] {
                if value > 0.0 {
                    e.insert(key.into(), Value::Float(value));
                }
            }
            if !i.any() {
                // Given, but all zero: say so, so the file reads back the same.
                e.insert("jitter".into(), duration(i.jitter));
            }
        }
        Value::Table(e)
    });
    top.insert("link".into(), Value::Array(links.collect()));
    if !t.apps.is_empty() {
        let apps = t.apps.iter().map(|a| Value::Table(app(t, a)));
        top.insert("app".into(), Value::Array(apps.collect()));
    }
    if !t.events.is_empty() {
        let events = t.events.iter().map(|e| {
            let mut entry = Table::new();
            entry.insert("at".into(), duration(e.at()));
            entry.insert("kind".into(), Value::String(e.kind().into()));
            let name = |n: usize| Value::String(t.nodes[n].name.clone());
            match *e {
                Event::LinkDown { link, .. } | Event::LinkUp { link, .. } => {
                    let l = &t.links[link];
                    entry.insert("link".into(), Value::Array(vec![name(l.a), name(l.b)]));
                }
                Event::LinkSet {
                    link,
                    delay,
                    loss,
                    bandwidth_bps,
                    ..
                } => {
                    let l = &t.links[link];
                    entry.insert("link".into(), Value::Array(vec![name(l.a), name(l.b)]));
                    if let Some(d) = delay {
                        entry.insert("delay".into(), duration(d));
                    }
                    if let Some(p) = loss {
                        entry.insert("loss".into(), Value::Float(p));
                    }
                    if let Some(b) = bandwidth_bps {
                        entry.insert("bandwidth".into(), bit_rate(b));
                    }
                }
                Event::NodeDown { node, .. } | Event::NodeUp { node, .. } => {
                    entry.insert("node".into(), name(node));
                }
            }
            Value::Table(entry)
        });
        top.insert("event".into(), Value::Array(events.collect()));
    }
    let mut out = String::new();
    for line in comment {
        out.push_str("# ");
        out.push_str(line);
        out.push('\n');
    }
    out.push_str(&toml::to_string(&top).unwrap_or_default());
    out
}

fn app(t: &Topology, a: &AppSpec) -> Table {
    let name = |n: usize| Value::String(t.nodes[n].name.clone());
    let mut e = Table::new();
    match a {
        AppSpec::Ping {
            node,
            to,
            count,
            interval,
            start,
        } => {
            e.insert("kind".into(), Value::String("ping".into()));
            e.insert("node".into(), name(*node));
            e.insert("to".into(), name(*to));
            e.insert("count".into(), integer(u64::from(*count)));
            e.insert("interval".into(), duration(*interval));
            e.insert("start".into(), duration(*start));
        }
        AppSpec::Send {
            node,
            protocol,
            to,
            count,
            interval,
            start,
            budget,
            payload,
        } => {
            e.insert("kind".into(), Value::String("send".into()));
            e.insert("node".into(), name(*node));
            e.insert("protocol".into(), Value::String(protocol.clone()));
            let to = match to {
                Target::Node(n) => name(*n),
                Target::Group(g) => Value::String(g.clone()),
            };
            e.insert("to".into(), to);
            e.insert("count".into(), integer(u64::from(*count)));
            e.insert("interval".into(), duration(*interval));
            e.insert("start".into(), duration(*start));
            e.insert("budget".into(), integer(u64::from(*budget)));
            match std::str::from_utf8(payload) {
                Ok(text) if !text.chars().any(char::is_control) => {
                    e.insert("payload".into(), Value::String(text.into()));
                }
                _ => {
                    e.insert("payload_hex".into(), Value::String(hex::encode(payload)));
                }
            }
        }
        AppSpec::Listen { node, port } => {
            e.insert("kind".into(), Value::String("listen".into()));
            e.insert("node".into(), name(*node));
            e.insert("port".into(), integer(u64::from(*port)));
        }
    }
    e
}

fn kind(k: NodeKind) -> &'static str {
    match k {
        NodeKind::Host => "host",
        NodeKind::Active => "active",
        NodeKind::Legacy => "legacy",
    }
}

fn integer(n: u64) -> Value {
    Value::Integer(i64::try_from(n).unwrap_or(i64::MAX))
}

/// A duration in the largest unit that keeps it exact: `"2ms"`, `"1500us"`, `"3s"`.
fn duration(d: Duration) -> Value {
    let ns = d.as_nanos();
    let text = [
        (60_000_000_000, "min"),
        (1_000_000_000, "s"),
        (1_000_000, "ms"),
        (1_000, "us"),
    ]
    .iter()
    .find(|(unit, _)| ns > 0 && ns.is_multiple_of(*unit))
    .map_or_else(
        || format!("{ns}ns"),
        |(unit, name)| format!("{}{name}", ns / unit),
    );
    Value::String(text)
}

/// A bit rate in the largest unit that keeps it exact: `"400kbit"`, `"10Mbit"`.
fn bit_rate(bps: u64) -> Value {
    let text = [
        (1_000_000_000_000, "Tbit"),
        (1_000_000_000, "Gbit"),
        (1_000_000, "Mbit"),
        (1_000, "kbit"),
    ]
    .iter()
    .find(|(unit, _)| bps.is_multiple_of(*unit))
    .map_or_else(
        || format!("{bps}bit"),
        |(unit, name)| format!("{}{name}", bps / unit),
    );
    Value::String(text)
}
