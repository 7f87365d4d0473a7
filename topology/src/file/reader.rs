//! Converting a topology file as written (`RawFile`) into a [`TopologyBuilder`], with every
//! value checked and every error located at the entry and field at fault.
//!
//! Owns the conversion and the located errors; it never reads a file or resolves capsule
//! modules.

use super::*;
use ants_router::node::{MAX_HELLO_INTERVAL, MIN_HELLO_INTERVAL};

/// One text being read: builds located errors.
pub(super) struct Reader<'a> {
    pub(super) path: &'a Path,
    pub(super) text: &'a str,
}

impl Reader<'_> {
    fn located(&self, span: Option<Range<usize>>, message: String) -> FileError {
        FileError {
            path: self.path.to_path_buf(),
            location: span.map(|s| Location::of_offset(self.text, s.start)),
            message,
            topology: None,
        }
    }

    /// An error about `field` of `entry` (empty for a top-level or section field).
    pub(super) fn field(
        &self,
        span: Range<usize>,
        entry: &str,
        field: &str,
        what: impl fmt::Display,
    ) -> FileError {
        let message = if entry.is_empty() {
            format!("`{field}`: {what}")
        } else {
            format!("{entry}: `{field}`: {what}")
        };
        self.located(Some(span), message)
    }

    fn line_of(&self, span: &Range<usize>) -> usize {
        Location::of_offset(self.text, span.start).line
    }

    /// Converts a deserialization error of `toml`, naming the entry and field its span is in.
    pub(super) fn toml_error(&self, e: &toml::de::Error) -> FileError {
        let mut message = e.message().trim_end().to_string();
        let Some(span) = e.span() else {
            return self.located(None, message);
        };
        let place = describe_at(self.text, span.start);
        if let Some(key) = ENTRY_KEYS
            .iter()
            .find(|k| place.as_deref() == Some(&format!("`{k}`")))
            && message.contains("expected a sequence")
        {
            message.push_str(&format!(
                "; write each entry as its own [[{key}]] table (two brackets)"
            ));
        }
        let message = match place {
            Some(place) => format!("{place}: {message}"),
            None => message,
        };
        self.located(Some(span), message)
    }

    /// Everything but the network-level checks: the builder, fed in file order.
    pub(super) fn convert(&self, raw: &RawFile) -> Result<TopologyBuilder, FileError> {
        let name = match &raw.name {
            Some(n) if n.get_ref().trim().is_empty() => {
                return Err(self.field(n.span(), "", "name", "must not be empty"));
            }
            Some(n) => n.get_ref().clone(),
            None => self
                .path
                .file_stem()
                .map(|s| s.to_string_lossy().into_owned())
                .filter(|s| !s.is_empty())
                .unwrap_or_else(|| "topology".to_string()),
        };
        let mut b = TopologyBuilder::new(name);
        if let Some(seed) = &raw.seed {
            let v = whole(seed.get_ref(), 0, i64::MAX as u64)
                .map_err(|m| self.field(seed.span(), "", "seed", m))?;
            b.seed(v);
        } else {
            b.seed(DEFAULT_SEED);
        }
        if let Some(a) = &raw.addressing {
            for (field, value, set) in [
                ("addressing.nodes", &a.nodes, true),
                ("addressing.links", &a.links, false),
            ] {
                if let Some(v) = value {
                    let pool = parse_prefix(v.get_ref())
                        .map_err(|m| self.field(v.span(), "", field, m))?;
                    if set {
                        b.node_pool(pool);
                    } else {
                        b.link_pool(pool);
                    }
                }
            }
        }
        if let Some(e) = &raw.emulator {
            let mut settings = EmulatorSettings::default();
            if let Some(v) = &e.duration {
                let d = duration_value(v.get_ref())
                    .and_then(|d| {
                        if d.is_zero() {
                            Err("must be longer than 0 s".to_string())
                        } else {
                            Ok(d)
                        }
                    })
                    .map_err(|m| self.field(v.span(), "", "emulator.duration", m))?;
                settings.duration = Some(d);
            }
            if let Some(v) = &e.compile_delay {
                let d = duration_value(v.get_ref())
                    .map_err(|m| self.field(v.span(), "", "emulator.compile_delay", m))?;
                settings.compile_delay = Some(d);
            }
            if let Some(v) = &e.max_budget {
                let budget = v
                    .get_ref()
                    .as_integer()
                    .and_then(|n| u16::try_from(n).ok())
                    .filter(|n| *n >= MIN_MAX_BUDGET)
                    .ok_or_else(|| {
                        self.field(
                            v.span(),
                            "",
                            "emulator.max_budget",
                            format_args!("must be a whole number from {MIN_MAX_BUDGET} to 65535"),
                        )
                    })?;
                settings.max_budget = Some(budget);
            }
            b.emulator(settings);
        }
        if let Some(v) = raw
            .liveness
            .as_ref()
            .and_then(|l| l.hello_interval.as_ref())
        {
            let (min, max) = (MIN_HELLO_INTERVAL, MAX_HELLO_INTERVAL);
            let d = duration_value(v.get_ref())
                .and_then(|d| {
                    if d.is_zero() || (min..=max).contains(&d) {
                        Ok(d)
                    } else {
                        Err(format!("must be 0 (off) or from {min:?} to {max:?}"))
                    }
                })
                .map_err(|m| self.field(v.span(), "", "liveness.hello_interval", m))?;
            b.hello_interval((!d.is_zero()).then_some(d));
        }

        // Link defaults: the value and whether it was given.
        let mut defaults = (LinkParams::default(), LinkOptionsSet::default());
        if let Some(d) = raw.defaults.as_ref().and_then(|d| d.link.as_ref()) {
            let options = [
                ("delay", d.delay.as_ref()),
                ("bandwidth", d.bandwidth.as_ref()),
                ("loss", d.loss.as_ref()),
                ("queue", d.queue.as_ref()),
                ("jitter", d.jitter.as_ref()),
                ("reorder", d.reorder.as_ref()),
                ("duplicate", d.duplicate.as_ref()),
                ("corrupt", d.corrupt.as_ref()),
            ];
            for (name, value) in options {
                if let Some(v) = value {
                    self.link_option(&mut defaults.0, &mut defaults.1, name, v)
                        .map_err(|m| {
                            self.field(v.span(), "", &format!("defaults.link.{name}"), m)
                        })?;
                }
            }
        }

        // Nodes, and the groups they list.
        let mut node_names = BTreeSet::new();
        for n in &raw.node {
            let n = n.get_ref();
            node_names.insert(n.name.get_ref().as_str());
        }
        for node in &raw.node {
            let n = node.get_ref();
            let name = n.name.get_ref();
            let entry = format!("node {name}");
            let kind = match n.kind.get_ref().as_str() {
                "host" => NodeKind::Host,
                "active" => NodeKind::Active,
                "legacy" => NodeKind::Legacy,
                other => {
                    return Err(self.field(
                        n.kind.span(),
                        &entry,
                        "kind",
                        format_args!("`{other}` is not a kind of node: use host, active or legacy"),
                    ));
                }
            };
            let address = match &n.address {
                None => None,
                Some(a) => Some(a.get_ref().trim().parse::<Ipv4Addr>().map_err(|_| {
                    self.field(
                        a.span(),
                        &entry,
                        "address",
                        format_args!("\"{}\" is not an IPv4 address", a.get_ref()),
                    )
                })?),
            };
            b.node(name.clone(), kind, address);
            for g in &n.groups {
                self.check_group_name(g, &entry, "groups", &node_names)?;
                b.member(g.get_ref().clone(), name.clone());
            }
        }

        // Links: two ends each, options over the defaults.
        for (index, link) in raw.link.iter().enumerate() {
            let l = link.get_ref();
            let Some((a, b_end)) = l.pair() else {
                let names = l.ends.get_ref().len();
                return Err(self.field(
                    l.ends.span(),
                    &format!("link[{index}]"),
                    "ends",
                    format_args!("a link needs exactly two node names, found {names}"),
                ));
            };
            let entry = l.describe(index);
            let (mut params, mut explicit) = defaults;
            for (name, value) in l.options() {
                if let Some(v) = value {
                    self.link_option(&mut params, &mut explicit, name, v)
                        .map_err(|m| self.field(v.span(), &entry, name, m))?;
                }
            }
            b.link_with(a, b_end, params, explicit);
        }

        // The [groups] table.
        for (group, members) in &raw.groups {
            let entry = format!("group {group}");
            if group.trim().is_empty() {
                return Err(self.located(
                    Some(members.span()),
                    "`groups`: a group name must not be empty".to_string(),
                ));
            }
            if node_names.contains(group.as_str()) {
                return Err(self.located(
                    Some(members.span()),
                    format!(
                        "{entry}: `{group}` is also the name of a node, so `to = \"{group}\"` would be ambiguous; rename the group"
                    ),
                ));
            }
            for m in members.get_ref() {
                b.member(group.clone(), m.get_ref().clone());
            }
        }

        // Group names from both places, to tell a `to` target's kind.
        let mut groups: BTreeSet<&str> = raw
            .groups
            .iter()
            .filter(|(_, m)| !m.get_ref().is_empty())
            .map(|(g, _)| g.as_str())
            .collect();
        for n in &raw.node {
            groups.extend(n.get_ref().groups.iter().map(|g| g.get_ref().as_str()));
        }

        for (index, app) in raw.app.iter().enumerate() {
            b.app(self.app(index, app, &groups, raw)?);
        }
        for (index, event) in raw.event.iter().enumerate() {
            b.event(self.event(index, event)?);
        }
        Ok(b)
    }

    fn check_group_name(
        &self,
        g: &Spanned<String>,
        entry: &str,
        field: &str,
        node_names: &BTreeSet<&str>,
    ) -> Result<(), FileError> {
        let name = g.get_ref();
        if name.trim().is_empty() {
            return Err(self.field(g.span(), entry, field, "a group name must not be empty"));
        }
        if node_names.contains(name.as_str()) {
            return Err(self.field(
                g.span(),
                entry,
                field,
                format_args!(
                    "`{name}` is also the name of a node, so `to = \"{name}\"` would be ambiguous; rename the group"
                ),
            ));
        }
        Ok(())
    }

    /// Applies one link option (`delay`, `bandwidth`, `loss`, `queue`, and the impairments
    /// `jitter`, `reorder`, `duplicate`, `corrupt`).
    fn link_option(
        &self,
        params: &mut LinkParams,
        explicit: &mut LinkOptionsSet,
        name: &str,
        value: &Spanned<Value>,
    ) -> Result<(), String> {
        let v = value.get_ref();
        match name {
            "delay" => {
                let d = duration_value(v)?;
                if d > MAX_LINK_DELAY {
                    return Err(format!(
                        "{} is longer than the longest link delay, {} s",
                        v,
                        MAX_LINK_DELAY.as_secs()
                    ));
                }
                params.delay = d;
                explicit.delay = true;
            }
            "bandwidth" => {
                params.bandwidth_bps = Some(bandwidth_value(v)?);
                explicit.bandwidth = true;
            }
            "loss" => {
                params.loss = loss_value(v)?;
                explicit.loss = true;
            }
            "jitter" => {
                let d = duration_value(v)?;
                if d > MAX_LINK_DELAY {
                    return Err(format!(
                        "{v} is longer than the longest link delay, {} s",
                        MAX_LINK_DELAY.as_secs()
                    ));
                }
                params.impairments.jitter = d;
                explicit.impairments = true;
            }
            "reorder" | "duplicate" | "corrupt" => {
                let p = loss_value(v)?;
                let i = &mut params.impairments;
                *match name {
                    "reorder" => &mut i.reorder,
                    "duplicate" => &mut i.duplicate,
                    _ => &mut i.corrupt,
                } = p;
                explicit.impairments = true;
            }
            _ => {
                params.queue = whole(v, 1, MAX_QUEUE)
                    .map_err(|m| format!("a queue length in datagrams: {m}"))?
                    as usize;
                explicit.queue = true;
            }
        }
        Ok(())
    }

    fn app(
        &self,
        index: usize,
        app: &Spanned<RawApp>,
        groups: &BTreeSet<&str>,
        raw: &RawFile,
    ) -> Result<AppDraft, FileError> {
        let a = app.get_ref();
        let entry = a.describe(index);
        let node = a.node.get_ref().clone();
        let (kind, allowed): (&str, &[&str]) = match a.kind.get_ref().as_str() {
            "ping" => ("ping", &["to", "count", "interval", "start"]),
            "send" => (
                "send",
                &[
                    "to",
                    "count",
                    "interval",
                    "start",
                    "protocol",
                    "budget",
                    "payload",
                    "payload_hex",
                ],
            ),
            "listen" => ("listen", &["port"]),
            other => {
                return Err(self.field(
                    a.kind.span(),
                    &entry,
                    "kind",
                    format_args!(
                        "`{other}` is not a kind of application: use ping, send or listen"
                    ),
                ));
            }
        };
        for (field, span) in a.given() {
            if !allowed.contains(&field) {
                return Err(self.field(
                    span,
                    &entry,
                    field,
                    format_args!(
                        "does not apply to a {kind} application (it takes node, {})",
                        allowed.join(", ")
                    ),
                ));
            }
        }
        let missing = |field: &str, hint: &str| {
            self.located(
                Some(app.span()),
                format!("{entry}: `{field}` is missing: {hint}"),
            )
        };
        let duration = |v: &Option<Spanned<Value>>, field: &str, default: Duration| match v {
            None => Ok(default),
            Some(v) => {
                duration_value(v.get_ref()).map_err(|m| self.field(v.span(), &entry, field, m))
            }
        };
        let number =
            |v: &Option<Spanned<Value>>, field: &str, min: u64, max: u64, default: u64| match v {
                None => Ok(default),
                Some(v) => {
                    whole(v.get_ref(), min, max).map_err(|m| self.field(v.span(), &entry, field, m))
                }
            };
        if kind == "listen" {
            let Some(port) = &a.port else {
                return Err(missing(
                    "port",
                    "the application port to record, e.g. port = 1",
                ));
            };
            let port = whole(port.get_ref(), 0, u64::from(u16::MAX))
                .map_err(|m| self.field(port.span(), &entry, "port", m))?
                as u16;
            return Ok(AppDraft::Listen { node, port });
        }
        let Some(to) = &a.to else {
            return Err(missing(
                "to",
                if kind == "ping" {
                    "the node to ping"
                } else {
                    "the node or group to send to"
                },
            ));
        };
        let count = number(
            &a.count,
            "count",
            1,
            u64::from(u32::MAX),
            u64::from(DEFAULT_COUNT),
        )? as u32;
        let interval = duration(&a.interval, "interval", DEFAULT_INTERVAL)?;
        let start = duration(&a.start, "start", Duration::ZERO)?;
        if kind == "ping" {
            if groups.contains(to.get_ref().as_str()) {
                return Err(self.field(
                    to.span(),
                    &entry,
                    "to",
                    format_args!(
                        "`{}` is a group; a ping goes to one node (use kind = \"send\" to reach a group)",
                        to.get_ref()
                    ),
                ));
            }
            return Ok(AppDraft::Ping {
                node,
                to: to.get_ref().clone(),
                count,
                interval,
                start,
            });
        }
        if let Some((g, members)) = raw.groups.get_key_value(to.get_ref())
            && members.get_ref().is_empty()
            && !groups.contains(g.as_str())
        {
            return Err(self.field(
                to.span(),
                &entry,
                "to",
                format_args!("group `{g}` has no members"),
            ));
        }
        let Some(protocol) = &a.protocol else {
            return Err(missing(
                "protocol",
                "a capsule name such as \"forward\", or a .wasm file relative to this file",
            ));
        };
        if protocol.get_ref().trim().is_empty() {
            return Err(self.field(
                protocol.span(),
                &entry,
                "protocol",
                "must name a capsule (\"forward\") or a .wasm file",
            ));
        }
        let budget = number(
            &a.budget,
            "budget",
            1,
            u64::from(u16::MAX),
            u64::from(DEFAULT_BUDGET),
        )? as u16;
        let payload = match (&a.payload, &a.payload_hex) {
            (Some(_), Some(hex)) => {
                return Err(self.field(
                    hex.span(),
                    &entry,
                    "payload_hex",
                    "give either `payload` or `payload_hex`, not both",
                ));
            }
            (Some(text), None) => text.get_ref().as_bytes().to_vec(),
            (None, Some(h)) => {
                let digits: String = h.get_ref().split_whitespace().collect();
                hex::decode(&digits).map_err(|e| {
                    self.field(
                        h.span(),
                        &entry,
                        "payload_hex",
                        format_args!("not hexadecimal bytes ({e}); write e.g. \"00ff10\""),
                    )
                })?
            }
            (None, None) => Vec::new(),
        };
        Ok(AppDraft::Send {
            node,
            protocol: protocol.get_ref().clone(),
            to: to.get_ref().clone(),
            count,
            interval,
            start,
            budget,
            payload,
        })
    }

    /// Locates an error of the builder at the entry it names.
    pub(super) fn topology_error(&self, raw: &RawFile, e: TopologyError) -> FileError {
        let node_named = |name: &str| raw.node.iter().find(|n| n.get_ref().name.get_ref() == name);
        let link_named =
            |a: &str, b: &str| raw.link.iter().find(|l| l.get_ref().pair() == Some((a, b)));
        let app_at = |index: usize| {
            raw.app
                .get(index)
                .map(|a| (a.get_ref(), a.get_ref().describe(index)))
        };
        let (span, message): (Option<Range<usize>>, String) = match &e {
            TopologyError::Empty => (
                None,
                "the topology has no nodes: add a [[node]] table for each node".to_string(),
            ),
            TopologyError::DuplicateNode(name) => {
                let mut same = raw
                    .node
                    .iter()
                    .filter(|n| n.get_ref().name.get_ref() == name);
                let first = same.next();
                let second = same.next();
                match (first, second) {
                    (Some(first), Some(second)) => (
                        Some(second.get_ref().name.span()),
                        format!(
                            "node {name}: the name is already used by the node at line {}; node names must be unique",
                            self.line_of(&first.span())
                        ),
                    ),
                    _ => (None, e.to_string()),
                }
            }
            TopologyError::BadNodeName(name) => (
                node_named(name).map(|n| n.get_ref().name.span()),
                format!(
                    "node `{name}`: the name is not allowed: use 1 to 32 letters, digits, `-` or `_`, starting with a letter"
                ),
            ),
            TopologyError::UnknownNode { place, node } => self
                .unknown_node(raw, place, node)
                .unwrap_or((None, e.to_string())),
            TopologyError::UnknownLink { index, .. }
            | TopologyError::EventOnLegacy { index, .. } => {
                (raw.event.get(*index).map(Spanned::span), e.to_string())
            }
            TopologyError::SelfLink(name) => (
                link_named(name, name).map(|l| l.get_ref().ends.span()),
                format!("link {name} -- {name}: connects the node to itself"),
            ),
            TopologyError::DuplicateLink { a, b } => {
                let same = |l: &&Spanned<RawLink>| matches!(l.get_ref().pair(), Some((x, y)) if (x, y) == (a, b) || (y, x) == (a, b));
                let mut pair = raw.link.iter().filter(same);
                let first = pair.next();
                match (first, pair.next()) {
                    (Some(first), Some(second)) => (
                        Some(second.get_ref().ends.span()),
                        format!(
                            "link {a} -- {b}: these nodes are already linked at line {}; at most one link per pair of nodes",
                            self.line_of(&first.span())
                        ),
                    ),
                    _ => (None, e.to_string()),
                }
            }
            TopologyError::BadLinkParam { a, b, reason } => (
                link_named(a, b).map(Spanned::span),
                format!("link {a} -- {b}: {reason}"),
            ),
            TopologyError::Disconnected { from, unreachable } => (
                node_named(unreachable).map(Spanned::span),
                format!(
                    "node {unreachable}: cannot be reached from {from}; the network must be connected (add a [[link]])"
                ),
            ),
            TopologyError::AddressClash {
                address,
                node,
                other,
            } => (
                node_named(node)
                    .map(|n| n.get_ref().address.as_ref().map_or(n.span(), Spanned::span)),
                format!("node {node}: address {address} is already used by {other}"),
            ),
            TopologyError::BadAddress {
                address,
                node,
                reason,
            } => (
                node_named(node)
                    .map(|n| n.get_ref().address.as_ref().map_or(n.span(), Spanned::span)),
                format!("node {node}: address {address} cannot be a node address ({reason})"),
            ),
            TopologyError::PoolExhausted { which, .. } => {
                let addressing = raw.addressing.as_ref();
                let field = if *which == "link subnet" {
                    addressing.and_then(|a| a.links.as_ref())
                } else {
                    addressing.and_then(|a| a.nodes.as_ref())
                };
                (field.map(Spanned::span), e.to_string())
            }
            TopologyError::PoolsOverlap { .. } => {
                let addressing = raw.addressing.as_ref();
                let field = addressing
                    .and_then(|a| a.links.as_ref())
                    .or_else(|| addressing.and_then(|a| a.nodes.as_ref()));
                (field.map(Spanned::span), e.to_string())
            }
            TopologyError::AppOnLegacy { index, node } => match app_at(*index) {
                Some((a, entry)) => (
                    Some(a.node.span()),
                    format!(
                        "{entry}: runs on `{node}`, a legacy router; applications need a host or active node"
                    ),
                ),
                None => (None, e.to_string()),
            },
            TopologyError::BadAppTarget { index, target } => match app_at(*index) {
                Some((a, entry)) => (
                    a.to.as_ref()
                        .map(Spanned::span)
                        .or(Some(app_span(raw, *index))),
                    format!("{entry}: `to` is {target}, which cannot receive capsules"),
                ),
                None => (None, e.to_string()),
            },
        };
        FileError {
            path: self.path.to_path_buf(),
            location: span.map(|s| Location::of_offset(self.text, s.start)),
            message,
            topology: Some(Box::new(e)),
        }
    }

    /// Locates "`place` names node `node`, which is not defined".
    fn unknown_node(
        &self,
        raw: &RawFile,
        place: &str,
        node: &str,
    ) -> Option<(Option<Range<usize>>, String)> {
        let message = format!("{place}: names node `{node}`, which is not defined");
        if place.starts_with("link ") {
            let (index, link) = raw
                .link
                .iter()
                .enumerate()
                .find(|(i, l)| l.get_ref().describe(*i) == place)?;
            let end = link
                .get_ref()
                .ends
                .get_ref()
                .iter()
                .find(|e| e.get_ref() == node)
                .map_or(raw.link[index].span(), Spanned::span);
            return Some((Some(end), message));
        }
        if let Some(group) = place
            .strip_prefix("group `")
            .and_then(|r| r.strip_suffix('`'))
        {
            let members = raw.groups.get(group)?;
            let member = members
                .get_ref()
                .iter()
                .find(|m| m.get_ref() == node)
                .map_or(members.span(), Spanned::span);
            return Some((
                Some(member),
                format!("group {group}: names node `{node}`, which is not defined"),
            ));
        }
        let index: usize = place.strip_prefix("application ")?.parse().ok()?;
        let app = raw.app.get(index)?.get_ref();
        let entry = app.describe(index);
        if app.node.get_ref() == node {
            return Some((
                Some(app.node.span()),
                format!("{entry}: `node` names `{node}`, which is not defined"),
            ));
        }
        let to = app.to.as_ref()?;
        let what = if app.kind.get_ref() == "send" {
            "neither a node nor a group"
        } else {
            "not a defined node"
        };
        Some((
            Some(to.span()),
            format!("{entry}: `to` names `{node}`, which is {what}"),
        ))
    }
}

fn app_span(raw: &RawFile, index: usize) -> Range<usize> {
    raw.app.get(index).map_or(0..0, Spanned::span)
}
