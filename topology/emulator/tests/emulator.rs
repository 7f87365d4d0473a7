//! The emulator end to end: real node cores and shipped capsules on emulated networks.
//!
//! Needs the capsules built (`make capsules`): they are found from the repository through
//! `CapsuleLocator::new(None, None)`.

use std::net::IpAddr;
use std::time::Duration;

use ants_emulator::generate::{Campus, host_name};
use ants_emulator::{AppContext, AppError, Application, Emulator, EmulatorError, EmulatorOptions};
use ants_router::time::Timestamp;
use ants_topology::capsules::CapsuleLocator;
use ants_topology::model::{AppDraft, LinkOptionsSet, LinkParams, NodeKind, TopologyBuilder};
use ants_topology::{Routes, Topology};
use serde_json::{Value, json};

const MS: Duration = Duration::from_millis(1);

/// The repository's built capsules; a clear failure if they are missing.
fn capsules() -> CapsuleLocator {
    let l = CapsuleLocator::new(None, None);
    l.require(&["ping", "forward"])
        .unwrap_or_else(|e| panic!("{e}"));
    l
}

fn emulate(t: &Topology, options: EmulatorOptions) -> Emulator {
    Emulator::new(t, &Routes::compute(t), &capsules(), options).expect("emulator builds")
}

fn id(t: &Topology, name: &str) -> usize {
    t.node_id(name).unwrap_or_else(|| panic!("no node {name}"))
}

fn params(delay_ms: u64, loss: f64, bandwidth_bps: Option<u64>, queue: usize) -> LinkParams {
    LinkParams {
        delay: Duration::from_millis(delay_ms),
        loss,
        bandwidth_bps,
        queue,
        ..LinkParams::default()
    }
}

/// h1 - a1 - l1 - l2 - a2 - h2: hosts at the ends, active edges, two legacy routers between.
fn line(middle: LinkParams) -> TopologyBuilder {
    let mut b = TopologyBuilder::new("line");
    b.node("h1", NodeKind::Host, None)
        .node("a1", NodeKind::Active, None)
        .node("l1", NodeKind::Legacy, None)
        .node("l2", NodeKind::Legacy, None)
        .node("a2", NodeKind::Active, None)
        .node("h2", NodeKind::Host, None)
        .link("h1", "a1")
        .link("a1", "l1")
        .link_with("l1", "l2", middle, LinkOptionsSet::default())
        .link("l2", "a2")
        .link("a2", "h2");
    b
}

fn ping(from: &str, to: &str, count: u32, interval_ms: u64) -> AppDraft {
    AppDraft::Ping {
        node: from.into(),
        to: to.into(),
        count,
        interval: Duration::from_millis(interval_ms),
        start: Duration::ZERO,
    }
}

#[allow(clippy::too_many_arguments)]
fn send(
    from: &str,
    protocol: &str,
    to: &str,
    count: u32,
    interval: Duration,
    start: Duration,
    payload: usize,
) -> AppDraft {
    AppDraft::Send {
        node: from.into(),
        protocol: protocol.into(),
        to: to.into(),
        count,
        interval,
        start,
        budget: 16,
        payload: vec![0xab; payload],
    }
}

