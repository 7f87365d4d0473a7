//! Topology files: the examples, every class of error with its line, defaults, units, and
//! that no text makes the reader panic.

use std::net::Ipv4Addr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use ants_topology::file::{self, FileError};
use ants_topology::model::{AppSpec, Target};
use ants_topology::{NodeKind, Routes, Topology, TopologyError};
use proptest::prelude::*;

fn examples() -> Vec<PathBuf> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("examples");
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "toml"))
        .collect();
    files.sort();
    files
}

fn example(name: &str) -> Topology {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("examples")
        .join(format!("{name}.toml"));
    file::load(&path).unwrap_or_else(|e| panic!("{e}"))
}

fn parse(text: &str) -> Result<Topology, FileError> {
    file::parse(text, Path::new("net.toml"))
}

fn err(text: &str) -> FileError {
    match parse(text) {
        Ok(_) => panic!("accepted:\n{text}"),
        Err(e) => e,
    }
}

/// The line an error points at.
fn line(e: &FileError) -> usize {
    e.location()
        .unwrap_or_else(|| panic!("no location: {e}"))
        .line
}

/// Two nodes and a link, lines 1 to 10; text appended starts at line 11.
const BASE: &str = r#"[[node]]
name = "h1"
kind = "host"

[[node]]
name = "a1"
kind = "active"

[[link]]
ends = ["h1", "a1"]
"#;

fn with(extra: &str) -> String {
    format!("{BASE}{extra}")
}

#[test]
fn every_example_parses_and_routes() {
    let files = examples();
    assert!(files.len() >= 3, "{files:?}");
    for path in files {
        let t = file::load(&path).unwrap_or_else(|e| panic!("{e}"));
        let r = Routes::compute(&t);
        let core: Vec<usize> = (0..t.nodes.len())
            .filter(|&n| t.nodes[n].kind.runs_node_core())
            .collect();
        for &a in &core {
            assert!(!r.active_neighbours(a).is_empty(), "{}", path.display());
            for &b in &core {
                if a != b {
                    assert!(
                        r.next_active_hop(a, b).is_some(),
                        "{}: no overlay route {} -> {}",
                        path.display(),
                        t.nodes[a].name,
                        t.nodes[b].name
                    );
                }
            }
        }
        // The example files name their schema for editors, then say what they show.
        let text = std::fs::read_to_string(&path).unwrap();
        let described = text.strip_prefix("#:schema ../schema.json\n");
        assert!(
            described.is_some_and(|t| t.starts_with("# ")),
            "{}",
            path.display()
        );
    }
}

#[test]
fn line_example_crosses_active_and_legacy_nodes() {
    let t = example("line");
    assert_eq!(t.name, "line");
    assert_eq!(t.seed, 7);
    let names: Vec<&str> = t.nodes.iter().map(|n| n.name.as_str()).collect();
    assert_eq!(names, ["h1", "a1", "l1", "l2", "a2", "h2"]);
    let kinds: Vec<NodeKind> = t.nodes.iter().map(|n| n.kind).collect();
    use NodeKind::*;
    assert_eq!(kinds, [Host, Active, Legacy, Legacy, Active, Host]);
    let r = Routes::compute(&t);
    assert_eq!(r.ip_path(0, 5), vec![0, 1, 2, 3, 4, 5]);
    assert_eq!(
        r.next_active_hop(1, 5),
        Some(4),
        "a1 skips the legacy routers"
    );
    assert_eq!(
        t.apps,
        vec![AppSpec::Ping {
            node: 0,
            to: 5,
            count: 3,
            interval: Duration::from_millis(500),
            start: Duration::ZERO,
        }]
    );
    assert_eq!(t.emulator.duration, Some(Duration::from_secs(5)));
    // Defaults and overrides.
    assert_eq!(t.links[0].params.delay, Duration::from_millis(1));
    assert_eq!(t.links[1].params.delay, Duration::from_millis(2));
    assert_eq!(t.links[2].params.delay, Duration::from_millis(5));
    assert!(
        t.links
            .iter()
            .all(|l| l.params.bandwidth_bps == Some(10_000_000))
    );
}

