//! One node driven by hand, in virtual time: the processing steps of `docs/node.md`, local
//! applications, code serving, drop counters, timers, and forwarding while a compile is
//! pending.

mod node_support;

use std::time::{Duration, Instant};

use ants_router::fingerprint::Fingerprint;
use ants_router::harness::compile_pending;
use ants_router::node::{DropReason, Event, Node, NodeConfig, NodeError, Transmit};
use ants_router::routing::{NextHop, Route};
use ants_router::sandbox::{LogLevel, SandboxLimits};
use ants_router::time::Timestamp;
use ants_router::wire::{
    CapsuleRepr, CodeMissingRepr, CodeRequestRepr, Frame, MAX_CODE_FRAME_LEN, WireError,
};
use node_support::{cookie_from, forward_12k_wasm, forward_wasm, ip, variant};

const T0: Timestamp = Timestamp::from_millis(1_000);

/// A node 10.0.0.1 with neighbours .2 and .3, routing 10.9.0.0/16 via .3.
fn node_with(tweak: impl FnOnce(&mut NodeConfig)) -> Node {
    let mut config = NodeConfig::new(ip("10.0.0.1"));
    config.neighbours = vec![ip("10.0.0.2"), ip("10.0.0.3")];
    config.routes = vec![Route {
        prefix: ip("10.9.0.0"),
        len: 16,
        next_hop: NextHop::Neighbour(ip("10.0.0.3")),
    }];
    tweak(&mut config);
    Node::new(config).unwrap()
}

fn node() -> Node {
    node_with(|_| {})
}

fn transmits(node: &mut Node) -> Vec<Transmit> {
    std::iter::from_fn(|| node.poll_transmit()).collect()
}

fn register(node: &mut Node, module: Vec<u8>) -> Fingerprint {
    let fp = node.register_protocol(T0, module).unwrap();
    compile_pending(node, T0);
    fp
}

fn capsule(fp: Fingerprint, budget: u16, payload: &[u8]) -> Vec<u8> {
    CapsuleRepr {
        fingerprint: fp,
        source: ip("10.0.0.2"),
        destination: ip("10.9.0.5"),
        previous: ip("10.0.0.2"),
        budget,
        payload,
    }
    .to_vec()
    .unwrap()
}

fn wat(text: &str) -> Vec<u8> {
    wat::parse_str(text).unwrap()
}

#[test]
fn a_cached_capsule_is_charged_evaluated_and_forwarded_with_this_node_as_previous() {
    let mut n = node();
    let fp = register(&mut n, forward_wasm());
    n.handle_datagram(T0, Some(ip("10.0.0.2")), &capsule(fp, 9, b"data"));
    let out = transmits(&mut n);
    assert_eq!(out.len(), 1);
    assert_eq!(out[0].to, ip("10.0.0.3"));
    let Frame::Capsule(sent) = Frame::parse(&out[0].bytes).unwrap() else {
        panic!("not a capsule");
    };
    assert_eq!(sent.fingerprint, fp);
    assert_eq!(sent.budget, 8, "one unit charged for this hop");
    assert_eq!(sent.previous, ip("10.0.0.1"));
    assert_eq!(
        (sent.source, sent.destination),
        (ip("10.0.0.2"), ip("10.9.0.5"))
    );
    assert_eq!(sent.payload, b"data");
    let stats = n.stats();
    assert_eq!(
        (stats.evaluations, stats.evaluated, stats.capsules_sent),
        (1, 1, 1)
    );
    assert_eq!(stats.cache_hits, 1);
    assert_eq!(stats.drops.total(), 0);
}

