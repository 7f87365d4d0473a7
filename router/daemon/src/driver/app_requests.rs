//! The driver's side of the application socket: deliveries to listening applications, and
//! the answers to their requests (send, listen, register, status).
//!
//! Owns how a request becomes a node call and how a node refusal becomes a response; it never
//! touches the UDP socket or the node's timers (the driver loop in `mod.rs` does).

use super::*;

impl Driver {
    pub(super) fn deliver(&mut self, delivery: Delivery) {
        let port = delivery.port;
        let Some(listener) = self.listeners.get(&port) else {
            self.node.record_drop(DropReason::NoApplication);
            return;
        };
        match listener.out.try_send(Response::Delivery(delivery)) {
            Ok(()) => self.stats.deliveries += 1,
            Err(mpsc::error::TrySendError::Full(_)) => self.stats.app_queue_full += 1,
            Err(mpsc::error::TrySendError::Closed(_)) => {
                self.listeners.remove(&port);
                self.node.record_drop(DropReason::NoApplication);
            }
        }
    }

    pub(super) fn on_app(&mut self, event: AppEvent) {
        match event {
            AppEvent::Closed { conn } => self.listeners.retain(|_, l| l.conn != conn),
            AppEvent::Call {
                conn,
                request,
                reply,
                out,
            } => {
                let response = self.answer(conn, request, out);
                self.stats.app_requests += 1;
                if matches!(response, Response::Error { .. }) {
                    self.stats.app_refusals += 1;
                }
                // The connection may have gone meanwhile; nothing to tell then.
                let _ = reply.send(response);
            }
        }
    }

    fn answer(&mut self, conn: ConnId, request: Request, out: mpsc::Sender<Response>) -> Response {
        let now = self.now();
        match request {
            Request::Register { module } => match self.node.register_protocol(now, module) {
                Ok(fingerprint) => {
                    tracing::info!(%fingerprint, "protocol registered by an application");
                    Response::Registered { fingerprint }
                }
                Err(e) => node_refusal(&e),
            },
            Request::Send {
                fingerprint,
                destination,
                budget,
                payload,
            } => match self
                .node
                .send_capsule(now, fingerprint, destination, budget, &payload)
            {
                Ok(()) => Response::Sent,
                Err(e) => node_refusal(&e),
            },
            Request::Listen { port } => {
                if let Some(l) = self.listeners.get(&port)
                    && l.conn != conn
                    && !l.out.is_closed()
                {
                    return Response::Error {
                        reason: ErrorReason::PortInUse,
                        message: format!("port {port} is in use by another application"),
                    };
                }
                self.listeners.insert(port, Listener { conn, out });
                Response::Listening { port }
            }
            Request::Status => Response::Status {
                json: self.status_json(),
            },
        }
    }

    /// The document of `ants status --json`: the daemon's view and the node's snapshot.
    fn status_json(&self) -> String {
        #[derive(Serialize)]
        struct Peer {
            node: IpAddr,
            socket: SocketAddr,
        }
        #[derive(Serialize)]
        struct Link {
            neighbour: IpAddr,
            rate_bps: Option<u64>,
            queue_cap: Option<usize>,
            queue_len: usize,
            #[serde(flatten)]
            stats: egress::EgressStats,
        }
        #[derive(Serialize)]
        struct Daemon<'a> {
            config: String,
            listen: SocketAddr,
            app_socket: String,
            metrics_listen: Option<SocketAddr>,
            #[serde(skip_serializing_if = "Option::is_none")]
            metrics_refused: Option<std::collections::BTreeMap<&'static str, u64>>,
            uptime_ms: u64,
            peers: Vec<Peer>,
            listening_ports: Vec<u16>,
            pinned: Vec<String>,
            stats: &'a DriverStats,
            send_buffer_full: u64,
            links: Vec<Link>,
            code_store: Option<&'a code_store::CodeStoreStats>,
        }
        #[derive(Serialize)]
        struct Status<'a> {
            daemon: Daemon<'a>,
            node: ants_router::node::NodeStatus,
        }
        let mut ports: Vec<u16> = self.listeners.keys().copied().collect();
        ports.sort_unstable();
        let status = Status {
            daemon: Daemon {
                config: self.config.path.display().to_string(),
                listen: self.io.local_addr(),
                app_socket: self.app.path().display().to_string(),
                metrics_listen: self.metrics.as_ref().map(|m| m.local_addr()),
                metrics_refused: self.metrics.as_ref().map(|m| m.refused()),
                uptime_ms: self.now().as_nanos() / 1_000_000,
                peers: self
                    .peers
                    .entries()
                    .into_iter()
                    .map(|(node, socket)| Peer { node, socket })
                    .collect(),
                listening_ports: ports,
                pinned: self.pinned.iter().map(ToString::to_string).collect(),
                stats: &self.stats,
                send_buffer_full: self.io.send_waits(),
                links: self
                    .config
                    .neighbours
                    .iter()
                    .filter_map(|n| {
                        let e = self.egress.get(&n.address)?;
                        Some(Link {
                            neighbour: n.address,
                            rate_bps: e.shaping().map(|s| s.rate_bps),
                            queue_cap: e.shaping().map(|s| s.queue),
                            queue_len: e.queue_len(),
                            stats: e.stats,
                        })
                    })
                    .collect(),
                code_store: self.store.as_deref().map(|s| &s.stats),
            },
            node: self.node.status(),
        };
        serde_json::to_string(&status).unwrap_or_else(|e| format!("{{\"error\":\"{e}\"}}"))
    }
}

fn node_refusal(e: &NodeError) -> Response {
    let reason = match e {
        NodeError::Module(_) => ErrorReason::ModuleRefused,
        NodeError::CodeCache(_) => ErrorReason::CodeCacheFull,
        NodeError::UnknownProtocol(_) => ErrorReason::UnknownProtocol,
        NodeError::PayloadTooLarge { .. } => ErrorReason::PayloadTooLarge,
        NodeError::ZeroBudget => ErrorReason::ZeroBudget,
        _ => ErrorReason::Refused,
    };
    Response::Error {
        reason,
        message: e.to_string(),
    }
}
