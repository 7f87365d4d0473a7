//! The safe wrappers against the host fake node: what each returns, and that the fake applies
//! the documented rules (budget splitting, effect caps, limits, state TTL and quota).

use std::net::Ipv4Addr;
use std::time::Duration;

use capsule_sdk::abi::{MAX_DELIVERIES, MAX_PAYLOAD, MAX_SENDS};
use capsule_sdk::effects::{self, Send};
use capsule_sdk::log::Level;
use capsule_sdk::node::{LinkLoad, NextHop};
use capsule_sdk::testing::{FakeNode, Incoming};
use capsule_sdk::{Address, Capsule, Error, capsule, node, state};

fn addr(last: u8) -> Address {
    Address::from(Ipv4Addr::new(10, 0, 0, last))
}

fn node_with(budget: u32) -> FakeNode {
    FakeNode::new(addr(2))
        .route(addr(9), addr(3))
        .neighbour(addr(4))
        .with_capsule(Incoming::new(addr(1), addr(9), budget, b"payload"))
}

#[test]
fn capsule_fields_read_back() {
    let mut n = node_with(5);
    n.capsule.previous = addr(7);
    n.capsule.fingerprint = vec![0xee; 16];
    n.run(|| {
        assert_eq!(capsule::budget(), 5);
        assert_eq!(capsule::source(), Ok(addr(1)));
        assert_eq!(capsule::destination(), Ok(addr(9)));
        assert_eq!(capsule::previous(), Ok(addr(7)));
        assert_eq!(capsule::payload_len(), 7);
        assert_eq!(capsule::payload().unwrap(), b"payload");
        let mut small = [0; 3];
        assert_eq!(capsule::payload_into(&mut small), Ok(7));
        assert_eq!(&small, b"pay");
        let f = capsule::fingerprint().unwrap();
        assert!(f.is_legacy_md5());
        assert_eq!(f.as_bytes(), &[0xee; 16]);
    });
}

#[test]
fn node_facts_read_back() {
    let mut n = node_with(1);
    n.time_ns = 123;
    let load = LinkLoad {
        queue_len: 3,
        queue_cap: 64,
        drops_recent: 1,
        tx_pps: 1000,
        tx_bytes_per_s: 1 << 40,
    };
    n.link_loads.insert(addr(3), load);
    n.run(|| {
        assert_eq!(node::address(), Ok(addr(2)));
        assert_eq!(node::time_ns(), 123);
        assert_eq!(node::next_hop(addr(9)), Ok(NextHop::Neighbour(addr(3))));
        assert_eq!(node::next_hop(addr(2)), Ok(NextHop::Local));
        assert_eq!(node::next_hop(addr(8)), Err(Error::NoRoute));
        assert_eq!(node::neighbours().unwrap(), [addr(3), addr(4)]);
        let mut one = [Address::UNSPECIFIED; 1];
        assert_eq!(node::neighbours_into(&mut one), Ok(2));
        assert_eq!(one, [addr(3)]);
        assert_eq!(node::link_load(addr(3)), Ok(load));
        assert_eq!(node::link_load(addr(4)), Ok(LinkLoad::default()));
        assert_eq!(node::link_load(addr(9)), Err(Error::UnknownNeighbour));
    });
}

#[test]
fn sends_split_the_budget_and_never_exceed_it() {
    let mut n = node_with(9);
    n.run(|| {
        assert_eq!(effects::send(addr(9), 3, b"a"), Ok(6));
        assert_eq!(Send::to(addr(9), 3).via(addr(4)).bytes(b"b"), Ok(3));
        assert_eq!(effects::send(addr(9), 4, b"c"), Err(Error::BudgetExceeded));
        assert_eq!(
            effects::send(addr(9), u32::MAX, b"c"),
            Err(Error::BudgetExceeded)
        );
        assert_eq!(effects::send(addr(9), 0, b"c"), Err(Error::BadArgument));
        assert_eq!(Send::to(addr(9), 3).source_self().bytes(b"d"), Ok(0));
    });
    assert_eq!(n.sends.len(), 3);
    assert_eq!(n.sends[1].next_hop, NextHop::Neighbour(addr(4)));
    assert_eq!(n.sends[0].source, addr(1));
    assert_eq!(n.sends[2].source, addr(2));
}