#[test]
fn every_rejected_capsule_is_counted_under_its_reason() {
    let mut n = node();
    let fp = register(&mut n, forward_wasm());
    let from = Some(ip("10.0.0.2"));
    n.handle_datagram(T0, from, b"GET / HTTP/1.1");
    n.handle_datagram(T0, from, &capsule(fp, 9, b"x")[..20]);
    n.handle_datagram(T0, from, &capsule(fp, 0, b"x"));
    // Budget 1: evaluated with 0 left, so its forward fails and it returns the error.
    n.handle_datagram(T0, from, &capsule(fp, 1, b"x"));
    let md5 = Fingerprint::md5(&forward_wasm());
    n.handle_datagram(T0, from, &capsule(md5, 9, b"x"));
    // No route toward 10.8.0.1: the capsule's own send fails and it returns the error.
    let mut lost = capsule(fp, 9, b"x");
    let mut repr = match Frame::parse(&lost).unwrap() {
        Frame::Capsule(c) => c,
        _ => unreachable!(),
    };
    let dst = ip("10.8.0.1");
    repr.destination = dst;
    lost = repr.to_vec().unwrap();
    n.handle_datagram(T0, from, &lost);

    let drops = n.stats().drops;
    assert_eq!(drops.get(DropReason::Malformed(WireError::BadMagic)), 1);
    assert_eq!(drops.by_name("truncated"), 1);
    assert_eq!(drops.get(DropReason::BudgetExhausted), 1);
    assert_eq!(drops.get(DropReason::AlgorithmNotAllowed), 1);
    assert_eq!(drops.by_name("capsule_error"), 2, "{drops:?}");
    assert_eq!(drops.total(), 6);
    assert!(transmits(&mut n).is_empty());
    // The forward capsule logs why it found no route.
    let logs = compile_pending(&mut n, T0);
    assert!(
        logs.iter().any(
            |e| matches!(e, Event::Log { level: LogLevel::Error, message, .. }
            if message.contains("no route"))
        ),
        "{logs:?}"
    );
}

#[test]
fn deliveries_logs_and_inert_evaluations_follow_the_evaluation_contract() {
    // Delivers its payload on port 9 and logs, unless the payload is empty: then it does
    // nothing (no_effect); a payload starting with 'e' makes it return an error.
    let module = wat(r#"(module
        (import "ants_v1" "capsule_payload" (func $payload (param i32 i32) (result i32)))
        (import "ants_v1" "deliver" (func $deliver (param i32 i32 i32) (result i32)))
        (import "ants_v1" "log" (func $log (param i32 i32 i32) (result i32)))
        (memory (export "memory") 1)
        (data (i32.const 2000) "seen")
        (func (export "ants_evaluate") (result i32) (local $len i32)
          (local.set $len (call $payload (i32.const 0) (i32.const 1200)))
          (drop (call $log (i32.const 2) (i32.const 2000) (i32.const 4)))
          (if (i32.eqz (local.get $len)) (then (return (i32.const 0))))
          (if (i32.eq (i32.load8_u (i32.const 0)) (i32.const 101)) (then (return (i32.const 7))))
          (call $deliver (i32.const 9) (i32.const 0) (local.get $len))))"#);
    let mut n = node();
    let fp = register(&mut n, module);
    let from = Some(ip("10.0.0.2"));
    n.handle_datagram(T0, from, &capsule(fp, 3, b"hello"));
    n.handle_datagram(T0, from, &capsule(fp, 3, b""));
    n.handle_datagram(T0, from, &capsule(fp, 3, b"error"));
    let events: Vec<Event> = std::iter::from_fn(|| n.poll_event()).collect();
    let delivered: Vec<_> = events
        .iter()
        .filter_map(|e| match e {
            Event::Deliver {
                port,
                source,
                fingerprint,
                payload,
            } => Some((*port, *source, *fingerprint, payload.clone())),
            _ => None,
        })
        .collect();
    assert_eq!(delivered, [(9, ip("10.0.0.2"), fp, b"hello".to_vec())]);
    let logs = events
        .iter()
        .filter(
            |e| matches!(e, Event::Log { message, level: LogLevel::Info, .. } if message == "seen"),
        )
        .count();
    assert_eq!(logs, 3, "logs are kept whatever the outcome");
    let stats = n.stats();
    assert_eq!(stats.drops.get(DropReason::NoEffect), 1);
    assert_eq!(stats.drops.by_name("capsule_error"), 1);
    assert_eq!((stats.deliveries, stats.capsule_logs), (1, 3));

    // A driver with no application on port 9 reports it; the counter sits with the others.
    n.record_drop(DropReason::NoApplication);
    assert_eq!(n.stats().drops.by_name("no_application"), 1);
}

