//! The `ants` CLI and the application endpoint against one real `antsd`, and the daemon's
//! signals: SIGHUP reloads (keeping the old configuration when the new one is bad), SIGTERM
//! stops with final counters.

mod daemon_support;

use std::net::IpAddr;
use std::time::Duration;

use ants_daemon::app::{ClientError, ErrorReason};
use ants_router::fingerprint::Fingerprint;
use daemon_support::{Daemon, ants, capsule, eventually, free_ports};

fn single(dir: &std::path::Path, port: u16) -> String {
    ants_daemon::config::ConfigWriter::new([127, 0, 1, 1].into())
        .listen(([127, 0, 0, 1], port).into())
        .app_socket(dir.join("r1.sock"))
        .to_toml()
}

#[test]
fn inspect_prints_fingerprint_structure_and_verdict() {
    let ping = capsule("ping");
    let bytes = std::fs::read(&ping).unwrap();
    let (status, out, err) = ants(&["inspect", ping.to_str().unwrap()]);
    assert!(status.success(), "{out}{err}");
    let fp = Fingerprint::sha256(&bytes).to_string();
    assert!(out.contains(&format!("fingerprint  {fp}\n")), "{out}");
    assert!(
        out.contains(&format!("size         {} (", bytes.len())),
        "{out}"
    );
    assert!(
        out.contains("ants_v1::send func (i32 i32 i32 i32 i32 i32) -> (i32)"),
        "{out}"
    );
    assert!(out.contains("ants_evaluate func () -> (i32)"), "{out}");
    assert!(out.contains("verdict      accepted"), "{out}");

    let (status, out, _) = ants(&["inspect", "--json", ping.to_str().unwrap()]);
    assert!(status.success());
    let doc: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(doc["fingerprint"], fp);
    assert_eq!(doc["valid"], true);
    assert_eq!(doc["size"], bytes.len());

    // A module reaching outside the node API is refused, and says why.
    let dir = tempfile::tempdir().unwrap();
    let bad = dir.path().join("bad.wasm");
    std::fs::write(
        &bad,
        wat::parse_str(
            r#"(module (import "env" "clock" (func (result i64))) (memory (export "memory") 1))"#,
        )
        .unwrap(),
    )
    .unwrap();
    let (status, out, _) = ants(&["inspect", bad.to_str().unwrap()]);
    assert_eq!(status.code(), Some(1), "{out}");
    assert!(out.contains("env::clock func () -> (i64)"), "{out}");
    assert!(out.contains("refused (forbidden_import)"), "{out}");

    let (status, _, err) = ants(&["inspect", "/nonexistent/m.wasm"]);
    assert_eq!(status.code(), Some(1));
    assert!(
        err.contains("cannot read module /nonexistent/m.wasm"),
        "{err}"
    );
}

