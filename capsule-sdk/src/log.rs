//! Layer 2: logging through the node, and the `error!` .. `trace!` macros.
//!
//! Owns [`Level`], [`log`] and the formatting into a fixed stack buffer. It must never
//! allocate: it also serves the panic handler, which may run after the heap is exhausted.
//! Messages longer than [`MAX_LOG_LEN`] bytes are truncated here, on a character boundary,
//! exactly where the node would cut them.

use core::fmt::{self, Write};

pub use crate::abi::Level;
use crate::abi::MAX_LOG_LEN;
use crate::{Error, sys};

/// Logs `msg` at `level`. [`Error::RateLimited`] means the node dropped it.
pub fn log(level: Level, msg: &str) -> Result<(), Error> {
    // SAFETY: `msg` is readable for its length.
    Error::check(unsafe { sys::log(level as i32, msg.as_ptr(), msg.len()) })?;
    Ok(())
}

/// Formats `args` (truncated to [`MAX_LOG_LEN`] bytes) and logs the result at `level`.
pub fn log_fmt(level: Level, args: fmt::Arguments<'_>) -> Result<(), Error> {
    match args.as_str() {
        Some(s) => log(level, s),
        None => {
            let mut buf = Truncating::new();
            // `Truncating` never fails; a `Display` impl that errors just ends the message.
            let _ = buf.write_fmt(args);
            log(level, buf.as_str())
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
        core::str::from_utf8(&self.buf[..self.len]).unwrap_or("")
    }
}

impl Write for Truncating {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        let room = MAX_LOG_LEN - self.len;
        let mut take = s.len().min(room);
        while !s.is_char_boundary(take) {
            take -= 1;
        }
        self.buf[self.len..self.len + take].copy_from_slice(&s.as_bytes()[..take]);
        self.len += take;
        Ok(())
    }
}

/// Logs at a [`Level`](crate::log::Level) with `format!` syntax; the node's answer is ignored.
#[macro_export]
macro_rules! log_at {
    ($level:expr, $($arg:tt)+) => {{
        let _ = $crate::log::log_fmt($level, ::core::format_args!($($arg)+));
    }};
}

/// Logs an error message (`format!` syntax).
#[macro_export]
macro_rules! error {
    ($($arg:tt)+) => { $crate::log_at!($crate::log::Level::Error, $($arg)+) };
}

/// Logs a warning (`format!` syntax).
#[macro_export]
macro_rules! warn {
    ($($arg:tt)+) => { $crate::log_at!($crate::log::Level::Warn, $($arg)+) };
}

/// Logs an informational message (`format!` syntax).
#[macro_export]
macro_rules! info {
    ($($arg:tt)+) => { $crate::log_at!($crate::log::Level::Info, $($arg)+) };
}

/// Logs a debug message (`format!` syntax).
#[macro_export]
macro_rules! debug {
    ($($arg:tt)+) => { $crate::log_at!($crate::log::Level::Debug, $($arg)+) };
}

/// Logs a trace message (`format!` syntax).
#[macro_export]
macro_rules! trace {
    ($($arg:tt)+) => { $crate::log_at!($crate::log::Level::Trace, $($arg)+) };
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloc::string::String;

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
