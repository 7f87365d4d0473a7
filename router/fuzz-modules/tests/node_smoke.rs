//! Runs the `node` fuzz target's checks without libFuzzer: over the committed seeds, a scripted
//! load from a neighbour, and a few hundred deterministic pseudo-random inputs, and checks that
//! the steps reach every part of the code-transfer machine (loads completed, cookies taken,
//! code served, capsules evaluated), so the target cannot silently test only the front door.
//!
//! Also owns the seed inputs: `cargo test --test node_smoke -- --ignored write_seeds` rewrites
//! `seeds/node/`.

use std::path::PathBuf;

use ants_router_fuzz_modules::node::{NodeReport, run};

fn seeds_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("seeds/node")
}

/// The registered module compiles; a neighbour sends a capsule of the three-fragment module, answers the request with a cookie
/// and then with the fragments; the compilation finishes; another neighbour asks for the
/// registered module, first without and then with the cookie it was handed.
const SCRIPTED_LOAD: &[u8] = &[
    0x07, 0x00, // the registered module compiles
    0x01, 0x11, // capsule of module 1 from 10.0.0.2, budget 8
    0x05, 0x01, // a cookie for module 1 from 10.0.0.2
    0x02, 0x01, 0x02, 0x03, 0x02, 0x05, // fragments 0, 1, 2 from 10.0.0.2
    0x07, 0x00, // compilations finish
    0x16, 0x00, // a request for module 0 from 10.0.0.3, no cookie
    0x16, 0x02, // again, with the cookie it was handed
    0x00, 0xff, // two seconds pass
];

/// The ways an attacker mixes in: forged fragments and answers from the wrong senders, a flood
/// of requests from a spoofed address, garbage.
const HOSTILE_MIX: &[u8] = &[
    0x01, 0x11, 0x33, 0x07, 0x23, 0x01, 0x44, 0x00, 0x45, 0x01, 0x15, 0x01, 0x05, 0x01, 0x02, 0x01,
    0x32, 0x03, 0x02, 0x03, 0x02, 0x05, 0x36, 0x00, 0x36, 0x02, 0x36, 0x06, 0x48, 0x20, 0x09, 0x40,
    0x07, 0x00, 0x00, 0x80,
];

fn seeds() -> Vec<(&'static str, Vec<u8>)> {
    vec![
        ("scripted-load", SCRIPTED_LOAD.to_vec()),
        ("hostile-mix", HOSTILE_MIX.to_vec()),
    ]
}

#[test]
fn a_scripted_load_completes_and_is_served_onwards() {
    let report = run(SCRIPTED_LOAD);
    assert_eq!(report.loads_completed, 1, "{report:?}");
    assert_eq!(report.cookies_received, 1, "{report:?}");
    assert!(report.evaluations >= 1, "{report:?}");
    assert!(report.fragments_sent >= 1, "{report:?}");
}

#[test]
fn committed_seeds_run_clean() {
    let mut seen = 0;
    for entry in std::fs::read_dir(seeds_dir()).unwrap() {
        let bytes = std::fs::read(entry.unwrap().path()).unwrap();
        run(&bytes);
        seen += 1;
    }
    assert_eq!(seen, seeds().len(), "run `write_seeds` after changing them");
}

#[test]
fn random_step_sequences_keep_every_invariant_and_reach_every_stage() {
    let mut state = 0x5eed_u64;
    let mut next = || {
        state = state.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = state;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    };
    let mut total = NodeReport::default();
    for _ in 0..300 {
        let len = (next() % 400) as usize;
        let mut input: Vec<u8> = (0..len).map(|_| next() as u8).collect();
        // Half the inputs start with the scripted load, so later steps meet loaded code.
        if next() % 2 == 0 {
            input.splice(0..0, SCRIPTED_LOAD.iter().copied());
        }
        let r = run(&input);
        total.datagrams += r.datagrams;
        total.loads_completed += r.loads_completed;
        total.cookies_received += r.cookies_received;
        total.fragments_sent += r.fragments_sent;
        total.evaluations += r.evaluations;
    }
    assert!(total.datagrams > 10_000, "{total:?}");
    assert!(total.loads_completed > 100, "{total:?}");
    assert!(total.cookies_received > 100, "{total:?}");
    assert!(total.fragments_sent > 100, "{total:?}");
    assert!(total.evaluations > 100, "{total:?}");
}

#[test]
#[ignore = "rewrites seeds/node/"]
fn write_seeds() {
    let dir = seeds_dir();
    std::fs::create_dir_all(&dir).unwrap();
    for (name, bytes) in seeds() {
        std::fs::write(dir.join(name), bytes).unwrap();
    }
}
