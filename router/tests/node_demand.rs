//! Demand loading across simulated networks of real nodes, in virtual time: code follows the
//! first capsule hop by hop, survives fragment loss, reordering, eviction upstream, spoofed
//! code and restarts, and a flood of unknown types stays within the node's bounds.

mod node_support;

use std::net::IpAddr;
use std::time::Duration;

use ants_emulator::Verdict;
use ants_router::fingerprint::Fingerprint;
use ants_router::node::{DropReason, NodeConfig};
use ants_router::wire::{CapsuleRepr, CodeFragmentRepr, Frame, FrameKind};
use node_support::{
    LinkParams, Net, addr, chain, chain_config, chain_mesh, forward_12k_wasm, forward_wasm,
    inert_wat, ip, link, ms, variant,
};

/// Sends `count` forward capsules from node 0 to node `to`, payload "capsule <k>".
fn send_numbered(sim: &mut Net, fp: Fingerprint, to: usize, range: std::ops::Range<u32>) {
    for k in range {
        sim.send_capsule(addr(0), fp, addr(to), 32, format!("capsule {k}").as_bytes())
            .unwrap();
    }
}

fn payloads_at(sim: &Net, node: IpAddr) -> Vec<String> {
    sim.deliveries_at(node)
        .map(|d| String::from_utf8(d.payload.clone()).unwrap())
        .collect()
}

fn numbered(range: std::ops::Range<u32>) -> Vec<String> {
    range.map(|k| format!("capsule {k}")).collect()
}

/// Kinds of frames `from` sent to `to` in the trace.
fn frames_between(sim: &Net, from: IpAddr, to: IpAddr, kind: FrameKind) -> Vec<Vec<u8>> {
    sim.trace()
        .iter()
        .filter(|r| r.from == from && r.to == to && r.bytes.get(3) == Some(&kind.code()))
        .map(|r| r.bytes.clone())
        .collect()
}

#[test]
fn demand_loading_across_1_2_and_4_active_hops_loses_nothing() {
    let wasm = forward_12k_wasm();
    let fragments = wasm.len().div_ceil(1024) as u64;
    assert!(
        fragments > 10,
        "the forward capsule spans about 12 fragments"
    );
    for hops in [1, 2, 4] {
        let n = hops + 1;
        let mut sim = chain(n, link(ms(2)), |_, _| {});
        let fp = sim.register(addr(0), wasm.clone()).unwrap();
        send_numbered(&mut sim, fp, hops, 0..1);
        sim.run_for(Duration::from_secs(2));
        assert_eq!(payloads_at(&sim, addr(hops)), numbered(0..1), "{hops} hops");
        let first_at = sim.deliveries()[0].at;

        // Later capsules find the code cached at every hop: no more loads, same path.
        send_numbered(&mut sim, fp, hops, 1..20);
        sim.run_for(Duration::from_secs(1));
        assert_eq!(
            payloads_at(&sim, addr(hops)),
            numbered(0..20),
            "{hops} hops"
        );
        for i in 0..n {
            let node = sim.node(addr(i)).unwrap();
            let stats = node.stats();
            assert!(node.has_code(&fp), "node {i} caches the code");
            assert_eq!(stats.drops.total(), 0, "node {i}: {:?}", stats.drops);
            assert_eq!(stats.loads_started, u64::from(i > 0), "node {i}");
            assert_eq!(stats.loads_completed, u64::from(i > 0), "node {i}");
            assert_eq!(stats.code_requests_retried, 0, "node {i}");
            // One cookie from the previous hop, one served request to the next.
            assert_eq!(stats.cookies_received, u64::from(i > 0), "node {i}");
            assert_eq!(stats.cookies_sent, u64::from(i < hops), "node {i}");
            if i > 0 {
                // Loaded from its previous hop, every fragment once.
                assert_eq!(stats.fragments_received, fragments, "node {i}");
                let loaded = sim
                    .code_loaded()
                    .iter()
                    .find(|l| sim.address(l.node) == addr(i))
                    .unwrap();
                assert_eq!(loaded.from, Some(addr(i - 1)));
            }
            // The status says where the code came from.
            let status = node.status();
            let p = &status.protocols[0];
            if i == 0 {
                assert_eq!((p.origin, p.origin_node.as_deref()), ("registered", None));
            } else {
                let from = addr(i - 1).to_string();
                assert_eq!(
                    (p.origin, p.origin_node.as_deref()),
                    ("loaded", Some(&*from))
                );
                assert!(p.cached_ms > 0, "node {i}: cached at {} ms", p.cached_ms);
            }
        }
        // Each hop: capsule (2 ms), request (2 ms), cookie (2 ms), request with the cookie
        // (2 ms), fragments (2 ms); compiling takes no virtual time here. The cookie round
        // trip is paid once per code source (and key period).
        assert_eq!(first_at, sim.deliveries()[0].at);
        assert_eq!(
            first_at.as_nanos(),
            ms(10 * hops as u64).as_nanos() as u64,
            "{hops} hops"
        );
    }
}

