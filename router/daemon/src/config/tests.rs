use super::*;
use std::time::Duration;

const GOOD: &str = r#"
address = "10.0.0.1"
listen = "127.0.0.1:4001"
app_socket = "run/r1.sock"

[[neighbours]]
address = "10.0.0.2"
socket = "127.0.0.1:4002"

[[neighbours]]
address = "fd00::3"

[peers]
"10.0.0.9" = "127.0.0.1:4009"

[[routes]]
prefix = "10.0.0.0/24"
via = "10.0.0.2"

[[routes]]
prefix = "fd00::/16"
via = "fd00::3"

[sandbox]
fuel_per_evaluation = 5000

[demand]
fragment_timeout_ms = 50
"#;

fn parse(text: &str) -> Result<Config, ConfigError> {
    Config::parse(text, Path::new("/etc/ants/r1.toml"))
}

fn err(text: &str) -> ConfigError {
    match parse(text) {
        Ok(_) => panic!("accepted:\n{text}"),
        Err(e) => e,
    }
}

fn shaped(rate_bps: u64, queue: usize) -> LinkShaping {
    LinkShaping { rate_bps, queue }
}

fn ip(s: &str) -> IpAddr {
    s.parse().unwrap()
}

fn sa(s: &str) -> SocketAddr {
    s.parse().unwrap()
}

#[test]
fn a_full_file_parses() {
    let c = parse(GOOD).unwrap();
    assert_eq!(c.address, ip("10.0.0.1"));
    assert_eq!(c.listen, sa("127.0.0.1:4001"));
    assert_eq!(c.app_socket, PathBuf::from("/etc/ants/run/r1.sock"));
    assert_eq!(
        c.neighbours,
        [
            NeighbourConfig {
                address: ip("10.0.0.2"),
                socket: sa("127.0.0.1:4002"),
                shaping: None,
            },
            NeighbourConfig {
                address: ip("fd00::3"),
                socket: sa("[fd00::3]:3322"),
                shaping: None,
            },
        ]
    );
    assert_eq!(c.routes.len(), 2);
    assert_eq!(c.routes[1].len, 16);
    assert_eq!(c.routes[1].next_hop, NextHop::Neighbour(ip("fd00::3")));
    assert_eq!(c.sandbox.fuel_per_evaluation, 5000);
    assert_eq!(
        c.sandbox.max_functions,
        SandboxLimits::default().max_functions
    );
    assert_eq!(c.demand.fragment_timeout, Duration::from_millis(50));
    assert_eq!(c.peers.socket_for(ip("10.0.0.9")), sa("127.0.0.1:4009"));
    assert_eq!(c.peers.node_for(sa("127.0.0.1:4002")), Some(ip("10.0.0.2")));
    let node = c.node_config();
    assert_eq!(node.neighbours, [ip("10.0.0.2"), ip("fd00::3")]);
    assert_eq!(node.routes, c.routes);
}

#[test]
fn defaults_for_a_minimal_file() {
    let c = parse("address = \"10.0.0.1\"\n").unwrap();
    assert_eq!(c.listen, sa("[::]:3322"));
    assert_eq!(c.app_socket, PathBuf::from(DEFAULT_APP_SOCKET));
    assert!(c.neighbours.is_empty() && c.routes.is_empty() && c.pins.is_empty());
    assert_eq!(c.fingerprints, FingerprintPolicy::sha256_only());
    // The code store sits beside the configuration file.
    assert_eq!(
        c.driver,
        DriverLimits {
            code_store: Some(PathBuf::from("/etc/ants/antsd-code/10.0.0.1")),
            ..DriverLimits::default()
        }
    );
    assert_eq!(c.demand, DemandLimits::default());
    assert_eq!(c.code_cache, CodeCacheLimits::default());
}

