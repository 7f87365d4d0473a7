use super::*;

fn range_ok(ptr: *const u8, len: usize) -> bool {
    len == 0 || !ptr.is_null()
}

/// # Safety
/// `ptr` must be readable for `len` bytes when `range_ok` holds.
unsafe fn read<'a>(ptr: *const u8, len: usize) -> &'a [u8] {
    if len == 0 {
        &[]
    } else {
        // SAFETY: per the contract above.
        unsafe { core::slice::from_raw_parts(ptr, len) }
    }
}

/// # Safety
/// `out` must be writable for `data.len()` bytes.
unsafe fn write(out: *mut u8, data: &[u8]) {
    if !data.is_empty() {
        // SAFETY: per the contract above; `data` is a distinct Rust-owned buffer.
        unsafe { core::ptr::copy_nonoverlapping(data.as_ptr(), out, data.len()) };
    }
}

unsafe fn read_address(ptr: *const u8) -> Option<Address> {
    if ptr.is_null() {
        return None;
    }
    let mut a = [0; 16];
    // SAFETY: the caller passes 16 readable bytes.
    a.copy_from_slice(unsafe { read(ptr, 16) });
    Some(Address(a))
}

unsafe fn write_address(out: *mut u8, a: Address) -> i32 {
    if out.is_null() {
        return status::BAD_POINTER;
    }
    // SAFETY: the caller passes 16 writable bytes.
    unsafe { write(out, &a.0) };
    abi::ADDRESS_LEN as i32
}

/// See the wasm32 import of the same name.
pub fn capsule_budget() -> i32 {
    with(|n| i32::try_from(n.capsule.budget).unwrap_or(i32::MAX))
}

/// See the wasm32 import of the same name.
pub unsafe fn capsule_source(out: *mut u8) -> i32 {
    // SAFETY: forwarded caller contract.
    with(|n| unsafe { write_address(out, n.capsule.source) })
}

/// See the wasm32 import of the same name.
pub unsafe fn capsule_destination(out: *mut u8) -> i32 {
    // SAFETY: forwarded caller contract.
    with(|n| unsafe { write_address(out, n.capsule.destination) })
}

/// See the wasm32 import of the same name.
pub unsafe fn capsule_previous(out: *mut u8) -> i32 {
    // SAFETY: forwarded caller contract.
    with(|n| unsafe { write_address(out, n.capsule.previous) })
}

/// See the wasm32 import of the same name.
pub fn capsule_payload_len() -> i32 {
    with(|n| n.capsule.payload.len() as i32)
}

/// See the wasm32 import of the same name.
pub unsafe fn capsule_payload(out: *mut u8, cap: usize) -> i32 {
    if !range_ok(out, cap) {
        return status::BAD_POINTER;
    }
    with(|n| {
        let p = &n.capsule.payload;
        // SAFETY: `out` is writable for `cap >= min(len, cap)` bytes.
        unsafe { write(out, &p[..p.len().min(cap)]) };
        p.len() as i32
    })
}

/// See the wasm32 import of the same name.
pub unsafe fn capsule_fingerprint(out: *mut u8) -> i32 {
    if out.is_null() {
        return status::BAD_POINTER;
    }
    with(|n| {
        let mut padded = [0; abi::FINGERPRINT_LEN];
        let len = n.capsule.fingerprint.len().min(abi::FINGERPRINT_LEN);
        padded[..len].copy_from_slice(&n.capsule.fingerprint[..len]);
        // SAFETY: the caller passes 32 writable bytes.
        unsafe { write(out, &padded) };
        len as i32
    })
}

/// See the wasm32 import of the same name.
pub unsafe fn node_address(out: *mut u8) -> i32 {
    // SAFETY: forwarded caller contract.
    with(|n| unsafe { write_address(out, n.address) })
}

/// See the wasm32 import of the same name.
pub fn node_time_ns() -> i64 {
    with(|n| i64::try_from(n.time_ns).unwrap_or(i64::MAX))
}

