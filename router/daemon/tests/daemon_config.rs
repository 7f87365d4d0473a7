//! `antsd --check` and start-up with broken configurations: every error names the file, the
//! line and the field, and the exit status says valid (0) or not (1).

mod daemon_support;

use std::path::Path;
use std::process::Command;

use daemon_support::{ANTSD, capsule, repo};

/// Runs `antsd --check --config <path>`: exit code and standard output.
fn check(path: &Path) -> (i32, String) {
    let out = Command::new(ANTSD)
        .arg("--check")
        .arg("--config")
        .arg(path)
        .output()
        .unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
    )
}

#[test]
fn the_shipped_examples_are_valid() {
    capsule("forward"); // r1 pins it
    for r in ["r1", "r2", "r3"] {
        let path = repo().join(format!("examples/loopback/{r}.toml"));
        let (code, out) = check(&path);
        assert_eq!(code, 0, "{out}");
        assert_eq!(out.lines().count(), 1, "one-line verdict: {out}");
        assert!(out.contains(": ok: node 127.0.1."), "{out}");
    }
}

const BASE: &str = r#"address = "127.0.1.1"
listen = "127.0.0.1:4001"

[[neighbours]]
address = "127.0.1.2"
socket = "127.0.0.1:4002"

[[routes]]
prefix = "0.0.0.0/0"
via = "127.0.1.2"
"#;

/// Writes `text` as `bad.toml`, checks it, and expects a one-line refusal at `line` naming
/// `field` and containing `message`.
fn refused(dir: &Path, text: &str, line: usize, field: &str, message: &str) {
    let path = dir.join("bad.toml");
    std::fs::write(&path, text).unwrap();
    let (code, out) = check(&path);
    assert_eq!(code, 1, "accepted:\n{text}\n{out}");
    assert_eq!(out.lines().count(), 1, "one-line verdict: {out}");
    let at = format!("{}:{line}:", path.display());
    assert!(out.starts_with(&at), "want {at}…, got {out}");
    assert!(
        out.contains(&format!("`{field}`")),
        "want field {field}: {out}"
    );
    assert!(out.contains(message), "want {message:?}: {out}");
}

#[test]
fn check_names_file_line_and_field() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    std::fs::write(d.join("ok.toml"), BASE).unwrap();
    assert_eq!(check(&d.join("ok.toml")).0, 0);

    refused(
        d,
        &BASE.replace("listen", "lisen"),
        2,
        "lisen",
        "unknown field `lisen`",
    );
    refused(
        d,
        &BASE.replace("\"127.0.1.2\"\nsocket", "\"127.0.1.x\"\nsocket"),
        5,
        "neighbours[0].address",
        "invalid IP address",
    );
    refused(
        d,
        &BASE.replace("via = \"127.0.1.2\"", "via = \"127.0.1.9\""),
        10,
        "routes[0].via",
        "127.0.1.9 is not a neighbour",
    );
    refused(
        d,
        &BASE.replace("0.0.0.0/0", "0.0.0.0/40"),
        9,
        "routes[0].prefix",
        "from 0 to 32",
    );
    refused(
        d,
        &format!("{BASE}\n[sandbox]\nfuel_per_evaluation = 0\n"),
        13,
        "sandbox.fuel_per_evaluation",
        "at least 1",
    );
    refused(
        d,
        &BASE.replace(
            "listen = \"127.0.0.1:4001\"",
            "listen = \"127.0.0.1:4001\"\npin = [\"nowhere.wasm\"]",
        ),
        3,
        "pin[0]",
        "nowhere.wasm",
    );
}

#[test]
fn check_validates_pinned_modules() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    // Imports outside the node API: refused at load, so `--check` refuses it.
    let hostile = wat::parse_str(
        r#"(module (import "wasi" "fd_write" (func)) (memory (export "memory") 1)
             (func (export "ants_evaluate") (result i32) i32.const 0))"#,
    )
    .unwrap();
    std::fs::write(d.join("hostile.wasm"), hostile).unwrap();
    let forward = capsule("forward");
    let text = BASE.replace(
        "listen = \"127.0.0.1:4001\"",
        &format!(
            "listen = \"127.0.0.1:4001\"\npin = [\n  \"{}\",\n  \"hostile.wasm\",\n]",
            forward.display()
        ),
    );
    refused(d, &text, 5, "pin[1]", "forbidden import `wasi::fd_write`");

    let text = BASE.replace(
        "listen = \"127.0.0.1:4001\"",
        &format!(
            "listen = \"127.0.0.1:4001\"\npin = [\"{}\"]",
            forward.display()
        ),
    );
    std::fs::write(d.join("ok.toml"), &text).unwrap();
    let (code, out) = check(&d.join("ok.toml"));
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("1 pinned modules"), "{out}");
}

#[test]
fn missing_file_is_an_error() {
    let (code, out) = check(Path::new("/nonexistent/ants/r1.toml"));
    assert_eq!(code, 1);
    assert!(
        out.starts_with("/nonexistent/ants/r1.toml: cannot read the configuration file"),
        "{out}"
    );
}

#[test]
fn the_daemon_refuses_to_start_with_a_bad_file() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("r1.toml");
    std::fs::write(
        &path,
        BASE.replace("via = \"127.0.1.2\"", "via = \"127.0.1.9\""),
    )
    .unwrap();
    let out = Command::new(ANTSD)
        .arg("--config")
        .arg(&path)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains(&format!("{}:10:", path.display())) && err.contains("`routes[0].via`"),
        "{err}"
    );
}
