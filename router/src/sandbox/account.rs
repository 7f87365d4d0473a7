//! What each protocol has cost the sandbox, kept across the lives of its instances.
//!
//! Owns [`ProtocolCounters`] (evaluations, fuel, CPU time, stops by reason, dropped log lines,
//! host-call errors, instantiations of one protocol) and [`Accounts`], the bounded table that
//! keeps them, and each protocol's log bucket, while instances come and go. An instance is
//! thrown away after a trap, so anything an attacker could reset by trapping (the log rate
//! above all) must live here, keyed by the protocol, not in the instance. Bookkeeping only:
//! it never decides whether a capsule runs.

use std::num::NonZeroUsize;

use lru::LruCache;
use serde::ser::{Serialize, SerializeMap, Serializer};

use super::error::EvalError;
use super::host::LogBucket;
use crate::fingerprint::Fingerprint;

/// Evaluations that ended abnormally, by [`EvalError`] name. Serializes as a map of the
/// nonzero counts.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct StopCounters([u64; EvalError::NAMES.len()]);

impl StopCounters {
    /// Counts one stop.
    pub fn add(&mut self, e: EvalError) {
        self.0[e.index()] += 1;
    }

    /// Stops counted under `e`'s name.
    pub fn get(&self, e: EvalError) -> u64 {
        self.0[e.index()]
    }

    /// All stops.
    pub fn total(&self) -> u64 {
        self.0.iter().sum()
    }

    /// `(name, count)` of every reason counted at least once.
    pub fn nonzero(&self) -> impl Iterator<Item = (&'static str, u64)> + '_ {
        EvalError::NAMES
            .iter()
            .zip(self.0)
            .filter(|(_, n)| *n > 0)
            .map(|(name, n)| (*name, n))
    }

    fn merge(&mut self, other: &StopCounters) {
        for (a, b) in self.0.iter_mut().zip(other.0) {
            *a += b;
        }
    }
}

impl Serialize for StopCounters {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut map = serializer.serialize_map(None)?;
        for (name, n) in self.nonzero() {
            map.serialize_entry(name, &n)?;
        }
        map.end()
    }
}

/// What one protocol has cost the sandbox since the node started (or since the protocol's
/// record was last forgotten: [`Accounts`] keeps a bounded number).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Serialize)]
pub struct ProtocolCounters {
    /// Evaluations started.
    pub evaluations: u64,
    /// Evaluations that returned 0.
    pub completed: u64,
    /// Fuel burnt, host-call charges included.
    pub fuel_total: u64,
    /// Most fuel one evaluation burnt.
    pub fuel_max: u64,
    /// Wall-clock time spent evaluating, in nanoseconds (0 where the sandbox does not time
    /// evaluations, as in the emulator, whose reports must not depend on the machine).
    pub cpu_ns: u64,
    /// Longest single evaluation, in nanoseconds (0 when not timed).
    pub cpu_max_ns: u64,
    /// Evaluations stopped or failed, by reason.
    pub stops: StopCounters,
    /// Log lines dropped by the protocol's rate limit.
    pub logs_dropped: u64,
    /// Host calls answered with an error status.
    pub host_call_errors: u64,
    /// Instances created for the protocol.
    pub instantiations: u64,
}

impl ProtocolCounters {
    /// Adds `other`'s counts (maxima take the larger).
    pub fn merge(&mut self, other: &ProtocolCounters) {
        self.evaluations += other.evaluations;
        self.completed += other.completed;
        self.fuel_total += other.fuel_total;
        self.fuel_max = self.fuel_max.max(other.fuel_max);
        self.cpu_ns += other.cpu_ns;
        self.cpu_max_ns = self.cpu_max_ns.max(other.cpu_max_ns);
        self.stops.merge(&other.stops);
        self.logs_dropped += other.logs_dropped;
        self.host_call_errors += other.host_call_errors;
        self.instantiations += other.instantiations;
    }
}

/// The record of one protocol while none of its instances is live.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Account {
    pub counters: ProtocolCounters,
    /// The protocol's log bucket, handed to its next instance.
    pub log_bucket: LogBucket,
}

/// Records of the protocols without a live instance, least recently retired forgotten first.
pub(crate) struct Accounts {
    records: LruCache<Fingerprint, Account>,
}

impl Accounts {
    pub fn new(max: usize) -> Self {
        Accounts {
            records: LruCache::new(NonZeroUsize::new(max).unwrap_or(NonZeroUsize::MIN)),
        }
    }

    /// The log bucket a new instance of `fp` starts with: its protocol's, if known.
    pub fn log_bucket(&self, fp: &Fingerprint) -> Option<LogBucket> {
        self.records.peek(fp).map(|a| a.log_bucket)
    }

    /// Folds what a retiring instance counted into its protocol's record.
    pub fn retire(&mut self, fp: Fingerprint, counters: &ProtocolCounters, log_bucket: LogBucket) {
        match self.records.get_mut(&fp) {
            Some(a) => {
                a.counters.merge(counters);
                a.log_bucket = log_bucket;
            }
            None => {
                self.records.push(
                    fp,
                    Account {
                        counters: *counters,
                        log_bucket,
                    },
                );
            }
        }
    }

    /// The counters recorded for `fp` (not including a live instance's).
    pub fn counters(&self, fp: &Fingerprint) -> Option<ProtocolCounters> {
        self.records.peek(fp).map(|a| a.counters)
    }
}
