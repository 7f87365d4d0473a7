//! The one error type of the wire layer.
//!
//! Owns [`WireError`]: every reason a datagram is rejected by a decoder, or a representation is
//! refused by an encoder. It is a small `Copy` value so the fast path can return it without
//! allocating, and each variant has a stable counter name ([`WireError::name`]) so that every
//! dropped datagram is counted under the reason that dropped it. It never logs or counts by
//! itself: that is the node's job.

use super::common::{FRAGMENT_DATA_LEN, FrameKind, MAX_CODE_FRAME_LEN, MAX_MODULE_LEN};

/// Why bytes are not a valid frame, or why a representation cannot be emitted.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, thiserror::Error)]
pub enum WireError {
    /// The datagram ends before a field it must hold.
    #[error("frame truncated: need {needed} bytes, have {available}")]
    Truncated {
        /// Bytes needed to reach the end of the field that was cut off.
        needed: usize,
        /// Bytes in the datagram.
        available: usize,
    },
    /// The first two bytes are not `0x41 0x4E` ("AN"): not a frame of this protocol.
    #[error("not a capsule-router frame: the first two bytes are not the magic 0x41 0x4E (\"AN\")")]
    BadMagic,
    /// The version byte names a version this node does not speak.
    #[error("unsupported wire version {0}; this node speaks version 1")]
    UnsupportedVersion(u8),
    /// The frame kind byte is not one of the defined kinds.
    #[error("unknown frame kind {0}; version 1 defines kinds 1 to 4")]
    UnknownKind(u8),
    /// A decoder for one kind was given a frame of another kind.
    #[error("expected a {expected} frame, found a {found} frame")]
    UnexpectedKind {
        /// The kind the decoder handles.
        expected: FrameKind,
        /// The kind the frame says it is.
        found: FrameKind,
    },
    /// Flag bits are set; version 1 defines none.
    #[error("unknown flag bits {0:#04x}; version 1 defines no flags, the byte must be 0")]
    UnknownFlags(u8),
    /// The fingerprint algorithm byte names no supported algorithm.
    #[error("unknown fingerprint algorithm {0}; use 1 (SHA-256) or 2 (MD5)")]
    UnknownAlgorithm(u8),
    /// A capsule's address-family byte has bits set beyond the three defined ones.
    #[error("bad address-family byte {0:#04x}; only bits 0 to 2 are defined")]
    BadAddressFamily(u8),
    /// A reserved field is not zero.
    #[error("reserved field is not zero; version 1 requires zero")]
    ReservedNotZero,
    /// The datagram holds bytes past the end its length fields describe.
    #[error(
        "frame length mismatch: the header describes {expected} bytes, the datagram has {actual}"
    )]
    LengthMismatch {
        /// Length the header describes.
        expected: usize,
        /// Length of the datagram.
        actual: usize,
    },
    /// A code-transfer frame is longer than [`MAX_CODE_FRAME_LEN`].
    #[error(
        "code-transfer frame is {len} bytes; the limit is {MAX_CODE_FRAME_LEN} so it crosses \
         any IPv6 link unfragmented"
    )]
    FrameTooLong {
        /// Length of the frame.
        len: usize,
    },
    /// A code request's mask would not fit in a [`MAX_CODE_FRAME_LEN`]-byte frame.
    #[error("code request mask is {len} bytes; at most {max} fit in one frame")]
    MaskTooLong {
        /// Mask length in the header.
        len: usize,
        /// Longest mask that fits with this fingerprint algorithm.
        max: usize,
    },
    /// A code request's mask has a bit set for a fragment index above 65535.
    #[error("code request mask asks for a fragment index above 65535")]
    MaskOutOfRange,
    /// A code fragment says the module is zero bytes long.
    #[error("code fragment declares a zero-length module; modules are at least one byte")]
    ModuleLengthZero,
    /// A code fragment declares a module longer than 65535 fragments can carry.
    #[error(
        "module is {len} bytes; at most {MAX_MODULE_LEN} bytes (65535 fragments of \
         {FRAGMENT_DATA_LEN}) can be transferred"
    )]
    ModuleTooLong {
        /// Module length.
        len: u64,
    },
    /// A code fragment's count is not the number of fragments its module length needs.
    #[error(
        "fragment count {count} does not match the module length, which needs {expected} \
         fragments of {FRAGMENT_DATA_LEN} bytes"
    )]
    FragmentCountMismatch {
        /// Count in the header.
        count: u16,
        /// `ceil(total length / FRAGMENT_DATA_LEN)`.
        expected: u32,
    },
    /// A code fragment's index is not below its count.
    #[error("fragment index {index} is out of range for {count} fragments")]
    FragmentIndexOutOfRange {
        /// Index in the header.
        index: u16,
        /// Count in the header.
        count: u16,
    },
    /// A code fragment carries the wrong number of data bytes for its index.
    #[error(
        "fragment {index} carries {len} data bytes; it must carry {expected} (every fragment \
         but the last carries exactly {FRAGMENT_DATA_LEN})"
    )]
    FragmentLengthInvalid {
        /// Index in the header.
        index: u16,
        /// Data length in the header.
        len: usize,
        /// Data length that index must carry.
        expected: usize,
    },
    /// A capsule representation's payload does not fit the 16-bit length field (emit only).
    #[error("capsule payload is {len} bytes; the length field holds at most 65535")]
    PayloadTooLong {
        /// Payload length.
        len: usize,
    },
    /// The output buffer is shorter than the frame (emit only).
    #[error("output buffer too small: need {needed} bytes, have {available}")]
    BufferTooSmall {
        /// The frame's length.
        needed: usize,
        /// The buffer's length.
        available: usize,
    },
    /// An in-place address rewrite would change the address family, and so the layout.
    #[error("cannot rewrite an address in place with one of another family; re-emit the capsule")]
    AddressFamilyMismatch,
    /// A hello's interval is zero milliseconds.
    #[error("hello interval is 0 ms; a hello says how often its sender says hello (at least 1 ms)")]
    HelloIntervalZero,
    /// A hello route's metric is above 16 (unreachable).
    #[error("hello route metric {0} is above 16 (unreachable)")]
    BadMetric(u8),
    /// A hello's routes mix IPv4 and IPv6 destinations (emit only).
    #[error("a hello carries routes of one address family; send one hello per family")]
    MixedAddressFamilies,
}