#[test]
fn send_checks_neighbours_routes_and_sizes() {
    let mut n = node_with(100);
    n.run(|| {
        assert_eq!(
            Send::to(addr(9), 1).via(addr(9)).bytes(b""),
            Err(Error::UnknownNeighbour)
        );
        assert_eq!(effects::send(addr(8), 1, b""), Err(Error::NoRoute));
        assert_eq!(
            effects::send(addr(9), 1, &[0; MAX_PAYLOAD + 1]),
            Err(Error::TooLarge)
        );
        assert_eq!(effects::send(addr(9), 1, &[0; MAX_PAYLOAD]), Ok(99));
        // Loopback: a capsule for this node is evaluated here again.
        assert_eq!(effects::send(addr(2), 1, b""), Ok(98));
    });
    assert_eq!(n.sends[1].next_hop, NextHop::Local);
}

#[test]
fn effect_caps_apply_per_evaluation() {
    let mut n = node_with(1000);
    n.run(|| {
        for _ in 0..MAX_SENDS {
            effects::send(addr(9), 1, b"").unwrap();
        }
        assert_eq!(effects::send(addr(9), 1, b""), Err(Error::TooManyEffects));
        for _ in 0..MAX_DELIVERIES {
            effects::deliver(5, b"x").unwrap();
        }
        assert_eq!(effects::deliver(5, b"x"), Err(Error::TooManyEffects));
    });
}

#[test]
fn typed_payloads_round_trip() {
    let mut n = node_with(2);
    n.capsule.payload = capsule_sdk::postcard::to_allocvec(&(7u32, addr(5))).unwrap();
    n.run(|| {
        assert_eq!(capsule::payload_as::<(u32, Address)>(), Ok((7, addr(5))));
        assert_eq!(
            capsule::payload_as::<u32>(),
            Err(Error::Decode),
            "leftover bytes"
        );
        assert_eq!(
            capsule::payload_as::<(u32, Address, u8)>(),
            Err(Error::Decode)
        );
        effects::send_typed(addr(9), 2, &(1u8, 2u16)).unwrap();
        effects::deliver_typed(80, &[1u8, 2, 3]).unwrap();
        assert_eq!(
            effects::send_typed(addr(9), 1, &vec![0u8; MAX_PAYLOAD]),
            Err(Error::TooLarge)
        );
    });
    assert_eq!(n.sends[0].payload, [1, 2], "u8 raw, u16 as varint");
    assert_eq!(n.deliveries[0].payload, [1, 2, 3]);
}

#[test]
fn forward_uses_all_remaining_budget_and_stops_at_zero() {
    let mut n = node_with(4);
    n.run(|| effects::forward().unwrap());
    assert_eq!((n.sends[0].budget, n.sends[0].destination), (4, addr(9)));
    assert_eq!(n.sends[0].payload, b"payload");
    let mut spent = node_with(0);
    spent.run(|| assert_eq!(effects::forward(), Err(Error::BudgetExceeded)));
}

#[test]
fn state_round_trips_and_expires() {
    let mut n = node_with(1);
    n.run(|| {
        assert_eq!(state::get(b"k"), Ok(None));
        state::put(b"k", b"value", Duration::from_millis(10)).unwrap();
        assert_eq!(state::get(b"k"), Ok(Some(b"value".to_vec())));
        let mut two = [0; 2];
        assert_eq!(state::get_into(b"k", &mut two), Ok(Some(5)));
        state::put_typed(b"t", &(3u8, addr(1)), Duration::from_secs(1)).unwrap();
        assert_eq!(
            state::get_typed::<(u8, Address)>(b"t"),
            Ok(Some((3, addr(1))))
        );
    });
    n.advance(Duration::from_millis(10));
    n.run(|| {
        assert_eq!(state::get(b"k"), Ok(None), "expired at its TTL");
        assert_eq!(state::remove(b"k"), Ok(false));
        assert_eq!(state::remove(b"t"), Ok(true));
        assert_eq!(state::get(b"t"), Ok(None));
    });
}

