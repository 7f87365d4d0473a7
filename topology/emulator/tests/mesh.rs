//! `Mesh` and the instruments: a network given node by node, the tamper hook and trace, the
//! delivery log, stuck compilers and restarts, and the errors for what cannot be built.

use std::net::IpAddr;
use std::time::Duration;

use ants_emulator::mesh::link;
use ants_emulator::{EmulatorError, Mesh, Verdict};
use ants_router::node::NodeConfig;
use ants_router::routing::{NextHop, Route};

fn addr(last: u8) -> IpAddr {
    IpAddr::from([10, 0, 0, last])
}

/// The minimal forwarding capsule of `docs/node-api.md` (section 8): delivers its payload on
/// port 1 at the destination, else sends it on toward it.
fn deliver_wat() -> Vec<u8> {
    wat::parse_str(
        r#"(module
  (import "ants_v1" "capsule_budget" (func $budget (result i32)))
  (import "ants_v1" "capsule_destination" (func $destination (param i32) (result i32)))
  (import "ants_v1" "capsule_payload" (func $payload (param i32 i32) (result i32)))
  (import "ants_v1" "node_address" (func $node_address (param i32) (result i32)))
  (import "ants_v1" "send" (func $send (param i32 i32 i32 i32 i32 i32) (result i32)))
  (import "ants_v1" "deliver" (func $deliver (param i32 i32 i32) (result i32)))
  (memory (export "memory") 1)
  (func (export "ants_evaluate") (result i32)
    (local $len i32)
    (local $status i32)
    ;; The payload, at most 1,200 bytes, at offset 64.
    (local.set $len (call $payload (i32.const 64) (i32.const 1200)))
    (if (i32.lt_s (local.get $len) (i32.const 0))
      (then (return (local.get $len))))
    (if (i32.gt_s (local.get $len) (i32.const 1200))
      (then (return (i32.const -10))))
    (drop (call $destination (i32.const 0)))
    (drop (call $node_address (i32.const 16)))
    ;; At the destination: deliver on port 1 (returns 0 on success).
    (if (i32.and
          (i64.eq (i64.load (i32.const 0)) (i64.load (i32.const 16)))
          (i64.eq (i64.load (i32.const 8)) (i64.load (i32.const 24))))
      (then (return (call $deliver (i32.const 1) (i32.const 64) (local.get $len)))))
    ;; Elsewhere: routed send, all remaining budget, source kept (flags 0, `via` unused).
    ;; With budget 0 left this returns BAD_ARGUMENT (-2), which fails the evaluation.
    (local.set $status
      (call $send (i32.const 0) (i32.const 0) (call $budget) (i32.const 0)
                  (i32.const 64) (local.get $len)))
    ;; send returns the budget still available (>= 0) on success.
    (if (result i32) (i32.ge_s (local.get $status) (i32.const 0))
      (then (i32.const 0))
      (else (local.get $status)))))"#,
    )
    .unwrap()
}

/// Two nodes, each the other's neighbour with a host route to it.
fn pair() -> Mesh {
    let mut mesh = Mesh::new(3);
    for (me, other) in [(addr(1), addr(2)), (addr(2), addr(1))] {
        let mut config = NodeConfig::new(me);
        config.neighbours.push(other);
        config.routes.push(Route {
            prefix: other,
            len: 32,
            next_hop: NextHop::Neighbour(other),
        });
        mesh.node(config);
    }
    mesh.link(addr(1), addr(2), link(Duration::from_millis(2)));
    mesh
}

#[test]
fn a_mesh_runs_the_given_configurations_and_records_what_was_sent_and_delivered() {
    let mut emu = pair().build().unwrap();
    emu.record_trace();
    emu.record_deliveries();
    assert_eq!(emu.node_id(addr(2)), Some(1));
    assert_eq!(emu.node(1).unwrap().address(), addr(2));
    let module = deliver_wat();
    let fp = emu
        .with_node(0, |n, now| n.register_protocol(now, module))
        .unwrap()
        .unwrap();
    emu.with_node(0, |n, now| n.send_capsule(now, fp, addr(2), 8, b"hello"))
        .unwrap()
        .unwrap();
    emu.run_for(Duration::from_secs(1));
    let delivered = emu.delivered();
    assert!(
        delivered
            .iter()
            .any(|d| d.node == 1 && d.port == 1 && d.payload == b"hello"),
        "{delivered:?}"
    );
    assert!(
        emu.trace()
            .iter()
            .any(|r| r.from == addr(1) && r.to == addr(2))
    );
    assert!(emu.trace().iter().all(|r| !r.dropped));
}

#[test]
fn the_tamper_hook_drops_and_a_stuck_compiler_keeps_its_compilations_outstanding() {
    let mut emu = pair().build().unwrap();
    emu.record_trace();
    emu.set_tamper(|sent| {
        if sent.from == addr(1) {
            Verdict::Drop
        } else {
            Verdict::Deliver
        }
    });
    emu.inject(0, addr(2), vec![1, 2, 3]);
    emu.run_for(Duration::from_millis(10));
    assert_eq!(emu.trace().len(), 1);
    assert!(emu.trace()[0].dropped);
    assert_eq!(emu.node(1).unwrap().stats().datagrams_received, 0);

    emu.clear_tamper();
    emu.set_compiling(0, false);
    let module = deliver_wat();
    emu.with_node(0, |n, now| n.register_protocol(now, module))
        .unwrap()
        .unwrap();
    emu.run_for(Duration::from_secs(1));
    assert_eq!(emu.outstanding_compiles(0), 1);
    assert_eq!(emu.max_outstanding_compiles(0), 1);
}

#[test]
fn a_restart_needs_the_nodes_own_address_and_starts_empty() {
    let mut emu = pair().build().unwrap();
    let module = deliver_wat();
    let fp = emu
        .with_node(1, |n, now| n.register_protocol(now, module))
        .unwrap()
        .unwrap();
    emu.run_for(Duration::from_millis(10));
    assert!(emu.node(1).unwrap().has_code(&fp));
    let wrong = emu.restart_node(1, NodeConfig::new(addr(9)));
    assert!(matches!(wrong, Err(EmulatorError::NotItsAddress { .. })));
    let old = emu.restart_node(1, NodeConfig::new(addr(2))).unwrap();
    assert!(old.unwrap().has_code(&fp));
    assert!(!emu.node(1).unwrap().has_code(&fp));
}

#[test]
fn an_ipv6_node_is_a_clear_error() {
    let mut mesh = pair();
    mesh.node(NodeConfig::new("fd00::1".parse().unwrap()));
    assert!(matches!(
        mesh.build(),
        Err(EmulatorError::NotItsAddress { .. })
    ));
}
