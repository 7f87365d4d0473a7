//! Return-routability cookies for code serving, on both sides.
//!
//! Owns the node's cookie key, minting and checking the cookies it hands requesters
//! ([`CookieMint`]), and the jar of cookies other nodes handed this one ([`CookieJar`]). A
//! code source sends code only to a requester that echoes a cookie minted for its address:
//! proof that it receives datagrams there. Anyone else gets one code cookie frame (56 bytes for
//! SHA-256) for a request of at least 44 bytes, so a request with a spoofed source makes this
//! node send at most 1.3x its size to the victim: under the 3x rule of QUIC (RFC 9000, section
//! 8). Described in `docs/node.md`, Serving code.
//!
//! It never sends anything and never decides whom to serve; `serve.rs` and `demand.rs` do.

use std::net::IpAddr;
use std::num::NonZeroUsize;
use std::time::Duration;

use lru::LruCache;
use sha2::{Digest, Sha256};

use crate::time::Timestamp;
use crate::wire::{COOKIE_LEN, Cookie};

/// How long one key period lasts. A cookie is accepted in the period it was minted in and the
/// next one: for 2 to 4 minutes.
pub const COOKIE_PERIOD: Duration = Duration::from_secs(120);

/// Mints and checks cookies: the first 16 bytes of SHA-256 over the node's secret key, the
/// key period and the requester's address (IPv4 as IPv4-mapped IPv6). The input has a fixed
/// length, so the keyed hash is a sound MAC here; only its first half travels.
pub(super) struct CookieMint {
    key: [u8; 32],
}

impl CookieMint {
    /// A mint with `key`, or with a random key drawn from the operating system.
    pub(super) fn new(key: Option<[u8; 32]>) -> Self {
        let key = key.unwrap_or_else(|| {
            let mut key = [0u8; 32];
            // Without OS randomness (never on Linux) the cookie is still a keyed hash of the
            // time: weaker against guessing, never a reason to stop routing.
            if getrandom::fill(&mut key).is_err() {
                tracing::warn!("no OS randomness for the cookie key; using the clock");
                let nanos = std::time::SystemTime::now()
                    .duration_since(std::time::UNIX_EPOCH)
                    .map_or(0, |d| d.as_nanos());
                key[..16].copy_from_slice(&nanos.to_be_bytes());
            }
            key
        });
        CookieMint { key }
    }

    fn period(now: Timestamp) -> u64 {
        now.as_nanos() / COOKIE_PERIOD.as_nanos() as u64
    }

    fn mint_in(&self, peer: IpAddr, period: u64) -> Cookie {
        let address = match peer {
            IpAddr::V4(v4) => v4.to_ipv6_mapped(),
            IpAddr::V6(v6) => v6,
        };
        let digest = Sha256::new()
            .chain_update(self.key)
            .chain_update(period.to_be_bytes())
            .chain_update(address.octets())
            .finalize();
        let mut cookie = [0u8; COOKIE_LEN];
        cookie.copy_from_slice(&digest[..COOKIE_LEN]);
        Cookie(cookie)
    }

    /// The cookie for `peer` now.
    pub(super) fn mint(&self, peer: IpAddr, now: Timestamp) -> Cookie {
        self.mint_in(peer, Self::period(now))
    }

    /// Whether `cookie` was minted for `peer` in this period or the previous one.
    pub(super) fn check(&self, peer: IpAddr, cookie: &Cookie, now: Timestamp) -> bool {
        let period = Self::period(now);
        [Some(period), period.checked_sub(1)]
            .into_iter()
            .flatten()
            .any(|p| equal(&self.mint_in(peer, p), cookie))
    }
}

/// Compares without an early exit, so timing says nothing about how much of a guess matched.
fn equal(a: &Cookie, b: &Cookie) -> bool {
    a.0.iter()
        .zip(b.0.iter())
        .fold(0u8, |d, (x, y)| d | (x ^ y))
        == 0
}

/// Cookies code sources handed this node, by source, bounded (least recently used forgotten).
pub(super) struct CookieJar {
    cookies: LruCache<IpAddr, Cookie>,
}

impl CookieJar {
    pub(super) fn new(capacity: usize) -> Self {
        CookieJar {
            cookies: LruCache::new(NonZeroUsize::new(capacity).unwrap_or(NonZeroUsize::MIN)),
        }
    }

    /// The cookie to echo to `source`, if it handed one.
    pub(super) fn get(&mut self, source: IpAddr) -> Option<Cookie> {
        self.cookies.get(&source).copied()
    }

    /// Keeps the cookie `source` handed.
    pub(super) fn put(&mut self, source: IpAddr, cookie: Cookie) {
        self.cookies.put(source, cookie);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::Ipv4Addr;

    fn at(secs: u64) -> Timestamp {
        Timestamp::from_millis(secs * 1000)
    }

    #[test]
    fn a_cookie_is_bound_to_its_address_key_and_two_periods() {
        let mint = CookieMint::new(Some([7; 32]));
        let a = IpAddr::V4(Ipv4Addr::new(10, 0, 0, 1));
        let b = IpAddr::V4(Ipv4Addr::new(10, 0, 0, 2));
        let cookie = mint.mint(a, at(10));
        assert!(mint.check(a, &cookie, at(10)));
        assert!(mint.check(a, &cookie, at(239)), "valid in the next period");
        assert!(!mint.check(a, &cookie, at(240)), "stale two periods on");
        assert!(!mint.check(b, &cookie, at(10)), "another address");
        let other = CookieMint::new(Some([8; 32]));
        assert!(!other.check(a, &cookie, at(10)), "another key");
        // The mapped form of an IPv4 address is the same requester.
        let mapped = IpAddr::V6(Ipv4Addr::new(10, 0, 0, 1).to_ipv6_mapped());
        assert!(mint.check(mapped, &cookie, at(10)));
    }

    #[test]
    fn random_keys_differ() {
        let a = IpAddr::V4(Ipv4Addr::new(10, 0, 0, 1));
        let (x, y) = (CookieMint::new(None), CookieMint::new(None));
        assert_ne!(x.mint(a, at(0)), y.mint(a, at(0)));
    }
}
