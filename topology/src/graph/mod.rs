//! Drawing a topology: Graphviz dot, SVG and Mermaid.
//!
//! Owns the pictures of a [`Topology`], with or without the packet counts of a run
//! ([`Traffic`]). The three kinds of node look different in every format (host: blue box;
//! active: orange hexagon; legacy: grey ellipse) and are labelled with their name and node
//! address. Links are labelled with the options that differ from [`LinkParams::default`]
//! (`10 Mbit/s, 5 ms, 1 %`) or, with traffic, with the packets carried each way; links that
//! carried packets are drawn in colour and wider the more they carried, links that carried
//! none thin, dashed and grey, so a multicast tree stands out from the network under it.
//!
//! SVG is laid out here, without any external program: layers by breadth-first distance from
//! the hosts (every link then joins the same or adjacent layers), orders within layers by
//! barycenter sweeps that keep the ordering with the fewest crossings, and positions pulled
//! toward neighbours without overlap. The layout crates tried drew our graphs well but were
//! not deterministic or took minutes on 1,000 nodes; this one takes milliseconds.
//!
//! Every output is a pure function of its input (no hash-map order, no clock): the same
//! topology and traffic give the same bytes. It never reads files or runs anything.
//!
//! This module holds what every format shows (colours, labels, link looks); `dot`, `mermaid`
//! and `svg` each write one format, `layout` places the nodes of an SVG picture.

mod dot;
mod layout;
mod mermaid;
mod svg;
#[cfg(test)]
mod tests;

use std::fmt::Write as _;
use std::path::Path;
use std::time::Duration;

use crate::model::{Link, LinkParams, Topology};

pub use dot::dot;
pub use mermaid::mermaid;
pub use svg::svg;

/// Packet counts of a run, to draw on the links.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Traffic {
    /// Shown above the picture (e.g. "multicast from h1: 40 link copies").
    pub title: String,
    /// For each link (index = `LinkId`), packets carried `[a → b, b → a]`. Missing entries
    /// count as zero; extra entries are ignored.
    pub per_link: Vec<[u64; 2]>,
}

/// An output format.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    /// Graphviz dot (render with `dot -Tsvg`, or paste into any Graphviz viewer).
    Dot,
    /// A standalone SVG picture, laid out here.
    Svg,
    /// A Mermaid flowchart (renders in Markdown on most forges).
    Mermaid,
}

impl Format {
    /// Draws `topo` in this format.
    pub fn render(self, topo: &Topology, traffic: Option<&Traffic>) -> String {
        match self {
            Format::Dot => dot(topo, traffic),
            Format::Svg => svg(topo, traffic),
            Format::Mermaid => mermaid(topo, traffic),
        }
    }

    /// The usual file extension.
    pub fn extension(self) -> &'static str {
        match self {
            Format::Dot => "dot",
            Format::Svg => "svg",
            Format::Mermaid => "mmd",
        }
    }

    /// The format a file name asks for: `.dot`/`.gv`, `.svg`, `.mmd`/`.mermaid`.
    pub fn from_path(path: &Path) -> Option<Format> {
        let ext = path.extension()?.to_str()?.to_ascii_lowercase();
        match ext.as_str() {
            "dot" | "gv" => Some(Format::Dot),
            "svg" => Some(Format::Svg),
            "mmd" | "mermaid" => Some(Format::Mermaid),
            _ => None,
        }
    }
}

// ---- What every format shows -----------------------------------------------------------------

const HOST_FILL: &str = "#dbe9f6";
const HOST_LINE: &str = "#2c5d8f";
const ACTIVE_FILL: &str = "#f5a623";
const ACTIVE_LINE: &str = "#a35f00";
const LEGACY_FILL: &str = "#e4e4e4";
const LEGACY_LINE: &str = "#8a8a8a";
const LEGACY_TEXT: &str = "#404040";
const LINK_LINE: &str = "#555555";
const BUSY_LINE: &str = "#c0392b";
const IDLE_LINE: &str = "#b5b5b5";

/// How one link is drawn.
struct EdgeLook {
    a: usize,
    b: usize,
    label: String,
    /// Full description for tooltips.
    tooltip: String,
    width: f64,
    /// With traffic: whether it carried nothing.
    idle: bool,
    busy: bool,
}

/// `1.5`, `2`, `0.125`: at most three decimals, no trailing zeros.
fn decimal(v: f64) -> String {
    let s = format!("{v:.3}");
    let s = s.trim_end_matches('0').trim_end_matches('.');
    if s.is_empty() || s == "-0" {
        "0".to_string()
    } else {
        s.to_string()
    }
}

