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

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::Path;
use std::time::Duration;

use crate::model::{Link, LinkParams, NodeKind, Topology};

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

// ---- Graphviz dot ----------------------------------------------------------------------------

/// Escapes text for a double-quoted dot string.
fn dot_quote(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => {}
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// The topology in Graphviz dot (an undirected `graph`).
pub fn dot(topo: &Topology, traffic: Option<&Traffic>) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "graph {} {{", dot_quote(&topo.name));
    let _ = writeln!(
        out,
        "  graph [label={}, labelloc=t, fontname=\"Helvetica\", fontsize=16, overlap=false];",
        dot_quote(&title_of(topo, traffic))
    );
    out.push_str("  node [fontname=\"Helvetica\", fontsize=10, style=filled];\n");
    out.push_str("  edge [fontname=\"Helvetica\", fontsize=9];\n");
    for node in &topo.nodes {
        let label = format!("{}\n{}", node.name, node.address);
        let style = match node.kind {
            NodeKind::Host => {
                format!("shape=box, fillcolor=\"{HOST_FILL}\", color=\"{HOST_LINE}\"")
            }
            NodeKind::Active => format!(
                "shape=hexagon, fillcolor=\"{ACTIVE_FILL}\", color=\"{ACTIVE_LINE}\", penwidth=2"
            ),
            NodeKind::Legacy => format!(
                "shape=ellipse, fillcolor=\"{LEGACY_FILL}\", color=\"{LEGACY_LINE}\", fontcolor=\"{LEGACY_TEXT}\""
            ),
        };
        let _ = writeln!(
            out,
            "  {} [label={}, tooltip={}, {style}];",
            dot_quote(&node.name),
            dot_quote(&label),
            dot_quote(&format!("{} ({})", node.name, node.kind))
        );
    }
    for e in edge_looks(topo, traffic).into_iter().flatten() {
        let mut attrs = vec![format!("tooltip={}", dot_quote(&e.tooltip))];
        if !e.label.is_empty() {
            attrs.push(format!("label={}", dot_quote(&e.label)));
        }
        if traffic.is_some() {
            attrs.push(format!("penwidth={}", decimal(e.width)));
            if e.idle {
                attrs.push(format!("style=dashed, color=\"{IDLE_LINE}\""));
            } else if e.busy {
                attrs.push(format!("color=\"{BUSY_LINE}\", fontcolor=\"{BUSY_LINE}\""));
            }
        }
        let _ = writeln!(
            out,
            "  {} -- {} [{}];",
            dot_quote(&topo.nodes[e.a].name),
            dot_quote(&topo.nodes[e.b].name),
            attrs.join(", ")
        );
    }
    out.push_str("}\n");
    out
}

// ---- Mermaid ---------------------------------------------------------------------------------

/// Text inside a Mermaid `"..."` label: quotes and angle brackets as entity codes.
fn mermaid_text(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '"' => out.push_str("#quot;"),
            '<' => out.push_str("#lt;"),
            '>' => out.push_str("#gt;"),
            '#' => out.push_str("#35;"),
            '\n' | '\r' => out.push(' '),
            c => out.push(c),
        }
    }
    out
}

