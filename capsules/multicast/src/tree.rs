//! The receiver-driven distribution tree shared by `capsule-multicast` and
//! `capsule-reliable-multicast` (the latter includes this file by path, so both modules carry
//! the same membership logic without one linking the other's entry point).
//!
//! Owns the per-group membership entry (key `G`), the handling of subscribe and leave
//! capsules, the fan-out of one payload to lists of targets, the postcard reader both
//! protocols parse their messages with, and [`Buf`]. It never decides what a payload means:
//! callers parse messages and pass the raw bytes to copy.
//!
//! Every capsule of these protocols carries the group's source address as its header
//! destination, so the group key on any node is `(capsule destination, group id)`.
//!
//! Size discipline: nothing here allocates or can panic (fixed buffers, checked accessors,
//! no formatted logs). A module without a heap and without panic paths links neither the
//! allocator nor the panic handler and its `core::fmt` machinery, which is most of a typical
//! capsule's size. State values and target lists are fixed little-endian byte records.

use capsule_sdk::abi::MAX_PAYLOAD;
use capsule_sdk::log::{Level, log};
use capsule_sdk::prelude::*;

/// How long a branch stays on the tree after its latest subscribe.
pub const MEMBER_TTL_MS: u64 = 30_000;
/// How often a receiver application should re-send its subscribe (a third of
/// [`MEMBER_TTL_MS`], so two consecutive losses do not prune a live member).
pub const REFRESH_INTERVAL_MS: u64 = 10_000;
/// A node forwards a subscribe upstream at most this often per group; subscribes arriving in
/// between only refresh their own branch.
pub const UPSTREAM_REFRESH_MS: u64 = 5_000;
/// Most branches (downstream neighbours plus local members) kept per group on one node.
pub const MAX_BRANCHES: usize = 32;
/// Most local members (application ports) per group on one node: each is a delivery, and an
/// evaluation may make at most 16.
pub const MAX_LOCAL: usize = 8;

/// Nanoseconds per millisecond.
pub(crate) const MS: u64 = 1_000_000;
/// State key tag of a group's membership entry.
pub(crate) const TAG_GROUP: u8 = b'G';
/// Bytes of a target record: kind (0 neighbour, 1 local member), then the neighbour's
/// address, or the member's port (little endian) and 14 zero bytes.
pub(crate) const TARGET_LEN: usize = 17;
/// Bytes of a branch record: a target record, then its expiry (node time, ns, little endian).
pub(crate) const BRANCH_LEN: usize = TARGET_LEN + 8;
/// Bytes of a membership entry before its branches: when the node last sent a subscribe
/// upstream (node time, ns, little endian; `u64::MAX` for never).
pub(crate) const HEAD_LEN: usize = 8;
/// The largest membership entry.
pub(crate) const GROUP_MAX: usize = HEAD_LEN + MAX_BRANCHES * BRANCH_LEN;
/// A target record.
pub(crate) type Target = [u8; TARGET_LEN];

/// Copies `src` into `dst` as far as both go. `copy_from_slice` is not inlined at this
/// optimisation level and carries a panic path for unequal lengths, which would link the
/// panic handler (see the module docs).
pub(crate) fn copy(dst: &mut [u8], src: &[u8]) {
    for (d, s) in dst.iter_mut().zip(src) {
        *d = *s;
    }
}

/// The target record of a downstream neighbour.
pub(crate) fn neighbour(a: Address) -> Target {
    let mut t = [0; TARGET_LEN];
    copy(&mut t[1..], &a.0);
    t
}

/// The target record of a local member application.
pub(crate) fn local(port: u16) -> Target {
    let mut t = [0; TARGET_LEN];
    t[0] = 1;
    copy(&mut t[1..], &port.to_le_bytes());
    t
}

/// The little-endian `u64` at `b[i..i + 8]`, 0 if `b` is too short.
pub(crate) fn u64_at(b: &[u8], i: usize) -> u64 {
    b.get(i..)
        .and_then(|s| s.first_chunk::<8>())
        .map_or(0, |c| u64::from_le_bytes(*c))
}

/// A fixed-capacity byte buffer, in place of `Vec` (see the module docs).
pub(crate) struct Buf<const N: usize> {
    bytes: [u8; N],
    len: usize,
}

