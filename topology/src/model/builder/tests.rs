//! Unit tests of the topology builder: address assignment, given addresses, errors that name
//! the culprit, and group resolution. Tests only.

use super::*;

fn line() -> TopologyBuilder {
    let mut b = TopologyBuilder::new("line");
    b.node("h1", NodeKind::Host, None)
        .node("r1", NodeKind::Active, None)
        .node("l1", NodeKind::Legacy, None)
        .node("r2", NodeKind::Active, None)
        .node("h2", NodeKind::Host, None)
        .link("h1", "r1")
        .link("r1", "l1")
        .link("l1", "r2")
        .link("r2", "h2");
    b
}

#[test]
fn addresses_are_assigned_in_node_order_and_links_get_a_slash_30() {
    let t = line().build().unwrap();
    assert_eq!(t.nodes[0].address, Ipv4Addr::new(10, 0, 0, 1));
    assert_eq!(t.nodes[4].address, Ipv4Addr::new(10, 0, 0, 5));
    assert_eq!(t.links[1].a_addr, Ipv4Addr::new(10, 1, 0, 5));
    assert_eq!(t.links[1].b_addr, Ipv4Addr::new(10, 1, 0, 6));
    assert_eq!(t.node_id("l1"), Some(2));
    assert_eq!(t.node_by_address(Ipv4Addr::new(10, 0, 0, 3)), Some(2));
    assert_eq!(t.link_between(2, 3), Some(2));
    assert_eq!(t.neighbours(2).collect::<Vec<_>>(), vec![(1, 1), (2, 3)]);
}

#[test]
fn given_addresses_are_kept_and_skipped_by_the_pool() {
    let mut b = line();
    b.nodes[1].address = Some(Ipv4Addr::new(10, 0, 0, 2));
    b.nodes[0].address = None;
    b.nodes[2].address = Some(Ipv4Addr::new(10, 0, 0, 1));
    let t = b.build().unwrap();
    assert_eq!(t.nodes[2].address, Ipv4Addr::new(10, 0, 0, 1));
    assert_eq!(t.nodes[1].address, Ipv4Addr::new(10, 0, 0, 2));
    assert_eq!(t.nodes[0].address, Ipv4Addr::new(10, 0, 0, 3));
}

#[test]
fn errors_name_the_culprit() {
    let mut b = line();
    b.node("r1", NodeKind::Active, None);
    assert_eq!(
        b.build().unwrap_err(),
        TopologyError::DuplicateNode("r1".into())
    );

    let mut b = line();
    b.link("h1", "r9");
    let e = b.build().unwrap_err();
    assert_eq!(
        e.to_string(),
        "link h1 -- r9 names node `r9`, which is not defined"
    );

    let mut b = line();
    b.link("r2", "r1").link("h1", "r1");
    assert!(matches!(
        b.build().unwrap_err(),
        TopologyError::DuplicateLink { .. }
    ));

    let mut b = line();
    b.node("lonely", NodeKind::Host, None);
    assert_eq!(
        b.build().unwrap_err(),
        TopologyError::Disconnected {
            from: "h1".into(),
            unreachable: "lonely".into()
        }
    );

    let mut b = line();
    b.nodes[3].address = Some(Ipv4Addr::new(10, 1, 0, 2));
    let e = b.build().unwrap_err();
    assert_eq!(
        e.to_string(),
        "address 10.1.0.2 of node `r2` is already used by link h1 -- r1"
    );

    let mut b = line();
    b.nodes[3].address = Some(Ipv4Addr::new(10, 0, 0, 9));
    b.nodes[4].address = Some(Ipv4Addr::new(10, 0, 0, 9));
    assert!(matches!(
        b.build().unwrap_err(),
        TopologyError::AddressClash { .. }
    ));

    let mut b = line();
    b.links[0].params.loss = 1.5;
    assert!(
        b.build()
            .unwrap_err()
            .to_string()
            .starts_with("link h1 -- r1: loss 1.5")
    );

    let mut b = line();
    b.app(AppDraft::Listen {
        node: "l1".into(),
        port: 1,
    });
    assert!(matches!(
        b.build().unwrap_err(),
        TopologyError::AppOnLegacy { .. }
    ));

    let mut b = line();
    b.node("bad name", NodeKind::Host, None);
    assert!(matches!(
        b.build().unwrap_err(),
        TopologyError::BadNodeName(_)
    ));
}

#[test]
fn groups_resolve_and_mark_members() {
    let mut b = line();
    b.member("g", "h2").member("g", "h1").member("g", "h2");
    let t = b.build().unwrap();
    assert_eq!(t.groups["g"], vec![0, 4]);
    assert_eq!(t.nodes[4].groups, vec!["g".to_string()]);
}
