//! Pictures: every node and link drawn, deterministic output, traffic shown, and the syntax
//! of each format sane (no Graphviz or Mermaid is needed to run these).

use std::collections::BTreeSet;
use std::path::Path;
use std::time::Instant;

use ants_topology::graph::{self, Format, Traffic};
use ants_topology::{NodeKind, Topology, TopologyBuilder, file};

fn example(name: &str) -> Topology {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("examples")
        .join(format!("{name}.toml"));
    file::load(&path).unwrap_or_else(|e| panic!("{e}"))
}

fn all_examples() -> Vec<Topology> {
    ["line", "campus", "bottleneck"]
        .into_iter()
        .map(example)
        .collect()
}

/// A campus-like network: a legacy ring core with chords, active edges, hosts per edge.
fn generated(core: usize, edges: usize, hosts: usize) -> Topology {
    let mut b = TopologyBuilder::new("generated");
    for c in 0..core {
        b.node(format!("c{c}"), NodeKind::Legacy, None);
    }
    for c in 0..core {
        b.link(format!("c{c}"), format!("c{}", (c + 1) % core));
    }
    for c in (0..core).step_by(3) {
        let o = (c + core / 2) % core;
        if c < o && o - c > 1 && o - c != core - 1 {
            b.link(format!("c{c}"), format!("c{o}"));
        }
    }
    for e in 0..edges {
        b.node(format!("e{e}"), NodeKind::Active, None)
            .link(format!("e{e}"), format!("c{}", e % core));
    }
    for h in 0..edges * hosts {
        b.node(format!("h{h}"), NodeKind::Host, None)
            .link(format!("h{h}"), format!("e{}", h / hosts));
    }
    b.build().unwrap()
}

/// Traffic on every other link, none on the rest.
fn some_traffic(t: &Topology) -> Traffic {
    Traffic {
        title: "multicast from h1 <& friends>".into(),
        per_link: (0..t.links.len())
            .map(|i| {
                if i % 2 == 0 {
                    [i as u64 + 1, 0]
                } else {
                    [0, 0]
                }
            })
            .collect(),
    }
}

#[test]
fn every_node_and_link_is_drawn() {
    for t in all_examples() {
        let d = graph::dot(&t, None);
        let m = graph::mermaid(&t, None);
        let s = graph::svg(&t, None);
        for (i, n) in t.nodes.iter().enumerate() {
            let addr = n.address.to_string();
            assert!(
                d.contains(&format!("\"{}\" [label=\"{}\\n{addr}\"", n.name, n.name)),
                "dot misses {}",
                n.name
            );
            assert!(
                m.contains(&format!("n{i}")) && m.contains(&format!("{}<br/>{addr}", n.name)),
                "mermaid misses {}",
                n.name
            );
            assert!(
                s.contains(&format!("<g id=\"node-{}\">", n.name)) && s.contains(&addr),
                "svg misses {}",
                n.name
            );
        }
        for (i, l) in t.links.iter().enumerate() {
            let (a, b) = (&t.nodes[l.a].name, &t.nodes[l.b].name);
            assert!(
                d.contains(&format!("\"{a}\" -- \"{b}\" [")),
                "dot misses {a} -- {b}"
            );
            assert!(
                m.lines().any(
                    |line| line.trim_start().starts_with(&format!("n{} ---", l.a))
                        && line.trim_end().ends_with(&format!(" n{}", l.b))
                ),
                "mermaid misses {a} -- {b}"
            );
            assert!(
                s.contains(&format!("<g id=\"link{i}\">")),
                "svg misses {a} -- {b}"
            );
        }
        assert_eq!(
            d.matches("\" -- \"").count(),
            t.links.len(),
            "one edge statement per link"
        );
    }
}

#[test]
fn kinds_are_drawn_differently() {
    let t = example("line");
    let d = graph::dot(&t, None);
    assert!(d.contains("\"h1\" [label=\"h1\\n10.0.0.1\", tooltip=\"h1 (host)\", shape=box"));
    assert!(d.contains("tooltip=\"a1 (active)\", shape=hexagon"));
    assert!(d.contains("tooltip=\"l1 (legacy)\", shape=ellipse, fillcolor=\"#e4e4e4\""));
    let m = graph::mermaid(&t, None);
    assert!(m.contains("n0[\"h1<br/>10.0.0.1\"]:::host"));
    assert!(m.contains("n1{{\"a1<br/>10.0.0.2\"}}:::active"));
    assert!(m.contains("n2([\"l1<br/>10.0.0.3\"]):::legacy"));
    let s = graph::svg(&t, None);
    let node = |name: &str| {
        let start = s.find(&format!("<g id=\"node-{name}\">")).unwrap();
        &s[start..start + s[start..].find("</g>").unwrap()]
    };
    assert!(node("h1").contains("<rect"));
    assert!(node("a1").contains("<polygon"));
    assert!(node("l1").contains("<ellipse"));
}

