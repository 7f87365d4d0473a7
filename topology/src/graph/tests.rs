//! Unit tests of the picture helpers: unit texts, packing and crossing counts. Tests only.

use super::layout::{crossings_between, pack};
use super::*;

#[test]
fn units_read_well() {
    assert_eq!(bandwidth_text(10_000_000), "10 Mbit/s");
    assert_eq!(bandwidth_text(1_500_000_000), "1.5 Gbit/s");
    assert_eq!(bandwidth_text(100_000), "100 kbit/s");
    assert_eq!(bandwidth_text(999), "999 bit/s");
    assert_eq!(duration_text(Duration::from_micros(250)), "250 µs");
    assert_eq!(duration_text(Duration::from_millis(1500)), "1.5 s");
    assert_eq!(duration_text(Duration::from_nanos(7)), "7 ns");
    assert_eq!(decimal(2.5000000000000004), "2.5");
    assert_eq!(decimal(0.0), "0");
}

#[test]
fn packing_keeps_order_and_gap() {
    let p = pack(&[5.0, 5.0, 5.0], 10.0);
    assert_eq!(p, vec![-5.0, 5.0, 15.0]);
    let p = pack(&[0.0, 100.0], 10.0);
    assert_eq!(p, vec![0.0, 100.0]);
}

#[test]
fn crossings_are_counted() {
    // Row 0: 0 1; row 1: 2 3; links 0-3 and 1-2 cross once.
    let adj = vec![vec![3], vec![2], vec![1], vec![0]];
    let layer = vec![0, 0, 1, 1];
    let pos = vec![0, 1, 0, 1];
    assert_eq!(crossings_between(&[0, 1], 2, &pos, &adj, &layer, 0), 1);
    let pos = vec![0, 1, 1, 0];
    assert_eq!(crossings_between(&[0, 1], 2, &pos, &adj, &layer, 0), 0);
}
