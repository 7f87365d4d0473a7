//! A fair share of evaluation CPU between protocols.
//!
//! Owns [`CpuShareLimits`] and the accounting behind them: the fuel each protocol (type
//! fingerprint) burnt over a sliding window of node time. Fuel tracks CPU time within a small
//! factor for every instruction and import (`docs/node-api.md` section 6), and unlike a clock
//! it is the same on every run, so the emulator stays deterministic. When the node is busy
//! (all protocols together burnt more than `busy_percent` of the node's capacity over the
//! window), a protocol that burnt more than its share (the busy level divided by the protocols
//! active in the window) loses its capsules before evaluation, counted as
//! `cpu_share_exceeded`; protocols within their share are never refused. It only answers
//! "may this protocol run now": dropping and counting are the node's.

use std::collections::HashMap;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::fingerprint::Fingerprint;
use crate::limits::{Check, LimitError};
use crate::time::Timestamp;

/// The node's evaluation capacity and when it counts as busy; the `[cpu]` section of `antsd`'s
/// configuration (the window in milliseconds).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct CpuShareLimits {
    /// Fuel the node can burn per second on one core: about 4 G on the machines the project
    /// measures on (`cargo bench --bench host_costs`: 0.1 to 0.3 ns per unit of fuel).
    pub fuel_per_second: u64,
    /// Share of that capacity, in percent, above which the node is busy and over-share
    /// protocols are refused.
    pub busy_percent: u8,
    /// Length of the sliding window usage is measured over; written `window_ms`.
    #[serde(rename = "window_ms", with = "crate::limits::millis")]
    pub window: Duration,
}

impl CpuShareLimits {
    /// Refuses a capacity below 1 M fuel per second (a node that could hardly evaluate
    /// anything), a busy level over 100 % and a window under 1 ms.
    pub fn validate(&self) -> Result<(), LimitError> {
        Check::section("cpu")
            .at_least("fuel_per_second", self.fuel_per_second, 1_000_000)?
            .at_most("busy_percent", self.busy_percent, 100)?
            .millis_at_least("window_ms", self.window, 1)?;
        Ok(())
    }
}

impl Default for CpuShareLimits {
    fn default() -> Self {
        CpuShareLimits {
            fuel_per_second: 4_000_000_000,
            busy_percent: 25,
            window: Duration::from_millis(100),
        }
    }
}

/// Fuel burnt in the current window and the one before it.
#[derive(Clone, Copy, Debug, Default)]
struct Usage {
    current: u64,
    previous: u64,
}

impl Usage {
    /// Sliding-window estimate: all of the current window plus the part of the previous one
    /// that the window still covers.
    fn estimate(self, elapsed_permille: u64) -> u64 {
        let kept = 1000u64.saturating_sub(elapsed_permille);
        self.current
            .saturating_add(self.previous.saturating_mul(kept) / 1000)
    }

    fn roll(&mut self, windows: u64) {
        self.previous = if windows == 1 { self.current } else { 0 };
        self.current = 0;
    }
}

/// Per-protocol fuel over a sliding window, and the admission rule of the module docs.
#[derive(Debug)]
pub(crate) struct FairShare {
    limits: CpuShareLimits,
    window_start: Timestamp,
    total: Usage,
    /// Protocols that burnt fuel in the current or the previous window: bounded by the
    /// protocols with cached code, since only those are evaluated.
    protocols: HashMap<Fingerprint, Usage, foldhash::fast::RandomState>,
}

impl FairShare {
    pub fn new(limits: CpuShareLimits) -> Self {
        FairShare {
            limits: CpuShareLimits {
                window: limits.window.max(Duration::from_millis(1)),
                ..limits
            },
            window_start: Timestamp::ZERO,
            total: Usage::default(),
            protocols: HashMap::default(),
        }
    }

