//! Shared helpers for the end-to-end tests in `tests/tests/`.
//!
//! The tests themselves live in `tests/tests/*.rs`; this library only holds what several of
//! them need (locating the repository, reading docs). It never talks to any network.

#![warn(missing_docs)]

use std::path::PathBuf;

/// The repository root (the directory holding the workspace `Cargo.toml`).
pub fn repo_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("tests/ has a parent directory")
        .to_path_buf()
}

/// Reads a file under the repository root, with a clear message when it is missing.
pub fn read_repo_file(relative: &str) -> String {
    let path = repo_root().join(relative);
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()))
}

/// Where `make capsules` puts the shipped capsule modules.
pub const CAPSULES_DIR: &str = "capsules/target/wasm32-unknown-unknown/release";

/// The bytes of a shipped capsule module, e.g. `capsule_wasm("forward")` for
/// `capsule_forward.wasm`. Panics with the command to run when it has not been built.
pub fn capsule_wasm(name: &str) -> Vec<u8> {
    let path = repo_root()
        .join(CAPSULES_DIR)
        .join(format!("capsule_{name}.wasm"));
    std::fs::read(&path).unwrap_or_else(|e| {
        panic!(
            "cannot read {}: {e}; build the capsules first with `make capsules`",
            path.display()
        )
    })
}
