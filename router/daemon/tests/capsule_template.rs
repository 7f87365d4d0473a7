//! The capsule template works out of the box: `ants new capsule` writes a crate whose tests
//! pass on the host, which builds to a wasm32 module, and which a node accepts
//! (`ants inspect` says so), at a size that travels well.

mod daemon_support;

use std::path::Path;
use std::process::Command;

use daemon_support::ants;

/// Runs cargo with `args` in `dir`, sharing one target directory between runs of this test.
fn cargo(dir: &Path, args: &[&str]) {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let target = Path::new(env!("CARGO_TARGET_TMPDIR")).join("capsule-template");
    let out = Command::new(cargo)
        .args(args)
        .current_dir(dir)
        .env("CARGO_TARGET_DIR", &target)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "cargo {args:?} failed:\n{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn a_new_capsule_tests_builds_and_is_accepted() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("hop");
    let dir_text = dir.to_string_lossy().into_owned();
    let (status, out, err) = ants(&["new", "capsule", "hop-count", "--dir", &dir_text]);
    assert!(status.success(), "{out}{err}");
    assert!(out.contains("created capsule crate `hop-count`"), "{out}");

    cargo(&dir, &["test", "--quiet"]);
    cargo(
        &dir,
        &[
            "rustc",
            "--quiet",
            "--release",
            "--target",
            "wasm32-unknown-unknown",
            "--crate-type",
            "cdylib",
        ],
    );
    let wasm = Path::new(env!("CARGO_TARGET_TMPDIR"))
        .join("capsule-template/wasm32-unknown-unknown/release/hop_count.wasm");
    let size = std::fs::metadata(&wasm).unwrap().len();
    assert!(size <= 8 * 1024, "the template's module is {size} bytes");
    let (status, out, err) = ants(&["inspect", &wasm.to_string_lossy()]);
    assert!(status.success(), "{out}{err}");
    assert!(
        out.contains("verdict      accepted by a node with default limits"),
        "{out}"
    );

    // The same name again is refused, and nothing is overwritten.
    let (status, _, err) = ants(&["new", "capsule", "hop-count", "--dir", &dir_text]);
    assert_eq!(status.code(), Some(1));
    assert!(err.contains("exists already"), "{err}");
}
