//! Unit tests of the parent module: plans, checks and helpers that need no capsule (the runs
//! are tested end to end in `topology/scenarios/tests/`).

use super::*;

#[test]
fn wire_length_adds_every_header() {
    // 100 data bytes, 6 bytes of message around them, a 56-byte capsule header, 28 of
    // IPv4 and UDP.
    assert_eq!(wire_len(100), 100 + 6 + MIN_HEADER_LEN + IP_UDP_OVERHEAD);
}

#[test]
fn configs_are_checked() {
    assert!(Config::default().check().is_ok());
    let big = Config {
        data_len: MAX_DATA + 1,
        ..Config::default()
    };
    assert!(big.check().is_err());
    let zero = Config {
        overload: 0.0,
        ..Config::default()
    };
    assert!(zero.check().is_err());
}