/// The topology as a Mermaid flowchart. Node ids are `n<index>`, so no node name can clash
/// with Mermaid's keywords.
pub fn mermaid(topo: &Topology, traffic: Option<&Traffic>) -> String {
    let mut out = String::new();
    let title = title_of(topo, traffic)
        .replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace(['\n', '\r'], " ");
    let _ = writeln!(out, "---\ntitle: \"{title}\"\n---\nflowchart TB");
    for (i, node) in topo.nodes.iter().enumerate() {
        let label = format!("{}<br/>{}", mermaid_text(&node.name), node.address);
        let (open, close) = match node.kind {
            NodeKind::Host => ("[", "]"),
            NodeKind::Active => ("{{", "}}"),
            NodeKind::Legacy => ("([", "])"),
        };
        let _ = writeln!(out, "  n{i}{open}\"{label}\"{close}:::{}", node.kind.name());
    }
    // Link styles, grouped by style so a large picture stays short; BTreeMap keeps the order.
    let mut styles: BTreeMap<String, Vec<usize>> = BTreeMap::new();
    for (index, e) in edge_looks(topo, traffic).into_iter().flatten().enumerate() {
        if e.label.is_empty() {
            let _ = writeln!(out, "  n{} --- n{}", e.a, e.b);
        } else {
            let _ = writeln!(
                out,
                "  n{} ---|\"{}\"| n{}",
                e.a,
                mermaid_text(&e.label),
                e.b
            );
        }
        let style = if traffic.is_none() {
            format!("stroke:{LINK_LINE},stroke-width:1.5px")
        } else if e.idle {
            format!("stroke:{IDLE_LINE},stroke-width:1px,stroke-dasharray:5 4")
        } else {
            format!("stroke:{BUSY_LINE},stroke-width:{}px", decimal(e.width))
        };
        styles.entry(style).or_default().push(index);
    }
    let _ = writeln!(
        out,
        "  classDef host fill:{HOST_FILL},stroke:{HOST_LINE},color:#000000"
    );
    let _ = writeln!(
        out,
        "  classDef active fill:{ACTIVE_FILL},stroke:{ACTIVE_LINE},stroke-width:2px,color:#000000"
    );
    let _ = writeln!(
        out,
        "  classDef legacy fill:{LEGACY_FILL},stroke:{LEGACY_LINE},color:{LEGACY_TEXT}"
    );
    for (style, links) in &styles {
        let ids: Vec<String> = links.iter().map(usize::to_string).collect();
        let _ = writeln!(out, "  linkStyle {} {style}", ids.join(","));
    }
    out
}

// ---- SVG: layout -----------------------------------------------------------------------------

const NODE_H: f64 = 40.0;
const MARGIN: f64 = 30.0;
const TITLE_H: f64 = 44.0;
const LEGEND_H: f64 = 44.0;
/// Estimated advance of one character at the node font size (11 px sans-serif).
const CHAR_W: f64 = 6.8;
/// The same at the link label size (10 px).
const LABEL_CHAR_W: f64 = 5.9;
/// Deepest a link within a row bows below the row's center.
const BOW_MAX: f64 = 64.0;
/// Barycenter sweeps; the best ordering seen is kept.
const SWEEPS: usize = 24;
/// Rounds of pulling positions toward neighbours.
const PULLS: usize = 8;

/// Positions of the nodes of a picture.
struct Layout {
    x: Vec<f64>,
    y: Vec<f64>,
    layer: Vec<usize>,
    /// Order within its layer.
    order: Vec<usize>,
    node_w: f64,
    width: f64,
    height: f64,
}

/// Breadth-first layers from the hosts (or, without hosts, from the leaves; or node 0).
/// Every component gets its own start, so no node is left out even in a hand-made topology.
fn layers(n: usize, adj: &[Vec<usize>], hosts: &[usize]) -> Vec<Vec<usize>> {
    let mut layer = vec![usize::MAX; n];
    let mut rows: Vec<Vec<usize>> = Vec::new();
    let mut queue = std::collections::VecDeque::new();
    let mut sources: Vec<usize> = hosts.to_vec();
    if sources.is_empty() {
        sources = (0..n).filter(|&v| adj[v].len() <= 1).collect();
    }
    let mut next_start = 0;
    loop {
        if sources.is_empty() {
            while next_start < n && layer[next_start] != usize::MAX {
                next_start += 1;
            }
            if next_start == n {
                break;
            }
            sources.push(next_start);
        }
        for s in sources.drain(..) {
            if layer[s] == usize::MAX {
                layer[s] = 0;
                if rows.is_empty() {
                    rows.push(Vec::new());
                }
                rows[0].push(s);
                queue.push_back(s);
            }
        }
        while let Some(v) = queue.pop_front() {
            for &w in &adj[v] {
                if layer[w] == usize::MAX {
                    layer[w] = layer[v] + 1;
                    if rows.len() <= layer[w] {
                        rows.push(Vec::new());
                    }
                    rows[layer[w]].push(w);
                    queue.push_back(w);
                }
            }
        }
    }
    rows
}