impl<const N: usize> Buf<N> {
    /// An empty buffer.
    pub(crate) fn new() -> Self {
        Buf {
            bytes: [0; N],
            len: 0,
        }
    }

    /// The bytes written so far.
    pub(crate) fn as_slice(&self) -> &[u8] {
        self.bytes.get(..self.len).unwrap_or_default()
    }

    /// The bytes written so far, writable.
    pub(crate) fn as_mut_slice(&mut self) -> &mut [u8] {
        self.bytes.get_mut(..self.len).unwrap_or_default()
    }

    /// Appends `data`; [`Error::TooLarge`] if it does not fit.
    pub(crate) fn push(&mut self, data: &[u8]) -> Result<(), Error> {
        append(&mut self.bytes, &mut self.len, data)
    }

    /// Replaces the contents with the state value under `key`; empty if there is none or it
    /// does not fit (it can only be a value of an older layout).
    pub(crate) fn load(&mut self, key: &[u8]) -> Result<(), Error> {
        self.len = match state::get_into(key, &mut self.bytes)? {
            Some(n) if n <= N => n,
            _ => 0,
        };
        Ok(())
    }
}

/// [`Buf::push`], once for every buffer size.
#[inline(never)]
fn append(bytes: &mut [u8], len: &mut usize, data: &[u8]) -> Result<(), Error> {
    let end = len.saturating_add(data.len());
    let dst = bytes.get_mut(*len..end).ok_or(Error::TooLarge)?;
    copy(dst, data);
    *len = end;
    Ok(())
}

/// A buffer for one payload.
pub(crate) type Payload = Buf<MAX_PAYLOAD>;

/// The current capsule's payload, copied into `buf`.
pub(crate) fn payload(buf: &mut Payload) -> Result<&[u8], Error> {
    buf.len = capsule::payload_into(&mut buf.bytes)?;
    Ok(buf.as_slice())
}

/// A reader of the postcard encoding, for the shapes these protocols' messages use (varint
/// integers and enum indices, raw bytes, length-prefixed byte strings and sequences).
///
/// Capsules parse their messages with it instead of serde's derived code, which costs several
/// KiB of module; the derived impls stay for host applications, and tests check that both
/// accept exactly the same bytes with the same meaning. Like postcard, it rejects truncated
/// input and varints longer than their type allows or with bits beyond it. Errors are sticky
/// (reads after one return zeros) and reported once, by [`Reader::end`].
pub(crate) struct Reader<'a> {
    rest: &'a [u8],
    bad: bool,
}

impl<'a> Reader<'a> {
    /// A reader over `bytes`.
    pub(crate) fn new(bytes: &'a [u8]) -> Self {
        Reader {
            rest: bytes,
            bad: false,
        }
    }

    /// The next `n` bytes (empty after an error).
    pub(crate) fn take(&mut self, n: usize) -> &'a [u8] {
        match self.rest.split_at_checked(n) {
            Some((head, rest)) => {
                self.rest = rest;
                head
            }
            None => {
                self.fail();
                &[]
            }
        }
    }

    /// A varint of at most `max_len` bytes whose last possible byte is at most `last_max`.
    #[inline(never)]
    pub(crate) fn varint(&mut self, max_len: u32, last_max: u8) -> u64 {
        let mut out = 0;
        for i in 0..max_len {
            let Some(&b) = self.take(1).first() else {
                break;
            };
            out |= u64::from(b & 0x7f) << (7 * i);
            if b & 0x80 == 0 {
                if i == max_len - 1 && b > last_max {
                    break;
                }
                return out;
            }
        }
        self.fail();
        0
    }

    /// A `u16`.
    pub(crate) fn u16(&mut self) -> u16 {
        self.varint(3, 0x03) as u16
    }

    /// A `u32` (also an enum variant index).
    pub(crate) fn u32(&mut self) -> u32 {
        self.varint(5, 0x0f) as u32
    }

    /// A length (of a byte string or sequence): a `usize`, whose varint size follows the
    /// platform, as in postcard.
    pub(crate) fn len(&mut self) -> usize {
        if usize::BITS == 64 {
            self.varint(10, 0x01) as usize
        } else {
            self.varint(5, 0x0f) as usize
        }
    }

    /// A length-prefixed byte string, borrowed.
    pub(crate) fn bytes(&mut self) -> &'a [u8] {
        let n = self.len();
        self.take(n)
    }

    /// Marks the input as malformed.
    pub(crate) fn fail(&mut self) {
        self.bad = true;
        self.rest = &[];
    }

    /// Whether every byte was read without error; [`Error::Decode`] otherwise.
    pub(crate) fn end(&self) -> Result<(), Error> {
        if self.bad || !self.rest.is_empty() {
            Err(Error::Decode)
        } else {
            Ok(())
        }
    }
}