    /// Moves the window forward to `now`, forgetting protocols idle for two windows.
    fn advance(&mut self, now: Timestamp) -> u64 {
        let window = self.limits.window;
        let since = now.saturating_duration_since(self.window_start);
        let windows = (since.as_nanos() / window.as_nanos()) as u64;
        if windows > 0 {
            self.total.roll(windows);
            self.protocols.retain(|_, u| {
                u.roll(windows);
                u.previous > 0
            });
            self.window_start = self.window_start
                + window.saturating_mul(u32::try_from(windows).unwrap_or(u32::MAX));
        }
        let elapsed = now.saturating_duration_since(self.window_start).as_nanos();
        (elapsed * 1000 / window.as_nanos()) as u64
    }

    /// Fuel the node may burn over one window before it counts as busy.
    fn busy_level(&self) -> u64 {
        let per_window =
            u128::from(self.limits.fuel_per_second) * self.limits.window.as_nanos() / 1_000_000_000;
        u64::try_from(per_window * u128::from(self.limits.busy_percent) / 100).unwrap_or(u64::MAX)
    }

    /// Whether a capsule of `fp` may be evaluated at `now`.
    pub fn admit(&mut self, fp: &Fingerprint, now: Timestamp) -> bool {
        let elapsed = self.advance(now);
        let busy = self.busy_level();
        if self.total.estimate(elapsed) <= busy {
            return true;
        }
        let share = busy / (self.protocols.len().max(1) as u64);
        let used = self.protocols.get(fp).map_or(0, |u| u.estimate(elapsed));
        used <= share
    }

    /// Records that an evaluation of `fp` burnt `fuel` at `now`.
    pub fn charge(&mut self, fp: Fingerprint, fuel: u64, now: Timestamp) {
        self.advance(now);
        self.total.current = self.total.current.saturating_add(fuel);
        let u = self.protocols.entry(fp).or_default();
        u.current = u.current.saturating_add(fuel);
    }

    /// Fuel `fp` burnt over the window ending at the last time seen (for status).
    pub fn usage(&self, fp: &Fingerprint) -> u64 {
        self.protocols.get(fp).map_or(0, |u| u.current + u.previous)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fp(i: u8) -> Fingerprint {
        Fingerprint::sha256(&[i])
    }

    fn ms(t: u64) -> Timestamp {
        Timestamp::from_millis(t)
    }

    /// Capacity 1,000 fuel per window of 100 ms, busy above 500.
    fn share() -> FairShare {
        FairShare::new(CpuShareLimits {
            fuel_per_second: 10_000,
            busy_percent: 50,
            window: Duration::from_millis(100),
        })
    }

    #[test]
    fn an_idle_node_refuses_nobody() {
        let mut s = share();
        for t in 0..10 {
            assert!(s.admit(&fp(1), ms(t)));
            s.charge(fp(1), 50, ms(t));
        }
        assert!(
            s.admit(&fp(1), ms(10)),
            "500 used: not above the busy level"
        );
    }

    #[test]
    fn when_busy_the_hog_is_refused_and_the_modest_protocol_is_not() {
        let mut s = share();
        s.charge(fp(2), 10, ms(0));
        for t in 0..20 {
            if s.admit(&fp(1), ms(t)) {
                s.charge(fp(1), 100, ms(t));
            }
        }
        // Busy: 1,010 > 500; two protocols, a share of 250 each.
        assert!(!s.admit(&fp(1), ms(20)));
        assert!(s.admit(&fp(2), ms(20)));
        // The window slides: two windows later the hog runs again.
        assert!(s.admit(&fp(1), ms(220)));
        assert_eq!(s.usage(&fp(2)), 0, "idle protocols are forgotten");
    }

    #[test]
    fn the_previous_window_fades_out() {
        let mut s = share();
        s.charge(fp(1), 2_000, ms(50));
        assert!(!s.admit(&fp(1), ms(99)));
        // 10 % into the next window, 90 % of 2,000 still counts: refused.
        assert!(!s.admit(&fp(1), ms(110)));
        // 80 % in, 20 % = 400 counts: not busy.
        assert!(s.admit(&fp(1), ms(180)));
    }
}