#[test]
fn a_send_to_this_node_is_looped_back_and_bounded_by_the_budget() {
    // Sends itself to this node with all its budget until none is left, then delivers.
    let module = wat(r#"(module
        (import "ants_v1" "capsule_budget" (func $budget (result i32)))
        (import "ants_v1" "node_address" (func $addr (param i32) (result i32)))
        (import "ants_v1" "send" (func $send (param i32 i32 i32 i32 i32 i32) (result i32)))
        (import "ants_v1" "deliver" (func $deliver (param i32 i32 i32) (result i32)))
        (memory (export "memory") 1)
        (func (export "ants_evaluate") (result i32)
          (drop (call $addr (i32.const 0)))
          (if (i32.eqz (call $budget))
            (then (return (call $deliver (i32.const 7) (i32.const 0) (i32.const 0)))))
          (if (result i32)
              (i32.ge_s (call $send (i32.const 0) (i32.const 0) (call $budget) (i32.const 0)
                                    (i32.const 0) (i32.const 0))
                        (i32.const 0))
            (then (i32.const 0)) (else (i32.const -1)))))"#);
    let mut n = node();
    let fp = register(&mut n, module);
    n.send_capsule(T0, fp, ip("10.0.0.1"), 5, b"").unwrap();
    let stats = n.stats();
    assert_eq!(stats.capsules_injected, 1);
    assert_eq!(stats.capsules_looped_back, 4);
    assert_eq!(stats.evaluations, 5);
    assert_eq!(stats.deliveries, 1);
    assert!(transmits(&mut n).is_empty());
    // Nothing is left to do but give the instance back once it has been idle.
    let idle = SandboxLimits::default().idle_instance_timeout;
    assert_eq!(n.poll_timeout(), Some(T0 + idle));
    n.handle_timeout(T0 + idle);
    assert_eq!(n.status().live_instances, 0);
    assert!(n.poll_timeout().is_none());
}

#[test]
fn local_applications_register_and_send_within_the_rules() {
    let mut n = node();
    let wasm = forward_wasm();
    let fp = n.register_protocol(T0, wasm.clone()).unwrap();
    assert_eq!(fp, Fingerprint::sha256(&wasm));
    // Before the compile finishes the capsule waits for it.
    n.send_capsule(T0, fp, ip("10.9.0.1"), 4, b"early").unwrap();
    assert!(transmits(&mut n).is_empty());
    assert_eq!(n.status().loads.len(), 1);
    assert_eq!(n.status().loads[0].phase, "compiling");
    let events = compile_pending(&mut n, T0);
    assert!(matches!(
        events[0],
        Event::CodeLoaded { fingerprint, from: None, bytes } if fingerprint == fp && bytes == wasm.len()
    ));
    let out = transmits(&mut n);
    assert_eq!(out.len(), 1);
    let Frame::Capsule(c) = Frame::parse(&out[0].bytes).unwrap() else {
        panic!()
    };
    assert_eq!(
        (c.source, c.previous, c.budget),
        (ip("10.0.0.1"), ip("10.0.0.1"), 3)
    );

    // Registering again is harmless and compiles nothing.
    assert_eq!(n.register_protocol(T0, wasm).unwrap(), fp);
    assert!(n.poll_event().is_none());
    let status = n.status();
    assert_eq!(status.protocols.len(), 1);
    assert!(status.protocols[0].pinned && status.protocols[0].compiled);

    let other = Fingerprint::sha256(b"other");
    assert_eq!(
        n.send_capsule(T0, other, ip("10.9.0.1"), 4, b""),
        Err(NodeError::UnknownProtocol(other))
    );
    assert_eq!(
        n.send_capsule(T0, fp, ip("10.9.0.1"), 0, b""),
        Err(NodeError::ZeroBudget)
    );
    assert!(matches!(
        n.send_capsule(T0, fp, ip("10.9.0.1"), 4, &[0; 1201]),
        Err(NodeError::PayloadTooLarge {
            len: 1201,
            max: 1200
        })
    ));
    assert!(matches!(
        n.register_protocol(T0, b"\0asm\x01\0\0\0".to_vec()),
        Err(NodeError::Module(_))
    ));
}

