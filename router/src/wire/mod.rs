//! The wire format: every datagram an active node sends or receives, as bytes.
//!
//! Owns the layout of the seven frame kinds of version 1 (specified in `docs/wire.md`), each in
//! its own module with a checked zero-copy view (`XxxPacket::new_checked` validates once, after
//! which accessors cannot panic) and a parsed form (`XxxRepr` with `parse`, `buffer_len` and
//! `emit`), in the style of smoltcp's `wire`. [`Frame`] dispatches on the kind byte.
//!
//! It never allocates when parsing, never panics on any input, never reads a clock or touches
//! a socket, and never makes a forwarding decision: it turns bytes into values and back, and
//! says why ([`WireError`]) when it cannot.
//!
//! Every UDP datagram carries exactly one frame. All integers are big-endian.
//!
//! ```
//! use std::net::{IpAddr, Ipv4Addr};
//! use ants_router::fingerprint::Fingerprint;
//! use ants_router::wire::{CapsulePacket, CapsuleRepr, Frame};
//!
//! let capsule = CapsuleRepr {
//!     fingerprint: Fingerprint::sha256(b"\0asm\x01\0\0\0"),
//!     source: IpAddr::V4(Ipv4Addr::new(192, 0, 2, 1)),
//!     destination: IpAddr::V4(Ipv4Addr::new(198, 51, 100, 7)),
//!     previous: IpAddr::V4(Ipv4Addr::new(192, 0, 2, 1)),
//!     budget: 16,
//!     payload: b"ping",
//! };
//! let mut bytes = capsule.to_vec()?;
//!
//! // Fast path: check once, then decrement the budget in place.
//! let mut packet = CapsulePacket::new_checked(&mut bytes[..])?;
//! packet.set_budget(packet.budget() - 1);
//!
//! match Frame::parse(&bytes)? {
//!     Frame::Capsule(repr) => assert_eq!(repr.budget, 15),
//!     other => panic!("expected a capsule, got {:?}", other.kind()),
//! }
//! # Ok::<(), ants_router::wire::WireError>(())
//! ```

pub mod capsule;
pub mod code_announce;
pub mod code_cookie;
pub mod code_fragment;
pub mod code_missing;
pub mod code_request;
pub mod common;
mod error;
pub mod hello;
#[cfg(test)]
mod proptests;

pub use capsule::{CapsulePacket, CapsuleRepr};
pub use code_announce::{CodeAnnouncePacket, CodeAnnounceRepr};
pub use code_cookie::{COOKIE_LEN, CodeCookiePacket, CodeCookieRepr, Cookie};
pub use code_fragment::{CodeFragmentPacket, CodeFragmentRepr, fragment_count, fragment_range};
pub use code_missing::{CodeMissingPacket, CodeMissingRepr};
pub use code_request::{CodeRequestPacket, CodeRequestRepr, FLAG_COOKIE, max_mask_len};
pub use common::{
    FRAGMENT_DATA_LEN, FrameKind, MAGIC, MAX_CODE_FRAME_LEN, MAX_MODULE_LEN, PREFIX_LEN, Prefix,
    VERSION,
};
pub use error::WireError;
pub use hello::{HelloPacket, HelloRepr, METRIC_UNREACHABLE, max_hello_routes};

use crate::fingerprint::Fingerprint;

