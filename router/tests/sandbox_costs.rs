//! Untrusted code cannot take more than its share: host calls are charged fuel for their work,
//! a wall-clock backstop stops what fuel cannot see, the log rate belongs to the protocol (a
//! trap does not reset it), module rules hold as `docs/node-api.md` states them (no start
//! function, table shapes the instance limiter accepts, `table.grow` past the limit returns
//! -1), idle instances give their memory back, and every protocol's costs are counted.

use std::net::IpAddr;
use std::time::Duration;

use ants_router::harness::hostile::HostileLoop;
use ants_router::harness::{ScriptedNode, TestCapsule};
use ants_router::sandbox::{EvalError, LoadError, SandboxLimits};
use ants_router::softstore::StateLimits;

fn ip(s: &str) -> IpAddr {
    s.parse().unwrap()
}

/// A node with a neighbour (the hostile modules' address) and a few prefix routes.
fn node(limits: SandboxLimits) -> ScriptedNode {
    let mut node = ScriptedNode::with_limits("10.0.0.1", limits, StateLimits::default());
    node.neighbour("10.0.1.2");
    for p in 0..8 {
        node.route(&format!("10.{}.0.0/16", 64 + p), "10.0.1.2");
    }
    node
}

fn capsule() -> TestCapsule {
    TestCapsule::new("10.0.5.1", "10.0.9.9")
        .budget(1000)
        .payload(vec![7u8; 1200])
}

/// Limits where only fuel stops an evaluation: the backstop is far away, so the outcome does
/// not depend on how fast the machine (or a debug build) is.
fn fuel_only(fuel: u64) -> SandboxLimits {
    SandboxLimits {
        fuel_per_evaluation: fuel,
        max_evaluation_time: Duration::from_secs(30),
        ..SandboxLimits::default()
    }
}

/// Fuel charged for 100 calls, at least, per import (the loop's own instructions aside): what
/// `docs/node-api.md` section 6 promises. Before host calls were charged, 100 `state_put`s of
/// 4 KiB cost about 1,500 fuel, the same as 100 empty iterations.
#[test]
fn every_import_is_charged_for_its_work() {
    let mut node = node(fuel_only(1_000_000_000));
    let plain = {
        let wasm = wat::parse_str(HostileLoop::PlainLoop.wat(ip("10.0.1.2"), Some(100))).unwrap();
        let p = node.load(&wasm).unwrap();
        assert_eq!(node.evaluate(&p, &capsule()).result, Ok(()));
        node.sandbox().last_fuel()
    };
    for (h, at_least) in [
        (HostileLoop::CapsulePayload, 150),
        (HostileLoop::RouteNextHop, 100),
        (HostileLoop::Neighbours, 100),
        (HostileLoop::LinkLoad, 60),
        (HostileLoop::Send, 150),
        (HostileLoop::Deliver, 50),
        (HostileLoop::StatePut, 2_000),
        (HostileLoop::StateGet, 1_000),
        (HostileLoop::StateRemove, 2_200),
        (HostileLoop::Log, 200),
        (HostileLoop::CapsuleFingerprint, 80),
        (HostileLoop::NodeAddress, 30),
    ] {
        let wasm = wat::parse_str(h.wat(ip("10.0.1.2"), Some(100))).unwrap();
        let p = node.load(&wasm).unwrap();
        let out = node.evaluate(&p, &capsule());
        assert_eq!(out.result, Ok(()), "{}", h.name());
        let fuel = node.sandbox().last_fuel();
        assert!(
            fuel >= plain + 100 * at_least,
            "{}: 100 calls charged {} fuel over the plain loop's {plain}, expected {} or more",
            h.name(),
            fuel - plain.min(fuel),
            100 * at_least
        );
    }
}

