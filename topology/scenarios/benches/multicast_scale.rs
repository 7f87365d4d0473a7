//! Multicast at emulator scale, the design bar "1,000 nodes, multicast to 500 receivers, in
//! seconds, deterministic by seed".
//!
//! The network is [`Hierarchy::SCALE`]: the source behind an active router, a legacy core
//! ring, 5 active aggregation routers and 50 active edge routers (two legacy routers between
//! every two active tiers), 10 member and 9 other hosts per edge: 1,026 nodes, 500 members.
//! Every member subscribes at the start; the shipped `multicast` capsule is demand-loaded hop
//! by hop; the source sends 10 packets, 20 ms apart, from 1 s. The whole run happens twice
//! with the same seed and the two reports are compared byte for byte.
//!
//! Wall time: "build" is the topology, the routes, the emulator (one node core per host and
//! active router) and the applications; "run" is the event loop over the virtual time.
//!
//!   cargo bench -p ants-scenarios --bench multicast_scale

use std::process::ExitCode;
use std::time::{Duration, Instant};

use ants_emulator::generate::Hierarchy;
use ants_router::time::Timestamp;
use ants_scenarios::Scenario;
use ants_scenarios::multicast::{Burst, CAPSULE, Multicast, Plan, Report};
use ants_topology::capsules::CapsuleLocator;

const SEED: u64 = 1;

struct Measured {
    report: Report,
    json: String,
    build: Duration,
    run: Duration,
}

fn once(capsules: &CapsuleLocator, plan: &Plan) -> anyhow::Result<Measured> {
    let started = Instant::now();
    let topology = Hierarchy::SCALE.build("multicast-scale", SEED).build()?;
    let mut scenario = Multicast::new(&topology, capsules, None, plan.clone())?;
    let build = started.elapsed();
    let started = Instant::now();
    scenario
        .emulator_mut()
        .run_until(Timestamp::ZERO + plan.end());
    let run = started.elapsed();
    let report = Multicast::report(&scenario.record());
    let json = serde_json::to_string(&report)?;
    Ok(Measured {
        report,
        json,
        build,
        run,
    })
}

fn main() -> ExitCode {
    let capsules = CapsuleLocator::new(None, None);
    if !capsules.path(CAPSULE).is_ok_and(|p| p.is_file()) {
        eprintln!("the multicast capsule is not built: run `make capsules` first");
        return ExitCode::FAILURE;
    }
    let plan = Plan {
        bursts: vec![Burst {
            start: Duration::from_secs(1),
            packets: 10,
        }],
        ..Plan::default()
    };
    let runs: Vec<Measured> = match (0..2).map(|_| once(&capsules, &plan)).collect() {
        Ok(r) => r,
        Err(e) => {
            eprintln!("error: {e:#}");
            return ExitCode::FAILURE;
        }
    };

    let r = &runs[0].report;
    let n = &r.network;
    println!(
        "multicast at scale, seed {SEED}: {} nodes ({} hosts, {} active, {} legacy), {} links; {} receivers; {} packets",
        n.nodes, n.hosts, n.active, n.legacy, n.links, r.members, r.packets
    );
    println!(
        "| run | nodes | receivers | build (wall) | run (wall) | virtual time | events | events/s | every receiver every packet exactly once |"
    );
    println!("|---|---|---|---|---|---|---|---|---|");
    for (i, m) in runs.iter().enumerate() {
        let r = &m.report;
        println!(
            "| {} | {} | {} | {:.2} s | {:.2} s | {:.0} ms | {} | {:.0} | {} |",
            i + 1,
            r.network.nodes,
            r.members,
            m.build.as_secs_f64(),
            m.run.as_secs_f64(),
            r.virtual_time_ms,
            r.events,
            r.events as f64 / m.run.as_secs_f64().max(1e-9),
            if r.exactly_once { "yes" } else { "no" }
        );
    }
    let same = runs[0].json == runs[1].json;
    println!(
        "same seed, same report (JSON, {} bytes): {}",
        runs[0].json.len(),
        if same { "yes" } else { "no" }
    );
    let on_demand = r
        .code_loading
        .iter()
        .filter(|l| l.from != "registered")
        .count();
    println!(
        "data copies on the links: {} multicast versus {} with unicast fan-out ({:.1}x); the source's first link {} versus {}",
        r.totals.multicast,
        r.totals.unicast,
        r.totals.unicast as f64 / r.totals.multicast.max(1) as f64,
        r.source_link.as_ref().map_or(0, |s| s.copies.multicast),
        r.source_link.as_ref().map_or(0, |s| s.copies.unicast),
    );
    println!(
        "code demand-loaded on {on_demand} active routers; compile delay {} ms per node",
        r.compile_delay_ms
    );
    if r.exactly_once && same {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}
