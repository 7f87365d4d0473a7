//! Layer 2: logging through the node: [`Line`], which builds a message without `core::fmt`,
//! and the `error!` .. `trace!` macros, which format with it.
//!
//! Owns [`Level`], [`log`] and the fixed stack buffer messages are built in. It must never
//! allocate: it also serves the panic handler, which may run after the heap is exhausted.
//! Messages longer than [`MAX_LOG_LEN`] bytes are truncated here, on a character boundary,
//! exactly where the node would cut them.
//!
//! Size: the macros pull in `core::fmt`, about 8 KB of module the first time a capsule uses
//! one; [`Line`] costs a few hundred bytes. The forward capsule is 3,447 bytes with [`Line`]
//! and 12,474 with one `error!` naming an address instead (measured; see "Size" in
//! `capsule-sdk/README.md`).
//!
//! | way to log | formats with | module cost |
//! | --- | --- | --- |
//! | [`log()`] | nothing: a fixed `&str` | the call only |
//! | [`Line`] | its own digits, hex and addresses | a few hundred bytes |
//! | [`error!`](crate::error!) .. [`trace!`](crate::trace!), [`log_at!`](crate::log_at!), [`log_fmt`] | `core::fmt` | about 8 KB the first time |
//!
//! Every way is bounded the same: messages are cut at [`MAX_LOG_LEN`] (256) bytes, built in a
//! stack buffer (no heap), and the node lets a protocol log 10 messages per second with bursts
//! of 20; past that it drops them and answers [`Error::RateLimited`]. A log call costs 230 fuel
//! plus 1 per 8 bytes kept (`docs/node-api.md` §6.1). Logs are never rolled back, even when
//! the evaluation fails.
//!
//! ```
//! use capsule_sdk::log::{self, Level, Line};
//! use capsule_sdk::prelude::*;
//! use capsule_sdk::testing::{FakeNode, Incoming};
//!
//! #[derive(Default)]
//! struct Chatty;
//!
//! impl Capsule for Chatty {
//!     fn evaluate(&mut self) -> Result<(), Error> {
//!         let _ = log::log(Level::Info, "fixed text");
//!         let _ = Line::new(Level::Debug).text("budget ").number(capsule::budget().into()).send();
//!         capsule_sdk::warn!("from {}", capsule::source()?);
//!         Err(Error::NoRoute) // logs stay, effects would not
//!     }
//! }
//!
//! let me = Address::from(core::net::Ipv4Addr::new(10, 0, 0, 2));
//! let mut node = FakeNode::new(me).with_capsule(Incoming::new(me, me, 3, b""));
//! assert_eq!(node.evaluate::<Chatty>(), Error::NoRoute.status());
//! let logged: Vec<(i32, &str)> = node.logs.iter().map(|l| (l.level, l.message.as_str())).collect();
//! assert_eq!(logged, [(2, "fixed text"), (3, "budget 3"), (1, "from 10.0.0.2")]);
//! ```

use core::fmt::{self, Write};

pub use crate::abi::Level;
use crate::abi::MAX_LOG_LEN;
use crate::{Error, sys};

/// Logs `msg` at `level`. [`Error::RateLimited`] means the node dropped it.
///
/// The node keeps the first 256 bytes. No formatting code at all: the cheapest way to log.
///
/// Cost: 230 fuel plus 1 per 8 bytes kept. Errors: [`Error::RateLimited`] (the protocol's
/// 10 per second, bursts of 20, are spent), [`Error::OutOfFuel`].
///
/// ```
/// use capsule_sdk::log::{Level, log};
/// use capsule_sdk::prelude::*;
/// use capsule_sdk::testing::FakeNode;
///
/// let mut node = FakeNode::new(Address::from([2; 16]));
/// node.log_allowance = 1; // the fake's stand-in for the node's rate limit
/// node.run(|| {
///     assert_eq!(log(Level::Warn, "queue full"), Ok(()));
///     assert_eq!(log(Level::Warn, "dropped"), Err(Error::RateLimited));
/// });
/// assert_eq!((node.logs[0].level, node.logs[0].message.as_str()), (1, "queue full"));
/// assert_eq!(node.logs.len(), 1);
/// ```
pub fn log(level: Level, msg: &str) -> Result<(), Error> {
    log_bytes(level, msg.as_bytes())
}

