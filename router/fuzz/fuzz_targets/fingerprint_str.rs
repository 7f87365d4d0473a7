//! Fuzzes the fingerprint text parser: it never panics, and an accepted fingerprint displays
//! as text that parses back to it.

#![no_main]

use ants_router::fingerprint::Fingerprint;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    match text.parse::<Fingerprint>() {
        Ok(fingerprint) => {
            let shown = fingerprint.to_string();
            assert_eq!(shown.parse::<Fingerprint>(), Ok(fingerprint));
            assert!(text.eq_ignore_ascii_case(&shown) || text.len() > shown.len());
        }
        Err(error) => assert!(!error.name().is_empty()),
    }
});
