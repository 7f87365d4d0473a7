//! A topology written back as a file reads back as the same network: every example file, and
//! a network with every kind of value the writer has to spell.

use std::path::{Path, PathBuf};

use ants_topology::file::{parse, to_toml};

#[test]
fn every_example_reads_back_the_same_after_writing() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("examples");
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "toml"))
        .collect();
    files.sort();
    for file in files {
        let text = std::fs::read_to_string(&file).unwrap();
        let t = parse(&text, &file).unwrap();
        let written = to_toml(&t, &["written back"]);
        let again =
            parse(&written, &file).unwrap_or_else(|e| panic!("{}: {e}\n{written}", file.display()));
        assert_eq!(again, t, "{}:\n{written}", file.display());
        // And writing is stable.
        assert_eq!(to_toml(&again, &["written back"]), written);
    }
}

#[test]
fn odd_values_keep_their_exact_form() {
    let text = r#"
name = "odd"
seed = 9
[addressing]
nodes = "10.9.0.0/16"
[emulator]
duration = "90s"
compile_delay = "1500us"
max_budget = 300
[liveness]
hello_interval = "250ms"
[[node]]
name = "h1"
kind = "host"
groups = ["g"]
[[node]]
name = "a1"
kind = "active"
address = "10.9.7.7"
[[link]]
ends = ["h1", "a1"]
delay = "1.5ms"
bandwidth = 1500
loss = "2.5%"
queue = 3
jitter = "2ms"
reorder = "1%"
duplicate = 0.5
corrupt = "0.1%"
[[app]]
kind = "send"
node = "h1"
to = "g"
protocol = "forward"
payload_hex = "00ff0a"
[[app]]
kind = "send"
node = "a1"
to = "h1"
protocol = "forward"
payload = "hello \"you\""
[[app]]
kind = "listen"
node = "h1"
port = 7
[[event]]
at = "2s"
kind = "link_down"
link = ["a1", "h1"]
[[event]]
at = "1500ms"
kind = "node_down"
node = "a1"
[[event]]
at = "3s"
kind = "node_up"
node = "a1"
[[event]]
at = "3s"
kind = "link_up"
link = ["h1", "a1"]
[[event]]
at = "4s"
kind = "link_set"
link = ["h1", "a1"]
delay = "20ms"
loss = "1%"
bandwidth = "2Mbit"
"#;
    let origin = Path::new("odd.toml");
    let t = parse(text, origin).unwrap();
    let written = to_toml(&t, &[]);
    assert_eq!(parse(&written, origin).unwrap(), t, "{written}");
    for spelled in [
        "duration = \"90s\"",
        "compile_delay = \"1500us\"",
        "delay = \"1500us\"",
        "bandwidth = \"1500bit\"",
        "loss = 0.025",
        "payload_hex = \"00ff0a\"",
        "hello_interval = \"250ms\"",
        "kind = \"link_down\"",
        "jitter = \"2ms\"",
        "bandwidth = \"2Mbit\"",
        "duplicate = 0.5",
        "at = \"1500ms\"",
    ] {
        assert!(written.contains(spelled), "no `{spelled}` in:\n{written}");
    }
}
