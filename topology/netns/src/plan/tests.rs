use super::*;
use ants_daemon::config::Config;
use ants_topology::model::{Impairments, LinkOptionsSet, LinkParams, TopologyBuilder};

/// h1 - a1 - l1 - l2 - a2 - h2 with a side branch l1 - l3 - a3.
fn topology() -> Topology {
    let mut b = TopologyBuilder::new("line");
    b.node("h1", NodeKind::Host, None)
        .node("a1", NodeKind::Active, None)
        .node("l1", NodeKind::Legacy, None)
        .node("l2", NodeKind::Legacy, None)
        .node("a2", NodeKind::Active, None)
        .node("h2", NodeKind::Host, None)
        .node("l3", NodeKind::Legacy, None)
        .node("a3", NodeKind::Active, None)
        .link("h1", "a1")
        .link("a1", "l1");
    let slow = LinkParams {
        delay: Duration::from_millis(5),
        loss: 0.02,
        bandwidth_bps: Some(10_000_000),
        queue: 16,
        impairments: Impairments {
            jitter: Duration::from_millis(2),
            ..Impairments::default()
        },
    };
    let all = LinkOptionsSet {
        delay: true,
        loss: true,
        bandwidth: true,
        queue: true,
        impairments: true,
    };
    b.link_with("l1", "l2", slow, all)
        .link("l2", "a2")
        .link("a2", "h2")
        .link("l1", "l3");
    let queue_only = LinkOptionsSet {
        queue: true,
        ..LinkOptionsSet::default()
    };
    b.link_with("l3", "a3", LinkParams::default(), queue_only);
    b.build().unwrap()
}

fn plan() -> (Topology, Routes, Plan) {
    let t = topology();
    let r = Routes::compute(&t);
    let p = Plan::new(&t, &r, "ants-line", Path::new("/run/ants-topo/ants-line")).unwrap();
    (t, r, p)
}

#[test]
fn namespaces_interfaces_and_addresses() {
    let (t, _, p) = plan();
    assert_eq!(p.nodes.len(), t.nodes.len());
    assert_eq!(p.nodes[2].namespace, "ants-line-l1");
    // l1 has three links: to a1, l2, l3 in link order.
    let names: Vec<&str> = p.nodes[2]
        .interfaces
        .iter()
        .map(|i| i.name.as_str())
        .collect();
    assert_eq!(names, ["eth0", "eth1", "eth2"]);
    for n in &p.nodes {
        for i in &n.interfaces {
            assert!(i.name.len() <= MAX_IFNAME, "{}", i.name);
            let link = &t.links[i.link];
            assert_eq!(i.address, link.addr_of(n.node));
            assert_eq!(i.peer_address, link.addr_of(i.peer));
            assert_eq!(i.prefix_len, 30);
        }
        assert!(
            n.namespace.starts_with("ants-line-") && n.namespace.ends_with(&n.name),
            "{}",
            n.namespace
        );
    }
    // Each link's two ends are the interfaces the nodes list for it.
    for l in &p.links {
        let link = &t.links[l.link];
        let end = |node: NodeId, (ns, ifname): &(String, String)| {
            assert_eq!(ns, &p.nodes[node].namespace);
            assert!(
                p.nodes[node]
                    .interfaces
                    .iter()
                    .any(|i| &i.name == ifname && i.link == l.link)
            );
        };
        end(link.a, &l.a);
        end(link.b, &l.b);
    }
    assert_eq!(
        p.links[0].veth_command().join(" "),
        "link add eth0 netns ants-line-h1 type veth peer name eth0 netns ants-line-a1"
    );
    let batch = p.nodes[0].address_batch();
    assert_eq!(
        batch,
        [
            "link set dev lo up",
            "address add 10.0.0.1/32 dev lo",
            "address add 10.1.0.1/30 dev eth0",
            "link set dev eth0 up",
        ]
    );
}

