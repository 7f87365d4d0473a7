//! `ants topo scenario congestion --netns`: the congestion scenario on real `antsd` daemons in
//! network namespaces, made into the same [`Record`] and report as in the emulator.
//!
//! Owns a run in namespaces: bring the topology up under a prefix, run the scenario's own
//! sender and receiver on the daemons in real time ([`crate::live`]), read the bottleneck's
//! counters from the daemon at its sending end, and take everything down again, also when the
//! run fails. The flow, the rate control and the report are the emulator scenario's
//! (`ants_scenarios::congestion`); only the clock and the network are real.
//!
//! The daemon at the bottleneck's sending end paces the link itself (the deployer writes the
//! link's bandwidth and queue as its neighbour's `rate` and `queue`), so the capsule there
//! reads the queue it fills, as in the emulator. Link delays need `netem`, which namespaces
//! here do without: the sender keeps the pacing of the file's round trip, so both worlds run
//! the same control.
//!
//! It never touches namespaces other than the ones its plan names under the prefix.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::{Context as _, bail};
use serde_json::Value;

use ants_daemon::app::Client;
use ants_netns::State;
use ants_netns::apply::{self, Progress, UpOptions};
use ants_netns::plan::{self, Plan};
use ants_router::time::Timestamp;
use ants_scenarios::congestion::{
    Config, CongestionSender, Counted, FlowReceiver, Network, Record, RunOn, RunStats,
};
use ants_scenarios::{Loaded, ms};
use ants_topology::model::NodeId;

use crate::live::LiveApps;

/// How long the daemons of one run get to come up.
const READY_TIMEOUT: Duration = Duration::from_secs(30);
/// How long the code gets to load along the path before a run.
const WARM_UP_LIMIT: Duration = Duration::from_secs(20);

/// Where and with what a run in namespaces happens.
#[derive(Clone, Debug)]
pub struct NetnsOptions {
    /// Namespace prefix of the runs (one topology up at a time under it).
    pub prefix: String,
    /// The `antsd` to run (default: the one next to this program, else on PATH).
    pub antsd: Option<PathBuf>,
}

/// Runs the flow with the capsule's advice and without it, each on a fresh deployment of the
/// topology `loaded` names, and records both.
pub fn run_congestion(
    loaded: Loaded,
    config: &Config,
    options: &NetnsOptions,
) -> anyhow::Result<Record> {
    apply::require_root("scenario --netns")?;
    plan::check_prefix(&options.prefix)?;
    let network = Network::new(
        loaded.file,
        loaded.topology,
        loaded.capsules,
        config.data_len,
    )?;
    let antsd = apply::find_antsd(options.antsd.as_deref())?;
    let with_advice = run_once(&network, config, true, &options.prefix, &antsd)
        .context("the run with the capsule's advice")?;
    let without_advice = run_once(&network, config, false, &options.prefix, &antsd)
        .context("the run without reactions")?;
    Ok(network.record(config, RunOn::Namespaces, with_advice, without_advice, None))
}

/// Takes a deployment down when dropped, so a failed run leaves nothing behind.
struct Deployed(State);

impl Drop for Deployed {
    fn drop(&mut self) {
        let report = apply::teardown(&self.0, &[], &mut Progress::quiet());
        for e in &report.errors {
            eprintln!("warning: taking the namespaces down: {e}");
        }
    }
}

/// Counters of one moment, summed over the daemons.
#[derive(Clone, Copy, Debug, Default)]
struct Counts {
    /// Datagrams the bottleneck's sending end dropped (queue full, or refused by the kernel)
    /// toward the neighbours behind the bottleneck.
    bottleneck_drops: u64,
    /// Datagrams it sent over the bottleneck.
    bottleneck_packets: u64,
    /// Queue drops and refused sends toward every neighbour of every daemon.
    all_drops: u64,
    /// Capsules the node cores dropped, all reasons.
    capsule_drops: u64,
}