/// Logs UTF-8 text given as bytes (built here, so known to be valid).
fn log_bytes(level: Level, msg: &[u8]) -> Result<(), Error> {
    // SAFETY: `msg` is readable for its length.
    Error::check(unsafe { sys::log(level as i32, msg.as_ptr(), msg.len()) })?;
    Ok(())
}

/// Formats `args` (truncated to [`MAX_LOG_LEN`] bytes) and logs the result at `level`.
///
/// What the macros call. A message without arguments is sent as it is; any other pulls in
/// `core::fmt` (about 8 KB of module). Errors: as [`log()`].
///
/// ```
/// use capsule_sdk::log::{Level, log_fmt};
/// use capsule_sdk::prelude::*;
/// use capsule_sdk::testing::FakeNode;
///
/// let mut node = FakeNode::new(Address::from([2; 16]));
/// node.run(|| log_fmt(Level::Info, format_args!("hop {} of {}", 3, 7))).unwrap();
/// assert_eq!(node.logs[0].message, "hop 3 of 7");
/// ```
pub fn log_fmt(level: Level, args: fmt::Arguments<'_>) -> Result<(), Error> {
    match args.as_str() {
        Some(s) => log(level, s),
        None => {
            let mut buf = Truncating::new();
            // `Truncating` never fails; a `Display` impl that errors just ends the message.
            let _ = buf.write_fmt(args);
            buf.log(level)
        }
    }
}

/// A fixed buffer of [`MAX_LOG_LEN`] bytes that silently drops what does not fit.
pub(crate) struct Truncating {
    buf: [u8; MAX_LOG_LEN],
    len: usize,
}

impl Truncating {
    pub(crate) const fn new() -> Self {
        Truncating {
            buf: [0; MAX_LOG_LEN],
            len: 0,
        }
    }

    pub(crate) fn as_str(&self) -> &str {
        // Only whole characters are ever copied in, so this cannot fail.
        core::str::from_utf8(self.bytes()).unwrap_or("")
    }

    /// The text so far, as bytes (without the UTF-8 check, which costs module bytes).
    pub(crate) fn bytes(&self) -> &[u8] {
        &self.buf[..self.len]
    }

    /// Logs the text at `level`.
    pub(crate) fn log(&self, level: Level) -> Result<(), Error> {
        log_bytes(level, self.bytes())
    }
}

impl Truncating {
    /// Appends what fits of `s`, whole characters only.
    pub(crate) fn push(&mut self, s: &str) {
        let room = MAX_LOG_LEN - self.len;
        let mut take = s.len().min(room);
        while !s.is_char_boundary(take) {
            take -= 1;
        }
        self.buf[self.len..self.len + take].copy_from_slice(&s.as_bytes()[..take]);
        self.len += take;
    }

    /// Appends what fits of ASCII bytes (every byte is a whole character).
    fn push_ascii(&mut self, ascii: &[u8]) {
        let take = ascii.len().min(MAX_LOG_LEN - self.len);
        self.buf[self.len..self.len + take].copy_from_slice(&ascii[..take]);
        self.len += take;
    }

    /// Appends `n` in decimal.
    pub(crate) fn push_u64(&mut self, mut n: u64) {
        let mut digits = [0u8; 20];
        let mut at = digits.len();
        loop {
            at -= 1;
            digits[at] = b'0' + (n % 10) as u8;
            n /= 10;
            if n == 0 {
                break;
            }
        }
        self.push_ascii(&digits[at..]);
    }

    /// Appends `bytes` as lowercase hex digits.
    pub(crate) fn push_hex(&mut self, bytes: &[u8]) {
        const HEX: &[u8; 16] = b"0123456789abcdef";
        for b in bytes {
            self.push_ascii(&[HEX[usize::from(b >> 4)], HEX[usize::from(b & 15)]]);
        }
    }
}

impl Write for Truncating {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        self.push(s);
        Ok(())
    }
}