#[test]
fn application_endpoint_register_send_listen_status() {
    let dir = tempfile::tempdir().unwrap();
    let port = free_ports(1)[0];
    let node = Daemon::start(dir.path(), "r1", &single(dir.path(), port));
    let me: IpAddr = "127.0.1.1".parse().unwrap();
    let forward = std::fs::read(capsule("forward")).unwrap();

    let mut app = node.client();
    let fp = app.register(&forward).unwrap();
    assert_eq!(fp, Fingerprint::sha256(&forward));
    app.listen(1).unwrap();

    // One port, one application.
    let mut other = node.client();
    match other.listen(1) {
        Err(ClientError::Refused { reason, .. }) => assert_eq!(reason, ErrorReason::PortInUse),
        r => panic!("second listener on port 1: {r:?}"),
    }

    // A capsule to this very node is evaluated here and delivered on port 1. The first one
    // may wait for its compilation.
    app.send(fp, me, 4, b"to myself").unwrap();
    let d = app
        .next_delivery(Some(Duration::from_secs(60)))
        .unwrap()
        .unwrap_or_else(|| panic!("no delivery\n{}", node.log()));
    assert_eq!(
        (d.port, d.source, d.fingerprint, d.payload.as_slice()),
        (1, me, fp, &b"to myself"[..])
    );

    // Refusals are typed.
    let unknown = Fingerprint::sha256(b"never registered");
    for (result, want) in [
        (app.send(unknown, me, 4, b"x"), ErrorReason::UnknownProtocol),
        (app.send(fp, me, 0, b"x"), ErrorReason::ZeroBudget),
        (
            app.send(fp, me, 4, &[0; 5000]),
            ErrorReason::PayloadTooLarge,
        ),
        (
            app.register(b"not wasm").map(|_| ()),
            ErrorReason::ModuleRefused,
        ),
    ] {
        match result {
            Err(ClientError::Refused { reason, message }) => {
                assert_eq!(reason, want, "{message}");
                assert!(!message.is_empty());
            }
            r => panic!("want {want:?}, got {r:?}"),
        }
    }

    // The listener's connection closes: the port is free, and deliveries to it are counted.
    drop(app);
    eventually("port 1 freed", Duration::from_secs(10), || {
        other.listen(1).is_ok()
    });
    drop(other);
    let mut sender = node.client();
    eventually("no listener on port 1", Duration::from_secs(10), || {
        node.status()["daemon"]["listening_ports"] == serde_json::json!([])
    });
    sender.send(fp, me, 4, b"nobody listens").unwrap();
    eventually("no_application counted", Duration::from_secs(10), || {
        node.status()["node"]["stats"]["drops"]["no_application"] == 1
    });

    // The CLI sees the same node.
    let sock = node.socket.to_str().unwrap();
    let (status, out, err) = ants(&["status", "--socket", sock]);
    assert!(status.success(), "{err}");
    assert!(
        out.starts_with("node 127.0.1.1  listening on 127.0.0.1:"),
        "{out}"
    );
    assert!(out.contains(&format!("{fp}")), "{out}");
    assert!(out.contains("  no_application  1\n"), "{out}");
    let (status, out, _) = ants(&["status", "--socket", sock, "--json"]);
    assert!(status.success());
    let doc: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(doc["node"]["address"], "127.0.1.1");

    // `ants send` and `ants listen` together.
    let listen = std::process::Command::new(daemon_support::ANTS)
        .args([
            "listen",
            "--socket",
            sock,
            "--port",
            "1",
            "--count",
            "2",
            "--timeout",
            "30",
            "--json",
        ])
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    eventually("ants listen bound", Duration::from_secs(10), || {
        node.status()["daemon"]["listening_ports"] == serde_json::json!([1])
    });
    let fps = fp.to_string();
    let (status, out, err) = ants(&[
        "send",
        "--socket",
        sock,
        "--fingerprint",
        &fps,
        "--to",
        "127.0.1.1",
        "hello",
    ]);
    assert!(status.success(), "{out}{err}");
    assert!(
        out.contains(&format!("sent 5 bytes to 127.0.1.1 as {fps}")),
        "{out}"
    );
    let (status, _, err) = ants(&[
        "send",
        "--socket",
        sock,
        "--fingerprint",
        &fps,
        "--to",
        "127.0.1.1",
        "--hex",
        "00ff",
    ]);
    assert!(status.success(), "{err}");
    let out = listen.wait_with_output().unwrap();
    assert!(out.status.success());
    let lines: Vec<serde_json::Value> = String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len(), 2);
    assert_eq!(lines[0]["payload_hex"], hex::encode("hello"));
    assert_eq!(lines[1]["payload_hex"], "00ff");
    assert_eq!(lines[1]["source"], "127.0.1.1");

    // An unknown fingerprint is refused with the node's reason, and exit status 1.
    let (status, _, err) = ants(&[
        "send",
        "--socket",
        sock,
        "--fingerprint",
        &unknown.to_string(),
        "--to",
        "127.0.1.1",
        "x",
    ]);
    assert_eq!(status.code(), Some(1));
    assert!(err.contains("not registered on this node"), "{err}");

    // A paced stream: `--count` capsules at `--rate`, on an absolute schedule; each one is
    // delivered (nobody listens on port 1 now, so each counts as `no_application`).
    let before = node.status()["node"]["stats"]["drops"]["no_application"]
        .as_u64()
        .unwrap();
    let (status, out, err) = ants(&[
        "send",
        "--socket",
        sock,
        "--fingerprint",
        &fps,
        "--to",
        "127.0.1.1",
        "--count",
        "20",
        "--rate",
        "100",
        "tick",
    ]);
    assert!(status.success(), "{out}{err}");
    assert!(
        out.starts_with("sent 20 capsules of 4 bytes to 127.0.1.1"),
        "{out}"
    );
    // 19 gaps of 10 ms: at least 0.19 s.
    let secs: f64 = out
        .split(" in ")
        .nth(1)
        .unwrap()
        .split(' ')
        .next()
        .unwrap()
        .parse()
        .unwrap();
    assert!(secs >= 0.18, "{out}");
    eventually("20 more deliveries", Duration::from_secs(10), || {
        node.status()["node"]["stats"]["drops"]["no_application"].as_u64() == Some(before + 20)
    });
    let (status, _, err) = ants(&[
        "send",
        "--socket",
        sock,
        "--fingerprint",
        &fps,
        "--to",
        "127.0.1.1",
        "--rate",
        "0",
        "x",
    ]);
    assert_eq!(status.code(), Some(1));
    assert!(err.contains("--rate 0"), "{err}");

    // No daemon there.
    let (status, _, err) = ants(&["status", "--socket", "/nonexistent/antsd.sock"]);
    assert_eq!(status.code(), Some(1));
    assert!(
        err.contains("cannot connect to the daemon at /nonexistent/antsd.sock"),
        "{err}"
    );
}