#[test]
fn campus_example_has_groups_and_pools() {
    let t = example("campus");
    assert_eq!(t.nodes_of(NodeKind::Legacy).count(), 4);
    assert_eq!(t.nodes_of(NodeKind::Active).count(), 4);
    assert_eq!(t.nodes_of(NodeKind::Host).count(), 8);
    let members: Vec<&str> = t.groups["members"]
        .iter()
        .map(|&n| t.nodes[n].name.as_str())
        .collect();
    assert_eq!(members, ["h3", "h5", "h7", "h8"]);
    assert!(
        t.nodes
            .iter()
            .all(|n| n.address.octets()[..3] == [10, 10, 0])
    );
    assert_eq!(t.links[0].a_addr, Ipv4Addr::new(10, 11, 0, 1));
    assert!(t.apps.iter().any(|a| matches!(
        a,
        AppSpec::Send { to: Target::Group(g), protocol, count: 5, .. } if g == "members" && protocol == "forward"
    )));
    assert!(t.apps.iter().any(|a| matches!(a, AppSpec::Ping { .. })));
    // Every host reaches every other across the legacy core, through the edges only.
    let r = Routes::compute(&t);
    let h1 = t.node_id("h1").unwrap();
    let h7 = t.node_id("h7").unwrap();
    let e1 = t.node_id("e1").unwrap();
    let e4 = t.node_id("e4").unwrap();
    assert_eq!(r.next_active_hop(h1, h7), Some(e1));
    assert_eq!(r.next_active_hop(e1, h7), Some(e4));
}

#[test]
fn bottleneck_example_has_one_slow_link() {
    let t = example("bottleneck");
    let l1 = t.node_id("l1").unwrap();
    let l2 = t.node_id("l2").unwrap();
    let slow = t.link_between(l1, l2).unwrap();
    let p = t.links[slow].params;
    assert_eq!(p.bandwidth_bps, Some(100_000));
    assert_eq!(p.queue, 8);
    for (i, l) in t.links.iter().enumerate() {
        if i != slow {
            assert_eq!(l.params.bandwidth_bps, Some(10_000_000));
            assert_eq!(l.params.queue, 64);
        }
    }
    // Two floods from 3 s on, after one warm-up capsule per sender.
    let floods: Vec<u32> = t
        .apps
        .iter()
        .filter_map(|a| match a {
            AppSpec::Send { count, start, .. } if *start == Duration::from_secs(3) => Some(*count),
            _ => None,
        })
        .collect();
    assert_eq!(floods, [150, 170]);
    // Both senders' paths share the slow link.
    let r = Routes::compute(&t);
    let r1 = t.node_id("r1").unwrap();
    for s in ["s1", "s2"] {
        let path = r.ip_path(t.node_id(s).unwrap(), r1);
        assert!(path.windows(2).any(|w| w == [l1, l2]), "{s}: {path:?}");
    }
}

#[test]
fn defaults_apply_and_links_override_them() {
    let t = parse(&with(
        r#"
[[node]]
name = "a2"
kind = "active"

[[link]]
ends = ["a1", "a2"]
delay = "250us"
loss = 0.5

[defaults.link]
delay = "3ms"
bandwidth = "1Gbit"
loss = "2.5%"
"#,
    ))
    .unwrap();
    let (d, o) = (&t.links[0], &t.links[1]);
    assert_eq!(d.params.delay, Duration::from_millis(3));
    assert_eq!(d.params.bandwidth_bps, Some(1_000_000_000));
    assert!((d.params.loss - 0.025).abs() < 1e-12);
    assert_eq!(d.params.queue, 64);
    assert!(d.explicit.delay && d.explicit.bandwidth && d.explicit.loss && !d.explicit.queue);
    assert_eq!(o.params.delay, Duration::from_micros(250));
    assert_eq!(o.params.loss, 0.5);
    assert_eq!(o.params.bandwidth_bps, Some(1_000_000_000));

    // Without any option set, nothing is explicit and the model's defaults hold.
    let t = parse(BASE).unwrap();
    assert_eq!(t.name, "net", "named after the file");
    assert_eq!(t.seed, 1);
    assert_eq!(
        t.links[0].params,
        ants_topology::model::LinkParams::default()
    );
    assert_eq!(t.links[0].explicit, Default::default());
    assert_eq!(t.emulator, Default::default());
}

