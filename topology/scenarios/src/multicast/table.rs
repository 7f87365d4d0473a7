//! The multicast scenario's report as text tables: the network, code loading hop by hop, each
//! receiver, link copies against unicast fan-out; at most [`TABLE_ROWS`] rows a section (the
//! JSON has everything).
//!
//! It never computes a number: everything comes from the [`Report`].

use std::collections::BTreeSet;
use std::fmt::Write as _;

use ants_topology::graph::Traffic;

use super::{CodeLoadRow, LinkCopies, Report, TABLE_ROWS};
use crate::{ScenarioReport, Table};

/// `a, b, c and d`, at most `max` names.
fn list(names: &[String], max: usize) -> String {
    match names {
        [] => "none".into(),
        [one] => one.clone(),
        _ if names.len() > max => {
            format!("{} and {} more", names[..max].join(", "), names.len() - max)
        }
        [init @ .., last] => format!("{} and {last}", init.join(", ")),
    }
}

fn ratio(a: u64, b: u64) -> String {
    if a == 0 {
        "-".into()
    } else {
        format!("{:.1}x", b as f64 / a as f64)
    }
}

impl Report {
    /// Data copies per link for a picture (see [`ants_topology::graph::svg`]).
    pub fn traffic(&self) -> Traffic {
        Traffic {
            title: format!(
                "multicast from {}: {} packets to {} members, {} data copies on the links ({} with unicast fan-out)",
                self.source, self.packets, self.members, self.totals.multicast, self.totals.unicast
            ),
            per_link: self.per_link.clone(),
        }
    }
}

