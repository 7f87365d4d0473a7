//! Fuzzes the hello decoder: `new_checked` never panics, a parsed frame re-encodes to the same
//! bytes and parses back to itself, and every route it yields has a metric of at most 16.

#![no_main]

use ants_router::wire::{HelloPacket, HelloRepr, METRIC_UNREACHABLE};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(packet) = HelloPacket::new_checked(data) else {
        return;
    };
    let repr = HelloRepr::parse(&packet).expect("a checked frame parses");
    assert_eq!(repr.routes().count(), usize::from(packet.route_count()));
    assert!(repr.routes().all(|(_, m)| m <= METRIC_UNREACHABLE));
    let bytes = repr.to_vec().expect("a parsed hello re-encodes");
    assert_eq!(bytes, data, "encoding is canonical");
    let again = HelloRepr::parse(&HelloPacket::new_unchecked(&bytes[..]));
    assert_eq!(again, Ok(repr));
});
