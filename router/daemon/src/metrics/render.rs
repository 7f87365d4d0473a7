//! The status document (`ants status --json`) as Prometheus metric families, in the text
//! exposition format (version 0.0.4).
//!
//! Every number of the status becomes a sample: driver and node counters as `counter`s
//! (`_total`), sizes and queue lengths as `gauge`s, drops and evaluation stops by reason as
//! one family with a `reason` label, and the per-neighbour and per-protocol entries with a
//! `neighbour` or `fingerprint` label. It is pure: a function of the document alone.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use serde_json::{Map, Value};

/// Prefix of every metric name.
const PREFIX: &str = "ants";

#[derive(Clone, Copy, PartialEq, Eq)]
enum Kind {
    Counter,
    Gauge,
}

/// One family: its kind, help text and samples (label set → value).
struct Family {
    kind: Kind,
    help: String,
    samples: Vec<(Vec<(&'static str, String)>, f64)>,
}

/// Families by name, in name order.
#[derive(Default)]
struct Families(BTreeMap<String, Family>);

impl Families {
    fn add(
        &mut self,
        kind: Kind,
        name: &str,
        help: &str,
        labels: Vec<(&'static str, String)>,
        value: f64,
    ) {
        let name = match kind {
            Kind::Counter => format!("{PREFIX}_{name}_total"),
            Kind::Gauge => format!("{PREFIX}_{name}"),
        };
        let family = self.0.entry(name).or_insert_with(|| Family {
            kind,
            help: help.to_string(),
            samples: Vec::new(),
        });
        family.samples.push((labels, value));
    }

    /// Every number of `object` (and, one level down, every number of a nested object, with
    /// the inner key as `inner_label`), named `<group>_<key>`: a gauge when the key names a
    /// size, a maximum or a current value (`gauges`), else a counter.
    fn numbers(
        &mut self,
        group: &str,
        object: &Map<String, Value>,
        labels: &[(&'static str, String)],
        inner_label: &'static str,
        gauges: &dyn Fn(&str) -> bool,
    ) {
        for (key, value) in object {
            let kind = if gauges(key) {
                Kind::Gauge
            } else {
                Kind::Counter
            };
            let help = format!("`{key}` of the status' {group} (docs/daemon.md, Status)");
            match value {
                Value::Number(n) => {
                    if let Some(v) = n.as_f64() {
                        self.add(kind, &format!("{group}_{key}"), &help, labels.to_vec(), v);
                    }
                }
                Value::Bool(b) => self.add(
                    Kind::Gauge,
                    &format!("{group}_{key}"),
                    &help,
                    labels.to_vec(),
                    f64::from(u8::from(*b)),
                ),
                Value::Object(inner) => {
                    for (k, v) in inner {
                        if let Some(v) = v.as_f64() {
                            let mut l = labels.to_vec();
                            l.push((inner_label, k.clone()));
                            self.add(kind, &format!("{group}_{key}"), &help, l, v);
                        }
                    }
                }
                _ => {}
            }
        }
    }

    fn write(&self) -> String {
        let mut out = String::new();
        for (name, f) in &self.0 {
            let kind = match f.kind {
                Kind::Counter => "counter",
                Kind::Gauge => "gauge",
            };
            let _ = writeln!(out, "# HELP {name} {}", escape_help(&f.help));
            let _ = writeln!(out, "# TYPE {name} {kind}");
            for (labels, value) in &f.samples {
                out.push_str(name);
                if !labels.is_empty() {
                    out.push('{');
                    for (i, (k, v)) in labels.iter().enumerate() {
                        if i > 0 {
                            out.push(',');
                        }
                        let _ = write!(out, "{k}=\"{}\"", escape_label(v));
                    }
                    out.push('}');
                }
                let _ = writeln!(out, " {value}");
            }
        }
        out
    }
}

fn escape_label(v: &str) -> String {
    v.replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

fn escape_help(v: &str) -> String {
    v.replace('\\', "\\\\").replace('\n', "\\n")
}

/// Whether a key names a current value or a maximum rather than a running count.
fn is_gauge(key: &str) -> bool {
    key.contains("max")
        || key.contains("bytes") && !key.ends_with("_sent") && !key.ends_with("_received")
        || matches!(
            key,
            "queue_len"
                | "queue_cap"
                | "rate_bps"
                | "learned_routes"
                | "state_entries"
                | "live_instances"
                | "pinned"
                | "compiled"
                | "live_instance"
                | "fuel_in_window"
                | "compile_time_us"
                | "baseline_compile_time_us"
                | "uptime_ms"
                | "cached_ms"
                | "routes"
                | "heard_ms_ago"
                | "up"
        )
}

/// The metrics of one status document (the daemon's `ants status --json`).
pub fn render(status: &Value) -> String {
    let mut f = Families::default();
    let none: &[(&str, String)] = &[];
    let daemon = &status["daemon"];
    let node = &status["node"];
    if let Some(stats) = daemon["stats"].as_object() {
        f.numbers("daemon", stats, none, "reason", &is_gauge);
    }
    if let Some(v) = daemon["uptime_ms"].as_f64() {
        f.add(
            Kind::Gauge,
            "daemon_uptime_seconds",
            "Seconds since the daemon started.",
            Vec::new(),
            v / 1e3,
        );
    }
    if let Some(v) = daemon["send_buffer_full"].as_f64() {
        f.add(
            Kind::Counter,
            "daemon_send_buffer_full",
            "Sends that found the kernel's send buffer full and waited (docs/daemon.md).",
            Vec::new(),
            v,
        );
    }
    for (reason, n) in daemon["metrics_refused"].as_object().into_iter().flatten() {
        if let Some(n) = n.as_f64() {
            f.add(
                Kind::Counter,
                "metrics_refused",
                "Requests the metrics endpoint refused, by reason (docs/daemon.md, 3.1).",
                vec![("reason", reason.clone())],
                n,
            );
        }
    }
    if let Some(store) = daemon["code_store"].as_object() {
        f.numbers("code_store", store, none, "reason", &is_gauge);
    }
    for link in daemon["links"].as_array().into_iter().flatten() {
        let Some(object) = link.as_object() else {
            continue;
        };
        let label = vec![("neighbour", str_of(&link["neighbour"]))];
        f.numbers("link", object, &label, "reason", &is_gauge);
    }
    if let Some(object) = node.as_object() {
        let top: Map<String, Value> = object
            .iter()
            .filter(|(_, v)| v.is_number())
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        f.numbers("node", &top, none, "reason", &|_| true);
    }
    if let Some(stats) = node["stats"].as_object() {
        f.numbers("node", stats, none, "reason", &is_gauge);
    }
    for (key, help) in [
        ("neighbours", "Configured active neighbours."),
        (
            "neighbours_down",
            "Configured neighbours declared down by liveness.",
        ),
        ("loads", "Code loads in progress."),
        ("rejected", "Modules refused recently (docs/node.md)."),
    ] {
        if let Some(list) = node[key].as_array() {
            let name = format!("node_{key}_now");
            f.add(Kind::Gauge, &name, help, Vec::new(), list.len() as f64);
        }
    }
    for peer in node["liveness"].as_array().into_iter().flatten() {
        let Some(object) = peer.as_object() else {
            continue;
        };
        let label = vec![("neighbour", str_of(&peer["address"]))];
        f.numbers("neighbour", object, &label, "reason", &is_gauge);
    }
    for p in node["protocols"].as_array().into_iter().flatten() {
        let Some(object) = p.as_object() else {
            continue;
        };
        let label = vec![
            ("fingerprint", str_of(&p["fingerprint"])),
            ("tier", str_of(&p["tier"])),
        ];
        // The sandbox counters are a nested record of their own, below.
        let mut object = object.clone();
        object.remove("sandbox");
        f.numbers("protocol", &object, &label, "reason", &is_gauge);
        if let Some(sandbox) = p["sandbox"].as_object() {
            f.numbers("protocol", sandbox, &label, "reason", &is_gauge);
        }
    }
    f.write()
}

/// A JSON string's text, or the JSON of anything else (`""` for null).
fn str_of(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        Value::Null => String::new(),
        other => other.to_string(),
    }
}