/// Crossings between the links of two adjacent rows (a Fenwick tree counts inversions).
fn crossings_between(
    upper: &[usize],
    lower_len: usize,
    pos: &[usize],
    adj: &[Vec<usize>],
    layer: &[usize],
    l: usize,
) -> u64 {
    let mut edges: Vec<(usize, usize)> = Vec::new();
    for &u in upper {
        for &w in &adj[u] {
            if layer[w] == l + 1 {
                edges.push((pos[u], pos[w]));
            }
        }
    }
    edges.sort_unstable();
    let mut tree = vec![0u64; lower_len + 1];
    let mut crossings = 0u64;
    for (seen, &(_, p)) in edges.iter().enumerate() {
        // Links seen so far that end strictly right of p cross this one.
        let mut not_greater = 0;
        let mut i = p + 1;
        while i > 0 {
            not_greater += tree[i];
            i &= i - 1;
        }
        crossings += seen as u64 - not_greater;
        let mut i = p + 1;
        while i <= lower_len {
            tree[i] += 1;
            i += i & i.wrapping_neg();
        }
    }
    crossings
}

fn total_crossings(rows: &[Vec<usize>], pos: &[usize], adj: &[Vec<usize>], layer: &[usize]) -> u64 {
    (0..rows.len().saturating_sub(1))
        .map(|l| crossings_between(&rows[l], rows[l + 1].len(), pos, adj, layer, l))
        .sum()
}

/// Orders `row` by the mean position of each node's neighbours in the row `reference`
/// (nodes without such neighbours keep their relative place).
fn sort_by_barycenter(
    row: &mut [usize],
    reference: usize,
    pos: &mut [usize],
    adj: &[Vec<usize>],
    layer: &[usize],
    ref_len: usize,
) {
    let own_len = row.len().max(1) as f64;
    let scale = ref_len.max(1) as f64 / own_len;
    let key: Vec<(f64, usize, usize)> = row
        .iter()
        .map(|&v| {
            let (sum, count) = adj[v]
                .iter()
                .filter(|&&w| layer[w] == reference)
                .fold((0.0, 0usize), |(s, c), &w| (s + pos[w] as f64, c + 1));
            let k = if count == 0 {
                pos[v] as f64 * scale
            } else {
                sum / count as f64
            };
            (k, pos[v], v)
        })
        .collect();
    let mut key = key;
    key.sort_by(|a, b| a.0.total_cmp(&b.0).then(a.1.cmp(&b.1)));
    for (i, &(_, _, v)) in key.iter().enumerate() {
        row[i] = v;
        pos[v] = i;
    }
}

/// Places `desired` positions left to right at least `gap` apart, as close to the desired
/// ones as the order allows: the mean of a left-to-right and a right-to-left packing (each
/// keeps the gap, so their mean does too).
fn pack(desired: &[f64], gap: f64) -> Vec<f64> {
    let n = desired.len();
    let mut left = desired.to_vec();
    for i in 1..n {
        left[i] = left[i].max(left[i - 1] + gap);
    }
    let mut right = desired.to_vec();
    for i in (0..n.saturating_sub(1)).rev() {
        right[i] = right[i].min(right[i + 1] - gap);
    }
    left.iter()
        .zip(&right)
        .map(|(l, r)| (l + r) / 2.0)
        .collect()
}