/// A log message built piece by piece without `core::fmt`, then sent at its level:
///
/// ```no_run
/// # use capsule_sdk::prelude::*;
/// # fn f(dst: Address) {
/// let _ = capsule_sdk::log::Line::new(capsule_sdk::log::Level::Error)
///     .text("forward: no route toward ")
///     .address(dst)
///     .send();
/// # }
/// ```
///
/// Like the macros it never allocates, and truncates at [`MAX_LOG_LEN`] bytes.
///
/// Size: a few hundred bytes of module, against about 8 KB for `core::fmt`: the shipped
/// forward capsule is 3,447 bytes with the `Line` above and 12,474 with
/// `error!("forward: no route toward {dst}")` (see "Size" in `capsule-sdk/README.md`).
///
/// Cost when sent: as [`log()`], 230 fuel plus 1 per 8 bytes. Building it costs only its own
/// instructions (a 256-byte buffer on the stack).
///
/// ```
/// use capsule_sdk::log::{Level, Line};
/// use capsule_sdk::prelude::*;
/// use capsule_sdk::testing::{FakeNode, Incoming};
///
/// #[derive(Default)]
/// struct Forward;
///
/// impl Capsule for Forward {
///     fn evaluate(&mut self) -> Result<(), Error> {
///         let dst = capsule::destination()?;
///         match forward() {
///             Err(Error::NoRoute) => {
///                 let _ = Line::new(Level::Error)
///                     .text("forward: no route toward ")
///                     .address(dst)
///                     .text(", budget ")
///                     .number(capsule::budget().into())
///                     .send();
///                 Err(Error::NoRoute)
///             }
///             other => other,
///         }
///     }
/// }
///
/// let me = Address::from(core::net::Ipv4Addr::new(10, 0, 0, 2));
/// let dst = Address::from(core::net::Ipv4Addr::new(10, 0, 0, 9));
/// let mut node = FakeNode::new(me).with_capsule(Incoming::new(me, dst, 5, b"x"));
/// assert_eq!(node.evaluate::<Forward>(), Error::NoRoute.status());
/// assert_eq!(node.logs[0].level, 0);
/// assert_eq!(node.logs[0].message, "forward: no route toward 10.0.0.9, budget 5");
/// ```
pub struct Line {
    level: Level,
    buf: Truncating,
}

impl Line {
    /// An empty message at `level`.
    ///
    /// ```
    /// use capsule_sdk::log::{Level, Line};
    ///
    /// assert_eq!(Line::new(Level::Info).as_str(), "");
    /// ```
    pub const fn new(level: Level) -> Self {
        Line {
            level,
            buf: Truncating::new(),
        }
    }

    /// Appends text (whole characters only: what does not fit in 256 bytes is dropped).
    ///
    /// ```
    /// use capsule_sdk::log::{Level, Line};
    ///
    /// let line = Line::new(Level::Info).text("a").text("b");
    /// assert_eq!(line.as_str(), "ab");
    /// let long = "x".repeat(300);
    /// assert_eq!(Line::new(Level::Info).text(&long).as_str().len(), 256);
    /// ```
    pub fn text(mut self, s: &str) -> Self {
        self.buf.push(s);
        self
    }

    /// Appends an unsigned number in decimal.
    ///
    /// ```
    /// use capsule_sdk::log::{Level, Line};
    ///
    /// assert_eq!(Line::new(Level::Info).number(0).text("/").number(u64::MAX).as_str(), "0/18446744073709551615");
    /// ```
    pub fn number(mut self, n: u64) -> Self {
        self.buf.push_u64(n);
        self
    }

    /// Appends a signed number in decimal.
    ///
    /// ```
    /// use capsule_sdk::log::{Level, Line};
    ///
    /// assert_eq!(Line::new(Level::Info).signed(-42).text(" ").signed(7).as_str(), "-42 7");
    /// ```
    pub fn signed(mut self, n: i64) -> Self {
        if n < 0 {
            self.buf.push("-");
        }
        self.buf.push_u64(n.unsigned_abs());
        self
    }

    /// Appends bytes as lowercase hex digits (two per byte, no separator).
    ///
    /// ```
    /// use capsule_sdk::log::{Level, Line};
    ///
    /// assert_eq!(Line::new(Level::Info).hex(&[0, 0xab, 0x10]).as_str(), "00ab10");
    /// ```
    pub fn hex(mut self, bytes: &[u8]) -> Self {
        self.buf.push_hex(bytes);
        self
    }

