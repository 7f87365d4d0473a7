//! Runs the `module` fuzz target's checks without libFuzzer: over the committed seeds and a few
//! hundred deterministic pseudo-random inputs of each kind, and checks that the generators
//! reach every stage (modules accepted, refused, evaluations completed and stopped), so the
//! target cannot silently degrade into testing only the front door.
//!
//! Also owns the seed inputs: `cargo test -- --ignored write_seeds` rewrites
//! `seeds/module/` from the WebAssembly text below.

use std::collections::BTreeMap;
use std::path::PathBuf;

use ants_router::harness::MINIMAL_FORWARD_WAT;
use ants_router_fuzz_modules::{CONTRACT, OFF_CONTRACT, RAW, Report, run};

/// Inputs per kind of module.
const INPUTS: u64 = 250;

fn seeds_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("seeds/module")
}

/// SplitMix64: deterministic, so a failure here replays with the same input.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// The selector, then up to `max_len` random bytes.
    fn input(&mut self, selector: u8, max_len: u64) -> Vec<u8> {
        let len = self.next() % (max_len + 1);
        self.input_of_len(selector, len)
    }

    fn input_of_len(&mut self, selector: u8, len: u64) -> Vec<u8> {
        std::iter::once(selector)
            .chain((0..len).map(|_| self.next() as u8))
            .collect()
    }
}

/// Counts outcome names, to print and to check coverage of each stage.
#[derive(Default)]
struct Tally(BTreeMap<String, u32>);

impl Tally {
    fn add(&mut self, report: &Report) {
        let mut bump = |k: String| *self.0.entry(k).or_default() += 1;
        match report.load {
            None => bump("no_module".into()),
            Some(Ok(())) => bump("load:accepted".into()),
            Some(Err(name)) => bump(format!("load:{name}")),
        }
        for e in &report.evaluations {
            bump(format!("eval:{}", e.err().unwrap_or("completed")));
        }
    }

    fn get(&self, key: &str) -> u32 {
        self.0.get(key).copied().unwrap_or(0)
    }

    fn sum(&self, prefix: &str) -> u32 {
        self.0
            .iter()
            .filter(|(k, _)| k.starts_with(prefix))
            .map(|(_, n)| n)
            .sum()
    }
}

#[test]
fn generated_modules_reach_every_stage() {
    let mut rng = Rng(0x5eed);
    let mut contract = Tally::default();
    let mut off_contract = Tally::default();
    for _ in 0..INPUTS {
        contract.add(&run(&rng.input(CONTRACT, 4096)));
        off_contract.add(&run(&rng.input(OFF_CONTRACT, 4096)));
    }
    println!("contract: {:?}", contract.0);
    println!("off contract: {:?}", off_contract.0);
    assert!(
        contract.get("load:accepted") > INPUTS as u32 / 4,
        "{:?}",
        contract.0
    );
    assert!(contract.get("eval:completed") > 0, "{:?}", contract.0);
    assert!(
        contract.sum("eval:") > contract.get("eval:completed"),
        "{:?}",
        contract.0
    );
    assert!(
        contract.sum("load:") > contract.get("load:accepted"),
        "{:?}",
        contract.0
    );
    assert!(
        off_contract.get("load:module_rejected") > 0,
        "{:?}",
        off_contract.0
    );
    assert!(off_contract.sum("load:") > off_contract.get("load:module_rejected"));
}

#[test]
fn raw_bytes_never_panic() {
    let mut rng = Rng(0xb17e5);
    let mut raw = Tally::default();
    let forward = wat::parse_str(MINIMAL_FORWARD_WAT).expect("the harness's module parses");
    for _ in 0..INPUTS {
        raw.add(&run(&rng.input(RAW, 256)));
        // The forwarding module with a few bytes changed: mostly still a module, often a
        // refused one.
        let mut input = vec![RAW];
        input.extend_from_slice(&forward);
        for _ in 0..1 + rng.next() % 4 {
            let at = 1 + (rng.next() as usize) % forward.len();
            input[at] = rng.next() as u8;
        }
        raw.add(&run(&input));
    }
    println!("raw: {:?}", raw.0);
    assert!(raw.get("load:module_malformed") > 0, "{:?}", raw.0);
}

