//! The in-process, virtual-time network emulator (see `docs/emulator.md`).
//!
//! Owns [`Emulator`]: every node of a [`Topology`] in one process, driven by one event queue
//! in virtual time. Hosts and active routers run the real node core
//! ([`ants_router::node::Node`], configured by [`Routes::node_config`]) with the real sandbox,
//! all sharing one wasmtime engine; legacy routers forward datagrams by destination node along
//! [`Routes::ip_next_hop`], and so does every other node for datagrams not addressed to it.
//! Links ([`network`]) have delay, seeded loss, bandwidth and drop-tail queues; each node-core
//! node's routing table carries the current load of the link toward each active neighbour.
//! Compilation answers each node's `Event::Compile` from a cache (one real compilation per
//! fingerprint and tier per run) after a fixed virtual delay. Applications ([`apps`]) inject
//! capsules and receive deliveries. [`report`] turns the run into a serialisable report and
//! tables. [`Mesh`] builds a network node by node from node configurations instead of a file:
//! the node library's own tests run on it, with the instruments a test may attach to any run
//! (a tamper hook, a trace, a delivery log, stuck compilers), and [`pcap`] files of what each
//! link carried.
//!
//! Determinism: the same topology, seed and applications give the same report, byte for byte.
//! Events are ordered by (virtual time, insertion order), losses come from per-direction
//! seeded streams ([`rng`]), compilation takes a virtual delay, and the sandbox meters CPU in
//! fuel; nothing here reads a clock, and no hash map is iterated to make a decision.
//!
//! Cost: one heap operation (O(log events)) per event, no scan over all nodes or links.
//!
//! It never reimplements node logic (it only carries datagrams and answers compilations), and
//! never opens a socket.

pub mod apps;
pub mod generate;
pub mod mesh;
pub mod network;
pub mod pcap;
pub mod report;
pub mod rng;

pub use apps::{
    AppContext, AppDelivery, AppError, AppNode, AppRequests, Application, ListenApp, Modules,
    PingApp, PingReply, SendApp,
};
pub use network::{Datagram, DirectionStats, IP_UDP_OVERHEAD, ProtocolCount};
pub use pcap::{CAPSULE_PORT, DEFAULT_PCAP_LIMIT, PcapCapture, PcapError, PcapFile};
pub use report::EmulatorReport;

mod emulator;
mod options;

pub use emulator::{
    AppId, CodeLoad, Delivery, DeliveryCount, Emulator, EventRecord, LogLine, NeighbourChange,
    Sent, TraceRecord, Verdict,
};
pub use mesh::Mesh;
pub use options::{
    DEFAULT_COMPILE_DELAY, DEFAULT_LOAD_WINDOW, EmulatorError, EmulatorOptions, MAX_LOGS,
};