    /// Appends an address: dotted decimal for IPv4, eight groups of four hex digits for IPv6
    /// (not shortened, so that no formatting code is needed).
    ///
    /// ```
    /// use capsule_sdk::Address;
    /// use capsule_sdk::log::{Level, Line};
    /// use core::net::{Ipv4Addr, Ipv6Addr};
    ///
    /// let v4 = Address::from(Ipv4Addr::new(10, 0, 0, 7));
    /// assert_eq!(Line::new(Level::Info).address(v4).as_str(), "10.0.0.7");
    /// let v6 = Address::from(Ipv6Addr::new(0xfd00, 0, 0, 0, 0, 0, 0, 1));
    /// assert_eq!(
    ///     Line::new(Level::Info).address(v6).as_str(),
    ///     "fd00:0000:0000:0000:0000:0000:0000:0001"
    /// );
    /// ```
    pub fn address(mut self, a: crate::Address) -> Self {
        if a.is_ipv4() {
            for (i, octet) in a.0[12..].iter().enumerate() {
                if i > 0 {
                    self.buf.push(".");
                }
                self.buf.push_u64(u64::from(*octet));
            }
        } else {
            for (i, group) in a.0.chunks(2).enumerate() {
                if i > 0 {
                    self.buf.push(":");
                }
                self.buf.push_hex(group);
            }
        }
        self
    }

    /// The message so far (at most 256 bytes).
    ///
    /// ```
    /// use capsule_sdk::log::{Level, Line};
    ///
    /// assert_eq!(Line::new(Level::Info).text("n=").number(3).as_str(), "n=3");
    /// ```
    pub fn as_str(&self) -> &str {
        self.buf.as_str()
    }

    /// Logs the message. [`Error::RateLimited`] means the node dropped it.
    ///
    /// Cost and errors: as [`log()`].
    ///
    /// ```
    /// use capsule_sdk::log::{Level, Line};
    /// use capsule_sdk::prelude::*;
    /// use capsule_sdk::testing::FakeNode;
    ///
    /// let mut node = FakeNode::new(Address::from([2; 16]));
    /// node.run(|| Line::new(Level::Trace).text("seen ").hex(&[0xbe, 0xef]).send()).unwrap();
    /// assert_eq!((node.logs[0].level, node.logs[0].message.as_str()), (4, "seen beef"));
    /// node.log_allowance = 0;
    /// assert_eq!(node.run(|| Line::new(Level::Trace).send()), Err(Error::RateLimited));
    /// ```
    pub fn send(self) -> Result<(), Error> {
        self.buf.log(self.level)
    }
}

/// Logs at a [`Level`](crate::log::Level) with `format!` syntax; the node's answer is ignored.
///
/// Costs `core::fmt` (about 8 KB of module) unless the message has no arguments; see
/// [`Line`](crate::log::Line) for the cheap way. Truncated at 256 bytes, rate-limited
/// (dropped messages are not reported).
///
/// ```
/// use capsule_sdk::log::Level;
/// use capsule_sdk::prelude::*;
/// use capsule_sdk::testing::FakeNode;
///
/// let mut node = FakeNode::new(Address::from([2; 16]));
/// node.run(|| capsule_sdk::log_at!(Level::Debug, "{} neighbours", 3));
/// assert_eq!((node.logs[0].level, node.logs[0].message.as_str()), (3, "3 neighbours"));
/// ```
#[macro_export]
macro_rules! log_at {
    ($level:expr, $($arg:tt)+) => {{
        let _ = $crate::log::log_fmt($level, ::core::format_args!($($arg)+));
    }};
}

/// Logs an error message (`format!` syntax), level 0.
///
/// Costs `core::fmt` (about 8 KB of module) unless the message has no arguments: prefer
/// [`Line`](crate::log::Line) in a capsule meant to be small. The node's answer is ignored.
///
/// ```
/// use capsule_sdk::prelude::*;
/// use capsule_sdk::testing::FakeNode;
///
/// let mut node = FakeNode::new(Address::from([2; 16]));
/// let dst = Address::from(core::net::Ipv4Addr::new(10, 0, 0, 9));
/// node.run(|| capsule_sdk::error!("no route toward {dst}"));
/// assert_eq!((node.logs[0].level, node.logs[0].message.as_str()), (0, "no route toward 10.0.0.9"));
/// ```
#[macro_export]
macro_rules! error {
    ($($arg:tt)+) => { $crate::log_at!($crate::log::Level::Error, $($arg)+) };
}