#[test]
fn application_defaults_and_payloads() {
    let t = parse(&with(
        r#"
[[app]]
kind = "send"
node = "h1"
to = "a1"
protocol = "caps/my.wasm"
payload_hex = "00 ff 10"

[[app]]
kind = "ping"
node = "a1"
to = "h1"

[[app]]
kind = "listen"
node = "h1"
port = 9
"#,
    ))
    .unwrap();
    assert_eq!(
        t.apps[0],
        AppSpec::Send {
            node: 0,
            protocol: "caps/my.wasm".into(),
            to: Target::Node(1),
            count: 1,
            interval: Duration::from_secs(1),
            start: Duration::ZERO,
            budget: 16,
            payload: vec![0, 0xff, 0x10],
        }
    );
    assert!(matches!(
        t.apps[1],
        AppSpec::Ping {
            node: 1,
            to: 0,
            count: 1,
            ..
        }
    ));
    assert_eq!(t.apps[2], AppSpec::Listen { node: 0, port: 9 });
}

#[test]
fn units_parse() {
    use file::{parse_bandwidth, parse_duration, parse_loss};
    assert_eq!(parse_duration("1.5s"), Ok(Duration::from_millis(1500)));
    assert_eq!(parse_duration("250us"), Ok(Duration::from_micros(250)));
    assert_eq!(parse_duration("250 µs"), Ok(Duration::from_micros(250)));
    assert_eq!(parse_duration("2ms"), Ok(Duration::from_millis(2)));
    assert_eq!(parse_duration("7ns"), Ok(Duration::from_nanos(7)));
    assert_eq!(parse_duration("2min"), Ok(Duration::from_secs(120)));
    assert_eq!(parse_duration("0s"), Ok(Duration::ZERO));
    assert_eq!(parse_bandwidth("1Gbit"), Ok(1_000_000_000));
    assert_eq!(parse_bandwidth("10Mbit"), Ok(10_000_000));
    assert_eq!(parse_bandwidth("100kbit"), Ok(100_000));
    assert_eq!(parse_bandwidth("1.5 Mbit/s"), Ok(1_500_000));
    assert_eq!(parse_bandwidth("10mbps"), Ok(10_000_000));
    assert_eq!(parse_bandwidth("64000bit"), Ok(64_000));
    assert!((parse_loss("2.5%").unwrap() - 0.025).abs() < 1e-12);
    assert_eq!(parse_loss("0%"), Ok(0.0));
    assert_eq!(parse_loss("100 %"), Ok(1.0));

    for bad in [
        "",
        "2",
        "ms",
        "2 parsecs",
        "-1s",
        "1.5ns",
        "1e3ms",
        "99999999999999999999s",
    ] {
        assert!(parse_duration(bad).is_err(), "{bad:?}");
    }
    for bad in [
        "10",
        "10MB",
        "10 MBps",
        "1.5bit",
        "0kbit",
        "fast",
        "10 Mbyte/s",
    ] {
        assert!(parse_bandwidth(bad).is_err(), "{bad:?}");
    }
    for bad in ["1", "0.01", "101%", "x%", "-1%"] {
        assert!(parse_loss(bad).is_err(), "{bad:?}");
    }
    let e = parse_bandwidth("10MB").unwrap_err().to_string();
    assert!(e.contains("bits, not bytes"), "{e}");
    let e = parse_duration("2").unwrap_err().to_string();
    assert!(e.contains("no unit") && e.contains("\"2ms\""), "{e}");
}