impl WireError {
    /// A short, stable snake_case name, used as a counter and log label.
    pub const fn name(&self) -> &'static str {
        match self {
            WireError::Truncated { .. } => "truncated",
            WireError::BadMagic => "bad_magic",
            WireError::UnsupportedVersion(_) => "unsupported_version",
            WireError::UnknownKind(_) => "unknown_kind",
            WireError::UnexpectedKind { .. } => "unexpected_kind",
            WireError::UnknownFlags(_) => "unknown_flags",
            WireError::UnknownAlgorithm(_) => "unknown_algorithm",
            WireError::BadAddressFamily(_) => "bad_address_family",
            WireError::ReservedNotZero => "reserved_not_zero",
            WireError::LengthMismatch { .. } => "length_mismatch",
            WireError::FrameTooLong { .. } => "frame_too_long",
            WireError::MaskTooLong { .. } => "mask_too_long",
            WireError::MaskOutOfRange => "mask_out_of_range",
            WireError::ModuleLengthZero => "module_length_zero",
            WireError::ModuleTooLong { .. } => "module_too_long",
            WireError::FragmentCountMismatch { .. } => "fragment_count_mismatch",
            WireError::FragmentIndexOutOfRange { .. } => "fragment_index_out_of_range",
            WireError::FragmentLengthInvalid { .. } => "fragment_length_invalid",
            WireError::PayloadTooLong { .. } => "payload_too_long",
            WireError::BufferTooSmall { .. } => "buffer_too_small",
            WireError::AddressFamilyMismatch => "address_family_mismatch",
            WireError::HelloIntervalZero => "hello_interval_zero",
            WireError::BadMetric(_) => "bad_metric",
            WireError::MixedAddressFamilies => "mixed_address_families",
        }
    }

    /// Every counter name, in declaration order (for pre-registering counters).
    pub const NAMES: [&'static str; 24] = [
        "truncated",
        "bad_magic",
        "unsupported_version",
        "unknown_kind",
        "unexpected_kind",
        "unknown_flags",
        "unknown_algorithm",
        "bad_address_family",
        "reserved_not_zero",
        "length_mismatch",
        "frame_too_long",
        "mask_too_long",
        "mask_out_of_range",
        "module_length_zero",
        "module_too_long",
        "fragment_count_mismatch",
        "fragment_index_out_of_range",
        "fragment_length_invalid",
        "payload_too_long",
        "buffer_too_small",
        "address_family_mismatch",
        "hello_interval_zero",
        "bad_metric",
        "mixed_address_families",
    ];
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_say_what_was_wrong() {
        let e = WireError::Truncated {
            needed: 56,
            available: 20,
        };
        assert_eq!(e.to_string(), "frame truncated: need 56 bytes, have 20");
        assert_eq!(e.name(), "truncated");
        assert_eq!(
            WireError::UnknownFlags(0x80).to_string(),
            "unknown flag bits 0x80; version 1 defines no flags, the byte must be 0"
        );
        assert!(
            WireError::FrameTooLong { len: 1300 }
                .to_string()
                .contains("1232")
        );
    }

    #[test]
    fn names_are_unique_snake_case_and_listed() {
        let mut seen = std::collections::HashSet::new();
        for name in WireError::NAMES {
            assert!(seen.insert(name), "duplicate counter name {name}");
            assert!(
                name.bytes().all(|b| b.is_ascii_lowercase() || b == b'_'),
                "{name}"
            );
        }
        let samples = [
            WireError::Truncated {
                needed: 1,
                available: 0,
            },
            WireError::BadMagic,
            WireError::UnsupportedVersion(2),
            WireError::UnknownKind(9),
            WireError::UnexpectedKind {
                expected: FrameKind::Capsule,
                found: FrameKind::CodeMissing,
            },
            WireError::UnknownFlags(1),
            WireError::UnknownAlgorithm(3),
            WireError::BadAddressFamily(8),
            WireError::ReservedNotZero,
            WireError::LengthMismatch {
                expected: 1,
                actual: 2,
            },
            WireError::FrameTooLong { len: 2000 },
            WireError::MaskTooLong {
                len: 2000,
                max: 1188,
            },
            WireError::MaskOutOfRange,
            WireError::ModuleLengthZero,
            WireError::ModuleTooLong { len: 1 << 27 },
            WireError::FragmentCountMismatch {
                count: 1,
                expected: 2,
            },
            WireError::FragmentIndexOutOfRange { index: 2, count: 2 },
            WireError::FragmentLengthInvalid {
                index: 0,
                len: 1,
                expected: 1024,
            },
            WireError::PayloadTooLong { len: 70_000 },
            WireError::BufferTooSmall {
                needed: 2,
                available: 1,
            },
            WireError::AddressFamilyMismatch,
            WireError::HelloIntervalZero,
            WireError::BadMetric(17),
            WireError::MixedAddressFamilies,
        ];
        let names: Vec<_> = samples.iter().map(WireError::name).collect();
        assert_eq!(names, WireError::NAMES);
    }
}
