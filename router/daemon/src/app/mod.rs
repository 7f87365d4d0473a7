//! The application endpoint: how local programs use an active node.
//!
//! Owns the protocol spoken over the daemon's Unix stream socket (specified in
//! `docs/daemon.md`): [`Request`]s from an application, [`Response`]s and [`Delivery`]s from
//! the node, each a postcard-encoded message in a frame with a 4-byte big-endian length
//! prefix. The server side lives in the driver's loop (`server`); [`Client`] is the blocking
//! Rust client the `ants` CLI uses; [`text`] renders status documents for people.
//!
//! This module never touches the node or the network: it only moves typed messages between an
//! application and the driver. New message variants are only ever appended, so the postcard
//! encoding of existing ones does not change.

mod client;
pub(crate) mod server;
pub mod text;

use std::net::IpAddr;

use serde::{Deserialize, Serialize};

pub use client::{Client, ClientError};

use ants_router::fingerprint::Fingerprint;

/// Largest frame body either side accepts (a module is at most 64 KiB by default; an operator
/// may raise that limit, so leave room).
pub const MAX_FRAME: usize = 16 * 1024 * 1024;

/// What an application asks of the node.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Request {
    /// Register a protocol: hash the module, pin it in the code cache and compile it.
    /// Answered with [`Response::Registered`].
    Register {
        /// The WebAssembly module.
        module: Vec<u8>,
    },
    /// Inject a capsule of a registered protocol at this node. Answered with
    /// [`Response::Sent`] once the node accepted it (evaluation happens right after).
    Send {
        /// The protocol, registered on this node.
        #[serde(with = "fingerprint_serde")]
        fingerprint: Fingerprint,
        /// The capsule's destination.
        destination: IpAddr,
        /// Its resource budget (at least 1: this node charges the first hop).
        budget: u16,
        /// Its payload.
        payload: Vec<u8>,
    },
    /// Bind this connection to a local port: every capsule delivery to that port is sent on
    /// this connection as [`Response::Delivery`] until it closes. One connection per port.
    /// Answered with [`Response::Listening`].
    Listen {
        /// The port.
        port: u16,
    },
    /// A status snapshot. Answered with [`Response::Status`].
    Status,
}

/// A payload a capsule delivered to a local port.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Delivery {
    /// The port it was delivered to.
    pub port: u16,
    /// The delivering capsule's source address.
    pub source: IpAddr,
    /// The delivering capsule's type.
    #[serde(with = "fingerprint_serde")]
    pub fingerprint: Fingerprint,
    /// The payload.
    pub payload: Vec<u8>,
}

/// What the node sends an application: one reply per request, in request order, and
/// deliveries for the ports the connection listens on, interleaved.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Response {
    /// The protocol is registered (and pinned) under this fingerprint.
    Registered {
        /// SHA-256 of the module.
        #[serde(with = "fingerprint_serde")]
        fingerprint: Fingerprint,
    },
    /// The capsule was accepted.
    Sent,
    /// The connection now receives the port's deliveries.
    Listening {
        /// The port.
        port: u16,
    },
    /// A delivery on a port this connection listens on (not a reply).
    Delivery(Delivery),
    /// The status snapshot, as JSON (the same document `ants status --json` prints).
    Status {
        /// The JSON text.
        json: String,
    },
    /// The request was refused.
    Error {
        /// Why, for programs.
        reason: ErrorReason,
        /// Why, for people.
        message: String,
    },
}

/// Why a request was refused. The discriminants are stable.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize, thiserror::Error)]
pub enum ErrorReason {
    /// The request could not be decoded, or is too large.
    #[error("malformed request")]
    Malformed,
    /// The module breaks the node API rules or limits.
    #[error("module refused")]
    ModuleRefused,
    /// The code cache has no room for another pinned module.
    #[error("code cache full")]
    CodeCacheFull,
    /// The fingerprint is not registered on this node.
    #[error("unknown protocol")]
    UnknownProtocol,
    /// The payload is larger than a capsule may carry.
    #[error("payload too large")]
    PayloadTooLarge,
    /// The budget is 0.
    #[error("zero budget")]
    ZeroBudget,
    /// Another connection listens on the port.
    #[error("port in use")]
    PortInUse,
    /// The node refused for another reason (see the message).
    #[error("refused by the node")]
    Refused,
    /// The daemon is shutting down.
    #[error("shutting down")]
    ShuttingDown,
}

impl ErrorReason {
    /// Stable snake_case name.
    pub fn name(self) -> &'static str {
        match self {
            ErrorReason::Malformed => "malformed",
            ErrorReason::ModuleRefused => "module_refused",
            ErrorReason::CodeCacheFull => "code_cache_full",
            ErrorReason::UnknownProtocol => "unknown_protocol",
            ErrorReason::PayloadTooLarge => "payload_too_large",
            ErrorReason::ZeroBudget => "zero_budget",
            ErrorReason::PortInUse => "port_in_use",
            ErrorReason::Refused => "refused",
            ErrorReason::ShuttingDown => "shutting_down",
        }
    }
}

/// Encodes `message` as one frame: 4-byte big-endian body length, then the postcard body.
pub fn encode_frame<T: Serialize>(message: &T) -> Vec<u8> {
    // Encoding into a Vec cannot fail for these types (no maps with non-string keys, no
    // unsized sequences).
    let body = postcard::to_allocvec(message).unwrap_or_default();
    let mut frame = Vec::with_capacity(4 + body.len());
    frame.extend_from_slice(&(body.len() as u32).to_be_bytes());
    frame.extend_from_slice(&body);
    frame
}