/// Every error names the file, the line and column, and the field.
fn located(e: &ConfigError, line: usize, field: &str) {
    assert_eq!(e.path(), Path::new("/etc/ants/r1.toml"), "{e}");
    assert_eq!(e.location().map(|l| l.line), Some(line), "{e}");
    assert_eq!(e.field(), Some(field), "{e}");
    let shown = e.to_string();
    assert!(
        shown.starts_with(&format!("/etc/ants/r1.toml:{line}:")),
        "{shown}"
    );
    assert!(shown.contains(&format!("`{field}`")), "{shown}");
}

#[test]
fn unknown_fields_are_named() {
    let e = err(&GOOD.replace("listen =", "lisen ="));
    located(&e, 3, "lisen");
    assert!(e.message().contains("unknown field `lisen`"), "{e}");

    let e = err(&GOOD.replace("socket = \"127.0.0.1:4002\"", "sockt = \"127.0.0.1:4002\""));
    located(&e, 8, "neighbours[0].sockt");

    let e = err(&GOOD.replace("fuel_per_evaluation", "fuel"));
    located(&e, 25, "sandbox.fuel");

    let e = err(&format!("{GOOD}\n[extras]\nx = 1\n"));
    assert_eq!(e.field(), Some("extras"), "{e}");
}

#[test]
fn bad_values_are_named() {
    let e = err(&GOOD.replace("\"fd00::3\"\n\n[peers]", "\"fd00::zz\"\n\n[peers]"));
    located(&e, 11, "neighbours[1].address");
    assert!(e.message().contains("invalid IP address"), "{e}");

    let e = err(&GOOD.replace("\"127.0.0.1:4001\"", "\"127.0.0.1\""));
    located(&e, 3, "listen");

    let e = err(&GOOD.replace("5000", "-5"));
    located(&e, 25, "sandbox.fuel_per_evaluation");

    let e = err(&GOOD.replace("5000", "0"));
    located(&e, 25, "sandbox.fuel_per_evaluation");
    assert_eq!(e.message(), "must be at least 1");

    let e = err(&GOOD.replace("10.0.0.0/24", "10.0.0.0/33"));
    located(&e, 17, "routes[0].prefix");
    assert!(e.message().contains("0 to 32"), "{e}");

    let e = err(&GOOD.replace("10.0.0.0/24", "ten/8"));
    located(&e, 17, "routes[0].prefix");

    let e = err(&GOOD.replace("\"10.0.0.9\" =", "\"ten\" ="));
    located(&e, 14, "peers.\"ten\"");

    let e = err("address = \"10.0.0.1\"\napp_socket = \"\"\n");
    located(&e, 2, "app_socket");
}

#[test]
fn missing_and_mistyped_fields_are_named() {
    let e = err("listen = \"127.0.0.1:1\"\n");
    assert_eq!(e.field(), Some("address"), "{e}");
    assert!(e.message().contains("missing field `address`"), "{e}");

    let e = err("address = \"10.0.0.1\"\n[[neighbours]]\nsocket = \"127.0.0.1:2\"\n");
    assert_eq!(e.field(), Some("neighbours[0].address"), "{e}");

    let e = err("address = \"10.0.0.1\"\nneighbours = 3\n");
    located(&e, 2, "neighbours");

    let e = err("address = \"10.0.0.1\"\n[driver]\ncompile_workers = \"two\"\n");
    located(&e, 3, "driver.compile_workers");
}

#[test]
fn syntax_errors_have_a_location() {
    let e = err("address = \"10.0.0.1\"\n[[neighbours]]\naddress = \n");
    assert_eq!(e.location().map(|l| l.line), Some(3), "{e}");
    assert!(e.field().is_some(), "{e}");
}

#[test]
fn routes_must_go_via_neighbours() {
    let e = err(&GOOD.replace("via = \"10.0.0.2\"", "via = \"10.0.0.9\""));
    located(&e, 18, "routes[0].via");
    assert!(e.message().contains("10.0.0.9 is not a neighbour"), "{e}");
}

