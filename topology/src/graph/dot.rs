//! The Graphviz dot picture of a topology.
//!
//! It only writes text: it never lays anything out (Graphviz does) and never runs `dot`.

use std::fmt::Write as _;

use super::{
    ACTIVE_FILL, ACTIVE_LINE, BUSY_LINE, HOST_FILL, HOST_LINE, IDLE_LINE, LEGACY_FILL, LEGACY_LINE,
    LEGACY_TEXT, Traffic, decimal, edge_looks, title_of,
};
use crate::model::{NodeKind, Topology};

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
