//! The Mermaid flowchart of a topology.
//!
//! It only writes text: it never lays anything out (the Mermaid renderer does).

use std::collections::BTreeMap;
use std::fmt::Write as _;

use super::{
    ACTIVE_FILL, ACTIVE_LINE, BUSY_LINE, HOST_FILL, HOST_LINE, IDLE_LINE, LEGACY_FILL, LEGACY_LINE,
    LEGACY_TEXT, LINK_LINE, Traffic, decimal, edge_looks, title_of,
};
use crate::model::{NodeKind, Topology};

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