fn run_once(
    net: &Network,
    config: &Config,
    react: bool,
    prefix: &str,
    antsd: &Path,
) -> anyhow::Result<RunStats> {
    let topology = &net.topology;
    let plan = Plan::new(
        topology,
        &net.routes,
        prefix,
        &plan::default_state_dir(prefix),
    )?;
    let options = UpOptions {
        antsd: antsd.to_path_buf(),
        file: std::path::absolute(&net.file).ok(),
        ready_timeout: READY_TIMEOUT,
    };
    let up = apply::up(&plan, &options, &mut Progress::quiet())?;
    let _deployed = Deployed(up.state);
    let socket = |n: NodeId| -> anyhow::Result<&Path> {
        match &plan.nodes[n].daemon {
            Some(d) => Ok(&d.app_socket),
            None => bail!("`{}` runs no antsd", topology.nodes[n].name),
        }
    };

    warm_up(net, config, socket(net.sender)?, socket(net.receiver)?)?;

    let started = Instant::now();
    let mut apps = LiveApps::new(topology, &net.capsules);
    let stop = config.start + config.duration;
    let (sender, receiver) = net.flow(config, react);
    let received = receiver.probe();
    apps.add(net.receiver, socket(net.receiver)?, Box::new(receiver))?;
    let sent = sender.probe();
    apps.add(net.sender, socket(net.sender)?, Box::new(sender))?;

    apps.run_until(Timestamp::ZERO + config.start)?;
    let warm_up = counts(net, &plan)?;
    apps.run_until(Timestamp::ZERO + stop + config.settle)?;
    let end = counts(net, &plan)?;

    let bottleneck_drops = end.bottleneck_drops - warm_up.bottleneck_drops;
    let counted = Counted {
        bottleneck_drops,
        bottleneck_packets: end.bottleneck_packets - warm_up.bottleneck_packets,
        warm_up_drops: warm_up.bottleneck_drops,
        other_queue_drops: (end.all_drops - warm_up.all_drops) - bottleneck_drops,
        capsule_drops: end.capsule_drops,
        elapsed_ms: ms(started.elapsed()),
        events: 0,
    };
    let (s, r) = (sent.snapshot(), received.snapshot());
    Ok(RunStats::new(react, topology.seed, config, &s, &r, counted))
}

/// Loads the code along the path before the measured run: a flow of only its warm-up capsule,
/// until the receiver has it. A daemon compiles in real time (slowly in a debug build), and
/// code fragments crossing a bottleneck that the flow already fills rarely get through, so the
/// measured run starts from code in place everywhere, as the emulator's does after its
/// warm-up. Bounded by [`WARM_UP_LIMIT`].
fn warm_up(net: &Network, config: &Config, sender: &Path, receiver: &Path) -> anyhow::Result<()> {
    let mut apps = LiveApps::new(&net.topology, &net.capsules);
    let app = FlowReceiver::new(Duration::ZERO, Duration::ZERO);
    let received = app.probe();
    apps.add(net.receiver, receiver, Box::new(app))?;
    // A flow that stops where it starts sends its warm-up capsule and nothing else.
    let control = net.rate_control(config, false);
    let app = CongestionSender::new(net.receiver, control, config.start, config.start, 0);
    apps.add(net.sender, sender, Box::new(app))?;
    let step = Duration::from_millis(20);
    while !received.snapshot().warm_up {
        let now = apps.now();
        if now.saturating_duration_since(Timestamp::ZERO) >= WARM_UP_LIMIT {
            bail!(
                "the warm-up capsule did not reach `{}` within {WARM_UP_LIMIT:?}: the code did not load along the path (see the daemons' logs)",
                net.topology.nodes[net.receiver].name
            );
        }
        apps.run_until(now + step)?;
    }
    Ok(())
}

/// Reads every daemon's status and sums what [`Counts`] holds.
fn counts(net: &Network, plan: &Plan) -> anyhow::Result<Counts> {
    let topology = &net.topology;
    let from = topology
        .node_id(&net.bottleneck.from)
        .context("the bottleneck's sending end")?;
    // The neighbours the bottleneck's sending end reaches over the bottleneck.
    let behind: Vec<String> = plan::daemon_shaping(topology, &net.routes, from)
        .into_iter()
        .filter(|(_, link, _)| *link == net.bottleneck.link)
        .map(|(m, _, _)| topology.nodes[m].address.to_string())
        .collect();
    let mut c = Counts::default();
    for (node, daemon) in plan.daemons() {
        let json = Client::connect(&daemon.app_socket)
            .and_then(|mut client| client.status())
            .with_context(|| format!("status of `{}`", node.name))?;
        let doc: Value =
            serde_json::from_str(&json).with_context(|| format!("status of `{}`", node.name))?;
        let number = |v: &Value, key: &str| v[key].as_u64().unwrap_or(0);
        for link in doc["daemon"]["links"].as_array().into_iter().flatten() {
            let drops = number(link, "queue_drops") + number(link, "send_errors");
            c.all_drops += drops;
            let neighbour = link["neighbour"].as_str().unwrap_or_default();
            if node.node == from && behind.iter().any(|b| b == neighbour) {
                c.bottleneck_drops += drops;
                c.bottleneck_packets += number(link, "datagrams_sent");
            }
        }
        c.capsule_drops += doc["node"]["stats"]["drops"]
            .as_object()
            .into_iter()
            .flatten()
            .filter_map(|(_, v)| v.as_u64())
            .sum::<u64>();
    }
    Ok(c)
}
