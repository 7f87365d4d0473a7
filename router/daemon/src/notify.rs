//! The service manager's notification protocol (systemd's `sd_notify`), written by hand: one
//! datagram per state change on the Unix socket named by `$NOTIFY_SOCKET` (a path, or an
//! abstract name when it starts with `@`), and the watchdog period from `$WATCHDOG_USEC`.
//!
//! Owns reading those variables and sending `READY=1`, `RELOADING=1`, `STOPPING=1` and
//! `WATCHDOG=1`. It never fails the daemon: a missing variable turns it off silently, a bad one
//! is logged once and turns that part off, and a send that fails is logged at debug level and
//! forgotten. When to send is the caller's (the driver's loop pings the watchdog, so a stuck
//! loop stops pinging).

use std::ffi::OsStr;
use std::os::unix::ffi::OsStrExt as _;
use std::os::unix::net::{SocketAddr, UnixDatagram};
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

/// A handle to the service manager's notification socket; does nothing when there is none.
/// Cheap to clone (the signal handler and the driver share one socket).
#[derive(Clone, Debug, Default)]
pub struct Notifier {
    target: Option<Arc<(UnixDatagram, SocketAddr)>>,
    watchdog: Option<Duration>,
}

impl Notifier {
    /// A notifier that sends nothing.
    pub fn disabled() -> Notifier {
        Notifier::default()
    }

    /// From `$NOTIFY_SOCKET`, `$WATCHDOG_USEC` and `$WATCHDOG_PID` of this process.
    pub fn from_env() -> Notifier {
        let var = std::env::var_os;
        Notifier::from_vars(
            var("NOTIFY_SOCKET").as_deref(),
            var("WATCHDOG_USEC").as_deref(),
            var("WATCHDOG_PID").as_deref(),
            std::process::id(),
        )
    }

    /// From the given variable values (`None`: unset), for the process `pid`: the watchdog
    /// is on only when `WATCHDOG_PID` is unset or names `pid` (the manager may mean another
    /// process of the service).
    pub fn from_vars(
        notify_socket: Option<&OsStr>,
        watchdog_usec: Option<&OsStr>,
        watchdog_pid: Option<&OsStr>,
        pid: u32,
    ) -> Notifier {
        let target = notify_socket.and_then(|name| match connect(name) {
            Ok(target) => Some(Arc::new(target)),
            Err(reason) => {
                tracing::warn!(
                    "NOTIFY_SOCKET={} ignored, no readiness notifications: {reason}",
                    name.to_string_lossy()
                );
                None
            }
        });
        let for_us = watchdog_pid.is_none_or(|p| p.to_str() == Some(&pid.to_string()));
        // Without a socket a watchdog could not be pinged.
        let watchdog = match watchdog_usec {
            Some(text) if for_us && target.is_some() => {
                match text.to_str().and_then(|t| t.parse::<u64>().ok()) {
                    Some(usec) if usec > 0 => Some(Duration::from_micros(usec)),
                    _ => {
                        tracing::warn!(
                            "WATCHDOG_USEC={} ignored: not a positive number of microseconds",
                            text.to_string_lossy()
                        );
                        None
                    }
                }
            }
            _ => None,
        };
        Notifier { target, watchdog }
    }

    /// Whether a notification socket is in use.
    pub fn is_enabled(&self) -> bool {
        self.target.is_some()
    }

    /// How often to ping the watchdog: half the manager's timeout, as `sd_watchdog_enabled`
    /// advises; `None` when there is no watchdog.
    pub fn watchdog_interval(&self) -> Option<Duration> {
        self.watchdog.map(|w| w / 2)
    }

    /// `READY=1`: started (sockets bound, pins loaded), or done reloading.
    pub fn ready(&self) {
        self.send("READY=1\nSTATUS=running");
    }

    /// `RELOADING=1`: re-reading the configuration; [`Notifier::ready`] follows.
    pub fn reloading(&self) {
        self.send("RELOADING=1\nSTATUS=reloading the configuration");
    }

    /// `STOPPING=1`: shutting down.
    pub fn stopping(&self) {
        self.send("STOPPING=1\nSTATUS=stopping");
    }

    /// `WATCHDOG=1`: the loop is alive.
    pub fn watchdog(&self) {
        self.send("WATCHDOG=1");
    }