#[test]
fn neighbour_and_socket_conflicts() {
    let e = err(&GOOD.replace("address = \"fd00::3\"", "address = \"10.0.0.2\""));
    located(&e, 11, "neighbours[1].address");
    assert!(e.message().contains("listed twice"), "{e}");

    let e = err(&GOOD.replace("address = \"fd00::3\"", "address = \"10.0.0.1\""));
    located(&e, 11, "neighbours[1].address");

    // Two node addresses on one socket could not be told apart.
    let e = err(&GOOD.replace("127.0.0.1:4009", "127.0.0.1:4002"));
    located(&e, 14, "peers.\"10.0.0.9\"");
    assert!(e.message().contains("neighbours[0].socket"), "{e}");

    // A peer entry may not move a neighbour to another socket.
    let e = err(&GOOD.replace(
        "\"10.0.0.9\" = \"127.0.0.1:4009\"",
        "\"10.0.0.2\" = \"127.0.0.1:4008\"",
    ));
    located(&e, 14, "peers.\"10.0.0.2\"");
    // ... but may repeat it.
    parse(&GOOD.replace(
        "\"10.0.0.9\" = \"127.0.0.1:4009\"",
        "\"10.0.0.2\" = \"127.0.0.1:4002\"",
    ))
    .unwrap();
}

#[test]
fn pinned_modules_are_read_and_checked() {
    let dir = tempfile::tempdir().unwrap();
    let good = wat::parse_str(
        r#"(module (memory (export "memory") 1)
             (func (export "ants_evaluate") (result i32) i32.const 0))"#,
    )
    .unwrap();
    let bad = wat::parse_str(r#"(module (import "env" "f" (func)) (memory (export "memory") 1))"#)
        .unwrap();
    std::fs::write(dir.path().join("good.wasm"), &good).unwrap();
    std::fs::write(dir.path().join("bad.wasm"), &bad).unwrap();
    let path = dir.path().join("r.toml");

    let text = "address = \"10.0.0.1\"\npin = [\"good.wasm\"]\n";
    let c = Config::parse(text, &path).unwrap();
    assert_eq!(c.pins[0].path, dir.path().join("good.wasm"));
    assert_eq!(c.check_modules().unwrap(), [Fingerprint::sha256(&good)]);

    let text = "address = \"10.0.0.1\"\npin = [\n  \"good.wasm\",\n  \"missing.wasm\",\n]\n";
    let e = Config::parse(text, &path).unwrap_err();
    assert_eq!(e.location().map(|l| l.line), Some(4), "{e}");
    assert_eq!(e.field(), Some("pin[1]"), "{e}");
    assert!(e.message().contains("missing.wasm"), "{e}");

    let text = "address = \"10.0.0.1\"\npin = [\"good.wasm\", \"bad.wasm\"]\n";
    let c = Config::parse(text, &path).unwrap();
    let e = c.check_modules().unwrap_err();
    assert_eq!(
        e.location(),
        Some(Location {
            line: 2,
            column: 21
        }),
        "{e}"
    );
    assert_eq!(e.field(), Some("pin[1]"), "{e}");
    assert!(e.message().contains("forbidden import `env::f`"), "{e}");
}

#[test]
fn unreadable_file_names_the_file() {
    let e = Config::load("/nonexistent/ants/r9.toml").unwrap_err();
    assert_eq!(e.path(), Path::new("/nonexistent/ants/r9.toml"));
    assert!(
        e.to_string()
            .starts_with("/nonexistent/ants/r9.toml: cannot read"),
        "{e}"
    );
}

#[test]
fn peer_map_resolves_both_ways() {
    let mut m = PeerMap::new();
    m.insert(ip("10.0.0.2"), sa("127.0.0.1:4002"));
    assert_eq!(m.socket_for(ip("10.0.0.2")), sa("127.0.0.1:4002"));
    assert_eq!(m.socket_for(ip("10.0.0.7")), sa("10.0.0.7:3322"));
    // A dual-stack socket reports IPv4 senders as IPv4-mapped IPv6.
    assert_eq!(
        m.node_for(sa("[::ffff:127.0.0.1]:4002")),
        Some(ip("10.0.0.2"))
    );
    assert_eq!(m.node_for(sa("10.0.0.7:3322")), Some(ip("10.0.0.7")));
    assert_eq!(m.node_for(sa("10.0.0.7:5555")), None);
    // A mapped node does not also answer at its default port.
    assert_eq!(m.node_for(sa("10.0.0.2:3322")), None);
    // Remapping a node frees its old socket.
    m.insert(ip("10.0.0.2"), sa("127.0.0.1:4012"));
    assert_eq!(m.node_for(sa("127.0.0.1:4002")), None);
    assert_eq!(m.entries(), [(ip("10.0.0.2"), sa("127.0.0.1:4012"))]);
}

