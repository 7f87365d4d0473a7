//! The host side of the `ants_v1` node API: the functions a capsule module may import.
//!
//! Owns [`HostState`] (what one protocol's wasmtime store carries: the capsule being evaluated,
//! the lent [`NodeContext`], the budget left to split, the memory limiter and the log bucket) and
//! the linker definitions of every import in `docs/node-api.md`. Every function checks its
//! pointers, lengths and arguments and answers with a status code: none of them can trap, panic
//! or touch anything but the calling protocol's own state partition and linear memory.

use std::net::{IpAddr, Ipv6Addr};
use std::ops::Range;

use capsule_sdk::abi::{self, status};
use wasmtime::{Caller, Linker, Memory, ResourceLimiter};

use super::context::{LogLevel, NodeContext, SendRoute};
use super::cost;
use super::limits::SandboxLimits;
use crate::fingerprint::Fingerprint;
use crate::routing::NextHop;
use crate::softstore::StateError;
use crate::time::Timestamp;
use crate::wire::CapsuleRepr;

/// Caps linear memory and tables of one capsule instance. A refused growth makes
/// `memory.grow`/`table.grow` return -1, as the node API promises; `denied` remembers it so
/// that a trap following it (the guest's allocation-failure panic) is counted as the memory
/// limit rather than as an anonymous trap.
pub(crate) struct GuestLimiter {
    max_memory_bytes: usize,
    max_table_elements: usize,
    pub denied: bool,
}

impl ResourceLimiter for GuestLimiter {
    fn memory_growing(
        &mut self,
        _current: usize,
        desired: usize,
        _maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        let allowed = desired <= self.max_memory_bytes;
        self.denied |= !allowed;
        Ok(allowed)
    }

    fn table_growing(
        &mut self,
        _current: usize,
        desired: usize,
        _maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        let allowed = desired <= self.max_table_elements;
        self.denied |= !allowed;
        Ok(allowed)
    }

    fn instances(&self) -> usize {
        1
    }

    fn tables(&self) -> usize {
        super::validate::MAX_TABLES as usize
    }

    fn memories(&self) -> usize {
        1
    }
}

/// Token bucket for a protocol's log messages, refilled by node time.
#[derive(Clone, Copy, Debug)]
pub(crate) struct LogBucket {
    tokens: f64,
    last: Timestamp,
}

impl LogBucket {
    pub(crate) fn new(burst: u32) -> Self {
        LogBucket {
            tokens: f64::from(burst),
            last: Timestamp::ZERO,
        }
    }

    fn take(&mut self, now: Timestamp, burst: u32, per_second: u32) -> bool {
        let elapsed = now.saturating_duration_since(self.last).as_secs_f64();
        self.last = self.last.max(now);
        self.tokens = (self.tokens + elapsed * f64::from(per_second)).min(f64::from(burst));
        if self.tokens >= 1.0 {
            self.tokens -= 1.0;
            true
        } else {
            false
        }
    }
}

/// The capsule under evaluation, copied out of the datagram (the guest asks for parts).
#[derive(Debug, Default)]
pub(crate) struct CurrentCapsule {
    pub fingerprint: Option<Fingerprint>,
    pub source: [u8; 16],
    pub destination: [u8; 16],
    pub previous: [u8; 16],
    pub source_ip: Option<IpAddr>,
    pub payload: Vec<u8>,
}

/// Counts of host calls that returned an error, by status code (index = -code).
pub(crate) type StatusCounts = [u64; 16];

/// Data of one protocol's wasmtime store.
pub(crate) struct HostState {
    /// The node, lent for the duration of an evaluation (an idle placeholder otherwise).
    pub ctx: NodeContext,
    pub capsule: CurrentCapsule,
    /// Budget not yet given to sent capsules.
    pub budget_left: u16,
    pub memory: Option<Memory>,
    pub limiter: GuestLimiter,
    pub log_bucket: LogBucket,
    pub limits: SandboxLimits,
    pub status_counts: StatusCounts,
    /// Whether `status_counts` has anything to report (saves the merge on clean evaluations).
    pub any_error: bool,
    pub logs_dropped: u64,
    /// Host-call fuel charged but not yet taken from the store (see [`cost::SETTLE_AT`]).
    pub fuel_debt: u64,
}