#[test]
fn registered_protocols_are_never_evicted() {
    // Without announces, so that every transmit counted is a capsule.
    let mut n = node_with(|c| {
        c.code_cache.max_entries = 2;
        c.demand.announce_code = false;
    });
    let wasm = forward_wasm();
    let pinned = register(&mut n, wasm.clone());
    // Two demand-loaded protocols through a cache of two entries, one of them pinned.
    for tag in 1..=2 {
        let module = variant(&wasm, tag);
        let fp = Fingerprint::sha256(&module);
        n.handle_datagram(T0, Some(ip("10.0.0.2")), &capsule(fp, 9, b"x"));
        let request = transmits(&mut n);
        assert_eq!(request.len(), 1);
        for f in ants_router::wire::CodeFragmentRepr::fragments(fp, &module).unwrap() {
            n.handle_datagram(T0, Some(ip("10.0.0.2")), &f.to_vec().unwrap());
        }
        compile_pending(&mut n, T0);
        assert!(n.has_code(&fp));
        assert_eq!(transmits(&mut n).len(), 1, "the held capsule went on");
    }
    assert!(n.has_code(&pinned));
    assert_eq!(n.stats().cache_evictions, 1);
}

#[test]
fn code_requests_are_answered_with_exactly_the_fragments_asked_for() {
    let mut n = node();
    let wasm = forward_wasm();
    let fp = register(&mut n, wasm.clone());
    let asker = Some(ip("10.0.0.2"));
    let cookie = Some(cookie_from(&mut n, T0, ip("10.0.0.2"), fp));
    // Fragments 1 and 3.
    let request = CodeRequestRepr {
        fingerprint: fp,
        first: 1,
        mask: &[0b1010_0000],
        cookie,
    };
    n.handle_datagram(T0, asker, &request.to_vec().unwrap());
    let out = transmits(&mut n);
    let indexes: Vec<u16> = out
        .iter()
        .map(|t| {
            assert_eq!(t.to, ip("10.0.0.2"));
            assert!(t.bytes.len() <= MAX_CODE_FRAME_LEN);
            match Frame::parse(&t.bytes).unwrap() {
                Frame::CodeFragment(f) => {
                    assert_eq!(f.data, &wasm[f.offset()..f.offset() + f.data.len()]);
                    f.index
                }
                other => panic!("{other:?}"),
            }
        })
        .collect();
    assert_eq!(indexes, [1, 3]);
    // The whole module.
    let all = CodeRequestRepr {
        cookie,
        ..CodeRequestRepr::all(fp)
    };
    n.handle_datagram(T0, asker, &all.to_vec().unwrap());
    assert_eq!(transmits(&mut n).len(), wasm.len().div_ceil(1024));
    // Something it does not have.
    let unknown = Fingerprint::sha256(b"unknown");
    n.handle_datagram(T0, asker, &CodeRequestRepr::all(unknown).to_vec().unwrap());
    let out = transmits(&mut n);
    assert_eq!(
        Frame::parse(&out[0].bytes).unwrap(),
        Frame::CodeMissing(CodeMissingRepr {
            fingerprint: unknown
        })
    );
    // Nowhere to answer.
    n.handle_datagram(T0, None, &CodeRequestRepr::all(fp).to_vec().unwrap());
    assert!(transmits(&mut n).is_empty());
    let stats = n.stats();
    assert_eq!((stats.requests_served, stats.requests_missing), (2, 1));
    assert_eq!(stats.fragments_sent as usize, 2 + wasm.len().div_ceil(1024));
    assert_eq!(stats.drops.get(DropReason::UnknownRequester), 1);
}

#[test]
fn a_requester_asking_too_often_is_refused_and_counted() {
    let mut n = node_with(|c| {
        c.demand.fragment_burst = 30;
        c.demand.fragments_per_requester_per_second = 12;
    });
    let wasm = forward_12k_wasm();
    let count = wasm.len().div_ceil(1024) as u64;
    assert!(
        (11..=15).contains(&count),
        "the burst of 30 holds two modules, not three"
    );
    let fp = register(&mut n, wasm);
    let all = |n: &mut Node, asker: &str| {
        let cookie = Some(cookie_from(n, T0, ip(asker), fp));
        CodeRequestRepr {
            cookie,
            ..CodeRequestRepr::all(fp)
        }
        .to_vec()
        .unwrap()
    };
    // The cookie's answer takes one token of the 30.
    let all_2 = all(&mut n, "10.0.0.2");
    for _ in 0..5 {
        n.handle_datagram(T0, Some(ip("10.0.0.2")), &all_2);
    }
    let stats = n.stats();
    assert_eq!(stats.fragments_sent, 2 * count);
    assert_eq!(stats.drops.get(DropReason::RequestRateLimited), 3);
    // Another requester has its own budget; two seconds later the first has 24 more.
    transmits(&mut n);
    let all_3 = all(&mut n, "10.0.0.3");
    n.handle_datagram(T0, Some(ip("10.0.0.3")), &all_3);
    n.handle_datagram(T0 + Duration::from_secs(2), Some(ip("10.0.0.2")), &all_2);
    assert_eq!(n.stats().fragments_sent, 4 * count);
    assert_eq!(n.stats().requests_refused, 3);
}