#[test]
fn locations_count_lines_and_characters() {
    let t = "ab\né = 1\n";
    assert_eq!(Location::of_offset(t, 0), Location { line: 1, column: 1 });
    assert_eq!(Location::of_offset(t, 3), Location { line: 2, column: 1 });
    // Byte 6 is after "é" (2 bytes) and " ": the third character.
    assert_eq!(Location::of_offset(t, 6), Location { line: 2, column: 3 });
    assert_eq!(Location::of_offset(t, 999), Location { line: 3, column: 1 });
}

/// Every minimum of `docs/daemon.md`, refused at the value with the bound, as before the
/// limits types owned them.
#[test]
fn every_minimum_is_refused_where_it_is_written() {
    let cases: &[(&str, &str, &str, &str)] = &[
        ("code_cache", "max_bytes", "1023", "must be at least 1024"),
        ("code_cache", "max_entries", "0", "must be at least 1"),
        ("state", "max_key_len", "0", "must be at least 1"),
        ("state", "max_ttl_ms", "0", "must be at least 1"),
        ("sandbox", "max_module_bytes", "7", "must be at least 8"),
        ("sandbox", "max_functions", "0", "must be at least 1"),
        (
            "sandbox",
            "max_memory_bytes",
            "65535",
            "must be at least 65536",
        ),
        ("sandbox", "fuel_per_evaluation", "0", "must be at least 1"),
        (
            "sandbox",
            "max_evaluation_time_ms",
            "0",
            "must be at least 1",
        ),
        ("sandbox", "idle_instance_ms", "0", "must be at least 1"),
        (
            "sandbox",
            "max_wasm_stack",
            "16383",
            "must be at least 16384",
        ),
        ("sandbox", "recycle_after_calls", "0", "must be at least 1"),
        ("sandbox", "max_live_instances", "0", "must be at least 1"),
        (
            "cpu",
            "fuel_per_second",
            "999999",
            "must be at least 1000000",
        ),
        ("cpu", "busy_percent", "101", "must be at most 100"),
        ("cpu", "window_ms", "0", "must be at least 1"),
        ("demand", "max_held_per_protocol", "0", "must be at least 1"),
        ("demand", "max_held_bytes", "0", "must be at least 1"),
        ("demand", "max_concurrent_loads", "0", "must be at least 1"),
        (
            "demand",
            "max_concurrent_compiles",
            "0",
            "must be at least 1",
        ),
        ("demand", "fragment_timeout_ms", "0", "must be at least 1"),
        (
            "demand",
            "max_fragment_timeout_ms",
            "0",
            "must be at least 1",
        ),
        (
            "demand",
            "loads_per_peer_per_second",
            "0",
            "must be at least 1",
        ),
        ("demand", "load_burst", "0", "must be at least 1"),
        (
            "demand",
            "fragments_per_requester_per_second",
            "0",
            "must be at least 1",
        ),
        ("demand", "fragment_burst", "0", "must be at least 1"),
        ("demand", "max_tracked_peers", "0", "must be at least 1"),
        (
            "demand",
            "state_purge_interval_ms",
            "0",
            "must be at least 1",
        ),
        ("driver", "compile_workers", "0", "must be at least 1"),
        ("driver", "app_queue", "0", "must be at least 1"),
        ("driver", "max_app_connections", "0", "must be at least 1"),
    ];
    for (section, key, bad, message) in cases {
        let text = format!("address = \"10.0.0.1\"\n\n[{section}]\n{key} = {bad}\n");
        let e = err(&text);
        located(&e, 4, &format!("{section}.{key}"));
        assert_eq!(e.message(), *message, "{e}");
        // The column of the value, as the spanned fields gave it.
        assert_eq!(e.location().unwrap().column, key.len() + 4, "{e}");
        // One above (or below) the bound is accepted.
        let ok: u64 = bad.parse::<u64>().unwrap();
        let ok = if message.contains("most") {
            ok - 1
        } else {
            ok + 1
        };
        parse(&format!(
            "address = \"10.0.0.1\"\n[{section}]\n{key} = {ok}\n"
        ))
        .unwrap();
    }
    let e = err("address = \"10.0.0.1\"\nmax_budget = 0\n");
    located(&e, 2, "max_budget");
    assert_eq!(e.message(), "must be at least 1");
    // Inline and dotted tables are located too.
    let e = err("address = \"10.0.0.1\"\nsandbox = { max_functions = 0 }\n");
    located(&e, 2, "sandbox.max_functions");
    let e = err("address = \"10.0.0.1\"\ncpu.busy_percent = 200\n");
    located(&e, 2, "cpu.busy_percent");
}