impl HostState {
    pub fn new(limits: &SandboxLimits) -> Self {
        HostState {
            ctx: NodeContext::new(IpAddr::V6(Ipv6Addr::UNSPECIFIED)),
            capsule: CurrentCapsule::default(),
            budget_left: 0,
            memory: None,
            limiter: GuestLimiter {
                max_memory_bytes: limits.max_memory_bytes,
                max_table_elements: limits.max_table_elements,
                denied: false,
            },
            log_bucket: LogBucket::new(limits.log_burst),
            limits: limits.clone(),
            status_counts: [0; 16],
            any_error: false,
            logs_dropped: 0,
            fuel_debt: 0,
        }
    }

    /// Copies the capsule's header fields and payload in, reusing the payload buffer.
    pub fn load_capsule(&mut self, capsule: &CapsuleRepr<'_>) {
        let c = &mut self.capsule;
        c.fingerprint = Some(capsule.fingerprint);
        c.source = to_abi(capsule.source);
        c.destination = to_abi(capsule.destination);
        c.previous = to_abi(capsule.previous);
        c.source_ip = Some(capsule.source);
        c.payload.clear();
        c.payload.extend_from_slice(capsule.payload);
        self.budget_left = capsule.budget;
    }

    fn count(&mut self, code: i32) -> i32 {
        if code < 0 {
            self.any_error = true;
            let i = (-code) as usize;
            if let Some(n) = self.status_counts.get_mut(i) {
                *n += 1;
            }
        }
        code
    }
}

/// An address as it crosses the ABI: 16 bytes, IPv4 mapped into IPv6.
pub(crate) fn to_abi(addr: IpAddr) -> [u8; 16] {
    match addr {
        IpAddr::V4(a) => a.to_ipv6_mapped().octets(),
        IpAddr::V6(a) => a.octets(),
    }
}

fn from_abi(bytes: [u8; 16]) -> IpAddr {
    Ipv6Addr::from(bytes).to_canonical()
}

/// The linear-memory range `[ptr, ptr + len)`, if it lies inside memory of `mem_len` bytes.
/// Pointers and lengths are unsigned 32-bit values in wasm32; a negative `i32` is a huge one.
fn span(mem_len: usize, ptr: i32, len: usize) -> Result<Range<usize>, i32> {
    let start = ptr as u32 as usize;
    let end = start.checked_add(len).ok_or(status::BAD_POINTER)?;
    if end > mem_len {
        return Err(status::BAD_POINTER);
    }
    Ok(start..end)
}

/// A length or capacity argument: wasm32 lengths are unsigned, so a "negative" `i32` is a
/// length above 2 GiB (which then fails the size or range check), never an argument error.
fn length(len: i32) -> usize {
    len as u32 as usize
}

/// Charges `fuel` for a call, then runs `f` with the guest's memory and the host state.
/// Charges collect in the state and are taken from the store's fuel once they reach
/// [`cost::SETTLE_AT`] (`settle`), before the call does its work; a call the evaluation cannot
/// pay for does nothing and answers `OUT_OF_FUEL`. A module without memory gets `BAD_POINTER`
/// (validation makes that impossible, but a host call must never trap).
fn with_memory(
    caller: &mut Caller<'_, HostState>,
    fuel: u64,
    f: impl FnOnce(&mut [u8], &mut HostState) -> Result<i32, i32>,
) -> i32 {
    let Some(memory) = caller.data().memory else {
        return caller.data_mut().count(status::BAD_POINTER);
    };
    let state = caller.data_mut();
    state.fuel_debt += fuel;
    if state.fuel_debt >= cost::SETTLE_AT && !settle(caller) {
        return caller.data_mut().count(status::OUT_OF_FUEL);
    }
    let (data, state) = memory.data_and_store_mut(&mut *caller);
    let code = f(data, state).unwrap_or_else(|e| e);
    state.count(code)
}

fn read_addr(data: &[u8], ptr: i32) -> Result<IpAddr, i32> {
    let r = span(data.len(), ptr, 16)?;
    let mut b = [0u8; 16];
    b.copy_from_slice(&data[r]);
    Ok(from_abi(b))
}

fn write(data: &mut [u8], ptr: i32, bytes: &[u8]) -> Result<(), i32> {
    let r = span(data.len(), ptr, bytes.len())?;
    data[r].copy_from_slice(bytes);
    Ok(())
}

