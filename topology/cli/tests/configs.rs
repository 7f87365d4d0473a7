//! `ants topo configs` end to end: the files it writes for `topology/examples/line.toml` pass
//! the built `antsd --check`, with and without host mappings, neighbours use the mapped
//! sockets, and bad input is refused with a non-zero exit and a reason.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use ants_daemon::config::Config;

fn topo() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_ants-topo"))
}

/// The built `antsd`, next to `ants-topo`.
fn antsd() -> PathBuf {
    let path = topo().parent().unwrap().join("antsd");
    assert!(
        path.is_file(),
        "{} is missing: build the whole workspace first (`make build`, or `cargo build --workspace`)",
        path.display()
    );
    path
}

fn line() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples/line.toml")
}

fn configs(args: &[&str]) -> Output {
    Command::new(topo())
        .arg("configs")
        .args(args)
        .output()
        .expect("ants-topo runs")
}

/// Every node that runs a node core got a file that `antsd --check` accepts.
fn check_all(dir: &Path) {
    for node in ["h1", "a1", "a2", "h2"] {
        let file = dir.join(format!("{node}.toml"));
        let out = Command::new(antsd())
            .arg("--check")
            .arg("-c")
            .arg(&file)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "antsd --check {}: {}\n{}",
            file.display(),
            String::from_utf8_lossy(&out.stdout),
            std::fs::read_to_string(&file).unwrap_or_default()
        );
    }
    for legacy in ["l1", "l2"] {
        assert!(!dir.join(format!("{legacy}.toml")).exists());
    }
}

fn load(dir: &Path, node: &str) -> Config {
    let path = dir.join(format!("{node}.toml"));
    Config::parse(&std::fs::read_to_string(&path).unwrap(), &path).unwrap()
}

fn neighbour_socket(config: &Config, address: &str) -> SocketAddr {
    let address: std::net::IpAddr = address.parse().unwrap();
    config
        .neighbours
        .iter()
        .find(|n| n.address == address)
        .unwrap_or_else(|| panic!("no neighbour {address}"))
        .socket
}

#[test]
fn line_without_mapping_keeps_topology_addresses() {
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("out");
    let run = configs(&[line().to_str().unwrap(), "--out", out.to_str().unwrap()]);
    assert!(
        run.status.success(),
        "{}",
        String::from_utf8_lossy(&run.stderr)
    );
    let stdout = String::from_utf8_lossy(&run.stdout);
    assert!(
        stdout.contains("systemctl enable --now antsd@a1"),
        "{stdout}"
    );
    check_all(&out);
    let a1 = load(&out, "a1");
    assert_eq!(a1.listen, "10.0.0.2:3322".parse().unwrap());
    assert_eq!(
        neighbour_socket(&a1, "10.0.0.5"),
        "10.0.0.5:3322".parse().unwrap()
    );
    assert_eq!(a1.app_socket, Path::new("/run/antsd/a1.sock"));
    assert_eq!(
        a1.driver.code_store.as_deref(),
        Some(Path::new("/var/lib/antsd/a1"))
    );
}

#[test]
fn line_with_mapping_uses_the_hosts_sockets() {
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("out");
    let hosts = tmp.path().join("hosts.toml");
    std::fs::write(
        &hosts,
        "# real hosts\nh1 = \"192.0.2.1\"\na2 = \"192.0.2.3\"\n",
    )
    .unwrap();
    let run = configs(&[
        line().to_str().unwrap(),
        "--out",
        out.to_str().unwrap(),
        "--hosts",
        hosts.to_str().unwrap(),
        "--host",
        "a1=192.0.2.2:4000",
        "--host",
        "a2=192.0.2.4",
    ]);
    assert!(
        run.status.success(),
        "{}",
        String::from_utf8_lossy(&run.stderr)
    );
    check_all(&out);
    let a1 = load(&out, "a1");
    assert_eq!(a1.listen, "192.0.2.2:4000".parse().unwrap());
    // --host overrides the hosts file.
    assert_eq!(
        neighbour_socket(&a1, "10.0.0.5"),
        "192.0.2.4:3322".parse().unwrap()
    );
    assert_eq!(
        neighbour_socket(&a1, "10.0.0.1"),
        "192.0.2.1:3322".parse().unwrap()
    );
    let a2 = load(&out, "a2");
    assert_eq!(
        neighbour_socket(&a2, "10.0.0.2"),
        "192.0.2.2:4000".parse().unwrap()
    );
    // h2 is unmapped: it keeps its address; its peers name the mapped nodes it is not next to.
    assert_eq!(
        neighbour_socket(&a2, "10.0.0.6"),
        "10.0.0.6:3322".parse().unwrap()
    );
    let h2 = load(&out, "h2");
    assert_eq!(
        h2.peers.socket_for("10.0.0.1".parse().unwrap()),
        "192.0.2.1:3322".parse::<SocketAddr>().unwrap()
    );
}

fn refused(args: &[&str], reason: &str) {
    let run = configs(args);
    let stderr = String::from_utf8_lossy(&run.stderr);
    assert!(!run.status.success(), "accepted {args:?}");
    assert!(stderr.contains(reason), "{args:?}: {stderr}");
}

#[test]
fn bad_input_is_refused() {
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("out");
    let (line, out_s) = (line(), out.to_str().unwrap().to_string());
    let line = line.to_str().unwrap();
    refused(
        &[line, "--out", &out_s, "--host", "r9=192.0.2.1"],
        "no node `r9` in topology `line`",
    );
    refused(
        &[line, "--out", &out_s, "--host", "l1=192.0.2.1"],
        "runs no antsd",
    );
    refused(
        &[line, "--out", &out_s, "--host", "a1=router.example"],
        "not resolved",
    );
    refused(
        &[
            line,
            "--out",
            &out_s,
            "--host",
            "a1=192.0.2.1",
            "--host",
            "a2=192.0.2.1",
        ],
        "cannot share a socket",
    );
    assert!(!out.exists(), "refused runs wrote nothing");
    let file = tmp.path().join("file");
    std::fs::write(&file, "").unwrap();
    let under_file = file.join("out");
    refused(
        &[line, "--out", under_file.to_str().unwrap()],
        "choose a writable --out directory",
    );
    let legacy = tmp.path().join("legacy.toml");
    std::fs::write(
        &legacy,
        "name = \"legacy\"\n[[node]]\nname = \"l1\"\nkind = \"legacy\"\n[[node]]\nname = \"l2\"\nkind = \"legacy\"\n[[link]]\nends = [\"l1\", \"l2\"]\n",
    )
    .unwrap();
    refused(
        &[legacy.to_str().unwrap(), "--out", &out_s],
        "has no host or active node",
    );
}
