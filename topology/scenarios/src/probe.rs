//! [`Probe`]: how a scenario reads back what its applications recorded.
//!
//! Owns the one shared, typed handle between an application (which lives inside the emulator,
//! boxed, out of the scenario's reach) and the scenario that added it: the application writes
//! its log through the handle, the scenario reads a copy whenever it likes. No JSON round trip,
//! so the scenario sees exactly the values the application recorded.
//!
//! It never spans threads (the emulator runs one thread) and never lends a borrow out: every
//! access is a closure, so no borrow outlives the call that made it.

use std::cell::RefCell;
use std::rc::Rc;

use serde::Serialize;
use serde_json::Value;

/// A shared, typed log: the application keeps one clone and writes, the scenario keeps another
/// and reads.
#[derive(Debug, Default)]
pub struct Probe<T>(Rc<RefCell<T>>);

impl<T> Clone for Probe<T> {
    fn clone(&self) -> Self {
        Probe(Rc::clone(&self.0))
    }
}

impl<T: Default> Probe<T> {
    /// A probe of an empty log.
    pub fn new() -> Self {
        Probe::with(T::default())
    }
}

impl<T> Probe<T> {
    /// A probe of `log`.
    pub fn with(log: T) -> Self {
        Probe(Rc::new(RefCell::new(log)))
    }

    /// Reads the log.
    pub fn read<R>(&self, f: impl FnOnce(&T) -> R) -> R {
        f(&self.0.borrow())
    }

    /// Changes the log (the application's side). `f` must not touch this probe again.
    pub fn update<R>(&self, f: impl FnOnce(&mut T) -> R) -> R {
        f(&mut self.0.borrow_mut())
    }
}

impl<T: Clone> Probe<T> {
    /// A copy of the log now.
    pub fn snapshot(&self) -> T {
        self.read(T::clone)
    }
}

impl<T: Serialize> Probe<T> {
    /// The log as JSON (what an application reports), `null` if it cannot be written so.
    pub fn to_json(&self) -> Value {
        self.read(|log| serde_json::to_value(log))
            .unwrap_or(Value::Null)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn both_ends_see_one_log() {
        let app: Probe<Vec<u32>> = Probe::new();
        let scenario = app.clone();
        app.update(|l| l.push(7));
        assert_eq!(scenario.snapshot(), vec![7]);
        assert_eq!(scenario.read(Vec::len), 1);
    }
}
