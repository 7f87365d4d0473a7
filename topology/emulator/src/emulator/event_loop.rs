//! The event loop of an [`Emulator`]: the queue ordered by (virtual time, insertion order), and
//! what each event does: datagrams arriving, leaving a link and being forwarded at the IP
//! level, compilations answered after the compile delay, node and application timers, and
//! everything a node core produces (transmits, deliveries, code loads, logs).
//!
//! It must never read a clock or iterate a hash map to decide anything (runs repeat byte for
//! byte), and it only carries datagrams and answers compilations: the node core decides.

use std::cmp::Ordering;
use std::net::IpAddr;

use ants_router::fingerprint::Fingerprint;
use ants_router::node::{Event, Node, Transmit};
use ants_router::sandbox::{CompileTier, LoadError};
use ants_router::time::Timestamp;

use ants_topology::model::NodeId;

use super::instruments::{Delivery, Sent, TraceRecord, Verdict};
use super::{CodeLoad, Emulator, LogLine, NeighbourChange, lookup_dir};
use crate::apps::{AppContext, AppDelivery, AppRequests, Application};
use crate::network::{Datagram, Offer};
use crate::options::MAX_LOGS;

/// Something that happens at a virtual time.
enum Scheduled {
    /// A datagram reaches the far end of a direction.
    Arrival { dir: usize, datagram: Datagram },
    /// A datagram's last bit leaves on a direction with a bandwidth.
    TxDone { dir: usize, datagram: Datagram },
    /// A node sent a datagram to its own address.
    Local { node: NodeId, datagram: Datagram },
    /// A node's compilation is done (after the compile delay).
    Compiled {
        node: NodeId,
        fingerprint: Fingerprint,
        tier: CompileTier,
    },
    /// A datagram a node sent, held back by the tamper hook.
    Delayed { node: NodeId, datagram: Datagram },
    /// A node's own timer (stale if the node's timer moved since).
    NodeTimer { node: NodeId },
    /// The topology's scripted event `index`.
    Scripted { index: usize },
    /// An application's timer.
    AppTimer {
        node: NodeId,
        app: usize,
        token: u64,
    },
}

pub(super) struct Entry {
    at: Timestamp,
    seq: u64,
    what: Scheduled,
}

impl PartialEq for Entry {
    fn eq(&self, other: &Self) -> bool {
        (self.at, self.seq) == (other.at, other.seq)
    }
}
impl Eq for Entry {}
impl PartialOrd for Entry {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}
impl Ord for Entry {
    /// Reversed, so the max-heap pops the earliest (then first scheduled) entry.
    fn cmp(&self, other: &Self) -> Ordering {
        (other.at, other.seq).cmp(&(self.at, self.seq))
    }
}

impl Emulator {
    fn schedule(&mut self, at: Timestamp, what: Scheduled) {
        self.queue.push(Entry {
            at,
            seq: self.seq,
            what,
        });
        self.seq += 1;
    }

    fn period(&self) -> u64 {
        let window = u64::try_from(self.load_window.as_nanos()).unwrap_or(u64::MAX);
        self.now.as_nanos() / window.max(1)
    }

    /// Whether an entry is a node timer the node has moved or cancelled since.
    fn is_stale(&self, entry: &Entry) -> bool {
        matches!(entry.what, Scheduled::NodeTimer { node } if self.nodes[node].timer != Some(entry.at))
    }

    /// Time of the earliest live entry, discarding stale node timers on the way.
    pub(super) fn next_time(&mut self) -> Option<Timestamp> {
        loop {
            let top = self.queue.peek()?;
            if !self.is_stale(top) {
                return Some(top.at);
            }
            self.queue.pop();
        }
    }