#[test]
fn values_without_a_minimum_take_any_value() {
    let c = parse(
        "address = \"10.0.0.1\"\n[state]\nmax_value_len = 0\ntotal_bytes = 0\n\
         [sandbox]\nmax_table_elements = 0\nlog_burst = 0\ntier_up_after = 0\n\
         [demand]\nmax_retries = 0\nmax_rejected = 0\nrejected_ttl_ms = 0\nmax_loopback = 0\n\
         [driver]\nudp_recv_buffer = 0\ncode_store_max_bytes = 0\n",
    )
    .unwrap();
    assert_eq!(c.state.total_bytes, 0);
    assert_eq!(c.sandbox.tier_up_after, 0);
    assert_eq!(c.demand.rejected_ttl, Duration::ZERO);
    assert_eq!(c.driver.udp_recv_buffer, 0);
    // Fields the node API fixes are not in the file.
    let e = err("address = \"10.0.0.1\"\n[sandbox]\nmax_sends = 3\n");
    located(&e, 3, "sandbox.max_sends");
    assert!(e.message().contains("unknown field `max_sends`"), "{e}");
}

#[test]
fn the_code_store_is_per_node_unless_the_file_names_it() {
    let c = parse("address = \"10.0.0.1\"\n[driver]\ncode_store = \"antsd-code\"\n").unwrap();
    assert_eq!(
        c.driver.code_store,
        Some(PathBuf::from("/etc/ants/antsd-code"))
    );
    let c = parse("address = \"10.0.0.1\"\n[driver]\ncode_store = \"/var/ants\"\n").unwrap();
    assert_eq!(c.driver.code_store, Some(PathBuf::from("/var/ants")));
    let c = parse("address = \"10.0.0.1\"\n[driver]\ncode_store = \"\"\n").unwrap();
    assert_eq!(c.driver.code_store, None);
    let c = parse("address = \"10.0.0.1\"\n[driver]\ncompile_workers = 3\n").unwrap();
    assert_eq!(
        c.driver.code_store,
        Some(PathBuf::from("/etc/ants/antsd-code/10.0.0.1"))
    );
    assert_eq!(c.driver.compile_workers, 3);
}

