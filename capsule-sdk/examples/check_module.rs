//! Checks built capsule modules the way a node does and prints what it sees: size, imports,
//! exports, memory and stack, every load rule a module breaks, and a verdict line. Exits
//! non-zero if any module would be refused. The rules are the node's own (its module
//! inspector and compiler, the same code `ants inspect` runs), with default limits.
//!
//! `cargo run -p capsule-sdk --example check_module -- path/to/capsule.wasm ...`

use std::process::ExitCode;

use ants_router::fingerprint::Fingerprint;
use ants_router::sandbox::{ModuleShape, Sandbox, SandboxLimits};

fn main() -> ExitCode {
    let paths: Vec<String> = std::env::args().skip(1).collect();
    if paths.is_empty() {
        eprintln!("usage: check_module FILE.wasm...");
        return ExitCode::from(2);
    }
    let sandbox = match Sandbox::new(SandboxLimits::default()) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("cannot set up the sandbox: {e}");
            return ExitCode::FAILURE;
        }
    };
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
        let shape = ModuleShape::read(&bytes);
        println!(
            "{path}: {} bytes, {} functions",
            bytes.len(),
            shape.functions
        );
        for i in &shape.imports {
            match &i.func {
                Ok(Some(ty)) => println!("  import {}.{}: {ty}", i.module, i.name),
                Ok(None) => println!("  import {}.{}: (not a function type)", i.module, i.name),
                Err(kind) => println!("  import {}.{}: {kind}", i.module, i.name),
            }
        }
        for e in &shape.exports {
            println!("  export {} ({:?})", e.name, e.kind);
        }
        for (initial, max) in &shape.memories {
            println!("  memory: {initial} pages initial, maximum {max:?}");
        }
        if let Some(sp) = shape.stack_pointer {
            println!("  initial stack pointer: {sp}");
        }
        let problems = shape.problems(sandbox.limits());
        for p in &problems {
            println!("  REJECTED ({}): {p}", p.name());
        }
        // The rules above, then full validation and compilation, as on a router.
        match sandbox.compile(Fingerprint::sha256(&bytes), &bytes) {
            Ok(_) => println!("  ok: accepted by a node with default limits"),
            Err(e) => {
                if problems.is_empty() {
                    println!("  REJECTED ({}): {e}", e.name());
                }
                ok = false;
            }
        }
    }
    if ok {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}
