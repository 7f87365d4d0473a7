//! How to build an emulator ([`EmulatorOptions`] and the defaults it falls back on) and why
//! building one or adding an application fails ([`EmulatorError`]).
//!
//! Values only: it never builds or runs anything (see the `emulator` module).

use std::time::Duration;

use ants_router::node::{DemandLimits, NodeError};
use ants_router::sandbox::{LoadError, SandboxLimits};

use crate::apps::AppError;

/// Virtual time one compilation takes on a node unless the file or the caller says otherwise:
/// the measured baseline (Winch) compile in a router's driver for the 12.5 KB forward capsule
/// (6.7 ms median, `docs/benchmarks.md`, "the first capsule over 4 hops per tier"). Real
/// routers compile every protocol's first code with it; the optimizing tier comes later, in
/// the background, and the emulator does not model it.
pub const DEFAULT_COMPILE_DELAY: Duration = Duration::from_millis(7);

/// Default length of the link-load measurement period: the one every driver shares
/// ([`ants_router::routing::LINK_LOAD_WINDOW`]), so a capsule sees the same rates on a real
/// router as in the emulator.
pub const DEFAULT_LOAD_WINDOW: Duration = ants_router::routing::LINK_LOAD_WINDOW;

/// Capsule log lines kept for the report (all are counted).
pub const MAX_LOGS: usize = 200;

/// How to run a topology. `Default` runs the file's applications with its seed and settings.
#[derive(Clone, Debug)]
pub struct EmulatorOptions {
    /// Seed of the link losses; `None` takes the topology's.
    pub seed: Option<u64>,
    /// Virtual time of one compilation; `None` takes the file's, else
    /// [`DEFAULT_COMPILE_DELAY`].
    pub compile_delay: Option<Duration>,
    /// Length of the link-load measurement period: a node sees the queue now and the drops
    /// and rates of the last complete period.
    pub load_window: Duration,
    /// Sandbox limits of every node (one shared engine).
    pub sandbox: SandboxLimits,
    /// Demand-loading limits of every node-core node.
    pub demand: DemandLimits,
    /// Largest budget an arriving capsule keeps on every node; `None` takes the file's
    /// `[emulator] max_budget`, else the node default (64).
    pub max_budget: Option<u16>,
    /// Whether to start the applications the topology lists.
    pub start_apps: bool,
}

impl Default for EmulatorOptions {
    fn default() -> Self {
        EmulatorOptions {
            seed: None,
            compile_delay: None,
            load_window: DEFAULT_LOAD_WINDOW,
            // Virtual time: CPU is bounded by fuel alone, so that a run never depends on how
            // busy the machine is (the wall-clock backstop is for real routers).
            sandbox: SandboxLimits {
                max_evaluation_time: Duration::from_secs(3600),
                // One compiler, so that fuel and reports never depend on when a tier-up lands.
                tier_up_after: 0,
                ..SandboxLimits::default()
            },
            demand: DemandLimits::default(),
            max_budget: None,
            start_apps: true,
        }
    }
}

/// Why an emulator could not be built or an application added.
#[derive(Debug, thiserror::Error)]
pub enum EmulatorError {
    /// The shared sandbox engine could not be configured.
    #[error("the sandbox engine could not be set up: {0}")]
    Sandbox(LoadError),
    /// A node core refused its configuration.
    #[error("node `{node}`: {error}")]
    Node {
        /// The node.
        node: String,
        /// Why.
        error: NodeError,
    },
    /// A node configuration named another node's address.
    #[error("node `{node}` has another address than {address}")]
    NotItsAddress {
        /// The node.
        node: String,
        /// The configuration's address.
        address: std::net::IpAddr,
    },
    /// A network described node by node could not be made into a topology.
    #[error("the network is not a valid topology: {0}")]
    Topology(#[from] ants_topology::model::TopologyError),
    /// Applications run only on hosts and active routers.
    #[error(
        "node `{0}` runs no node core (a legacy router, or no such node): it cannot run applications"
    )]
    NoNodeCore(String),
    /// An application failed to start.
    #[error("application `{app}` on node `{node}`: {error}")]
    App {
        /// The node.
        node: String,
        /// The application's name.
        app: String,
        /// Why.
        error: Box<AppError>,
    },
}
