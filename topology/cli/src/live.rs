//! Applications on running daemons, in real time: the emulator's [`Application`]s, driven by
//! the wall clock, each reaching its node's `antsd` through the application socket.
//!
//! Owns one connection per application ([`DaemonNode`], the daemon side of [`AppNode`]), the
//! timers and ports each application asks for, and the loop that calls them ([`LiveApps`]).
//! Time is measured from the moment the [`LiveApps`] is made, so an application sees the same
//! timeline as in the emulator, only real.
//!
//! It never starts or stops a daemon (the deployer does) and reaches a daemon only through its
//! application socket. Applications run one at a time on the calling thread: a timer fires
//! within about [`POLL`] of its time (later on a busy machine), and its call sees the time it
//! was due, so an application that sets its next timer from there keeps its rate instead of
//! drifting by each call's lateness.

use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::net::IpAddr;
use std::path::Path;
use std::time::{Duration, Instant};

use anyhow::Context as _;

use ants_daemon::app::Client;
use ants_emulator::{
    AppContext, AppDelivery, AppError, AppNode, AppRequests, Application, Modules,
};
use ants_router::fingerprint::Fingerprint;
use ants_router::time::Timestamp;
use ants_topology::capsules::CapsuleLocator;
use ants_topology::model::{NodeId, Topology};

/// Longest the loop waits for a delivery before it looks at the timers again.
pub const POLL: Duration = Duration::from_micros(500);

/// A running `antsd`, reached through its application socket.
pub struct DaemonNode {
    client: Client,
}

impl DaemonNode {
    /// Connects to the daemon whose application socket is `socket`.
    pub fn connect(socket: &Path) -> anyhow::Result<DaemonNode> {
        Ok(DaemonNode {
            client: Client::connect(socket)?,
        })
    }
}

impl AppNode for DaemonNode {
    fn register(
        &mut self,
        _now: Timestamp,
        label: &str,
        module: Vec<u8>,
    ) -> Result<Fingerprint, AppError> {
        self.client
            .register(&module)
            .map_err(|e| AppError::Other(format!("capsule `{label}`: {e}")))
    }

    fn send_capsule(
        &mut self,
        _now: Timestamp,
        fingerprint: Fingerprint,
        destination: IpAddr,
        budget: u16,
        payload: &[u8],
    ) -> Result<(), AppError> {
        self.client
            .send(fingerprint, destination, budget, payload)
            .map_err(|e| AppError::Other(e.to_string()))
    }
}

/// One application and what it asked for.
struct Live {
    node: NodeId,
    app: Box<dyn Application>,
    host: DaemonNode,
    timers: BinaryHeap<Reverse<(Timestamp, u64)>>,
    ports: Vec<u16>,
}

/// Applications of one topology on its running daemons. See the module docs.
pub struct LiveApps<'t> {
    topology: &'t Topology,
    locator: &'t CapsuleLocator,
    modules: Modules,
    started: Instant,
    apps: Vec<Live>,
}

impl<'t> LiveApps<'t> {
    /// No applications yet; time zero is now.
    pub fn new(topology: &'t Topology, locator: &'t CapsuleLocator) -> Self {
        LiveApps {
            topology,
            locator,
            modules: Modules::default(),
            started: Instant::now(),
            apps: Vec::new(),
        }
    }

    /// Time since the start.
    pub fn now(&self) -> Timestamp {
        Timestamp::ZERO + self.started.elapsed()
    }

    /// Starts `app` on node `node`, whose daemon's application socket is `socket`.
    pub fn add(
        &mut self,
        node: NodeId,
        socket: &Path,
        app: Box<dyn Application>,
    ) -> anyhow::Result<()> {
        let host = DaemonNode::connect(socket)?;
        self.apps.push(Live {
            node,
            app,
            host,
            timers: BinaryHeap::new(),
            ports: Vec::new(),
        });
        let index = self.apps.len() - 1;
        let name = self.apps[index].app.name();
        self.call(index, self.now(), |app, ctx| app.start(ctx))?
            .with_context(|| format!("{name} did not start"))
    }

    /// Calls application `index` with a context, then keeps the timers it set and listens on
    /// the ports it asked for.
    fn call<R>(
        &mut self,
        index: usize,
        now: Timestamp,
        f: impl FnOnce(&mut dyn Application, &mut AppContext<'_>) -> R,
    ) -> anyhow::Result<R> {
        let live = &mut self.apps[index];
        let mut requests = AppRequests::default();
        let result = {
            let mut ctx = AppContext::new(
                now,
                live.node,
                self.topology,
                &mut live.host,
                &mut self.modules,
                self.locator,
                &mut requests,
            );
            f(live.app.as_mut(), &mut ctx)
        };
        live.timers.extend(requests.timers.into_iter().map(Reverse));
        for port in requests.ports {
            if !live.ports.contains(&port) {
                live.host
                    .client
                    .listen(port)
                    .with_context(|| format!("{}: listen on port {port}", live.app.name()))?;
                live.ports.push(port);
            }
        }
        Ok(result)
    }

    /// Runs every application until `until` (time since the start): timers when they are due,
    /// deliveries as they arrive.
    pub fn run_until(&mut self, until: Timestamp) -> anyhow::Result<()> {
        loop {
            let now = self.now();
            if now >= until {
                return Ok(());
            }
            for i in 0..self.apps.len() {
                while let Some(&Reverse((at, token))) = self.apps[i].timers.peek() {
                    if at > self.now() {
                        break;
                    }
                    self.apps[i].timers.pop();
                    self.call(i, at, |app, ctx| app.on_timer(ctx, token))?;
                }
            }
            // Wait for deliveries no longer than until the next timer, split among the apps.
            let next = self
                .apps
                .iter()
                .filter_map(|a| a.timers.peek().map(|Reverse((at, _))| *at))
                .min()
                .unwrap_or(until)
                .min(until);
            let left = next.saturating_duration_since(self.now());
            let slice =
                (left.min(POLL) / self.apps.len().max(1) as u32).max(Duration::from_micros(20));
            // Every delivery already waiting, then at most `slice` for the next one.
            for i in 0..self.apps.len() {
                if self.apps[i].ports.is_empty() {
                    continue;
                }
                let mut wait = slice;
                while let Some(d) = self.apps[i]
                    .host
                    .client
                    .next_delivery(Some(wait))
                    .with_context(|| format!("{}: deliveries", self.apps[i].app.name()))?
                {
                    let now = self.now();
                    let delivery = AppDelivery {
                        at: now,
                        port: d.port,
                        source: d.source,
                        fingerprint: d.fingerprint,
                        payload: d.payload,
                    };
                    self.call(i, now, |app, ctx| app.on_delivery(ctx, &delivery))?;
                    wait = Duration::from_micros(1);
                }
            }
            if self.apps.iter().all(|a| a.ports.is_empty()) {
                std::thread::sleep(left.min(POLL));
            }
        }
    }
}
