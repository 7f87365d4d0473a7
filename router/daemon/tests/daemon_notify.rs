//! `antsd` under a service manager: with `NOTIFY_SOCKET` naming a datagram socket of the test
//! and `WATCHDOG_USEC` set, it sends `READY=1`, pings the watchdog from its loop, says
//! `RELOADING=1` then `READY=1` around a SIGHUP and `STOPPING=1` on SIGTERM.
//!
//! Everything is on loopback and in a temporary directory; the daemon is killed and reaped
//! when the test ends, also when it fails.

use std::os::unix::net::UnixDatagram;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use ants_daemon::config::{ConfigWriter, DriverLimits};

/// Kills and reaps the daemon if the test did not.
struct Guard(Option<Child>);

impl Drop for Guard {
    fn drop(&mut self) {
        if let Some(mut child) = self.0.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

fn signal(child: &Child, signal: libc::c_int) {
    // SAFETY: kill has no memory preconditions; the pid is our own live child.
    let rc = unsafe { libc::kill(child.id() as libc::pid_t, signal) };
    assert_eq!(rc, 0, "kill({}, {signal})", child.id());
}

/// The next notification, at most `within` from now.
fn next(manager: &UnixDatagram, within: Duration, log: &Path) -> String {
    manager.set_read_timeout(Some(within)).unwrap();
    let mut buf = [0u8; 512];
    match manager.recv(&mut buf) {
        Ok(n) => String::from_utf8_lossy(&buf[..n]).into_owned(),
        Err(e) => panic!(
            "no notification within {within:?} ({e}); antsd's log:\n{}",
            std::fs::read_to_string(log).unwrap_or_default()
        ),
    }
}

/// Reads notifications until one starts with `state`, skipping watchdog pings; returns how
/// many pings it skipped. Bounded by `within`.
fn wait_for(manager: &UnixDatagram, state: &str, within: Duration, log: &Path) -> usize {
    let end = Instant::now() + within;
    let mut pings = 0;
    loop {
        let left = end.saturating_duration_since(Instant::now());
        assert!(!left.is_zero(), "no {state} within {within:?}");
        let message = next(manager, left, log);
        if message.starts_with(state) {
            return pings;
        }
        assert_eq!(
            message, "WATCHDOG=1",
            "unexpected notification while waiting for {state}"
        );
        pings += 1;
    }
}

#[test]
fn ready_watchdog_reload_and_stopping_reach_the_manager() {
    let dir = tempfile::tempdir().unwrap();
    let notify = dir.path().join("notify.sock");
    let manager = UnixDatagram::bind(&notify).unwrap();
    let config = dir.path().join("r1.toml");
    let mut writer = ConfigWriter::new("127.0.1.1".parse().unwrap());
    writer
        .listen("127.0.0.1:0".parse().unwrap())
        .app_socket(dir.path().join("r1.sock"))
        .driver(&DriverLimits {
            code_store: None,
            ..DriverLimits::default()
        });
    std::fs::write(&config, writer.to_toml()).unwrap();
    let log = dir.path().join("antsd.log");

    let child = Command::new(env!("CARGO_BIN_EXE_antsd"))
        .arg("--config")
        .arg(&config)
        .env("NOTIFY_SOCKET", &notify)
        // A ping every 100 ms.
        .env("WATCHDOG_USEC", "200000")
        .env_remove("WATCHDOG_PID")
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(&log).unwrap())
        .spawn()
        .unwrap();
    let mut guard = Guard(Some(child));
    let within = Duration::from_secs(20);

    assert!(next(&manager, within, &log).starts_with("READY=1"));
    // An idle loop still pings: its timer includes the watchdog.
    for _ in 0..2 {
        assert_eq!(next(&manager, Duration::from_secs(5), &log), "WATCHDOG=1");
    }

    signal(guard.0.as_ref().unwrap(), libc::SIGHUP);
    wait_for(&manager, "RELOADING=1", within, &log);
    wait_for(&manager, "READY=1", within, &log);

    signal(guard.0.as_ref().unwrap(), libc::SIGTERM);
    wait_for(&manager, "STOPPING=1", within, &log);
    let mut child = guard.0.take().unwrap();
    let end = Instant::now() + within;
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if Instant::now() >= end {
            let _ = child.kill();
            let _ = child.wait();
            panic!("antsd did not exit after SIGTERM");
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    assert!(status.success(), "antsd exited with {status}");
}
