//! Text a person reads: the status document and the final counters, rendered for a terminal.
//!
//! Owns the human form of `ants status` and of the counters `antsd` prints when it stops. It
//! reads the JSON documents the daemon produces (so it follows new counters without changes)
//! and never talks to a daemon itself.

use std::fmt::Write as _;

use serde_json::Value;

/// The nonzero numeric entries of `object`, as `name value` pairs, sorted by name.
fn nonzero(object: &Value) -> Vec<(String, u64)> {
    let mut out: Vec<(String, u64)> = object
        .as_object()
        .into_iter()
        .flatten()
        .filter_map(|(k, v)| v.as_u64().filter(|n| *n > 0).map(|n| (k.clone(), n)))
        .collect();
    out.sort();
    out
}

/// Lays `pairs` out as indented `name  value` lines, or `  (none)`.
fn counter_lines(out: &mut String, pairs: &[(String, u64)]) {
    if pairs.is_empty() {
        out.push_str("  (none)\n");
        return;
    }
    let width = pairs.iter().map(|(k, _)| k.len()).max().unwrap_or(0);
    for (k, v) in pairs {
        let _ = writeln!(out, "  {k:<width$}  {v}");
    }
}

/// Bytes with a binary unit.
pub fn bytes(n: u64) -> String {
    const UNITS: [&str; 4] = ["B", "KiB", "MiB", "GiB"];
    let mut value = n as f64;
    let mut unit = 0;
    while value >= 1024.0 && unit + 1 < UNITS.len() {
        value /= 1024.0;
        unit += 1;
    }
    if unit == 0 {
        format!("{n} B")
    } else {
        format!("{value:.1} {}", UNITS[unit])
    }
}

/// The node's and the driver's counters (a [`Summary`](crate::driver::Summary) as JSON, or
/// the `node.stats` and `daemon.stats` of a status document): nonzero ones only, drops apart.
pub fn counters_text(node_stats: &Value, driver_stats: &Value) -> String {
    let mut out = String::new();
    out.push_str("node counters:\n");
    counter_lines(&mut out, &nonzero(node_stats));
    out.push_str("drops by reason:\n");
    counter_lines(&mut out, &nonzero(&node_stats["drops"]));
    out.push_str("daemon counters:\n");
    counter_lines(&mut out, &nonzero(driver_stats));
    out
}

fn text(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        Value::Null => "-".to_string(),
        other => other.to_string(),
    }
}

/// One protocol's evaluation costs on a line: evaluations, fuel, CPU, stops, log drops.
fn protocol_costs(sb: &Value) -> String {
    let n = |k: &str| sb[k].as_u64().unwrap_or(0);
    let mut line = format!(
        "{} evaluations, fuel {} total / {} max",
        n("evaluations"),
        n("fuel_total"),
        n("fuel_max")
    );
    if n("cpu_ns") > 0 {
        let _ = write!(
            line,
            ", CPU {:.3} ms total / {:.1} µs max",
            n("cpu_ns") as f64 / 1e6,
            n("cpu_max_ns") as f64 / 1e3
        );
    }
    let stops = nonzero(&sb["stops"]);
    if !stops.is_empty() {
        let list: Vec<String> = stops.iter().map(|(k, v)| format!("{k} {v}")).collect();
        let _ = write!(line, "; stopped: {}", list.join(", "));
    }
    for (key, label) in [
        ("logs_dropped", "log lines dropped"),
        ("host_call_errors", "host-call errors"),
        ("instantiations", "instances"),
    ] {
        if n(key) > 0 {
            let _ = write!(line, "; {label} {}", n(key));
        }
    }
    line
}