/// See the wasm32 import of the same name.
pub unsafe fn route_next_hop(dst: *const u8, out: *mut u8) -> i32 {
    // SAFETY: the caller passes 16 readable bytes at `dst`.
    let Some(dst) = (unsafe { read_address(dst) }) else {
        return status::BAD_POINTER;
    };
    if out.is_null() {
        return status::BAD_POINTER;
    }
    with(|n| match n.next_hop(dst) {
        // SAFETY: the caller passes 16 writable bytes at `out`.
        Some(NextHop::Local) => unsafe {
            write_address(out, n.address);
            abi::ROUTE_LOCAL
        },
        // SAFETY: as above.
        Some(NextHop::Neighbour(hop)) => unsafe {
            write_address(out, hop);
            abi::ROUTE_NEIGHBOUR
        },
        None => status::NO_ROUTE,
    })
}

/// See the wasm32 import of the same name.
pub unsafe fn neighbours(out: *mut u8, cap_entries: usize) -> i32 {
    let Some(bytes) = cap_entries.checked_mul(abi::ADDRESS_LEN) else {
        return status::BAD_POINTER;
    };
    if !range_ok(out, bytes) {
        return status::BAD_POINTER;
    }
    with(|n| {
        let mut all = n.neighbours.clone();
        all.sort();
        all.dedup();
        for (i, a) in all.iter().take(cap_entries).enumerate() {
            // SAFETY: `out` is writable for `16 * cap_entries` bytes and `i < cap_entries`.
            unsafe { write(out.add(i * abi::ADDRESS_LEN), &a.0) };
        }
        all.len() as i32
    })
}

/// See the wasm32 import of the same name.
pub unsafe fn link_load(neighbour: *const u8, out: *mut u8) -> i32 {
    // SAFETY: the caller passes 16 readable bytes.
    let Some(nb) = (unsafe { read_address(neighbour) }) else {
        return status::BAD_POINTER;
    };
    if out.is_null() {
        return status::BAD_POINTER;
    }
    with(|n| {
        if !n.neighbours.contains(&nb) {
            return status::UNKNOWN_NEIGHBOUR;
        }
        let load = n.link_loads.get(&nb).copied().unwrap_or_default();
        // SAFETY: the caller passes 24 writable bytes.
        unsafe { write(out, &load.to_le_bytes()) };
        abi::LINK_LOAD_LEN as i32
    })
}

/// See the wasm32 import of the same name.
pub unsafe fn send(
    dst: *const u8,
    via: *const u8,
    budget: i32,
    flags: i32,
    payload: *const u8,
    payload_len: usize,
) -> i32 {
    if flags & !abi::SEND_FLAGS_ALL != 0 || budget < 1 {
        return status::BAD_ARGUMENT;
    }
    if payload_len > abi::MAX_PAYLOAD {
        return status::TOO_LARGE;
    }
    let via_neighbour = flags & abi::SEND_VIA_NEIGHBOUR != 0;
    // SAFETY: the caller passes 16 readable bytes at `dst`.
    let Some(dst) = (unsafe { read_address(dst) }) else {
        return status::BAD_POINTER;
    };
    let via = if via_neighbour {
        // SAFETY: with the flag, the caller passes 16 readable bytes at `via`.
        match unsafe { read_address(via) } {
            Some(a) => a,
            None => return status::BAD_POINTER,
        }
    } else {
        // Not read at all without the flag: any value is fine.
        Address::UNSPECIFIED
    };
    if !range_ok(payload, payload_len) {
        return status::BAD_POINTER;
    }
    // SAFETY: the caller passes `payload_len` readable bytes.
    let payload = unsafe { read(payload, payload_len) }.to_vec();
    with(|n| {
        if n.sends.len() >= abi::MAX_SENDS {
            return status::TOO_MANY_EFFECTS;
        }
        let left = u64::from(n.capsule.budget).saturating_sub(n.spent);
        if budget as u64 > left {
            return status::BUDGET_EXCEEDED;
        }
        let next_hop = if via_neighbour {
            if !n.neighbours.contains(&via) {
                return status::UNKNOWN_NEIGHBOUR;
            }
            NextHop::Neighbour(via)
        } else {
            match n.next_hop(dst) {
                Some(hop) => hop,
                None => return status::NO_ROUTE,
            }
        };
        let source = if flags & abi::SEND_SOURCE_SELF != 0 {
            n.address
        } else {
            n.capsule.source
        };
        n.spent += budget as u64;
        n.sends.push(Sent {
            destination: dst,
            source,
            budget: budget as u32,
            next_hop,
            payload,
        });
        (left - budget as u64) as i32
    })
}