#[test]
fn seeds_run_and_minimal_forward_completes() {
    let mut seeds = 0;
    for entry in std::fs::read_dir(seeds_dir()).expect("seeds/module exists") {
        let data = std::fs::read(entry.expect("a seed").path()).expect("a readable seed");
        run(&data);
        seeds += 1;
    }
    assert!(seeds > 0, "no seeds");

    let mut input = vec![RAW];
    input.extend(wat::parse_str(MINIMAL_FORWARD_WAT).expect("the harness's module parses"));
    let report = run(&input);
    assert_eq!(report.load, Some(Ok(())));
    // An empty capsule input gives routed capsules with budget 8: each is forwarded.
    assert!(!report.evaluations.is_empty());
    assert!(report.evaluations.iter().all(Result::is_ok), "{report:?}");
}

/// Seed modules in WebAssembly text: one per way an evaluation ends, plus refusals.
const SEED_MODULES: &[(&str, &str)] = &[
    ("minimal-forward", MINIMAL_FORWARD_WAT),
    (
        "loop-forever",
        r#"(module (memory (export "memory") 1)
             (func (export "ants_evaluate") (result i32) (loop (br 0)) (i32.const 0)))"#,
    ),
    (
        "grow-then-trap",
        r#"(module (memory (export "memory") 1)
             (func (export "ants_evaluate") (result i32)
               (loop (br_if 0 (i32.ne (memory.grow (i32.const 1)) (i32.const -1))))
               unreachable))"#,
    ),
    (
        "recurse",
        r#"(module (memory (export "memory") 1)
             (func $f (export "ants_evaluate") (result i32) (call $f)))"#,
    ),
    (
        "deliver-log-state",
        r#"(module
             (import "ants_v1" "deliver" (func $deliver (param i32 i32 i32) (result i32)))
             (import "ants_v1" "log" (func $log (param i32 i32 i32) (result i32)))
             (import "ants_v1" "state_put" (func $put (param i32 i32 i32 i32 i64) (result i32)))
             (memory (export "memory") 1)
             (data (i32.const 0) "key and a value")
             (func (export "ants_evaluate") (result i32)
               (drop (call $put (i32.const 0) (i32.const 3) (i32.const 4) (i32.const 11)
                                (i64.const 1000)))
               (drop (call $log (i32.const 2) (i32.const 0) (i32.const 15)))
               (call $deliver (i32.const 7) (i32.const 0) (i32.const 15))))"#,
    ),
    (
        "start-function",
        r#"(module (memory (export "memory") 1)
             (func $init (drop (memory.grow (i32.const 1))))
             (start $init)
             (func (export "ants_evaluate") (result i32) (i32.const 1)))"#,
    ),
    (
        "forbidden-import",
        r#"(module (import "env" "abort" (func))
             (memory (export "memory") 1)
             (func (export "ants_evaluate") (result i32) (i32.const 0)))"#,
    ),
];

#[test]
#[ignore = "rewrites seeds/module/; run by hand after changing SEED_MODULES"]
fn write_seeds() {
    let dir = seeds_dir();
    std::fs::create_dir_all(&dir).expect("seeds/module can be created");
    for (name, text) in SEED_MODULES {
        let mut input = vec![RAW];
        input.extend(wat::parse_str(text).unwrap_or_else(|e| panic!("{name}: {e}")));
        std::fs::write(dir.join(name), input).expect("a seed can be written");
    }
    // Generated modules: the bytes are the generator's choices.
    for (name, selector) in [
        ("generated-contract", CONTRACT),
        ("generated-off-contract", OFF_CONTRACT),
    ] {
        let input = Rng(u64::from(selector)).input_of_len(selector, 1024);
        std::fs::write(dir.join(name), input).expect("a seed can be written");
    }
}
