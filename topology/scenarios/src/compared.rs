//! What the two scenarios that compare modes on one network share (congestion: with and
//! without the capsule's advice; reliable multicast: local repair and end to end): the run
//! ([`Compared`]: the network, what the runs do, the seed) and its three runs ([`Runs`]: the
//! capsule's mode, the baseline, and if asked the capsule's mode again with the same seed, to
//! show a run is deterministic).
//!
//! It never decides what a mode does: each scenario's network runs one mode.

use anyhow::Context as _;

/// A scenario that runs one network in the capsule's mode and in a baseline.
#[derive(Clone, Debug)]
pub struct Compared<N, C> {
    network: N,
    config: C,
    seed: Option<u64>,
}

/// The runs of a [`Compared`] scenario.
pub(crate) struct Runs<S> {
    /// In the capsule's mode.
    pub capsule: S,
    /// In the baseline.
    pub baseline: S,
    /// In the capsule's mode again with the same seed, if asked.
    pub repeat: Option<S>,
}

impl<N, C> Compared<N, C> {
    pub(crate) fn new(network: N, config: C, seed: Option<u64>) -> Self {
        Compared {
            network,
            config,
            seed,
        }
    }

    /// The network.
    pub fn network(&self) -> &N {
        &self.network
    }

    /// What the runs do.
    pub(crate) fn config(&self) -> &C {
        &self.config
    }

    /// Runs the capsule's mode (`run` given `true`), the baseline (`false`), then the
    /// capsule's mode again if `repeat`; a failure says which run failed (`labels`, in that
    /// order).
    pub(crate) fn runs<S>(
        &self,
        repeat: bool,
        labels: [&'static str; 3],
        run: impl Fn(&N, Option<u64>, &C, bool) -> anyhow::Result<S>,
    ) -> anyhow::Result<Runs<S>> {
        let [capsule, baseline, again] = labels;
        let (net, config, seed) = (&self.network, &self.config, self.seed);
        let capsule = run(net, seed, config, true).context(capsule)?;
        let baseline = run(net, seed, config, false).context(baseline)?;
        let repeat = if repeat {
            Some(run(net, seed, config, true).context(again)?)
        } else {
            None
        };
        Ok(Runs {
            capsule,
            baseline,
            repeat,
        })
    }
}
