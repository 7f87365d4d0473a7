//! The topology file's JSON Schema: `topology/schema.json` is what the reader's types generate,
//! every example file validates against it (and parses), and the mistakes an editor should
//! flag are flagged.
//!
//! After changing the file format, write the schema again with
//! `ANTS_WRITE_SCHEMA=1 cargo test -p ants-topology --test schema`.

use std::path::{Path, PathBuf};

use serde_json::Value;

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).to_path_buf()
}

/// A topology file's text as the JSON document the schema describes.
fn as_json(text: &str) -> Value {
    let toml: toml::Value = toml::from_str(text).unwrap();
    serde_json::to_value(toml).unwrap()
}

fn validator() -> jsonschema::Validator {
    jsonschema::validator_for(&ants_topology::file::schema()).expect("a valid JSON Schema")
}

#[test]
fn the_committed_schema_is_the_generated_one() {
    let path = root().join("schema.json");
    let generated = serde_json::to_string_pretty(&ants_topology::file::schema()).unwrap() + "\n";
    if std::env::var_os("ANTS_WRITE_SCHEMA").is_some() {
        std::fs::write(&path, &generated).unwrap();
    }
    let committed = std::fs::read_to_string(&path).unwrap_or_default();
    assert!(
        committed == generated,
        "{} is not what the reader's types generate: write it again with \
         `ANTS_WRITE_SCHEMA=1 cargo test -p ants-topology --test schema`",
        path.display()
    );
}

#[test]
fn every_example_file_validates_and_parses() {
    let validator = validator();
    let mut files: Vec<PathBuf> = std::fs::read_dir(root().join("examples"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "toml"))
        .collect();
    files.sort();
    assert!(files.len() >= 8, "{files:?}");
    for file in files {
        let text = std::fs::read_to_string(&file).unwrap();
        let errors: Vec<String> = validator
            .iter_errors(&as_json(&text))
            .map(|e| format!("{} at {}", e, e.instance_path()))
            .collect();
        assert!(errors.is_empty(), "{}: {errors:#?}", file.display());
        ants_topology::file::parse(&text, &file)
            .unwrap_or_else(|e| panic!("{}: {e}", file.display()));
    }
}

#[test]
fn mistakes_an_editor_should_flag_are_flagged() {
    let validator = validator();
    let base = "[[node]]\nname = \"a\"\nkind = \"host\"\n";
    for (text, what) in [
        ("nmae = \"x\"\n", "an unknown top-level key"),
        (
            "[[node]]\nname = \"a\"\nkind = \"router\"\n",
            "an unknown node kind",
        ),
        (
            "[[node]]\nname = \"a\"\nkind = \"host\"\ncolour = 1\n",
            "an unknown node key",
        ),
        (
            "[[link]]\nends = [\"a\", \"b\", \"c\"]\n",
            "a link with three ends",
        ),
        (
            "[[link]]\nends = [\"a\", \"b\"]\ndelay = 5\n",
            "a delay without a unit",
        ),
        (
            "[[link]]\nends = [\"a\", \"b\"]\nbandwidth = \"10MB\"\n",
            "a bandwidth in bytes",
        ),
        ("[defaults.link]\nloss = 2.5\n", "a loss probability over 1"),
        ("[defaults.link]\nqueue = 0\n", "an empty queue"),
        (
            "[addressing]\nnodes = \"10.0.0.0\"\n",
            "a prefix without a length",
        ),
        (
            "[[app]]\nkind = \"shout\"\nnode = \"a\"\n",
            "an unknown application",
        ),
        (
            "[liveness]\nhello_interval = \"fast\"\n",
            "an interval that is no duration",
        ),
    ] {
        let doc = as_json(&format!("{base}{text}"));
        assert!(!validator.is_valid(&doc), "not flagged: {what}\n{text}");
    }
    // And what the reader accepts in its other spellings is accepted.
    for text in [
        "[defaults.link]\nbandwidth = 1000000\nloss = 0.01\ndelay = \"1.5 ms\"\n",
        "[defaults.link]\nbandwidth = \"1.5Gbit/s\"\nloss = \"2.5 %\"\ndelay = \"500us\"\n",
        "[emulator]\nduration = \"2min\"\nmax_budget = 4096\n",
    ] {
        let doc = as_json(&format!("{base}{text}"));
        let errors: Vec<String> = validator.iter_errors(&doc).map(|e| e.to_string()).collect();
        assert!(errors.is_empty(), "{text}: {errors:?}");
    }
}