/// The status document of `ants status --json`, for a person.
pub fn status_text(status: &Value) -> String {
    let node = &status["node"];
    let daemon = &status["daemon"];
    let mut out = String::new();
    let uptime = daemon["uptime_ms"].as_u64().unwrap_or(0) as f64 / 1000.0;
    let _ = writeln!(
        out,
        "node {}  listening on {}, up {uptime:.1} s, config {}",
        text(&node["address"]),
        text(&daemon["listen"]),
        text(&daemon["config"]),
    );

    let peers: Vec<(String, String)> = daemon["peers"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|p| (text(&p["node"]), text(&p["socket"])))
        .collect();
    let neighbours: Vec<String> = node["neighbours"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|n| {
            let n = text(n);
            match peers.iter().find(|(p, _)| *p == n) {
                Some((_, socket)) => format!("{n} ({socket})"),
                None => n,
            }
        })
        .collect();
    let _ = writeln!(
        out,
        "neighbours: {}",
        if neighbours.is_empty() {
            "none".to_string()
        } else {
            neighbours.join(", ")
        }
    );

    let liveness: Vec<String> = node["liveness"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|n| {
            let state = if n["up"].as_bool() == Some(true) {
                "up"
            } else {
                "DOWN"
            };
            let heard = match n["heard_ms_ago"].as_u64() {
                Some(ms) => format!("heard {ms} ms ago"),
                None => "never heard".to_string(),
            };
            format!(
                "{} {state} ({heard}, {} routes)",
                text(&n["address"]),
                n["routes"].as_u64().unwrap_or(0)
            )
        })
        .collect();
    if !liveness.is_empty() {
        let _ = writeln!(
            out,
            "liveness: {}; {} learned routes",
            liveness.join(", "),
            node["learned_routes"].as_u64().unwrap_or(0)
        );
    }

    let protocols = node["protocols"].as_array().cloned().unwrap_or_default();
    let _ = writeln!(
        out,
        "code cache: {} protocols, {} of {}",
        protocols.len(),
        bytes(node["code_cache_bytes"].as_u64().unwrap_or(0)),
        bytes(node["code_cache_max_bytes"].as_u64().unwrap_or(0)),
    );
    for p in &protocols {
        let mut flags = Vec::new();
        flags.push(if p["compiled"].as_bool() == Some(true) {
            "compiled"
        } else {
            "compiling"
        });
        if p["pinned"].as_bool() == Some(true) {
            flags.push("pinned");
        }
        let ms = |us: u64| format!("{:.1} ms", us as f64 / 1e3);
        let mut compiled_in = p["compile_time_us"]
            .as_u64()
            .map(|us| match p["tier"].as_str() {
                Some(tier) => format!(" ({tier}, in {})", ms(us)),
                None => format!(" in {}", ms(us)),
            })
            .unwrap_or_default();
        if let Some(us) = p["baseline_compile_time_us"].as_u64() {
            compiled_in.push_str(&format!(", baseline in {}", ms(us)));
        }
        // Where the code came from, and when (node time since the daemon started).
        let at = p["cached_ms"]
            .as_u64()
            .map(|t| format!(" at {:.1} s", t as f64 / 1e3))
            .unwrap_or_default();
        let origin = match (p["origin"].as_str(), p["origin_node"].as_str()) {
            (Some("loaded"), Some(node)) => format!("; loaded from {node}{at}"),
            (Some(how), _) => format!("; {how}{at}"),
            (None, _) => String::new(),
        };
        compiled_in.push_str(&origin);
        let _ = writeln!(
            out,
            "  {}  {:>9}  {}{compiled_in}",
            text(&p["fingerprint"]),
            bytes(p["module_bytes"].as_u64().unwrap_or(0)),
            flags.join(", "),
        );
        let sb = &p["sandbox"];
        if sb["evaluations"].as_u64().unwrap_or(0) > 0 {
            let _ = writeln!(out, "      {}", protocol_costs(sb));
        }
    }
    let rejected = node["rejected"].as_array().cloned().unwrap_or_default();
    if !rejected.is_empty() {
        let _ = writeln!(out, "refused modules: {}", rejected.len());
        for r in &rejected {
            let _ = writeln!(
                out,
                "  {}  {}: {}",
                text(&r["fingerprint"]),
                text(&r["reason"]),
                text(&r["message"]),
            );
        }
    }
    let loads = node["loads"].as_array().cloned().unwrap_or_default();
    if !loads.is_empty() {
        let _ = writeln!(out, "loads in progress: {}", loads.len());
        for l in &loads {
            let _ = writeln!(
                out,
                "  {}  {} from {}, {} of {} fragments, {} capsules held",
                text(&l["fingerprint"]),
                text(&l["phase"]),
                text(&l["source"]),
                text(&l["fragments_received"]),
                text(&l["fragments_total"]),
                text(&l["held_capsules"]),
            );
        }
    }
    let _ = writeln!(
        out,
        "state store: {} entries, {}; held capsules: {}; live instances: {}",
        text(&node["state_entries"]),
        bytes(node["state_bytes"].as_u64().unwrap_or(0)),
        bytes(node["held_bytes"].as_u64().unwrap_or(0)),
        text(&node["live_instances"]),
    );
    if let Some(ports) = daemon["listening_ports"].as_array()
        && !ports.is_empty()
    {
        let ports: Vec<String> = ports.iter().map(text).collect();
        let _ = writeln!(out, "application ports: {}", ports.join(", "));
    }
    out.push_str(&counters_text(&node["stats"], &daemon["stats"]));
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_what_is_there_and_skips_zero_counters() {
        let status = serde_json::json!({
            "daemon": {
                "config": "r2.toml", "listen": "127.0.0.1:4002", "uptime_ms": 1500,
                "peers": [{"node": "10.0.0.1", "socket": "127.0.0.1:4001"}],
                "listening_ports": [7],
                "stats": {"datagrams_received": 3, "send_errors": 0}
            },
            "node": {
                "address": "10.0.0.2", "neighbours": ["10.0.0.1", "10.0.0.3"],
                "protocols": [{"fingerprint": "ab", "module_bytes": 2048, "compiled": true,
                               "pinned": false, "origin": "loaded", "origin_node": "10.0.0.1",
                               "cached_ms": 1250,
                               "sandbox": {"evaluations": 5, "fuel_total": 2500, "fuel_max": 900,
                                           "cpu_ns": 1500000, "cpu_max_ns": 40000,
                                           "stops": {"out_of_fuel": 2}, "logs_dropped": 3,
                                           "host_call_errors": 0, "instantiations": 3}}],
                "loads": [],
                "rejected": [{"fingerprint": "cd", "reason": "start_function",
                              "message": "module has a start function (function 0)"}],
                "code_cache_bytes": 4096, "code_cache_max_bytes": 1048576,
                "state_entries": 0, "state_bytes": 0, "held_bytes": 0, "live_instances": 1,
                "stats": {"evaluations": 2, "loads_failed": 0,
                          "drops": {"no_route": 1, "queue_full": 0}}
            }
        });
        let t = status_text(&status);
        assert!(
            t.starts_with("node 10.0.0.2  listening on 127.0.0.1:4002, up 1.5 s"),
            "{t}"
        );
        assert!(
            t.contains("neighbours: 10.0.0.1 (127.0.0.1:4001), 10.0.0.3\n"),
            "{t}"
        );
        assert!(
            t.contains("code cache: 1 protocols, 4.0 KiB of 1.0 MiB"),
            "{t}"
        );
        assert!(
            t.contains("  ab    2.0 KiB  compiled; loaded from 10.0.0.1 at 1.2 s\n"),
            "{t}"
        );
        assert!(
            t.contains(
                "      5 evaluations, fuel 2500 total / 900 max, CPU 1.500 ms total / 40.0 µs max; \
                 stopped: out_of_fuel 2; log lines dropped 3; instances 3\n"
            ),
            "{t}"
        );
        assert!(
            t.contains("refused modules: 1\n  cd  start_function: module has a start function"),
            "{t}"
        );
        assert!(t.contains("application ports: 7"), "{t}");
        assert!(t.contains("  evaluations  2\n"), "{t}");
        assert!(t.contains("  no_route  1\n"), "{t}");
        assert!(t.contains("  datagrams_received  3\n"), "{t}");
        assert!(
            !t.contains("queue_full") && !t.contains("send_errors"),
            "{t}"
        );
    }

    #[test]
    fn byte_units() {
        assert_eq!(bytes(0), "0 B");
        assert_eq!(bytes(1023), "1023 B");
        assert_eq!(bytes(1536), "1.5 KiB");
        assert_eq!(bytes(64 * 1024 * 1024), "64.0 MiB");
    }
}
