//! The network a reliable multicast run uses ([`Network`]: the roles and the source's first
//! link), and one run of one recovery mode to its [`RunStats`].
//!
//! It never builds the scenario's report: it only counts what one run did.

use super::*;

/// The network a run uses: the topology, its routes, the capsules, and the scenario's roles.
#[derive(Clone, Debug)]
pub struct Network {
    /// The topology file.
    pub file: PathBuf,
    /// The network.
    pub topology: Topology,
    /// Its routes.
    pub routes: Routes,
    /// Where the capsules are.
    pub capsules: CapsuleLocator,
    /// The sending host (the file's group `source`).
    pub source: NodeId,
    /// The members (the file's group `members`), in node order.
    pub members: Vec<NodeId>,
    /// The source's only link: where repairs are counted.
    pub first_link: LinkId,
}

impl Network {
    /// The roles of `topology`: the one node of group `source` (a host or active node with
    /// exactly one link) and the nodes of group `members`.
    pub fn new(
        file: PathBuf,
        topology: Topology,
        capsules: CapsuleLocator,
    ) -> anyhow::Result<Network> {
        let group = |g: &str| topology.groups.get(g).cloned().unwrap_or_default();
        let source = match group(SOURCE_GROUP).as_slice() {
            [s] => *s,
            other => bail!(
                "{}: the group `{SOURCE_GROUP}` must name exactly one node (the sending host), it names {}",
                file.display(),
                other.len()
            ),
        };
        let members: Vec<NodeId> = group(MEMBER_GROUP)
            .into_iter()
            .filter(|&m| m != source)
            .collect();
        if members.is_empty() {
            bail!(
                "{}: the group `{MEMBER_GROUP}` names no receiver",
                file.display()
            );
        }
        for &n in members.iter().chain([&source]) {
            if !topology.nodes[n].kind.runs_node_core() {
                bail!(
                    "{}: `{}` is a legacy router; the source and members must run a node core",
                    file.display(),
                    topology.nodes[n].name
                );
            }
        }
        let first_link = match topology.links_of(source) {
            [l] => *l,
            links => bail!(
                "{}: the source `{}` must have exactly one link (its first link, where repairs are counted), it has {}",
                file.display(),
                topology.nodes[source].name,
                links.len()
            ),
        };
        let routes = Routes::compute(&topology);
        Ok(Network {
            file,
            topology,
            routes,
            capsules,
            source,
            members,
            first_link,
        })
    }

    /// An emulator of this network (seed `seed`, else the file's) with the source and one
    /// member application per member added at time zero, and probes of their counters. The
    /// file's own applications are not started: the first link must carry only this
    /// scenario's traffic.
    pub fn emulator(
        &self,
        seed: Option<u64>,
        config: &Config,
        recovery: Recovery,
    ) -> anyhow::Result<Prepared> {
        if config.data_len > MAX_DATA {
            bail!(
                "packets of {} bytes exceed the capsule's limit of {MAX_DATA} bytes",
                config.data_len
            );
        }
        let options = EmulatorOptions {
            seed,
            start_apps: false,
            // Above the node default of 64: its data capsules are split down the whole tree.
            max_budget: Some(DATA_BUDGET),
            ..EmulatorOptions::default()
        };
        let mut emulator = Emulator::new(&self.topology, &self.routes, &self.capsules, options)?;
        let app = ReliableSource::new(config, recovery);
        let source = app.probe();
        emulator.add_app(self.source, Box::new(app))?;
        let mut members = Vec::with_capacity(self.members.len());
        for &m in &self.members {
            let app = ReliableMember::new(self.source, config, recovery);
            members.push(app.probe());
            emulator.add_app(m, Box::new(app))?;
        }
        Ok(Prepared {
            emulator,
            source,
            members,
        })
    }

    /// Runs one recovery mode to the end: until every member has every packet and the source
    /// has sent them all, or [`Config::limit`] after [`Config::start`].
    pub fn run(
        &self,
        seed: Option<u64>,
        config: &Config,
        recovery: Recovery,
    ) -> anyhow::Result<RunStats> {
        let mut p = self.emulator(seed, config, recovery)?;
        let start = Timestamp::ZERO + config.start;
        let deadline = start + config.limit;
        p.emulator.run_until(start);
        let complete = |p: &Prepared| {
            p.source.read(|s| s.sent == config.packets)
                && p.members
                    .iter()
                    .all(|m| m.read(|s| s.complete_at.is_some()))
        };
        while !complete(&p) && p.emulator.now() < deadline {
            let next = p.emulator.now() + CHECK_EVERY;
            p.emulator.run_until(next);
        }
        // Datagrams still being serialised at the last check are counted when they leave,
        // microseconds later at the example's bandwidth; the source's default timers fall on
        // the 50 ms grid, so it injects nothing new meanwhile.
        p.emulator.run_for(Duration::from_millis(1));
        Ok(self.stats(&p, config, recovery))
    }

