//! Fuzzes the code request decoder: `new_checked` never panics, and a parsed request
//! re-encodes to the same bytes and parses back to itself.

#![no_main]

use ants_router::wire::{CodeRequestPacket, CodeRequestRepr, MAX_CODE_FRAME_LEN};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(packet) = CodeRequestPacket::new_checked(data) else {
        return;
    };
    assert!(data.len() <= MAX_CODE_FRAME_LEN);
    let repr = CodeRequestRepr::parse(&packet).expect("a checked request parses");
    assert_eq!(packet.mask(), repr.mask);
    // Only the indexes the mask covers (plus a few), to keep each run fast.
    let covered = usize::from(repr.first) + repr.mask.len() * 8 + 8;
    let end = u16::try_from(covered).unwrap_or(u16::MAX);
    for index in repr.first.saturating_sub(8)..end {
        assert_eq!(packet.wants(index), repr.wants(index));
    }
    let bytes = repr.to_vec().expect("a parsed request emits");
    assert_eq!(bytes, data, "encoding is canonical");
    let again = CodeRequestRepr::parse(&CodeRequestPacket::new_unchecked(&bytes[..]));
    assert_eq!(again, Ok(repr));
});
