//! The topology's scripted events in a run: links going down and up, node cores crashing and
//! starting again, each applied at its virtual time and recorded for the report.
//!
//! It never decides what an event means for a node's routing: a link down is silence on the
//! wire, and the nodes find out as real routers do (hellos, if liveness is on).

use serde::Serialize;

use ants_topology::model::Event;

use super::Emulator;
use crate::apps::at_ms;

/// What one scripted event did.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct EventRecord {
    /// When (ms of virtual time).
    pub at_ms: f64,
    /// `link_down`, `link_up`, `node_down` or `node_up`.
    pub kind: &'static str,
    /// The link (`a -- b`) or node it names.
    pub target: String,
    /// What happened: applied, or why nothing changed (already down, already up).
    pub outcome: String,
}

impl Emulator {
    /// Applies scripted event `index` of the topology now.
    pub(super) fn apply_event(&mut self, index: usize) {
        let Some(event) = self.topology.events.get(index).cloned() else {
            return;
        };
        let t = &self.topology;
        let (target, outcome) = match event {
            Event::LinkDown { link, .. } | Event::LinkUp { link, .. } => {
                let l = &t.links[link];
                let target = format!("{} -- {}", t.nodes[l.a].name, t.nodes[l.b].name);
                let down = matches!(event, Event::LinkDown { .. });
                let outcome = if self.dirs[2 * link].is_down() == down {
                    format!(
                        "none: the link was already {}",
                        if down { "down" } else { "up" }
                    )
                } else {
                    for dir in [2 * link, 2 * link + 1] {
                        self.dirs[dir].set_down(down);
                    }
                    "applied".to_string()
                };
                (target, outcome)
            }
            Event::LinkSet {
                link,
                delay,
                loss,
                bandwidth_bps,
                ..
            } => {
                let l = &t.links[link];
                let target = format!("{} -- {}", t.nodes[l.a].name, t.nodes[l.b].name);
                let mut set = Vec::new();
                if let Some(d) = delay {
                    set.push(format!("delay {d:?}"));
                }
                if let Some(p) = loss {
                    set.push(format!("loss {}%", (p * 1e6).round() / 1e4));
                }
                if let Some(b) = bandwidth_bps {
                    set.push(format!("bandwidth {b} bit/s"));
                }
                for dir in [2 * link, 2 * link + 1] {
                    self.dirs[dir].set_params(delay, loss, bandwidth_bps);
                }
                (target, format!("applied: {}", set.join(", ")))
            }
            Event::NodeDown { node, .. } => {
                let target = t.nodes[node].name.clone();
                let outcome = match self.node_down(node) {
                    Ok(()) => "applied: the node core stopped, IP forwarding goes on".to_string(),
                    Err(_) => "none: the node core was already down".to_string(),
                };
                (target, outcome)
            }
            Event::NodeUp { node, .. } => {
                let target = t.nodes[node].name.clone();
                let outcome = match self.node_up(node) {
                    Ok(()) => "applied: a new, empty node core started".to_string(),
                    Err(_) => "none: the node core was not down".to_string(),
                };
                (target, outcome)
            }
        };
        self.event_log.push(EventRecord {
            at_ms: at_ms(self.now),
            kind: event.kind(),
            target,
            outcome,
        });
    }

    /// The scripted events applied so far, in order.
    pub fn event_log(&self) -> &[EventRecord] {
        &self.event_log
    }
}