/// Splits the first complete frame off the front of `buf`: `Ok(None)` if more bytes are
/// needed, `Err` if the announced length exceeds [`MAX_FRAME`] (the stream cannot be
/// resynchronised and must be closed).
pub fn take_frame(buf: &mut Vec<u8>) -> Result<Option<Vec<u8>>, FrameTooLarge> {
    let Some(head) = buf.first_chunk::<4>() else {
        return Ok(None);
    };
    let len = u32::from_be_bytes(*head) as usize;
    if len > MAX_FRAME {
        return Err(FrameTooLarge(len));
    }
    if buf.len() < 4 + len {
        return Ok(None);
    }
    let body = buf[4..4 + len].to_vec();
    buf.drain(..4 + len);
    Ok(Some(body))
}

/// A frame announced more bytes than [`MAX_FRAME`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[error("frame of {0} bytes exceeds the limit of {MAX_FRAME} bytes")]
pub struct FrameTooLarge(pub usize);

/// Fingerprints on the application socket: the algorithm's wire code, then the digest bytes.
mod fingerprint_serde {
    use serde::de::Error as _;
    use serde::{Deserialize, Deserializer, Serialize, Serializer};

    use ants_router::fingerprint::{Fingerprint, FingerprintAlgorithm};

    pub fn serialize<S: Serializer>(fp: &Fingerprint, s: S) -> Result<S::Ok, S::Error> {
        (fp.algorithm().code(), fp.digest()).serialize(s)
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Fingerprint, D::Error> {
        let (code, digest) = <(u8, Vec<u8>)>::deserialize(d)?;
        let algorithm = FingerprintAlgorithm::from_code(code)
            .ok_or_else(|| D::Error::custom(format!("unknown fingerprint algorithm {code}")))?;
        Fingerprint::from_digest(algorithm, &digest).map_err(D::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn round_trip<T: Serialize + for<'de> Deserialize<'de> + PartialEq + std::fmt::Debug>(m: T) {
        let mut buf = encode_frame(&m);
        buf.extend_from_slice(&[0, 0]); // the start of a next frame stays in the buffer
        let body = take_frame(&mut buf).unwrap().unwrap();
        assert_eq!(postcard::from_bytes::<T>(&body).unwrap(), m);
        assert_eq!(buf, [0, 0]);
    }

    #[test]
    fn messages_round_trip() {
        let fp = Fingerprint::sha256(b"module");
        round_trip(Request::Register {
            module: b"\0asm".to_vec(),
        });
        round_trip(Request::Send {
            fingerprint: fp,
            destination: "fd00::7".parse().unwrap(),
            budget: 9,
            payload: b"hi".to_vec(),
        });
        round_trip(Request::Listen { port: 7 });
        round_trip(Request::Status);
        round_trip(Response::Registered {
            fingerprint: Fingerprint::md5(b"legacy"),
        });
        round_trip(Response::Delivery(Delivery {
            port: 1,
            source: "10.0.0.1".parse().unwrap(),
            fingerprint: fp,
            payload: vec![1, 2, 3],
        }));
        round_trip(Response::Error {
            reason: ErrorReason::PortInUse,
            message: "port 7 is in use".into(),
        });
    }

    #[test]
    fn encoding_is_stable() {
        // Variant 1 (Send), fingerprint (algorithm 1, 32-byte digest), IPv4 variant 0, budget
        // 5 as a varint, payload length 1 and its byte.
        let fp = Fingerprint::sha256(b"");
        let body = postcard::to_allocvec(&Request::Send {
            fingerprint: fp,
            destination: "10.0.0.1".parse().unwrap(),
            budget: 5,
            payload: vec![0xAA],
        })
        .unwrap();
        let mut want = vec![1, 1, 32];
        want.extend_from_slice(fp.digest());
        want.extend_from_slice(&[0, 10, 0, 0, 1, 5, 1, 0xAA]);
        assert_eq!(body, want);
    }

    #[test]
    fn partial_and_oversized_frames() {
        let mut buf = encode_frame(&Request::Status);
        let last = buf.pop().unwrap();
        assert_eq!(take_frame(&mut buf), Ok(None));
        buf.push(last);
        assert!(take_frame(&mut buf).unwrap().is_some());
        let mut huge = ((MAX_FRAME + 1) as u32).to_be_bytes().to_vec();
        assert_eq!(take_frame(&mut huge), Err(FrameTooLarge(MAX_FRAME + 1)));
        assert_eq!(take_frame(&mut Vec::new()), Ok(None));
    }

    #[test]
    fn bad_fingerprints_do_not_decode() {
        // `Response::Registered` (variant 0) with algorithm 9, which does not exist, and with
        // algorithm 1 (SHA-256) but a 3-byte digest.
        for body in [[0u8, 9, 1, 0].as_slice(), &[0, 1, 3, 1, 2, 3]] {
            assert!(postcard::from_bytes::<Response>(body).is_err());
        }
        let ok = postcard::to_allocvec(&Response::Registered {
            fingerprint: Fingerprint::sha256(b""),
        })
        .unwrap();
        assert_eq!(ok[..3], [0, 1, 32]);
    }
}