/// Registers modules on its node at start, so no capsule waits for demand loading.
struct Preload(Vec<(&'static str, Vec<u8>)>);

impl Application for Preload {
    fn name(&self) -> String {
        "preload".into()
    }
    fn start(&mut self, ctx: &mut AppContext<'_>) -> Result<(), AppError> {
        for (label, bytes) in &self.0 {
            if bytes.is_empty() {
                ctx.register_capsule(label)?;
            } else {
                ctx.register_module(label, bytes.clone())?;
            }
        }
        Ok(())
    }
    fn report(&self) -> Value {
        json!({ "modules": self.0.len() })
    }
}

/// Pins `modules` (capsule names, or labelled bytes) on every node-core node.
fn preload_everywhere(emu: &mut Emulator, modules: &[(&'static str, Vec<u8>)]) {
    let t = emu.topology().clone();
    for n in 0..t.nodes.len() {
        if t.nodes[n].kind.runs_node_core() {
            emu.add_app(n, Box::new(Preload(modules.to_vec())))
                .expect("preload");
        }
    }
}

#[test]
fn ping_crosses_legacy_routers_and_loads_code_hop_by_hop() {
    let mut b = line(LinkParams::default());
    b.app(ping("h1", "h2", 3, 500));
    let t = b.build().unwrap();
    let mut emu = emulate(&t, EmulatorOptions::default());
    assert!(emu.run_until_idle(Timestamp::from_millis(60_000)));

    let report = emu.app_report(0).unwrap();
    assert_eq!(report["sent"], 3);
    assert_eq!(report["received"], 3);
    assert_eq!(report["lost"], 0);
    for reply in report["replies"].as_array().unwrap() {
        // Only node-core nodes evaluate: the legacy routers are invisible to the capsule.
        assert_eq!(reply["hops"], 4);
        assert_eq!(reply["path"], json!(["h1", "a1", "a2", "h2"]));
    }
    let rtt = |i: usize| report["replies"][i]["rtt_ms"].as_f64().unwrap();
    // The first request waited for four compilations (h1, a1, a2, h2; 7 ms each, the
    // baseline compiler's) plus code transfers with their cookie round trips; the others
    // cross 5 links of 1 ms each way with everything cached.
    assert!((40.0..80.0).contains(&rtt(0)), "first rtt {}", rtt(0));
    assert_eq!(rtt(1), 10.0);
    assert_eq!(rtt(2), 10.0);

    // Code travelled hop by hop: h1 registered it, a1 loaded it from h1, a2 from a1, h2 from
    // a2, each later than the one before.
    let loads: Vec<(String, Option<String>, Timestamp)> = emu
        .code_loads()
        .iter()
        .map(|l| {
            let from = l.from.map(|a| match a {
                IpAddr::V4(v4) => t.nodes[t.node_by_address(v4).unwrap()].name.clone(),
                IpAddr::V6(_) => unreachable!(),
            });
            (t.nodes[l.node].name.clone(), from, l.at)
        })
        .collect();
    let names: Vec<(&str, Option<&str>)> = loads
        .iter()
        .map(|(n, f, _)| (n.as_str(), f.as_deref()))
        .collect();
    assert_eq!(
        names,
        [
            ("h1", None),
            ("a1", Some("h1")),
            ("a2", Some("a1")),
            ("h2", Some("a2"))
        ]
    );
    assert_eq!(
        loads[0].2,
        Timestamp::ZERO + ants_emulator::DEFAULT_COMPILE_DELAY,
        "registration compiles too"
    );
    // Each hop had the code after the one before it; with code announces, a hop starts
    // loading while the previous one compiles, so their compiles overlap.
    assert!(loads.windows(2).all(|w| w[0].2 < w[1].2), "{loads:?}");
    assert!(
        loads
            .windows(2)
            .any(|w| w[0].2 + emu.compile_delay() > w[1].2),
        "the compiles overlap: {loads:?}"
    );

    // Legacy routers forwarded datagrams (capsules and code) but evaluated nothing.
    for l in ["l1", "l2"] {
        let n = id(&t, l);
        assert!(emu.node(n).is_none(), "{l} runs no node core");
        assert!(emu.ip_forwarded(n) >= 6 + 3, "{l}: {}", emu.ip_forwarded(n));
    }
    let r = emu.report();
    for n in &r.nodes {
        if n.kind == NodeKind::Legacy {
            assert_eq!((n.evaluations, n.capsules_received), (0, 0));
            assert!(n.code_loads.is_empty());
        } else {
            assert!(n.evaluations > 0, "{} evaluated", n.name);
            assert!(n.drops.is_empty(), "{}: {:?}", n.name, n.drops);
        }
    }
    // Both legacy links carried the ping's capsules and its code, in both directions.
    let ping_fp = emu.fingerprint("ping").unwrap();
    let [ab, ba] = emu
        .link_stats(t.link_between(id(&t, "l1"), id(&t, "l2")).unwrap())
        .unwrap();
    assert_eq!(
        ab.protocol(&ping_fp).capsules + ba.protocol(&ping_fp).capsules,
        6
    );
    assert!(ab.protocol(&ping_fp).code + ba.protocol(&ping_fp).code > 0);
    assert_eq!(emu.compilations(), 1, "one real compilation for four nodes");

    let table = emu.table();
    assert!(table.contains("ping h1 -> h2"), "{table}");
    assert!(table.contains("code loading, hop by hop"), "{table}");
}

#[test]
fn same_seed_same_report_other_seed_other_losses() {
    let lossy = params(1, 0.1, None, 64);
    let run = |seed: u64| {
        let mut b = line(lossy);
        b.app(ping("h1", "h2", 60, 20)).seed(seed);
        let t = b.build().unwrap();
        let mut emu = emulate(&t, EmulatorOptions::default());
        emu.run_until(Timestamp::from_millis(10_000));
        let json = serde_json::to_string(&emu.report()).unwrap();
        let link = t.link_between(id(&t, "l1"), id(&t, "l2")).unwrap();
        let [ab, ba] = emu.link_stats(link).unwrap();
        (json, ab.losses + ba.losses)
    };
    let (first, losses) = run(7);
    let (again, losses_again) = run(7);
    assert_eq!(first, again, "same seed, same file: identical report");
    assert_eq!(losses, losses_again);
    assert!(losses > 0, "a 10 % link loses something in 120+ crossings");
    let (other, other_losses) = run(8);
    assert_ne!(first, other, "another seed loses other datagrams");
    assert!(other_losses > 0);
    // The seed overrides the file's through the options too.
    let mut b = line(lossy);
    b.app(ping("h1", "h2", 60, 20)).seed(8);
    let t = b.build().unwrap();
    let opts = EmulatorOptions {
        seed: Some(7),
        ..EmulatorOptions::default()
    };
    let mut emu = emulate(&t, opts);
    emu.run_until(Timestamp::from_millis(10_000));
    assert_eq!(serde_json::to_string(&emu.report()).unwrap(), first);
}

#[test]
fn a_lossy_link_loses_its_share_and_counts_it() {
    // h1 - a1 - h2 with 20 % loss between a1 and h2; the code is pinned everywhere first, so
    // only the 1,000 capsules cross the lossy link.
    let mut b = TopologyBuilder::new("lossy");
    b.node("h1", NodeKind::Host, None)
        .node("a1", NodeKind::Active, None)
        .node("h2", NodeKind::Host, None)
        .link("h1", "a1")
        .link_with(
            "a1",
            "h2",
            params(1, 0.2, None, 64),
            LinkOptionsSet::default(),
        )
        .app(send(
            "h1",
            "forward",
            "h2",
            1000,
            MS,
            Duration::from_millis(200),
            32,
        ));
    let t = b.build().unwrap();
    let mut emu = emulate(&t, EmulatorOptions::default());
    preload_everywhere(&mut emu, &[("forward", Vec::new())]);
    assert!(emu.run_until_idle(Timestamp::from_millis(60_000)));

    let delivered = emu.deliveries(id(&t, "h2"), 1).count;
    // Binomial(1000, 0.8): sd ≈ 12.6; the band is about ±4.7 sd.
    assert!((740..=860).contains(&delivered), "delivered {delivered}");
    let link = t.link_between(id(&t, "a1"), id(&t, "h2")).unwrap();
    let [to_h2, back] = emu.link_stats(link).unwrap();
    assert_eq!(to_h2.packets, 1000);
    assert_eq!(
        to_h2.losses + delivered,
        1000,
        "every capsule is delivered or counted lost"
    );
    assert_eq!(back.packets, 0);
    let r = emu.report();
    assert_eq!(r.totals.link_losses, 1000 - delivered);
    assert_eq!(r.apps[0].report["sent"], 1000);
}

/// h1 - a1 - a2 - h2 with a bottleneck between the active routers.
fn bottleneck(queue: usize) -> Topology {
    let mut b = TopologyBuilder::new("bottleneck");
    b.node("h1", NodeKind::Host, None)
        .node("a1", NodeKind::Active, None)
        .node("a2", NodeKind::Active, None)
        .node("h2", NodeKind::Host, None)
        .link("h1", "a1")
        .link_with(
            "a1",
            "a2",
            params(1, 0.0, Some(1_000_000), queue),
            LinkOptionsSet::default(),
        )
        .link("a2", "h2")
        // 100 capsules at once, once the code is everywhere.
        .app(send(
            "h1",
            "forward",
            "h2",
            100,
            Duration::ZERO,
            Duration::from_millis(200),
            500,
        ))
        .app(AppDraft::Listen {
            node: "h2".into(),
            port: 1,
        });
    b.build().unwrap()
}

#[test]
fn a_bottleneck_queues_then_drops_at_the_tail() {
    let run = |queue: usize| {
        let t = bottleneck(queue);
        let mut emu = emulate(&t, EmulatorOptions::default());
        preload_everywhere(&mut emu, &[("forward", Vec::new())]);
        assert!(emu.run_until_idle(Timestamp::from_millis(60_000)));
        let link = t.link_between(id(&t, "a1"), id(&t, "a2")).unwrap();
        let stats = emu.link_stats(link).unwrap()[0].clone();
        let listen = emu.app_report(1).unwrap();
        (stats, listen)
    };

    let (small, listen) = run(4);
    // One on the wire, four waiting, the other 95 dropped at the tail, and counted.
    assert_eq!(small.queue_drops, 95);
    assert_eq!(small.max_queue, 4);
    assert_eq!(small.packets, 5);
    assert_eq!(listen["received"], 5);
    let serialisation_ms = (small.bytes / small.packets) as f64 * 8.0 / 1e3;
    let spread = listen["last_ms"].as_f64().unwrap() - listen["first_ms"].as_f64().unwrap();
    // Later capsules arrive later: each waited for the ones ahead of it.
    assert!(
        (spread - 4.0 * serialisation_ms).abs() < 1e-6,
        "{spread} vs {serialisation_ms}"
    );

    let (big, listen) = run(200);
    assert_eq!(big.queue_drops, 0);
    assert_eq!(big.max_queue, 99);
    assert_eq!(listen["received"], 100);
    let spread = listen["last_ms"].as_f64().unwrap() - listen["first_ms"].as_f64().unwrap();
    // No drops, but the delay grows with the queue: the last one waited for 99 others.
    assert!((spread - 99.0 * serialisation_ms).abs() < 1e-6, "{spread}");
}

/// A capsule that appends, at every hop but the last, the 24-byte `link_load` record of the
/// link toward its next hop, and delivers the records on port 9 at the destination.
const LOAD_PROBE_WAT: &str = r#"(module
  (import "ants_v1" "capsule_budget" (func $budget (result i32)))
  (import "ants_v1" "capsule_destination" (func $dst (param i32) (result i32)))
  (import "ants_v1" "capsule_payload" (func $payload (param i32 i32) (result i32)))
  (import "ants_v1" "route_next_hop" (func $route (param i32 i32) (result i32)))
  (import "ants_v1" "link_load" (func $load (param i32 i32) (result i32)))
  (import "ants_v1" "send" (func $send (param i32 i32 i32 i32 i32 i32) (result i32)))
  (import "ants_v1" "deliver" (func $deliver (param i32 i32 i32) (result i32)))
  (memory (export "memory") 1)
  (func (export "ants_evaluate") (result i32)
    (local $len i32) (local $r i32)
    (drop (call $dst (i32.const 0)))
    (local.set $len (call $payload (i32.const 64) (i32.const 1100)))
    (local.set $r (call $route (i32.const 0) (i32.const 32)))
    (if (i32.eqz (local.get $r))
      (then (return (call $deliver (i32.const 9) (i32.const 64) (local.get $len)))))
    (if (i32.lt_s (local.get $r) (i32.const 0)) (then (return (local.get $r))))
    (if (i32.lt_s (call $load (i32.const 32) (i32.add (i32.const 64) (local.get $len)))
                  (i32.const 0))
      (then (return (i32.const -50))))
    (i32.lt_s (call $send (i32.const 0) (i32.const 0) (call $budget) (i32.const 0)
                          (i32.const 64) (i32.add (local.get $len) (i32.const 24)))
              (i32.const 0))))"#;

/// Sends `count` probes to `to` at `at`, all at once, and keeps the records delivered back.
struct Prober {
    to: &'static str,
    count: u32,
    at: Duration,
    fp: Option<ants_router::fingerprint::Fingerprint>,
    records: Vec<Vec<u8>>,
}

impl Application for Prober {
    fn name(&self) -> String {
        "prober".into()
    }
    fn start(&mut self, ctx: &mut AppContext<'_>) -> Result<(), AppError> {
        let module = wat::parse_str(LOAD_PROBE_WAT).map_err(|e| AppError::Other(e.to_string()))?;
        self.fp = Some(ctx.register_module("probe", module)?);
        ctx.set_timer(self.at, 0);
        Ok(())
    }
    fn on_timer(&mut self, ctx: &mut AppContext<'_>, _token: u64) {
        let to = ctx.node_address(ctx.node_id(self.to).unwrap());
        for _ in 0..self.count {
            ctx.send_capsule(self.fp.unwrap(), to, 16, &[]).unwrap();
        }
    }
    fn report(&self) -> Value {
        json!({ "records": self.records.len() })
    }
}

/// Records what arrives on port 9.
struct Records(std::rc::Rc<std::cell::RefCell<Vec<Vec<u8>>>>);

impl Application for Records {
    fn name(&self) -> String {
        "records".into()
    }
    fn start(&mut self, ctx: &mut AppContext<'_>) -> Result<(), AppError> {
        ctx.listen(9);
        Ok(())
    }
    fn on_delivery(&mut self, _ctx: &mut AppContext<'_>, d: &ants_emulator::AppDelivery) {
        self.0.borrow_mut().push(d.payload.clone());
    }
    fn report(&self) -> Value {
        json!({ "records": self.0.borrow().len() })
    }
}

#[test]
fn capsules_read_the_load_of_the_link_toward_their_next_hop() {
    let mut b = TopologyBuilder::new("load");
    b.node("h1", NodeKind::Host, None)
        .node("a1", NodeKind::Active, None)
        .node("a2", NodeKind::Active, None)
        .node("h2", NodeKind::Host, None)
        .link("h1", "a1")
        .link_with(
            "a1",
            "a2",
            params(1, 0.0, Some(1_000_000), 16),
            LinkOptionsSet::default(),
        )
        .link("a2", "h2");
    let t = b.build().unwrap();
    let mut emu = emulate(&t, EmulatorOptions::default());
    let probe = wat::parse_str(LOAD_PROBE_WAT).unwrap();
    preload_everywhere(&mut emu, &[("probe", probe)]);
    let records = std::rc::Rc::new(std::cell::RefCell::new(Vec::new()));
    emu.add_app(id(&t, "h2"), Box::new(Records(records.clone())))
        .unwrap();
    emu.add_app(
        id(&t, "h1"),
        Box::new(Prober {
            to: "h2",
            count: 10,
            at: Duration::from_millis(200),
            fp: None,
            records: Vec::new(),
        }),
    )
    .unwrap();
    assert!(emu.run_until_idle(Timestamp::from_millis(60_000)));

    let records = records.borrow();
    assert_eq!(records.len(), 10);
    let field = |r: &[u8], hop: usize, at: usize| {
        u32::from_le_bytes(r[hop * 24 + at..hop * 24 + at + 4].try_into().unwrap())
    };
    let mut a1_queue = Vec::new();
    for r in records.iter() {
        assert_eq!(r.len(), 3 * 24, "records of h1, a1 and a2");
        // h1 -> a1 and a2 -> h2 have no bandwidth limit: no queue, capacity unknown (0).
        assert_eq!((field(r, 0, 0), field(r, 0, 4)), (0, 0));
        assert_eq!((field(r, 2, 0), field(r, 2, 4)), (0, 0));
        // a1 -> a2 is the bottleneck with a 16-datagram queue.
        assert_eq!(field(r, 1, 4), 16);
        a1_queue.push(field(r, 1, 0));
    }
    // The first goes on the wire at once, the second waits alone, and so on.
    assert_eq!(a1_queue, [0, 0, 1, 2, 3, 4, 5, 6, 7, 8]);

    // The routing table of a1 holds the same numbers, refreshed as the period rolls.
    let a2_addr = IpAddr::V4(t.nodes[id(&t, "a2")].address);
    let load = emu
        .node(id(&t, "a1"))
        .unwrap()
        .routing()
        .neighbour(a2_addr)
        .unwrap()
        .load;
    assert_eq!(load.queue_cap, 16);
}

#[test]
fn a_group_target_sends_to_every_member_but_the_sender() {
    let mut b = TopologyBuilder::new("group");
    b.node("h1", NodeKind::Host, None)
        .node("a1", NodeKind::Active, None)
        .node("l1", NodeKind::Legacy, None)
        .node("a2", NodeKind::Active, None)
        .node("h2", NodeKind::Host, None)
        .node("h3", NodeKind::Host, None)
        .link("h1", "a1")
        .link("a1", "l1")
        .link("l1", "a2")
        .link("a2", "h2")
        .link("a2", "h3")
        .member("g", "h1")
        .member("g", "h2")
        .member("g", "h3")
        .member("g", "l1")
        .app(send(
            "h1",
            "forward",
            "g",
            5,
            Duration::from_millis(10),
            Duration::ZERO,
            8,
        ))
        .app(AppDraft::Listen {
            node: "h3".into(),
            port: 1,
        });
    let t = b.build().unwrap();
    let mut emu = emulate(&t, EmulatorOptions::default());
    assert!(emu.run_until_idle(Timestamp::from_millis(60_000)));

    assert_eq!(emu.deliveries(id(&t, "h2"), 1).count, 5);
    assert_eq!(emu.deliveries(id(&t, "h3"), 1).count, 5);
    assert_eq!(emu.deliveries(id(&t, "h1"), 1).count, 0);
    let r = emu.report();
    assert_eq!(r.apps[0].report["destinations"], 2);
    assert_eq!(r.apps[0].report["sent"], 10);
    assert_eq!(r.apps[1].report["received"], 5);
    let listened: Vec<(&str, bool)> = r
        .deliveries
        .iter()
        .map(|d| (d.node.as_str(), d.listened))
        .collect();
    assert_eq!(listened, [("h2", false), ("h3", true)]);
}

#[test]
fn a_generated_campus_of_two_hundred_nodes_runs() {
    // 4 legacy core routers, 10 active edges, 20 hosts each: 214 nodes. Every host pings the
    // host with the same index behind the next edge.
    let campus = Campus::new(10, 20, 4);
    let mut b = campus.build("campus", 3);
    for e in 0..10 {
        for h in 0..20 {
            b.app(AppDraft::Ping {
                node: host_name(e, h),
                to: host_name((e + 1) % 10, h),
                count: 2,
                interval: Duration::from_millis(100),
                start: Duration::ZERO,
            });
        }
    }
    let t = b.build().unwrap();
    assert_eq!(t.nodes.len(), 214);
    let mut emu = emulate(&t, EmulatorOptions::default());
    assert!(emu.run_until_idle(Timestamp::from_millis(60_000)));

    let r = emu.report();
    assert_eq!(r.apps.len(), 200);
    for a in &r.apps {
        assert_eq!(a.report["received"], 2, "{}: {}", a.name, a.summary);
        assert_eq!(a.report["replies"][1]["hops"], 4, "host, edge, edge, host");
    }
    // Every edge loaded the code exactly once, from a host or another edge.
    for e in 0..10 {
        let n = &r.nodes[id(&t, &format!("e{e}"))];
        assert_eq!(n.code_loads.len(), 1, "{}", n.name);
        assert!(n.drops.is_empty(), "{}: {:?}", n.name, n.drops);
    }
    assert_eq!(r.totals.capsule_drops, 0);
    assert!(
        r.nodes
            .iter()
            .filter(|n| n.kind == NodeKind::Legacy)
            .all(|n| n.ip_forwarded > 0)
    );
    assert_eq!(emu.compilations(), 1);
}

#[test]
fn a_missing_capsule_or_a_legacy_node_is_a_clear_error() {
    let empty = tempfile::tempdir().unwrap();
    let mut b = line(LinkParams::default());
    b.app(ping("h1", "h2", 1, 10));
    let t = b.build().unwrap();
    let locator = CapsuleLocator::new(Some(empty.path()), None);
    let err = Emulator::new(
        &t,
        &Routes::compute(&t),
        &locator,
        EmulatorOptions::default(),
    )
    .err()
    .expect("no ping capsule in an empty directory");
    let text = err.to_string();
    assert!(matches!(err, EmulatorError::App { .. }), "{text}");
    assert!(
        text.contains("h1") && text.contains("make capsules"),
        "{text}"
    );

    let mut emu = emulate(
        &line(LinkParams::default()).build().unwrap(),
        EmulatorOptions::default(),
    );
    let err = emu
        .add_app(id(&t, "l1"), Box::new(Preload(Vec::new())))
        .unwrap_err();
    assert!(
        matches!(err, EmulatorError::NoNodeCore(ref n) if n == "l1"),
        "{err}"
    );
}
