//! Unit tests of the namespace commands' pure parts: the router summary, the status text,
//! application command lines and exit codes. Tests only.

use serde_json::json;

use super::status::status_text;
use super::*;

#[test]
fn router_summary_reads_the_status_document() {
    let doc = json!({
        "daemon": {},
        "node": {
            "neighbours": ["10.0.0.1", "10.0.0.3"],
            "protocols": [
                {"fingerprint": "ab", "compiled": true, "pinned": false},
                {"fingerprint": "cd", "compiled": false, "pinned": true}
            ],
            "loads": [],
            "stats": {
                "capsules_received": 4, "capsules_sent": 3, "deliveries": 1,
                "loads_completed": 1, "requests_served": 0,
                "drops": {"no_route": 2, "queue_full": 1}
            }
        }
    });
    assert_eq!(
        router_summary(&doc),
        "2 neighbours; 2 protocols (1 compiled, 1 pinned); capsules 4 in, 3 sent, 1 delivered; code loads 1 done, 0 in progress; 0 code requests served; 3 dropped"
    );
}

#[test]
fn status_text_flags_what_is_missing() {
    let doc = json!({
        "topology": "line", "prefix": "ants-line", "state_dir": "/run/ants-topo/ants-line",
        "complete": true, "healthy": false,
        "nodes": [
            {"name": "a1", "kind": "active", "namespace": "ants-line-a1",
             "namespace_present": true, "address": "10.0.0.1",
             "addresses": ["10.0.0.1/32"], "addresses_missing": [],
             "antsd": {"pid": 5, "alive": false, "log": "/x/a1.log"},
             "router": null, "router_error": null},
            {"name": "l1", "kind": "legacy", "namespace": "ants-line-l1",
             "namespace_present": false, "address": "10.0.0.2",
             "addresses": ["10.0.0.2/32"], "addresses_missing": ["10.0.0.2/32"],
             "antsd": null, "router": null, "router_error": null}
        ]
    });
    let text = status_text(&doc);
    assert!(text.contains("antsd pid 5 DEAD (log: /x/a1.log)"), "{text}");
    assert!(
        text.contains("namespace ants-line-l1 MISSING, 1 addresses MISSING, kernel router"),
        "{text}"
    );
    assert!(text.ends_with("SOME NODES ARE NOT UP\n"), "{text}");
}

#[test]
fn applications_become_commands() {
    use ants_topology::model::{AppDraft, NodeKind, TopologyBuilder};
    let mut b = TopologyBuilder::new("t");
    b.node("h1", NodeKind::Host, None)
        .node("a1", NodeKind::Active, None)
        .node("h2", NodeKind::Host, None)
        .link("h1", "a1")
        .link("a1", "h2")
        .member("g", "a1")
        .member("g", "h2");
    let ms = Duration::from_millis;
    b.app(AppDraft::Ping {
        node: "h1".into(),
        to: "h2".into(),
        count: 3,
        interval: ms(500),
        start: ms(0),
    })
    .app(AppDraft::Send {
        node: "h1".into(),
        protocol: "my.wasm".into(),
        to: "g".into(),
        count: 2,
        interval: ms(10),
        start: ms(0),
        budget: 8,
        payload: vec![0, 255],
    })
    .app(AppDraft::Listen {
        node: "h2".into(),
        port: 1,
    });
    let t = b.build().unwrap();
    let c = app_commands(&t, Path::new("/nets/t.toml"), "");
    assert_eq!(
        c,
        [
            "ants topo exec h1 -- ants ping 10.0.0.3 -c 3 --interval 0.5",
            "ants topo exec h1 -- ants send --module /nets/my.wasm --to 10.0.0.2 --budget 8 --hex '00ff'   (2 times)",
            "ants topo exec h1 -- ants send --module /nets/my.wasm --to 10.0.0.3 --budget 8 --hex '00ff'   (2 times)",
            "ants topo exec h2 -- ants listen --port 1",
        ]
    );
}

#[test]
fn exit_codes_pass_through() {
    use std::os::unix::process::ExitStatusExt as _;
    let code = |raw| {
        format!(
            "{:?}",
            exit_code_of(std::process::ExitStatus::from_raw(raw))
        )
    };
    assert_eq!(code(3 << 8), format!("{:?}", ExitCode::from(3)));
    assert_eq!(code(0), format!("{:?}", ExitCode::from(0)));
    // Killed by SIGKILL (9): 137, as a shell reports it.
    assert_eq!(code(9), format!("{:?}", ExitCode::from(137)));
}