/// What the writer writes parses back to the configuration it was given.
#[test]
fn written_configurations_parse_back_to_the_same_values() {
    let sandbox = SandboxLimits {
        fuel_per_evaluation: 12_345,
        max_evaluation_time: Duration::from_millis(7),
        tier_up_after: 0,
        ..SandboxLimits::default()
    };
    let demand = DemandLimits {
        fragment_timeout: Duration::from_millis(30),
        ask_unknown_nodes: true,
        announce_code: false,
        ..DemandLimits::default()
    };
    let code_cache = CodeCacheLimits {
        max_entries: 9,
        ..CodeCacheLimits::default()
    };
    let state = StateLimits {
        max_ttl: Duration::from_secs(5),
        ..StateLimits::default()
    };
    let cpu = CpuShareLimits {
        busy_percent: 50,
        ..CpuShareLimits::default()
    };
    let driver = DriverLimits {
        compile_workers: 1,
        code_store: None,
        ..DriverLimits::default()
    };
    let mut w = ConfigWriter::new(ip("10.0.0.1"));
    w.comment("written by a test")
        .listen(sa("127.0.0.1:4001"))
        .app_socket("run/r1 \"one\".sock")
        .max_budget(99)
        .neighbour(ip("10.0.0.2"), sa("127.0.0.1:4002"))
        .neighbour_at_default_port(ip("fd00::3"))
        .shape(ip("10.0.0.2"), shaped(400_000, 8))
        .shape(ip("fd00::3"), shaped(1_500_000, DEFAULT_LINK_QUEUE))
        .peer(ip("10.0.0.9"), sa("127.0.0.1:4009"))
        .route(ip("10.0.0.0"), 24, ip("10.0.0.2"))
        .route(ip("fd00::"), 16, ip("fd00::3"))
        .code_cache(&code_cache)
        .state(&state)
        .sandbox(&sandbox)
        .fingerprints(FingerprintPolicy::allow_legacy_md5())
        .demand(&demand)
        .cpu(&cpu)
        .driver(&driver);
    let text = w.to_toml();
    assert!(text.starts_with("# written by a test\n"), "{text}");
    assert!(text.contains("queue = 8\nrate = \"400kbit\"\n"), "{text}");
    assert!(text.contains("rate = \"1500kbit\"\n"), "{text}");
    let c = parse(&text).unwrap_or_else(|e| panic!("{e}\n{text}"));
    assert_eq!(c.address, ip("10.0.0.1"));
    assert_eq!(c.listen, sa("127.0.0.1:4001"));
    assert_eq!(c.app_socket, PathBuf::from("/etc/ants/run/r1 \"one\".sock"));
    assert_eq!(c.max_budget, 99);
    assert_eq!(
        c.neighbours,
        [
            NeighbourConfig {
                address: ip("10.0.0.2"),
                socket: sa("127.0.0.1:4002"),
                shaping: Some(shaped(400_000, 8)),
            },
            NeighbourConfig {
                address: ip("fd00::3"),
                socket: sa("[fd00::3]:3322"),
                shaping: Some(shaped(1_500_000, DEFAULT_LINK_QUEUE)),
            },
        ]
    );
    assert_eq!(c.peers.socket_for(ip("10.0.0.9")), sa("127.0.0.1:4009"));
    assert_eq!(
        c.routes,
        [
            Route {
                prefix: ip("10.0.0.0"),
                len: 24,
                next_hop: NextHop::Neighbour(ip("10.0.0.2"))
            },
            Route {
                prefix: ip("fd00::"),
                len: 16,
                next_hop: NextHop::Neighbour(ip("fd00::3"))
            },
        ]
    );
    assert_eq!(c.code_cache, code_cache);
    assert_eq!(c.state, state);
    assert_eq!(c.sandbox, sandbox);
    assert_eq!(c.fingerprints, FingerprintPolicy::allow_legacy_md5());
    assert_eq!(c.demand, demand);
    assert_eq!(c.cpu, cpu);
    assert_eq!(c.driver, driver);

    // Defaults are left out, and the file parses to the defaults.
    let mut w = ConfigWriter::new(ip("10.0.0.1"));
    w.sandbox(&SandboxLimits::default())
        .driver(&DriverLimits::default());
    assert_eq!(w.to_toml(), "address = \"10.0.0.1\"\n");
    let c = parse(&w.to_toml()).unwrap();
    assert_eq!(c.sandbox, SandboxLimits::default());
    assert_eq!(
        c.driver.code_store,
        Some(PathBuf::from("/etc/ants/antsd-code/10.0.0.1"))
    );
}