    /// Processes the earliest entry (a stale node timer is dropped without moving the clock).
    pub(super) fn step(&mut self) {
        let Some(entry) = self.queue.pop() else {
            return;
        };
        if self.is_stale(&entry) {
            return;
        }
        self.now = self.now.max(entry.at);
        self.events += 1;
        match entry.what {
            Scheduled::Arrival { dir, datagram } => {
                let at = self.dirs[dir].to;
                self.arrive(at, datagram);
            }
            Scheduled::Local { node, datagram } => self.arrive(node, datagram),
            Scheduled::Delayed { node, datagram } => self.send_from(node, datagram),
            Scheduled::TxDone { dir, mut datagram } => {
                // Captured when its last bit leaves: it is on the wire now.
                if let Some(pcap) = self.instruments.pcap.as_mut() {
                    let (src, dst) = (datagram.src, datagram.dst);
                    pcap.record(dir / 2, self.now, src, dst, &datagram.bytes);
                }
                let (now, period) = (self.now, self.period());
                let (arrival, next) = self.dirs[dir].finish(now, period, &mut datagram);
                if let Some((at, twice)) = arrival {
                    self.arrival(at, dir, datagram, twice);
                }
                if let Some((done, datagram)) = next {
                    self.schedule(done, Scheduled::TxDone { dir, datagram });
                    self.mark_dirty(dir);
                }
            }
            Scheduled::Compiled {
                node,
                fingerprint,
                tier,
            } => {
                let result = self
                    .compiled
                    .get(&(fingerprint, tier))
                    .cloned()
                    .unwrap_or_else(|| Err(LoadError::Rejected("not compiled".into())));
                let n = &mut self.nodes[node];
                n.compiling = n.compiling.saturating_sub(1);
                self.refresh_loads(node);
                let now = self.now;
                if let Some(core) = self.nodes[node].core.as_deref_mut() {
                    core.compile_done(now, fingerprint, result);
                }
                self.drain(node);
            }
            Scheduled::NodeTimer { node } => {
                self.nodes[node].timer = None;
                self.refresh_loads(node);
                let now = self.now;
                if let Some(core) = self.nodes[node].core.as_deref_mut() {
                    core.handle_timeout(now);
                }
                self.drain(node);
            }
            Scheduled::AppTimer { node, app, token } => {
                self.with_app(node, app, |a, ctx| a.on_timer(ctx, token));
                self.drain(node);
            }
            Scheduled::Scripted { index } => self.apply_event(index),
        }
    }

    /// Schedules a datagram's arrival at the far end of `dir` (twice if it was duplicated).
    fn arrival(&mut self, at: Timestamp, dir: usize, datagram: Datagram, twice: bool) {
        if twice {
            let copy = datagram.clone();
            self.schedule(
                at,
                Scheduled::Arrival {
                    dir,
                    datagram: copy,
                },
            );
        }
        self.schedule(at, Scheduled::Arrival { dir, datagram });
    }

    /// Schedules the topology's scripted event `index` at `at`.
    pub(super) fn schedule_event(&mut self, at: Timestamp, index: usize) {
        self.schedule(at, Scheduled::Scripted { index });
    }

    /// A datagram reached `at`: hand it to the node core if addressed to it, else forward it.
    fn arrive(&mut self, at: NodeId, datagram: Datagram) {
        if datagram.dst != at {
            self.nodes[at].ip_forwarded += 1;
            self.forward(at, datagram);
            return;
        }
        if datagram.corrupt {
            // The UDP checksum fails: the node's IP stack drops it before its core sees it.
            self.nodes[at].checksum_drops += 1;
            return;
        }
        if self.nodes[at].core.is_none() {
            // A node whose core is down (its antsd died) drops what is addressed to it; node
            // cores never address a legacy router. Counted either way, never lost quietly.
            if self.nodes[at].down {
                self.nodes[at].down_drops += 1;
            } else {
                self.nodes[at].ip_unroutable += 1;
            }
            return;
        }
        self.refresh_loads(at);
        let now = self.now;
        let from = IpAddr::V4(self.topology.nodes[datagram.src].address);
        if let Some(core) = self.nodes[at].core.as_deref_mut() {
            core.handle_datagram(now, Some(from), &datagram.bytes);
            core.recycle(datagram.bytes);
        }
        self.drain(at);
    }

    /// Sends a datagram from `at` one hop along the IP shortest path to its destination.
    fn forward(&mut self, at: NodeId, datagram: Datagram) {
        let dir = self
            .routes
            .ip_next_hop(at, datagram.dst)
            .and_then(|hop| lookup_dir(&self.nodes[at].toward, hop));
        let Some(dir) = dir else {
            self.nodes[at].ip_unroutable += 1;
            return;
        };
        // Without a bandwidth a datagram is on the wire as soon as it is offered; with one, it
        // is captured when its serialisation ends (`TxDone`).
        if let Some(pcap) = self.instruments.pcap.as_mut()
            && !self.dirs[dir].is_limited()
        {
            let (src, dst) = (datagram.src, datagram.dst);
            pcap.record(dir / 2, self.now, src, dst, &datagram.bytes);
        }
        let period = self.period();
        match self.dirs[dir].offer(self.now, period, datagram) {
            Offer::Serialising { done, datagram } => {
                self.schedule(done, Scheduled::TxDone { dir, datagram })
            }
            Offer::Arrives {
                at,
                datagram,
                twice,
            } => self.arrival(at, dir, datagram, twice),
            Offer::Queued => self.mark_dirty(dir),
            Offer::QueueDrop | Offer::Lost => {}
        }
    }