fn state_error(e: StateError) -> i32 {
    match e {
        StateError::KeyTooLong { .. } | StateError::ValueTooLong { .. } => status::TOO_LARGE,
        StateError::ZeroTtl => status::BAD_ARGUMENT,
        StateError::QuotaExceeded { .. } => status::QUOTA_EXCEEDED,
        StateError::StoreFull => status::STORE_FULL,
    }
}

/// Reads a state key out of guest memory: non-empty, within the store's key limit.
fn read_key(data: &[u8], state: &HostState, ptr: i32, len: i32) -> Result<Range<usize>, i32> {
    let len = length(len);
    if len == 0 {
        return Err(status::BAD_ARGUMENT);
    }
    if len > state.ctx.state.limits().max_key_len {
        return Err(status::TOO_LARGE);
    }
    span(data.len(), ptr, len)
}

/// Defines every `ants_v1` import on `linker`.
/// Takes the collected host-call charges from the store's fuel. False when the evaluation
/// cannot pay: the store's fuel is then zero, so the guest traps as `out_of_fuel` at its next
/// fuel check, and the call must not do its work (it answers `OUT_OF_FUEL`).
#[cold]
fn settle(c: &mut Caller<'_, HostState>) -> bool {
    let debt = std::mem::take(&mut c.data_mut().fuel_debt);
    let left = c.get_fuel().unwrap_or(0);
    match left.checked_sub(debt) {
        Some(rest) => c.set_fuel(rest).is_ok(),
        None => {
            let _ = c.set_fuel(0);
            false
        }
    }
}

/// Fuel of a routing lookup on this node (host routes first, then every prefix at worst).
fn lookup_cost(s: &HostState) -> u64 {
    cost::ROUTE_LOOKUP + cost::PER_PREFIX * s.ctx.routing.prefix_count() as u64
}

/// Fuel of finding one neighbour by address.
fn neighbour_scan_cost(s: &HostState) -> u64 {
    cost::PER_NEIGHBOUR_SCANNED * s.ctx.routing.neighbours().len() as u64
}