/// A neighbour's `rate` and `queue`: read in bit/s and datagrams, refused where written.
#[test]
fn link_rates_and_queues_are_read_and_checked() {
    let with = |extra: &str| {
        GOOD.replace(
            "socket = \"127.0.0.1:4002\"\n",
            &format!("socket = \"127.0.0.1:4002\"\n{extra}"),
        )
    };
    let c = parse(&with("rate = \"400kbit\"\nqueue = 8\n")).unwrap();
    assert_eq!(c.neighbours[0].shaping, Some(shaped(400_000, 8)));
    assert_eq!(c.neighbours[1].shaping, None);
    let c = parse(&with("rate = \"2.5Mbit\"\n")).unwrap();
    assert_eq!(
        c.neighbours[0].shaping,
        Some(shaped(2_500_000, DEFAULT_LINK_QUEUE))
    );

    let e = err(&with("rate = \"400kB\"\n"));
    located(&e, 9, "neighbours[0].rate");
    assert!(e.message().contains("bits"), "{e}");
    let e = err(&with("rate = \"fast\"\n"));
    located(&e, 9, "neighbours[0].rate");
    let e = err(&with("queue = 8\n"));
    located(&e, 9, "neighbours[0].queue");
    assert!(e.message().contains("needs a `rate`"), "{e}");
    let e = err(&with("rate = \"1Mbit\"\nqueue = 0\n"));
    located(&e, 10, "neighbours[0].queue");
    assert!(e.message().contains("from 1 to"), "{e}");
    let e = err(&with(&format!(
        "rate = \"1Mbit\"\nqueue = {}\n",
        MAX_LINK_QUEUE + 1
    )));
    located(&e, 10, "neighbours[0].queue");
    let e = err(&with("rate = \"1Mbit\"\nqueue = -1\n"));
    located(&e, 10, "neighbours[0].queue");
    let e = err(&with("rate = 400\n"));
    located(&e, 9, "neighbours[0].rate");
}

#[test]
fn on_path_mode_takes_its_interfaces_and_the_capsule_port() {
    let c =
        parse("address = \"10.0.0.1\"\nmode = \"on-path\"\ninterfaces = [\"eth0\", \"eth1\"]\n")
            .unwrap();
    assert_eq!(
        c.mode,
        Mode::OnPath {
            interfaces: vec!["eth0".into(), "eth1".into()]
        }
    );
    assert_eq!(c.mode.interfaces(), ["eth0", "eth1"]);
    let c = parse("address = \"10.0.0.1\"\nmode = \"overlay\"\n").unwrap();
    assert_eq!(c.mode, Mode::Overlay);
    assert_eq!(
        parse("address = \"10.0.0.1\"\n").unwrap().mode,
        Mode::Overlay
    );

    let cases = [
        ("mode = \"onpath\"\n", "2:8: `mode`: unknown mode `onpath`"),
        (
            "mode = \"on-path\"\n",
            "2:8: `mode`: on-path mode captures on the interfaces",
        ),
        (
            "interfaces = [\"eth0\"]\n",
            "2:14: `interfaces`: interfaces are captured only in on-path mode",
        ),
        (
            "mode = \"on-path\"\ninterfaces = []\n",
            "3:14: `interfaces`: on-path mode needs at least one",
        ),
        (
            "mode = \"on-path\"\ninterfaces = [\"eth0\", \"eth0\"]\n",
            "3:23: `interfaces[1]`: interface `eth0` is listed twice",
        ),
        (
            "mode = \"on-path\"\ninterfaces = [\"a/b\"]\n",
            "3:15: `interfaces[0]`: `a/b` is not an interface name",
        ),
        (
            "mode = \"on-path\"\ninterfaces = [\"sixteen-chars-xx\"]\n",
            "`interfaces[0]`: `sixteen-chars-xx` is not an interface name",
        ),
        (
            "listen = \"0.0.0.0:4000\"\nmode = \"on-path\"\ninterfaces = [\"eth0\"]\n",
            "2:10: `listen`: on-path mode captures datagrams to the capsule port 3322",
        ),
    ];
    for (text, want) in cases {
        let e = err(&format!("address = \"10.0.0.1\"\n{text}")).to_string();
        assert!(e.contains(want), "{text}: {e}");
    }
}