fn layout(topo: &Topology, looks: &[Option<EdgeLook>], min_width: f64) -> Layout {
    let n = topo.nodes.len();
    let mut adj = vec![Vec::new(); n];
    for e in looks.iter().flatten() {
        if e.a != e.b {
            adj[e.a].push(e.b);
            adj[e.b].push(e.a);
        }
    }
    let hosts: Vec<usize> = (0..n)
        .filter(|&v| topo.nodes[v].kind == NodeKind::Host)
        .collect();
    let mut rows = layers(n, &adj, &hosts);
    let mut layer = vec![0; n];
    let mut pos = vec![0; n];
    for (l, row) in rows.iter().enumerate() {
        for (i, &v) in row.iter().enumerate() {
            layer[v] = l;
            pos[v] = i;
        }
    }

    // Crossing reduction.
    let mut best = (total_crossings(&rows, &pos, &adj, &layer), rows.clone());
    for _ in 0..SWEEPS {
        if best.0 == 0 {
            break;
        }
        for l in 1..rows.len() {
            let ref_len = rows[l - 1].len();
            sort_by_barycenter(&mut rows[l], l - 1, &mut pos, &adj, &layer, ref_len);
        }
        for l in (0..rows.len().saturating_sub(1)).rev() {
            let ref_len = rows[l + 1].len();
            sort_by_barycenter(&mut rows[l], l + 1, &mut pos, &adj, &layer, ref_len);
        }
        let c = total_crossings(&rows, &pos, &adj, &layer);
        if c < best.0 {
            best = (c, rows.clone());
        }
    }
    let rows = best.1;
    for row in &rows {
        for (i, &v) in row.iter().enumerate() {
            pos[v] = i;
        }
    }

    // Sizes: one node width for all; links fanning out of a node put their labels about half
    // a column apart, so columns are wide enough for half a label on each side.
    let longest = topo
        .nodes
        .iter()
        .map(|nd| nd.name.chars().count().max(nd.address.to_string().len()))
        .max()
        .unwrap_or(4);
    let node_w = (longest as f64 * CHAR_W + 20.0).clamp(64.0, 260.0);
    let label_w = looks
        .iter()
        .flatten()
        .map(|e| e.label.chars().count() as f64 * LABEL_CHAR_W)
        .fold(0.0, f64::max);
    let gap = (node_w + 28.0).max(label_w + 16.0);
    let layer_h = NODE_H + if label_w > 0.0 { 80.0 } else { 56.0 };

    // Positions: start evenly spaced, then pull each row toward its neighbours.
    let mut x = vec![0.0; n];
    for row in &rows {
        for (i, &v) in row.iter().enumerate() {
            x[v] = i as f64 * gap;
        }
    }
    let pull = |x: &mut Vec<f64>, l: usize, reference: usize| {
        let desired: Vec<f64> = rows[l]
            .iter()
            .map(|&v| {
                let near: Vec<f64> = adj[v]
                    .iter()
                    .filter(|&&w| layer[w] == reference)
                    .map(|&w| x[w])
                    .collect();
                if near.is_empty() {
                    x[v]
                } else {
                    near.iter().sum::<f64>() / near.len() as f64
                }
            })
            .collect();
        for (&v, p) in rows[l].iter().zip(pack(&desired, gap)) {
            x[v] = p;
        }
    };
    for _ in 0..PULLS {
        for l in 1..rows.len() {
            pull(&mut x, l, l - 1);
        }
        for l in (0..rows.len().saturating_sub(1)).rev() {
            pull(&mut x, l, l + 1);
        }
    }
    let min_x = x.iter().copied().fold(f64::INFINITY, f64::min);
    let max_x = x.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    let shift = MARGIN + node_w / 2.0 - if min_x.is_finite() { min_x } else { 0.0 };
    for v in &mut x {
        *v += shift;
    }
    let span = if n == 0 { 0.0 } else { max_x - min_x };
    let width = (span + node_w + 2.0 * MARGIN).max(min_width);
    let y: Vec<f64> = (0..n)
        .map(|v| TITLE_H + MARGIN + NODE_H / 2.0 + layer[v] as f64 * layer_h)
        .collect();
    // Links within the last row bow below it (see `svg`): leave them room above the legend.
    let last = rows.len().saturating_sub(1);
    let bows_below = looks
        .iter()
        .flatten()
        .any(|e| layer[e.a] == last && layer[e.b] == last && pos[e.a].abs_diff(pos[e.b]) > 1);
    let height = TITLE_H
        + 2.0 * MARGIN
        + NODE_H
        + last as f64 * layer_h
        + if bows_below { BOW_MAX + 8.0 } else { 0.0 }
        + LEGEND_H;
    // Center narrow pictures.
    let extra = (width - (span + node_w + 2.0 * MARGIN)) / 2.0;
    if extra > 0.0 {
        for v in &mut x {
            *v += extra;
        }
    }
    Layout {
        x,
        y,
        layer,
        order: pos,
        node_w,
        width,
        height,
    }
}

