//! Reading the file's `[[event]]` entries into [`EventDraft`]s: the kind, the time, and the
//! link or node it names, each checked where it is written.
//!
//! It never resolves names: the builder does, and its errors are located at the entry.

use toml::Spanned;

use super::reader::Reader;
use super::{FileError, RawEvent, duration_value};
use crate::model::EventDraft;

impl Reader<'_> {
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
        let wants_link = matches!(kind, "link_down" | "link_up");
        let wants_node = matches!(kind, "node_down" | "node_up");
        if !wants_link && !wants_node {
            return Err(self.field(
                e.kind.span(),
                &format!("event[{index}]"),
                "kind",
                format_args!(
                    "`{kind}` is not an event: use link_down, link_up, node_down or node_up"
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
            return Ok(match kind {
                "link_down" => EventDraft::LinkDown { at, link },
                _ => EventDraft::LinkUp { at, link },
            });
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