/// Every hostile loop, run until the node stops it, ends as `out_of_fuel` within the
/// allowance, and the node is fine afterwards.
#[test]
fn every_hostile_loop_ends_out_of_fuel() {
    let fuel = 200_000;
    let mut node = node(fuel_only(fuel));
    for h in HostileLoop::ALL {
        let wasm = wat::parse_str(h.wat(ip("10.0.1.2"), None)).unwrap();
        let p = node.load(&wasm).unwrap();
        let out = node.evaluate(&p, &capsule());
        assert_eq!(out.result, Err(EvalError::OutOfFuel), "{}", h.name());
        assert!(out.sends.is_empty() && out.deliveries.is_empty());
        let used = node.sandbox().last_fuel();
        // Host charges are settled in steps of at most 4,096 fuel, plus one call's charge.
        assert!(used <= fuel + 8_192, "{}: burnt {used} of {fuel}", h.name());
        let counters = node.sandbox().protocol(&p.fingerprint()).unwrap();
        assert_eq!(counters.stops.get(EvalError::OutOfFuel), 1, "{}", h.name());
    }
}

/// What fuel cannot see is stopped by the wall clock, under its own name.
#[test]
fn the_wall_clock_backstop_stops_an_evaluation_fuel_does_not() {
    let mut node = node(SandboxLimits {
        fuel_per_evaluation: u64::MAX / 4,
        max_evaluation_time: Duration::from_millis(20),
        ..SandboxLimits::default()
    });
    let wasm = wat::parse_str(HostileLoop::PlainLoop.wat(ip("10.0.1.2"), None)).unwrap();
    let p = node.load(&wasm).unwrap();
    let started = std::time::Instant::now();
    let out = node.evaluate(&p, &capsule());
    assert_eq!(out.result, Err(EvalError::TimeLimit));
    assert_eq!(node.sandbox_stats().time_limit, 1);
    // Not a timing assertion on the machine's speed: only that it did stop, long before the
    // fuel (years of it) would have.
    assert!(started.elapsed() < Duration::from_secs(20));
}

const LOG_THEN_TRAP: &str = r#"(module
  (import "ants_v1" "log" (func $log (param i32 i32 i32) (result i32)))
  (memory (export "memory") 1)
  (data (i32.const 0) "a line before the trap")
  (func (export "ants_evaluate") (result i32)
    (local $i i32)
    (loop $again
      (drop (call $log (i32.const 0) (i32.const 0) (i32.const 22)))
      (local.set $i (i32.add (local.get $i) (i32.const 1)))
      (br_if $again (i32.lt_u (local.get $i) (i32.const 20))))
    unreachable))"#;

/// Trapping throws the instance away, but not the protocol's log bucket: ten capsules that
/// log twenty lines and trap, at one instant, get twenty lines in all (the burst), not 200.
#[test]
fn a_trap_does_not_reset_the_log_rate() {
    let mut node = node(SandboxLimits::default());
    let p = node.load(&wat::parse_str(LOG_THEN_TRAP).unwrap()).unwrap();
    let mut lines = 0;
    for _ in 0..10 {
        let out = node.evaluate(&p, &capsule());
        assert_eq!(out.result, Err(EvalError::Unreachable));
        lines += out.logs.len();
    }
    let burst = SandboxLimits::default().log_burst as usize;
    assert_eq!(lines, burst);
    let counters = node.sandbox().protocol(&p.fingerprint()).unwrap();
    assert_eq!(counters.logs_dropped, (200 - burst) as u64);
    assert_eq!(counters.instantiations, 10);
    assert_eq!(counters.stops.get(EvalError::Unreachable), 10);
    // Node time refills it, as documented: 10 per second.
    node.advance(Duration::from_secs(1));
    let out = node.evaluate(&p, &capsule());
    assert_eq!(out.logs.len(), 10);
}

fn load(text: &str) -> Result<(), LoadError> {
    let mut node = node(SandboxLimits::default());
    node.load(&wat::parse_str(text).unwrap()).map(|_| ())
}

const EVALUATE: &str = r#"(func (export "ants_evaluate") (result i32) (i32.const 0))"#;