/// `state::put` with the TTL in whole milliseconds. The SDK's wrapper converts a `Duration`
/// with `u128` arithmetic, which adds over 1 KiB of division code to the module.
pub(crate) fn put(k: &[u8], v: &[u8], ttl_ms: u64) -> Result<(), Error> {
    // SAFETY: `k` and `v` are readable for their lengths.
    let code = unsafe {
        capsule_sdk::sys::state_put(k.as_ptr(), k.len(), v.as_ptr(), v.len(), ttl_ms as i64)
    };
    Error::check(code).map(drop)
}

/// Logs a fixed warning (never formatted, see the module docs); a rate-limited log is fine.
pub(crate) fn warn(msg: &str) {
    let _ = log(Level::Warn, msg);
}

/// State key: tag, the group's source address, the group id (big endian) and a slot byte.
pub(crate) fn key(tag: u8, source: Address, group: u32, slot: u8) -> [u8; 22] {
    let mut k = [0; 22];
    k[0] = tag;
    copy(&mut k[1..], &source.0);
    copy(&mut k[17..], &group.to_be_bytes());
    k[21] = slot;
    k
}

/// Who sent the current capsule: a local application (`port`) when it was injected at this
/// node, else the previous active node.
pub(crate) fn requester(port: u16) -> Result<Target, Error> {
    let previous = capsule::previous()?;
    Ok(if previous == node::address()? {
        local(port)
    } else {
        neighbour(previous)
    })
}

/// A membership entry.
pub(crate) type Group = Buf<GROUP_MAX>;

/// The branch records of a membership entry.
pub(crate) fn branches(g: &[u8]) -> &[u8] {
    g.get(HEAD_LEN..).unwrap_or_default()
}

/// Loads the group's membership entry on this node into `g`, with the branches expired by now
/// left out (an absent entry reads as "never refreshed upstream, no branches").
pub(crate) fn load(source: Address, group: u32, g: &mut Group) -> Result<(), Error> {
    let mut stored = Group::new();
    stored.load(&key(TAG_GROUP, source, group, 0))?;
    live(stored.as_slice(), node::time_ns(), g)
}

/// Writes into `g` the stored entry `stored` without the branches expired at `now`.
pub(crate) fn live(stored: &[u8], now: u64, g: &mut Group) -> Result<(), Error> {
    g.len = 0;
    match stored.first_chunk::<HEAD_LEN>() {
        Some(head) => g.push(head)?,
        None => g.push(&u64::MAX.to_le_bytes())?,
    }
    for b in branches(stored).chunks_exact(BRANCH_LEN) {
        if u64_at(b, TARGET_LEN) > now {
            g.push(b)?;
        }
    }
    Ok(())
}

/// Stores a membership entry for [`MEMBER_TTL_MS`], or removes it when no branch is left.
///
/// Every write but a leave's refreshes a branch to now + [`MEMBER_TTL_MS`], so the entry
/// lives as long as its latest branch; expired branches are dropped when read.
fn store(source: Address, group: u32, g: &[u8]) -> Result<(), Error> {
    let k = key(TAG_GROUP, source, group, 0);
    if branches(g).is_empty() {
        return state::remove(&k).map(drop);
    }
    put(&k, g, MEMBER_TTL_MS)
}

