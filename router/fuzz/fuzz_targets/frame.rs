//! Fuzzes the top-level dispatch: `Frame::parse` never panics, every reject has a counter
//! name, and a parsed frame re-encodes to the same bytes and parses back to itself.

#![no_main]

use ants_router::wire::{Frame, Prefix};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let frame = match Frame::parse(data) {
        Ok(frame) => frame,
        Err(error) => {
            assert!(!error.name().is_empty());
            return;
        }
    };
    assert_eq!(Prefix::parse(data).map(|p| p.kind), Ok(frame.kind()));
    assert_eq!(frame.buffer_len(), data.len());
    let bytes = frame.to_vec().expect("a parsed frame emits");
    assert_eq!(bytes, data, "encoding is canonical");
    assert_eq!(Frame::parse(&bytes), Ok(frame));
});