#[test]
fn a_lost_fragment_is_asked_for_alone_and_reordering_is_harmless() {
    let wasm = forward_wasm();
    let mut sim = chain(2, link(ms(2)), |_, _| {});
    let mut dropped = false;
    sim.set_tamper(move |d| match Frame::parse(&d.bytes) {
        Ok(Frame::CodeFragment(f)) => {
            if f.index == 3 && !dropped {
                dropped = true;
                return Verdict::Drop;
            }
            // Later fragments overtake earlier ones.
            Verdict::Delay(ms(u64::from(20 - f.index.min(20))))
        }
        _ => Verdict::Deliver,
    });
    let count = u16::try_from(wasm.len().div_ceil(1024)).unwrap();
    let fp = sim.register(addr(0), wasm).unwrap();
    send_numbered(&mut sim, fp, 1, 0..3);
    sim.run_for(Duration::from_secs(3));
    assert_eq!(payloads_at(&sim, addr(1)), numbered(0..3));

    let requests = frames_between(&sim, addr(1), addr(0), FrameKind::CodeRequest);
    assert_eq!(
        requests.len(),
        3,
        "one request, again with the cookie, one re-request"
    );
    let wanted = |bytes: &[u8]| match Frame::parse(bytes).unwrap() {
        Frame::CodeRequest(r) => r.wanted(count).collect::<Vec<u16>>(),
        other => panic!("{other:?}"),
    };
    assert_eq!(wanted(&requests[0]), (0..count).collect::<Vec<_>>());
    assert_eq!(wanted(&requests[1]), (0..count).collect::<Vec<_>>());
    assert_eq!(
        wanted(&requests[2]),
        [3],
        "only the lost fragment is asked again"
    );
    let stats = sim.node(addr(1)).unwrap().stats();
    assert_eq!(stats.code_requests_retried, 1);
    assert_eq!(stats.fragments_received, u64::from(count));
    assert_eq!(stats.drops.total(), 0, "{:?}", stats.drops);
    assert_eq!(
        frames_between(&sim, addr(0), addr(1), FrameKind::CodeFragment).len(),
        usize::from(count) + 1
    );
}

