//! Untrusted peers, against one node core or a simulated chain: code frames only from the node
//! asked, requests only to configured nodes, code only to requesters that proved their address
//! (cookies), and budgets capped. Each attack of the untrusted-peers issue has a test here
//! that fails against the code before its defence.

mod node_support;

use std::net::IpAddr;
use std::time::Duration;

use ants_router::fingerprint::Fingerprint;
use ants_router::node::{DropReason, Node, NodeConfig};
use ants_router::wire::{CapsuleRepr, CodeFragmentRepr, Frame, FrameKind};
use node_support::{addr, chain, chain_config, cookie_from, forward_wasm, ip, link, ms};

/// Drives one node by hand: a capsule of unknown type from its neighbour 10.0.0.1 starts a
/// load; what comes back from other senders must change nothing.
mod unsolicited {
    use super::*;
    use ants_router::harness::compile_pending;
    use ants_router::time::Timestamp;
    use ants_router::wire::CodeMissingRepr;

    const T0: Timestamp = Timestamp::from_millis(1_000);

    fn loading_node(wasm: &[u8]) -> (Node, Fingerprint, Vec<u8>) {
        let mut node = Node::new(chain_config(1, 3)).unwrap();
        let fp = Fingerprint::sha256(wasm);
        let capsule = CapsuleRepr {
            fingerprint: fp,
            source: addr(0),
            destination: addr(2),
            previous: addr(0),
            budget: 8,
            payload: b"held",
        }
        .to_vec()
        .unwrap();
        node.handle_datagram(T0, Some(addr(0)), &capsule);
        let request = node.poll_transmit().expect("a code request");
        assert_eq!(request.to, addr(0));
        (node, fp, capsule)
    }

    fn complete(node: &mut Node, fp: Fingerprint, wasm: &[u8]) {
        for f in CodeFragmentRepr::fragments(fp, wasm).unwrap() {
            node.handle_datagram(T0, Some(addr(0)), &f.to_vec().unwrap());
        }
        compile_pending(node, T0);
    }

    /// One fragment announcing a wrong length, from a socket the driver cannot name, used to
    /// make the node discard every genuine fragment after it (`fragment_mismatch`) and lose
    /// the load. Now it is `unsolicited_code` and the load completes.
    #[test]
    fn a_fragment_from_an_unknown_sender_changes_nothing() {
        let wasm = forward_wasm();
        let (mut node, fp, _) = loading_node(&wasm);
        let bogus = CodeFragmentRepr {
            fingerprint: fp,
            module_len: 64,
            index: 0,
            data: &[0u8; 64],
        };
        node.handle_datagram(T0, None, &bogus.to_vec().unwrap());
        // Nor from a node that was not asked.
        node.handle_datagram(T0, Some(addr(2)), &bogus.to_vec().unwrap());
        assert_eq!(node.stats().drops.get(DropReason::UnsolicitedCode), 2);
        complete(&mut node, fp, &wasm);
        let stats = node.stats();
        assert_eq!(stats.drops.get(DropReason::FragmentMismatch), 0);
        assert_eq!(stats.loads_completed, 1, "{:?}", stats.drops);
        let forwarded = node.poll_transmit().expect("the held capsule, forwarded");
        assert_eq!(forwarded.to, addr(2));
    }

    /// A code-missing frame from an unknown sender used to make the node abandon its source
    /// at once.
    #[test]
    fn code_missing_from_an_unknown_sender_changes_nothing() {
        let wasm = forward_wasm();
        let (mut node, fp, _) = loading_node(&wasm);
        let missing = CodeMissingRepr { fingerprint: fp }.to_vec();
        node.handle_datagram(T0, None, &missing);
        node.handle_datagram(T0, Some(addr(2)), &missing);
        let stats = node.stats();
        assert_eq!(stats.drops.get(DropReason::UnsolicitedCode), 2);
        assert_eq!((stats.code_missing_received, stats.load_fallbacks), (0, 0));
        assert!(
            node.poll_transmit().is_none(),
            "no request to another source"
        );
        complete(&mut node, fp, &wasm);
        assert_eq!(node.stats().loads_completed, 1);
    }
}

/// Where code requests go, and whom code is served to: configured neighbours and peers only,
/// unless the operator allows more.
mod known_nodes {
    use super::*;
    use ants_router::time::Timestamp;
    use ants_router::wire::CodeRequestRepr;