/// Any frame, parsed. Borrows payloads, masks and fragment data from the datagram.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Frame<'a> {
    /// Kind 1.
    Capsule(CapsuleRepr<'a>),
    /// Kind 2.
    CodeRequest(CodeRequestRepr<'a>),
    /// Kind 3.
    CodeFragment(CodeFragmentRepr<'a>),
    /// Kind 4.
    CodeMissing(CodeMissingRepr),
    /// Kind 5.
    CodeCookie(CodeCookieRepr),
    /// Kind 6.
    CodeAnnounce(CodeAnnounceRepr),
    /// Kind 7.
    Hello(HelloRepr<'a>),
}

impl<'a> Frame<'a> {
    /// Parses one datagram. Never panics; every reject has a typed reason.
    pub fn parse(datagram: &'a [u8]) -> Result<Frame<'a>, WireError> {
        Ok(match Prefix::parse(datagram)?.kind {
            FrameKind::Capsule => {
                Frame::Capsule(CapsuleRepr::parse(&CapsulePacket::new_unchecked(datagram))?)
            }
            FrameKind::CodeRequest => Frame::CodeRequest(CodeRequestRepr::parse(
                &CodeRequestPacket::new_unchecked(datagram),
            )?),
            FrameKind::CodeFragment => Frame::CodeFragment(CodeFragmentRepr::parse(
                &CodeFragmentPacket::new_unchecked(datagram),
            )?),
            FrameKind::CodeMissing => Frame::CodeMissing(CodeMissingRepr::parse(
                &CodeMissingPacket::new_unchecked(datagram),
            )?),
            FrameKind::CodeCookie => Frame::CodeCookie(CodeCookieRepr::parse(
                &CodeCookiePacket::new_unchecked(datagram),
            )?),
            FrameKind::CodeAnnounce => Frame::CodeAnnounce(CodeAnnounceRepr::parse(
                &CodeAnnouncePacket::new_unchecked(datagram),
            )?),
            FrameKind::Hello => {
                Frame::Hello(HelloRepr::parse(&HelloPacket::new_unchecked(datagram))?)
            }
        })
    }

    /// The frame's kind.
    pub const fn kind(&self) -> FrameKind {
        match self {
            Frame::Capsule(_) => FrameKind::Capsule,
            Frame::CodeRequest(_) => FrameKind::CodeRequest,
            Frame::CodeFragment(_) => FrameKind::CodeFragment,
            Frame::CodeMissing(_) => FrameKind::CodeMissing,
            Frame::CodeCookie(_) => FrameKind::CodeCookie,
            Frame::CodeAnnounce(_) => FrameKind::CodeAnnounce,
            Frame::Hello(_) => FrameKind::Hello,
        }
    }

    /// The capsule type the frame is about (every kind but hellos carries one).
    pub const fn fingerprint(&self) -> Option<Fingerprint> {
        Some(match self {
            Frame::Capsule(repr) => repr.fingerprint,
            Frame::CodeRequest(repr) => repr.fingerprint,
            Frame::CodeFragment(repr) => repr.fingerprint,
            Frame::CodeMissing(repr) => repr.fingerprint,
            Frame::CodeCookie(repr) => repr.fingerprint,
            Frame::CodeAnnounce(repr) => repr.fingerprint,
            Frame::Hello(_) => return None,
        })
    }

    /// Length of the emitted frame.
    pub fn buffer_len(&self) -> usize {
        match self {
            Frame::Capsule(repr) => repr.buffer_len(),
            Frame::CodeRequest(repr) => repr.buffer_len(),
            Frame::CodeFragment(repr) => repr.buffer_len(),
            Frame::CodeMissing(repr) => repr.buffer_len(),
            Frame::CodeCookie(repr) => repr.buffer_len(),
            Frame::CodeAnnounce(repr) => repr.buffer_len(),
            Frame::Hello(repr) => repr.buffer_len(),
        }
    }

    /// Whether this frame can be emitted as a frame that parses back to itself.
    pub fn validate(&self) -> Result<(), WireError> {
        match self {
            Frame::Capsule(repr) => repr.validate(),
            Frame::CodeRequest(repr) => repr.validate(),
            Frame::CodeFragment(repr) => repr.validate(),
            Frame::Hello(repr) => repr.validate(),
            Frame::CodeMissing(_) | Frame::CodeCookie(_) | Frame::CodeAnnounce(_) => Ok(()),
        }
    }

    /// Writes the frame at the start of `buf` and returns its length. Refuses, without
    /// writing, a frame that would not parse back ([`Frame::validate`]) and a buffer shorter
    /// than [`Frame::buffer_len`].
    pub fn emit(&self, buf: &mut [u8]) -> Result<usize, WireError> {
        self.validate()?;
        let len = self.buffer_len();
        let Some(buf) = buf.get_mut(..len) else {
            return Err(WireError::BufferTooSmall {
                needed: len,
                available: buf.len(),
            });
        };
        match self {
            Frame::Capsule(repr) => repr.emit(&mut CapsulePacket::new_unchecked(buf)),
            Frame::CodeRequest(repr) => repr.emit(&mut CodeRequestPacket::new_unchecked(buf)),
            Frame::CodeFragment(repr) => repr.emit(&mut CodeFragmentPacket::new_unchecked(buf)),
            Frame::CodeMissing(repr) => repr.emit(&mut CodeMissingPacket::new_unchecked(buf)),
            Frame::CodeCookie(repr) => repr.emit(&mut CodeCookiePacket::new_unchecked(buf)),
            Frame::CodeAnnounce(repr) => repr.emit(&mut CodeAnnouncePacket::new_unchecked(buf)),
            Frame::Hello(repr) => repr.emit(&mut HelloPacket::new_unchecked(buf)),
        }
        Ok(len)
    }

    /// The emitted frame in a new vector (see [`Frame::emit`] for when it is refused).
    pub fn to_vec(&self) -> Result<Vec<u8>, WireError> {
        let mut buf = vec![0u8; self.buffer_len()];
        self.emit(&mut buf)?;
        Ok(buf)
    }
}

impl<'a> From<HelloRepr<'a>> for Frame<'a> {
    fn from(repr: HelloRepr<'a>) -> Self {
        Frame::Hello(repr)
    }
}

impl<'a> From<CapsuleRepr<'a>> for Frame<'a> {
    fn from(repr: CapsuleRepr<'a>) -> Self {
        Frame::Capsule(repr)
    }
}

impl<'a> From<CodeRequestRepr<'a>> for Frame<'a> {
    fn from(repr: CodeRequestRepr<'a>) -> Self {
        Frame::CodeRequest(repr)
    }
}

impl<'a> From<CodeFragmentRepr<'a>> for Frame<'a> {
    fn from(repr: CodeFragmentRepr<'a>) -> Self {
        Frame::CodeFragment(repr)
    }
}