#[test]
fn state_arguments_and_quota_are_enforced() {
    let mut n = node_with(1);
    n.state_quota = 2 * (capsule_sdk::abi::STATE_ENTRY_OVERHEAD + 1 + 100);
    n.run(|| {
        let hundred = [0; 100];
        let ms = Duration::from_millis;
        assert_eq!(state::put(b"", b"v", ms(1)), Err(Error::BadArgument));
        assert_eq!(
            state::put(b"k", b"v", Duration::ZERO),
            Err(Error::BadArgument)
        );
        assert_eq!(
            state::put(b"k", b"v", ms(3_600_001)),
            Err(Error::BadArgument)
        );
        assert_eq!(state::put(&[1; 65], b"v", ms(1)), Err(Error::TooLarge));
        assert_eq!(state::put(b"k", &[0; 4097], ms(1)), Err(Error::TooLarge));
        // Sub-millisecond TTLs round up rather than becoming 0.
        assert_eq!(state::put(b"a", &hundred, Duration::from_micros(1)), Ok(()));
        assert_eq!(state::put(b"b", &hundred, ms(5)), Ok(()));
        assert_eq!(state::put(b"c", &hundred, ms(5)), Err(Error::QuotaExceeded));
        // Replacing an entry is charged only for the difference.
        assert_eq!(state::put(b"b", &hundred, ms(5)), Ok(()));
    });
    n.store_capacity = 100;
    n.state_quota = 1 << 20;
    n.run(|| {
        assert_eq!(
            state::put(b"d", b"", Duration::from_secs(1)),
            Err(Error::StoreFull)
        );
    });
}

#[test]
fn logs_are_truncated_and_rate_limited() {
    let mut n = node_with(1);
    n.log_allowance = 2;
    n.run(|| {
        capsule_sdk::info!("hop {} of {}", 1, 2);
        let long = "x".repeat(1000);
        assert_eq!(capsule_sdk::log::log(Level::Trace, &long), Ok(()));
        assert_eq!(
            capsule_sdk::log::log(Level::Error, "dropped"),
            Err(Error::RateLimited)
        );
    });
    assert_eq!(n.logs.len(), 2);
    assert_eq!(
        (n.logs[0].level, n.logs[0].message.as_str()),
        (2, "hop 1 of 2")
    );
    assert_eq!((n.logs[1].level, n.logs[1].message.len()), (4, 256));
}

#[derive(Default)]
struct CopyThenFail;

impl Capsule for CopyThenFail {
    fn evaluate(&mut self) -> Result<(), Error> {
        state::put(b"seen", b"1", Duration::from_secs(1))?;
        effects::send(capsule::destination()?, 1, b"copy")?;
        effects::deliver(1, b"local")?;
        Err(Error::NoRoute)
    }
}

#[derive(Default)]
struct Silent;

impl Capsule for Silent {
    fn evaluate(&mut self) -> Result<(), Error> {
        Ok(())
    }
}

#[test]
fn failed_evaluations_discard_effects_but_keep_state() {
    let mut n = node_with(3);
    assert_eq!(n.evaluate::<CopyThenFail>(), Error::NoRoute.status());
    assert!(!n.made_effect());
    assert_eq!(n.state_value(b"seen"), Some(&b"1"[..]));
    assert_eq!(n.evaluate::<Silent>(), 0);
    assert!(!n.made_effect(), "a silent capsule is dropped by the node");
}