    /// Notes that a direction's queue length changed, for its sending node's next refresh.
    fn mark_dirty(&mut self, dir: usize) {
        let d = &mut self.dirs[dir];
        if d.dirty || d.feed.is_empty() {
            return;
        }
        d.dirty = true;
        let from = d.from;
        self.nodes[from].dirty_dirs.push(dir);
    }

    /// Brings `node`'s link loads up to date before it runs: every feed direction when a new
    /// measurement period began, else only those whose queue changed.
    pub(super) fn refresh_loads(&mut self, node: NodeId) {
        let period = self.period();
        let window = self.load_window;
        let n = &mut self.nodes[node];
        let Some(core) = n.core.as_deref_mut() else {
            return;
        };
        let full = n.feed_period != Some(period);
        if !full && n.dirty_dirs.is_empty() {
            return;
        }
        let dirs = if full { &n.feed_dirs } else { &n.dirty_dirs };
        for &d in dirs {
            let load = self.dirs[d].load(period, window);
            for &addr in &self.dirs[d].feed {
                core.routing_mut().set_link_load(addr, load);
            }
        }
        for d in n.dirty_dirs.drain(..) {
            self.dirs[d].dirty = false;
        }
        n.feed_period = Some(period);
    }

    /// Moves everything `node`'s core produced onto the network and to the applications, then
    /// re-arms its timer.
    pub(super) fn drain(&mut self, node: NodeId) {
        loop {
            let mut progress = false;
            while let Some(t) = self.nodes[node]
                .core
                .as_deref_mut()
                .and_then(Node::poll_transmit)
            {
                progress = true;
                self.transmit(node, t);
            }
            while let Some(e) = self.nodes[node]
                .core
                .as_deref_mut()
                .and_then(Node::poll_event)
            {
                progress = true;
                self.node_event(node, e);
            }
            if !progress {
                break;
            }
        }
        let now = self.now;
        let n = &mut self.nodes[node];
        let wanted = n
            .core
            .as_deref()
            .and_then(Node::poll_timeout)
            .map(|t| t.max(now));
        if wanted != n.timer {
            n.timer = wanted;
            if let Some(at) = wanted {
                self.schedule(at, Scheduled::NodeTimer { node });
            }
        }
    }

    pub(super) fn transmit(&mut self, node: NodeId, t: Transmit) {
        if self.instruments.watches_sends() {
            self.transmit_watched(node, t);
            return;
        }
        let Some(dst) = self.node_at(t.to) else {
            self.nodes[node].ip_unroutable += 1;
            return;
        };
        self.send_from(
            node,
            Datagram {
                src: node,
                dst,
                bytes: t.bytes,
                corrupt: false,
            },
        );
    }

    /// [`Emulator::transmit`] through the tamper hook and into the trace.
    fn transmit_watched(&mut self, node: NodeId, t: Transmit) {
        let now = self.now;
        let from = IpAddr::V4(self.topology.nodes[node].address);
        let mut sent = Sent {
            from,
            to: t.to,
            bytes: t.bytes,
            sent_at: now,
        };
        let original = self.instruments.trace.is_some().then(|| sent.bytes.clone());
        let verdict = match self.instruments.tamper.as_mut() {
            Some(hook) => hook(&mut sent),
            None => Verdict::Deliver,
        };
        let dst = self.node_at(sent.to);
        if let (Some(trace), Some(bytes)) = (self.instruments.trace.as_mut(), original) {
            trace.push(TraceRecord {
                at: now,
                from,
                to: sent.to,
                bytes,
                dropped: verdict == Verdict::Drop || dst.is_none(),
            });
        }
        let Some(dst) = dst else {
            self.nodes[node].ip_unroutable += 1;
            return;
        };
        let datagram = Datagram {
            src: node,
            dst,
            bytes: sent.bytes,
            corrupt: false,
        };
        match verdict {
            Verdict::Drop => {}
            Verdict::Delay(d) => self.schedule(now + d, Scheduled::Delayed { node, datagram }),
            Verdict::Deliver => self.send_from(node, datagram),
        }
    }