#[test]
fn link_labels_give_options_that_differ_from_the_defaults() {
    let t = file::parse(
        r#"
[[node]]
name = "a"
kind = "host"
[[node]]
name = "b"
kind = "active"
[[node]]
name = "c"
kind = "legacy"
[[link]]
ends = ["a", "b"]
bandwidth = "10Mbit"
delay = "5ms"
loss = "1%"
[[link]]
ends = ["b", "c"]
"#,
        Path::new("opts.toml"),
    )
    .unwrap();
    for f in [Format::Dot, Format::Mermaid, Format::Svg] {
        let out = f.render(&t, None);
        assert!(out.contains("10 Mbit/s, 5 ms, 1 %"), "{f:?}:\n{out}");
    }
    let d = graph::dot(&t, None);
    let plain = d.lines().find(|l| l.contains("\"b\" -- \"c\"")).unwrap();
    assert!(
        !plain.contains("label="),
        "default links carry no label: {plain}"
    );
}

#[test]
fn output_is_deterministic() {
    for t in all_examples().into_iter().chain([generated(6, 12, 4)]) {
        let traffic = some_traffic(&t);
        for f in [Format::Dot, Format::Mermaid, Format::Svg] {
            assert_eq!(f.render(&t, None), f.render(&t.clone(), None), "{f:?}");
            assert_eq!(
                f.render(&t, Some(&traffic)),
                f.render(&t, Some(&traffic.clone())),
                "{f:?}"
            );
        }
    }
    // The same network built twice draws the same.
    assert_eq!(
        graph::svg(&generated(5, 10, 3), None),
        graph::svg(&generated(5, 10, 3), None)
    );
}

#[test]
fn traffic_shows_counts_title_and_dashed_idle_links() {
    let t = example("campus");
    let traffic = some_traffic(&t);
    let idle = traffic.per_link.iter().filter(|c| c == &&[0, 0]).count();
    let busy = t.links.len() - idle;
    assert!(idle > 0 && busy > 0);

    let d = graph::dot(&t, Some(&traffic));
    assert!(d.contains("label=\"multicast from h1 <& friends>\""));
    assert_eq!(d.matches("style=dashed").count(), idle);
    let (a, b) = (&t.nodes[t.links[2].a].name, &t.nodes[t.links[2].b].name);
    assert!(d.contains(&format!("label=\"{a}→{b} 3\"")), "{d}");
    // Wider the more a link carried.
    let width = |link: usize| -> f64 {
        let (a, b) = (
            &t.nodes[t.links[link].a].name,
            &t.nodes[t.links[link].b].name,
        );
        let line = d
            .lines()
            .find(|l| l.contains(&format!("\"{a}\" -- \"{b}\"")))
            .unwrap();
        let w = line.split("penwidth=").nth(1).unwrap();
        w[..w.find(',').unwrap()].parse().unwrap()
    };
    assert!(width(0) < width(2) && width(2) < width(4));
    assert!(width(1) <= 1.0);

    let m = graph::mermaid(&t, Some(&traffic));
    assert!(m.starts_with("---\ntitle: \"multicast from h1 <& friends>\"\n---\n"));
    let dashed: usize = m
        .lines()
        .filter(|l| l.contains("stroke-dasharray"))
        .map(|l| l.split_whitespace().nth(1).unwrap().split(',').count())
        .sum();
    assert_eq!(dashed, idle);

    let s = graph::svg(&t, Some(&traffic));
    assert!(s.contains("multicast from h1 &lt;&amp; friends&gt;</text>"));
    // One dashed line per idle link, plus the legend's sample.
    assert_eq!(s.matches("stroke-dasharray").count(), idle + 1);
    assert!(s.contains(&format!(">{a}→{b} 3</text>")));

    // A link that carried packets both ways says so.
    let both = Traffic {
        title: String::new(),
        per_link: vec![[4, 2]],
    };
    let d = graph::dot(&t, Some(&both));
    let (a, b) = (&t.nodes[t.links[0].a].name, &t.nodes[t.links[0].b].name);
    assert!(
        d.contains(&format!("label=\"{a}→{b} 4, {b}→{a} 2\"")),
        "{d}"
    );
    assert!(d.contains("label=\"campus\""), "no title: the name");
    // Missing counts are zero: all other links idle.
    assert_eq!(d.matches("style=dashed").count(), t.links.len() - 1);
}

