//! Compile bombs: modules within every load limit whose shape makes compilers slow, and what
//! each tier does with them. For every shape, the largest module under the 64 KiB limit (and,
//! for the optimizing tier, modules right at its shape limits): the baseline verdict (validate
//! and compile with Winch, what every protocol's first capsule waits for) and the optimizing
//! verdict (compiled by Cranelift, or refused by the shape limits before it starts), each with
//! its wall time and the peak memory it added. Bars (issue "compilation"): the worst module
//! reaches a verdict in 200 ms or less, using 64 MiB or less.
//!
//! Each compile runs in a fresh child process (this binary with `--child`), so that its peak
//! resident memory (`VmHWM`) is its own. Run with
//! `cargo bench -p ants-router --bench compile_bombs` (about a minute). Results:
//! docs/benchmarks.md. Under `cargo test` it only says so and exits.

use std::fmt::Write as _;
use std::process::Command;
use std::time::Instant;

use ants_router::fingerprint::Fingerprint;
use ants_router::sandbox::{CompileTier, Sandbox, SandboxLimits};

const HEAD: &str = "(module (memory (export \"memory\") 1)\n";

/// A module whose `ants_evaluate` body is `body`, plus `extra` functions.
fn module(locals: &str, body: &str, extra: &str) -> String {
    format!(
        "{HEAD}{extra}(func (export \"ants_evaluate\") (result i32) {locals}\n{body}\n(i32.const 0)))"
    )
}

/// The shapes, each as a function of its size parameter.
fn shape(name: &str, n: usize) -> String {
    let mut b = String::new();
    match name {
        // The bomb: loops nested n deep, each branching back to itself.
        "nested loops" => {
            for _ in 0..n {
                b.push_str("(loop (br_if 0 (local.get 0))\n");
            }
            b.push_str(&")".repeat(n));
            module("(local i32)", &b, "")
        }
        // Blocks nested n deep, the innermost branching out of all of them.
        "nested blocks" => {
            for _ in 0..n {
                b.push_str("(block\n");
            }
            let _ = write!(b, "(br_if {} (local.get 0))", n - 1);
            b.push_str(&")".repeat(n));
            module("(local i32)", &b, "")
        }
        // n conditional branches one after the other.
        "flat branches" => {
            for _ in 0..n {
                b.push_str("(block (br_if 0 (local.get 0)))\n");
            }
            module("(local i32)", &b, "")
        }
        // n locals, each read and written (register pressure).
        "locals" => {
            for i in 1..n {
                let _ = writeln!(
                    b,
                    "(local.set {i} (i64.add (local.get {i}) (local.get {})))",
                    i - 1
                );
            }
            module(
                &format!("(local i64) (local {})", "i64 ".repeat(n - 1)),
                &b,
                "",
            )
        }
        // One branch table with n targets over 64 nested blocks.
        "br_table" => {
            let depth = 64;
            for _ in 0..depth {
                b.push_str("(block\n");
            }
            b.push_str("(br_table");
            for i in 0..n {
                let _ = write!(b, " {}", i % depth);
            }
            b.push_str(" 0 (local.get 0))");
            b.push_str(&")".repeat(depth));
            module("(local i32)", &b, "")
        }
        // n functions, each with loops nested 8 deep.
        "many functions" => {
            let mut extra = String::new();
            for _ in 0..n {
                extra.push_str("(func (param i32)");
                for _ in 0..8 {
                    extra.push_str(" (loop (br_if 0 (local.get 0))");
                }
                extra.push_str(&")".repeat(8));
                extra.push_str(")\n");
            }
            module("(local i32)", "", &extra)
        }
        // Loops nested n deep, each with its own local live across it.
        "loops with locals" => {
            for i in 0..n {
                let _ = writeln!(
                    b,
                    "(loop (local.set {i} (i32.add (local.get {i}) (i32.const 1))) (br_if 0 (local.get {i}))"
                );
            }
            b.push_str(&")".repeat(n));
            module(&format!("(local {})", "i32 ".repeat(n)), &b, "")
        }
        // A straight-line chain of n additions.
        "straight line" => {
            b.push_str("(local.get 0)");
            for _ in 0..n {
                b.push_str(" (i32.add (local.get 0))");
            }
            b.push_str(" (drop)");
            module(
                "(local i32)",
                &b.replace(
                    "(local.get 0) (i32.add (local.get 0))",
                    "(local.get 0) (local.get 0) (i32.add)",
                ),
                "",
            )
        }
        other => panic!("unknown shape {other}"),
    }
}

const SHAPES: &[&str] = &[
    "nested loops",
    "nested blocks",
    "flat branches",
    "locals",
    "br_table",
    "many functions",
    "loops with locals",
    "straight line",
];

/// The largest `n` whose module stays within the size and function limits.
fn largest(name: &str, limits: &SandboxLimits) -> (usize, Vec<u8>) {
    let fits = |n: usize| {
        let wasm = wat::parse_str(shape(name, n)).ok()?;
        let functions_ok = name != "many functions" || n < limits.max_functions as usize;
        (wasm.len() <= limits.max_module_bytes && functions_ok).then_some(wasm)
    };
    let (mut lo, mut hi) = (2usize, 1 << 20);
    while lo + 1 < hi {
        let mid = (lo + hi) / 2;
        if fits(mid).is_some() {
            lo = mid;
        } else {
            hi = mid;
        }
    }
    (lo, fits(lo).expect("the smallest size fits"))
}

fn vm_hwm_kib() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .unwrap_or_default()
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or(0)
}

