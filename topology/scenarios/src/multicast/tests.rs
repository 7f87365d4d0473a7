//! Unit tests of the parent module: plans, checks and helpers that need no capsule (the runs
//! are tested end to end in `topology/scenarios/tests/`).

use super::*;

#[test]
fn the_built_in_example_is_valid() {
    let t = ants_topology::file::parse(EXAMPLE_TOML, Path::new("multicast.toml")).unwrap();
    assert_eq!(t.groups[MEMBERS].len(), 10);
    assert!(t.node_id(SOURCE).is_some());
}

#[test]
fn plans_add_up() {
    let p = Plan::default();
    assert_eq!(p.packets(), 20);
    assert_eq!(p.last_packet(), Duration::from_millis(500 + 19 * 20));
    assert_eq!(p.end(), Duration::from_millis(1380));
    let big = Plan {
        payload_len: MAX_DATA + 1,
        ..Plan::default()
    };
    assert!(big.check().is_err());
}

#[test]
fn bursts_number_packets_on() {
    let s = MulticastSource::new(
        1,
        vec![
            Burst {
                start: Duration::ZERO,
                packets: 3,
            },
            Burst {
                start: Duration::from_secs(1),
                packets: 2,
            },
        ],
        Duration::from_millis(1),
        8,
    );
    assert_eq!(s.firsts, vec![0, 3]);
    let last: Vec<bool> = (0..5).map(|q| s.last_of_burst(q)).collect();
    assert_eq!(last, vec![false, false, true, false, true]);
}
