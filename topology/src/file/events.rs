//! Reading the file's `[[event]]` entries into [`EventDraft`]s: the kind, the time, and the
//! link or node it names, each checked where it is written.
//!
//! It never resolves names: the builder does, and its errors are located at the entry.

use toml::Spanned;

use super::reader::Reader;
use super::{FileError, MAX_LINK_DELAY, RawEvent, bandwidth_value, duration_value, loss_value};
use crate::model::EventDraft;

impl Reader<'_> {
    /// The changes of a `link_set` event: at least one of delay, loss and bandwidth, each
    /// read like the link option of the same name.
    fn link_set(
        &self,
        at: std::time::Duration,
        link: (String, String),
        e: &RawEvent,
        entry: &str,
        event: &Spanned<RawEvent>,
    ) -> Result<EventDraft, FileError> {
        let delay = e
            .delay
            .as_ref()
            .map(|v| {
                let d = duration_value(v.get_ref())
                    .map_err(|m| self.field(v.span(), entry, "delay", m))?;
                if d > MAX_LINK_DELAY {
                    return Err(self.field(
                        v.span(),
                        entry,
                        "delay",
                        format_args!(
                            "longer than the longest link delay, {} s",
                            MAX_LINK_DELAY.as_secs()
                        ),
                    ));
                }
                Ok(d)
            })
            .transpose()?;
        let loss = e
            .loss
            .as_ref()
            .map(|v| loss_value(v.get_ref()).map_err(|m| self.field(v.span(), entry, "loss", m)))
            .transpose()?;
        let bandwidth_bps = e
            .bandwidth
            .as_ref()
            .map(|v| {
                bandwidth_value(v.get_ref())
                    .map_err(|m| self.field(v.span(), entry, "bandwidth", m))
            })
            .transpose()?;
        if delay.is_none() && loss.is_none() && bandwidth_bps.is_none() {
            return Err(self.field(
                event.span(),
                entry,
                "delay",
                "a link_set event changes at least one of delay, loss and bandwidth",
            ));
        }
        Ok(EventDraft::LinkSet {
            at,
            link,
            delay,
            loss,
            bandwidth_bps,
        })
    }

    /// Event `index` of the file.
    pub(super) fn event(
        &self,
        index: usize,
        event: &Spanned<RawEvent>,
    ) -> Result<EventDraft, FileError> {
        let e = event.get_ref();
        let entry = format!("event[{index}] ({})", e.kind.get_ref());
        let at =
            duration_value(e.at.get_ref()).map_err(|m| self.field(e.at.span(), &entry, "at", m))?;
        let kind = e.kind.get_ref().as_str();
        let wants_link = matches!(kind, "link_down" | "link_up" | "link_set");
        let wants_node = matches!(kind, "node_down" | "node_up");
        if !wants_link && !wants_node {
            return Err(self.field(
                e.kind.span(),
                &format!("event[{index}]"),
                "kind",
                format_args!(
                    "`{kind}` is not an event: use link_down, link_up, link_set, node_down or node_up"
                ),
            ));
        }
        let (needed, other) = if wants_link {
            ("link", e.node.as_ref().map(Spanned::span))
        } else {
            ("node", e.link.as_ref().map(Spanned::span))
        };
        if let Some(span) = other {
            let extra = if wants_link { "node" } else { "link" };
            return Err(self.field(
                span,
                &entry,
                extra,
                format_args!("a {kind} event names a {needed}, not a {extra}"),
            ));
        }
        // The new values only a link_set takes.
        let settings = [
            ("delay", e.delay.as_ref()),
            ("loss", e.loss.as_ref()),
            ("bandwidth", e.bandwidth.as_ref()),
        ];
        if kind != "link_set"
            && let Some((name, v)) = settings.iter().find_map(|(n, v)| v.map(|v| (*n, v)))
        {
            return Err(self.field(
                v.span(),
                &entry,
                name,
                format_args!("only a link_set event changes a link's {name}"),
            ));
        }
        if wants_link {
            let Some(link) = &e.link else {
                return Err(self.field(
                    event.span(),
                    &entry,
                    "link",
                    "missing: name the link's two ends, e.g. link = [\"a1\", \"l1\"]",
                ));
            };
            let [a, b] = link.get_ref().as_slice() else {
                return Err(self.field(link.span(), &entry, "link", "name exactly two nodes"));
            };
            let link = (a.get_ref().clone(), b.get_ref().clone());
            return match kind {
                "link_down" => Ok(EventDraft::LinkDown { at, link }),
                "link_up" => Ok(EventDraft::LinkUp { at, link }),
                _ => self.link_set(at, link, e, &entry, event),
            };
        }
        let Some(node) = &e.node else {
            return Err(self.field(
                event.span(),
                &entry,
                "node",
                "missing: name the node, e.g. node = \"a2\"",
            ));
        };
        let node = node.get_ref().clone();
        Ok(match kind {
            "node_down" => EventDraft::NodeDown { at, node },
            _ => EventDraft::NodeUp { at, node },
        })
    }
}