/// Child: compiles one module with one tier and prints `ms kib verdict`.
fn child(path: &str, tier: &str) {
    let wasm = std::fs::read(path).expect("module file");
    let sandbox = Sandbox::new(SandboxLimits::default()).expect("sandbox");
    let compiler = sandbox.compiler();
    let tier = if tier == "optimized" {
        CompileTier::Optimized
    } else {
        CompileTier::Baseline
    };
    let before = vm_hwm_kib();
    let start = Instant::now();
    let result = compiler.compile_tier(Fingerprint::sha256(&wasm), &wasm, tier);
    let ms = start.elapsed().as_secs_f64() * 1e3;
    let kib = vm_hwm_kib().saturating_sub(before);
    let verdict = match result {
        Ok(_) => "compiled".to_string(),
        Err(e) => e.name().to_string(),
    };
    println!("{ms:.2} {kib} {verdict}");
}

fn measure(wasm: &[u8], tier: &str) -> (f64, u64, String) {
    let path = std::env::temp_dir().join(format!("ants-bomb-{}.wasm", std::process::id()));
    std::fs::write(&path, wasm).expect("write module");
    let out = Command::new(std::env::current_exe().expect("this binary"))
        .args(["--bench", "--child", path.to_str().expect("path"), tier])
        .output()
        .expect("run child");
    let _ = std::fs::remove_file(&path);
    let text = String::from_utf8_lossy(&out.stdout);
    let mut parts = text.split_whitespace();
    let ms = parts
        .next()
        .and_then(|v| v.parse().ok())
        .unwrap_or(f64::NAN);
    let kib = parts.next().and_then(|v| v.parse().ok()).unwrap_or(0);
    let verdict = parts.next().unwrap_or("child failed").to_string();
    (ms, kib, verdict)
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if !args.iter().any(|a| a == "--bench") {
        println!("compile_bombs: a benchmark; run it with `cargo bench --bench compile_bombs`");
        return;
    }
    if let Some(i) = args.iter().position(|a| a == "--child") {
        return child(&args[i + 1], &args[i + 2]);
    }
    let limits = SandboxLimits::default();
    let at_limits: &[(&str, usize)] = &[
        ("nested loops", limits.optimize_max_nesting as usize),
        ("loops with locals", limits.optimize_max_nesting as usize),
        ("flat branches", limits.optimize_max_branches as usize / 2),
        ("many functions", limits.optimize_max_branches as usize / 16),
        (
            "br_table",
            limits.optimize_max_br_table_targets as usize - 1,
        ),
        ("locals", limits.optimize_max_locals as usize),
    ];
    println!(
        "compile bombs: every shape at the 64 KiB module limit, then at the optimizing tier's shape limits; one fresh process per compile"
    );
    println!(
        "| shape | size | bytes | baseline verdict | baseline ms | baseline MiB | optimizing verdict | optimizing ms | optimizing MiB |"
    );
    println!("|---|---|---|---|---|---|---|---|---|");
    let mut worst_baseline: (f64, u64) = (0.0, 0);
    let mut worst_optimizing: (f64, u64) = (0.0, 0);
    let mut rows: Vec<(String, usize, Vec<u8>)> = SHAPES
        .iter()
        .map(|s| {
            let (n, wasm) = largest(s, &limits);
            (format!("{s} (64 KiB)"), n, wasm)
        })
        .collect();
    for (s, n) in at_limits {
        let wasm = wat::parse_str(shape(s, *n)).expect("shape");
        rows.push((format!("{s} (at the optimizing limit)"), *n, wasm));
    }
    for (name, n, wasm) in rows {
        let (bms, bkib, bv) = measure(&wasm, "baseline");
        let (oms, okib, ov) = measure(&wasm, "optimized");
        worst_baseline = (worst_baseline.0.max(bms), worst_baseline.1.max(bkib));
        worst_optimizing = (worst_optimizing.0.max(oms), worst_optimizing.1.max(okib));
        println!(
            "| {name} | {n} | {} | {bv} | {bms:.1} | {:.1} | {ov} | {oms:.1} | {:.1} |",
            wasm.len(),
            bkib as f64 / 1024.0,
            okib as f64 / 1024.0
        );
    }
    // The shipped capsules must stay optimizable: their shapes against the limits.
    let compiler = Sandbox::new(limits.clone()).expect("sandbox").compiler();
    let dir = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../capsules/target/wasm32-unknown-unknown/release"
    );
    let mut shipped: Vec<_> = std::fs::read_dir(dir)
        .map(|d| d.filter_map(Result::ok).map(|e| e.path()).collect())
        .unwrap_or_default();
    shipped.retain(|p: &std::path::PathBuf| p.extension().is_some_and(|e| e == "wasm"));
    shipped.sort();
    for path in shipped {
        let wasm = std::fs::read(&path).expect("capsule");
        let shape = ants_router::sandbox::Complexity::of(&wasm).expect("shape");
        let verdict = match compiler.check_optimizable(&shape) {
            Ok(()) => "optimizable".to_string(),
            Err(e) => e.to_string(),
        };
        println!(
            "shipped {}: {} bytes, nesting {}, control instructions {}, br_table targets {}, locals {}: {verdict}",
            path.file_stem().and_then(|s| s.to_str()).unwrap_or("?"),
            wasm.len(),
            shape.max_nesting,
            shape.total_branches,
            shape.max_br_table_targets,
            shape.max_locals
        );
    }
    println!(
        "worst baseline verdict: {:.1} ms, {:.1} MiB; worst optimizing verdict: {:.1} ms, {:.1} MiB (bar: 200 ms, 64 MiB)",
        worst_baseline.0,
        worst_baseline.1 as f64 / 1024.0,
        worst_optimizing.0,
        worst_optimizing.1 as f64 / 1024.0
    );
}