#[test]
fn unsolicited_and_inconsistent_code_is_dropped() {
    let mut n = node();
    let wasm = forward_wasm();
    let fp = Fingerprint::sha256(&wasm);
    let fragment = |i| {
        ants_router::wire::CodeFragmentRepr::fragment(fp, &wasm, i)
            .unwrap()
            .to_vec()
            .unwrap()
    };
    // Nobody asked.
    n.handle_datagram(T0, Some(ip("10.0.0.2")), &fragment(0));
    n.handle_datagram(
        T0,
        Some(ip("10.0.0.2")),
        &CodeMissingRepr { fingerprint: fp }.to_vec(),
    );
    assert_eq!(n.stats().drops.get(DropReason::UnsolicitedCode), 2);
    // A load from .2: fragments from .3 are ignored, duplicates counted.
    n.handle_datagram(T0, Some(ip("10.0.0.2")), &capsule(fp, 9, b"x"));
    transmits(&mut n);
    n.handle_datagram(T0, Some(ip("10.0.0.3")), &fragment(0));
    n.handle_datagram(T0, Some(ip("10.0.0.2")), &fragment(0));
    n.handle_datagram(T0, Some(ip("10.0.0.2")), &fragment(0));
    let drops = n.stats().drops;
    assert_eq!(drops.get(DropReason::UnsolicitedCode), 3);
    assert_eq!(drops.get(DropReason::DuplicateFragment), 1);
    assert_eq!(n.status().loads[0].fragments_received, 1);
}

#[test]
fn a_module_over_the_size_limit_is_never_reassembled() {
    let mut n = node_with(|c| c.sandbox.max_module_bytes = 4096);
    let wasm = forward_12k_wasm();
    let fp = Fingerprint::sha256(&wasm);
    n.handle_datagram(T0, Some(ip("10.0.0.2")), &capsule(fp, 9, b"x"));
    transmits(&mut n);
    let first = ants_router::wire::CodeFragmentRepr::fragment(fp, &wasm, 0).unwrap();
    n.handle_datagram(T0, Some(ip("10.0.0.2")), &first.to_vec().unwrap());
    let stats = n.stats();
    assert_eq!(stats.drops.get(DropReason::ModuleTooLarge), 1);
    // The capsule's source is its previous node here, so no source is left.
    assert_eq!(stats.drops.get(DropReason::CodeUnavailable), 1);
    assert!(n.status().loads.is_empty());
}

#[test]
fn timers_cover_loads_and_state_and_nothing_else() {
    let mut n = node();
    assert_eq!(n.poll_timeout(), None);
    let fp = Fingerprint::sha256(b"missing");
    n.handle_datagram(T0, Some(ip("10.0.0.2")), &capsule(fp, 9, b"x"));
    let deadline = n.poll_timeout().unwrap();
    assert_eq!(deadline, T0 + Duration::from_millis(200));
    // Nothing happens before the deadline.
    transmits(&mut n);
    n.handle_timeout(deadline - Duration::from_millis(1));
    assert!(transmits(&mut n).is_empty());
    n.handle_timeout(deadline);
    let out = transmits(&mut n);
    assert_eq!(out.len(), 1, "asked again");
    assert_eq!(
        n.poll_timeout(),
        Some(deadline + Duration::from_millis(400))
    );
}

