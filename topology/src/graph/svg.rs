//! The standalone SVG picture of a topology: node shapes, links, labels, title and legend,
//! drawn at the positions `layout` computes.
//!
//! It never decides where a node goes (see `layout`) and never runs an external program.

use std::fmt::Write as _;

use super::layout::{BOW_MAX, CHAR_W, LABEL_CHAR_W, LEGEND_H, MARGIN, NODE_H, layout};
use super::{
    ACTIVE_FILL, ACTIVE_LINE, BUSY_LINE, HOST_FILL, HOST_LINE, IDLE_LINE, LEGACY_FILL, LEGACY_LINE,
    LEGACY_TEXT, LINK_LINE, Traffic, decimal, edge_looks, title_of,
};
use crate::model::{NodeKind, Topology};

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
        let (mx, my, path) = if same_row && !adjacent {
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
            // Between two neighbouring nodes of a row there is no room: the label goes under
            // the line.
            let my = if same_row {
                y1 + NODE_H / 2.0 + 8.0
            } else {
                (y1 + y2) / 2.0
            };
            (
                (x1 + x2) / 2.0,
                my,
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