/// Handles a subscribe: records (or refreshes) the requester's branch and forwards `raw`
/// toward the source unless this node is the source or refreshed upstream recently.
pub(crate) fn subscribe(raw: &[u8], group: u32, port: u16) -> Result<(), Error> {
    let source = capsule::destination()?;
    let now = node::time_ns();
    let target = requester(port)?;
    let mut g = Group::new();
    load(source, group, &mut g)?;
    let expires = now.saturating_add(MEMBER_TTL_MS * MS).to_le_bytes();
    let found = g
        .as_mut_slice()
        .get_mut(HEAD_LEN..)
        .unwrap_or_default()
        .chunks_exact_mut(BRANCH_LEN)
        .find(|b| b.starts_with(&target))
        .and_then(|b| b.last_chunk_mut::<8>());
    match found {
        Some(e) => *e = expires,
        None => {
            let all = branches(g.as_slice()).chunks_exact(BRANCH_LEN);
            let locals = all.clone().filter(|b| b.first() == Some(&1)).count();
            if all.len() >= MAX_BRANCHES || (target[0] == 1 && locals >= MAX_LOCAL) {
                warn("multicast: branch table full");
                return Err(Error::QuotaExceeded);
            }
            g.push(&target)?;
            g.push(&expires)?;
        }
    }
    let last = u64_at(g.as_slice(), 0);
    let stale = last == u64::MAX || now.saturating_sub(last) >= UPSTREAM_REFRESH_MS * MS;
    let mut sent = Ok(());
    if stale && source != node::address()? {
        sent = forward_with(raw);
        if let (Ok(()), Some(h)) = (sent, g.as_mut_slice().first_chunk_mut::<HEAD_LEN>()) {
            *h = now.to_le_bytes();
        }
    }
    // The branch is recorded even if the upstream refresh could not be sent.
    store(source, group, g.as_slice())?;
    sent
}

/// Handles a leave: drops the requester's branch and, when no branch remains, removes the
/// group and forwards `raw` toward the source (unless this node is the source).
pub(crate) fn leave(raw: &[u8], group: u32, port: u16) -> Result<(), Error> {
    let source = capsule::destination()?;
    let target = requester(port)?;
    let mut old = Group::new();
    load(source, group, &mut old)?;
    let mut g = Group::new();
    g.push(old.as_slice().get(..HEAD_LEN).unwrap_or_default())?;
    for b in branches(old.as_slice()).chunks_exact(BRANCH_LEN) {
        if !b.starts_with(&target) {
            g.push(b)?;
        }
    }
    store(source, group, g.as_slice())?;
    if branches(g.as_slice()).is_empty() && source != node::address()? {
        forward_with(raw)
    } else {
        Ok(())
    }
}

/// Copies `raw` to the targets of `branches` (branch records) and `extra` (target records),
/// each distinct target once: one capsule per downstream neighbour, never back to the
/// previous node, the remaining budget split evenly among them; one delivery per local port.
/// Neighbours that left the neighbour table are skipped; so are branches the budget cannot
/// fund (at least 1 each), with a warning.
pub(crate) fn fan_out(branches: &[u8], extra: &[u8], raw: &[u8]) -> Result<(), Error> {
    let previous = neighbour(capsule::previous()?);
    let dst = capsule::destination()?;
    let all = || {
        branches
            .chunks_exact(BRANCH_LEN)
            .chain(extra.chunks_exact(TARGET_LEN))
            .filter_map(|c| c.first_chunk::<TARGET_LEN>())
    };
    let first = |i: usize, t: &Target| *t != previous && all().take(i).all(|e| e != t);
    let n = all()
        .enumerate()
        .filter(|&(i, t)| t[0] == 0 && first(i, t))
        .count() as u32;
    let budget = capsule::budget();
    let share = budget.checked_div(n).unwrap_or(0);
    let rest = budget.checked_rem(n).unwrap_or(0);
    let (mut k, mut starved) = (0, false);
    for (i, t) in all().enumerate() {
        if !first(i, t) {
            continue;
        }
        if t[0] == 1 {
            deliver(u16::from_le_bytes([t[1], t[2]]), raw)?;
            continue;
        }
        let b = share + u32::from(k < rest);
        k += 1;
        starved |= b == 0;
        let mut a = [0; 16];
        copy(&mut a, &t[1..]);
        if b > 0 {
            match Send::to(dst, b).via(Address(a)).bytes(raw) {
                Ok(_) | Err(Error::UnknownNeighbour) => {}
                Err(e) => return Err(e),
            }
        }
    }
    if starved {
        warn("multicast: budget too small for every branch");
    }
    Ok(())
}
