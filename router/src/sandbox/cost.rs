//! What each node-API import costs in fuel, on top of the wasm instructions that call it.
//!
//! Owns the host-call cost table of `docs/node-api.md` section 6. Wasmtime's fuel counts wasm
//! instructions (and bulk-memory bytes) but not the work a host function does for one call, so
//! a loop around `state_put` of 4 KiB values ran 100 times longer per unit of fuel than a plain
//! loop. Each import is charged a base cost plus a cost per byte copied, per routing entry
//! scanned or per neighbour listed, chosen so that a unit of fuel buys about the same CPU time
//! whatever the module calls (`cargo bench --bench host_costs` measures it). Numbers only: the
//! host functions charge them, and nothing here touches a store.

/// Every import, whatever it does: the call and its argument checks.
pub(crate) const CALL: u64 = 30;
/// Writing a 16-byte address into guest memory.
pub(crate) const ADDRESS: u64 = 30;
/// Writing the 32-byte fingerprint.
pub(crate) const FINGERPRINT: u64 = 80;
/// A routing lookup, before the prefix routes it scans.
pub(crate) const ROUTE_LOOKUP: u64 = 40;
/// Each prefix route a lookup may scan.
pub(crate) const PER_PREFIX: u64 = 10;
/// Listing neighbours: the sorted, deduplicated copy.
pub(crate) const NEIGHBOURS: u64 = 100;
/// Each neighbour listed.
pub(crate) const PER_NEIGHBOUR: u64 = 25;
/// Reading one link's load record (the neighbour scan is charged per neighbour, below).
pub(crate) const LINK_LOAD: u64 = 60;
/// Each neighbour scanned to find one by address.
pub(crate) const PER_NEIGHBOUR_SCANNED: u64 = 2;
/// Recording a send (its route lookup and payload bytes are charged on top).
pub(crate) const SEND: u64 = 80;
/// Recording a delivery (payload bytes on top).
pub(crate) const DELIVER: u64 = 40;
/// Storing a state entry: hashing, allocation, quota and expiry bookkeeping.
pub(crate) const STATE_PUT: u64 = 400;
/// Looking a state entry up.
pub(crate) const STATE_GET: u64 = 200;
/// Removing a state entry.
pub(crate) const STATE_REMOVE: u64 = 200;
/// Recording a log line (the daemon formats and writes it later; the rate limit bounds that).
pub(crate) const LOG: u64 = 200;

/// `memory.grow` and `table.grow`, granted or refused (a wasm instruction, but it runs the
/// instance limiter like a host call). The most a wasm operator may cost.
pub(crate) const GROW: u8 = 200;

/// Bytes copied between guest memory and the node per unit of fuel.
const BYTES_PER_FUEL: u64 = 8;
/// Bytes stored in (or read from) the state store per unit of fuel: allocation and hashing
/// make them dearer than a plain copy.
const STATE_BYTES_PER_FUEL: u64 = 2;

/// Creating an instance, before its memory: the store, the instance, its tables (about 30 µs).
const INSTANTIATE: u64 = 100_000;
/// Each byte of declared initial memory: a fresh instance maps it anew, and every page the
/// guest touches costs a page fault and zeroing (about 0.6 ms for 1 MiB), which no fuel sees.
const PER_MEMORY_BYTE: u64 = 4;

/// Fuel-equivalent cost of a new instance with `memory_bytes` of initial memory. Not taken
/// from the evaluation's fuel (the module cannot avoid it); charged to the protocol's fair
/// share, so a protocol that traps every time pays for the instances it throws away.
pub(crate) fn instantiation(memory_bytes: u64) -> u64 {
    INSTANTIATE + PER_MEMORY_BYTE * memory_bytes
}

/// Fuel for copying `n` bytes.
pub(crate) fn copy(n: usize) -> u64 {
    (n as u64).div_ceil(BYTES_PER_FUEL)
}

/// Fuel for `n` bytes of state key and value handled.
pub(crate) fn state_bytes(n: usize) -> u64 {
    (n as u64).div_ceil(STATE_BYTES_PER_FUEL)
}

/// Host-call charges are collected and taken from the store's fuel once they reach this much
/// (and at the end of every evaluation), so cheap calls do not pay for a fuel update each.
pub(crate) const SETTLE_AT: u64 = 4096;
