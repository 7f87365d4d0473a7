//! The progress line of long steps on stderr: rewritten in place on a terminal, one line per
//! finished step otherwise.
//!
//! Output only: it never runs a command or decides anything.

use std::io::{self, IsTerminal as _, Write as _};

/// Progress of long steps on stderr: `[ 37/120] namespaces`, rewritten in place on a terminal,
/// one line per finished step otherwise.
pub struct Progress {
    mode: Mode,
    open: bool,
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Mode {
    Quiet,
    Lines,
    Terminal,
}

impl Progress {
    /// Progress on stderr, in place if stderr is a terminal.
    pub fn stderr() -> Progress {
        let mode = if io::stderr().is_terminal() {
            Mode::Terminal
        } else {
            Mode::Lines
        };
        Progress { mode, open: false }
    }

    /// No output.
    pub fn quiet() -> Progress {
        Progress {
            mode: Mode::Quiet,
            open: false,
        }
    }

    /// `done` of `total` items of step `what` are finished.
    pub fn update(&mut self, what: &str, done: usize, total: usize) {
        let width = total.to_string().len();
        let line = format!("[{done:>width$}/{total}] {what}");
        let mut err = io::stderr().lock();
        match self.mode {
            Mode::Quiet => {}
            Mode::Lines => {
                if done == total {
                    let _ = writeln!(err, "{line}");
                }
            }
            Mode::Terminal => {
                let _ = write!(err, "\r\x1b[2K{line}");
                self.open = done != total;
                if done == total {
                    let _ = writeln!(err);
                }
                let _ = err.flush();
            }
        }
    }

    /// Ends a line left open by an interrupted step, so the next message starts clean.
    pub fn interrupt(&mut self) {
        if self.open {
            let _ = writeln!(io::stderr());
            self.open = false;
        }
    }
}