/// Checks dot structure: a single undirected graph, balanced braces and quotes, statements
/// ending in `;`.
fn check_dot(d: &str) {
    let lines: Vec<&str> = d.lines().collect();
    assert!(lines[0].starts_with("graph \"") && lines[0].ends_with(" {"));
    assert_eq!(*lines.last().unwrap(), "}");
    for l in &lines[1..lines.len() - 1] {
        assert!(l.starts_with("  ") && l.ends_with("];"), "{l}");
        assert!(!l.contains("->"), "undirected: {l}");
        // Quotes balance once escaped quotes are removed.
        assert_eq!(l.replace("\\\"", "").matches('"').count() % 2, 0, "{l}");
    }
}

/// Checks Mermaid structure: front matter, one flowchart, known statements only, every link
/// between defined nodes, every link style index in range.
fn check_mermaid(m: &str, nodes: usize, links: usize) {
    let mut lines = m.lines();
    assert_eq!(lines.next(), Some("---"));
    assert!(lines.next().unwrap().starts_with("title: \""));
    assert_eq!(lines.next(), Some("---"));
    assert_eq!(lines.next(), Some("flowchart TB"));
    let mut defined = BTreeSet::new();
    let mut edges = 0;
    let mut styled = BTreeSet::new();
    for l in lines {
        let l = l
            .strip_prefix("  ")
            .unwrap_or_else(|| panic!("indent: {l}"));
        if let Some(rest) = l.strip_prefix("linkStyle ") {
            for i in rest.split(' ').next().unwrap().split(',') {
                let i: usize = i.parse().unwrap();
                assert!(i < links, "{l}");
                assert!(styled.insert(i), "styled twice: {l}");
            }
        } else if l.starts_with("classDef ") {
            assert_eq!(l.split(' ').count(), 3, "{l}");
        } else if l.contains(" --- ") || l.contains(" ---|") {
            let first = l.split(' ').next().unwrap();
            let last = l.split(' ').next_back().unwrap();
            assert!(defined.contains(first) && defined.contains(last), "{l}");
            if let Some(label) = l.split("---|").nth(1) {
                assert!(label.starts_with('"') && label.contains("\"|"), "{l}");
            }
            edges += 1;
        } else {
            let id: String = l
                .chars()
                .take_while(|c| c.is_ascii_alphanumeric())
                .collect();
            assert!(id.starts_with('n'), "{l}");
            let shape = &l[id.len()..];
            assert!(
                ["[\"", "{{\"", "([\""].iter().any(|o| shape.starts_with(o)),
                "{l}"
            );
            assert!(
                ["\"]:::host", "\"}}:::active", "\"]):::legacy"]
                    .iter()
                    .any(|c| shape.ends_with(c)),
                "{l}"
            );
            assert_eq!(shape.matches('"').count(), 2, "{l}");
            defined.insert(id);
        }
    }
    assert_eq!(defined.len(), nodes);
    assert_eq!(edges, links);
    assert_eq!(styled.len(), links, "every link styled once");
}

/// Tags open and close in order (a tiny well-formedness check of the SVG we write).
fn check_svg_tags(s: &str) {
    let mut stack: Vec<&str> = Vec::new();
    let mut rest = s;
    while let Some(i) = rest.find('<') {
        rest = &rest[i + 1..];
        let end = rest.find('>').expect("unclosed tag");
        let tag = &rest[..end];
        if let Some(name) = tag.strip_prefix('/') {
            assert_eq!(stack.pop(), Some(name), "mismatched </{name}>");
        } else if !tag.ends_with('/') {
            let name = tag.split([' ', '\n']).next().unwrap();
            stack.push(name);
        }
        assert!(!tag.contains('<'), "stray < in {tag}");
        rest = &rest[end + 1..];
    }
    assert!(stack.is_empty(), "unclosed: {stack:?}");
}

/// Numbers of an attribute, e.g. every `x="..."`.
fn attr_values(s: &str, attr: &str) -> Vec<f64> {
    s.match_indices(&format!(" {attr}=\""))
        .map(|(i, m)| {
            let v = &s[i + m.len()..];
            v[..v.find('"').unwrap()].parse().unwrap()
        })
        .collect()
}

