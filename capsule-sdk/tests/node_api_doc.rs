//! Keeps `docs/node-api.md` and `capsule_sdk::abi` in agreement: the import table, the status
//! code table, and the WAT example (which must be a module a node accepts).

use ants_router::sandbox::{LoadError, ModuleShape, SandboxLimits};
use capsule_sdk::abi::{self, ValType, status};

fn doc() -> String {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../docs/node-api.md");
    std::fs::read_to_string(path).expect("docs/node-api.md is readable")
}

/// Cells of the markdown table rows whose first cell starts with `first_prefix`.
fn rows(doc: &str, first_prefix: &str) -> Vec<Vec<String>> {
    doc.lines()
        .filter(|l| l.starts_with("| "))
        .map(|l| {
            l.trim_matches('|')
                .split(" | ")
                .map(|c| c.trim().to_string())
                .collect::<Vec<_>>()
        })
        .filter(|cells| cells[0].starts_with(first_prefix))
        .collect()
}

fn wat_example(doc: &str) -> String {
    let start = doc.find("```wat\n").expect("a ```wat block") + "```wat\n".len();
    let len = doc[start..].find("```").expect("closed ```wat block");
    doc[start..start + len].to_string()
}

fn signature(params: &[ValType], result: ValType) -> String {
    let name = |t: &ValType| match t {
        ValType::I32 => "i32",
        ValType::I64 => "i64",
    };
    let p: Vec<&str> = params.iter().map(name).collect();
    format!("`({}) -> {}`", p.join(" "), name(&result))
}

#[test]
fn import_table_matches_abi() {
    let doc = doc();
    let table: Vec<(String, String)> = rows(&doc, "`")
        .into_iter()
        .filter(|r| r.len() == 4 && r[1].contains("->"))
        .map(|r| (r[0].trim_matches('`').to_string(), r[1].clone()))
        .collect();
    let want: Vec<(String, String)> = abi::IMPORTS
        .iter()
        .map(|i| (i.name.to_string(), signature(i.params, i.result)))
        .collect();
    assert_eq!(table, want);
}

#[test]
fn every_import_has_a_description() {
    let doc = doc();
    for i in abi::IMPORTS {
        assert!(
            doc.contains(&format!("**`{}(", i.name)),
            "no section describes {}",
            i.name
        );
    }
}

#[test]
fn status_table_matches_abi() {
    let doc = doc();
    let table: Vec<(i32, String)> = rows(&doc, "-")
        .into_iter()
        .filter_map(|r| Some((r[0].parse().ok()?, r[1].trim_matches('`').to_string())))
        .collect();
    let want = [
        (status::BAD_POINTER, "BAD_POINTER"),
        (status::BAD_ARGUMENT, "BAD_ARGUMENT"),
        (status::NOT_FOUND, "NOT_FOUND"),
        (status::NO_ROUTE, "NO_ROUTE"),
        (status::BUDGET_EXCEEDED, "BUDGET_EXCEEDED"),
        (status::QUOTA_EXCEEDED, "QUOTA_EXCEEDED"),
        (status::TOO_MANY_EFFECTS, "TOO_MANY_EFFECTS"),
        (status::RATE_LIMITED, "RATE_LIMITED"),
        (status::UNKNOWN_NEIGHBOUR, "UNKNOWN_NEIGHBOUR"),
        (status::TOO_LARGE, "TOO_LARGE"),
        (status::STORE_FULL, "STORE_FULL"),
        (status::OUT_OF_FUEL, "OUT_OF_FUEL"),
    ];
    let want: Vec<(i32, String)> = want.iter().map(|(c, n)| (*c, n.to_string())).collect();
    assert_eq!(table, want);
}

#[test]
fn send_flags_match_abi() {
    let doc = doc();
    let flags: Vec<(String, String)> = rows(&doc, "`")
        .into_iter()
        .filter(|r| r.len() == 3)
        .map(|r| (r[0].clone(), r[1].trim_matches('`').to_string()))
        .collect();
    assert_eq!(
        flags,
        [
            (
                format!("`{}`", abi::SEND_VIA_NEIGHBOUR),
                "VIA_NEIGHBOUR".to_string()
            ),
            (
                format!("`{}`", abi::SEND_SOURCE_SELF),
                "SOURCE_SELF".to_string()
            ),
        ]
    );
}

#[test]
fn wat_example_is_an_acceptable_module() {
    let bytes = wat::parse_str(wat_example(&doc())).expect("the WAT example parses");
    let shape = ModuleShape::read(&bytes);
    assert_eq!(
        shape.problems(&SandboxLimits::default()),
        Vec::<LoadError>::new()
    );
    assert_eq!(shape.imports.len(), 6);
}

/// The node's own inspector (what `ants inspect` and the `check_module` example print) names
/// every rule the document states.
#[test]
fn checker_rejects_what_the_document_forbids() {
    let bad = wat::parse_str(
        r#"(module
            (import "env" "abort" (func))
            (import "ants_v1" "log" (func (param i32 i32) (result i32)))
            (import "ants_v1" "fd_write" (func))
            (func $s)
            (start $s))"#,
    )
    .unwrap();
    let problems: Vec<String> = ModuleShape::read(&bad)
        .problems(&SandboxLimits::default())
        .iter()
        .map(|p| format!("{}: {p}", p.name()))
        .collect();
    let expect = [
        "forbidden_import: forbidden import `env::abort`",
        "import_signature: import `ants_v1::log`",
        "forbidden_import: forbidden import `ants_v1::fd_write`",
        "start_function",
        "missing_export: missing or wrong export `memory`",
        "missing_export: missing or wrong export `ants_evaluate`",
    ];
    assert_eq!(problems.len(), expect.len(), "{problems:?}");
    for (p, e) in problems.iter().zip(expect) {
        assert!(p.starts_with(e), "{p:?} should start with {e:?}");
    }
}