// ---- SVG: drawing ----------------------------------------------------------------------------

/// Escapes text for SVG element content and attribute values.
fn xml(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            c if (c as u32) < 0x20 && c != '\n' && c != '\t' => out.push(' '),
            c => out.push(c),
        }
    }
    out
}

/// One coordinate, rounded to a tenth of a pixel.
fn px(v: f64) -> String {
    format!("{v:.1}")
}

fn node_shape(out: &mut String, kind: NodeKind, cx: f64, cy: f64, w: f64, h: f64) {
    let (l, r, t, b) = (cx - w / 2.0, cx + w / 2.0, cy - h / 2.0, cy + h / 2.0);
    match kind {
        NodeKind::Host => {
            let _ = write!(
                out,
                "<rect x=\"{}\" y=\"{}\" width=\"{}\" height=\"{}\" rx=\"3\" fill=\"{HOST_FILL}\" stroke=\"{HOST_LINE}\" stroke-width=\"1.5\"/>",
                px(l),
                px(t),
                px(w),
                px(h)
            );
        }
        NodeKind::Active => {
            let k = 12.0;
            let _ = write!(
                out,
                "<polygon points=\"{},{} {},{} {},{} {},{} {},{} {},{}\" fill=\"{ACTIVE_FILL}\" stroke=\"{ACTIVE_LINE}\" stroke-width=\"2.5\"/>",
                px(l),
                px(cy),
                px(l + k),
                px(t),
                px(r - k),
                px(t),
                px(r),
                px(cy),
                px(r - k),
                px(b),
                px(l + k),
                px(b)
            );
        }
        NodeKind::Legacy => {
            let _ = write!(
                out,
                "<ellipse cx=\"{}\" cy=\"{}\" rx=\"{}\" ry=\"{}\" fill=\"{LEGACY_FILL}\" stroke=\"{LEGACY_LINE}\" stroke-width=\"1.5\"/>",
                px(cx),
                px(cy),
                px(w / 2.0),
                px(h / 2.0)
            );
        }
    }
}