    fn stats(&self, p: &Prepared, config: &Config, recovery: Recovery) -> RunStats {
        let emu = &p.emulator;
        let t = &self.topology;
        let name = |n: NodeId| t.nodes[n].name.clone();
        let source = p.source.snapshot();
        let members: Vec<(NodeId, MemberStats)> = self
            .members
            .iter()
            .zip(&p.members)
            .map(|(&n, probe)| (n, probe.snapshot()))
            .collect();

        let source_name = name(self.source);
        let mut origins: BTreeMap<String, OriginRow> = BTreeMap::new();
        let mut distinct: BTreeSet<&RepairId> = BTreeSet::new();
        for (_, s) in &members {
            for (id, &n) in &s.repairs {
                let row = origins
                    .entry(id.origin.clone())
                    .or_insert_with(|| OriginRow {
                        node: id.origin.clone(),
                        role: if id.origin == source_name {
                            "source"
                        } else {
                            "intermediate"
                        },
                        packets: 0,
                        deliveries: 0,
                    });
                row.deliveries += n;
                if distinct.insert(id) {
                    row.packets += 1;
                }
            }
        }
        let (from_source, from_intermediate) = origins.values().fold((0, 0), |(s, i), r| {
            if r.role == "source" {
                (s + r.packets, i)
            } else {
                (s, i + r.packets)
            }
        });

        let rows: Vec<MemberRow> = members
            .iter()
            .map(|(n, s)| {
                let repairs_from = |src: bool| {
                    s.repairs
                        .iter()
                        .filter(|(id, _)| (id.origin == source_name) == src)
                        .map(|(_, &n)| n)
                        .sum()
                };
                MemberRow {
                    node: name(*n),
                    delivered: s.got.len() as u32,
                    originals: s.originals.len() as u32,
                    repaired: s.got.difference(&s.originals).count() as u32,
                    duplicates: s.duplicates,
                    corrupt: s.corrupt,
                    missing: s.missing(config.packets),
                    nacks: s.nacks,
                    nack_seqs: s.nack_seqs,
                    repairs_from_source: repairs_from(true),
                    repairs_from_intermediate: repairs_from(false),
                    complete_ms: s.complete_at.map(ms),
                }
            })
            .collect();

        let lost_somewhere = (0..config.packets)
            .filter(|q| members.iter().any(|(_, s)| !s.originals.contains(q)))
            .count() as u64;

        let link = &t.links[self.first_link];
        let down = usize::from(link.a != self.source);
        let count = |dir: usize, label: &str| {
            let fp = emu.fingerprint(label);
            emu.link_stats(self.first_link)
                .zip(fp)
                .map_or(0, |(s, fp)| s[dir].protocol(&fp).capsules)
        };
        let (protocol_down, unicast_down) = (count(down, CAPSULE), count(down, UNICAST_CAPSULE));
        let (protocol_up, unicast_up) =
            (count(1 - down, CAPSULE), count(1 - down, UNICAST_CAPSULE));
        let originals = u64::from(source.sent) + source.announces;
        let first_link = FirstLink {
            link: format!("{} -- {}", name(self.source), name(link.other(self.source))),
            data: source.sent,
            announces: source.announces,
            protocol_down,
            unicast_down,
            repairs: protocol_down.saturating_sub(originals) + unicast_down,
            protocol_up,
            unicast_up,
            losses_down: emu
                .link_stats(self.first_link)
                .map_or(0, |s| s[down].losses),
        };
        let report = emu.report();
        let finished = rows.iter().all(|r| r.complete_ms.is_some());
        RunStats {
            recovery,
            seed: emu.seed(),
            all_complete: finished,
            finished_ms: finished.then(|| {
                rows.iter()
                    .filter_map(|r| r.complete_ms)
                    .fold(0.0, f64::max)
            }),
            virtual_ms: ms(emu.now()),
            nacks: rows.iter().map(|r| r.nacks).sum(),
            nack_seqs: rows.iter().map(|r| r.nack_seqs).sum(),
            repairs_from_source: from_source,
            repairs_from_intermediate: from_intermediate,
            repairs_by_origin: origins.into_values().collect(),
            missed_originals: rows
                .iter()
                .map(|r| u64::from(config.packets - r.originals.min(config.packets)))
                .sum(),
            lost_somewhere,
            first_link,
            source,
            members: rows,
            events: emu.events(),
            drops: report.nodes.iter().flat_map(|n| &n.drops).fold(
                BTreeMap::new(),
                |mut all, (reason, n)| {
                    *all.entry(reason.clone()).or_default() += n;
                    all
                },
            ),
            link_losses: report.totals.link_losses,
        }
    }
}

/// An emulator ready to run, with probes of its scenario applications.
pub struct Prepared {
    /// The emulator, at time zero with the applications started.
    pub emulator: Emulator,
    /// The source's counters.
    pub source: Probe<SourceStats>,
    /// Each member's counters, in [`Network::members`] order.
    pub members: Vec<Probe<MemberStats>>,
}
