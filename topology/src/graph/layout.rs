//! The layout of an SVG picture: layers by breadth-first distance from the hosts, orders within
//! layers by barycenter sweeps, positions pulled toward neighbours without overlap.
//!
//! It computes positions only; it never writes SVG (see `svg`), and it must stay a pure,
//! deterministic function of the topology (no hash-map order, no clock, no randomness).

use super::EdgeLook;
use crate::model::{NodeKind, Topology};

pub(super) const NODE_H: f64 = 40.0;
pub(super) const MARGIN: f64 = 30.0;
pub(super) const TITLE_H: f64 = 44.0;
pub(super) const LEGEND_H: f64 = 44.0;
/// Estimated advance of one character at the node font size (11 px sans-serif).
pub(super) const CHAR_W: f64 = 6.8;
/// The same at the link label size (10 px).
pub(super) const LABEL_CHAR_W: f64 = 5.9;
/// Deepest a link within a row bows below the row's center.
pub(super) const BOW_MAX: f64 = 64.0;
/// Barycenter sweeps; the best ordering seen is kept.
const SWEEPS: usize = 24;
/// Rounds of pulling positions toward neighbours.
const PULLS: usize = 8;

/// Positions of the nodes of a picture.
pub(super) struct Layout {
    pub(super) x: Vec<f64>,
    pub(super) y: Vec<f64>,
    pub(super) layer: Vec<usize>,
    /// Order within its layer.
    pub(super) order: Vec<usize>,
    pub(super) node_w: f64,
    pub(super) width: f64,
    pub(super) height: f64,
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
pub(super) fn crossings_between(
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
pub(super) fn pack(desired: &[f64], gap: f64) -> Vec<f64> {
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

pub(super) fn layout(topo: &Topology, looks: &[Option<EdgeLook>], min_width: f64) -> Layout {
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