impl ScenarioReport for Report {
    /// The story of the run: the network, code loading hop by hop, each receiver's table,
    /// link copies versus unicast fan-out.
    fn table(&self) -> String {
        let mut out = String::new();
        let n = &self.network;
        let _ = writeln!(
            out,
            "network `{}` (seed {}): {} hosts, {} active routers, {} legacy routers, {} links",
            self.topology, self.seed, n.hosts, n.active, n.legacy, n.links
        );
        let edges: BTreeSet<&str> = self.receivers.iter().map(|r| r.edge.as_str()).collect();
        let edges: Vec<String> = edges.into_iter().map(str::to_string).collect();
        let first_ms = self.bursts.first().map_or(0.0, |b| b.start_ms);
        let _ = writeln!(
            out,
            "{} sends {} packets of {} bytes, {} ms apart from {first_ms} ms, to {} members of group {} behind {}",
            self.source,
            self.packets,
            self.payload_len,
            self.interval_ms,
            self.members,
            self.group,
            list(&edges, 8),
        );

        // Code loading.
        let _ = writeln!(
            out,
            "\ncode loading, hop by hop (each node compiles the code for {} ms of virtual time once it has it)",
            self.compile_delay_ms
        );
        let registered: Vec<&CodeLoadRow> = self
            .code_loading
            .iter()
            .filter(|l| l.from == "registered")
            .collect();
        if let (Some(first), Some(last)) = (registered.first(), registered.last()) {
            let when = if first.at_ms == last.at_ms {
                format!("at {:.1} ms", first.at_ms)
            } else {
                format!("from {:.1} to {:.1} ms", first.at_ms, last.at_ms)
            };
            let _ = writeln!(
                out,
                "  the source and the members registered it ({} bytes): usable on their {} hosts {when}",
                first.bytes,
                registered.len(),
            );
        }
        let demand: Vec<&CodeLoadRow> = self
            .code_loading
            .iter()
            .filter(|l| l.from != "registered")
            .collect();
        let mut loads = Table::with_columns(&[
            ("at ms", true),
            ("node", false),
            ("kind", false),
            ("loaded from", false),
        ]);
        let rows = demand.iter().map(|l| {
            vec![
                format!("{:.3}", l.at_ms),
                l.node.clone(),
                l.kind.to_string(),
                l.from.clone(),
            ]
        });
        loads.rows_at_most(rows, TABLE_ROWS, "code loads");
        for q in self.quiet_edges.iter().filter(|q| !q.loaded_code) {
            loads.row(["never", &q.node, "active", "(no member behind it)"].map(String::from));
        }
        if loads.is_empty() {
            out.push_str("  no node loaded the code on demand\n");
        } else {
            loads.write(&mut out);
        }

        // Receivers.
        let _ = writeln!(out, "\nreceivers ({} packets sent)", self.packets);
        let leaving = self
            .receivers
            .iter()
            .any(|r| r.left_ms.is_some() || r.silent);
        let mut headers = vec![
            ("node", false),
            ("edge", false),
            ("delivered", true),
            ("duplicates", true),
            ("lost", true),
        ];
        if leaving {
            headers.extend([("wanted", true), ("after leaving", true)]);
        }
        let rows = self.receivers.iter().map(|r| {
            let mut row = vec![
                r.node.clone(),
                r.edge.clone(),
                r.delivered.to_string(),
                r.duplicates.to_string(),
                r.lost.to_string(),
            ];
            if leaving {
                row.extend([r.wanted.to_string(), r.unwanted.to_string()]);
            }
            row
        });
        let mut receivers = Table::with_columns(&headers);
        receivers.rows_at_most(rows, TABLE_ROWS, "receivers");
        receivers.write(&mut out);
        let bad: Vec<String> = self
            .receivers
            .iter()
            .filter(|r| !r.exactly_once())
            .map(|r| r.node.clone())
            .collect();
        if self.exactly_once {
            let _ = writeln!(
                out,
                "every member got every packet exactly once: {} deliveries, no duplicate, no loss",
                self.receivers
                    .iter()
                    .map(|r| u64::from(r.delivered))
                    .sum::<u64>()
            );
        } else if bad.is_empty() {
            let _ = writeln!(
                out,
                "NOT exactly once: the source sent {} packets with {} refused",
                self.packets, self.send_errors
            );
        } else {
            let _ = writeln!(
                out,
                "NOT exactly once: {} of {} members missed, duplicated or got unwanted packets ({})",
                bad.len(),
                self.receivers.len(),
                list(&bad, 8)
            );
        }

        // Links.
        let _ = writeln!(
            out,
            "\ndata copies on the links: the multicast tree versus unicast fan-out from {} (one copy per member)",
            self.source
        );
        let _ = writeln!(
            out,
            "  all links: {} copies versus {} ({} fewer)",
            self.totals.multicast,
            self.totals.unicast,
            ratio(self.totals.multicast, self.totals.unicast)
        );
        if let Some(sl) = &self.source_link {
            let _ = writeln!(
                out,
                "  the source's first link ({}): {} versus {} ({} packets x {} members)",
                sl.link, sl.copies.multicast, sl.copies.unicast, self.packets, self.members
            );
        }
        for q in &self.quiet_edges {
            let _ = writeln!(
                out,
                "  links of {} (no member behind it): {} capsules of the protocol{}",
                q.node,
                q.capsules,
                if q.loaded_code {
                    ""
                } else {
                    ", code never loaded there"
                }
            );
        }
        if self.stray_capsules > 0 {
            let _ = writeln!(
                out,
                "  {} capsules on links whose ends are as far from the source (none expected)",
                self.stray_capsules
            );
        }
        let mut shown: Vec<&LinkCopies> = self
            .links
            .iter()
            .filter(|l| l.data + l.unicast > 0)
            .collect();
        // Outward from the source, ties in link order.
        shown.sort_by_key(|l| l.depth);
        let mut links = Table::with_columns(&[
            ("link (away from the source)", false),
            ("multicast", true),
            ("unicast", true),
        ]);
        let rows = shown.iter().map(|l| {
            vec![
                format!("{} > {}", l.from, l.to),
                l.data.to_string(),
                l.unicast.to_string(),
            ]
        });
        links.rows_at_most(rows, TABLE_ROWS, "links");
        links.write(&mut out);
        out
    }
}
