//! `ants topo demo` end to end: the multicast story, its picture and its JSON report.
//!
//! Needs the capsules built (`make capsules`).

use std::process::Command;

use ants_scenarios::multicast::CAPSULE;
use ants_topology::capsules::CapsuleLocator;

/// The repository's built capsules; a clear failure if the multicast one is missing.
fn capsules() -> CapsuleLocator {
    let l = CapsuleLocator::new(None, None);
    l.require(&[CAPSULE]).unwrap_or_else(|e| panic!("{e}"));
    l
}

#[test]
fn the_demo_tells_the_story_and_draws_the_tree() {
    capsules();
    let dir = tempfile::tempdir().unwrap();
    let svg = dir.path().join("out/tree.svg");
    let out = Command::new(env!("CARGO_BIN_EXE_ants-topo"))
        .args(["demo", "--svg"])
        .arg(&svg)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    for needle in [
        "13 hosts, 6 active routers, 6 legacy routers, 26 links",
        "code loading, hop by hop",
        "every member got every packet exactly once",
        "500 copies versus 1080",
        "(src -- e0): 20 versus 200",
    ] {
        assert!(stdout.contains(needle), "no `{needle}` in:\n{stdout}");
    }
    let picture = std::fs::read_to_string(&svg).unwrap();
    assert!(picture.starts_with("<svg") && picture.contains("500 data copies"));

    // --json: the whole report, for scripts.
    let out = Command::new(env!("CARGO_BIN_EXE_ants-topo"))
        .args(["demo", "--json", "--seed", "5", "--svg"])
        .arg(&svg)
        .output()
        .unwrap();
    assert!(out.status.success());
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["exactly_once"], true);
    assert_eq!(v["seed"], 5);
    assert_eq!(v["receivers"].as_array().unwrap().len(), 10);
}

#[test]
fn the_demo_says_how_to_build_missing_capsules() {
    let empty = tempfile::tempdir().unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_ants-topo"))
        .args(["demo", "--capsules"])
        .arg(empty.path())
        .arg("--svg")
        .arg(empty.path().join("x.svg"))
        .output()
        .unwrap();
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("run `make capsules`"), "{stderr}");
}
