//! What every limits type of the node shares: the error of a value out of its bounds, and the
//! file form of durations.
//!
//! Each limits type ([`CodeCacheLimits`](crate::softstore::CodeCacheLimits),
//! [`StateLimits`](crate::softstore::StateLimits), `SandboxLimits`, `DemandLimits`,
//! `CpuShareLimits`, and `NodeConfig` over them) owns its defaults, its minimums and its
//! `validate()`, and reads and writes itself with serde under the names the daemon's
//! configuration file uses (durations as whole milliseconds in a key ending in `_ms`). So the
//! daemon's file, the emulator and any program that builds a node check the same bounds.
//!
//! Nothing here enforces a limit at run time: the caches, the sandbox and the node do.

use std::fmt;
use std::time::Duration;

/// The bound a value broke.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Bound {
    /// The value must be at least this.
    AtLeast(u64),
    /// The value must be at most this.
    AtMost(u64),
}

impl fmt::Display for Bound {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Bound::AtLeast(min) => write!(f, "must be at least {min}"),
            Bound::AtMost(max) => write!(f, "must be at most {max}"),
        }
    }
}

/// A limit outside the range in which a node stays useful (zero fuel, zero workers...).
///
/// Names the field as the configuration file does (`sandbox.fuel_per_evaluation`,
/// `state.max_ttl_ms`), its value (durations in milliseconds) and the bound it broke.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[error("`{}` is {value}: {bound}", self.path())]
pub struct LimitError {
    /// The section of the configuration file (`sandbox`); empty for a top-level key.
    pub section: &'static str,
    /// The key within the section (`fuel_per_evaluation`).
    pub field: &'static str,
    /// The value given, in the key's unit.
    pub value: u64,
    /// The bound it broke.
    pub bound: Bound,
}

impl LimitError {
    /// The field as a path from the top of the configuration file (`sandbox.fuel_per_evaluation`).
    pub fn path(&self) -> String {
        if self.section.is_empty() {
            self.field.to_string()
        } else {
            format!("{}.{}", self.section, self.field)
        }
    }
}

/// Checks the fields of one section, in order, so that the first broken bound is reported;
/// for limits types outside this crate too (the daemon's driver).
#[derive(Debug)]
pub struct Check {
    section: &'static str,
}

impl Check {
    /// Checks of the fields of `section` (empty for top-level keys).
    pub fn section(section: &'static str) -> Check {
        Check { section }
    }

    /// `value` must be at least `min`.
    pub fn at_least(
        &self,
        field: &'static str,
        value: impl TryInto<u64>,
        min: u64,
    ) -> Result<&Self, LimitError> {
        let value = value.try_into().unwrap_or(u64::MAX);
        if value < min {
            return Err(self.error(field, value, Bound::AtLeast(min)));
        }
        Ok(self)
    }

    /// `value` must be at most `max`.
    pub fn at_most(
        &self,
        field: &'static str,
        value: impl TryInto<u64>,
        max: u64,
    ) -> Result<&Self, LimitError> {
        let value = value.try_into().unwrap_or(u64::MAX);
        if value > max {
            return Err(self.error(field, value, Bound::AtMost(max)));
        }
        Ok(self)
    }

    /// A duration written in whole milliseconds must be at least `min_ms` milliseconds (a
    /// duration set from code to a fraction of a millisecond is below 1 ms).
    pub fn millis_at_least(
        &self,
        field: &'static str,
        value: Duration,
        min_ms: u64,
    ) -> Result<&Self, LimitError> {
        if value < Duration::from_millis(min_ms) {
            return Err(self.error(field, millis::of(value), Bound::AtLeast(min_ms)));
        }
        Ok(self)
    }

    fn error(&self, field: &'static str, value: u64, bound: Bound) -> LimitError {
        LimitError {
            section: self.section,
            field,
            value,
            bound,
        }
    }
}

/// Serde form of a [`Duration`] as whole milliseconds (`max_ttl_ms = 3600000`), for
/// `#[serde(with = "crate::limits::millis")]`.
pub mod millis {
    use std::time::Duration;

    use serde::{Deserialize, Deserializer, Serializer};

    /// Whole milliseconds of `d`, saturated.
    pub fn of(d: Duration) -> u64 {
        u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
    }

    /// Writes `d` as whole milliseconds.
    pub fn serialize<S: Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_u64(of(*d))
    }

    /// Reads whole milliseconds.
    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
        u64::deserialize(d).map(Duration::from_millis)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn errors_name_the_field_the_value_and_the_bound() {
        let e = Check::section("sandbox")
            .at_least("fuel_per_evaluation", 0u64, 1)
            .unwrap_err();
        assert_eq!(e.path(), "sandbox.fuel_per_evaluation");
        assert_eq!(e.bound.to_string(), "must be at least 1");
        assert_eq!(
            e.to_string(),
            "`sandbox.fuel_per_evaluation` is 0: must be at least 1"
        );
        let e = Check::section("").at_most("busy", 101u8, 100).unwrap_err();
        assert_eq!(e.to_string(), "`busy` is 101: must be at most 100");
        let e = Check::section("state")
            .millis_at_least("max_ttl_ms", Duration::from_micros(500), 1)
            .unwrap_err();
        assert_eq!(e.value, 0);
        assert!(Check::section("x").at_least("y", usize::MAX, 1).is_ok());
    }
}