#[test]
fn unknown_node_in_a_link_names_the_end() {
    let e = err(&with("\n[[link]]\nends = [\"h1\", \"r9\"]\n"));
    assert_eq!(
        e.to_string(),
        "net.toml:13:15: link h1 -- r9: names node `r9`, which is not defined"
    );
    assert!(matches!(
        e.topology_error(),
        Some(TopologyError::UnknownNode { .. })
    ));
}

#[test]
fn unknown_fields_and_wrong_types() {
    let e = err(&with(
        "\n[[node]]\nname = \"x1\"\nkind = \"host\"\nbogus = 1\n",
    ));
    assert_eq!(line(&e), 15);
    assert!(
        e.message()
            .starts_with("node x1: `bogus`: unknown field `bogus`, expected one of"),
        "{e}"
    );

    let e = err(&with("\n[[node]]\nname = \"x1\"\nkind = 5\n"));
    assert_eq!(line(&e), 14);
    assert!(
        e.message()
            .starts_with("node x1: `kind`: invalid type: integer `5`"),
        "{e}"
    );

    let e = err(&with("\n[[node]]\nname = \"x1\"\n"));
    assert_eq!(line(&e), 12, "a missing field points at its entry");
    assert!(e.message().contains("missing field `kind`"), "{e}");

    let e = err(&format!("speed = 3\n{BASE}"));
    assert_eq!(e.to_string().split(": ").nth(1), Some("`speed`"));
    assert_eq!(line(&e), 1);

    let e = err(&with("\n[emulator]\nduraton = \"1s\"\n"));
    assert_eq!(line(&e), 13);
    assert!(
        e.message().starts_with("`emulator.duraton`: unknown field"),
        "{e}"
    );

    let e = err("[node]\nname = \"h1\"\nkind = \"host\"\n");
    assert!(
        e.message().contains("[[node]]"),
        "hint at the array syntax: {e}"
    );

    let e = err(&with("\n[[node]]\nname = \"x1\"\nkind = \"router\"\n"));
    assert_eq!(
        e.to_string(),
        "net.toml:14:8: node x1: `kind`: `router` is not a kind of node: use host, active or legacy"
    );

    let e = err("[[node]\nname = 1");
    assert_eq!(line(&e), 1, "TOML syntax errors are located too: {e}");
}

#[test]
fn bad_values_point_at_the_value() {
    let link = |opt: &str| {
        with(&format!(
            "\n[[node]]\nname = \"a2\"\nkind = \"active\"\n\n[[link]]\nends = [\"a1\", \"a2\"]\n{opt}\n"
        ))
    };
    // The option is on line 18.
    for (opt, field, words) in [
        ("delay = \"2 parsecs\"", "delay", "not a unit of time"),
        ("delay = 5", "delay", "no unit"),
        ("delay = \"61s\"", "delay", "longer than"),
        ("bandwidth = \"10MB\"", "bandwidth", "not bytes"),
        ("bandwidth = 0", "bandwidth", "more than 0"),
        ("loss = \"150%\"", "loss", "between 0 % and 100 %"),
        ("loss = 1.5", "loss", "not a probability"),
        ("queue = 0", "queue", "out of range"),
        ("queue = \"big\"", "queue", "whole number"),
    ] {
        let e = err(&link(opt));
        assert_eq!(line(&e), 18, "{opt}: {e}");
        assert!(
            e.message()
                .starts_with(&format!("link a1 -- a2: `{field}`: ")),
            "{opt}: {e}"
        );
        assert!(e.message().contains(words), "{opt}: {e}");
    }

    let e = err(&with("\n[defaults.link]\nloss = \"x%\"\n"));
    assert_eq!(line(&e), 13);
    assert!(e.message().starts_with("`defaults.link.loss`: "), "{e}");

    let e = err(&format!(
        "{BASE}\n[[node]]\nname = \"x1\"\nkind = \"host\"\naddress = \"10.0.0.300\"\n"
    ));
    assert_eq!(
        e.to_string(),
        "net.toml:15:11: node x1: `address`: \"10.0.0.300\" is not an IPv4 address"
    );

    let e = err(&format!("[addressing]\nnodes = \"10.0.0.1/16\"\n{BASE}"));
    assert_eq!(line(&e), 2);
    assert!(e.message().contains("did you mean \"10.0.0.0/16\""), "{e}");
    let e = err(&format!("[addressing]\nlinks = \"10.1.0.0\"\n{BASE}"));
    assert!(e.message().starts_with("`addressing.links`: "), "{e}");

    let e = err(&format!("seed = -1\n{BASE}"));
    assert_eq!(line(&e), 1);
    assert!(e.message().starts_with("`seed`: "), "{e}");

    let e = err(&format!("[emulator]\nduration = \"0s\"\n{BASE}"));
    assert_eq!(line(&e), 2);

    for budget in ["0", "65536", "\"many\""] {
        let e = err(&format!("[emulator]\nmax_budget = {budget}\n{BASE}"));
        assert_eq!(line(&e), 2, "{e}");
        assert!(e.message().starts_with("`emulator.max_budget`: "), "{e}");
    }
    let t = parse(&format!("[emulator]\nmax_budget = 4096\n{BASE}")).unwrap();
    assert_eq!(t.emulator.max_budget, Some(4096));
}