fn bandwidth_text(bps: u64) -> String {
    for (unit, name) in [
        (1_000_000_000_000u64, "Tbit/s"),
        (1_000_000_000, "Gbit/s"),
        (1_000_000, "Mbit/s"),
        (1_000, "kbit/s"),
    ] {
        if bps >= unit {
            return format!("{} {name}", decimal(bps as f64 / unit as f64));
        }
    }
    format!("{bps} bit/s")
}

fn duration_text(d: Duration) -> String {
    let ns = d.as_nanos();
    for (unit, name) in [(1_000_000_000u128, "s"), (1_000_000, "ms"), (1_000, "µs")] {
        if ns >= unit {
            return format!("{} {name}", decimal(ns as f64 / unit as f64));
        }
    }
    format!("{ns} ns")
}

/// The options of a link that differ from the defaults, e.g. `10 Mbit/s, 5 ms, 1 %`.
fn options_text(p: &LinkParams) -> String {
    let d = LinkParams::default();
    let mut parts = Vec::new();
    if p.bandwidth_bps != d.bandwidth_bps {
        parts.push(match p.bandwidth_bps {
            Some(bps) => bandwidth_text(bps),
            None => "unlimited".to_string(),
        });
    }
    if p.delay != d.delay {
        parts.push(duration_text(p.delay));
    }
    if p.loss != d.loss {
        parts.push(format!("{} %", decimal(p.loss * 100.0)));
    }
    if p.queue != d.queue {
        parts.push(format!("queue {}", p.queue));
    }
    parts.join(", ")
}

fn all_options_text(p: &LinkParams) -> String {
    format!(
        "{}, {}, {} % loss, queue {}",
        p.bandwidth_bps
            .map_or("unlimited".to_string(), bandwidth_text),
        duration_text(p.delay),
        decimal(p.loss * 100.0),
        p.queue
    )
}

/// Links whose ends exist, with how to draw each (index = position in `topo.links`).
fn edge_looks(topo: &Topology, traffic: Option<&Traffic>) -> Vec<Option<EdgeLook>> {
    let n = topo.nodes.len();
    let counts = |i: usize| {
        traffic
            .and_then(|t| t.per_link.get(i).copied())
            .unwrap_or([0, 0])
    };
    let most = (0..topo.links.len())
        .map(|i| {
            let [x, y] = counts(i);
            x.saturating_add(y)
        })
        .max()
        .unwrap_or(0);
    topo.links
        .iter()
        .enumerate()
        .map(|(i, l): (usize, &Link)| {
            if l.a >= n || l.b >= n {
                return None;
            }
            let (an, bn) = (&topo.nodes[l.a].name, &topo.nodes[l.b].name);
            let options = options_text(&l.params);
            let mut tooltip = format!(
                "{an} -- {bn}: {}; {an} {}/{p}, {bn} {}/{p}",
                all_options_text(&l.params),
                l.a_addr,
                l.b_addr,
                p = l.prefix_len
            );
            if traffic.is_none() {
                return Some(EdgeLook {
                    a: l.a,
                    b: l.b,
                    label: options,
                    tooltip,
                    width: 1.5,
                    idle: false,
                    busy: false,
                });
            }
            let [ab, ba] = counts(i);
            let total = ab.saturating_add(ba);
            let mut parts = Vec::new();
            if ab > 0 {
                parts.push(format!("{an}→{bn} {ab}"));
            }
            if ba > 0 {
                parts.push(format!("{bn}→{an} {ba}"));
            }
            let _ = write!(tooltip, "; packets {an}→{bn} {ab}, {bn}→{an} {ba}");
            let width = if total == 0 {
                1.0
            } else {
                // Logarithmic, so a link with 1,000 copies does not dwarf one with 10.
                1.5 + 4.5 * ((1 + total) as f64).ln()
                    / ((1 + most) as f64).ln().max(f64::MIN_POSITIVE)
            };
            Some(EdgeLook {
                a: l.a,
                b: l.b,
                label: parts.join(", "),
                tooltip,
                width,
                idle: total == 0,
                busy: total > 0,
            })
        })
        .collect()
}

fn title_of(topo: &Topology, traffic: Option<&Traffic>) -> String {
    match traffic {
        Some(t) if !t.title.is_empty() => t.title.clone(),
        _ => topo.name.clone(),
    }
}