    const T0: Timestamp = Timestamp::from_millis(1_000);

    fn capsule_naming(fp: Fingerprint, previous: IpAddr, source: IpAddr) -> Vec<u8> {
        CapsuleRepr {
            fingerprint: fp,
            source,
            destination: addr(2),
            previous,
            budget: 8,
            payload: b"x",
        }
        .to_vec()
        .unwrap()
    }

    /// A capsule of an unknown type used to make the node send code requests to whatever
    /// previous node and source its sender wrote.
    #[test]
    fn requests_go_only_to_configured_nodes() {
        let victim = ip("192.0.2.7");
        let fp = Fingerprint::sha256(b"some module");
        let mut node = Node::new(chain_config(1, 3)).unwrap();
        node.handle_datagram(T0, None, &capsule_naming(fp, victim, victim));
        assert!(
            node.poll_transmit().is_none(),
            "no request to the named address"
        );
        let stats = node.stats();
        assert_eq!(stats.drops.get(DropReason::UnknownCodeSource), 1);
        assert_eq!((stats.unknown_previous, stats.loads_started), (1, 0));

        // A configured source is still asked when the previous node is unknown.
        node.handle_datagram(T0, None, &capsule_naming(fp, victim, addr(0)));
        let request = node.poll_transmit().expect("a request to the known source");
        assert_eq!(request.to, addr(0));
        assert_eq!(node.stats().unknown_previous, 2);

        // An operator may allow unknown sources (each still rate-limited as a load payer).
        let mut config = chain_config(1, 3);
        config.demand.ask_unknown_nodes = true;
        let mut open = Node::new(config).unwrap();
        open.handle_datagram(T0, None, &capsule_naming(fp, victim, victim));
        assert_eq!(open.poll_transmit().expect("a request").to, victim);
    }

    /// A request whose sender is not a configured node (a spoofed victim, say) used to be
    /// answered with the whole module.
    #[test]
    fn code_is_served_only_to_configured_nodes() {
        let wasm = forward_wasm();
        let fp = Fingerprint::sha256(&wasm);
        let request = CodeRequestRepr::all(fp).to_vec().unwrap();
        let stranger = ip("192.0.2.7");
        let with_cookie = |cookie| {
            CodeRequestRepr {
                cookie: Some(cookie),
                ..CodeRequestRepr::all(fp)
            }
            .to_vec()
            .unwrap()
        };
        let sent_to = |node: &mut Node, to| {
            std::iter::from_fn(|| node.poll_transmit())
                .filter(|t| t.to == to)
                .count()
        };
        for serve_unknown in [false, true] {
            let mut config = chain_config(1, 3);
            config.demand.serve_unknown_nodes = serve_unknown;
            let mut node = Node::new(config).unwrap();
            node.register_protocol(T0, wasm.clone()).unwrap();
            if serve_unknown {
                // Served like a neighbour, once it proves it receives at its address.
                let cookie = cookie_from(&mut node, T0, stranger, fp);
                node.handle_datagram(T0, Some(stranger), &with_cookie(cookie));
                assert_eq!(sent_to(&mut node, stranger), wasm.len().div_ceil(1024));
                assert_eq!(node.stats().drops.get(DropReason::UnknownRequester), 0);
            } else {
                node.handle_datagram(T0, Some(stranger), &request);
                assert_eq!(sent_to(&mut node, stranger), 0);
                assert_eq!(node.stats().drops.get(DropReason::UnknownRequester), 1);
            }
            // A configured neighbour is served either way.
            let cookie = cookie_from(&mut node, T0, addr(0), fp);
            node.handle_datagram(T0, Some(addr(0)), &with_cookie(cookie));
            assert_eq!(sent_to(&mut node, addr(0)), wasm.len().div_ceil(1024));
        }
    }
}

/// Requests whose source address is a victim's: the node must not send the victim more than
/// three times the bytes the attacker sent, whatever the request asks for.
mod amplification {
    use super::*;
    use ants_router::time::Timestamp;
    use ants_router::wire::{CodeRequestRepr, Cookie};

    const T0: Timestamp = Timestamp::from_millis(1_000);

