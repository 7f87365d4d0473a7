//! Unit tests of the deployer's side that needs no root: recognising antsd, reports and log tails,
//! finding antsd. Tests only.

use std::fs;
use std::path::Path;

use super::machine::{cmdline, is_antsd_cmdline};
use super::*;

#[test]
fn antsd_command_lines_are_recognised() {
    let v = |s: &str| s.split(' ').map(String::from).collect::<Vec<_>>();
    assert!(is_antsd_cmdline(&v(
        "/x/target/debug/antsd --config a.toml"
    )));
    assert!(is_antsd_cmdline(&v("antsd -c a.toml")));
    assert!(is_antsd_cmdline(&v(
        "ip netns exec ants-line-a1 /x/antsd --config a.toml"
    )));
    assert!(!is_antsd_cmdline(&v("/usr/bin/sleep 100")));
    assert!(!is_antsd_cmdline(&v("ip netns exec ns /bin/sh")));
    assert!(!is_antsd_cmdline(&v("/x/antsd-old --config a")));
    assert!(!is_antsd_cmdline(&[]));
}

#[test]
fn this_process_is_not_an_antsd_and_a_dead_pid_is_not_alive() {
    assert!(cmdline(std::process::id()).is_some());
    assert!(!is_live_antsd(std::process::id()));
    assert!(!is_live_antsd(u32::MAX));
}

#[test]
fn reports_summarise_and_log_tails_are_short() {
    let mut r = DownReport::default();
    assert!(r.nothing());
    r.namespaces.push("p-a".into());
    r.killed.push(("antsd of a".into(), 7));
    r.errors.push("boom".into());
    let s = r.summary();
    assert!(!r.nothing());
    assert!(
        s.starts_with("1 namespace(s) deleted, 1 daemon(s) stopped (1 killed"),
        "{s}"
    );
    assert!(s.ends_with("FAILED: boom"), "{s}");

    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("x.log");
    let text: String = (0..50).map(|i| format!("line {i}\n")).collect();
    fs::write(&log, text).unwrap();
    let tail = log_tail(&log);
    assert_eq!(tail.lines().count(), LOG_TAIL_LINES);
    assert!(tail.ends_with("  line 49"));
    assert!(log_tail(&dir.path().join("none")).contains("cannot read"));
}

#[test]
fn an_explicit_antsd_must_exist() {
    let e = find_antsd(Some(Path::new("/nonexistent/antsd"))).unwrap_err();
    assert!(e.to_string().contains("--antsd /nonexistent/antsd"), "{e}");
}
