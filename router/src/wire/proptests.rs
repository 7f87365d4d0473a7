//! Property tests across every frame kind: emit/parse round trips, no panics on arbitrary or
//! mutated input, canonical encoding, and accessor safety after `new_checked`.

use core::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use proptest::prelude::*;

use super::code_request::max_mask_len;
use super::*;
use crate::fingerprint::{Fingerprint, FingerprintAlgorithm};

/// A frame whose borrowed parts are owned, so strategies can generate it.
#[derive(Clone, Debug)]
enum OwnedFrame {
    Capsule {
        fingerprint: Fingerprint,
        addrs: [IpAddr; 3],
        budget: u16,
        payload: Vec<u8>,
    },
    Request {
        fingerprint: Fingerprint,
        first: u16,
        mask: Vec<u8>,
        cookie: Option<Cookie>,
    },
    Fragment {
        fingerprint: Fingerprint,
        module_len: u32,
        index: u16,
        data: Vec<u8>,
    },
    Missing {
        fingerprint: Fingerprint,
    },
    Cookie {
        fingerprint: Fingerprint,
        cookie: Cookie,
    },
    Announce {
        fingerprint: Fingerprint,
    },
}

impl OwnedFrame {
    fn as_frame(&self) -> Frame<'_> {
        match self {
            OwnedFrame::Capsule {
                fingerprint,
                addrs,
                budget,
                payload,
            } => Frame::Capsule(CapsuleRepr {
                fingerprint: *fingerprint,
                source: addrs[0],
                destination: addrs[1],
                previous: addrs[2],
                budget: *budget,
                payload,
            }),
            OwnedFrame::Request {
                fingerprint,
                first,
                mask,
                cookie,
            } => Frame::CodeRequest(CodeRequestRepr {
                fingerprint: *fingerprint,
                first: *first,
                mask,
                cookie: *cookie,
            }),
            OwnedFrame::Fragment {
                fingerprint,
                module_len,
                index,
                data,
            } => Frame::CodeFragment(CodeFragmentRepr {
                fingerprint: *fingerprint,
                module_len: *module_len,
                index: *index,
                data,
            }),
            OwnedFrame::Missing { fingerprint } => Frame::CodeMissing(CodeMissingRepr {
                fingerprint: *fingerprint,
            }),
            OwnedFrame::Cookie {
                fingerprint,
                cookie,
            } => Frame::CodeCookie(CodeCookieRepr {
                fingerprint: *fingerprint,
                cookie: *cookie,
            }),
            OwnedFrame::Announce { fingerprint } => Frame::CodeAnnounce(CodeAnnounceRepr {
                fingerprint: *fingerprint,
            }),
        }
    }
}

fn algorithm() -> impl Strategy<Value = FingerprintAlgorithm> {
    prop_oneof![
        Just(FingerprintAlgorithm::Sha256),
        Just(FingerprintAlgorithm::Md5)
    ]
}

fn fingerprint() -> impl Strategy<Value = Fingerprint> {
    (algorithm(), any::<[u8; 32]>()).prop_map(|(algorithm, digest)| {
        Fingerprint::from_digest(algorithm, &digest[..algorithm.digest_len()]).unwrap()
    })
}

fn ip() -> impl Strategy<Value = IpAddr> {
    prop_oneof![
        any::<[u8; 4]>().prop_map(|o| IpAddr::V4(Ipv4Addr::from(o))),
        any::<[u8; 16]>().prop_map(|o| IpAddr::V6(Ipv6Addr::from(o))),
    ]
}

fn capsule() -> impl Strategy<Value = OwnedFrame> {
    (
        fingerprint(),
        [ip(), ip(), ip()],
        any::<u16>(),
        prop::collection::vec(any::<u8>(), 0..2000),
    )
        .prop_map(
            |(fingerprint, addrs, budget, payload)| OwnedFrame::Capsule {
                fingerprint,
                addrs,
                budget,
                payload,
            },
        )
}

fn request() -> impl Strategy<Value = OwnedFrame> {
    (fingerprint(), prop::option::of(any::<[u8; COOKIE_LEN]>())).prop_flat_map(
        |(fingerprint, cookie)| {
            let cookie = cookie.map(Cookie);
            let max = max_mask_len(fingerprint.algorithm(), cookie.is_some());
            // Small masks are the common case; the full range is still covered.
            let len = prop_oneof![0..4usize, 0..=max];
            (
                any::<u16>(),
                len.prop_flat_map(|len| prop::collection::vec(any::<u8>(), len)),
            )
                .prop_map(move |(first, mut mask)| {
                    // Clear the bits that would name indexes above u16::MAX.
                    let in_range = usize::from(u16::MAX) + 1 - usize::from(first);
                    for bit in in_range..mask.len() * 8 {
                        mask[bit / 8] &= !(0x80 >> (bit % 8));
                    }
                    OwnedFrame::Request {
                        fingerprint,
                        first,
                        mask,
                        cookie,
                    }
                })
        },
    )
}