/// Defines every `ants_v1` import on `linker`. Each one that does work charges its fuel
/// (`cost`) before doing it; `capsule_budget`, `capsule_payload_len` and `node_time_ns` read one
/// number and cost only their call instruction.
pub(crate) fn define_imports(linker: &mut Linker<HostState>) -> wasmtime::Result<()> {
    let m = abi::MODULE;

    linker.func_wrap(m, "capsule_budget", |c: Caller<'_, HostState>| -> i32 {
        i32::from(c.data().budget_left)
    })?;
    for (name, field) in [
        ("capsule_source", AddressField::Source),
        ("capsule_destination", AddressField::Destination),
        ("capsule_previous", AddressField::Previous),
        ("node_address", AddressField::Node),
    ] {
        linker.func_wrap(
            m,
            name,
            move |mut c: Caller<'_, HostState>, out: i32| -> wasmtime::Result<i32> {
                Ok(with_memory(&mut c, cost::CALL + cost::ADDRESS, |d, s| {
                    let addr = match field {
                        AddressField::Source => s.capsule.source,
                        AddressField::Destination => s.capsule.destination,
                        AddressField::Previous => s.capsule.previous,
                        AddressField::Node => to_abi(s.ctx.address),
                    };
                    write(d, out, &addr).map(|_| 16)
                }))
            },
        )?;
    }
    linker.func_wrap(
        m,
        "capsule_payload_len",
        |c: Caller<'_, HostState>| -> i32 { c.data().capsule.payload.len() as i32 },
    )?;
    linker.func_wrap(
        m,
        "capsule_payload",
        |mut c: Caller<'_, HostState>, out: i32, cap: i32| -> wasmtime::Result<i32> {
            let n = c.data().capsule.payload.len().min(length(cap));
            Ok(with_memory(&mut c, cost::CALL + cost::copy(n), |d, s| {
                let out = span(d.len(), out, length(cap))?;
                let payload = &s.capsule.payload;
                let n = payload.len().min(out.len());
                d[out.start..out.start + n].copy_from_slice(&payload[..n]);
                Ok(payload.len() as i32)
            }))
        },
    )?;
    linker.func_wrap(
        m,
        "capsule_fingerprint",
        |mut c: Caller<'_, HostState>, out: i32| -> wasmtime::Result<i32> {
            Ok(with_memory(
                &mut c,
                cost::CALL + cost::FINGERPRINT,
                |d, s| {
                    let fp = s.capsule.fingerprint.ok_or(status::NOT_FOUND)?;
                    let mut padded = [0u8; abi::FINGERPRINT_LEN];
                    let digest = fp.digest();
                    padded[..digest.len()].copy_from_slice(digest);
                    write(d, out, &padded)?;
                    Ok(digest.len() as i32)
                },
            ))
        },
    )?;
    linker.func_wrap(m, "node_time_ns", |c: Caller<'_, HostState>| -> i64 {
        i64::try_from(c.data().ctx.now.as_nanos()).unwrap_or(i64::MAX)
    })?;
    linker.func_wrap(
        m,
        "route_next_hop",
        |mut c: Caller<'_, HostState>, dst: i32, out: i32| -> wasmtime::Result<i32> {
            let fuel = cost::CALL + cost::ADDRESS + lookup_cost(c.data());
            Ok(with_memory(&mut c, fuel, |d, s| {
                let dst = read_addr(d, dst)?;
                match s.ctx.routing.lookup(dst, s.ctx.address) {
                    Some(NextHop::Local) => {
                        write(d, out, &to_abi(s.ctx.address))?;
                        Ok(abi::ROUTE_LOCAL)
                    }
                    Some(NextHop::Neighbour(n)) => {
                        write(d, out, &to_abi(n))?;
                        Ok(abi::ROUTE_NEIGHBOUR)
                    }
                    None => Err(status::NO_ROUTE),
                }
            }))
        },
    )?;
    linker.func_wrap(
        m,
        "neighbours",
        |mut c: Caller<'_, HostState>, out: i32, cap: i32| -> wasmtime::Result<i32> {
            let listed = c.data().ctx.routing.neighbours().len() as u64;
            Ok(with_memory(
                &mut c,
                cost::CALL + cost::NEIGHBOURS + cost::PER_NEIGHBOUR * listed,
                |d, s| {
                    let r = span(d.len(), out, length(cap).saturating_mul(16))?;
                    let mut all: Vec<[u8; 16]> = s
                        .ctx
                        .routing
                        .neighbours()
                        .iter()
                        .map(|n| to_abi(n.address))
                        .collect();
                    all.sort_unstable();
                    all.dedup();
                    for (chunk, nb) in d[r].chunks_exact_mut(16).zip(&all) {
                        chunk.copy_from_slice(nb);
                    }
                    Ok(all.len() as i32)
                },
            ))
        },
    )?;
    linker.func_wrap(
        m,
        "link_load",
        |mut c: Caller<'_, HostState>, neighbour: i32, out: i32| -> wasmtime::Result<i32> {
            let fuel = cost::CALL + cost::ADDRESS + cost::LINK_LOAD + neighbour_scan_cost(c.data());
            Ok(with_memory(&mut c, fuel, |d, s| {
                let addr = read_addr(d, neighbour)?;
                let load = s
                    .ctx
                    .routing
                    .neighbour(addr)
                    .ok_or(status::UNKNOWN_NEIGHBOUR)?
                    .load;
                write(d, out, &load.to_le_bytes())?;
                Ok(abi::LINK_LOAD_LEN as i32)
            }))
        },
    )?;
    linker.func_wrap(
        m,
        "send",
        |mut c: Caller<'_, HostState>,
         dst: i32,
         via: i32,
         budget: i32,
         flags: i32,
         payload: i32,
         payload_len: i32|
         -> wasmtime::Result<i32> {
            let s = c.data();
            let len = length(payload_len).min(s.limits.max_payload);
            let route = if flags & abi::SEND_VIA_NEIGHBOUR != 0 {
                neighbour_scan_cost(s)
            } else {
                lookup_cost(s)
            };
            let fuel = cost::CALL + cost::SEND + 2 * cost::ADDRESS + route + cost::copy(len);
            Ok(with_memory(&mut c, fuel, |d, s| {
                // Checks in the order docs/node-api.md fixes: scalars, sizes, pointers, then
                // the call's own conditions.
                if flags & !abi::SEND_FLAGS_ALL != 0 || budget < 1 {
                    return Err(status::BAD_ARGUMENT);
                }
                let len = length(payload_len);
                if len > s.limits.max_payload {
                    return Err(status::TOO_LARGE);
                }
                let destination = read_addr(d, dst)?;
                let via = if flags & abi::SEND_VIA_NEIGHBOUR != 0 {
                    Some(read_addr(d, via)?)
                } else {
                    None
                };
                let body = span(d.len(), payload, len)?;
                if s.ctx.effects.sends().len() >= s.limits.max_sends {
                    return Err(status::TOO_MANY_EFFECTS);
                }
                if budget > i32::from(s.budget_left) {
                    return Err(status::BUDGET_EXCEEDED);
                }
                let route = match via {
                    Some(n) => {
                        s.ctx
                            .routing
                            .neighbour(n)
                            .ok_or(status::UNKNOWN_NEIGHBOUR)?;
                        SendRoute::Via(n)
                    }
                    None => {
                        s.ctx
                            .routing
                            .lookup(destination, s.ctx.address)
                            .ok_or(status::NO_ROUTE)?;
                        SendRoute::Toward
                    }
                };
                let source = if flags & abi::SEND_SOURCE_SELF != 0 {
                    s.ctx.address
                } else {
                    s.capsule.source_ip.unwrap_or(s.ctx.address)
                };
                // `budget` is in 1..=budget_left, so it fits a u16 and the subtraction holds.
                let budget = budget as u16;
                s.budget_left -= budget;
                s.ctx
                    .effects
                    .push_send(source, destination, route, budget, &d[body]);
                Ok(i32::from(s.budget_left))
            }))
        },
    )?;
    linker.func_wrap(
        m,
        "deliver",
        |mut c: Caller<'_, HostState>,
         port: i32,
         payload: i32,
         payload_len: i32|
         -> wasmtime::Result<i32> {
            let len = length(payload_len).min(c.data().limits.max_payload);
            Ok(with_memory(
                &mut c,
                cost::CALL + cost::DELIVER + cost::copy(len),
                |d, s| {
                    let port = u16::try_from(port).map_err(|_| status::BAD_ARGUMENT)?;
                    let len = length(payload_len);
                    if len > s.limits.max_payload {
                        return Err(status::TOO_LARGE);
                    }
                    let body = span(d.len(), payload, len)?;
                    if s.ctx.effects.deliveries().len() >= s.limits.max_deliveries {
                        return Err(status::TOO_MANY_EFFECTS);
                    }
                    s.ctx.effects.push_delivery(port, &d[body]);
                    Ok(status::OK)
                },
            ))
        },
    )?;
    linker.func_wrap(
        m,
        "state_get",
        |mut c: Caller<'_, HostState>,
         key: i32,
         key_len: i32,
         out: i32,
         cap: i32|
         -> wasmtime::Result<i32> {
            let limits = c.data().ctx.state.limits();
            let handled =
                length(key_len).min(limits.max_key_len) + length(cap).min(limits.max_value_len);
            Ok(with_memory(
                &mut c,
                cost::CALL + cost::STATE_GET + cost::state_bytes(handled),
                |d, s| {
                    let key = read_key(d, s, key, key_len)?;
                    let out = span(d.len(), out, length(cap))?;
                    let proto = s.capsule.fingerprint.ok_or(status::NOT_FOUND)?;
                    let now = s.ctx.now;
                    let value = s
                        .ctx
                        .state
                        .get(&proto, &d[key], now)
                        .ok_or(status::NOT_FOUND)?;
                    let n = value.len().min(out.len());
                    d[out.start..out.start + n].copy_from_slice(&value[..n]);
                    Ok(value.len() as i32)
                },
            ))
        },
    )?;
    linker.func_wrap(
        m,
        "state_put",
        |mut c: Caller<'_, HostState>,
         key: i32,
         key_len: i32,
         value: i32,
         value_len: i32,
         ttl_ms: i64|
         -> wasmtime::Result<i32> {
            let limits = c.data().ctx.state.limits();
            let handled = length(key_len).min(limits.max_key_len)
                + length(value_len).min(limits.max_value_len);
            Ok(with_memory(
                &mut c,
                cost::CALL + cost::STATE_PUT + cost::state_bytes(handled),
                |d, s| {
                    if key_len == 0 || !(1..=abi::MAX_TTL_MS).contains(&ttl_ms) {
                        return Err(status::BAD_ARGUMENT);
                    }
                    let limits = s.ctx.state.limits();
                    let len = length(value_len);
                    if length(key_len) > limits.max_key_len || len > limits.max_value_len {
                        return Err(status::TOO_LARGE);
                    }
                    let key = read_key(d, s, key, key_len)?;
                    let value = span(d.len(), value, len)?;
                    let ttl_ms = ttl_ms as u64;
                    let proto = s.capsule.fingerprint.ok_or(status::NOT_FOUND)?;
                    let now = s.ctx.now;
                    let ttl = std::time::Duration::from_millis(ttl_ms);
                    s.ctx
                        .state
                        .put(&proto, &d[key], &d[value], now, ttl)
                        .map_err(state_error)?;
                    Ok(status::OK)
                },
            ))
        },
    )?;
    linker.func_wrap(
        m,
        "state_remove",
        |mut c: Caller<'_, HostState>, key: i32, key_len: i32| -> wasmtime::Result<i32> {
            let handled = length(key_len).min(c.data().ctx.state.limits().max_key_len);
            Ok(with_memory(
                &mut c,
                cost::CALL + cost::STATE_REMOVE + cost::state_bytes(handled),
                |d, s| {
                    let key = read_key(d, s, key, key_len)?;
                    let proto = s.capsule.fingerprint.ok_or(status::NOT_FOUND)?;
                    let now = s.ctx.now;
                    if s.ctx.state.remove(&proto, &d[key], now) {
                        Ok(status::OK)
                    } else {
                        Err(status::NOT_FOUND)
                    }
                },
            ))
        },
    )?;
    linker.func_wrap(
        m,
        "log",
        |mut c: Caller<'_, HostState>,
         level: i32,
         msg: i32,
         msg_len: i32|
         -> wasmtime::Result<i32> {
            let kept = length(msg_len).min(c.data().limits.max_log_len);
            Ok(with_memory(
                &mut c,
                cost::CALL + cost::LOG + cost::copy(kept),
                |d, s| {
                    let level = LogLevel::from_i32(level).ok_or(status::BAD_ARGUMENT)?;
                    let len = length(msg_len);
                    let body = span(d.len(), msg, len)?;
                    let (now, burst, rate) =
                        (s.ctx.now, s.limits.log_burst, s.limits.log_per_second);
                    if !s.log_bucket.take(now, burst, rate) {
                        s.logs_dropped += 1;
                        return Err(status::RATE_LIMITED);
                    }
                    let keep = body.start..body.start + len.min(s.limits.max_log_len);
                    s.ctx.effects.push_log(level, &d[keep]);
                    Ok(status::OK)
                },
            ))
        },
    )?;
    Ok(())
}