#[test]
fn a_previous_node_that_evicted_the_code_answers_missing_and_the_source_serves_it() {
    let forward = forward_wasm();
    let other = variant(&forward, 1);
    // A - B - C: B keeps one module, and its link to C is slow, so B has evicted the first
    // protocol for the second by the time C asks it.
    let mut mesh = chain_mesh(3, link(ms(1)), |i, c| {
        if i == 1 {
            c.code_cache.max_entries = 1;
        }
    });
    mesh.link(addr(1), addr(2), link(ms(50)));
    let mut sim = Net::build(&mesh);
    let p1 = sim.register(addr(0), forward).unwrap();
    let p2 = sim.register(addr(0), other).unwrap();
    sim.send_capsule(addr(0), p1, addr(2), 16, b"first")
        .unwrap();
    sim.send_capsule(addr(0), p2, addr(2), 16, b"second")
        .unwrap();
    sim.run_for(Duration::from_secs(3));

    let mut got = payloads_at(&sim, addr(2));
    got.sort();
    assert_eq!(got, ["first", "second"]);
    let b = sim.node(addr(1)).unwrap();
    assert!(
        !b.has_code(&p1) && b.has_code(&p2),
        "B evicted the first protocol"
    );
    assert_eq!(b.stats().requests_missing, 1);
    let c = sim.node(addr(2)).unwrap().stats();
    assert_eq!(c.code_missing_received, 1);
    assert_eq!(c.load_fallbacks, 1);
    assert_eq!(c.drops.total(), 0, "{:?}", c.drops);
    let from = |fp| {
        sim.code_loaded()
            .iter()
            .find(|l| sim.address(l.node) == addr(2) && l.fingerprint == fp)
            .unwrap()
            .from
    };
    assert_eq!(from(p1), Some(addr(0)), "fell back to the capsule's source");
    assert_eq!(from(p2), Some(addr(1)));
    // C reached A directly (the default link), never through B: a request, and again with
    // A's cookie.
    assert_eq!(
        frames_between(&sim, addr(2), addr(0), FrameKind::CodeRequest).len(),
        2
    );
}

#[test]
fn spoofed_code_is_counted_never_cached_and_the_source_serves_the_real_module() {
    let wasm = forward_wasm();
    let mut sim = chain(3, link(ms(2)), |_, _| {});
    // B serves C other bytes under the right type: the first data byte of every fragment is
    // flipped on the way.
    sim.set_tamper(|d| {
        if d.from == addr(1)
            && d.to == addr(2)
            && let Ok(Frame::CodeFragment(f)) = Frame::parse(&d.bytes)
        {
            let mut data = f.data.to_vec();
            data[0] ^= 0xff;
            d.bytes = CodeFragmentRepr { data: &data, ..f }.to_vec().unwrap();
        }
        Verdict::Deliver
    });
    let fp = sim.register(addr(0), wasm).unwrap();
    send_numbered(&mut sim, fp, 2, 0..1);
    // Until the spoofed module is complete at C: 2 ms per leg, request, cookie, request and
    // fragments.
    sim.run_for(ms(21));
    let c = sim.node(addr(2)).unwrap();
    assert_eq!(c.stats().drops.get(DropReason::HashMismatch), 1);
    assert!(
        c.status().protocols.is_empty(),
        "the spoofed module is not cached"
    );
    assert!(!c.has_code(&fp));

    sim.run_for(Duration::from_secs(2));
    assert_eq!(payloads_at(&sim, addr(2)), numbered(0..1));
    let c = sim.node(addr(2)).unwrap();
    assert!(c.has_code(&fp));
    assert_eq!(
        c.stats().drops.total(),
        1,
        "only the spoofed module was dropped"
    );
    let loaded = sim
        .code_loaded()
        .iter()
        .find(|l| sim.address(l.node) == addr(2))
        .unwrap();
    assert_eq!(loaded.from, Some(addr(0)));
}

#[test]
fn a_full_hold_queue_drops_and_counts_the_overflow_and_delivers_the_rest() {
    let mut sim = chain(2, link(ms(2)), |i, c| {
        if i == 1 {
            c.demand.max_held_per_protocol = 4;
        }
    });
    let fp = sim.register(addr(0), forward_wasm()).unwrap();
    send_numbered(&mut sim, fp, 1, 0..10);
    sim.run_for(Duration::from_secs(2));
    assert_eq!(
        payloads_at(&sim, addr(1)),
        numbered(0..4),
        "arrival order kept"
    );
    let stats = sim.node(addr(1)).unwrap().stats();
    assert_eq!(stats.drops.get(DropReason::QueueFull), 6);
    assert_eq!(stats.drops.total(), 6);
    assert_eq!((stats.capsules_held, stats.capsules_released), (4, 4));
    assert_eq!(sim.node(addr(1)).unwrap().status().held_bytes, 0);
}