enum LegendItem {
    Node(NodeKind, &'static str),
    Line(&'static str, &'static str, &'static str, &'static str),
}

/// The legend's items, each with the x where the next one starts.
fn legend_entries(traffic: bool) -> Vec<(f64, LegendItem)> {
    let mut items = vec![
        LegendItem::Node(NodeKind::Host, "host"),
        LegendItem::Node(NodeKind::Active, "active router"),
        LegendItem::Node(NodeKind::Legacy, "legacy router"),
    ];
    if traffic {
        items.push(LegendItem::Line(BUSY_LINE, "", "3", "carried packets"));
        items.push(LegendItem::Line(
            IDLE_LINE,
            " stroke-dasharray=\"5 4\"",
            "1",
            "carried none",
        ));
    }
    let mut x = MARGIN;
    items
        .into_iter()
        .map(|item| {
            let (offset, text) = match &item {
                LegendItem::Node(_, t) => (38.0, *t),
                LegendItem::Line(.., t) => (34.0, *t),
            };
            x += offset + text.len() as f64 * CHAR_W + 18.0;
            (x, item)
        })
        .collect()
}

/// The topology as a standalone SVG picture (see the module docs for the layout).
pub fn svg(topo: &Topology, traffic: Option<&Traffic>) -> String {
    let looks = edge_looks(topo, traffic);
    let title = title_of(topo, traffic);
    // Wide enough for the title (16 px bold) and the legend.
    let min_width = (title.chars().count() as f64 * 9.5 + 2.0 * MARGIN).max(
        legend_entries(traffic.is_some())
            .last()
            .map_or(0.0, |e| e.0)
            + MARGIN,
    );
    let lay = layout(topo, &looks, min_width);
    let mut out = String::new();
    let _ = writeln!(
        out,
        "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{w}\" height=\"{h}\" viewBox=\"0 0 {w} {h}\" font-family=\"Helvetica, Arial, sans-serif\">",
        w = px(lay.width),
        h = px(lay.height)
    );
    let _ = writeln!(out, "<title>{}</title>", xml(&title));
    out.push_str("<rect width=\"100%\" height=\"100%\" fill=\"#ffffff\"/>\n");
    let _ = writeln!(
        out,
        "<text x=\"{}\" y=\"{}\" text-anchor=\"middle\" font-size=\"16\" font-weight=\"bold\">{}</text>",
        px(lay.width / 2.0),
        px(MARGIN),
        xml(&title)
    );

    // Links first (nodes are drawn over their ends), then their labels over every line.
    let mut labels = String::new();
    out.push_str("<g id=\"links\" fill=\"none\" stroke-linecap=\"round\">\n");
    for (index, e) in looks.iter().enumerate() {
        let Some(e) = e else { continue };
        let (x1, y1, x2, y2) = (lay.x[e.a], lay.y[e.a], lay.x[e.b], lay.y[e.b]);
        let (stroke, dash) = match traffic {
            None => (LINK_LINE, ""),
            Some(_) if e.idle => (IDLE_LINE, " stroke-dasharray=\"5 4\""),
            Some(_) => (BUSY_LINE, ""),
        };
        let same_row = lay.layer[e.a] == lay.layer[e.b];
        let adjacent = lay.order[e.a].abs_diff(lay.order[e.b]) <= 1;
        // A link within a row bows below it, clear of the nodes between its ends.
        let (mx, my, path) = if same_row && adjacent {
            // Between two neighbouring nodes there is no room: the label goes under the line.
            (
                (x1 + x2) / 2.0,
                y1 + NODE_H / 2.0 + 8.0,
                format!(
                    "<line x1=\"{}\" y1=\"{}\" x2=\"{}\" y2=\"{}\"",
                    px(x1),
                    px(y1),
                    px(x2),
                    px(y2)
                ),
            )
        } else if same_row {
            let bow =
                NODE_H / 2.0 + 14.0 + ((x2 - x1).abs() * 0.08).min(BOW_MAX - NODE_H / 2.0 - 14.0);
            let (cx, cy) = ((x1 + x2) / 2.0, y1 + 2.0 * bow);
            (
                cx,
                y1 + bow,
                format!(
                    "<path d=\"M{} {} Q{} {} {} {}\"",
                    px(x1),
                    px(y1),
                    px(cx),
                    px(cy),
                    px(x2),
                    px(y2)
                ),
            )
        } else {
            (
                (x1 + x2) / 2.0,
                (y1 + y2) / 2.0,
                format!(
                    "<line x1=\"{}\" y1=\"{}\" x2=\"{}\" y2=\"{}\"",
                    px(x1),
                    px(y1),
                    px(x2),
                    px(y2)
                ),
            )
        };
        let _ = writeln!(
            out,
            "<g id=\"link{index}\"><title>{}</title>{path} stroke=\"{stroke}\" stroke-width=\"{}\"{dash}/></g>",
            xml(&e.tooltip),
            decimal(e.width)
        );
        if !e.label.is_empty() {
            let colour = if e.busy { BUSY_LINE } else { "#333333" };
            // A white box under the text keeps lines from running through it.
            let w = e.label.chars().count() as f64 * LABEL_CHAR_W + 6.0;
            let _ = writeln!(
                labels,
                "<rect x=\"{}\" y=\"{}\" width=\"{}\" height=\"13\" fill=\"#ffffff\" fill-opacity=\"0.85\"/><text x=\"{}\" y=\"{}\" fill=\"{colour}\">{}</text>",
                px(mx - w / 2.0),
                px(my - 6.5),
                px(w),
                px(mx),
                px(my + 3.5),
                xml(&e.label)
            );
        }
    }
    out.push_str("</g>\n");
    out.push_str("<g id=\"link-labels\" font-size=\"10\" text-anchor=\"middle\">\n");
    out.push_str(&labels);
    out.push_str("</g>\n");

    out.push_str("<g id=\"nodes\" text-anchor=\"middle\">\n");
    for (v, node) in topo.nodes.iter().enumerate() {
        let (cx, cy) = (lay.x[v], lay.y[v]);
        let _ = write!(
            out,
            "<g id=\"node-{}\"><title>{} ({}) {}</title>",
            xml(&node.name),
            xml(&node.name),
            node.kind,
            node.address
        );
        node_shape(&mut out, node.kind, cx, cy, lay.node_w, NODE_H);
        let colour = if node.kind == NodeKind::Legacy {
            LEGACY_TEXT
        } else {
            "#000000"
        };
        let _ = writeln!(
            out,
            "<text x=\"{x}\" y=\"{}\" font-size=\"12\" font-weight=\"bold\" fill=\"{colour}\">{}</text><text x=\"{x}\" y=\"{}\" font-size=\"10\" fill=\"{colour}\">{}</text></g>",
            px(cy - 2.0),
            xml(&node.name),
            px(cy + 11.0),
            node.address,
            x = px(cx)
        );
    }
    out.push_str("</g>\n");

    // Legend along the bottom.
    let ly = lay.height - LEGEND_H / 2.0 - 4.0;
    out.push_str("<g id=\"legend\" font-size=\"11\">\n");
    let mut lx = MARGIN;
    for (end, item) in legend_entries(traffic.is_some()) {
        match item {
            LegendItem::Node(kind, text) => {
                node_shape(&mut out, kind, lx + 16.0, ly, 32.0, 18.0);
                let _ = writeln!(
                    out,
                    "<text x=\"{}\" y=\"{}\">{text}</text>",
                    px(lx + 38.0),
                    px(ly + 4.0)
                );
            }
            LegendItem::Line(stroke, dash, width, text) => {
                let _ = writeln!(
                    out,
                    "<line x1=\"{}\" y1=\"{y}\" x2=\"{}\" y2=\"{y}\" stroke=\"{stroke}\" stroke-width=\"{width}\"{dash}/><text x=\"{}\" y=\"{}\">{text}</text>",
                    px(lx),
                    px(lx + 28.0),
                    px(lx + 34.0),
                    px(ly + 4.0),
                    y = px(ly)
                );
            }
        }
        lx = end;
    }
    out.push_str("</g>\n</svg>\n");
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn units_read_well() {
        assert_eq!(bandwidth_text(10_000_000), "10 Mbit/s");
        assert_eq!(bandwidth_text(1_500_000_000), "1.5 Gbit/s");
        assert_eq!(bandwidth_text(100_000), "100 kbit/s");
        assert_eq!(bandwidth_text(999), "999 bit/s");
        assert_eq!(duration_text(Duration::from_micros(250)), "250 µs");
        assert_eq!(duration_text(Duration::from_millis(1500)), "1.5 s");
        assert_eq!(duration_text(Duration::from_nanos(7)), "7 ns");
        assert_eq!(decimal(2.5000000000000004), "2.5");
        assert_eq!(decimal(0.0), "0");
    }

    #[test]
    fn packing_keeps_order_and_gap() {
        let p = pack(&[5.0, 5.0, 5.0], 10.0);
        assert_eq!(p, vec![-5.0, 5.0, 15.0]);
        let p = pack(&[0.0, 100.0], 10.0);
        assert_eq!(p, vec![0.0, 100.0]);
    }

    #[test]
    fn crossings_are_counted() {
        // Row 0: 0 1; row 1: 2 3; links 0-3 and 1-2 cross once.
        let adj = vec![vec![3], vec![2], vec![1], vec![0]];
        let layer = vec![0, 0, 1, 1];
        let pos = vec![0, 1, 0, 1];
        assert_eq!(crossings_between(&[0, 1], 2, &pos, &adj, &layer, 0), 1);
        let pos = vec![0, 1, 1, 0];
        assert_eq!(crossings_between(&[0, 1], 2, &pos, &adj, &layer, 0), 0);
    }
}