fn fragment() -> impl Strategy<Value = OwnedFrame> {
    let module_len = prop_oneof![1..=4096u32, 1..=MAX_MODULE_LEN];
    (fingerprint(), module_len)
        .prop_flat_map(|(fingerprint, module_len)| {
            let count = fragment_count(module_len) as u16;
            (
                Just(fingerprint),
                Just(module_len),
                prop_oneof![Just(count - 1), 0..count],
            )
        })
        .prop_flat_map(|(fingerprint, module_len, index)| {
            let len = fragment_range(module_len, index).unwrap().len();
            prop::collection::vec(any::<u8>(), len).prop_map(move |data| OwnedFrame::Fragment {
                fingerprint,
                module_len,
                index,
                data,
            })
        })
}

fn missing() -> impl Strategy<Value = OwnedFrame> {
    fingerprint().prop_map(|fingerprint| OwnedFrame::Missing { fingerprint })
}

fn cookie() -> impl Strategy<Value = OwnedFrame> {
    (fingerprint(), any::<[u8; COOKIE_LEN]>()).prop_map(|(fingerprint, cookie)| {
        OwnedFrame::Cookie {
            fingerprint,
            cookie: Cookie(cookie),
        }
    })
}

fn any_frame() -> impl Strategy<Value = OwnedFrame> {
    prop_oneof![
        capsule(),
        request(),
        fragment(),
        missing(),
        cookie(),
        fingerprint().prop_map(|fingerprint| OwnedFrame::Announce { fingerprint })
    ]
}

/// Bytes that usually pass the prefix check, so the kind-specific checks get exercised.
fn prefixed_bytes() -> impl Strategy<Value = Vec<u8>> {
    (
        1..=6u8,
        0..=1u8,
        1..=2u8,
        prop::collection::vec(any::<u8>(), 0..1300),
    )
        .prop_map(|(kind, flags, algorithm, tail)| {
            let mut bytes = vec![0x41, 0x4e, 1, kind, flags, algorithm];
            bytes.extend(tail);
            bytes
        })
}

/// A valid frame with some bytes overwritten, and possibly cut short or extended.
fn mutated_frame() -> impl Strategy<Value = Vec<u8>> {
    (
        any_frame(),
        prop::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 0..4),
        prop_oneof![3 => Just(None), 1 => any::<prop::sample::Index>().prop_map(Some)],
        prop::collection::vec(any::<u8>(), 0..3),
    )
        .prop_map(|(frame, writes, cut, extra)| {
            let mut bytes = frame.as_frame().to_vec().unwrap();
            for (at, value) in writes {
                let at = at.index(bytes.len());
                bytes[at] = value;
            }
            if let Some(cut) = cut {
                bytes.truncate(cut.index(bytes.len() + 1));
            } else {
                bytes.extend(extra);
            }
            bytes
        })
}

