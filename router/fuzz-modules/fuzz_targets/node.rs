//! Fuzzes the node core with sequences of frames from several peers, the code-transfer state
//! machine in play: no panic, every datagram counted once, memory bounded, no amplification.
//! The checks live in the crate's library (`node::run`) so tests can drive them too.

#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    ants_router_fuzz_modules::node::run(data);
});
