//! `ants topo status`: the recorded state checked against the machine (namespaces, daemons,
//! application sockets) and each router's own status, as text or JSON.
//!
//! It only looks: it never starts, stops or changes anything, and it asks the routers through
//! their application sockets rather than reading their files.

use std::fmt::Write as _;
use std::path::Path;
use std::process::ExitCode;
use std::time::Duration;

use serde_json::{Value, json};

use ants_netns::apply;

use super::{StatusArgs, locate};

/// `status`.
pub fn status(args: StatusArgs) -> anyhow::Result<ExitCode> {
    apply::require_root("status")?;
    let state = locate(
        args.file.as_deref(),
        args.prefix.as_deref(),
        args.state_dir.as_deref(),
    )?;
    let namespaces = apply::list_namespaces()?;
    let mut healthy = true;
    let mut nodes = Vec::new();
    for n in &state.nodes {
        let present = namespaces.contains(&n.namespace);
        let mut expected = vec![format!("{}/32", n.address)];
        expected.extend(
            n.interfaces
                .iter()
                .map(|i| format!("{}/{}", i.address, i.prefix_len)),
        );
        let missing: Vec<String> = if present {
            let have = apply::addresses_in(&n.namespace).unwrap_or_default();
            expected
                .iter()
                .filter(|a| !have.contains(a))
                .cloned()
                .collect()
        } else {
            expected.clone()
        };
        let daemon = state.daemon(&n.name);
        let alive = daemon.is_some_and(|d| apply::is_live_antsd(d.pid));
        let router = match (&n.app_socket, alive) {
            (Some(sock), true) => Some(router_status(sock)),
            _ => None,
        };
        healthy &= present
            && missing.is_empty()
            && (n.app_socket.is_none() || (alive && matches!(router, Some(Ok(_)))));
        nodes.push(json!({
            "name": n.name,
            "kind": n.kind,
            "namespace": n.namespace,
            "namespace_present": present,
            "address": n.address,
            "addresses": expected,
            "addresses_missing": missing,
            "antsd": daemon.map(|d| json!({
                "pid": d.pid,
                "alive": alive,
                "app_socket": n.app_socket,
                "log": d.log,
            })),
            "router": match &router {
                Some(Ok(v)) => v.clone(),
                _ => Value::Null,
            },
            "router_error": match &router {
                Some(Err(e)) => Value::String(e.clone()),
                _ => Value::Null,
            },
        }));
    }
    let doc = json!({
        "topology": state.topology,
        "prefix": state.prefix,
        "state_dir": state.state_dir,
        "complete": state.complete,
        "healthy": healthy,
        "nodes": nodes,
    });
    if args.json {
        println!("{}", serde_json::to_string_pretty(&doc)?);
    } else {
        print!("{}", status_text(&doc));
    }
    Ok(if healthy {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

/// The daemon's status document, or why it could not be had.
fn router_status(socket: &Path) -> Result<Value, String> {
    let mut client = ants_daemon::app::Client::connect(socket).map_err(|e| e.to_string())?;
    client.set_reply_timeout(Duration::from_secs(3));
    let text = client.status().map_err(|e| e.to_string())?;
    serde_json::from_str(&text).map_err(|e| format!("unreadable status: {e}"))
}

fn count(v: &Value, key: &str) -> u64 {
    v[key].as_u64().unwrap_or(0)
}

/// One line of a router's status document: protocols, traffic, loads, drops.
pub fn router_summary(status: &Value) -> String {
    let node = &status["node"];
    let stats = &node["stats"];
    let protocols = node["protocols"].as_array().cloned().unwrap_or_default();
    let compiled = protocols
        .iter()
        .filter(|p| p["compiled"].as_bool() == Some(true))
        .count();
    let pinned = protocols
        .iter()
        .filter(|p| p["pinned"].as_bool() == Some(true))
        .count();
    let drops: u64 = stats["drops"]
        .as_object()
        .map(|m| m.values().filter_map(Value::as_u64).sum())
        .unwrap_or(0);
    let neighbours = node["neighbours"].as_array().map_or(0, Vec::len);
    format!(
        "{} neighbours; {} protocols ({compiled} compiled, {pinned} pinned); capsules {} in, {} sent, {} delivered; code loads {} done, {} in progress; {} code requests served; {drops} dropped",
        neighbours,
        protocols.len(),
        count(stats, "capsules_received"),
        count(stats, "capsules_sent"),
        count(stats, "deliveries"),
        count(stats, "loads_completed"),
        node["loads"].as_array().map_or(0, Vec::len),
        count(stats, "requests_served"),
    )
}

/// The status document for a person.
pub(super) fn status_text(doc: &Value) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "topology `{}` (prefix {}), state in {}{}",
        doc["topology"].as_str().unwrap_or("?"),
        doc["prefix"].as_str().unwrap_or("?"),
        doc["state_dir"].as_str().unwrap_or("?"),
        if doc["complete"].as_bool() == Some(true) {
            ""
        } else {
            " (up did not finish: run `ants topo down`)"
        }
    );
    let nodes = doc["nodes"].as_array().cloned().unwrap_or_default();
    let width = nodes
        .iter()
        .filter_map(|n| n["name"].as_str().map(str::len))
        .max()
        .unwrap_or(4)
        .max(4);
    for n in &nodes {
        let name = n["name"].as_str().unwrap_or("?");
        let ns = if n["namespace_present"].as_bool() == Some(true) {
            "namespace ok".to_string()
        } else {
            format!(
                "namespace {} MISSING",
                n["namespace"].as_str().unwrap_or("?")
            )
        };
        let missing = n["addresses_missing"].as_array().map_or(0, Vec::len);
        let addrs = if missing == 0 {
            format!(
                "{} addresses ok",
                n["addresses"].as_array().map_or(0, Vec::len)
            )
        } else {
            format!("{missing} addresses MISSING")
        };
        let daemon = match &n["antsd"] {
            Value::Null if n["kind"] == "legacy" => "kernel router".to_string(),
            Value::Null => "antsd NOT STARTED".to_string(),
            d if d["alive"].as_bool() == Some(true) => format!("antsd pid {} up", d["pid"]),
            d => format!(
                "antsd pid {} DEAD (log: {})",
                d["pid"],
                d["log"].as_str().unwrap_or("?")
            ),
        };
        let _ = writeln!(
            out,
            "{name:<width$}  {:<6}  {:<15}  {ns}, {addrs}, {daemon}",
            n["kind"].as_str().unwrap_or("?"),
            n["address"].as_str().unwrap_or("?"),
        );
        if !n["router"].is_null() {
            let _ = writeln!(out, "{:width$}  {}", "", router_summary(&n["router"]));
        } else if let Some(e) = n["router_error"].as_str() {
            let _ = writeln!(out, "{:width$}  router: {e}", "");
        }
    }
    let _ = writeln!(
        out,
        "{}",
        if doc["healthy"].as_bool() == Some(true) {
            "all nodes up"
        } else {
            "SOME NODES ARE NOT UP"
        }
    );
    out
}
