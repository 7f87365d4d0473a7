//! Link load on real routers: three `antsd` chained on loopback, r1 - r2 - r3, and a probe
//! capsule that records, at r1 and r2, the `link_load` of the link toward its next hop.
//!
//! After a burst every hop reports what it sent (packets and bytes per second over the shared
//! window); with a `rate` and a `queue` on r1's link toward r2, the burst waits in that queue
//! and what does not fit is dropped and counted.

mod daemon_support;

use std::net::IpAddr;
use std::time::{Duration, Instant};

use ants_daemon::config::LinkShaping;
use ants_router::routing::LinkLoad;
use capsule_sdk::abi::LINK_LOAD_LEN;
use daemon_support::{Daemon, chain_writer, free_ports};

/// Appends, at every hop but the last, the 24-byte `link_load` record of the link toward its
/// next hop, and delivers the records on port 9 at the destination (the emulator's probe).
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

const PROBES: u32 = 300;

/// Starts the chain, r1's link toward r2 shaped with `shaping`.
fn start_chain(dir: &std::path::Path, shaping: Option<LinkShaping>) -> Vec<Daemon> {
    let ports = free_ports(3);
    (1..=3)
        .map(|i| {
            let mut w = chain_writer(dir, &ports, i, &[]);
            if let (1, Some(s)) = (i, shaping) {
                w.shape("127.0.1.2".parse().unwrap(), s);
            }
            Daemon::start(dir, &format!("r{i}"), &w.to_toml())
        })
        .collect()
}

/// Sends one probe and waits for it (the code loads on demand along the path), then
/// `PROBES` more, `per_tick` every millisecond tick of `tick`; returns the records of every
/// probe delivered at r3 (r1's view of r1 → r2, r2's of r2 → r3), in arrival order.
fn probe(nodes: &[Daemon], per_tick: u32, tick: Duration) -> Vec<(LinkLoad, LinkLoad)> {
    let module = wat::parse_str(LOAD_PROBE_WAT).unwrap();
    let to: IpAddr = "127.0.1.3".parse().unwrap();
    let mut rx = nodes[2].client();
    rx.listen(9).unwrap();
    let mut tx = nodes[0].client();
    let fp = tx.register(&module).unwrap();
    tx.send(fp, to, 8, &u32::MAX.to_be_bytes()).unwrap();
    rx.next_delivery(Some(Duration::from_secs(60)))
        .unwrap()
        .unwrap_or_else(|| panic!("the first probe was lost\n{}", nodes[0].log()));
    for i in 0..PROBES {
        tx.send(fp, to, 8, &i.to_be_bytes()).unwrap();
        if i % per_tick == per_tick - 1 {
            std::thread::sleep(tick);
        }
    }
    let mut records = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(30);
    while records.len() < PROBES as usize && Instant::now() < deadline {
        // Drops are expected with a queue: stop after a quiet second.
        let Some(d) = rx.next_delivery(Some(Duration::from_secs(1))).unwrap() else {
            break;
        };
        assert_eq!(d.payload.len(), 4 + 2 * LINK_LOAD_LEN, "{:?}", d.payload);
        let at = |i: usize| {
            let b: &[u8; LINK_LOAD_LEN] = d.payload[4 + i * LINK_LOAD_LEN..][..LINK_LOAD_LEN]
                .try_into()
                .unwrap();
            LinkLoad::from_le_bytes(b)
        };
        records.push((at(0), at(1)));
    }
    records
}

#[test]
fn every_hop_reports_what_it_sends() {
    let dir = tempfile::tempdir().unwrap();
    let nodes = start_chain(dir.path(), None);
    // 10 probes every 5 ms: the burst spans several windows, so later probes see a complete
    // one.
    let records = probe(&nodes, 10, Duration::from_millis(5));
    assert_eq!(records.len(), PROBES as usize, "probes lost");
    for hop in 0..2 {
        let loads: Vec<LinkLoad> = records
            .iter()
            .map(|r| if hop == 0 { r.0 } else { r.1 })
            .collect();
        let busiest = loads.iter().max_by_key(|l| l.tx_pps).unwrap();
        assert!(
            busiest.tx_pps > 0 && busiest.tx_bytes_per_s > 0,
            "hop {} saw no traffic: {loads:?}",
            hop + 1
        );
        // A probe is more than 40 bytes on the wire.
        assert!(busiest.tx_bytes_per_s >= 40 * u64::from(busiest.tx_pps));
        assert!(loads.iter().all(|l| l.queue_cap == 0 && l.queue_len == 0));
    }
}

#[test]
fn a_rate_limited_neighbour_queues_and_drops_a_burst() {
    let dir = tempfile::tempdir().unwrap();
    let shaping = LinkShaping {
        rate_bps: 400_000,
        queue: 8,
    };
    let nodes = start_chain(dir.path(), Some(shaping));
    // All at once: far faster than 400 kbit/s.
    let records = probe(&nodes, PROBES, Duration::ZERO);
    let first_hop: Vec<LinkLoad> = records.iter().map(|r| r.0).collect();
    assert!(first_hop.iter().all(|l| l.queue_cap == 8), "{first_hop:?}");
    assert!(
        first_hop
            .iter()
            .any(|l| l.queue_len > 0 || l.drops_recent > 0),
        "the queue toward r2 never filled: {first_hop:?}"
    );
    // r2's link toward r3 has no rate: no queue.
    assert!(records.iter().all(|r| r.1.queue_cap == 0));
    let status = nodes[0].status();
    let dropped = status["daemon"]["stats"]["egress_queue_drops"]
        .as_u64()
        .unwrap_or(0);
    assert!(
        dropped > 0 && records.len() < PROBES as usize,
        "{} of {PROBES} arrived, {dropped} dropped: {status}",
        records.len()
    );
}