#[test]
fn forwarding_a_loaded_protocol_does_not_wait_for_a_pending_compile() {
    // Without tier-ups, so that the only compile requested is the second protocol's, and
    // without announces, so that every transmit is a capsule.
    let mut n = node_with(|c| {
        c.sandbox.tier_up_after = 0;
        c.demand.announce_code = false;
    });
    let fp = register(&mut n, forward_wasm());
    let forward = capsule(fp, 9, b"payload");
    let measure = |n: &mut Node| {
        let rounds = 2_000u32;
        let start = Instant::now();
        for _ in 0..rounds {
            n.handle_datagram(T0, Some(ip("10.0.0.2")), &forward);
            n.poll_transmit()
                .unwrap_or_else(|| panic!("{:?}", n.stats()));
        }
        start.elapsed() / rounds
    };
    let idle = measure(&mut n);
    // A second protocol arrives and is fetched; its compile is requested and left pending.
    let module = variant(&forward_wasm(), 9);
    let other = Fingerprint::sha256(&module);
    n.handle_datagram(T0, Some(ip("10.0.0.2")), &capsule(other, 9, b"x"));
    transmits(&mut n);
    for f in ants_router::wire::CodeFragmentRepr::fragments(other, &module).unwrap() {
        n.handle_datagram(T0, Some(ip("10.0.0.2")), &f.to_vec().unwrap());
    }
    let Some(Event::Compile {
        fingerprint,
        bytes,
        tier,
    }) = n.poll_event()
    else {
        panic!("a compile is requested");
    };
    assert_eq!(fingerprint, other);
    let pending = measure(&mut n);
    eprintln!(
        "handle_datagram + poll_transmit, forward capsule: {idle:?} idle, {pending:?} with a compile pending"
    );
    // The held capsule goes on once the driver answers.
    let compiled = n.compiler().compile_tier(fingerprint, &bytes, tier);
    n.compile_done(T0, fingerprint, compiled);
    assert_eq!(transmits(&mut n).len(), 1);
    assert_eq!(n.stats().drops.total(), 0);
}

#[test]
fn stats_and_status_serialize() {
    fn serializable<T: serde::Serialize>(_: &T) {}
    let n = node();
    serializable(&n.stats());
    serializable(&n.status());
    assert_eq!(n.status().neighbours, ["10.0.0.2", "10.0.0.3"]);
}

#[test]
fn the_node_can_move_to_a_driver_thread() {
    fn send<T: Send>() {}
    send::<Node>();
    send::<ants_router::sandbox::Compiler>();
}

#[test]
fn registering_a_protocol_while_it_loads_on_demand_uses_the_local_bytes() {
    let mut n = node();
    let wasm = forward_wasm();
    let fp = Fingerprint::sha256(&wasm);
    n.handle_datagram(T0, Some(ip("10.0.0.2")), &capsule(fp, 9, b"held"));
    assert_eq!(transmits(&mut n).len(), 1, "a code request");
    assert_eq!(n.register_protocol(T0, wasm).unwrap(), fp);
    compile_pending(&mut n, T0);
    // The held capsule went on without a single fragment.
    let out = transmits(&mut n);
    assert_eq!(out.len(), 1);
    assert!(matches!(Frame::parse(&out[0].bytes), Ok(Frame::Capsule(_))));
    let stats = n.stats();
    assert_eq!(stats.fragments_received, 0);
    assert_eq!((stats.loads_started, stats.loads_completed), (1, 1));
    // Fragments answering the old request are now late.
    let late = ants_router::wire::CodeFragmentRepr::fragment(fp, &forward_wasm(), 0)
        .unwrap()
        .to_vec()
        .unwrap();
    n.handle_datagram(T0, Some(ip("10.0.0.2")), &late);
    assert_eq!(n.stats().drops.get(DropReason::UnsolicitedCode), 1);
    assert!(n.status().protocols[0].pinned);
}

#[test]
fn nodes_sharing_an_engine_run_one_compiled_module() {
    let first = node();
    let compiler = first.compiler();
    let mut second = Node::with_compiler(
        {
            let mut c = NodeConfig::new(ip("10.0.0.1"));
            c.neighbours = vec![ip("10.0.0.3")];
            c.routes = vec![Route {
                prefix: ip("10.9.0.0"),
                len: 16,
                next_hop: NextHop::Neighbour(ip("10.0.0.3")),
            }];
            c
        },
        compiler.clone(),
    )
    .unwrap();
    let fp = second.register_protocol(T0, forward_wasm()).unwrap();
    // Compiled once by the first node's engine, answered to the second.
    let Some(Event::Compile { bytes, .. }) = second.poll_event() else {
        panic!("no compile request");
    };
    let compiled = compiler.compile(fp, &bytes).unwrap();
    second.compile_done(T0, fp, Ok(compiled));
    second.handle_datagram(T0, Some(ip("10.0.0.2")), &capsule(fp, 9, b"data"));
    let out = transmits(&mut second);
    assert_eq!(
        out.len(),
        1,
        "{:?}",
        second.stats().drops.nonzero().collect::<Vec<_>>()
    );
    assert_eq!(out[0].to, ip("10.0.0.3"));
}

