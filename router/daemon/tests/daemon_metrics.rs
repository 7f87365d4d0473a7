//! Prometheus metrics of a real `antsd`: with `metrics_listen`, a scrape of `/metrics` returns
//! the status' counters and gauges with their labels, and the endpoint stays bounded against
//! clients that send the wrong thing, too much, or nothing at all.
//!
//! Everything is on loopback and in a temporary directory; daemons are killed when the test
//! ends.

mod daemon_support;

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::{Duration, Instant};

use daemon_support::{Daemon, capsule, chain_writer, eventually, free_ports};

/// One HTTP request to `addr`: the status line and the body.
fn get(addr: SocketAddr, request: &[u8], within: Duration) -> (String, String) {
    let mut s = TcpStream::connect_timeout(&addr, within).unwrap();
    s.set_read_timeout(Some(within)).unwrap();
    s.write_all(request).unwrap();
    let mut text = String::new();
    s.read_to_string(&mut text).unwrap();
    let (head, body) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
    (
        head.lines().next().unwrap_or("").to_string(),
        body.to_string(),
    )
}

#[test]
fn a_scrape_returns_the_status_with_labels_and_the_endpoint_stays_bounded() {
    let dir = tempfile::tempdir().unwrap();
    let ports = free_ports(2);
    // r1 with a neighbour r2 (running, so the link carries traffic) and a metrics endpoint on
    // a port the kernel picks; the status says which.
    let mut w = chain_writer(dir.path(), &ports, 1, &[]);
    w.metrics_listen("127.0.0.1:0".parse().unwrap());
    let r1 = Daemon::start(dir.path(), "r1", &w.to_toml());
    let _r2 = Daemon::start(
        dir.path(),
        "r2",
        &chain_writer(dir.path(), &ports, 2, &[]).to_toml(),
    );
    let addr: SocketAddr = r1.status()["daemon"]["metrics_listen"]
        .as_str()
        .expect("the status names the metrics address")
        .parse()
        .unwrap();

    // A protocol and some traffic toward r2.
    let mut client = r1.client();
    let module = std::fs::read(capsule("forward")).unwrap();
    let fp = client.register(&module).unwrap();
    for i in 0..20u8 {
        client
            .send(fp, "127.0.1.2".parse().unwrap(), 8, &[i; 16])
            .unwrap();
    }

    // The capsules wait for the module's compilation, then go.
    eventually("20 capsules toward r2", Duration::from_secs(20), || {
        r1.status()["daemon"]["links"]
            .as_array()
            .into_iter()
            .flatten()
            .any(|l| l["neighbour"] == "127.0.1.2" && l["datagrams_sent"].as_u64() >= Some(20))
    });

    let second = Duration::from_secs(5);
    let (status, body) = get(addr, b"GET /metrics HTTP/1.1\r\nHost: r1\r\n\r\n", second);
    assert_eq!(status, "HTTP/1.1 200 OK", "{body}");
    for needle in [
        "# TYPE ants_node_evaluations_total counter",
        "ants_daemon_datagrams_sent_total ",
        "ants_link_datagrams_sent_total{neighbour=\"127.0.1.2\"} ",
        "ants_node_drops_total{reason=\"no_route\"} ",
        &format!("ants_protocol_evaluations_total{{fingerprint=\"{fp}\""),
        "ants_daemon_uptime_seconds ",
    ] {
        assert!(body.contains(needle), "no `{needle}` in:\n{body}");
    }
    let sent = body
        .lines()
        .find(|l| l.starts_with("ants_link_datagrams_sent_total{neighbour=\"127.0.1.2\"}"))
        .and_then(|l| l.rsplit(' ').next())
        .and_then(|v| v.parse::<f64>().ok())
        .unwrap();
    assert!(sent >= 20.0, "{sent} datagrams toward r2");

    // The wrong thing, too much, or nothing: refused, and the endpoint keeps serving.
    let (status, _) = get(addr, b"GET / HTTP/1.1\r\n\r\n", second);
    assert_eq!(status, "HTTP/1.1 404 Not Found");
    let (status, _) = get(addr, b"DELETE /metrics HTTP/1.1\r\n\r\n", second);
    assert_eq!(status, "HTTP/1.1 405 Method Not Allowed");
    let mut huge = b"GET /metrics HTTP/1.1\r\n".to_vec();
    huge.extend(std::iter::repeat_n(b'x', 20_000));
    let (status, _) = get(addr, &huge, second);
    assert_eq!(status, "HTTP/1.1 431 Request Header Fields Too Large");
    // Eight clients that connect and send nothing hold every slot until their time is up
    // (2 s); a real scrape then gets through.
    let idle: Vec<TcpStream> = (0..8).map(|_| TcpStream::connect(addr).unwrap()).collect();
    let started = Instant::now();
    let (status, _) = get(
        addr,
        b"GET /metrics HTTP/1.1\r\n\r\n",
        Duration::from_secs(10),
    );
    assert_eq!(status, "HTTP/1.1 200 OK");
    assert!(
        started.elapsed() < Duration::from_secs(8),
        "a scrape waited {:?} behind idle clients",
        started.elapsed()
    );
    drop(idle);

    // Every refusal is counted by reason, in the status and in the metrics.
    let refused = &r1.status()["daemon"]["metrics_refused"];
    for (reason, at_least) in [
        ("not_found", 1),
        ("method_not_allowed", 1),
        ("too_large", 1),
        ("incomplete", 4),
    ] {
        assert!(
            refused[reason].as_u64() >= Some(at_least),
            "{reason}: {refused}"
        );
    }
    let (_, body) = get(addr, b"GET /metrics HTTP/1.1\r\n\r\n", second);
    assert!(
        body.contains("ants_metrics_refused_total{reason=\"not_found\"} 1"),
        "{body}"
    );
}