#[test]
fn a_restarted_middle_node_loads_the_code_again_and_later_capsules_arrive() {
    let mut sim = chain(4, link(ms(1)), |_, _| {});
    let fp = sim.register(addr(0), forward_wasm()).unwrap();
    send_numbered(&mut sim, fp, 3, 0..5);
    sim.run_for(Duration::from_secs(1));
    assert_eq!(payloads_at(&sim, addr(3)), numbered(0..5));

    let old = sim.replace_node(chain_config(2, 4));
    assert!(old.unwrap().has_code(&fp));
    assert!(!sim.node(addr(2)).unwrap().has_code(&fp));
    send_numbered(&mut sim, fp, 3, 5..10);
    sim.run_for(Duration::from_secs(1));
    assert_eq!(payloads_at(&sim, addr(3)), numbered(0..10));
    let fresh = sim.node(addr(2)).unwrap().stats();
    assert_eq!((fresh.loads_started, fresh.loads_completed), (1, 1));
    assert_eq!(fresh.drops.total(), 0);
    // The nodes around it kept their code: D loaded once, before the restart.
    assert_eq!(sim.node(addr(3)).unwrap().stats().loads_started, 1);
}

#[test]
fn a_silent_previous_node_is_retried_with_backoff_then_the_source_is_asked() {
    let mut sim = chain(3, link(ms(1)), |_, _| {});
    // B never answers C's code requests.
    sim.set_tamper(|d| {
        let request = d.bytes.get(3) == Some(&FrameKind::CodeRequest.code());
        if request && d.from == addr(2) && d.to == addr(1) {
            Verdict::Drop
        } else {
            Verdict::Deliver
        }
    });
    let fp = sim.register(addr(0), forward_wasm()).unwrap();
    send_numbered(&mut sim, fp, 2, 0..2);
    sim.run_for(Duration::from_secs(10));
    assert_eq!(payloads_at(&sim, addr(2)), numbered(0..2));
    let c = sim.node(addr(2)).unwrap().stats();
    let limits = NodeConfig::new(addr(2)).demand;
    assert_eq!(c.code_requests_retried, u64::from(limits.max_retries));
    assert_eq!(c.load_fallbacks, 1);
    let requests: Vec<_> = sim
        .trace()
        .iter()
        .filter(|r| r.from == addr(2) && r.bytes[3] == FrameKind::CodeRequest.code())
        .map(|r| (r.at, r.to))
        .collect();
    // 200, 400, 800 ms backoff, then 1.6 s before turning to the source, which answers
    // with its cookie first (a round trip on the default link).
    let gaps: Vec<u64> = requests
        .windows(2)
        .map(|w| (w[1].0.as_nanos() - w[0].0.as_nanos()) / 1_000_000)
        .collect();
    assert_eq!(gaps, [200, 400, 800, 1600, 10]);
    assert_eq!(requests.last().unwrap().1, addr(0));
}

#[test]
fn code_nobody_has_drops_the_held_capsules_as_unavailable() {
    let mut sim = chain(2, link(ms(1)), |_, _| {});
    // A capsule of a type neither its previous node (A) nor its source (a host nobody
    // simulates) can serve.
    let fp = Fingerprint::sha256(b"no such module");
    let capsule = CapsuleRepr {
        fingerprint: fp,
        source: ip("192.0.2.9"),
        destination: addr(1),
        previous: addr(0),
        budget: 8,
        payload: b"lost",
    };
    for _ in 0..3 {
        sim.inject(addr(0), addr(1), capsule.to_vec().unwrap());
    }
    sim.run_for(Duration::from_secs(10));
    let b = sim.node(addr(1)).unwrap();
    let stats = b.stats();
    assert_eq!(stats.drops.get(DropReason::CodeUnavailable), 3);
    assert_eq!((stats.loads_started, stats.loads_failed), (1, 1));
    assert_eq!(stats.code_missing_received, 1, "A said it has no such code");
    assert!(b.status().loads.is_empty());
    assert_eq!(b.status().held_bytes, 0);
    assert!(b.poll_timeout().is_none(), "no timer left armed");
}