/// Every accessor of every view that accepts `bytes`, checked against the parsed form.
fn exercise_views(bytes: &[u8]) {
    if let Ok(p) = CapsulePacket::new_checked(bytes) {
        let repr = CapsuleRepr::parse(&p).unwrap();
        assert_eq!(p.fingerprint(), repr.fingerprint);
        assert_eq!(p.algorithm(), repr.fingerprint.algorithm());
        assert_eq!(
            (p.source(), p.destination(), p.previous()),
            (repr.source, repr.destination, repr.previous)
        );
        assert_eq!(p.families(), repr.families());
        assert_eq!(p.budget(), repr.budget);
        assert_eq!(p.payload(), repr.payload);
        assert_eq!(usize::from(p.payload_len()), p.payload().len());
        assert_eq!(p.header_len() + p.payload().len(), bytes.len());
        assert_eq!(p.frame_len(), bytes.len());
        let mut copy = bytes.to_vec();
        let mut p = CapsulePacket::new_checked(&mut copy[..]).unwrap();
        p.set_budget(p.budget().wrapping_sub(1));
        p.set_previous(repr.previous).unwrap();
        p.payload_mut().fill(0);
        assert!(CapsulePacket::new_checked(&copy[..]).is_ok());
    }
    if let Ok(p) = CodeRequestPacket::new_checked(bytes) {
        let repr = CodeRequestRepr::parse(&p).unwrap();
        assert_eq!(p.fingerprint(), repr.fingerprint);
        assert_eq!(p.algorithm(), repr.fingerprint.algorithm());
        assert_eq!(p.first(), repr.first);
        assert_eq!(p.mask(), repr.mask);
        assert_eq!(usize::from(p.mask_len()), repr.mask.len());
        assert_eq!(p.cookie(), repr.cookie);
        assert_eq!(p.has_cookie(), repr.cookie.is_some());
        for index in [0, p.first(), p.first().saturating_add(7), u16::MAX] {
            assert_eq!(p.wants(index), repr.wants(index));
        }
        assert!(repr.wanted(u16::MAX).all(|i| i >= repr.first));
    }
    if let Ok(p) = CodeFragmentPacket::new_checked(bytes) {
        let repr = CodeFragmentRepr::parse(&p).unwrap();
        assert_eq!(p.fingerprint(), repr.fingerprint);
        assert_eq!(p.algorithm(), repr.fingerprint.algorithm());
        assert_eq!(p.module_len(), repr.module_len);
        assert_eq!((p.index(), p.count()), (repr.index, repr.count()));
        assert!(p.index() < p.count());
        assert_eq!(p.data(), repr.data);
        assert_eq!(usize::from(p.data_len()), repr.data.len());
        assert_eq!(p.offset(), repr.offset());
        assert!(p.offset() + repr.data.len() <= p.module_len() as usize);
    }
    if let Ok(p) = CodeMissingPacket::new_checked(bytes) {
        let repr = CodeMissingRepr::parse(&p).unwrap();
        assert_eq!(p.fingerprint(), repr.fingerprint);
        assert_eq!(p.algorithm(), repr.fingerprint.algorithm());
    }
    if let Ok(p) = CodeAnnouncePacket::new_checked(bytes) {
        let repr = CodeAnnounceRepr::parse(&p).unwrap();
        assert_eq!(p.fingerprint(), repr.fingerprint);
    }
    if let Ok(p) = CodeCookiePacket::new_checked(bytes) {
        let repr = CodeCookieRepr::parse(&p).unwrap();
        assert_eq!(p.fingerprint(), repr.fingerprint);
        assert_eq!(p.cookie(), repr.cookie);
    }
}

/// Parsing, and when it succeeds, checks the encoding is canonical: re-emitting gives the
/// same bytes, and parsing those gives the same frame.
fn parse_and_reemit(bytes: &[u8]) -> Result<(), WireError> {
    let frame = Frame::parse(bytes)?;
    assert_eq!(frame.buffer_len(), bytes.len());
    let again = frame.to_vec().expect("a parsed frame always emits");
    assert_eq!(again, bytes);
    assert_eq!(Frame::parse(&again), Ok(frame));
    if frame.kind().is_code_transfer() {
        assert!(bytes.len() <= MAX_CODE_FRAME_LEN);
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn emit_then_parse_round_trips(owned in any_frame()) {
        let frame = owned.as_frame();
        prop_assert_eq!(frame.validate(), Ok(()));
        let bytes = frame.to_vec().unwrap();
        prop_assert_eq!(bytes.len(), frame.buffer_len());
        prop_assert_eq!(Frame::parse(&bytes), Ok(frame));
        prop_assert_eq!(Prefix::parse(&bytes).map(|p| p.kind), Ok(frame.kind()));
        exercise_views(&bytes);
    }

    #[test]
    fn parse_never_panics_on_arbitrary_bytes(bytes in prop::collection::vec(any::<u8>(), 0..1500)) {
        let _ = parse_and_reemit(&bytes);
        exercise_views(&bytes);
    }

    #[test]
    fn parse_never_panics_on_prefixed_bytes(bytes in prefixed_bytes()) {
        let _ = parse_and_reemit(&bytes);
        exercise_views(&bytes);
    }

    #[test]
    fn mutated_frames_parse_canonically_or_fail_typed(bytes in mutated_frame()) {
        // Any outcome is fine except a panic; successes must be canonical.
        if let Err(error) = parse_and_reemit(&bytes) {
            prop_assert!(!error.name().is_empty());
            prop_assert!(!error.to_string().is_empty());
        }
        exercise_views(&bytes);
    }

    #[test]
    fn fingerprint_text_round_trips(fingerprint in fingerprint()) {
        let text = fingerprint.to_string();
        prop_assert_eq!(text.parse::<Fingerprint>(), Ok(fingerprint));
        prop_assert_eq!(text.to_uppercase().parse::<Fingerprint>(), Ok(fingerprint));
    }

    #[test]
    fn fingerprint_parse_never_panics(text in "\\PC{0,80}") {
        if let Ok(fingerprint) = text.parse::<Fingerprint>() {
            prop_assert_eq!(fingerprint.to_string().parse::<Fingerprint>(), Ok(fingerprint));
        }
    }
}
