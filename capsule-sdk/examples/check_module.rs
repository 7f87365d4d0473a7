//! Checks built capsule modules against the `ants_v1` load rules and prints what a node sees:
//! size, imports, exports, memory and stack. Exits non-zero if any module would be rejected.
//!
//! `cargo run -p capsule-sdk --example check_module -- path/to/capsule.wasm ...`

#[path = "../tests/support/inspect.rs"]
mod inspect;

use std::process::ExitCode;

/// Largest module a node accepts by default (docs/node-api.md, "Limits").
const MAX_MODULE_BYTES: usize = 64 * 1024;

fn main() -> ExitCode {
    let paths: Vec<String> = std::env::args().skip(1).collect();
    if paths.is_empty() {
        eprintln!("usage: check_module FILE.wasm...");
        return ExitCode::from(2);
    }
    let mut ok = true;
    for path in &paths {
        let bytes = match std::fs::read(path) {
            Ok(b) => b,
            Err(e) => {
                eprintln!("{path}: {e}");
                ok = false;
                continue;
            }
        };
        let report = match inspect::inspect(&bytes) {
            Ok(r) => r,
            Err(e) => {
                eprintln!("{path}: {e}");
                ok = false;
                continue;
            }
        };
        println!(
            "{path}: {} bytes, {} functions",
            bytes.len(),
            report.functions
        );
        for (module, name, params, results) in &report.imports {
            println!("  import {module}.{name}: {params:?} -> {results:?}");
        }
        for (name, kind, _) in &report.exports {
            println!("  export {name} ({kind:?})");
        }
        for (initial, max) in &report.memories {
            println!("  memory: {initial} pages initial, maximum {max:?}");
        }
        if let Some(sp) = report.stack_pointer {
            println!("  initial stack pointer: {sp}");
        }
        let mut problems = inspect::abi_problems(&report);
        if bytes.len() > MAX_MODULE_BYTES {
            problems.push(format!(
                "{} bytes exceeds the default {MAX_MODULE_BYTES}-byte limit",
                bytes.len()
            ));
        }
        for p in &problems {
            println!("  REJECTED: {p}");
        }
        ok &= problems.is_empty();
    }
    if ok {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}