#[test]
fn kernel_routes_reach_every_node_along_the_ip_shortest_path() {
    let (t, r, p) = plan();
    for n in &p.nodes {
        assert_eq!(n.routes.len(), t.nodes.len() - 1, "node {}", n.name);
        for route in &n.routes {
            let dest = t.node_by_address(route.destination).unwrap();
            assert_ne!(dest, n.node);
            let next = r.ip_next_hop(n.node, dest).unwrap();
            let link = t.link_between(n.node, next).unwrap();
            assert_eq!(route.via, t.links[link].addr_of(next));
            let iface = n.interfaces.iter().find(|i| i.name == route.dev).unwrap();
            assert_eq!(iface.link, link);
            assert_eq!(route.src, n.address);
        }
    }
    // Following the kernel routes hop by hop from h1 reaches h2 on the shortest path.
    let h2 = t.node_id("h2").unwrap();
    let mut at = t.node_id("h1").unwrap();
    let mut walked = vec![at];
    while at != h2 {
        let route = p.nodes[at]
            .routes
            .iter()
            .find(|x| x.destination == t.nodes[h2].address)
            .unwrap();
        at = p.nodes[at]
            .interfaces
            .iter()
            .find(|i| i.name == route.dev)
            .unwrap()
            .peer;
        walked.push(at);
        assert!(walked.len() <= t.nodes.len());
    }
    assert_eq!(walked, r.ip_path(t.node_id("h1").unwrap(), h2));
    assert_eq!(
        p.nodes[0].route_batch()[0],
        "route add 10.0.0.2/32 via 10.1.0.2 dev eth0 src 10.0.0.1"
    );
}

#[test]
fn routers_forward_and_node_core_nodes_get_daemons() {
    let (_, _, p) = plan();
    for n in &p.nodes {
        assert_eq!(n.ip_forward, n.kind != NodeKind::Host, "{}", n.name);
        assert_eq!(n.daemon.is_some(), n.kind.runs_node_core(), "{}", n.name);
    }
    assert_eq!(p.daemons().count(), 5);
    let d = p.nodes[1].daemon.as_ref().unwrap();
    assert_eq!(d.app_socket, Path::new("/run/ants-topo/ants-line/a1.sock"));
    assert_eq!(d.listen.to_string(), "10.0.0.2:3322");
}

#[test]
fn generated_configurations_parse_and_match_the_overlay() {
    let (t, r, p) = plan();
    for (n, d) in p.daemons() {
        let c = Config::parse(&d.config, &d.config_path)
            .unwrap_or_else(|e| panic!("{}: {e}\n{}", n.name, d.config));
        assert_eq!(c.address, IpAddr::V4(n.address));
        assert_eq!(c.listen, d.listen);
        assert_eq!(c.app_socket, d.app_socket);
        let expected = r.node_config(&t, n.node);
        let got: Vec<IpAddr> = c.neighbours.iter().map(|x| x.address).collect();
        assert_eq!(got, expected.neighbours, "{}", n.name);
        for nb in &c.neighbours {
            assert_eq!(nb.socket, SocketAddr::new(nb.address, DEFAULT_PORT));
        }
        assert_eq!(c.routes, expected.routes, "{}", n.name);
        // The node core accepts the table.
        ants_router::node::Node::new(c.node_config()).unwrap();
    }
    // a1's active neighbours are h1, a2 and a3 (through the legacy routers).
    let a1 = Config::parse(
        &p.nodes[1].daemon.as_ref().unwrap().config,
        Path::new("/x/a1.toml"),
    )
    .unwrap();
    let addr = |name: &str| IpAddr::V4(t.nodes[t.node_id(name).unwrap()].address);
    let got: Vec<IpAddr> = a1.neighbours.iter().map(|x| x.address).collect();
    assert_eq!(got, [addr("h1"), addr("a2"), addr("a3")]);
    // h1 has a default route via a1.
    let h1 = Config::parse(
        &p.nodes[0].daemon.as_ref().unwrap().config,
        Path::new("/x/h1.toml"),
    )
    .unwrap();
    assert!(h1.routes.iter().any(|r| r.len == 0));
}

