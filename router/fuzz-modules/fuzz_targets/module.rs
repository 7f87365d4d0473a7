//! Fuzzes the sandbox with WebAssembly modules: validation, compilation and evaluation never
//! panic, every refusal and every stopped evaluation has a name, and the validator and the
//! compiler agree. The checks live in the crate's library (`run`) so tests can drive them too.

#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    ants_router_fuzz_modules::run(data);
});