#[test]
fn a_flood_of_unknown_types_stays_within_bounds_and_does_not_stall_a_loaded_protocol() {
    // A - X - D carries forward capsules; H, another neighbour of X, floods X with capsules of
    // many distinct types, half of which it can serve (valid modules), half of which nobody
    // can.
    let h = ip("10.0.0.99");
    let mut mesh = chain_mesh(3, link(ms(1)), |i, c| {
        if i == 1 {
            c.neighbours.push(ip("10.0.0.99"));
        }
    });
    let mut hc = NodeConfig::new(h);
    hc.neighbours.push(addr(1));
    mesh.node(hc).link(h, addr(1), link(ms(1)));
    let mut sim = Net::build(&mesh);
    sim.set_compiling(h, false);
    sim.set_compile_delay(ms(30));

    let fwd = sim.register(addr(0), forward_wasm()).unwrap();
    send_numbered(&mut sim, fwd, 2, 0..1);
    sim.run_for(Duration::from_secs(1));
    assert_eq!(payloads_at(&sim, addr(2)).len(), 1);
    let before = sim.deliveries().len();

    let inert = inert_wat();
    let mut flood = Vec::new();
    for k in 0..60 {
        flood.push(sim.register(h, variant(&inert, k)).unwrap());
        flood.push(Fingerprint::sha256(&k.to_be_bytes()));
    }
    let flood_capsule = |k: usize| {
        CapsuleRepr {
            fingerprint: flood[k],
            source: h,
            destination: addr(2),
            previous: h,
            budget: 8,
            payload: &[0u8; 1000],
        }
        .to_vec()
        .unwrap()
    };
    let x = addr(1);
    let limits = NodeConfig::new(x).demand;
    // The first half of the flood at once (more types than loads may run), the rest spread
    // over the next 300 ms, while A keeps sending; the bounds are checked every millisecond.
    let mut sent_at = Vec::new();
    let mut flood_capsules = 0u64;
    let copies = |k: usize| 1 + k % 3;
    for k in 0..60 {
        for _ in 0..copies(k) {
            sim.inject(h, x, flood_capsule(k));
            flood_capsules += 1;
        }
    }
    for k in 1..400usize {
        // One more type every 5 ms for the first 300 ms.
        if k <= 300 && (k - 1) % 5 == 0 {
            let fp_index = 60 + (k - 1) / 5;
            for _ in 0..copies(fp_index) {
                sim.inject(h, x, flood_capsule(fp_index));
                flood_capsules += 1;
            }
        }
        sent_at.push(sim.now());
        sim.send_capsule(addr(0), fwd, addr(2), 32, format!("capsule {k}").as_bytes())
            .unwrap();
        sim.run_for(ms(1));
        let status = sim.node(x).unwrap().status();
        assert!(status.loads.len() <= limits.max_concurrent_loads);
        assert!(status.held_bytes <= limits.max_held_bytes);
        assert!(sim.outstanding_compiles(x) <= limits.max_concurrent_compiles);
    }
    sim.run_for(Duration::from_secs(20));
    assert_eq!(
        sim.max_outstanding_compiles(x),
        limits.max_concurrent_compiles
    );
    // Every forward capsule arrived 2 ms after it was sent, as before the flood: compiles in
    // progress never delay a loaded protocol.
    let forwarded: Vec<_> = sim.deliveries()[before..]
        .iter()
        .filter(|d| d.fingerprint == fwd)
        .collect();
    assert_eq!(forwarded.len(), 399);
    for (d, sent) in forwarded.iter().zip(&sent_at) {
        assert_eq!(
            d.at,
            *sent + ms(2),
            "{:?}",
            String::from_utf8_lossy(&d.payload)
        );
    }
    let stats = sim.node(x).unwrap().stats();
    let drops = &stats.drops;
    // The forward load, then what the bounds let through: at most the concurrent loads at
    // once, and at most the burst plus the rate per peer over the run.
    let flood_loads = stats.loads_started - 1;
    assert!(drops.get(DropReason::TooManyLoads) > 0, "{drops:?}");
    assert!(drops.get(DropReason::LoadRateLimited) > 0, "{drops:?}");
    assert!(flood_loads <= u64::from(limits.load_burst + limits.loads_per_peer_per_second / 2));
    assert!(stats.compiles_started <= stats.loads_started);
    assert_eq!(
        stats.loads_completed + stats.loads_failed,
        stats.loads_started
    );
    assert!(
        stats.loads_completed > 1 && stats.loads_failed > 0,
        "{stats:?}"
    );
    // Nothing unaccounted for: each flood capsule was evaluated (and dropped as no_effect) or
    // dropped under a named reason.
    assert_eq!(
        drops.get(DropReason::NoEffect)
            + drops.get(DropReason::LoadRateLimited)
            + drops.get(DropReason::TooManyLoads)
            + drops.get(DropReason::QueueFull)
            + drops.get(DropReason::CodeUnavailable),
        flood_capsules,
        "{drops:?}"
    );
    assert_eq!(drops.total(), flood_capsules, "{drops:?}");
    assert!(sim.node(x).unwrap().status().loads.is_empty());
}