    /// Sends `requests` as if from `victim` and returns (bytes in, bytes out to the victim,
    /// code fragments among them).
    fn attack(node: &mut Node, victim: IpAddr, requests: &[Vec<u8>]) -> (usize, usize, usize) {
        let (mut bytes_in, mut bytes_out, mut fragments) = (0, 0, 0);
        for (i, request) in requests.iter().enumerate() {
            let now = T0 + Duration::from_millis(i as u64);
            node.handle_datagram(now, Some(victim), request);
            bytes_in += request.len();
            while let Some(t) = node.poll_transmit() {
                assert_eq!(t.to, victim);
                bytes_out += t.bytes.len();
                fragments += usize::from(t.bytes[3] == FrameKind::CodeFragment.code());
            }
        }
        (bytes_in, bytes_out, fragments)
    }

    /// Every request kind an attacker can send without receiving at the victim's address:
    /// the whole module, a few fragments, a guessed cookie, a module not cached here.
    fn spoofed_requests(fp: Fingerprint) -> Vec<Vec<u8>> {
        let kinds = [
            CodeRequestRepr::all(fp),
            CodeRequestRepr {
                fingerprint: fp,
                first: 0,
                mask: &[0xff],
                cookie: None,
            },
            CodeRequestRepr {
                cookie: Some(Cookie([0x42; 16])),
                ..CodeRequestRepr::all(fp)
            },
            CodeRequestRepr::all(Fingerprint::sha256(b"not cached here")),
        ];
        (0..50)
            .flat_map(|_| kinds.iter().map(|r| r.to_vec().unwrap()))
            .collect()
    }

    /// The attack of the issue: a 44-byte request naming a configured neighbour used to bring
    /// it the whole module (about 300x).
    #[test]
    fn a_spoofed_requester_gets_at_most_three_times_what_was_sent() {
        let wasm = forward_wasm();
        let mut node = Node::new(chain_config(1, 3)).unwrap();
        let fp = node.register_protocol(T0, wasm).unwrap();
        let (bytes_in, bytes_out, fragments) = attack(&mut node, addr(0), &spoofed_requests(fp));
        assert_eq!(fragments, 0, "no code toward an unproved address");
        assert!(
            bytes_out <= 3 * bytes_in,
            "{bytes_out} bytes out for {bytes_in} in"
        );
        let stats = node.stats();
        assert_eq!(stats.fragments_sent, 0);
        assert_eq!((stats.cookies_sent, stats.cookies_stale), (150, 50));
        assert_eq!(stats.requests_missing, 50);
    }

    /// A cookie proves one address: an attacker that got its own cannot use it for a victim.
    #[test]
    fn a_cookie_minted_for_one_address_does_not_serve_another() {
        let wasm = forward_wasm();
        let mut config = chain_config(1, 3);
        config.demand.serve_unknown_nodes = true;
        let mut node = Node::new(config).unwrap();
        let fp = node.register_protocol(T0, wasm).unwrap();
        let attacker = ip("192.0.2.66");
        let cookie = cookie_from(&mut node, T0, attacker, fp);
        let stolen = CodeRequestRepr {
            cookie: Some(cookie),
            ..CodeRequestRepr::all(fp)
        }
        .to_vec()
        .unwrap();
        for victim in [addr(0), ip("192.0.2.7")] {
            let (bytes_in, bytes_out, fragments) =
                attack(&mut node, victim, std::slice::from_ref(&stolen));
            assert_eq!(fragments, 0, "{victim}");
            assert!(bytes_out <= 3 * bytes_in, "{victim}");
        }
    }

    /// The cookie stays valid for one key period more, then the requester is asked again.
    #[test]
    fn a_stale_cookie_is_answered_with_a_fresh_one() {
        let wasm = forward_wasm();
        let mut node = Node::new(chain_config(1, 3)).unwrap();
        let fp = node.register_protocol(T0, wasm.clone()).unwrap();
        let cookie = cookie_from(&mut node, T0, addr(0), fp);
        let request = CodeRequestRepr {
            cookie: Some(cookie),
            ..CodeRequestRepr::all(fp)
        }
        .to_vec()
        .unwrap();
        let later = T0 + ants_router::node::COOKIE_PERIOD;
        node.handle_datagram(later, Some(addr(0)), &request);
        let served = std::iter::from_fn(|| node.poll_transmit()).count();
        assert_eq!(served, wasm.len().div_ceil(1024), "still valid a period on");
        let much_later = T0 + 2 * ants_router::node::COOKIE_PERIOD;
        node.handle_datagram(much_later, Some(addr(0)), &request);
        let answer = node.poll_transmit().unwrap();
        assert_eq!(answer.bytes[3], FrameKind::CodeCookie.code());
        assert!(node.poll_transmit().is_none());
        assert_eq!(node.stats().cookies_stale, 1);
    }