#[test]
fn a_start_function_is_refused() {
    let text =
        format!(r#"(module (memory (export "memory") 1) (func $start) (start $start) {EVALUATE})"#);
    let err = load(&text).unwrap_err();
    assert!(matches!(err, LoadError::StartFunction(_)), "{err}");
    assert_eq!(err.name(), "start_function");
}

/// Table shapes: what validation accepts, every instantiation accepts.
#[test]
fn table_checks_match_the_instance_limiter() {
    let with_tables =
        |tables: &str| format!(r#"(module (memory (export "memory") 1) {tables} {EVALUATE})"#);
    // One table at the limit loads and runs.
    let mut node = node(SandboxLimits::default());
    let one = wat::parse_str(with_tables("(table 4096 funcref)")).unwrap();
    let p = node.load(&one).unwrap();
    assert_eq!(node.evaluate(&p, &capsule()).result, Ok(()));
    // Two tables of 4,096, or eight of one element: refused at load, named.
    for tables in [
        "(table 4096 funcref) (table 4096 funcref)",
        &"(table 1 funcref) ".repeat(8),
    ] {
        let err = load(&with_tables(tables)).unwrap_err();
        assert!(
            matches!(err, LoadError::ResourceTooLarge { what: "tables", .. }),
            "{tables}: {err}"
        );
    }
    let err = load(&with_tables("(table 4097 funcref)")).unwrap_err();
    assert!(
        matches!(
            err,
            LoadError::ResourceTooLarge {
                what: "table elements",
                ..
            }
        ),
        "{err}"
    );
}

/// `table.grow` past the limit returns -1, like `memory.grow`, whatever the amount.
#[test]
fn table_grow_past_the_limit_returns_minus_one() {
    for amount in [5_000, 1 << 20, i32::MAX, -1] {
        let text = format!(
            r#"(module
              (import "ants_v1" "deliver" (func $deliver (param i32 i32 i32) (result i32)))
              (memory (export "memory") 1)
              (table 1 funcref)
              (func (export "ants_evaluate") (result i32)
                (if (i32.ne (table.grow (ref.null func) (i32.const {amount})) (i32.const -1))
                  (then unreachable))
                (drop (call $deliver (i32.const 1) (i32.const 0) (i32.const 4)))
                (i32.const 0)))"#
        );
        let mut node = node(SandboxLimits::default());
        let p = node.load(&wat::parse_str(&text).unwrap()).unwrap();
        let out = node.evaluate(&p, &capsule());
        assert_eq!(out.result, Ok(()), "table.grow {amount}");
        assert_eq!(out.deliveries.len(), 1);
    }
}

/// A data or element segment that does not fit fails instantiation, counted as such.
#[test]
fn segment_errors_are_instantiation_failures() {
    for body in [
        r#"(memory (export "memory") 1) (data (i32.const 65530) "0123456789")"#,
        r#"(memory (export "memory") 1) (table 1 funcref) (func $f) (elem (i32.const 4) $f)"#,
    ] {
        let text = format!("(module {body} {EVALUATE})");
        let mut node = node(SandboxLimits::default());
        let p = node.load(&wat::parse_str(&text).unwrap()).unwrap();
        let out = node.evaluate(&p, &capsule());
        assert_eq!(out.result, Err(EvalError::Instantiation), "{body}");
        assert_eq!(node.sandbox_stats().instantiation_failed, 1);
        let counters = node.sandbox().protocol(&p.fingerprint()).unwrap();
        assert_eq!(counters.stops.get(EvalError::Instantiation), 1);
    }
}

/// Instances idle past the timeout are dropped (their memory given back); their protocols'
/// counters stay, and the next capsule gets a fresh instance.
#[test]
fn idle_instances_are_reclaimed() {
    let mut node = node(SandboxLimits {
        idle_instance_timeout: Duration::from_secs(10),
        ..SandboxLimits::default()
    });
    let mut protocols = Vec::new();
    for i in 0..5 {
        let wasm = wat::parse_str(HostileLoop::PlainLoop.wat(ip("10.0.1.2"), Some(i + 1))).unwrap();
        let p = node.load(&wasm).unwrap();
        assert_eq!(node.evaluate(&p, &capsule()).result, Ok(()));
        protocols.push(p);
    }
    assert_eq!(node.sandbox().live_instances(), 5);
    let first_idle = node.sandbox().next_idle_deadline().unwrap();
    assert_eq!(first_idle, node.now() + Duration::from_secs(10));
    node.advance(Duration::from_secs(9));
    let now = node.now();
    assert_eq!(node.sandbox_mut().reclaim_idle(now), 0);
    node.advance(Duration::from_secs(1));
    let now = node.now();
    assert_eq!(node.sandbox_mut().reclaim_idle(now), 5);
    assert_eq!(node.sandbox().live_instances(), 0);
    assert_eq!(node.sandbox().next_idle_deadline(), None);
    assert_eq!(node.sandbox_stats().reclaimed_idle, 5);
    let c = node
        .sandbox()
        .protocol(&protocols[0].fingerprint())
        .unwrap();
    assert_eq!((c.evaluations, c.instantiations), (1, 1));
    assert_eq!(node.evaluate(&protocols[0], &capsule()).result, Ok(()));
    let c = node
        .sandbox()
        .protocol(&protocols[0].fingerprint())
        .unwrap();
    assert_eq!((c.evaluations, c.instantiations), (2, 2));
}

/// Per-protocol counters add up across instances and keep protocols apart.
#[test]
fn costs_are_counted_per_protocol() {
    let mut node = node(fuel_only(100_000));
    let spin = node
        .load(&wat::parse_str(HostileLoop::PlainLoop.wat(ip("10.0.1.2"), None)).unwrap())
        .unwrap();
    let small = node
        .load(&wat::parse_str(HostileLoop::PlainLoop.wat(ip("10.0.1.2"), Some(10))).unwrap())
        .unwrap();
    for _ in 0..3 {
        node.evaluate(&spin, &capsule());
        node.evaluate(&small, &capsule());
    }
    let s = node.sandbox().protocol(&spin.fingerprint()).unwrap();
    let m = node.sandbox().protocol(&small.fingerprint()).unwrap();
    assert_eq!((s.evaluations, s.completed, s.instantiations), (3, 0, 3));
    assert_eq!(s.stops.get(EvalError::OutOfFuel), 3);
    assert!(s.fuel_max >= 100_000 && s.fuel_total >= 300_000);
    assert_eq!((m.evaluations, m.completed, m.instantiations), (3, 3, 1));
    assert_eq!(m.stops.total(), 0);
    assert!(m.fuel_max < 1_000);
}

/// The compile bomb of the compilation issue: a 64 KiB module of loops nested 9,000 deep,
/// each branching back to itself, took Cranelift minutes. It gets its baseline code, runs, and
/// is refused by the optimizing tier before that compiler starts.
#[test]
fn a_compile_bomb_gets_baseline_code_and_is_never_optimized() {
    use ants_router::fingerprint::Fingerprint;
    use ants_router::sandbox::{CompileTier, Sandbox};
    let depth = 9_000;
    let mut text = String::from(
        "(module (memory (export \"memory\") 1) (func (export \"ants_evaluate\") (result i32) (local i32)\n",
    );
    text.push_str(&"(loop (br_if 0 (local.get 0))\n".repeat(depth));
    text.push_str(&")".repeat(depth));
    text.push_str("(i32.const 0)))");
    let wasm = wat::parse_str(text).unwrap();
    assert!(wasm.len() <= 64 * 1024);
    let compiler = Sandbox::new(SandboxLimits::default()).unwrap().compiler();
    let fp = Fingerprint::sha256(&wasm);
    let baseline = compiler.compile(fp, &wasm).unwrap();
    assert_eq!(baseline.tier(), CompileTier::Baseline);
    assert!(!baseline.optimizable());
    let refused = compiler
        .compile_tier(fp, &wasm, CompileTier::Optimized)
        .unwrap_err();
    assert_eq!(refused.name(), "too_complex_to_optimize");
    assert!(
        refused.to_string().contains("block nesting is 9000"),
        "{refused}"
    );
    // The baseline code runs.
    let mut n = node(SandboxLimits::default());
    let p = n.load(&wasm).unwrap();
    assert_eq!(n.evaluate(&p, &capsule()).result, Ok(()));
}
