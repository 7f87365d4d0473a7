//! Per-peer token buckets in node time, in a bounded table.
//!
//! Owns [`RateLimiter`]: how many code loads a peer may trigger, or how many fragments a
//! requester may be sent, per second. It never reads a clock (time is passed in) and never
//! grows past its table bound: the least recently seen peer is forgotten first, and a forgotten
//! peer starts again with a full bucket, which the bound makes a bounded gift.

use std::net::IpAddr;
use std::num::NonZeroUsize;

use lru::LruCache;

use crate::time::Timestamp;

/// One token, in the buckets' fixed-point unit (nano-tokens), so refill is exact integer math.
const UNIT: u128 = 1_000_000_000;

#[derive(Clone, Copy, Debug)]
struct Bucket {
    /// Tokens available, in nano-tokens.
    level: u128,
    /// When `level` was last brought up to date.
    at: Timestamp,
}

/// Token buckets keyed by peer address. See the module docs.
#[derive(Debug)]
pub(crate) struct RateLimiter {
    buckets: LruCache<IpAddr, Bucket>,
    /// Tokens added per second.
    rate: u32,
    /// Bucket capacity in tokens.
    burst: u32,
}

impl RateLimiter {
    /// Buckets of `burst` tokens refilled at `rate` per second, for at most `peers` peers.
    pub(crate) fn new(rate: u32, burst: u32, peers: usize) -> Self {
        RateLimiter {
            buckets: LruCache::new(NonZeroUsize::new(peers).unwrap_or(NonZeroUsize::MIN)),
            rate,
            burst,
        }
    }

    fn refilled(&self, bucket: Option<&Bucket>, now: Timestamp) -> u128 {
        let cap = u128::from(self.burst) * UNIT;
        match bucket {
            None => cap,
            Some(b) => {
                let elapsed = u128::from(now.as_nanos().saturating_sub(b.at.as_nanos()));
                // elapsed ns * rate tokens/s = elapsed * rate nano-tokens.
                b.level
                    .saturating_add(elapsed.saturating_mul(u128::from(self.rate)))
                    .min(cap)
            }
        }
    }

    /// Whether `peer` has `cost` tokens now (nothing is taken).
    pub(crate) fn allows(&self, peer: IpAddr, cost: u32, now: Timestamp) -> bool {
        self.refilled(self.buckets.peek(&peer), now) >= u128::from(cost) * UNIT
    }

    /// Takes `cost` tokens from `peer`'s bucket if it has them; false (and nothing taken)
    /// otherwise.
    pub(crate) fn take(&mut self, peer: IpAddr, cost: u32, now: Timestamp) -> bool {
        let level = self.refilled(self.buckets.peek(&peer), now);
        let cost = u128::from(cost) * UNIT;
        if level < cost {
            // Remember the refill so far; the peer is still the most recently seen.
            self.buckets.put(peer, Bucket { level, at: now });
            return false;
        }
        self.buckets.put(
            peer,
            Bucket {
                level: level - cost,
                at: now,
            },
        );
        true
    }

    /// Peers currently tracked.
    #[cfg(test)]
    pub(crate) fn len(&self) -> usize {
        self.buckets.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(last: u8) -> IpAddr {
        IpAddr::from([10, 0, 0, last])
    }

    #[test]
    fn bursts_then_refills_at_the_rate() {
        let mut l = RateLimiter::new(10, 3, 8);
        let t0 = Timestamp::from_millis(1_000);
        assert!(l.take(ip(1), 1, t0));
        assert!(l.take(ip(1), 2, t0));
        assert!(!l.allows(ip(1), 1, t0));
        assert!(!l.take(ip(1), 1, t0));
        // Another peer has its own bucket.
        assert!(l.take(ip(2), 3, t0));
        // 10 per second: one token after 100 ms, not before.
        assert!(!l.take(ip(1), 1, Timestamp::from_millis(1_099)));
        assert!(l.take(ip(1), 1, Timestamp::from_millis(1_100)));
        // Never more than the burst, however long the wait.
        let later = Timestamp::from_millis(100_000);
        assert!(!l.take(ip(1), 4, later));
        assert!(l.take(ip(1), 3, later));
    }

    #[test]
    fn the_table_stays_bounded() {
        let mut l = RateLimiter::new(1, 1, 4);
        for i in 0..100 {
            l.take(ip(i), 1, Timestamp::ZERO);
        }
        assert_eq!(l.len(), 4);
    }

    #[test]
    fn a_zero_burst_allows_nothing() {
        let mut l = RateLimiter::new(100, 0, 4);
        assert!(!l.take(ip(1), 1, Timestamp::from_millis(5_000)));
        assert!(l.take(ip(1), 0, Timestamp::ZERO));
    }
}
