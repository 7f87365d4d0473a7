//! Unit tests of the parent module: plans, checks and helpers that need no capsule (the runs
//! are tested end to end in `topology/scenarios/tests/`).

use super::*;

#[test]
fn sites_number_from_one() {
    assert_eq!(site_prefix(0).unwrap().addr, Ipv4Addr::new(192, 168, 1, 0));
    assert_eq!(site_host(1, 1), Some(Ipv4Addr::new(192, 168, 2, 11)));
    assert!(site_prefix(0).unwrap().is_announceable());
    assert!(site_prefix(254).is_none());
}

#[test]
fn plans_are_checked() {
    assert!(Plan::default().check().is_ok());
    let tiny = Plan {
        data_len: 4,
        ..Plan::default()
    };
    assert!(tiny.check().is_err());
}