#[test]
fn link_ends_must_be_two() {
    for ends in ["[\"h1\"]", "[\"h1\", \"a1\", \"h1\"]", "[]"] {
        let e = err(&with(&format!("\n[[link]]\nends = {ends}\n")));
        assert_eq!(line(&e), 13, "{e}");
        assert!(
            e.message()
                .starts_with("link[1]: `ends`: a link needs exactly two node names"),
            "{e}"
        );
    }
}

#[test]
fn network_errors_point_at_the_entry() {
    // A second node of the same name: its name, and where the first one is.
    let e = err(&with("\n[[node]]\nname = \"h1\"\nkind = \"host\"\n"));
    assert_eq!(
        e.to_string(),
        "net.toml:13:8: node h1: the name is already used by the node at line 1; node names must be unique"
    );

    let e = err(&with("\n[[link]]\nends = [\"a1\", \"h1\"]\n"));
    assert_eq!(line(&e), 13);
    assert!(
        e.message().contains("already linked at line 9"),
        "reversed pairs are the same pair: {e}"
    );

    let e = err(&with("\n[[link]]\nends = [\"a1\", \"a1\"]\n"));
    assert_eq!(
        e.to_string(),
        "net.toml:13:8: link a1 -- a1: connects the node to itself"
    );

    let e = err(&with("\n[[node]]\nname = \"lonely\"\nkind = \"legacy\"\n"));
    assert_eq!(
        e.to_string(),
        "net.toml:12:1: node lonely: cannot be reached from h1; the network must be connected (add a [[link]])"
    );

    let e = err(&with("\n[[node]]\nname = \"9x\"\nkind = \"legacy\"\n"));
    assert_eq!(line(&e), 13);
    assert!(e.message().contains("not allowed"), "{e}");

    let text = format!(
        "{BASE}\n[[node]]\nname = \"x1\"\nkind = \"host\"\naddress = \"10.0.0.1\"\n\n[[link]]\nends = [\"x1\", \"a1\"]\n"
    );
    // x1 takes 10.0.0.1 explicitly; the others are assigned around it.
    let t = parse(&text).unwrap();
    assert_eq!(t.nodes[2].address, Ipv4Addr::new(10, 0, 0, 1));
    assert_eq!(t.nodes[0].address, Ipv4Addr::new(10, 0, 0, 2));
    let clash = text.replace(
        "[[link]]\nends = [\"x1\"",
        "[[node]]\nname = \"x2\"\nkind = \"host\"\naddress = \"10.0.0.1\"\n\n[[link]]\nends = [\"x2\", \"x1\"]\n\n[[link]]\nends = [\"x1\"",
    );
    let e = err(&clash);
    assert_eq!(line(&e), 20, "{e}");
    assert!(
        e.message()
            .starts_with("node x2: address 10.0.0.1 is already used by node `x1`"),
        "{e}"
    );

    let e = err(&with(
        "\n[[node]]\nname = \"x1\"\nkind = \"host\"\naddress = \"224.0.0.1\"\n\n[[link]]\nends = [\"x1\", \"a1\"]\n",
    ));
    assert_eq!(line(&e), 15);
    assert!(e.message().contains("multicast"), "{e}");

    let e = err(&format!(
        "[addressing]\nnodes = \"10.0.0.0/8\"\nlinks = \"10.1.0.0/16\"\n{BASE}"
    ));
    assert_eq!(line(&e), 3);
    assert!(e.message().contains("overlap"), "{e}");

    let e = err(&format!("[addressing]\nlinks = \"10.1.0.0/32\"\n{BASE}"));
    assert_eq!(line(&e), 2);
    assert!(e.message().contains("too small"), "{e}");

    let e = err("name = \"empty\"\n");
    assert_eq!(e.location(), None);
    assert_eq!(
        e.to_string(),
        "net.toml: the topology has no nodes: add a [[node]] table for each node"
    );
}

