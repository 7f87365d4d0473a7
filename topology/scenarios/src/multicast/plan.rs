//! The plan of a multicast run: when the source sends ([`Burst`]s), and which members leave or
//! fall silent, and when.
//!
//! It never touches an emulator: a plan is data, checked before a run is built.

use std::time::Duration;

use anyhow::bail;

use super::MAX_DATA;
#[cfg(doc)]
use capsule_multicast::{MEMBER_TTL_MS, REFRESH_INTERVAL_MS};

/// Packets the source sends back to back, `Plan::interval` apart.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Burst {
    /// When the first packet leaves (virtual time since the start of the run).
    pub start: Duration,
    /// Packets in the burst.
    pub packets: u32,
}

/// What happens in a run: when the source sends, and which members leave or fall silent.
///
/// Every member subscribes at the start of the run and refreshes its subscription every
/// [`REFRESH_INTERVAL_MS`] unless it leaves or falls silent.
#[derive(Clone, Debug, PartialEq)]
pub struct Plan {
    /// The source's bursts, in time order; sequence numbers run on across bursts from 0.
    pub bursts: Vec<Burst>,
    /// Time between two packets of a burst.
    pub interval: Duration,
    /// Bytes of application data per packet (at most [`MAX_DATA`]).
    pub payload_len: usize,
    /// How long the run goes on after the last packet left.
    pub settle: Duration,
    /// Members (by node name) that send a leave at the given time.
    pub leaves: Vec<(String, Duration)>,
    /// Members (by node name) that stop refreshing their subscription from the given time on;
    /// the tree drops them [`MEMBER_TTL_MS`] after their last subscribe.
    pub silences: Vec<(String, Duration)>,
}

impl Default for Plan {
    /// 20 packets of 64 bytes, 20 ms apart, from 500 ms (the subscribes, which demand-load the
    /// code at every active hop, have reached the source by then), then 500 ms to settle.
    fn default() -> Self {
        Plan {
            bursts: vec![Burst {
                start: Duration::from_millis(500),
                packets: 20,
            }],
            interval: Duration::from_millis(20),
            payload_len: 64,
            settle: Duration::from_millis(500),
            leaves: Vec::new(),
            silences: Vec::new(),
        }
    }
}

impl Plan {
    /// Packets the source sends in all.
    pub fn packets(&self) -> u32 {
        self.bursts.iter().map(|b| b.packets).sum()
    }

    /// When the last packet leaves.
    pub fn last_packet(&self) -> Duration {
        self.bursts
            .iter()
            .map(|b| b.start + self.interval * b.packets.saturating_sub(1))
            .max()
            .unwrap_or_default()
    }

    /// When the run ends: [`Plan::settle`] after the last packet.
    pub fn end(&self) -> Duration {
        self.last_packet() + self.settle
    }

    /// Refuses plans that cannot run as written.
    pub(super) fn check(&self) -> anyhow::Result<()> {
        if self.payload_len > MAX_DATA {
            bail!(
                "payload of {} bytes: a multicast data capsule carries at most {MAX_DATA}",
                self.payload_len
            );
        }
        if self.interval.is_zero() && self.bursts.iter().any(|b| b.packets > 1) {
            bail!("the interval between packets must be more than zero");
        }
        if self.bursts.windows(2).any(|w| w[1].start < w[0].start) {
            bail!("the bursts must be in time order");
        }
        Ok(())
    }
}