mod tiers {
    use super::*;
    use ants_router::sandbox::CompileTier;

    /// The next compile the node asks for.
    fn compile_request(n: &mut Node) -> (Fingerprint, std::sync::Arc<[u8]>, CompileTier) {
        match n.poll_event() {
            Some(Event::Compile {
                fingerprint,
                bytes,
                tier,
            }) => (fingerprint, bytes, tier),
            other => panic!("expected a compile, got {other:?}"),
        }
    }

    fn forward_some(n: &mut Node, fp: Fingerprint, count: usize) {
        for _ in 0..count {
            n.handle_datagram(T0, Some(ip("10.0.0.2")), &capsule(fp, 9, b"payload"));
            assert_eq!(transmits(n).len(), 1, "forwarded on whatever code it has");
        }
    }

    #[test]
    fn a_busy_protocol_is_optimized_in_the_background_and_swapped_in() {
        let mut n = node_with(|c| c.sandbox.tier_up_after = 3);
        let fp = n.register_protocol(T0, forward_wasm()).unwrap();
        let (first, bytes, tier) = compile_request(&mut n);
        assert_eq!((first, tier), (fp, CompileTier::Baseline));
        let baseline = n.compiler().compile_tier(fp, &bytes, tier);
        n.compile_done(T0, fp, baseline);
        // `CodeLoaded`.
        while n.poll_event().is_some() {}
        assert_eq!(n.status().protocols[0].tier, Some("baseline"));

        forward_some(&mut n, fp, 2);
        assert!(n.poll_event().is_none(), "not yet");
        forward_some(&mut n, fp, 1);
        let (again, bytes, tier) = compile_request(&mut n);
        assert_eq!((again, tier), (fp, CompileTier::Optimized));
        // Capsules keep flowing on the baseline code meanwhile.
        forward_some(&mut n, fp, 5);
        assert!(n.poll_event().is_none(), "one tier-up at a time");
        let optimized = n.compiler().compile_tier(fp, &bytes, tier);
        n.compile_done(T0, fp, optimized);

        let status = n.status();
        let p = &status.protocols[0];
        assert_eq!(p.tier, Some("optimized"));
        assert!(p.baseline_compile_time_us.is_some());
        assert!(
            !p.live_instance,
            "the next capsule instantiates the new code"
        );
        forward_some(&mut n, fp, 3);
        let stats = n.stats();
        assert_eq!((stats.tier_ups_started, stats.tier_ups_completed), (1, 1));
        assert_eq!(stats.drops.total(), 0);
        assert!(n.poll_event().is_none(), "optimized code is final");
    }

    #[test]
    fn a_failed_tier_up_keeps_the_baseline_code_and_is_not_retried() {
        let mut n = node_with(|c| c.sandbox.tier_up_after = 2);
        let fp = n.register_protocol(T0, forward_wasm()).unwrap();
        compile_pending(&mut n, T0);
        forward_some(&mut n, fp, 2);
        let (_, _, tier) = compile_request(&mut n);
        assert_eq!(tier, CompileTier::Optimized);
        n.compile_done(
            T0,
            fp,
            Err(ants_router::sandbox::LoadError::Rejected(
                "worker died".into(),
            )),
        );
        forward_some(&mut n, fp, 10);
        assert!(n.poll_event().is_none());
        assert_eq!(n.status().protocols[0].tier, Some("baseline"));
        assert_eq!(n.stats().tier_ups_failed, 1);
    }

    /// A module whose shape the optimizing compiler would take too long on (here: nesting
    /// deeper than a limit of 2) runs its baseline code for good.
    #[test]
    fn a_module_over_the_shape_limits_is_never_optimized() {
        let mut n = node_with(|c| {
            c.sandbox.tier_up_after = 2;
            c.sandbox.optimize_max_nesting = 2;
        });
        let fp = n.register_protocol(T0, forward_wasm()).unwrap();
        compile_pending(&mut n, T0);
        forward_some(&mut n, fp, 10);
        assert!(n.poll_event().is_none());
        assert_eq!(n.stats().tier_ups_started, 0);
        let err = n
            .compiler()
            .compile_tier(fp, &forward_wasm(), CompileTier::Optimized)
            .unwrap_err();
        assert_eq!(err.name(), "too_complex_to_optimize");
    }
}