#[test]
fn link_options_are_shaped_or_reported() {
    let (_, _, p) = plan();
    let slow = &p.links[2];
    assert_eq!(slow.label, "l1 -- l2");
    assert_eq!(
        slow.shaping,
        Some(Shaping {
            rate_bps: 10_000_000,
            queue: 16
        })
    );
    assert_eq!(
        slow.not_applied,
        [
            NotApplied::Delay(Duration::from_millis(5)),
            NotApplied::Loss(0.02),
            NotApplied::Impairments,
        ]
    );
    let [tbf, fifo] = slow.shaping.unwrap().tc_commands("eth1");
    assert_eq!(
        tbf.join(" "),
        "qdisc replace dev eth1 root handle 1: tbf rate 10000000bit burst 12500 limit 24224"
    );
    assert_eq!(
        fifo.join(" "),
        "qdisc replace dev eth1 parent 1:1 handle 10: pfifo limit 16"
    );
    // Default options (not written in the file) are not reported.
    assert!(p.links[0].not_applied.is_empty() && p.links[0].shaping.is_none());
    let notices = p.notices();
    assert_eq!(notices.len(), 4, "{notices:?}");
    assert!(notices[0].contains("delay") && notices[0].contains("l1 -- l2 (5ms)"));
    assert!(notices[1].contains("loss") && notices[1].contains("l1 -- l2 (2%)"));
    assert!(notices[2].contains("jitter") && notices[2].contains("l1 -- l2"));
    assert!(notices[3].contains("l3 -- a3 (64 datagrams)"));
    assert_eq!(
        Shaping {
            rate_bps: 100_000,
            queue: 1
        }
        .burst_bytes(),
        3028
    );
}

#[test]
fn prefixes_and_paths_are_checked() {
    assert_eq!(default_prefix("line"), "ants-line");
    check_prefix("ants-line").unwrap();
    check_prefix("antst123-x.y_z").unwrap();
    for bad in ["", "-x", "a/b", "a b", ".", "..", &"x".repeat(41)] {
        assert!(check_prefix(bad).is_err(), "{bad:?}");
    }
    let t = topology();
    let r = Routes::compute(&t);
    let e = Plan::new(&t, &r, "bad/prefix", Path::new("/run/x")).unwrap_err();
    assert!(e.to_string().contains("--prefix"), "{e}");
    let e = Plan::new(&t, &r, "ok", Path::new("relative")).unwrap_err();
    assert_eq!(e, PlanError::RelativeStateDir("relative".into()));
    let long = PathBuf::from("/").join("d".repeat(110));
    let e = Plan::new(&t, &r, "ok", &long).unwrap_err();
    assert!(matches!(e, PlanError::SocketPathTooLong { .. }), "{e}");
    assert_eq!(
        default_state_dir("ants-line"),
        Path::new("/run/ants-topo/ants-line")
    );
}

#[test]
fn a_bandwidth_leaving_a_daemon_is_its_neighbours_rate_and_queue() {
    // h1 - a1 =(400 kbit/s, 8)= l1 - a2 - h2: a1's daemon paces what it sends to a2 over the
    // slow link itself, so a capsule at a1 reads that queue; l1's end keeps the kernel's tbf.
    let mut b = TopologyBuilder::new("neck");
    b.node("h1", NodeKind::Host, None)
        .node("a1", NodeKind::Active, None)
        .node("l1", NodeKind::Legacy, None)
        .node("a2", NodeKind::Active, None)
        .node("h2", NodeKind::Host, None)
        .link("h1", "a1");
    let neck = LinkParams {
        bandwidth_bps: Some(400_000),
        queue: 8,
        ..LinkParams::default()
    };
    let set = LinkOptionsSet {
        bandwidth: true,
        queue: true,
        ..LinkOptionsSet::default()
    };
    b.link_with("a1", "l1", neck, set)
        .link("l1", "a2")
        .link("a2", "h2");
    let t = b.build().unwrap();
    let r = Routes::compute(&t);
    let p = Plan::new(&t, &r, "ants-neck", Path::new("/run/ants-topo/ants-neck")).unwrap();
    let (a1, a2) = (t.node_id("a1").unwrap(), t.node_id("a2").unwrap());
    let link = t.link_between(a1, t.node_id("l1").unwrap()).unwrap();
    assert_eq!(p.links[link].daemon_shaped, [true, false]);
    let shaping = LinkShaping {
        rate_bps: 400_000,
        queue: 8,
    };
    assert_eq!(daemon_shaping(&t, &r, a1), [(a2, link, shaping)]);
    // a2 sends toward a1 over l1's end, which is not slow: a2's daemon paces nothing.
    assert!(daemon_shaping(&t, &r, a2).is_empty());
    let path = Path::new("/x/a1.toml");
    let config = Config::parse(&p.nodes[a1].daemon.as_ref().unwrap().config, path).unwrap();
    let to_a2 = config
        .neighbours
        .iter()
        .find(|n| n.address == IpAddr::V4(t.nodes[a2].address))
        .unwrap();
    assert_eq!(to_a2.shaping, Some(shaping));
    assert!(
        config
            .neighbours
            .iter()
            .filter(|n| n.shaping.is_some())
            .count()
            == 1
    );
}