#[test]
fn sighup_reloads_and_keeps_running_on_a_bad_file_sigterm_stops() {
    let dir = tempfile::tempdir().unwrap();
    let ports = free_ports(2);
    let base = single(dir.path(), ports[0]);
    let mut node = Daemon::start(dir.path(), "r1", &base);
    assert_eq!(node.status()["node"]["neighbours"], serde_json::json!([]));

    // A broken file: logged, and the running configuration stays.
    std::fs::write(&node.config, format!("{base}bogus = 1\n")).unwrap();
    node.signal("HUP");
    eventually("the refusal logged", Duration::from_secs(10), || {
        node.log().contains("reload refused")
    });
    assert!(
        node.log().contains("unknown field `bogus`"),
        "{}",
        node.log()
    );
    assert!(node.running());
    assert_eq!(node.status()["daemon"]["stats"]["reloads"], 0);

    // A valid one: a new neighbour, its socket and a route through it apply at once.
    let new = format!(
        "{base}[[neighbours]]\naddress = \"127.0.1.2\"\nsocket = \"127.0.0.1:{}\"\n\n\
         [[routes]]\nprefix = \"127.0.2.0/24\"\nvia = \"127.0.1.2\"\n",
        ports[1]
    );
    std::fs::write(&node.config, new).unwrap();
    node.signal("HUP");
    eventually("the reload applied", Duration::from_secs(10), || {
        node.status()["daemon"]["stats"]["reloads"] == 1
    });
    let st = node.status();
    assert_eq!(st["node"]["neighbours"], serde_json::json!(["127.0.1.2"]));
    assert_eq!(
        st["daemon"]["peers"],
        serde_json::json!([{"node": "127.0.1.2", "socket": format!("127.0.0.1:{}", ports[1])}])
    );

    // The new route is used: a capsule toward 127.0.2.7 leaves for the neighbour's socket.
    let peer = std::net::UdpSocket::bind(("127.0.0.1", ports[1])).unwrap();
    peer.set_read_timeout(Some(Duration::from_secs(30)))
        .unwrap();
    let mut app = node.client();
    let fp = app
        .register(&std::fs::read(capsule("forward")).unwrap())
        .unwrap();
    eventually("forward compiled", Duration::from_secs(60), || {
        node.status()["node"]["protocols"][0]["compiled"] == true
    });
    app.send(fp, "127.0.2.7".parse().unwrap(), 4, b"via the new route")
        .unwrap();
    let mut buf = [0u8; 2048];
    let (n, _) = peer
        .recv_from(&mut buf)
        .expect("capsule sent to the new neighbour");
    assert_eq!(&buf[..2], b"AN", "a capsule frame");
    assert!(buf[..n].ends_with(b"via the new route"));

    let socket = node.socket.clone();
    let (status, out) = node.terminate();
    assert!(status.success(), "{status}");
    assert!(out.contains("antsd stopped; final counters:"), "{out}");
    let counter =
        |name: &str, value: &str| out.lines().any(|l| l.split_whitespace().eq([name, value]));
    assert!(counter("capsules_injected", "1"), "{out}");
    assert!(counter("reloads", "1"), "{out}");
    assert!(!socket.exists(), "application socket removed on exit");
}