    /// Sends one message (newline-separated `KEY=VALUE` lines); failures are not fatal.
    pub fn send(&self, message: &str) {
        if let Some(target) = &self.target {
            let (socket, addr) = &**target;
            if let Err(e) = socket.send_to_addr(message.as_bytes(), addr) {
                tracing::debug!("notification `{message}` not sent: {e}");
            }
        }
    }
}

/// An unbound datagram socket and the manager's address.
fn connect(name: &OsStr) -> Result<(UnixDatagram, SocketAddr), String> {
    let bytes = name.as_bytes();
    let addr = match bytes.first() {
        None => return Err("it is empty".into()),
        Some(b'@') => {
            use std::os::linux::net::SocketAddrExt as _;
            SocketAddr::from_abstract_name(&bytes[1..]).map_err(|e| e.to_string())?
        }
        Some(b'/') => SocketAddr::from_pathname(Path::new(name)).map_err(|e| e.to_string())?,
        Some(_) => {
            return Err("it must be an absolute path or start with `@` (abstract name)".into());
        }
    };
    let socket = UnixDatagram::unbound().map_err(|e| e.to_string())?;
    Ok((socket, addr))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn receive(socket: &UnixDatagram) -> String {
        let mut buf = [0u8; 256];
        let n = socket.recv(&mut buf).expect("a notification arrives");
        String::from_utf8_lossy(&buf[..n]).into_owned()
    }

    fn listener(socket: &UnixDatagram) {
        socket
            .set_read_timeout(Some(Duration::from_secs(5)))
            .unwrap();
    }

    #[test]
    fn states_arrive_on_a_path_socket() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("notify.sock");
        let manager = UnixDatagram::bind(&path).unwrap();
        listener(&manager);
        let n = Notifier::from_vars(Some(path.as_os_str()), Some(OsStr::new("3000000")), None, 1);
        assert!(n.is_enabled());
        assert_eq!(n.watchdog_interval(), Some(Duration::from_millis(1500)));
        n.ready();
        n.watchdog();
        n.reloading();
        n.ready();
        n.stopping();
        assert!(receive(&manager).starts_with("READY=1\n"));
        assert_eq!(receive(&manager), "WATCHDOG=1");
        assert!(receive(&manager).starts_with("RELOADING=1\n"));
        assert!(receive(&manager).starts_with("READY=1\n"));
        assert!(receive(&manager).starts_with("STOPPING=1\n"));
    }

    #[test]
    fn abstract_names_are_used() {
        use std::os::linux::net::SocketAddrExt as _;
        let name = format!("ants-notify-test-{}", std::process::id());
        let manager =
            UnixDatagram::bind_addr(&SocketAddr::from_abstract_name(name.as_bytes()).unwrap())
                .unwrap();
        listener(&manager);
        let n = Notifier::from_vars(Some(OsStr::new(&format!("@{name}"))), None, None, 1);
        assert!(n.is_enabled());
        assert_eq!(n.watchdog_interval(), None);
        n.watchdog();
        n.ready();
        // No watchdog configured still sends what is asked: the driver decides when.
        assert_eq!(receive(&manager), "WATCHDOG=1");
        assert!(receive(&manager).starts_with("READY=1\n"));
    }

    #[test]
    fn missing_or_bad_variables_turn_it_off() {
        let off = Notifier::from_vars(None, Some(OsStr::new("1000000")), None, 1);
        assert!(!off.is_enabled());
        assert_eq!(off.watchdog_interval(), None);
        off.ready(); // sends nothing, does not fail
        assert!(
            !Notifier::from_vars(Some(OsStr::new("relative.sock")), None, None, 1).is_enabled()
        );
        assert!(!Notifier::from_vars(Some(OsStr::new("")), None, None, 1).is_enabled());

        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("n.sock");
        let _manager = UnixDatagram::bind(&path).unwrap();
        let on = |usec: &str, pid: Option<&str>| {
            Notifier::from_vars(
                Some(path.as_os_str()),
                Some(OsStr::new(usec)),
                pid.map(OsStr::new),
                42,
            )
        };
        assert_eq!(on("abc", None).watchdog_interval(), None);
        assert_eq!(on("0", None).watchdog_interval(), None);
        assert_eq!(on("1000", Some("7")).watchdog_interval(), None);
        assert_eq!(
            on("1000", Some("42")).watchdog_interval(),
            Some(Duration::from_micros(500))
        );
        // A socket nobody listens on: the send fails quietly.
        let gone = dir.path().join("gone.sock");
        Notifier::from_vars(Some(gone.as_os_str()), None, None, 1).ready();
    }
}
