//! Fuzzes the code announce decoder: `new_checked` never panics, and a parsed frame
//! re-encodes to the same bytes and parses back to itself.

#![no_main]

use ants_router::wire::{CodeAnnouncePacket, CodeAnnounceRepr};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(packet) = CodeAnnouncePacket::new_checked(data) else {
        return;
    };
    let repr = CodeAnnounceRepr::parse(&packet).expect("a checked frame parses");
    assert_eq!(packet.fingerprint(), repr.fingerprint);
    let bytes = repr.to_vec();
    assert_eq!(bytes, data, "encoding is canonical");
    let again = CodeAnnounceRepr::parse(&CodeAnnouncePacket::new_unchecked(&bytes[..]));
    assert_eq!(again, Ok(repr));
});
