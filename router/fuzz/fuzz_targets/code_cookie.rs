//! Fuzzes the code cookie decoder: `new_checked` never panics, and a parsed frame re-encodes
//! to the same bytes and parses back to itself.

#![no_main]

use ants_router::wire::{CodeCookiePacket, CodeCookieRepr};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(packet) = CodeCookiePacket::new_checked(data) else {
        return;
    };
    let repr = CodeCookieRepr::parse(&packet).expect("a checked frame parses");
    assert_eq!(packet.fingerprint(), repr.fingerprint);
    assert_eq!(packet.cookie(), repr.cookie);
    let bytes = repr.to_vec();
    assert_eq!(bytes, data, "encoding is canonical");
    let again = CodeCookieRepr::parse(&CodeCookiePacket::new_unchecked(&bytes[..]));
    assert_eq!(again, Ok(repr));
});
