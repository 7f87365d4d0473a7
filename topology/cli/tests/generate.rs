//! `ants topo generate`: the files it writes read back as the generators' networks.

use std::process::Command;

use ants_emulator::generate::{Campus, Hierarchy};
use ants_topology::file::parse;

fn generate(args: &[&str]) -> (bool, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_ants-topo"))
        .arg("generate")
        .args(args)
        .output()
        .unwrap();
    (
        out.status.success(),
        String::from_utf8(out.stdout).unwrap(),
        String::from_utf8(out.stderr).unwrap(),
    )
}

#[test]
fn a_generated_campus_and_hierarchy_read_back_as_built() {
    let (ok, text, err) = generate(&["campus", "--edges", "3", "--hosts", "2", "--core", "2"]);
    assert!(ok, "{err}");
    let t = parse(&text, std::path::Path::new("campus.toml")).unwrap();
    let built = Campus::new(3, 2, 2).build("campus", 1).build().unwrap();
    assert_eq!(t, built);
    assert!(
        text.starts_with("# Written by `ants topo generate`: campus"),
        "{text}"
    );

    let (ok, text, err) = generate(&[
        "hierarchy",
        "--core",
        "2",
        "--aggregations",
        "2",
        "--edges",
        "2",
        "--members",
        "3",
        "--others",
        "1",
        "--seed",
        "5",
        "--name",
        "h",
    ]);
    assert!(ok, "{err}");
    let t = parse(&text, std::path::Path::new("h.toml")).unwrap();
    let h = Hierarchy {
        core: 2,
        aggregations: 2,
        edges_per_aggregation: 2,
        members_per_edge: 3,
        others_per_edge: 1,
    };
    assert_eq!(t, h.build("h", 5).build().unwrap());
    assert_eq!(t.groups[Hierarchy::MEMBERS].len(), h.members());
}

#[test]
fn a_large_campus_gets_address_pools_that_hold_it() {
    // 20,004 nodes: more node addresses and link subnets than the default pools hold.
    let (ok, text, err) = generate(&["campus", "--edges", "625", "--hosts", "31", "--core", "4"]);
    assert!(ok, "{err}");
    let t = parse(&text, std::path::Path::new("big.toml")).unwrap();
    assert_eq!(t.nodes.len(), 4 + 625 * 32);
    assert_eq!(t.node_pool.to_string(), "10.0.0.0/11");
    assert_eq!(t.link_pool.to_string(), "10.64.0.0/10");
}

#[test]
fn bounds_are_refused_with_a_reason() {
    let (ok, _, err) = generate(&["campus", "--edges", "0", "--hosts", "2"]);
    assert!(!ok);
    assert!(err.contains("--edges 0"), "{err}");
    let (ok, _, err) = generate(&["campus", "--edges", "100000", "--hosts", "100"]);
    assert!(!ok);
    assert!(err.contains("at most 2000000 nodes"), "{err}");
}