#[test]
fn group_errors() {
    let e = err(&with("\n[groups]\nmembers = [\"h1\", \"h7\"]\n"));
    assert_eq!(
        e.to_string(),
        "net.toml:13:18: group members: names node `h7`, which is not defined"
    );

    let e = err(&with("\n[groups]\na1 = [\"h1\"]\n"));
    assert_eq!(line(&e), 13);
    assert!(e.message().contains("also the name of a node"), "{e}");

    let e = err(&format!(
        "[[node]]\nname = \"h1\"\nkind = \"host\"\ngroups = [\"a1\"]\n{}",
        &BASE[BASE.find("\n[[node]]\nname = \"a1\"").unwrap()..]
    ));
    assert_eq!(line(&e), 4);
    assert!(e.message().starts_with("node h1: `groups`: "), "{e}");
}

#[test]
fn application_errors() {
    let legacy =
        "\n[[node]]\nname = \"l1\"\nkind = \"legacy\"\n\n[[link]]\nends = [\"a1\", \"l1\"]\n";
    // The [[app]] header is line 19.
    let app = |body: &str| with(&format!("{legacy}\n[[app]]\n{body}\n"));

    let e = err(&app("kind = \"ping\"\nnode = \"l1\"\nto = \"h1\""));
    assert_eq!(
        e.to_string(),
        "net.toml:21:8: app[0] (ping on l1): runs on `l1`, a legacy router; applications need a host or active node"
    );

    let e = err(&app("kind = \"ping\"\nnode = \"h1\"\nto = \"l1\""));
    assert_eq!(line(&e), 22);
    assert!(e.message().contains("legacy router `l1`"), "{e}");

    let e = err(&app(
        "kind = \"send\"\nnode = \"h1\"\nto = \"nobody\"\nprotocol = \"forward\"",
    ));
    assert_eq!(
        e.to_string(),
        "net.toml:22:6: app[0] (send on h1): `to` names `nobody`, which is neither a node nor a group"
    );

    let e = err(&app("kind = \"ping\"\nnode = \"h9\"\nto = \"h1\""));
    assert_eq!(line(&e), 21);
    assert!(e.message().contains("`node` names `h9`"), "{e}");

    let e = err(&app("kind = \"listen\"\nnode = \"h1\""));
    assert_eq!(line(&e), 19, "a missing field points at the entry");
    assert!(e.message().contains("`port` is missing"), "{e}");

    let e = err(&app("kind = \"send\"\nnode = \"h1\"\nto = \"a1\""));
    assert!(e.message().contains("`protocol` is missing"), "{e}");

    let e = err(&app(
        "kind = \"ping\"\nnode = \"h1\"\nto = \"a1\"\nport = 3",
    ));
    assert_eq!(line(&e), 23);
    assert!(
        e.message()
            .starts_with("app[0] (ping on h1): `port`: does not apply to a ping application"),
        "{e}"
    );

    let e = err(&app(
        "kind = \"send\"\nnode = \"h1\"\nto = \"a1\"\nprotocol = \"forward\"\npayload = \"x\"\npayload_hex = \"00\"",
    ));
    assert_eq!(line(&e), 25);

    let e = err(&app(
        "kind = \"send\"\nnode = \"h1\"\nto = \"a1\"\nprotocol = \"forward\"\npayload_hex = \"0g\"",
    ));
    assert_eq!(line(&e), 24);
    assert!(e.message().contains("hexadecimal"), "{e}");

    let e = err(&app(
        "kind = \"send\"\nnode = \"h1\"\nto = \"a1\"\nprotocol = \"forward\"\nbudget = 0",
    ));
    assert_eq!(line(&e), 24);

    let e = err(&app(
        "kind = \"ping\"\nnode = \"h1\"\nto = \"a1\"\ncount = 0",
    ));
    assert!(
        e.message().starts_with("app[0] (ping on h1): `count`: "),
        "{e}"
    );

    let e = err(&app(
        "kind = \"ping\"\nnode = \"h1\"\nto = \"a1\"\ninterval = 100",
    ));
    assert!(e.message().contains("no unit"), "{e}");

    let e = err(&app("kind = \"multicast\"\nnode = \"h1\""));
    assert_eq!(line(&e), 20);
    assert!(e.message().contains("use ping, send or listen"), "{e}");

    // A ping goes to one node, not a group.
    let e = err(&with(
        "\n[groups]\ng = [\"a1\"]\n\n[[app]]\nkind = \"ping\"\nnode = \"h1\"\nto = \"g\"\n",
    ));
    assert_eq!(line(&e), 18);
    assert!(e.message().contains("is a group"), "{e}");

    // A group with only legacy members cannot receive.
    let e = err(&with(&format!(
        "{legacy}\n[groups]\ng = [\"l1\"]\n\n[[app]]\nkind = \"send\"\nnode = \"h1\"\nto = \"g\"\nprotocol = \"forward\"\n"
    )));
    assert_eq!(line(&e), 25);
    assert!(e.message().contains("no host or active member"), "{e}");
}

