//! The on-disk code store across restarts of a real `antsd`: a restarted router runs the
//! code it compiled before without compiling it again; a damaged entry is refused, counted and
//! recompiled, never run.

mod daemon_support;

use std::time::Duration;

use daemon_support::{Daemon, capsule, chain_config, eventually, free_ports};
use serde_json::Value;

fn compiled(status: &Value) -> bool {
    status["node"]["protocols"]
        .as_array()
        .is_some_and(|p| p.iter().any(|p| p["compiled"] == true))
}

#[test]
fn a_restarted_router_runs_its_stored_code_and_refuses_a_damaged_entry() {
    let dir = tempfile::tempdir().unwrap();
    let ports = free_ports(2);
    let module = capsule("forward");
    let config = chain_config(dir.path(), &ports, 1, &[module]);
    let store = dir.path().join("antsd-code").join("127.0.1.1");

    // First start: compiled, and written to the store.
    let r1 = Daemon::start(dir.path(), "r1", &config);
    eventually("compiled", Duration::from_secs(30), || {
        compiled(&r1.status())
    });
    eventually("stored", Duration::from_secs(10), || {
        r1.status()["daemon"]["code_store"]["written"].as_u64() == Some(1)
    });
    r1.terminate();

    // Second start: the code is there at once, nothing compiled.
    let r1 = Daemon::start(dir.path(), "r1", &config);
    let status = r1.status();
    assert!(compiled(&status), "{status}");
    assert_eq!(status["node"]["stats"]["protocols_preloaded"], 1);
    assert_eq!(status["daemon"]["stats"]["compiles"], 0);
    assert_eq!(status["daemon"]["code_store"]["loaded"], 1);
    r1.terminate();

    // A flipped byte in the stored machine code: refused and deleted, compiled again.
    let entry = std::fs::read_dir(&store)
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| p.extension().is_some_and(|x| x == "code"))
        .unwrap();
    let mut bytes = std::fs::read(&entry).unwrap();
    let last = bytes.len() - 1;
    bytes[last] ^= 0x5a;
    std::fs::write(&entry, &bytes).unwrap();
    let r1 = Daemon::start(dir.path(), "r1", &config);
    eventually("compiled again", Duration::from_secs(30), || {
        compiled(&r1.status())
    });
    let status = r1.status();
    assert_eq!(status["daemon"]["code_store"]["rejected_corrupt"], 1);
    assert_eq!(status["node"]["stats"]["protocols_preloaded"], 0);
    assert_eq!(status["daemon"]["stats"]["compiles"], 1);
}