#[test]
fn a_module_that_fails_to_compile_is_not_fetched_again() {
    // Valid WebAssembly, but it imports outside the node API: rejected at compile time.
    let bad = wat::parse_str(
        r#"(module (import "env" "f" (func)) (memory (export "memory") 1)
             (func (export "ants_evaluate") (result i32) i32.const 0))"#,
    )
    .unwrap();
    let fp = Fingerprint::sha256(&bad);
    // The only node that has it: a source that serves it (played by a node that pins it
    // without validation is impossible, so serve it from a test double).
    let mut sim = chain(2, link(ms(1)), |_, _| {});
    let capsule = CapsuleRepr {
        fingerprint: fp,
        source: addr(0),
        destination: addr(1),
        previous: addr(0),
        budget: 8,
        payload: b"x",
    };
    // A answers with fragments of the bad module: replace its code-missing answer.
    let module = bad.clone();
    sim.set_tamper(move |d| {
        if d.from == addr(0) && d.bytes[3] == FrameKind::CodeMissing.code() {
            d.bytes = CodeFragmentRepr::fragment(fp, &module, 0)
                .unwrap()
                .to_vec()
                .unwrap();
        }
        Verdict::Deliver
    });
    sim.inject(addr(0), addr(1), capsule.to_vec().unwrap());
    sim.run_for(Duration::from_secs(1));
    let b = sim.node(addr(1)).unwrap().stats();
    assert_eq!(b.compiles_failed, 1);
    assert_eq!(b.drops.get(DropReason::ModuleRejected), 1);
    let requests = b.code_requests_sent;

    sim.inject(addr(0), addr(1), capsule.to_vec().unwrap());
    sim.run_for(Duration::from_secs(1));
    let b = sim.node(addr(1)).unwrap().stats();
    assert_eq!(b.drops.get(DropReason::ModuleRejected), 2);
    assert_eq!(b.code_requests_sent, requests, "not fetched again");
    assert_eq!(b.compiles_started, 1, "not compiled again");
}

#[test]
fn the_same_seed_gives_the_same_run() {
    let run = || {
        let mut mesh = chain_mesh(4, link(ms(1)), |_, _| {});
        mesh.link(
            addr(1),
            addr(2),
            LinkParams {
                loss: 0.2,
                bandwidth_bps: Some(10_000_000),
                ..link(ms(3))
            },
        );
        let mut sim = Net::build(&mesh);
        let fp = sim.register(addr(0), forward_wasm()).unwrap();
        send_numbered(&mut sim, fp, 3, 0..30);
        sim.run_for(Duration::from_secs(10));
        let lost: u64 = (0..sim.emu.topology().links.len())
            .flat_map(|l| sim.emu.link_stats(l).unwrap())
            .map(|d| d.losses)
            .sum();
        (
            sim.trace().to_vec(),
            sim.deliveries().to_vec(),
            sim.node(addr(2)).unwrap().stats(),
            lost,
        )
    };
    let (trace, deliveries, stats, lost) = run();
    assert!(lost > 0, "the lossy link lost something");
    assert!(!deliveries.is_empty());
    assert_eq!(run(), (trace, deliveries, stats, lost));
}
