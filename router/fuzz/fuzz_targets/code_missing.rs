//! Fuzzes the code missing decoder: `new_checked` never panics, and a parsed frame
//! re-encodes to the same bytes and parses back to itself.

#![no_main]

use ants_router::wire::{CodeMissingPacket, CodeMissingRepr};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(packet) = CodeMissingPacket::new_checked(data) else {
        return;
    };
    let repr = CodeMissingRepr::parse(&packet).expect("a checked frame parses");
    assert_eq!(packet.fingerprint(), repr.fingerprint);
    let bytes = repr.to_vec();
    assert_eq!(bytes, data, "encoding is canonical");
    let again = CodeMissingRepr::parse(&CodeMissingPacket::new_unchecked(&bytes[..]));
    assert_eq!(again, Ok(repr));
});
