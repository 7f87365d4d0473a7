use serde_json::json;

use super::*;

/// A status document shaped like the daemon's, with one neighbour link, one protocol and a
/// label value that needs escaping.
fn status() -> serde_json::Value {
    json!({
        "daemon": {
            "uptime_ms": 2500,
            "send_buffer_full": 3,
            "stats": { "datagrams_sent": 10, "bytes_sent": 1000, "egress_queue_drops": 2 },
            "links": [{
                "neighbour": "10.0.0.2", "rate_bps": 400000, "queue_cap": 8, "queue_len": 1,
                "datagrams_sent": 9, "bytes_sent": 900, "queue_drops": 2, "send_errors": 0,
                "max_queue": 8
            }],
            "code_store": null
        },
        "node": {
            "address": "10.0.0.1",
            "neighbours": ["10.0.0.2"],
            "neighbours_down": [],
            "liveness": [{ "address": "10.0.0.2", "up": true, "heard_ms_ago": 120, "routes": 3 }],
            "learned_routes": 3,
            "protocols": [{
                "fingerprint": "ab\"cd", "module_bytes": 4000, "pinned": true, "tier": "baseline",
                "sandbox": { "evaluations": 7, "fuel_max": 900, "stops": { "out_of_fuel": 1 } }
            }],
            "loads": [],
            "rejected": [],
            "held_bytes": 0,
            "stats": { "evaluations": 7, "drops": { "no_route": 4, "queue_full": 0 } }
        }
    })
}

#[test]
fn every_number_of_the_status_is_a_sample_with_its_labels() {
    let text = render(&status());
    for line in [
        "# TYPE ants_daemon_datagrams_sent_total counter",
        "ants_daemon_datagrams_sent_total 10",
        "ants_daemon_uptime_seconds 2.5",
        "ants_daemon_send_buffer_full_total 3",
        "ants_link_queue_drops_total{neighbour=\"10.0.0.2\"} 2",
        "# TYPE ants_link_queue_len gauge",
        "ants_link_rate_bps{neighbour=\"10.0.0.2\"} 400000",
        "ants_node_evaluations_total 7",
        "ants_node_drops_total{reason=\"no_route\"} 4",
        "ants_node_learned_routes 3",
        "ants_node_neighbours_now 1",
        "ants_neighbour_up{neighbour=\"10.0.0.2\"} 1",
        "ants_protocol_evaluations_total{fingerprint=\"ab\\\"cd\",tier=\"baseline\"} 7",
        "ants_protocol_fuel_max{fingerprint=\"ab\\\"cd\",tier=\"baseline\"} 900",
        "ants_protocol_stops_total{fingerprint=\"ab\\\"cd\",tier=\"baseline\",reason=\"out_of_fuel\"} 1",
        "ants_protocol_pinned{fingerprint=\"ab\\\"cd\",tier=\"baseline\"} 1",
    ] {
        assert!(
            text.lines().any(|l| l == line),
            "missing `{line}` in:\n{text}"
        );
    }
    // One HELP and TYPE per family, and no series twice.
    let mut series: Vec<&str> = text
        .lines()
        .filter(|l| !l.starts_with('#'))
        .map(|l| l.rsplit_once(' ').unwrap().0)
        .collect();
    let n = series.len();
    series.sort_unstable();
    series.dedup();
    assert_eq!(series.len(), n, "a series appears twice:\n{text}");
    assert!(!text.contains("protocol_sandbox"), "{text}");
}

#[test]
fn only_get_metrics_is_served() {
    assert_eq!(
        parse_request(b"GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n"),
        Asked::Metrics
    );
    assert_eq!(
        parse_request(b"GET /metrics?x=1 HTTP/1.0\r\n\r\n"),
        Asked::Metrics
    );
    assert_eq!(parse_request(b"GET / HTTP/1.1\r\n\r\n"), Asked::NotFound);
    assert_eq!(
        parse_request(b"POST /metrics HTTP/1.1\r\n\r\n"),
        Asked::MethodNotAllowed
    );
    assert_eq!(
        parse_request(b"\x16\x03\x01 hello\r\n\r\n"),
        Asked::BadRequest
    );
    assert_eq!(parse_request(b"GET /metrics\r\n\r\n"), Asked::BadRequest);
}
