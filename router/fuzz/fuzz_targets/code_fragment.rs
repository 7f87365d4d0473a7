//! Fuzzes the code fragment decoder: `new_checked` never panics, a checked fragment's data
//! lies inside its module, and a parsed fragment re-encodes to the same bytes and parses back
//! to itself.

#![no_main]

use ants_router::wire::{CodeFragmentPacket, CodeFragmentRepr, MAX_CODE_FRAME_LEN};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(packet) = CodeFragmentPacket::new_checked(data) else {
        return;
    };
    assert!(data.len() <= MAX_CODE_FRAME_LEN);
    let repr = CodeFragmentRepr::parse(&packet).expect("a checked fragment parses");
    assert!(repr.index < repr.count());
    assert!(repr.offset() + repr.data.len() <= repr.module_len as usize);
    assert_eq!(packet.data(), repr.data);
    let bytes = repr.to_vec().expect("a parsed fragment emits");
    assert_eq!(bytes, data, "encoding is canonical");
    let again = CodeFragmentRepr::parse(&CodeFragmentPacket::new_unchecked(&bytes[..]));
    assert_eq!(again, Ok(repr));
});