/// Logs a warning (`format!` syntax), level 1. Costs as [`error!`](crate::error!).
///
/// ```
/// use capsule_sdk::prelude::*;
/// use capsule_sdk::testing::FakeNode;
///
/// let mut node = FakeNode::new(Address::from([2; 16]));
/// node.run(|| capsule_sdk::warn!("queue at {}%", 90));
/// assert_eq!((node.logs[0].level, node.logs[0].message.as_str()), (1, "queue at 90%"));
/// ```
#[macro_export]
macro_rules! warn {
    ($($arg:tt)+) => { $crate::log_at!($crate::log::Level::Warn, $($arg)+) };
}

/// Logs an informational message (`format!` syntax), level 2. Costs as
/// [`error!`](crate::error!).
///
/// ```
/// use capsule_sdk::prelude::*;
/// use capsule_sdk::testing::FakeNode;
///
/// let mut node = FakeNode::new(Address::from([2; 16]));
/// node.run(|| capsule_sdk::info!("joined group {}", 7));
/// assert_eq!((node.logs[0].level, node.logs[0].message.as_str()), (2, "joined group 7"));
/// ```
#[macro_export]
macro_rules! info {
    ($($arg:tt)+) => { $crate::log_at!($crate::log::Level::Info, $($arg)+) };
}

/// Logs a debug message (`format!` syntax), level 3. Costs as [`error!`](crate::error!).
///
/// ```
/// use capsule_sdk::prelude::*;
/// use capsule_sdk::testing::FakeNode;
///
/// let mut node = FakeNode::new(Address::from([2; 16]));
/// node.run(|| capsule_sdk::debug!("budget {}", 4));
/// assert_eq!((node.logs[0].level, node.logs[0].message.as_str()), (3, "budget 4"));
/// ```
#[macro_export]
macro_rules! debug {
    ($($arg:tt)+) => { $crate::log_at!($crate::log::Level::Debug, $($arg)+) };
}

/// Logs a trace message (`format!` syntax), level 4. Costs as [`error!`](crate::error!).
///
/// ```
/// use capsule_sdk::prelude::*;
/// use capsule_sdk::testing::FakeNode;
///
/// let mut node = FakeNode::new(Address::from([2; 16]));
/// node.run(|| capsule_sdk::trace!("evaluated"));
/// assert_eq!((node.logs[0].level, node.logs[0].message.as_str()), (4, "evaluated"));
/// ```
#[macro_export]
macro_rules! trace {
    ($($arg:tt)+) => { $crate::log_at!($crate::log::Level::Trace, $($arg)+) };
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloc::string::String;

    #[test]
    fn a_line_builds_numbers_and_addresses_without_fmt() {
        let v4 = crate::Address::from(core::net::Ipv4Addr::new(10, 0, 0, 7));
        let v6 = crate::Address::from(core::net::Ipv6Addr::new(0xfd00, 0, 0, 0, 0, 0, 0, 1));
        let line = Line::new(Level::Info)
            .text("to ")
            .address(v4)
            .text(" and ")
            .address(v6)
            .text(", n=")
            .number(0)
            .text("/")
            .number(u64::MAX)
            .text(", s=")
            .signed(-42)
            .text(", h=")
            .hex(&[0, 0xab]);
        assert_eq!(
            line.as_str(),
            "to 10.0.0.7 and fd00:0000:0000:0000:0000:0000:0000:0001, n=0/18446744073709551615, \
             s=-42, h=00ab"
        );
        let long: String = core::iter::repeat_n('x', MAX_LOG_LEN + 10).collect();
        assert_eq!(
            Line::new(Level::Info).text(&long).as_str().len(),
            MAX_LOG_LEN
        );
    }

    #[test]
    fn truncates_at_limit_on_char_boundary() {
        let mut t = Truncating::new();
        let long: String = core::iter::repeat_n('a', MAX_LOG_LEN - 1).collect();
        write!(t, "{long}é and more").unwrap();
        // 'é' is two bytes and only one byte of room is left: it is dropped whole.
        assert_eq!(t.as_str().len(), MAX_LOG_LEN - 1);
        assert!(t.as_str().chars().all(|c| c == 'a'));
    }

    #[test]
    fn short_messages_are_kept_whole() {
        let mut t = Truncating::new();
        write!(t, "hop {} of {}", 3, 7).unwrap();
        assert_eq!(t.as_str(), "hop 3 of 7");
    }
}