impl From<CodeMissingRepr> for Frame<'_> {
    fn from(repr: CodeMissingRepr) -> Self {
        Frame::CodeMissing(repr)
    }
}

impl From<CodeAnnounceRepr> for Frame<'_> {
    fn from(repr: CodeAnnounceRepr) -> Self {
        Frame::CodeAnnounce(repr)
    }
}

impl From<CodeCookieRepr> for Frame<'_> {
    fn from(repr: CodeCookieRepr) -> Self {
        Frame::CodeCookie(repr)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use core::net::{IpAddr, Ipv4Addr, Ipv6Addr};

    fn frames(module: &[u8]) -> Vec<Frame<'_>> {
        let fingerprint = Fingerprint::sha256(module);
        vec![
            Frame::Capsule(CapsuleRepr {
                fingerprint,
                source: IpAddr::V4(Ipv4Addr::new(10, 0, 0, 1)),
                destination: IpAddr::V6(Ipv6Addr::LOCALHOST),
                previous: IpAddr::V4(Ipv4Addr::new(10, 0, 0, 2)),
                budget: 8,
                payload: b"payload",
            }),
            Frame::CodeRequest(CodeRequestRepr {
                fingerprint,
                first: 1,
                mask: &[0x40],
                cookie: Some(Cookie([9; COOKIE_LEN])),
            }),
            Frame::CodeFragment(CodeFragmentRepr::fragment(fingerprint, module, 0).unwrap()),
            Frame::CodeMissing(CodeMissingRepr { fingerprint }),
            Frame::CodeCookie(CodeCookieRepr {
                fingerprint,
                cookie: Cookie([3; COOKIE_LEN]),
            }),
            Frame::CodeAnnounce(CodeAnnounceRepr { fingerprint }),
        ]
    }

    #[test]
    fn dispatches_on_kind() {
        let module = b"\0asm\x01\0\0\0";
        for frame in frames(module) {
            let bytes = frame.to_vec().unwrap();
            let parsed = Frame::parse(&bytes).unwrap();
            assert_eq!(parsed, frame);
            assert_eq!(parsed.kind().code(), bytes[3]);
            assert_eq!(parsed.fingerprint(), Some(Fingerprint::sha256(module)));
        }
    }

    #[test]
    fn emit_reports_short_buffers_and_writes_nothing() {
        let module = b"\0asm\x01\0\0\0";
        for frame in frames(module) {
            let len = frame.buffer_len();
            let mut short = vec![0xaa; len - 1];
            assert_eq!(
                frame.emit(&mut short),
                Err(WireError::BufferTooSmall {
                    needed: len,
                    available: len - 1
                })
            );
            assert!(short.iter().all(|&b| b == 0xaa));
            let mut roomy = vec![0u8; len + 10];
            assert_eq!(frame.emit(&mut roomy), Ok(len));
            assert_eq!(Frame::parse(&roomy[..len]), Ok(frame));
        }
    }

    #[test]
    fn prefix_errors_come_first() {
        assert_eq!(
            Frame::parse(&[]),
            Err(WireError::Truncated {
                needed: 6,
                available: 0
            })
        );
        assert_eq!(Frame::parse(b"GET / HTTP/1.1"), Err(WireError::BadMagic));
        assert_eq!(
            Frame::parse(&[0x41, 0x4e, 1, 8, 0, 1]),
            Err(WireError::UnknownKind(8))
        );
    }
}
