//! Shared pieces of the daemon tests: real `antsd` processes on loopback, each in its own
//! temporary directory, killed by a guard when the test ends (also when it fails).
//!
//! Node addresses are taken from 127.0.1.0/24 and every socket is on 127.0.0.1, so no datagram
//! of these tests can leave the host.

#![allow(dead_code)]

use std::net::{IpAddr, SocketAddr, UdpSocket};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

use ants_daemon::app::Client;
use ants_daemon::config::ConfigWriter;

/// The `antsd` binary cargo built for these tests.
pub const ANTSD: &str = env!("CARGO_BIN_EXE_antsd");
/// The `ants` binary cargo built for these tests.
pub const ANTS: &str = env!("CARGO_BIN_EXE_ants");

/// The repository root.
pub fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../..")
        .canonicalize()
        .expect("the repository root, two levels above router/daemon")
}

/// A shipped capsule's module, built by `make capsules`.
pub fn capsule(name: &str) -> PathBuf {
    let p = repo().join(format!(
        "capsules/target/wasm32-unknown-unknown/release/capsule_{name}.wasm"
    ));
    assert!(
        p.is_file(),
        "{} is missing: run `make capsules` first",
        p.display()
    );
    p
}

/// `n` distinct UDP ports free on 127.0.0.1 right now (held together while chosen, so they
/// differ; another program could still take one before the daemon binds it).
pub fn free_ports(n: usize) -> Vec<u16> {
    let sockets: Vec<UdpSocket> = (0..n)
        .map(|_| UdpSocket::bind("127.0.0.1:0").expect("bind an ephemeral port"))
        .collect();
    sockets
        .iter()
        .map(|s| s.local_addr().unwrap().port())
        .collect()
}

/// A running `antsd`, killed and reaped when dropped.
pub struct Daemon {
    pub name: String,
    pub config: PathBuf,
    pub socket: PathBuf,
    child: Option<Child>,
    log: PathBuf,
    out: PathBuf,
}

impl Daemon {
    /// Starts `antsd --config <dir>/<name>.toml` (written from `config`) and waits until its
    /// application socket answers.
    pub fn start(dir: &Path, name: &str, config: &str) -> Daemon {
        let path = dir.join(format!("{name}.toml"));
        std::fs::write(&path, config).unwrap();
        let log = dir.join(format!("{name}.log"));
        let out = dir.join(format!("{name}.out"));
        let child = Command::new(ANTSD)
            .arg("--config")
            .arg(&path)
            .env("RUST_LOG", "info")
            .stdin(Stdio::null())
            .stdout(std::fs::File::create(&out).unwrap())
            .stderr(std::fs::File::create(&log).unwrap())
            .spawn()
            .expect("start antsd");
        let mut d = Daemon {
            name: name.to_string(),
            config: path,
            socket: dir.join(format!("{name}.sock")),
            child: Some(child),
            log,
            out,
        };
        d.wait_ready();
        d
    }

    fn wait_ready(&mut self) {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            if Client::connect(&self.socket).is_ok() {
                return;
            }
            if let Some(status) = self.child.as_mut().unwrap().try_wait().unwrap() {
                panic!("{} exited with {status}:\n{}", self.name, self.log());
            }
            assert!(
                Instant::now() < deadline,
                "{} did not open {} in time:\n{}",
                self.name,
                self.socket.display(),
                self.log()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// A client connected to this daemon.
    pub fn client(&self) -> Client {
        Client::connect(&self.socket).unwrap()
    }

    /// The status document.
    pub fn status(&self) -> serde_json::Value {
        serde_json::from_str(&self.client().status().unwrap()).unwrap()
    }

    /// The process id.
    pub fn pid(&self) -> u32 {
        self.child.as_ref().unwrap().id()
    }

    /// Sends `signal` (`HUP`, `TERM`, ...) to this daemon only.
    pub fn signal(&self, signal: &str) {
        let ok = Command::new("kill")
            .arg(format!("-{signal}"))
            .arg(self.pid().to_string())
            .status()
            .unwrap()
            .success();
        assert!(ok, "kill -{signal} {} failed", self.pid());
    }

    /// Whether the process is still running.
    pub fn running(&mut self) -> bool {
        self.child.as_mut().unwrap().try_wait().unwrap().is_none()
    }

    /// Sends SIGTERM and waits (bounded) for the exit: its status and standard output.
    pub fn terminate(mut self) -> (ExitStatus, String) {
        self.signal("TERM");
        let deadline = Instant::now() + Duration::from_secs(20);
        let mut child = self.child.take().unwrap();
        loop {
            if let Some(status) = child.try_wait().unwrap() {
                return (
                    status,
                    std::fs::read_to_string(&self.out).unwrap_or_default(),
                );
            }
            if Instant::now() > deadline {
                let _ = child.kill();
                let _ = child.wait();
                panic!("{} ignored SIGTERM:\n{}", self.name, self.log());
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Its log so far.
    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// Waits (bounded) until `cond` holds, polling.
pub fn eventually(what: &str, timeout: Duration, mut cond: impl FnMut() -> bool) {
    let deadline = Instant::now() + timeout;
    while !cond() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// The configuration text of node `i` (1-based) of a chain r1 - r2 - ... - rN whose nodes
/// listen on `ports`, with application sockets in `dir` and `pins` pinned. Every node maps
/// every other node, and routes to the nodes on either side go to its left or right neighbour.
pub fn chain_config(dir: &Path, ports: &[u16], i: usize, pins: &[PathBuf]) -> String {
    chain_writer(dir, ports, i, pins).to_toml()
}

/// The writer of [`chain_config`], for a test to add to before it writes the text.
pub fn chain_writer(dir: &Path, ports: &[u16], i: usize, pins: &[PathBuf]) -> ConfigWriter {
    let addr = |k: usize| IpAddr::from([127, 0, 1, k as u8]);
    let socket = |k: usize| SocketAddr::from(([127, 0, 0, 1], ports[k - 1]));
    let n = ports.len();
    let mut c = ConfigWriter::new(addr(i));
    c.listen(socket(i))
        .app_socket(dir.join(format!("r{i}.sock")));
    for pin in pins {
        c.pin(pin);
    }
    let neighbours: Vec<usize> = [i.checked_sub(1), Some(i + 1)]
        .into_iter()
        .flatten()
        .filter(|k| (1..=n).contains(k))
        .collect();
    for k in &neighbours {
        c.neighbour(addr(*k), socket(*k));
    }
    for k in (1..=n).filter(|k| *k != i && !neighbours.contains(k)) {
        c.peer(addr(k), socket(k));
    }
    for k in (1..=n).filter(|k| *k != i) {
        let via = if k < i { i - 1 } else { i + 1 };
        c.route(addr(k), 32, addr(via));
    }
    c
}

/// Runs `ants` with `args`: exit status, stdout, stderr.
pub fn ants(args: &[&str]) -> (ExitStatus, String, String) {
    let out = Command::new(ANTS).args(args).output().expect("run ants");
    (
        out.status,
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}