    /// A source that keeps answering with cookies (or an attacker spoofing it) gets a bounded
    /// number of requests; cookies from anyone but the node asked change nothing.
    #[test]
    fn cookies_are_taken_only_from_the_node_asked_and_only_twice_per_fetch() {
        use ants_router::wire::CodeCookieRepr;
        let mut node = Node::new(chain_config(1, 3)).unwrap();
        let fp = Fingerprint::sha256(b"a module");
        let capsule = CapsuleRepr {
            fingerprint: fp,
            source: addr(0),
            destination: addr(2),
            previous: addr(0),
            budget: 8,
            payload: b"held",
        };
        node.handle_datagram(T0, Some(addr(0)), &capsule.to_vec().unwrap());
        assert_eq!(node.poll_transmit().unwrap().to, addr(0));
        let answer = |c: u8| {
            CodeCookieRepr {
                fingerprint: fp,
                cookie: Cookie([c; 16]),
            }
            .to_vec()
        };
        // From another node, and from an unknown socket: unsolicited.
        node.handle_datagram(T0, Some(addr(2)), &answer(1));
        node.handle_datagram(T0, None, &answer(1));
        assert!(node.poll_transmit().is_none());
        for c in 0..5 {
            node.handle_datagram(T0, Some(addr(0)), &answer(c));
        }
        let resent: Vec<_> = std::iter::from_fn(|| node.poll_transmit()).collect();
        assert_eq!(resent.len(), 2);
        match Frame::parse(&resent[1].bytes).unwrap() {
            Frame::CodeRequest(r) => assert_eq!(r.cookie, Some(Cookie([1; 16]))),
            other => panic!("{other:?}"),
        }
        let stats = node.stats();
        assert_eq!(stats.cookies_received, 2);
        assert_eq!(stats.drops.get(DropReason::UnsolicitedCode), 5);
    }
}

/// Budgets: one injected capsule used to bounce between routers as long as its 16-bit budget
/// lasted.
mod budget_cap {
    use super::*;

    /// Sends every capsule back to the node it came from, with all its remaining budget.
    const PING_PONG: &str = r#"(module
      (import "ants_v1" "capsule_previous" (func $previous (param i32) (result i32)))
      (import "ants_v1" "capsule_budget" (func $budget (result i32)))
      (import "ants_v1" "send" (func $send (param i32 i32 i32 i32 i32 i32) (result i32)))
      (memory (export "memory") 1)
      (func (export "ants_evaluate") (result i32)
        (drop (call $previous (i32.const 0)))
        (if (i32.eqz (call $budget)) (then (return (i32.const 0))))
        ;; to the previous node, via that neighbour (flag VIA_NEIGHBOUR), all the budget
        (drop (call $send (i32.const 0) (i32.const 0) (call $budget) (i32.const 1)
                          (i32.const 0) (i32.const 0)))
        (i32.const 0)))"#;

    #[test]
    fn one_injected_capsule_causes_at_most_max_budget_evaluations() {
        let module = wat::parse_str(PING_PONG).unwrap();
        let mut sim = chain(3, link(ms(1)), |_, _| {});
        let mut fp = None;
        for i in 0..3 {
            fp = Some(sim.register(addr(i), module.clone()).unwrap());
        }
        let capsule = CapsuleRepr {
            fingerprint: fp.unwrap(),
            source: ip("192.0.2.9"),
            destination: addr(2),
            previous: addr(0),
            budget: u16::MAX,
            payload: b"",
        };
        sim.inject(addr(0), addr(1), capsule.to_vec().unwrap());
        sim.run_for(Duration::from_secs(2));
        let cap = u64::from(NodeConfig::new(addr(0)).max_budget);
        let (mut evaluations, mut sent, mut clamped) = (0, 0, 0);
        for i in 0..3 {
            let stats = sim.node(addr(i)).unwrap().stats();
            evaluations += stats.evaluations;
            sent += stats.capsules_sent;
            clamped += stats.budgets_clamped;
        }
        assert_eq!(clamped, 1, "clamped once, where it entered");
        assert_eq!(evaluations, cap, "one evaluation per unit of budget");
        assert_eq!(sent, cap - 1);
    }
}