/// Which address an address-reading import copies out.
#[derive(Clone, Copy)]
enum AddressField {
    Source,
    Destination,
    Previous,
    Node,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spans_reject_everything_outside_memory() {
        assert_eq!(span(100, 0, 100), Ok(0..100));
        assert_eq!(span(100, 90, 10), Ok(90..100));
        assert_eq!(span(100, 91, 10), Err(status::BAD_POINTER));
        assert_eq!(span(100, -1, 1), Err(status::BAD_POINTER));
        assert_eq!(span(100, i32::MAX, usize::MAX), Err(status::BAD_POINTER));
        assert_eq!(length(-5), u32::MAX as usize - 4, "lengths are unsigned");
    }

    #[test]
    fn addresses_round_trip_through_the_abi_form() {
        for a in ["10.1.2.3", "fd00::7", "::1", "0.0.0.0"] {
            let ip: IpAddr = a.parse().unwrap();
            assert_eq!(from_abi(to_abi(ip)), ip);
        }
    }

    #[test]
    fn log_bucket_refills_with_node_time() {
        let mut b = LogBucket::new(2);
        let t0 = Timestamp::from_millis(1000);
        assert!(b.take(t0, 2, 1));
        assert!(b.take(t0, 2, 1));
        assert!(!b.take(t0, 2, 1));
        assert!(b.take(t0 + std::time::Duration::from_secs(1), 2, 1));
        assert!(!b.take(t0 + std::time::Duration::from_secs(1), 2, 1));
    }
}