/// Checks the picture's geometry: everything inside the canvas, nodes of a row apart.
fn check_svg_geometry(s: &str) {
    let header = &s[..s.find('>').unwrap()];
    let width = attr_values(header, "width")[0];
    let height = attr_values(header, "height")[0];
    assert!(width >= 400.0 && height >= 150.0, "{width} x {height}");
    for attr in ["x", "cx", "x1", "x2"] {
        for v in attr_values(s, attr) {
            assert!((0.0..=width).contains(&v), "{attr}={v} outside 0..{width}");
        }
    }
    for attr in ["y", "cy", "y1", "y2"] {
        for v in attr_values(s, attr) {
            assert!(
                (0.0..=height).contains(&v),
                "{attr}={v} outside 0..{height}"
            );
        }
    }
    // Node centres: the x and y of each node's first text; nodes in one row keep apart.
    let nodes = &s[s.find("<g id=\"nodes\"").unwrap()..s.find("<g id=\"legend\"").unwrap()];
    let centres: Vec<(f64, f64)> = nodes
        .split("<g id=\"node-")
        .skip(1)
        .map(|g| {
            let text = &g[g.find("<text").unwrap()..];
            (attr_values(text, "x")[0], attr_values(text, "y")[0])
        })
        .collect();
    for (i, a) in centres.iter().enumerate() {
        for b in &centres[i + 1..] {
            if a.1 == b.1 {
                assert!((a.0 - b.0).abs() >= 60.0, "nodes overlap: {a:?} {b:?}");
            } else {
                assert!((a.1 - b.1).abs() >= 60.0, "rows too close: {a:?} {b:?}");
            }
        }
    }
}

#[test]
fn formats_are_syntactically_sane() {
    let mut nets = all_examples();
    nets.push(generated(3, 4, 3));
    nets.push(generated(6, 12, 4));
    for t in &nets {
        for traffic in [None, Some(some_traffic(t))] {
            check_dot(&graph::dot(t, traffic.as_ref()));
            check_mermaid(
                &graph::mermaid(t, traffic.as_ref()),
                t.nodes.len(),
                t.links.len(),
            );
            let s = graph::svg(t, traffic.as_ref());
            assert!(s.starts_with("<svg xmlns=\"http://www.w3.org/2000/svg\""));
            check_svg_tags(&s);
            check_svg_geometry(&s);
        }
    }
}

#[test]
fn layers_put_hosts_on_top_and_the_core_below() {
    let t = example("campus");
    let s = graph::svg(&t, None);
    let y_of = |name: &str| {
        let g = &s[s.find(&format!("<g id=\"node-{name}\">")).unwrap()..];
        attr_values(&g[g.find("<text").unwrap()..], "y")[0]
    };
    assert!(y_of("h1") < y_of("e1") && y_of("e1") < y_of("c1"));
    assert_eq!(y_of("h1"), y_of("h8"));
    assert_eq!(y_of("c1"), y_of("c4"));
}

#[test]
fn a_thousand_nodes_render_quickly() {
    let t = generated(40, 160, 5);
    assert!(t.nodes.len() >= 1_000);
    let start = Instant::now();
    let s = graph::svg(&t, Some(&some_traffic(&t)));
    let took = start.elapsed();
    // Milliseconds in release; generous for unoptimised test builds on a shared machine.
    assert!(took.as_secs() < 20, "{took:?}");
    check_svg_tags(&s);
    check_svg_geometry(&s);
    assert_eq!(s.matches("<g id=\"node-").count(), t.nodes.len());
    let d = graph::dot(&t, None);
    check_dot(&d);
    check_mermaid(&graph::mermaid(&t, None), t.nodes.len(), t.links.len());
}

#[test]
fn formats_follow_file_extensions() {
    assert_eq!(Format::from_path(Path::new("a/b.svg")), Some(Format::Svg));
    assert_eq!(Format::from_path(Path::new("b.GV")), Some(Format::Dot));
    assert_eq!(Format::from_path(Path::new("b.mmd")), Some(Format::Mermaid));
    assert_eq!(Format::from_path(Path::new("b.png")), None);
    for f in [Format::Dot, Format::Svg, Format::Mermaid] {
        assert_eq!(
            Format::from_path(Path::new(&format!("x.{}", f.extension()))),
            Some(f)
        );
    }
}
