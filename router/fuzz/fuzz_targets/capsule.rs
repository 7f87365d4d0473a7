//! Fuzzes the capsule decoder: `new_checked` never panics, every accessor works on a checked
//! view, and a parsed capsule re-encodes to the same bytes and parses back to itself.

#![no_main]

use ants_router::wire::{CapsulePacket, CapsuleRepr};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(packet) = CapsulePacket::new_checked(data) else {
        return;
    };
    let repr = CapsuleRepr::parse(&packet).expect("a checked capsule parses");
    assert_eq!(packet.payload(), repr.payload);
    assert_eq!(packet.frame_len(), data.len());
    let bytes = repr.to_vec().expect("a parsed capsule emits");
    assert_eq!(bytes, data, "encoding is canonical");
    let again = CapsuleRepr::parse(&CapsulePacket::new_unchecked(&bytes[..]));
    assert_eq!(again, Ok(repr));

    // The fast-path rewrites keep the frame valid.
    let mut copy = data.to_vec();
    let mut packet = CapsulePacket::new_checked(&mut copy[..]).expect("same bytes");
    packet.set_budget(packet.budget().saturating_sub(1));
    packet.set_previous(repr.source).ok();
    assert!(CapsulePacket::new_checked(&copy[..]).is_ok());
});
