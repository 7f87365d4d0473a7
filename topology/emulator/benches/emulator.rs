//! Emulator scale: a generated 1,000-node campus (legacy core, active edges, hosts), with
//! every host pinging and sending, and one host fanning out to 500 group members by unicast.
//!
//! Prints a table: wall time to compute routes, to build the emulator (every node core, one
//! shared engine, the capsules compiled once) and to run it until idle; events, events per
//! second of wall time, virtual time covered, deliveries, peak RSS; and whether three runs
//! gave byte-identical reports. Needs the capsules built (`make capsules`).
//!
//! ```text
//! cargo bench -p ants-emulator --bench emulator
//! ```

use std::time::{Duration, Instant};

use ants_emulator::generate::{Campus, host_name};
use ants_emulator::{Emulator, EmulatorOptions};
use ants_router::time::Timestamp;
use ants_topology::Routes;
use ants_topology::capsules::CapsuleLocator;
use ants_topology::model::{AppDraft, Topology};

const EDGES: usize = 30;
const HOSTS_PER_EDGE: usize = 32;
const CORE: usize = 10;
const RUNS: usize = 3;

/// A named topology maker.
type Scenario = (&'static str, fn() -> Topology);

/// Every host pings the host with the same index behind the next edge (3 times, 100 ms apart)
/// and sends 20 forward capsules (10 ms apart) to the one behind the edge 7 further on.
fn all_hosts() -> Topology {
    let mut b = Campus::new(EDGES, HOSTS_PER_EDGE, CORE).build("campus-1000", 1);
    for e in 0..EDGES {
        for h in 0..HOSTS_PER_EDGE {
            b.app(AppDraft::Ping {
                node: host_name(e, h),
                to: host_name((e + 1) % EDGES, h),
                count: 3,
                interval: Duration::from_millis(100),
                start: Duration::ZERO,
            });
            b.app(AppDraft::Send {
                node: host_name(e, h),
                protocol: "forward".into(),
                to: host_name((e + 7) % EDGES, h),
                count: 20,
                interval: Duration::from_millis(10),
                start: Duration::from_millis(500),
                budget: 16,
                payload: vec![0x5a; 64],
            });
        }
    }
    b.build().expect("valid campus")
}

/// One host sends 10 forward capsules to each of 500 hosts of a group: unicast fan-out, the
/// baseline a multicast capsule is measured against.
fn fan_out() -> Topology {
    let mut b = Campus::new(EDGES, HOSTS_PER_EDGE, CORE).build("fanout-1000", 1);
    let mut members = 0;
    'outer: for h in 0..HOSTS_PER_EDGE {
        for e in 0..EDGES {
            if members == 500 {
                break 'outer;
            }
            if (e, h) != (0, 0) {
                b.member("receivers", host_name(e, h));
                members += 1;
            }
        }
    }
    b.app(AppDraft::Send {
        node: host_name(0, 0),
        protocol: "forward".into(),
        to: "receivers".into(),
        count: 10,
        interval: Duration::from_millis(50),
        // Once the sender's own compilation is done.
        start: Duration::from_millis(100),
        budget: 16,
        payload: vec![0xa5; 64],
    });
    b.build().expect("valid campus")
}

/// Peak resident set size of this process, in MiB (Linux).
fn peak_rss_mib() -> f64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmHWM:"))
                .and_then(|l| l.split_whitespace().nth(1)?.parse::<f64>().ok())
        })
        .map_or(0.0, |kib| kib / 1024.0)
}

struct Run {
    routes: Duration,
    build: Duration,
    run: Duration,
    events: u64,
    virtual_ms: f64,
    deliveries: u64,
    drops: u64,
    report: String,
}

fn run_once(t: &Topology, capsules: &CapsuleLocator) -> Run {
    let started = Instant::now();
    let routes = Routes::compute(t);
    let routes_time = started.elapsed();
    let started = Instant::now();
    let mut emu = Emulator::new(t, &routes, capsules, EmulatorOptions::default())
        .unwrap_or_else(|e| panic!("{e} (run `make capsules` first)"));
    let build = started.elapsed();
    let started = Instant::now();
    let idle = emu.run_until_idle(Timestamp::from_millis(600_000));
    let run = started.elapsed();
    assert!(idle, "the run went idle");
    let report = emu.report();
    Run {
        routes: routes_time,
        build,
        run,
        events: emu.events(),
        virtual_ms: report.virtual_time_ms,
        deliveries: report.totals.deliveries,
        drops: report.totals.capsule_drops,
        report: serde_json::to_string(&report).expect("report serialises"),
    }
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

fn main() {
    // `cargo bench` passes `--bench`; a filter argument selects scenarios by name.
    let filter: Option<String> = std::env::args().skip(1).find(|a| !a.starts_with('-'));
    let capsules = CapsuleLocator::new(None, None);
    let scenarios: [Scenario; 2] = [
        ("all hosts ping + send", all_hosts),
        ("fan-out to 500", fan_out),
    ];
    println!(
        "| scenario (1,000 nodes, {RUNS} runs, median) | routes | build | run | events | events/s | virtual time | deliveries | drops | identical reports |"
    );
    println!("|---|---|---|---|---|---|---|---|---|---|");
    for (name, make) in scenarios {
        if filter.as_deref().is_some_and(|f| !name.contains(f)) {
            continue;
        }
        let t = make();
        assert_eq!(t.nodes.len(), 1000);
        let runs: Vec<Run> = (0..RUNS).map(|_| run_once(&t, &capsules)).collect();
        let identical = runs.iter().all(|r| r.report == runs[0].report);
        let ms = |f: fn(&Run) -> Duration| {
            median(runs.iter().map(|r| f(r).as_secs_f64() * 1e3).collect())
        };
        let run_ms = ms(|r| r.run);
        let events = runs[0].events;
        println!(
            "| {name} | {:.0} ms | {:.0} ms | {:.0} ms | {} | {:.0} | {:.0} ms | {} | {} | {} |",
            ms(|r| r.routes),
            ms(|r| r.build),
            run_ms,
            events,
            events as f64 / (run_ms / 1e3),
            runs[0].virtual_ms,
            runs[0].deliveries,
            runs[0].drops,
            if identical { "yes" } else { "NO" },
        );
    }
    println!("\npeak RSS: {:.0} MiB", peak_rss_mib());
}