    /// The node at a node address.
    fn node_at(&self, addr: IpAddr) -> Option<NodeId> {
        match addr {
            IpAddr::V4(a) => self.topology.node_by_address(a),
            IpAddr::V6(_) => None,
        }
    }

    /// Puts a datagram `node` sent on its first link (or back to itself).
    fn send_from(&mut self, node: NodeId, datagram: Datagram) {
        if datagram.dst == node {
            self.schedule(self.now, Scheduled::Local { node, datagram });
        } else {
            self.forward(node, datagram);
        }
    }

    fn node_event(&mut self, node: NodeId, event: Event) {
        let now = self.now;
        match event {
            Event::Neighbour { address, up } => self.neighbour_changes.push(NeighbourChange {
                at: now,
                node,
                neighbour: address,
                up,
            }),
            // Files turn tier-ups off (virtual time models one compiler); nodes a test
            // configured itself may still ask for the optimizing tier.
            Event::Compile {
                fingerprint,
                bytes,
                tier,
            } => {
                let n = &mut self.nodes[node];
                n.compiling += 1;
                n.most_compiling = n.most_compiling.max(n.compiling);
                if self.instruments.not_compiling.contains(&node) {
                    return;
                }
                if !self.compiled.contains_key(&(fingerprint, tier)) {
                    let result = self.compiler.compile_tier(fingerprint, &bytes, tier);
                    self.compilations += 1;
                    self.compiled.insert((fingerprint, tier), result);
                }
                self.schedule(
                    now + self.compile_delay,
                    Scheduled::Compiled {
                        node,
                        fingerprint,
                        tier,
                    },
                );
            }
            Event::Deliver {
                port,
                source,
                fingerprint,
                payload,
            } => {
                let count = self.deliveries.entry((node, port)).or_default();
                count.count += 1;
                count.bytes += payload.len() as u64;
                if let Some(log) = self.instruments.deliveries.as_mut() {
                    log.push(Delivery {
                        at: now,
                        node,
                        port,
                        source,
                        fingerprint,
                        payload: payload.clone(),
                    });
                }
                let Some(listeners) = self.nodes[node].ports.get(&port).cloned() else {
                    return;
                };
                let delivery = AppDelivery {
                    at: now,
                    port,
                    source,
                    fingerprint,
                    payload,
                };
                for index in listeners {
                    self.with_app(node, index, |a, ctx| a.on_delivery(ctx, &delivery));
                }
            }
            Event::CodeLoaded {
                fingerprint,
                from,
                bytes,
            } => self.code_loads.push(CodeLoad {
                at: now,
                node,
                fingerprint,
                from,
                bytes,
            }),
            Event::Log {
                fingerprint,
                level,
                message,
            } => {
                self.nodes[node].logs += 1;
                if self.logs.len() < MAX_LOGS {
                    self.logs.push(LogLine {
                        at: now,
                        node,
                        fingerprint,
                        level: format!("{level:?}").to_lowercase(),
                        message,
                    });
                }
            }
        }
    }

    /// Calls application `index` of `node` with a context; applies the timers and ports it
    /// set. The caller drains the node afterwards. `None` if there is no such application.
    pub(super) fn with_app<R>(
        &mut self,
        node: NodeId,
        index: usize,
        f: impl FnOnce(&mut dyn Application, &mut AppContext<'_>) -> R,
    ) -> Option<R> {
        let n = self.nodes.get_mut(node)?;
        n.core.as_ref()?;
        let mut app = n.apps.get_mut(index)?.app.take()?;
        self.refresh_loads(node);
        let mut requests = AppRequests::default();
        let result = {
            let core = self.nodes[node].core.as_deref_mut()?;
            let mut ctx = AppContext::new(
                self.now,
                node,
                &self.topology,
                core,
                &mut self.modules,
                &self.locator,
                &mut requests,
            );
            f(app.as_mut(), &mut ctx)
        };
        self.nodes[node].apps[index].app = Some(app);
        for (at, token) in requests.timers {
            self.schedule(
                at,
                Scheduled::AppTimer {
                    node,
                    app: index,
                    token,
                },
            );
        }
        for port in requests.ports {
            let listeners = self.nodes[node].ports.entry(port).or_default();
            if !listeners.contains(&index) {
                listeners.push(index);
            }
        }
        Some(result)
    }
}