#[test]
fn load_names_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("mynet.toml");
    std::fs::write(&path, BASE).unwrap();
    let t = file::load(&path).unwrap();
    assert_eq!(t.name, "mynet");
    let missing = dir.path().join("nope.toml");
    let e = file::load(&missing).unwrap_err();
    assert_eq!(e.path(), missing);
    assert!(
        e.to_string().contains("cannot read the topology file"),
        "{e}"
    );
}

/// Replaces, inserts or deletes a few pieces of `text` at char boundaries.
fn mutate(text: &str, edits: &[(prop::sample::Index, usize, String)]) -> String {
    let mut s = text.to_string();
    for (at, len, with) in edits {
        let mut start = at.index(s.len() + 1);
        while !s.is_char_boundary(start) {
            start -= 1;
        }
        let mut end = (start + len).min(s.len());
        while !s.is_char_boundary(end) {
            end += 1;
        }
        s.replace_range(start..end, with);
    }
    s
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn parse_never_panics_on_any_text(text in "\\PC{0,400}") {
        let _ = parse(&text);
    }

    #[test]
    fn parse_never_panics_on_mutated_examples(
        which in 0usize..64,
        edits in prop::collection::vec(
            (any::<prop::sample::Index>(), 0usize..12, "[a-z0-9\\[\\]\"=.,% \\n#_-]{0,8}"),
            1..6,
        ),
    ) {
        let files = examples();
        let text = std::fs::read_to_string(&files[which % files.len()]).unwrap();
        let mutated = mutate(&text, &edits);
        match parse(&mutated) {
            Ok(t) => { let _ = Routes::compute(&t); }
            // Every error names the file.
            Err(e) => prop_assert!(e.to_string().starts_with("net.toml")),
        }
    }
}