/// See the wasm32 import of the same name.
pub unsafe fn deliver(port: i32, payload: *const u8, payload_len: usize) -> i32 {
    let Ok(port) = u16::try_from(port) else {
        return status::BAD_ARGUMENT;
    };
    if payload_len > abi::MAX_PAYLOAD {
        return status::TOO_LARGE;
    }
    if !range_ok(payload, payload_len) {
        return status::BAD_POINTER;
    }
    // SAFETY: the caller passes `payload_len` readable bytes.
    let payload = unsafe { read(payload, payload_len) }.to_vec();
    with(|n| {
        if n.deliveries.len() >= abi::MAX_DELIVERIES {
            return status::TOO_MANY_EFFECTS;
        }
        n.deliveries.push(Delivery { port, payload });
        status::OK
    })
}

fn check_key(key: *const u8, key_len: usize) -> Result<(), i32> {
    if key_len == 0 {
        Err(status::BAD_ARGUMENT)
    } else if key_len > abi::MAX_KEY_LEN {
        Err(status::TOO_LARGE)
    } else if !range_ok(key, key_len) {
        Err(status::BAD_POINTER)
    } else {
        Ok(())
    }
}

/// See the wasm32 import of the same name.
pub unsafe fn state_get(key: *const u8, key_len: usize, out: *mut u8, cap: usize) -> i32 {
    if let Err(code) = check_key(key, key_len) {
        return code;
    }
    if !range_ok(out, cap) {
        return status::BAD_POINTER;
    }
    // SAFETY: checked non-null; the caller passes `key_len` readable bytes.
    let key = unsafe { read(key, key_len) };
    with(|n| match n.state_value(key) {
        Some(v) => {
            // SAFETY: `out` is writable for `cap` bytes.
            unsafe { write(out, &v[..v.len().min(cap)]) };
            v.len() as i32
        }
        None => status::NOT_FOUND,
    })
}

/// See the wasm32 import of the same name.
pub unsafe fn state_put(
    key: *const u8,
    key_len: usize,
    value: *const u8,
    value_len: usize,
    ttl_ms: i64,
) -> i32 {
    if key_len == 0 || !(1..=abi::MAX_TTL_MS).contains(&ttl_ms) {
        return status::BAD_ARGUMENT;
    }
    if value_len > abi::MAX_VALUE_LEN {
        return status::TOO_LARGE;
    }
    if let Err(code) = check_key(key, key_len) {
        return code;
    }
    if !range_ok(value, value_len) {
        return status::BAD_POINTER;
    }
    // SAFETY: the caller passes readable `key` and `value` of these lengths.
    let (key, value) = unsafe { (read(key, key_len), read(value, value_len)) };
    with(|n| {
        let others = n.charged(Some(key));
        let entry = key.len() + value.len() + abi::STATE_ENTRY_OVERHEAD;
        if others + entry > n.state_quota {
            return status::QUOTA_EXCEEDED;
        }
        if others + entry > n.store_capacity {
            return status::STORE_FULL;
        }
        let expiry = n.time_ns.saturating_add(ttl_ms as u64 * 1_000_000);
        n.state.insert(key.to_vec(), (value.to_vec(), expiry));
        status::OK
    })
}

/// See the wasm32 import of the same name.
pub unsafe fn state_remove(key: *const u8, key_len: usize) -> i32 {
    if let Err(code) = check_key(key, key_len) {
        return code;
    }
    // SAFETY: the caller passes `key_len` readable bytes.
    let key = unsafe { read(key, key_len) };
    with(|n| {
        let live = n.state_value(key).is_some();
        n.state.remove(key);
        if live { status::OK } else { status::NOT_FOUND }
    })
}

/// See the wasm32 import of the same name.
pub unsafe fn log(level: i32, msg: *const u8, msg_len: usize) -> i32 {
    if !(0..=abi::MAX_LOG_LEVEL).contains(&level) {
        return status::BAD_ARGUMENT;
    }
    if !range_ok(msg, msg_len) {
        return status::BAD_POINTER;
    }
    // SAFETY: the caller passes `msg_len` readable bytes; only the kept prefix is read.
    let kept = unsafe { read(msg, msg_len.min(abi::MAX_LOG_LEN)) };
    with(|n| {
        if n.log_allowance == 0 {
            return status::RATE_LIMITED;
        }
        n.log_allowance -= 1;
        n.logs.push(LogLine {
            level,
            message: String::from_utf8_lossy(kept).into_owned(),
        });
        status::OK
    })
}
